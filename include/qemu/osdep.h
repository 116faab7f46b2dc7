/*
 * Common includes and helpers for every mapmig source file.
 * Include this first, as QEMU does with its own osdep.h.
 */
#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#include "config-host.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "qemu/error.h"

#ifndef MIN
#define MIN(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) (((a) > (b)) ? (a) : (b))
#endif
#define ROUND_UP(n, d) ((((n) + (d)-1) / (d)) * (d))
#define ROUND_DOWN(n, d) (((n) / (d)) * (d))
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))
#define QEMU_IS_ALIGNED(n, m) (((n) % (m)) == 0)
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#define QEMU_PACKED __attribute__((packed))
#define QEMU_NORETURN __attribute__((noreturn))
#define G_GNUC_UNUSED_PARAM __attribute__((unused))

#define KiB (INT64_C(1) << 10)
#define MiB (INT64_C(1) << 20)
#define GiB (INT64_C(1) << 30)
#define TiB (INT64_C(1) << 40)

/* Target (guest) page: 4 KiB, as on x86. */
#define TARGET_PAGE_BITS 12
#define TARGET_PAGE_SIZE (1ULL << TARGET_PAGE_BITS)
#define TARGET_PAGE_MASK (~(TARGET_PAGE_SIZE - 1))

/* Monotonic clock in nanoseconds / milliseconds. */
static inline int64_t qemu_clock_ns(void)
{
    return g_get_monotonic_time() * 1000;
}

static inline int64_t qemu_clock_ms(void)
{
    return g_get_monotonic_time() / 1000;
}

/* Wall clock in nanoseconds since the epoch. */
static inline int64_t qemu_realtime_ns(void)
{
    return g_get_real_time() * 1000;
}

#endif
