/*
 * query-qmp-schema (see include/monitor/qmp-schema.h).  The answer is built
 * at each call from what the subsystems described and from the command
 * table, so it can never list a command that does not exist.
 */
#include "qemu/osdep.h"
#include "monitor/monitor.h"
#include "monitor/qmp-schema.h"
#include "monitor-internal.h"

/* SchemaInfo objects of types and events, in registration order. */
static GPtrArray *schema_types;  /* JsonNode* */
static GPtrArray *schema_events; /* JsonNode* */
static GHashTable *schema_cmds;  /* name -> char *[2] {arg, ret} */

static GPtrArray *schema_list(GPtrArray **list)
{
    if (!*list) {
        *list = g_ptr_array_new_with_free_func((GDestroyNotify)json_node_unref);
    }
    return *list;
}

static JsonBuilder *schema_begin(const char *name, const char *meta)
{
    JsonBuilder *b = json_builder_new();

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "meta-type");
    json_builder_add_string_value(b, meta);
    return b;
}

static void schema_end(JsonBuilder *b, GPtrArray *list)
{
    json_builder_end_object(b);
    g_ptr_array_add(list, json_builder_get_root(b));
    g_object_unref(b);
}

void qmp_schema_add_object(const char *name, const QmpSchemaMember *members,
                           size_t n)
{
    JsonBuilder *b = schema_begin(name, "object");

    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, members[i].name);
        json_builder_set_member_name(b, "type");
        json_builder_add_string_value(b, members[i].type);
        if (members[i].optional) {
            /* QEMU marks an optional member with a null default. */
            json_builder_set_member_name(b, "default");
            json_builder_add_null_value(b);
        }
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    schema_end(b, schema_list(&schema_types));
}

void qmp_schema_add_enum(const char *name, const char *const *values, size_t n)
{
    JsonBuilder *b = schema_begin(name, "enum");

    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        if (values[i]) {
            json_builder_begin_object(b);
            json_builder_set_member_name(b, "name");
            json_builder_add_string_value(b, values[i]);
            json_builder_end_object(b);
        }
    }
    json_builder_end_array(b);
    json_builder_set_member_name(b, "values");
    json_builder_begin_array(b);
    for (size_t i = 0; i < n; i++) {
        if (values[i]) {
            json_builder_add_string_value(b, values[i]);
        }
    }
    json_builder_end_array(b);
    schema_end(b, schema_list(&schema_types));
}

void qmp_schema_describe_command(const char *name, const char *arg_type,
                                 const char *ret_type)
{
    char **types = g_new0(char *, 3);

    if (!schema_cmds) {
        schema_cmds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify)g_strfreev);
    }
    types[0] = g_strdup(arg_type);
    types[1] = g_strdup(ret_type);
    g_hash_table_replace(schema_cmds, g_strdup(name), types);
}

void qmp_schema_add_event(const char *name, const char *arg_type)
{
    JsonBuilder *b = schema_begin(name, "event");

    json_builder_set_member_name(b, "arg-type");
    json_builder_add_string_value(b, arg_type ? arg_type : "0");
    schema_end(b, schema_list(&schema_events));
}

static void add_node(JsonBuilder *b, JsonNode *n)
{
    json_builder_add_value(b, json_node_copy(n));
}

static void add_builtin(JsonBuilder *b, const char *name, const char *json)
{
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "meta-type");
    json_builder_add_string_value(b, "builtin");
    json_builder_set_member_name(b, "json-type");
    json_builder_add_string_value(b, json);
    json_builder_end_object(b);
}

/* "[T]": QEMU names an array type after its element type. */
static void add_array(JsonBuilder *b, const char *elem)
{
    g_autofree char *name = g_strdup_printf("[%s]", elem);

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "meta-type");
    json_builder_add_string_value(b, "array");
    json_builder_set_member_name(b, "element-type");
    json_builder_add_string_value(b, elem);
    json_builder_end_object(b);
}

static void add_command(JsonBuilder *b, const char *name)
{
    char **types = schema_cmds ? g_hash_table_lookup(schema_cmds, name) : NULL;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, name);
    json_builder_set_member_name(b, "meta-type");
    json_builder_add_string_value(b, "command");
    json_builder_set_member_name(b, "arg-type");
    json_builder_add_string_value(b, types && types[0] ? types[0] : "0");
    json_builder_set_member_name(b, "ret-type");
    json_builder_add_string_value(b, types && types[1] ? types[1] : "any");
    json_builder_end_object(b);
}

/* Array types used as member, argument or return types. */
static void collect_arrays(GHashTable *seen, JsonNode *info)
{
    JsonObject *o = json_node_get_object(info);
    JsonArray *members = json_object_has_member(o, "members") &&
                                 !json_object_has_member(o, "values")
                             ? json_object_get_array_member(o, "members")
                             : NULL;

    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        const char *t = json_object_get_string_member(
            json_array_get_object_element(members, i), "type");
        if (t[0] == '[') {
            g_hash_table_add(seen, g_strndup(t + 1, strlen(t) - 2));
        }
    }
}

static JsonNode *qmp_query_qmp_schema(Monitor *mon, JsonObject *args,
                                      GError **errp)
{
    g_autoptr(GPtrArray) cmds = qmp_list_commands();
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(GHashTable) arrays =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    GHashTableIter it;
    gpointer key;

    json_builder_begin_array(b);
    for (guint i = 0; i < cmds->len; i++) {
        add_command(b, ((const QmpCommand *)cmds->pdata[i])->name);
    }
    for (guint i = 0; schema_events && i < schema_events->len; i++) {
        add_node(b, schema_events->pdata[i]);
    }
    for (guint i = 0; schema_types && i < schema_types->len; i++) {
        add_node(b, schema_types->pdata[i]);
        collect_arrays(arrays, schema_types->pdata[i]);
    }
    if (schema_cmds) {
        g_hash_table_iter_init(&it, schema_cmds);
        gpointer value;
        while (g_hash_table_iter_next(&it, NULL, &value)) {
            const char *ret = ((char **)value)[1];
            if (ret && ret[0] == '[') {
                g_hash_table_add(arrays, g_strndup(ret + 1, strlen(ret) - 2));
            }
        }
    }
    g_hash_table_iter_init(&it, arrays);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        add_array(b, key);
    }
    /* The empty argument object and the builtins. */
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "name");
    json_builder_add_string_value(b, "0");
    json_builder_set_member_name(b, "meta-type");
    json_builder_add_string_value(b, "object");
    json_builder_set_member_name(b, "members");
    json_builder_begin_array(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    add_builtin(b, "int", "int");
    add_builtin(b, "str", "string");
    add_builtin(b, "bool", "boolean");
    add_builtin(b, "any", "value");
    add_builtin(b, "null", "null");
    json_builder_end_array(b);
    return json_builder_get_root(b);
}

void qmp_schema_register_commands(void)
{
    static const QmpSchemaMember shutdown[] = {
        { "guest", "bool" },
        { "reason", "str" },
    };

    qmp_register_command("query-qmp-schema", qmp_query_qmp_schema, 0);
    qmp_schema_add_object("q_obj_SHUTDOWN-arg", shutdown,
                          G_N_ELEMENTS(shutdown));
    qmp_schema_add_event("SHUTDOWN", "q_obj_SHUTDOWN-arg");
    qmp_schema_add_event("STOP", NULL);
    qmp_schema_add_event("RESUME", NULL);
}
