/*
 * Host memory backends: where guest RAM comes from.
 *
 *   -object memory-backend-ram,id=ID,size=S[,share=on][,prealloc=on]
 *   -object memory-backend-file,id=ID,size=S,mem-path=PATH[,share=on]...
 *   -object memory-backend-memfd,id=ID,size=S[,hugetlb=on,hugetlbsize=2M]...
 *
 * as QEMU has them (backends/hostmem*.c there).  An object is created
 * while the command line is parsed (properties checked); the machine
 * claims the one named by -machine memory-backend=ID and maps it as its
 * main RAMBlock, named ID as in QEMU, which is what makes QEMU's streams
 * of such machines load here and the other way round.
 *
 * Everything runs in the main thread during start-up.
 */
#ifndef SYSTEM_HOSTMEM_H
#define SYSTEM_HOSTMEM_H

#include "qemu/osdep.h"
#include "system/ramblock.h"

typedef struct HostMemoryBackend HostMemoryBackend;

/*
 * One backend type.  Each type lives in its own file
 * (backends/hostmem-<kind>.c) and fills this table.
 */
typedef struct HostMemoryBackendClass {
    const char *type; /* QOM type name, e.g. "memory-backend-file" */
    bool share_default;
    /*
     * Set a type-specific property.  Returns 1 when set, 0 when @name is
     * not a property of the type, -1 with @errp set on a bad value.
     */
    int (*set_property)(HostMemoryBackend *be, const char *name,
                        const char *value, GError **errp);
    /* Check the properties once all are known (QEMU's "complete"). */
    bool (*check)(HostMemoryBackend *be, GError **errp);
    /*
     * Provide the memory: *fd (or -1 for anonymous memory, the block
     * owns it), extra RAM_* flags and the host page size (0: base page).
     */
    bool (*open)(HostMemoryBackend *be, int *fd, uint32_t *ram_flags,
                 size_t *page_size, GError **errp);
    /* Free type-specific properties. */
    void (*finalize)(HostMemoryBackend *be);
} HostMemoryBackendClass;

struct HostMemoryBackend {
    const HostMemoryBackendClass *klass;
    char *id;
    uint64_t size;
    bool prealloc;
    bool share;
    /* memory-backend-file */
    char *mem_path;
    /* memory-backend-memfd */
    bool hugetlb;
    uint64_t hugetlbsize; /* 0: the host's default hugepage size */
    bool seal;
    RAMBlock *ram; /* once mapped by the machine */
};

extern const HostMemoryBackendClass host_memory_backend_ram_class;
extern const HostMemoryBackendClass host_memory_backend_file_class;
extern const HostMemoryBackendClass host_memory_backend_memfd_class;

/*
 * Create an object from a -object argument: "TYPE,id=ID,prop=value,..."
 * (or "qom-type=TYPE,...") or the JSON form libvirt uses
 * ({"qom-type": ..., "id": ..., "size": 1073741824, "share": true}).
 * Fails on an unknown type or property, a bad value, a missing id or
 * size, a duplicate id, or a type-specific check (mem-path missing, ...).
 */
bool object_option_parse(const char *optarg, GError **errp);

/* The backend with @id, or NULL. */
HostMemoryBackend *host_memory_backend_find(const char *id);
/* Any object with @id exists (for QEMU's reserved default RAM id). */
bool object_id_exists(const char *id);

/*
 * Map @be as a RAMBlock named after its id at guest-physical @gpa.  A
 * backend is mapped once; the block belongs to ram_list from then on.
 */
RAMBlock *host_memory_backend_map(HostMemoryBackend *be, uint64_t gpa,
                                  GError **errp);

/* Free every object (their RAMBlocks are freed by qemu_ram_free_all). */
void object_cleanup_all(void);

/* Helpers for the type files. */
bool hostmem_parse_bool(const char *type, const char *name, const char *value,
                        bool *out, GError **errp);
/* Hugepage size of a hugetlbfs mount or of the host's default, 0 if none. */
size_t qemu_default_hugepage_size(void);
/* Whether the kernel offers hugepages of @size bytes. */
bool qemu_hugepage_size_supported(uint64_t size);

#endif
