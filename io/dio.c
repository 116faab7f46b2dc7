/*
 * Direct I/O alignment of a file: statx(STATX_DIOALIGN) where the kernel
 * has it (6.1+), else a probe with open(O_DIRECT).
 *
 * Includes <linux/stat.h> for the statx fields glibc 2.36 lacks, so this
 * file stays away from <sys/stat.h>.
 */
#include "qemu/osdep.h"
#include "io/dio.h"

#include <linux/stat.h>
#include <sys/syscall.h>

bool qemu_dio_alignment(int fd, const char *path, uint32_t *mem_align,
                        uint32_t *offset_align, GError **errp)
{
    struct statx stx;

    memset(&stx, 0, sizeof(stx));
    if (syscall(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
        (stx.stx_mask & STATX_DIOALIGN)) {
        if (!stx.stx_dio_offset_align) {
            error_setg(errp,
                       "direct-io: the file system of '%s' does not "
                       "support O_DIRECT",
                       path);
            return false;
        }
        *mem_align = stx.stx_dio_mem_align;
        *offset_align = stx.stx_dio_offset_align;
        return true;
    }
    /*
     * Older kernels: an O_DIRECT open fails with EINVAL where unsupported.
     * Reopen through /proc so fd-set descriptors work too.
     */
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", fd);
    fd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EINVAL) {
            error_setg(errp,
                       "direct-io: the file system of '%s' does not "
                       "support O_DIRECT",
                       path);
        } else {
            error_setg_errno(errp, errno, "direct-io: cannot open '%s'", path);
        }
        return false;
    }
    close(fd);
    /* The common logical block size; enough for page-sized requests. */
    *mem_align = *offset_align = 4096;
    return true;
}
