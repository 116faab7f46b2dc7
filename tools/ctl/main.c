/*
 * mapmig-ctl: save a running VM to a file and restore it, in one command
 * each, in the manner of virsh save / virsh restore; and checkpoint it
 * into a directory, each checkpoint costing only what changed.
 */
#include "ctl.h"
#include "qemu/cutils.h"

#include <getopt.h>

volatile sig_atomic_t ctl_interrupted;
volatile sig_atomic_t ctl_signal;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage:\n"
            "  mapmig-ctl save --qmp SOCKET FILE [--layout stream|mapped]\n"
            "                  [--parallel-channels N] [--bypass-cache]\n"
            "                  [--compress none|zstd] [--compress-level N]\n"
            "                  [--running|--paused] [--live] [--keep-vm]\n"
            "                  [--max-bandwidth BYTES] [--auto-converge]\n"
            "                  [--auto-converge-initial N]"
            " [--auto-converge-increment N]\n"
            "                  [--output human|json] [-q]\n"
            "  mapmig-ctl restore FILE|DIR [--generation G] [--qmp PATH]\n"
            "                  [--parallel-channels N] [--bypass-cache]\n"
            "                  [--running|--paused] [--lazy]\n"
            "                  [--mapmig BINARY] [--output human|json] [-q]\n"
            "                  [-- MAPMIG-OPTION...]\n"
            "  mapmig-ctl checkpoint --qmp SOCKET DIR [--interval SECONDS]\n"
            "                  [--count N] [--parallel-channels N] "
            "[--bypass-cache]\n"
            "                  [--max-bandwidth BYTES] [--auto-converge]\n"
            "                  [--auto-converge-initial N]"
            " [--auto-converge-increment N]\n"
            "                  [--output human|json] [-q]\n"
            "\n"
            "save: write the VM reachable at QMP SOCKET to FILE (a save\n"
            "  image: header, configuration, migration stream) and quit it.\n"
            "  The VM is stopped while it is saved (unless --live); FILE is\n"
            "  replaced only once the new image is complete and durable; on\n"
            "  failure the VM runs again as before.\n"
            "    --layout           mapped (default: mapped-ram, sparse,\n"
            "                       parallel) or stream (one sequential "
            "stream)\n"
            "    --parallel-channels N  multifd channels (mapped only; "
            "default 1)\n"
            "    --bypass-cache     O_DIRECT I/O, not through the page cache\n"
            "    --compress zstd    compress (stream: while saving; mapped:\n"
            "                       afterwards, in place)\n"
            "    --running/--paused state to restore into (default: as it "
            "was)\n"
            "    --keep-vm          leave the VM paused instead of quitting "
            "it\n"
            "    --live             keep the guest running while saving\n"
            "    --max-bandwidth B  the migration's max-bandwidth (K/M/G; "
            "default\n"
            "                       unlimited)\n"
            "    --auto-converge    throttle a guest that dirties pages "
            "faster than\n"
            "                       they are written (--live only)\n"
            "    --auto-converge-initial N  the first throttle, percent "
            "(1..99;\n"
            "                       default: the VM's cpu-throttle-initial)\n"
            "    --auto-converge-increment N  each later step (1..99; "
            "default:\n"
            "                       the VM's cpu-throttle-increment); both\n"
            "                       imply --auto-converge\n"
            "restore: start a new mapmig from FILE and print its QMP socket.\n"
            "    --qmp PATH         the new VM's QMP socket (default: in a "
            "new\n"
            "                       temporary directory); its log is next "
            "to it\n"
            "    --parallel-channels N  channels to load with (mapped; "
            "default\n"
            "                       as saved)\n"
            "    --lazy             resume at once and load RAM while the "
            "guest\n"
            "                       runs (mapped layout; see "
            "lazy-restore.rst);\n"
            "                       the socket is printed at the resume, "
            "and\n"
            "                       mapmig-ctl waits for the whole load\n"
            "    --mapmig BINARY    the VM binary (default: $MAPMIG, then "
            "next\n"
            "                       to mapmig-ctl, then $PATH)\n"
            "    --generation G     DIR: that checkpoint, not the newest\n"
            "    options after -- are added to the VM's command line\n"
            "  DIR (a checkpoint directory): the newest complete "
            "checkpoint its\n"
            "  manifest names.\n"
            "checkpoint: write checkpoints of the VM at SOCKET into DIR "
            "(two\n"
            "  images, A/B, each rewritten with only what changed since "
            "it was\n"
            "  last written, and a manifest naming the newest). The guest "
            "runs on,\n"
            "  paused only for the last pass; a paused VM stays paused. "
            "One line\n"
            "  a checkpoint: generation, bytes written, guest pause, wall "
            "time.\n"
            "    --interval SECONDS from one checkpoint's start to the "
            "next\n"
            "                       (default 60; fractions allowed)\n"
            "    --count N          how many checkpoints (default 1)\n"
            "    --parallel-channels N  multifd channels (default 1)\n"
            "    --bypass-cache     the VM's direct-io\n"
            "    --max-bandwidth B  as for save (default unlimited)\n"
            "    --auto-converge, --auto-converge-initial N,\n"
            "    --auto-converge-increment N  as for save\n"
            "all:\n"
            "    --output json      the summary as one JSON object on "
            "stdout\n"
            "                       (restore: instead of the socket path)\n"
            "    -q, --quiet        no summary, no progress line\n"
            "\n"
            "  -h, --help, --version\n"
            "Exit status: 0 success, 1 failure, 2 usage error (128+N when\n"
            "interrupted by signal N).\n");
}

void ctl_print_json(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, o);
    g_autofree char *text = json_to_string(n, false);
    json_node_unref(n);
    printf("%s\n", text);
    fflush(stdout);
}

static void on_signal(int sig)
{
    ctl_signal = sig;
    ctl_interrupted = 1;
}

/* No SA_RESTART: blocking calls return EINTR and see the flag. */
static void install_signals(void)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static bool parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/*
 * The mapmig binary: --mapmig, $MAPMIG, beside mapmig-ctl in a build tree
 * (build/tools/mapmig-ctl -> build/mapmig), beside it when installed,
 * then $PATH.
 */
static char *find_mapmig(const char *opt)
{
    if (opt) {
        return g_strdup(opt);
    }
    const char *env = g_getenv("MAPMIG");
    if (env && *env) {
        return g_strdup(env);
    }
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    if (self) {
        g_autofree char *dir = g_path_get_dirname(self);
        const char *const cands[] = { "../mapmig", "mapmig" };
        for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
            char *p = g_build_filename(dir, cands[i], NULL);
            if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE) &&
                !g_file_test(p, G_FILE_TEST_IS_DIR)) {
                char *c = g_canonicalize_filename(p, NULL);
                g_free(p);
                return c;
            }
            g_free(p);
        }
    }
    return g_find_program_in_path("mapmig");
}

enum {
    OPT_QMP = 256,
    OPT_LAYOUT,
    OPT_CHANNELS,
    OPT_BYPASS,
    OPT_COMPRESS,
    OPT_LEVEL,
    OPT_RUNNING,
    OPT_PAUSED,
    OPT_LIVE,
    OPT_KEEP,
    OPT_MAPMIG,
    OPT_BANDWIDTH,
    OPT_LAZY,
    OPT_VERSION,
    OPT_OUTPUT,
    OPT_INTERVAL,
    OPT_COUNT,
    OPT_GENERATION,
    OPT_CONVERGE,
    OPT_CONVERGE_INITIAL,
    OPT_CONVERGE_INCREMENT,
};

static const struct option longopts[] = {
    { "help", no_argument, NULL, 'h' },
    { "quiet", no_argument, NULL, 'q' },
    { "qmp", required_argument, NULL, OPT_QMP },
    { "layout", required_argument, NULL, OPT_LAYOUT },
    { "parallel-channels", required_argument, NULL, OPT_CHANNELS },
    { "bypass-cache", no_argument, NULL, OPT_BYPASS },
    { "compress", required_argument, NULL, OPT_COMPRESS },
    { "compress-level", required_argument, NULL, OPT_LEVEL },
    { "running", no_argument, NULL, OPT_RUNNING },
    { "paused", no_argument, NULL, OPT_PAUSED },
    { "live", no_argument, NULL, OPT_LIVE },
    { "keep-vm", no_argument, NULL, OPT_KEEP },
    { "mapmig", required_argument, NULL, OPT_MAPMIG },
    { "max-bandwidth", required_argument, NULL, OPT_BANDWIDTH },
    { "lazy", no_argument, NULL, OPT_LAZY },
    { "version", no_argument, NULL, OPT_VERSION },
    { "output", required_argument, NULL, OPT_OUTPUT },
    { "interval", required_argument, NULL, OPT_INTERVAL },
    { "count", required_argument, NULL, OPT_COUNT },
    { "generation", required_argument, NULL, OPT_GENERATION },
    { "auto-converge", no_argument, NULL, OPT_CONVERGE },
    { "auto-converge-initial", required_argument, NULL, OPT_CONVERGE_INITIAL },
    { "auto-converge-increment", required_argument, NULL,
      OPT_CONVERGE_INCREMENT },
    { NULL, 0, NULL, 0 },
};

typedef enum Command {
    CMD_SAVE,
    CMD_RESTORE,
    CMD_CHECKPOINT,
} Command;

/* Options only some of the commands take. */
static bool option_allowed(Command cmd, int c)
{
    switch (c) {
    case OPT_LAYOUT:
    case OPT_COMPRESS:
    case OPT_LEVEL:
    case OPT_LIVE:
    case OPT_KEEP:
        return cmd == CMD_SAVE;
    case OPT_BANDWIDTH:
    case OPT_CONVERGE:
    case OPT_CONVERGE_INITIAL:
    case OPT_CONVERGE_INCREMENT:
        return cmd != CMD_RESTORE;
    case OPT_MAPMIG:
    case OPT_LAZY:
    case OPT_GENERATION:
        return cmd == CMD_RESTORE;
    case OPT_INTERVAL:
    case OPT_COUNT:
        return cmd == CMD_CHECKPOINT;
    case OPT_RUNNING:
    case OPT_PAUSED:
        return cmd != CMD_CHECKPOINT;
    default:
        return true;
    }
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = g_ascii_strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 1e7) {
        return false;
    }
    *out = v;
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    guint64 v = g_ascii_strtoull(s, &end, 10);
    if (errno || end == s || *end || *s == '-' || v == 0 || v > INT64_MAX) {
        return false;
    }
    *out = v;
    return true;
}

static int usage_error(const char *cmd, const char *msg, const char *arg)
{
    fprintf(stderr, "mapmig-ctl%s%s: %s%s%s\nTry 'mapmig-ctl --help'.\n",
            *cmd ? " " : "", cmd, msg, arg ? " " : "", arg ? arg : "");
    return 2;
}

int main(int argc, char **argv)
{
    SaveOptions so = {
        .mapped = true, .channels = 1, .zstd_level = 3, .run_override = -1
    };
    RestoreOptions ro = { .run_override = -1 };
    CheckpointOptions co = { .interval = 60, .count = 1 };
    CtlConverge converge = { 0 };
    const char *converge_opt = NULL; /* the first --auto-converge* given */
    uint64_t generation = 0;
    const char *qmp = NULL, *mapmig = NULL;
    bool channels_set = false, running = false, paused = false;
    int channels = 1, c;

    if (argc < 2) {
        return usage_error("", "missing command (save, restore or checkpoint)",
                           NULL);
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("mapmig-ctl version %s\n", MAPMIG_VERSION);
        return 0;
    }
    Command command;
    if (!strcmp(cmd, "save")) {
        command = CMD_SAVE;
    } else if (!strcmp(cmd, "restore")) {
        command = CMD_RESTORE;
    } else if (!strcmp(cmd, "checkpoint")) {
        command = CMD_CHECKPOINT;
    } else {
        return usage_error(cmd, "unknown command (save, restore or checkpoint)",
                           NULL);
    }
    /* Everything after "--" is for the VM's command line (restore). */
    int nopts = argc;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--")) {
            nopts = i;
            break;
        }
    }
    char **extra = argv + MIN(nopts + 1, argc);
    bool have_extra = nopts < argc;
    optind = 2;
    int idx = -1;
    opterr = 0; /* our wording, our program name */
    while ((c = getopt_long(nopts, argv, ":hq", longopts, &idx)) != -1) {
        if (c != '?' && c != ':' && !option_allowed(command, c)) {
            g_autofree char *name = g_strdup_printf("--%s", longopts[idx].name);
            return usage_error(cmd, "option not valid here:", name);
        }
        idx = -1;
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("mapmig-ctl version %s\n", MAPMIG_VERSION);
            return 0;
        case 'q':
            so.quiet = ro.quiet = co.quiet = true;
            break;
        case OPT_OUTPUT:
            if (strcmp(optarg, "human") && strcmp(optarg, "json")) {
                return usage_error(cmd, "--output must be human or json, not",
                                   optarg);
            }
            so.json = ro.json = co.json = !strcmp(optarg, "json");
            break;
        case OPT_QMP:
            qmp = optarg;
            break;
        case OPT_LAYOUT:
            if (strcmp(optarg, "stream") && strcmp(optarg, "mapped")) {
                return usage_error(cmd,
                                   "--layout must be stream or mapped,"
                                   " not",
                                   optarg);
            }
            so.mapped = !strcmp(optarg, "mapped");
            break;
        case OPT_CHANNELS:
            if (!parse_int(optarg, 1, 255, &channels)) {
                return usage_error(cmd,
                                   "--parallel-channels must be 1..255,"
                                   " not",
                                   optarg);
            }
            channels_set = true;
            break;
        case OPT_BYPASS:
            so.bypass_cache = ro.bypass_cache = co.bypass_cache = true;
            break;
        case OPT_COMPRESS:
            if (strcmp(optarg, "none") && strcmp(optarg, "zstd")) {
                return usage_error(cmd, "--compress must be none or zstd, not",
                                   optarg);
            }
            so.zstd = !strcmp(optarg, "zstd");
            break;
        case OPT_LEVEL:
            if (!parse_int(optarg, 1, 19, &so.zstd_level)) {
                return usage_error(cmd, "--compress-level must be 1..19, not",
                                   optarg);
            }
            break;
        case OPT_RUNNING:
            running = true;
            break;
        case OPT_PAUSED:
            paused = true;
            break;
        case OPT_LIVE:
            so.live = true;
            break;
        case OPT_KEEP:
            so.keep_vm = true;
            break;
        case OPT_MAPMIG:
            mapmig = optarg;
            break;
        case OPT_LAZY:
            ro.lazy = true;
            break;
        case OPT_BANDWIDTH:
            if (qemu_strtosz(optarg, NULL, &so.max_bandwidth)) {
                return usage_error(cmd, "--max-bandwidth: invalid size",
                                   optarg);
            }
            break;
        case OPT_INTERVAL:
            if (!parse_seconds(optarg, &co.interval)) {
                return usage_error(cmd, "--interval must be seconds >= 0, not",
                                   optarg);
            }
            break;
        case OPT_COUNT:
            if (!parse_int(optarg, 1, INT_MAX, &co.count)) {
                return usage_error(cmd, "--count must be at least 1, not",
                                   optarg);
            }
            break;
        case OPT_CONVERGE:
            converge.on = true;
            converge_opt = converge_opt ? converge_opt : "--auto-converge";
            break;
        case OPT_CONVERGE_INITIAL:
        case OPT_CONVERGE_INCREMENT: {
            bool initial = c == OPT_CONVERGE_INITIAL;
            const char *name = initial ? "--auto-converge-initial"
                                       : "--auto-converge-increment";
            if (!parse_int(optarg, 1, 99,
                           initial ? &converge.initial : &converge.increment)) {
                g_autofree char *msg =
                    g_strdup_printf("%s must be 1..99, not", name);
                return usage_error(cmd, msg, optarg);
            }
            /* The throttle's steps mean nothing without it: implied. */
            converge.on = true;
            converge_opt = converge_opt ? converge_opt : name;
            break;
        }
        case OPT_GENERATION:
            if (!parse_u64(optarg, &generation)) {
                return usage_error(cmd, "--generation must be at least 1, not",
                                   optarg);
            }
            break;
        case ':':
            return usage_error(cmd, "option needs a value:", argv[optind - 1]);
        default:
            return usage_error(cmd, "invalid option:", argv[optind - 1]);
        }
    }
    if (running && paused) {
        return usage_error(cmd, "--running and --paused exclude each other",
                           NULL);
    }
    if (optind >= nopts) {
        return usage_error(
            cmd, command == CMD_CHECKPOINT ? "missing DIR" : "missing FILE",
            NULL);
    }
    const char *file = argv[optind++];
    if (optind < nopts) {
        return usage_error(cmd, "unexpected argument", argv[optind]);
    }
    install_signals();
    if (command == CMD_CHECKPOINT) {
        if (!qmp) {
            return usage_error(cmd, "--qmp SOCKET is required", NULL);
        }
        if (have_extra) {
            return usage_error(cmd, "takes no VM options after --", NULL);
        }
        co.qmp_path = qmp;
        co.dir = file;
        co.channels = channels;
        co.max_bandwidth = so.max_bandwidth;
        co.converge = converge;
        return ctl_checkpoint(&co);
    }
    if (command == CMD_SAVE) {
        if (!qmp) {
            return usage_error(cmd, "--qmp SOCKET is required", NULL);
        }
        if (have_extra) {
            return usage_error(cmd, "takes no VM options after --", NULL);
        }
        /* A stopped guest dirties nothing: there is nothing to converge. */
        if (converge.on && !so.live) {
            g_autofree char *msg =
                g_strdup_printf("%s needs --live", converge_opt);
            return usage_error(cmd, msg, NULL);
        }
        so.converge = converge;
        so.qmp_path = qmp;
        so.file = file;
        so.channels = channels;
        so.run_override = running ? 1 : paused ? 0 : -1;
        return ctl_save(&so);
    }
    g_autofree char *bin = find_mapmig(mapmig);
    if (!bin) {
        fprintf(stderr, "mapmig-ctl restore: cannot find the mapmig binary "
                        "(use --mapmig or $MAPMIG)\n");
        return 1;
    }
    g_autofree char *image = NULL;
    if (g_file_test(file, G_FILE_TEST_IS_DIR)) {
        GError *err = NULL;
        image = restore_pick_checkpoint(file, generation, &ro, &err);
        if (!image) {
            fprintf(stderr, "mapmig-ctl: restore failed: %s\n", err->message);
            g_error_free(err);
            return 1;
        }
        file = image;
    } else if (generation) {
        return usage_error(cmd, "--generation needs a checkpoint directory",
                           NULL);
    }
    ro.file = file;
    ro.qmp_path = qmp;
    ro.mapmig = bin;
    ro.channels = channels_set ? channels : 0;
    ro.run_override = running ? 1 : paused ? 0 : -1;
    ro.extra_args = extra;
    return ctl_restore(&ro);
}
