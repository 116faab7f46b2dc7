/*
 * A real QEMU as the other end of a migration test: Debian's
 * qemu-system-x86_64 (7.2) started with a QMP socket in the test's
 * scratch directory, driven with the same QMP client as mapmig.
 *
 * qemu_peer_binary() skips the test (g_test_skip, returns NULL) when
 * QEMU is not installed or cannot start; qemu_peer_start() does the same
 * when the process dies before its QMP socket answers, printing QEMU's
 * stderr.  Processes get PR_SET_PDEATHSIG(SIGKILL).
 */
#ifndef TESTS_QTEST_MIGRATION_QEMU_PEER_H
#define TESTS_QTEST_MIGRATION_QEMU_PEER_H

#include "migration/framework.h"

typedef struct QemuPeer {
    GPid pid;
    QMPClient *qmp;
    char *qmp_path;
    char *log_path; /* QEMU's stderr */
} QemuPeer;

/* Path of qemu-system-x86_64 (g_free), or NULL after g_test_skip(). */
char *qemu_peer_binary(void);

/*
 * Start @bin with "-nodefaults -nographic -S -qmp ..." and then @args
 * (NULL terminated, e.g. "-M", "none", "-m", "32M").  Returns NULL after
 * g_test_skip() if QEMU exits before QMP is up.
 */
QemuPeer *qemu_peer_start(const char *bin, const char *const *args);

/* Run a QMP command (printf format, single quotes allowed); fails the
 * test on error.  Returns the "return" value (caller unrefs). */
JsonNode *qemu_peer_qmp(QemuPeer *q, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* HMP through human-monitor-command; returns the output (g_free). */
char *qemu_peer_hmp(QemuPeer *q, const char *cmdline);

/* Poll query-migrate until completed/failed/cancelled; returns it. */
char *qemu_peer_wait_migration(QemuPeer *q);

/* Poll query-status until QEMU leaves "inmigrate"; returns the state. */
char *qemu_peer_wait_incoming(QemuPeer *q);

/* Kill and reap QEMU, remove its socket and log. */
void qemu_peer_stop(QemuPeer *q);

/*
 * Fill @len bytes (page multiple) with the interop pattern: every fifth
 * page zero, every fifth+1 page uniform 0x5a (not a ZERO record for QEMU
 * 7.2), the rest distinct bytes per page and offset, varied by @seed.
 */
void interop_pattern_fill(uint8_t *buf, uint64_t len, unsigned seed);
/* Write the pattern to a new file of @len bytes at @path. */
void interop_pattern_file(const char *path, uint64_t len, unsigned seed);
/* SHA-256 (hex, g_free) of the file at @path. */
char *interop_file_sha256(const char *path);

#endif
