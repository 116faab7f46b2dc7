/*
 * Monitor internals shared by monitor.c (core I/O, tables, events),
 * qmp.c, hmp.c and qtest.c.  Not a public interface.
 *
 * Every monitor is one connection (or stdio).  All of its state is owned
 * by the main loop thread; only qapi_event_send() is called from other
 * threads, and it never touches a Monitor directly.
 */
#ifndef MONITOR_INTERNAL_H
#define MONITOR_INTERNAL_H

#include "qemu/osdep.h"
#include "monitor/chardev.h"
#include "monitor/monitor.h"

typedef enum {
    MONITOR_KIND_QMP,
    MONITOR_KIND_HMP,
    MONITOR_KIND_QTEST,
} MonitorKind;

/*
 * Per-protocol behaviour.  Kept as a table of function pointers so that the
 * core (monitor.c) never references qtest.c: tests that link the core do
 * not have to provide address_space_*().
 */
typedef struct MonitorOps {
    MonitorKind kind;
    /* Connection established: send the greeting / banner. */
    void (*opened)(Monitor *mon);
    /* Bytes arrived; called with a reference held. */
    void (*receive)(Monitor *mon, const uint8_t *buf, size_t len);
    /* Free the protocol state (the Monitor is being freed). */
    void (*finalize)(Monitor *mon);
    /* The monitor left the suspended state. */
    void (*resumed)(Monitor *mon);
} MonitorOps;

/* Largest accepted QMP message, and the deepest JSON nesting. */
#define QMP_MAX_MESSAGE_SIZE (1 * MiB)
#define QMP_MAX_NESTING 64
/* Longest HMP / qtest input line. */
#define MONITOR_MAX_LINE 4096

struct Monitor {
    gint refcnt;
    const MonitorOps *ops;
    int in_fd; /* -1 once input is finished */
    int out_fd;
    bool is_socket; /* send()/recvmsg() vs write()/read() */
    bool closed;
    guint in_watch;
    guint out_watch;
    GByteArray *outbuf; /* not yet written */
    GQueue recv_fds;    /* SCM_RIGHTS fds, oldest first */
    int suspend_cnt;
    GString *capture; /* human-monitor-command: output goes here */

    /* QMP */
    bool qmp_negotiated;
    bool qmp_oob;
    GByteArray *qmp_inbuf; /* the JSON value being accumulated */
    int qmp_depth;
    bool qmp_in_str;
    bool qmp_esc;
    bool qmp_scalar;  /* a top-level number/literal */
    bool qmp_discard; /* over a limit: drop until the value ends */

    /* HMP and qtest: line assembly */
    GByteArray *linebuf; /* the unfinished line */
    GQueue lines;        /* HMP: complete lines not yet run */
    bool line_overflow;
    guint process_idle; /* HMP: buffered lines after a resume */
};

/* Core (monitor.c) */
Monitor *monitor_new(const MonitorOps *ops, int in_fd, int out_fd,
                     bool is_socket);
void monitor_close(Monitor *mon);
void monitor_write(Monitor *mon, const char *buf, size_t len);
/* Start / stop watching the input fd (suspend, EOF). */
void monitor_input_enable(Monitor *mon, bool enable);
/* A monitor speaking @ops on @cs (include/monitor/chardev.h). */
bool monitor_init_ops(ChardevSpec *cs, const MonitorOps *ops, GError **errp);
/* The same from a legacy spec (-qmp, -monitor). */
bool monitor_init_spec(const char *spec, const MonitorOps *ops, GError **errp);

/* JSON text the way QEMU prints it: {"a": 1, "b": [1, 2]} */
void monitor_json_append(GString *out, JsonNode *node);
char *monitor_json_to_string(JsonNode *node);

/* Command tables (monitor.c) */
typedef struct QmpCommand {
    char *name;
    QmpCommandFunc fn;
    unsigned flags;
} QmpCommand;

const QmpCommand *qmp_find_command(const char *name);
/* Sorted by name; free the array (not the elements). */
GPtrArray *qmp_list_commands(void);
const HmpCommand *hmp_find_command(const char *name);
const HmpCommand *hmp_find_info_command(const char *name);
GPtrArray *hmp_list_commands(void);
GPtrArray *hmp_list_info_commands(void);

/* Events: deliver a ready JSON line to negotiated QMP clients. */
void qmp_deliver_event(Monitor *mon, const char *line, size_t len);

/*
 * human-monitor-command: run one HMP line on a monitor of its own and
 * return what it printed (g_free).  Commands that would wait (migrate
 * without -d) do not: that monitor cannot be suspended.
 */
char *hmp_execute_captured(const char *line);

extern const MonitorOps qmp_monitor_ops;
extern const MonitorOps hmp_monitor_ops;
void hmp_register_builtin_commands(void);
void qmp_register_builtin_commands(void);

#endif
