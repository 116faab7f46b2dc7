/*
 * RAM migration: the "ram" iterative section.
 *
 * Source: every pass scans each block's migration bitmap (bmap), clears a
 * bit and sends the page.  Zero pages become ZERO records (stream) or
 * holes (mapped-ram).  When a pass ends, the accelerator's dirty log is
 * folded into bmap (a bitmap sync) and the next pass starts.
 *
 * Stream layout: page records in the sequential stream, as QEMU writes
 * them.  Mapped-ram layout: each block gets a header, a bitmap region and
 * a pages region at fixed file offsets; pages are written with pwritev
 * straight from guest RAM, and the bitmaps are written at completion.
 */
#include "qemu/osdep.h"
#include "io/channel-file.h"
#include "qemu/bufferiszero.h"
#include "migration/checkpoint.h"
#include "migration/migration.h"
#include "migration/multifd.h"
#include "migration/options.h"
#include "migration/ram-checksum.h"
#include "migration/ram-lazy.h"
#include "migration/ram.h"
#include "migration/savevm.h"
#include "system/cpu-throttle.h"

#include <sys/stat.h>

/* Max bytes per pwritev/preadv batch on the mapped-ram path. */
#define RAM_RUN_MAX_BYTES (4 * MiB)
/* Check the clock and the rate limit every this many pages. */
#define RAM_CHECK_PAGES 64
#define RAM_ITERATE_MAX_NS (50 * 1000 * 1000)
#define RAM_THROTTLE_SYNC_NS (5 * 1000 * 1000 * 1000LL)

RAMStats ram_stats;
void (*ram_pass_notify)(uint64_t pass);

typedef struct RAMState {
    guint block_idx;           /* scan position: block index in ram_list */
    uint64_t page;             /*               and page in that block */
    RAMBlock *last_sent_block; /* for RAM_SAVE_FLAG_CONTINUE */
    uint64_t dirty_pages;      /* bits set in all bmaps */
    int64_t pass_start_ns;
    /* auto-converge / dirty-limit: the current period (>= 1 s) */
    int64_t period_start_ns;
    uint64_t period_dirty_pages; /* pages newly dirtied in the period */
    uint64_t period_start_bytes; /* ram_stats.transferred at its start */
    unsigned dirty_rate_high_cnt;
    /* Destination */
    RAMBlock *last_recv_block;
    bool mapped_ram_loaded;
} RAMState;

static RAMState ram_state;
/* The save holds a reference on dirty logging (setup to cleanup). */
static bool ram_dirty_log_on;

static void ram_account(uint64_t bytes)
{
    atomic_fetch_add(&ram_stats.transferred, bytes);
    if (runstate_is_running()) {
        atomic_fetch_add(&ram_stats.precopy_bytes, bytes);
    } else {
        atomic_fetch_add(&ram_stats.downtime_bytes, bytes);
    }
}

bool ram_page_is_zero(RAMBlock *rb, uint64_t page)
{
    return (rb->populated && !test_bit(page, rb->populated)) ||
           buffer_is_zero(rb->host + (page << TARGET_PAGE_BITS),
                          TARGET_PAGE_SIZE);
}

void ram_transferred_add(uint64_t bytes)
{
    ram_account(bytes);
}

bool migrate_ram_is_ignored(RAMBlock *rb)
{
    return migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED) &&
           qemu_ram_is_shared(rb) && qemu_ram_is_named_file(rb);
}

/* x-ignore-shared: the block's guest-physical address, as QEMU's mr->addr. */
static uint64_t ram_block_addr(RAMBlock *rb)
{
    return rb->gpa == UINT64_MAX ? 0 : rb->gpa;
}

/* ---------------------------------------------------------------- */
/* Source: bitmaps */

/* Returns whether the save rewrites a checkpoint image in place. */
static bool ram_bitmaps_init(RAMState *rs)
{
    RAMBlock *rb;
    bool rewrite = false;

    rs->dirty_pages = 0;
    RAMBLOCK_FOREACH(rb) {
        uint64_t n = ramblock_nr_pages(rb);
        g_free(rb->bmap);
        rb->bmap = bitmap_new(n);
        g_free(rb->file_bmap);
        rb->file_bmap = migrate_mapped_ram() ? bitmap_new(n) : NULL;
        if (migrate_ram_is_ignored(rb)) {
            continue; /* the shared file is the memory: nothing to send */
        }
        /* A checkpoint's rewrite sends what changed since, else all. */
        if (checkpoint_setup_block(rb, rb->bmap, rb->file_bmap)) {
            rewrite = true;
        } else {
            bitmap_set_range(rb->bmap, 0, n);
        }
        rs->dirty_pages += bitmap_count_one(rb->bmap, n);
    }
    return rewrite;
}

/*
 * Which pages were never populated, taken once dirty logging is on: a
 * guest write after this point makes the page dirty, and every dirty
 * page counts as populated from the next sync on (see
 * ram_populated_add_dirty), so none is sent as zero in its last pass.
 */
static void ram_populated_init(void)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        g_free(rb->populated);
        rb->populated =
            migrate_ram_is_ignored(rb) ? NULL : ram_block_populated_bitmap(rb);
    }
}

static void ram_populated_add_dirty(RAMBlock *rb)
{
    size_t words = BITS_TO_LONGS(ramblock_nr_pages(rb));

    for (size_t i = 0; rb->populated && i < words; i++) {
        rb->populated[i] |= rb->bmap[i];
    }
}

/*
 * One more bitmap sync (MIGRATION_PASS).  As QEMU, taking the first
 * bitmap at setup counts: the first pass is sync 1.
 */
static void ram_sync_count_add(void)
{
    uint64_t pass = atomic_fetch_add(&ram_stats.dirty_sync_count, 1) + 1;

    if (ram_pass_notify) {
        ram_pass_notify(pass);
    }
}

/*
 * auto-converge: slow the guest down one more step.  With tailslow the
 * step is only what would bring the dirty rate down to the threshold,
 * assuming the dirty rate follows the vCPUs' share of time (QEMU's
 * mig_throttle_guest_down).
 */
static void ram_throttle_guest_down(uint64_t dirty_bytes, uint64_t threshold)
{
    const MigrationParameters *p = migrate_params();
    uint64_t initial =
        __atomic_load_n(&p->cpu_throttle_initial, __ATOMIC_RELAXED);
    uint64_t inc =
        __atomic_load_n(&p->cpu_throttle_increment, __ATOMIC_RELAXED);
    uint64_t max = __atomic_load_n(&p->max_cpu_throttle, __ATOMIC_RELAXED);
    uint64_t now = cpu_throttle_get_percentage();

    if (!cpu_throttle_active()) {
        cpu_throttle_set(initial);
        return;
    }
    if (__atomic_load_n(&p->cpu_throttle_tailslow, __ATOMIC_RELAXED)) {
        uint64_t cpu_now = 100 - now;
        uint64_t cpu_ideal = cpu_now * threshold / dirty_bytes;

        inc = MIN(cpu_now - cpu_ideal, inc);
    }
    cpu_throttle_set(MIN(now + inc, max));
}

/*
 * After a period of at least a second: was more dirtied than
 * throttle-trigger-threshold percent of what was sent?  Twice (not
 * necessarily in a row of periods) and the guest is slowed down, as
 * QEMU's migration_trigger_throttle.
 */
static void ram_trigger_throttle(RAMState *rs)
{
    const MigrationParameters *p = migrate_params();
    uint64_t threshold_pct =
        __atomic_load_n(&p->throttle_trigger_threshold, __ATOMIC_RELAXED);
    uint64_t sent =
        atomic_load(&ram_stats.transferred) - rs->period_start_bytes;
    uint64_t dirty = rs->period_dirty_pages * TARGET_PAGE_SIZE;
    uint64_t threshold = sent * threshold_pct / 100;

    if ((!migrate_auto_converge() && !migrate_dirty_limit()) ||
        dirty <= threshold || ++rs->dirty_rate_high_cnt < 2) {
        return;
    }
    rs->dirty_rate_high_cnt = 0;
    if (migrate_auto_converge()) {
        ram_throttle_guest_down(dirty, threshold);
    } else if (!cpu_dirty_limit_get()) {
        cpu_dirty_limit_set(
            __atomic_load_n(&p->vcpu_dirty_limit, __ATOMIC_RELAXED) * MiB);
    }
}

/* A throttle period ends at the first sync a second after it began. */
static void ram_throttle_period(RAMState *rs, uint64_t newly, int64_t now)
{
    rs->period_dirty_pages += newly;
    if (now - rs->period_start_ns <= 1000000000LL) {
        return;
    }
    ram_trigger_throttle(rs);
    rs->period_start_ns = now;
    rs->period_dirty_pages = 0;
    rs->period_start_bytes = atomic_load(&ram_stats.transferred);
}

/* Fold the dirty log into the bitmaps: the end of one pass. */
static void ram_bitmap_sync(RAMState *rs)
{
    RAMBlock *rb;
    uint64_t newly = 0;
    int64_t now = qemu_clock_ns();

    RAMBLOCK_FOREACH(rb) {
        if (!migrate_ram_is_ignored(rb)) {
            newly += checkpoint_sync_dirty_log(rb, rb->bmap);
            ram_populated_add_dirty(rb);
        }
    }
    rs->dirty_pages += newly;
    if (rs->pass_start_ns && now > rs->pass_start_ns) {
        atomic_store(&ram_stats.dirty_pages_rate,
                     newly * 1000000000ULL / (now - rs->pass_start_ns));
    }
    rs->pass_start_ns = now;
    atomic_store(&ram_stats.remaining_pages, rs->dirty_pages);
    if (runstate_is_running()) {
        ram_throttle_period(rs, newly, now);
    }
    ram_sync_count_add();
}

/* ---------------------------------------------------------------- */
/* Source: stream layout */

static void save_page_header(RAMState *rs, QEMUFile *f, RAMBlock *rb,
                             uint64_t offset_flags)
{
    size_t size = 8;

    if (rb == rs->last_sent_block) {
        offset_flags |= RAM_SAVE_FLAG_CONTINUE;
    }
    qemu_put_be64(f, offset_flags);
    if (rb != rs->last_sent_block) {
        qemu_put_counted_string(f, rb->idstr);
        size += 1 + strlen(rb->idstr);
        rs->last_sent_block = rb;
    }
    ram_account(size);
}

static void stream_save_page(RAMState *rs, QEMUFile *f, RAMBlock *rb,
                             uint64_t page)
{
    uint64_t offset = page << TARGET_PAGE_BITS;
    uint8_t *host = rb->host + offset;

    if (ram_page_is_zero(rb, page)) {
        save_page_header(rs, f, rb, offset | RAM_SAVE_FLAG_ZERO);
        qemu_put_byte(f, 0);
        ram_account(1);
        atomic_fetch_add(&ram_stats.zero_pages, 1);
        return;
    }
    save_page_header(rs, f, rb, offset | RAM_SAVE_FLAG_PAGE);
    /* By reference: written from guest RAM at the next flush. */
    qemu_put_buffer_async(f, host, TARGET_PAGE_SIZE);
    ram_account(TARGET_PAGE_SIZE);
    atomic_fetch_add(&ram_stats.normal_pages, 1);
}

/* ---------------------------------------------------------------- */
/* Source: mapped-ram layout */

/*
 * Dirty pages written as one pwritev.  Zero pages closer than
 * MAPPED_RAM_GAP_PAGES to the next data page are written with the run
 * (fewer requests, and one extent where the file would have a hole per
 * zero page) but stay out of the file bitmap.  Zero pages at the end of a
 * run are left as holes.
 */
typedef struct PageRun {
    RAMBlock *rb;
    uint64_t start; /* first page */
    uint64_t n;     /* pages, zero pages inside included */
    uint64_t tail;  /* zero pages at the end */
    uint64_t nzero; /* zero pages in zero[], tail included */
    uint64_t zero[RAM_RUN_MAX_BYTES >> TARGET_PAGE_BITS];
} PageRun;

static void mapped_ram_save_zero(QEMUFile *f, RAMBlock *rb, uint64_t page)
{
    GError *err = NULL;

    if (!mapped_ram_zero_page(qio_channel_get_fd(qemu_file_get_ioc(f)), rb,
                              page, &err)) {
        qemu_file_set_error_obj(f, -EIO, err);
    }
}

static bool mapped_ram_write_run(QEMUFile *f, PageRun *run)
{
    GError *err = NULL;
    RAMBlock *rb = run->rb;
    uint64_t tail = run->tail;
    uint64_t off = run->start << TARGET_PAGE_BITS;
    size_t len = (run->n - tail) << TARGET_PAGE_BITS;

    if (!run->n) {
        return true;
    }
    run->n -= tail;
    run->nzero -= tail;
    run->tail = 0;
    /* The channels detect zero pages and account for what they write. */
    if (multifd_queue_pages(rb, run->start, run->n, &err)) {
        run->n = 0;
        return true;
    }
    if (err) {
        qemu_file_set_error_obj(f, -EIO, err);
        return false;
    }
    /* No multifd: write it from this thread. */
    if (qio_channel_pwrite_all(qemu_file_get_ioc(f), rb->host + off, len,
                               rb->pages_offset + off, &err) < 0) {
        qemu_file_set_error_obj(f, -EIO, err);
        return false;
    }
    /* Zero pages with an older copy in the file: punched, as multifd does. */
    for (uint64_t i = 0; i < run->nzero; i++) {
        mapped_ram_save_zero(f, rb, run->zero[i]);
    }
    bitmap_set_range_atomic(rb->file_bmap, run->start, run->n);
    ram_checksums_record(rb, run->start, run->n);
    for (uint64_t i = 0; i < run->nzero; i++) {
        clear_bit_atomic(run->zero[i], rb->file_bmap);
        ram_checksums_forget(rb, run->zero[i]);
    }
    ram_account(len);
    atomic_fetch_add(&ram_stats.normal_pages, run->n - run->nzero);
    for (uint64_t p = run->start + run->n; p < run->start + run->n + tail;
         p++) {
        mapped_ram_save_zero(f, rb, p);
    }
    run->n = run->nzero = 0;
    return true;
}

/*
 * A page that became zero after an earlier pass wrote it: the file must
 * read zeros there too, so punch a hole (or write zeros if the file system
 * cannot), then clear its bit.  Called by the migration thread or, with
 * multifd, by the channel that found the page zero (on its own fd).
 */
bool mapped_ram_zero_page(int fd, RAMBlock *rb, uint64_t page, GError **errp)
{
    /* Aligned, so that an O_DIRECT descriptor can write it too. */
    static const uint8_t zeros[TARGET_PAGE_SIZE]
        __attribute__((aligned(TARGET_PAGE_SIZE)));

    atomic_fetch_add(&ram_stats.zero_pages, 1);
    if (!test_bit(page, rb->file_bmap)) {
        return true;
    }
    off_t pos = rb->pages_offset + (page << TARGET_PAGE_BITS);
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos,
                  TARGET_PAGE_SIZE) < 0) {
        g_autoptr(QIOChannel) ioc =
            &qio_channel_file_new_borrowed(fd, "migration file")->parent;
        if (qio_channel_pwrite_all(ioc, zeros, sizeof(zeros), pos, errp) < 0) {
            error_prepend(errp,
                          "Failed to clear page 0x%" PRIx64
                          " of ramblock %s in the file: ",
                          page << TARGET_PAGE_BITS, rb->idstr);
            return false;
        }
    }
    clear_bit_atomic(page, rb->file_bmap);
    ram_checksums_forget(rb, page);
    return true;
}

static void mapped_ram_save_page(QEMUFile *f, PageRun *run, RAMBlock *rb,
                                 uint64_t page)
{
    /* With multifd the channels tell zero pages apart, in parallel. */
    bool zero = !multifd_active() && ram_page_is_zero(rb, page);
    bool joins = run->n && run->rb == rb && run->start + run->n == page &&
                 (run->n << TARGET_PAGE_BITS) < RAM_RUN_MAX_BYTES;

    /* A page never populated is not read, not even as part of a run. */
    if (zero && !(joins && run->tail < MAPPED_RAM_GAP_PAGES &&
                  (!rb->populated || test_bit(page, rb->populated)))) {
        mapped_ram_write_run(f, run);
        mapped_ram_save_zero(f, rb, page);
        return;
    }
    if (!joins) {
        mapped_ram_write_run(f, run);
        run->rb = rb;
        run->start = page;
    }
    run->n++;
    if (zero) {
        run->zero[run->nzero++] = page;
        run->tail++;
    } else {
        run->tail = 0;
    }
}

static void mapped_ram_setup_block(QEMUFile *f, RAMBlock *rb)
{
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    MappedRamLayout l;

    mapped_ram_layout(rb->used_length, TARGET_PAGE_SIZE, qemu_get_offset(f),
                      &l);
    if (migrate_ram_is_ignored(rb)) {
        /* As QEMU 11: offsets 0 mark a block whose pages are not here. */
        l.hdr.bitmap_offset = l.hdr.pages_offset = 0;
        mapped_ram_header_pack(&l.hdr, buf);
        qemu_put_buffer(f, buf, sizeof(buf));
        ram_account(sizeof(buf));
        return;
    }
    rb->bitmap_offset = l.hdr.bitmap_offset;
    rb->pages_offset = l.hdr.pages_offset;
    mapped_ram_header_pack(&l.hdr, buf);
    qemu_put_buffer(f, buf, sizeof(buf));
    ram_account(sizeof(buf));
    /* The stream goes on after the pages region. */
    GError *err = NULL;
    if (!qemu_set_offset(f, l.end, &err)) {
        qemu_file_set_error_obj(f, -EIO, err);
    }
}

static void mapped_ram_save_bitmaps(QEMUFile *f)
{
    RAMBlock *rb;

    RAMBLOCK_FOREACH(rb) {
        GError *err = NULL;
        if (migrate_ram_is_ignored(rb)) {
            continue;
        }
        if (!qemu_put_buffer_at(f, rb->file_bmap,
                                bitmap_bytes(ramblock_nr_pages(rb)),
                                rb->bitmap_offset, &err)) {
            error_prepend(&err, "Failed to write bitmap to file");
            qemu_file_set_error_obj(f, -EIO, err);
            return;
        }
    }
}

/* ---------------------------------------------------------------- */
/* Source: handlers */

/*
 * The end of a RAM section.  A QEMU 7.2 destination waits for a SYNC on
 * every multifd channel at each RAM_SAVE_FLAG_EOS.
 */
static void ram_section_end(QEMUFile *f)
{
    if (migrate_multifd_flush_after_each_section() && multifd_active() &&
        !qemu_file_get_error(f)) {
        multifd_ram_sync_channels(f);
    }
    qemu_put_be64(f, RAM_SAVE_FLAG_EOS);
    ram_account(8);
}

static bool ram_save_setup(QEMUFile *f, void *opaque, GError **errp)
{
    RAMState *rs = opaque;
    RAMBlock *rb;

    memset(rs, 0, sizeof(*rs));
    bool rewrite = ram_bitmaps_init(rs);
    global_dirty_log_start();
    ram_dirty_log_on = true;
    ram_populated_init();
    if (ram_checksums_enabled()) {
        ram_checksums_save_setup();
    }
    rs->pass_start_ns = qemu_clock_ns();
    rs->period_start_ns = rs->pass_start_ns;
    if (rewrite) {
        /* What was dirtied since the last harvest is stale in it too. */
        ram_bitmap_sync(rs);
    } else {
        ram_sync_count_add();
    }
    atomic_store(&ram_stats.remaining_pages, rs->dirty_pages);

    qemu_put_be64(f, ram_bytes_total() | RAM_SAVE_FLAG_MEM_SIZE);
    ram_account(8);
    RAMBLOCK_FOREACH(rb) {
        qemu_put_counted_string(f, rb->idstr);
        qemu_put_be64(f, rb->used_length);
        ram_account(9 + strlen(rb->idstr));
        if (migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED)) {
            /* Every block, ignored or not, as QEMU. */
            qemu_put_be64(f, ram_block_addr(rb));
            ram_account(8);
        }
        if (migrate_mapped_ram()) {
            mapped_ram_setup_block(f, rb);
        }
    }
    ram_section_end(f);
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    return true;
}

/*
 * Send dirty pages from the scan position on.  Stops at the end of the
 * pass (*done = true), when @bounded and the time slice or the bandwidth
 * budget is used up, or on error.
 */
static void ram_save_pages(RAMState *rs, QEMUFile *f, bool bounded, bool *done)
{
    g_autofree PageRun *run = g_new0(PageRun, 1); /* 8 KiB: not on the stack */
    int64_t start = qemu_clock_ns();
    unsigned count = 0;

    *done = false;
    while (rs->block_idx < ram_list->len) {
        RAMBlock *rb = ram_list->pdata[rs->block_idx];
        uint64_t n = ramblock_nr_pages(rb);
        uint64_t page = find_next_bit(rb->bmap, n, rs->page);

        if (page >= n) {
            rs->block_idx++;
            rs->page = 0;
            continue;
        }
        clear_bit(page, rb->bmap);
        rs->dirty_pages--;
        rs->page = page + 1;
        if (migrate_mapped_ram()) {
            mapped_ram_save_page(f, run, rb, page);
        } else if (multifd_active() &&
                   !(migrate_multifd_flush_after_each_section() &&
                     ram_page_is_zero(rb, page))) {
            GError *err = NULL;
            if (!multifd_queue_pages(rb, page, 1, &err)) {
                qemu_file_set_error_obj(f, -EIO, err);
            }
        } else {
            /* QEMU 7.2 sends zero pages on the main stream, multifd or not. */
            stream_save_page(rs, f, rb, page);
        }
        if (qemu_file_get_error(f)) {
            return;
        }
        if (bounded && ++count % RAM_CHECK_PAGES == 0 &&
            (qemu_clock_ns() - start > RAM_ITERATE_MAX_NS ||
             migration_rate_exceeded())) {
            mapped_ram_write_run(f, run);
            atomic_store(&ram_stats.remaining_pages, rs->dirty_pages);
            return;
        }
    }
    mapped_ram_write_run(f, run);
    /* Pass finished: wrap and let multifd drain what it was given. */
    rs->block_idx = 0;
    rs->page = 0;
    /* 7.2's way syncs at the section end (ram_section_end) instead. */
    *done = migrate_multifd_flush_after_each_section()
                ? multifd_send_sync(f)
                : multifd_ram_flush_and_sync(f);
}

static void ram_save_iterate(QEMUFile *f, void *opaque, bool *done)
{
    RAMState *rs = opaque;

    ram_save_pages(rs, f, true, done);
    /*
     * While throttling, a sync (and the throttle's next step) comes at
     * least every RAM_THROTTLE_SYNC_NS even in a long pass, as QEMU 9.2's
     * periodic dirty sync does.
     */
    if (*done ||
        (cpu_throttle_active() &&
         qemu_clock_ns() - rs->pass_start_ns >= RAM_THROTTLE_SYNC_NS)) {
        ram_bitmap_sync(rs);
    }
    ram_section_end(f);
    qemu_fflush(f);
}

static void ram_save_complete(QEMUFile *f, void *opaque)
{
    RAMState *rs = opaque;
    bool done = false;

    /* The VM is stopped: one sync, then everything that is left. */
    ram_bitmap_sync(rs);
    rs->block_idx = 0;
    rs->page = 0;
    while (!done && !qemu_file_get_error(f)) {
        ram_save_pages(rs, f, false, &done);
    }
    if (migrate_mapped_ram() && !qemu_file_get_error(f)) {
        mapped_ram_save_bitmaps(f);
    }
    ram_section_end(f);
    qemu_fflush(f);
}

static void ram_save_cleanup(void *opaque)
{
    RAMBlock *rb;

    if (ram_dirty_log_on) {
        global_dirty_log_stop();
        ram_dirty_log_on = false;
    }
    RAMBLOCK_FOREACH(rb) {
        g_clear_pointer(&rb->populated, g_free);
        g_free(rb->bmap);
        rb->bmap = NULL;
        g_free(rb->file_bmap);
        rb->file_bmap = NULL;
    }
    ram_checksums_cleanup();
}

/* ---------------------------------------------------------------- */
/* Destination */

static bool load_error(QEMUFile *f, GError **errp)
{
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return true;
    }
    return false;
}

static RAMBlock *ram_block_from_stream(RAMState *rs, QEMUFile *f, int flags,
                                       GError **errp)
{
    char id[256];

    if (flags & RAM_SAVE_FLAG_CONTINUE) {
        if (!rs->last_recv_block) {
            error_setg(errp, "Bad migration stream: CONTINUE flag without "
                             "a previous RAM block");
        }
        return rs->last_recv_block;
    }
    if (!qemu_get_counted_string(f, id)) {
        load_error(f, errp);
        return NULL;
    }
    RAMBlock *rb = qemu_ram_block_by_name(id);
    if (!rb) {
        error_setg(errp, "Can't find block %s", id);
        return NULL;
    }
    if (migrate_ram_is_ignored(rb)) {
        error_setg(errp,
                   "block %s should not be migrated: it is a shared file "
                   "here, but the source sent its pages",
                   id);
        return NULL;
    }
    rs->last_recv_block = rb;
    return rb;
}

static off_t file_size_of(QEMUFile *f)
{
    struct stat st;
    int fd = qio_channel_get_fd(qemu_file_get_ioc(f));

    return fd >= 0 && fstat(fd, &st) == 0 ? st.st_size : -1;
}

/*
 * Read [@p, @end) of @rb in one request: its runs of present pages and
 * the short gaps between them, which are zeroed again afterwards (the
 * file may hold anything there: a hole, or an old copy).
 */
static bool mapped_ram_read_span(QEMUFile *f, RAMBlock *rb,
                                 const unsigned long *bmap, uint64_t p,
                                 uint64_t end, GError **errp)
{
    uint64_t off = p << TARGET_PAGE_BITS;

    if (qio_channel_pread_all(qemu_file_get_ioc(f), rb->host + off,
                              (end - p) << TARGET_PAGE_BITS,
                              rb->pages_offset + off, errp) < 0) {
        error_prepend(errp, "Error reading ramblock %s pages", rb->idstr);
        return false;
    }
    while (p < end) {
        uint64_t q = MIN(find_next_zero_bit(bmap, end, p), end);
        if (!ram_checksums_verify(rb, p, q - p, errp)) {
            return false;
        }
        p = MIN(find_next_bit(bmap, end, q), end);
        memset(rb->host + (q << TARGET_PAGE_BITS), 0,
               (p - q) << TARGET_PAGE_BITS);
    }
    return true;
}

/* Read present pages with preadv straight into guest RAM. */
static bool mapped_ram_read_pages(QEMUFile *f, RAMBlock *rb,
                                  const unsigned long *bmap, GError **errp)
{
    uint64_t n = ramblock_nr_pages(rb);
    uint64_t max_pages = (MAPPED_RAM_LOAD_BUF_SIZE >> TARGET_PAGE_BITS) * 4;

    for (uint64_t p = find_next_bit(bmap, n, 0); p < n;) {
        uint64_t end = MIN(find_next_zero_bit(bmap, n, p), p + max_pages);
        if (multifd_queue_pages(rb, p, end - p, errp)) {
            p = find_next_bit(bmap, n, end);
            continue;
        }
        if (errp && *errp) {
            return false;
        }
        /* One thread: merge close runs into one read. */
        for (uint64_t next = find_next_bit(bmap, n, end);
             next < n && next - end <= MAPPED_RAM_GAP_PAGES;
             next = find_next_bit(bmap, n, end)) {
            end = MIN(find_next_zero_bit(bmap, n, next), p + max_pages);
            if (end == p + max_pages) {
                break;
            }
        }
        if (!mapped_ram_read_span(f, rb, bmap, p, end, errp)) {
            return false;
        }
        p = find_next_bit(bmap, n, end);
    }
    return true;
}

/*
 * The source skipped the block (x-ignore-shared): that is only right if
 * the memory here comes from that file, shared (the same memory) or
 * private (a copy-on-write clone of a template), else the guest would
 * lose its RAM.
 */
static bool mapped_ram_ignored_block(RAMBlock *rb, GError **errp)
{
    if (!migrate_ram_is_ignored(rb) && !(rb->flags & RAM_FILE_CONTENT)) {
        error_setg(errp,
                   "RAM block %s is not in the file (x-ignore-shared): map "
                   "it from the source's file with memory-backend-file",
                   rb->idstr);
        return false;
    }
    return true;
}

/*
 * Pages absent from the file are zero on the source.  Fresh anonymous
 * memory is zero already; memory that starts as a file's contents is not,
 * so clear what is not zero (reading first keeps clean pages clean).
 */
static void mapped_ram_clear_absent(RAMBlock *rb, const unsigned long *bmap)
{
    uint64_t n = ramblock_nr_pages(rb);

    for (uint64_t p = find_next_zero_bit(bmap, n, 0); p < n;
         p = find_next_zero_bit(bmap, n, p + 1)) {
        uint8_t *host = rb->host + (p << TARGET_PAGE_BITS);
        if (!buffer_is_zero(host, TARGET_PAGE_SIZE)) {
            memset(host, 0, TARGET_PAGE_SIZE);
        }
    }
}

static bool mapped_ram_load_block(QEMUFile *f, RAMBlock *rb, GError **errp)
{
    uint8_t buf[MAPPED_RAM_HEADER_SIZE];
    MappedRamHeader h;
    off_t pos = qemu_get_offset(f);
    off_t fsize = file_size_of(f);

    if (pos < 0 || fsize < 0) {
        error_setg(errp, "Mapped-ram needs a seekable file");
        return false;
    }
    if (qemu_get_buffer(f, buf, sizeof(buf)) != sizeof(buf)) {
        error_setg(errp,
                   "Could not read whole mapped-ram migration header "
                   "for ramblock %s",
                   rb->idstr);
        return false;
    }
    mapped_ram_header_unpack(buf, &h);
    if (migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED) &&
        mapped_ram_header_is_ignored(&h)) {
        return mapped_ram_ignored_block(rb, errp);
    }
    MappedRamExpect e = { .name = rb->idstr,
                          .length = rb->used_length,
                          .page_size = TARGET_PAGE_SIZE,
                          .header_offset = pos,
                          .file_size = fsize };
    if (!mapped_ram_header_check(&h, &e, NULL, errp)) {
        return false;
    }
    rb->bitmap_offset = h.bitmap_offset;
    rb->pages_offset = h.pages_offset;

    g_autofree unsigned long *bmap = bitmap_new(ramblock_nr_pages(rb));
    if (!qemu_get_buffer_at(f, bmap, bitmap_bytes(ramblock_nr_pages(rb)),
                            h.bitmap_offset, errp)) {
        error_prepend(errp, "Error reading dirty bitmap");
        return false;
    }
    if (ram_checksums_enabled() &&
        (!ram_checksums_load_block(f, rb, errp) ||
         !ram_checksums_check_bitmap(rb, bmap, errp))) {
        return false;
    }
    if (migrate_lazy_restore()) {
        /* Pages come later, on demand (ram-lazy.c). */
        if (!ram_lazy_add_block(rb, g_steal_pointer(&bmap), errp)) {
            return false;
        }
    } else if (!mapped_ram_read_pages(f, rb, bmap, errp)) {
        return false;
    }
    if (rb->flags & RAM_FILE_CONTENT) {
        mapped_ram_clear_absent(rb, bmap);
    }
    return qemu_set_offset(f, h.pages_offset + rb->used_length, errp);
}

/* x-ignore-shared: the source's address of every block follows it. */
static bool ram_load_block_addr(QEMUFile *f, RAMBlock *rb, GError **errp)
{
    uint64_t addr = qemu_get_be64(f);

    if (load_error(f, errp)) {
        return false;
    }
    if (migrate_ram_is_ignored(rb) && addr != ram_block_addr(rb)) {
        error_setg(errp,
                   "Mismatched GPAs for block %s 0x%" PRIx64 " != 0x%" PRIx64,
                   rb->idstr, addr, ram_block_addr(rb));
        return false;
    }
    return true;
}

static bool parse_ramblocks(RAMState *rs, QEMUFile *f, uint64_t total,
                            GError **errp)
{
    uint64_t seen = 0;

    while (seen < total) {
        char id[256];
        if (!qemu_get_counted_string(f, id)) {
            return !load_error(f, errp);
        }
        uint64_t length = qemu_get_be64(f);
        if (load_error(f, errp)) {
            return false;
        }
        RAMBlock *rb = qemu_ram_block_by_name(id);
        if (!rb) {
            error_setg(errp,
                       "Unknown ramblock \"%s\", cannot accept "
                       "migration",
                       id);
            return false;
        }
        if (length != rb->used_length) {
            error_setg(errp,
                       "Length mismatch: %s: 0x%" PRIx64 " in != 0x%" PRIx64,
                       id, length, rb->used_length);
            return false;
        }
        if (length > total - seen) {
            error_setg(errp,
                       "RAM block list is longer than the total "
                       "size 0x%" PRIx64,
                       total);
            return false;
        }
        seen += length;
        /* Zero pages need no work where nothing was written yet. */
        g_free(rb->populated);
        rb->populated = ram_block_populated_bitmap(rb);
        if (migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED) &&
            !ram_load_block_addr(f, rb, errp)) {
            return false;
        }
        if (migrate_mapped_ram() && !mapped_ram_load_block(f, rb, errp)) {
            return false;
        }
    }
    if (migrate_mapped_ram()) {
        rs->mapped_ram_loaded = true;
        if (ram_checksums_enabled() && !ram_checksums_load_finish(f, errp)) {
            return false;
        }
        if (migrate_lazy_restore() && !ram_lazy_start(f, errp)) {
            return false;
        }
        return multifd_recv_sync(errp);
    }
    return true;
}

static bool ram_load_zero(QEMUFile *f, RAMBlock *rb, uint64_t addr,
                          GError **errp)
{
    uint8_t ch = qemu_get_byte(f);
    uint8_t *host = rb->host + addr;

    /* The fill byte must be 0 (QEMU 9.0+ rejects anything else too). */
    if (ch) {
        error_setg(errp, "Found a zero page with value %d", ch);
        return false;
    }
    /* Fresh destination RAM is zero: touch it only when needed. */
    if (!ram_page_is_zero(rb, addr >> TARGET_PAGE_BITS)) {
        memset(host, 0, TARGET_PAGE_SIZE);
    }
    return true;
}

static bool ram_load(QEMUFile *f, void *opaque, int version_id, GError **errp)
{
    RAMState *rs = opaque;
    const unsigned allowed_mapped = RAM_SAVE_FLAG_MEM_SIZE | RAM_SAVE_FLAG_EOS;

    if (version_id != RAM_SECTION_VERSION) {
        error_setg(errp, "Unsupported ram section version %d", version_id);
        return false;
    }
    for (;;) {
        uint64_t word = qemu_get_be64(f);
        if (load_error(f, errp)) {
            return false;
        }
        uint64_t addr = word & TARGET_PAGE_MASK;
        unsigned flags = word & ~TARGET_PAGE_MASK;
        unsigned kind = flags & ~RAM_SAVE_FLAG_CONTINUE;

        if (migrate_mapped_ram() && (kind & ~allowed_mapped)) {
            error_setg(errp, "Unexpected RAM flags: 0x%x", kind);
            return false;
        }
        switch (kind) {
        case RAM_SAVE_FLAG_MEM_SIZE:
            if (!parse_ramblocks(rs, f, addr, errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_ZERO:
        case RAM_SAVE_FLAG_PAGE: {
            RAMBlock *rb = ram_block_from_stream(rs, f, flags, errp);
            if (!rb) {
                if (errp && !*errp) {
                    load_error(f, errp);
                }
                return false;
            }
            if (addr >= rb->used_length) {
                error_setg(errp,
                           "Illegal RAM offset 0x%" PRIx64
                           " in block %s (length 0x%" PRIx64 ")",
                           addr, rb->idstr, rb->used_length);
                return false;
            }
            if (kind == RAM_SAVE_FLAG_ZERO) {
                if (!ram_load_zero(f, rb, addr, errp)) {
                    return false;
                }
            } else {
                qemu_get_buffer(f, rb->host + addr, TARGET_PAGE_SIZE);
                ram_page_set_populated(rb, addr >> TARGET_PAGE_BITS);
            }
            break;
        }
        case RAM_SAVE_FLAG_MULTIFD_FLUSH:
            if (!multifd_recv_sync(errp)) {
                return false;
            }
            break;
        case RAM_SAVE_FLAG_EOS:
            /* QEMU 7.2's source syncs its channels at every section end. */
            if (migrate_multifd_flush_after_each_section() &&
                !multifd_recv_sync(errp)) {
                return false;
            }
            return !load_error(f, errp);
        default:
            error_setg(errp, "Unknown combination of migration flags: 0x%x",
                       flags);
            return false;
        }
    }
}

static bool ram_load_complete(void *opaque, GError **errp)
{
    return multifd_recv_sync(errp);
}

static void ram_load_cleanup(void *opaque)
{
    RAMState *rs = opaque;
    RAMBlock *rb;

    rs->last_recv_block = NULL;
    /* A failed load may leave channels working on what this frees. */
    multifd_recv_shutdown();
    RAMBLOCK_FOREACH(rb) {
        g_clear_pointer(&rb->populated, g_free);
    }
    ram_checksums_cleanup();
}

static const SaveVMHandlers savevm_ram_handlers = {
    .save_setup = ram_save_setup,
    .save_live_iterate = ram_save_iterate,
    .save_live_complete = ram_save_complete,
    .save_cleanup = ram_save_cleanup,
    .load_state = ram_load,
    .load_complete = ram_load_complete,
    .load_cleanup = ram_load_cleanup,
};

void ram_mig_init(void)
{
    register_savevm_live("ram", 0, RAM_SECTION_VERSION, &savevm_ram_handlers,
                         &ram_state);
}
