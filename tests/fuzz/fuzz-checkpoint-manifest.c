/*
 * Fuzz the checkpoint manifest parser (util/checkpoint-dir.c), which
 * mapmig-ctl restore and mapmig-img read from a checkpoint directory.  A
 * manifest that parses must come back the same from its own text (what
 * the writer emits, the reader accepts unchanged).
 */
#include "qemu/osdep.h"
#include "qemu/checkpoint-dir.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    CkptManifest m, again;
    GError *err = NULL;
    bool ok = ckpt_manifest_parse((const char *)data, size, &m, &err);

    if (ok) {
        g_autofree char *text = ckpt_manifest_format(&m);
        if (!ckpt_manifest_parse(text, strlen(text), &again, NULL) ||
            memcmp(&m, &again, sizeof(m))) {
            g_error("fuzz-checkpoint-manifest: format/parse changed it");
        }
        if (m.image < 0 || m.image >= CKPT_IMAGES || !m.generation) {
            g_error("fuzz-checkpoint-manifest: accepted a bad member");
        }
    }
    fuzz_check_result(ok, err);
    return 0;
}
