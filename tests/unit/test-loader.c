/*
 * In-process loader robustness tests: a tiny "mini" machine saves a
 * stream with the savevm API, then qemu_loadvm_state() must load it back
 * exactly, and must fail cleanly (false plus an error message, no crash,
 * no write outside guest RAM) on truncated and corrupted streams, in the
 * classic layout and with mapped-ram.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "migration/options.h"
#include "migration/options-cmds.h"
#include "migration/qemu-file.h"
#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/cpus.h"
#include "system/ramblock.h"
#include "system/runstate.h"
#include "system/system.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/mman.h>
#include <sys/resource.h>

static MachineState machine = {
    .type = (char *)"mini",
    .ram_size = 8 * MiB,
    .smp = 1,
};

/* Pages of pc.ram that hold the pattern; all others stay zero. */
#define PATTERN_PAGES 24

static char *pattern_digest;    /* sha256 of pc.ram with the pattern */
static GByteArray *good_stream; /* classic stream of that state */
static char *tmp_dir;

/* ---- helpers ---- */

static uint64_t rd_be64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return GUINT64_FROM_BE(v);
}

static uint32_t rd_be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return GUINT32_FROM_BE(v);
}

static void wr_be64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, 8);
}

static void wr_be32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, 4);
}

/* Offset of the first occurrence of @needle in @hay, or -1. */
static ssize_t find_bytes(const uint8_t *hay, size_t len, const void *needle,
                          size_t nlen)
{
    const uint8_t *p = memmem(hay, len, needle, nlen);
    return p ? p - hay : -1;
}

static RAMBlock *pc_ram(void)
{
    RAMBlock *rb = qemu_ram_block_by_name("pc.ram");
    g_assert_nonnull(rb);
    return rb;
}

static char *pc_ram_digest(void)
{
    return ramblock_digest(pc_ram());
}

static void zero_all_ram(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        memset(rb->host, 0, rb->used_length);
    }
}

/* A pattern in some pages (spread over the block), zeros elsewhere. */
static void write_pattern(void)
{
    RAMBlock *rb = pc_ram();
    uint64_t npages = ramblock_nr_pages(rb);

    zero_all_ram();
    for (int i = 0; i < PATTERN_PAGES; i++) {
        /* first and last pages, and others spread in between */
        uint64_t page =
            i == PATTERN_PAGES - 1 ? npages - 1 : (uint64_t)i * i * 3 + (i & 1);
        uint8_t *p = rb->host + (page << TARGET_PAGE_BITS);
        for (size_t j = 0; j < TARGET_PAGE_SIZE; j++) {
            p[j] = (uint8_t)(page * 31 + j * 7 + 1);
        }
    }
    /* a byte at the end of the ROM and one in the video RAM too */
    RAMBlock *rom = qemu_ram_block_by_name("pc.rom");
    rom->host[rom->used_length - 1] = 0x5a;
    RAMBlock *vga = qemu_ram_block_by_name("vga.vram");
    vga->host[12345] = 0xa5;
}

static int new_memfd(void)
{
    int fd = memfd_create("test-loader", MFD_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* Everything of @fd (from 0). */
static GByteArray *fd_contents(int fd)
{
    GByteArray *a = g_byte_array_new();
    off_t size = lseek(fd, 0, SEEK_END);
    g_assert_cmpint(size, >=, 0);
    g_byte_array_set_size(a, size);
    g_assert_cmpint(pread(fd, a->data, size, 0), ==, size);
    return a;
}

static void set_mapped_ram(bool on)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "capabilities");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "capability");
    json_builder_add_string_value(b, "mapped-ram");
    json_builder_set_member_name(b, "state");
    json_builder_add_boolean_value(b, on);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    GError *err = NULL;

    qmp_migrate_set_capabilities(NULL, json_node_get_object(root), &err);
    g_assert_no_error(err);
    g_assert_cmpint(migrate_mapped_ram(), ==, on);
}

/* Save the whole VM state into @fd (a seekable file) as a migration does. */
static void save_to_fd(int fd)
{
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);
    QEMUFile *f = qemu_file_new_output(&fioc->parent);
    GError *err = NULL;
    bool done = false;
    int iterations = 0;

    qio_channel_unref(&fioc->parent);
    qemu_savevm_state_header(f);
    g_assert_true(qemu_savevm_state_setup(f, &err));
    g_assert_no_error(err);
    while (!done) {
        qemu_savevm_state_iterate(f, &done);
        g_assert_cmpint(qemu_file_get_error(f), ==, 0);
        g_assert_cmpint(++iterations, <, 1000);
    }
    qemu_savevm_state_complete_precopy(f);
    qemu_savevm_state_cleanup();
    g_assert_cmpint(qemu_fclose(f, &err), ==, 0);
    g_assert_no_error(err);
}

static GByteArray *save_stream(void)
{
    int fd = new_memfd();
    int keep = dup(fd);

    save_to_fd(fd); /* closes fd */
    GByteArray *a = fd_contents(keep);
    close(keep);
    return a;
}

/* Load from @fd (positioned at the start).  Closes @fd. */
static bool load_fd(int fd, GError **errp)
{
    QIOChannelFile *fioc = qio_channel_file_new_fd(fd);
    QEMUFile *f = qemu_file_new_input(&fioc->parent);

    qio_channel_unref(&fioc->parent);
    bool ok = qemu_loadvm_state(f, errp);
    qemu_fclose(f, NULL);
    return ok;
}

static bool load_bytes(const uint8_t *data, size_t len, GError **errp)
{
    int fd = new_memfd();

    if (len) {
        g_assert_cmpint(pwrite(fd, data, len, 0), ==, (ssize_t)len);
    }
    return load_fd(fd, errp);
}

/* Load and expect a failure with a non-empty message (containing @substr). */
static void load_expect_fail(const uint8_t *data, size_t len,
                             const char *substr)
{
    GError *err = NULL;
    bool ok = load_bytes(data, len, &err);

    if (ok) {
        g_error("load of %zu bytes unexpectedly succeeded (expected '%s')", len,
                substr ? substr : "any error");
    }
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, !=, "");
    if (substr && !strstr(err->message, substr)) {
        g_error("error '%s' does not contain '%s'", err->message, substr);
    }
    g_error_free(err);
}

/* Load the good stream again: restores RAM and every device's state. */
static void restore_good_state(void)
{
    GError *err = NULL;

    g_assert_true(load_bytes(good_stream->data, good_stream->len, &err));
    g_assert_no_error(err);
    g_autofree char *d = pc_ram_digest();
    g_assert_cmpstr(d, ==, pattern_digest);
}

/* Stream landmarks found by parsing the start of the good stream. */
typedef struct {
    size_t machine_name; /* machine type bytes */
    size_t ram_start;    /* QEMU_VM_SECTION_START byte of "ram" */
    size_t mem_size;     /* be64 total | MEM_SIZE */
    size_t block_id;     /* counted "pc.ram" in the block list */
    size_t block_len;    /* its be64 used_length */
    size_t start_footer; /* footer of the START section */
    size_t first_part;   /* first QEMU_VM_SECTION_PART byte */
    size_t first_page;   /* first page record (be64) in that PART */
} Landmarks;

static Landmarks find_landmarks(const GByteArray *s)
{
    Landmarks l;
    const uint8_t *d = s->data;

    g_assert_cmphex(rd_be32(d), ==, QEMU_VM_FILE_MAGIC);
    g_assert_cmphex(rd_be32(d + 4), ==, QEMU_VM_FILE_VERSION);
    g_assert_cmphex(d[8], ==, QEMU_VM_CONFIGURATION);
    g_assert_cmpuint(rd_be32(d + 9), ==, 4);
    l.machine_name = 13;
    g_assert_cmpmem(d + 13, 4, "mini", 4);

    /* "ram" START: type, be32 id 2, counted "ram", instance 0, version 4 */
    static const uint8_t ram_hdr[] = {
        QEMU_VM_SECTION_START,
        0,
        0,
        0,
        2,
        3,
        'r',
        'a',
        'm',
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        4,
    };
    ssize_t off = find_bytes(d, MIN(s->len, 4096), ram_hdr, sizeof(ram_hdr));
    g_assert_cmpint(off, >, 0);
    l.ram_start = off;
    l.mem_size = off + sizeof(ram_hdr);
    g_assert_cmphex(rd_be64(d + l.mem_size) & ~TARGET_PAGE_MASK, ==,
                    RAM_SAVE_FLAG_MEM_SIZE);
    g_assert_cmphex(rd_be64(d + l.mem_size) & TARGET_PAGE_MASK, ==,
                    ram_bytes_total());
    l.block_id = l.mem_size + 8;
    g_assert_cmpmem(d + l.block_id, 7, "\x06pc.ram", 7);
    l.block_len = l.block_id + 7;
    g_assert_cmphex(rd_be64(d + l.block_len), ==, 8 * MiB);
    return l;
}

/* The classic stream's block list end, START footer and first page. */
static void find_classic_landmarks(const GByteArray *s, Landmarks *l)
{
    const uint8_t *d = s->data;
    size_t p = l->block_id;

    /* pc.ram, vga.vram, pc.rom: counted id + be64 */
    for (int i = 0; i < 3; i++) {
        p += 1 + d[p] + 8;
    }
    g_assert_cmphex(rd_be64(d + p), ==, RAM_SAVE_FLAG_EOS);
    p += 8;
    l->start_footer = p;
    g_assert_cmphex(d[p], ==, QEMU_VM_SECTION_FOOTER);
    g_assert_cmpuint(rd_be32(d + p + 1), ==, 2);
    p += 5;
    l->first_part = p;
    g_assert_cmphex(d[p], ==, QEMU_VM_SECTION_PART);
    g_assert_cmpuint(rd_be32(d + p + 1), ==, 2);
    l->first_page = p + 5;
    uint64_t w = rd_be64(d + l->first_page);
    g_assert_cmphex(w & ~TARGET_PAGE_MASK, ==, RAM_SAVE_FLAG_PAGE);
    g_assert_cmphex(w & TARGET_PAGE_MASK, ==, 0);
    g_assert_cmpmem(d + l->first_page + 8, 7, "\x06pc.ram", 7);
}

/* ---- classic stream ---- */

static void test_stream_round_trip(void)
{
    GError *err = NULL;

    zero_all_ram();
    g_autofree char *zero = pc_ram_digest();
    g_assert_cmpstr(zero, !=, pattern_digest);

    g_assert_true(load_bytes(good_stream->data, good_stream->len, &err));
    g_assert_no_error(err);
    g_autofree char *d = pc_ram_digest();
    g_assert_cmpstr(d, ==, pattern_digest);
    g_assert_cmphex(qemu_ram_block_by_name("pc.rom")->host[128 * KiB - 1], ==,
                    0x5a);
    g_assert_cmphex(qemu_ram_block_by_name("vga.vram")->host[12345], ==, 0xa5);

    /* Loading over non-zero RAM: zero pages are cleared too. */
    RAMBlock *rb = pc_ram();
    memset(rb->host + 1000 * TARGET_PAGE_SIZE, 0x77, 3 * TARGET_PAGE_SIZE);
    g_assert_true(load_bytes(good_stream->data, good_stream->len, &err));
    g_autofree char *d2 = pc_ram_digest();
    g_assert_cmpstr(d2, ==, pattern_digest);

    /* Saving again gives the very same stream. */
    g_autoptr(GByteArray) again = save_stream();
    g_assert_cmpmem(again->data, again->len, good_stream->data,
                    good_stream->len);
}

static void test_stream_truncate(void)
{
    const GByteArray *s = good_stream;

    for (size_t cut = 0; cut < MIN(4096, s->len); cut++) {
        load_expect_fail(s->data, cut, NULL);
    }
    for (int i = 0; i < 200; i++) {
        size_t cut = (size_t)((double)s->len * i / 200);
        load_expect_fail(s->data, cut, NULL);
    }
    /* The last bytes: inside the VM description and right after EOF. */
    for (size_t cut = s->len - 8; cut < s->len; cut++) {
        load_expect_fail(s->data, cut, NULL);
    }
    restore_good_state();
}

/* xorshift64*: a fixed-seed PRNG, the same sequence everywhere. */
static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dULL;
}

/*
 * Make the first byte of every guest page non-zero.  The loader's ZERO
 * records then take the memset path instead of scanning 4 KiB for zeros
 * (buffer_is_zero() dominates the run time under ASan otherwise), and the
 * loads below exercise writing over a non-fresh destination.
 */
static void scribble_ram(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        for (uint64_t off = 0; off < rb->used_length; off += TARGET_PAGE_SIZE) {
            rb->host[off] |= 0x80;
        }
    }
}

static void fuzz_one(GByteArray *copy, unsigned *fails)
{
    GError *err = NULL;

    scribble_ram();
    if (load_bytes(copy->data, copy->len, &err)) {
        g_assert_no_error(err);
    } else {
        g_assert_nonnull(err);
        g_assert_cmpstr(err->message, !=, "");
        g_error_free(err);
        (*fails)++;
    }
}

static void test_stream_bitflip(void)
{
    const GByteArray *s = good_stream;
    g_autoptr(GByteArray) copy = g_byte_array_sized_new(s->len);
    unsigned fails = 0;

    g_byte_array_append(copy, s->data, s->len);
    rng_state = 0x0123456789abcdefULL;
    for (int i = 0; i < 2000; i++) {
        /* half of the flips in the first 4 KiB, where the framing is */
        size_t limit = i % 2 ? s->len : MIN(4096, s->len);
        size_t pos = rng_next() % limit;
        uint8_t bit = 1u << (rng_next() % 8);
        copy->data[pos] ^= bit;
        fuzz_one(copy, &fails);
        copy->data[pos] ^= bit;
    }
    g_test_message("bit flips: %u of 2000 failed cleanly", fails);
    g_assert_cmpuint(fails, >, 0);
    restore_good_state();
}

static void test_stream_overwrite(void)
{
    const GByteArray *s = good_stream;
    g_autoptr(GByteArray) copy = g_byte_array_sized_new(s->len);
    unsigned fails = 0;

    g_byte_array_append(copy, s->data, s->len);
    rng_state = 0xfeedfacecafebeefULL;
    for (int i = 0; i < 500; i++) {
        size_t limit = i % 2 ? s->len : MIN(4096, s->len);
        size_t pos = rng_next() % limit;
        size_t n = 1 + rng_next() % 8;
        uint8_t saved[8];
        n = MIN(n, s->len - pos);
        memcpy(saved, copy->data + pos, n);
        uint64_t r = rng_next();
        for (size_t j = 0; j < n; j++) {
            /* random bytes, and now and then all-ones or zeros */
            copy->data[pos + j] = i % 7 == 0   ? 0xff
                                  : i % 7 == 1 ? 0
                                               : r >> (8 * j);
        }
        fuzz_one(copy, &fails);
        memcpy(copy->data + pos, saved, n);
    }
    g_test_message("overwrites: %u of 500 failed cleanly", fails);
    g_assert_cmpuint(fails, >, 0);
    restore_good_state();
}

typedef void (*Corrupt)(GByteArray *s, const Landmarks *l);

static void check_corruption(Corrupt fn, const char *expect)
{
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, good_stream->data, good_stream->len);
    Landmarks l = find_landmarks(copy);
    find_classic_landmarks(copy, &l);

    fn(copy, &l);
    load_expect_fail(copy->data, copy->len, expect);
}

static void c_bad_magic(GByteArray *s, const Landmarks *l)
{
    s->data[0] = 'X';
}

static void c_version2(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + 4, 2);
}

static void c_version4(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + 4, 4);
}

static void c_machine(GByteArray *s, const Landmarks *l)
{
    s->data[l->machine_name + 3] = 'o';
}

static void c_no_config(GByteArray *s, const Landmarks *l)
{
    s->data[8] = QEMU_VM_SECTION_START;
}

static void c_ramblock_name(GByteArray *s, const Landmarks *l)
{
    s->data[l->block_id + 5] = 'x';
}

static void c_ramblock_len(GByteArray *s, const Landmarks *l)
{
    wr_be64(s->data + l->block_len, 4 * MiB);
}

static void c_page_offset(GByteArray *s, const Landmarks *l)
{
    wr_be64(s->data + l->first_page, 8 * MiB | RAM_SAVE_FLAG_PAGE);
}

static void c_page_offset_huge(GByteArray *s, const Landmarks *l)
{
    wr_be64(s->data + l->first_page,
            (UINT64_MAX & TARGET_PAGE_MASK) | RAM_SAVE_FLAG_PAGE);
}

static void c_page_block(GByteArray *s, const Landmarks *l)
{
    s->data[l->first_page + 8 + 1] = 'q';
}

static void c_page_continue(GByteArray *s, const Landmarks *l)
{
    /* CONTINUE with no previous block (the idstr then reads as data) */
    wr_be64(s->data + l->first_page,
            RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_CONTINUE);
}

static void c_page_flags(GByteArray *s, const Landmarks *l)
{
    wr_be64(s->data + l->first_page, RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_ZERO);
}

static void c_zero_fill(GByteArray *s, const Landmarks *l)
{
    /* page 0 is a pattern page; page 1 follows as a ZERO record */
    size_t rec = l->first_page + 8 + 7 + TARGET_PAGE_SIZE;
    g_assert_cmphex(rd_be64(s->data + rec), ==,
                    TARGET_PAGE_SIZE | RAM_SAVE_FLAG_ZERO |
                        RAM_SAVE_FLAG_CONTINUE);
    g_assert_cmphex(s->data[rec + 8], ==, 0);
    s->data[rec + 8] = 0x42;
}

static void c_footer(GByteArray *s, const Landmarks *l)
{
    s->data[l->start_footer] = 0x7f;
}

static void c_footer_id(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + l->start_footer + 1, 3);
}

static void c_section_type(GByteArray *s, const Landmarks *l)
{
    s->data[l->first_part] = 0x09;
}

static void c_section_id(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + l->first_part + 1, 77);
}

static void c_section_name(GByteArray *s, const Landmarks *l)
{
    s->data[l->ram_start + 7] = 'b';
}

static void c_ram_version(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + l->ram_start + 13, 5);
}

static void c_ram_version_old(GByteArray *s, const Landmarks *l)
{
    wr_be32(s->data + l->ram_start + 13, 3);
}

static void c_mem_size(GByteArray *s, const Landmarks *l)
{
    /* total smaller than the first block */
    wr_be64(s->data + l->mem_size, MiB | RAM_SAVE_FLAG_MEM_SIZE);
}

static void c_capabilities(GByteArray *s, const Landmarks *l)
{
    /* the byte after the machine name claims a subsection */
    s->data[l->machine_name + 4] = QEMU_VM_SUBSECTION;
}

static void test_stream_corruptions(void)
{
    static const struct {
        Corrupt fn;
        const char *expect;
    } cases[] = {
        { c_bad_magic, "Not a migration stream" },
        { c_version2, "obsolete" },
        { c_version4, "Unsupported migration stream version 4" },
        { c_machine, "Machine type received is 'mino' and local is 'mini'" },
        { c_no_config, "Configuration section missing" },
        { c_ramblock_name, "Unknown ramblock \"pc.rxm\"" },
        { c_ramblock_len, "Length mismatch" },
        { c_page_offset, "Illegal RAM offset 0x800000" },
        { c_page_offset_huge, "Illegal RAM offset" },
        { c_page_block, "Can't find block qc.ram" },
        { c_page_continue, "CONTINUE flag without a previous RAM block" },
        { c_page_flags, "Unknown combination of migration flags: 0xa" },
        { c_zero_fill, "Found a zero page with value 66" },
        { c_footer, "section footer" },
        { c_footer_id, "section footer" },
        { c_section_type, "Unknown savevm section type 9" },
        { c_section_id, "Unknown savevm section 77" },
        { c_section_name, "Unknown savevm section or instance 'rbm' 0" },
        { c_ram_version, "unsupported version 5" },
        { c_ram_version_old, "Unsupported ram section version 3" },
        { c_mem_size, "longer than the total" },
        { c_capabilities, "Unknown configuration subsection" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        check_corruption(cases[i].fn, cases[i].expect);
    }
    restore_good_state();
}

/*
 * A source may number its sections differently (ids are the source's);
 * loading such a stream must not change the ids this VM sends later.
 */
static void test_stream_section_ids_stable(void)
{
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, good_stream->data, good_stream->len);

    /* globalstate: FULL, id 4 -> 40, with its footer */
    static const uint8_t gs_hdr[] = {
        QEMU_VM_SECTION_FULL,
        0,
        0,
        0,
        4,
        11,
        'g',
        'l',
        'o',
        'b',
        'a',
        'l',
        's',
        't',
        'a',
        't',
        'e',
    };
    ssize_t off = find_bytes(copy->data, copy->len, gs_hdr, sizeof(gs_hdr));
    g_assert_cmpint(off, >, 0);
    /* instance, version, be32 size, 100 bytes runstate, then the footer */
    size_t footer = off + sizeof(gs_hdr) + 4 + 4 + 4 + 100;
    g_assert_cmphex(copy->data[footer], ==, QEMU_VM_SECTION_FOOTER);
    g_assert_cmpuint(rd_be32(copy->data + footer + 1), ==, 4);
    wr_be32(copy->data + off + 1, 40);
    wr_be32(copy->data + footer + 1, 40);

    GError *err = NULL;
    g_assert_true(load_bytes(copy->data, copy->len, &err));
    g_assert_no_error(err);

    g_autoptr(GByteArray) again = save_stream();
    g_assert_cmpmem(again->data, again->len, good_stream->data,
                    good_stream->len);
}

/* A QEMU 10.0+ SWITCHOVER_START command is accepted; others are not. */
static void test_stream_command(void)
{
    Landmarks l = find_landmarks(good_stream);
    find_classic_landmarks(good_stream, &l);
    static const uint8_t switchover[] = { QEMU_VM_COMMAND, 0, 11, 0, 0 };
    static const uint8_t ping[] = { QEMU_VM_COMMAND, 0, 2, 0, 4, 0, 0, 0, 1 };
    GError *err = NULL;

    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, good_stream->data, l.first_part);
    g_byte_array_append(copy, switchover, sizeof(switchover));
    g_byte_array_append(copy, good_stream->data + l.first_part,
                        good_stream->len - l.first_part);
    g_assert_true(load_bytes(copy->data, copy->len, &err));
    g_assert_no_error(err);

    g_byte_array_set_size(copy, 0);
    g_byte_array_append(copy, good_stream->data, l.first_part);
    g_byte_array_append(copy, ping, sizeof(ping));
    g_byte_array_append(copy, good_stream->data + l.first_part,
                        good_stream->len - l.first_part);
    load_expect_fail(copy->data, copy->len, "Unsupported migration command 2");

    /* A truncated command */
    g_byte_array_set_size(copy, 0);
    g_byte_array_append(copy, good_stream->data, l.first_part);
    g_byte_array_append(copy, (const uint8_t *)"\x08\x00\x0b\x01\x00", 5);
    load_expect_fail(copy->data, copy->len, NULL);
    restore_good_state();
}

/* ---- mapped-ram ---- */

typedef struct {
    char *path;
    GByteArray *data; /* whole file */
    size_t hdr;       /* pc.ram MappedRamHeader */
    uint64_t bitmap_offset;
    uint64_t pages_offset;
} MappedFile;

static MappedFile mapped;

static void mapped_save(void)
{
    set_mapped_ram(true);
    write_pattern();
    mapped.path = g_build_filename(tmp_dir, "mapped-ram", NULL);
    int fd = open(mapped.path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    save_to_fd(fd);

    fd = open(mapped.path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    mapped.data = fd_contents(fd);
    close(fd);

    Landmarks l = find_landmarks(mapped.data);
    mapped.hdr = l.block_len + 8;
    const uint8_t *h = mapped.data->data + mapped.hdr;
    g_assert_cmpuint(rd_be32(h), ==, MAPPED_RAM_HDR_VERSION);
    g_assert_cmpuint(rd_be64(h + 4), ==, TARGET_PAGE_SIZE);
    mapped.bitmap_offset = rd_be64(h + 12);
    mapped.pages_offset = rd_be64(h + 20);
    g_assert_cmpuint(mapped.bitmap_offset, ==, mapped.hdr + 28);
    g_assert_cmpuint(mapped.pages_offset % MAPPED_RAM_FILE_OFFSET_ALIGNMENT, ==,
                     0);
    g_assert_cmpuint(mapped.pages_offset + 8 * MiB, <, mapped.data->len);
    /* the next block record follows the pages region */
    g_assert_cmpmem(mapped.data->data + mapped.pages_offset + 8 * MiB, 9,
                    "\x08vga.vram", 9);
}

/* Write @len bytes of @data to a fresh file and load it. */
static bool mapped_load_bytes(const uint8_t *data, size_t len, GError **errp)
{
    g_autofree char *path = g_build_filename(tmp_dir, "mapped-ram-in", NULL);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

    g_assert_cmpint(fd, >=, 0);
    /* keep it sparse: write only the non-zero 4 KiB pieces */
    for (size_t off = 0; off < len; off += 4096) {
        size_t n = MIN(4096, len - off);
        if (n < 4096 || !buffer_is_zero(data + off, n)) {
            g_assert_cmpint(pwrite(fd, data + off, n, off), ==, (ssize_t)n);
        }
    }
    g_assert_cmpint(ftruncate(fd, len), ==, 0);
    bool ok = load_fd(fd, errp);
    g_unlink(path);
    return ok;
}

static void mapped_expect_fail(const GByteArray *a, size_t len,
                               const char *substr)
{
    GError *err = NULL;

    if (mapped_load_bytes(a->data, len, &err)) {
        g_error("mapped-ram load unexpectedly succeeded (expected '%s')",
                substr ? substr : "any error");
    }
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, !=, "");
    if (substr && !strstr(err->message, substr)) {
        g_error("error '%s' does not contain '%s'", err->message, substr);
    }
    g_error_free(err);
}

/* ---- absurd lengths: clean errors within bounded memory ---- */

#if defined(__SANITIZE_ADDRESS__)
#define LIMIT_ADDRESS_SPACE 0 /* ASan reserves terabytes of shadow */
#else
#define LIMIT_ADDRESS_SPACE 1
#endif

/*
 * While loading a file that lies about a length, the loader may not
 * allocate more than this: the address space is capped at what the
 * process uses now plus this much, so a trusted length makes g_malloc()
 * fail and the test abort.
 */
#define LOAD_ALLOC_LIMIT (64 * MiB)

static struct rlimit saved_as_limit;

static void address_space_cap(void)
{
    if (!LIMIT_ADDRESS_SPACE) {
        return;
    }
    g_autofree char *status = NULL;
    g_assert_true(
        g_file_get_contents("/proc/self/status", &status, NULL, NULL));
    const char *vm = strstr(status, "VmSize:");
    g_assert_nonnull(vm);
    uint64_t now = g_ascii_strtoull(vm + strlen("VmSize:"), NULL, 10) * KiB;
    g_assert_cmpint(getrlimit(RLIMIT_AS, &saved_as_limit), ==, 0);
    struct rlimit rl = { now + LOAD_ALLOC_LIMIT, saved_as_limit.rlim_max };
    g_assert_cmpint(setrlimit(RLIMIT_AS, &rl), ==, 0);
}

static void address_space_uncap(void)
{
    if (LIMIT_ADDRESS_SPACE) {
        g_assert_cmpint(setrlimit(RLIMIT_AS, &saved_as_limit), ==, 0);
    }
}

/* Load @copy under the cap; it must fail with @expect in the message. */
static void limits_expect_fail(GByteArray *copy, bool mapped,
                               const char *expect)
{
    address_space_cap();
    if (mapped) {
        mapped_expect_fail(copy, copy->len, expect);
    } else {
        load_expect_fail(copy->data, copy->len, expect);
    }
    address_space_uncap();
}

static GByteArray *copy_of(const GByteArray *a)
{
    GByteArray *c = g_byte_array_sized_new(a->len);
    g_byte_array_append(c, a->data, a->len);
    return c;
}

/* Offset of the VM description's 0x06 byte (after EOF) in @s. */
static size_t find_vmdesc(const GByteArray *s)
{
    for (size_t p = s->len - 6; p > 0; p--) {
        if (s->data[p] == QEMU_VM_VMDESCRIPTION &&
            s->data[p - 1] == QEMU_VM_EOF &&
            rd_be32(s->data + p + 1) == s->len - p - 5) {
            return p;
        }
    }
    g_assert_not_reached();
}

static void test_limits_stream(void)
{
    Landmarks l = find_landmarks(good_stream);
    find_classic_landmarks(good_stream, &l);
    static const uint64_t block_lengths[] = {
        UINT64_C(1) << 63,
        UINT64_MAX & TARGET_PAGE_MASK,
        UINT64_C(1) << 42,
        TARGET_PAGE_SIZE,
    };

    /* RAM block sizes from the file never size anything. */
    for (size_t i = 0; i < ARRAY_SIZE(block_lengths); i++) {
        g_autoptr(GByteArray) c = copy_of(good_stream);
        wr_be64(c->data + l.block_len, block_lengths[i]);
        limits_expect_fail(c, false, "Length mismatch");
    }
    /* A total that never ends the block list: the next bytes are read as
     * a block name and refused. */
    {
        g_autoptr(GByteArray) c = copy_of(good_stream);
        wr_be64(c->data + l.mem_size,
                (UINT64_MAX & TARGET_PAGE_MASK) | RAM_SAVE_FLAG_MEM_SIZE);
        limits_expect_fail(c, false, "Unknown ramblock");
    }
    /* An idstr of 255 bytes (the longest) first in the list, and one of
     * 0 bytes in place of pc.ram's. */
    {
        uint8_t entry[1 + 255 + 8];
        g_autoptr(GByteArray) c = g_byte_array_new();
        entry[0] = 255;
        memset(entry + 1, 'x', 255);
        wr_be64(entry + 256, TARGET_PAGE_SIZE);
        g_byte_array_append(c, good_stream->data, l.block_id);
        g_byte_array_append(c, entry, sizeof(entry));
        g_byte_array_append(c, good_stream->data + l.block_id,
                            good_stream->len - l.block_id);
        limits_expect_fail(c, false, "Unknown ramblock \"xxxxxxxx");
    }
    {
        g_autoptr(GByteArray) c = copy_of(good_stream);
        c->data[l.block_id] = 0;
        limits_expect_fail(c, false, "Unknown ramblock \"\"");
    }
    /* Machine type name length. */
    {
        g_autoptr(GByteArray) c = copy_of(good_stream);
        wr_be32(c->data + 9, UINT32_MAX);
        limits_expect_fail(c, false, "Invalid machine type name length");
        wr_be32(c->data + 9, 256);
        limits_expect_fail(c, false, "Invalid machine type name length");
    }
    /* A page record past the end of pc.rom (the smallest block). */
    {
        static const uint8_t rom_page[] = {
            0, 0,   0,   0,   0,   2,   0,   0 | RAM_SAVE_FLAG_ZERO,
            6, 'p', 'c', '.', 'r', 'o', 'm', 0,
        };
        g_autoptr(GByteArray) c = g_byte_array_new();
        g_byte_array_append(c, good_stream->data, l.first_page);
        g_byte_array_append(c, rom_page, sizeof(rom_page));
        g_byte_array_append(c, good_stream->data + l.first_page,
                            good_stream->len - l.first_page);
        limits_expect_fail(c, false,
                           "Illegal RAM offset 0x20000 in block "
                           "pc.rom");
    }
    /* A command claiming 64 KiB it does not carry. */
    {
        static const uint8_t cmd[] = { QEMU_VM_COMMAND, 0, 11, 0xff, 0xff };
        g_autoptr(GByteArray) c = g_byte_array_new();
        g_byte_array_append(c, good_stream->data, l.first_part);
        g_byte_array_append(c, cmd, sizeof(cmd));
        g_byte_array_append(c, (const uint8_t *)"short", 5);
        limits_expect_fail(c, false, "end of migration stream");
    }
    /* A VM description claiming 4 GiB: read past, never allocated. */
    {
        g_autoptr(GByteArray) c = copy_of(good_stream);
        wr_be32(c->data + find_vmdesc(c) + 1, UINT32_MAX);
        limits_expect_fail(c, false, "end of migration stream");
    }
    restore_good_state();
}

static void test_limits_mapped_ram(void)
{
    set_mapped_ram(true);
    Landmarks l = find_landmarks(mapped.data);

    /* The block length is checked before its header is read. */
    {
        g_autoptr(GByteArray) c = copy_of(mapped.data);
        wr_be64(c->data + l.block_len, UINT64_C(1) << 62);
        limits_expect_fail(c, true, "Length mismatch");
    }
    /* configuration/capabilities claiming 2^32 - 1 capabilities. */
    {
        g_autoptr(GByteArray) c = copy_of(mapped.data);
        size_t sub = l.machine_name + 4;
        g_assert_cmphex(c->data[sub], ==, QEMU_VM_SUBSECTION);
        size_t count = sub + 1 + 1 + c->data[sub + 1] + 4;
        g_assert_cmpuint(rd_be32(c->data + count), ==, 1);
        wr_be32(c->data + count, UINT32_MAX);
        limits_expect_fail(c, true, "Invalid configuration/capabilities");
    }
    /* Bitmap and pages offsets pointing far beyond the file. */
    {
        g_autoptr(GByteArray) c = copy_of(mapped.data);
        wr_be64(c->data + mapped.hdr + 12, UINT64_C(1) << 62);
        wr_be64(c->data + mapped.hdr + 20, (UINT64_C(1) << 62) + MiB);
        limits_expect_fail(c, true, "beyond the end of the file");
    }
    set_mapped_ram(false);
}

static void test_mapped_round_trip(void)
{
    set_mapped_ram(true);
    GError *err = NULL;

    zero_all_ram();
    int fd = open(mapped.path, O_RDONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(load_fd(fd, &err));
    g_assert_no_error(err);
    g_autofree char *d = pc_ram_digest();
    g_assert_cmpstr(d, ==, pattern_digest);
    g_assert_cmphex(qemu_ram_block_by_name("pc.rom")->host[128 * KiB - 1], ==,
                    0x5a);

    /* The bitmap has exactly the pattern pages set. */
    const uint8_t *bm = mapped.data->data + mapped.bitmap_offset;
    unsigned set = 0;
    for (size_t i = 0; i < 8 * MiB / TARGET_PAGE_SIZE / 8; i++) {
        set += __builtin_popcount(bm[i]);
    }
    g_assert_cmpuint(set, ==, PATTERN_PAGES);

    /* The classic stream is refused while mapped-ram is on. */
    load_expect_fail(good_stream->data, good_stream->len,
                     "Capability 'mapped-ram' is off in the stream");
    set_mapped_ram(false);
}

static void test_mapped_truncate(void)
{
    set_mapped_ram(true);
    const GByteArray *a = mapped.data;
    const size_t cuts[] = {
        0,
        10,
        mapped.hdr - 1,
        mapped.hdr,
        mapped.hdr + 10,
        mapped.hdr + 27,
        mapped.hdr + 28,
        mapped.bitmap_offset + 100,
        mapped.pages_offset,
        mapped.pages_offset + 4 * MiB,
        mapped.pages_offset + 8 * MiB - 1,
        mapped.pages_offset + 8 * MiB,
        a->len / 2,
        a->len - 100,
        a->len - 1,
    };

    for (size_t i = 0; i < ARRAY_SIZE(cuts); i++) {
        mapped_expect_fail(a, cuts[i], NULL);
    }
    mapped_expect_fail(a, mapped.hdr + 10,
                       "Could not read whole mapped-ram migration header");
    mapped_expect_fail(a, mapped.pages_offset + 4 * MiB,
                       "beyond the end of the file");
    set_mapped_ram(false);
}

typedef void (*HdrCorrupt)(uint8_t *h);

static void check_mapped_header(HdrCorrupt fn, const char *expect)
{
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, mapped.data->data, mapped.data->len);

    fn(copy->data + mapped.hdr);
    mapped_expect_fail(copy, copy->len, expect);
}

static void h_misaligned(uint8_t *h)
{
    wr_be64(h + 20, mapped.pages_offset + 8);
}

static void h_pages_beyond_eof(uint8_t *h)
{
    wr_be64(h + 20, ROUND_UP(mapped.data->len, MiB) + MiB);
}

static void h_pages_huge(uint8_t *h)
{
    wr_be64(h + 20, UINT64_MAX & TARGET_PAGE_MASK);
}

static void h_bitmap_over_header(uint8_t *h)
{
    wr_be64(h + 12, mapped.hdr);
}

static void h_bitmap_over_pages(uint8_t *h)
{
    wr_be64(h + 12, mapped.pages_offset - 8);
}

static void h_bitmap_huge(uint8_t *h)
{
    wr_be64(h + 12, UINT64_MAX - 8);
}

static void h_version2(uint8_t *h)
{
    wr_be32(h, 2);
}

static void h_version0(uint8_t *h)
{
    wr_be32(h, 0);
}

static void h_page_size(uint8_t *h)
{
    wr_be64(h + 4, 65536);
}

static void test_mapped_bad_header(void)
{
    set_mapped_ram(true);
    static const struct {
        HdrCorrupt fn;
        const char *expect;
    } cases[] = {
        { h_misaligned, "bad alignment" },
        { h_pages_beyond_eof, "beyond the end of the file" },
        { h_pages_huge, "beyond the end of the file" },
        { h_bitmap_over_header, "overlaps" },
        { h_bitmap_over_pages, "overlaps" },
        { h_bitmap_huge, "overlaps" },
        { h_version2, "version not supported" },
        { h_version0, "version not supported" },
        { h_page_size, "page size 65536" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        check_mapped_header(cases[i].fn, cases[i].expect);
    }
    set_mapped_ram(false);
}

/* Page records are invalid in a mapped-ram stream. */
static void test_mapped_bad_flags(void)
{
    set_mapped_ram(true);
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, mapped.data->data, mapped.data->len);
    /* the EOS that ends the setup payload follows the last block */
    size_t p = mapped.pages_offset + 8 * MiB;
    p += 1 + copy->data[p] + 8 + 28;            /* vga.vram + its header */
    p = rd_be64(copy->data + p - 8) + 16 * MiB; /* its pages_offset + len */
    p += 1 + copy->data[p] + 8 + 28;            /* pc.rom */
    p = rd_be64(copy->data + p - 8) + 128 * KiB;
    g_assert_cmphex(rd_be64(copy->data + p), ==, RAM_SAVE_FLAG_EOS);
    wr_be64(copy->data + p, RAM_SAVE_FLAG_ZERO);
    mapped_expect_fail(copy, copy->len, "Unexpected RAM flags: 0x2");
    set_mapped_ram(false);
}

/* Random bit flips in the framing and bitmap of the mapped-ram file. */
static void test_mapped_bitflip(void)
{
    set_mapped_ram(true);
    g_autoptr(GByteArray) copy = g_byte_array_new();
    g_byte_array_append(copy, mapped.data->data, mapped.data->len);
    unsigned fails = 0;

    rng_state = 0x5eed5eed5eed5eedULL;
    for (int i = 0; i < 40; i++) {
        /* header area of pc.ram and its bitmap */
        size_t pos = rng_next() % (mapped.bitmap_offset + 256);
        uint8_t bit = 1u << (rng_next() % 8);
        GError *err = NULL;
        copy->data[pos] ^= bit;
        if (!mapped_load_bytes(copy->data, copy->len, &err)) {
            g_assert_nonnull(err);
            g_assert_cmpstr(err->message, !=, "");
            g_error_free(err);
            fails++;
        }
        copy->data[pos] ^= bit;
    }
    g_assert_cmpuint(fails, >, 0);
    set_mapped_ram(false);
}

/* Back to the classic stream: the good stream loads again. */
static void test_mapped_cleanup(void)
{
    g_assert_false(migrate_mapped_ram());
    restore_good_state();
}

int main(int argc, char **argv)
{
    GError *err = NULL;

    g_test_init(&argc, &argv, NULL);

    tmp_dir = g_build_filename(g_get_tmp_dir(), "test-loader-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(tmp_dir));

    /* As vl.c's vm_setup(), without serial, monitors and qtest. */
    bql_lock();
    machine.type = g_strdup("mini");
    if (!machine_init(&machine, &err)) {
        g_error("machine_init: %s", err->message);
    }
    migration_object_init();
    machine_register_devices(&machine, false);

    write_pattern();
    pattern_digest = pc_ram_digest();
    good_stream = save_stream();
    mapped_save();
    set_mapped_ram(false);

    g_test_add_func("/loader/stream/round-trip", test_stream_round_trip);
    g_test_add_func("/loader/stream/truncate", test_stream_truncate);
    g_test_add_func("/loader/stream/bitflip", test_stream_bitflip);
    g_test_add_func("/loader/stream/overwrite", test_stream_overwrite);
    g_test_add_func("/loader/stream/corruptions", test_stream_corruptions);
    g_test_add_func("/loader/stream/section-ids-stable",
                    test_stream_section_ids_stable);
    g_test_add_func("/loader/stream/command", test_stream_command);
    g_test_add_func("/loader/mapped-ram/round-trip", test_mapped_round_trip);
    g_test_add_func("/loader/mapped-ram/truncate", test_mapped_truncate);
    g_test_add_func("/loader/mapped-ram/bad-header", test_mapped_bad_header);
    g_test_add_func("/loader/mapped-ram/bad-flags", test_mapped_bad_flags);
    g_test_add_func("/loader/mapped-ram/bitflip", test_mapped_bitflip);
    g_test_add_func("/loader/mapped-ram/cleanup", test_mapped_cleanup);
    g_test_add_func("/loader/limits/stream", test_limits_stream);
    g_test_add_func("/loader/limits/mapped-ram", test_limits_mapped_ram);

    int ret = g_test_run();

    g_unlink(mapped.path);
    g_byte_array_unref(good_stream);
    g_byte_array_unref(mapped.data);
    g_free(mapped.path);
    g_free(pattern_digest);
    g_rmdir(tmp_dir);
    g_free(tmp_dir);
    if (cpus) {
        pause_all_vcpus();
        cpus_destroy();
    }
    qemu_ram_free_all();
    bql_unlock();
    return ret;
}
