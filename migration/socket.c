/*
 * The unix: and tcp: migration transports (see socket.h).
 */
#include "qemu/osdep.h"
#include "io/channel-socket.h"
#include "migration/socket.h"

/* Backlog: the main connection plus one per multifd channel may queue. */
#define SOCKET_LISTEN_BACKLOG 256

static char *outgoing_addr; /* BQL or the migration thread */

QIOChannel *socket_start_outgoing(const MigrationAddress *addr, GError **errp)
{
    QIOChannelSocket *s = qio_channel_socket_connect_sync(addr->path, errp);

    if (!s) {
        return NULL;
    }
    socket_cleanup();
    outgoing_addr = g_strdup(addr->path);
    return &s->parent;
}

QIOChannel *socket_start_incoming(const MigrationAddress *addr, GError **errp)
{
    QIOChannelSocket *s =
        qio_channel_socket_listen_sync(addr->path, SOCKET_LISTEN_BACKLOG, errp);

    return s ? &s->parent : NULL;
}

QIOChannel *socket_multifd_channel_new(GError **errp)
{
    QIOChannelSocket *s;

    if (!outgoing_addr) {
        error_setg(errp, "multifd needs a unix: or tcp: migration URI");
        return NULL;
    }
    s = qio_channel_socket_connect_sync(outgoing_addr, errp);
    return s ? &s->parent : NULL;
}

void socket_cleanup(void)
{
    g_clear_pointer(&outgoing_addr, g_free);
}
