/*
 * QIOChannel core: reference counting, dispatch and full-length helpers.
 */
#include "qemu/osdep.h"
#include "io/channel.h"

void qio_channel_init(QIOChannel *ioc, const QIOChannelClass *klass)
{
    ioc->klass = klass;
    ioc->refcount = 1;
    ioc->features = 0;
    ioc->closed = false;
    ioc->name = g_strdup(klass->type_name);
}

QIOChannel *qio_channel_ref(QIOChannel *ioc)
{
    g_atomic_int_inc(&ioc->refcount);
    return ioc;
}

void qio_channel_unref(QIOChannel *ioc)
{
    if (!ioc || !g_atomic_int_dec_and_test(&ioc->refcount)) {
        return;
    }
    if (!ioc->closed) {
        qio_channel_close(ioc, NULL);
    }
    if (ioc->klass->io_finalize) {
        ioc->klass->io_finalize(ioc);
    }
    g_free(ioc->name);
    g_free(ioc);
}

void qio_channel_set_name(QIOChannel *ioc, const char *name)
{
    g_free(ioc->name);
    ioc->name = g_strdup(name);
}

ssize_t qio_channel_readv_full(QIOChannel *ioc, const struct iovec *iov,
                               size_t niov, int **fds, size_t *nfds,
                               GError **errp)
{
    if (fds && !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_FD_PASS)) {
        error_setg(errp, "Channel does not support file descriptor passing");
        return -1;
    }
    return ioc->klass->io_readv(ioc, iov, niov, fds, nfds, errp);
}

ssize_t qio_channel_writev_full(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                GError **errp)
{
    if (nfds && !qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_FD_PASS)) {
        error_setg(errp, "Channel does not support file descriptor passing");
        return -1;
    }
    return ioc->klass->io_writev(ioc, iov, niov, fds, nfds, errp);
}

ssize_t qio_channel_read(QIOChannel *ioc, void *buf, size_t len, GError **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    return qio_channel_readv_full(ioc, &iov, 1, NULL, NULL, errp);
}

ssize_t qio_channel_write(QIOChannel *ioc, const void *buf, size_t len,
                          GError **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return qio_channel_writev_full(ioc, &iov, 1, NULL, 0, errp);
}

size_t iov_size(const struct iovec *iov, size_t niov)
{
    size_t total = 0;
    for (size_t i = 0; i < niov; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

struct iovec *iov_advance(struct iovec *iov, size_t *niov, size_t bytes)
{
    while (*niov && bytes >= iov->iov_len) {
        bytes -= iov->iov_len;
        iov++;
        (*niov)--;
    }
    if (*niov && bytes) {
        iov->iov_base = (char *)iov->iov_base + bytes;
        iov->iov_len -= bytes;
    }
    /* Skip empty entries so callers never issue a zero-length call. */
    while (*niov && iov->iov_len == 0) {
        iov++;
        (*niov)--;
    }
    return iov;
}

/* Copy the caller's iovec: the retry loops advance it in place. */
static struct iovec *iov_dup(const struct iovec *iov, size_t niov)
{
    return g_memdup2(iov, niov * sizeof(*iov));
}

int qio_channel_readv_all_eof(QIOChannel *ioc, const struct iovec *iov,
                              size_t niov, GError **errp)
{
    g_autofree struct iovec *copy = iov_dup(iov, niov);
    struct iovec *cur = iov_advance(copy, &niov, 0);
    bool partial = false;

    while (niov > 0) {
        ssize_t n = ioc->klass->io_readv(ioc, cur, niov, NULL, NULL, errp);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            if (!partial) {
                return 0;
            }
            error_setg(errp,
                       "Unexpected end-of-file before all data were read");
            return -1;
        }
        partial = true;
        cur = iov_advance(cur, &niov, n);
    }
    return 1;
}

int qio_channel_readv_all(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                          GError **errp)
{
    int ret = qio_channel_readv_all_eof(ioc, iov, niov, errp);
    if (ret == 0) {
        if (iov_size(iov, niov) == 0) {
            return 0;
        }
        error_setg(errp, "Unexpected end-of-file before all data were read");
        return -1;
    }
    return ret < 0 ? -1 : 0;
}

int qio_channel_writev_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, GError **errp)
{
    g_autofree struct iovec *copy = iov_dup(iov, niov);
    struct iovec *cur = iov_advance(copy, &niov, 0);

    while (niov > 0) {
        ssize_t n = ioc->klass->io_writev(ioc, cur, niov, NULL, 0, errp);
        if (n < 0) {
            return -1;
        }
        cur = iov_advance(cur, &niov, n);
    }
    return 0;
}

int qio_channel_read_all(QIOChannel *ioc, void *buf, size_t len, GError **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    return qio_channel_readv_all(ioc, &iov, 1, errp);
}

int qio_channel_write_all(QIOChannel *ioc, const void *buf, size_t len,
                          GError **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return qio_channel_writev_all(ioc, &iov, 1, errp);
}

static bool qio_channel_check_seekable(QIOChannel *ioc, GError **errp)
{
    if (!qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE)) {
        error_setg(errp, "Channel '%s' does not support positioned I/O",
                   ioc->name);
        return false;
    }
    return true;
}

ssize_t qio_channel_preadv(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, GError **errp)
{
    if (!qio_channel_check_seekable(ioc, errp)) {
        return -1;
    }
    return ioc->klass->io_preadv(ioc, iov, niov, offset, errp);
}

ssize_t qio_channel_pwritev(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, GError **errp)
{
    if (!qio_channel_check_seekable(ioc, errp)) {
        return -1;
    }
    return ioc->klass->io_pwritev(ioc, iov, niov, offset, errp);
}

/* Positioned I/O until every byte moved; end of file is an error. */
static int qio_channel_pv_all(QIOChannel *ioc, bool is_write,
                              const struct iovec *iov, size_t niov,
                              off_t offset, GError **errp)
{
    if (!qio_channel_check_seekable(ioc, errp)) {
        return -1;
    }
    g_autofree struct iovec *copy = iov_dup(iov, niov);
    struct iovec *cur = iov_advance(copy, &niov, 0);

    while (niov > 0) {
        ssize_t n = is_write
                        ? ioc->klass->io_pwritev(ioc, cur, niov, offset, errp)
                        : ioc->klass->io_preadv(ioc, cur, niov, offset, errp);
        if (n < 0) {
            return -1;
        }
        if (n == 0) {
            error_setg(errp, "Unexpected end of file at offset %lld in '%s'",
                       (long long)offset, ioc->name);
            return -1;
        }
        offset += n;
        cur = iov_advance(cur, &niov, n);
    }
    return 0;
}

int qio_channel_preadv_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, GError **errp)
{
    return qio_channel_pv_all(ioc, false, iov, niov, offset, errp);
}

int qio_channel_pwritev_all(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, GError **errp)
{
    return qio_channel_pv_all(ioc, true, iov, niov, offset, errp);
}

int qio_channel_pread_all(QIOChannel *ioc, void *buf, size_t len, off_t offset,
                          GError **errp)
{
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    return qio_channel_preadv_all(ioc, &iov, 1, offset, errp);
}

int qio_channel_pwrite_all(QIOChannel *ioc, const void *buf, size_t len,
                           off_t offset, GError **errp)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    return qio_channel_pwritev_all(ioc, &iov, 1, offset, errp);
}

off_t qio_channel_seek(QIOChannel *ioc, off_t offset, int whence, GError **errp)
{
    if (!ioc->klass->io_seek) {
        error_setg(errp, "Channel '%s' cannot seek", ioc->name);
        return -1;
    }
    return ioc->klass->io_seek(ioc, offset, whence, errp);
}

int qio_channel_shutdown(QIOChannel *ioc, QIOChannelShutdown how, GError **errp)
{
    if (!ioc->klass->io_shutdown) {
        error_setg(errp, "Channel '%s' does not support shutdown", ioc->name);
        return -1;
    }
    return ioc->klass->io_shutdown(ioc, how, errp);
}

/* Every fd-backed kind toggles O_NONBLOCK the same way. */
static int qio_channel_fd_set_blocking(QIOChannel *ioc, int fd, bool enabled,
                                       GError **errp)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        error_setg_errno(errp, errno, "Unable to get flags of '%s'", ioc->name);
        return -1;
    }
    flags = enabled ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
    if (fcntl(fd, F_SETFL, flags) < 0) {
        error_setg_errno(errp, errno, "Unable to set blocking mode of '%s'",
                         ioc->name);
        return -1;
    }
    return 0;
}

int qio_channel_set_blocking(QIOChannel *ioc, bool enabled, GError **errp)
{
    if (ioc->klass->io_set_blocking) {
        return ioc->klass->io_set_blocking(ioc, enabled, errp);
    }
    int fd = qio_channel_get_fd(ioc);
    return fd < 0 ? 0 : qio_channel_fd_set_blocking(ioc, fd, enabled, errp);
}

int qio_channel_close(QIOChannel *ioc, GError **errp)
{
    if (ioc->closed) {
        return 0;
    }
    ioc->closed = true;
    return ioc->klass->io_close(ioc, errp);
}

int qio_channel_get_fd(QIOChannel *ioc)
{
    return ioc->klass->io_get_fd ? ioc->klass->io_get_fd(ioc) : -1;
}
