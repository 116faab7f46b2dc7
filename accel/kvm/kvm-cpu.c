/*
 * KVM vCPUs: creation, the KVM_RUN loop, exits and the vCPU state that
 * travels in the "cpu" sections.
 *
 * Leaving KVM_RUN: pause_all_vcpus() clears the run flag and kicks each
 * vCPU: it sets kvm_run.immediate_exit and sends SIG_IPI to the thread,
 * so KVM_RUN returns -EINTR whether the vCPU was in the guest or about
 * to enter it.  The loop leaves only through such an -EINTR return:
 * after an I/O exit KVM finishes the instruction (and advances rip) on
 * the next KVM_RUN, so the vCPU state is complete only then.  That is
 * what makes the saved state resume "exactly where the guest stopped".
 */
#include "qemu/osdep.h"
#include "hw/workload.h"
#include "kvm-internal.h"
#include "migration/vmstate.h"
#include "system/cpu-throttle.h"
#include "system/runstate.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "tests/guest/payload-abi.h"

#define SIG_IPI SIGUSR1
#define KVM_IDLE_SLEEP_US 2000
#define KVM_PACE_SLICE_US 10000

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr)-offsetof(type, member)))

/* MSRs the guest's architectural state needs (order = env.msrs). */
static const uint32_t kvm_msr_list[KVM_NR_MSRS] = {
    0x00000010, /* IA32_TSC: the guest's time goes on, not back */
    0x00000174, /* IA32_SYSENTER_CS */
    0x00000175, /* IA32_SYSENTER_ESP */
    0x00000176, /* IA32_SYSENTER_EIP */
    0x00000277, /* IA32_PAT */
    0xc0000081, /* STAR */
    0xc0000082, /* LSTAR */
    0xc0000083, /* CSTAR */
    0xc0000084, /* FMASK */
    0xc0000102, /* KERNEL_GS_BASE */
};

static void sig_ipi_handler(int sig)
{
    /* Nothing: the signal only makes KVM_RUN return -EINTR. */
}

bool kvm_cpu_signals_init(GError **errp)
{
    struct sigaction sa = { .sa_handler = sig_ipi_handler };

    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: KVM_RUN must come back with -EINTR. */
    if (sigaction(SIG_IPI, &sa, NULL) < 0) {
        error_setg_errno(errp, errno, "-accel kvm: sigaction");
        return false;
    }
    return true;
}

static int vcpu_ioctl(AccelCPUState *acs, unsigned long req, void *arg)
{
    int r;

    do {
        r = ioctl(acs->fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* Every vCPU gets what KVM supports, with its own APIC id. */
static bool kvm_vcpu_set_cpuid(AccelCPUState *acs, int index, GError **errp)
{
    const struct kvm_cpuid2 *sup = kvm_state->cpuid;
    size_t size = sizeof(*sup) + sup->nent * sizeof(sup->entries[0]);
    g_autofree struct kvm_cpuid2 *c = g_memdup2(sup, size);

    for (uint32_t i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        if (e->function == 1) {
            e->ebx = (e->ebx & 0x00ffffff) | ((uint32_t)index << 24);
        } else if (e->function == 0xb || e->function == 0x1f) {
            e->edx = index;
        }
    }
    int r = vcpu_ioctl(acs, KVM_SET_CPUID2, c);
    if (r < 0) {
        error_setg_errno(errp, -r, "-accel kvm: KVM_SET_CPUID2");
        return false;
    }
    return true;
}

bool kvm_init_vcpu(CPUState *cpu, GError **errp)
{
    AccelCPUState *acs = g_new0(AccelCPUState, 1);
    int fd;

    acs->cpu = cpu;
    acs->fd = -1;
    do {
        fd = ioctl(kvm_state->vmfd, KVM_CREATE_VCPU, cpu->cpu_index);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        error_setg_errno(errp, errno, "-accel kvm: KVM_CREATE_VCPU %d",
                         cpu->cpu_index);
        g_free(acs);
        return false;
    }
    acs->fd = fd;
    acs->run = mmap(NULL, kvm_state->vcpu_mmap_size, PROT_READ | PROT_WRITE,
                    MAP_SHARED, fd, 0);
    if (acs->run == MAP_FAILED) {
        error_setg_errno(errp, errno, "-accel kvm: mmap of vCPU %d",
                         cpu->cpu_index);
        close(fd);
        g_free(acs);
        return false;
    }
    cpu->accel = acs;
    if (!kvm_vcpu_set_cpuid(acs, cpu->cpu_index, errp)) {
        kvm_destroy_vcpu(cpu);
        return false;
    }
    return true;
}

void kvm_destroy_vcpu(CPUState *cpu)
{
    AccelCPUState *acs = cpu->accel;

    if (!acs) {
        return;
    }
    munmap(acs->run, kvm_state->vcpu_mmap_size);
    close(acs->fd);
    g_free(acs);
    cpu->accel = NULL;
}

void kvm_kick_vcpu(CPUState *cpu)
{
    AccelCPUState *acs = cpu->accel;

    /* Order: the run flag is already false (pause_all_vcpus). */
    atomic_store((_Atomic uint8_t *)&acs->run->immediate_exit, 1);
    pthread_kill(cpu->thread_id, SIG_IPI);
}

/*
 * Only the signal: KVM_RUN returns -EINTR and the loop sleeps its
 * throttled share before going back in.  A signal that comes while the
 * thread is outside KVM_RUN is lost; the next tick does it.
 */
void kvm_throttle_kick(CPUState *cpu)
{
    pthread_kill(cpu->thread_id, SIG_IPI);
}

/* ---------------------------------------------------------------- */
/* Exits */

static gboolean kvm_crash_stop(gpointer opaque)
{
    if (runstate_is_running()) {
        vm_stop(RUN_STATE_INTERNAL_ERROR);
    }
    return G_SOURCE_REMOVE;
}

/* A guest failure stops the VM in internal-error, as QEMU does. */
static void kvm_guest_crashed(AccelCPUState *acs, const char *what)
{
    struct kvm_regs regs = { 0 };

    vcpu_ioctl(acs, KVM_GET_REGS, &regs);
    error_report("KVM: vCPU %d: %s (rip 0x%llx); stopping the VM",
                 acs->cpu->cpu_index, what, (unsigned long long)regs.rip);
    acs->crashed = true;
    g_idle_add(kvm_crash_stop, NULL);
}

/* Sleep so that this vCPU keeps to the guest's rate (GP_RATE). */
static void kvm_pace(AccelCPUState *acs, uint32_t pages, _Atomic bool *run)
{
    uint64_t rate = kvm_guest_rate();
    int64_t now = qemu_clock_ns();

    if (!rate) {
        return;
    }
    if (!acs->pace_start_ns || now - acs->pace_start_ns > 1000000000LL) {
        acs->pace_start_ns = now;
        acs->pace_done = 0;
    }
    acs->pace_done += pages;
    int64_t due =
        acs->pace_start_ns + (int64_t)(acs->pace_done * 1000000000ULL / rate);
    /* In slices, so that a pause never waits for a slow rate. */
    while (due > now && atomic_load(run)) {
        g_usleep(MIN((due - now) / 1000, KVM_PACE_SLICE_US));
        now = qemu_clock_ns();
    }
}

static void kvm_handle_io(AccelCPUState *acs, _Atomic bool *run)
{
    struct kvm_run *kr = acs->run;
    uint8_t *data = (uint8_t *)kr + kr->io.data_offset;
    uint16_t port = kr->io.port;
    bool out = kr->io.direction == KVM_EXIT_IO_OUT;

    for (uint32_t i = 0; i < kr->io.count; i++, data += kr->io.size) {
        if (port >= GUEST_SERIAL_PORT && port < GUEST_SERIAL_PORT + 8) {
            if (out) {
                serial_ioport_write(port - GUEST_SERIAL_PORT, data[0]);
            } else {
                memset(data, 0, kr->io.size);
                data[0] = serial_ioport_read(port - GUEST_SERIAL_PORT);
            }
        } else if (port == GUEST_PACE_PORT && out && kr->io.size == 4) {
            uint32_t pages;
            memcpy(&pages, data, 4);
            kvm_pace(acs, pages, run);
        } else if (!out) {
            memset(data, 0xff, kr->io.size); /* nothing there */
        }
    }
}

/* Returns false when the vCPU cannot go on. */
static bool kvm_handle_exit(AccelCPUState *acs, _Atomic bool *run)
{
    struct kvm_run *kr = acs->run;
    char what[64];

    switch (kr->exit_reason) {
    case KVM_EXIT_IO:
        kvm_handle_io(acs, run);
        return true;
    case KVM_EXIT_HLT:
        /* No interrupts here: a halted vCPU is woken by a timer. */
        if (atomic_load(run)) {
            g_usleep(KVM_IDLE_SLEEP_US);
        }
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        kvm_guest_crashed(acs, "triple fault");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(
            what, sizeof(what), "entry failed (reason 0x%llx)",
            (unsigned long long)kr->fail_entry.hardware_entry_failure_reason);
        kvm_guest_crashed(acs, what);
        return false;
    case KVM_EXIT_MMIO:
        snprintf(what, sizeof(what), "access to unmapped address 0x%llx",
                 (unsigned long long)kr->mmio.phys_addr);
        kvm_guest_crashed(acs, what);
        return false;
    default:
        snprintf(what, sizeof(what), "unhandled exit reason %u",
                 kr->exit_reason);
        kvm_guest_crashed(acs, what);
        return false;
    }
}

void kvm_cpu_exec(CPUState *cpu, _Atomic bool *run)
{
    AccelCPUState *acs = cpu->accel;
    _Atomic uint8_t *immediate_exit =
        (_Atomic uint8_t *)&acs->run->immediate_exit;

    if (acs->crashed) {
        while (atomic_load(run)) {
            g_usleep(10000); /* a crashed vCPU stays off */
        }
        return;
    }
    /* Cleared before the run flag is read: see kvm_kick_vcpu(). */
    atomic_store(immediate_exit, 0);
    for (;;) {
        if (!atomic_load(run)) {
            /* Finish a pending I/O instruction, then come straight back. */
            atomic_store(immediate_exit, 1);
        }
        if (ioctl(acs->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                if (!atomic_load(run)) {
                    return;
                }
                cpu_throttle_vcpu_sleep(cpu, run);
                continue;
            }
            char what[64];
            snprintf(what, sizeof(what), "KVM_RUN: %s", g_strerror(errno));
            kvm_guest_crashed(acs, what);
            break;
        }
        if (!kvm_handle_exit(acs, run)) {
            break;
        }
        cpu_throttle_vcpu_sleep(cpu, run);
    }
    while (atomic_load(run)) {
        g_usleep(10000);
    }
}

/* ---------------------------------------------------------------- */
/* vCPU state */

#define DESC_TYPE_SHIFT 8
#define DESC_S_MASK (1u << 12)
#define DESC_DPL_SHIFT 13
#define DESC_P_MASK (1u << 15)
#define DESC_AVL_MASK (1u << 20)
#define DESC_L_MASK (1u << 21)
#define DESC_B_MASK (1u << 22)
#define DESC_G_MASK (1u << 23)

static void seg_from_kvm(X86Segment *d, const struct kvm_segment *s)
{
    d->selector = s->selector;
    d->base = s->base;
    d->limit = s->limit;
    d->flags = (s->type << DESC_TYPE_SHIFT) | (s->s ? DESC_S_MASK : 0) |
               (s->dpl << DESC_DPL_SHIFT) |
               (s->present && !s->unusable ? DESC_P_MASK : 0) |
               (s->avl ? DESC_AVL_MASK : 0) | (s->l ? DESC_L_MASK : 0) |
               (s->db ? DESC_B_MASK : 0) | (s->g ? DESC_G_MASK : 0);
}

static void seg_to_kvm(struct kvm_segment *d, const X86Segment *s)
{
    *d = (struct kvm_segment){
        .base = s->base,
        .limit = s->limit,
        .selector = s->selector,
        .type = (s->flags >> DESC_TYPE_SHIFT) & 15,
        .present = !!(s->flags & DESC_P_MASK),
        .dpl = (s->flags >> DESC_DPL_SHIFT) & 3,
        .db = !!(s->flags & DESC_B_MASK),
        .s = !!(s->flags & DESC_S_MASK),
        .l = !!(s->flags & DESC_L_MASK),
        .g = !!(s->flags & DESC_G_MASK),
        .avl = !!(s->flags & DESC_AVL_MASK),
        .unusable = !(s->flags & DESC_P_MASK),
    };
}

/* Where env->regs[i] (x86 encoding order, as QEMU's) sits in kvm_regs. */
static const size_t kvm_reg_offset[16] = {
    offsetof(struct kvm_regs, rax), offsetof(struct kvm_regs, rcx),
    offsetof(struct kvm_regs, rdx), offsetof(struct kvm_regs, rbx),
    offsetof(struct kvm_regs, rsp), offsetof(struct kvm_regs, rbp),
    offsetof(struct kvm_regs, rsi), offsetof(struct kvm_regs, rdi),
    offsetof(struct kvm_regs, r8),  offsetof(struct kvm_regs, r9),
    offsetof(struct kvm_regs, r10), offsetof(struct kvm_regs, r11),
    offsetof(struct kvm_regs, r12), offsetof(struct kvm_regs, r13),
    offsetof(struct kvm_regs, r14), offsetof(struct kvm_regs, r15),
};

static void sregs_from_kvm(X86CPUState *env, const struct kvm_sregs *s)
{
    const struct kvm_segment *segs[X86_NR_SEGS] = {
        [R_ES] = &s->es, [R_CS] = &s->cs, [R_SS] = &s->ss,    [R_DS] = &s->ds,
        [R_FS] = &s->fs, [R_GS] = &s->gs, [R_LDTR] = &s->ldt, [R_TR] = &s->tr,
    };
    for (int i = 0; i < X86_NR_SEGS; i++) {
        seg_from_kvm(&env->segs[i], segs[i]);
    }
    env->gdt_base = s->gdt.base;
    env->gdt_limit = s->gdt.limit;
    env->idt_base = s->idt.base;
    env->idt_limit = s->idt.limit;
    env->cr0 = s->cr0;
    env->cr2 = s->cr2;
    env->cr3 = s->cr3;
    env->cr4 = s->cr4;
    env->cr8 = s->cr8;
    env->efer = s->efer;
    env->apic_base = s->apic_base;
}

static void sregs_to_kvm(struct kvm_sregs *s, const X86CPUState *env)
{
    struct kvm_segment *segs[X86_NR_SEGS] = {
        [R_ES] = &s->es, [R_CS] = &s->cs, [R_SS] = &s->ss,    [R_DS] = &s->ds,
        [R_FS] = &s->fs, [R_GS] = &s->gs, [R_LDTR] = &s->ldt, [R_TR] = &s->tr,
    };
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < X86_NR_SEGS; i++) {
        seg_to_kvm(segs[i], &env->segs[i]);
    }
    s->gdt.base = env->gdt_base;
    s->gdt.limit = env->gdt_limit;
    s->idt.base = env->idt_base;
    s->idt.limit = env->idt_limit;
    s->cr0 = env->cr0;
    s->cr2 = env->cr2;
    s->cr3 = env->cr3;
    s->cr4 = env->cr4;
    s->cr8 = env->cr8;
    s->efer = env->efer;
    s->apic_base = env->apic_base;
}

/* struct kvm_msrs with room for our entries (spelled out: ISO C). */
typedef struct KVMMsrs {
    uint32_t nmsrs;
    uint32_t pad;
    struct kvm_msr_entry e[KVM_NR_MSRS];
} KVMMsrs;
G_STATIC_ASSERT(offsetof(KVMMsrs, e) == offsetof(struct kvm_msrs, entries));

static bool vcpu_fail(GError **errp, AccelCPUState *acs, int r,
                      const char *what)
{
    error_setg_errno(errp, -r, "cpu %d: %s", acs->cpu->cpu_index, what);
    return false;
}

bool kvm_cpu_get_state(CPUState *cpu, X86CPUState *env, GError **errp)
{
    AccelCPUState *acs = cpu->accel;
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs;
    KVMMsrs msrs = { .nmsrs = KVM_NR_MSRS };
    int r;

    if ((r = vcpu_ioctl(acs, KVM_GET_REGS, &regs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_GET_REGS");
    }
    for (int i = 0; i < 16; i++) {
        memcpy(&env->regs[i], (uint8_t *)&regs + kvm_reg_offset[i], 8);
    }
    env->rip = regs.rip;
    env->rflags = regs.rflags;
    if ((r = vcpu_ioctl(acs, KVM_GET_SREGS, &sregs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_GET_SREGS");
    }
    sregs_from_kvm(env, &sregs);
    G_STATIC_ASSERT(sizeof(env->xsave) == sizeof(struct kvm_xsave));
    if ((r = vcpu_ioctl(acs, KVM_GET_XSAVE, env->xsave)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_GET_XSAVE");
    }
    if ((r = vcpu_ioctl(acs, KVM_GET_XCRS, &xcrs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_GET_XCRS");
    }
    env->xcr0 = 1;
    for (uint32_t i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
        if (xcrs.xcrs[i].xcr == 0) {
            env->xcr0 = xcrs.xcrs[i].value;
        }
    }
    for (int i = 0; i < KVM_NR_MSRS; i++) {
        msrs.e[i].index = kvm_msr_list[i];
    }
    r = vcpu_ioctl(acs, KVM_GET_MSRS, &msrs);
    if (r != KVM_NR_MSRS) {
        return vcpu_fail(errp, acs, r < 0 ? r : -EINVAL, "KVM_GET_MSRS");
    }
    for (int i = 0; i < KVM_NR_MSRS; i++) {
        env->msrs[i] = msrs.e[i].data;
    }
    return true;
}

/*
 * Apply @env (from a stream: KVM checks every value and refuses what a
 * CPU could not hold, e.g. reserved CR4 bits, with -EINVAL).
 */
bool kvm_cpu_put_state(CPUState *cpu, const X86CPUState *env, GError **errp)
{
    AccelCPUState *acs = cpu->accel;
    struct kvm_regs regs = { .rip = env->rip, .rflags = env->rflags };
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs = { .nr_xcrs = 1,
                             .xcrs[0] = { .xcr = 0, .value = env->xcr0 } };
    KVMMsrs msrs = { .nmsrs = KVM_NR_MSRS };
    int r;

    sregs_to_kvm(&sregs, env);
    if ((r = vcpu_ioctl(acs, KVM_SET_SREGS, &sregs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_SET_SREGS");
    }
    for (int i = 0; i < 16; i++) {
        memcpy((uint8_t *)&regs + kvm_reg_offset[i], &env->regs[i], 8);
    }
    if ((r = vcpu_ioctl(acs, KVM_SET_REGS, &regs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_SET_REGS");
    }
    if ((r = vcpu_ioctl(acs, KVM_SET_XCRS, &xcrs)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_SET_XCRS");
    }
    if ((r = vcpu_ioctl(acs, KVM_SET_XSAVE, (void *)env->xsave)) < 0) {
        return vcpu_fail(errp, acs, r, "KVM_SET_XSAVE");
    }
    for (int i = 0; i < KVM_NR_MSRS; i++) {
        msrs.e[i].index = kvm_msr_list[i];
        msrs.e[i].data = env->msrs[i];
    }
    r = vcpu_ioctl(acs, KVM_SET_MSRS, &msrs);
    if (r != KVM_NR_MSRS) {
        return vcpu_fail(errp, acs, r < 0 ? r : -EINVAL, "KVM_SET_MSRS");
    }
    return true;
}

/* ---------------------------------------------------------------- */
/* The "cpu" sections */

/*
 * Version 1 is the soft accelerator's "cpu" section (PRNG state): the
 * version check keeps each accelerator from loading the other's.
 */
#define KVM_CPU_VMSTATE_VERSION 2

static int kvm_cpu_pre_save(void *opaque)
{
    AccelCPUState *acs = container_of(opaque, AccelCPUState, env);
    GError *err = NULL;

    if (!kvm_cpu_get_state(acs->cpu, &acs->env, &err)) {
        error_report_err(err);
        return -1;
    }
    return 0;
}

static bool kvm_cpu_post_load(void *opaque, int version_id, GError **errp)
{
    AccelCPUState *acs = container_of(opaque, AccelCPUState, env);

    return kvm_cpu_put_state(acs->cpu, &acs->env, errp);
}

#define F64(n, f)                                                           \
    {                                                                       \
        .name = (n), .offset = offsetof(X86CPUState, f), .type = VMS_UINT64 \
    }
#define F32(n, f)                                                           \
    {                                                                       \
        .name = (n), .offset = offsetof(X86CPUState, f), .type = VMS_UINT32 \
    }
#define SEG(n, i)                                                       \
    F32(n ".selector", segs[i].selector), F64(n ".base", segs[i].base), \
        F32(n ".limit", segs[i].limit), F32(n ".flags", segs[i].flags)

static const VMStateField kvm_cpu_fields[] = {
    F64("rax", regs[0]),
    F64("rcx", regs[1]),
    F64("rdx", regs[2]),
    F64("rbx", regs[3]),
    F64("rsp", regs[4]),
    F64("rbp", regs[5]),
    F64("rsi", regs[6]),
    F64("rdi", regs[7]),
    F64("r8", regs[8]),
    F64("r9", regs[9]),
    F64("r10", regs[10]),
    F64("r11", regs[11]),
    F64("r12", regs[12]),
    F64("r13", regs[13]),
    F64("r14", regs[14]),
    F64("r15", regs[15]),
    F64("rip", rip),
    F64("rflags", rflags),
    SEG("es", R_ES),
    SEG("cs", R_CS),
    SEG("ss", R_SS),
    SEG("ds", R_DS),
    SEG("fs", R_FS),
    SEG("gs", R_GS),
    SEG("ldt", R_LDTR),
    SEG("tr", R_TR),
    F64("gdt.base", gdt_base),
    F32("gdt.limit", gdt_limit),
    F64("idt.base", idt_base),
    F32("idt.limit", idt_limit),
    F64("cr0", cr0),
    F64("cr2", cr2),
    F64("cr3", cr3),
    F64("cr4", cr4),
    F64("cr8", cr8),
    F64("efer", efer),
    F64("apic_base", apic_base),
    F64("xcr0", xcr0),
    F64("msr_tsc", msrs[0]),
    F64("msr_sysenter_cs", msrs[1]),
    F64("msr_sysenter_esp", msrs[2]),
    F64("msr_sysenter_eip", msrs[3]),
    F64("msr_pat", msrs[4]),
    F64("msr_star", msrs[5]),
    F64("msr_lstar", msrs[6]),
    F64("msr_cstar", msrs[7]),
    F64("msr_fmask", msrs[8]),
    F64("msr_kernel_gs_base", msrs[9]),
    VMSTATE_BUFFER(xsave, X86CPUState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_kvm_cpu = {
    .name = "cpu",
    .version_id = KVM_CPU_VMSTATE_VERSION,
    .minimum_version_id = KVM_CPU_VMSTATE_VERSION,
    .fields = kvm_cpu_fields,
    .pre_save = kvm_cpu_pre_save,
    .post_load = kvm_cpu_post_load,
};

void kvm_cpu_register_vmstate(void)
{
    for (int i = 0; i < nr_cpus; i++) {
        vmstate_register(NULL, i, &vmstate_kvm_cpu, &cpus[i].accel->env);
    }
}
