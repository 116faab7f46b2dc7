/*
 * HMP: the human monitor, one command per line, "(qemu) " prompt.
 */
#include "qemu/osdep.h"

#include <glib-unix.h>

#include "monitor/monitor.h"
#include "monitor-internal.h"

#define HMP_PROMPT "(qemu) "

static void hmp_prompt(Monitor *mon)
{
    if (mon->suspend_cnt == 0) {
        monitor_printf(mon, HMP_PROMPT);
    }
}

static void hmp_opened(Monitor *mon)
{
    mon->linebuf = g_byte_array_new();
    monitor_printf(mon,
                   "QEMU %s monitor - type 'help' for more "
                   "information\n",
                   MAPMIG_VERSION);
    hmp_prompt(mon);
}

/*
 * Split on blanks; "double quoted" words may contain blanks and the
 * escapes \" and \\.  Returns NULL (and sets errp) on a missing quote.
 */
static char **hmp_split_args(const char *line, GError **errp)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    const char *p = line;

    for (;;) {
        GString *word;

        while (g_ascii_isspace(*p)) {
            p++;
        }
        if (!*p) {
            break;
        }
        word = g_string_new(NULL);
        while (*p && !g_ascii_isspace(*p)) {
            if (*p != '"') {
                g_string_append_c(word, *p++);
                continue;
            }
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) {
                    p++;
                }
                g_string_append_c(word, *p++);
            }
            if (*p != '"') {
                error_setg(errp, "unterminated string literal");
                g_string_free(word, TRUE);
                g_ptr_array_free(argv, TRUE);
                return NULL;
            }
            p++;
        }
        g_ptr_array_add(argv, g_string_free(word, FALSE));
    }
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_free(argv, FALSE);
}

static void hmp_print_command(Monitor *mon, const char *prefix,
                              const HmpCommand *cmd)
{
    const char *args = cmd->args ? cmd->args : "";

    monitor_printf(mon, "%s%s%s%s -- %s\n", prefix, cmd->name, *args ? " " : "",
                   args, cmd->help ? cmd->help : "");
}

static void hmp_list_info(Monitor *mon)
{
    g_autoptr(GPtrArray) cmds = hmp_list_info_commands();

    for (guint i = 0; i < cmds->len; i++) {
        hmp_print_command(mon, "info ", cmds->pdata[i]);
    }
}

static void hmp_help(Monitor *mon, int argc, char **argv)
{
    g_autoptr(GPtrArray) cmds = NULL;

    if (argc >= 2) {
        const HmpCommand *cmd;

        if (!strcmp(argv[1], "info")) {
            hmp_list_info(mon);
            return;
        }
        cmd = hmp_find_command(argv[1]);
        if (!cmd) {
            monitor_printf(mon, "unknown command: '%s'\n", argv[1]);
            return;
        }
        hmp_print_command(mon, "", cmd);
        return;
    }
    cmds = hmp_list_commands();
    for (guint i = 0; i < cmds->len; i++) {
        hmp_print_command(mon, "", cmds->pdata[i]);
    }
}

/*
 * Whether @argv fits @cmd's usage string: "[-d]" words are flags that may
 * appear, every other word is one argument ("[-d] uri" takes one); "..."
 * means any number; no usage string, no check.
 */
static bool hmp_args_fit(const HmpCommand *cmd, int argc, char **argv)
{
    g_auto(GStrv) words = NULL;
    g_autoptr(GPtrArray) flags = g_ptr_array_new_with_free_func(g_free);
    int max = 0, given = 0;

    if (!cmd->args || strstr(cmd->args, "...")) {
        return true;
    }
    words = g_strsplit_set(cmd->args, " \t", -1);
    for (int i = 0; words[i]; i++) {
        const char *w = words[i];
        size_t len = strlen(w);

        if (len > 3 && w[0] == '[' && w[1] == '-' && w[len - 1] == ']') {
            g_ptr_array_add(flags, g_strndup(w + 1, len - 2));
        } else if (len) {
            max++;
        }
    }
    for (int i = 1; i < argc; i++) {
        bool is_flag = false;

        for (guint f = 0; f < flags->len && !is_flag; f++) {
            is_flag = !strcmp(argv[i], flags->pdata[f]);
        }
        given += !is_flag;
    }
    return given <= max;
}

/* As QEMU: extra words are an error, with a pointer to help. */
static bool hmp_check_args(Monitor *mon, const HmpCommand *cmd,
                           const char *help_name, int argc, char **argv)
{
    if (hmp_args_fit(cmd, argc, argv)) {
        return true;
    }
    monitor_printf(mon, "%s: extraneous characters at the end of line\n",
                   cmd->name);
    monitor_printf(mon, "Try \"help %s\" for more information\n", help_name);
    return false;
}

static void hmp_info(Monitor *mon, int argc, char **argv)
{
    const HmpCommand *cmd;
    g_autofree char *help_name = NULL;

    if (argc < 2) {
        hmp_list_info(mon);
        return;
    }
    cmd = hmp_find_info_command(argv[1]);
    if (!cmd) {
        monitor_printf(mon, "unknown info command: '%s'\n", argv[1]);
        return;
    }
    help_name = g_strdup_printf("info %s", cmd->name);
    if (!hmp_check_args(mon, cmd, help_name, argc - 1, argv + 1)) {
        return;
    }
    /* The sub-command sees itself as argv[0]. */
    cmd->fn(mon, argc - 1, argv + 1);
}

static void hmp_info_version(Monitor *mon, int argc, char **argv)
{
    /* QEMU prints its version and package; ours is "mapmig". */
    monitor_printf(mon, "%s (mapmig)\n", MAPMIG_VERSION);
}

static void hmp_execute_line(Monitor *mon, const char *line)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) argv = hmp_split_args(line, &err);
    const HmpCommand *cmd;

    if (!argv) {
        monitor_printf(mon, "%s\n", err->message);
        return;
    }
    if (!argv[0]) {
        return; /* empty line */
    }
    cmd = hmp_find_command(argv[0]);
    if (!cmd) {
        monitor_printf(mon, "unknown command: '%s'\n", argv[0]);
        return;
    }
    /* "info" checks its sub-command's arguments instead. */
    if (cmd->fn != hmp_info &&
        !hmp_check_args(mon, cmd, cmd->name, g_strv_length(argv), argv)) {
        return;
    }
    cmd->fn(mon, g_strv_length(argv), argv);
}

char *hmp_execute_captured(const char *line)
{
    Monitor *mon = g_new0(Monitor, 1);
    char *out;

    /* Not listed, no fds: output lands in ->capture, input never comes. */
    mon->refcnt = 1;
    mon->ops = &hmp_monitor_ops;
    mon->in_fd = -1;
    mon->out_fd = -1;
    mon->outbuf = g_byte_array_new();
    mon->capture = g_string_new(NULL);
    g_queue_init(&mon->recv_fds);
    hmp_execute_line(mon, line);
    out = g_string_free(g_steal_pointer(&mon->capture), FALSE);
    mon->closed = true;
    monitor_unref(mon);
    return out;
}

/* Queued in place of a line that could not be kept. */
static char hmp_line_too_long[] = "";
static char hmp_line_bad_char[] = "";

/*
 * Run the queued lines, stopping if a command suspended the monitor (the
 * rest waits for monitor_resume()).
 */
static void hmp_process_lines(Monitor *mon)
{
    while (!mon->closed && mon->suspend_cnt == 0 &&
           !g_queue_is_empty(&mon->lines)) {
        char *line = g_queue_pop_head(&mon->lines);

        if (line == hmp_line_too_long) {
            monitor_printf(mon, "line too long\n");
        } else if (line == hmp_line_bad_char) {
            monitor_printf(mon, "invalid character in command line\n");
        } else {
            hmp_execute_line(mon, line);
            g_free(line);
        }
        hmp_prompt(mon);
    }
}

static void hmp_line_complete(Monitor *mon)
{
    GByteArray *lb = mon->linebuf;
    size_t len = lb->len;

    if (mon->line_overflow) {
        mon->line_overflow = false;
        g_queue_push_tail(&mon->lines, hmp_line_too_long);
    } else {
        if (len && lb->data[len - 1] == '\r') {
            len--;
        }
        /* A NUL byte would silently cut the command: refuse it. */
        if (len && memchr(lb->data, '\0', len)) {
            g_queue_push_tail(&mon->lines, hmp_line_bad_char);
        } else if (!len) {
            /* (an empty array may have no data pointer) */
            g_queue_push_tail(&mon->lines, g_strdup(""));
        } else {
            g_queue_push_tail(&mon->lines, g_strndup((char *)lb->data, len));
        }
    }
    g_byte_array_set_size(lb, 0);
}

static void hmp_receive(Monitor *mon, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            hmp_line_complete(mon);
        } else if (!mon->line_overflow) {
            g_byte_array_append(mon->linebuf, &buf[i], 1);
            if (mon->linebuf->len > MONITOR_MAX_LINE) {
                /* Drop it up to its newline, then say so. */
                g_byte_array_set_size(mon->linebuf, 0);
                mon->line_overflow = true;
            }
        }
    }
    hmp_process_lines(mon);
}

static void hmp_finalize(Monitor *mon)
{
    char *line;

    while ((line = g_queue_pop_head(&mon->lines))) {
        if (line != hmp_line_too_long && line != hmp_line_bad_char) {
            g_free(line);
        }
    }
}

static gboolean hmp_process_idle(gpointer opaque)
{
    Monitor *mon = opaque;

    mon->process_idle = 0;
    monitor_ref(mon);
    hmp_process_lines(mon);
    monitor_unref(mon);
    return G_SOURCE_REMOVE;
}

static void hmp_resumed(Monitor *mon)
{
    hmp_prompt(mon);
    /*
     * Lines typed ahead while suspended run from the main loop, not from
     * inside whoever called monitor_resume().
     */
    if (!mon->process_idle && !g_queue_is_empty(&mon->lines)) {
        mon->process_idle = g_idle_add(hmp_process_idle, mon);
    }
}

const MonitorOps hmp_monitor_ops = {
    .kind = MONITOR_KIND_HMP,
    .opened = hmp_opened,
    .receive = hmp_receive,
    .resumed = hmp_resumed,
    .finalize = hmp_finalize,
};

bool monitor_init_hmp(const char *spec, GError **errp)
{
    return monitor_init_spec(spec, &hmp_monitor_ops, errp);
}

void hmp_register_builtin_commands(void)
{
    static const HmpCommand help = {
        .name = "help",
        .args = "[cmd]",
        .help = "show the help",
        .fn = hmp_help,
    };
    static const HmpCommand info = {
        .name = "info",
        .args = "[subcommand]",
        .help = "show various information about the system state",
        .fn = hmp_info,
    };

    static const HmpCommand info_version = {
        .name = "version",
        .args = "",
        .help = "show the version of QEMU",
        .fn = hmp_info_version,
    };

    hmp_register_command(&help);
    hmp_register_command(&info);
    hmp_register_info_command(&info_version);
}
