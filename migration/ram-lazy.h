/*
 * Lazy restore ("instant restore"): resume the guest before its RAM is
 * loaded from a mapped-ram file.
 *
 * Guest RAM is registered with userfaultfd (missing mode).  A fault thread
 * resolves each fault by reading the aligned chunk around the page from
 * the file (UFFDIO_COPY; holes of the file bitmap with UFFDIO_ZEROPAGE),
 * while prefetch threads load the rest in file order, next to recent
 * faults first.  Every page of a mapped-ram file has a fixed offset, so a
 * fault costs one positioned read.  See docs/migration/lazy-restore.rst.
 *
 * Life cycle, driven by the incoming migration:
 *   ram_lazy_add_block()  per block, while the RAM section is parsed
 *   ram_lazy_start()      after the last block: register, start threads
 *   ... device state is loaded, the guest resumes ...
 *   ram_lazy_wait()       incoming thread: until every page is in
 *   ram_lazy_finish()     unregister, stop the threads (keeps statistics)
 *   ram_lazy_cancel(), ram_lazy_shutdown()   at exit (also after a failure)
 */
#ifndef MIGRATION_RAM_LAZY_H
#define MIGRATION_RAM_LAZY_H

#include "migration/qemu-file.h"
#include "system/ramblock.h"

#include <json-glib/json-glib.h>

/* Can this process resolve guest page faults with userfaultfd? */
bool ram_lazy_supported(GError **errp);
/*
 * Can every migratable block be filled through userfaultfd?  Only
 * anonymous private memory (memory-backend-ram, -m): file, memfd and
 * hugetlb backends start with contents of their own or need huge-page
 * copies.
 */
bool ram_lazy_check_blocks(GError **errp);

/* Loader: @file_bmap (pages present in the file) is taken over. */
bool ram_lazy_add_block(RAMBlock *rb, unsigned long *file_bmap, GError **errp);
/* Register guest RAM and start the threads; reads go through @f's fd. */
bool ram_lazy_start(QEMUFile *f, GError **errp);
/* The device state is in and the guest resumes: prefetch may read now. */
void ram_lazy_start_prefetch(void);
/* Between ram_lazy_start() and the end of the load. */
bool ram_lazy_active(void);
/*
 * Block until every page is in (true) or the lazy load failed or was
 * cancelled (false, with the error).
 */
bool ram_lazy_wait(GError **errp);
/* After success: unregister and stop the threads. */
void ram_lazy_finish(void);
/* The load failed before the guest ran: undo everything. */
void ram_lazy_abort(void);
/* The lazy load failed: guest RAM is incomplete for good. */
bool ram_lazy_failed(void);

/*
 * After a failure: park the vCPUs from a helper thread.  A vCPU blocked
 * on a page that can never be read does not park until exit, so the
 * main loop must not wait for it.
 */
void ram_lazy_pause_vcpus_async(void);

/* Process exit, first step: make ram_lazy_wait() return. */
void ram_lazy_cancel(void);
/*
 * Process exit, once the incoming thread is joined: park the vCPUs (while
 * faults are still served), stop, release blocked threads, free.
 */
void ram_lazy_shutdown(void);

/* query-migrate: the "lazy-restore" statistics (NULL if none). */
JsonObject *ram_lazy_query(void);

#endif
