/*
 * multifd packet checks (see multifd-packet.h).
 */
#include "qemu/osdep.h"
#include "migration/multifd-packet.h"

bool multifd_packet_parse(MultiFDPacketHdr *h, const MultiFDMethods *ops,
                          MultiFDPacket *pkt, GError **errp)
{
    uint32_t magic = GUINT32_FROM_BE(h->magic);
    uint32_t version = GUINT32_FROM_BE(h->version);

    *pkt = (MultiFDPacket){
        .flags = GUINT32_FROM_BE(h->flags),
        .normal = GUINT32_FROM_BE(h->normal_pages),
        .zero = GUINT32_FROM_BE(h->zero_pages),
        .data_len = GUINT32_FROM_BE(h->next_packet_size),
    };
    if (magic != MULTIFD_MAGIC || version != MULTIFD_VERSION) {
        error_setg(errp, "bad packet magic 0x%x or version %u", magic, version);
        return false;
    }
    if (pkt->normal > MULTIFD_PACKET_PAGES ||
        pkt->zero > MULTIFD_PACKET_PAGES - pkt->normal) {
        error_setg(errp, "packet with %u+%u pages, at most %u expected",
                   pkt->normal, pkt->zero, MULTIFD_PACKET_PAGES);
        return false;
    }
    if ((pkt->flags & MULTIFD_FLAG_COMPRESSION_MASK) != ops->packet_flag) {
        error_setg(errp,
                   "packet compression flags 0x%x differ from "
                   "multifd-compression",
                   pkt->flags);
        return false;
    }
    if (!ops->recv_check(pkt->normal, pkt->data_len)) {
        error_setg(errp, "bad packet data size %u", pkt->data_len);
        return false;
    }
    if (!pkt->normal && !pkt->zero) {
        return true;
    }
    h->ramblock[sizeof(h->ramblock) - 1] = 0;
    pkt->rb = qemu_ram_block_by_name(h->ramblock);
    if (!pkt->rb) {
        error_setg(errp, "unknown RAM block '%s'", h->ramblock);
        return false;
    }
    return true;
}

bool multifd_packet_check_offsets(RAMBlock *rb, uint64_t *offsets, uint32_t n,
                                  GError **errp)
{
    for (uint32_t i = 0; i < n; i++) {
        offsets[i] = GUINT64_FROM_BE(offsets[i]);
        if (offsets[i] % TARGET_PAGE_SIZE || offsets[i] >= rb->used_length) {
            error_setg(errp, "page offset 0x%" PRIx64 " outside of ramblock %s",
                       offsets[i], rb->idstr);
            return false;
        }
    }
    return true;
}
