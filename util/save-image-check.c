/*
 * Save image files: recognising one, and checking that its migration
 * data is what the header says (see include/qemu/save-image.h).  All
 * reads go through a QIOChannelFile, so fault injection sees them.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "migration/format.h"
#include "qemu/save-image.h"

#if CONFIG_ZSTD
#include <zstd.h>
#endif

#define CHECK_CHUNK (1 * MiB)
#define ZSTD_FRAME_MAGIC "\x28\xb5\x2f\xfd" /* little endian 0xFD2FB528 */

/* Whether the 4 bytes at @buf are a migration stream's magic. */
static bool is_stream_magic(const void *buf)
{
    uint32_t qevm = GUINT32_TO_BE(QEMU_VM_FILE_MAGIC);
    return !memcmp(buf, &qevm, sizeof(qevm));
}

bool save_image_probe_file(const char *path, SaveImage *img, bool *is_img,
                           GError **errp)
{
    uint8_t magic[SAVE_IMAGE_MAGIC_LEN];
    g_autoptr(QIOChannel) ioc = NULL;
    QIOChannelFile *fioc =
        qio_channel_file_new_path(path, O_RDONLY | O_CLOEXEC, 0, NULL);

    *is_img = false;
    if (!fioc) {
        return true; /* the caller's own open reports it */
    }
    ioc = &fioc->parent;
    if (qio_channel_pread_all(ioc, magic, sizeof(magic), 0, NULL) < 0 ||
        save_image_probe(magic, sizeof(magic)) == SAVE_IMAGE_PROBE_NONE) {
        return true;
    }
    *is_img = true;
    return save_image_read(fioc->fd, path, img, errp);
}

bool save_image_check_data_start(int fd, const char *name,
                                 const SaveImageHeader *h, GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, name)->parent;
    bool zstd = save_image_format_is_zstd(h->format);
    char magic[4];

    if (qio_channel_pread_all(ioc, magic, sizeof(magic), h->stream_offset,
                              NULL) < 0 ||
        (zstd ? memcmp(magic, ZSTD_FRAME_MAGIC, sizeof(magic))
              : !is_stream_magic(magic))) {
        error_setg(errp, "'%s': no %s at offset %" PRIu64 " (corrupt image)",
                   name, zstd ? "zstd frame" : "migration stream",
                   h->stream_offset);
        return false;
    }
    return true;
}

#if CONFIG_ZSTD
/*
 * Decompress the frames in @in (@n bytes read at @pos), counting the
 * output in *total; *last is 0 once a frame is complete.
 */
static bool check_chunk(ZSTD_DCtx *dctx, const uint8_t *in, size_t n,
                        uint64_t pos, uint8_t *out, uint64_t *total,
                        size_t *last, GError **errp)
{
    ZSTD_inBuffer ib = { in, n, 0 };
    ZSTD_outBuffer ob;

    do {
        ob = (ZSTD_outBuffer){ out, CHECK_CHUNK, 0 };
        *last = ZSTD_decompressStream(dctx, &ob, &ib);
        if (ZSTD_isError(*last)) {
            error_setg(errp,
                       "corrupt compressed data near offset %" PRIu64 ": %s",
                       pos, ZSTD_getErrorName(*last));
            return false;
        }
        if (*total == 0 && ob.pos >= 4 && !is_stream_magic(out)) {
            error_setg(errp, "the compressed data is not a migration "
                             "stream");
            return false;
        }
        *total += ob.pos;
        /*
         * A full output buffer may hide more output, unless the frame is
         * complete: then another call would start a next frame and never
         * return 0 (data of an exact multiple of the buffer).
         */
    } while (ib.pos < ib.size || (ob.pos == ob.size && *last != 0));
    return true;
}

bool save_image_check_compressed(const char *path, const SaveImage *img,
                                 GError **errp)
{
    const SaveImageHeader *h = &img->hdr;
    g_autofree uint8_t *in = g_malloc(CHECK_CHUNK);
    g_autofree uint8_t *out = g_malloc(CHECK_CHUNK);
    uint64_t pos = h->stream_offset, end = pos + h->stream_length, total = 0;
    g_autoptr(QIOChannel) ioc = NULL;
    ZSTD_DCtx *dctx = NULL;
    size_t last = 1;
    bool ok = false;

    QIOChannelFile *fioc =
        qio_channel_file_new_path(path, O_RDONLY | O_CLOEXEC, 0, errp);
    if (!fioc) {
        return false;
    }
    ioc = &fioc->parent;
    dctx = ZSTD_createDCtx();
    while (pos < end) {
        size_t n = MIN(CHECK_CHUNK, end - pos);
        if (qio_channel_pread_all(ioc, in, n, pos, errp) < 0) {
            error_prepend(errp, "Could not read '%s': ", path);
            goto out;
        }
        if (!check_chunk(dctx, in, n, pos, out, &total, &last, errp)) {
            goto out;
        }
        pos += n;
    }
    if (last != 0) {
        error_setg(errp, "the compressed data is truncated");
    } else if (total != h->raw_length) {
        error_setg(errp,
                   "the compressed data holds %" PRIu64 " bytes, the header "
                   "announces %" PRIu64,
                   total, h->raw_length);
    } else {
        ok = true;
    }
out:
    ZSTD_freeDCtx(dctx);
    return ok;
}
#else
bool save_image_check_compressed(const char *path, const SaveImage *img,
                                 GError **errp)
{
    error_setg(errp, "this build has no zstd to check a compressed image");
    return false;
}
#endif
