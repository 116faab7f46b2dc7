/*
 * Migration capabilities and parameters (QEMU's names, defaults and
 * checks), plus their QMP/HMP commands.
 */
#ifndef MIGRATION_OPTIONS_H
#define MIGRATION_OPTIONS_H

#include "qemu/osdep.h"

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
    MIGRATION_CAPABILITY__MAX
} MigrationCapability;

typedef enum MultiFDCompression {
    MULTIFD_COMPRESSION_NONE,
    MULTIFD_COMPRESSION_ZSTD,
    MULTIFD_COMPRESSION__MAX
} MultiFDCompression;

/* Our extension: how multifd file channels issue positioned I/O. */
typedef enum MigIOEngine {
    MIG_IO_ENGINE_PSYNC,
    MIG_IO_ENGINE_IO_URING,
    MIG_IO_ENGINE_LIBAIO,
    MIG_IO_ENGINE__MAX
} MigIOEngine;

typedef struct MigrationParameters {
    uint64_t max_bandwidth;   /* bytes/s, 0 = unlimited */
    uint64_t downtime_limit;  /* ms, 0..2000000 */
    uint8_t multifd_channels; /* 1..255, default 2 */
    MultiFDCompression multifd_compression;
    uint8_t multifd_zstd_level; /* 0..20, default 1 */
    bool direct_io;
    MigIOEngine io_engine;
    /* Lazy restore: prefetch rate (bytes/s, 0 = unlimited), as QEMU's */
    uint64_t max_postcopy_bandwidth;
    /* Lazy restore: bytes read per fault (power of two, 4K..2M) */
    uint64_t lazy_chunk_size;
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
static inline bool migrate_events(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_EVENTS);
}
static inline bool migrate_lazy_restore(void)
{
    return migrate_cap(MIGRATION_CAPABILITY_LAZY_RESTORE);
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
 * Register migrate-set-capabilities, query-migrate-capabilities,
 * migrate-set-parameters, query-migrate-parameters and the HMP
 * migrate_set_capability, migrate_set_parameter, info
 * migrate_capabilities, info migrate_parameters.
 */
void migration_options_register_commands(void);

/*
 * Set by migration.c: returns true while a migration (outgoing or
 * incoming) is running, when capabilities may not change.
 */
extern bool (*migration_options_is_busy)(void);

#endif
