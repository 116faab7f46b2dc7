/*
 * Run states (QEMU's names), the big lock and VM stop/start.
 */
#ifndef SYSTEM_RUNSTATE_H
#define SYSTEM_RUNSTATE_H

#include "qemu/osdep.h"

typedef enum RunState {
    RUN_STATE_PRELAUNCH,
    RUN_STATE_RUNNING,
    RUN_STATE_PAUSED,
    RUN_STATE_INMIGRATE,
    RUN_STATE_POSTMIGRATE,
    RUN_STATE_FINISH_MIGRATE,
    RUN_STATE_RESTORE_VM,
    RUN_STATE_SAVE_VM,
    RUN_STATE_SHUTDOWN,
    RUN_STATE_INTERNAL_ERROR,
    RUN_STATE_IO_ERROR,
    RUN_STATE__MAX
} RunState;

const char *runstate_name(RunState s);
/* -1 if @name is not a run state. */
int runstate_from_name(const char *name);
RunState runstate_get(void);
void runstate_set(RunState s);
bool runstate_is_running(void);

/*
 * Stop the vCPUs and enter @state (emits STOP if they were running).
 * Returns once every vCPU is parked.  Caller holds the BQL.
 */
void vm_stop(RunState state);
/* Enter RUNNING and let the vCPUs go (emits RESUME).  BQL held. */
void vm_start(void);
/* Like vm_stop() but without an event or state change if stopped. */
void vm_stop_force_state(RunState state);

/* The big lock: held by the main loop except while it polls. */
void bql_lock(void);
void bql_unlock(void);
bool bql_locked(void);

/* Why the VM shuts down: the SHUTDOWN event's "reason" (QEMU's names). */
typedef enum ShutdownCause {
    SHUTDOWN_CAUSE_NONE,
    SHUTDOWN_CAUSE_HOST_ERROR,    /* "host-error" */
    SHUTDOWN_CAUSE_HOST_QMP_QUIT, /* "host-qmp-quit": quit (QMP or HMP) */
    SHUTDOWN_CAUSE_HOST_SIGNAL,   /* "host-signal": SIGINT/TERM/HUP */
} ShutdownCause;

const char *shutdown_cause_name(ShutdownCause cause);

/* Ask the main loop to exit (quit, signals). Thread safe. */
void qemu_system_shutdown_request(ShutdownCause cause);
bool qemu_system_shutdown_requested(void);
/* The cause of the first request (NONE if none). */
ShutdownCause qemu_system_shutdown_cause(void);

/* -S given: do not start vCPUs after start-up or an incoming migration. */
extern bool autostart;

#endif
