/*
 * The save image header (util/save-image.c): round trip, every rejected
 * field, truncation at every length, damaged bytes, and reading a file.
 */
#include "qemu/osdep.h"
#include "qemu/save-image.h"

#include <glib/gstdio.h>
#if CONFIG_ZSTD
#include <zstd.h>
#endif

static SaveImageHeader sample_header(void)
{
    SaveImageHeader h = {
        .version = SAVE_IMAGE_VERSION,
        .header_size = SAVE_IMAGE_HEADER_SIZE,
        .format = SAVE_IMAGE_FORMAT_MAPPED,
        .was_running = 1,
        .config_len = 20,
        .config_crc = 0x12345678,
        .stream_offset = 128 * KiB,
        .stream_length = 5 * MiB,
        .raw_length = 5 * MiB,
        .ram_size = 64 * MiB,
        .saved_at = 1700000000,
    };
    return h;
}

static void expect_error(const uint8_t *buf, size_t len, const char *substr)
{
    SaveImageHeader out;
    GError *err = NULL;

    g_assert_false(save_image_header_parse(buf, len, &out, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, substr)) {
        g_test_message("error '%s' lacks '%s'", err->message, substr);
        g_assert_not_reached();
    }
    g_error_free(err);
}

/* Change a 32-bit field and fix the checksum, so only that field is bad. */
static void set32_fixcrc(uint8_t *buf, size_t off, uint32_t v)
{
    uint32_t le = GUINT32_TO_LE(v);
    uint32_t zero = 0;

    memcpy(buf + off, &le, 4);
    memcpy(buf + 88, &zero, 4);
    uint32_t crc = GUINT32_TO_LE(save_image_crc32c(0, buf, 256));
    memcpy(buf + 88, &crc, 4);
}

static void set64_fixcrc(uint8_t *buf, size_t off, uint64_t v)
{
    uint64_t le = GUINT64_TO_LE(v);
    uint32_t zero = 0;

    memcpy(buf + off, &le, 8);
    memcpy(buf + 88, &zero, 4);
    uint32_t crc = GUINT32_TO_LE(save_image_crc32c(0, buf, 256));
    memcpy(buf + 88, &crc, 4);
}

static void test_roundtrip(void)
{
    SaveImageHeader h = sample_header(), out;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    GError *err = NULL;

    save_image_header_pack(&h, true, buf);
    g_assert_cmpint(save_image_probe(buf, sizeof(buf)), ==,
                    SAVE_IMAGE_PROBE_FINAL);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(&h, sizeof(h), &out, sizeof(out));
    /* The layout is fixed: spot-check a few bytes. */
    g_assert_cmpmem(buf, 16, "MapmigSaveImage\0", 16);
    g_assert_cmpint(buf[16], ==, 1);
    g_assert_cmpint(buf[32], ==, SAVE_IMAGE_FORMAT_MAPPED);
    g_assert_cmpint(buf[50], ==, 2); /* 128 KiB = 0x20000, LE */
}

static void test_partial_magic(void)
{
    SaveImageHeader h = sample_header();
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_pack(&h, false, buf);
    g_assert_cmpint(save_image_probe(buf, sizeof(buf)), ==,
                    SAVE_IMAGE_PROBE_PARTIAL);
    expect_error(buf, sizeof(buf), "incomplete save image");
}

static void test_bad_magic(void)
{
    SaveImageHeader h = sample_header();
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_pack(&h, true, buf);
    memcpy(buf, "QEVM", 4);
    g_assert_cmpint(save_image_probe(buf, sizeof(buf)), ==,
                    SAVE_IMAGE_PROBE_NONE);
    expect_error(buf, sizeof(buf), "bad magic");
    expect_error(buf, 3, "bad magic");
}

static void test_bad_fields(void)
{
    static const struct {
        size_t off;
        int width;
        uint64_t value;
        const char *substr;
    } cases[] = {
        { 16, 32, 0, "version 0" },
        { 16, 32, 2, "version 2" },
        { 20, 32, 128, "header size" },
        { 20, 32, 8192, "header size" },
        { 20, 32, 260, "header size" },
        { 24, 32, 2, "unsupported features 0x2" },
        { 24, 32, 0x80000000u, "unsupported features 0x80000000" },
        { 32, 32, 4, "unknown save image format 4" },
        { 36, 32, 2, "was-running" },
        { 40, 32, 0, "configuration length" },
        { 40, 32, 17 * MiB, "configuration length" },
        { 48, 64, 100, "stream offset" },
        { 48, 64, 128 * KiB + 512, "stream offset" },
        { 48, 64, 2 * GiB, "stream offset" },
        { 56, 64, 0, "stream length" },
        { 56, 64, UINT64_MAX - 4096, "stream length" },
        { 64, 64, 3, "uncompressed length" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        SaveImageHeader h = sample_header();
        uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

        save_image_header_pack(&h, true, buf);
        if (cases[i].width == 32) {
            set32_fixcrc(buf, cases[i].off, cases[i].value);
        } else {
            set64_fixcrc(buf, cases[i].off, cases[i].value);
        }
        expect_error(buf, sizeof(buf), cases[i].substr);
    }
}

/* A compat feature is fine; zstd formats carry their own raw length. */
static void test_accepted_variants(void)
{
    SaveImageHeader h = sample_header(), out;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    h.compat_features = 0xffffffff;
    h.format = SAVE_IMAGE_FORMAT_ZSTD;
    h.raw_length = 100 * MiB;
    h.was_running = 0;
    save_image_header_pack(&h, true, buf);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, NULL));
    g_assert_cmpuint(out.raw_length, ==, 100 * MiB);
    g_assert_cmpuint(out.compat_features, ==, 0xffffffff);
}

/*
 * A checkpoint's generation: at offset 96 with the GENERATION compatible
 * feature, which packing sets; without it the field is not read (an
 * older reader's reserved bytes), and an older reader accepts the header.
 */
static void test_generation(void)
{
    SaveImageHeader h = sample_header(), out;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    h.generation = 0x0102030405060708ull;
    save_image_header_pack(&h, true, buf);
    g_assert_cmpint(buf[28] & SAVE_IMAGE_COMPAT_GENERATION, !=, 0);
    g_assert_cmpint(buf[96], ==, 0x08);
    g_assert_cmpint(buf[103], ==, 0x01);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, NULL));
    g_assert_cmpuint(out.generation, ==, h.generation);
    g_assert_cmpuint(out.compat_features, ==, SAVE_IMAGE_COMPAT_GENERATION);

    /* Without the feature the bytes are reserved: generation 0. */
    set32_fixcrc(buf, 28, 0);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, NULL));
    g_assert_cmpuint(out.generation, ==, 0);

    /* Not a checkpoint: no feature, zeros. */
    h.generation = 0;
    save_image_header_pack(&h, true, buf);
    g_assert_cmpint(buf[28], ==, 0);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, NULL));
    g_assert_cmpuint(out.generation, ==, 0);
}

/*
 * The partial magic, for a checkpoint's writer and mapmig-img: parsed
 * only when asked, with the data's lengths possibly still 0; everything
 * else is checked as for a final header.
 */
static void test_parse_any(void)
{
    SaveImageHeader h = sample_header(), out;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    bool partial;

    h.stream_length = h.raw_length = 0;
    h.generation = 3;
    save_image_header_pack(&h, false, buf);
    expect_error(buf, sizeof(buf), "incomplete save image");
    g_assert_true(
        save_image_header_parse_any(buf, sizeof(buf), &out, &partial, NULL));
    g_assert_true(partial);
    g_assert_cmpuint(out.generation, ==, 3);
    g_assert_cmpuint(out.stream_length, ==, 0);

    /* A final header needs its lengths. */
    save_image_header_pack(&h, true, buf);
    g_assert_false(
        save_image_header_parse_any(buf, sizeof(buf), &out, &partial, NULL));
    h = sample_header();
    save_image_header_pack(&h, true, buf);
    g_assert_true(
        save_image_header_parse_any(buf, sizeof(buf), &out, &partial, NULL));
    g_assert_false(partial);

    /* A damaged partial header is no header. */
    save_image_header_pack(&h, false, buf);
    buf[50] ^= 1;
    g_assert_false(
        save_image_header_parse_any(buf, sizeof(buf), &out, &partial, NULL));
}

/* A later, larger header: the checksum covers all of it. */
static void test_larger_header(void)
{
    SaveImageHeader h = sample_header(), out;
    uint8_t buf[512] = { 0 };
    GError *err = NULL;

    h.stream_offset = 128 * KiB;
    save_image_header_pack(&h, true, buf);
    uint32_t size = GUINT32_TO_LE(512);
    memcpy(buf + 20, &size, 4);
    buf[400] = 0xaa; /* a field this version does not know */
    memset(buf + 88, 0, 4);
    uint32_t crc = GUINT32_TO_LE(save_image_crc32c(0, buf, 512));
    memcpy(buf + 88, &crc, 4);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &out, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(out.header_size, ==, 512);
    expect_error(buf, 300, "truncated");
    buf[401] = 1;
    expect_error(buf, sizeof(buf), "checksum");
}

static void test_truncated_everywhere(void)
{
    SaveImageHeader h = sample_header();
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_pack(&h, true, buf);
    for (size_t len = 0; len < sizeof(buf); len++) {
        g_autofree uint8_t *copy = g_memdup2(buf, len ? len : 1);
        SaveImageHeader out;
        g_assert_false(save_image_header_parse(copy, len, &out, NULL));
    }
}

/* Any single damaged byte is caught (by the checksum, at least). */
static void test_flip_every_byte(void)
{
    SaveImageHeader h = sample_header();
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_pack(&h, true, buf);
    for (size_t i = 0; i < sizeof(buf); i++) {
        for (int bit = 0; bit < 8; bit++) {
            SaveImageHeader out;
            buf[i] ^= 1 << bit;
            g_assert_false(
                save_image_header_parse(buf, sizeof(buf), &out, NULL));
            buf[i] ^= 1 << bit;
        }
    }
}

static void test_crc32c_vector(void)
{
    /* The standard check value of CRC-32C. */
    g_assert_cmphex(save_image_crc32c(0, "123456789", 9), ==, 0xe3069283);
    g_assert_cmphex(
        save_image_crc32c(save_image_crc32c(0, "1234", 4), "56789", 5), ==,
        0xe3069283);
}

static void test_stream_offset(void)
{
    uint64_t off = save_image_stream_offset(1000);
    g_assert_cmpuint(off % SAVE_IMAGE_STREAM_ALIGN, ==, 0);
    g_assert_cmpuint(off, >=,
                     SAVE_IMAGE_HEADER_SIZE + 1001 + SAVE_IMAGE_CONFIG_ROOM);
}

/* ---- save_image_read on real files ---- */

static char *write_image(const char *config, uint64_t stream_len,
                         uint64_t file_len, bool corrupt_config)
{
    g_autofree char *dir = g_dir_make_tmp("test-save-image-XXXXXX", NULL);
    char *path = g_build_filename(dir, "img", NULL);
    SaveImageHeader h = sample_header();
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    h.config_len = strlen(config);
    h.config_crc = save_image_crc32c(0, config, h.config_len);
    h.stream_offset = save_image_stream_offset(h.config_len);
    h.stream_length = h.raw_length = stream_len;
    save_image_header_pack(&h, true, buf);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
    g_assert_cmpint(pwrite(fd, config, h.config_len, SAVE_IMAGE_HEADER_SIZE),
                    ==, (ssize_t)h.config_len);
    if (corrupt_config) {
        g_assert_cmpint(pwrite(fd, "X", 1, SAVE_IMAGE_HEADER_SIZE + 2), ==, 1);
    }
    g_assert_cmpint(ftruncate(fd, h.stream_offset + file_len), ==, 0);
    close(fd);
    return path;
}

static void remove_image(char *path)
{
    g_autofree char *dir = g_path_get_dirname(path);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
}

static bool read_image(const char *path, SaveImage *img, GError **errp)
{
    int fd = open(path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    bool ok = save_image_read(fd, path, img, errp);
    close(fd);
    return ok;
}

static void test_read_file(void)
{
    char *path =
        write_image("{\"args\": [\"-m\", \"64M\"]}", 4096, 4096, false);
    SaveImage img;
    GError *err = NULL;

    g_assert_true(read_image(path, &img, &err));
    g_assert_no_error(err);
    g_assert_cmpstr(img.config, ==, "{\"args\": [\"-m\", \"64M\"]}");
    save_image_clear(&img);
    remove_image(path);
}

static void test_read_truncated(void)
{
    char *path = write_image("{}", 1 * MiB, 4096, false);
    SaveImage img;
    GError *err = NULL;

    g_assert_false(read_image(path, &img, &err));
    g_assert_nonnull(strstr(err->message, "truncated"));
    g_error_free(err);
    remove_image(path);
}

static void test_read_bad_config(void)
{
    char *path = write_image("{\"args\": []}", 4096, 4096, true);
    SaveImage img;
    GError *err = NULL;

    g_assert_false(read_image(path, &img, &err));
    g_assert_nonnull(strstr(err->message, "configuration checksum"));
    g_clear_error(&err);
    remove_image(path);

    path = write_image("[1, 2]", 4096, 4096, false);
    g_assert_false(read_image(path, &img, &err));
    g_assert_nonnull(strstr(err->message, "not a JSON object"));
    g_error_free(err);
    remove_image(path);
}

static void test_read_short_file(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-save-image-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "img", NULL);
    SaveImage img;
    GError *err = NULL;

    g_assert_true(g_file_set_contents(path, "MapmigSaveImage", 16, NULL));
    g_assert_false(read_image(path, &img, &err));
    g_assert_nonnull(strstr(err->message, "truncated"));
    g_error_free(err);
    g_unlink(path);
    g_rmdir(dir);
}

/* ---- writing an image and checking its data (save-image-check.c) ---- */

/*
 * An image of @format in a new file: the prologue as mapmig-ctl save
 * writes it, @data at stream_offset, the final header.  @raw_length 0:
 * the length of @data.
 */
static char *write_full_image(SaveImageFormat format, const void *data,
                              size_t len, uint64_t raw_length)
{
    g_autofree char *dir = g_dir_make_tmp("test-save-image-XXXXXX", NULL);
    char *path = g_build_filename(dir, "img", NULL);
    const char *config = "{\"vm\": {\"args\": [\"-m\", \"64M\"]}}";
    SaveImageHeader h;
    GError *err = NULL;

    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    save_image_header_init(&h, format, config);
    g_assert_cmpuint(h.config_len, ==, strlen(config));
    g_assert_cmpuint(h.stream_offset, ==,
                     save_image_stream_offset(h.config_len));
    g_assert_true(save_image_write_prologue(fd, path, &h, config, &err));
    g_assert_no_error(err);
    g_assert_cmpint(lseek(fd, 0, SEEK_END), ==, (off_t)h.stream_offset);
    g_assert_cmpint(pwrite(fd, data, len, h.stream_offset), ==, (ssize_t)len);
    h.stream_length = len;
    h.raw_length = raw_length ? raw_length : len;
    g_assert_true(save_image_write_header(fd, &h, true, &err));
    g_assert_no_error(err);
    close(fd);
    return path;
}

static void probe_ok(const char *path, SaveImage *img)
{
    GError *err = NULL;
    bool is_img;

    g_assert_true(save_image_probe_file(path, img, &is_img, &err));
    g_assert_no_error(err);
    g_assert_true(is_img);
}

/* @img's data start check fails with @msg, or passes if @msg is NULL. */
static void expect_data_start(const char *path, const SaveImage *img,
                              const char *msg)
{
    GError *err = NULL;
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(fd, >=, 0);
    bool ok = save_image_check_data_start(fd, path, &img->hdr, &err);
    close(fd);
    if (!msg) {
        g_assert_no_error(err);
        g_assert_true(ok);
        return;
    }
    g_assert_false(ok);
    g_assert_nonnull(strstr(err->message, msg));
    g_error_free(err);
}

static void test_write_probe(void)
{
    static const uint8_t stream[] = { 'Q', 'E', 'V', 'M', 0, 0, 0, 3 };
    char *path =
        write_full_image(SAVE_IMAGE_FORMAT_RAW, stream, sizeof(stream), 0);
    SaveImage img;

    g_assert_cmpint(save_image_format_of(false, false), ==,
                    SAVE_IMAGE_FORMAT_RAW);
    g_assert_cmpint(save_image_format_of(false, true), ==,
                    SAVE_IMAGE_FORMAT_ZSTD);
    g_assert_cmpint(save_image_format_of(true, false), ==,
                    SAVE_IMAGE_FORMAT_MAPPED);
    g_assert_cmpint(save_image_format_of(true, true), ==,
                    SAVE_IMAGE_FORMAT_MAPPED_ZSTD);

    probe_ok(path, &img);
    g_assert_cmpint(img.hdr.format, ==, SAVE_IMAGE_FORMAT_RAW);
    g_assert_nonnull(strstr(img.config, "64M"));
    expect_data_start(path, &img, NULL);
    /* A zstd image must start with a frame. */
    img.hdr.format = SAVE_IMAGE_FORMAT_ZSTD;
    expect_data_start(path, &img, "no zstd frame at offset");
    save_image_clear(&img);
    remove_image(path);

    path = write_full_image(SAVE_IMAGE_FORMAT_MAPPED, "QEVX", 4, 0);
    probe_ok(path, &img);
    expect_data_start(path, &img, "no migration stream at offset");
    save_image_clear(&img);
    remove_image(path);
}

/* Not an image, or not a file to open: for the caller to handle. */
static void test_probe_other(void)
{
    g_autofree char *dir = g_dir_make_tmp("test-save-image-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "stream", NULL);
    SaveImage img;
    GError *err = NULL;
    bool is_img = true;

    g_assert_true(g_file_set_contents(path, "QEVM\0\0\0\3", 8, NULL));
    g_assert_true(save_image_probe_file(path, &img, &is_img, &err));
    g_assert_false(is_img);
    is_img = true;
    g_assert_true(save_image_probe_file("/nonexistent/x", &img, &is_img, &err));
    g_assert_false(is_img);
    g_assert_no_error(err);
    g_unlink(path);
    g_rmdir(dir);
}

/* save_image_check_compressed on @path fails with @msg (NULL: passes). */
static void expect_compressed(const char *path, const char *msg)
{
    SaveImage img;
    GError *err = NULL;

    probe_ok(path, &img);
    bool ok = save_image_check_compressed(path, &img, &err);
    save_image_clear(&img);
    if (!msg) {
        g_assert_no_error(err);
        g_assert_true(ok);
        return;
    }
    g_assert_false(ok);
    if (!strstr(err->message, msg)) {
        g_test_message("error '%s' lacks '%s'", err->message, msg);
        g_assert_not_reached();
    }
    g_error_free(err);
}

static void test_check_compressed(void)
{
#if CONFIG_ZSTD
    size_t raw_len = 3 * MiB + 123; /* more than one read chunk */
    g_autofree uint8_t *raw = g_malloc0(raw_len);
    size_t cap = ZSTD_compressBound(raw_len);
    g_autofree uint8_t *z = g_malloc(cap);
    ZSTD_CCtx *cctx = ZSTD_createCCtx();

    memcpy(raw, "QEVM\0\0\0\3", 8);
    for (size_t i = 8; i < raw_len; i++) {
        raw[i] = g_test_rand_int_range(0, 4); /* compressible, not empty */
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    size_t zlen = ZSTD_compress2(cctx, z, cap, raw, raw_len);
    g_assert_false(ZSTD_isError(zlen));

    char *path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z, zlen, raw_len);
    expect_compressed(path, NULL);
    remove_image(path);

    /* Data of an exact multiple of the read chunk decodes too. */
    g_autofree uint8_t *z2 = g_malloc(cap);
    size_t z2len = ZSTD_compress2(cctx, z2, cap, raw, 2 * MiB);
    g_assert_false(ZSTD_isError(z2len));
    path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z2, z2len, 2 * MiB);
    expect_compressed(path, NULL);
    remove_image(path);

    path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z, zlen, raw_len + 1);
    expect_compressed(path, "the header announces");
    remove_image(path);

    path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z, zlen - 1, raw_len);
    expect_compressed(path, "truncated");
    remove_image(path);

    z[zlen / 2] ^= 0x55;
    path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z, zlen, raw_len);
    expect_compressed(path, "corrupt compressed data near offset");
    remove_image(path);

    raw[0] = 'X';
    zlen = ZSTD_compress2(cctx, z, cap, raw, raw_len);
    g_assert_false(ZSTD_isError(zlen));
    path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, z, zlen, raw_len);
    expect_compressed(path, "not a migration stream");
    remove_image(path);
    ZSTD_freeCCtx(cctx);
#else
    char *path = write_full_image(SAVE_IMAGE_FORMAT_ZSTD, "x", 1, 0);
    expect_compressed(path, "no zstd");
    remove_image(path);
#endif
}

/* The configuration: what restore and mapmig-img take from it. */
static void test_config_parse(void)
{
    SaveImageConfig cfg;
    GError *err = NULL;

    g_assert_true(save_image_config_parse(
        "{\"vm\": {\"args\": [\"-m\", \"64M\"], \"machine\": \"mini\"},"
        " \"save\": {\"channels\": 4,"
        " \"capabilities\": [\"mapped-ram\", 7, \"multifd\"]}}",
        &cfg, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(cfg.vm_args), ==, 2);
    g_assert_cmpstr(cfg.vm_args[1], ==, "64M");
    g_assert_cmpint(cfg.channels, ==, 4);
    g_assert_cmpuint(g_strv_length(cfg.caps), ==, 2); /* 7 is skipped */
    g_assert_cmpstr(cfg.caps[1], ==, "multifd");
    save_image_config_clear(&cfg);
    g_assert_null(cfg.vm_args);

    /* no "save": one channel, no capabilities */
    g_assert_true(
        save_image_config_parse("{\"vm\": {\"args\": []}}", &cfg, &err));
    g_assert_cmpint(cfg.channels, ==, 1);
    g_assert_cmpuint(g_strv_length(cfg.vm_args), ==, 0);
    g_assert_cmpuint(g_strv_length(cfg.caps), ==, 0);
    save_image_config_clear(&cfg);
}

static void test_config_rejects(void)
{
    static const struct {
        const char *json;
        const char *error;
    } cases[] = {
        { "{\"vm\": {}}", "no vm.args list" },
        { "{\"vm\": {\"args\": {}}}", "no vm.args list" },
        { "{\"vm\": [1]}", "no vm.args list" },
        { "{\"vm\": {\"args\": [\"-S\", 3]}}", "vm.args[1] is not a string" },
        { "[1]", "not a JSON object" },
        { "{\"vm\":", "" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        SaveImageConfig cfg;
        GError *err = NULL;

        g_assert_false(save_image_config_parse(cases[i].json, &cfg, &err));
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, cases[i].error));
        g_assert_null(cfg.vm_args);
        g_error_free(err);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/save-image/roundtrip", test_roundtrip);
    g_test_add_func("/save-image/partial-magic", test_partial_magic);
    g_test_add_func("/save-image/bad-magic", test_bad_magic);
    g_test_add_func("/save-image/bad-fields", test_bad_fields);
    g_test_add_func("/save-image/accepted-variants", test_accepted_variants);
    g_test_add_func("/save-image/larger-header", test_larger_header);
    g_test_add_func("/save-image/generation", test_generation);
    g_test_add_func("/save-image/parse-any", test_parse_any);
    g_test_add_func("/save-image/truncated-everywhere",
                    test_truncated_everywhere);
    g_test_add_func("/save-image/flip-every-byte", test_flip_every_byte);
    g_test_add_func("/save-image/crc32c", test_crc32c_vector);
    g_test_add_func("/save-image/stream-offset", test_stream_offset);
    g_test_add_func("/save-image/read/file", test_read_file);
    g_test_add_func("/save-image/read/truncated", test_read_truncated);
    g_test_add_func("/save-image/read/bad-config", test_read_bad_config);
    g_test_add_func("/save-image/read/short-file", test_read_short_file);
    g_test_add_func("/save-image/write/prologue-probe", test_write_probe);
    g_test_add_func("/save-image/probe/other", test_probe_other);
    g_test_add_func("/save-image/check/compressed", test_check_compressed);
    g_test_add_func("/save-image/config/parse", test_config_parse);
    g_test_add_func("/save-image/config/rejects", test_config_rejects);
    return g_test_run();
}
