/*
 * mapmig-ctl restore: check a save image, start a new mapmig with the saved
 * configuration and -incoming defer (in its own session, so it outlives
 * us), set the capabilities the image's format needs, load it, resume it
 * if it was running, and print its QMP socket.
 *
 * Data paths:
 *   raw / mapped          migrate-incoming file:FILE,offset=N
 *   raw + --bypass-cache, a pump thread reads the file (O_DIRECT) and/or
 *   zstd                  decompresses into a pipe: migrate-incoming fd:
 *   mapped + zstd         decompressed first into an unnamed temporary file
 *                         beside FILE (as sparse as the original), handed
 *                         over in an fd set: file:/dev/fdset/N,offset=N
 *
 * --lazy adds the lazy-restore capability: the VM resumes as soon as its
 * device state is in ("postcopy-active") and loads RAM from the image
 * while it runs; we print its socket then, and wait for the whole load
 * (a failure after the resume is a failed restore too).
 */
#include "ctl.h"
#include "test-point.h"
#include "io/dio.h"
#include "qemu/checkpoint-dir.h"
#include "qemu/save-image.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#define RESTORE_CONNECT_MS 20000
#define RESTORE_RUNSTATE_MS 60000
#define RESTORE_QUIT_MS 2000 /* then SIGKILL */
#define RESTORE_FDNAME "mapmig-ctl-restore"

typedef struct RestoreJob {
    const RestoreOptions *o;
    char *path;
    char *dir;
    int fd;
    SaveImage img;
    char **vm_args;
    GPtrArray *caps; /* char *: capabilities to set on the destination */
    int saved_channels;
    bool mapped;
    int channels;
    bool run;     /* resume at the end */
    char *tmpdir; /* ours, when no --qmp */
    char *qmp_path;
    char *log_path;
    pid_t pid;
    bool spawned; /* we created the log and the VM's socket */
    QMPClient *qmp;
    Guard guard;
    Pump pump;
    bool pump_used;
    int direct_fd;    /* O_DIRECT descriptor of the image, or -1 */
    int tmpfd;        /* mapped + zstd: the decompressed image */
    int tmp_direct;   /* same, O_DIRECT */
    int64_t fdset_id; /* -1: none */
    Progress progress;
    int64_t decompress_ms, load_ms;
    int64_t resume_ms; /* --lazy: migrate-incoming to the resume */
    bool socket_shown; /* the socket is already on stdout */
} RestoreJob;

/* ---------------------------------------------------------------- */
/* The image */

/* args: the VM's options; save.channels/capabilities: how it was saved. */
static bool restore_parse_config(RestoreJob *j, GError **errp)
{
    SaveImageConfig cfg;

    if (!save_image_config_parse(j->img.config, &cfg, errp)) {
        error_prepend(errp, "'%s'", j->path);
        return false;
    }
    for (int i = 0; cfg.vm_args[i]; i++) {
        const char *arg = cfg.vm_args[i];
        const char *opt = arg[0] == '-' ? arg + 1 + (arg[1] == '-') : NULL;
        if (opt && save_image_option_is_per_instance(opt)) {
            error_setg(errp,
                       "'%s': the configuration has option '%s', which "
                       "belongs to one VM process (not restoring that)",
                       j->path, arg);
            save_image_config_clear(&cfg);
            return false;
        }
    }
    j->vm_args = g_steal_pointer(&cfg.vm_args);
    j->saved_channels = cfg.channels;
    j->caps = g_ptr_array_new_with_free_func(g_free);
    for (int i = 0; cfg.caps[i]; i++) {
        /* Older images may carry lazy-restore: --lazy decides. */
        if (!vmctl_cap_is_destination_only(cfg.caps[i])) {
            g_ptr_array_add(j->caps, g_strdup(cfg.caps[i]));
        }
    }
    save_image_config_clear(&cfg);
    for (int i = 0; j->o->extra_caps && j->o->extra_caps[i]; i++) {
        g_ptr_array_add(j->caps, g_strdup(j->o->extra_caps[i]));
    }
    if (j->o->lazy) {
        g_ptr_array_add(j->caps, g_strdup("lazy-restore"));
    }
    g_ptr_array_add(j->caps, NULL);
    return true;
}

/*
 * A checkpoint's image was chosen before it was opened: it must still be
 * that one (a checkpoint may have rewritten it in between).
 */
static bool restore_check_checkpoint(RestoreJob *j, GError **errp)
{
    const RestoreOptions *o = j->o;

    if (o->generation && (j->img.hdr.generation != o->generation ||
                          j->img.header_crc != o->header_crc)) {
        error_setg(errp,
                   "'%s' is no longer generation %" PRIu64 " (a checkpoint "
                   "rewrote it meanwhile?)",
                   o->file, o->generation);
        return false;
    }
    return true;
}

char *restore_pick_checkpoint(const char *dir, uint64_t generation,
                              RestoreOptions *ro, GError **errp)
{
    CkptDir d;

    if (!ckpt_dir_scan(dir, &d, errp)) {
        return NULL;
    }
    int i = ckpt_dir_pick(&d, generation, errp);
    char *path = NULL;
    if (i >= 0) {
        path = g_build_filename(d.path, ckpt_image_name(i), NULL);
        ro->generation = d.images[i].img.hdr.generation;
        ro->header_crc = d.images[i].img.header_crc;
    }
    ckpt_dir_clear(&d);
    return path;
}

static bool restore_open_image(RestoreJob *j, GError **errp)
{
    const RestoreOptions *o = j->o;

    j->path = g_canonicalize_filename(o->file, NULL);
    j->dir = g_path_get_dirname(j->path);
    j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
    if (j->fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", o->file);
        return false;
    }
    if (!save_image_read(j->fd, o->file, &j->img, errp) ||
        !restore_check_checkpoint(j, errp) || !restore_parse_config(j, errp) ||
        !save_image_check_data_start(j->fd, j->path, &j->img.hdr, errp)) {
        return false;
    }
    const SaveImageHeader *h = &j->img.hdr;
    j->mapped = save_image_format_is_mapped(h->format);
    j->channels = o->channels ? o->channels
                  : j->mapped ? CLAMP(j->saved_channels, 1, 255)
                              : 1;
    if (!j->mapped && j->channels > 1) {
        error_setg(errp,
                   "--parallel-channels: '%s' is a stream, which has "
                   "one reader",
                   o->file);
        return false;
    }
    if (o->lazy && !j->mapped) {
        error_setg(errp,
                   "--lazy: '%s' is a stream; a lazy restore needs an "
                   "image of the mapped layout (pages at fixed offsets)",
                   o->file);
        return false;
    }
    if (save_image_format_is_zstd(h->format) && !pump_have_zstd()) {
        error_setg(errp, "'%s' is zstd-compressed and this build has no zstd",
                   o->file);
        return false;
    }
    j->run = o->run_override >= 0 ? o->run_override != 0 : h->was_running != 0;
    if (o->bypass_cache) {
        uint32_t mem_align, off_align;
        if (!qemu_dio_alignment(j->fd, j->path, &mem_align, &off_align, errp)) {
            error_prepend(errp, "--bypass-cache");
            return false;
        }
        j->direct_fd = open(j->path, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (j->direct_fd < 0) {
            error_setg_errno(errp, errno,
                             "--bypass-cache: could not open "
                             "'%s' with O_DIRECT",
                             o->file);
            return false;
        }
    }
    return true;
}

static void restore_tick_pump(RestoreJob *j, uint64_t total)
{
    progress_update(&j->progress, j->pump.bytes_in, total);
}

/* mapped + zstd: into an unnamed file beside the image, holes kept. */
static bool restore_decompress_mapped(RestoreJob *j, GError **errp)
{
    const SaveImageHeader *h = &j->img.hdr;
    int64_t start = qemu_clock_ms();

    j->tmpfd = open(j->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (j->tmpfd < 0) {
        error_setg_errno(errp, errno,
                         "Could not create a temporary file in "
                         "'%s' to decompress into",
                         j->dir);
        return false;
    }
    j->pump = (Pump){
        .in_fd = j->direct_fd >= 0 ? j->direct_fd : j->fd,
        .in_pos = h->stream_offset,
        .in_end = h->stream_offset + h->stream_length,
        .in_direct = j->direct_fd >= 0,
        .codec = PUMP_DECOMPRESS,
        .out_expect = h->raw_length,
        .sink = PUMP_SINK_SPARSE,
        .out_fd = j->tmpfd,
        .out_pos = h->stream_offset,
    };
    progress_init(&j->progress, "decompressing", !j->o->quiet && isatty(2));
    pump_start(&j->pump);
    while (!atomic_load(&j->pump.finished)) {
        if (ctl_interrupted) {
            atomic_store(&j->pump.cancel, true);
        }
        restore_tick_pump(j, h->stream_length);
        g_usleep(50 * 1000);
    }
    progress_done(&j->progress);
    j->decompress_ms = qemu_clock_ms() - start;
    if (!pump_join(&j->pump, errp)) {
        error_prepend(errp, "'%s'", j->o->file);
        return false;
    }
    if (ctl_interrupted) {
        error_setg(errp, "interrupted");
        return false;
    }
    if (j->direct_fd >= 0) {
        g_autofree char *self = g_strdup_printf("/proc/self/fd/%d", j->tmpfd);
        j->tmp_direct = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (j->tmp_direct < 0) {
            error_setg_errno(errp, errno,
                             "--bypass-cache: could not reopen "
                             "the decompressed image with "
                             "O_DIRECT");
            return false;
        }
    }
    return true;
}

/* ---------------------------------------------------------------- */
/* The VM */

/* Whether something accepts connections on the UNIX socket @path. */
static bool socket_is_live(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live;

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    live = fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return live;
}

static bool restore_pick_paths(RestoreJob *j, GError **errp)
{
    if (j->o->qmp_path) {
        g_autofree char *path = g_canonicalize_filename(j->o->qmp_path, NULL);
        struct stat st;
        /* mapmig replaces what is there: only ever a (stale) socket. */
        if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
            error_setg(errp, "--qmp: '%s' exists and is not a socket", path);
            return false;
        }
        /* Do not take over a live VM's socket. */
        if (socket_is_live(path)) {
            error_setg(errp, "'%s' is the QMP socket of a running VM", path);
            return false;
        }
        j->log_path = g_strconcat(path, ".log", NULL);
        j->qmp_path = g_steal_pointer(&path);
        return true;
    }
    j->tmpdir = g_dir_make_tmp("mapmig-vm-XXXXXX", errp);
    if (!j->tmpdir) {
        return false;
    }
    j->qmp_path = g_build_filename(j->tmpdir, "qmp.sock", NULL);
    j->log_path = g_build_filename(j->tmpdir, "mapmig.log", NULL);
    return true;
}

/* The VM's command line: saved options, ours, then the user's extras. */
static GPtrArray *restore_vm_argv(RestoreJob *j)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);

    g_ptr_array_add(argv, g_strdup(j->o->mapmig));
    for (int i = 0; j->vm_args[i]; i++) {
        g_ptr_array_add(argv, g_strdup(j->vm_args[i]));
    }
    g_ptr_array_add(argv, g_strdup("-S"));
    g_ptr_array_add(argv, g_strdup("-incoming"));
    g_ptr_array_add(argv, g_strdup("defer"));
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv,
                    g_strdup_printf("unix:%s,server=on,wait=off", j->qmp_path));
    for (int i = 0; j->o->extra_args && j->o->extra_args[i]; i++) {
        g_ptr_array_add(argv, g_strdup(j->o->extra_args[i]));
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

/*
 * Detached (a new session), stdin from /dev/null, output to the log: the
 * VM does not get our terminal's signals and lives on after we exit.
 */
static bool restore_spawn(RestoreJob *j, GError **errp)
{
    g_autoptr(GPtrArray) argv = restore_vm_argv(j);

    j->spawned = true; /* from now on the socket and log are ours */
    pid_t pid = vm_client_spawn((char **)argv->pdata, j->log_path,
                                VM_CLIENT_SPAWN_DETACH, errp);
    if (pid < 0) {
        return false;
    }
    j->pid = pid;
    guard_set_vm_pid(&j->guard, pid);
    return true;
}

/* The last lines of the VM's log, for an error message (g_free). */
static char *restore_log_tail(RestoreJob *j)
{
    g_autofree char *text = NULL;
    gsize len;

    if (!g_file_get_contents(j->log_path, &text, &len, NULL) || !len) {
        return g_strdup("");
    }
    g_strchomp(text);
    const char *tail = text;
    for (int lines = 0, i = strlen(text) - 1; i >= 0; i--) {
        if (text[i] == '\n' && ++lines == 5) {
            tail = text + i + 1;
            break;
        }
    }
    return g_strdup_printf(" (mapmig said: %s)", tail);
}

/* Stop the VM we started: quit, then SIGKILL. */
static void restore_kill_vm(RestoreJob *j)
{
    if (j->pid <= 0) {
        return;
    }
    vm_client_quit(j->qmp, j->pid, RESTORE_QUIT_MS, NULL);
    j->pid = 0;
}

/*
 * The socket must lead to the VM we started, waiting for its migration:
 * never load into, nor quit, another one.
 */
static bool restore_check_ours(RestoreJob *j, GError **errp)
{
    g_autofree char *st = vm_client_status(j->qmp, NULL, errp);

    if (st && strcmp(st, "inmigrate")) {
        error_setg(errp, "'%s' answers for another VM (state '%s')",
                   j->qmp_path, st);
    }
    if (!st || strcmp(st, "inmigrate")) {
        g_clear_pointer(&j->qmp, qmp_client_free);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- */
/* Loading */

static bool restore_add_fdset(RestoreJob *j, GError **errp)
{
    int fds[2] = { j->tmpfd, j->tmp_direct };

    for (int i = 0; i < 2 && fds[i] >= 0; i++) {
        JsonObject *args = json_object_new();
        if (j->fdset_id >= 0) {
            json_object_set_int_member(args, "fdset-id", j->fdset_id);
        }
        JsonNode *r = qmp_client_cmd_fd(j->qmp, "add-fd", args, fds[i], errp);
        if (!r) {
            return false;
        }
        j->fdset_id = qmp_get_int(r, "fdset-id");
        json_node_unref(r);
    }
    return true;
}

static char *restore_start_pump(RestoreJob *j, GError **errp)
{
    const SaveImageHeader *h = &j->img.hdr;
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0) {
        error_setg_errno(errp, errno, "pipe");
        return NULL;
    }
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "fdname", RESTORE_FDNAME);
    JsonNode *r = qmp_client_cmd_fd(j->qmp, "getfd", args, p[0], errp);
    close(p[0]);
    if (!r) {
        close(p[1]);
        return NULL;
    }
    json_node_unref(r);
    bool zstd = save_image_format_is_zstd(h->format);
    j->pump = (Pump){
        .in_fd = j->direct_fd >= 0 ? j->direct_fd : j->fd,
        .in_pos = h->stream_offset,
        .in_end = h->stream_offset + h->stream_length,
        .in_direct = j->direct_fd >= 0,
        .codec = zstd ? PUMP_DECOMPRESS : PUMP_COPY,
        .out_expect = zstd ? h->raw_length : 0,
        .sink = PUMP_SINK_PIPE,
        .out_fd = p[1],
    };
    j->pump_used = true;
    pump_start(&j->pump);
    return g_strdup("fd:" RESTORE_FDNAME);
}

static char *restore_uri(RestoreJob *j, GError **errp)
{
    const SaveImageHeader *h = &j->img.hdr;

    if (h->format == SAVE_IMAGE_FORMAT_MAPPED_ZSTD) {
        if (!restore_add_fdset(j, errp)) {
            return NULL;
        }
        return g_strdup_printf("file:/dev/fdset/%" PRId64 ",offset=%" PRIu64,
                               j->fdset_id, h->stream_offset);
    }
    if (h->format == SAVE_IMAGE_FORMAT_ZSTD ||
        (h->format == SAVE_IMAGE_FORMAT_RAW && j->o->bypass_cache)) {
        return restore_start_pump(j, errp);
    }
    return g_strdup_printf("file:%s,offset=%" PRIu64, j->path,
                           h->stream_offset);
}

static void restore_tick(void *opaque, QMPClient *c)
{
    RestoreJob *j = opaque;

    if (j->pump_used) {
        restore_tick_pump(j, j->img.hdr.stream_length);
    }
}

static bool restore_pump_failed(void *opaque)
{
    RestoreJob *j = opaque;
    return j->pump_used && pump_failed(&j->pump);
}

static void restore_show_socket(RestoreJob *j)
{
    if (!j->socket_shown && !j->o->json) {
        printf("%s\n", j->qmp_path);
        fflush(stdout);
    }
    j->socket_shown = true;
}

/*
 * --lazy: the guest runs (or waits, paused) while its RAM comes in.  Say
 * where the VM is at once, then wait for the whole load: its failure
 * leaves a guest that cannot go on, so the restore failed.
 */
static bool restore_lazy_finish(RestoreJob *j, int64_t start, GError **errp)
{
    GError *err = NULL;

    j->resume_ms = j->load_ms;
    restore_show_socket(j);
    g_autofree char *st =
        vmctl_wait_migration(j->qmp, NULL, NULL, NULL, true, &err);
    j->load_ms = qemu_clock_ms() - start;
    if (st && !strcmp(st, "completed")) {
        g_clear_error(&err);
        return true;
    }
    if (!err) {
        error_setg(&err, "the load ended with status '%s'", st ? st : "?");
    }
    error_prepend(&err, "loading '%s' failed after the guest resumed",
                  j->o->file);
    g_propagate_error(errp, err);
    return false;
}

/* Wait until the loaded VM leaves "inmigrate". */
static char *restore_wait_runstate(RestoreJob *j, GError **errp)
{
    int64_t deadline = qemu_clock_ms() + RESTORE_RUNSTATE_MS;

    for (;;) {
        char *st = vm_client_status(j->qmp, NULL, errp);
        if (!st || strcmp(st, "inmigrate")) {
            return st;
        }
        g_free(st);
        if (qemu_clock_ms() > deadline) {
            error_setg(errp, "the VM stays in state 'inmigrate'");
            return NULL;
        }
        g_usleep(20 * 1000);
    }
}

static bool restore_load(RestoreJob *j, GError **errp)
{
    MigSetup m = {
        .mapped = j->mapped,
        .channels = j->channels,
        .direct_io = j->mapped && j->o->bypass_cache,
        .checksums =
            j->img.hdr.incompat_features & SAVE_IMAGE_INCOMPAT_CHECKSUMS,
        .extra_caps = (const char *const *)j->caps->pdata,
    };
    GError *err = NULL;

    if (!vmctl_setup_migration(j->qmp, &m, errp)) {
        return false;
    }
    g_autofree char *uri = restore_uri(j, errp);
    if (!uri) {
        return false;
    }
    qmp_client_clear_events(j->qmp);
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "uri", uri);
    JsonNode *r = qmp_client_cmd(j->qmp, "migrate-incoming", args, errp);
    if (!r) {
        return false;
    }
    json_node_unref(r);
    ctl_test_point("restore-loading");

    int64_t start = qemu_clock_ms();
    progress_init(&j->progress, "restoring", !j->o->quiet && isatty(2));
    g_autofree char *st = vmctl_wait_migration_until(
        j->qmp, j->o->lazy ? "postcopy-active" : NULL, restore_tick, j,
        restore_pump_failed, true, &err);
    progress_done(&j->progress);
    j->load_ms = qemu_clock_ms() - start;
    /*
     * A corrupt compressed stream: the pump knows best what went wrong,
     * unless it only saw the VM give up reading.
     */
    if (j->pump_used) {
        GError *perr = NULL;
        bool peer_closed = j->pump.peer_closed;
        j->pump_used = false;
        if (!pump_join(&j->pump, &perr) && (!peer_closed || !err)) {
            g_clear_error(&err);
            g_propagate_prefixed_error(errp, perr, "'%s': ", j->o->file);
            return false;
        }
        g_clear_error(&perr);
    }
    bool lazy_running = st && j->o->lazy && !strcmp(st, "postcopy-active");
    if (!st || (strcmp(st, "completed") && !lazy_running)) {
        if (!err) {
            error_setg(&err, "the load ended with status '%s'", st ? st : "?");
        }
        error_prepend(&err, "loading '%s' failed", j->o->file);
        g_propagate_error(errp, err);
        return false;
    }
    g_clear_error(&err);
    g_autofree char *rs = restore_wait_runstate(j, errp);
    if (!rs) {
        return false;
    }
    if (!strcmp(rs, "internal-error")) {
        error_setg(errp, "the VM failed to load '%s'", j->o->file);
        return false;
    }
    if (j->fdset_id >= 0 && !lazy_running) {
        /* The VM's copies are closed: this frees the temporary file. */
        JsonObject *a = json_object_new();
        json_object_set_int_member(a, "fdset-id", j->fdset_id);
        JsonNode *rr = qmp_client_cmd(j->qmp, "remove-fd", a, NULL);
        if (rr) {
            json_node_unref(rr);
        }
    }
    if (j->run && !vm_client_cmd(j->qmp, errp, "{'execute': 'cont'}")) {
        return false;
    }
    return !lazy_running || restore_lazy_finish(j, start, errp);
}

static void restore_cleanup_files(RestoreJob *j)
{
    /* The socket and log are ours once we started the VM. */
    if (j->spawned) {
        unlink(j->qmp_path);
        unlink(j->log_path);
    }
    if (j->tmpdir) {
        rmdir(j->tmpdir);
    }
}

static double mb_per_s(uint64_t bytes, int64_t ms)
{
    return ms > 0 ? bytes / (ms / 1000.0) / 1e6 : 0.0;
}

/* --output json: one object on stdout, in place of the socket path. */
static void restore_summary_json(RestoreJob *j)
{
    const SaveImageHeader *h = &j->img.hdr;
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "operation", "restore");
    json_object_set_string_member(o, "file", j->path);
    json_object_set_string_member(o, "qmp", j->qmp_path);
    json_object_set_int_member(o, "pid", j->pid);
    json_object_set_string_member(o, "log", j->log_path);
    json_object_set_string_member(o, "format",
                                  save_image_format_name(h->format));
    json_object_set_string_member(o, "layout", j->mapped ? "mapped" : "stream");
    json_object_set_int_member(o, "channels", j->channels);
    json_object_set_boolean_member(o, "bypass-cache", j->o->bypass_cache);
    json_object_set_boolean_member(o, "lazy", j->o->lazy);
    json_object_set_int_member(o, "bytes", h->ram_size);
    json_object_set_int_member(o, "time-ms", j->load_ms);
    json_object_set_int_member(
        o, "mb-per-second", (int64_t)(mb_per_s(h->ram_size, j->load_ms) + 0.5));
    if (j->o->lazy) {
        json_object_set_int_member(o, "time-to-resume-ms", j->resume_ms);
    }
    if (j->decompress_ms) {
        json_object_set_int_member(o, "decompression-ms", j->decompress_ms);
    }
    if (j->o->generation) {
        json_object_set_int_member(o, "generation", j->o->generation);
    }
    json_object_set_string_member(o, "state", j->run ? "running" : "paused");
    ctl_print_json(o);
}

/*
 * One line on stderr for people (or the JSON object).  A lazy restore
 * gives its time to resume and the rate of the whole load, not RAM over
 * the time to resume.
 */
static void restore_summary(RestoreJob *j)
{
    const SaveImageHeader *h = &j->img.hdr;

    if (j->o->json) {
        restore_summary_json(j);
        return;
    }
    if (j->o->quiet) {
        return;
    }
    g_autofree char *ram = size_to_human_str(h->ram_size);
    g_autofree char *dec =
        j->decompress_ms
            ? g_strdup_printf(", decompression %.2f s", j->decompress_ms / 1e3)
            : g_strdup("");
    g_autofree char *resume =
        j->o->lazy
            ? g_strdup_printf("resumed after %.3f s, ", j->resume_ms / 1e3)
            : g_strdup("");

    fprintf(stderr,
            "restored %s: %s image, %d channel%s%s, RAM %s, %s%s %.2f s "
            "(%.0f MB/s)%s, VM pid %d %s, log %s\n",
            j->path, save_image_format_name(h->format), j->channels,
            j->channels > 1 ? "s" : "",
            j->o->bypass_cache ? ", bypass-cache" : "", ram, resume,
            j->o->lazy ? "whole load" : "load", j->load_ms / 1e3,
            mb_per_s(h->ram_size, j->load_ms), dec, (int)j->pid,
            j->run ? "running" : "paused", j->log_path);
}

static void restore_free(RestoreJob *j)
{
    int fds[] = { j->fd, j->direct_fd, j->tmpfd, j->tmp_direct };

    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    save_image_clear(&j->img);
    g_strfreev(j->vm_args);
    if (j->caps) {
        g_ptr_array_free(j->caps, true);
    }
    qmp_client_free(j->qmp);
    g_free(j->path);
    g_free(j->dir);
    g_free(j->tmpdir);
    g_free(j->qmp_path);
    g_free(j->log_path);
}

int ctl_restore(const RestoreOptions *o)
{
    RestoreJob j = { .o = o,
                     .fd = -1,
                     .direct_fd = -1,
                     .tmpfd = -1,
                     .tmp_direct = -1,
                     .fdset_id = -1,
                     .guard = { .fd = -1 } };
    GError *err = NULL;
    bool ok = restore_open_image(&j, &err) &&
              (j.img.hdr.format != SAVE_IMAGE_FORMAT_MAPPED_ZSTD ||
               restore_decompress_mapped(&j, &err)) &&
              restore_pick_paths(&j, &err);

    if (ok) {
        const char *unl[] = { j.qmp_path, j.log_path };
        GuardPlan plan = { .unlink = { unl[0], unl[1] }, .rmdir = j.tmpdir };
        ok = guard_start(&j.guard, &plan, &err) && restore_spawn(&j, &err);
        if (ok) {
            j.qmp = vm_client_connect(j.qmp_path, RESTORE_CONNECT_MS, j.pid,
                                      &ctl_interrupted, &err);
            ok =
                j.qmp && restore_check_ours(&j, &err) && restore_load(&j, &err);
        }
        if (!ok && j.pid > 0) {
            /* The VM's own words, if it said any. */
            g_autofree char *tail = restore_log_tail(&j);
            char *msg = g_strconcat(err->message, tail, NULL);
            g_free(err->message);
            err->message = msg;
        }
    }
    if (ok) {
        guard_release(&j.guard);
        restore_show_socket(&j);
        restore_summary(&j);
    } else {
        if (j.pump_used) {
            atomic_store(&j.pump.cancel, true);
            pump_join(&j.pump, NULL);
        }
        restore_kill_vm(&j);
        restore_cleanup_files(&j);
        guard_release(&j.guard);
        fprintf(stderr, "mapmig-ctl: restore failed: %s\n", err->message);
        g_error_free(err);
    }
    restore_free(&j);
    return ok ? 0 : ctl_signal ? 128 + ctl_signal : 1;
}
