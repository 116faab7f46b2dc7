/*
 * QIOChannelCommand: the stdin or stdout of "sh -c CMD" (exec: URIs).
 * O_WRONLY: we write to the command's stdin; O_RDONLY: we read its stdout.
 * Closing waits for the child; a non-zero exit status is reported as an
 * error by qio_channel_close().
 */
#ifndef IO_CHANNEL_COMMAND_H
#define IO_CHANNEL_COMMAND_H

#include "io/channel.h"

typedef struct QIOChannelCommand {
    QIOChannel parent;
    int fd; /* our end of the pipe */
    pid_t pid;
} QIOChannelCommand;

QIOChannelCommand *qio_channel_command_new_spawn(const char *cmd, int flags,
                                                 GError **errp);

#endif
