/*
 * vCPUs: one host thread each, running guest code through the
 * accelerator (include/accel/accel.h).  Paused vCPUs are parked on a
 * condition variable; a paused vCPU never touches guest memory, so a
 * stopped VM's RAM and vCPU state are stable.
 */
#ifndef SYSTEM_CPUS_H
#define SYSTEM_CPUS_H

#include "qemu/osdep.h"

#include <pthread.h>

typedef struct AccelCPUState AccelCPUState;

typedef struct CPUState {
    int cpu_index;
    GThread *thread;
    pthread_t thread_id;  /* set by the thread before it first parks */
    AccelCPUState *accel; /* accelerator's per-vCPU state */
    uint64_t rng;         /* soft guest register: workload PRNG state */
    uint64_t steps;       /* soft guest register: steps executed */
    /* vCPU thread only (system/cpu-throttle.c): */
    int64_t throttle_slice_ns;  /* start of the slice being run, 0 = none */
    int64_t dirty_limit_ns;     /* start of the dirty-limit window */
    uint64_t dirty_limit_pages; /* pages dirtied in that window */
} CPUState;

extern CPUState *cpus;
extern int nr_cpus;

/*
 * Create @n vCPUs in the accelerator and their threads, parked until
 * resume_all_vcpus().
 */
bool cpus_init(int n, GError **errp);
void pause_all_vcpus(void);
void resume_all_vcpus(void);
bool all_vcpus_paused(void);
/* Stop and join every vCPU thread (at exit). */
void cpus_destroy(void);

/* Guest virtual clock: ns the VM has been running. */
int64_t cpu_get_clock(void);
void cpu_set_clock(int64_t ns);

#endif
