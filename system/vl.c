/*
 * mapmig's command line and main loop.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "hw/workload.h"
#include "migration/misc.h"
#include "monitor/chardev.h"
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
    GPtrArray *qmp;           /* -qmp specs */
    GPtrArray *monitors;      /* -monitor specs */
    GPtrArray *mons;          /* -mon options */
    GPtrArray *monitor_specs; /* MonitorSpec: all of the above, resolved */
    char *qtest;
    char *incoming;
    char *workload;
    char *serial;
    char *pidfile;
    char *logfile; /* -D */
    ChardevSpec *serial_cs;
    bool nographic;
    bool daemonize;
    /* QEMU's defaults: cleared by -nodefaults or an explicit option. */
    bool default_serial;
    bool default_monitor;
    bool help_shown; /* a "help" argument printed its list */
} VMOptions;

static void help(void)
{
    printf("Usage: mapmig [options]\n\n"
           "  -m SIZE             guest RAM (suffix K, M, G; default 128M)\n"
           "  -M mini|none[,memory-backend=ID]   machine type (default "
           "mini; help lists them)\n"
           "  -object memory-backend-{ram,file,memfd},id=ID,size=S[,...]\n"
           "                      guest RAM backend (see "
           "docs/migration/memory.rst)\n"
           "  -smp N              number of vCPUs (default 1)\n"
           "  -accel kvm[,device=PATH]|soft   accelerator (kvm:soft or\n"
           "                      repeated -accel: first that works)\n"
           "  -S                  do not start vCPUs at start-up\n"
           "  -name [guest=]NAME[,debug-threads=on|off]   VM name\n"
           "  -qmp DEV            QMP monitor on a character device "
           "(repeatable)\n"
           "  -monitor DEV|none   HMP monitor on a character device\n"
           "  -serial DEV|mon:stdio|none   guest serial output\n"
           "                      DEV: stdio, null, file:PATH (serial only),\n"
           "                      unix:PATH[,server=on|off][,wait=on|off],\n"
           "                      tcp:[HOST]:PORT[,server=on|off][,wait=on|off]"
           "[,nodelay=on]\n"
           "  -chardev socket,id=ID,path=PATH|host=H,port=P|fd=N"
           "[,server=on][,wait=off]\n"
           "  -chardev stdio|null,id=ID   a character device for -mon\n"
           "  -mon chardev=ID[,mode=control|readline]   monitor on a "
           "-chardev\n"
           "  -qtest unix:PATH    qtest protocol (connects to PATH)\n"
           "  -incoming URI|defer wait for an incoming migration\n"
           "  -workload idle|stress[,share=N][,rate=P]|ab[,rate=P]\n"
           "  -display none       no display (there is none to have)\n"
           "  -nographic          no display; serial and HMP on stdio\n"
           "  -nodefaults         no default serial port or monitor\n"
           "  -no-user-config     read no configuration files (none are)\n"
           "  -daemonize          detach once started\n"
           "  -D LOGFILE          with -daemonize, where stderr goes\n"
           "  -pidfile PATH       write the process id to PATH\n"
           "  --version, --help\n");
}

/* Options that take an argument. */
static const char *const arg_options[] = {
    "m",       "M",     "machine",  "smp",      "accel",  "name",    "qmp",
    "monitor", "qtest", "incoming", "workload", "serial", "pidfile", "object",
    "chardev", "mon",   "display",  "D",        NULL,
};

/* Options without an argument (flags); see parse_flag(). */
static const char *const flag_options[] = {
    "S", "nographic", "nodefaults", "no-user-config", "daemonize", NULL,
};

static bool option_takes_arg(const char *opt)
{
    return g_strv_contains(arg_options, opt);
}

/* QEMU's is_help_option(). */
static bool is_help_option(const char *arg)
{
    return !strcmp(arg, "help") || !strcmp(arg, "?");
}

static void machine_help(void)
{
    printf("Supported machines are:\n");
    printf("%-20s %s\n", "mini",
           "minimal guest: RAM, vCPUs, a serial port "
           "(default)");
    printf("%-20s %s\n", "none", "empty machine");
}

static void object_help(void)
{
    printf("List of user creatable objects:\n");
    printf("  memory-backend-file\n");
    printf("  memory-backend-memfd\n");
    printf("  memory-backend-ram\n");
}

static void accel_help(void)
{
    printf("Accelerators supported in QEMU binary:\n");
#if CONFIG_KVM
    printf("kvm\n");
#endif
    printf("soft\n");
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

/*
 * -name [guest=]NAME[,debug-threads=on|off], libvirt's form included.
 * Threads are always named (g_thread_new), so debug-threads changes
 * nothing.
 */
static bool parse_name_opts(MachineState *ms, const char *arg, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(arg, ",", -1);

    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        bool b;

        if (g_str_has_prefix(p, "guest=") || (i == 0 && !strchr(p, '='))) {
            g_free(ms->name);
            ms->name = g_strdup(strchr(p, '=') ? strchr(p, '=') + 1 : p);
        } else if (g_str_has_prefix(p, "debug-threads=")) {
            if (!qemu_parse_bool(p + strlen("debug-threads="), &b)) {
                error_setg(errp, "Parameter 'debug-threads' expects 'on' or "
                                 "'off'");
                return false;
            }
        } else {
            g_autofree char *key = g_strndup(p, strcspn(p, "="));
            error_setg(errp, "-name: Invalid parameter '%s'", key);
            return false;
        }
    }
    return true;
}

/* "help" lists the choices of -M, -object, -accel and -chardev. */
static bool parse_help_arg(VMOptions *o, const char *opt, const char *arg)
{
    bool chardev_help = false;

    if (!is_help_option(arg) && strcmp(opt, "chardev") != 0) {
        return false;
    }
    if (!strcmp(opt, "M") || !strcmp(opt, "machine")) {
        machine_help();
    } else if (!strcmp(opt, "object")) {
        object_help();
    } else if (!strcmp(opt, "accel")) {
        accel_help();
    } else if (!strcmp(opt, "chardev") && is_help_option(arg)) {
        chardev_add("help", &chardev_help, NULL);
    } else {
        return false;
    }
    o->help_shown = true;
    return true;
}

static bool parse_option(VMOptions *o, const char *opt, const char *arg,
                         GError **errp)
{
    uint64_t v;

    if (parse_help_arg(o, opt, arg)) {
        return true;
    }
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
        return parse_name_opts(&o->machine, arg, errp);
    } else if (!strcmp(opt, "qmp")) {
        g_ptr_array_add(o->qmp, g_strdup(arg));
        o->default_monitor = false;
    } else if (!strcmp(opt, "monitor")) {
        /* "none" only cancels the default monitor, as in QEMU. */
        if (strcmp(arg, "none") != 0) {
            g_ptr_array_add(o->monitors, g_strdup(arg));
        }
        o->default_monitor = false;
    } else if (!strcmp(opt, "mon")) {
        g_ptr_array_add(o->mons, g_strdup(arg));
        o->default_monitor = false;
    } else if (!strcmp(opt, "chardev")) {
        bool shown;
        /* Registered now: -mon may come before or after its -chardev. */
        return chardev_add(arg, &shown, errp);
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
        o->default_serial = false;
    } else if (!strcmp(opt, "display")) {
        if (strcmp(arg, "none") != 0) {
            error_setg(errp,
                       "-display %s: mapmig has no display (use "
                       "-display none)",
                       arg);
            return false;
        }
    } else if (!strcmp(opt, "D")) {
        g_free(o->logfile);
        o->logfile = g_strdup(arg);
    } else if (!strcmp(opt, "pidfile")) {
        g_free(o->pidfile);
        o->pidfile = g_strdup(arg);
    }
    return true;
}

static void parse_flag(VMOptions *o, const char *opt)
{
    if (!strcmp(opt, "S")) {
        o->start_paused = true;
    } else if (!strcmp(opt, "nographic")) {
        o->nographic = true;
    } else if (!strcmp(opt, "nodefaults")) {
        o->default_serial = false;
        o->default_monitor = false;
    } else if (!strcmp(opt, "daemonize")) {
        o->daemonize = true;
    }
    /* -no-user-config: there are no configuration files to skip. */
}

/*
 * What -nographic means in QEMU: the serial port and the HMP monitor go
 * to stdio (multiplexed: mon:stdio), each unless given elsewhere or
 * -nodefaults.  Without -nographic the defaults are a graphical console
 * mapmig does not have, so nothing.
 */
static bool apply_defaults(VMOptions *o, GError **errp)
{
    if (!o->nographic) {
        return true;
    }
    if (o->daemonize && (o->default_serial || o->default_monitor)) {
        error_setg(errp, "-nographic cannot be used with -daemonize");
        return false;
    }
    if (o->default_serial && o->default_monitor) {
        o->serial = g_strdup("mon:stdio");
    } else if (o->default_serial) {
        o->serial = g_strdup("stdio");
    } else if (o->default_monitor) {
        g_ptr_array_add(o->monitors, g_strdup("stdio"));
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
        if (g_strv_contains(flag_options, opt)) {
            parse_flag(o, opt);
            continue;
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
        if (o->help_shown) {
            return -1;
        }
    }
    if (o->daemonize) {
        chardev_forbid_stdio();
    }
    return apply_defaults(o, errp) ? 0 : 1;
}

static bool write_pidfile(const char *path, GError **errp)
{
    g_autofree char *pid = g_strdup_printf("%d\n", getpid());
    return g_file_set_contents(path, pid, -1, errp);
}

static gboolean on_signal(gpointer opaque)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_SIGNAL);
    return G_SOURCE_CONTINUE;
}

/* SHUTDOWN as QEMU emits it before exiting: who asked, and why. */
static void emit_shutdown_event(void)
{
    ShutdownCause cause = qemu_system_shutdown_cause();
    JsonObject *data = json_object_new();

    json_object_set_boolean_member(data, "guest", false);
    json_object_set_string_member(data, "reason", shutdown_cause_name(cause));
    qapi_event_emit("SHUTDOWN", data);
}

/*
 * -daemonize: fork before any thread exists; the parent stays until the
 * child has started (or failed) and exits with its verdict, as QEMU does.
 */
static int daemon_pipe = -1;

static bool daemonize_start(GError **errp)
{
    int fds[2];
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "-daemonize: cannot create a pipe");
        return false;
    }
    pid = fork();
    if (pid < 0) {
        error_setg_errno(errp, errno, "-daemonize: cannot fork");
        return false;
    }
    if (pid > 0) {
        char status = 1;
        ssize_t n;

        close(fds[1]);
        do {
            n = read(fds[0], &status, 1);
        } while (n < 0 && errno == EINTR);
        /* The child died before saying anything: it printed why. */
        _exit(n == 1 ? status : 1);
    }
    close(fds[0]);
    daemon_pipe = fds[1];
    setsid();
    return true;
}

/* Started: let go of the terminal (stderr to -D LOGFILE if given). */
static bool daemonize_done(const char *logfile, GError **errp)
{
    int null_fd, err_fd;
    char ok = 0;

    if (daemon_pipe < 0) {
        return true;
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    err_fd =
        logfile ? open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
                : null_fd;
    if (null_fd < 0 || err_fd < 0) {
        error_setg_errno(errp, errno, "-daemonize: cannot open '%s'",
                         err_fd < 0 && logfile ? logfile : "/dev/null");
        return false;
    }
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    if (err_fd != null_fd) {
        close(err_fd);
    }
    close(null_fd);
    if (write(daemon_pipe, &ok, 1) != 1) {
        /* The parent is gone already: nobody to tell. */
    }
    close(daemon_pipe);
    daemon_pipe = -1;
    return true;
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

/* A monitor's chardev and protocol, resolved before any is opened. */
typedef struct MonitorSpec {
    ChardevSpec *cs;
    bool qmp;
    bool owned; /* legacy spec; -mon chardevs belong to the registry */
} MonitorSpec;

static void monitor_spec_free(gpointer p)
{
    MonitorSpec *ms = p;

    if (ms->owned) {
        chardev_spec_free(ms->cs);
    }
    g_free(ms);
}

static bool add_monitor_spec(VMOptions *o, ChardevSpec *cs, bool qmp,
                             bool owned, GError **errp)
{
    MonitorSpec *ms = g_new0(MonitorSpec, 1);

    ms->cs = cs;
    ms->qmp = qmp;
    ms->owned = owned;
    g_ptr_array_add(o->monitor_specs, ms);
    if (cs->mux) {
        /* mon:stdio is the serial port's to give (-serial mon:stdio). */
        error_setg(errp, "'%s' is not a valid char driver", cs->label);
        return false;
    }
    return true;
}

static bool parse_monitor_specs(VMOptions *o, GPtrArray *specs, bool qmp,
                                GError **errp)
{
    for (guint i = 0; i < specs->len; i++) {
        ChardevSpec *cs = chardev_parse_legacy(specs->pdata[i], errp);

        if (!cs || !add_monitor_spec(o, cs, qmp, true, errp)) {
            return false;
        }
    }
    return true;
}

/*
 * Like QEMU, resolve every character device (and who has stdio) before
 * any front end opens: a conflict is refused before a greeting is out.
 */
static bool vm_setup_chardevs(VMOptions *o, GError **errp)
{
    if (o->serial && strcmp(o->serial, "none") != 0) {
        o->serial_cs = chardev_parse_legacy(o->serial, errp);
        if (!o->serial_cs) {
            return false;
        }
    }
    if (!parse_monitor_specs(o, o->qmp, true, errp) ||
        !parse_monitor_specs(o, o->monitors, false, errp)) {
        return false;
    }
    for (guint i = 0; i < o->mons->len; i++) {
        bool qmp;
        ChardevSpec *cs = monitor_parse_mon(o->mons->pdata[i], &qmp, errp);

        if (!cs || !add_monitor_spec(o, cs, qmp, false, errp)) {
            return false;
        }
    }
    if (o->serial_cs && o->serial_cs->kind == CHARDEV_STDIO &&
        !chardev_claim_stdio(o->serial_cs, errp)) {
        return false;
    }
    for (guint i = 0; i < o->monitor_specs->len; i++) {
        MonitorSpec *ms = o->monitor_specs->pdata[i];

        if (ms->cs->kind == CHARDEV_STDIO &&
            !chardev_claim_stdio(ms->cs, errp)) {
            return false;
        }
    }
    return true;
}

static bool vm_setup_monitors(VMOptions *o, GError **errp)
{
    for (guint i = 0; i < o->monitor_specs->len; i++) {
        MonitorSpec *ms = o->monitor_specs->pdata[i];

        if (!monitor_init(ms->cs, ms->qmp, errp)) {
            return false;
        }
    }
    /* mon:stdio: HMP shares stdio with the serial port. */
    if (o->serial_cs && o->serial_cs->mux) {
        return monitor_init(o->serial_cs, false, errp);
    }
    return true;
}

static bool vm_setup(VMOptions *o, GError **errp)
{
    if (!vm_setup_chardevs(o, errp) || !serial_init(o->serial_cs, errp) ||
        !machine_init(&o->machine, errp)) {
        return false;
    }
    migration_object_init();
    machine_register_devices(&o->machine, workload_kind() != WORKLOAD_IDLE);

    qapi_event_set_emitter(qapi_event_send);
    monitor_register_builtin_commands();
    system_register_commands();
    migration_register_commands();

    if (!vm_setup_monitors(o, errp)) {
        return false;
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
    g_ptr_array_free(o->mons, true);
    g_ptr_array_free(o->monitor_specs, true);
    chardev_remove_all(); /* -chardev, when start-up stopped early */
    chardev_spec_free(o->serial_cs);
    g_free(o->logfile);
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
        .mons = g_ptr_array_new_with_free_func(g_free),
        .monitor_specs = g_ptr_array_new_with_free_func(monitor_spec_free),
        .default_serial = true,
        .default_monitor = true,
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
    if (o.daemonize && !daemonize_start(&err)) {
        error_report_err(err);
        vm_options_free(&o);
        return 1;
    }

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
    if (!daemonize_done(o.logfile, &err)) {
        error_report_err(err);
        ret = 1;
        goto out;
    }

    main_loop();
    emit_shutdown_event();

out:
    migration_shutdown();
    if (cpus) {
        pause_all_vcpus();
        cpus_destroy();
    }
    monitor_cleanup();
    serial_cleanup();
    qemu_ram_free_all();
    if (o.pidfile) {
        unlink(o.pidfile);
    }
    bql_unlock();
    vm_options_free(&o);
    return ret;
}
