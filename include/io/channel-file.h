/*
 * QIOChannelFile: a channel over a file descriptor of a regular file,
 * pipe or character device.  SEEKABLE is probed once with lseek().
 * preadv/pwritev use the positioned system calls, so several threads may
 * share one file at different offsets.
 */
#ifndef IO_CHANNEL_FILE_H
#define IO_CHANNEL_FILE_H

#include "io/channel.h"

typedef enum FileBehind {
    FILE_BEHIND_OFF,
    FILE_BEHIND_READ,
    FILE_BEHIND_WRITE,
} FileBehind;

typedef struct FileRange {
    off_t start, end;
} FileRange;

/* Written batches in flight before the oldest is waited for. */
#define WRITE_BEHIND_DEPTH 4

typedef struct QIOChannelFile {
    QIOChannel parent;
    int fd;
    bool borrowed; /* the caller keeps the fd: closing leaves it open */
    FileBehind behind;
    off_t pos;       /* of readv/writev, kept while behind is on */
    FileRange batch; /* done, not yet dropped (or sent to the disk) */
    FileRange wb[WRITE_BEHIND_DEPTH + 1]; /* under writeback, oldest first */
    int nwb;
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
 * Keep no copy of a file read or written once in the page cache, for a
 * file whose data lives elsewhere (guest RAM): the copy would double the
 * memory used, and fresh page-cache pages cost as much to fault in as
 * the RAM itself, while reused ones are warm.
 *
 * FILE_BEHIND_READ drops what was read, in batches, as reading goes on.
 * FILE_BEHIND_WRITE starts the writeback of what was written, and drops
 * it once on disk, a few batches later; a writeback error fails the write
 * that waited for it (it would not reach a later fsync).  Closing drops
 * what is left and clean.  Call this after any initial seek.
 */
void qio_channel_file_set_behind(QIOChannelFile *fioc, FileBehind mode);

#endif
