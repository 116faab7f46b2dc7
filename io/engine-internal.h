/*
 * I/O engine backends: what a backend file (io/engine-*.c) provides and
 * what the core (io/engine.c) gives it.  Private to io/.
 */
#ifndef IO_ENGINE_INTERNAL_H
#define IO_ENGINE_INTERNAL_H

#include "io/engine.h"

#if CONFIG_LIBAIO
#include <libaio.h>
#endif

/* One request slot; a short transfer is resubmitted for the rest. */
typedef struct IOReq {
    bool is_write;
    bool busy;
    char *buf;
    size_t len;
    off_t offset;
#if CONFIG_LIBAIO
    struct iocb iocb; /* libaio's control block lives in the slot */
#endif
} IOReq;

typedef struct IOEngineOps {
    const char *name;
    /* Largest request the caller should submit, 0 for any. */
    size_t max_request;
    /* Set up for e->depth requests (e->fd is valid); free on failure. */
    bool (*init)(IOEngine *e, GError **errp);
    /* Start @r; its end is reported with io_engine_req_done(). */
    void (*submit)(IOEngine *e, IOReq *r);
    /* Wait for at least one completion (only called with e->inflight). */
    void (*reap)(IOEngine *e);
    /* Release what init set up. */
    void (*cleanup)(IOEngine *e);
} IOEngineOps;

struct IOEngine {
    const IOEngineOps *ops;
    QIOChannel *ioc;
    int fd;
    unsigned depth;
    unsigned inflight;
    uint32_t align;
    IOReq *reqs;
    GError *error; /* first failure, reported by drain */
    void *opaque;  /* the backend's state */
};

/*
 * @r transferred @res bytes (or failed with -errno).  Returns true if it
 * is finished (its slot is free again), false if the backend must submit
 * the remainder.
 */
bool io_engine_req_done(IOEngine *e, IOReq *r, long res);
/* Waiting failed with -errno @res: nothing will complete, give every
 * request in flight up with that error. */
void io_engine_fail_inflight(IOEngine *e, long res);
/* Record @err as the engine's error unless one came first (takes it). */
void io_engine_set_error(IOEngine *e, GError *err);

extern const IOEngineOps io_engine_psync_ops;
#if CONFIG_IO_URING
extern const IOEngineOps io_engine_io_uring_ops;
#endif
#if CONFIG_LIBAIO
extern const IOEngineOps io_engine_libaio_ops;
#endif

#endif
