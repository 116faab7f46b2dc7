/*
 * memory-backend-memfd: an anonymous file from memfd_create(), shared by
 * default, optionally on hugepages (hugetlb=on[,hugetlbsize=SIZE]) and
 * sealed against resizing (seal=on, the default), as in QEMU.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "system/hostmem.h"

#include <sys/mman.h>

#ifndef MFD_HUGE_SHIFT
#define MFD_HUGE_SHIFT 26
#endif

static int memfd_backend_set_property(HostMemoryBackend *be, const char *name,
                                      const char *value, GError **errp)
{
    const char *type = be->klass->type;

    if (!strcmp(name, "hugetlb")) {
        return hostmem_parse_bool(type, name, value, &be->hugetlb, errp) ? 1
                                                                         : -1;
    }
    if (!strcmp(name, "seal")) {
        return hostmem_parse_bool(type, name, value, &be->seal, errp) ? 1 : -1;
    }
    if (!strcmp(name, "hugetlbsize")) {
        if (qemu_strtosz(value, NULL, &be->hugetlbsize) || !be->hugetlbsize) {
            error_setg(errp, "Invalid hugetlbsize value '%s'", value);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* The hugepage size the memfd will use (0 without hugetlb=on). */
static uint64_t memfd_backend_page_size(HostMemoryBackend *be)
{
    if (!be->hugetlb) {
        return 0;
    }
    return be->hugetlbsize ? be->hugetlbsize : qemu_default_hugepage_size();
}

static bool memfd_backend_check(HostMemoryBackend *be, GError **errp)
{
    uint64_t hps = memfd_backend_page_size(be);

    if (be->hugetlbsize && !be->hugetlb) {
        error_setg(errp, "hugetlbsize requires hugetlb=on");
        return false;
    }
    if (!be->hugetlb) {
        return true;
    }
    if (!hps || !qemu_hugepage_size_supported(hps)) {
        g_autofree char *s = size_to_str(hps);
        error_setg(errp, "this host has no hugepages of %s",
                   hps ? s : "any size");
        return false;
    }
    if (be->size % hps) {
        g_autofree char *s = size_to_str(be->size);
        g_autofree char *h = size_to_str(hps);
        error_setg(errp, "size %s is not a multiple of the hugepage size %s", s,
                   h);
        return false;
    }
    return true;
}

static bool memfd_backend_open(HostMemoryBackend *be, int *fd,
                               uint32_t *ram_flags, size_t *page_size,
                               GError **errp)
{
    uint64_t hps = memfd_backend_page_size(be);
    unsigned int flags = MFD_CLOEXEC | (be->seal ? MFD_ALLOW_SEALING : 0);

    if (hps) {
        flags |=
            MFD_HUGETLB | ((unsigned)__builtin_ctzll(hps) << MFD_HUGE_SHIFT);
    }
    int mfd = memfd_create("memory-backend-memfd", flags);
    if (mfd < 0) {
        error_setg_errno(errp, errno, "memfd_create failed");
        return false;
    }
    if (ftruncate(mfd, be->size) < 0) {
        error_setg_errno(errp, errno, "cannot size the memfd to %" PRIu64,
                         be->size);
        close(mfd);
        return false;
    }
    if (be->seal &&
        fcntl(mfd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
        error_setg_errno(errp, errno, "cannot seal the memfd");
        close(mfd);
        return false;
    }
    *fd = mfd;
    *page_size = hps;
    return true;
}

const HostMemoryBackendClass host_memory_backend_memfd_class = {
    .type = "memory-backend-memfd",
    .share_default = true,
    .set_property = memfd_backend_set_property,
    .check = memfd_backend_check,
    .open = memfd_backend_open,
};
