/*
 * Named file descriptors received over QMP (getfd / closefd), used by the
 * fd: migration transport.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "migration/migration.h"
#include "monitor/monitor.h"

static GHashTable *named_fds; /* name → fd; main thread (BQL) */

static GHashTable *fd_table(void)
{
    if (!named_fds) {
        named_fds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                          NULL);
    }
    return named_fds;
}

int monitor_fd_take(const char *name, GError **errp)
{
    gpointer value;
    uint64_t num;

    if (g_hash_table_lookup_extended(fd_table(), name, NULL, &value)) {
        g_hash_table_remove(fd_table(), name);
        return GPOINTER_TO_INT(value);
    }
    /* QEMU also accepts a plain number: an fd the process inherited. */
    if (qemu_strtou64(name, &num) == 0 && num <= INT_MAX &&
        fcntl((int)num, F_GETFD) >= 0) {
        return (int)num;
    }
    error_setg(errp, "File descriptor named '%s' has not been found", name);
    return -1;
}

static JsonNode *qmp_getfd(Monitor *mon, JsonObject *args, GError **errp)
{
    const char *name;

    if (!qmp_arg_str(args, "fdname", true, &name, errp)) {
        return NULL;
    }
    int fd = monitor_take_received_fd(mon);
    if (fd < 0) {
        error_setg(errp, "No file descriptor supplied via SCM_RIGHTS");
        return NULL;
    }
    if (qemu_strtou64(name, &(uint64_t){ 0 }) == 0) {
        close(fd);
        error_setg(errp, "Parameter 'fdname' may not be a number");
        return NULL;
    }
    gpointer old;
    if (g_hash_table_lookup_extended(fd_table(), name, NULL, &old)) {
        close(GPOINTER_TO_INT(old));
    }
    g_hash_table_insert(fd_table(), g_strdup(name), GINT_TO_POINTER(fd));
    return NULL;
}

static JsonNode *qmp_closefd(Monitor *mon, JsonObject *args, GError **errp)
{
    const char *name;
    gpointer value;

    if (!qmp_arg_str(args, "fdname", true, &name, errp)) {
        return NULL;
    }
    if (!g_hash_table_lookup_extended(fd_table(), name, NULL, &value)) {
        error_setg(errp, "File descriptor named '%s' not found", name);
        return NULL;
    }
    close(GPOINTER_TO_INT(value));
    g_hash_table_remove(fd_table(), name);
    return NULL;
}

void migration_fd_register_commands(void)
{
    qmp_register_command("getfd", qmp_getfd, 0);
    qmp_register_command("closefd", qmp_closefd, 0);
}
