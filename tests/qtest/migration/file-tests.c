/*
 * file: migration with mapped-ram and multifd, shaped like QEMU's
 * tests/qtest/migration/file-tests.c.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <sys/stat.h>

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME

static char *migfile_path(void)
{
    return g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
}

/* ---- refusals ---- */

/* The error must name the capability and say the two sides differ. */
static void mismatch_end_hook(QTestState *from, QTestState *to, void *opaque)
{
    g_autoptr(JsonNode) r = qtest_qmp(to, "{'execute': 'query-migrate'}");
    const char *desc = qmp_get_str(r, "error-desc");

    g_assert_nonnull(desc);
    g_assert_nonnull(strstr(desc, "mapped-ram"));
    g_assert_nonnull(strstr(desc, "destination"));
}

/* ---- HMP with the fixed-ram alias ---- */

static void test_precopy_file_mapped_ram_hmp(void)
{
    QTestState *from, *to;
    MigrateStart start = { 0 };
    g_autofree char *path = migfile_path();
    g_autofree char *out = NULL;
    g_autofree char *st = NULL;

    migrate_start(&from, &to, &start);
    migrate_fill_ram(from, true, 1);
    out = qtest_hmp(from, "migrate_set_capability fixed-ram on");
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    /* Without -d, HMP migrate returns once the migration is over. */
    out = qtest_hmp(from, "migrate file:%s", path);
    g_test_message("hmp migrate: '%s'", out);
    st = migrate_query_status(from);
    g_assert_cmpstr(st, ==, "completed");
    g_free(out);
    out = qtest_hmp(from, "info migrate_capabilities");
    g_assert_nonnull(strstr(out, "mapped-ram: on"));

    g_free(out);
    out = qtest_hmp(to, "migrate_set_capability fixed-ram on");
    g_assert_cmpstr(out, ==, "");
    g_free(out);
    out = qtest_hmp(to, "migrate_incoming file:%s", path);
    g_assert_cmpstr(out, ==, "");
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) a = qtest_ram_digests(from);
        g_autoptr(GHashTable) b = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(a, b));
    }
    migrate_end(from, to);
}

/* ---- file size ---- */

/* A mostly-zero 256M guest leaves holes in a mapped-ram file. */
static void test_precopy_file_mapped_ram_sparse(void)
{
    QTestState *from;
    MigrateStart start = { .mem = "256M" };
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *path = migfile_path();
    struct stat st;

    migrate_start(&from, NULL, &start);
    migrate_set_capability(from, "mapped-ram", true);
    /* A little data so the file is not trivially empty. */
    qtest_memset(from, 0x100000, 0x5a, 1 * MiB);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_test_message("apparent %" PRId64 " allocated %" PRId64,
                   (int64_t)st.st_size, (int64_t)st.st_blocks * 512);
    g_assert_cmpint(st.st_size, >=, 256 * MiB);
    /* Far below: at most a tenth of the apparent size is allocated. */
    g_assert_cmpint((int64_t)st.st_blocks * 512, <, st.st_size / 10);
    qtest_quit(from);
}

/* Many passes over the same pages must rewrite them in place. */
static void test_precopy_file_mapped_ram_live_size(void)
{
    QTestState *from;
    MigrateStart start = { .mem = "64M", .workload = "stress,share=10" };
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *path = migfile_path();
    uint64_t total;
    struct stat st;

    migrate_start(&from, NULL, &start);
    total = qtest_ram_total(from);
    migrate_set_capability(from, "mapped-ram", true);
    migrate_ensure_non_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_pass(from, 10);
    migrate_ensure_converge(from);
    wait_for_migration_complete(from);
    {
        g_autoptr(JsonNode) r = qtest_qmp(from, "{'execute': 'query-migrate'}");
        JsonNode *ram = json_object_get_member(json_node_get_object(r), "ram");
        g_test_message("dirty-sync-count %" PRId64 ", transferred %" PRId64,
                       qmp_get_int(ram, "dirty-sync-count"),
                       qmp_get_int(ram, "transferred"));
        g_assert_cmpint(qmp_get_int(ram, "dirty-sync-count"), >=, 10);
    }
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_test_message("file size %" PRId64 ", RAM total %" PRIu64,
                   (int64_t)st.st_size, total);
    g_assert_cmpuint(st.st_size, <=, total + 16 * MiB);
    qtest_quit(from);
}

/* ---- the case table ---- */

#define MULTIFD_CHANNELS(src, dst)                                      \
    .caps = { "mapped-ram", "multifd" }, .multifd_channels_src = (src), \
    .multifd_channels_dst = (dst)

static const MigrateCase file_cases[] = {
    /* mapped-ram */
    { .path = "/migration/precopy/file/mapped-ram",
      .accels = true,
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                .caps = { "mapped-ram" } } },
    { .path = "/migration/precopy/file/mapped-ram/live",
      .accels = true,
      .args = { .start.workload = "stress,share=10",
                .connect_uri = FILE_URI,
                .load_after_save = true,
                .caps = { "mapped-ram" },
                .live = true } },
    { .path = "/migration/precopy/file/offset/mapped-ram",
      .args = { .connect_uri = FILE_URI ",offset=0x100000",
                .load_after_save = true,
                .caps = { "mapped-ram" } } },
    /* multifd + mapped-ram */
    { .path = "/migration/multifd/file/mapped-ram/channels/1",
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(1, 1) } },
    { .path = "/migration/multifd/file/mapped-ram/channels/4",
      .accels = true,
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(4, 4) } },
    { .path = "/migration/multifd/file/mapped-ram/channels/16",
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(16, 16) } },
    { .path = "/migration/multifd/file/mapped-ram/channels/4to2",
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(4, 2) } },
    { .path = "/migration/multifd/file/mapped-ram/live",
      .accels = true,
      .args = { .start.workload = "stress,share=10",
                .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(4, 4),
                .live = true } },
    /* The guest checks its own memory after a live multifd save/restore. */
    { .path = "/migration/multifd/file/mapped-ram/ab/live",
      .accels = true,
      .args = { .start = { .workload = "ab", .mem = "16M" },
                .connect_uri = FILE_URI,
                .load_after_save = true,
                MULTIFD_CHANNELS(4, 4),
                .live = true,
                .check_ab = true } },
    /* refusals */
    { .path = "/migration/precopy/unix/mapped-ram/refused",
      .args = { .connect_uri = "unix:@TMP@/migsocket",
                .caps = { "mapped-ram" },
                .result = MIG_TEST_QMP_ERROR,
                .error_substr = "seekable" } },
    { .path = "/migration/multifd/file/no-mapped-ram/refused",
      .args = { .connect_uri = FILE_URI,
                .caps = { "multifd" },
                .result = MIG_TEST_QMP_ERROR,
                .error_substr = "mapped-ram" } },
    /* The destination lacks mapped-ram: the load must fail, loudly. */
    { .path = "/migration/precopy/file/mapped-ram/dst-mismatch",
      .args = { .connect_uri = FILE_URI,
                .load_after_save = true,
                .src_only_caps = { "mapped-ram" },
                .end_hook = mismatch_end_hook,
                .result = MIG_TEST_FAIL_DEST,
                .error_substr = "mapped-ram" } },
};

/* ---- absent pages between present ones ---- */

/*
 * A page absent from the file reads as zero, even where the file holds
 * something else (an older copy): loaders that read runs with their
 * short gaps in one request must clear the gaps again.
 */
typedef struct {
    const char *path;
    int channels; /* 0: no multifd */
} StaleGapCase;

static const StaleGapCase stale_gap_cases[] = {
    { "/migration/precopy/file/mapped-ram/stale-gap", 0 },
    { "/migration/multifd/file/mapped-ram/stale-gap", 2 },
};

static void stale_gap_caps(QTestState *who, const StaleGapCase *c)
{
    migrate_set_capability(who, "mapped-ram", true);
    if (c->channels) {
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", c->channels);
    }
}

static JsonObject *first_block(JsonNode *info)
{
    JsonArray *a =
        json_object_get_array_member(json_node_get_object(info), "ram-blocks");

    return json_array_get_object_element(a, 0);
}

static int64_t block_present_pages(const char *file)
{
    g_autoptr(JsonNode) info = migrate_img_info(file);

    return json_object_get_int_member(first_block(info), "present-pages");
}

/* Write @byte over page @page of the first RAM block in @file. */
static void scribble_page(const char *file, uint64_t page, uint8_t byte)
{
    g_autoptr(JsonNode) info = migrate_img_info(file);
    off_t at = json_object_get_int_member(first_block(info), "pages-offset") +
               (off_t)page * 4096;
    uint8_t buf[4096];
    int fd = open(file, O_WRONLY);

    memset(buf, byte, sizeof(buf));
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), at), ==, sizeof(buf));
    close(fd);
}

static void test_mapped_ram_stale_gap(const void *opaque)
{
    const StaleGapCase *c = opaque;
    /* Data pages; 102-109 are a gap short enough to be read through. */
    static const uint64_t data[] = { 100, 101, 110, 111, 300 };
    const uint64_t stale = 105;
    MigrateStart start = { .mem = "32M" };
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *path = migfile_path();
    uint8_t page[4096], zero[4096] = { 0 };
    QTestState *from, *to;

    migrate_start(&from, &to, &start);
    /* The gap's pages were used and are zero again: populated zeros. */
    qtest_memset(from, data[0] * 4096, 0x3f, (data[3] - data[0]) * 4096);
    qtest_memset(from, data[0] * 4096, 0, (data[3] - data[0]) * 4096);
    for (size_t i = 0; i < G_N_ELEMENTS(data); i++) {
        qtest_memset(from, data[i] * 4096, 0x40 + i, 4096);
    }
    stale_gap_caps(from, c);
    stale_gap_caps(to, c);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    /* A save may write the gap with its run, never list it as present. */
    g_assert_cmpint(block_present_pages(path), ==, G_N_ELEMENTS(data));
    scribble_page(path, stale, 0xee);

    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    qtest_memread(to, stale * 4096, page, sizeof(page));
    g_assert_cmpmem(page, sizeof(page), zero, sizeof(zero));
    {
        g_autoptr(GHashTable) a = qtest_ram_digests(from);
        g_autoptr(GHashTable) b = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(a, b));
    }
    migrate_end(from, to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add_cases(file_cases, G_N_ELEMENTS(file_cases));
    migration_test_add("/migration/precopy/file/mapped-ram/hmp",
                       test_precopy_file_mapped_ram_hmp);
    migration_test_add("/migration/precopy/file/mapped-ram/sparse",
                       test_precopy_file_mapped_ram_sparse);
    migration_test_add("/migration/precopy/file/mapped-ram/live/size",
                       test_precopy_file_mapped_ram_live_size);
    for (size_t i = 0; i < G_N_ELEMENTS(stale_gap_cases); i++) {
        migration_test_add_data(stale_gap_cases[i].path,
                                test_mapped_ram_stale_gap, &stale_gap_cases[i],
                                false);
    }
    return migration_test_run();
}
