/*
 * Positioned I/O engines: psync, io_uring and libaio.
 */
#include "qemu/osdep.h"
#include "io/engine.h"
#include "io/fault.h"

#if CONFIG_IO_URING
#include <liburing.h>
#endif
#if CONFIG_LIBAIO
#include <libaio.h>
#endif

/* One in-flight request; resubmitted with the rest after a short I/O. */
typedef struct IOReq {
    bool is_write;
    char *buf;
    size_t len;
    off_t offset;
    bool busy;
#if CONFIG_LIBAIO
    struct iocb iocb;
#endif
} IOReq;

struct IOEngine {
    IOEngineKind kind;
    int fd;
    unsigned depth;
    unsigned inflight;
    IOReq *reqs;
    GError *error; /* first failure, reported by drain */
#if CONFIG_IO_URING
    struct io_uring ring;
#endif
#if CONFIG_LIBAIO
    io_context_t aio;
#endif
};

const char *io_engine_name(IOEngineKind kind)
{
    static const char *const names[] = {
        [IO_ENGINE_PSYNC] = "psync",
        [IO_ENGINE_IO_URING] = "io-uring",
        [IO_ENGINE_LIBAIO] = "libaio",
    };
    return names[kind];
}

static bool psync_rw(int fd, bool is_write, char *buf, size_t len, off_t offset,
                     GError **errp)
{
    while (len) {
        int fault = qemu_io_fault(fd, is_write, len); /* test builds */
        ssize_t n;

        if (fault) {
            errno = -fault;
            n = -1;
        } else {
            n = is_write ? pwrite(fd, buf, len, offset)
                         : pread(fd, buf, len, offset);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno,
                             "%s of %zu bytes at offset %lld "
                             "failed",
                             is_write ? "write" : "read", len,
                             (long long)offset);
            return false;
        }
        if (n == 0) {
            error_setg(errp, "Unexpected end of file at offset %lld",
                       (long long)offset);
            return false;
        }
        buf += n;
        len -= n;
        offset += n;
    }
    return true;
}

static IOReq *free_req(IOEngine *e)
{
    for (unsigned i = 0; i < e->depth; i++) {
        if (!e->reqs[i].busy) {
            return &e->reqs[i];
        }
    }
    return NULL;
}

/*
 * A completion of @res bytes (or -errno) for @r.  Returns true if the
 * request is finished; false if the remainder must be resubmitted.
 */
static bool req_complete(IOEngine *e, IOReq *r, long res)
{
    if (res < 0 || (res == 0 && r->len)) {
        if (!e->error) {
            g_set_error(&e->error, MAPMIG_ERROR, 0,
                        "%s: %s of %zu bytes at offset %lld failed: %s",
                        io_engine_name(e->kind), r->is_write ? "write" : "read",
                        r->len, (long long)r->offset,
                        res < 0 ? g_strerror(-res) : "unexpected end of file");
        }
        return true;
    }
    r->buf += res;
    r->len -= res;
    r->offset += res;
    return r->len == 0;
}

#if CONFIG_IO_URING
static void uring_queue(IOEngine *e, IOReq *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&e->ring);

    /* A free request implies a free SQE: the ring has depth entries. */
    if (r->is_write) {
        io_uring_prep_write(sqe, e->fd, r->buf, r->len, r->offset);
    } else {
        io_uring_prep_read(sqe, e->fd, r->buf, r->len, r->offset);
    }
    io_uring_sqe_set_data(sqe, r);
}

/* Reap at least one completion (blocking). */
static void uring_reap(IOEngine *e)
{
    struct io_uring_cqe *cqe;
    int ret;

    io_uring_submit(&e->ring);
    do {
        ret = io_uring_wait_cqe(&e->ring, &cqe);
    } while (ret == -EINTR);
    if (ret < 0) {
        if (!e->error) {
            e->error = g_error_new(MAPMIG_ERROR, 0,
                                   "io-uring: wait failed: "
                                   "%s",
                                   g_strerror(-ret));
        }
        return;
    }
    unsigned head, n = 0;
    io_uring_for_each_cqe(&e->ring, head, cqe)
    {
        IOReq *r = io_uring_cqe_get_data(cqe);
        if (req_complete(e, r, cqe->res)) {
            r->busy = false;
            e->inflight--;
        } else {
            uring_queue(e, r);
        }
        n++;
    }
    io_uring_cq_advance(&e->ring, n);
}
#endif

#if CONFIG_LIBAIO
static bool aio_queue(IOEngine *e, IOReq *r)
{
    struct iocb *p = &r->iocb;

    if (r->is_write) {
        io_prep_pwrite(p, e->fd, r->buf, r->len, r->offset);
    } else {
        io_prep_pread(p, e->fd, r->buf, r->len, r->offset);
    }
    p->data = r;
    int ret;
    do {
        ret = io_submit(e->aio, 1, &p);
    } while (ret == -EINTR || ret == -EAGAIN);
    if (ret != 1) {
        req_complete(e, r, ret < 0 ? ret : -EIO);
        return false;
    }
    return true;
}

static void aio_reap(IOEngine *e)
{
    struct io_event ev[64];
    int n;

    do {
        n = io_getevents(e->aio, 1, MIN(64, e->depth), ev, NULL);
    } while (n == -EINTR);
    if (n < 0) {
        if (!e->error) {
            e->error = g_error_new(MAPMIG_ERROR, 0,
                                   "libaio: io_getevents "
                                   "failed: %s",
                                   g_strerror(-n));
        }
        return;
    }
    for (int i = 0; i < n; i++) {
        IOReq *r = ev[i].data;
        long res = (long)ev[i].res;
        if (req_complete(e, r, res) || !aio_queue(e, r)) {
            r->busy = false;
            e->inflight--;
        }
    }
}
#endif

static void engine_reap(IOEngine *e)
{
#if CONFIG_IO_URING
    if (e->kind == IO_ENGINE_IO_URING) {
        uring_reap(e);
    }
#endif
#if CONFIG_LIBAIO
    if (e->kind == IO_ENGINE_LIBAIO) {
        aio_reap(e);
    }
#endif
}

bool io_engine_submit(IOEngine *e, bool is_write, void *buf, size_t len,
                      off_t offset, GError **errp)
{
    if (e->kind == IO_ENGINE_PSYNC) {
        return psync_rw(e->fd, is_write, buf, len, offset, errp);
    }
    IOReq *r;
    int fault = qemu_io_fault(e->fd, is_write, len);
    if (fault) {
        /* As a completion with an error would (test builds only). */
        IOReq failed = { .is_write = is_write, .len = len, .offset = offset };
        req_complete(e, &failed, fault);
    }
    while (!(r = free_req(e)) && !e->error) {
        engine_reap(e);
    }
    if (e->error) {
        g_propagate_error(errp, g_error_copy(e->error));
        return false;
    }
    *r = (IOReq){ .is_write = is_write,
                  .buf = buf,
                  .len = len,
                  .offset = offset,
                  .busy = true };
    e->inflight++;
#if CONFIG_IO_URING
    if (e->kind == IO_ENGINE_IO_URING) {
        uring_queue(e, r);
        /* Keep the device busy: hand the batch over once it is full. */
        if (e->inflight == e->depth) {
            io_uring_submit(&e->ring);
        }
    }
#endif
#if CONFIG_LIBAIO
    if (e->kind == IO_ENGINE_LIBAIO && !aio_queue(e, r)) {
        r->busy = false;
        e->inflight--;
    }
#endif
    return true;
}

bool io_engine_drain(IOEngine *e, GError **errp)
{
    while (e->inflight) {
        engine_reap(e);
    }
    if (e->error) {
        g_propagate_error(errp, e->error);
        e->error = NULL;
        return false;
    }
    return true;
}

IOEngine *io_engine_new(IOEngineKind kind, int fd, unsigned depth,
                        GError **errp)
{
    IOEngine *e = g_new0(IOEngine, 1);
    int ret = 0;

    e->kind = kind;
    e->fd = fd;
    e->depth = MAX(1, depth);
    e->reqs = g_new0(IOReq, e->depth);
    switch (kind) {
    case IO_ENGINE_PSYNC:
        return e;
    case IO_ENGINE_IO_URING:
#if CONFIG_IO_URING
        ret = io_uring_queue_init(e->depth, &e->ring, 0);
        if (ret == 0) {
            return e;
        }
        error_setg(errp,
                   "io-uring engine unavailable: the kernel refused "
                   "io_uring_setup: %s%s",
                   g_strerror(-ret),
                   ret == -EPERM ? " (is kernel.io_uring_disabled set?)" : "");
#else
        error_setg(errp, "io-uring engine not built in");
#endif
        break;
    case IO_ENGINE_LIBAIO:
#if CONFIG_LIBAIO
        ret = io_setup(e->depth, &e->aio);
        if (ret == 0) {
            return e;
        }
        error_setg(errp, "libaio engine unavailable: io_setup failed: %s",
                   g_strerror(-ret));
#else
        error_setg(errp, "libaio engine not built in");
#endif
        break;
    }
    g_free(e->reqs);
    g_free(e);
    return NULL;
}

void io_engine_free(IOEngine *e)
{
    if (!e) {
        return;
    }
    GError *err = NULL;
    io_engine_drain(e, &err);
    g_clear_error(&err);
#if CONFIG_IO_URING
    if (e->kind == IO_ENGINE_IO_URING) {
        io_uring_queue_exit(&e->ring);
    }
#endif
#if CONFIG_LIBAIO
    if (e->kind == IO_ENGINE_LIBAIO) {
        io_destroy(e->aio);
    }
#endif
    g_free(e->reqs);
    g_free(e);
}
