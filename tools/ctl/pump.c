/*
 * Data pumps: move a migration stream between the VM (a pipe) and the
 * image (a file range), optionally through zstd, in their own thread.
 *
 * Files may be open with O_DIRECT (--bypass-cache): then every read and
 * write is of aligned buffers at aligned offsets, the last block padded
 * and the file truncated back to its real length.  A sparse sink leaves
 * all-zero pages unwritten, so a decompressed mapped-ram image is as
 * sparse as the original.  A source may punch holes behind itself so a
 * file being compressed into another never needs two full copies.
 */
#include "ctl.h"
#include "io/channel-file.h"
#include "qemu/bufferiszero.h"

#include <poll.h>
#if CONFIG_ZSTD
#include <zstd.h>
#endif

#define PUMP_CHUNK (1 * MiB)
#define PUMP_ALIGN 4096
#define PUMP_POLL_MS 200
#define PUMP_PUNCH_STEP (4 * MiB)

bool pump_have_zstd(void)
{
    return CONFIG_ZSTD;
}

static uint8_t *aligned_buf(size_t size)
{
    void *p = NULL;
    if (posix_memalign(&p, PUMP_ALIGN, size)) {
        abort();
    }
    return p;
}

/* Wait until @fd is ready for @events, or the pump is cancelled. */
static bool pump_poll(Pump *p, int fd, short events, GError **errp)
{
    for (;;) {
        struct pollfd pfd = { .fd = fd, .events = events };
        if (atomic_load(&p->cancel)) {
            p->was_cancelled = true;
            error_setg(errp, "cancelled");
            return false;
        }
        int r = poll(&pfd, 1, PUMP_POLL_MS);
        if (r > 0 || (r < 0 && errno != EINTR)) {
            return true; /* the read/write reports errors */
        }
    }
}

/* ---------------------------------------------------------------- */
/* Sinks */

typedef struct Writer {
    int fd;
    QIOChannel *ioc; /* borrows fd: file sinks write through it */
    bool direct, sparse;
    uint64_t start; /* first offset written */
    uint64_t pos;   /* file offset of buf[0] */
    uint8_t *buf;   /* PUMP_CHUNK bytes, aligned */
    size_t len;
} Writer;

/* The whole range or an error naming the image. */
static bool writer_pwrite(Writer *w, size_t off, size_t len, GError **errp)
{
    uint64_t pos = w->pos + off;

    if (qio_channel_pwrite_all(w->ioc, w->buf + off, len, pos, errp) < 0) {
        error_prepend(errp, "Could not write the image");
        return false;
    }
    return true;
}

/* Write buf[0, len) (len aligned for O_DIRECT), skipping zero pages. */
static bool writer_flush(Writer *w, size_t len, GError **errp)
{
    if (!w->sparse) {
        if (!writer_pwrite(w, 0, len, errp)) {
            return false;
        }
    } else {
        for (size_t i = 0; i < len;) {
            size_t n = MIN(TARGET_PAGE_SIZE, len - i);
            if (buffer_is_zero(w->buf + i, n)) {
                i += n;
                continue;
            }
            size_t j = i + n;
            while (j < len && !buffer_is_zero(w->buf + j,
                                              MIN(TARGET_PAGE_SIZE, len - j))) {
                j += MIN(TARGET_PAGE_SIZE, len - j);
            }
            if (!writer_pwrite(w, i, j - i, errp)) {
                return false;
            }
            i = j;
        }
    }
    w->pos += len;
    w->len = 0;
    return true;
}

static bool writer_put(Writer *w, const uint8_t *data, size_t n, GError **errp)
{
    while (n) {
        size_t k = MIN(n, PUMP_CHUNK - w->len);
        memcpy(w->buf + w->len, data, k);
        w->len += k;
        data += k;
        n -= k;
        if (w->len == PUMP_CHUNK && !writer_flush(w, PUMP_CHUNK, errp)) {
            return false;
        }
    }
    return true;
}

/* Write the tail (padded for O_DIRECT) and set the file's exact length. */
static bool writer_finish(Writer *w, GError **errp)
{
    uint64_t end = w->pos + w->len;

    if (w->len) {
        size_t padded = w->direct ? ROUND_UP(w->len, PUMP_ALIGN) : w->len;
        memset(w->buf + w->len, 0, padded - w->len);
        if (!writer_flush(w, padded, errp)) {
            return false;
        }
    }
    if (ftruncate(w->fd, end) < 0) {
        error_setg_errno(errp, errno, "Could not set the image size");
        return false;
    }
    return true;
}

static bool pipe_write(Pump *p, const uint8_t *data, size_t n, GError **errp)
{
    while (n) {
        if (!pump_poll(p, p->out_fd, POLLOUT, errp)) {
            return false;
        }
        ssize_t r = write(p->out_fd, data, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (r < 0) {
            p->peer_closed = errno == EPIPE;
            error_setg_errno(errp, errno,
                             "The VM stopped reading the migration stream");
            return false;
        }
        data += r;
        n -= r;
    }
    return true;
}

static bool sink_put(Pump *p, Writer *w, const uint8_t *data, size_t n,
                     GError **errp)
{
    if (!n) {
        return true;
    }
    if (p->out_expect && atomic_load(&p->bytes_out) + n > p->out_expect) {
        error_setg(errp,
                   "the compressed data holds more than the %" PRIu64
                   " bytes the header announces",
                   p->out_expect);
        return false;
    }
    bool ok = p->sink == PUMP_SINK_PIPE ? pipe_write(p, data, n, errp)
                                        : writer_put(w, data, n, errp);
    if (ok) {
        atomic_fetch_add(&p->bytes_out, n);
    }
    return ok;
}

/* ---------------------------------------------------------------- */
/* Sources */

typedef struct Reader {
    uint64_t punched; /* holes punched up to here */
} Reader;

static ssize_t pipe_read(Pump *p, uint8_t *buf, size_t max, GError **errp)
{
    for (;;) {
        if (!pump_poll(p, p->in_fd, POLLIN, errp)) {
            return -1;
        }
        ssize_t n = read(p->in_fd, buf, max);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno,
                             "Could not read the migration "
                             "stream");
        }
        return n;
    }
}

/* How many bytes from in_pos are a hole (0 if data comes first). */
static uint64_t hole_len(Pump *p, uint64_t want)
{
    off_t data = lseek(p->in_fd, p->in_pos, SEEK_DATA);

    if (data < 0) {
        return errno == ENXIO ? want : 0; /* ENXIO: only holes left */
    }
    return MIN(want, (uint64_t)data - p->in_pos);
}

/* Bytes of data from in_pos before the next hole. */
static uint64_t data_len(Pump *p, uint64_t want)
{
    off_t hole = lseek(p->in_fd, p->in_pos, SEEK_HOLE);

    if (hole < 0 || (uint64_t)hole <= p->in_pos) {
        return want;
    }
    return MIN(want, (uint64_t)hole - p->in_pos);
}

static ssize_t file_read(Pump *p, uint8_t *buf, size_t max, GError **errp)
{
    uint64_t want = MIN(max, p->in_end - p->in_pos);

    if (atomic_load(&p->cancel)) {
        p->was_cancelled = true;
        error_setg(errp, "cancelled");
        return -1;
    }

    if (!want) {
        return 0;
    }
    if (p->in_skip_holes) {
        uint64_t h = hole_len(p, want);
        if (h) {
            memset(buf, 0, h);
            return h;
        }
        want = data_len(p, want);
    }
    size_t len = p->in_direct ? ROUND_UP(want, PUMP_ALIGN) : want;
    for (;;) {
        ssize_t n = pread(p->in_fd, buf, len, p->in_pos);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "Could not read the image");
            return -1;
        }
        if (n == 0) {
            error_setg(errp, "The image ends early (at %" PRIu64 ")",
                       p->in_pos);
            return -1;
        }
        /* O_DIRECT may read past the range: keep only the range. */
        return MIN((uint64_t)n, want);
    }
}

/* Give back the space of what was read, in large steps. */
static void punch_behind(Pump *p, Reader *r, bool all)
{
    uint64_t upto = ROUND_DOWN(p->in_pos, PUMP_ALIGN);

    if (!p->in_punch || upto <= r->punched ||
        (!all && upto - r->punched < PUMP_PUNCH_STEP)) {
        return;
    }
    /* Failure only costs space: the file is a temporary one. */
    fallocate(p->in_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, r->punched,
              upto - r->punched);
    r->punched = upto;
}

static ssize_t source_read(Pump *p, Reader *r, uint8_t *buf, size_t max,
                           GError **errp)
{
    ssize_t n = p->in_is_pipe ? pipe_read(p, buf, max, errp)
                              : file_read(p, buf, max, errp);
    if (n > 0) {
        atomic_fetch_add(&p->bytes_in, n);
        if (!p->in_is_pipe) {
            p->in_pos += n;
            punch_behind(p, r, false);
        }
    }
    return n;
}

/* ---------------------------------------------------------------- */
/* Codecs */

static bool run_copy(Pump *p, Reader *r, Writer *w, uint8_t *buf, GError **errp)
{
    for (;;) {
        ssize_t n = source_read(p, r, buf, PUMP_CHUNK, errp);
        if (n <= 0) {
            return n == 0;
        }
        if (!sink_put(p, w, buf, n, errp)) {
            return false;
        }
    }
}

#if CONFIG_ZSTD
static bool run_compress(Pump *p, Reader *r, Writer *w, uint8_t *buf,
                         GError **errp)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    g_autofree uint8_t *obuf = g_malloc(PUMP_CHUNK);
    bool ok = false;

    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, p->level);
    /* Restore verifies every frame. */
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
    for (;;) {
        ssize_t n = source_read(p, r, buf, PUMP_CHUNK, errp);
        if (n < 0) {
            goto out;
        }
        ZSTD_EndDirective mode = n ? ZSTD_e_continue : ZSTD_e_end;
        ZSTD_inBuffer in = { buf, n, 0 };
        size_t left;
        do {
            ZSTD_outBuffer out = { obuf, PUMP_CHUNK, 0 };
            left = ZSTD_compressStream2(cctx, &out, &in, mode);
            if (ZSTD_isError(left)) {
                error_setg(errp, "zstd compression failed: %s",
                           ZSTD_getErrorName(left));
                goto out;
            }
            if (!sink_put(p, w, obuf, out.pos, errp)) {
                goto out;
            }
        } while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
        if (!n) {
            break;
        }
    }
    ok = true;
out:
    ZSTD_freeCCtx(cctx);
    return ok;
}

static bool run_decompress(Pump *p, Reader *r, Writer *w, uint8_t *buf,
                           GError **errp)
{
    ZSTD_DCtx *dctx = ZSTD_createDCtx();
    g_autofree uint8_t *obuf = g_malloc(PUMP_CHUNK);
    size_t last = 1; /* 0 once a frame is complete */
    bool ok = false;

    for (;;) {
        ssize_t n = source_read(p, r, buf, PUMP_CHUNK, errp);
        if (n < 0) {
            goto out;
        }
        if (!n) {
            break;
        }
        ZSTD_inBuffer in = { buf, n, 0 };
        ZSTD_outBuffer out;
        do {
            out = (ZSTD_outBuffer){ obuf, PUMP_CHUNK, 0 };
            last = ZSTD_decompressStream(dctx, &out, &in);
            if (ZSTD_isError(last)) {
                error_setg(
                    errp, "corrupt compressed data near offset %" PRIu64 ": %s",
                    p->in_pos, ZSTD_getErrorName(last));
                goto out;
            }
            if (!sink_put(p, w, obuf, out.pos, errp)) {
                goto out;
            }
            /* Complete frame: no more output, even if out is full. */
        } while (in.pos < in.size || (out.pos == out.size && last != 0));
    }
    if (last != 0) {
        error_setg(errp, "the compressed data is truncated");
        goto out;
    }
    if (p->out_expect && atomic_load(&p->bytes_out) != p->out_expect) {
        error_setg(errp,
                   "the compressed data holds %" PRIu64 " bytes, the header "
                   "announces %" PRIu64,
                   atomic_load(&p->bytes_out), p->out_expect);
        goto out;
    }
    ok = true;
out:
    ZSTD_freeDCtx(dctx);
    return ok;
}
#endif

/* ---------------------------------------------------------------- */

static bool pump_run(Pump *p, GError **errp)
{
    g_autofree uint8_t *buf = aligned_buf(PUMP_CHUNK);
    g_autofree uint8_t *wbuf = NULL;
    Writer w = { .fd = p->out_fd,
                 .direct = p->out_direct,
                 .sparse = p->sink == PUMP_SINK_SPARSE,
                 .start = p->out_pos,
                 .pos = p->out_pos };
    Reader r = { .punched = p->in_pos };
    g_autoptr(QIOChannel) ioc = NULL;
    bool ok;

    if (p->sink != PUMP_SINK_PIPE) {
        wbuf = aligned_buf(PUMP_CHUNK);
        w.buf = wbuf;
        ioc = &qio_channel_file_new_borrowed(p->out_fd, "image")->parent;
        w.ioc = ioc;
    }
    switch (p->codec) {
#if CONFIG_ZSTD
    case PUMP_COMPRESS:
        ok = run_compress(p, &r, &w, buf, errp);
        break;
    case PUMP_DECOMPRESS:
        ok = run_decompress(p, &r, &w, buf, errp);
        break;
#endif
    case PUMP_COPY:
        ok = run_copy(p, &r, &w, buf, errp);
        break;
    default:
        error_setg(errp, "zstd is not available in this build");
        ok = false;
    }
    if (ok && p->sink != PUMP_SINK_PIPE) {
        ok = writer_finish(&w, errp);
    }
    if (ok && !p->in_is_pipe) {
        punch_behind(p, &r, true);
    }
    return ok;
}

static gpointer pump_thread(gpointer opaque)
{
    Pump *p = opaque;

    pump_run(p, &p->err);
    /* Closing our pipe end tells the VM: EOF, or EPIPE after an error. */
    if (p->in_is_pipe) {
        close(p->in_fd);
    }
    if (p->sink == PUMP_SINK_PIPE) {
        close(p->out_fd);
    }
    atomic_store(&p->finished, true);
    return NULL;
}

void pump_start(Pump *p)
{
    if (p->in_is_pipe) {
        fcntl(p->in_fd, F_SETFL, fcntl(p->in_fd, F_GETFL) | O_NONBLOCK);
    }
    if (p->sink == PUMP_SINK_PIPE) {
        fcntl(p->out_fd, F_SETFL, fcntl(p->out_fd, F_GETFL) | O_NONBLOCK);
    }
    p->thread = g_thread_new("pump", pump_thread, p);
}

bool pump_failed(Pump *p)
{
    return atomic_load(&p->finished) && p->err;
}

bool pump_join(Pump *p, GError **errp)
{
    if (p->thread) {
        g_thread_join(p->thread);
        p->thread = NULL;
    }
    if (p->err) {
        g_propagate_error(errp, p->err);
        p->err = NULL;
        return false;
    }
    return true;
}
