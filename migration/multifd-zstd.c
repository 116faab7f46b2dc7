/*
 * multifd with zstd: one zstd frame per packet, fed page by page from
 * guest RAM on the source and decompressed page by page into it on the
 * destination.
 */
#include "qemu/osdep.h"
#include "migration/multifd-packet.h"
#include "migration/options.h"
#include <zstd.h>

typedef struct ZstdChannel {
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
    size_t zbuf_len;
    uint8_t zbuf[]; /* compressed data of one packet */
} ZstdChannel;

static size_t zstd_max_data(void)
{
    return ZSTD_compressBound(MULTIFD_PACKET_PAGES * TARGET_PAGE_SIZE);
}

static bool zstd_setup(MultiFDChannel *c, bool sending, GError **errp)
{
    ZstdChannel *z = g_malloc0(sizeof(*z) + zstd_max_data());

    z->zbuf_len = zstd_max_data();
    c->comp = z;
    if (sending) {
        z->cctx = ZSTD_createCCtx();
        if (z->cctx) {
            ZSTD_CCtx_setParameter(z->cctx, ZSTD_c_compressionLevel,
                                   migrate_params()->multifd_zstd_level);
        }
    } else {
        z->dctx = ZSTD_createDCtx();
    }
    if (!z->cctx && !z->dctx) {
        error_setg(errp, "multifd channel %d: zstd: out of memory", c->id);
        return false;
    }
    return true;
}

static void zstd_cleanup(MultiFDChannel *c)
{
    ZstdChannel *z = c->comp;

    if (z) {
        ZSTD_freeCCtx(z->cctx);
        ZSTD_freeDCtx(z->dctx);
        g_free(z);
        c->comp = NULL;
    }
}

static bool zstd_send_prepare(MultiFDChannel *c, struct iovec *iov,
                              size_t *niov, uint32_t *len, GError **errp)
{
    ZstdChannel *z = c->comp;
    ZSTD_outBuffer out = { z->zbuf, z->zbuf_len, 0 };

    if (!*niov) {
        *len = 0;
        return true;
    }
    ZSTD_CCtx_reset(z->cctx, ZSTD_reset_session_only);
    for (size_t i = 0; i < *niov; i++) {
        ZSTD_inBuffer in = { iov[i].iov_base, iov[i].iov_len, 0 };
        ZSTD_EndDirective mode = i + 1 == *niov ? ZSTD_e_end : ZSTD_e_continue;
        size_t r;
        do {
            r = ZSTD_compressStream2(z->cctx, &out, &in, mode);
        } while (!ZSTD_isError(r) &&
                 (in.pos < in.size || (mode == ZSTD_e_end && r)));
        if (ZSTD_isError(r)) {
            error_setg(errp, "zstd: %s", ZSTD_getErrorName(r));
            return false;
        }
    }
    iov[0] = (struct iovec){ z->zbuf, out.pos };
    *niov = 1;
    *len = out.pos;
    return true;
}

static bool zstd_recv_check(uint32_t normal, uint32_t len)
{
    return len <= zstd_max_data();
}

static bool zstd_recv(MultiFDChannel *c, const struct iovec *pages,
                      uint32_t normal, uint32_t len, GError **errp)
{
    ZstdChannel *z = c->comp;

    if (qio_channel_read_all(c->ioc, z->zbuf, len, errp) < 0) {
        return false;
    }
    ZSTD_inBuffer in = { z->zbuf, len, 0 };
    ZSTD_DCtx_reset(z->dctx, ZSTD_reset_session_only);
    for (uint32_t i = 0; i < normal; i++) {
        ZSTD_outBuffer out = { pages[i].iov_base, TARGET_PAGE_SIZE, 0 };
        while (out.pos < out.size) {
            size_t r = ZSTD_decompressStream(z->dctx, &out, &in);
            if (ZSTD_isError(r) ||
                (in.pos == in.size && out.pos < out.size && r == 0)) {
                error_setg(errp, "zstd: %s",
                           ZSTD_isError(r) ? ZSTD_getErrorName(r)
                                           : "truncated data");
                return false;
            }
        }
    }
    return true;
}

const MultiFDMethods multifd_zstd_ops = {
    .name = "zstd",
    .packet_flag = MULTIFD_FLAG_ZSTD,
    .setup = zstd_setup,
    .cleanup = zstd_cleanup,
    .send_prepare = zstd_send_prepare,
    .recv_check = zstd_recv_check,
    .recv = zstd_recv,
};
