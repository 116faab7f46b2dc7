/*
 * Migration URIs and their channels: file:, exec:, unix:, tcp:, fd:.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "io/channel-command.h"
#include "io/channel-file.h"
#include "io/channel-socket.h"
#include "migration/migration.h"
#include "migration/options.h"

/* "PATH[,offset=N]": as QEMU, the last ",offset=" splits the string. */
static bool parse_file_uri(const char *rest, MigrationAddress *addr,
                           GError **errp)
{
    const char *opt = g_strrstr(rest, ",offset=");

    addr->offset = 0;
    if (opt) {
        if (qemu_strtosz(opt + strlen(",offset="), NULL, &addr->offset)) {
            error_setg(errp, "file URI has bad offset %s",
                       opt + strlen(",offset="));
            return false;
        }
        addr->path = g_strndup(rest, opt - rest);
    } else {
        addr->path = g_strdup(rest);
    }
    if (!*addr->path) {
        error_setg(errp, "file URI needs a path");
        return false;
    }
    return true;
}

bool migration_parse_uri(const char *uri, MigrationAddress *addr, GError **errp)
{
    memset(addr, 0, sizeof(*addr));
    if (g_str_has_prefix(uri, "file:")) {
        addr->transport = MIG_TRANSPORT_FILE;
        return parse_file_uri(uri + 5, addr, errp);
    }
    if (g_str_has_prefix(uri, "exec:")) {
        addr->transport = MIG_TRANSPORT_EXEC;
        addr->path = g_strdup(uri + 5);
        if (!*addr->path) {
            error_setg(errp, "exec URI needs a command");
            return false;
        }
        return true;
    }
    if (g_str_has_prefix(uri, "unix:") || g_str_has_prefix(uri, "tcp:")) {
        addr->transport = MIG_TRANSPORT_SOCKET;
        addr->path = g_strdup(uri);
        return true;
    }
    if (g_str_has_prefix(uri, "fd:")) {
        addr->transport = MIG_TRANSPORT_FD;
        addr->path = g_strdup(uri + 3);
        return true;
    }
    error_setg(errp,
               "Invalid migration URI '%s' (expected file:, exec:, "
               "unix:, tcp: or fd:)",
               uri);
    return false;
}

void migration_address_clear(MigrationAddress *addr)
{
    g_free(addr->path);
    addr->path = NULL;
}

static QIOChannel *open_outgoing_file(const MigrationAddress *addr,
                                      GError **errp)
{
    QIOChannelFile *fioc =
        migration_file_open(addr->path, O_CREAT | O_WRONLY, 0600, errp);
    if (!fioc) {
        return NULL;
    }
    QIOChannel *ioc = &fioc->parent;
    /* Keep the management tool's bytes before the offset, drop the rest. */
    if (ftruncate(fioc->fd, addr->offset) < 0) {
        error_setg_errno(errp, errno, "Could not truncate '%s'", addr->path);
        qio_channel_unref(ioc);
        return NULL;
    }
    if (qio_channel_seek(ioc, addr->offset, SEEK_SET, errp) < 0) {
        qio_channel_unref(ioc);
        return NULL;
    }
    return ioc;
}

QIOChannel *migration_connect_outgoing(const MigrationAddress *addr,
                                       GError **errp)
{
    switch (addr->transport) {
    case MIG_TRANSPORT_FILE:
        return open_outgoing_file(addr, errp);
    case MIG_TRANSPORT_EXEC: {
        QIOChannelCommand *c =
            qio_channel_command_new_spawn(addr->path, O_WRONLY, errp);
        return c ? &c->parent : NULL;
    }
    case MIG_TRANSPORT_SOCKET: {
        QIOChannelSocket *s = qio_channel_socket_connect_sync(addr->path, errp);
        return s ? &s->parent : NULL;
    }
    case MIG_TRANSPORT_FD:
        return fd_open_channel(addr->path, errp);
    }
    return NULL;
}

QIOChannel *migration_open_incoming(const MigrationAddress *addr,
                                    bool *is_listener, GError **errp)
{
    *is_listener = false;
    switch (addr->transport) {
    case MIG_TRANSPORT_FILE: {
        QIOChannelFile *f = migration_file_open(addr->path, O_RDONLY, 0, errp);
        if (!f) {
            return NULL;
        }
        if (qio_channel_seek(&f->parent, addr->offset, SEEK_SET, errp) < 0) {
            qio_channel_unref(&f->parent);
            return NULL;
        }
        return &f->parent;
    }
    case MIG_TRANSPORT_EXEC: {
        QIOChannelCommand *c =
            qio_channel_command_new_spawn(addr->path, O_RDONLY, errp);
        return c ? &c->parent : NULL;
    }
    case MIG_TRANSPORT_SOCKET: {
        /* The main connection plus one per multifd channel may queue. */
        QIOChannelSocket *s =
            qio_channel_socket_listen_sync(addr->path, 256, errp);
        *is_listener = s != NULL;
        return s ? &s->parent : NULL;
    }
    case MIG_TRANSPORT_FD:
        return fd_open_channel(addr->path, errp);
    }
    return NULL;
}
