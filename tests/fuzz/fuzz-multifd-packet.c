/*
 * Fuzz the multifd packet receiver: the input is what a source sends on
 * one multifd socket channel after its init packet (which the harness
 * writes), read by a real destination channel thread into the RAM of a
 * "none" VM with 16 KiB of RAM (one block "ram" of 4 pages).  The first
 * byte picks the multifd-compression the destination expects (even:
 * none, odd: zstd), so the zstd decoder is fuzzed too.
 *
 * Each header, page offset and data length must be checked before a byte
 * lands in guest RAM; the channel must end with an error or at the end of
 * its input, never hang, and let the next input start afresh.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/multifd-packet.h"
#include "migration/options-cmds.h"
#include "tests/fuzz/fuzz.h"

static void set_compression(const char *method)
{
    g_autofree char *json = g_strdup_printf(
        "{\"multifd-channels\": 1, \"multifd-compression\": \"%s\"}", method);
    g_autoptr(JsonNode) args = json_from_string(json, NULL);
    GError *err = NULL;

    JsonNode *ret =
        qmp_migrate_set_parameters(NULL, json_node_get_object(args), &err);

    if (ret) {
        json_node_unref(ret);
    }
    if (err) {
        g_error("fuzz: multifd-compression %s: %s", method, err->message);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_vm_init("none", 16 * KiB, 0, false);
    fuzz_register_commands();
    fuzz_set_capability("multifd", true);
    return 0;
}

/* The init packet of channel 0, then the fuzzed bytes. */
static int channel_input(const uint8_t *data, size_t size)
{
    g_autofree uint8_t *buf = g_malloc(64 + size);
    uint32_t magic = GUINT32_TO_BE(MULTIFD_MAGIC);
    uint32_t version = GUINT32_TO_BE(MULTIFD_VERSION);

    memset(buf, 0, 64);
    memcpy(buf, &magic, 4);
    memcpy(buf + 4, &version, 4);
    memcpy(buf + 64, data, size);
    return fuzz_memfd_with(buf, 64 + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    GError *err = NULL;

    if (!size) {
        return 0;
    }
    set_compression(data[0] & 1 && CONFIG_ZSTD ? "zstd" : "none");
    QIOChannelFile *fioc =
        qio_channel_file_new_fd(channel_input(data + 1, size - 1));
    bool ok = multifd_recv_setup(&err) &&
              multifd_recv_new_channel(&fioc->parent, &err);
    qio_channel_unref(&fioc->parent);
    /* Each SYNC packet parks the channel once; the input bounds them. */
    for (size_t i = 0; ok && i <= size / sizeof(MultiFDPacketHdr); i++) {
        ok = multifd_recv_sync(&err);
    }
    multifd_recv_shutdown();
    fuzz_check_result(ok, err);
    fuzz_run_queries();
    fuzz_vm_reset_ram();
    return 0;
}
