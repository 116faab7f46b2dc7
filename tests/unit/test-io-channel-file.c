/*
 * Unit tests for QIOChannelFile: positioned and full-length I/O.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "io/channel-util.h"

#include <glib/gstdio.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

typedef struct {
    char *dir;
    char *path;
} TmpFile;

static void tmp_file_init(TmpFile *t)
{
    t->dir = g_build_filename(g_get_tmp_dir(), "test-io-file-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(t->dir));
    t->path = g_build_filename(t->dir, "data", NULL);
}

static void tmp_file_cleanup(TmpFile *t)
{
    g_unlink(t->path);
    g_assert_cmpint(g_rmdir(t->dir), ==, 0);
    g_free(t->path);
    g_free(t->dir);
}

static QIOChannel *open_rw(TmpFile *t)
{
    GError *err = NULL;
    QIOChannelFile *fioc = qio_channel_file_new_path(
        t->path, O_RDWR | O_CREAT | O_TRUNC, 0600, &err);

    g_assert_no_error(err);
    g_assert_nonnull(fioc);
    return &fioc->parent;
}

static off_t fd_pos(QIOChannel *ioc)
{
    return lseek(qio_channel_get_fd(ioc), 0, SEEK_CUR);
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t seed)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + i * 7 + (i >> 8));
    }
}

/*
 * Write 3 pieces that sit at gaps in memory, read them back into a
 * differently split layout, and check both the data and the gaps.
 */
static void test_file_pwritev_preadv(void)
{
    TmpFile t;
    GError *err = NULL;
    enum { BUF = 64 * 1024, OFF = 12345 };
    g_autofree uint8_t *src = g_malloc(BUF);
    g_autofree uint8_t *dst = g_malloc(BUF);

    tmp_file_init(&t);
    QIOChannel *ioc = open_rw(&t);
    g_assert_true(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE));

    fill_pattern(src, BUF, 3);
    struct iovec wiov[] = {
        { src + 100, 5000 },   { src + 9000, 1 }, { src + 20000, 30000 },
        { src + 60000, 0 }, /* empty entries must be harmless */
        { src + 61000, 3000 },
    };
    size_t total = iov_size(wiov, ARRAY_SIZE(wiov));
    g_assert_cmpint(
        qio_channel_pwritev_all(ioc, wiov, ARRAY_SIZE(wiov), OFF, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(fd_pos(ioc), ==, 0);

    /* Hole before OFF reads as zeroes; the file ends right after. */
    struct stat st;
    g_assert_cmpint(fstat(qio_channel_get_fd(ioc), &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, OFF + total);

    memset(dst, 0xaa, BUF);
    struct iovec riov[] = {
        { dst + 1, 4000 },
        { dst + 5000, 1001 },
        { dst + 7000, 20000 },
        { dst + 30000, total - 25001 },
    };
    g_assert_cmpint(
        qio_channel_preadv_all(ioc, riov, ARRAY_SIZE(riov), OFF, &err), ==, 0);
    g_assert_no_error(err);

    /* Flatten both sides and compare. */
    g_autofree uint8_t *want = g_malloc(total);
    g_autofree uint8_t *got = g_malloc(total);
    size_t pos = 0;
    for (size_t i = 0; i < ARRAY_SIZE(wiov); i++) {
        memcpy(want + pos, wiov[i].iov_base, wiov[i].iov_len);
        pos += wiov[i].iov_len;
    }
    pos = 0;
    for (size_t i = 0; i < ARRAY_SIZE(riov); i++) {
        memcpy(got + pos, riov[i].iov_base, riov[i].iov_len);
        pos += riov[i].iov_len;
    }
    g_assert_cmpmem(got, total, want, total);
    /* Gaps between read iovecs untouched. */
    g_assert_cmpuint(dst[0], ==, 0xaa);
    g_assert_cmpuint(dst[4001], ==, 0xaa);
    g_assert_cmpuint(dst[4999], ==, 0xaa);
    g_assert_cmpuint(dst[6001], ==, 0xaa);
    g_assert_cmpuint(dst[27000], ==, 0xaa);

    /* The hole before OFF. */
    uint8_t hole[16];
    memset(hole, 1, sizeof(hole));
    g_assert_cmpint(
        qio_channel_pread_all(ioc, hole, sizeof(hole), OFF - 16, &err), ==, 0);
    for (size_t i = 0; i < sizeof(hole); i++) {
        g_assert_cmpuint(hole[i], ==, 0);
    }

    /* A single short preadv is allowed, but never returns more. */
    uint8_t one[8];
    ssize_t n = qio_channel_preadv(ioc, &(struct iovec){ one, 8 }, 1,
                                   OFF + total - 3, &err);
    g_assert_no_error(err);
    g_assert_cmpint(n, ==, 3);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

/* pread/pwrite never move the fd offset that read/write use. */
static void test_file_positioned_keeps_offset(void)
{
    TmpFile t;
    GError *err = NULL;

    tmp_file_init(&t);
    QIOChannel *ioc = open_rw(&t);

    g_assert_cmpint(qio_channel_write_all(ioc, "abcd", 4, &err), ==, 0);
    g_assert_cmpint(fd_pos(ioc), ==, 4);
    g_assert_cmpint(qio_channel_pwrite_all(ioc, "XYZ", 3, 100, &err), ==, 0);
    g_assert_cmpint(fd_pos(ioc), ==, 4);
    g_assert_cmpint(qio_channel_write_all(ioc, "ef", 2, &err), ==, 0);
    g_assert_cmpint(fd_pos(ioc), ==, 6);

    char buf[6];
    g_assert_cmpint(qio_channel_pread_all(ioc, buf, 6, 0, &err), ==, 0);
    g_assert_cmpmem(buf, 6, "abcdef", 6);
    g_assert_cmpint(qio_channel_pread_all(ioc, buf, 3, 100, &err), ==, 0);
    g_assert_cmpmem(buf, 3, "XYZ", 3);
    g_assert_cmpint(fd_pos(ioc), ==, 6);
    g_assert_no_error(err);

    g_assert_cmpint(qio_channel_seek(ioc, 2, SEEK_SET, &err), ==, 2);
    g_assert_cmpint(qio_channel_read_all(ioc, buf, 2, &err), ==, 0);
    g_assert_cmpmem(buf, 2, "cd", 2);
    g_assert_no_error(err);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

static void test_file_preadv_eof(void)
{
    TmpFile t;
    GError *err = NULL;
    char buf[32];

    tmp_file_init(&t);
    QIOChannel *ioc = open_rw(&t);
    g_assert_cmpint(qio_channel_write_all(ioc, "0123456789", 10, &err), ==, 0);

    /* Reading across the end: the bytes before it are not enough. */
    g_assert_cmpint(qio_channel_pread_all(ioc, buf, 8, 4, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "end of file"));
    g_assert_nonnull(strstr(err->message, t.path));
    g_clear_error(&err);

    /* Starting beyond the end. */
    g_assert_cmpint(qio_channel_pread_all(ioc, buf, 1, 1000, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "end of file"));
    g_clear_error(&err);

    /* Exactly up to the end is fine. */
    g_assert_cmpint(qio_channel_pread_all(ioc, buf, 6, 4, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpmem(buf, 6, "456789", 6);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

static void test_file_readv_all_eof(void)
{
    TmpFile t;
    GError *err = NULL;
    char a[4], b[3];
    struct iovec iov[] = { { a, sizeof(a) }, { b, sizeof(b) } };

    tmp_file_init(&t);
    QIOChannel *ioc = open_rw(&t);
    /* Two whole 7-byte records and half of a third. */
    g_assert_cmpint(qio_channel_write_all(ioc, "abcdefgABCDEFG123", 17, &err),
                    ==, 0);
    g_assert_cmpint(qio_channel_seek(ioc, 0, SEEK_SET, &err), ==, 0);

    g_assert_cmpint(qio_channel_readv_all_eof(ioc, iov, 2, &err), ==, 1);
    g_assert_cmpmem(a, 4, "abcd", 4);
    g_assert_cmpmem(b, 3, "efg", 3);
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, iov, 2, &err), ==, 1);
    g_assert_cmpmem(a, 4, "ABCD", 4);
    g_assert_no_error(err);

    /* End of file in the middle of a record is an error... */
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, iov, 2, &err), ==, -1);
    g_assert_nonnull(err);
    g_clear_error(&err);

    /* ...while at a record boundary it is a clean 0, for _all an error. */
    g_assert_cmpint(qio_channel_seek(ioc, 14, SEEK_SET, &err), ==, 14);
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, iov, 2, &err), ==, -1);
    g_clear_error(&err);
    g_assert_cmpint(qio_channel_seek(ioc, 0, SEEK_END, &err), ==, 17);
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, iov, 2, &err), ==, 0);
    g_assert_no_error(err);
    g_assert_cmpint(qio_channel_readv_all(ioc, iov, 2, &err), ==, -1);
    g_assert_nonnull(err);
    g_clear_error(&err);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

static void test_file_pipe_not_seekable(void)
{
    GError *err = NULL;
    int p[2];
    char buf[4] = "abc";

    g_assert_cmpint(pipe2(p, O_CLOEXEC), ==, 0);
    QIOChannel *rd = &qio_channel_file_new_fd(p[0])->parent;
    QIOChannel *wr = qio_channel_new_fd(p[1], &err);
    g_assert_no_error(err);

    g_assert_false(qio_channel_has_feature(rd, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_false(qio_channel_has_feature(wr, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_false(qio_channel_has_feature(wr, QIO_CHANNEL_FEATURE_FD_PASS));

    g_assert_cmpint(qio_channel_pwrite_all(wr, buf, 3, 0, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "positioned"));
    g_clear_error(&err);
    struct iovec iov = { buf, 3 };
    g_assert_cmpint(qio_channel_pwritev_all(wr, &iov, 1, 0, &err), ==, -1);
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_assert_cmpint(qio_channel_preadv_all(rd, &iov, 1, 0, &err), ==, -1);
    g_assert_nonnull(err);
    g_clear_error(&err);

    /* Plain streaming still works. */
    g_assert_cmpint(qio_channel_write_all(wr, "xyz", 3, &err), ==, 0);
    g_assert_cmpint(qio_channel_read_all(rd, buf, 3, &err), ==, 0);
    g_assert_cmpmem(buf, 3, "xyz", 3);
    g_assert_no_error(err);

    qio_channel_unref(rd);
    qio_channel_unref(wr);
}

static void test_file_seekable_regular(void)
{
    TmpFile t;
    GError *err = NULL;

    tmp_file_init(&t);
    g_file_set_contents(t.path, "x", 1, &err);
    g_assert_no_error(err);
    int fd = open(t.path, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    QIOChannel *ioc = qio_channel_new_fd(fd, &err);
    g_assert_no_error(err);
    g_assert_true(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_false(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SHUTDOWN));
    g_assert_cmpint(qio_channel_get_fd(ioc), ==, fd);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    g_assert_no_error(err);
    /* Close is idempotent; the object lives on until unref. */
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    g_assert_cmpint(qio_channel_get_fd(ioc), ==, -1);
    qio_channel_unref(ioc);

    /* Bad fds and paths are reported, naming them. */
    g_assert_null(qio_channel_new_fd(fd, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
    g_autofree char *missing = g_build_filename(t.dir, "missing", NULL);
    g_assert_null(qio_channel_file_new_path(missing, O_RDONLY, 0, &err));
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, missing));
    g_clear_error(&err);

    tmp_file_cleanup(&t);
}

/* A borrowed fd stays open after close and unref; errors use the name. */
static void test_file_borrowed(void)
{
    TmpFile t;
    GError *err = NULL;
    uint8_t out[100], in[100];

    tmp_file_init(&t);
    int fd = open(t.path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    g_assert_cmpint(fd, >=, 0);
    fill_pattern(out, sizeof(out), 3);

    QIOChannel *ioc = &qio_channel_file_new_borrowed(fd, "borrowed")->parent;
    g_assert_cmpint(qio_channel_pwrite_all(ioc, out, sizeof(out), 10, &err), ==,
                    0);
    g_assert_no_error(err);
    g_assert_cmpint(qio_channel_pread_all(ioc, in, sizeof(in), 1000, &err), ==,
                    -1);
    g_assert_nonnull(strstr(err->message, "'borrowed'"));
    g_clear_error(&err);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    qio_channel_unref(ioc);

    g_assert_cmpint(fcntl(fd, F_GETFD), >=, 0);
    g_assert_cmpint(pread(fd, in, sizeof(in), 10), ==, sizeof(in));
    g_assert_cmpmem(in, sizeof(in), out, sizeof(out));
    g_assert_cmpint(close(fd), ==, 0);
    tmp_file_cleanup(&t);
}

/*
 * Drop-behind and write-behind: a file written and read back through
 * behind channels, in 512 KiB pieces with forward gaps, keeps (almost)
 * nothing in the page cache, and every page reads back as written.
 */
#define BEHIND_FILE_MIB 48
#define BEHIND_PIECE (512 * KiB) /* holes of one piece: < BEHIND_GAP */

typedef struct {
    const char *name;
    bool positioned; /* pwritev/preadv, else writev/readv */
    bool behind;     /* else: the control, the pages stay cached */
} BehindCase;

static const BehindCase behind_cases[] = {
    { "stream", false, true },
    { "positioned", true, true },
    { "off", true, false },
};

/* Pieces of a positioned write skip every third: holes in the file. */
static bool behind_piece_used(const BehindCase *c, size_t i)
{
    return !c->positioned || i % 3 != 1;
}

static size_t resident_pages(const char *path)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    size_t n = 0;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    size_t pages = DIV_ROUND_UP(st.st_size, getpagesize());
    void *p = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    g_assert_true(p != MAP_FAILED);
    g_autofree unsigned char *vec = g_malloc(pages);
    g_assert_cmpint(mincore(p, st.st_size, vec), ==, 0);
    for (size_t i = 0; i < pages; i++) {
        n += vec[i] & 1;
    }
    munmap(p, st.st_size);
    close(fd);
    return n;
}

static QIOChannel *behind_open(TmpFile *t, const BehindCase *c, int flags)
{
    GError *err = NULL;
    QIOChannelFile *fioc =
        qio_channel_file_new_path(t->path, flags, 0600, &err);

    g_assert_no_error(err);
    if (c->behind) {
        qio_channel_file_set_behind(fioc, flags & O_WRONLY ? FILE_BEHIND_WRITE
                                                           : FILE_BEHIND_READ);
    }
    return &fioc->parent;
}

/* Move piece @i of the file through @ioc, at its offset or in sequence. */
static void behind_piece_io(QIOChannel *ioc, const BehindCase *c, bool write,
                            uint8_t *buf, size_t i)
{
    GError *err = NULL;
    off_t off = i * BEHIND_PIECE;
    int ret;

    if (c->positioned) {
        ret = write ? qio_channel_pwrite_all(ioc, buf, BEHIND_PIECE, off, &err)
                    : qio_channel_pread_all(ioc, buf, BEHIND_PIECE, off, &err);
    } else {
        ret = write ? qio_channel_write_all(ioc, buf, BEHIND_PIECE, &err)
                    : qio_channel_read_all(ioc, buf, BEHIND_PIECE, &err);
    }
    g_assert_no_error(err);
    g_assert_cmpint(ret, ==, 0);
}

static void test_file_behind(gconstpointer opaque)
{
    const BehindCase *c = opaque;
    const size_t npieces = BEHIND_FILE_MIB * MiB / BEHIND_PIECE;
    const size_t file_pages = BEHIND_FILE_MIB * MiB / getpagesize();
    g_autofree uint8_t *buf = g_malloc(BEHIND_PIECE);
    g_autofree uint8_t *want = g_malloc(BEHIND_PIECE);
    struct statfs sfs;
    TmpFile t;

    tmp_file_init(&t);
    if (statfs(t.dir, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC) {
        g_assert_cmpint(g_rmdir(t.dir), ==, 0);
        g_test_skip("tmpfs has no page cache to drop: set TMPDIR");
        return;
    }
    QIOChannel *ioc = behind_open(&t, c, O_WRONLY | O_CREAT | O_TRUNC);
    for (size_t i = 0; i < npieces; i++) {
        if (behind_piece_used(c, i)) {
            fill_pattern(buf, BEHIND_PIECE, i);
            behind_piece_io(ioc, c, true, buf, i);
        }
    }
    g_assert_cmpint(fdatasync(qio_channel_get_fd(ioc)), ==, 0);
    qio_channel_close(ioc, NULL);
    qio_channel_unref(ioc);
    size_t after_write = resident_pages(t.path);

    ioc = behind_open(&t, c, O_RDONLY);
    for (size_t i = 0; i < npieces; i++) {
        if (!behind_piece_used(c, i)) {
            continue;
        }
        behind_piece_io(ioc, c, false, buf, i);
        fill_pattern(want, BEHIND_PIECE, i);
        g_assert_cmpmem(buf, BEHIND_PIECE, want, BEHIND_PIECE);
    }
    qio_channel_close(ioc, NULL);
    qio_channel_unref(ioc);
    size_t after_read = resident_pages(t.path);

    if (c->behind) {
        g_assert_cmpuint(after_write, <, file_pages / 100);
        g_assert_cmpuint(after_read, <, file_pages / 100);
    } else {
        /* The control: what the measure sees without behind. */
        g_assert_cmpuint(after_read, >, file_pages / 2);
    }
    tmp_file_cleanup(&t);
}

/* Behind is for regular files: a device ignores it, writes still work. */
static void test_file_behind_device(void)
{
    GError *err = NULL;
    uint8_t buf[4096] = { 1 };
    QIOChannelFile *fioc =
        qio_channel_file_new_path("/dev/null", O_WRONLY, 0, &err);

    g_assert_no_error(err);
    qio_channel_file_set_behind(fioc, FILE_BEHIND_WRITE);
    g_assert_cmpint(fioc->behind, ==, FILE_BEHIND_OFF);
    for (int i = 0; i < 8192; i++) {
        g_assert_cmpint(
            qio_channel_write_all(&fioc->parent, buf, sizeof(buf), &err), ==,
            0);
    }
    g_assert_no_error(err);
    qio_channel_unref(&fioc->parent);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/channel/file/pwritev", test_file_pwritev_preadv);
    g_test_add_func("/io/channel/file/positioned-offset",
                    test_file_positioned_keeps_offset);
    g_test_add_func("/io/channel/file/preadv-eof", test_file_preadv_eof);
    g_test_add_func("/io/channel/file/readv-all-eof", test_file_readv_all_eof);
    g_test_add_func("/io/channel/file/pipe", test_file_pipe_not_seekable);
    g_test_add_func("/io/channel/file/seekable", test_file_seekable_regular);
    g_test_add_func("/io/channel/file/borrowed", test_file_borrowed);
    for (size_t i = 0; i < G_N_ELEMENTS(behind_cases); i++) {
        g_autofree char *name =
            g_strdup_printf("/io/channel/file/behind/%s", behind_cases[i].name);
        g_test_add_data_func(name, &behind_cases[i], test_file_behind);
    }
    g_test_add_func("/io/channel/file/behind/device", test_file_behind_device);
    return g_test_run();
}
