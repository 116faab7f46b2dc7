/*
 * The tools' side of a mapmig VM: start it, connect to its QMP socket,
 * drive and wait for a migration, stop it.  Shared by mapmig-ctl,
 * mapmig-perf and mapmig-demo; built on the blocking QMP client.
 */
#ifndef QEMU_VM_CLIENT_H
#define QEMU_VM_CLIENT_H

#include "qemu/osdep.h"
#include "qapi/qmp-client.h"

#include <signal.h>

typedef enum VMClientSpawnFlags {
    /*
     * A new session, and no SIGKILL when we die: the VM does not get our
     * terminal's signals and lives on after we exit.
     */
    VM_CLIENT_SPAWN_DETACH = 1u << 0,
} VMClientSpawnFlags;

/*
 * Run @argv (argv[0] a path, or a name looked up in PATH) in a child
 * process with stdin from /dev/null and stdout and stderr going to a new
 * @log file (NULL: ours).  Unless @flags has VM_CLIENT_SPAWN_DETACH, the
 * child gets SIGKILL when we die.  Returns the pid, or -1 with errp if the
 * log or the process could not be created; a failed exec shows as exit
 * status 127 (vm_client_connect() reports it).
 */
pid_t vm_client_spawn(char *const *argv, const char *log, unsigned flags,
                      GError **errp);

/*
 * Connect to the QMP socket @path of a VM that may still be starting,
 * retrying for up to @timeout_ms.  When @pid > 0 (a VM we started), give
 * up as soon as it exits (and reap it).  When @interrupted (may be NULL)
 * becomes non-zero, give up with the last connection error.
 */
QMPClient *vm_client_connect(const char *path, int timeout_ms, pid_t pid,
                             const volatile sig_atomic_t *interrupted,
                             GError **errp);

/*
 * Ask the VM @pid to quit (through @c, if not NULL), wait up to
 * @timeout_ms for it to exit, then SIGKILL it.  *@status (may be NULL)
 * gets its wait status (0 if someone else reaped it).  Returns true if it
 * exited by itself.
 */
bool vm_client_quit(QMPClient *c, pid_t pid, int timeout_ms, int *status);

/* Execute @cmd with @args (consumed, may be NULL) and drop the reply. */
bool vm_client_exec(QMPClient *c, const char *cmd, JsonObject *args,
                    GError **errp);
/* The same for a command given as JSON text with printf formatting. */
bool vm_client_cmd(QMPClient *c, GError **errp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* query-status: the run state (g_free) and, if @running, whether it runs. */
char *vm_client_status(QMPClient *c, bool *running, GError **errp);

/* Append {capability: @name, state: @on} to a capabilities list. */
void vm_client_add_cap(JsonArray *caps, const char *name, bool on);

/* migrate-set-capabilities with @caps (consumed). */
bool vm_client_set_caps(QMPClient *c, JsonArray *caps, GError **errp);

/* Whether a migration status is one a migration ends in. */
bool vm_client_migration_is_final(const char *status);

/*
 * Called with every query-migrate reply that is not final; returns false
 * with errp set to end the wait (time-out, ...).
 */
typedef bool (*VMClientPollFn)(void *opaque, JsonNode *reply, GError **errp);

/*
 * Poll query-migrate every @interval_us until the migration ends.
 * Returns the "completed" reply (caller unrefs); NULL with errp on
 * "migration failed[: error-desc]" (or cancelled), on a QMP error
 * ("query-migrate: ..."), or when @poll (may be NULL) ends the wait.
 */
JsonNode *vm_client_poll_migration(QMPClient *c, unsigned interval_us,
                                   VMClientPollFn poll, void *opaque,
                                   GError **errp);

/*
 * Called after @tick_ms without a MIGRATION event; returns false with
 * errp set to end the wait.
 */
typedef bool (*VMClientTickFn)(void *opaque, QMPClient *c, GError **errp);

/*
 * Wait for MIGRATION events until the status is final or is @stop_at (may
 * be NULL).  Returns that status (g_free); NULL with errp if the VM went
 * away or @tick (may be NULL) ended the wait.
 */
char *vm_client_wait_migration_event(QMPClient *c, const char *stop_at,
                                     int tick_ms, VMClientTickFn tick,
                                     void *opaque, GError **errp);

#endif
