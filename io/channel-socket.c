/*
 * QIOChannelSocket: UNIX and TCP stream sockets.
 */
#include "qemu/osdep.h"
#include "io/channel-socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define SOCK_CHAN(ioc) ((QIOChannelSocket *)(ioc))

/* Most fds carried by one message; more is a protocol error. */
#define SOCKET_MAX_FDS 16

static const QIOChannelClass qio_channel_socket_class;

/*
 * Address parsing
 */

typedef struct SocketAddr {
    bool is_unix;
    char *path; /* unix */
    char *host; /* tcp: NULL means "any" (listen) or loopback */
    char *port;
} SocketAddr;

static void socket_addr_free(SocketAddr *sa)
{
    g_free(sa->path);
    g_free(sa->host);
    g_free(sa->port);
}

static bool socket_addr_parse(const char *addr, SocketAddr *sa, GError **errp)
{
    memset(sa, 0, sizeof(*sa));

    if (g_str_has_prefix(addr, "unix:")) {
        const char *path = addr + strlen("unix:");
        if (!*path) {
            error_setg(errp, "Missing path in socket address '%s'", addr);
            return false;
        }
        if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            error_setg_errno(errp, ENAMETOOLONG, "Invalid socket address '%s'",
                             addr);
            return false;
        }
        sa->is_unix = true;
        sa->path = g_strdup(path);
        return true;
    }

    if (!g_str_has_prefix(addr, "tcp:")) {
        error_setg(errp,
                   "Unknown socket address '%s' "
                   "(expected unix:PATH or tcp:HOST:PORT)",
                   addr);
        return false;
    }

    const char *hp = addr + strlen("tcp:");
    const char *colon;
    g_autofree char *host = NULL;

    if (hp[0] == '[') {
        /* IPv6 literal: the colons inside the brackets are not the port's. */
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':') {
            error_setg(errp, "Invalid IPv6 address in '%s'", addr);
            return false;
        }
        host = g_strndup(hp + 1, close - hp - 1);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) {
            error_setg(errp, "Missing port in socket address '%s'", addr);
            return false;
        }
        host = g_strndup(hp, colon - hp);
    }
    if (!colon[1]) {
        error_setg(errp, "Missing port in socket address '%s'", addr);
        return false;
    }
    sa->is_unix = false;
    /* "" and "0" mean any address, as in QEMU's "tcp::4444" / "tcp:0:4444". */
    if (*host && strcmp(host, "0") != 0) {
        sa->host = g_steal_pointer(&host);
    }
    sa->port = g_strdup(colon + 1);
    return true;
}

static void socket_addr_to_un(const SocketAddr *sa, struct sockaddr_un *un)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    /* Length checked by socket_addr_parse(). */
    memcpy(un->sun_path, sa->path, strlen(sa->path) + 1);
}

static struct addrinfo *socket_addr_resolve(const char *addr,
                                            const SocketAddr *sa, bool passive,
                                            GError **errp)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = passive ? AI_PASSIVE : 0,
    };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(sa->host, sa->port, &hints, &res);

    if (rc != 0) {
        if (rc == EAI_SYSTEM) {
            error_setg_errno(errp, errno, "Unable to resolve '%s'", addr);
        } else {
            error_setg(errp, "Unable to resolve '%s': %s", addr,
                       gai_strerror(rc));
        }
        return NULL;
    }
    return res;
}

/*
 * Channel construction
 */

static QIOChannelSocket *socket_chan_new(int fd, bool is_unix, const char *name)
{
    QIOChannelSocket *sioc = g_new0(QIOChannelSocket, 1);

    qio_channel_init(&sioc->parent, &qio_channel_socket_class);
    sioc->fd = fd;
    sioc->is_unix = is_unix;
    sioc->parent.features |= QIO_CHANNEL_FEATURE_SHUTDOWN;
    if (is_unix) {
        sioc->parent.features |= QIO_CHANNEL_FEATURE_FD_PASS;
    }
    if (name) {
        qio_channel_set_name(&sioc->parent, name);
    }
    return sioc;
}

QIOChannelSocket *qio_channel_socket_new_fd(int fd, GError **errp)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
        error_setg_errno(errp, errno, "Unable to query socket fd %d", fd);
        return NULL;
    }
    return socket_chan_new(fd, ss.ss_family == AF_UNIX, NULL);
}

/* Create a socket; failure paths below report @addr. */
static int socket_create(int family, const char *addr, GError **errp)
{
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        error_setg_errno(errp, errno, "Unable to create socket for '%s'", addr);
    }
    return fd;
}

static int socket_connect_fd(int fd, const struct sockaddr *sa, socklen_t len)
{
    int rc;

    do {
        rc = connect(fd, sa, len);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

static int socket_connect_unix(const char *addr, const SocketAddr *sa,
                               GError **errp)
{
    struct sockaddr_un un;
    int fd = socket_create(AF_UNIX, addr, errp);

    if (fd < 0) {
        return -1;
    }
    socket_addr_to_un(sa, &un);
    if (socket_connect_fd(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        error_setg_errno(errp, errno, "Failed to connect to '%s'", addr);
        close(fd);
        return -1;
    }
    return fd;
}

/* Connect @fd to @ai; 0 or -1 with errno set. */
static int socket_tcp_connect_ai(int fd, const struct addrinfo *ai, int num)
{
    return socket_connect_fd(fd, ai->ai_addr, ai->ai_addrlen);
}

/* Bind @fd to @ai and listen with a backlog of @num; 0 or -1 and errno. */
static int socket_tcp_listen_ai(int fd, const struct addrinfo *ai, int num)
{
    int one = 1;

    /* Let a restarted destination reuse a port still in TIME_WAIT. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        return -1;
    }
    return listen(fd, num);
}

/*
 * Try every address @addr resolves to, as QEMU's inet_connect and
 * inet_listen do, until @setup works on a socket for one of them.
 */
static int
socket_tcp_open(const char *addr, const SocketAddr *sa, bool passive, int num,
                int (*setup)(int fd, const struct addrinfo *ai, int num),
                GError **errp)
{
    struct addrinfo *res = socket_addr_resolve(addr, sa, passive, errp);
    int err = EADDRNOTAVAIL;
    int fd = -1;

    if (!res) {
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (setup(fd, ai, num) == 0) {
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, err, "Failed to %s '%s'",
                         passive ? "listen on" : "connect to", addr);
    }
    return fd;
}

static int socket_connect_tcp(const char *addr, const SocketAddr *sa,
                              GError **errp)
{
    return socket_tcp_open(addr, sa, false, 0, socket_tcp_connect_ai, errp);
}

QIOChannelSocket *qio_channel_socket_connect_sync(const char *addr,
                                                  GError **errp)
{
    SocketAddr sa;
    int fd;

    if (!socket_addr_parse(addr, &sa, errp)) {
        return NULL;
    }
    fd = sa.is_unix ? socket_connect_unix(addr, &sa, errp)
                    : socket_connect_tcp(addr, &sa, errp);
    bool is_unix = sa.is_unix;
    socket_addr_free(&sa);
    if (fd < 0) {
        return NULL;
    }
    return socket_chan_new(fd, is_unix, addr);
}

/*
 * A socket file left behind by a dead listener makes bind() fail with
 * EADDRINUSE.  Remove it, but only if it is a socket nobody listens on:
 * never delete a regular file or steal a live listener's address.
 */
static bool socket_unlink_stale(const char *addr, const SocketAddr *sa,
                                GError **errp)
{
    struct stat st;
    struct sockaddr_un un;

    if (lstat(sa->path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        return true; /* bind() reports anything odd */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Unable to create socket for '%s'", addr);
        return false;
    }
    socket_addr_to_un(sa, &un);
    int rc = socket_connect_fd(fd, (struct sockaddr *)&un, sizeof(un));
    int err = errno;
    close(fd);
    if (rc == 0) {
        error_setg_errno(errp, EADDRINUSE, "Failed to listen on '%s'", addr);
        return false;
    }
    if (err == ECONNREFUSED && unlink(sa->path) < 0 && errno != ENOENT) {
        error_setg_errno(errp, errno, "Unable to remove stale socket '%s'",
                         sa->path);
        return false;
    }
    return true;
}

static int socket_listen_unix(const char *addr, const SocketAddr *sa, int num,
                              GError **errp)
{
    struct sockaddr_un un;
    int fd;

    if (!socket_unlink_stale(addr, sa, errp)) {
        return -1;
    }
    fd = socket_create(AF_UNIX, addr, errp);
    if (fd < 0) {
        return -1;
    }
    socket_addr_to_un(sa, &un);
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to '%s'", addr);
        close(fd);
        return -1;
    }
    if (listen(fd, num) < 0) {
        error_setg_errno(errp, errno, "Failed to listen on '%s'", addr);
        close(fd);
        unlink(sa->path);
        return -1;
    }
    return fd;
}

static int socket_listen_tcp(const char *addr, const SocketAddr *sa, int num,
                             GError **errp)
{
    return socket_tcp_open(addr, sa, true, num, socket_tcp_listen_ai, errp);
}

QIOChannelSocket *qio_channel_socket_listen_sync(const char *addr, int num,
                                                 GError **errp)
{
    SocketAddr sa;
    QIOChannelSocket *sioc;
    int fd;

    if (!socket_addr_parse(addr, &sa, errp)) {
        return NULL;
    }
    fd = sa.is_unix ? socket_listen_unix(addr, &sa, num, errp)
                    : socket_listen_tcp(addr, &sa, num, errp);
    if (fd < 0) {
        socket_addr_free(&sa);
        return NULL;
    }
    sioc = socket_chan_new(fd, sa.is_unix, addr);
    if (sa.is_unix) {
        sioc->unix_path = g_steal_pointer(&sa.path);
    }
    socket_addr_free(&sa);
    return sioc;
}

QIOChannelSocket *qio_channel_socket_accept(QIOChannelSocket *listener,
                                            GError **errp)
{
    int fd;

    do {
        fd = accept4(listener->fd, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Unable to accept connection on '%s'",
                         listener->parent.name);
        return NULL;
    }
    g_autofree char *name =
        g_strdup_printf("%s (accepted)", listener->parent.name);
    return socket_chan_new(fd, listener->is_unix, name);
}

int qio_channel_socket_get_port(QIOChannelSocket *sioc)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(sioc->fd, (struct sockaddr *)&ss, &len) < 0) {
        return -1;
    }
    switch (ss.ss_family) {
    case AF_INET:
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    case AF_INET6:
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    default:
        return -1;
    }
}

/*
 * I/O
 */

/* Hand the SCM_RIGHTS fds of @msg to the caller, or close them. */
static bool socket_collect_fds(QIOChannel *ioc, struct msghdr *msg, int **fds,
                               size_t *nfds, GError **errp)
{
    g_autofree int *got = NULL;
    size_t n = 0;

    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
         cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        got = g_renew(int, got, n + cnt);
        memcpy(got + n, CMSG_DATA(cm), cnt * sizeof(int));
        n += cnt;
    }
    if (msg->msg_flags & MSG_CTRUNC) {
        /* The kernel dropped some fds: the message is unusable. */
        for (size_t i = 0; i < n; i++) {
            close(got[i]);
        }
        error_setg(errp, "Too many file descriptors received on '%s'",
                   ioc->name);
        return false;
    }
    if (n) {
        *fds = g_steal_pointer(&got);
        *nfds = n;
    }
    return true;
}

/* Room for the descriptors of one message, aligned for its header. */
typedef union SocketControl {
    char buf[CMSG_SPACE(sizeof(int) * SOCKET_MAX_FDS)];
    struct cmsghdr align;
} SocketControl;

static struct msghdr socket_msghdr(const struct iovec *iov, size_t niov)
{
    return (struct msghdr){ .msg_iov = (struct iovec *)iov,
                            .msg_iovlen = MIN(niov, (size_t)IOV_MAX) };
}

static ssize_t socket_readv(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, int **fds, size_t *nfds, GError **errp)
{
    SocketControl control;
    struct msghdr msg = socket_msghdr(iov, niov);
    ssize_t n;

    if (fds) {
        *fds = NULL;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
    }
    if (nfds) {
        *nfds = 0;
    }
    do {
        n = recvmsg(SOCK_CHAN(ioc)->fd, &msg, fds ? MSG_CMSG_CLOEXEC : 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to read from '%s'", ioc->name);
        return -1;
    }
    if (fds && !socket_collect_fds(ioc, &msg, fds, nfds, errp)) {
        return -1;
    }
    return n;
}

static ssize_t socket_writev(QIOChannel *ioc, const struct iovec *iov,
                             size_t niov, int *fds, size_t nfds, GError **errp)
{
    SocketControl control;
    struct msghdr msg = socket_msghdr(iov, niov);
    ssize_t n;

    if (nfds) {
        if (nfds > SOCKET_MAX_FDS) {
            error_setg(errp, "Too many file descriptors (%zu) for '%s'", nfds,
                       ioc->name);
            return -1;
        }
        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
    }
    /* MSG_NOSIGNAL: a vanished peer is an EPIPE error, not a SIGPIPE. */
    do {
        n = sendmsg(SOCK_CHAN(ioc)->fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to write to '%s'", ioc->name);
    }
    return n;
}

static int socket_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                           GError **errp)
{
    int sh;

    switch (how) {
    case QIO_CHANNEL_SHUTDOWN_READ:
        sh = SHUT_RD;
        break;
    case QIO_CHANNEL_SHUTDOWN_WRITE:
        sh = SHUT_WR;
        break;
    default:
        sh = SHUT_RDWR;
        break;
    }
    if (shutdown(SOCK_CHAN(ioc)->fd, sh) < 0) {
        error_setg_errno(errp, errno, "Unable to shut down '%s'", ioc->name);
        return -1;
    }
    return 0;
}

static int socket_close(QIOChannel *ioc, GError **errp)
{
    QIOChannelSocket *sioc = SOCK_CHAN(ioc);
    int ret = 0;

    if (sioc->unix_path) {
        /* Only the listener owns the path; unlink before a new one binds. */
        if (unlink(sioc->unix_path) < 0 && errno != ENOENT) {
            error_setg_errno(errp, errno, "Unable to remove '%s'",
                             sioc->unix_path);
            ret = -1;
        }
        g_clear_pointer(&sioc->unix_path, g_free);
    }
    /* EINTR: Linux has released the fd anyway, do not retry. */
    if (sioc->fd >= 0 && close(sioc->fd) < 0 && errno != EINTR && ret == 0) {
        error_setg_errno(errp, errno, "Unable to close '%s'", ioc->name);
        ret = -1;
    }
    sioc->fd = -1;
    return ret;
}

static int socket_get_fd(QIOChannel *ioc)
{
    return SOCK_CHAN(ioc)->fd;
}

static void socket_finalize(QIOChannel *ioc)
{
    g_free(SOCK_CHAN(ioc)->unix_path);
}

static const QIOChannelClass qio_channel_socket_class = {
    .type_name = "socket",
    .io_readv = socket_readv,
    .io_writev = socket_writev,
    .io_close = socket_close,
    .io_shutdown = socket_shutdown,
    .io_get_fd = socket_get_fd,
    .io_finalize = socket_finalize,
};
