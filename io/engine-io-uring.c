/*
 * io-uring engine: a private ring of e->depth entries per engine.
 */
#include "qemu/osdep.h"
#include "engine-internal.h"
#include <liburing.h>

#define URING(e) ((struct io_uring *)(e)->opaque)

static bool uring_init(IOEngine *e, GError **errp)
{
    struct io_uring *ring = g_new0(struct io_uring, 1);
    int ret = io_uring_queue_init(e->depth, ring, 0);

    if (ret < 0) {
        error_setg(errp,
                   "io-uring engine unavailable: the kernel refused "
                   "io_uring_setup: %s%s",
                   g_strerror(-ret),
                   ret == -EPERM ? " (is kernel.io_uring_disabled set?)" : "");
        g_free(ring);
        return false;
    }
    e->opaque = ring;
    return true;
}

static void uring_queue(IOEngine *e, IOReq *r)
{
    /* A free request slot implies a free SQE: the ring has depth entries. */
    struct io_uring_sqe *sqe = io_uring_get_sqe(URING(e));

    if (r->is_write) {
        io_uring_prep_write(sqe, e->fd, r->buf, r->len, r->offset);
    } else {
        io_uring_prep_read(sqe, e->fd, r->buf, r->len, r->offset);
    }
    io_uring_sqe_set_data(sqe, r);
}

static void uring_submit(IOEngine *e, IOReq *r)
{
    uring_queue(e, r);
    /* Keep the device busy: hand the batch over once it is full. */
    if (e->inflight == e->depth) {
        io_uring_submit(URING(e));
    }
}

static void uring_reap(IOEngine *e)
{
    struct io_uring_cqe *cqe;
    unsigned head, n = 0;
    int ret;

    io_uring_submit(URING(e));
    do {
        ret = io_uring_wait_cqe(URING(e), &cqe);
    } while (ret == -EINTR);
    if (ret < 0) {
        io_engine_fail_inflight(e, ret);
        return;
    }
    io_uring_for_each_cqe(URING(e), head, cqe)
    {
        IOReq *r = io_uring_cqe_get_data(cqe);
        if (!io_engine_req_done(e, r, cqe->res)) {
            uring_queue(e, r);
        }
        n++;
    }
    io_uring_cq_advance(URING(e), n);
}

static void uring_cleanup(IOEngine *e)
{
    io_uring_queue_exit(URING(e));
    g_free(e->opaque);
}

const IOEngineOps io_engine_io_uring_ops = {
    .name = "io-uring",
    .max_request = 1 * MiB,
    .init = uring_init,
    .submit = uring_submit,
    .reap = uring_reap,
    .cleanup = uring_cleanup,
};
