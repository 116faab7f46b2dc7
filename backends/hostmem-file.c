/*
 * memory-backend-file: guest RAM mapped from a file (mem-path), as in
 * QEMU.  share=on maps it MAP_SHARED, so the file is the memory: another
 * process mapping the same file sees it, which is what x-ignore-shared
 * migration relies on.  share=off (the default) maps a private copy that
 * starts with the file's contents.  A file on hugetlbfs gives hugepages;
 * a directory gets a fresh unlinked file inside it.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "system/hostmem.h"

#include <sys/stat.h>
#include <sys/vfs.h>

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

static int file_backend_set_property(HostMemoryBackend *be, const char *name,
                                     const char *value, GError **errp)
{
    if (!strcmp(name, "mem-path")) {
        g_free(be->mem_path);
        be->mem_path = g_strdup(value);
        return 1;
    }
    return 0;
}

static bool file_backend_check(HostMemoryBackend *be, GError **errp)
{
    if (!be->mem_path || !be->mem_path[0]) {
        error_setg(errp, "mem-path property not set");
        return false;
    }
    return true;
}

/*
 * Open @path, creating it if missing; *created says whether it was,
 * *unlinked that it is a fresh file in a directory nobody else can open.
 */
static int file_open(HostMemoryBackend *be, bool *created, bool *unlinked,
                     GError **errp)
{
    const char *path = be->mem_path;
    int fd;

    *created = *unlinked = false;
    if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
        /* QEMU's way for hugetlbfs mounts: a private unlinked file. */
        g_autofree char *tmpl =
            g_strdup_printf("%s/qemu_back_mem.%s.XXXXXX", path, be->id);
        g_strdelimit(tmpl + strlen(path) + 1, "/", '_');
        fd = g_mkstemp_full(tmpl, O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, errno, "cannot create a file in '%s'", path);
            return -1;
        }
        unlink(tmpl);
        *created = *unlinked = true;
        return fd;
    }
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        *created = fd >= 0;
    } else if (fd < 0 && (errno == EACCES || errno == EROFS) && !be->share) {
        /* A private mapping never writes back: read access is enough. */
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0) {
        error_setg_errno(errp, errno, "can't open backing store %s", path);
    }
    return fd;
}

/* Hugepage size when @fd is on hugetlbfs, else 0. */
static size_t file_page_size(int fd)
{
    struct statfs fs;
    int r;

    do {
        r = fstatfs(fd, &fs);
    } while (r < 0 && errno == EINTR);
    return r == 0 && fs.f_type == HUGETLBFS_MAGIC ? (size_t)fs.f_bsize : 0;
}

/* Grow an empty file to the backend size; refuse a smaller one. */
static bool file_size_check(HostMemoryBackend *be, int fd, uint32_t *flags,
                            GError **errp)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "cannot stat %s", be->mem_path);
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        error_setg(errp, "mem-path %s is not a regular file or a directory",
                   be->mem_path);
        return false;
    }
    if (st.st_size > 0 && (uint64_t)st.st_size < be->size) {
        error_setg(errp,
                   "backing store size 0x%llx does not match 'size' option "
                   "0x%" PRIx64,
                   (unsigned long long)st.st_size, be->size);
        return false;
    }
    if (st.st_size == 0) {
        if (ftruncate(fd, be->size) < 0) {
            error_setg_errno(errp, errno, "cannot grow %s to %" PRIu64 " bytes",
                             be->mem_path, be->size);
            return false;
        }
    } else {
        /* Guest RAM starts as the file's bytes, not as zeros. */
        *flags |= RAM_FILE_CONTENT;
    }
    return true;
}

static bool file_backend_open(HostMemoryBackend *be, int *fd,
                              uint32_t *ram_flags, size_t *page_size,
                              GError **errp)
{
    bool created, unlinked;
    int f = file_open(be, &created, &unlinked, errp);

    if (f < 0) {
        return false;
    }
    size_t hps = file_page_size(f);
    if (hps && be->size % hps) {
        g_autofree char *s = size_to_str(be->size);
        g_autofree char *h = size_to_str(hps);
        error_setg(errp, "size %s is not a multiple of the hugepage size %s", s,
                   h);
        goto fail;
    }
    if (!file_size_check(be, f, ram_flags, errp)) {
        goto fail;
    }
    /*
     * Only a file another process can open again is "named": an unlinked
     * one must never be skipped by x-ignore-shared.
     */
    if (!unlinked) {
        *ram_flags |= RAM_NAMED_FILE;
    }
    *fd = f;
    *page_size = hps;
    return true;

fail:
    close(f);
    if (created && !unlinked) {
        unlink(be->mem_path);
    }
    return false;
}

static void file_backend_finalize(HostMemoryBackend *be)
{
    g_free(be->mem_path);
}

const HostMemoryBackendClass host_memory_backend_file_class = {
    .type = "memory-backend-file",
    .set_property = file_backend_set_property,
    .check = file_backend_check,
    .open = file_backend_open,
    .finalize = file_backend_finalize,
};
