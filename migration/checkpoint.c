/*
 * x-checkpoint: tracked images and their dirty sets (see checkpoint.h).
 */
#include "qemu/osdep.h"
#include "migration/checkpoint.h"
#include "migration/migration.h"
#include "migration/options.h"
#include "migration/ram-checksum.h"
#include "migration/ram.h"

#include <sys/stat.h>

/* One RAMBlock's state in an image; NULL bitmaps for an ignored block. */
typedef struct CkptBlock {
    unsigned long *dirty;     /* dirtied since the image was written */
    unsigned long *file_bmap; /* pages the file holds */
    uint64_t *sums;           /* their x-checksums sums (little endian) */
} CkptBlock;

typedef struct CkptImage {
    char *path; /* as given to migrate */
    uint64_t offset;
    dev_t dev;
    ino_t ino;
    uint64_t end;       /* the stream's end when it was written */
    bool checksums;     /* written with x-checksums */
    bool ignore_shared; /* written with x-ignore-shared */
    CkptBlock *blocks;  /* ram_list order */
} CkptImage;

static struct {
    GMutex lock;
    GPtrArray *images;      /* CkptImage, tracked */
    CkptImage *cur;         /* the image being written, tracked or new */
    bool incremental;       /* cur is tracked: rewrite it in place */
    unsigned long *scratch; /* a harvest, sized for the largest block */
    uint64_t scratch_bits;
} ck;

static void ckpt_image_free(CkptImage *img)
{
    for (guint i = 0; img->blocks && i < ram_list->len; i++) {
        g_free(img->blocks[i].dirty);
        g_free(img->blocks[i].file_bmap);
        g_free(img->blocks[i].sums);
    }
    g_free(img->blocks);
    g_free(img->path);
    g_free(img);
}

static guint ram_block_index(RAMBlock *rb)
{
    guint i = 0;

    while (i < ram_list->len && ram_list->pdata[i] != rb) {
        i++;
    }
    return i;
}

/* Dirty logging runs while at least one image is tracked. */
static void ckpt_track(CkptImage *img)
{
    if (!ck.images) {
        ck.images = g_ptr_array_new();
    }
    if (!ck.images->len) {
        global_dirty_log_start();
    }
    g_ptr_array_add(ck.images, img);
}

static void ckpt_untrack(CkptImage *img)
{
    g_ptr_array_remove(ck.images, img);
    if (!ck.images->len) {
        global_dirty_log_stop();
    }
}

static CkptImage *ckpt_find(const char *path, uint64_t offset,
                            const struct stat *st)
{
    for (guint i = 0; ck.images && i < ck.images->len; i++) {
        CkptImage *img = ck.images->pdata[i];
        if (img->offset == offset &&
            (!strcmp(img->path, path) ||
             (st && img->dev == st->st_dev && img->ino == st->st_ino))) {
            return img;
        }
    }
    return NULL;
}

/* The tracked image can be rewritten: same file, same kind of save. */
static bool ckpt_matches(CkptImage *img, const struct stat *st)
{
    return img->dev == st->st_dev && img->ino == st->st_ino &&
           (uint64_t)st->st_size >= img->end &&
           img->checksums == ram_checksums_enabled() &&
           img->ignore_shared ==
               migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED);
}

bool checkpoint_begin(const MigrationAddress *addr, bool *incremental,
                      GError **errp)
{
    struct stat st;
    bool have = stat(addr->path, &st) == 0;

    *incremental = false;
    if (addr->transport != MIG_TRANSPORT_FILE) {
        error_setg(errp, "Capability 'x-checkpoint' needs a file: migration "
                         "URI (it rewrites the file in place)");
        return false;
    }
    g_mutex_lock(&ck.lock);
    CkptImage *img = ckpt_find(addr->path, addr->offset, have ? &st : NULL);
    if (img && have && ckpt_matches(img, &st)) {
        *incremental = true;
    } else if (img) {
        /* The full save truncates the file: what we knew of it is gone. */
        ckpt_untrack(img);
        ckpt_image_free(img);
        img = NULL;
    }
    if (!img) {
        img = g_new0(CkptImage, 1);
        img->path = g_strdup(addr->path);
        img->offset = addr->offset;
    }
    ck.cur = img;
    ck.incremental = *incremental;
    g_mutex_unlock(&ck.lock);
    return true;
}

bool checkpoint_check_file(int fd, GError **errp)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "x-checkpoint: cannot stat '%s'",
                         ck.cur->path);
        return false;
    }
    if (ck.incremental && !ckpt_matches(ck.cur, &st)) {
        error_setg(errp,
                   "x-checkpoint: '%s' was replaced or truncated since it "
                   "was checked; save again for a full save",
                   ck.cur->path);
        return false;
    }
    ck.cur->dev = st.st_dev;
    ck.cur->ino = st.st_ino;
    return true;
}

bool checkpoint_setup_block(RAMBlock *rb, unsigned long *bmap,
                            unsigned long *file_bmap)
{
    if (!ck.cur || !ck.incremental) {
        return false;
    }
    CkptBlock *b = &ck.cur->blocks[ram_block_index(rb)];
    size_t bytes = bitmap_bytes(ramblock_nr_pages(rb));

    g_mutex_lock(&ck.lock);
    if (b->dirty) {
        memcpy(bmap, b->dirty, bytes);
        memcpy(file_bmap, b->file_bmap, bytes);
    }
    g_mutex_unlock(&ck.lock);
    return true;
}

void checkpoint_setup_sums(RAMBlock *rb, uint64_t *sums)
{
    if (!ck.cur || !ck.incremental) {
        return;
    }
    CkptBlock *b = &ck.cur->blocks[ram_block_index(rb)];
    for (uint64_t p = 0; b->sums && p < ramblock_nr_pages(rb); p++) {
        sums[p] = GUINT64_FROM_LE(b->sums[p]);
    }
}

/* Room to harvest @rb's log apart from @dest. */
static unsigned long *ckpt_scratch(RAMBlock *rb)
{
    uint64_t n = ramblock_nr_pages(rb);

    if (ck.scratch_bits < n) {
        g_free(ck.scratch);
        ck.scratch = bitmap_new(n);
        ck.scratch_bits = n;
    }
    memset(ck.scratch, 0, bitmap_bytes(n));
    return ck.scratch;
}

uint64_t checkpoint_sync_dirty_log(RAMBlock *rb, unsigned long *dest)
{
    uint64_t newly = 0;

    g_mutex_lock(&ck.lock);
    if (!ck.images || !ck.images->len) {
        g_mutex_unlock(&ck.lock);
        return ramblock_sync_dirty_log(rb, dest);
    }
    guint idx = ram_block_index(rb);
    size_t words = BITS_TO_LONGS(ramblock_nr_pages(rb));
    unsigned long *bits = ckpt_scratch(rb);

    ramblock_sync_dirty_log(rb, bits);
    for (guint i = 0; i < ck.images->len; i++) {
        CkptImage *img = ck.images->pdata[i];
        unsigned long *d = img->blocks[idx].dirty;
        for (size_t w = 0; d && w < words; w++) {
            d[w] |= bits[w];
        }
    }
    for (size_t w = 0; dest && w < words; w++) {
        newly += __builtin_popcountl(bits[w] & ~dest[w]);
        dest[w] |= bits[w];
    }
    g_mutex_unlock(&ck.lock);
    return newly;
}

static void *ckpt_dup(const void *p, size_t bytes)
{
    return p ? g_memdup2(p, bytes) : NULL;
}

/* A save into a new image completed: it holds what the blocks say. */
static void ckpt_fill_new(CkptImage *img)
{
    RAMBlock *rb;
    guint i = 0;

    img->blocks = g_new0(CkptBlock, ram_list->len);
    RAMBLOCK_FOREACH(rb) {
        CkptBlock *b = &img->blocks[i++];
        uint64_t n = ramblock_nr_pages(rb);
        if (!rb->file_bmap || migrate_ram_is_ignored(rb)) {
            continue;
        }
        b->dirty = bitmap_new(n);
        b->file_bmap = ckpt_dup(rb->file_bmap, bitmap_bytes(n));
        b->sums = ckpt_dup(rb->page_sums, n * sizeof(uint64_t));
    }
}

/*
 * After a completed rewrite: nothing is dirty since the switchover, the
 * file holds exactly the blocks' file_bmap.  After a failed one: pages it
 * may have written count as present, and the dirty set (grown by every
 * harvest) still covers whatever may be stale.
 */
static void ckpt_update(CkptImage *img, bool ok)
{
    RAMBlock *rb;
    guint i = 0;

    RAMBLOCK_FOREACH(rb) {
        CkptBlock *b = &img->blocks[i++];
        uint64_t n = ramblock_nr_pages(rb);
        if (!b->dirty || !rb->file_bmap) {
            continue;
        }
        if (!ok) {
            for (size_t w = 0; w < BITS_TO_LONGS(n); w++) {
                b->file_bmap[w] |= rb->file_bmap[w];
            }
            continue;
        }
        memset(b->dirty, 0, bitmap_bytes(n));
        memcpy(b->file_bmap, rb->file_bmap, bitmap_bytes(n));
        if (b->sums && rb->page_sums) {
            memcpy(b->sums, rb->page_sums, n * sizeof(uint64_t));
        }
    }
}

void checkpoint_finish(bool ok, uint64_t end)
{
    CkptImage *img = ck.cur;

    if (!img) {
        return;
    }
    g_mutex_lock(&ck.lock);
    ck.cur = NULL;
    if (ck.incremental) {
        ckpt_update(img, ok);
        img->end = ok ? end : MAX(img->end, end);
    } else if (ok) {
        ckpt_fill_new(img);
        img->end = end;
        img->checksums = ram_checksums_enabled();
        img->ignore_shared = migrate_cap(MIGRATION_CAPABILITY_X_IGNORE_SHARED);
        ckpt_track(img);
    } else {
        ckpt_image_free(img);
    }
    g_mutex_unlock(&ck.lock);
}

static uint64_t ckpt_count(CkptImage *img, bool file)
{
    RAMBlock *rb;
    guint i = 0;
    uint64_t n = 0;

    RAMBLOCK_FOREACH(rb) {
        CkptBlock *b = &img->blocks[i++];
        unsigned long *m = file ? b->file_bmap : b->dirty;
        n += m ? bitmap_count_one(m, ramblock_nr_pages(rb)) : 0;
    }
    return n;
}

JsonArray *checkpoint_query(bool harvest)
{
    JsonArray *a = json_array_new();
    RAMBlock *rb;

    /* A migration's harvest must land in its own bitmaps too. */
    if (harvest && !migration_is_running()) {
        RAMBLOCK_FOREACH(rb) {
            if (!migrate_ram_is_ignored(rb)) {
                checkpoint_sync_dirty_log(rb, NULL);
            }
        }
    }
    g_mutex_lock(&ck.lock);
    for (guint i = 0; ck.images && i < ck.images->len; i++) {
        CkptImage *img = ck.images->pdata[i];
        JsonObject *o = json_object_new();
        json_object_set_string_member(o, "path", img->path);
        json_object_set_int_member(o, "offset", img->offset);
        json_object_set_int_member(o, "dirty-pages", ckpt_count(img, false));
        json_object_set_int_member(o, "file-pages", ckpt_count(img, true));
        json_array_add_object_element(a, o);
    }
    g_mutex_unlock(&ck.lock);
    return a;
}

bool checkpoint_forget(const char *path, GError **errp)
{
    bool found = false;

    if (migration_is_running()) {
        error_setg(errp, "There's a migration process in progress");
        return false;
    }
    g_mutex_lock(&ck.lock);
    for (guint i = ck.images ? ck.images->len : 0; i-- > 0;) {
        CkptImage *img = ck.images->pdata[i];
        if (!path || !strcmp(img->path, path)) {
            ckpt_untrack(img);
            ckpt_image_free(img);
            found = true;
        }
    }
    g_mutex_unlock(&ck.lock);
    if (path && !found) {
        error_setg(errp, "No checkpoint image '%s'", path);
        return false;
    }
    return true;
}
