/*
 * Test helpers: a UNIX socket client for the monitor tests, driven from
 * the test thread while it also iterates the default main context (where
 * the monitor under test runs).
 */
#ifndef TESTS_UNIT_MON_CLIENT_H
#define TESTS_UNIT_MON_CLIENT_H

#include "qemu/osdep.h"

#include <sys/socket.h>
#include <sys/un.h>

typedef struct MonClient {
    int fd;
    GString *in;
} MonClient;

static inline MonClient *mon_client_connect(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    MonClient *c = g_new0(MonClient, 1);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(c->fd, >=, 0);
    /* The listener's backlog accepts us before the main loop runs. */
    g_assert_cmpint(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)), ==,
                    0);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->in = g_string_new(NULL);
    return c;
}

static inline void mon_client_close(MonClient *c)
{
    close(c->fd);
    g_string_free(c->in, TRUE);
    g_free(c);
}

/* Let the monitor run a little. */
static inline void mon_pump(void)
{
    for (int i = 0; i < 20; i++) {
        g_main_context_iteration(NULL, FALSE);
    }
}

static inline void mon_client_send_len(MonClient *c, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);

        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            /* The server must drain us: run its loop. */
            g_main_context_iteration(NULL, FALSE);
            continue;
        }
        g_assert_cmpint(n, >, 0);
        s += n;
        len -= n;
    }
}

static inline void mon_client_send(MonClient *c, const char *s)
{
    mon_client_send_len(c, s, strlen(s));
}

/* Pull what the socket has; false on EOF. */
static inline bool mon_client_fill(MonClient *c)
{
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n > 0) {
        g_string_append_len(c->in, buf, n);
    }
    return n != 0;
}

/*
 * Wait (iterating the main context) until @c's input contains @delim;
 * return everything up to and including it.  Fails the test after 10 s.
 */
static inline char *mon_client_read_until(MonClient *c, const char *delim)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

    for (;;) {
        char *p = strstr(c->in->str, delim);

        if (p) {
            size_t len = p - c->in->str + strlen(delim);
            char *ret = g_strndup(c->in->str, len);

            g_string_erase(c->in, 0, len);
            return ret;
        }
        g_assert_true(g_get_monotonic_time() < deadline);
        g_main_context_iteration(NULL, FALSE);
        if (!mon_client_fill(c)) {
            g_assert_not_reached();
        }
        g_usleep(200);
    }
}

/* True if nothing arrives for a short while. */
static inline bool mon_client_quiet(MonClient *c)
{
    mon_pump();
    g_usleep(20000);
    mon_pump();
    mon_client_fill(c);
    return c->in->len == 0;
}

#endif
