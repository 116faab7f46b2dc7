/*
 * HMP tests over a UNIX socket; the monitor runs in the default main
 * context, iterated by the test while it talks to it.
 */
#include "qemu/osdep.h"

#include <sys/stat.h>

#include "monitor/monitor.h"
#include "mon-client.h"

#define BANNER "QEMU 0.1.0 monitor - type 'help' for more information\r\n"
#define PROMPT "(qemu) "

static char *tmpdir;
static char *sock_path;
static Monitor *suspended_mon;

static void hmp_x_echo(Monitor *mon, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        monitor_printf(mon, "[%s]", argv[i]);
    }
    monitor_printf(mon, "\n");
}

static void hmp_info_x_thing(Monitor *mon, int argc, char **argv)
{
    monitor_printf(mon, "thing: %s argc=%d\n", argv[0], argc);
}

static void hmp_x_error(Monitor *mon, int argc, char **argv)
{
    GError *err = NULL;

    error_setg(&err, "it failed");
    hmp_handle_error(mon, err);
}

static gboolean resume_later(gpointer opaque)
{
    monitor_printf(suspended_mon, "done waiting\n");
    monitor_resume(suspended_mon);
    monitor_unref(suspended_mon);
    suspended_mon = NULL;
    return G_SOURCE_REMOVE;
}

/* Like "migrate" without -d: hold the monitor until later. */
static void hmp_x_wait(Monitor *mon, int argc, char **argv)
{
    g_assert_true(monitor_suspend(mon));
    suspended_mon = monitor_ref(mon);
    g_timeout_add(50, resume_later, NULL);
}

static MonClient *hmp_connect(void)
{
    MonClient *c = mon_client_connect(sock_path);
    g_autofree char *hello = mon_client_read_until(c, PROMPT);

    g_assert_cmpstr(hello, ==, BANNER PROMPT);
    return c;
}

static void hmp_expect(MonClient *c, const char *line, const char *out)
{
    g_autofree char *r = NULL;
    g_autofree char *want = g_strconcat(out, PROMPT, NULL);

    mon_client_send(c, line);
    r = mon_client_read_until(c, PROMPT);
    g_assert_cmpstr(r, ==, want);
}

static void test_basic(void)
{
    MonClient *c = hmp_connect();
    struct stat st;

    g_assert_cmpint(stat(sock_path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    hmp_expect(c, "\n", "");
    hmp_expect(c, "x_echo a  b \"c d\" \"e\\\"f\"\r\n",
               "[a][b][c d][e\"f]\r\n");
    hmp_expect(c, "nosuch 1 2\n", "unknown command: 'nosuch'\r\n");
    hmp_expect(c, "x_echo \"open\n", "unterminated string literal\r\n");
    hmp_expect(c, "x_error\n", "Error: it failed\r\n");
    mon_client_close(c);
}

static void test_help_info(void)
{
    MonClient *c = hmp_connect();

    hmp_expect(c, "help x_echo\n", "x_echo [args...] -- echo the args\r\n");
    hmp_expect(c, "help info\n",
               "info version -- show the version of QEMU\r\n"
               "info x_thing -- a thing\r\n"
               "info x_two [n] -- another\r\n");
    hmp_expect(c, "info\n",
               "info version -- show the version of QEMU\r\n"
               "info x_thing -- a thing\r\n"
               "info x_two [n] -- another\r\n");
    hmp_expect(c, "help nosuch\n", "unknown command: 'nosuch'\r\n");
    hmp_expect(c, "info x_two 1\n", "thing: x_two argc=2\r\n");
    hmp_expect(c, "info nosuch\n", "unknown info command: 'nosuch'\r\n");

    mon_client_send(c, "help\n");
    g_autofree char *all = mon_client_read_until(c, PROMPT);
    g_assert_nonnull(strstr(all, "help [cmd] -- show the help\r\n"));
    g_assert_nonnull(strstr(all, "info [subcommand] -- "));
    g_assert_nonnull(strstr(all, "x_error -- fail\r\n"));
    mon_client_close(c);
}

/* Words beyond a command's usage are refused before it runs, as QEMU. */
static void test_extra_args(void)
{
    static const struct {
        const char *line;
        const char *out;
    } cases[] = {
        { "x_error extra\n",
          "x_error: extraneous characters at the end of line\r\n"
          "Try \"help x_error\" for more information\r\n" },
        { "x_error   \n", "Error: it failed\r\n" },
        { "info x_thing 1\n",
          "x_thing: extraneous characters at the end of line\r\n"
          "Try \"help info x_thing\" for more information\r\n" },
        { "info x_two 1 2\n",
          "x_two: extraneous characters at the end of line\r\n"
          "Try \"help info x_two\" for more information\r\n" },
        { "info x_two\n", "thing: x_two argc=1\r\n" },
        { "help x_echo x_error\n",
          "help: extraneous characters at the end of line\r\n"
          "Try \"help help\" for more information\r\n" },
        /* "[-d] uri": the flag does not count as the argument. */
        { "x_flag -d u\n", "[-d][u]\r\n" },
        { "x_flag u\n", "[u]\r\n" },
        { "x_flag u v\n", "x_flag: extraneous characters at the end of line\r\n"
                          "Try \"help x_flag\" for more information\r\n" },
        { "x_flag u -d v\n",
          "x_flag: extraneous characters at the end of line\r\n"
          "Try \"help x_flag\" for more information\r\n" },
        /* "[args...]" takes any number; no usage string is unchecked. */
        { "x_echo 1 2 3 4 5\n", "[1][2][3][4][5]\r\n" },
        { "info version\n", "0.1.0 (mapmig)\r\n" },
        { "info version now\n",
          "version: extraneous characters at the end of line\r\n"
          "Try \"help info version\" for more information\r\n" },
    };
    MonClient *c = hmp_connect();

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        hmp_expect(c, cases[i].line, cases[i].out);
    }
    mon_client_close(c);
}

static void test_long_line(void)
{
    MonClient *c = hmp_connect();
    g_autofree char *junk = g_strnfill(10000, 'x');
    g_autofree char *line = g_strconcat(junk, "\n", NULL);

    hmp_expect(c, line, "line too long\r\n");
    hmp_expect(c, "x_echo ok\n", "[ok]\r\n");
    mon_client_close(c);
}

static void test_suspend(void)
{
    MonClient *c = hmp_connect();
    g_autofree char *r = NULL;

    /* Typed ahead: runs only after the resume, then its own prompt. */
    mon_client_send(c, "x_wait\nx_echo after\n");
    r = mon_client_read_until(c, PROMPT);
    g_assert_cmpstr(r, ==, "done waiting\r\n" PROMPT);
    g_free(r);
    r = mon_client_read_until(c, PROMPT);
    g_assert_cmpstr(r, ==, "[after]\r\n" PROMPT);
    mon_client_close(c);

    /* Client gone while suspended: the resume must still be safe. */
    c = hmp_connect();
    mon_client_send(c, "x_wait\n");
    mon_pump();
    mon_client_close(c);
    while (suspended_mon) {
        g_main_context_iteration(NULL, TRUE);
    }
}

static void test_two_clients(void)
{
    MonClient *a = hmp_connect();
    MonClient *b = hmp_connect();

    hmp_expect(b, "x_echo b\n", "[b]\r\n");
    hmp_expect(a, "x_echo a\n", "[a]\r\n");
    mon_client_close(a);
    mon_client_close(b);
}

int main(int argc, char **argv)
{
    static const HmpCommand cmds[] = {
        { "x_echo", "[args...]", "echo the args", hmp_x_echo },
        { "x_flag", "[-d] uri", "a flag and an argument", hmp_x_echo },
        { "x_error", "", "fail", hmp_x_error },
        { "x_wait", NULL, "suspend for a while", hmp_x_wait },
    };
    static const HmpCommand info_cmds[] = {
        { "x_thing", "", "a thing", hmp_info_x_thing },
        { "x_two", "[n]", "another", hmp_info_x_thing },
    };
    GError *err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    monitor_register_builtin_commands();
    for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
        hmp_register_command(&cmds[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(info_cmds); i++) {
        hmp_register_info_command(&info_cmds[i]);
    }
    tmpdir = g_dir_make_tmp("test-hmp-XXXXXX", NULL);
    sock_path = g_build_filename(tmpdir, "hmp.sock", NULL);
    g_autofree char *spec =
        g_strdup_printf("unix:%s,server=on,wait=off", sock_path);
    if (!monitor_init_hmp(spec, &err)) {
        g_error("%s", err->message);
    }
    g_assert_false(monitor_init_hmp("tcp:1234", &err));
    g_assert_cmpstr(err->message, ==, "'tcp:1234' is not a valid char driver");
    g_clear_error(&err);

    g_test_add_func("/hmp/basic", test_basic);
    g_test_add_func("/hmp/help-info", test_help_info);
    g_test_add_func("/hmp/extra-args", test_extra_args);
    g_test_add_func("/hmp/long-line", test_long_line);
    g_test_add_func("/hmp/suspend", test_suspend);
    g_test_add_func("/hmp/two-clients", test_two_clients);
    ret = g_test_run();

    monitor_cleanup();
    rmdir(tmpdir);
    g_free(sock_path);
    g_free(tmpdir);
    return ret;
}
