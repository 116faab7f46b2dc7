/*
 * Guest RAM: RAMBlocks, their dirty logs and guest-physical access.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/mmap-alloc.h"
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
    return qemu_ram_alloc_from_fd(name, size, gpa, -1, 0, 0, errp);
}

static bool ram_block_check(const char *name, uint64_t size, size_t page_size,
                            GError **errp)
{
    if (size == 0 || size % TARGET_PAGE_SIZE || size % page_size) {
        error_setg(errp,
                   "RAM block '%s' size %" PRIu64
                   " is not a positive multiple of the page size (%zu)",
                   name, size, MAX(page_size, (size_t)TARGET_PAGE_SIZE));
        return false;
    }
    if (strlen(name) >= sizeof(((RAMBlock *)0)->idstr)) {
        error_setg(errp, "RAM block name '%s' is too long", name);
        return false;
    }
    if (qemu_ram_block_by_name(name)) {
        error_setg(errp, "RAM block '%s' already exists", name);
        return false;
    }
    return true;
}

/*
 * Fault every page in now.  MADV_POPULATE_WRITE (Linux 5.14) reports a
 * missing hugepage as an error; older kernels get one write per page,
 * which would SIGBUS instead, so hugetlb memory is reserved by mmap()
 * anyway (no MAP_NORESERVE).
 */
static bool ram_block_prealloc(const char *name, uint8_t *host, uint64_t size,
                               size_t page_size, GError **errp)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(host, size, MADV_POPULATE_WRITE) == 0) {
        return true;
    }
    if (errno != EINVAL) {
        error_setg_errno(errp, errno,
                         "Cannot preallocate %" PRIu64
                         " bytes of guest RAM for '%s'",
                         size, name);
        return false;
    }
#endif
    for (uint64_t off = 0; off < size; off += page_size) {
        volatile uint8_t *p = host + off;
        *p = *p;
    }
    return true;
}

/*
 * As QEMU: anonymous guest RAM is backed by transparent huge pages where
 * the host allows it (THP "madvise"), so a first touch faults 2 MiB, not
 * 4 KiB.  A kernel without THP refuses the advice: the RAM works as is.
 */
static void ram_advise_hugepage(void *host, uint64_t size)
{
#ifdef MADV_HUGEPAGE
    madvise(host, size, MADV_HUGEPAGE);
#endif
}

/* mmap() of hugetlb memory reserves the pages: say how many are free. */
static void hugepages_error(GError **errp, int err, const char *name,
                            uint64_t size, size_t page_size)
{
    g_autofree char *path = g_strdup_printf(
        "/sys/kernel/mm/hugepages/hugepages-%zukB/free_hugepages",
        page_size / KiB);
    g_autofree char *free_str = NULL;
    g_autofree char *hps = size_to_str(page_size);

    g_file_get_contents(path, &free_str, NULL, NULL);
    error_setg_errno(errp, err,
                     "Cannot map guest RAM '%s' in %s hugepages: it needs "
                     "%" PRIu64 ", the host has %s free (vm.nr_hugepages)",
                     name, hps, size / page_size,
                     free_str ? g_strstrip(free_str) : "none");
}

RAMBlock *qemu_ram_alloc_from_fd(const char *name, uint64_t size, uint64_t gpa,
                                 int fd, uint32_t ram_flags, size_t page_size,
                                 GError **errp)
{
    int mflags = ram_flags & RAM_SHARED ? MAP_SHARED : MAP_PRIVATE;

    if (!page_size) {
        page_size = getpagesize();
    }
    if (!ram_block_check(name, size, page_size, errp)) {
        goto fail;
    }
    if (fd < 0) {
        mflags |= MAP_ANONYMOUS;
        /* Anonymous private memory is committed page by page as used. */
        if (!(ram_flags & RAM_SHARED)) {
            mflags |= MAP_NORESERVE;
        }
    }
    /*
     * As QEMU maps guest RAM: on a boundary of 2 MiB (or of the backend's
     * larger pages), so transparent huge pages can back all of it and a
     * 2 MiB run of a migration file lands in one.
     */
    void *host = qemu_mmap_aligned(size, MAX(page_size, 2 * MiB), mflags, fd);
    if (host == MAP_FAILED) {
        if (page_size > (size_t)getpagesize()) {
            hugepages_error(errp, errno, name, size, page_size);
        } else {
            error_setg_errno(errp, errno,
                             "Cannot allocate %" PRIu64
                             " bytes of guest RAM for '%s'",
                             size, name);
        }
        goto fail;
    }
    if ((ram_flags & RAM_PREALLOC) &&
        !ram_block_prealloc(name, host, size, page_size, errp)) {
        munmap(host, size);
        goto fail;
    }
    if (fd < 0 && !(ram_flags & RAM_SHARED)) {
        ram_advise_hugepage(host, size);
    }
    RAMBlock *rb = g_new0(RAMBlock, 1);
    g_strlcpy(rb->idstr, name, sizeof(rb->idstr));
    rb->host = host;
    rb->used_length = size;
    rb->page_size = page_size;
    rb->gpa = gpa;
    rb->migratable = true;
    rb->fd = fd;
    rb->flags = ram_flags;
    rb->dirty_log = bitmap_new(ramblock_nr_pages(rb));
    if (!ram_list) {
        ram_list = g_ptr_array_new();
    }
    g_ptr_array_add(ram_list, rb);
    return rb;

fail:
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

void qemu_ram_free_all(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        munmap(rb->host, rb->used_length);
        if (rb->fd >= 0) {
            close(rb->fd);
        }
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

/* Users of the log: a save in progress, x-checkpoint's tracked images. */
static unsigned dirty_log_users;

void global_dirty_log_start(void)
{
    RAMBlock *rb;

    if (dirty_log_users++) {
        return; /* on already, with writes another user still needs */
    }
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
    assert(dirty_log_users);
    if (--dirty_log_users) {
        return;
    }
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

/* pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)
#define PAGEMAP_CHUNK 65536 /* entries per read: 256 MiB of 4 KiB pages */

unsigned long *ram_block_populated_bitmap(RAMBlock *rb)
{
    uint64_t n = ramblock_nr_pages(rb);
    size_t host_page = getpagesize();

    if (rb->fd >= 0 || qemu_ram_is_shared(rb) ||
        host_page != TARGET_PAGE_SIZE) {
        return NULL;
    }
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return NULL;
    }
    unsigned long *bmap = bitmap_new(n);
    g_autofree uint64_t *buf = g_new(uint64_t, MIN(n, PAGEMAP_CHUNK));
    off_t base = (uintptr_t)rb->host / host_page * sizeof(uint64_t);
    for (uint64_t p = 0; p < n;) {
        size_t want = MIN(n - p, PAGEMAP_CHUNK) * sizeof(uint64_t);
        ssize_t got = pread(fd, buf, want, base + p * sizeof(uint64_t));
        if (got < (ssize_t)sizeof(uint64_t)) {
            /* Unknown: every page may hold data. */
            g_free(bmap);
            close(fd);
            return NULL;
        }
        for (size_t i = 0; i < got / sizeof(uint64_t); i++, p++) {
            if (buf[i] & (PAGEMAP_PRESENT | PAGEMAP_SWAPPED)) {
                set_bit(p, bmap);
            }
        }
    }
    close(fd);
    return bmap;
}

void ram_block_prefault(RAMBlock *rb, uint64_t offset, uint64_t len)
{
#ifdef MADV_POPULATE_WRITE
    uint64_t start = offset / rb->page_size * rb->page_size;
    uint64_t end = MIN(ROUND_UP(offset + len, rb->page_size), rb->used_length);

    if (end > start) {
        madvise(rb->host + start, end - start, MADV_POPULATE_WRITE);
    }
#endif
}
