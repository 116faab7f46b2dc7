/*
 * Descriptors a management tool passed to the monitor, as migration uses
 * them: the fd: transport (a getfd name or an inherited fd number), and
 * "/dev/fdset/N" paths of the file: transport.
 *
 * The descriptor tables belong to the monitor (monitor/fds.c).  This file
 * is the one place in migration/ that calls into it, through the narrow
 * look-up API of include/monitor/fds.h, as QEMU's migration/fd.c calls
 * monitor_get_fd(); see that header for why the direction is allowed.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "io/channel-util.h"
#include "migration/migration.h"
#include "monitor/fds.h"

QIOChannel *fd_open_channel(const char *fdname, GError **errp)
{
    int fd = monitor_get_fd(fdname, errp);

    if (fd < 0) {
        return NULL;
    }
    QIOChannel *ioc = qio_channel_new_fd(fd, errp);
    if (!ioc) {
        close(fd);
    }
    return ioc;
}

QIOChannelFile *migration_file_open(const char *path, int flags, mode_t mode,
                                    GError **errp)
{
    if (!monitor_fdset_is_path(path)) {
        return qio_channel_file_new_path(path, flags, mode, errp);
    }
    int fd = monitor_fdset_open(path, flags, errp);
    if (fd < 0) {
        return NULL;
    }
    QIOChannelFile *f = qio_channel_file_new_fd(fd);
    qio_channel_set_name(&f->parent, path);
    return f;
}
