/*
 * I/O engines: how one thread issues positioned reads and writes of large
 * buffers on a file channel.
 *
 * An engine is built on a seekable QIOChannel (normally a QIOChannelFile,
 * so the fault-injection hooks of io/fault.h see every request).  Its
 * backend is an ops table in a file of its own (io/engine-*.c); the core
 * (io/engine.c) keeps the request slots, resubmits short transfers and
 * remembers the first error.
 *
 * Submissions may complete later; io_engine_drain() waits for all of them
 * and reports the first error.  Buffers must stay valid until the drain.
 * Not thread safe: one engine per thread.
 */
#ifndef IO_ENGINE_H
#define IO_ENGINE_H

#include "io/channel.h"

/* The engines, in the order of the name table (io_engine_name()). */
typedef enum IOEngineKind {
    IO_ENGINE_PSYNC,    /* pread/pwrite in the calling thread */
    IO_ENGINE_IO_URING, /* liburing, @depth requests in flight */
    IO_ENGINE_LIBAIO,   /* Linux native AIO, meant for O_DIRECT */
    IO_ENGINE__MAX
} IOEngineKind;

typedef struct IOEngine IOEngine;

/* The one name table: "psync", "io-uring", "libaio". */
extern const char *const io_engine_names[IO_ENGINE__MAX];
const char *io_engine_name(IOEngineKind kind);
/* The kind called @name, or -1. */
int io_engine_lookup(const char *name);
/* Whether this build has the backend (its library was found). */
bool io_engine_built_in(IOEngineKind kind);

/*
 * An engine of @kind on @ioc (a reference is taken) with room for
 * @depth requests in flight.  Errors name the engine and say why the
 * kernel refused it.
 */
IOEngine *io_engine_new(IOEngineKind kind, QIOChannel *ioc, unsigned depth,
                        GError **errp);

/* Capabilities callers ask for instead of testing the kind. */
/* Requests that can be in flight at once: 1 for a synchronous engine. */
unsigned io_engine_depth(const IOEngine *e);
/*
 * Largest request worth submitting at once, or 0 for "any": an
 * asynchronous engine keeps the device busy with several medium ones.
 */
size_t io_engine_max_request(const IOEngine *e);
/* Buffer and offset alignment the descriptor needs (1 unless O_DIRECT). */
uint32_t io_engine_alignment(const IOEngine *e);

/*
 * Queue a transfer of @len bytes at @offset.  False once any request
 * failed (the first error, which drain reports too).
 */
bool io_engine_submit(IOEngine *e, bool is_write, void *buf, size_t len,
                      off_t offset, GError **errp);
/* Wait for every request; false with the first error since the last drain. */
bool io_engine_drain(IOEngine *e, GError **errp);
/* Drain (errors dropped), release the backend and the channel reference. */
void io_engine_free(IOEngine *e);

#endif
