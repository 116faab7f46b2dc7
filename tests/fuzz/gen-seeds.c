/*
 * Seed corpus for the file harnesses, from real saves: start small mapmig
 * VMs ($MAPMIG_BINARY) configured as the harnesses' VMs, save them with
 * `migrate file:` and sort the files into OUTDIR/<harness>/:
 *
 *   stream-load/     -M none -m 256K with the stress workload's devices
 *                    (its state and a vCPU's): zero RAM, a pattern, a
 *                    live save of the running workload (PART sections,
 *                    pages sent again)
 *   mapped-ram-load/ -M none -m 16K with mapped-ram: zero RAM, a pattern,
 *                    multifd with 2 channels; each also "compact": the
 *                    pages region moved from 1 MiB to 4 KiB alignment (a
 *                    layout the loader accepts) so the files stay small
 *   migfile/         all of the above, and a -M mini save (three RAM
 *                    blocks, the serial device)
 *
 * Every file is checked with migfile_open() before it is kept; STAMP
 * (the build's output) is written last.
 *
 *   gen-seeds OUTDIR STAMP
 */
#include "qemu/osdep.h"
#include "migration/framework.h"
#include "migration/format.h"
#include "qemu/bitmap.h"
/* framework.h's MigrateCommon limit, unused here, shares migfile's name. */
#undef MIG_MAX_CAPS
#include "migration/migfile.h"

#include <glib/gstdio.h>

static const char *const harness_dirs[] = { "stream-load", "mapped-ram-load",
                                            "migfile" };
static const char *outdir;
static char *workdir;

static void put_seed(const char *harness, const char *name, const void *data,
                     size_t len)
{
    g_autofree char *dir = g_build_filename(outdir, harness, NULL);
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) err = NULL;

    g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
    if (!g_file_set_contents(path, data, len, &err)) {
        g_error("%s", err->message);
    }
}

/* The file must parse before it becomes a seed. */
static void check_file(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MigFile) mf = migfile_open(path, 0, NULL, NULL, &err);

    if (!mf) {
        g_error("seed %s does not parse: %s", path, err->message);
    }
}

static void keep(const char *path, const char *name, const char *const *to)
{
    g_autofree char *data = NULL;
    g_autoptr(GError) err = NULL;
    gsize len;

    check_file(path);
    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_error("%s", err->message);
    }
    for (int i = 0; to[i]; i++) {
        put_seed(to[i], name, data, len);
    }
}

/* Save @vm to WORKDIR/NAME (file: URI) and wait for completion. */
static char *save(QTestState *vm, const char *name)
{
    char *path = g_build_filename(workdir, name, NULL);
    g_autofree char *uri = g_strdup_printf("file:%s", path);

    migrate_qmp(vm, uri);
    wait_for_migration_complete(vm);
    return path;
}

/*
 * Distinct non-zero bytes in every @stride-th page (half of it) and at
 * the end of RAM; the other pages stay zero.
 */
static void write_pattern(QTestState *vm, uint64_t ram_size, unsigned stride)
{
    uint64_t pages = ram_size / TARGET_PAGE_SIZE;

    for (uint64_t p = 0; p < pages; p += stride) {
        qtest_memset(vm, p * TARGET_PAGE_SIZE, 0x11 + p, TARGET_PAGE_SIZE / 2);
    }
    qtest_writeq(vm, ram_size - 8, 0x0123456789abcdefULL);
}

/* The stream-load harness's VM: -M none with the workload's devices. */
#define STREAM_VM "-M none -m 256K -workload stress,share=25,rate=400"

static void stream_seeds(void)
{
    static const char *const to[] = { "stream-load", "migfile", NULL };
    QTestState *vm = qtest_init(STREAM_VM " -S");
    g_autofree char *zero = NULL, *pattern = NULL, *live = NULL;

    migrate_set_parameter_int(vm, "max-bandwidth", 0);
    zero = save(vm, "stream-zero");
    keep(zero, "stream-zero", to);
    qtest_quit(vm);

    vm = qtest_init(STREAM_VM " -S");
    migrate_set_parameter_int(vm, "max-bandwidth", 0);
    write_pattern(vm, 256 * KiB, 7);
    pattern = save(vm, "stream-pattern");
    keep(pattern, "stream-pattern", to);
    qtest_quit(vm);

    /* Live: the workload re-dirties pages while passes go by. */
    vm = qtest_init(STREAM_VM);
    migrate_ensure_non_converge(vm);
    migrate_set_parameter_int(vm, "max-bandwidth", 256 * KiB);
    live = g_build_filename(workdir, "stream-live", NULL);
    {
        g_autofree char *uri = g_strdup_printf("file:%s", live);
        migrate_qmp(vm, uri);
    }
    wait_for_migration_pass(vm, 3);
    migrate_ensure_converge(vm);
    wait_for_migration_complete(vm);
    keep(live, "stream-live", to);
    qtest_quit(vm);
}

/* For the file parser only: three RAM blocks and the serial device. */
static void mini_seeds(void)
{
    static const char *const to[] = { "migfile", NULL };
    QTestState *vm = qtest_init("-M mini -m 1M -S");

    migrate_set_parameter_int(vm, "max-bandwidth", 0);
    write_pattern(vm, 1 * MiB, 61);
    g_autofree char *path = save(vm, "mini-pattern");
    keep(path, "mini-pattern", to);
    qtest_quit(vm);
}

static void append_file(GByteArray *out, const uint8_t *in, uint64_t from,
                        uint64_t to)
{
    g_assert_cmpuint(from, <=, to);
    g_byte_array_append(out, in + from, to - from);
}

static void pad_to(GByteArray *out, uint64_t align)
{
    static const uint8_t zero[TARGET_PAGE_SIZE];

    while (out->len % align) {
        g_byte_array_append(out, zero,
                            MIN(sizeof(zero), align - out->len % align));
    }
}

/*
 * Rewrite a mapped-ram file with each block's bitmap right after its
 * header and its pages region at the next 4 KiB boundary.
 */
static GByteArray *compact(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(MigFile) mf = migfile_open(path, 0, NULL, NULL, &err);
    g_autofree uint8_t *in = NULL;
    gsize len;
    GByteArray *out = g_byte_array_new();
    uint64_t cur = 0;

    g_assert_no_error(err);
    g_assert_true(g_file_get_contents(path, (char **)&in, &len, &err));
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        uint64_t bm_bytes = bitmap_bytes(b->length / TARGET_PAGE_SIZE);
        uint8_t buf[MAPPED_RAM_HEADER_SIZE];

        append_file(out, in, cur, b->header_pos);
        uint64_t bitmap_offset = out->len + sizeof(buf);
        uint64_t pages_offset =
            ROUND_UP(bitmap_offset + bm_bytes, TARGET_PAGE_SIZE);
        MappedRamHeader h = { .version = b->mr_version,
                              .page_size = b->page_size,
                              .bitmap_offset = bitmap_offset,
                              .pages_offset = pages_offset };
        mapped_ram_header_pack(&h, buf);
        g_byte_array_append(out, buf, sizeof(buf));
        append_file(out, in, b->bitmap_offset, b->bitmap_offset + bm_bytes);
        pad_to(out, TARGET_PAGE_SIZE);
        g_assert_cmpuint(out->len, ==, pages_offset);
        append_file(out, in, b->pages_offset, b->pages_offset + b->length);
        cur = b->pages_offset + b->length;
    }
    append_file(out, in, cur, len);
    return out;
}

static void keep_mapped(const char *path, const char *name)
{
    static const char *const to[] = { "mapped-ram-load", "migfile", NULL };
    g_autoptr(GByteArray) c = compact(path);
    g_autofree char *cname = g_strconcat(name, "-compact", NULL);
    g_autofree char *cpath = g_build_filename(workdir, cname, NULL);
    g_autoptr(GError) err = NULL;

    keep(path, name, to);
    g_assert_true(g_file_set_contents(cpath, (char *)c->data, c->len, &err));
    keep(cpath, cname, to);
}

static QTestState *mapped_vm(int channels)
{
    QTestState *vm = qtest_init("-M none -m 16K -S");

    migrate_set_parameter_int(vm, "max-bandwidth", 0);
    migrate_set_capability(vm, "mapped-ram", true);
    if (channels) {
        migrate_set_capability(vm, "multifd", true);
        migrate_set_parameter_int(vm, "multifd-channels", channels);
    }
    return vm;
}

static void mapped_seeds(void)
{
    QTestState *vm = mapped_vm(0);
    g_autofree char *zero = save(vm, "mapped-zero");
    keep_mapped(zero, "mapped-zero");
    qtest_quit(vm);

    vm = mapped_vm(0);
    write_pattern(vm, 16 * KiB, 3);
    g_autofree char *pattern = save(vm, "mapped-pattern");
    keep_mapped(pattern, "mapped-pattern");
    qtest_quit(vm);

    vm = mapped_vm(2);
    write_pattern(vm, 16 * KiB, 3);
    g_autofree char *multifd = save(vm, "mapped-multifd");
    keep_mapped(multifd, "mapped-multifd");
    qtest_quit(vm);
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;

    if (argc != 3) {
        g_printerr("usage: gen-seeds OUTDIR STAMP\n");
        return 1;
    }
    outdir = argv[1];
    /* Start afresh: no seed of an older build survives. */
    for (size_t i = 0; i < ARRAY_SIZE(harness_dirs); i++) {
        g_autofree char *dir = g_build_filename(outdir, harness_dirs[i], NULL);
        qtest_rmdir_files(dir);
    }
    workdir = g_dir_make_tmp("mapmig-seeds-XXXXXX", &err);
    g_assert_no_error(err);
    qtest_add_abort_dir(workdir);
    stream_seeds();
    mini_seeds();
    mapped_seeds();
    qtest_rmdir_files(workdir);
    qtest_remove_abort_dir(workdir);
    g_free(workdir);

    g_assert_true(g_file_set_contents(argv[2], "", 0, &err));
    return 0;
}
