/*
 * Migration capabilities and parameters: QEMU's names, defaults and
 * checks (migration/options.c), and the QMP/HMP commands that set and
 * show them (migration/migration-hmp-cmds.c).
 *
 * Thread safety: only the main thread (with the BQL held, in a monitor
 * command) writes capabilities and parameters; the migration thread reads
 * them.  Capabilities cannot change while a migration runs, and neither
 * can most parameters, but max-bandwidth and downtime-limit may change on
 * the fly (QEMU allows that).  Rather than a lock that every reader would
 * have to take, every field is written with __atomic_store_n() and read by
 * the accessors here with __atomic_load_n(), so a reader never sees a torn
 * value.  migrate_params() hands out a pointer to the live struct: code in
 * the migration thread reading max_bandwidth or downtime_limit through it
 * should use __atomic_load_n(&p->field, __ATOMIC_RELAXED); a plain load of
 * an aligned uint64_t does not tear on the 64-bit hosts we support either.
 * Fields are independent: a reader may see the new max_bandwidth with the
 * old downtime_limit for a moment, which is harmless.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "migration/options.h"
#include "migration/options-cmds.h"
#include "migration/ram-lazy.h"
#include "monitor/monitor.h"
#include "system/runstate.h"

#define DEFAULT_MIGRATE_MAX_BANDWIDTH (128 * MiB)
#define DEFAULT_MIGRATE_DOWNTIME_LIMIT 300
/* QEMU's MAX_MIGRATE_DOWNTIME_SECONDS (2000) in ms. */
#define MAX_MIGRATE_DOWNTIME_LIMIT 2000000
#define DEFAULT_MIGRATE_MULTIFD_CHANNELS 2
#define DEFAULT_MIGRATE_MULTIFD_ZSTD_LEVEL 1
#define MAX_MULTIFD_ZSTD_LEVEL 20
#define DEFAULT_LAZY_CHUNK_SIZE (64 * KiB)
#define MIN_LAZY_CHUNK_SIZE (4 * KiB)
#define MAX_LAZY_CHUNK_SIZE (2 * MiB)
/* QMP integers are int64, so a larger bandwidth could not be shown. */
#define MAX_MIGRATE_MAX_BANDWIDTH MIN((uint64_t)SIZE_MAX, (uint64_t)INT64_MAX)

#define QERR_MIGRATION_ACTIVE "There's a migration process in progress"
#define MAPPED_RAM_COMPRESSION_ERR \
    "Mapped-ram only available for non-compressed non-TLS multifd migration"

bool (*migration_options_is_busy)(void);

static const char *const capability_names[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_XBZRLE] = "xbzrle",
    [MIGRATION_CAPABILITY_RDMA_PIN_ALL] = "rdma-pin-all",
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = "auto-converge",
    [MIGRATION_CAPABILITY_ZERO_BLOCKS] = "zero-blocks",
    [MIGRATION_CAPABILITY_EVENTS] = "events",
    [MIGRATION_CAPABILITY_POSTCOPY_RAM] = "postcopy-ram",
    [MIGRATION_CAPABILITY_X_COLO] = "x-colo",
    [MIGRATION_CAPABILITY_RELEASE_RAM] = "release-ram",
    [MIGRATION_CAPABILITY_RETURN_PATH] = "return-path",
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = "pause-before-switchover",
    [MIGRATION_CAPABILITY_MULTIFD] = "multifd",
    [MIGRATION_CAPABILITY_DIRTY_BITMAPS] = "dirty-bitmaps",
    [MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME] = "postcopy-blocktime",
    [MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE] = "late-block-activate",
    [MIGRATION_CAPABILITY_X_IGNORE_SHARED] = "x-ignore-shared",
    [MIGRATION_CAPABILITY_VALIDATE_UUID] = "validate-uuid",
    [MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT] = "background-snapshot",
    [MIGRATION_CAPABILITY_ZERO_COPY_SEND] = "zero-copy-send",
    [MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] = "postcopy-preempt",
    [MIGRATION_CAPABILITY_SWITCHOVER_ACK] = "switchover-ack",
    [MIGRATION_CAPABILITY_DIRTY_LIMIT] = "dirty-limit",
    [MIGRATION_CAPABILITY_MAPPED_RAM] = "mapped-ram",
    [MIGRATION_CAPABILITY_LAZY_RESTORE] = "lazy-restore",
};

/*
 * What mapmig implements, or accepts because it is harmless here (there is
 * no return path traffic to need, ...).
 * Everything else would silently change nothing, so enabling it fails.
 */
static const bool capability_supported[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = true,
    [MIGRATION_CAPABILITY_EVENTS] = true,
    [MIGRATION_CAPABILITY_RETURN_PATH] = true,
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = true,
    [MIGRATION_CAPABILITY_MULTIFD] = true,
    [MIGRATION_CAPABILITY_X_IGNORE_SHARED] = true,
    [MIGRATION_CAPABILITY_VALIDATE_UUID] = true,
    [MIGRATION_CAPABILITY_MAPPED_RAM] = true,
    [MIGRATION_CAPABILITY_LAZY_RESTORE] = true,
};

/* As QEMU's check_caps_background_snapshot. */
static const MigrationCapability caps_incompatible_background_snapshot[] = {
    MIGRATION_CAPABILITY_POSTCOPY_RAM,
    MIGRATION_CAPABILITY_DIRTY_BITMAPS,
    MIGRATION_CAPABILITY_POSTCOPY_BLOCKTIME,
    MIGRATION_CAPABILITY_LATE_BLOCK_ACTIVATE,
    MIGRATION_CAPABILITY_RETURN_PATH,
    MIGRATION_CAPABILITY_MULTIFD,
    MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER,
    MIGRATION_CAPABILITY_AUTO_CONVERGE,
    MIGRATION_CAPABILITY_RELEASE_RAM,
    MIGRATION_CAPABILITY_RDMA_PIN_ALL,
    MIGRATION_CAPABILITY_XBZRLE,
    MIGRATION_CAPABILITY_X_COLO,
    MIGRATION_CAPABILITY_VALIDATE_UUID,
    MIGRATION_CAPABILITY_ZERO_COPY_SEND,
};

static const char *const compression_names[MULTIFD_COMPRESSION__MAX] = {
    [MULTIFD_COMPRESSION_NONE] = "none",
    [MULTIFD_COMPRESSION_ZSTD] = "zstd",
};

static const char *const io_engine_names[MIG_IO_ENGINE__MAX] = {
    [MIG_IO_ENGINE_PSYNC] = "psync",
    [MIG_IO_ENGINE_IO_URING] = "io-uring",
    [MIG_IO_ENGINE_LIBAIO] = "libaio",
};

/* Written only through migrate_params_commit(); see the top comment. */
#define DEFAULT_MIGRATION_PARAMETERS                              \
    {                                                             \
        .max_bandwidth = DEFAULT_MIGRATE_MAX_BANDWIDTH,           \
        .downtime_limit = DEFAULT_MIGRATE_DOWNTIME_LIMIT,         \
        .multifd_channels = DEFAULT_MIGRATE_MULTIFD_CHANNELS,     \
        .multifd_compression = MULTIFD_COMPRESSION_NONE,          \
        .multifd_zstd_level = DEFAULT_MIGRATE_MULTIFD_ZSTD_LEVEL, \
        .direct_io = false, .io_engine = MIG_IO_ENGINE_PSYNC,     \
        .max_postcopy_bandwidth = 0,                              \
        .lazy_chunk_size = DEFAULT_LAZY_CHUNK_SIZE,               \
    }

static const MigrationParameters default_parameters =
    DEFAULT_MIGRATION_PARAMETERS;
static MigrationParameters parameters = DEFAULT_MIGRATION_PARAMETERS;
static bool capabilities[MIGRATION_CAPABILITY__MAX];

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
    MIG_PARAM__MAX
} MigParam;

typedef enum MigParamKind {
    MIG_PARAM_KIND_INT,
    MIG_PARAM_KIND_BOOL,
    MIG_PARAM_KIND_ENUM,
} MigParamKind;

typedef struct MigParamInfo {
    const char *name;
    MigParamKind kind;
    /* For MIG_PARAM_KIND_ENUM. */
    const char *const *enum_names;
    int enum_max;
} MigParamInfo;

static const MigParamInfo param_info[MIG_PARAM__MAX] = {
    [MIG_PARAM_MAX_BANDWIDTH] = { "max-bandwidth", MIG_PARAM_KIND_INT },
    [MIG_PARAM_DOWNTIME_LIMIT] = { "downtime-limit", MIG_PARAM_KIND_INT },
    [MIG_PARAM_MULTIFD_CHANNELS] = { "multifd-channels", MIG_PARAM_KIND_INT },
    [MIG_PARAM_MULTIFD_COMPRESSION] = { "multifd-compression",
                                        MIG_PARAM_KIND_ENUM, compression_names,
                                        MULTIFD_COMPRESSION__MAX },
    [MIG_PARAM_MULTIFD_ZSTD_LEVEL] = { "multifd-zstd-level",
                                       MIG_PARAM_KIND_INT },
    [MIG_PARAM_DIRECT_IO] = { "direct-io", MIG_PARAM_KIND_BOOL },
    [MIG_PARAM_IO_ENGINE] = { "io-engine", MIG_PARAM_KIND_ENUM, io_engine_names,
                              MIG_IO_ENGINE__MAX },
    [MIG_PARAM_MAX_POSTCOPY_BANDWIDTH] = { "max-postcopy-bandwidth",
                                           MIG_PARAM_KIND_INT },
    [MIG_PARAM_LAZY_CHUNK_SIZE] = { "lazy-chunk-size", MIG_PARAM_KIND_INT },
};

/*
 * QEMU reports these in query-migrate-parameters; mapmig has no TLS and
 * only the legacy zero page detection, so they are fixed.  Setting them
 * to their only value is accepted so a client can send back what it read.
 */
static const struct {
    const char *name;
    const char *value;
} fixed_params[] = {
    { "zero-page-detection", "legacy" },
    { "tls-creds", "" },
    { "tls-hostname", "" },
    { "tls-authz", "" },
};

/* ---- Helpers ---- */

static bool migration_busy(void)
{
    return migration_options_is_busy && migration_options_is_busy();
}

static int lookup_name(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++) {
        if (names[i] && !strcmp(names[i], name)) {
            return i;
        }
    }
    return -1;
}

/* "a, b, c" (g_free). */
static char *join_names(const char *const *names, int n)
{
    GString *s = g_string_new(NULL);

    for (int i = 0; i < n; i++) {
        g_string_append_printf(s, "%s%s", i ? ", " : "", names[i]);
    }
    return g_string_free(s, FALSE);
}

static char *capability_names_joined(void)
{
    return join_names(capability_names, MIGRATION_CAPABILITY__MAX);
}

static char *param_names_joined(void)
{
    const char *names[MIG_PARAM__MAX];

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        names[i] = param_info[i].name;
    }
    return join_names(names, MIG_PARAM__MAX);
}

static void error_unknown_capability(GError **errp, const char *name)
{
    g_autofree char *valid = capability_names_joined();

    error_setg(errp, "Capability '%s' not found; valid capabilities: %s", name,
               valid);
}

static int param_lookup(const char *name)
{
    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        if (!strcmp(param_info[i].name, name)) {
            return i;
        }
    }
    return -1;
}

/* The range message of an integer parameter (QEMU's wording). */
static void error_param_range(GError **errp, MigParam id)
{
    switch (id) {
    case MIG_PARAM_MAX_BANDWIDTH:
        error_setg(errp, "Parameter 'max-bandwidth' expects an integer in "
                         "the range of 0 to SIZE_MAX bytes/second");
        break;
    case MIG_PARAM_DOWNTIME_LIMIT:
        error_setg(errp, "Parameter 'downtime-limit' expects an integer in "
                         "the range of 0 to 2000 seconds");
        break;
    case MIG_PARAM_MULTIFD_CHANNELS:
        error_setg(errp, "Parameter 'multifd-channels' expects a value "
                         "between 1 and 255");
        break;
    case MIG_PARAM_MULTIFD_ZSTD_LEVEL:
        error_setg(errp,
                   "Parameter 'multifd-zstd-level' expects a value "
                   "between 0 and %d",
                   MAX_MULTIFD_ZSTD_LEVEL);
        break;
    case MIG_PARAM_MAX_POSTCOPY_BANDWIDTH:
        error_setg(errp, "Parameter 'max-postcopy-bandwidth' expects an "
                         "integer in the range of 0 to SIZE_MAX "
                         "bytes/second");
        break;
    case MIG_PARAM_LAZY_CHUNK_SIZE:
        error_setg(errp,
                   "Parameter 'lazy-chunk-size' expects a power of two "
                   "between %llu and %llu bytes",
                   (unsigned long long)MIN_LAZY_CHUNK_SIZE,
                   (unsigned long long)MAX_LAZY_CHUNK_SIZE);
        break;
    default:
        g_assert_not_reached();
    }
}

/* ---- Capabilities ---- */

const char *migration_capability_name(MigrationCapability cap)
{
    if ((unsigned)cap >= MIGRATION_CAPABILITY__MAX) {
        return NULL;
    }
    return capability_names[cap];
}

int migration_capability_lookup(const char *name)
{
    if (!name) {
        return -1;
    }
    /* The name it had on the list before merging; scripts still use it. */
    if (!strcmp(name, "fixed-ram")) {
        return MIGRATION_CAPABILITY_MAPPED_RAM;
    }
    return lookup_name(capability_names, MIGRATION_CAPABILITY__MAX, name);
}

bool migration_capability_supported(MigrationCapability cap)
{
    return (unsigned)cap < MIGRATION_CAPABILITY__MAX &&
           capability_supported[cap];
}

bool migrate_cap(MigrationCapability cap)
{
    assert((unsigned)cap < MIGRATION_CAPABILITY__MAX);
    return __atomic_load_n(&capabilities[cap], __ATOMIC_RELAXED);
}

const MigrationParameters *migrate_params(void)
{
    return &parameters;
}

/* A consistent-enough private copy of the live parameters. */
static MigrationParameters migrate_params_snapshot(void)
{
    MigrationParameters p = {
        .max_bandwidth =
            __atomic_load_n(&parameters.max_bandwidth, __ATOMIC_RELAXED),
        .downtime_limit =
            __atomic_load_n(&parameters.downtime_limit, __ATOMIC_RELAXED),
        .multifd_channels =
            __atomic_load_n(&parameters.multifd_channels, __ATOMIC_RELAXED),
        .multifd_compression =
            __atomic_load_n(&parameters.multifd_compression, __ATOMIC_RELAXED),
        .multifd_zstd_level =
            __atomic_load_n(&parameters.multifd_zstd_level, __ATOMIC_RELAXED),
        .direct_io = __atomic_load_n(&parameters.direct_io, __ATOMIC_RELAXED),
        .io_engine = __atomic_load_n(&parameters.io_engine, __ATOMIC_RELAXED),
        .max_postcopy_bandwidth = __atomic_load_n(
            &parameters.max_postcopy_bandwidth, __ATOMIC_RELAXED),
        .lazy_chunk_size =
            __atomic_load_n(&parameters.lazy_chunk_size, __ATOMIC_RELAXED),
    };
    return p;
}

bool migrate_direct_io(void)
{
    /*
     * O_DIRECT needs the aligned, page-sized writes that only the multifd
     * channels of mapped-ram do; the main channel stays buffered.
     */
    return __atomic_load_n(&parameters.direct_io, __ATOMIC_RELAXED) &&
           migrate_mapped_ram() && migrate_multifd();
}

/*
 * QEMU's migrate_caps_check() after its host probes.  Several of these
 * involve capabilities mapmig refuses; they are kept so that the messages
 * stay right if one of them becomes supported.
 */
bool migrate_caps_cross_check(const bool *new_caps,
                              const MigrationParameters *p, GError **errp)
{
    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        if (new_caps[MIGRATION_CAPABILITY_X_IGNORE_SHARED]) {
            error_setg(errp, "Postcopy is not compatible with ignore-shared");
            return false;
        }
        if (new_caps[MIGRATION_CAPABILITY_MULTIFD]) {
            error_setg(errp, "Postcopy is not yet compatible with multifd");
            return false;
        }
    }

    if (new_caps[MIGRATION_CAPABILITY_BACKGROUND_SNAPSHOT]) {
        for (size_t i = 0;
             i < ARRAY_SIZE(caps_incompatible_background_snapshot); i++) {
            MigrationCapability c = caps_incompatible_background_snapshot[i];

            if (new_caps[c]) {
                error_setg(errp,
                           "Background-snapshot is not compatible with %s",
                           capability_names[c]);
                return false;
            }
        }
    }

    if (new_caps[MIGRATION_CAPABILITY_ZERO_COPY_SEND] &&
        (!new_caps[MIGRATION_CAPABILITY_MULTIFD] ||
         new_caps[MIGRATION_CAPABILITY_XBZRLE] ||
         p->multifd_compression != MULTIFD_COMPRESSION_NONE)) {
        error_setg(errp, "Zero copy only available for non-compressed "
                         "non-TLS multifd migration");
        return false;
    }

    if (new_caps[MIGRATION_CAPABILITY_SWITCHOVER_ACK] &&
        !new_caps[MIGRATION_CAPABILITY_RETURN_PATH]) {
        error_setg(errp, "Capability 'switchover-ack' requires capability "
                         "'return-path'");
        return false;
    }

    if (new_caps[MIGRATION_CAPABILITY_DIRTY_LIMIT] &&
        new_caps[MIGRATION_CAPABILITY_AUTO_CONVERGE]) {
        /* QEMU's wording, typo included, so scripts match it. */
        error_setg(errp, "dirty-limit conflicts with auto-converge"
                         " either of then available currently");
        return false;
    }

    if (new_caps[MIGRATION_CAPABILITY_MULTIFD] &&
        new_caps[MIGRATION_CAPABILITY_XBZRLE]) {
        error_setg(errp, "Multifd is not compatible with xbzrle");
        return false;
    }

    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_PREEMPT] &&
        !new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        error_setg(errp, "Postcopy preempt requires postcopy-ram");
        return false;
    }

    if (new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        if (new_caps[MIGRATION_CAPABILITY_XBZRLE]) {
            error_setg(errp,
                       "Mapped-ram migration is incompatible with xbzrle");
            return false;
        }
        if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
            error_setg(errp,
                       "Mapped-ram migration is incompatible with postcopy");
            return false;
        }
        /* Pages have fixed file offsets: compressed sizes cannot fit. */
        if (p->multifd_compression != MULTIFD_COMPRESSION_NONE) {
            error_setg(errp, MAPPED_RAM_COMPRESSION_ERR);
            return false;
        }
    }

    /* A fault is resolved by one read at the page's fixed file offset. */
    if (new_caps[MIGRATION_CAPABILITY_LAZY_RESTORE] &&
        !new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        error_setg(errp, "Capability 'lazy-restore' requires capability "
                         "'mapped-ram'");
        return false;
    }

    return true;
}

bool migrate_caps_check(const bool *new_caps, GError **errp)
{
    MigrationParameters p = migrate_params_snapshot();

    /*
     * First, so that a refused capability is reported as such rather than
     * through some conflict it would have.
     */
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        if (new_caps[i] && !capability_supported[i]) {
            error_setg(errp, "Capability '%s' is not supported by mapmig",
                       capability_names[i]);
            return false;
        }
    }
    if (!migrate_caps_cross_check(new_caps, &p, errp)) {
        return false;
    }
    /*
     * As QEMU probes postcopy: only on a destination, only when turned
     * on, so that a source never needs userfaultfd.
     */
    if (new_caps[MIGRATION_CAPABILITY_LAZY_RESTORE] &&
        !migrate_cap(MIGRATION_CAPABILITY_LAZY_RESTORE) &&
        runstate_get() == RUN_STATE_INMIGRATE && !ram_lazy_supported(errp)) {
        error_prepend(errp, "Lazy restore is not supported");
        return false;
    }
    return true;
}

static bool migrate_set_caps_internal(const bool *new_caps, GError **errp)
{
    if (migration_busy()) {
        error_setg(errp, QERR_MIGRATION_ACTIVE);
        return false;
    }
    if (!migrate_caps_check(new_caps, errp)) {
        return false;
    }
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        __atomic_store_n(&capabilities[i], new_caps[i], __ATOMIC_RELAXED);
    }
    return true;
}

static void migrate_caps_snapshot(bool *caps)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        caps[i] = migrate_cap(i);
    }
}

/* ---- Parameters ---- */

/* Those the migration setup reads once, so they cannot change under it. */
static bool migrate_params_check_busy(const MigrationParameters *p,
                                      GError **errp)
{
    const MigrationParameters cur = migrate_params_snapshot();
    const char *changed = NULL;

    if (p->multifd_channels != cur.multifd_channels) {
        changed = "multifd-channels";
    } else if (p->multifd_compression != cur.multifd_compression) {
        changed = "multifd-compression";
    } else if (p->direct_io != cur.direct_io) {
        changed = "direct-io";
    } else if (p->io_engine != cur.io_engine) {
        changed = "io-engine";
    } else if (p->lazy_chunk_size != cur.lazy_chunk_size) {
        changed = "lazy-chunk-size";
    }
    if (changed) {
        error_setg(errp,
                   "Parameter '%s' cannot be changed while a "
                   "migration is in progress",
                   changed);
        return false;
    }
    return true;
}

static bool migrate_params_check_build(const MigrationParameters *p,
                                       GError **errp)
{
    if (p->multifd_compression == MULTIFD_COMPRESSION_ZSTD && !CONFIG_ZSTD) {
        error_setg(errp, "zstd compression is not available in this build");
        return false;
    }
#ifndef O_DIRECT
    if (p->direct_io) {
        error_setg(errp, "No build-time support for direct-io");
        return false;
    }
#endif
    if (p->io_engine == MIG_IO_ENGINE_IO_URING && !CONFIG_IO_URING) {
        error_setg(errp, "io-engine 'io-uring' is not available in this "
                         "build (built without liburing)");
        return false;
    }
    if (p->io_engine == MIG_IO_ENGINE_LIBAIO && !CONFIG_LIBAIO) {
        error_setg(errp, "io-engine 'libaio' is not available in this "
                         "build (built without libaio)");
        return false;
    }
    return true;
}

bool migrate_params_check(const MigrationParameters *p, GError **errp)
{
    if (p->max_bandwidth > MAX_MIGRATE_MAX_BANDWIDTH) {
        error_param_range(errp, MIG_PARAM_MAX_BANDWIDTH);
        return false;
    }
    if (p->downtime_limit > MAX_MIGRATE_DOWNTIME_LIMIT) {
        error_param_range(errp, MIG_PARAM_DOWNTIME_LIMIT);
        return false;
    }
    if (p->multifd_channels < 1) {
        error_param_range(errp, MIG_PARAM_MULTIFD_CHANNELS);
        return false;
    }
    if ((unsigned)p->multifd_compression >= MULTIFD_COMPRESSION__MAX) {
        error_setg(errp, "Invalid value for parameter 'multifd-compression'");
        return false;
    }
    if (p->multifd_zstd_level > MAX_MULTIFD_ZSTD_LEVEL) {
        error_param_range(errp, MIG_PARAM_MULTIFD_ZSTD_LEVEL);
        return false;
    }
    if ((unsigned)p->io_engine >= MIG_IO_ENGINE__MAX) {
        error_setg(errp, "Invalid value for parameter 'io-engine'");
        return false;
    }
    if (!migrate_params_check_build(p, errp)) {
        return false;
    }
    if (migrate_mapped_ram() &&
        p->multifd_compression != MULTIFD_COMPRESSION_NONE) {
        error_setg(errp, MAPPED_RAM_COMPRESSION_ERR);
        return false;
    }
    if (migration_busy() && !migrate_params_check_busy(p, errp)) {
        return false;
    }
    return true;
}

static void migrate_params_commit(const MigrationParameters *p)
{
    __atomic_store_n(&parameters.max_bandwidth, p->max_bandwidth,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.downtime_limit, p->downtime_limit,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.multifd_channels, p->multifd_channels,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.multifd_compression, p->multifd_compression,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.multifd_zstd_level, p->multifd_zstd_level,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.direct_io, p->direct_io, __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.io_engine, p->io_engine, __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.max_postcopy_bandwidth,
                     p->max_postcopy_bandwidth, __ATOMIC_RELAXED);
    __atomic_store_n(&parameters.lazy_chunk_size, p->lazy_chunk_size,
                     __ATOMIC_RELAXED);
}

/* Check the complete new set and commit it only if all of it is valid. */
static bool migrate_set_params_internal(const MigrationParameters *p,
                                        GError **errp)
{
    if (!migrate_params_check(p, errp)) {
        return false;
    }
    migrate_params_commit(p);
    return true;
}

void migration_options_reset(void)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        __atomic_store_n(&capabilities[i], false, __ATOMIC_RELAXED);
    }
    migrate_params_commit(&default_parameters);
}

/*
 * Setters for one parameter of a working copy; range checks that the
 * narrower struct field could not express later happen here.
 */
static bool param_set_int(MigrationParameters *p, MigParam id, uint64_t v,
                          GError **errp)
{
    switch (id) {
    case MIG_PARAM_MAX_BANDWIDTH:
        p->max_bandwidth = v;
        return true;
    case MIG_PARAM_DOWNTIME_LIMIT:
        p->downtime_limit = v;
        return true;
    case MIG_PARAM_MULTIFD_CHANNELS:
        if (v < 1 || v > UINT8_MAX) {
            error_param_range(errp, id);
            return false;
        }
        p->multifd_channels = v;
        return true;
    case MIG_PARAM_MULTIFD_ZSTD_LEVEL:
        if (v > MAX_MULTIFD_ZSTD_LEVEL) {
            error_param_range(errp, id);
            return false;
        }
        p->multifd_zstd_level = v;
        return true;
    case MIG_PARAM_MAX_POSTCOPY_BANDWIDTH:
        if (v > MAX_MIGRATE_MAX_BANDWIDTH) {
            error_param_range(errp, id);
            return false;
        }
        p->max_postcopy_bandwidth = v;
        return true;
    case MIG_PARAM_LAZY_CHUNK_SIZE:
        if (v < MIN_LAZY_CHUNK_SIZE || v > MAX_LAZY_CHUNK_SIZE ||
            (v & (v - 1))) {
            error_param_range(errp, id);
            return false;
        }
        p->lazy_chunk_size = v;
        return true;
    default:
        g_assert_not_reached();
    }
}

static void param_set_bool(MigrationParameters *p, MigParam id, bool v)
{
    assert(id == MIG_PARAM_DIRECT_IO);
    p->direct_io = v;
}

static bool param_set_enum(MigrationParameters *p, MigParam id, const char *str,
                           GError **errp)
{
    const MigParamInfo *info = &param_info[id];
    int v = lookup_name(info->enum_names, info->enum_max, str);

    if (v < 0) {
        g_autofree char *valid = join_names(info->enum_names, info->enum_max);

        error_setg(errp,
                   "Parameter '%s' does not accept value '%s'; "
                   "valid values: %s",
                   info->name, str, valid);
        return false;
    }
    switch (id) {
    case MIG_PARAM_MULTIFD_COMPRESSION:
        p->multifd_compression = v;
        break;
    case MIG_PARAM_IO_ENGINE:
        p->io_engine = v;
        break;
    default:
        g_assert_not_reached();
    }
    return true;
}

/* ---- QMP ---- */

static bool json_node_is_type(JsonNode *node, GType type)
{
    return node && JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == type;
}

static void error_param_type(GError **errp, const char *name,
                             const char *expected)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s", name,
               expected);
}

static bool qmp_parse_cap_entry(JsonNode *entry, bool *new_caps, GError **errp)
{
    JsonObject *obj;
    JsonNode *name_node, *state_node;
    int cap;

    if (!entry || !JSON_NODE_HOLDS_OBJECT(entry)) {
        goto bad_type;
    }
    obj = json_node_get_object(entry);
    name_node = json_object_get_member(obj, "capability");
    state_node = json_object_get_member(obj, "state");
    if (json_object_get_size(obj) != 2 ||
        !json_node_is_type(name_node, G_TYPE_STRING) ||
        !json_node_is_type(state_node, G_TYPE_BOOLEAN)) {
        goto bad_type;
    }
    cap = migration_capability_lookup(json_node_get_string(name_node));
    if (cap < 0) {
        error_unknown_capability(errp, json_node_get_string(name_node));
        return false;
    }
    new_caps[cap] = json_node_get_boolean(state_node);
    return true;

bad_type:
    error_setg(errp, "Parameter 'capabilities' expects a list of "
                     "{capability, state}");
    return false;
}

/* Any argument other than @allowed is refused, as QEMU's visitor does. */
static bool qmp_check_only_member(JsonObject *args, const char *allowed,
                                  GError **errp)
{
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        if (strcmp(l->data, allowed)) {
            error_setg(errp, "Parameter '%s' is unexpected",
                       (const char *)l->data);
            return false;
        }
    }
    return true;
}

JsonNode *qmp_migrate_set_capabilities(Monitor *mon, JsonObject *args,
                                       GError **errp)
{
    bool new_caps[MIGRATION_CAPABILITY__MAX];
    JsonNode *list;
    JsonArray *arr;

    if (!qmp_check_only_member(args, "capabilities", errp)) {
        return NULL;
    }
    list = json_object_get_member(args, "capabilities");
    if (!list) {
        error_setg(errp, "Parameter 'capabilities' is missing");
        return NULL;
    }
    if (!JSON_NODE_HOLDS_ARRAY(list)) {
        error_setg(errp, "Parameter 'capabilities' expects a list of "
                         "{capability, state}");
        return NULL;
    }
    arr = json_node_get_array(list);

    migrate_caps_snapshot(new_caps);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        if (!qmp_parse_cap_entry(json_array_get_element(arr, i), new_caps,
                                 errp)) {
            return NULL;
        }
    }
    migrate_set_caps_internal(new_caps, errp);
    return NULL;
}

JsonNode *qmp_query_migrate_capabilities(Monitor *mon, JsonObject *args,
                                         GError **errp)
{
    JsonArray *arr = json_array_new();
    JsonNode *ret = json_node_new(JSON_NODE_ARRAY);

    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "capability", capability_names[i]);
        json_object_set_boolean_member(o, "state", migrate_cap(i));
        json_array_add_object_element(arr, o);
    }
    json_node_take_array(ret, arr);
    return ret;
}

/*
 * One of the fixed parameters: returns 1 if @name is one (and @node its
 * only value), 0 if it is not one, -1 on a wrong value.
 */
static int qmp_parse_fixed_param(const char *name, JsonNode *node,
                                 GError **errp)
{
    for (size_t i = 0; i < ARRAY_SIZE(fixed_params); i++) {
        if (strcmp(fixed_params[i].name, name)) {
            continue;
        }
        if (!json_node_is_type(node, G_TYPE_STRING)) {
            error_param_type(errp, name, "string");
            return -1;
        }
        if (strcmp(json_node_get_string(node), fixed_params[i].value)) {
            error_setg(errp, "Parameter '%s' only accepts '%s' in mapmig", name,
                       fixed_params[i].value);
            return -1;
        }
        return 1;
    }
    return 0;
}

static bool qmp_parse_param(MigrationParameters *p, MigParam id, JsonNode *node,
                            GError **errp)
{
    const char *name = param_info[id].name;

    switch (param_info[id].kind) {
    case MIG_PARAM_KIND_INT: {
        int64_t v;

        if (!json_node_is_type(node, G_TYPE_INT64)) {
            error_param_type(errp, name, "integer");
            return false;
        }
        v = json_node_get_int(node);
        if (v < 0) {
            error_param_range(errp, id);
            return false;
        }
        return param_set_int(p, id, v, errp);
    }
    case MIG_PARAM_KIND_BOOL:
        if (!json_node_is_type(node, G_TYPE_BOOLEAN)) {
            error_param_type(errp, name, "boolean");
            return false;
        }
        param_set_bool(p, id, json_node_get_boolean(node));
        return true;
    case MIG_PARAM_KIND_ENUM:
        if (!json_node_is_type(node, G_TYPE_STRING)) {
            error_param_type(errp, name, "string");
            return false;
        }
        return param_set_enum(p, id, json_node_get_string(node), errp);
    }
    g_assert_not_reached();
}

JsonNode *qmp_migrate_set_parameters(Monitor *mon, JsonObject *args,
                                     GError **errp)
{
    MigrationParameters p = migrate_params_snapshot();
    g_autoptr(GList) members = json_object_get_members(args);

    for (GList *l = members; l; l = l->next) {
        const char *name = l->data;
        JsonNode *node = json_object_get_member(args, name);
        int fixed = qmp_parse_fixed_param(name, node, errp);
        int id;

        if (fixed < 0) {
            return NULL;
        } else if (fixed > 0) {
            continue;
        }
        id = param_lookup(name);
        if (id < 0) {
            error_setg(errp, "Parameter '%s' is unexpected", name);
            return NULL;
        }
        if (!qmp_parse_param(&p, id, node, errp)) {
            return NULL;
        }
    }
    migrate_set_params_internal(&p, errp);
    return NULL;
}

JsonNode *qmp_query_migrate_parameters(Monitor *mon, JsonObject *args,
                                       GError **errp)
{
    MigrationParameters p = migrate_params_snapshot();
    JsonObject *o = json_object_new();
    JsonNode *ret = json_node_new(JSON_NODE_OBJECT);

    json_object_set_int_member(o, "max-bandwidth", p.max_bandwidth);
    json_object_set_int_member(o, "downtime-limit", p.downtime_limit);
    json_object_set_int_member(o, "multifd-channels", p.multifd_channels);
    json_object_set_string_member(o, "multifd-compression",
                                  compression_names[p.multifd_compression]);
    json_object_set_int_member(o, "multifd-zstd-level", p.multifd_zstd_level);
    json_object_set_boolean_member(o, "direct-io", p.direct_io);
    json_object_set_string_member(o, "io-engine", io_engine_names[p.io_engine]);
    json_object_set_int_member(o, "max-postcopy-bandwidth",
                               p.max_postcopy_bandwidth);
    json_object_set_int_member(o, "lazy-chunk-size", p.lazy_chunk_size);
    for (size_t i = 0; i < ARRAY_SIZE(fixed_params); i++) {
        json_object_set_string_member(o, fixed_params[i].name,
                                      fixed_params[i].value);
    }
    json_node_take_object(ret, o);
    return ret;
}

/* ---- HMP ---- */

void hmp_migrate_set_capability(Monitor *mon, int argc, char **argv)
{
    bool new_caps[MIGRATION_CAPABILITY__MAX];
    GError *err = NULL;
    bool state;
    int cap;

    if (argc != 3) {
        error_setg(&err, "Usage: migrate_set_capability NAME on|off");
        goto out;
    }
    cap = migration_capability_lookup(argv[1]);
    if (cap < 0) {
        error_unknown_capability(&err, argv[1]);
        goto out;
    }
    if (!qemu_parse_bool(argv[2], &state)) {
        error_setg(&err, "Parameter 'state' expects 'on' or 'off'");
        goto out;
    }
    migrate_caps_snapshot(new_caps);
    new_caps[cap] = state;
    migrate_set_caps_internal(new_caps, &err);
out:
    hmp_handle_error(mon, err);
}

static bool hmp_parse_int_param(MigrationParameters *p, MigParam id,
                                const char *str, GError **errp)
{
    uint64_t v;
    int ret;

    if (id == MIG_PARAM_MAX_BANDWIDTH) {
        /* As QEMU (qemu_strtosz_MiB): a bare number is in MiB/s. */
        ret = qemu_strtosz_suffix(str, NULL, 'M', &v);
        if (ret < 0 || v > MAX_MIGRATE_MAX_BANDWIDTH) {
            error_setg(errp, "Invalid size %s", str);
            return false;
        }
        return param_set_int(p, id, v, errp);
    }
    if (id == MIG_PARAM_MAX_POSTCOPY_BANDWIDTH ||
        id == MIG_PARAM_LAZY_CHUNK_SIZE) {
        /* Sizes: a bare number is in bytes, suffixes K, M, G allowed. */
        if (qemu_strtosz(str, NULL, &v) < 0) {
            error_setg(errp, "Invalid size %s", str);
            return false;
        }
        return param_set_int(p, id, v, errp);
    }
    ret = qemu_strtou64(str, &v);
    if (ret == -ERANGE) {
        error_param_range(errp, id);
        return false;
    } else if (ret < 0) {
        error_param_type(errp, param_info[id].name, "integer");
        return false;
    }
    return param_set_int(p, id, v, errp);
}

static bool hmp_parse_param(MigrationParameters *p, MigParam id,
                            const char *str, GError **errp)
{
    bool b;

    switch (param_info[id].kind) {
    case MIG_PARAM_KIND_INT:
        return hmp_parse_int_param(p, id, str, errp);
    case MIG_PARAM_KIND_BOOL:
        if (!qemu_parse_bool(str, &b)) {
            error_setg(errp, "Parameter '%s' expects 'on' or 'off'",
                       param_info[id].name);
            return false;
        }
        param_set_bool(p, id, b);
        return true;
    case MIG_PARAM_KIND_ENUM:
        return param_set_enum(p, id, str, errp);
    }
    g_assert_not_reached();
}

void hmp_migrate_set_parameter(Monitor *mon, int argc, char **argv)
{
    MigrationParameters p = migrate_params_snapshot();
    GError *err = NULL;
    int id;

    if (argc != 3) {
        error_setg(&err, "Usage: migrate_set_parameter NAME VALUE");
        goto out;
    }
    id = param_lookup(argv[1]);
    if (id < 0) {
        g_autofree char *valid = param_names_joined();

        error_setg(&err, "Invalid parameter '%s'; valid parameters: %s",
                   argv[1], valid);
        goto out;
    }
    if (hmp_parse_param(&p, id, argv[2], &err)) {
        migrate_set_params_internal(&p, &err);
    }
out:
    hmp_handle_error(mon, err);
}

void hmp_info_migrate_capabilities(Monitor *mon, int argc, char **argv)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        monitor_printf(mon, "%s: %s\n", capability_names[i],
                       migrate_cap(i) ? "on" : "off");
    }
}

void hmp_info_migrate_parameters(Monitor *mon, int argc, char **argv)
{
    MigrationParameters p = migrate_params_snapshot();

    monitor_printf(mon, "max-bandwidth: %" PRIu64 " bytes/second\n",
                   p.max_bandwidth);
    monitor_printf(mon, "downtime-limit: %" PRIu64 " ms\n", p.downtime_limit);
    monitor_printf(mon, "multifd-channels: %u\n", p.multifd_channels);
    monitor_printf(mon, "multifd-compression: %s\n",
                   compression_names[p.multifd_compression]);
    monitor_printf(mon, "multifd-zstd-level: %u\n", p.multifd_zstd_level);
    monitor_printf(mon, "direct-io: %s\n", p.direct_io ? "on" : "off");
    monitor_printf(mon, "io-engine: %s\n", io_engine_names[p.io_engine]);
    monitor_printf(mon, "max-postcopy-bandwidth: %" PRIu64 " bytes/second\n",
                   p.max_postcopy_bandwidth);
    monitor_printf(mon, "lazy-chunk-size: %" PRIu64 " bytes\n",
                   p.lazy_chunk_size);
    monitor_printf(mon, "zero-page-detection: legacy\n");
    /* QEMU quotes the TLS strings; keep its look. */
    monitor_printf(mon, "tls-creds: ''\n");
    monitor_printf(mon, "tls-hostname: ''\n");
    monitor_printf(mon, "tls-authz: ''\n");
}

/* ---- Registration ---- */

static const HmpCommand hmp_cmds[] = {
    { "migrate_set_capability", "capability state",
      "Enable/Disable the usage of a capability for migration",
      hmp_migrate_set_capability },
    { "migrate_set_parameter", "parameter value",
      "Set the parameter for migration", hmp_migrate_set_parameter },
};

static const HmpCommand hmp_info_cmds[] = {
    { "migrate_capabilities", "", "show current migration capabilities",
      hmp_info_migrate_capabilities },
    { "migrate_parameters", "", "show current migration parameters",
      hmp_info_migrate_parameters },
};

void migration_options_register_commands(void)
{
    qmp_register_command("migrate-set-capabilities",
                         qmp_migrate_set_capabilities, 0);
    qmp_register_command("query-migrate-capabilities",
                         qmp_query_migrate_capabilities, 0);
    qmp_register_command("migrate-set-parameters", qmp_migrate_set_parameters,
                         0);
    qmp_register_command("query-migrate-parameters",
                         qmp_query_migrate_parameters, 0);
    for (size_t i = 0; i < ARRAY_SIZE(hmp_cmds); i++) {
        hmp_register_command(&hmp_cmds[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(hmp_info_cmds); i++) {
        hmp_register_info_command(&hmp_info_cmds[i]);
    }
}
