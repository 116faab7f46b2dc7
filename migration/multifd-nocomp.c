/*
 * multifd without compression: a packet's data is its normal pages as
 * they are, written from and read into guest RAM directly.
 */
#include "qemu/osdep.h"
#include "migration/multifd-packet.h"

static bool nocomp_setup(MultiFDChannel *c, bool sending, GError **errp)
{
    return true;
}

static void nocomp_cleanup(MultiFDChannel *c)
{
}

static bool nocomp_send_prepare(MultiFDChannel *c, struct iovec *iov,
                                size_t *niov, uint32_t *len, GError **errp)
{
    *len = *niov * TARGET_PAGE_SIZE;
    return true;
}

/*
 * The data is @normal whole pages whatever the header says: QEMU's
 * receiver ignores next_packet_size without compression, and QEMU 7.2's
 * SYNC packets carry the previous packet's.
 */
static bool nocomp_recv_check(uint32_t normal, uint32_t len)
{
    return true;
}

static bool nocomp_recv(MultiFDChannel *c, const struct iovec *pages,
                        uint32_t normal, uint32_t len, GError **errp)
{
    return qio_channel_readv_all(c->ioc, pages, normal, errp) == 0;
}

const MultiFDMethods multifd_nocomp_ops = {
    .name = "none",
    .packet_flag = MULTIFD_FLAG_NOCOMP,
    .setup = nocomp_setup,
    .cleanup = nocomp_cleanup,
    .send_prepare = nocomp_send_prepare,
    .recv_check = nocomp_recv_check,
    .recv = nocomp_recv,
};
