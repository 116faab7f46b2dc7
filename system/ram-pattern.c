/*
 * Test pattern for guest RAM (see include/system/ram-pattern.h).
 */
#include "qemu/osdep.h"
#include "system/ram-pattern.h"

/* splitmix64's finaliser: every input bit affects every output bit. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

uint64_t ram_pattern_seed(const char *idstr, uint64_t generation)
{
    /* FNV-1a of the name, then the generation. */
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const char *p = idstr; *p; p++) {
        h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
    }
    return mix64(h ^ mix64(generation + 1));
}

bool ram_pattern_page_is_zero(uint64_t page, uint64_t zero_stride)
{
    if (!zero_stride) {
        return false;
    }
    return page % zero_stride == zero_stride - 1 ||
           (page / zero_stride) % RAM_PATTERN_RUN_PERIOD ==
               RAM_PATTERN_RUN_PERIOD - 1;
}

void ram_pattern_fill_page(void *dst, uint64_t seed, uint64_t page)
{
    uint64_t *w = dst;
    uint64_t base = mix64(seed ^ mix64(page));

    /* The page index in clear first: a misplaced page is easy to name. */
    w[0] = page;
    for (size_t i = 1; i < TARGET_PAGE_SIZE / sizeof(uint64_t); i++) {
        w[i] = mix64(base + i);
    }
}

bool ram_pattern_fill_block(RAMBlock *rb, uint64_t offset, uint64_t generation,
                            uint64_t zero_stride, RamPatternStats *stats,
                            GError **errp)
{
    uint64_t seed = ram_pattern_seed(rb->idstr, generation);

    if (offset >= rb->used_length) {
        return true;
    }
    if (!ram_block_populate(rb, offset, rb->used_length - offset, errp)) {
        return false;
    }
    for (uint64_t off = offset; off < rb->used_length;
         off += TARGET_PAGE_SIZE) {
        uint64_t page = off >> TARGET_PAGE_BITS;

        if (ram_pattern_page_is_zero(page, zero_stride)) {
            memset(rb->host + off, 0, TARGET_PAGE_SIZE);
            stats->zero_pages++;
        } else {
            ram_pattern_fill_page(rb->host + off, seed, page);
        }
        ramblock_set_dirty(rb, off);
        stats->pages++;
    }
    return true;
}
