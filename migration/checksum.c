/*
 * The checksum trailer of mapped-ram files (see checksum.h).  XXH3 from
 * libxxhash: fast enough to run on every page at storage speed.
 */
#include "qemu/osdep.h"
#include "migration/checksum.h"

#include <xxhash.h>

#define MIG_CKSUM_READ_CHUNK (1 * MiB)

uint64_t mig_checksum(const void *buf, size_t len)
{
    return XXH3_64bits(buf, len);
}

uint64_t mig_page_sum(const void *page)
{
    uint64_t h = XXH3_64bits(page, TARGET_PAGE_SIZE);

    return h ? h : 1; /* 0 stands for "no page" in the table */
}

static void put_le64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(p, &v, 8);
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return GUINT64_FROM_LE(v);
}

void mig_cksum_trailer_pack(const MigChecksumTrailer *t,
                            uint8_t out[MIG_CKSUM_TRAILER_SIZE])
{
    uint32_t version = GUINT32_TO_LE(MIG_CKSUM_VERSION), flags = 0;

    memcpy(out, MIG_CKSUM_MAGIC, 8);
    memcpy(out + 8, &version, 4);
    memcpy(out + 12, &flags, 4);
    put_le64(out + 16, t->table_offset);
    put_le64(out + 24, t->table_len);
    put_le64(out + 32, t->meta_start);
    put_le64(out + 40, t->meta_hash);
    put_le64(out + 48, t->table_hash);
    put_le64(out + 56, mig_checksum(out, 56));
}

bool mig_cksum_trailer_unpack(const uint8_t in[MIG_CKSUM_TRAILER_SIZE],
                              uint64_t file_size, MigChecksumTrailer *t,
                              GError **errp)
{
    uint32_t version;

    if (memcmp(in, MIG_CKSUM_MAGIC, 8)) {
        error_setg(errp, "No checksum trailer at the end of the file (is it "
                         "truncated, or saved without x-checksums?)");
        return false;
    }
    if (get_le64(in + 56) != mig_checksum(in, 56)) {
        error_setg(errp, "Checksum trailer is damaged");
        return false;
    }
    memcpy(&version, in + 8, 4);
    if (GUINT32_FROM_LE(version) != MIG_CKSUM_VERSION) {
        error_setg(errp, "Unsupported checksum trailer version %u",
                   GUINT32_FROM_LE(version));
        return false;
    }
    *t = (MigChecksumTrailer){ .table_offset = get_le64(in + 16),
                               .table_len = get_le64(in + 24),
                               .meta_start = get_le64(in + 32),
                               .meta_hash = get_le64(in + 40),
                               .table_hash = get_le64(in + 48) };
    if (file_size < MIG_CKSUM_TRAILER_SIZE || t->table_len % 8 ||
        t->table_offset > file_size - MIG_CKSUM_TRAILER_SIZE ||
        t->table_len != file_size - MIG_CKSUM_TRAILER_SIZE - t->table_offset ||
        t->meta_start > t->table_offset) {
        error_setg(errp, "Checksum trailer describes a table outside the file");
        return false;
    }
    return true;
}

static bool trailer_bytes(QIOChannel *ioc, uint64_t file_size,
                          uint8_t buf[MIG_CKSUM_TRAILER_SIZE], GError **errp)
{
    if (file_size < MIG_CKSUM_TRAILER_SIZE) {
        error_setg(errp, "File too short for a checksum trailer");
        return false;
    }
    return qio_channel_pread_all(ioc, buf, MIG_CKSUM_TRAILER_SIZE,
                                 file_size - MIG_CKSUM_TRAILER_SIZE, errp) == 0;
}

bool mig_cksum_trailer_present(QIOChannel *ioc, uint64_t file_size)
{
    uint8_t buf[MIG_CKSUM_TRAILER_SIZE];

    return trailer_bytes(ioc, file_size, buf, NULL) &&
           !memcmp(buf, MIG_CKSUM_MAGIC, 8);
}

bool mig_cksum_trailer_read(QIOChannel *ioc, uint64_t file_size,
                            MigChecksumTrailer *t, GError **errp)
{
    uint8_t buf[MIG_CKSUM_TRAILER_SIZE];

    return trailer_bytes(ioc, file_size, buf, errp) &&
           mig_cksum_trailer_unpack(buf, file_size, t, errp);
}

/* Feed [@start, @end) of @ioc into @st. */
static bool hash_range(QIOChannel *ioc, XXH3_state_t *st, uint8_t *buf,
                       uint64_t start, uint64_t end, GError **errp)
{
    while (start < end) {
        size_t n = MIN(end - start, MIG_CKSUM_READ_CHUNK);
        if (qio_channel_pread_all(ioc, buf, n, start, errp) < 0) {
            return false;
        }
        XXH3_64bits_update(st, buf, n);
        start += n;
    }
    return true;
}

bool mig_cksum_meta_hash(QIOChannel *ioc, uint64_t start, uint64_t end,
                         const MigRegion *skip, size_t nskip, uint64_t *out,
                         GError **errp)
{
    g_autofree uint8_t *buf = g_malloc(MIG_CKSUM_READ_CHUNK);
    XXH3_state_t *st = XXH3_createState();
    uint64_t pos = start;
    bool ok = true;

    XXH3_64bits_reset(st);
    for (size_t i = 0; ok && i <= nskip; i++) {
        uint64_t stop = i < nskip ? MIN(MAX(skip[i].start, pos), end) : end;
        ok = hash_range(ioc, st, buf, pos, stop, errp);
        if (i < nskip) {
            pos = MAX(pos, MIN(skip[i].start + skip[i].len, end));
        }
    }
    *out = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    return ok;
}
