/*
 * The KVM accelerator: the VM, its memory slots and KVM's dirty log.
 *
 * Every guest-visible RAMBlock (gpa != UINT64_MAX) becomes one memory
 * slot over the block's host mapping, so guest writes land in the same
 * pages the migration code reads.  Dirty logging is on only while a
 * migration runs (global_dirty_log_start/stop): log_start sets
 * KVM_MEM_LOG_DIRTY_PAGES on the slots, which write-protects them;
 * log_sync fetches the bitmap of pages written since (KVM_GET_DIRTY_LOG)
 * and, with KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, re-protects exactly those
 * pages (KVM_CLEAR_DIRTY_LOG) before the migration reads them.
 */
#include "qemu/osdep.h"
#include "kvm-internal.h"

#include <sys/ioctl.h>

#define KVM_DEFAULT_DEVICE "/dev/kvm"
/* Where KVM's VMX real-mode helpers live: out of the guest's way. */
#define KVM_TSS_ADDR 0xfffbd000

KVMState *kvm_state;

/* ioctl() retried on EINTR; -errno on failure. */
static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
    int r;

    do {
        r = ioctl(fd, req, arg);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

static int kvm_check_extension(int fd, long cap)
{
    int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);
    return r < 0 ? 0 : r;
}

static bool kvm_parse_props(const char *props, const char **device,
                            GError **errp)
{
    *device = KVM_DEFAULT_DEVICE;
    if (!props || !*props) {
        return true;
    }
    if (g_str_has_prefix(props, "device=") && props[7] && !strchr(props, ',')) {
        *device = props + 7;
        return true;
    }
    error_setg(errp, "-accel kvm: unknown property '%s' (expected device=PATH)",
               props);
    return false;
}

static bool kvm_get_supported_cpuid(KVMState *s, GError **errp)
{
    for (int nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c =
            g_malloc0(sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        c->nent = nent;
        int r = kvm_ioctl(s->fd, KVM_GET_SUPPORTED_CPUID, c);
        if (r == 0) {
            s->cpuid = c;
            return true;
        }
        g_free(c);
        if (r != -E2BIG) {
            error_setg_errno(errp, -r, "-accel kvm: KVM_GET_SUPPORTED_CPUID");
            return false;
        }
    }
    error_setg(errp, "-accel kvm: too many CPUID entries");
    return false;
}

static bool kvm_set_slot(KVMState *s, KVMSlot *ks, uint32_t flags,
                         GError **errp)
{
    struct kvm_userspace_memory_region mr = {
        .slot = ks->slot,
        .flags = flags,
        .guest_phys_addr = ks->rb->gpa,
        .memory_size = ks->rb->used_length,
        .userspace_addr = (uintptr_t)ks->rb->host,
    };
    int r = kvm_ioctl(s->vmfd, KVM_SET_USER_MEMORY_REGION, &mr);

    if (r < 0) {
        error_setg_errno(errp, -r,
                         "KVM_SET_USER_MEMORY_REGION for RAM block '%s'",
                         ks->rb->idstr);
        return false;
    }
    return true;
}

static bool kvm_init_slots(KVMState *s, GError **errp)
{
    RAMBlock *rb;

    s->slots = g_new0(KVMSlot, ram_list ? ram_list->len : 0);
    RAMBLOCK_FOREACH(rb) {
        if (rb->gpa == UINT64_MAX) {
            continue; /* not guest visible: no slot */
        }
        KVMSlot *ks = &s->slots[s->nr_slots];
        ks->rb = rb;
        ks->slot = s->nr_slots;
        ks->scratch =
            g_new0(unsigned long, BITS_TO_LONGS(ramblock_nr_pages(rb)) + 1);
        s->nr_slots++;
        if (!kvm_set_slot(s, ks, 0, errp)) {
            return false;
        }
    }
    return true;
}

static void kvm_state_free(KVMState *s)
{
    for (int i = 0; i < s->nr_slots; i++) {
        g_free(s->slots[i].scratch);
    }
    g_free(s->slots);
    g_free(s->cpuid);
    if (s->vmfd >= 0) {
        close(s->vmfd);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    g_free(s);
}

/* Capabilities the accelerator cannot do without. */
static bool kvm_check_caps(KVMState *s, GError **errp)
{
    static const struct {
        long cap;
        const char *name;
    } required[] = {
        { KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
        { KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
        { KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
        { KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
        { KVM_CAP_XSAVE, "KVM_CAP_XSAVE" },
        { KVM_CAP_XCRS, "KVM_CAP_XCRS" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(required); i++) {
        if (!kvm_check_extension(s->fd, required[i].cap)) {
            error_set(errp, ERROR_CLASS_KVM_MISSING_CAP,
                      "-accel kvm: the kernel lacks %s", required[i].name);
            return false;
        }
    }
    return true;
}

static bool kvm_open_vm(KVMState *s, const char *device, GError **errp)
{
    int r;

    s->fd = open(device, O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        error_setg_errno(errp, errno,
                         "-accel kvm: could not access KVM kernel module "
                         "at %s",
                         device);
        return false;
    }
    r = ioctl(s->fd, KVM_GET_API_VERSION, 0);
    if (r != KVM_API_VERSION) {
        error_setg(errp, "-accel kvm: %s is not a KVM device (API version %d)",
                   device, r);
        return false;
    }
    if (!kvm_check_caps(s, errp)) {
        return false;
    }
    s->vmfd = kvm_ioctl(s->fd, KVM_CREATE_VM, 0);
    if (s->vmfd < 0) {
        error_setg_errno(errp, -s->vmfd, "-accel kvm: KVM_CREATE_VM");
        return false;
    }
    r = kvm_ioctl(s->vmfd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)KVM_TSS_ADDR);
    if (r < 0) {
        error_setg_errno(errp, -r, "-accel kvm: KVM_SET_TSS_ADDR");
        return false;
    }
    s->vcpu_mmap_size = ioctl(s->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (s->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
        error_setg(errp, "-accel kvm: bad vCPU mmap size %d",
                   s->vcpu_mmap_size);
        return false;
    }
    return true;
}

/* Re-protect only the pages we fetched: no whole-slot walk per sync. */
static void kvm_enable_manual_protect(KVMState *s)
{
    int avail = kvm_check_extension(s->vmfd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
    struct kvm_enable_cap cap = {
        .cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        .args[0] = KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE,
    };

    if (avail & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE) {
        s->manual_protect = kvm_ioctl(s->vmfd, KVM_ENABLE_CAP, &cap) == 0;
    }
}

static bool kvm_init_machine(MachineState *ms, const char *props, GError **errp)
{
    const char *device;
    KVMState *s;

    if (!kvm_parse_props(props, &device, errp) ||
        !kvm_guest_check_machine(ms, errp)) {
        return false;
    }
    s = g_new0(KVMState, 1);
    s->fd = s->vmfd = -1;
    s->ms = ms;
    if (!kvm_open_vm(s, device, errp) || !kvm_get_supported_cpuid(s, errp)) {
        kvm_state_free(s);
        return false;
    }
    kvm_enable_manual_protect(s);
    if (!kvm_init_slots(s, errp) || !kvm_cpu_signals_init(errp)) {
        kvm_state_free(s);
        return false;
    }
    kvm_state = s;
    return true;
}

static KVMSlot *kvm_slot_of(RAMBlock *rb)
{
    for (int i = 0; kvm_state && i < kvm_state->nr_slots; i++) {
        if (kvm_state->slots[i].rb == rb) {
            return &kvm_state->slots[i];
        }
    }
    return NULL;
}

static void kvm_log_set(bool on)
{
    for (int i = 0; i < kvm_state->nr_slots; i++) {
        GError *err = NULL;
        if (!kvm_set_slot(kvm_state, &kvm_state->slots[i],
                          on ? KVM_MEM_LOG_DIRTY_PAGES : 0, &err)) {
            error_report_err(err);
        }
    }
}

static void kvm_log_start(void)
{
    kvm_log_set(true);
}

static void kvm_log_stop(void)
{
    kvm_log_set(false);
}

static uint64_t kvm_log_sync(RAMBlock *rb, unsigned long *dest)
{
    KVMSlot *ks = kvm_slot_of(rb);
    uint64_t npages = ramblock_nr_pages(rb);
    size_t words = BITS_TO_LONGS(npages);
    uint64_t n = 0;
    int r;

    if (!ks) {
        return 0;
    }
    struct kvm_dirty_log log = { .slot = ks->slot,
                                 .dirty_bitmap = ks->scratch };
    r = kvm_ioctl(kvm_state->vmfd, KVM_GET_DIRTY_LOG, &log);
    if (r == 0 && kvm_state->manual_protect) {
        struct kvm_clear_dirty_log clear = {
            .slot = ks->slot,
            .first_page = 0,
            .num_pages = npages,
            .dirty_bitmap = ks->scratch,
        };
        r = kvm_ioctl(kvm_state->vmfd, KVM_CLEAR_DIRTY_LOG, &clear);
    }
    if (r < 0) {
        /* Never lose a write: without the log, every page is dirty. */
        error_report("KVM dirty log of '%s': %s; resending the block",
                     rb->idstr, g_strerror(-r));
        memset(ks->scratch, 0xff, words * sizeof(unsigned long));
        if (npages % BITS_PER_LONG) {
            ks->scratch[words - 1] = (1UL << (npages % BITS_PER_LONG)) - 1;
        }
    }
    for (size_t i = 0; i < words; i++) {
        unsigned long bits = ks->scratch[i];
        if (bits) {
            n += __builtin_popcountl(bits & ~dest[i]);
            dest[i] |= bits;
        }
    }
    return n;
}

/* The vCPU state always travels: the guest program lives in it. */
static void kvm_register_vmstate(MachineState *ms, bool guest)
{
    kvm_cpu_register_vmstate();
}

const AccelOps kvm_accel_ops = {
    .name = "kvm",
    .init_machine = kvm_init_machine,
    .cpu_exec = kvm_cpu_exec,
    .register_vmstate = kvm_register_vmstate,
    .init_vcpu = kvm_init_vcpu,
    .destroy_vcpu = kvm_destroy_vcpu,
    .kick_vcpu = kvm_kick_vcpu,
    .throttle_kick = kvm_throttle_kick,
    .pre_resume = kvm_guest_pre_resume,
    .log_start = kvm_log_start,
    .log_stop = kvm_log_stop,
    .log_sync = kvm_log_sync,
    .workload_info = kvm_guest_workload_info,
};
