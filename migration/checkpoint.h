/*
 * x-checkpoint (our extension): incremental saves into mapped-ram files.
 *
 * After a completed save with x-checkpoint, the source keeps dirty
 * logging on and remembers the file as a *tracked image*: its identity,
 * which pages the file holds (file_bmap), their x-checksums sums, and the
 * pages dirtied since the save completed.  Every harvest of the dirty log
 * feeds each tracked image's dirty set, so with two images (A/B) each
 * holds the union of what changed since it was written.  A later save
 * into a tracked image writes only that set; everything else in the file
 * is already right.
 *
 * The state is the migration thread's while a migration runs and the
 * BQL holder's otherwise; a mutex covers both, for the QMP queries.
 */
#ifndef MIGRATION_CHECKPOINT_H
#define MIGRATION_CHECKPOINT_H

#include "qemu/osdep.h"
#include "system/ramblock.h"
#include <json-glib/json-glib.h>

struct MigrationAddress;

/*
 * migrate: whether the save to @addr rewrites a tracked image in place
 * (*incremental) or is a full save.  A full save forgets any image of
 * the same path or file, which it is about to truncate.  False with
 * @errp set if @addr is not a file: URI.
 */
bool checkpoint_begin(const struct MigrationAddress *addr, bool *incremental,
                      GError **errp);
/* The opened file is still the one tracked (not replaced since). */
bool checkpoint_check_file(int fd, GError **errp);

/*
 * Save setup of an incremental save: fill @bmap with the pages of @rb to
 * send and @file_bmap with those the file holds.  False for a full save.
 */
bool checkpoint_setup_block(RAMBlock *rb, unsigned long *bmap,
                            unsigned long *file_bmap);
/* Save setup with x-checksums: the sums of the pages the file holds. */
void checkpoint_setup_sums(RAMBlock *rb, uint64_t *sums);

/*
 * Move the dirty log of @rb into @dest (OR) and into every tracked
 * image's dirty set.  Returns how many pages were newly set in @dest.
 */
uint64_t checkpoint_sync_dirty_log(RAMBlock *rb, unsigned long *dest);

/*
 * The save ended (before its bitmaps are freed): on success the file
 * holds every page as of the switchover and becomes (again) a tracked
 * image with an empty dirty set; on failure a tracked image keeps its
 * dirty set, which every harvest since grew, and counts the pages the
 * attempt may have written as present.  Also @end, the stream's end.
 */
void checkpoint_finish(bool ok, uint64_t end);

/* x-query-checkpoints: harvests first when no migration runs. */
JsonArray *checkpoint_query(bool harvest);
/* x-checkpoint-forget: @path, or every image when NULL. */
bool checkpoint_forget(const char *path, GError **errp);

#endif
