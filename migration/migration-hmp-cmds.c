/*
 * HMP migration commands: migrate, migrate_incoming, migrate_cancel,
 * info migrate (QEMU's ≤10.0 text), and the capability and parameter
 * commands migrate_set_capability, migrate_set_parameter, info
 * migrate_capabilities and info migrate_parameters.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "migration/migration.h"
#include "migration/options-cmds.h"
#include "monitor/monitor.h"

static int64_t member_int(JsonObject *o, const char *k)
{
    return json_object_get_int_member_with_default(o, k, 0);
}

static void print_ram(Monitor *mon, JsonObject *ram)
{
    monitor_printf(mon, "transferred ram: %" PRId64 " kbytes\n",
                   member_int(ram, "transferred") >> 10);
    monitor_printf(mon, "throughput: %0.2f mbps\n",
                   json_object_get_double_member_with_default(ram, "mbps", 0));
    monitor_printf(mon, "remaining ram: %" PRId64 " kbytes\n",
                   member_int(ram, "remaining") >> 10);
    monitor_printf(mon, "total ram: %" PRId64 " kbytes\n",
                   member_int(ram, "total") >> 10);
    monitor_printf(mon, "duplicate: %" PRId64 " pages\n",
                   member_int(ram, "duplicate"));
    monitor_printf(mon, "skipped: %" PRId64 " pages\n",
                   member_int(ram, "skipped"));
    monitor_printf(mon, "normal: %" PRId64 " pages\n",
                   member_int(ram, "normal"));
    monitor_printf(mon, "normal bytes: %" PRId64 " kbytes\n",
                   member_int(ram, "normal-bytes") >> 10);
    monitor_printf(mon, "dirty sync count: %" PRId64 "\n",
                   member_int(ram, "dirty-sync-count"));
    monitor_printf(mon, "page size: %" PRId64 " kbytes\n",
                   member_int(ram, "page-size") >> 10);
    monitor_printf(mon, "multifd bytes: %" PRId64 " kbytes\n",
                   member_int(ram, "multifd-bytes") >> 10);
    monitor_printf(mon, "pages-per-second: %" PRId64 "\n",
                   member_int(ram, "pages-per-second"));
    if (member_int(ram, "dirty-pages-rate")) {
        monitor_printf(mon, "dirty pages rate: %" PRId64 " pages\n",
                       member_int(ram, "dirty-pages-rate"));
    }
    monitor_printf(mon, "precopy ram: %" PRId64 " kbytes\n",
                   member_int(ram, "precopy-bytes") >> 10);
    monitor_printf(mon, "downtime ram: %" PRId64 " kbytes\n",
                   member_int(ram, "downtime-bytes") >> 10);
}

/* Our extension: the lazy-restore statistics of a destination. */
static void print_lazy(Monitor *mon, JsonObject *l)
{
    monitor_printf(mon,
                   "lazy restore: %" PRId64 " of %" PRId64
                   " pages loaded in %" PRId64 " ms",
                   member_int(l, "pages-loaded"), member_int(l, "pages-total"),
                   member_int(l, "load-time"));
    if (json_object_has_member(l, "time-to-resume")) {
        monitor_printf(mon, ", guest resumed after %" PRId64 " ms",
                       member_int(l, "time-to-resume"));
    }
    monitor_printf(mon,
                   "\nlazy faults: %" PRId64 " (p50 %" PRId64
                   " us, p99 %" PRId64 " us, max %" PRId64 " us)\n",
                   member_int(l, "faults"),
                   member_int(l, "fault-latency-p50-us"),
                   member_int(l, "fault-latency-p99-us"),
                   member_int(l, "fault-latency-max-us"));
    monitor_printf(
        mon,
        "lazy pages by fault: %" PRId64 ", by prefetch: %" PRId64
        ", by monitor: %" PRId64 ", zero: %" PRId64 "\n",
        member_int(l, "pages-by-fault"), member_int(l, "pages-by-prefetch"),
        member_int(l, "pages-by-monitor"), member_int(l, "zero-pages"));
    monitor_printf(mon, "lazy prefetched: %" PRId64 " kbytes\n",
                   member_int(l, "bytes-prefetched") >> 10);
}

/*
 * QEMU's "globals:" block: the migration object's properties, fixed in
 * mapmig to what its streams do (global state and configuration sent,
 * section footers, QEMU's default clear-bitmap-shift).
 */
static void print_globals(Monitor *mon)
{
    monitor_printf(mon, "globals:\n"
                        "store-global-state: on\n"
                        "only-migratable: off\n"
                        "send-configuration: on\n"
                        "send-section-footer: on\n"
                        "decompress-error-check: on\n"
                        "clear-bitmap-shift: 18\n");
}

static void hmp_info_migrate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonObject) info = migration_query();
    const char *status =
        json_object_get_string_member_with_default(info, "status", NULL);

    print_globals(mon);
    if (!status) {
        return;
    }
    const char *err =
        json_object_get_string_member_with_default(info, "error-desc", NULL);
    if (err) {
        monitor_printf(mon, "Migration status: %s (%s)\n", status, err);
    } else {
        monitor_printf(mon, "Migration status: %s\n", status);
    }
    monitor_printf(mon, "total time: %" PRId64 " ms\n",
                   member_int(info, "total-time"));
    if (json_object_has_member(info, "expected-downtime")) {
        monitor_printf(mon, "expected downtime: %" PRId64 " ms\n",
                       member_int(info, "expected-downtime"));
    }
    if (json_object_has_member(info, "downtime")) {
        monitor_printf(mon, "downtime: %" PRId64 " ms\n",
                       member_int(info, "downtime"));
    }
    if (json_object_has_member(info, "setup-time")) {
        monitor_printf(mon, "setup: %" PRId64 " ms\n",
                       member_int(info, "setup-time"));
    }
    if (json_object_has_member(info, "ram")) {
        print_ram(mon, json_object_get_object_member(info, "ram"));
    }
    if (json_object_has_member(info, "cpu-throttle-percentage")) {
        monitor_printf(mon, "cpu throttle percentage: %" PRId64 "\n",
                       member_int(info, "cpu-throttle-percentage"));
    }
    if (json_object_has_member(info, "lazy-restore")) {
        print_lazy(mon, json_object_get_object_member(info, "lazy-restore"));
    }
}

/* "migrate" without -d: the monitor waits, printing progress. */
typedef struct HMPMigrationStatus {
    Monitor *mon;
    guint timer;
    int percent; /* shown so far: it never goes back with a new pass */
} HMPMigrationStatus;

static gboolean hmp_migrate_status_cb(gpointer opaque)
{
    HMPMigrationStatus *st = opaque;
    g_autoptr(JsonObject) info = migration_query();
    const char *status =
        json_object_get_string_member_with_default(info, "status", "none");

    if (!strcmp(status, "active") || !strcmp(status, "setup") ||
        !strcmp(status, "cancelling") || !strcmp(status, "device")) {
        if (json_object_has_member(info, "ram")) {
            JsonObject *ram = json_object_get_object_member(info, "ram");
            int64_t total = MAX(1, member_int(ram, "total"));
            int64_t left = member_int(ram, "remaining");
            st->percent = MAX(st->percent,
                              (int)((total - MIN(left, total)) * 100 / total));
            monitor_printf(
                st->mon, "\rcompleted %3d %%, %0.1f MB/s", st->percent,
                json_object_get_double_member_with_default(ram, "mbps", 0) / 8);
        }
        return G_SOURCE_CONTINUE;
    }
    if (!strcmp(status, "completed")) {
        monitor_printf(st->mon, "\rcompleted 100 %%");
    }
    monitor_printf(st->mon, "\n");
    if (strcmp(status, "completed")) {
        const char *err = json_object_get_string_member_with_default(
            info, "error-desc", "unknown error");
        monitor_printf(st->mon, "Migration status: %s (%s)\n", status, err);
    } else {
        monitor_printf(st->mon, "migration completed in %" PRId64 " ms\n",
                       member_int(info, "total-time"));
    }
    monitor_resume(st->mon);
    monitor_unref(st->mon);
    g_free(st);
    return G_SOURCE_REMOVE;
}

static void hmp_migrate(Monitor *mon, int argc, char **argv)
{
    bool detach = false;
    const char *uri = NULL;
    GError *err = NULL;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-d")) {
            detach = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            monitor_printf(mon, "Error: unknown option '%s'\n", argv[i]);
            return;
        } else {
            uri = argv[i];
        }
    }
    if (!uri) {
        monitor_printf(mon, "Usage: migrate [-d] uri\n");
        return;
    }
    if (!qmp_migrate_start(uri, &err)) {
        hmp_handle_error(mon, err);
        return;
    }
    if (!detach && monitor_suspend(mon)) {
        HMPMigrationStatus *st = g_new0(HMPMigrationStatus, 1);
        st->mon = monitor_ref(mon);
        st->timer = g_timeout_add(100, hmp_migrate_status_cb, st);
    }
}

static void hmp_migrate_incoming(Monitor *mon, int argc, char **argv)
{
    GError *err = NULL;

    if (argc != 2) {
        monitor_printf(mon, "Usage: migrate_incoming uri\n");
        return;
    }
    qmp_migrate_incoming_start(argv[1], &err);
    hmp_handle_error(mon, err);
}

static void hmp_migrate_cancel(Monitor *mon, int argc, char **argv)
{
    qmp_migrate_cancel_do();
}

/* ---- Capabilities and parameters ---- */

void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv)
{
    bool new_caps[MIGRATION_CAPABILITY__MAX];
    GError *err = NULL;
    bool state;
    int cap;

    if (argc != 3) {
        error_setg(&err, "Usage: migrate_set_capability NAME on|off");
        goto out;
    }
    cap = migration_capability_parse(argv[1], &err);
    if (cap < 0) {
        goto out;
    }
    if (!qemu_parse_bool(argv[2], &state)) {
        error_setg(&err, "Parameter 'state' expects 'on' or 'off'");
        goto out;
    }
    migrate_caps_snapshot(new_caps);
    new_caps[cap] = state;
    migrate_set_caps(new_caps, &err);
out:
    hmp_handle_error(mon, err);
}

static bool hmp_parse_int_param(MigrationParameters *p, MigParam id,
                                const char *str, GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);
    uint64_t v;
    int ret;

    if (info->hmp_size_unit) {
        /*
         * K, M, G suffixes allowed.  As QEMU's qemu_strtosz_MiB users do,
         * a size in MiB beyond the limit is an invalid size rather than
         * out of range.
         */
        ret = qemu_strtosz_suffix(str, NULL, info->hmp_size_unit, &v);
        if (ret < 0 || (info->hmp_size_unit == 'M' && v > info->max)) {
            error_setg(errp, "Invalid size %s", str);
            return false;
        }
        return migration_param_set(p, id, v, errp);
    }
    ret = qemu_strtou64(str, &v);
    if (ret == -ERANGE) {
        migration_param_error_range(id, errp);
        return false;
    } else if (ret < 0) {
        migration_param_error_type(info->name, "integer", errp);
        return false;
    }
    return migration_param_set(p, id, v, errp);
}

static bool hmp_parse_param(MigrationParameters *p, MigParam id,
                            const char *str, GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);
    bool b;

    switch (info->kind) {
    case MIG_PARAM_KIND_INT:
        return hmp_parse_int_param(p, id, str, errp);
    case MIG_PARAM_KIND_BOOL:
        if (!qemu_parse_bool(str, &b)) {
            error_setg(errp, "Parameter '%s' expects 'on' or 'off'",
                       info->name);
            return false;
        }
        return migration_param_set(p, id, b, errp);
    case MIG_PARAM_KIND_ENUM:
        return migration_param_set_enum(p, id, str, errp);
    }
    g_assert_not_reached();
}

void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv)
{
    MigrationParameters p = migrate_params_snapshot();
    GError *err = NULL;
    int id;

    if (argc != 3) {
        error_setg(&err, "Usage: migrate_set_parameter NAME VALUE");
        goto out;
    }
    id = migration_param_lookup(argv[1]);
    if (id < 0) {
        g_autofree char *valid = migration_param_names();

        error_setg(&err, "Invalid parameter '%s'; valid parameters: %s",
                   argv[1], valid);
        goto out;
    }
    if (hmp_parse_param(&p, id, argv[2], &err)) {
        migrate_set_params(&p, &err);
    }
out:
    hmp_handle_error(mon, err);
}

void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        monitor_printf(mon, "%s: %s\n", migration_capability_name(i),
                       migrate_cap(i) ? "on" : "off");
    }
}

void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv)
{
    MigrationParameters p = migrate_params_snapshot();
    size_t n;
    const MigFixedParam *fixed = migration_fixed_params(&n);

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        const MigParamInfo *info = migration_param_info(i);
        uint64_t v = migration_param_get(&p, i);

        switch (info->kind) {
        case MIG_PARAM_KIND_INT:
            monitor_printf(mon, "%s: %" PRIu64 "%s\n", info->name, v,
                           info->hmp_unit ? info->hmp_unit : "");
            break;
        case MIG_PARAM_KIND_BOOL:
            monitor_printf(mon, "%s: %s\n", info->name, v ? "on" : "off");
            break;
        case MIG_PARAM_KIND_ENUM:
            monitor_printf(mon, "%s: %s\n", info->name, info->enum_names[v]);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *q = fixed[i].hmp_quoted ? "'" : "";

        monitor_printf(mon, "%s: %s%s%s\n", fixed[i].name, q, fixed[i].value,
                       q);
    }
}

/* ---- Registration ---- */

static const HmpCommand hmp_cmds[] = {
    { "migrate", "[-d] uri", "migrate to URI (-d: do not wait for completion)",
      hmp_migrate },
    { "migrate_incoming", "uri",
      "continue an incoming migration from an -incoming defer",
      hmp_migrate_incoming },
    { "migrate_cancel", "", "cancel the current VM migration",
      hmp_migrate_cancel },
    { "migrate_set_capability", "capability state",
      "Enable/Disable the usage of a capability for migration",
      hmp_migrate_set_capability },
    { "migrate_set_parameter", "parameter value",
      "Set the parameter for migration", hmp_migrate_set_parameter },
};

static const HmpCommand hmp_info_cmds[] = {
    { "migrate", "", "show migration status", hmp_info_migrate },
    { "migrate_capabilities", "", "show current migration capabilities",
      hmp_info_migrate_capabilities },
    { "migrate_parameters", "", "show current migration parameters",
      hmp_info_migrate_parameters },
};

void migration_hmp_register_commands(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++) {
        hmp_register_command(&hmp_cmds[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(hmp_info_cmds); i++) {
        hmp_register_info_command(&hmp_info_cmds[i]);
    }
}
