/*
 * Fidelity to current QEMU where a management tool would notice:
 *
 *  - cont while inmigrate sets autostart (QEMU's qmp_cont): the guest
 *    runs once the load completes (classic, mapped-ram) or resumes (lazy
 *    restore); a paused source's stream still ends paused.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#define VM_ARGS "-M mini -m 64M"

typedef enum { LOAD_CLASSIC, LOAD_MAPPED, LOAD_LAZY } LoadKind;

static char *tmp_uri(const char *name)
{
    return g_strdup_printf("file:%s/%s", tmpfs, name);
}

static void set_load_caps(QTestState *who, LoadKind k)
{
    if (k != LOAD_CLASSIC) {
        migrate_set_capability(who, "mapped-ram", true);
    }
    if (k == LOAD_LAZY) {
        migrate_set_capability(who, "lazy-restore", true);
    }
}

/* A saved file of an idle guest with some data; @stop: save it paused. */
static void save_file(const char *uri, LoadKind k, bool stop,
                      GHashTable **digests)
{
    QTestState *from = qtest_init(VM_ARGS);

    qtest_memset(from, 0, 0x5a, 8 * MiB);
    qtest_memset(from, 20 * MiB, 0xc3, 1 * MiB);
    if (stop) {
        qtest_qmp_assert_success(from, "{'execute': 'stop'}");
    }
    if (k != LOAD_CLASSIC) {
        migrate_set_capability(from, "mapped-ram", true);
    }
    migrate_ensure_converge(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    *digests = qtest_ram_digests(from);
    qtest_quit(from);
}

/* The load's end state once lazy loading (if any) is over. */
static void wait_loaded(QTestState *to, LoadKind k)
{
    wait_for_incoming_done(to);
    if (k == LOAD_LAZY) {
        wait_for_migration_complete(to);
    }
}

static void cont_while_inmigrate(LoadKind k, bool src_stopped, bool send_cont)
{
    g_autofree char *uri = tmp_uri("migfile");
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *st = NULL;
    QTestState *to;

    save_file(uri, k, src_stopped, &digests);
    to = qtest_init(VM_ARGS " -S -incoming defer");
    set_load_caps(to, k);
    if (send_cont) {
        /* Accepted now; it takes effect when the load is done. */
        qtest_qmp_assert_success(to, "{'execute': 'cont'}");
        st = qtest_query_status(to, NULL);
        g_assert_cmpstr(st, ==, "inmigrate");
        g_clear_pointer(&st, g_free);
    }
    migrate_incoming_qmp(to, uri);
    wait_loaded(to, k);
    st = qtest_query_status(to, NULL);
    g_assert_cmpstr(st, ==, src_stopped || !send_cont ? "paused" : "running");
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(digests, got));
    }
    qtest_quit(to);
}

static void test_cont_classic(void)
{
    cont_while_inmigrate(LOAD_CLASSIC, false, true);
}

static void test_cont_mapped(void)
{
    cont_while_inmigrate(LOAD_MAPPED, false, true);
}

static void test_cont_lazy(void)
{
    cont_while_inmigrate(LOAD_LAZY, false, true);
}

/* Without cont, -S keeps the loaded guest paused (the control case). */
static void test_no_cont_stays_paused(void)
{
    cont_while_inmigrate(LOAD_CLASSIC, false, false);
}

/* The stream says the source was paused: it ends paused even so. */
static void test_cont_paused_source(void)
{
    cont_while_inmigrate(LOAD_MAPPED, true, true);
}

/* HMP's cont does the same, after migrate-incoming too. */
static void test_cont_hmp_during_load(void)
{
    g_autofree char *uri = tmp_uri("migfile");
    g_autoptr(GHashTable) digests = NULL;
    g_autofree char *st = NULL;
    g_autofree char *out = NULL;
    QTestState *to;

    save_file(uri, LOAD_CLASSIC, false, &digests);
    to = qtest_init(VM_ARGS " -S -incoming defer");
    migrate_incoming_qmp(to, uri);
    out = qtest_hmp(to, "cont");
    g_assert_cmpstr(out, ==, "");
    wait_loaded(to, LOAD_CLASSIC);
    st = qtest_query_status(to, NULL);
    g_assert_cmpstr(st, ==, "running");
    qtest_quit(to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/fidelity/cont-inmigrate/classic",
                       test_cont_classic);
    migration_test_add("/migration/fidelity/cont-inmigrate/mapped-ram",
                       test_cont_mapped);
    migration_test_add("/migration/fidelity/cont-inmigrate/lazy",
                       test_cont_lazy);
    migration_test_add("/migration/fidelity/cont-inmigrate/no-cont",
                       test_no_cont_stays_paused);
    migration_test_add("/migration/fidelity/cont-inmigrate/paused-source",
                       test_cont_paused_source);
    migration_test_add("/migration/fidelity/cont-inmigrate/hmp",
                       test_cont_hmp_during_load);
    return migration_test_run();
}
