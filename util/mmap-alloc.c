/*
 * Memory mappings that start on a given boundary (include/qemu/mmap-alloc.h).
 */
#include "qemu/mmap-alloc.h"

#include <sys/mman.h>

void *qemu_mmap_aligned(size_t size, size_t align, int flags, int fd)
{
    size_t total = size + align;
    uint8_t *resv = mmap(NULL, total, PROT_NONE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

    if (resv == MAP_FAILED) {
        return MAP_FAILED;
    }
    uint8_t *a = (uint8_t *)ROUND_UP((uintptr_t)resv, align);
    void *p = mmap(a, size, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        munmap(resv, total);
        errno = err;
        return MAP_FAILED;
    }
    if (a > resv) {
        munmap(resv, a - resv);
    }
    if (a + size < resv + total) {
        munmap(a + size, resv + total - (a + size));
    }
    return p;
}
