/*
 * Reliability: cancel and completion without leaked threads or fds,
 * ENOSPC and a destination killed mid-migration.  (QEMU 7.2
 * interoperability: interop-tests.c.)
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME

/* ---- resource counting ---- */

static int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n;
}

typedef struct Resources {
    int threads;
    int fds;
} Resources;

static Resources resources(QTestState *s)
{
    g_autofree char *task = g_strdup_printf("/proc/%d/task", qtest_pid(s));
    g_autofree char *fd = g_strdup_printf("/proc/%d/fd", qtest_pid(s));

    return (Resources){ count_dir_entries(task), count_dir_entries(fd) };
}

/*
 * The source holds as many threads and fds as before the migration,
 * allowing a second for the cleanup after the final state.
 */
static void check_no_leak(QTestState *s, Resources before)
{
    Resources now;

    for (int i = 0; i < 20; i++) {
        now = resources(s);
        if (now.threads == before.threads && now.fds == before.fds) {
            break;
        }
        qtest_msleep(50);
    }
    g_test_message("threads %d -> %d, fds %d -> %d", before.threads,
                   now.threads, before.fds, now.fds);
    g_assert_cmpint(now.threads, ==, before.threads);
    g_assert_cmpint(now.fds, ==, before.fds);
}

static void multifd_file_setup(QTestState *who, int channels)
{
    migrate_set_capability(who, "mapped-ram", true);
    migrate_set_capability(who, "multifd", true);
    migrate_set_parameter_int(who, "multifd-channels", channels);
}

/* ---- cancel / complete without leaks ---- */

static void test_multifd_file_cancel_no_leak(void)
{
    QTestState *from;
    MigrateStart start = { .mem = "128M", .workload = "stress,share=100" };
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *st = NULL;
    Resources before;

    migrate_start(&from, NULL, &start);
    multifd_file_setup(from, 4);
    g_assert_cmpuint(migrate_fill_ram(from, true, 1), >, 0);
    migrate_set_parameter_int(from, "max-bandwidth", 1 * MiB);
    before = resources(from);
    migrate_qmp(from, uri);
    qtest_msleep(300);
    {
        g_autofree char *s = migrate_query_status(from);
        g_assert_cmpstr(s, ==, "active");
    }
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    g_assert_true(qtest_is_running(from));
    check_no_leak(from, before);
    qtest_quit(from);
}

static void test_multifd_file_complete_no_leak(void)
{
    QTestState *from;
    MigrateStart start = { .mem = "64M", .workload = "stress,share=20" };
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    Resources before;

    migrate_start(&from, NULL, &start);
    multifd_file_setup(from, 4);
    before = resources(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    check_no_leak(from, before);
    qtest_quit(from);
}

static void test_multifd_unix_complete_no_leak(void)
{
    QTestState *from, *to;
    MigrateStart start = { .mem = "64M" };
    g_autofree char *uri = migrate_expand_uri("unix:@TMP@/migsocket", 0);
    Resources before;

    migrate_start(&from, &to, &start);
    for (int i = 0; i < 2; i++) {
        QTestState *who = i ? to : from;
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", 4);
    }
    g_assert_cmpuint(migrate_fill_ram(from, true, 2), >, 0);
    migrate_incoming_qmp(to, uri);
    before = resources(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    check_no_leak(from, before);
    {
        g_autoptr(GHashTable) a = qtest_ram_digests(from);
        g_autoptr(GHashTable) b = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(a, b));
    }
    migrate_end(from, to);
}

/* ---- ENOSPC ---- */

static void enospc(bool mapped_ram)
{
    g_autofree char *dir = g_strdup_printf("%s/small", tmpfs);
    g_autofree char *uri = NULL;
    g_autofree char *desc = NULL;
    g_autoptr(GHashTable) before = NULL;
    g_autoptr(GHashTable) after = NULL;
    MigrateStart start = { .mem = "64M", .workload = "stress,share=100" };
    QTestState *from;

    g_assert_cmpint(mkdir(dir, 0700), ==, 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=8m") < 0) {
        g_autofree char *why = g_strdup_printf("cannot mount a small tmpfs: "
                                               "%s",
                                               g_strerror(errno));
        rmdir(dir);
        g_test_skip(why);
        return;
    }
    uri = g_strdup_printf("file:%s/%s", dir, FILE_TEST_FILENAME);
    migrate_start(&from, NULL, &start);
    if (mapped_ram) {
        multifd_file_setup(from, 4);
    }
    /* Six pages in seven non-zero: far more than 8 MiB to write. */
    g_assert_cmpuint(migrate_fill_ram(from, true, 3), >, 0);
    qtest_msleep(100);
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    before = qtest_ram_digests(from);
    migrate_qmp(from, uri);
    desc = wait_for_migration_fail(from);
    g_test_message("error: %s", desc);
    g_assert_nonnull(strstr(desc, "No space left on device"));
    after = qtest_ram_digests(from);
    g_assert_true(qtest_ram_digests_check(before, after));
    {
        /* The failed save resumed the stopped-by-us guest?  It must not. */
        g_autofree char *st = qtest_query_status(from, NULL);
        g_assert_cmpstr(st, ==, "paused");
    }
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    qtest_msleep(50);
    g_assert_true(qtest_is_running(from));
    qtest_quit(from);
    g_assert_cmpint(umount(dir), ==, 0);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

static void test_precopy_file_enospc(void)
{
    enospc(false);
}

static void test_multifd_file_mapped_ram_enospc(void)
{
    enospc(true);
}

/* ---- destination killed ---- */

static void test_precopy_unix_dest_killed(void)
{
    QTestState *from, *to;
    MigrateStart start = { .mem = "64M", .workload = "stress,share=10" };
    g_autofree char *uri = migrate_expand_uri("unix:@TMP@/migsocket", 0);
    g_autofree char *uri2 = migrate_expand_uri("unix:@TMP@/migsocket2", 0);
    g_autofree char *desc = NULL;

    migrate_start(&from, &to, &start);
    g_assert_cmpuint(migrate_fill_ram(from, true, 4), >, 0);
    migrate_incoming_qmp(to, uri);
    migrate_set_parameter_int(from, "max-bandwidth", 1 * MiB);
    migrate_qmp(from, uri);
    qtest_msleep(300);
    {
        g_autofree char *s = migrate_query_status(from);
        g_assert_cmpstr(s, ==, "active");
    }
    g_assert_cmpint(kill(qtest_pid(to), SIGKILL), ==, 0);
    desc = wait_for_migration_fail(from);
    g_test_message("error: %s", desc);
    g_assert_true(qtest_is_running(from));
    qtest_quit(to);

    /* Still usable: migrate to a fresh destination. */
    to = qtest_init("-m 64M -S -incoming defer");
    migrate_incoming_qmp(to, uri2);
    migrate_ensure_non_converge(from);
    migrate_qmp(from, uri2);
    wait_for_migration_pass(from, 2);
    migrate_ensure_converge(from);
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

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/multifd/file/mapped-ram/cancel/no-leak",
                       test_multifd_file_cancel_no_leak);
    migration_test_add("/migration/multifd/file/mapped-ram/complete/no-leak",
                       test_multifd_file_complete_no_leak);
    migration_test_add("/migration/multifd/unix/complete/no-leak",
                       test_multifd_unix_complete_no_leak);
    migration_test_add("/migration/precopy/file/enospc",
                       test_precopy_file_enospc);
    migration_test_add("/migration/multifd/file/mapped-ram/enospc",
                       test_multifd_file_mapped_ram_enospc);
    migration_test_add("/migration/precopy/unix/dest-killed",
                       test_precopy_unix_dest_killed);
    return migration_test_run();
}
