/*
 * multifd over sockets: QEMU's packet protocol.
 *
 * Besides the main channel, the source opens N connections.  Each starts
 * with an init packet (magic, version, migration uuid, channel id) and
 * then carries packets: a header (flags, page counts, block name), the
 * page offsets (normal pages first, then zero pages), and the normal
 * pages' data, raw or zstd-compressed.  A SYNC packet on every channel
 * marks the end of a pass; the main stream then carries MULTIFD_FLUSH and
 * the destination does not go on until every channel delivered its SYNC,
 * so pages of one pass never overtake those of the next.
 *
 * Zero pages are detected in the channel threads, so the migration thread
 * only walks bitmaps.  All integers are big-endian, as QEMU sends them.
 */
#include "qemu/osdep.h"
#include "io/channel-socket.h"
#include "migration/migration.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/ram.h"

#if CONFIG_ZSTD
#include <zstd.h>
#endif

#define MULTIFD_MAGIC 0x11223344U
#define MULTIFD_VERSION 1
#define MULTIFD_FLAG_SYNC (1 << 0)
#define MULTIFD_FLAG_COMPRESSION_MASK (7 << 1)
#define MULTIFD_FLAG_NOCOMP (0 << 1)
#define MULTIFD_FLAG_ZSTD (2 << 1)
#define MULTIFD_PACKET_PAGES 128 /* 512 KiB of 4 KiB pages, as QEMU */

typedef struct QEMU_PACKED MultiFDInit {
    uint32_t magic;
    uint32_t version;
    uint8_t uuid[16];
    uint8_t id;
    uint8_t unused1[7];
    uint64_t unused2[4];
} MultiFDInit;

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

typedef struct SockJob {
    bool sync;
    RAMBlock *rb;
    uint32_t npages;
    uint64_t pages[MULTIFD_PACKET_PAGES];
} SockJob;

typedef struct SockChannel {
    int id;
    GThread *thread;
    QIOChannel *ioc;
    GAsyncQueue *queue; /* SockJob* (send side) */
    uint64_t packet_num;
#if CONFIG_ZSTD
    ZSTD_CCtx *cctx;
    ZSTD_DCtx *dctx;
#endif
    uint8_t *zbuf; /* compressed data */
    size_t zbuf_len;
} SockChannel;

typedef struct SockState {
    bool sending;
    int n;
    SockChannel *ch;
    int next;     /* round robin; migration thread */
    SockJob *cur; /* being filled; migration thread */
    bool zstd;
    int zstd_level;
    GMutex lock;
    GCond cond;
    unsigned pending;  /* jobs queued or running (send) */
    unsigned synced;   /* channels waiting at a SYNC (recv) */
    uint64_t sync_gen; /* bumped to release them (recv) */
    unsigned exited;   /* recv threads finished */
    GError *error;
    _Atomic bool failed;
} SockState;

static SockState *sock;

static void sock_set_error(SockState *m, GError *err)
{
    g_mutex_lock(&m->lock);
    error_propagate(&m->error, err); /* the first error wins */
    atomic_store(&m->failed, true);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    /* Wake any peer read or write blocked on the channels. */
    for (int i = 0; i < m->n; i++) {
        if (m->ch[i].ioc) {
            qio_channel_shutdown(m->ch[i].ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
        }
    }
}

/* ---------------------------------------------------------------- */
/* Send */

static bool sock_send_packet(SockState *m, SockChannel *c, SockJob *job,
                             GError **errp)
{
    MultiFDPacketHdr h = { 0 };
    uint64_t offsets[MULTIFD_PACKET_PAGES];
    struct iovec iov[MULTIFD_PACKET_PAGES + 2];
    uint32_t normal = 0, zero = 0;
    uint64_t zero_off[MULTIFD_PACKET_PAGES];
    size_t niov = 2;

    for (uint32_t i = 0; job && !job->sync && i < job->npages; i++) {
        uint64_t off = job->pages[i] << TARGET_PAGE_BITS;
        uint8_t *p = job->rb->host + off;
        if (buffer_is_zero(p, TARGET_PAGE_SIZE)) {
            zero_off[zero++] = GUINT64_TO_BE(off);
        } else {
            offsets[normal] = GUINT64_TO_BE(off);
            iov[niov].iov_base = p;
            iov[niov].iov_len = TARGET_PAGE_SIZE;
            niov++;
            normal++;
        }
    }
    memcpy(offsets + normal, zero_off, zero * sizeof(uint64_t));
    uint32_t data_len = normal * TARGET_PAGE_SIZE;
    uint32_t flags = job->sync ? MULTIFD_FLAG_SYNC : 0;
#if CONFIG_ZSTD
    if (m->zstd && normal) {
        /* One zstd frame per packet, fed page by page from guest RAM. */
        ZSTD_outBuffer out = { c->zbuf, c->zbuf_len, 0 };
        ZSTD_CCtx_reset(c->cctx, ZSTD_reset_session_only);
        for (size_t i = 2; i < niov; i++) {
            ZSTD_inBuffer in = { iov[i].iov_base, iov[i].iov_len, 0 };
            ZSTD_EndDirective mode =
                i + 1 == niov ? ZSTD_e_end : ZSTD_e_continue;
            size_t r;
            do {
                r = ZSTD_compressStream2(c->cctx, &out, &in, mode);
            } while (!ZSTD_isError(r) &&
                     (in.pos < in.size || (mode == ZSTD_e_end && r)));
            if (ZSTD_isError(r)) {
                error_setg(errp, "multifd channel %d: zstd: %s", c->id,
                           ZSTD_getErrorName(r));
                return false;
            }
        }
        data_len = out.pos;
        iov[2].iov_base = c->zbuf;
        iov[2].iov_len = out.pos;
        niov = 3;
    }
    if (m->zstd) {
        flags |= MULTIFD_FLAG_ZSTD;
    }
#endif
    h.magic = GUINT32_TO_BE(MULTIFD_MAGIC);
    h.version = GUINT32_TO_BE(MULTIFD_VERSION);
    h.flags = GUINT32_TO_BE(flags);
    h.pages_alloc = GUINT32_TO_BE(MULTIFD_PACKET_PAGES);
    h.normal_pages = GUINT32_TO_BE(normal);
    h.zero_pages = GUINT32_TO_BE(zero);
    h.next_packet_size = GUINT32_TO_BE(data_len);
    h.packet_num = GUINT64_TO_BE(c->packet_num++);
    if (job->rb) {
        g_strlcpy(h.ramblock, job->rb->idstr, sizeof(h.ramblock));
    }
    iov[0].iov_base = &h;
    iov[0].iov_len = sizeof(h);
    iov[1].iov_base = offsets;
    iov[1].iov_len = (normal + zero) * sizeof(uint64_t);
    if (qio_channel_writev_all(c->ioc, iov, niov, errp) < 0) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    atomic_fetch_add(&ram_stats.multifd_bytes,
                     sizeof(h) + iov[1].iov_len + data_len);
    atomic_fetch_add(&ram_stats.transferred,
                     sizeof(h) + iov[1].iov_len + data_len);
    atomic_fetch_add(&ram_stats.normal_pages, normal);
    atomic_fetch_add(&ram_stats.zero_pages, zero);
    return true;
}

static gpointer sock_send_thread(gpointer opaque)
{
    SockChannel *c = opaque;
    SockState *m = sock;

    for (;;) {
        SockJob *job = g_async_queue_pop(c->queue);
        if (!job->sync && !job->rb) {
            g_free(job);
            break;
        }
        GError *err = NULL;
        if (!atomic_load(&m->failed) && !sock_send_packet(m, c, job, &err)) {
            sock_set_error(m, err);
        }
        g_free(job);
        g_mutex_lock(&m->lock);
        m->pending--;
        g_cond_broadcast(&m->cond);
        g_mutex_unlock(&m->lock);
    }
    return NULL;
}

static void sock_push(SockState *m, SockChannel *c, SockJob *job)
{
    g_mutex_lock(&m->lock);
    while (m->pending >= (unsigned)m->n * 4 && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    m->pending++;
    g_mutex_unlock(&m->lock);
    g_async_queue_push(c->queue, job);
}

static void sock_flush_cur(SockState *m)
{
    SockJob *job = m->cur;

    m->cur = NULL;
    if (job && job->npages) {
        sock_push(m, &m->ch[m->next], job);
        m->next = (m->next + 1) % m->n;
    } else {
        g_free(job);
    }
}

static void sock_free(SockState *m)
{
    for (int i = 0; i < m->n; i++) {
        SockChannel *c = &m->ch[i];
        if (c->ioc) {
            qio_channel_unref(c->ioc);
        }
        if (c->queue) {
            g_async_queue_unref(c->queue);
        }
#if CONFIG_ZSTD
        ZSTD_freeCCtx(c->cctx);
        ZSTD_freeDCtx(c->dctx);
#endif
        g_free(c->zbuf);
    }
    g_free(m->ch);
    g_free(m->cur);
    g_clear_error(&m->error);
    g_free(m);
}

static SockState *sock_new(bool sending)
{
    const MigrationParameters *p = migrate_params();
    SockState *m = g_new0(SockState, 1);

    m->sending = sending;
    m->n = p->multifd_channels;
    m->zstd = p->multifd_compression == MULTIFD_COMPRESSION_ZSTD;
    m->zstd_level = p->multifd_zstd_level;
    m->ch = g_new0(SockChannel, m->n);
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    for (int i = 0; i < m->n; i++) {
        SockChannel *c = &m->ch[i];
        c->id = i;
        c->queue = g_async_queue_new();
#if CONFIG_ZSTD
        if (m->zstd) {
            c->zbuf_len =
                ZSTD_compressBound(MULTIFD_PACKET_PAGES * TARGET_PAGE_SIZE);
            c->zbuf = g_malloc(c->zbuf_len);
            if (sending) {
                c->cctx = ZSTD_createCCtx();
                ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel,
                                       m->zstd_level);
            } else {
                c->dctx = ZSTD_createDCtx();
            }
        }
#endif
    }
    return m;
}

bool multifd_socket_send_setup(const char *addr, const uint8_t *uuid,
                               GError **errp)
{
    SockState *m = sock_new(true);

    for (int i = 0; i < m->n; i++) {
        QIOChannelSocket *s = qio_channel_socket_connect_sync(addr, errp);
        if (!s) {
            error_prepend(errp, "multifd channel %d", i);
            sock_free(m);
            return false;
        }
        m->ch[i].ioc = &s->parent;
        MultiFDInit init = { 0 };
        init.magic = GUINT32_TO_BE(MULTIFD_MAGIC);
        init.version = GUINT32_TO_BE(MULTIFD_VERSION);
        memcpy(init.uuid, uuid, 16);
        init.id = i;
        if (qio_channel_write_all(m->ch[i].ioc, &init, sizeof(init), errp) <
            0) {
            error_prepend(errp, "multifd channel %d", i);
            sock_free(m);
            return false;
        }
    }
    sock = m;
    for (int i = 0; i < m->n; i++) {
        g_autofree char *name = g_strdup_printf("mig/send/%d", i);
        m->ch[i].thread = g_thread_new(name, sock_send_thread, &m->ch[i]);
    }
    return true;
}

bool multifd_socket_active(void)
{
    return sock && sock->sending;
}

bool multifd_socket_queue_page(RAMBlock *rb, uint64_t page, GError **errp)
{
    SockState *m = sock;

    if (atomic_load(&m->failed)) {
        g_mutex_lock(&m->lock);
        g_propagate_error(errp, g_error_copy(m->error));
        g_mutex_unlock(&m->lock);
        return false;
    }
    if (m->cur &&
        (m->cur->rb != rb || m->cur->npages == MULTIFD_PACKET_PAGES)) {
        sock_flush_cur(m);
    }
    if (!m->cur) {
        m->cur = g_new0(SockJob, 1);
        m->cur->rb = rb;
    }
    m->cur->pages[m->cur->npages++] = page;
    return true;
}

bool multifd_socket_send_sync(GError **errp)
{
    SockState *m = sock;

    sock_flush_cur(m);
    for (int i = 0; i < m->n; i++) {
        SockJob *job = g_new0(SockJob, 1);
        job->sync = true;
        sock_push(m, &m->ch[i], job);
    }
    g_mutex_lock(&m->lock);
    while (m->pending && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    bool ok = !m->error;
    if (!ok) {
        g_propagate_error(errp, g_error_copy(m->error));
    }
    g_mutex_unlock(&m->lock);
    return ok;
}

GError *multifd_socket_error(void)
{
    GError *err = NULL;

    if (sock) {
        g_mutex_lock(&sock->lock);
        err = sock->error ? g_error_copy(sock->error) : NULL;
        g_mutex_unlock(&sock->lock);
    }
    return err;
}

bool multifd_socket_failed(void)
{
    return sock && atomic_load(&sock->failed);
}

void multifd_socket_send_shutdown(void)
{
    SockState *m = sock;

    if (!m || !m->sending) {
        return;
    }
    for (int i = 0; i < m->n; i++) {
        g_async_queue_push(m->ch[i].queue, g_new0(SockJob, 1));
    }
    for (int i = 0; i < m->n; i++) {
        g_thread_join(m->ch[i].thread);
    }
    sock = NULL;
    sock_free(m);
}

/* ---------------------------------------------------------------- */
/* Receive */

/* Check every field before a byte lands in guest RAM. */
static RAMBlock *sock_check_packet(SockChannel *c, MultiFDPacketHdr *h,
                                   GError **errp)
{
    uint32_t pages = h->normal_pages + h->zero_pages;

    if (h->magic != MULTIFD_MAGIC || h->version != MULTIFD_VERSION) {
        error_setg(errp,
                   "multifd channel %d: bad packet magic 0x%x or "
                   "version %u",
                   c->id, h->magic, h->version);
        return NULL;
    }
    if (h->normal_pages > MULTIFD_PACKET_PAGES ||
        h->zero_pages > MULTIFD_PACKET_PAGES || pages > MULTIFD_PACKET_PAGES) {
        error_setg(errp,
                   "multifd channel %d: packet with %u+%u pages, at "
                   "most %u expected",
                   c->id, h->normal_pages, h->zero_pages, MULTIFD_PACKET_PAGES);
        return NULL;
    }
    bool zstd = (h->flags & MULTIFD_FLAG_COMPRESSION_MASK) == MULTIFD_FLAG_ZSTD;
    if ((h->flags & MULTIFD_FLAG_COMPRESSION_MASK) !=
        (sock->zstd ? MULTIFD_FLAG_ZSTD : MULTIFD_FLAG_NOCOMP)) {
        error_setg(errp,
                   "multifd channel %d: packet compression flags 0x%x "
                   "differ from multifd-compression",
                   c->id, h->flags);
        return NULL;
    }
    if ((!zstd && h->next_packet_size != h->normal_pages * TARGET_PAGE_SIZE) ||
        (zstd && h->next_packet_size > c->zbuf_len)) {
        error_setg(errp, "multifd channel %d: bad packet data size %u", c->id,
                   h->next_packet_size);
        return NULL;
    }
    if (!pages) {
        return NULL;
    }
    h->ramblock[sizeof(h->ramblock) - 1] = 0;
    RAMBlock *rb = qemu_ram_block_by_name(h->ramblock);
    if (!rb) {
        error_setg(errp, "multifd channel %d: unknown RAM block '%s'", c->id,
                   h->ramblock);
    }
    return rb;
}

static bool sock_recv_data(SockChannel *c, RAMBlock *rb,
                           const uint64_t *offsets, uint32_t normal,
                           uint32_t data_len, bool zstd, GError **errp)
{
    struct iovec iov[MULTIFD_PACKET_PAGES];

    for (uint32_t i = 0; i < normal; i++) {
        iov[i].iov_base = rb->host + offsets[i];
        iov[i].iov_len = TARGET_PAGE_SIZE;
    }
    if (!zstd) {
        return qio_channel_readv_all(c->ioc, iov, normal, errp) == 0;
    }
#if CONFIG_ZSTD
    if (qio_channel_read_all(c->ioc, c->zbuf, data_len, errp) < 0) {
        return false;
    }
    ZSTD_inBuffer in = { c->zbuf, data_len, 0 };
    ZSTD_DCtx_reset(c->dctx, ZSTD_reset_session_only);
    for (uint32_t i = 0; i < normal; i++) {
        ZSTD_outBuffer out = { iov[i].iov_base, TARGET_PAGE_SIZE, 0 };
        while (out.pos < out.size) {
            size_t r = ZSTD_decompressStream(c->dctx, &out, &in);
            if (ZSTD_isError(r) ||
                (in.pos == in.size && out.pos < out.size && r == 0)) {
                error_setg(errp, "multifd channel %d: zstd: %s", c->id,
                           ZSTD_isError(r) ? ZSTD_getErrorName(r)
                                           : "truncated data");
                return false;
            }
        }
    }
    return true;
#else
    error_setg(errp, "zstd not built in");
    return false;
#endif
}

static bool sock_recv_packet(SockState *m, SockChannel *c, bool *eof,
                             GError **errp)
{
    MultiFDPacketHdr h;
    uint64_t offsets[MULTIFD_PACKET_PAGES];
    struct iovec hiov = { &h, sizeof(h) };

    int r = qio_channel_readv_all_eof(c->ioc, &hiov, 1, errp);
    if (r <= 0) {
        *eof = r == 0;
        return r == 0;
    }
    h.magic = GUINT32_FROM_BE(h.magic);
    h.version = GUINT32_FROM_BE(h.version);
    h.flags = GUINT32_FROM_BE(h.flags);
    h.normal_pages = GUINT32_FROM_BE(h.normal_pages);
    h.zero_pages = GUINT32_FROM_BE(h.zero_pages);
    h.next_packet_size = GUINT32_FROM_BE(h.next_packet_size);
    GError *err = NULL;
    RAMBlock *rb = sock_check_packet(c, &h, &err);
    if (err) {
        g_propagate_error(errp, err);
        return false;
    }
    uint32_t pages = h.normal_pages + h.zero_pages;
    if (pages) {
        if (qio_channel_read_all(c->ioc, offsets, pages * 8, errp) < 0) {
            return false;
        }
        for (uint32_t i = 0; i < pages; i++) {
            offsets[i] = GUINT64_FROM_BE(offsets[i]);
            if (offsets[i] % TARGET_PAGE_SIZE ||
                offsets[i] >= rb->used_length) {
                error_setg(errp,
                           "multifd channel %d: page offset 0x%" PRIx64
                           " outside of ramblock %s",
                           c->id, offsets[i], rb->idstr);
                return false;
            }
        }
        if (!sock_recv_data(c, rb, offsets, h.normal_pages, h.next_packet_size,
                            m->zstd, errp)) {
            return false;
        }
        for (uint32_t i = h.normal_pages; i < pages; i++) {
            uint8_t *p = rb->host + offsets[i];
            if (!buffer_is_zero(p, TARGET_PAGE_SIZE)) {
                memset(p, 0, TARGET_PAGE_SIZE);
            }
        }
    }
    if (h.flags & MULTIFD_FLAG_SYNC) {
        /* Park until the main stream reaches the same point. */
        g_mutex_lock(&m->lock);
        uint64_t gen = m->sync_gen;
        m->synced++;
        g_cond_broadcast(&m->cond);
        while (m->sync_gen == gen && !atomic_load(&m->failed)) {
            g_cond_wait(&m->cond, &m->lock);
        }
        g_mutex_unlock(&m->lock);
    }
    return true;
}

static gpointer sock_recv_thread(gpointer opaque)
{
    SockChannel *c = opaque;
    SockState *m = sock;

    for (;;) {
        GError *err = NULL;
        bool eof = false;
        if (!sock_recv_packet(m, c, &eof, &err)) {
            sock_set_error(m, err);
            break;
        }
        if (eof || atomic_load(&m->failed)) {
            break;
        }
    }
    g_mutex_lock(&m->lock);
    m->exited++;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return NULL;
}

bool multifd_socket_recv_setup(GError **errp)
{
    sock = sock_new(false);
    return true;
}

/* A connection that started with the multifd init packet. */
bool multifd_socket_recv_channel(QIOChannel *ioc, GError **errp)
{
    SockState *m = sock;
    MultiFDInit init;

    if (qio_channel_read_all(ioc, &init, sizeof(init), errp) < 0) {
        return false;
    }
    if (GUINT32_FROM_BE(init.magic) != MULTIFD_MAGIC ||
        GUINT32_FROM_BE(init.version) != MULTIFD_VERSION) {
        error_setg(errp, "multifd: bad init packet");
        return false;
    }
    if (init.id >= m->n || m->ch[init.id].ioc) {
        error_setg(errp,
                   "multifd: unexpected channel id %u (multifd-channels "
                   "is %d on the destination)",
                   init.id, m->n);
        return false;
    }
    SockChannel *c = &m->ch[init.id];
    c->ioc = qio_channel_ref(ioc);
    g_autofree char *name = g_strdup_printf("mig/recv/%d", c->id);
    c->thread = g_thread_new(name, sock_recv_thread, c);
    return true;
}

bool multifd_socket_recv_active(void)
{
    return sock && !sock->sending;
}

bool multifd_socket_recv_sync(GError **errp)
{
    SockState *m = sock;

    g_mutex_lock(&m->lock);
    while (m->synced + m->exited < (unsigned)m->n && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    m->synced = 0;
    m->sync_gen++;
    g_cond_broadcast(&m->cond);
    bool ok = !m->error;
    if (!ok) {
        g_propagate_error(errp, g_error_copy(m->error));
    }
    g_mutex_unlock(&m->lock);
    return ok;
}

void multifd_socket_recv_shutdown(void)
{
    SockState *m = sock;

    if (!m || m->sending) {
        return;
    }
    g_mutex_lock(&m->lock);
    atomic_store(&m->failed, true); /* release parked threads */
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    for (int i = 0; i < m->n; i++) {
        if (m->ch[i].ioc) {
            qio_channel_shutdown(m->ch[i].ioc, QIO_CHANNEL_SHUTDOWN_BOTH, NULL);
        }
        if (m->ch[i].thread) {
            g_thread_join(m->ch[i].thread);
        }
    }
    sock = NULL;
    sock_free(m);
}
