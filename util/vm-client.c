/*
 * The tools' side of a mapmig VM: see include/qemu/vm-client.h.
 */
#include "qemu/osdep.h"
#include "qemu/vm-client.h"

#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define CONNECT_STEP_MS 250
#define CONNECT_RETRY_US (50 * 1000)
#define REAP_STEP_US (10 * 1000)

/* In the child: session or parent-death signal, descriptors, exec. */
static void QEMU_NORETURN spawn_child(char *const *argv, int log,
                                      unsigned flags)
{
    int null = open("/dev/null", O_RDONLY);

    if (flags & VM_CLIENT_SPAWN_DETACH) {
        setsid();
    } else {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
    }
    signal(SIGPIPE, SIG_DFL);
    if (null >= 0) {
        dup2(null, 0);
    }
    if (log >= 0) {
        dup2(log, 1);
        dup2(log, 2);
    }
    close_range(3, ~0u, 0);
    execvp(argv[0], argv);
    fprintf(stderr, "%s: could not run '%s': %s\n",
            program_invocation_short_name, argv[0], strerror(errno));
    _exit(127);
}

pid_t vm_client_spawn(char *const *argv, const char *log, unsigned flags,
                      GError **errp)
{
    int fd = -1;

    if (log) {
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Could not create '%s'", log);
            return -1;
        }
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "fork");
    } else if (pid == 0) {
        spawn_child(argv, fd, flags);
    }
    if (fd >= 0) {
        close(fd);
    }
    return pid;
}

/* Whether the VM @pid has exited; then *errp says how. */
static bool vm_exited(pid_t pid, GError **errp)
{
    int status;

    if (pid <= 0 || waitpid(pid, &status, WNOHANG) != pid) {
        return false;
    }
    if (WIFEXITED(status)) {
        error_setg(errp,
                   "mapmig exited with status %d before its QMP socket was "
                   "ready",
                   WEXITSTATUS(status));
    } else {
        error_setg(errp,
                   "mapmig was killed by signal %d before its QMP socket "
                   "was ready",
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    }
    return true;
}

QMPClient *vm_client_connect(const char *path, int timeout_ms, pid_t pid,
                             const volatile sig_atomic_t *interrupted,
                             GError **errp)
{
    int64_t deadline = qemu_clock_ms() + timeout_ms;

    for (;;) {
        GError *err = NULL;
        QMPClient *c = qmp_client_connect(path, CONNECT_STEP_MS, &err);
        if (c) {
            return c;
        }
        if (vm_exited(pid, errp)) {
            g_clear_error(&err);
            return NULL;
        }
        if (qemu_clock_ms() >= deadline || (interrupted && *interrupted)) {
            g_propagate_error(errp, err);
            return NULL;
        }
        g_clear_error(&err);
        g_usleep(CONNECT_RETRY_US);
    }
}

bool vm_client_quit(QMPClient *c, pid_t pid, int timeout_ms, int *status)
{
    int64_t deadline = qemu_clock_ms() + timeout_ms;
    int st = 0;

    if (pid <= 0) {
        return false;
    }
    if (c) {
        /* The reply may be lost when the VM exits first: not an error. */
        vm_client_cmd(c, NULL, "{'execute': 'quit'}");
    }
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            break;
        }
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (qemu_clock_ms() >= deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            if (status) {
                *status = st;
            }
            return false;
        }
        g_usleep(REAP_STEP_US);
    }
    if (status) {
        *status = st;
    }
    return true;
}

bool vm_client_exec(QMPClient *c, const char *cmd, JsonObject *args,
                    GError **errp)
{
    JsonNode *r = qmp_client_cmd(c, cmd, args, errp);

    if (!r) {
        return false;
    }
    json_node_unref(r);
    return true;
}

bool vm_client_cmd(QMPClient *c, GError **errp, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    JsonNode *r = qmp_client_cmdf(c, errp, "%s", text);
    if (!r) {
        return false;
    }
    json_node_unref(r);
    return true;
}

char *vm_client_status(QMPClient *c, bool *running, GError **errp)
{
    g_autoptr(JsonNode) r =
        qmp_client_cmdf(c, errp, "{'execute': 'query-status'}");
    const char *s = qmp_get_str(r, "status");

    if (!s) {
        if (errp && !*errp) {
            error_setg(errp, "query-status returned no status");
        }
        return NULL;
    }
    if (running) {
        *running = json_object_get_boolean_member_with_default(
            json_node_get_object(r), "running", false);
    }
    return g_strdup(s);
}

void vm_client_add_cap(JsonArray *caps, const char *name, bool on)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "capability", name);
    json_object_set_boolean_member(o, "state", on);
    json_array_add_object_element(caps, o);
}

bool vm_client_set_caps(QMPClient *c, JsonArray *caps, GError **errp)
{
    JsonObject *args = json_object_new();

    json_object_set_array_member(args, "capabilities", caps);
    return vm_client_exec(c, "migrate-set-capabilities", args, errp);
}

bool vm_client_migration_is_final(const char *status)
{
    return !g_strcmp0(status, "completed") || !g_strcmp0(status, "failed") ||
           !g_strcmp0(status, "cancelled");
}

JsonNode *vm_client_poll_migration(QMPClient *c, unsigned interval_us,
                                   VMClientPollFn poll, void *opaque,
                                   GError **errp)
{
    for (;;) {
        JsonNode *r = qmp_client_cmd(c, "query-migrate", NULL, errp);
        if (!r) {
            g_prefix_error(errp, "query-migrate: ");
            return NULL;
        }
        const char *st = qmp_get_str(r, "status");
        if (!g_strcmp0(st, "completed")) {
            return r;
        }
        if (vm_client_migration_is_final(st)) {
            const char *desc = qmp_get_str(r, "error-desc");
            error_setg(errp, "migration %s%s%s", st, desc ? ": " : "",
                       desc ? desc : "");
            json_node_unref(r);
            return NULL;
        }
        bool go_on = !poll || poll(opaque, r, errp);
        json_node_unref(r);
        if (!go_on) {
            return NULL;
        }
        g_usleep(interval_us);
    }
}

char *vm_client_wait_migration_event(QMPClient *c, const char *stop_at,
                                     int tick_ms, VMClientTickFn tick,
                                     void *opaque, GError **errp)
{
    for (;;) {
        GError *err = NULL;
        JsonObject *ev = qmp_client_wait_event(c, "MIGRATION", tick_ms, &err);
        if (err) {
            g_propagate_error(errp, err);
            return NULL;
        }
        if (!ev) {
            if (tick && !tick(opaque, c, errp)) {
                return NULL;
            }
            continue;
        }
        JsonObject *data = json_object_get_object_member(ev, "data");
        g_autofree char *st = g_strdup(
            data
                ? json_object_get_string_member_with_default(data, "status", "")
                : "");
        json_object_unref(ev);
        if ((stop_at && !strcmp(st, stop_at)) ||
            vm_client_migration_is_final(st)) {
            return g_steal_pointer(&st);
        }
    }
}
