/*
 * Accelerators: what runs the guest's vCPUs and tracks the pages it
 * writes.  Shaped like QEMU's AccelOpsClass plus the log_* hooks of its
 * KVM memory listener, in one table per accelerator:
 *
 *  soft  host threads run the workload of hw/workload.c and record their
 *        writes in each RAMBlock's software dirty log (accel/soft/).
 *  kvm   a real x86 guest (tests/guest/) runs in KVM; KVM's dirty log
 *        says which pages it wrote during a migration (accel/kvm/).
 *
 * The generic vCPU thread loop (system/cpus.c) parks and releases the
 * vCPUs and calls cpu_exec() while they may run; kick_vcpu() makes a
 * vCPU inside cpu_exec() look at the run flag at once.
 */
#ifndef ACCEL_ACCEL_H
#define ACCEL_ACCEL_H

#include "qemu/osdep.h"
#include "system/cpus.h"
#include "system/system.h"

typedef struct WorkloadInfo WorkloadInfo;

typedef struct AccelOps {
    const char *name;

    /* Mandatory */
    /*
     * Set the accelerator up for @ms, whose RAM blocks exist and whose
     * vCPUs do not yet.  @props: the text after "name," of -accel
     * (NULL if none).  On failure nothing is left behind, so the next
     * accelerator of a fallback list can be tried.
     */
    bool (*init_machine)(MachineState *ms, const char *props, GError **errp);
    /*
     * Run guest code on @cpu (its own thread) until *@run is false.
     * Returns with the vCPU's state complete and stable.
     */
    void (*cpu_exec)(CPUState *cpu, _Atomic bool *run);
    /*
     * Register the vCPU state and other accelerator state as device
     * sections.  @guest: the machine has a guest program whose state
     * must travel (mini machine, or a workload was given).
     */
    void (*register_vmstate)(MachineState *ms, bool guest);

    /* Optional */
    /* Per vCPU, before its thread starts / after it has been joined. */
    bool (*init_vcpu)(CPUState *cpu, GError **errp);
    void (*destroy_vcpu)(CPUState *cpu);
    /* Make a vCPU that is inside cpu_exec() re-check its run flag. */
    void (*kick_vcpu)(CPUState *cpu);
    /*
     * Make a vCPU that is inside the guest come out to its throttle check
     * (system/cpu-throttle.c), without stopping it.  Needed when guest
     * code can run for long without an exit.
     */
    void (*throttle_kick)(CPUState *cpu);
    /* BQL held, every vCPU parked, just before they are let go. */
    void (*pre_resume)(void);
    /*
     * Dirty tracking of guest writes the accelerator sees and the
     * software log does not: start/stop with global dirty tracking;
     * log_sync ORs the pages written since the last sync into @dest
     * and returns how many bits were newly set.  Migration thread.
     */
    void (*log_start)(void);
    void (*log_stop)(void);
    uint64_t (*log_sync)(RAMBlock *rb, unsigned long *dest);
    /* x-query-workload, when the guest keeps its own statistics. */
    void (*workload_info)(WorkloadInfo *info);
} AccelOps;

/* The accelerator in use (soft until accel_init() chose one). */
extern const AccelOps *accel_ops;

extern const AccelOps soft_accel_ops;
extern const AccelOps kvm_accel_ops;

/*
 * Choose and set up the accelerator for @ms from @spec: a list of
 * "name[,props]" separated by ':' (QEMU's kvm:tcg fallback syntax),
 * tried in order; NULL means "soft".  A failure of one that is followed
 * by another is reported as a warning on stderr.
 */
bool accel_init(MachineState *ms, const char *spec, GError **errp);
const char *accel_name(void);
bool accel_is_kvm(void);
/* query-kvm (QMP) and info kvm (HMP). */
void accel_register_commands(void);

#endif
