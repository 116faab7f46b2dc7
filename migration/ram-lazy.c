/*
 * Lazy restore: resume the guest before its RAM is loaded, resolving its
 * page faults from the mapped-ram file (see ram-lazy.h and
 * docs/migration/lazy-restore.rst).
 *
 * Each block is cut into chunks of lazy-chunk-size bytes, each PENDING,
 * CLAIMED (someone is reading it) or DONE (every page is mapped).  Whoever
 * moves a chunk from PENDING to CLAIMED reads and installs it, then marks
 * it DONE; the load is complete when every chunk is DONE.
 *
 *  - the fault thread reads userfaultfd messages; a fault resolves its
 *    chunk at once, even when a prefetcher has claimed it (installing
 *    twice is harmless: UFFDIO_COPY never overwrites a mapped page).
 *  - prefetch threads claim runs of chunks, first after recent faults,
 *    then in file order, read them with the configured I/O engine (and
 *    O_DIRECT with direct-io) and install them.
 *  - code outside the vCPUs (monitor commands) calls ram_block_populate()
 *    before it touches guest RAM and resolves the range itself, so the
 *    main loop never sleeps in a page fault.
 *
 * After a read error nothing is installed for that page: a vCPU that needs
 * it stays blocked, the guest is paused with the error, and only process
 * exit releases the blocked threads.
 */
#include "qemu/osdep.h"
#include "accel/accel.h"
#include "io/channel-file.h"
#include "io/engine.h"
#include "migration/checksum.h"
#include "migration/options.h"
#include "migration/ram-lazy.h"
#include "migration/ram.h"
#include "qemu/mmap-alloc.h"
#include "system/cpus.h"
#include "system/system.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif
#ifndef UFFD_FEATURE_MOVE /* Linux 6.8; older headers lack it */
#define UFFD_FEATURE_MOVE (1ULL << 16)
#define _UFFDIO_MOVE 0x05
struct uffdio_move {
    __u64 dst;
    __u64 src;
    __u64 len;
    __u64 mode;
    __s64 move;
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* One prefetch request: a transparent huge page, moved whole if aligned. */
#define LAZY_RUN_BYTES (2 * MiB)
#define LAZY_BUF_ALIGN (2 * MiB)
#define LAZY_ENGINE_DEPTH 8 /* prefetch requests in flight (async) */
#define LAZY_HINTS 4        /* recent faults the prefetchers follow */
#define LAZY_HINT_BYTES (32 * MiB)
#define LAZY_HIST_BUCKETS 256
#define LAZY_GAP_PAGES 16 /* holes up to this size are copied as zeros */
/*
 * Faults come first.  While one is served, prefetchers submit nothing
 * new; for LAZY_FAULT_QUIET_NS after the last one, all of them together
 * keep a single request of at most LAZY_FAULT_MODE_BYTES in flight.  The
 * device serves reads in order, so a fault's read waits for about that
 * much (measured with fio beside the numbers: docs/migration/lazy-restore.rst).
 */
#define LAZY_FAULT_MODE_BYTES (512 * KiB)
#define LAZY_FAULT_QUIET_NS (20 * 1000 * 1000)
#define LAZY_YIELD_US 50

enum { CHUNK_PENDING, CHUNK_CLAIMED, CHUNK_DONE };

typedef struct LazyBlock {
    RAMBlock *rb;
    unsigned long *file_bmap; /* pages present in the file */
    uint64_t *sums;           /* x-checksums: each page's, or NULL */
    uint64_t npages;
    uint64_t nchunks;
    _Atomic uint8_t *state; /* per chunk */
    bool registered;
} LazyBlock;

typedef struct LazyHint {
    LazyBlock *lb; /* NULL: free slot */
    uint64_t chunk;
    uint64_t left; /* chunks still to look at */
} LazyHint;

/* A run of chunks being loaded, and what to read for it. */
typedef struct LazyRun {
    LazyBlock *lb;
    uint64_t page, npages;       /* the pages to install */
    uint64_t rd_page, rd_npages; /* the span read from the file */
    uint8_t *buf;
} LazyRun;

typedef enum LazyWho {
    LAZY_BY_FAULT,
    LAZY_BY_PREFETCH,
    LAZY_BY_MONITOR,
} LazyWho;

typedef struct LazyState {
    GPtrArray *blocks; /* LazyBlock* in file order */
    int uffd;
    int wake_fd; /* eventfd: stop the fault thread */
    int fd;      /* reads of the fault thread and monitor commands */
    bool direct;
    bool move; /* prefetched pages are moved in (UFFDIO_MOVE), not copied */
    uint64_t chunk_pages;
    uint64_t run_chunks;
    size_t run_bytes; /* largest run: bounce buffer size */
    int prefetch_threads;
    uint64_t total_chunks;
    _Atomic uint64_t done_chunks;

    GThread *fault_thread;
    GThread **prefetch;
    int nprefetch;
    GThread *pause_thread;

    GMutex lock; /* guards error; cond: done, failed or stopped */
    GCond cond;
    GError *error;
    _Atomic bool failed;
    _Atomic bool stop_prefetch;
    bool prefetch_go;           /* the guest resumed: prefetch may start */
    _Atomic bool quitting;      /* exit: release blocked threads at any cost */
    _Atomic int faults_serving; /* fault messages being handled */
    _Atomic bool slot_busy;     /* the one prefetch request while faults come */
    _Atomic int64_t last_fault_ns; /* when the last one was read */
    bool started, finished;

    /* monitor commands vs. teardown of the userfaultfd */
    GMutex populate_lock;
    uint8_t *populate_buf;

    /* prefetch scheduling, guarded by sched_lock */
    GMutex sched_lock;
    guint cursor_block;
    uint64_t cursor_chunk;
    LazyHint hints[LAZY_HINTS];
    unsigned next_hint;

    /* statistics (atomics; read by query-migrate) */
    int64_t start_ns;
    _Atomic int64_t end_ns;
    _Atomic uint64_t faults;
    _Atomic uint64_t pages[3]; /* by LazyWho */
    _Atomic uint64_t zero_pages;
    _Atomic uint64_t pages_moved; /* by UFFDIO_MOVE, of the data pages */
    _Atomic uint64_t bytes_prefetched;
    _Atomic uint64_t bytes_by_fault;
    _Atomic uint64_t hist[LAZY_HIST_BUCKETS]; /* fault latency, ns */
    _Atomic uint64_t lat_max_ns;
} LazyState;

static LazyState *lazy;

/* ---------------------------------------------------------------- */
/* userfaultfd */

/* Does the accelerator touch guest RAM from the kernel (KVM's GUP)? */
static bool lazy_needs_kernel_faults(void)
{
    return accel_is_kvm();
}

static bool uffd_handshake(int fd, uint64_t features, struct uffdio_api *api)
{
    *api = (struct uffdio_api){ .api = UFFD_API, .features = features };
    return ioctl(fd, UFFDIO_API, api) == 0;
}

/*
 * The handshake, asking for UFFDIO_MOVE (Linux 6.8) unless
 * MAPMIG_LAZY_COPY is set: a kernel without it refuses the feature and
 * leaves the handshake undone, so it is tried again without.
 */
static int uffd_api(int fd, bool *move, GError **errp)
{
    struct uffdio_api api;
    bool moves = !g_getenv("MAPMIG_LAZY_COPY") &&
                 uffd_handshake(fd, UFFD_FEATURE_MOVE, &api);

    if (!moves && !uffd_handshake(fd, 0, &api)) {
        error_setg_errno(errp, errno, "userfaultfd: UFFDIO_API failed");
        close(fd);
        return -1;
    }
    if (move) {
        *move = moves;
    }
    if (!(api.ioctls & (1ULL << _UFFDIO_REGISTER))) {
        error_setg(errp, "userfaultfd: the kernel offers no UFFDIO_REGISTER");
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * A userfaultfd, least privilege first: user-mode faults are all the soft
 * accelerator needs, and the kernel grants them to anyone; KVM faults on
 * guest RAM from the kernel, which needs a full userfaultfd (the syscall
 * for privileged callers, or /dev/userfaultfd where its mode allows).
 */
static int uffd_new(bool *move, GError **errp)
{
    const int flags = O_CLOEXEC | O_NONBLOCK;
    g_autoptr(GString) why = g_string_new(NULL);
    int fd;

    if (!lazy_needs_kernel_faults()) {
        fd = syscall(__NR_userfaultfd, flags | UFFD_USER_MODE_ONLY);
        if (fd >= 0) {
            return uffd_api(fd, move, errp);
        }
        g_string_append_printf(why, "userfaultfd(UFFD_USER_MODE_ONLY): %s; ",
                               g_strerror(errno));
    }
    fd = syscall(__NR_userfaultfd, flags);
    if (fd >= 0) {
        return uffd_api(fd, move, errp);
    }
    g_string_append_printf(why, "userfaultfd(): %s; ", g_strerror(errno));
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
        int e = errno;
        close(dev);
        if (fd >= 0) {
            return uffd_api(fd, move, errp);
        }
        g_string_append_printf(why, "/dev/userfaultfd USERFAULTFD_IOC_NEW: %s",
                               g_strerror(e));
    } else {
        g_string_append_printf(why, "/dev/userfaultfd: %s", g_strerror(errno));
    }
    error_setg(errp, "userfaultfd is not available (%s)", why->str);
    return -1;
}

/*
 * Register [host, host + len) for missing faults; check the ioctls.
 * Clears *@move (if given) unless UFFDIO_MOVE works there.
 */
static bool uffd_register(int fd, void *host, uint64_t len, bool *move,
                          GError **errp)
{
    struct uffdio_register reg = {
        .range = { .start = (uintptr_t)host, .len = len },
        .mode = UFFDIO_REGISTER_MODE_MISSING,
    };
    const uint64_t need = (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE);

    if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
        error_setg_errno(errp, errno, "userfaultfd: UFFDIO_REGISTER failed");
        return false;
    }
    if ((reg.ioctls & need) != need) {
        struct uffdio_range r = reg.range;
        ioctl(fd, UFFDIO_UNREGISTER, &r);
        error_setg(errp, "userfaultfd: the kernel cannot copy or zero pages "
                         "into this memory");
        return false;
    }
    if (move && !(reg.ioctls & (1ULL << _UFFDIO_MOVE))) {
        *move = false;
    }
    return true;
}

bool ram_lazy_supported(GError **errp)
{
    int fd = uffd_new(NULL, errp);
    bool ok;

    if (fd < 0) {
        return false;
    }
    /* Register a scratch page as guest RAM would be. */
    void *p = mmap(NULL, TARGET_PAGE_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        error_setg_errno(errp, errno, "mmap");
        close(fd);
        return false;
    }
    ok = uffd_register(fd, p, TARGET_PAGE_SIZE, NULL, errp);
    munmap(p, TARGET_PAGE_SIZE);
    close(fd);
    return ok;
}

/*
 * Map @len bytes of @src at @dst.  Pages mapped meanwhile by someone else
 * (EEXIST) are skipped: their content is the same or newer.  Adds the
 * pages this call mapped to *@mapped.
 */
static bool uffd_copy(int fd, uint8_t *dst, const uint8_t *src, uint64_t len,
                      uint64_t *mapped, GError **errp)
{
    while (len) {
        struct uffdio_copy c = {
            .dst = (uintptr_t)dst,
            .src = (uintptr_t)src,
            .len = len,
        };
        if (ioctl(fd, UFFDIO_COPY, &c) == 0) {
            *mapped += len >> TARGET_PAGE_BITS;
            return true;
        }
        int64_t done = c.copy > 0 ? c.copy : 0;
        if (errno == EEXIST) {
            done += TARGET_PAGE_SIZE;
        } else if (errno == EAGAIN) {
            *mapped += done >> TARGET_PAGE_BITS;
        } else if (errno != EINTR) {
            error_setg_errno(errp, errno, "userfaultfd: UFFDIO_COPY failed");
            return false;
        }
        done = MIN((uint64_t)done, len);
        dst += done;
        src += done;
        len -= done;
    }
    return true;
}

/*
 * Move the pages of [src, src + len) (ours, anonymous) to @dst with no
 * copy; an aligned transparent huge page moves whole.  Pages already
 * mapped at @dst are skipped as by uffd_copy().  Returns how many bytes
 * it dealt with: the rest (a page the kernel will not move) is the
 * caller's to copy.
 */
static uint64_t uffd_move(int fd, uint8_t *dst, uint8_t *src, uint64_t len,
                          uint64_t *mapped)
{
    uint64_t off = 0;

    while (off < len) {
        struct uffdio_move m = {
            .dst = (uintptr_t)(dst + off),
            .src = (uintptr_t)(src + off),
            .len = len - off,
        };
        if (ioctl(fd, UFFDIO_MOVE, &m) == 0) {
            *mapped += (len - off) >> TARGET_PAGE_BITS;
            return len;
        }
        uint64_t done = m.move > 0 ? m.move : 0;
        *mapped += done >> TARGET_PAGE_BITS;
        off += done;
        if (errno == EEXIST) {
            off += TARGET_PAGE_SIZE;
        } else if (errno != EAGAIN && errno != EINTR) {
            break;
        }
    }
    return MIN(off, len);
}

/* Map the zero page over [dst, dst + len); same rules as uffd_copy(). */
static bool uffd_zero(int fd, uint8_t *dst, uint64_t len, uint64_t *mapped,
                      GError **errp)
{
    while (len) {
        struct uffdio_zeropage z = {
            .range = { .start = (uintptr_t)dst, .len = len },
        };
        if (ioctl(fd, UFFDIO_ZEROPAGE, &z) == 0) {
            *mapped += len >> TARGET_PAGE_BITS;
            return true;
        }
        int64_t done = z.zeropage > 0 ? z.zeropage : 0;
        if (errno == EEXIST) {
            done += TARGET_PAGE_SIZE;
        } else if (errno == EAGAIN) {
            *mapped += done >> TARGET_PAGE_BITS;
        } else if (errno != EINTR) {
            error_setg_errno(errp, errno,
                             "userfaultfd: UFFDIO_ZEROPAGE failed");
            return false;
        }
        done = MIN((uint64_t)done, len);
        dst += done;
        len -= done;
    }
    return true;
}

/* ---------------------------------------------------------------- */
/* Errors and completion */

static void lazy_set_error(LazyState *ls, GError *err)
{
    g_mutex_lock(&ls->lock);
    error_propagate(&ls->error, err); /* the first error wins */
    atomic_store(&ls->failed, true);
    g_cond_broadcast(&ls->cond);
    g_mutex_unlock(&ls->lock);
}

static void lazy_chunks_done(LazyState *ls, uint64_t n)
{
    if (atomic_fetch_add(&ls->done_chunks, n) + n == ls->total_chunks) {
        atomic_store(&ls->end_ns, qemu_clock_ns());
        g_mutex_lock(&ls->lock);
        g_cond_broadcast(&ls->cond);
        g_mutex_unlock(&ls->lock);
    }
}

static bool lazy_complete(LazyState *ls)
{
    return atomic_load(&ls->done_chunks) == ls->total_chunks;
}

/* ---------------------------------------------------------------- */
/* Reading and installing runs */

static bool chunk_claim(LazyBlock *lb, uint64_t c)
{
    uint8_t expect = CHUNK_PENDING;
    return atomic_compare_exchange_strong(&lb->state[c], &expect,
                                          CHUNK_CLAIMED);
}

/* The pages of chunks [c, c + n) of @lb. */
static void lazy_run_init(LazyState *ls, LazyRun *r, LazyBlock *lb, uint64_t c,
                          uint64_t n)
{
    r->lb = lb;
    r->page = c * ls->chunk_pages;
    r->npages = MIN(n * ls->chunk_pages, lb->npages - r->page);
    /* Read from the first to the last present page, holes in between. */
    uint64_t end = r->page + r->npages;
    uint64_t first = find_next_bit(lb->file_bmap, end, r->page);
    uint64_t last = first;
    for (uint64_t p = first; p < end;
         p = find_next_bit(lb->file_bmap, end, p)) {
        uint64_t z = find_next_zero_bit(lb->file_bmap, end, p);
        last = z - 1;
        p = z;
    }
    r->rd_page = first;
    r->rd_npages = first < end ? last + 1 - first : 0;
}

/* r->buf mirrors the run: where page @p of the block is read to. */
static uint8_t *lazy_run_data(const LazyRun *r, uint64_t p)
{
    return r->buf + ((p - r->page) << TARGET_PAGE_BITS);
}

static off_t lazy_run_offset(const LazyRun *r)
{
    return r->lb->rb->pages_offset + (r->rd_page << TARGET_PAGE_BITS);
}

static void lazy_prefix_read_error(const LazyRun *r, GError **errp)
{
    error_prepend(errp,
                  "Lazy restore: cannot read ramblock %s pages at file "
                  "offset 0x%llx",
                  r->lb->rb->idstr, (unsigned long long)lazy_run_offset(r));
}

/* Read the whole span of @r; a short file is an error. */
static bool lazy_run_read(int fd, LazyRun *r, GError **errp)
{
    g_autoptr(QIOChannel) ioc =
        &qio_channel_file_new_borrowed(fd, "migration file")->parent;

    if (qio_channel_pread_all(ioc, lazy_run_data(r, r->rd_page),
                              r->rd_npages << TARGET_PAGE_BITS,
                              lazy_run_offset(r), errp) < 0) {
        lazy_prefix_read_error(r, errp);
        return false;
    }
    return true;
}

/* x-checksums: every present page of @r, as read, matches its sum. */
static bool lazy_run_verify(const LazyRun *r, GError **errp)
{
    const LazyBlock *lb = r->lb;
    uint64_t end = r->page + r->npages;

    for (uint64_t p = find_next_bit(lb->file_bmap, end, r->page);
         lb->sums && p < end; p = find_next_bit(lb->file_bmap, end, p + 1)) {
        const uint8_t *data = lazy_run_data(r, p);
        if (mig_page_sum(data) != lb->sums[p]) {
            error_setg(errp,
                       "Lazy restore: checksum mismatch in page 0x%" PRIx64
                       " of ramblock %s: the migration file is damaged",
                       (uint64_t)(p << TARGET_PAGE_BITS), lb->rb->idstr);
            return false;
        }
    }
    return true;
}

/*
 * Data pages from a buffer of ours: a prefetcher's buffers are refilled
 * by the next read anyway, so their pages are moved in where the kernel
 * can (no copy, a whole huge page at a time); the rest is copied.
 */
static bool lazy_map_data(LazyState *ls, uint8_t *dst, uint8_t *src,
                          uint64_t len, bool may_move, uint64_t *mapped,
                          GError **errp)
{
    uint64_t before = *mapped;
    uint64_t done =
        ls->move && may_move ? uffd_move(ls->uffd, dst, src, len, mapped) : 0;

    atomic_fetch_add(&ls->pages_moved, *mapped - before);
    return done == len || uffd_copy(ls->uffd, dst + done, src + done,
                                    len - done, mapped, errp);
}

/* Map the pages of @r: data from r->buf, holes as zero pages. */
static bool lazy_run_install(LazyState *ls, const LazyRun *r, LazyWho who,
                             GError **errp)
{
    if (!lazy_run_verify(r, errp)) {
        return false;
    }
    const unsigned long *bmap = r->lb->file_bmap;
    uint8_t *host = r->lb->rb->host;
    uint64_t end = r->page + r->npages;
    uint64_t data = 0, zero = 0, gaps = 0;

    for (uint64_t p = r->page; p < end;) {
        bool present = test_bit(p, bmap);
        uint64_t q = present ? find_next_zero_bit(bmap, end, p)
                             : find_next_bit(bmap, end, p);
        /*
         * Small holes between data go in the same copy, zeroed in the
         * buffer (the file may hold stale bytes there): one ioctl instead
         * of many, as the eager loader merges them into one read.
         */
        while (present && q < end) {
            uint64_t n = find_next_bit(bmap, end, q);
            if (n >= end || n - q > LAZY_GAP_PAGES) {
                break;
            }
            memset(lazy_run_data(r, q), 0, (n - q) << TARGET_PAGE_BITS);
            gaps += n - q;
            q = find_next_zero_bit(bmap, end, n);
        }
        uint8_t *dst = host + (p << TARGET_PAGE_BITS);
        uint64_t len = (q - p) << TARGET_PAGE_BITS;
        bool ok = present ? lazy_map_data(ls, dst, lazy_run_data(r, p), len,
                                          who == LAZY_BY_PREFETCH, &data, errp)
                          : uffd_zero(ls->uffd, dst, len, &zero, errp);
        if (!ok) {
            error_prepend(errp, "Lazy restore: ramblock %s", r->lb->rb->idstr);
            return false;
        }
        p = q;
    }
    atomic_fetch_add(&ls->pages[who], data + zero);
    atomic_fetch_add(&ls->zero_pages, zero + gaps);
    return true;
}

static void lazy_run_mark_done(LazyState *ls, const LazyRun *r)
{
    uint64_t c0 = r->page / ls->chunk_pages;
    uint64_t c1 = DIV_ROUND_UP(r->page + r->npages, ls->chunk_pages);

    for (uint64_t c = c0; c < c1; c++) {
        atomic_store(&r->lb->state[c], CHUNK_DONE);
    }
    lazy_chunks_done(ls, c1 - c0);
}

/* Read and install @r in this thread (faults, monitor commands). */
static bool lazy_run_load_sync(LazyState *ls, LazyRun *r, LazyWho who,
                               GError **errp)
{
    if (r->rd_npages && !lazy_run_read(ls->fd, r, errp)) {
        return false;
    }
    if (who == LAZY_BY_FAULT) {
        atomic_fetch_add(&ls->bytes_by_fault, r->rd_npages << TARGET_PAGE_BITS);
    }
    return lazy_run_install(ls, r, who, errp);
}

/* ---------------------------------------------------------------- */
/* The fault thread */

static LazyBlock *lazy_block_of(LazyState *ls, uint64_t addr)
{
    for (guint i = 0; i < ls->blocks->len; i++) {
        LazyBlock *lb = ls->blocks->pdata[i];
        uintptr_t base = (uintptr_t)lb->rb->host;
        if (addr >= base && addr - base < lb->rb->used_length) {
            return lb;
        }
    }
    return NULL;
}

static void lazy_hist_add(LazyState *ls, int64_t ns)
{
    uint64_t v = MAX(ns, 1);
    int msb = 63 - __builtin_clzll(v);
    /* 4 buckets per power of two: within 19% of the true value. */
    unsigned sub = msb >= 2 ? (v >> (msb - 2)) & 3 : 0;
    unsigned b = MIN((unsigned)msb * 4 + sub, LAZY_HIST_BUCKETS - 1);

    atomic_fetch_add_explicit(&ls->hist[b], 1, memory_order_relaxed);
    uint64_t max = atomic_load(&ls->lat_max_ns);
    while (v > max && !atomic_compare_exchange_weak(&ls->lat_max_ns, &max, v)) {
    }
}

/* Upper bound of histogram bucket @b, in ns. */
static uint64_t lazy_hist_bound(unsigned b)
{
    unsigned msb = b / 4, sub = b % 4;

    if (msb < 2) {
        return 2ULL << msb;
    }
    return (1ULL << msb) + ((uint64_t)(sub + 1) << (msb - 2));
}

static uint64_t lazy_hist_percentile(LazyState *ls, double pct)
{
    uint64_t total = 0, seen = 0;

    for (unsigned b = 0; b < LAZY_HIST_BUCKETS; b++) {
        total += atomic_load(&ls->hist[b]);
    }
    if (!total) {
        return 0;
    }
    uint64_t rank = MAX(1, (uint64_t)(total * pct / 100.0 + 0.5));
    for (unsigned b = 0; b < LAZY_HIST_BUCKETS; b++) {
        seen += atomic_load(&ls->hist[b]);
        if (seen >= rank) {
            return MIN(lazy_hist_bound(b), atomic_load(&ls->lat_max_ns));
        }
    }
    return atomic_load(&ls->lat_max_ns);
}

/* Let the prefetchers continue after this fault. */
static void lazy_add_hint(LazyState *ls, LazyBlock *lb, uint64_t chunk)
{
    g_mutex_lock(&ls->sched_lock);
    for (unsigned i = 0; i < LAZY_HINTS; i++) {
        LazyHint *h = &ls->hints[i];
        /* Already followed: the prefetchers are right there. */
        if (h->lb == lb && chunk >= h->chunk &&
            chunk - h->chunk < ls->run_chunks * 2) {
            g_mutex_unlock(&ls->sched_lock);
            return;
        }
    }
    LazyHint *h = &ls->hints[ls->next_hint++ % LAZY_HINTS];
    h->lb = lb;
    h->chunk = chunk;
    h->left = MAX(1, (LAZY_HINT_BYTES >> TARGET_PAGE_BITS) / ls->chunk_pages);
    g_mutex_unlock(&ls->sched_lock);
}

static void lazy_wake(LazyState *ls, uint64_t addr)
{
    struct uffdio_range r = { .start = addr & TARGET_PAGE_MASK,
                              .len = TARGET_PAGE_SIZE };
    ioctl(ls->uffd, UFFDIO_WAKE, &r);
}

static void lazy_handle_fault(LazyState *ls, uint64_t addr, uint8_t *buf)
{
    int64_t t0 = qemu_clock_ns();
    LazyBlock *lb = lazy_block_of(ls, addr);
    GError *err = NULL;

    atomic_fetch_add(&ls->faults, 1);
    if (!lb) {
        /* Only guest RAM is registered; nothing else can fault here. */
        lazy_wake(ls, addr);
        return;
    }
    uint64_t page = (addr - (uintptr_t)lb->rb->host) >> TARGET_PAGE_BITS;
    uint64_t c = page / ls->chunk_pages;
    if (atomic_load(&lb->state[c]) == CHUNK_DONE) {
        lazy_wake(ls, addr); /* raced with the install */
        return;
    }
    bool mine = chunk_claim(lb, c);
    LazyRun r = { .buf = buf };
    lazy_run_init(ls, &r, lb, c, 1);
    if (lazy_run_load_sync(ls, &r, LAZY_BY_FAULT, &err)) {
        if (mine) {
            lazy_run_mark_done(ls, &r);
        }
        lazy_hist_add(ls, qemu_clock_ns() - t0);
        lazy_add_hint(ls, lb, c + 1);
        return;
    }
    if (atomic_load(&ls->quitting)) {
        /* The guest is being discarded: let its thread finish. */
        uint64_t n = 0;
        uffd_zero(ls->uffd, lb->rb->host + (page << TARGET_PAGE_BITS),
                  TARGET_PAGE_SIZE, &n, NULL);
        g_clear_error(&err);
        return;
    }
    /* The faulting thread stays blocked: better than wrong memory. */
    lazy_set_error(ls, err);
}

static gpointer lazy_fault_thread(gpointer opaque)
{
    LazyState *ls = opaque;
    size_t bytes = ls->chunk_pages << TARGET_PAGE_BITS;
    uint8_t *buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    struct uffd_msg msgs[16];

    g_assert(buf != MAP_FAILED);
    for (;;) {
        struct pollfd pfd[2] = {
            { .fd = ls->uffd, .events = POLLIN },
            { .fd = ls->wake_fd, .events = POLLIN },
        };
        if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
            lazy_set_error(ls, g_error_new(MAPMIG_ERROR, 0,
                                           "Lazy restore: poll: %s",
                                           g_strerror(errno)));
            break;
        }
        if (pfd[1].revents) {
            break;
        }
        ssize_t n = read(ls->uffd, msgs, sizeof(msgs));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            lazy_set_error(ls, g_error_new(MAPMIG_ERROR, 0,
                                           "Lazy restore: reading the "
                                           "userfaultfd: %s",
                                           g_strerror(errno)));
            break;
        }
        atomic_store(&ls->faults_serving, 1);
        atomic_store(&ls->last_fault_ns, qemu_clock_ns());
        for (size_t i = 0; i < n / sizeof(msgs[0]); i++) {
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT) {
                lazy_handle_fault(ls, msgs[i].arg.pagefault.address, buf);
            }
        }
        atomic_store(&ls->faults_serving, 0);
    }
    munmap(buf, bytes);
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Prefetch threads */

/*
 * Claim pending chunks from *@pos on (looking at most at @limit chunks),
 * then as many following ones as a run takes.
 */
static bool lazy_claim_from(LazyState *ls, LazyBlock *lb, uint64_t *pos,
                            uint64_t limit, uint64_t max_chunks, LazyRun *r)
{
    uint64_t c = *pos;
    uint64_t end = *pos < lb->nchunks && limit < lb->nchunks - *pos
                       ? *pos + limit
                       : lb->nchunks;

    while (c < end && (atomic_load(&lb->state[c]) != CHUNK_PENDING ||
                       !chunk_claim(lb, c))) {
        c++;
    }
    if (c >= end) {
        *pos = c;
        return false;
    }
    uint64_t first = c++;
    /* Runs end on run boundaries, so aligned runs stay aligned. */
    while (c < lb->nchunks && c % ls->run_chunks && c - first < max_chunks &&
           atomic_load(&lb->state[c]) == CHUNK_PENDING && chunk_claim(lb, c)) {
        c++;
    }
    *pos = c;
    lazy_run_init(ls, r, lb, first, c - first);
    return true;
}

/* The next run to prefetch: after recent faults first, then file order. */
static bool lazy_claim_next(LazyState *ls, uint64_t max_chunks, LazyRun *r)
{
    bool found = false;

    g_mutex_lock(&ls->sched_lock);
    for (unsigned k = 0; k < LAZY_HINTS && !found; k++) {
        /* Most recent first. */
        LazyHint *h =
            &ls->hints[(ls->next_hint + LAZY_HINTS - 1 - k) % LAZY_HINTS];
        if (!h->lb) {
            continue;
        }
        uint64_t start = h->chunk;
        found = lazy_claim_from(ls, h->lb, &h->chunk, h->left, max_chunks, r);
        uint64_t used = h->chunk - start;
        h->left = used < h->left ? h->left - used : 0;
        if (!found || !h->left || h->chunk >= h->lb->nchunks) {
            h->lb = NULL;
        }
    }
    while (!found && ls->cursor_block < ls->blocks->len) {
        LazyBlock *lb = ls->blocks->pdata[ls->cursor_block];
        found = lazy_claim_from(ls, lb, &ls->cursor_chunk, UINT64_MAX,
                                max_chunks, r);
        if (!found) {
            ls->cursor_block++;
            ls->cursor_chunk = 0;
        }
    }
    g_mutex_unlock(&ls->sched_lock);
    return found;
}

/* max-postcopy-bandwidth: sleep while the prefetchers are ahead of it. */
static void lazy_rate_limit(LazyState *ls)
{
    for (;;) {
        uint64_t bw = __atomic_load_n(&migrate_params()->max_postcopy_bandwidth,
                                      __ATOMIC_RELAXED);
        if (!bw || atomic_load(&ls->stop_prefetch)) {
            return;
        }
        double due_s = atomic_load(&ls->bytes_prefetched) / (double)bw;
        double now_s = (qemu_clock_ns() - ls->start_ns) / 1e9;
        if (due_s <= now_s) {
            return;
        }
        g_usleep(MIN((due_s - now_s) * 1e6, 10000));
    }
}

typedef struct LazyPrefetcher {
    LazyState *ls;
    IOEngine *engine;
    unsigned depth;
    uint8_t *bufs; /* depth * run_bytes, page aligned */
} LazyPrefetcher;

static bool lazy_prefetch_stopping(LazyState *ls)
{
    return atomic_load(&ls->stop_prefetch) || atomic_load(&ls->failed);
}

/*
 * While faults keep coming, take the one request slot the prefetchers
 * then share (the caller gives it back) and return true; the slot's one
 * small request in flight is all a fault's read waits for.  When calm,
 * return false: full depth.
 */
static bool lazy_prefetch_yield(LazyState *ls)
{
    /*
     * Through the page cache a read costs CPU more than device time, and
     * there are few CPUs: step aside while a fault is being served.
     */
    while (!ls->direct && atomic_load(&ls->faults_serving) &&
           !lazy_prefetch_stopping(ls)) {
        g_usleep(LAZY_YIELD_US);
    }
    while (!lazy_prefetch_stopping(ls) &&
           qemu_clock_ns() - atomic_load(&ls->last_fault_ns) <
               LAZY_FAULT_QUIET_NS) {
        bool busy = false;
        if (atomic_compare_exchange_strong(&ls->slot_busy, &busy, true)) {
            return true;
        }
        g_usleep(LAZY_YIELD_US);
    }
    return false;
}

/* Claim and read up to @depth runs of at most @max_chunks, in flight together.
 */
static bool lazy_prefetch_read(LazyPrefetcher *pf, LazyRun *runs,
                               unsigned depth, uint64_t max_chunks, unsigned *n,
                               GError **errp)
{
    LazyState *ls = pf->ls;

    while (*n < depth && lazy_claim_next(ls, max_chunks, &runs[*n])) {
        LazyRun *r = &runs[*n];
        r->buf = pf->bufs + (size_t)*n * ls->run_bytes;
        ++*n;
        if (r->rd_npages &&
            !io_engine_submit(pf->engine, false, lazy_run_data(r, r->rd_page),
                              r->rd_npages << TARGET_PAGE_BITS,
                              lazy_run_offset(r), errp)) {
            lazy_prefix_read_error(r, errp);
            return false;
        }
    }
    if (*n && !io_engine_drain(pf->engine, errp)) {
        error_prepend(errp, "Lazy restore: prefetch of ramblock %s",
                      runs[0].lb->rb->idstr);
        return false;
    }
    return true;
}

/* Claim, read and install a batch of runs. */
static bool lazy_prefetch_batch(LazyPrefetcher *pf, bool *more, GError **errp)
{
    LazyState *ls = pf->ls;
    LazyRun runs[LAZY_ENGINE_DEPTH];
    bool slot = lazy_prefetch_yield(ls);
    unsigned depth = slot ? 1 : pf->depth;
    uint64_t max_chunks =
        slot ? MAX(1, (LAZY_FAULT_MODE_BYTES >> TARGET_PAGE_BITS) /
                          ls->chunk_pages)
             : UINT64_MAX;
    unsigned n = 0;
    bool ok = lazy_prefetch_read(pf, runs, depth, max_chunks, &n, errp);

    if (slot) {
        atomic_store(&ls->slot_busy, false);
    }
    *more = n == depth;
    for (unsigned i = 0; ok && i < n; i++) {
        ok = lazy_run_install(ls, &runs[i], LAZY_BY_PREFETCH, errp);
        if (ok) {
            atomic_fetch_add(&ls->bytes_prefetched,
                             runs[i].rd_npages << TARGET_PAGE_BITS);
            lazy_run_mark_done(ls, &runs[i]);
        }
    }
    return ok;
}

static void lazy_prefetcher_free(LazyPrefetcher *pf)
{
    io_engine_free(pf->engine);
    if (pf->bufs) {
        munmap(pf->bufs, (size_t)pf->depth * pf->ls->run_bytes);
    }
    g_free(pf);
}

/*
 * Until the guest resumes, the loader still reads the device state from
 * the same file: deep prefetch queues in front of those reads would only
 * delay the resume.  Returns false if the load ended meanwhile.
 */
static bool lazy_prefetch_wait_go(LazyState *ls)
{
    g_mutex_lock(&ls->lock);
    while (!ls->prefetch_go && !atomic_load(&ls->stop_prefetch) &&
           !atomic_load(&ls->failed) && !atomic_load(&ls->quitting)) {
        g_cond_wait(&ls->cond, &ls->lock);
    }
    bool go = ls->prefetch_go;
    g_mutex_unlock(&ls->lock);
    return go;
}

void ram_lazy_start_prefetch(void)
{
    LazyState *ls = lazy;

    if (ls) {
        g_mutex_lock(&ls->lock);
        ls->prefetch_go = true;
        g_cond_broadcast(&ls->cond);
        g_mutex_unlock(&ls->lock);
    }
}

static gpointer lazy_prefetch_thread(gpointer opaque)
{
    LazyPrefetcher *pf = opaque;
    LazyState *ls = pf->ls;
    bool more = lazy_prefetch_wait_go(ls);

    while (more && !atomic_load(&ls->stop_prefetch) &&
           !atomic_load(&ls->failed)) {
        GError *err = NULL;
        lazy_rate_limit(ls);
        if (!lazy_prefetch_batch(pf, &more, &err)) {
            lazy_set_error(ls, err);
            break;
        }
    }
    lazy_prefetcher_free(pf);
    return NULL;
}

/* ---------------------------------------------------------------- */
/* Set-up and teardown */

/* A new open file description of the file behind @fd (own flags). */
static int lazy_reopen(int fd, bool direct, GError **errp)
{
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    int nfd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));

    if (nfd < 0 && !direct) {
        nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    }
    if (nfd < 0) {
        error_setg_errno(errp, errno,
                         "Lazy restore: cannot open the "
                         "migration file again%s",
                         direct ? " with O_DIRECT" : "");
    }
    return nfd;
}

/*
 * Prefetch buffers, aligned and advised as huge pages: a whole aligned
 * run is then one huge page, which UFFDIO_MOVE hands to the guest as is
 * and the next read faults back in as one.
 */
static uint8_t *lazy_bufs_new(size_t bytes)
{
    uint8_t *p = qemu_mmap_aligned(bytes, LAZY_BUF_ALIGN,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1);

    if (p == MAP_FAILED) {
        return NULL;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* THP "never": small pages, fine */
#endif
    return p;
}

static LazyPrefetcher *lazy_prefetcher_new(LazyState *ls, int fd, GError **errp)
{
    LazyPrefetcher *pf = g_new0(LazyPrefetcher, 1);
    int nfd = lazy_reopen(fd, ls->direct, errp);

    pf->ls = ls;
    if (nfd < 0) {
        lazy_prefetcher_free(pf);
        return NULL;
    }
    QIOChannelFile *f = qio_channel_file_new_fd(nfd);
    qio_channel_set_name(&f->parent, "lazy-restore");
    if (!ls->direct) {
        /* Prefetched pages end up in guest RAM: keep no cached copy. */
        qio_channel_file_set_behind(f, FILE_BEHIND_READ);
    }
    pf->engine = io_engine_new(migrate_params()->io_engine, &f->parent,
                               LAZY_ENGINE_DEPTH, errp);
    qio_channel_unref(&f->parent); /* the engine holds it */
    if (!pf->engine) {
        lazy_prefetcher_free(pf);
        return NULL;
    }
    /* A synchronous engine reads one run at a time. */
    pf->depth = io_engine_depth(pf->engine);
    pf->bufs = lazy_bufs_new((size_t)pf->depth * ls->run_bytes);
    if (!pf->bufs) {
        error_setg_errno(errp, errno, "Lazy restore: prefetch buffers");
        lazy_prefetcher_free(pf);
        return NULL;
    }
    return pf;
}

static LazyState *lazy_state_get(void)
{
    if (!lazy) {
        LazyState *ls = g_new0(LazyState, 1);
        ls->blocks = g_ptr_array_new();
        ls->uffd = ls->wake_fd = ls->fd = -1;
        g_mutex_init(&ls->lock);
        g_cond_init(&ls->cond);
        g_mutex_init(&ls->populate_lock);
        g_mutex_init(&ls->sched_lock);
        lazy = ls;
    }
    return lazy;
}

bool ram_lazy_check_blocks(GError **errp)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        if (rb->migratable && rb->fd >= 0) {
            error_setg(errp,
                       "Lazy restore needs anonymous guest RAM, but RAM "
                       "block '%s' comes from a file or memfd backend; use "
                       "memory-backend-ram or restore eagerly",
                       rb->idstr);
            return false;
        }
    }
    return true;
}

bool ram_lazy_add_block(RAMBlock *rb, unsigned long *file_bmap, GError **errp)
{
    LazyState *ls = lazy_state_get();

    if (ls->started) {
        error_setg(errp, "Lazy restore: RAM block list seen twice");
        g_free(file_bmap);
        return false;
    }
    for (guint i = 0; i < ls->blocks->len; i++) {
        if (((LazyBlock *)ls->blocks->pdata[i])->rb == rb) {
            error_setg(errp, "Lazy restore: ramblock %s listed twice",
                       rb->idstr);
            g_free(file_bmap);
            return false;
        }
    }
    LazyBlock *lb = g_new0(LazyBlock, 1);
    lb->rb = rb;
    lb->file_bmap = file_bmap;
    /* The loader frees its copy when the load returns: keep the sums. */
    lb->sums = g_steal_pointer(&rb->page_sums);
    lb->npages = ramblock_nr_pages(rb);
    g_ptr_array_add(ls->blocks, lb);
    return true;
}

static void lazy_unregister(LazyState *ls)
{
    for (guint i = 0; i < ls->blocks->len; i++) {
        LazyBlock *lb = ls->blocks->pdata[i];
        if (lb->registered) {
            struct uffdio_range r = { .start = (uintptr_t)lb->rb->host,
                                      .len = lb->rb->used_length };
            ioctl(ls->uffd, UFFDIO_UNREGISTER, &r);
            lb->registered = false;
        }
    }
}

static bool lazy_populate(RAMBlock *rb, uint64_t offset, uint64_t len,
                          GError **errp);

bool ram_lazy_start(QEMUFile *f, GError **errp)
{
    LazyState *ls = lazy_state_get();
    int fd = qio_channel_get_fd(qemu_file_get_ioc(f));
    struct stat st;

    if (ls->started) {
        error_setg(errp, "Lazy restore: RAM block list seen twice");
        return false;
    }
    ls->started = true;
    ls->start_ns = qemu_clock_ns();
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        error_setg(errp, "Lazy restore needs a regular migration file");
        return false;
    }
    ls->direct = migrate_direct_io();
    ls->chunk_pages = migrate_params()->lazy_chunk_size >> TARGET_PAGE_BITS;
    ls->run_chunks =
        MAX(1, (LAZY_RUN_BYTES >> TARGET_PAGE_BITS) / ls->chunk_pages);
    ls->run_bytes = (ls->run_chunks * ls->chunk_pages) << TARGET_PAGE_BITS;
    ls->uffd = uffd_new(&ls->move, errp);
    if (ls->uffd < 0) {
        error_prepend(errp, "Lazy restore");
        return false;
    }
    ls->wake_fd = eventfd(0, EFD_CLOEXEC);
    ls->fd = lazy_reopen(fd, ls->direct, errp);
    if (ls->wake_fd < 0 || ls->fd < 0) {
        if (ls->wake_fd < 0) {
            error_setg_errno(errp, errno, "Lazy restore: eventfd");
        }
        return false;
    }
    ls->populate_buf = mmap(NULL, ls->run_bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ls->populate_buf == MAP_FAILED) {
        ls->populate_buf = NULL;
        error_setg_errno(errp, errno, "Lazy restore: buffer");
        return false;
    }
    for (guint i = 0; i < ls->blocks->len; i++) {
        LazyBlock *lb = ls->blocks->pdata[i];
        lb->nchunks = DIV_ROUND_UP(lb->npages, ls->chunk_pages);
        lb->state = g_new0(_Atomic uint8_t, lb->nchunks);
        ls->total_chunks += lb->nchunks;
        /* Whatever is mapped would not fault: start from nothing. */
        if (madvise(lb->rb->host, lb->rb->used_length, MADV_DONTNEED) < 0) {
            error_setg_errno(errp, errno, "Lazy restore: madvise");
            return false;
        }
        if (!uffd_register(ls->uffd, lb->rb->host, lb->rb->used_length,
                           &ls->move, errp)) {
            error_prepend(errp, "Lazy restore: ramblock %s", lb->rb->idstr);
            return false;
        }
        lb->registered = true;
    }
    ram_block_populate_fn = lazy_populate;
    ls->fault_thread = g_thread_new("mig/lazy-fault", lazy_fault_thread, ls);

    int n = migrate_multifd() ? migrate_params()->multifd_channels : 1;
    ls->prefetch_threads = n;
    ls->prefetch = g_new0(GThread *, n);
    for (int i = 0; i < n; i++) {
        LazyPrefetcher *pf = lazy_prefetcher_new(ls, fd, errp);
        if (!pf) {
            error_prepend(errp, "Lazy restore: prefetch thread %d", i);
            return false;
        }
        g_autofree char *name = g_strdup_printf("mig/lazy-pf/%d", i);
        /* The thread owns @pf; it frees it when it ends. */
        ls->prefetch[ls->nprefetch++] =
            g_thread_new(name, lazy_prefetch_thread, pf);
    }
    return true;
}

bool ram_lazy_active(void)
{
    return lazy && lazy->started && !lazy->finished;
}

bool ram_lazy_failed(void)
{
    return lazy && atomic_load(&lazy->failed);
}

bool ram_lazy_wait(GError **errp)
{
    LazyState *ls = lazy;

    g_mutex_lock(&ls->lock);
    while (!lazy_complete(ls) && !atomic_load(&ls->failed) &&
           !atomic_load(&ls->quitting)) {
        g_cond_wait(&ls->cond, &ls->lock);
    }
    bool ok = !atomic_load(&ls->failed) && lazy_complete(ls);
    if (!ok) {
        g_propagate_error(
            errp, ls->error ? g_error_copy(ls->error)
                            : g_error_new_literal(MAPMIG_ERROR, 0,
                                                  "Lazy restore cancelled"));
    }
    g_mutex_unlock(&ls->lock);
    return ok;
}

static void lazy_stop_prefetch(LazyState *ls)
{
    g_mutex_lock(&ls->lock);
    atomic_store(&ls->stop_prefetch, true);
    g_cond_broadcast(&ls->cond);
    g_mutex_unlock(&ls->lock);
    for (int i = 0; i < ls->nprefetch; i++) {
        g_thread_join(ls->prefetch[i]);
    }
    ls->nprefetch = 0;
}

static void lazy_stop_fault_thread(LazyState *ls)
{
    if (ls->fault_thread) {
        uint64_t one = 1;
        if (write(ls->wake_fd, &one, sizeof(one)) != sizeof(one)) {
            g_assert_not_reached();
        }
        g_thread_join(ls->fault_thread);
        ls->fault_thread = NULL;
    }
}

/* Stop everything and give the memory back to the kernel's care. */
static void lazy_teardown(LazyState *ls)
{
    lazy_stop_prefetch(ls);
    g_mutex_lock(&ls->populate_lock);
    lazy_stop_fault_thread(ls);
    lazy_unregister(ls);
    if (ls->uffd >= 0) {
        /* Wakes whatever still waits: its page reads as zero now. */
        close(ls->uffd);
        ls->uffd = -1;
    }
    ls->finished = true;
    g_mutex_unlock(&ls->populate_lock);
    ram_block_populate_fn = NULL;
}

void ram_lazy_finish(void)
{
    if (lazy && lazy->started && !lazy->finished) {
        lazy_teardown(lazy);
    }
}

void ram_lazy_abort(void)
{
    ram_lazy_finish();
}

static gpointer lazy_pause_thread(gpointer opaque)
{
    pause_all_vcpus();
    return NULL;
}

void ram_lazy_pause_vcpus_async(void)
{
    if (lazy && !lazy->pause_thread) {
        lazy->pause_thread =
            g_thread_new("mig/lazy-pause", lazy_pause_thread, NULL);
    }
}

void ram_lazy_cancel(void)
{
    LazyState *ls = lazy;

    if (ls) {
        g_mutex_lock(&ls->lock);
        atomic_store(&ls->quitting, true);
        g_cond_broadcast(&ls->cond);
        g_mutex_unlock(&ls->lock);
    }
}

void ram_lazy_shutdown(void)
{
    LazyState *ls = lazy;

    if (!ls) {
        return;
    }
    ram_lazy_cancel();
    if (ls->started && !ls->finished) {
        lazy_stop_prefetch(ls);
        /* While faults are served, running vCPUs get to their park. */
        if (!atomic_load(&ls->failed) && !ls->pause_thread) {
            pause_all_vcpus();
        }
        lazy_teardown(ls);
    }
    if (ls->pause_thread) {
        g_thread_join(ls->pause_thread);
    }
    for (guint i = 0; i < ls->blocks->len; i++) {
        LazyBlock *lb = ls->blocks->pdata[i];
        g_free(lb->file_bmap);
        g_free(lb->sums);
        g_free(lb->state);
        g_free(lb);
    }
    g_ptr_array_free(ls->blocks, true);
    if (ls->wake_fd >= 0) {
        close(ls->wake_fd);
    }
    if (ls->fd >= 0) {
        close(ls->fd);
    }
    if (ls->populate_buf) {
        munmap(ls->populate_buf, ls->run_bytes);
    }
    g_free(ls->prefetch);
    g_clear_error(&ls->error);
    g_mutex_clear(&ls->lock);
    g_cond_clear(&ls->cond);
    g_mutex_clear(&ls->populate_lock);
    g_mutex_clear(&ls->sched_lock);
    g_free(ls);
    lazy = NULL;
}

/* ---------------------------------------------------------------- */
/* Monitor commands touching guest RAM */

static bool lazy_populate(RAMBlock *rb, uint64_t offset, uint64_t len,
                          GError **errp)
{
    LazyState *ls = lazy;
    LazyBlock *lb = NULL;
    bool ok = true;

    if (!len) {
        return true;
    }
    g_mutex_lock(&ls->populate_lock);
    if (ls->finished) {
        goto out;
    }
    for (guint i = 0; i < ls->blocks->len; i++) {
        if (((LazyBlock *)ls->blocks->pdata[i])->rb == rb) {
            lb = ls->blocks->pdata[i];
        }
    }
    if (!lb) {
        goto out; /* not loaded from the file: never registered */
    }
    if (atomic_load(&ls->failed)) {
        g_mutex_lock(&ls->lock);
        error_setg(errp, "Guest RAM is incomplete: %s",
                   ls->error ? ls->error->message : "lazy restore failed");
        g_mutex_unlock(&ls->lock);
        ok = false;
        goto out;
    }
    uint64_t c = (offset >> TARGET_PAGE_BITS) / ls->chunk_pages;
    uint64_t end = DIV_ROUND_UP(DIV_ROUND_UP(offset + len, TARGET_PAGE_SIZE),
                                ls->chunk_pages);
    while (ok && c < end) {
        LazyRun r = { .buf = ls->populate_buf };
        uint64_t state = atomic_load(&lb->state[c]);
        if (state == CHUNK_DONE) {
            c++;
            continue;
        }
        GError *err = NULL;
        if (state == CHUNK_PENDING &&
            lazy_claim_from(ls, lb, &c, 1, UINT64_MAX, &r)) {
            /* Claimed a run from c on; c is past it now. */
            ok = lazy_run_load_sync(ls, &r, LAZY_BY_MONITOR, &err);
            if (ok) {
                lazy_run_mark_done(ls, &r);
            }
        } else {
            /* Someone else is loading it: load it too, then go on. */
            lazy_run_init(ls, &r, lb, c, 1);
            ok = lazy_run_load_sync(ls, &r, LAZY_BY_MONITOR, &err);
            c++;
        }
        if (!ok) {
            error_propagate(errp, g_error_copy(err));
            lazy_set_error(ls, err);
        }
    }
out:
    g_mutex_unlock(&ls->populate_lock);
    return ok;
}

/* ---------------------------------------------------------------- */
/* query-migrate */

JsonObject *ram_lazy_query(void)
{
    LazyState *ls = lazy;

    if (!ls || !ls->started) {
        return NULL;
    }
    JsonObject *o = json_object_new();
    int64_t end = atomic_load(&ls->end_ns);
    uint64_t total = 0;

    for (guint i = 0; i < ls->blocks->len; i++) {
        total += ((LazyBlock *)ls->blocks->pdata[i])->npages;
    }
    uint64_t in = atomic_load(&ls->pages[LAZY_BY_FAULT]) +
                  atomic_load(&ls->pages[LAZY_BY_PREFETCH]) +
                  atomic_load(&ls->pages[LAZY_BY_MONITOR]);
    json_object_set_int_member(o, "pages-total", total);
    json_object_set_int_member(o, "pages-loaded", MIN(in, total));
    json_object_set_int_member(o, "faults", atomic_load(&ls->faults));
    json_object_set_int_member(o, "pages-by-fault",
                               atomic_load(&ls->pages[LAZY_BY_FAULT]));
    json_object_set_int_member(o, "pages-by-prefetch",
                               atomic_load(&ls->pages[LAZY_BY_PREFETCH]));
    json_object_set_int_member(o, "pages-by-monitor",
                               atomic_load(&ls->pages[LAZY_BY_MONITOR]));
    json_object_set_int_member(o, "zero-pages", atomic_load(&ls->zero_pages));
    json_object_set_int_member(o, "pages-moved", atomic_load(&ls->pages_moved));
    json_object_set_int_member(o, "bytes-prefetched",
                               atomic_load(&ls->bytes_prefetched));
    json_object_set_int_member(o, "bytes-by-fault",
                               atomic_load(&ls->bytes_by_fault));
    json_object_set_int_member(o, "fault-latency-p50-us",
                               lazy_hist_percentile(ls, 50) / 1000);
    json_object_set_int_member(o, "fault-latency-p99-us",
                               lazy_hist_percentile(ls, 99) / 1000);
    json_object_set_int_member(o, "fault-latency-max-us",
                               atomic_load(&ls->lat_max_ns) / 1000);
    json_object_set_int_member(o, "chunk-size",
                               ls->chunk_pages << TARGET_PAGE_BITS);
    json_object_set_int_member(o, "prefetch-threads", ls->prefetch_threads);
    json_object_set_int_member(o, "load-time",
                               ((end ? end : qemu_clock_ns()) - ls->start_ns) /
                                   1000000);
    return o;
}
