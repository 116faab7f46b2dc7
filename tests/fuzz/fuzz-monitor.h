/*
 * The socket-less monitor of the QMP and HMP harnesses (fuzz-monitor.c).
 */
#ifndef TESTS_FUZZ_FUZZ_MONITOR_H
#define TESTS_FUZZ_FUZZ_MONITOR_H

#include "qemu/osdep.h"
#include "monitor/monitor-internal.h"
#include "tests/fuzz/fuzz.h"

/*
 * A "none" VM without vCPU threads, every QMP and HMP command registered,
 * migrate and migrate-incoming (QMP and HMP) replaced by versions that
 * parse the URI and refuse.
 */
void fuzz_monitor_init(void);

/*
 * Open a monitor of kind @ops, feed it @data as one read from a client,
 * close it and return everything it wrote (greeting, replies, events).
 * Migration options and the run state are reset afterwards.
 */
GByteArray *fuzz_monitor_run(const MonitorOps *ops, const uint8_t *data,
                             size_t size);

#endif
