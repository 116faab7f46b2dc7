/*
 * The programs agree on their exit status (0 success, 1 failure, 2 usage
 * error; mapmig itself keeps QEMU's 1 for both), on --version, and on
 * saying an error once, on stderr.  Each case runs a program and checks
 * all three.  Nothing here starts a VM.
 */
#include "qemu/osdep.h"

#include <sys/wait.h>

/* What stderr must hold. */
typedef enum {
    ERR_NONE,  /* nothing */
    ERR_LINE,  /* exactly one line, "PROG...: message" */
    ERR_USAGE, /* that line plus "Try 'PROG --help'." */
} ErrShape;

typedef struct ToolCase {
    const char *prog; /* mapmig, mapmig-img, mapmig-ctl, mapmig-perf */
    const char *args; /* shell words */
    int status;
    ErrShape err;
    const char *out; /* stdout's prefix; NULL: must be empty */
} ToolCase;

static const ToolCase cases[] = {
    /* --version and --help everywhere, on stdout, status 0. */
    { "mapmig", "--version", 0, ERR_NONE, "mapmig version " MAPMIG_VERSION },
    { "mapmig-img", "--version", 0, ERR_NONE,
      "mapmig-img version " MAPMIG_VERSION "\n" },
    { "mapmig-img", "info --version", 0, ERR_NONE, "mapmig-img version " },
    { "mapmig-ctl", "--version", 0, ERR_NONE,
      "mapmig-ctl version " MAPMIG_VERSION "\n" },
    { "mapmig-ctl", "save --version", 0, ERR_NONE, "mapmig-ctl version " },
    { "mapmig-perf", "--version", 0, ERR_NONE,
      "mapmig-perf version " MAPMIG_VERSION "\n" },
    { "mapmig", "--help", 0, ERR_NONE, "Usage: mapmig" },
    { "mapmig-img", "--help", 0, ERR_NONE, "Usage: mapmig-img" },
    { "mapmig-ctl", "--help", 0, ERR_NONE, "Usage:" },
    { "mapmig-perf", "--help", 0, ERR_NONE, "Usage: mapmig-perf" },

    /* Usage errors: 2. */
    { "mapmig-img", "", 2, ERR_USAGE, NULL },
    { "mapmig-img", "frobnicate", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info --bogus x", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info x --offset", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info x --offset zz", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info x --output yaml", 2, ERR_USAGE, NULL },
    { "mapmig-img", "check x --output json", 2, ERR_USAGE, NULL },
    { "mapmig-img", "info a b", 2, ERR_USAGE, NULL },
    { "mapmig-img", "extract x", 2, ERR_USAGE, NULL },
    { "mapmig-img", "convert x", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "frobnicate", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save f", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --bogus f", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save f --qmp", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s --layout x f", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s --parallel-channels 0 f", 2, ERR_USAGE,
      NULL },
    { "mapmig-ctl", "save --qmp s --running --paused f", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s f g", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s f -- -m 1G", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "restore --layout mapped f", 2, ERR_USAGE, NULL },
    /* auto-converge: a live save or a checkpoint, steps 1..99. */
    { "mapmig-ctl", "save --qmp s --auto-converge f", 2, ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s --auto-converge-increment 5 f", 2, ERR_USAGE,
      NULL },
    { "mapmig-ctl", "save --qmp s --live --auto-converge-initial 0 f", 2,
      ERR_USAGE, NULL },
    { "mapmig-ctl", "save --qmp s --live --auto-converge-increment 100 f", 2,
      ERR_USAGE, NULL },
    { "mapmig-ctl", "checkpoint --qmp s --auto-converge-initial x d", 2,
      ERR_USAGE, NULL },
    { "mapmig-ctl", "restore --auto-converge f", 2, ERR_USAGE, NULL },
    /* (--dir /nonexistent: were one accepted, no benchmark would run) */
    { "mapmig-perf", "--dir /nonexistent --bogus", 2, ERR_USAGE, NULL },
    { "mapmig-perf", "--dir /nonexistent --mem", 2, ERR_USAGE, NULL },
    { "mapmig-perf", "--dir /nonexistent --mem 1K", 2, ERR_USAGE, NULL },
    { "mapmig-perf", "--dir /nonexistent --smp 0", 2, ERR_USAGE, NULL },
    { "mapmig-perf", "--dir /nonexistent --dirty 5x", 2, ERR_USAGE, NULL },
    { "mapmig-perf", "--dir /nonexistent --layout both", 2, ERR_USAGE, NULL },

    /* Failures: 1, one line on stderr, nothing on stdout. */
    { "mapmig-img", "info /nonexistent/x.sav", 1, ERR_LINE, NULL },
    { "mapmig-img", "extract /nonexistent/x.sav --block b -o /dev/null", 1,
      ERR_LINE, NULL },
    { "mapmig-img", "check /nonexistent/x.sav", 1, ERR_LINE, NULL },
    { "mapmig-ctl", "save --qmp /nonexistent/s f", 1, ERR_LINE, NULL },
    { "mapmig-ctl",
      "save --qmp /nonexistent/s f --live --auto-converge-initial 99 "
      "--auto-converge-increment 1",
      1, ERR_LINE, NULL },
    { "mapmig-ctl", "restore /nonexistent/x.sav --mapmig /bin/false", 1,
      ERR_LINE, NULL },
    { "mapmig-perf", "--dir /nonexistent --no-fio", 1, ERR_LINE, NULL },
    { "mapmig", "-bogus", 1, ERR_LINE, NULL },
    { "mapmig", "-qmp /tmp/x.sock", 1, ERR_LINE, NULL },
};

static const char *prog_path(const char *prog)
{
    static const struct {
        const char *prog, *env;
    } envs[] = {
        { "mapmig", "MAPMIG_BINARY" },
        { "mapmig-img", "MAPMIG_IMG" },
        { "mapmig-ctl", "MAPMIG_CTL" },
        { "mapmig-perf", "MAPMIG_PERF" },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(envs); i++) {
        if (!strcmp(envs[i].prog, prog)) {
            const char *p = g_getenv(envs[i].env);

            g_assert_nonnull(p);
            return p;
        }
    }
    g_assert_not_reached();
}

static void check_stderr(const ToolCase *tc, const char *err)
{
    g_auto(GStrv) lines = g_strsplit(err, "\n", -1);
    guint n = g_strv_length(lines) - 1; /* after the last "\n" */
    g_autofree char *try = g_strdup_printf("Try '%s --help'.", tc->prog);

    if (tc->err == ERR_NONE) {
        g_assert_cmpstr(err, ==, "");
        return;
    }
    g_assert_true(g_str_has_suffix(err, "\n"));
    g_assert_true(g_str_has_prefix(lines[0], tc->prog));
    g_assert_cmpuint(n, ==, tc->err == ERR_USAGE ? 2 : 1);
    if (tc->err == ERR_USAGE) {
        g_assert_cmpstr(lines[1], ==, try);
    }
}

static void test_case(gconstpointer opaque)
{
    const ToolCase *tc = opaque;
    g_autofree char *cmd =
        g_strdup_printf("'%s' %s", prog_path(tc->prog), tc->args);
    g_autofree char *out = NULL, *err_text = NULL;
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) argv = NULL;
    int status;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, &err));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err_text, &status, &err));
    g_assert_no_error(err);
    g_test_message("%s %s -> 0x%x\nstdout: %s\nstderr: %s", tc->prog, tc->args,
                   status, out, err_text);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, tc->status);
    if (tc->out) {
        g_assert_true(g_str_has_prefix(out, tc->out));
    } else {
        g_assert_cmpstr(out, ==, "");
    }
    check_stderr(tc, err_text);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *words =
            g_strdelimit(g_strdup(cases[i].args), " /", '_');
        g_autofree char *path =
            g_strdup_printf("/tools/exit/%s/%zu%s%s", cases[i].prog, i,
                            *words ? "-" : "", words);

        g_test_add_data_func(path, &cases[i], test_case);
    }
    return g_test_run();
}
