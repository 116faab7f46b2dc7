/*
 * The "ram" section: dirty bitmaps, zero pages, the stream layout and the
 * mapped-ram layout.
 */
#ifndef MIGRATION_RAM_H
#define MIGRATION_RAM_H

#include "migration/format.h"
#include "migration/qemu-file.h"
#include "qemu/bufferiszero.h" /* users of ram.h test pages */
#include "system/ramblock.h"

/* Bytes per read when loading a mapped-ram block's pages. */
#define MAPPED_RAM_LOAD_BUF_SIZE 0x100000

/*
 * Runs of a mapped-ram file closer than this are read (multifd: and
 * written) as one request, gap included: a few zero pages cost less than
 * another request, and a read that skips breaks the kernel's readahead.
 * The file bitmap still lists only the pages that hold data.
 */
#define MAPPED_RAM_GAP_PAGES 16

/* Counters for query-migrate; updated atomically by their writers. */
typedef struct RAMStats {
    _Atomic uint64_t normal_pages;
    _Atomic uint64_t zero_pages;
    _Atomic uint64_t transferred; /* bytes of RAM data and framing */
    _Atomic uint64_t multifd_bytes;
    _Atomic uint64_t precopy_bytes;
    _Atomic uint64_t downtime_bytes;
    _Atomic uint64_t dirty_sync_count;
    _Atomic uint64_t dirty_pages_rate; /* pages/s over the last pass */
    _Atomic uint64_t remaining_pages;
} RAMStats;

extern RAMStats ram_stats;

/*
 * Whether page @page of @rb is zero.  A page that was never populated is,
 * and is not read: on a host without a shared zero page, reading it would
 * allocate it.
 */
bool ram_page_is_zero(RAMBlock *rb, uint64_t page);

/* Destination: page @page of @rb now holds loaded data (any thread). */
static inline void ram_page_set_populated(RAMBlock *rb, uint64_t page)
{
    if (rb->populated) {
        set_bit_atomic(page, rb->populated);
    }
}

/* Count @bytes sent by the migration thread (precopy or downtime). */
void ram_transferred_add(uint64_t bytes);

/*
 * x-ignore-shared skips this block: shared and backed by a named file,
 * so the destination maps the same memory (QEMU's migrate_ram_is_ignored).
 */
bool migrate_ram_is_ignored(RAMBlock *rb);

/* Register the "ram" section (section id 2 on -M none, as QEMU). */
void ram_mig_init(void);

/*
 * mapped-ram: a dirty page that is now zero.  If the file holds an older
 * copy, punch it out (through @fd) and clear its file_bmap bit.
 */
bool mapped_ram_zero_page(int fd, RAMBlock *rb, uint64_t page, GError **errp);

/*
 * Hook called after each bitmap sync (pass) with the new pass number;
 * migration.c emits MIGRATION_PASS there.
 */
extern void (*ram_pass_notify)(uint64_t pass);

#endif
