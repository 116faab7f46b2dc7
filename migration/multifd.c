/*
 * multifd core: channels, their threads, the job queue, sync, cancel and
 * the first error.  What a channel does with a job is its transport's
 * business (multifd-file.c, multifd-socket.c); see multifd.h.
 *
 * The migration thread fills one job at a time (runs of pages of one
 * block) and pushes it to a queue every channel takes from, so a slow
 * channel never holds up the others.  The number of jobs in flight is
 * bounded: the producer waits, which keeps memory flat and makes the rate
 * limit honest.
 *
 * A packet destination is not job driven: each channel thread reads
 * packets on its own and parks at a SYNC packet until the main stream
 * reaches the same point (multifd_recv_sync), so pages of one pass never
 * overtake those of the next.
 */
#include "qemu/osdep.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/ram.h"

typedef struct MultiFDState {
    const MultiFDTransportOps *ops;
    bool sending;
    int nchannels;
    MultiFDChannel *channels;
    GAsyncQueue *queue; /* MultiFDJob*, taken by every channel */
    MultiFDJob *cur;    /* job being filled; migration thread only */
    unsigned max_pending;
    GMutex lock;
    GCond cond;        /* any of the counters below changed */
    unsigned pending;  /* jobs queued or running; lock */
    unsigned synced;   /* packet destination: channels parked; lock */
    unsigned exited;   /* packet destination: threads done; lock */
    uint64_t sync_gen; /* bumped to release the parked channels; lock */
    GError *error;     /* first channel error; lock */
    _Atomic bool failed;
    /* Source: bytes of the jobs queued or running, for the rate limit. */
    _Atomic uint64_t inflight_bytes;
} MultiFDState;

static MultiFDState *multifd;

/* Packet destinations read on their own; everything else takes jobs. */
static bool multifd_packet_driven(MultiFDState *m)
{
    return !m->sending && m->ops->recv_packet;
}

static void multifd_set_error(MultiFDState *m, GError *err)
{
    g_mutex_lock(&m->lock);
    error_propagate(&m->error, err); /* the first error wins */
    atomic_store(&m->failed, true);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    /* Wake any peer read or write blocked on the channels. */
    for (int i = 0; m->ops->channel_shutdown && i < m->nchannels; i++) {
        if (m->channels[i].ioc) {
            m->ops->channel_shutdown(&m->channels[i]);
        }
    }
}

static bool multifd_get_error(MultiFDState *m, GError **errp)
{
    g_mutex_lock(&m->lock);
    bool ok = !m->error;
    if (!ok) {
        g_propagate_error(errp, g_error_copy(m->error));
    }
    g_mutex_unlock(&m->lock);
    return ok;
}

static void multifd_job_done(MultiFDState *m)
{
    g_mutex_lock(&m->lock);
    m->pending--;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

static gpointer multifd_job_thread(gpointer opaque)
{
    MultiFDChannel *c = opaque;
    MultiFDState *m = multifd;

    for (;;) {
        MultiFDJob *job = g_async_queue_pop(m->queue);
        if (!job->rb) {
            g_free(job);
            break;
        }
        GError *err = NULL;
        /* After a failure the remaining jobs are only drained. */
        if (!atomic_load(&m->failed) &&
            !(m->sending ? m->ops->send(c, job, &err)
                         : m->ops->recv(c, job, &err))) {
            multifd_set_error(m, err);
        }
        atomic_fetch_sub(&m->inflight_bytes, job->npages << TARGET_PAGE_BITS);
        g_free(job);
        multifd_job_done(m);
    }
    return NULL;
}

/* Park at a SYNC packet until multifd_recv_sync() lets the pass end. */
static void multifd_recv_park(MultiFDState *m)
{
    g_mutex_lock(&m->lock);
    uint64_t gen = m->sync_gen;
    m->synced++;
    g_cond_broadcast(&m->cond);
    while (m->sync_gen == gen && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    g_mutex_unlock(&m->lock);
}

static gpointer multifd_packet_thread(gpointer opaque)
{
    MultiFDChannel *c = opaque;
    MultiFDState *m = multifd;

    while (!atomic_load(&m->failed)) {
        GError *err = NULL;
        bool sync = false;
        int r = m->ops->recv_packet(c, &sync, &err);
        if (r < 0) {
            multifd_set_error(m, err);
        }
        if (r <= 0) {
            break;
        }
        if (sync) {
            multifd_recv_park(m);
        }
    }
    g_mutex_lock(&m->lock);
    m->exited++;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return NULL;
}

static void multifd_channel_start(MultiFDState *m, MultiFDChannel *c)
{
    g_autofree char *name =
        g_strdup_printf("mig/%s/%d", m->sending ? "send" : "recv", c->id);

    c->thread = g_thread_new(name,
                             multifd_packet_driven(m) ? multifd_packet_thread
                                                      : multifd_job_thread,
                             c);
}

static void multifd_free(MultiFDState *m)
{
    for (int i = 0; i < m->nchannels; i++) {
        m->ops->channel_cleanup(&m->channels[i]);
    }
    g_async_queue_unref(m->queue);
    g_free(m->channels);
    g_free(m->cur);
    g_clear_error(&m->error);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    g_free(m);
}

static bool multifd_setup(bool sending, GError **errp)
{
    MultiFDState *m = g_new0(MultiFDState, 1);

    /* mapped-ram has no packets: every page has its place in the file. */
    m->ops = migrate_mapped_ram() ? &multifd_file_ops : &multifd_socket_ops;
    m->sending = sending;
    m->nchannels = migrate_params()->multifd_channels;
    m->max_pending = m->nchannels * 4;
    m->queue = g_async_queue_new();
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->channels = g_new0(MultiFDChannel, m->nchannels);
    for (int i = 0; i < m->nchannels; i++) {
        m->channels[i].id = i;
        if (!m->ops->channel_setup(&m->channels[i], sending, errp)) {
            multifd_free(m);
            return false;
        }
    }
    multifd = m;
    /* A packet destination starts a thread as each channel arrives. */
    for (int i = 0; !multifd_packet_driven(m) && i < m->nchannels; i++) {
        multifd_channel_start(m, &m->channels[i]);
    }
    return true;
}

bool multifd_send_setup(GError **errp)
{
    return multifd_setup(true, errp);
}

bool multifd_recv_setup(GError **errp)
{
    return multifd_setup(false, errp);
}

bool multifd_recv_new_channel(QIOChannel *ioc, GError **errp)
{
    MultiFDState *m = multifd;
    int id;

    if (!m || !multifd_packet_driven(m)) {
        error_setg(errp, "multifd: unexpected channel");
        return false;
    }
    if (!m->ops->recv_hello(ioc, m->nchannels, &id, errp)) {
        return false;
    }
    MultiFDChannel *c = &m->channels[id];
    if (c->ioc) {
        error_setg(errp,
                   "multifd: unexpected channel id %d (multifd-channels "
                   "is %d on the destination)",
                   id, m->nchannels);
        return false;
    }
    c->ioc = qio_channel_ref(ioc);
    multifd_channel_start(m, c);
    return true;
}

bool multifd_active(void)
{
    return multifd != NULL;
}

/* Hand the job being filled to the channels (waits while too many are). */
static void multifd_submit(MultiFDState *m)
{
    MultiFDJob *job = m->cur;

    m->cur = NULL;
    if (!job || !job->nruns) {
        g_free(job);
        return;
    }
    g_mutex_lock(&m->lock);
    while (m->pending >= m->max_pending && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    m->pending++;
    g_mutex_unlock(&m->lock);
    atomic_fetch_add(&m->inflight_bytes, job->npages << TARGET_PAGE_BITS);
    g_async_queue_push(m->queue, job);
}

bool multifd_queue_pages(RAMBlock *rb, uint64_t start, uint64_t npages,
                         GError **errp)
{
    MultiFDState *m = multifd;
    uint64_t max = m ? m->ops->job_max_pages : 0;

    if (!m) {
        return false;
    }
    if (atomic_load(&m->failed)) {
        multifd_get_error(m, errp);
        return false;
    }
    while (npages) {
        if (m->cur && (m->cur->rb != rb || m->cur->npages == max ||
                       m->cur->nruns == MULTIFD_JOB_MAX_RUNS)) {
            multifd_submit(m);
        }
        if (!m->cur) {
            m->cur = g_new0(MultiFDJob, 1);
            m->cur->rb = rb;
        }
        uint64_t n = MIN(npages, max - m->cur->npages);
        MultiFDRun *last =
            m->cur->nruns ? &m->cur->runs[m->cur->nruns - 1] : NULL;
        if (last && last->start + last->n == start) {
            last->n += n; /* contiguous with the previous run */
        } else {
            m->cur->runs[m->cur->nruns++] = (MultiFDRun){ start, n };
        }
        m->cur->npages += n;
        start += n;
        npages -= n;
    }
    return true;
}

/* Flush the job being filled and wait until no job is pending. */
static bool multifd_drain(MultiFDState *m, GError **errp)
{
    multifd_submit(m);
    g_mutex_lock(&m->lock);
    while (m->pending && !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    g_mutex_unlock(&m->lock);
    return multifd_get_error(m, errp);
}

bool multifd_send_sync(QEMUFile *f)
{
    GError *err = NULL;

    if (multifd && !multifd_drain(multifd, &err)) {
        qemu_file_set_error_obj(f, -EIO, err);
        return false;
    }
    return true;
}

/* Drain, then SYNC every channel; *@sent: the transport has SYNCs. */
static bool multifd_sync_channels(QEMUFile *f, bool *sent)
{
    MultiFDState *m = multifd;
    GError *err = NULL;

    *sent = false;
    if (!multifd_send_sync(f)) {
        return false;
    }
    if (!m || !m->ops->send_sync) {
        return true;
    }
    /* Every channel is idle now: the migration thread may use them. */
    for (int i = 0; i < m->nchannels; i++) {
        if (!m->ops->send_sync(&m->channels[i], &err)) {
            multifd_set_error(m, g_error_copy(err));
            qemu_file_set_error_obj(f, -EIO, err);
            return false;
        }
    }
    *sent = true;
    return true;
}

bool multifd_ram_sync_channels(QEMUFile *f)
{
    bool sent;

    return multifd_sync_channels(f, &sent);
}

bool multifd_ram_flush_and_sync(QEMUFile *f)
{
    bool sent;

    if (!multifd_sync_channels(f, &sent)) {
        return false;
    }
    if (sent) {
        /* The destination waits for every channel's SYNC here. */
        qemu_put_be64(f, RAM_SAVE_FLAG_MULTIFD_FLUSH);
        ram_transferred_add(8);
    }
    return true;
}

bool multifd_recv_sync(GError **errp)
{
    MultiFDState *m = multifd;

    if (!m) {
        return true;
    }
    if (!multifd_packet_driven(m)) {
        return multifd_drain(m, errp);
    }
    g_mutex_lock(&m->lock);
    while (m->synced + m->exited < (unsigned)m->nchannels &&
           !atomic_load(&m->failed)) {
        g_cond_wait(&m->cond, &m->lock);
    }
    m->synced = 0;
    m->sync_gen++;
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
    return multifd_get_error(m, errp);
}

uint64_t multifd_send_inflight_bytes(void)
{
    MultiFDState *m = multifd;

    return m && m->sending ? atomic_load(&m->inflight_bytes) : 0;
}

bool multifd_send_error_pending(void)
{
    return multifd && atomic_load(&multifd->failed);
}

GError *multifd_send_error(void)
{
    GError *err = NULL;

    if (multifd) {
        multifd_get_error(multifd, &err);
    }
    return err;
}

static void multifd_shutdown(bool sending)
{
    MultiFDState *m = multifd;

    if (!m || m->sending != sending) {
        return;
    }
    if (multifd_packet_driven(m)) {
        /* Release parked threads and wake those blocked on a read. */
        g_mutex_lock(&m->lock);
        atomic_store(&m->failed, true);
        g_cond_broadcast(&m->cond);
        g_mutex_unlock(&m->lock);
        for (int i = 0; i < m->nchannels; i++) {
            if (m->channels[i].ioc) {
                m->ops->channel_shutdown(&m->channels[i]);
            }
        }
    } else {
        for (int i = 0; i < m->nchannels; i++) {
            g_async_queue_push(m->queue, g_new0(MultiFDJob, 1));
        }
    }
    for (int i = 0; i < m->nchannels; i++) {
        if (m->channels[i].thread) {
            g_thread_join(m->channels[i].thread);
        }
    }
    multifd = NULL;
    multifd_free(m);
}

void multifd_send_shutdown(void)
{
    multifd_shutdown(true);
}

void multifd_recv_shutdown(void)
{
    multifd_shutdown(false);
}

const MultiFDMethods *multifd_get_methods(void)
{
    static const MultiFDMethods *const methods[MULTIFD_COMPRESSION__MAX] = {
        [MULTIFD_COMPRESSION_NONE] = &multifd_nocomp_ops,
#if CONFIG_ZSTD
        [MULTIFD_COMPRESSION_ZSTD] = &multifd_zstd_ops,
#endif
    };
    return methods[migrate_params()->multifd_compression];
}
