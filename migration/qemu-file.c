/*
 * QEMUFile: buffered big-endian stream over a QIOChannel.
 */
#include "qemu/osdep.h"
#include "migration/qemu-file.h"

#include <stdarg.h>

#define IO_BUF_SIZE 32768
#define MAX_IOV 64

struct QEMUFile {
    QIOChannel *ioc;
    bool is_writable;
    uint8_t buf[IO_BUF_SIZE];
    size_t buf_index; /* output: bytes used; input: next byte */
    size_t buf_size;  /* input: bytes valid */
    struct iovec iov[MAX_IOV];
    size_t iovcnt;
    uint64_t total; /* bytes put or consumed */
    int last_error;
    GError *last_error_obj;
};

static QEMUFile *qemu_file_new(QIOChannel *ioc, bool writable)
{
    QEMUFile *f = g_new0(QEMUFile, 1);
    f->ioc = qio_channel_ref(ioc);
    f->is_writable = writable;
    return f;
}

QEMUFile *qemu_file_new_output(QIOChannel *ioc)
{
    return qemu_file_new(ioc, true);
}

QEMUFile *qemu_file_new_input(QIOChannel *ioc)
{
    return qemu_file_new(ioc, false);
}

QIOChannel *qemu_file_get_ioc(QEMUFile *f)
{
    return f->ioc;
}

int qemu_file_get_error(QEMUFile *f)
{
    return f->last_error;
}

GError *qemu_file_get_error_obj(QEMUFile *f)
{
    return f->last_error_obj ? g_error_copy(f->last_error_obj) : NULL;
}

void qemu_file_set_error_obj(QEMUFile *f, int ret, GError *err)
{
    if (f->last_error) {
        if (err) {
            g_error_free(err);
        }
        return;
    }
    f->last_error = ret ? ret : -EIO;
    f->last_error_obj =
        err ? err
            : g_error_new_literal(MAPMIG_ERROR, 0, g_strerror(-f->last_error));
}

void qemu_file_set_error(QEMUFile *f, int ret, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    qemu_file_set_error_obj(f, ret, g_error_new_literal(MAPMIG_ERROR, 0, msg));
}

/* Turn the buffered bytes into an iovec entry (merging when adjacent). */
static void add_buf_to_iov(QEMUFile *f, const uint8_t *p, size_t len)
{
    if (f->iovcnt && (uint8_t *)f->iov[f->iovcnt - 1].iov_base +
                             f->iov[f->iovcnt - 1].iov_len ==
                         p) {
        f->iov[f->iovcnt - 1].iov_len += len;
    } else {
        f->iov[f->iovcnt].iov_base = (void *)p;
        f->iov[f->iovcnt].iov_len = len;
        f->iovcnt++;
    }
}

int qemu_fflush(QEMUFile *f)
{
    if (!f->is_writable) {
        return 0;
    }
    if (!f->last_error && f->iovcnt) {
        GError *err = NULL;
        if (qio_channel_writev_all(f->ioc, f->iov, f->iovcnt, &err) < 0) {
            qemu_file_set_error_obj(f, -EIO, err);
        }
    }
    f->buf_index = 0;
    f->iovcnt = 0;
    return f->last_error;
}

/* Make room: flush when the iovec array or the buffer is full. */
static void qemu_put_prepare(QEMUFile *f, size_t need_buf)
{
    if (f->iovcnt >= MAX_IOV - 1 || f->buf_index + need_buf > IO_BUF_SIZE) {
        qemu_fflush(f);
    }
}

void qemu_put_buffer(QEMUFile *f, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    if (f->last_error) {
        return;
    }
    f->total += len;
    while (len) {
        qemu_put_prepare(f, 1);
        size_t n = MIN(len, IO_BUF_SIZE - f->buf_index);
        memcpy(f->buf + f->buf_index, p, n);
        add_buf_to_iov(f, f->buf + f->buf_index, n);
        f->buf_index += n;
        p += n;
        len -= n;
    }
}

void qemu_put_buffer_async(QEMUFile *f, const void *buf, size_t len)
{
    if (f->last_error) {
        return;
    }
    f->total += len;
    qemu_put_prepare(f, 0);
    add_buf_to_iov(f, buf, len);
}

void qemu_put_byte(QEMUFile *f, uint8_t v)
{
    qemu_put_buffer(f, &v, 1);
}

void qemu_put_be16(QEMUFile *f, uint16_t v)
{
    uint16_t be = GUINT16_TO_BE(v);
    qemu_put_buffer(f, &be, 2);
}

void qemu_put_be32(QEMUFile *f, uint32_t v)
{
    uint32_t be = GUINT32_TO_BE(v);
    qemu_put_buffer(f, &be, 4);
}

void qemu_put_be64(QEMUFile *f, uint64_t v)
{
    uint64_t be = GUINT64_TO_BE(v);
    qemu_put_buffer(f, &be, 8);
}

void qemu_put_counted_string(QEMUFile *f, const char *s)
{
    size_t len = MIN(strlen(s), 255);
    qemu_put_byte(f, len);
    qemu_put_buffer(f, s, len);
}

/* Input: refill so that at least @need bytes are buffered if possible. */
static size_t qemu_fill_buffer(QEMUFile *f, size_t need)
{
    if (f->last_error) {
        return 0;
    }
    if (f->buf_index) {
        memmove(f->buf, f->buf + f->buf_index, f->buf_size - f->buf_index);
        f->buf_size -= f->buf_index;
        f->buf_index = 0;
    }
    while (f->buf_size < need) {
        GError *err = NULL;
        ssize_t n = qio_channel_read(f->ioc, f->buf + f->buf_size,
                                     IO_BUF_SIZE - f->buf_size, &err);
        if (n < 0) {
            qemu_file_set_error_obj(f, -EIO, err);
            break;
        }
        if (n == 0) {
            break;
        }
        f->buf_size += n;
    }
    return f->buf_size;
}

static void qemu_file_set_eof(QEMUFile *f)
{
    qemu_file_set_error(f, -EIO, "Unexpected end of migration stream");
}

size_t qemu_get_buffer(QEMUFile *f, void *buf, size_t len)
{
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len && !f->last_error) {
        size_t avail = f->buf_size - f->buf_index;
        if (avail) {
            size_t n = MIN(avail, len - done);
            memcpy(p + done, f->buf + f->buf_index, n);
            f->buf_index += n;
            done += n;
            continue;
        }
        /* Large reads go straight to the destination (guest RAM). */
        if (len - done >= IO_BUF_SIZE / 2) {
            GError *err = NULL;
            ssize_t n = qio_channel_read(f->ioc, p + done, len - done, &err);
            if (n < 0) {
                qemu_file_set_error_obj(f, -EIO, err);
            } else if (n == 0) {
                qemu_file_set_eof(f);
            } else {
                done += n;
            }
            continue;
        }
        f->buf_index = f->buf_size = 0;
        if (!qemu_fill_buffer(f, 1) && !f->last_error) {
            qemu_file_set_eof(f);
        }
    }
    if (done < len) {
        memset(p + done, 0, len - done);
    }
    f->total += done;
    return done;
}

uint8_t qemu_peek_byte(QEMUFile *f, size_t offset)
{
    if (f->buf_size - f->buf_index <= offset) {
        qemu_fill_buffer(f, offset + 1);
        if (f->buf_size - f->buf_index <= offset) {
            if (!f->last_error) {
                qemu_file_set_eof(f);
            }
            return 0;
        }
    }
    return f->buf[f->buf_index + offset];
}

uint8_t qemu_get_byte(QEMUFile *f)
{
    uint8_t v = 0;
    qemu_get_buffer(f, &v, 1);
    return v;
}

uint16_t qemu_get_be16(QEMUFile *f)
{
    uint16_t v = 0;
    qemu_get_buffer(f, &v, 2);
    return GUINT16_FROM_BE(v);
}

uint32_t qemu_get_be32(QEMUFile *f)
{
    uint32_t v = 0;
    qemu_get_buffer(f, &v, 4);
    return GUINT32_FROM_BE(v);
}

uint64_t qemu_get_be64(QEMUFile *f)
{
    uint64_t v = 0;
    qemu_get_buffer(f, &v, 8);
    return GUINT64_FROM_BE(v);
}

bool qemu_get_counted_string(QEMUFile *f, char buf[256])
{
    uint8_t len = qemu_get_byte(f);
    qemu_get_buffer(f, buf, len);
    buf[len] = 0;
    return !f->last_error;
}

uint64_t qemu_file_transferred(QEMUFile *f)
{
    return f->total;
}

bool qemu_put_buffer_at(QEMUFile *f, const void *buf, size_t len, off_t pos,
                        GError **errp)
{
    if (qemu_fflush(f) < 0) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    return qio_channel_pwrite_all(f->ioc, buf, len, pos, errp) == 0;
}

bool qemu_get_buffer_at(QEMUFile *f, void *buf, size_t len, off_t pos,
                        GError **errp)
{
    return qio_channel_pread_all(f->ioc, buf, len, pos, errp) == 0;
}

off_t qemu_get_offset(QEMUFile *f)
{
    GError *err = NULL;

    if (f->is_writable && qemu_fflush(f) < 0) {
        return -1;
    }
    off_t pos = qio_channel_seek(f->ioc, 0, SEEK_CUR, &err);
    if (pos < 0) {
        qemu_file_set_error_obj(f, -EIO, err);
        return -1;
    }
    if (!f->is_writable) {
        pos -= f->buf_size - f->buf_index;
    }
    return pos;
}

bool qemu_set_offset(QEMUFile *f, off_t pos, GError **errp)
{
    if (f->is_writable && qemu_fflush(f) < 0) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    f->buf_index = f->buf_size = 0;
    return qio_channel_seek(f->ioc, pos, SEEK_SET, errp) >= 0;
}

int qemu_fclose(QEMUFile *f, GError **errp)
{
    qemu_fflush(f);
    int ret = f->last_error;
    GError *close_err = NULL;

    if (qio_channel_close(f->ioc, &close_err) < 0 && !ret) {
        qemu_file_set_error_obj(f, -EIO, close_err);
        close_err = NULL;
        ret = f->last_error;
    }
    if (close_err) {
        g_error_free(close_err);
    }
    if (ret && errp) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
    }
    qio_channel_unref(f->ioc);
    if (f->last_error_obj) {
        g_error_free(f->last_error_obj);
    }
    g_free(f);
    return ret;
}
