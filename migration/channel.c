/*
 * Migration URIs and their channels: file:, exec:, unix:, tcp:, fd:.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "migration/exec.h"
#include "migration/file.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/socket.h"

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

QIOChannel *migration_connect_outgoing(const MigrationAddress *addr,
                                       GError **errp)
{
    switch (addr->transport) {
    case MIG_TRANSPORT_FILE:
        return file_start_outgoing(addr, errp);
    case MIG_TRANSPORT_EXEC:
        return exec_start_outgoing(addr, errp);
    case MIG_TRANSPORT_SOCKET:
        return socket_start_outgoing(addr, errp);
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
    case MIG_TRANSPORT_FILE:
        return file_start_incoming(addr, errp);
    case MIG_TRANSPORT_EXEC:
        return exec_start_incoming(addr, errp);
    case MIG_TRANSPORT_SOCKET: {
        QIOChannel *ioc = socket_start_incoming(addr, errp);
        *is_listener = ioc != NULL;
        return ioc;
    }
    case MIG_TRANSPORT_FD:
        return fd_open_channel(addr->path, errp);
    }
    return NULL;
}
