/*
 * A write-only serial port: guest output goes to a file, stdio or nowhere.
 * Its byte count is device state, so markers keep counting across a
 * migration.
 */
#include "qemu/osdep.h"
#include <glib-unix.h>
#include <poll.h>
#include <sys/socket.h>

#include "hw/workload.h"
#include "monitor/chardev.h"
#include "migration/vmstate.h"

typedef struct SerialState {
    int fd; /* -1: no output (none, null, no socket client) */
    uint64_t tx_bytes;
    uint8_t lcr; /* line control, as a UART has it */
} SerialState;

static SerialState serial = { .fd = -1, .lcr = 0x03 };

/*
 * Socket output: the client fd changes under out_lock (the main loop
 * accepts, a vCPU drops a client whose write failed).
 */
static GMutex out_lock;
static bool out_is_socket;
static int listen_fd = -1;
static guint listen_watch;
static char *listen_path; /* our UNIX node */
static bool listen_nodelay;

static const VMStateField serial_fields[] = {
    VMSTATE_UINT64(tx_bytes, SerialState),
    VMSTATE_UINT8(lcr, SerialState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_serial = {
    .name = "serial",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = serial_fields,
};

static void serial_take_client(int cfd)
{
    if (listen_nodelay) {
        chardev_socket_set_nodelay(cfd);
    }
    g_mutex_lock(&out_lock);
    if (serial.fd < 0) {
        serial.fd = cfd;
        cfd = -1;
    }
    g_mutex_unlock(&out_lock);
    if (cfd >= 0) {
        close(cfd); /* one client at a time */
    }
}

static gboolean serial_accept(gint fd, GIOCondition cond, gpointer opaque)
{
    int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (cfd >= 0) {
        serial_take_client(cfd);
    }
    return G_SOURCE_CONTINUE;
}

static bool serial_init_socket(const ChardevSpec *cs, GError **errp)
{
    out_is_socket = true;
    if (!cs->server) {
        serial.fd = chardev_socket_connect(cs, errp);
        return serial.fd >= 0;
    }
    listen_fd = chardev_socket_listen(cs, errp);
    if (listen_fd < 0) {
        return false;
    }
    listen_path = cs->fd < 0 ? g_strdup(cs->path) : NULL;
    listen_nodelay = cs->nodelay;
    if (cs->wait) {
        g_autofree char *desc = chardev_socket_describe(cs);
        struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
        int cfd;

        g_printerr("mapmig: waiting for connection on: %s\n", desc);
        do {
            if (poll(&pfd, 1, -1) < 0 && errno != EINTR) {
                break;
            }
            cfd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        } while (cfd < 0 && (errno == EINTR || errno == EAGAIN));
        if (cfd >= 0) {
            serial_take_client(cfd);
        }
    }
    listen_watch = g_unix_fd_add(listen_fd, G_IO_IN, serial_accept, NULL);
    return true;
}

bool serial_init(ChardevSpec *cs, GError **errp)
{
    serial.fd = -1;
    if (!cs) {
        return true;
    }
    switch (cs->kind) {
    case CHARDEV_NULL:
        return true;
    case CHARDEV_STDIO:
        if (!chardev_claim_stdio(cs, errp)) {
            return false;
        }
        serial.fd = STDOUT_FILENO;
        return true;
    case CHARDEV_FILE:
        serial.fd =
            open(cs->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (serial.fd < 0) {
            error_setg_errno(errp, errno, "-serial: cannot open '%s'",
                             cs->path);
            return false;
        }
        return true;
    case CHARDEV_SOCKET:
        return serial_init_socket(cs, errp);
    }
    g_assert_not_reached();
}

void serial_cleanup(void)
{
    if (listen_watch) {
        g_source_remove(listen_watch);
        listen_watch = 0;
    }
    if (listen_fd >= 0) {
        close(listen_fd);
        listen_fd = -1;
    }
    if (listen_path) {
        unlink(listen_path);
        g_clear_pointer(&listen_path, g_free);
    }
    g_mutex_lock(&out_lock);
    if (serial.fd > STDERR_FILENO) {
        close(serial.fd);
    }
    serial.fd = -1;
    g_mutex_unlock(&out_lock);
}

void serial_register_vmstate(void)
{
    vmstate_register(NULL, 0, &vmstate_serial, &serial);
}

/* A socket peer that is gone or stuck loses the byte, never the guest. */
static void serial_socket_putc(char c)
{
    g_mutex_lock(&out_lock);
    if (serial.fd >= 0 &&
        send(serial.fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 &&
        errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        close(serial.fd);
        serial.fd = -1; /* a listener takes the next client */
    }
    g_mutex_unlock(&out_lock);
}

void serial_putc(char c)
{
    serial.tx_bytes++;
    if (out_is_socket) {
        serial_socket_putc(c);
    } else if (serial.fd >= 0) {
        ssize_t n G_GNUC_UNUSED = write(serial.fd, &c, 1);
    }
}

/*
 * The registers a polling driver touches: THR (write), LCR, LSR (always
 * "transmitter empty", the output never blocks the guest) and IIR.
 */
#define UART_THR 0
#define UART_IIR 2
#define UART_LCR 3
#define UART_LSR 5
#define UART_LCR_DLAB 0x80
#define UART_LSR_THRE 0x20
#define UART_LSR_TEMT 0x40
#define UART_IIR_NO_INT 0x01

void serial_ioport_write(unsigned offset, uint8_t val)
{
    switch (offset) {
    case UART_THR:
        if (!(serial.lcr & UART_LCR_DLAB)) {
            serial_putc(val);
        }
        break;
    case UART_LCR:
        serial.lcr = val;
        break;
    default:
        break; /* divisor, IER, FCR, MCR, scratch: no effect here */
    }
}

uint8_t serial_ioport_read(unsigned offset)
{
    switch (offset) {
    case UART_IIR:
        return UART_IIR_NO_INT;
    case UART_LCR:
        return serial.lcr;
    case UART_LSR:
        return UART_LSR_THRE | UART_LSR_TEMT;
    default:
        return 0;
    }
}
