/*
 * Hard checks of what migration options promise, seen from outside the
 * process rather than taken from its own reports:
 *
 *  - direct-io: while a save or a restore runs, the mapmig process holds
 *    descriptors on the migration file with O_DIRECT in the flags of
 *    /proc/PID/fdinfo (a silent fallback to buffered I/O fails);
 *  - max-bandwidth: a save of N bytes at L bytes/s takes at least about
 *    N / L by the test's own clock (the precision is the benchmark's
 *    business, not this test's).
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <fcntl.h>

#define MEM "64M"
/* Each multifd channel holds an O_DIRECT descriptor on the file. */
#define DIO_CHANNELS 4

/* ---- helpers ---- */

static const char *fault_binary(void)
{
    const char *bin = g_getenv("MAPMIG_FAULT_BINARY");

    g_assert_nonnull(bin);
    return bin;
}

/* A fresh directory on a file system that does O_DIRECT, or NULL (skip). */
static char *dio_dir(void)
{
    g_autofree char *dir = g_strdup("/var/tmp/mapmig-opts-XXXXXX");

    if (!g_mkdtemp(dir)) {
        g_test_skip("cannot create a directory in /var/tmp");
        return NULL;
    }
    if (!migrate_dir_supports_odirect(dir)) {
        rmdir(dir);
        g_test_skip("/var/tmp does not support O_DIRECT");
        return NULL;
    }
    qtest_add_abort_dir(dir);
    return g_steal_pointer(&dir);
}

static void dio_setup(QTestState *who, const char *engine)
{
    migrate_set_capability(who, "mapped-ram", true);
    migrate_set_capability(who, "multifd", true);
    migrate_set_parameter_int(who, "multifd-channels", DIO_CHANNELS);
    qtest_qmp_assert_success(who, "{'execute': 'migrate-set-parameters', "
                                  "'arguments': {'direct-io': true}}");
    migrate_set_parameter_str(who, "io-engine", engine);
}

/*
 * Poll @who's descriptors on @path until its migration ends; returns the
 * most O_DIRECT descriptors seen at once (*seen: the most descriptors on
 * the file at once).  Asserts the migration completed.
 */
static int watch_odirect(QTestState *who, const char *path, int *seen)
{
    int most = 0;

    *seen = 0;
    for (;;) {
        g_autofree char *st = migrate_query_status(who);
        int od;
        int n = migrate_fds_on_file(qtest_pid(who), path, &od);

        *seen = MAX(*seen, n);
        most = MAX(most, od);
        if (!strcmp(st, "completed") || !strcmp(st, "failed") ||
            !strcmp(st, "cancelled")) {
            g_assert_cmpstr(st, ==, "completed");
            return most;
        }
        g_usleep(2000);
    }
}

/* ---- direct-io: O_DIRECT in fdinfo during the save and the restore */

#define SLOW_IO(op) "MAPMIG_FAULT=op=" op ",delay=5000,path=" FILE_TEST_FILENAME

static void test_dio_fdinfo(const void *data)
{
    const char *engine = data;
    g_autofree char *why = NULL;
    g_autofree char *dir = NULL;
    g_autofree char *path = NULL;
    g_autofree char *uri = NULL;
    g_autofree char *args = NULL;
    QTestState *from, *to;
    int seen, od;

    if (!migrate_engine_available(engine, &why)) {
        g_test_skip(why);
        return;
    }
    dir = dio_dir();
    if (!dir) {
        return;
    }
    path = g_strdup_printf("%s/%s", dir, FILE_TEST_FILENAME);
    uri = g_strdup_printf("file:%s", path);

    /*
     * A save or a restore goes as fast as the disk, and max-bandwidth
     * does not slow multifd channels (see test_max_bandwidth): the test
     * build mapmig-fault (mapmig's objects, io/ with the fault hooks of
     * include/io/fault.h) delays every I/O on the file by 5 ms so the
     * poll cannot miss the descriptors.
     */
    args = g_strdup_printf("-accel %s -m %s -M mini -workload idle",
                           migrate_accel, MEM);
    from = qtest_init_full(fault_binary(), SLOW_IO("write"), args);
    g_assert_cmpuint(migrate_fill_ram(from, true, 1), >, 0);
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    dio_setup(from, engine);
    migrate_set_parameter_int(from, "max-bandwidth", 0);
    migrate_qmp(from, uri);
    od = watch_odirect(from, path, &seen);
    g_test_message("save (%s): up to %d descriptors on the file, %d O_DIRECT",
                   engine, seen, od);
    g_assert_cmpint(od, >=, DIO_CHANNELS);

    g_free(args);
    args = g_strdup_printf("-accel %s -m %s -M mini -S -incoming defer",
                           migrate_accel, MEM);
    to = qtest_init_full(fault_binary(), SLOW_IO("read"), args);
    dio_setup(to, engine);
    migrate_incoming_qmp(to, uri);
    od = watch_odirect(to, path, &seen);
    g_test_message("restore (%s): up to %d descriptors on the file, %d "
                   "O_DIRECT",
                   engine, seen, od);
    g_assert_cmpint(od, >=, DIO_CHANNELS);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));

    migrate_end(from, to);
    qtest_remove_abort_dir(dir);
    qtest_rmdir_files(dir);
}

/* ---- max-bandwidth is applied ---- */

#define LIMIT (32 * MiB)

typedef struct BandwidthCase {
    bool mapped_ram;
    int multifd_channels; /* 0: no multifd */
} BandwidthCase;

static void test_max_bandwidth(const void *data)
{
    const BandwidthCase *c = data;
    g_autofree char *uri = migrate_expand_uri("file:@TMP@/migfile", 0);
    MigrateStart start = { .mem = MEM };
    QTestState *from;

    migrate_start(&from, NULL, &start);
    g_assert_cmpuint(migrate_fill_ram(from, true, 1), >, 0);
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    if (c->mapped_ram) {
        migrate_set_capability(from, "mapped-ram", true);
    }
    if (c->multifd_channels) {
        migrate_set_capability(from, "multifd", true);
        migrate_set_parameter_int(from, "multifd-channels",
                                  c->multifd_channels);
    }
    migrate_set_parameter_int(from, "max-bandwidth", LIMIT);

    int64_t t0 = g_get_monotonic_time();
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    double secs = (g_get_monotonic_time() - t0) / 1e6;

    g_autoptr(JsonNode) r = qtest_qmp(from, "{'execute': 'query-migrate'}");
    JsonObject *ram =
        json_object_get_object_member(json_node_get_object(r), "ram");
    uint64_t bytes = json_object_get_int_member(ram, "transferred");
    double floor_secs = (double)bytes / LIMIT;

    g_test_message("%s, %d multifd channels: %" PRIu64 " bytes in %.2f s "
                   "at a %d MiB/s limit (%.2f s at the limit)",
                   c->mapped_ram ? "mapped-ram" : "stream", c->multifd_channels,
                   bytes, secs, (int)(LIMIT / MiB), floor_secs);
    /* Enough data that an unlimited save would be far quicker. */
    g_assert_cmpuint(bytes, >=, 48 * MiB);
    /* Applied: a burst allowance may shave a little off, not more. */
    g_assert_cmpfloat(secs, >=, 0.7 * floor_secs);
    qtest_quit(from);
}

static const struct {
    const char *path;
    BandwidthCase c;
} bandwidth_cases[] = {
    { "/migration/options/max-bandwidth/stream", { false, 0 } },
    { "/migration/options/max-bandwidth/mapped-ram", { true, 0 } },
    { "/migration/options/max-bandwidth/mapped-ram/multifd", { true, 4 } },
};

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add_data("/migration/options/dio/fdinfo/psync",
                            test_dio_fdinfo, "psync", false);
    migration_test_add_data("/migration/options/dio/fdinfo/io-uring",
                            test_dio_fdinfo, "io-uring", false);
    migration_test_add_data("/migration/options/dio/fdinfo/libaio",
                            test_dio_fdinfo, "libaio", false);
    for (size_t i = 0; i < G_N_ELEMENTS(bandwidth_cases); i++) {
        migration_test_add_data(bandwidth_cases[i].path, test_max_bandwidth,
                                &bandwidth_cases[i].c, false);
    }
    return migration_test_run();
}
