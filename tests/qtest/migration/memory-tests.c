/*
 * Memory backends: save and restore with RAM from memory-backend-ram,
 * -file (private and shared), -memfd and hugepages; x-ignore-shared with
 * a shared file both sides map; command-line refusals; and a stream that
 * QEMU 7.2 writes for a file-backed -M none guest loaded into mapmig.
 */
#include "qemu/osdep.h"
#include "migration/framework.h"
#include "migration/qemu-peer.h"

#include <sys/mount.h>
#include <sys/stat.h>

#define FILE_URI "file:@TMP@/" FILE_TEST_FILENAME
#define UNIX_URI "unix:@TMP@/migsocket"
#define GUEST_SIZE (32 * MiB)
#define HUGEPAGE_SIZE (2 * MiB)

/* Paths of the current test: main RAM files of the source/destination. */
static struct {
    char *src_file;
    char *dst_file;
    char *src_file_sha; /* file contents before the test */
    bool expect_hugepages;
} ctx;

static void ctx_reset(void)
{
    g_free(ctx.src_file);
    g_free(ctx.dst_file);
    g_free(ctx.src_file_sha);
    memset(&ctx, 0, sizeof(ctx));
}

static char *scratch(const char *name)
{
    return g_strdup_printf("%s/%s", tmpfs, name);
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    g_assert_cmpint(stat(path, &st), ==, 0);
    return st.st_size;
}

/* A file of @len bytes all @byte (no zero page anywhere). */
static void fill_file(const char *path, uint64_t len, uint8_t byte)
{
    g_autofree char *buf = g_malloc(len);
    g_autoptr(GError) err = NULL;

    memset(buf, byte, len);
    g_assert_true(g_file_set_contents(path, buf, len, &err));
}

/*
 * -object ... -machine memory-backend=mem0 for @spec, "KIND[,PROPS]",
 * where @SRC@ and @DST@ in PROPS stand for ctx's files (g_free).
 */
static char *backend_opts(const char *spec)
{
    g_auto(GStrv) kind = g_strsplit(spec, ",", 2);
    g_auto(GStrv) a = g_strsplit(kind[1] ? kind[1] : "", "@SRC@", -1);
    g_autofree char *t = g_strjoinv(ctx.src_file ? ctx.src_file : "", a);
    g_auto(GStrv) b = g_strsplit(t, "@DST@", -1);
    g_autofree char *props = g_strjoinv(ctx.dst_file ? ctx.dst_file : "", b);

    return g_strdup_printf("-object memory-backend-%s,id=mem0,size=%" PRIu64
                           "%s%s -machine memory-backend=mem0",
                           kind[0], (uint64_t)GUEST_SIZE, *props ? "," : "",
                           props);
}

/* The SHA-256 of block @id in a qtest_ram_digests() table. */
static const char *digest_of(GHashTable *t, const char *id)
{
    const char *d = g_hash_table_lookup(t, id);
    g_autofree char *len =
        g_strdup_printf("%" PRIu64 ":", (uint64_t)GUEST_SIZE);

    g_assert_nonnull(d);
    /* Values are "length:sha256". */
    g_assert_true(g_str_has_prefix(d, len));
    return d + strlen(len);
}

/* The main RAM block is named after the backend on both sides. */
static void check_mem0(QTestState *from, QTestState *to)
{
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_autofree char *info = qtest_hmp(to, "info ramblock");

    g_assert_cmpstr(digest_of(src, "mem0"), ==, digest_of(dst, "mem0"));
    g_assert_false(g_hash_table_contains(dst, "ram"));
    g_test_message("%s", info);
    g_assert_nonnull(strstr(info, ctx.expect_hugepages ? "2048k" : "4k"));
}

static void end_check_mem0(QTestState *from, QTestState *to, void *opaque)
{
    check_mem0(from, to);
}

/*
 * -M none with a workload has the workload's device state: the
 * destination names the same workload (it only runs after "cont").
 */
static MigrateStart none_start(const char *src_opts, const char *dst_opts,
                               const char *workload)
{
    static char *target;

    g_free(target);
    target = workload ? g_strdup_printf("%s -workload %s", dst_opts, workload)
                      : g_strdup(dst_opts);
    return (MigrateStart){
        .machine = "none",
        .mem = "32M",
        .opts_source = src_opts,
        .opts_target = target,
        .workload = workload,
    };
}

/* ---- files the backends map ---- */

/*
 * Files for a private or shared file backend on each side: the source's
 * holds a pattern, the destination's 0xee everywhere, so pages the
 * stream leaves out (zero on the source) must be cleared by the loader.
 */
static void prepare_two_files(void)
{
    ctx.src_file = scratch("src-ram");
    ctx.dst_file = scratch("dst-ram");
    interop_pattern_file(ctx.src_file, GUEST_SIZE, 1);
    fill_file(ctx.dst_file, GUEST_SIZE, 0xee);
    ctx.src_file_sha = interop_file_sha256(ctx.src_file);
}

/* One file both guests share (x-ignore-shared). */
static void prepare_shared_file(void)
{
    ctx.src_file = scratch("guest-ram");
    interop_pattern_file(ctx.src_file, GUEST_SIZE, 3);
}

/* A file mapmig creates (its size is the backend's). */
static void prepare_new_file(void)
{
    ctx.src_file = scratch("guest-ram");
}

/* The template the destination clones. */
static void prepare_template(void)
{
    ctx.src_file = scratch("template-ram");
    interop_pattern_file(ctx.src_file, GUEST_SIZE, 5);
}

/* ---- checks ---- */

/*
 * share=off: the guest starts with the file's bytes, its writes stay
 * private (the source file is unchanged), and the destination ends with
 * the source's RAM whatever its own file held.
 */
static void end_file_private(QTestState *from, QTestState *to, void *opaque)
{
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    g_autofree char *now = interop_file_sha256(ctx.src_file);

    check_mem0(from, to);
    g_assert_cmpstr(now, ==, ctx.src_file_sha);
    /* The guest's RAM was written, not the file. */
    g_assert_cmpstr(digest_of(src, "mem0"), !=, ctx.src_file_sha);
}

/* share=on without x-ignore-shared: the pages travel, each file is RAM. */
static void end_file_shared(QTestState *from, QTestState *to, void *opaque)
{
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    g_autofree char *src_sha = interop_file_sha256(ctx.src_file);
    g_autofree char *dst_sha = interop_file_sha256(ctx.dst_file);

    check_mem0(from, to);
    g_assert_cmpstr(src_sha, ==, digest_of(src, "mem0"));
    g_assert_cmpstr(dst_sha, ==, digest_of(src, "mem0"));
}

/*
 * Both sides map the same shared file: only device state travels, the
 * destination reads the guest's memory from the file itself.
 */
static void end_ignore_shared(QTestState *from, QTestState *to, void *opaque)
{
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *sha = interop_file_sha256(ctx.src_file);

    check_mem0(from, to);
    g_assert_cmpstr(sha, ==, digest_of(src, "mem0"));
    g_test_message("migration file: %" PRIu64 " bytes for %" PRIu64
                   " bytes of RAM",
                   file_size(mig), (uint64_t)GUEST_SIZE);
    /* Headers and device state only: no page of mem0 is in there. */
    g_assert_cmpuint(file_size(mig), <, 64 * KiB);
}

/*
 * Templating: the destination maps the source's shared file privately
 * (share=off), so it starts as the saved memory and its own writes never
 * reach the template.
 */
static void *start_template(QTestState *from, QTestState *to)
{
    /* Through the shared mapping, into the template file. */
    qtest_memset(from, 16 * MiB, 0x3c, 64 * KiB);
    return NULL;
}

static void end_template(QTestState *from, QTestState *to, void *opaque)
{
    g_autoptr(GHashTable) src = qtest_ram_digests(from);
    g_autofree char *sha = interop_file_sha256(ctx.src_file);

    check_mem0(from, to);
    g_assert_cmpstr(sha, ==, digest_of(src, "mem0"));
    qtest_memset(to, 0, 0x77, 64 * KiB);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_autofree char *after = interop_file_sha256(ctx.src_file);
    g_assert_cmpstr(digest_of(dst, "mem0"), !=, digest_of(src, "mem0"));
    g_assert_cmpstr(after, ==, sha);
}

static void *start_direct_io(QTestState *from, QTestState *to)
{
    qtest_qmp_assert_success(from, "{'execute': 'migrate-set-parameters', "
                                   "'arguments': {'direct-io': true}}");
    qtest_qmp_assert_success(to, "{'execute': 'migrate-set-parameters', "
                                 "'arguments': {'direct-io': true}}");
    return NULL;
}

/* ---- the case table ---- */

/*
 * A -M none guest whose main RAM is the backend mem0, 32 MiB.  The
 * framework fills mem0 (and nothing else exists) before migrating.
 */
typedef struct MemoryCase {
    const char *path;
    bool accels; /* also on KVM, under /migration/kvm/... */
    /* "KIND[,PROPS]" of mem0 (see backend_opts()). */
    const char *src_backend;
    const char *dst_backend; /* NULL: as the source */
    void (*prepare)(void);   /* files the backends name */
    bool hugepages;          /* info ramblock shows 2 MiB pages */
    MigrateCommon args;      /* .start.workload: both sides' */
} MemoryCase;

#define STRESS .start.workload = "stress,share=10"
#define FILE_MIGRATION .connect_uri = FILE_URI, .load_after_save = true

static const MemoryCase memory_cases[] = {
    /* one backend kind each */
    { .path = "/migration/memory/ram/prealloc/mapped-ram",
      .accels = true,
      .src_backend = "ram,prealloc=on",
      .args = { STRESS, FILE_MIGRATION, .caps = { "mapped-ram", "multifd" },
                .live = true, .end_hook = end_check_mem0 } },
    { .path = "/migration/memory/file/private/stream",
      .accels = true,
      .src_backend = "file,mem-path=@SRC@",
      .dst_backend = "file,mem-path=@DST@",
      .prepare = prepare_two_files,
      .args = { STRESS, FILE_MIGRATION, .live = true,
                .end_hook = end_file_private } },
    { .path = "/migration/memory/file/shared/mapped-ram",
      .accels = true,
      .src_backend = "file,mem-path=@SRC@,share=on",
      .dst_backend = "file,mem-path=@DST@,share=on",
      .prepare = prepare_two_files,
      .args = { STRESS, FILE_MIGRATION, .caps = { "mapped-ram", "multifd" },
                .live = true, .end_hook = end_file_shared } },
    { .path = "/migration/memory/memfd/unix/multifd",
      .accels = true,
      .src_backend = "memfd",
      .args = { STRESS, .connect_uri = UNIX_URI, .caps = { "multifd" },
                .live = true, .end_hook = end_check_mem0 } },
    /*
     * x-ignore-shared: the guest runs, but nothing of its RAM is dirty
     * for the migration, so it converges at once (no .live iterations).
     */
    { .path = "/migration/memory/ignore-shared/file/stream",
      .accels = true,
      .src_backend = "file,mem-path=@SRC@,share=on",
      .prepare = prepare_shared_file,
      .args = { STRESS, FILE_MIGRATION, .caps = { "x-ignore-shared" },
                .end_hook = end_ignore_shared } },
    { .path = "/migration/memory/ignore-shared/file/mapped-ram",
      .accels = true,
      .src_backend = "file,mem-path=@SRC@,share=on",
      .prepare = prepare_shared_file,
      .args = { STRESS, FILE_MIGRATION,
                .caps = { "x-ignore-shared", "mapped-ram", "multifd" },
                .end_hook = end_ignore_shared } },
    /*
     * The source skips its shared file; a destination with anonymous
     * memory would lose the guest's RAM, so it refuses the file.
     */
    { .path = "/migration/memory/ignore-shared/private-destination",
      .src_backend = "file,mem-path=@SRC@,share=on",
      .dst_backend = "ram",
      .prepare = prepare_new_file,
      .args = { FILE_MIGRATION, .caps = { "x-ignore-shared", "mapped-ram" },
                .result = MIG_TEST_FAIL_DEST,
                .error_substr = "is not in the file (x-ignore-shared)" } },
    { .path = "/migration/memory/ignore-shared/template-clone",
      .accels = true,
      .src_backend = "file,mem-path=@SRC@,share=on",
      .dst_backend = "file,mem-path=@SRC@",
      .prepare = prepare_template,
      .args = { FILE_MIGRATION, .caps = { "x-ignore-shared", "mapped-ram" },
                .start_hook = start_template, .end_hook = end_template } },
};

/*
 * The same on hugetlbfs (ctx.src_file set by the test): one set of
 * hugepages both guests share.  hugetlbfs has no write(): mapmig
 * creates that file, the guest fills it.
 */
static const MemoryCase ignore_shared_hugetlbfs = {
    .src_backend = "file,mem-path=@SRC@,share=on",
    .hugepages = true,
    .args = { STRESS, FILE_MIGRATION,
              .caps = { "x-ignore-shared", "mapped-ram", "multifd" },
              .end_hook = end_ignore_shared },
};

/*
 * Hugepage-backed RAM (memfd, hugetlb=on) saved and restored through
 * mapped-ram, 4 multifd channels and O_DIRECT: the file keeps 4 KiB
 * target pages, the guest RAM is 2 MiB host pages.
 */
static const MemoryCase hugetlb_memfd_dio = {
    .src_backend = "memfd,hugetlb=on",
    .hugepages = true,
    .args = { STRESS, FILE_MIGRATION, .caps = { "mapped-ram", "multifd" },
              .multifd_channels_src = 4, .multifd_channels_dst = 4,
              .start_hook = start_direct_io, .live = true,
              .end_hook = end_check_mem0 },
};

static void memory_case_run(const MemoryCase *c)
{
    MigrateCommon args = c->args;

    if (c->prepare) {
        c->prepare();
    }
    ctx.expect_hugepages = c->hugepages;
    g_autofree char *src = backend_opts(c->src_backend);
    g_autofree char *dst =
        backend_opts(c->dst_backend ? c->dst_backend : c->src_backend);
    args.start = none_start(src, dst, c->args.start.workload);
    test_precopy_common(&args);
    ctx_reset();
}

static void run_memory_case(const void *data)
{
    memory_case_run(data);
}

/* ---- hugepages ---- */

/* Skips the test unless @pages free 2 MiB hugepages exist. */
static bool hugepages_available(uint64_t pages)
{
    g_autofree char *s = NULL;
    const char *path =
        "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";

    if (!g_file_get_contents(path, &s, NULL, NULL)) {
        g_test_skip("this kernel has no 2 MiB hugepages");
        return false;
    }
    if (g_ascii_strtoull(s, NULL, 10) < pages) {
        g_autofree char *why = g_strdup_printf(
            "needs %" PRIu64 " free 2 MiB hugepages, the host has %s "
            "(echo 64 > /proc/sys/vm/nr_hugepages)",
            pages, g_strstrip(s));
        g_test_skip(why);
        return false;
    }
    return true;
}

static void test_hugetlb_memfd_dio(void)
{
    g_autofree char *dir = g_strdup("/var/tmp/mapmig-huge-XXXXXX");
    char *old = tmpfs;

    if (!hugepages_available(2 * GUEST_SIZE / HUGEPAGE_SIZE)) {
        return;
    }
    if (!g_mkdtemp(dir) || !migrate_dir_supports_odirect(dir)) {
        g_test_skip("/var/tmp does not support O_DIRECT");
        rmdir(dir);
        return;
    }
    qtest_add_abort_dir(dir);
    tmpfs = dir;
    memory_case_run(&hugetlb_memfd_dio);
    tmpfs = old;
    qtest_remove_abort_dir(dir);
    qtest_rmdir_files(dir);
}

static void test_ignore_shared_hugetlbfs(void)
{
    g_autofree char *dir = scratch("hugetlbfs");
    g_autofree char *file = NULL;

    if (!hugepages_available(GUEST_SIZE / HUGEPAGE_SIZE)) {
        return;
    }
    g_assert_cmpint(mkdir(dir, 0700), ==, 0);
    if (mount("hugetlbfs", dir, "hugetlbfs", 0, "pagesize=2M") < 0) {
        g_autofree char *why =
            g_strdup_printf("cannot mount hugetlbfs: %s", g_strerror(errno));
        rmdir(dir);
        g_test_skip(why);
        return;
    }
    file = g_strdup_printf("%s/guest-ram", dir);
    ctx.src_file = g_strdup(file);
    memory_case_run(&ignore_shared_hugetlbfs);
    unlink(file);
    g_assert_cmpint(umount(dir), ==, 0);
    g_assert_cmpint(rmdir(dir), ==, 0);
}

/* ---- command line ---- */

/* mapmig with @args must exit 1 with one line containing @msg. */
static void expect_cmdline_error(const char *args, const char *msg)
{
    g_autofree char *cmd = g_strdup_printf("%s %s", qtest_binary(), args);
    g_autofree char *out = NULL, *err = NULL;
    g_auto(GStrv) argv = NULL;
    g_autoptr(GError) gerr = NULL;
    int status;

    g_assert_true(g_shell_parse_argv(cmd, NULL, &argv, &gerr));
    g_assert_true(g_spawn_sync(NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
                               &out, &err, &status, &gerr));
    g_test_message("%s -> %s", args, err);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    g_assert_nonnull(strstr(err, msg));
    /* Exactly one line. */
    g_assert_true(g_str_has_suffix(err, "\n"));
    g_assert_true(strchr(err, '\n') == err + strlen(err) - 1);
}

static void test_cmdline_errors(void)
{
    g_autofree char *small = scratch("small");
    g_autofree char *args = NULL;

    fill_file(small, 4 * MiB, 1);
    expect_cmdline_error(
        "-M none -m 64M -object memory-backend-ram,id=mem0,size=32M "
        "-machine memory-backend=mem0",
        "does not match the size of the memory backend");
    expect_cmdline_error("-M none,memory-backend=mem0 "
                         "-object memory-backend-file,id=mem0,size=32M",
                         "mem-path property not set");
    args = g_strdup_printf("-M none,memory-backend=mem0 -object "
                           "memory-backend-file,id=mem0,size=32M,mem-path=%s",
                           small);
    expect_cmdline_error(args, "does not match 'size' option");
    /* More hugepages than any test host has free. */
    expect_cmdline_error("-M none,memory-backend=mem0 -object "
                         "memory-backend-memfd,id=mem0,size=64G,hugetlb=on",
                         "hugepages");
    expect_cmdline_error("-M none,memory-backend=mem0 -object "
                         "memory-backend-memfd,id=mem0,size=32M,"
                         "hugetlbsize=2M",
                         "hugetlbsize requires hugetlb=on");
    expect_cmdline_error("-M none,memory-backend=mem0 -object "
                         "memory-backend-foo,id=mem0,size=32M",
                         "invalid object type: memory-backend-foo");
    expect_cmdline_error("-M none,memory-backend=mem0 -object "
                         "memory-backend-ram,id=mem0,size=32M,colour=blue",
                         "Property 'memory-backend-ram.colour' not found");
    expect_cmdline_error("-object memory-backend-ram,id=mem0,size=32M "
                         "-object memory-backend-memfd,id=mem0,size=32M",
                         "Duplicate object id 'mem0'");
    expect_cmdline_error("-M none,memory-backend=mem1 "
                         "-object memory-backend-ram,id=mem0,size=32M",
                         "Memory backend 'mem1' not found");
    expect_cmdline_error("-M none -object memory-backend-ram,id=ram,size=32M",
                         "reserved for the default RAM backend");
    unlink(small);
}

/* ---- QEMU 7.2 writes, mapmig loads ---- */

/*
 * QEMU 7.2's -M none guest with its RAM in a shared file holding the
 * pattern saves to a file; mapmig with anonymous RAM named mem0 loads it
 * and ends with exactly the file's bytes.
 */
static void test_qemu_file_backend_to_mapmig(void)
{
    g_autofree char *bin = qemu_peer_binary();
    g_autofree char *ram = scratch("qemu-ram");
    g_autofree char *mig = scratch(FILE_TEST_FILENAME);
    g_autofree char *obj = NULL, *out = NULL, *st = NULL, *sha = NULL;
    g_autofree char *opts = backend_opts("ram");
    QemuPeer *q;
    QTestState *to;

    if (!bin) {
        return;
    }
    interop_pattern_file(ram, GUEST_SIZE, 7);
    sha = interop_file_sha256(ram);
    obj = g_strdup_printf("memory-backend-file,id=mem0,size=%" PRIu64
                          ",mem-path=%s,share=on",
                          (uint64_t)GUEST_SIZE, ram);
    const char *qargs[] = { "-M", "none",     "-object",
                            obj,  "-machine", "memory-backend=mem0",
                            NULL };
    q = qemu_peer_start(bin, qargs);
    if (!q) {
        return;
    }
    json_node_unref(qemu_peer_qmp(q, "{'execute': 'migrate-set-parameters', "
                                     "'arguments': {'max-bandwidth': "
                                     "1099511627776}}"));
    out = g_strdup_printf("exec:cat > %s", mig);
    json_node_unref(qemu_peer_qmp(
        q, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", out));
    st = qemu_peer_wait_migration(q);
    g_assert_cmpstr(st, ==, "completed");
    qemu_peer_stop(q);

    to = qtest_initf("-M none %s -S -incoming file:%s", opts, mig);
    wait_for_migration_complete(to);
    wait_for_incoming_done(to);
    g_autoptr(GHashTable) dst = qtest_ram_digests(to);
    g_assert_cmpstr(digest_of(dst, "mem0"), ==, sha);
    qtest_quit(to);
}

int main(int argc, char **argv)
{
    migration_test_init(&argc, &argv);
    for (size_t i = 0; i < G_N_ELEMENTS(memory_cases); i++) {
        migration_test_add_data(memory_cases[i].path, run_memory_case,
                                &memory_cases[i], memory_cases[i].accels);
    }
    migration_test_add_accels("/migration/memory/hugetlb/memfd/mapped-ram/dio",
                              test_hugetlb_memfd_dio);
    migration_test_add_accels(
        "/migration/memory/ignore-shared/hugetlbfs/mapped-ram",
        test_ignore_shared_hugetlbfs);
    migration_test_add("/migration/memory/cmdline-errors", test_cmdline_errors);
    migration_test_add("/migration/memory/qemu-7.2/file-backend-to-mapmig",
                       test_qemu_file_backend_to_mapmig);
    return migration_test_run();
}
