/*
 * The VM description's "configuration" entry (migration/format.c): the
 * configuration section, read back the way QEMU's analyze-migration.py
 * reads it (walking the section's bytes by the fields and subsections
 * the description lists), for no, one and two validated capabilities;
 * replacing it in a description (mapmig-img convert); and the reader's
 * check that it agrees with the section.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/format.h"

#include <json-glib/json-glib.h>

/* The configuration section's bytes, after the 0x07 type byte. */
static GBytes *config_bytes(const char *machine, const char *const *caps,
                            size_t ncaps)
{
    g_autofree char *path = NULL;
    g_autoptr(GError) err = NULL;
    int fd = g_file_open_tmp("vmdesc-config-XXXXXX", &path, &err);
    QIOChannelFile *fioc;
    QEMUFile *f;
    gchar *data;
    gsize len;

    g_assert_no_error(err);
    close(fd);
    fioc = qio_channel_file_new_path(path, O_WRONLY | O_TRUNC, 0600, &err);
    g_assert_no_error(err);
    f = qemu_file_new_output(&fioc->parent);
    qio_channel_unref(&fioc->parent);
    mig_stream_put_configuration(f, machine, caps, ncaps);
    g_assert_cmpint(qemu_fclose(f, NULL), ==, 0);
    g_assert_true(g_file_get_contents(path, &data, &len, NULL));
    unlink(path);
    g_assert_cmpint(len, >, 1);
    g_assert_cmpint((uint8_t)data[0], ==, QEMU_VM_CONFIGURATION);
    memmove(data, data + 1, len - 1);
    return g_bytes_new_take(data, len - 1);
}

typedef struct Cursor {
    const uint8_t *p, *end;
} Cursor;

static uint32_t take_be32(Cursor *c)
{
    g_assert_cmpint(c->end - c->p, >=, 4);
    uint32_t v =
        (uint32_t)c->p[0] << 24 | c->p[1] << 16 | c->p[2] << 8 | c->p[3];
    c->p += 4;
    return v;
}

/*
 * Read one vmstate by its description, as analyze-migration.py's
 * VMSDFieldStruct: each field by its type and size ("capability": a
 * length byte and the name), arrays unfolded from "array_len", then the
 * listed subsections, each with its marker, name and version.  The
 * capability names go to @caps.
 */
static void read_vmsd(Cursor *c, JsonObject *vmsd, GPtrArray *caps)
{
    JsonArray *fields = json_object_get_array_member(vmsd, "fields");

    for (guint i = 0; i < json_array_get_length(fields); i++) {
        JsonObject *fd = json_array_get_object_element(fields, i);
        const char *type = json_object_get_string_member(fd, "type");
        int64_t size = json_object_get_int_member(fd, "size");
        int64_t n = json_object_get_int_member_with_default(fd, "array_len", 1);

        for (int64_t k = 0; k < n; k++) {
            if (!strcmp(type, "capability")) {
                g_assert_cmpint(c->end - c->p, >=, 1);
                uint8_t len = *c->p++;
                g_assert_cmpint(c->end - c->p, >=, len);
                g_ptr_array_add(caps, g_strndup((char *)c->p, len));
                c->p += len;
            } else {
                g_assert_cmpint(c->end - c->p, >=, size);
                c->p += size;
            }
        }
    }
    if (!json_object_has_member(vmsd, "subsections")) {
        return;
    }
    JsonArray *subs = json_object_get_array_member(vmsd, "subsections");
    for (guint i = 0; i < json_array_get_length(subs); i++) {
        JsonObject *sub = json_array_get_object_element(subs, i);
        const char *name = json_object_get_string_member(sub, "vmsd_name");

        g_assert_cmpint(c->end - c->p, >=, 2);
        g_assert_cmpint(*c->p++, ==, QEMU_VM_SUBSECTION);
        uint8_t len = *c->p++;
        g_assert_cmpint(len, ==, strlen(name));
        g_assert_cmpmem(c->p, len, name, len);
        c->p += len;
        g_assert_cmpint(take_be32(c), ==,
                        json_object_get_int_member(sub, "version"));
        read_vmsd(c, sub, caps);
    }
}

/* The entry as a whole description: {"configuration": ..., "page_size". */
static char *vmdesc_with(const char *machine, const char *const *caps,
                         size_t ncaps)
{
    GString *out = g_string_new("{");

    mig_vmdesc_put_configuration(out, machine, caps, ncaps);
    g_string_append(out, ", \"page_size\": 4096, \"devices\": []}");
    return g_string_free(out, false);
}

static void check_reads_back(const char *machine, const char *const *caps,
                             size_t ncaps)
{
    g_autoptr(GBytes) b = config_bytes(machine, caps, ncaps);
    g_autofree char *json = vmdesc_with(machine, caps, ncaps);
    g_autoptr(JsonParser) p = json_parser_new();
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);
    gsize len;
    const uint8_t *data = g_bytes_get_data(b, &len);
    Cursor c = { data, data + len };
    JsonObject *config;

    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    config = json_object_get_object_member(
        json_node_get_object(json_parser_get_root(p)), "configuration");
    g_assert_cmpstr(json_object_get_string_member(config, "vmsd_name"), ==,
                    "configuration");
    g_assert_cmpint(json_object_get_int_member(config, "version"), ==, 1);
    read_vmsd(&c, config, got);
    /* Every byte of the section, and nothing after it. */
    g_assert_true(c.p == c.end);
    g_assert_cmpuint(got->len, ==, ncaps);
    for (size_t i = 0; i < ncaps; i++) {
        g_assert_cmpstr(g_ptr_array_index(got, i), ==, caps[i]);
    }
    /* The machine name is the "name" buffer after the be32 length. */
    g_assert_cmpmem(data + 4, strlen(machine), machine, strlen(machine));
}

static void test_reads_back(void)
{
    static const char *const one[] = { "mapped-ram" };
    static const char *const two[] = { "x-ignore-shared", "mapped-ram" };

    check_reads_back("none", NULL, 0);
    check_reads_back("mini", one, 1);
    check_reads_back("pc-i440fx-7.2", two, 2);
}

/* The exact text, as QEMU's JSON writer puts it. */
static void test_text(void)
{
    static const char *const two[] = { "x-ignore-shared", "mapped-ram" };
    g_autoptr(GString) out = g_string_new(NULL);

    mig_vmdesc_put_configuration(out, "none", two, 2);
    g_assert_cmpstr(
        out->str, ==,
        "\"configuration\": {\"vmsd_name\": \"configuration\", \"version\": 1, "
        "\"fields\": [{\"name\": \"len\", \"type\": \"uint32\", \"size\": 4}, "
        "{\"name\": \"name\", \"type\": \"buffer\", \"size\": 4}], "
        "\"subsections\": [{\"vmsd_name\": \"configuration/capabilities\", "
        "\"version\": 1, \"fields\": [{\"name\": \"caps_count\", \"type\": "
        "\"uint32\", \"size\": 4}, {\"name\": \"capabilities\", "
        "\"array_len\": 2, \"type\": \"capability\", \"size\": 16}]}]}");
}

static void test_set(void)
{
    static const char *const one[] = { "mapped-ram" };
    const char *old = "{\"page_size\": 4096, \"devices\": []}";
    g_autofree char *with = NULL, *without = NULL, *again = NULL;
    g_autofree char *want = vmdesc_with("none", one, 1);

    with = mig_vmdesc_set_configuration(old, strlen(old), "none", one, 1);
    g_assert_cmpstr(with, ==, want);
    /* Idempotent, and removable: back to the 7.2 form byte for byte. */
    again = mig_vmdesc_set_configuration(with, strlen(with), "none", one, 1);
    g_assert_cmpstr(again, ==, want);
    without = mig_vmdesc_set_configuration(with, strlen(with), "none", NULL, 0);
    g_assert_cmpstr(without, ==, old);
    g_assert_null(mig_vmdesc_set_configuration("[]", 2, "none", NULL, 0));
    g_assert_null(mig_vmdesc_set_configuration("{\"configuration\": {", 19,
                                               "none", NULL, 0));
}

static void test_check(void)
{
    static const char *const one[] = { "mapped-ram" };
    const char *old = "{\"page_size\": 4096, \"devices\": []}";
    g_autofree char *json = vmdesc_with("none", one, 1);
    g_autoptr(VMDesc) d7 = vmdesc_parse(old, strlen(old), NULL);
    g_autoptr(VMDesc) d = vmdesc_parse(json, strlen(json), NULL);
    g_autoptr(GError) e1 = NULL, e2 = NULL;
    bool present;

    g_assert_true(vmdesc_check_configuration(d7, 4, 0, &present, NULL));
    g_assert_false(present);
    g_assert_true(vmdesc_check_configuration(d, 4, 1, &present, NULL));
    g_assert_true(present);
    g_assert_false(vmdesc_check_configuration(d, 4, 0, &present, &e1));
    g_assert_nonnull(strstr(e1->message, "capabilities"));
    g_assert_false(vmdesc_check_configuration(d, 5, 1, &present, &e2));
    g_assert_nonnull(strstr(e2->message, "machine type"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmdesc-config/reads-back", test_reads_back);
    g_test_add_func("/vmdesc-config/text", test_text);
    g_test_add_func("/vmdesc-config/set", test_set);
    g_test_add_func("/vmdesc-config/check", test_check);
    return g_test_run();
}
