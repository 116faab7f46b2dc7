/*
 * Monitor core: command tables, the Monitor object and its non-blocking
 * I/O, listening sockets, QMP events and argument helpers.
 */
#include "qemu/osdep.h"

#include <stdarg.h>
#include <sys/socket.h>
#include <glib-unix.h>

#include "qemu/cutils.h"
#include "monitor/chardev.h"
#include "monitor/fds.h"
#include "monitor/monitor.h"
#include "monitor/qmp-schema.h"
#include "monitor-internal.h"

/*
 * A client that stops reading must not make us buffer without bound
 * (events keep coming); past this it is disconnected.
 */
#define MONITOR_MAX_OUTBUF (64 * MiB)
/* fds accepted per recvmsg() */
#define MONITOR_MAX_RECV_FDS 16

typedef struct MonitorListener {
    int fd;
    char *path; /* the UNIX node we created, removed at cleanup */
    bool nodelay;
    guint watch;
    const MonitorOps *ops;
} MonitorListener;

static GHashTable *qmp_commands; /* name -> QmpCommand */
static GHashTable *hmp_commands; /* name -> HmpCommand copy */
static GHashTable *hmp_info_commands;
static GList *monitors; /* open monitors, each holds a ref */
static GList *listeners;

/* ---- command tables ---- */

static void qmp_command_free(gpointer p)
{
    QmpCommand *cmd = p;

    g_free(cmd->name);
    g_free(cmd);
}

void qmp_register_command(const char *name, QmpCommandFunc fn, unsigned flags)
{
    QmpCommand *cmd = g_new0(QmpCommand, 1);

    if (!qmp_commands) {
        qmp_commands = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                             qmp_command_free);
    }
    cmd->name = g_strdup(name);
    cmd->fn = fn;
    cmd->flags = flags;
    /* A later registration replaces the earlier one (tests override). */
    g_hash_table_replace(qmp_commands, cmd->name, cmd);
}

const QmpCommand *qmp_find_command(const char *name)
{
    return qmp_commands ? g_hash_table_lookup(qmp_commands, name) : NULL;
}

static gint compare_qmp_command(gconstpointer a, gconstpointer b)
{
    const QmpCommand *ca = *(QmpCommand *const *)a;
    const QmpCommand *cb = *(QmpCommand *const *)b;

    return strcmp(ca->name, cb->name);
}

GPtrArray *qmp_list_commands(void)
{
    GPtrArray *arr = g_ptr_array_new();

    if (qmp_commands) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, qmp_commands);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            g_ptr_array_add(arr, value);
        }
    }
    g_ptr_array_sort(arr, compare_qmp_command);
    return arr;
}

static void hmp_table_add(GHashTable **table, const HmpCommand *cmd)
{
    if (!*table) {
        *table = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
    }
    HmpCommand *copy = g_memdup2(cmd, sizeof(*cmd));
    g_hash_table_replace(*table, (gpointer)copy->name, copy);
}

void hmp_register_command(const HmpCommand *cmd)
{
    hmp_table_add(&hmp_commands, cmd);
}

void hmp_register_info_command(const HmpCommand *cmd)
{
    hmp_table_add(&hmp_info_commands, cmd);
}

const HmpCommand *hmp_find_command(const char *name)
{
    return hmp_commands ? g_hash_table_lookup(hmp_commands, name) : NULL;
}

const HmpCommand *hmp_find_info_command(const char *name)
{
    return hmp_info_commands ? g_hash_table_lookup(hmp_info_commands, name)
                             : NULL;
}

static gint compare_hmp_command(gconstpointer a, gconstpointer b)
{
    const HmpCommand *ca = *(HmpCommand *const *)a;
    const HmpCommand *cb = *(HmpCommand *const *)b;

    return strcmp(ca->name, cb->name);
}

static GPtrArray *hmp_table_list(GHashTable *table)
{
    GPtrArray *arr = g_ptr_array_new();

    if (table) {
        GHashTableIter it;
        gpointer value;

        g_hash_table_iter_init(&it, table);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            g_ptr_array_add(arr, value);
        }
    }
    g_ptr_array_sort(arr, compare_hmp_command);
    return arr;
}

GPtrArray *hmp_list_commands(void)
{
    return hmp_table_list(hmp_commands);
}

GPtrArray *hmp_list_info_commands(void)
{
    return hmp_table_list(hmp_info_commands);
}

/* ---- Monitor object ---- */

Monitor *monitor_ref(Monitor *mon)
{
    g_atomic_int_inc(&mon->refcnt);
    return mon;
}

static void monitor_free(Monitor *mon)
{
    int fd;

    if (mon->ops->finalize) {
        mon->ops->finalize(mon);
    }
    while ((fd = GPOINTER_TO_INT(g_queue_pop_head(&mon->recv_fds)) - 1) >= 0) {
        close(fd);
    }
    g_byte_array_unref(mon->outbuf);
    if (mon->qmp_inbuf) {
        g_byte_array_unref(mon->qmp_inbuf);
    }
    if (mon->linebuf) {
        g_byte_array_unref(mon->linebuf);
    }
    if (mon->capture) {
        g_string_free(mon->capture, TRUE);
    }
    g_free(mon);
}

void monitor_unref(Monitor *mon)
{
    if (mon && g_atomic_int_dec_and_test(&mon->refcnt)) {
        monitor_free(mon);
    }
}

static gboolean monitor_can_write(gint fd, GIOCondition cond, gpointer opaque);
static gboolean monitor_can_read(gint fd, GIOCondition cond, gpointer opaque);

Monitor *monitor_new(const MonitorOps *ops, int in_fd, int out_fd,
                     bool is_socket)
{
    Monitor *mon = g_new0(Monitor, 1);

    mon->refcnt = 1; /* owned by the monitors list */
    mon->ops = ops;
    mon->in_fd = in_fd;
    mon->out_fd = out_fd;
    mon->is_socket = is_socket;
    mon->outbuf = g_byte_array_new();
    g_queue_init(&mon->recv_fds);
    monitors = g_list_append(monitors, mon);
    monitor_input_enable(mon, true);
    if (ops->opened) {
        ops->opened(mon);
    }
    return mon;
}

void monitor_input_enable(Monitor *mon, bool enable)
{
    if (enable && !mon->in_watch && !mon->closed && mon->in_fd >= 0) {
        mon->in_watch = g_unix_fd_add(mon->in_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                      monitor_can_read, mon);
    } else if (!enable && mon->in_watch) {
        g_source_remove(mon->in_watch);
        mon->in_watch = 0;
    }
}

/* Try once, without blocking, to send what is buffered. */
static void monitor_flush(Monitor *mon)
{
    while (mon->outbuf->len && !mon->closed) {
        ssize_t n;

        if (mon->is_socket) {
            n = send(mon->out_fd, mon->outbuf->data, mon->outbuf->len,
                     MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            n = write(mon->out_fd, mon->outbuf->data, mon->outbuf->len);
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!mon->out_watch) {
                mon->out_watch = g_unix_fd_add(mon->out_fd, G_IO_OUT,
                                               monitor_can_write, mon);
            }
            return;
        }
        if (n <= 0) {
            /* Peer gone: nothing more can be said to it. */
            monitor_close(mon);
            return;
        }
        g_byte_array_remove_range(mon->outbuf, 0, n);
    }
}

static gboolean monitor_can_write(gint fd, GIOCondition cond, gpointer opaque)
{
    Monitor *mon = opaque;

    mon->out_watch = 0;
    monitor_ref(mon);
    monitor_flush(mon);
    monitor_unref(mon);
    return G_SOURCE_REMOVE;
}

void monitor_write(Monitor *mon, const char *buf, size_t len)
{
    if (mon->capture) {
        g_string_append_len(mon->capture, buf, len);
        return;
    }
    if (mon->closed || !len) {
        return;
    }
    if (mon->outbuf->len + len > MONITOR_MAX_OUTBUF) {
        monitor_close(mon);
        return;
    }
    g_byte_array_append(mon->outbuf, (const guint8 *)buf, len);
    if (!mon->out_watch) {
        monitor_flush(mon);
    }
}

/* recvmsg() so that fds passed with SCM_RIGHTS are kept for the commands. */
static ssize_t monitor_recv(Monitor *mon, uint8_t *buf, size_t len)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * MONITOR_MAX_RECV_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    ssize_t n;

    do {
        n = recvmsg(mon->in_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return n;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfds; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            /* Stored +1 so that fd 0 is not a NULL pointer. */
            g_queue_push_tail(&mon->recv_fds, GINT_TO_POINTER(fd + 1));
        }
    }
    return n;
}

static gboolean monitor_can_read(gint fd, GIOCondition cond, gpointer opaque)
{
    Monitor *mon = opaque;
    uint8_t buf[16 * 1024];
    ssize_t n;

    if (mon->is_socket) {
        n = monitor_recv(mon, buf, sizeof(buf));
    } else {
        do {
            n = read(mon->in_fd, buf, sizeof(buf));
        } while (n < 0 && errno == EINTR);
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return G_SOURCE_CONTINUE;
    }
    if (n <= 0) {
        if (mon->is_socket) {
            monitor_close(mon);
        } else {
            /* stdio EOF: stop reading, output keeps working. */
            monitor_input_enable(mon, false);
            mon->in_fd = -1;
        }
        return G_SOURCE_CONTINUE;
    }
    monitor_ref(mon);
    mon->ops->receive(mon, buf, n);
    monitor_unref(mon);
    return G_SOURCE_CONTINUE;
}

void monitor_close(Monitor *mon)
{
    if (mon->closed) {
        return;
    }
    monitor_input_enable(mon, false);
    mon->closed = true;
    if (mon->out_watch) {
        g_source_remove(mon->out_watch);
        mon->out_watch = 0;
    }
    if (mon->process_idle) {
        g_source_remove(mon->process_idle);
        mon->process_idle = 0;
    }
    if (mon->is_socket) {
        close(mon->in_fd);
    }
    mon->in_fd = -1;
    mon->out_fd = -1;
    g_byte_array_set_size(mon->outbuf, 0);
    monitors = g_list_remove(monitors, mon);
    monitor_unref(mon); /* the list's reference */
}

/* ---- chardevs: stdio, listening and connected sockets ---- */

static gboolean monitor_listener_accept(gint fd, GIOCondition cond,
                                        gpointer opaque)
{
    MonitorListener *l = opaque;
    int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (cfd < 0) {
        /* EAGAIN, ECONNABORTED, EMFILE: keep listening. */
        return G_SOURCE_CONTINUE;
    }
    if (l->nodelay) {
        chardev_socket_set_nodelay(cfd);
    }
    monitor_new(l->ops, cfd, cfd, true);
    return G_SOURCE_CONTINUE;
}

/* wait=on: like QEMU, block start-up until the first client connects. */
static void monitor_listener_wait(MonitorListener *l, const ChardevSpec *cs)
{
    g_autofree char *desc = chardev_socket_describe(cs);
    int flags = fcntl(l->fd, F_GETFL);
    int cfd;

    /* QEMU says so on stderr, so that a waiting start-up is no mystery. */
    g_printerr("mapmig: waiting for connection on: %s\n", desc);
    fcntl(l->fd, F_SETFL, flags & ~O_NONBLOCK);
    do {
        cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    } while (cfd < 0 && errno == EINTR);
    fcntl(l->fd, F_SETFL, flags);
    if (cfd >= 0) {
        if (l->nodelay) {
            chardev_socket_set_nodelay(cfd);
        }
        monitor_new(l->ops, cfd, cfd, true);
    }
}

static bool monitor_listen(const ChardevSpec *cs, const MonitorOps *ops,
                           GError **errp)
{
    int fd = chardev_socket_listen(cs, errp);
    MonitorListener *l;

    if (fd < 0) {
        return false;
    }
    l = g_new0(MonitorListener, 1);
    l->fd = fd;
    /* Only a node we created is ours to remove (not libvirt's fd=). */
    l->path = cs->fd < 0 ? g_strdup(cs->path) : NULL;
    l->nodelay = cs->nodelay;
    l->ops = ops;
    l->watch = g_unix_fd_add(fd, G_IO_IN, monitor_listener_accept, l);
    listeners = g_list_append(listeners, l);
    if (cs->wait) {
        monitor_listener_wait(l, cs);
    }
    return true;
}

bool monitor_init_ops(ChardevSpec *cs, const MonitorOps *ops, GError **errp)
{
    int fd;

    switch (cs->kind) {
    case CHARDEV_NULL:
        return true; /* a monitor nobody can reach, as in QEMU */
    case CHARDEV_FILE:
        error_setg(errp, "'%s': a monitor needs input, a file has none",
                   cs->label);
        return false;
    case CHARDEV_STDIO:
        if (!chardev_claim_stdio(cs, errp)) {
            return false;
        }
        monitor_new(ops, STDIN_FILENO, STDOUT_FILENO, false);
        return true;
    case CHARDEV_SOCKET:
        if (cs->server) {
            return monitor_listen(cs, ops, errp);
        }
        fd = chardev_socket_connect(cs, errp);
        if (fd < 0) {
            return false;
        }
        monitor_new(ops, fd, fd, true);
        return true;
    }
    g_assert_not_reached();
}

bool monitor_init_spec(const char *spec, const MonitorOps *ops, GError **errp)
{
    g_autoptr(ChardevSpec) cs = chardev_parse_legacy(spec, errp);

    if (!cs) {
        return false;
    }
    if (cs->mux) {
        /* mon:stdio is the serial port's business (-serial mon:stdio). */
        error_setg(errp, "'%s' is not a valid char driver", spec);
        return false;
    }
    return monitor_init_ops(cs, ops, errp);
}

bool monitor_init(ChardevSpec *cs, bool qmp, GError **errp)
{
    return monitor_init_ops(cs, qmp ? &qmp_monitor_ops : &hmp_monitor_ops,
                            errp);
}

/* -mon [chardev=]ID[,mode=readline|control][,pretty=off][,id=NAME] */
ChardevSpec *monitor_parse_mon(const char *opts, bool *qmp_out, GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(opts, ",", -1);
    const char *chardev = NULL;
    bool qmp = false;
    ChardevSpec *cs;

    for (int i = 0; parts[i]; i++) {
        const char *p = parts[i];
        const char *eq = strchr(p, '=');
        g_autofree char *key = eq ? g_strndup(p, eq - p) : NULL;
        const char *val = eq ? eq + 1 : p;

        if (!key && i == 0) {
            chardev = val; /* QEMU's implied option name */
        } else if (!g_strcmp0(key, "chardev")) {
            chardev = val;
        } else if (!g_strcmp0(key, "mode")) {
            if (strcmp(val, "control") && strcmp(val, "readline")) {
                error_setg(errp, "Parameter 'mode' does not accept value '%s'",
                           val);
                return NULL;
            }
            qmp = !strcmp(val, "control");
        } else if (!g_strcmp0(key, "pretty")) {
            bool pretty;

            if (!qemu_parse_bool(val, &pretty)) {
                error_setg(errp, "Parameter 'pretty' expects 'on' or 'off'");
                return NULL;
            }
            if (pretty) {
                error_setg(errp, "-mon: pretty=on is not supported");
                return NULL;
            }
        } else if (!g_strcmp0(key, "id")) {
            continue; /* libvirt names its monitor; nothing refers to it */
        } else {
            error_setg(errp, "Invalid parameter '%s'", key ? key : p);
            return NULL;
        }
    }
    if (!chardev || !*chardev) {
        error_setg(errp, "Parameter 'chardev' is missing");
        return NULL;
    }
    cs = chardev_find(chardev);
    if (!cs) {
        error_setg(errp, "chardev \"%s\" not found", chardev);
        return NULL;
    }
    if (cs->in_use) {
        error_setg(errp, "Device '%s' is in use", chardev);
        return NULL;
    }
    cs->in_use = true;
    *qmp_out = qmp;
    return cs;
}

bool monitor_init_mon(const char *opts, GError **errp)
{
    bool qmp;
    ChardevSpec *cs = monitor_parse_mon(opts, &qmp, errp);

    return cs && monitor_init(cs, qmp, errp);
}

static void monitor_listener_free(gpointer p)
{
    MonitorListener *l = p;

    g_source_remove(l->watch);
    close(l->fd);
    if (l->path) {
        unlink(l->path);
    }
    g_free(l->path);
    g_free(l);
}

/* ---- output for HMP ---- */

void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    g_autoptr(GString) out = NULL;

    if (!mon || (mon->closed && !mon->capture) ||
        mon->ops->kind != MONITOR_KIND_HMP) {
        /* QMP has no free-form output channel. */
        return;
    }
    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* As QEMU's monitor_puts(): terminals and sockets get "\r\n". */
    out = g_string_sized_new(strlen(text) + 16);
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            g_string_append_c(out, '\r');
        }
        g_string_append_c(out, *p);
    }
    monitor_write(mon, out->str, out->len);
}

void hmp_handle_error(Monitor *mon, GError *err)
{
    if (err) {
        monitor_printf(mon, "Error: %s\n", err->message);
        g_error_free(err);
    }
}

bool monitor_suspend(Monitor *mon)
{
    if (mon->ops->kind != MONITOR_KIND_HMP || mon->capture) {
        return false;
    }
    if (mon->suspend_cnt++ == 0) {
        monitor_input_enable(mon, false);
    }
    return true;
}

void monitor_resume(Monitor *mon)
{
    if (mon->suspend_cnt <= 0 || --mon->suspend_cnt > 0) {
        return;
    }
    if (mon->closed) {
        return;
    }
    monitor_input_enable(mon, true);
    if (mon->ops->resumed) {
        mon->ops->resumed(mon);
    }
}

int monitor_take_received_fd(Monitor *mon)
{
    if (g_queue_is_empty(&mon->recv_fds)) {
        return -1;
    }
    return GPOINTER_TO_INT(g_queue_pop_head(&mon->recv_fds)) - 1;
}

/* ---- events ---- */

/*
 * Events may come from any thread.  They are formatted at once (so the
 * timestamp is the time of the call) and queued; the main loop delivers
 * the queue in order.  One queue, rather than one idle source per event,
 * is what guarantees the order.
 */
static GMutex event_lock;
static GQueue event_queue;    /* of GString, JSON line incl. "\r\n" */
static GSource *event_source; /* pending delivery, under event_lock */

static void monitor_broadcast_event(GString *line)
{
    GList *copy = g_list_copy(monitors);

    /* Delivery may close a client (write error): hold references. */
    for (GList *l = copy; l; l = l->next) {
        monitor_ref(l->data);
    }
    for (GList *l = copy; l; l = l->next) {
        Monitor *mon = l->data;

        if (mon->ops->kind == MONITOR_KIND_QMP && mon->qmp_negotiated) {
            monitor_write(mon, line->str, line->len);
        }
    }
    g_list_free_full(copy, (GDestroyNotify)monitor_unref);
}

/* Deliver what is queued now, in order (the source is gone: cleanup). */
static void monitor_event_drain(void)
{
    GString *line;

    for (;;) {
        g_mutex_lock(&event_lock);
        line = g_queue_pop_head(&event_queue);
        g_mutex_unlock(&event_lock);
        if (!line) {
            return;
        }
        monitor_broadcast_event(line);
        g_string_free(line, TRUE);
    }
}

static gboolean monitor_event_dispatch(gpointer opaque)
{
    for (;;) {
        GString *line;

        g_mutex_lock(&event_lock);
        line = g_queue_pop_head(&event_queue);
        if (!line) {
            g_source_unref(event_source);
            event_source = NULL;
            g_mutex_unlock(&event_lock);
            return G_SOURCE_REMOVE;
        }
        g_mutex_unlock(&event_lock);
        monitor_broadcast_event(line);
        g_string_free(line, TRUE);
    }
}

void qapi_event_send(const char *name, JsonObject *data)
{
    int64_t now = g_get_real_time();
    GString *line = g_string_new(NULL);

    g_string_append_printf(line,
                           "{\"timestamp\": {\"seconds\": %" PRId64
                           ", \"microseconds\": %" PRId64 "}, \"event\": ",
                           now / G_USEC_PER_SEC, now % G_USEC_PER_SEC);
    {
        g_autoptr(JsonNode) n = json_node_init_string(json_node_alloc(), name);
        monitor_json_append(line, n);
    }
    if (data && json_object_get_size(data) > 0) {
        g_autoptr(JsonNode) n = json_node_init_object(json_node_alloc(), data);
        g_string_append(line, ", \"data\": ");
        monitor_json_append(line, n);
    }
    g_string_append(line, "}\r\n");
    if (data) {
        json_object_unref(data);
    }

    g_mutex_lock(&event_lock);
    /*
     * In the main loop thread with nothing queued, deliver now: a command
     * that emits an event (stop → STOP) gets it out before its reply, as
     * QEMU does.
     */
    if (g_queue_is_empty(&event_queue) &&
        g_main_context_is_owner(g_main_context_default())) {
        g_mutex_unlock(&event_lock);
        monitor_broadcast_event(line);
        g_string_free(line, TRUE);
        return;
    }
    g_queue_push_tail(&event_queue, line);
    if (!event_source) {
        event_source = g_idle_source_new();
        g_source_set_priority(event_source, G_PRIORITY_DEFAULT);
        g_source_set_callback(event_source, monitor_event_dispatch, NULL, NULL);
        g_source_attach(event_source, NULL);
    }
    g_mutex_unlock(&event_lock);
}

/* ---- cleanup ---- */

void monitor_cleanup(void)
{
    g_list_free_full(g_steal_pointer(&listeners), monitor_listener_free);
    chardev_remove_all();
    chardev_release_stdio();
    /* Events still queued (SHUTDOWN) go out before the replies' flush. */
    g_mutex_lock(&event_lock);
    if (event_source) {
        g_source_destroy(event_source);
        g_source_unref(event_source);
        event_source = NULL;
    }
    g_mutex_unlock(&event_lock);
    monitor_event_drain();
    while (monitors) {
        Monitor *mon = monitors->data;

        /* Last chance for a pending reply (e.g. to "quit"). */
        monitor_flush(mon);
        monitor_close(mon);
    }
    g_mutex_lock(&event_lock);
    if (event_source) {
        g_source_destroy(event_source);
        g_source_unref(event_source);
        event_source = NULL;
    }
    while (!g_queue_is_empty(&event_queue)) {
        g_string_free(g_queue_pop_head(&event_queue), TRUE);
    }
    g_mutex_unlock(&event_lock);
}

void monitor_register_builtin_commands(void)
{
    qmp_register_builtin_commands();
    qmp_schema_register_commands();
    hmp_register_builtin_commands();
    monitor_fds_register_commands();
}

/* ---- argument helpers ---- */

static JsonNode *qmp_arg_get(JsonObject *args, const char *key, bool required,
                             GError **errp, bool *present)
{
    JsonNode *node = args ? json_object_get_member(args, key) : NULL;

    *present = node != NULL;
    if (!node && required) {
        error_setg(errp, "Parameter '%s' is missing", key);
    }
    return node;
}

/*
 * The argument @key if present with JSON type @type; NULL when absent
 * (*ok tells whether that is fine) or of another type (errp set).
 */
static JsonNode *qmp_arg_typed(JsonObject *args, const char *key, bool required,
                               GType type, const char *tname, bool *ok,
                               GError **errp)
{
    bool present;
    JsonNode *node = qmp_arg_get(args, key, required, errp, &present);

    *ok = !present ? !required : true;
    if (!present) {
        return NULL;
    }
    /* 1.0 is a number but not an integer, as in QEMU. */
    if (!JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != type) {
        error_setg(errp, "Parameter '%s' expects %s", key, tname);
        *ok = false;
        return NULL;
    }
    return node;
}

bool qmp_arg_str(JsonObject *args, const char *key, bool required,
                 const char **out, GError **errp)
{
    bool ok;
    JsonNode *n = qmp_arg_typed(args, key, required, G_TYPE_STRING, "a string",
                                &ok, errp);
    if (n) {
        *out = json_node_get_string(n);
    }
    return ok;
}

bool qmp_arg_bool(JsonObject *args, const char *key, bool required, bool *out,
                  GError **errp)
{
    bool ok;
    JsonNode *n = qmp_arg_typed(args, key, required, G_TYPE_BOOLEAN,
                                "a boolean", &ok, errp);
    if (n) {
        *out = json_node_get_boolean(n);
    }
    return ok;
}

bool qmp_arg_int(JsonObject *args, const char *key, bool required, int64_t *out,
                 GError **errp)
{
    bool ok;
    JsonNode *n = qmp_arg_typed(args, key, required, G_TYPE_INT64, "an integer",
                                &ok, errp);
    if (n) {
        *out = json_node_get_int(n);
    }
    return ok;
}

/* ---- JSON output ---- */

static void json_append_string(GString *out, const char *s)
{
    const char *p = s;

    g_string_append_c(out, '"');
    while (*p) {
        gunichar c = g_utf8_get_char_validated(p, -1);

        if (c == (gunichar)-1 || c == (gunichar)-2) {
            /* Invalid UTF-8 (e.g. a file name): keep the output valid. */
            g_string_append(out, "\\ufffd");
            p++;
            continue;
        }
        p = g_utf8_next_char(p);
        switch (c) {
        case '"':
            g_string_append(out, "\\\"");
            break;
        case '\\':
            g_string_append(out, "\\\\");
            break;
        case '\b':
            g_string_append(out, "\\b");
            break;
        case '\f':
            g_string_append(out, "\\f");
            break;
        case '\n':
            g_string_append(out, "\\n");
            break;
        case '\r':
            g_string_append(out, "\\r");
            break;
        case '\t':
            g_string_append(out, "\\t");
            break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                g_string_append_c(out, c);
            } else if (c < 0x10000) {
                /* ASCII-only output, like QEMU's to_json(). */
                g_string_append_printf(out, "\\u%04x", c);
            } else {
                c -= 0x10000;
                g_string_append_printf(out, "\\u%04x\\u%04x",
                                       0xd800 | (c >> 10),
                                       0xdc00 | (c & 0x3ff));
            }
        }
    }
    g_string_append_c(out, '"');
}

static void json_append_value(GString *out, JsonNode *node)
{
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" PRId64, json_node_get_int(node));
        break;
    case G_TYPE_DOUBLE: {
        char buf[G_ASCII_DTOSTR_BUF_SIZE];
        g_string_append(
            out, g_ascii_dtostr(buf, sizeof(buf), json_node_get_double(node)));
        break;
    }
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        json_append_string(out, json_node_get_string(node));
        break;
    default:
        g_string_append(out, "null");
    }
}

void monitor_json_append(GString *out, JsonNode *node)
{
    if (!node) {
        g_string_append(out, "null");
        return;
    }
    switch (json_node_get_node_type(node)) {
    case JSON_NODE_OBJECT: {
        JsonObject *obj = json_node_get_object(node);
        /* get_members keeps insertion order: stable, readable output. */
        GList *members = json_object_get_members(obj);

        g_string_append_c(out, '{');
        for (GList *l = members; l; l = l->next) {
            if (l != members) {
                g_string_append(out, ", ");
            }
            json_append_string(out, l->data);
            g_string_append(out, ": ");
            monitor_json_append(out, json_object_get_member(obj, l->data));
        }
        g_string_append_c(out, '}');
        g_list_free(members);
        break;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *arr = json_node_get_array(node);
        guint n = json_array_get_length(arr);

        g_string_append_c(out, '[');
        for (guint i = 0; i < n; i++) {
            if (i) {
                g_string_append(out, ", ");
            }
            monitor_json_append(out, json_array_get_element(arr, i));
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_VALUE:
        json_append_value(out, node);
        break;
    case JSON_NODE_NULL:
    default:
        g_string_append(out, "null");
    }
}

char *monitor_json_to_string(JsonNode *node)
{
    GString *s = g_string_new(NULL);

    monitor_json_append(s, node);
    return g_string_free(s, FALSE);
}
