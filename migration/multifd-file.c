/*
 * multifd file transport (mapped-ram): each channel has its own file
 * descriptor and an I/O engine on it, and moves runs of pages straight
 * between guest RAM and their fixed offsets in the file.  No packets:
 * the offsets say everything.
 */
#include "qemu/osdep.h"
#include "io/engine.h"
#include "migration/file.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/ram-checksum.h"
#include "migration/ram.h"

/* Pages per job: a few MiB keeps every channel busy. */
#define MULTIFD_FILE_JOB_PAGES ((4 * MiB) >> TARGET_PAGE_BITS)
/* Requests in flight per channel, for the asynchronous engines. */
#define MULTIFD_FILE_ENGINE_DEPTH 16

/*
 * Buffered writes to one file are serialized by the kernel anyway: ext4
 * and xfs hold the inode lock exclusively for the copy into the page
 * cache.  N channels contending for it spin (rwsem_spin_on_owner) and,
 * on 2 cores, cost 3-8x the CPU of one writer for no more throughput.
 * So channels take turns here, where a waiter sleeps, and keep zero
 * detection parallel.  O_DIRECT writes take the lock shared: no turns.
 */
static GMutex page_cache_write_lock;

typedef struct FileChannel {
    IOEngine *engine;
    MultiFDRun written[MULTIFD_FILE_JOB_PAGES]; /* non-zero sub-runs */
    uint64_t punch[MULTIFD_FILE_JOB_PAGES];     /* zero pages to punch */
    size_t npunch;
} FileChannel;

static bool file_channel_setup(MultiFDChannel *c, bool sending, GError **errp)
{
    FileChannel *fc = g_new0(FileChannel, 1);

    c->data = fc;
    c->ioc = file_multifd_channel_new(sending, errp);
    if (!c->ioc) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    fc->engine = io_engine_new(migrate_params()->io_engine, c->ioc,
                               MULTIFD_FILE_ENGINE_DEPTH, errp);
    if (!fc->engine) {
        error_prepend(errp, "multifd channel %d", c->id);
        return false;
    }
    return true;
}

static void file_channel_cleanup(MultiFDChannel *c)
{
    FileChannel *fc = c->data;

    if (fc) {
        io_engine_free(fc->engine);
        g_free(fc);
        c->data = NULL;
    }
    if (c->ioc) {
        qio_channel_unref(c->ioc);
        c->ioc = NULL;
    }
}

/* Submit [start, start + n) pages of @rb, in requests the engine likes. */
static bool file_submit_range(MultiFDChannel *c, bool is_write, RAMBlock *rb,
                              uint64_t start, uint64_t n, GError **errp)
{
    IOEngine *e = ((FileChannel *)c->data)->engine;
    size_t max = io_engine_max_request(e);
    uint64_t off = start << TARGET_PAGE_BITS;
    uint64_t end = off + (n << TARGET_PAGE_BITS);

    while (off < end) {
        size_t len = max ? MIN(end - off, max) : end - off;
        if (!io_engine_submit(e, is_write, rb->host + off, len,
                              rb->pages_offset + off, errp)) {
            return false;
        }
        off += len;
    }
    return true;
}

static bool runs_mergeable(const MultiFDRun *a, const MultiFDRun *b)
{
    return b->start - (a->start + a->n) <= MAPPED_RAM_GAP_PAGES;
}

/* Move @runs (sorted, one block), close neighbours merged, and drain. */
static bool file_move_runs(MultiFDChannel *c, bool is_write, RAMBlock *rb,
                           const MultiFDRun *runs, size_t n, GError **errp)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && runs_mergeable(&runs[j - 1], &runs[j])) {
            j++;
        }
        uint64_t end = runs[j - 1].start + runs[j - 1].n;
        if (!is_write) {
            /* Fresh RAM is faulted in here, in parallel, not page by page. */
            ram_block_prefault(rb, runs[i].start << TARGET_PAGE_BITS,
                               (end - runs[i].start) << TARGET_PAGE_BITS);
        }
        if (!file_submit_range(c, is_write, rb, runs[i].start,
                               end - runs[i].start, errp)) {
            return false;
        }
        i = j;
    }
    return io_engine_drain(((FileChannel *)c->data)->engine, errp);
}

/*
 * Split @job into non-zero sub-runs (returned in fc->written) and zero
 * pages (holes).  A zero page the file holds an older copy of is punched
 * out after the writes (fc->punch), which may have covered it as part of
 * a merged gap.  Zero detection here runs in parallel on N threads.
 */
static bool file_split_zero(MultiFDChannel *c, MultiFDJob *job, size_t *nout,
                            uint64_t *normal, GError **errp)
{
    FileChannel *fc = c->data;
    RAMBlock *rb = job->rb;
    int fd = qio_channel_get_fd(c->ioc);

    *nout = 0;
    *normal = 0;
    fc->npunch = 0;
    for (size_t i = 0; i < job->nruns; i++) {
        uint64_t p = job->runs[i].start, end = p + job->runs[i].n;
        while (p < end) {
            if (ram_page_is_zero(rb, p)) {
                if (test_bit(p, rb->file_bmap)) {
                    fc->punch[fc->npunch++] = p;
                } else if (!mapped_ram_zero_page(fd, rb, p, errp)) {
                    return false;
                }
                p++;
                continue;
            }
            uint64_t q = p + 1;
            while (q < end && !ram_page_is_zero(rb, q)) {
                q++;
            }
            fc->written[(*nout)++] = (MultiFDRun){ p, q - p };
            *normal += q - p;
            p = q;
        }
    }
    return true;
}

/* Write @runs; through the page cache, one channel at a time (above). */
static bool file_write_runs(MultiFDChannel *c, RAMBlock *rb,
                            const MultiFDRun *runs, size_t n, GError **errp)
{
    bool ok;

    if (migrate_direct_io()) {
        return file_move_runs(c, true, rb, runs, n, errp);
    }
    g_mutex_lock(&page_cache_write_lock);
    ok = file_move_runs(c, true, rb, runs, n, errp);
    g_mutex_unlock(&page_cache_write_lock);
    return ok;
}

/* Source: bits are set only once the writes completed. */
static bool file_send(MultiFDChannel *c, MultiFDJob *job, GError **errp)
{
    FileChannel *fc = c->data;
    size_t n;
    uint64_t normal;

    if (!file_split_zero(c, job, &n, &normal, errp) ||
        !file_write_runs(c, job->rb, fc->written, n, errp)) {
        error_prepend(errp, "multifd channel %d: writing ramblock %s", c->id,
                      job->rb->idstr);
        return false;
    }
    for (size_t i = 0; i < fc->npunch; i++) {
        if (!mapped_ram_zero_page(qio_channel_get_fd(c->ioc), job->rb,
                                  fc->punch[i], errp)) {
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        bitmap_set_range_atomic(job->rb->file_bmap, fc->written[i].start,
                                fc->written[i].n);
        ram_checksums_record(job->rb, fc->written[i].start, fc->written[i].n);
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
static bool file_recv(MultiFDChannel *c, MultiFDJob *job, GError **errp)
{
    const MultiFDRun *r = job->runs;

    if (!file_move_runs(c, false, job->rb, r, job->nruns, errp)) {
        error_prepend(errp, "multifd channel %d: reading ramblock %s", c->id,
                      job->rb->idstr);
        return false;
    }
    for (size_t i = 0; i < job->nruns; i++) {
        if (!ram_checksums_verify(job->rb, r[i].start, r[i].n, errp)) {
            error_prepend(errp, "multifd channel %d", c->id);
            return false;
        }
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

const MultiFDTransportOps multifd_file_ops = {
    .name = "file",
    .job_max_pages = MULTIFD_FILE_JOB_PAGES,
    .channel_setup = file_channel_setup,
    .channel_cleanup = file_channel_cleanup,
    .send = file_send,
    .recv = file_recv,
};
