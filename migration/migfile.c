/*
 * migfile: a defensive reader for migration files (see migfile.h).
 */
#include "migration/checksum.h"
#include "migration/migfile.h"
#include "io/channel-file.h"
#include "migration/format.h"
#include "qemu/bitmap.h"

#include <stdarg.h>
#include <sys/stat.h>

#define MIG_READ_BUF (64 * 1024)
#define MIG_SCAN_CHUNK (1 * MiB)

/* A buffered cursor over the file; never reads past mf->size. */
typedef struct Reader {
    MigFile *mf;
    uint64_t pos;
    uint64_t buf_pos;
    size_t buf_len;
    uint8_t buf[MIG_READ_BUF];
} Reader;

/* Per-walk RAM state. */
typedef struct RamWalk {
    MigBlock *last; /* for RAM_SAVE_FLAG_CONTINUE */
    bool seen_mem_size;
    bool seen_end;
    MigPageFn fn;
    void *opaque;
    uint8_t page[TARGET_PAGE_SIZE];
} RamWalk;

static void G_GNUC_PRINTF(3, 4)
    fail(GError **errp, uint64_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(errp, "offset 0x%" PRIx64 ": %s", pos, msg);
}

bool migfile_pread(MigFile *mf, void *buf, size_t len, uint64_t pos,
                   GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (pos > mf->size || len > mf->size - pos) {
        fail(errp, pos,
             "read of %zu bytes beyond the end of the file "
             "(size 0x%" PRIx64 ")",
             len, mf->size);
        return false;
    }
    if (qio_channel_pread_all(mf->ioc, buf, len, pos, &err) < 0) {
        fail(errp, pos, "read error: %s", err->message);
        return false;
    }
    mf->bytes_read += len;
    if (mf->progress) {
        mf->progress(mf->bytes_read, mf->progress_opaque);
    }
    return true;
}

static bool need(Reader *r, uint64_t n, const char *what, GError **errp)
{
    if (r->pos > r->mf->size || n > r->mf->size - r->pos) {
        fail(errp, r->pos,
             "unexpected end of file reading %s (needs %" PRIu64
             " bytes, %" PRIu64 " left): the file is truncated",
             what, n, r->pos > r->mf->size ? 0 : r->mf->size - r->pos);
        return false;
    }
    return true;
}

static bool rd_peek(Reader *r, void *out, size_t n, const char *what,
                    GError **errp)
{
    if (!need(r, n, what, errp)) {
        return false;
    }
    if (r->pos >= r->buf_pos && r->pos + n <= r->buf_pos + r->buf_len) {
        memcpy(out, r->buf + (r->pos - r->buf_pos), n);
        return true;
    }
    if (n > sizeof(r->buf)) {
        return migfile_pread(r->mf, out, n, r->pos, errp);
    }
    size_t fill = MIN(sizeof(r->buf), r->mf->size - r->pos);
    if (!migfile_pread(r->mf, r->buf, fill, r->pos, errp)) {
        r->buf_len = 0;
        return false;
    }
    r->buf_pos = r->pos;
    r->buf_len = fill;
    memcpy(out, r->buf, n);
    return true;
}

static bool rd(Reader *r, void *out, size_t n, const char *what, GError **errp)
{
    if (!rd_peek(r, out, n, what, errp)) {
        return false;
    }
    r->pos += n;
    return true;
}

static bool skip(Reader *r, uint64_t n, const char *what, GError **errp)
{
    if (!need(r, n, what, errp)) {
        return false;
    }
    r->pos += n;
    return true;
}

static bool rd_u8(Reader *r, uint8_t *v, const char *what, GError **errp)
{
    return rd(r, v, 1, what, errp);
}

static bool rd_be16(Reader *r, uint16_t *v, const char *what, GError **errp)
{
    uint16_t x;
    if (!rd(r, &x, 2, what, errp)) {
        return false;
    }
    *v = GUINT16_FROM_BE(x);
    return true;
}

static bool rd_be32(Reader *r, uint32_t *v, const char *what, GError **errp)
{
    uint32_t x;
    if (!rd(r, &x, 4, what, errp)) {
        return false;
    }
    *v = GUINT32_FROM_BE(x);
    return true;
}

static bool rd_be64(Reader *r, uint64_t *v, const char *what, GError **errp)
{
    uint64_t x;
    if (!rd(r, &x, 8, what, errp)) {
        return false;
    }
    *v = GUINT64_FROM_BE(x);
    return true;
}

/* Counted string into buf[256], NUL terminated. */
static bool rd_str8(Reader *r, char buf[256], const char *what, GError **errp)
{
    uint8_t len;
    if (!rd_u8(r, &len, what, errp) || !rd(r, buf, len, what, errp)) {
        return false;
    }
    buf[len] = 0;
    for (unsigned i = 0; i < len; i++) {
        /* idstrs and capability names are printable ASCII in QEMU */
        if (!g_ascii_isprint(buf[i])) {
            fail(errp, r->pos - len + i, "%s contains the byte 0x%02x", what,
                 (uint8_t)buf[i]);
            return false;
        }
    }
    return true;
}

MigBlock *migfile_find_block(MigFile *mf, const char *name)
{
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (!strcmp(b->name, name)) {
            return b;
        }
    }
    return NULL;
}

bool migfile_has_cap(MigFile *mf, const char *cap)
{
    for (guint i = 0; i < mf->caps->len; i++) {
        if (!strcmp(g_ptr_array_index(mf->caps, i), cap)) {
            return true;
        }
    }
    return false;
}

const char *migfile_layout_name(MigLayout l)
{
    return l == MIG_LAYOUT_MAPPED_RAM ? "mapped-ram" : "stream";
}

bool migfile_layout_from_name(const char *name, MigLayout *l)
{
    if (!strcmp(name, "stream")) {
        *l = MIG_LAYOUT_STREAM;
    } else if (!strcmp(name, "mapped-ram")) {
        *l = MIG_LAYOUT_MAPPED_RAM;
    } else {
        return false;
    }
    return true;
}

void migfile_ram_section_counts(MigFile *mf, unsigned *start, unsigned *part,
                                unsigned *end)
{
    *start = *part = *end = 0;
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (!mf->have_ram || s->section_id != mf->ram_section_id) {
            continue;
        }
        *start += s->type == QEMU_VM_SECTION_START;
        *part += s->type == QEMU_VM_SECTION_PART;
        *end += s->type == QEMU_VM_SECTION_END;
    }
}

/* ---------------------------------------------------------------- */
/* Header and configuration */

static bool parse_header(Reader *r, MigFile *mf, GError **errp)
{
    uint32_t magic;

    if (!rd_be32(r, &magic, "the file magic", errp) ||
        !rd_be32(r, &mf->version, "the file version", errp)) {
        return false;
    }
    if (magic != QEMU_VM_FILE_MAGIC) {
        fail(errp, r->pos - 8,
             "bad magic 0x%08x (expected 0x%08x 'QEVM'): "
             "not a migration file%s",
             magic, QEMU_VM_FILE_MAGIC,
             mf->base ? "" : " (use --offset if it has a header)");
        return false;
    }
    if (mf->version == QEMU_VM_FILE_VERSION_COMPAT) {
        fail(errp, r->pos - 4, "stream version 2 is obsolete");
        return false;
    }
    if (mf->version != QEMU_VM_FILE_VERSION) {
        fail(errp, r->pos - 4, "unsupported stream version %u", mf->version);
        return false;
    }
    return true;
}

static bool parse_configuration(Reader *r, MigFile *mf, GError **errp)
{
    uint8_t b;
    uint32_t len;

    if (!rd_peek(r, &b, 1, "the first section", errp)) {
        return false;
    }
    if (b != QEMU_VM_CONFIGURATION) {
        /* send-configuration=off: legal, nothing to record. */
        mf->config_offset = mf->config_end = r->pos;
        return true;
    }
    mf->config_offset = r->pos;
    r->pos++;
    if (!rd_be32(r, &len, "the machine type length", errp)) {
        return false;
    }
    if (len > 255) {
        fail(errp, r->pos - 4, "machine type name length %u is too long", len);
        return false;
    }
    if (!rd(r, mf->machine, len, "the machine type", errp)) {
        return false;
    }
    mf->machine[len] = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (!g_ascii_isprint(mf->machine[i])) {
            fail(errp, r->pos - len + i,
                 "machine type contains the byte "
                 "0x%02x",
                 (uint8_t)mf->machine[i]);
            return false;
        }
    }
    for (;;) {
        char name[256];
        uint32_t version;
        uint64_t start = r->pos;

        if (!rd_peek(r, &b, 1, "the section after the configuration", errp)) {
            return false;
        }
        if (b != QEMU_VM_SUBSECTION) {
            break;
        }
        r->pos++;
        if (!rd_str8(r, name, "a configuration subsection name", errp) ||
            !rd_be32(r, &version, "a configuration subsection version", errp)) {
            return false;
        }
        if (!strcmp(name, "configuration/capabilities")) {
            uint32_t count;
            if (!rd_be32(r, &count, "the capability count", errp)) {
                return false;
            }
            if (count > MIG_MAX_CAPS) {
                fail(errp, r->pos - 4, "implausible capability count %u",
                     count);
                return false;
            }
            for (uint32_t i = 0; i < count; i++) {
                char cap[256];
                if (!rd_str8(r, cap, "a capability name", errp)) {
                    return false;
                }
                g_ptr_array_add(mf->caps, g_strdup(cap));
            }
            continue;
        }
        if (!strcmp(name, "configuration/target-page-bits")) {
            uint32_t bits;
            if (!rd_be32(r, &bits, "the target page bits", errp)) {
                return false;
            }
            if (bits != TARGET_PAGE_BITS) {
                fail(errp, r->pos - 4,
                     "target page bits %u are not "
                     "supported (only %d)",
                     bits, TARGET_PAGE_BITS);
                return false;
            }
        } else if (!strcmp(name, "configuration/uuid")) {
            if (!skip(r, 16, "the configuration UUID", errp)) {
                return false;
            }
        } else {
            fail(errp, start, "unknown configuration subsection '%s'", name);
            return false;
        }
        /* Keep what convert copies verbatim. */
        size_t n = r->pos - start;
        uint8_t tmp[512];
        if (n > sizeof(tmp) || !migfile_pread(mf, tmp, n, start, errp)) {
            return false;
        }
        g_byte_array_append(mf->other_config, tmp, n);
    }
    mf->config_end = r->pos;
    mf->ignore_shared = migfile_has_cap(mf, "x-ignore-shared");
    mf->layout = migfile_has_cap(mf, "mapped-ram") ? MIG_LAYOUT_MAPPED_RAM
                                                   : MIG_LAYOUT_STREAM;
    return true;
}

/* ---------------------------------------------------------------- */
/* RAM */

unsigned long *migfile_read_bitmap(MigFile *mf, MigBlock *b, GError **errp)
{
    uint64_t pages = b->length / b->page_size;
    unsigned long *bmap = bitmap_new(pages);

    if (!migfile_pread(mf, bmap, bitmap_bytes(pages), b->bitmap_offset, errp)) {
        g_free(bmap);
        return NULL;
    }
    return bmap;
}

static bool mapped_ram_block(Reader *r, MigFile *mf, MigBlock *b, GError **errp)
{
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    MappedRamHeader h;
    size_t field;

    b->header_pos = r->pos;
    if (!rd(r, buf, sizeof(buf), "a mapped-ram header", errp)) {
        return false;
    }
    mapped_ram_header_unpack(buf, &h);
    b->mr_version = h.version;
    b->page_size = h.page_size;
    b->bitmap_offset = h.bitmap_offset;
    b->pages_offset = h.pages_offset;

    if (!mapped_ram_header_check_version(&h, errp)) {
        error_prepend(errp, "offset 0x%" PRIx64 ": block %s", b->header_pos,
                      b->name);
        return false;
    }
    if (mf->ignore_shared && mapped_ram_header_is_ignored(&h)) {
        b->ignored = true; /* no bitmap and no pages; r->pos is right */
        return true;
    }
    MappedRamExpect e = {
        .name = b->name,
        .length = b->length,
        .page_size = TARGET_PAGE_SIZE,
        .header_offset = b->header_pos,
        .file_size = mf->size,
    };
    if (!mapped_ram_header_check(&h, &e, &field, errp)) {
        error_prepend(errp, "offset 0x%" PRIx64, b->header_pos + field);
        return false;
    }
    uint64_t pages = b->length / b->page_size;
    uint64_t bm_bytes = bitmap_bytes(pages);
    /* The region was bounded by the file size above. */
    g_autofree unsigned long *bmap = migfile_read_bitmap(mf, b, errp);
    if (!bmap) {
        return false;
    }
    b->present_pages = bitmap_count_one(bmap, pages);
    uint64_t all = bitmap_count_one(bmap, bm_bytes * 8);
    if (all != b->present_pages) {
        fail(errp, b->bitmap_offset,
             "block %s: bitmap has %" PRIu64
             " bits set beyond the block's %" PRIu64 " pages",
             b->name, all - b->present_pages, pages);
        return false;
    }
    /* The stream continues after the pages region. */
    r->pos = b->pages_offset + b->length;
    return true;
}

static bool ram_mem_size(Reader *r, MigFile *mf, uint64_t word_pos,
                         uint64_t total, GError **errp)
{
    uint64_t seen = 0;

    if (total == 0) {
        fail(errp, word_pos, "RAM total size is zero");
        return false;
    }
    mf->ram_total = total;
    while (seen < total) {
        MigBlock b = { 0 };
        uint64_t pos = r->pos;

        if (!rd_str8(r, b.name, "a RAM block name", errp) ||
            !rd_be64(r, &b.length, "a RAM block length", errp)) {
            return false;
        }
        if (!b.name[0]) {
            fail(errp, pos, "empty RAM block name");
            return false;
        }
        if (migfile_find_block(mf, b.name)) {
            fail(errp, pos, "RAM block %s listed twice", b.name);
            return false;
        }
        if (mf->blocks->len >= MIG_MAX_BLOCKS) {
            fail(errp, pos, "more than %d RAM blocks", MIG_MAX_BLOCKS);
            return false;
        }
        if (b.length == 0 || b.length % TARGET_PAGE_SIZE ||
            b.length > MIG_MAX_BLOCK_LEN || b.length > total - seen) {
            fail(errp, r->pos - 8,
                 "RAM block %s has a bad length 0x%" PRIx64
                 " (page multiple, at most 0x%" PRIx64 " and within the "
                 "total 0x%" PRIx64 " of which 0x%" PRIx64 " are listed)",
                 b.name, b.length, (uint64_t)MIG_MAX_BLOCK_LEN, total, seen);
            return false;
        }
        seen += b.length;
        if (mf->ignore_shared &&
            !rd_be64(r, &b.mr_addr, "a RAM block address", errp)) {
            return false;
        }
        b.page_size = TARGET_PAGE_SIZE;
        if (mf->layout == MIG_LAYOUT_MAPPED_RAM &&
            !mapped_ram_block(r, mf, &b, errp)) {
            return false;
        }
        g_array_append_val(mf->blocks, b);
    }
    return true;
}

/*
 * Note that a record named @page; true the first time.  A block may
 * declare up to MIG_MAX_BLOCK_LEN, whose bitmap (128 MiB) a small file
 * must not make us allocate, 1024 times over: bitmaps are allocated
 * while all of them together stay within the file's size (plus 1 MiB),
 * after that a block tracks its pages in a hash table, which grows only
 * with the records actually in the file.
 */
static bool block_touch(MigFile *mf, MigBlock *b, uint64_t page)
{
    if (!b->touched && !b->touched_sparse) {
        uint64_t bytes = bitmap_bytes(b->length / TARGET_PAGE_SIZE);
        /* No overflow: bytes <= 128 MiB, touched_bytes <= size + 1 MiB. */
        if (mf->touched_bytes + bytes <= mf->size + MiB) {
            b->touched = bitmap_new(b->length / TARGET_PAGE_SIZE);
            mf->touched_bytes += bytes;
        } else {
            b->touched_sparse = g_hash_table_new(g_direct_hash, g_direct_equal);
        }
    }
    if (b->touched) {
        if (test_bit(page, b->touched)) {
            return false;
        }
        set_bit(page, b->touched);
        return true;
    }
    /* page < 2^30 (MIG_MAX_BLOCK_LEN): fits a pointer, + 1 so never NULL. */
    return g_hash_table_add(b->touched_sparse, GSIZE_TO_POINTER(page + 1));
}

static bool ram_page(Reader *r, MigFile *mf, RamWalk *w, uint64_t word_pos,
                     uint64_t addr, unsigned flags, GError **errp)
{
    unsigned kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
    MigBlock *b;

    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        if (!w->last) {
            fail(errp, word_pos,
                 "RAM record with CONTINUE but no previous "
                 "block");
            return false;
        }
        b = w->last;
    } else {
        char name[256];
        if (!rd_str8(r, name, "a RAM block name", errp)) {
            return false;
        }
        b = migfile_find_block(mf, name);
        if (!b) {
            fail(errp, word_pos, "RAM record for unknown block '%s'", name);
            return false;
        }
        w->last = b;
    }
    if (addr >= b->length) {
        fail(errp, word_pos,
             "RAM offset 0x%" PRIx64 " outside block %s "
             "(length 0x%" PRIx64 ")",
             addr, b->name, b->length);
        return false;
    }
    if (block_touch(mf, b, addr / TARGET_PAGE_SIZE)) {
        b->distinct_pages++;
    }
    if (kind == RAM_SAVE_FLAG_ZERO) {
        uint8_t fill;
        if (!rd_u8(r, &fill, "a zero page fill byte", errp)) {
            return false;
        }
        b->zero_records++;
        return !w->fn || w->fn(w->opaque, mf, b, addr, NULL, fill, errp);
    }
    b->page_records++;
    if (!w->fn) {
        return skip(r, TARGET_PAGE_SIZE, "page data", errp);
    }
    return rd(r, w->page, TARGET_PAGE_SIZE, "page data", errp) &&
           w->fn(w->opaque, mf, b, addr, w->page, 0, errp);
}

/* One ram section body, up to and including its EOS. */
static bool ram_body(Reader *r, MigFile *mf, RamWalk *w, uint8_t type,
                     GError **errp)
{
    for (;;) {
        uint64_t word_pos = r->pos;
        uint64_t word;

        if (!rd_be64(r, &word, "a RAM record", errp)) {
            return false;
        }
        uint64_t addr = word & TARGET_PAGE_MASK;
        unsigned flags = word & ~TARGET_PAGE_MASK;
        unsigned kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
        bool mapped = mf->layout == MIG_LAYOUT_MAPPED_RAM;

        switch (kind) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            if (type != QEMU_VM_SECTION_START || w->seen_mem_size) {
                fail(errp, word_pos,
                     "RAM block list (MEM_SIZE) outside the "
                     "setup section or repeated");
                return false;
            }
            w->seen_mem_size = true;
            if (!ram_mem_size(r, mf, word_pos, addr, errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_ZERO:
        case RAM_SAVE_FLAG_PAGE:
            if (mapped) {
                fail(errp, word_pos,
                     "page record (flags 0x%x) in a "
                     "mapped-ram stream",
                     flags);
                return false;
            }
            if (!w->seen_mem_size) {
                fail(errp, word_pos, "page record before the RAM block list");
                return false;
            }
            if (!ram_page(r, mf, w, word_pos, addr, flags, errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_MULTIFD_FLUSH:
            if (mapped || addr) {
                fail(errp, word_pos, "unexpected MULTIFD_FLUSH record");
                return false;
            }
            break;
        case RAM_SAVE_FLAG_EOS:
            if (addr || (flags & RAM_SAVE_FLAG_CONTINUE)) {
                fail(errp, word_pos, "malformed EOS record 0x%" PRIx64, word);
                return false;
            }
            if (type == QEMU_VM_SECTION_START && !w->seen_mem_size) {
                fail(errp, word_pos,
                     "RAM setup section without a block "
                     "list");
                return false;
            }
            return true;
        case RAM_SAVE_FLAG_XBZRLE:
        case RAM_SAVE_FLAG_COMPRESS_PAGE:
            fail(errp, word_pos, "%s pages are not supported",
                 kind == RAM_SAVE_FLAG_XBZRLE ? "XBZRLE" : "compressed");
            return false;
        default:
            fail(errp, word_pos, "unknown RAM record flags 0x%x", flags);
            return false;
        }
    }
}

/* ---------------------------------------------------------------- */
/* VM description and device sections */

/*
 * The stream ends at the end of the file, or where an x-checksums trailer
 * says its table starts.
 */
static void stream_end_locate(MigFile *mf)
{
    MigChecksumTrailer t;

    mf->stream_end = mf->size;
    if (mig_cksum_trailer_read(mf->ioc, mf->size, &t, NULL) &&
        t.table_offset >= mf->base) {
        mf->stream_end = t.table_offset;
        mf->has_checksums = true;
    }
}

/* Scan the tail of the stream for 0x06 + be32 len whose JSON ends it. */
static void vmdesc_locate(MigFile *mf)
{
    uint64_t avail = mf->stream_end - mf->base;
    uint64_t tries[] = { MIG_SCAN_CHUNK, MIG_MAX_VMDESC + 5 };

    for (size_t t = 0; t < G_N_ELEMENTS(tries); t++) {
        uint64_t n = MIN(avail, tries[t]);
        if (n < 6) {
            return;
        }
        g_autofree uint8_t *tail = g_malloc(n);
        if (!migfile_pread(mf, tail, n, mf->stream_end - n, NULL)) {
            return;
        }
        for (uint64_t j = n - 6;; j--) {
            if (tail[j] == QEMU_VM_VMDESCRIPTION && tail[j + 5] == '{') {
                uint32_t len = (uint32_t)tail[j + 1] << 24 |
                               (uint32_t)tail[j + 2] << 16 |
                               (uint32_t)tail[j + 3] << 8 | tail[j + 4];
                if (len == n - j - 5) {
                    VMDesc *d = vmdesc_parse((char *)tail + j + 5, len, NULL);
                    if (d) {
                        mf->vmdesc_tree = d;
                        mf->vmdesc_offset = mf->stream_end - n + j;
                        mf->vmdesc_len = len;
                        mf->vmdesc = g_strndup((char *)tail + j + 5, len);
                        return;
                    }
                }
            }
            if (j == 0) {
                break;
            }
        }
        if (n == avail) {
            return;
        }
    }
}

/* Size of a device section body according to the vmdesc, if described. */
static bool vmdesc_body_size(MigFile *mf, const MigSection *s, uint64_t *size)
{
    return mf->vmdesc_tree &&
           vmdesc_section_size(mf->vmdesc_tree, s->idstr, s->instance_id,
                               mf->size, size);
}

static bool is_footer_at(MigFile *mf, uint64_t pos, uint32_t id)
{
    uint8_t f[6];
    size_t n = pos <= mf->size ? MIN(sizeof(f), mf->size - pos) : 0;

    if (n < 5 || !migfile_pread(mf, f, n, pos, NULL)) {
        return false;
    }
    if (f[0] != QEMU_VM_SECTION_FOOTER ||
        ((uint32_t)f[1] << 24 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 8 |
         f[4]) != id) {
        return false;
    }
    if (n < 6) {
        return false; /* a footer is always followed by something */
    }
    switch (f[5]) {
    case QEMU_VM_EOF:
    case QEMU_VM_SECTION_START:
    case QEMU_VM_SECTION_PART:
    case QEMU_VM_SECTION_END:
    case QEMU_VM_SECTION_FULL:
    case QEMU_VM_COMMAND:
        return true;
    default:
        return false;
    }
}

/* The footer scan of qemu72-observed.md: first 7e+id+valid type byte. */
static bool scan_footer(MigFile *mf, uint64_t from, uint32_t id,
                        uint64_t *found)
{
    g_autofree uint8_t *buf = g_malloc(MIG_SCAN_CHUNK);

    for (uint64_t pos = from; pos < mf->size;) {
        size_t n = MIN(MIG_SCAN_CHUNK, mf->size - pos);
        if (!migfile_pread(mf, buf, n, pos, NULL)) {
            return false;
        }
        for (uint8_t *p = buf;
             (p = memchr(p, QEMU_VM_SECTION_FOOTER, buf + n - p)); p++) {
            if (is_footer_at(mf, pos + (p - buf), id)) {
                *found = pos + (p - buf);
                return true;
            }
        }
        /* Overlap so that a footer across the chunk edge is seen. */
        pos += n > 6 ? n - 5 : n;
    }
    return false;
}

static bool device_body(Reader *r, MigFile *mf, MigSection *s, GError **errp)
{
    uint64_t size;

    if (vmdesc_body_size(mf, s, &size) && size <= mf->size &&
        r->pos <= mf->size - size &&
        is_footer_at(mf, r->pos + size, s->section_id)) {
        s->size_from_vmdesc = true;
        r->pos += size;
        return true;
    }
    uint64_t at;
    if (!scan_footer(mf, r->pos, s->section_id, &at)) {
        fail(errp, s->offset,
             "device section '%s' (id %u): cannot find "
             "its end (no VM description entry and no footer): the file "
             "is truncated or corrupt",
             s->idstr, s->section_id);
        return false;
    }
    r->pos = at;
    return true;
}

/* ---------------------------------------------------------------- */
/* The walk */

static MigSection *find_start(MigFile *mf, uint32_t id)
{
    for (guint i = 0; i < mf->sections->len; i++) {
        MigSection *s = &g_array_index(mf->sections, MigSection, i);
        if (s->section_id == id && (s->type == QEMU_VM_SECTION_START ||
                                    s->type == QEMU_VM_SECTION_FULL)) {
            return s;
        }
    }
    return NULL;
}

static bool parse_section(Reader *r, MigFile *mf, RamWalk *w, uint8_t type,
                          GError **errp)
{
    MigSection s = { .type = type, .offset = r->pos - 1 };

    if (mf->sections->len >= MIG_MAX_SECTIONS) {
        fail(errp, s.offset, "more than %d sections", MIG_MAX_SECTIONS);
        return false;
    }
    if (!rd_be32(r, &s.section_id, "a section id", errp)) {
        return false;
    }
    if (type == QEMU_VM_SECTION_START || type == QEMU_VM_SECTION_FULL) {
        if (!rd_str8(r, s.idstr, "a section name", errp) ||
            !rd_be32(r, &s.instance_id, "a section instance id", errp) ||
            !rd_be32(r, &s.version_id, "a section version", errp)) {
            return false;
        }
        if (find_start(mf, s.section_id)) {
            fail(errp, s.offset, "section id %u used twice", s.section_id);
            return false;
        }
    } else {
        MigSection *st = find_start(mf, s.section_id);
        if (!st || st->type != QEMU_VM_SECTION_START) {
            fail(errp, s.offset, "%s section for unknown section id %u",
                 type == QEMU_VM_SECTION_PART ? "PART" : "END", s.section_id);
            return false;
        }
        if (w->seen_end && st->section_id == mf->ram_section_id) {
            fail(errp, s.offset, "RAM section continues after its END");
            return false;
        }
        memcpy(s.idstr, st->idstr, sizeof(s.idstr));
        s.instance_id = st->instance_id;
        s.version_id = st->version_id;
    }
    s.body_offset = r->pos;

    if (!strcmp(s.idstr, "ram") && (type != QEMU_VM_SECTION_FULL)) {
        if (type == QEMU_VM_SECTION_START) {
            if (mf->have_ram) {
                fail(errp, s.offset, "second RAM setup section");
                return false;
            }
            if (s.version_id != RAM_SECTION_VERSION) {
                fail(errp, s.offset, "unsupported ram section version %u",
                     s.version_id);
                return false;
            }
            mf->have_ram = true;
            mf->ram_section_id = s.section_id;
            mf->ram_instance_id = s.instance_id;
            mf->ram_version_id = s.version_id;
        }
        if (type == QEMU_VM_SECTION_END) {
            w->seen_end = true;
        }
        if (!ram_body(r, mf, w, type, errp)) {
            return false;
        }
    } else if (type == QEMU_VM_SECTION_FULL) {
        if (!device_body(r, mf, &s, errp)) {
            return false;
        }
    } else {
        fail(errp, s.offset, "iterative section '%s' is not supported",
             s.idstr);
        return false;
    }
    s.body_size = r->pos - s.body_offset;

    uint64_t fpos = r->pos;
    uint8_t mark;
    uint32_t id;
    if (!rd_u8(r, &mark, "a section footer", errp) ||
        !rd_be32(r, &id, "a section footer", errp)) {
        return false;
    }
    if (mark != QEMU_VM_SECTION_FOOTER || id != s.section_id) {
        fail(errp, fpos,
             "missing or wrong footer for section '%s' (id %u): "
             "read 0x%02x, id %u",
             s.idstr, s.section_id, mark, id);
        return false;
    }
    s.end = r->pos;
    g_array_append_val(mf->sections, s);
    return true;
}

static bool parse_tail(Reader *r, MigFile *mf, GError **errp)
{
    GError *err = NULL;
    uint8_t b;
    uint32_t len;

    if (r->pos == mf->stream_end) {
        /* suppress_vmdesc: legal.  Forget a false positive of the scan. */
        g_clear_pointer(&mf->vmdesc, g_free);
        g_clear_pointer(&mf->vmdesc_tree, vmdesc_free);
        mf->vmdesc_offset = 0;
        mf->vmdesc_len = 0;
        return true;
    }
    uint64_t pos = r->pos;
    if (!rd_u8(r, &b, "the VM description", errp)) {
        return false;
    }
    if (b != QEMU_VM_VMDESCRIPTION) {
        fail(errp, pos,
             "unexpected byte 0x%02x after EOF (expected the VM "
             "description 0x06 or the end of the file)",
             b);
        return false;
    }
    if (!rd_be32(r, &len, "the VM description length", errp)) {
        return false;
    }
    if (len > MIG_MAX_VMDESC || !need(r, len, "the VM description", errp)) {
        if (len > MIG_MAX_VMDESC) {
            fail(errp, pos + 1, "VM description length %u is implausible", len);
        }
        return false;
    }
    if (r->pos + len != mf->stream_end) {
        fail(errp, r->pos + len,
             "%" PRIu64 " bytes of trailing data after "
             "the VM description",
             mf->stream_end - r->pos - len);
        return false;
    }
    if (mf->vmdesc_offset != pos) {
        /* The scan did not accept it, so it is not a JSON object. */
        fail(errp, r->pos, "the VM description is not valid JSON");
        return false;
    }
    /* Both forms are read: with a configuration entry, it must agree. */
    if (mf->config_offset != mf->config_end &&
        !vmdesc_check_configuration(mf->vmdesc_tree, strlen(mf->machine),
                                    mf->caps->len,
                                    &mf->vmdesc_has_configuration, &err)) {
        fail(errp, r->pos, "%s", err->message);
        g_error_free(err);
        return false;
    }
    r->pos += len;
    return true;
}

static bool parse(Reader *r, MigFile *mf, MigPageFn fn, void *opaque,
                  GError **errp)
{
    g_autofree RamWalk *w = g_new0(RamWalk, 1);

    w->fn = fn;
    w->opaque = opaque;
    if (!parse_header(r, mf, errp) || !parse_configuration(r, mf, errp)) {
        return false;
    }
    stream_end_locate(mf);
    vmdesc_locate(mf);
    for (;;) {
        uint64_t pos = r->pos;
        uint8_t type;
        if (!rd_u8(r, &type, "a section type (no EOF marker)", errp)) {
            return false;
        }
        switch (type) {
        case QEMU_VM_EOF:
            mf->eof_offset = pos;
            if (mf->have_ram && !w->seen_end) {
                fail(errp, pos, "EOF before the RAM section's END section");
                return false;
            }
            return parse_tail(r, mf, errp);
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
        case QEMU_VM_SECTION_FULL:
            if (!parse_section(r, mf, w, type, errp)) {
                return false;
            }
            break;
        case QEMU_VM_COMMAND: {
            uint16_t cmd, len;
            if (!rd_be16(r, &cmd, "a command", errp) ||
                !rd_be16(r, &len, "a command length", errp) ||
                !skip(r, len, "command data", errp)) {
                return false;
            }
            break;
        }
        default:
            fail(errp, pos, "unknown section type 0x%02x", type);
            return false;
        }
    }
}

static MigFile *migfile_open_full(const char *path, uint64_t base, MigPageFn fn,
                                  void *opaque, const MigFile *like,
                                  GError **errp)
{
    g_autoptr(MigFile) mf = g_new0(MigFile, 1);
    struct stat st;

    if (like) {
        mf->progress = like->progress;
        mf->progress_opaque = like->progress_opaque;
        mf->bytes_read = like->bytes_read;
    }

    mf->path = g_strdup(path);
    mf->caps = g_ptr_array_new_with_free_func(g_free);
    mf->other_config = g_byte_array_new();
    mf->blocks = g_array_new(false, true, sizeof(MigBlock));
    mf->sections = g_array_new(false, true, sizeof(MigSection));
    mf->base = base;
    QIOChannelFile *fioc =
        qio_channel_file_new_path(path, O_RDONLY | O_CLOEXEC, 0, errp);
    if (!fioc) {
        return NULL;
    }
    mf->ioc = &fioc->parent;
    if (fstat(fioc->fd, &st) < 0) {
        error_setg_errno(errp, errno, "Could not stat '%s'", path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "'%s' is not a regular file", path);
        return NULL;
    }
    mf->size = st.st_size;
    mf->allocated = (uint64_t)st.st_blocks * 512;
    if (base > mf->size) {
        error_setg(errp,
                   "offset 0x%" PRIx64 ": --offset lies beyond the end "
                   "of the file (size 0x%" PRIx64 ")",
                   base, mf->size);
        return NULL;
    }
    g_autofree Reader *r = g_new0(Reader, 1);
    r->mf = mf;
    r->pos = base;
    if (!parse(r, mf, fn, opaque, errp)) {
        return NULL;
    }
    return g_steal_pointer(&mf);
}

MigFile *migfile_open(const char *path, uint64_t base, MigPageFn fn,
                      void *opaque, GError **errp)
{
    return migfile_open_full(path, base, fn, opaque, NULL, errp);
}

MigFile *migfile_reopen(const MigFile *mf, MigPageFn fn, void *opaque,
                        GError **errp)
{
    return migfile_open_full(mf->path, mf->base, fn, opaque, mf, errp);
}

void migfile_free(MigFile *mf)
{
    if (!mf) {
        return;
    }
    if (mf->ioc) {
        qio_channel_unref(mf->ioc);
    }
    if (mf->blocks) {
        for (guint i = 0; i < mf->blocks->len; i++) {
            MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
            g_free(b->touched);
            if (b->touched_sparse) {
                g_hash_table_unref(b->touched_sparse);
            }
        }
        g_array_free(mf->blocks, true);
    }
    if (mf->sections) {
        g_array_free(mf->sections, true);
    }
    if (mf->caps) {
        g_ptr_array_free(mf->caps, true);
    }
    if (mf->other_config) {
        g_byte_array_free(mf->other_config, true);
    }
    g_clear_pointer(&mf->vmdesc_tree, vmdesc_free);
    g_free(mf->vmdesc);
    g_free(mf->path);
    g_free(mf);
}

/* Check the sums of @b's present pages against its part of the table. */
static bool verify_block_pages(MigFile *mf, MigBlock *b, uint64_t table_pos,
                               GError **errp)
{
    uint64_t n = b->length / TARGET_PAGE_SIZE;
    g_autofree unsigned long *bmap = migfile_read_bitmap(mf, b, errp);
    g_autofree uint64_t *sums = g_new(uint64_t, n);
    uint8_t page[TARGET_PAGE_SIZE];

    if (!bmap || qio_channel_pread_all(mf->ioc, sums, n * sizeof(uint64_t),
                                       table_pos, errp) < 0) {
        return false;
    }
    for (uint64_t p = 0; p < n; p++) {
        if (test_bit(p, bmap) != (sums[p] != 0)) {
            error_setg(errp,
                       "the bitmap and the checksum table of ramblock %s "
                       "disagree on page 0x%" PRIx64,
                       b->name, (uint64_t)(p * TARGET_PAGE_SIZE));
            return false;
        }
    }
    for (uint64_t p = find_next_bit(bmap, n, 0); p < n;
         p = find_next_bit(bmap, n, p + 1)) {
        if (!migfile_pread(mf, page, sizeof(page),
                           b->pages_offset + p * TARGET_PAGE_SIZE, errp)) {
            return false;
        }
        if (mig_page_sum(page) != GUINT64_FROM_LE(sums[p])) {
            error_setg(errp,
                       "offset 0x%" PRIx64
                       ": checksum mismatch in page 0x%" PRIx64
                       " of ramblock %s",
                       (uint64_t)(b->pages_offset + p * TARGET_PAGE_SIZE),
                       (uint64_t)(p * TARGET_PAGE_SIZE), b->name);
            return false;
        }
    }
    return true;
}

bool migfile_verify_checksums(MigFile *mf, GError **errp)
{
    MigChecksumTrailer t;
    g_autoptr(GArray) regions = g_array_new(false, false, sizeof(MigRegion));
    uint64_t pos, meta;

    if (!mf->has_checksums) {
        return true;
    }
    if (!mig_cksum_trailer_read(mf->ioc, mf->size, &t, errp)) {
        return false;
    }
    pos = t.table_offset;
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (b->ignored) {
            continue;
        }
        MigRegion r = { b->pages_offset, b->length };
        g_array_append_val(regions, r);
        if (pos + b->length / TARGET_PAGE_SIZE * sizeof(uint64_t) >
            t.table_offset + t.table_len) {
            error_setg(errp, "the checksum table is shorter than the blocks");
            return false;
        }
        if (!verify_block_pages(mf, b, pos, errp)) {
            return false;
        }
        pos += b->length / TARGET_PAGE_SIZE * sizeof(uint64_t);
    }
    if (pos != t.table_offset + t.table_len) {
        error_setg(errp, "the checksum table does not match the blocks");
        return false;
    }
    g_autofree uint8_t *table = g_malloc(t.table_len ? t.table_len : 1);
    if (qio_channel_pread_all(mf->ioc, table, t.table_len, t.table_offset,
                              errp) < 0) {
        return false;
    }
    if (mig_checksum(table, t.table_len) != t.table_hash) {
        error_setg(errp, "the checksum table is damaged");
        return false;
    }
    if (!mig_cksum_meta_hash(mf->ioc, t.meta_start, t.table_offset,
                             (MigRegion *)regions->data, regions->len, &meta,
                             errp)) {
        return false;
    }
    if (meta != t.meta_hash) {
        error_setg(errp, "checksum mismatch in the metadata (headers, "
                         "bitmaps or device state)");
        return false;
    }
    return true;
}
