/*
 * multifd packets as QEMU sends them over sockets: the header and the
 * checks a destination makes before a byte lands in guest RAM.  Parsing
 * is kept apart from the channel code so a fuzzer can drive it alone.
 */
#ifndef MIGRATION_MULTIFD_PACKET_H
#define MIGRATION_MULTIFD_PACKET_H

#include "migration/multifd.h"

#define MULTIFD_MAGIC 0x11223344U
#define MULTIFD_VERSION 1
#define MULTIFD_FLAG_SYNC (1 << 0)
#define MULTIFD_FLAG_COMPRESSION_MASK (7 << 1)
#define MULTIFD_FLAG_NOCOMP (0 << 1)
#define MULTIFD_FLAG_ZSTD (2 << 1)
#define MULTIFD_PACKET_PAGES 128 /* 512 KiB of 4 KiB pages, as QEMU */

/* On the wire: big-endian, packed. */
typedef struct QEMU_PACKED MultiFDPacketHdr {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t pages_alloc;
    uint32_t normal_pages;
    uint32_t next_packet_size;
    uint64_t packet_num;
    uint32_t zero_pages;
    uint32_t unused32[1];
    uint64_t unused64[3];
    char ramblock[256];
} MultiFDPacketHdr;

/* A checked header, in host order. */
typedef struct MultiFDPacket {
    uint32_t flags;
    uint32_t normal;   /* pages with data */
    uint32_t zero;     /* zero pages */
    uint32_t data_len; /* bytes of data after the offsets */
    RAMBlock *rb;      /* NULL when the packet carries no page */
} MultiFDPacket;

/*
 * Check the header @h (as read from the wire; its block name is
 * terminated in place) against the compression method @ops and the RAM
 * blocks, and fill @pkt.
 */
bool multifd_packet_parse(MultiFDPacketHdr *h, const MultiFDMethods *ops,
                          MultiFDPacket *pkt, GError **errp);
/*
 * Convert @n page offsets of a packet to host order in place and check
 * that each is a page of @rb.
 */
bool multifd_packet_check_offsets(RAMBlock *rb, uint64_t *offsets, uint32_t n,
                                  GError **errp);

#endif
