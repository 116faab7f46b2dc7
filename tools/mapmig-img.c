/*
 * mapmig-img: inspect, validate, extract from and convert migration files
 * (QEMU-compatible stream and mapped-ram layouts), in the manner of
 * qemu-img.  The parsing is in migration/migfile.c; writing reuses QEMUFile.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/format.h"
#include "migration/migfile.h"
#include "migration/qemu-file.h"
#include "qemu/bitmap.h"
#include "qemu/bufferiszero.h"
#include "qemu/cutils.h"
#include "qemu/save-image.h"

#include <getopt.h>
#include <json-glib/json-glib.h>
#include <sys/stat.h>
#include <time.h>
#if CONFIG_ZSTD
#include <zstd.h>
#endif

#define COPY_CHUNK (1 * MiB)

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: mapmig-img COMMAND [options]\n\n"
        "Commands:\n"
        "  info FILE [--offset N] [--output human|json]\n"
        "      show layout, machine, capabilities, RAM blocks and sections\n"
        "  check FILE [--offset N]\n"
        "      validate the whole file; exit 0 if it is sound, 1 otherwise\n"
        "  extract FILE --block NAME -o OUT [--offset N]\n"
        "      write the final contents of RAM block NAME to OUT (sparse)\n"
        "  convert FILE -O stream|mapped-ram OUT [--offset N]\n"
        "      re-encode the file in the other RAM layout\n\n"
        "A mapmig-ctl save image is recognised: its header is shown and\n"
        "checked, and its stream is used (at its offset) by every command;\n"
        "a compressed one is checked by decompressing it.\n\n"
        "  --offset N   the stream starts at byte N of FILE (K/M/G suffixes)\n"
        "  -h, --help   show this help\n");
}

/* ---------------------------------------------------------------- */
/* info */

static void ram_section_counts(MigFile *mf, unsigned *start, unsigned *part,
                               unsigned *end)
{
    *start = *part = *end = 0;
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (!mf->have_ram || s->section_id != mf->ram_section_id) {
            continue;
        }
        *start += s->type == QEMU_VM_SECTION_START;
        *part += s->type == QEMU_VM_SECTION_PART;
        *end += s->type == QEMU_VM_SECTION_END;
    }
}

static const char *layout_name(MigLayout l)
{
    return l == MIG_LAYOUT_MAPPED_RAM ? "mapped-ram" : "stream";
}

static void info_human(MigFile *mf)
{
    unsigned ns, np, ne;

    printf("file: %s\n", mf->path);
    if (mf->base) {
        printf("stream offset: %" PRIu64 "\n", mf->base);
    }
    printf("layout: %s\n", layout_name(mf->layout));
    printf("stream version: %u\n", mf->version);
    printf("machine type: %s\n", mf->machine[0] ? mf->machine : "(none)");
    printf("capabilities:");
    for (guint i = 0; i < mf->caps->len; i++) {
        printf(" %s", (char *)g_ptr_array_index(mf->caps, i));
    }
    printf("%s\n", mf->caps->len ? "" : " (none)");
    printf("file size: %" PRIu64 " (allocated %" PRIu64 ")\n", mf->size,
           mf->allocated);
    ram_section_counts(mf, &ns, &np, &ne);
    if (mf->have_ram) {
        printf("ram section: id %u, total %" PRIu64 " bytes, %u part and %u "
               "end section(s)\n",
               mf->ram_section_id, mf->ram_total, np, ne);
    }
    printf("RAM blocks:\n");
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        uint64_t pages = b->length / TARGET_PAGE_SIZE;
        if (b->ignored) {
            printf("  %-24s size %" PRIu64 " (%" PRIu64 " pages) not in the "
                   "file: shared memory (x-ignore-shared)\n",
                   b->name, b->length, pages);
        } else if (mf->layout == MIG_LAYOUT_MAPPED_RAM) {
            printf("  %-24s size %" PRIu64 " (%" PRIu64 " pages) "
                   "bitmap_offset 0x%" PRIx64 " pages_offset 0x%" PRIx64
                   " present %" PRIu64 " zero/absent %" PRIu64 "\n",
                   b->name, b->length, pages, b->bitmap_offset, b->pages_offset,
                   b->present_pages, pages - b->present_pages);
        } else {
            printf("  %-24s size %" PRIu64 " (%" PRIu64 " pages) "
                   "page records %" PRIu64 " zero records %" PRIu64
                   " distinct pages %" PRIu64 " never sent %" PRIu64 "\n",
                   b->name, b->length, pages, b->page_records, b->zero_records,
                   b->distinct_pages, pages - b->distinct_pages);
        }
    }
    printf("device sections:\n");
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (s->type != QEMU_VM_SECTION_FULL) {
            continue;
        }
        printf("  %-32s instance %u version %u size %" PRIu64 "%s\n", s->idstr,
               s->instance_id, s->version_id, s->body_size,
               s->size_from_vmdesc ? "" : " (footer scan)");
    }
    printf("VM description: %s", mf->vmdesc ? "present" : "absent");
    if (mf->vmdesc) {
        printf(" (%u bytes at 0x%" PRIx64 ")", mf->vmdesc_len,
               mf->vmdesc_offset);
    }
    printf("\n");
}

/* One "name": value member of the object @jb is building. */
static void img_json_int(JsonBuilder *jb, const char *name, int64_t v)
{
    json_builder_set_member_name(jb, name);
    json_builder_add_int_value(jb, v);
}

static void img_json_str(JsonBuilder *jb, const char *name, const char *v)
{
    json_builder_set_member_name(jb, name);
    json_builder_add_string_value(jb, v);
}

static void img_json_bool(JsonBuilder *jb, const char *name, bool v)
{
    json_builder_set_member_name(jb, name);
    json_builder_add_boolean_value(jb, v);
}

static void save_image_info_json(JsonBuilder *jb, const SaveImage *img);

/* Print what @jb built, pretty, on stdout. */
static void print_json(JsonBuilder *jb)
{
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(jb);

    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, true);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    printf("%s\n", text);
}

static void info_json(MigFile *mf, const SaveImage *img)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();
    unsigned ns, np, ne;

    ram_section_counts(mf, &ns, &np, &ne);
    json_builder_begin_object(jb);
    img_json_str(jb, "filename", mf->path);
    img_json_int(jb, "offset", mf->base);
    img_json_str(jb, "layout", layout_name(mf->layout));
    img_json_int(jb, "version", mf->version);
    img_json_str(jb, "machine-type", mf->machine);
    json_builder_set_member_name(jb, "capabilities");
    json_builder_begin_array(jb);
    for (guint i = 0; i < mf->caps->len; i++) {
        json_builder_add_string_value(jb, g_ptr_array_index(mf->caps, i));
    }
    json_builder_end_array(jb);
    img_json_int(jb, "file-size", mf->size);
    img_json_int(jb, "allocated-size", mf->allocated);
    img_json_int(jb, "ram-total", mf->ram_total);
    img_json_int(jb, "ram-part-sections", np);
    img_json_int(jb, "ram-end-sections", ne);
    json_builder_set_member_name(jb, "ram-blocks");
    json_builder_begin_array(jb);
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        uint64_t pages = b->length / TARGET_PAGE_SIZE;
        json_builder_begin_object(jb);
        img_json_str(jb, "name", b->name);
        img_json_int(jb, "size", b->length);
        img_json_int(jb, "pages", pages);
        if (b->ignored) {
            img_json_bool(jb, "ignored-shared", true);
        } else if (mf->layout == MIG_LAYOUT_MAPPED_RAM) {
            img_json_int(jb, "bitmap-offset", b->bitmap_offset);
            img_json_int(jb, "pages-offset", b->pages_offset);
            img_json_int(jb, "present-pages", b->present_pages);
            img_json_int(jb, "zero-pages", pages - b->present_pages);
        } else {
            img_json_int(jb, "page-records", b->page_records);
            img_json_int(jb, "zero-records", b->zero_records);
            img_json_int(jb, "distinct-pages", b->distinct_pages);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    json_builder_set_member_name(jb, "devices");
    json_builder_begin_array(jb);
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (s->type != QEMU_VM_SECTION_FULL) {
            continue;
        }
        json_builder_begin_object(jb);
        img_json_str(jb, "name", s->idstr);
        img_json_int(jb, "section-id", s->section_id);
        img_json_int(jb, "instance-id", s->instance_id);
        img_json_int(jb, "version", s->version_id);
        img_json_int(jb, "size", s->body_size);
        img_json_bool(jb, "size-from-vmdesc", s->size_from_vmdesc);
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    img_json_bool(jb, "vmdesc", mf->vmdesc != NULL);
    if (img) {
        save_image_info_json(jb, img);
    }
    json_builder_end_object(jb);
    print_json(jb);
}

/* ---------------------------------------------------------------- */
/* Page sinks shared by extract and convert */

/* A RAM image of one block in a file at @base (extract: 0). */
typedef struct PageSink {
    QIOChannel *ioc; /* a file channel, not owned */
    uint64_t base;
    unsigned long *written; /* pages holding non-zero data */
} PageSink;

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

/* Later records override earlier ones; zero pages stay (or become) holes. */
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

static bool extract_page(void *opaque, MigFile *mf, MigBlock *b, uint64_t off,
                         const uint8_t *data, uint8_t fill, GError **errp)
{
    ExtractCtx *x = opaque;

    if (strcmp(b->name, x->block)) {
        return true;
    }
    if (!x->sink.written) {
        x->sink.written = bitmap_new(b->length / TARGET_PAGE_SIZE);
        if (ftruncate(qio_channel_get_fd(x->sink.ioc), b->length) < 0) {
            error_setg_errno(errp, errno, "Could not size the output");
            return false;
        }
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

static bool cmd_extract(const char *file, uint64_t base, const char *block,
                        const char *out, GError **errp)
{
    ExtractCtx x = { .block = block };
    bool ok = false;

    /* Validate and find the block before creating the output. */
    g_autoptr(MigFile) probe = migfile_open(file, base, NULL, NULL, errp);
    if (!probe) {
        return false;
    }
    MigBlock *pb = migfile_find_block(probe, block);
    if (!pb) {
        GString *names = g_string_new(NULL);
        for (guint i = 0; i < probe->blocks->len; i++) {
            g_string_append_printf(
                names, "%s%s", i ? ", " : "",
                g_array_index(probe->blocks, MigBlock, i).name);
        }
        error_setg(errp, "No RAM block '%s' in '%s' (blocks: %s)", block, file,
                   names->str);
        g_string_free(names, true);
        return false;
    }
    if (pb->ignored) {
        error_setg(errp,
                   "RAM block '%s' is not in '%s': x-ignore-shared left it "
                   "in the shared file the VM mapped",
                   block, file);
        return false;
    }
    x.sink.ioc = open_output(out, errp);
    if (!x.sink.ioc) {
        return false;
    }
    int fd = qio_channel_get_fd(x.sink.ioc);
    if (ftruncate(fd, pb->length) < 0) {
        error_setg_errno(errp, errno, "Could not size '%s'", out);
        goto out;
    }
    if (probe->layout == MIG_LAYOUT_MAPPED_RAM) {
        x.sink.written = bitmap_new(pb->length / TARGET_PAGE_SIZE);
        ok = copy_mapped_block(probe, pb, &x.sink, errp);
    } else {
        x.sink.written = bitmap_new(pb->length / TARGET_PAGE_SIZE);
        g_autoptr(MigFile) mf =
            migfile_open(file, base, extract_page, &x, errp);
        ok = mf != NULL;
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
/* convert */

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

typedef struct ConvertCtx {
    PageSink *sinks; /* per block, in block order */
} ConvertCtx;

static bool convert_page(void *opaque, MigFile *mf, MigBlock *b, uint64_t off,
                         const uint8_t *data, uint8_t fill, GError **errp)
{
    ConvertCtx *c = opaque;
    return sink_page(&c->sinks[b - &g_array_index(mf->blocks, MigBlock, 0)],
                     off, data, fill, errp);
}

static bool place_pages(const char *file, uint64_t base, PageSink *sinks,
                        GError **errp)
{
    ConvertCtx c = { .sinks = sinks };
    g_autoptr(MigFile) again = migfile_open(file, base, convert_page, &c, errp);
    return again != NULL;
}

static bool to_mapped_ram(MigFile *mf, const char *file, uint64_t base,
                          QEMUFile *f, GError **errp)
{
    guint nb = mf->blocks->len;
    g_autofree PageSink *sinks = g_new0(PageSink, nb);
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
        b->bitmap_offset = l.hdr.bitmap_offset;
        b->pages_offset = l.hdr.pages_offset;
        if (!qemu_set_offset(f, l.end, errp)) {
            goto out;
        }
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    if (qemu_fflush(f) < 0) {
        goto file_err;
    }

    /* Second walk: place every page record at its fixed offset. */
    if (!place_pages(file, base, sinks, errp)) {
        goto out;
    }
    for (guint i = 0; i < nb; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (!qemu_put_buffer_at(f, sinks[i].written,
                                bitmap_bytes(b->length / TARGET_PAGE_SIZE),
                                b->bitmap_offset, errp)) {
            error_prepend(errp, "Failed to write bitmap to file: ");
            goto out;
        }
    }
    put_ram_header(mf, f, QEMU_VM_SECTION_PART);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    put_ram_header(mf, f, QEMU_VM_SECTION_END);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    ok = true;
    goto out;
file_err:
    g_propagate_error(errp, qemu_file_get_error_obj(f));
out:
    for (guint i = 0; i < nb; i++) {
        g_free(sinks[i].written);
    }
    return ok;
}

static bool to_stream(MigFile *mf, QEMUFile *f, GError **errp)
{
    g_autofree uint8_t *buf = g_malloc(COPY_CHUNK);

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

    /* One PART with every page, as QEMU 7.2 sends a stopped guest. */
    put_ram_header(mf, f, QEMU_VM_SECTION_PART);
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
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
                               b->pages_offset + first * TARGET_PAGE_SIZE,
                               errp)) {
                return false;
            }
            for (uint64_t q = p; q < last; q++) {
                const uint8_t *data = buf + (q - p) * TARGET_PAGE_SIZE;
                bool zero = !test_bit(q, bmap) ||
                            buffer_is_zero(data, TARGET_PAGE_SIZE);
                uint64_t word =
                    q * TARGET_PAGE_SIZE |
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
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    put_ram_header(mf, f, QEMU_VM_SECTION_END);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    put_footer(mf, f);
    return true;
}

static bool cmd_convert(const char *file, uint64_t base, const char *fmt,
                        const char *out, GError **errp)
{
    MigLayout to;

    if (!strcmp(fmt, "stream")) {
        to = MIG_LAYOUT_STREAM;
    } else if (!strcmp(fmt, "mapped-ram")) {
        to = MIG_LAYOUT_MAPPED_RAM;
    } else {
        error_setg(errp, "Unknown output layout '%s' (stream or mapped-ram)",
                   fmt);
        return false;
    }
    g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, errp);
    if (!mf) {
        return false;
    }
    if (mf->layout == to) {
        error_setg(errp, "'%s' is already in the %s layout", file, fmt);
        return false;
    }
    if (!mf->have_ram) {
        error_setg(errp, "'%s' has no RAM section to convert", file);
        return false;
    }
    for (guint i = 0; i < mf->blocks->len; i++) {
        if (g_array_index(mf->blocks, MigBlock, i).ignored) {
            error_setg(errp,
                       "'%s' leaves RAM block %s in shared memory "
                       "(x-ignore-shared): converting it is not supported",
                       file, g_array_index(mf->blocks, MigBlock, i).name);
            return false;
        }
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
    bool ok = to == MIG_LAYOUT_MAPPED_RAM
                  ? to_mapped_ram(mf, file, base, f, errp)
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

/* ---------------------------------------------------------------- */
/* Save images (mapmig-ctl) */

/*
 * Whether @file starts with a save image magic; if so, read and validate
 * its header and configuration into @img.
 */
static bool probe_save_image(const char *file, SaveImage *img, bool *is_img,
                             GError **errp)
{
    uint8_t magic[SAVE_IMAGE_MAGIC_LEN];
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    bool ok = true;

    *is_img = false;
    if (fd < 0) {
        return true; /* migfile_open reports it */
    }
    if (pread(fd, magic, sizeof(magic), 0) == sizeof(magic) &&
        save_image_probe(magic, sizeof(magic)) != SAVE_IMAGE_PROBE_NONE) {
        *is_img = true;
        ok = save_image_read(fd, file, img, errp);
    }
    close(fd);
    return ok;
}

/* The VM options of the configuration, as one line (g_free). */
static char *save_image_args(const SaveImage *img)
{
    SaveImageConfig cfg;
    GString *s = g_string_new(NULL);

    if (save_image_config_parse(img->config, &cfg, NULL)) {
        for (guint i = 0; cfg.vm_args[i]; i++) {
            const char *v = cfg.vm_args[i];
            bool plain = *v && strspn(v, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789-_=,.:/+@%") == strlen(v);
            g_autofree char *q = plain ? g_strdup(v) : g_shell_quote(v);
            g_string_append_printf(s, "%s%s", i ? " " : "", q);
        }
        save_image_config_clear(&cfg);
    }
    return g_string_free(s, false);
}

static void save_image_info_human(const SaveImage *img)
{
    const SaveImageHeader *h = &img->hdr;
    g_autofree char *args = save_image_args(img);
    time_t t = h->saved_at;
    char when[64] = "?";
    struct tm tm;

    if (gmtime_r(&t, &tm)) {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    printf("save image: version %u, format %s, was running: %s\n", h->version,
           save_image_format_name(h->format), h->was_running ? "yes" : "no");
    printf("saved at: %s\n", when);
    printf("configuration: %u bytes at %u: %s\n", h->config_len, h->header_size,
           args);
    printf("migration data: offset %" PRIu64 ", %" PRIu64 " bytes",
           h->stream_offset, h->stream_length);
    if (save_image_format_is_zstd(h->format)) {
        printf(" (%" PRIu64 " uncompressed)", h->raw_length);
    }
    printf("\nguest RAM: %" PRIu64 " bytes\n", h->ram_size);
}

static void save_image_info_json(JsonBuilder *jb, const SaveImage *img)
{
    const SaveImageHeader *h = &img->hdr;
    g_autoptr(JsonParser) p = json_parser_new();

    json_builder_set_member_name(jb, "save-image");
    json_builder_begin_object(jb);
    img_json_int(jb, "version", h->version);
    img_json_str(jb, "format", save_image_format_name(h->format));
    img_json_bool(jb, "was-running", h->was_running);
    img_json_int(jb, "saved-at", h->saved_at);
    img_json_int(jb, "stream-offset", h->stream_offset);
    img_json_int(jb, "stream-length", h->stream_length);
    img_json_int(jb, "uncompressed-length", h->raw_length);
    img_json_int(jb, "ram-size", h->ram_size);
    img_json_int(jb, "compat-features", h->compat_features);
    if (json_parser_load_from_data(p, img->config, -1, NULL)) {
        json_builder_set_member_name(jb, "configuration");
        json_builder_add_value(jb, json_node_copy(json_parser_get_root(p)));
    }
    json_builder_end_object(jb);
}

/*
 * Check a compressed save image: every frame decodes (with its
 * checksum), the data ends with a complete frame, has the announced size
 * and starts as a migration stream.
 */
static bool check_compressed(const char *file, const SaveImage *img,
                             GError **errp)
{
#if CONFIG_ZSTD
    const SaveImageHeader *h = &img->hdr;
    g_autofree uint8_t *in = g_malloc(COPY_CHUNK);
    g_autofree uint8_t *out = g_malloc(COPY_CHUNK);
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    uint64_t pos = h->stream_offset, end = pos + h->stream_length, total = 0;
    size_t last = 1;
    bool ok = false;
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", file);
        goto out;
    }
    while (pos < end) {
        ssize_t n = pread(fd, in, MIN(COPY_CHUNK, end - pos), pos);
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO, "Could not read '%s'",
                             file);
            goto out;
        }
        ZSTD_inBuffer ib = { in, n, 0 };
        ZSTD_outBuffer ob;
        do {
            ob = (ZSTD_outBuffer){ out, COPY_CHUNK, 0 };
            last = ZSTD_decompressStream(dctx, &ob, &ib);
            if (ZSTD_isError(last)) {
                error_setg(
                    errp, "corrupt compressed data near offset %" PRIu64 ": %s",
                    pos, ZSTD_getErrorName(last));
                goto out;
            }
            if (total == 0 && ob.pos >= 4 && memcmp(out, "QEVM", 4)) {
                error_setg(errp, "the compressed data is not a migration "
                                 "stream");
                goto out;
            }
            total += ob.pos;
        } while (ib.pos < ib.size || ob.pos == ob.size);
        pos += n;
    }
    if (last != 0) {
        error_setg(errp, "the compressed data is truncated");
    } else if (total != h->raw_length) {
        error_setg(errp,
                   "the compressed data holds %" PRIu64 " bytes, the header "
                   "announces %" PRIu64,
                   total, h->raw_length);
    } else {
        ok = true;
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    ZSTD_freeDCtx(dctx);
    return ok;
#else
    error_setg(errp, "this build has no zstd to check a compressed image");
    return false;
#endif
}

/*
 * What a command does with a compressed save image, whose stream cannot
 * be inspected in place: returns the exit status, or -1 when the image is
 * not compressed and the stream is handled as any other.
 */
static int save_image_command(const char *cmd, const char *file,
                              const SaveImage *img, const char *output)
{
    GError *err = NULL;

    if (!save_image_format_is_zstd(img->hdr.format)) {
        return -1;
    }
    if (!strcmp(cmd, "info")) {
        if (!strcmp(output, "json")) {
            g_autoptr(JsonBuilder) jb = json_builder_new();
            json_builder_begin_object(jb);
            img_json_str(jb, "filename", file);
            save_image_info_json(jb, img);
            json_builder_end_object(jb);
            print_json(jb);
        } else {
            printf("file: %s\n", file);
            save_image_info_human(img);
            printf("migration stream: zstd-compressed ('check' decompresses "
                   "and verifies it)\n");
        }
        return 0;
    }
    if (!strcmp(cmd, "check")) {
        if (!check_compressed(file, img, &err)) {
            printf("ERROR %s\n", err->message);
            fprintf(stderr, "mapmig-img: %s: %s\n", file, err->message);
            g_error_free(err);
            return 1;
        }
        printf("No errors were found on the save image.\n");
        return 0;
    }
    fprintf(stderr,
            "mapmig-img %s: '%s' is a compressed save image; restore it "
            "with mapmig-ctl or save it again without --compress\n",
            cmd, file);
    return 1;
}

/* ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "offset", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'j' },
        { "block", required_argument, NULL, 'b' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd, *output = "human", *block = NULL, *out = NULL;
    const char *fmt = NULL;
    uint64_t base = 0;
    bool base_set = false;
    GError *err = NULL;
    int c;

    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "info") && strcmp(cmd, "check") && strcmp(cmd, "extract") &&
        strcmp(cmd, "convert")) {
        fprintf(stderr, "mapmig-img: unknown command '%s'\n", cmd);
        usage(stderr);
        return 1;
    }
    optind = 2;
    while ((c = getopt_long(argc, argv, "ho:O:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'f':
            if (qemu_strtosz(optarg, NULL, &base) < 0) {
                fprintf(stderr, "mapmig-img: invalid --offset '%s'\n", optarg);
                return 1;
            }
            base_set = true;
            break;
        case 'j':
            output = optarg;
            break;
        case 'b':
            block = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'O':
            fmt = optarg;
            break;
        default:
            fprintf(stderr, "Try 'mapmig-img --help'.\n");
            return 1;
        }
    }
    int npos = argc - optind;
    const char *file = npos > 0 ? argv[optind] : NULL;
    if (!file) {
        fprintf(stderr, "mapmig-img %s: missing FILE\n", cmd);
        return 1;
    }
    if (!strcmp(cmd, "convert")) {
        if (npos != 2 || !fmt) {
            fprintf(stderr, "mapmig-img convert: usage: convert FILE -O "
                            "stream|mapped-ram OUT\n");
            return 1;
        }
        out = argv[optind + 1];
    } else if (npos != 1) {
        fprintf(stderr, "mapmig-img %s: unexpected argument '%s'\n", cmd,
                argv[optind + 1]);
        return 1;
    }
    if (strcmp(cmd, "info") && strcmp(output, "human")) {
        fprintf(stderr, "mapmig-img %s: --output is only for info\n", cmd);
        return 1;
    }

    if (!strcmp(cmd, "info") && strcmp(output, "human") &&
        strcmp(output, "json")) {
        fprintf(stderr, "mapmig-img info: --output must be human or json\n");
        return 1;
    }
    SaveImage img = { 0 };
    bool is_img;
    if (!probe_save_image(file, &img, &is_img, &err)) {
        if (!strcmp(cmd, "check")) {
            printf("ERROR %s\n", err->message);
        }
        fprintf(stderr, "mapmig-img: %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    if (is_img) {
        int r = save_image_command(cmd, file, &img, output);
        if (r >= 0) {
            save_image_clear(&img);
            return r;
        }
        if (!base_set) {
            base = img.hdr.stream_offset;
        }
    }
    if (!strcmp(cmd, "info")) {
        g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, &err);
        if (!mf) {
            fprintf(stderr, "mapmig-img: %s\n", err->message);
            g_error_free(err);
            save_image_clear(&img);
            return 1;
        }
        if (!strcmp(output, "json")) {
            info_json(mf, is_img ? &img : NULL);
        } else {
            if (is_img) {
                save_image_info_human(&img);
            }
            info_human(mf);
        }
        save_image_clear(&img);
        return 0;
    }
    save_image_clear(&img);
    if (!strcmp(cmd, "check")) {
        g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, &err);
        if (!mf) {
            printf("ERROR %s\n", err->message);
            fprintf(stderr, "mapmig-img: %s: %s\n", file, err->message);
            g_error_free(err);
            return 1;
        }
        printf("No errors were found on the migration file.\n");
        return 0;
    }
    if (!strcmp(cmd, "extract")) {
        if (!block || !out) {
            fprintf(stderr, "mapmig-img extract: --block NAME and -o OUT are "
                            "required\n");
            return 1;
        }
        if (!cmd_extract(file, base, block, out, &err)) {
            fprintf(stderr, "mapmig-img: %s\n", err->message);
            g_error_free(err);
            return 1;
        }
        return 0;
    }
    if (!cmd_convert(file, base, fmt, out, &err)) {
        fprintf(stderr, "mapmig-img: %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    return 0;
}
