/*
 * mapmig-img: inspect, validate, extract from and convert migration files
 * (QEMU-compatible stream and mapped-ram layouts), in the manner of
 * qemu-img.  A command-line front end: reading and checking a file is
 * migration/migfile.c's, extract and convert are migfile-convert.c's,
 * save images are util/save-image*.c's; this file parses arguments,
 * calls them and prints.
 */
#include "qemu/osdep.h"
#include "migration/format.h"
#include "migration/migfile-convert.h"
#include "migration/migfile.h"
#include "qemu/checkpoint-dir.h"
#include "qemu/cutils.h"
#include "qemu/save-image.h"

#include <getopt.h>
#include <json-glib/json-glib.h>
#include <time.h>

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: mapmig-img COMMAND [options]\n\n"
        "Commands:\n"
        "  info FILE|DIR [--offset N] [--output human|json]\n"
        "      show layout, machine, capabilities, RAM blocks and sections\n"
        "  check FILE|DIR [--offset N]\n"
        "      validate the whole file; exit 0 if it is sound, 1 otherwise\n"
        "  extract FILE --block NAME -o OUT [--offset N]\n"
        "      write the final contents of RAM block NAME to OUT (sparse)\n"
        "  convert FILE -O stream|mapped-ram OUT [--offset N]\n"
        "      re-encode the file in the other RAM layout\n\n"
        "A mapmig-ctl save image is recognised: its header is shown and\n"
        "checked, and its stream is used (at its offset) by every command;\n"
        "a compressed one is checked by decompressing it.  A checkpoint\n"
        "directory (mapmig-ctl checkpoint) is shown and checked as a whole:\n"
        "its manifest and both images, which one is the newest complete\n"
        "checkpoint and which one is partial.\n\n"
        "  --offset N   the stream starts at byte N of FILE (K/M/G suffixes)\n"
        "  -h, --help   show this help\n"
        "  --version    show the version\n\n"
        "Exit status: 0 success, 1 failure (or check found errors), "
        "2 usage error.\n");
}

/* A usage error: one line saying what, one saying where to look; 2. */
static int G_GNUC_PRINTF(2, 3)
    usage_error(const char *cmd, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "mapmig-img%s%s: %s\nTry 'mapmig-img --help'.\n",
            cmd ? " " : "", cmd ? cmd : "", msg);
    return 2;
}

/* ---------------------------------------------------------------- */
/* info */

static void info_human(MigFile *mf)
{
    unsigned ns, np, ne;

    printf("file: %s\n", mf->path);
    if (mf->base) {
        printf("stream offset: %" PRIu64 "\n", mf->base);
    }
    printf("layout: %s\n", migfile_layout_name(mf->layout));
    printf("stream version: %u\n", mf->version);
    printf("machine type: %s\n", mf->machine[0] ? mf->machine : "(none)");
    printf("capabilities:");
    for (guint i = 0; i < mf->caps->len; i++) {
        printf(" %s", (char *)g_ptr_array_index(mf->caps, i));
    }
    printf("%s\n", mf->caps->len ? "" : " (none)");
    if (mf->has_checksums) {
        printf("checksums: x-checksums trailer (XXH3 per page and of the "
               "metadata; 'check' verifies them)\n");
    }
    g_autofree char *hsize = size_to_human_str(mf->size);
    g_autofree char *halloc = size_to_human_str(mf->allocated);
    printf("file size: %" PRIu64 " bytes (%s), allocated %" PRIu64
           " bytes (%s)\n",
           mf->size, hsize, mf->allocated, halloc);
    migfile_ram_section_counts(mf, &ns, &np, &ne);
    if (mf->have_ram) {
        g_autofree char *htotal = size_to_human_str(mf->ram_total);
        printf("ram section: id %u, total %" PRIu64 " bytes (%s), %u part "
               "and %u end section(s)\n",
               mf->ram_section_id, mf->ram_total, htotal, np, ne);
    }
    printf("RAM blocks:\n");
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        uint64_t pages = b->length / TARGET_PAGE_SIZE;
        g_autofree char *hlen = size_to_human_str(b->length);
        if (b->ignored) {
            printf("  %-24s size %" PRIu64 " (%s, %" PRIu64 " pages) not in "
                   "the file: shared memory (x-ignore-shared)\n",
                   b->name, b->length, hlen, pages);
        } else if (mf->layout == MIG_LAYOUT_MAPPED_RAM) {
            printf("  %-24s size %" PRIu64 " (%s, %" PRIu64 " pages) "
                   "bitmap_offset 0x%" PRIx64 " pages_offset 0x%" PRIx64
                   " present %" PRIu64 " zero/absent %" PRIu64 "\n",
                   b->name, b->length, hlen, pages, b->bitmap_offset,
                   b->pages_offset, b->present_pages, pages - b->present_pages);
        } else {
            printf("  %-24s size %" PRIu64 " (%s, %" PRIu64 " pages) "
                   "page records %" PRIu64 " zero records %" PRIu64
                   " distinct pages %" PRIu64 " never sent %" PRIu64 "\n",
                   b->name, b->length, hlen, pages, b->page_records,
                   b->zero_records, b->distinct_pages,
                   pages - b->distinct_pages);
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

    migfile_ram_section_counts(mf, &ns, &np, &ne);
    json_builder_begin_object(jb);
    img_json_str(jb, "filename", mf->path);
    img_json_int(jb, "offset", mf->base);
    img_json_str(jb, "layout", migfile_layout_name(mf->layout));
    img_json_int(jb, "version", mf->version);
    img_json_str(jb, "machine-type", mf->machine);
    img_json_bool(jb, "checksums", mf->has_checksums);
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
/* extract and convert */

/* A progress line on a terminal: what was read, every ~100 ms. */
typedef struct Progress {
    const char *what;
    uint64_t size;
    int64_t next_us;
} Progress;

static void progress_show(uint64_t bytes_read, void *opaque)
{
    Progress *p = opaque;
    int64_t now = g_get_monotonic_time();

    if (now < p->next_us) {
        return;
    }
    p->next_us = now + 100 * 1000;
    g_autofree char *h = size_to_human_str(bytes_read);
    fprintf(stderr, "\r%s: %s read (%3d %% of the file)", p->what, h,
            (int)MIN(99, bytes_read * 100 / MAX(1, p->size)));
}

/* Watch @mf's reads when stderr is a terminal; end the line after. */
static void progress_start(MigFile *mf, Progress *p, const char *what)
{
    *p = (Progress){ .what = what, .size = mf->size - mf->base };
    if (isatty(STDERR_FILENO)) {
        mf->progress = progress_show;
        mf->progress_opaque = p;
    }
}

static bool progress_end(MigFile *mf, bool ok)
{
    if (mf->progress) {
        /* Erase the line: errors and results are printed as before. */
        fprintf(stderr, "\r\033[K");
    }
    return ok;
}

/* The block is looked up (and the file validated) before OUT is created. */
static bool cmd_extract(const char *file, uint64_t base, const char *block,
                        const char *out, GError **errp)
{
    g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, errp);
    Progress p;

    if (!mf) {
        return false;
    }
    progress_start(mf, &p, "extract");
    return progress_end(mf, migfile_extract_block(mf, block, out, errp));
}

static bool cmd_convert(const char *file, uint64_t base, const char *fmt,
                        const char *out, GError **errp)
{
    MigLayout to;

    if (!migfile_layout_from_name(fmt, &to)) {
        error_setg(errp, "Unknown output layout '%s' (stream or mapped-ram)",
                   fmt);
        return false;
    }
    g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, errp);
    Progress p;

    if (!mf) {
        return false;
    }
    progress_start(mf, &p, "convert");
    return progress_end(mf, migfile_convert(mf, to, out, errp));
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
    return save_image_probe_file(file, img, is_img, errp);
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

/* "2025-01-02 03:04:05 UTC" (g_free). */
static char *utc_time(uint64_t secs)
{
    time_t t = secs;
    char when[64] = "?";
    struct tm tm;

    if (gmtime_r(&t, &tm)) {
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    }
    return g_strdup(when);
}

static void save_image_info_human(const SaveImage *img)
{
    const SaveImageHeader *h = &img->hdr;
    g_autofree char *args = save_image_args(img);
    g_autofree char *when = utc_time(h->saved_at);

    printf("save image: version %u, format %s, was running: %s\n", h->version,
           save_image_format_name(h->format), h->was_running ? "yes" : "no");
    printf("saved at: %s\n", when);
    if (h->generation) {
        printf("checkpoint generation: %" PRIu64 "\n", h->generation);
    }
    printf("configuration: %u bytes at %u: %s\n", h->config_len, h->header_size,
           args);
    g_autofree char *hlen = size_to_human_str(h->stream_length);
    g_autofree char *hraw = size_to_human_str(h->raw_length);
    g_autofree char *hram = size_to_human_str(h->ram_size);
    printf("migration data: offset %" PRIu64 ", %" PRIu64 " bytes (%s)",
           h->stream_offset, h->stream_length, hlen);
    if (save_image_format_is_zstd(h->format)) {
        printf(", %" PRIu64 " bytes (%s) uncompressed", h->raw_length, hraw);
    }
    printf("\nguest RAM: %" PRIu64 " bytes (%s)\n", h->ram_size, hram);
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
    img_json_int(jb, "generation", h->generation);
    if (json_parser_load_from_data(p, img->config, -1, NULL)) {
        json_builder_set_member_name(jb, "configuration");
        json_builder_add_value(jb, json_node_copy(json_parser_get_root(p)));
    }
    json_builder_end_object(jb);
}

/* Decompress and verify a compressed save image's migration data. */
static bool check_compressed(const char *file, const SaveImage *img,
                             GError **errp)
{
    return save_image_check_compressed(file, img, errp);
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
            fprintf(stderr, "mapmig-img: ERROR %s\n", err->message);
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
/* Checkpoint directories (mapmig-ctl checkpoint) */

/* What image @i is to the directory: newest, older, or not a checkpoint. */
static const char *ckpt_role(const CkptDir *d, int i)
{
    const CkptImage *ci = &d->images[i];

    if (ckpt_dir_manifest_image_ok(d, i)) {
        return "newest (the manifest's)";
    }
    if (ci->state == CKPT_IMAGE_COMPLETE) {
        return d->mstate == CKPT_MANIFEST_VALID && d->manifest.image == i
                   ? "complete, but not what the manifest names"
               : d->mstate == CKPT_MANIFEST_VALID &&
                       ci->img.hdr.generation > d->manifest.generation
                   ? "complete, newer than the manifest (not committed)"
                   : "older checkpoint (restore DIR --generation)";
    }
    return ci->state == CKPT_IMAGE_PARTIAL   ? "not a checkpoint (partial)"
           : ci->state == CKPT_IMAGE_MISSING ? "absent"
                                             : "not a checkpoint (damaged)";
}

static void ckpt_info_human(const CkptDir *d)
{
    GError *err = NULL;

    printf("checkpoint directory: %s\n", d->path);
    if (d->mstate == CKPT_MANIFEST_VALID) {
        g_autofree char *when = utc_time(d->manifest.saved_at);
        printf("manifest: generation %" PRIu64 " in %s, header checksum "
               "0x%08x, saved at %s\n",
               d->manifest.generation, ckpt_image_name(d->manifest.image),
               d->manifest.header_crc, when);
    } else {
        printf("manifest: %s\n", d->mstate == CKPT_MANIFEST_MISSING
                                     ? "absent"
                                     : d->manifest_error);
    }
    for (int i = 0; i < CKPT_IMAGES; i++) {
        const CkptImage *ci = &d->images[i];
        const SaveImageHeader *h = &ci->img.hdr;
        printf("%s: %s", ckpt_image_name(i), ckpt_image_state_name(ci->state));
        if (ci->hdr_valid && h->generation) {
            printf(", generation %" PRIu64, h->generation);
        }
        if (ci->state == CKPT_IMAGE_COMPLETE) {
            g_autofree char *when = utc_time(h->saved_at);
            g_autofree char *len = size_to_human_str(h->stream_length);
            printf(", saved at %s, migration data %s at offset %" PRIu64
                   ", was running: %s",
                   when, len, h->stream_offset, h->was_running ? "yes" : "no");
        }
        printf(": %s\n", ckpt_role(d, i));
        if (ci->error && ci->state != CKPT_IMAGE_PARTIAL) {
            printf("  %s\n", ci->error);
        }
    }
    int pick = ckpt_dir_pick(d, 0, &err);
    if (pick >= 0) {
        printf("restore DIR gives: generation %" PRIu64 " (%s)\n",
               d->images[pick].img.hdr.generation, ckpt_image_name(pick));
    } else {
        printf("restore DIR refuses: %s\n", err->message);
        g_error_free(err);
    }
}

static void ckpt_info_json(const CkptDir *d)
{
    g_autoptr(JsonBuilder) jb = json_builder_new();

    json_builder_begin_object(jb);
    img_json_str(jb, "directory", d->path);
    json_builder_set_member_name(jb, "manifest");
    json_builder_begin_object(jb);
    img_json_str(jb, "state",
                 d->mstate == CKPT_MANIFEST_VALID     ? "valid"
                 : d->mstate == CKPT_MANIFEST_MISSING ? "missing"
                                                      : "damaged");
    if (d->mstate == CKPT_MANIFEST_VALID) {
        img_json_int(jb, "generation", d->manifest.generation);
        img_json_str(jb, "image", ckpt_image_name(d->manifest.image));
        img_json_int(jb, "header-crc", d->manifest.header_crc);
        img_json_int(jb, "saved-at", d->manifest.saved_at);
    } else if (d->manifest_error) {
        img_json_str(jb, "error", d->manifest_error);
    }
    json_builder_end_object(jb);
    json_builder_set_member_name(jb, "images");
    json_builder_begin_array(jb);
    for (int i = 0; i < CKPT_IMAGES; i++) {
        const CkptImage *ci = &d->images[i];
        json_builder_begin_object(jb);
        img_json_str(jb, "name", ckpt_image_name(i));
        img_json_str(jb, "state", ckpt_image_state_name(ci->state));
        img_json_bool(jb, "newest", ckpt_dir_manifest_image_ok(d, i));
        if (ci->hdr_valid) {
            img_json_int(jb, "generation", ci->img.hdr.generation);
        }
        if (ci->state == CKPT_IMAGE_COMPLETE) {
            save_image_info_json(jb, &ci->img);
        }
        if (ci->error) {
            img_json_str(jb, "error", ci->error);
        }
        json_builder_end_object(jb);
    }
    json_builder_end_array(jb);
    int pick = ckpt_dir_pick(d, 0, NULL);
    if (pick >= 0) {
        img_json_int(jb, "restorable-generation",
                     d->images[pick].img.hdr.generation);
    }
    json_builder_end_object(jb);
    print_json(jb);
}

/* The migration data of a save image, read and verified from @base. */
static bool check_stream(const char *file, uint64_t base, bool *checksums,
                         GError **errp)
{
    g_autoptr(MigFile) mf = migfile_open(file, base, NULL, NULL, errp);

    if (!mf || !migfile_verify_checksums(mf, errp)) {
        return false;
    }
    *checksums = mf->has_checksums;
    return true;
}

/*
 * Every complete image is checked through; a partial one is no error (a
 * crash leaves one), a damaged one is, and so is a manifest that does not
 * name a complete image.
 */
static int ckpt_check(const CkptDir *d)
{
    GError *err = NULL;
    int errors = 0;

    for (int i = 0; i < CKPT_IMAGES; i++) {
        const CkptImage *ci = &d->images[i];
        g_autofree char *path =
            g_build_filename(d->path, ckpt_image_name(i), NULL);
        bool sums;

        if (ci->state == CKPT_IMAGE_COMPLETE &&
            !check_stream(path, ci->img.hdr.stream_offset, &sums, &err)) {
            fprintf(stderr, "mapmig-img: ERROR %s: %s\n", ckpt_image_name(i),
                    err->message);
            g_clear_error(&err);
            errors++;
        } else if (ci->state == CKPT_IMAGE_COMPLETE) {
            printf("%s: generation %" PRIu64 ", complete, no errors: %s\n",
                   ckpt_image_name(i), ci->img.hdr.generation, ckpt_role(d, i));
        } else if (ci->state == CKPT_IMAGE_DAMAGED) {
            fprintf(stderr, "mapmig-img: ERROR %s\n", ci->error);
            errors++;
        } else {
            printf("%s: %s: %s\n", ckpt_image_name(i),
                   ckpt_image_state_name(ci->state), ckpt_role(d, i));
        }
    }
    int pick = ckpt_dir_pick(d, 0, &err);
    if (pick < 0) {
        fprintf(stderr, "mapmig-img: ERROR %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    if (errors) {
        return 1;
    }
    printf("No errors were found in the checkpoint directory; the newest "
           "checkpoint is generation %" PRIu64 " (%s).\n",
           d->images[pick].img.hdr.generation, ckpt_image_name(pick));
    return 0;
}

static int ckpt_command(const char *cmd, const char *dir, const char *output)
{
    GError *err = NULL;
    CkptDir d;

    if (strcmp(cmd, "info") && strcmp(cmd, "check")) {
        fprintf(stderr, "mapmig-img %s: '%s' is a directory\n", cmd, dir);
        return 1;
    }
    if (!ckpt_dir_scan(dir, &d, &err)) {
        fprintf(stderr, "mapmig-img: %s\n", err->message);
        g_error_free(err);
        return 1;
    }
    int r = 0;
    if (!ckpt_dir_is_checkpoint_dir(&d)) {
        fprintf(stderr,
                "mapmig-img: %s'%s' is not a checkpoint directory (no "
                "manifest, a.img or b.img)\n",
                strcmp(cmd, "check") ? "" : "ERROR ", d.path);
        r = 1;
    } else if (!strcmp(cmd, "check")) {
        r = ckpt_check(&d);
    } else if (!strcmp(output, "json")) {
        ckpt_info_json(&d);
    } else {
        ckpt_info_human(&d);
    }
    ckpt_dir_clear(&d);
    return r;
}

/* ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { "offset", required_argument, NULL, 'f' },
        { "output", required_argument, NULL, 'j' },
        { "block", required_argument, NULL, 'b' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *cmd, *output = "human", *block = NULL, *out = NULL;
    const char *fmt = NULL;
    uint64_t base = 0;
    bool base_set = false;
    GError *err = NULL;
    int c;

    if (argc < 2) {
        return usage_error(NULL, "missing COMMAND");
    }
    cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("mapmig-img version %s\n", MAPMIG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "info") && strcmp(cmd, "check") && strcmp(cmd, "extract") &&
        strcmp(cmd, "convert")) {
        return usage_error(NULL, "unknown command '%s'", cmd);
    }
    optind = 2;
    opterr = 0; /* our wording, our program name */
    while ((c = getopt_long(argc, argv, ":ho:O:", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("mapmig-img version %s\n", MAPMIG_VERSION);
            return 0;
        case 'f':
            if (qemu_strtosz(optarg, NULL, &base) < 0) {
                return usage_error(cmd, "invalid --offset '%s'", optarg);
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
        case ':':
            return usage_error(cmd, "option '%s' needs a value",
                               argv[optind - 1]);
        default:
            return usage_error(cmd, "invalid option '%s'", argv[optind - 1]);
        }
    }
    int npos = argc - optind;
    const char *file = npos > 0 ? argv[optind] : NULL;
    if (!file) {
        return usage_error(cmd, "missing FILE");
    }
    if (!strcmp(cmd, "convert")) {
        if (npos != 2 || !fmt) {
            return usage_error(cmd, "usage: convert FILE -O "
                                    "stream|mapped-ram OUT");
        }
        out = argv[optind + 1];
    } else if (npos != 1) {
        return usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    }
    if (strcmp(cmd, "info") && strcmp(output, "human")) {
        return usage_error(cmd, "--output is only for info");
    }
    if (!strcmp(cmd, "info") && strcmp(output, "human") &&
        strcmp(output, "json")) {
        return usage_error(cmd, "--output must be human or json");
    }
    if (!strcmp(cmd, "extract") && (!block || !out)) {
        return usage_error(cmd, "--block NAME and -o OUT are required");
    }
    if (g_file_test(file, G_FILE_TEST_IS_DIR)) {
        return ckpt_command(cmd, file, output);
    }
    SaveImage img = { 0 };
    bool is_img;
    if (!probe_save_image(file, &img, &is_img, &err)) {
        /* check's verdict keeps its "ERROR" word (docs/tools). */
        fprintf(stderr, "mapmig-img: %s%s\n",
                strcmp(cmd, "check") ? "" : "ERROR ", err->message);
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
        bool checksums;
        if (!check_stream(file, base, &checksums, &err)) {
            fprintf(stderr, "mapmig-img: ERROR %s\n", err->message);
            g_error_free(err);
            return 1;
        }
        if (checksums) {
            printf("Checksums (x-checksums) of every page and of the "
                   "metadata match.\n");
        }
        printf("No errors were found on the migration file.\n");
        return 0;
    }
    if (!strcmp(cmd, "extract")) {
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
