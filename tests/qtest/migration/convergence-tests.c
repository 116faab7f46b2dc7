/*
 * Live saves of a busy guest: auto-converge and dirty-limit.
 *
 * The guest rewrites random pages of 90% of its RAM as fast as its vCPU
 * goes (-workload stress,share=90, no rate), far more than the default
 * max-bandwidth (128 MiB/s) can send.  Without help the save keeps
 * iterating, as QEMU's does; with auto-converge the vCPU is throttled
 * step by step (20%, +10% every second period over the threshold, up to
 * 99%) until the rest fits downtime-limit; with dirty-limit its dirty
 * rate is capped.  A 64 MiB guest shows it: its 58 MiB working set is
 * more than the 38 MiB that 300 ms at 128 MiB/s allow, and a pass takes
 * under a second, so the test stays short.  (A 1 GiB guest of this
 * workload converges too, but only after the throttle's ramp of about
 * 100 s: docs/migration/convergence.rst.)
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#define BUSY_ARGS "-M mini -m 64M -workload stress,share=90"
#define CONVERGE_TIMEOUT_MS 60000

static char *tmp_uri(const char *name)
{
    return g_strdup_printf("file:%s/%s", tmpfs, name);
}

static JsonNode *query_migrate(QTestState *who)
{
    return qtest_qmp(who, "{'execute': 'query-migrate'}");
}

/* -1 when query-migrate has no cpu-throttle-percentage. */
static int64_t throttle_pct(QTestState *who)
{
    g_autoptr(JsonNode) r = query_migrate(who);
    JsonObject *o = json_node_get_object(r);

    if (!json_object_has_member(o, "cpu-throttle-percentage")) {
        return -1;
    }
    return json_object_get_int_member(o, "cpu-throttle-percentage");
}

/* Pages the guest wrote per second, over @ms. */
static double guest_rate(QTestState *who, unsigned ms)
{
    int64_t a = qtest_workload_get(who, "pages-written");
    int64_t t = qemu_clock_ms();

    qtest_msleep(ms);
    return (qtest_workload_get(who, "pages-written") - a) * 1000.0 /
           (qemu_clock_ms() - t);
}

/* The rate once the migration's cleanup is over. */
static double guest_rate_settled(QTestState *who)
{
    qtest_msleep(200);
    return guest_rate(who, 1000);
}

static QTestState *busy_source(bool mapped)
{
    QTestState *from = qtest_initf("-accel %s " BUSY_ARGS, migrate_accel);

    /* The working set is dirty before the save starts. */
    qtest_msleep(500);
    if (mapped) {
        migrate_set_capability(from, "mapped-ram", true);
    }
    return from;
}

/* Wait for @st with a deadline; returns the highest throttle seen. */
static int64_t wait_final_watching_throttle(QTestState *from, int64_t limit_ms,
                                            char **st)
{
    int64_t deadline = qemu_clock_ms() + limit_ms;
    int64_t max_pct = -1;

    for (;;) {
        *st = migrate_query_status(from);
        if (!strcmp(*st, "completed") || !strcmp(*st, "failed") ||
            !strcmp(*st, "cancelled")) {
            return max_pct;
        }
        max_pct = MAX(max_pct, throttle_pct(from));
        if (qemu_clock_ms() > deadline) {
            return max_pct;
        }
        g_free(*st);
        qtest_msleep(100);
    }
}

static void restore_and_compare(const char *uri, bool mapped,
                                GHashTable *digests)
{
    QTestState *to = qtest_initf("-accel %s -M mini -m 64M -S -incoming defer",
                                 migrate_accel);

    if (mapped) {
        migrate_set_capability(to, "mapped-ram", true);
    }
    migrate_load_and_check(to, uri, digests);
}

/*
 * Default parameters and bandwidth: completes within a minute, having
 * throttled; the throttle is gone after; the file restores exactly.
 */
static void auto_converge_completes(bool mapped)
{
    QTestState *from = busy_source(mapped);
    g_autofree char *uri = tmp_uri("busy");
    g_autofree char *st = NULL;
    g_autofree char *info = NULL;
    int64_t max_pct;

    migrate_set_capability(from, "auto-converge", true);
    migrate_qmp(from, uri);
    max_pct = wait_final_watching_throttle(from, CONVERGE_TIMEOUT_MS, &st);
    g_test_message("highest throttle %" PRId64 "%%", max_pct);
    g_assert_cmpstr(st, ==, "completed");
    g_assert_cmpint(max_pct, >=, 20);
    g_assert_cmpint(max_pct, <=, 99);
    /* Lifted: still reported (auto-converge is on), as 0. */
    g_assert_cmpint(throttle_pct(from), ==, 0);
    info = qtest_hmp(from, "info migrate");
    g_assert_nonnull(strstr(info, "cpu throttle percentage: 0"));
    {
        g_autoptr(GHashTable) src = qtest_ram_digests(from);
        restore_and_compare(uri, mapped, src);
    }
    qtest_quit(from);
}

static void test_auto_converge_stream(void)
{
    auto_converge_completes(false);
}

static void test_auto_converge_mapped_ram(void)
{
    auto_converge_completes(true);
}

/*
 * Without auto-converge: still active after many passes, no throttle
 * reported, and no forced switchover.  Cancelled, the guest goes on at
 * full speed.
 */
static void no_auto_converge_iterates(bool mapped)
{
    QTestState *from = busy_source(mapped);
    g_autofree char *uri = tmp_uri("busy");
    g_autofree char *st = NULL;
    double before, after;

    before = guest_rate(from, 500);
    migrate_qmp(from, uri);
    wait_for_migration_pass(from, 12);
    st = migrate_query_status(from);
    g_assert_cmpstr(st, ==, "active");
    g_assert_cmpint(throttle_pct(from), ==, -1);
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    g_free(st);
    st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    g_assert_true(qtest_is_running(from));
    after = guest_rate(from, 500);
    g_test_message("guest rate before %.0f, after %.0f pages/s", before, after);
    g_assert_cmpfloat(after, >, before / 3);
    qtest_quit(from);
}

static void test_no_auto_converge_stream(void)
{
    no_auto_converge_iterates(false);
}

static void test_no_auto_converge_mapped_ram(void)
{
    no_auto_converge_iterates(true);
}

/*
 * Start @uri with auto-converge at a fixed 80% and no switchover; return
 * once throttled.  *@tracked: the guest's rate before the throttle, dirty
 * logging already on (which slows the soft vCPU by itself); *@throttled:
 * its rate at 80%.
 */
static void start_throttled(QTestState *from, const char *uri, double *tracked,
                            double *throttled)
{
    int64_t deadline = qemu_clock_ms() + CONVERGE_TIMEOUT_MS;

    migrate_set_parameter_int(from, "downtime-limit", 0);
    /*
     * Passes of 2 s: a guest slowed to 20% still dirties pages in each,
     * so none ends clean (which would complete at downtime-limit 0, as
     * short passes of a KVM guest did).
     */
    migrate_set_parameter_int(from, "max-bandwidth", 32 * MiB);
    migrate_set_capability(from, "auto-converge", true);
    migrate_set_parameter_int(from, "cpu-throttle-initial", 80);
    migrate_set_parameter_int(from, "max-cpu-throttle", 80);
    migrate_qmp(from, uri);
    /* Two periods of a second each come before the first throttle. */
    qtest_msleep(100);
    g_assert_cmpint(throttle_pct(from), ==, 0);
    *tracked = guest_rate(from, 500);
    g_assert_cmpint(throttle_pct(from), ==, 0);
    while (throttle_pct(from) < 80) {
        g_assert_cmpint(qemu_clock_ms(), <, deadline);
        qtest_msleep(50);
    }
    *throttled = guest_rate(from, 1000);
    /* 20% of the time, with room for a loaded host. */
    g_assert_cmpfloat(*throttled, <, *tracked / 2);
}

/*
 * The throttle really slows the vCPU, and a cancel lifts it: the guest
 * runs at its old speed again.
 */
static void test_cancel_lifts_throttle(void)
{
    QTestState *from = busy_source(false);
    g_autofree char *uri = tmp_uri("busy");
    g_autofree char *st = NULL;
    double before, tracked, throttled, after;

    before = guest_rate(from, 1000);
    start_throttled(from, uri, &tracked, &throttled);
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    after = guest_rate_settled(from);
    g_test_message("guest rate before %.0f, logging %.0f, at 80%% %.0f, "
                   "after %.0f",
                   before, tracked, throttled, after);
    /*
     * The soft vCPU's speed varies a lot with the dirty log's state and
     * the host's load; still at 80% it would stay near @throttled.
     */
    g_assert_cmpfloat(after, >, throttled * 3);
    qtest_quit(from);
}

/* A failed migration lifts the throttle as well: the peer goes away. */
static void test_failure_lifts_throttle(void)
{
    QTestState *from = busy_source(false);
    g_autofree char *uri = g_strdup_printf("unix:%s/migsocket", tmpfs);
    g_autofree char *desc = NULL;
    QTestState *to = qtest_initf("-accel %s -M mini -m 64M -S -incoming defer",
                                 migrate_accel);
    double before, tracked, throttled, after;

    migrate_incoming_qmp(to, uri);
    before = guest_rate(from, 1000);
    start_throttled(from, uri, &tracked, &throttled);
    qtest_quit(to);
    desc = wait_for_migration_fail(from);
    g_test_message("source error: %s", desc);
    g_assert_true(qtest_is_running(from));
    after = guest_rate_settled(from);
    g_test_message("guest rate before %.0f, logging %.0f, at 80%% %.0f, "
                   "after %.0f",
                   before, tracked, throttled, after);
    /*
     * The soft vCPU's speed varies a lot with the dirty log's state and
     * the host's load; still at 80% it would stay near @throttled.
     */
    g_assert_cmpfloat(after, >, throttled * 3);
    qtest_quit(from);
}

/* QEMU's parameters, defaults and limits. */
static void test_throttle_parameters(void)
{
    QTestState *vm = qtest_init("-M none -m 16M");
    g_autoptr(JsonNode) r =
        qtest_qmp(vm, "{'execute': 'query-migrate-parameters'}");
    JsonNode *p = r;
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL;
    g_autofree char *hmp = NULL;

    g_assert_cmpint(qmp_get_int(p, "cpu-throttle-initial"), ==, 20);
    g_assert_cmpint(qmp_get_int(p, "cpu-throttle-increment"), ==, 10);
    g_assert_cmpint(qmp_get_int(p, "throttle-trigger-threshold"), ==, 50);
    g_assert_cmpint(qmp_get_int(p, "max-cpu-throttle"), ==, 99);
    g_assert_cmpint(qmp_get_int(p, "vcpu-dirty-limit"), ==, 1);
    g_assert_false(json_object_get_boolean_member(json_node_get_object(p),
                                                  "cpu-throttle-tailslow"));

    e1 = qtest_qmp_expect_error(vm, "{'execute': 'migrate-set-parameters', "
                                    "'arguments': {'cpu-throttle-initial': "
                                    "100}}");
    g_assert_nonnull(strstr(e1, "range of 1 to 99"));
    e2 = qtest_qmp_expect_error(vm, "{'execute': 'migrate-set-parameters', "
                                    "'arguments': "
                                    "{'throttle-trigger-threshold': 0}}");
    g_assert_nonnull(strstr(e2, "range of 1 to 100"));
    e3 = qtest_qmp_expect_error(vm, "{'execute': 'migrate-set-parameters', "
                                    "'arguments': {'cpu-throttle-initial': 50, "
                                    "'max-cpu-throttle': 40}}");
    g_assert_nonnull(strstr(e3, "cpu_throttle_initial to 99"));
    e4 = qtest_qmp_expect_error(vm, "{'execute': 'migrate-set-parameters', "
                                    "'arguments': {'vcpu-dirty-limit': 0}}");
    g_assert_nonnull(strstr(e4, "greater than 1 MB/s"));

    hmp = qtest_hmp(vm, "migrate_set_parameter cpu-throttle-tailslow on");
    g_free(hmp);
    hmp = qtest_hmp(vm, "info migrate_parameters");
    g_assert_nonnull(strstr(hmp, "cpu-throttle-tailslow: on"));
    g_assert_nonnull(strstr(hmp, "cpu-throttle-initial: 20"));
    g_assert_nonnull(strstr(hmp, "vcpu-dirty-limit: 1 MB/s"));
    qtest_quit(vm);
}

/* dirty-limit caps the soft vCPUs' dirty rate: the save completes. */
static void test_dirty_limit_completes(void)
{
    QTestState *from = busy_source(false);
    g_autofree char *uri = tmp_uri("busy");
    g_autofree char *st = NULL;
    g_autofree char *err = NULL;

    err = qtest_qmp_expect_error(
        from, "{'execute': 'migrate-set-capabilities', 'arguments': "
              "{'capabilities': [{'capability': 'dirty-limit', 'state': true},"
              " {'capability': 'auto-converge', 'state': true}]}}");
    g_assert_nonnull(strstr(err, "dirty-limit conflicts with auto-converge"));
    migrate_set_capability(from, "dirty-limit", true);
    migrate_set_parameter_int(from, "vcpu-dirty-limit", 1);
    migrate_qmp(from, uri);
    wait_final_watching_throttle(from, CONVERGE_TIMEOUT_MS, &st);
    g_assert_cmpstr(st, ==, "completed");
    {
        g_autoptr(GHashTable) src = qtest_ram_digests(from);
        restore_and_compare(uri, false, src);
    }
    qtest_quit(from);
}

/* KVM would need its dirty ring: refused with QEMU's message. */
static void test_dirty_limit_kvm_refused(void)
{
    g_autofree char *args =
        g_strdup_printf("-accel %s -M mini -m 64M", migrate_accel);
    QTestState *vm = qtest_init(args);
    g_autofree char *err = qtest_qmp_expect_error(
        vm, "{'execute': 'migrate-set-capabilities', 'arguments': "
            "{'capabilities': [{'capability': 'dirty-limit', "
            "'state': true}]}}");

    g_assert_cmpstr(err, ==,
                    "dirty-limit requires KVM with accelerator property "
                    "'dirty-ring-size' set");
    qtest_quit(vm);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/convergence/parameters",
                       test_throttle_parameters);
    migration_test_add_accels("/migration/convergence/auto-converge/stream",
                              test_auto_converge_stream);
    migration_test_add("/migration/convergence/auto-converge/mapped-ram",
                       test_auto_converge_mapped_ram);
    migration_test_add("/migration/convergence/no-auto-converge/stream",
                       test_no_auto_converge_stream);
    migration_test_add("/migration/convergence/no-auto-converge/mapped-ram",
                       test_no_auto_converge_mapped_ram);
    /* Under KVM: the ticker's kicks get the vCPU out of the guest. */
    migration_test_add_accels("/migration/convergence/cancel-lifts-throttle",
                              test_cancel_lifts_throttle);
    migration_test_add("/migration/convergence/failure-lifts-throttle",
                       test_failure_lifts_throttle);
    migration_test_add("/migration/convergence/dirty-limit",
                       test_dirty_limit_completes);
    migration_test_add_kvm("/migration/kvm/convergence/dirty-limit-refused",
                           test_dirty_limit_kvm_refused);
    return migration_test_run();
}
