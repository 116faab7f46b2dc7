/*
 * Lazy restore (capability lazy-restore): the destination resumes the
 * guest before its RAM is loaded and resolves page faults from the
 * mapped-ram file with userfaultfd.
 *
 * Every test saves a small guest (64 MiB) with mapped-ram, then restores
 * it lazily.  A low max-postcopy-bandwidth keeps the prefetchers slow, so
 * the guest (or a monitor command) really has to fault pages in; it is
 * raised to unlimited to let the load finish.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"
#include "hw/workload-pattern.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME
#define MEM "64M"
#define MEM_BYTES (64 * MiB)

/* ---- helpers ---- */

/*
 * Distinct pages in every block, with zero pages and runs of them
 * (migrate_fill_ram()).
 */
static void fill_pattern(QTestState *who)
{
    g_assert_cmpuint(migrate_fill_ram(who, true, 1), >, 0);
}

static void set_lazy_caps(QTestState *who)
{
    migrate_set_capability(who, "events", true);
    migrate_set_capability(who, "mapped-ram", true);
    migrate_set_capability(who, "lazy-restore", true);
}

/*
 * Save @from to the test's file.  A running source makes the destination
 * run as soon as its device state is in.
 */
static void save(QTestState *from, const char *uri)
{
    migrate_set_capability(from, "mapped-ram", true);
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
}

/* Wait for a MIGRATION event with @status. */
static void wait_migration_event(QTestState *who, const char *status)
{
    for (;;) {
        g_autoptr(JsonObject) ev = qtest_qmp_eventwait(who, "MIGRATION");
        JsonObject *data = json_object_get_object_member(ev, "data");
        const char *st = json_object_get_string_member(data, "status");

        if (!strcmp(st, status)) {
            return;
        }
        /* Nothing may come after the final states. */
        g_assert_cmpstr(st, !=, "failed");
        g_assert_cmpstr(st, !=, "completed");
    }
}

/* query-migrate's lazy-restore member @name. */
static int64_t lazy_stat(QTestState *who, const char *name)
{
    g_autoptr(JsonNode) r = qtest_qmp(who, "{'execute': 'query-migrate'}");
    JsonObject *o = json_node_get_object(r);

    g_assert_true(json_object_has_member(o, "lazy-restore"));
    return json_object_get_int_member(
        json_object_get_object_member(o, "lazy-restore"), name);
}

static void set_prefetch_bw(QTestState *who, int64_t bytes_per_s)
{
    migrate_set_parameter_int(who, "max-postcopy-bandwidth", bytes_per_s);
}

/* Digests of every block but pc.ram (the one the workload writes). */
static void check_other_blocks(GHashTable *src, GHashTable *dst)
{
    GHashTableIter it;
    gpointer id, digest;

    g_hash_table_iter_init(&it, src);
    while (g_hash_table_iter_next(&it, &id, &digest)) {
        if (strcmp(id, "pc.ram")) {
            g_assert_cmpstr(digest, ==, g_hash_table_lookup(dst, id));
        }
    }
}

/* Wait until the workload stops making progress (a paused guest). */
static void wait_workload_still(QTestState *who)
{
    int64_t deadline = qemu_clock_ms() + 30000;
    int64_t prev = qtest_workload_get(who, "pages-written");

    for (;;) {
        qtest_msleep(200);
        int64_t now = qtest_workload_get(who, "pages-written");
        if (now == prev) {
            return;
        }
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        prev = now;
    }
}

/* ---- the guest runs during the load; a digest goes through the loader */

static void test_lazy_digest(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    MigrateStart start = { .mem = MEM, .target_no_S = true };
    g_autoptr(GHashTable) src = NULL;
    g_autoptr(GHashTable) mid = NULL;
    g_autoptr(GHashTable) dst = NULL;
    QTestState *from, *to;
    bool running;

    migrate_start(&from, &to, &start);
    fill_pattern(from);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    save(from, uri);
    src = qtest_ram_digests(from);

    set_lazy_caps(to);
    set_prefetch_bw(to, 1 * MiB);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    json_object_unref(qtest_qmp_eventwait(to, "RESUME"));
    g_autofree char *st = qtest_query_status(to, &running);
    g_assert_true(running);
    g_assert_cmpstr(st, ==, "running");

    /* At 1 MiB/s most of RAM is still missing: the digest loads it. */
    mid = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, mid));
    g_assert_cmpint(lazy_stat(to, "pages-by-monitor"), >, 0);

    set_prefetch_bw(to, 0);
    wait_for_migration_complete(to);
    dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));
    g_assert_cmpint(lazy_stat(to, "pages-loaded"), ==,
                    lazy_stat(to, "pages-total"));
    g_assert_cmpint(lazy_stat(to, "zero-pages"), >, 0);
    g_assert_true(qtest_is_running(to));
    g_autofree char *hmp = qtest_hmp(to, "info migrate");
    g_assert_nonnull(strstr(hmp, "Migration status: completed"));
    g_assert_nonnull(strstr(hmp, "lazy restore: "));
    g_assert_nonnull(strstr(hmp, "lazy pages by fault: "));
    migrate_end(from, to);
}

/* ---- the ab workload checks every page while it is being loaded ---- */

static void test_lazy_ab(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    /* 80 MiB/s of first-byte writes: a pass over 64 MiB in < 1 s. */
    MigrateStart start = { .mem = MEM,
                           .workload = "ab,rate=20000",
                           .target_no_S = true };
    g_autoptr(GHashTable) src = NULL;
    g_autoptr(GHashTable) dst = NULL;
    QTestState *from, *to;

    migrate_start(&from, &to, &start);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    while (qtest_workload_get(from, "passes") < 2) {
        qtest_msleep(50);
    }
    save(from, uri);
    src = qtest_ram_digests(from);
    int64_t passes = qtest_workload_get(from, "passes");
    g_assert_cmpint(qtest_workload_get(from, "errors"), ==, 0);

    set_lazy_caps(to);
    set_prefetch_bw(to, 1 * MiB);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    /*
     * Prefetching pc.ram at 1 MiB/s would take a minute: the guest
     * faults its way through, checking every page on the way.
     */
    wait_for_migration_complete(to);
    g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);
    g_assert_cmpint(lazy_stat(to, "faults"), >, 0);
    g_assert_cmpint(lazy_stat(to, "pages-by-fault"), >, 0);
    g_assert_cmpint(lazy_stat(to, "fault-latency-p99-us"), >=,
                    lazy_stat(to, "fault-latency-p50-us"));
    dst = qtest_ram_digests(to);
    check_other_blocks(src, dst);
    g_assert_cmpint(lazy_stat(to, "pages-loaded"), ==,
                    lazy_stat(to, "pages-total"));
    /* It goes on, and every page it reads holds what it expects. */
    passes = qtest_workload_get(to, "passes");
    while (qtest_workload_get(to, "passes") < passes + 2) {
        qtest_msleep(50);
    }
    g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);
    migrate_end(from, to);
}

/* ---- the verify workload checks every faulted page byte for byte ---- */

/* "length:sha256" of pc.ram after pass @pass of the verify workload. */
static char *verify_predicted_digest(uint64_t bytes, uint64_t pass)
{
    g_autoptr(GChecksum) ck = g_checksum_new(G_CHECKSUM_SHA256);
    uint64_t page[TARGET_PAGE_SIZE / 8];

    for (uint64_t i = 0; i < bytes / TARGET_PAGE_SIZE; i++) {
        workload_pattern_fill(page, TARGET_PAGE_SIZE, i, pass);
        g_checksum_update(ck, (const guchar *)page, TARGET_PAGE_SIZE);
    }
    return g_strdup_printf("%" PRIu64 ":%s", bytes, g_checksum_get_string(ck));
}

static void test_lazy_verify(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    /* 80 MiB/s of whole-page writes: a pass over 64 MiB in < 1 s. */
    MigrateStart start = { .mem = MEM, .workload = "verify,rate=20000" };
    g_autoptr(GHashTable) src = NULL;
    g_autoptr(GHashTable) dst = NULL;
    QTestState *from, *to;

    migrate_start(&from, NULL, &start);
    g_assert_cmpuint(migrate_fill_ram(from, false, 3), >, 0);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    while (qtest_workload_get(from, "passes") < 2) {
        qtest_msleep(50);
    }
    save(from, uri);
    src = qtest_ram_digests(from);
    int64_t passes = qtest_workload_get(from, "passes");
    g_assert_cmpint(qtest_workload_get(from, "errors"), ==, 0);

    /*
     * The destination finishes the pass the source was in and one more,
     * then stops: every page is checked at least once, all of them
     * through the fault path while prefetching crawls at 1 MiB/s.
     */
    to = qtest_initf("-accel %s -m %s -M mini -incoming defer "
                     "-workload verify,passes=%" PRId64,
                     migrate_accel, MEM, passes + 2);
    set_lazy_caps(to);
    set_prefetch_bw(to, 1 * MiB);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    while (qtest_workload_get(to, "passes") < passes + 2) {
        qtest_msleep(50);
    }
    g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);
    g_assert_cmpint(lazy_stat(to, "pages-by-fault"), >, 0);
    set_prefetch_bw(to, 0);
    wait_for_migration_complete(to);

    /* Pause, digest, and compare with what the pattern predicts. */
    qtest_qmp_assert_success(to, "{'execute': 'stop'}");
    wait_workload_still(to);
    g_assert_cmpint(qtest_workload_get(to, "passes"), ==, passes + 2);
    g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);
    dst = qtest_ram_digests(to);
    check_other_blocks(src, dst);
    g_autofree char *want = verify_predicted_digest(MEM_BYTES, passes + 1);
    g_assert_cmpstr(g_hash_table_lookup(dst, "pc.ram"), ==, want);
    migrate_end(from, to);
}

/* The check above can fail: one wrong byte is one error. */
static void test_verify_detects(void)
{
    MigrateStart start = { .mem = MEM, .workload = "verify,rate=20000" };
    QTestState *from;

    migrate_start(&from, NULL, &start);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    while (qtest_workload_get(from, "passes") < 1) {
        qtest_msleep(50);
    }
    /* Paused, so the write cannot fall between a check and a rewrite. */
    qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    qtest_writeb(from, 100 * TARGET_PAGE_SIZE + 4001, 0x5a);
    int64_t passes = qtest_workload_get(from, "passes");
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    while (qtest_workload_get(from, "passes") < passes + 2) {
        qtest_msleep(50);
    }
    g_assert_cmpint(qtest_workload_get(from, "errors"), ==, 1);
    qtest_quit(from);
}

/* ---- multifd prefetchers with direct-io and each I/O engine ---- */

/*
 * Whether this kernel moves pages (UFFDIO_MOVE, Linux 6.8) and mapmig is
 * expected to use it.
 */
static bool kernel_moves_pages(void)
{
    struct utsname u;
    unsigned major = 0, minor = 0;

    if (g_getenv("MAPMIG_LAZY_COPY") || uname(&u) < 0 ||
        sscanf(u.release, "%u.%u", &major, &minor) != 2) {
        return false;
    }
    return major > 6 || (major == 6 && minor >= 8);
}

static void lazy_dio_engine(const char *engine)
{
    g_autofree char *dir = g_strdup("/var/tmp/mapmig-lazy-XXXXXX");
    g_autofree char *uri = NULL;
    g_autoptr(GHashTable) src = NULL;
    g_autoptr(GHashTable) dst = NULL;
    MigrateStart start = { .mem = MEM };
    QTestState *from, *to;
    g_autofree char *why = NULL;

    if (!migrate_engine_available(engine, &why)) {
        g_test_skip(why);
        return;
    }
    if (!g_mkdtemp(dir) || !migrate_dir_supports_odirect(dir)) {
        rmdir(dir);
        g_test_skip("no O_DIRECT file system in /var/tmp");
        return;
    }
    qtest_add_abort_dir(dir);
    uri = g_strdup_printf("file:%s/%s", dir, FILE_TEST_FILENAME);
    migrate_start(&from, &to, &start);
    fill_pattern(from);
    save(from, uri);
    src = qtest_ram_digests(from);

    set_lazy_caps(to);
    migrate_set_capability(to, "multifd", true);
    migrate_set_parameter_int(to, "multifd-channels", 2);
    migrate_set_parameter_int(to, "lazy-chunk-size", 16 * KiB);
    qtest_qmp_assert_success(to, "{'execute': 'migrate-set-parameters', "
                                 "'arguments': {'direct-io': true}}");
    migrate_set_parameter_str(to, "io-engine", engine);
    migrate_incoming_qmp(to, uri);
    {
        g_autofree char *st = wait_for_migration_status_final(to);
        if (!strcmp(st, "failed")) {
            g_autoptr(JsonNode) q =
                qtest_qmp(to, "{'execute': 'query-migrate'}");
            const char *desc = qmp_get_str(q, "error-desc");
            g_printerr("lazy restore with %s: %s\n", engine, desc);
        }
        g_assert_cmpstr(st, ==, "completed");
    }
    dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));
    g_assert_cmpint(lazy_stat(to, "prefetch-threads"), ==, 2);
    g_assert_cmpint(lazy_stat(to, "chunk-size"), ==, 16 * KiB);
    g_assert_cmpint(lazy_stat(to, "bytes-prefetched"), >, 0);
    /* Prefetched pages are moved in where the kernel can, else copied. */
    g_test_message("pages moved: %" PRId64, lazy_stat(to, "pages-moved"));
    if (kernel_moves_pages()) {
        g_assert_cmpint(lazy_stat(to, "pages-moved"), >, 0);
    } else {
        g_assert_cmpint(lazy_stat(to, "pages-moved"), ==, 0);
    }
    migrate_end(from, to);
    qtest_remove_abort_dir(dir);
    qtest_rmdir_files(dir);
}

static void test_lazy_dio_psync(void)
{
    lazy_dio_engine("psync");
}

static void test_lazy_dio_io_uring(void)
{
    lazy_dio_engine("io-uring");
}

static void test_lazy_dio_libaio(void)
{
    lazy_dio_engine("libaio");
}

/* As kernels before 6.8 do it: every page copied (UFFDIO_COPY). */
static void test_lazy_dio_copy(void)
{
    g_setenv("MAPMIG_LAZY_COPY", "1", true);
    lazy_dio_engine("io-uring");
    g_unsetenv("MAPMIG_LAZY_COPY");
}

/* ---- a file error during the lazy phase pauses the guest ---- */

static void test_lazy_read_error(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *path = g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
    MigrateStart start = { .mem = MEM,
                           .workload = "ab,rate=4000",
                           .target_no_S = true };
    QTestState *from, *to;
    bool running;

    migrate_start(&from, &to, &start);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    while (qtest_workload_get(from, "passes") < 1) {
        qtest_msleep(50);
    }
    save(from, uri);

    set_lazy_caps(to);
    set_prefetch_bw(to, 1 * MiB);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    /*
     * The guest resumes just after postcopy-active: fail only once it
     * runs, else the load fails before it ever ran and nothing stops.
     */
    for (;;) {
        g_free(qtest_query_status(to, &running));
        if (running) {
            break;
        }
        qtest_msleep(5);
    }
    /* A real error: reads past the new end of the file come back short. */
    g_assert_cmpint(truncate(path, 0), ==, 0);

    g_autofree char *desc = wait_for_migration_fail(to);
    g_test_message("lazy restore failed: %s", desc);
    g_assert_nonnull(strstr(desc, "Lazy restore: cannot read ramblock"));
    g_assert_nonnull(strstr(desc, "nd of file"));
    json_object_unref(qtest_qmp_eventwait(to, "STOP"));
    g_autofree char *st = qtest_query_status(to, &running);
    g_assert_false(running);
    g_assert_cmpstr(st, ==, "internal-error");
    wait_workload_still(to);
    /* No page it read was wrong (a zero page would count as an error). */
    g_assert_cmpint(qtest_workload_get(to, "errors"), ==, 0);

    /* Nothing that reads guest RAM may hang on the missing pages. */
    g_autofree char *e1 =
        qtest_qmp_expect_error(to, "{'execute': 'x-query-ram-digest'}");
    g_assert_nonnull(strstr(e1, "Guest RAM is incomplete"));
    g_autofree char *e2 = qtest_qmp_expect_error(
        to, "{'execute': 'migrate', 'arguments': {'uri': 'file:%s.out'}}",
        path);
    g_assert_nonnull(strstr(e2, "lazy restore failed"));
    g_autofree char *e3 = qtest_qmp_expect_error(to, "{'execute': 'cont'}");
    g_assert_nonnull(strstr(e3, "internal-error"));

    int status = qtest_quit(to);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    qtest_quit(from);
}

/* ---- quit while pages are still being loaded ---- */

static void test_lazy_quit(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    MigrateStart start = { .mem = MEM,
                           .workload = "ab,rate=4000",
                           .target_no_S = true };
    QTestState *from, *to;

    migrate_start(&from, &to, &start);
    qtest_qmp_assert_success(from, "{'execute': 'cont'}");
    save(from, uri);
    set_lazy_caps(to);
    set_prefetch_bw(to, 1 * MiB);
    migrate_incoming_qmp(to, uri);
    wait_migration_event(to, "postcopy-active");
    qtest_msleep(100); /* let the guest fault a little */

    int status = qtest_quit(to);
    g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    qtest_quit(from);
}

/* ---- refusals ---- */

static void test_lazy_refusals(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    QTestState *to = qtest_initf("-m %s -S -incoming defer", MEM);
    g_autofree char *e1 = qtest_qmp_expect_error(
        to, "{'execute': 'migrate-set-capabilities', 'arguments': "
            "{'capabilities': [{'capability': 'lazy-restore', "
            "'state': true}]}}");
    g_assert_cmpstr(e1, ==,
                    "Capability 'lazy-restore' requires capability "
                    "'mapped-ram'");
    g_autofree char *e2 = qtest_qmp_expect_error(
        to, "{'execute': 'migrate-set-parameters', 'arguments': "
            "{'lazy-chunk-size': 12288}}");
    g_assert_nonnull(strstr(e2, "power of two"));

    set_lazy_caps(to);
    g_autofree char *e3 =
        qtest_qmp_expect_error(to,
                               "{'execute': 'migrate-incoming', 'arguments': "
                               "{'uri': 'exec:cat %s'}}",
                               uri + strlen("file:"));
    g_assert_nonnull(strstr(e3, "needs a file:"));
    /* Still waiting for a usable incoming migration. */
    g_autofree char *st = qtest_query_status(to, NULL);
    g_assert_cmpstr(st, ==, "inmigrate");
    qtest_quit(to);
}

/* ---- file and memfd backends have contents of their own: refused ---- */

static void test_lazy_backend_refused(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    const char *be = "-object memory-backend-memfd,id=mem0,size=" MEM
                     " -machine memory-backend=mem0";
    MigrateStart start = { .mem = MEM, .opts_source = be, .opts_target = be };
    QTestState *from, *to;

    migrate_start(&from, &to, &start);
    fill_pattern(from);
    save(from, uri);
    g_autoptr(GHashTable) src = qtest_ram_digests(from);

    set_lazy_caps(to);
    g_autofree char *e = qtest_qmp_expect_error(
        to, "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}", uri);
    g_test_message("error: %s", e);
    g_assert_nonnull(strstr(e, "needs anonymous guest RAM"));
    g_assert_nonnull(strstr(e, "'mem0'"));
    /* Nothing was touched: the eager restore of the same file works. */
    migrate_set_capability(to, "lazy-restore", false);
    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));
    migrate_end(from, to);
}

/* ---- where userfaultfd is forbidden, eager restores still work ---- */

/*
 * What container runtimes' default seccomp profiles do: userfaultfd(2)
 * and /dev/userfaultfd's USERFAULTFD_IOC_NEW fail with EPERM.
 */
static void deny_userfaultfd(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_userfaultfd, 4, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[1])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, USERFAULTFD_IOC_NEW, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    };
    struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        _exit(126);
    }
}

static void test_lazy_no_userfaultfd(void)
{
    g_autofree char *uri = migrate_expand_uri(FILE_URI, 0);
    g_autofree char *args = g_strdup_printf("-m %s -S -incoming defer", MEM);
    QTestState *from = qtest_initf("-m %s -workload idle", MEM);
    QTestState *to = qtest_init_with_setup(args, deny_userfaultfd);

    fill_pattern(from);
    save(from, uri);
    g_autoptr(GHashTable) src = qtest_ram_digests(from);

    migrate_set_capability(to, "mapped-ram", true);
    g_autofree char *e = qtest_qmp_expect_error(
        to, "{'execute': 'migrate-set-capabilities', 'arguments': "
            "{'capabilities': [{'capability': 'lazy-restore', "
            "'state': true}]}}");
    g_test_message("refused: %s", e);
    g_assert_nonnull(strstr(e, "Lazy restore is not supported: "
                               "userfaultfd is not available"));
    g_assert_nonnull(strstr(e, "Operation not permitted"));

    /* The eager restore of the same file. */
    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));
    migrate_end(from, to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/lazy/digest-while-loading",
                       test_lazy_digest);
    migration_test_add_accels("/migration/lazy/ab-workload", test_lazy_ab);
    migration_test_add("/migration/lazy/verify-workload", test_lazy_verify);
    migration_test_add("/migration/lazy/verify-detects", test_verify_detects);
    migration_test_add("/migration/lazy/multifd/dio/psync",
                       test_lazy_dio_psync);
    migration_test_add("/migration/lazy/multifd/dio/io-uring",
                       test_lazy_dio_io_uring);
    migration_test_add("/migration/lazy/multifd/dio/libaio",
                       test_lazy_dio_libaio);
    migration_test_add("/migration/lazy/multifd/dio/copy", test_lazy_dio_copy);
    migration_test_add_accels("/migration/lazy/read-error",
                              test_lazy_read_error);
    migration_test_add("/migration/lazy/quit-while-loading", test_lazy_quit);
    migration_test_add("/migration/lazy/refusals", test_lazy_refusals);
    migration_test_add("/migration/lazy/refuse-file-backend",
                       test_lazy_backend_refused);
    migration_test_add("/migration/lazy/no-userfaultfd",
                       test_lazy_no_userfaultfd);
    return migration_test_run();
}
