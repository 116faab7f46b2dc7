/*
 * mapmig-perf: a guestperf-like benchmark of save/restore to a file.
 *
 * For each configuration (classic file: stream, mapped-ram, mapped-ram +
 * multifd N, ... + direct-io with an I/O engine) it saves a paused (or,
 * with --live, running) guest whose RAM is filled by the stress workload,
 * restores it into a fresh destination process, verifies the RAM digests
 * and measures wall time, query-migrate's total-time and the CPU seconds of
 * the process doing the work.  fio runs on the same directory (same size,
 * bs=1M, same direct/buffered mode, numjobs = channels), and each row shows
 * its ratio to fio's median.  With --qemu, QEMU 7.2's classic save and load
 * (exec:cat) of the same guest content run beside them; a floor row times
 * the first touch of fresh memory.  Repetitions are interleaved (A B C A B
 * C ...) so that every row sees the same machine.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/qmp-client.h"
#include "qemu/cutils.h"
#include "qemu/vm-client.h"

#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
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
#define START_TIMEOUT_MS (300 * 1000)
#define QEMU_BINARY "qemu-system-x86_64"
/* QEMU 7.2's "no limit": max-bandwidth 0 is not unlimited everywhere. */
#define QEMU_MAX_BANDWIDTH (1ULL << 40)

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
    char *accel;    /* soft|kvm: -accel of both VMs */
    bool qemu;      /* add QEMU's classic save/load rows */
    char *qemu_bin; /* qemu-system-x86_64 */
    bool populate;  /* source RAM populated (prealloc=on) */
    char *csv_path; /* one line per row and repetition */
    bool no_floor;
    bool no_drop_caches;
    int checkpoints; /* --checkpoints N: the checkpoint benchmark instead */
    int interval;    /* seconds between checkpoints */
} opt = {
    .mem = 4 * GiB,
    .dirty = 90,
    .repeat = 3,
    .smp = 1,
    .interval = 5,
};

/* ------------------------------------------------------------------ */
/* Child processes: every one is tracked and killed on exit or signal */

#define MAX_CHILDREN 16
static volatile pid_t children[MAX_CHILDREN];
static char *tmpdir;
static char save_path[PATH_MAX];
static void ckpt_unlink_images(void);
/* The guest content both sources map (--populate, --qemu), on tmpfs. */
static char content_path[PATH_MAX];
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
        ckpt_unlink_images();
    }
    if (content_path[0]) {
        unlink(content_path);
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
        static const char *names[] = {
            "src.sock",      "dst.sock",      "src.log",      "dst.log",
            "fio.json",      "fio.log",       "lazy.sock",    "lazy.log",
            "qemu-src.sock", "qemu-dst.sock", "qemu-src.log", "qemu-dst.log",
            "qemu.done",     "pmem.fifo",
        };
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

/*
 * Wait up to @timeout_ms for @pid, then kill it; its wait status, and its
 * resource usage in @ru (the CPU time of a tool we started).
 */
static int reap(pid_t pid, int timeout_ms, struct rusage *ru)
{
    int64_t waited_ms = 0;
    int status = -1;
    pid_t r;

    memset(ru, 0, sizeof(*ru));
    while ((r = wait4(pid, &status, WNOHANG, ru)) == 0 &&
           waited_ms < timeout_ms) {
        g_usleep(10000);
        waited_ms += 10;
    }
    if (r == 0) {
        kill(pid, SIGKILL);
        r = wait4(pid, &status, 0, ru);
    }
    child_del(pid);
    return r == pid ? status : -1;
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

static double tv_s(struct timeval tv)
{
    return tv.tv_sec + tv.tv_usec / 1e6;
}

/* utime + stime of the calling thread, in seconds. */
static double thread_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_THREAD, &ru);
    return tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
}

/*
 * Samples: one double per repetition (index = repetition), NAN until
 * measured or when that run failed.
 */
static GArray *darray(void)
{
    GArray *a = g_array_sized_new(false, false, sizeof(double), opt.repeat);
    double nan = NAN;

    for (int i = 0; i < opt.repeat; i++) {
        g_array_append_val(a, nan);
    }
    return a;
}

static void sample_set(GArray *a, int rep, double v)
{
    g_array_index(a, double, rep) = v;
}

static double sample_get(GArray *a, int rep)
{
    return a && rep >= 0 && (guint)rep < a->len ? g_array_index(a, double, rep)
                                                : NAN;
}

static guint sample_count(GArray *a)
{
    guint n = 0;

    for (guint i = 0; a && i < a->len; i++) {
        n += !isnan(g_array_index(a, double, i));
    }
    return n;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the measured samples, and their minimum and maximum. */
static double stats(GArray *a, double *lo, double *hi)
{
    guint n = 0;
    g_autofree double *v = g_new(double, a ? a->len + 1 : 1);

    for (guint i = 0; a && i < a->len; i++) {
        double x = g_array_index(a, double, i);
        if (!isnan(x)) {
            v[n++] = x;
        }
    }
    if (!n) {
        *lo = *hi = NAN;
        return NAN;
    }
    qsort(v, n, sizeof(double), cmp_double);
    *lo = v[0];
    *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double median(GArray *a)
{
    double lo, hi;

    return stats(a, &lo, &hi);
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

/*
 * Before every timed step: write back and drop the whole page cache, so
 * that no step finds another's pages cached (root only; without it, or
 * with --no-drop-caches, each file is still dropped by drop_cache()).
 */
static bool caches_refused;

static void drop_caches_all(void)
{
    int fd;

    if (opt.no_drop_caches || caches_refused) {
        return;
    }
    sync();
    fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd < 0 || write(fd, "3", 1) != 1) {
        fprintf(stderr,
                "note: cannot drop the page cache (/proc/sys/vm/drop_caches: "
                "%s); only the benchmark's own files are dropped\n",
                strerror(errno));
        caches_refused = true;
    }
    if (fd >= 0) {
        close(fd);
    }
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
    GArray *write_cpu, *read_cpu; /* fio's user+sys seconds */
    int last_rep;                 /* the repetition it last ran in */
    char *error;
} FioRow;

typedef struct Row {
    char *label;
    bool qemu; /* QEMU's classic exec:cat save and load */
    bool mapped, multifd, dio;
    int channels;
    const char *engine;
    FioRow *fio;
    GArray *save_wall_ms, *save_total_ms, *save_sync_ms, *save_cpu;
    GArray *restore_wall_ms, *restore_total_ms, *restore_cpu;
    GArray *save_pps;
    GArray *save_mbps, *restore_mbps; /* guest RAM / (wall [+ fsync]) */
    /* --lazy: migrate-incoming to postcopy-active, and to completed */
    GArray *lazy_resume_ms, *lazy_total_ms, *lazy_cpu;
    char *lazy_stats; /* of the last lazy run */
    uint64_t file_size, file_alloc, transferred;
    int runs, failures;
    char *error;
} Row;

/* First touch of fresh anonymous memory: the floor of every restore. */
typedef struct FloorRow {
    const char *label;
    bool thp; /* MADV_HUGEPAGE, else MADV_NOHUGEPAGE (4 KiB pages) */
    GArray *ms, *cpu;
    char *error;
} FloorRow;

static GPtrArray *rows;
static GPtrArray *fio_rows;
static GPtrArray *floor_rows;
static bool have_fio;
static Row *qemu_row;
static FILE *csv_out; /* --csv FILE */

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
    r->save_mbps = darray();
    r->restore_mbps = darray();
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
    f->write_cpu = darray();
    f->read_cpu = darray();
    f->last_rep = -1;
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
                        double *cpu_s, GError **errp)
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
    drop_caches_all();
    pid_t pid = spawn((char **)av->pdata, log, errp);
    g_ptr_array_free(av, true);
    if (pid < 0) {
        return false;
    }
    struct rusage ru;
    int st = reap(pid, MIGRATE_TIMEOUT_MS, &ru);
    *cpu_s = tv_s(ru.ru_utime) + tv_s(ru.ru_stime);
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

static void csv_fio(FioRow *f, int rep, const char *error);

/* fio's write then read for repetition @rep (once per repetition). */
static void run_fio(FioRow *f, int rep, uint64_t size)
{
    if (!have_fio || !f || f->last_rep == rep) {
        return;
    }
    GError *err = NULL;
    double wbw = 0, rbw = 0, wcpu = 0, rcpu = 0;

    f->last_rep = rep;
    if (run_fio_one(f, true, size, &wbw, &wcpu, &err)) {
        sample_set(f->write_bw, rep, wbw);
        sample_set(f->write_cpu, rep, wcpu);
        if (run_fio_one(f, false, size, &rbw, &rcpu, &err)) {
            sample_set(f->read_bw, rep, rbw);
            sample_set(f->read_cpu, rep, rcpu);
        }
    }
    csv_fio(f, rep, err ? err->message : NULL);
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
/* The guest content both sources map (--populate, --qemu) */

static char *content_sha; /* sha256 of the whole guest RAM; NULL: not kept */

static uint64_t xorshift64(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static bool pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, buf, len, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf = (const char *)buf + n;
        len -= n;
        off += n;
    }
    return true;
}

/* Fill one MiB of guest RAM; whether any page holds data. */
static bool content_chunk(uint8_t *buf, size_t len, uint64_t *seed)
{
    bool data = false;

    for (size_t pg = 0; pg < len; pg += 4096) {
        uint64_t *w = (uint64_t *)(buf + pg);
        if (xorshift64(seed) % 100 >= (uint64_t)opt.dirty) {
            memset(w, 0, 4096);
            continue;
        }
        for (size_t i = 0; i < 4096 / sizeof(*w); i++) {
            w[i] = xorshift64(seed);
        }
        data = true;
    }
    return data;
}

/*
 * Write the guest RAM image on tmpfs (it is memory, and drop_caches leaves
 * it alone): --dirty % of the 4 KiB pages random, picked at random with a
 * fixed seed, the rest zero.  Both VMMs' sources map it share=on, so they
 * save the same bytes.
 */
static bool content_make(GError **errp)
{
    const char *dir =
        g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : tmpdir;
    g_autoptr(GChecksum) sum =
        opt.no_verify ? NULL : g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(MiB);
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    struct statfs sf;
    bool ok = true;
    int fd;

    snprintf(content_path, sizeof(content_path), "%s/mapmig-perf-ram-XXXXXX",
             dir);
    fd = g_mkstemp_full(content_path, O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        error_setg(errp, "%s: %s", content_path, strerror(errno));
        content_path[0] = 0;
        return false;
    }
    if (statfs(dir, &sf) == 0 && sf.f_type != 0x01021994 /* TMPFS_MAGIC */) {
        fprintf(stderr,
                "warning: %s is not tmpfs: the guest RAM file is "
                "page cache, which drop_caches evicts\n",
                dir);
    }
    for (uint64_t off = 0; ok && off < opt.mem; off += MiB) {
        size_t len = MIN(MiB, opt.mem - off);
        bool data = content_chunk(buf, len, &seed);
        if (sum) {
            g_checksum_update(sum, buf, len);
        }
        ok = !data || pwrite_all(fd, buf, len, off);
    }
    ok = ok && ftruncate(fd, opt.mem) == 0;
    if (!ok) {
        error_setg(errp, "writing %s: %s", content_path, strerror(errno));
    }
    close(fd);
    if (ok && sum) {
        content_sha = g_strdup(g_checksum_get_string(sum));
    }
    return ok;
}

/* An x-query-ram-digest reply holds the content's digest. */
static bool content_check(const char *digest, GError **errp)
{
    if (content_sha && !strstr(digest, content_sha)) {
        error_setg(errp, "the source's RAM is not the guest content (%s)",
                   digest);
        return false;
    }
    return true;
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

/*
 * The -object of a VM's RAM when the guest content is the shared file
 * (--populate, --qemu): a source maps the file, a destination gets fresh
 * anonymous RAM.  Both name the block mem0, as a stream requires.
 */
static char *content_object(bool incoming)
{
    if (incoming) {
        return g_strdup_printf("memory-backend-ram,id=mem0,size=%" PRIu64,
                               opt.mem);
    }
    return g_strdup_printf(
        "memory-backend-file,id=mem0,size=%" PRIu64 ",mem-path=%s,share=on%s",
        opt.mem, content_path, opt.populate ? ",prealloc=on" : "");
}

/* A new VM's socket and log paths in tmpdir. */
static VM *vm_new(const char *name)
{
    VM *vm = g_new0(VM, 1);

    vm->sock = g_strdup_printf("%s/%s.sock", tmpdir, name);
    vm->log = g_strdup_printf("%s/%s.log", tmpdir, name);
    unlink(vm->sock);
    return vm;
}

/* Start @argv as @vm and connect to its QMP socket. */
static bool vm_launch(VM *vm, char **argv, GError **errp)
{
    vm->pid = spawn(argv, vm->log, errp);
    if (vm->pid < 0) {
        vm_kill(vm);
        return false;
    }
    /* prealloc=on of a large guest happens before QMP is up */
    vm->qmp =
        vm_client_connect(vm->sock, START_TIMEOUT_MS, vm->pid, NULL, errp);
    if (!vm->qmp) {
        g_autofree char *out = NULL;
        g_file_get_contents(vm->log, &out, NULL, NULL);
        if (out && *out && errp && *errp) {
            g_prefix_error(errp, "%s: ", g_strstrip(out));
        }
        vm_kill(vm);
        return false;
    }
    return true;
}

static VM *vm_start_full(const char *name, bool incoming, bool paused,
                         GError **errp)
{
    VM *vm = vm_new(name);
    g_autofree char *mem = g_strdup_printf("%" PRIu64 "M", opt.mem / MiB);
    g_autofree char *smp = g_strdup_printf("%d", opt.smp);
    g_autofree char *qmp =
        g_strdup_printf("unix:%s,server=on,wait=off", vm->sock);
    g_autofree char *wl = workload_spec();
    g_autofree char *obj = content_path[0] ? content_object(incoming) : NULL;
    char *argv[20];
    int i = 0;
    argv[i++] = opt.mapmig;
    argv[i++] = "-accel";
    argv[i++] = opt.accel ? opt.accel : "soft";
    if (obj) {
        /* -M none: RAM and no vCPU, as QEMU's side */
        argv[i++] = "-M";
        argv[i++] = "none";
        argv[i++] = "-object";
        argv[i++] = obj;
        argv[i++] = "-machine";
        argv[i++] = "memory-backend=mem0";
    } else {
        argv[i++] = "-m";
        argv[i++] = mem;
        argv[i++] = "-smp";
        argv[i++] = smp;
    }
    if (paused) {
        argv[i++] = "-S";
    }
    argv[i++] = "-qmp";
    argv[i++] = qmp;
    if (!obj) {
        argv[i++] = "-workload";
        argv[i++] = wl;
    }
    if (incoming) {
        argv[i++] = "-incoming";
        argv[i++] = "defer";
    }
    argv[i] = NULL;

    return vm_launch(vm, argv, errp) ? vm : NULL;
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

/*
 * The progress line, on a terminal only: the row, the migration's status,
 * bytes so far and rate, redrawn in place at most 5 times a second and
 * erased before anything else is printed.
 */
#define PROGRESS_INTERVAL_NS (200 * 1000 * 1000)
static const char *progress_label; /* the row being run */
static int64_t progress_last_ns;
static bool progress_drawn;

static void progress_draw(int64_t t0, JsonNode *reply)
{
    int64_t now = now_ns();

    if (!isatty(STDERR_FILENO) || !progress_label ||
        now - progress_last_ns < PROGRESS_INTERVAL_NS) {
        return;
    }
    progress_last_ns = now;
    JsonObject *o = json_node_get_object(reply);
    JsonObject *ram = json_object_has_member(o, "ram")
                          ? json_object_get_object_member(o, "ram")
                          : NULL;
    double secs = (now - t0) / 1e9;
    g_autofree char *bytes = NULL;
    if (ram) {
        uint64_t done =
            json_object_get_int_member_with_default(ram, "transferred", 0);
        uint64_t total =
            json_object_get_int_member_with_default(ram, "total", 0);
        g_autofree char *d = size_to_human_str(done);
        g_autofree char *t = size_to_human_str(total);
        bytes = g_strdup_printf("  %s / %s  %.0f MB/s", d, t,
                                secs > 0 ? done / secs / 1e6 : 0.0);
    }
    fprintf(stderr, "\r\033[K  [%s] %s%s  %.1f s", progress_label,
            qmp_get_str(reply, "status"), bytes ? bytes : "", secs);
    fflush(stderr);
    progress_drawn = true;
}

static void progress_clear(void)
{
    if (progress_drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        progress_drawn = false;
    }
}

/*
 * Cancel and wait (up to 10 s) until the migration is over, so the next
 * row can set its capabilities on the same VM.
 */
static void cancel_migration(VM *vm)
{
    vm_client_cmd(vm->qmp, NULL, "{'execute': 'migrate_cancel'}");
    for (int i = 0; i < 1000; i++) {
        g_autoptr(JsonNode) q =
            qmp_client_cmd(vm->qmp, "query-migrate", NULL, NULL);
        const char *st = q ? qmp_get_str(q, "status") : NULL;
        if (!st || !strcmp(st, "cancelled") || !strcmp(st, "failed") ||
            !strcmp(st, "completed")) {
            return;
        }
        g_usleep(10000);
    }
}

/* Between query-migrate replies: cancel after MIGRATE_TIMEOUT_MS. */
static bool wait_migration_poll(void *opaque, JsonNode *reply, GError **errp)
{
    MigWait *w = opaque;

    progress_draw(w->t0, reply);
    if ((now_ns() - w->t0) / 1000000 > MIGRATE_TIMEOUT_MS) {
        cancel_migration(w->vm);
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
    progress_clear();
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
/*
 * A timed load: the page cache dropped, migrate-incoming of @uri on @dst,
 * wall time and the VMM's CPU until a final state.
 */
static bool timed_incoming(VM *dst, const char *uri, MigResult *load,
                           GError **errp)
{
    JsonObject *args = json_object_new();
    double cpu0;
    int64_t t0;

    json_object_set_string_member(args, "uri", uri);
    drop_caches_all();
    cpu0 = proc_cpu_s(dst->pid);
    t0 = now_ns();
    if (!vm_cmd(dst, "migrate-incoming", args, errp) ||
        !wait_migration(dst, t0, load, errp)) {
        return false;
    }
    load->cpu_s = proc_cpu_s(dst->pid) - cpu0;
    return true;
}

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
static bool run_lazy(Row *r, int rep, const char *uri, const char *digest,
                     GError **errp)
{
    static const char *const caps[] = { "events", "lazy-restore", NULL };
    MigResult load = { 0 };
    double sync_ms;
    bool ok = false;

    progress_label = r->label;
    drop_cache(save_path, &sync_ms);
    drop_caches_all();
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
    sample_set(r->lazy_resume_ms, rep, resume_ms);
    sample_set(r->lazy_total_ms, rep, load.wall_ms);
    sample_set(r->lazy_cpu, rep, load.cpu_s);
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
                "with data (%s)...\n",
                opt.mem / MiB, opt.dirty,
                content_path[0] ? content_path : "stress workload");
    }
    source = vm_start("src", false, errp);
    if (!source) {
        return NULL;
    }
    if (!content_path[0] && !vm_fill(source, errp)) {
        vm_kill(source);
        source = NULL;
        return NULL;
    }
    if (!opt.live && !opt.no_verify) {
        source->digest = vm_digest(source, errp);
        if (!source->digest || !content_check(source->digest, errp)) {
            vm_kill(source);
            source = NULL;
            return NULL;
        }
    }
    return source;
}

static double mbps(double ms);
static void csv_row(Row *r, int rep, const char *error);

/* Record one repetition's save and restore. */
/* One line per measured step on stderr (not with the CSV summary). */
static void row_report(const Row *r, const MigResult *save, double sync_ms,
                       const MigResult *load)
{
    if (!opt.csv) {
        fprintf(stderr,
                "  [%s] save %.0f ms (+%.0f ms fsync, %.2f CPU s), "
                "restore %.0f ms (%.2f CPU s), file %.0f MiB allocated\n",
                r->label, save->wall_ms, sync_ms, save->cpu_s, load->wall_ms,
                load->cpu_s, r->file_alloc / (double)MiB);
    }
}

static void row_record(Row *r, int rep, const MigResult *save, double sync_ms,
                       const MigResult *load)
{
    sample_set(r->save_wall_ms, rep, save->wall_ms);
    sample_set(r->save_total_ms, rep, save->total_ms);
    sample_set(r->save_sync_ms, rep, sync_ms);
    sample_set(r->save_cpu, rep, save->cpu_s);
    sample_set(r->save_pps, rep, save->pps);
    sample_set(r->save_mbps, rep, mbps(save->wall_ms + sync_ms));
    sample_set(r->restore_wall_ms, rep, load->wall_ms);
    sample_set(r->restore_total_ms, rep, load->total_ms);
    sample_set(r->restore_cpu, rep, load->cpu_s);
    sample_set(r->restore_mbps, rep, mbps(load->wall_ms));
}

/* The save file's size and allocation. */
static void row_file_stats(Row *r, uint64_t transferred)
{
    struct stat stbuf;

    if (stat(save_path, &stbuf) == 0) {
        r->file_size = stbuf.st_size;
        r->file_alloc = (uint64_t)stbuf.st_blocks * 512;
    }
    r->transferred = transferred;
}

static bool run_once(Row *r, int rep, GError **errp)
{
    g_autofree char *uri = g_strdup_printf("file:%s", save_path);
    MigResult save = { 0 }, load = { 0 };
    double sync_ms = 0;
    progress_label = r->label;
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
    drop_caches_all();
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
    row_file_stats(r, save.transferred);
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
    if (!timed_incoming(dst, uri, &load, errp)) {
        g_prefix_error(errp, "restore: ");
        goto out;
    }

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

    row_record(r, rep, &save, sync_ms, &load);
    vm_kill(dst);
    dst = NULL;
    if (opt.lazy && r->mapped && !run_lazy(r, rep, uri, src->digest, errp)) {
        g_prefix_error(errp, "lazy restore: ");
        goto out;
    }
    row_report(r, &save, sync_ms, &load);
    ok = true;
out:
    if (dst) {
        vm_kill(dst);
    }
    unlink(save_path);
    return ok;
}

/* ------------------------------------------------------------------ */
/* QEMU 7.2's classic save and load (--qemu) */

static char *qemu_version; /* "7.2.22 (Debian ...)" */
static char *qemu_accel;   /* what QEMU's -accel kvm -accel tcg picked */

/* Whether @bin runs; its --version line in qemu_version. */
static bool qemu_probe(const char *bin, GError **errp)
{
    const char *argv[] = { bin, "--version", NULL };
    g_autofree char *out = NULL;
    int status;

    if (!g_spawn_sync(NULL, (char **)argv, NULL,
                      G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
                      NULL, &out, NULL, &status, errp)) {
        return false;
    }
    if (!g_spawn_check_wait_status(status, errp)) {
        g_prefix_error(errp, "%s --version: ", bin);
        return false;
    }
    const char *v = strstr(out, "version ");
    qemu_version = g_strndup(v ? v + 8 : out, strcspn(v ? v + 8 : out, "\n"));
    return true;
}

/*
 * QEMU -M none (RAM, no vCPU: it migrates all the same), KVM if it can,
 * else TCG.  A source maps the guest content, a destination gets fresh
 * anonymous RAM, as mapmig's.
 */
static VM *qemu_start(const char *name, bool incoming, GError **errp)
{
    VM *vm = vm_new(name);
    g_autofree char *qmp =
        g_strdup_printf("unix:%s,server=on,wait=off", vm->sock);
    g_autofree char *obj = content_object(incoming);
    char *argv[] = {
        opt.qemu_bin,
        "-nodefaults",
        "-display",
        "none",
        "-S",
        "-qmp",
        qmp,
        "-M",
        "none",
        "-accel",
        "kvm",
        "-accel",
        "tcg",
        "-object",
        obj,
        "-machine",
        "memory-backend=mem0",
        incoming ? "-incoming" : NULL,
        "defer",
        NULL,
    };

    if (!vm_launch(vm, argv, errp)) {
        g_prefix_error(errp, "QEMU: ");
        return NULL;
    }
    if (!vm_client_cmd(vm->qmp, errp,
                       "{'execute': 'migrate-set-parameters', 'arguments': "
                       "{'max-bandwidth': %llu}}",
                       QEMU_MAX_BANDWIDTH)) {
        vm_kill(vm);
        return NULL;
    }
    if (!qemu_accel) {
        g_autoptr(JsonNode) k =
            qmp_client_cmd(vm->qmp, "query-kvm", NULL, NULL);
        qemu_accel =
            g_strdup(k && json_object_get_boolean_member_with_default(
                              json_node_get_object(k), "enabled", false)
                         ? "kvm"
                         : "tcg");
    }
    return vm;
}

static VM *qemu_source;

/* The QEMU source, started once, paused and ready for another save. */
static VM *qemu_source_get(GError **errp)
{
    if (qemu_source) {
        GError *e = NULL;
        g_autofree char *st = vm_client_status(qemu_source->qmp, NULL, &e);
        if (st && strcmp(st, "postmigrate")) {
            return qemu_source;
        }
        /* QEMU refuses to save from postmigrate; cont + stop re-arms it. */
        if (st && vm_client_cmd(qemu_source->qmp, &e, "{'execute': 'cont'}") &&
            vm_client_cmd(qemu_source->qmp, &e, "{'execute': 'stop'}")) {
            return qemu_source;
        }
        fprintf(stderr, "  QEMU source unusable (%s); starting a new one\n",
                e ? e->message : "?");
        g_clear_error(&e);
        vm_kill(qemu_source);
    }
    qemu_source = qemu_start("qemu-src", false, errp);
    return qemu_source;
}

/* Hash QEMU's pmemsave of guest RAM as it streams through a FIFO. */
static gpointer qemu_pmem_hash(gpointer path)
{
    g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
    g_autofree uint8_t *buf = g_malloc(MiB);
    uint64_t total = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        return NULL;
    }
    while ((n = read(fd, buf, MiB)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            g_checksum_update(sum, buf, n);
            total += n;
        }
    }
    close(fd);
    return n == 0 && total == opt.mem ? g_strdup(g_checksum_get_string(sum))
                                      : NULL;
}

/* The sha256 of QEMU's guest RAM, without a copy of it on disk. */
static char *qemu_ram_sha256(VM *vm, GError **errp)
{
    g_autofree char *fifo = g_build_filename(tmpdir, "pmem.fifo", NULL);
    JsonObject *args = json_object_new();
    GThread *t;
    bool ok;

    unlink(fifo);
    if (mkfifo(fifo, 0600) < 0) {
        error_setg(errp, "mkfifo %s: %s", fifo, strerror(errno));
        json_object_unref(args);
        return NULL;
    }
    t = g_thread_new("pmem-hash", qemu_pmem_hash, fifo);
    json_object_set_int_member(args, "val", 0);
    json_object_set_int_member(args, "size", opt.mem);
    json_object_set_string_member(args, "filename", fifo);
    ok = vm_cmd(vm, "pmemsave", args, errp);
    if (!ok) {
        /* Let the reader's open() return, then see EOF. */
        for (int i = 0; i < 1000; i++) {
            int fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                break;
            }
            g_usleep(1000);
        }
    }
    char *sha = g_thread_join(t);
    unlink(fifo);
    if (ok && !sha) {
        error_setg(errp, "pmemsave: short read of guest RAM");
    }
    if (!ok) {
        g_clear_pointer(&sha, g_free);
    }
    return sha;
}

/* Wait up to a minute for @path: the writer (cat) finished. */
static bool wait_for_file(const char *path, GError **errp)
{
    for (int i = 0; i < 60000; i++) {
        if (access(path, F_OK) == 0) {
            return true;
        }
        g_usleep(1000);
    }
    error_setg(errp, "%s did not appear: the exec: writer did not finish",
               path);
    return false;
}

/*
 * QEMU's classic save to exec:cat (then fsync, as mapmig's file: save is
 * durable at completed) and load from exec:cat of the same file.
 */
static bool run_qemu_once(Row *r, int rep, GError **errp)
{
    g_autofree char *done = g_build_filename(tmpdir, "qemu.done", NULL);
    progress_label = r->label;
    g_autofree char *qsave = g_shell_quote(save_path);
    g_autofree char *qdone = g_shell_quote(done);
    g_autofree char *out_uri =
        g_strdup_printf("exec:cat > %s && : > %s", qsave, qdone);
    g_autofree char *in_uri = g_strdup_printf("exec:cat %s", qsave);
    MigResult save = { 0 }, load = { 0 };
    double sync_ms = 0;
    VM *src = qemu_source_get(errp);
    VM *dst = NULL;
    bool ok = false;

    if (!src) {
        return false;
    }
    unlink(save_path);
    unlink(done);

    /* Save: until cat has written everything, then fsync. */
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "uri", out_uri);
    drop_caches_all();
    double cpu0 = proc_cpu_s(src->pid);
    int64_t t0 = now_ns();
    if (!vm_cmd(src, "migrate", args, errp) ||
        !wait_migration(src, t0, &save, errp) || !wait_for_file(done, errp)) {
        g_prefix_error(errp, "QEMU save: ");
        goto out;
    }
    save.wall_ms = (now_ns() - t0) / 1e6;
    save.cpu_s = proc_cpu_s(src->pid) - cpu0;
    drop_cache(save_path, &sync_ms);
    row_file_stats(r, save.transferred);

    /* Load */
    dst = qemu_start("qemu-dst", true, errp);
    if (!dst) {
        goto out;
    }
    if (!timed_incoming(dst, in_uri, &load, errp)) {
        g_prefix_error(errp, "QEMU load: ");
        goto out;
    }

    if (!opt.no_verify && content_sha) {
        g_autofree char *sha = qemu_ram_sha256(dst, errp);
        if (!sha) {
            goto out;
        }
        if (strcmp(sha, content_sha)) {
            error_setg(errp, "QEMU's RAM after the load is not the guest "
                             "content");
            goto out;
        }
    }
    row_record(r, rep, &save, sync_ms, &load);
    row_report(r, &save, sync_ms, &load);
    ok = true;
out:
    vm_kill(dst);
    unlink(save_path);
    unlink(done);
    return ok;
}

/* ------------------------------------------------------------------ */
/* The floor: first touch of fresh anonymous memory */

static void csv_floor(FloorRow *f, int rep, const char *error);

/*
 * Fault in guest-RAM-sized fresh anonymous memory, one write per 4 KiB,
 * with 4 KiB pages or with THP: what any restore pays for its memory
 * before it copies a byte.  The CPU time is this thread's.
 */
static bool run_floor(FloorRow *f, int rep, GError **errp)
{
    const size_t align = 2 * MiB;
    size_t len = opt.mem + align;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (base == MAP_FAILED) {
        error_setg(errp, "mmap %zu bytes: %s", len, strerror(errno));
        return false;
    }
    volatile char *p = (char *)ROUND_UP((uintptr_t)base, align);
    if (madvise((void *)p, opt.mem, f->thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
        error_setg(errp, "madvise: %s", strerror(errno));
        munmap(base, len);
        return false;
    }
    drop_caches_all();
    double cpu0 = thread_cpu_s();
    int64_t t0 = now_ns();
    for (uint64_t off = 0; off < opt.mem; off += 4096) {
        p[off] = 1;
    }
    double ms = (now_ns() - t0) / 1e6;
    double cpu = thread_cpu_s() - cpu0;
    munmap(base, len);
    sample_set(f->ms, rep, ms);
    sample_set(f->cpu, rep, cpu);
    if (!opt.csv) {
        fprintf(stderr, "  [%s] %.0f ms, %.2f CPU s\n", f->label, ms, cpu);
    }
    return true;
}

static void floor_step(FloorRow *f, int rep)
{
    GError *err = NULL;

    if (!run_floor(f, rep, &err)) {
        fprintf(stderr, "  [%s] FAILED: %s\n", f->label, err->message);
        if (!f->error) {
            f->error = g_strdup(err->message);
        }
    }
    csv_floor(f, rep, err ? err->message : NULL);
    g_clear_error(&err);
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

/* The bracketed choice of a sysfs setting such as THP's "enabled". */
static char *sysfs_choice(const char *path)
{
    g_autofree char *s = NULL;
    char *l, *r;

    if (!g_file_get_contents(path, &s, NULL, NULL)) {
        return g_strdup("unknown");
    }
    l = strchr(s, '[');
    r = l ? strchr(l, ']') : NULL;
    return r ? g_strndup(l + 1, r - l - 1) : g_strdup(g_strstrip(s));
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
    g_autofree char *thp =
        sysfs_choice("/sys/kernel/mm/transparent_hugepage/enabled");
    g_autofree char *thp_defrag =
        sysfs_choice("/sys/kernel/mm/transparent_hugepage/defrag");
    fprintf(out, "%sTHP: enabled %s, defrag %s; page cache: %s\n", pfx, thp,
            thp_defrag,
            opt.no_drop_caches ? "not dropped (--no-drop-caches)"
            : caches_refused   ? "not droppable, only the benchmark's "
                                 "files are dropped"
                               : "dropped before every step");
    fprintf(out, "%sdirectory: %s: %s, %.1f GiB free\n", pfx, opt.dir, fs,
            free_space(opt.dir) / (double)GiB);
    if (content_path[0]) {
        fprintf(out,
                "%sguest: %" PRIu64 " MiB RAM, -M none, %d%% of pages "
                "random, the rest zero, in %s (share=on%s); destinations: "
                "fresh anonymous RAM\n",
                pfx, opt.mem / MiB, opt.dirty, content_path,
                opt.populate ? ", prealloc=on" : ", not populated");
    } else if (!opt.checkpoints) {
        fprintf(out,
                "%sguest: %" PRIu64 " MiB RAM, %d%% of pages with data, "
                "%d vCPU (%s), %s save\n",
                pfx, opt.mem / MiB, opt.dirty, opt.smp,
                opt.accel ? opt.accel : "soft", opt.live ? "live" : "paused");
    }
    if (opt.qemu) {
        fprintf(out, "%sQEMU: %s %s, accel %s\n", pfx, opt.qemu_bin,
                qemu_version ? qemu_version : "?",
                qemu_accel ? qemu_accel : "kvm, else tcg");
    }
    if (!opt.checkpoints) {
        fprintf(out, "%s%d repetition(s), interleaved; median (min-max)\n", pfx,
                opt.repeat);
    }
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
                   sample_count(r->lazy_total_ms));
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

/* "median (min-max)" of @a times @k, or the median alone for one sample. */
static void fmt_stat(char *buf, size_t len, GArray *a, double k, int prec)
{
    double lo, hi, med = stats(a, &lo, &hi);

    if (isnan(med) || sample_count(a) < 2) {
        fmt_num(buf, len, med * k, prec);
    } else {
        snprintf(buf, len, "%.*f (%.*f-%.*f)", prec, med * k, prec, lo * k,
                 prec, hi * k);
    }
}

/* One line of the table: samples per repetition, medians of times. */
typedef struct TableLine {
    const char *label, *suffix;
    GArray *save_mbps, *save_cpu, *restore_mbps, *restore_cpu; /* borrowed */
    double save_ms, sync_ms, restore_ms;
    const char *sync_text; /* instead of sync_ms */
    double vs[4];          /* save/fio, restore/fio, save/QEMU, restore/QEMU */
} TableLine;

static const char *const table_hdr[] = {
    "configuration",  "save MB/s",    "save ms",    "fsync ms",
    "save CPU s/GiB", "restore MB/s", "restore ms", "restore CPU s/GiB",
    "save/fio",       "restore/fio",  "save/QEMU",  "restore/QEMU",
};
enum { NCOL = ARRAY_SIZE(table_hdr) };

static int table_ncol(void)
{
    return opt.qemu ? NCOL : NCOL - 2;
}

static void table_add(GPtrArray *cells, const TableLine *l)
{
    double gib = opt.mem / (double)GiB;
    char v[NCOL][96];

    snprintf(v[0], sizeof(v[0]), "%s%s", l->label, l->suffix ? l->suffix : "");
    fmt_stat(v[1], sizeof(v[1]), l->save_mbps, 1, 0);
    fmt_num(v[2], sizeof(v[2]), l->save_ms, 0);
    if (l->sync_text) {
        snprintf(v[3], sizeof(v[3]), "%s", l->sync_text);
    } else {
        fmt_num(v[3], sizeof(v[3]), l->sync_ms, 0);
    }
    fmt_stat(v[4], sizeof(v[4]), l->save_cpu, 1 / gib, 2);
    fmt_stat(v[5], sizeof(v[5]), l->restore_mbps, 1, 0);
    fmt_num(v[6], sizeof(v[6]), l->restore_ms, 0);
    fmt_stat(v[7], sizeof(v[7]), l->restore_cpu, 1 / gib, 2);
    for (int i = 0; i < 4; i++) {
        fmt_num(v[8 + i], sizeof(v[8 + i]), l->vs[i], 2);
    }
    for (int c = 0; c < table_ncol(); c++) {
        g_ptr_array_add(cells, g_strdup(v[c]));
    }
}

/* @a's samples times @k, in a new array. */
static GArray *scaled(GArray *a, double k)
{
    GArray *b = darray();

    for (int i = 0; i < opt.repeat; i++) {
        sample_set(b, i, sample_get(a, i) * k);
    }
    return b;
}

static double fio_mbps(FioRow *f, bool write)
{
    return f ? median(write ? f->write_bw : f->read_bw) / 1e6 : NAN;
}

/* A mapmig or QEMU row. */
static void table_add_row(GPtrArray *cells, Row *r)
{
    double smb = median(r->save_mbps), rmb = median(r->restore_mbps);
    double qs = qemu_row ? median(qemu_row->save_mbps) : NAN;
    double qr = qemu_row ? median(qemu_row->restore_mbps) : NAN;
    TableLine l = {
        .label = r->label,
        .suffix = sample_count(r->save_wall_ms)
                      ? (r->failures ? " (some runs FAILED)" : "")
                      : " FAILED",
        .save_mbps = r->save_mbps,
        .save_cpu = r->save_cpu,
        .restore_mbps = r->restore_mbps,
        .restore_cpu = r->restore_cpu,
        .save_ms = median(r->save_wall_ms),
        .sync_ms = median(r->save_sync_ms),
        .restore_ms = median(r->restore_wall_ms),
        .vs = { smb / fio_mbps(r->fio, true), rmb / fio_mbps(r->fio, false),
                smb / qs, rmb / qr },
    };
    table_add(cells, &l);
}

static void table_add_fio(GPtrArray *cells, FioRow *f)
{
    double fw = median(f->write_bw), fr = median(f->read_bw);
    g_autoptr(GArray) w = scaled(f->write_bw, 1e-6);
    g_autoptr(GArray) rd = scaled(f->read_bw, 1e-6);
    bool ok = sample_count(f->write_bw);
    TableLine l = {
        .label = f->label,
        .suffix = ok ? "" : " FAILED",
        .save_mbps = w,
        .save_cpu = f->write_cpu,
        .restore_mbps = rd,
        .restore_cpu = f->read_cpu,
        .save_ms = fw > 0 ? opt.mem / fw * 1e3 : NAN,
        .sync_text = f->key.direct ? "-" : "incl.",
        .restore_ms = fr > 0 ? opt.mem / fr * 1e3 : NAN,
        .vs = { ok ? 1 : NAN, ok ? 1 : NAN, NAN, NAN },
    };
    table_add(cells, &l);
}

static void table_add_floor(GPtrArray *cells, FloorRow *f)
{
    g_autoptr(GArray) rate = darray();
    g_autoptr(GArray) none = darray();

    for (int i = 0; i < opt.repeat; i++) {
        sample_set(rate, i, mbps(sample_get(f->ms, i)));
    }
    TableLine l = {
        .label = f->label,
        .suffix = sample_count(f->ms) ? "" : " FAILED",
        .save_mbps = none,
        .save_cpu = none,
        .restore_mbps = rate,
        .restore_cpu = f->cpu,
        .save_ms = NAN,
        .sync_text = "-",
        .restore_ms = median(f->ms),
        .vs = { NAN, NAN, NAN, NAN },
    };
    table_add(cells, &l);
}

/* The old --csv summary (medians), on stdout instead of the table. */
static void print_csv_summary(void)
{
    double gib = opt.mem / (double)GiB;

    print_machine(stdout, "# ");
    printf("configuration,save_MBps,save_ms,save_total_time_ms,fsync_ms,"
           "save_cpu_s_per_GiB,save_pages_per_s,restore_MBps,restore_ms,"
           "restore_total_time_ms,restore_cpu_s_per_GiB,save_vs_fio,"
           "restore_vs_fio,file_size,file_allocated,transferred,runs,"
           "error,save_vs_qemu,restore_vs_qemu\n");
    for (guint i = 0; i < rows->len; i++) {
        Row *r = rows->pdata[i];
        double smb = median(r->save_mbps), rmb = median(r->restore_mbps);
        double v[] = {
            smb,
            median(r->save_wall_ms),
            median(r->save_total_ms),
            median(r->save_sync_ms),
            median(r->save_cpu) / gib,
            median(r->save_pps),
            rmb,
            median(r->restore_wall_ms),
            median(r->restore_total_ms),
            median(r->restore_cpu) / gib,
            smb / fio_mbps(r->fio, true),
            rmb / fio_mbps(r->fio, false),
        };
        static const int prec[] = { 0, 0, 0, 0, 2, 0, 0, 0, 0, 2, 2, 2 };
        char c[ARRAY_SIZE(v)][32], q[2][32];
        for (size_t k = 0; k < ARRAY_SIZE(v); k++) {
            fmt_num(c[k], sizeof(c[k]), v[k], prec[k]);
        }
        fmt_num(q[0], sizeof(q[0]),
                qemu_row ? smb / median(qemu_row->save_mbps) : NAN, 2);
        fmt_num(q[1], sizeof(q[1]),
                qemu_row ? rmb / median(qemu_row->restore_mbps) : NAN, 2);
        printf("\"%s\",%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%" PRIu64 ",%" PRIu64
               ",%" PRIu64 ",%u,\"%s\",%s,%s\n",
               r->label, c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
               c[9], c[10], c[11], r->file_size, r->file_alloc, r->transferred,
               sample_count(r->save_wall_ms), r->error ? r->error : "", q[0],
               q[1]);
    }
    for (guint i = 0; i < fio_rows->len; i++) {
        FioRow *f = fio_rows->pdata[i];
        double fw = median(f->write_bw), fr = median(f->read_bw);
        char c[4][32];
        fmt_num(c[0], sizeof(c[0]), fw / 1e6, 0);
        fmt_num(c[1], sizeof(c[1]), fw > 0 ? opt.mem / fw * 1e3 : NAN, 0);
        fmt_num(c[2], sizeof(c[2]), fr / 1e6, 0);
        fmt_num(c[3], sizeof(c[3]), fr > 0 ? opt.mem / fr * 1e3 : NAN, 0);
        printf("\"%s\",%s,%s,,,,,%s,%s,,,1.00,1.00,,,,%u,\"%s\",,\n", f->label,
               c[0], c[1], c[2], c[3], sample_count(f->write_bw),
               f->error ? f->error : "");
    }
    for (guint i = 0; i < floor_rows->len; i++) {
        FloorRow *f = floor_rows->pdata[i];
        double ms = median(f->ms);
        printf("\"%s\",,,,,,,%.0f,%.0f,,%.2f,,,,,,%u,\"%s\",,\n", f->label,
               mbps(ms), ms, median(f->cpu) / gib, sample_count(f->ms),
               f->error ? f->error : "");
    }
}

static void print_table(void)
{
    GPtrArray *cells = g_ptr_array_new_with_free_func(g_free);
    int ncol = table_ncol();
    guint nrows, nmig, nfio;

    if (opt.csv) {
        print_csv_summary();
        return;
    }
    for (guint i = 0; i < rows->len; i++) {
        table_add_row(cells, rows->pdata[i]);
    }
    nmig = cells->len / ncol;
    for (guint i = 0; i < fio_rows->len; i++) {
        table_add_fio(cells, fio_rows->pdata[i]);
    }
    nfio = cells->len / ncol;
    for (guint i = 0; i < floor_rows->len; i++) {
        table_add_floor(cells, floor_rows->pdata[i]);
    }
    nrows = cells->len / ncol;

    size_t w[NCOL];
    for (int c = 0; c < ncol; c++) {
        w[c] = strlen(table_hdr[c]);
        for (guint i = 0; i < nrows; i++) {
            w[c] = MAX(w[c], strlen(cells->pdata[i * ncol + c]));
        }
    }
    printf("\n");
    print_machine(stdout, "");
    printf("\n");
    for (int c = 0; c < ncol; c++) {
        printf(c ? " | %*s" : "%-*s", (int)w[c], table_hdr[c]);
    }
    printf("\n");
    for (int c = 0; c < ncol; c++) {
        for (size_t k = 0; k < w[c] + (c ? 3 : 0); k++) {
            putchar(c && k == 1 ? '|' : '-');
        }
    }
    printf("\n");
    for (guint i = 0; i < nrows; i++) {
        if (i && (i == nmig || i == nfio)) {
            printf("\n");
        }
        for (int c = 0; c < ncol; c++) {
            printf(c ? " | %*s" : "%-*s", (int)w[c],
                   (char *)cells->pdata[i * ncol + c]);
        }
        printf("\n");
    }
    g_ptr_array_free(cells, true);

    printf("\nMB/s = guest RAM (%" PRIu64 " bytes) / seconds, 1 MB = 10^6 "
           "bytes; save MB/s counts save + fsync (durable, as fio's "
           "end_fsync=1),\nsave ms is migrate -> completed (QEMU: until "
           "its exec:cat exited). CPU s/GiB: utime+stime of the source "
           "(save) or destination\n(restore) process per GiB of guest "
           "RAM%s; fio's own for fio rows; the floor's faulting thread.\n"
           "With several repetitions: median (min-max). fio: bs=1M, same "
           "total size, numjobs = channels, ratio = row / fio with the "
           "same\nmode and engine; /QEMU: row / QEMU's classic exec:cat "
           "save or load, medians of the same sitting.\n",
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
    for (guint i = 0; i < floor_rows->len; i++) {
        FloorRow *f = floor_rows->pdata[i];
        if (f->error) {
            printf("  %s: error: %s\n", f->label, f->error);
        }
    }
    if (!have_fio) {
        printf("  fio not found (or --no-fio): ratios omitted\n");
    }
}

/* ------------------------------------------------------------------ */
/* --csv FILE: one line per row and repetition, as it is measured */

static void csv_open(GError **errp)
{
    csv_out = fopen(opt.csv_path, "w");
    if (!csv_out) {
        error_setg(errp, "%s: %s", opt.csv_path, strerror(errno));
        return;
    }
    print_machine(csv_out, "# ");
    fprintf(csv_out, "repetition,kind,configuration,save_MBps,save_ms,"
                     "fsync_ms,save_cpu_s,save_cpu_s_per_GiB,restore_MBps,"
                     "restore_ms,restore_cpu_s,restore_cpu_s_per_GiB,"
                     "save_vs_fio,restore_vs_fio,save_vs_qemu,restore_vs_qemu,"
                     "guest_bytes,error\n");
    fflush(csv_out);
}

enum {
    CSV_SAVE_MBPS,
    CSV_SAVE_MS,
    CSV_SYNC_MS,
    CSV_SAVE_CPU,
    CSV_RESTORE_MBPS,
    CSV_RESTORE_MS,
    CSV_RESTORE_CPU,
    CSV_SAVE_VS_FIO,
    CSV_RESTORE_VS_FIO,
    CSV_SAVE_VS_QEMU,
    CSV_RESTORE_VS_QEMU,
    CSV_NVAL,
};

/* Repetitions count from 1; a value that is NAN is left empty. */
static void csv_line(int rep, const char *kind, const char *label,
                     const double *v, const char *error)
{
    double gib = opt.mem / (double)GiB;
    const double cols[] = {
        v[CSV_SAVE_MBPS],       v[CSV_SAVE_MS],        v[CSV_SYNC_MS],
        v[CSV_SAVE_CPU],        v[CSV_SAVE_CPU] / gib, v[CSV_RESTORE_MBPS],
        v[CSV_RESTORE_MS],      v[CSV_RESTORE_CPU],    v[CSV_RESTORE_CPU] / gib,
        v[CSV_SAVE_VS_FIO],     v[CSV_RESTORE_VS_FIO], v[CSV_SAVE_VS_QEMU],
        v[CSV_RESTORE_VS_QEMU],
    };
    g_autofree char *err = g_strdup(error ? error : "");

    if (!csv_out) {
        return;
    }
    g_strdelimit(err, "\"\n", '\'');
    fprintf(csv_out, "%d,%s,\"%s\"", rep + 1, kind, label);
    for (size_t i = 0; i < ARRAY_SIZE(cols); i++) {
        if (isnan(cols[i])) {
            fputc(',', csv_out);
        } else {
            fprintf(csv_out, ",%.4g", cols[i]);
        }
    }
    fprintf(csv_out, ",%" PRIu64 ",\"%s\"\n", opt.mem, err);
    fflush(csv_out);
}

static void csv_row(Row *r, int rep, const char *error)
{
    double smb = sample_get(r->save_mbps, rep);
    double rmb = sample_get(r->restore_mbps, rep);
    double fw = r->fio ? sample_get(r->fio->write_bw, rep) / 1e6 : NAN;
    double fr = r->fio ? sample_get(r->fio->read_bw, rep) / 1e6 : NAN;
    double qs = qemu_row ? sample_get(qemu_row->save_mbps, rep) : NAN;
    double qr = qemu_row ? sample_get(qemu_row->restore_mbps, rep) : NAN;
    double v[CSV_NVAL] = {
        [CSV_SAVE_MBPS] = smb,
        [CSV_SAVE_MS] = sample_get(r->save_wall_ms, rep),
        [CSV_SYNC_MS] = sample_get(r->save_sync_ms, rep),
        [CSV_SAVE_CPU] = sample_get(r->save_cpu, rep),
        [CSV_RESTORE_MBPS] = rmb,
        [CSV_RESTORE_MS] = sample_get(r->restore_wall_ms, rep),
        [CSV_RESTORE_CPU] = sample_get(r->restore_cpu, rep),
        [CSV_SAVE_VS_FIO] = smb / fw,
        [CSV_RESTORE_VS_FIO] = rmb / fr,
        [CSV_SAVE_VS_QEMU] = smb / qs,
        [CSV_RESTORE_VS_QEMU] = rmb / qr,
    };

    csv_line(rep, r->qemu ? "qemu" : "mapmig", r->label, v, error);
}

static void csv_fio(FioRow *f, int rep, const char *error)
{
    double w = sample_get(f->write_bw, rep), rd = sample_get(f->read_bw, rep);
    double v[CSV_NVAL] = {
        [CSV_SAVE_MBPS] = w / 1e6,
        [CSV_SAVE_MS] = opt.mem / w * 1e3,
        [CSV_SYNC_MS] = NAN,
        [CSV_SAVE_CPU] = sample_get(f->write_cpu, rep),
        [CSV_RESTORE_MBPS] = rd / 1e6,
        [CSV_RESTORE_MS] = opt.mem / rd * 1e3,
        [CSV_RESTORE_CPU] = sample_get(f->read_cpu, rep),
        [CSV_SAVE_VS_FIO] = isnan(w) ? NAN : 1,
        [CSV_RESTORE_VS_FIO] = isnan(rd) ? NAN : 1,
        [CSV_SAVE_VS_QEMU] = NAN,
        [CSV_RESTORE_VS_QEMU] = NAN,
    };

    csv_line(rep, "fio", f->label, v, error);
}

static void csv_floor(FloorRow *f, int rep, const char *error)
{
    double ms = sample_get(f->ms, rep);
    double v[CSV_NVAL] = {
        [CSV_SAVE_MBPS] = NAN,
        [CSV_SAVE_MS] = NAN,
        [CSV_SYNC_MS] = NAN,
        [CSV_SAVE_CPU] = NAN,
        [CSV_RESTORE_MBPS] = mbps(ms),
        [CSV_RESTORE_MS] = ms,
        [CSV_RESTORE_CPU] = sample_get(f->cpu, rep),
        [CSV_SAVE_VS_FIO] = NAN,
        [CSV_RESTORE_VS_FIO] = NAN,
        [CSV_SAVE_VS_QEMU] = NAN,
        [CSV_RESTORE_VS_QEMU] = NAN,
    };

    csv_line(rep, "floor", f->label, v, error);
}

/* ------------------------------------------------------------------ */
/* The sitting */

/* MemAvailable of /proc/meminfo in bytes; 0 if unknown. */
static uint64_t mem_available(void)
{
    g_autofree char *mi = NULL;
    unsigned long long kb = 0;
    char *p;

    if (g_file_get_contents("/proc/meminfo", &mi, NULL, NULL) &&
        (p = strstr(mi, "MemAvailable:"))) {
        sscanf(p, "MemAvailable: %llu", &kb);
    }
    return kb * KiB;
}

/*
 * Before any row: QEMU's version, the shared guest content, the floor
 * rows and the CSV file.
 */
static bool sitting_prepare(GError **errp)
{
    /* source RAM (or the content file) + a destination, at the peak */
    uint64_t avail = mem_available();
    if (avail && avail < 2 * opt.mem + 512 * MiB) {
        fprintf(stderr,
                "warning: %.1f GiB of memory available, the sitting needs "
                "about %.1f GiB (the source's RAM and a destination's)\n",
                avail / (double)GiB, (2 * opt.mem + 512 * MiB) / (double)GiB);
    }

    floor_rows = g_ptr_array_new();
    if (!opt.no_floor) {
        static FloorRow floors[] = {
            { .label = "floor: first touch, 4 KiB pages", .thp = false },
            { .label = "floor: first touch, THP (MADV_HUGEPAGE)", .thp = true },
        };
        for (size_t i = 0; i < ARRAY_SIZE(floors); i++) {
            floors[i].ms = darray();
            floors[i].cpu = darray();
            g_ptr_array_add(floor_rows, &floors[i]);
        }
    }
    drop_caches_all(); /* learn now whether it is allowed */
    if (opt.qemu && !qemu_probe(opt.qemu_bin, errp)) {
        g_prefix_error(errp, "--qemu: %s (apt-get install qemu-system-x86): ",
                       opt.qemu_bin);
        return false;
    }
    if (opt.qemu || opt.populate) {
        if (!opt.csv) {
            fprintf(stderr,
                    "writing the guest content (%" PRIu64
                    " MiB, %d%% random pages)...\n",
                    opt.mem / MiB, opt.dirty);
        }
        if (!content_make(errp)) {
            return false;
        }
        if (opt.qemu && !opt.populate) {
            fprintf(stderr, "note: --qemu without --populate: the sources' "
                            "RAM is mapped, not populated\n");
        }
    }
    /* Start QEMU's source now: the header then says which accel it got. */
    if (opt.qemu && !qemu_source_get(errp)) {
        return false;
    }
    if (opt.csv_path) {
        csv_open(errp);
        return csv_out != NULL;
    }
    return true;
}

/*
 * Every repetition runs every row once, in the same order (A B C A B C
 * ...): the floor, then each row, its fio baseline right before the first
 * row that uses it in this repetition.
 */
static void run_sitting(void)
{
    GError *err = NULL;

    for (int k = 0; k < opt.repeat; k++) {
        if (!opt.csv) {
            fprintf(stderr, "== repetition %d of %d\n", k + 1, opt.repeat);
        }
        for (guint i = 0; i < floor_rows->len; i++) {
            floor_step(floor_rows->pdata[i], k);
        }
        for (guint i = 0; i < rows->len; i++) {
            Row *r = rows->pdata[i];
            if (!opt.csv) {
                fprintf(stderr, "== %s\n", r->label);
            }
            run_fio(r->fio, k, opt.mem);
            r->runs++;
            bool ok =
                r->qemu ? run_qemu_once(r, k, &err) : run_once(r, k, &err);
            csv_row(r, k, ok ? NULL : err ? err->message : "failed");
            if (!ok) {
                row_error(r, "run", err);
                g_clear_error(&err);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* The checkpoint benchmark (--checkpoints N) */

/* One checkpoint, or a full save of the same guest to compare with. */
typedef struct CkptStep {
    char image; /* 'a', 'b', or 'F' for the full save */
    bool incremental;
    uint64_t dirty_pages; /* to write at the start (x-checkpoint) */
    uint64_t written;     /* bytes of pages written */
    double pause_ms, wall_ms;
} CkptStep;

static char *ckpt_image_path(char image)
{
    return image == 'F' ? g_strdup(save_path)
                        : g_strdup_printf("%s.%c", save_path, image);
}

static void ckpt_unlink_images(void)
{
    for (const char *c = "ab"; *c; c++) {
        g_autofree char *p = ckpt_image_path(*c);
        unlink(p);
    }
}

/* What query-migrate says of a completed checkpoint. */
static bool ckpt_result(VM *vm, CkptStep *st, GError **errp)
{
    g_autoptr(JsonNode) n =
        qmp_client_cmd(vm->qmp, "query-migrate", NULL, errp);
    if (!n) {
        return false;
    }
    JsonObject *o = json_node_get_object(n);
    const char *status = qmp_get_str(n, "status");
    if (g_strcmp0(status, "completed")) {
        error_setg(
            errp, "checkpoint %s: %s", status ? status : "?",
            json_object_get_string_member_with_default(o, "error-desc", ""));
        return false;
    }
    JsonObject *ram = json_object_get_object_member(o, "ram");
    JsonObject *x = json_object_get_object_member(o, "x-checkpoint");
    st->written =
        json_object_get_int_member_with_default(ram, "normal-bytes", 0);
    st->pause_ms = qmp_get_int(n, "downtime");
    st->incremental = json_object_get_boolean_member(x, "incremental");
    st->dirty_pages = json_object_get_int_member(x, "dirty-pages");
    return true;
}

static bool ckpt_save(VM *vm, CkptStep *st, GError **errp)
{
    g_autofree char *path = ckpt_image_path(st->image);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    JsonObject *args = json_object_new();
    MigResult res = { 0 };

    json_object_set_string_member(args, "uri", uri);
    int64_t t0 = now_ns();
    if (!vm_cmd(vm, "migrate", args, errp) ||
        !wait_migration(vm, t0, &res, errp) || !ckpt_result(vm, st, errp)) {
        return false;
    }
    st->wall_ms = res.wall_ms;
    if (st->image == 'F') {
        /* A reference only: nothing to track for it. */
        args = json_object_new();
        json_object_set_string_member(args, "path", path);
        return vm_cmd(vm, "x-checkpoint-forget", args, errp);
    }
    return true;
}

/* The guest: RAM filled with data (--dirty% of it later rewritten). */
static VM *ckpt_source(Row *r, GError **errp)
{
    VM *vm = vm_start_full("src", false, false, errp);
    static const char *const caps[] = { "x-checkpoint", NULL };

    if (!vm) {
        return NULL;
    }
    if (!vm_client_cmd(vm->qmp, errp,
                       "{'execute': 'x-fill-ram', 'arguments': "
                       "{'generation': 1, 'zero-stride': 10}}") ||
        !vm_configure(vm, r, errp) || !vm_caps_on(vm, caps, errp)) {
        vm_kill(vm);
        return NULL;
    }
    return vm;
}

/* The last checkpoint, of the stopped guest, restores exactly. */
static bool ckpt_verify(VM *src, Row *r, char image, GError **errp)
{
    CkptStep st = { .image = image };
    g_autofree char *path = ckpt_image_path(image);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    MigResult load = { 0 };
    bool ok = false;

    if (!vm_cmd(src, "stop", NULL, errp) || !ckpt_save(src, &st, errp)) {
        return false;
    }
    g_autofree char *want = vm_digest(src, errp);
    VM *dst = want ? vm_start("dst", true, errp) : NULL;
    if (dst && vm_configure(dst, r, errp) &&
        timed_incoming(dst, uri, &load, errp)) {
        g_autofree char *got = vm_digest(dst, errp);
        ok = got && !strcmp(got, want);
        if (got && !ok) {
            error_setg(errp, "RAM digests differ after restoring %s", path);
        }
    }
    vm_kill(dst);
    return ok;
}

static void ckpt_print_step(int gen, const CkptStep *st, double full_ms)
{
    double dirtied = st->dirty_pages * 4096.0;

    printf("%-10d %-5c %-11s %9.1f %9.1f %8.2f %9.1f %9.0f %7.1f%%\n", gen,
           st->image, st->incremental ? "incremental" : "full", dirtied / MiB,
           st->written / (double)MiB, dirtied ? st->written / dirtied : 0,
           st->pause_ms, st->wall_ms,
           full_ms ? 100 * st->wall_ms / full_ms : 0);
    fflush(stdout);
}

/* Medians of the incremental checkpoints against the issue's targets. */
static void ckpt_summary(GArray *steps, double full_ms)
{
    g_autoptr(GArray) ratio = g_array_new(false, false, sizeof(double));
    g_autoptr(GArray) wall = g_array_new(false, false, sizeof(double));
    g_autoptr(GArray) pause = g_array_new(false, false, sizeof(double));
    guint n = 0;

    for (guint i = 0; i < steps->len; i++) {
        CkptStep *st = &g_array_index(steps, CkptStep, i);
        if (!st->incremental || !st->dirty_pages) {
            continue;
        }
        double v[3] = { st->written / (st->dirty_pages * 4096.0),
                        st->wall_ms / full_ms, st->pause_ms };
        g_array_append_val(ratio, v[0]);
        g_array_append_val(wall, v[1]);
        g_array_append_val(pause, v[2]);
        n++;
    }
    if (!n) {
        return;
    }
    double r = median(ratio), w = median(wall), p = median(pause);
    printf("\nmedian of %u incremental checkpoints (full save %.0f ms):\n"
           "  written / dirtied %.2f (target <= 1.2: %s)\n"
           "  wall / full save  %.1f%% (target <= 10%%: %s)\n"
           "  guest pause       %.1f ms (target < 50 ms: %s)\n",
           n, full_ms, r, r <= 1.2 ? "met" : "missed", 100 * w,
           w <= 0.1 ? "met" : "missed", p, p < 50 ? "met" : "missed");
}

/*
 * A running guest checkpointed every --interval seconds into two files
 * in turn (each rewrite carries what changed since that file's own
 * checkpoint), with a full save of the same guest before and after.
 */
static int run_checkpoints(void)
{
    Row r = { .mapped = true,
              .engine = opt.engine,
              .channels = g_array_index(opt.channels, int, 0) };
    g_autoptr(GArray) steps = g_array_new(false, true, sizeof(CkptStep));
    GError *err = NULL;
    double full_ms = 0;

    r.dio = opt.direct_io;
    r.multifd = r.dio || r.channels > 1;
    print_machine(stderr, "");
    fprintf(stderr,
            "checkpoints: %" PRIu64 " MiB guest (90%% of pages data), "
            "stress on %d%% of it at "
            "%" PRIu64 " pages/s, every %d s, %d channel(s)%s\n",
            opt.mem / MiB, opt.dirty, opt.rate, opt.interval, r.channels,
            r.dio ? ", direct-io" : "");
    ckpt_unlink_images();
    VM *vm = ckpt_source(&r, &err);
    if (!vm) {
        goto fail;
    }
    printf("%-10s %-5s %-11s %9s %9s %8s %9s %9s %8s\n", "checkpoint", "image",
           "kind", "dirty MiB", "wrote MiB", "ratio", "pause ms", "wall ms",
           "wall/full");
    for (int k = 0; k <= opt.checkpoints + 1; k++) {
        bool full = k == 0 || k == opt.checkpoints + 1;
        CkptStep st = { .image = full ? 'F' : "ab"[(k - 1) % 2] };
        if (k) {
            g_usleep(opt.interval * G_USEC_PER_SEC);
        }
        if (!ckpt_save(vm, &st, &err)) {
            goto fail;
        }
        if (full) {
            full_ms = full_ms ? (full_ms + st.wall_ms) / 2 : st.wall_ms;
        } else {
            g_array_append_val(steps, st);
        }
        ckpt_print_step(k, &st, full_ms);
    }
    ckpt_summary(steps, full_ms);
    if (!opt.no_verify &&
        !ckpt_verify(vm, &r, "ab"[opt.checkpoints % 2], &err)) {
        goto fail;
    }
    if (!opt.no_verify) {
        printf("one more checkpoint of the stopped guest restores exactly\n");
    }
    vm_kill(vm);
    return 0;
fail:
    fprintf(stderr, "mapmig-perf: %s\n", err ? err->message : "failed");
    g_clear_error(&err);
    vm_kill(vm);
    return 1;
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
        "  --repeat N          interleaved repetitions of every row: median\n"
        "                      and min-max (default 3)\n"
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
        "  --qemu              add QEMU 7.2's classic save and load (exec:cat) "
        "of the\n"
        "                      same guest content (implies a -M none guest "
        "whose RAM\n"
        "                      is a tmpfs file, as --populate without "
        "prealloc)\n"
        "  --qemu-binary PATH  QEMU to run (default " QEMU_BINARY ")\n"
        "  --populate          the sources' RAM is a tmpfs file with --dirty "
        "%% "
        "random\n"
        "                      pages, mapped with prealloc=on (-M none)\n"
        "  --no-floor          skip the first-touch floor rows\n"
        "  --no-drop-caches    do not drop the page cache before each step\n"
        "  --checkpoints N     instead of the rows: N x-checkpoint saves of "
        "a running\n"
        "                      guest (stress --dirty %%, default 10, at "
        "--rate, default\n"
        "                      1%% of RAM/s) into two files in turn, beside "
        "a full save\n"
        "  --interval S        seconds between checkpoints (default 5)\n"
        "  --csv               CSV summary on stdout instead of the table\n"
        "  --csv FILE          also write one CSV line per row and "
        "repetition to FILE\n"
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

/* Options that only set a flag. */
static const struct {
    const char *name;
    bool *flag;
} flag_opts[] = {
    { "--direct-io", &opt.direct_io },
    { "--live", &opt.live },
    { "--no-fio", &opt.no_fio },
    { "--no-verify", &opt.no_verify },
    { "--lazy", &opt.lazy },
    { "--quick", &opt.quick },
    { "--qemu", &opt.qemu },
    { "--populate", &opt.populate },
    { "--no-floor", &opt.no_floor },
    { "--no-drop-caches", &opt.no_drop_caches },
};

static bool repeat_set, dirty_set;

/* Whole numbers in a range, into an int or a uint64_t field. */
static const struct {
    const char *name;
    uint64_t min, max;
    int *ival;
    uint64_t *uval;
    bool *set;
} number_opts[] = {
    { "--dirty", 1, 100, &opt.dirty, NULL, &dirty_set },
    { "--repeat", 1, INT_MAX, &opt.repeat, NULL, &repeat_set },
    { "--smp", 1, 64, &opt.smp },
    { "--rate", 0, UINT64_MAX, NULL, &opt.rate },
    { "--checkpoints", 1, 1000, &opt.checkpoints },
    { "--interval", 1, 3600, &opt.interval },
};

static const char *const engine_words[] = { "psync", "io-uring", "libaio",
                                            "all", NULL };
static const char *const layout_words[] = { "stream", "mapped", "all", NULL };
static const char *const accel_words[] = { "soft", "kvm", NULL };

/* Strings: any (@words NULL) or one of @words; @also is set too. */
static const struct {
    const char *name;
    const char *const *words;
    char **val;
    bool *also;
} string_opts[] = {
    { "--engine", engine_words, &opt.engine, &opt.direct_io },
    { "--layout", layout_words, &opt.layout },
    { "--accel", accel_words, &opt.accel },
    { "--dir", NULL, &opt.dir },
    { "--mapmig", NULL, &opt.mapmig },
    { "--qemu-binary", NULL, &opt.qemu_bin, &opt.qemu },
};

/* @v for string option @k, or a usage error. */
static int set_string_option(size_t k, const char *v)
{
    const char *const *w = string_opts[k].words;

    if (w && !g_strv_contains(w, v)) {
        g_autofree char *list = g_strjoinv("|", (char **)w);
        return usage_error("bad %s '%s' (%s)", string_opts[k].name, v, list);
    }
    g_free(*string_opts[k].val);
    *string_opts[k].val = g_strdup(v);
    if (string_opts[k].also) {
        *string_opts[k].also = true;
    }
    return 0;
}

static int set_number_option(size_t k, const char *v)
{
    uint64_t n;

    if (!parse_number(v, number_opts[k].min, number_opts[k].max, &n)) {
        return usage_error(
            "%s must be a whole number in %" PRIu64 "..%" PRIu64 ", not '%s'",
            number_opts[k].name, number_opts[k].min, number_opts[k].max, v);
    }
    if (number_opts[k].ival) {
        *number_opts[k].ival = n;
    } else {
        *number_opts[k].uval = n;
    }
    if (number_opts[k].set) {
        *number_opts[k].set = true;
    }
    return 0;
}

/*
 * Option @a (value @v, the next argument) if the tables know it: true,
 * with *@rc set to 2 on a usage error; *@i moves past a value taken.
 */
static bool parse_table_option(const char *a, const char *v, int *i, int *rc)
{
    for (size_t k = 0; k < G_N_ELEMENTS(flag_opts); k++) {
        if (!strcmp(a, flag_opts[k].name)) {
            *flag_opts[k].flag = true;
            return true;
        }
    }
    for (size_t k = 0; k < G_N_ELEMENTS(number_opts); k++) {
        if (!strcmp(a, number_opts[k].name)) {
            *rc = v ? set_number_option(k, v)
                    : usage_error("option '%s' needs a value", a);
            *i += !!v;
            return true;
        }
    }
    for (size_t k = 0; k < G_N_ELEMENTS(string_opts); k++) {
        if (!strcmp(a, string_opts[k].name)) {
            *rc = v ? set_string_option(k, v)
                    : usage_error("option '%s' needs a value", a);
            *i += !!v;
            return true;
        }
    }
    return false;
}

int main(int argc, char **argv)
{
    bool mem_set = false, channels_set = false;
    opt.channels = g_array_new(false, false, sizeof(int));
    parse_channels("1,2,4,8,16");

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int err_rc = 0;
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
        } else if (parse_table_option(a, v, &i, &err_rc)) {
            if (err_rc) {
                return err_rc;
            }
        } else if (!strcmp(a, "--channels")) {
            NEED_ARG();
            if (!parse_channels(v)) {
                return usage_error("bad --channels '%s' (1..255, comma "
                                   "separated)",
                                   v);
            }
            channels_set = true;
        } else if (!strcmp(a, "--csv")) {
            /* --csv FILE, or the old --csv (summary on stdout) */
            if (v && v[0] != '-') {
                NEED_ARG();
                g_free(opt.csv_path);
                opt.csv_path = g_strdup(v);
            } else {
                opt.csv = true;
            }
        } else if (g_str_has_prefix(a, "--csv=")) {
            g_free(opt.csv_path);
            opt.csv_path = g_strdup(a + 6);
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
    if (opt.qemu && !opt.qemu_bin) {
        opt.qemu_bin = g_strdup(QEMU_BINARY);
    }
    if (opt.live && (opt.qemu || opt.populate)) {
        fprintf(stderr, "--live needs the stress workload: not with --qemu "
                        "or --populate\n");
        return 2;
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

    if (opt.checkpoints) {
        if (!dirty_set) {
            opt.dirty = 10;
        }
        if (!opt.rate) {
            opt.rate = opt.mem / 4096 / 100; /* 1% of RAM per second */
        }
        return run_checkpoints();
    }
    if (!sitting_prepare(&err)) {
        fprintf(stderr, "mapmig-perf: %s\n", err->message);
        return 1;
    }

    /* Rows */
    rows = g_ptr_array_new();
    fio_rows = g_ptr_array_new();
    if (opt.qemu) {
        g_autofree char *l =
            g_strdup_printf("QEMU %.*s exec:cat (classic)",
                            (int)strcspn(qemu_version, " "), qemu_version);
        qemu_row = row_new(l);
        qemu_row->qemu = true;
        qemu_row->fio = fio_row_get(1, "psync", false);
    }
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

    run_sitting();
    if (source) {
        vm_kill(source);
        source = NULL;
    }
    if (qemu_source) {
        vm_kill(qemu_source);
        qemu_source = NULL;
    }
    if (csv_out) {
        fclose(csv_out);
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
