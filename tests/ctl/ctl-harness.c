/*
 * What the mapmig-ctl tests share (see ctl-harness.h).
 */
#include "ctl-harness.h"
#include "io/dio.h"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

const char *mapmig_bin, *ctl_bin, *img_bin, *ctl_test_bin;
char *tmpdir;
static GArray *vm_pids; /* pid_t of every VM we may have to kill */

static void kill_all_vms(void)
{
    for (guint i = 0; vm_pids && i < vm_pids->len; i++) {
        pid_t pid = g_array_index(vm_pids, pid_t, i);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
    }
}

/* A failed assertion: no VM, mount or file is left behind. */
static void on_abort(int sig)
{
    cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

void track_pid(pid_t pid)
{
    g_array_append_val(vm_pids, pid);
}

void untrack_pid(pid_t pid)
{
    for (guint i = 0; i < vm_pids->len; i++) {
        if (g_array_index(vm_pids, pid_t, i) == pid) {
            g_array_remove_index(vm_pids, i);
            return;
        }
    }
}

static void child_setup(gpointer data)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

/*
 * A source VM: 64M, @workload, QMP in the scratch directory, and the
 * options in @extra (NULL-terminated, may be NULL).
 */
void vm_start_mem(Vm *vm, const char *mem, const char *workload,
                  const char *const *extra)
{
    static int n;
    g_autofree char *qmparg = NULL;
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *err = NULL;

    vm->sock = g_strdup_printf("%s/src%d.sock", tmpdir, n++);
    qmparg = g_strdup_printf("unix:%s,server=on,wait=off", vm->sock);
    const char *base[] = { mapmig_bin, "-m",        mem,      "-name",
                           "ctl-test", "-workload", workload, "-serial",
                           "none",     "-qmp",      qmparg,   NULL };
    for (int i = 0; base[i]; i++) {
        g_ptr_array_add(argv, (char *)base[i]);
    }
    for (int i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, (char *)extra[i]);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, child_setup, NULL,
                                &vm->pid, &err));
    g_assert_no_error(err);
    track_pid(vm->pid);
    vm->qmp = qmp_client_connect(vm->sock, WAIT_MS, &err);
    g_assert_no_error(err);
}

void vm_start_with(Vm *vm, const char *workload, const char *const *extra)
{
    vm_start_mem(vm, VM_MEM, workload, extra);
}

void vm_start(Vm *vm, const char *workload)
{
    vm_start_with(vm, workload, NULL);
}

/* Attach to a VM restored by mapmig-ctl (socket and pid file known). */
void vm_attach(Vm *vm, const char *sock, const char *pidfile)
{
    g_autofree char *text = NULL;
    GError *err = NULL;

    g_assert_true(g_file_get_contents(pidfile, &text, NULL, &err));
    vm->pid = atoi(text);
    g_assert_cmpint(vm->pid, >, 0);
    track_pid(vm->pid);
    vm->sock = g_strdup(sock);
    vm->qmp = qmp_client_connect(sock, WAIT_MS, &err);
    g_assert_no_error(err);
}

JsonNode *vm_cmd(Vm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *err = NULL;
    JsonNode *r = qmp_client_cmdf(vm->qmp, &err, "%s", text);
    g_assert_no_error(err);
    return r;
}

char *vm_status(Vm *vm)
{
    g_autoptr(JsonNode) r = vm_cmd(vm, "{'execute': 'query-status'}");
    return g_strdup(qmp_get_str(r, "status"));
}

/* "id=sha;..." of every RAM block. */
char *vm_digests(Vm *vm)
{
    g_autoptr(JsonNode) r = vm_cmd(vm, "{'execute': 'x-query-ram-digest'}");
    JsonArray *a = json_node_get_array(r);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_string_append_printf(s, "%s=%s;",
                               json_object_get_string_member(o, "id"),
                               json_object_get_string_member(o, "sha256"));
    }
    return g_string_free(s, false);
}

/* Wait (bounded) for the process to exit; true if it did. */
bool vm_reap(Vm *vm, int timeout_ms)
{
    int64_t deadline = qemu_clock_ms() + timeout_ms;

    while (vm->pid > 0) {
        pid_t r = waitpid(vm->pid, NULL, WNOHANG);
        if (r == vm->pid || (r < 0 && errno == ECHILD)) {
            untrack_pid(vm->pid);
            vm->pid = 0;
            return true;
        }
        if (qemu_clock_ms() > deadline) {
            return false;
        }
        g_usleep(20 * 1000);
    }
    return true;
}

void vm_quit(Vm *vm)
{
    if (vm->qmp) {
        JsonNode *r = qmp_client_cmdf(vm->qmp, NULL, "{'execute': 'quit'}");
        if (r) {
            json_node_unref(r);
        }
        qmp_client_free(vm->qmp);
        vm->qmp = NULL;
    }
    if (!vm_reap(vm, 5000)) {
        kill(vm->pid, SIGKILL);
        vm_reap(vm, WAIT_MS);
    }
    g_clear_pointer(&vm->sock, g_free);
}

/*
 * x-fill-ram's test pattern (docs/interop/qmp.rst): every page distinct,
 * some zero, in the blocks the guest cannot address (vga.vram, pc.rom)
 * and, with @guest_ram, in the guest's RAM too (not under the ab
 * workload, which checks its own memory).
 */
void vm_fill(Vm *vm, bool guest_ram)
{
    for (int visible = 0; visible <= guest_ram; visible++) {
        g_autoptr(JsonNode) r =
            vm_cmd(vm,
                   "{'execute': 'x-fill-ram', 'arguments': "
                   "{'guest-visible': %s, 'generation': 1, 'zero-stride': 7}}",
                   visible ? "true" : "false");
        g_assert_cmpuint(json_array_get_length(json_node_get_array(r)), >, 0);
    }
}

/* Let the workload put data in RAM (it dirties pages at full speed). */
void vm_let_run(Vm *vm, unsigned ms)
{
    g_usleep(ms * 1000);
}

void run_clear(Run *r)
{
    g_free(r->out);
    g_free(r->err);
}

static int wait_status_code(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Run run_argv(GPtrArray *argv)
{
    Run r = { 0 };
    GError *err = NULL;
    int st;

    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                               G_SPAWN_SEARCH_PATH, NULL, NULL, &r.out, &r.err,
                               &st, &err));
    g_assert_no_error(err);
    r.status = wait_status_code(st);
    g_test_message("%s -> %d: %s%s", (char *)argv->pdata[1], r.status, r.out,
                   r.err);
    return r;
}

Run run_tool(const char *bin, const char *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    va_list ap;

    g_ptr_array_add(argv, (char *)bin);
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        g_ptr_array_add(argv, (char *)a);
    }
    va_end(ap);
    return run_argv(argv);
}

/*
 * restore FILE --qmp SOCK @opts -- -pidfile PIDFILE; on success attaches
 * @vm to the new VM.
 */
Run ctl_restore(Vm *vm, const char *file, const char *opts)
{
    static int n;
    g_autofree char *sock = g_strdup_printf("%s/dst%d.sock", tmpdir, n);
    g_autofree char *pidfile = g_strdup_printf("%s/dst%d.pid", tmpdir, n++);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) o = g_strsplit(opts ? opts : "", " ", -1);

    g_ptr_array_add(argv, (char *)ctl_bin);
    g_ptr_array_add(argv, (char *)"restore");
    g_ptr_array_add(argv, (char *)file);
    g_ptr_array_add(argv, (char *)"--qmp");
    g_ptr_array_add(argv, sock);
    for (int i = 0; o[i]; i++) {
        if (*o[i]) {
            g_ptr_array_add(argv, o[i]);
        }
    }
    g_ptr_array_add(argv, (char *)"--");
    g_ptr_array_add(argv, (char *)"-pidfile");
    g_ptr_array_add(argv, pidfile);
    Run r = run_argv(argv);
    if (r.status == 0) {
        g_assert_cmpstr(g_strstrip(r.out), ==, sock);
        vm_attach(vm, sock, pidfile);
    } else {
        /* A failed restore leaves no VM, socket or pid file behind. */
        g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
        g_assert_false(g_file_test(pidfile, G_FILE_TEST_EXISTS));
    }
    return r;
}

void assert_contains(const char *s, const char *sub)
{
    if (!s || !strstr(s, sub)) {
        g_test_message("'%s' does not contain '%s'", s, sub);
        g_assert_not_reached();
    }
}

/* @r exited with @status, saying @msg (if given) on stderr; frees @r. */
void run_expect(Run r, int status, const char *msg)
{
    g_assert_cmpint(r.status, ==, status);
    if (msg) {
        assert_contains(r.err, msg);
    }
    run_clear(&r);
}

char *file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, NULL)) {
        return NULL;
    }
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
}

char *scratch(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

bool direct_io_ok(void)
{
    g_autofree char *probe = scratch("dio-probe");
    uint32_t m, o;
    int fd = open(probe, O_RDWR | O_CREAT, 0600);
    bool ok = fd >= 0 && qemu_dio_alignment(fd, probe, &m, &o, NULL);

    if (fd >= 0) {
        close(fd);
    }
    unlink(probe);
    return ok;
}

/* Whether capability @name is on. */
bool vm_cap(Vm *vm, const char *name)
{
    g_autoptr(JsonNode) r =
        vm_cmd(vm, "{'execute': 'query-migrate-capabilities'}");
    JsonArray *a = json_node_get_array(r);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        if (!strcmp(json_object_get_string_member(o, "capability"), name)) {
            return json_object_get_boolean_member(o, "state");
        }
    }
    g_assert_not_reached();
}

int64_t ab_passes(Vm *vm)
{
    g_autoptr(JsonNode) w = vm_cmd(vm, "{'execute': 'x-query-workload'}");
    return qmp_get_int(w, "passes");
}

/* The ab guest makes two more passes after @passes, finding no error. */
void check_ab_goes_on(Vm *vm, int64_t passes)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        g_autoptr(JsonNode) w = vm_cmd(vm, "{'execute': 'x-query-workload'}");
        g_assert_cmpint(qmp_get_int(w, "errors"), ==, 0);
        if (qmp_get_int(w, "passes") >= passes + 2) {
            return;
        }
        g_usleep(20 * 1000);
    }
    g_assert_not_reached();
}

/*
 * Start @bin with @args (NULL-terminated), stopping itself at the test
 * point @stop_at if given; returns its pid (our child).
 */
GPid ctl_spawn(const char *bin, const char *stop_at, const char *const *args)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    g_auto(GStrv) env = g_get_environ();
    GError *err = NULL;
    GPid pid;

    g_ptr_array_add(argv, (char *)bin);
    for (int i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    if (stop_at) {
        env = g_environ_setenv(env, "MAPMIG_CTL_STOP_AT", stop_at, true);
    }
    g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, env,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                &err));
    g_assert_no_error(err);
    return pid;
}

/* Wait until @pid stopped itself at its test point. */
void wait_stopped(GPid pid)
{
    int st;

    g_assert_cmpint(waitpid(pid, &st, WUNTRACED), ==, pid);
    g_assert_true(WIFSTOPPED(st));
}

/* Our live children that are not VMs we track (guardians, tools). */
int stray_children(void)
{
    g_autofree char *me = g_strdup_printf("%d", (int)getpid());
    GDir *d = g_dir_open("/proc", 0, NULL);
    const char *name;
    int n = 0;

    g_assert_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = NULL;
        g_autofree char *stat = NULL;
        pid_t pid = atoi(name);
        bool tracked = false;

        if (pid <= 0) {
            continue;
        }
        path = g_strdup_printf("/proc/%s/stat", name);
        if (!g_file_get_contents(path, &stat, NULL, NULL)) {
            continue;
        }
        /* "pid (comm) state ppid ...": comm may hold spaces. */
        char *rp = strrchr(stat, ')');
        g_auto(GStrv) f = rp ? g_strsplit(rp + 2, " ", 3) : NULL;
        if (!f || !f[0] || !f[1] || strcmp(f[1], me) || !strcmp(f[0], "Z")) {
            continue;
        }
        for (guint i = 0; i < vm_pids->len; i++) {
            tracked |= g_array_index(vm_pids, pid_t, i) == pid;
        }
        n += !tracked;
    }
    g_dir_close(d);
    return n;
}

/* No process of mapmig-ctl's is left (the guardian may still be busy). */
void wait_no_strays(void)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        pid_t r;
        do {
            /* Reap what we adopted; tracked VMs are still alive here. */
            r = waitpid(-1, NULL, WNOHANG);
        } while (r > 0);
        if (!stray_children()) {
            return;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpint(stray_children(), ==, 0);
}

/* Wait until the restored VM's lazy load has completed. */
void wait_lazy_loaded(Vm *vm)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        g_autoptr(JsonNode) q = vm_cmd(vm, "{'execute': 'query-migrate'}");
        const char *st = qmp_get_str(q, "status");
        g_assert_cmpstr(st, !=, "failed");
        if (!strcmp(st, "completed")) {
            return;
        }
        g_usleep(20 * 1000);
    }
    g_assert_not_reached();
}

/* @text is exactly one JSON object (and a newline): parse it. */
JsonObject *parse_one_object(const char *text)
{
    g_autoptr(JsonParser) p = json_parser_new();
    GError *err = NULL;

    g_assert_true(g_str_has_suffix(text, "}\n"));
    g_assert_true(strchr(text, '\n') == text + strlen(text) - 1);
    json_parser_load_from_data(p, text, -1, &err);
    g_assert_no_error(err);
    JsonNode *root = json_parser_get_root(p);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(root));
    return json_object_ref(json_node_get_object(root));
}

static int remove_one(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    remove(path);
    return 0;
}

void remove_tree(const char *path)
{
    nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

void cleanup(void)
{
    kill_all_vms();
    while (waitpid(-1, NULL, WNOHANG) > 0) {
        /* orphans we adopted as subreaper (guardians) */
    }
    if (tmpdir) {
        DIR *d = opendir(tmpdir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            g_autofree char *p = g_build_filename(tmpdir, e->d_name, NULL);
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                umount2(p, MNT_DETACH);
                remove_tree(p);
            }
        }
        if (d) {
            closedir(d);
        }
        rmdir(tmpdir);
    }
}

bool harness_init(int *argc, char ***argv, const char *name)
{
    g_test_init(argc, argv, NULL);
    mapmig_bin = g_getenv("MAPMIG_BINARY");
    ctl_bin = g_getenv("MAPMIG_CTL");
    img_bin = g_getenv("MAPMIG_IMG");
    ctl_test_bin = g_getenv("MAPMIG_CTL_TEST");
    if (!mapmig_bin || !ctl_bin || !img_bin) {
        g_printerr("MAPMIG_BINARY, MAPMIG_CTL and MAPMIG_IMG must be set\n");
        return false;
    }
    /* mapmig-ctl finds the VM binary through $MAPMIG. */
    g_setenv("MAPMIG", mapmig_bin, true);
    vm_pids = g_array_new(false, false, sizeof(pid_t));
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    signal(SIGABRT, on_abort);
    signal(SIGTERM, on_abort);
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", name);
    tmpdir = g_dir_make_tmp(tmpl, NULL);
    g_assert_nonnull(tmpdir);
    return true;
}
