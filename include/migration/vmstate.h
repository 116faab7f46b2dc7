/*
 * VMStateDescription: device state described as a list of fields, encoded
 * as QEMU encodes it (big-endian integers, fixed buffers, subsections),
 * and described in the stream's JSON VM description.
 */
#ifndef MIGRATION_VMSTATE_H
#define MIGRATION_VMSTATE_H

#include "qemu/osdep.h"

typedef struct QEMUFile QEMUFile;

typedef enum {
    VMS_UINT8,
    VMS_UINT16,
    VMS_UINT32,
    VMS_UINT64,
    VMS_INT32,
    VMS_INT64,
    VMS_BOOL,
    VMS_BUFFER, /* .size bytes at .offset */
    VMS_UNUSED, /* .size zero bytes, ignored on load */
} VMStateFieldType;

typedef struct VMStateField {
    const char *name;
    size_t offset;
    VMStateFieldType type;
    size_t size; /* VMS_BUFFER / VMS_UNUSED only */
} VMStateField;

typedef struct VMStateDescription VMStateDescription;
struct VMStateDescription {
    const char *name;
    int version_id;
    int minimum_version_id;
    const VMStateField *fields;                   /* ends with .name == NULL */
    const VMStateDescription *const *subsections; /* NULL terminated */
    bool (*needed)(void *opaque);                 /* subsections only */
    int (*pre_save)(void *opaque);
    /* Validate what was loaded; set errp on nonsense. */
    bool (*post_load)(void *opaque, int version_id, GError **errp);
};

#define VMSTATE_FIELD(_name, _state, _field, _type)                          \
    {                                                                        \
        .name = (_name), .offset = offsetof(_state, _field), .type = (_type) \
    }
#define VMSTATE_UINT8(f, s) VMSTATE_FIELD(#f, s, f, VMS_UINT8)
#define VMSTATE_UINT16(f, s) VMSTATE_FIELD(#f, s, f, VMS_UINT16)
#define VMSTATE_UINT32(f, s) VMSTATE_FIELD(#f, s, f, VMS_UINT32)
#define VMSTATE_UINT64(f, s) VMSTATE_FIELD(#f, s, f, VMS_UINT64)
#define VMSTATE_INT32(f, s) VMSTATE_FIELD(#f, s, f, VMS_INT32)
#define VMSTATE_INT64(f, s) VMSTATE_FIELD(#f, s, f, VMS_INT64)
#define VMSTATE_BOOL(f, s) VMSTATE_FIELD(#f, s, f, VMS_BOOL)
#define VMSTATE_BUFFER(f, s)                                      \
    {                                                             \
        .name = #f, .offset = offsetof(s, f), .type = VMS_BUFFER, \
        .size = sizeof(((s *)0)->f)                               \
    }
#define VMSTATE_UNUSED(n)                                 \
    {                                                     \
        .name = "unused", .type = VMS_UNUSED, .size = (n) \
    }
#define VMSTATE_END_OF_LIST() \
    {                         \
        .name = NULL          \
    }

/* Encode @opaque's fields and needed subsections. */
void vmstate_save_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque);
/* Decode; checks version and subsection names. */
bool vmstate_load_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, int version_id, GError **errp);
/*
 * Append the VM description members of @vmsd ("fields": [...] and, when
 * any is needed, "subsections": [...]) to @out, formatted as QEMU does.
 */
void vmstate_describe(GString *out, const VMStateDescription *vmsd,
                      void *opaque);

/*
 * Register device state: appears as a FULL section named vmsd->name
 * (or @idstr if not NULL) at completion.
 */
void vmstate_register(const char *idstr, uint32_t instance_id,
                      const VMStateDescription *vmsd, void *opaque);

#endif
