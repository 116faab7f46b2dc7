/*
 * x-checksums (our extension): a sum of every page of a mapped-ram file,
 * taken by whoever writes the page and checked by whoever reads it, plus
 * the file's metadata, kept in a trailer after the stream
 * (include/migration/checksum.h has the format).
 */
#ifndef MIGRATION_RAM_CHECKSUM_H
#define MIGRATION_RAM_CHECKSUM_H

#include "migration/qemu-file.h"
#include "system/ramblock.h"

/* x-checksums is on (it needs mapped-ram). */
bool ram_checksums_enabled(void);

/* Source: a table per block, before any page is written. */
void ram_checksums_save_setup(void);
/* Source: pages [start, start + n) of @rb were just written to the file. */
void ram_checksums_record(RAMBlock *rb, uint64_t start, uint64_t n);
/* Source: the file holds no copy of @page any more. */
void ram_checksums_forget(RAMBlock *rb, uint64_t page);
/*
 * Source, after the VM description: write the table and the trailer.
 * @stream_start is the file offset where the stream began.
 */
bool ram_checksums_save(QEMUFile *f, uint64_t stream_start, GError **errp);

/*
 * Destination, for each block whose pages are about to be read, in stream
 * order: read its sums from the table (the trailer first, for the first).
 */
bool ram_checksums_load_block(QEMUFile *f, RAMBlock *rb, GError **errp);
/*
 * Destination, once every block is known: the table must have been used
 * whole, and it and the metadata must match their sums.
 */
bool ram_checksums_load_finish(QEMUFile *f, GError **errp);
/*
 * Destination: the block's bitmap @bmap lists exactly the pages that have
 * a sum, which the writer took independently of the bitmap, so a bitmap
 * that lost or gained a page is found even where its bytes were written
 * that way.
 */
bool ram_checksums_check_bitmap(RAMBlock *rb, const unsigned long *bmap,
                                GError **errp);
/* Destination: check pages [start, start + n) of @rb, just read. */
bool ram_checksums_verify(RAMBlock *rb, uint64_t start, uint64_t n,
                          GError **errp);

/* Free the tables (either side). */
void ram_checksums_cleanup(void);

#endif
