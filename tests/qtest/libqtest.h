/*
 * libqtest: start mapmig processes for a test and talk to them over QMP,
 * HMP and the qtest line protocol.  Modelled on QEMU's tests/qtest/libqtest.h.
 *
 * Every helper that talks to the VM fails the test (g_assert) when the
 * VM does not answer as expected, so test code stays linear.
 *
 * Processes are never leaked: every child is tracked, killed by
 * qtest_quit(), at exit, and from a SIGABRT/SIGTERM handler (assertion
 * failures abort); children also get PR_SET_PDEATHSIG(SIGKILL).
 */
#ifndef TESTS_QTEST_LIBQTEST_H
#define TESTS_QTEST_LIBQTEST_H

#include "qemu/osdep.h"
#include "qapi/qmp-client.h"

typedef struct QTestState QTestState;

/* Time-outs (ms) used by the helpers. */
#define QTEST_START_TIMEOUT_MS 20000
#define QTEST_EVENT_TIMEOUT_MS 60000

/*
 * Start mapmig (binary from $MAPMIG_BINARY) with @extra_args (shell
 * syntax) plus the sockets libqtest needs: -qtest, -qmp, -monitor and
 * -serial file:, all inside a fresh temporary directory.  Waits for the
 * qtest connection and the QMP greeting.  Fails the test on error.
 */
QTestState *qtest_init(const char *extra_args);
QTestState *qtest_initf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/*
 * Same, running @child_setup in the child just before exec (e.g. to
 * install a seccomp filter); it must be async-signal-safe.
 */
QTestState *qtest_init_with_setup(const char *extra_args,
                                  void (*child_setup)(void));
/*
 * The same with another command than $MAPMIG_BINARY (@binary, shell
 * syntax: may be a wrapper such as "ip netns exec NS mapmig"; NULL for
 * the default) and "NAME=VALUE" @env added to the child's environment
 * (NULL for none).
 */
QTestState *qtest_init_full(const char *binary, const char *env,
                            const char *extra_args);

/*
 * Ask the VM to quit (QMP quit), wait up to a few seconds, then SIGKILL
 * it; reap it, close the sockets and remove its temporary directory.
 * Returns the raw wait status (for tests that care); NULL-safe.
 */
int qtest_quit(QTestState *s);

/* The per-VM temporary directory (socket and serial paths live there). */
const char *qtest_tmpdir(QTestState *s);
pid_t qtest_pid(QTestState *s);
/* The path of the serial log (-serial file:). */
char *qtest_serial_path(QTestState *s);
/* Path of the QMP socket (for a second client, see qtest_qmp_connect). */
const char *qtest_qmp_path(QTestState *s);
/* The underlying QMP client (owned by @s). */
QMPClient *qtest_qmp_client(QTestState *s);

/*
 * Execute a QMP command given as JSON text with printf formatting
 * (single quotes allowed).  Returns the "return" value (caller unrefs);
 * fails the test if the command returns an error.
 */
JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Same, dropping the return value. */
void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
/*
 * Execute a command that must fail; returns the error desc (caller
 * frees).  If @klass is non-NULL, stores the error class name there
 * ("GenericError" or "CommandNotFound").
 */
char *qtest_qmp_expect_error(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
char *qtest_qmp_expect_error_class(QTestState *s, const char **klass,
                                   const char *fmt, ...) G_GNUC_PRINTF(3, 4);
/* Execute @cmd with @args (consumed) and @fd passed by SCM_RIGHTS. */
JsonNode *qtest_qmp_fd(QTestState *s, int fd, const char *cmd,
                       JsonObject *args);

/*
 * Wait for event @name for up to QTEST_EVENT_TIMEOUT_MS; fails the test
 * on time-out.  Returns the event object (caller unrefs).
 */
JsonObject *qtest_qmp_eventwait(QTestState *s, const char *name);
/* Same with a time-out; NULL when it expires. */
JsonObject *qtest_qmp_eventwait_timeout(QTestState *s, const char *name,
                                        int timeout_ms);

/* Status helpers. */
char *qtest_query_status(QTestState *s, bool *running);
bool qtest_is_running(QTestState *s);

/* qtest protocol: guest-physical memory access. */
char *qtest_rsp_line(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
uint8_t qtest_readb(QTestState *s, uint64_t addr);
uint16_t qtest_readw(QTestState *s, uint64_t addr);
uint32_t qtest_readl(QTestState *s, uint64_t addr);
uint64_t qtest_readq(QTestState *s, uint64_t addr);
void qtest_writeb(QTestState *s, uint64_t addr, uint8_t value);
void qtest_writeq(QTestState *s, uint64_t addr, uint64_t value);
void qtest_memread(QTestState *s, uint64_t addr, void *data, size_t size);
void qtest_bufread(QTestState *s, uint64_t addr, void *data, size_t size);
void qtest_memset(QTestState *s, uint64_t addr, uint8_t value, size_t size);
/* Write @size bytes at @addr (b64write: one line, keep it to a few MiB). */
void qtest_bufwrite(QTestState *s, uint64_t addr, const void *data,
                    size_t size);

/*
 * x-query-ram-digest as a table block id -> sha256 hex string
 * (caller unrefs).  qtest_ram_digests_equal compares two tables.
 */
GHashTable *qtest_ram_digests(QTestState *s);
bool qtest_ram_digests_equal(GHashTable *a, GHashTable *b);
/* Same, printing the blocks that differ (for expected-equal checks). */
bool qtest_ram_digests_check(GHashTable *a, GHashTable *b);
/* Total length of all RAM blocks. */
uint64_t qtest_ram_total(QTestState *s);

/* x-query-workload members. */
int64_t qtest_workload_get(QTestState *s, const char *member);

/*
 * HMP: send one command line over the -monitor socket (connected on
 * first use) and return the output up to the next "(qemu) " prompt,
 * without the prompt and with CR LF turned into LF.  Caller frees.
 */
char *qtest_hmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* A second QMP connection to @s (caller frees with qmp_client_free). */
QMPClient *qtest_qmp_connect(QTestState *s);

/*
 * Can this host run "-accel kvm"?  mapmig built with KVM, and /dev/kvm
 * opens read-write and creates a VM.  When not, *@reason (if given)
 * says why (static string).  Probed once.
 */
bool qtest_kvm_available(const char **reason);

/* Path of the mapmig binary; fails the test if $MAPMIG_BINARY is unset. */
const char *qtest_binary(void);

/* Remove a directory and the plain files in it (one level). */
void qtest_rmdir_files(const char *dir);

/*
 * Remove @dir (one level) if the test aborts; qtest_init registers each
 * VM's directory itself.  The handler is installed by qtest_init or
 * qtest_install_abort_handler.
 */
void qtest_add_abort_dir(const char *dir);
void qtest_remove_abort_dir(const char *dir);
void qtest_install_abort_handler(void);

/* Sleep helper. */
void qtest_msleep(unsigned ms);

#endif
