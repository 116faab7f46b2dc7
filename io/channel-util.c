/*
 * QIOChannel helpers that pick a channel type for the caller.
 */
#include "qemu/osdep.h"
#include "io/channel-util.h"
#include "io/channel-file.h"
#include "io/channel-socket.h"

#include <sys/stat.h>

QIOChannel *qio_channel_new_fd(int fd, GError **errp)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Unable to stat fd %d", fd);
        return NULL;
    }
    /* Sockets need recvmsg/sendmsg (fd passing, shutdown), not readv. */
    if (S_ISSOCK(st.st_mode)) {
        QIOChannelSocket *sioc = qio_channel_socket_new_fd(fd, errp);
        return sioc ? &sioc->parent : NULL;
    }
    return &qio_channel_file_new_fd(fd)->parent;
}
