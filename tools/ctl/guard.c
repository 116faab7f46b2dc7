/*
 * The guardian: a child process that waits on a pipe from mapmig-ctl.
 * If the pipe closes before mapmig-ctl said "done" (it was SIGKILLed,
 * or crashed), the guardian undoes the half-done operation so that no
 * half image is left and the VM goes on as before.  It ignores the
 * terminal's signals: an interrupted mapmig-ctl cleans up itself and then
 * says "done".
 */
#include "ctl.h"

#include <sys/wait.h>

#define GUARD_CONNECT_MS 5000
#define GUARD_CANCEL_MS 60000

/* Cancel a running migration and wait until it is over. */
static void guard_cancel_migration(QMPClient *c)
{
    int64_t deadline = qemu_clock_ms() + GUARD_CANCEL_MS;
    bool sent = false;

    while (qemu_clock_ms() < deadline) {
        g_autoptr(JsonNode) r =
            qmp_client_cmdf(c, NULL, "{'execute': 'query-migrate'}");
        const char *s = qmp_get_str(r, "status");
        if (!s || !strcmp(s, "completed") || !strcmp(s, "failed") ||
            !strcmp(s, "cancelled")) {
            return;
        }
        if (!sent) {
            vm_client_cmd(c, NULL, "{'execute': 'migrate_cancel'}");
            sent = true;
        }
        g_usleep(50 * 1000);
    }
}

static void guard_recover_vm(const GuardPlan *plan)
{
    QMPClient *c = qmp_client_connect(plan->qmp_path, GUARD_CONNECT_MS, NULL);

    if (!c) {
        return;
    }
    guard_cancel_migration(c);
    vmctl_give_back(c, plan->resume, plan->fdname, plan->saved);
    qmp_client_free(c);
}

static QEMU_NORETURN void guard_main(int fd, const GuardPlan *plan)
{
    g_autoptr(GString) in = g_string_new(NULL);
    pid_t vm_pid = 0;
    char buf[256];

    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* mapmig-ctl is gone */
        }
        g_string_append_len(in, buf, n);
        char *nl;
        while ((nl = strchr(in->str, '\n'))) {
            *nl = 0;
            if (!strcmp(in->str, "done")) {
                _exit(0);
            }
            if (g_str_has_prefix(in->str, "pid ")) {
                vm_pid = atoi(in->str + 4);
            }
            g_string_erase(in, 0, nl - in->str + 1);
        }
    }
    if (vm_pid > 0) {
        kill(vm_pid, SIGKILL);
    }
    if (plan->qmp_path) {
        guard_recover_vm(plan);
    }
    for (int i = 0; i < (int)ARRAY_SIZE(plan->unlink) && plan->unlink[i]; i++) {
        unlink(plan->unlink[i]);
    }
    if (plan->rmdir) {
        rmdir(plan->rmdir);
    }
    fprintf(stderr, "mapmig-ctl: interrupted; the guardian cleaned up%s\n",
            plan->qmp_path ? " and gave the VM back its state" : "");
    _exit(0);
}

/* Close every descriptor but 0-2 and @keep. */
static void close_other_fds(int keep)
{
    if (keep > 3) {
        close_range(3, keep - 1, 0);
    }
    close_range(MAX(keep + 1, 3), ~0u, 0);
}

bool guard_start(Guard *g, const GuardPlan *plan, GError **errp)
{
    int fds[2];

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "pipe");
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "Could not start the guardian");
        close(fds[0]);
        close(fds[1]);
        return false;
    }
    if (pid == 0) {
        close(fds[1]);
        close_other_fds(fds[0]);
        guard_main(fds[0], plan);
    }
    close(fds[0]);
    g->pid = pid;
    g->fd = fds[1];
    return true;
}

static void guard_send(Guard *g, const char *msg)
{
    size_t len = strlen(msg);

    while (g->fd >= 0 && len) {
        ssize_t n = write(g->fd, msg, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        msg += n;
        len -= n;
    }
}

void guard_set_vm_pid(Guard *g, pid_t pid)
{
    g_autofree char *msg = g_strdup_printf("pid %d\n", (int)pid);
    guard_send(g, msg);
}

void guard_release(Guard *g)
{
    if (g->fd < 0) {
        return;
    }
    guard_send(g, "done\n");
    close(g->fd);
    g->fd = -1;
    while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR) {
    }
}
