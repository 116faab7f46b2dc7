/*
 * mapmig-ctl: libvirt-style save and restore of a mapmig VM over QMP.
 *
 *   main.c     command line, signals, finding the mapmig binary
 *   save.c     mapmig-ctl save, and the pieces checkpoint.c shares
 *   checkpoint.c  mapmig-ctl checkpoint (A/B images in a directory)
 *   restore.c  mapmig-ctl restore (a file, or a checkpoint directory)
 *   vmctl.c    QMP policy: capabilities, waiting for a migration (on
 *              the shared client of include/qemu/vm-client.h)
 *   pump.c     data pumps (pipe/file, zstd, O_DIRECT, sparse) in a thread
 *   guard.c    the guardian process that cleans up if we are killed
 *   progress.c the progress line on a terminal
 */
#ifndef TOOLS_CTL_CTL_H
#define TOOLS_CTL_CTL_H

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/qmp-client.h"
#include "qemu/vm-client.h"

#include <signal.h>

/* ---- main.c ---- */

/* How long to wait for a VM's QMP socket to answer. */
#define CTL_CONNECT_MS 3000

/* Set by SIGINT/SIGTERM/SIGHUP: the operation should cancel itself. */
extern volatile sig_atomic_t ctl_interrupted;
/* The signal that interrupted us (for the message and exit status). */
extern volatile sig_atomic_t ctl_signal;

/* Print @o as one line of JSON on stdout (takes @o). */
void ctl_print_json(JsonObject *o);

/* ---- progress.c ---- */

typedef struct Progress {
    bool enabled; /* stderr is a terminal and not --quiet */
    const char *what;
    int64_t start_ms;
    int64_t last_ms;
    bool drawn; /* a line is on the screen */
} Progress;

void progress_init(Progress *p, const char *what, bool enabled);
/* Redraw (at most 5 times a second): done/total, MB/s, ETA. */
void progress_update(Progress *p, uint64_t done, uint64_t total);
/* Erase the line. */
void progress_done(Progress *p);

/* ---- vmctl.c ---- */

/*
 * Whether capability @name concerns only the destination of a load
 * (lazy-restore, x-checksums): never recorded in an image.
 */
bool vmctl_cap_is_destination_only(const char *name);

/*
 * Whether capability @name, on in a VM being saved, goes into the image
 * for the destination to set: not those mapmig-ctl sets from the image's
 * format (events, mapped-ram, multifd), nor a source's own (x-checkpoint,
 * auto-converge), nor the destination-only ones.
 */
bool vmctl_cap_is_recorded(const char *name);

/* Turn capability @name on or off. */
bool vmctl_set_cap(QMPClient *c, const char *name, bool on, GError **errp);

/*
 * The capabilities and parameters a save or restore changes, remembered
 * so the VM gets its own back afterwards.
 */
typedef struct VmctlSaved {
    JsonNode *caps;   /* query-migrate-capabilities */
    JsonNode *params; /* query-migrate-parameters */
} VmctlSaved;

bool vmctl_remember(QMPClient *c, VmctlSaved *s, GError **errp);
/* Best effort: set back what vmctl_remember saw. */
void vmctl_restore(QMPClient *c, VmctlSaved *s);
void vmctl_saved_clear(VmctlSaved *s);

/*
 * Best effort, after a save that did not complete (the migration is
 * over): close the descriptor @fdname (NULL: none), resume the VM if
 * @resume and it is paused or in postmigrate, set back @saved (NULL:
 * leave the settings).
 */
void vmctl_give_back(QMPClient *c, bool resume, const char *fdname,
                     VmctlSaved *saved);

/* migrate to @uri, the queued events dropped first. */
bool vmctl_migrate(QMPClient *c, const char *uri, GError **errp);

/*
 * Cancel the migration in flight and wait for its end, even when
 * interrupted (it clears ctl_interrupted).
 */
void vmctl_cancel_and_wait(QMPClient *c);

/*
 * auto-converge for a live save or checkpoint, as virsh migrate
 * --auto-converge[-initial|-increment]: the VM throttles a guest that
 * dirties pages faster than they are sent.
 */
typedef struct CtlConverge {
    bool on;
    int initial;   /* cpu-throttle-initial 1..99, 0: the VM's own */
    int increment; /* cpu-throttle-increment 1..99, 0: the VM's own */
} CtlConverge;

/* How the VM should migrate: the capabilities mapmig-ctl controls. */
typedef struct MigSetup {
    bool mapped;  /* mapped-ram */
    int channels; /* multifd channels; multifd is on if > 1 or direct_io */
    bool direct_io;
    bool checksums;                /* x-checksums (mapped only) */
    bool checkpoint;               /* x-checkpoint (mapped only) */
    uint64_t max_bandwidth;        /* bytes/s, 0 = unlimited */
    CtlConverge converge;          /* off unless asked */
    const char *const *extra_caps; /* more capabilities to turn on */
} MigSetup;

/*
 * Set events on and the capabilities and parameters for @m (the others
 * mapmig-ctl owns off).
 */
bool vmctl_setup_migration(QMPClient *c, const MigSetup *m, GError **errp);

/* Called while waiting, about every 200 ms. */
typedef void (*VmctlTick)(void *opaque, QMPClient *c);

/*
 * Wait for the MIGRATION event with a final status (completed, failed,
 * cancelled).  Cancels the migration (once) when ctl_interrupted is set
 * or @should_cancel returns true; with @abort_on_interrupt, returns at
 * once when interrupted instead (an incoming migration cannot be
 * cancelled).  Returns the final status (g_free); for "failed", *errp
 * holds query-migrate's error-desc.  NULL with errp if the VM went away.
 */
char *vmctl_wait_migration(QMPClient *c, VmctlTick tick, void *opaque,
                           bool (*should_cancel)(void *opaque),
                           bool abort_on_interrupt, GError **errp);
/* The same, but also returns when the status becomes @stop_at. */
char *vmctl_wait_migration_until(QMPClient *c, const char *stop_at,
                                 VmctlTick tick, void *opaque,
                                 bool (*should_cancel)(void *opaque),
                                 bool abort_on_interrupt, GError **errp);

/* ---- pump.c ---- */

typedef enum PumpCodec {
    PUMP_COPY,
    PUMP_COMPRESS,   /* zstd */
    PUMP_DECOMPRESS, /* zstd */
} PumpCodec;

typedef enum PumpSinkKind {
    PUMP_SINK_PIPE,   /* write to a pipe */
    PUMP_SINK_FILE,   /* write a file from an offset */
    PUMP_SINK_SPARSE, /* same, leaving zero pages as holes */
} PumpSinkKind;

/*
 * Moves bytes from a pipe or a file range through a codec into a pipe or
 * a file, in its own thread.  Fill the fields, then pump_start().
 */
typedef struct Pump {
    /* source: a pipe (until EOF) or the range [in_pos, in_end) of a file */
    int in_fd;
    bool in_is_pipe;
    uint64_t in_pos, in_end;
    bool in_direct;     /* in_fd has O_DIRECT: aligned reads */
    bool in_skip_holes; /* don't read holes, they are zeros */
    bool in_punch;      /* punch holes behind the reader */
    /* codec */
    PumpCodec codec;
    int level;           /* zstd level */
    uint64_t out_expect; /* decompress: exact output size, 0 = any */
    /* sink */
    PumpSinkKind sink;
    int out_fd;
    uint64_t out_pos; /* file sinks: where to start */
    bool out_direct;  /* out_fd has O_DIRECT: aligned writes */

    /* progress, read by other threads */
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    _Atomic bool cancel;
    _Atomic bool finished;
    bool peer_closed;   /* the pipe's reader went away (EPIPE) */
    bool was_cancelled; /* it stopped because of @cancel */
    /* private */
    GThread *thread;
    GError *err;
} Pump;

void pump_start(Pump *p);
/* Wait for the thread; false with the pump's error. */
bool pump_join(Pump *p, GError **errp);
/* Whether the pump stopped with an error (it keeps it for pump_join). */
bool pump_failed(Pump *p);
/* Whether zstd is compiled in. */
bool pump_have_zstd(void);

/* ---- guard.c ---- */

/*
 * A guardian process outlives a SIGKILLed mapmig-ctl and undoes what it
 * left half done: cancels the migration and resumes the VM (save), kills
 * the VM it was starting (restore), removes temporary files.  It exits
 * quietly once told "done".
 */
typedef struct Guard {
    pid_t pid;
    int fd; /* write end of the pipe to the guardian; -1 when released */
} Guard;

typedef struct GuardPlan {
    const char *qmp_path;  /* save: the VM to cancel/resume */
    bool resume;           /* save: cont it if it ends up paused */
    VmctlSaved *saved;     /* save: its capabilities and parameters */
    const char *fdname;    /* save: getfd name to close */
    const char *unlink[4]; /* temporary files (NULL-terminated) */
    const char *rmdir;     /* a directory to remove if empty */
} GuardPlan;

bool guard_start(Guard *g, const GuardPlan *plan, GError **errp);
/* Restore: the VM being started (SIGKILLed if we die before "done"). */
void guard_set_vm_pid(Guard *g, pid_t pid);
/* We are done (whatever the result): the guardian exits doing nothing. */
void guard_release(Guard *g);

/* ---- save.c / restore.c ---- */

typedef struct SaveOptions {
    const char *qmp_path;
    const char *file;
    bool mapped;
    int channels;
    bool bypass_cache;
    bool zstd;
    int zstd_level;
    int run_override;       /* -1: as the VM is, 0: --paused, 1: --running */
    bool live;              /* keep the guest running while saving */
    uint64_t max_bandwidth; /* bytes/s, 0 = unlimited */
    CtlConverge converge;   /* --auto-converge* (needs live) */
    bool keep_vm;           /* leave the VM paused instead of quitting it */
    bool quiet;
    bool json; /* --output json: the summary as one object on stdout */
} SaveOptions;

int ctl_save(const SaveOptions *o);

/* The VM must be able to migrate out: not migrating, not a destination. */
bool save_check_vm(QMPClient *c, bool *was_running, GError **errp);

/*
 * An image's configuration as JSON text (g_free): {"vm": x-query-vm-config,
 * "save": @save with the tool's name and the capabilities a destination
 * needs, "checkpoint": @checkpoint if not NULL}.  Takes @save and
 * @checkpoint; *ram_total is the VM's RAM.
 */
char *save_image_config_text(QMPClient *c, JsonObject *save,
                             JsonObject *checkpoint, uint64_t *ram_total,
                             GError **errp);

/*
 * --bypass-cache: whether the file system of @fd (@path, in @dir) takes
 * O_DIRECT with a stream at @offset.
 */
bool save_check_direct_io(int fd, const char *path, const char *dir,
                          uint64_t offset, GError **errp);

/* Redraw @p from query-migrate's RAM figures (a tick while migrating). */
void save_progress_tick(Progress *p, QMPClient *c);

/* fsync the directory @dir, so a rename in it is durable. */
bool ctl_sync_dir(const char *dir, GError **errp);

typedef struct CheckpointOptions {
    const char *qmp_path;
    const char *dir;
    double interval; /* seconds from one checkpoint's start to the next */
    int count;
    int channels;
    bool bypass_cache;
    uint64_t max_bandwidth; /* bytes/s, 0 = unlimited */
    CtlConverge converge;   /* --auto-converge* */
    bool quiet;
    bool json; /* --output json: one object a checkpoint on stdout */
} CheckpointOptions;

int ctl_checkpoint(const CheckpointOptions *o);

typedef struct RestoreOptions {
    const char *file;
    /*
     * A checkpoint: the header must carry this generation and checksum
     * (the file is the image restore_pick_checkpoint() chose).
     */
    uint64_t generation;
    uint32_t header_crc;
    const char *qmp_path; /* NULL: a new temporary directory */
    const char *mapmig;   /* the binary */
    int channels;         /* 0: as saved */
    bool bypass_cache;
    bool lazy; /* resume before RAM is loaded (lazy-restore capability) */
    bool json; /* --output json: the summary as one object on stdout */
    int run_override; /* -1: as saved, 0: --paused, 1: --running */
    bool quiet;
    /*
     * More capabilities for the destination (NULL-terminated), e.g. for
     * a lazy restore; and more mapmig options (after "--").
     */
    const char *const *extra_caps;
    char **extra_args;
} RestoreOptions;

int ctl_restore(const RestoreOptions *o);

/*
 * restore DIR [--generation G]: the image to restore from the checkpoint
 * directory @dir (g_free), with ro->generation and ro->header_crc set for
 * ctl_restore to check again once it opened it.  NULL with the reason.
 */
char *restore_pick_checkpoint(const char *dir, uint64_t generation,
                              RestoreOptions *ro, GError **errp);

#endif
