/*
 * QIOChannelSocket: stream sockets, UNIX and TCP.
 *
 * Addresses are written as in migration URIs without the scheme
 * prefix handled by the caller: "unix:/path" or "tcp:HOST:PORT"
 * (HOST may be empty or "0" for any address on listen; IPv6 in [..]).
 * UNIX sockets carry fds with SCM_RIGHTS (feature FD_PASS).
 */
#ifndef IO_CHANNEL_SOCKET_H
#define IO_CHANNEL_SOCKET_H

#include "io/channel.h"

typedef struct QIOChannelSocket {
    QIOChannel parent;
    int fd;
    bool is_unix;
    char *unix_path; /* listener only: unlinked when closed */
} QIOChannelSocket;

/* Wrap a connected (or listening) socket fd; the channel owns it. */
QIOChannelSocket *qio_channel_socket_new_fd(int fd, GError **errp);
/* Connect, blocking. */
QIOChannelSocket *qio_channel_socket_connect_sync(const char *addr,
                                                  GError **errp);
/*
 * Listen on @addr (backlog @num).  For tcp port 0 the kernel picks a
 * port: see qio_channel_socket_get_port().  A UNIX path that exists
 * as a stale socket is replaced; the listener unlinks it on close.
 */
QIOChannelSocket *qio_channel_socket_listen_sync(const char *addr, int num,
                                                 GError **errp);
/* Accept one connection, blocking. */
QIOChannelSocket *qio_channel_socket_accept(QIOChannelSocket *listener,
                                            GError **errp);
/* Local TCP port of a bound socket, or -1. */
int qio_channel_socket_get_port(QIOChannelSocket *sioc);

#endif
