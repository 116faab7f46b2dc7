/*
 * libqtest: start mapmig processes and talk to them (see libqtest.h).
 */
#include "qemu/osdep.h"
#include "libqtest.h"

#if CONFIG_KVM
#include <linux/kvm.h>
#include <sys/ioctl.h>
#endif
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

struct QTestState {
    pid_t pid; /* 0 once reaped */
    char *tmpdir;
    char *qmp_path;
    char *hmp_path;
    int qtest_fd; /* accepted connection from mapmig */
    GString *qtest_buf;
    QMPClient *qmp;
    int hmp_fd; /* -1 until first qtest_hmp() */
    GString *hmp_buf;
};

/*
 * Live children, for the abort/exit paths.  A plain array of pids so the
 * signal handler only touches async-signal-safe state.
 */
#define QTEST_MAX_CHILDREN 64
static volatile sig_atomic_t child_pids[QTEST_MAX_CHILDREN];
static bool handlers_installed;
static struct sigaction old_abrt, old_term;

static void kill_all_children(void)
{
    for (int i = 0; i < QTEST_MAX_CHILDREN; i++) {
        pid_t pid = child_pids[i];
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            child_pids[i] = 0;
        }
    }
}

/*
 * Temporary directories to remove when the test dies.  Like QEMU's
 * libqtest abort hooks this is not strictly async-signal-safe
 * (opendir), acceptable on the way down.
 */
#define QTEST_MAX_DIRS 16
static char abort_dirs[QTEST_MAX_DIRS][PATH_MAX];

void qtest_add_abort_dir(const char *dir)
{
    for (int i = 0; i < QTEST_MAX_DIRS; i++) {
        if (!abort_dirs[i][0]) {
            g_strlcpy(abort_dirs[i], dir, PATH_MAX);
            return;
        }
    }
}

void qtest_remove_abort_dir(const char *dir)
{
    for (int i = 0; i < QTEST_MAX_DIRS; i++) {
        if (!strcmp(abort_dirs[i], dir)) {
            abort_dirs[i][0] = '\0';
        }
    }
}

static void qtest_sig_handler(int sig)
{
    kill_all_children();
    for (int i = 0; i < QTEST_MAX_DIRS; i++) {
        if (abort_dirs[i][0]) {
            qtest_rmdir_files(abort_dirs[i]);
        }
    }
    /* Re-raise with the previous disposition so the test still dies. */
    sigaction(sig, sig == SIGABRT ? &old_abrt : &old_term, NULL);
    raise(sig);
}

void qtest_install_abort_handler(void)
{
    struct sigaction sa = { .sa_handler = qtest_sig_handler };

    if (handlers_installed) {
        return;
    }
    handlers_installed = true;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGABRT, &sa, &old_abrt);
    sigaction(SIGTERM, &sa, &old_term);
    atexit(kill_all_children);
    signal(SIGPIPE, SIG_IGN);
}

static void track_child(pid_t pid)
{
    for (int i = 0; i < QTEST_MAX_CHILDREN; i++) {
        if (!child_pids[i]) {
            child_pids[i] = pid;
            return;
        }
    }
    kill(pid, SIGKILL);
    g_error("too many mapmig children");
}

static void untrack_child(pid_t pid)
{
    for (int i = 0; i < QTEST_MAX_CHILDREN; i++) {
        if (child_pids[i] == pid) {
            child_pids[i] = 0;
        }
    }
}

void qtest_msleep(unsigned ms)
{
    g_usleep(ms * 1000);
}

static const char *kvm_probe(void)
{
#if CONFIG_KVM
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm;

    if (fd < 0) {
        return errno == ENOENT ? "/dev/kvm does not exist"
                               : "/dev/kvm cannot be opened read-write";
    }
    if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
        close(fd);
        return "/dev/kvm has an unexpected KVM API version";
    }
    vm = ioctl(fd, KVM_CREATE_VM, 0);
    close(fd);
    if (vm < 0) {
        return "KVM_CREATE_VM fails (no hardware virtualization?)";
    }
    close(vm);
    return NULL;
#else
    return "mapmig was built without KVM (-Dkvm=disabled or not x86-64)";
#endif
}

bool qtest_kvm_available(const char **reason)
{
    static gsize once;
    static const char *why;

    if (g_once_init_enter(&once)) {
        why = kvm_probe();
        g_once_init_leave(&once, 1);
    }
    if (reason) {
        *reason = why;
    }
    return !why;
}

const char *qtest_binary(void)
{
    const char *bin = g_getenv("MAPMIG_BINARY");

    if (!bin) {
        g_printerr("MAPMIG_BINARY is not set\n");
        g_assert_not_reached();
    }
    return bin;
}

void qtest_rmdir_files(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    if (!d) {
        return;
    }
    while ((name = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(dir, name, NULL);
        unlink(p);
    }
    g_dir_close(d);
    rmdir(dir);
}

static int listen_unix(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fd, 1), ==, 0);
    return fd;
}

/* Wait for mapmig to connect; notice if it dies first. */
static int accept_child(QTestState *s, int lfd)
{
    int64_t deadline = qemu_clock_ms() + QTEST_START_TIMEOUT_MS;

    while (qemu_clock_ms() < deadline) {
        struct pollfd pfd = { .fd = lfd, .events = POLLIN };
        int status;

        if (poll(&pfd, 1, 100) > 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            g_assert_cmpint(fd, >=, 0);
            return fd;
        }
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            untrack_child(s->pid);
            s->pid = 0;
            g_printerr("mapmig exited during start-up (status 0x%x)\n", status);
            g_assert_not_reached();
        }
    }
    g_printerr("mapmig did not connect to the qtest socket\n");
    g_assert_not_reached();
}

/*
 * Start @binary (default $MAPMIG_BINARY) with the qtest, QMP and HMP
 * sockets; @env is added to the child's environment and @child_setup
 * runs in the child just before exec.
 */
static QTestState *qtest_spawn(const char *binary, const char *env,
                               void (*child_setup)(void),
                               const char *extra_args)
{
    QTestState *s = g_new0(QTestState, 1);
    g_autoptr(GError) err = NULL;
    g_autofree char *qtest_path = NULL;
    g_autofree char *cmd = NULL;
    g_auto(GStrv) argv = NULL;
    int lfd;

    qtest_install_abort_handler();
    s->tmpdir = g_dir_make_tmp("mapmig-qtest-XXXXXX", &err);
    g_assert_no_error(err);
    qtest_add_abort_dir(s->tmpdir);
    qtest_path = g_build_filename(s->tmpdir, "qtest.sock", NULL);
    s->qmp_path = g_build_filename(s->tmpdir, "qmp.sock", NULL);
    s->hmp_path = g_build_filename(s->tmpdir, "hmp.sock", NULL);
    s->hmp_fd = -1;
    s->qtest_buf = g_string_new(NULL);
    s->hmp_buf = g_string_new(NULL);
    lfd = listen_unix(qtest_path);

    cmd = g_strdup_printf("%s -qtest unix:%s "
                          "-qmp unix:%s,server=on,wait=off "
                          "-monitor unix:%s,server=on,wait=off "
                          "-serial file:%s/serial.log %s",
                          binary ? binary : qtest_binary(), qtest_path,
                          s->qmp_path, s->hmp_path, s->tmpdir,
                          extra_args ? extra_args : "");
    if (g_getenv("QTEST_LOG")) {
        g_printerr("# starting: %s\n", cmd);
    }
    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, &err));
    g_assert_no_error(err);

    s->pid = fork();
    g_assert_cmpint(s->pid, >=, 0);
    if (s->pid == 0) {
        /* Die with the test; keep TAP on stdout clean. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(STDERR_FILENO, STDOUT_FILENO);
        if (env) {
            /* Only the child's environment: the test may have threads. */
            putenv((char *)env);
        }
        if (child_setup) {
            child_setup();
        }
        execv(argv[0], argv);
        _exit(127);
    }
    track_child(s->pid);

    s->qtest_fd = accept_child(s, lfd);
    close(lfd);
    unlink(qtest_path);

    s->qmp = qmp_client_connect(s->qmp_path, QTEST_START_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    g_assert_nonnull(s->qmp);
    return s;
}

QTestState *qtest_init_full(const char *binary, const char *env,
                            const char *extra_args)
{
    return qtest_spawn(binary, env, NULL, extra_args);
}

QTestState *qtest_init_with_setup(const char *extra_args,
                                  void (*child_setup)(void))
{
    return qtest_spawn(NULL, NULL, child_setup, extra_args);
}

QTestState *qtest_init(const char *extra_args)
{
    return qtest_spawn(NULL, NULL, NULL, extra_args);
}

QTestState *qtest_initf(const char *fmt, ...)
{
    va_list ap;
    g_autofree char *args = NULL;

    va_start(ap, fmt);
    args = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return qtest_init(args);
}

int qtest_quit(QTestState *s)
{
    int status = 0;

    if (!s) {
        return 0;
    }
    if (s->pid > 0) {
        bool exited = false;

        if (s->qmp) {
            /* Graceful exit lets sanitizers report; errors are fine. */
            g_autoptr(GError) err = NULL;
            JsonNode *r = qmp_client_cmd(s->qmp, "quit", NULL, &err);
            if (r) {
                json_node_unref(r);
            }
            for (int i = 0; i < 500; i++) {
                if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
                    exited = true;
                    break;
                }
                qtest_msleep(10);
            }
        }
        if (!exited) {
            g_printerr("# mapmig pid %d did not quit, killing it\n",
                       (int)s->pid);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
        } else if (WIFSIGNALED(status) ||
                   (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
            g_printerr("# mapmig pid %d exited abnormally: status 0x%x\n",
                       (int)s->pid, status);
        }
        untrack_child(s->pid);
        s->pid = 0;
    }
    qmp_client_free(s->qmp);
    if (s->qtest_fd >= 0) {
        close(s->qtest_fd);
    }
    if (s->hmp_fd >= 0) {
        close(s->hmp_fd);
    }
    g_string_free(s->qtest_buf, true);
    g_string_free(s->hmp_buf, true);
    qtest_rmdir_files(s->tmpdir);
    qtest_remove_abort_dir(s->tmpdir);
    g_free(s->tmpdir);
    g_free(s->qmp_path);
    g_free(s->hmp_path);
    g_free(s);
    return status;
}

const char *qtest_tmpdir(QTestState *s)
{
    return s->tmpdir;
}

pid_t qtest_pid(QTestState *s)
{
    return s->pid;
}

char *qtest_serial_path(QTestState *s)
{
    return g_build_filename(s->tmpdir, "serial.log", NULL);
}

const char *qtest_qmp_path(QTestState *s)
{
    return s->qmp_path;
}

QMPClient *qtest_qmp_client(QTestState *s)
{
    return s->qmp;
}

QMPClient *qtest_qmp_connect(QTestState *s)
{
    g_autoptr(GError) err = NULL;
    QMPClient *c =
        qmp_client_connect(s->qmp_path, QTEST_START_TIMEOUT_MS, &err);
    g_assert_no_error(err);
    return c;
}

/* ---- QMP ---- */

static JsonNode *qmp_vcmd(QTestState *s, GError **errp, const char *fmt,
                          va_list ap)
{
    g_autofree char *text = g_strdup_vprintf(fmt, ap);

    return qmp_client_cmdf(s->qmp, errp, "%s", text);
}

JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;
    JsonNode *r;

    va_start(ap, fmt);
    r = qmp_vcmd(s, &err, fmt, ap);
    va_end(ap);
    if (err) {
        g_printerr("QMP command failed: %s\n", err->message);
    }
    g_assert_no_error(err);
    g_assert_nonnull(r);
    return r;
}

void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
{
    g_autoptr(GError) err = NULL;
    va_list ap;
    JsonNode *r;

    va_start(ap, fmt);
    r = qmp_vcmd(s, &err, fmt, ap);
    va_end(ap);
    if (err) {
        g_printerr("QMP command failed: %s\n", err->message);
    }
    g_assert_no_error(err);
    json_node_unref(r);
}

static char *expect_error_v(QTestState *s, const char **klass, const char *fmt,
                            va_list ap)
{
    g_autoptr(GError) err = NULL;
    JsonNode *r = qmp_vcmd(s, &err, fmt, ap);

    if (r) {
        g_autofree char *t = json_to_string(r, false);
        g_printerr("QMP command unexpectedly succeeded: %s\n", t);
        json_node_unref(r);
    }
    g_assert_nonnull(err);
    /* A closed connection is not a QMP error. */
    g_assert_true(err->domain == MAPMIG_ERROR);
    if (klass) {
        *klass = err->code == ERROR_CLASS_COMMAND_NOT_FOUND ? "CommandNotFound"
                                                            : "GenericError";
    }
    return g_strdup(err->message);
}

char *qtest_qmp_expect_error(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    char *desc;

    va_start(ap, fmt);
    desc = expect_error_v(s, NULL, fmt, ap);
    va_end(ap);
    return desc;
}

char *qtest_qmp_expect_error_class(QTestState *s, const char **klass,
                                   const char *fmt, ...)
{
    va_list ap;
    char *desc;

    va_start(ap, fmt);
    desc = expect_error_v(s, klass, fmt, ap);
    va_end(ap);
    return desc;
}

JsonNode *qtest_qmp_fd(QTestState *s, int fd, const char *cmd, JsonObject *args)
{
    g_autoptr(GError) err = NULL;
    JsonNode *r = qmp_client_cmd_fd(s->qmp, cmd, args, fd, &err);

    g_assert_no_error(err);
    return r;
}

JsonObject *qtest_qmp_eventwait_timeout(QTestState *s, const char *name,
                                        int timeout_ms)
{
    g_autoptr(GError) err = NULL;
    JsonObject *ev = qmp_client_wait_event(s->qmp, name, timeout_ms, &err);

    g_assert_no_error(err);
    return ev;
}

JsonObject *qtest_qmp_eventwait(QTestState *s, const char *name)
{
    JsonObject *ev =
        qtest_qmp_eventwait_timeout(s, name, QTEST_EVENT_TIMEOUT_MS);
    if (!ev) {
        g_printerr("time-out waiting for event %s\n", name);
    }
    g_assert_nonnull(ev);
    return ev;
}

char *qtest_query_status(QTestState *s, bool *running)
{
    g_autoptr(JsonNode) r = qtest_qmp(s, "{'execute': 'query-status'}");
    JsonObject *o = json_node_get_object(r);

    if (running) {
        *running = json_object_get_boolean_member(o, "running");
    }
    return g_strdup(json_object_get_string_member(o, "status"));
}

bool qtest_is_running(QTestState *s)
{
    bool running;

    g_free(qtest_query_status(s, &running));
    return running;
}

/* ---- qtest line protocol ---- */

/* Wait for data on @fd until @deadline (ms) and append it to @buf. */
static void recv_append(int fd, GString *buf, int64_t deadline)
{
    char chunk[65536];
    ssize_t n;

    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int left = (int)(deadline - qemu_clock_ms());
        g_assert_cmpint(left, >, 0);
        int r = poll(&pfd, 1, left);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(r, >, 0);
        n = recv(fd, chunk, sizeof(chunk), 0);
        if (n >= 0 || errno != EINTR) {
            break;
        }
    }
    g_assert_cmpint(n, >, 0);
    g_string_append_len(buf, chunk, n);
}

static char *qtest_recv_line(QTestState *s)
{
    int64_t deadline = qemu_clock_ms() + QTEST_EVENT_TIMEOUT_MS;

    for (;;) {
        char *nl = memchr(s->qtest_buf->str, '\n', s->qtest_buf->len);
        if (nl) {
            size_t n = nl - s->qtest_buf->str;
            char *line = g_strndup(s->qtest_buf->str, n);
            g_string_erase(s->qtest_buf, 0, n + 1);
            return line;
        }
        recv_append(s->qtest_fd, s->qtest_buf, deadline);
    }
}

char *qtest_rsp_line(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    const char *p;
    size_t len;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    p = cmd;
    len = strlen(cmd);
    while (len) {
        ssize_t n = send(s->qtest_fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
    return qtest_recv_line(s);
}

static uint64_t read_scalar(QTestState *s, const char *cmd, uint64_t addr)
{
    g_autofree char *line = qtest_rsp_line(s, "%s 0x%" PRIx64 "\n", cmd, addr);
    if (!g_str_has_prefix(line, "OK 0x")) {
        g_printerr("qtest %s 0x%" PRIx64 ": %s\n", cmd, addr, line);
    }
    g_assert_true(g_str_has_prefix(line, "OK 0x"));
    return g_ascii_strtoull(line + 3, NULL, 16);
}

uint8_t qtest_readb(QTestState *s, uint64_t addr)
{
    return read_scalar(s, "readb", addr);
}

uint16_t qtest_readw(QTestState *s, uint64_t addr)
{
    return read_scalar(s, "readw", addr);
}

uint32_t qtest_readl(QTestState *s, uint64_t addr)
{
    return read_scalar(s, "readl", addr);
}

uint64_t qtest_readq(QTestState *s, uint64_t addr)
{
    return read_scalar(s, "readq", addr);
}

static void write_scalar(QTestState *s, const char *cmd, uint64_t addr,
                         uint64_t v)
{
    g_autofree char *line =
        qtest_rsp_line(s, "%s 0x%" PRIx64 " 0x%" PRIx64 "\n", cmd, addr, v);
    g_assert_cmpstr(line, ==, "OK");
}

void qtest_writeb(QTestState *s, uint64_t addr, uint8_t value)
{
    write_scalar(s, "writeb", addr, value);
}

void qtest_writeq(QTestState *s, uint64_t addr, uint64_t value)
{
    write_scalar(s, "writeq", addr, value);
}

void qtest_memread(QTestState *s, uint64_t addr, void *data, size_t size)
{
    g_autofree char *line =
        qtest_rsp_line(s, "read 0x%" PRIx64 " 0x%zx\n", addr, size);
    uint8_t *out = data;

    g_assert_true(g_str_has_prefix(line, "OK 0x"));
    g_assert_cmpuint(strlen(line + 5), ==, size * 2);
    for (size_t i = 0; i < size; i++) {
        out[i] = g_ascii_xdigit_value(line[5 + 2 * i]) << 4 |
                 g_ascii_xdigit_value(line[6 + 2 * i]);
    }
}

void qtest_bufread(QTestState *s, uint64_t addr, void *data, size_t size)
{
    g_autofree char *line =
        qtest_rsp_line(s, "b64read 0x%" PRIx64 " 0x%zx\n", addr, size);
    g_autofree guchar *dec = NULL;
    gsize len = 0;

    g_assert_true(g_str_has_prefix(line, "OK "));
    dec = g_base64_decode(line + 3, &len);
    g_assert_cmpuint(len, ==, size);
    memcpy(data, dec, size);
}

void qtest_bufwrite(QTestState *s, uint64_t addr, const void *data, size_t size)
{
    g_autofree char *b64 = g_base64_encode(data, size);
    g_autofree char *line =
        qtest_rsp_line(s, "b64write 0x%" PRIx64 " 0x%zx %s\n", addr, size, b64);

    g_assert_cmpstr(line, ==, "OK");
}

void qtest_memset(QTestState *s, uint64_t addr, uint8_t value, size_t size)
{
    g_autofree char *line = qtest_rsp_line(s,
                                           "memset 0x%" PRIx64 " 0x%zx "
                                           "0x%02x\n",
                                           addr, size, value);
    g_assert_cmpstr(line, ==, "OK");
}

/* ---- RAM digests and workload ---- */

GHashTable *qtest_ram_digests(QTestState *s)
{
    g_autoptr(JsonNode) r = qtest_qmp(s, "{'execute': 'x-query-ram-digest'}");
    GHashTable *h =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    JsonArray *a = json_node_get_array(r);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        g_hash_table_insert(
            h, g_strdup(json_object_get_string_member(o, "id")),
            g_strdup_printf("%" PRId64 ":%s",
                            json_object_get_int_member(o, "length"),
                            json_object_get_string_member(o, "sha256")));
    }
    g_assert_cmpuint(g_hash_table_size(h), >, 0);
    return h;
}

static bool digests_cmp(GHashTable *a, GHashTable *b, bool verbose)
{
    GHashTableIter it;
    gpointer k, v;
    bool eq = g_hash_table_size(a) == g_hash_table_size(b);

    g_hash_table_iter_init(&it, a);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const char *other = g_hash_table_lookup(b, k);
        if (g_strcmp0(v, other)) {
            if (verbose) {
                g_printerr("# RAM block %s differs: %s vs %s\n", (char *)k,
                           (char *)v, other ? other : "(missing)");
            }
            eq = false;
        }
    }
    return eq;
}

bool qtest_ram_digests_equal(GHashTable *a, GHashTable *b)
{
    return digests_cmp(a, b, false);
}

bool qtest_ram_digests_check(GHashTable *a, GHashTable *b)
{
    return digests_cmp(a, b, true);
}

uint64_t qtest_ram_total(QTestState *s)
{
    g_autoptr(JsonNode) r = qtest_qmp(s, "{'execute': 'x-query-ram-digest'}");
    JsonArray *a = json_node_get_array(r);
    uint64_t total = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        total += json_object_get_int_member(json_array_get_object_element(a, i),
                                            "length");
    }
    return total;
}

int64_t qtest_workload_get(QTestState *s, const char *member)
{
    g_autoptr(JsonNode) r = qtest_qmp(s, "{'execute': 'x-query-workload'}");

    g_assert_true(json_object_has_member(json_node_get_object(r), member));
    return qmp_get_int(r, member);
}

/* ---- HMP ---- */

#define HMP_PROMPT "(qemu) "

/* Read until the buffer ends with the prompt; returns what came before. */
static char *hmp_read_to_prompt(QTestState *s)
{
    int64_t deadline = qemu_clock_ms() + QTEST_EVENT_TIMEOUT_MS * 2;

    while (!g_str_has_suffix(s->hmp_buf->str, HMP_PROMPT)) {
        recv_append(s->hmp_fd, s->hmp_buf, deadline);
    }
    /* The monitor ends lines with CR LF, as QEMU's does; drop the CRs. */
    GString *out = g_string_new(NULL);
    for (size_t i = 0; i < s->hmp_buf->len - strlen(HMP_PROMPT); i++) {
        if (s->hmp_buf->str[i] != '\r') {
            g_string_append_c(out, s->hmp_buf->str[i]);
        }
    }
    g_string_truncate(s->hmp_buf, 0);
    return g_string_free(out, false);
}

char *qtest_hmp(QTestState *s, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_autofree char *line = NULL;
    const char *p;
    size_t len;

    if (s->hmp_fd < 0) {
        struct sockaddr_un addr = { .sun_family = AF_UNIX };
        g_autofree char *banner = NULL;

        g_strlcpy(addr.sun_path, s->hmp_path, sizeof(addr.sun_path));
        s->hmp_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        g_assert_cmpint(s->hmp_fd, >=, 0);
        g_assert_cmpint(
            connect(s->hmp_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
        banner = hmp_read_to_prompt(s);
    }
    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strconcat(cmd, "\n", NULL);
    p = line;
    len = strlen(line);
    while (len) {
        ssize_t n = send(s->hmp_fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        g_assert_cmpint(n, >, 0);
        p += n;
        len -= n;
    }
    return hmp_read_to_prompt(s);
}
