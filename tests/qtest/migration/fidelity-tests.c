/*
 * Fidelity to current QEMU where a management tool would notice:
 *
 *  - cont while inmigrate sets autostart (QEMU's qmp_cont): the guest
 *    runs once the load completes (classic, mapped-ram) or resumes (lazy
 *    restore); a paused source's stream still ends paused.
 *  - migrate to a socket nobody listens on returns {} and fails after,
 *    with error-desc (QEMU connects in the background).
 *  - quit on a destination that is accepting, telling channels apart or
 *    loading from a socket exits at once and cleanly.
 *  - the VM description has current QEMU's "configuration" entry when the
 *    stream has validated capabilities (mapped-ram, x-ignore-shared) and
 *    QEMU 7.2's form without; mapmig-img checks and converts both.
 *  - Fast Snapshot Load: postcopy-ram + mapped-ram + file: on a
 *    destination is a lazy restore; a source with postcopy-ram is refused
 *    as QEMU refuses it.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#define VM_ARGS "-M mini -m 64M"
#define QEMU_VM_VMDESCRIPTION_BYTE 0x06

typedef enum { LOAD_CLASSIC, LOAD_MAPPED, LOAD_LAZY } LoadKind;

static char *tmp_uri(const char *name)
{
    return g_strdup_printf("file:%s/%s", tmpfs, name);
}

static void set_load_caps(QTestState *who, LoadKind k)
{
    if (k != LOAD_CLASSIC) {
        migrate_set_capability(who, "mapped-ram", true);
    }
    if (k == LOAD_LAZY) {
        migrate_set_capability(who, "lazy-restore", true);
    }
}

/* A saved file of an idle guest with some data; @stop: save it paused. */
static void save_file(const char *uri, LoadKind k, bool stop,
                      GHashTable **digests)
{
    QTestState *from = qtest_init(VM_ARGS);

    qtest_memset(from, 0, 0x5a, 8 * MiB);
    qtest_memset(from, 20 * MiB, 0xc3, 1 * MiB);
    if (stop) {
        qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    }
    if (k != LOAD_CLASSIC) {
        migrate_set_capability(from, "mapped-ram", true);
    }
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    *digests = qtest_ram_digests(from);
    qtest_quit(from);
}

/* The load's end state once lazy loading (if any) is over. */
static void wait_loaded(QTestState *to, LoadKind k)
{
    wait_for_incoming_done(to);
    if (k == LOAD_LAZY) {
        wait_for_migration_complete(to);
    }
}

static void cont_while_inmigrate(LoadKind k, bool src_stopped, bool send_cont)
{
    g_autofree char *uri = tmp_uri("migfile");
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *st = NULL;
    QTestState *to;

    save_file(uri, k, src_stopped, &digests);
    to = qtest_init(VM_ARGS " -S -incoming defer");
    set_load_caps(to, k);
    if (send_cont) {
        /* Accepted now; it takes effect when the load is done. */
        qtest_qmp_assert_success(to, "{'execute': 'cont'}");
        st = qtest_query_status(to, NULL);
        g_assert_cmpstr(st, ==, "inmigrate");
        g_clear_pointer(&st, g_free);
    }
    migrate_incoming_qmp(to, uri);
    wait_loaded(to, k);
    st = qtest_query_status(to, NULL);
    g_assert_cmpstr(st, ==, src_stopped || !send_cont ? "paused" : "running");
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(digests, got));
    }
    qtest_quit(to);
}

static void test_cont_classic(void)
{
    cont_while_inmigrate(LOAD_CLASSIC, false, true);
}

static void test_cont_mapped(void)
{
    cont_while_inmigrate(LOAD_MAPPED, false, true);
}

static void test_cont_lazy(void)
{
    cont_while_inmigrate(LOAD_LAZY, false, true);
}

/* Without cont, -S keeps the loaded guest paused (the control case). */
static void test_no_cont_stays_paused(void)
{
    cont_while_inmigrate(LOAD_CLASSIC, false, false);
}

/* The stream says the source was paused: it ends paused even so. */
static void test_cont_paused_source(void)
{
    cont_while_inmigrate(LOAD_MAPPED, true, true);
}

/* HMP's cont does the same, after migrate-incoming too. */
static void test_cont_hmp_during_load(void)
{
    g_autofree char *uri = tmp_uri("migfile");
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *st = NULL;
    g_autofree char *out = NULL;
    QTestState *to;

    save_file(uri, LOAD_CLASSIC, false, &digests);
    to = qtest_init(VM_ARGS " -S -incoming defer");
    migrate_incoming_qmp(to, uri);
    out = qtest_hmp(to, "cont");
    g_assert_cmpstr(out, ==, "");
    wait_loaded(to, LOAD_CLASSIC);
    st = qtest_query_status(to, NULL);
    g_assert_cmpstr(st, ==, "running");
    qtest_quit(to);
}

/* ---- migrate to an unreachable socket ---- */

static void migrate_unreachable(const char *uri_fmt)
{
    QTestState *from = qtest_init(VM_ARGS);
    g_autofree char *uri = NULL;
    g_autofree char *desc = NULL;
    g_autofree char *st = NULL;

    if (strstr(uri_fmt, "%d")) {
        uri = g_strdup_printf(uri_fmt, migrate_free_port());
    } else {
        uri = g_strdup_printf(uri_fmt, tmpfs);
    }
    migrate_set_capability(from, "events", true);
    /* Accepted: the connection is made after the command returned. */
    migrate_qmp(from, uri);
    desc = wait_for_migration_fail(from);
    g_test_message("error-desc: %s", desc);
    g_assert_nonnull(strstr(desc, "Failed to connect"));
    g_assert_true(qtest_is_running(from));
    st = migrate_query_status(from);
    g_assert_cmpstr(st, ==, "failed");
    /* The source can migrate again. */
    {
        g_autofree char *file = tmp_uri("after");
        migrate_ensure_converge(from);
        migrate_qmp(from, file);
        wait_for_migration_complete(from);
    }
    qtest_quit(from);
}

static void test_unreachable_unix(void)
{
    migrate_unreachable("unix:%s/nobody-listens");
}

static void test_unreachable_tcp(void)
{
    migrate_unreachable("tcp:127.0.0.1:%d");
}

/* ---- quit on a destination ---- */

static void assert_quits_cleanly(QTestState *to)
{
    int64_t t = qemu_clock_ms();
    int status = qtest_quit(to);

    g_test_message("quit took %" PRId64 " ms", qemu_clock_ms() - t);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
}

static int unix_connect(const char *path)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(a.sun_path, path, sizeof(a.sun_path));
    g_assert_cmpint(connect(fd, (struct sockaddr *)&a, sizeof(a)), ==, 0);
    return fd;
}

/*
 * multifd: a connection that sends nothing cannot be told apart (main or
 * channel?); quit must not wait for its first bytes.
 */
static void test_quit_while_telling_apart(void)
{
    g_autofree char *path = g_strdup_printf("%s/migsocket", tmpfs);
    g_autofree char *uri = g_strdup_printf("unix:%s", path);
    QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");
    int fd;

    migrate_set_capability(to, "multifd", true);
    migrate_incoming_qmp(to, uri);
    fd = unix_connect(path);
    qtest_msleep(200);
    assert_quits_cleanly(to);
    close(fd);
}

/* Before any connection: quit wakes the accept. */
static void test_quit_while_accepting(void)
{
    g_autofree char *uri = g_strdup_printf("unix:%s/migsocket", tmpfs);
    QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");

    migrate_incoming_qmp(to, uri);
    qtest_msleep(100);
    assert_quits_cleanly(to);
}

/*
 * quit at moments spread over a live load from a busy source: every
 * time the destination exits cleanly and the source goes on.
 */
static void test_quit_during_load(void)
{
    QTestState *from = qtest_init(VM_ARGS " -workload stress,share=50");

    /*
     * Never converges: the load lasts until quit comes.  1 MiB/s keeps it
     * in its first pass (64 MiB) well past the last quit, so a vCPU
     * starved on a loaded host cannot let a short later pass end clean.
     */
    migrate_ensure_non_converge(from);
    migrate_set_parameter_int(from, "max-bandwidth", 1 * MiB);
    for (int i = 0; i < 8; i++) {
        g_autofree char *uri = g_strdup_printf("unix:%s/migsocket%d", tmpfs, i);
        QTestState *to = qtest_init(VM_ARGS " -S -incoming defer");
        g_autofree char *st = NULL;

        migrate_incoming_qmp(to, uri);
        migrate_qmp(from, uri);
        qtest_msleep(50 + i * 60);
        assert_quits_cleanly(to);
        st = wait_for_migration_status_final(from);
        g_assert_cmpstr(st, ==, "failed");
        g_assert_true(qtest_is_running(from));
    }
    qtest_quit(from);
}

/* ---- the VM description's configuration entry ---- */

/* The VM description at the end of @path (NUL terminated). */
static char *file_vmdesc(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;

    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    /* 0x06, be32 length, the JSON up to the end of the file. */
    for (gsize j = len - 6; j > 0; j--) {
        const uint8_t *u = (const uint8_t *)data + j;
        uint32_t n = (uint32_t)u[1] << 24 | u[2] << 16 | u[3] << 8 | u[4];

        if (u[0] == QEMU_VM_VMDESCRIPTION_BYTE && u[5] == '{' &&
            n == len - j - 5) {
            return g_strndup(data + j + 5, n);
        }
    }
    g_assert_not_reached();
}

static int run_img(const char *a1, const char *a2, const char *a3,
                   const char *a4, char **output)
{
    const char *argv[] = { g_getenv("MAPMIG_IMG"), a1, a2, a3, a4, NULL };
    g_autofree char *out = NULL, *err_out = NULL;
    int status;

    g_assert_nonnull(argv[0]);
    g_assert_true(g_spawn_sync(tmpfs, (char **)argv, NULL, 0, NULL, NULL, &out,
                               &err_out, &status, NULL));
    *output = g_strconcat(out, err_out, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void save_to(const char *args, const char *cap, const char *path)
{
    QTestState *from = qtest_init(args);
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    qtest_memset(from, 0, 0x5a, 1 * MiB);
    if (cap) {
        migrate_set_capability(from, cap, true);
    }
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    qtest_quit(from);
}

static void test_vmdesc_configuration(void)
{
    g_autofree char *mapped = g_strdup_printf("%s/mapped", tmpfs);
    g_autofree char *classic = g_strdup_printf("%s/classic", tmpfs);
    g_autofree char *conv = g_strdup_printf("%s/conv", tmpfs);
    g_autofree char *back = g_strdup_printf("%s/back", tmpfs);
    g_autofree char *d1 = NULL, *d2 = NULL, *d3 = NULL, *out = NULL;
    g_autofree char *a = NULL, *b = NULL;

    save_to("-M mini -m 16M", "mapped-ram", mapped);
    save_to("-M none -m 16M", NULL, classic);
    d1 = file_vmdesc(mapped);
    g_assert_true(g_str_has_prefix(
        d1, "{\"configuration\": {\"vmsd_name\": \"configuration\", "
            "\"version\": 1, \"fields\": [{\"name\": \"len\", \"type\": "
            "\"uint32\", \"size\": 4}, {\"name\": \"name\", \"type\": "
            "\"buffer\", \"size\": 4}], \"subsections\": [{\"vmsd_name\": "
            "\"configuration/capabilities\", \"version\": 1, \"fields\": "
            "[{\"name\": \"caps_count\", \"type\": \"uint32\", \"size\": "
            "4}, {\"name\": \"capabilities\", \"type\": \"capability\", "
            "\"size\": 11}]}]}, \"page_size\": 4096, \"devices\": ["));
    /* QEMU 7.2's form: what interop-tests compares byte for byte. */
    d2 = file_vmdesc(classic);
    g_assert_true(g_str_has_prefix(d2, "{\"page_size\": 4096, \"devices\""));

    g_assert_cmpint(run_img("check", mapped, NULL, NULL, &out), ==, 0);
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(run_img("check", classic, NULL, NULL, &out), ==, 0);
    g_clear_pointer(&out, g_free);
    /* Converted to a stream, the entry goes; converted back, it returns. */
    {
        const char *argv_conv[] = { g_getenv("MAPMIG_IMG"),
                                    "convert",
                                    mapped,
                                    "-O",
                                    "stream",
                                    conv,
                                    NULL };
        const char *argv_back[] = {
            g_getenv("MAPMIG_IMG"), "convert", conv, "-O",
            "mapped-ram",           back,      NULL
        };
        int st;

        g_assert_true(g_spawn_sync(tmpfs, (char **)argv_conv, NULL,
                                   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   NULL, &st, NULL));
        g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        g_assert_true(g_spawn_sync(tmpfs, (char **)argv_back, NULL,
                                   G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                                   NULL, &st, NULL));
        g_assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    d3 = file_vmdesc(conv);
    g_assert_true(g_str_has_prefix(d3, "{\"page_size\": 4096, \"devices\""));
    g_assert_cmpint(run_img("check", conv, NULL, NULL, &out), ==, 0);
    g_clear_pointer(&out, g_free);
    a = migrate_file_sha256(mapped);
    b = migrate_file_sha256(back);
    g_assert_cmpstr(a, ==, b);
}

/* ---- Fast Snapshot Load: QEMU's spelling of lazy restore ---- */

static void set_caps(QTestState *who, const char *const *caps)
{
    for (; *caps; caps++) {
        migrate_set_capability(who, *caps, true);
    }
}

/* Wait for a MIGRATION event with @status; fail on a final one before. */
static void wait_migration_event(QTestState *who, const char *status)
{
    for (;;) {
        g_autoptr(JsonObject) ev = qtest_qmp_eventwait(who, "MIGRATION");
        JsonObject *data = json_object_get_object_member(ev, "data");
        const char *st = json_object_get_string_member(data, "status");

        if (!strcmp(st, status)) {
            return;
        }
        g_assert_cmpstr(st, !=, "failed");
        g_assert_cmpstr(st, !=, "completed");
    }
}

static JsonObject *lazy_stats(QTestState *to)
{
    g_autoptr(JsonNode) r = qtest_qmp(to, "{'execute': 'query-migrate'}");
    JsonObject *o = json_node_get_object(r);

    g_assert_true(json_object_has_member(o, "lazy-restore"));
    return json_object_ref(json_object_get_object_member(o, "lazy-restore"));
}

/* Load @uri lazily with @caps; returns the final lazy statistics. */
static JsonObject *lazy_load(const char *uri, const char *const *caps, bool run,
                             GHashTable *digests)
{
    QTestState *to =
        qtest_initf(VM_ARGS " %s -incoming defer", run ? "" : "-S");
    JsonObject *stats;

    migrate_set_capability(to, "events", true);
    set_caps(to, caps);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    wait_migration_event(to, "completed");
    wait_for_incoming_done(to);
    stats = lazy_stats(to);
    g_assert_cmpint(json_object_get_int_member(stats, "pages-loaded"), ==,
                    json_object_get_int_member(stats, "pages-total"));
    if (digests) {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(digests, got));
    }
    qtest_quit(to);
    return stats;
}

static void test_fsl_is_lazy_restore(void)
{
    static const char *const qemu[] = { "postcopy-ram", "mapped-ram", NULL };
    static const char *const ours[] = { "mapped-ram", "lazy-restore", NULL };
    /* Our extension, which QEMU refuses: prefetch through multifd. */
    static const char *const mfd[] = { "postcopy-ram", "mapped-ram", "multifd",
                                       NULL };
    g_autofree char *uri = tmp_uri("migfile");
    g_autoptr(GHashTable) digests = NULL;

    save_file(uri, LOAD_MAPPED, false, &digests);
    json_object_unref(lazy_load(uri, qemu, false, digests));
    json_object_unref(lazy_load(uri, ours, false, digests));
    json_object_unref(lazy_load(uri, mfd, false, digests));
}

/*
 * The same busy guest's file loaded through both spellings, its guest
 * running (so it faults): the same machinery, so the same figures within
 * noise.  Printed for docs/migration/lazy-restore.rst.
 */
static void test_fsl_compare(void)
{
    static const char *const qemu[] = { "postcopy-ram", "mapped-ram", NULL };
    static const char *const ours[] = { "mapped-ram", "lazy-restore", NULL };
    g_autofree char *uri = tmp_uri("migfile");
    QTestState *from = qtest_init(VM_ARGS " -workload stress,share=50");
    const char *const *spell[] = { qemu, ours };

    qtest_msleep(300);
    migrate_set_capability(from, "mapped-ram", true);
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    qtest_quit(from);
    for (int i = 0; i < 2; i++) {
        g_autoptr(JsonObject) st = lazy_load(uri, spell[i], true, NULL);

        g_test_message("%-24s time-to-resume %" PRId64 " ms, faults %" PRId64
                       " (p50 %" PRId64 " us, p99 %" PRId64
                       " us), load %" PRId64 " ms",
                       i ? "lazy-restore" : "postcopy-ram + mapped-ram",
                       json_object_get_int_member(st, "time-to-resume"),
                       json_object_get_int_member(st, "faults"),
                       json_object_get_int_member(st, "fault-latency-p50-us"),
                       json_object_get_int_member(st, "fault-latency-p99-us"),
                       json_object_get_int_member(st, "load-time"));
        g_assert_true(json_object_has_member(st, "time-to-resume"));
    }
}

static void test_fsl_refusals(void)
{
    QTestState *dst = qtest_init(VM_ARGS " -S -incoming defer");
    QTestState *src = qtest_init(VM_ARGS);
    g_autofree char *file = tmp_uri("migfile");
    g_autofree char *sock = g_strdup_printf("unix:%s/sock", tmpfs);
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;

    /* Destination: postcopy-ram alone would be network postcopy. */
    migrate_set_capability(dst, "postcopy-ram", true);
    e1 = qtest_qmp_expect_error(
        dst, "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}",
        file);
    g_assert_nonnull(strstr(e1, "needs capability 'mapped-ram'"));

    /* Source: QEMU's messages. */
    migrate_set_capability(src, "mapped-ram", true);
    e2 = qtest_qmp_expect_error(
        src, "{'execute': 'migrate-set-capabilities', 'arguments': "
             "{'capabilities': [{'capability': 'postcopy-ram', "
             "'state': true}]}}");
    g_assert_cmpstr(e2, ==,
                    "Mapped-ram migration is incompatible with "
                    "postcopy");
    migrate_set_capability(src, "mapped-ram", false);
    migrate_set_capability(src, "postcopy-ram", true);
    /* file: has no return path: {} and then failed, as in QEMU. */
    migrate_qmp(src, file);
    e3 = wait_for_migration_fail(src);
    g_assert_cmpstr(e3, ==, "Unable to open return-path for postcopy");
    g_assert_true(qtest_is_running(src));
    e4 = qtest_qmp_expect_error(
        src, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", sock);
    g_assert_nonnull(strstr(e4, "Postcopy migration is not supported"));
    qtest_quit(dst);
    qtest_quit(src);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/fidelity/cont-inmigrate/classic",
                       test_cont_classic);
    migration_test_add("/migration/fidelity/cont-inmigrate/mapped-ram",
                       test_cont_mapped);
    migration_test_add("/migration/fidelity/cont-inmigrate/lazy",
                       test_cont_lazy);
    migration_test_add("/migration/fidelity/cont-inmigrate/no-cont",
                       test_no_cont_stays_paused);
    migration_test_add("/migration/fidelity/cont-inmigrate/paused-source",
                       test_cont_paused_source);
    migration_test_add("/migration/fidelity/cont-inmigrate/hmp",
                       test_cont_hmp_during_load);
    migration_test_add("/migration/fidelity/unreachable/unix",
                       test_unreachable_unix);
    migration_test_add("/migration/fidelity/unreachable/tcp",
                       test_unreachable_tcp);
    migration_test_add("/migration/fidelity/quit-incoming/accepting",
                       test_quit_while_accepting);
    migration_test_add("/migration/fidelity/quit-incoming/telling-apart",
                       test_quit_while_telling_apart);
    migration_test_add("/migration/fidelity/quit-incoming/during-load",
                       test_quit_during_load);
    migration_test_add("/migration/fidelity/vmdesc-configuration",
                       test_vmdesc_configuration);
    migration_test_add("/migration/fidelity/fast-snapshot-load/lazy",
                       test_fsl_is_lazy_restore);
    migration_test_add("/migration/fidelity/fast-snapshot-load/compare",
                       test_fsl_compare);
    migration_test_add("/migration/fidelity/fast-snapshot-load/refusals",
                       test_fsl_refusals);
    return migration_test_run();
}
