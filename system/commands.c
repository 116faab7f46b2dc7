/*
 * System QMP and HMP commands: status, stop/cont, quit, RAM digests and
 * the workload's progress.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "hw/workload.h"
#include "monitor/monitor.h"
#include "system/ram-pattern.h"
#include "system/runstate.h"
#include "system/system.h"
#include "system/vm-config.h"

static JsonNode *qmp_query_status(Monitor *mon, JsonObject *args, GError **errp)
{
    JsonObject *o = json_object_new();
    json_object_set_boolean_member(o, "running", runstate_is_running());
    json_object_set_string_member(o, "status", runstate_name(runstate_get()));
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

/* As QEMU: {"name": NAME} with -name, else {}. */
static JsonNode *qmp_query_name(Monitor *mon, JsonObject *args, GError **errp)
{
    JsonObject *o = json_object_new();
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    if (current_machine && current_machine->name) {
        json_object_set_string_member(o, "name", current_machine->name);
    }
    json_node_take_object(n, o);
    return n;
}

static bool do_stop(GError **errp)
{
    if (runstate_get() == RUN_STATE_INMIGRATE) {
        error_setg(errp, "Cannot stop the VM while an incoming migration "
                         "is in progress");
        return false;
    }
    if (runstate_is_running()) {
        vm_stop(RUN_STATE_PAUSED);
    } else if (runstate_get() == RUN_STATE_PRELAUNCH) {
        /* As QEMU: stop before start means the VM stays paused. */
        autostart = false;
    }
    return true;
}

/*
 * As QEMU's qmp_cont: while an incoming migration loads, cont only
 * records that the guest must run once it is in (the end of the load
 * reads autostart, see migration.c's incoming_start_vm); a stream of a
 * paused source still ends paused.  Only a source stopping for its
 * switchover refuses it.
 */
static bool do_cont(GError **errp)
{
    switch (runstate_get()) {
    case RUN_STATE_INMIGRATE:
        autostart = true;
        return true;
    case RUN_STATE_FINISH_MIGRATE:
        error_setg(errp, "Migration is not finalized yet");
        return false;
    case RUN_STATE_SHUTDOWN:
    case RUN_STATE_INTERNAL_ERROR:
        error_setg(errp, "Cannot continue the VM in state '%s'",
                   runstate_name(runstate_get()));
        return false;
    default:
        vm_start();
        return true;
    }
}

static JsonNode *qmp_stop(Monitor *mon, JsonObject *args, GError **errp)
{
    do_stop(errp);
    return NULL;
}

static JsonNode *qmp_cont(Monitor *mon, JsonObject *args, GError **errp)
{
    do_cont(errp);
    return NULL;
}

static JsonNode *qmp_quit(Monitor *mon, JsonObject *args, GError **errp)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
    return NULL;
}

static JsonNode *qmp_x_query_ram_digest(Monitor *mon, JsonObject *args,
                                        GError **errp)
{
    JsonArray *arr = json_array_new();
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        /* A lazy restore may still be loading it. */
        if (!ram_block_populate(rb, 0, rb->used_length, errp)) {
            json_array_unref(arr);
            return NULL;
        }
    }
    RAMBLOCK_FOREACH(rb) {
        JsonObject *o = json_object_new();
        g_autofree char *digest = ramblock_digest(rb);
        json_object_set_string_member(o, "id", rb->idstr);
        json_object_set_int_member(o, "length", rb->used_length);
        json_object_set_string_member(o, "sha256", digest);
        json_array_add_object_element(arr, o);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, arr);
    return n;
}

/* Which blocks x-fill-ram writes, from its arguments. */
typedef struct FillRamArgs {
    const char *block; /* NULL: every block */
    bool has_visible;  /* filter on guest visibility */
    bool guest_visible;
    int64_t offset;
    int64_t generation;
    int64_t zero_stride;
} FillRamArgs;

static bool fill_ram_parse(JsonObject *args, FillRamArgs *fa, GError **errp)
{
    *fa = (FillRamArgs){ 0 };
    if (!qmp_arg_str(args, "block", false, &fa->block, errp) ||
        !qmp_arg_bool(args, "guest-visible", false, &fa->guest_visible, errp) ||
        !qmp_arg_int(args, "offset", false, &fa->offset, errp) ||
        !qmp_arg_int(args, "generation", false, &fa->generation, errp) ||
        !qmp_arg_int(args, "zero-stride", false, &fa->zero_stride, errp)) {
        return false;
    }
    fa->has_visible = json_object_has_member(args, "guest-visible");
    if (fa->offset < 0 || fa->offset % TARGET_PAGE_SIZE) {
        error_setg(errp, "Parameter 'offset' must be a non-negative "
                         "multiple of the page size");
        return false;
    }
    if (fa->zero_stride < 0) {
        error_setg(errp, "Parameter 'zero-stride' must not be negative");
        return false;
    }
    if (fa->block && !qemu_ram_block_by_name(fa->block)) {
        error_setg(errp, "RAM block '%s' not found", fa->block);
        return false;
    }
    return true;
}

static bool fill_ram_wants(const FillRamArgs *fa, RAMBlock *rb)
{
    if (fa->block && strcmp(fa->block, rb->idstr)) {
        return false;
    }
    return !fa->has_visible || fa->guest_visible == (rb->gpa != UINT64_MAX);
}

/*
 * Test-only: write the pattern of include/system/ram-pattern.h into RAM
 * blocks, including those the guest cannot address (qtest cannot write
 * them), so migration tests move data that tells every page apart.
 */
static JsonNode *qmp_x_fill_ram(Monitor *mon, JsonObject *args, GError **errp)
{
    FillRamArgs fa;
    JsonArray *arr;
    RAMBlock *rb;

    if (!fill_ram_parse(args, &fa, errp)) {
        return NULL;
    }
    if (runstate_get() == RUN_STATE_INMIGRATE) {
        error_setg(errp, "RAM belongs to the incoming migration");
        return NULL;
    }
    arr = json_array_new();
    RAMBLOCK_FOREACH(rb) {
        RamPatternStats st = { 0 };
        JsonObject *o;

        if (!fill_ram_wants(&fa, rb)) {
            continue;
        }
        if (!ram_pattern_fill_block(rb, fa.offset, fa.generation,
                                    fa.zero_stride, &st, errp)) {
            json_array_unref(arr);
            return NULL;
        }
        o = json_object_new();
        json_object_set_string_member(o, "id", rb->idstr);
        json_object_set_int_member(o, "pages", st.pages);
        json_object_set_int_member(o, "zero-pages", st.zero_pages);
        json_array_add_object_element(arr, o);
    }
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, arr);
    return n;
}

static JsonNode *qmp_x_query_workload(Monitor *mon, JsonObject *args,
                                      GError **errp)
{
    WorkloadInfo info;
    JsonObject *o = json_object_new();

    workload_get_info(&info);
    json_object_set_string_member(o, "kind", info.kind);
    json_object_set_int_member(o, "passes", info.passes);
    json_object_set_int_member(o, "pages-written", info.pages_written);
    json_object_set_int_member(o, "errors", info.errors);
    json_object_set_int_member(o, "share", info.share);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(n, o);
    return n;
}

static void hmp_info_status(Monitor *mon, int argc, char **argv)
{
    RunState s = runstate_get();

    if (s == RUN_STATE_RUNNING) {
        monitor_printf(mon, "VM status: running\n");
    } else if (s == RUN_STATE_PAUSED) {
        monitor_printf(mon, "VM status: paused\n");
    } else {
        monitor_printf(mon, "VM status: paused (%s)\n", runstate_name(s));
    }
}

static void hmp_info_ramblock(Monitor *mon, int argc, char **argv)
{
    RAMBlock *rb;

    monitor_printf(mon, "%24s %8s %18s %18s %18s\n", "Block Name", "PSize",
                   "Offset", "Used", "Total");
    RAMBLOCK_FOREACH(rb) {
        monitor_printf(mon,
                       "%24s %7zuk 0x%016" PRIx64 " 0x%016" PRIx64
                       " 0x%016" PRIx64 "\n",
                       rb->idstr, rb->page_size / 1024,
                       rb->gpa == UINT64_MAX ? 0 : rb->gpa, rb->used_length,
                       rb->used_length);
    }
}

static void hmp_stop(Monitor *mon, int argc, char **argv)
{
    GError *err = NULL;
    do_stop(&err);
    hmp_handle_error(mon, err);
}

static void hmp_cont(Monitor *mon, int argc, char **argv)
{
    GError *err = NULL;
    do_cont(&err);
    hmp_handle_error(mon, err);
}

static void hmp_quit(Monitor *mon, int argc, char **argv)
{
    qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
}

void system_register_commands(void)
{
    static const HmpCommand hmp_cmds[] = {
        { "stop", "", "stop the vCPUs", hmp_stop },
        { "cont", "", "resume the vCPUs", hmp_cont },
        { "c", "", "resume the vCPUs", hmp_cont },
        { "quit", "", "quit the emulator", hmp_quit },
        { "q", "", "quit the emulator", hmp_quit },
    };
    static const HmpCommand hmp_info_cmds[] = {
        { "status", "", "show the VM status (running|paused)",
          hmp_info_status },
        { "ramblock", "", "show the RAM blocks", hmp_info_ramblock },
    };

    qmp_register_command("query-status", qmp_query_status, 0);
    qmp_register_command("query-name", qmp_query_name, 0);
    qmp_register_command("stop", qmp_stop, 0);
    qmp_register_command("cont", qmp_cont, 0);
    qmp_register_command("quit", qmp_quit, 0);
    qmp_register_command("x-query-ram-digest", qmp_x_query_ram_digest, 0);
    qmp_register_command("x-fill-ram", qmp_x_fill_ram, 0);
    qmp_register_command("x-query-workload", qmp_x_query_workload, 0);
    accel_register_commands();
    vm_config_register_commands();
    for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++) {
        hmp_register_command(&hmp_cmds[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(hmp_info_cmds); i++) {
        hmp_register_info_command(&hmp_info_cmds[i]);
    }
}
