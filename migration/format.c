/*
 * The migration format: mapped-ram header and layout, the VM description
 * (see include/migration/format.h).
 */
#include "migration/format.h"
#include "qemu/bitmap.h"

#include <json-glib/json-glib.h>

void mig_stream_put_header(QEMUFile *f)
{
    qemu_put_be32(f, QEMU_VM_FILE_MAGIC);
    qemu_put_be32(f, QEMU_VM_FILE_VERSION);
}

void mig_stream_put_configuration(QEMUFile *f, const char *machine,
                                  const char *const *caps, size_t ncaps)
{
    qemu_put_byte(f, QEMU_VM_CONFIGURATION);
    qemu_put_be32(f, strlen(machine));
    qemu_put_buffer(f, machine, strlen(machine));
    if (!ncaps) {
        return;
    }
    qemu_put_byte(f, QEMU_VM_SUBSECTION);
    qemu_put_counted_string(f, "configuration/capabilities");
    qemu_put_be32(f, 1); /* the subsection's version */
    qemu_put_be32(f, ncaps);
    for (size_t i = 0; i < ncaps; i++) {
        qemu_put_counted_string(f, caps[i]);
    }
}

/*
 * QEMU's JSON writer (not pretty): ", " between members, ": " after a
 * key.  The sizes are what the configuration section's fields take in
 * the stream: be32 length, the name, be32 count, then per capability a
 * length byte and the name.  An array of capabilities is described by
 * its first element and "array_len" (QEMU compresses arrays of a plain
 * type), a lone one without it.
 */
void mig_vmdesc_put_configuration(GString *out, const char *machine,
                                  const char *const *caps, size_t ncaps)
{
    g_string_append_printf(out,
                           "\"configuration\": {\"vmsd_name\": "
                           "\"configuration\", \"version\": 1, \"fields\": "
                           "[{\"name\": \"len\", \"type\": \"uint32\", "
                           "\"size\": 4}, {\"name\": \"name\", \"type\": "
                           "\"buffer\", \"size\": %zu}]",
                           strlen(machine));
    if (ncaps) {
        g_string_append(out, ", \"subsections\": [{\"vmsd_name\": "
                             "\"configuration/capabilities\", \"version\": 1, "
                             "\"fields\": [{\"name\": \"caps_count\", "
                             "\"type\": \"uint32\", \"size\": 4}, "
                             "{\"name\": \"capabilities\", ");
        if (ncaps > 1) {
            g_string_append_printf(out, "\"array_len\": %zu, ", ncaps);
        }
        g_string_append_printf(out,
                               "\"type\": \"capability\", \"size\": %zu}]}]",
                               1 + strlen(caps[0]));
    }
    g_string_append(out, "}");
}

#define VMDESC_CONFIG_KEY "{\"configuration\": "
#define VMDESC_PAGE_SIZE_KEY "{\"page_size\""

/* The end of the object starting at @p (no braces inside its strings). */
static const char *json_object_end(const char *p, const char *end)
{
    int depth = 0;

    for (; p < end; p++) {
        if (*p == '{') {
            depth++;
        } else if (*p == '}' && --depth == 0) {
            return p + 1;
        }
    }
    return NULL;
}

char *mig_vmdesc_set_configuration(const char *json, size_t len,
                                   const char *machine, const char *const *caps,
                                   size_t ncaps)
{
    const char *end = json + len;
    const char *rest; /* from the "page_size" member's opening quote */
    GString *out;

    if (len >= strlen(VMDESC_CONFIG_KEY) &&
        !memcmp(json, VMDESC_CONFIG_KEY, strlen(VMDESC_CONFIG_KEY))) {
        rest = json_object_end(json + strlen(VMDESC_CONFIG_KEY), end);
        if (!rest || end - rest < 2 || memcmp(rest, ", ", 2)) {
            return NULL;
        }
        rest += 2;
    } else if (len >= strlen(VMDESC_PAGE_SIZE_KEY) &&
               !memcmp(json, VMDESC_PAGE_SIZE_KEY,
                       strlen(VMDESC_PAGE_SIZE_KEY))) {
        rest = json + 1;
    } else {
        return NULL;
    }
    out = g_string_new("{");
    if (ncaps) {
        mig_vmdesc_put_configuration(out, machine, caps, ncaps);
        g_string_append(out, ", ");
    }
    g_string_append_len(out, rest, end - rest);
    return g_string_free(out, false);
}

void mig_stream_put_section_header(QEMUFile *f, uint8_t type,
                                   uint32_t section_id, const char *idstr,
                                   uint32_t instance_id, uint32_t version_id)
{
    qemu_put_byte(f, type);
    qemu_put_be32(f, section_id);
    if (type == QEMU_VM_SECTION_FULL || type == QEMU_VM_SECTION_START) {
        qemu_put_counted_string(f, idstr);
        qemu_put_be32(f, instance_id);
        qemu_put_be32(f, version_id);
    }
}

void mig_stream_put_section_footer(QEMUFile *f, uint32_t section_id)
{
    qemu_put_byte(f, QEMU_VM_SECTION_FOOTER);
    qemu_put_be32(f, section_id);
}

void mapped_ram_header_pack(const MappedRamHeader *h,
                            uint8_t buf[MAPPED_RAM_HEADER_SIZE])
{
    uint32_t v = GUINT32_TO_BE(h->version);
    uint64_t ps = GUINT64_TO_BE(h->page_size);
    uint64_t bo = GUINT64_TO_BE(h->bitmap_offset);
    uint64_t po = GUINT64_TO_BE(h->pages_offset);

    memcpy(buf + MAPPED_RAM_HEADER_VERSION_POS, &v, sizeof(v));
    memcpy(buf + MAPPED_RAM_HEADER_PAGE_SIZE_POS, &ps, sizeof(ps));
    memcpy(buf + MAPPED_RAM_HEADER_BITMAP_POS, &bo, sizeof(bo));
    memcpy(buf + MAPPED_RAM_HEADER_PAGES_POS, &po, sizeof(po));
}

void mapped_ram_header_unpack(const uint8_t buf[MAPPED_RAM_HEADER_SIZE],
                              MappedRamHeader *h)
{
    uint32_t v;
    uint64_t ps, bo, po;

    memcpy(&v, buf + MAPPED_RAM_HEADER_VERSION_POS, sizeof(v));
    memcpy(&ps, buf + MAPPED_RAM_HEADER_PAGE_SIZE_POS, sizeof(ps));
    memcpy(&bo, buf + MAPPED_RAM_HEADER_BITMAP_POS, sizeof(bo));
    memcpy(&po, buf + MAPPED_RAM_HEADER_PAGES_POS, sizeof(po));
    h->version = GUINT32_FROM_BE(v);
    h->page_size = GUINT64_FROM_BE(ps);
    h->bitmap_offset = GUINT64_FROM_BE(bo);
    h->pages_offset = GUINT64_FROM_BE(po);
}

bool mapped_ram_header_check_version(const MappedRamHeader *h, GError **errp)
{
    if (h->version == 0 || h->version > MAPPED_RAM_HDR_VERSION) {
        error_setg(errp,
                   "Migration mapped-ram capability version not "
                   "supported (%u)",
                   h->version);
        return false;
    }
    return true;
}

static bool header_fail(size_t *bad_field, size_t field)
{
    if (bad_field) {
        *bad_field = field;
    }
    return false;
}

bool mapped_ram_header_check(const MappedRamHeader *h, const MappedRamExpect *e,
                             size_t *bad_field, GError **errp)
{
    g_assert(e->page_size &&
             e->header_offset <= UINT64_MAX - MAPPED_RAM_HEADER_SIZE);
    uint64_t bitmap_size = bitmap_bytes(e->length / e->page_size);

    if (!mapped_ram_header_check_version(h, errp)) {
        return header_fail(bad_field, MAPPED_RAM_HEADER_VERSION_POS);
    }
    if (h->page_size != e->page_size) {
        error_setg(errp,
                   "Mapped-ram block %s: page size %" PRIu64
                   " differs from %" PRIu64,
                   e->name, h->page_size, e->page_size);
        return header_fail(bad_field, MAPPED_RAM_HEADER_PAGE_SIZE_POS);
    }
    if (h->pages_offset % e->page_size) {
        error_setg(errp,
                   "Error reading ramblock %s pages, region has bad "
                   "alignment",
                   e->name);
        return header_fail(bad_field, MAPPED_RAM_HEADER_PAGES_POS);
    }
    if (h->bitmap_offset < e->header_offset + MAPPED_RAM_HEADER_SIZE ||
        h->bitmap_offset > UINT64_MAX - bitmap_size ||
        h->bitmap_offset + bitmap_size > h->pages_offset) {
        error_setg(errp,
                   "Mapped-ram block %s: bitmap region [0x%" PRIx64
                   ", +0x%" PRIx64 ") overlaps the header or the pages "
                   "region at 0x%" PRIx64,
                   e->name, h->bitmap_offset, bitmap_size, h->pages_offset);
        return header_fail(bad_field, MAPPED_RAM_HEADER_BITMAP_POS);
    }
    if (h->pages_offset > UINT64_MAX - e->length ||
        h->pages_offset + e->length > e->file_size) {
        error_setg(errp,
                   "Mapped-ram block %s: pages region [0x%" PRIx64
                   ", +0x%" PRIx64 ") lies beyond the end of the file "
                   "(size 0x%" PRIx64 ")",
                   e->name, h->pages_offset, e->length, e->file_size);
        return header_fail(bad_field, MAPPED_RAM_HEADER_PAGES_POS);
    }
    return true;
}

void mapped_ram_layout(uint64_t block_len, uint64_t page_size,
                       uint64_t header_offset, MappedRamLayout *l)
{
    l->header_offset = header_offset;
    l->bitmap_size = bitmap_bytes(block_len / page_size);
    l->hdr.version = MAPPED_RAM_HDR_VERSION;
    l->hdr.page_size = page_size;
    l->hdr.bitmap_offset = header_offset + MAPPED_RAM_HEADER_SIZE;
    l->hdr.pages_offset = ROUND_UP(l->hdr.bitmap_offset + l->bitmap_size,
                                   MAPPED_RAM_FILE_OFFSET_ALIGNMENT);
    l->end = l->hdr.pages_offset + block_len;
}

/* ---------------------------------------------------------------- */
/* VM description */

struct VMDesc {
    JsonParser *parser;
};

VMDesc *vmdesc_parse(const char *json, size_t len, GError **errp)
{
    g_autoptr(JsonParser) p = json_parser_new();

    if (!json_parser_load_from_data(p, json, len, errp)) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        error_setg(errp, "the VM description is not a JSON object");
        return NULL;
    }
    VMDesc *d = g_new0(VMDesc, 1);
    d->parser = g_steal_pointer(&p);
    return d;
}

void vmdesc_free(VMDesc *d)
{
    if (d) {
        g_clear_object(&d->parser);
        g_free(d);
    }
}

/* The member @name of @o if it is an object, else NULL. */
static JsonObject *member_object(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* The member @name of @o if it is an array, else NULL. */
static JsonArray *member_array(JsonObject *o, const char *name)
{
    JsonNode *n = o ? json_object_get_member(o, name) : NULL;

    return n && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* Element @i of @a if it is an object, else NULL. */
static JsonObject *element_object(JsonArray *a, guint i)
{
    JsonNode *n = json_array_get_element(a, i);

    return JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* The field @name of a vmstate description: its size and count. */
static bool vmsd_field(JsonObject *vmsd, const char *name, int64_t *size,
                       int64_t *count)
{
    JsonArray *fields = member_array(vmsd, "fields");

    for (guint i = 0; fields && i < json_array_get_length(fields); i++) {
        JsonObject *f = element_object(fields, i);
        if (!f) {
            return false;
        }
        if (g_strcmp0(
                json_object_get_string_member_with_default(f, "name", NULL),
                name)) {
            continue;
        }
        *size = json_object_get_int_member_with_default(f, "size", -1);
        *count = json_object_get_int_member_with_default(f, "array_len", 1);
        return true;
    }
    return false;
}

/* The "configuration/capabilities" subsection of @config, or NULL. */
static JsonObject *vmsd_caps_subsection(JsonObject *config)
{
    JsonArray *subs = member_array(config, "subsections");

    for (guint i = 0; subs && i < json_array_get_length(subs); i++) {
        JsonObject *o = element_object(subs, i);
        if (o && !g_strcmp0(json_object_get_string_member_with_default(
                                o, "vmsd_name", NULL),
                            "configuration/capabilities")) {
            return o;
        }
    }
    return NULL;
}

bool vmdesc_check_configuration(const VMDesc *d, size_t machine_len,
                                size_t ncaps, bool *present, GError **errp)
{
    JsonObject *root = json_node_get_object(json_parser_get_root(d->parser));
    JsonObject *config = member_object(root, "configuration");
    JsonObject *caps;
    int64_t size, count;

    *present = config != NULL;
    if (!config) {
        return true;
    }
    if (!vmsd_field(config, "name", &size, &count) ||
        size != (int64_t)machine_len) {
        error_setg(errp, "the VM description's configuration does not "
                         "describe the machine type of the configuration "
                         "section");
        return false;
    }
    caps = vmsd_caps_subsection(config);
    if (!caps != !ncaps ||
        (caps && (!vmsd_field(caps, "capabilities", &size, &count) ||
                  count != (int64_t)ncaps))) {
        error_setg(errp,
                   "the VM description's configuration does not list "
                   "the %zu capabilities of the configuration section",
                   ncaps);
        return false;
    }
    return true;
}

/* The bytes the "fields" of @o take: size * array_len each. */
static bool vmsd_fields_size(JsonObject *o, uint64_t limit, uint64_t *total)
{
    JsonNode *fn = json_object_get_member(o, "fields");

    if (!fn) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(fn)) {
        return false;
    }
    JsonArray *fields = json_node_get_array(fn);
    for (guint i = 0; i < json_array_get_length(fields); i++) {
        JsonNode *n = json_array_get_element(fields, i);
        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            return false;
        }
        JsonObject *f = json_node_get_object(n);
        JsonNode *sz = json_object_get_member(f, "size");
        if (!sz || json_node_get_value_type(sz) != G_TYPE_INT64) {
            return false;
        }
        int64_t size = json_node_get_int(sz), count = 1;
        JsonNode *al = json_object_get_member(f, "array_len");
        if (al) {
            if (json_node_get_value_type(al) != G_TYPE_INT64) {
                return false;
            }
            count = json_node_get_int(al);
        }
        if (size < 0 || count < 0 || (uint64_t)size > limit ||
            (uint64_t)count > limit ||
            (count && (uint64_t)size > (limit - *total) / count)) {
            return false;
        }
        *total += size * count;
    }
    return true;
}

static bool vmsd_size(JsonObject *o, int depth, uint64_t limit, uint64_t *out)
{
    uint64_t total = 0;

    if (depth > VMDESC_MAX_DEPTH || !vmsd_fields_size(o, limit, &total)) {
        return false;
    }
    JsonNode *sn = json_object_get_member(o, "subsections");
    if (sn) {
        if (!JSON_NODE_HOLDS_ARRAY(sn)) {
            return false;
        }
        JsonArray *subs = json_node_get_array(sn);
        for (guint i = 0; i < json_array_get_length(subs); i++) {
            JsonNode *n = json_array_get_element(subs, i);
            uint64_t s;
            if (!JSON_NODE_HOLDS_OBJECT(n)) {
                return false;
            }
            JsonObject *so = json_node_get_object(n);
            const char *name = json_object_get_string_member_with_default(
                so, "vmsd_name", NULL);
            if (!name || strlen(name) > 255 ||
                !vmsd_size(so, depth + 1, limit, &s)) {
                return false;
            }
            /* 0x05, counted name, be32 version, then the fields. */
            uint64_t add = 1 + 1 + strlen(name) + 4;
            if (s > limit - total || add > limit - total - s) {
                return false;
            }
            total += add + s;
        }
    }
    *out = total;
    return true;
}

bool vmdesc_section_size(const VMDesc *d, const char *idstr,
                         uint32_t instance_id, uint64_t limit, uint64_t *size)
{
    JsonObject *root = json_node_get_object(json_parser_get_root(d->parser));
    JsonArray *devs = member_array(root, "devices");

    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *o = element_object(devs, i);
        if (!o) {
            continue;
        }
        const char *name =
            json_object_get_string_member_with_default(o, "name", "");
        int64_t inst =
            json_object_get_int_member_with_default(o, "instance_id", -1);
        if (!strcmp(name, idstr) && inst == instance_id) {
            return vmsd_size(o, 0, limit, size);
        }
    }
    return false;
}
