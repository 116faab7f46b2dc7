/*
 * QIOChannel: the one I/O abstraction of mapmig's migration code.
 *
 * A channel is an object with an ops table (QIOChannelClass) and feature
 * bits probed once at construction.  Callers ask for features, not types.
 * All functions report errors through GError, and return -1 (or false /
 * NULL) when they set one.  Channels are reference counted; the last
 * qio_channel_unref() closes the channel if it is still open.
 */
#ifndef IO_CHANNEL_H
#define IO_CHANNEL_H

#include "qemu/osdep.h"

typedef struct QIOChannel QIOChannel;

typedef enum {
    QIO_CHANNEL_FEATURE_SEEKABLE = 1u << 0, /* preadv/pwritev work */
    QIO_CHANNEL_FEATURE_SHUTDOWN = 1u << 1, /* shutdown() works */
    QIO_CHANNEL_FEATURE_FD_PASS = 1u << 2,  /* SCM_RIGHTS fd passing */
} QIOChannelFeature;

typedef enum {
    QIO_CHANNEL_SHUTDOWN_READ = 1,
    QIO_CHANNEL_SHUTDOWN_WRITE = 2,
    QIO_CHANNEL_SHUTDOWN_BOTH = 3,
} QIOChannelShutdown;

typedef struct QIOChannelClass {
    const char *type_name;
    /* Mandatory. */
    ssize_t (*io_readv)(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                        int **fds, size_t *nfds, GError **errp);
    ssize_t (*io_writev)(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                         int *fds, size_t nfds, GError **errp);
    int (*io_close)(QIOChannel *ioc, GError **errp);
    /* Optional. */
    ssize_t (*io_preadv)(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                         off_t offset, GError **errp);
    ssize_t (*io_pwritev)(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                          off_t offset, GError **errp);
    off_t (*io_seek)(QIOChannel *ioc, off_t offset, int whence, GError **errp);
    int (*io_shutdown)(QIOChannel *ioc, QIOChannelShutdown how, GError **errp);
    /* Default: toggle O_NONBLOCK on io_get_fd(). */
    int (*io_set_blocking)(QIOChannel *ioc, bool enabled, GError **errp);
    int (*io_get_fd)(QIOChannel *ioc);
    void (*io_finalize)(QIOChannel *ioc);
} QIOChannelClass;

struct QIOChannel {
    const QIOChannelClass *klass;
    unsigned features; /* QIOChannelFeature bits, set at construction */
    char *name;        /* for error messages and tracing */
    gint refcount;
    bool closed;
};

/* Initialise the common part; used by channel constructors. */
void qio_channel_init(QIOChannel *ioc, const QIOChannelClass *klass);

QIOChannel *qio_channel_ref(QIOChannel *ioc);
/* Drop a reference; the last one closes (if needed) and frees. */
void qio_channel_unref(QIOChannel *ioc);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QIOChannel, qio_channel_unref)

static inline bool qio_channel_has_feature(QIOChannel *ioc, QIOChannelFeature f)
{
    return ioc->features & f;
}

void qio_channel_set_name(QIOChannel *ioc, const char *name);

/*
 * One read/write system call: may transfer less than asked.
 * readv returns 0 at end of file.  fds/nfds may be NULL; received fds are
 * returned in a g_new() array the caller frees (and owns the fds).
 */
ssize_t qio_channel_readv_full(QIOChannel *ioc, const struct iovec *iov,
                               size_t niov, int **fds, size_t *nfds,
                               GError **errp);
ssize_t qio_channel_writev_full(QIOChannel *ioc, const struct iovec *iov,
                                size_t niov, int *fds, size_t nfds,
                                GError **errp);
ssize_t qio_channel_read(QIOChannel *ioc, void *buf, size_t len, GError **errp);
ssize_t qio_channel_write(QIOChannel *ioc, const void *buf, size_t len,
                          GError **errp);

/*
 * Full-length helpers: retry short transfers and EINTR until every byte
 * of the iovec moved.
 * readv_all_eof returns 1 when all was read, 0 on a clean end of file
 * before the first byte, -1 on error (end of file after some bytes is an
 * error).  The others return 0 or -1.
 */
int qio_channel_readv_all_eof(QIOChannel *ioc, const struct iovec *iov,
                              size_t niov, GError **errp);
int qio_channel_readv_all(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                          GError **errp);
int qio_channel_writev_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, GError **errp);
int qio_channel_read_all(QIOChannel *ioc, void *buf, size_t len, GError **errp);
int qio_channel_write_all(QIOChannel *ioc, const void *buf, size_t len,
                          GError **errp);

/*
 * Positioned I/O (needs QIO_CHANNEL_FEATURE_SEEKABLE); never moves the
 * channel's file position.  preadv/pwritev: one call, may be short.
 * The _all forms retry; reading past end of file is an error
 * ("unexpected end of file").
 */
ssize_t qio_channel_preadv(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, GError **errp);
ssize_t qio_channel_pwritev(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, GError **errp);
int qio_channel_preadv_all(QIOChannel *ioc, const struct iovec *iov,
                           size_t niov, off_t offset, GError **errp);
int qio_channel_pwritev_all(QIOChannel *ioc, const struct iovec *iov,
                            size_t niov, off_t offset, GError **errp);
int qio_channel_pread_all(QIOChannel *ioc, void *buf, size_t len, off_t offset,
                          GError **errp);
int qio_channel_pwrite_all(QIOChannel *ioc, const void *buf, size_t len,
                           off_t offset, GError **errp);

/* lseek() on seekable channels. Returns the new offset or -1. */
off_t qio_channel_seek(QIOChannel *ioc, off_t offset, int whence,
                       GError **errp);
int qio_channel_shutdown(QIOChannel *ioc, QIOChannelShutdown how,
                         GError **errp);
int qio_channel_set_blocking(QIOChannel *ioc, bool enabled, GError **errp);
/* Close now (idempotent); the object lives until the last unref. */
int qio_channel_close(QIOChannel *ioc, GError **errp);
/* The underlying fd, or -1 if the channel has none. Not a new reference. */
int qio_channel_get_fd(QIOChannel *ioc);

/*
 * Advance an iovec array by @bytes in place: used by the retry loops.
 * Returns the new start within the array; *niov is updated.
 */
struct iovec *iov_advance(struct iovec *iov, size_t *niov, size_t bytes);
size_t iov_size(const struct iovec *iov, size_t niov);

#endif
