/*
 * QIOChannelFile: regular files, pipes and character devices.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "io/fault.h"

#define FILE_CHAN(ioc) ((QIOChannelFile *)(ioc))

/* Test builds only (io/fault.h): -1 with errno set to fail the call. */
static inline ssize_t file_fault(QIOChannel *ioc, bool is_write,
                                 const struct iovec *iov, size_t niov)
{
    int err = qemu_io_fault(FILE_CHAN(ioc)->fd, is_write, iov_size(iov, niov));

    if (err) {
        errno = -err;
        return -1;
    }
    return 0;
}

/* Drop-behind works in batches of this much: fewer fadvise calls. */
#define DROP_BEHIND_BATCH (2 * MiB)

static void file_drop_flush(QIOChannelFile *fioc)
{
    if (fioc->drop_end > fioc->drop_start) {
        /* Advice only: an error changes nothing about the data read. */
        posix_fadvise(fioc->fd, fioc->drop_start,
                      fioc->drop_end - fioc->drop_start, POSIX_FADV_DONTNEED);
    }
    fioc->drop_start = fioc->drop_end;
}

/* [@offset, @offset + @len) was read: extend the batch, or start one. */
static void file_drop_behind(QIOChannelFile *fioc, off_t offset, ssize_t len)
{
    if (!fioc->drop_behind || len <= 0) {
        return;
    }
    if (offset != fioc->drop_end) {
        file_drop_flush(fioc);
        fioc->drop_start = offset;
    }
    fioc->drop_end = offset + len;
    if (fioc->drop_end - fioc->drop_start >= DROP_BEHIND_BATCH) {
        file_drop_flush(fioc);
    }
}

static ssize_t file_readv(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                          int **fds, size_t *nfds, GError **errp)
{
    ssize_t n;

    if (nfds) {
        *nfds = 0;
    }
    do {
        n = file_fault(ioc, false, iov, niov);
        if (!n) {
            n = readv(FILE_CHAN(ioc)->fd, iov, MIN(niov, (size_t)IOV_MAX));
        }
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to read from '%s'", ioc->name);
    } else if (FILE_CHAN(ioc)->drop_behind) {
        file_drop_behind(FILE_CHAN(ioc), FILE_CHAN(ioc)->pos, n);
        FILE_CHAN(ioc)->pos += n;
    }
    return n;
}

static ssize_t file_writev(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, int *fds, size_t nfds, GError **errp)
{
    ssize_t n;

    do {
        n = file_fault(ioc, true, iov, niov);
        if (!n) {
            n = writev(FILE_CHAN(ioc)->fd, iov, MIN(niov, (size_t)IOV_MAX));
        }
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to write to '%s'", ioc->name);
    } else {
        FILE_CHAN(ioc)->pos += n;
    }
    return n;
}

static ssize_t file_preadv(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, GError **errp)
{
    ssize_t n;

    do {
        n = file_fault(ioc, false, iov, niov);
        if (!n) {
            n = preadv(FILE_CHAN(ioc)->fd, iov, MIN(niov, (size_t)IOV_MAX),
                       offset);
        }
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to read from '%s' at offset %lld",
                         ioc->name, (long long)offset);
    }
    file_drop_behind(FILE_CHAN(ioc), offset, n);
    return n;
}

static ssize_t file_pwritev(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, GError **errp)
{
    ssize_t n;

    do {
        n = file_fault(ioc, true, iov, niov);
        if (!n) {
            n = pwritev(FILE_CHAN(ioc)->fd, iov, MIN(niov, (size_t)IOV_MAX),
                        offset);
        }
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Unable to write to '%s' at offset %lld",
                         ioc->name, (long long)offset);
    }
    return n;
}

static off_t file_seek(QIOChannel *ioc, off_t offset, int whence, GError **errp)
{
    off_t ret = lseek(FILE_CHAN(ioc)->fd, offset, whence);
    if (ret < 0) {
        error_setg_errno(errp, errno, "Unable to seek in '%s'", ioc->name);
    } else {
        FILE_CHAN(ioc)->pos = ret;
    }
    return ret;
}

static int file_close(QIOChannel *ioc, GError **errp)
{
    QIOChannelFile *fioc = FILE_CHAN(ioc);
    int ret = 0;

    if (fioc->fd >= 0 && fioc->drop_behind) {
        file_drop_flush(fioc);
    }
    if (fioc->fd >= 0 && !fioc->borrowed && close(fioc->fd) < 0 &&
        errno != EINTR) {
        error_setg_errno(errp, errno, "Unable to close '%s'", ioc->name);
        ret = -1;
    }
    fioc->fd = -1;
    return ret;
}

static int file_get_fd(QIOChannel *ioc)
{
    return FILE_CHAN(ioc)->fd;
}

static const QIOChannelClass qio_channel_file_class = {
    .type_name = "file",
    .io_readv = file_readv,
    .io_writev = file_writev,
    .io_preadv = file_preadv,
    .io_pwritev = file_pwritev,
    .io_seek = file_seek,
    .io_close = file_close,
    .io_get_fd = file_get_fd,
};

QIOChannelFile *qio_channel_file_new_fd(int fd)
{
    QIOChannelFile *fioc = g_new0(QIOChannelFile, 1);

    qio_channel_init(&fioc->parent, &qio_channel_file_class);
    fioc->fd = fd;
    /* Probe once: pipes and ttys fail lseek with ESPIPE. */
    if (lseek(fd, 0, SEEK_CUR) != (off_t)-1) {
        fioc->parent.features |= QIO_CHANNEL_FEATURE_SEEKABLE;
    }
    return fioc;
}

void qio_channel_file_set_drop_behind(QIOChannelFile *fioc)
{
    off_t pos = lseek(fioc->fd, 0, SEEK_CUR);

    /* Not for pipes; and a write position would move without us. */
    if (pos >= 0) {
        fioc->drop_behind = true;
        fioc->pos = fioc->drop_start = fioc->drop_end = pos;
    }
}

QIOChannelFile *qio_channel_file_new_borrowed(int fd, const char *name)
{
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);

    fioc->borrowed = true;
    if (name) {
        qio_channel_set_name(&fioc->parent, name);
    }
    return fioc;
}

QIOChannelFile *qio_channel_file_new_path(const char *path, int flags,
                                          mode_t mode, GError **errp)
{
    int fd;

    do {
        fd = open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", path);
        return NULL;
    }
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);
    qio_channel_set_name(&fioc->parent, path);
    return fioc;
}
