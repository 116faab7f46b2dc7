/*
 * Loading the KVM guest: the payload of tests/guest/, its page tables,
 * GDT and parameter page in low guest RAM, and every vCPU's registers
 * for a 64-bit start at the payload's entry.
 *
 * The guest is loaded at the first start of the VM, not at creation: a
 * destination's RAM and vCPU state come from the stream, and a guest
 * that was migrated before it ever ran (its RAM has no GUEST_MAGIC yet)
 * is loaded when the destination first starts it.
 */
#include "qemu/osdep.h"
#include "hw/workload.h"
#include "kvm-internal.h"

#include "tests/guest/payload-abi.h"

#define GUEST_MIN_RAM (GUEST_WORK_ADDR + 2 * MiB)
#define GUEST_MAX_RAM ((uint64_t)GUEST_PD_MAX * GiB)

/* Page-table entry bits; A and D preset so the CPU never writes them. */
#define PTE_P 0x01ULL
#define PTE_RW 0x02ULL
#define PTE_A 0x20ULL
#define PTE_D 0x40ULL
#define PTE_PS 0x80ULL

#define CR0_PE (1ULL << 0)
#define CR0_MP (1ULL << 1)
#define CR0_ET (1ULL << 4)
#define CR0_NE (1ULL << 5)
#define CR0_WP (1ULL << 16)
#define CR0_AM (1ULL << 18)
#define CR0_PG (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define CR4_OSFXSR (1ULL << 9)
#define CR4_OSXMMEXCPT (1ULL << 10)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Descriptor flags, as in kvm-cpu.c (QEMU's DESC_* bits). */
#define SEG_CODE64 \
    ((0xbu << 8) | (1u << 12) | (1u << 15) | (1u << 21) | (1u << 23))
#define SEG_DATA \
    ((0x3u << 8) | (1u << 12) | (1u << 15) | (1u << 22) | (1u << 23))
#define SEG_TSS64_BUSY ((0xbu << 8) | (1u << 15))

bool kvm_guest_check_machine(MachineState *ms, GError **errp)
{
    if (!ms->ram || ms->ram->gpa != 0) {
        error_setg(errp, "-accel kvm: the machine has no RAM at address 0");
        return false;
    }
    if (ms->ram->used_length < GUEST_MIN_RAM ||
        ms->ram->used_length > GUEST_MAX_RAM) {
        error_setg(errp,
                   "-accel kvm: guest RAM must be %" PRId64 " MiB to %" PRIu64
                   " GiB (the payload and its page tables take the first "
                   "2 MiB)",
                   GUEST_MIN_RAM / MiB, GUEST_MAX_RAM / GiB);
        return false;
    }
    if (workload_kind() == WORKLOAD_VERIFY) {
        /* The guest payload has no verify pass. */
        error_setg(errp, "-accel kvm: the verify workload needs -accel soft");
        return false;
    }
    if (ms->smp > 64) {
        error_setg(errp, "-accel kvm: at most 64 vCPUs");
        return false;
    }
    G_STATIC_ASSERT(GUEST_STACK_ADDR + 64 * GUEST_STACK_SIZE <=
                    GUEST_WORK_ADDR);
    G_STATIC_ASSERT(GUEST_PD_ADDR + GUEST_PD_MAX * 4096 <= GUEST_CODE_ADDR);
    if (kvm_guest_payload_size > GUEST_CODE_MAX) {
        error_setg(errp, "-accel kvm: guest payload too large (%zu bytes)",
                   kvm_guest_payload_size);
        return false;
    }
    return true;
}

static uint8_t *guest_params(void)
{
    return kvm_state->ms->ram->host + GUEST_PARAMS_ADDR;
}

/* A field of the parameter page the guest may be writing right now. */
static uint64_t params_read64(unsigned off)
{
    return __atomic_load_n((uint64_t *)(guest_params() + off),
                           __ATOMIC_RELAXED);
}

static bool guest_loaded(void)
{
    return params_read64(GP_MAGIC) == GUEST_MAGIC;
}

uint64_t kvm_guest_rate(void)
{
    return params_read64(GP_RATE);
}

static void guest_write(uint64_t gpa, const void *buf, uint64_t len)
{
    /* Through the software dirty log: a migration may be running. */
    bool ok = address_space_rw(gpa, (void *)buf, len, true);
    g_assert(ok); /* inside main RAM: kvm_guest_check_machine() */
}

static void guest_write64(uint64_t gpa, uint64_t v)
{
    guest_write(gpa, &v, 8);
}

/* Identity map of main RAM with 2 MiB pages. */
static void guest_load_page_tables(uint64_t ram_size)
{
    uint64_t npd = DIV_ROUND_UP(ram_size, GiB);

    guest_write64(GUEST_PML4_ADDR, GUEST_PDPT_ADDR | PTE_P | PTE_RW | PTE_A);
    for (uint64_t i = 0; i < npd; i++) {
        uint64_t pd = GUEST_PD_ADDR + i * 4096;
        g_autofree uint64_t *pde = g_new(uint64_t, 512);

        guest_write64(GUEST_PDPT_ADDR + i * 8, pd | PTE_P | PTE_RW | PTE_A);
        for (int j = 0; j < 512; j++) {
            pde[j] = (i * GiB + j * 2 * MiB) | PTE_P | PTE_RW | PTE_A | PTE_D |
                     PTE_PS;
        }
        guest_write(pd, pde, 4096);
    }
}

static void guest_load_params(uint64_t ram_size)
{
    WorkloadKind kind;
    uint32_t share;
    uint64_t rate;
    uint8_t p[4096] = { 0 };

    workload_get_config(&kind, &share, &rate);
#define PUT(off, v, type)                   \
    do {                                    \
        type _v = (v);                      \
        memcpy(p + (off), &_v, sizeof(_v)); \
    } while (0)
    PUT(GP_KIND, kind, uint32_t);
    PUT(GP_SHARE, share, uint32_t);
    PUT(GP_RATE, rate, uint64_t);
    PUT(GP_WORK_START, GUEST_WORK_ADDR, uint64_t);
    PUT(GP_WORK_PAGES, (ram_size - GUEST_WORK_ADDR) >> TARGET_PAGE_BITS,
        uint64_t);
    PUT(GP_NR_CPUS, nr_cpus, uint64_t);
    for (int i = 0; i < nr_cpus; i++) {
        /* The soft accelerator's seeds: the same random sequence. */
        PUT(GP_SEEDS + i * 8, cpus[i].rng, uint64_t);
    }
    PUT(GP_MAGIC, GUEST_MAGIC, uint64_t);
#undef PUT
    guest_write(GUEST_PARAMS_ADDR, p, sizeof(p));
}

static void guest_boot_env(X86CPUState *env, int index)
{
    static const int data_segs[] = { R_ES, R_SS, R_DS, R_FS, R_GS };

    memset(env->regs, 0, sizeof(env->regs));
    env->regs[7] = index;                                             /* rdi */
    env->regs[6] = GUEST_PARAMS_ADDR;                                 /* rsi */
    env->regs[4] = GUEST_STACK_ADDR + (index + 1) * GUEST_STACK_SIZE; /* rsp */
    env->rip = GUEST_CODE_ADDR;
    env->rflags = 0x2;
    env->segs[R_CS] = (X86Segment){ GUEST_SEL_CODE, 0, 0xffffffff, SEG_CODE64 };
    for (size_t i = 0; i < ARRAY_SIZE(data_segs); i++) {
        env->segs[data_segs[i]] =
            (X86Segment){ GUEST_SEL_DATA, 0, 0xffffffff, SEG_DATA };
    }
    env->segs[R_LDTR] = (X86Segment){ 0, 0, 0xffff, 0 }; /* unusable */
    env->segs[R_TR] = (X86Segment){ 0, 0, 0x67, SEG_TSS64_BUSY };
    env->gdt_base = GUEST_GDT_ADDR;
    env->gdt_limit = 3 * 8 - 1;
    env->idt_base = 0;
    env->idt_limit = 0; /* no interrupts; a fault is a triple fault */
    env->cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
    env->cr2 = 0;
    env->cr3 = GUEST_PML4_ADDR;
    env->cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    env->cr8 = 0;
    env->efer = EFER_LME | EFER_LMA;
}

/* BQL held, vCPUs parked. */
void kvm_guest_pre_resume(void)
{
    uint64_t ram_size = kvm_state->ms->ram->used_length;
    static const uint64_t gdt[3] = {
        0, 0x00af9b000000ffffULL, /* 0x08: 64-bit code, DPL 0 */
        0x00cf93000000ffffULL,    /* 0x10: data, 4 GiB */
    };

    if (guest_loaded()) {
        return; /* already running, or its state came from a stream */
    }
    guest_write(GUEST_CODE_ADDR, kvm_guest_payload, kvm_guest_payload_size);
    guest_write(GUEST_GDT_ADDR, gdt, sizeof(gdt));
    guest_load_page_tables(ram_size);
    for (int i = 0; i < nr_cpus; i++) {
        AccelCPUState *acs = cpus[i].accel;
        GError *err = NULL;

        /* Keep what KVM set at reset (FPU, APIC base, MSRs). */
        if (!kvm_cpu_get_state(&cpus[i], &acs->env, &err) ||
            (guest_boot_env(&acs->env, i),
             !kvm_cpu_put_state(&cpus[i], &acs->env, &err))) {
            error_prepend(&err, "loading the KVM guest: ");
            error_report_err(err);
        }
    }
    /* Last: the magic says "loaded" only once all of it is in place. */
    guest_load_params(ram_size);
}

void kvm_guest_workload_info(WorkloadInfo *info)
{
    WorkloadKind kind;
    uint32_t share;
    uint64_t rate;

    if (!guest_loaded()) {
        workload_get_config(&kind, &share, &rate);
        *info =
            (WorkloadInfo){ .kind = workload_kind_name(kind), .share = share };
        return;
    }
    uint64_t ks = params_read64(GP_KIND); /* kind and share: two u32 */
    info->kind = workload_kind_name((uint32_t)ks);
    info->share = ks >> 32;
    info->passes = params_read64(GP_PASSES);
    info->pages_written = params_read64(GP_PAGES_WRITTEN);
    info->errors = params_read64(GP_ERRORS);
}
