/*
 * mapmig-ctl checkpoint: checkpoints of a running VM into a directory
 * (include/qemu/checkpoint-dir.h), each costing only what changed.
 *
 * Two images, DIR/a.img and DIR/b.img; each checkpoint rewrites the one
 * the manifest does not name (the older one, or one that is missing or
 * not complete) with the VM's x-checkpoint capability: the VM remembers
 * each image it completed and writes into it again only the pages dirtied
 * since then (the union of two rounds, as each image skips one).  Per
 * checkpoint:
 *
 *   1. the image's header gets the partial magic, durable before anything
 *      else in it changes; then the configuration (the stream offset kept,
 *      so that the VM can rewrite in place)
 *   2. migrate file:IMG,offset=N, live: the VM iterates while the guest
 *      runs and stops it only for the last pass and the device state
 *   3. fdatasync, the final header with the generation, fdatasync
 *   4. the manifest: manifest.tmp, fsync, rename, fsync of DIR
 *
 * A crash at any point leaves the manifest naming a complete image.
 */
#include "ctl.h"
#include "test-point.h"
#include "qemu/checkpoint-dir.h"
#include "qemu/save-image.h"

#include <sys/file.h>
#include <sys/stat.h>

#define CKPT_ZEROS (64 * KiB)

typedef struct CkptJob {
    const CheckpointOptions *o;
    QMPClient *qmp;
    char *dir;    /* absolute, symbolic links resolved */
    int dir_fd;   /* DIR, locked (flock) for as long as we write into it */
    char *writer; /* this VM process, for the images' configurations */
    char *config;
    uint64_t ram_total;
    bool was_running; /* at the start: it is left so */
    VmctlSaved saved;
    Guard guard;
    Progress progress;

    /* The checkpoint being taken */
    int target; /* 0: a.img, 1: b.img */
    char *path;
    int fd;
    SaveImageHeader hdr;
    bool vm_ran; /* running when it started */
    bool migrating;
    int64_t start_ms;
    /* its figures */
    bool incremental;
    int64_t dirty_pages, bytes, pause_ms, time_ms;
} CkptJob;

/* ---------------------------------------------------------------- */
/* Preparation */

/*
 * "BOOT-ID:PID:START": the VM process at the other end of the socket,
 * unique on this host across reboots and pid reuse; NULL if unknown.
 */
static char *ckpt_vm_identity(QMPClient *c)
{
    pid_t pid = qmp_client_peer_pid(c);
    g_autofree char *boot = NULL;
    g_autofree char *stat = NULL;
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    unsigned long long start;

    if (pid <= 0 ||
        !g_file_get_contents("/proc/sys/kernel/random/boot_id", &boot, NULL,
                             NULL) ||
        !g_file_get_contents(path, &stat, NULL, NULL)) {
        return NULL;
    }
    /* "pid (comm) state ..." then the 19th field after comm: starttime. */
    const char *rest = strrchr(stat, ')');
    if (!rest || sscanf(rest + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
                        "%*u %*d %*d %*d %*d %*d %*d %llu",
                        &start) != 1) {
        return NULL;
    }
    return g_strdup_printf("%s:%d:%llu", g_strstrip(boot), (int)pid, start);
}

static bool ckpt_build_config(CkptJob *j, GError **errp)
{
    const CheckpointOptions *o = j->o;
    JsonObject *save = json_object_new();
    JsonObject *ckpt = json_object_new();

    json_object_set_string_member(save, "layout", "mapped");
    json_object_set_int_member(save, "channels", o->channels);
    json_object_set_boolean_member(save, "bypass-cache", o->bypass_cache);
    json_object_set_string_member(save, "compress", "none");
    json_object_set_boolean_member(save, "live", true);
    if (j->writer) {
        json_object_set_string_member(ckpt, "writer", j->writer);
    }
    j->config = save_image_config_text(j->qmp, save, ckpt, &j->ram_total, errp);
    if (j->config && strlen(j->config) > SAVE_IMAGE_CONFIG_MAX) {
        error_setg(errp, "the VM's configuration is too large");
        return false;
    }
    return j->config != NULL;
}

static bool ckpt_prepare(CkptJob *j, GError **errp)
{
    const CheckpointOptions *o = j->o;

    if (g_mkdir_with_parents(o->dir, 0755) < 0) {
        error_setg_errno(errp, errno, "Could not create '%s'", o->dir);
        return false;
    }
    /* One name per file: the VM tracks images by the path it was given. */
    j->dir = realpath(o->dir, NULL);
    j->dir_fd = j->dir ? open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (j->dir_fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", o->dir);
        return false;
    }
    if (flock(j->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        error_setg_errno(errp, errno,
                         "'%s' is locked (another mapmig-ctl checkpoint "
                         "writes into it?)",
                         j->dir);
        return false;
    }
    j->qmp = vm_client_connect(o->qmp_path, CTL_CONNECT_MS, 0, &ctl_interrupted,
                               errp);
    if (!j->qmp || !save_check_vm(j->qmp, &j->was_running, errp)) {
        return false;
    }
    j->writer = ckpt_vm_identity(j->qmp);
    if (!ckpt_build_config(j, errp) ||
        !vmctl_remember(j->qmp, &j->saved, errp)) {
        return false;
    }
    GuardPlan plan = {
        .qmp_path = o->qmp_path,
        .resume = j->was_running,
        .saved = &j->saved,
    };
    if (!guard_start(&j->guard, &plan, errp)) {
        return false;
    }
    MigSetup m = {
        .mapped = true,
        .channels = o->channels,
        .direct_io = o->bypass_cache,
        .checksums = true,
        .checkpoint = true,
        .max_bandwidth = o->max_bandwidth,
        .converge = o->converge,
    };
    return vmctl_setup_migration(j->qmp, &m, errp);
}

/* ---------------------------------------------------------------- */
/* Which image, which generation */

/*
 * The image to write.  Never the one a valid manifest names: the other
 * one, unless that one is a complete checkpoint while the manifest's is
 * not what it says (a damaged image: the user decides).  Without a
 * manifest: one that is not complete, else the lower generation.  A
 * damaged manifest: the user decides too.
 */
static int ckpt_pick_target(CkptJob *j, const CkptDir *d, GError **errp)
{
    const CkptImage *im = d->images;

    switch (d->mstate) {
    case CKPT_MANIFEST_DAMAGED:
        error_setg(errp,
                   "'%s/%s' is damaged (%s): not guessing which image to "
                   "keep; restore one with --generation, or remove the "
                   "manifest to go on",
                   j->dir, CKPT_MANIFEST, d->manifest_error);
        return -1;
    case CKPT_MANIFEST_VALID: {
        int i = d->manifest.image;
        if (!ckpt_dir_manifest_image_ok(d, i) &&
            im[1 - i].state == CKPT_IMAGE_COMPLETE) {
            error_setg(errp,
                       "'%s': the manifest names generation %" PRIu64
                       " in %s, which is not that checkpoint; not "
                       "overwriting generation %" PRIu64 " in %s: restore "
                       "it with --generation, or remove the manifest to go "
                       "on",
                       j->dir, d->manifest.generation, ckpt_image_name(i),
                       im[1 - i].img.hdr.generation, ckpt_image_name(1 - i));
            return -1;
        }
        return 1 - i;
    }
    case CKPT_MANIFEST_MISSING:
        break;
    }
    for (int i = 0; i < CKPT_IMAGES; i++) {
        if (im[i].state != CKPT_IMAGE_COMPLETE) {
            return i;
        }
    }
    return im[1].img.hdr.generation < im[0].img.hdr.generation;
}

/*
 * Whether image @i may be written: it is missing, or its header says it
 * is a checkpoint image (partial or not).  Anything else there is not
 * ours to overwrite (a save image, another file of that name, a header
 * damaged beyond reading): the user decides.
 */
static bool ckpt_may_overwrite(CkptJob *j, const CkptDir *d, int i,
                               GError **errp)
{
    const CkptImage *ci = &d->images[i];

    if (ci->state == CKPT_IMAGE_MISSING ||
        (ci->hdr_valid && ci->img.hdr.generation)) {
        return true;
    }
    error_setg(errp,
               "'%s/%s' is not a checkpoint image (%s): not overwriting it; "
               "remove it to go on",
               j->dir, ckpt_image_name(i),
               ci->error ? ci->error : "no generation");
    return false;
}

/* Above every generation the directory has seen. */
static uint64_t ckpt_next_generation(const CkptDir *d)
{
    uint64_t g = d->mstate == CKPT_MANIFEST_VALID ? d->manifest.generation : 0;

    for (int i = 0; i < CKPT_IMAGES; i++) {
        if (d->images[i].hdr_valid) {
            g = MAX(g, d->images[i].img.hdr.generation);
        }
    }
    return g + 1;
}

/* The "checkpoint.writer" member of an image's configuration, or NULL. */
static char *ckpt_config_writer(const char *config)
{
    g_autoptr(JsonParser) p = json_parser_new();

    if (!config || !json_parser_load_from_data(p, config, -1, NULL)) {
        return NULL;
    }
    JsonNode *root = json_parser_get_root(p);
    JsonObject *o =
        JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *ck = o ? json_object_get_member(o, "checkpoint") : NULL;
    if (!ck || !JSON_NODE_HOLDS_OBJECT(ck)) {
        return NULL;
    }
    return g_strdup(json_object_get_string_member_with_default(
        json_node_get_object(ck), "writer", NULL));
}

/*
 * The stream offset of the image's current content, if the new
 * configuration fits before it (the VM then rewrites only what changed);
 * 0 if the image must be written anew.
 */
static uint64_t ckpt_reusable_offset(CkptJob *j, const CkptImage *ci)
{
    const SaveImageHeader *h = &ci->img.hdr;

    if (!ci->hdr_valid || h->format != SAVE_IMAGE_FORMAT_MAPPED ||
        h->header_size != SAVE_IMAGE_HEADER_SIZE) {
        return 0;
    }
    if ((uint64_t)SAVE_IMAGE_HEADER_SIZE + strlen(j->config) + 1 >
        h->stream_offset) {
        return 0;
    }
    return h->stream_offset;
}

/*
 * Whether this VM keeps a dirty set for @path (x-query-checkpoints);
 * *offset: the stream offset it knows.
 */
static bool ckpt_vm_tracks(CkptJob *j, const char *path, uint64_t *offset,
                           GError **errp)
{
    g_autoptr(JsonNode) r =
        qmp_client_cmdf(j->qmp, errp, "{'execute': 'x-query-checkpoints'}");
    if (!r) {
        return false;
    }
    JsonArray *a = JSON_NODE_HOLDS_ARRAY(r) ? json_node_get_array(r) : NULL;
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonNode *e = json_array_get_element(a, i);
        if (!g_strcmp0(qmp_get_str(e, "path"), path)) {
            *offset = qmp_get_int(e, "offset");
            return true;
        }
    }
    return false;
}

/*
 * The VM knows an image by its path, offset and inode, not by what is in
 * it: if another VM process wrote the image since (its configuration
 * names another writer), this VM's dirty set says nothing about it.
 * Make it forget the image then, so it writes all of it; and where the
 * offset changes, so that it stops keeping a dirty set for nothing.
 */
static bool ckpt_check_tracking(CkptJob *j, const CkptImage *ci,
                                uint64_t offset, GError **errp)
{
    GError *err = NULL;
    uint64_t known;

    if (!ckpt_vm_tracks(j, j->path, &known, &err)) {
        if (err) {
            g_propagate_error(errp, err);
            return false;
        }
        return true;
    }
    g_autofree char *writer = ckpt_config_writer(ci->img.config);
    if (known == offset && j->writer && writer && !strcmp(writer, j->writer)) {
        return true;
    }
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "path", j->path);
    return vm_client_exec(j->qmp, "x-checkpoint-forget", args, errp);
}

/* ---------------------------------------------------------------- */
/* Writing */

static bool ckpt_sync(CkptJob *j, GError **errp)
{
    if (fdatasync(j->fd) < 0) {
        error_setg_errno(errp, errno, "Could not sync '%s'", j->path);
        return false;
    }
    return true;
}

/*
 * The configuration, its NUL and zeros up to the stream offset (what an
 * older, longer configuration left there goes).
 */
static bool ckpt_write_config(CkptJob *j, GError **errp)
{
    g_autofree uint8_t *zeros = g_malloc0(CKPT_ZEROS);
    const SaveImageHeader *h = &j->hdr;
    uint64_t pos = h->header_size;

    if (pwrite(j->fd, j->config, h->config_len, pos) != h->config_len) {
        goto fail;
    }
    for (pos += h->config_len; pos < h->stream_offset;) {
        size_t n = MIN(CKPT_ZEROS, h->stream_offset - pos);
        ssize_t w = pwrite(j->fd, zeros, n, pos);
        if (w <= 0) {
            goto fail;
        }
        pos += w;
    }
    return true;

fail:
    error_setg_errno(errp, errno ? errno : EIO,
                     "Could not write the configuration of '%s'", j->path);
    return false;
}

/*
 * Step 1: the image is no checkpoint any more (partial magic, durable),
 * then it gets this checkpoint's configuration.  A new stream offset
 * means a full save: the old data goes.
 */
static bool ckpt_open_image(CkptJob *j, const CkptDir *d, uint64_t gen,
                            GError **errp)
{
    const CkptImage *ci = &d->images[j->target];
    uint64_t offset = ckpt_reusable_offset(j, ci);

    j->path = g_build_filename(j->dir, ckpt_image_name(j->target), NULL);
    j->fd = open(j->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->fd < 0) {
        error_setg_errno(errp, errno, "Could not open '%s'", j->path);
        return false;
    }
    save_image_header_init(&j->hdr, SAVE_IMAGE_FORMAT_MAPPED, j->config);
    if (offset) {
        j->hdr.stream_offset = offset;
    }
    /* Page and metadata sums travel in the stream's trailer, as for save. */
    j->hdr.incompat_features = SAVE_IMAGE_INCOMPAT_CHECKSUMS;
    j->hdr.was_running = j->vm_ran;
    j->hdr.ram_size = j->ram_total;
    j->hdr.generation = gen;
    if (!ckpt_check_tracking(j, ci, j->hdr.stream_offset, errp) ||
        !save_image_write_header(j->fd, &j->hdr, false, errp) ||
        !ckpt_sync(j, errp)) {
        return false;
    }
    ctl_test_point("checkpoint-partial");
    if (!offset && ftruncate(j->fd, j->hdr.stream_offset) < 0) {
        error_setg_errno(errp, errno, "Could not size '%s'", j->path);
        return false;
    }
    return ckpt_write_config(j, errp) &&
           (!j->o->bypass_cache ||
            save_check_direct_io(j->fd, j->path, j->dir, j->hdr.stream_offset,
                                 errp));
}

static void ckpt_tick(void *opaque, QMPClient *c)
{
    CkptJob *j = opaque;

    save_progress_tick(&j->progress, c);
}

/* What query-migrate says of the checkpoint that completed. */
static void ckpt_collect_stats(CkptJob *j)
{
    g_autoptr(JsonNode) r =
        qmp_client_cmdf(j->qmp, NULL, "{'execute': 'query-migrate'}");
    JsonObject *o =
        r && JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    JsonNode *ck = o ? json_object_get_member(o, "x-checkpoint") : NULL;
    JsonNode *ram = o ? json_object_get_member(o, "ram") : NULL;

    if (ck && JSON_NODE_HOLDS_OBJECT(ck)) {
        j->incremental = json_object_get_boolean_member_with_default(
            json_node_get_object(ck), "incremental", false);
        j->dirty_pages = qmp_get_int(ck, "dirty-pages");
    }
    if (ram) {
        j->bytes = qmp_get_int(ram, "transferred");
    }
    j->pause_ms = r ? qmp_get_int(r, "downtime") : 0;
}

/* Step 2: the VM writes what changed, the guest paused only at the end. */
static bool ckpt_migrate(CkptJob *j, GError **errp)
{
    g_autofree char *uri = g_strdup_printf("file:%s,offset=%" PRIu64, j->path,
                                           j->hdr.stream_offset);
    GError *err = NULL;

    if (ctl_interrupted) {
        error_setg(errp, "interrupted");
        return false;
    }
    if (!vmctl_migrate(j->qmp, uri, errp)) {
        return false;
    }
    j->migrating = true;
    progress_init(&j->progress, "checkpoint", !j->o->quiet && isatty(2));
    g_autofree char *st =
        vmctl_wait_migration(j->qmp, ckpt_tick, j, NULL, false, &err);
    progress_done(&j->progress);
    if (st) {
        j->migrating = false;
    }
    if (st && !strcmp(st, "completed")) {
        ckpt_collect_stats(j);
        return true;
    }
    if (st && !strcmp(st, "cancelled")) {
        g_clear_error(&err);
        error_setg(&err, "%s", ctl_interrupted ? "interrupted" : "cancelled");
    }
    g_propagate_error(errp, err);
    return false;
}

/* Step 3: the data durable, then the final header with the generation. */
static bool ckpt_finish_image(CkptJob *j, uint32_t *crc, GError **errp)
{
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    struct stat st;

    ctl_test_point("checkpoint-migrated");
    if (!ckpt_sync(j, errp)) {
        return false;
    }
    if (fstat(j->fd, &st) < 0 || (uint64_t)st.st_size <= j->hdr.stream_offset) {
        error_setg(errp, "the VM wrote no migration data to '%s'", j->path);
        return false;
    }
    j->hdr.stream_length = j->hdr.raw_length =
        st.st_size - j->hdr.stream_offset;
    j->hdr.saved_at = g_get_real_time() / G_USEC_PER_SEC;
    *crc = save_image_header_pack(&j->hdr, true, buf);
    if (!save_image_write_header(j->fd, &j->hdr, true, errp) ||
        !ckpt_sync(j, errp)) {
        return false;
    }
    ctl_test_point("checkpoint-final");
    return true;
}

/* Step 4: the manifest names the new image, atomically and durably. */
static bool ckpt_commit(CkptJob *j, uint32_t crc, GError **errp)
{
    CkptManifest m = {
        .generation = j->hdr.generation,
        .image = j->target,
        .header_crc = crc,
        .saved_at = j->hdr.saved_at,
    };
    g_autofree char *text = ckpt_manifest_format(&m);
    g_autofree char *tmp = g_build_filename(j->dir, CKPT_MANIFEST_TMP, NULL);
    g_autofree char *path = g_build_filename(j->dir, CKPT_MANIFEST, NULL);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        error_setg_errno(errp, errno, "Could not write '%s'", tmp);
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    close(fd);
    ctl_test_point("checkpoint-manifest-tmp");
    if (rename(tmp, path) < 0) {
        error_setg_errno(errp, errno, "Could not rename '%s' to '%s'", tmp,
                         path);
        return false;
    }
    ctl_test_point("checkpoint-renamed");
    return ctl_sync_dir(j->dir, errp);
}

/* ---------------------------------------------------------------- */
/* One checkpoint */

static void ckpt_report(CkptJob *j)
{
    const CheckpointOptions *o = j->o;

    if (o->json) {
        JsonObject *r = json_object_new();
        json_object_set_string_member(r, "operation", "checkpoint");
        json_object_set_int_member(r, "generation", j->hdr.generation);
        json_object_set_string_member(r, "image", j->path);
        json_object_set_boolean_member(r, "incremental", j->incremental);
        json_object_set_int_member(r, "dirty-pages", j->dirty_pages);
        json_object_set_int_member(r, "bytes-written", j->bytes);
        json_object_set_int_member(r, "pause-ms", j->pause_ms);
        json_object_set_int_member(r, "time-ms", j->time_ms);
        json_object_set_string_member(r, "vm",
                                      j->vm_ran ? "running" : "paused");
        ctl_print_json(r);
        return;
    }
    if (o->quiet) {
        return;
    }
    g_autofree char *bytes = size_to_human_str(j->bytes);
    printf("checkpoint %" PRIu64 ": %s, %s (%" PRId64 " dirty pages), "
           "%s written, guest paused %" PRId64 " ms, %" PRId64 " ms\n",
           j->hdr.generation, j->path, j->incremental ? "incremental" : "full",
           j->dirty_pages, bytes, j->pause_ms, j->time_ms);
    fflush(stdout);
}

static void ckpt_reset(CkptJob *j)
{
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
    g_clear_pointer(&j->path, g_free);
    j->incremental = false;
    j->dirty_pages = j->bytes = j->pause_ms = j->time_ms = 0;
}

static bool ckpt_take(CkptJob *j, GError **errp)
{
    CkptDir d;
    uint32_t crc;
    bool ok;

    ckpt_reset(j);
    j->start_ms = qemu_clock_ms();
    if (!save_check_vm(j->qmp, &j->vm_ran, errp) ||
        !ckpt_dir_scan(j->dir, &d, errp)) {
        return false;
    }
    j->target = ckpt_pick_target(j, &d, errp);
    ok = j->target >= 0 && ckpt_may_overwrite(j, &d, j->target, errp) &&
         ckpt_open_image(j, &d, ckpt_next_generation(&d), errp);
    ckpt_dir_clear(&d);
    ok = ok && ckpt_migrate(j, errp) && ckpt_finish_image(j, &crc, errp) &&
         ckpt_commit(j, crc, errp);
    j->time_ms = qemu_clock_ms() - j->start_ms;
    return ok;
}

/* Until @deadline (ms), or an interrupt. */
static void ckpt_sleep_until(int64_t deadline)
{
    int64_t now;

    while (!ctl_interrupted && (now = qemu_clock_ms()) < deadline) {
        g_usleep(MIN(deadline - now, 50) * 1000);
    }
}

static bool ckpt_check_options(const CheckpointOptions *o, GError **errp)
{
    if (o->channels < 1 || o->channels > 255) {
        error_setg(errp, "--parallel-channels must be between 1 and 255");
        return false;
    }
    if (o->count < 1 || !(o->interval >= 0)) {
        error_setg(errp, "--count must be at least 1, --interval not negative");
        return false;
    }
    return true;
}

int ctl_checkpoint(const CheckpointOptions *o)
{
    CkptJob j = { .o = o, .fd = -1, .dir_fd = -1, .guard = { .fd = -1 } };
    GError *err = NULL;
    bool ok = ckpt_check_options(o, &err) && ckpt_prepare(&j, &err);
    int64_t first = qemu_clock_ms();

    for (int i = 0; ok && i < o->count; i++) {
        ckpt_sleep_until(first + (int64_t)(i * o->interval * 1000));
        if (ctl_interrupted) {
            error_setg(&err, "interrupted");
            ok = false;
            break;
        }
        ok = ckpt_take(&j, &err);
        if (ok) {
            ckpt_report(&j);
        }
    }
    if (!ok && j.qmp) {
        if (j.migrating) {
            vmctl_cancel_and_wait(j.qmp);
        }
        /* Failed or cancelled, the VM resumed itself; unless it stopped. */
        vmctl_give_back(j.qmp, j.vm_ran, NULL, NULL);
    }
    if (j.qmp) {
        vmctl_restore(j.qmp, &j.saved);
    }
    guard_release(&j.guard);
    if (!ok) {
        fprintf(stderr, "mapmig-ctl: checkpoint failed: %s%s\n", err->message,
                j.qmp && j.was_running ? "; the VM runs on" : "");
        g_error_free(err);
    }
    ckpt_reset(&j);
    if (j.dir_fd >= 0) {
        close(j.dir_fd);
    }
    vmctl_saved_clear(&j.saved);
    qmp_client_free(j.qmp);
    g_free(j.dir);
    g_free(j.writer);
    g_free(j.config);
    return ok ? 0 : ctl_signal ? 128 + ctl_signal : 1;
}
