/*
 * Machines: "mini" (main RAM plus video RAM and a ROM, so multi-block
 * layouts are always exercised) and "none" (one block named "ram" and
 * QEMU's -M none device state, for interoperability with QEMU).
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "accel/accel.h"
#include "hw/workload.h"
#include "migration/vmstate.h"
#include "system/cpus.h"
#include "system/hostmem.h"
#include "system/system.h"

MachineState *current_machine;

/* QEMU's "timer" section (timers_state): the guest clock travels here. */
typedef struct TimersState {
    int64_t cpu_ticks_offset;
    int64_t cpu_clock_offset;
} TimersState;

static TimersState timers_state;

static int timer_pre_save(void *opaque)
{
    timers_state.cpu_clock_offset = cpu_get_clock();
    return 0;
}

static bool timer_post_load(void *opaque, int version_id, GError **errp)
{
    if (timers_state.cpu_clock_offset < 0) {
        error_setg(errp, "timer: negative guest clock");
        return false;
    }
    cpu_set_clock(timers_state.cpu_clock_offset);
    return true;
}

static const VMStateField timer_fields[] = {
    VMSTATE_INT64(cpu_ticks_offset, TimersState),
    VMSTATE_UNUSED(8),
    VMSTATE_INT64(cpu_clock_offset, TimersState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_timers = {
    .name = "timer",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = timer_fields,
    .pre_save = timer_pre_save,
    .post_load = timer_post_load,
};

const char *machine_type_name(void)
{
    return current_machine->type;
}

/*
 * Main RAM: the backend named by -machine memory-backend=ID (the block is
 * then named ID, as in QEMU), else anonymous memory of -m bytes named
 * @default_id.
 */
static RAMBlock *machine_main_ram(MachineState *ms, const char *default_id,
                                  GError **errp)
{
    if (!ms->memdev) {
        if (object_id_exists(default_id)) {
            error_setg(errp,
                       "object's id '%s' is reserved for the default RAM "
                       "backend, it can't be used for any other purposes "
                       "(use -machine memory-backend=%s to make it the RAM)",
                       default_id, default_id);
            return NULL;
        }
        return qemu_ram_alloc(default_id, ms->ram_size, 0, errp);
    }
    HostMemoryBackend *be = host_memory_backend_find(ms->memdev);
    if (!be) {
        error_setg(errp, "Memory backend '%s' not found", ms->memdev);
        return NULL;
    }
    if (ms->ram_size_set && ms->ram_size != be->size) {
        g_autofree char *m = size_to_str(ms->ram_size);
        g_autofree char *b = size_to_str(be->size);
        error_setg(errp,
                   "Machine memory size does not match the size of the "
                   "memory backend (-m %s, %s has %s)",
                   m, be->id, b);
        return NULL;
    }
    ms->ram_size = be->size;
    return host_memory_backend_map(be, 0, errp);
}

bool machine_init(MachineState *ms, GError **errp)
{
    bool mini = !strcmp(ms->type, "mini");

    current_machine = ms;
    vmstate_register(NULL, 0, &vmstate_timers, &timers_state);
    ms->ram = machine_main_ram(ms, mini ? "pc.ram" : "ram", errp);
    if (!ms->ram) {
        return false;
    }
    if (mini) {
        /* Not guest-visible through qtest: gpa UINT64_MAX. */
        if (!qemu_ram_alloc("vga.vram", 16 * MiB, UINT64_MAX, errp) ||
            !qemu_ram_alloc("pc.rom", 128 * KiB, UINT64_MAX, errp)) {
            return false;
        }
    }
    /* The accelerator maps the RAM blocks that exist by now. */
    return accel_init(ms, ms->accel, errp) && cpus_init(ms->smp, errp);
}

/*
 * Device state beyond the timer: registered after RAM and global state so
 * that section ids of -M none match QEMU's.
 */
void machine_register_devices(MachineState *ms, bool workload_active)
{
    bool mini = !strcmp(ms->type, "mini");

    accel_ops->register_vmstate(ms, mini || workload_active);
    if (mini) {
        serial_register_vmstate();
    }
}
