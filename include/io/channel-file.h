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

#endif
