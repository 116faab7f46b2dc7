/*
 * Unit tests for QIOChannelSocket: UNIX and TCP streams, fd passing.
 */
#include "qemu/osdep.h"
#include "io/channel-socket.h"
#include "io/channel-util.h"

#include <glib/gstdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define XFER_SIZE (8 * MiB + 123)

typedef struct {
    char *dir;
    char *path;
    char *addr;
} TmpSock;

static void tmp_sock_init(TmpSock *t)
{
    t->dir = g_build_filename(g_get_tmp_dir(), "test-io-sock-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(t->dir));
    t->path = g_build_filename(t->dir, "sock", NULL);
    t->addr = g_strdup_printf("unix:%s", t->path);
}

static void tmp_sock_cleanup(TmpSock *t)
{
    g_unlink(t->path);
    g_assert_cmpint(g_rmdir(t->dir), ==, 0);
    g_free(t->path);
    g_free(t->dir);
    g_free(t->addr);
}

typedef struct {
    QIOChannelSocket *server;
    QIOChannelSocket *client;
} SockPair;

/* Connect completes from the backlog, so one thread can do all three. */
static SockPair sock_pair(QIOChannelSocket *lis, const char *connect_addr)
{
    GError *err = NULL;
    SockPair p;

    p.client = qio_channel_socket_connect_sync(connect_addr, &err);
    g_assert_no_error(err);
    g_assert_nonnull(p.client);
    p.server = qio_channel_socket_accept(lis, &err);
    g_assert_no_error(err);
    g_assert_nonnull(p.server);
    return p;
}

static void sock_pair_free(SockPair *p)
{
    qio_channel_unref(&p->client->parent);
    qio_channel_unref(&p->server->parent);
}

static void fill_pattern(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 31 + (i >> 12));
    }
}

typedef struct {
    QIOChannel *ioc;
    const uint8_t *buf;
} WriterArg;

/* Several iovecs per call so writev_all has to advance across them. */
static gpointer writer_thread(gpointer opaque)
{
    WriterArg *w = opaque;
    GError *err = NULL;
    const size_t chunk = 1 * MiB + 17;

    for (size_t off = 0; off < XFER_SIZE; off += chunk) {
        size_t len = MIN(chunk, XFER_SIZE - off);
        size_t a = len / 3, b = len / 5;
        struct iovec iov[] = {
            { (void *)(w->buf + off), a },
            { (void *)(w->buf + off + a), b },
            { (void *)(w->buf + off + a + b), len - a - b },
        };
        g_assert_cmpint(qio_channel_writev_all(w->ioc, iov, 3, &err), ==, 0);
        g_assert_no_error(err);
    }
    return NULL;
}

static void roundtrip(QIOChannel *from, QIOChannel *to)
{
    GError *err = NULL;
    g_autofree uint8_t *src = g_malloc(XFER_SIZE);
    g_autofree uint8_t *dst = g_malloc0(XFER_SIZE);
    WriterArg w = { .ioc = from, .buf = src };

    fill_pattern(src, XFER_SIZE);
    GThread *th = g_thread_new("writer", writer_thread, &w);
    struct iovec iov[] = {
        { dst, 4096 },
        { dst + 4096, XFER_SIZE / 2 },
        { dst + 4096 + XFER_SIZE / 2, XFER_SIZE - 4096 - XFER_SIZE / 2 },
    };
    g_assert_cmpint(qio_channel_readv_all(to, iov, 3, &err), ==, 0);
    g_assert_no_error(err);
    g_thread_join(th);
    g_assert_true(memcmp(src, dst, XFER_SIZE) == 0);
}

static void test_socket_unix_roundtrip(void)
{
    GError *err = NULL;
    TmpSock t;

    tmp_sock_init(&t);
    QIOChannelSocket *lis = qio_channel_socket_listen_sync(t.addr, 1, &err);
    g_assert_no_error(err);
    g_assert_cmpint(qio_channel_socket_get_port(lis), ==, -1);

    SockPair p = sock_pair(lis, t.addr);
    g_assert_true(qio_channel_has_feature(&p.client->parent,
                                          QIO_CHANNEL_FEATURE_FD_PASS));
    g_assert_true(qio_channel_has_feature(&p.server->parent,
                                          QIO_CHANNEL_FEATURE_SHUTDOWN));
    g_assert_false(qio_channel_has_feature(&p.server->parent,
                                           QIO_CHANNEL_FEATURE_SEEKABLE));
    roundtrip(&p.client->parent, &p.server->parent);
    roundtrip(&p.server->parent, &p.client->parent);
    sock_pair_free(&p);

    /* The listener owns the path and removes it on close. */
    g_assert_true(g_file_test(t.path, G_FILE_TEST_EXISTS));
    qio_channel_unref(&lis->parent);
    g_assert_false(g_file_test(t.path, G_FILE_TEST_EXISTS));
    tmp_sock_cleanup(&t);
}

static void test_socket_tcp_roundtrip(void)
{
    GError *err = NULL;
    QIOChannelSocket *lis =
        qio_channel_socket_listen_sync("tcp:127.0.0.1:0", 1, &err);

    g_assert_no_error(err);
    int port = qio_channel_socket_get_port(lis);
    g_assert_cmpint(port, >, 0);

    g_autofree char *addr = g_strdup_printf("tcp:127.0.0.1:%d", port);
    SockPair p = sock_pair(lis, addr);
    g_assert_false(qio_channel_has_feature(&p.client->parent,
                                           QIO_CHANNEL_FEATURE_FD_PASS));
    g_assert_true(qio_channel_has_feature(&p.client->parent,
                                          QIO_CHANNEL_FEATURE_SHUTDOWN));
    roundtrip(&p.client->parent, &p.server->parent);
    roundtrip(&p.server->parent, &p.client->parent);

    /* No fd passing over TCP. */
    int fd = 0;
    struct iovec iov = { (void *)"x", 1 };
    g_assert_cmpint(
        qio_channel_writev_full(&p.client->parent, &iov, 1, &fd, 1, &err), ==,
        -1);
    g_assert_nonnull(err);
    g_clear_error(&err);
    sock_pair_free(&p);
    qio_channel_unref(&lis->parent);
}

static void test_socket_tcp_any_host(void)
{
    GError *err = NULL;
    QIOChannelSocket *lis = qio_channel_socket_listen_sync("tcp::0", 1, &err);

    g_assert_no_error(err);
    int port = qio_channel_socket_get_port(lis);
    g_assert_cmpint(port, >, 0);
    g_autofree char *addr = g_strdup_printf("tcp:localhost:%d", port);
    QIOChannelSocket *c = qio_channel_socket_connect_sync(addr, &err);
    if (!c) {
        /* localhost may resolve to ::1 only while we listen on IPv4. */
        g_clear_error(&err);
        g_free(addr);
        addr = g_strdup_printf("tcp:127.0.0.1:%d", port);
        c = qio_channel_socket_connect_sync(addr, &err);
    }
    g_assert_no_error(err);
    qio_channel_unref(&c->parent);
    qio_channel_unref(&lis->parent);
}

static void test_socket_tcp_ipv6(void)
{
    GError *err = NULL;
    QIOChannelSocket *lis =
        qio_channel_socket_listen_sync("tcp:[::1]:0", 1, &err);

    if (!lis) {
        g_test_skip("no IPv6 loopback");
        g_clear_error(&err);
        return;
    }
    int port = qio_channel_socket_get_port(lis);
    g_autofree char *addr = g_strdup_printf("tcp:[::1]:%d", port);
    SockPair p = sock_pair(lis, addr);
    g_assert_cmpint(qio_channel_write_all(&p.client->parent, "v6", 2, &err), ==,
                    0);
    char buf[2];
    g_assert_cmpint(qio_channel_read_all(&p.server->parent, buf, 2, &err), ==,
                    0);
    g_assert_cmpmem(buf, 2, "v6", 2);
    sock_pair_free(&p);
    qio_channel_unref(&lis->parent);
}

static bool fd_is_cloexec(int fd)
{
    int flags = fcntl(fd, F_GETFD);
    g_assert_cmpint(flags, >=, 0);
    return flags & FD_CLOEXEC;
}

/* Send the write end of a pipe over @from, use it from the receiver. */
static void pass_pipe(QIOChannel *from, QIOChannel *to)
{
    GError *err = NULL;
    int p[2];
    char c = 'F';
    struct iovec iov = { &c, 1 };
    g_autofree int *fds = NULL;
    size_t nfds = 99;

    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    g_assert_cmpint(qio_channel_writev_full(from, &iov, 1, &p[1], 1, &err), ==,
                    1);
    g_assert_no_error(err);
    /* Sender keeps its own copy; close it so EOF proves the handover. */
    close(p[1]);

    c = 0;
    g_assert_cmpint(qio_channel_readv_full(to, &iov, 1, &fds, &nfds, &err), ==,
                    1);
    g_assert_no_error(err);
    g_assert_cmpint(c, ==, 'F');
    g_assert_cmpuint(nfds, ==, 1);
    g_assert_nonnull(fds);
    g_assert_true(fd_is_cloexec(fds[0]));

    g_assert_cmpint(write(fds[0], "hello", 5), ==, 5);
    close(fds[0]);
    char buf[16];
    g_assert_cmpint(read(p[0], buf, sizeof(buf)), ==, 5);
    g_assert_cmpmem(buf, 5, "hello", 5);
    g_assert_cmpint(read(p[0], buf, sizeof(buf)), ==, 0);
    close(p[0]);
}

static void test_socket_fd_pass(void)
{
    GError *err = NULL;
    TmpSock t;

    tmp_sock_init(&t);
    QIOChannelSocket *lis = qio_channel_socket_listen_sync(t.addr, 1, &err);
    g_assert_no_error(err);
    SockPair p = sock_pair(lis, t.addr);

    pass_pipe(&p.client->parent, &p.server->parent);
    pass_pipe(&p.server->parent, &p.client->parent);

    /* Data without fds: the receiver gets an empty list. */
    g_autofree int *fds = NULL;
    size_t nfds = 99;
    char c = 'x';
    struct iovec iov = { &c, 1 };
    g_assert_cmpint(qio_channel_write(&p.client->parent, &c, 1, &err), ==, 1);
    g_assert_cmpint(
        qio_channel_readv_full(&p.server->parent, &iov, 1, &fds, &nfds, &err),
        ==, 1);
    g_assert_cmpuint(nfds, ==, 0);
    g_assert_null(fds);

    /* Through qio_channel_new_fd() a UNIX socket still passes fds. */
    int dupfd =
        fcntl(qio_channel_get_fd(&p.client->parent), F_DUPFD_CLOEXEC, 0);
    QIOChannel *wrapped = qio_channel_new_fd(dupfd, &err);
    g_assert_no_error(err);
    g_assert_true(
        qio_channel_has_feature(wrapped, QIO_CHANNEL_FEATURE_FD_PASS));
    pass_pipe(wrapped, &p.server->parent);
    qio_channel_unref(wrapped);

    sock_pair_free(&p);
    qio_channel_unref(&lis->parent);
    tmp_sock_cleanup(&t);
}

static void test_socket_connect_missing(void)
{
    GError *err = NULL;
    TmpSock t;

    tmp_sock_init(&t);
    g_assert_null(qio_channel_socket_connect_sync(t.addr, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, t.path));
    g_assert_nonnull(strstr(err->message, g_strerror(ENOENT)));
    g_clear_error(&err);

    /* Malformed addresses. */
    static const char *bad[] = {
        "unix:",    "tcp:",          "tcp:127.0.0.1", "tcp:127.0.0.1:",
        "tcp:[::1", "udp:1.2.3.4:5", "/tmp/x",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        g_assert_null(qio_channel_socket_connect_sync(bad[i], &err));
        g_assert_nonnull(err);
        g_clear_error(&err);
    }
    tmp_sock_cleanup(&t);
}

static void test_socket_shutdown(void)
{
    GError *err = NULL;
    TmpSock t;
    char buf[4];
    struct iovec iov = { buf, sizeof(buf) };

    tmp_sock_init(&t);
    QIOChannelSocket *lis = qio_channel_socket_listen_sync(t.addr, 1, &err);
    g_assert_no_error(err);
    SockPair p = sock_pair(lis, t.addr);

    g_assert_cmpint(qio_channel_write_all(&p.client->parent, "last", 4, &err),
                    ==, 0);
    g_assert_cmpint(qio_channel_shutdown(&p.client->parent,
                                         QIO_CHANNEL_SHUTDOWN_WRITE, &err),
                    ==, 0);
    g_assert_no_error(err);
    /* Data sent before the shutdown arrives, then a clean EOF. */
    g_assert_cmpint(qio_channel_readv_all_eof(&p.server->parent, &iov, 1, &err),
                    ==, 1);
    g_assert_cmpmem(buf, 4, "last", 4);
    g_assert_cmpint(qio_channel_readv_all_eof(&p.server->parent, &iov, 1, &err),
                    ==, 0);
    g_assert_no_error(err);

    /* The other direction still works after a half close. */
    g_assert_cmpint(qio_channel_write_all(&p.server->parent, "back", 4, &err),
                    ==, 0);
    g_assert_cmpint(qio_channel_read_all(&p.client->parent, buf, 4, &err), ==,
                    0);
    g_assert_cmpmem(buf, 4, "back", 4);

    /* Shutting down both unblocks our own reads too. */
    g_assert_cmpint(qio_channel_shutdown(&p.server->parent,
                                         QIO_CHANNEL_SHUTDOWN_BOTH, &err),
                    ==, 0);
    g_assert_cmpint(qio_channel_read(&p.client->parent, buf, 4, &err), ==, 0);
    g_assert_no_error(err);

    sock_pair_free(&p);
    qio_channel_unref(&lis->parent);
    tmp_sock_cleanup(&t);
}

/* SIGPIPE is left at its default here: MSG_NOSIGNAL must turn it to EPIPE. */
static void test_socket_epipe(void)
{
    GError *err = NULL;
    TmpSock t;
    char buf[4096] = { 0 };
    int rc = 0;

    tmp_sock_init(&t);
    QIOChannelSocket *lis = qio_channel_socket_listen_sync(t.addr, 1, &err);
    g_assert_no_error(err);
    SockPair p = sock_pair(lis, t.addr);
    qio_channel_unref(&p.server->parent);

    for (int i = 0; i < 100 && rc == 0; i++) {
        rc = qio_channel_write_all(&p.client->parent, buf, sizeof(buf), &err);
    }
    g_assert_cmpint(rc, ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, t.path));
    g_clear_error(&err);

    qio_channel_unref(&p.client->parent);
    qio_channel_unref(&lis->parent);
    tmp_sock_cleanup(&t);
}

static void test_socket_stale_path(void)
{
    GError *err = NULL;
    TmpSock t;
    struct sockaddr_un un = { .sun_family = AF_UNIX };

    tmp_sock_init(&t);
    /* A socket file left by a listener that died without cleaning up. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fd, >=, 0);
    g_strlcpy(un.sun_path, t.path, sizeof(un.sun_path));
    g_assert_cmpint(bind(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    close(fd);
    g_assert_true(g_file_test(t.path, G_FILE_TEST_EXISTS));

    QIOChannelSocket *lis = qio_channel_socket_listen_sync(t.addr, 1, &err);
    g_assert_no_error(err);
    g_assert_nonnull(lis);

    /* A live listener is not stolen. */
    g_assert_null(qio_channel_socket_listen_sync(t.addr, 1, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, t.path));
    g_clear_error(&err);
    g_assert_true(g_file_test(t.path, G_FILE_TEST_EXISTS));

    SockPair p = sock_pair(lis, t.addr);
    sock_pair_free(&p);
    qio_channel_unref(&lis->parent);

    /* A regular file in the way is not deleted. */
    g_assert_true(g_file_set_contents(t.path, "keep", 4, NULL));
    g_assert_null(qio_channel_socket_listen_sync(t.addr, 1, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_true(g_file_test(t.path, G_FILE_TEST_IS_REGULAR));

    tmp_sock_cleanup(&t);
}

static void test_socket_new_fd(void)
{
    GError *err = NULL;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==,
                    0);
    QIOChannel *a = qio_channel_new_fd(sv[0], &err);
    g_assert_no_error(err);
    QIOChannelSocket *b = qio_channel_socket_new_fd(sv[1], &err);
    g_assert_no_error(err);
    g_assert_true(qio_channel_has_feature(a, QIO_CHANNEL_FEATURE_SHUTDOWN));
    g_assert_true(b->is_unix);
    g_assert_cmpint(qio_channel_get_fd(a), ==, sv[0]);

    g_assert_cmpint(qio_channel_set_blocking(a, false, &err), ==, 0);
    char c;
    g_assert_cmpint(qio_channel_read(a, &c, 1, &err), ==, -1);
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpint(qio_channel_set_blocking(a, true, &err), ==, 0);
    g_assert_cmpint(qio_channel_write_all(&b->parent, "z", 1, &err), ==, 0);
    g_assert_cmpint(qio_channel_read(a, &c, 1, &err), ==, 1);
    g_assert_cmpint(c, ==, 'z');

    qio_channel_unref(a);
    qio_channel_unref(&b->parent);

    /* Not a socket. */
    int p[2];
    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    g_assert_null(qio_channel_socket_new_fd(p[0], &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    close(p[0]);
    close(p[1]);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/channel/socket/unix", test_socket_unix_roundtrip);
    g_test_add_func("/io/channel/socket/tcp", test_socket_tcp_roundtrip);
    g_test_add_func("/io/channel/socket/tcp-any", test_socket_tcp_any_host);
    g_test_add_func("/io/channel/socket/tcp-ipv6", test_socket_tcp_ipv6);
    g_test_add_func("/io/channel/socket/fd-pass", test_socket_fd_pass);
    g_test_add_func("/io/channel/socket/connect-missing",
                    test_socket_connect_missing);
    g_test_add_func("/io/channel/socket/shutdown", test_socket_shutdown);
    g_test_add_func("/io/channel/socket/epipe", test_socket_epipe);
    g_test_add_func("/io/channel/socket/stale-path", test_socket_stale_path);
    g_test_add_func("/io/channel/socket/new-fd", test_socket_new_fd);
    return g_test_run();
}
