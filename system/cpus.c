/*
 * vCPU threads, common to every accelerator.
 *
 * Pausing is a handshake: pause_all_vcpus() clears run_vcpus, kicks the
 * vCPUs (KVM: out of KVM_RUN) and waits until every thread has parked;
 * the accelerator's cpu_exec() returns soon after run_vcpus turns false,
 * so guest memory and vCPU state are stable once pause_all_vcpus()
 * returns.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "system/cpus.h"

CPUState *cpus;
int nr_cpus;

static GMutex park_lock;
static GCond park_cond; /* signalled when parked count or run changes */
static bool run_vcpus;  /* guarded by park_lock */
static bool exit_vcpus; /* guarded by park_lock */
static int parked;      /* guarded by park_lock */

/* Guest clock: accumulated running time plus the current stint. */
static int64_t clock_base_ns;    /* guarded by park_lock */
static int64_t clock_started_ns; /* 0 while paused */

int64_t cpu_get_clock(void)
{
    g_mutex_lock(&park_lock);
    int64_t ns = clock_base_ns;
    if (clock_started_ns) {
        ns += qemu_clock_ns() - clock_started_ns;
    }
    g_mutex_unlock(&park_lock);
    return ns;
}

void cpu_set_clock(int64_t ns)
{
    g_mutex_lock(&park_lock);
    clock_base_ns = ns;
    if (clock_started_ns) {
        clock_started_ns = qemu_clock_ns();
    }
    g_mutex_unlock(&park_lock);
}

/* Park until told to run; returns false when the thread must exit. */
static bool vcpu_wait_runnable(void)
{
    g_mutex_lock(&park_lock);
    if (!run_vcpus && !exit_vcpus) {
        parked++;
        g_cond_broadcast(&park_cond);
        while (!run_vcpus && !exit_vcpus) {
            g_cond_wait(&park_cond, &park_lock);
        }
        parked--;
    }
    bool ok = !exit_vcpus;
    g_mutex_unlock(&park_lock);
    return ok;
}

static gpointer vcpu_thread_fn(gpointer opaque)
{
    CPUState *cpu = opaque;
    /* Read without the lock on the hot path; the handshake re-checks. */
    _Atomic bool *run = (_Atomic bool *)&run_vcpus;

    cpu->thread_id = pthread_self();
    while (vcpu_wait_runnable()) {
        accel_ops->cpu_exec(cpu, run);
    }
    return NULL;
}

bool cpus_init(int n, GError **errp)
{
    cpus = g_new0(CPUState, n);
    for (int i = 0; i < n; i++) {
        cpus[i].cpu_index = i;
        cpus[i].rng = 0x9e3779b97f4a7c15ULL * (i + 1);
        if (accel_ops->init_vcpu && !accel_ops->init_vcpu(&cpus[i], errp)) {
            for (int j = 0; j < i && accel_ops->destroy_vcpu; j++) {
                accel_ops->destroy_vcpu(&cpus[j]);
            }
            g_free(cpus);
            cpus = NULL;
            return false;
        }
    }
    nr_cpus = n;
    for (int i = 0; i < n; i++) {
        g_autofree char *name =
            g_strdup_printf("CPU %d/%s", i, accel_ops->name);
        cpus[i].thread = g_thread_new(name, vcpu_thread_fn, &cpus[i]);
    }
    /* Wait until all are parked so that the first pause is trivial. */
    g_mutex_lock(&park_lock);
    while (parked < n) {
        g_cond_wait(&park_cond, &park_lock);
    }
    g_mutex_unlock(&park_lock);
    return true;
}

void pause_all_vcpus(void)
{
    g_mutex_lock(&park_lock);
    /* Sequentially consistent: a kicked vCPU must see it (accel/kvm). */
    atomic_store((_Atomic bool *)&run_vcpus, false);
    if (clock_started_ns) {
        clock_base_ns += qemu_clock_ns() - clock_started_ns;
        clock_started_ns = 0;
    }
    for (int i = 0; accel_ops->kick_vcpu && i < nr_cpus; i++) {
        accel_ops->kick_vcpu(&cpus[i]);
    }
    while (parked < nr_cpus) {
        g_cond_wait(&park_cond, &park_lock);
    }
    g_mutex_unlock(&park_lock);
}

void resume_all_vcpus(void)
{
    if (accel_ops->pre_resume) {
        accel_ops->pre_resume();
    }
    g_mutex_lock(&park_lock);
    if (!clock_started_ns) {
        clock_started_ns = qemu_clock_ns();
    }
    atomic_store_explicit((_Atomic bool *)&run_vcpus, true,
                          memory_order_release);
    g_cond_broadcast(&park_cond);
    g_mutex_unlock(&park_lock);
}

bool all_vcpus_paused(void)
{
    g_mutex_lock(&park_lock);
    bool p = parked == nr_cpus;
    g_mutex_unlock(&park_lock);
    return p;
}

void cpus_destroy(void)
{
    g_mutex_lock(&park_lock);
    exit_vcpus = true;
    g_cond_broadcast(&park_cond);
    g_mutex_unlock(&park_lock);
    for (int i = 0; i < nr_cpus; i++) {
        g_thread_join(cpus[i].thread);
        if (accel_ops->destroy_vcpu) {
            accel_ops->destroy_vcpu(&cpus[i]);
        }
    }
    g_free(cpus);
    cpus = NULL;
    nr_cpus = 0;
}
