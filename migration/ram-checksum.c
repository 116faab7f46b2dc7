/*
 * x-checksums: page sums and the file's metadata sum (see
 * ram-checksum.h).  Page sums are taken and checked by the thread that
 * moves the page (the migration thread or a multifd channel), so the
 * cost is spread like the I/O.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/checkpoint.h"
#include "migration/checksum.h"
#include "migration/options.h"
#include "migration/ram-checksum.h"
#include "migration/ram.h"

#include <sys/stat.h>
#include <xxhash.h>

/* Destination: what the trailer said and how far the table was used. */
static struct {
    bool have_trailer;
    MigChecksumTrailer trailer;
    uint64_t cursor; /* bytes of the table handed to blocks so far */
    GArray *regions; /* MigRegion: pages regions, in stream order */
} load;

bool ram_checksums_enabled(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_X_CHECKSUMS) &&
           migrate_mapped_ram();
}

static void block_sums_reset(RAMBlock *rb)
{
    g_free(rb->page_sums);
    rb->page_sums = g_new0(uint64_t, ramblock_nr_pages(rb));
}

void ram_checksums_save_setup(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (!migrate_ram_is_ignored(rb)) {
            block_sums_reset(rb);
            /* A checkpoint's rewrite keeps the sums of unchanged pages. */
            checkpoint_setup_sums(rb, rb->page_sums);
        }
    }
}

void ram_checksums_record(RAMBlock *rb, uint64_t start, uint64_t n)
{
    for (uint64_t p = start; rb->page_sums && p < start + n; p++) {
        rb->page_sums[p] = mig_page_sum(rb->host + (p << TARGET_PAGE_BITS));
    }
}

void ram_checksums_forget(RAMBlock *rb, uint64_t page)
{
    if (rb->page_sums) {
        rb->page_sums[page] = 0;
    }
}

/* A second descriptor on the file, to read back what was written. */
static QIOChannel *reopen_for_read(QEMUFile *f, GError **errp)
{
    int fd = qio_channel_get_fd(qemu_file_get_ioc(f));
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    QIOChannelFile *r = qio_channel_file_new_path(path, O_RDONLY, 0, errp);

    if (!r) {
        error_prepend(errp, "x-checksums: cannot read the file back");
        return NULL;
    }
    return &r->parent;
}

/* The pages regions of the blocks that have one, in stream order. */
static GArray *save_regions(void)
{
    GArray *a = g_array_new(false, false, sizeof(MigRegion));
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (rb->page_sums) {
            MigRegion r = { rb->pages_offset, rb->used_length };
            g_array_append_val(a, r);
        }
    }
    return a;
}

bool ram_checksums_save(QEMUFile *f, uint64_t stream_start, GError **errp)
{
    g_autoptr(GArray) regions = save_regions();
    MigChecksumTrailer t = { .meta_start = stream_start };
    g_autoptr(QIOChannel) rd = NULL;
    uint8_t trailer[MIG_CKSUM_TRAILER_SIZE];
    XXH3_state_t *st;
    RAMBlock *rb;

    qemu_fflush(f);
    t.table_offset = qemu_get_offset(f);
    rd = reopen_for_read(f, errp);
    if (!rd || !mig_cksum_meta_hash(rd, stream_start, t.table_offset,
                                    (MigRegion *)regions->data, regions->len,
                                    &t.meta_hash, errp)) {
        return false;
    }
    st = XXH3_createState();
    XXH3_64bits_reset(st);
    RAMBLOCK_FOREACH(rb) {
        if (!rb->page_sums) {
            continue;
        }
        size_t len = ramblock_nr_pages(rb) * sizeof(uint64_t);
        for (uint64_t p = 0; p < ramblock_nr_pages(rb); p++) {
            rb->page_sums[p] = GUINT64_TO_LE(rb->page_sums[p]);
        }
        qemu_put_buffer(f, rb->page_sums, len);
        XXH3_64bits_update(st, rb->page_sums, len);
        t.table_len += len;
    }
    t.table_hash = XXH3_64bits_digest(st);
    XXH3_freeState(st);
    mig_cksum_trailer_pack(&t, trailer);
    qemu_put_buffer(f, trailer, sizeof(trailer));
    qemu_fflush(f);
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    return true;
}

static uint64_t file_size(QEMUFile *f)
{
    struct stat st;
    int fd = qio_channel_get_fd(qemu_file_get_ioc(f));

    return fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : 0;
}

bool ram_checksums_load_block(QEMUFile *f, RAMBlock *rb, GError **errp)
{
    QIOChannel *ioc = qemu_file_get_ioc(f);
    size_t len = ramblock_nr_pages(rb) * sizeof(uint64_t);

    if (!load.have_trailer) {
        if (!mig_cksum_trailer_read(ioc, file_size(f), &load.trailer, errp)) {
            return false;
        }
        load.have_trailer = true;
        load.cursor = 0;
        load.regions = g_array_new(false, false, sizeof(MigRegion));
    }
    if (len > load.trailer.table_len - load.cursor) {
        error_setg(errp, "Checksum table is shorter than the RAM blocks");
        return false;
    }
    block_sums_reset(rb);
    if (qio_channel_pread_all(ioc, rb->page_sums, len,
                              load.trailer.table_offset + load.cursor,
                              errp) < 0) {
        return false;
    }
    for (uint64_t p = 0; p < ramblock_nr_pages(rb); p++) {
        rb->page_sums[p] = GUINT64_FROM_LE(rb->page_sums[p]);
    }
    load.cursor += len;
    MigRegion r = { rb->pages_offset, rb->used_length };
    g_array_append_val(load.regions, r);
    return true;
}

static int region_cmp(gconstpointer a, gconstpointer b)
{
    const MigRegion *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

bool ram_checksums_load_finish(QEMUFile *f, GError **errp)
{
    QIOChannel *ioc = qemu_file_get_ioc(f);
    MigChecksumTrailer *t = &load.trailer;
    g_autofree uint8_t *table = NULL;
    uint64_t meta;

    if (!load.have_trailer) {
        return true; /* no block has pages */
    }
    if (load.cursor != t->table_len) {
        error_setg(errp, "Checksum table does not match the RAM blocks");
        return false;
    }
    table = g_malloc(t->table_len ? t->table_len : 1);
    if (qio_channel_pread_all(ioc, table, t->table_len, t->table_offset, errp) <
        0) {
        return false;
    }
    if (mig_checksum(table, t->table_len) != t->table_hash) {
        error_setg(errp, "Checksum table is damaged");
        return false;
    }
    g_array_sort(load.regions, region_cmp);
    if (!mig_cksum_meta_hash(ioc, t->meta_start, t->table_offset,
                             (MigRegion *)load.regions->data, load.regions->len,
                             &meta, errp)) {
        return false;
    }
    if (meta != t->meta_hash) {
        error_setg(errp, "Checksum mismatch in the migration file's metadata "
                         "(headers, bitmaps or device state): the file is "
                         "damaged");
        return false;
    }
    return true;
}

bool ram_checksums_check_bitmap(RAMBlock *rb, const unsigned long *bmap,
                                GError **errp)
{
    for (uint64_t p = 0; rb->page_sums && p < ramblock_nr_pages(rb); p++) {
        if (test_bit(p, bmap) != (rb->page_sums[p] != 0)) {
            error_setg(errp,
                       "Page 0x%" PRIx64 " of ramblock %s is %s the file's "
                       "bitmap but %s the checksum table: the migration "
                       "file is damaged",
                       (uint64_t)(p << TARGET_PAGE_BITS), rb->idstr,
                       test_bit(p, bmap) ? "in" : "not in",
                       rb->page_sums[p] ? "in" : "not in");
            return false;
        }
    }
    return true;
}

bool ram_checksums_verify(RAMBlock *rb, uint64_t start, uint64_t n,
                          GError **errp)
{
    for (uint64_t p = start; rb->page_sums && p < start + n; p++) {
        if (mig_page_sum(rb->host + (p << TARGET_PAGE_BITS)) !=
            rb->page_sums[p]) {
            error_setg(errp,
                       "Checksum mismatch in page 0x%" PRIx64
                       " of ramblock %s: the migration file is damaged",
                       p << TARGET_PAGE_BITS, rb->idstr);
            return false;
        }
    }
    return true;
}

void ram_checksums_cleanup(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        g_clear_pointer(&rb->page_sums, g_free);
    }
    if (load.regions) {
        g_array_unref(load.regions);
    }
    memset(&load, 0, sizeof(load));
}
