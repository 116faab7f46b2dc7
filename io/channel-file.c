/*
 * QIOChannelFile: regular files, pipes and character devices.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "io/fault.h"

#include <sys/stat.h>

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

/*
 * Drop-behind and write-behind (io/channel-file.h) work on batches of
 * nearby file ranges, which may skip forward over small gaps (holes of a
 * mapped-ram file).  A written batch is sent to the disk at once and
 * waited for only WRITE_BEHIND_DEPTH batches later, so copying into the
 * page cache and writing to the device overlap.
 */
#define BEHIND_BATCH (8 * MiB)
#define BEHIND_GAP (1 * MiB)

static void behind_drop(QIOChannelFile *fioc, FileRange r)
{
    if (r.end > r.start) {
        /* Advice only: an error changes nothing about the data. */
        posix_fadvise(fioc->fd, r.start, r.end - r.start, POSIX_FADV_DONTNEED);
    }
}

/* Wait for the oldest batch under writeback, then drop it: 0 or -errno. */
static int write_behind_retire(QIOChannelFile *fioc)
{
    FileRange r = fioc->wb[0];

    fioc->nwb--;
    memmove(fioc->wb, fioc->wb + 1, fioc->nwb * sizeof(r));
    if (sync_file_range(fioc->fd, r.start, r.end - r.start,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) < 0) {
        return -errno;
    }
    behind_drop(fioc, r);
    return 0;
}

static int behind_flush(QIOChannelFile *fioc)
{
    FileRange r = fioc->batch;

    fioc->batch.start = fioc->batch.end;
    if (r.end <= r.start) {
        return 0;
    }
    if (fioc->behind == FILE_BEHIND_READ) {
        behind_drop(fioc, r);
        return 0;
    }
    if (sync_file_range(fioc->fd, r.start, r.end - r.start,
                        SYNC_FILE_RANGE_WRITE) < 0) {
        return -errno;
    }
    fioc->wb[fioc->nwb++] = r;
    return fioc->nwb > WRITE_BEHIND_DEPTH ? write_behind_retire(fioc) : 0;
}

/* [@offset, @offset + @len) was read or written: 0 or -errno. */
static int file_behind(QIOChannelFile *fioc, off_t offset, ssize_t len)
{
    int ret = 0;

    if (fioc->behind == FILE_BEHIND_OFF || len <= 0) {
        return 0;
    }
    if (offset < fioc->batch.end || offset > fioc->batch.end + BEHIND_GAP) {
        ret = behind_flush(fioc);
        fioc->batch.start = offset;
    }
    fioc->batch.end = offset + len;
    if (!ret && fioc->batch.end - fioc->batch.start >= BEHIND_BATCH) {
        ret = behind_flush(fioc);
    }
    return ret;
}

/* A write went through but its writeback failed: fail the write. */
static ssize_t file_wrote(QIOChannel *ioc, off_t offset, ssize_t n,
                          GError **errp)
{
    int ret = file_behind(FILE_CHAN(ioc), offset, n);

    if (ret < 0) {
        error_setg_errno(errp, -ret, "Unable to write to '%s'", ioc->name);
        return -1;
    }
    return n;
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
    } else {
        file_behind(FILE_CHAN(ioc), FILE_CHAN(ioc)->pos, n);
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
        return n;
    }
    FILE_CHAN(ioc)->pos += n;
    return file_wrote(ioc, FILE_CHAN(ioc)->pos - n, n, errp);
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
    file_behind(FILE_CHAN(ioc), offset, n);
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
        return n;
    }
    return file_wrote(ioc, offset, n, errp);
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

    if (fioc->fd >= 0) {
        /* No waiting: dirty pages (no sync before a failure) stay. */
        for (int i = 0; i < fioc->nwb; i++) {
            behind_drop(fioc, fioc->wb[i]);
        }
        behind_drop(fioc, fioc->batch);
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

void qio_channel_file_set_behind(QIOChannelFile *fioc, FileBehind mode)
{
    struct stat st;
    off_t pos = lseek(fioc->fd, 0, SEEK_CUR);

    /* Regular files only: sync_file_range fails on devices and pipes. */
    if (pos >= 0 && fstat(fioc->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        fioc->behind = mode;
        fioc->pos = fioc->batch.start = fioc->batch.end = pos;
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
