/*
 * Interoperability with a real QEMU 7.2 (Debian's qemu-system-x86_64):
 * -M none guests with patterned RAM migrate both ways, through a file
 * (exec:cat on QEMU's side) and live over a unix socket, and each side
 * ends with exactly the other's RAM.  mapmig's and QEMU's streams for the
 * same guest are byte-identical.
 *
 * QEMU's RAM gets its pattern from a shared memory-backend-file whose id
 * is "ram" (the block name -M none -m gives it, so the stream is the
 * same) and is read back with pmemsave.  mapmig's RAM gets its pattern
 * through the qtest protocol.  Every test skips with a reason when QEMU
 * is not installed or cannot start.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"
#include "migration/qemu-peer.h"

#include <sys/stat.h>

#define GUEST_SIZE (32 * MiB)
#define FILL_CHUNK (1 * MiB)
#define MAPMIG_NONE "-M none -m 32M"

static char *scratch(const char *name)
{
    return g_strdup_printf("%s/%s", tmpfs, name);
}

/*
 * QEMU -M none whose RAM block "ram" is the shared file @ram, or plain
 * -m 32M (zero RAM) when @ram is NULL.
 */
static QemuPeer *qemu_start_patterned(const char *bin, const char *ram)
{
    g_autofree char *obj = g_strdup_printf(
        "memory-backend-file,id=ram,size=%" PRIu64 ",mem-path=%s,share=on",
        (uint64_t)GUEST_SIZE, ram);
    const char *file_args[] = { "-M", "none",     "-object",
                                obj,  "-machine", "memory-backend=ram",
                                NULL };
    const char *plain_args[] = { "-M", "none", "-m", "32M", NULL };

    return qemu_peer_start(bin, ram ? file_args : plain_args);
}

/* QEMU -M none whose RAM block "mem0" is the shared file @ram. */
static QemuPeer *qemu_start_mem0(const char *bin, const char *ram,
                                 bool incoming)
{
    g_autofree char *obj = g_strdup_printf(
        "memory-backend-file,id=mem0,size=%" PRIu64 ",mem-path=%s,share=on",
        (uint64_t)GUEST_SIZE, ram);
    const char *args[] = { "-M",
                           "none",
                           "-object",
                           obj,
                           "-machine",
                           "memory-backend=mem0",
                           incoming ? "-incoming" : NULL,
                           "defer",
                           NULL };

    return qemu_peer_start(bin, args);
}

static void qemu_set_ignore_shared(QemuPeer *q)
{
    json_node_unref(
        qemu_peer_qmp(q, "{'execute': 'migrate-set-capabilities', 'arguments': "
                         "{'capabilities': [{'capability': 'x-ignore-shared', "
                         "'state': true}]}}"));
}

/* QEMU -M none -m 32M, anonymous RAM as the plain machine. */
static QemuPeer *qemu_start_plain_incoming(const char *bin)
{
    const char *args[] = {
        "-M", "none", "-m", "32M", "-incoming", "defer", NULL
    };

    return qemu_peer_start(bin, args);
}

static void qemu_unlimited_bandwidth(QemuPeer *q)
{
    json_node_unref(qemu_peer_qmp(q, "{'execute': 'migrate-set-parameters', "
                                     "'arguments': {'max-bandwidth': "
                                     "1099511627776}}"));
}

/* QEMU migrates to @uri at full speed; the migration completes. */
static void qemu_migrate_to(QemuPeer *q, const char *uri)
{
    g_autofree char *st = NULL;

    qemu_unlimited_bandwidth(q);
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", uri));
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
}

/* QEMU, started with -incoming defer, loads the stream in @path. */
static void qemu_load_file(QemuPeer *q, const char *path)
{
    g_autofree char *in = g_strdup_printf("exec:cat %s", path);
    g_autofree char *st = NULL;

    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}", in));
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
}

/* mapmig saves to file:@path at full speed, then quits. */
static void mapmig_save_file(QTestState *from, const char *path)
{
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    migrate_set_parameter_int(from, "max-bandwidth", 0);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    qtest_quit(from);
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

static const char *mapmig_ram_sha256(GHashTable *digests)
{
    const char *d = g_hash_table_lookup(digests, "ram");

    g_assert_nonnull(d);
    d = strchr(d, ':'); /* "length:sha256" */
    g_assert_nonnull(d);
    return d + 1;
}

/* Fill mapmig's RAM with the pattern; returns its sha256 (g_free). */
static char *mapmig_fill_pattern(QTestState *s, unsigned seed)
{
    g_autofree uint8_t *buf = g_malloc(GUEST_SIZE);

    interop_pattern_fill(buf, GUEST_SIZE, seed);
    for (uint64_t off = 0; off < GUEST_SIZE; off += FILL_CHUNK) {
        qtest_bufwrite(s, off, buf + off, FILL_CHUNK);
    }
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, buf, GUEST_SIZE);
}

/* ---- QEMU 7.2 saves, mapmig loads ---- */

/* QEMU, stopped, writes its stream with exec:cat; mapmig loads the file. */
static void qemu_to_mapmig_file(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("qemu-ram");
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *out = NULL, *sha = NULL;
    QemuPeer *q;
    QTestState *to;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, seed);
    sha = interop_file_sha256(ram);
    q = qemu_start_patterned(bin, ram);
    if (!q) {
        return;
    }
    out = g_strdup_printf("exec:cat > %s", mig);
    qemu_migrate_to(q, out);
    qemu_peer_stop(q);

    to = qtest_initf(MAPMIG_NONE " -S -incoming file:%s", mig);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) d = qtest_ram_digests(to);
    g_assert_cmpstr(mapmig_ram_sha256(d), ==, sha);
    g_autofree char *state = qtest_query_status(to, NULL);
    g_assert_cmpstr(state, ==, "prelaunch");
    qtest_quit(to);
}

/*
 * QEMU runs ("cont") and migrates over a unix socket to a listening
 * mapmig started without -S, which ends running with QEMU's RAM.
 */
static void qemu_to_mapmig_unix(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("qemu-ram");
    g_autofree char *sock = scratch("mig.sock");
    g_autofree char *sha = NULL;
    QemuPeer *q;
    QTestState *to;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, seed);
    sha = interop_file_sha256(ram);
    to = qtest_initf(MAPMIG_NONE " -incoming defer");
    q = qemu_start_patterned(bin, ram);
    if (!q) {
        qtest_quit(to);
        return;
    }
    g_autofree char *uri = g_strdup_printf("unix:%s", sock);
    migrate_incoming_qmp(to, uri);
    json_node_unref(qemu_peer_qmp(q, "{'execute': 'cont'}"));
    qemu_migrate_to(q, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) d = qtest_ram_digests(to);
    g_assert_cmpstr(mapmig_ram_sha256(d), ==, sha);
    /* QEMU's RAM is still the pattern after the migration. */
    g_autofree char *qsha = qemu_ram_sha256(q);
    g_assert_cmpstr(qsha, ==, sha);
    /* The source ran: so does the destination (no -S). */
    g_assert_true(qtest_is_running(to));
    qemu_peer_stop(q);
    qtest_quit(to);
}

/* ---- mapmig saves, QEMU 7.2 loads ---- */

/* mapmig, paused, saves to file:; QEMU loads it with exec:cat. */
static void mapmig_to_qemu_file(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *sha = NULL, *qsha = NULL, *qstate = NULL;
    QTestState *from;
    QemuPeer *q;

    if (!bin) {
        return;
    }
    from = qtest_init(MAPMIG_NONE " -S");
    sha = mapmig_fill_pattern(from, seed);
    mapmig_save_file(from, mig);

    q = qemu_start_plain_incoming(bin);
    if (!q) {
        return;
    }
    qemu_load_file(q, mig);
    qstate = qemu_peer_wait_incoming(q);
    g_assert_cmpstr(qstate, ==, "prelaunch");
    qsha = qemu_ram_sha256(q);
    g_assert_cmpstr(qsha, ==, sha);
    qemu_peer_stop(q);
}

/*
 * mapmig runs and keeps rewriting pages (through qtest, which marks
 * them dirty) while it migrates live over a unix socket to QEMU; after a
 * few passes it converges and QEMU ends with mapmig's final RAM.
 */
static void mapmig_to_qemu_unix_live(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *sock = scratch("mig.sock");
    g_autofree char *uri = NULL, *st = NULL, *qsha = NULL;
    QTestState *from;
    QemuPeer *q;
    unsigned round = 0;

    if (!bin) {
        return;
    }
    q = qemu_start_plain_incoming(bin);
    if (!q) {
        return;
    }
    uri = g_strdup_printf("unix:%s", sock);
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate-incoming', 'arguments': {'uri': '%s'}}", uri));
    from = qtest_init(MAPMIG_NONE);
    g_free(mapmig_fill_pattern(from, seed));
    migrate_ensure_non_converge(from);
    migrate_qmp(from, uri);
    /* Dirty pages while the passes go on. */
    while (migrate_dirty_sync_count(from) < 3) {
        g_autofree char *s = migrate_query_status(from);
        if (strcmp(s, "active") && strcmp(s, "setup")) {
            g_autofree char *desc = wait_for_migration_fail(from);
            g_printerr("mapmig migration %s: %s\n", s, desc);
            g_assert_not_reached();
        }
        /*
         * 1 MiB a round: a pass then takes long enough at the 32 MiB/s
         * limit for the next round to land in it, even on a loaded host.
         */
        qtest_memset(from, (round % 31) * MiB, 0x40 + round % 64, MiB);
        round++;
        qtest_msleep(5);
    }
    migrate_ensure_converge(from);
    wait_for_migration_complete(from);
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
    g_test_message("%u rounds of writes during %" PRId64 " passes", round,
                   migrate_dirty_sync_count(from));

    g_autoptr(GHashTable) d = qtest_ram_digests(from);
    qsha = qemu_ram_sha256(q);
    g_assert_cmpstr(qsha, ==, mapmig_ram_sha256(d));
    qtest_quit(from);
    qemu_peer_stop(q);
}

/* ---- x-ignore-shared: both map the same file ---- */

static uint64_t file_size(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_size;
}

static char *mapmig_mem0_opts(const char *ram)
{
    return g_strdup_printf("-M none -object memory-backend-file,id=mem0,"
                           "size=%" PRIu64 ",mem-path=%s,share=on "
                           "-machine memory-backend=mem0",
                           (uint64_t)GUEST_SIZE, ram);
}

/*
 * QEMU 7.2 saves with x-ignore-shared: the block list carries the
 * block's address and no page follows; mapmig maps the same file and
 * loads the device state only.
 */
static void qemu_to_mapmig_ignore_shared(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("shared-ram");
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *out = NULL, *sha = NULL, *opts = NULL;
    g_autofree char *uri = NULL;
    QemuPeer *q;
    QTestState *to;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, seed);
    sha = interop_file_sha256(ram);
    q = qemu_start_mem0(bin, ram, false);
    if (!q) {
        return;
    }
    qemu_set_ignore_shared(q);
    out = g_strdup_printf("exec:cat > %s", mig);
    qemu_migrate_to(q, out);
    qemu_peer_stop(q);
    g_test_message("QEMU's file: %" PRIu64 " bytes", file_size(mig));
    g_assert_cmpuint(file_size(mig), <, 64 * KiB);

    opts = mapmig_mem0_opts(ram);
    to = qtest_initf("%s -S -incoming defer", opts);
    migrate_set_capability(to, "x-ignore-shared", true);
    uri = g_strdup_printf("file:%s", mig);
    migrate_incoming_qmp(to, uri);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) d = qtest_ram_digests(to);
    const char *dsha = strchr(g_hash_table_lookup(d, "mem0"), ':') + 1;
    g_assert_cmpstr(dsha, ==, sha);
    qtest_quit(to);
}

/* mapmig saves with x-ignore-shared; QEMU 7.2 maps the file and loads. */
static void mapmig_to_qemu_ignore_shared(unsigned seed)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("shared-ram");
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *sha = NULL, *opts = NULL, *qsha = NULL;
    QemuPeer *q;
    QTestState *from;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, seed);
    opts = mapmig_mem0_opts(ram);
    from = qtest_initf("%s -S", opts);
    /* Through the shared mapping: the file changes too. */
    qtest_memset(from, 4 * MiB, 0xa5, 256 * KiB);
    migrate_set_capability(from, "x-ignore-shared", true);
    {
        g_autoptr(GHashTable) d = qtest_ram_digests(from);
        sha = g_strdup(strchr(g_hash_table_lookup(d, "mem0"), ':') + 1);
    }
    mapmig_save_file(from, mig);
    g_assert_cmpuint(file_size(mig), <, 64 * KiB);

    q = qemu_start_mem0(bin, ram, true);
    if (!q) {
        return;
    }
    qemu_set_ignore_shared(q);
    qemu_load_file(q, mig);
    qsha = qemu_ram_sha256(q);
    g_assert_cmpstr(qsha, ==, sha);
    qemu_peer_stop(q);
}

/* ---- the same bytes ---- */

static bool qemu_save_patterned(const char *bin, const char *ram,
                                const char *path)
{
    g_autofree char *out = g_strdup_printf("exec:cat > %s", path);
    QemuPeer *q = qemu_start_patterned(bin, ram);

    if (!q) {
        return false;
    }
    qemu_migrate_to(q, out);
    qemu_peer_stop(q);
    return true;
}

/*
 * How many RAM pages go into each PART section and how many into the END
 * section depends on timing (time slices, rate limit), in QEMU as in
 * mapmig.  Normalise a -M none stream by joining the records of all the
 * "ram" PART/END sections into one run (dropping their section headers,
 * EOS words and footers); everything else stays byte for byte.
 */
typedef struct StreamCursor {
    const uint8_t *d;
    size_t len, pos;
} StreamCursor;

static const uint8_t *cur_take(StreamCursor *c, size_t n)
{
    g_assert_cmpuint(n, <=, c->len - c->pos);
    c->pos += n;
    return c->d + c->pos - n;
}

static uint64_t cur_be(StreamCursor *c, int bytes)
{
    const uint8_t *p = cur_take(c, bytes);
    uint64_t v = 0;

    for (int i = 0; i < bytes; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

/* One RAM page record after its flag word; false at EOS. */
static bool ram_record(StreamCursor *c, GByteArray *out)
{
    size_t start = c->pos;
    uint64_t word = cur_be(c, 8);
    unsigned flags = word & 0xfff;

    if (flags == 0x10) { /* EOS */
        return false;
    }
    g_assert_true((flags & ~0x20u) == 0x02 || (flags & ~0x20u) == 0x08);
    if (!(flags & 0x20)) {
        cur_take(c, cur_be(c, 1)); /* block name */
    }
    cur_take(c, flags & 0x08 ? TARGET_PAGE_SIZE : 1);
    g_byte_array_append(out, c->d + start, c->pos - start);
    return true;
}

static GByteArray *normalize_stream(const uint8_t *d, size_t len)
{
    StreamCursor c = { d, len, 0 };
    GByteArray *out = g_byte_array_new();
    g_autoptr(GByteArray) pages = g_byte_array_new();

    /* Header, configuration, then the ram START section up to its EOS. */
    cur_take(&c, 8);
    g_assert_cmpuint(cur_be(&c, 1), ==, 0x07);
    cur_take(&c, cur_be(&c, 4));
    g_assert_cmpuint(cur_be(&c, 1), ==, 0x01);
    uint32_t ram_id = cur_be(&c, 4);
    g_assert_cmpuint(cur_be(&c, 1), ==, 3);
    g_assert_true(!memcmp(cur_take(&c, 3), "ram", 3));
    cur_take(&c, 8);
    uint64_t total = cur_be(&c, 8) & ~0xfffULL;
    for (uint64_t seen = 0; seen < total;) {
        cur_take(&c, cur_be(&c, 1));
        seen += cur_be(&c, 8);
    }
    g_assert_cmpuint(cur_be(&c, 8), ==, 0x10);
    cur_take(&c, 5);
    g_byte_array_append(out, d, c.pos);

    /* PART... END of ram: keep only the records. */
    for (;;) {
        uint8_t type = cur_be(&c, 1);
        g_assert_true(type == 0x02 || type == 0x03);
        g_assert_cmpuint(cur_be(&c, 4), ==, ram_id);
        while (ram_record(&c, pages)) {
        }
        cur_take(&c, 5);
        if (type == 0x03) {
            break;
        }
    }
    g_byte_array_append(out, pages->data, pages->len);
    /* Device sections, EOF, VM description. */
    g_byte_array_append(out, d + c.pos, len - c.pos);
    return out;
}

static void assert_same_file(const char *qpath, const char *mpath)
{
    g_autofree char *qraw = NULL, *mraw = NULL;
    g_autoptr(GError) err = NULL;
    gsize qrawlen, mrawlen;

    g_assert_true(g_file_get_contents(qpath, &qraw, &qrawlen, &err));
    g_assert_true(g_file_get_contents(mpath, &mraw, &mrawlen, &err));
    g_autoptr(GByteArray) q = normalize_stream((uint8_t *)qraw, qrawlen);
    g_autoptr(GByteArray) m = normalize_stream((uint8_t *)mraw, mrawlen);
    const uint8_t *qdata = q->data, *mdata = m->data;
    gsize qlen = q->len, mlen = m->len;

    g_test_message("QEMU %zu bytes, mapmig %zu bytes (%zu and %zu without "
                   "the RAM section boundaries)",
                   qrawlen, mrawlen, qlen, mlen);
    for (gsize i = 0; i < MIN(qlen, mlen); i++) {
        if (qdata[i] != mdata[i]) {
            g_printerr("first difference at byte 0x%zx: QEMU 0x%02x, "
                       "mapmig 0x%02x\n",
                       i, (uint8_t)qdata[i], (uint8_t)mdata[i]);
            break;
        }
    }
    g_assert_cmpuint(qlen, ==, mlen);
    g_assert_true(memcmp(qdata, mdata, qlen) == 0);
}

/*
 * A paused -M none guest with the same RAM: QEMU 7.2 and mapmig write
 * the same stream, byte for byte (zero pages as ZERO records, uniform
 * and varied pages as PAGE records, the same sections and VM
 * description).
 */
static void same_bytes(unsigned seed)
{
    bool patterned = seed != 0;
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("qemu-ram");
    g_autofree char *qpath = scratch("qemu.sav");
    g_autofree char *mpath = scratch("mapmig.sav");
    QTestState *from;

    if (!bin) {
        return;
    }
    if (patterned) {
        interop_pattern_file(ram, GUEST_SIZE, seed);
    }
    if (!qemu_save_patterned(bin, patterned ? ram : NULL, qpath)) {
        return;
    }
    from = qtest_init(MAPMIG_NONE " -S");
    if (patterned) {
        g_free(mapmig_fill_pattern(from, seed));
    }
    mapmig_save_file(from, mpath);
    assert_same_file(qpath, mpath);
}

/*
 * The cases: a direction, a transport and a RAM kind each; the seed of
 * interop_pattern_fill() gives each its own RAM (0: all zero).
 */
typedef struct InteropCase {
    const char *path;
    void (*fn)(unsigned seed);
    unsigned seed;
} InteropCase;

#define INTEROP "/migration/interop/qemu-7.2"

static const InteropCase interop_cases[] = {
    { INTEROP "/qemu-to-mapmig/file", qemu_to_mapmig_file, 11 },
    { INTEROP "/qemu-to-mapmig/unix", qemu_to_mapmig_unix, 12 },
    { INTEROP "/mapmig-to-qemu/file", mapmig_to_qemu_file, 21 },
    { INTEROP "/mapmig-to-qemu/unix-live", mapmig_to_qemu_unix_live, 31 },
    { INTEROP "/qemu-to-mapmig/ignore-shared", qemu_to_mapmig_ignore_shared,
      51 },
    { INTEROP "/mapmig-to-qemu/ignore-shared", mapmig_to_qemu_ignore_shared,
      52 },
    { INTEROP "/same-bytes/zero", same_bytes, 0 },
    { INTEROP "/same-bytes/pattern", same_bytes, 41 },
};

static void run_interop_case(const void *data)
{
    const InteropCase *c = data;

    c->fn(c->seed);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(interop_cases); i++) {
        migration_test_add_data(interop_cases[i].path, run_interop_case,
                                &interop_cases[i], false);
    }
    return migration_test_run();
}
