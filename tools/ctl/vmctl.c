/*
 * QMP helpers for mapmig-ctl: capabilities and parameters of a save or
 * restore, and waiting for a migration to end.
 */
#include "ctl.h"

#include <stdarg.h>
#include <sys/wait.h>

#define WAIT_TICK_MS 200
#define CONNECT_STEP_MS 250

/* The capabilities mapmig-ctl sets itself (vmctl_setup_migration). */
static const char *const owned_caps[] = { "events", "mapped-ram", "multifd",
                                          NULL };
/* The parameters it sets, restored afterwards. */
static const char *const owned_params[] = { "max-bandwidth", "multifd-channels",
                                            "direct-io", "multifd-compression",
                                            NULL };

QMPClient *vmctl_connect(const char *path, int timeout_ms, pid_t pid,
                         GError **errp)
{
    int64_t deadline = qemu_clock_ms() + timeout_ms;

    for (;;) {
        GError *err = NULL;
        QMPClient *c = qmp_client_connect(path, CONNECT_STEP_MS, &err);
        if (c) {
            return c;
        }
        int status;
        if (pid > 0 && waitpid(pid, &status, WNOHANG) == pid) {
            g_clear_error(&err);
            if (WIFEXITED(status)) {
                error_setg(errp,
                           "mapmig exited with status %d before its "
                           "QMP socket was ready",
                           WEXITSTATUS(status));
            } else {
                error_setg(errp,
                           "mapmig was killed by signal %d before its "
                           "QMP socket was ready",
                           WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            }
            return NULL;
        }
        if (qemu_clock_ms() >= deadline || ctl_interrupted) {
            g_propagate_error(errp, err);
            return NULL;
        }
        g_clear_error(&err);
        g_usleep(50 * 1000);
    }
}

bool vmctl_cmd(QMPClient *c, GError **errp, const char *fmt, ...)
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

char *vmctl_status(QMPClient *c, bool *running, GError **errp)
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

/* migrate-set-capabilities with one {capability, state} per entry. */
static bool set_caps(QMPClient *c, JsonArray *caps, GError **errp)
{
    JsonObject *args = json_object_new();
    json_object_set_array_member(args, "capabilities", caps);
    JsonNode *r = qmp_client_cmd(c, "migrate-set-capabilities", args, errp);
    if (!r) {
        return false;
    }
    json_node_unref(r);
    return true;
}

static void add_cap(JsonArray *a, const char *name, bool on)
{
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "capability", name);
    json_object_set_boolean_member(o, "state", on);
    json_array_add_object_element(a, o);
}

bool vmctl_set_cap(QMPClient *c, const char *name, bool on, GError **errp)
{
    JsonArray *a = json_array_new();
    add_cap(a, name, on);
    return set_caps(c, a, errp);
}

static bool set_params(QMPClient *c, JsonObject *params, GError **errp)
{
    JsonNode *r = qmp_client_cmd(c, "migrate-set-parameters", params, errp);
    if (!r) {
        return false;
    }
    json_node_unref(r);
    return true;
}

bool vmctl_setup_migration(QMPClient *c, const MigSetup *m, GError **errp)
{
    bool multifd = m->mapped && (m->channels > 1 || m->direct_io);
    JsonArray *caps = json_array_new();

    add_cap(caps, "events", true);
    add_cap(caps, "mapped-ram", m->mapped);
    add_cap(caps, "multifd", multifd);
    for (int i = 0; m->extra_caps && m->extra_caps[i]; i++) {
        if (!g_strv_contains(owned_caps, m->extra_caps[i])) {
            add_cap(caps, m->extra_caps[i], true);
        }
    }
    if (!set_caps(c, caps, errp)) {
        error_prepend(errp, "Could not set the migration capabilities: ");
        return false;
    }
    /* A file is no network: no limit unless asked (as libvirt). */
    JsonObject *p = json_object_new();
    json_object_set_int_member(p, "max-bandwidth", m->max_bandwidth);
    json_object_set_boolean_member(p, "direct-io", m->direct_io);
    if (multifd) {
        json_object_set_int_member(p, "multifd-channels", m->channels);
        json_object_set_string_member(p, "multifd-compression", "none");
    }
    if (!set_params(c, p, errp)) {
        error_prepend(errp, "Could not set the migration parameters: ");
        return false;
    }
    return true;
}

bool vmctl_remember(QMPClient *c, VmctlSaved *s, GError **errp)
{
    s->caps =
        qmp_client_cmdf(c, errp, "{'execute': 'query-migrate-capabilities'}");
    if (!s->caps) {
        return false;
    }
    s->params =
        qmp_client_cmdf(c, errp, "{'execute': 'query-migrate-parameters'}");
    return s->params != NULL;
}

void vmctl_restore(QMPClient *c, VmctlSaved *s)
{
    if (!s->caps || !s->params || !JSON_NODE_HOLDS_ARRAY(s->caps) ||
        !JSON_NODE_HOLDS_OBJECT(s->params)) {
        return;
    }
    JsonArray *old = json_node_get_array(s->caps);
    JsonArray *caps = json_array_new();
    for (guint i = 0; i < json_array_get_length(old); i++) {
        JsonObject *o = json_array_get_object_element(old, i);
        const char *name =
            json_object_get_string_member_with_default(o, "capability", "");
        if (g_strv_contains(owned_caps, name)) {
            add_cap(
                caps, name,
                json_object_get_boolean_member_with_default(o, "state", false));
        }
    }
    /* Best effort: the VM goes on either way. */
    set_caps(c, caps, NULL);
    JsonObject *from = json_node_get_object(s->params);
    JsonObject *p = json_object_new();
    for (int i = 0; owned_params[i]; i++) {
        if (json_object_has_member(from, owned_params[i])) {
            json_object_set_member(
                p, owned_params[i],
                json_node_copy(json_object_get_member(from, owned_params[i])));
        }
    }
    set_params(c, p, NULL);
}

void vmctl_saved_clear(VmctlSaved *s)
{
    g_clear_pointer(&s->caps, json_node_unref);
    g_clear_pointer(&s->params, json_node_unref);
}

static bool status_is_final(const char *s)
{
    return !g_strcmp0(s, "completed") || !g_strcmp0(s, "failed") ||
           !g_strcmp0(s, "cancelled");
}

/* query-migrate's status and error-desc. */
static char *query_final(QMPClient *c, char **desc, GError **errp)
{
    g_autoptr(JsonNode) r =
        qmp_client_cmdf(c, errp, "{'execute': 'query-migrate'}");
    if (!r) {
        return NULL;
    }
    *desc = g_strdup(qmp_get_str(r, "error-desc"));
    return g_strdup(qmp_get_str(r, "status"));
}

char *vmctl_wait_migration(QMPClient *c, VmctlTick tick, void *opaque,
                           bool (*should_cancel)(void *opaque),
                           bool abort_on_interrupt, GError **errp)
{
    return vmctl_wait_migration_until(c, NULL, tick, opaque, should_cancel,
                                      abort_on_interrupt, errp);
}

char *vmctl_wait_migration_until(QMPClient *c, const char *stop_at,
                                 VmctlTick tick, void *opaque,
                                 bool (*should_cancel)(void *opaque),
                                 bool abort_on_interrupt, GError **errp)
{
    bool cancel_sent = false;
    char *status = NULL;

    for (;;) {
        GError *err = NULL;
        JsonObject *ev =
            qmp_client_wait_event(c, "MIGRATION", WAIT_TICK_MS, &err);
        if (err) {
            g_propagate_prefixed_error(errp, err, "Lost the VM: ");
            return NULL;
        }
        if (ev) {
            JsonObject *data = json_object_get_object_member(ev, "data");
            const char *s = data ? json_object_get_string_member_with_default(
                                       data, "status", "")
                                 : "";
            bool final = status_is_final(s);
            bool reached = stop_at && !strcmp(s, stop_at);
            json_object_unref(ev);
            if (reached) {
                return g_strdup(stop_at);
            }
            if (final) {
                break;
            }
            continue;
        }
        if (abort_on_interrupt && ctl_interrupted) {
            error_setg(errp, "interrupted");
            return NULL;
        }
        if (!cancel_sent &&
            (ctl_interrupted || (should_cancel && should_cancel(opaque)))) {
            cancel_sent = true;
            vmctl_cmd(c, NULL, "{'execute': 'migrate_cancel'}");
        }
        if (tick) {
            tick(opaque, c);
        }
    }
    /* The event says what; query-migrate says why. */
    g_autofree char *desc = NULL;
    status = query_final(c, &desc, errp);
    if (status && !strcmp(status, "failed")) {
        error_setg(errp, "%s", desc ? desc : "migration failed");
    }
    return status;
}
