/*
 * Unit tests for QIOChannelCommand: exec: pipes to "sh -c CMD".
 */
#include "qemu/osdep.h"
#include "io/channel-command.h"

#include <glib/gstdio.h>
#include <signal.h>

typedef struct {
    char *dir;
    char *path;
} TmpFile;

static void tmp_file_init(TmpFile *t)
{
    t->dir = g_build_filename(g_get_tmp_dir(), "test-io-cmd-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(t->dir));
    t->path = g_build_filename(t->dir, "out", NULL);
}

static void tmp_file_cleanup(TmpFile *t)
{
    g_unlink(t->path);
    g_assert_cmpint(g_rmdir(t->dir), ==, 0);
    g_free(t->path);
    g_free(t->dir);
}

#define DATA_SIZE (1 * MiB + 7)

static void fill_pattern(uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 13 + (i >> 10));
    }
}

static void test_command_write(void)
{
    GError *err = NULL;
    TmpFile t;
    g_autofree uint8_t *src = g_malloc(DATA_SIZE);

    tmp_file_init(&t);
    fill_pattern(src, DATA_SIZE);
    g_autofree char *quoted = g_shell_quote(t.path);
    g_autofree char *cmd = g_strdup_printf("cat > %s", quoted);

    QIOChannelCommand *cioc =
        qio_channel_command_new_spawn(cmd, O_WRONLY, &err);
    g_assert_no_error(err);
    g_assert_nonnull(cioc);
    QIOChannel *ioc = &cioc->parent;
    g_assert_false(qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE));
    g_assert_true(fcntl(qio_channel_get_fd(ioc), F_GETFD) & FD_CLOEXEC);

    struct iovec iov[] = {
        { src, 100 },
        { src + 100, DATA_SIZE - 100 },
    };
    g_assert_cmpint(qio_channel_writev_all(ioc, iov, 2, &err), ==, 0);
    g_assert_no_error(err);
    /* Close waits for cat, so the file is complete afterwards. */
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    g_assert_no_error(err);

    g_autofree char *got = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(t.path, &got, &len, &err));
    g_assert_cmpmem(got, len, src, DATA_SIZE);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

static void test_command_read(void)
{
    GError *err = NULL;
    TmpFile t;
    g_autofree uint8_t *src = g_malloc(DATA_SIZE);
    g_autofree uint8_t *dst = g_malloc(DATA_SIZE);

    tmp_file_init(&t);
    fill_pattern(src, DATA_SIZE);
    g_assert_true(g_file_set_contents(t.path, (char *)src, DATA_SIZE, &err));
    g_autofree char *quoted = g_shell_quote(t.path);
    g_autofree char *cmd = g_strdup_printf("cat %s", quoted);

    QIOChannelCommand *cioc =
        qio_channel_command_new_spawn(cmd, O_RDONLY, &err);
    g_assert_no_error(err);
    QIOChannel *ioc = &cioc->parent;
    struct iovec iov = { dst, DATA_SIZE };
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, &iov, 1, &err), ==, 1);
    g_assert_no_error(err);
    g_assert_true(memcmp(src, dst, DATA_SIZE) == 0);
    /* Then end of file when cat exits. */
    g_assert_cmpint(qio_channel_readv_all_eof(ioc, &iov, 1, &err), ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    g_assert_no_error(err);

    qio_channel_unref(ioc);
    tmp_file_cleanup(&t);
}

static void test_command_exit_status(void)
{
    GError *err = NULL;
    char buf[8];

    QIOChannelCommand *cioc =
        qio_channel_command_new_spawn("exit 3", O_RDONLY, &err);
    g_assert_no_error(err);
    QIOChannel *ioc = &cioc->parent;
    g_assert_cmpint(qio_channel_read(ioc, buf, sizeof(buf), &err), ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "Command 'exit 3' exited with status 3");
    g_clear_error(&err);
    qio_channel_unref(ioc);

    /* The writer side reports the status too. */
    cioc =
        qio_channel_command_new_spawn("cat >/dev/null; exit 5", O_WRONLY, &err);
    g_assert_no_error(err);
    ioc = &cioc->parent;
    g_assert_cmpint(qio_channel_write_all(ioc, "data", 4, &err), ==, 0);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, "exited with status 5"));
    g_clear_error(&err);
    qio_channel_unref(ioc);
}

static void test_command_signal(void)
{
    GError *err = NULL;

    QIOChannelCommand *cioc =
        qio_channel_command_new_spawn("kill -TERM $$", O_WRONLY, &err);
    g_assert_no_error(err);
    QIOChannel *ioc = &cioc->parent;
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, -1);
    g_assert_nonnull(err);
    g_autofree char *want = g_strdup_printf("killed by signal %d", SIGTERM);
    g_assert_nonnull(strstr(err->message, want));
    g_clear_error(&err);
    qio_channel_unref(ioc);
}

/* Writing to a command that exited is EPIPE (SIGPIPE is ignored). */
static void test_command_dead_reader(void)
{
    GError *err = NULL;
    char buf[4096] = { 0 };
    int rc = 0;

    QIOChannelCommand *cioc =
        qio_channel_command_new_spawn("exit 0", O_WRONLY, &err);
    g_assert_no_error(err);
    QIOChannel *ioc = &cioc->parent;
    /* The pipe buffer absorbs writes until the child is gone. */
    for (int i = 0; i < 1000 && rc == 0; i++) {
        rc = qio_channel_write_all(ioc, buf, sizeof(buf), &err);
    }
    g_assert_cmpint(rc, ==, -1);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err->message, g_strerror(EPIPE)));
    g_clear_error(&err);
    g_assert_cmpint(qio_channel_close(ioc, &err), ==, 0);
    g_assert_no_error(err);
    qio_channel_unref(ioc);
}

static void test_command_bad_mode(void)
{
    GError *err = NULL;

    g_assert_null(qio_channel_command_new_spawn("true", O_RDWR, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
}

int main(int argc, char **argv)
{
    /* As the VM does process-wide: a dead reader must give EPIPE. */
    signal(SIGPIPE, SIG_IGN);

    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/io/channel/command/write", test_command_write);
    g_test_add_func("/io/channel/command/read", test_command_read);
    g_test_add_func("/io/channel/command/exit-status",
                    test_command_exit_status);
    g_test_add_func("/io/channel/command/signal", test_command_signal);
    g_test_add_func("/io/channel/command/dead-reader",
                    test_command_dead_reader);
    g_test_add_func("/io/channel/command/bad-mode", test_command_bad_mode);
    return g_test_run();
}
