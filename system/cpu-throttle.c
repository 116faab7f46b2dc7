/*
 * vCPU throttling (see include/system/cpu-throttle.h).
 *
 * QEMU runs a timer that makes every vCPU sleep pct/(1-pct) * 10 ms once
 * per 10 ms/(1-pct) of wall time.  Here each vCPU keeps its own slice:
 * after running 10 ms it sleeps the same ratio of what it ran, which gives
 * the same share.  A KVM vCPU may stay in the guest for long, so while
 * the throttle is on a ticker thread kicks the vCPUs out every slice
 * (AccelOps.throttle_kick); the soft accelerator checks between batches.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "system/cpu-throttle.h"

/* A sleep is cut into steps so a pause or a lift is seen at once. */
#define THROTTLE_SLEEP_STEP_US 5000
#define DIRTY_LIMIT_WINDOW_NS 1000000000LL

static _Atomic int throttle_pct;
static _Atomic uint64_t dirty_limit_bps;

static GMutex ticker_lock;
static GThread *ticker;  /* guarded by ticker_lock */
static bool ticker_exit; /* guarded by ticker_lock */
static GCond ticker_cond;

static gpointer throttle_ticker(gpointer opaque)
{
    g_mutex_lock(&ticker_lock);
    while (!ticker_exit) {
        gint64 until =
            g_get_monotonic_time() + CPU_THROTTLE_TIMESLICE_NS / 1000;

        g_cond_wait_until(&ticker_cond, &ticker_lock, until);
        if (ticker_exit || !atomic_load(&throttle_pct)) {
            continue;
        }
        for (int i = 0; i < nr_cpus; i++) {
            accel_ops->throttle_kick(&cpus[i]);
        }
    }
    g_mutex_unlock(&ticker_lock);
    return NULL;
}

/* Only accelerators that can be deep in the guest need the ticker. */
static void throttle_ticker_start(void)
{
    if (!accel_ops->throttle_kick) {
        return;
    }
    g_mutex_lock(&ticker_lock);
    if (!ticker) {
        ticker_exit = false;
        ticker = g_thread_new("cpu-throttle", throttle_ticker, NULL);
    }
    g_mutex_unlock(&ticker_lock);
}

static void throttle_ticker_stop(void)
{
    GThread *t;

    g_mutex_lock(&ticker_lock);
    t = ticker;
    ticker = NULL;
    ticker_exit = true;
    g_cond_broadcast(&ticker_cond);
    g_mutex_unlock(&ticker_lock);
    if (t) {
        g_thread_join(t);
    }
}

void cpu_throttle_set(int pct)
{
    pct = MAX(MIN(pct, CPU_THROTTLE_PCT_MAX), CPU_THROTTLE_PCT_MIN);
    atomic_store(&throttle_pct, pct);
    throttle_ticker_start();
}

void cpu_throttle_stop(void)
{
    atomic_store(&throttle_pct, 0);
    throttle_ticker_stop();
}

bool cpu_throttle_active(void)
{
    return atomic_load(&throttle_pct) != 0;
}

int cpu_throttle_get_percentage(void)
{
    return atomic_load(&throttle_pct);
}

/* Sleep up to @ns, in steps, while *@run and @still() hold. */
static void vcpu_sleep(int64_t ns, _Atomic bool *run, bool (*still)(void))
{
    int64_t end = qemu_clock_ns() + ns;

    for (int64_t now = qemu_clock_ns();
         now < end && atomic_load(run) && still(); now = qemu_clock_ns()) {
        g_usleep(MIN((end - now) / 1000 + 1, THROTTLE_SLEEP_STEP_US));
    }
}

void cpu_throttle_vcpu_sleep(CPUState *cpu, _Atomic bool *run)
{
    int pct = atomic_load(&throttle_pct);
    int64_t now, ran;

    if (!pct) {
        cpu->throttle_slice_ns = 0;
        return;
    }
    now = qemu_clock_ns();
    if (!cpu->throttle_slice_ns) {
        cpu->throttle_slice_ns = now;
        return;
    }
    ran = now - cpu->throttle_slice_ns;
    if (ran < CPU_THROTTLE_TIMESLICE_NS) {
        return;
    }
    /* pct/(1-pct) of the time run: the guest keeps 100-pct percent. */
    vcpu_sleep(ran * pct / (100 - pct), run, cpu_throttle_active);
    cpu->throttle_slice_ns = qemu_clock_ns();
}

void cpu_dirty_limit_set(uint64_t bytes_per_sec)
{
    atomic_store(&dirty_limit_bps, bytes_per_sec);
}

uint64_t cpu_dirty_limit_get(void)
{
    return atomic_load(&dirty_limit_bps);
}

static bool dirty_limit_active(void)
{
    return atomic_load(&dirty_limit_bps) != 0;
}

void cpu_dirty_limit_account(CPUState *cpu, uint64_t pages, _Atomic bool *run)
{
    uint64_t bps = atomic_load(&dirty_limit_bps);
    int64_t now = qemu_clock_ns();
    int64_t due;

    if (!bps) {
        cpu->dirty_limit_ns = 0;
        return;
    }
    if (!cpu->dirty_limit_ns ||
        now - cpu->dirty_limit_ns > DIRTY_LIMIT_WINDOW_NS) {
        cpu->dirty_limit_ns = now;
        cpu->dirty_limit_pages = 0;
    }
    cpu->dirty_limit_pages += pages;
    due = cpu->dirty_limit_ns + (int64_t)((double)cpu->dirty_limit_pages *
                                          TARGET_PAGE_SIZE * 1e9 / bps);
    if (due > now) {
        vcpu_sleep(due - now, run, dirty_limit_active);
    }
}
