/*
 * multifd for mapped-ram files: N channel threads, each with its own file
 * descriptor, doing positioned vectored I/O straight between guest RAM
 * and the pages' fixed offsets in the file.  No packets: the offsets say
 * everything.
 *
 * The migration thread fills one job at a time (runs of pages of a single
 * block, a few MiB) and pushes it to a queue shared by the channels, so a
 * slow channel never holds up the others.  The number of jobs in flight
 * is bounded: the producer waits, which keeps memory flat and makes the
 * rate limit honest.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "io/engine.h"
#include "migration/migration.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/ram.h"

#define MULTIFD_JOB_MAX_RUNS 128
#define MULTIFD_JOB_MAX_BYTES (4 * MiB)

typedef struct PageRange {
    uint64_t start;
    uint64_t n;
} PageRange;

typedef struct MultiFDJob {
    RAMBlock *rb; /* NULL: the thread must exit */
    size_t nruns;
    uint64_t bytes;
    PageRange runs[MULTIFD_JOB_MAX_RUNS];
} MultiFDJob;

/* Requests in flight per channel and their size, for the async engines. */
#define MULTIFD_ENGINE_DEPTH 16
#define MULTIFD_ENGINE_CHUNK (1 * MiB)

typedef struct MultiFDChannel {
    int id;
    GThread *thread;
    QIOChannel *ioc;    /* owned by the channel thread */
    IOEngine *engine;   /* owned by the channel thread */
    PageRange *scratch; /* written sub-runs of a job; channel thread */
} MultiFDChannel;

typedef struct MultiFDState {
    bool sending; /* true: source, false: destination */
    int nchannels;
    MultiFDChannel *channels;
    GAsyncQueue *queue; /* MultiFDJob* */
    MultiFDJob *cur;    /* job being filled; migration thread only */
    GMutex lock;
    GCond cond;       /* pending changed */
    unsigned pending; /* jobs queued or running; guarded by lock */
    unsigned max_pending;
    GError *error; /* first channel error; guarded by lock */
    _Atomic bool failed;
} MultiFDState;

static MultiFDState *multifd;

static void multifd_set_error(MultiFDState *m, GError *err)
{
    g_mutex_lock(&m->lock);
    error_propagate(&m->error, err); /* the first error wins */
    atomic_store(&m->failed, true);
    g_cond_broadcast(&m->cond);
    g_mutex_unlock(&m->lock);
}

/* Submit [start, start + n) pages of @rb to the channel's engine. */
static bool multifd_submit_range(MultiFDState *m, MultiFDChannel *c,
                                 RAMBlock *rb, uint64_t start, uint64_t n,
                                 GError **errp)
{
    uint64_t off = start << TARGET_PAGE_BITS;
    uint64_t end = off + (n << TARGET_PAGE_BITS);

    /* psync takes a run in one call; async engines get chunks. */
    while (off < end) {
        size_t len = end - off;
        if (migrate_params()->io_engine != MIG_IO_ENGINE_PSYNC) {
            len = MIN(len, MULTIFD_ENGINE_CHUNK);
        }
        if (!io_engine_submit(c->engine, m->sending, rb->host + off, len,
                              rb->pages_offset + off, errp)) {
            return false;
        }
        off += len;
    }
    return true;
}

/*
 * Runs closer than this are read or written as one request, gap included:
 * a few zero pages cost less than another (O_DIRECT) request.  The file
 * bitmap still lists only the pages that hold data.
 */
#define MULTIFD_GAP_PAGES 16

static bool runs_mergeable(const PageRange *a, const PageRange *b)
{
    return b->start - (a->start + a->n) <= MULTIFD_GAP_PAGES;
}

/* Submit @runs (sorted, one block), merging close neighbours. */
static bool multifd_submit_runs(MultiFDState *m, MultiFDChannel *c,
                                RAMBlock *rb, const PageRange *runs, size_t n,
                                GError **errp)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && runs_mergeable(&runs[j - 1], &runs[j])) {
            j++;
        }
        uint64_t end = runs[j - 1].start + runs[j - 1].n;
        if (!multifd_submit_range(m, c, rb, runs[i].start, end - runs[i].start,
                                  errp)) {
            return false;
        }
        i = j;
    }
    return true;
}

/*
 * Source: split each run into non-zero sub-runs (written, bits set once
 * the writes completed) and zero pages (holes; an older copy in the file
 * is punched out).  Zero detection here runs in parallel on N threads.
 */
static bool multifd_send_job(MultiFDState *m, MultiFDChannel *c,
                             MultiFDJob *job, GError **errp)
{
    RAMBlock *rb = job->rb;
    PageRange *written = c->scratch;
    size_t nwritten = 0;
    uint64_t normal = 0;
    int fd = qio_channel_get_fd(c->ioc);

    for (size_t i = 0; i < job->nruns; i++) {
        uint64_t p = job->runs[i].start, end = p + job->runs[i].n;
        while (p < end) {
            if (buffer_is_zero(rb->host + (p << TARGET_PAGE_BITS),
                               TARGET_PAGE_SIZE)) {
                if (!mapped_ram_zero_page(fd, rb, p, errp)) {
                    return false;
                }
                p++;
                continue;
            }
            uint64_t q = p + 1;
            while (q < end &&
                   !buffer_is_zero(rb->host + (q << TARGET_PAGE_BITS),
                                   TARGET_PAGE_SIZE)) {
                q++;
            }
            written[nwritten++] = (PageRange){ p, q - p };
            normal += q - p;
            p = q;
        }
    }
    if (!multifd_submit_runs(m, c, rb, written, nwritten, errp) ||
        !io_engine_drain(c->engine, errp)) {
        return false;
    }
    for (size_t i = 0; i < nwritten; i++) {
        bitmap_set_range_atomic(rb->file_bmap, written[i].start, written[i].n);
    }
    atomic_fetch_add(&ram_stats.normal_pages, normal);
    atomic_fetch_add(&ram_stats.multifd_bytes, normal << TARGET_PAGE_BITS);
    atomic_fetch_add(&ram_stats.transferred, normal << TARGET_PAGE_BITS);
    return true;
}

/*
 * Destination: read the present pages at their fixed offsets.  A merged
 * read also fills the absent pages between two runs with whatever the
 * file holds there (a hole, or an old copy QEMU left behind): those pages
 * are zeroed again, as the bitmap says they must be.
 */
static bool multifd_recv_job(MultiFDState *m, MultiFDChannel *c,
                             MultiFDJob *job, GError **errp)
{
    const PageRange *r = job->runs;

    if (!multifd_submit_runs(m, c, job->rb, r, job->nruns, errp) ||
        !io_engine_drain(c->engine, errp)) {
        return false;
    }
    for (size_t i = 1; i < job->nruns; i++) {
        uint64_t gap_start = r[i - 1].start + r[i - 1].n;
        if (gap_start < r[i].start && runs_mergeable(&r[i - 1], &r[i])) {
            memset(job->rb->host + (gap_start << TARGET_PAGE_BITS), 0,
                   (r[i].start - gap_start) << TARGET_PAGE_BITS);
        }
    }
    return true;
}

static bool multifd_do_job(MultiFDState *m, MultiFDChannel *c, MultiFDJob *job,
                           GError **errp)
{
    bool ok = m->sending ? multifd_send_job(m, c, job, errp)
                         : multifd_recv_job(m, c, job, errp);
    if (!ok) {
        error_prepend(errp, "multifd channel %d: %s ramblock %s", c->id,
                      m->sending ? "writing" : "reading", job->rb->idstr);
    }
    return ok;
}

static const IOEngineKind engine_kinds[] = {
    [MIG_IO_ENGINE_PSYNC] = IO_ENGINE_PSYNC,
    [MIG_IO_ENGINE_IO_URING] = IO_ENGINE_IO_URING,
    [MIG_IO_ENGINE_LIBAIO] = IO_ENGINE_LIBAIO,
};

static void multifd_channel_close(MultiFDChannel *c)
{
    io_engine_free(c->engine);
    c->engine = NULL;
    g_clear_pointer(&c->scratch, g_free);
    if (c->ioc) {
        qio_channel_unref(c->ioc);
        c->ioc = NULL;
    }
}

/* Open one channel's descriptor and its engine. */
static bool multifd_channel_open(MultiFDChannel *c, const char *path, int flags,
                                 GError **errp)
{
    QIOChannelFile *f = migration_file_open(path, flags, 0, errp);

    if (!f) {
        if (flags & O_DIRECT && errp && *errp &&
            g_str_has_suffix((*errp)->message, g_strerror(EINVAL))) {
            error_prepend(errp, "direct-io: the file system does not support "
                                "O_DIRECT");
        }
        return false;
    }
    c->ioc = &f->parent;
    /* A job of N runs splits into at most one sub-run per page. */
    c->scratch = g_new(PageRange, MULTIFD_JOB_MAX_BYTES >> TARGET_PAGE_BITS);
    c->engine = io_engine_new(engine_kinds[migrate_params()->io_engine], f->fd,
                              MULTIFD_ENGINE_DEPTH, errp);
    if (!c->engine) {
        multifd_channel_close(c);
        return false;
    }
    return true;
}

static gpointer multifd_channel_thread(gpointer opaque)
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
        if (!atomic_load(&m->failed) && !multifd_do_job(m, c, job, &err)) {
            multifd_set_error(m, err);
        }
        g_free(job);
        g_mutex_lock(&m->lock);
        m->pending--;
        g_cond_broadcast(&m->cond);
        g_mutex_unlock(&m->lock);
    }
    return NULL;
}

static bool multifd_setup(bool sending, const char *path, GError **errp)
{
    const MigrationParameters *p = migrate_params();
    int flags = sending ? O_WRONLY : O_RDONLY;
    MultiFDState *m = g_new0(MultiFDState, 1);

    if (!path) {
        error_setg(errp, "multifd needs a file: migration URI");
        g_free(m);
        return false;
    }
    if (migrate_direct_io()) {
        flags |= O_DIRECT;
    }
    m->sending = sending;
    m->nchannels = p->multifd_channels;
    m->max_pending = m->nchannels * 4;
    m->queue = g_async_queue_new();
    g_mutex_init(&m->lock);
    g_cond_init(&m->cond);
    m->channels = g_new0(MultiFDChannel, m->nchannels);
    for (int i = 0; i < m->nchannels; i++) {
        m->channels[i].id = i;
        if (!multifd_channel_open(&m->channels[i], path, flags, errp)) {
            error_prepend(errp, "multifd channel %d", i);
            for (int j = 0; j < i; j++) {
                multifd_channel_close(&m->channels[j]);
            }
            g_async_queue_unref(m->queue);
            g_free(m->channels);
            g_free(m);
            return false;
        }
    }
    multifd = m;
    for (int i = 0; i < m->nchannels; i++) {
        g_autofree char *name =
            g_strdup_printf("mig/%s/%d", sending ? "send" : "recv", i);
        m->channels[i].thread =
            g_thread_new(name, multifd_channel_thread, &m->channels[i]);
    }
    return true;
}

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
    g_async_queue_push(m->queue, job);
}

static bool multifd_queue(RAMBlock *rb, uint64_t start, uint64_t npages,
                          GError **errp)
{
    MultiFDState *m = multifd;

    if (!m) {
        return false;
    }
    if (atomic_load(&m->failed)) {
        g_mutex_lock(&m->lock);
        g_propagate_error(errp, g_error_copy(m->error));
        g_mutex_unlock(&m->lock);
        return false;
    }
    if (m->cur && (m->cur->rb != rb || m->cur->nruns == MULTIFD_JOB_MAX_RUNS ||
                   m->cur->bytes >= MULTIFD_JOB_MAX_BYTES)) {
        multifd_submit(m);
    }
    if (!m->cur) {
        m->cur = g_new0(MultiFDJob, 1);
        m->cur->rb = rb;
    }
    m->cur->runs[m->cur->nruns++] = (PageRange){ start, npages };
    m->cur->bytes += npages << TARGET_PAGE_BITS;
    return true;
}

/* Flush the job being filled and wait until nothing is pending. */
static bool multifd_sync(GError **errp)
{
    MultiFDState *m = multifd;

    if (!m) {
        return true;
    }
    multifd_submit(m);
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

static void multifd_shutdown(void)
{
    MultiFDState *m = multifd;

    if (!m) {
        return;
    }
    g_free(m->cur);
    for (int i = 0; i < m->nchannels; i++) {
        g_async_queue_push(m->queue, g_new0(MultiFDJob, 1));
    }
    for (int i = 0; i < m->nchannels; i++) {
        g_thread_join(m->channels[i].thread);
        multifd_channel_close(&m->channels[i]);
    }
    multifd = NULL;
    g_async_queue_unref(m->queue);
    g_free(m->channels);
    g_clear_error(&m->error);
    g_mutex_clear(&m->lock);
    g_cond_clear(&m->cond);
    g_free(m);
}

bool multifd_send_setup(const char *path, GError **errp)
{
    return multifd_setup(true, path, errp);
}

bool multifd_file_active(void)
{
    return multifd && multifd->sending;
}

bool multifd_queue_pages(RAMBlock *rb, uint64_t start, uint64_t npages,
                         GError **errp)
{
    return multifd && multifd->sending &&
           multifd_queue(rb, start, npages, errp);
}

bool multifd_send_sync(QEMUFile *f)
{
    GError *err = NULL;

    if (multifd_socket_active() ? !multifd_socket_send_sync(&err)
                                : !multifd_sync(&err)) {
        qemu_file_set_error_obj(f, -EIO, err);
        return false;
    }
    return true;
}

bool multifd_send_error_pending(void)
{
    return (multifd && atomic_load(&multifd->failed)) ||
           multifd_socket_failed();
}

GError *multifd_send_error(void)
{
    MultiFDState *m = multifd;
    GError *err = multifd_socket_error();

    if (m && !err) {
        g_mutex_lock(&m->lock);
        err = m->error ? g_error_copy(m->error) : NULL;
        g_mutex_unlock(&m->lock);
    }
    return err;
}

void multifd_send_shutdown(void)
{
    multifd_shutdown();
    multifd_socket_send_shutdown();
}

bool multifd_recv_setup(const char *path, GError **errp)
{
    return multifd_setup(false, path, errp);
}

bool multifd_queue_read(RAMBlock *rb, uint64_t start, uint64_t npages,
                        GError **errp)
{
    return multifd && !multifd->sending &&
           multifd_queue(rb, start, npages, errp);
}

bool multifd_recv_sync(GError **errp)
{
    if (multifd_socket_recv_active()) {
        return multifd_socket_recv_sync(errp);
    }
    return multifd_sync(errp);
}

void multifd_recv_shutdown(void)
{
    multifd_shutdown();
    multifd_socket_recv_shutdown();
}
