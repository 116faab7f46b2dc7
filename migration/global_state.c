/*
 * The "globalstate" section: the source's run state, so the destination
 * can decide whether to start the guest (QEMU's global_state.c).
 */
#include "qemu/osdep.h"
#include "migration/migration.h"
#include "migration/vmstate.h"

typedef struct GlobalState {
    uint32_t size;
    uint8_t runstate[100];
    bool received;
} GlobalState;

static GlobalState global_state;

void global_state_store(void)
{
    const char *name = runstate_name(runstate_get());

    memset(global_state.runstate, 0, sizeof(global_state.runstate));
    g_strlcpy((char *)global_state.runstate, name,
              sizeof(global_state.runstate));
    global_state.size = strlen(name) + 1;
}

static int global_state_pre_save(void *opaque)
{
    /* A stream saved without global_state_store() says where we are. */
    if (!global_state.size) {
        global_state_store();
    }
    return 0;
}

static bool global_state_post_load(void *opaque, int version_id, GError **errp)
{
    GlobalState *s = opaque;

    if (s->size == 0 || s->size > sizeof(s->runstate) ||
        s->runstate[s->size - 1] != 0) {
        error_setg(errp, "globalstate: invalid run state size %u", s->size);
        return false;
    }
    if (runstate_from_name((char *)s->runstate) < 0) {
        error_setg(errp, "globalstate: unknown run state '%s'",
                   (char *)s->runstate);
        return false;
    }
    s->received = true;
    return true;
}

static const VMStateField global_state_fields[] = {
    VMSTATE_UINT32(size, GlobalState),
    VMSTATE_BUFFER(runstate, GlobalState),
    VMSTATE_END_OF_LIST(),
};

static const VMStateDescription vmstate_globalstate = {
    .name = "globalstate",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = global_state_fields,
    .pre_save = global_state_pre_save,
    .post_load = global_state_post_load,
};

void global_state_register(void)
{
    vmstate_register(NULL, 0, &vmstate_globalstate, &global_state);
}

/* The run state received, or -1 if the stream had none. */
int global_state_get_runstate(void)
{
    if (!global_state.received) {
        return -1;
    }
    return runstate_from_name((char *)global_state.runstate);
}

void global_state_reset(void)
{
    global_state.size = 0;
    global_state.received = false;
}
