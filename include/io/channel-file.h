/*
 * QIOChannelFile: a channel over a file descriptor of a regular file,
 * pipe or character device.  SEEKABLE is probed once with lseek().
 * preadv/pwritev use the positioned system calls, so several threads may
 * share one file at different offsets.
 */
#ifndef IO_CHANNEL_FILE_H
#define IO_CHANNEL_FILE_H

#include "io/channel.h"

typedef struct QIOChannelFile {
    QIOChannel parent;
    int fd;
    bool borrowed; /* the caller keeps the fd: closing leaves it open */
    /* Drop-behind (reads): the file position and the range read, not yet
     * dropped from the page cache. */
    bool drop_behind;
    off_t pos;
    off_t drop_start, drop_end;
} QIOChannelFile;

/* Wrap @fd; the channel owns it from now on. */
QIOChannelFile *qio_channel_file_new_fd(int fd);
/*
 * Wrap @fd for a while without taking it: closing or freeing the channel
 * leaves @fd open.  For code that keeps a raw descriptor but does some
 * I/O through the channel layer (full-length retries, fault injection).
 * @name (may be NULL) names the file in error messages.
 */
QIOChannelFile *qio_channel_file_new_borrowed(int fd, const char *name);
/* open(path, flags, mode); errors name the path and the errno text. */
QIOChannelFile *qio_channel_file_new_path(const char *path, int flags,
                                          mode_t mode, GError **errp);

/*
 * Drop what was read from the page cache, in batches, as reading goes on:
 * for a file read once whose data ends up elsewhere (guest RAM), a cached
 * copy only doubles the memory used, and fresh page-cache pages cost as
 * much to fault in as the RAM itself.  Whatever is left is dropped when
 * the channel closes.  Pages a read did not cover stay cached.
 */
void qio_channel_file_set_drop_behind(QIOChannelFile *fioc);

#endif
