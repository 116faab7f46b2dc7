/*
 * Writing out what a migration file holds: one RAM block as a raw image
 * (extract), or the whole file re-encoded in the other RAM layout
 * (convert), as mapmig-img does.
 *
 * The source is a MigFile (migfile.h), so it has been validated before
 * anything is written and every read stays inside it.  Outputs are
 * written through a QIOChannelFile, so fault injection (io/fault.h) sees
 * every write.  A failed operation removes the output it created.
 *
 * Zero pages are left as holes: an extracted block or a mapped-ram pages
 * region is as sparse as the guest's memory was.
 */
#ifndef MIGRATION_MIGFILE_CONVERT_H
#define MIGRATION_MIGFILE_CONVERT_H

#include "migration/migfile.h"

/*
 * Write the final contents of RAM block @block of @mf to a new file @out
 * (created or truncated, then sized to the block's length): present
 * pages at their offsets, zero and absent pages as holes.  In the stream
 * layout later records of a page replace earlier ones, so @mf is walked
 * again.  Fails if @mf has no such block or x-ignore-shared left it out
 * of the file.
 */
bool migfile_extract_block(MigFile *mf, const char *block, const char *out,
                           GError **errp);

/*
 * Write @mf to a new file @out in the RAM layout @to, which must not be
 * @mf's own: the configuration (with or without the "mapped-ram"
 * capability), the "ram" sections re-encoded, then the device sections,
 * EOF and the VM description copied verbatim.
 *
 * To stream: one PART section with a record for every page, as QEMU 7.2
 * sends a stopped guest (ZERO records for zero and absent pages).
 * To mapped-ram: each block's header, bitmap and pages region at the
 * offsets QEMU computes (mapped_ram_layout()); @mf is walked again to
 * place every page record.
 *
 * Fails if @mf has no "ram" section or leaves a block in shared memory
 * (x-ignore-shared).
 */
bool migfile_convert(MigFile *mf, MigLayout to, const char *out, GError **errp);

#endif
