/*
 * Helpers shared by the libFuzzer harnesses of tests/fuzz.
 *
 * Every harness defines LLVMFuzzerTestOneInput() (and usually
 * LLVMFuzzerInitialize()); it is linked either with libFuzzer
 * (-Dfuzzing=true, clang) or with standalone-main.c, which runs the entry
 * point over corpus files (the smoke pass of `make check`).
 *
 * The harnesses run in one thread that holds the BQL and owns the default
 * main context, as the main loop thread of mapmig does.
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include "qemu/osdep.h"
#include "io/channel.h"

/* The libFuzzer entry points. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Set up a VM as vl.c's vm_setup() does, without vCPU threads when @smp
 * is 0, monitors, serial or qtest: machine @type ("mini" or "none") with
 * @ram_size bytes of main RAM, the migration objects and the devices
 * (those of a running workload too if @workload, as "-workload stress"
 * has).  Takes the BQL and the default main context for good.
 */
void fuzz_vm_init(const char *type, uint64_t ram_size, int smp, bool workload);

/* Register every QMP and HMP command of mapmig, as vl.c does. */
void fuzz_register_commands(void);

/*
 * Run each query command a user may send after a load (query-status,
 * x-query-workload, query-migrate*) and format its
 * reply; aborts if one fails.  A load that fails half-way must not leave
 * state these trip over.
 */
void fuzz_run_queries(void);

/* Set a migration capability as migrate-set-capabilities does. */
void fuzz_set_capability(const char *name, bool on);

/*
 * Give every RAM block back to the kernel (MADV_DONTNEED): the next input
 * starts from zeroed guest RAM, whatever the previous one loaded, at the
 * cost of only the pages that were touched.
 */
void fuzz_vm_reset_ram(void);

/*
 * A read-only channel over @data (not copied: it must outlive the
 * channel).  Not seekable and without an fd, like a pipe or socket.
 */
QIOChannel *fuzz_mem_channel_new(const uint8_t *data, size_t len);

/*
 * A file descriptor of a regular (memfd) file holding exactly @data,
 * positioned at 0.  The caller closes it.  Aborts on system errors.
 */
int fuzz_memfd_with(const uint8_t *data, size_t len);

/*
 * The contract of every loader: success without an error, or failure
 * with a non-empty message.  Frees @err.  Aborts otherwise.  Successes
 * are counted in fuzz_ok_inputs.
 */
void fuzz_check_result(bool ok, GError *err);
extern unsigned fuzz_ok_inputs;

#endif
