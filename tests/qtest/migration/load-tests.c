/*
 * Load: 8 QMP clients polling query-migrate during a multifd save, 20
 * save/restore cycles back to back without growth of the source's
 * threads, fds or memory, and tcp migration between two network
 * namespaces over a veth link shaped by tc (netem delay and loss where
 * the kernel has it, a tbf bottleneck with a tiny queue otherwise).
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <sys/wait.h>

/* ---- 8 QMP clients during a multifd save ---- */

#define CLIENTS 8

typedef struct Poller {
    QMPClient *qmp;
    GThread *thread;
    unsigned polls;
    unsigned statuses_seen; /* bit per status, in order of first sight */
    char *error;            /* first problem, NULL if none */
    char *final;
} Poller;

static int status_rank(const char *st)
{
    static const char *const order[] = { "setup", "active", "device",
                                         "completed" };

    for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
        if (!g_strcmp0(st, order[i])) {
            return i;
        }
    }
    return -1;
}

/* Poll until a final status; the status never goes backwards. */
static gpointer poller_fn(gpointer opaque)
{
    Poller *p = opaque;
    int last = -1;

    for (;;) {
        g_autoptr(GError) err = NULL;
        g_autoptr(JsonNode) r =
            qmp_client_cmd(p->qmp, "query-migrate", NULL, &err);
        if (!r) {
            p->error = g_strdup_printf("query-migrate: %s", err->message);
            return NULL;
        }
        const char *st = qmp_get_str(r, "status");
        int rank = status_rank(st);
        p->polls++;
        if (rank < 0) {
            p->error = g_strdup_printf("unexpected status %s", st);
            return NULL;
        }
        if (rank < last) {
            p->error = g_strdup_printf("status went back to %s", st);
            return NULL;
        }
        last = rank;
        if (!strcmp(st, "completed")) {
            p->final = g_strdup(st);
            return NULL;
        }
    }
}

static void test_qmp_clients_during_multifd_save(void)
{
    g_autofree char *path = g_build_filename(tmpfs, "migfile", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init("-M mini -m 128M");
    Poller p[CLIENTS] = { 0 };
    g_autoptr(GHashTable) digests = NULL;
    unsigned total = 0;

    g_assert_cmpuint(migrate_fill_ram(from, true, 1), >, 0);
    migrate_set_capability(from, "mapped-ram", true);
    migrate_set_capability(from, "multifd", true);
    migrate_set_parameter_int(from, "multifd-channels", 4);
    /* About a second of saving, with the clients hammering. */
    migrate_set_parameter_int(from, "max-bandwidth", 64 * MiB);
    digests = qtest_ram_digests(from);
    for (int i = 0; i < CLIENTS; i++) {
        p[i].qmp = qtest_qmp_connect(from);
    }
    migrate_qmp(from, uri);
    for (int i = 0; i < CLIENTS; i++) {
        p[i].thread = g_thread_new("poller", poller_fn, &p[i]);
    }
    for (int i = 0; i < CLIENTS; i++) {
        g_thread_join(p[i].thread);
        if (p[i].error) {
            g_printerr("client %d: %s\n", i, p[i].error);
        }
        g_assert_null(p[i].error);
        g_assert_cmpstr(p[i].final, ==, "completed");
        total += p[i].polls;
        qmp_client_free(p[i].qmp);
        g_free(p[i].final);
    }
    g_test_message("%d clients, %u query-migrate replies", CLIENTS, total);
    g_assert_cmpuint(total, >=, CLIENTS * 2);
    /* The main connection still answers; the file restores exactly. */
    g_assert_false(qtest_is_running(from));

    QTestState *to = qtest_init("-M mini -m 128M -S -incoming defer");
    migrate_set_capability(to, "mapped-ram", true);
    migrate_set_capability(to, "multifd", true);
    migrate_set_parameter_int(to, "multifd-channels", 4);
    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(digests, got));
    }
    migrate_end(from, to);
}

/* ---- 20 save/restore cycles ---- */

#define CYCLES 20
/* RSS may settle during the first cycles (malloc arenas, page cache). */
#define WARMUP_CYCLES 3
#ifdef __SANITIZE_ADDRESS__
/*
 * ASan holds freed memory in its quarantine (256 MiB by default), so the
 * RSS of an ASan build grows with any allocation churn; its
 * LeakSanitizer reports real leaks at exit instead.
 */
#define RSS_TOLERANCE_KIB (64 * 1024)
#else
#define RSS_TOLERANCE_KIB (8 * 1024)
#endif

static void set_layout(QTestState *who, bool mapped)
{
    migrate_set_capability(who, "mapped-ram", mapped);
    migrate_set_capability(who, "multifd", mapped);
}

static void test_save_restore_cycles(void)
{
    g_autofree char *path = g_build_filename(tmpfs, "migfile", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    QTestState *from = qtest_init("-M mini -m 32M");
    g_autoptr(GHashTable) digests = NULL;
    MigResources warm = { 0 }, end;

    /*
     * Every page of every block populated from the start: guest RAM is
     * advised huge pages, and khugepaged may otherwise fill a partly
     * used 2 MiB region later, which would look like a leak.
     */
    g_assert_cmpuint(migrate_fill_ram(from, true, 2), >, 0);
    migrate_set_parameter_int(from, "max-bandwidth", 0);
    migrate_set_parameter_int(from, "multifd-channels", 4);
    digests = qtest_ram_digests(from);

    for (int i = 0; i < CYCLES; i++) {
        /* Odd cycles: mapped-ram with 4 multifd channels. */
        bool mapped = i % 2;

        set_layout(from, mapped);
        migrate_qmp(from, uri);
        wait_for_migration_complete(from);
        qtest_qmp_assert_success(from, "{'execute': 'cont'}");

        QTestState *to = qtest_init("-M mini -m 32M -S -incoming defer");
        set_layout(to, mapped);
        migrate_set_parameter_int(to, "multifd-channels", 4);
        migrate_load_and_check(to, uri, digests);
        if (i + 1 == WARMUP_CYCLES) {
            warm = migrate_resources(from);
        }
    }
    set_layout(from, false);
    migrate_check_no_leak(from, warm);
    end = migrate_resources(from);
    g_test_message("%d cycles: RSS %" PRIu64 " KiB after %d, %" PRIu64
                   " KiB at the end",
                   CYCLES, warm.rss_kib, WARMUP_CYCLES, end.rss_kib);
    g_assert_cmpuint(end.rss_kib, <=, warm.rss_kib + RSS_TOLERANCE_KIB);
    {
        g_autoptr(GHashTable) now = qtest_ram_digests(from);
        g_assert_true(qtest_ram_digests_check(digests, now));
    }
    qtest_quit(from);
}

/* ---- tcp between two network namespaces ---- */

typedef struct NetNs {
    char *a, *b;  /* namespace names */
    char *ip_bin; /* path of ip(8) */
    char *tc_bin; /* path of tc(8) */
    char *addr_b; /* the destination's address */
} NetNs;

/* Run a command; returns its exit status (0 = success), output in *out. */
static int run(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int run(char **out, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *cmd = NULL;
    g_autofree char *o = NULL, *e = NULL;
    int status = -1;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!g_spawn_command_line_sync(cmd, &o, &e, &status, NULL)) {
        return -1;
    }
    if (out) {
        *out = g_strconcat(o, e, NULL);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void netns_destroy(NetNs *n)
{
    if (n->a) {
        run(NULL, "%s netns del %s", n->ip_bin, n->a);
        run(NULL, "%s netns del %s", n->ip_bin, n->b);
    }
    g_free(n->a);
    g_free(n->b);
    g_free(n->ip_bin);
    g_free(n->tc_bin);
    g_free(n->addr_b);
}

/*
 * Two namespaces joined by a veth pair, 10.77.0.1 and 10.77.0.2.  Returns
 * false (and marks the test skipped, saying why) where this cannot work:
 * not root, no iproute2, no netns or veth support.
 */
static bool netns_create(NetNs *n)
{
    g_autofree char *out = NULL;

    memset(n, 0, sizeof(*n));
    if (geteuid() != 0) {
        g_test_skip("network namespaces need root");
        return false;
    }
    n->ip_bin = g_find_program_in_path("ip");
    n->tc_bin = g_find_program_in_path("tc");
    if (!n->ip_bin || !n->tc_bin) {
        g_test_skip("ip or tc (iproute2) is not installed");
        return false;
    }
    n->a = g_strdup_printf("mapmig-a-%d", getpid());
    n->b = g_strdup_printf("mapmig-b-%d", getpid());
    n->addr_b = g_strdup("10.77.0.2");
    if (run(&out, "%s netns add %s", n->ip_bin, n->a) ||
        run(NULL, "%s netns add %s", n->ip_bin, n->b)) {
        g_autofree char *why = g_strdup_printf("ip netns add failed: %s", out);
        g_test_skip(why);
        netns_destroy(n);
        return false;
    }
    g_clear_pointer(&out, g_free);
    if (run(&out, "%s -n %s link add veth0 type veth peer name veth1 netns %s",
            n->ip_bin, n->a, n->b)) {
        g_autofree char *why = g_strdup_printf("no veth link: %s", out);
        g_test_skip(why);
        netns_destroy(n);
        return false;
    }
    g_assert_cmpint(
        run(NULL, "%s -n %s addr add 10.77.0.1/24 dev veth0", n->ip_bin, n->a),
        ==, 0);
    g_assert_cmpint(
        run(NULL, "%s -n %s addr add 10.77.0.2/24 dev veth1", n->ip_bin, n->b),
        ==, 0);
    for (int i = 0; i < 2; i++) {
        const char *ns = i ? n->b : n->a;
        g_assert_cmpint(run(NULL, "%s -n %s link set lo up", n->ip_bin, ns), ==,
                        0);
        g_assert_cmpint(
            run(NULL, "%s -n %s link set veth%d up", n->ip_bin, ns, i), ==, 0);
    }
    return true;
}

/* Bytes and drops the qdisc of veth0 (the source's side) counted. */
static void qdisc_stats(NetNs *n, uint64_t *sent, uint64_t *dropped)
{
    g_autofree char *out = NULL;

    g_assert_cmpint(
        run(&out, "%s -n %s -s qdisc show dev veth0", n->tc_bin, n->a), ==, 0);
    const char *s = strstr(out, "Sent ");
    const char *d = strstr(out, "dropped ");
    *sent = s ? g_ascii_strtoull(s + 5, NULL, 10) : 0;
    *dropped = d ? g_ascii_strtoull(d + 8, NULL, 10) : 0;
}

/*
 * Migrate a running 64M guest from namespace a to b over tcp through
 * @qdisc on veth0 (NULL: none), with @data bytes of distinct pages.
 */
static void netns_migrate(const char *qdisc, const char *qdisc_args,
                          size_t data)
{
    NetNs n;
    g_autofree char *out = NULL;

    if (!netns_create(&n)) {
        return;
    }
    if (qdisc && run(&out, "%s -n %s qdisc add dev veth0 root %s %s", n.tc_bin,
                     n.a, qdisc, qdisc_args)) {
        g_autofree char *why =
            g_strdup_printf("tc qdisc %s not available here: %s", qdisc, out);
        g_test_skip(why);
        netns_destroy(&n);
        return;
    }
    g_autofree char *bin_a =
        g_strdup_printf("%s netns exec %s %s", n.ip_bin, n.a, qtest_binary());
    g_autofree char *bin_b =
        g_strdup_printf("%s netns exec %s %s", n.ip_bin, n.b, qtest_binary());
    g_autofree char *uri = g_strdup_printf("tcp:%s:4444", n.addr_b);
    QTestState *from = qtest_init_full(bin_a, NULL, "-M mini -m 64M");
    QTestState *to =
        qtest_init_full(bin_b, NULL, "-M mini -m 64M -S -incoming defer");
    g_autoptr(GHashTable) before = NULL;
    uint64_t sent, dropped;

    /*
     * Distinct pages in the last @data bytes of pc.ram only: the shaped
     * links are slow, and the other blocks' 16 MiB would only add time.
     */
    qtest_qmp_assert_success(from,
                             "{'execute': 'x-fill-ram', 'arguments': "
                             "{'block': 'pc.ram', 'offset': %zu, "
                             "'generation': 3, 'zero-stride': %d}}",
                             64 * MiB - data, MIG_FILL_ZERO_STRIDE);
    migrate_set_parameter_int(from, "max-bandwidth", 0);
    before = qtest_ram_digests(from);
    migrate_incoming_qmp(to, uri);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(before, got));
    }
    /* The stream really crossed the shaped link. */
    qdisc_stats(&n, &sent, &dropped);
    g_test_message("veth0 (%s): %" PRIu64 " bytes sent, %" PRIu64
                   " packets dropped",
                   qdisc ? qdisc : "no qdisc", sent, dropped);
    if (qdisc) {
        /* One page in seven, and runs of them, are zero. */
        g_assert_cmpuint(sent, >=, data / 2);
    }
    migrate_end(from, to);
    netns_destroy(&n);
}

static void test_netns_tcp(void)
{
    netns_migrate(NULL, NULL, 16 * MiB);
}

/* 5 ms each way, 0.5 % loss: TCP retransmits; the guest arrives whole. */
static void test_netns_tcp_netem(void)
{
    netns_migrate("netem", "delay 5ms loss 0.5%", 4 * MiB);
}

/* A 200 Mbit/s bottleneck whose queue holds 1 ms: tail drops. */
static void test_netns_tcp_tbf(void)
{
    netns_migrate("tbf", "rate 200mbit burst 64kb latency 1ms", 16 * MiB);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/load/qmp-clients-8/multifd-file",
                       test_qmp_clients_during_multifd_save);
    migration_test_add("/migration/load/save-restore-20",
                       test_save_restore_cycles);
    migration_test_add("/migration/load/netns/tcp", test_netns_tcp);
    migration_test_add("/migration/load/netns/tcp/netem", test_netns_tcp_netem);
    migration_test_add("/migration/load/netns/tcp/tbf", test_netns_tcp_tbf);
    return migration_test_run();
}
