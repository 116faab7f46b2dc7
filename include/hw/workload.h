/*
 * The guest's workload: what the vCPUs "execute".  Its kind, parameters
 * and progress are guest state and travel in the migration stream, so a
 * destination continues exactly where the source stopped.
 */
#ifndef HW_WORKLOAD_H
#define HW_WORKLOAD_H

#include "qemu/osdep.h"
#include "system/cpus.h"

typedef enum {
    WORKLOAD_IDLE,
    WORKLOAD_STRESS,
    WORKLOAD_AB,
    WORKLOAD_VERIFY,
} WorkloadKind;

/*
 * Parse "idle", "stress[,share=N][,rate=P]", "ab[,rate=P]" or
 * "verify[,rate=P][,passes=N]".
 */
bool workload_parse(const char *spec, GError **errp);
/* Register the workload and vCPU state (once vCPUs exist). */
void workload_init(void);
WorkloadKind workload_kind(void);
/* The -workload configuration (a KVM guest gets it as parameters). */
void workload_get_config(WorkloadKind *kind, uint32_t *share, uint64_t *rate);
const char *workload_kind_name(uint32_t kind);
/* Most pages one batch of workload_step() dirties. */
#define WORKLOAD_BATCH_PAGES 256

/*
 * Run one batch of guest work on @cpu.  Returns false when this vCPU has
 * nothing to do (idle), so its thread may sleep.  A wait for the rate=
 * pacing ends early once *@run drops (the vCPU is being stopped).
 */
bool workload_step(CPUState *cpu, _Atomic bool *run);

typedef struct WorkloadInfo {
    const char *kind;
    uint64_t passes;
    uint64_t pages_written;
    uint64_t errors;
    uint32_t share;
} WorkloadInfo;
void workload_get_info(WorkloadInfo *info);

/*
 * Serial port: guest output goes where -serial says (a chardev spec of
 * include/monitor/chardev.h; NULL for none).  A socket server takes one
 * client at a time; output with no client is dropped.
 */
typedef struct ChardevSpec ChardevSpec;
bool serial_init(ChardevSpec *cs, GError **errp);
/* Close the output and remove a UNIX socket node it created. */
void serial_cleanup(void);
void serial_putc(char c);
/* Port I/O on the UART's eight registers (@offset 0..7), as a guest does. */
void serial_ioport_write(unsigned offset, uint8_t val);
uint8_t serial_ioport_read(unsigned offset);
void serial_register_vmstate(void);

#endif
