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
} QIOChannelFile;

/* Wrap @fd; the channel owns it from now on. */
QIOChannelFile *qio_channel_file_new_fd(int fd);
/* open(path, flags, mode); errors name the path and the errno text. */
QIOChannelFile *qio_channel_file_new_path(const char *path, int flags,
                                          mode_t mode, GError **errp);

#endif
