/*
 * The exec: migration transport (see exec.h).
 */
#include "qemu/osdep.h"
#include "io/channel-command.h"
#include "migration/exec.h"

static QIOChannel *exec_start(const MigrationAddress *addr, int flags,
                              GError **errp)
{
    QIOChannelCommand *c =
        qio_channel_command_new_spawn(addr->path, flags, errp);

    return c ? &c->parent : NULL;
}

QIOChannel *exec_start_outgoing(const MigrationAddress *addr, GError **errp)
{
    return exec_start(addr, O_WRONLY, errp);
}

QIOChannel *exec_start_incoming(const MigrationAddress *addr, GError **errp)
{
    return exec_start(addr, O_RDONLY, errp);
}
