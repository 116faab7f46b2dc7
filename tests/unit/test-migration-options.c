/*
 * Unit tests for migration/options.c: capability/parameter API, checks
 * and the QMP/HMP handlers (called directly through options-cmds.h).
 */
#include "qemu/osdep.h"
#include "migration/options.h"
#include "migration/options-cmds.h"
#include "monitor/monitor.h"

/*
 * The monitor is not linked into this test: these test doubles stand in
 * for the few monitor functions options.c calls.  Remove the define once
 * the real monitor library provides them to this binary.
 */
/* real monitor linked: doubles off */

#ifdef MAPMIG_TEST_MONITOR_DOUBLES
static GString *hmp_out; /* what monitor_printf printed */

/* ---- Test doubles (monitor) ---- */
static GHashTable *qmp_cmds;  /* name -> QmpCommandFunc */
static GHashTable *hmp_cmds;  /* name -> HmpCommandFunc */
static GHashTable *info_cmds; /* name -> HmpCommandFunc */

static void doubles_init(void)
{
    qmp_cmds = g_hash_table_new(g_str_hash, g_str_equal);
    hmp_cmds = g_hash_table_new(g_str_hash, g_str_equal);
    info_cmds = g_hash_table_new(g_str_hash, g_str_equal);
}

void qmp_register_command(const char *name, QmpCommandFunc fn, unsigned flags)
{
    g_hash_table_insert(qmp_cmds, (gpointer)name, (gpointer)fn);
}

void hmp_register_command(const HmpCommand *cmd)
{
    g_hash_table_insert(hmp_cmds, (gpointer)cmd->name, (gpointer)cmd->fn);
}

void hmp_register_info_command(const HmpCommand *cmd)
{
    g_hash_table_insert(info_cmds, (gpointer)cmd->name, (gpointer)cmd->fn);
}

void monitor_printf(Monitor *mon, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_string_append_vprintf(hmp_out, fmt, ap);
    va_end(ap);
}

void hmp_handle_error(Monitor *mon, GError *err)
{
    if (err) {
        monitor_printf(mon, "Error: %s\n", err->message);
        g_error_free(err);
    }
}
#endif /* MAPMIG_TEST_MONITOR_DOUBLES */

/* ---- Helpers ---- */

static bool busy;

static bool test_is_busy(void)
{
    return busy;
}

static void setup(void)
{
    migration_options_reset();
    busy = false;
    migration_options_is_busy = test_is_busy;
#ifdef MAPMIG_TEST_MONITOR_DOUBLES
    g_string_truncate(hmp_out, 0);
#endif
}

static JsonObject *parse_obj(const char *json)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *o;

    g_assert_true(json_parser_load_from_data(parser, json, -1, NULL));
    o = json_node_get_object(json_parser_get_root(parser));
    return json_object_ref(o);
}

/* Run a QMP handler on @json args; returns the error message or NULL. */
static char *qmp(QmpCommandFunc fn, const char *json, JsonNode **ret)
{
    g_autoptr(JsonObject) args = parse_obj(json);
    GError *err = NULL;
    JsonNode *r = fn(NULL, args, &err);
    char *msg = NULL;

    if (err) {
        g_assert_null(r);
        msg = g_strdup(err->message);
        g_error_free(err);
    }
    if (ret) {
        *ret = r;
    } else if (r) {
        json_node_unref(r);
    }
    return msg;
}

static void qmp_ok(QmpCommandFunc fn, const char *json)
{
    g_autofree char *err = qmp(fn, json, NULL);

    g_assert_cmpstr(err, ==, NULL);
}

static void qmp_err(QmpCommandFunc fn, const char *json, const char *expect)
{
    g_autofree char *err = qmp(fn, json, NULL);

    g_assert_cmpstr(err, ==, expect);
}

static void qmp_err_prefix(QmpCommandFunc fn, const char *json,
                           const char *prefix)
{
    g_autofree char *err = qmp(fn, json, NULL);

    g_assert_nonnull(err);
    g_assert_true(g_str_has_prefix(err, prefix));
}

#ifdef MAPMIG_TEST_MONITOR_DOUBLES
/* Run an HMP command line; returns its output. */
static const char *hmp(HmpCommandFunc fn, const char *line)
{
    g_auto(GStrv) argv = g_strsplit(line, " ", -1);

    g_string_truncate(hmp_out, 0);
    fn(NULL, g_strv_length(argv), argv);
    return hmp_out->str;
}

static bool hmp_has_line(const char *out, const char *line)
{
    g_autofree char *needle = g_strdup_printf("%s\n", line);
    g_autofree char *inner = g_strdup_printf("\n%s", needle);

    return g_str_has_prefix(out, needle) || strstr(out, inner) != NULL;
}
#endif

static char *check_caps(const bool *caps)
{
    GError *err = NULL;
    char *msg = NULL;

    if (!migrate_caps_check(caps, &err)) {
        g_assert_nonnull(err);
        msg = g_strdup(err->message);
        g_error_free(err);
    } else {
        g_assert_null(err);
    }
    return msg;
}

static char *cross_check(const bool *caps, const MigrationParameters *p)
{
    GError *err = NULL;
    char *msg = NULL;

    if (!migrate_caps_cross_check(caps, p, &err)) {
        msg = g_strdup(err->message);
        g_error_free(err);
    }
    return msg;
}

static char *check_params(const MigrationParameters *p)
{
    GError *err = NULL;
    char *msg = NULL;

    if (!migrate_params_check(p, &err)) {
        msg = g_strdup(err->message);
        g_error_free(err);
    }
    return msg;
}

/* ---- C API ---- */

static void test_names_lookup(void)
{
    setup();
    g_assert_cmpstr(migration_capability_name(MIGRATION_CAPABILITY_XBZRLE), ==,
                    "xbzrle");
    g_assert_cmpstr(migration_capability_name(MIGRATION_CAPABILITY_MAPPED_RAM),
                    ==, "mapped-ram");
    g_assert_cmpstr(
        migration_capability_name(MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER),
        ==, "pause-before-switchover");
    g_assert_null(migration_capability_name(MIGRATION_CAPABILITY__MAX));
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        g_assert_cmpint(
            migration_capability_lookup(migration_capability_name(i)), ==, i);
    }
    g_assert_cmpint(migration_capability_lookup("fixed-ram"), ==,
                    MIGRATION_CAPABILITY_MAPPED_RAM);
    g_assert_cmpint(migration_capability_lookup("compress"), ==, -1);
    g_assert_cmpint(migration_capability_lookup(NULL), ==, -1);
}

static void test_defaults(void)
{
    const MigrationParameters *p;

    setup();
    p = migrate_params();
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        g_assert_false(migrate_cap(i));
    }
    g_assert_cmpuint(p->max_bandwidth, ==, 134217728);
    g_assert_cmpuint(p->downtime_limit, ==, 300);
    g_assert_cmpuint(p->multifd_channels, ==, 2);
    g_assert_cmpint(p->multifd_compression, ==, MULTIFD_COMPRESSION_NONE);
    g_assert_cmpuint(p->multifd_zstd_level, ==, 1);
    g_assert_false(p->direct_io);
    g_assert_cmpint(p->io_engine, ==, IO_ENGINE_PSYNC);
    g_assert_false(migrate_direct_io());
}

static void test_caps_check(void)
{
    bool caps[MIGRATION_CAPABILITY__MAX] = { 0 };
    g_autofree char *e1 = NULL, *e2 = NULL, *e3 = NULL;

    setup();
    g_assert_null(check_caps(caps));
    caps[MIGRATION_CAPABILITY_MULTIFD] = true;
    caps[MIGRATION_CAPABILITY_MAPPED_RAM] = true;
    caps[MIGRATION_CAPABILITY_EVENTS] = true;
    caps[MIGRATION_CAPABILITY_AUTO_CONVERGE] = true;
    caps[MIGRATION_CAPABILITY_X_IGNORE_SHARED] = true;
    caps[MIGRATION_CAPABILITY_VALIDATE_UUID] = true;
    caps[MIGRATION_CAPABILITY_RETURN_PATH] = true;
    caps[MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = true;
    g_assert_null(check_caps(caps));

    /* The support check comes before the cross checks. */
    caps[MIGRATION_CAPABILITY_XBZRLE] = true;
    e1 = check_caps(caps);
    g_assert_cmpstr(e1, ==, "Capability 'xbzrle' is not supported by mapmig");
    caps[MIGRATION_CAPABILITY_XBZRLE] = false;
    caps[MIGRATION_CAPABILITY_RELEASE_RAM] = true;
    e2 = check_caps(caps);
    g_assert_cmpstr(e2, ==,
                    "Capability 'release-ram' is not supported by mapmig");
    caps[MIGRATION_CAPABILITY_RELEASE_RAM] = false;
    /* postcopy-ram is supported now (Fast Snapshot Load): QEMU's checks. */
    caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] = true;
    e3 = check_caps(caps);
    g_assert_cmpstr(e3, ==, "Postcopy is not compatible with ignore-shared");

    g_assert_true(
        migration_capability_supported(MIGRATION_CAPABILITY_MAPPED_RAM));
    g_assert_false(
        migration_capability_supported(MIGRATION_CAPABILITY_ZERO_COPY_SEND));
}

static void expect_cross(const bool *caps, const MigrationParameters *p,
                         const char *expect)
{
    g_autofree char *err = cross_check(caps, p);

    g_assert_cmpstr(err, ==, expect);
}

static void test_caps_cross_check(void)
{
    const MigrationParameters *defp = migrate_params();
    MigrationParameters zstd;
    bool c[MIGRATION_CAPABILITY__MAX];

    setup();
    zstd = *defp;
    zstd.multifd_compression = MULTIFD_COMPRESSION_ZSTD;

#define CAPS(...)                                        \
    do {                                                 \
        MigrationCapability l_[] = { __VA_ARGS__ };      \
        memset(c, 0, sizeof(c));                         \
        for (size_t i_ = 0; i_ < ARRAY_SIZE(l_); i_++) { \
            c[l_[i_]] = true;                            \
        }                                                \
    } while (0)

    CAPS(MIGRATION_CAPABILITY_MULTIFD, MIGRATION_CAPABILITY_XBZRLE);
    expect_cross(c, defp, "Multifd is not compatible with xbzrle");
    CAPS(MIGRATION_CAPABILITY_MAPPED_RAM, MIGRATION_CAPABILITY_XBZRLE);
    expect_cross(c, defp, "Mapped-ram migration is incompatible with xbzrle");
    CAPS(MIGRATION_CAPABILITY_MAPPED_RAM, MIGRATION_CAPABILITY_POSTCOPY_RAM);
    expect_cross(c, defp, "Mapped-ram migration is incompatible with postcopy");
    CAPS(MIGRATION_CAPABILITY_MAPPED_RAM, MIGRATION_CAPABILITY_MULTIFD);
    expect_cross(c, defp, NULL);
    expect_cross(c, &zstd,
                 "Mapped-ram only available for non-compressed "
                 "non-TLS multifd migration");
    CAPS(MIGRATION_CAPABILITY_POSTCOPY_RAM,
         MIGRATION_CAPABILITY_X_IGNORE_SHARED);
    expect_cross(c, defp, "Postcopy is not compatible with ignore-shared");
    CAPS(MIGRATION_CAPABILITY_ZERO_COPY_SEND);
    expect_cross(c, defp,
                 "Zero copy only available for non-compressed "
                 "non-TLS multifd migration");
    CAPS(MIGRATION_CAPABILITY_ZERO_COPY_SEND, MIGRATION_CAPABILITY_MULTIFD);
    expect_cross(c, defp, NULL);
    CAPS(MIGRATION_CAPABILITY_SWITCHOVER_ACK);
    expect_cross(c, defp,
                 "Capability 'switchover-ack' requires capability "
                 "'return-path'");
    CAPS(MIGRATION_CAPABILITY_DIRTY_LIMIT, MIGRATION_CAPABILITY_AUTO_CONVERGE);
    expect_cross(c, defp,
                 "dirty-limit conflicts with auto-converge"
                 " either of then available currently");
    CAPS(MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT,
         MIGRATION_CAPABILITY_MULTIFD);
    expect_cross(c, defp,
                 "Background-snapshot is not compatible with "
                 "multifd");
    CAPS(MIGRATION_CAPABILITY_POSTCOPY_PREEMPT);
    expect_cross(c, defp, "Postcopy preempt requires postcopy-ram");
#undef CAPS
}

static void expect_params(const MigrationParameters *p, const char *expect)
{
    g_autofree char *err = check_params(p);

    g_assert_cmpstr(err, ==, expect);
}

static void test_params_check(void)
{
    MigrationParameters p;

    setup();
    p = *migrate_params();
    expect_params(&p, NULL);
    p.downtime_limit = 2000000;
    expect_params(&p, NULL);
    p.downtime_limit = 2000001;
    expect_params(&p, "Parameter 'downtime-limit' expects an integer in the "
                      "range of 0 to 2000 seconds");
    p = *migrate_params();
    p.multifd_channels = 0;
    expect_params(&p, "Parameter 'multifd-channels' expects a value between "
                      "1 and 255");
    p = *migrate_params();
    p.multifd_zstd_level = 21;
    expect_params(&p, "Parameter 'multifd-zstd-level' expects a value "
                      "between 0 and 20");
    p = *migrate_params();
    p.max_bandwidth = UINT64_MAX;
    expect_params(&p, "Parameter 'max-bandwidth' expects an integer in the "
                      "range of 0 to SIZE_MAX bytes/second");
    p = *migrate_params();
    p.max_bandwidth = 0;
    p.direct_io = true;
    expect_params(&p, NULL);

    p = *migrate_params();
    p.multifd_compression = MULTIFD_COMPRESSION_ZSTD;
    if (CONFIG_ZSTD) {
        expect_params(&p, NULL);
    } else {
        expect_params(&p, "zstd compression is not available in this build");
    }
    p = *migrate_params();
    p.io_engine = IO_ENGINE_IO_URING;
    expect_params(&p,
                  CONFIG_IO_URING
                      ? NULL
                      : "io-engine 'io-uring' is not available in this build "
                        "(built without liburing)");
    p.io_engine = IO_ENGINE_LIBAIO;
    expect_params(&p, CONFIG_LIBAIO
                          ? NULL
                          : "io-engine 'libaio' is not available in this build "
                            "(built without libaio)");
}

/* ---- QMP ---- */

static JsonObject *query_caps_obj(void)
{
    JsonNode *ret = NULL;
    g_autofree char *err = qmp(qmp_query_migrate_capabilities, "{}", &ret);
    JsonObject *byname = json_object_new();
    JsonArray *arr;

    g_assert_null(err);
    g_assert_true(JSON_NODE_HOLDS_ARRAY(ret));
    arr = json_node_get_array(ret);
    g_assert_cmpuint(json_array_get_length(arr), ==, MIGRATION_CAPABILITY__MAX);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        /* Enum order. */
        g_assert_cmpstr(json_object_get_string_member(o, "capability"), ==,
                        migration_capability_name(i));
        json_object_set_boolean_member(
            byname, json_object_get_string_member(o, "capability"),
            json_object_get_boolean_member(o, "state"));
    }
    json_node_unref(ret);
    return byname;
}

static void test_qmp_caps_roundtrip(void)
{
    g_autoptr(JsonObject) q = NULL;

    setup();
    qmp_ok(qmp_migrate_set_capabilities,
           "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": true},"
           " {\"capability\": \"fixed-ram\", \"state\": true},"
           " {\"capability\": \"events\", \"state\": true}]}");
    g_assert_true(migrate_multifd());
    g_assert_true(migrate_mapped_ram());
    g_assert_true(migrate_events());
    q = query_caps_obj();
    g_assert_true(json_object_get_boolean_member(q, "mapped-ram"));
    g_assert_false(json_object_has_member(q, "fixed-ram"));
    g_assert_true(json_object_get_boolean_member(q, "multifd"));
    g_assert_false(json_object_get_boolean_member(q, "xbzrle"));

    /* Disabling an unsupported capability is fine. */
    qmp_ok(qmp_migrate_set_capabilities,
           "{\"capabilities\": [{\"capability\": \"xbzrle\", \"state\": false},"
           " {\"capability\": \"events\", \"state\": false}]}");
    g_assert_false(migrate_events());
    qmp_ok(qmp_migrate_set_capabilities, "{\"capabilities\": []}");
    g_assert_true(migrate_multifd());
}

static void test_qmp_caps_errors(void)
{
    setup();
    qmp_err_prefix(qmp_migrate_set_capabilities,
                   "{\"capabilities\": [{\"capability\": \"bogus\","
                   " \"state\": true}]}",
                   "Capability 'bogus' not found; valid capabilities: "
                   "xbzrle, rdma-pin-all, auto-converge,");
    qmp_err(qmp_migrate_set_capabilities,
            "{\"capabilities\": [{\"capability\": \"xbzrle\","
            " \"state\": true}]}",
            "Capability 'xbzrle' is not supported by mapmig");
    qmp_err(qmp_migrate_set_capabilities,
            "{\"capabilities\": {\"capability\": \"multifd\"}}",
            "Parameter 'capabilities' expects a list of {capability, state}");
    qmp_err(qmp_migrate_set_capabilities,
            "{\"capabilities\": [{\"capability\": \"multifd\","
            " \"state\": 1}]}",
            "Parameter 'capabilities' expects a list of {capability, state}");
    qmp_err(qmp_migrate_set_capabilities, "{\"capabilities\": [\"multifd\"]}",
            "Parameter 'capabilities' expects a list of {capability, state}");
    qmp_err(qmp_migrate_set_capabilities, "{}",
            "Parameter 'capabilities' is missing");
    qmp_err(qmp_migrate_set_capabilities, "{\"capabilities\": [], \"foo\": 1}",
            "Parameter 'foo' is unexpected");

    /* All or nothing: multifd stays off when a later entry fails. */
    qmp_err(
        qmp_migrate_set_capabilities,
        "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": true},"
        " {\"capability\": \"zero-copy-send\", \"state\": true}]}",
        "Capability 'zero-copy-send' is not supported by mapmig");
    g_assert_false(migrate_multifd());
    qmp_err_prefix(qmp_migrate_set_capabilities,
                   "{\"capabilities\": [{\"capability\": \"multifd\","
                   " \"state\": true}, {\"capability\": \"nope\","
                   " \"state\": true}]}",
                   "Capability 'nope' not found");
    g_assert_false(migrate_multifd());

    /* mapped-ram with compression, from either side. */
    if (CONFIG_ZSTD) {
        qmp_ok(qmp_migrate_set_parameters,
               "{\"multifd-compression\": \"zstd\"}");
        qmp_err(qmp_migrate_set_capabilities,
                "{\"capabilities\": [{\"capability\": \"mapped-ram\","
                " \"state\": true}]}",
                "Mapped-ram only available for non-compressed non-TLS "
                "multifd migration");
        g_assert_false(migrate_mapped_ram());
        qmp_ok(qmp_migrate_set_parameters,
               "{\"multifd-compression\": \"none\"}");
        qmp_ok(qmp_migrate_set_capabilities,
               "{\"capabilities\": [{\"capability\": \"mapped-ram\","
               " \"state\": true}]}");
        qmp_err(qmp_migrate_set_parameters,
                "{\"multifd-compression\": \"zstd\"}",
                "Mapped-ram only available for non-compressed non-TLS "
                "multifd migration");
        g_assert_cmpint(migrate_params()->multifd_compression, ==,
                        MULTIFD_COMPRESSION_NONE);
    }
}

static void test_busy(void)
{
    setup();
    busy = true;
    qmp_err(qmp_migrate_set_capabilities,
            "{\"capabilities\": [{\"capability\": \"events\","
            " \"state\": true}]}",
            "There's a migration process in progress");
    g_assert_false(migrate_events());
#ifdef MAPMIG_TEST_MONITOR_DOUBLES
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability multifd on"),
        ==, "Error: There's a migration process in progress\n");
#endif

    /* On-the-fly parameters. */
    qmp_ok(qmp_migrate_set_parameters,
           "{\"max-bandwidth\": 1000, \"downtime-limit\": 50}");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 1000);
    g_assert_cmpuint(migrate_params()->downtime_limit, ==, 50);
    /* Unchanged values of setup-time parameters are fine. */
    qmp_ok(qmp_migrate_set_parameters, "{\"multifd-channels\": 2}");

    qmp_err(qmp_migrate_set_parameters,
            "{\"max-bandwidth\": 5, \"multifd-channels\": 4}",
            "Parameter 'multifd-channels' cannot be changed while a "
            "migration is in progress");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 1000);
    qmp_err(qmp_migrate_set_parameters, "{\"direct-io\": true}",
            "Parameter 'direct-io' cannot be changed while a migration is "
            "in progress");
    qmp_err(
        qmp_migrate_set_parameters, "{\"io-engine\": \"libaio\"}",
        CONFIG_LIBAIO
            ? "Parameter 'io-engine' cannot be changed while a migration is "
              "in progress"
            : "io-engine 'libaio' is not available in this build (built "
              "without libaio)");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-compression\": \"zstd\"}",
            CONFIG_ZSTD
                ? "Parameter 'multifd-compression' cannot be changed while a "
                  "migration is in progress"
                : "zstd compression is not available in this build");

    /* NULL hook: never busy. */
    migration_options_is_busy = NULL;
    qmp_ok(qmp_migrate_set_capabilities,
           "{\"capabilities\": [{\"capability\": \"events\","
           " \"state\": true}]}");
    g_assert_true(migrate_events());
}

static void test_qmp_params_roundtrip(void)
{
    JsonNode *ret = NULL;
    g_autofree char *err = NULL;
    JsonObject *o;

    setup();
    err = qmp(qmp_query_migrate_parameters, "{}", &ret);
    g_assert_null(err);
    o = json_node_get_object(ret);
    g_assert_cmpint(json_object_get_int_member(o, "max-bandwidth"), ==,
                    134217728);
    g_assert_cmpint(json_object_get_int_member(o, "downtime-limit"), ==, 300);
    g_assert_cmpint(json_object_get_int_member(o, "multifd-channels"), ==, 2);
    g_assert_cmpstr(json_object_get_string_member(o, "multifd-compression"), ==,
                    "none");
    g_assert_cmpint(json_object_get_int_member(o, "multifd-zstd-level"), ==, 1);
    g_assert_false(json_object_get_boolean_member(o, "direct-io"));
    g_assert_cmpstr(json_object_get_string_member(o, "io-engine"), ==, "psync");
    g_assert_cmpstr(json_object_get_string_member(o, "tls-creds"), ==, "");
    g_assert_cmpstr(json_object_get_string_member(o, "tls-hostname"), ==, "");
    g_assert_cmpstr(json_object_get_string_member(o, "tls-authz"), ==, "");
    g_assert_cmpstr(json_object_get_string_member(o, "zero-page-detection"), ==,
                    "legacy");

    /* What query returned can be sent back unchanged. */
    {
        g_autoptr(JsonGenerator) gen = json_generator_new();
        g_autofree char *text = NULL;

        json_generator_set_root(gen, ret);
        text = json_generator_to_data(gen, NULL);
        qmp_ok(qmp_migrate_set_parameters, text);
    }
    json_node_unref(ret);

    qmp_ok(qmp_migrate_set_parameters,
           "{\"max-bandwidth\": 0, \"downtime-limit\": 2000000,"
           " \"multifd-channels\": 255, \"multifd-zstd-level\": 20,"
           " \"direct-io\": true, \"io-engine\": \"psync\"}");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 0);
    g_assert_cmpuint(migrate_params()->downtime_limit, ==, 2000000);
    g_assert_cmpuint(migrate_params()->multifd_channels, ==, 255);
    g_assert_cmpuint(migrate_params()->multifd_zstd_level, ==, 20);
    g_assert_true(migrate_params()->direct_io);
    g_assert_false(migrate_direct_io());
    qmp_ok(qmp_migrate_set_capabilities,
           "{\"capabilities\": [{\"capability\": \"multifd\", \"state\": true},"
           " {\"capability\": \"mapped-ram\", \"state\": true}]}");
    g_assert_true(migrate_direct_io());
    if (CONFIG_IO_URING) {
        qmp_ok(qmp_migrate_set_parameters, "{\"io-engine\": \"io-uring\"}");
        g_assert_cmpint(migrate_params()->io_engine, ==, IO_ENGINE_IO_URING);
    }
}

static void test_qmp_params_errors(void)
{
    setup();
    qmp_err(qmp_migrate_set_parameters, "{\"downtime-limit\": 2000001}",
            "Parameter 'downtime-limit' expects an integer in the range of "
            "0 to 2000 seconds");
    qmp_err(qmp_migrate_set_parameters, "{\"downtime-limit\": -1}",
            "Parameter 'downtime-limit' expects an integer in the range of "
            "0 to 2000 seconds");
    qmp_err(qmp_migrate_set_parameters, "{\"max-bandwidth\": -1}",
            "Parameter 'max-bandwidth' expects an integer in the range of "
            "0 to SIZE_MAX bytes/second");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-channels\": 0}",
            "Parameter 'multifd-channels' expects a value between 1 and 255");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-channels\": 256}",
            "Parameter 'multifd-channels' expects a value between 1 and 255");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-zstd-level\": 21}",
            "Parameter 'multifd-zstd-level' expects a value between 0 and 20");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-channels\": \"4\"}",
            "Invalid parameter type for 'multifd-channels', expected: "
            "integer");
    qmp_err(qmp_migrate_set_parameters, "{\"downtime-limit\": 1.5}",
            "Invalid parameter type for 'downtime-limit', expected: integer");
    qmp_err(qmp_migrate_set_parameters, "{\"direct-io\": \"on\"}",
            "Invalid parameter type for 'direct-io', expected: boolean");
    qmp_err(qmp_migrate_set_parameters, "{\"io-engine\": 1}",
            "Invalid parameter type for 'io-engine', expected: string");
    qmp_err(qmp_migrate_set_parameters, "{\"io-engine\": \"posix\"}",
            "Parameter 'io-engine' does not accept value 'posix'; valid "
            "values: psync, io-uring, libaio");
    qmp_err(qmp_migrate_set_parameters, "{\"multifd-compression\": \"zlib\"}",
            "Parameter 'multifd-compression' does not accept value 'zlib'; "
            "valid values: none, zstd");
    qmp_err(qmp_migrate_set_parameters, "{\"xbzrle-cache-size\": 1}",
            "Parameter 'xbzrle-cache-size' is unexpected");
    qmp_err(qmp_migrate_set_parameters, "{\"tls-creds\": \"tls0\"}",
            "Parameter 'tls-creds' only accepts '' in mapmig");

    /* All or nothing: nothing of a failed set sticks. */
    qmp_err(qmp_migrate_set_parameters,
            "{\"max-bandwidth\": 42, \"multifd-channels\": 8,"
            " \"downtime-limit\": 9999999}",
            "Parameter 'downtime-limit' expects an integer in the range of "
            "0 to 2000 seconds");
    qmp_err(qmp_migrate_set_parameters, "{\"max-bandwidth\": 42, \"bogus\": 1}",
            "Parameter 'bogus' is unexpected");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 134217728);
    g_assert_cmpuint(migrate_params()->multifd_channels, ==, 2);
    g_assert_cmpuint(migrate_params()->downtime_limit, ==, 300);
}

#ifdef MAPMIG_TEST_MONITOR_DOUBLES
/* ---- HMP ---- */

static void test_hmp_caps(void)
{
    const char *out;

    setup();
    out = hmp(hmp_info_migrate_capabilities, "info");
    g_assert_true(g_str_has_prefix(out, "xbzrle: off\nrdma-pin-all: off\n"));
    g_assert_true(g_str_has_suffix(out, "dirty-limit: off\nmapped-ram: off\n"));
    {
        g_auto(GStrv) lines = g_strsplit(out, "\n", -1);

        g_assert_cmpuint(g_strv_length(lines), ==,
                         MIGRATION_CAPABILITY__MAX + 1);
    }

    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability fixed-ram on"),
        ==, "");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability multifd on"),
        ==, "");
    out = hmp(hmp_info_migrate_capabilities, "info");
    g_assert_true(hmp_has_line(out, "mapped-ram: on"));
    g_assert_true(hmp_has_line(out, "multifd: on"));
    g_assert_true(hmp_has_line(out, "events: off"));

    out =
        hmp(hmp_migrate_set_capability, "migrate_set_capability mapped_ram on");
    g_assert_true(g_str_has_prefix(out, "Error: Capability 'mapped_ram' not "
                                        "found; valid capabilities: xbzrle, "));
    g_assert_true(strstr(out, "mapped-ram\n") != NULL);
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability xbzrle on"), ==,
        "Error: Capability 'xbzrle' is not supported by mapmig\n");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability xbzrle off"),
        ==, "");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability events maybe"),
        ==, "Error: Parameter 'state' expects 'on' or 'off'\n");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_capability, "migrate_set_capability events"), ==,
        "Error: Usage: migrate_set_capability NAME on|off\n");
}

static void test_hmp_params(void)
{
    const char *out;

    setup();
    out = hmp(hmp_info_migrate_parameters, "info");
    g_assert_true(hmp_has_line(out, "max-bandwidth: 134217728 bytes/second"));
    g_assert_true(hmp_has_line(out, "downtime-limit: 300 ms"));
    g_assert_true(hmp_has_line(out, "multifd-channels: 2"));
    g_assert_true(hmp_has_line(out, "multifd-compression: none"));
    g_assert_true(hmp_has_line(out, "multifd-zstd-level: 1"));
    g_assert_true(hmp_has_line(out, "direct-io: off"));
    g_assert_true(hmp_has_line(out, "io-engine: psync"));
    g_assert_true(hmp_has_line(out, "zero-page-detection: legacy"));
    g_assert_true(hmp_has_line(out, "tls-creds: ''"));

    /* Size suffixes; a bare number is MiB as in QEMU. */
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter max-bandwidth 1G"),
                    ==, "");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 1073741824);
    hmp(hmp_migrate_set_parameter, "migrate_set_parameter max-bandwidth 32");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 32 * MiB);
    hmp(hmp_migrate_set_parameter, "migrate_set_parameter max-bandwidth 512K");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 512 * KiB);
    hmp(hmp_migrate_set_parameter, "migrate_set_parameter max-bandwidth 100B");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 100);
    hmp(hmp_migrate_set_parameter, "migrate_set_parameter max-bandwidth 0");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 0);
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter max-bandwidth 1Q"),
                    ==, "Error: Invalid size 1Q\n");
    g_assert_cmpuint(migrate_params()->max_bandwidth, ==, 0);

    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter downtime-limit 500"),
                    ==, "");
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter multifd-channels 4"),
                    ==, "");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_parameter, "migrate_set_parameter direct-io on"),
        ==, "");
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter io-engine libaio"),
                    ==,
                    CONFIG_LIBAIO
                        ? ""
                        : "Error: io-engine 'libaio' is not available in this "
                          "build (built without libaio)\n");
    out = hmp(hmp_info_migrate_parameters, "info");
    g_assert_true(hmp_has_line(out, "max-bandwidth: 0 bytes/second"));
    g_assert_true(hmp_has_line(out, "downtime-limit: 500 ms"));
    g_assert_true(hmp_has_line(out, "multifd-channels: 4"));
    g_assert_true(hmp_has_line(out, "direct-io: on"));

    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter downtime-limit 2000001"),
                    ==,
                    "Error: Parameter 'downtime-limit' expects an integer in "
                    "the range of 0 to 2000 seconds\n");
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter downtime-limit abc"),
                    ==,
                    "Error: Invalid parameter type for 'downtime-limit', "
                    "expected: integer\n");
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter multifd-channels 300"),
                    ==,
                    "Error: Parameter 'multifd-channels' expects a value "
                    "between 1 and 255\n");
    g_assert_cmpstr(
        hmp(hmp_migrate_set_parameter, "migrate_set_parameter direct-io maybe"),
        ==, "Error: Parameter 'direct-io' expects 'on' or 'off'\n");
    g_assert_cmpstr(hmp(hmp_migrate_set_parameter,
                        "migrate_set_parameter max_bandwidth 1G"),
                    ==,
                    "Error: Invalid parameter 'max_bandwidth'; valid "
                    "parameters: max-bandwidth, downtime-limit, "
                    "multifd-channels, multifd-compression, "
                    "multifd-zstd-level, direct-io, io-engine\n");
    g_assert_cmpuint(migrate_params()->downtime_limit, ==, 500);
    g_assert_cmpuint(migrate_params()->multifd_channels, ==, 4);
}

static void test_register(void)
{
    static const char *const qmp_names[] = {
        "migrate-set-capabilities",
        "query-migrate-capabilities",
        "migrate-set-parameters",
        "query-migrate-parameters",
    };

    migration_options_register_commands();
    for (size_t i = 0; i < ARRAY_SIZE(qmp_names); i++) {
        g_assert_nonnull(g_hash_table_lookup(qmp_cmds, qmp_names[i]));
    }
    g_assert_true(g_hash_table_lookup(qmp_cmds, "migrate-set-parameters") ==
                  (gpointer)qmp_migrate_set_parameters);
    g_assert_true(g_hash_table_lookup(hmp_cmds, "migrate_set_capability") ==
                  (gpointer)hmp_migrate_set_capability);
    g_assert_true(g_hash_table_lookup(hmp_cmds, "migrate_set_parameter") ==
                  (gpointer)hmp_migrate_set_parameter);
    g_assert_true(g_hash_table_lookup(info_cmds, "migrate_capabilities") ==
                  (gpointer)hmp_info_migrate_capabilities);
    g_assert_true(g_hash_table_lookup(info_cmds, "migrate_parameters") ==
                  (gpointer)hmp_info_migrate_parameters);
}
#endif

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/migration/options/names", test_names_lookup);
    g_test_add_func("/migration/options/defaults", test_defaults);
    g_test_add_func("/migration/options/caps-check", test_caps_check);
    g_test_add_func("/migration/options/caps-cross-check",
                    test_caps_cross_check);
    g_test_add_func("/migration/options/params-check", test_params_check);
    g_test_add_func("/migration/options/qmp-caps", test_qmp_caps_roundtrip);
    g_test_add_func("/migration/options/qmp-caps-errors", test_qmp_caps_errors);
    g_test_add_func("/migration/options/busy", test_busy);
    g_test_add_func("/migration/options/qmp-params", test_qmp_params_roundtrip);
    g_test_add_func("/migration/options/qmp-params-errors",
                    test_qmp_params_errors);
#ifdef MAPMIG_TEST_MONITOR_DOUBLES
    /* These read HMP output captured by the monitor_printf double. */
    hmp_out = g_string_new(NULL);
    doubles_init();
    g_test_add_func("/migration/options/register", test_register);
    g_test_add_func("/migration/options/hmp-caps", test_hmp_caps);
    g_test_add_func("/migration/options/hmp-params", test_hmp_params);
#endif
    return g_test_run();
}
