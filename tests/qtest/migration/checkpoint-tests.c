/*
 * x-checkpoint: saves that rewrite a mapped-ram file with only what
 * changed since it was written (docs/migration/mapped-ram.rst).
 *
 * A guest is checkpointed in turn into two files (A/B), its memory
 * changing between checkpoints in every block: a few pages rewritten,
 * one page zeroed.  After each checkpoint every file must load exactly
 * the generation it holds, the source must go on in the state it had,
 * and a rewrite must write about what changed, not all of RAM.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <json-glib/json-glib.h>
#include <sys/stat.h>

#define MEM "32M"
#define GENERATIONS 5
/* Guest pages rewritten per generation, spread over pc.ram. */
#define SCATTER 37
#define SCATTER_STRIDE 211
/* Pages rewritten at the end of every block per generation. */
#define TAIL_PAGES 16
/* Pages HOLE_PAGE + g hold data until generation g zeroes them. */
#define HOLE_PAGE 1000

typedef struct CkptCase {
    const char *path;
    const char *caps[4]; /* on both sides, besides mapped-ram */
    int channels;
    bool direct_io;
    /*
     * Live: the source runs the stress workload and each checkpoint is
     * taken while it runs; it is stopped only for the last one, whose
     * memory is then known.
     */
    bool live;
} CkptCase;

static const char *const blocks[] = { "pc.ram", "vga.vram", "pc.rom" };
static const uint64_t block_sizes[] = { 32 * MiB, 16 * MiB, 128 * KiB };

/* Generation @g's changes, in every block, including a page gone zero. */
static void change_memory(QTestState *who, int g)
{
    for (size_t i = 0; i < G_N_ELEMENTS(blocks); i++) {
        qtest_qmp_assert_success(
            who,
            "{'execute': 'x-fill-ram', 'arguments': {'block': '%s', "
            "'offset': %" PRIu64 ", 'generation': %d, 'zero-stride': 5}}",
            blocks[i], block_sizes[i] - TAIL_PAGES * 4096, g);
    }
    for (int i = 0; i < SCATTER; i++) {
        uint64_t page = (uint64_t)(g * 13 + i * SCATTER_STRIDE) % 8192;
        qtest_writeq(who, page * 4096 + 8 * g, (uint64_t)g << 32 | page);
    }
    /* A page every earlier generation held data in becomes zero. */
    qtest_memset(who, (uint64_t)(HOLE_PAGE + g) * 4096, 0, 4096);
}

static JsonNode *query_migrate(QTestState *who)
{
    return qtest_qmp(who, "{'execute': 'query-migrate'}");
}

static void set_caps(QTestState *who, const CkptCase *c, bool source)
{
    migrate_set_capability(who, "mapped-ram", true);
    for (int i = 0; c->caps[i]; i++) {
        migrate_set_capability(who, c->caps[i], true);
    }
    if (c->channels) {
        migrate_set_capability(who, "multifd", true);
        migrate_set_parameter_int(who, "multifd-channels", c->channels);
    }
    if (c->direct_io) {
        qtest_qmp_assert_success(who, "{'execute': 'migrate-set-parameters', "
                                      "'arguments': {'direct-io': true}}");
    }
    if (source) {
        migrate_set_capability(who, "x-checkpoint", true);
    }
}

/*
 * One checkpoint into @file; returns the bytes of pages written and
 * checks the source is back in its state, not in postmigrate.
 */
static uint64_t checkpoint(QTestState *from, const char *file,
                           bool expect_incremental, bool running)
{
    g_autofree char *uri = g_strdup_printf("file:%s", file);

    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    g_autoptr(JsonNode) r = query_migrate(from);
    JsonObject *o = json_node_get_object(r);
    g_assert_true(json_object_has_member(o, "x-checkpoint"));
    JsonObject *x = json_object_get_object_member(o, "x-checkpoint");
    g_assert_cmpint(json_object_get_boolean_member(x, "incremental"), ==,
                    expect_incremental);
    g_assert_cmpint(qtest_is_running(from), ==, running);
    g_autofree char *st = qtest_query_status(from, NULL);
    g_assert_cmpstr(st, !=, "postmigrate");
    return qmp_get_int(json_object_get_member(o, "ram"), "normal-bytes");
}

static void load_check(const CkptCase *c, const char *file, GHashTable *digests)
{
    QTestState *to = qtest_initf(
        "-accel %s -M mini -m " MEM " -S -incoming defer", migrate_accel);
    g_autofree char *uri = g_strdup_printf("file:%s", file);

    set_caps(to, c, false);
    migrate_load_and_check(to, uri, digests);
}

/* Page @page of pc.ram is a hole in @file (offsets from mapmig-img). */
static bool page_is_hole(const char *file, uint64_t page)
{
    g_autoptr(JsonNode) info = migrate_img_info(file);
    JsonArray *a =
        json_object_get_array_member(json_node_get_object(info), "ram-blocks");
    JsonObject *b = json_array_get_object_element(a, 0);
    g_assert_cmpstr(json_object_get_string_member(b, "name"), ==, "pc.ram");
    off_t at =
        json_object_get_int_member(b, "pages-offset") + (off_t)page * 4096;
    int fd = open(file, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    off_t hole = lseek(fd, at, SEEK_HOLE);
    close(fd);
    return hole == at;
}

/*
 * GENERATIONS checkpoints, alternately into A and B.  After each one,
 * both files load exactly their generation: A skips every other round,
 * so its rewrites carry the union of two rounds' changes.
 */
static void test_generations(const void *opaque)
{
    const CkptCase *c = opaque;
    g_auto(GStrv) files = g_new0(char *, 3);
    GHashTable *gen_digests[2] = { NULL, NULL };

    files[0] = g_strdup_printf("%s/a", tmpfs);
    files[1] = g_strdup_printf("%s/b", tmpfs);

    if (c->direct_io && !migrate_dir_supports_odirect(tmpfs)) {
        g_test_skip("no O_DIRECT in the scratch directory");
        return;
    }
    QTestState *from =
        qtest_initf("-accel %s -M mini -m " MEM " %s", migrate_accel,
                    c->live ? "-workload stress,share=10,rate=2000" : "-S");
    migrate_fill_ram(from, !c->live, 1);
    qtest_memset(from, HOLE_PAGE * 4096, 0xab, (GENERATIONS + 1) * 4096);
    set_caps(from, c, true);

    for (int g = 1; g <= GENERATIONS; g++) {
        int ab = (g - 1) % 2;
        bool last = g == GENERATIONS;
        if (g > 1 && !c->live) {
            change_memory(from, g);
        }
        if (c->live && last) {
            qtest_qmp_assert_success(from, "{'execute': 'stop'}");
        }
        uint64_t written = checkpoint(from, files[ab], g > 2, c->live && !last);
        if (g > 2 && !c->live) {
            /* What changed (three blocks' tails, scattered pages). */
            g_assert_cmpuint(written, <=,
                             (3 * TAIL_PAGES + 2 * SCATTER) * 2 * 4096);
        }
        if (c->live && !last) {
            continue; /* its memory moved on: only the last is known */
        }
        g_clear_pointer(&gen_digests[ab], g_hash_table_unref);
        gen_digests[ab] = qtest_ram_digests(from);
        for (int i = 0; i < 2; i++) {
            if (gen_digests[i]) {
                load_check(c, files[i], gen_digests[i]);
            }
        }
        if (g > 2 && !c->live) {
            g_assert_true(page_is_hole(files[ab], HOLE_PAGE + g));
        }
    }
    qtest_quit(from);
    for (int i = 0; i < 2; i++) {
        g_clear_pointer(&gen_digests[i], g_hash_table_unref);
    }
}

static const CkptCase gen_cases[] = {
    { "/migration/checkpoint/generations" },
    { "/migration/checkpoint/generations/multifd", { NULL }, 2 },
    { "/migration/checkpoint/generations/direct-io", { NULL }, 2, true },
    { "/migration/checkpoint/generations/checksums", { "x-checksums" } },
    { "/migration/checkpoint/generations/live", { NULL }, 0, false, true },
    { "/migration/checkpoint/generations/live/multifd",
      { NULL },
      2,
      false,
      true },
};

/*
 * A checkpoint that fails half-way (cancelled while it writes) leaves
 * the image stale; the next one into it must still be exact.
 */
static void test_cancelled(void)
{
    static const CkptCase c = { "cancelled" };
    g_autofree char *file = g_strdup_printf("%s/a", tmpfs);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    QTestState *from =
        qtest_initf("-accel %s -M mini -m " MEM " -S", migrate_accel);

    migrate_fill_ram(from, true, 1);
    set_caps(from, &c, true);
    checkpoint(from, file, false, false);
    for (int g = 2; g <= 6; g++) {
        change_memory(from, g);
    }
    migrate_fill_ram(from, true, 7); /* all of it, so the rewrite is long */
    migrate_set_parameter_int(from, "max-bandwidth", 4 * MiB);
    migrate_qmp(from, uri);
    qtest_msleep(300);
    qtest_qmp_assert_success(from, "{'execute': 'migrate_cancel'}");
    g_autofree char *st = wait_for_migration_status_final(from);
    g_assert_cmpstr(st, ==, "cancelled");
    g_assert_false(qtest_is_running(from));

    migrate_set_parameter_int(from, "max-bandwidth", 0);
    change_memory(from, 8);
    checkpoint(from, file, true, false);
    g_autoptr(GHashTable) digests = qtest_ram_digests(from);
    load_check(&c, file, digests);
    qtest_quit(from);
}

/* A file replaced behind the VM's back gets a full save, not a rewrite. */
static void test_replaced(void)
{
    static const CkptCase c = { "replaced" };
    g_autofree char *file = g_strdup_printf("%s/a", tmpfs);
    g_autofree char *copy = g_strdup_printf("%s/a.copy", tmpfs);
    QTestState *from =
        qtest_initf("-accel %s -M mini -m " MEM " -S", migrate_accel);

    migrate_fill_ram(from, true, 1);
    set_caps(from, &c, true);
    checkpoint(from, file, false, false);
    change_memory(from, 2);
    checkpoint(from, file, true, false);
    /* Same bytes, another file: what the VM knew of it is void. */
    g_autofree char *data = NULL;
    gsize len;
    g_assert_true(g_file_get_contents(file, &data, &len, NULL));
    g_assert_true(g_file_set_contents(copy, data, len, NULL));
    g_assert_cmpint(rename(copy, file), ==, 0);
    change_memory(from, 3);
    checkpoint(from, file, false, false);
    g_autoptr(GHashTable) digests = qtest_ram_digests(from);
    load_check(&c, file, digests);

    /* Forgotten: the next save is a full one again. */
    qtest_qmp_assert_success(from,
                             "{'execute': 'x-checkpoint-forget', "
                             "'arguments': {'path': '%s'}}",
                             file);
    g_autoptr(JsonNode) q =
        qtest_qmp(from, "{'execute': 'x-query-checkpoints'}");
    g_assert_cmpint(json_array_get_length(json_node_get_array(q)), ==, 0);
    checkpoint(from, file, false, false);
    qtest_quit(from);
}

/* x-query-checkpoints counts what was dirtied since each image. */
static void test_query(void)
{
    static const CkptCase c = { "query" };
    g_autofree char *a = g_strdup_printf("%s/a", tmpfs);
    g_autofree char *b = g_strdup_printf("%s/b", tmpfs);
    QTestState *from =
        qtest_initf("-accel %s -M mini -m " MEM " -S", migrate_accel);

    migrate_fill_ram(from, true, 1);
    set_caps(from, &c, true);
    checkpoint(from, a, false, false);
    qtest_memset(from, 0, 1, 3 * 4096);
    checkpoint(from, b, false, false);
    qtest_memset(from, 64 * 4096, 1, 2 * 4096);
    g_autoptr(JsonNode) q =
        qtest_qmp(from, "{'execute': 'x-query-checkpoints'}");
    JsonArray *arr = json_node_get_array(q);
    g_assert_cmpint(json_array_get_length(arr), ==, 2);
    for (guint i = 0; i < 2; i++) {
        JsonObject *o = json_array_get_object_element(arr, i);
        bool is_a = !strcmp(json_object_get_string_member(o, "path"), a);
        g_assert_cmpint(json_object_get_int_member(o, "dirty-pages"), ==,
                        is_a ? 5 : 2);
        g_assert_cmpint(json_object_get_int_member(o, "file-pages"), >, 0);
    }
    g_autofree char *err = qtest_qmp_expect_error(
        from, "{'execute': 'x-checkpoint-forget', 'arguments': "
              "{'path': '/nonexistent'}}");
    g_assert_nonnull(strstr(err, "No checkpoint image"));
    qtest_qmp_assert_success(from, "{'execute': 'x-checkpoint-forget'}");
    qtest_quit(from);
}

/* What x-checkpoint refuses, before anything is written. */
static void test_refusals(void)
{
    QTestState *from = qtest_initf("-M mini -m " MEM " -S");
    g_autofree char *err = qtest_qmp_expect_error(
        from, "{'execute': 'migrate-set-capabilities', 'arguments': "
              "{'capabilities': [{'capability': 'x-checkpoint', "
              "'state': true}]}}");
    g_assert_nonnull(strstr(err, "requires capability 'mapped-ram'"));

    migrate_set_capability(from, "mapped-ram", true);
    migrate_set_capability(from, "x-checkpoint", true);
    g_autofree char *uri = g_strdup_printf("exec:cat > %s/x", tmpfs);
    g_autofree char *err2 = qtest_qmp_expect_error(
        from, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", uri);
    g_assert_nonnull(strstr(err2, "seekable"));
    g_autoptr(JsonNode) q =
        qtest_qmp(from, "{'execute': 'x-query-checkpoints'}");
    g_assert_cmpint(json_array_get_length(json_node_get_array(q)), ==, 0);
    qtest_quit(from);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(gen_cases); i++) {
        migration_test_add_data(gen_cases[i].path, test_generations,
                                &gen_cases[i], gen_cases[i].live);
    }
    migration_test_add("/migration/checkpoint/cancelled", test_cancelled);
    migration_test_add("/migration/checkpoint/replaced", test_replaced);
    migration_test_add("/migration/checkpoint/query", test_query);
    migration_test_add("/migration/checkpoint/refusals", test_refusals);
    return migration_test_run();
}
