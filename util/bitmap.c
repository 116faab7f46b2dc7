#include "qemu/osdep.h"
#include "qemu/bitmap.h"

/* The first bit from @offset on that differs from @skip's (0 or ~0). */
static uint64_t find_next(const unsigned long *addr, uint64_t size,
                          uint64_t offset, unsigned long skip)
{
    if (offset >= size) {
        return size;
    }
    uint64_t w = BIT_WORD(offset);
    unsigned long word = (addr[w] ^ skip) & (~0UL << (offset % BITS_PER_LONG));

    for (;;) {
        if (word) {
            uint64_t bit = w * BITS_PER_LONG + __builtin_ctzl(word);
            return MIN(bit, size);
        }
        if (++w >= BITS_TO_LONGS(size)) {
            return size;
        }
        word = addr[w] ^ skip;
    }
}

uint64_t find_next_bit(const unsigned long *addr, uint64_t size,
                       uint64_t offset)
{
    return find_next(addr, size, offset, 0);
}

uint64_t find_next_zero_bit(const unsigned long *addr, uint64_t size,
                            uint64_t offset)
{
    return find_next(addr, size, offset, ~0UL);
}

uint64_t bitmap_count_one(const unsigned long *addr, uint64_t nbits)
{
    uint64_t n = 0;
    uint64_t full = nbits / BITS_PER_LONG;

    for (uint64_t i = 0; i < full; i++) {
        n += __builtin_popcountl(addr[i]);
    }
    if (nbits % BITS_PER_LONG) {
        n += __builtin_popcountl(addr[full] &
                                 ((1UL << (nbits % BITS_PER_LONG)) - 1));
    }
    return n;
}

void bitmap_set_range(unsigned long *addr, uint64_t start, uint64_t nr)
{
    for (uint64_t i = start; i < start + nr; i++) {
        set_bit(i, addr);
    }
}

void bitmap_clear_range(unsigned long *addr, uint64_t start, uint64_t nr)
{
    for (uint64_t i = start; i < start + nr; i++) {
        clear_bit(i, addr);
    }
}

/* Word at a time: multifd threads update disjoint runs concurrently. */
static void bitmap_update_atomic(unsigned long *addr, uint64_t start,
                                 uint64_t nr, bool set)
{
    uint64_t end = start + nr;

    while (start < end) {
        uint64_t w = BIT_WORD(start);
        unsigned bit = start % BITS_PER_LONG;
        unsigned n = MIN(BITS_PER_LONG - bit, end - start);
        unsigned long mask = (n == BITS_PER_LONG ? ~0UL : ((1UL << n) - 1))
                             << bit;
        _Atomic unsigned long *p = (_Atomic unsigned long *)&addr[w];

        if (set) {
            atomic_fetch_or(p, mask);
        } else {
            atomic_fetch_and(p, ~mask);
        }
        start += n;
    }
}

void bitmap_set_range_atomic(unsigned long *addr, uint64_t start, uint64_t nr)
{
    bitmap_update_atomic(addr, start, nr, true);
}

void bitmap_clear_range_atomic(unsigned long *addr, uint64_t start, uint64_t nr)
{
    bitmap_update_atomic(addr, start, nr, false);
}
