/*
 * QMP server tests: the server runs in the default main context, which
 * the test iterates while talking to it over real UNIX sockets.
 */
#include "qemu/osdep.h"

#include <netinet/in.h>
#include <sys/stat.h>

#include "monitor/chardev.h"
#include "monitor/monitor.h"
#include "mon-client.h"

static char *tmpdir;
static char *sock_path;

#define GREETING                                              \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, "      \
    "\"minor\": 1, \"major\": 0}, \"package\": \"mapmig\"}, " \
    "\"capabilities\": [\"oob\"]}}\r\n"

/* ---- test commands ---- */

static JsonNode *qmp_x_echo(Monitor *mon, JsonObject *args, GError **errp)
{
    const char *s;
    int64_t n = 7;
    bool b = false;

    if (!qmp_arg_str(args, "s", true, &s, errp) ||
        !qmp_arg_int(args, "n", false, &n, errp) ||
        !qmp_arg_bool(args, "b", false, &b, errp)) {
        return NULL;
    }
    g_autofree char *out = g_strdup_printf("%s/%" PRId64 "/%d", s, n, b);
    return json_node_init_string(json_node_alloc(), out);
}

static JsonNode *qmp_x_fail(Monitor *mon, JsonObject *args, GError **errp)
{
    error_setg(errp, "test failure");
    return NULL;
}

static JsonNode *qmp_x_take_fd(Monitor *mon, JsonObject *args, GError **errp)
{
    int fd = monitor_take_received_fd(mon);
    JsonNode *ret = json_node_init_boolean(json_node_alloc(), fd >= 0);

    if (fd >= 0) {
        close(fd);
    }
    return ret;
}

/* ---- helpers ---- */

static MonClient *connect_raw(void)
{
    MonClient *c = mon_client_connect(sock_path);
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");

    g_assert_cmpstr(greeting, ==, GREETING);
    return c;
}

static char *cmd(MonClient *c, const char *req)
{
    mon_client_send(c, req);
    return mon_client_read_until(c, "\r\n");
}

static void cmd_expect(MonClient *c, const char *req, const char *reply)
{
    g_autofree char *r = cmd(c, req);
    g_autofree char *want = g_strconcat(reply, "\r\n", NULL);

    g_assert_cmpstr(r, ==, want);
}

static MonClient *connect_negotiated(void)
{
    MonClient *c = connect_raw();

    cmd_expect(c, "{\"execute\": \"qmp_capabilities\"}", "{\"return\": {}}");
    return c;
}

/* ---- tests ---- */

static void test_socket_mode(void)
{
    struct stat st;

    g_assert_cmpint(stat(sock_path, &st), ==, 0);
    g_assert_true(S_ISSOCK(st.st_mode));
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
}

static void test_negotiation(void)
{
    MonClient *c = connect_raw();

    cmd_expect(c, "{\"execute\": \"query-version\", \"id\": 1}",
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
               "\"Expecting capabilities negotiation with "
               "'qmp_capabilities'\"}, \"id\": 1}");
    cmd_expect(c,
               "{\"execute\": \"qmp_capabilities\", \"arguments\": "
               "{\"enable\": [\"oob\"]}}",
               "{\"return\": {}}");
    cmd_expect(c, "{\"execute\": \"qmp_capabilities\"}",
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
               "\"Capabilities negotiation is already complete, command "
               "ignored\"}}");
    cmd_expect(c, "{\"execute\": \"query-version\"}",
               "{\"return\": {\"qemu\": {\"major\": 0, \"minor\": 1, "
               "\"micro\": 0}, \"package\": \"mapmig\"}}");
    mon_client_close(c);
}

static void test_commands(void)
{
    MonClient *c = connect_negotiated();
    g_autofree char *list = NULL;

    cmd_expect(c,
               "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"hi\", "
               "\"n\": 42, \"b\": true}, \"id\": {\"a\": [1, \"x\"]}}",
               "{\"return\": \"hi/42/1\", \"id\": {\"a\": [1, \"x\"]}}");
    cmd_expect(c, "{\"execute\": \"x-echo\", \"id\": \"s\"}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"Parameter 's' is missing\"}, \"id\": \"s\"}");
    cmd_expect(c, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": 1}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"Parameter 's' expects a string\"}}");
    cmd_expect(c,
               "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"\", "
               "\"n\": 1.5}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"Parameter 'n' expects an integer\"}}");
    cmd_expect(c,
               "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"\", "
               "\"b\": 1}}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"Parameter 'b' expects a boolean\"}}");
    cmd_expect(c, "{\"execute\": \"x-fail\", \"id\": 3}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"test failure\"}, \"id\": 3}");
    cmd_expect(c, "{\"execute\": \"no-such\"}",
               "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": "
               "\"The command no-such has not been found\"}}");
    /* Non-ASCII and control characters come back escaped. */
    cmd_expect(c,
               "{\"execute\": \"x-echo\", \"arguments\": {\"s\": "
               "\"\\u00e9\\n\\\"\"}}",
               "{\"return\": \"\\u00e9\\n\\\"/7/0\"}");

    list = cmd(c, "{\"execute\": \"query-commands\"}");
    g_assert_nonnull(strstr(list, "{\"name\": \"qmp_capabilities\"}"));
    g_assert_nonnull(strstr(list, "{\"name\": \"x-fail\"}"));
    g_assert_nonnull(strstr(list, "{\"name\": \"query-version\"}"));
    mon_client_close(c);
}

static void test_bad_input(void)
{
    MonClient *c = connect_negotiated();
    g_autofree char *r = NULL;

    r = cmd(c, "{\"execute\": }");
    g_assert_true(g_str_has_prefix(r, "{\"error\": {\"class\": "
                                      "\"GenericError\", \"desc\": "
                                      "\"JSON parse error, "));
    cmd_expect(c, "[1, 2]",
               "{\"error\": {\"class\": \"GenericError\", "
               "\"desc\": \"QMP input must be a JSON object\"}}");
    cmd_expect(c, "42 ",
               "{\"error\": {\"class\": \"GenericError\", "
               "\"desc\": \"QMP input must be a JSON object\"}}");
    cmd_expect(c, "{\"id\": 5}",
               "{\"error\": {\"class\": \"GenericError\", "
               "\"desc\": \"QMP input lacks member 'execute'\"}, \"id\": 5}");
    cmd_expect(c, "{\"execute\": \"x-fail\", \"arguments\": [1]}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"QMP input member 'arguments' must be an object\"}}");
    cmd_expect(c, "{\"execute\": \"x-fail\", \"bogus\": 1}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"QMP input member 'bogus' is unexpected\"}}");
    g_free(r);
    r = cmd(c, "}");
    g_assert_true(g_str_has_prefix(r, "{\"error\": {\"class\": "
                                      "\"GenericError\", \"desc\": "
                                      "\"JSON parse error, "));
    /* Garbage bytes, NULs and invalid UTF-8 inside a string. */
    mon_client_send_len(c, "{\"execute\": \"\xff\xfe\0\x01\"}", 19);
    g_free(r);
    r = mon_client_read_until(c, "\r\n");
    g_assert_nonnull(strstr(r, "\"error\""));
    /* Still usable. */
    cmd_expect(c, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"ok\"}}",
               "{\"return\": \"ok/7/0\"}");
    mon_client_close(c);
}

static void test_framing(void)
{
    MonClient *c = connect_negotiated();
    g_autofree char *r1 = NULL, *r2 = NULL;

    /* Two objects, one write, no separator; braces inside strings. */
    mon_client_send(c, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": "
                       "\"{[\\\"\"}, \"id\": 1}{\"execute\": \"x-fail\", "
                       "\"id\": 2}");
    r1 = mon_client_read_until(c, "\r\n");
    r2 = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(r1, ==, "{\"return\": \"{[\\\"/7/0\", \"id\": 1}\r\n");
    g_assert_cmpstr(r2, ==,
                    "{\"error\": {\"class\": \"GenericError\", "
                    "\"desc\": \"test failure\"}, \"id\": 2}\r\n");

    /* One object split over two writes, in the middle of a string. */
    mon_client_send(c, "{\"execute\": \"x-echo\", \"argu");
    g_assert_true(mon_client_quiet(c));
    cmd_expect(c, "ments\": {\"s\": \"split\"}}",
               "{\"return\": "
               "\"split/7/0\"}");
    mon_client_close(c);
}

static void test_limits(void)
{
    MonClient *c = connect_negotiated();
    GString *big = g_string_new("{\"execute\": \"x-echo\", \"arguments\": "
                                "{\"s\": \"");
    g_autofree char *deep = NULL;

    /* Over 1 MiB: one error, the rest of the message is dropped. */
    for (int i = 0; i < 1100 * 1024 / 64; i++) {
        g_string_append(big, "0123456789abcdef0123456789abcdef"
                             "0123456789abcdef0123456789abcdef");
    }
    g_string_append(big, "\"}}");
    cmd_expect(c, big->str,
               "{\"error\": {\"class\": \"GenericError\", "
               "\"desc\": \"JSON message size limit exceeded\"}}");
    g_string_free(big, TRUE);
    g_assert_true(mon_client_quiet(c));
    cmd_expect(c, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"a\"}}",
               "{\"return\": \"a/7/0\"}");

    /* Nesting deeper than 64. */
    g_autofree char *open_ = g_strnfill(100, '[');
    g_autofree char *close_ = g_strnfill(100, ']');
    deep = g_strconcat(open_, close_, NULL);
    cmd_expect(c, deep,
               "{\"error\": {\"class\": \"GenericError\", "
               "\"desc\": \"JSON nesting depth limit exceeded\"}}");
    g_assert_true(mon_client_quiet(c));
    cmd_expect(c, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"b\"}}",
               "{\"return\": \"b/7/0\"}");
    mon_client_close(c);
}

static gpointer event_thread(gpointer opaque)
{
    for (int i = 0; i < 20; i++) {
        JsonObject *data = json_object_new();

        json_object_set_int_member(data, "n", i);
        qapi_event_send("TEST_EVENT", data);
    }
    qapi_event_send("TEST_DONE", NULL);
    return NULL;
}

static void test_events(void)
{
    MonClient *a = connect_negotiated();
    MonClient *b = connect_negotiated();
    MonClient *raw = connect_raw(); /* not negotiated: no events */
    gint64 before = g_get_real_time() / G_USEC_PER_SEC;

    g_thread_join(g_thread_new("events", event_thread, NULL));
    for (int k = 0; k < 2; k++) {
        MonClient *c = k ? b : a;

        for (int i = 0; i <= 20; i++) {
            g_autofree char *line = mon_client_read_until(c, "\r\n");
            g_autoptr(JsonParser) p = json_parser_new();
            JsonObject *ev, *ts;

            g_assert_true(json_parser_load_from_data(p, line, -1, NULL));
            ev = json_node_get_object(json_parser_get_root(p));
            ts = json_object_get_object_member(ev, "timestamp");
            g_assert_cmpint(json_object_get_int_member(ts, "seconds"), >=,
                            before);
            g_assert_cmpint(json_object_get_int_member(ts, "microseconds"), <,
                            1000000);
            if (i < 20) {
                JsonObject *data = json_object_get_object_member(ev, "data");
                g_assert_cmpstr(json_object_get_string_member(ev, "event"), ==,
                                "TEST_EVENT");
                g_assert_cmpint(json_object_get_int_member(data, "n"), ==, i);
            } else {
                g_assert_cmpstr(json_object_get_string_member(ev, "event"), ==,
                                "TEST_DONE");
                g_assert_false(json_object_has_member(ev, "data"));
            }
        }
    }
    g_assert_true(mon_client_quiet(raw));
    /* Both clients still answer independently. */
    cmd_expect(b, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"b\"}}",
               "{\"return\": \"b/7/0\"}");
    cmd_expect(a, "{\"execute\": \"x-echo\", \"arguments\": {\"s\": \"a\"}}",
               "{\"return\": \"a/7/0\"}");
    mon_client_close(a);
    mon_client_close(b);
    mon_client_close(raw);
}

static void test_fd_passing(void)
{
    MonClient *c = connect_negotiated();
    const char *req = "{\"execute\": \"x-take-fd\"}";
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { .iov_base = (void *)req, .iov_len = strlen(req) };
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.buf,
        .msg_controllen = sizeof(control.buf),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    int fd = open("/dev/null", O_RDONLY);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    g_assert_cmpint(sendmsg(c->fd, &msg, 0), ==, (ssize_t)strlen(req));
    close(fd);
    g_free(mon_client_read_until(c, "{\"return\": true}\r\n"));
    cmd_expect(c, req, "{\"return\": false}");
    mon_client_close(c);
}

static void test_disconnect(void)
{
    /* Disconnect mid-message and with a reply pending: no crash/leak. */
    for (int i = 0; i < 5; i++) {
        MonClient *c = connect_negotiated();

        mon_client_send(c, "{\"execute\": \"x-echo\", \"arguments\": ");
        mon_client_send(c, i % 2 ? "{}}" : "");
        mon_client_close(c);
        mon_pump();
    }
    qapi_event_send("AFTER_CLOSE", NULL);
    mon_pump();
    MonClient *c = connect_negotiated();
    mon_client_close(c);
}

/* Random bytes and JSON-ish fragments must never crash the server. */
static void test_garbage(void)
{
    static const char *frags[] = {
        "{",
        "}",
        "[",
        "]",
        "\"",
        "\\",
        ":",
        ",",
        "\"execute\"",
        "1e999",
        "-",
        "null",
        "\"id\"",
        "\"arguments\"",
        "{\"execute\":\"x-echo\"",
        "\"qmp_capabilities\"",
        " ",
        "\n",
        "\\u0000",
        "tru",
    };

    for (int round = 0; round < 20; round++) {
        MonClient *c = round % 2 ? connect_negotiated() : connect_raw();

        for (int i = 0; i < 2000; i++) {
            if (g_test_rand_bit()) {
                const char *f =
                    frags[g_test_rand_int_range(0, ARRAY_SIZE(frags))];
                mon_client_send(c, f);
            } else {
                char b = g_test_rand_int_range(0, 256);
                mon_client_send_len(c, &b, 1);
            }
            if (i % 64 == 0) {
                mon_pump();
                mon_client_fill(c);
                g_string_truncate(c->in, 0);
            }
        }
        mon_pump();
        mon_client_close(c);
        mon_pump();
    }
    MonClient *c = connect_negotiated();
    mon_client_close(c);
}

static void test_spec_parsing(void)
{
    g_autofree char *p1 = g_build_filename(tmpdir, "a.sock", NULL);
    g_autofree char *p2 = g_build_filename(tmpdir, "b.sock", NULL);
    g_autofree char *s1 = g_strdup_printf("unix:%s,server=on,wait=off", p1);
    g_autofree char *s2 = g_strdup_printf("unix:%s,server,nowait", p2);
    g_autofree char *bad = g_strdup_printf("unix:%s,bogus=1", p1);
    g_autofree char *cwd = g_get_current_dir();
    /* What QEMU refuses, and how it says so. */
    const struct {
        const char *spec;
        const char *error;
    } refused[] = {
        { bad, "Invalid parameter 'bogus'" },
        { "unix:", "UNIX socket path is missing" },
        { p1, NULL }, /* a bare path */
        { "stdio2", "'stdio2' is not a valid char driver" },
        { "none", "'none' is not a valid char driver" },
        { "tcp:localhost", "'tcp:localhost' is not a valid char driver" },
        { "tcp:127.0.0.1:", "'tcp:127.0.0.1:' is not a valid char driver" },
        { "mon:stdio", "'mon:stdio' is not a valid char driver" },
        { "unix:/x,server=maybe", "Parameter 'server' expects 'on' or 'off'" },
        { "file:/dev/null", "'file:/dev/null': a monitor needs input, a file "
                            "has none" },
    };
    GError *err = NULL;

    g_assert_true(monitor_init_qmp(s1, NULL));
    g_assert_true(monitor_init_qmp(s2, NULL));
    g_assert_true(g_file_test(p1, G_FILE_TEST_EXISTS));
    g_assert_true(g_file_test(p2, G_FILE_TEST_EXISTS));
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        g_autofree char *want =
            refused[i].error
                ? g_strdup(refused[i].error)
                : g_strdup_printf("'%s' is not a valid char driver",
                                  refused[i].spec);

        g_assert_false(monitor_init_qmp(refused[i].spec, &err));
        g_assert_cmpstr(err->message, ==, want);
        g_clear_error(&err);
    }
    /* The bug of old: no socket named after the spec appears. */
    g_assert_true(chdir(tmpdir) == 0);
    g_assert_false(monitor_init_qmp("tcp:127.0.0.1", &err));
    g_clear_error(&err);
    g_assert_false(g_file_test("tcp:127.0.0.1", G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test("stdio2", G_FILE_TEST_EXISTS));
    g_assert_true(chdir(cwd) == 0);
    /* "null" is a monitor nobody reaches. */
    g_assert_true(monitor_init_qmp("null", NULL));

    MonClient *c = mon_client_connect(p2);
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(greeting, ==, GREETING);
    mon_client_close(c);
}

static MonClient *mon_client_from_fd(int fd)
{
    MonClient *c = g_new0(MonClient, 1);

    c->fd = fd;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->in = g_string_new(NULL);
    return c;
}

/* unix:PATH without server=on connects, as in QEMU. */
static void test_spec_client(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "peer.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s", path);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    GError *err = NULL;

    g_assert_false(monitor_init_qmp(spec, &err));
    g_assert_nonnull(strstr(err->message, "Failed to connect to"));
    g_clear_error(&err);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    g_assert_true(monitor_init_qmp(spec, &err));
    g_assert_no_error(err);

    MonClient *c = mon_client_from_fd(accept(lfd, NULL, NULL));
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(greeting, ==, GREETING);
    mon_client_send(c, "{\"execute\": \"qmp_capabilities\"}");
    g_autofree char *r = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(r, ==, "{\"return\": {}}\r\n");
    mon_client_close(c);
    close(lfd);
    unlink(path);
}

/* A TCP port nobody listens on right now. */
static int free_tcp_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sin, &len), ==, 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static MonClient *tcp_connect(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_assert_cmpint(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), ==, 0);
    return mon_client_from_fd(fd);
}

static void test_spec_tcp(void)
{
    int port = free_tcp_port();
    g_autofree char *spec =
        g_strdup_printf("tcp:127.0.0.1:%d,server=on,wait=off,nodelay=on", port);
    GError *err = NULL;

    g_assert_true(monitor_init_qmp(spec, &err));
    g_assert_no_error(err);
    MonClient *c = tcp_connect(port);
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(greeting, ==, GREETING);
    mon_client_close(c);
    /* The port is taken now: a second listener says so. */
    g_assert_false(monitor_init_qmp(spec, &err));
    g_assert_nonnull(err);
    g_clear_error(&err);
}

static gpointer connect_later(gpointer path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    for (int i = 0; i < 500; i++) {
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            return GINT_TO_POINTER(fd);
        }
        g_usleep(10 * 1000);
    }
    close(fd);
    return GINT_TO_POINTER(-1);
}

/* server=on alone waits for the first client before going on. */
static void test_spec_wait(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "wait.sock", NULL);
    g_autofree char *spec = g_strdup_printf("unix:%s,server=on", path);
    GThread *t = g_thread_new("client", connect_later, path);
    GError *err = NULL;

    g_assert_true(monitor_init_qmp(spec, &err));
    g_assert_no_error(err);
    int fd = GPOINTER_TO_INT(g_thread_join(t));
    g_assert_cmpint(fd, >=, 0);
    MonClient *c = mon_client_from_fd(fd);
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(greeting, ==, GREETING);
    mon_client_close(c);
}

/* libvirt: -chardev socket,id=..,server=on,wait=off -mon ..,mode=control */
static void test_chardev_mon(void)
{
    g_autofree char *path = g_build_filename(tmpdir, "lv.sock", NULL);
    g_autofree char *chardev = g_strdup_printf(
        "socket,id=charmonitor,path=%s,server=on,wait=off", path);
    const struct {
        const char *chardev; /* NULL: -mon alone */
        const char *mon;
        const char *error;
    } refused[] = {
        { NULL, "chardev=charmonitor,mode=control",
          "Device 'charmonitor' is in use" },
        { NULL, "chardev=nope,mode=control", "chardev \"nope\" not found" },
        { NULL, "mode=control", "Parameter 'chardev' is missing" },
        { "null,id=n1", "chardev=n1,mode=json",
          "Parameter 'mode' does not accept value 'json'" },
        { "null,id=n2", "chardev=n2,bogus=1", "Invalid parameter 'bogus'" },
        { "socket,path=/x", NULL, "chardev: no id specified" },
        { "spice,id=s", NULL, "'spice' is not a valid char driver name" },
        { "socket,id=charmonitor,path=/x", NULL,
          "Duplicate ID 'charmonitor' for chardev" },
        { "socket,id=t,port=1", NULL, "chardev: socket: no host given" },
        { "socket,id=t,host=h", NULL, "chardev: socket: no port given" },
        { "null,id=t,path=/x", NULL, "Invalid parameter 'path'" },
    };
    GError *err = NULL;
    bool help;

    g_assert_true(chardev_add(chardev, &help, &err));
    g_assert_no_error(err);
    g_assert_false(help);
    g_assert_true(monitor_init_mon("chardev=charmonitor,id=monitor,"
                                   "mode=control",
                                   &err));
    g_assert_no_error(err);
    MonClient *c = mon_client_connect(path);
    g_autofree char *greeting = mon_client_read_until(c, "\r\n");
    g_assert_cmpstr(greeting, ==, GREETING);
    mon_client_close(c);

    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        bool ok = refused[i].chardev
                      ? chardev_add(refused[i].chardev, &help, &err)
                      : true;
        if (ok && refused[i].mon) {
            ok = monitor_init_mon(refused[i].mon, &err);
        }
        g_assert_false(ok);
        if (refused[i].error) {
            g_assert_cmpstr(err->message, ==, refused[i].error);
        }
        g_clear_error(&err);
    }

    /* fd=N: a listening socket handed over, as libvirt does. */
    g_autofree char *p2 = g_build_filename(tmpdir, "lvfd.sock", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_strlcpy(addr.sun_path, p2, sizeof(addr.sun_path));
    g_assert_cmpint(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_autofree char *byfd =
        g_strdup_printf("socket,id=byfd,fd=%d,server=on,wait=off", lfd);
    g_assert_true(chardev_add(byfd, &help, &err));
    g_assert_true(monitor_init_mon("byfd,mode=control", &err));
    g_assert_no_error(err);
    c = mon_client_connect(p2);
    g_free(mon_client_read_until(c, "\r\n"));
    mon_client_close(c);
    close(lfd);
}

/* One stdio for one device; mon:stdio shares it with HMP. */
static void test_stdio_claim(void)
{
    g_autoptr(ChardevSpec) a = chardev_parse_legacy("stdio", NULL);
    g_autoptr(ChardevSpec) b = chardev_parse_legacy("stdio", NULL);
    g_autoptr(ChardevSpec) mux = chardev_parse_legacy("mon:stdio", NULL);
    GError *err = NULL;

    g_assert_true(chardev_claim_stdio(a, &err));
    g_assert_true(chardev_claim_stdio(a, &err));
    g_assert_false(chardev_claim_stdio(b, &err));
    g_assert_cmpstr(err->message, ==,
                    "cannot use stdio by multiple character devices");
    g_clear_error(&err);
    chardev_release_stdio();
    g_assert_true(mux->mux);
    g_assert_true(chardev_claim_stdio(mux, &err));
    g_assert_true(chardev_claim_stdio(mux, &err));
    g_assert_false(chardev_claim_stdio(a, &err));
    g_clear_error(&err);
    chardev_release_stdio();
    g_assert_null(chardev_parse_legacy("mon:unix:/x", &err));
    g_clear_error(&err);
}

static void test_human_monitor_command(void)
{
    MonClient *c = connect_negotiated();

    cmd_expect(c,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": \"info version\"}}",
               "{\"return\": \"0.1.0 (mapmig)\\r\\n\"}");
    cmd_expect(c,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": \"info version x\", \"cpu-index\": 0}}",
               "{\"return\": \"version: extraneous characters at the end "
               "of line\\r\\nTry \\\"help info version\\\" for more "
               "information\\r\\n\"}");
    cmd_expect(c,
               "{\"execute\": \"human-monitor-command\", \"arguments\": "
               "{\"command-line\": \"\"}}",
               "{\"return\": \"\"}");
    cmd_expect(c, "{\"execute\": \"human-monitor-command\"}",
               "{\"error\": {\"class\": \"GenericError\", \"desc\": "
               "\"Parameter 'command-line' is missing\"}}");
    mon_client_close(c);
}

int main(int argc, char **argv)
{
    GError *err = NULL;
    int ret;

    g_test_init(&argc, &argv, NULL);
    monitor_register_builtin_commands();
    qmp_register_command("x-echo", qmp_x_echo, 0);
    qmp_register_command("x-fail", qmp_x_fail, 0);
    qmp_register_command("x-take-fd", qmp_x_take_fd, 0);

    tmpdir = g_dir_make_tmp("test-qmp-XXXXXX", NULL);
    sock_path = g_build_filename(tmpdir, "qmp.sock", NULL);
    g_autofree char *spec =
        g_strdup_printf("unix:%s,server=on,wait=off", sock_path);
    if (!monitor_init_qmp(spec, &err)) {
        g_error("%s", err->message);
    }

    g_test_add_func("/qmp/socket-mode", test_socket_mode);
    g_test_add_func("/qmp/negotiation", test_negotiation);
    g_test_add_func("/qmp/commands", test_commands);
    g_test_add_func("/qmp/bad-input", test_bad_input);
    g_test_add_func("/qmp/framing", test_framing);
    g_test_add_func("/qmp/limits", test_limits);
    g_test_add_func("/qmp/events", test_events);
    g_test_add_func("/qmp/fd-passing", test_fd_passing);
    g_test_add_func("/qmp/disconnect", test_disconnect);
    g_test_add_func("/qmp/garbage", test_garbage);
    g_test_add_func("/qmp/spec", test_spec_parsing);
    g_test_add_func("/qmp/spec/client", test_spec_client);
    g_test_add_func("/qmp/spec/tcp", test_spec_tcp);
    g_test_add_func("/qmp/spec/wait", test_spec_wait);
    g_test_add_func("/qmp/spec/chardev-mon", test_chardev_mon);
    g_test_add_func("/qmp/spec/stdio", test_stdio_claim);
    g_test_add_func("/qmp/human-monitor-command", test_human_monitor_command);
    ret = g_test_run();

    monitor_cleanup();
    g_assert_false(g_file_test(sock_path, G_FILE_TEST_EXISTS));
    rmdir(tmpdir);
    g_free(sock_path);
    g_free(tmpdir);
    return ret;
}
