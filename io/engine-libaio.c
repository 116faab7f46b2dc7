/*
 * libaio engine: Linux native AIO (io_submit), meant for O_DIRECT.
 */
#include "qemu/osdep.h"
#include "engine-internal.h"

#define AIO_REAP_MAX 64

static bool laio_init(IOEngine *e, GError **errp)
{
    io_context_t *ctx = g_new0(io_context_t, 1);
    int ret = io_setup(e->depth, ctx);

    if (ret < 0) {
        error_setg(errp, "libaio engine unavailable: io_setup failed: %s",
                   g_strerror(-ret));
        g_free(ctx);
        return false;
    }
    e->opaque = ctx;
    return true;
}

static void laio_submit(IOEngine *e, IOReq *r)
{
    struct iocb *p = &r->iocb;
    int ret;

    if (r->is_write) {
        io_prep_pwrite(p, e->fd, r->buf, r->len, r->offset);
    } else {
        io_prep_pread(p, e->fd, r->buf, r->len, r->offset);
    }
    p->data = r;
    do {
        ret = io_submit(*(io_context_t *)e->opaque, 1, &p);
    } while (ret == -EINTR || ret == -EAGAIN);
    if (ret != 1) {
        io_engine_req_done(e, r, ret < 0 ? ret : -EIO);
    }
}

static void laio_reap(IOEngine *e)
{
    struct io_event ev[AIO_REAP_MAX];
    int n;

    do {
        n = io_getevents(*(io_context_t *)e->opaque, 1,
                         MIN(AIO_REAP_MAX, e->depth), ev, NULL);
    } while (n == -EINTR);
    if (n < 0) {
        io_engine_fail_inflight(e, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        IOReq *r = ev[i].data;
        if (!io_engine_req_done(e, r, (long)ev[i].res)) {
            laio_submit(e, r);
        }
    }
}

static void laio_cleanup(IOEngine *e)
{
    io_destroy(*(io_context_t *)e->opaque);
    g_free(e->opaque);
}

const IOEngineOps io_engine_libaio_ops = {
    .name = "libaio",
    .max_request = 1 * MiB,
    .init = laio_init,
    .submit = laio_submit,
    .reap = laio_reap,
    .cleanup = laio_cleanup,
};
