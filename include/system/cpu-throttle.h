/*
 * vCPU throttling for migration convergence (QEMU's cpu-throttle.c and,
 * for the soft accelerator, its dirty-limit).
 *
 * cpu-throttle: at N percent, a vCPU sleeps N/(100-N) of each time slice
 * it ran (10 ms slices, as QEMU), so the guest gets 100-N percent of
 * the time.  dirty-limit: each vCPU dirties at most a given number of
 * bytes per second.  Both are applied by the accelerators' vCPU loops
 * (cpu_throttle_vcpu_sleep(), cpu_dirty_limit_account()); setters run in
 * the migration thread, and a stop is seen by the next check.
 */
#ifndef SYSTEM_CPU_THROTTLE_H
#define SYSTEM_CPU_THROTTLE_H

#include "qemu/osdep.h"
#include "system/cpus.h"

#define CPU_THROTTLE_PCT_MIN 1
#define CPU_THROTTLE_PCT_MAX 99
/* The slice a vCPU runs between two throttle sleeps (QEMU's 10 ms). */
#define CPU_THROTTLE_TIMESLICE_NS (10 * 1000 * 1000LL)

/* Throttle every vCPU to @pct percent (clamped to 1..99). */
void cpu_throttle_set(int pct);
/* Lift the throttle: vCPUs run at full speed from their next check. */
void cpu_throttle_stop(void);
bool cpu_throttle_active(void);
/* The current percentage, 0 when not active. */
int cpu_throttle_get_percentage(void);

/*
 * vCPU thread, between pieces of guest work: sleep the throttled share
 * of the slice just run.  Sleeps in short steps and returns early once
 * *@run turns false or the throttle is lifted.
 */
void cpu_throttle_vcpu_sleep(CPUState *cpu, _Atomic bool *run);

/* dirty-limit: at most @bytes_per_sec per vCPU; 0 lifts the limit. */
void cpu_dirty_limit_set(uint64_t bytes_per_sec);
uint64_t cpu_dirty_limit_get(void);
/*
 * vCPU thread: @cpu just dirtied @pages pages; sleep as long as it takes
 * to stay within the limit (early on !*@run or when it is lifted).
 */
void cpu_dirty_limit_account(CPUState *cpu, uint64_t pages, _Atomic bool *run);

#endif
