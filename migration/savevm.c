/*
 * Writing and reading the migration stream (QEMU's savevm.c in small).
 */
#include "qemu/osdep.h"
#include "migration/options.h"
#include "migration/savevm.h"
#include "system/system.h"

typedef struct SaveStateEntry {
    char idstr[256];
    uint32_t section_id;
    uint32_t load_section_id; /* the source's id, while loading */
    uint32_t instance_id;
    int version_id;
    const SaveVMHandlers *ops;      /* iterative state, or */
    const VMStateDescription *vmsd; /* device state */
    void *opaque;
} SaveStateEntry;

static GPtrArray *handlers;
static uint32_t next_section_id;

static SaveStateEntry *savevm_add_entry(const char *idstr, uint32_t instance_id,
                                        int version_id, void *opaque)
{
    SaveStateEntry *se = g_new0(SaveStateEntry, 1);

    g_strlcpy(se->idstr, idstr, sizeof(se->idstr));
    se->section_id = next_section_id++;
    se->instance_id = instance_id;
    se->version_id = version_id;
    se->opaque = opaque;
    if (!handlers) {
        handlers = g_ptr_array_new_with_free_func(g_free);
    }
    g_ptr_array_add(handlers, se);
    return se;
}

void register_savevm_live(const char *idstr, uint32_t instance_id,
                          int version_id, const SaveVMHandlers *ops,
                          void *opaque)
{
    savevm_add_entry(idstr, instance_id, version_id, opaque)->ops = ops;
}

void vmstate_register(const char *idstr, uint32_t instance_id,
                      const VMStateDescription *vmsd, void *opaque)
{
    SaveStateEntry *se = savevm_add_entry(
        idstr ? idstr : vmsd->name, instance_id, vmsd->version_id, opaque);
    se->vmsd = vmsd;
}

void savevm_skip_section_id(void)
{
    next_section_id++;
}

#define FOREACH_SE(se) \
    for (guint _i = 0; \
         handlers && _i < handlers->len && ((se) = handlers->pdata[_i]); _i++)

/* ---- source ---- */

static void save_section_header(QEMUFile *f, SaveStateEntry *se, uint8_t type)
{
    mig_stream_put_section_header(f, type, se->section_id, se->idstr,
                                  se->instance_id, se->version_id);
}

static void save_section_footer(QEMUFile *f, SaveStateEntry *se)
{
    mig_stream_put_section_footer(f, se->section_id);
}

/* Capabilities the destination must have set identically. */
static const MigrationCapability validated_caps[] = {
    MIGRATION_CAPABILITY_X_IGNORE_SHARED,
    MIGRATION_CAPABILITY_MAPPED_RAM,
};

/* The validated capabilities that are on, in QEMU's order. */
static size_t validated_caps_on(const char **caps)
{
    size_t count = 0;

    for (size_t i = 0; i < ARRAY_SIZE(validated_caps); i++) {
        if (migrate_cap(validated_caps[i])) {
            caps[count++] = migration_capability_name(validated_caps[i]);
        }
    }
    return count;
}

static void save_configuration(QEMUFile *f)
{
    const char *caps[ARRAY_SIZE(validated_caps)];
    size_t count = validated_caps_on(caps);

    mig_stream_put_configuration(f, machine_type_name(), caps, count);
}

void qemu_savevm_state_header(QEMUFile *f)
{
    mig_stream_put_header(f);
    save_configuration(f);
}

bool qemu_savevm_state_setup(QEMUFile *f, GError **errp)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (!se->ops || !se->ops->save_setup) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_START);
        if (!se->ops->save_setup(f, se->opaque, errp)) {
            return false;
        }
        save_section_footer(f, se);
    }
    qemu_fflush(f);
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return false;
    }
    return true;
}

void qemu_savevm_state_iterate(QEMUFile *f, bool *done)
{
    SaveStateEntry *se;

    *done = true;
    FOREACH_SE(se)
    {
        bool d = true;
        if (!se->ops || !se->ops->save_live_iterate) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_PART);
        se->ops->save_live_iterate(f, se->opaque, &d);
        save_section_footer(f, se);
        *done &= d;
    }
}

char *qemu_savevm_vmdesc(void)
{
    GString *out = g_string_new(NULL);
    SaveStateEntry *se;
    bool first = true;

    const char *caps[ARRAY_SIZE(validated_caps)];
    size_t ncaps = validated_caps_on(caps);

    /*
     * Current QEMU describes the configuration section first, QEMU 7.2
     * did not: with validated capabilities (which need a reader that
     * knows them) as current QEMU, without as 7.2.
     */
    g_string_append(out, "{");
    if (ncaps) {
        mig_vmdesc_put_configuration(out, machine_type_name(), caps, ncaps);
        g_string_append(out, ", ");
    }
    g_string_append_printf(out, "\"page_size\": %llu, \"devices\": [",
                           (unsigned long long)TARGET_PAGE_SIZE);
    FOREACH_SE(se)
    {
        if (!se->vmsd) {
            continue;
        }
        g_string_append_printf(out,
                               "%s{\"name\": \"%s\", \"instance_id\": %u, "
                               "\"vmsd_name\": \"%s\", \"version\": %d, ",
                               first ? "" : ", ", se->idstr, se->instance_id,
                               se->vmsd->name, se->vmsd->version_id);
        vmstate_describe(out, se->vmsd, se->opaque);
        g_string_append(out, "}");
        first = false;
    }
    g_string_append(out, "]}");
    return g_string_free(out, false);
}

void qemu_savevm_state_complete_precopy(QEMUFile *f)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (!se->ops || !se->ops->save_live_complete) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_END);
        se->ops->save_live_complete(f, se->opaque);
        save_section_footer(f, se);
    }
    FOREACH_SE(se)
    {
        if (!se->vmsd) {
            continue;
        }
        save_section_header(f, se, QEMU_VM_SECTION_FULL);
        vmstate_save_state(f, se->vmsd, se->opaque);
        save_section_footer(f, se);
    }
    qemu_put_byte(f, QEMU_VM_EOF);

    g_autofree char *vmdesc = qemu_savevm_vmdesc();
    qemu_put_byte(f, QEMU_VM_VMDESCRIPTION);
    qemu_put_be32(f, strlen(vmdesc));
    qemu_put_buffer(f, vmdesc, strlen(vmdesc));
    qemu_fflush(f);
}

void qemu_savevm_state_cleanup(void)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (se->ops && se->ops->save_cleanup) {
            se->ops->save_cleanup(se->opaque);
        }
    }
}

/* ---- destination ---- */

static bool file_error(QEMUFile *f, GError **errp)
{
    if (qemu_file_get_error(f)) {
        g_propagate_error(errp, qemu_file_get_error_obj(f));
        return true;
    }
    return false;
}

static bool load_capabilities(QEMUFile *f, GError **errp)
{
    char name[256];
    bool seen[MIGRATION_CAPABILITY__MAX] = { false };

    qemu_get_counted_string(f, name);
    if (strcmp(name, "configuration/capabilities")) {
        error_setg(errp, "Unknown configuration subsection '%s'", name);
        return false;
    }
    uint32_t version = qemu_get_be32(f);
    uint32_t count = qemu_get_be32(f);
    if (file_error(f, errp)) {
        return false;
    }
    if (version != 1 || count > MIGRATION_CAPABILITY__MAX) {
        error_setg(errp,
                   "Invalid configuration/capabilities subsection "
                   "(version %u, %u capabilities)",
                   version, count);
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        qemu_get_counted_string(f, name);
        int cap = migration_capability_lookup(name);
        if (cap < 0) {
            error_setg(errp, "Received unknown capability '%s'", name);
            return false;
        }
        seen[cap] = true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(validated_caps); i++) {
        MigrationCapability c = validated_caps[i];
        if (seen[c] != migrate_cap(c)) {
            error_setg(errp,
                       "Capability '%s' is %s in the stream but %s on "
                       "the destination",
                       migration_capability_name(c), seen[c] ? "on" : "off",
                       migrate_cap(c) ? "on" : "off");
            return false;
        }
    }
    return !file_error(f, errp);
}

static bool load_configuration(QEMUFile *f, GError **errp)
{
    char name[256];
    uint32_t len = qemu_get_be32(f);
    bool caps_seen = false;

    if (len > 255) {
        error_setg(errp, "Invalid machine type name length %u", len);
        return false;
    }
    qemu_get_buffer(f, name, len);
    name[len] = 0;
    if (file_error(f, errp)) {
        return false;
    }
    if (strcmp(name, machine_type_name())) {
        error_setg(errp, "Machine type received is '%s' and local is '%s'",
                   name, machine_type_name());
        return false;
    }
    while (qemu_peek_byte(f, 0) == QEMU_VM_SUBSECTION) {
        qemu_get_byte(f);
        if (!load_capabilities(f, errp)) {
            return false;
        }
        caps_seen = true;
    }
    if (!caps_seen) {
        for (size_t i = 0; i < ARRAY_SIZE(validated_caps); i++) {
            if (migrate_cap(validated_caps[i])) {
                error_setg(errp,
                           "Capability '%s' is off in the stream but on "
                           "the destination",
                           migration_capability_name(validated_caps[i]));
                return false;
            }
        }
    }
    return !file_error(f, errp);
}

static SaveStateEntry *find_se(const char *idstr, uint32_t instance_id)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (!strcmp(se->idstr, idstr) && se->instance_id == instance_id) {
            return se;
        }
    }
    return NULL;
}

static SaveStateEntry *find_se_by_section(GHashTable *ids, uint32_t id)
{
    return g_hash_table_lookup(ids, GUINT_TO_POINTER(id + 1));
}

static bool check_footer(QEMUFile *f, SaveStateEntry *se, GError **errp)
{
    uint8_t b = qemu_get_byte(f);
    uint32_t id = qemu_get_be32(f);

    if (file_error(f, errp)) {
        return false;
    }
    if (b != QEMU_VM_SECTION_FOOTER || id != se->load_section_id) {
        error_setg(errp,
                   "Missing or wrong section footer for '%s' "
                   "(read 0x%02x, section id %u)",
                   se->idstr, b, id);
        return false;
    }
    return true;
}

static bool load_section_start_full(QEMUFile *f, uint8_t type, GHashTable *ids,
                                    GError **errp)
{
    char idstr[256];
    uint32_t section_id = qemu_get_be32(f);
    qemu_get_counted_string(f, idstr);
    uint32_t instance_id = qemu_get_be32(f);
    uint32_t version_id = qemu_get_be32(f);

    if (file_error(f, errp)) {
        return false;
    }
    SaveStateEntry *se = find_se(idstr, instance_id);
    if (!se) {
        error_setg(errp,
                   "Unknown savevm section or instance '%s' %u. "
                   "Make sure that your current VM setup matches your saved "
                   "VM setup, including any hotplugged devices",
                   idstr, instance_id);
        return false;
    }
    if ((int)version_id > se->version_id) {
        error_setg(errp, "savevm: unsupported version %u for '%s' v%d",
                   version_id, idstr, se->version_id);
        return false;
    }
    /*
     * Sections are matched by name; remember the source's id for PART
     * and the footer, without touching the id we send ourselves.
     */
    g_hash_table_insert(ids, GUINT_TO_POINTER(section_id + 1), se);
    se->load_section_id = section_id;

    bool ok;
    if (se->vmsd) {
        if (type != QEMU_VM_SECTION_FULL) {
            error_setg(errp, "Device state '%s' sent as an iterative section",
                       idstr);
            return false;
        }
        ok = vmstate_load_state(f, se->vmsd, se->opaque, version_id, errp);
    } else {
        ok = se->ops->load_state(f, se->opaque, version_id, errp);
    }
    return ok && check_footer(f, se, errp);
}

static bool load_section_part_end(QEMUFile *f, GHashTable *ids, GError **errp)
{
    uint32_t section_id = qemu_get_be32(f);

    if (file_error(f, errp)) {
        return false;
    }
    SaveStateEntry *se = find_se_by_section(ids, section_id);
    if (!se || !se->ops) {
        error_setg(errp, "Unknown savevm section %u", section_id);
        return false;
    }
    return se->ops->load_state(f, se->opaque, se->version_id, errp) &&
           check_footer(f, se, errp);
}

/* Skip the VM description after EOF; it is for tools, not for us. */
static void skip_vmdesc(QEMUFile *f)
{
    uint8_t buf[4096];

    if (qemu_peek_byte(f, 0) != QEMU_VM_VMDESCRIPTION) {
        return;
    }
    qemu_get_byte(f);
    uint32_t len = qemu_get_be32(f);
    while (len && !qemu_file_get_error(f)) {
        size_t n = MIN(len, sizeof(buf));
        qemu_get_buffer(f, buf, n);
        len -= n;
    }
}

static bool load_command(QEMUFile *f, GError **errp)
{
    uint16_t cmd = qemu_get_be16(f);
    uint16_t len = qemu_get_be16(f);
    uint8_t buf[65536];

    qemu_get_buffer(f, buf, len);
    if (file_error(f, errp)) {
        return false;
    }
    /* 11 = SWITCHOVER_START (QEMU 10.0+): informational. */
    if (cmd != 11) {
        error_setg(errp, "Unsupported migration command %u", cmd);
        return false;
    }
    return true;
}

static bool loadvm_check_header(QEMUFile *f, GError **errp)
{
    uint32_t magic = qemu_get_be32(f);
    uint32_t version = qemu_get_be32(f);

    if (file_error(f, errp)) {
        error_prepend(errp, "Could not read the migration stream header");
        return false;
    }
    if (magic != QEMU_VM_FILE_MAGIC) {
        error_setg(errp, "Not a migration stream (bad magic 0x%08x)", magic);
        return false;
    }
    if (version == QEMU_VM_FILE_VERSION_COMPAT) {
        error_setg(errp, "SaveVM v2 format is obsolete and no longer "
                         "supported");
        return false;
    }
    if (version != QEMU_VM_FILE_VERSION) {
        error_setg(errp, "Unsupported migration stream version %u", version);
        return false;
    }
    if (qemu_peek_byte(f, 0) == QEMU_VM_CONFIGURATION) {
        qemu_get_byte(f);
        return load_configuration(f, errp);
    }
    error_setg(errp, "Configuration section missing");
    return false;
}

static bool loadvm_complete(GError **errp)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (se->ops && se->ops->load_complete &&
            !se->ops->load_complete(se->opaque, errp)) {
            return false;
        }
    }
    return true;
}

static void loadvm_cleanup(void)
{
    SaveStateEntry *se;

    FOREACH_SE(se)
    {
        if (se->ops && se->ops->load_cleanup) {
            se->ops->load_cleanup(se->opaque);
        }
    }
}

bool qemu_loadvm_state(QEMUFile *f, GError **errp)
{
    g_autoptr(GHashTable) ids = g_hash_table_new(NULL, NULL);
    bool ok = loadvm_check_header(f, errp);

    while (ok) {
        uint8_t type = qemu_get_byte(f);
        if (file_error(f, errp)) {
            ok = false;
            break;
        }
        if (type == QEMU_VM_EOF) {
            break;
        }
        switch (type) {
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_FULL:
            ok = load_section_start_full(f, type, ids, errp);
            break;
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END:
            ok = load_section_part_end(f, ids, errp);
            break;
        case QEMU_VM_COMMAND:
            ok = load_command(f, errp);
            break;
        default:
            error_setg(errp, "Unknown savevm section type %d", type);
            ok = false;
        }
    }
    if (ok) {
        skip_vmdesc(f);
        ok = !file_error(f, errp) && loadvm_complete(errp);
    }
    loadvm_cleanup();
    return ok;
}
