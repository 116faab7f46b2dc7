/*
 * Character device specs (include/monitor/chardev.h): parsing QEMU's
 * legacy and -chardev syntax, the -chardev registry, the stdio claim and
 * the sockets behind socket specs.
 */
#include "qemu/osdep.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "io/channel-socket.h"
#include "monitor/chardev.h"
#include "qemu/cutils.h"

static GHashTable *chardevs;   /* id -> ChardevSpec */
static bool stdio_claimed;     /* a spec owns stdin/stdout */
static unsigned stdio_gen = 1; /* the claim's number; a release ends it */
static bool stdio_forbidden;   /* -daemonize */

static ChardevSpec *chardev_spec_new(ChardevKind kind, const char *label)
{
    ChardevSpec *cs = g_new0(ChardevSpec, 1);

    cs->kind = kind;
    cs->label = g_strdup(label);
    cs->fd = -1;
    return cs;
}

void chardev_spec_free(ChardevSpec *cs)
{
    if (!cs) {
        return;
    }
    g_free(cs->id);
    g_free(cs->label);
    g_free(cs->path);
    g_free(cs->host);
    g_free(cs->port);
    g_free(cs);
}

/* ---- options ---- */

/*
 * One "key=value" (or QEMU's old "key" / "nokey" flag) of a socket:
 * server, wait, nodelay.  Returns false for an unknown key (errp set).
 */
static bool chardev_socket_flag(ChardevSpec *cs, const char *opt, GError **errp)
{
    const char *eq = strchr(opt, '=');
    g_autofree char *key = eq ? g_strndup(opt, eq - opt) : g_strdup(opt);
    bool val = true;
    bool *dst;

    if (!eq && g_str_has_prefix(key, "no") &&
        (!strcmp(key + 2, "server") || !strcmp(key + 2, "wait") ||
         !strcmp(key + 2, "delay"))) {
        /* "nowait", "noserver"; but "nodelay" is itself a flag. */
        if (strcmp(key, "nodelay") != 0) {
            val = false;
            memmove(key, key + 2, strlen(key + 2) + 1);
        }
    }
    if (!strcmp(key, "server")) {
        dst = &cs->server;
    } else if (!strcmp(key, "wait")) {
        dst = &cs->wait;
    } else if (!strcmp(key, "nodelay")) {
        dst = &cs->nodelay;
    } else {
        error_setg(errp, "Invalid parameter '%s'", key);
        return false;
    }
    if (eq && !qemu_parse_bool(eq + 1, &val)) {
        error_setg(errp, "Parameter '%s' expects 'on' or 'off'", key);
        return false;
    }
    *dst = val;
    return true;
}

static bool chardev_check_path(const char *path, GError **errp)
{
    if (!*path) {
        error_setg(errp, "UNIX socket path is missing");
        return false;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", path);
        return false;
    }
    return true;
}

/* QEMU: a socket server waits for a client unless told not to. */
static void chardev_socket_defaults(ChardevSpec *cs)
{
    cs->kind = CHARDEV_SOCKET;
    cs->server = false;
    cs->wait = true;
}

/* "PATH[,opts]" after "unix:", or "HOST:PORT[,opts]" after "tcp:". */
static bool chardev_parse_socket(ChardevSpec *cs, const char *rest, bool tcp,
                                 GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(rest, ",", -1);

    chardev_socket_defaults(cs);
    if (tcp) {
        const char *colon = parts[0] ? strrchr(parts[0], ':') : NULL;

        /* As QEMU's compat parser: no "HOST:PORT", not a driver at all. */
        if (!colon || !colon[1]) {
            error_setg(errp, "'%s' is not a valid char driver", cs->label);
            return false;
        }
        cs->host = g_strndup(parts[0], colon - parts[0]);
        cs->port = g_strdup(colon + 1);
    } else {
        if (!chardev_check_path(parts[0] ? parts[0] : "", errp)) {
            return false;
        }
        cs->path = g_strdup(parts[0]);
    }
    for (int i = 1; parts[i]; i++) {
        if (!chardev_socket_flag(cs, parts[i], errp)) {
            return false;
        }
    }
    return true;
}

ChardevSpec *chardev_parse_legacy(const char *spec, GError **errp)
{
    g_autoptr(ChardevSpec) cs = chardev_spec_new(CHARDEV_NULL, spec);
    const char *p = spec;

    if (g_str_has_prefix(p, "mon:")) {
        p += strlen("mon:");
        if (strcmp(p, "stdio") != 0) {
            error_setg(errp, "'%s': only mon:stdio is supported", spec);
            return NULL;
        }
        cs->mux = true;
    }
    if (!strcmp(p, "stdio")) {
        cs->kind = CHARDEV_STDIO;
    } else if (!strcmp(p, "null")) {
        cs->kind = CHARDEV_NULL;
    } else if (g_str_has_prefix(p, "file:") && p[5]) {
        cs->kind = CHARDEV_FILE;
        cs->path = g_strdup(p + 5);
    } else if (g_str_has_prefix(p, "unix:")) {
        if (!chardev_parse_socket(cs, p + 5, false, errp)) {
            return NULL;
        }
    } else if (g_str_has_prefix(p, "tcp:")) {
        if (!chardev_parse_socket(cs, p + 4, true, errp)) {
            return NULL;
        }
    } else {
        error_setg(errp, "'%s' is not a valid char driver", spec);
        return NULL;
    }
    return g_steal_pointer(&cs);
}

/* ---- -chardev ---- */

static const char *const chardev_backends[] = { "file", "null", "socket",
                                                "stdio", NULL };

/* One key=value of a -chardev for @cs's backend. */
static bool chardev_opt(ChardevSpec *cs, const char *backend, const char *opt,
                        GError **errp)
{
    const char *eq = strchr(opt, '=');
    g_autofree char *key = eq ? g_strndup(opt, eq - opt) : g_strdup(opt);
    const char *val = eq ? eq + 1 : "";

    if (!strcmp(key, "id")) {
        g_free(cs->id);
        cs->id = g_strdup(val);
    } else if (!strcmp(key, "path") &&
               (cs->kind == CHARDEV_SOCKET || cs->kind == CHARDEV_FILE)) {
        g_free(cs->path);
        cs->path = g_strdup(val);
    } else if (cs->kind == CHARDEV_SOCKET && !strcmp(key, "host")) {
        g_free(cs->host);
        cs->host = g_strdup(val);
    } else if (cs->kind == CHARDEV_SOCKET && !strcmp(key, "port")) {
        g_free(cs->port);
        cs->port = g_strdup(val);
    } else if (cs->kind == CHARDEV_SOCKET && !strcmp(key, "fd")) {
        uint64_t fd;

        if (qemu_strtou64(val, &fd) || fd > INT_MAX) {
            error_setg(errp, "Parameter 'fd' expects a number");
            return false;
        }
        cs->fd = fd;
    } else if (cs->kind == CHARDEV_STDIO && !strcmp(key, "signal")) {
        bool b;

        /* Our stdio never turns ^C into a signal of its own: accept. */
        if (!qemu_parse_bool(val, &b)) {
            error_setg(errp, "Parameter 'signal' expects 'on' or 'off'");
            return false;
        }
    } else if (cs->kind == CHARDEV_SOCKET) {
        return chardev_socket_flag(cs, opt, errp);
    } else {
        error_setg(errp, "Invalid parameter '%s'", key);
        return false;
    }
    return true;
}

static bool chardev_check(ChardevSpec *cs, GError **errp)
{
    if (!cs->id) {
        error_setg(errp, "chardev: no id specified");
        return false;
    }
    if (cs->kind == CHARDEV_FILE && !cs->path) {
        error_setg(errp, "chardev: file: no filename given");
        return false;
    }
    if (cs->kind != CHARDEV_SOCKET) {
        return true;
    }
    if (!!cs->path + (cs->host || cs->port) + (cs->fd >= 0) != 1) {
        error_setg(errp, "chardev: socket: give one of path=, host=/port= "
                         "or fd=");
        return false;
    }
    if (cs->path) {
        return chardev_check_path(cs->path, errp);
    }
    if (cs->fd >= 0) {
        struct stat st;

        /* fd=N (libvirt): a socket it created and bound for us. */
        if (fstat(cs->fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
            error_setg(errp, "chardev: socket: fd=%d is not a socket", cs->fd);
            return false;
        }
        if (!cs->server) {
            error_setg(errp, "chardev: socket: fd= needs server=on");
            return false;
        }
        return true;
    }
    if (!cs->host) {
        error_setg(errp, "chardev: socket: no host given");
        return false;
    }
    if (!cs->port) {
        error_setg(errp, "chardev: socket: no port given");
        return false;
    }
    return true;
}

bool chardev_add(const char *opts, bool *help, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(opts, ",", -1);
    const char *backend = parts[0] ? parts[0] : "";
    g_autoptr(ChardevSpec) cs = NULL;

    *help = false;
    if (!strcmp(backend, "help")) {
        printf("Available chardev backend types: \n");
        for (int i = 0; chardev_backends[i]; i++) {
            printf("  %s\n", chardev_backends[i]);
        }
        *help = true;
        return true;
    }
    if (!strcmp(backend, "socket")) {
        cs = chardev_spec_new(CHARDEV_SOCKET, opts);
        chardev_socket_defaults(cs);
    } else if (!strcmp(backend, "stdio")) {
        cs = chardev_spec_new(CHARDEV_STDIO, opts);
    } else if (!strcmp(backend, "null")) {
        cs = chardev_spec_new(CHARDEV_NULL, opts);
    } else if (!strcmp(backend, "file")) {
        cs = chardev_spec_new(CHARDEV_FILE, opts);
    } else {
        error_setg(errp, "'%s' is not a valid char driver name", backend);
        return false;
    }
    for (int i = 1; parts[i]; i++) {
        if (!chardev_opt(cs, backend, parts[i], errp)) {
            return false;
        }
    }
    if (!chardev_check(cs, errp)) {
        return false;
    }
    if (chardev_find(cs->id)) {
        error_setg(errp, "Duplicate ID '%s' for chardev", cs->id);
        return false;
    }
    if (!chardevs) {
        chardevs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                         (GDestroyNotify)chardev_spec_free);
    }
    g_hash_table_insert(chardevs, cs->id, cs);
    cs = NULL;
    return true;
}

ChardevSpec *chardev_find(const char *id)
{
    return chardevs && id ? g_hash_table_lookup(chardevs, id) : NULL;
}

void chardev_remove_all(void)
{
    g_clear_pointer(&chardevs, g_hash_table_destroy);
}

/* ---- stdio ---- */

bool chardev_claim_stdio(ChardevSpec *cs, GError **errp)
{
    if (stdio_forbidden) {
        error_setg(errp, "cannot use stdio with -daemonize");
        return false;
    }
    if (stdio_claimed && cs->stdio_claim != stdio_gen) {
        error_setg(errp, "cannot use stdio by multiple character devices");
        return false;
    }
    stdio_claimed = true;
    cs->stdio_claim = stdio_gen;
    return true;
}

void chardev_forbid_stdio(void)
{
    stdio_forbidden = true;
}

void chardev_release_stdio(void)
{
    stdio_claimed = false;
    stdio_gen++;
}

/* ---- sockets ---- */

/* "unix:PATH" or "tcp:HOST:PORT" for the socket channel helpers. */
static char *chardev_socket_addr(const ChardevSpec *cs)
{
    if (cs->path) {
        return g_strdup_printf("unix:%s", cs->path);
    }
    return g_strdup_printf("tcp:%s:%s", cs->host, cs->port);
}

/* Our own fd for the channel's socket, then drop the channel. */
static int chardev_take_fd(QIOChannelSocket *sioc, GError **errp)
{
    int fd = fcntl(sioc->fd, F_DUPFD_CLOEXEC, 0);

    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to duplicate socket");
    } else {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    /* A UNIX listener would unlink its node when dropped: not ours. */
    g_clear_pointer(&sioc->unix_path, g_free);
    qio_channel_unref(&sioc->parent);
    return fd;
}

static int chardev_unix_listen(const char *path, GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    mode_t old_umask;
    int ret;

    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create socket");
        return -1;
    }
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    if (unlink(path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, errno, "Failed to unlink socket %s", path);
        close(fd);
        return -1;
    }
    /*
     * The monitor is full control of the VM: only our user may connect.
     * The umask makes bind() create the node 0600 with no window where
     * it is wider; done at start-up, before other threads exist.
     */
    old_umask = umask(0077);
    ret = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old_umask);
    if (ret < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s", path);
        close(fd);
        return -1;
    }
    if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        error_setg_errno(errp, errno, "Failed to listen on socket %s", path);
        unlink(path);
        close(fd);
        return -1;
    }
    return fd;
}

int chardev_socket_listen(const ChardevSpec *cs, GError **errp)
{
    g_autofree char *addr = NULL;
    QIOChannelSocket *sioc;

    g_assert(cs->kind == CHARDEV_SOCKET);
    if (cs->fd >= 0) {
        int fd = fcntl(cs->fd, F_DUPFD_CLOEXEC, 0);

        if (fd < 0 || listen(fd, 16) < 0) {
            error_setg_errno(errp, errno, "Failed to listen on fd=%d", cs->fd);
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        return fd;
    }
    if (cs->path) {
        return chardev_unix_listen(cs->path, errp);
    }
    addr = chardev_socket_addr(cs);
    sioc = qio_channel_socket_listen_sync(addr, 16, errp);
    return sioc ? chardev_take_fd(sioc, errp) : -1;
}

int chardev_socket_connect(const ChardevSpec *cs, GError **errp)
{
    g_autofree char *addr = chardev_socket_addr(cs);
    QIOChannelSocket *sioc;
    int fd;

    g_assert(cs->kind == CHARDEV_SOCKET && cs->fd < 0);
    sioc = qio_channel_socket_connect_sync(addr, errp);
    if (!sioc) {
        return -1;
    }
    fd = chardev_take_fd(sioc, errp);
    if (fd >= 0 && cs->nodelay) {
        chardev_socket_set_nodelay(fd);
    }
    return fd;
}

void chardev_socket_set_nodelay(int fd)
{
    int one = 1;

    /* Fails (harmlessly) on a UNIX socket. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

char *chardev_socket_describe(const ChardevSpec *cs)
{
    if (cs->fd >= 0) {
        return g_strdup_printf("disconnected:fd=%d,server=on", cs->fd);
    }
    if (cs->path) {
        return g_strdup_printf("disconnected:unix:%s,server=on", cs->path);
    }
    return g_strdup_printf("disconnected:tcp:%s:%s,server=on", cs->host,
                           cs->port);
}
