/*
 * The exec: migration transport: the stream goes to the standard input of
 * a shell command (source) or comes from its standard output
 * (destination), as QEMU's exec: does.
 */
#ifndef MIGRATION_EXEC_H
#define MIGRATION_EXEC_H

#include "migration/migration.h"

/* Run addr->path with "/bin/sh -c"; the channel writes to its stdin. */
QIOChannel *exec_start_outgoing(const MigrationAddress *addr, GError **errp);
/* Run addr->path with "/bin/sh -c"; the channel reads its stdout. */
QIOChannel *exec_start_incoming(const MigrationAddress *addr, GError **errp);

#endif
