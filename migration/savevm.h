/*
 * The migration stream: header, sections, device state, VM description.
 */
#ifndef MIGRATION_SAVEVM_H
#define MIGRATION_SAVEVM_H

#include "migration/format.h"
#include "migration/qemu-file.h"
#include "migration/vmstate.h"

/* Iterative state (RAM). */
typedef struct SaveVMHandlers {
    /* Source.  Each returns false with errp set on failure. */
    bool (*save_setup)(QEMUFile *f, void *opaque, GError **errp);
    /*
     * Send a bounded amount of data; *done is set when the current pass
     * over dirty data finished.  Errors go to the QEMUFile.
     */
    void (*save_live_iterate)(QEMUFile *f, void *opaque, bool *done);
    void (*save_live_complete)(QEMUFile *f, void *opaque);
    void (*save_cleanup)(void *opaque);
    /* Destination. */
    bool (*load_state)(QEMUFile *f, void *opaque, int version_id,
                       GError **errp);
    /* After EOF: the whole stream was read. */
    bool (*load_complete)(void *opaque, GError **errp);
    void (*load_cleanup)(void *opaque);
} SaveVMHandlers;

void register_savevm_live(const char *idstr, uint32_t instance_id,
                          int version_id, const SaveVMHandlers *ops,
                          void *opaque);
/*
 * Consume a section id without a handler, so that our ids line up with
 * QEMU's for the same machine (QEMU registers handlers that send nothing).
 */
void savevm_skip_section_id(void);

/* Source side, in stream order. */
void qemu_savevm_state_header(QEMUFile *f);
bool qemu_savevm_state_setup(QEMUFile *f, GError **errp);
/* One PART section per iterable handler; *done when all passes ended. */
void qemu_savevm_state_iterate(QEMUFile *f, bool *done);
/* END sections, device state, EOF and the VM description. */
void qemu_savevm_state_complete_precopy(QEMUFile *f);
void qemu_savevm_state_cleanup(void);

/* Destination: load a whole stream. */
bool qemu_loadvm_state(QEMUFile *f, GError **errp);

/* The VM description JSON of the current device set (g_free). */
char *qemu_savevm_vmdesc(void);

#endif
