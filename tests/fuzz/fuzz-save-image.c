/*
 * Fuzz the save-image header and configuration reader of mapmig-ctl and
 * mapmig-img (util/save-image.c).  save_image_header_parse() sees the
 * raw bytes; save_image_read() the same bytes as a file, so the lengths
 * it checks against the file size, the configuration's CRC and its JSON
 * are exercised too.  A header that parses must survive a pack/parse
 * round trip unchanged (what the writer emits, the reader accepts).
 */
#include "qemu/osdep.h"
#include "qemu/save-image.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR);
    return 0;
}

static void check_round_trip(const SaveImageHeader *h)
{
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    SaveImageHeader again;
    GError *err = NULL;

    if (h->header_size != SAVE_IMAGE_HEADER_SIZE) {
        return; /* a newer writer's bigger header: ours cannot pack it */
    }
    save_image_header_pack(h, true, buf);
    if (!save_image_header_parse(buf, sizeof(buf), &again, &err)) {
        g_error("fuzz-save-image: a packed header does not parse: %s",
                err->message);
    }
    if (memcmp(h, &again, sizeof(again))) {
        g_error("fuzz-save-image: pack/parse changed the header");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    SaveImageHeader h;
    GError *err = NULL;

    if (save_image_header_parse(data, size, &h, &err)) {
        check_round_trip(&h);
    } else {
        fuzz_check_result(false, err);
        err = NULL;
    }

    int fd = fuzz_memfd_with(data, size);
    SaveImage img = { 0 };
    bool ok = save_image_read(fd, "fuzz", &img, &err);
    close(fd);
    if (ok && (!img.config || strlen(img.config) != img.hdr.config_len)) {
        g_error("fuzz-save-image: accepted configuration of a wrong length");
    }
    save_image_clear(&img);
    fuzz_check_result(ok, err);
    return 0;
}
