/*
 * mapmig-ctl's migration policy over QMP: the capabilities and parameters
 * of a save or restore, and when to cancel while waiting for it.  The
 * client itself is the tools' shared one (include/qemu/vm-client.h).
 */
#include "ctl.h"

#define WAIT_TICK_MS 200

/* The capabilities mapmig-ctl sets itself (vmctl_setup_migration). */
static const char *const owned_caps[] = { "events",        "mapped-ram",
                                          "multifd",       "x-checksums",
                                          "lazy-restore",  "x-checkpoint",
                                          "auto-converge", NULL };
/*
 * The parameters it sets, restored afterwards (the cpu-throttle ones
 * only change when asked, but then the VM gets its own back too).
 */
static const char *const owned_params[] = { "max-bandwidth",
                                            "multifd-channels",
                                            "direct-io",
                                            "multifd-compression",
                                            "cpu-throttle-initial",
                                            "cpu-throttle-increment",
                                            NULL };

/*
 * Capabilities that only say how this VM loads its state: an image must
 * not carry them to the VMs restored from it.
 */
static const char *const destination_caps[] = { "lazy-restore", "x-checksums",
                                                NULL };

bool vmctl_cap_is_destination_only(const char *name)
{
    return g_strv_contains(destination_caps, name);
}

bool vmctl_cap_is_recorded(const char *name)
{
    /*
     * mapmig-ctl sets these itself, from the image's format; and
     * auto-converge only throttles the guest of a source: a restore has
     * no dirty pages to chase, and a later save asks for it anew.
     */
    static const char *const own[] = { "events",        "mapped-ram",
                                       "multifd",       "x-checkpoint",
                                       "auto-converge", NULL };

    return !g_strv_contains(own, name) && !vmctl_cap_is_destination_only(name);
}

bool vmctl_set_cap(QMPClient *c, const char *name, bool on, GError **errp)
{
    JsonArray *a = json_array_new();

    vm_client_add_cap(a, name, on);
    return vm_client_set_caps(c, a, errp);
}

static bool vmctl_no_compression(QMPClient *c, GError **errp)
{
    JsonObject *p = json_object_new();

    json_object_set_string_member(p, "multifd-compression", "none");
    if (!vm_client_exec(c, "migrate-set-parameters", p, errp)) {
        error_prepend(errp, "Could not set the migration parameters: ");
        return false;
    }
    return true;
}

bool vmctl_setup_migration(QMPClient *c, const MigSetup *m, GError **errp)
{
    bool multifd = m->mapped && (m->channels > 1 || m->direct_io);
    JsonArray *caps = json_array_new();

    vm_client_add_cap(caps, "events", true);
    vm_client_add_cap(caps, "mapped-ram", m->mapped);
    vm_client_add_cap(caps, "multifd", multifd);
    vm_client_add_cap(caps, "x-checksums", m->mapped && m->checksums);
    vm_client_add_cap(caps, "x-checkpoint", m->mapped && m->checkpoint);
    /* As libvirt: on only when asked, whatever the VM had (given back). */
    vm_client_add_cap(caps, "auto-converge", m->converge.on);
    /* Only for the load that asks for it: off for a save (set by hand). */
    vm_client_add_cap(caps, "lazy-restore",
                      m->mapped && m->extra_caps &&
                          g_strv_contains(m->extra_caps, "lazy-restore"));
    for (int i = 0; m->extra_caps && m->extra_caps[i]; i++) {
        if (!g_strv_contains(owned_caps, m->extra_caps[i])) {
            vm_client_add_cap(caps, m->extra_caps[i], true);
        }
    }
    /* mapped-ram cannot be turned on while multifd compression is set. */
    if (m->mapped && !vmctl_no_compression(c, errp)) {
        json_array_unref(caps);
        return false;
    }
    if (!vm_client_set_caps(c, caps, errp)) {
        error_prepend(errp, "Could not set the migration capabilities");
        return false;
    }
    /* A file is no network: no limit unless asked (as libvirt). */
    JsonObject *p = json_object_new();
    json_object_set_int_member(p, "max-bandwidth", m->max_bandwidth);
    json_object_set_boolean_member(p, "direct-io", m->direct_io);
    if (m->converge.initial) {
        json_object_set_int_member(p, "cpu-throttle-initial",
                                   m->converge.initial);
    }
    if (m->converge.increment) {
        json_object_set_int_member(p, "cpu-throttle-increment",
                                   m->converge.increment);
    }
    if (multifd) {
        json_object_set_int_member(p, "multifd-channels", m->channels);
        json_object_set_string_member(p, "multifd-compression", "none");
    }
    if (!vm_client_exec(c, "migrate-set-parameters", p, errp)) {
        error_prepend(errp, "Could not set the migration parameters");
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
            vm_client_add_cap(
                caps, name,
                json_object_get_boolean_member_with_default(o, "state", false));
        }
    }
    /* Best effort: the VM goes on either way. */
    vm_client_set_caps(c, caps, NULL);
    JsonObject *from = json_node_get_object(s->params);
    JsonObject *p = json_object_new();
    for (int i = 0; owned_params[i]; i++) {
        if (json_object_has_member(from, owned_params[i])) {
            json_object_set_member(
                p, owned_params[i],
                json_node_copy(json_object_get_member(from, owned_params[i])));
        }
    }
    vm_client_exec(c, "migrate-set-parameters", p, NULL);
}

void vmctl_give_back(QMPClient *c, bool resume, const char *fdname,
                     VmctlSaved *saved)
{
    if (fdname) {
        JsonObject *args = json_object_new();
        json_object_set_string_member(args, "fdname", fdname);
        JsonNode *r = qmp_client_cmd(c, "closefd", args, NULL);
        if (r) {
            json_node_unref(r);
        }
    }
    g_autofree char *st = vm_client_status(c, NULL, NULL);
    if (resume && st && (!strcmp(st, "paused") || !strcmp(st, "postmigrate"))) {
        vm_client_cmd(c, NULL, "{'execute': 'cont'}");
    }
    if (saved) {
        vmctl_restore(c, saved);
    }
}

bool vmctl_migrate(QMPClient *c, const char *uri, GError **errp)
{
    JsonObject *args = json_object_new();

    qmp_client_clear_events(c);
    json_object_set_string_member(args, "uri", uri);
    JsonNode *r = qmp_client_cmd(c, "migrate", args, errp);
    if (!r) {
        return false;
    }
    json_node_unref(r);
    return true;
}

void vmctl_cancel_and_wait(QMPClient *c)
{
    ctl_interrupted = 0; /* wait for the cancel this time */
    vm_client_cmd(c, NULL, "{'execute': 'migrate_cancel'}");
    g_free(vmctl_wait_migration(c, NULL, NULL, NULL, false, NULL));
}

void vmctl_saved_clear(VmctlSaved *s)
{
    g_clear_pointer(&s->caps, json_node_unref);
    g_clear_pointer(&s->params, json_node_unref);
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

/* What to do between MIGRATION events. */
typedef struct VmctlWait {
    VmctlTick tick;
    void *opaque;
    bool (*should_cancel)(void *opaque);
    bool abort_on_interrupt;
    bool cancel_sent;
    bool interrupted; /* the wait ended because of ctl_interrupted */
} VmctlWait;

static bool vmctl_wait_tick(void *opaque, QMPClient *c, GError **errp)
{
    VmctlWait *w = opaque;

    if (w->abort_on_interrupt && ctl_interrupted) {
        w->interrupted = true;
        error_setg(errp, "interrupted");
        return false;
    }
    if (!w->cancel_sent && (ctl_interrupted || (w->should_cancel &&
                                                w->should_cancel(w->opaque)))) {
        w->cancel_sent = true;
        vm_client_cmd(c, NULL, "{'execute': 'migrate_cancel'}");
    }
    if (w->tick) {
        w->tick(w->opaque, c);
    }
    return true;
}

char *vmctl_wait_migration_until(QMPClient *c, const char *stop_at,
                                 VmctlTick tick, void *opaque,
                                 bool (*should_cancel)(void *opaque),
                                 bool abort_on_interrupt, GError **errp)
{
    VmctlWait w = { .tick = tick,
                    .opaque = opaque,
                    .should_cancel = should_cancel,
                    .abort_on_interrupt = abort_on_interrupt };
    GError *err = NULL;
    g_autofree char *st = vm_client_wait_migration_event(
        c, stop_at, WAIT_TICK_MS, vmctl_wait_tick, &w, &err);

    if (!st) {
        if (w.interrupted) {
            g_propagate_error(errp, err);
        } else {
            g_propagate_prefixed_error(errp, err, "Lost the VM: ");
        }
        return NULL;
    }
    if (stop_at && !strcmp(st, stop_at)) {
        return g_steal_pointer(&st);
    }
    /* The event says what; query-migrate says why. */
    g_autofree char *desc = NULL;
    char *status = query_final(c, &desc, errp);
    if (status && !strcmp(status, "failed")) {
        error_setg(errp, "%s", desc ? desc : "migration failed");
    }
    return status;
}
