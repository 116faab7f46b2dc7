/*
 * multifd over sockets with the real QEMU 7.2, both ways, live.
 *
 * QEMU 7.2 syncs its multifd channels at the end of every RAM section
 * and has no RAM_SAVE_FLAG_MULTIFD_FLUSH; mapmig speaks that with the
 * x-multifd-flush-after-each-section parameter (QEMU 8.0's compat
 * property of 7.2 machine types).  Without it the two do not agree, as
 * between QEMU 7.2 and 8.0 with the property off, which the last case
 * shows.  RAM is the interop pattern (zero, uniform and varied pages);
 * the destination must end with the source's final RAM.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"
#include "migration/qemu-peer.h"

#define GUEST_SIZE (32 * MiB)
#define FILL_CHUNK (1 * MiB)
#define MAPMIG_NONE "-M none -m 32M"
#define CHANNELS 2

static char *scratch(const char *name)
{
    return g_strdup_printf("%s/%s", tmpfs, name);
}

static void qemu_multifd(QemuPeer *q)
{
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate-set-capabilities', 'arguments': "
           "{'capabilities': [{'capability': 'multifd', 'state': true}]}}"));
    json_node_unref(qemu_peer_qmp(q,
                                  "{'execute': 'migrate-set-parameters', "
                                  "'arguments': {'multifd-channels': %d, "
                                  "'max-bandwidth': 1099511627776}}",
                                  CHANNELS));
}

static void mapmig_multifd(QTestState *s, bool compat)
{
    migrate_set_capability(s, "multifd", true);
    migrate_set_parameter_int(s, "multifd-channels", CHANNELS);
    qtest_qmp_assert_success(s,
                             "{'execute': 'migrate-set-parameters', "
                             "'arguments': "
                             "{'x-multifd-flush-after-each-section': %s}}",
                             compat ? "true" : "false");
}

/* sha256 of QEMU's guest-physical [0, GUEST_SIZE) through pmemsave. */
static char *qemu_ram_sha256(QemuPeer *q)
{
    g_autofree char *path = scratch("qemu-pmemsave");

    json_node_unref(qemu_peer_qmp(q,
                                  "{'execute': 'pmemsave', 'arguments': "
                                  "{'val': 0, 'size': %" PRIu64 ", "
                                  "'filename': '%s'}}",
                                  (uint64_t)GUEST_SIZE, path));
    char *sha = interop_file_sha256(path);
    unlink(path);
    return sha;
}

static char *mapmig_ram_sha256(QTestState *s)
{
    g_autoptr(GHashTable) d = qtest_ram_digests(s);
    const char *v = g_hash_table_lookup(d, "ram");

    g_assert_nonnull(v);
    v = strchr(v, ':'); /* "length:sha256" */
    g_assert_nonnull(v);
    return g_strdup(v + 1);
}

/* One round of writes: data, and pages that turn zero again. */
/*
 * Two writes, each one qtest command (the switchover can land between
 * them: *@mid gets the shadow's checksum after the first one).
 */
static void dirty_round(QTestState *s, uint8_t *shadow, unsigned round,
                        char **mid)
{
    uint64_t base = (round % 64) * 512 * KiB;

    qtest_memset(s, base, 0x40 + round % 64, 64 * KiB);
    memset(shadow + base, 0x40 + round % 64, 64 * KiB);
    g_free(*mid);
    *mid = g_compute_checksum_for_data(G_CHECKSUM_SHA256, shadow, GUEST_SIZE);
    qtest_memset(s, base + 256 * KiB, 0, 16 * KiB);
    memset(shadow + base + 256 * KiB, 0, 16 * KiB);
}

/*
 * mapmig runs and rewrites pages (some to zero, which 7.2's packets
 * cannot carry) over several passes while it migrates to QEMU 7.2.
 *
 * The expected RAM is kept here: with a zero downtime limit a pass that
 * ends with nothing dirty switches over, so a round may land after the
 * final bitmap sync.  A round followed by run state "running" came
 * before it (both take the BQL, the switchover stops the VM first); for
 * the one round that was not, the RAM before it, after its first write
 * or after both are all right.
 */
static void test_mapmig_to_qemu(void)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *sock = scratch("mig.sock");
    g_autofree char *uri = NULL, *st = NULL, *qsha = NULL;
    g_autofree char *want = NULL, *want_before = NULL, *want_mid = NULL;
    g_autofree uint8_t *shadow = g_malloc(GUEST_SIZE);
    const char *args[] = {
        "-M", "none", "-m", "32M", "-incoming", "defer", NULL
    };
    QTestState *from;
    QemuPeer *q;
    unsigned round = 0;
    bool uncertain = false;

    if (!bin) {
        return;
    }
    q = qemu_peer_start(bin, args);
    if (!q) {
        return;
    }
    qemu_multifd(q);
    uri = g_strdup_printf("unix:%s", sock);
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}", uri));
    from = qtest_init(MAPMIG_NONE);
    interop_pattern_fill(shadow, GUEST_SIZE, 41);
    for (uint64_t off = 0; off < GUEST_SIZE; off += FILL_CHUNK) {
        qtest_bufwrite(from, off, shadow + off, FILL_CHUNK);
    }
    mapmig_multifd(from, true);
    migrate_ensure_non_converge(from);
    migrate_qmp(from, uri);
    while (migrate_dirty_sync_count(from) < 4) {
        g_autofree char *rs = NULL;

        g_free(want_before);
        want_before =
            g_compute_checksum_for_data(G_CHECKSUM_SHA256, shadow, GUEST_SIZE);
        dirty_round(from, shadow, round++, &want_mid);
        rs = qtest_query_status(from, NULL);
        if (strcmp(rs, "running")) {
            uncertain = true;
            break;
        }
        qtest_msleep(5);
    }
    migrate_ensure_converge(from);
    wait_for_migration_complete(from);
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
    g_test_message("%u rounds of writes during %" PRId64 " passes%s", round,
                   migrate_dirty_sync_count(from),
                   uncertain ? " (the last one during the switchover)" : "");
    want = g_compute_checksum_for_data(G_CHECKSUM_SHA256, shadow, GUEST_SIZE);
    qsha = qemu_ram_sha256(q);
    if (!uncertain || (strcmp(qsha, want) && strcmp(qsha, want_mid))) {
        g_assert_cmpstr(qsha, ==, uncertain ? want_before : want);
    }
    qtest_quit(from);
    qemu_peer_stop(q);
}

/* QEMU 7.2, running, migrates its patterned RAM to mapmig with multifd. */
static void qemu_to_mapmig(bool compat)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("qemu-ram");
    g_autofree char *sock = scratch("mig.sock");
    g_autofree char *uri = NULL, *st = NULL, *sha = NULL, *msha = NULL;
    g_autofree char *obj = NULL;
    QemuPeer *q;
    QTestState *to;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, 42);
    sha = interop_file_sha256(ram);
    obj = g_strdup_printf("memory-backend-file,id=ram,size=%" PRIu64
                          ",mem-path=%s,share=on",
                          (uint64_t)GUEST_SIZE, ram);
    const char *args[] = { "-M", "none",     "-object",
                           obj,  "-machine", "memory-backend=ram",
                           NULL };
    to = qtest_initf(MAPMIG_NONE " -incoming defer");
    mapmig_multifd(to, compat);
    q = qemu_peer_start(bin, args);
    if (!q) {
        qtest_quit(to);
        return;
    }
    uri = g_strdup_printf("unix:%s", sock);
    migrate_incoming_qmp(to, uri);
    qemu_multifd(q);
    json_node_unref(qemu_peer_qmp(q, "{'execute': 'cont'}"));
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", uri));
    if (!compat) {
        /* mapmig waits for a flush that 7.2 never sends. */
        qtest_msleep(2000);
        g_free(st);
        st = migrate_query_status(to);
        g_assert_cmpstr(st, ==, "active");
        qemu_peer_stop(q);
        qtest_quit(to);
        return;
    }
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    msha = mapmig_ram_sha256(to);
    g_assert_cmpstr(msha, ==, sha);
    g_assert_true(qtest_is_running(to));
    qemu_peer_stop(q);
    qtest_quit(to);
}

static void test_qemu_to_mapmig(void)
{
    qemu_to_mapmig(true);
}

/* Without the compat parameter: the stall the issue reported. */
static void test_qemu_to_mapmig_without_compat(void)
{
    qemu_to_mapmig(false);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/interop/qemu-7.2/multifd/mapmig-to-qemu",
                       test_mapmig_to_qemu);
    migration_test_add("/migration/interop/qemu-7.2/multifd/qemu-to-mapmig",
                       test_qemu_to_mapmig);
    migration_test_add("/migration/interop/qemu-7.2/multifd/"
                       "qemu-to-mapmig-without-compat",
                       test_qemu_to_mapmig_without_compat);
    return migration_test_run();
}
