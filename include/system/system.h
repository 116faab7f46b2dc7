/*
 * The machine: command-line configuration and its devices.
 */
#ifndef SYSTEM_SYSTEM_H
#define SYSTEM_SYSTEM_H

#include "qemu/osdep.h"
#include "system/ramblock.h"

typedef struct MachineState {
    char *type; /* "mini" or "none" */
    uint64_t ram_size;
    int smp;
    char *name;
    char *accel;
    RAMBlock *ram;     /* main RAM: guest-physical 0 */
    char *memdev;      /* -machine memory-backend=ID, or NULL */
    bool ram_size_set; /* -m was given (must then match the backend) */
} MachineState;

extern MachineState *current_machine;

/* QEMU's machine type names, as sent in the configuration section. */
const char *machine_type_name(void);

/* Create the machine's RAM blocks and devices. */
bool machine_init(MachineState *ms, GError **errp);
void machine_register_devices(MachineState *ms, bool workload_active);

/* Register system QMP/HMP commands (query-status, stop, cont, ...). */
void system_register_commands(void);

#endif
