#include "qemu/osdep.h"
#include "qapi/events.h"

static QAPIEventEmitter emitter;

void qapi_event_set_emitter(QAPIEventEmitter emit)
{
    emitter = emit;
}

void qapi_event_emit(const char *name, JsonObject *data)
{
    if (emitter) {
        emitter(name, data);
    } else if (data) {
        json_object_unref(data);
    }
}
