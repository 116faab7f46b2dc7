/*
 * A write-only serial port: guest output goes to a file, stdio or nowhere.
 * Its byte count is device state, so markers keep counting across a
 * migration.
 */
#include "qemu/osdep.h"
#include "hw/workload.h"
#include "migration/vmstate.h"

typedef struct SerialState {
    int fd; /* -1: -serial none */
    uint64_t tx_bytes;
    uint8_t lcr; /* line control, as a UART has it */
} SerialState;

static SerialState serial = { .fd = -1, .lcr = 0x03 };

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

bool serial_init(const char *spec, GError **errp)
{
    if (!spec || !strcmp(spec, "none")) {
        serial.fd = -1;
    } else if (!strcmp(spec, "stdio")) {
        serial.fd = STDOUT_FILENO;
    } else if (g_str_has_prefix(spec, "file:")) {
        serial.fd =
            open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (serial.fd < 0) {
            error_setg_errno(errp, errno, "-serial: cannot open '%s'",
                             spec + 5);
            return false;
        }
    } else {
        error_setg(errp,
                   "-serial: expected file:PATH, stdio or none, "
                   "not '%s'",
                   spec);
        return false;
    }
    return true;
}

void serial_register_vmstate(void)
{
    vmstate_register(NULL, 0, &vmstate_serial, &serial);
}

void serial_putc(char c)
{
    serial.tx_bytes++;
    if (serial.fd >= 0) {
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
