/*
 * Checkpoint directories: the manifest and the state of the two images
 * (see include/qemu/checkpoint-dir.h for the layout).
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "qemu/checkpoint-dir.h"

#include <json-glib/json-glib.h>
#include <sys/stat.h>

#define CRC_LINE_PREFIX "crc32c 0x"
#define CRC_LINE_LEN (sizeof(CRC_LINE_PREFIX) - 1 + 8 + 1) /* + hex, \n */

static const char *const image_names[CKPT_IMAGES] = { "a.img", "b.img" };

const char *ckpt_image_name(int i)
{
    assert(i >= 0 && i < CKPT_IMAGES);
    return image_names[i];
}

const char *ckpt_image_state_name(CkptImageState s)
{
    static const char *const names[] = {
        [CKPT_IMAGE_MISSING] = "missing",
        [CKPT_IMAGE_PARTIAL] = "partial",
        [CKPT_IMAGE_COMPLETE] = "complete",
        [CKPT_IMAGE_DAMAGED] = "damaged",
    };
    return names[s];
}

/* ---------------------------------------------------------------- */
/* The manifest */

/* The checksum line "crc32c 0xXXXXXXXX\n" at @p (CRC_LINE_LEN bytes). */
static bool parse_crc_line(const char *p, uint32_t *crc)
{
    uint32_t v = 0;

    if (memcmp(p, CRC_LINE_PREFIX, sizeof(CRC_LINE_PREFIX) - 1) ||
        p[CRC_LINE_LEN - 1] != '\n') {
        return false;
    }
    p += sizeof(CRC_LINE_PREFIX) - 1;
    /* Lower case only, as written: one spelling of each checksum. */
    for (int i = 0; i < 8; i++) {
        int d = g_ascii_isupper(p[i]) ? -1 : g_ascii_xdigit_value(p[i]);
        if (d < 0) {
            return false;
        }
        v = v << 4 | d;
    }
    *crc = v;
    return true;
}

/* Member @name of @o as an integer in [@min, @max]. */
static bool get_int(JsonObject *o, const char *name, int64_t min, int64_t max,
                    int64_t *out, GError **errp)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_INT64) {
        error_setg(errp, "manifest: '%s' is missing or not an integer", name);
        return false;
    }
    *out = json_node_get_int(n);
    if (*out < min || *out > max) {
        error_setg(errp, "manifest: '%s' is out of range (%" PRId64 ")", name,
                   *out);
        return false;
    }
    return true;
}

static const char *get_str(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);

    if (!n || !JSON_NODE_HOLDS_VALUE(n) ||
        json_node_get_value_type(n) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(n);
}

static bool parse_members(JsonObject *o, CkptManifest *m, GError **errp)
{
    const char *format = get_str(o, "format");
    const char *image = get_str(o, "image");
    int64_t version, gen, crc, at;

    if (!format || strcmp(format, CKPT_FORMAT)) {
        error_setg(errp, "manifest: 'format' is not '%s'", CKPT_FORMAT);
        return false;
    }
    if (!get_int(o, "version", 1, INT64_MAX, &version, errp)) {
        return false;
    }
    if (version > CKPT_VERSION) {
        error_setg(errp,
                   "unsupported manifest version %" PRId64 " (this build "
                   "reads version %d)",
                   version, CKPT_VERSION);
        return false;
    }
    if (!get_int(o, "generation", 1, INT64_MAX, &gen, errp) ||
        !get_int(o, "header-crc", 0, UINT32_MAX, &crc, errp) ||
        !get_int(o, "saved-at", 0, INT64_MAX, &at, errp)) {
        return false;
    }
    m->image = -1;
    for (int i = 0; image && i < CKPT_IMAGES; i++) {
        if (!strcmp(image, image_names[i])) {
            m->image = i;
        }
    }
    if (m->image < 0) {
        error_setg(errp, "manifest: 'image' is not a.img or b.img");
        return false;
    }
    m->generation = gen;
    m->header_crc = crc;
    m->saved_at = at;
    return true;
}

bool ckpt_manifest_parse(const char *buf, size_t len, CkptManifest *m,
                         GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    CkptManifest out = { 0 };
    GError *err = NULL;
    uint32_t crc;

    if (len > CKPT_MANIFEST_MAX) {
        error_setg(errp, "manifest is too large (%zu bytes, at most %d)", len,
                   CKPT_MANIFEST_MAX);
        return false;
    }
    if (len <= CRC_LINE_LEN || memchr(buf, 0, len)) {
        error_setg(errp, "manifest is truncated or not text");
        return false;
    }
    size_t body = len - CRC_LINE_LEN;
    if (buf[body - 1] != '\n' || !parse_crc_line(buf + body, &crc)) {
        error_setg(errp, "manifest has no checksum line (truncated?)");
        return false;
    }
    if (save_image_crc32c(0, buf, body) != crc) {
        error_setg(errp, "manifest checksum mismatch (damaged manifest)");
        return false;
    }
    if (!json_parser_load_from_data(parser, buf, body, &err)) {
        error_setg(errp, "manifest is not valid JSON: %s", err->message);
        g_error_free(err);
        return false;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "manifest is not a JSON object");
        return false;
    }
    if (!parse_members(json_node_get_object(root), &out, errp)) {
        return false;
    }
    *m = out;
    return true;
}

char *ckpt_manifest_format(const CkptManifest *m)
{
    g_autofree char *body = g_strdup_printf(
        "{\"format\": \"%s\", \"version\": %d, \"generation\": %" PRIu64
        ", \"image\": \"%s\", \"header-crc\": %u, \"saved-at\": %" PRIu64 "}\n",
        CKPT_FORMAT, CKPT_VERSION, m->generation, ckpt_image_name(m->image),
        m->header_crc, m->saved_at);

    return g_strdup_printf("%s" CRC_LINE_PREFIX "%08x\n", body,
                           save_image_crc32c(0, body, strlen(body)));
}

/* ---------------------------------------------------------------- */
/* Scanning a directory */

static void scan_manifest(CkptDir *d)
{
    g_autofree char *path = g_build_filename(d->path, CKPT_MANIFEST, NULL);
    g_autofree char *text = NULL;
    GError *err = NULL;
    gsize len;

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        d->mstate = CKPT_MANIFEST_MISSING;
        return;
    }
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        d->mstate = CKPT_MANIFEST_DAMAGED;
        d->manifest_error = g_strdup("manifest is not a regular file");
        return;
    }
    if (!g_file_get_contents(path, &text, &len, &err) ||
        !ckpt_manifest_parse(text, len, &d->manifest, &err)) {
        d->mstate = CKPT_MANIFEST_DAMAGED;
        d->manifest_error = g_strdup(err->message);
        g_error_free(err);
        return;
    }
    d->mstate = CKPT_MANIFEST_VALID;
}

/* A final header: the whole image as restore would take it. */
static void check_complete(int fd, const char *path, CkptImage *ci)
{
    SaveImageHeader hdr = ci->img.hdr;
    GError *err = NULL;

    if (!save_image_read(fd, path, &ci->img, &err)) {
        ci->img.hdr = hdr;
        ci->state = CKPT_IMAGE_DAMAGED;
        ci->error = g_strdup(err->message);
        g_error_free(err);
        return;
    }
    if (hdr.format != SAVE_IMAGE_FORMAT_MAPPED) {
        ci->state = CKPT_IMAGE_DAMAGED;
        ci->error = g_strdup_printf("'%s' is a save image of format %s, not "
                                    "a checkpoint",
                                    path, save_image_format_name(hdr.format));
        return;
    }
    if (!hdr.generation) {
        ci->state = CKPT_IMAGE_DAMAGED;
        ci->error = g_strdup_printf("'%s' is a save image without a "
                                    "generation, not a checkpoint",
                                    path);
        return;
    }
    if (!save_image_check_data_start(fd, path, &hdr, &err)) {
        ci->state = CKPT_IMAGE_DAMAGED;
        ci->error = g_strdup(err->message);
        g_error_free(err);
        return;
    }
    ci->state = CKPT_IMAGE_COMPLETE;
}

static void scan_image(const char *dir, int i, CkptImage *ci)
{
    g_autofree char *path = g_build_filename(dir, image_names[i], NULL);
    uint8_t buf[SAVE_IMAGE_HEADER_MAX];
    GError *err = NULL;
    bool partial;

    memset(ci, 0, sizeof(*ci));
    QIOChannelFile *fioc =
        qio_channel_file_new_path(path, O_RDONLY | O_CLOEXEC, 0, &err);
    if (!fioc) {
        ci->state = CKPT_IMAGE_MISSING;
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            ci->state = CKPT_IMAGE_DAMAGED;
            ci->error = g_strdup(err->message);
        }
        g_error_free(err);
        return;
    }
    g_autoptr(QIOChannel) ioc = &fioc->parent;
    struct stat st;
    size_t n = 0;
    if (fstat(fioc->fd, &st) < 0) {
        error_setg_errno(&err, errno, "Could not stat");
    } else {
        n = MIN(sizeof(buf), (uint64_t)st.st_size);
    }
    if (err || qio_channel_pread_all(ioc, buf, n, 0, &err) < 0 ||
        !save_image_header_parse_any(buf, n, &ci->img.hdr, &partial, &err)) {
        ci->state = CKPT_IMAGE_DAMAGED;
        ci->error = g_strdup_printf("'%s': %s", path, err->message);
        g_error_free(err);
        return;
    }
    ci->hdr_valid = true;
    if (!partial) {
        check_complete(fioc->fd, path, ci);
        return;
    }
    ci->state = CKPT_IMAGE_PARTIAL;
    ci->error = g_strdup_printf("'%s' is incomplete (partial magic: a "
                                "checkpoint was being written into it)",
                                path);
    save_image_read_config(fioc->fd, path, &ci->img.hdr, &ci->img.config, NULL);
}

bool ckpt_dir_scan(const char *path, CkptDir *d, GError **errp)
{
    memset(d, 0, sizeof(*d));
    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        error_setg(errp, "'%s' is not a directory", path);
        return false;
    }
    d->path = g_canonicalize_filename(path, NULL);
    scan_manifest(d);
    for (int i = 0; i < CKPT_IMAGES; i++) {
        scan_image(d->path, i, &d->images[i]);
    }
    return true;
}

void ckpt_dir_clear(CkptDir *d)
{
    for (int i = 0; i < CKPT_IMAGES; i++) {
        save_image_clear(&d->images[i].img);
        g_clear_pointer(&d->images[i].error, g_free);
    }
    g_clear_pointer(&d->manifest_error, g_free);
    g_clear_pointer(&d->path, g_free);
}

bool ckpt_dir_is_checkpoint_dir(const CkptDir *d)
{
    for (int i = 0; i < CKPT_IMAGES; i++) {
        if (d->images[i].state != CKPT_IMAGE_MISSING) {
            return true;
        }
    }
    return d->mstate != CKPT_MANIFEST_MISSING;
}

bool ckpt_dir_manifest_image_ok(const CkptDir *d, int i)
{
    const CkptImage *ci = &d->images[i];

    return d->mstate == CKPT_MANIFEST_VALID && d->manifest.image == i &&
           ci->state == CKPT_IMAGE_COMPLETE &&
           ci->img.hdr.generation == d->manifest.generation &&
           ci->img.header_crc == d->manifest.header_crc;
}

char *ckpt_dir_available(const CkptDir *d)
{
    const CkptImage *a = &d->images[0], *b = &d->images[1];
    bool ac = a->state == CKPT_IMAGE_COMPLETE;
    bool bc = b->state == CKPT_IMAGE_COMPLETE;
    GString *s = g_string_new(NULL);
    /* Newest first. */
    int order[2] = { 0, 1 };

    if (ac && bc && b->img.hdr.generation > a->img.hdr.generation) {
        order[0] = 1;
        order[1] = 0;
    }
    for (int k = 0; k < CKPT_IMAGES; k++) {
        const CkptImage *ci = &d->images[order[k]];
        if (ci->state == CKPT_IMAGE_COMPLETE) {
            g_string_append_printf(s, "%sgeneration %" PRIu64 " (%s)",
                                   s->len ? ", " : "", ci->img.hdr.generation,
                                   image_names[order[k]]);
        }
    }
    if (!s->len) {
        g_string_append(s, "none");
    }
    return g_string_free(s, false);
}

/* "; complete: ... (restore one with --generation G)" or "; none is". */
static char *available_hint(const CkptDir *d)
{
    g_autofree char *avail = ckpt_dir_available(d);

    if (!strcmp(avail, "none")) {
        return g_strdup("; no complete checkpoint is left in it");
    }
    return g_strdup_printf("; still complete: %s (restore one with "
                           "--generation G)",
                           avail);
}

/* Why the manifest's image @i is not the checkpoint it names. */
static char *manifest_image_problem(const CkptDir *d, int i)
{
    const CkptImage *ci = &d->images[i];
    const CkptManifest *m = &d->manifest;

    if (ci->state == CKPT_IMAGE_MISSING) {
        return g_strdup_printf("%s is missing", image_names[i]);
    }
    if (ci->state != CKPT_IMAGE_COMPLETE) {
        return g_strdup_printf("%s is %s: %s", image_names[i],
                               ckpt_image_state_name(ci->state), ci->error);
    }
    if (ci->img.hdr.generation != m->generation) {
        return g_strdup_printf("%s holds generation %" PRIu64, image_names[i],
                               ci->img.hdr.generation);
    }
    return g_strdup_printf("the header of %s is not the one the manifest "
                           "names (checksum 0x%08x, not 0x%08x)",
                           image_names[i], ci->img.header_crc, m->header_crc);
}

static int pick_generation(const CkptDir *d, uint64_t gen, GError **errp)
{
    g_autofree char *hint = available_hint(d);
    g_autofree char *why = NULL;

    for (int i = 0; i < CKPT_IMAGES; i++) {
        const CkptImage *ci = &d->images[i];
        if (ci->state == CKPT_IMAGE_COMPLETE && ci->img.hdr.generation == gen) {
            return i;
        }
        if (ci->hdr_valid && ci->img.hdr.generation == gen) {
            why =
                g_strdup_printf("it is in %s, which is %s: %s", image_names[i],
                                ckpt_image_state_name(ci->state), ci->error);
        }
    }
    error_setg(errp,
               "'%s': generation %" PRIu64 " is not a complete checkpoint "
               "(%s)%s",
               d->path, gen, why ? why : "no image holds it", hint);
    return -1;
}

int ckpt_dir_pick(const CkptDir *d, uint64_t generation, GError **errp)
{
    if (!ckpt_dir_is_checkpoint_dir(d)) {
        error_setg(errp,
                   "'%s' is not a checkpoint directory (no manifest, a.img "
                   "or b.img)",
                   d->path);
        return -1;
    }
    if (generation) {
        return pick_generation(d, generation, errp);
    }
    g_autofree char *hint = available_hint(d);
    switch (d->mstate) {
    case CKPT_MANIFEST_MISSING:
        error_setg(errp,
                   "'%s' has no manifest: no checkpoint was committed "
                   "there%s",
                   d->path, hint);
        return -1;
    case CKPT_MANIFEST_DAMAGED:
        error_setg(errp, "'%s/%s' is damaged: %s%s", d->path, CKPT_MANIFEST,
                   d->manifest_error, hint);
        return -1;
    case CKPT_MANIFEST_VALID:
        break;
    }
    int i = d->manifest.image;
    if (ckpt_dir_manifest_image_ok(d, i)) {
        return i;
    }
    g_autofree char *why = manifest_image_problem(d, i);
    error_setg(errp,
               "'%s': the manifest names generation %" PRIu64 " in %s, "
               "but %s%s",
               d->path, d->manifest.generation, image_names[i], why, hint);
    return -1;
}
