/*
 * Fuzz mapmig-img's file parser (migration/migfile.c): migfile_open() walks
 * the input as a migration file of either layout — header, configuration
 * subsections, the RAM block list, mapped-ram headers and bitmaps, page
 * records, device sections sized from the VM description JSON or by the
 * footer scan, EOF and the VM description — and must refuse anything
 * malformed with an "offset 0x...: " message.  Every page record is
 * handed to a callback, as `mapmig-img extract` does, and every mapped-ram
 * bitmap of an accepted file is read back.  A small accepted file is then
 * converted to the other RAM layout (migration/migfile-convert.c), which
 * must give a file migfile_open() accepts with the same blocks, and its
 * first block is extracted.
 */
#include "qemu/osdep.h"
#include "tests/fuzz/fuzz.h"
#include "migration/migfile-convert.h"

#include <sys/mman.h>

/* Convert only files whose RAM is at most this large: outputs stay small. */
#define CONVERT_MAX_RAM (64 * MiB)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    return 0;
}

/* Read every byte of each page, so the sanitizers see the buffer. */
static bool page_cb(void *opaque, MigFile *mf, MigBlock *b, uint64_t offset,
                    const uint8_t *data, uint8_t fill, GError **errp)
{
    uint64_t *sum = opaque;

    if (offset >= b->length || offset % TARGET_PAGE_SIZE) {
        g_error("fuzz-migfile: page 0x%" PRIx64 " outside block %s", offset,
                b->name);
    }
    if (data) {
        for (size_t i = 0; i < TARGET_PAGE_SIZE; i++) {
            *sum += data[i];
        }
    } else {
        *sum += fill;
    }
    return true;
}

/* A new empty memfd's path ("/proc/self/fd/N"); *fd to close. */
static char *out_memfd(int *fd)
{
    *fd = memfd_create("fuzz-migfile-out", MFD_CLOEXEC);
    if (*fd < 0) {
        g_error("fuzz-migfile: memfd_create: %s", g_strerror(errno));
    }
    return g_strdup_printf("/proc/self/fd/%d", *fd);
}

static bool convertible(MigFile *mf)
{
    uint64_t total = 0;

    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (b->ignored) {
            return false;
        }
        total += b->length;
    }
    return mf->have_ram && total <= CONVERT_MAX_RAM;
}

/* Convert @mf to the other layout and read the result back. */
static void convert_and_extract(MigFile *mf)
{
    MigLayout to = mf->layout == MIG_LAYOUT_STREAM ? MIG_LAYOUT_MAPPED_RAM
                                                   : MIG_LAYOUT_STREAM;
    GError *err = NULL;
    int fd;
    g_autofree char *out = out_memfd(&fd);

    if (!migfile_convert(mf, to, out, &err)) {
        g_error("fuzz-migfile: convert of an accepted file: %s", err->message);
    }
    g_autoptr(MigFile) conv = migfile_open(out, 0, NULL, NULL, &err);
    if (!conv) {
        g_error("fuzz-migfile: converted file refused: %s", err->message);
    }
    if (conv->layout != to || conv->blocks->len != mf->blocks->len) {
        g_error("fuzz-migfile: converted file has other blocks");
    }
    close(fd);
    if (mf->blocks->len) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, 0);
        g_autofree char *raw = out_memfd(&fd);
        if (!migfile_extract_block(mf, b->name, raw, &err)) {
            g_error("fuzz-migfile: extract of an accepted file: %s",
                    err->message);
        }
        close(fd);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd_with(data, size);
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    GError *err = NULL;
    uint64_t sum = 0;

    MigFile *mf = migfile_open(path, 0, page_cb, &sum, &err);
    if (!mf) {
        close(fd);
        /* Problems in the file are reported with their file offset. */
        if (err && !g_str_has_prefix(err->message, "offset 0x")) {
            g_error("fuzz-migfile: error without an offset: %s", err->message);
        }
        fuzz_check_result(false, err);
        return 0;
    }
    for (guint i = 0; i < mf->blocks->len; i++) {
        MigBlock *b = &g_array_index(mf->blocks, MigBlock, i);
        if (mf->layout == MIG_LAYOUT_MAPPED_RAM) {
            g_autofree unsigned long *bmap = migfile_read_bitmap(mf, b, &err);
            if (!bmap) {
                g_error("fuzz-migfile: bitmap of an accepted file: %s",
                        err->message);
            }
        }
    }
    if (convertible(mf)) {
        convert_and_extract(mf); /* walks @path again: fd still open */
    }
    migfile_free(mf);
    close(fd);
    fuzz_check_result(true, NULL);
    return 0;
}
