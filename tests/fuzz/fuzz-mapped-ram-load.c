/*
 * Fuzz the mapped-ram loader: the input is a whole migration file loaded
 * with the mapped-ram capability on, so each RAM block comes with a
 * header whose bitmap and pages offsets point elsewhere in the file; the
 * loader must check them against the file and the block before reading
 * the bitmap and preadv()ing pages into guest RAM.
 *
 * The VM is "none" with 16 KiB of RAM: one block of 4 pages, so that a
 * whole file stays small.  Its pages region only needs page alignment on
 * load; gen-seeds.c moves the regions of real saves from the 1 MiB
 * alignment mapmig writes to 4 KiB to make compact seeds.  As in
 * stream-load, every query command must answer after each load.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_vm_init("none", 16 * KiB, 0, false);
    fuzz_register_commands();
    fuzz_set_capability("mapped-ram", true);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd_with(data, size);
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);
    QEMUFile *f = qemu_file_new_input(&fioc->parent);
    GError *err = NULL;

    qio_channel_unref(&fioc->parent);
    bool ok = qemu_loadvm_state(f, &err);
    qemu_fclose(f, NULL); /* closes fd */
    fuzz_check_result(ok, err);
    fuzz_run_queries();
    fuzz_vm_reset_ram();
    return 0;
}
