/*
 * The migration format library (migration/format.c): the mapped-ram
 * header's bytes, the layout QEMU writes, every check of a header read
 * from a file, and the VM description reader.
 */
#include "qemu/osdep.h"
#include "migration/format.h"

/* Block "pc.ram", 16 MiB, header at 0x1000 of a 32 MiB file. */
#define T_LEN (16 * MiB)
#define T_HDR 0x1000
#define T_FILE (32 * MiB)

static void test_header_bytes(void)
{
    static const uint8_t want[MAPPED_RAM_HEADER_SIZE] = {
        0,    0,    0,    1,                      /* version */
        0,    0,    0,    0,    0, 0,    0x10, 0, /* page size */
        0x01, 0x02, 0x03, 0x04, 5, 6,    7,    8, /* bitmap offset */
        0,    0,    0,    0,    0, 0x20, 0,    0, /* pages offset */
    };
    MappedRamHeader h = { 1, 4096, 0x0102030405060708, 0x200000 }, back;
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];

    mapped_ram_header_pack(&h, buf);
    g_assert_cmpmem(buf, sizeof(buf), want, sizeof(want));
    mapped_ram_header_unpack(buf, &back);
    g_assert_cmpuint(back.version, ==, h.version);
    g_assert_cmpuint(back.page_size, ==, h.page_size);
    g_assert_cmpuint(back.bitmap_offset, ==, h.bitmap_offset);
    g_assert_cmpuint(back.pages_offset, ==, h.pages_offset);
}

static void test_layout(void)
{
    MappedRamLayout l;

    /* 4096 pages: a 512-byte bitmap after the header, pages at 1 MiB. */
    mapped_ram_layout(T_LEN, 4096, T_HDR, &l);
    g_assert_cmpuint(l.header_offset, ==, T_HDR);
    g_assert_cmpuint(l.hdr.version, ==, MAPPED_RAM_HDR_VERSION);
    g_assert_cmpuint(l.hdr.page_size, ==, 4096);
    g_assert_cmpuint(l.hdr.bitmap_offset, ==, T_HDR + 28);
    g_assert_cmpuint(l.bitmap_size, ==, 512);
    g_assert_cmpuint(l.hdr.pages_offset, ==, MiB);
    g_assert_cmpuint(l.end, ==, MiB + T_LEN);

    /* A bitmap ending exactly on the boundary stays before it. */
    mapped_ram_layout(512 * 4096, 4096, MiB - 28 - 64, &l);
    g_assert_cmpuint(l.bitmap_size, ==, 64);
    g_assert_cmpuint(l.hdr.pages_offset, ==, MiB);
    /* One page: an unsigned long of bitmap. */
    mapped_ram_layout(4096, 4096, 3 * MiB, &l);
    g_assert_cmpuint(l.bitmap_size, ==, sizeof(unsigned long));
    g_assert_cmpuint(l.hdr.pages_offset, ==, 4 * MiB);
}

static const MappedRamExpect expect = {
    .name = "pc.ram",
    .length = T_LEN,
    .page_size = 4096,
    .header_offset = T_HDR,
    .file_size = T_FILE,
};

static void test_check_accepts(void)
{
    MappedRamLayout l;
    GError *err = NULL;

    mapped_ram_layout(T_LEN, 4096, T_HDR, &l);
    g_assert_true(mapped_ram_header_check(&l.hdr, &expect, NULL, &err));
    g_assert_no_error(err);
    g_assert_false(mapped_ram_header_is_ignored(&l.hdr));

    /* Tightest legal header: bitmap right after it, pages right after. */
    MappedRamHeader h = { 1, 4096, T_HDR + 28,
                          ROUND_UP(T_HDR + 28 + 512, 4096) };
    g_assert_true(mapped_ram_header_check(&h, &expect, NULL, &err));
    /* pages region ending at the end of the file */
    h.pages_offset = T_FILE - T_LEN;
    g_assert_true(mapped_ram_header_check(&h, &expect, NULL, &err));
    g_assert_no_error(err);
}

static void test_check_rejects(void)
{
    static const struct {
        MappedRamHeader h;
        size_t field;
        const char *error;
    } cases[] = {
        { { 0, 4096, T_HDR + 28, MiB },
          MAPPED_RAM_HEADER_VERSION_POS,
          "version not supported (0)" },
        { { 2, 4096, T_HDR + 28, MiB },
          MAPPED_RAM_HEADER_VERSION_POS,
          "version not supported (2)" },
        { { 1, 65536, T_HDR + 28, MiB },
          MAPPED_RAM_HEADER_PAGE_SIZE_POS,
          "page size 65536" },
        { { 1, 4096, T_HDR + 28, MiB + 1 },
          MAPPED_RAM_HEADER_PAGES_POS,
          "bad alignment" },
        { { 1, 4096, T_HDR + 27, MiB },
          MAPPED_RAM_HEADER_BITMAP_POS,
          "overlaps" },
        { { 1, 4096, 0, MiB }, MAPPED_RAM_HEADER_BITMAP_POS, "overlaps" },
        { { 1, 4096, MiB - 511, MiB },
          MAPPED_RAM_HEADER_BITMAP_POS,
          "overlaps" },
        { { 1, 4096, UINT64_MAX - 100, MiB },
          MAPPED_RAM_HEADER_BITMAP_POS,
          "overlaps" },
        { { 1, 4096, T_HDR + 28, T_FILE - T_LEN + 4096 },
          MAPPED_RAM_HEADER_PAGES_POS,
          "beyond the end of the file" },
        { { 1, 4096, T_HDR + 28, UINT64_MAX & ~UINT64_C(4095) },
          MAPPED_RAM_HEADER_PAGES_POS,
          "beyond the end of the file" },
        /* x-ignore-shared marks are not a valid header by themselves */
        { { 1, 4096, 0, 0 }, MAPPED_RAM_HEADER_BITMAP_POS, "overlaps" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        size_t field = SIZE_MAX;
        GError *err = NULL;

        g_assert_false(
            mapped_ram_header_check(&cases[i].h, &expect, &field, &err));
        g_assert_nonnull(err);
        if (!strstr(err->message, cases[i].error)) {
            g_test_message("case %zu: '%s' lacks '%s'", i, err->message,
                           cases[i].error);
            g_assert_not_reached();
        }
        g_assert_cmpuint(field, ==, cases[i].field);
        g_error_free(err);
    }
}

static void test_vmdesc(void)
{
    static const char json[] =
        "{\"page_size\": 4096, \"devices\": ["
        " {\"name\": \"timer\", \"instance_id\": 0,"
        "  \"fields\": [{\"name\": \"a\", \"size\": 8},"
        "              {\"name\": \"b\", \"size\": 4, \"array_len\": 3}],"
        "  \"subsections\": [{\"vmsd_name\": \"timer/x\","
        "                     \"fields\": [{\"name\": \"c\", \"size\": 2}]}]},"
        " {\"name\": \"timer\", \"instance_id\": 1, \"fields\": 5},"
        " {\"name\": \"big\", \"instance_id\": 0,"
        "  \"fields\": [{\"name\": \"a\", \"size\": 1, \"array_len\": 1000}]}"
        "]}";
    g_autoptr(GError) err = NULL;
    g_autoptr(VMDesc) d = vmdesc_parse(json, strlen(json), &err);
    uint64_t size = 0;

    g_assert_no_error(err);
    g_assert_nonnull(d);
    /* 8 + 4 * 3, then 0x05, len, "timer/x", be32 version, 2 */
    g_assert_true(vmdesc_section_size(d, "timer", 0, 4096, &size));
    g_assert_cmpuint(size, ==, 8 + 12 + 1 + 1 + 7 + 4 + 2);
    /* malformed entry, unknown device, over the limit */
    g_assert_false(vmdesc_section_size(d, "timer", 1, 4096, &size));
    g_assert_false(vmdesc_section_size(d, "timer", 2, 4096, &size));
    g_assert_false(vmdesc_section_size(d, "big", 0, 999, &size));
    g_assert_true(vmdesc_section_size(d, "big", 0, 1000, &size));
    g_assert_cmpuint(size, ==, 1000);

    g_assert_null(vmdesc_parse("[1]", 3, NULL));
    g_assert_null(vmdesc_parse("{\"a\":", 5, NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/format/mapped-ram/header-bytes", test_header_bytes);
    g_test_add_func("/format/mapped-ram/layout", test_layout);
    g_test_add_func("/format/mapped-ram/check-accepts", test_check_accepts);
    g_test_add_func("/format/mapped-ram/check-rejects", test_check_rejects);
    g_test_add_func("/format/vmdesc", test_vmdesc);
    return g_test_run();
}
