/*
 * qtest: the line protocol libqtest speaks to peek and poke guest memory.
 * We connect to the socket the test harness listens on.
 */
#include "qemu/osdep.h"

#include <sys/socket.h>
#include <sys/un.h>

#include "monitor/monitor.h"
#include "monitor-internal.h"
#include "system/ramblock.h"

/* Bound the buffers a single read/write command may allocate. */
#define QTEST_MAX_XFER (256 * MiB)

static void qtest_send(Monitor *mon, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void qtest_send(Monitor *mon, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *s = NULL;

    va_start(ap, fmt);
    s = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    monitor_write(mon, s, strlen(s));
}

static bool qtest_parse_u64(Monitor *mon, const char *s, uint64_t *out)
{
    char *end;

    if (!s) {
        qtest_send(mon, "ERR missing argument\n");
        return false;
    }
    errno = 0;
    *out = strtoull(s, &end, 0);
    if (errno || end == s || *end || *s == '-') {
        qtest_send(mon, "ERR invalid number '%s'\n", s);
        return false;
    }
    return true;
}

static bool qtest_parse_size(Monitor *mon, const char *s, uint64_t *out)
{
    if (!qtest_parse_u64(mon, s, out)) {
        return false;
    }
    if (*out > QTEST_MAX_XFER) {
        qtest_send(mon, "ERR size too large\n");
        return false;
    }
    return true;
}

static bool qtest_access(Monitor *mon, uint64_t addr, void *buf, uint64_t len,
                         bool is_write)
{
    if (!address_space_rw(addr, buf, len, is_write)) {
        qtest_send(mon, "ERR unmapped address 0x%" PRIx64 "\n", addr);
        return false;
    }
    return true;
}

static int hex_nibble(char c)
{
    return g_ascii_xdigit_value(c);
}

static unsigned access_size(const char *cmd)
{
    switch (cmd[strlen(cmd) - 1]) {
    case 'b':
        return 1;
    case 'w':
        return 2;
    case 'l':
        return 4;
    default:
        return 8;
    }
}

static void qtest_read_scalar(Monitor *mon, char **w)
{
    unsigned size = access_size(w[0]);
    uint64_t addr, value = 0;
    uint8_t buf[8];

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_access(mon, addr, buf, size, false)) {
        return;
    }
    for (unsigned i = 0; i < size; i++) { /* little-endian guest */
        value |= (uint64_t)buf[i] << (8 * i);
    }
    qtest_send(mon, "OK 0x%016" PRIx64 "\n", value);
}

static void qtest_write_scalar(Monitor *mon, char **w)
{
    unsigned size = access_size(w[0]);
    uint64_t addr, value;
    uint8_t buf[8];

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_parse_u64(mon, w[2], &value)) {
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        buf[i] = value >> (8 * i);
    }
    if (qtest_access(mon, addr, buf, size, true)) {
        qtest_send(mon, "OK\n");
    }
}

static void qtest_read(Monitor *mon, char **w, bool b64)
{
    uint64_t addr, len;
    g_autofree uint8_t *data = NULL;

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_parse_size(mon, w[2], &len)) {
        return;
    }
    data = g_malloc(len ? len : 1);
    if (!qtest_access(mon, addr, data, len, false)) {
        return;
    }
    if (b64) {
        g_autofree char *enc = g_base64_encode(data, len);
        qtest_send(mon, "OK %s\n", enc);
    } else {
        g_autoptr(GString) s = g_string_sized_new(len * 2 + 8);

        g_string_append(s, "OK 0x");
        for (uint64_t i = 0; i < len; i++) {
            g_string_append_printf(s, "%02x", data[i]);
        }
        g_string_append_c(s, '\n');
        monitor_write(mon, s->str, s->len);
    }
}

/* As QEMU: missing trailing hex digits write zeroes. */
static void qtest_write(Monitor *mon, char **w)
{
    uint64_t addr, len;
    g_autofree uint8_t *data = NULL;
    const char *hex = w[2] ? w[3] : NULL;
    size_t hexlen;

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_parse_size(mon, w[2], &len)) {
        return;
    }
    if (!hex || strncmp(hex, "0x", 2) != 0) {
        qtest_send(mon, "ERR invalid data\n");
        return;
    }
    hex += 2;
    hexlen = strlen(hex);
    data = g_malloc0(len ? len : 1);
    for (uint64_t i = 0; i < len && i * 2 + 2 <= hexlen; i++) {
        int hi = hex_nibble(hex[i * 2]), lo = hex_nibble(hex[i * 2 + 1]);

        if (hi < 0 || lo < 0) {
            qtest_send(mon, "ERR invalid data\n");
            return;
        }
        data[i] = hi << 4 | lo;
    }
    if (qtest_access(mon, addr, data, len, true)) {
        qtest_send(mon, "OK\n");
    }
}

static void qtest_b64write(Monitor *mon, char **w)
{
    uint64_t addr, len;
    g_autofree uint8_t *data = NULL;
    g_autofree guchar *dec = NULL;
    gsize declen = 0;

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_parse_size(mon, w[2], &len)) {
        return;
    }
    if (!w[3]) {
        qtest_send(mon, "ERR invalid data\n");
        return;
    }
    dec = g_base64_decode(w[3], &declen);
    data = g_malloc0(len ? len : 1);
    memcpy(data, dec, MIN(declen, len));
    if (qtest_access(mon, addr, data, len, true)) {
        qtest_send(mon, "OK\n");
    }
}

static void qtest_memset(Monitor *mon, char **w)
{
    uint64_t addr, len, val;

    if (!qtest_parse_u64(mon, w[1], &addr) ||
        !qtest_parse_u64(mon, w[2], &len) ||
        !qtest_parse_u64(mon, w[3], &val)) {
        return;
    }
    if (!address_space_memset(addr, val, len)) {
        qtest_send(mon, "ERR unmapped address 0x%" PRIx64 "\n", addr);
        return;
    }
    qtest_send(mon, "OK\n");
}

static void qtest_process_line(Monitor *mon, const char *line)
{
    g_auto(GStrv) w = g_strsplit_set(line, " \t", -1);
    g_autoptr(GPtrArray) words = g_ptr_array_new();
    const char *cmd;

    /* Drop the empty strings runs of blanks leave. */
    for (int i = 0; w[i]; i++) {
        if (*w[i]) {
            g_ptr_array_add(words, w[i]);
        }
    }
    for (int i = 0; i < 4; i++) {
        g_ptr_array_add(words, NULL); /* w[1..3] may be read as NULL */
    }
    char **argv = (char **)words->pdata;
    cmd = argv[0];
    if (!cmd) {
        return;
    }
    if (!strcmp(cmd, "readb") || !strcmp(cmd, "readw") ||
        !strcmp(cmd, "readl") || !strcmp(cmd, "readq")) {
        qtest_read_scalar(mon, argv);
    } else if (!strcmp(cmd, "writeb") || !strcmp(cmd, "writew") ||
               !strcmp(cmd, "writel") || !strcmp(cmd, "writeq")) {
        qtest_write_scalar(mon, argv);
    } else if (!strcmp(cmd, "read")) {
        qtest_read(mon, argv, false);
    } else if (!strcmp(cmd, "b64read")) {
        qtest_read(mon, argv, true);
    } else if (!strcmp(cmd, "write")) {
        qtest_write(mon, argv);
    } else if (!strcmp(cmd, "b64write")) {
        qtest_b64write(mon, argv);
    } else if (!strcmp(cmd, "memset")) {
        qtest_memset(mon, argv);
    } else if (!strcmp(cmd, "endianness")) {
        /* libqtest asks this first. */
        qtest_send(mon, "OK little\n");
    } else {
        qtest_send(mon, "FAIL Unknown command '%s'\n", cmd);
    }
}

static void qtest_opened(Monitor *mon)
{
    mon->linebuf = g_byte_array_new();
}

static void qtest_receive(Monitor *mon, const uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len && !mon->closed; i++) {
        if (buf[i] != '\n') {
            if (!mon->line_overflow) {
                g_byte_array_append(mon->linebuf, &buf[i], 1);
            }
            /* write/b64write carry data: allow long lines, but bounded. */
            if (mon->linebuf->len > 2 * QTEST_MAX_XFER + 64) {
                g_byte_array_set_size(mon->linebuf, 0);
                mon->line_overflow = true;
            }
            continue;
        }
        if (mon->line_overflow) {
            mon->line_overflow = false;
            qtest_send(mon, "ERR line too long\n");
            continue;
        }
        g_byte_array_append(mon->linebuf, (const guint8 *)"", 1);
        g_autofree char *line = (char *)g_byte_array_free(mon->linebuf, FALSE);
        mon->linebuf = g_byte_array_new();
        g_strchomp(line);
        qtest_process_line(mon, line);
    }
}

static const MonitorOps qtest_monitor_ops = {
    .kind = MONITOR_KIND_QTEST,
    .opened = qtest_opened,
    .receive = qtest_receive,
};

bool qtest_init(const char *spec, GError **errp)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    const char *path;
    int fd;

    if (!g_str_has_prefix(spec, "unix:")) {
        error_setg(errp, "qtest: unsupported chardev '%s' (use unix:PATH)",
                   spec);
        return false;
    }
    path = spec + strlen("unix:");
    if (!*path || strlen(path) >= sizeof(addr.sun_path)) {
        error_setg(errp, "qtest: invalid socket path '%s'", path);
        return false;
    }
    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "qtest: failed to create socket");
        return false;
    }
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        error_setg_errno(errp, errno, "qtest: failed to connect to '%s'", path);
        close(fd);
        return false;
    }
    /* Connected (blocking, so start-up waits); from now on never block. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    monitor_new(&qtest_monitor_ops, fd, fd, true);
    return true;
}
