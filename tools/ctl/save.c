/*
 * mapmig-ctl save: stop the VM, write a save image (header, configuration,
 * migration stream) to a temporary file beside FILE, make it durable and
 * rename it over FILE.  Any failure leaves FILE as it was and the VM as it
 * was.
 *
 * Data paths:
 *   mapped (sparse)      the VM writes file:TMP,offset=N itself (mapped-ram,
 *                        multifd channels, direct-io for --bypass-cache)
 *   stream               the VM writes file:TMP,offset=N
 *   stream + zstd or     the VM writes into a pipe (fd:), a pump thread
 *   --bypass-cache       compresses and/or writes with O_DIRECT
 *   mapped + zstd        as mapped, then the image is compressed into a
 *                        second temporary file, punching holes behind the
 *                        reader
 */
#include "ctl.h"
#include "test-point.h"
#include "io/dio.h"
#include "qemu/save-image.h"

#include <libgen.h>
#include <sys/stat.h>

#define SAVE_FDNAME "mapmig-ctl-save"

typedef struct SaveJob {
    const SaveOptions *o;
    QMPClient *qmp;
    char *path; /* FILE, absolute */
    char *dir;
    char *tmp;  /* what the VM writes */
    char *tmp2; /* mapped + zstd: the compressed image */
    int fd;     /* tmp, read-write, no O_DIRECT */
    int fd2;
    SaveImageHeader hdr;
    char *config;
    uint64_t ram_total;
    bool was_running; /* at the start */
    bool stopped;     /* we stopped it */
    bool migrating;   /* migrate was issued and has not ended */
    bool fd_sent;     /* the pipe was given to the VM (getfd) */
    bool vm_saved;    /* the VM completed: it is in postmigrate */
    VmctlSaved saved;
    Guard guard;
    Pump pump;
    bool pump_used;
    int pump_fd; /* O_DIRECT descriptor for the pump, or -1 */
    Progress progress;
    int64_t mig_ms, compress_ms;
} SaveJob;

/* ---------------------------------------------------------------- */
/* Preparation */

static bool save_check_options(const SaveOptions *o, GError **errp)
{
    if (o->channels < 1 || o->channels > 255) {
        error_setg(errp, "--parallel-channels must be between 1 and 255");
        return false;
    }
    if (!o->mapped && o->channels > 1) {
        error_setg(errp, "--parallel-channels needs --layout mapped (a "
                         "stream has one writer)");
        return false;
    }
    if (o->zstd && !pump_have_zstd()) {
        error_setg(errp, "--compress zstd: this build has no zstd");
        return false;
    }
    return true;
}

bool save_check_vm(QMPClient *c, bool *was_running, GError **errp)
{
    g_autoptr(JsonNode) mig =
        qmp_client_cmdf(c, errp, "{'execute': 'query-migrate'}");
    if (!mig) {
        return false;
    }
    const char *ms = qmp_get_str(mig, "status");
    if (ms && (!strcmp(ms, "setup") || !strcmp(ms, "active") ||
               !strcmp(ms, "device") || !strcmp(ms, "cancelling"))) {
        error_setg(errp, "the VM is already migrating (status %s)", ms);
        return false;
    }
    g_autofree char *st = vm_client_status(c, was_running, errp);
    if (!st) {
        return false;
    }
    if (!strcmp(st, "inmigrate") || !strcmp(st, "internal-error") ||
        !strcmp(st, "shutdown") || !strcmp(st, "finish-migrate")) {
        error_setg(errp, "the VM cannot be saved in state '%s'", st);
        return false;
    }
    return true;
}

char *save_image_config_text(QMPClient *c, JsonObject *save,
                             JsonObject *checkpoint, uint64_t *ram_total,
                             GError **errp)
{
    GError *err = NULL;
    JsonNode *vm = qmp_client_cmdf(c, &err, "{'execute': 'x-query-vm-config'}");

    if (!vm) {
        if (err->code == ERROR_CLASS_COMMAND_NOT_FOUND) {
            error_setg(errp, "the VM does not report its configuration "
                             "(x-query-vm-config): mapmig-ctl needs a mapmig "
                             "that has it");
            g_error_free(err);
        } else {
            g_propagate_error(errp, err);
        }
        goto fail;
    }
    *ram_total = qmp_get_int(vm, "ram-total");

    g_autoptr(JsonNode) caps =
        qmp_client_cmdf(c, errp, "{'execute': 'query-migrate-capabilities'}");
    if (!caps) {
        json_node_unref(vm);
        goto fail;
    }
    json_object_set_string_member(save, "tool", "mapmig-ctl " MAPMIG_VERSION);
    /*
     * Capabilities that change the stream (x-ignore-shared, ...) must be
     * set on the destination too: record the ones the VM has on, but
     * not those about how it was itself loaded or saved.
     */
    JsonArray *on = json_array_new();
    JsonArray *all =
        JSON_NODE_HOLDS_ARRAY(caps) ? json_node_get_array(caps) : NULL;
    for (guint i = 0; all && i < json_array_get_length(all); i++) {
        JsonObject *o = json_array_get_object_element(all, i);
        const char *name =
            json_object_get_string_member_with_default(o, "capability", NULL);
        if (name &&
            json_object_get_boolean_member_with_default(o, "state", false) &&
            vmctl_cap_is_recorded(name)) {
            json_array_add_string_element(on, name);
        }
    }
    json_object_set_array_member(save, "capabilities", on);

    JsonObject *root = json_object_new();
    json_object_set_member(root, "vm", vm);
    json_object_set_object_member(root, "save", save);
    if (checkpoint) {
        json_object_set_object_member(root, "checkpoint", checkpoint);
    }
    JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(rn, root);
    char *text = json_to_string(rn, true);
    json_node_unref(rn);
    return text;

fail:
    json_object_unref(save);
    if (checkpoint) {
        json_object_unref(checkpoint);
    }
    return NULL;
}

/* {"vm": x-query-vm-config, "save": how it was saved}. */
static bool save_build_config(SaveJob *j, GError **errp)
{
    const SaveOptions *o = j->o;
    JsonObject *save = json_object_new();

    json_object_set_string_member(save, "layout",
                                  o->mapped ? "mapped" : "stream");
    json_object_set_int_member(save, "channels", o->channels);
    json_object_set_boolean_member(save, "bypass-cache", o->bypass_cache);
    json_object_set_string_member(save, "compress", o->zstd ? "zstd" : "none");
    json_object_set_boolean_member(save, "live", o->live);
    j->config = save_image_config_text(j->qmp, save, NULL, &j->ram_total, errp);
    return j->config != NULL;
}

static bool save_resolve_path(SaveJob *j, GError **errp)
{
    struct stat st;

    j->path = g_canonicalize_filename(j->o->file, NULL);
    if (stat(j->path, &st) == 0 && S_ISDIR(st.st_mode)) {
        error_setg(errp, "'%s' is a directory", j->o->file);
        return false;
    }
    j->dir = g_path_get_dirname(j->path);
    return true;
}

/* A hidden temporary file in FILE's directory, so rename() is atomic. */
static char *save_mktemp(SaveJob *j, int *fd, GError **errp)
{
    g_autofree char *base = g_path_get_basename(j->path);
    char *tmpl = g_strdup_printf("%s/.%s.XXXXXX", j->dir, base);

    *fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);
    if (*fd < 0) {
        error_setg_errno(errp, errno, "Could not create a file in '%s'",
                         j->dir);
        g_free(tmpl);
        return NULL;
    }
    return tmpl;
}

static void save_init_header(SaveJob *j)
{
    const SaveOptions *o = j->o;
    SaveImageHeader *h = &j->hdr;

    save_image_header_init(h, save_image_format_of(o->mapped, o->zstd),
                           j->config);
    /* Page and metadata sums travel in the mapped-ram stream's trailer. */
    h->incompat_features = o->mapped ? SAVE_IMAGE_INCOMPAT_CHECKSUMS : 0;
    h->was_running =
        o->run_override >= 0 ? (uint32_t)o->run_override : j->was_running;
    h->ram_size = j->ram_total;
    h->saved_at = g_get_real_time() / G_USEC_PER_SEC;
}

bool save_check_direct_io(int fd, const char *path, const char *dir,
                          uint64_t offset, GError **errp)
{
    uint32_t mem_align, off_align;

    if (!qemu_dio_alignment(fd, path, &mem_align, &off_align, errp)) {
        error_prepend(errp, "--bypass-cache");
        return false;
    }
    if (offset % off_align || 4096 % off_align || 4096 % mem_align) {
        error_setg(errp,
                   "--bypass-cache: the file system of '%s' needs %u-byte "
                   "aligned direct I/O",
                   dir, MAX(off_align, mem_align));
        return false;
    }
    return true;
}

static bool save_prepare(SaveJob *j, GError **errp)
{
    const SaveOptions *o = j->o;

    if (!save_check_options(o, errp) || !save_resolve_path(j, errp)) {
        return false;
    }
    j->qmp = vm_client_connect(o->qmp_path, CTL_CONNECT_MS, 0, &ctl_interrupted,
                               errp);
    if (!j->qmp || !save_check_vm(j->qmp, &j->was_running, errp) ||
        !save_build_config(j, errp)) {
        return false;
    }
    if (strlen(j->config) > SAVE_IMAGE_CONFIG_MAX) {
        error_setg(errp, "the VM's configuration is too large");
        return false;
    }
    save_init_header(j);
    if (!vmctl_remember(j->qmp, &j->saved, errp)) {
        return false;
    }
    j->tmp = save_mktemp(j, &j->fd, errp);
    if (!j->tmp) {
        return false;
    }
    if (o->mapped && o->zstd) {
        j->tmp2 = save_mktemp(j, &j->fd2, errp);
        if (!j->tmp2) {
            return false;
        }
    }
    if (!save_image_write_prologue(j->fd, j->tmp, &j->hdr, j->config, errp) ||
        (o->bypass_cache &&
         !save_check_direct_io(j->fd, j->tmp, j->dir, j->hdr.stream_offset,
                               errp))) {
        return false;
    }
    GuardPlan plan = {
        .qmp_path = o->qmp_path,
        .resume = j->was_running,
        .saved = &j->saved,
        .fdname = SAVE_FDNAME,
        .unlink = { j->tmp, j->tmp2 },
    };
    return guard_start(&j->guard, &plan, errp);
}

/* ---------------------------------------------------------------- */
/* The migration */

void save_progress_tick(Progress *p, QMPClient *c)
{
    if (!p->enabled) {
        return;
    }
    g_autoptr(JsonNode) r =
        qmp_client_cmdf(c, NULL, "{'execute': 'query-migrate'}");
    JsonObject *o =
        r && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    JsonNode *ram = o && json_object_has_member(o, "ram")
                        ? json_object_get_member(o, "ram")
                        : NULL;
    if (!ram) {
        return;
    }
    uint64_t total = qmp_get_int(ram, "total");
    uint64_t remaining = qmp_get_int(ram, "remaining");
    uint64_t transferred = qmp_get_int(ram, "transferred");
    /* Zero pages cost nothing to send: count progress through RAM. */
    uint64_t done = MAX(transferred, total > remaining ? total - remaining : 0);
    progress_update(p, MIN(done, total), total);
}

static void save_tick(void *opaque, QMPClient *c)
{
    SaveJob *j = opaque;

    save_progress_tick(&j->progress, c);
}

static bool save_pump_failed(void *opaque)
{
    SaveJob *j = opaque;
    return j->pump_used && pump_failed(&j->pump);
}

/* Stream through a pipe: the pump compresses and/or writes O_DIRECT. */
static char *save_start_pump(SaveJob *j, GError **errp)
{
    const SaveOptions *o = j->o;
    int p[2];

    if (o->bypass_cache) {
        j->pump_fd = open(j->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
        if (j->pump_fd < 0) {
            error_setg_errno(errp, errno,
                             "--bypass-cache: could not open "
                             "'%s' with O_DIRECT",
                             j->tmp);
            return NULL;
        }
    }
    if (pipe2(p, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "pipe");
        return NULL;
    }
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "fdname", SAVE_FDNAME);
    JsonNode *r = qmp_client_cmd_fd(j->qmp, "getfd", args, p[1], errp);
    close(p[1]);
    if (!r) {
        close(p[0]);
        return NULL;
    }
    json_node_unref(r);
    j->fd_sent = true;
    j->pump = (Pump){
        .in_fd = p[0],
        .in_is_pipe = true,
        .codec = o->zstd ? PUMP_COMPRESS : PUMP_COPY,
        .level = o->zstd_level,
        .sink = PUMP_SINK_FILE,
        .out_fd = j->pump_fd >= 0 ? j->pump_fd : j->fd,
        .out_pos = j->hdr.stream_offset,
        .out_direct = j->pump_fd >= 0,
    };
    j->pump_used = true;
    pump_start(&j->pump);
    return g_strdup("fd:" SAVE_FDNAME);
}

static bool save_migrate(SaveJob *j, GError **errp)
{
    const SaveOptions *o = j->o;
    MigSetup m = {
        .mapped = o->mapped,
        .channels = o->channels,
        .direct_io = o->mapped && o->bypass_cache,
        .checksums = o->mapped,
        .max_bandwidth = o->max_bandwidth,
        .converge = o->converge,
    };
    g_autofree char *uri = NULL;

    if (!vmctl_setup_migration(j->qmp, &m, errp)) {
        return false;
    }
    if (j->was_running && !o->live) {
        /* As virsh save: a consistent image of a stopped guest. */
        if (!vm_client_cmd(j->qmp, errp, "{'execute': 'stop'}")) {
            return false;
        }
        j->stopped = true;
    }
    if (!o->mapped && (o->zstd || o->bypass_cache)) {
        uri = save_start_pump(j, errp);
        if (!uri) {
            return false;
        }
    } else {
        uri = g_strdup_printf("file:%s,offset=%" PRIu64, j->tmp,
                              j->hdr.stream_offset);
    }
    if (!vmctl_migrate(j->qmp, uri, errp)) {
        return false;
    }
    j->migrating = true;

    int64_t start = qemu_clock_ms();
    progress_init(&j->progress, "saving", !o->quiet && isatty(2));
    GError *err = NULL;
    g_autofree char *st = vmctl_wait_migration(j->qmp, save_tick, j,
                                               save_pump_failed, false, &err);
    progress_done(&j->progress);
    j->mig_ms = qemu_clock_ms() - start;
    if (st) {
        j->migrating = false;
    }
    if (st && !strcmp(st, "completed")) {
        j->vm_saved = true;
        return true;
    }
    /*
     * The pump's error (ENOSPC, ...) explains the VM's EPIPE.  The VM has
     * closed its end of the pipe by now, unless it never took it: the
     * cancel flag unblocks the pump then.
     */
    GError *perr = NULL;
    if (j->pump_used) {
        atomic_store(&j->pump.cancel, true);
        j->pump_used = false;
        if (pump_join(&j->pump, &perr) || j->pump.was_cancelled) {
            g_clear_error(&perr);
        }
    }
    if (perr) {
        g_clear_error(&err);
        err = perr;
    } else if (st && !strcmp(st, "cancelled")) {
        g_clear_error(&err);
        error_setg(&err, "%s", ctl_interrupted ? "interrupted" : "cancelled");
    }
    g_propagate_error(errp, err);
    return false;
}

/* ---------------------------------------------------------------- */
/* After the migration */

static uint64_t file_size(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 ? st.st_size : 0;
}

static bool save_collect_stream(SaveJob *j, GError **errp)
{
    if (j->pump_used) {
        if (!pump_join(&j->pump, errp)) {
            return false;
        }
        j->hdr.raw_length = j->pump.bytes_in;
        j->hdr.stream_length = j->pump.bytes_out;
    } else {
        uint64_t size = file_size(j->fd);
        if (size <= j->hdr.stream_offset) {
            error_setg(errp, "the VM wrote no migration data");
            return false;
        }
        j->hdr.raw_length = j->hdr.stream_length = size - j->hdr.stream_offset;
    }
    return true;
}

/*
 * mapped + zstd: compress the finished image into tmp2, in file order,
 * punching holes behind the reader so the disk holds about one copy.
 */
static bool save_compress_mapped(SaveJob *j, GError **errp)
{
    const SaveOptions *o = j->o;
    uint64_t end = j->hdr.stream_offset + j->hdr.raw_length;
    int64_t start = qemu_clock_ms();
    int rfd = -1, wfd = -1;
    bool ok = false;

    if (!save_image_write_prologue(j->fd2, j->tmp2, &j->hdr, j->config, errp)) {
        return false;
    }
    int dflag = o->bypass_cache ? O_DIRECT : 0;
    rfd = open(j->tmp, O_RDWR | O_CLOEXEC | dflag);
    wfd = dflag ? open(j->tmp2, O_WRONLY | O_CLOEXEC | dflag) : j->fd2;
    if (rfd < 0 || wfd < 0) {
        error_setg_errno(errp, errno, "Could not open the image to compress");
        goto out;
    }
    j->pump = (Pump){
        .in_fd = rfd,
        .in_pos = j->hdr.stream_offset,
        .in_end = end,
        .in_direct = dflag != 0,
        .in_skip_holes = true,
        .in_punch = true,
        .codec = PUMP_COMPRESS,
        .level = o->zstd_level,
        .sink = PUMP_SINK_FILE,
        .out_fd = wfd,
        .out_pos = j->hdr.stream_offset,
        .out_direct = dflag != 0,
    };
    j->pump_used = true;
    progress_init(&j->progress, "compressing", !o->quiet && isatty(2));
    pump_start(&j->pump);
    while (!atomic_load(&j->pump.finished)) {
        if (ctl_interrupted) {
            atomic_store(&j->pump.cancel, true);
        }
        progress_update(&j->progress, j->pump.bytes_in, j->hdr.raw_length);
        g_usleep(50 * 1000);
    }
    progress_done(&j->progress);
    ok = pump_join(&j->pump, errp);
    j->pump_used = false;
    if (ok && ctl_interrupted) {
        error_setg(errp, "interrupted");
        ok = false;
    }
    if (ok) {
        j->hdr.stream_length = j->pump.bytes_out;
        /* The uncompressed copy is gone: the image is tmp2 now. */
        unlink(j->tmp);
        close(j->fd);
        j->fd = j->fd2;
        j->fd2 = -1;
        g_free(j->tmp);
        j->tmp = g_steal_pointer(&j->tmp2);
    }
out:
    if (rfd >= 0) {
        close(rfd);
    }
    if (wfd >= 0 && wfd != j->fd && wfd != j->fd2) {
        close(wfd);
    }
    j->compress_ms = qemu_clock_ms() - start;
    return ok;
}

/*
 * Data durable first, then the final magic, then the name: a crash at
 * any point leaves either the old FILE or the complete new one.
 */
static bool save_commit(SaveJob *j, GError **errp)
{
    if (fdatasync(j->fd) < 0) {
        error_setg_errno(errp, errno, "Could not sync '%s'", j->tmp);
        return false;
    }
    ctl_test_point("commit-synced");
    if (!save_image_write_header(j->fd, &j->hdr, true, errp)) {
        return false;
    }
    if (fdatasync(j->fd) < 0) {
        error_setg_errno(errp, errno, "Could not sync '%s'", j->tmp);
        return false;
    }
    ctl_test_point("commit-final");
    if (rename(j->tmp, j->path) < 0) {
        error_setg_errno(errp, errno, "Could not rename '%s' to '%s'", j->tmp,
                         j->path);
        return false;
    }
    g_clear_pointer(&j->tmp, g_free);
    ctl_test_point("commit-renamed");
    return ctl_sync_dir(j->dir, errp);
}

bool ctl_sync_dir(const char *dir, GError **errp)
{
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (dfd >= 0) {
        int r = fsync(dfd);
        close(dfd);
        if (r < 0) {
            error_setg_errno(errp, errno, "Could not sync directory '%s'", dir);
            return false;
        }
    }
    return true;
}

/* Give the VM back its state after a failure. */
static void save_abort(SaveJob *j)
{
    if (j->pump_used) {
        atomic_store(&j->pump.cancel, true);
        pump_join(&j->pump, NULL);
    }
    if (j->qmp) {
        if (j->migrating) {
            vmctl_cancel_and_wait(j->qmp);
        }
        /* The pipe is unused if migrate never took it. */
        vmctl_give_back(j->qmp, j->was_running, j->fd_sent ? SAVE_FDNAME : NULL,
                        &j->saved);
    }
    if (j->tmp) {
        unlink(j->tmp);
    }
    if (j->tmp2) {
        unlink(j->tmp2);
    }
}

/* --output json: one object on stdout. */
static void save_summary_json(SaveJob *j, const struct stat *st, double mbps)
{
    const SaveOptions *o = j->o;
    JsonObject *r = json_object_new();

    json_object_set_string_member(r, "operation", "save");
    json_object_set_string_member(r, "file", j->path);
    json_object_set_string_member(r, "layout", o->mapped ? "mapped" : "stream");
    json_object_set_int_member(r, "channels", o->channels);
    json_object_set_boolean_member(r, "bypass-cache", o->bypass_cache);
    json_object_set_string_member(r, "compress", o->zstd ? "zstd" : "none");
    json_object_set_boolean_member(r, "live", o->live);
    json_object_set_int_member(r, "bytes", j->ram_total);
    json_object_set_int_member(r, "image-bytes", st->st_size);
    json_object_set_int_member(r, "allocated-bytes",
                               (int64_t)st->st_blocks * 512);
    json_object_set_int_member(r, "time-ms", j->mig_ms);
    json_object_set_int_member(r, "mb-per-second", (int64_t)(mbps + 0.5));
    if (o->mapped && o->zstd) {
        json_object_set_int_member(r, "compression-ms", j->compress_ms);
    }
    json_object_set_string_member(r, "vm", o->keep_vm ? "paused" : "quit");
    ctl_print_json(r);
}

/* One line for people on stdout, or with --output json one object. */
static void save_summary(SaveJob *j)
{
    const SaveOptions *o = j->o;
    struct stat st = { 0 };
    double secs = j->mig_ms / 1000.0;
    double mbps = secs > 0 ? j->ram_total / secs / 1e6 : 0.0;

    stat(j->path, &st);
    if (o->json) {
        save_summary_json(j, &st, mbps);
        return;
    }
    g_autofree char *ram = size_to_human_str(j->ram_total);
    g_autofree char *size = size_to_human_str(st.st_size);
    g_autofree char *alloc = size_to_human_str((uint64_t)st.st_blocks * 512);
    g_autofree char *comp =
        o->mapped && o->zstd
            ? g_strdup_printf(", compression %.2f s", j->compress_ms / 1000.0)
            : g_strdup("");
    printf("saved %s: %s layout, %d channel%s%s%s, RAM %s, image %s "
           "(allocated %s), migration %.2f s (%.0f MB/s)%s, VM %s\n",
           j->path, o->mapped ? "mapped" : "stream", o->channels,
           o->channels > 1 ? "s" : "", o->zstd ? ", zstd" : "",
           o->bypass_cache ? ", bypass-cache" : "", ram, size, alloc, secs,
           mbps, comp, o->keep_vm ? "left paused" : "quit");
    fflush(stdout);
}

int ctl_save(const SaveOptions *o)
{
    SaveJob j = {
        .o = o, .fd = -1, .fd2 = -1, .pump_fd = -1, .guard = { .fd = -1 }
    };
    GError *err = NULL;
    bool ok;

    ok = save_prepare(&j, &err) && save_migrate(&j, &err) &&
         save_collect_stream(&j, &err) &&
         (!(o->mapped && o->zstd) || save_compress_mapped(&j, &err)) &&
         save_commit(&j, &err);
    if (ok) {
        guard_release(&j.guard);
        if (o->keep_vm) {
            vmctl_restore(j.qmp, &j.saved);
        } else {
            vm_client_cmd(j.qmp, NULL, "{'execute': 'quit'}");
        }
        if (!o->quiet || o->json) {
            save_summary(&j);
        }
    } else {
        save_abort(&j);
        guard_release(&j.guard);
        fprintf(stderr, "mapmig-ctl: save failed: %s%s\n", err->message,
                j.qmp && j.was_running ? "; the VM runs again" : "");
        g_error_free(err);
    }
    if (j.pump_fd >= 0) {
        close(j.pump_fd);
    }
    if (j.fd >= 0) {
        close(j.fd);
    }
    if (j.fd2 >= 0) {
        close(j.fd2);
    }
    vmctl_saved_clear(&j.saved);
    qmp_client_free(j.qmp);
    g_free(j.path);
    g_free(j.dir);
    g_free(j.tmp);
    g_free(j.tmp2);
    g_free(j.config);
    return ok ? 0 : ctl_signal ? 128 + ctl_signal : 1;
}
