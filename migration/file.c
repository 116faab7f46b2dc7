/*
 * The file: migration transport (see file.h).
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/file.h"
#include "migration/qemu-file.h"
#include "migration/options.h"

#include <sys/stat.h>

/* The migration in progress in each direction; BQL or its thread. */
static struct {
    char *path;
    bool created;    /* the save created the file: sync its directory */
    uint64_t offset; /* where the stream starts */
} outgoing, incoming;

QIOChannel *file_start_outgoing(const MigrationAddress *addr, GError **errp)
{
    struct stat st;
    bool created = stat(addr->path, &st) < 0;
    QIOChannelFile *fioc =
        migration_file_open(addr->path, O_CREAT | O_WRONLY, 0600, errp);

    if (!fioc) {
        return NULL;
    }
    QIOChannel *ioc = &fioc->parent;
    /*
     * Keep the management tool's bytes before the offset, drop the rest,
     * unless the pages there are to be rewritten in place.
     */
    if (!addr->rewrite && ftruncate(fioc->fd, addr->offset) < 0) {
        error_setg_errno(errp, errno, "Could not truncate '%s'", addr->path);
        qio_channel_unref(ioc);
        return NULL;
    }
    if (qio_channel_seek(ioc, addr->offset, SEEK_SET, errp) < 0) {
        qio_channel_unref(ioc);
        return NULL;
    }
    qio_channel_file_set_behind(fioc, FILE_BEHIND_WRITE);
    file_cleanup(true);
    outgoing.path = g_strdup(addr->path);
    outgoing.created = created;
    outgoing.offset = addr->offset;
    return ioc;
}

QIOChannel *file_start_incoming(const MigrationAddress *addr, GError **errp)
{
    QIOChannelFile *f = migration_file_open(addr->path, O_RDONLY, 0, errp);

    if (!f) {
        return NULL;
    }
    if (qio_channel_seek(&f->parent, addr->offset, SEEK_SET, errp) < 0) {
        qio_channel_unref(&f->parent);
        return NULL;
    }
    /* What is read goes to guest RAM: no second copy in the page cache. */
    qio_channel_file_set_behind(f, FILE_BEHIND_READ);
    file_cleanup(false);
    incoming.path = g_strdup(addr->path);
    return &f->parent;
}

QIOChannel *file_multifd_channel_new(bool sending, GError **errp)
{
    const char *path = sending ? outgoing.path : incoming.path;
    int flags =
        (sending ? O_WRONLY : O_RDONLY) | (migrate_direct_io() ? O_DIRECT : 0);

    if (!path) {
        error_setg(errp, "multifd needs a file: migration URI");
        return NULL;
    }
    QIOChannelFile *f = migration_file_open(path, flags, 0, errp);
    if (!f) {
        if (flags & O_DIRECT && errp && *errp &&
            g_str_has_suffix((*errp)->message, g_strerror(EINVAL))) {
            error_prepend(errp, "direct-io: the file system does not support "
                                "O_DIRECT");
        }
        return NULL;
    }
    if (!(flags & O_DIRECT)) {
        qio_channel_file_set_behind(f, sending ? FILE_BEHIND_WRITE
                                               : FILE_BEHIND_READ);
    }
    return &f->parent;
}

bool file_sync_complete(QIOChannel *ioc, GError **errp)
{
    int fd = qio_channel_get_fd(ioc);

    if (fd >= 0 && fdatasync(fd) < 0) {
        error_setg_errno(errp, errno, "Failed to sync '%s' to stable storage",
                         outgoing.path);
        return false;
    }
    if (outgoing.created) {
        g_autofree char *dir = g_path_get_dirname(outgoing.path);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    return true;
}

bool file_finish_outgoing(QEMUFile *f, uint64_t *end, GError **errp)
{
    int fd = qio_channel_get_fd(qemu_file_get_ioc(f));

    qemu_fflush(f);
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    *end = qemu_get_offset(f);
    if (ftruncate(fd, *end) < 0) {
        error_setg_errno(errp, errno, "Could not truncate '%s'", outgoing.path);
        return false;
    }
    return true;
}

uint64_t file_outgoing_stream_start(void)
{
    return outgoing.offset;
}

void file_cleanup(bool sending)
{
    if (sending) {
        g_clear_pointer(&outgoing.path, g_free);
        outgoing.created = false;
    } else {
        g_clear_pointer(&incoming.path, g_free);
    }
}
