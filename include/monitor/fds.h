/*
 * File descriptors a management tool passes to the monitor: named fds
 * (getfd / closefd) and fd sets (add-fd / remove-fd / query-fdsets), as
 * QEMU's monitor/fds.c.
 *
 * Include direction: DESIGN.md has the arrows go monitor -> migration, and
 * migration/ never calls the monitor.  The one exception is this narrow
 * look-up API, which QEMU's migration uses the same way (monitor_get_fd,
 * monitor_fdset_dup_fd_add): migration/fd.c takes descriptors by name or
 * fd set, and nothing here knows of migration.
 */
#ifndef MONITOR_FDS_H
#define MONITOR_FDS_H

#include "qemu/osdep.h"

/* A path that names an fd set instead of a file: "/dev/fdset/N". */
#define MONITOR_FDSET_PATH_PREFIX "/dev/fdset/"

/*
 * Take the descriptor named @fdname by getfd out of the table; the caller
 * owns it from then on.  As QEMU, a plain number names a descriptor the
 * process inherited (it must be open; ownership passes the same way).
 * Main thread only.  Returns the fd, or -1 with @errp set.
 */
int monitor_get_fd(const char *fdname, GError **errp);

/* Whether @path names an fd set (see monitor_fdset_open()). */
static inline bool monitor_fdset_is_path(const char *path)
{
    return g_str_has_prefix(path, MONITOR_FDSET_PATH_PREFIX);
}

/*
 * Open "/dev/fdset/N": duplicate (close-on-exec) the member of fd set N
 * whose access mode fits @flags' O_ACCMODE (an O_RDWR member fits any) and
 * whose O_DIRECT flag equals @flags' one; other flags are ignored.  The set
 * keeps its member; the caller owns the copy.  Thread safe (multifd
 * channels open from sets).  Returns the new fd, or -1 with @errp set.
 */
int monitor_fdset_open(const char *path, int flags, GError **errp);

/* Register getfd, closefd, add-fd, remove-fd and query-fdsets. */
void monitor_fds_register_commands(void);

#endif
