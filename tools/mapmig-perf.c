/*
 * mapmig-perf: a guestperf-like benchmark of save/restore to a file.
 *
 * For each configuration (classic file: stream, mapped-ram, mapped-ram +
 * multifd N, ... + direct-io with an I/O engine) it saves a paused (or,
 * with --live, running) guest whose RAM is filled by the stress workload,
 * restores it into a fresh destination process, verifies the RAM digests
 * and measures wall time, query-migrate's total-time and the CPU seconds of
 * the process doing the work.  fio runs on the same directory before and
 * after each configuration group (same size, bs=1M, same direct/buffered
 * mode, numjobs = channels), and each row shows its ratio to fio's median.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/qmp-client.h"
#include "qemu/cutils.h"
#include "qemu/vm-client.h"

#include <math.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>

#define SAVE_NAME "mapmig-perf.sav"
#define FIO_PREFIX "mapmig-perf-fio"
#define MIGRATE_TIMEOUT_MS (600 * 1000)
#define FILL_TIMEOUT_MS (120 * 1000)

/* ------------------------------------------------------------------ */
/* Options */

static struct {
    uint64_t mem;
    int dirty;
    char *dir;
    GArray *channels; /* int */
    bool direct_io;
    char *engine; /* psync|io-uring|libaio|all */
    int repeat;
    char *layout; /* stream|mapped|all */
    bool live;
    uint64_t rate; /* workload pages/s per vCPU (live) */
    char *mapmig;
    bool no_fio;
    bool quick;
    bool csv;
    bool no_verify;
    bool lazy; /* also restore mapped-ram files with lazy-restore */
    int smp;
    char *accel; /* soft|kvm: -accel of both VMs */
} opt = {
    .mem = 4 * GiB,
    .dirty = 90,
    .repeat = 3,
    .smp = 1,
};

/* ------------------------------------------------------------------ */
/* Child processes: every one is tracked and killed on exit or signal */

#define MAX_CHILDREN 16
static volatile pid_t children[MAX_CHILDREN];
static char *tmpdir;
static char save_path[PATH_MAX];
static char fio_paths[64][PATH_MAX];
static int n_fio_paths;

static void child_add(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (!children[i]) {
            children[i] = pid;
            return;
        }
    }
}

static void child_del(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] == pid) {
            children[i] = 0;
        }
    }
}

/* Async-signal-safe. */
static void kill_all_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
    }
    if (save_path[0]) {
        unlink(save_path);
    }
    for (int i = 0; i < n_fio_paths; i++) {
        unlink(fio_paths[i]);
    }
}

static void remove_tmpdir(void)
{
    if (!tmpdir) {
        return;
    }
    GDir *d = g_dir_open(tmpdir, 0, NULL);
    if (d) {
        const char *n;
        while ((n = g_dir_read_name(d))) {
            g_autofree char *p = g_build_filename(tmpdir, n, NULL);
            unlink(p);
        }
        g_dir_close(d);
    }
    rmdir(tmpdir);
    g_clear_pointer(&tmpdir, g_free);
}

static void cleanup_at_exit(void)
{
    kill_all_children();
    remove_tmpdir();
}

static void on_signal(int sig)
{
    kill_all_children();
    if (tmpdir) {
        /* Best effort; the names are known. */
        char p[PATH_MAX];
        static const char *names[] = { "src.sock", "dst.sock", "src.log",
                                       "dst.log",  "fio.json", "fio.log" };
        for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
            snprintf(p, sizeof(p), "%s/%s", tmpdir, names[i]);
            unlink(p);
        }
        rmdir(tmpdir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static pid_t spawn(char **argv, const char *log, GError **errp)
{
    pid_t pid = vm_client_spawn(argv, log, 0, errp);

    if (pid > 0) {
        child_add(pid);
    }
    return pid;
}

/* Wait up to @timeout_ms for @pid, then kill it; its wait status. */
static int reap(pid_t pid, int timeout_ms)
{
    int status = -1;

    vm_client_quit(NULL, pid, timeout_ms, &status);
    child_del(pid);
    return status;
}

/* ------------------------------------------------------------------ */
/* Small helpers */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* utime + stime of @pid in seconds (the whole process, all threads). */
static double proc_cpu_s(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *buf = NULL;
    if (!g_file_get_contents(path, &buf, NULL, NULL)) {
        return NAN;
    }
    char *p = strrchr(buf, ')');
    if (!p) {
        return NAN;
    }
    /* After ") ": field 3 is state; utime is field 14, stime 15. */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) != 2) {
        return NAN;
    }
    return (double)(ut + st) / sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(GArray *a)
{
    if (!a || !a->len) {
        return NAN;
    }
    g_autofree double *v = g_memdup2(a->data, a->len * sizeof(double));
    qsort(v, a->len, sizeof(double), cmp_double);
    return a->len % 2 ? v[a->len / 2] : (v[a->len / 2 - 1] + v[a->len / 2]) / 2;
}

/*
 * --mem: a size as -m takes it (a bare number is MiB); the unit may be
 * spelt out ("8GiB", "8GB").
 */
static bool parse_mem(const char *s, uint64_t *out)
{
    const char *end;

    if (qemu_strtosz_suffix(s, &end, 'M', out) < 0 || !*out) {
        return false;
    }
    if (end > s && g_ascii_isalpha(end[-1])) {
        if (*end == 'i' || *end == 'I') {
            end++;
        }
        if (*end == 'B' || *end == 'b') {
            end++;
        }
    }
    return !*end;
}

/* Drop @path from the page cache (after writing it back). */
static void drop_cache(const char *path, double *sync_ms)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        return;
    }
    int64_t t0 = now_ns();
    fsync(fd);
    if (sync_ms) {
        *sync_ms = (now_ns() - t0) / 1e6;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Rows */

typedef struct FioKey {
    int numjobs;
    const char *engine;
    bool direct;
} FioKey;

typedef struct FioRow {
    FioKey key;
    char *label;
    GArray *write_bw; /* bytes/s, double */
    GArray *read_bw;
    char *error;
} FioRow;

typedef struct Row {
    char *label;
    bool mapped, multifd, dio;
    int channels;
    const char *engine;
    FioRow *fio;
    GArray *save_wall_ms, *save_total_ms, *save_sync_ms, *save_cpu;
    GArray *restore_wall_ms, *restore_total_ms, *restore_cpu;
    GArray *save_pps;
    /* --lazy: migrate-incoming to postcopy-active, and to completed */
    GArray *lazy_resume_ms, *lazy_total_ms, *lazy_cpu;
    char *lazy_stats; /* of the last lazy run */
    uint64_t file_size, file_alloc, transferred;
    int runs, failures;
    char *error;
} Row;

static GPtrArray *rows;
static GPtrArray *fio_rows;
static bool have_fio;

static GArray *darray(void)
{
    return g_array_new(false, false, sizeof(double));
}

static Row *row_new(const char *label)
{
    Row *r = g_new0(Row, 1);
    r->label = g_strdup(label);
    r->engine = "psync";
    r->channels = 1;
    r->save_wall_ms = darray();
    r->save_total_ms = darray();
    r->save_sync_ms = darray();
    r->save_cpu = darray();
    r->restore_wall_ms = darray();
    r->restore_total_ms = darray();
    r->restore_cpu = darray();
    r->save_pps = darray();
    r->lazy_resume_ms = darray();
    r->lazy_total_ms = darray();
    r->lazy_cpu = darray();
    g_ptr_array_add(rows, r);
    return r;
}

static FioRow *fio_row_get(int numjobs, const char *engine, bool direct)
{
    if (!have_fio) {
        return NULL;
    }
    for (guint i = 0; i < fio_rows->len; i++) {
        FioRow *f = fio_rows->pdata[i];
        if (f->key.numjobs == numjobs && !strcmp(f->key.engine, engine) &&
            f->key.direct == direct) {
            return f;
        }
    }
    FioRow *f = g_new0(FioRow, 1);
    f->key = (FioKey){ numjobs, engine, direct };
    f->label =
        g_strdup_printf("fio %s, %s, numjobs=%d",
                        direct ? "direct=1" : "buffered", engine, numjobs);
    f->write_bw = darray();
    f->read_bw = darray();
    g_ptr_array_add(fio_rows, f);
    return f;
}

static void row_error(Row *r, const char *what, GError *err)
{
    g_autofree char *msg =
        g_strdup_printf("%s: %s", what, err ? err->message : "failed");
    fprintf(stderr, "  [%s] FAILED: %s\n", r->label, msg);
    r->failures++;
    if (!r->error) {
        r->error = g_steal_pointer(&msg);
    }
}

/* ------------------------------------------------------------------ */
/* fio */

static const char *fio_engine_name(const char *engine)
{
    return !strcmp(engine, "io-uring") ? "io_uring" : engine;
}

static bool run_fio_one(FioRow *f, bool write, uint64_t size, double *bw,
                        GError **errp)
{
    g_autofree char *json_path = g_build_filename(tmpdir, "fio.json", NULL);
    g_autofree char *log = g_build_filename(tmpdir, "fio.log", NULL);
    uint64_t per_job = ROUND_UP(size / f->key.numjobs, MiB);
    GPtrArray *av = g_ptr_array_new_with_free_func(g_free);
    bool async = strcmp(f->key.engine, "psync") != 0;

    g_ptr_array_add(av, g_strdup("fio"));
    g_ptr_array_add(av, g_strdup("--name=" FIO_PREFIX));
    g_ptr_array_add(av, g_strdup_printf("--directory=%s", opt.dir));
    g_ptr_array_add(av, g_strdup("--filename_format=" FIO_PREFIX ".$jobnum"));
    g_ptr_array_add(av, g_strdup_printf("--rw=%s", write ? "write" : "read"));
    g_ptr_array_add(av, g_strdup("--bs=1M"));
    g_ptr_array_add(av, g_strdup_printf("--size=%" PRIu64, per_job));
    g_ptr_array_add(av, g_strdup_printf("--numjobs=%d", f->key.numjobs));
    g_ptr_array_add(av, g_strdup("--group_reporting"));
    g_ptr_array_add(
        av, g_strdup_printf("--ioengine=%s", fio_engine_name(f->key.engine)));
    g_ptr_array_add(av, g_strdup_printf("--iodepth=%d", async ? 8 : 1));
    g_ptr_array_add(av, g_strdup_printf("--direct=%d", f->key.direct));
    if (write) {
        /* mapmig writes a new, sparse file: no preallocation for fio either */
        g_ptr_array_add(av, g_strdup("--fallocate=none"));
        if (!f->key.direct) {
            g_ptr_array_add(av, g_strdup("--end_fsync=1"));
        }
    }
    g_ptr_array_add(av, g_strdup("--invalidate=1"));
    g_ptr_array_add(av, g_strdup("--output-format=json"));
    g_ptr_array_add(av, g_strdup_printf("--output=%s", json_path));
    g_ptr_array_add(av, NULL);

    for (int j = 0; j < f->key.numjobs && j < 64; j++) {
        snprintf(fio_paths[j], PATH_MAX, "%s/" FIO_PREFIX ".%d", opt.dir, j);
    }
    n_fio_paths = MIN(f->key.numjobs, 64);
    if (!write) {
        for (int j = 0; j < n_fio_paths; j++) {
            drop_cache(fio_paths[j], NULL);
        }
    }

    unlink(json_path);
    pid_t pid = spawn((char **)av->pdata, log, errp);
    g_ptr_array_free(av, true);
    if (pid < 0) {
        return false;
    }
    int st = reap(pid, MIGRATE_TIMEOUT_MS);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_autofree char *out = NULL;
        g_file_get_contents(log, &out, NULL, NULL);
        g_set_error(
            errp, G_IO_ERROR, G_IO_ERROR_FAILED,
            "fio %s exited with status %d: %s", write ? "write" : "read",
            WIFEXITED(st) ? WEXITSTATUS(st) : -1, out ? g_strstrip(out) : "");
        return false;
    }

    g_autofree char *text = NULL;
    if (!g_file_get_contents(json_path, &text, NULL, errp)) {
        return false;
    }
    char *brace = strchr(text, '{');
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!brace || !json_parser_load_from_data(parser, brace, -1, errp)) {
        if (errp && !*errp) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "fio: no JSON output");
        }
        return false;
    }
    JsonObject *root = json_node_get_object(json_parser_get_root(parser));
    JsonArray *jobs = root && json_object_has_member(root, "jobs")
                          ? json_object_get_array_member(root, "jobs")
                          : NULL;
    if (!jobs || !json_array_get_length(jobs)) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED, "fio: no jobs");
        return false;
    }
    double sum = 0;
    for (guint i = 0; i < json_array_get_length(jobs); i++) {
        JsonObject *job = json_array_get_object_element(jobs, i);
        JsonObject *dir =
            json_object_get_object_member(job, write ? "write" : "read");
        if (json_object_get_int_member_with_default(job, "error", 0)) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "fio job error %" PRId64,
                        json_object_get_int_member(job, "error"));
            return false;
        }
        sum += dir ? json_object_get_int_member_with_default(dir, "bw_bytes", 0)
                   : 0;
    }
    *bw = sum;
    return sum > 0;
}

static void run_fio(FioRow *f, uint64_t size)
{
    if (!have_fio || !f) {
        return;
    }
    GError *err = NULL;
    double wbw = 0, rbw = 0;

    if (run_fio_one(f, true, size, &wbw, &err)) {
        g_array_append_val(f->write_bw, wbw);
        if (run_fio_one(f, false, size, &rbw, &err)) {
            g_array_append_val(f->read_bw, rbw);
        }
    }
    if (err) {
        fprintf(stderr, "  [%s] FAILED: %s\n", f->label, err->message);
        if (!f->error) {
            f->error = g_strdup(err->message);
        }
        g_error_free(err);
    } else if (!opt.csv) {
        fprintf(stderr, "  [%s] write %.0f MB/s, read %.0f MB/s\n", f->label,
                wbw / 1e6, rbw / 1e6);
    }
    for (int j = 0; j < n_fio_paths; j++) {
        unlink(fio_paths[j]);
    }
    n_fio_paths = 0;
}

/* ------------------------------------------------------------------ */
/* VMs */

typedef struct VM {
    pid_t pid;
    QMPClient *qmp;
    char *sock;
    char *log;
    char *digest; /* JSON text of x-query-ram-digest */
} VM;

static void vm_kill(VM *vm)
{
    if (!vm) {
        return;
    }
    if (vm->pid > 0) {
        vm_client_quit(vm->qmp, vm->pid, 2000, NULL);
        child_del(vm->pid);
    }
    if (vm->qmp) {
        qmp_client_free(vm->qmp);
    }
    if (vm->sock) {
        unlink(vm->sock);
    }
    g_free(vm->sock);
    g_free(vm->log);
    g_free(vm->digest);
    g_free(vm);
}

static char *workload_spec(void)
{
    if (opt.rate) {
        return g_strdup_printf("stress,share=%d,rate=%" PRIu64, opt.dirty,
                               opt.rate);
    }
    return g_strdup_printf("stress,share=%d", opt.dirty);
}

static VM *vm_start_full(const char *name, bool incoming, bool paused,
                         GError **errp)
{
    VM *vm = g_new0(VM, 1);
    vm->sock = g_strdup_printf("%s/%s.sock", tmpdir, name);
    vm->log = g_strdup_printf("%s/%s.log", tmpdir, name);
    unlink(vm->sock);

    g_autofree char *mem = g_strdup_printf("%" PRIu64 "M", opt.mem / MiB);
    g_autofree char *smp = g_strdup_printf("%d", opt.smp);
    g_autofree char *qmp =
        g_strdup_printf("unix:%s,server=on,wait=off", vm->sock);
    g_autofree char *wl = workload_spec();
    char *argv[16];
    int i = 0;
    argv[i++] = opt.mapmig;
    argv[i++] = "-accel";
    argv[i++] = opt.accel ? opt.accel : "soft";
    argv[i++] = "-m";
    argv[i++] = mem;
    argv[i++] = "-smp";
    argv[i++] = smp;
    if (paused) {
        argv[i++] = "-S";
    }
    argv[i++] = "-qmp";
    argv[i++] = qmp;
    argv[i++] = "-workload";
    argv[i++] = wl;
    if (incoming) {
        argv[i++] = "-incoming";
        argv[i++] = "defer";
    }
    argv[i] = NULL;

    vm->pid = spawn(argv, vm->log, errp);
    if (vm->pid < 0) {
        vm_kill(vm);
        return NULL;
    }
    vm->qmp = vm_client_connect(vm->sock, 10000, vm->pid, NULL, errp);
    if (!vm->qmp) {
        g_autofree char *out = NULL;
        g_file_get_contents(vm->log, &out, NULL, NULL);
        if (out && *out && errp && *errp) {
            g_prefix_error(errp, "%s: ", g_strstrip(out));
        }
        vm_kill(vm);
        return NULL;
    }
    return vm;
}

static VM *vm_start(const char *name, bool incoming, GError **errp)
{
    return vm_start_full(name, incoming, true, errp);
}

static bool vm_cmd(VM *vm, const char *cmd, JsonObject *args, GError **errp)
{
    if (!vm_client_exec(vm->qmp, cmd, args, errp)) {
        g_prefix_error(errp, "%s: ", cmd);
        return false;
    }
    return true;
}

static char *vm_digest(VM *vm, GError **errp)
{
    JsonNode *n = qmp_client_cmd(vm->qmp, "x-query-ram-digest", NULL, errp);
    if (!n) {
        return NULL;
    }
    char *s = json_to_string(n, false);
    json_node_unref(n);
    return s;
}

static bool vm_configure(VM *vm, Row *r, GError **errp)
{
    JsonArray *caps = json_array_new();
    const struct {
        const char *name;
        bool on;
    } c[] = {
        { "mapped-ram", r->mapped },
        { "multifd", r->multifd },
    };
    for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
        vm_client_add_cap(caps, c[i].name, c[i].on);
    }
    JsonObject *args = json_object_new();
    json_object_set_array_member(args, "capabilities", caps);
    if (!vm_cmd(vm, "migrate-set-capabilities", args, errp)) {
        return false;
    }

    args = json_object_new();
    json_object_set_int_member(args, "max-bandwidth", 0);
    json_object_set_int_member(args, "multifd-channels", r->channels);
    if (!vm_cmd(vm, "migrate-set-parameters", args, errp)) {
        return false;
    }

    /* direct-io/io-engine separately, so that their errors name them. */
    args = json_object_new();
    json_object_set_boolean_member(args, "direct-io", r->dio);
    GError *err = NULL;
    if (!vm_cmd(vm, "migrate-set-parameters", args, &err)) {
        if (r->dio) {
            g_propagate_error(errp, err);
            return false;
        }
        g_clear_error(&err); /* turning it off on a build without it */
    }
    args = json_object_new();
    json_object_set_string_member(args, "io-engine", r->engine);
    return vm_cmd(vm, "migrate-set-parameters", args, errp);
}

/* Fill share% of RAM: run stress until each page was written ~3 times. */
static bool vm_fill(VM *vm, GError **errp)
{
    uint64_t pages = opt.mem / 4096 * opt.dirty / 100;
    uint64_t target = 3 * pages;
    int64_t t0 = now_ns();

    if (!vm_cmd(vm, "cont", NULL, errp)) {
        return false;
    }
    for (;;) {
        JsonNode *n = qmp_client_cmd(vm->qmp, "x-query-workload", NULL, errp);
        if (!n) {
            return false;
        }
        uint64_t written = qmp_get_int(n, "pages-written");
        json_node_unref(n);
        if (written >= target) {
            break;
        }
        if ((now_ns() - t0) / 1000000 > FILL_TIMEOUT_MS) {
            fprintf(stderr,
                    "warning: fill stopped after %d s at %" PRIu64
                    " of %" PRIu64 " page writes\n",
                    FILL_TIMEOUT_MS / 1000, written, target);
            break;
        }
        g_usleep(100000);
    }
    if (!opt.live) {
        return vm_cmd(vm, "stop", NULL, errp);
    }
    return true;
}

typedef struct MigResult {
    double wall_ms, total_ms, cpu_s, pps;
    uint64_t transferred;
} MigResult;

typedef struct MigWait {
    VM *vm;
    int64_t t0; /* now_ns() when the migration started */
} MigWait;

/* Between query-migrate replies: cancel after MIGRATE_TIMEOUT_MS. */
static bool wait_migration_poll(void *opaque, JsonNode *reply, GError **errp)
{
    MigWait *w = opaque;

    if ((now_ns() - w->t0) / 1000000 > MIGRATE_TIMEOUT_MS) {
        vm_client_cmd(w->vm->qmp, NULL, "{'execute': 'migrate_cancel'}");
        error_setg(errp, "migration did not complete in %d s",
                   MIGRATE_TIMEOUT_MS / 1000);
        return false;
    }
    return true;
}

/* Poll query-migrate until a final state. */
static bool wait_migration(VM *vm, int64_t t0, MigResult *res, GError **errp)
{
    MigWait w = { .vm = vm, .t0 = t0 };
    g_autoptr(JsonNode) n =
        vm_client_poll_migration(vm->qmp, 5000, wait_migration_poll, &w, errp);
    if (!n) {
        return false;
    }
    res->wall_ms = (now_ns() - t0) / 1e6;
    res->total_ms = qmp_get_int(n, "total-time");
    JsonObject *o = json_node_get_object(n);
    if (json_object_has_member(o, "ram")) {
        JsonObject *ram = json_object_get_object_member(o, "ram");
        res->transferred =
            json_object_get_int_member_with_default(ram, "transferred", 0);
        res->pps =
            json_object_get_int_member_with_default(ram, "pages-per-second", 0);
    }
    return true;
}

/* Turn capabilities on. */
static bool vm_caps_on(VM *vm, const char *const *names, GError **errp)
{
    JsonArray *caps = json_array_new();

    for (int i = 0; names[i]; i++) {
        vm_client_add_cap(caps, names[i], true);
    }
    JsonObject *args = json_object_new();
    json_object_set_array_member(args, "capabilities", caps);
    return vm_cmd(vm, "migrate-set-capabilities", args, errp);
}

/* No MIGRATION event for MIGRATE_TIMEOUT_MS: give up. */
static bool wait_event_timeout(void *opaque, QMPClient *c, GError **errp)
{
    error_setg(errp, "no MIGRATION %s event", (const char *)opaque);
    return false;
}

/* Wait for MIGRATION with @status; fails on another final status first. */
static bool wait_migration_event(VM *vm, const char *status, GError **errp)
{
    g_autofree char *st = vm_client_wait_migration_event(
        vm->qmp, status, MIGRATE_TIMEOUT_MS, wait_event_timeout, (void *)status,
        errp);

    if (!st) {
        return false;
    }
    if (strcmp(st, status)) {
        error_setg(errp, "migration %s before %s", st, status);
        return false;
    }
    return true;
}

/*
 * Restore the file again, lazily: time to postcopy-active (the guest may
 * run from then on) and to completed.  With --live the destination runs
 * its workload meanwhile (no -S), so its RAM is not compared.
 */
static bool run_lazy(Row *r, const char *uri, const char *digest, GError **errp)
{
    static const char *const caps[] = { "events", "lazy-restore", NULL };
    MigResult load = { 0 };
    double sync_ms;
    bool ok = false;

    drop_cache(save_path, &sync_ms);
    VM *dst = vm_start_full("lazy", true, !opt.live, errp);
    if (!dst) {
        g_prefix_error(errp, "lazy destination: ");
        return false;
    }
    if (!vm_configure(dst, r, errp) || !vm_caps_on(dst, caps, errp)) {
        goto out;
    }
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    double cpu0 = proc_cpu_s(dst->pid);
    int64_t t0 = now_ns();
    if (!vm_cmd(dst, "migrate-incoming", args, errp) ||
        !wait_migration_event(dst, "postcopy-active", errp)) {
        goto out;
    }
    double resume_ms = (now_ns() - t0) / 1e6;
    if (!wait_migration(dst, t0, &load, errp)) {
        goto out;
    }
    load.cpu_s = proc_cpu_s(dst->pid) - cpu0;
    JsonNode *q = qmp_client_cmd(dst->qmp, "query-migrate", NULL, errp);
    if (!q) {
        goto out;
    }
    JsonObject *lr =
        json_object_get_object_member(json_node_get_object(q), "lazy-restore");
    g_free(r->lazy_stats);
    r->lazy_stats = g_strdup_printf(
        "time-to-resume %" PRId64 " ms (server side), load %" PRId64
        " ms, %" PRId64 " faults (p50 %" PRId64 " us, p99 %" PRId64
        " us), pages by fault %" PRId64 ", by prefetch %" PRId64,
        json_object_get_int_member_with_default(lr, "time-to-resume", -1),
        json_object_get_int_member_with_default(lr, "load-time", -1),
        json_object_get_int_member_with_default(lr, "faults", 0),
        json_object_get_int_member_with_default(lr, "fault-latency-p50-us", 0),
        json_object_get_int_member_with_default(lr, "fault-latency-p99-us", 0),
        json_object_get_int_member_with_default(lr, "pages-by-fault", 0),
        json_object_get_int_member_with_default(lr, "pages-by-prefetch", 0));
    json_node_unref(q);
    if (!opt.no_verify && !opt.live) {
        g_autofree char *d = vm_digest(dst, errp);
        if (!d) {
            goto out;
        }
        if (strcmp(d, digest)) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "RAM digests differ after the lazy restore");
            goto out;
        }
    }
    g_array_append_val(r->lazy_resume_ms, resume_ms);
    g_array_append_val(r->lazy_total_ms, load.wall_ms);
    g_array_append_val(r->lazy_cpu, load.cpu_s);
    if (!opt.csv) {
        fprintf(stderr,
                "  [%s] lazy restore: resumable after %.1f ms, loaded "
                "after %.0f ms (%.2f CPU s); %s\n",
                r->label, resume_ms, load.wall_ms, load.cpu_s, r->lazy_stats);
    }
    ok = true;
out:
    vm_kill(dst);
    return ok;
}

static VM *source;

static VM *source_get(GError **errp)
{
    if (source) {
        /* Still alive? */
        if (kill(source->pid, 0) == 0) {
            GError *e = NULL;
            JsonNode *n = qmp_client_cmd(source->qmp, "query-status", NULL, &e);
            if (n) {
                json_node_unref(n);
                return source;
            }
            g_clear_error(&e);
        }
        fprintf(stderr, "  source VM died; starting a new one\n");
        vm_kill(source);
        source = NULL;
    }
    if (!opt.csv) {
        fprintf(stderr,
                "starting source: %" PRIu64 " MiB, %d%% of pages "
                "with data (stress workload)...\n",
                opt.mem / MiB, opt.dirty);
    }
    source = vm_start("src", false, errp);
    if (!source) {
        return NULL;
    }
    if (!vm_fill(source, errp)) {
        vm_kill(source);
        source = NULL;
        return NULL;
    }
    if (!opt.live && !opt.no_verify) {
        source->digest = vm_digest(source, errp);
        if (!source->digest) {
            vm_kill(source);
            source = NULL;
            return NULL;
        }
    }
    return source;
}

static bool run_once(Row *r, GError **errp)
{
    g_autofree char *uri = g_strdup_printf("file:%s", save_path);
    MigResult save = { 0 }, load = { 0 };
    double sync_ms = 0;
    VM *src = source_get(errp);
    VM *dst = NULL;
    bool ok = false;

    if (!src) {
        g_prefix_error(errp, "source: ");
        return false;
    }
    unlink(save_path);
    if (!vm_configure(src, r, errp)) {
        goto out;
    }
    if (opt.live) {
        GError *e = NULL;
        JsonNode *n = qmp_client_cmd(src->qmp, "cont", NULL, &e);
        if (n) {
            json_node_unref(n);
        }
        g_clear_error(&e);
    }

    /* Save */
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    double cpu0 = proc_cpu_s(src->pid);
    int64_t t0 = now_ns();
    if (!vm_cmd(src, "migrate", args, errp) ||
        !wait_migration(src, t0, &save, errp)) {
        g_prefix_error(errp, "save: ");
        goto out;
    }
    save.cpu_s = proc_cpu_s(src->pid) - cpu0;
    /* Durable and out of the page cache, for a cold restore. */
    drop_cache(save_path, &sync_ms);

    struct stat stbuf;
    if (stat(save_path, &stbuf) == 0) {
        r->file_size = stbuf.st_size;
        r->file_alloc = (uint64_t)stbuf.st_blocks * 512;
    }
    r->transferred = save.transferred;
    if (opt.live && !opt.no_verify) {
        /* The source stays stopped (postmigrate) with what it saved. */
        g_free(src->digest);
        src->digest = vm_digest(src, errp);
        if (!src->digest) {
            goto out;
        }
    }

    /* Restore */
    dst = vm_start("dst", true, errp);
    if (!dst) {
        g_prefix_error(errp, "destination: ");
        goto out;
    }
    if (!vm_configure(dst, r, errp)) {
        g_prefix_error(errp, "destination: ");
        goto out;
    }
    args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    cpu0 = proc_cpu_s(dst->pid);
    t0 = now_ns();
    if (!vm_cmd(dst, "migrate-incoming", args, errp) ||
        !wait_migration(dst, t0, &load, errp)) {
        g_prefix_error(errp, "restore: ");
        goto out;
    }
    load.cpu_s = proc_cpu_s(dst->pid) - cpu0;

    if (!opt.no_verify) {
        g_autofree char *d = vm_digest(dst, errp);
        if (!d) {
            goto out;
        }
        if (strcmp(d, src->digest)) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_FAILED,
                        "RAM digests differ after restore");
            goto out;
        }
    }

    g_array_append_val(r->save_wall_ms, save.wall_ms);
    g_array_append_val(r->save_total_ms, save.total_ms);
    g_array_append_val(r->save_sync_ms, sync_ms);
    g_array_append_val(r->save_cpu, save.cpu_s);
    g_array_append_val(r->save_pps, save.pps);
    g_array_append_val(r->restore_wall_ms, load.wall_ms);
    g_array_append_val(r->restore_total_ms, load.total_ms);
    g_array_append_val(r->restore_cpu, load.cpu_s);
    vm_kill(dst);
    dst = NULL;
    if (opt.lazy && r->mapped && !run_lazy(r, uri, src->digest, errp)) {
        g_prefix_error(errp, "lazy restore: ");
        goto out;
    }
    if (!opt.csv) {
        fprintf(stderr,
                "  [%s] save %.0f ms (+%.0f ms fsync, %.2f CPU s), "
                "restore %.0f ms (%.2f CPU s), file %.0f MiB allocated\n",
                r->label, save.wall_ms, sync_ms, save.cpu_s, load.wall_ms,
                load.cpu_s, r->file_alloc / (double)MiB);
    }
    ok = true;
out:
    if (dst) {
        vm_kill(dst);
    }
    unlink(save_path);
    return ok;
}

/* ------------------------------------------------------------------ */
/* Machine information */

static char *fs_type_of(const char *dir)
{
    /* Longest mount point that is a prefix of realpath(dir). */
    g_autofree char *real = realpath(dir, NULL);
    g_autofree char *mi = NULL;
    char *best = NULL;
    size_t best_len = 0;

    if (real && g_file_get_contents("/proc/self/mountinfo", &mi, NULL, NULL)) {
        g_auto(GStrv) lines = g_strsplit(mi, "\n", -1);
        for (int i = 0; lines[i]; i++) {
            g_auto(GStrv) f = g_strsplit(lines[i], " ", -1);
            int n = g_strv_length(f);
            if (n < 10) {
                continue;
            }
            const char *mp = f[4];
            size_t l = strlen(mp);
            bool prefix = !strcmp(mp, "/") || (!strncmp(real, mp, l) &&
                                               (real[l] == '/' || !real[l]));
            if (!prefix || l < best_len) {
                continue;
            }
            int sep = 6;
            while (sep < n && strcmp(f[sep], "-")) {
                sep++;
            }
            if (sep + 2 < n) {
                g_free(best);
                best = g_strdup_printf("%s on %s (%s)", f[sep + 1], mp,
                                       f[sep + 2]);
                best_len = l;
            }
        }
    }
    if (!best) {
        struct statfs sf;
        if (statfs(dir, &sf) == 0) {
            best = g_strdup_printf("statfs f_type 0x%lx",
                                   (unsigned long)sf.f_type);
        } else {
            best = g_strdup("unknown");
        }
    }
    return best;
}

static uint64_t free_space(const char *dir)
{
    struct statvfs sv;
    if (statvfs(dir, &sv) < 0) {
        return 0;
    }
    return (uint64_t)sv.f_bavail * sv.f_frsize;
}

static void print_machine(FILE *out, const char *pfx)
{
    g_autofree char *cpuinfo = NULL;
    g_autofree char *model = NULL;
    if (g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL)) {
        char *p = strstr(cpuinfo, "model name");
        if (p && (p = strchr(p, ':'))) {
            model = g_strndup(p + 2, strcspn(p + 2, "\n"));
        }
    }
    struct utsname u;
    uname(&u);
    g_autofree char *fs = fs_type_of(opt.dir);
    double ram = (double)sysconf(_SC_PHYS_PAGES) * sysconf(_SC_PAGESIZE);

    fprintf(out, "%smachine: %s, %ld cores, %.1f GiB RAM, kernel %s %s\n", pfx,
            model ? model : "unknown CPU", sysconf(_SC_NPROCESSORS_ONLN),
            ram / GiB, u.sysname, u.release);
    fprintf(out, "%sdirectory: %s: %s, %.1f GiB free\n", pfx, opt.dir, fs,
            free_space(opt.dir) / (double)GiB);
    fprintf(out,
            "%sguest: %" PRIu64 " MiB RAM, %d%% of pages with data, "
            "%d vCPU (%s), %s save, %d repeat(s), medians\n",
            pfx, opt.mem / MiB, opt.dirty, opt.smp,
            opt.accel ? opt.accel : "soft", opt.live ? "live" : "paused",
            opt.repeat);
}

/* ------------------------------------------------------------------ */
/* Output */

static double mbps(double ms)
{
    return ms > 0 ? opt.mem / 1e6 / (ms / 1e3) : NAN;
}

static void fmt_num(char *buf, size_t len, double v, int prec)
{
    if (isnan(v)) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.*f", prec, v);
    }
}

/* --lazy: eager restore against lazy restore of the same files. */
static void print_lazy_table(void)
{
    if (opt.csv) {
        printf("lazy_configuration,restore_ms,lazy_resume_ms,lazy_total_ms,"
               "lazy_vs_restore,lazy_cpu_s_per_GiB,runs\n");
    } else {
        printf("\nlazy-restore (%s guest during the load): time from "
               "migrate-incoming to postcopy-active (the guest may run) "
               "and to completed\n\n",
               opt.live ? "running" : "paused");
        printf("%-44s | %10s | %14s | %13s | %10s\n", "configuration",
               "restore ms", "lazy resume ms", "lazy total ms", "lazy/eager");
    }
    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        if (!r->mapped) {
            continue;
        }
        double rw = median(r->restore_wall_ms);
        double lr = median(r->lazy_resume_ms), lt = median(r->lazy_total_ms);
        char a[32], b[32], c[32], d[32];
        fmt_num(a, sizeof(a), rw, 0);
        fmt_num(b, sizeof(b), lr, 1);
        fmt_num(c, sizeof(c), lt, 0);
        fmt_num(d, sizeof(d), lt / rw, 2);
        if (opt.csv) {
            printf("\"%s\",%s,%s,%s,%s,%.2f,%u\n", r->label, a, b, c, d,
                   median(r->lazy_cpu) / (opt.mem / (double)GiB),
                   r->lazy_total_ms->len);
        } else {
            printf("%-44s | %10s | %14s | %13s | %10s\n", r->label, a, b, c, d);
        }
    }
    for (guint i = 0; i < rows->len && !opt.csv; i++) {
        Row *r = rows->pdata[i];
        if (r->lazy_stats) {
            printf("  %s: last lazy run: %s\n", r->label, r->lazy_stats);
        }
    }
}

static void print_table(void)
{
    static const char *hdr[] = {
        "configuration",  "save MB/s",    "save ms",    "fsync ms",
        "save CPU s/GiB", "restore MB/s", "restore ms", "restore CPU s/GiB",
        "save/fio",       "restore/fio",
    };
    enum { NCOL = ARRAY_SIZE(hdr) };
    GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
    double gib = opt.mem / (double)GiB;

    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        char v[NCOL][64];
        double sw = median(r->save_wall_ms), sy = median(r->save_sync_ms);
        double rw = median(r->restore_wall_ms);
        double fw = r->fio ? median(r->fio->write_bw) : NAN;
        double fr = r->fio ? median(r->fio->read_bw) : NAN;
        double smb = mbps(sw + sy), rmb = mbps(rw);

        snprintf(v[0], 64, "%s%s", r->label,
                 r->save_wall_ms->len
                     ? (r->failures ? " (some runs FAILED)" : "")
                     : " FAILED");
        fmt_num(v[1], 64, smb, 0);
        fmt_num(v[2], 64, sw, 0);
        fmt_num(v[3], 64, sy, 0);
        fmt_num(v[4], 64, median(r->save_cpu) / gib, 2);
        fmt_num(v[5], 64, rmb, 0);
        fmt_num(v[6], 64, rw, 0);
        fmt_num(v[7], 64, median(r->restore_cpu) / gib, 2);
        fmt_num(v[8], 64, smb * 1e6 / fw, 2);
        fmt_num(v[9], 64, rmb * 1e6 / fr, 2);
        for (int c = 0; c < NCOL; c++) {
            g_ptr_array_add(cells, g_strdup(v[c]));
        }
    }
    for (guint i = 0; i < fio_rows->len; i++) {
        FioRow *f = fio_rows->pdata[i];
        char v[NCOL][64];
        double fw = median(f->write_bw), fr = median(f->read_bw);
        snprintf(v[0], 64, "%s%s", f->label, f->write_bw->len ? "" : " FAILED");
        fmt_num(v[1], 64, fw / 1e6, 0);
        fmt_num(v[2], 64, fw > 0 ? opt.mem / fw * 1e3 : NAN, 0);
        snprintf(v[3], 64, "%s", f->key.direct ? "-" : "incl.");
        snprintf(v[4], 64, "-");
        fmt_num(v[5], 64, fr / 1e6, 0);
        fmt_num(v[6], 64, fr > 0 ? opt.mem / fr * 1e3 : NAN, 0);
        snprintf(v[7], 64, "-");
        snprintf(v[8], 64, "1.00");
        snprintf(v[9], 64, "1.00");
        if (!f->write_bw->len) {
            snprintf(v[8], 64, "-");
            snprintf(v[9], 64, "-");
        }
        for (int c = 0; c < NCOL; c++) {
            g_ptr_array_add(cells, g_strdup(v[c]));
        }
    }

    guint nrows = cells->len / NCOL;
    if (opt.csv) {
        print_machine(stdout, "# ");
        printf("configuration,save_MBps,save_ms,save_total_time_ms,fsync_ms,"
               "save_cpu_s_per_GiB,save_pages_per_s,restore_MBps,restore_ms,"
               "restore_total_time_ms,restore_cpu_s_per_GiB,save_vs_fio,"
               "restore_vs_fio,file_size,file_allocated,transferred,runs,"
               "error\n");
        for (guint i = 0; i < rows->len; i++) {
            Row *r = rows->pdata[i];
            char **c = (char **)cells->pdata + i * NCOL;
            printf("\"%s\",%s,%s,%.0f,%s,%s,%.0f,%s,%s,%.0f,%s,%s,%s,%" PRIu64
                   ",%" PRIu64 ",%" PRIu64 ",%u,\"%s\"\n",
                   r->label, c[1], c[2], median(r->save_total_ms), c[3], c[4],
                   median(r->save_pps), c[5], c[6], median(r->restore_total_ms),
                   c[7], c[8], c[9], r->file_size, r->file_alloc,
                   r->transferred, r->save_wall_ms->len,
                   r->error ? r->error : "");
        }
        for (guint i = rows->len; i < nrows; i++) {
            FioRow *f = fio_rows->pdata[i - rows->len];
            char **c = (char **)cells->pdata + i * NCOL;
            printf("\"%s\",%s,%s,,,,,%s,%s,,,,,,,,%u,\"%s\"\n", c[0], c[1],
                   c[2], c[5], c[6], f->write_bw->len,
                   f->error ? f->error : "");
        }
        g_ptr_array_free(cells, true);
        return;
    }

    size_t w[NCOL];
    for (int c = 0; c < NCOL; c++) {
        w[c] = strlen(hdr[c]);
        for (guint i = 0; i < nrows; i++) {
            w[c] = MAX(w[c], strlen(cells->pdata[i * NCOL + c]));
        }
    }
    printf("\n");
    print_machine(stdout, "");
    printf("\n");
    for (int c = 0; c < NCOL; c++) {
        printf(c ? " | %*s" : "%-*s", (int)w[c], hdr[c]);
    }
    printf("\n");
    for (int c = 0; c < NCOL; c++) {
        for (size_t k = 0; k < w[c] + (c ? 3 : 0); k++) {
            putchar(c && k == 1 ? '|' : '-');
        }
    }
    printf("\n");
    for (guint i = 0; i < nrows; i++) {
        if (i == rows->len) {
            printf("\n");
        }
        for (int c = 0; c < NCOL; c++) {
            printf(c ? " | %*s" : "%-*s", (int)w[c],
                   (char *)cells->pdata[i * NCOL + c]);
        }
        printf("\n");
    }
    g_ptr_array_free(cells, true);

    printf("\nMB/s = guest RAM (%" PRIu64 " bytes) / seconds, 1 MB = 10^6 "
           "bytes; save MB/s counts save + fsync (durable, as fio's "
           "end_fsync=1),\nsave ms is migrate -> completed. CPU s/GiB: "
           "utime+stime of the source (save) or destination (restore)\n"
           "process per GiB of guest RAM%s. fio: bs=1M, same total size, "
           "numjobs = channels, ratio = row / fio with the same\nmode and "
           "engine (median of the runs before and after each group).\n",
           opt.mem, opt.live ? " (live: includes the vCPU threads)" : "");
    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        if (r->file_size) {
            printf("  %s: file %.1f MiB logical, %.1f MiB allocated, "
                   "%.1f MiB of pages transferred\n",
                   r->label, r->file_size / (double)MiB,
                   r->file_alloc / (double)MiB, r->transferred / (double)MiB);
        }
        if (r->error) {
            printf("  %s: error: %s\n", r->label, r->error);
        }
    }
    for (guint i = 0; i < fio_rows->len; i++) {
        FioRow *f = fio_rows->pdata[i];
        if (f->error) {
            printf("  %s: error: %s\n", f->label, f->error);
        }
    }
    if (!have_fio) {
        printf("  fio not found (or --no-fio): ratios omitted\n");
    }
}

/* ------------------------------------------------------------------ */

static void usage(void)
{
    printf(
        "Usage: mapmig-perf [options]\n"
        "  --mem SIZE          guest RAM (default 4G)\n"
        "  --dirty PCT         percentage of pages holding data (default 90)\n"
        "  --dir DIR           directory on the file system under test "
        "(default /var/tmp)\n"
        "  --channels LIST     multifd channels, e.g. 1,2,4,8,16 (default)\n"
        "  --direct-io         add mapped-ram + multifd + direct-io rows\n"
        "  --engine E          psync|io-uring|libaio|all for the direct-io "
        "rows (implies --direct-io)\n"
        "  --repeat N          runs per configuration, medians (default 3)\n"
        "  --layout L          stream|mapped|all (default all)\n"
        "  --live              save while the workload runs\n"
        "  --rate P            workload pages/s per vCPU (default unlimited)\n"
        "  --smp N             vCPUs of the guest (default 1)\n"
        "  --accel A           soft|kvm: who runs the guest (default soft)\n"
        "  --mapmig PATH       the mapmig binary\n"
        "  --no-fio            skip the fio baseline\n"
        "  --no-verify         skip the RAM digest comparison\n"
        "  --quick             1G guest, channels 1,4, one run\n"
        "  --lazy              also restore mapped-ram rows with "
        "lazy-restore\n"
        "  --csv               CSV output\n"
        "  -h, --help, --version\n"
        "Exit status: 0 every run passed, 1 a run or the set-up failed, "
        "2 usage error.\n");
}

/* A usage error: one line saying what, one saying where to look; 2. */
static int G_GNUC_PRINTF(1, 2) usage_error(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "mapmig-perf: %s\nTry 'mapmig-perf --help'.\n", msg);
    return 2;
}

/* A whole decimal number in [min, max]. */
static bool parse_number(const char *s, uint64_t min, uint64_t max,
                         uint64_t *out)
{
    char *end;

    errno = 0;
    *out = g_ascii_strtoull(s, &end, 10);
    return !errno && end != s && !*end && *s != '-' && *out >= min &&
           *out <= max;
}

static char *default_mapmig(const char *argv0)
{
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    if (self) {
        g_autofree char *d = g_path_get_dirname(self);
        char *p = g_build_filename(d, "..", "mapmig", NULL);
        if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE)) {
            return p;
        }
        g_free(p);
    }
    char *p = g_find_program_in_path("mapmig");
    return p ? p : g_strdup("mapmig");
}

static bool parse_channels(const char *s)
{
    g_auto(GStrv) parts = g_strsplit(s, ",", -1);
    g_array_set_size(opt.channels, 0);
    for (int i = 0; parts[i]; i++) {
        char *end;
        long v = strtol(parts[i], &end, 10);
        if (*end || v < 1 || v > 255) {
            return false;
        }
        int iv = v;
        g_array_append_val(opt.channels, iv);
    }
    return opt.channels->len > 0;
}

int main(int argc, char **argv)
{
    bool mem_set = false, channels_set = false, repeat_set = false;
    opt.channels = g_array_new(false, false, sizeof(int));
    parse_channels("1,2,4,8,16");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
#define NEED_ARG()                                              \
    do {                                                        \
        if (!v) {                                               \
            return usage_error("option '%s' needs a value", a); \
        }                                                       \
        i++;                                                    \
    } while (0)
        if (!strcmp(a, "--mem")) {
            NEED_ARG();
            if (!parse_mem(v, &opt.mem) || opt.mem < 16 * MiB) {
                return usage_error("bad --mem '%s' (at least 16M)", v);
            }
            opt.mem = ROUND_UP(opt.mem, MiB);
            mem_set = true;
        } else if (!strcmp(a, "--dirty")) {
            NEED_ARG();
            if (!parse_number(v, 1, 100, &n)) {
                return usage_error("--dirty must be 1..100, not '%s'", v);
            }
            opt.dirty = n;
        } else if (!strcmp(a, "--dir")) {
            NEED_ARG();
            opt.dir = g_strdup(v);
        } else if (!strcmp(a, "--channels")) {
            NEED_ARG();
            if (!parse_channels(v)) {
                return usage_error("bad --channels '%s' (1..255, comma "
                                   "separated)",
                                   v);
            }
            channels_set = true;
        } else if (!strcmp(a, "--direct-io")) {
            opt.direct_io = true;
        } else if (!strcmp(a, "--engine")) {
            NEED_ARG();
            if (strcmp(v, "psync") && strcmp(v, "io-uring") &&
                strcmp(v, "libaio") && strcmp(v, "all")) {
                return usage_error("bad --engine '%s' "
                                   "(psync|io-uring|libaio|all)",
                                   v);
            }
            opt.engine = g_strdup(v);
            opt.direct_io = true;
        } else if (!strcmp(a, "--repeat")) {
            NEED_ARG();
            if (!parse_number(v, 1, INT_MAX, &n)) {
                return usage_error("--repeat must be >= 1, not '%s'", v);
            }
            opt.repeat = n;
            repeat_set = true;
        } else if (!strcmp(a, "--layout")) {
            NEED_ARG();
            if (strcmp(v, "stream") && strcmp(v, "mapped") &&
                strcmp(v, "all")) {
                return usage_error("bad --layout '%s' (stream|mapped|all)", v);
            }
            opt.layout = g_strdup(v);
        } else if (!strcmp(a, "--live")) {
            opt.live = true;
        } else if (!strcmp(a, "--rate")) {
            NEED_ARG();
            if (!parse_number(v, 0, UINT64_MAX, &opt.rate)) {
                return usage_error("bad --rate '%s'", v);
            }
        } else if (!strcmp(a, "--accel")) {
            NEED_ARG();
            if (strcmp(v, "soft") && strcmp(v, "kvm")) {
                return usage_error("bad --accel '%s' (soft or kvm)", v);
            }
            g_free(opt.accel);
            opt.accel = g_strdup(v);
        } else if (!strcmp(a, "--smp")) {
            NEED_ARG();
            if (!parse_number(v, 1, 64, &n)) {
                return usage_error("--smp must be 1..64, not '%s'", v);
            }
            opt.smp = n;
        } else if (!strcmp(a, "--mapmig")) {
            NEED_ARG();
            opt.mapmig = g_strdup(v);
        } else if (!strcmp(a, "--no-fio")) {
            opt.no_fio = true;
        } else if (!strcmp(a, "--no-verify")) {
            opt.no_verify = true;
        } else if (!strcmp(a, "--lazy")) {
            opt.lazy = true;
        } else if (!strcmp(a, "--quick")) {
            opt.quick = true;
        } else if (!strcmp(a, "--csv")) {
            opt.csv = true;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage();
            return 0;
        } else if (!strcmp(a, "--version")) {
            printf("mapmig-perf version %s\n", MAPMIG_VERSION);
            return 0;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (opt.quick) {
        if (!mem_set) {
            opt.mem = GiB;
        }
        if (!channels_set) {
            parse_channels("1,4");
        }
        if (!repeat_set) {
            opt.repeat = 1;
        }
    }
    if (!opt.dir) {
        opt.dir = g_strdup("/var/tmp");
    }
    if (!opt.engine) {
        opt.engine = g_strdup("psync");
    }
    if (!opt.layout) {
        opt.layout = g_strdup("all");
    }
    if (!opt.mapmig) {
        opt.mapmig = default_mapmig(argv[0]);
    }

    /* Space: the file is at most RAM + metadata; want 2x that free. */
    uint64_t need = 2 * (opt.mem + opt.mem / 4096 / 8 + 64 * MiB);
    uint64_t avail = free_space(opt.dir);
    if (!g_file_test(opt.dir, G_FILE_TEST_IS_DIR)) {
        fprintf(stderr, "mapmig-perf: %s is not a directory\n", opt.dir);
        return 1;
    }
    if (avail < need) {
        fprintf(stderr,
                "mapmig-perf: %s has %.1f GiB free, need %.1f GiB "
                "(2x the file)\n",
                opt.dir, avail / (double)GiB, need / (double)GiB);
        return 1;
    }

    g_autofree char *fio_path =
        opt.no_fio ? NULL : g_find_program_in_path("fio");
    have_fio = fio_path != NULL;
    if (!have_fio && !opt.no_fio) {
        fprintf(stderr, "fio not found: no baseline, ratios omitted\n");
    }

    GError *err = NULL;
    tmpdir = g_dir_make_tmp("mapmig-perf-XXXXXX", &err);
    if (!tmpdir) {
        fprintf(stderr, "mapmig-perf: %s\n", err->message);
        return 1;
    }
    snprintf(save_path, sizeof(save_path), "%s/%s", opt.dir, SAVE_NAME);
    atexit(cleanup_at_exit);
    struct sigaction sa = { .sa_handler = on_signal };
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /* Rows */
    rows = g_ptr_array_new();
    fio_rows = g_ptr_array_new();
    bool all = !strcmp(opt.layout, "all");
    if (all || !strcmp(opt.layout, "stream")) {
        Row *r = row_new("file: stream");
        r->fio = fio_row_get(1, "psync", false);
    }
    if (all || !strcmp(opt.layout, "mapped")) {
        Row *r = row_new("mapped-ram");
        r->mapped = true;
        r->fio = fio_row_get(1, "psync", false);
        for (guint i = 0; i < opt.channels->len; i++) {
            int n = g_array_index(opt.channels, int, i);
            g_autofree char *l = g_strdup_printf("mapped-ram + multifd %d", n);
            r = row_new(l);
            r->mapped = r->multifd = true;
            r->channels = n;
            r->fio = fio_row_get(n, "psync", false);
        }
        if (opt.direct_io) {
            static const char *engines[] = { "psync", "io-uring", "libaio" };
            for (size_t e = 0; e < ARRAY_SIZE(engines); e++) {
                if (strcmp(opt.engine, "all") &&
                    strcmp(opt.engine, engines[e])) {
                    continue;
                }
                for (guint i = 0; i < opt.channels->len; i++) {
                    int n = g_array_index(opt.channels, int, i);
                    g_autofree char *l = g_strdup_printf(
                        "mapped-ram + multifd %d + direct-io (%s)", n,
                        engines[e]);
                    r = row_new(l);
                    r->mapped = r->multifd = r->dio = true;
                    r->channels = n;
                    r->engine = engines[e];
                    r->fio = fio_row_get(n, engines[e], true);
                }
            }
        }
    }
    if (!opt.csv) {
        print_machine(stderr, "");
        fprintf(stderr, "mapmig: %s\n", opt.mapmig);
    }

    /*
     * Each configuration group: fio, the mapmig runs, fio again (the
     * "after" run of a group doubles as the "before" of the next group
     * when both use the same fio setup).
     */
    FioRow *last_fio = NULL;
    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        if (!opt.csv) {
            fprintf(stderr, "== %s\n", r->label);
        }
        if (r->fio != last_fio) {
            run_fio(r->fio, opt.mem);
        }
        for (int k = 0; k < opt.repeat; k++) {
            r->runs++;
            if (!run_once(r, &err)) {
                row_error(r, "run", err);
                g_clear_error(&err);
            }
        }
        run_fio(r->fio, opt.mem);
        last_fio = r->fio;
    }
    if (source) {
        vm_kill(source);
        source = NULL;
    }

    print_table();
    if (opt.lazy) {
        print_lazy_table();
    }

    int failed = 0;
    for (guint i = 0; i < rows->len; i++) {
        failed += ((Row *)rows->pdata[i])->failures;
    }
    return failed ? 1 : 0;
}
