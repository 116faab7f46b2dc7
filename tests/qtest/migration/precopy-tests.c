/*
 * Precopy migration over every transport, cancel, failure paths, live
 * guests.  Shaped like QEMU's tests/qtest/migration/precopy-tests.c.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <sys/socket.h>

#define QEMU_VM_FILE_MAGIC 0x5145564d

/* ---- file: ---- */

#define FILE_OFFSET 0x1000
#define HEADER_BYTE 0xa5

/* A 4 KiB header the migration must not overwrite. */
static void *file_offset_start_hook(QTestState *from, QTestState *to)
{
    g_autofree char *path = g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
    g_autofree uint8_t *hdr = g_malloc(FILE_OFFSET);
    g_autoptr(GError) err = NULL;

    memset(hdr, HEADER_BYTE, FILE_OFFSET);
    g_assert_true(g_file_set_contents(path, (char *)hdr, FILE_OFFSET, &err));
    g_assert_no_error(err);
    return NULL;
}

static void file_offset_end_hook(QTestState *from, QTestState *to, void *opaque)
{
    g_autofree char *path = g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    gsize len;
    uint64_t be;

    g_assert_true(g_file_get_contents(path, &data, &len, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(len, >, FILE_OFFSET + 8);
    for (int i = 0; i < FILE_OFFSET; i++) {
        g_assert_cmpint((uint8_t)data[i], ==, HEADER_BYTE);
    }
    memcpy(&be, data + FILE_OFFSET, 8);
    g_assert_cmphex(GUINT64_FROM_BE(be) >> 32, ==, QEMU_VM_FILE_MAGIC);
}

/* ---- fd: ---- */

static void *fd_start_hook(QTestState *from, QTestState *to)
{
    int pair[2];
    JsonObject *a;
    g_autoptr(JsonNode) r1 = NULL, r2 = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
                    ==, 0);
    a = json_object_new();
    json_object_set_string_member(a, "fdname", "fd-mig");
    r1 = qtest_qmp_fd(from, pair[0], "getfd", a);
    a = json_object_new();
    json_object_set_string_member(a, "fdname", "fd-mig");
    r2 = qtest_qmp_fd(to, pair[1], "getfd", a);
    close(pair[0]);
    close(pair[1]);
    migrate_incoming_qmp(to, "fd:fd-mig");
    return NULL;
}

/* ---- cancel and failures ---- */

static void test_cancel(void)
{
    QTestState *from, *to;
    MigrateStart start = { 0 };
    g_autofree char *uri = migrate_expand_uri("unix:@TMP@/migsocket", 0);
    g_autofree char *st = NULL;

    migrate_start(&from, &to, &start);
    migrate_set_capability(from, "events", true);
    /* Real data, so the bandwidth limit really slows the stream. */
    migrate_fill_ram(from, true, 1);
    migrate_incoming_qmp(to, uri);
    migrate_set_parameter_int(from, "max-bandwidth", 1 * MiB);
    migrate_qmp(from, uri);
    qtest_msleep(300);
    {
        g_autoptr(JsonNode) q = qtest_qmp(from, "{'execute': 'query-migrate'}");
        g_autofree char *t = json_to_string(q, false);
        g_autofree char *s = migrate_query_status(from);
        g_test_message("%s", t);
        g_assert_cmpstr(s, ==, "active");
    }
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    /* With the events capability: setup, active, cancelling, cancelled. */
    {
        const char *want[] = { "setup", "active", "cancelling", "cancelled" };
        for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
            JsonObject *ev = qtest_qmp_eventwait(from, "MIGRATION");
            JsonObject *d = json_object_get_object_member(ev, "data");
            g_assert_cmpstr(json_object_get_string_member(d, "status"), ==,
                            want[i]);
            json_object_unref(ev);
        }
    }
    g_assert_true(qtest_is_running(from));
    qtest_quit(to);

    /* A second migration to a fresh destination succeeds. */
    to = qtest_init("-m 128M -S -incoming defer");
    g_free(uri);
    uri = migrate_expand_uri("unix:@TMP@/migsocket2", 0);
    migrate_incoming_qmp(to, uri);
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) a = qtest_ram_digests(from);
        g_autoptr(GHashTable) b = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(a, b));
    }
    migrate_end(from, to);
}

static void bad_dest(bool stop_src)
{
    MigrateCommon args = {
        .connect_uri = "unix:/nonexistent/path/to/migsocket",
    };
    QTestState *from;
    MigrateStart start = { .workload = "stress,share=10" };
    g_autofree char *desc = NULL;
    g_autofree char *st = NULL;
    g_autoptr(GHashTable) before = NULL;

    /*
     * QEMU reports a bad socket either from migrate itself or as a
     * failed migration; accept both but require an error and a
     * running source.
     */
    migrate_start(&from, NULL, &start);
    if (stop_src) {
        qtest_qmp_assert_success(from, "{'execute': 'stop'}");
        before = qtest_ram_digests(from);
    }
    {
        g_autoptr(GError) err = NULL;
        JsonNode *r = qmp_client_cmdf(qtest_qmp_client(from), &err,
                                      "{'execute': 'migrate', 'arguments': "
                                      "{'uri': '%s'}}",
                                      args.connect_uri);
        if (r) {
            json_node_unref(r);
            desc = wait_for_migration_fail(from);
        } else {
            /* mapmig fails synchronously; QEMU returns {} then fails. */
            g_assert_true(err->domain == MAPMIG_ERROR);
            desc = g_strdup(err->message);
            g_test_message("migrate returned an error (QEMU: {} + failed)");
        }
    }
    {
        /* Either way query-migrate reports the failure. */
        g_autofree char *ms = migrate_query_status(from);
        g_assert_cmpstr(ms, ==, "failed");
    }
    g_test_message("error: %s", desc);
    g_assert_cmpstr(desc, !=, "");
    st = qtest_query_status(from, NULL);
    if (stop_src) {
        /* Still paused, and not one byte of RAM changed. */
        g_autoptr(GHashTable) after = qtest_ram_digests(from);
        g_assert_cmpstr(st, ==, "paused");
        g_assert_true(qtest_ram_digests_check(before, after));
    } else {
        g_assert_cmpstr(st, ==, "running");
    }
    qtest_quit(from);
}

static void test_bad_dest(void)
{
    bad_dest(false);
}

static void test_bad_dest_paused(void)
{
    bad_dest(true);
}

/* ---- accelerators ---- */

/*
 * The two accelerators' guests are different programs: a stream of one
 * must be refused by the other, naming the vCPU state.
 */
static void accel_mismatch(const char *src_accel, const char *dst_accel)
{
    g_autofree char *uri = migrate_expand_uri("file:@TMP@/migfile", 0);
    QTestState *from = qtest_initf("-accel %s -m 16M -workload ab", src_accel);
    QTestState *to =
        qtest_initf("-accel %s -m 16M -S -incoming defer", dst_accel);
    g_autofree char *desc = NULL;

    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    migrate_incoming_qmp(to, uri);
    desc = wait_for_migration_fail(to);
    g_test_message("%s -> %s: %s", src_accel, dst_accel, desc);
    g_assert_nonnull(strstr(desc, "cpu"));
    g_assert_nonnull(strstr(desc, "version"));
    migrate_end(from, to);
}

static void test_accel_mismatch_soft_to_kvm(void)
{
    accel_mismatch("soft", "kvm");
}

static void test_accel_mismatch_kvm_to_soft(void)
{
    accel_mismatch("kvm", "soft");
}

/* ---- the case table ---- */

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME
#define UNIX_URI "unix:@TMP@/migsocket"

static const MigrateCase precopy_cases[] = {
    { .path = "/migration/precopy/file",
      .accels = true,
      .args = { .connect_uri = FILE_URI, .load_after_save = true } },
    { .path = "/migration/precopy/file/offset",
      .args = { .connect_uri = FILE_URI ",offset=0x1000",
                .load_after_save = true,
                .start_hook = file_offset_start_hook,
                .end_hook = file_offset_end_hook } },
    /* The offset must be a number; "0x20M" is not. */
    { .path = "/migration/precopy/file/offset/bad",
      .args = { .connect_uri = FILE_URI ",offset=0x20M",
                .result = MIG_TEST_QMP_ERROR,
                .error_substr = "file URI has bad offset" } },
    { .path = "/migration/precopy/unix/plain",
      .args = { .connect_uri = UNIX_URI } },
    { .path = "/migration/precopy/tcp/plain",
      .args = { .connect_uri = "tcp:127.0.0.1:@PORT@" } },
    { .path = "/migration/precopy/fd",
      .args = { .listen_uri = "defer",
                .connect_uri = "fd:fd-mig",
                .start_hook = fd_start_hook } },
    { .path = "/migration/precopy/exec",
      .args = { .connect_uri = "exec:cat > @TMP@/" FILE_TEST_FILENAME,
                .listen_uri = "exec:cat @TMP@/" FILE_TEST_FILENAME,
                .load_after_save = true } },
    { .path = "/migration/precopy/unix/autostart",
      .accels = true,
      .args = { .start.target_no_S = true, .connect_uri = UNIX_URI } },
    /* live guests */
    { .path = "/migration/precopy/unix/stress/live",
      .accels = true,
      .args = { .start.workload = "stress,share=10",
                .connect_uri = UNIX_URI,
                .live = true } },
    { .path = "/migration/precopy/unix/ab/live",
      .accels = true,
      .args = { .start = { .workload = "ab", .mem = "16M" },
                .connect_uri = UNIX_URI,
                .live = true,
                .check_ab = true } },
    { .path = "/migration/precopy/unix/paused-src",
      .accels = true,
      .args = { .start = { .workload = "stress,share=10", .target_no_S = true },
                .connect_uri = UNIX_URI,
                .stop_src = true } },
    /* A guest saved while it runs resumes its own self-check on restore. */
    { .path = "/migration/precopy/file/ab/live",
      .accels = true,
      .args = { .start = { .workload = "ab", .mem = "16M" },
                .connect_uri = FILE_URI,
                .load_after_save = true,
                .live = true,
                .check_ab = true } },
};

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add_cases(precopy_cases, G_N_ELEMENTS(precopy_cases));
    migration_test_add("/migration/cancel", test_cancel);
    migration_test_add("/migration/bad_dest", test_bad_dest);
    migration_test_add("/migration/bad_dest/paused", test_bad_dest_paused);
    migration_test_add_kvm("/migration/kvm/accel-mismatch/soft-to-kvm",
                           test_accel_mismatch_soft_to_kvm);
    migration_test_add_kvm("/migration/kvm/accel-mismatch/kvm-to-soft",
                           test_accel_mismatch_kvm_to_soft);
    return migration_test_run();
}
