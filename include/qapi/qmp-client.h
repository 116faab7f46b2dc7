/*
 * A small blocking QMP client, for the tools (mapmig-ctl, mapmig-perf,
 * the demo) and the tests.  One JSON message per line, as QEMU sends it.
 */
#ifndef QAPI_QMP_CLIENT_H
#define QAPI_QMP_CLIENT_H

#include "qemu/osdep.h"
#include <json-glib/json-glib.h>

typedef struct QMPClient QMPClient;

/*
 * Connect to the UNIX socket @path, retrying for up to @timeout_ms while
 * it does not exist yet, read the greeting and negotiate capabilities.
 */
QMPClient *qmp_client_connect(const char *path, int timeout_ms, GError **errp);
void qmp_client_free(QMPClient *c);

/*
 * The process at the other end of the socket (SO_PEERCRED), 0 if the
 * kernel does not say (another pid namespace).
 */
pid_t qmp_client_peer_pid(QMPClient *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(QMPClient, qmp_client_free)

/*
 * Execute @cmd with @args (consumed; may be NULL).  Returns the "return"
 * value (caller frees), or NULL with *errp set to the error's desc (the
 * class is in the GError's code as ErrorClass).  Events that arrive
 * meanwhile are queued.  @fd >= 0 is sent along with SCM_RIGHTS.
 */
JsonNode *qmp_client_cmd(QMPClient *c, const char *cmd, JsonObject *args,
                         GError **errp);
JsonNode *qmp_client_cmd_fd(QMPClient *c, const char *cmd, JsonObject *args,
                            int fd, GError **errp);
/*
 * Execute a command given as JSON text with printf formatting, e.g.
 * qmp_client_cmdf(c, &err, "{'execute': 'stop'}") (single quotes allowed).
 */
JsonNode *qmp_client_cmdf(QMPClient *c, GError **errp, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);
/* Send raw bytes (tests of bad input) and read the next reply object. */
JsonObject *qmp_client_raw(QMPClient *c, const char *text, GError **errp);

/*
 * Wait for event @name (NULL: any) for up to @timeout_ms (-1 forever).
 * Returns the whole event object (caller unrefs), NULL on time-out.
 */
JsonObject *qmp_client_wait_event(QMPClient *c, const char *name,
                                  int timeout_ms, GError **errp);
/* Drop queued events. */
void qmp_client_clear_events(QMPClient *c);

/* Convenience: an object member as string/int from a return value. */
const char *qmp_get_str(JsonNode *n, const char *member);
int64_t qmp_get_int(JsonNode *n, const char *member);

#endif
