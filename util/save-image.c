/*
 * mapmig save image header: parse, serialise, read from a file.
 * The layout is described in include/qemu/save-image.h and
 * docs/tools/mapmig-ctl.rst.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "qemu/save-image.h"

#include <json-glib/json-glib.h>
#include <sys/stat.h>

/* Field offsets in the on-disk header (little endian). */
enum {
    OFF_MAGIC = 0,
    OFF_VERSION = 16,
    OFF_HEADER_SIZE = 20,
    OFF_INCOMPAT = 24,
    OFF_COMPAT = 28,
    OFF_FORMAT = 32,
    OFF_WAS_RUNNING = 36,
    OFF_CONFIG_LEN = 40,
    OFF_CONFIG_CRC = 44,
    OFF_STREAM_OFFSET = 48,
    OFF_STREAM_LENGTH = 56,
    OFF_RAW_LENGTH = 64,
    OFF_RAM_SIZE = 72,
    OFF_SAVED_AT = 80,
    OFF_HEADER_CRC = 88,
    /* 92: 4 bytes reserved, zero */
    OFF_GENERATION = 96, /* with SAVE_IMAGE_COMPAT_GENERATION */
    OFF_RESERVED = 104,  /* zero up to header_size */
};

static const char *const format_names[SAVE_IMAGE_FORMAT__MAX] = {
    [SAVE_IMAGE_FORMAT_RAW] = "raw",
    [SAVE_IMAGE_FORMAT_ZSTD] = "zstd",
    [SAVE_IMAGE_FORMAT_MAPPED] = "mapped",
    [SAVE_IMAGE_FORMAT_MAPPED_ZSTD] = "mapped-zstd",
};

const char *save_image_format_name(uint32_t format)
{
    return format < SAVE_IMAGE_FORMAT__MAX ? format_names[format] : "unknown";
}

bool save_image_format_is_mapped(uint32_t format)
{
    return format == SAVE_IMAGE_FORMAT_MAPPED ||
           format == SAVE_IMAGE_FORMAT_MAPPED_ZSTD;
}

bool save_image_format_is_zstd(uint32_t format)
{
    return format == SAVE_IMAGE_FORMAT_ZSTD ||
           format == SAVE_IMAGE_FORMAT_MAPPED_ZSTD;
}

uint32_t save_image_crc32c(uint32_t crc, const void *buf, size_t len)
{
    static uint32_t table[256];
    static gsize init;
    const uint8_t *p = buf;

    if (g_once_init_enter(&init)) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) {
                c = c & 1 ? (c >> 1) ^ 0x82f63b78 : c >> 1;
            }
            table[i] = c;
        }
        g_once_init_leave(&init, 1);
    }
    crc = ~crc;
    while (len--) {
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static uint32_t ld32(const uint8_t *buf, size_t off)
{
    uint32_t v;
    memcpy(&v, buf + off, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static uint64_t ld64(const uint8_t *buf, size_t off)
{
    uint64_t v;
    memcpy(&v, buf + off, sizeof(v));
    return GUINT64_FROM_LE(v);
}

static void st32(uint8_t *buf, size_t off, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(buf + off, &v, sizeof(v));
}

static void st64(uint8_t *buf, size_t off, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(buf + off, &v, sizeof(v));
}

SaveImageProbe save_image_probe(const uint8_t *buf, size_t len)
{
    if (len < SAVE_IMAGE_MAGIC_LEN) {
        return SAVE_IMAGE_PROBE_NONE;
    }
    if (!memcmp(buf, SAVE_IMAGE_MAGIC, SAVE_IMAGE_MAGIC_LEN)) {
        return SAVE_IMAGE_PROBE_FINAL;
    }
    if (!memcmp(buf, SAVE_IMAGE_MAGIC_PARTIAL, SAVE_IMAGE_MAGIC_LEN)) {
        return SAVE_IMAGE_PROBE_PARTIAL;
    }
    return SAVE_IMAGE_PROBE_NONE;
}

/* The checksum covers header_size bytes with the checksum field as zero. */
static uint32_t header_crc(const uint8_t *buf, uint32_t size)
{
    static const uint8_t zero[4];
    uint32_t crc = save_image_crc32c(0, buf, OFF_HEADER_CRC);
    crc = save_image_crc32c(crc, zero, sizeof(zero));
    return save_image_crc32c(crc, buf + OFF_HEADER_CRC + 4,
                             size - OFF_HEADER_CRC - 4);
}

/* @partial: the lengths of the data may still be 0 (being written). */
static bool check_lengths(const SaveImageHeader *h, bool partial, GError **errp)
{
    uint64_t config_end = (uint64_t)h->header_size + h->config_len + 1;

    if (h->config_len == 0 || h->config_len > SAVE_IMAGE_CONFIG_MAX) {
        error_setg(errp,
                   "configuration length %u is out of range (1 to %" PRId64 ")",
                   h->config_len, SAVE_IMAGE_CONFIG_MAX);
        return false;
    }
    if (h->stream_offset < config_end ||
        h->stream_offset > SAVE_IMAGE_STREAM_OFFSET_MAX ||
        h->stream_offset % SAVE_IMAGE_STREAM_ALIGN_MIN) {
        error_setg(errp,
                   "stream offset %" PRIu64 " is invalid (needs a multiple "
                   "of %d between %" PRIu64 " and %" PRId64 ")",
                   h->stream_offset, SAVE_IMAGE_STREAM_ALIGN_MIN, config_end,
                   SAVE_IMAGE_STREAM_OFFSET_MAX);
        return false;
    }
    if (partial && h->stream_length == 0 && h->raw_length == 0) {
        return true;
    }
    if (h->stream_length == 0 ||
        h->stream_length > (uint64_t)INT64_MAX - h->stream_offset) {
        error_setg(errp, "stream length %" PRIu64 " is out of range",
                   h->stream_length);
        return false;
    }
    if (save_image_format_is_zstd(h->format)) {
        if (h->raw_length == 0 || h->raw_length > (uint64_t)INT64_MAX) {
            error_setg(errp, "uncompressed length %" PRIu64 " is out of range",
                       h->raw_length);
            return false;
        }
    } else if (h->raw_length != h->stream_length) {
        error_setg(errp,
                   "uncompressed length %" PRIu64 " differs from the "
                   "stream length %" PRIu64 " of an uncompressed image",
                   h->raw_length, h->stream_length);
        return false;
    }
    return true;
}

/* @partial: NULL to refuse the partial magic, else set to whether it is. */
static bool header_parse(const uint8_t *buf, size_t len, SaveImageHeader *out,
                         bool *partial, GError **errp)
{
    SaveImageHeader h = { 0 };
    SaveImageProbe probe = save_image_probe(buf, len);

    switch (probe) {
    case SAVE_IMAGE_PROBE_FINAL:
        break;
    case SAVE_IMAGE_PROBE_PARTIAL:
        if (partial) {
            break;
        }
        error_setg(errp, "incomplete save image (the save did not finish)");
        return false;
    default:
        error_setg(errp, "not a mapmig save image (bad magic)");
        return false;
    }
    if (len < SAVE_IMAGE_HEADER_SIZE) {
        error_setg(errp, "save image header truncated (%zu of %d bytes)", len,
                   SAVE_IMAGE_HEADER_SIZE);
        return false;
    }
    h.version = ld32(buf, OFF_VERSION);
    if (h.version == 0 || h.version > SAVE_IMAGE_VERSION) {
        error_setg(errp,
                   "unsupported save image version %u (this build reads "
                   "version %d)",
                   h.version, SAVE_IMAGE_VERSION);
        return false;
    }
    h.header_size = ld32(buf, OFF_HEADER_SIZE);
    if (h.header_size < SAVE_IMAGE_HEADER_SIZE ||
        h.header_size > SAVE_IMAGE_HEADER_MAX || h.header_size % 8) {
        error_setg(errp, "invalid header size %u", h.header_size);
        return false;
    }
    if (h.header_size > len) {
        error_setg(errp, "save image header truncated (%zu of %u bytes)", len,
                   h.header_size);
        return false;
    }
    if (header_crc(buf, h.header_size) != ld32(buf, OFF_HEADER_CRC)) {
        error_setg(errp, "save image header checksum mismatch (corrupt "
                         "header)");
        return false;
    }
    h.incompat_features = ld32(buf, OFF_INCOMPAT);
    h.compat_features = ld32(buf, OFF_COMPAT);
    if (h.incompat_features & ~SAVE_IMAGE_INCOMPAT_KNOWN) {
        error_setg(errp, "save image uses unsupported features 0x%x",
                   h.incompat_features & ~SAVE_IMAGE_INCOMPAT_KNOWN);
        return false;
    }
    h.format = ld32(buf, OFF_FORMAT);
    if (h.format >= SAVE_IMAGE_FORMAT__MAX) {
        error_setg(errp, "unknown save image format %u", h.format);
        return false;
    }
    h.was_running = ld32(buf, OFF_WAS_RUNNING);
    if (h.was_running > 1) {
        error_setg(errp, "invalid was-running value %u", h.was_running);
        return false;
    }
    h.config_len = ld32(buf, OFF_CONFIG_LEN);
    h.config_crc = ld32(buf, OFF_CONFIG_CRC);
    h.stream_offset = ld64(buf, OFF_STREAM_OFFSET);
    h.stream_length = ld64(buf, OFF_STREAM_LENGTH);
    h.raw_length = ld64(buf, OFF_RAW_LENGTH);
    h.ram_size = ld64(buf, OFF_RAM_SIZE);
    h.saved_at = ld64(buf, OFF_SAVED_AT);
    if (h.compat_features & SAVE_IMAGE_COMPAT_GENERATION) {
        h.generation = ld64(buf, OFF_GENERATION);
    }
    bool is_partial = probe == SAVE_IMAGE_PROBE_PARTIAL;
    if (!check_lengths(&h, is_partial, errp)) {
        return false;
    }
    if (partial) {
        *partial = is_partial;
    }
    *out = h;
    return true;
}

bool save_image_header_parse(const uint8_t *buf, size_t len,
                             SaveImageHeader *out, GError **errp)
{
    return header_parse(buf, len, out, NULL, errp);
}

bool save_image_header_parse_any(const uint8_t *buf, size_t len,
                                 SaveImageHeader *out, bool *partial,
                                 GError **errp)
{
    return header_parse(buf, len, out, partial, errp);
}

uint32_t save_image_header_pack(const SaveImageHeader *h, bool final,
                                uint8_t *buf)
{
    uint32_t compat = h->compat_features;

    assert(h->header_size == SAVE_IMAGE_HEADER_SIZE);
    memset(buf, 0, SAVE_IMAGE_HEADER_SIZE);
    memcpy(buf, final ? SAVE_IMAGE_MAGIC : SAVE_IMAGE_MAGIC_PARTIAL,
           SAVE_IMAGE_MAGIC_LEN);
    st32(buf, OFF_VERSION, h->version);
    st32(buf, OFF_HEADER_SIZE, h->header_size);
    st32(buf, OFF_INCOMPAT, h->incompat_features);
    if (h->generation) {
        compat |= SAVE_IMAGE_COMPAT_GENERATION;
    }
    st32(buf, OFF_COMPAT, compat);
    st32(buf, OFF_FORMAT, h->format);
    st32(buf, OFF_WAS_RUNNING, h->was_running);
    st32(buf, OFF_CONFIG_LEN, h->config_len);
    st32(buf, OFF_CONFIG_CRC, h->config_crc);
    st64(buf, OFF_STREAM_OFFSET, h->stream_offset);
    st64(buf, OFF_STREAM_LENGTH, h->stream_length);
    st64(buf, OFF_RAW_LENGTH, h->raw_length);
    st64(buf, OFF_RAM_SIZE, h->ram_size);
    st64(buf, OFF_SAVED_AT, h->saved_at);
    st64(buf, OFF_GENERATION, h->generation);
    uint32_t crc = header_crc(buf, SAVE_IMAGE_HEADER_SIZE);
    st32(buf, OFF_HEADER_CRC, crc);
    return crc;
}

bool save_image_option_is_per_instance(const char *opt)
{
    /*
     * Tied to one process: its monitors, character devices and stdio
     * (-nographic puts the serial port and HMP there), files and start
     * mode.  -display none and -nodefaults describe the machine, as in
     * QEMU, where the device set must match on both ends: they travel.
     */
    static const char *const per_instance[] = {
        "qmp",     "monitor", "mon",       "chardev", "qtest",     "incoming",
        "pidfile", "serial",  "D",         "S",       "daemonize", "help",
        "h",       "version", "nographic", NULL,
    };
    return g_strv_contains(per_instance, opt);
}

uint64_t save_image_stream_offset(size_t config_len)
{
    return ROUND_UP((uint64_t)SAVE_IMAGE_HEADER_SIZE + config_len + 1 +
                        SAVE_IMAGE_CONFIG_ROOM,
                    SAVE_IMAGE_STREAM_ALIGN);
}

SaveImageFormat save_image_format_of(bool mapped, bool zstd)
{
    if (mapped) {
        return zstd ? SAVE_IMAGE_FORMAT_MAPPED_ZSTD : SAVE_IMAGE_FORMAT_MAPPED;
    }
    return zstd ? SAVE_IMAGE_FORMAT_ZSTD : SAVE_IMAGE_FORMAT_RAW;
}

void save_image_header_init(SaveImageHeader *h, SaveImageFormat format,
                            const char *config)
{
    size_t len = strlen(config);

    *h = (SaveImageHeader){
        .version = SAVE_IMAGE_VERSION,
        .header_size = SAVE_IMAGE_HEADER_SIZE,
        .format = format,
        .config_len = len,
        .config_crc = save_image_crc32c(0, config, len),
        .stream_offset = save_image_stream_offset(len),
    };
}

static bool check_config(const SaveImageHeader *h, const char *config,
                         const char *name, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *err = NULL;

    if (save_image_crc32c(0, config, h->config_len) != h->config_crc) {
        error_setg(errp,
                   "'%s': configuration checksum mismatch (corrupt "
                   "configuration)",
                   name);
        return false;
    }
    if (strlen(config) != h->config_len) {
        error_setg(errp, "'%s': configuration contains a NUL byte", name);
        return false;
    }
    if (!json_parser_load_from_data(parser, config, h->config_len, &err)) {
        error_setg(errp, "'%s': configuration is not valid JSON: %s", name,
                   err->message);
        g_error_free(err);
        return false;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "'%s': configuration is not a JSON object", name);
        return false;
    }
    return true;
}

bool save_image_read_config(int fd, const char *name, const SaveImageHeader *h,
                            char **config, GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, name)->parent;
    struct stat st;

    *config = NULL;
    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Could not stat '%s'", name);
        return false;
    }
    if ((uint64_t)h->header_size + h->config_len > (uint64_t)st.st_size) {
        error_setg(errp,
                   "'%s' is truncated: the configuration ends past "
                   "the end of the file",
                   name);
        return false;
    }
    char *text = g_malloc(h->config_len + 1);
    if (qio_channel_pread_all(ioc, text, h->config_len, h->header_size, errp) <
        0) {
        g_free(text);
        return false;
    }
    text[h->config_len] = 0;
    if (!check_config(h, text, name, errp)) {
        g_free(text);
        return false;
    }
    *config = text;
    return true;
}

bool save_image_read(int fd, const char *name, SaveImage *img, GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, name)->parent;
    uint8_t buf[SAVE_IMAGE_HEADER_MAX];
    GError *err = NULL;
    struct stat st;

    memset(img, 0, sizeof(*img));
    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Could not stat '%s'", name);
        return false;
    }
    img->file_size = st.st_size;
    img->allocated = (uint64_t)st.st_blocks * 512;
    size_t n = MIN(sizeof(buf), img->file_size);
    if (qio_channel_pread_all(ioc, buf, n, 0, errp) < 0) {
        return false;
    }
    if (!save_image_header_parse(buf, n, &img->hdr, &err)) {
        error_setg(errp, "'%s': %s", name, err->message);
        g_error_free(err);
        return false;
    }
    img->header_crc = ld32(buf, OFF_HEADER_CRC);
    const SaveImageHeader *h = &img->hdr;
    if (h->stream_offset + h->stream_length > img->file_size) {
        error_setg(errp,
                   "'%s' is truncated: the image needs %" PRIu64
                   " bytes, the file has %" PRIu64,
                   name, h->stream_offset + h->stream_length, img->file_size);
        return false;
    }
    /* The configuration lies before stream_offset, hence in the file. */
    return save_image_read_config(fd, name, h, &img->config, errp);
}

void save_image_clear(SaveImage *img)
{
    g_clear_pointer(&img->config, g_free);
}

bool save_image_write_header(int fd, const SaveImageHeader *h, bool final,
                             GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, "save image")->parent;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_pack(h, final, buf);
    if (qio_channel_pwrite_all(ioc, buf, sizeof(buf), 0, errp) < 0) {
        error_prepend(errp, "Could not write the save image header");
        return false;
    }
    return true;
}

bool save_image_write_prologue(int fd, const char *name,
                               const SaveImageHeader *h, const char *config,
                               GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, name)->parent;

    if (!save_image_write_header(fd, h, false, errp) ||
        qio_channel_pwrite_all(ioc, config, h->config_len + 1, h->header_size,
                               errp) < 0) {
        return false;
    }
    if (ftruncate(fd, h->stream_offset) < 0) {
        error_setg_errno(errp, errno, "Could not size '%s'", name);
        return false;
    }
    return true;
}
