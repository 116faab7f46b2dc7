/*
 * Fuzz QMP input without a socket: the bytes reach the QMP monitor as if
 * a client had sent them — the splitter (nesting, strings, escapes, the
 * size and depth limits), json-glib, the request checks (execute,
 * arguments, id, oob), negotiation and the dispatch of every registered
 * command with its argument checks.  migrate and migrate-incoming parse
 * their URI and refuse (fuzz-monitor.c).
 *
 * Oracle beyond "no crash": everything the monitor writes is a sequence
 * of CRLF-terminated JSON objects, each a greeting, a reply or an event.
 */
#include "qemu/osdep.h"
#include "tests/fuzz/fuzz-monitor.h"

#include <json-glib/json-glib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_monitor_init();
    return 0;
}

static void check_line(const char *line, size_t len)
{
    g_autoptr(JsonParser) p = json_parser_new_immutable();
    g_autoptr(GError) err = NULL;

    if (!json_parser_load_from_data(p, line, len, &err)) {
        g_error("fuzz-qmp: reply is not JSON (%s): %.*s", err->message,
                (int)len, line);
    }
    JsonNode *root = json_parser_get_root(p);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_error("fuzz-qmp: reply is not a JSON object: %.*s", (int)len, line);
    }
    JsonObject *o = json_node_get_object(root);
    if (!json_object_has_member(o, "QMP") &&
        !json_object_has_member(o, "return") &&
        !json_object_has_member(o, "error") &&
        !json_object_has_member(o, "event")) {
        g_error("fuzz-qmp: reply of an unknown kind: %.*s", (int)len, line);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GByteArray) out = fuzz_monitor_run(&qmp_monitor_ops, data, size);
    const char *p = (const char *)out->data;
    const char *end = p + out->len;

    while (p < end) {
        const char *crlf = g_strstr_len(p, end - p, "\r\n");
        if (!crlf) {
            g_error("fuzz-qmp: output does not end with CRLF");
        }
        check_line(p, crlf - p);
        p = crlf + 2;
    }
    return 0;
}
