/*
 * The contract between mapmig's KVM accelerator (accel/kvm/) and the
 * guest payload (tests/guest/payload.S): guest-physical layout, the
 * parameter page and the I/O ports.  Included by C and by the assembler
 * (through cpp), so only #defines.
 *
 * Guest-physical layout (identity mapped, 2 MiB pages, long mode):
 *
 *   0x001000  parameter page (GP_* offsets below), written by the VMM
 *             at the first start, then guest statistics
 *   0x002000  GDT: null, 64-bit code (0x08), data (0x10)
 *   0x003000  PML4, 0x004000 PDPT, 0x005000.. page directories
 *   0x100000  payload code (this file's flat binary)
 *   0x140000  vCPU stacks, GUEST_STACK_SIZE each
 *   0x200000  workload area: up to the end of main RAM
 *
 * Everything is guest RAM, so it travels with the RAM section; the
 * vCPU registers travel in the "cpu" sections.
 */
#ifndef TESTS_GUEST_PAYLOAD_ABI_H
#define TESTS_GUEST_PAYLOAD_ABI_H

#define GUEST_PARAMS_ADDR 0x1000
#define GUEST_GDT_ADDR 0x2000
#define GUEST_PML4_ADDR 0x3000
#define GUEST_PDPT_ADDR 0x4000
#define GUEST_PD_ADDR 0x5000
#define GUEST_PD_MAX 128 /* 1 GiB each: main RAM up to 128 GiB */
#define GUEST_CODE_ADDR 0x100000
#define GUEST_CODE_MAX 0x40000
#define GUEST_STACK_ADDR 0x140000
#define GUEST_STACK_SIZE 0x3000 /* 64 vCPUs fill up to 2 MiB */
#define GUEST_WORK_ADDR 0x200000

#define GUEST_SEL_CODE 0x08
#define GUEST_SEL_DATA 0x10

/* Parameter page: offsets (all little-endian). */
#define GP_MAGIC 0x00         /* u64 GUEST_MAGIC once loaded */
#define GP_KIND 0x08          /* u32 WORKLOAD_* */
#define GP_SHARE 0x0c         /* u32 stress: percent of the work area */
#define GP_RATE 0x10          /* u64 pages/s per vCPU, 0 = unlimited */
#define GP_WORK_START 0x18    /* u64 guest-physical */
#define GP_WORK_PAGES 0x20    /* u64 */
#define GP_NR_CPUS 0x28       /* u64 */
#define GP_PASSES 0x40        /* u64 ab passes (guest writes) */
#define GP_PAGES_WRITTEN 0x48 /* u64 (guest writes, all vCPUs) */
#define GP_ERRORS 0x50        /* u64 ab mismatches (guest writes) */
#define GP_SEEDS 0x80         /* u64[64] stress PRNG seed per vCPU */

#define GUEST_MAGIC 0x564b47494d50414dULL /* "MAPMIGKV" */

/* Workload kinds, as hw/workload.h numbers them. */
#define GUEST_WORKLOAD_IDLE 0
#define GUEST_WORKLOAD_STRESS 1
#define GUEST_WORKLOAD_AB 2

/* Pages a vCPU writes between two statistics updates / pace exits. */
#define GUEST_BATCH 256

/* I/O ports. */
#define GUEST_SERIAL_PORT 0x3f8
/*
 * Pace: "out %eax" with the pages just written; the VMM sleeps so that
 * this vCPU keeps to GP_RATE (the guest has no timer of its own).
 */
#define GUEST_PACE_PORT 0x6e0

#endif
