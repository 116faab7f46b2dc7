/*
 * Monitors: QMP (JSON, json-glib), HMP (the "(qemu) " line interface)
 * and qtest.  All run in the main loop thread with the BQL held while a
 * command executes.  Commands live in tables that subsystems fill at start
 * up (qmp_register_command / hmp_register_command), so the monitor knows
 * nothing of migration.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include "qemu/osdep.h"
#include <json-glib/json-glib.h>

typedef struct Monitor Monitor;

/*
 * A QMP command.  @args is the "arguments" object (never NULL: an empty
 * object when absent).  Return the "return" value (a new JsonNode the
 * monitor frees) or NULL for "{}".  On failure set *errp and return NULL;
 * the error's code is the QMP class (ErrorClass).
 */
typedef JsonNode *(*QmpCommandFunc)(Monitor *mon, JsonObject *args,
                                    GError **errp);

typedef enum {
    QMP_CMD_ALLOW_PRECONFIG = 1 << 0, /* allowed before qmp_capabilities */
} QmpCommandFlags;

void qmp_register_command(const char *name, QmpCommandFunc fn, unsigned flags);

/*
 * An HMP command: argv[0] is the command name; the line is split on
 * blanks.  Errors are printed with monitor_printf(); for GError use
 * hmp_handle_error().
 */
typedef void (*HmpCommandFunc)(Monitor *mon, int argc, char **argv);

typedef struct HmpCommand {
    const char *name; /* "migrate", or "info" sub-command for info */
    const char *args; /* usage shown by help, e.g. "[-d] uri" */
    const char *help; /* one line */
    HmpCommandFunc fn;
} HmpCommand;

void hmp_register_command(const HmpCommand *cmd);
/* "info NAME" sub-commands. */
void hmp_register_info_command(const HmpCommand *cmd);

void monitor_printf(Monitor *mon, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Print err->message (and free it) if err is set. */
void hmp_handle_error(Monitor *mon, GError *err);

/*
 * HMP commands that wait (e.g. "migrate" without -d) suspend their monitor:
 * no prompt, no input until monitor_resume().  Returns false on QMP.
 */
bool monitor_suspend(Monitor *mon);
void monitor_resume(Monitor *mon);
/* Keep a monitor alive across a suspend (it may disconnect meanwhile). */
Monitor *monitor_ref(Monitor *mon);
void monitor_unref(Monitor *mon);

/*
 * File descriptors received with SCM_RIGHTS on this monitor's connection
 * (for getfd / add-fd).  Takes the oldest received fd; -1 if none.
 */
int monitor_take_received_fd(Monitor *mon);

/*
 * Emit a QMP event to every QMP client that finished negotiation.
 * Thread safe: may be called from any thread; @data is consumed (may be
 * NULL).  Timestamped at the call.
 */
void qapi_event_send(const char *name, JsonObject *data);

/*
 * -qmp SPEC / -monitor SPEC: QEMU's legacy chardev syntax, see
 * include/monitor/chardev.h (stdio, null, unix:, tcp:).  A socket server
 * with wait=on blocks until its first client connects.
 */
bool monitor_init_qmp(const char *spec, GError **errp);
bool monitor_init_hmp(const char *spec, GError **errp);
/* A QMP (@qmp) or HMP monitor on a parsed chardev (-serial mon:stdio). */
typedef struct ChardevSpec ChardevSpec;
bool monitor_init(ChardevSpec *cs, bool qmp, GError **errp);
/*
 * -mon [chardev=]ID[,mode=control|readline]: on a -chardev.  parse
 * resolves (and claims) the chardev, *qmp tells the mode; init does both.
 */
ChardevSpec *monitor_parse_mon(const char *opts, bool *qmp, GError **errp);
bool monitor_init_mon(const char *opts, GError **errp);
/* "unix:PATH": connect to a qtest server (libqtest listens). */
bool qtest_init(const char *spec, GError **errp);
/* Close all monitors (at exit). */
void monitor_cleanup(void);

/*
 * Register the built-in commands (qmp_capabilities, query-version, ...,
 * and the fd commands of monitor/fds.h).
 */
void monitor_register_builtin_commands(void);

/* Helpers for command implementations. */
/* Strict argument checks; set errp with a QEMU-like message on mismatch. */
bool qmp_arg_str(JsonObject *args, const char *key, bool required,
                 const char **out, GError **errp);
bool qmp_arg_bool(JsonObject *args, const char *key, bool required, bool *out,
                  GError **errp);
bool qmp_arg_int(JsonObject *args, const char *key, bool required, int64_t *out,
                 GError **errp);

#endif
