/*
 * The x-checksums trailer (include/migration/checksum.h): its encoding,
 * what its reader refuses, and which bytes the metadata sum covers.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/checksum.h"

#include <xxhash.h>

static const MigChecksumTrailer example = {
    .table_offset = 1000,
    .table_len = 64,
    .meta_start = 16,
    .meta_hash = 0x1122334455667788ULL,
    .table_hash = 42,
};

static void test_roundtrip(void)
{
    uint8_t buf[MIG_CKSUM_TRAILER_SIZE];
    MigChecksumTrailer t;
    GError *err = NULL;

    mig_cksum_trailer_pack(&example, buf);
    g_assert_cmpmem(buf, 8, MIG_CKSUM_MAGIC, 8);
    g_assert_true(mig_cksum_trailer_unpack(buf, 1000 + 64 + 64, &t, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(&t, sizeof(t), &example, sizeof(example));
}

typedef struct BadTrailer {
    const char *name;
    size_t flip;        /* byte to change, or SIZE_MAX */
    uint64_t file_size; /* what the file's size is said to be */
    const char *error;
} BadTrailer;

static const BadTrailer bad[] = {
    { "magic", 0, 1128, "No checksum trailer" },
    { "version", 8, 1128, "trailer is damaged" },
    { "table-offset", 17, 1128, "trailer is damaged" },
    { "own-hash", 60, 1128, "trailer is damaged" },
    { "file-longer", SIZE_MAX, 1129, "outside the file" },
    { "file-shorter", SIZE_MAX, 1127, "outside the file" },
    { "file-tiny", SIZE_MAX, 10, "outside the file" },
};

static void test_bad(gconstpointer data)
{
    const BadTrailer *b = data;
    uint8_t buf[MIG_CKSUM_TRAILER_SIZE];
    MigChecksumTrailer t;
    GError *err = NULL;

    mig_cksum_trailer_pack(&example, buf);
    if (b->flip != SIZE_MAX) {
        buf[b->flip] ^= 0x10;
    }
    g_assert_false(mig_cksum_trailer_unpack(buf, b->file_size, &t, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, b->error));
    g_error_free(err);
}

/* meta_hash covers exactly the bytes outside the skipped regions. */
static void test_meta_hash(void)
{
    g_autofree char *path =
        g_build_filename(g_get_tmp_dir(), "test-checksum-XXXXXX", NULL);
    int fd = g_mkstemp(path);
    uint8_t data[3 * 4096 + 100];
    const MigRegion skip[] = { { 4096, 4096 }, { 8192 + 50, 10 } };
    GError *err = NULL;
    uint64_t got;

    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = i * 7 + i / 4096;
    }
    g_assert_cmpint(write(fd, data, sizeof(data)), ==, sizeof(data));
    QIOChannelFile *f = qio_channel_file_new_fd(fd);
    g_assert_true(mig_cksum_meta_hash(&f->parent, 100, sizeof(data), skip,
                                      G_N_ELEMENTS(skip), &got, &err));
    g_assert_no_error(err);

    XXH3_state_t *st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, data + 100, 4096 - 100);
    XXH3_64bits_update(st, data + 8192, 50);
    XXH3_64bits_update(st, data + 8192 + 60, sizeof(data) - 8192 - 60);
    g_assert_cmphex(got, ==, XXH3_64bits_digest(st));

    /* One byte of a skipped region changes nothing, one outside does. */
    data[5000] ^= 1;
    g_assert_cmpint(pwrite(fd, data + 5000, 1, 5000), ==, 1);
    uint64_t again;
    g_assert_true(mig_cksum_meta_hash(&f->parent, 100, sizeof(data), skip,
                                      G_N_ELEMENTS(skip), &again, &err));
    g_assert_cmphex(again, ==, got);
    data[200] ^= 1;
    g_assert_cmpint(pwrite(fd, data + 200, 1, 200), ==, 1);
    g_assert_true(mig_cksum_meta_hash(&f->parent, 100, sizeof(data), skip,
                                      G_N_ELEMENTS(skip), &again, &err));
    g_assert_cmphex(again, !=, got);
    XXH3_freeState(st);
    qio_channel_unref(&f->parent);
    unlink(path);
}

/* A page's sum is never 0, which the table keeps for "no page". */
static void test_page_sum(void)
{
    uint8_t page[4096] = { 0 };
    uint64_t zero = mig_page_sum(page);

    g_assert_cmpuint(zero, !=, 0);
    page[4095] = 1;
    g_assert_cmpuint(mig_page_sum(page), !=, zero);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/checksum/trailer/roundtrip", test_roundtrip);
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *p =
            g_strdup_printf("/checksum/trailer/bad/%s", bad[i].name);
        g_test_add_data_func(p, &bad[i], test_bad);
    }
    g_test_add_func("/checksum/meta-hash", test_meta_hash);
    g_test_add_func("/checksum/page-sum", test_page_sum);
    return g_test_run();
}
