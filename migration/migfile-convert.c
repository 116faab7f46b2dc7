/*
 * Extract a RAM block from, or convert the RAM layout of, a migration
 * file (see migfile-convert.h).  Reading is migfile's; writing a stream
 * reuses QEMUFile and the framing of format.h.
 */
#include "migration/migfile-convert.h"
#include "io/channel-file.h"
#include "migration/format.h"
#include "migration/qemu-file.h"
#include "qemu/bitmap.h"
#include "qemu/bufferiszero.h"

#define COPY_CHUNK (1 * MiB)

/* ---------------------------------------------------------------- */
/* Page sinks: what extract and convert write pages into */

/* A RAM image of one block in a file, starting at @base (extract: 0). */
typedef struct PageSink {
    QIOChannel *ioc; /* a file channel, not owned */
    uint64_t base;
    unsigned long *written; /* pages holding non-zero data */
} PageSink;

/* Make the page at @off zero again: a hole if the file system can. */
static bool sink_zero(PageSink *ps, uint64_t off, GError **errp)
{
    static const uint8_t zeros[TARGET_PAGE_SIZE];
    uint64_t pos = ps->base + off;

    if (fallocate(qio_channel_get_fd(ps->ioc),
                  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos,
                  TARGET_PAGE_SIZE) == 0) {
        return true;
    }
    if (qio_channel_pwrite_all(ps->ioc, zeros, TARGET_PAGE_SIZE, pos, errp) <
        0) {
        error_prepend(errp, "Could not write zeros");
        return false;
    }
    return true;
}

/*
 * Put one page record: @data, or for a ZERO record (@data NULL) a page of
 * @fill bytes.  Later records override earlier ones; zero pages stay (or
 * become) holes, so only pages that were written need clearing.
 */
static bool sink_page(PageSink *ps, uint64_t off, const uint8_t *data,
                      uint8_t fill, GError **errp)
{
    uint8_t page[TARGET_PAGE_SIZE];
    uint64_t idx = off / TARGET_PAGE_SIZE;

    if (!data && fill) {
        memset(page, fill, sizeof(page));
        data = page;
    }
    if (!data || buffer_is_zero(data, TARGET_PAGE_SIZE)) {
        if (test_bit(idx, ps->written)) {
            clear_bit(idx, ps->written);
            return sink_zero(ps, off, errp);
        }
        return true;
    }
    if (qio_channel_pwrite_all(ps->ioc, data, TARGET_PAGE_SIZE, ps->base + off,
                               errp) < 0) {
        error_prepend(errp, "Could not write page data");
        return false;
    }
    set_bit(idx, ps->written);
    return true;
}

/* ---------------------------------------------------------------- */
/* extract */

typedef struct ExtractCtx {
    const char *block;
    PageSink sink;
} ExtractCtx;

/* MigPageFn: the records of the block being extracted go to the sink. */
static bool extract_page(void *opaque, MigFile *mf, MigBlock *b, uint64_t off,
                         const uint8_t *data, uint8_t fill, GError **errp)
{
    ExtractCtx *x = opaque;

    if (strcmp(b->name, x->block)) {
        return true;
    }
    return sink_page(&x->sink, off, data, fill, errp);
}

/* Copy the present pages of a mapped-ram block into @ps. */
static bool copy_mapped_block(MigFile *mf, MigBlock *b, PageSink *ps,
                              GError **errp)
{
    uint64_t n = b->length / TARGET_PAGE_SIZE;
    g_autofree unsigned long *bmap = migfile_read_bitmap(mf, b, errp);
    g_autofree uint8_t *buf = g_malloc(COPY_CHUNK);

    if (!bmap) {
        return false;
    }
    for (uint64_t p = find_next_bit(bmap, n, 0); p < n;
         p = find_next_bit(bmap, n, p)) {
        uint64_t end = find_next_zero_bit(bmap, n, p);
        while (p < end) {
            uint64_t cnt = MIN(end - p, COPY_CHUNK / TARGET_PAGE_SIZE);
            if (!migfile_pread(mf, buf, cnt * TARGET_PAGE_SIZE,
                               b->pages_offset + p * TARGET_PAGE_SIZE, errp)) {
                return false;
            }
            for (uint64_t i = 0; i < cnt; i++) {
                if (!sink_page(ps, (p + i) * TARGET_PAGE_SIZE,
                               buf + i * TARGET_PAGE_SIZE, 0, errp)) {
                    return false;
                }
            }
            p += cnt;
        }
    }
    return true;
}

static QIOChannel *open_output(const char *path, GError **errp)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not create '%s'", path);
        return NULL;
    }
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);
    qio_channel_set_name(&fioc->parent, path);
    return &fioc->parent;
}

/* The block named @block, or an error listing the blocks there are. */
static MigBlock *extract_find_block(MigFile *mf, const char *block,
                                    GError **errp)
{
    MigBlock *b = migfile_find_block(mf, block);

    if (!b) {
        g_autoptr(GString) names = g_string_new(NULL);
        for (guint i = 0; i < mf->blocks->len; i++) {
            g_string_append_printf(names, "%s%s", i ? ", " : "",
                                   g_array_index(mf->blocks, MigBlock, i).name);
        }
        error_setg(errp, "No RAM block '%s' in '%s' (blocks: %s)", block,
                   mf->path, names->str);
        return NULL;
    }
    if (b->ignored) {
        error_setg(errp,
                   "RAM block '%s' is not in '%s': x-ignore-shared left it "
                   "in the shared file the VM mapped",
                   block, mf->path);
        return NULL;
    }
    return b;
}

bool migfile_extract_block(MigFile *mf, const char *block, const char *out,
                           GError **errp)
{
    ExtractCtx x = { .block = block };
    MigBlock *b = extract_find_block(mf, block, errp);
    bool ok = false;

    if (!b) {
        return false;
    }
    x.sink.ioc = open_output(out, errp);
    if (!x.sink.ioc) {
        return false;
    }
    int fd = qio_channel_get_fd(x.sink.ioc);
    if (ftruncate(fd, b->length) < 0) {
        error_setg_errno(errp, errno, "Could not size '%s'", out);
        goto out;
    }
    x.sink.written = bitmap_new(b->length / TARGET_PAGE_SIZE);
    if (mf->layout == MIG_LAYOUT_MAPPED_RAM) {
        ok = copy_mapped_block(mf, b, &x.sink, errp);
    } else {
        g_autoptr(MigFile) again = migfile_reopen(mf, extract_page, &x, errp);
        ok = again != NULL;
    }
    if (ok && fsync(fd) < 0) {
        error_setg_errno(errp, errno, "Could not write '%s'", out);
        ok = false;
    }
out:
    g_free(x.sink.written);
    if (qio_channel_close(x.sink.ioc, ok ? errp : NULL) < 0) {
        ok = false;
    }
    qio_channel_unref(x.sink.ioc);
    if (!ok) {
        unlink(out);
    }
    return ok;
}

/* ---------------------------------------------------------------- */
/* convert: the framing around the "ram" sections */

static bool copy_range(MigFile *mf, QEMUFile *f, uint64_t pos, uint64_t len,
                       GError **errp)
{
    g_autofree uint8_t *buf = g_malloc(MIN(len, COPY_CHUNK) + 1);

    while (len) {
        size_t n = MIN(len, COPY_CHUNK);
        if (!migfile_pread(mf, buf, n, pos, errp)) {
            return false;
        }
        qemu_put_buffer(f, buf, n);
        pos += n;
        len -= n;
    }
    return true;
}

/* The validated capabilities of the converted file (borrowed names). */
static GPtrArray *converted_caps(MigFile *mf, MigLayout to)
{
    GPtrArray *caps = g_ptr_array_new();

    for (guint i = 0; i < mf->caps->len; i++) {
        const char *c = g_ptr_array_index(mf->caps, i);
        if (strcmp(c, "mapped-ram")) {
            g_ptr_array_add(caps, (char *)c);
        }
    }
    if (to == MIG_LAYOUT_MAPPED_RAM) {
        g_ptr_array_add(caps, (char *)"mapped-ram");
    }
    return caps;
}

/* The source's configuration, "mapped-ram" set as @to needs. */
static void put_configuration(MigFile *mf, QEMUFile *f, MigLayout to)
{
    g_autoptr(GPtrArray) caps = NULL;

    if (mf->config_offset == mf->config_end) {
        return; /* the source sent none */
    }
    caps = converted_caps(mf, to);
    mig_stream_put_configuration(f, mf->machine,
                                 (const char *const *)caps->pdata, caps->len);
    qemu_put_buffer(f, mf->other_config->data, mf->other_config->len);
}

/*
 * The VM description, its configuration entry following the new
 * capabilities (docs/migration/stream.rst); verbatim if it cannot.
 */
static void put_vmdesc(MigFile *mf, QEMUFile *f, MigLayout to)
{
    g_autoptr(GPtrArray) caps = converted_caps(mf, to);
    g_autofree char *json = NULL;

    if (mf->config_offset != mf->config_end) {
        json = mig_vmdesc_set_configuration(
            mf->vmdesc, mf->vmdesc_len, mf->machine,
            (const char *const *)caps->pdata, caps->len);
    }
    if (!json) {
        json = g_strndup(mf->vmdesc, mf->vmdesc_len);
    }
    qemu_put_byte(f, QEMU_VM_VMDESCRIPTION);
    qemu_put_be32(f, strlen(json));
    qemu_put_buffer(f, (uint8_t *)json, strlen(json));
}

static void put_ram_header(MigFile *mf, QEMUFile *f, uint8_t type)
{
    mig_stream_put_section_header(f, type, mf->ram_section_id, "ram",
                                  mf->ram_instance_id, mf->ram_version_id);
}

static void put_footer(MigFile *mf, QEMUFile *f)
{
    mig_stream_put_section_footer(f, mf->ram_section_id);
}

/* Close the open PART, then an empty END, as the source's last one. */
static void put_ram_end(MigFile *mf, QEMUFile *f)
{
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    put_ram_header(mf, f, QEMU_VM_SECTION_END);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
}

/* The sections after the RAM ones (verbatim), EOF and the vmdesc. */
static bool put_devices_and_tail(MigFile *mf, QEMUFile *f, MigLayout to,
                                 GError **errp)
{
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (mf->have_ram && s->section_id == mf->ram_section_id) {
            continue;
        }
        if (!copy_range(mf, f, s->offset, s->end - s->offset, errp)) {
            return false;
        }
    }
    qemu_put_byte(f, QEMU_VM_EOF);
    if (mf->vmdesc) {
        put_vmdesc(mf, f, to);
    }
    return true;
}

/* ---------------------------------------------------------------- */
/* convert to mapped-ram */

typedef struct ConvertCtx {
    PageSink *sinks; /* per block, in block order */
} ConvertCtx;

/* MigPageFn: each record goes to its block's pages region. */
static bool convert_page(void *opaque, MigFile *mf, MigBlock *b, uint64_t off,
                         const uint8_t *data, uint8_t fill, GError **errp)
{
    ConvertCtx *c = opaque;
    return sink_page(&c->sinks[b - &g_array_index(mf->blocks, MigBlock, 0)],
                     off, data, fill, errp);
}

static bool place_pages(MigFile *mf, PageSink *sinks, GError **errp)
{
    ConvertCtx c = { .sinks = sinks };
    g_autoptr(MigFile) again = migfile_reopen(mf, convert_page, &c, errp);
    return again != NULL;
}

static bool to_mapped_ram(MigFile *mf, QEMUFile *f, GError **errp)
{
    guint nb = mf->blocks->len;
    g_autofree PageSink *sinks = g_new0(PageSink, nb);
    g_autofree uint64_t *bitmap_offsets = g_new0(uint64_t, nb);
    QIOChannel *ioc = qemu_file_get_ioc(f);
    bool ok = false;

    put_ram_header(mf, f, QEMU_VM_SECTION_START);
    qemu_put_be64(f, mf->ram_total | RAM_SAVE_FLAG_MEM_SIZE);
    for (guint i = 0; i < nb; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        uint8_t buf[MAPPED_RAM_HEADER_SIZE];
        MappedRamLayout l;

        qemu_put_counted_string(f, b->name);
        qemu_put_be64(f, b->length);
        if (mf->ignore_shared) {
            qemu_put_be64(f, b->mr_addr);
        }
        off_t pos = qemu_get_offset(f);
        if (pos < 0) {
            error_setg(errp, "Could not get the output position");
            goto out;
        }
        mapped_ram_layout(b->length, TARGET_PAGE_SIZE, pos, &l);
        mapped_ram_header_pack(&l.hdr, buf);
        qemu_put_buffer(f, buf, sizeof(buf));
        sinks[i].ioc = ioc;
        sinks[i].base = l.hdr.pages_offset;
        sinks[i].written = bitmap_new(b->length / TARGET_PAGE_SIZE);
        /* The bitmap is written once the second walk filled it. */
        bitmap_offsets[i] = l.hdr.bitmap_offset;
        if (!qemu_set_offset(f, l.end, errp)) {
            goto out;
        }
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    if (qemu_fflush(f) < 0) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        goto out;
    }

    /* Second walk: place every page record at its fixed offset. */
    if (!place_pages(mf, sinks, errp)) {
        goto out;
    }
    for (guint i = 0; i < nb; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (!qemu_put_buffer_at(f, sinks[i].written,
                                bitmap_bytes(b->length / TARGET_PAGE_SIZE),
                                bitmap_offsets[i], errp)) {
            error_prepend(errp, "Failed to write bitmap to file: ");
            goto out;
        }
    }
    put_ram_header(mf, f, QEMU_VM_SECTION_PART);
    put_ram_end(mf, f);
    ok = true;
out:
    for (guint i = 0; i < nb; i++) {
        g_free(sinks[i].written);
    }
    return ok;
}

/* ---------------------------------------------------------------- */
/* convert to stream */

/* The setup section: MEM_SIZE and the block list. */
static void put_ram_setup(MigFile *mf, QEMUFile *f)
{
    put_ram_header(mf, f, QEMU_VM_SECTION_START);
    qemu_put_be64(f, mf->ram_total | RAM_SAVE_FLAG_MEM_SIZE);
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        qemu_put_counted_string(f, b->name);
        qemu_put_be64(f, b->length);
        if (mf->ignore_shared) {
            qemu_put_be64(f, b->mr_addr);
        }
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
}

/*
 * A record for every page of @b: PAGE with the data, or ZERO for pages
 * absent from the bitmap or all zero.  The first record names the block,
 * the others CONTINUE it.
 */
static bool put_block_pages(MigFile *mf, MigBlock *b, QEMUFile *f, uint8_t *buf,
                            GError **errp)
{
    uint64_t n = b->length / TARGET_PAGE_SIZE;
    g_autofree unsigned long *bmap = migfile_read_bitmap(mf, b, errp);

    if (!bmap) {
        return false;
    }
    for (uint64_t p = 0; p < n;) {
        uint64_t cnt = MIN(n - p, COPY_CHUNK / TARGET_PAGE_SIZE);
        uint64_t first = find_next_bit(bmap, p + cnt, p);
        uint64_t last = p + cnt;
        /* Read only the span that holds present pages. */
        if (first < last &&
            !migfile_pread(mf, buf + (first - p) * TARGET_PAGE_SIZE,
                           (last - first) * TARGET_PAGE_SIZE,
                           b->pages_offset + first * TARGET_PAGE_SIZE, errp)) {
            return false;
        }
        for (uint64_t q = p; q < last; q++) {
            const uint8_t *data = buf + (q - p) * TARGET_PAGE_SIZE;
            bool zero =
                !test_bit(q, bmap) || buffer_is_zero(data, TARGET_PAGE_SIZE);
            uint64_t word = q * TARGET_PAGE_SIZE |
                            (zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE);
            if (q) {
                word |= RAM_SAVE_FLAG_CONTINUE;
            }
            qemu_put_be64(f, word);
            if (!q) {
                qemu_put_counted_string(f, b->name);
            }
            if (zero) {
                qemu_put_byte(f, 0);
            } else {
                qemu_put_buffer(f, data, TARGET_PAGE_SIZE);
            }
        }
        /* put_buffer copies, so buf may be reused. */
        p = last;
    }
    return true;
}

static bool to_stream(MigFile *mf, QEMUFile *f, GError **errp)
{
    g_autofree uint8_t *buf = g_malloc(COPY_CHUNK);

    put_ram_setup(mf, f);
    /* One PART with every page, as QEMU 7.2 sends a stopped guest. */
    put_ram_header(mf, f, QEMU_VM_SECTION_PART);
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (!put_block_pages(mf, b, f, buf, errp)) {
            return false;
        }
    }
    put_ram_end(mf, f);
    return true;
}

/* ---------------------------------------------------------------- */

/* What convert refuses before it creates the output. */
static bool convert_check(MigFile *mf, MigLayout to, GError **errp)
{
    if (mf->layout == to) {
        error_setg(errp, "'%s' is already in the %s layout", mf->path,
                   migfile_layout_name(to));
        return false;
    }
    if (!mf->have_ram) {
        error_setg(errp, "'%s' has no RAM section to convert", mf->path);
        return false;
    }
    for (guint i = 0; i < mf->blocks->len; i++) {
        if (g_array_index(mf->blocks, MigBlock, i).ignored) {
            error_setg(errp,
                       "'%s' leaves RAM block %s in shared memory "
                       "(x-ignore-shared): converting it is not supported",
                       mf->path, g_array_index(mf->blocks, MigBlock, i).name);
            return false;
        }
    }
    return true;
}

bool migfile_convert(MigFile *mf, MigLayout to, const char *out, GError **errp)
{
    if (!convert_check(mf, to, errp)) {
        return false;
    }
    QIOChannelFile *fioc = qio_channel_file_new_path(
        out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644, errp);
    if (!fioc) {
        return false;
    }
    QEMUFile *f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);

    mig_stream_put_header(f);
    put_configuration(mf, f, to);
    bool ok = to == MIG_LAYOUT_MAPPED_RAM ? to_mapped_ram(mf, f, errp)
                                          : to_stream(mf, f, errp);
    ok = ok && put_devices_and_tail(mf, f, to, errp);
    GError *ferr = NULL;
    if (qemu_fclose(f, &ferr) < 0 && ok) {
        g_propagate_error(errp, ferr);
        ferr = NULL;
        ok = false;
    }
    g_clear_error(&ferr);
    if (!ok) {
        unlink(out);
    }
    return ok;
}
