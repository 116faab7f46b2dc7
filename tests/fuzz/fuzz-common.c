/*
 * Helpers shared by the fuzz harnesses (see fuzz.h).
 */
#include "qemu/osdep.h"
#include "migration/misc.h"
#include "migration/options-cmds.h"
#include "monitor/monitor-internal.h"
#include "system/runstate.h"
#include "system/system.h"
#include "tests/fuzz/fuzz.h"

#include <sys/mman.h>

static MachineState fuzz_machine;

void fuzz_vm_init(const char *type, uint64_t ram_size, int smp, bool workload)
{
    GError *err = NULL;

    /* A g_critical() is a bad argument to glib: a bug, so crash. */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    g_main_context_acquire(g_main_context_default());
    bql_lock();
    fuzz_machine.type = g_strdup(type);
    fuzz_machine.ram_size = ram_size;
    fuzz_machine.smp = smp;
    if (!machine_init(&fuzz_machine, &err)) {
        g_error("fuzz: machine_init: %s", err->message);
    }
    migration_object_init();
    machine_register_devices(&fuzz_machine, workload);
}

void fuzz_vm_reset_ram(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (madvise(rb->host, rb->used_length, MADV_DONTNEED) < 0) {
            g_error("fuzz: madvise: %s", g_strerror(errno));
        }
    }
}

void fuzz_set_capability(const char *name, bool on)
{
    g_autofree char *json = g_strdup_printf(
        "{\"capabilities\": [{\"capability\": \"%s\", \"state\": %s}]}", name,
        on ? "true" : "false");
    g_autoptr(JsonNode) args = json_from_string(json, NULL);
    GError *err = NULL;

    qmp_migrate_set_capabilities(NULL, json_node_get_object(args), &err);
    if (err) {
        g_error("fuzz: capability %s: %s", name, err->message);
    }
}

/*
 * The commands a user may send after a load, failed or not, that read
 * state a load writes (x-query-ram-digest only hashes fixed blocks, at a
 * cost that would divide the executions by ten).
 */
static const char *const queries[] = {
    "query-status",
    "x-query-workload",
    "query-migrate",
    "query-migrate-capabilities",
    "query-migrate-parameters",
};

void fuzz_register_commands(void)
{
    monitor_register_builtin_commands();
    system_register_commands();
    migration_register_commands();
}

void fuzz_run_queries(void)
{
    g_autoptr(JsonObject) args = json_object_new();

    for (size_t i = 0; i < ARRAY_SIZE(queries); i++) {
        const QmpCommand *cmd = qmp_find_command(queries[i]);
        GError *err = NULL;
        JsonNode *ret = cmd->fn(NULL, args, &err);

        if (err) {
            g_error("fuzz: %s failed: %s", queries[i], err->message);
        }
        /* Walks every string of the reply. */
        g_free(monitor_json_to_string(ret));
        json_node_unref(ret);
    }
}

/* ---- in-memory channel ---- */

typedef struct MemChannel {
    QIOChannel parent;
    const uint8_t *data;
    size_t len;
    size_t pos;
} MemChannel;

static ssize_t mem_readv(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                         int **fds, size_t *nfds, GError **errp)
{
    MemChannel *m = (MemChannel *)ioc;
    ssize_t done = 0;

    if (nfds) {
        *nfds = 0;
    }
    for (size_t i = 0; i < niov && m->pos < m->len; i++) {
        size_t n = MIN(iov[i].iov_len, m->len - m->pos);
        memcpy(iov[i].iov_base, m->data + m->pos, n);
        m->pos += n;
        done += n;
    }
    return done;
}

static ssize_t mem_writev(QIOChannel *ioc, const struct iovec *iov, size_t niov,
                          int *fds, size_t nfds, GError **errp)
{
    error_setg(errp, "fuzz channel is read-only");
    return -1;
}

static int mem_close(QIOChannel *ioc, GError **errp)
{
    return 0;
}

static const QIOChannelClass mem_channel_class = {
    .type_name = "fuzz-mem",
    .io_readv = mem_readv,
    .io_writev = mem_writev,
    .io_close = mem_close,
};

QIOChannel *fuzz_mem_channel_new(const uint8_t *data, size_t len)
{
    MemChannel *m = g_new0(MemChannel, 1);

    qio_channel_init(&m->parent, &mem_channel_class);
    m->data = data;
    m->len = len;
    return &m->parent;
}

/* ---- memfd ---- */

int fuzz_memfd_with(const uint8_t *data, size_t len)
{
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);

    if (fd < 0) {
        g_error("fuzz: memfd_create: %s", g_strerror(errno));
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = pwrite(fd, data + off, len - off, off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            g_error("fuzz: pwrite to memfd: %s", g_strerror(errno));
        }
        off += n;
    }
    return fd;
}

unsigned fuzz_ok_inputs;

void fuzz_check_result(bool ok, GError *err)
{
    if (ok) {
        if (err) {
            g_error("fuzz: success with an error set: %s", err->message);
        }
        fuzz_ok_inputs++;
        return;
    }
    if (!err) {
        g_error("fuzz: failure without an error");
    }
    if (!err->message || !err->message[0]) {
        g_error("fuzz: failure with an empty error message");
    }
    g_error_free(err);
}
