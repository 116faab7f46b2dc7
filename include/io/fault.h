/*
 * Test-only I/O fault injection.
 *
 * Compiled only into the test binary tests/mapmig-fault (io/ built again
 * with -DCONFIG_FAULT_INJECTION, see tests/meson.build): in mapmig itself
 * qemu_io_fault() is an inline "no fault" and io/fault.c is not linked,
 * so no release binary can be made to fail I/O on purpose.
 *
 * The test binary reads one rule from the environment at the first I/O:
 *
 *   MAPMIG_FAULT=op=read|write[,errno=EIO|ENOSPC|EROFS|N][,after=BYTES]
 *                [,path=SUBSTR][,count=N][,delay=USEC]
 *
 * Once BYTES bytes of that direction have gone through matching files,
 * every further read or write of a matching file (up to N of them, default
 * unlimited) fails with the errno (EIO by default), after sleeping USEC
 * microseconds if a delay is given; delay= alone makes I/O slow without
 * failing it.  A file matches when the path of its descriptor
 * (/proc/self/fd) contains SUBSTR (any file if absent).  Hooks
 * sit in the file channel (read/write/preadv/pwritev) and in the I/O
 * engines (psync, io-uring, libaio), which carry all migration file I/O.
 */
#ifndef IO_FAULT_H
#define IO_FAULT_H

#include "qemu/osdep.h"

#ifdef CONFIG_FAULT_INJECTION
/*
 * Whether the I/O of @len bytes on @fd must fail: 0 to go ahead, or the
 * negative errno to fail it with.  Thread safe.
 */
int qemu_io_fault(int fd, bool is_write, size_t len);
#else
static inline int qemu_io_fault(int fd, bool is_write, size_t len)
{
    return 0;
}
#endif

#endif
