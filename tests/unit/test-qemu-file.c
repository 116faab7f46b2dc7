/*
 * Unit tests for QEMUFile (migration/qemu-file.c) over a file channel:
 * big-endian integers, buffers, counted strings, by-reference buffers,
 * sticky errors, offsets and positioned I/O.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/qemu-file.h"

#include <glib/gstdio.h>
#include <signal.h>

#define IO_BUF_SIZE 32768

typedef struct {
    char *dir;
    char *path;
} TmpFile;

static void tmp_init(TmpFile *t)
{
    t->dir = g_build_filename(g_get_tmp_dir(), "test-qemu-file-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(t->dir));
    t->path = g_build_filename(t->dir, "stream", NULL);
}

static void tmp_cleanup(TmpFile *t)
{
    g_unlink(t->path);
    g_assert_cmpint(g_rmdir(t->dir), ==, 0);
    g_free(t->path);
    g_free(t->dir);
}

static QEMUFile *open_file(TmpFile *t, bool output)
{
    GError *err = NULL;
    QIOChannelFile *fioc = qio_channel_file_new_path(
        t->path, output ? (O_RDWR | O_CREAT | O_TRUNC) : O_RDONLY, 0600, &err);

    g_assert_no_error(err);
    g_assert_nonnull(fioc);
    QEMUFile *f = output ? qemu_file_new_output(&fioc->parent)
                         : qemu_file_new_input(&fioc->parent);
    qio_channel_unref(&fioc->parent); /* the QEMUFile holds a reference */
    return f;
}

static void close_ok(QEMUFile *f)
{
    GError *err = NULL;

    g_assert_cmpint(qemu_fclose(f, &err), ==, 0);
    g_assert_no_error(err);
}

static uint8_t *file_contents(TmpFile *t, gsize *len)
{
    gchar *data = NULL;
    GError *err = NULL;

    g_assert_true(g_file_get_contents(t->path, &data, len, &err));
    g_assert_no_error(err);
    return (uint8_t *)data;
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 13 + (i >> 9));
    }
}

/* Integers are big-endian on the wire and read back unchanged. */
static void test_integers(void)
{
    TmpFile t;
    tmp_init(&t);

    QEMUFile *f = open_file(&t, true);
    qemu_put_byte(f, 0xab);
    qemu_put_be16(f, 0x0102);
    qemu_put_be32(f, 0x03040506);
    qemu_put_be64(f, 0x0708090a0b0c0d0eULL);
    qemu_put_be64(f, UINT64_MAX);
    qemu_put_be32(f, 0);
    g_assert_cmpuint(qemu_file_transferred(f), ==, 1 + 2 + 4 + 8 + 8 + 4);
    close_ok(f);

    static const uint8_t expect[] = {
        0xab, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
    };
    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpmem(data, len, expect, sizeof(expect));

    f = open_file(&t, false);
    g_assert_cmphex(qemu_get_byte(f), ==, 0xab);
    g_assert_cmphex(qemu_get_be16(f), ==, 0x0102);
    g_assert_cmphex(qemu_get_be32(f), ==, 0x03040506);
    g_assert_cmphex(qemu_get_be64(f), ==, 0x0708090a0b0c0d0eULL);
    g_assert_cmphex(qemu_get_be64(f), ==, UINT64_MAX);
    g_assert_cmphex(qemu_get_be32(f), ==, 0);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    g_assert_cmpuint(qemu_file_transferred(f), ==, sizeof(expect));
    close_ok(f);
    tmp_cleanup(&t);
}

/* Buffers and counted strings (including the 255-byte cut). */
static void test_bytes_and_strings(void)
{
    TmpFile t;
    tmp_init(&t);
    char long_str[400];
    memset(long_str, 'x', sizeof(long_str) - 1);
    long_str[sizeof(long_str) - 1] = 0;

    QEMUFile *f = open_file(&t, true);
    qemu_put_buffer(f, "hello", 5);
    qemu_put_counted_string(f, "pc.ram");
    qemu_put_counted_string(f, "");
    qemu_put_counted_string(f, long_str);
    qemu_put_buffer(f, "!", 1);
    close_ok(f);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpuint(len, ==, 5 + 7 + 1 + 256 + 1);
    g_assert_cmpmem(data, 12, "hello\x06pc.ram", 12);
    g_assert_cmpuint(data[12], ==, 0);
    g_assert_cmpuint(data[13], ==, 255);

    f = open_file(&t, false);
    char buf[256];
    char five[5];
    g_assert_cmpuint(qemu_get_buffer(f, five, 5), ==, 5);
    g_assert_cmpmem(five, 5, "hello", 5);
    g_assert_true(qemu_get_counted_string(f, buf));
    g_assert_cmpstr(buf, ==, "pc.ram");
    g_assert_true(qemu_get_counted_string(f, buf));
    g_assert_cmpstr(buf, ==, "");
    g_assert_true(qemu_get_counted_string(f, buf));
    g_assert_cmpuint(strlen(buf), ==, 255);
    g_assert_cmpuint(qemu_get_byte(f), ==, '!');
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    close_ok(f);
    tmp_cleanup(&t);
}

/*
 * Buffers larger than the 32 KiB internal buffer, at unaligned positions,
 * interleaved with small puts, read back both in large and small pieces.
 */
static void test_large_buffers(void)
{
    TmpFile t;
    tmp_init(&t);
    const size_t sizes[] = {
        IO_BUF_SIZE - 1,      IO_BUF_SIZE, IO_BUF_SIZE + 1,
        3 * IO_BUF_SIZE + 17, 100,         IO_BUF_SIZE / 2
    };
    size_t total = 0;

    QEMUFile *f = open_file(&t, true);
    qemu_put_byte(f, 0x55); /* misalign everything that follows */
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        g_autofree uint8_t *b = g_malloc(sizes[i]);
        fill_pattern(b, sizes[i], i);
        qemu_put_be32(f, sizes[i]);
        qemu_put_buffer(f, b, sizes[i]);
        total += 4 + sizes[i];
    }
    g_assert_cmpuint(qemu_file_transferred(f), ==, total + 1);
    close_ok(f);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpuint(len, ==, total + 1);

    /* Read in one piece per put. */
    f = open_file(&t, false);
    g_assert_cmpuint(qemu_get_byte(f), ==, 0x55);
    for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
        g_autofree uint8_t *b = g_malloc(sizes[i]);
        g_autofree uint8_t *got = g_malloc(sizes[i]);
        fill_pattern(b, sizes[i], i);
        g_assert_cmpuint(qemu_get_be32(f), ==, sizes[i]);
        g_assert_cmpuint(qemu_get_buffer(f, got, sizes[i]), ==, sizes[i]);
        g_assert_cmpmem(got, sizes[i], b, sizes[i]);
    }
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    close_ok(f);

    /* Read the whole file back in odd-sized chunks. */
    f = open_file(&t, false);
    g_autofree uint8_t *all = g_malloc(len);
    size_t off = 0;
    for (size_t chunk = 1; off < len; chunk = chunk * 3 + 1) {
        size_t n = MIN(chunk % (2 * IO_BUF_SIZE), len - off);
        g_assert_cmpuint(qemu_get_buffer(f, all + off, n), ==, n);
        off += n;
    }
    g_assert_cmpmem(all, len, data, len);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    close_ok(f);
    tmp_cleanup(&t);
}

/*
 * put_buffer_async queues by reference: the data is written at the next
 * flush, in order with the copied puts around it.
 */
static void test_async_ordering(void)
{
    TmpFile t;
    tmp_init(&t);
    enum { NPAGES = 100 };
    g_autofree uint8_t *pages = g_malloc(NPAGES * 4096);
    fill_pattern(pages, NPAGES * 4096, 3);
    g_autoptr(GByteArray) expect = g_byte_array_new();

    QEMUFile *f = open_file(&t, true);
    /* More entries than the iovec array holds: forces intermediate flushes */
    for (int i = 0; i < NPAGES; i++) {
        uint8_t hdr[8];
        uint64_t be = GUINT64_TO_BE((uint64_t)i << 12 | 0x8);
        memcpy(hdr, &be, 8);
        qemu_put_be64(f, (uint64_t)i << 12 | 0x8);
        g_byte_array_append(expect, hdr, 8);
        if (i % 3 == 0) {
            /* two adjacent async buffers: may be merged */
            qemu_put_buffer_async(f, pages + i * 4096, 2048);
            qemu_put_buffer_async(f, pages + i * 4096 + 2048, 2048);
        } else {
            qemu_put_buffer_async(f, pages + i * 4096, 4096);
        }
        g_byte_array_append(expect, pages + i * 4096, 4096);
    }
    qemu_put_byte(f, 0x10);
    g_byte_array_append(expect, (const uint8_t *)"\x10", 1);
    g_assert_cmpint(qemu_fflush(f), ==, 0);
    /* After the flush the buffers may change without affecting the file. */
    memset(pages, 0xee, NPAGES * 4096);
    g_assert_cmpuint(qemu_file_transferred(f), ==, expect->len);
    close_ok(f);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpmem(data, len, expect->data, expect->len);
    tmp_cleanup(&t);
}

/* peek_byte does not consume; it can look ahead across a refill. */
static void test_peek(void)
{
    TmpFile t;
    tmp_init(&t);
    g_autofree uint8_t *b = g_malloc(IO_BUF_SIZE + 600);
    fill_pattern(b, IO_BUF_SIZE + 600, 9);

    QEMUFile *f = open_file(&t, true);
    qemu_put_buffer(f, b, IO_BUF_SIZE + 600);
    close_ok(f);

    f = open_file(&t, false);
    g_assert_cmpuint(qemu_peek_byte(f, 0), ==, b[0]);
    g_assert_cmpuint(qemu_peek_byte(f, 0), ==, b[0]);
    g_assert_cmpuint(qemu_peek_byte(f, 300), ==, b[300]);
    g_assert_cmpuint(qemu_get_byte(f), ==, b[0]);
    g_assert_cmpuint(qemu_peek_byte(f, 0), ==, b[1]);
    /* Move close to the end of the internal buffer, peek beyond it. */
    g_autofree uint8_t *tmp = g_malloc(IO_BUF_SIZE);
    qemu_get_buffer(f, tmp, IO_BUF_SIZE - 100);
    size_t pos = IO_BUF_SIZE - 99;
    for (size_t i = 0; i < 300; i += 37) {
        g_assert_cmpuint(qemu_peek_byte(f, i), ==, b[pos + i]);
    }
    g_assert_cmpuint(qemu_get_byte(f), ==, b[pos]);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    /* Peek past the end: error, 0 returned. */
    size_t left = IO_BUF_SIZE + 600 - pos - 1;
    g_assert_cmpuint(qemu_peek_byte(f, left - 1), ==, b[pos + left]);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    g_assert_cmpuint(qemu_peek_byte(f, left), ==, 0);
    g_assert_cmpint(qemu_file_get_error(f), <, 0);
    GError *err = NULL;
    g_assert_cmpint(qemu_fclose(f, &err), <, 0);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "end of migration stream"));
    g_error_free(err);
    tmp_cleanup(&t);
}

/*
 * Reading beyond the end: a sticky error with a clear message; gets return
 * zeros (also for later gets of data that would otherwise be there).
 */
static void test_get_eof(void)
{
    TmpFile t;
    tmp_init(&t);

    QEMUFile *f = open_file(&t, true);
    qemu_put_be32(f, 0xdeadbeef);
    qemu_put_be16(f, 0xcafe);
    close_ok(f);

    f = open_file(&t, false);
    g_assert_cmphex(qemu_get_be32(f), ==, 0xdeadbeef);
    /*
     * 2 bytes left: the be64 gets them and zeros for the rest, as QEMU's
     * byte-wise qemu_get_be64 does.
     */
    g_assert_cmphex(qemu_get_be64(f), ==, 0xcafe000000000000ULL);
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);
    GError *err = qemu_file_get_error_obj(f);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "Unexpected end of migration stream");
    g_error_free(err);
    /* Sticky: everything returns zero now. */
    g_assert_cmpuint(qemu_get_byte(f), ==, 0);
    g_assert_cmpuint(qemu_get_be16(f), ==, 0);
    uint8_t buf[16];
    memset(buf, 0xaa, sizeof(buf));
    g_assert_cmpuint(qemu_get_buffer(f, buf, sizeof(buf)), ==, 0);
    for (size_t i = 0; i < sizeof(buf); i++) {
        g_assert_cmpuint(buf[i], ==, 0);
    }
    char s[256];
    g_assert_false(qemu_get_counted_string(f, s));
    g_assert_cmpstr(s, ==, "");
    g_assert_cmpuint(qemu_peek_byte(f, 0), ==, 0);
    /* A later error does not replace the first one. */
    qemu_file_set_error(f, -EINVAL, "second error");
    g_assert_cmpint(qemu_file_get_error(f), ==, -EIO);

    err = NULL;
    g_assert_cmpint(qemu_fclose(f, &err), ==, -EIO);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "Unexpected end of migration stream");
    g_error_free(err);

    /* A large read (direct path) that hits EOF also zero-fills. */
    f = open_file(&t, false);
    g_autofree uint8_t *big = g_malloc(IO_BUF_SIZE * 2);
    memset(big, 0xaa, IO_BUF_SIZE * 2);
    g_assert_cmpuint(qemu_get_buffer(f, big, IO_BUF_SIZE * 2), ==, 6);
    g_assert_cmphex(big[0], ==, 0xde);
    g_assert_cmphex(big[5], ==, 0xfe);
    for (size_t i = 6; i < IO_BUF_SIZE * 2; i++) {
        g_assert_cmpuint(big[i], ==, 0);
    }
    g_assert_cmpint(qemu_file_get_error(f), <, 0);
    g_assert_cmpint(qemu_fclose(f, NULL), <, 0);
    tmp_cleanup(&t);
}

/* Empty input: the first get fails. */
static void test_get_empty(void)
{
    TmpFile t;
    tmp_init(&t);
    close_ok(open_file(&t, true));

    QEMUFile *f = open_file(&t, false);
    g_assert_cmpuint(qemu_get_be32(f), ==, 0);
    g_assert_cmpint(qemu_file_get_error(f), <, 0);
    g_assert_cmpint(qemu_fclose(f, NULL), <, 0);
    tmp_cleanup(&t);
}

/* After an error, puts are dropped and nothing more reaches the file. */
static void test_put_after_error(void)
{
    TmpFile t;
    tmp_init(&t);
    uint8_t page[4096];
    memset(page, 0x11, sizeof(page));

    QEMUFile *f = open_file(&t, true);
    qemu_put_be32(f, 0x01020304);
    g_assert_cmpint(qemu_fflush(f), ==, 0);
    qemu_put_be32(f, 0x05060708); /* buffered, dropped by the error */
    qemu_file_set_error(f, -ENOSPC, "injected error %d", 42);
    g_assert_cmpint(qemu_file_get_error(f), ==, -ENOSPC);
    uint64_t before = qemu_file_transferred(f);
    qemu_put_byte(f, 1);
    qemu_put_be64(f, 2);
    qemu_put_buffer(f, page, sizeof(page));
    qemu_put_buffer_async(f, page, sizeof(page));
    qemu_put_counted_string(f, "dropped");
    g_assert_cmpuint(qemu_file_transferred(f), ==, before);
    g_assert_cmpint(qemu_fflush(f), ==, -ENOSPC);

    GError *err = NULL;
    g_assert_cmpint(qemu_fclose(f, &err), ==, -ENOSPC);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "injected error 42");
    g_error_free(err);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpmem(data, len, "\x01\x02\x03\x04", 4);
    tmp_cleanup(&t);
}

/* qemu_file_set_error_obj with NULL makes a message from the errno. */
static void test_set_error_default_message(void)
{
    TmpFile t;
    tmp_init(&t);
    QEMUFile *f = open_file(&t, true);

    qemu_file_set_error_obj(f, -ENOSPC, NULL);
    GError *err = qemu_file_get_error_obj(f);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, g_strerror(ENOSPC));
    g_error_free(err);
    g_assert_cmpint(qemu_fclose(f, NULL), ==, -ENOSPC);
    tmp_cleanup(&t);
}

/* Offsets on output: get_offset flushes; set_offset moves the stream. */
static void test_offset_write(void)
{
    TmpFile t;
    tmp_init(&t);
    GError *err = NULL;

    QEMUFile *f = open_file(&t, true);
    g_assert_cmpint(qemu_get_offset(f), ==, 0);
    qemu_put_buffer(f, "0123456789", 10);
    g_assert_cmpint(qemu_get_offset(f), ==, 10);
    qemu_put_be16(f, 0x4142);
    /* Jump forward leaving a hole, write, then go back and patch. */
    g_assert_true(qemu_set_offset(f, 100, &err));
    g_assert_no_error(err);
    g_assert_cmpint(qemu_get_offset(f), ==, 100);
    qemu_put_buffer(f, "tail", 4);
    g_assert_cmpint(qemu_get_offset(f), ==, 104);
    g_assert_true(qemu_set_offset(f, 2, &err));
    qemu_put_byte(f, 'X');
    g_assert_cmpint(qemu_get_offset(f), ==, 3);
    close_ok(f);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpuint(len, ==, 104);
    g_assert_cmpmem(data, 12, "01X3456789AB", 12);
    for (int i = 12; i < 100; i++) {
        g_assert_cmpuint(data[i], ==, 0);
    }
    g_assert_cmpmem(data + 100, 4, "tail", 4);
    tmp_cleanup(&t);
}

/* Offsets on input account for buffered but unconsumed bytes. */
static void test_offset_read(void)
{
    TmpFile t;
    tmp_init(&t);
    GError *err = NULL;
    const size_t n = 3 * IO_BUF_SIZE + 5;
    g_autofree uint8_t *b = g_malloc(n);
    fill_pattern(b, n, 1);

    QEMUFile *f = open_file(&t, true);
    qemu_put_buffer(f, b, n);
    close_ok(f);

    f = open_file(&t, false);
    g_assert_cmpint(qemu_get_offset(f), ==, 0);
    g_assert_cmpuint(qemu_get_byte(f), ==, b[0]);
    g_assert_cmpint(qemu_get_offset(f), ==, 1);
    qemu_get_be32(f);
    g_assert_cmpint(qemu_get_offset(f), ==, 5);
    g_assert_cmpuint(qemu_peek_byte(f, 10), ==, b[15]);
    g_assert_cmpint(qemu_get_offset(f), ==, 5);

    g_assert_true(qemu_set_offset(f, IO_BUF_SIZE + 7, &err));
    g_assert_no_error(err);
    g_assert_cmpint(qemu_get_offset(f), ==, IO_BUF_SIZE + 7);
    g_assert_cmpuint(qemu_get_byte(f), ==, b[IO_BUF_SIZE + 7]);
    g_assert_cmpint(qemu_get_offset(f), ==, IO_BUF_SIZE + 8);

    /* backwards */
    g_assert_true(qemu_set_offset(f, 3, &err));
    g_assert_cmpuint(qemu_get_byte(f), ==, b[3]);
    g_autofree uint8_t *got = g_malloc(2 * IO_BUF_SIZE);
    qemu_get_buffer(f, got, 2 * IO_BUF_SIZE);
    g_assert_cmpmem(got, 2 * IO_BUF_SIZE, b + 4, 2 * IO_BUF_SIZE);
    g_assert_cmpint(qemu_get_offset(f), ==, 2 * IO_BUF_SIZE + 4);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    close_ok(f);
    tmp_cleanup(&t);
}

/* Positioned I/O does not move the stream position. */
static void test_buffer_at(void)
{
    TmpFile t;
    tmp_init(&t);
    GError *err = NULL;
    uint8_t blk[8192];
    fill_pattern(blk, sizeof(blk), 77);

    QEMUFile *f = open_file(&t, true);
    qemu_put_buffer(f, "head", 4);
    g_assert_true(qemu_put_buffer_at(f, blk, sizeof(blk), 4096, &err));
    g_assert_no_error(err);
    /* The buffered "head" was flushed first; the position is unchanged. */
    g_assert_cmpint(qemu_get_offset(f), ==, 4);
    qemu_put_buffer(f, "next", 4);
    g_assert_cmpint(qemu_get_offset(f), ==, 8);
    g_assert_true(qemu_put_buffer_at(f, "ZZ", 2, 20000, &err));
    g_assert_cmpint(qemu_get_offset(f), ==, 8);
    close_ok(f);

    gsize len;
    g_autofree uint8_t *data = file_contents(&t, &len);
    g_assert_cmpuint(len, ==, 20002);
    g_assert_cmpmem(data, 8, "headnext", 8);
    g_assert_cmpmem(data + 4096, sizeof(blk), blk, sizeof(blk));

    f = open_file(&t, false);
    g_assert_cmpuint(qemu_get_byte(f), ==, 'h');
    uint8_t got[8192];
    g_assert_true(qemu_get_buffer_at(f, got, sizeof(got), 4096, &err));
    g_assert_no_error(err);
    g_assert_cmpmem(got, sizeof(got), blk, sizeof(blk));
    g_assert_cmpint(qemu_get_offset(f), ==, 1);
    char rest[7];
    qemu_get_buffer(f, rest, 7);
    g_assert_cmpmem(rest, 7, "eadnext", 7);
    /* Reading past EOF with get_buffer_at: error, stream unaffected. */
    g_assert_false(qemu_get_buffer_at(f, got, 100, 19990, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    g_assert_cmpint(qemu_get_offset(f), ==, 8);
    close_ok(f);
    tmp_cleanup(&t);
}

/* Writing into a pipe whose reader is gone: fclose reports the error. */
static void test_fclose_epipe(void)
{
    int fds[2];
    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[0]);

    QIOChannelFile *fioc = qio_channel_file_new_fd(fds[1]);
    QEMUFile *f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);
    g_assert_cmpint(qemu_get_offset(f), ==, -1); /* pipes don't seek */
    /* get_offset recorded a seek error: start over with a fresh pipe. */
    qemu_fclose(f, NULL);

    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[0]);
    fioc = qio_channel_file_new_fd(fds[1]);
    f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);
    qemu_put_be64(f, 1);
    qemu_put_buffer(f, "data", 4);
    /* Buffered: no error until the flush in fclose. */
    g_assert_cmpint(qemu_file_get_error(f), ==, 0);
    GError *err = NULL;
    int ret = qemu_fclose(f, &err);
    g_assert_cmpint(ret, <, 0);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, g_strerror(EPIPE)));
    g_error_free(err);

    /* Same, with a flush before: fclose returns that first error. */
    g_assert_cmpint(pipe(fds), ==, 0);
    close(fds[0]);
    fioc = qio_channel_file_new_fd(fds[1]);
    f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);
    qemu_put_be32(f, 1);
    int first = qemu_fflush(f);
    g_assert_cmpint(first, <, 0);
    qemu_file_set_error(f, -EINVAL, "later");
    err = NULL;
    g_assert_cmpint(qemu_fclose(f, &err), ==, first);
    g_assert_nonnull(strstr(err->message, g_strerror(EPIPE)));
    g_error_free(err);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-file/integers", test_integers);
    g_test_add_func("/qemu-file/bytes-and-strings", test_bytes_and_strings);
    g_test_add_func("/qemu-file/large-buffers", test_large_buffers);
    g_test_add_func("/qemu-file/async-ordering", test_async_ordering);
    g_test_add_func("/qemu-file/peek", test_peek);
    g_test_add_func("/qemu-file/get-eof", test_get_eof);
    g_test_add_func("/qemu-file/get-empty", test_get_empty);
    g_test_add_func("/qemu-file/put-after-error", test_put_after_error);
    g_test_add_func("/qemu-file/set-error-default-message",
                    test_set_error_default_message);
    g_test_add_func("/qemu-file/offset/write", test_offset_write);
    g_test_add_func("/qemu-file/offset/read", test_offset_read);
    g_test_add_func("/qemu-file/buffer-at", test_buffer_at);
    g_test_add_func("/qemu-file/fclose-epipe", test_fclose_epipe);
    return g_test_run();
}
