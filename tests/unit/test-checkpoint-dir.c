/*
 * Checkpoint directories (util/checkpoint-dir.c): the manifest's text,
 * everything its parser refuses (every truncation, every bit flipped,
 * members out of range with a valid checksum), and what a scan makes of
 * images that are complete, partial, damaged, missing or no checkpoint,
 * with restore's choice and its errors.
 */
#include "qemu/osdep.h"
#include "qemu/checkpoint-dir.h"

#include <glib/gstdio.h>

static const CkptManifest sample = {
    .generation = 6,
    .image = 1,
    .header_crc = 0xe711ee05,
    .saved_at = 1796193867,
};

static void expect_refused(const char *text, size_t len, const char *substr)
{
    CkptManifest m;
    GError *err = NULL;

    g_assert_false(ckpt_manifest_parse(text, len, &m, &err));
    g_assert_nonnull(err);
    if (substr && !strstr(err->message, substr)) {
        g_test_message("error '%s' lacks '%s'", err->message, substr);
        g_assert_not_reached();
    }
    g_error_free(err);
}

static void test_roundtrip(void)
{
    g_autofree char *text = ckpt_manifest_format(&sample);
    CkptManifest m;
    GError *err = NULL;

    g_assert_cmpstr(text, ==,
                    "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
                    "\"generation\": 6, \"image\": \"b.img\", \"header-crc\": "
                    "3876711941, \"saved-at\": 1796193867}\n"
                    "crc32c 0xec099073\n");
    g_assert_true(ckpt_manifest_parse(text, strlen(text), &m, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(&m, sizeof(m), &sample, sizeof(sample));
}

static void test_truncated_everywhere(void)
{
    g_autofree char *text = ckpt_manifest_format(&sample);

    for (size_t len = 0; len < strlen(text); len++) {
        expect_refused(text, len, NULL);
    }
}

static void test_flip_every_bit(void)
{
    g_autofree char *text = ckpt_manifest_format(&sample);
    size_t len = strlen(text);

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            text[i] ^= 1 << bit;
            expect_refused(text, len, NULL);
            text[i] ^= 1 << bit;
        }
    }
}

/* Members with a valid checksum: each refused for what it is. */
static void test_bad_members(void)
{
    static const struct {
        const char *json;
        const char *substr;
    } cases[] = {
        { "[1, 2]", "not a JSON object" },
        { "{\"format\": \"x\"", "not valid JSON" },
        { "{\"format\": \"other\", \"version\": 1}", "'format'" },
        { "{\"format\": \"mapmig-checkpoints\"}", "'version' is missing" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 2}",
          "unsupported manifest version 2" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 0}",
          "'version' is out of range" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 0, \"header-crc\": 1, \"saved-at\": 0, "
          "\"image\": \"a.img\"}",
          "'generation' is out of range" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 1.5, \"header-crc\": 1, \"saved-at\": 0, "
          "\"image\": \"a.img\"}",
          "'generation' is missing or not an integer" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": \"1\", \"header-crc\": 1, \"saved-at\": 0, "
          "\"image\": \"a.img\"}",
          "'generation' is missing or not an integer" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 1, \"header-crc\": 4294967296, \"saved-at\": 0, "
          "\"image\": \"a.img\"}",
          "'header-crc' is out of range" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 1, \"header-crc\": 1, \"saved-at\": -1, "
          "\"image\": \"a.img\"}",
          "'saved-at' is out of range" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 1, \"header-crc\": 1, \"saved-at\": 0, "
          "\"image\": \"/etc/passwd\"}",
          "'image' is not a.img or b.img" },
        { "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
          "\"generation\": 1, \"header-crc\": 1, \"saved-at\": 0}",
          "'image' is not a.img or b.img" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *body = g_strconcat(cases[i].json, "\n", NULL);
        g_autofree char *text =
            g_strdup_printf("%scrc32c 0x%08x\n", body,
                            save_image_crc32c(0, body, strlen(body)));
        expect_refused(text, strlen(text), cases[i].substr);
    }
}

/* Unknown members are fine; a NUL, the size limit and case are not. */
static void test_shapes(void)
{
    const char *json = "{\"format\": \"mapmig-checkpoints\", \"version\": 1, "
                       "\"generation\": 9, \"image\": \"a.img\", "
                       "\"header-crc\": 7, \"saved-at\": 0, \"later\": [1]}\n";
    g_autofree char *text = g_strdup_printf(
        "%scrc32c 0x%08x\n", json, save_image_crc32c(0, json, strlen(json)));
    CkptManifest m;

    g_assert_true(ckpt_manifest_parse(text, strlen(text), &m, NULL));
    g_assert_cmpuint(m.generation, ==, 9);
    g_assert_cmpint(m.image, ==, 0);

    g_autofree char *upper = g_ascii_strup(text, -1);
    expect_refused(upper, strlen(upper), NULL);
    g_autofree char *nul = g_strdup(text);
    nul[3] = 0;
    expect_refused(nul, strlen(text), "not text");
    g_autofree char *big = g_malloc0(CKPT_MANIFEST_MAX + 1);
    memset(big, ' ', CKPT_MANIFEST_MAX + 1);
    expect_refused(big, CKPT_MANIFEST_MAX + 1, "too large");
}

/* ---------------------------------------------------------------- */
/* Directories */

#define CONFIG "{\"vm\": {\"args\": [\"-m\", \"4M\"]}}"

typedef enum ImageKind {
    IMG_COMPLETE,
    IMG_PARTIAL,
    IMG_BAD_CRC,
    IMG_NO_GENERATION,
    IMG_STREAM_FORMAT,
} ImageKind;

/* Image @name in @dir of generation @gen; returns its header checksum. */
static uint32_t make_image(const char *dir, const char *name, uint64_t gen,
                           ImageKind kind)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    SaveImageHeader h;
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];

    save_image_header_init(&h,
                           kind == IMG_STREAM_FORMAT ? SAVE_IMAGE_FORMAT_RAW
                                                     : SAVE_IMAGE_FORMAT_MAPPED,
                           CONFIG);
    h.stream_length = h.raw_length = 4096;
    h.generation = kind == IMG_NO_GENERATION ? 0 : gen;
    uint32_t crc = save_image_header_pack(&h, kind != IMG_PARTIAL, buf);
    if (kind == IMG_BAD_CRC) {
        buf[60] ^= 1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
    g_assert_cmpint(pwrite(fd, CONFIG, strlen(CONFIG) + 1, h.header_size), ==,
                    (ssize_t)strlen(CONFIG) + 1);
    g_assert_cmpint(pwrite(fd, "QEVM", 4, h.stream_offset), ==, 4);
    g_assert_cmpint(ftruncate(fd, h.stream_offset + 4096), ==, 0);
    close(fd);
    return crc;
}

static void put_manifest(const char *dir, uint64_t gen, int image, uint32_t crc)
{
    CkptManifest m = { .generation = gen, .image = image, .header_crc = crc };
    g_autofree char *text = ckpt_manifest_format(&m);
    g_autofree char *path = g_build_filename(dir, CKPT_MANIFEST, NULL);

    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void remove_dir(char *dir)
{
    const char *names[] = { "a.img", "b.img", CKPT_MANIFEST };

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *p = g_build_filename(dir, names[i], NULL);
        g_unlink(p);
    }
    g_rmdir(dir);
    g_free(dir);
}

/* ckpt_dir_pick(@gen) on @dir: the image, or -1 with @substr in the error. */
static int pick(const char *dir, uint64_t gen, const char *substr)
{
    CkptDir d;
    GError *err = NULL;

    g_assert_true(ckpt_dir_scan(dir, &d, NULL));
    int i = ckpt_dir_pick(&d, gen, &err);
    if (substr) {
        g_assert_cmpint(i, ==, -1);
        if (!strstr(err->message, substr)) {
            g_test_message("error '%s' lacks '%s'", err->message, substr);
            g_assert_not_reached();
        }
        g_error_free(err);
    } else {
        g_assert_no_error(err);
    }
    ckpt_dir_clear(&d);
    return i;
}

static void test_scan_states(void)
{
    char *dir = g_dir_make_tmp("test-ckpt-XXXXXX", NULL);
    CkptDir d;

    g_assert_true(ckpt_dir_scan(dir, &d, NULL));
    g_assert_false(ckpt_dir_is_checkpoint_dir(&d));
    ckpt_dir_clear(&d);
    pick(dir, 0, "is not a checkpoint directory");

    static const struct {
        ImageKind kind;
        CkptImageState state;
        const char *error;
    } cases[] = {
        { IMG_COMPLETE, CKPT_IMAGE_COMPLETE, NULL },
        { IMG_PARTIAL, CKPT_IMAGE_PARTIAL, "is incomplete (partial magic" },
        { IMG_BAD_CRC, CKPT_IMAGE_DAMAGED, "header checksum mismatch" },
        { IMG_NO_GENERATION, CKPT_IMAGE_DAMAGED, "without a generation" },
        { IMG_STREAM_FORMAT, CKPT_IMAGE_DAMAGED, "of format raw" },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        uint32_t crc = make_image(dir, "a.img", 4, cases[i].kind);
        g_assert_true(ckpt_dir_scan(dir, &d, NULL));
        g_assert_true(ckpt_dir_is_checkpoint_dir(&d));
        g_assert_cmpint(d.mstate, ==, CKPT_MANIFEST_MISSING);
        g_assert_cmpint(d.images[0].state, ==, cases[i].state);
        g_assert_cmpint(d.images[1].state, ==, CKPT_IMAGE_MISSING);
        if (cases[i].error) {
            g_assert_nonnull(strstr(d.images[0].error, cases[i].error));
        } else {
            g_assert_cmpuint(d.images[0].img.hdr.generation, ==, 4);
            g_assert_cmpuint(d.images[0].img.header_crc, ==, crc);
            g_assert_nonnull(d.images[0].img.config);
        }
        /* A partial header still tells its offset and generation. */
        if (cases[i].kind == IMG_PARTIAL) {
            g_assert_true(d.images[0].hdr_valid);
            g_assert_cmpuint(d.images[0].img.hdr.generation, ==, 4);
            g_assert_nonnull(d.images[0].img.config);
        }
        ckpt_dir_clear(&d);
    }
    remove_dir(dir);
}

static void test_pick(void)
{
    char *dir = g_dir_make_tmp("test-ckpt-XXXXXX", NULL);
    uint32_t a = make_image(dir, "a.img", 5, IMG_COMPLETE);
    uint32_t b = make_image(dir, "b.img", 6, IMG_COMPLETE);
    CkptDir d;

    pick(dir, 0,
         "has no manifest: no checkpoint was committed there; "
         "still complete: generation 6 (b.img), generation 5 (a.img)");
    put_manifest(dir, 6, 1, b);
    g_assert_cmpint(pick(dir, 0, NULL), ==, 1);
    g_assert_cmpint(pick(dir, 5, NULL), ==, 0);
    g_assert_cmpint(pick(dir, 6, NULL), ==, 1);
    pick(dir, 7, "generation 7 is not a complete checkpoint (no image holds");
    g_assert_true(ckpt_dir_scan(dir, &d, NULL));
    g_autofree char *avail = ckpt_dir_available(&d);
    g_assert_cmpstr(avail, ==, "generation 6 (b.img), generation 5 (a.img)");
    g_assert_true(ckpt_dir_manifest_image_ok(&d, 1));
    g_assert_false(ckpt_dir_manifest_image_ok(&d, 0));
    ckpt_dir_clear(&d);

    /* The manifest names another header, another generation, a.img. */
    put_manifest(dir, 6, 1, b ^ 1);
    pick(dir, 0, "is not the one the manifest names");
    put_manifest(dir, 7, 1, b);
    pick(dir, 0, "but b.img holds generation 6");
    put_manifest(dir, 5, 0, a);
    g_assert_cmpint(pick(dir, 0, NULL), ==, 0);

    /* The manifest's image partial: only --generation of the other. */
    put_manifest(dir, 6, 1, b);
    make_image(dir, "b.img", 6, IMG_PARTIAL);
    pick(dir, 0, "but b.img is partial");
    pick(dir, 6, "(it is in b.img, which is partial");
    g_assert_cmpint(pick(dir, 5, NULL), ==, 0);
    make_image(dir, "a.img", 5, IMG_BAD_CRC);
    pick(dir, 0, "no complete checkpoint is left in it");

    /* A damaged manifest. */
    g_autofree char *m = g_build_filename(dir, CKPT_MANIFEST, NULL);
    g_assert_true(g_file_set_contents(m, "garbage\n", -1, NULL));
    pick(dir, 0, "manifest' is damaged");
    remove_dir(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/checkpoint-dir/manifest/roundtrip", test_roundtrip);
    g_test_add_func("/checkpoint-dir/manifest/truncated-everywhere",
                    test_truncated_everywhere);
    g_test_add_func("/checkpoint-dir/manifest/flip-every-bit",
                    test_flip_every_bit);
    g_test_add_func("/checkpoint-dir/manifest/bad-members", test_bad_members);
    g_test_add_func("/checkpoint-dir/manifest/shapes", test_shapes);
    g_test_add_func("/checkpoint-dir/scan/states", test_scan_states);
    g_test_add_func("/checkpoint-dir/pick", test_pick);
    return g_test_run();
}
