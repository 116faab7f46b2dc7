/*
 * x-query-vm-config: the options that recreate this VM.
 *
 * The command line is kept as given, so options that other parts of
 * mapmig add (memory backends, accelerators, ...) are carried without
 * this file knowing them; only the options tied to one process are
 * dropped.
 */
#include "qemu/osdep.h"
#include "monitor/monitor.h"
#include "qemu/save-image.h"
#include "system/ramblock.h"
#include "system/system.h"
#include "system/vm-config.h"

static GPtrArray *recorded; /* char *: the kept options; main thread */

bool vm_config_option_is_per_instance(const char *opt)
{
    /* One list for both ends: restore refuses what we leave out. */
    return save_image_option_is_per_instance(opt);
}

void vm_config_record(int argc, char **argv, bool (*takes_arg)(const char *))
{
    if (recorded) {
        g_ptr_array_free(recorded, true);
    }
    recorded = g_ptr_array_new_with_free_func(g_free);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            continue; /* the parser refused these already */
        }
        const char *opt = a + 1 + (a[1] == '-');
        bool has_arg = takes_arg(opt) && i + 1 < argc;
        if (vm_config_option_is_per_instance(opt)) {
            i += has_arg;
            continue;
        }
        g_ptr_array_add(recorded, g_strdup(a));
        if (has_arg) {
            g_ptr_array_add(recorded, g_strdup(argv[++i]));
        }
    }
}

char **vm_config_args(void)
{
    char **v = g_new0(char *, (recorded ? recorded->len : 0) + 1);

    for (guint i = 0; recorded && i < recorded->len; i++) {
        v[i] = g_strdup(recorded->pdata[i]);
    }
    return v;
}

static JsonNode *qmp_x_query_vm_config(Monitor *mon, JsonObject *args,
                                       GError **errp)
{
    JsonObject *o = json_object_new();
    JsonArray *a = json_array_new();
    g_auto(GStrv) v = vm_config_args();

    for (int i = 0; v[i]; i++) {
        json_array_add_string_element(a, v[i]);
    }
    json_object_set_array_member(o, "args", a);
    json_object_set_string_member(o, "version", MAPMIG_VERSION);
    json_object_set_string_member(o, "machine", machine_type_name());
    json_object_set_int_member(o, "ram-total", ram_bytes_total());
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

void vm_config_register_commands(void)
{
    qmp_register_command("x-query-vm-config", qmp_x_query_vm_config, 0);
}
