/*
 * Run states, the big lock and stopping/starting the VM.
 */
#include "qemu/osdep.h"
#include "qapi/events.h"
#include "system/cpus.h"
#include "system/runstate.h"

static const char *const runstate_names[RUN_STATE__MAX] = {
    [RUN_STATE_PRELAUNCH] = "prelaunch",
    [RUN_STATE_RUNNING] = "running",
    [RUN_STATE_PAUSED] = "paused",
    [RUN_STATE_INMIGRATE] = "inmigrate",
    [RUN_STATE_POSTMIGRATE] = "postmigrate",
    [RUN_STATE_FINISH_MIGRATE] = "finish-migrate",
    [RUN_STATE_RESTORE_VM] = "restore-vm",
    [RUN_STATE_SAVE_VM] = "save-vm",
    [RUN_STATE_SHUTDOWN] = "shutdown",
    [RUN_STATE_INTERNAL_ERROR] = "internal-error",
    [RUN_STATE_IO_ERROR] = "io-error",
};

static _Atomic int current_run_state = RUN_STATE_PRELAUNCH;
static GMutex bql;
static __thread bool bql_held;
static atomic_bool shutdown_requested;
bool autostart = true;

const char *runstate_name(RunState s)
{
    return s < RUN_STATE__MAX ? runstate_names[s] : "unknown";
}

int runstate_from_name(const char *name)
{
    for (int i = 0; i < RUN_STATE__MAX; i++) {
        if (!g_strcmp0(runstate_names[i], name)) {
            return i;
        }
    }
    return -1;
}

RunState runstate_get(void)
{
    return atomic_load(&current_run_state);
}

void runstate_set(RunState s)
{
    atomic_store(&current_run_state, s);
}

bool runstate_is_running(void)
{
    return runstate_get() == RUN_STATE_RUNNING;
}

void vm_stop_force_state(RunState state)
{
    pause_all_vcpus();
    runstate_set(state);
}

void vm_stop(RunState state)
{
    bool was_running = runstate_is_running();

    pause_all_vcpus();
    runstate_set(state);
    if (was_running) {
        qapi_event_emit("STOP", NULL);
    }
}

void vm_start(void)
{
    if (runstate_is_running()) {
        return;
    }
    runstate_set(RUN_STATE_RUNNING);
    resume_all_vcpus();
    qapi_event_emit("RESUME", NULL);
}

void bql_lock(void)
{
    g_assert(!bql_held);
    g_mutex_lock(&bql);
    bql_held = true;
}

void bql_unlock(void)
{
    g_assert(bql_held);
    bql_held = false;
    g_mutex_unlock(&bql);
}

bool bql_locked(void)
{
    return bql_held;
}

static _Atomic int shutdown_cause = SHUTDOWN_CAUSE_NONE;

const char *shutdown_cause_name(ShutdownCause cause)
{
    static const char *const names[] = {
        [SHUTDOWN_CAUSE_NONE] = "none",
        [SHUTDOWN_CAUSE_HOST_ERROR] = "host-error",
        [SHUTDOWN_CAUSE_HOST_QMP_QUIT] = "host-qmp-quit",
        [SHUTDOWN_CAUSE_HOST_SIGNAL] = "host-signal",
    };
    return cause < G_N_ELEMENTS(names) ? names[cause] : "none";
}

void qemu_system_shutdown_request(ShutdownCause cause)
{
    int none = SHUTDOWN_CAUSE_NONE;

    /* The first cause wins, as the event reports one. */
    atomic_compare_exchange_strong(&shutdown_cause, &none, (int)cause);
    atomic_store(&shutdown_requested, true);
    g_main_context_wakeup(NULL);
}

ShutdownCause qemu_system_shutdown_cause(void)
{
    return atomic_load(&shutdown_cause);
}

bool qemu_system_shutdown_requested(void)
{
    return atomic_load(&shutdown_requested);
}
