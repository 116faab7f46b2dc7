/*
 * A monitor without a socket for the QMP and HMP harnesses: input bytes
 * go to the protocol's receive() as if read from a client, replies go to
 * a memfd the harness can check.  All commands of mapmig are registered;
 * the few whose effect reaches outside the process are replaced by
 * versions that parse their arguments as the real ones do and then
 * refuse (see fuzz_monitor_init()).
 */
#include "qemu/osdep.h"
#include "migration/migration.h"
#include "migration/options-cmds.h"
#include "monitor/monitor-internal.h"
#include "qapi/events.h"
#include "system/runstate.h"
#include "tests/fuzz/fuzz-monitor.h"

#include <sys/mman.h>

static int out_fd = -1;

/* Parse @uri as migrate would; always fails (errp set). */
static void refuse_uri(const char *uri, GError **errp)
{
    MigrationAddress addr;

    if (migration_parse_uri(uri, &addr, errp)) {
        error_setg(errp, "migration to '%s' is disabled in the fuzzer", uri);
    }
    migration_address_clear(&addr);
}

/*
 * migrate / migrate-incoming would open files, sockets, run commands and
 * start threads.
 */
static JsonNode *qmp_migrate_refused(Monitor *mon, JsonObject *args,
                                     GError **errp)
{
    const char *uri = NULL;

    if (qmp_arg_str(args, "uri", true, &uri, errp)) {
        refuse_uri(uri, errp);
    }
    return NULL;
}

static void hmp_migrate_refused(Monitor *mon, int argc, char **argv)
{
    GError *err = NULL;

    if (argc < 2) {
        monitor_printf(mon, "Usage: %s uri\n", argv[0]);
        return;
    }
    refuse_uri(argv[argc - 1], &err);
    hmp_handle_error(mon, err);
}

void fuzz_monitor_init(void)
{
    static const HmpCommand hmp_refused[] = {
        { "migrate", "[-d] uri", "disabled in the fuzzer",
          hmp_migrate_refused },
        { "migrate_incoming", "uri", "disabled in the fuzzer",
          hmp_migrate_refused },
    };

    fuzz_vm_init("none", 16 * KiB, 0, false);
    qapi_event_set_emitter(qapi_event_send);
    fuzz_register_commands();
    /* Later registrations replace earlier ones. */
    qmp_register_command("migrate", qmp_migrate_refused, 0);
    qmp_register_command("migrate-incoming", qmp_migrate_refused, 0);
    for (size_t i = 0; i < ARRAY_SIZE(hmp_refused); i++) {
        hmp_register_command(&hmp_refused[i]);
    }
    out_fd = memfd_create("fuzz-monitor-out", MFD_CLOEXEC);
    if (out_fd < 0) {
        g_error("fuzz: memfd_create: %s", g_strerror(errno));
    }
}

GByteArray *fuzz_monitor_run(const MonitorOps *ops, const uint8_t *data,
                             size_t size)
{
    GByteArray *out = g_byte_array_new();

    if (ftruncate(out_fd, 0) < 0 || lseek(out_fd, 0, SEEK_SET) < 0) {
        g_error("fuzz: reset output: %s", g_strerror(errno));
    }
    Monitor *mon = monitor_new(ops, -1, out_fd, false);
    monitor_ref(mon);
    ops->receive(mon, data, size);
    monitor_close(mon);
    monitor_unref(mon);

    /* Each input starts from the same VM and migration settings. */
    migration_options_reset();
    runstate_set(RUN_STATE_PRELAUNCH);
    autostart = true;

    off_t len = lseek(out_fd, 0, SEEK_END);
    g_byte_array_set_size(out, len);
    if (len > 0 && pread(out_fd, out->data, len, 0) != len) {
        g_error("fuzz: read output: %s", g_strerror(errno));
    }
    return out;
}
