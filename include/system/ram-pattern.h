/*
 * Test pattern for guest RAM (test-only, behind the x-fill-ram QMP
 * command): every page of every block gets content derived from the
 * block's name, the page's index in the block and a generation number,
 * so a page written to the wrong place, a stale page from an older
 * generation, or a page left out changes the block's digest.  Some pages
 * are left zero, alone and in runs, so zero-page handling is exercised
 * on the same data.
 */
#ifndef SYSTEM_RAM_PATTERN_H
#define SYSTEM_RAM_PATTERN_H

#include "qemu/osdep.h"
#include "system/ramblock.h"

/* Runs of zero pages: one run of @zero_stride pages in this many. */
#define RAM_PATTERN_RUN_PERIOD 8

/* The per-block seed: a hash of @idstr mixed with @generation. */
uint64_t ram_pattern_seed(const char *idstr, uint64_t generation);

/*
 * Is page @page zero?  With @zero_stride N > 0: the last page of every N
 * (isolated zero pages), and every page of each N-page run whose run
 * index is RAM_PATTERN_RUN_PERIOD - 1 modulo RAM_PATTERN_RUN_PERIOD.
 * N == 0: no page is zero.
 */
bool ram_pattern_page_is_zero(uint64_t page, uint64_t zero_stride);

/* Write page @page's pattern (TARGET_PAGE_SIZE bytes) to @dst. */
void ram_pattern_fill_page(void *dst, uint64_t seed, uint64_t page);

typedef struct RamPatternStats {
    uint64_t pages;      /* pages written, zero ones included */
    uint64_t zero_pages; /* of those, pages left zero */
} RamPatternStats;

/*
 * Fill @rb from byte @offset (page aligned, may be beyond the end: then
 * nothing is written) to its end.  Pages written are marked dirty for a
 * running migration.  Fails only when a lazily loaded block cannot be
 * populated (see ram_block_populate()).
 */
bool ram_pattern_fill_block(RAMBlock *rb, uint64_t offset, uint64_t generation,
                            uint64_t zero_stride, RamPatternStats *stats,
                            GError **errp);

#endif
