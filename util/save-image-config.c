/*
 * The configuration JSON of a save image (see qemu/save-image.h): the one
 * parser for mapmig-ctl restore and mapmig-img.
 */
#include "qemu/save-image.h"

#include <json-glib/json-glib.h>

/* @o.@name as an array, or NULL when absent or of another type. */
static JsonArray *member_array(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;
    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

static JsonObject *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = json_object_get_member(o, name);
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

static const char *element_string(JsonArray *a, guint i)
{
    JsonNode *e = json_array_get_element(a, i);
    return JSON_NODE_HOLDS_VALUE(e) &&
                   json_node_get_value_type(e) == G_TYPE_STRING
               ? json_node_get_string(e)
               : NULL;
}

bool save_image_config_parse(const char *json, SaveImageConfig *cfg,
                             GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();

    memset(cfg, 0, sizeof(*cfg));
    cfg->channels = 1;
    if (!json_parser_load_from_data(p, json, -1, errp)) {
        return false;
    }
    JsonNode *rn = json_parser_get_root(p);
    if (!rn || !JSON_NODE_HOLDS_OBJECT(rn)) {
        error_setg(errp, "the configuration is not a JSON object");
        return false;
    }
    JsonObject *root = json_node_get_object(rn);
    JsonArray *args = member_array(member_object(root, "vm"), "args");
    if (!args) {
        error_setg(errp, "the configuration has no vm.args list");
        return false;
    }
    guint n = json_array_get_length(args);
    g_auto(GStrv) vm_args = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        const char *arg = element_string(args, i);
        if (!arg) {
            error_setg(errp, "vm.args[%u] is not a string", i);
            return false;
        }
        vm_args[i] = g_strdup(arg);
    }

    GPtrArray *caps = g_ptr_array_new();
    JsonObject *save = member_object(root, "save");
    if (save) {
        cfg->channels =
            json_object_get_int_member_with_default(save, "channels", 1);
        JsonArray *ca = member_array(save, "capabilities");
        for (guint i = 0; ca && i < json_array_get_length(ca); i++) {
            const char *c = element_string(ca, i);
            if (c) {
                g_ptr_array_add(caps, g_strdup(c));
            }
        }
    }
    cfg->vm_args = g_steal_pointer(&vm_args);
    g_ptr_array_add(caps, NULL);
    cfg->caps = (char **)g_ptr_array_free(caps, false);
    return true;
}

void save_image_config_clear(SaveImageConfig *cfg)
{
    g_clear_pointer(&cfg->vm_args, g_strfreev);
    g_clear_pointer(&cfg->caps, g_strfreev);
}
