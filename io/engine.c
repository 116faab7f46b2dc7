/*
 * I/O engine core: request slots, short-transfer resubmission, the first
 * error, and the name table.  The backends are io/engine-*.c.
 */
#include "qemu/osdep.h"
#include "io/dio.h"
#include "io/fault.h"
#include "engine-internal.h"

/*
 * The engines: a new backend is a file of its own, its IOEngineKind and a
 * line in each of these two tables.
 */
const char *const io_engine_names[IO_ENGINE__MAX] = {
    [IO_ENGINE_PSYNC] = "psync",
    [IO_ENGINE_IO_URING] = "io-uring",
    [IO_ENGINE_LIBAIO] = "libaio",
};

/* NULL: the backend's library was not found at build time. */
static const IOEngineOps *const io_engine_ops[IO_ENGINE__MAX] = {
    [IO_ENGINE_PSYNC] = &io_engine_psync_ops,
#if CONFIG_IO_URING
    [IO_ENGINE_IO_URING] = &io_engine_io_uring_ops,
#endif
#if CONFIG_LIBAIO
    [IO_ENGINE_LIBAIO] = &io_engine_libaio_ops,
#endif
};

const char *io_engine_name(IOEngineKind kind)
{
    return kind < IO_ENGINE__MAX ? io_engine_names[kind] : "?";
}

int io_engine_lookup(const char *name)
{
    for (int i = 0; i < IO_ENGINE__MAX; i++) {
        if (!strcmp(io_engine_names[i], name)) {
            return i;
        }
    }
    return -1;
}

bool io_engine_built_in(IOEngineKind kind)
{
    return kind < IO_ENGINE__MAX && io_engine_ops[kind];
}

void io_engine_set_error(IOEngine *e, GError *err)
{
    if (e->error) {
        g_error_free(err);
    } else {
        e->error = err;
    }
}

bool io_engine_req_done(IOEngine *e, IOReq *r, long res)
{
    if (res < 0 || (res == 0 && r->len)) {
        io_engine_set_error(
            e,
            g_error_new(MAPMIG_ERROR, 0,
                        "%s: %s of %zu bytes at offset %lld failed: %s",
                        e->ops->name, r->is_write ? "write" : "read", r->len,
                        (long long)r->offset,
                        res < 0 ? g_strerror(-res) : "unexpected end of file"));
    } else {
        r->buf += res;
        r->len -= res;
        r->offset += res;
        if (r->len) {
            return false;
        }
    }
    r->busy = false;
    e->inflight--;
    return true;
}

void io_engine_fail_inflight(IOEngine *e, long res)
{
    for (unsigned i = 0; i < e->depth; i++) {
        if (e->reqs[i].busy) {
            io_engine_req_done(e, &e->reqs[i], res);
        }
    }
}

static IOReq *io_engine_free_req(IOEngine *e)
{
    for (unsigned i = 0; i < e->depth; i++) {
        if (!e->reqs[i].busy) {
            return &e->reqs[i];
        }
    }
    return NULL;
}

bool io_engine_submit(IOEngine *e, bool is_write, void *buf, size_t len,
                      off_t offset, GError **errp)
{
    IOReq *r;

    while (!(r = io_engine_free_req(e)) && !e->error) {
        e->ops->reap(e);
    }
    if (!e->error) {
        *r = (IOReq){ .is_write = is_write,
                      .busy = true,
                      .buf = buf,
                      .len = len,
                      .offset = offset };
        e->inflight++;
        int fault = qemu_io_fault(e->fd, is_write, len); /* test builds */
        if (fault) {
            io_engine_req_done(e, r, fault);
        } else {
            e->ops->submit(e, r);
        }
    }
    if (e->error) {
        g_propagate_error(errp, g_error_copy(e->error));
        return false;
    }
    return true;
}

bool io_engine_drain(IOEngine *e, GError **errp)
{
    while (e->inflight) {
        e->ops->reap(e);
    }
    if (e->error) {
        g_propagate_error(errp, e->error);
        e->error = NULL;
        return false;
    }
    return true;
}

unsigned io_engine_depth(const IOEngine *e)
{
    return e->depth;
}

size_t io_engine_max_request(const IOEngine *e)
{
    return e->ops->max_request;
}

uint32_t io_engine_alignment(const IOEngine *e)
{
    return e->align;
}

/* O_DIRECT descriptors need aligned buffers and offsets; others none. */
static uint32_t io_engine_probe_alignment(QIOChannel *ioc, int fd)
{
    uint32_t mem = 1, off = 1;
    int fl = fcntl(fd, F_GETFL);

    if (fl >= 0 && (fl & O_DIRECT) &&
        !qemu_dio_alignment(fd, ioc->name ? ioc->name : "?", &mem, &off,
                            NULL)) {
        mem = off = 4096; /* unknown: assume the common block size */
    }
    return MAX(mem, off);
}

IOEngine *io_engine_new(IOEngineKind kind, QIOChannel *ioc, unsigned depth,
                        GError **errp)
{
    if (!io_engine_built_in(kind)) {
        error_setg(errp, "%s engine not built in", io_engine_name(kind));
        return NULL;
    }
    IOEngine *e = g_new0(IOEngine, 1);
    e->ops = io_engine_ops[kind];
    e->ioc = qio_channel_ref(ioc);
    e->fd = qio_channel_get_fd(ioc);
    /* A synchronous engine has nothing in flight between calls. */
    e->depth = e->ops->max_request ? MAX(1, depth) : 1;
    e->align = io_engine_probe_alignment(ioc, e->fd);
    e->reqs = g_new0(IOReq, e->depth);
    if (!e->ops->init(e, errp)) {
        qio_channel_unref(e->ioc);
        g_free(e->reqs);
        g_free(e);
        return NULL;
    }
    return e;
}

void io_engine_free(IOEngine *e)
{
    if (!e) {
        return;
    }
    GError *err = NULL;
    io_engine_drain(e, &err);
    g_clear_error(&err);
    e->ops->cleanup(e);
    qio_channel_unref(e->ioc);
    g_free(e->reqs);
    g_free(e);
}
