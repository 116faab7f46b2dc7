/*
 * multifd migration: file: with mapped-ram + direct-io (every I/O
 * engine), fd sets, direct-io refusals, and multifd over sockets.
 * Shaped like QEMU's tests/qtest/migration/{file,multifd}-tests.c.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME
#define QEMU_VM_FILE_MAGIC 0x5145564d

/* ---- helpers ---- */

/*
 * Direct I/O tests need a disk file system (g_get_tmp_dir() may be
 * tmpfs): point the framework's scratch directory @TMP@ at a fresh
 * directory in /var/tmp for the duration of the test.  Returns the
 * previous scratch directory (restore with dio_scratch_end), or NULL
 * after g_test_skip().
 */
static char *dio_scratch_begin(void)
{
    g_autofree char *dir = g_strdup("/var/tmp/mapmig-dio-XXXXXX");
    char *old;

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
    old = tmpfs;
    tmpfs = g_steal_pointer(&dir);
    return old;
}

static void dio_scratch_end(char *old)
{
    qtest_remove_abort_dir(tmpfs);
    qtest_rmdir_files(tmpfs);
    g_free(tmpfs);
    tmpfs = old;
}

static char *migfile_path(void)
{
    return g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
}

static void set_bool_param(QTestState *who, const char *param, bool on)
{
    qtest_qmp_assert_success(
        who,
        "{'execute': 'migrate-set-parameters', 'arguments': "
        "{'%s': %s}}",
        param, on ? "true" : "false");
}

/* add-fd: returns the fd number inside the VM. */
static int64_t add_fd(QTestState *who, int64_t set, int fd)
{
    JsonObject *a = json_object_new();
    g_autoptr(JsonNode) r = NULL;

    json_object_set_int_member(a, "fdset-id", set);
    r = qtest_qmp_fd(who, fd, "add-fd", a);
    g_assert_cmpint(qmp_get_int(r, "fdset-id"), ==, set);
    return qmp_get_int(r, "fd");
}

static void open_and_add_fd(QTestState *who, int64_t set, const char *path,
                            int flags)
{
    int fd = open(path, flags, 0600);

    g_assert_cmpint(fd, >=, 0);
    add_fd(who, set, fd);
    close(fd);
}

static guint query_fdsets_len(QTestState *who)
{
    g_autoptr(JsonNode) r = qtest_qmp(who, "{'execute': 'query-fdsets'}");

    g_assert_true(JSON_NODE_HOLDS_ARRAY(r));
    return json_array_get_length(json_node_get_array(r));
}

/* ---- direct-io with every engine ---- */

static void dio_engine(const void *data)
{
    const char *engine = data;
    g_autofree char *old = NULL;
    g_autofree char *uri = NULL;
    g_autoptr(GHashTable) before = NULL;
    g_autoptr(GError) err = NULL;
    MigrateStart start = { .mem = "64M", .workload = "stress,share=50" };
    QTestState *from, *to;
    JsonNode *r;
    g_autofree char *why = NULL;

    if (!migrate_engine_available(engine, &why)) {
        g_test_skip(why);
        return;
    }
    old = dio_scratch_begin();
    if (!old) {
        return;
    }
    uri = migrate_expand_uri(FILE_URI, 0);
    migrate_start(&from, &to, &start);
    migrate_fill_ram(from, true, 1);
    qtest_msleep(100); /* let stress dirty some pages */
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    before = qtest_ram_digests(from);
    for (int i = 0; i < 2; i++) {
        QTestState *who = i ? to : from;
        migrate_set_capability(who, "mapped-ram", true);
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", 4);
        set_bool_param(who, "direct-io", true);
        migrate_set_parameter_str(who, "io-engine", engine);
    }

    r = qmp_client_cmdf(qtest_qmp_client(from), &err,
                        "{'execute': 'migrate', 'arguments': {'uri': '%s'}}",
                        uri);
    if (r) {
        g_autofree char *st = wait_for_migration_status_final(from);
        json_node_unref(r);
        if (!strcmp(st, "failed")) {
            g_autoptr(JsonNode) q =
                qtest_qmp(from, "{'execute': 'query-migrate'}");
            err = g_error_new(MAPMIG_ERROR, 0, "%s",
                              qmp_get_str(q, "error-desc"));
        } else {
            g_assert_cmpstr(st, ==, "completed");
        }
    }
    if (err) {
        g_printerr("migrate with io-engine %s: %s\n", engine, err->message);
        g_assert_not_reached();
    }

    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) src = qtest_ram_digests(from);
        g_autoptr(GHashTable) dst = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(before, src));
        g_assert_true(qtest_ram_digests_check(src, dst));
    }
    migrate_end(from, to);
    dio_scratch_end(g_steal_pointer(&old));
}

/* ---- fd sets ---- */

static void *fdset_dio_start_hook(QTestState *from, QTestState *to)
{
    g_autofree char *path = migfile_path();

    for (int i = 0; i < 2; i++) {
        set_bool_param(i ? to : from, "direct-io", true);
    }
    /* The source creates the file; the destination opens it after. */
    open_and_add_fd(from, 1, path, O_CREAT | O_WRONLY);
    open_and_add_fd(from, 1, path, O_CREAT | O_WRONLY | O_DIRECT);
    open_and_add_fd(to, 1, path, O_RDONLY);
    open_and_add_fd(to, 1, path, O_RDONLY | O_DIRECT);
    g_assert_cmpuint(query_fdsets_len(from), ==, 1);
    g_assert_cmpuint(query_fdsets_len(to), ==, 1);
    return NULL;
}

#define FILE_OFFSET 0x1000
#define HEADER_BYTE 0xa5

static void *fdset_offset_start_hook(QTestState *from, QTestState *to)
{
    g_autofree char *path = migfile_path();
    g_autofree uint8_t *hdr = g_malloc(FILE_OFFSET);
    g_autoptr(GError) err = NULL;

    memset(hdr, HEADER_BYTE, FILE_OFFSET);
    g_assert_true(g_file_set_contents(path, (char *)hdr, FILE_OFFSET, &err));
    g_assert_no_error(err);
    open_and_add_fd(from, 3, path, O_RDWR);
    open_and_add_fd(to, 3, path, O_RDWR);
    return NULL;
}

static void fdset_offset_end_hook(QTestState *from, QTestState *to,
                                  void *opaque)
{
    g_autofree char *path = migfile_path();
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

static void *fdset_start_hook(QTestState *from, QTestState *to)
{
    g_autofree char *path = migfile_path();

    open_and_add_fd(from, 2, path, O_CREAT | O_WRONLY);
    open_and_add_fd(to, 2, path, O_RDONLY);
    return NULL;
}

static void fdset_end_hook(QTestState *from, QTestState *to, void *opaque)
{
    for (int i = 0; i < 2; i++) {
        QTestState *who = i ? to : from;
        g_assert_cmpuint(query_fdsets_len(who), ==, 1);
        qtest_qmp_assert_success(who, "{'execute': 'remove-fd', "
                                      "'arguments': {'fdset-id': 2}}");
        g_assert_cmpuint(query_fdsets_len(who), ==, 0);
    }
}

/* ---- direct-io refusals ---- */

static void *dio_src_start_hook(QTestState *from, QTestState *to)
{
    set_bool_param(from, "direct-io", true);
    return NULL;
}

static void test_dio_unix_refused(void)
{
    QTestState *from;
    MigrateStart start = { .mem = "64M" };
    g_autofree char *uri = migrate_expand_uri("unix:@TMP@/migsocket", 0);
    g_autoptr(GHashTable) before = NULL;
    g_autoptr(GHashTable) after = NULL;
    g_autofree char *desc = NULL;
    g_autofree char *st = NULL;
    bool running;

    /* direct-io with everything it needs except a file: transport. */
    migrate_start(&from, NULL, &start);
    migrate_set_capability(from, "mapped-ram", true);
    migrate_set_capability(from, "multifd", true);
    /* RAM content, so an unchanged digest means something. */
    migrate_fill_ram(from, true, 1);
    dio_src_start_hook(from, NULL);
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    before = qtest_ram_digests(from);
    desc = qtest_qmp_expect_error(from,
                                  "{'execute': 'migrate', "
                                  "'arguments': {'uri': '%s'}}",
                                  uri);
    g_test_message("migrate refused: %s", desc);
    st = qtest_query_status(from, &running);
    g_assert_false(running);
    g_assert_cmpstr(st, ==, "paused");
    after = qtest_ram_digests(from);
    g_assert_true(qtest_ram_digests_check(before, after));
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    g_assert_true(qtest_is_running(from));
    qtest_quit(from);
    /* As QEMU: the transport's lack of extra fds is reported first. */
    g_assert_nonnull(strstr(desc, "extra fds"));
}

/* ---- multifd over sockets ---- */

static void *zstd_start_hook(QTestState *from, QTestState *to)
{
    migrate_set_parameter_str(from, "multifd-compression", "zstd");
    migrate_set_parameter_str(to, "multifd-compression", "zstd");
    return NULL;
}

/* ---- the case table ---- */

/* Where @TMP@ points while a case runs. */
typedef enum {
    SCRATCH_DEFAULT, /* the framework's per-test directory */
    SCRATCH_DIO,     /* /var/tmp (skip unless it does O_DIRECT) */
    SCRATCH_NO_DIO,  /* a file system that refuses O_DIRECT */
} Scratch;

typedef struct MultifdCase {
    const char *path;
    bool accels; /* also on KVM, under /migration/kvm/... */
    Scratch scratch;
    MigrateCommon args;
} MultifdCase;

/* Whether @TMP@ is a ramfs mounted by nodio_scratch_begin(). */
static bool nodio_mounted;

/*
 * A file system that refuses O_DIRECT as @TMP@: tmpfs did before Linux
 * 6.6; ramfs still does (it has no direct I/O), but mounting it needs
 * CAP_SYS_ADMIN.  The probe is an open(O_DIRECT) of our own.
 */
static char *nodio_scratch_begin(void)
{
    g_autofree char *dir = g_strdup("/dev/shm/mapmig-dio-XXXXXX");
    char *old;

    if (!g_mkdtemp(dir)) {
        g_test_skip("cannot create a directory in /dev/shm");
        return NULL;
    }
    if (migrate_dir_supports_odirect(dir)) {
        /* tmpfs of Linux >= 6.6: mount a ramfs over the directory. */
        if (mount("ramfs", dir, "ramfs", 0, "mode=0700") < 0) {
            g_autofree char *why = g_strdup_printf(
                "tmpfs does O_DIRECT (Linux >= 6.6) and ramfs cannot be "
                "mounted: %s",
                g_strerror(errno));
            rmdir(dir);
            g_test_skip(why);
            return NULL;
        }
        nodio_mounted = true;
        if (migrate_dir_supports_odirect(dir)) {
            umount(dir);
            nodio_mounted = false;
            rmdir(dir);
            g_test_skip("neither tmpfs nor ramfs refuses O_DIRECT here");
            return NULL;
        }
    }
    qtest_add_abort_dir(dir);
    old = tmpfs;
    tmpfs = g_steal_pointer(&dir);
    return old;
}

static void nodio_scratch_end(char *old)
{
    if (nodio_mounted) {
        /* The files go with the ramfs. */
        qtest_remove_abort_dir(tmpfs);
        g_assert_cmpint(umount(tmpfs), ==, 0);
        nodio_mounted = false;
        g_assert_cmpint(rmdir(tmpfs), ==, 0);
        g_free(tmpfs);
        tmpfs = old;
        return;
    }
    dio_scratch_end(old);
}

static void run_multifd_case(const void *data)
{
    const MultifdCase *c = data;
    MigrateCommon args = c->args;
    g_autofree char *old = NULL;

    if (c->scratch != SCRATCH_DEFAULT) {
        old = c->scratch == SCRATCH_DIO ? dio_scratch_begin()
                                        : nodio_scratch_begin();
        if (!old) {
            return;
        }
    }
    test_precopy_common(&args);
    if (c->scratch == SCRATCH_NO_DIO) {
        nodio_scratch_end(g_steal_pointer(&old));
    } else if (old) {
        dio_scratch_end(g_steal_pointer(&old));
    }
}

#define MULTIFD_4 .multifd_channels_src = 4, .multifd_channels_dst = 4
#define MULTIFD_UNIX(n)                                            \
    {                                                              \
        .start.mem = "64M", .connect_uri = "unix:@TMP@/migsocket", \
        .caps = { "multifd" }, .multifd_channels_src = (n),        \
        .multifd_channels_dst = (n),                               \
    }

static const MultifdCase multifd_cases[] = {
    /* fd sets */
    { .path = "/migration/multifd/file/mapped-ram/fdset/dio",
      .scratch = SCRATCH_DIO,
      .args = { .start = { .mem = "64M", .workload = "stress,share=20" },
                .connect_uri = "file:/dev/fdset/1",
                .load_after_save = true,
                .caps = { "mapped-ram", "multifd" },
                MULTIFD_4,
                .start_hook = fdset_dio_start_hook,
                .stop_src = true } },
    { .path = "/migration/precopy/file/offset/fdset",
      .scratch = SCRATCH_DEFAULT,
      .args = { .start.mem = "64M",
                .connect_uri = "file:/dev/fdset/3,offset=0x1000",
                .load_after_save = true,
                .start_hook = fdset_offset_start_hook,
                .end_hook = fdset_offset_end_hook } },
    { .path = "/migration/multifd/file/mapped-ram/fdset",
      .scratch = SCRATCH_DEFAULT,
      .args = { .start.mem = "64M",
                .connect_uri = "file:/dev/fdset/2",
                .load_after_save = true,
                .caps = { "mapped-ram", "multifd" },
                MULTIFD_4,
                .start_hook = fdset_start_hook,
                .end_hook = fdset_end_hook } },
    /* direct-io refusals, and the aligned offset that works */
    { .path = "/migration/multifd/file/mapped-ram/dio/no-multifd",
      .scratch = SCRATCH_DIO,
      .args = { .start.mem = "64M",
                .connect_uri = FILE_URI,
                .caps = { "mapped-ram" },
                .start_hook = dio_src_start_hook,
                .stop_src = true,
                .result = MIG_TEST_QMP_ERROR,
                .error_substr =
                    "direct-io needs the mapped-ram and multifd" } },
    /*
     * 0x100: below any file system's DIO alignment (>= 512).  The usual
     * example, 0x200, is aligned on ext4 over a 512-byte logical-block
     * disk (statx reports dio_offset_align 512).
     */
    { .path = "/migration/multifd/file/mapped-ram/dio/offset/bad",
      .scratch = SCRATCH_DIO,
      .args = { .start.mem = "64M",
                .connect_uri = FILE_URI ",offset=0x100",
                .caps = { "mapped-ram", "multifd" },
                .start_hook = dio_src_start_hook,
                .stop_src = true,
                .result = MIG_TEST_QMP_ERROR,
                .error_substr = "alignment" } },
    { .path = "/migration/multifd/file/mapped-ram/dio/offset",
      .scratch = SCRATCH_DIO,
      .args = { .start.mem = "64M",
                .connect_uri = FILE_URI ",offset=0x100000",
                .load_after_save = true,
                .caps = { "mapped-ram", "multifd" },
                .start_hook = dio_src_start_hook,
                .stop_src = true } },
    { .path = "/migration/multifd/file/mapped-ram/dio/no-odirect-fs",
      .scratch = SCRATCH_NO_DIO,
      .args = { .start.mem = "64M",
                .connect_uri = FILE_URI,
                .caps = { "mapped-ram", "multifd" },
                .start_hook = dio_src_start_hook,
                .stop_src = true,
                .result = MIG_TEST_QMP_ERROR,
                .error_substr = "O_DIRECT" } },
    /* multifd over sockets */
    { .path = "/migration/multifd/tcp/plain/none",
      .scratch = SCRATCH_DEFAULT,
      .args = { .start.mem = "64M",
                .connect_uri = "tcp:127.0.0.1:@PORT@",
                .caps = { "multifd" },
                MULTIFD_4 } },
    { .path = "/migration/multifd/tcp/plain/zstd",
      .scratch = SCRATCH_DEFAULT,
      .args = { .start.mem = "64M",
                .connect_uri = "tcp:127.0.0.1:@PORT@",
                .caps = { "multifd" },
                MULTIFD_4,
                .start_hook = zstd_start_hook } },
    { "/migration/multifd/unix/plain", true, SCRATCH_DEFAULT, MULTIFD_UNIX(2) },
    { "/migration/multifd/unix/plain/channels/1", false, SCRATCH_DEFAULT,
      MULTIFD_UNIX(1) },
    { "/migration/multifd/unix/plain/channels/4", false, SCRATCH_DEFAULT,
      MULTIFD_UNIX(4) },
    { "/migration/multifd/unix/plain/channels/16", false, SCRATCH_DEFAULT,
      MULTIFD_UNIX(16) },
    { .path = "/migration/multifd/unix/stress/live",
      .accels = true,
      .scratch = SCRATCH_DEFAULT,
      .args = { .start = { .mem = "64M", .workload = "stress,share=10" },
                .connect_uri = "unix:@TMP@/migsocket",
                .caps = { "multifd" },
                MULTIFD_4,
                .live = true } },
};

/* direct-io saves and restores with each I/O engine (dio_engine()). */
static const struct {
    const char *path;
    const char *engine;
    bool accels;
} dio_engine_cases[] = {
    { "/migration/multifd/file/mapped-ram/dio/psync", "psync", true },
    { "/migration/multifd/file/mapped-ram/dio/io-uring", "io-uring", false },
    { "/migration/multifd/file/mapped-ram/dio/libaio", "libaio", false },
};

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(dio_engine_cases); i++) {
        migration_test_add_data(dio_engine_cases[i].path, dio_engine,
                                dio_engine_cases[i].engine,
                                dio_engine_cases[i].accels);
    }
    for (size_t i = 0; i < G_N_ELEMENTS(multifd_cases); i++) {
        migration_test_add_data(multifd_cases[i].path, run_multifd_case,
                                &multifd_cases[i], multifd_cases[i].accels);
    }
    migration_test_add("/migration/multifd/unix/dio/refused",
                       test_dio_unix_refused);
    return migration_test_run();
}
