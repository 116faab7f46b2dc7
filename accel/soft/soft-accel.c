/*
 * The soft accelerator: each vCPU is a host thread that runs the
 * workload of hw/workload.c.  Its writes go through ramblock_set_dirty(),
 * i.e. into the software dirty log that physmem.c drains at each bitmap
 * sync, so it needs none of the log_* hooks.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "hw/workload.h"
#include "system/cpu-throttle.h"

static bool soft_init_machine(MachineState *ms, const char *props,
                              GError **errp)
{
    if (props && *props) {
        error_setg(errp, "-accel soft: unknown property '%s'", props);
        return false;
    }
    return true;
}

/*
 * Between batches, as QEMU's vCPUs between translation blocks: the
 * auto-converge throttle and the dirty-limit quota (cpu-throttle.h).
 */
static void soft_cpu_exec(CPUState *cpu, _Atomic bool *run)
{
    while (atomic_load_explicit(run, memory_order_acquire)) {
        if (!workload_step(cpu, run)) {
            /* Idle guest: a halted vCPU, woken by a short timer. */
            g_usleep(2000);
            continue;
        }
        cpu_throttle_vcpu_sleep(cpu, run);
        cpu_dirty_limit_account(cpu, WORKLOAD_BATCH_PAGES, run);
    }
}

static void soft_register_vmstate(MachineState *ms, bool guest)
{
    /* The workload is the guest program: its state is guest state. */
    if (guest) {
        workload_init();
    }
}

const AccelOps soft_accel_ops = {
    .name = "soft",
    .init_machine = soft_init_machine,
    .cpu_exec = soft_cpu_exec,
    .register_vmstate = soft_register_vmstate,
};
