/*
 * Migration capabilities and parameters: the model (QEMU's names,
 * defaults and checks) and its tables.  The QMP and HMP commands that set
 * and show them live in migration-qmp-cmds.c and migration-hmp-cmds.c and
 * are driven by the tables here.
 */
#ifndef MIGRATION_OPTIONS_H
#define MIGRATION_OPTIONS_H

#include "qemu/osdep.h"
#include "io/engine.h"

typedef enum MigrationCapability {
    MIGRATION_CAPABILITY_XBZRLE,
    MIGRATION_CAPABILITY_RDMA_PIN_ALL,
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_ZERO_BLOCKS,
    MIGRATION_CAPABILITY_EVENTS,
    MIGRATION_CAPABILITY_POSTCOPY_RAM,
    MIGRATION_CAPABILITY_X_COLO,
    MIGRATION_CAPABILITY_RELEASE_RAM,
    MIGRATION_CAPABILITY_RETURN_PATH,
    MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER,
    MIGRATION_CAPABILITY_MULTIFD,
    MIGRATION_CAPABILITY_DIRTY_BITMAPS,
    MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME,
    MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE,
    MIGRATION_CAPABILITY_X_IGNORE_SHARED,
    MIGRATION_CAPABILITY_VALIDATE_UUID,
    MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT,
    MIGRATION_CAPABILITY_ZERO_COPY_SEND,
    MIGRATION_CAPABILITY_POSTCOPY_PREEMPT,
    MIGRATION_CAPABILITY_SWITCHOVER_ACK,
    MIGRATION_CAPABILITY_DIRTY_LIMIT,
    MIGRATION_CAPABILITY_MAPPED_RAM,
    /* Our extension: resume before RAM is loaded (ram-lazy.c). */
    MIGRATION_CAPABILITY_LAZY_RESTORE,
    /* Our extension: page and metadata sums in mapped-ram files. */
    MIGRATION_CAPABILITY_X_CHECKSUMS,
    /* Our extension: incremental saves into mapped-ram files. */
    MIGRATION_CAPABILITY_X_CHECKPOINT,
    MIGRATION_CAPABILITY__MAX
} MigrationCapability;

typedef enum MultiFDCompression {
    MULTIFD_COMPRESSION_NONE,
    MULTIFD_COMPRESSION_ZSTD,
    MULTIFD_COMPRESSION__MAX
} MultiFDCompression;

/* Every field has its entry in the parameter table (MigParam below). */
typedef struct MigrationParameters {
    uint64_t max_bandwidth;   /* bytes/s, 0 = unlimited */
    uint64_t downtime_limit;  /* ms, 0..2000000 */
    uint8_t multifd_channels; /* 1..255, default 2 */
    MultiFDCompression multifd_compression;
    uint8_t multifd_zstd_level; /* 0..20, default 1 */
    bool direct_io;
    IOEngineKind io_engine; /* our extension: multifd file channels' I/O */
    /* Lazy restore: prefetch rate (bytes/s, 0 = unlimited), as QEMU's */
    uint64_t max_postcopy_bandwidth;
    /* Lazy restore: bytes read per fault (power of two, 4K..2M) */
    uint64_t lazy_chunk_size;
    /* auto-converge (QEMU's names and defaults) */
    uint8_t throttle_trigger_threshold; /* percent, 1..100, default 50 */
    uint8_t cpu_throttle_initial;       /* percent, 1..99, default 20 */
    uint8_t cpu_throttle_increment;     /* percent, 1..99, default 10 */
    bool cpu_throttle_tailslow;
    uint8_t max_cpu_throttle; /* percent, initial..99, default 99 */
    /* dirty-limit: MB/s per vCPU, >= 1, default 1 */
    uint64_t vcpu_dirty_limit;
    /*
     * QEMU 8.0's compat property of 7.2 machine types: multifd over
     * sockets syncs its channels at every RAM section end instead of
     * sending RAM_SAVE_FLAG_MULTIFD_FLUSH once per pass.
     */
    bool multifd_flush_after_each_section;
} MigrationParameters;

/* Capability names; "fixed-ram" is accepted on input for mapped-ram. */
const char *migration_capability_name(MigrationCapability cap);
/* -1 if unknown. */
int migration_capability_lookup(const char *name);

/* Current settings (read by the migration code; set via the commands). */
bool migrate_cap(MigrationCapability cap);
const MigrationParameters *migrate_params(void);

static inline bool migrate_mapped_ram(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_MAPPED_RAM);
}
static inline bool migrate_multifd(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_MULTIFD);
}
/* x-checkpoint takes effect with mapped-ram (checkpoint.h). */
static inline bool migrate_checkpoint(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_X_CHECKPOINT) &&
           migrate_mapped_ram();
}
static inline bool migrate_events(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_EVENTS);
}
static inline bool migrate_auto_converge(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_AUTO_CONVERGE);
}
static inline bool migrate_dirty_limit(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_DIRTY_LIMIT);
}
/*
 * A lazy load: our lazy-restore, or QEMU's spelling of it (Fast Snapshot
 * Load), postcopy-ram with mapped-ram, which only a destination accepts.
 */
static inline bool migrate_lazy_restore(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_LAZY_RESTORE) ||
           (migrate_cap(MIGRATION_CAPABILITY_POSTCOPY_RAM) &&
            migrate_mapped_ram());
}
/*
 * multifd over sockets the QEMU 7.2 way: channels synced at every RAM
 * section end, no RAM_SAVE_FLAG_MULTIFD_FLUSH, zero pages as ZERO
 * records of the main stream (7.2's packets have no zero pages).
 */
static inline bool migrate_multifd_flush_after_each_section(void)
{
    return migrate_multifd() && !migrate_mapped_ram() &&
           __atomic_load_n(&migrate_params()->multifd_flush_after_each_section,
                           __ATOMIC_RELAXED);
}
/* direct-io takes effect only with mapped-ram and multifd (as QEMU). */
bool migrate_direct_io(void);

/*
 * Check a capability set as QEMU's migrate_caps_check() does; @new_caps is
 * indexed by MigrationCapability.
 */
bool migrate_caps_check(const bool *new_caps, GError **errp);
/* Check parameters together with the current capabilities. */
bool migrate_params_check(const MigrationParameters *p, GError **errp);

/*
 * The capability cross checks alone (without the "supported by mapmig"
 * check that migrate_caps_check() runs first), against parameters @p.
 * Exposed so tests can reach checks whose capabilities mapmig refuses.
 */
bool migrate_caps_cross_check(const bool *new_caps,
                              const MigrationParameters *p, GError **errp);

/* Whether mapmig implements (or harmlessly accepts) a capability. */
bool migration_capability_supported(MigrationCapability cap);

/* Back to the defaults: all capabilities off, default parameters. */
void migration_options_reset(void);

/*
 * As migration_capability_lookup(), but an unknown name sets @errp
 * (listing the valid names) and returns -1.
 */
int migration_capability_parse(const char *name, GError **errp);
/* Copy the current capabilities into @caps[MIGRATION_CAPABILITY__MAX]. */
void migrate_caps_snapshot(bool *caps);
/*
 * Replace all capabilities with @new_caps after migrate_caps_check();
 * refused while a migration runs.  Main thread.
 */
bool migrate_set_caps(const bool *new_caps, GError **errp);
/*
 * Turn @cap off without the checks (turning one off never conflicts), for
 * a capability that a migration consumes, while no command can set them.
 */
void migrate_cap_clear(MigrationCapability cap);

/* ---- The parameter table ---- */

/* Parameters known to the commands, in the order they are shown. */
typedef enum MigParam {
    MIG_PARAM_MAX_BANDWIDTH,
    MIG_PARAM_DOWNTIME_LIMIT,
    MIG_PARAM_MULTIFD_CHANNELS,
    MIG_PARAM_MULTIFD_COMPRESSION,
    MIG_PARAM_MULTIFD_ZSTD_LEVEL,
    MIG_PARAM_DIRECT_IO,
    MIG_PARAM_IO_ENGINE,
    MIG_PARAM_MAX_POSTCOPY_BANDWIDTH,
    MIG_PARAM_LAZY_CHUNK_SIZE,
    MIG_PARAM_THROTTLE_TRIGGER_THRESHOLD,
    MIG_PARAM_CPU_THROTTLE_INITIAL,
    MIG_PARAM_CPU_THROTTLE_INCREMENT,
    MIG_PARAM_CPU_THROTTLE_TAILSLOW,
    MIG_PARAM_MAX_CPU_THROTTLE,
    MIG_PARAM_VCPU_DIRTY_LIMIT,
    MIG_PARAM_X_MULTIFD_FLUSH_AFTER_EACH_SECTION,
    MIG_PARAM__MAX
} MigParam;

typedef enum MigParamKind {
    MIG_PARAM_KIND_INT,  /* an unsigned integer field */
    MIG_PARAM_KIND_BOOL, /* a bool field */
    MIG_PARAM_KIND_ENUM, /* an enum field, its values named by enum_names */
} MigParamKind;

/* One parameter: its name, its field and its limits. */
typedef struct MigParamInfo {
    const char *name;
    MigParamKind kind;
    size_t offset; /* of the field in MigrationParameters */
    size_t size;   /* of the field: 1, 4 or 8 bytes */
    /* INT: the valid values are min..max, and powers of two if pow2. */
    uint64_t min, max;
    bool pow2;
    /*
     * INT: the range is checked as the value is parsed (fields narrower
     * than the input need it); otherwise only when the whole new set is
     * checked, so that the error of a later argument comes first.
     */
    bool check_on_set;
    /* INT: what the range error says after the name; NULL for "between". */
    const char *range_desc;
    /* ENUM: value names, indexed by value. */
    const char *const *enum_names;
    int enum_max;
    /* The migration setup reads it once: not changed while running. */
    bool fixed_while_running;
    /* HMP input: 0 for an integer, else a size in these default units. */
    char hmp_size_unit;
    /* HMP output: printed after an INT value, if set. */
    const char *hmp_unit;
} MigParamInfo;

const MigParamInfo *migration_param_info(MigParam id);
/* -1 if unknown. */
int migration_param_lookup(const char *name);
/* All parameter names, "a, b, c" (g_free). */
char *migration_param_names(void);
/* A field of @p as an integer (bool 0/1, enum value). */
uint64_t migration_param_get(const MigrationParameters *p, MigParam id);
/*
 * Set a field of the working copy @p.  INT values are range checked if
 * check_on_set; BOOL takes 0/1.  Returns false with @errp set.
 */
bool migration_param_set(MigrationParameters *p, MigParam id, uint64_t v,
                         GError **errp);
/* Set an ENUM field by value name; an unknown name sets @errp. */
bool migration_param_set_enum(MigrationParameters *p, MigParam id,
                              const char *str, GError **errp);
/* The range error of an INT parameter (QEMU's wording). */
void migration_param_error_range(MigParam id, GError **errp);
/* "Invalid parameter type for '@name', expected: @expected". */
void migration_param_error_type(const char *name, const char *expected,
                                GError **errp);

/*
 * Parameters QEMU reports that mapmig has only one value for (no TLS,
 * only the legacy zero page detection).  Setting them to that value is
 * accepted, so a client can send back what it read.
 */
typedef struct MigFixedParam {
    const char *name;
    const char *value;
    bool hmp_quoted; /* HMP shows it in quotes, as QEMU does TLS strings */
} MigFixedParam;

/* The fixed parameters, in the order they are shown; *@n gets the count. */
const MigFixedParam *migration_fixed_params(size_t *n);

/* A consistent-enough private copy of the live parameters. */
MigrationParameters migrate_params_snapshot(void);
/*
 * Replace all parameters with @p after migrate_params_check(); nothing
 * changes on failure.  Main thread.
 */
bool migrate_set_params(const MigrationParameters *p, GError **errp);

/*
 * Set by migration.c: returns true while a migration (outgoing or
 * incoming) is running, when capabilities may not change.
 */
extern bool (*migration_options_is_busy)(void);

#endif
