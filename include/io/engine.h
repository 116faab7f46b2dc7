/*
 * I/O engines: how a thread issues positioned reads and writes of large
 * buffers on one file descriptor.
 *
 *  psync     pwrite()/pread() in the calling thread, one at a time.
 *  io-uring  liburing: up to @depth requests in flight on a private ring.
 *  libaio    Linux native AIO (io_submit), meant for O_DIRECT descriptors.
 *
 * Submissions may complete later; io_engine_drain() waits for all of them
 * and reports the first error.  Short transfers are resubmitted.  Buffers
 * must stay valid until the drain.  Not thread safe: one engine per thread.
 */
#ifndef IO_ENGINE_H
#define IO_ENGINE_H

#include "qemu/osdep.h"

typedef enum IOEngineKind {
    IO_ENGINE_PSYNC,
    IO_ENGINE_IO_URING,
    IO_ENGINE_LIBAIO,
} IOEngineKind;

typedef struct IOEngine IOEngine;

const char *io_engine_name(IOEngineKind kind);
/* Errors name the engine and say why the kernel refused it. */
IOEngine *io_engine_new(IOEngineKind kind, int fd, unsigned depth,
                        GError **errp);
bool io_engine_submit(IOEngine *e, bool is_write, void *buf, size_t len,
                      off_t offset, GError **errp);
bool io_engine_drain(IOEngine *e, GError **errp);
void io_engine_free(IOEngine *e);

#endif
