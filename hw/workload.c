/*
 * Guest workloads run by the vCPUs (the soft accelerator's "program").
 *
 *  idle    writes nothing.
 *  stress  keeps rewriting random pages inside the first share% of main
 *          RAM with non-zero data, like stress-ng --vm.
 *  ab      QEMU's migration-test pattern: each pass increments the first
 *          byte of every page; before the increment it checks the byte
 *          still holds what the previous pass left and counts mismatches.
 *          A 'B' goes to the serial port after each pass.
 *  verify  fills every page with a function of (page index, pass), see
 *          hw/workload-pattern.h; from the second pass on it checks the
 *          whole page holds the previous pass's contents before it
 *          rewrites it, and counts each page that does not as an error.
 *          "passes=N" stops it after N passes: a host-side knob for tests
 *          that predict the final contents, not guest state (it does not
 *          migrate).  Soft accelerator only.
 *
 * The state below is guest state: it travels as the "workload" and "cpu"
 * sections, so the destination continues the source's program.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "qemu/cutils.h"
#include "hw/workload.h"
#include "hw/workload-pattern.h"
#include "migration/vmstate.h"
#include "system/system.h"

#define WORKLOAD_BATCH WORKLOAD_BATCH_PAGES

typedef struct WorkloadState {
    uint32_t kind;
    uint32_t share; /* stress: percent of main RAM */
    uint64_t rate;  /* pages per second per vCPU, 0 = unlimited */
    uint64_t passes;
    uint64_t pages_written;
    uint64_t errors;
    uint64_t ab_pos;      /* next page of the current ab or verify pass */
    uint8_t ab_val;       /* value the current ab pass writes */
    uint64_t stop_passes; /* verify: passes=N, 0 = never; not migrated */
} WorkloadState;

/* The ab pass starts at value 1 over zeroed RAM. */
static WorkloadState wl = { .kind = WORKLOAD_IDLE, .share = 10, .ab_val = 1 };

static const char *const workload_names[] = {
    [WORKLOAD_IDLE] = "idle",
    [WORKLOAD_STRESS] = "stress",
    [WORKLOAD_AB] = "ab",
    [WORKLOAD_VERIFY] = "verify",
};

bool workload_parse(const char *spec, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    int kind = -1;

    for (int i = 0; i < (int)ARRAY_SIZE(workload_names); i++) {
        if (!g_strcmp0(parts[0], workload_names[i])) {
            kind = i;
        }
    }
    if (kind < 0) {
        error_setg(errp,
                   "-workload: unknown workload '%s' "
                   "(expected idle, stress, ab or verify)",
                   parts[0]);
        return false;
    }
    wl.kind = kind;
    for (int i = 1; parts[i]; i++) {
        uint64_t v;
        if (g_str_has_prefix(parts[i], "share=") && kind == WORKLOAD_STRESS) {
            if (qemu_strtou64(parts[i] + 6, &v) || v < 1 || v > 100) {
                error_setg(errp, "-workload: share must be 1..100");
                return false;
            }
            wl.share = v;
        } else if (g_str_has_prefix(parts[i], "rate=")) {
            if (qemu_strtou64(parts[i] + 5, &v)) {
                error_setg(errp, "-workload: bad rate '%s'", parts[i] + 5);
                return false;
            }
            wl.rate = v;
        } else if (g_str_has_prefix(parts[i], "passes=") &&
                   kind == WORKLOAD_VERIFY) {
            if (qemu_strtou64(parts[i] + 7, &v) || !v) {
                error_setg(errp, "-workload: passes must be at least 1");
                return false;
            }
            wl.stop_passes = v;
        } else {
            error_setg(errp, "-workload: unknown option '%s'", parts[i]);
            return false;
        }
    }
    return true;
}

static inline uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void stress_batch(CPUState *cpu, RAMBlock *rb)
{
    uint64_t npages = MAX(1, ramblock_nr_pages(rb) * wl.share / 100);

    for (int i = 0; i < WORKLOAD_BATCH; i++) {
        uint64_t r = xorshift64(&cpu->rng);
        uint64_t off = (r % npages) << TARGET_PAGE_BITS;
        uint64_t *p = (uint64_t *)(rb->host + off);

        /* The whole page, as stress-ng --vm: memory bandwidth bounds it. */
        for (size_t w = 0; w < TARGET_PAGE_SIZE / 8; w++) {
            p[w] = (r + w * 0x9e3779b97f4a7c15ULL) | 1;
        }
        ramblock_set_dirty(rb, off);
    }
    atomic_fetch_add((_Atomic uint64_t *)&wl.pages_written, WORKLOAD_BATCH);
}

static void ab_batch(RAMBlock *rb)
{
    uint64_t npages = ramblock_nr_pages(rb);
    uint8_t expect = wl.ab_val - 1;

    for (int i = 0; i < WORKLOAD_BATCH; i++) {
        uint64_t off = wl.ab_pos << TARGET_PAGE_BITS;
        uint8_t *p = rb->host + off;

        if (*p != expect) {
            wl.errors++;
        }
        *p = wl.ab_val;
        ramblock_set_dirty(rb, off);
        wl.pages_written++;
        if (++wl.ab_pos == npages) {
            wl.ab_pos = 0;
            wl.ab_val++;
            wl.passes++;
            serial_putc('B');
        }
    }
}

/*
 * One batch of the verify pass: pass 0 writes over whatever RAM held,
 * every later pass first checks the page byte for byte.
 */
static bool verify_batch(RAMBlock *rb)
{
    uint64_t npages = ramblock_nr_pages(rb);

    if (wl.stop_passes && wl.passes >= wl.stop_passes) {
        return false;
    }
    for (int i = 0; i < WORKLOAD_BATCH; i++) {
        uint64_t off = wl.ab_pos << TARGET_PAGE_BITS;
        uint64_t *p = (uint64_t *)(rb->host + off);

        if (wl.passes && !workload_pattern_check(p, TARGET_PAGE_SIZE, wl.ab_pos,
                                                 wl.passes - 1)) {
            wl.errors++;
        }
        workload_pattern_fill(p, TARGET_PAGE_SIZE, wl.ab_pos, wl.passes);
        ramblock_set_dirty(rb, off);
        atomic_fetch_add((_Atomic uint64_t *)&wl.pages_written, 1);
        if (++wl.ab_pos == npages) {
            wl.ab_pos = 0;
            wl.passes++;
            serial_putc('V');
            if (wl.stop_passes && wl.passes >= wl.stop_passes) {
                break;
            }
        }
    }
    return true;
}

/*
 * Sleep so that this vCPU keeps to wl.rate pages per second: the guest
 * waiting for its timer, which a stop request (*@run false) cuts short
 * as it would kick a halted vCPU.
 */
static void workload_throttle(CPUState *cpu, _Atomic bool *run)
{
    if (!wl.rate) {
        return;
    }
    static __thread int64_t start_ns;
    static __thread uint64_t done;
    int64_t now = qemu_clock_ns();

    if (!start_ns || now - start_ns > 1000000000LL) {
        start_ns = now;
        done = 0;
    }
    done += WORKLOAD_BATCH;
    int64_t due = start_ns + (int64_t)(done * 1000000000ULL / wl.rate);
    while (due > now && atomic_load(run)) {
        g_usleep(MIN((due - now) / 1000, 1000));
        now = qemu_clock_ns();
    }
}

bool workload_step(CPUState *cpu, _Atomic bool *run)
{
    RAMBlock *rb = current_machine->ram;

    switch (wl.kind) {
    case WORKLOAD_STRESS:
        stress_batch(cpu, rb);
        break;
    case WORKLOAD_AB:
        /* One program counter: the ab pass runs on vCPU 0 only. */
        if (cpu->cpu_index != 0) {
            return false;
        }
        ab_batch(rb);
        break;
    case WORKLOAD_VERIFY:
        if (cpu->cpu_index != 0 || !verify_batch(rb)) {
            return false;
        }
        break;
    default:
        return false;
    }
    cpu->steps++;
    workload_throttle(cpu, run);
    return true;
}

WorkloadKind workload_kind(void)
{
    return wl.kind;
}

void workload_get_config(WorkloadKind *kind, uint32_t *share, uint64_t *rate)
{
    *kind = wl.kind;
    *share = wl.share;
    *rate = wl.rate;
}

const char *workload_kind_name(uint32_t kind)
{
    return kind < ARRAY_SIZE(workload_names) ? workload_names[kind] : "unknown";
}

void workload_get_info(WorkloadInfo *info)
{
    if (accel_ops->workload_info) {
        /* A real guest keeps its own statistics. */
        accel_ops->workload_info(info);
        return;
    }
    /*
     * A failed incoming migration may leave any value here: the fields
     * are loaded in place, and a truncated section never reaches
     * post_load's checks.
     */
    info->kind = wl.kind < ARRAY_SIZE(workload_names) ? workload_names[wl.kind]
                                                      : "invalid";
    info->passes = wl.passes;
    info->pages_written = atomic_load((_Atomic uint64_t *)&wl.pages_written);
    info->errors = wl.errors;
    info->share = wl.share;
}

static bool workload_post_load(void *opaque, int version_id, GError **errp)
{
    if (wl.kind >= ARRAY_SIZE(workload_names)) {
        error_setg(errp, "workload: invalid kind %u", wl.kind);
        return false;
    }
    if (wl.share < 1 || wl.share > 100) {
        error_setg(errp, "workload: invalid share %u", wl.share);
        return false;
    }
    if (wl.ab_pos >= ramblock_nr_pages(current_machine->ram)) {
        error_setg(errp, "workload: ab position %" PRIu64 " outside of RAM",
                   wl.ab_pos);
        return false;
    }
    return true;
}

static const VMStateField workload_fields[] = {
    VMSTATE_UINT32(kind, WorkloadState),
    VMSTATE_UINT32(share, WorkloadState),
    VMSTATE_UINT64(rate, WorkloadState),
    VMSTATE_UINT64(passes, WorkloadState),
    VMSTATE_UINT64(pages_written, WorkloadState),
    VMSTATE_UINT64(errors, WorkloadState),
    VMSTATE_UINT64(ab_pos, WorkloadState),
    VMSTATE_UINT8(ab_val, WorkloadState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_workload = {
    .name = "workload",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = workload_fields,
    .post_load = workload_post_load,
};

static const VMStateField cpu_fields[] = {
    VMSTATE_UINT64(rng, CPUState),
    VMSTATE_UINT64(steps, CPUState),
    VMSTATE_END_OF_LIST(),
};

static bool cpu_post_load(void *opaque, int version_id, GError **errp)
{
    CPUState *cpu = opaque;

    if (!cpu->rng) {
        error_setg(errp, "cpu %d: invalid PRNG state 0", cpu->cpu_index);
        return false;
    }
    return true;
}

static const VMStateDescription vmstate_cpu = {
    .name = "cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = cpu_fields,
    .post_load = cpu_post_load,
};

void workload_init(void)
{
    for (int i = 0; i < nr_cpus; i++) {
        vmstate_register(NULL, i, &vmstate_cpu, &cpus[i]);
    }
    vmstate_register(NULL, 0, &vmstate_workload, &wl);
}
