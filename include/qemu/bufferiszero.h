/*
 * Zero-buffer detection, the hot test of every migrated page.
 *
 * buffer_is_zero() picks the fastest implementation the host runs (AVX2,
 * SSE2, or a portable unrolled 64-bit loop) once, at program start.
 */
#ifndef QEMU_BUFFERISZERO_H
#define QEMU_BUFFERISZERO_H

#include "qemu/osdep.h"

/*
 * Whether the @len bytes at @buf are all zero (true for @len == 0).
 * Any length and alignment; fastest for whole 4 KiB pages.  Thread safe.
 */
bool buffer_is_zero(const void *buf, size_t len);

/*
 * For tests: make implementation @i (0 is the best this host runs, then
 * slower ones down to the portable loop) the one buffer_is_zero() uses,
 * and return its name; NULL when there is no implementation @i.
 * Not thread safe.
 */
const char *buffer_is_zero_select(unsigned i);

#endif
