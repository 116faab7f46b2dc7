/*
 * Host memory backends: the -object option, the common properties (id,
 * size, share, prealloc) and mapping a backend as a RAMBlock.  The
 * backend types are in hostmem-ram.c, hostmem-file.c and hostmem-memfd.c.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "system/hostmem.h"

#include <json-glib/json-glib.h>

static const HostMemoryBackendClass *const backend_classes[] = {
    &host_memory_backend_ram_class,
    &host_memory_backend_file_class,
    &host_memory_backend_memfd_class,
};

/* Objects in creation order; main thread only. */
static GPtrArray *objects;

static const HostMemoryBackendClass *backend_class_find(const char *type)
{
    for (size_t i = 0; i < ARRAY_SIZE(backend_classes); i++) {
        if (!strcmp(backend_classes[i]->type, type)) {
            return backend_classes[i];
        }
    }
    return NULL;
}

bool hostmem_parse_bool(const char *type, const char *name, const char *value,
                        bool *out, GError **errp)
{
    if (!qemu_parse_bool(value, out)) {
        error_setg(errp, "Property '%s.%s' expects on or off, not '%s'", type,
                   name, value);
        return false;
    }
    return true;
}

static HostMemoryBackend *
host_memory_backend_new(const HostMemoryBackendClass *klass)
{
    HostMemoryBackend *be = g_new0(HostMemoryBackend, 1);

    be->klass = klass;
    be->share = klass->share_default;
    be->seal = true;
    return be;
}

static void host_memory_backend_free(HostMemoryBackend *be)
{
    if (!be) {
        return;
    }
    if (be->klass->finalize) {
        be->klass->finalize(be);
    }
    g_free(be->id);
    g_free(be);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(HostMemoryBackend, host_memory_backend_free)

static bool set_property(HostMemoryBackend *be, const char *name,
                         const char *value, GError **errp)
{
    const char *type = be->klass->type;

    if (!strcmp(name, "size")) {
        if (qemu_strtosz(value, NULL, &be->size)) {
            error_setg(errp, "Property '%s.size' expects a size, not '%s'",
                       type, value);
            return false;
        }
        return true;
    }
    if (!strcmp(name, "share")) {
        return hostmem_parse_bool(type, name, value, &be->share, errp);
    }
    if (!strcmp(name, "prealloc")) {
        return hostmem_parse_bool(type, name, value, &be->prealloc, errp);
    }
    int r = be->klass->set_property
                ? be->klass->set_property(be, name, value, errp)
                : 0;
    if (r == 0) {
        error_setg(errp, "Property '%s.%s' not found", type, name);
    }
    return r > 0;
}

/* QEMU's "complete": every property is known now. */
static bool host_memory_backend_complete(HostMemoryBackend *be, GError **errp)
{
    if (!be->id) {
        error_setg(errp, "Parameter 'id' is missing");
        return false;
    }
    if (object_id_exists(be->id)) {
        error_setg(errp, "Duplicate object id '%s'", be->id);
        return false;
    }
    if (!be->size) {
        error_setg(errp, "%s '%s': can't create backend with size 0",
                   be->klass->type, be->id);
        return false;
    }
    if (be->size % TARGET_PAGE_SIZE) {
        error_setg(errp,
                   "%s '%s': size %" PRIu64 " is not a multiple of the "
                   "page size %llu",
                   be->klass->type, be->id, be->size,
                   (unsigned long long)TARGET_PAGE_SIZE);
        return false;
    }
    if (be->klass->check && !be->klass->check(be, errp)) {
        error_prepend(errp, "%s '%s'", be->klass->type, be->id);
        return false;
    }
    if (!objects) {
        objects = g_ptr_array_new();
    }
    g_ptr_array_add(objects, be);
    return true;
}

static HostMemoryBackend *object_new(const char *type, GError **errp)
{
    const HostMemoryBackendClass *klass = backend_class_find(type);

    if (!klass) {
        error_setg(errp,
                   "invalid object type: %s (mapmig has memory-backend-ram, "
                   "memory-backend-file and memory-backend-memfd)",
                   type);
        return NULL;
    }
    return host_memory_backend_new(klass);
}

static bool object_set_member(HostMemoryBackend *be, const char *name,
                              const char *value, GError **errp)
{
    if (!strcmp(name, "id")) {
        g_free(be->id);
        be->id = g_strdup(value);
        return true;
    }
    return set_property(be, name, value, errp);
}

/*
 * QEMU's keyval syntax: "key=value" pairs separated by commas, ",," for
 * a comma inside a value; the first element may be the bare type.
 */
static GPtrArray *keyval_split(const char *s)
{
    GPtrArray *items = g_ptr_array_new_with_free_func(g_free);
    GString *cur = g_string_new(NULL);

    for (const char *p = s;; p++) {
        if (*p == ',' && p[1] == ',') {
            g_string_append_c(cur, ',');
            p++;
        } else if (*p == ',' || !*p) {
            g_ptr_array_add(items, g_string_free(cur, false));
            if (!*p) {
                break;
            }
            cur = g_string_new(NULL);
        } else {
            g_string_append_c(cur, *p);
        }
    }
    return items;
}

static HostMemoryBackend *object_parse_keyval(const char *optarg, GError **errp)
{
    g_autoptr(GPtrArray) items = keyval_split(optarg);
    const char *first = items->pdata[0];
    const char *type = first;
    guint i = 1;

    if (g_str_has_prefix(first, "qom-type=")) {
        type = first + strlen("qom-type=");
    } else if (strchr(first, '=')) {
        error_setg(errp, "Parameter 'qom-type' is missing");
        return NULL;
    }
    g_autoptr(HostMemoryBackend) be = object_new(type, errp);
    if (!be) {
        return NULL;
    }
    for (; i < items->len; i++) {
        char *kv = items->pdata[i];
        char *eq = strchr(kv, '=');
        if (!eq) {
            error_setg(errp, "Expected '=' after parameter '%s'", kv);
            return NULL;
        }
        *eq = 0;
        if (!object_set_member(be, kv, eq + 1, errp)) {
            return NULL;
        }
    }
    return g_steal_pointer(&be);
}

/* A JSON scalar as the string the keyval form would carry. */
static char *json_scalar_to_string(JsonNode *n)
{
    if (!JSON_NODE_HOLDS_VALUE(n)) {
        return NULL;
    }
    switch (json_node_get_value_type(n)) {
    case G_TYPE_STRING:
        return g_strdup(json_node_get_string(n));
    case G_TYPE_BOOLEAN:
        return g_strdup(json_node_get_boolean(n) ? "on" : "off");
    case G_TYPE_INT64:
        if (json_node_get_int(n) < 0) {
            return NULL;
        }
        return g_strdup_printf("%" PRId64, json_node_get_int(n));
    default:
        return NULL;
    }
}

static HostMemoryBackend *object_parse_json(const char *optarg, GError **errp)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    GError *err = NULL;

    if (!json_parser_load_from_data(parser, optarg, -1, &err)) {
        error_setg(errp, "-object: invalid JSON: %s", err->message);
        g_error_free(err);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(errp, "-object: JSON must be an object");
        return NULL;
    }
    JsonObject *o = json_node_get_object(root);
    JsonNode *t = json_object_get_member(o, "qom-type");
    g_autofree char *type = t ? json_scalar_to_string(t) : NULL;
    if (!type) {
        error_setg(errp, "Parameter 'qom-type' is missing");
        return NULL;
    }
    g_autoptr(HostMemoryBackend) be = object_new(type, errp);
    if (!be) {
        return NULL;
    }
    g_autoptr(GList) members = json_object_get_members(o);
    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        if (!strcmp(name, "qom-type")) {
            continue;
        }
        g_autofree char *value =
            json_scalar_to_string(json_object_get_member(o, name));
        if (!value) {
            error_setg(errp, "Property '%s.%s': unsupported JSON value", type,
                       name);
            return NULL;
        }
        if (!object_set_member(be, name, value, errp)) {
            return NULL;
        }
    }
    return g_steal_pointer(&be);
}

bool object_option_parse(const char *optarg, GError **errp)
{
    HostMemoryBackend *be = optarg[0] == '{'
                                ? object_parse_json(optarg, errp)
                                : object_parse_keyval(optarg, errp);

    if (!be) {
        return false;
    }
    if (!host_memory_backend_complete(be, errp)) {
        host_memory_backend_free(be);
        return false;
    }
    return true;
}

HostMemoryBackend *host_memory_backend_find(const char *id)
{
    for (guint i = 0; objects && i < objects->len; i++) {
        HostMemoryBackend *be = objects->pdata[i];
        if (!strcmp(be->id, id)) {
            return be;
        }
    }
    return NULL;
}

bool object_id_exists(const char *id)
{
    return host_memory_backend_find(id) != NULL;
}

RAMBlock *host_memory_backend_map(HostMemoryBackend *be, uint64_t gpa,
                                  GError **errp)
{
    int fd = -1;
    uint32_t flags = 0;
    size_t page_size = 0;

    if (be->ram) {
        error_setg(errp, "memory backend %s can't be used multiple times.",
                   be->id);
        return NULL;
    }
    if (!be->klass->open(be, &fd, &flags, &page_size, errp)) {
        error_prepend(errp, "%s '%s'", be->klass->type, be->id);
        return NULL;
    }
    flags |= (be->share ? RAM_SHARED : 0) | (be->prealloc ? RAM_PREALLOC : 0);
    be->ram = qemu_ram_alloc_from_fd(be->id, be->size, gpa, fd, flags,
                                     page_size, errp);
    return be->ram;
}

void object_cleanup_all(void)
{
    if (objects) {
        g_ptr_array_set_free_func(objects,
                                  (GDestroyNotify)host_memory_backend_free);
        g_ptr_array_free(objects, true);
        objects = NULL;
    }
}

size_t qemu_default_hugepage_size(void)
{
    g_autofree char *meminfo = NULL;
    unsigned long kb = 0;

    if (!g_file_get_contents("/proc/meminfo", &meminfo, NULL, NULL)) {
        return 0;
    }
    const char *p = strstr(meminfo, "Hugepagesize:");
    if (!p || sscanf(p, "Hugepagesize: %lu kB", &kb) != 1) {
        return 0;
    }
    return kb * KiB;
}

bool qemu_hugepage_size_supported(uint64_t size)
{
    g_autofree char *dir = g_strdup_printf(
        "/sys/kernel/mm/hugepages/hugepages-%" PRIu64 "kB", size / KiB);

    return size && size % KiB == 0 && g_file_test(dir, G_FILE_TEST_IS_DIR);
}
