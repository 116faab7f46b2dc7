/*
 * mapmig's command line and main loop.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/workload.h"
#include "migration/misc.h"
#include "monitor/monitor.h"
#include "qapi/events.h"
#include "system/cpus.h"
#include "system/hostmem.h"
#include "system/runstate.h"
#include "system/system.h"
#include "system/vm-config.h"

#include <glib-unix.h>
#include <signal.h>

typedef struct VMOptions {
    MachineState machine;
    bool start_paused;
    GPtrArray *qmp;      /* -qmp specs */
    GPtrArray *monitors; /* -monitor specs */
    char *qtest;
    char *incoming;
    char *workload;
    char *serial;
    char *pidfile;
} VMOptions;

static void help(void)
{
    printf("Usage: mapmig [options]\n\n"
           "  -m SIZE             guest RAM (suffix K, M, G; default 128M)\n"
           "  -M mini|none[,memory-backend=ID]   machine type (default "
           "mini)\n"
           "  -object memory-backend-{ram,file,memfd},id=ID,size=S[,...]\n"
           "                      guest RAM backend (see "
           "docs/migration/memory.rst)\n"
           "  -smp N              number of vCPUs (default 1)\n"
           "  -accel kvm[,device=PATH]|soft   accelerator (kvm:soft or\n"
           "                      repeated -accel: first that works)\n"
           "  -S                  do not start vCPUs at start-up\n"
           "  -name NAME          VM name\n"
           "  -qmp unix:PATH,server=on,wait=off   QMP socket (repeatable)\n"
           "  -monitor stdio|unix:PATH,server=on,wait=off   HMP monitor\n"
           "  -qtest unix:PATH    qtest protocol (connects to PATH)\n"
           "  -incoming URI|defer wait for an incoming migration\n"
           "  -workload idle|stress[,share=N][,rate=P]|ab[,rate=P]\n"
           "  -serial file:PATH|stdio|none\n"
           "  -pidfile PATH       write the process id to PATH\n"
           "  --version, --help\n");
}

/* Options that take an argument. */
static const char *const arg_options[] = {
    "m",        "M",      "machine", "smp",    "accel",
    "name",     "qmp",    "monitor", "qtest",  "incoming",
    "workload", "serial", "pidfile", "object", NULL,
};

static bool option_takes_arg(const char *opt)
{
    for (int i = 0; arg_options[i]; i++) {
        if (!strcmp(opt, arg_options[i])) {
            return true;
        }
    }
    return false;
}

/* -M/-machine [type=]TYPE[,memory-backend=ID] (each part optional). */
static bool parse_machine_opts(MachineState *ms, const char *arg, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);

    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        const char *type = NULL;
        if (g_str_has_prefix(p, "type=")) {
            type = p + 5;
        } else if (i == 0 && !strchr(p, '=')) {
            type = p;
        } else if (g_str_has_prefix(p, "memory-backend=") && p[15]) {
            g_free(ms->memdev);
            ms->memdev = g_strdup(p + 15);
            continue;
        } else {
            error_setg(errp,
                       "-M: unknown machine property '%s' "
                       "(type, memory-backend)",
                       p);
            return false;
        }
        if (strcmp(type, "mini") && strcmp(type, "none")) {
            error_setg(errp,
                       "-M: unsupported machine type '%s' "
                       "(use mini or none)",
                       type);
            return false;
        }
        g_free(ms->type);
        ms->type = g_strdup(type);
    }
    return true;
}

static bool parse_option(VMOptions *o, const char *opt, const char *arg,
                         GError **errp)
{
    uint64_t v;

    if (!strcmp(opt, "m")) {
        const char *a = g_str_has_prefix(arg, "size=") ? arg + 5 : arg;
        if (qemu_strtosz_suffix(a, NULL, 'M', &v) || v < TARGET_PAGE_SIZE) {
            error_setg(errp, "-m: invalid RAM size '%s'", arg);
            return false;
        }
        o->machine.ram_size = ROUND_UP(v, TARGET_PAGE_SIZE);
        o->machine.ram_size_set = true;
    } else if (!strcmp(opt, "M") || !strcmp(opt, "machine")) {
        return parse_machine_opts(&o->machine, arg, errp);
    } else if (!strcmp(opt, "object")) {
        return object_option_parse(arg, errp);
    } else if (!strcmp(opt, "smp")) {
        const char *a = g_str_has_prefix(arg, "cpus=") ? arg + 5 : arg;
        if (qemu_strtou64(a, &v) || v < 1 || v > 64) {
            error_setg(errp, "-smp: invalid number of vCPUs '%s' (1..64)", arg);
            return false;
        }
        o->machine.smp = v;
    } else if (!strcmp(opt, "accel")) {
        const char *a = g_str_has_prefix(arg, "accel=") ? arg + 6 : arg;
        /* Repeated -accel options form a fallback list, as in QEMU. */
        char *list = o->machine.accel
                         ? g_strdup_printf("%s:%s", o->machine.accel, a)
                         : g_strdup(a);
        g_free(o->machine.accel);
        o->machine.accel = list;
    } else if (!strcmp(opt, "name")) {
        g_free(o->machine.name);
        o->machine.name = g_strdup(arg);
    } else if (!strcmp(opt, "qmp")) {
        g_ptr_array_add(o->qmp, g_strdup(arg));
    } else if (!strcmp(opt, "monitor")) {
        g_ptr_array_add(o->monitors, g_strdup(arg));
    } else if (!strcmp(opt, "qtest")) {
        g_free(o->qtest);
        o->qtest = g_strdup(arg);
    } else if (!strcmp(opt, "incoming")) {
        g_free(o->incoming);
        o->incoming = g_strdup(arg);
    } else if (!strcmp(opt, "workload")) {
        if (!workload_parse(arg, errp)) {
            return false;
        }
    } else if (!strcmp(opt, "serial")) {
        g_free(o->serial);
        o->serial = g_strdup(arg);
    } else if (!strcmp(opt, "pidfile")) {
        g_free(o->pidfile);
        o->pidfile = g_strdup(arg);
    }
    return true;
}

/* Returns 0 to go on, 1 for a usage error, -1 after --help/--version. */
static int parse_command_line(VMOptions *o, int argc, char **argv,
                              GError **errp)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            error_setg(errp, "unexpected argument '%s'", a);
            return 1;
        }
        const char *opt = a + 1 + (a[1] == '-');
        if (!strcmp(opt, "help") || !strcmp(opt, "h")) {
            help();
            return -1;
        }
        if (!strcmp(opt, "version")) {
            printf("mapmig version %s\n", MAPMIG_VERSION);
            return -1;
        }
        if (!strcmp(opt, "S")) {
            o->start_paused = true;
            continue;
        }
        if (!strcmp(opt, "nographic") || !strcmp(opt, "nodefaults")) {
            continue; /* accepted for QEMU command-line compatibility */
        }
        if (!option_takes_arg(opt)) {
            error_setg(errp, "-%s: invalid option", opt);
            return 1;
        }
        if (i + 1 >= argc) {
            error_setg(errp, "-%s: requires an argument", opt);
            return 1;
        }
        if (!parse_option(o, opt, argv[++i], errp)) {
            return 1;
        }
    }
    return 0;
}

static bool write_pidfile(const char *path, GError **errp)
{
    g_autofree char *pid = g_strdup_printf("%d\n", getpid());
    return g_file_set_contents(path, pid, -1, errp);
}

static gboolean on_signal(gpointer opaque)
{
    qemu_system_shutdown_request();
    return G_SOURCE_CONTINUE;
}

/* The BQL is dropped only while the main loop sleeps in poll(). */
static gint bql_poll(GPollFD *fds, guint nfds, gint timeout)
{
    bql_unlock();
    gint ret = g_poll(fds, nfds, timeout);
    bql_lock();
    return ret;
}

static void main_loop(void)
{
    GMainContext *ctx = g_main_context_default();

    g_main_context_set_poll_func(ctx, bql_poll);
    while (!qemu_system_shutdown_requested()) {
        g_main_context_iteration(ctx, TRUE);
    }
}

static bool vm_setup(VMOptions *o, GError **errp)
{
    if (!serial_init(o->serial, errp) || !machine_init(&o->machine, errp)) {
        return false;
    }
    migration_object_init();
    machine_register_devices(&o->machine, workload_kind() != WORKLOAD_IDLE);

    qapi_event_set_emitter(qapi_event_send);
    monitor_register_builtin_commands();
    system_register_commands();
    migration_register_commands();

    for (guint i = 0; i < o->qmp->len; i++) {
        if (!monitor_init_qmp(o->qmp->pdata[i], errp)) {
            return false;
        }
    }
    for (guint i = 0; i < o->monitors->len; i++) {
        if (!monitor_init_hmp(o->monitors->pdata[i], errp)) {
            return false;
        }
    }
    if (o->qtest && !qtest_init(o->qtest, errp)) {
        return false;
    }
    if (o->pidfile && !write_pidfile(o->pidfile, errp)) {
        return false;
    }
    return true;
}

static void vm_options_free(VMOptions *o)
{
    g_free(o->machine.type);
    g_free(o->machine.name);
    g_free(o->machine.memdev);
    g_free(o->machine.accel);
    object_cleanup_all();
    g_ptr_array_free(o->qmp, true);
    g_ptr_array_free(o->monitors, true);
    g_free(o->qtest);
    g_free(o->incoming);
    g_free(o->serial);
    g_free(o->pidfile);
}

int qemu_main(int argc, char **argv)
{
    VMOptions o = {
        .machine = { .type = g_strdup("mini"),
                     .ram_size = 128 * MiB,
                     .smp = 1 },
        .qmp = g_ptr_array_new_with_free_func(g_free),
        .monitors = g_ptr_array_new_with_free_func(g_free),
    };
    GError *err = NULL;
    int ret = 0;

    signal(SIGPIPE, SIG_IGN);
    int r = parse_command_line(&o, argc, argv, &err);
    if (r) {
        if (err) {
            error_report_err(err);
        }
        vm_options_free(&o);
        return r < 0 ? 0 : 1;
    }
    vm_config_record(argc, argv, option_takes_arg);

    bql_lock();
    autostart = !o.start_paused;
    if (!vm_setup(&o, &err)) {
        error_report_err(err);
        ret = 1;
        goto out;
    }
    g_unix_signal_add(SIGINT, on_signal, NULL);
    g_unix_signal_add(SIGTERM, on_signal, NULL);
    g_unix_signal_add(SIGHUP, on_signal, NULL);

    if (o.incoming) {
        if (!migration_start_incoming(o.incoming, &err)) {
            error_report_err(err);
            ret = 1;
            goto out;
        }
    } else if (autostart) {
        vm_start();
    }

    main_loop();

out:
    migration_shutdown();
    if (cpus) {
        pause_all_vcpus();
        cpus_destroy();
    }
    monitor_cleanup();
    qemu_ram_free_all();
    if (o.pidfile) {
        unlink(o.pidfile);
    }
    bql_unlock();
    vm_options_free(&o);
    return ret;
}
