/*
 * File descriptors received over QMP: named fds (getfd / closefd) and fd
 * sets (add-fd / remove-fd / query-fdsets), and the look-ups of
 * include/monitor/fds.h that hand them to their users.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "monitor/fds.h"
#include "monitor/monitor.h"

static GHashTable *named_fds; /* name → fd; main thread (BQL) */

static GHashTable *fd_table(void)
{
    if (!named_fds) {
        named_fds =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    return named_fds;
}

int monitor_get_fd(const char *fdname, GError **errp)
{
    gpointer value;
    uint64_t num;

    if (g_hash_table_lookup_extended(fd_table(), fdname, NULL, &value)) {
        g_hash_table_remove(fd_table(), fdname);
        return GPOINTER_TO_INT(value);
    }
    /* QEMU also accepts a plain number: an fd the process inherited. */
    if (qemu_strtou64(fdname, &num) == 0 && num <= INT_MAX &&
        fcntl((int)num, F_GETFD) >= 0) {
        return (int)num;
    }
    error_setg(errp, "File descriptor named '%s' has not been found", fdname);
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

/*
 * fd sets (add-fd / remove-fd / query-fdsets): how a management tool that
 * may not let us open files hands us descriptors.  A "/dev/fdset/N" path
 * then opens by dup()ing the member whose access mode and O_DIRECT flag
 * fit, as QEMU does.
 */
typedef struct FdSetFd {
    int fd;
    char *opaque;
} FdSetFd;

typedef struct FdSet {
    int64_t id;
    GPtrArray *fds; /* FdSetFd* */
} FdSet;

static GMutex fdset_lock; /* multifd threads open from sets too */
static GPtrArray *fdsets; /* FdSet*, guarded by fdset_lock */

static void fdset_fd_free(gpointer p)
{
    FdSetFd *f = p;
    close(f->fd);
    g_free(f->opaque);
    g_free(f);
}

static FdSet *fdset_find(int64_t id)
{
    for (guint i = 0; fdsets && i < fdsets->len; i++) {
        FdSet *set = fdsets->pdata[i];
        if (set->id == id) {
            return set;
        }
    }
    return NULL;
}

static JsonNode *qmp_add_fd(Monitor *mon, JsonObject *args, GError **errp)
{
    int64_t id = -1;
    const char *opaque = NULL;

    if (!qmp_arg_int(args, "fdset-id", false, &id, errp) ||
        !qmp_arg_str(args, "opaque", false, &opaque, errp)) {
        return NULL;
    }
    int fd = monitor_take_received_fd(mon);
    if (fd < 0) {
        error_setg(errp, "No file descriptor supplied via SCM_RIGHTS");
        return NULL;
    }
    g_mutex_lock(&fdset_lock);
    if (!fdsets) {
        fdsets = g_ptr_array_new();
    }
    if (id < 0) {
        /* As QEMU: the lowest unused id. */
        for (id = 0; fdset_find(id); id++) {
        }
    }
    FdSet *set = fdset_find(id);
    if (!set) {
        set = g_new0(FdSet, 1);
        set->id = id;
        set->fds = g_ptr_array_new_with_free_func(fdset_fd_free);
        g_ptr_array_add(fdsets, set);
    }
    FdSetFd *f = g_new0(FdSetFd, 1);
    f->fd = fd;
    f->opaque = g_strdup(opaque);
    g_ptr_array_add(set->fds, f);
    g_mutex_unlock(&fdset_lock);

    JsonObject *o = json_object_new();
    json_object_set_int_member(o, "fdset-id", id);
    json_object_set_int_member(o, "fd", fd);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

static JsonNode *qmp_remove_fd(Monitor *mon, JsonObject *args, GError **errp)
{
    int64_t id, fd = -1;

    if (!qmp_arg_int(args, "fdset-id", true, &id, errp) ||
        !qmp_arg_int(args, "fd", false, &fd, errp)) {
        return NULL;
    }
    g_mutex_lock(&fdset_lock);
    FdSet *set = fdset_find(id);
    bool found = false;
    for (guint i = 0; set && i < set->fds->len; i++) {
        FdSetFd *f = set->fds->pdata[i];
        if (fd < 0 || f->fd == fd) {
            g_ptr_array_remove_index(set->fds, i--);
            found = true;
        }
    }
    if (set && !set->fds->len) {
        g_ptr_array_remove(fdsets, set);
        g_ptr_array_free(set->fds, true);
        g_free(set);
    }
    g_mutex_unlock(&fdset_lock);
    if (!found) {
        if (fd < 0) {
            error_setg(errp,
                       "File descriptor named 'fdset-id:%" PRId64 "' not found",
                       id);
        } else {
            error_setg(errp,
                       "File descriptor named 'fdset-id:%" PRId64
                       ", fd:%" PRId64 "' not found",
                       id, fd);
        }
    }
    return NULL;
}

static JsonNode *qmp_query_fdsets(Monitor *mon, JsonObject *args, GError **errp)
{
    JsonArray *arr = json_array_new();

    g_mutex_lock(&fdset_lock);
    for (guint i = 0; fdsets && i < fdsets->len; i++) {
        FdSet *set = fdsets->pdata[i];
        JsonObject *o = json_object_new();
        JsonArray *fds = json_array_new();
        json_object_set_int_member(o, "fdset-id", set->id);
        for (guint j = 0; j < set->fds->len; j++) {
            FdSetFd *f = set->fds->pdata[j];
            JsonObject *fo = json_object_new();
            json_object_set_int_member(fo, "fd", f->fd);
            if (f->opaque) {
                json_object_set_string_member(fo, "opaque", f->opaque);
            }
            json_array_add_object_element(fds, fo);
        }
        json_object_set_array_member(o, "fds", fds);
        json_array_add_object_element(arr, o);
    }
    g_mutex_unlock(&fdset_lock);
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, arr);
    return n;
}

/* A member fits when its access mode matches (O_RDWR fits any). */
static int fdset_dup(int64_t id, int flags, GError **errp)
{
    int want = flags & O_ACCMODE;
    int fallback = -1, match = -1;

    g_mutex_lock(&fdset_lock);
    FdSet *set = fdset_find(id);
    for (guint i = 0; set && i < set->fds->len; i++) {
        int fd = ((FdSetFd *)set->fds->pdata[i])->fd;
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || (fl & O_DIRECT) != (flags & O_DIRECT)) {
            continue;
        }
        if ((fl & O_ACCMODE) == want) {
            match = fd;
            break;
        }
        if ((fl & O_ACCMODE) == O_RDWR && fallback < 0) {
            fallback = fd;
        }
    }
    if (match < 0) {
        match = fallback;
    }
    int ret = match >= 0 ? fcntl(match, F_DUPFD_CLOEXEC, 0) : -1;
    g_mutex_unlock(&fdset_lock);
    if (!set) {
        error_setg(errp, "fdset %" PRId64 " does not exist", id);
    } else if (match < 0) {
        error_setg(errp, "fdset %" PRId64 " has no descriptor opened %s%s", id,
                   want == O_RDONLY   ? "for reading"
                   : want == O_WRONLY ? "for writing"
                                      : "read-write",
                   flags & O_DIRECT ? " with O_DIRECT" : "");
    } else if (ret < 0) {
        error_setg_errno(errp, errno, "Cannot duplicate fd of fdset %" PRId64,
                         id);
    }
    return ret;
}

int monitor_fdset_open(const char *path, int flags, GError **errp)
{
    const char *id_str = path + strlen(MONITOR_FDSET_PATH_PREFIX);
    uint64_t id;

    assert(monitor_fdset_is_path(path));
    if (qemu_strtou64(id_str, &id) || id > INT64_MAX) {
        error_setg(errp, "Invalid fdset path '%s'", path);
        return -1;
    }
    return fdset_dup(id, flags & (O_ACCMODE | O_DIRECT), errp);
}

void monitor_fds_register_commands(void)
{
    qmp_register_command("getfd", qmp_getfd, 0);
    qmp_register_command("closefd", qmp_closefd, 0);
    qmp_register_command("add-fd", qmp_add_fd, 0);
    qmp_register_command("remove-fd", qmp_remove_fd, 0);
    qmp_register_command("query-fdsets", qmp_query_fdsets, 0);
}
