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

    /* Never converges: the load lasts until quit comes. */
    migrate_ensure_non_converge(from);
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
    return migration_test_run();
}
