/*
 * QIOChannel helpers that pick a channel type for the caller.
 */
#ifndef IO_CHANNEL_UTIL_H
#define IO_CHANNEL_UTIL_H

#include "io/channel.h"

/*
 * Wrap an fd of unknown type (e.g. "fd:N" migration URIs, fds received
 * over the monitor): a socket channel for sockets, a file channel for
 * anything else.  The channel owns @fd on success; on failure the caller
 * still does.
 */
QIOChannel *qio_channel_new_fd(int fd, GError **errp);

#endif
