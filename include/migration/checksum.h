/*
 * mapmig's checksum trailer for mapped-ram files (capability x-checksums,
 * our extension; QEMU's formats carry no checksum).
 *
 * After the stream's last byte (the VM description) come
 *
 *   the page table   for every block that has a pages region, in stream
 *                    order, one XXH3-64 per page (little-endian u64);
 *                    0 where the file holds no page;
 *   the trailer      64 bytes, the file's last:
 *                      "MAPMIGCK" magic, u32 version, u32 flags (0),
 *                      u64 table_offset, u64 table_len, u64 meta_start,
 *                      u64 meta_hash, u64 table_hash,
 *                      u64 XXH3-64 of the 56 bytes before it.
 *
 * meta_hash is XXH3-64 over every byte of [meta_start, table_offset) that
 * lies outside the blocks' pages regions: headers, bitmaps, device state,
 * the VM description and the padding between them.  So a damaged byte
 * anywhere in the file is found, either by meta_hash, table_hash, the
 * trailer's own hash, or the sum of the page it belongs to.  QEMU ignores
 * what follows the VM description, so the file stays QEMU's layout.
 */
#ifndef MIGRATION_CHECKSUM_H
#define MIGRATION_CHECKSUM_H

#include "io/channel.h"

#define MIG_CKSUM_MAGIC "MAPMIGCK"
#define MIG_CKSUM_VERSION 1
#define MIG_CKSUM_TRAILER_SIZE 64

typedef struct MigChecksumTrailer {
    uint64_t table_offset; /* absolute file offsets */
    uint64_t table_len;
    uint64_t meta_start; /* where the migration stream starts */
    uint64_t meta_hash;
    uint64_t table_hash;
} MigChecksumTrailer;

/* A byte range of the file that meta_hash leaves out (a pages region). */
typedef struct MigRegion {
    uint64_t start;
    uint64_t len;
} MigRegion;

/* The sum of one 4 KiB page as stored in the table (never 0). */
uint64_t mig_page_sum(const void *page);
/* XXH3-64 of @len bytes. */
uint64_t mig_checksum(const void *buf, size_t len);

void mig_cksum_trailer_pack(const MigChecksumTrailer *t,
                            uint8_t out[MIG_CKSUM_TRAILER_SIZE]);
/*
 * Check and decode the trailer @in, the last bytes of a file of
 * @file_size bytes: magic, version, its own hash, and a table that lies
 * inside the file right before it.
 */
bool mig_cksum_trailer_unpack(const uint8_t in[MIG_CKSUM_TRAILER_SIZE],
                              uint64_t file_size, MigChecksumTrailer *t,
                              GError **errp);
/* Whether the last bytes of @ioc (@file_size long) look like a trailer. */
bool mig_cksum_trailer_present(QIOChannel *ioc, uint64_t file_size);
/* Read and check the trailer at the end of @ioc. */
bool mig_cksum_trailer_read(QIOChannel *ioc, uint64_t file_size,
                            MigChecksumTrailer *t, GError **errp);

/*
 * XXH3-64 of the bytes of [@start, @end) of @ioc outside the @nskip
 * regions @skip (sorted, non-overlapping; parts outside the range are
 * ignored).
 */
bool mig_cksum_meta_hash(QIOChannel *ioc, uint64_t start, uint64_t end,
                         const MigRegion *skip, size_t nskip, uint64_t *out,
                         GError **errp);

#endif
