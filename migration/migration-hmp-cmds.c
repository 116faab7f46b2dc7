/*
 * HMP migration commands: migrate, migrate_incoming, migrate_cancel and
 * info migrate (QEMU's ≤10.0 text).
 */
#include "qemu/osdep.h"
#include "migration/migration.h"
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

static void hmp_info_migrate(Monitor *mon, int argc, char **argv)
{
    g_autoptr(JsonObject) info = migration_query();
    const char *status =
        json_object_get_string_member_with_default(info, "status", NULL);

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
    if (json_object_has_member(info, "lazy-restore")) {
        print_lazy(mon, json_object_get_object_member(info, "lazy-restore"));
    }
}

/* "migrate" without -d: the monitor waits, printing progress. */
typedef struct HMPMigrationStatus {
    Monitor *mon;
    guint timer;
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
            monitor_printf(
                st->mon, "\rcompleted %3d %%, %0.1f MB/s",
                (int)((total - MIN(left, total)) * 100 / total),
                json_object_get_double_member_with_default(ram, "mbps", 0) / 8);
        }
        return G_SOURCE_CONTINUE;
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

void migration_hmp_register_commands(void)
{
    static const HmpCommand cmds[] = {
        { "migrate", "[-d] uri",
          "migrate to URI (-d: do not wait for completion)", hmp_migrate },
        { "migrate_incoming", "uri",
          "continue an incoming migration "
          "from an -incoming defer",
          hmp_migrate_incoming },
        { "migrate_cancel", "", "cancel the current VM migration",
          hmp_migrate_cancel },
    };
    static const HmpCommand info = {
        "migrate",
        "",
        "show migration status",
        hmp_info_migrate,
    };

    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        hmp_register_command(&cmds[i]);
    }
    hmp_register_info_command(&info);
}
