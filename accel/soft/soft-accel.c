/*
 * The soft accelerator: each vCPU is a host thread that runs the
 * workload of hw/workload.c.  Its writes go through ramblock_set_dirty(),
 * i.e. into the software dirty log that physmem.c drains at each bitmap
 * sync, so it needs none of the log_* hooks.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "hw/workload.h"

static bool soft_init_machine(MachineState *ms, const char *props,
                              GError **errp)
{
    if (props && *props) {
        error_setg(errp, "-accel soft: unknown property '%s'", props);
        return false;
    }
    return true;
}

static void soft_cpu_exec(CPUState *cpu, _Atomic bool *run)
{
    while (atomic_load_explicit(run, memory_order_acquire)) {
        if (!workload_step(cpu)) {
            /* Idle guest: a halted vCPU, woken by a short timer. */
            g_usleep(2000);
        }
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
