/*
 * MigrationState and MigrationIncomingState: the state machine, the
 * migration thread and the transports.
 */
#ifndef MIGRATION_MIGRATION_H
#define MIGRATION_MIGRATION_H

#include "io/channel.h"
#include "migration/qemu-file.h"
#include "system/runstate.h"

typedef enum MigrationStatus {
    MIGRATION_STATUS_NONE,
    MIGRATION_STATUS_SETUP,
    MIGRATION_STATUS_CANCELLING,
    MIGRATION_STATUS_CANCELLED,
    MIGRATION_STATUS_ACTIVE,
    MIGRATION_STATUS_COMPLETED,
    MIGRATION_STATUS_FAILED,
    MIGRATION_STATUS_DEVICE,
    /* Destination: the guest runs while RAM loads lazily (ram-lazy.c). */
    MIGRATION_STATUS_POSTCOPY_ACTIVE,
    MIGRATION_STATUS__MAX
} MigrationStatus;

const char *migration_status_name(MigrationStatus s);

typedef struct MigrationState {
    _Atomic int status;    /* MigrationStatus */
    GThread *thread;       /* migration thread, joined by cleanup */
    QEMUFile *to_dst_file; /* migration thread while running */
    QIOChannel *ioc;       /* main channel, for cancel; BQL, NULL once closed */
    int transport;         /* MIG_TRANSPORT_*, set before the thread */
    /*
     * unix:/tcp:, as QEMU: the thread connects, so that migrate returns
     * at once and a refused connection fails the migration (g_free'd
     * path, owned by the thread once started).
     */
    char *connect_path;
    GMutex error_lock;
    GError *error; /* first error, guarded by error_lock */
    int64_t start_time_ms;
    int64_t setup_time_ms;
    int64_t total_time_ms; /* final, once finished */
    int64_t downtime_ms;
    /* Figures of the last rate window (migration thread; query reads). */
    int64_t expected_downtime_ms;
    double mbps;
    uint64_t pages_per_second;
    uint64_t threshold_bytes;
    bool vm_was_running;
    /* x-checkpoint: a checkpoint save, rewriting its image in place */
    bool checkpoint;
    bool checkpoint_incremental;
    uint64_t checkpoint_dirty_pages; /* to send, at the start */
    uint64_t stream_end;             /* file: where the stream ended */
    /* rate limiting window (migration thread) */
    int64_t rate_window_start_ns;
    uint64_t rate_window_start_bytes;
    uint64_t rate_window_start_pages;
    uint64_t rate_window_start_rate_bytes; /* migration_rate_bytes() */
} MigrationState;

typedef struct MigrationIncomingState {
    _Atomic int status;
    GThread *thread;
    /*
     * The channels the incoming thread may block on.  channel_lock guards
     * the pointers (not the channels) against migration_shutdown(), which
     * shuts them down from the main thread while the thread drops them.
     */
    GMutex channel_lock;
    QIOChannel *listener; /* unix:/tcp: before accept */
    QIOChannel *pending;  /* an accepted connection not told apart yet */
    QIOChannel *ioc;
    bool quitting; /* guarded by channel_lock: shut new channels at once */
    char *uri;
    GMutex error_lock;
    GError *error;
    int64_t start_time_ms;
    int64_t total_time_ms;
    /* lazy-restore: the guest was started before RAM was in */
    _Atomic bool lazy_resumed;
    int64_t resume_time_ms; /* migrate-incoming to resume */
} MigrationIncomingState;

MigrationState *migrate_get_current(void);
MigrationIncomingState *migration_incoming_get_current(void);

/* Has the migration thread used up this window's bandwidth? */
bool migration_rate_exceeded(void);
bool migration_is_running(void);

/* URI → channel (migration/channel.c). */
typedef struct MigrationAddress {
    enum {
        MIG_TRANSPORT_FILE,
        MIG_TRANSPORT_EXEC,
        MIG_TRANSPORT_SOCKET,
        MIG_TRANSPORT_FD
    } transport;
    char *path;      /* file path, command, socket address or fd name */
    uint64_t offset; /* file: */
    bool rewrite;    /* file: keep the contents (x-checkpoint) */
} MigrationAddress;

bool migration_parse_uri(const char *uri, MigrationAddress *addr,
                         GError **errp);
void migration_address_clear(MigrationAddress *addr);
QIOChannel *migration_connect_outgoing(const MigrationAddress *addr,
                                       GError **errp);
/* Opens file/exec/fd at once; for sockets returns the listener. */
QIOChannel *migration_open_incoming(const MigrationAddress *addr,
                                    bool *is_listener, GError **errp);

/*
 * Descriptors passed to the monitor (migration/fd.c).  The fd: transport:
 * a channel on the fd named @fdname by getfd, or an inherited fd number;
 * the channel owns the fd.
 */
QIOChannel *fd_open_channel(const char *fdname, GError **errp);
/* open() that understands /dev/fdset/N (QEMU's qemu_open). */
struct QIOChannelFile;
struct QIOChannelFile *migration_file_open(const char *path, int flags,
                                           mode_t mode, GError **errp);

/* global_state.c */
void global_state_register(void);
void global_state_store(void);
void global_state_reset(void);
int global_state_get_runstate(void);

/* HMP commands (migration-hmp-cmds.c). */
void migration_hmp_register_commands(void);
/* query-migrate as JSON (shared by QMP and HMP). */
struct _JsonObject;
struct _JsonObject *migration_query(void);

bool qmp_migrate_start(const char *uri, GError **errp);
bool qmp_migrate_incoming_start(const char *uri, GError **errp);
void qmp_migrate_cancel_do(void);

#endif
