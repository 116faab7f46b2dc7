/*
 * Migration: the state machine, the migration thread (live precopy), the
 * incoming side and the QMP commands.
 *
 * Threads: QMP/HMP handlers run in the main thread with the BQL.  The
 * outgoing migration runs in "mig/src", the incoming load in "mig/dst";
 * both take the BQL only to change run state.  Status is atomic; errors
 * are guarded by error_lock.
 */
#include "qemu/osdep.h"
#include "io/channel-socket.h"
#include "io/dio.h"
#include "migration/checkpoint.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "migration/file.h"
#include "migration/multifd.h"
#include "migration/ram-checksum.h"
#include "migration/socket.h"
#include "migration/options.h"
#include "migration/ram-lazy.h"
#include "migration/ram.h"
#include "migration/savevm.h"
#include "monitor/monitor.h"
#include "qapi/events.h"
#include "system/cpu-throttle.h"
#include "system/cpus.h"
#include "system/ramblock.h"

#define BUFFER_DELAY_MS 100 /* rate-limit window, as QEMU */

#include <sys/socket.h>
#include <sys/stat.h>

static MigrationState current_migration;
static MigrationIncomingState current_incoming;

static const char *const status_names[MIGRATION_STATUS__MAX] = {
    [MIGRATION_STATUS_NONE] = "none",
    [MIGRATION_STATUS_SETUP] = "setup",
    [MIGRATION_STATUS_CANCELLING] = "cancelling",
    [MIGRATION_STATUS_CANCELLED] = "cancelled",
    [MIGRATION_STATUS_ACTIVE] = "active",
    [MIGRATION_STATUS_COMPLETED] = "completed",
    [MIGRATION_STATUS_FAILED] = "failed",
    [MIGRATION_STATUS_DEVICE] = "device",
    [MIGRATION_STATUS_POSTCOPY_ACTIVE] = "postcopy-active",
};

const char *migration_status_name(MigrationStatus s)
{
    return s < MIGRATION_STATUS__MAX ? status_names[s] : "unknown";
}

MigrationState *migrate_get_current(void)
{
    return &current_migration;
}

MigrationIncomingState *migration_incoming_get_current(void)
{
    return &current_incoming;
}

static void migration_event(MigrationStatus new_status)
{
    if (migrate_events()) {
        JsonObject *data = json_object_new();
        json_object_set_string_member(data, "status",
                                      migration_status_name(new_status));
        qapi_event_emit("MIGRATION", data);
    }
}

/* Compare-and-set the status; emits MIGRATION on a change. */
static bool migrate_set_state(_Atomic int *state, int old, int new)
{
    if (atomic_compare_exchange_strong(state, &old, new)) {
        migration_event(new);
        return true;
    }
    return false;
}

static void migration_pass_event(uint64_t pass)
{
    if (migrate_events()) {
        JsonObject *data = json_object_new();
        json_object_set_int_member(data, "pass", pass);
        qapi_event_emit("MIGRATION_PASS", data);
    }
}

static bool status_is_active(int s)
{
    return s == MIGRATION_STATUS_SETUP || s == MIGRATION_STATUS_ACTIVE ||
           s == MIGRATION_STATUS_DEVICE || s == MIGRATION_STATUS_CANCELLING ||
           s == MIGRATION_STATUS_POSTCOPY_ACTIVE;
}

bool migration_is_running(void)
{
    return status_is_active(atomic_load(&current_migration.status)) ||
           status_is_active(atomic_load(&current_incoming.status));
}

static void set_error(GMutex *lock, GError **slot, GError *err)
{
    g_mutex_lock(lock);
    error_propagate(slot, err); /* the first error wins */
    g_mutex_unlock(lock);
}

static char *get_error_desc(GMutex *lock, GError **slot)
{
    g_mutex_lock(lock);
    char *s = *slot ? g_strdup((*slot)->message) : NULL;
    g_mutex_unlock(lock);
    return s;
}

static void clear_error(GMutex *lock, GError **slot)
{
    g_mutex_lock(lock);
    g_clear_error(slot);
    g_mutex_unlock(lock);
}

/* ---------------------------------------------------------------- */
/* Rate limiting (migration thread) */

/* What the rate limit counts: sent, and queued to multifd channels. */
static uint64_t migration_rate_bytes(void)
{
    return atomic_load(&ram_stats.transferred) + multifd_send_inflight_bytes();
}

bool migration_rate_exceeded(void)
{
    MigrationState *s = &current_migration;
    uint64_t bw = migrate_params()->max_bandwidth;

    if (!bw) {
        return false;
    }
    uint64_t sent = migration_rate_bytes() - s->rate_window_start_rate_bytes;
    return sent >= bw * BUFFER_DELAY_MS / 1000;
}

static uint64_t migration_pages_sent(void)
{
    return atomic_load(&ram_stats.normal_pages) +
           atomic_load(&ram_stats.zero_pages);
}

/*
 * As QEMU's migration_update_counters: the figures query-migrate shows,
 * from the window that just ended, so they move while a pass is still
 * running (a stopped guest's save is a single pass).
 */
static void migration_update_counters(MigrationState *s, int64_t now)
{
    int64_t ns = now - s->rate_window_start_ns;
    uint64_t bytes = atomic_load(&ram_stats.transferred);
    uint64_t remaining =
        atomic_load(&ram_stats.remaining_pages) * TARGET_PAGE_SIZE;
    double bw;

    if (ns <= 0) {
        return;
    }
    bw = (bytes - s->rate_window_start_bytes) / (ns / 1e6); /* bytes/ms */
    s->mbps = bw * 8 / 1000;
    s->pages_per_second =
        (migration_pages_sent() - s->rate_window_start_pages) * 1e9 / ns;
    s->expected_downtime_ms = bw > 0 ? remaining / bw : 0;
}

/* Start a new window when the old one has passed (sleeping if over). */
static void migration_rate_wait(MigrationState *s)
{
    int64_t now = qemu_clock_ns();
    int64_t window_end = s->rate_window_start_ns + BUFFER_DELAY_MS * 1000000LL;

    if (migration_rate_exceeded() && now < window_end) {
        g_usleep((window_end - now) / 1000);
        now = qemu_clock_ns();
    }
    if (now >= window_end) {
        migration_update_counters(s, now);
        s->rate_window_start_ns = now;
        s->rate_window_start_bytes = atomic_load(&ram_stats.transferred);
        s->rate_window_start_rate_bytes = migration_rate_bytes();
        s->rate_window_start_pages = migration_pages_sent();
    }
}

/* ---------------------------------------------------------------- */
/* Outgoing */

static bool migration_should_stop(MigrationState *s)
{
    return atomic_load(&s->status) == MIGRATION_STATUS_CANCELLING ||
           qemu_file_get_error(s->to_dst_file) || multifd_send_error_pending();
}

/* After a pass: can the rest go within downtime-limit? */
static bool migration_can_switchover(MigrationState *s, int64_t pass_ns,
                                     uint64_t pass_bytes)
{
    uint64_t remaining =
        atomic_load(&ram_stats.remaining_pages) * TARGET_PAGE_SIZE;
    uint64_t limit = migrate_params()->max_bandwidth;
    double bw = pass_ns > 0 ? (double)pass_bytes / (pass_ns / 1e6) : 0;

    /*
     * bytes/ms.  A short pass can fit in one rate-limit burst and look
     * faster than the limit; the switchover must assume the limit.
     */
    if (limit && bw > limit / 1000.0) {
        bw = limit / 1000.0;
    }
    s->threshold_bytes = bw * migrate_params()->downtime_limit;
    /* A stopped guest dirties nothing: one pass is all it takes. */
    return remaining == 0 || remaining <= s->threshold_bytes ||
           !runstate_is_running();
}

static bool migration_iterate(MigrationState *s)
{
    int64_t pass_start = qemu_clock_ns();
    uint64_t pass_bytes = atomic_load(&ram_stats.transferred);

    for (;;) {
        bool done;

        if (migration_should_stop(s)) {
            return false;
        }
        migration_rate_wait(s);
        qemu_savevm_state_iterate(s->to_dst_file, &done);
        if (!done) {
            continue;
        }
        int64_t now = qemu_clock_ns();
        uint64_t bytes = atomic_load(&ram_stats.transferred) - pass_bytes;
        if (migration_can_switchover(s, now - pass_start, bytes)) {
            return !migration_should_stop(s);
        }
        pass_start = now;
        pass_bytes = atomic_load(&ram_stats.transferred);
    }
}

/*
 * x-checkpoint: the image holds the guest as of the stop, all of it
 * written (not yet durable).  The guest goes on at once, in the state it
 * had, while the file is synced: dirty logging stays on, so what it
 * writes now belongs to the next checkpoint.
 */
static void migration_checkpoint_resume(MigrationState *s, int64_t stop_start)
{
    bql_lock();
    if (runstate_get() == RUN_STATE_FINISH_MIGRATE) {
        if (s->vm_was_running) {
            vm_start();
        } else {
            runstate_set(RUN_STATE_PAUSED);
        }
    }
    bql_unlock();
    s->downtime_ms = qemu_clock_ms() - stop_start;
}

/* Stop the guest and send everything that is left. */
static bool migration_completion(MigrationState *s)
{
    int64_t stop_start = qemu_clock_ms();

    bql_lock();
    s->vm_was_running = runstate_is_running();
    global_state_store();
    vm_stop(RUN_STATE_FINISH_MIGRATE);
    bql_unlock();

    qemu_savevm_state_complete_precopy(s->to_dst_file);
    if (!qemu_file_get_error(s->to_dst_file) && !multifd_send_error_pending()) {
        multifd_send_sync(s->to_dst_file);
    }
    if (s->transport == MIG_TRANSPORT_FILE &&
        !qemu_file_get_error(s->to_dst_file)) {
        GError *err = NULL;
        if ((ram_checksums_enabled() &&
             !ram_checksums_save(s->to_dst_file, file_outgoing_stream_start(),
                                 &err)) ||
            !file_finish_outgoing(s->to_dst_file, &s->stream_end, &err)) {
            qemu_file_set_error_obj(s->to_dst_file, -EIO, err);
            return false;
        }
        if (s->checkpoint) {
            migration_checkpoint_resume(s, stop_start);
        }
        if (!file_sync_complete(qemu_file_get_ioc(s->to_dst_file), &err)) {
            qemu_file_set_error_obj(s->to_dst_file, -EIO, err);
            return false;
        }
    }
    if (!s->checkpoint) {
        s->downtime_ms = qemu_clock_ms() - stop_start;
    }
    return !migration_should_stop(s);
}

static GError *migration_thread_error(MigrationState *s)
{
    GError *err = multifd_send_error();
    if (!err && qemu_file_get_error(s->to_dst_file)) {
        err = qemu_file_get_error_obj(s->to_dst_file);
    }
    return err;
}

/* Full speed again, whatever the end (QEMU lifts it at cleanup). */
static void migration_unthrottle(void)
{
    cpu_throttle_stop();
    cpu_dirty_limit_set(0);
}

static void migration_finish(MigrationState *s, bool ok)
{
    GError *err = NULL;

    migration_unthrottle();
    multifd_send_shutdown();
    /* Before the bitmaps it keeps are freed. */
    checkpoint_finish(ok, s->stream_end);
    qemu_savevm_state_cleanup();
    /*
     * The channel dies with the file: migrate_cancel (BQL held) must not
     * reach it any more.
     */
    bql_lock();
    s->ioc = NULL;
    bql_unlock();
    if (qemu_fclose(s->to_dst_file, &err) < 0 && ok) {
        ok = false;
        set_error(&s->error_lock, &s->error, err);
        err = NULL;
    }
    g_clear_error(&err);
    s->to_dst_file = NULL;
    s->total_time_ms = qemu_clock_ms() - s->start_time_ms;

    bql_lock();
    /*
     * A cancel may come after the last byte was written: it wins, as in
     * QEMU, and the source goes on (the status must not stay cancelling
     * with no thread left to move it on).
     */
    if (ok && !migrate_set_state(&s->status, MIGRATION_STATUS_ACTIVE,
                                 MIGRATION_STATUS_COMPLETED)) {
        ok = false;
    }
    if (ok && !s->checkpoint) {
        runstate_set(RUN_STATE_POSTMIGRATE);
    } else if (!ok) {
        /* The source goes on as if nothing happened. */
        if (runstate_get() == RUN_STATE_FINISH_MIGRATE) {
            if (s->vm_was_running) {
                vm_start();
            } else {
                runstate_set(RUN_STATE_PAUSED);
            }
        }
        if (!migrate_set_state(&s->status, MIGRATION_STATUS_CANCELLING,
                               MIGRATION_STATUS_CANCELLED)) {
            int old = atomic_load(&s->status);
            migrate_set_state(&s->status, old, MIGRATION_STATUS_FAILED);
        }
    }
    bql_unlock();
}

/*
 * postcopy-ram on a source: QEMU opens a return path first, which file:,
 * exec: and fd: do not have, so its migration fails right after migrate
 * returned (sockets were refused by migrate: mapmig has no postcopy).
 */
static bool migration_open_return_path(GError **errp)
{
    if (migrate_cap(MIGRATION_CAPABILITY_POSTCOPY_RAM)) {
        error_setg(errp, "Unable to open return-path for postcopy");
        return false;
    }
    return true;
}

/* The main channel is in (BQL held, for s->ioc). */
static void migration_set_channel(MigrationState *s, QIOChannel *ioc)
{
    qio_channel_set_name(ioc, "migration-out");
    s->to_dst_file = qemu_file_new_output(ioc);
    s->ioc = ioc; /* reference held by the QEMUFile */
    qio_channel_unref(ioc);
}

/*
 * Migration thread, socket transports: connect as QEMU's
 * socket_outgoing_migration does, after migrate has returned.
 */
static bool migration_connect(MigrationState *s, GError **errp)
{
    MigrationAddress addr = { .transport = MIG_TRANSPORT_SOCKET };
    QIOChannel *ioc;

    addr.path = g_steal_pointer(&s->connect_path);
    ioc = migration_connect_outgoing(&addr, errp);
    migration_address_clear(&addr);
    if (!ioc) {
        return false;
    }
    bql_lock();
    migration_set_channel(s, ioc);
    bql_unlock();
    return true;
}

/* No channel: nothing was sent, the source never stopped. */
static void migration_connect_failed(MigrationState *s, GError *err)
{
    s->total_time_ms = qemu_clock_ms() - s->start_time_ms;
    bql_lock();
    if (!migrate_set_state(&s->status, MIGRATION_STATUS_CANCELLING,
                           MIGRATION_STATUS_CANCELLED)) {
        set_error(&s->error_lock, &s->error, err);
        err = NULL;
        migrate_set_state(&s->status, MIGRATION_STATUS_SETUP,
                          MIGRATION_STATUS_FAILED);
    }
    bql_unlock();
    g_clear_error(&err);
}

static gpointer migration_thread(gpointer opaque)
{
    MigrationState *s = opaque;
    GError *err = NULL;
    bool ok;

    if (!s->to_dst_file && !migration_connect(s, &err)) {
        migration_connect_failed(s, err);
        return NULL;
    }
    ok = migration_open_return_path(&err);
    if (ok) {
        qemu_savevm_state_header(s->to_dst_file);
    }
    ok = ok && (!migrate_multifd() || multifd_send_setup(&err)) &&
         qemu_savevm_state_setup(s->to_dst_file, &err);
    /* What the first pass has to write: all, or what changed since. */
    s->checkpoint_dirty_pages = atomic_load(&ram_stats.remaining_pages);
    s->setup_time_ms = qemu_clock_ms() - s->start_time_ms;
    s->rate_window_start_ns = qemu_clock_ns();
    s->rate_window_start_bytes = atomic_load(&ram_stats.transferred);
    s->rate_window_start_rate_bytes = migration_rate_bytes();
    s->rate_window_start_pages = migration_pages_sent();
    if (ok && !migrate_set_state(&s->status, MIGRATION_STATUS_SETUP,
                                 MIGRATION_STATUS_ACTIVE)) {
        ok = false; /* cancelled during setup */
    }
    ok = ok && migration_iterate(s) && migration_completion(s);
    if (!ok) {
        if (!err) {
            err = migration_thread_error(s);
        }
        if (!err && atomic_load(&s->status) != MIGRATION_STATUS_CANCELLING) {
            err = g_error_new_literal(MAPMIG_ERROR, 0, "Migration failed");
        }
        if (err) {
            set_error(&s->error_lock, &s->error, err);
        }
    }
    migration_finish(s, ok);
    return NULL;
}

/* Reset statistics and errors for a new migration. */
static void migration_reset(MigrationState *s)
{
    if (s->thread) {
        g_thread_join(s->thread);
        s->thread = NULL;
    }
    clear_error(&s->error_lock, &s->error);
    memset(&ram_stats, 0, sizeof(ram_stats));
    s->setup_time_ms = s->total_time_ms = s->downtime_ms = 0;
    s->checkpoint = s->checkpoint_incremental = false;
    s->checkpoint_dirty_pages = s->stream_end = 0;
    s->expected_downtime_ms = 0;
    s->mbps = 0;
    s->pages_per_second = 0;
    global_state_reset();
}

/* Capability/transport combinations QEMU refuses at migrate time. */
static bool migration_check_transport(const MigrationAddress *addr,
                                      QIOChannel *ioc, GError **errp)
{
    bool is_file = addr->transport == MIG_TRANSPORT_FILE;

    /* As QEMU: the extra-fds check comes before the seekable one. */
    if (migrate_direct_io() && !is_file) {
        error_setg(errp, "Migration requires a transport that allows for "
                         "extra fds (e.g. file)");
        return false;
    }
    if (migrate_mapped_ram() && !is_file &&
        !(ioc && qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SEEKABLE))) {
        error_setg(errp, "Mapped-ram requires a seekable transport "
                         "(e.g. file)");
        return false;
    }
    if (migrate_cap(MIGRATION_CAPABILITY_X_CHECKSUMS) && !is_file) {
        error_setg(errp, "Capability 'x-checksums' needs a file: migration "
                         "URI (its trailer is read back from the file)");
        return false;
    }
    if (migrate_multifd() && is_file && !migrate_mapped_ram()) {
        error_setg(errp, "Multifd with the file: transport requires "
                         "mapped-ram");
        return false;
    }
    if (migrate_multifd() && !is_file &&
        addr->transport != MIG_TRANSPORT_SOCKET) {
        error_setg(errp, "Multifd needs a unix:, tcp: or file: transport "
                         "(the channels connect or open it again)");
        return false;
    }
    if (migrate_params()->direct_io &&
        !(migrate_mapped_ram() && migrate_multifd())) {
        error_setg(errp,
                   "direct-io needs the mapped-ram and multifd "
                   "capabilities: only the multifd channels write pages at "
                   "aligned offsets");
        return false;
    }
    return true;
}

/* O_DIRECT needs the file system's support and aligned offsets. */
static bool migration_check_direct_io(const MigrationAddress *addr,
                                      QIOChannel *ioc, GError **errp)
{
    uint32_t mem_align, off_align;

    if (!migrate_direct_io() || addr->transport != MIG_TRANSPORT_FILE) {
        return true;
    }
    if (!qemu_dio_alignment(qio_channel_get_fd(ioc), addr->path, &mem_align,
                            &off_align, errp)) {
        return false;
    }
    if (TARGET_PAGE_SIZE % off_align || getpagesize() % mem_align) {
        error_setg(errp,
                   "direct-io: the file system of '%s' needs %u-byte "
                   "aligned offsets and %u-byte aligned buffers, more than "
                   "the %llu-byte page",
                   addr->path, off_align, mem_align,
                   (unsigned long long)TARGET_PAGE_SIZE);
        return false;
    }
    if (addr->offset % off_align) {
        error_setg(errp,
                   "direct-io: file offset %" PRIu64 " is not a "
                   "multiple of the file system's direct I/O alignment (%u)",
                   addr->offset, off_align);
        return false;
    }
    return true;
}

/* Open what @addr names and check it is fit for this migration. */
static QIOChannel *migration_open_checked(MigrationState *s,
                                          MigrationAddress *addr, GError **errp)
{
    addr->rewrite = s->checkpoint_incremental;
    QIOChannel *ioc = migration_connect_outgoing(addr, errp);

    if (ioc && !(migration_check_transport(addr, ioc, errp) &&
                 migration_check_direct_io(addr, ioc, errp) &&
                 (!s->checkpoint ||
                  checkpoint_check_file(qio_channel_get_fd(ioc), errp)))) {
        qio_channel_unref(ioc);
        return NULL;
    }
    return ioc;
}

static void migration_fail_early(MigrationState *s, GError *err)
{
    set_error(&s->error_lock, &s->error, g_error_copy(err));
    s->total_time_ms = qemu_clock_ms() - s->start_time_ms;
    migrate_set_state(&s->status, MIGRATION_STATUS_SETUP,
                      MIGRATION_STATUS_FAILED);
}

bool qmp_migrate_start(const char *uri, GError **errp)
{
    MigrationState *s = &current_migration;
    MigrationAddress addr;
    GError *err = NULL;

    if (migration_is_running()) {
        error_setg(errp, "There's a migration process in progress");
        return false;
    }
    if (runstate_get() == RUN_STATE_INMIGRATE) {
        error_setg(errp, "Guest is waiting for an incoming migration");
        return false;
    }
    if (ram_lazy_failed()) {
        /* Reading a page that never came would block forever. */
        error_setg(errp, "Guest RAM is incomplete: its lazy restore failed");
        return false;
    }
    if (!migration_parse_uri(uri, &addr, errp)) {
        migration_address_clear(&addr);
        return false;
    }
    /* QEMU would start a network postcopy; mapmig has none. */
    if (migrate_cap(MIGRATION_CAPABILITY_POSTCOPY_RAM) &&
        addr.transport == MIG_TRANSPORT_SOCKET) {
        error_setg(errp, "Postcopy migration is not supported by mapmig "
                         "(postcopy-ram is only a destination's Fast "
                         "Snapshot Load)");
        migration_address_clear(&addr);
        return false;
    }
    migration_reset(s);
    s->start_time_ms = qemu_clock_ms();
    atomic_store(&s->status, MIGRATION_STATUS_NONE);
    migrate_set_state(&s->status, MIGRATION_STATUS_NONE,
                      MIGRATION_STATUS_SETUP);

    /* Sockets connect in the thread; the checks need no channel there. */
    bool in_thread = addr.transport == MIG_TRANSPORT_SOCKET;
    QIOChannel *ioc = NULL;
    s->checkpoint = migrate_checkpoint();
    if (migration_check_transport(&addr, NULL, &err) &&
        (!s->checkpoint ||
         checkpoint_begin(&addr, &s->checkpoint_incremental, &err)) &&
        (in_thread || (ioc = migration_open_checked(s, &addr, &err)))) {
        s->transport = addr.transport;
    }
    if (err) {
        checkpoint_finish(false, 0);
        migration_address_clear(&addr);
        migration_fail_early(s, err);
        g_propagate_error(errp, err);
        return false;
    }
    if (in_thread) {
        s->connect_path = g_steal_pointer(&addr.path);
    } else {
        migration_set_channel(s, ioc);
    }
    migration_address_clear(&addr);
    s->thread = g_thread_new("mig/src", migration_thread, s);
    return true;
}

void qmp_migrate_cancel_do(void)
{
    MigrationState *s = &current_migration;

    for (;;) {
        int old = atomic_load(&s->status);
        if (old != MIGRATION_STATUS_SETUP && old != MIGRATION_STATUS_ACTIVE &&
            old != MIGRATION_STATUS_DEVICE) {
            return;
        }
        if (migrate_set_state(&s->status, old, MIGRATION_STATUS_CANCELLING)) {
            break;
        }
    }
    /* Unblock a thread stuck writing to a slow peer. */
    if (s->ioc &&
        qio_channel_has_feature(s->ioc, QIO_CHANNEL_FEATURE_SHUTDOWN)) {
        qio_channel_shutdown(s->ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    }
}

/* ---------------------------------------------------------------- */
/* Incoming */

/* The run state the source had: running (unless -S), paused, ... */
static void incoming_start_vm(void)
{
    int rs = global_state_get_runstate();
    if (rs < 0 || rs == RUN_STATE_RUNNING) {
        if (autostart) {
            vm_start();
        } else {
            runstate_set(RUN_STATE_PAUSED);
        }
    } else {
        runstate_set(rs);
    }
}

/* lazy-restore: device state is in, RAM follows while the guest runs. */
static gboolean incoming_resume_bh(gpointer opaque)
{
    MigrationIncomingState *mis = opaque;

    /* Main thread, BQL held.  A failure meanwhile keeps it stopped. */
    if (!ram_lazy_failed() &&
        atomic_load(&mis->status) == MIGRATION_STATUS_POSTCOPY_ACTIVE) {
        mis->resume_time_ms = qemu_clock_ms() - mis->start_time_ms;
        atomic_store(&mis->lazy_resumed, true);
        incoming_start_vm();
    }
    return G_SOURCE_REMOVE;
}

static gboolean incoming_finish_bh(gpointer opaque)
{
    MigrationIncomingState *mis = opaque;
    bool ok = atomic_load(&mis->status) == MIGRATION_STATUS_COMPLETED;

    /* Runs in the main thread with the BQL held. */
    if (!mis->thread) {
        return G_SOURCE_REMOVE; /* joined by migration_shutdown() */
    }
    g_thread_join(mis->thread);
    mis->thread = NULL;
    if (!ok) {
        /*
         * Nothing trustworthy was loaded: the guest must not run.  After
         * a lazy resume its vCPUs may be blocked on pages that will never
         * come, so they are parked without waiting for them.
         */
        bool was_running = runstate_is_running();
        runstate_set(RUN_STATE_INTERNAL_ERROR);
        if (atomic_load(&mis->lazy_resumed)) {
            if (was_running) {
                qapi_event_emit("STOP", NULL);
            }
            ram_lazy_pause_vcpus_async();
        }
        char *desc = get_error_desc(&mis->error_lock, &mis->error);
        error_report("load of migration failed: %s", desc ? desc : "?");
        g_free(desc);
        return G_SOURCE_REMOVE;
    }
    if (!atomic_load(&mis->lazy_resumed)) {
        incoming_start_vm();
    }
    return G_SOURCE_REMOVE;
}

/*
 * lazy-restore: let the guest run, then wait until every page is in.
 * Before the resume, a failure undoes the registration like any failed
 * load; after it, guest RAM stays as it is (see ram-lazy.h).
 */
static bool incoming_lazy_phase(MigrationIncomingState *mis, GError **errp)
{
    if (ram_lazy_failed()) {
        ram_lazy_wait(errp);
        ram_lazy_abort();
        return false;
    }
    migrate_set_state(&mis->status, MIGRATION_STATUS_ACTIVE,
                      MIGRATION_STATUS_POSTCOPY_ACTIVE);
    g_idle_add(incoming_resume_bh, mis);
    g_main_context_wakeup(NULL);
    if (!ram_lazy_wait(errp)) {
        return false;
    }
    ram_lazy_finish();
    /*
     * Consumed, as QEMU's postcopy state: a later save of this VM must
     * not inherit it.  Before "completed", while commands can't set it.
     */
    migrate_cap_clear(MIGRATION_CAPABILITY_LAZY_RESTORE);
    return true;
}

/* Is this connection the main channel (it starts with the file magic)? */
static bool incoming_is_main(QIOChannel *ioc, GError **errp)
{
    uint8_t magic[4];
    ssize_t n;

    do {
        n = recv(qio_channel_get_fd(ioc), magic, 4, MSG_PEEK | MSG_WAITALL);
    } while (n < 0 && errno == EINTR);
    if (n != 4) {
        error_setg(errp, "Incoming connection closed before its first bytes");
        return false;
    }
    return (magic[0] << 24 | magic[1] << 16 | magic[2] << 8 | magic[3]) ==
           0x5145564d;
}

static void incoming_channel_shutdown(QIOChannel *ioc)
{
    if (ioc && qio_channel_has_feature(ioc, QIO_CHANNEL_FEATURE_SHUTDOWN)) {
        qio_channel_shutdown(ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    }
}

/*
 * Incoming thread: publish @ioc (a reference it gives) in *@slot, where
 * migration_shutdown() finds it; after a quit it is shut down at once.
 */
static void incoming_set_channel(MigrationIncomingState *mis, QIOChannel **slot,
                                 QIOChannel *ioc)
{
    g_mutex_lock(&mis->channel_lock);
    *slot = ioc;
    if (mis->quitting) {
        incoming_channel_shutdown(ioc);
    }
    g_mutex_unlock(&mis->channel_lock);
}

/* Incoming thread: withdraw *@slot and drop its reference. */
static void incoming_clear_channel(MigrationIncomingState *mis,
                                   QIOChannel **slot)
{
    QIOChannel *ioc;

    g_mutex_lock(&mis->channel_lock);
    ioc = *slot;
    *slot = NULL;
    g_mutex_unlock(&mis->channel_lock);
    if (ioc) {
        qio_channel_unref(ioc);
    }
}

/* Main thread, at quit: wake the incoming thread wherever it blocks. */
static void incoming_shutdown_channels(MigrationIncomingState *mis)
{
    g_mutex_lock(&mis->channel_lock);
    mis->quitting = true;
    /* A listener wakes from accept() (it has no shutdown feature flag). */
    if (mis->listener) {
        qio_channel_shutdown(mis->listener, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
    }
    incoming_channel_shutdown(mis->pending);
    incoming_channel_shutdown(mis->ioc);
    g_mutex_unlock(&mis->channel_lock);
}

/*
 * Accept the main connection and, with multifd, one per channel; they may
 * come in any order, so each is told apart by its first bytes.
 */
static bool incoming_accept(MigrationIncomingState *mis, GError **errp)
{
    QIOChannelSocket *lsock = (QIOChannelSocket *)mis->listener;
    int want = 1 + (migrate_multifd() ? migrate_params()->multifd_channels : 0);

    for (int i = 0; i < want; i++) {
        QIOChannelSocket *c = qio_channel_socket_accept(lsock, errp);
        if (!c) {
            return false;
        }
        QIOChannel *ioc = &c->parent;
        GError *err = NULL;
        bool ok;

        /* Peeking at its first bytes may block: quit must reach it. */
        incoming_set_channel(mis, &mis->pending, qio_channel_ref(ioc));
        if (!migrate_multifd() || incoming_is_main(ioc, &err)) {
            ok = !err && !mis->ioc;
            if (ok) {
                incoming_set_channel(mis, &mis->ioc, qio_channel_ref(ioc));
            } else if (!err) {
                error_setg(&err, "Second main migration connection");
            }
        } else {
            ok = !err && multifd_recv_new_channel(ioc, &err);
        }
        incoming_clear_channel(mis, &mis->pending);
        qio_channel_unref(ioc);
        if (!ok) {
            g_propagate_error(errp, err);
            return false;
        }
    }
    return true;
}

static gpointer incoming_thread(gpointer opaque)
{
    MigrationIncomingState *mis = opaque;
    GError *err = NULL;
    bool ok = true;

    /* A lazy load reads pages through its own threads. */
    if (migrate_multifd() && !migrate_lazy_restore()) {
        ok = multifd_recv_setup(&err);
    }
    if (mis->listener) {
        ok = ok && incoming_accept(mis, &err);
        incoming_clear_channel(mis, &mis->listener);
    }
    if (!ok) {
        multifd_recv_shutdown();
    } else {
        migrate_set_state(&mis->status, MIGRATION_STATUS_SETUP,
                          MIGRATION_STATUS_ACTIVE);
        QEMUFile *f = qemu_file_new_input(mis->ioc);
        ok = qemu_loadvm_state(f, &err);
        multifd_recv_shutdown();
        qemu_fclose(f, NULL);
        incoming_clear_channel(mis, &mis->ioc);
        if (!ok) {
            ram_lazy_abort();
        } else if (ram_lazy_active()) {
            ok = incoming_lazy_phase(mis, &err);
        }
    }
    mis->total_time_ms = qemu_clock_ms() - mis->start_time_ms;
    if (!ok) {
        set_error(&mis->error_lock, &mis->error, err);
    }
    int old = atomic_load(&mis->status);
    migrate_set_state(&mis->status, old,
                      ok ? MIGRATION_STATUS_COMPLETED
                         : MIGRATION_STATUS_FAILED);
    g_idle_add(incoming_finish_bh, mis);
    return NULL;
}

/* lazy-restore reads pages at their offsets in a file, with userfaultfd. */
static bool migration_check_lazy(const MigrationAddress *addr, GError **errp)
{
    const char *cap = migrate_cap(MIGRATION_CAPABILITY_LAZY_RESTORE)
                          ? "lazy-restore"
                          : "postcopy-ram";

    if (migrate_cap(MIGRATION_CAPABILITY_POSTCOPY_RAM) &&
        !migrate_mapped_ram()) {
        error_setg(errp, "Capability 'postcopy-ram' needs capability "
                         "'mapped-ram' and a file: migration (Fast Snapshot "
                         "Load): mapmig has no network postcopy");
        return false;
    }
    if (!migrate_lazy_restore()) {
        return true;
    }
    if (addr->transport != MIG_TRANSPORT_FILE &&
        addr->transport != MIG_TRANSPORT_FD) {
        error_setg(errp,
                   "Capability '%s' needs a file: (or fd: of a regular "
                   "file) migration",
                   cap);
        return false;
    }
    if (!ram_lazy_supported(errp)) {
        error_prepend(errp, "Lazy restore is not supported");
        return false;
    }
    return ram_lazy_check_blocks(errp);
}

bool qmp_migrate_incoming_start(const char *uri, GError **errp)
{
    MigrationIncomingState *mis = &current_incoming;
    MigrationAddress addr;
    bool is_listener;

    if (mis->status != MIGRATION_STATUS_NONE || mis->thread) {
        error_setg(errp, "The incoming migration has already been started");
        return false;
    }
    if (runstate_get() != RUN_STATE_INMIGRATE) {
        error_setg(errp, "'-incoming' was not specified on the command "
                         "line");
        return false;
    }
    if (!migration_parse_uri(uri, &addr, errp)) {
        migration_address_clear(&addr);
        return false;
    }
    QIOChannel *ioc = NULL;
    bool ok = migration_check_lazy(&addr, errp) &&
              migration_check_transport(&addr, NULL, errp) &&
              (ioc = migration_open_incoming(&addr, &is_listener, errp)) &&
              migration_check_transport(&addr, ioc, errp) &&
              migration_check_direct_io(&addr, ioc, errp);
    if (!ok) {
        if (ioc) {
            qio_channel_unref(ioc);
        }
        migration_address_clear(&addr);
        return false;
    }
    migration_address_clear(&addr);
    mis->uri = g_strdup(uri);
    mis->start_time_ms = qemu_clock_ms();
    if (is_listener) {
        mis->listener = ioc;
    } else {
        mis->ioc = ioc;
    }
    migrate_set_state(&mis->status, MIGRATION_STATUS_NONE,
                      MIGRATION_STATUS_SETUP);
    mis->thread = g_thread_new("mig/dst", incoming_thread, mis);
    return true;
}

bool migration_start_incoming(const char *uri, GError **errp)
{
    runstate_set(RUN_STATE_INMIGRATE);
    if (!strcmp(uri, "defer")) {
        return true;
    }
    return qmp_migrate_incoming_start(uri, errp);
}

/* ---------------------------------------------------------------- */
/* query-migrate */

static void add_int(JsonObject *o, const char *k, int64_t v)
{
    json_object_set_int_member(o, k, v);
}

static JsonObject *ram_info(MigrationState *s, bool done)
{
    JsonObject *ram = json_object_new();
    uint64_t normal = atomic_load(&ram_stats.normal_pages);
    int64_t elapsed =
        (done ? s->total_time_ms : qemu_clock_ms() - s->start_time_ms);

    add_int(ram, "transferred", atomic_load(&ram_stats.transferred));
    add_int(ram, "remaining",
            done ? 0
                 : atomic_load(&ram_stats.remaining_pages) * TARGET_PAGE_SIZE);
    add_int(ram, "total", ram_bytes_total());
    add_int(ram, "duplicate", atomic_load(&ram_stats.zero_pages));
    add_int(ram, "skipped", 0);
    add_int(ram, "normal", normal);
    add_int(ram, "normal-bytes", normal * TARGET_PAGE_SIZE);
    add_int(ram, "dirty-pages-rate", atomic_load(&ram_stats.dirty_pages_rate));
    double mbps = s->mbps;
    if (done && elapsed > 0) {
        mbps = atomic_load(&ram_stats.transferred) * 8.0 / (elapsed * 1000.0);
    }
    json_object_set_double_member(ram, "mbps", mbps);
    add_int(ram, "dirty-sync-count", atomic_load(&ram_stats.dirty_sync_count));
    add_int(ram, "postcopy-requests", 0);
    add_int(ram, "page-size", TARGET_PAGE_SIZE);
    add_int(ram, "multifd-bytes", atomic_load(&ram_stats.multifd_bytes));
    add_int(ram, "pages-per-second",
            !done ? s->pages_per_second
            : elapsed > 0
                ? (normal + atomic_load(&ram_stats.zero_pages)) * 1000 / elapsed
                : 0);
    add_int(ram, "precopy-bytes", atomic_load(&ram_stats.precopy_bytes));
    add_int(ram, "downtime-bytes", atomic_load(&ram_stats.downtime_bytes));
    add_int(ram, "postcopy-bytes", 0);
    add_int(ram, "dirty-sync-missed-zero-copy", 0);
    return ram;
}

/* As QEMU: shown whenever auto-converge is on, 0 until it throttles. */
static void throttle_info(JsonObject *o)
{
    if (migrate_auto_converge()) {
        add_int(o, "cpu-throttle-percentage", cpu_throttle_get_percentage());
    }
}

static JsonObject *query_outgoing(MigrationState *s)
{
    JsonObject *o = json_object_new();
    int st = atomic_load(&s->status);
    bool done = !status_is_active(st);

    json_object_set_string_member(o, "status", migration_status_name(st));
    add_int(o, "total-time",
            done ? s->total_time_ms : qemu_clock_ms() - s->start_time_ms);
    if (st != MIGRATION_STATUS_SETUP) {
        add_int(o, "setup-time", s->setup_time_ms);
    }
    if (st == MIGRATION_STATUS_ACTIVE) {
        add_int(o, "expected-downtime", s->expected_downtime_ms);
    }
    if (st == MIGRATION_STATUS_COMPLETED) {
        add_int(o, "downtime", s->downtime_ms);
    }
    if (s->checkpoint && st != MIGRATION_STATUS_SETUP) {
        JsonObject *c = json_object_new();
        json_object_set_boolean_member(c, "incremental",
                                       s->checkpoint_incremental);
        add_int(c, "dirty-pages", s->checkpoint_dirty_pages);
        json_object_set_object_member(o, "x-checkpoint", c);
    }
    if (st == MIGRATION_STATUS_ACTIVE || st == MIGRATION_STATUS_COMPLETED ||
        st == MIGRATION_STATUS_CANCELLING || st == MIGRATION_STATUS_DEVICE) {
        json_object_set_object_member(o, "ram", ram_info(s, done));
        throttle_info(o);
    }
    char *desc = get_error_desc(&s->error_lock, &s->error);
    if (desc && st == MIGRATION_STATUS_FAILED) {
        json_object_set_string_member(o, "error-desc", desc);
    }
    g_free(desc);
    return o;
}

/*
 * QEMU's [SocketAddress] of the listening socket: {"type": "unix", "path"}
 * or {"type": "inet", "host", "port"}; NULL for other transports.
 */
static JsonArray *incoming_socket_address(const char *uri)
{
    JsonObject *a = json_object_new();
    JsonArray *list = json_array_new();
    const char *colon;

    if (g_str_has_prefix(uri, "unix:")) {
        json_object_set_string_member(a, "type", "unix");
        json_object_set_string_member(a, "path", uri + 5);
    } else if (g_str_has_prefix(uri, "tcp:") &&
               (colon = strrchr(uri + 4, ':'))) {
        g_autofree char *host = g_strndup(uri + 4, colon - (uri + 4));
        json_object_set_string_member(a, "type", "inet");
        json_object_set_string_member(a, "host", host);
        json_object_set_string_member(a, "port", colon + 1);
    } else {
        json_object_unref(a);
        json_array_unref(list);
        return NULL;
    }
    json_array_add_object_element(list, a);
    return list;
}

static JsonObject *query_incoming(MigrationIncomingState *mis)
{
    JsonObject *o = json_object_new();
    int st = atomic_load(&mis->status);

    json_object_set_string_member(o, "status", migration_status_name(st));
    add_int(o, "total-time",
            status_is_active(st) ? qemu_clock_ms() - mis->start_time_ms
                                 : mis->total_time_ms);
    JsonArray *addr = mis->uri ? incoming_socket_address(mis->uri) : NULL;
    if (addr) {
        json_object_set_array_member(o, "socket-address", addr);
    }
    char *desc = get_error_desc(&mis->error_lock, &mis->error);
    if (desc && st == MIGRATION_STATUS_FAILED) {
        json_object_set_string_member(o, "error-desc", desc);
    }
    g_free(desc);
    JsonObject *lazy = ram_lazy_query();
    if (lazy) {
        if (atomic_load(&mis->lazy_resumed)) {
            add_int(lazy, "time-to-resume", mis->resume_time_ms);
        }
        json_object_set_object_member(o, "lazy-restore", lazy);
    }
    return o;
}

JsonObject *migration_query(void)
{
    if (atomic_load(&current_migration.status) != MIGRATION_STATUS_NONE) {
        return query_outgoing(&current_migration);
    }
    if (atomic_load(&current_incoming.status) != MIGRATION_STATUS_NONE) {
        return query_incoming(&current_incoming);
    }
    return json_object_new();
}

static bool options_busy(void)
{
    return migration_is_running();
}

void migration_object_init(void)
{
    g_mutex_init(&current_migration.error_lock);
    g_mutex_init(&current_incoming.error_lock);
    g_mutex_init(&current_incoming.channel_lock);
    migration_options_is_busy = options_busy;
    ram_pass_notify = migration_pass_event;
    /* Section ids as QEMU's -M none: timer 0, ram 2, globalstate 4. */
    savevm_skip_section_id();
    ram_mig_init();
    savevm_skip_section_id();
    global_state_register();
}

void migration_shutdown(void)
{
    MigrationState *s = &current_migration;
    MigrationIncomingState *mis = &current_incoming;

    qmp_migrate_cancel_do();
    if (s->thread) {
        bql_unlock(); /* the thread may need the BQL to finish */
        g_thread_join(s->thread);
        bql_lock();
        s->thread = NULL;
    }
    incoming_shutdown_channels(mis);
    /* Guest RAM is freed after us: the loader must be done with it. */
    ram_lazy_cancel();
    if (mis->thread) {
        g_thread_join(mis->thread);
        mis->thread = NULL;
    }
    ram_lazy_shutdown();
    g_clear_error(&s->error);
    g_clear_error(&mis->error);
    file_cleanup(true);
    file_cleanup(false);
    socket_cleanup();
    g_free(mis->uri);
}
