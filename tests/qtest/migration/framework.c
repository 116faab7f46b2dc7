/*
 * Migration test framework (see framework.h).
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <sys/socket.h>

char *tmpfs;
const char *migrate_accel = "soft";

#define MIG_TIMEOUT_MS 120000

char *migrate_expand_uri(const char *uri, int port)
{
    g_auto(GStrv) a = NULL;
    g_autofree char *t = NULL;
    g_auto(GStrv) b = NULL;
    g_autofree char *p = g_strdup_printf("%d", port);

    a = g_strsplit(uri, "@TMP@", -1);
    t = g_strjoinv(tmpfs, a);
    b = g_strsplit(t, "@PORT@", -1);
    return g_strjoinv(p, b);
}

int migrate_free_port(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&a, &len), ==, 0);
    close(fd);
    return ntohs(a.sin_port);
}

void migrate_start(QTestState **from, QTestState **to, const MigrateStart *args)
{
    const char *mem = args->mem ? args->mem : "128M";
    const char *machine = args->machine ? args->machine : "mini";

    g_autofree char *accel = g_strdup_printf("-accel %s", migrate_accel);

    *from = qtest_initf("%s -m %s -M %s -workload %s %s", accel, mem, machine,
                        args->workload ? args->workload : "idle",
                        args->opts_source ? args->opts_source : "");
    /* Unlimited bandwidth: the 128 MiB/s default only slows tests. */
    migrate_set_parameter_int(*from, "max-bandwidth", 0);
    if (to) {
        *to = qtest_initf("%s -m %s -M %s %s -incoming defer %s", accel, mem,
                          machine, args->target_no_S ? "" : "-S",
                          args->opts_target ? args->opts_target : "");
    }
}

void migrate_end(QTestState *from, QTestState *to)
{
    qtest_quit(from);
    qtest_quit(to);
}

void migrate_set_capability(QTestState *who, const char *cap, bool state)
{
    qtest_qmp_assert_success(
        who,
        "{'execute': 'migrate-set-capabilities', 'arguments': "
        "{'capabilities': [{'capability': '%s', 'state': %s}]}}",
        cap, state ? "true" : "false");
}

void migrate_set_parameter_int(QTestState *who, const char *param,
                               int64_t value)
{
    qtest_qmp_assert_success(
        who,
        "{'execute': 'migrate-set-parameters', 'arguments': "
        "{'%s': %" PRId64 "}}",
        param, value);
}

void migrate_set_parameter_str(QTestState *who, const char *param,
                               const char *value)
{
    qtest_qmp_assert_success(
        who,
        "{'execute': 'migrate-set-parameters', 'arguments': "
        "{'%s': '%s'}}",
        param, value);
}

void migrate_ensure_converge(QTestState *who)
{
    migrate_set_parameter_int(who, "max-bandwidth", 0);
    migrate_set_parameter_int(who, "downtime-limit", 30000);
}

void migrate_ensure_non_converge(QTestState *who)
{
    /*
     * A bandwidth limit makes passes long enough for the workload to
     * dirty pages in each, and a zero downtime limit switches over only
     * when a pass ends with nothing dirty.  (With 1 ms, a KVM guest
     * starved of CPU on a loaded host could dirty under 1 ms worth of
     * data, 8 pages, in a short pass and converge before the test let it.)
     */
    migrate_set_parameter_int(who, "max-bandwidth", 32 * MiB);
    migrate_set_parameter_int(who, "downtime-limit", 0);
}

int64_t migrate_dirty_sync_count(QTestState *who)
{
    g_autoptr(JsonNode) r = qtest_qmp(who, "{'execute': 'query-migrate'}");
    JsonObject *o = json_node_get_object(r);

    if (!json_object_has_member(o, "ram")) {
        return 0;
    }
    return qmp_get_int(json_object_get_member(o, "ram"), "dirty-sync-count");
}

void migrate_qmp(QTestState *who, const char *uri)
{
    qtest_qmp_assert_success(who,
                             "{'execute': 'migrate', 'arguments': "
                             "{'uri': '%s'}}",
                             uri);
}

void migrate_incoming_qmp(QTestState *who, const char *uri)
{
    qtest_qmp_assert_success(who,
                             "{'execute': 'migrate-incoming', "
                             "'arguments': {'uri': '%s'}}",
                             uri);
}

static JsonNode *query_migrate(QTestState *who)
{
    return qtest_qmp(who, "{'execute': 'query-migrate'}");
}

char *migrate_query_status(QTestState *who)
{
    g_autoptr(JsonNode) r = query_migrate(who);

    return g_strdup(qmp_get_str(r, "status"));
}

static bool is_final(const char *st)
{
    return !g_strcmp0(st, "completed") || !g_strcmp0(st, "failed") ||
           !g_strcmp0(st, "cancelled");
}

char *wait_for_migration_status_final(QTestState *who)
{
    int64_t deadline = qemu_clock_ms() + MIG_TIMEOUT_MS;

    for (;;) {
        char *st = migrate_query_status(who);
        if (is_final(st)) {
            return st;
        }
        if (qemu_clock_ms() > deadline) {
            g_printerr("migration stuck in status %s\n", st);
            g_assert_not_reached();
        }
        g_free(st);
        qtest_msleep(10);
    }
}

void wait_for_migration_complete(QTestState *who)
{
    g_autofree char *st = wait_for_migration_status_final(who);

    if (g_strcmp0(st, "completed")) {
        g_autoptr(JsonNode) r = query_migrate(who);
        g_printerr("migration ended in %s: %s\n", st,
                   qmp_get_str(r, "error-desc"));
    }
    g_assert_cmpstr(st, ==, "completed");
}

char *wait_for_migration_fail(QTestState *who)
{
    g_autofree char *st = wait_for_migration_status_final(who);
    g_autoptr(JsonNode) r = query_migrate(who);
    const char *desc = qmp_get_str(r, "error-desc");

    g_assert_cmpstr(st, ==, "failed");
    g_assert_nonnull(desc);
    return g_strdup(desc);
}

void wait_for_migration_pass(QTestState *who, int64_t n)
{
    int64_t deadline = qemu_clock_ms() + MIG_TIMEOUT_MS;

    for (;;) {
        g_autoptr(JsonNode) r = query_migrate(who);
        JsonObject *o = json_node_get_object(r);
        const char *st = qmp_get_str(r, "status");

        if (is_final(st)) {
            return;
        }
        if (json_object_has_member(o, "ram")) {
            JsonNode *ram = json_object_get_member(o, "ram");
            if (qmp_get_int(ram, "dirty-sync-count") >= n) {
                return;
            }
        }
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(10);
    }
}

void wait_for_incoming_done(QTestState *to)
{
    int64_t deadline = qemu_clock_ms() + MIG_TIMEOUT_MS;

    for (;;) {
        g_autofree char *st = qtest_query_status(to, NULL);
        if (g_strcmp0(st, "inmigrate")) {
            return;
        }
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(10);
    }
}

void migrate_load_and_check(QTestState *to, const char *uri,
                            GHashTable *digests)
{
    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) got = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(digests, got));
    qtest_quit(to);
}

#define KVM_GUEST_RESERVED (2 * MiB)

static uint64_t fill_ram_qmp(QTestState *who, bool guest_visible,
                             uint64_t offset, int64_t generation)
{
    g_autoptr(JsonNode) r =
        qtest_qmp(who,
                  "{'execute': 'x-fill-ram', 'arguments': "
                  "{'guest-visible': %s, 'offset': %" PRIu64
                  ", 'generation': %" PRId64 ", 'zero-stride': %d}}",
                  guest_visible ? "true" : "false", offset, generation,
                  MIG_FILL_ZERO_STRIDE);
    JsonArray *a = json_node_get_array(r);
    uint64_t pages = 0;

    g_assert_nonnull(a);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        g_assert_cmpint(json_object_get_int_member(o, "zero-pages"), <=,
                        json_object_get_int_member(o, "pages"));
        pages += json_object_get_int_member(o, "pages");
    }
    return pages;
}

uint64_t migrate_fill_ram(QTestState *who, bool guest_ram, int64_t generation)
{
    uint64_t pages = fill_ram_qmp(who, false, 0, generation);

    if (guest_ram) {
        bool kvm = !strcmp(migrate_accel, "kvm");

        pages +=
            fill_ram_qmp(who, true, kvm ? KVM_GUEST_RESERVED : 0, generation);
    }
    return pages;
}

static void set_caps(QTestState *who, const char *const *caps)
{
    for (int i = 0; i < MIG_MAX_CAPS && caps[i]; i++) {
        migrate_set_capability(who, caps[i], true);
    }
}

/* After a failed or refused migration the source must be intact. */
static void check_source_intact(QTestState *from, MigrateCommon *args,
                                GHashTable *before)
{
    bool running;
    g_autofree char *st = qtest_query_status(from, &running);

    if (args->stop_src) {
        g_assert_false(running);
    } else {
        g_assert_true(running);
        g_assert_cmpstr(st, ==, "running");
    }
    if (before) {
        g_autoptr(GHashTable) after = qtest_ram_digests(from);
        g_assert_true(qtest_ram_digests_check(before, after));
    }
}

void test_precopy_common(MigrateCommon *args)
{
    QTestState *from, *to;
    void *data = NULL;
    int port = 0;
    g_autofree char *connect_uri = NULL;
    g_autofree char *listen_uri = NULL;
    g_autoptr(GHashTable) before = NULL;
    bool idle_src =
        !args->start.workload || g_str_has_prefix(args->start.workload, "idle");

    if ((args->connect_uri && strstr(args->connect_uri, "@PORT@")) ||
        (args->listen_uri && strstr(args->listen_uri, "@PORT@"))) {
        port = migrate_free_port();
    }
    if (args->connect_uri) {
        connect_uri = migrate_expand_uri(args->connect_uri, port);
    }
    listen_uri = migrate_expand_uri(args->listen_uri    ? args->listen_uri
                                    : args->connect_uri ? args->connect_uri
                                                        : "defer",
                                    port);

    migrate_start(&from, &to, &args->start);
    set_caps(from, args->caps);
    set_caps(to, args->caps);
    set_caps(from, args->src_only_caps);
    if (args->multifd_channels_src) {
        migrate_set_parameter_int(from, "multifd-channels",
                                  args->multifd_channels_src);
    }
    if (args->multifd_channels_dst) {
        migrate_set_parameter_int(to, "multifd-channels",
                                  args->multifd_channels_dst);
    }
    if (!args->no_fill) {
        /* The ab and verify workloads check their own memory. */
        bool ab = args->start.workload &&
                  (g_str_has_prefix(args->start.workload, "ab") ||
                   g_str_has_prefix(args->start.workload, "verify"));

        uint64_t pages = migrate_fill_ram(from, !ab, 1);

        g_assert_true(ab || pages > 0);
    }
    if (args->start_hook) {
        data = args->start_hook(from, to);
    }
    if (!args->load_after_save && strcmp(listen_uri, "defer") &&
        args->result != MIG_TEST_QMP_ERROR) {
        migrate_incoming_qmp(to, listen_uri);
    }
    if (args->stop_src) {
        qtest_qmp_assert_success(from, "{'execute': 'stop'}");
        g_assert_false(qtest_is_running(from));
    }
    /*
     * What the source held, for the checks that it is intact after a
     * failure and that a stopped source did not change (a digest of all
     * RAM costs time: only where one of those checks runs).
     */
    if (args->stop_src || (idle_src && args->result != MIG_TEST_SUCCEED)) {
        before = qtest_ram_digests(from);
    }
    if (args->live) {
        migrate_ensure_non_converge(from);
    } else {
        migrate_ensure_converge(from);
    }

    if (args->result == MIG_TEST_QMP_ERROR) {
        g_autofree char *desc = NULL;

        if (connect_uri) {
            desc = qtest_qmp_expect_error(from,
                                          "{'execute': 'migrate', "
                                          "'arguments': {'uri': '%s'}}",
                                          connect_uri);
        } else {
            /* The hook issued its own command; nothing else to try. */
            g_assert_not_reached();
        }
        g_test_message("migrate refused: %s", desc);
        if (args->error_substr) {
            g_assert_nonnull(strstr(desc, args->error_substr));
        }
        check_source_intact(from, args, before);
        goto finish;
    }

    if (connect_uri) {
        migrate_qmp(from, connect_uri);
    }

    if (args->result == MIG_TEST_FAIL) {
        g_autofree char *desc = wait_for_migration_fail(from);

        g_test_message("migration failed: %s", desc);
        if (args->error_substr) {
            g_assert_nonnull(strstr(desc, args->error_substr));
        }
        check_source_intact(from, args, before);
        goto finish;
    }

    if (args->live) {
        /* A few dirty-bitmap syncs prove the iteration, then converge. */
        wait_for_migration_pass(from, 3);
        migrate_ensure_converge(from);
    }
    wait_for_migration_complete(from);
    {
        g_autofree char *st = qtest_query_status(from, NULL);
        g_assert_cmpstr(st, ==, "postmigrate");
    }
    if (args->live) {
        /* It really iterated while the guest ran. */
        g_assert_cmpint(migrate_dirty_sync_count(from), >=, 3);
    }

    if (args->load_after_save) {
        migrate_incoming_qmp(to, listen_uri);
    }
    if (args->result == MIG_TEST_FAIL_DEST) {
        g_autofree char *desc = wait_for_migration_fail(to);

        g_test_message("destination failed: %s", desc);
        if (args->error_substr) {
            g_assert_nonnull(strstr(desc, args->error_substr));
        }
        goto finish;
    }
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);

    {
        g_autoptr(GHashTable) src = qtest_ram_digests(from);
        g_autoptr(GHashTable) dst = qtest_ram_digests(to);
        bool running;
        g_autofree char *st = qtest_query_status(to, &running);

        g_assert_true(qtest_ram_digests_check(src, dst));
        if (before && args->stop_src) {
            /* Nothing ran on the source between stop and the save. */
            g_assert_true(qtest_ram_digests_check(before, src));
        }
        if (args->start.target_no_S && !args->stop_src) {
            /* No -S and a running source: the destination runs. */
            g_assert_true(running);
            g_assert_cmpstr(st, ==, "running");
        } else {
            /* -S, or a stopped source: the destination stays paused. */
            g_assert_false(running);
            g_assert_cmpstr(st, !=, "inmigrate");
        }
    }

    if (args->check_ab) {
        int64_t passes = qtest_workload_get(to, "passes");

        qtest_qmp_assert_success(to, "{'execute': 'cont'}");
        /* Two more passes: one whole pass checked every page. */
        wait_for_ab_passes(to, passes + 1);
        g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);
        check_serial_ab(to);
    }

finish:
    if (args->end_hook) {
        args->end_hook(from, to, data);
    }
    migrate_end(from, to);
}

void wait_for_ab_passes(QTestState *who, int64_t passes)
{
    int64_t deadline = qemu_clock_ms() + MIG_TIMEOUT_MS;

    while (qtest_workload_get(who, "passes") <= passes) {
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(20);
    }
}

void check_serial_ab(QTestState *who)
{
    g_autofree char *path = qtest_serial_path(who);
    g_autofree char *text = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &text, &len, NULL));
    g_test_message("serial of the destination: %zu bytes", (size_t)len);
    g_assert_nonnull(strchr(text, 'B'));
    g_assert_null(strchr(text, 'E'));
}

/* ---- resources, other binaries, files ---- */

static int count_dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

MigResources migrate_resources(QTestState *who)
{
    pid_t pid = qtest_pid(who);
    g_autofree char *task = g_strdup_printf("/proc/%d/task", pid);
    g_autofree char *fd = g_strdup_printf("/proc/%d/fd", pid);
    g_autofree char *status = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *text = NULL;
    MigResources r = { count_dir_entries(task), count_dir_entries(fd), 0 };

    g_assert_true(g_file_get_contents(status, &text, NULL, NULL));
    const char *rss = strstr(text, "VmRSS:");
    g_assert_nonnull(rss);
    r.rss_kib = g_ascii_strtoull(rss + strlen("VmRSS:"), NULL, 10);
    return r;
}

void migrate_check_no_leak(QTestState *who, MigResources before)
{
    MigResources now = migrate_resources(who);

    for (int i = 0; i < 40; i++) {
        if (now.threads == before.threads && now.fds == before.fds) {
            break;
        }
        qtest_msleep(50);
        now = migrate_resources(who);
    }
    g_test_message("threads %d -> %d, fds %d -> %d", before.threads,
                   now.threads, before.fds, now.fds);
    g_assert_cmpint(now.threads, ==, before.threads);
    g_assert_cmpint(now.fds, ==, before.fds);
}

JsonNode *migrate_img_info(const char *file)
{
    const char *argv[] = {
        g_getenv("MAPMIG_IMG"), "info", "--output", "json", file, NULL
    };
    g_autofree char *out = NULL;
    int status;

    g_assert_true(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                               NULL, &out, NULL, &status, NULL));
    g_assert_true(g_spawn_check_wait_status(status, NULL));
    return json_from_string(out, NULL);
}

bool migrate_dir_supports_odirect(const char *dir)
{
    g_autofree char *probe =
        g_strdup_printf("%s/dio-probe-%d", dir, (int)getpid());
    int fd = open(probe, O_CREAT | O_WRONLY | O_DIRECT, 0600);

    if (fd >= 0) {
        close(fd);
    }
    unlink(probe);
    return fd >= 0;
}

bool migrate_engine_available(const char *engine, char **why)
{
    long fd;

    if (!strcmp(engine, "io-uring")) {
        struct io_uring_params p = { 0 };

        fd = syscall(__NR_io_uring_setup, 8, &p);
        if (fd < 0) {
            *why = g_strdup_printf(
                "io_uring_setup(2) fails here: %s%s", g_strerror(errno),
                errno == EPERM ? " (kernel.io_uring_disabled?)" : "");
            return false;
        }
        close(fd);
    } else if (!strcmp(engine, "libaio")) {
        aio_context_t ctx = 0;

        if (syscall(__NR_io_setup, 8, &ctx) < 0) {
            *why = g_strdup_printf("io_setup(2) fails here: %s",
                                   g_strerror(errno));
            return false;
        }
        syscall(__NR_io_destroy, ctx);
    }
    return true;
}

int migrate_fds_on_file(pid_t pid, const char *path, int *odirect)
{
    g_autofree char *fddir = g_strdup_printf("/proc/%d/fd", (int)pid);
    GDir *d = g_dir_open(fddir, 0, NULL);
    const char *name;
    int n = 0;

    *odirect = 0;
    if (!d) {
        return 0;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *link = g_strdup_printf("%s/%s", fddir, name);
        g_autofree char *target = g_file_read_link(link, NULL);
        g_autofree char *info = NULL;
        g_autofree char *infopath = NULL;
        const char *flags;

        /* A descriptor may close between the listing and the reads. */
        if (!target || strcmp(target, path)) {
            continue;
        }
        infopath = g_strdup_printf("/proc/%d/fdinfo/%s", (int)pid, name);
        if (!g_file_get_contents(infopath, &info, NULL, NULL) ||
            !(flags = strstr(info, "flags:"))) {
            continue;
        }
        n++;
        /* fdinfo's flags are octal. */
        if (g_ascii_strtoull(flags + strlen("flags:"), NULL, 8) & O_DIRECT) {
            (*odirect)++;
        }
    }
    g_dir_close(d);
    return n;
}

char *migrate_file_sha256(const char *path)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(1 * MiB);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    g_assert_cmpint(fd, >=, 0);
    while ((n = read(fd, buf, 1 * MiB)) > 0) {
        g_checksum_update(sum, buf, n);
    }
    g_assert_cmpint(n, ==, 0);
    close(fd);
    return g_strdup(g_checksum_get_string(sum));
}

/* ---- registration ---- */

typedef struct MigrationTest {
    void (*fn)(void);                  /* a plain test, or */
    void (*fn_data)(const void *data); /* a case of a table */
    const void *data;
    const char *accel;
} MigrationTest;

static void run_test(gconstpointer opaque)
{
    const MigrationTest *t = opaque;
    g_autoptr(GError) err = NULL;
    const char *why;

    if (!strcmp(t->accel, "kvm") && !qtest_kvm_available(&why)) {
        g_test_skip(why);
        return;
    }
    migrate_accel = t->accel;
    tmpfs = g_dir_make_tmp("mapmig-mig-XXXXXX", &err);
    g_assert_no_error(err);
    qtest_install_abort_handler();
    qtest_add_abort_dir(tmpfs);
    if (t->fn_data) {
        t->fn_data(t->data);
    } else {
        t->fn();
    }
    qtest_remove_abort_dir(tmpfs);
    qtest_rmdir_files(tmpfs);
    g_free(tmpfs);
    tmpfs = NULL;
    migrate_accel = "soft";
}

static void migration_test_add_accel(const char *path,
                                     const MigrationTest *proto,
                                     const char *accel)
{
    MigrationTest *t = g_memdup2(proto, sizeof(*t));

    t->accel = accel;
    g_test_add_data_func_full(path, t, run_test, g_free);
}

static char *kvm_path(const char *path)
{
    const char *rest = g_str_has_prefix(path, "/migration/") ? path + 10 : path;

    return g_strdup_printf("/migration/kvm%s", rest);
}

static void migration_test_add_both(const char *path,
                                    const MigrationTest *proto, bool accels)
{
    migration_test_add_accel(path, proto, "soft");
    if (accels) {
        g_autofree char *kpath = kvm_path(path);

        migration_test_add_accel(kpath, proto, "kvm");
    }
}

void migration_test_add(const char *path, void (*fn)(void))
{
    MigrationTest t = { .fn = fn };

    migration_test_add_accel(path, &t, "soft");
}

void migration_test_add_kvm(const char *path, void (*fn)(void))
{
    MigrationTest t = { .fn = fn };

    migration_test_add_accel(path, &t, "kvm");
}

void migration_test_add_accels(const char *path, void (*fn)(void))
{
    MigrationTest t = { .fn = fn };

    migration_test_add_both(path, &t, true);
}

void migration_test_add_data(const char *path, void (*fn)(const void *),
                             const void *data, bool accels)
{
    MigrationTest t = { .fn_data = fn, .data = data };

    migration_test_add_both(path, &t, accels);
}

static void run_case(const void *data)
{
    const MigrateCase *c = data;
    MigrateCommon args = c->args;

    test_precopy_common(&args);
}

void migration_test_add_cases(const MigrateCase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        migration_test_add_data(cases[i].path, run_case, &cases[i],
                                cases[i].accels);
    }
}

void migration_test_init(int *argc, char ***argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_test_init(argc, argv, NULL);
    if (!g_getenv("MAPMIG_BINARY")) {
        g_printerr("MAPMIG_BINARY not set\n");
        exit(1);
    }
}

int migration_test_run(void)
{
    return g_test_run();
}
