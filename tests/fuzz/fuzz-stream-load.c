/*
 * Fuzz the stream loader: qemu_loadvm_state() reads the input as an
 * incoming migration stream (header, configuration, the "ram" section's
 * block list and page records, device sections, commands, EOF and the VM
 * description) from an in-memory channel into a small VM: machine
 * "none" with 256 KiB of RAM, the workload's devices (its state and one
 * vCPU's; the vCPU thread stays parked), the timer and the global state.
 * A "mini" VM would have 16 MiB of video RAM to load on every input.
 *
 * After every load, failed or not, each query command a user may send
 * next (query-status, x-query-workload, ...) must still answer: a load
 * that fails half-way must not leave device state a reader trips over.
 *
 * Seeds: real saves of such a VM (tests/fuzz/gen-seeds.c) and
 * tests/fuzz/corpus/stream-load/.
 */
#include "qemu/osdep.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_vm_init("none", 256 * KiB, 1, true);
    fuzz_register_commands();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    QIOChannel *ioc = fuzz_mem_channel_new(data, size);
    QEMUFile *f = qemu_file_new_input(ioc);
    GError *err = NULL;

    qio_channel_unref(ioc);
    bool ok = qemu_loadvm_state(f, &err);
    qemu_fclose(f, NULL);
    fuzz_check_result(ok, err);
    fuzz_run_queries();
    fuzz_vm_reset_ram();
    return 0;
}
