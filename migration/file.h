/*
 * The file: migration transport.  It remembers the path of the migration
 * in progress, so multifd channels can open the file again, and it makes
 * a completed save durable.
 */
#ifndef MIGRATION_FILE_H
#define MIGRATION_FILE_H

#include "migration/migration.h"

/*
 * Source: create or open the file, drop what lies past addr->offset (the
 * bytes before it belong to the management tool; with addr->rewrite the
 * rest stays too) and start there.
 */
QIOChannel *file_start_outgoing(const MigrationAddress *addr, GError **errp);
/* Destination: open the file for reading at addr->offset. */
QIOChannel *file_start_incoming(const MigrationAddress *addr, GError **errp);
/*
 * A new descriptor on the migration's file for a multifd channel,
 * O_DIRECT when direct-io is on.
 */
QIOChannel *file_multifd_channel_new(bool sending, GError **errp);
/*
 * "completed" means durable: the data and size of the file behind @ioc
 * are on stable storage, and so is its directory entry if the save
 * created it.
 */
bool file_sync_complete(QIOChannel *ioc, GError **errp);
/*
 * Source: every byte of @f is written; the file ends where the stream
 * does (*end), shorter than before if a rewrite's stream is.
 */
bool file_finish_outgoing(QEMUFile *f, uint64_t *end, GError **errp);
/* Source: the file offset the stream starts at (the URI's offset=). */
uint64_t file_outgoing_stream_start(void);
/* Forget the path (the migration ended). */
void file_cleanup(bool sending);

#endif
