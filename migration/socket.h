/*
 * The unix: and tcp: migration transports.  The source remembers the
 * address so multifd channels can connect to it too.
 */
#ifndef MIGRATION_SOCKET_H
#define MIGRATION_SOCKET_H

#include "migration/migration.h"

/* Source: connect to addr->path ("unix:PATH" or "tcp:HOST:PORT"). */
QIOChannel *socket_start_outgoing(const MigrationAddress *addr, GError **errp);
/*
 * Destination: listen on addr->path.  The main connection and one per
 * multifd channel come to this listener, in any order.
 */
QIOChannel *socket_start_incoming(const MigrationAddress *addr, GError **errp);
/* Source: one more connection, for a multifd channel. */
QIOChannel *socket_multifd_channel_new(GError **errp);
/* Forget the address (the migration ended). */
void socket_cleanup(void);

#endif
