/*
 * Choosing the accelerator: -accel kvm, -accel soft, or a fallback list
 * (kvm:soft, or several -accel options) tried in order.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "monitor/monitor.h"

const AccelOps *accel_ops = &soft_accel_ops;

static const AccelOps *const accel_list[] = {
    &soft_accel_ops,
#if CONFIG_KVM
    &kvm_accel_ops,
#endif
};

static const AccelOps *accel_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(accel_list); i++) {
        if (!strcmp(accel_list[i]->name, name)) {
            return accel_list[i];
        }
    }
    return NULL;
}

/* Try one "name[,props]"; on failure @errp says why. */
static bool accel_try(MachineState *ms, const char *item, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(item, ",", 2);
    const char *name = parts[0] ? parts[0] : "";
    const AccelOps *ops = accel_find(name);

    if (!ops) {
        if (!strcmp(name, "kvm")) {
            error_setg(errp, "-accel kvm: mapmig was built without KVM "
                             "support");
        } else {
            error_setg(errp,
                       "-accel: unknown accelerator '%s' "
                       "(use kvm or soft)",
                       name);
        }
        return false;
    }
    if (!ops->init_machine(ms, parts[0] ? parts[1] : NULL, errp)) {
        return false;
    }
    accel_ops = ops;
    return true;
}

bool accel_init(MachineState *ms, const char *spec, GError **errp)
{
    g_auto(GStrv) items = g_strsplit(spec ? spec : "soft", ":", -1);

    for (int i = 0; items[i]; i++) {
        GError *err = NULL;

        if (accel_try(ms, items[i], &err)) {
            return true;
        }
        if (!items[i + 1]) {
            g_propagate_error(errp, err);
            return false;
        }
        error_report("%s; trying the next accelerator", err->message);
        g_error_free(err);
    }
    error_setg(errp, "-accel: no accelerator given");
    return false;
}

const char *accel_name(void)
{
    return accel_ops->name;
}

bool accel_is_kvm(void)
{
    return !strcmp(accel_ops->name, "kvm");
}

/* QEMU's query-kvm: present = built with KVM, enabled = in use. */
static JsonNode *qmp_query_kvm(Monitor *mon, JsonObject *args, GError **errp)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_object_set_boolean_member(o, "enabled", accel_is_kvm());
    json_object_set_boolean_member(o, "present", CONFIG_KVM);
    json_node_take_object(n, o);
    return n;
}

static void hmp_info_kvm(Monitor *mon, int argc, char **argv)
{
    if (!CONFIG_KVM) {
        monitor_printf(mon, "kvm support: not compiled\n");
    } else {
        monitor_printf(mon, "kvm support: %s\n",
                       accel_is_kvm() ? "enabled" : "disabled");
    }
}

void accel_register_commands(void)
{
    static const HmpCommand info_kvm = { "kvm", "", "show KVM information",
                                         hmp_info_kvm };

    qmp_register_command("query-kvm", qmp_query_kvm, 0);
    hmp_register_info_command(&info_kvm);
}
