/*
 * Faults: I/O errors of the disk (EIO on write during a save, on read
 * during a restore), the source SIGKILLed in the middle of a save, 100
 * cancels at random moments, and the destination killed during a restore
 * from a file and during a live multifd migration.
 *
 * In every case: a clear error, the source keeps running with its memory
 * unchanged (the guests run the idle workload, so any change would be the
 * migration's), no thread or fd left behind, no crash, and the source can
 * still migrate.
 *
 * The EIO and slow-disk cases run tests/qtest/mapmig-fault ($MAPMIG_FAULT_
 * BINARY), mapmig built with the test-only hooks of include/io/fault.h;
 * the device-mapper "error" target would be the real thing, but it needs
 * the dm kernel driver, which containers and small VMs often lack.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <signal.h>
#include <sys/wait.h>

#define VM_ARGS "-M mini -m 64M"

static const char *fault_binary(void)
{
    const char *bin = g_getenv("MAPMIG_FAULT_BINARY");

    g_assert_nonnull(bin);
    return bin;
}

static QTestState *fault_vm(const char *rule, const char *args)
{
    g_autofree char *env = g_strdup_printf("MAPMIG_FAULT=%s", rule);

    return qtest_init_full(fault_binary(), env, args);
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmpfs, name, NULL);
}

/* The layouts under test: the classic stream, and mapped-ram + multifd. */
typedef enum { LAYOUT_STREAM, LAYOUT_MAPPED_RAM } Layout;

static void setup_layout(QTestState *who, Layout l, const char *engine)
{
    migrate_set_parameter_int(who, "max-bandwidth", 0);
    if (l == LAYOUT_MAPPED_RAM) {
        migrate_set_capability(who, "mapped-ram", true);
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", 4);
        migrate_set_parameter_str(who, "io-engine", engine ? engine : "psync");
    }
}

/*
 * Distinct pages in every block: far more data than the faults wait
 * for, and a page landing at the wrong offset changes the digest.
 */
static void fill_ram(QTestState *who)
{
    g_assert_cmpuint(migrate_fill_ram(who, true, 1), >, 0);
}

/* Restore @path into a fresh mapmig and compare with @digests. */
static void restore_and_compare(const char *path, Layout l, GHashTable *digests)
{
    QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    setup_layout(to, l, NULL);
    migrate_load_and_check(to, uri, digests);
}

/* The source is running, unchanged and holds what it held before. */
static void check_source_intact(QTestState *from, GHashTable *before,
                                MigResources res)
{
    g_autoptr(GHashTable) after = qtest_ram_digests(from);

    g_assert_true(qtest_is_running(from));
    g_assert_true(qtest_ram_digests_check(before, after));
    migrate_check_no_leak(from, res);
}

/* ---- EIO while saving ---- */

static void eio_on_save(Layout l, const char *engine)
{
    g_autofree char *bad = tmp_path("migfile-eio");
    g_autofree char *good = tmp_path("migfile-good");
    g_autofree char *bad_uri = g_strdup_printf("file:%s", bad);
    g_autofree char *good_uri = g_strdup_printf("file:%s", good);
    g_autoptr(GHashTable) before = NULL;
    g_autofree char *desc = NULL;
    g_autofree char *why = NULL;
    QTestState *from;

    if (engine && !migrate_engine_available(engine, &why)) {
        g_test_skip(why);
        return;
    }
    /* Only the first file fails, after 4 MiB reached it. */
    from =
        fault_vm("op=write,errno=EIO,after=4194304,path=migfile-eio", VM_ARGS);

    setup_layout(from, l, engine);
    fill_ram(from);
    before = qtest_ram_digests(from);
    MigResources res = migrate_resources(from);

    migrate_qmp(from, bad_uri);
    desc = wait_for_migration_fail(from);
    g_test_message("error: %s", desc);
    g_assert_nonnull(strstr(desc, "Input/output error"));
    check_source_intact(from, before, res);

    /* The same source saves fine to a sound file. */
    migrate_qmp(from, good_uri);
    wait_for_migration_complete(from);
    restore_and_compare(good, l, before);
    qtest_quit(from);
}

static void test_eio_save_stream(void)
{
    eio_on_save(LAYOUT_STREAM, NULL);
}

static void test_eio_save_mapped_ram_psync(void)
{
    eio_on_save(LAYOUT_MAPPED_RAM, "psync");
}

static void test_eio_save_mapped_ram_io_uring(void)
{
    eio_on_save(LAYOUT_MAPPED_RAM, "io-uring");
}

/* ---- EIO while restoring ---- */

static void eio_on_restore(Layout l)
{
    g_autofree char *path = tmp_path("migfile");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init(VM_ARGS);
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *sha = NULL, *sha_after = NULL, *desc = NULL;

    setup_layout(from, l, NULL);
    fill_ram(from);
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    digests = qtest_ram_digests(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    sha = migrate_file_sha256(path);

    QTestState *to = fault_vm("op=read,errno=EIO,after=1048576,path=migfile",
                              VM_ARGS " -S -incoming defer");
    setup_layout(to, l, NULL);
    migrate_incoming_qmp(to, uri);
    desc = wait_for_migration_fail(to);
    g_test_message("destination error: %s", desc);
    g_assert_nonnull(strstr(desc, "Input/output error"));
    /* The run state follows the status from the main loop. */
    wait_for_incoming_done(to);
    {
        /* Alive, answering, and refusing to run half-loaded RAM. */
        g_autofree char *st = qtest_query_status(to, NULL);
        g_assert_cmpstr(st, ==, "internal-error");
        g_autofree char *e = qtest_qmp_expect_error(to, "{'execute': 'cont'}");
        g_assert_nonnull(e);
    }
    qtest_quit(to);

    /* Reading did not change the file; it restores on a sound disk. */
    sha_after = migrate_file_sha256(path);
    g_assert_cmpstr(sha, ==, sha_after);
    restore_and_compare(path, l, digests);
    qtest_quit(from);
}

static void test_eio_restore_stream(void)
{
    eio_on_restore(LAYOUT_STREAM);
}

static void test_eio_restore_mapped_ram(void)
{
    eio_on_restore(LAYOUT_MAPPED_RAM);
}

/* ---- the source killed during a save ---- */

static int64_t transferred(QTestState *who)
{
    g_autoptr(JsonNode) r = qtest_qmp(who, "{'execute': 'query-migrate'}");
    JsonObject *o = json_node_get_object(r);

    if (!json_object_has_member(o, "ram")) {
        return 0;
    }
    return qmp_get_int(json_object_get_member(o, "ram"), "transferred");
}

/* Poll until @who's migration moved at least @bytes (and still runs). */
static void wait_transferred(QTestState *who, int64_t bytes)
{
    for (int i = 0; i < 3000 && transferred(who) < bytes; i++) {
        qtest_msleep(10);
    }
    g_autofree char *st = migrate_query_status(who);
    g_assert_cmpstr(st, ==, "active");
    g_assert_cmpint(transferred(who), >=, bytes);
}

/* mapmig-img check FILE: exit status and output (caller frees). */
static int img_check(const char *path, char **output)
{
    const char *img = g_getenv("MAPMIG_IMG");
    const char *argv[] = { img, "check", path, NULL };
    g_autofree char *out = NULL, *err_out = NULL;
    g_autoptr(GError) err = NULL;
    int status;

    g_assert_nonnull(img);
    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out,
                               &err_out, &status, &err));
    g_assert_no_error(err);
    *output = g_strconcat(out, err_out, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void source_killed(Layout l)
{
    g_autofree char *path = tmp_path("migfile");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init(VM_ARGS);
    g_autofree char *check = NULL, *desc = NULL;

    setup_layout(from, l, NULL);
    fill_ram(from);
    /* 33 MiB of data at 4 MiB/s: about 8 s, killed after the first MiB. */
    migrate_set_parameter_int(from, "max-bandwidth", 4 * MiB);
    migrate_qmp(from, uri);
    wait_transferred(from, 1 * MiB);
    g_assert_cmpint(kill(qtest_pid(from), SIGKILL), ==, 0);
    qtest_quit(from);

    /* The tool says the file is incomplete, with where and why. */
    int rc = img_check(path, &check);
    g_test_message("mapmig-img check: %s", check);
    g_assert_cmpint(rc, ==, 1);
    g_assert_nonnull(strstr(check, "ERROR offset 0x"));
    g_assert_true(strstr(check, "truncated") || strstr(check, "end of file"));

    /* The loader refuses it with a clear error and stays up. */
    QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");
    setup_layout(to, l, NULL);
    migrate_incoming_qmp(to, uri);
    desc = wait_for_migration_fail(to);
    g_test_message("destination error: %s", desc);
    g_assert_true(strstr(desc, "end of migration stream") ||
                  strstr(desc, "end of file"));
    wait_for_incoming_done(to);
    {
        g_autofree char *st = qtest_query_status(to, NULL);
        g_assert_cmpstr(st, ==, "internal-error");
    }
    qtest_quit(to);
}

static void test_source_killed_stream(void)
{
    source_killed(LAYOUT_STREAM);
}

static void test_source_killed_mapped_ram(void)
{
    source_killed(LAYOUT_MAPPED_RAM);
}

/* ---- 100 cancels at random moments ---- */

/* xorshift64*, fixed seed: the same delays on every run. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dULL;
}

#define CANCELS 100

static void test_cancel_random(void)
{
    /*
     * Each migrate truncates the last attempt's file; on a disk file
     * system freeing its blocks costs tens of ms, on tmpfs nothing.
     */
    g_autofree char *shm = g_strdup("/dev/shm/mapmig-cancel-XXXXXX");
    bool on_shm = g_mkdtemp(shm) != NULL;
    g_autofree char *path =
        on_shm ? g_build_filename(shm, "migfile", NULL) : tmp_path("migfile");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init(VM_ARGS);
    g_autoptr(GHashTable) before = NULL;
    uint64_t rng = 0x6d61706d69672121ULL;
    unsigned cancelled = 0, completed = 0;

    if (on_shm) {
        qtest_add_abort_dir(shm); /* removed even if the test fails */
    }
    fill_ram(from);
    before = qtest_ram_digests(from);
    /* Baseline with the multifd setting in place but nothing running. */
    migrate_set_parameter_int(from, "max-bandwidth", 0);
    migrate_set_parameter_int(from, "multifd-channels", 4);
    MigResources res = migrate_resources(from);

    for (int i = 0; i < CANCELS; i++) {
        /* Odd rounds: mapped-ram with 4 multifd channels. */
        bool mapped = i % 2;
        unsigned delay_us = rng_next(&rng) % 40000;

        migrate_set_capability(from, "mapped-ram", mapped);
        migrate_set_capability(from, "multifd", mapped);
        migrate_qmp(from, uri);
        g_usleep(delay_us);
        qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
        g_autofree char *st = wait_for_migration_status_final(from);
        if (!strcmp(st, "completed")) {
            /* The cancel came too late: fine, the guest goes on. */
            completed++;
            qtest_qmp_assert_success(from, "{'execute': 'cont'}");
        } else {
            g_assert_cmpstr(st, ==, "cancelled");
            cancelled++;
        }
        g_assert_true(qtest_is_running(from));
    }
    g_test_message("%d cancels: %u cancelled, %u completed first", CANCELS,
                   cancelled, completed);
    g_assert_cmpuint(cancelled, >, 0);
    migrate_set_capability(from, "mapped-ram", false);
    migrate_set_capability(from, "multifd", false);
    check_source_intact(from, before, res);

    /* And it still migrates, to the very same memory. */
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    restore_and_compare(path, LAYOUT_STREAM, before);
    qtest_quit(from);
    if (on_shm) {
        qtest_rmdir_files(shm);
        qtest_remove_abort_dir(shm);
    }
}

/* ---- the destination killed ---- */

/* Restore from a file on a slow disk, killed half-way. */
static void test_dest_killed_restore(void)
{
    g_autofree char *path = tmp_path("migfile");
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init(VM_ARGS);
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *sha = NULL, *sha_after = NULL;

    migrate_set_parameter_int(from, "max-bandwidth", 0);
    fill_ram(from);
    digests = qtest_ram_digests(from);
    MigResources res = migrate_resources(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    sha = migrate_file_sha256(path);

    /* 3 ms per read of the file: the load takes seconds. */
    QTestState *to =
        fault_vm("op=read,delay=3000,path=migfile", VM_ARGS " -S -incoming "
                                                            "defer");
    migrate_incoming_qmp(to, uri);
    for (int i = 0; i < 500; i++) {
        g_autofree char *st = migrate_query_status(to);
        if (!strcmp(st, "active")) {
            break;
        }
        qtest_msleep(10);
    }
    qtest_msleep(300);
    {
        g_autofree char *st = migrate_query_status(to);
        g_assert_cmpstr(st, ==, "active");
    }
    g_assert_cmpint(kill(qtest_pid(to), SIGKILL), ==, 0);
    qtest_quit(to);

    /* The file and the source are as they were; a restore works. */
    sha_after = migrate_file_sha256(path);
    g_assert_cmpstr(sha, ==, sha_after);
    check_source_intact(from, digests, res);
    restore_and_compare(path, LAYOUT_STREAM, digests);
    qtest_quit(from);
}

/* A live multifd migration over a UNIX socket, destination killed. */
static void test_dest_killed_multifd_socket(void)
{
    g_autofree char *sock = tmp_path("migsocket");
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    g_autofree char *sock2 = tmp_path("migsocket2");
    g_autofree char *uri2 = g_strdup_printf("unix:%s", sock2);
    QTestState *from = qtest_init(VM_ARGS);
    QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");
    g_autoptr(GHashTable) before = NULL;
    g_autofree char *desc = NULL;

    for (int i = 0; i < 2; i++) {
        QTestState *who = i ? to : from;
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", 4);
    }
    fill_ram(from);
    before = qtest_ram_digests(from);
    MigResources res = migrate_resources(from);
    migrate_incoming_qmp(to, uri);
    migrate_set_parameter_int(from, "max-bandwidth", 8 * MiB);
    migrate_qmp(from, uri);
    wait_transferred(from, 2 * MiB);
    g_assert_cmpint(kill(qtest_pid(to), SIGKILL), ==, 0);
    qtest_quit(to);

    desc = wait_for_migration_fail(from);
    g_test_message("source error: %s", desc);
    check_source_intact(from, before, res);

    /* A second destination gets the same memory. */
    to = qtest_init(VM_ARGS " -S -incoming defer");
    migrate_set_capability(to, "multifd", true);
    migrate_set_parameter_int(to, "multifd-channels", 4);
    migrate_incoming_qmp(to, uri2);
    migrate_set_parameter_int(from, "max-bandwidth", 0);
    migrate_qmp(from, uri2);
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(before, got));
    }
    migrate_end(from, to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/fault/eio/save/stream",
                       test_eio_save_stream);
    migration_test_add("/migration/fault/eio/save/mapped-ram/psync",
                       test_eio_save_mapped_ram_psync);
    migration_test_add("/migration/fault/eio/save/mapped-ram/io-uring",
                       test_eio_save_mapped_ram_io_uring);
    migration_test_add("/migration/fault/eio/restore/stream",
                       test_eio_restore_stream);
    migration_test_add("/migration/fault/eio/restore/mapped-ram",
                       test_eio_restore_mapped_ram);
    migration_test_add("/migration/fault/source-killed/stream",
                       test_source_killed_stream);
    migration_test_add("/migration/fault/source-killed/mapped-ram",
                       test_source_killed_mapped_ram);
    migration_test_add("/migration/fault/cancel/random-100",
                       test_cancel_random);
    migration_test_add("/migration/fault/dest-killed/restore",
                       test_dest_killed_restore);
    migration_test_add("/migration/fault/dest-killed/multifd-socket",
                       test_dest_killed_multifd_socket);
    return migration_test_run();
}
