/*
 * psync engine: each request is done in the calling thread with the
 * channel's positioned full-length I/O, so nothing is ever in flight.
 */
#include "qemu/osdep.h"
#include "engine-internal.h"

static bool psync_init(IOEngine *e, GError **errp)
{
    return true;
}

static void psync_submit(IOEngine *e, IOReq *r)
{
    GError *err = NULL;
    int ret =
        r->is_write
            ? qio_channel_pwrite_all(e->ioc, r->buf, r->len, r->offset, &err)
            : qio_channel_pread_all(e->ioc, r->buf, r->len, r->offset, &err);

    if (ret < 0) {
        io_engine_set_error(e, err);
    }
    r->busy = false;
    e->inflight--;
}

static void psync_reap(IOEngine *e)
{
    /* Never called: submit finishes every request. */
}

static void psync_cleanup(IOEngine *e)
{
}

const IOEngineOps io_engine_psync_ops = {
    .name = "psync",
    .max_request = 0, /* synchronous: one call per run is best */
    .init = psync_init,
    .submit = psync_submit,
    .reap = psync_reap,
    .cleanup = psync_cleanup,
};
