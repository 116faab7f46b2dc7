/*
 * x-checksums: a damaged mapped-ram file never loads as if nothing were
 * wrong.  One file is saved (every block filled with the pattern that
 * tells pages apart, with zero pages and holes); each case damages a copy
 * in one place and loads it with one thread and with multifd channels.
 * The load must fail with a checksum error, or, where the damage lies in
 * bytes the load never uses (a hole of an absent page), give exactly the
 * source's memory.  mapmig-img check must tell the same apart.
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"
#include "migration/framework.h"

#include <json-glib/json-glib.h>
#include <sys/stat.h>

#define MEM "32M"

typedef enum {
    AT_NOWHERE,
    AT_PRESENT_PAGE, /* data of a page the bitmap lists */
    AT_ABSENT_PAGE,  /* a hole: the slot of a page the bitmap does not list */
    AT_BITMAP,
    AT_VMDESC, /* the last bytes of the stream */
    AT_TABLE,
    AT_TRAILER,
    AT_TRUNCATE_1,
    AT_TRUNCATE_HALF,
} DamageAt;

typedef struct DamageCase {
    const char *path;
    DamageAt at;
    const char *error; /* NULL: the load must give the source's memory */
    int channels;      /* 0: no multifd */
    bool lazy;         /* lazy-restore: pages checked as they are read */
} DamageCase;

static const DamageCase cases[] = {
    { "/migration/integrity/intact", AT_NOWHERE, NULL },
    { "/migration/integrity/intact/multifd", AT_NOWHERE, NULL, 2 },
    { "/migration/integrity/page", AT_PRESENT_PAGE,
      "Checksum mismatch in page" },
    { "/migration/integrity/page/multifd", AT_PRESENT_PAGE,
      "Checksum mismatch in page", 2 },
    { "/migration/integrity/hole", AT_ABSENT_PAGE, NULL },
    { "/migration/integrity/hole/multifd", AT_ABSENT_PAGE, NULL, 2 },
    { "/migration/integrity/bitmap", AT_BITMAP, "hecksum" },
    { "/migration/integrity/bitmap/multifd", AT_BITMAP, "hecksum", 2 },
    { "/migration/integrity/vmdesc", AT_VMDESC, "metadata" },
    { "/migration/integrity/table", AT_TABLE, "hecksum" },
    { "/migration/integrity/trailer", AT_TRAILER, "trailer is damaged" },
    { "/migration/integrity/truncated", AT_TRUNCATE_1, "No checksum trailer" },
    { "/migration/integrity/truncated/half", AT_TRUNCATE_HALF, "" },
    { "/migration/integrity/lazy/intact", AT_NOWHERE, NULL, 0, true },
    { "/migration/integrity/lazy/page", AT_PRESENT_PAGE, "checksum mismatch", 0,
      true },
};

/* The saved file, its block layout and the source's digests. */
static struct {
    char *dir;
    char *file;
    GHashTable *digests;
    uint64_t bitmap_offset, pages_offset, table_offset, size;
    uint64_t present_page, absent_page; /* of the first block */
} saved;

static int img_check(const char *file)
{
    const char *argv[] = { g_getenv("MAPMIG_IMG"), "check", file, NULL };
    int status;

    g_assert_true(
        g_spawn_sync(NULL, (char **)argv, NULL,
                     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* One page of each kind in the first block, from its bitmap. */
static void find_pages(void)
{
    g_autofree unsigned long *bmap = g_malloc(4096);
    FILE *f = fopen(saved.file, "rb");

    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, saved.bitmap_offset, SEEK_SET), ==, 0);
    g_assert_cmpint(fread(bmap, 1, 4096, f), ==, 4096);
    fclose(f);
    saved.present_page = saved.absent_page = UINT64_MAX;
    for (uint64_t p = 64; p < 4096 * 8; p++) {
        bool set = test_bit(p, bmap);
        if (set && saved.present_page == UINT64_MAX) {
            saved.present_page = p;
        }
        if (!set && saved.absent_page == UINT64_MAX) {
            saved.absent_page = p;
        }
    }
    g_assert_cmpuint(saved.present_page, !=, UINT64_MAX);
    g_assert_cmpuint(saved.absent_page, !=, UINT64_MAX);
}

static void save_once(void)
{
    g_autoptr(GError) err = NULL;
    struct stat st;

    if (saved.file) {
        return;
    }
    saved.dir = g_dir_make_tmp("mapmig-integrity-XXXXXX", &err);
    g_assert_no_error(err);
    saved.file = g_strdup_printf("%s/saved", saved.dir);
    QTestState *from = qtest_initf("-m " MEM " -workload idle -S");
    migrate_fill_ram(from, true, 1);
    saved.digests = qtest_ram_digests(from);
    migrate_set_capability(from, "mapped-ram", true);
    migrate_set_capability(from, "x-checksums", true);
    g_autofree char *uri = g_strdup_printf("file:%s", saved.file);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    qtest_quit(from);

    g_autoptr(JsonNode) info = migrate_img_info(saved.file);
    JsonObject *o = json_node_get_object(info);
    g_assert_true(json_object_get_boolean_member(o, "checksums"));
    JsonObject *b = json_array_get_object_element(
        json_object_get_array_member(o, "ram-blocks"), 0);
    saved.bitmap_offset = json_object_get_int_member(b, "bitmap-offset");
    saved.pages_offset = json_object_get_int_member(b, "pages-offset");
    g_assert_cmpint(stat(saved.file, &st), ==, 0);
    saved.size = st.st_size;
    /* The trailer says where the table starts (checksum.h). */
    FILE *f = fopen(saved.file, "rb");
    uint64_t le;
    g_assert_nonnull(f);
    g_assert_cmpint(fseek(f, saved.size - 64 + 16, SEEK_SET), ==, 0);
    g_assert_cmpint(fread(&le, 8, 1, f), ==, 1);
    fclose(f);
    saved.table_offset = GUINT64_FROM_LE(le);
    find_pages();
}

static void flip(const char *file, uint64_t off)
{
    int fd = open(file, O_RDWR);
    uint8_t b;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, &b, 1, off), ==, 1);
    b ^= 0x20;
    g_assert_cmpint(pwrite(fd, &b, 1, off), ==, 1);
    close(fd);
}

static void damage(const char *file, DamageAt at)
{
    switch (at) {
    case AT_NOWHERE:
        break;
    case AT_PRESENT_PAGE:
        flip(file, saved.pages_offset + saved.present_page * 4096 + 1234);
        break;
    case AT_ABSENT_PAGE:
        flip(file, saved.pages_offset + saved.absent_page * 4096 + 1234);
        break;
    case AT_BITMAP:
        flip(file, saved.bitmap_offset + 9);
        break;
    case AT_VMDESC:
        flip(file, saved.table_offset - 20);
        break;
    case AT_TABLE:
        flip(file, saved.table_offset + saved.present_page * 8 + 3);
        break;
    case AT_TRAILER:
        flip(file, saved.size - 40);
        break;
    case AT_TRUNCATE_1:
        g_assert_cmpint(truncate(file, saved.size - 1), ==, 0);
        break;
    case AT_TRUNCATE_HALF:
        g_assert_cmpint(truncate(file, saved.size / 2), ==, 0);
        break;
    }
}

static void test_damage(gconstpointer opaque)
{
    const DamageCase *c = opaque;
    g_autofree char *copy = NULL;
    g_autofree char *contents = NULL;
    gsize len;

    save_once();
    copy = g_strdup_printf("%s/damaged", saved.dir);
    g_assert_true(g_file_get_contents(saved.file, &contents, &len, NULL));
    g_assert_true(g_file_set_contents(copy, contents, len, NULL));
    damage(copy, c->at);

    /* mapmig-img check finds exactly the damage a load must refuse. */
    g_assert_cmpint(img_check(copy), ==, c->error ? 1 : 0);

    QTestState *to = qtest_initf("-m " MEM " -S -incoming defer");
    migrate_set_capability(to, "mapped-ram", true);
    migrate_set_capability(to, "x-checksums", true);
    if (c->lazy) {
        migrate_set_capability(to, "lazy-restore", true);
    }
    if (c->channels) {
        migrate_set_capability(to, "multifd", true);
        migrate_set_parameter_int(to, "multifd-channels", c->channels);
    }
    g_autofree char *uri = g_strdup_printf("file:%s", copy);
    migrate_incoming_qmp(to, uri);
    if (c->error) {
        g_autofree char *desc = wait_for_migration_fail(to);
        g_test_message("refused: %s", desc);
        g_assert_nonnull(strstr(desc, c->error));
    } else {
        wait_for_migration_complete(to);
        g_autoptr(GHashTable) dst = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(saved.digests, dst));
    }
    qtest_quit(to);
    unlink(copy);
}

/* x-checksums needs mapped-ram, and a file: URI to put its trailer in. */
static void test_refusals(void)
{
    QTestState *s = qtest_initf("-m " MEM " -workload idle -S");
    g_autofree char *e = qtest_qmp_expect_error(
        s, "{'execute': 'migrate-set-capabilities', 'arguments': "
           "{'capabilities': [{'capability': 'x-checksums', 'state': true}]}}");

    g_assert_nonnull(strstr(e, "requires capability 'mapped-ram'"));
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    int ret;

    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_test_add_data_func(cases[i].path, &cases[i], test_damage);
    }
    g_test_add_func("/migration/integrity/refusals", test_refusals);
    ret = migration_test_run();
    if (saved.dir) {
        qtest_rmdir_files(saved.dir);
    }
    return ret;
}
