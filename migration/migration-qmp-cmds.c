/*
 * The QMP commands of migration: migrate, migrate-incoming,
 * migrate_cancel, query-migrate, and the capability and parameter
 * commands.  Arguments are checked here, as QEMU's QAPI visitor would;
 * the values are checked by the model (options.c) and acted on by
 * migration.c.
 */
#include "qemu/osdep.h"
#include "migration/checkpoint.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "migration/options-cmds.h"
#include "monitor/monitor.h"
#include "monitor/qmp-schema.h"

/* ---- Helpers ---- */

static bool json_node_is_type(JsonNode *node, GType type)
{
    return node && JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == type;
}

static JsonNode *object_node(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

/* Any argument other than @allowed is refused, as QEMU's visitor does. */
static bool qmp_check_only_member(JsonObject *args, const char *allowed,
                                  GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        if (strcmp(l->data, allowed)) {
            error_setg(errp, "Parameter '%s' is unexpected",
                       (const char *)l->data);
            return false;
        }
    }
    return true;
}

/* ---- Migration ---- */

static JsonNode *qmp_query_migrate(Monitor *mon, JsonObject *args,
                                   GError **errp)
{
    return object_node(migration_query());
}

/* "uri" or QEMU 8.2's "channels": [{"channel-type": "main", "addr": ...}] */
static char *migrate_args_uri(JsonObject *args, GError **errp)
{
    const char *uri = NULL;

    if (json_object_has_member(args, "channels")) {
        if (json_object_has_member(args, "uri")) {
            error_setg(errp, "need either 'uri' or 'channels' argument");
            return NULL;
        }
        JsonNode *n = json_object_get_member(args, "channels");
        JsonArray *a = JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
        if (!a || json_array_get_length(a) != 1 ||
            !JSON_NODE_HOLDS_OBJECT(json_array_get_element(a, 0))) {
            error_setg(errp, "Parameter 'channels' expects a list of one "
                             "main channel");
            return NULL;
        }
        JsonObject *ch = json_array_get_object_element(a, 0);
        JsonObject *addr =
            json_object_has_member(ch, "addr") &&
                    JSON_NODE_HOLDS_OBJECT(json_object_get_member(ch, "addr"))
                ? json_object_get_object_member(ch, "addr")
                : NULL;
        const char *transport =
            addr ? json_object_get_string_member_with_default(addr, "transport",
                                                              "")
                 : "";
        if (!strcmp(transport, "file")) {
            const char *fn = json_object_get_string_member_with_default(
                addr, "filename", NULL);
            int64_t off =
                json_object_get_int_member_with_default(addr, "offset", 0);
            if (!fn || off < 0) {
                error_setg(errp, "file channel needs 'filename' and a "
                                 "non-negative 'offset'");
                return NULL;
            }
            return g_strdup_printf("file:%s,offset=%" PRId64, fn, off);
        }
        if (!strcmp(transport, "exec")) {
            JsonArray *argv = json_object_get_array_member(addr, "args");
            GString *cmd = g_string_new(NULL);
            for (guint i = 0; argv && i < json_array_get_length(argv); i++) {
                g_autofree char *q =
                    g_shell_quote(json_array_get_string_element(argv, i));
                g_string_append_printf(cmd, "%s%s", i ? " " : "", q);
            }
            g_string_prepend(cmd, "exec:");
            return g_string_free(cmd, false);
        }
        error_setg(errp, "Unsupported channel transport '%s'", transport);
        return NULL;
    }
    if (!qmp_arg_str(args, "uri", true, &uri, errp)) {
        return NULL;
    }
    return g_strdup(uri);
}

/* migrate and migrate-incoming: @start on the URI the arguments give. */
typedef bool MigrateStartFunc(const char *uri, GError **errp);

static JsonNode *migrate_args_start(JsonObject *args, MigrateStartFunc *start,
                                    GError **errp)
{
    g_autofree char *uri = migrate_args_uri(args, errp);

    if (uri) {
        start(uri, errp);
    }
    return NULL;
}

static JsonNode *qmp_migrate(Monitor *mon, JsonObject *args, GError **errp)
{
    return migrate_args_start(args, qmp_migrate_start, errp);
}

static JsonNode *qmp_migrate_incoming(Monitor *mon, JsonObject *args,
                                      GError **errp)
{
    return migrate_args_start(args, qmp_migrate_incoming_start, errp);
}

static JsonNode *qmp_migrate_cancel(Monitor *mon, JsonObject *args,
                                    GError **errp)
{
    qmp_migrate_cancel_do();
    return NULL;
}

/* ---- x-checkpoint ---- */

static JsonNode *qmp_x_query_checkpoints(Monitor *mon, JsonObject *args,
                                         GError **errp)
{
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(n, checkpoint_query(true));
    return n;
}

static JsonNode *qmp_x_checkpoint_forget(Monitor *mon, JsonObject *args,
                                         GError **errp)
{
    JsonNode *path = json_object_get_member(args, "path");

    if (!qmp_check_only_member(args, "path", errp)) {
        return NULL;
    }
    if (path && !json_node_is_type(path, G_TYPE_STRING)) {
        error_setg(errp, "Invalid parameter type for 'path', expected: string");
        return NULL;
    }
    checkpoint_forget(path ? json_node_get_string(path) : NULL, errp);
    return NULL;
}

/* ---- Capabilities and parameters ---- */

static bool qmp_parse_cap_entry(JsonNode *entry, bool *new_caps, GError **errp)
{
    JsonObject *obj;
    JsonNode *name_node, *state_node;
    int cap;

    if (!entry || !JSON_NODE_HOLDS_OBJECT(entry)) {
        goto bad_type;
    }
    obj = json_node_get_object(entry);
    name_node = json_object_get_member(obj, "capability");
    state_node = json_object_get_member(obj, "state");
    if (json_object_get_size(obj) != 2 ||
        !json_node_is_type(name_node, G_TYPE_STRING) ||
        !json_node_is_type(state_node, G_TYPE_BOOLEAN)) {
        goto bad_type;
    }
    cap = migration_capability_parse(json_node_get_string(name_node), errp);
    if (cap < 0) {
        return false;
    }
    new_caps[cap] = json_node_get_boolean(state_node);
    return true;

bad_type:
    error_setg(errp, "Parameter 'capabilities' expects a list of "
                     "{capability, state}");
    return false;
}

JsonNode *qmp_migrate_set_capabilities(Monitor *mon, JsonObject *args,
                                       GError **errp)
{
    bool new_caps[MIGRATION_CAPABILITY__MAX];
    JsonNode *list;
    JsonArray *arr;

    if (!qmp_check_only_member(args, "capabilities", errp)) {
        return NULL;
    }
    list = json_object_get_member(args, "capabilities");
    if (!list) {
        error_setg(errp, "Parameter 'capabilities' is missing");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(list)) {
        error_setg(errp, "Parameter 'capabilities' expects a list of "
                         "{capability, state}");
        return NULL;
    }
    arr = json_node_get_array(list);

    migrate_caps_snapshot(new_caps);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        if (!qmp_parse_cap_entry(json_array_get_element(arr, i), new_caps,
                                 errp)) {
            return NULL;
        }
    }
    migrate_set_caps(new_caps, errp);
    return NULL;
}

JsonNode *qmp_query_migrate_capabilities(Monitor *mon, JsonObject *args,
                                         GError **errp)
{
    JsonArray *arr = json_array_new();
    JsonNode *ret = json_node_new(JSON_NODE_ARRAY);

    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "capability",
                                      migration_capability_name(i));
        json_object_set_boolean_member(o, "state", migrate_cap(i));
        json_array_add_object_element(arr, o);
    }
    json_node_take_array(ret, arr);
    return ret;
}

/*
 * One of the fixed parameters: returns 1 if @name is one (and @node its
 * only value), 0 if it is not one, -1 on a wrong value.
 */
static int qmp_parse_fixed_param(const char *name, JsonNode *node,
                                 GError **errp)
{
    size_t n;
    const MigFixedParam *fixed_params = migration_fixed_params(&n);

    for (size_t i = 0; i < n; i++) {
        if (strcmp(fixed_params[i].name, name)) {
            continue;
        }
        if (!json_node_is_type(node, G_TYPE_STRING)) {
            migration_param_error_type(name, "string", errp);
            return -1;
        }
        if (strcmp(json_node_get_string(node), fixed_params[i].value)) {
            error_setg(errp, "Parameter '%s' only accepts '%s' in mapmig", name,
                       fixed_params[i].value);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* The JSON type each kind of parameter takes, named as in the error. */
static const struct {
    GType type;
    const char *name;
} kind_json[] = {
    [MIG_PARAM_KIND_INT] = { G_TYPE_INT64, "integer" },
    [MIG_PARAM_KIND_BOOL] = { G_TYPE_BOOLEAN, "boolean" },
    [MIG_PARAM_KIND_ENUM] = { G_TYPE_STRING, "string" },
};

static bool qmp_parse_param(MigrationParameters *p, MigParam id, JsonNode *node,
                            GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);

    if (!json_node_is_type(node, kind_json[info->kind].type)) {
        migration_param_error_type(info->name, kind_json[info->kind].name,
                                   errp);
        return false;
    }
    switch (info->kind) {
    case MIG_PARAM_KIND_INT:
        if (json_node_get_int(node) < 0) {
            migration_param_error_range(id, errp);
            return false;
        }
        return migration_param_set(p, id, json_node_get_int(node), errp);
    case MIG_PARAM_KIND_BOOL:
        return migration_param_set(p, id, json_node_get_boolean(node), errp);
    case MIG_PARAM_KIND_ENUM:
        return migration_param_set_enum(p, id, json_node_get_string(node),
                                        errp);
    }
    g_assert_not_reached();
}

JsonNode *qmp_migrate_set_parameters(Monitor *mon, JsonObject *args,
                                     GError **errp)
{
    MigrationParameters p = migrate_params_snapshot();
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        JsonNode *node = json_object_get_member(args, name);
        int fixed = qmp_parse_fixed_param(name, node, errp);
        int id;

        if (fixed < 0) {
            return NULL;
        } else if (fixed > 0) {
            continue;
        }
        id = migration_param_lookup(name);
        if (id < 0) {
            error_setg(errp, "Parameter '%s' is unexpected", name);
            return NULL;
        }
        if (!qmp_parse_param(&p, id, node, errp)) {
            return NULL;
        }
    }
    migrate_set_params(&p, errp);
    return NULL;
}

JsonNode *qmp_query_migrate_parameters(Monitor *mon, JsonObject *args,
                                       GError **errp)
{
    MigrationParameters p = migrate_params_snapshot();
    JsonObject *o = json_object_new();
    JsonNode *ret = json_node_new(JSON_NODE_OBJECT);
    size_t n;
    const MigFixedParam *fixed_params = migration_fixed_params(&n);

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        const MigParamInfo *info = migration_param_info(i);
        uint64_t v = migration_param_get(&p, i);

        switch (info->kind) {
        case MIG_PARAM_KIND_INT:
            json_object_set_int_member(o, info->name, v);
            break;
        case MIG_PARAM_KIND_BOOL:
            json_object_set_boolean_member(o, info->name, v);
            break;
        case MIG_PARAM_KIND_ENUM:
            json_object_set_string_member(o, info->name, info->enum_names[v]);
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_object_set_string_member(o, fixed_params[i].name,
                                      fixed_params[i].value);
    }
    json_node_take_object(ret, o);
    return ret;
}

/* ---- Registration ---- */

static const struct {
    const char *name;
    QmpCommandFunc fn;
} qmp_cmds[] = {
    { "migrate", qmp_migrate },
    { "migrate-incoming", qmp_migrate_incoming },
    { "migrate_cancel", qmp_migrate_cancel },
    { "migrate-cancel", qmp_migrate_cancel },
    { "query-migrate", qmp_query_migrate },
    { "migrate-set-capabilities", qmp_migrate_set_capabilities },
    { "query-migrate-capabilities", qmp_query_migrate_capabilities },
    { "migrate-set-parameters", qmp_migrate_set_parameters },
    { "query-migrate-parameters", qmp_query_migrate_parameters },
    { "x-query-checkpoints", qmp_x_query_checkpoints },
    { "x-checkpoint-forget", qmp_x_checkpoint_forget },
};

/* The SchemaInfo name of an enum parameter's type: io-engine -> IoEngine. */
static char *param_enum_type(const char *param)
{
    g_auto(GStrv) words = g_strsplit(param, "-", -1);
    GString *s = g_string_new(NULL);

    for (int i = 0; words[i]; i++) {
        words[i][0] = g_ascii_toupper(words[i][0]);
        g_string_append(s, words[i]);
    }
    return g_string_free(s, false);
}

/* MigrationParameters: every parameter of the table, all optional. */
static void migration_schema_params(void)
{
    size_t nfixed;
    const MigFixedParam *fixed = migration_fixed_params(&nfixed);
    g_autofree QmpSchemaMember *m =
        g_new(QmpSchemaMember, MIG_PARAM__MAX + nfixed);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        const MigParamInfo *info = migration_param_info(i);
        m[i] = (QmpSchemaMember){ info->name, "int", true };
        if (info->kind == MIG_PARAM_KIND_BOOL) {
            m[i].type = "bool";
        } else if (info->kind == MIG_PARAM_KIND_ENUM) {
            char *t = param_enum_type(info->name);
            qmp_schema_add_enum(t, info->enum_names, info->enum_max);
            g_ptr_array_add(names, t);
            m[i].type = t;
        }
    }
    /* Those with one value are strings a client may send back. */
    for (size_t i = 0; i < nfixed; i++) {
        m[MIG_PARAM__MAX + i] = (QmpSchemaMember){ fixed[i].name, "str", true };
    }
    qmp_schema_add_object("MigrationParameters", m, MIG_PARAM__MAX + nfixed);
    qmp_schema_add_object("MigrateSetParameters", m, MIG_PARAM__MAX + nfixed);
}

/* What query-qmp-schema says of the migration commands and events. */
static void migration_schema_register(void)
{
    const char *caps[MIGRATION_CAPABILITY__MAX];
    const char *status[MIGRATION_STATUS__MAX];
    static const QmpSchemaMember cap_status[] = {
        { "capability", "MigrationCapability" }, { "state", "bool" }
    };
    static const QmpSchemaMember set_caps[] = {
        { "capabilities", "[MigrationCapabilityStatus]" }
    };
    static const QmpSchemaMember migrate[] = {
        { "uri", "str", true },
        { "channels", "any", true },
        { "detach", "bool", true },
        { "resume", "bool", true },
    };
    static const QmpSchemaMember incoming[] = {
        { "uri", "str", true },
        { "channels", "any", true },
        { "exit-on-error", "bool", true },
    };
    static const QmpSchemaMember info[] = {
        { "status", "MigrationStatus", true }, { "total-time", "int", true },
        { "downtime", "int", true },           { "setup-time", "int", true },
        { "expected-downtime", "int", true },  { "ram", "any", true },
        { "error-desc", "str", true },         { "x-checkpoint", "any", true },
    };
    static const QmpSchemaMember ckpt_info[] = {
        { "path", "str" },
        { "offset", "int" },
        { "dirty-pages", "int" },
        { "file-pages", "int" },
    };
    static const QmpSchemaMember ckpt_forget[] = { { "path", "str", true } };
    static const QmpSchemaMember event[] = { { "status", "MigrationStatus" } };
    static const QmpSchemaMember pass[] = { { "pass", "int" } };

    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        caps[i] = migration_capability_name(i);
    }
    for (int i = 0; i < MIGRATION_STATUS__MAX; i++) {
        status[i] = migration_status_name(i);
    }
    qmp_schema_add_enum("MigrationCapability", caps, G_N_ELEMENTS(caps));
    qmp_schema_add_enum("MigrationStatus", status, G_N_ELEMENTS(status));
    qmp_schema_add_object("MigrationCapabilityStatus", cap_status,
                          G_N_ELEMENTS(cap_status));
    qmp_schema_add_object("q_obj_migrate-set-capabilities-arg", set_caps,
                          G_N_ELEMENTS(set_caps));
    qmp_schema_add_object("q_obj_migrate-arg", migrate, G_N_ELEMENTS(migrate));
    qmp_schema_add_object("q_obj_migrate-incoming-arg", incoming,
                          G_N_ELEMENTS(incoming));
    qmp_schema_add_object("MigrationInfo", info, G_N_ELEMENTS(info));
    qmp_schema_add_object("q_obj_MIGRATION-arg", event, G_N_ELEMENTS(event));
    qmp_schema_add_object("q_obj_MIGRATION_PASS-arg", pass, G_N_ELEMENTS(pass));
    qmp_schema_add_object("XCheckpointInfo", ckpt_info,
                          G_N_ELEMENTS(ckpt_info));
    qmp_schema_add_object("q_obj_x-checkpoint-forget-arg", ckpt_forget,
                          G_N_ELEMENTS(ckpt_forget));
    qmp_schema_describe_command("x-query-checkpoints", "0",
                                "[XCheckpointInfo]");
    qmp_schema_describe_command("x-checkpoint-forget",
                                "q_obj_x-checkpoint-forget-arg", "0");
    migration_schema_params();
    qmp_schema_describe_command("migrate", "q_obj_migrate-arg", "0");
    qmp_schema_describe_command("migrate-incoming",
                                "q_obj_migrate-incoming-arg", "0");
    qmp_schema_describe_command("query-migrate", "0", "MigrationInfo");
    qmp_schema_describe_command("migrate-set-capabilities",
                                "q_obj_migrate-set-capabilities-arg", "0");
    qmp_schema_describe_command("query-migrate-capabilities", "0",
                                "[MigrationCapabilityStatus]");
    qmp_schema_describe_command("migrate-set-parameters",
                                "MigrateSetParameters", "0");
    qmp_schema_describe_command("query-migrate-parameters", "0",
                                "MigrationParameters");
    qmp_schema_add_event("MIGRATION", "q_obj_MIGRATION-arg");
    qmp_schema_add_event("MIGRATION_PASS", "q_obj_MIGRATION_PASS-arg");
}

void migration_register_commands(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(qmp_cmds); i++) {
        qmp_register_command(qmp_cmds[i].name, qmp_cmds[i].fn, 0);
    }
    migration_schema_register();
    migration_hmp_register_commands();
}
