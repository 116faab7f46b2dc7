/*
 * vCPUs of the soft accelerator: host threads that run the guest's
 * workload.  Paused vCPUs are parked on a condition variable; a paused
 * vCPU never touches guest memory, so a stopped VM's RAM is stable.
 */
#ifndef SYSTEM_CPUS_H
#define SYSTEM_CPUS_H

#include "qemu/osdep.h"

typedef struct CPUState {
    int cpu_index;
    GThread *thread;
    uint64_t rng;   /* guest register: workload PRNG state */
    uint64_t steps; /* guest register: steps executed */
} CPUState;

extern CPUState *cpus;
extern int nr_cpus;

/* Create @n vCPU threads, parked until resume_all_vcpus(). */
void cpus_init(int n);
void pause_all_vcpus(void);
void resume_all_vcpus(void);
bool all_vcpus_paused(void);
/* Stop and join every vCPU thread (at exit). */
void cpus_destroy(void);

/* Guest virtual clock: ns the VM has been running. */
int64_t cpu_get_clock(void);
void cpu_set_clock(int64_t ns);

#endif
