/*
 * Blocking QMP client.
 */
#include "qemu/osdep.h"
#include "qapi/qmp-client.h"

#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/un.h>

struct QMPClient {
    int fd;
    GString *inbuf;
    GQueue events; /* JsonObject* */
};

static bool qmp_client_read_line(QMPClient *c, int timeout_ms, char **line,
                                 GError **errp)
{
    int64_t deadline = timeout_ms < 0 ? -1 : qemu_clock_ms() + timeout_ms;

    for (;;) {
        char *nl = memchr(c->inbuf->str, '\n', c->inbuf->len);
        if (nl) {
            size_t n = nl - c->inbuf->str + 1;
            *line = g_strndup(c->inbuf->str, n);
            g_string_erase(c->inbuf, 0, n);
            return true;
        }
        int wait = deadline < 0 ? -1 : (int)MAX(0, deadline - qemu_clock_ms());
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int r = poll(&pfd, 1, wait);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r == 0) {
            *line = NULL;
            return true; /* time-out */
        }
        char buf[65536];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg(errp, "QMP connection closed");
            return false;
        }
        g_string_append_len(c->inbuf, buf, n);
    }
}

/* Next message; events are queued unless @want_event. */
static JsonObject *qmp_client_read_msg(QMPClient *c, int timeout_ms,
                                       GError **errp)
{
    for (;;) {
        g_autofree char *line = NULL;
        if (!qmp_client_read_line(c, timeout_ms, &line, errp)) {
            return NULL;
        }
        if (!line) {
            return NULL;
        }
        g_autoptr(JsonParser) p = json_parser_new();
        if (!json_parser_load_from_data(p, line, -1, errp)) {
            return NULL;
        }
        JsonNode *root = json_parser_get_root(p);
        if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
            error_setg(errp, "QMP message is not an object: %s", line);
            return NULL;
        }
        return json_object_ref(json_node_get_object(root));
    }
}

static bool send_all(QMPClient *c, const char *s, size_t len, int fd,
                     GError **errp)
{
    while (len) {
        struct iovec iov = { .iov_base = (void *)s, .iov_len = len };
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } ctl;
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
        if (fd >= 0) {
            memset(&ctl, 0, sizeof(ctl));
            msg.msg_control = ctl.buf;
            msg.msg_controllen = sizeof(ctl.buf);
            struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &fd, sizeof(int));
        }
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            error_setg_errno(errp, errno, "QMP send failed");
            return false;
        }
        fd = -1;
        s += n;
        len -= n;
    }
    return true;
}

/* Read until a reply (return or error), queueing events. */
static JsonObject *qmp_client_reply(QMPClient *c, GError **errp)
{
    for (;;) {
        JsonObject *o = qmp_client_read_msg(c, -1, errp);
        if (!o) {
            return NULL;
        }
        if (json_object_has_member(o, "event")) {
            g_queue_push_tail(&c->events, o);
            continue;
        }
        return o;
    }
}

JsonObject *qmp_client_raw(QMPClient *c, const char *text, GError **errp)
{
    if (!send_all(c, text, strlen(text), -1, errp)) {
        return NULL;
    }
    return qmp_client_reply(c, errp);
}

static JsonNode *reply_to_result(JsonObject *reply, GError **errp)
{
    JsonNode *ret = NULL;

    if (json_object_has_member(reply, "return")) {
        ret = json_node_copy(json_object_get_member(reply, "return"));
    } else if (json_object_has_member(reply, "error")) {
        JsonObject *e = json_object_get_object_member(reply, "error");
        const char *cls = json_object_get_string_member_with_default(
            e, "class", "GenericError");
        ErrorClass code = !strcmp(cls, "CommandNotFound")
                              ? ERROR_CLASS_COMMAND_NOT_FOUND
                              : ERROR_CLASS_GENERIC_ERROR;
        g_set_error_literal(errp, MAPMIG_ERROR, code,
                            json_object_get_string_member_with_default(
                                e, "desc", "unknown error"));
    } else {
        error_setg(errp, "Unexpected QMP reply");
    }
    json_object_unref(reply);
    return ret;
}

JsonNode *qmp_client_cmd_fd(QMPClient *c, const char *cmd, JsonObject *args,
                            int fd, GError **errp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, cmd);
    if (args) {
        JsonNode *an = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(an, args);
        json_builder_set_member_name(b, "arguments");
        json_builder_add_value(b, an);
    }
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, false);
    g_autofree char *line = g_strconcat(text, "\n", NULL);

    if (!send_all(c, line, strlen(line), fd, errp)) {
        return NULL;
    }
    JsonObject *reply = qmp_client_reply(c, errp);
    return reply ? reply_to_result(reply, errp) : NULL;
}

JsonNode *qmp_client_cmd(QMPClient *c, const char *cmd, JsonObject *args,
                         GError **errp)
{
    return qmp_client_cmd_fd(c, cmd, args, -1, errp);
}

JsonNode *qmp_client_cmdf(QMPClient *c, GError **errp, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    /* Allow single quotes as QEMU's qtest helpers do. */
    for (char *p = text; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }
    g_autofree char *line = g_strconcat(text, "\n", NULL);
    if (!send_all(c, line, strlen(line), -1, errp)) {
        return NULL;
    }
    JsonObject *reply = qmp_client_reply(c, errp);
    return reply ? reply_to_result(reply, errp) : NULL;
}

JsonObject *qmp_client_wait_event(QMPClient *c, const char *name,
                                  int timeout_ms, GError **errp)
{
    int64_t deadline = timeout_ms < 0 ? -1 : qemu_clock_ms() + timeout_ms;

    for (;;) {
        for (GList *l = c->events.head; l; l = l->next) {
            JsonObject *ev = l->data;
            if (!name ||
                !g_strcmp0(json_object_get_string_member(ev, "event"), name)) {
                g_queue_delete_link(&c->events, l);
                return ev;
            }
        }
        int left = deadline < 0 ? -1 : (int)(deadline - qemu_clock_ms());
        if (deadline >= 0 && left <= 0) {
            return NULL;
        }
        JsonObject *o = qmp_client_read_msg(c, left, errp);
        if (!o) {
            return NULL;
        }
        if (json_object_has_member(o, "event")) {
            g_queue_push_tail(&c->events, o);
        } else {
            json_object_unref(o); /* stray reply */
        }
    }
}

void qmp_client_clear_events(QMPClient *c)
{
    g_queue_clear_full(&c->events, (GDestroyNotify)json_object_unref);
}

QMPClient *qmp_client_connect(const char *path, int timeout_ms, GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int64_t deadline = qemu_clock_ms() + timeout_ms;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "QMP socket path too long: %s", path);
        return NULL;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "socket");
        return NULL;
    }
    while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        if ((errno != ENOENT && errno != ECONNREFUSED) ||
            qemu_clock_ms() > deadline) {
            error_setg_errno(errp, errno, "Cannot connect to QMP socket '%s'",
                             path);
            close(fd);
            return NULL;
        }
        g_usleep(20000);
    }
    QMPClient *c = g_new0(QMPClient, 1);
    c->fd = fd;
    c->inbuf = g_string_new(NULL);
    g_queue_init(&c->events);
    JsonObject *greeting = qmp_client_read_msg(c, timeout_ms, errp);
    if (!greeting || !json_object_has_member(greeting, "QMP")) {
        if (greeting) {
            json_object_unref(greeting);
            error_setg(errp, "No QMP greeting on '%s'", path);
        } else if (errp && !*errp) {
            error_setg(errp, "No QMP greeting on '%s' (time-out)", path);
        }
        qmp_client_free(c);
        return NULL;
    }
    json_object_unref(greeting);
    JsonNode *r = qmp_client_cmd(c, "qmp_capabilities", NULL, errp);
    if (!r) {
        qmp_client_free(c);
        return NULL;
    }
    json_node_unref(r);
    return c;
}

pid_t qmp_client_peer_pid(QMPClient *c)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return 0;
    }
    return cred.pid;
}

void qmp_client_free(QMPClient *c)
{
    if (!c) {
        return;
    }
    close(c->fd);
    g_string_free(c->inbuf, true);
    qmp_client_clear_events(c);
    g_free(c);
}

const char *qmp_get_str(JsonNode *n, const char *member)
{
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        return NULL;
    }
    return json_object_get_string_member_with_default(json_node_get_object(n),
                                                      member, NULL);
}

int64_t qmp_get_int(JsonNode *n, const char *member)
{
    if (!n || !JSON_NODE_HOLDS_OBJECT(n)) {
        return 0;
    }
    return json_object_get_int_member_with_default(json_node_get_object(n),
                                                   member, 0);
}
