/*
 * mapmig-ctl checkpoint and restore DIR: exact restores of every
 * generation still complete (both images of the A/B pair, multifd,
 * direct-io, an image that skipped a round), zero pages punched as holes,
 * a live guest, interruptions, 50 seeded SIGKILLs of the tool or the VM
 * at any point of a checkpoint, damaged manifests and images, --lazy.
 *
 * Environment and processes: see ctl-harness.h.
 */
#include "ctl-harness.h"
#include "qemu/checkpoint-dir.h"
#include "qemu/save-image.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define CKPT_MEM "32M"
#define CRASH_ROUNDS 50
#define CRASH_SEED 20261202

/* ---------------------------------------------------------------- */
/* Helpers */

/* checkpoint --qmp SOCK DIR --output json plus @opts (space separated). */
static Run ctl_checkpoint(Vm *vm, const char *dir, const char *opts)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) o = g_strsplit(opts ? opts : "", " ", -1);

    g_ptr_array_add(argv, g_strdup(ctl_bin));
    g_ptr_array_add(argv, g_strdup("checkpoint"));
    g_ptr_array_add(argv, g_strdup("--qmp"));
    g_ptr_array_add(argv, g_strdup(vm->sock));
    g_ptr_array_add(argv, g_strdup(dir));
    g_ptr_array_add(argv, g_strdup("--output"));
    g_ptr_array_add(argv, g_strdup("json"));
    for (int i = 0; o[i]; i++) {
        if (*o[i]) {
            g_ptr_array_add(argv, g_strdup(o[i]));
        }
    }
    return run_argv(argv);
}

/*
 * One checkpoint that must succeed: its JSON line says generation @gen
 * into @image (a.img or b.img); returns whether it was incremental.
 */
static bool checkpoint_ok(Vm *vm, const char *dir, const char *opts,
                          uint64_t gen, const char *image)
{
    Run r = ctl_checkpoint(vm, dir, opts);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(JsonObject) o = parse_one_object(r.out);
    run_clear(&r);
    g_assert_cmpstr(json_object_get_string_member(o, "operation"), ==,
                    "checkpoint");
    g_assert_cmpint(json_object_get_int_member(o, "generation"), ==, gen);
    g_assert_true(
        g_str_has_suffix(json_object_get_string_member(o, "image"), image));
    g_assert_cmpint(json_object_get_int_member(o, "bytes-written"), >, 0);
    g_assert_cmpint(json_object_get_int_member(o, "pause-ms"), >=, 0);
    g_assert_cmpint(json_object_get_int_member(o, "time-ms"), >=,
                    json_object_get_int_member(o, "pause-ms"));
    return json_object_get_boolean_member(o, "incremental");
}

/* restore DIR --paused @opts: the RAM digests are @want. */
static void restore_expect(const char *dir, const char *opts, const char *want)
{
    g_autofree char *all = g_strdup_printf("-q --paused %s", opts);
    Vm dst = { 0 };

    run_expect(ctl_restore(&dst, dir, all), 0, NULL);
    if (strstr(opts, "--lazy")) {
        wait_lazy_loaded(&dst);
    }
    g_autofree char *st = vm_status(&dst);
    g_assert_cmpstr(st, ==, "paused");
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, want);
    vm_quit(&dst);
}

static void vm_stop(Vm *vm)
{
    json_node_unref(vm_cmd(vm, "{'execute': 'stop'}"));
}

static void vm_cont(Vm *vm)
{
    json_node_unref(vm_cmd(vm, "{'execute': 'cont'}"));
}

/* Run the guest for @ms, then pause it: its memory is then known. */
static void vm_step(Vm *vm, unsigned ms)
{
    vm_cont(vm);
    vm_let_run(vm, ms);
    vm_stop(vm);
}

/* x-fill-ram of one block (all if NULL) with @gen, zero pages every @zs. */
static void fill_block(Vm *vm, const char *block, int gen, int zs)
{
    g_autofree char *b =
        block ? g_strdup_printf("'block': '%s', ", block) : g_strdup("");
    json_node_unref(vm_cmd(vm,
                           "{'execute': 'x-fill-ram', 'arguments': {%s"
                           "'generation': %d, 'zero-stride': %d}}",
                           b, gen, zs));
}

/* The scratch directory @name, empty (what an earlier case left goes). */
static char *fresh_dir(const char *name)
{
    char *dir = scratch(name);

    remove_tree(dir);
    return dir;
}

static char *ckpt_image(const char *dir, int i)
{
    return g_build_filename(dir, ckpt_image_name(i), NULL);
}

/* The manifest's generation, 0 if there is none; it must be valid. */
static uint64_t manifest_generation(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, CKPT_MANIFEST, NULL);
    g_autofree char *text = NULL;
    CkptManifest m;
    gsize len;

    if (!g_file_get_contents(path, &text, &len, NULL)) {
        return 0;
    }
    GError *err = NULL;
    g_assert_true(ckpt_manifest_parse(text, len, &m, &err));
    g_assert_no_error(err);
    return m.generation;
}

/*
 * mapmig-img check on each image tells a complete image (exit 0) from a
 * partial one (exit 1, "incomplete"); the manifest's image is complete.
 */
static void check_images(const char *dir)
{
    for (int i = 0; i < CKPT_IMAGES; i++) {
        g_autofree char *img = ckpt_image(dir, i);
        uint8_t magic[SAVE_IMAGE_MAGIC_LEN];
        int fd = open(img, O_RDONLY);

        if (fd < 0) {
            continue;
        }
        ssize_t n = pread(fd, magic, sizeof(magic), 0);
        close(fd);
        SaveImageProbe p = save_image_probe(magic, MAX(n, 0));
        if (p == SAVE_IMAGE_PROBE_FINAL) {
            run_expect(run_tool(img_bin, "check", img, NULL), 0, NULL);
        } else {
            run_expect(run_tool(img_bin, "check", img, NULL), 1,
                       p == SAVE_IMAGE_PROBE_PARTIAL ? "incomplete" : NULL);
        }
    }
}

/* ---------------------------------------------------------------- */
/* Exact restores */

typedef struct ExactCase {
    const char *path;
    const char *opts; /* of checkpoint, and of restore when it takes them */
    bool dio;
} ExactCase;

static const ExactCase exact_cases[] = {
    { "/ctl/checkpoint/exact/plain", "", false },
    { "/ctl/checkpoint/exact/multifd", "--parallel-channels 4", false },
    { "/ctl/checkpoint/exact/direct-io", "--parallel-channels 2 --bypass-cache",
      true },
};

#define EXACT_GENERATIONS 4

/*
 * A paused guest is checkpointed, runs, is paused and checkpointed again,
 * four times: A gets 1 and 3, B 2 and 4, so 3 and 4 are incremental and
 * each covers the changes of two rounds.  After each, the newest and the
 * one before restore exactly; the guest stays paused.
 */
static void test_exact(gconstpointer data)
{
    const ExactCase *c = data;
    g_autofree char *dir = fresh_dir("exact");
    char *want[EXACT_GENERATIONS + 1] = { 0 };
    Vm vm = { 0 };

    if (c->dio && !direct_io_ok()) {
        g_test_skip("the scratch file system has no O_DIRECT");
        return;
    }
    vm_start_mem(&vm, CKPT_MEM, "stress,share=20", NULL);
    vm_fill(&vm, false);
    for (int g = 1; g <= EXACT_GENERATIONS; g++) {
        vm_step(&vm, 100);
        if (g == 3) {
            /* Blocks the guest does not write change too. */
            fill_block(&vm, "vga.vram", g, 5);
        }
        want[g] = vm_digests(&vm);
        bool inc =
            checkpoint_ok(&vm, dir, c->opts, g, g % 2 ? "a.img" : "b.img");
        g_assert_cmpint(inc, ==, g > 2);
        g_autofree char *st = vm_status(&vm);
        g_assert_cmpstr(st, ==, "paused");
        restore_expect(dir, c->opts, want[g]);
        if (g > 1) {
            g_autofree char *older =
                g_strdup_printf("--generation %d %s", g - 1, c->opts);
            restore_expect(dir, older, want[g - 1]);
        }
    }
    run_expect(run_tool(img_bin, "check", dir, NULL), 0, NULL);
    vm_quit(&vm);
    for (int g = 0; g <= EXACT_GENERATIONS; g++) {
        g_free(want[g]);
    }
}

/* ---------------------------------------------------------------- */
/* Holes */

/* Whether [off, off + len) of @path holds no data (a hole). */
static bool is_hole(const char *path, off_t off, off_t len)
{
    int fd = open(path, O_RDONLY);
    off_t data = lseek(fd, off, SEEK_DATA);

    close(fd);
    return data < 0 || data >= off + len;
}

/* pc.ram's pages-offset in @img (mapmig-img info --output json). */
static uint64_t ram_pages_offset(const char *img)
{
    Run r = run_tool(img_bin, "info", "--output", "json", img, NULL);
    g_autoptr(JsonParser) p = json_parser_new();

    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(json_parser_load_from_data(p, r.out, -1, NULL));
    run_clear(&r);
    JsonArray *blocks = json_object_get_array_member(
        json_node_get_object(json_parser_get_root(p)), "ram-blocks");
    for (guint i = 0; i < json_array_get_length(blocks); i++) {
        JsonObject *b = json_array_get_object_element(blocks, i);
        if (!strcmp(json_object_get_string_member(b, "name"), "pc.ram")) {
            return json_object_get_int_member(b, "pages-offset");
        }
    }
    g_assert_not_reached();
}

/*
 * Pages full of data in generations 1 and 2; many become zero before 3,
 * which rewrites A incrementally: their old data must not survive, in
 * the file (holes) nor in a restore.
 */
static void test_holes(gconstpointer data)
{
    const char *opts = data;
    g_autofree char *dir = fresh_dir("holes");
    g_autofree char *a = ckpt_image(dir, 0);
    Vm vm = { 0 };

    vm_start_mem(&vm, CKPT_MEM, "idle", NULL);
    fill_block(&vm, NULL, 1, 0);
    vm_stop(&vm);
    checkpoint_ok(&vm, dir, opts, 1, "a.img");
    checkpoint_ok(&vm, dir, opts, 2, "b.img");
    uint64_t pages = ram_pages_offset(a);
    g_assert_false(is_hole(a, pages + 6 * 4096, 4096));

    /* zero-stride 7: page 6 of every 7, and whole runs of 7, are zero. */
    fill_block(&vm, "pc.ram", 3, 7);
    g_autofree char *want = vm_digests(&vm);
    g_assert_true(checkpoint_ok(&vm, dir, opts, 3, "a.img"));
    g_assert_cmpuint(ram_pages_offset(a), ==, pages);
    for (int p = 6; p < 8192; p += 7 * 97) {
        g_assert_true(is_hole(a, pages + p * 4096, 4096));
    }
    g_assert_false(is_hole(a, pages, 4096)); /* page 0 holds data */
    restore_expect(dir, "", want);
    vm_quit(&vm);
}

/* ---------------------------------------------------------------- */
/* A live guest */

/*
 * The ab guest runs through three checkpoints; each restores into a guest
 * that goes on finding every page consistent.  The guest is paused only
 * briefly and runs after each.  They are taken with auto-converge, which
 * the VM does not keep afterwards, nor the throttle's first step.
 */
static void test_live(void)
{
    g_autofree char *dir = scratch("live");
    Vm vm = { 0 }, dst = { 0 };

    vm_start_mem(&vm, CKPT_MEM, "ab", NULL);
    vm_let_run(&vm, 200);
    Run r = ctl_checkpoint(&vm, dir,
                           "--count 3 --interval 0.3 "
                           "--auto-converge-initial 50");
    g_assert_cmpint(r.status, ==, 0);
    g_auto(GStrv) lines = g_strsplit(g_strchomp(r.out), "\n", -1);
    run_clear(&r);
    g_assert_cmpint(g_strv_length(lines), ==, 3);
    for (int i = 0; i < 3; i++) {
        g_autofree char *line = g_strconcat(lines[i], "\n", NULL);
        g_autoptr(JsonObject) o = parse_one_object(line);
        g_assert_cmpint(json_object_get_int_member(o, "generation"), ==, i + 1);
        g_assert_cmpint(json_object_get_boolean_member(o, "incremental"), ==,
                        i == 2);
        g_assert_cmpstr(json_object_get_string_member(o, "vm"), ==, "running");
    }
    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    /* Tracking stays (the next checkpoint is incremental), settings not. */
    g_autoptr(JsonNode) q = vm_cmd(&vm, "{'execute': 'x-query-checkpoints'}");
    g_assert_cmpint(json_array_get_length(json_node_get_array(q)), ==, 2);
    static const char *const caps[] = { "events",       "mapped-ram",
                                        "multifd",      "x-checksums",
                                        "x-checkpoint", "auto-converge" };
    for (size_t i = 0; i < G_N_ELEMENTS(caps); i++) {
        g_assert_false(vm_cap(&vm, caps[i]));
    }
    g_autoptr(JsonNode) p =
        vm_cmd(&vm, "{'execute': 'query-migrate-parameters'}");
    g_assert_cmpint(qmp_get_int(p, "cpu-throttle-initial"), ==, 20);

    for (int gen = 3; gen >= 2; gen--) {
        g_autofree char *opts = g_strdup_printf("-q --generation %d", gen);
        run_expect(ctl_restore(&dst, dir, opts), 0, NULL);
        g_autofree char *dst_st = vm_status(&dst);
        g_assert_cmpstr(dst_st, ==, "running");
        check_ab_goes_on(&dst, ab_passes(&dst));
        vm_quit(&dst);
    }
    /* People: one line a checkpoint. */
    r = run_tool(ctl_bin, "checkpoint", "--qmp", vm.sock, dir, NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_true(g_str_has_prefix(r.out, "checkpoint 4: "));
    assert_contains(r.out, "b.img, incremental (");
    assert_contains(r.out, " written, guest paused ");
    run_clear(&r);
    vm_quit(&vm);
}

/*
 * --auto-converge reaches the VM: one that has dirty-limit on refuses it
 * (QEMU's message), and is left as it was.
 */
static void test_auto_converge_refused(void)
{
    g_autofree char *dir = scratch("converge");
    Vm vm = { 0 };

    vm_start_mem(&vm, CKPT_MEM, "idle", NULL);
    json_node_unref(vm_cmd(&vm,
                           "{'execute': 'migrate-set-capabilities', "
                           "'arguments': {'capabilities': [{"
                           "'capability': 'dirty-limit', 'state': true}]}}"));
    run_expect(ctl_checkpoint(&vm, dir, "--auto-converge"), 1,
               "dirty-limit conflicts with auto-converge");
    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    g_assert_true(vm_cap(&vm, "dirty-limit"));
    g_assert_false(vm_cap(&vm, "auto-converge"));
    g_assert_false(vm_cap(&vm, "x-checkpoint"));
    vm_quit(&vm);
    remove_tree(dir);
}

/* ---------------------------------------------------------------- */
/* Interruptions */

/*
 * SIGINT just before the VM writes, SIGTERM between two checkpoints: the
 * tool stops, exits 128+N, the VM runs on with its settings back, and
 * the newest checkpoint is untouched.  A second writer meanwhile is
 * refused.
 */
static void test_interrupted(void)
{
    g_autofree char *dir = scratch("intr");
    g_autofree char *manifest = g_build_filename(dir, CKPT_MANIFEST, NULL);
    Vm vm = { 0 };
    int status;

    if (!ctl_test_bin) {
        g_test_skip("MAPMIG_CTL_TEST (mapmig-ctl-test) is not set");
        return;
    }
    vm_start_mem(&vm, CKPT_MEM, "stress,share=20", NULL);
    json_node_unref(vm_cmd(&vm, "{'execute': 'migrate-set-parameters', "
                                "'arguments': {'max-bandwidth': 7340032}}"));
    checkpoint_ok(&vm, dir, "", 1, "a.img");
    g_autofree char *before = file_sha256(manifest);

    /* Stopped just before it migrates: the signal comes, then it goes on. */
    const char *args[] = { "checkpoint", "--qmp", vm.sock, dir, "-q", NULL };
    GPid pid = ctl_spawn(ctl_test_bin, "checkpoint-partial", args);
    wait_stopped(pid);
    kill(pid, SIGINT);
    kill(pid, SIGCONT);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 128 + SIGINT);

    /* Generation 2 stays unused: a partial header holds it. */
    const char *args2[] = { "checkpoint", "--qmp", vm.sock,      dir,  "-q",
                            "--count",    "3",     "--interval", "30", NULL };
    pid = ctl_spawn(ctl_bin, NULL, args2);
    for (int i = 0; i < WAIT_MS / 10 && manifest_generation(dir) < 2; i++) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpint(manifest_generation(dir), ==, 3);
    g_autofree char *second = file_sha256(manifest);
    /* One writer at a time: a second one is refused, nothing changes. */
    run_expect(ctl_checkpoint(&vm, dir, ""), 1, "is locked");
    kill(pid, SIGTERM);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 128 + SIGTERM);
    wait_no_strays();

    g_autofree char *after = file_sha256(manifest);
    g_assert_cmpstr(after, ==, second);
    g_assert_cmpstr(before, !=, second);
    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    g_autoptr(JsonNode) p =
        vm_cmd(&vm, "{'execute': 'query-migrate-parameters'}");
    g_assert_cmpint(qmp_get_int(p, "max-bandwidth"), ==, 7340032);
    run_expect(run_tool(img_bin, "check", dir, NULL), 0, NULL);
    vm_quit(&vm);
}

/*
 * Wait until the VM's incremental checkpoint is active and wrote at least
 * @bytes (query-migrate shows the full one before it until it starts).
 */
static void wait_rewriting(Vm *vm, int64_t bytes)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        g_autoptr(JsonNode) r = vm_cmd(vm, "{'execute': 'query-migrate'}");
        JsonObject *o = json_node_get_object(r);
        JsonNode *ck = json_object_get_member(o, "x-checkpoint");
        const char *st = qmp_get_str(r, "status");
        if (ck && json_object_get_boolean_member(json_node_get_object(ck),
                                                 "incremental")) {
            g_assert_cmpstr(st, !=, "completed");
            if (!g_strcmp0(st, "active") && json_object_has_member(o, "ram") &&
                qmp_get_int(json_object_get_member(o, "ram"), "transferred") >=
                    bytes) {
                return;
            }
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

typedef struct CancelCase {
    const char *path;
    int sig;
} CancelCase;

static const CancelCase cancel_cases[] = {
    { "/ctl/checkpoint/cancelled/sigint", SIGINT },
    { "/ctl/checkpoint/cancelled/sigterm", SIGTERM },
    /* The guardian cancels it. */
    { "/ctl/checkpoint/cancelled/sigkill", SIGKILL },
};

/*
 * A live, incremental rewrite of A (generation 3) killed while the VM
 * writes it: the VM runs on, its settings back; the manifest still names
 * generation 2; A is partial.  The VM still tracks A, with the dirty set
 * grown: the next checkpoint into A is incremental and exact.
 */
static void test_cancelled(gconstpointer data)
{
    const CancelCase *c = data;
    g_autofree char *dir = fresh_dir("cancel");
    g_autofree char *manifest = g_build_filename(dir, CKPT_MANIFEST, NULL);
    g_autofree char *a = ckpt_image(dir, 0);
    Vm vm = { 0 };
    int status;

    vm_start_mem(&vm, CKPT_MEM, "stress,share=60", NULL);
    vm_let_run(&vm, 300);
    checkpoint_ok(&vm, dir, "", 1, "a.img");
    checkpoint_ok(&vm, dir, "", 2, "b.img");
    json_node_unref(vm_cmd(&vm, "{'execute': 'migrate-set-parameters', "
                                "'arguments': {'max-bandwidth': 7340032}}"));
    g_autofree char *before = file_sha256(manifest);

    const char *args[] = { "checkpoint", "--qmp",           vm.sock, dir,
                           "-q",         "--max-bandwidth", "2M",    NULL };
    GPid pid = ctl_spawn(ctl_bin, NULL, args);
    wait_rewriting(&vm, 512 * KiB);
    kill(pid, c->sig);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    if (c->sig == SIGKILL) {
        g_assert_true(WIFSIGNALED(status));
    } else {
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 128 + c->sig);
    }
    wait_no_strays();

    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    g_autoptr(JsonNode) q = vm_cmd(&vm, "{'execute': 'query-migrate'}");
    g_assert_cmpstr(qmp_get_str(q, "status"), ==, "cancelled");
    g_autoptr(JsonNode) p =
        vm_cmd(&vm, "{'execute': 'query-migrate-parameters'}");
    g_assert_cmpint(qmp_get_int(p, "max-bandwidth"), ==, 7340032);
    g_autofree char *after = file_sha256(manifest);
    g_assert_cmpstr(after, ==, before);
    run_expect(run_tool(img_bin, "check", a, NULL), 1, "incomplete");

    vm_stop(&vm);
    g_autofree char *want = vm_digests(&vm);
    g_assert_true(checkpoint_ok(&vm, dir, "", 4, "a.img"));
    restore_expect(dir, "", want);
    vm_quit(&vm);
}

/* ---------------------------------------------------------------- */
/* Crashes */

/* The points of tools/ctl/checkpoint.c where a test may stop the tool. */
static const char *const crash_points[] = {
    "checkpoint-partial",      "checkpoint-migrated", "checkpoint-final",
    "checkpoint-manifest-tmp", "checkpoint-renamed",
};

typedef enum CrashKind {
    KILL_TOOL_AT_POINT, /* SIGKILL mapmig-ctl stopped at a point */
    KILL_VM_AT_POINT,   /* SIGKILL the VM while mapmig-ctl is stopped */
    KILL_TOOL_AFTER,    /* SIGKILL mapmig-ctl after a random delay */
    KILL_VM_AFTER,      /* SIGKILL the VM after a random delay */
    CRASH_KINDS
} CrashKind;

static void vm_kill(Vm *vm)
{
    kill(vm->pid, SIGKILL);
    g_assert_true(vm_reap(vm, WAIT_MS));
    qmp_client_free(vm->qmp);
    vm->qmp = NULL;
    g_clear_pointer(&vm->sock, g_free);
}

/* One checkpoint of @vm into @dir, killed as @kind says. */
static void crash_one(Vm *vm, const char *dir, GRand *rnd, CrashKind kind)
{
    const char *point =
        crash_points[g_rand_int_range(rnd, 0, G_N_ELEMENTS(crash_points))];
    const char *args[] = { "checkpoint", "--qmp", vm->sock, dir, "-q", NULL };
    bool at_point = kind == KILL_TOOL_AT_POINT || kind == KILL_VM_AT_POINT;
    GPid pid = ctl_spawn(ctl_test_bin, at_point ? point : NULL, args);
    int status;

    g_test_message("kind %d, point %s", kind, at_point ? point : "-");
    if (at_point) {
        wait_stopped(pid);
    } else {
        g_usleep(g_rand_int_range(rnd, 0, 60) * 1000);
    }
    if (kind == KILL_VM_AT_POINT || kind == KILL_VM_AFTER) {
        vm_kill(vm);
        kill(pid, SIGCONT);
    } else {
        kill(pid, SIGKILL);
    }
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    wait_no_strays();
}

/*
 * 50 checkpoints of a paused guest, each killed at a random point: the
 * tool or the VM, at one of the tool's stop points or after a random
 * delay (seeded).  After each the manifest names the new generation or
 * the one before, its image restores exactly, and mapmig-img check tells
 * complete images from partial ones.  A VM killed is replaced by the
 * restore of the newest checkpoint, which goes on checkpointing into the
 * same directory (a new process: full saves first).
 */
static void test_crashes(void)
{
    g_autofree char *dir = scratch("crash");
    g_autoptr(GRand) rnd = g_rand_new_with_seed(CRASH_SEED);
    g_autofree char *want_prev = NULL;
    uint64_t gen = 0;
    int committed = 0;
    Vm vm = { 0 };

    if (!ctl_test_bin) {
        g_test_skip("MAPMIG_CTL_TEST (mapmig-ctl-test) is not set");
        return;
    }
    vm_start_mem(&vm, CKPT_MEM, "stress,share=10", NULL);
    vm_stop(&vm);
    for (int round = 0; round < CRASH_ROUNDS; round++) {
        vm_step(&vm, 20);
        g_autofree char *want_new = vm_digests(&vm);
        CrashKind kind = g_rand_int_range(rnd, 0, CRASH_KINDS);

        crash_one(&vm, dir, rnd, kind);
        uint64_t now = manifest_generation(dir);
        g_assert_cmpuint(now, >=, gen);
        /* Not necessarily gen + 1: a partial image may hold it. */
        const char *want = now > gen ? want_new : want_prev;
        committed += now > gen;
        gen = now;
        check_images(dir);
        if (!gen) {
            /* Nothing committed yet: a VM killed is started anew. */
            if (!vm.pid) {
                vm_start_mem(&vm, CKPT_MEM, "stress,share=10", NULL);
                vm_stop(&vm);
            }
            continue;
        }
        Vm dst = { 0 };
        run_expect(ctl_restore(&dst, dir, "-q --paused"), 0, NULL);
        g_autofree char *got = vm_digests(&dst);
        g_assert_cmpstr(got, ==, want);
        char *keep = g_strdup(want);
        g_free(want_prev);
        want_prev = keep;
        if (vm.pid) {
            g_autofree char *st = vm_status(&vm);
            g_assert_cmpstr(st, ==, "paused");
            vm_quit(&dst);
        } else {
            vm = dst; /* the restored VM goes on */
        }
    }
    g_test_message("%d of %d checkpoints committed", committed, CRASH_ROUNDS);
    g_assert_cmpint(committed, >=, 5);
    g_assert_cmpint(committed, <=, CRASH_ROUNDS - 5);
    if (vm.pid) {
        vm_quit(&vm);
    }
}

/* ---------------------------------------------------------------- */
/* Bad input */

/*
 * A directory with generation 1 in a.img and 2 in b.img, and their
 * digests: made once, copied for each case.
 */
static char *fixture_dir;
static char *fixture_want[3];

static void fixture_make(void)
{
    Vm vm = { 0 };

    if (fixture_dir) {
        return;
    }
    fixture_dir = scratch("fixture");
    vm_start_mem(&vm, CKPT_MEM, "stress,share=20", NULL);
    vm_fill(&vm, false);
    for (int g = 1; g <= 2; g++) {
        vm_step(&vm, 100);
        fixture_want[g] = vm_digests(&vm);
        checkpoint_ok(&vm, fixture_dir, "", g, g == 1 ? "a.img" : "b.img");
    }
    vm_quit(&vm);
}

static char *fixture_copy(const char *name)
{
    char *dir = fresh_dir(name);

    fixture_make();
    run_expect(run_tool("cp", "-a", "--sparse=always", fixture_dir, dir, NULL),
               0, NULL);
    return dir;
}

/* Give @img's header the partial magic, as a checkpoint starting does. */
static void mark_partial(const char *img)
{
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    SaveImageHeader h;
    bool partial;
    int fd = open(img, O_RDWR);

    g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
    g_assert_true(
        save_image_header_parse_any(buf, sizeof(buf), &h, &partial, NULL));
    save_image_header_pack(&h, false, buf);
    g_assert_cmpint(pwrite(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
    close(fd);
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    uint8_t b;

    g_assert_cmpint(pread(fd, &b, 1, off), ==, 1);
    b ^= 0x20;
    g_assert_cmpint(pwrite(fd, &b, 1, off), ==, 1);
    close(fd);
}

static void write_manifest(const char *dir, const char *text)
{
    g_autofree char *path = g_build_filename(dir, CKPT_MANIFEST, NULL);
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

/* A manifest with a valid checksum over @json (and its newline). */
static void write_signed_manifest(const char *dir, const char *json)
{
    g_autofree char *body = g_strconcat(json, "\n", NULL);
    g_autofree char *text = g_strdup_printf(
        "%scrc32c 0x%08x\n", body, save_image_crc32c(0, body, strlen(body)));
    write_manifest(dir, text);
}

static void damage_manifest_byte(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, CKPT_MANIFEST, NULL);
    flip_byte(path, 30);
}

static void damage_manifest_truncated(const char *dir)
{
    g_autofree char *path = g_build_filename(dir, CKPT_MANIFEST, NULL);
    g_assert_cmpint(truncate(path, 60), ==, 0);
}

static void damage_manifest_version(const char *dir)
{
    write_signed_manifest(dir, "{\"format\": \"mapmig-checkpoints\", "
                               "\"version\": 2, \"generation\": 2, "
                               "\"image\": \"b.img\", \"header-crc\": 1, "
                               "\"saved-at\": 0}");
}

static void damage_manifest_path(const char *dir)
{
    write_signed_manifest(dir, "{\"format\": \"mapmig-checkpoints\", "
                               "\"version\": 1, \"generation\": 2, "
                               "\"image\": \"../b.img\", \"header-crc\": 1, "
                               "\"saved-at\": 0}");
}

/* The manifest's image: a bit of its header, of its data start. */
static void damage_image_header(const char *dir)
{
    g_autofree char *b = ckpt_image(dir, 1);
    flip_byte(b, 60);
}

static void damage_image_partial(const char *dir)
{
    g_autofree char *b = ckpt_image(dir, 1);
    mark_partial(b);
}

static void damage_image_removed(const char *dir)
{
    g_autofree char *b = ckpt_image(dir, 1);
    g_assert_cmpint(unlink(b), ==, 0);
}

typedef struct BadCase {
    const char *path;
    void (*damage)(const char *dir);
    const char *msg;      /* restore DIR's error */
    const char *ckpt_msg; /* checkpoint's refusal */
} BadCase;

#define NOT_GUESSING "not guessing which image to keep"
#define NOT_OVERWRITING "not overwriting generation 1 in a.img"

static const BadCase bad_cases[] = {
    { "/ctl/checkpoint/bad/manifest-byte", damage_manifest_byte,
      "manifest checksum mismatch", NOT_GUESSING },
    { "/ctl/checkpoint/bad/manifest-truncated", damage_manifest_truncated,
      "no checksum line", NOT_GUESSING },
    { "/ctl/checkpoint/bad/manifest-version", damage_manifest_version,
      "unsupported manifest version 2", NOT_GUESSING },
    { "/ctl/checkpoint/bad/manifest-path", damage_manifest_path,
      "'image' is not a.img or b.img", NOT_GUESSING },
    { "/ctl/checkpoint/bad/image-header", damage_image_header,
      "but b.img is damaged", NOT_OVERWRITING },
    { "/ctl/checkpoint/bad/image-partial", damage_image_partial,
      "but b.img is partial", NOT_OVERWRITING },
    { "/ctl/checkpoint/bad/image-missing", damage_image_removed,
      "but b.img is missing", NOT_OVERWRITING },
};

/*
 * Refused with a clear error that says what is still there; no VM left;
 * --generation 1 restores that one exactly (the user asked); mapmig-img
 * check DIR fails too; and checkpoint will not guess either.
 */
static void test_bad(gconstpointer data)
{
    const BadCase *c = data;
    g_autofree char *dir = fixture_copy("bad");
    Vm vm = { 0 };

    c->damage(dir);
    Run r = ctl_restore(&vm, dir, "-q");
    assert_contains(r.err, "; still complete: ");
    assert_contains(r.err, "generation 1 (a.img) (restore one with "
                           "--generation G)");
    run_expect(r, 1, c->msg);
    restore_expect(dir, "--generation 1", fixture_want[1]);
    run_expect(run_tool(img_bin, "check", dir, NULL), 1, c->msg);
    r = run_tool(img_bin, "info", dir, NULL);
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "restore DIR refuses: ");
    run_clear(&r);
    /* Nothing is overwritten: the user decides. */
    Vm src = { 0 };
    vm_start_mem(&src, CKPT_MEM, "idle", NULL);
    Run k = ctl_checkpoint(&src, dir, "");
    assert_contains(k.err, "with --generation");
    run_expect(k, 1, c->ckpt_msg);
    g_autofree char *st = vm_status(&src);
    g_assert_cmpstr(st, ==, "running");
    vm_quit(&src);
    restore_expect(dir, "--generation 1", fixture_want[1]);
    remove_tree(dir);
}

/* --generation of an image that is not complete, or of none. */
static void test_bad_generation(void)
{
    g_autofree char *dir = fixture_copy("badgen");
    g_autofree char *a = ckpt_image(dir, 0);
    Vm vm = { 0 };

    mark_partial(a);
    run_expect(ctl_restore(&vm, dir, "-q --generation 1"), 1,
               "generation 1 is not a complete checkpoint (it is in a.img, "
               "which is partial");
    run_expect(ctl_restore(&vm, dir, "-q --generation 7"), 1,
               "no image holds it");
    /* The newest is still fine, and check says which is which. */
    restore_expect(dir, "", fixture_want[2]);
    Run r = run_tool(img_bin, "check", dir, NULL);
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "a.img: partial");
    assert_contains(r.out, "b.img: generation 2, complete");
    run_clear(&r);
    remove_tree(dir);
}

/*
 * A directory that holds no checkpoint; a file with --generation; a file
 * named a.img that checkpoint must not overwrite.
 */
static void test_not_a_checkpoint_dir(void)
{
    g_autofree char *dir = scratch("empty");
    g_autofree char *file = scratch("plain-file");
    Vm dst = { 0 };

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    run_expect(ctl_restore(&dst, dir, "-q"), 1,
               "is not a checkpoint directory");
    run_expect(run_tool(img_bin, "check", dir, NULL), 1,
               "is not a checkpoint directory");
    g_assert_true(g_file_set_contents(file, "x", -1, NULL));
    run_expect(run_tool(ctl_bin, "restore", file, "--generation", "1", NULL), 2,
               "--generation needs a checkpoint directory");
    run_expect(run_tool(ctl_bin, "checkpoint", dir, NULL), 2,
               "--qmp SOCKET is required");

    /* A file of an image's name that is no checkpoint image stays. */
    g_autofree char *a = ckpt_image(dir, 0);
    g_assert_true(g_file_set_contents(a, "precious", -1, NULL));
    Vm vm = { 0 };
    vm_start_mem(&vm, CKPT_MEM, "idle", NULL);
    run_expect(ctl_checkpoint(&vm, dir, ""), 1,
               "a.img' is not a checkpoint image");
    vm_quit(&vm);
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(a, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "precious");
    unlink(file);
    remove_tree(dir);
}

/*
 * restore --lazy DIR: the guest gets its RAM while it would run.  The
 * JSON summary names the generation.
 */
static void test_lazy(void)
{
    g_autofree char *dir = fixture_copy("lazy");
    g_autofree char *sock = scratch("lazy.sock");
    g_autofree char *pidfile = scratch("lazy.pid");
    g_autofree char *log = g_strconcat(sock, ".log", NULL);
    Vm dst = { 0 };

    restore_expect(dir, "--lazy", fixture_want[2]);
    restore_expect(dir, "--lazy --generation 1", fixture_want[1]);
    Run r = run_tool(ctl_bin, "restore", dir, "--lazy", "--paused", "--qmp",
                     sock, "--output", "json", "--", "-pidfile", pidfile, NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(JsonObject) o = parse_one_object(r.out);
    run_clear(&r);
    vm_attach(&dst, sock, pidfile);
    g_assert_cmpint(json_object_get_int_member(o, "generation"), ==, 2);
    g_assert_true(
        g_str_has_suffix(json_object_get_string_member(o, "file"), "/b.img"));
    wait_lazy_loaded(&dst);
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, fixture_want[2]);
    vm_quit(&dst);
    unlink(log);
    remove_tree(dir);
}

int main(int argc, char **argv)
{
    if (!harness_init(&argc, &argv, "test-checkpoint")) {
        return 1;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(exact_cases); i++) {
        g_test_add_data_func(exact_cases[i].path, &exact_cases[i], test_exact);
    }
    g_test_add_data_func("/ctl/checkpoint/holes/plain", "", test_holes);
    g_test_add_data_func("/ctl/checkpoint/holes/multifd",
                         "--parallel-channels 4", test_holes);
    g_test_add_func("/ctl/checkpoint/live", test_live);
    g_test_add_func("/ctl/checkpoint/auto-converge-refused",
                    test_auto_converge_refused);
    g_test_add_func("/ctl/checkpoint/interrupted", test_interrupted);
    for (size_t i = 0; i < G_N_ELEMENTS(cancel_cases); i++) {
        g_test_add_data_func(cancel_cases[i].path, &cancel_cases[i],
                             test_cancelled);
    }
    g_test_add_func("/ctl/checkpoint/crashes", test_crashes);
    for (size_t i = 0; i < G_N_ELEMENTS(bad_cases); i++) {
        g_test_add_data_func(bad_cases[i].path, &bad_cases[i], test_bad);
    }
    g_test_add_func("/ctl/checkpoint/bad/generation", test_bad_generation);
    g_test_add_func("/ctl/checkpoint/bad/not-a-checkpoint-dir",
                    test_not_a_checkpoint_dir);
    g_test_add_func("/ctl/checkpoint/lazy", test_lazy);
    int ret = g_test_run();
    cleanup();
    return ret;
}
