/*
 * multifd socket transport: QEMU's packet protocol.
 *
 * Besides the main channel, the source opens N connections.  Each starts
 * with an init packet (magic, version, migration uuid, channel id) and
 * then carries packets: a header (flags, page counts, block name), the
 * page offsets (normal pages first, then zero pages) in a table of
 * MULTIFD_PACKET_PAGES slots whatever the count (QEMU's packet_len is
 * fixed: it reads the whole table), and the normal pages' data as the
 * compression method makes it.  A SYNC packet on every
 * channel marks the end of a pass (see multifd.c).
 *
 * Zero pages are detected in the channel threads, so the migration thread
 * only walks bitmaps.  All integers are big-endian, as QEMU sends them.
 */
#include "qemu/osdep.h"
#include "migration/multifd.h"
#include "migration/multifd-packet.h"
#include "migration/options.h"
#include "migration/ram.h"
#include "migration/socket.h"

typedef struct QEMU_PACKED MultiFDInit {
    uint32_t magic;
    uint32_t version;
    uint8_t uuid[16];
    uint8_t id;
    uint8_t unused1[7];
    uint64_t unused2[4];
} MultiFDInit;

typedef struct SocketChannel {
    uint64_t packet_num; /* channel thread, or the migration thread at sync */
} SocketChannel;

static bool socket_channel_setup(MultiFDChannel *c, bool sending, GError **errp)
{
    /* All migrations share QEMU's all-zero uuid here. */
    MultiFDInit init = { .magic = GUINT32_TO_BE(MULTIFD_MAGIC),
                         .version = GUINT32_TO_BE(MULTIFD_VERSION),
                         .id = c->id };

    c->data = g_new0(SocketChannel, 1);
    if (!multifd_get_methods()->setup(c, sending, errp)) {
        return false;
    }
    if (!sending) {
        return true; /* the connection comes with multifd_recv_new_channel */
    }
    c->ioc = socket_multifd_channel_new(errp);
    if (!c->ioc ||
        qio_channel_write_all(c->ioc, &init, sizeof(init), errp) < 0) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    return true;
}

static void socket_channel_cleanup(MultiFDChannel *c)
{
    multifd_get_methods()->cleanup(c);
    g_clear_pointer(&c->data, g_free);
    if (c->ioc) {
        qio_channel_unref(c->ioc);
        c->ioc = NULL;
    }
}

static void socket_channel_shutdown(MultiFDChannel *c)
{
    qio_channel_shutdown(c->ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
}

/* ---------------------------------------------------------------- */
/* Send */

/*
 * One packet: @npages pages listed in @pages (offsets in @rb), or none
 * with @flags MULTIFD_FLAG_SYNC.
 */
static bool socket_send_packet(MultiFDChannel *c, RAMBlock *rb,
                               const uint64_t *pages, uint32_t npages,
                               uint32_t flags, GError **errp)
{
    const MultiFDMethods *ops = multifd_get_methods();
    SocketChannel *sc = c->data;
    MultiFDPacketHdr h = { 0 };
    uint64_t offsets[MULTIFD_PACKET_PAGES] = { 0 };
    uint64_t zero_off[MULTIFD_PACKET_PAGES];
    struct iovec iov[MULTIFD_PACKET_PAGES + 2];
    uint32_t normal = 0, zero = 0, data_len = 0;
    size_t ndata = 0;
    bool zero_in_packets = !migrate_multifd_flush_after_each_section();

    for (uint32_t i = 0; i < npages; i++) {
        uint64_t off = pages[i] << TARGET_PAGE_BITS;
        uint8_t *p = rb->host + off;
        /* QEMU 7.2's packets carry no zero pages: it would skip them. */
        if (!zero_in_packets && ram_page_is_zero(rb, pages[i])) {
            zero_off[zero++] = GUINT64_TO_BE(off);
        } else {
            offsets[normal++] = GUINT64_TO_BE(off);
            iov[2 + ndata++] = (struct iovec){ p, TARGET_PAGE_SIZE };
        }
    }
    memcpy(offsets + normal, zero_off, zero * sizeof(uint64_t));
    if (!ops->send_prepare(c, iov + 2, &ndata, &data_len, errp)) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    h.magic = GUINT32_TO_BE(MULTIFD_MAGIC);
    h.version = GUINT32_TO_BE(MULTIFD_VERSION);
    h.flags = GUINT32_TO_BE(flags | ops->packet_flag);
    h.pages_alloc = GUINT32_TO_BE(MULTIFD_PACKET_PAGES);
    h.normal_pages = GUINT32_TO_BE(normal);
    h.zero_pages = GUINT32_TO_BE(zero);
    h.next_packet_size = GUINT32_TO_BE(data_len);
    h.packet_num = GUINT64_TO_BE(sc->packet_num++);
    if (rb) {
        g_strlcpy(h.ramblock, rb->idstr, sizeof(h.ramblock));
    }
    iov[0] = (struct iovec){ &h, sizeof(h) };
    iov[1] = (struct iovec){ offsets, sizeof(offsets) };
    if (qio_channel_writev_all(c->ioc, iov, 2 + ndata, errp) < 0) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    uint64_t bytes = sizeof(h) + iov[1].iov_len + data_len;
    atomic_fetch_add(&ram_stats.multifd_bytes, bytes);
    atomic_fetch_add(&ram_stats.transferred, bytes);
    atomic_fetch_add(&ram_stats.normal_pages, normal);
    atomic_fetch_add(&ram_stats.zero_pages, zero);
    return true;
}

static bool socket_send(MultiFDChannel *c, MultiFDJob *job, GError **errp)
{
    uint64_t pages[MULTIFD_PACKET_PAGES];
    uint32_t n = 0;

    /* The core never gives a job more pages than one packet holds. */
    for (size_t i = 0; i < job->nruns; i++) {
        for (uint64_t p = 0; p < job->runs[i].n; p++) {
            pages[n++] = job->runs[i].start + p;
        }
    }
    return socket_send_packet(c, job->rb, pages, n, 0, errp);
}

static bool socket_send_sync(MultiFDChannel *c, GError **errp)
{
    return socket_send_packet(c, NULL, NULL, 0, MULTIFD_FLAG_SYNC, errp);
}

/* ---------------------------------------------------------------- */
/* Receive */

static int socket_recv_packet(MultiFDChannel *c, bool *sync, GError **errp)
{
    const MultiFDMethods *ops = multifd_get_methods();
    MultiFDPacketHdr h;
    struct iovec hiov = { &h, sizeof(h) };
    uint64_t offsets[MULTIFD_PACKET_PAGES];
    struct iovec pages[MULTIFD_PACKET_PAGES];
    MultiFDPacket pkt;

    int r = qio_channel_readv_all_eof(c->ioc, &hiov, 1, errp);
    if (r <= 0) {
        return r;
    }
    if (!multifd_packet_parse(&h, ops, &pkt, errp)) {
        error_prepend(errp, "multifd channel %d", c->id);
        return -1;
    }
    *sync = pkt.flags & MULTIFD_FLAG_SYNC;
    uint32_t npages = pkt.normal + pkt.zero;
    /* The whole offset table, used slots or not. */
    if (qio_channel_read_all(c->ioc, offsets, sizeof(offsets), errp) < 0) {
        error_prepend(errp, "multifd channel %d", c->id);
        return -1;
    }
    if (!npages) {
        return 1;
    }
    if (!multifd_packet_check_offsets(pkt.rb, offsets, npages, errp)) {
        error_prepend(errp, "multifd channel %d", c->id);
        return -1;
    }
    for (uint32_t i = 0; i < pkt.normal; i++) {
        pages[i] =
            (struct iovec){ pkt.rb->host + offsets[i], TARGET_PAGE_SIZE };
    }
    if (!ops->recv(c, pages, pkt.normal, pkt.data_len, errp)) {
        error_prepend(errp, "multifd channel %d", c->id);
        return -1;
    }
    for (uint32_t i = pkt.normal; i < npages; i++) {
        /* Fresh destination RAM is zero: touch it only when needed. */
        if (!ram_page_is_zero(pkt.rb, offsets[i] >> TARGET_PAGE_BITS)) {
            memset(pkt.rb->host + offsets[i], 0, TARGET_PAGE_SIZE);
        }
    }
    return 1;
}

static bool socket_recv_hello(QIOChannel *ioc, int nchannels, int *id,
                              GError **errp)
{
    MultiFDInit init;

    if (qio_channel_read_all(ioc, &init, sizeof(init), errp) < 0) {
        return false;
    }
    if (GUINT32_FROM_BE(init.magic) != MULTIFD_MAGIC ||
        GUINT32_FROM_BE(init.version) != MULTIFD_VERSION) {
        error_setg(errp, "multifd: bad init packet");
        return false;
    }
    if (init.id >= nchannels) {
        error_setg(errp,
                   "multifd: unexpected channel id %u (multifd-channels "
                   "is %d on the destination)",
                   init.id, nchannels);
        return false;
    }
    *id = init.id;
    return true;
}

const MultiFDTransportOps multifd_socket_ops = {
    .name = "socket",
    .job_max_pages = MULTIFD_PACKET_PAGES,
    .channel_setup = socket_channel_setup,
    .channel_cleanup = socket_channel_cleanup,
    .channel_shutdown = socket_channel_shutdown,
    .send = socket_send,
    .send_sync = socket_send_sync,
    .recv_packet = socket_recv_packet,
    .recv_hello = socket_recv_hello,
};
