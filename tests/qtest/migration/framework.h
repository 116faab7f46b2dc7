/*
 * Migration test framework, shaped like QEMU's
 * tests/qtest/migration/framework.h: a test case is a MigrateCommon
 * struct (how to start the two VMs, URIs, capabilities, hooks, expected
 * result) run by test_precopy_common() or test_file_common().
 *
 * URIs may contain "@TMP@", replaced by the per-test temporary directory
 * (tmpfs below), and "@PORT@", replaced by a free TCP port.
 */
#ifndef TESTS_QTEST_MIGRATION_FRAMEWORK_H
#define TESTS_QTEST_MIGRATION_FRAMEWORK_H

#include "libqtest.h"

#define FILE_TEST_FILENAME "migfile"
#define MIG_MAX_CAPS 8

/* Per-test scratch directory for migration files and sockets. */
extern char *tmpfs;
/*
 * Accelerator of the running test case: "soft", or "kvm" for cases
 * registered with migration_test_add_accels() (both VMs get -accel).
 */
extern const char *migrate_accel;

typedef struct MigrateStart {
    /* Extra command-line arguments for the source and the destination. */
    const char *opts_source;
    const char *opts_target;
    const char *mem;      /* -m for both; default "128M" */
    const char *machine;  /* -M for both; default mini */
    const char *workload; /* source -workload; default idle */
    /*
     * Start the destination without -S: it must end running if the
     * source was running (keep such sources idle so RAM can be
     * compared), paused if the source was stopped.
     */
    bool target_no_S;
} MigrateStart;

typedef void *(*TestMigrateStartHook)(QTestState *from, QTestState *to);
typedef void (*TestMigrateEndHook)(QTestState *from, QTestState *to,
                                   void *opaque);

typedef enum {
    MIG_TEST_SUCCEED = 0,
    /* The migrate command itself returns an error. */
    MIG_TEST_QMP_ERROR,
    /* The migration starts, then goes to "failed". */
    MIG_TEST_FAIL,
    /* The source completes, the destination fails to load. */
    MIG_TEST_FAIL_DEST,
} MigTestResult;

typedef struct MigrateCommon {
    MigrateStart start;
    /* Destination URI for migrate-incoming (NULL: same as connect_uri). */
    const char *listen_uri;
    /* Source URI for migrate. */
    const char *connect_uri;
    /*
     * File-like transports: the destination loads after the source has
     * completed (file:, exec:cat).  Otherwise migrate-incoming is issued
     * first (sockets).
     */
    bool load_after_save;
    /* Capabilities set to on, on both sides (NULL terminated). */
    const char *caps[MIG_MAX_CAPS];
    /* Capabilities only on the source (destination mismatch tests). */
    const char *src_only_caps[MIG_MAX_CAPS];
    int multifd_channels_src; /* 0: leave default */
    int multifd_channels_dst;
    TestMigrateStartHook start_hook;
    TestMigrateEndHook end_hook;
    MigTestResult result;
    /* Substring expected in the error desc (QMP error or error-desc). */
    const char *error_substr;
    /* Stop the source before migrating (destination ends paused). */
    bool stop_src;
    /* Live: wait for a few passes before letting it converge. */
    bool live;
    /* ab workload: check the destination runs it without errors. */
    bool check_ab;
    /*
     * Leave the source's RAM as the guest made it.  By default the
     * framework fills it with migrate_fill_ram() first (the guest's RAM
     * only when the workload does not check its own memory, as ab does).
     */
    bool no_fill;
} MigrateCommon;

/* Replace @TMP@ and @PORT@ (caller frees). */
char *migrate_expand_uri(const char *uri, int port);
/* A free TCP port on 127.0.0.1 (bind port 0, close). */
int migrate_free_port(void);

/* Start the two VMs as @args describes (@to may be NULL). */
void migrate_start(QTestState **from, QTestState **to,
                   const MigrateStart *args);
void migrate_end(QTestState *from, QTestState *to);

void migrate_set_capability(QTestState *who, const char *cap, bool state);
void migrate_set_parameter_int(QTestState *who, const char *param,
                               int64_t value);
void migrate_set_parameter_str(QTestState *who, const char *param,
                               const char *value);
/* Large downtime limit, unlimited bandwidth: converges next pass. */
void migrate_ensure_converge(QTestState *who);
/*
 * Zero downtime limit and 32 MiB/s: keeps iterating while the guest
 * dirties RAM.
 */
void migrate_ensure_non_converge(QTestState *who);
/* ram.dirty-sync-count of query-migrate (0 if absent). */
int64_t migrate_dirty_sync_count(QTestState *who);

void migrate_qmp(QTestState *who, const char *uri);
void migrate_incoming_qmp(QTestState *who, const char *uri);
char *migrate_query_status(QTestState *who);
/* Poll query-migrate until one of the final states; returns it. */
char *wait_for_migration_status_final(QTestState *who);
void wait_for_migration_complete(QTestState *who);
/* Waits for "failed"; returns error-desc (caller frees). */
char *wait_for_migration_fail(QTestState *who);
/* Wait until ram.dirty-sync-count >= @n or the migration finished. */
void wait_for_migration_pass(QTestState *who, int64_t n);
/* Destination: wait until its run state leaves "inmigrate". */
void wait_for_incoming_done(QTestState *to);
/*
 * Load @uri into @to (set up, -incoming defer), wait until it is done,
 * check every block's digest against @digests, and quit @to.
 */
void migrate_load_and_check(QTestState *to, const char *uri,
                            GHashTable *digests);

/* What a process holds, for leak checks across migrations. */
typedef struct MigResources {
    int threads;      /* entries of /proc/PID/task */
    int fds;          /* entries of /proc/PID/fd */
    uint64_t rss_kib; /* VmRSS of /proc/PID/status */
} MigResources;

MigResources migrate_resources(QTestState *who);
/*
 * Threads and fds of @who back to @before: polled for up to 2 s (threads
 * exit and fds close right after the final state), then asserted.
 */
void migrate_check_no_leak(QTestState *who, MigResources before);

/* mapmig-img info --output json of @file ($MAPMIG_IMG), asserted to succeed. */
JsonNode *migrate_img_info(const char *file);

/* Can @dir do O_DIRECT?  Creates and removes a probe file. */
bool migrate_dir_supports_odirect(const char *dir);
/* sha256 of a whole file (hex, caller frees). */
char *migrate_file_sha256(const char *path);
/*
 * Can this kernel run the I/O engine @engine ("psync", "io-uring",
 * "libaio")?  The probe asks the kernel itself (io_uring_setup(2),
 * io_setup(2)), never mapmig, so a regression that makes mapmig refuse
 * an engine fails a test instead of skipping it.  On false, *why (caller
 * frees) says what the kernel answered.
 */
bool migrate_engine_available(const char *engine, char **why);
/*
 * Open descriptors of process @pid on the file @path: returns how many,
 * and sets *odirect to how many of them have O_DIRECT in the flags of
 * /proc/PID/fdinfo.
 */
int migrate_fds_on_file(pid_t pid, const char *path, int *odirect);

/*
 * Test data: x-fill-ram's pattern with a zero page in every
 * MIG_FILL_ZERO_STRIDE and runs of zero pages (docs/interop/qmp.rst).
 */
#define MIG_FILL_ZERO_STRIDE 7
/*
 * Fill @who's RAM with generation @generation of the pattern: every
 * block the guest cannot address (vga.vram, pc.rom) and, when
 * @guest_ram, the guest's RAM too, from 2 MiB on under KVM (the guest's
 * code and page tables are below).  Returns the pages written.
 */
uint64_t migrate_fill_ram(QTestState *who, bool guest_ram, int64_t generation);

/* Run a whole migration test case. */
void test_precopy_common(MigrateCommon *args);

/* Register a test case (soft accelerator). */
void migration_test_add(const char *path, void (*fn)(void));
/*
 * Register @fn at @path on the soft accelerator and, under
 * /migration/kvm/..., on KVM, where the kvm case skips with the reason
 * when this host cannot run KVM guests.
 */
void migration_test_add_accels(const char *path, void (*fn)(void));
/* Register @fn on KVM only (@path as given; skipped without KVM). */
void migration_test_add_kvm(const char *path, void (*fn)(void));
/*
 * Case tables: register @fn(@data) at @path (soft accelerator), and with
 * @accels also under /migration/kvm/... as migration_test_add_accels().
 * @data must outlive the test run (a static table entry).
 */
void migration_test_add_data(const char *path, void (*fn)(const void *),
                             const void *data, bool accels);
/* A case table entry that is just a MigrateCommon, run as is. */
typedef struct MigrateCase {
    const char *path;
    bool accels; /* also on KVM, under /migration/kvm/... */
    MigrateCommon args;
} MigrateCase;
/* Register every case of @cases[@n] with test_precopy_common(). */
void migration_test_add_cases(const MigrateCase *cases, size_t n);
/* Wait until the ab workload of @who has made more than @passes passes. */
void wait_for_ab_passes(QTestState *who, int64_t passes);
/* Check @who's serial log: ab markers 'B', no 'E' (failed self-check). */
void check_serial_ab(QTestState *who);
/* g_test_init plus the scratch directory; returns g_test_run()'s value
 * via migration_test_run(). */
void migration_test_init(int *argc, char ***argv);
int migration_test_run(void);

#endif
