/*
 * The fast paths of save and restore must never cost a page:
 *
 *  - a save reads no page that was never populated (it would allocate
 *    it) and writes it as zero, yet must never skip one that holds data:
 *    a guest whose RAM is untouched but for a few bytes comes back with
 *    exactly those bytes, on every path, and the source does not grow;
 *  - guest RAM is advised MADV_HUGEPAGE and destination RAM is faulted in
 *    with MADV_POPULATE_WRITE; where the kernel refuses either (no THP,
 *    Linux < 5.14: reproduced with a seccomp filter returning EINVAL, as
 *    such a kernel does), everything still works exactly;
 *  - blocks of a size that is no multiple of a huge page come back whole.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "migration/framework.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* madvise(..., @advice) fails with EINVAL, as on a kernel without it. */
static void deny_madvise(unsigned advice)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_madvise, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 offsetof(struct seccomp_data, args[2])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, advice, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
    };
    struct sock_fprog prog = { .len = ARRAY_SIZE(f), .filter = f };

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
        _exit(126);
    }
}

static void deny_hugepage(void)
{
    deny_madvise(MADV_HUGEPAGE);
}

static void deny_populate(void)
{
    deny_madvise(MADV_POPULATE_WRITE);
}

typedef struct FastCase {
    const char *path;
    const char *uri; /* @TMP@ is the test's directory */
    bool socket;     /* the destination listens before the save */
    const char *caps[3];
    int channels; /* multifd-channels, 0: default */
    bool direct_io;
    const char *mem; /* -m of both VMs */
    void (*src_setup)(void);
    void (*dst_setup)(void);
} FastCase;

#define FILE_URI_T "file:@TMP@/" FILE_TEST_FILENAME

static const FastCase cases[] = {
    { "/migration/fastpath/untouched/stream", FILE_URI_T },
    { "/migration/fastpath/untouched/mapped-ram",
      FILE_URI_T,
      false,
      { "mapped-ram" } },
    { "/migration/fastpath/untouched/multifd",
      FILE_URI_T,
      false,
      { "mapped-ram", "multifd" },
      4 },
    { "/migration/fastpath/untouched/multifd/dio",
      FILE_URI_T,
      false,
      { "mapped-ram", "multifd" },
      2,
      true },
    { "/migration/fastpath/untouched/unix-multifd",
      "unix:@TMP@/sock",
      true,
      { "multifd" },
      2 },
    { "/migration/fastpath/untouched/unix", "unix:@TMP@/sock", true },
    { "/migration/fastpath/no-thp/multifd",
      FILE_URI_T,
      false,
      { "mapped-ram", "multifd" },
      2,
      false,
      NULL,
      deny_hugepage,
      deny_hugepage },
    { "/migration/fastpath/no-populate/multifd",
      FILE_URI_T,
      false,
      { "mapped-ram", "multifd" },
      2,
      false,
      NULL,
      NULL,
      deny_populate },
    { "/migration/fastpath/unaligned/multifd",
      FILE_URI_T,
      false,
      { "mapped-ram", "multifd" },
      2,
      false,
      "67588K" },
    { "/migration/fastpath/unaligned/stream",
      FILE_URI_T,
      false,
      { NULL },
      0,
      false,
      "67588K" },
};

/* Page indexes of pc.ram that get one distinct byte each. */
static void write_markers(QTestState *s, uint64_t ram)
{
    const uint64_t pages = ram / 4096;
    const uint64_t at[] = { 0, 1, 511, 512, 513, pages / 2, pages - 1 };

    for (size_t i = 0; i < ARRAY_SIZE(at); i++) {
        /* Byte i at a different place in each page. */
        qtest_writeb(s, at[i] * 4096 + (i * 577) % 4096, 0xa0 + i);
    }
}

static long rss_kib(QTestState *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", qtest_pid(s));
    g_autofree char *text = NULL;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    const char *p = strstr(text, "VmRSS:");
    g_assert_nonnull(p);
    return strtol(p + strlen("VmRSS:"), NULL, 10);
}

static void setup_side(QTestState *who, const FastCase *c)
{
    for (int i = 0; c->caps[i]; i++) {
        migrate_set_capability(who, c->caps[i], true);
    }
    if (c->channels) {
        migrate_set_parameter_int(who, "multifd-channels", c->channels);
    }
    if (c->direct_io) {
        qtest_qmp_assert_success(who, "{'execute': 'migrate-set-parameters', "
                                      "'arguments': {'direct-io': true}}");
    }
}

static void fastpath_run(const FastCase *c)
{
    const char *mem = c->mem ? c->mem : "256M";
    g_autofree char *uri = migrate_expand_uri(c->uri, 0);
    g_autofree char *src_args = g_strdup_printf("-m %s -workload idle -S", mem);
    g_autofree char *dst_args =
        g_strdup_printf("-m %s -S -incoming defer", mem);

    if (c->direct_io && !migrate_dir_supports_odirect(tmpfs)) {
        g_test_skip("the test directory does not support O_DIRECT");
        return;
    }
    QTestState *from = qtest_init_with_setup(src_args, c->src_setup);
    QTestState *to = qtest_init_with_setup(dst_args, c->dst_setup);
    uint64_t ram;

    g_assert_cmpint(qemu_strtosz(mem, NULL, &ram), ==, 0);

    write_markers(from, ram);
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    setup_side(from, c);
    setup_side(to, c);
    migrate_ensure_converge(from);
    if (c->socket) {
        migrate_incoming_qmp(to, uri);
    }
    long rss_before = rss_kib(from);
    migrate_qmp(from, uri);
    wait_for_migration_complete(from);
    long grown = rss_kib(from) - rss_before;
    g_test_message("source RSS grew by %ld KiB", grown);
    /* Never-populated RAM was neither read nor allocated. */
    g_assert_cmpint(grown, <, 16 * 1024);
    if (!c->socket) {
        g_autofree char *path =
            g_strdup_printf("%s/%s", tmpfs, FILE_TEST_FILENAME);
        struct stat st;
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_test_message("file: %lld bytes, %lld allocated",
                       (long long)st.st_size, (long long)st.st_blocks * 512);
        if (c->caps[0]) {
            /* mapped-ram: holes where nothing was populated. */
            g_assert_cmpint(st.st_blocks * 512, <, 8 * MiB);
        }
        migrate_incoming_qmp(to, uri);
    }
    wait_for_migration_complete(to);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_assert_true(qtest_ram_digests_check(src, dst));
    migrate_end(from, to);
}

/* As the framework's cases: a scratch directory of their own. */
static void test_fastpath(gconstpointer opaque)
{
    g_autoptr(GError) err = NULL;

    tmpfs = g_dir_make_tmp("mapmig-fast-XXXXXX", &err);
    g_assert_no_error(err);
    qtest_install_abort_handler();
    qtest_add_abort_dir(tmpfs);
    fastpath_run(opaque);
    qtest_remove_abort_dir(tmpfs);
    qtest_rmdir_files(tmpfs);
    g_clear_pointer(&tmpfs, g_free);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_test_add_data_func(cases[i].path, &cases[i], test_fastpath);
    }
    return migration_test_run();
}
