/*
 * mapmig-demo: the main job of mapmig, end to end, in one command.
 *
 * Starts a VM running the stress workload, shows its status and dirty rate
 * through QMP, saves it live to a file with mapped-ram and multifd, restores
 * it into a new process started with -incoming defer, compares the RAM
 * digests of source and destination block by block and prints one row of
 * numbers.  Exit status 0 only if every block matches.
 *
 * Usage: mapmig-demo [options] [PATH-TO-MAPMIG]
 *
 * Child processes get PR_SET_PDEATHSIG, and every error path kills them, so
 * no VM outlives the demo.  Files live in a temporary directory under
 * /var/tmp (a real file system, not tmpfs), removed at the end.
 */
#include "qemu/osdep.h"
#include "qapi/qmp-client.h"
#include "qemu/vm-client.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#ifndef MAPMIG_BUILD_DIR
#define MAPMIG_BUILD_DIR "build"
#endif

#define QMP_CONNECT_TIMEOUT_MS 10000
#define CONVERGE_AFTER_MS 15000
#define MIGRATE_TIMEOUT_MS 300000

typedef struct DemoVM {
    const char *name; /* "source" or "destination" */
    GPid pid;         /* 0 once reaped */
    char *qmp_path;
    QMPClient *qmp;
} DemoVM;

typedef struct DemoOpts {
    const char *mapmig;
    const char *mem;
    int share;
    int channels;
    int watch_seconds;
    bool direct_io;
} DemoOpts;

/*
 * For the signal handler: children to kill and files to remove on
 * SIGINT/SIGTERM/SIGHUP (kill, waitpid, unlink and rmdir are
 * async-signal-safe).
 */
static volatile sig_atomic_t child_pids[2];
static char sig_dir[PATH_MAX];
static const char *const demo_files[] = {
    "vm.sav",
    "source.qmp",
    "destination.qmp",
};

static void demo_signal(int sig)
{
    char path[PATH_MAX];

    for (int i = 0; i < 2; i++) {
        if (child_pids[i] > 0) {
            kill(child_pids[i], SIGKILL);
            waitpid(child_pids[i], NULL, 0);
        }
    }
    if (sig_dir[0]) {
        for (size_t i = 0; i < ARRAY_SIZE(demo_files); i++) {
            size_t n = strlen(sig_dir), m = strlen(demo_files[i]);
            if (n + 1 + m < sizeof(path)) {
                memcpy(path, sig_dir, n);
                path[n] = '/';
                memcpy(path + n + 1, demo_files[i], m + 1);
                unlink(path);
            }
        }
        rmdir(sig_dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static bool vm_start(DemoVM *vm, int slot, const DemoOpts *o, const char *dir,
                     const char *const *extra, GError **errp)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();

    vm->qmp_path = g_strdup_printf("%s/%s.qmp", dir, vm->name);
    g_autofree char *qmp_arg =
        g_strdup_printf("unix:%s,server=on,wait=off", vm->qmp_path);

    g_ptr_array_add(argv, (char *)o->mapmig);
    g_ptr_array_add(argv, "-name");
    g_ptr_array_add(argv, (char *)vm->name);
    g_ptr_array_add(argv, "-m");
    g_ptr_array_add(argv, (char *)o->mem);
    g_ptr_array_add(argv, "-serial");
    g_ptr_array_add(argv, "none");
    g_ptr_array_add(argv, "-qmp");
    g_ptr_array_add(argv, qmp_arg);
    for (; *extra; extra++) {
        g_ptr_array_add(argv, (char *)*extra);
    }
    g_ptr_array_add(argv, NULL);

    /* The VM dies with the demo, whatever way the demo ends. */
    vm->pid = vm_client_spawn((char **)argv->pdata, NULL, 0, errp);
    if (vm->pid < 0) {
        vm->pid = 0;
        return false;
    }
    child_pids[slot] = vm->pid;
    vm->qmp = vm_client_connect(vm->qmp_path, QMP_CONNECT_TIMEOUT_MS, vm->pid,
                                NULL, errp);
    if (!vm->qmp) {
        g_prefix_error(errp, "%s: ", vm->name);
        return false;
    }
    return true;
}

/*
 * Ask the VM to quit; kill it if it does not exit in time (or if @force).
 * Returns true if it exited by itself with status 0.
 */
static bool vm_stop(DemoVM *vm, int slot, bool force)
{
    int status = 0;
    bool clean = false;

    if (vm->pid > 0) {
        clean = vm_client_quit(force ? NULL : vm->qmp, vm->pid,
                               force ? 0 : 5000, &status) &&
                !force && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        vm->pid = 0;
    }
    child_pids[slot] = 0;
    g_clear_pointer(&vm->qmp, qmp_client_free);
    if (vm->qmp_path) {
        unlink(vm->qmp_path);
        g_clear_pointer(&vm->qmp_path, g_free);
    }
    return clean;
}

static JsonNode *cmd(DemoVM *vm, GError **errp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static JsonNode *cmd(DemoVM *vm, GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);

    JsonNode *r = qmp_client_cmdf(vm->qmp, errp, "%s", text);
    if (!r) {
        g_prefix_error(errp, "%s: %s: ", vm->name, text);
    }
    return r;
}

/* Run a command whose return value is not needed. */
static bool cmd_ok(DemoVM *vm, GError **errp, const char *text)
{
    if (!vm_client_cmd(vm->qmp, errp, "%s", text)) {
        g_prefix_error(errp, "%s: %s: ", vm->name, text);
        return false;
    }
    return true;
}

static bool query_status(DemoVM *vm, char **status, GError **errp)
{
    *status = vm_client_status(vm->qmp, NULL, errp);
    if (!*status) {
        g_prefix_error(errp, "%s: ", vm->name);
        return false;
    }
    return true;
}

static bool query_pages_written(DemoVM *vm, int64_t *pages, GError **errp)
{
    g_autoptr(JsonNode) r = cmd(vm, errp, "{'execute': 'x-query-workload'}");
    if (!r) {
        return false;
    }
    *pages = qmp_get_int(r, "pages-written");
    return true;
}

/* Show status and the workload's dirty rate once a second. */
static bool watch_source(DemoVM *vm, int seconds, int share, GError **errp)
{
    int64_t last_pages, last_ms = qemu_clock_ms();

    if (!query_pages_written(vm, &last_pages, errp)) {
        return false;
    }
    /*
     * pages-written counts page writes: the stress workload rewrites pages
     * of its working set again and again, so this rate (in MB/s of 4 KiB
     * pages written) is far above the rate of distinct pages dirtied,
     * which query-migrate reports as dirty-pages-rate per pass.
     */
    printf("  (page writes per second x 4 KiB; the working set is %d%% of "
           "RAM)\n",
           share);
    for (int i = 0; i < seconds; i++) {
        g_usleep(G_USEC_PER_SEC);
        g_autofree char *status = NULL;
        int64_t pages, now = qemu_clock_ms();
        if (!query_status(vm, &status, errp) ||
            !query_pages_written(vm, &pages, errp)) {
            return false;
        }
        double secs = MAX(now - last_ms, 1) / 1000.0;
        double rate = (pages - last_pages) / secs;
        printf("  t=%ds  status: %-10s dirty rate: %6.2f Mpages/s = "
               "%9.1f MB/s\n",
               i + 1, status, rate / 1e6, rate * TARGET_PAGE_SIZE / 1e6);
        fflush(stdout);
        last_pages = pages;
        last_ms = now;
    }
    return true;
}

static bool set_migration_options(DemoVM *vm, const DemoOpts *o, GError **errp)
{
    g_autofree char *params = g_strdup_printf(
        "{'execute': 'migrate-set-parameters', 'arguments': "
        "{'multifd-channels': %d, 'max-bandwidth': 0, 'direct-io': %s}}",
        o->channels, o->direct_io ? "true" : "false");

    return cmd_ok(vm, errp,
                  "{'execute': 'migrate-set-capabilities', 'arguments': "
                  "{'capabilities': ["
                  "{'capability': 'mapped-ram', 'state': true}, "
                  "{'capability': 'multifd', 'state': true}]}}") &&
           cmd_ok(vm, errp, params);
}

typedef struct DemoWait {
    DemoVM *vm;
    bool verbose;
    int64_t start, last_print;
    bool forced;
} DemoWait;

/* Between two query-migrate replies: time-out, convergence, progress. */
static bool demo_wait_poll(void *opaque, JsonNode *r, GError **errp)
{
    DemoWait *w = opaque;
    const char *st = qmp_get_str(r, "status");
    int64_t now = qemu_clock_ms();

    if (now - w->start > MIGRATE_TIMEOUT_MS) {
        error_setg(errp, "migration did not finish in %d s (status %s)",
                   MIGRATE_TIMEOUT_MS / 1000, st ? st : "none");
        return false;
    }
    /*
     * A guest that dirties memory faster than the disk writes it never
     * fits the downtime limit (QEMU behaves the same); allow a longer
     * stop rather than iterate forever, as QEMU's tests do.
     */
    if (!w->forced && w->verbose && now - w->start > CONVERGE_AFTER_MS) {
        if (!vm_client_cmd(w->vm->qmp, errp,
                           "{'execute': 'migrate-set-parameters', "
                           "'arguments': {'downtime-limit': 60000}}")) {
            return false;
        }
        printf("  not converging at this dirty rate after %d s: "
               "downtime-limit raised to 60 s\n",
               CONVERGE_AFTER_MS / 1000);
        w->forced = true;
    }
    if (w->verbose && now - w->last_print >= 250) {
        JsonObject *o = json_node_get_object(r);
        JsonNode *ram = json_object_has_member(o, "ram")
                            ? json_object_get_member(o, "ram")
                            : NULL;
        printf("  %-8s %6" PRId64 " ms  transferred %7.1f MB  "
               "remaining %7.1f MB  %8.1f mbps  pass %" PRId64 "\n",
               st ? st : "?", qmp_get_int(r, "total-time"),
               qmp_get_int(ram, "transferred") / 1e6,
               qmp_get_int(ram, "remaining") / 1e6,
               ram ? json_object_get_double_member_with_default(
                         json_node_get_object(ram), "mbps", 0)
                   : 0.0,
               qmp_get_int(ram, "dirty-sync-count"));
        fflush(stdout);
        w->last_print = now;
    }
    return true;
}

/*
 * Poll query-migrate until the migration ends.  Prints progress lines when
 * @verbose.  On success returns the final reply (caller unrefs).
 */
static JsonNode *wait_migration(DemoVM *vm, bool verbose, GError **errp)
{
    DemoWait w = { .vm = vm, .verbose = verbose, .start = qemu_clock_ms() };
    JsonNode *r = vm_client_poll_migration(vm->qmp, verbose ? 50000 : 5000,
                                           demo_wait_poll, &w, errp);

    if (!r) {
        g_prefix_error(errp, "%s: ", vm->name);
    }
    return r;
}

static JsonArray *ram_digest(DemoVM *vm, GError **errp)
{
    g_autoptr(JsonNode) r = cmd(vm, errp, "{'execute': 'x-query-ram-digest'}");
    if (!r) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(r)) {
        error_setg(errp, "%s: x-query-ram-digest did not return a list",
                   vm->name);
        return NULL;
    }
    return json_array_ref(json_node_get_array(r));
}

/* Print one row per block; true if all blocks match. */
static bool compare_digests(JsonArray *src, JsonArray *dst)
{
    guint n = json_array_get_length(src);
    bool all = n == json_array_get_length(dst) && n > 0;

    printf("  %-12s %12s  %-16s  %-16s  %s\n", "block", "bytes",
           "source sha256", "dest sha256", "");
    for (guint i = 0; i < n; i++) {
        JsonObject *s = json_array_get_object_element(src, i);
        const char *id = json_object_get_string_member(s, "id");
        const char *sd = json_object_get_string_member(s, "sha256");
        const char *dd = NULL;

        for (guint j = 0; j < json_array_get_length(dst); j++) {
            JsonObject *d = json_array_get_object_element(dst, j);
            if (!g_strcmp0(json_object_get_string_member(d, "id"), id) &&
                json_object_get_int_member(d, "length") ==
                    json_object_get_int_member(s, "length")) {
                dd = json_object_get_string_member(d, "sha256");
            }
        }
        bool ok = dd && !g_strcmp0(sd, dd);
        printf("  %-12s %12" PRId64 "  %.16s  %.16s  %s\n", id,
               json_object_get_int_member(s, "length"), sd,
               dd ? dd : "(missing)", ok ? "OK" : "DIFF");
        all &= ok;
    }
    if (n != json_array_get_length(dst)) {
        printf("  block count differs: source %u, destination %u  DIFF\n", n,
               json_array_get_length(dst));
    }
    return all;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: mapmig-demo [options] [PATH-TO-MAPMIG]\n"
            "\n"
            "Save a running VM live to a mapped-ram file with multifd,\n"
            "restore it in a new process and compare RAM digests.\n"
            "\n"
            "  -m SIZE         guest RAM (default 1G)\n"
            "  --share N       stress workload share of RAM in %% "
            "(default 10)\n"
            "  --channels N    multifd channels (default 4)\n"
            "  --watch N       seconds to watch the dirty rate (default 3)\n"
            "  --direct-io     save and restore with O_DIRECT (default where\n"
            "                  the file system supports it)\n"
            "  --no-direct-io  use the page cache\n"
            "\n"
            "PATH-TO-MAPMIG defaults to %s/mapmig.\n",
            MAPMIG_BUILD_DIR);
}

static bool parse_args(int argc, char **argv, DemoOpts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;

        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        } else if (!strcmp(a, "--direct-io")) {
            o->direct_io = true;
        } else if (!strcmp(a, "--no-direct-io")) {
            o->direct_io = false;
        } else if (!strcmp(a, "-m") && v) {
            o->mem = v;
            i++;
        } else if ((!strcmp(a, "--share") || !strcmp(a, "--channels") ||
                    !strcmp(a, "--watch")) &&
                   v) {
            long n = strtol(v, &end, 10);
            if (*end || n < 0 || n > 1000) {
                fprintf(stderr, "mapmig-demo: bad value for %s: %s\n", a, v);
                return false;
            }
            if (!strcmp(a, "--share")) {
                o->share = n;
            } else if (!strcmp(a, "--channels")) {
                o->channels = n;
            } else {
                o->watch_seconds = n;
            }
            i++;
        } else if (a[0] != '-') {
            o->mapmig = a;
        } else {
            fprintf(stderr,
                    "mapmig-demo: unknown or incomplete option "
                    "'%s'\n",
                    a);
            usage(stderr);
            return false;
        }
    }
    return true;
}

/* Can files in @dir be opened with O_DIRECT? */
static bool demo_dio_supported(const char *dir)
{
    g_autofree char *probe = g_strdup_printf("%s/dio-probe", dir);
    int fd = open(probe, O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);

    if (fd < 0) {
        return false;
    }
    close(fd);
    unlink(probe);
    return true;
}

int main(int argc, char **argv)
{
    DemoOpts o = {
        .mapmig = MAPMIG_BUILD_DIR "/mapmig",
        .mem = "1G",
        .share = 10,
        .channels = 4,
        .watch_seconds = 3,
        .direct_io = true,
    };
    DemoVM src = { .name = "source" }, dst = { .name = "destination" };
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonArray) src_digest = NULL, dst_digest = NULL;
    g_autoptr(JsonNode) save_info = NULL, load_info = NULL;
    g_autofree char *dir = NULL, *file = NULL, *uri = NULL;
    g_autofree char *workload = NULL, *status = NULL;
    g_autofree char *migrate = NULL, *incoming = NULL, *config = NULL;
    JsonNode *save_ram;
    int64_t save_ms, transferred, ram_total, load_start, load_ms;
    int64_t pages_before, pages_after;
    bool match = false, ok = false;
    struct stat st;
    const char *src_args[] = { "-workload", NULL, NULL };
    const char *dst_args[] = { "-S", "-incoming", "defer", NULL };

    if (!parse_args(argc, argv, &o)) {
        return 2;
    }
    if (access(o.mapmig, X_OK) < 0) {
        fprintf(stderr, "mapmig-demo: %s: %s (build it with 'make')\n",
                o.mapmig, g_strerror(errno));
        return 2;
    }
    signal(SIGINT, demo_signal);
    signal(SIGTERM, demo_signal);
    signal(SIGHUP, demo_signal);
    signal(SIGPIPE, SIG_IGN);

    dir = g_strdup("/var/tmp/mapmig-demo-XXXXXX");
    if (!g_mkdtemp(dir)) {
        fprintf(stderr, "mapmig-demo: cannot create %s: %s\n", dir,
                g_strerror(errno));
        return 2;
    }
    g_strlcpy(sig_dir, dir, sizeof(sig_dir));
    file = g_strdup_printf("%s/vm.sav", dir);
    if (o.direct_io && !demo_dio_supported(dir)) {
        printf("note: %s has no O_DIRECT support; using the page cache\n", dir);
        o.direct_io = false;
    }
    uri = g_strdup_printf("file:%s", file);
    workload = g_strdup_printf("stress,share=%d", o.share);
    src_args[1] = workload;

    printf("== 1. Start a %s VM running the stress workload (share=%d%%)\n",
           o.mem, o.share);
    if (!vm_start(&src, 0, &o, dir, src_args, &err)) {
        goto out;
    }
    printf("  %s pid %d, QMP %s\n", o.mapmig, src.pid, src.qmp_path);

    printf("== 2. Watch it through QMP (query-status, x-query-workload)\n");
    if (!watch_source(&src, o.watch_seconds, o.share, &err)) {
        goto out;
    }

    printf("== 3. Save it live to %s (mapped-ram, multifd x%d, "
           "max-bandwidth 0%s)\n",
           file, o.channels, o.direct_io ? ", direct-io" : "");
    if (!set_migration_options(&src, &o, &err)) {
        goto out;
    }
    migrate = g_strdup_printf(
        "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", uri);
    if (!cmd_ok(&src, &err, migrate)) {
        goto out;
    }
    save_info = wait_migration(&src, true, &err);
    if (!save_info || !query_status(&src, &status, &err)) {
        goto out;
    }
    save_ram = json_object_get_member(json_node_get_object(save_info), "ram");
    save_ms = qmp_get_int(save_info, "total-time");
    transferred = qmp_get_int(save_ram, "transferred");
    ram_total = qmp_get_int(save_ram, "total");
    printf("  completed in %" PRId64 " ms (downtime %" PRId64 " ms, %" PRId64
           " passes); source is now '%s'\n",
           save_ms, qmp_get_int(save_info, "downtime"),
           qmp_get_int(save_ram, "dirty-sync-count"), status);
    if (stat(file, &st) == 0) {
        printf("  file: %.1f MB logical, %.1f MB allocated\n", st.st_size / 1e6,
               st.st_blocks * 512.0 / 1e6);
    }
    src_digest = ram_digest(&src, &err);
    if (!src_digest) {
        goto out;
    }

    printf("== 4. Restore it in a new process (-S -incoming defer)\n");
    if (!vm_start(&dst, 1, &o, dir, dst_args, &err) ||
        !set_migration_options(&dst, &o, &err)) {
        goto out;
    }
    incoming = g_strdup_printf(
        "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}", uri);
    load_start = qemu_clock_ms();
    if (!cmd_ok(&dst, &err, incoming)) {
        goto out;
    }
    load_info = wait_migration(&dst, false, &err);
    if (!load_info) {
        goto out;
    }
    load_ms = qemu_clock_ms() - load_start;
    if (qmp_get_int(load_info, "total-time") > 0) {
        load_ms = qmp_get_int(load_info, "total-time");
    }
    g_clear_pointer(&status, g_free);
    if (!query_status(&dst, &status, &err)) {
        goto out;
    }
    printf("  loaded in %" PRId64 " ms; destination is '%s'\n", load_ms,
           status);

    printf("== 5. Compare RAM digests (x-query-ram-digest)\n");
    dst_digest = ram_digest(&dst, &err);
    if (!dst_digest) {
        goto out;
    }
    match = compare_digests(src_digest, dst_digest);

    printf("== 6. Result\n");
    /* What the restore moved: the pages the file holds, not all of RAM. */
    struct stat fst;
    double data = stat(file, &fst) == 0 ? fst.st_blocks * 512.0 : ram_total;
    printf("  %-30s | %8s | %8s | %9s | %7s | %12s | %10s\n", "configuration",
           "RAM MB", "data MB", "save MB/s", "save ms", "restore MB/s",
           "restore ms");
    config = g_strdup_printf("mapped-ram multifd x%d%s live", o.channels,
                             o.direct_io ? " direct-io" : "");
    printf("  %-30s | %8.1f | %8.1f | %9.1f | %7" PRId64
           " | %12.1f | %10" PRId64 "\n",
           config, ram_total / 1e6, data / 1e6,
           transferred / 1e3 / MAX(save_ms, 1), save_ms,
           data / 1e3 / MAX(load_ms, 1), load_ms);
    printf("  (data MB: pages with data in the file; save MB/s: bytes "
           "written, re-sent\n   dirty pages included, / total time; restore "
           "MB/s: data MB / load time;\n   MB = 10^6 bytes)\n");

    printf("== 7. Continue the destination for a second\n");
    if (!query_pages_written(&dst, &pages_before, &err) ||
        !cmd_ok(&dst, &err, "{'execute': 'cont'}")) {
        goto out;
    }
    g_usleep(G_USEC_PER_SEC);
    g_clear_pointer(&status, g_free);
    if (!query_status(&dst, &status, &err) ||
        !query_pages_written(&dst, &pages_after, &err)) {
        goto out;
    }
    printf("  destination is '%s'; workload wrote %" PRId64 " pages in that "
           "second\n",
           status, pages_after - pages_before);
    ok = true;

out:
    if (err) {
        fprintf(stderr, "mapmig-demo: error: %s\n", err->message);
        ok = false;
    }
    /* On error, kill at once: a VM in a bad state may not answer quit. */
    bool src_clean = vm_stop(&src, 0, !ok);
    bool dst_clean = vm_stop(&dst, 1, !ok);
    if (ok && (!src_clean || !dst_clean)) {
        fprintf(stderr, "mapmig-demo: a VM did not exit cleanly on quit\n");
        ok = false;
    }
    unlink(file);
    sig_dir[0] = 0;
    if (rmdir(dir) < 0) {
        fprintf(stderr, "mapmig-demo: cannot remove %s: %s\n", dir,
                g_strerror(errno));
    }
    if (ok && match) {
        printf("== PASS: destination RAM equals source RAM\n");
        return 0;
    }
    printf("== FAIL: %s\n", !ok ? "the demo did not complete"
                                : "destination RAM differs from source RAM");
    return 1;
}
