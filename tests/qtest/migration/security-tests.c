/*
 * Security of the migration URIs and of file names:
 *
 *  - exec: is the only transport that runs a command: shell syntax in
 *    file:, unix:, tcp:, fd: and unknown URIs never starts a process
 *    (no child appears, no marker file is made), while exec: does (the
 *    positive control that proves the check can fail), and the argv of
 *    QMP's "channels" exec form reaches the program unparsed by a shell;
 *  - a path is never taken for an option: "file:-foo" and "file:--help"
 *    are files, "-incoming --help" is a bad URI (not the help), and
 *    mapmig-img needs "--" before a file named "-foo";
 *  - commas in file names follow QEMU's rule: ",offset=N" sets the
 *    offset, any other comma is part of the name, and a name containing
 *    ",offset=" can still be given through "channels".
 *
 * The VMs start in the test's scratch directory, so relative names (and
 * the marker an injected "touch pwned" would create) land there.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"

#include <sys/wait.h>

#define VM_ARGS "-M none -m 4M"
#define MARKER "pwned"

/* Start a VM whose working directory is the scratch directory. */
static QTestState *vm_in_tmpfs(const char *args)
{
    g_autofree char *cwd = g_get_current_dir();
    QTestState *s;

    g_assert_cmpint(chdir(tmpfs), ==, 0);
    s = qtest_init(args);
    g_assert_cmpint(chdir(cwd), ==, 0);
    return s;
}

static bool tmp_exists(const char *name)
{
    g_autofree char *p = g_build_filename(tmpfs, name, NULL);
    return g_file_test(p, G_FILE_TEST_EXISTS);
}

/* The children of every thread of @s's process (none expected). */
static char *children_of(QTestState *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/task", qtest_pid(s));
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    GString *all = g_string_new(NULL);
    const char *tid;

    g_assert_nonnull(d);
    while ((tid = g_dir_read_name(d))) {
        g_autofree char *p = g_strdup_printf("%s/%s/children", dir, tid);
        g_autofree char *c = NULL;
        if (g_file_get_contents(p, &c, NULL, NULL)) {
            g_string_append(all, c);
        }
    }
    return g_string_free(all, FALSE);
}

/* migrate with @uri; returns the QMP error or NULL if it started. */
static char *migrate_try(QTestState *s, const char *uri)
{
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(GError) err = NULL;

    json_object_set_string_member(args, "uri", uri);
    g_autoptr(JsonNode) r = qmp_client_cmd(qtest_qmp_client(s), "migrate",
                                           json_object_ref(args), &err);
    return r ? NULL : g_strdup(err->message);
}

/*
 * migrate with QMP's "channels": one main channel whose "addr" is the
 * JSON object @addr (double quotes; qtest_qmp()'s single quotes would
 * clash with the shell text inside).
 */
static void migrate_channel(QTestState *s, const char *addr)
{
    g_autofree char *text =
        g_strdup_printf("{\"channels\": [{\"channel-type\": \"main\", "
                        "\"addr\": %s}]}",
                        addr);
    g_autoptr(JsonNode) args = json_from_string(text, NULL);
    g_autoptr(GError) err = NULL;

    g_assert_nonnull(args);
    JsonNode *r =
        qmp_client_cmd(qtest_qmp_client(s), "migrate",
                       json_object_ref(json_node_get_object(args)), &err);
    g_assert_no_error(err);
    json_node_unref(r);
}

/* After a migration that started: back to running for the next one. */
static void finish_migration(QTestState *s)
{
    g_autofree char *st = wait_for_migration_status_final(s);

    if (!strcmp(st, "completed")) {
        qtest_qmp_assert_success(s, "{'execute': 'cont'}");
    }
}

static void test_exec_only_runs_commands(void)
{
    /* Shell syntax everywhere but in exec:; "touch pwned" must not run. */
    static const struct {
        const char *uri;
        const char *file; /* the literal file it may create, or NULL */
    } cases[] = {
        { "file:x;touch " MARKER, "x;touch " MARKER },
        { "file:$(touch " MARKER ")", "$(touch " MARKER ")" },
        { "file:`touch " MARKER "`", "`touch " MARKER "`" },
        { "file:|touch " MARKER, "|touch " MARKER },
        { "file:&touch " MARKER, "&touch " MARKER },
        { "file:x\ntouch " MARKER, "x\ntouch " MARKER },
        { "unix:x;touch " MARKER, NULL },
        { "unix:$(touch " MARKER ")", NULL },
        { "tcp:127.0.0.1:1;touch " MARKER, NULL },
        { "tcp:$(touch " MARKER "):1", NULL },
        { "fd:$(touch " MARKER ")", NULL },
        { "fd:;touch " MARKER, NULL },
        { "rdma:x;touch " MARKER, NULL },
        { "EXEC:touch " MARKER, NULL },
        { " exec:touch " MARKER, NULL },
        { "file:exec:touch " MARKER, "exec:touch " MARKER },
    };
    QTestState *s = vm_in_tmpfs(VM_ARGS);
    unsigned refused = 0, saved = 0;

    migrate_set_parameter_int(s, "max-bandwidth", 0);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *err = migrate_try(s, cases[i].uri);

        if (err) {
            refused++;
        } else {
            finish_migration(s);
            saved++;
        }
        g_autofree char *kids = children_of(s);
        g_test_message("%s: %s", cases[i].uri, err ? err : "saved");
        g_assert_cmpstr(kids, ==, "");
        g_assert_false(tmp_exists(MARKER));
        if (cases[i].file && !err) {
            /* The whole text after "file:" named the file. */
            g_assert_true(tmp_exists(cases[i].file));
        }
    }
    g_test_message("%u refused, %u saved to literal names", refused, saved);
    g_assert_cmpuint(saved, >=, 6);

    /* QMP's exec form: each argument reaches sh as one word. */
    migrate_channel(s, "{\"transport\": \"exec\", \"args\": [\"sh\", "
                       "\"-c\", \"cat > \\\"$1\\\"\", \"sh\", "
                       "\"y;touch " MARKER "\"]}");
    finish_migration(s);
    g_assert_true(tmp_exists("y;touch " MARKER));
    g_assert_false(tmp_exists(MARKER));

    /* The positive control: exec: does run its command. */
    g_assert_null(migrate_try(s, "exec:touch " MARKER));
    finish_migration(s);
    g_assert_true(tmp_exists(MARKER));
    {
        /* and reaps it */
        g_autofree char *kids = children_of(s);
        g_assert_cmpstr(kids, ==, "");
    }
    qtest_quit(s);
}

/* Save @s to @uri, then restore @uri into a fresh VM; same digests. */
static void save_restore(QTestState *s, const char *uri)
{
    g_autoptr(GHashTable) before = qtest_ram_digests(s);
    g_autofree char *incoming =
        g_strdup_printf(VM_ARGS " -S -incoming '%s'", uri);
    g_autofree char *err = migrate_try(s, uri);

    if (err) {
        g_printerr("migrate %s: %s\n", uri, err);
    }
    g_assert_null(err);
    wait_for_migration_complete(s);
    qtest_qmp_assert_success(s, "{'execute': 'cont'}");

    QTestState *to = vm_in_tmpfs(incoming);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    {
        g_autoptr(GHashTable) got = qtest_ram_digests(to);
        g_assert_true(qtest_ram_digests_check(before, got));
    }
    qtest_quit(to);
}

static int run_img(const char *arg1, const char *arg2, const char *arg3,
                   char **output)
{
    const char *argv[] = { g_getenv("MAPMIG_IMG"), arg1, arg2, arg3, NULL };
    g_autofree char *out = NULL, *err_out = NULL;
    g_autoptr(GError) err = NULL;
    int status;

    g_assert_nonnull(argv[0]);
    g_assert_true(g_spawn_sync(tmpfs, (char **)argv, NULL, 0, NULL, NULL, &out,
                               &err_out, &status, &err));
    *output = g_strconcat(out, err_out, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_paths_are_not_options(void)
{
    QTestState *s = vm_in_tmpfs(VM_ARGS);
    g_autofree char *out = NULL;

    qtest_memset(s, 0, 0x6b, 1 * MiB);
    migrate_set_parameter_int(s, "max-bandwidth", 0);
    save_restore(s, "file:-foo");
    g_assert_true(tmp_exists("-foo"));
    save_restore(s, "file:--help");
    g_assert_true(tmp_exists("--help"));
    qtest_quit(s);

    /* mapmig-img: "-foo" is options unless after "--". */
    g_assert_cmpint(run_img("check", "--", "-foo", &out), ==, 0);
    g_assert_nonnull(strstr(out, "No errors"));
    g_clear_pointer(&out, g_free);
    g_assert_cmpint(run_img("check", "./-foo", NULL, &out), ==, 0);
    g_clear_pointer(&out, g_free);
    /* An unknown option: a usage error (2), as in every tool. */
    g_assert_cmpint(run_img("check", "-foo", NULL, &out), ==, 2);
    g_test_message("mapmig-img check -foo: %s", out);
    g_assert_null(strstr(out, "No errors"));
    g_clear_pointer(&out, g_free);

    /* -incoming takes the next word as its URI, whatever it looks like. */
    {
        const char *argv[] = { qtest_binary(), "-incoming", "--help", NULL };
        g_autofree char *o = NULL, *e = NULL;
        int status;

        g_assert_true(g_spawn_sync(tmpfs, (char **)argv, NULL, 0, NULL, NULL,
                                   &o, &e, &status, NULL));
        g_test_message("mapmig -incoming --help: %s", e);
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 1);
        g_assert_null(strstr(o, "Usage"));
        g_assert_nonnull(strstr(e, "Invalid migration URI '--help'"));
    }
}

static void test_commas_in_file_names(void)
{
    QTestState *s = vm_in_tmpfs(VM_ARGS);
    g_autofree char *err = NULL, *out = NULL;

    qtest_memset(s, 0, 0x3d, 1 * MiB);
    migrate_set_parameter_int(s, "max-bandwidth", 0);

    /* Commas other than ",offset=" belong to the name. */
    save_restore(s, "file:a,b");
    g_assert_true(tmp_exists("a,b"));
    save_restore(s, "file:d,server=on,,x");
    g_assert_true(tmp_exists("d,server=on,,x"));

    /* ",offset=N": the stream starts at N in file "c". */
    save_restore(s, "file:c,offset=8192");
    g_assert_false(tmp_exists("c,offset=8192"));
    g_assert_cmpint(run_img("check", "--offset=8192", "c", &out), ==, 0);
    g_clear_pointer(&out, g_free);
    {
        g_autofree char *p = g_build_filename(tmpfs, "c", NULL);
        g_autofree char *data = NULL;
        gsize len;
        g_assert_true(g_file_get_contents(p, &data, &len, NULL));
        g_assert_cmpuint(len, >, 8192 + 4);
        g_assert_cmpmem(data + 8192, 4, "QEVM", 4);
    }

    /* A bad offset is an error; no file appears under either name. */
    err = migrate_try(s, "file:f,offset=1x");
    g_test_message("file:f,offset=1x: %s", err);
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, "offset"));
    g_assert_false(tmp_exists("f"));
    g_assert_false(tmp_exists("f,offset=1x"));

    /* channels: the filename is a name, even with ",offset=" in it. */
    migrate_channel(s, "{\"transport\": \"file\", \"filename\": "
                       "\"e,offset=5\", \"offset\": 0}");
    finish_migration(s);
    g_assert_true(tmp_exists("e,offset=5"));
    g_assert_false(tmp_exists("e"));
    g_assert_cmpint(run_img("check", "e,offset=5", NULL, &out), ==, 0);
    qtest_quit(s);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    migration_test_add("/migration/security/uri/exec-only-runs-commands",
                       test_exec_only_runs_commands);
    migration_test_add("/migration/security/uri/paths-are-not-options",
                       test_paths_are_not_options);
    migration_test_add("/migration/security/uri/commas-in-file-names",
                       test_commas_in_file_names);
    return migration_test_run();
}
