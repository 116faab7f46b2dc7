/*
 * QMP events, decoupled from the monitor: subsystems (migration, system)
 * announce events here; the monitor installs the emitter that delivers
 * them to QMP clients.  Thread safe.
 */
#ifndef QAPI_EVENTS_H
#define QAPI_EVENTS_H

#include "qemu/osdep.h"
#include <json-glib/json-glib.h>

typedef void (*QAPIEventEmitter)(const char *name, JsonObject *data);

void qapi_event_set_emitter(QAPIEventEmitter emit);
/* @data is consumed (may be NULL). */
void qapi_event_emit(const char *name, JsonObject *data);

#endif
