/*
 * Migration capabilities and parameters, the model: QEMU's names,
 * defaults and checks (migration/options.c), and the parameter table the
 * QMP and HMP commands (migration-qmp-cmds.c, migration-hmp-cmds.c) are
 * driven by.
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
#include "accel/accel.h"
#include "migration/ram-lazy.h"
#include "system/runstate.h"

#define DEFAULT_MIGRATE_MAX_BANDWIDTH (128 * MiB)
#define DEFAULT_MIGRATE_DOWNTIME_LIMIT 300
/* QEMU's MAX_MIGRATE_DOWNTIME_SECONDS (2000) in ms. */
#define MAX_MIGRATE_DOWNTIME_LIMIT 2000000
#define DEFAULT_MIGRATE_MULTIFD_CHANNELS 2
#define DEFAULT_MIGRATE_MULTIFD_ZSTD_LEVEL 1
#define MAX_MULTIFD_ZSTD_LEVEL 20
#define DEFAULT_LAZY_CHUNK_SIZE (64 * KiB)
#define DEFAULT_THROTTLE_TRIGGER_THRESHOLD 50
#define DEFAULT_CPU_THROTTLE_INITIAL 20
#define DEFAULT_CPU_THROTTLE_INCREMENT 10
#define DEFAULT_MAX_CPU_THROTTLE 99
#define DEFAULT_VCPU_DIRTY_LIMIT 1 /* MB/s */
#define MIN_LAZY_CHUNK_SIZE (4 * KiB)
#define MAX_LAZY_CHUNK_SIZE (2 * MiB)
/* QMP integers are int64, so a larger bandwidth could not be shown. */
#define MAX_MIGRATE_MAX_BANDWIDTH MIN((uint64_t)SIZE_MAX, (uint64_t)INT64_MAX)

#define MAX_CPU_THROTTLE_RANGE \
    "expects an integer in the range of cpu_throttle_initial to 99"
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
    [MIGRATION_CAPABILITY_X_CHECKSUMS] = "x-checksums",
    [MIGRATION_CAPABILITY_X_CHECKPOINT] = "x-checkpoint",
};

/*
 * What mapmig implements, or accepts because it is harmless here (there is
 * no return path traffic to need, ...).
 * Everything else would silently change nothing, so enabling it fails.
 */
static const bool capability_supported[MIGRATION_CAPABILITY__MAX] = {
    [MIGRATION_CAPABILITY_AUTO_CONVERGE] = true,
    [MIGRATION_CAPABILITY_EVENTS] = true,
    /*
     * Only as QEMU's Fast Snapshot Load: with mapped-ram, on a destination
     * loading a file (a lazy restore); a source refuses it at migrate.
     */
    [MIGRATION_CAPABILITY_POSTCOPY_RAM] = true,
    /* The soft accelerator only (see migrate_caps_check). */
    [MIGRATION_CAPABILITY_DIRTY_LIMIT] = true,
    [MIGRATION_CAPABILITY_RETURN_PATH] = true,
    [MIGRATION_CAPABILITY_PAUSE_BEFORE_SWITCHOVER] = true,
    [MIGRATION_CAPABILITY_MULTIFD] = true,
    [MIGRATION_CAPABILITY_X_IGNORE_SHARED] = true,
    [MIGRATION_CAPABILITY_VALIDATE_UUID] = true,
    [MIGRATION_CAPABILITY_MAPPED_RAM] = true,
    [MIGRATION_CAPABILITY_LAZY_RESTORE] = true,
    [MIGRATION_CAPABILITY_X_CHECKSUMS] = true,
    [MIGRATION_CAPABILITY_X_CHECKPOINT] = true,
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

/* Written only through param_store(); see the top comment. */
#define DEFAULT_MIGRATION_PARAMETERS                                      \
    {                                                                     \
        .max_bandwidth = DEFAULT_MIGRATE_MAX_BANDWIDTH,                   \
        .downtime_limit = DEFAULT_MIGRATE_DOWNTIME_LIMIT,                 \
        .multifd_channels = DEFAULT_MIGRATE_MULTIFD_CHANNELS,             \
        .multifd_compression = MULTIFD_COMPRESSION_NONE,                  \
        .multifd_zstd_level = DEFAULT_MIGRATE_MULTIFD_ZSTD_LEVEL,         \
        .direct_io = false, .io_engine = IO_ENGINE_PSYNC,                 \
        .max_postcopy_bandwidth = 0,                                      \
        .lazy_chunk_size = DEFAULT_LAZY_CHUNK_SIZE,                       \
        .throttle_trigger_threshold = DEFAULT_THROTTLE_TRIGGER_THRESHOLD, \
        .cpu_throttle_initial = DEFAULT_CPU_THROTTLE_INITIAL,             \
        .cpu_throttle_increment = DEFAULT_CPU_THROTTLE_INCREMENT,         \
        .cpu_throttle_tailslow = false,                                   \
        .max_cpu_throttle = DEFAULT_MAX_CPU_THROTTLE,                     \
        .vcpu_dirty_limit = DEFAULT_VCPU_DIRTY_LIMIT,                     \
    }

static const MigrationParameters default_parameters =
    DEFAULT_MIGRATION_PARAMETERS;
static MigrationParameters parameters = DEFAULT_MIGRATION_PARAMETERS;
static bool capabilities[MIGRATION_CAPABILITY__MAX];

#define PARAM_FIELD(field)                          \
    .offset = offsetof(MigrationParameters, field), \
    .size = sizeof(((MigrationParameters *)NULL)->field)

/* In the order the commands show them, which is also the check order. */
static const MigParamInfo param_info[MIG_PARAM__MAX] = {
    [MIG_PARAM_MAX_BANDWIDTH] = {
        .name = "max-bandwidth",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(max_bandwidth),
        .max = MAX_MIGRATE_MAX_BANDWIDTH,
        .range_desc = "expects an integer in the range of 0 to SIZE_MAX "
                      "bytes/second",
        /* As QEMU (qemu_strtosz_MiB): a bare number is in MiB/s. */
        .hmp_size_unit = 'M',
        .hmp_unit = " bytes/second",
    },
    [MIG_PARAM_DOWNTIME_LIMIT] = {
        .name = "downtime-limit",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(downtime_limit),
        .max = MAX_MIGRATE_DOWNTIME_LIMIT,
        .range_desc = "expects an integer in the range of 0 to 2000 seconds",
        .hmp_unit = " ms",
    },
    [MIG_PARAM_MULTIFD_CHANNELS] = {
        .name = "multifd-channels",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(multifd_channels),
        .min = 1,
        .max = UINT8_MAX,
        .check_on_set = true,
        .fixed_while_running = true,
    },
    [MIG_PARAM_MULTIFD_COMPRESSION] = {
        .name = "multifd-compression",
        .kind = MIG_PARAM_KIND_ENUM,
        PARAM_FIELD(multifd_compression),
        .enum_names = compression_names,
        .enum_max = MULTIFD_COMPRESSION__MAX,
        .fixed_while_running = true,
    },
    [MIG_PARAM_MULTIFD_ZSTD_LEVEL] = {
        .name = "multifd-zstd-level",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(multifd_zstd_level),
        .max = MAX_MULTIFD_ZSTD_LEVEL,
        .check_on_set = true,
    },
    [MIG_PARAM_DIRECT_IO] = {
        .name = "direct-io",
        .kind = MIG_PARAM_KIND_BOOL,
        PARAM_FIELD(direct_io),
        .fixed_while_running = true,
    },
    [MIG_PARAM_IO_ENGINE] = {
        .name = "io-engine",
        .kind = MIG_PARAM_KIND_ENUM,
        PARAM_FIELD(io_engine),
        .enum_names = io_engine_names,
        .enum_max = IO_ENGINE__MAX,
        .fixed_while_running = true,
    },
    [MIG_PARAM_MAX_POSTCOPY_BANDWIDTH] = {
        .name = "max-postcopy-bandwidth",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(max_postcopy_bandwidth),
        .max = MAX_MIGRATE_MAX_BANDWIDTH,
        .check_on_set = true,
        .range_desc = "expects an integer in the range of 0 to SIZE_MAX "
                      "bytes/second",
        .hmp_size_unit = 'B',
        .hmp_unit = " bytes/second",
    },
    [MIG_PARAM_LAZY_CHUNK_SIZE] = {
        .name = "lazy-chunk-size",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(lazy_chunk_size),
        .min = MIN_LAZY_CHUNK_SIZE,
        .max = MAX_LAZY_CHUNK_SIZE,
        .pow2 = true,
        .check_on_set = true,
        .fixed_while_running = true,
        .hmp_size_unit = 'B',
        .hmp_unit = " bytes",
    },
    [MIG_PARAM_THROTTLE_TRIGGER_THRESHOLD] = {
        .name = "throttle-trigger-threshold",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(throttle_trigger_threshold),
        .min = 1,
        .max = 100,
        .check_on_set = true,
        .range_desc = "expects an integer in the range of 1 to 100",
    },
    [MIG_PARAM_CPU_THROTTLE_INITIAL] = {
        .name = "cpu-throttle-initial",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(cpu_throttle_initial),
        .min = 1,
        .max = 99,
        .check_on_set = true,
        .range_desc = "expects an integer in the range of 1 to 99",
    },
    [MIG_PARAM_CPU_THROTTLE_INCREMENT] = {
        .name = "cpu-throttle-increment",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(cpu_throttle_increment),
        .min = 1,
        .max = 99,
        .check_on_set = true,
        .range_desc = "expects an integer in the range of 1 to 99",
    },
    [MIG_PARAM_CPU_THROTTLE_TAILSLOW] = {
        .name = "cpu-throttle-tailslow",
        .kind = MIG_PARAM_KIND_BOOL,
        PARAM_FIELD(cpu_throttle_tailslow),
    },
    /* Its lower bound is cpu-throttle-initial: migrate_params_check. */
    [MIG_PARAM_MAX_CPU_THROTTLE] = {
        .name = "max-cpu-throttle",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(max_cpu_throttle),
        .max = 99,
        .check_on_set = true,
        .range_desc = MAX_CPU_THROTTLE_RANGE,
    },
    [MIG_PARAM_VCPU_DIRTY_LIMIT] = {
        .name = "vcpu-dirty-limit",
        .kind = MIG_PARAM_KIND_INT,
        PARAM_FIELD(vcpu_dirty_limit),
        .min = 1,
        .max = INT64_MAX,
        .range_desc = "must be greater than 1 MB/s",
        .hmp_unit = " MB/s",
    },
    /* QEMU has it as a property (-global migration.x-...), not in QMP. */
    [MIG_PARAM_X_MULTIFD_FLUSH_AFTER_EACH_SECTION] = {
        .name = "x-multifd-flush-after-each-section",
        .kind = MIG_PARAM_KIND_BOOL,
        PARAM_FIELD(multifd_flush_after_each_section),
        .fixed_while_running = true,
    },
};

static const MigFixedParam fixed_params[] = {
    { "zero-page-detection", "legacy", false },
    { "tls-creds", "", true },
    { "tls-hostname", "", true },
    { "tls-authz", "", true },
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

int migration_capability_parse(const char *name, GError **errp)
{
    int cap = migration_capability_lookup(name);

    if (cap < 0) {
        g_autofree char *valid =
            join_names(capability_names, MIGRATION_CAPABILITY__MAX);

        error_setg(errp, "Capability '%s' not found; valid capabilities: %s",
                   name, valid);
    }
    return cap;
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
/*
 * QEMU's Fast Snapshot Load: postcopy-ram with mapped-ram on a
 * destination is a lazy load of a file, not the network postcopy that
 * QEMU's checks below are about.
 */
static bool fast_snapshot_load(const bool *caps)
{
    return caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
           caps[MIGRATION_CAPABILITY_MAPPED_RAM] &&
           runstate_get() == RUN_STATE_INMIGRATE;
}

bool migrate_caps_cross_check(const bool *new_caps,
                              const MigrationParameters *p, GError **errp)
{
    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM]) {
        if (new_caps[MIGRATION_CAPABILITY_X_IGNORE_SHARED]) {
            error_setg(errp, "Postcopy is not compatible with ignore-shared");
            return false;
        }
        /* Our extension: a lazy load may prefetch through multifd. */
        if (new_caps[MIGRATION_CAPABILITY_MULTIFD] &&
            !fast_snapshot_load(new_caps)) {
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
        if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
            !fast_snapshot_load(new_caps)) {
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
    /* Pages are summed at their fixed place in the file. */
    if (new_caps[MIGRATION_CAPABILITY_X_CHECKSUMS] &&
        !new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        error_setg(errp, "Capability 'x-checksums' requires capability "
                         "'mapped-ram'");
        return false;
    }
    /* Only pages at fixed offsets can be rewritten in place. */
    if (new_caps[MIGRATION_CAPABILITY_X_CHECKPOINT] &&
        !new_caps[MIGRATION_CAPABILITY_MAPPED_RAM]) {
        error_setg(errp, "Capability 'x-checkpoint' requires capability "
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
     * QEMU rate-limits a KVM vCPU through the dirty ring, which mapmig
     * does not use; the soft accelerator limits its vCPUs directly.
     */
    if (new_caps[MIGRATION_CAPABILITY_DIRTY_LIMIT] && accel_is_kvm()) {
        error_setg(errp, "dirty-limit requires KVM with accelerator"
                         " property 'dirty-ring-size' set");
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
    if (new_caps[MIGRATION_CAPABILITY_POSTCOPY_RAM] &&
        !migrate_cap(MIGRATION_CAPABILITY_POSTCOPY_RAM) &&
        runstate_get() == RUN_STATE_INMIGRATE && !ram_lazy_supported(errp)) {
        error_prepend(errp, "Postcopy is not supported");
        return false;
    }
    return true;
}

bool migrate_set_caps(const bool *new_caps, GError **errp)
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

void migrate_cap_clear(MigrationCapability cap)
{
    __atomic_store_n(&capabilities[cap], false, __ATOMIC_RELAXED);
}

void migrate_caps_snapshot(bool *caps)
{
    for (int i = 0; i < MIGRATION_CAPABILITY__MAX; i++) {
        caps[i] = migrate_cap(i);
    }
}

/* ---- Parameters ---- */

const MigParamInfo *migration_param_info(MigParam id)
{
    assert((unsigned)id < MIG_PARAM__MAX);
    return &param_info[id];
}

int migration_param_lookup(const char *name)
{
    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        if (!strcmp(param_info[i].name, name)) {
            return i;
        }
    }
    return -1;
}

char *migration_param_names(void)
{
    const char *names[MIG_PARAM__MAX];

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        names[i] = param_info[i].name;
    }
    return join_names(names, MIG_PARAM__MAX);
}

const MigFixedParam *migration_fixed_params(size_t *n)
{
    *n = ARRAY_SIZE(fixed_params);
    return fixed_params;
}

void migration_param_error_range(MigParam id, GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);

    assert(info->kind == MIG_PARAM_KIND_INT);
    if (info->range_desc) {
        error_setg(errp, "Parameter '%s' %s", info->name, info->range_desc);
    } else if (info->pow2) {
        error_setg(errp,
                   "Parameter '%s' expects a power of two between %" PRIu64
                   " and %" PRIu64 " bytes",
                   info->name, info->min, info->max);
    } else {
        error_setg(errp,
                   "Parameter '%s' expects a value between %" PRIu64
                   " and %" PRIu64,
                   info->name, info->min, info->max);
    }
}

void migration_param_error_type(const char *name, const char *expected,
                                GError **errp)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s", name,
               expected);
}

/*
 * Fields by table entry.  Atomic, as the live struct is read by the
 * migration thread while a command writes it (see the top comment);
 * a bool is one byte and an enum as wide as an int.
 */
static uint64_t param_load(const MigrationParameters *p,
                           const MigParamInfo *info)
{
    const void *field = (const char *)p + info->offset;

    switch (info->size) {
    case 1:
        return __atomic_load_n((const uint8_t *)field, __ATOMIC_RELAXED);
    case 4:
        return __atomic_load_n((const uint32_t *)field, __ATOMIC_RELAXED);
    case 8:
        return __atomic_load_n((const uint64_t *)field, __ATOMIC_RELAXED);
    }
    g_assert_not_reached();
}

static void param_store(MigrationParameters *p, const MigParamInfo *info,
                        uint64_t v)
{
    void *field = (char *)p + info->offset;

    switch (info->size) {
    case 1:
        __atomic_store_n((uint8_t *)field, v, __ATOMIC_RELAXED);
        return;
    case 4:
        __atomic_store_n((uint32_t *)field, v, __ATOMIC_RELAXED);
        return;
    case 8:
        __atomic_store_n((uint64_t *)field, v, __ATOMIC_RELAXED);
        return;
    }
    g_assert_not_reached();
}

static bool param_in_range(const MigParamInfo *info, uint64_t v)
{
    return v >= info->min && v <= info->max && (!info->pow2 || !(v & (v - 1)));
}

uint64_t migration_param_get(const MigrationParameters *p, MigParam id)
{
    return param_load(p, migration_param_info(id));
}

bool migration_param_set(MigrationParameters *p, MigParam id, uint64_t v,
                         GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);

    switch (info->kind) {
    case MIG_PARAM_KIND_INT:
        if (info->check_on_set && !param_in_range(info, v)) {
            migration_param_error_range(id, errp);
            return false;
        }
        /* Checked later, so it must fit the field as it is. */
        assert(info->check_on_set || info->size == sizeof(uint64_t));
        break;
    case MIG_PARAM_KIND_BOOL:
        assert(v <= 1);
        break;
    case MIG_PARAM_KIND_ENUM:
        assert(v < (uint64_t)info->enum_max);
        break;
    }
    param_store(p, info, v);
    return true;
}

bool migration_param_set_enum(MigrationParameters *p, MigParam id,
                              const char *str, GError **errp)
{
    const MigParamInfo *info = migration_param_info(id);
    int v;

    assert(info->kind == MIG_PARAM_KIND_ENUM);
    v = lookup_name(info->enum_names, info->enum_max, str);
    if (v < 0) {
        g_autofree char *valid = join_names(info->enum_names, info->enum_max);

        error_setg(errp,
                   "Parameter '%s' does not accept value '%s'; "
                   "valid values: %s",
                   info->name, str, valid);
        return false;
    }
    param_store(p, info, v);
    return true;
}

MigrationParameters migrate_params_snapshot(void)
{
    MigrationParameters p = { 0 };

    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        param_store(&p, &param_info[i],
                    param_load(&parameters, &param_info[i]));
    }
    return p;
}

/* Those the migration setup reads once, so they cannot change under it. */
static bool migrate_params_check_busy(const MigrationParameters *p,
                                      GError **errp)
{
    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        const MigParamInfo *info = &param_info[i];

        if (info->fixed_while_running &&
            param_load(p, info) != param_load(&parameters, info)) {
            error_setg(errp,
                       "Parameter '%s' cannot be changed while a "
                       "migration is in progress",
                       info->name);
            return false;
        }
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
    if (!io_engine_built_in(p->io_engine)) {
        error_setg(errp,
                   "io-engine '%s' is not available in this build (built "
                   "without %s)",
                   io_engine_name(p->io_engine),
                   p->io_engine == IO_ENGINE_IO_URING ? "liburing" : "libaio");
        return false;
    }
    return true;
}

bool migrate_params_check(const MigrationParameters *p, GError **errp)
{
    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        const MigParamInfo *info = &param_info[i];
        uint64_t v = param_load(p, info);

        if (info->kind == MIG_PARAM_KIND_INT && !param_in_range(info, v)) {
            migration_param_error_range(i, errp);
            return false;
        }
        if (info->kind == MIG_PARAM_KIND_ENUM &&
            v >= (uint64_t)info->enum_max) {
            error_setg(errp, "Invalid value for parameter '%s'", info->name);
            return false;
        }
    }
    if (p->max_cpu_throttle < p->cpu_throttle_initial) {
        error_setg(errp, "Parameter '%s' " MAX_CPU_THROTTLE_RANGE,
                   param_info[MIG_PARAM_MAX_CPU_THROTTLE].name);
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
    for (int i = 0; i < MIG_PARAM__MAX; i++) {
        param_store(&parameters, &param_info[i], param_load(p, &param_info[i]));
    }
}

bool migrate_set_params(const MigrationParameters *p, GError **errp)
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
