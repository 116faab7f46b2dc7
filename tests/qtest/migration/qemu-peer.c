/*
 * A real QEMU as a migration peer (see qemu-peer.h).
 */
#include "qemu/osdep.h"
#include "migration/qemu-peer.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define QEMU_PEER_BINARY "qemu-system-x86_64"
#define QEMU_PEER_POLL_MS 10
#define QEMU_PEER_TIMEOUT_MS 120000

char *qemu_peer_binary(void)
{
    g_autofree char *bin = g_find_program_in_path(QEMU_PEER_BINARY);
    g_autofree char *out = NULL;
    int status = -1;
    const char *argv[] = { NULL, "--version", NULL };

    if (!bin) {
        g_test_skip(QEMU_PEER_BINARY " is not installed "
                                     "(scripts/install-deps.sh adds it)");
        return NULL;
    }
    argv[0] = bin;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_STDERR_TO_DEV_NULL,
                      NULL, NULL, &out, NULL, &status, NULL) ||
        !g_spawn_check_wait_status(status, NULL)) {
        g_test_skip(QEMU_PEER_BINARY " --version does not run");
        return NULL;
    }
    g_test_message("peer: %s", g_strstrip(out));
    return g_steal_pointer(&bin);
}

/* Child: die with the test, stderr into the log file. */
static void qemu_peer_child_setup(gpointer data)
{
    int fd = open(data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
    }
}

static void qemu_peer_print_log(QemuPeer *q)
{
    g_autofree char *log = NULL;

    if (g_file_get_contents(q->log_path, &log, NULL, NULL) && log[0]) {
        g_printerr("QEMU stderr:\n%s", log);
    }
}

QemuPeer *qemu_peer_start(const char *bin, const char *const *args)
{
    static int counter;
    QemuPeer *q = g_new0(QemuPeer, 1);
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) err = NULL;
    int n = counter++;

    q->qmp_path = g_strdup_printf("%s/qemu%d-qmp.sock", tmpfs, n);
    q->log_path = g_strdup_printf("%s/qemu%d.log", tmpfs, n);
    g_ptr_array_add(argv, g_strdup(bin));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    g_ptr_array_add(argv, g_strdup("-nographic"));
    g_ptr_array_add(argv, g_strdup("-S"));
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv,
                    g_strdup_printf("unix:%s,server=on,wait=off", q->qmp_path));
    for (int i = 0; args && args[i]; i++) {
        g_ptr_array_add(argv, g_strdup(args[i]));
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(
        g_spawn_async(NULL, (char **)argv->pdata, NULL,
                      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                      qemu_peer_child_setup, q->log_path, &q->pid, &err));
    g_assert_no_error(err);
    q->qmp = qmp_client_connect(q->qmp_path, QTEST_START_TIMEOUT_MS, &err);
    if (!q->qmp) {
        qemu_peer_print_log(q);
        g_test_skip("qemu-system-x86_64 did not start (see its stderr)");
        qemu_peer_stop(q);
        return NULL;
    }
    return q;
}

JsonNode *qemu_peer_qmp(QemuPeer *q, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* cmd is already formatted: "%s" keeps its % signs literal. */
    JsonNode *r = qmp_client_cmdf(q->qmp, &err, "%s", cmd);
    if (!r) {
        g_printerr("QEMU: %s: %s\n", cmd, err->message);
        qemu_peer_print_log(q);
    }
    g_assert_nonnull(r);
    return r;
}

char *qemu_peer_hmp(QemuPeer *q, const char *cmdline)
{
    JsonObject *args = json_object_new();
    g_autoptr(GError) err = NULL;

    json_object_set_string_member(args, "command-line", cmdline);
    g_autoptr(JsonNode) r =
        qmp_client_cmd(q->qmp, "human-monitor-command", args, &err);
    g_assert_no_error(err);
    return g_strdup(json_node_get_string(r));
}

static bool qemu_peer_final(const char *st)
{
    return !g_strcmp0(st, "completed") || !g_strcmp0(st, "failed") ||
           !g_strcmp0(st, "cancelled");
}

char *qemu_peer_wait_migration(QemuPeer *q)
{
    int64_t deadline = qemu_clock_ms() + QEMU_PEER_TIMEOUT_MS;

    for (;;) {
        g_autoptr(JsonNode) r =
            qemu_peer_qmp(q, "{'execute': 'query-migrate'}");
        const char *st = qmp_get_str(r, "status");
        if (qemu_peer_final(st)) {
            if (!g_strcmp0(st, "failed")) {
                g_printerr("QEMU migration failed: %s\n",
                           qmp_get_str(r, "error-desc"));
                qemu_peer_print_log(q);
            }
            return g_strdup(st);
        }
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(QEMU_PEER_POLL_MS);
    }
}

char *qemu_peer_wait_incoming(QemuPeer *q)
{
    int64_t deadline = qemu_clock_ms() + QEMU_PEER_TIMEOUT_MS;

    for (;;) {
        g_autoptr(JsonNode) r = qemu_peer_qmp(q, "{'execute': 'query-status'}");
        const char *st = qmp_get_str(r, "status");
        if (g_strcmp0(st, "inmigrate")) {
            return g_strdup(st);
        }
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(QEMU_PEER_POLL_MS);
    }
}

void qemu_peer_stop(QemuPeer *q)
{
    int status;

    if (!q) {
        return;
    }
    kill(q->pid, SIGKILL);
    waitpid(q->pid, &status, 0);
    g_spawn_close_pid(q->pid);
    if (q->qmp) {
        qmp_client_free(q->qmp);
    }
    unlink(q->qmp_path);
    unlink(q->log_path);
    g_free(q->qmp_path);
    g_free(q->log_path);
    g_free(q);
}

void interop_pattern_fill(uint8_t *buf, uint64_t len, unsigned seed)
{
    for (uint64_t page = 0; page < len / TARGET_PAGE_SIZE; page++) {
        uint8_t *p = buf + page * TARGET_PAGE_SIZE;
        switch (page % 5) {
        case 0:
            memset(p, 0, TARGET_PAGE_SIZE);
            break;
        case 1:
            memset(p, 0x5a, TARGET_PAGE_SIZE);
            break;
        default:
            for (uint64_t i = 0; i < TARGET_PAGE_SIZE; i++) {
                p[i] = (uint8_t)(page * 131 + i * 7 + (i >> 8) + seed);
            }
        }
    }
}

void interop_pattern_file(const char *path, uint64_t len, unsigned seed)
{
    g_autofree uint8_t *buf = g_malloc(len);
    g_autoptr(GError) err = NULL;

    interop_pattern_fill(buf, len, seed);
    g_assert_true(g_file_set_contents(path, (char *)buf, len, &err));
    g_assert_no_error(err);
}

char *interop_file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    g_autoptr(GError) err = NULL;

    g_assert_true(g_file_get_contents(path, &data, &len, &err));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
}
