/*
 * RAMBlock: one contiguous piece of guest RAM with its dirty tracking.
 *
 * Bitmaps use one bit per target page (4 KiB) in host unsigned longs.
 *  - dirty_log: the software log, written atomically while global dirty
 *    tracking is on by soft vCPUs and by the VMM's own writes (qtest,
 *    guest loading); drained by a bitmap sync together with what the
 *    accelerator's log_sync reports (KVM's dirty log).
 *  - bmap: pages the migration still has to send; migration thread only.
 *  - file_bmap: mapped-ram, pages whose current content is in the file;
 *    set by whoever wrote the page (atomically: multifd threads).
 */
#ifndef SYSTEM_RAMBLOCK_H
#define SYSTEM_RAMBLOCK_H

#include "qemu/osdep.h"
#include "qemu/bitmap.h"

typedef struct RAMBlock {
    char idstr[256];
    uint8_t *host;        /* page aligned, mmap()ed */
    uint64_t used_length; /* bytes, a multiple of TARGET_PAGE_SIZE */
    size_t page_size;     /* host page size backing the block */
    uint64_t gpa;         /* guest-physical base (qtest, x-ignore-shared) */
    bool migratable;
    unsigned long *dirty_log; /* accel → migration, atomic */
    unsigned long *bmap;      /* migration thread */
    unsigned long *file_bmap; /* mapped-ram */
    /*
     * Source: pages that may hold data; the others were never populated
     * and read as zero without being touched.  NULL: read every page.
     * Written by the migration thread while no channel works.
     */
    unsigned long *populated;
    /* x-checksums: a sum per page in the file (ram-checksum.c). */
    uint64_t *page_sums;
    uint64_t bitmap_offset; /* mapped-ram: absolute file offsets */
    uint64_t pages_offset;
    int fd;         /* backing file or memfd, -1 for anonymous memory */
    uint32_t flags; /* RAM_* below */
} RAMBlock;

/* RAMBlock flags (as QEMU's RAM_SHARED, RAM_NAMED_FILE, RAM_PREALLOC). */
enum {
    /* MAP_SHARED: writes reach the backing memory other mappings see. */
    RAM_SHARED = 1 << 0,
    /* Backed by a file with a path another process can map (not memfd). */
    RAM_NAMED_FILE = 1 << 1,
    /* Touch every page at allocation time. */
    RAM_PREALLOC = 1 << 2,
    /*
     * The memory starts with the file's contents, not zeros: a loader
     * must clear pages the stream does not carry.
     */
    RAM_FILE_CONTENT = 1 << 3,
};

static inline bool qemu_ram_is_shared(const RAMBlock *rb)
{
    return rb->flags & RAM_SHARED;
}

static inline bool qemu_ram_is_named_file(const RAMBlock *rb)
{
    return rb->flags & RAM_NAMED_FILE;
}

static inline uint64_t ramblock_nr_pages(const RAMBlock *rb)
{
    return rb->used_length >> TARGET_PAGE_BITS;
}

/* Allocate a zeroed block of @size bytes (anonymous, MAP_NORESERVE). */
RAMBlock *qemu_ram_alloc(const char *name, uint64_t size, uint64_t gpa,
                         GError **errp);
/*
 * Allocate a block of @size bytes mapped from @fd (a file or memfd; the
 * block owns it from now on, even on failure) or, when @fd is -1,
 * anonymous memory.  @ram_flags: RAM_SHARED maps with MAP_SHARED, else
 * MAP_PRIVATE; RAM_PREALLOC populates every page now (so a missing
 * hugepage fails here, not as a SIGBUS later).  @page_size is the host
 * page size backing the memory (0: the base page size); @size must be a
 * multiple of it.  Returns NULL with @errp set on failure.
 */
RAMBlock *qemu_ram_alloc_from_fd(const char *name, uint64_t size, uint64_t gpa,
                                 int fd, uint32_t ram_flags, size_t page_size,
                                 GError **errp);
void qemu_ram_free_all(void);

/*
 * A bitmap of the pages of @rb that are populated (present or swapped
 * out), from /proc/self/pagemap; NULL where that cannot be known (memory
 * backed by a file or memfd may hold data in the page cache that is not
 * mapped, and so do kernels without pagemap).  A page of anonymous private
 * memory that is not populated has never been written since it was last
 * given back: it reads as zero.
 */
unsigned long *ram_block_populated_bitmap(RAMBlock *rb);

/*
 * Best effort: fault in [offset, offset + len) of @rb for writing now, in
 * the calling thread (MADV_POPULATE_WRITE, Linux 5.14), so a reader filling
 * it does not take a fault per page.  Without it nothing happens.
 */
void ram_block_prefault(RAMBlock *rb, uint64_t offset, uint64_t len);

/* All blocks in registration order. */
extern GPtrArray *ram_list;
#define RAMBLOCK_FOREACH(rb) \
    for (guint _i = 0;       \
         ram_list && _i < ram_list->len && ((rb) = ram_list->pdata[_i]); _i++)

RAMBlock *qemu_ram_block_by_name(const char *name);
/* Sum of used_length of migratable blocks. */
uint64_t ram_bytes_total(void);

/*
 * While guest RAM is being loaded lazily (migration/ram-lazy.c), pages may
 * be missing and a thread touching one sleeps until it is loaded, forever
 * if it cannot be.  Code outside the vCPUs calls ram_block_populate()
 * before touching [offset, offset + len) of @rb: it loads what is missing
 * or fails with the reason.  The hook is NULL when nothing is missing.
 */
extern bool (*ram_block_populate_fn)(RAMBlock *rb, uint64_t offset,
                                     uint64_t len, GError **errp);
static inline bool ram_block_populate(RAMBlock *rb, uint64_t offset,
                                      uint64_t len, GError **errp)
{
    bool (*fn)(RAMBlock *, uint64_t, uint64_t, GError **) =
        ram_block_populate_fn;
    return !fn || fn(rb, offset, len, errp);
}

/*
 * Guest-physical access for qtest: false if [addr, addr+len) is unmapped
 * (or cannot be loaded, see ram_block_populate()).
 */
bool address_space_rw(uint64_t addr, void *buf, uint64_t len, bool is_write);
bool address_space_memset(uint64_t addr, uint8_t val, uint64_t len);

/*
 * Dirty tracking: on only while something needs it (a save, tracked
 * checkpoint images).  Counted: the first start clears the logs, the
 * last stop ends tracking.
 */
extern atomic_bool global_dirty_tracking;
void global_dirty_log_start(void);
void global_dirty_log_stop(void);

static inline void ramblock_set_dirty(RAMBlock *rb, uint64_t offset)
{
    if (atomic_load_explicit(&global_dirty_tracking, memory_order_relaxed)) {
        uint64_t page = offset >> TARGET_PAGE_BITS;
        unsigned long mask = 1UL << (page % BITS_PER_LONG);
        _Atomic unsigned long *w =
            (_Atomic unsigned long *)&rb->dirty_log[page / BITS_PER_LONG];
        if (!(atomic_load_explicit(w, memory_order_relaxed) & mask)) {
            atomic_fetch_or(w, mask);
        }
    }
}

/*
 * Move the block's dirty log and the accelerator's into @dest (OR),
 * clearing them.  Returns how many pages were newly set in @dest.
 */
uint64_t ramblock_sync_dirty_log(RAMBlock *rb, unsigned long *dest);

/* SHA-256 of the block's contents as lowercase hex (g_free it). */
char *ramblock_digest(RAMBlock *rb);

#endif
