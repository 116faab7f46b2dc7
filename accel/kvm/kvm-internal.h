/*
 * KVM accelerator internals shared by kvm-all.c (VM, memory slots,
 * dirty log), kvm-cpu.c (vCPUs, exits, vCPU state) and kvm-guest.c
 * (loading the payload).
 */
#ifndef ACCEL_KVM_INTERNAL_H
#define ACCEL_KVM_INTERNAL_H

#include "qemu/osdep.h"
#include "accel/accel.h"

#include <linux/kvm.h>

/* One slot per guest-visible RAMBlock. */
typedef struct KVMSlot {
    RAMBlock *rb;
    uint32_t slot;
    unsigned long *scratch; /* KVM_GET_DIRTY_LOG target, 64-bit aligned */
} KVMSlot;

typedef struct KVMState {
    int fd; /* /dev/kvm */
    int vmfd;
    int vcpu_mmap_size;
    bool manual_protect; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
    KVMSlot *slots;
    int nr_slots;
    struct kvm_cpuid2 *cpuid; /* what KVM supports, given to every vCPU */
    MachineState *ms;
} KVMState;

extern KVMState *kvm_state;

/* x86 segment in QEMU's SegmentCache shape (flags: descriptor bits). */
typedef struct X86Segment {
    uint32_t selector;
    uint64_t base;
    uint32_t limit;
    uint32_t flags;
} X86Segment;

enum { R_ES, R_CS, R_SS, R_DS, R_FS, R_GS, R_LDTR, R_TR, X86_NR_SEGS };

/* MSRs that travel (kvm-cpu.c: kvm_msr_list). */
#define KVM_NR_MSRS 10

/* The vCPU state that travels in a "cpu" section. */
typedef struct X86CPUState {
    uint64_t regs[16]; /* rax rcx rdx rbx rsp rbp rsi rdi r8..r15 */
    uint64_t rip;
    uint64_t rflags;
    X86Segment segs[X86_NR_SEGS];
    uint64_t gdt_base, idt_base;
    uint32_t gdt_limit, idt_limit;
    uint64_t cr0, cr2, cr3, cr4, cr8;
    uint64_t efer;
    uint64_t apic_base;
    uint64_t xcr0;
    uint64_t msrs[KVM_NR_MSRS];
    uint8_t xsave[4096]; /* struct kvm_xsave: the XSAVE area */
} X86CPUState;

struct AccelCPUState {
    CPUState *cpu;
    int fd;
    struct kvm_run *run;
    X86CPUState env; /* filled at pre_save, applied at post_load */
    bool crashed;    /* the guest failed on this vCPU: it stays off */
    /* Pace port: this vCPU's rate window (vCPU thread only). */
    int64_t pace_start_ns;
    uint64_t pace_done;
};

/* kvm-cpu.c */
bool kvm_init_vcpu(CPUState *cpu, GError **errp);
void kvm_destroy_vcpu(CPUState *cpu);
void kvm_cpu_exec(CPUState *cpu, _Atomic bool *run);
void kvm_kick_vcpu(CPUState *cpu);
void kvm_throttle_kick(CPUState *cpu);
void kvm_cpu_register_vmstate(void);
bool kvm_cpu_put_state(CPUState *cpu, const X86CPUState *env, GError **errp);
bool kvm_cpu_get_state(CPUState *cpu, X86CPUState *env, GError **errp);
bool kvm_cpu_signals_init(GError **errp);

/* kvm-guest.c */
bool kvm_guest_check_machine(MachineState *ms, GError **errp);
void kvm_guest_pre_resume(void);
void kvm_guest_workload_info(WorkloadInfo *info);
uint64_t kvm_guest_rate(void);

/* Payload binary (generated from tests/guest/payload.S). */
extern const unsigned char kvm_guest_payload[];
extern const size_t kvm_guest_payload_size;

#endif
