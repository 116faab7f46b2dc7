/*
 * mapmig's KVM guest: the stress and ab workloads of hw/workload.c, as
 * real x86-64 code.  Assembled with GNU as (through cpp for the shared
 * constants) and linked by ld into a flat binary loaded at
 * GUEST_CODE_ADDR.  See docs/devel/kvm.rst.
 *
 * The VMM enters every vCPU at _start in 64-bit long mode, paging on
 * (identity map), with
 *     %rdi  vCPU index
 *     %rsi  parameter page (GUEST_PARAMS_ADDR)
 *     %rsp  top of this vCPU's stack
 * There are no interrupts: an idle vCPU executes hlt, which exits to
 * the VMM, and output is polled port I/O to a 16550 at 0x3f8.
 *
 * All workload state lives in registers (saved in the "cpu" sections)
 * and in guest RAM (the RAM section), so a migrated guest resumes at the
 * very instruction it stopped at.
 */
#include "payload-abi.h"

#define SERIAL_THR (GUEST_SERIAL_PORT + 0)
#define SERIAL_LSR (GUEST_SERIAL_PORT + 5)
#define LSR_THRE 0x20

    .code64
    .text
    .globl _start
_start:
    mov %rsi, %rbp                      /* %rbp: parameter page, always */
    mov %rdi, %rbx                      /* %rbx: vCPU index, always */
    mov GP_KIND(%rbp), %eax
    cmp $GUEST_WORKLOAD_STRESS, %eax
    je stress
    cmp $GUEST_WORKLOAD_AB, %eax
    jne idle
    test %rbx, %rbx                     /* ab: one program counter, vCPU 0 */
    jz ab
idle:
    hlt
    jmp idle

/*
 * stress: rewrite random 8-byte words of the first GP_SHARE % of the
 * work area with non-zero values, like stress-ng --vm.
 *     %r12  xorshift64 state      %r13  pages in the share
 *     %r14  work area start       %r15  words left in this batch
 */
stress:
    mov GP_SEEDS(%rbp,%rbx,8), %r12
    mov GP_WORK_PAGES(%rbp), %rax
    mov GP_SHARE(%rbp), %ecx
    mul %rcx
    mov $100, %ecx
    div %rcx
    test %rax, %rax
    jnz 1f
    mov $1, %eax
1:  mov %rax, %r13
    mov GP_WORK_START(%rbp), %r14
stress_batch:
    mov $GUEST_BATCH, %r15d
stress_word:
    mov %r12, %rax                      /* r ^= r << 13; r >> 7; r << 17 */
    shl $13, %rax
    xor %rax, %r12
    mov %r12, %rax
    shr $7, %rax
    xor %rax, %r12
    mov %r12, %rax
    shl $17, %rax
    xor %rax, %r12
    mov %r12, %rax
    xor %edx, %edx
    div %r13                            /* %rdx: page = r % pages */
    shl $12, %rdx
    mov %r12, %rax
    shr $40, %rax
    and $511, %eax                      /* word = (r >> 40) % 512 */
    lea (%rdx,%rax,8), %rcx
    mov %r12, %rax
    or $1, %rax
    mov %rax, (%r14,%rcx)
    dec %r15d
    jnz stress_word
    lock addq $GUEST_BATCH, GP_PAGES_WRITTEN(%rbp)
    call pace
    jmp stress_batch

/*
 * ab: QEMU's migration-test pattern over the whole work area.  Each pass
 * increments the first byte of every page after checking it still holds
 * what the previous pass wrote; a pass ends with 'B' on the serial port,
 * preceded by 'E' if any page was wrong.
 *     %r12  value this pass writes (its low byte)
 *     %r13  next page              %r14  work area start
 *     %r15  pages in the area      %r11  mismatches in this pass
 *     %r10  pages left in this batch
 */
ab:
    mov GP_WORK_START(%rbp), %r14
    mov GP_WORK_PAGES(%rbp), %r15
    mov $1, %r12d                       /* first pass: 0 -> 1 */
    xor %r13d, %r13d
    xor %r11d, %r11d
ab_batch:
    mov $GUEST_BATCH, %r10d
ab_page:
    mov %r13, %rcx
    shl $12, %rcx
    lea -1(%r12), %edx
    cmp %dl, (%r14,%rcx)
    je 1f
    inc %r11
    incq GP_ERRORS(%rbp)
1:  mov %r12b, (%r14,%rcx)
    inc %r13
    cmp %r15, %r13
    jne 3f
    xor %r13d, %r13d                    /* end of a pass */
    inc %r12d
    incq GP_PASSES(%rbp)
    test %r11, %r11
    jz 2f
    mov $'E', %al
    call putc
    xor %r11d, %r11d
2:  mov $'B', %al
    call putc
3:  dec %r10d
    jnz ab_page
    lock addq $GUEST_BATCH, GP_PAGES_WRITTEN(%rbp)
    call pace
    jmp ab_batch

/* Tell the VMM a batch is done when a rate is set.  Clobbers %eax, %dx. */
pace:
    cmpq $0, GP_RATE(%rbp)
    je 1f
    mov $GUEST_PACE_PORT, %dx
    mov $GUEST_BATCH, %eax
    out %eax, %dx
1:  ret

/* Polled serial output of %al.  Clobbers %eax, %r8d, %dx. */
putc:
    mov %eax, %r8d
    mov $SERIAL_LSR, %dx
1:  in %dx, %al
    test $LSR_THRE, %al
    jz 1b
    mov %r8d, %eax
    mov $SERIAL_THR, %dx
    out %al, %dx
    ret
