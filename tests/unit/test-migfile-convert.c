/*
 * Extract and convert (migration/migfile-convert.c) on a small stream
 * written here: a block's final contents come out the same from the
 * stream, from its mapped-ram conversion and from that converted back;
 * a page rewritten or zeroed by a later record counts as its last
 * record says, zero pages stay holes; refused operations leave no output.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/format.h"
#include "migration/migfile-convert.h"

#include <glib/gstdio.h>

#define T_PAGES 64
#define T_LEN (T_PAGES * TARGET_PAGE_SIZE)
#define T_SECTION 2

static char *tmpdir;

static char *scratch(const char *name)
{
    return g_build_filename(tmpdir, name, NULL);
}

static void put_page(QEMUFile *f, uint64_t page, bool first, uint8_t fill,
                     bool zero)
{
    uint8_t data[TARGET_PAGE_SIZE];
    uint64_t word = page * TARGET_PAGE_SIZE |
                    (zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE);

    qemu_put_be64(f, word | (first ? 0 : RAM_SAVE_FLAG_CONTINUE));
    if (first) {
        qemu_put_counted_string(f, "pc.ram");
    }
    if (zero) {
        qemu_put_byte(f, fill);
        return;
    }
    memset(data, fill, sizeof(data));
    data[0] = page; /* pages differ from each other */
    qemu_put_buffer(f, data, sizeof(data));
}

static void put_section(QEMUFile *f, uint8_t type)
{
    mig_stream_put_section_header(f, type, T_SECTION, "ram", 0,
                                  RAM_SECTION_VERSION);
}

/*
 * A stream with block "pc.ram": page 1 and 2 written, page 2 written
 * again, page 3 written then zeroed, page 5 a ZERO record of 0x11s; the
 * others never sent.
 */
static char *write_stream(void)
{
    char *path = scratch("stream.sav");
    GError *err = NULL;
    QIOChannelFile *fioc = qio_channel_file_new_path(
        path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &err);
    g_assert_no_error(err);
    QEMUFile *f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);

    mig_stream_put_header(f);
    mig_stream_put_configuration(f, "mini", NULL, 0);
    put_section(f, QEMU_VM_SECTION_START);
    qemu_put_be64(f, T_LEN | RAM_SAVE_FLAG_MEM_SIZE);
    qemu_put_counted_string(f, "pc.ram");
    qemu_put_be64(f, T_LEN);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    mig_stream_put_section_footer(f, T_SECTION);
    put_section(f, QEMU_VM_SECTION_PART);
    put_page(f, 1, true, 0xaa, false);
    put_page(f, 2, false, 0xbb, false);
    put_page(f, 3, false, 0xcc, false);
    put_page(f, 2, false, 0xdd, false);
    put_page(f, 3, false, 0, true);
    put_page(f, 5, false, 0x11, true);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    mig_stream_put_section_footer(f, T_SECTION);
    put_section(f, QEMU_VM_SECTION_END);
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    mig_stream_put_section_footer(f, T_SECTION);
    qemu_put_byte(f, QEMU_VM_EOF);
    g_assert_cmpint(qemu_fclose(f, &err), ==, 0);
    g_assert_no_error(err);
    return path;
}

static MigFile *open_ok(const char *path, MigLayout layout)
{
    GError *err = NULL;
    MigFile *mf = migfile_open(path, 0, NULL, NULL, &err);

    g_assert_no_error(err);
    g_assert_nonnull(mf);
    g_assert_cmpint(mf->layout, ==, layout);
    return mf;
}

/* Extract pc.ram of @path and check it holds what write_stream() put. */
static void check_extract(const char *path, MigLayout layout)
{
    g_autoptr(MigFile) mf = open_ok(path, layout);
    g_autofree char *raw = scratch("pc.ram.raw");
    g_autofree uint8_t *got = NULL;
    GError *err = NULL;
    gsize len;
    struct stat st;

    g_assert_true(migfile_extract_block(mf, "pc.ram", raw, &err));
    g_assert_no_error(err);
    g_assert_true(g_file_get_contents(raw, (char **)&got, &len, NULL));
    g_assert_cmpuint(len, ==, T_LEN);
    for (uint64_t p = 0; p < T_PAGES; p++) {
        uint8_t fill = p == 1 ? 0xaa : p == 2 ? 0xdd : p == 5 ? 0x11 : 0;
        const uint8_t *pg = got + p * TARGET_PAGE_SIZE;
        g_assert_cmpuint(pg[0], ==, fill && p != 5 ? p : fill);
        for (size_t i = 1; i < TARGET_PAGE_SIZE; i++) {
            g_assert_cmpuint(pg[i], ==, fill);
        }
    }
    /* Pages 1, 2 and 5 hold data; the rest are holes. */
    g_assert_cmpint(stat(raw, &st), ==, 0);
    g_assert_cmpuint((uint64_t)st.st_blocks * 512, <=, 3 * TARGET_PAGE_SIZE);
    g_unlink(raw);
}

static void test_roundtrip(void)
{
    g_autofree char *stream = write_stream();
    g_autofree char *mapped = scratch("mapped.sav");
    g_autofree char *back = scratch("back.sav");
    GError *err = NULL;

    check_extract(stream, MIG_LAYOUT_STREAM);
    {
        g_autoptr(MigFile) mf = open_ok(stream, MIG_LAYOUT_STREAM);
        g_assert_true(migfile_convert(mf, MIG_LAYOUT_MAPPED_RAM, mapped, &err));
        g_assert_no_error(err);
    }
    {
        g_autoptr(MigFile) mf = open_ok(mapped, MIG_LAYOUT_MAPPED_RAM);
        MigBlock *b = migfile_find_block(mf, "pc.ram");
        g_assert_nonnull(b);
        g_assert_cmpuint(b->pages_offset % MAPPED_RAM_FILE_OFFSET_ALIGNMENT, ==,
                         0);
        g_assert_cmpuint(b->present_pages, ==, 3);
        g_assert_true(migfile_has_cap(mf, "mapped-ram"));
    }
    check_extract(mapped, MIG_LAYOUT_MAPPED_RAM);
    {
        g_autoptr(MigFile) mf = open_ok(mapped, MIG_LAYOUT_MAPPED_RAM);
        g_assert_true(migfile_convert(mf, MIG_LAYOUT_STREAM, back, &err));
        g_assert_no_error(err);
    }
    {
        g_autoptr(MigFile) mf = open_ok(back, MIG_LAYOUT_STREAM);
        MigBlock *b = migfile_find_block(mf, "pc.ram");
        /* Every page once: data for 3 of them, ZERO for the others. */
        g_assert_cmpuint(b->page_records, ==, 3);
        g_assert_cmpuint(b->zero_records, ==, T_PAGES - 3);
        g_assert_false(migfile_has_cap(mf, "mapped-ram"));
    }
    check_extract(back, MIG_LAYOUT_STREAM);
    g_unlink(stream);
    g_unlink(mapped);
    g_unlink(back);
}

static void test_refused(void)
{
    g_autofree char *stream = write_stream();
    g_autofree char *out = scratch("out");
    g_autofree char *bad = g_build_filename(tmpdir, "nodir", "out", NULL);
    g_autoptr(MigFile) mf = open_ok(stream, MIG_LAYOUT_STREAM);
    GError *err = NULL;

    g_assert_false(migfile_convert(mf, MIG_LAYOUT_STREAM, out, &err));
    g_assert_nonnull(strstr(err->message, "is already in the stream layout"));
    g_clear_error(&err);
    g_assert_false(migfile_extract_block(mf, "vga.vram", out, &err));
    g_assert_nonnull(strstr(err->message, "(blocks: pc.ram)"));
    g_clear_error(&err);
    g_assert_false(g_file_test(out, G_FILE_TEST_EXISTS));
    g_assert_false(migfile_convert(mf, MIG_LAYOUT_MAPPED_RAM, bad, &err));
    g_assert_nonnull(strstr(err->message, "Could not open"));
    g_clear_error(&err);
    g_assert_false(migfile_extract_block(mf, "pc.ram", bad, &err));
    g_assert_nonnull(strstr(err->message, "Could not create"));
    g_clear_error(&err);
    g_unlink(stream);
}

static void test_layout_names(void)
{
    MigLayout l;

    g_assert_true(migfile_layout_from_name("stream", &l));
    g_assert_cmpint(l, ==, MIG_LAYOUT_STREAM);
    g_assert_true(migfile_layout_from_name("mapped-ram", &l));
    g_assert_cmpint(l, ==, MIG_LAYOUT_MAPPED_RAM);
    g_assert_false(migfile_layout_from_name("mapped", &l));
    g_assert_cmpstr(migfile_layout_name(MIG_LAYOUT_STREAM), ==, "stream");
    g_assert_cmpstr(migfile_layout_name(MIG_LAYOUT_MAPPED_RAM), ==,
                    "mapped-ram");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    tmpdir = g_dir_make_tmp("test-migfile-convert-XXXXXX", NULL);
    g_test_add_func("/migfile-convert/roundtrip", test_roundtrip);
    g_test_add_func("/migfile-convert/refused", test_refused);
    g_test_add_func("/migfile-convert/layout-names", test_layout_names);
    int r = g_test_run();
    g_rmdir(tmpdir);
    g_free(tmpdir);
    return r;
}
