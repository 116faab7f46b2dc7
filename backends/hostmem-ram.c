/*
 * memory-backend-ram: anonymous memory (MAP_SHARED with share=on, which
 * still is no file another process could map).
 */
#include "qemu/osdep.h"
#include "system/hostmem.h"

static bool ram_backend_open(HostMemoryBackend *be, int *fd,
                             uint32_t *ram_flags, size_t *page_size,
                             GError **errp)
{
    *fd = -1;
    return true;
}

const HostMemoryBackendClass host_memory_backend_ram_class = {
    .type = "memory-backend-ram",
    .open = ram_backend_open,
};
