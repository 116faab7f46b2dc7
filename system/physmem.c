/*
 * Guest RAM: RAMBlocks, their dirty logs and guest-physical access.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "system/ramblock.h"

#include <sys/mman.h>

GPtrArray *ram_list;
atomic_bool global_dirty_tracking;
bool (*ram_block_populate_fn)(RAMBlock *rb, uint64_t offset, uint64_t len,
                              GError **errp);

RAMBlock *qemu_ram_alloc(const char *name, uint64_t size, uint64_t gpa,
                         GError **errp)
{
    if (size == 0 || size % TARGET_PAGE_SIZE) {
        error_setg(errp,
                   "RAM block '%s' size %" PRIu64
                   " is not a positive multiple of the page size",
                   name, size);
        return NULL;
    }
    if (strlen(name) >= sizeof(((RAMBlock *)0)->idstr)) {
        error_setg(errp, "RAM block name '%s' is too long", name);
        return NULL;
    }
    if (qemu_ram_block_by_name(name)) {
        error_setg(errp, "RAM block '%s' already exists", name);
        return NULL;
    }
    void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (host == MAP_FAILED) {
        error_setg_errno(errp, errno,
                         "Cannot allocate %" PRIu64
                         " bytes of guest RAM for '%s'",
                         size, name);
        return NULL;
    }
    RAMBlock *rb = g_new0(RAMBlock, 1);
    g_strlcpy(rb->idstr, name, sizeof(rb->idstr));
    rb->host = host;
    rb->used_length = size;
    rb->page_size = getpagesize();
    rb->gpa = gpa;
    rb->migratable = true;
    rb->dirty_log = bitmap_new(ramblock_nr_pages(rb));
    if (!ram_list) {
        ram_list = g_ptr_array_new();
    }
    g_ptr_array_add(ram_list, rb);
    return rb;
}

void qemu_ram_free_all(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        munmap(rb->host, rb->used_length);
        g_free(rb->dirty_log);
        g_free(rb->bmap);
        g_free(rb->file_bmap);
        g_free(rb);
    }
    if (ram_list) {
        g_ptr_array_free(ram_list, true);
        ram_list = NULL;
    }
}

RAMBlock *qemu_ram_block_by_name(const char *name)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (!strcmp(rb->idstr, name)) {
            return rb;
        }
    }
    return NULL;
}

uint64_t ram_bytes_total(void)
{
    RAMBlock *rb;
    uint64_t total = 0;

    RAMBLOCK_FOREACH(rb) {
        if (rb->migratable) {
            total += rb->used_length;
        }
    }
    return total;
}

/* The block that maps [addr, addr + len) entirely, or NULL. */
static RAMBlock *ram_block_for_gpa(uint64_t addr, uint64_t len)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (rb->gpa == UINT64_MAX) {
            continue;
        }
        if (addr >= rb->gpa && len <= rb->used_length &&
            addr - rb->gpa <= rb->used_length - len) {
            return rb;
        }
    }
    return NULL;
}

static void ram_block_mark_range_dirty(RAMBlock *rb, uint64_t off, uint64_t len)
{
    uint64_t end = off + len;

    for (uint64_t p = ROUND_DOWN(off, TARGET_PAGE_SIZE); p < end;
         p += TARGET_PAGE_SIZE) {
        ramblock_set_dirty(rb, p);
    }
}

bool address_space_rw(uint64_t addr, void *buf, uint64_t len, bool is_write)
{
    RAMBlock *rb = ram_block_for_gpa(addr, len);

    if (!rb || !ram_block_populate(rb, addr - rb->gpa, len, NULL)) {
        return false;
    }
    uint8_t *p = rb->host + (addr - rb->gpa);
    if (is_write) {
        memcpy(p, buf, len);
        ram_block_mark_range_dirty(rb, addr - rb->gpa, len);
    } else {
        memcpy(buf, p, len);
    }
    return true;
}

bool address_space_memset(uint64_t addr, uint8_t val, uint64_t len)
{
    RAMBlock *rb = ram_block_for_gpa(addr, len);

    if (!rb || !ram_block_populate(rb, addr - rb->gpa, len, NULL)) {
        return false;
    }
    memset(rb->host + (addr - rb->gpa), val, len);
    ram_block_mark_range_dirty(rb, addr - rb->gpa, len);
    return true;
}

void global_dirty_log_start(void)
{
    RAMBlock *rb;

    /* Forget writes from before: the first pass sends every page anyway. */
    RAMBLOCK_FOREACH(rb) {
        memset(rb->dirty_log, 0, bitmap_bytes(ramblock_nr_pages(rb)));
    }
    atomic_store(&global_dirty_tracking, true);
    if (accel_ops->log_start) {
        accel_ops->log_start();
    }
}

void global_dirty_log_stop(void)
{
    atomic_store(&global_dirty_tracking, false);
    if (accel_ops->log_stop) {
        accel_ops->log_stop();
    }
}

uint64_t ramblock_sync_dirty_log(RAMBlock *rb, unsigned long *dest)
{
    /* Guest writes the accelerator tracked, then the software log's. */
    uint64_t n = accel_ops->log_sync ? accel_ops->log_sync(rb, dest) : 0;
    size_t words = BITS_TO_LONGS(ramblock_nr_pages(rb));

    for (size_t i = 0; i < words; i++) {
        _Atomic unsigned long *w = (_Atomic unsigned long *)&rb->dirty_log[i];
        if (!atomic_load_explicit(w, memory_order_relaxed)) {
            continue;
        }
        unsigned long bits = atomic_exchange(w, 0);
        n += __builtin_popcountl(bits & ~dest[i]);
        dest[i] |= bits;
    }
    return n;
}

char *ramblock_digest(RAMBlock *rb)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    const uint64_t chunk = 64 * MiB;

    for (uint64_t off = 0; off < rb->used_length; off += chunk) {
        g_checksum_update(sum, rb->host + off,
                          MIN(chunk, rb->used_length - off));
    }
    return g_strdup(g_checksum_get_string(sum));
}
