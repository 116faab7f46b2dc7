/*
 * Unit tests for migration/vmstate.c: QEMU-compatible encoding of every
 * field type, subsections, version checks, load errors and the JSON VM
 * description.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/qemu-file.h"
#include "migration/vmstate.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

typedef struct TestState {
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    int32_t i32;
    int64_t i64;
    bool b;
    uint8_t buf[5];
    /* subsection */
    bool sub_needed;
    uint32_t sub_val;
    /* post_load control */
    bool fail_post_load;
    int post_load_calls;
    int post_load_version;
} TestState;

static bool sub_needed(void *opaque)
{
    return ((TestState *)opaque)->sub_needed;
}

static const VMStateField sub_fields[] = {
    VMSTATE_UINT32(sub_val, TestState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_sub = {
    .name = "test/sub",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = sub_fields,
    .needed = sub_needed,
};

static bool test_post_load(void *opaque, int version_id, GError **errp)
{
    TestState *s = opaque;

    s->post_load_calls++;
    s->post_load_version = version_id;
    if (s->fail_post_load) {
        error_setg(errp, "test: post_load refused u8=%u", s->u8);
        return false;
    }
    return true;
}

static const VMStateField test_fields[] = {
    VMSTATE_UINT8(u8, TestState),
    VMSTATE_UINT16(u16, TestState),
    VMSTATE_UINT32(u32, TestState),
    VMSTATE_UINT64(u64, TestState),
    VMSTATE_INT32(i32, TestState),
    VMSTATE_INT64(i64, TestState),
    VMSTATE_BOOL(b, TestState),
    VMSTATE_BUFFER(buf, TestState),
    VMSTATE_UNUSED(3),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription *const test_subsections[] = {
    &vmstate_sub,
    NULL,
};

static const VMStateDescription vmstate_test = {
    .name = "test",
    .version_id = 3,
    .minimum_version_id = 2,
    .fields = test_fields,
    .subsections = test_subsections,
    .post_load = test_post_load,
};

static const TestState known = {
    .u8 = 0x01,
    .u16 = 0x0203,
    .u32 = 0x04050607,
    .u64 = 0x08090a0b0c0d0e0fULL,
    .i32 = -2,
    .i64 = -3,
    .b = true,
    .buf = { 'a', 'b', 'c', 'd', 'e' },
    .sub_val = 0x11223344,
};

/* The exact QEMU encoding of `known` (without subsection). */
static const uint8_t known_bytes[] = {
    0x01,                                           /* u8 */
    0x02, 0x03,                                     /* u16 */
    0x04, 0x05, 0x06, 0x07,                         /* u32 */
    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, /* u64 */
    0xff, 0xff, 0xff, 0xfe,                         /* i32 -2 */
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd, /* i64 -3 */
    0x01,                                           /* bool */
    'a',  'b',  'c',  'd',  'e',                    /* buffer */
    0x00, 0x00, 0x00,                               /* unused */
};

/* ... followed by this when the subsection is needed. */
static const uint8_t known_sub_bytes[] = {
    0x05,                                            /* QEMU_VM_SUBSECTION */
    0x08, 't',  'e',  's',  't', '/', 's', 'u', 'b', /* counted name */
    0x00, 0x00, 0x00, 0x01,                          /* version */
    0x11, 0x22, 0x33, 0x44,                          /* sub_val */
};

typedef struct {
    char *dir;
    char *path;
} TmpFile;

static void tmp_init(TmpFile *t)
{
    t->dir = g_build_filename(g_get_tmp_dir(), "test-vmstate-XXXXXX", NULL);
    g_assert_nonnull(g_mkdtemp(t->dir));
    t->path = g_build_filename(t->dir, "state", NULL);
}

static void tmp_cleanup(TmpFile *t)
{
    g_unlink(t->path);
    g_assert_cmpint(g_rmdir(t->dir), ==, 0);
    g_free(t->path);
    g_free(t->dir);
}

static QEMUFile *open_file(const char *path, bool output)
{
    GError *err = NULL;
    QIOChannelFile *fioc = qio_channel_file_new_path(
        path, output ? (O_WRONLY | O_CREAT | O_TRUNC) : O_RDONLY, 0600, &err);

    g_assert_no_error(err);
    QEMUFile *f = output ? qemu_file_new_output(&fioc->parent)
                         : qemu_file_new_input(&fioc->parent);
    qio_channel_unref(&fioc->parent);
    return f;
}

/* Encode @s into a byte array. */
static GBytes *encode(const VMStateDescription *vmsd, TestState *s)
{
    TmpFile t;
    tmp_init(&t);
    QEMUFile *f = open_file(t.path, true);
    vmstate_save_state(f, vmsd, s);
    g_assert_cmpint(qemu_fclose(f, NULL), ==, 0);
    gchar *data;
    gsize len;
    g_assert_true(g_file_get_contents(t.path, &data, &len, NULL));
    tmp_cleanup(&t);
    return g_bytes_new_take(data, len);
}

/*
 * Decode @len bytes (followed by @trailer, to check nothing more is
 * consumed) into @s.  Returns the result; *errp set on failure.
 */
static bool decode_full(const VMStateDescription *vmsd, const void *data,
                        size_t len, TestState *s, int version, GError **errp,
                        bool check_trailer)
{
    TmpFile t;
    tmp_init(&t);
    g_autofree uint8_t *buf = g_malloc(len + 2);
    memcpy(buf, data, len);
    buf[len] = 0x42;
    buf[len + 1] = 0x43;
    g_assert_true(g_file_set_contents(t.path, (char *)buf,
                                      len + (check_trailer ? 2 : 0), NULL));
    QEMUFile *f = open_file(t.path, false);
    bool ok = vmstate_load_state(f, vmsd, s, version, errp);
    if (ok && check_trailer) {
        g_assert_cmpuint(qemu_get_byte(f), ==, 0x42);
    }
    qemu_fclose(f, NULL);
    tmp_cleanup(&t);
    return ok;
}

static bool decode(const void *data, size_t len, TestState *s, int version,
                   GError **errp)
{
    return decode_full(&vmstate_test, data, len, s, version, errp, true);
}

static GBytes *concat_known(bool with_sub)
{
    GByteArray *a = g_byte_array_new();
    g_byte_array_append(a, known_bytes, sizeof(known_bytes));
    if (with_sub) {
        g_byte_array_append(a, known_sub_bytes, sizeof(known_sub_bytes));
    }
    return g_byte_array_free_to_bytes(a);
}

static void assert_fields_equal(const TestState *a, const TestState *b)
{
    g_assert_cmpuint(a->u8, ==, b->u8);
    g_assert_cmpuint(a->u16, ==, b->u16);
    g_assert_cmpuint(a->u32, ==, b->u32);
    g_assert_cmpuint(a->u64, ==, b->u64);
    g_assert_cmpint(a->i32, ==, b->i32);
    g_assert_cmpint(a->i64, ==, b->i64);
    g_assert_cmpint(a->b, ==, b->b);
    g_assert_cmpmem(a->buf, sizeof(a->buf), b->buf, sizeof(b->buf));
}

static void test_encode_exact(void)
{
    TestState s = known;

    g_autoptr(GBytes) got = encode(&vmstate_test, &s);
    g_autoptr(GBytes) want = concat_known(false);
    g_assert_true(g_bytes_equal(got, want));

    s.sub_needed = true;
    g_autoptr(GBytes) got2 = encode(&vmstate_test, &s);
    g_autoptr(GBytes) want2 = concat_known(true);
    gsize l1, l2;
    const void *d1 = g_bytes_get_data(got2, &l1);
    const void *d2 = g_bytes_get_data(want2, &l2);
    g_assert_cmpmem(d1, l1, d2, l2);
}

static void test_round_trip(void)
{
    for (int with_sub = 0; with_sub <= 1; with_sub++) {
        TestState s = known;
        s.sub_needed = with_sub;
        s.u64 = UINT64_MAX;
        s.i64 = INT64_MIN;
        s.i32 = INT32_MIN;
        s.b = false;
        g_autoptr(GBytes) bytes = encode(&vmstate_test, &s);

        TestState d = { .sub_val = 7 };
        GError *err = NULL;
        gsize len;
        const void *data = g_bytes_get_data(bytes, &len);
        g_assert_true(decode(data, len, &d, 3, &err));
        g_assert_no_error(err);
        assert_fields_equal(&d, &s);
        g_assert_cmpuint(d.sub_val, ==, with_sub ? s.sub_val : 7);
        g_assert_cmpint(d.post_load_calls, ==, 1);
        g_assert_cmpint(d.post_load_version, ==, 3);
    }
}

/* Decoding the known byte sequence gives the known values. */
static void test_decode_known(void)
{
    g_autoptr(GBytes) bytes = concat_known(true);
    TestState d = { 0 };
    GError *err = NULL;
    gsize len;
    const void *data = g_bytes_get_data(bytes, &len);

    /* minimum version accepted too */
    g_assert_true(decode(data, len, &d, 2, &err));
    g_assert_no_error(err);
    assert_fields_equal(&d, &known);
    g_assert_cmpuint(d.sub_val, ==, 0x11223344);
    g_assert_cmpint(d.post_load_version, ==, 2);
}

static void test_version_checks(void)
{
    g_autoptr(GBytes) bytes = concat_known(false);
    gsize len;
    const void *data = g_bytes_get_data(bytes, &len);
    TestState d = { 0 };
    GError *err = NULL;

    g_assert_false(decode(data, len, &d, 4, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==,
                    "test: unsupported version 4 (supported 2..3)");
    g_clear_error(&err);

    g_assert_false(decode(data, len, &d, 1, &err));
    g_assert_cmpstr(err->message, ==,
                    "test: unsupported version 1 (supported 2..3)");
    g_clear_error(&err);
    g_assert_cmpint(d.post_load_calls, ==, 0);

    /* Subsection version too new */
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_byte_array_append(a, known_bytes, sizeof(known_bytes));
    g_byte_array_append(a, known_sub_bytes, sizeof(known_sub_bytes));
    a->data[sizeof(known_bytes) + 1 + 1 + 8 + 3] = 2;
    g_assert_false(decode(a->data, a->len, &d, 3, &err));
    g_assert_cmpstr(err->message, ==,
                    "test/sub: unsupported version 2 (supported 1..1)");
    g_clear_error(&err);
}

static void test_unknown_subsection(void)
{
    static const uint8_t bad_sub[] = {
        0x05, 0x08, 't',  'e',  's',  't',  '/',  'x',  'y',
        'z',  0x00, 0x00, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44,
    };
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_byte_array_append(a, known_bytes, sizeof(known_bytes));
    g_byte_array_append(a, bad_sub, sizeof(bad_sub));
    TestState d = { 0 };
    GError *err = NULL;

    g_assert_false(decode(a->data, a->len, &d, 3, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==,
                    "unknown subsection 'test/xyz' in 'test'");
    g_clear_error(&err);
    g_assert_cmpint(d.post_load_calls, ==, 0);

    /*
     * A subsection whose name does not start with ours belongs to an
     * enclosing description: left in the stream, not an error.
     */
    static const uint8_t other_sub[] = {
        0x05, 0x05, 'o', 't', 'h', 'e', 'r',
    };
    g_byte_array_set_size(a, sizeof(known_bytes));
    g_byte_array_append(a, other_sub, sizeof(other_sub));
    TmpFile t;
    tmp_init(&t);
    g_assert_true(g_file_set_contents(t.path, (char *)a->data, a->len, NULL));
    QEMUFile *f = open_file(t.path, false);
    g_assert_true(vmstate_load_state(f, &vmstate_test, &d, 3, &err));
    g_assert_no_error(err);
    g_assert_cmpuint(qemu_get_byte(f), ==, 0x05);
    g_assert_cmpuint(qemu_get_byte(f), ==, 0x05);
    qemu_fclose(f, NULL);
    tmp_cleanup(&t);
}

static void test_bool_invalid(void)
{
    g_autoptr(GByteArray) a = g_byte_array_new();
    g_byte_array_append(a, known_bytes, sizeof(known_bytes));
    size_t bool_off = 1 + 2 + 4 + 8 + 4 + 8;
    g_assert_cmpuint(a->data[bool_off], ==, 1);
    TestState d = { 0 };
    GError *err = NULL;

    a->data[bool_off] = 2;
    g_assert_false(decode(a->data, a->len, &d, 3, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "field 'b': invalid bool value 2");
    g_clear_error(&err);

    a->data[bool_off] = 0xff;
    g_assert_false(decode(a->data, a->len, &d, 3, &err));
    g_assert_cmpstr(err->message, ==, "field 'b': invalid bool value 255");
    g_clear_error(&err);

    a->data[bool_off] = 0;
    g_assert_true(decode(a->data, a->len, &d, 3, &err));
    g_assert_false(d.b);
}

static void test_post_load_error(void)
{
    g_autoptr(GBytes) bytes = concat_known(true);
    gsize len;
    const void *data = g_bytes_get_data(bytes, &len);
    TestState d = { .fail_post_load = true };
    GError *err = NULL;

    g_assert_false(decode(data, len, &d, 3, &err));
    g_assert_nonnull(err);
    g_assert_cmpstr(err->message, ==, "test: post_load refused u8=1");
    g_error_free(err);
    g_assert_cmpint(d.post_load_calls, ==, 1);
}

/* Short input at every length: an error naming the description. */
static void test_truncated(void)
{
    g_autoptr(GBytes) bytes = concat_known(true);
    gsize len;
    const uint8_t *data = g_bytes_get_data(bytes, &len);

    for (size_t cut = 0; cut < len; cut++) {
        TestState d = { 0 };
        GError *err = NULL;
        bool ok = decode_full(&vmstate_test, data, cut, &d, 3, &err, false);
        /*
         * Also a cut exactly before the optional subsection fails:
         * peeking for it hits the end of the stream.
         */
        g_assert_false(ok);
        g_assert_nonnull(err);
        if (!g_str_has_prefix(err->message, "test")) {
            g_printerr("cut %zu: %s\n", cut, err->message);
        }
        g_assert_true(g_str_has_prefix(err->message, "test"));
        if (!strstr(err->message, "end of migration stream")) {
            g_printerr("cut %zu: %s\n", cut, err->message);
        }
        g_assert_nonnull(strstr(err->message, "end of migration stream"));
        g_assert_cmpint(d.post_load_calls, ==, 0);
        g_error_free(err);
    }
}

static const char *const expected_desc_fields =
    "\"fields\": ["
    "{\"name\": \"u8\", \"type\": \"uint8\", \"size\": 1}, "
    "{\"name\": \"u16\", \"type\": \"uint16\", \"size\": 2}, "
    "{\"name\": \"u32\", \"type\": \"uint32\", \"size\": 4}, "
    "{\"name\": \"u64\", \"type\": \"uint64\", \"size\": 8}, "
    "{\"name\": \"i32\", \"type\": \"int32\", \"size\": 4}, "
    "{\"name\": \"i64\", \"type\": \"int64\", \"size\": 8}, "
    "{\"name\": \"b\", \"type\": \"bool\", \"size\": 1}, "
    "{\"name\": \"buf\", \"type\": \"buffer\", \"size\": 5}, "
    "{\"name\": \"unused\", \"type\": \"unused_buffer\", \"size\": 3}"
    "]";

static void test_describe(void)
{
    TestState s = known;
    g_autoptr(GString) out = g_string_new(NULL);

    vmstate_describe(out, &vmstate_test, &s);
    g_assert_cmpstr(out->str, ==, expected_desc_fields);

    s.sub_needed = true;
    g_string_truncate(out, 0);
    vmstate_describe(out, &vmstate_test, &s);
    g_autofree char *want = g_strconcat(
        expected_desc_fields,
        ", \"subsections\": [{\"vmsd_name\": \"test/sub\", \"version\": 1, "
        "\"fields\": [{\"name\": \"sub_val\", \"type\": \"uint32\", "
        "\"size\": 4}]}]",
        NULL);
    g_assert_cmpstr(out->str, ==, want);

    /* Wrapped as a device entry, it is valid JSON. */
    g_autofree char *doc = g_strdup_printf(
        "{\"name\": \"test\", \"instance_id\": 0, \"vmsd_name\": \"test\", "
        "\"version\": 3, %s}",
        out->str);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonParser) parser = json_parser_new();
    g_assert_true(json_parser_load_from_data(parser, doc, -1, &err));
    g_assert_no_error(err);
    JsonObject *o = json_node_get_object(json_parser_get_root(parser));
    JsonArray *fields = json_object_get_array_member(o, "fields");
    g_assert_cmpuint(json_array_get_length(fields), ==, 9);
    JsonArray *subs = json_object_get_array_member(o, "subsections");
    g_assert_cmpuint(json_array_get_length(subs), ==, 1);
    /* appended, not replaced */
    g_string_assign(out, "X");
    vmstate_describe(out, &vmstate_test, &s);
    g_assert_true(g_str_has_prefix(out->str, "X\"fields\": [{"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vmstate/encode-exact", test_encode_exact);
    g_test_add_func("/vmstate/round-trip", test_round_trip);
    g_test_add_func("/vmstate/decode-known", test_decode_known);
    g_test_add_func("/vmstate/version-checks", test_version_checks);
    g_test_add_func("/vmstate/unknown-subsection", test_unknown_subsection);
    g_test_add_func("/vmstate/bool-invalid", test_bool_invalid);
    g_test_add_func("/vmstate/post-load-error", test_post_load_error);
    g_test_add_func("/vmstate/truncated", test_truncated);
    g_test_add_func("/vmstate/describe", test_describe);
    return g_test_run();
}
