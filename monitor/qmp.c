/*
 * QMP: JSON commands over a UNIX socket (docs/interop/qmp-spec.rst).
 *
 * Input is a byte stream of JSON values with no required separator, so it
 * is split here on complete top-level values (tracking nesting, strings
 * and escapes) before json-glib parses each one.
 */
#include "qemu/osdep.h"

#include "monitor/monitor.h"
#include "monitor-internal.h"

/* ---- replies ---- */

static void qmp_send_line(Monitor *mon, GString *s)
{
    /* QEMU ends every message with "\r\n" (monitor_puts). */
    g_string_append(s, "\r\n");
    monitor_write(mon, s->str, s->len);
}

static void qmp_send_response(Monitor *mon, JsonNode *ret, GError *err,
                              JsonNode *id)
{
    g_autoptr(GString) s = g_string_new(NULL);

    if (err) {
        ErrorClass cls =
            err->domain == MAPMIG_ERROR ? err->code : ERROR_CLASS_GENERIC_ERROR;
        g_autoptr(JsonNode) desc =
            json_node_init_string(json_node_alloc(), err->message);

        g_string_append_printf(s,
                               "{\"error\": {\"class\": \"%s\", "
                               "\"desc\": ",
                               error_class_name(cls));
        monitor_json_append(s, desc);
        g_string_append_c(s, '}');
    } else {
        g_string_append(s, "{\"return\": ");
        if (ret) {
            monitor_json_append(s, ret);
        } else {
            g_string_append(s, "{}");
        }
    }
    if (id) {
        g_string_append(s, ", \"id\": ");
        monitor_json_append(s, id);
    }
    g_string_append_c(s, '}');
    qmp_send_line(mon, s);
}

static void qmp_send_error(Monitor *mon, const char *msg)
{
    g_autoptr(GError) err =
        g_error_new_literal(MAPMIG_ERROR, ERROR_CLASS_GENERIC_ERROR, msg);

    qmp_send_response(mon, NULL, err, NULL);
}

static void qmp_opened(Monitor *mon)
{
    g_auto(GStrv) v = g_strsplit(MAPMIG_VERSION, ".", 3);
    g_autoptr(GString) s = g_string_new(NULL);
    int major = v[0] ? atoi(v[0]) : 0;
    int minor = v[0] && v[1] ? atoi(v[1]) : 0;
    int micro = v[0] && v[1] && v[2] ? atoi(v[2]) : 0;

    mon->qmp_inbuf = g_byte_array_new();
    g_string_append_printf(s,
                           "{\"QMP\": {\"version\": {\"qemu\": "
                           "{\"micro\": %d, \"minor\": %d, \"major\": %d}, "
                           "\"package\": \"mapmig\"}, "
                           "\"capabilities\": [\"oob\"]}}",
                           micro, minor, major);
    qmp_send_line(mon, s);
}

/* ---- dispatch ---- */

/* Check the request's envelope; returns the command name. */
static const char *qmp_check_request(JsonObject *req, bool *oob,
                                     JsonObject **args, GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(req);
    const char *name = NULL;

    *oob = false;
    *args = NULL;
    for (GList *l = members; l; l = l->next) {
        const char *key = l->data;
        JsonNode *node = json_object_get_member(req, key);

        if (!strcmp(key, "execute") || !strcmp(key, "exec-oob")) {
            if (name) {
                error_setg(errp, "QMP input member '%s' is unexpected", key);
                return NULL;
            }
            if (!JSON_NODE_HOLDS_VALUE(node) ||
                json_node_get_value_type(node) != G_TYPE_STRING) {
                error_setg(errp, "QMP input member '%s' must be a string", key);
                return NULL;
            }
            name = json_node_get_string(node);
            *oob = !strcmp(key, "exec-oob");
        } else if (!strcmp(key, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(node)) {
                error_setg(errp, "QMP input member 'arguments' must be an "
                                 "object");
                return NULL;
            }
            *args = json_node_get_object(node);
        } else if (strcmp(key, "id") != 0) {
            error_setg(errp, "QMP input member '%s' is unexpected", key);
            return NULL;
        }
    }
    if (!name) {
        error_setg(errp, "QMP input lacks member 'execute'");
    }
    return name;
}

static JsonNode *qmp_dispatch(Monitor *mon, JsonObject *req, GError **errp)
{
    JsonObject *args;
    bool oob;
    const char *name = qmp_check_request(req, &oob, &args, errp);
    const QmpCommand *cmd;

    if (!name) {
        return NULL;
    }
    cmd = qmp_find_command(name);
    if (!mon->qmp_negotiated && strcmp(name, "qmp_capabilities") != 0 &&
        !(cmd && (cmd->flags & QMP_CMD_ALLOW_PRECONFIG))) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Expecting capabilities negotiation with "
                  "'qmp_capabilities'");
        return NULL;
    }
    if (!cmd) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
        return NULL;
    }
    if (oob) {
        /* No command here is safe to run outside the main loop. */
        error_setg(errp, "The command %s does not support OOB", name);
        return NULL;
    }

    g_autoptr(JsonObject) empty = NULL;
    if (!args) {
        empty = json_object_new();
        args = empty;
    }
    return cmd->fn(mon, args, errp);
}

static void qmp_handle_message(Monitor *mon, const char *text, size_t len)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) perr = NULL;
    GError *err = NULL;
    JsonNode *ret = NULL;
    JsonNode *id = NULL;
    JsonNode *root;

    if (!json_parser_load_from_data(parser, text, len, &perr)) {
        error_setg(&err, "JSON parse error, %s", perr->message);
    } else if (!(root = json_parser_get_root(parser)) ||
               !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(&err, "QMP input must be a JSON object");
    } else {
        JsonObject *req = json_node_get_object(root);

        /* id belongs to the parser's tree, alive until we replied. */
        id = json_object_get_member(req, "id");
        ret = qmp_dispatch(mon, req, &err);
    }
    if (err) {
        g_clear_pointer(&ret, json_node_unref);
    }
    qmp_send_response(mon, ret, err, id);
    g_clear_pointer(&ret, json_node_unref);
    g_clear_error(&err);
}

/* ---- splitting the input stream into JSON values ---- */

static void qmp_splitter_reset(Monitor *mon)
{
    g_byte_array_set_size(mon->qmp_inbuf, 0);
    mon->qmp_depth = 0;
    mon->qmp_in_str = false;
    mon->qmp_esc = false;
    mon->qmp_scalar = false;
}

/* A complete top-level value is in qmp_inbuf. */
static void qmp_value_done(Monitor *mon)
{
    bool discard = mon->qmp_discard;

    mon->qmp_discard = false;
    if (!discard) {
        /* Copy: the command may free or reuse the input buffer. */
        g_autofree char *text =
            g_strndup((char *)mon->qmp_inbuf->data, mon->qmp_inbuf->len);
        size_t len = mon->qmp_inbuf->len;

        qmp_splitter_reset(mon);
        qmp_handle_message(mon, text, len);
    } else {
        qmp_splitter_reset(mon);
    }
}

/*
 * Over a limit: answer now, then drop the rest of this value (still
 * tracking its structure so the next value is found again).
 */
static void qmp_limit_exceeded(Monitor *mon, const char *msg)
{
    g_byte_array_set_size(mon->qmp_inbuf, 0);
    if (!mon->qmp_discard) {
        mon->qmp_discard = true;
        qmp_send_error(mon, msg);
    }
}

static bool is_json_delim(uint8_t c)
{
    return g_ascii_isspace(c) || c == '{' || c == '}' || c == '[' || c == ']' ||
           c == '"' || c == ',' || c == ':';
}

/* Returns false if @c must be looked at again (it ended a scalar). */
static bool qmp_feed_byte(Monitor *mon, uint8_t c)
{
    bool idle = mon->qmp_depth == 0 && !mon->qmp_in_str && !mon->qmp_scalar &&
                mon->qmp_inbuf->len == 0 && !mon->qmp_discard;

    if (mon->qmp_scalar) {
        if (is_json_delim(c)) {
            qmp_value_done(mon);
            return false;
        }
    } else if (idle) {
        if (g_ascii_isspace(c)) {
            return true;
        }
        if (c == '}' || c == ']') {
            /* A stray closer is a value of its own: a parse error. */
            g_byte_array_append(mon->qmp_inbuf, &c, 1);
            qmp_value_done(mon);
            return true;
        }
        if (c != '{' && c != '[' && c != '"') {
            mon->qmp_scalar = true;
        }
    }

    if (!mon->qmp_discard) {
        g_byte_array_append(mon->qmp_inbuf, &c, 1);
        if (mon->qmp_inbuf->len > QMP_MAX_MESSAGE_SIZE) {
            qmp_limit_exceeded(mon, "JSON message size limit exceeded");
        }
    }
    if (mon->qmp_scalar) {
        return true;
    }
    if (mon->qmp_in_str) {
        if (mon->qmp_esc) {
            mon->qmp_esc = false;
        } else if (c == '\\') {
            mon->qmp_esc = true;
        } else if (c == '"') {
            mon->qmp_in_str = false;
            if (mon->qmp_depth == 0) {
                qmp_value_done(mon);
            }
        }
        return true;
    }
    switch (c) {
    case '"':
        mon->qmp_in_str = true;
        break;
    case '{':
    case '[':
        if (++mon->qmp_depth > QMP_MAX_NESTING) {
            qmp_limit_exceeded(mon, "JSON nesting depth limit exceeded");
        }
        break;
    case '}':
    case ']':
        if (--mon->qmp_depth <= 0) {
            qmp_value_done(mon);
        }
        break;
    }
    return true;
}

static void qmp_receive(Monitor *mon, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len && !mon->closed;) {
        if (qmp_feed_byte(mon, buf[i])) {
            i++;
        }
    }
}

static void qmp_finalize(Monitor *mon)
{
    /* qmp_inbuf is freed by the core. */
}

const MonitorOps qmp_monitor_ops = {
    .kind = MONITOR_KIND_QMP,
    .opened = qmp_opened,
    .receive = qmp_receive,
    .finalize = qmp_finalize,
};

bool monitor_init_qmp(const char *spec, GError **errp)
{
    return monitor_init_spec(spec, &qmp_monitor_ops, errp);
}

/* ---- built-in commands ---- */

static JsonNode *qmp_qmp_capabilities(Monitor *mon, JsonObject *args,
                                      GError **errp)
{
    JsonNode *enable = json_object_get_member(args, "enable");
    bool oob = false;

    if (mon->qmp_negotiated) {
        error_set(errp, ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command "
                  "ignored");
        return NULL;
    }
    if (enable) {
        if (!JSON_NODE_HOLDS_ARRAY(enable)) {
            error_setg(errp, "Parameter 'enable' expects an array");
            return NULL;
        }
        JsonArray *arr = json_node_get_array(enable);
        for (guint i = 0; i < json_array_get_length(arr); i++) {
            JsonNode *cap = json_array_get_element(arr, i);

            if (!JSON_NODE_HOLDS_VALUE(cap) ||
                json_node_get_value_type(cap) != G_TYPE_STRING) {
                error_setg(errp, "Parameter 'enable[%u]' expects a string", i);
                return NULL;
            }
            if (strcmp(json_node_get_string(cap), "oob") != 0) {
                error_setg(errp,
                           "Parameter 'enable[%u]' does not accept "
                           "value '%s'",
                           i, json_node_get_string(cap));
                return NULL;
            }
            oob = true;
        }
    }
    mon->qmp_oob = oob;
    mon->qmp_negotiated = true;
    return NULL;
}

static JsonNode *qmp_query_version(Monitor *mon, JsonObject *args,
                                   GError **errp)
{
    g_auto(GStrv) v = g_strsplit(MAPMIG_VERSION, ".", 3);
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();
    int64_t part[3] = { 0, 0, 0 };

    for (int i = 0; i < 3 && v[i]; i++) {
        part[i] = g_ascii_strtoll(v[i], NULL, 10);
    }
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "qemu");
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "major");
    json_builder_add_int_value(b, part[0]);
    json_builder_set_member_name(b, "minor");
    json_builder_add_int_value(b, part[1]);
    json_builder_set_member_name(b, "micro");
    json_builder_add_int_value(b, part[2]);
    json_builder_end_object(b);
    json_builder_set_member_name(b, "package");
    json_builder_add_string_value(b, "mapmig");
    json_builder_end_object(b);
    return json_builder_get_root(b);
}

static JsonNode *qmp_query_commands(Monitor *mon, JsonObject *args,
                                    GError **errp)
{
    g_autoptr(GPtrArray) cmds = qmp_list_commands();
    g_autoptr(JsonBuilder) b = json_builder_new_immutable();

    json_builder_begin_array(b);
    for (guint i = 0; i < cmds->len; i++) {
        const QmpCommand *cmd = cmds->pdata[i];

        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, cmd->name);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    return json_builder_get_root(b);
}

/* Run an HMP command line; its output is the return value. */
static JsonNode *qmp_human_monitor_command(Monitor *mon, JsonObject *args,
                                           GError **errp)
{
    const char *line = NULL;
    int64_t cpu_index;
    g_autofree char *out = NULL;

    if (!qmp_arg_str(args, "command-line", true, &line, errp) ||
        !qmp_arg_int(args, "cpu-index", false, &cpu_index, errp)) {
        return NULL;
    }
    out = hmp_execute_captured(line);
    return json_node_init_string(json_node_alloc(), out);
}

void qmp_register_builtin_commands(void)
{
    qmp_register_command("qmp_capabilities", qmp_qmp_capabilities,
                         QMP_CMD_ALLOW_PRECONFIG);
    qmp_register_command("query-version", qmp_query_version, 0);
    qmp_register_command("query-commands", qmp_query_commands, 0);
    qmp_register_command("human-monitor-command", qmp_human_monitor_command, 0);
}
