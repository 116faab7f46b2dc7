/*
 * VMState: encode, decode and describe device state as QEMU does.
 */
#include "qemu/osdep.h"
#include "migration/format.h"
#include "migration/qemu-file.h"
#include "migration/vmstate.h"

static size_t field_size(const VMStateField *fld)
{
    switch (fld->type) {
    case VMS_UINT8:
    case VMS_BOOL:
        return 1;
    case VMS_UINT16:
        return 2;
    case VMS_UINT32:
    case VMS_INT32:
        return 4;
    case VMS_UINT64:
    case VMS_INT64:
        return 8;
    default:
        return fld->size;
    }
}

static const char *field_type_name(const VMStateField *fld)
{
    static const char *const names[] = {
        [VMS_UINT8] = "uint8",
        [VMS_UINT16] = "uint16",
        [VMS_UINT32] = "uint32",
        [VMS_UINT64] = "uint64",
        [VMS_INT32] = "int32",
        [VMS_INT64] = "int64",
        [VMS_BOOL] = "bool",
        [VMS_BUFFER] = "buffer",
        [VMS_UNUSED] = "unused_buffer",
    };
    return names[fld->type];
}

static void save_field(QEMUFile *f, const VMStateField *fld, void *opaque)
{
    uint8_t *p = (uint8_t *)opaque + fld->offset;

    switch (fld->type) {
    case VMS_UINT8:
        qemu_put_byte(f, *p);
        break;
    case VMS_BOOL:
        qemu_put_byte(f, *(bool *)p);
        break;
    case VMS_UINT16:
        qemu_put_be16(f, *(uint16_t *)p);
        break;
    case VMS_UINT32:
    case VMS_INT32:
        qemu_put_be32(f, *(uint32_t *)p);
        break;
    case VMS_UINT64:
    case VMS_INT64:
        qemu_put_be64(f, *(uint64_t *)p);
        break;
    case VMS_BUFFER:
        qemu_put_buffer(f, p, fld->size);
        break;
    case VMS_UNUSED: {
        static const uint8_t zeros[64];
        for (size_t left = fld->size; left;) {
            size_t n = MIN(left, sizeof(zeros));
            qemu_put_buffer(f, zeros, n);
            left -= n;
        }
        break;
    }
    }
}

static bool load_field(QEMUFile *f, const VMStateField *fld, void *opaque,
                       GError **errp)
{
    uint8_t *p = (uint8_t *)opaque + fld->offset;

    switch (fld->type) {
    case VMS_UINT8:
        *p = qemu_get_byte(f);
        break;
    case VMS_BOOL: {
        uint8_t v = qemu_get_byte(f);
        if (v > 1) {
            error_setg(errp, "field '%s': invalid bool value %u", fld->name, v);
            return false;
        }
        *(bool *)p = v;
        break;
    }
    case VMS_UINT16:
        *(uint16_t *)p = qemu_get_be16(f);
        break;
    case VMS_UINT32:
    case VMS_INT32:
        *(uint32_t *)p = qemu_get_be32(f);
        break;
    case VMS_UINT64:
    case VMS_INT64:
        *(uint64_t *)p = qemu_get_be64(f);
        break;
    case VMS_BUFFER:
        qemu_get_buffer(f, p, fld->size);
        break;
    case VMS_UNUSED:
        for (size_t i = 0; i < fld->size; i++) {
            qemu_get_byte(f);
        }
        break;
    }
    return true;
}

static void save_subsections(QEMUFile *f, const VMStateDescription *vmsd,
                             void *opaque)
{
    for (int i = 0; vmsd->subsections && vmsd->subsections[i]; i++) {
        const VMStateDescription *sub = vmsd->subsections[i];
        if (sub->needed && !sub->needed(opaque)) {
            continue;
        }
        qemu_put_byte(f, QEMU_VM_SUBSECTION);
        qemu_put_counted_string(f, sub->name);
        qemu_put_be32(f, sub->version_id);
        vmstate_save_state(f, sub, opaque);
    }
}

void vmstate_save_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque)
{
    if (vmsd->pre_save) {
        vmsd->pre_save(opaque);
    }
    for (const VMStateField *fld = vmsd->fields; fld && fld->name; fld++) {
        save_field(f, fld, opaque);
    }
    save_subsections(f, vmsd, opaque);
}

static const VMStateDescription *find_subsection(const VMStateDescription *vmsd,
                                                 const char *name)
{
    for (int i = 0; vmsd->subsections && vmsd->subsections[i]; i++) {
        if (!strcmp(vmsd->subsections[i]->name, name)) {
            return vmsd->subsections[i];
        }
    }
    return NULL;
}

static bool load_subsections(QEMUFile *f, const VMStateDescription *vmsd,
                             void *opaque, GError **errp)
{
    while (qemu_peek_byte(f, 0) == QEMU_VM_SUBSECTION &&
           !qemu_file_get_error(f)) {
        /* A subsection's name starts with its parent's: peek before taking. */
        size_t len = qemu_peek_byte(f, 1);
        size_t plen = strlen(vmsd->name);
        char name[256];

        if (len < plen) {
            return true;
        }
        for (size_t i = 0; i < len; i++) {
            name[i] = qemu_peek_byte(f, 2 + i);
        }
        name[len] = 0;
        if (qemu_file_get_error(f)) {
            return true; /* truncated name: the caller reports the error */
        }
        if (strncmp(name, vmsd->name, plen)) {
            return true; /* belongs to an enclosing description */
        }
        const VMStateDescription *sub = find_subsection(vmsd, name);
        if (!sub) {
            error_setg(errp, "unknown subsection '%s' in '%s'", name,
                       vmsd->name);
            return false;
        }
        qemu_get_byte(f);
        qemu_get_counted_string(f, name);
        uint32_t version = qemu_get_be32(f);
        if (qemu_file_get_error(f)) {
            return true; /* the caller reports the file error */
        }
        if (!vmstate_load_state(f, sub, opaque, version, errp)) {
            return false;
        }
    }
    return true;
}

bool vmstate_load_state(QEMUFile *f, const VMStateDescription *vmsd,
                        void *opaque, int version_id, GError **errp)
{
    if (version_id > vmsd->version_id ||
        version_id < vmsd->minimum_version_id) {
        error_setg(errp, "%s: unsupported version %d (supported %d..%d)",
                   vmsd->name, version_id, vmsd->minimum_version_id,
                   vmsd->version_id);
        return false;
    }
    for (const VMStateField *fld = vmsd->fields; fld && fld->name; fld++) {
        if (!load_field(f, fld, opaque, errp)) {
            return false;
        }
    }
    if (!load_subsections(f, vmsd, opaque, errp)) {
        return false;
    }
    if (qemu_file_get_error(f)) {
        GError *err = qemu_file_get_error_obj(f);
        error_setg(errp, "%s: %s", vmsd->name, err->message);
        g_error_free(err);
        return false;
    }
    if (vmsd->post_load && !vmsd->post_load(opaque, version_id, errp)) {
        return false;
    }
    return true;
}

/*
 * QEMU's VM description is JSON with ", " and ": " separators; we write
 * it by hand so the bytes match what QEMU's own tools expect.
 */
static void describe_fields(GString *out, const VMStateDescription *vmsd)
{
    g_string_append(out, "\"fields\": [");
    for (const VMStateField *fld = vmsd->fields; fld && fld->name; fld++) {
        g_string_append_printf(out,
                               "%s{\"name\": \"%s\", \"type\": \"%s\", "
                               "\"size\": %zu}",
                               fld == vmsd->fields ? "" : ", ", fld->name,
                               field_type_name(fld), field_size(fld));
    }
    g_string_append(out, "]");
}

void vmstate_describe(GString *out, const VMStateDescription *vmsd,
                      void *opaque)
{
    bool any = false;

    describe_fields(out, vmsd);
    for (int i = 0; vmsd->subsections && vmsd->subsections[i]; i++) {
        const VMStateDescription *sub = vmsd->subsections[i];
        if (sub->needed && !sub->needed(opaque)) {
            continue;
        }
        g_string_append(out, any ? ", " : ", \"subsections\": [");
        any = true;
        g_string_append_printf(out, "{\"vmsd_name\": \"%s\", \"version\": %d, ",
                               sub->name, sub->version_id);
        vmstate_describe(out, sub, opaque);
        g_string_append(out, "}");
    }
    if (any) {
        g_string_append(out, "]");
    }
}
