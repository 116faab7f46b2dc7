/*
 * mapmig-ctl: save and restore round trips (layout x channels x
 * bypass-cache x compression, RAM digests equal), damaged images, a full
 * file system, a save interrupted or SIGKILLed midway, and the pieces it
 * relies on (x-query-vm-config, mapmig-img on save images).
 *
 * Environment and processes: see ctl-harness.h.
 */
#include "ctl-harness.h"
#include "qemu/save-image.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---------------------------------------------------------------- */
/* Processes */

/*
 * Wait until the stress workload wrote @n words: with 30M over 8192
 * pages, nearly every word of every page holds random data, which zstd
 * cannot shrink (however slow the machine is today).
 */
static void vm_wait_writes(Vm *vm, int64_t n)
{
    for (int i = 0; i < 6000; i++) {
        g_autoptr(JsonNode) w = vm_cmd(vm, "{'execute': 'x-query-workload'}");
        if (qmp_get_int(w, "pages-written") >= n) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/* ---------------------------------------------------------------- */
/* Running the tools */

/* save --qmp SOCK FILE -q --keep-vm plus @opts (space separated). */
static Run ctl_save(Vm *vm, const char *file, const char *opts)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) o = g_strsplit(opts ? opts : "", " ", -1);

    g_ptr_array_add(argv, g_strdup(ctl_bin));
    g_ptr_array_add(argv, g_strdup("save"));
    g_ptr_array_add(argv, g_strdup("--qmp"));
    g_ptr_array_add(argv, g_strdup(vm->sock));
    g_ptr_array_add(argv, g_strdup(file));
    for (int i = 0; o[i]; i++) {
        if (*o[i]) {
            g_ptr_array_add(argv, g_strdup(o[i]));
        }
    }
    return run_argv(argv);
}

/*
 * How many files in @img's directory belong to a save to @img: the image
 * itself and mapmig-ctl's temporary files (".NAME.XXXXXX").
 */
static int files_for(const char *img)
{
    g_autofree char *dir = g_path_get_dirname(img);
    g_autofree char *base = g_path_get_basename(img);
    g_autofree char *tmp_prefix = g_strdup_printf(".%s.", base);
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        n +=
            !strcmp(e->d_name, base) || g_str_has_prefix(e->d_name, tmp_prefix);
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------- */
/* Round trips */

typedef struct RoundTrip {
    const char *layout;
    int channels;
    bool bypass;
    bool zstd;
} RoundTrip;

static void test_roundtrip(gconstpointer data)
{
    const RoundTrip *t = data;
    g_autofree char *img = scratch("rt.img");
    g_autofree char *opts = g_strdup_printf(
        "-q --keep-vm --layout %s --parallel-channels %d%s%s", t->layout,
        t->channels, t->bypass ? " --bypass-cache" : "",
        t->zstd ? " --compress zstd" : "");
    Vm src = { 0 }, dst = { 0 };

    if (t->bypass && !direct_io_ok()) {
        g_test_skip("the scratch file system has no O_DIRECT");
        return;
    }
    vm_start(&src, "stress,share=25");
    vm_fill(&src, true);
    vm_let_run(&src, 200);
    run_expect(ctl_save(&src, img, opts), 0, NULL);
    /* The source is saved, stopped, and stays so with --keep-vm. */
    g_autofree char *st = vm_status(&src);
    g_assert_cmpstr(st, ==, "postmigrate");
    g_autofree char *want = vm_digests(&src);

    run_expect(run_tool(img_bin, "check", img, NULL), 0, NULL);

    /* Restore as saved (the default channels), or with other channels. */
    g_autofree char *ropts =
        g_strdup_printf("--paused%s%s", t->bypass ? " --bypass-cache" : "",
                        t->channels > 1 ? " --parallel-channels 2" : "");
    run_expect(ctl_restore(&dst, img, ropts), 0, NULL);
    g_autofree char *dst_st = vm_status(&dst);
    g_assert_cmpstr(dst_st, ==, "paused");
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, want);
    vm_quit(&dst);
    vm_quit(&src);
    unlink(img);
}

/*
 * The default path: the saved VM quits, the restored one runs on where
 * the guest left off (the ab workload checks every page it visits).
 */
static void test_roundtrip_running(void)
{
    g_autofree char *img = scratch("run.img");
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "ab");
    vm_fill(&src, false);
    vm_let_run(&src, 300);
    Run r = ctl_save(&src, img, "--compress zstd");
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "saved ");
    run_clear(&r);
    g_assert_true(vm_reap(&src, WAIT_MS)); /* quit after the save */
    qmp_client_free(src.qmp);
    g_free(src.sock);

    run_expect(ctl_restore(&dst, img, ""), 0, "running");
    g_autofree char *st = vm_status(&dst);
    g_assert_cmpstr(st, ==, "running");
    check_ab_goes_on(&dst, ab_passes(&dst));
    vm_quit(&dst);
    unlink(img);
}

/* --paused at save time is recorded: restore leaves the VM paused. */
static void test_saved_paused(void)
{
    g_autofree char *img = scratch("paused.img");
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "idle");
    run_expect(ctl_save(&src, img, "-q --paused --layout stream"), 0, NULL);
    vm_reap(&src, WAIT_MS);
    qmp_client_free(src.qmp);
    g_free(src.sock);
    run_expect(ctl_restore(&dst, img, "-q"), 0, NULL);
    g_autofree char *st = vm_status(&dst);
    g_assert_cmpstr(st, ==, "paused");
    vm_quit(&dst);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* The pieces */

static void test_vm_config(void)
{
    Vm vm = { 0 };

    vm_start(&vm, "idle");
    g_autoptr(JsonNode) r = vm_cmd(&vm, "{'execute': 'x-query-vm-config'}");
    JsonArray *a =
        json_object_get_array_member(json_node_get_object(r), "args");
    GString *s = g_string_new(NULL);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        g_string_append_printf(s, "%s ", json_array_get_string_element(a, i));
    }
    g_autofree char *line = g_string_free(s, false);
    g_assert_cmpstr(line, ==, "-m 64M -name ctl-test -workload idle ");
    g_assert_cmpint(qmp_get_int(r, "ram-total"), >=, 64 * MiB);
    vm_quit(&vm);
}

static void test_img_info(void)
{
    g_autofree char *img = scratch("info.img");
    Vm vm = { 0 };

    vm_start(&vm, "idle");
    run_expect(ctl_save(&vm, img, "-q --parallel-channels 2"), 0, NULL);
    vm_reap(&vm, WAIT_MS);
    qmp_client_free(vm.qmp);
    g_free(vm.sock);
    Run r = run_tool(img_bin, "info", img, NULL);
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "save image: version 1, format mapped");
    assert_contains(r.out, "-m 64M -name ctl-test -workload idle");
    assert_contains(r.out, "layout: mapped-ram");
    /* Sizes for people beside the raw bytes. */
    assert_contains(r.out, "guest RAM: 84017152 bytes (80.1 MiB)");
    assert_contains(r.out,
                    "  pc.ram                   size 67108864 (64.0 MiB, "
                    "16384 pages)");
    run_clear(&r);
    r = run_tool(img_bin, "info", "--output", "json", img, NULL);
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "\"save-image\"");
    assert_contains(r.out, "\"channels\" : 2");
    run_clear(&r);
    unlink(img);
}

/* Refused before anything happens: the VM keeps running, no file. */
static void test_refuse_stream_channels(void)
{
    g_autofree char *img = scratch("refused.img");
    Vm vm = { 0 };

    vm_start(&vm, "idle");
    Run r = ctl_save(&vm, img, "--layout stream --parallel-channels 4");
    g_assert_cmpint(r.status, !=, 0);
    assert_contains(r.err, "needs --layout mapped");
    run_clear(&r);
    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    g_assert_cmpint(files_for(img), ==, 0);
    vm_quit(&vm);
}

/* ---------------------------------------------------------------- */
/* Damaged images: a clear error, and no VM left behind */

static char *good_image(const char *name, const char *opts)
{
    char *img = scratch(name);
    Vm vm = { 0 };

    vm_start(&vm, "stress,share=10");
    vm_let_run(&vm, 100);
    run_expect(ctl_save(&vm, img, opts), 0, NULL);
    vm_quit(&vm);
    return img;
}

static SaveImageHeader read_header(const char *path)
{
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    SaveImageHeader h;
    int fd = open(path, O_RDONLY);

    g_assert_cmpint(pread(fd, buf, sizeof(buf), 0), ==, sizeof(buf));
    close(fd);
    g_assert_true(save_image_header_parse(buf, sizeof(buf), &h, NULL));
    return h;
}

static void write_at(const char *path, const void *buf, size_t len, off_t pos)
{
    int fd = open(path, O_WRONLY);
    g_assert_cmpint(pwrite(fd, buf, len, pos), ==, (ssize_t)len);
    close(fd);
}

static void write_header(const char *path, const SaveImageHeader *h, bool final)
{
    uint8_t buf[SAVE_IMAGE_HEADER_SIZE];
    save_image_header_pack(h, final, buf);
    write_at(path, buf, sizeof(buf), 0);
}

static void damage_magic(const char *img)
{
    write_at(img, "XXXX", 4, 0);
}

static void damage_header(const char *img)
{
    write_at(img, "\x07", 1, 41); /* config_len */
}

static void damage_final_flag(const char *img)
{
    SaveImageHeader h = read_header(img);
    write_header(img, &h, false);
}

static void damage_features(const char *img)
{
    SaveImageHeader h = read_header(img);
    h.incompat_features = 0x4;
    write_header(img, &h, true);
}

static void damage_version(const char *img)
{
    SaveImageHeader h = read_header(img);
    h.version = 2;
    write_header(img, &h, true);
}

static void damage_truncate(const char *img)
{
    struct stat st;
    g_assert_cmpint(stat(img, &st), ==, 0);
    g_assert_cmpint(truncate(img, st.st_size / 2), ==, 0);
}

static void damage_config(const char *img)
{
    write_at(img, "#", 1, SAVE_IMAGE_HEADER_SIZE + 5);
}

/*
 * A configuration that would give the new VM a pid file, a monitor or an
 * -incoming of its own (a crafted image), with valid checksums.
 */
static void damage_per_instance(const char *img)
{
    SaveImageHeader h = read_header(img);
    const char *config = "{\"vm\": {\"args\": [\"-m\", \"64M\", "
                         "\"-pidfile\", \"/tmp/owned\"]}}";

    h.config_len = strlen(config);
    h.config_crc = save_image_crc32c(0, config, h.config_len);
    write_at(img, config, h.config_len + 1, h.header_size);
    write_header(img, &h, true);
}

/* The header is fine, the data is not: found before or while loading. */
static void damage_stream_start(const char *img)
{
    SaveImageHeader h = read_header(img);
    write_at(img, "QEVX", 4, h.stream_offset);
}

static void damage_zstd_middle(const char *img)
{
    SaveImageHeader h = read_header(img);
    uint8_t junk[64];
    memset(junk, 0xa5, sizeof(junk));
    write_at(img, junk, sizeof(junk), h.stream_offset + h.stream_length / 2);
}

/* A good image, damaged one way, refused with a clear error and no VM. */
typedef struct DamageCase {
    const char *path;
    const char *save_opts; /* how the good image is saved */
    void (*damage)(const char *img);
    const char *msg; /* in restore's error */
    /* mapmig-img check refuses it with the same message. */
    bool img_check;
} DamageCase;

static const DamageCase damage_cases[] = {
    /* mapmig-img then looks for a migration stream and finds none. */
    { "/ctl/restore/bad-magic", "-q", damage_magic,
      "not a mapmig save image (bad magic)", false },
    { "/ctl/restore/corrupt-header", "-q", damage_header,
      "header checksum mismatch", true },
    { "/ctl/restore/partial", "-q", damage_final_flag, "incomplete save image",
      true },
    { "/ctl/restore/unknown-features", "-q", damage_features,
      "unsupported features 0x4", true },
    { "/ctl/restore/newer-version", "-q", damage_version,
      "unsupported save image version 2", true },
    { "/ctl/restore/truncated", "-q --layout stream", damage_truncate,
      "is truncated", true },
    { "/ctl/restore/corrupt-config", "-q", damage_config,
      "configuration checksum mismatch", true },
    { "/ctl/restore/corrupt-stream", "-q", damage_stream_start,
      "no migration stream at offset", false },
    { "/ctl/restore/per-instance-option", "-q", damage_per_instance,
      "has option '-pidfile'", false },
    /* A VM is started, fed, and killed: the error is zstd's. */
    { "/ctl/restore/corrupt-zstd", "-q --layout stream --compress zstd",
      damage_zstd_middle, "corrupt compressed data", true },
};

static void test_damaged(gconstpointer data)
{
    const DamageCase *c = data;
    g_autofree char *img = good_image("bad.img", c->save_opts);
    Vm vm = { 0 };

    c->damage(img);
    Run r = ctl_restore(&vm, img, "-q");
    g_assert_null(strstr(r.err, ": :")); /* one prefix, one colon */
    run_expect(r, 1, c->msg);
    if (c->img_check) {
        run_expect(run_tool(img_bin, "check", img, NULL), 1, c->msg);
    }
    unlink(img);
}

/* Where a damage case hits the image (the last one truncates it). */
static void damage_at(const char *bad, GRand *rnd, int kind, uint64_t size)
{
    uint64_t head = MIN(size, 2 * MiB), tail = MIN(size, 256 * KiB);
    uint64_t off;
    uint8_t b;

    switch (kind) {
    case 0: /* header, configuration, stream start, bitmaps */
        off = g_rand_int_range(rnd, 0, head);
        break;
    case 1: /* anywhere: mostly page data and holes */
        off = (uint64_t)(g_rand_double(rnd) * size);
        break;
    case 2: /* device state, VM description, checksum table, trailer */
        off = size - 1 - g_rand_int_range(rnd, 0, tail);
        break;
    default:
        g_assert_cmpint(truncate(bad, g_rand_double(rnd) * size), ==, 0);
        return;
    }
    int fd = open(bad, O_RDWR);
    g_assert_cmpint(pread(fd, &b, 1, off), ==, 1);
    b ^= 1 << g_rand_int_range(rnd, 0, 8);
    g_assert_cmpint(pwrite(fd, &b, 1, off), ==, 1);
    close(fd);
}

/*
 * Forty damaged copies of one mapped image (seeded: single bit flips in
 * every region, page data included, and truncations).  Each restore is
 * refused, or gives exactly the memory that was saved: none loads wrong
 * memory.  (A flip in a hole, where the file holds no page, changes no
 * page that is loaded.)
 */
static void test_damage_set(void)
{
    g_autofree char *img = scratch("set.img");
    g_autofree char *bad = scratch("set-bad.img");
    g_autofree char *data = NULL;
    g_autoptr(GRand) rnd = g_rand_new_with_seed(20261202);
    gsize size;
    int refused = 0, exact = 0;
    Vm src = { 0 };

    vm_start(&src, "stress,share=25");
    vm_fill(&src, true);
    run_expect(ctl_save(&src, img, "-q --keep-vm"), 0, NULL);
    g_autofree char *want = vm_digests(&src);
    vm_quit(&src);
    g_assert_true(g_file_get_contents(img, &data, &size, NULL));
    for (int i = 0; i < 40; i++) {
        Vm dst = { 0 };
        g_assert_true(g_file_set_contents(bad, data, size, NULL));
        damage_at(bad, rnd, i % 4, size);
        Run r = ctl_restore(&dst, bad, "-q --paused");
        if (r.status == 0) {
            g_autofree char *got = vm_digests(&dst);
            g_assert_cmpstr(got, ==, want);
            vm_quit(&dst);
            exact++;
        } else {
            g_assert_cmpint(r.status, ==, 1);
            refused++;
        }
        run_clear(&r);
    }
    g_test_message("%d refused, %d restored exactly", refused, exact);
    g_assert_cmpint(refused, >=, 20);
    unlink(bad);
    unlink(img);
}

/* --qmp never replaces a file nor takes a live VM's socket. */
static void test_restore_qmp_guard(void)
{
    g_autofree char *img = good_image("guard.img", "-q");
    g_autofree char *file = scratch("not-a-socket");
    Vm vm = { 0 };

    g_assert_true(g_file_set_contents(file, "keep me", -1, NULL));
    run_expect(run_tool(ctl_bin, "restore", img, "--qmp", file, NULL), 1,
               "exists and is not a socket");
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(file, &text, NULL, NULL));
    g_assert_cmpstr(text, ==, "keep me");
    unlink(file);

    vm_start(&vm, "idle");
    run_expect(run_tool(ctl_bin, "restore", img, "--qmp", vm.sock, NULL), 1,
               "QMP socket of a running VM");
    g_autofree char *st = vm_status(&vm);
    g_assert_cmpstr(st, ==, "running");
    vm_quit(&vm);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* A full file system */

static char *mount_small(const char *name, const char *size)
{
    char *dir = scratch(name);
    g_autofree char *opt = g_strdup_printf("size=%s", size);

    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    if (mount("tmpfs", dir, "tmpfs", 0, opt) < 0) {
        g_autofree char *why = g_strdup_printf("cannot mount a small tmpfs: %s",
                                               g_strerror(errno));
        rmdir(dir);
        g_free(dir);
        g_test_skip(why);
        return NULL;
    }
    return dir;
}

static void unmount_small(char *dir)
{
    umount2(dir, MNT_DETACH);
    rmdir(dir);
    g_free(dir);
}

static void test_enospc(void)
{
    static const char *const layouts[] = {
        "-q --layout mapped",
        "-q --layout mapped --parallel-channels 4",
        "-q --layout stream",
        "-q --layout stream --compress zstd",
    };
    char *dir = mount_small("small", "16M");
    if (!dir) {
        return;
    }
    g_autofree char *img = g_build_filename(dir, "vm.img", NULL);
    Vm vm = { 0 };

    /* The previous image: an idle VM saves in almost no space. */
    vm_start(&vm, "idle");
    run_expect(ctl_save(&vm, img, "-q"), 0, NULL);
    vm_quit(&vm);
    g_autofree char *before = file_sha256(img);
    g_assert_nonnull(before);

    /* 32 MiB of data cannot fit in 16 MiB, whatever the layout. */
    vm_start(&vm, "stress,share=50");
    vm_wait_writes(&vm, 30000000);
    for (size_t i = 0; i < ARRAY_SIZE(layouts); i++) {
        Run r = ctl_save(&vm, img, layouts[i]);

        assert_contains(r.err, "the VM runs again");
        run_expect(r, 1, "No space left on device");
        g_autofree char *st = vm_status(&vm);
        g_assert_cmpstr(st, ==, "running");
        g_autofree char *after = file_sha256(img);
        g_assert_cmpstr(after, ==, before);
        g_assert_cmpint(files_for(img), ==, 1);
        /* The old image is still sound. */
        run_expect(run_tool(img_bin, "check", img, NULL), 0, NULL);
    }
    vm_quit(&vm);
    unmount_small(dir);
}

/*
 * mapped + zstd compresses in place: it punches holes behind the reader,
 * so it fits where two copies would not.
 */
static void test_compress_in_place(void)
{
    char *dir = mount_small("inplace", "36M");
    if (!dir) {
        return;
    }
    g_autofree char *img = g_build_filename(dir, "vm.img", NULL);
    Vm vm = { 0 };

    /* ~22 MiB of data that does not compress: one copy fits, two not. */
    vm_start(&vm, "stress,share=35");
    vm_wait_writes(&vm, 30000000);
    run_expect(ctl_save(&vm, img, "-q --keep-vm --compress zstd"), 0, NULL);
    g_autofree char *want = vm_digests(&vm);
    vm_quit(&vm);
    SaveImageHeader h = read_header(img);
    g_assert_cmpint(h.format, ==, SAVE_IMAGE_FORMAT_MAPPED_ZSTD);
    g_test_message("data %" PRIu64 " compressed %" PRIu64, h.raw_length,
                   h.stream_length);
    g_assert_cmpuint(h.stream_length, >, 18 * MiB);
    g_assert_cmpint(files_for(img), ==, 1);

    /* Restore decompresses beside the image: move it out of the tmpfs. */
    g_autofree char *copy = scratch("inplace.img");
    run_expect(run_tool("cp", "--sparse=always", img, copy, NULL), 0, NULL);
    unmount_small(dir);
    Vm dst = { 0 };
    run_expect(ctl_restore(&dst, copy, "-q --paused"), 0, NULL);
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, want);
    vm_quit(&dst);
    unlink(copy);
}

/* ---------------------------------------------------------------- */
/* Interrupted saves */

/* Start mapmig-ctl save in the background; returns its pid. */
static GPid ctl_save_async(Vm *vm, const char *file, const char *opts)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) o = g_strsplit(opts, " ", -1);
    GError *err = NULL;
    GPid pid;

    g_ptr_array_add(argv, g_strdup(ctl_bin));
    g_ptr_array_add(argv, g_strdup("save"));
    g_ptr_array_add(argv, g_strdup("--qmp"));
    g_ptr_array_add(argv, g_strdup(vm->sock));
    g_ptr_array_add(argv, g_strdup(file));
    for (int i = 0; o[i]; i++) {
        g_ptr_array_add(argv, g_strdup(o[i]));
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                &err));
    g_assert_no_error(err);
    return pid;
}

static void wait_ab_pass(Vm *vm)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        g_autoptr(JsonNode) w = vm_cmd(vm, "{'execute': 'x-query-workload'}");
        if (qmp_get_int(w, "passes") >= 1) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/* Wait until the save has written at least @bytes (it is midway). */
static void wait_midway(Vm *vm, int64_t bytes)
{
    for (int i = 0; i < WAIT_MS / 10; i++) {
        g_autoptr(JsonNode) r = vm_cmd(vm, "{'execute': 'query-migrate'}");
        const char *st = qmp_get_str(r, "status");
        g_assert_cmpstr(st ? st : "none", !=, "completed");
        JsonObject *o = json_node_get_object(r);
        if (!g_strcmp0(st, "active") && json_object_has_member(o, "ram") &&
            qmp_get_int(json_object_get_member(o, "ram"), "transferred") >=
                bytes) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/* After an interrupted save: VM running, settings back, files as before. */
static void check_recovered(Vm *vm, const char *img, const char *before,
                            bool wait)
{
    g_autofree char *st = NULL;
    g_autofree char *after = NULL;

    /* The guardian works after mapmig-ctl died: give it time. */
    for (int i = 0; i < WAIT_MS / 20; i++) {
        g_free(st);
        st = vm_status(vm);
        if (!wait || (!strcmp(st, "running") && files_for(img) == 1)) {
            break;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpstr(st, ==, "running");
    after = file_sha256(img);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpint(files_for(img), ==, 1);
    g_autoptr(JsonNode) mig = vm_cmd(vm, "{'execute': 'query-migrate'}");
    g_assert_cmpstr(qmp_get_str(mig, "status"), ==, "cancelled");
    g_autoptr(JsonNode) p =
        vm_cmd(vm, "{'execute': 'query-migrate-parameters'}");
    /* interrupted_save() changed it from the 128 MiB default. */
    g_assert_cmpint(qmp_get_int(p, "max-bandwidth"), ==, 96 * MiB);
}

static void interrupted_save(int sig, const char *opts)
{
    g_autofree char *img = scratch("int.img");
    Vm vm = { 0 };
    int status;

    g_assert_true(g_file_set_contents(img, "previous image", -1, NULL));
    g_autofree char *before = file_sha256(img);
    /*
     * After one ab pass every page holds data: 80 MiB to write at 4 MiB/s
     * take 20 s, so the save is surely midway when the signal comes.
     */
    vm_start(&vm, "ab");
    json_node_unref(vm_cmd(&vm,
                           "{'execute': 'migrate-set-parameters', "
                           "'arguments': {'max-bandwidth': %d}}",
                           (int)(96 * MiB)));
    wait_ab_pass(&vm);
    GPid pid = ctl_save_async(&vm, img, opts);
    wait_midway(&vm, 1 * MiB);
    kill(pid, sig);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    if (sig == SIGKILL) {
        g_assert_true(WIFSIGNALED(status));
    } else {
        /* It cancelled and cleaned up itself before exiting. */
        g_assert_true(WIFEXITED(status));
        g_assert_cmpint(WEXITSTATUS(status), ==, 128 + sig);
    }
    check_recovered(&vm, img, before, sig == SIGKILL);
    vm_quit(&vm);
    unlink(img);
}

/* A save interrupted midway by a signal to mapmig-ctl. */
typedef struct InterruptCase {
    const char *path;
    int sig;
    const char *save_opts;
} InterruptCase;

static const InterruptCase interrupt_cases[] = {
    /* The VM was stopped for the save: it must run again. */
    { "/ctl/save/sigint", SIGINT, "-q --layout stream --max-bandwidth 4M" },
    { "/ctl/save/sigterm-zstd", SIGTERM,
      "-q --layout stream --compress zstd --max-bandwidth 4M" },
    { "/ctl/save/sigkill", SIGKILL, "-q --layout stream --max-bandwidth 4M" },
    /* A live mapped save: the guardian cancels the migration. */
    { "/ctl/save/sigkill-mapped-live", SIGKILL,
      "-q --layout mapped --parallel-channels 2 --live --max-bandwidth 4M" },
};

static void test_interrupted(gconstpointer data)
{
    const InterruptCase *c = data;

    interrupted_save(c->sig, c->save_opts);
}

/*
 * A restore SIGKILLed while its VM starts: the guardian kills that VM and
 * removes its socket and log.  The VM is held with SIGSTOP so the moment
 * is certain.
 */
static void test_restore_sigkill(void)
{
    g_autofree char *img = good_image("rk.img", "-q");
    g_autofree char *sock = scratch("rk.sock");
    g_autofree char *log = scratch("rk.sock.log");
    g_autofree char *pidfile = scratch("rk.pid");
    g_autofree char *text = NULL;
    const char *argv[] = { ctl_bin, "restore", img,        "--qmp", sock,
                           "-q",    "--",      "-pidfile", pidfile, NULL };
    GError *err = NULL;
    GPid ctl;
    int status;

    g_assert_true(g_spawn_async(NULL, (char **)argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &ctl,
                                &err));
    g_assert_no_error(err);
    for (int i = 0; i < WAIT_MS / 10 && !text; i++) {
        g_file_get_contents(pidfile, &text, NULL, NULL);
        g_usleep(10 * 1000);
    }
    g_assert_nonnull(text);
    pid_t vm = atoi(text);
    g_assert_cmpint(vm, >, 0);
    track_pid(vm);
    kill(vm, SIGSTOP);
    kill(ctl, SIGKILL);
    g_assert_cmpint(waitpid(ctl, &status, 0), ==, ctl);
    /* We are the subreaper: the VM, killed, comes back to us. */
    Vm v = { .pid = vm };
    g_assert_true(vm_reap(&v, WAIT_MS));
    for (int i = 0; i < WAIT_MS / 10 && g_file_test(sock, G_FILE_TEST_EXISTS);
         i++) {
        g_usleep(10 * 1000);
    }
    g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(log, G_FILE_TEST_EXISTS));
    unlink(pidfile);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* Every setting mapmig-ctl takes over comes back after a save */

/*
 * What the VM holds before the save: every setting of tools/ctl/vmctl.c's
 * owned_caps and owned_params away from its default and from what the
 * save sets, so a setting left as the save had it is seen.  A capability
 * the save turns off can only be seen coming back on, one it turns on
 * only coming back off: hence two layouts.
 */
typedef struct SettingsCase {
    const char *path;
    const char *save_opts;
    /* mapped-ram, multifd, x-checksums, auto-converge before the save */
    bool caps_on;
    const char *compression; /* zstd conflicts with mapped-ram */
} SettingsCase;

static const SettingsCase settings_cases[] = {
    /*
     * Sets mapped-ram, multifd, x-checksums, auto-converge off (a save
     * that is not live), events on.
     */
    { "/ctl/save/settings-restored/stream", "-q --keep-vm --layout stream",
      true, "none" },
    /*
     * Sets all five on, and channels, compression, direct-io and the
     * throttle's steps.
     */
    { "/ctl/save/settings-restored/mapped",
      "-q --keep-vm --layout mapped --parallel-channels 4 --live "
      "--auto-converge-initial 50 --auto-converge-increment 25",
      false, "none" },
    /*
     * multifd-compression zstd before a mapped save: mapped-ram is refused
     * while compression is on, so mapmig-ctl resets it first.
     */
    { "/ctl/save/settings-restored/mapped-zstd",
      "-q --keep-vm --layout mapped --parallel-channels 4", false, "zstd" },
};

/* query-migrate-parameters as "name=value;" for the owned ones. */
static char *vm_owned_params(Vm *vm)
{
    g_autoptr(JsonNode) r =
        vm_cmd(vm, "{'execute': 'query-migrate-parameters'}");
    JsonObject *o = json_node_get_object(r);

    return g_strdup_printf(
        "max-bandwidth=%" PRId64 ";multifd-channels=%" PRId64
        ";direct-io=%d;multifd-compression=%s;cpu-throttle-initial=%" PRId64
        ";cpu-throttle-increment=%" PRId64 ";",
        json_object_get_int_member(o, "max-bandwidth"),
        json_object_get_int_member(o, "multifd-channels"),
        json_object_get_boolean_member(o, "direct-io"),
        json_object_get_string_member(o, "multifd-compression"),
        json_object_get_int_member(o, "cpu-throttle-initial"),
        json_object_get_int_member(o, "cpu-throttle-increment"));
}

static void test_settings_restored(gconstpointer data)
{
    const SettingsCase *c = data;
    static const char *const caps[] = { "mapped-ram", "multifd", "x-checksums",
                                        "auto-converge", NULL };
    g_autofree char *img = scratch("settings.img");
    Vm vm = { 0 };

    vm_start(&vm, "idle");
    g_autofree char *defaults = vm_owned_params(&vm);
    g_assert_false(vm_cap(&vm, "events"));
    for (int i = 0; caps[i]; i++) {
        g_assert_false(vm_cap(&vm, caps[i]));
    }
    if (c->caps_on) {
        json_node_unref(vm_cmd(
            &vm, "{'execute': 'migrate-set-capabilities', 'arguments': "
                 "{'capabilities': [{'capability': 'mapped-ram', 'state': "
                 "true}, {'capability': 'multifd', 'state': true}, "
                 "{'capability': 'x-checksums', 'state': true}, "
                 "{'capability': 'auto-converge', 'state': true}]}}"));
    }
    /* None of these is a default, nor what a save sets. */
    json_node_unref(vm_cmd(&vm,
                           "{'execute': 'migrate-set-parameters', 'arguments': "
                           "{'max-bandwidth': 7340032, 'multifd-channels': 3, "
                           "'direct-io': true, 'multifd-compression': '%s', "
                           "'cpu-throttle-initial': 30, "
                           "'cpu-throttle-increment': 15}}",
                           c->compression));
    g_autofree char *want = vm_owned_params(&vm);
    g_autofree char *expect =
        g_strdup_printf("max-bandwidth=7340032;multifd-channels=3;direct-io=1;"
                        "multifd-compression=%s;cpu-throttle-initial=30;"
                        "cpu-throttle-increment=15;",
                        c->compression);
    g_assert_cmpstr(want, ==, expect);
    /* Each one changed (compression only where mapped-ram allows). */
    g_assert_false(strstr(defaults, "max-bandwidth=7340032;"));
    g_assert_false(strstr(defaults, "multifd-channels=3;"));
    g_assert_false(strstr(defaults, "direct-io=1;"));
    g_assert_false(strstr(defaults, "cpu-throttle-initial=30;"));
    g_assert_false(strstr(defaults, "cpu-throttle-increment=15;"));
    g_assert_true(!strcmp(c->compression, "none") ||
                  strstr(defaults, "multifd-compression=none;"));

    run_expect(ctl_save(&vm, img, c->save_opts), 0, NULL);
    g_autofree char *got = vm_owned_params(&vm);
    g_assert_cmpstr(got, ==, want);
    g_assert_false(vm_cap(&vm, "events"));
    for (int i = 0; caps[i]; i++) {
        g_assert_cmpint(vm_cap(&vm, caps[i]), ==, c->caps_on);
    }
    /* auto-converge is a source's: the destination is not told. */
    Run r = run_tool(img_bin, "info", "--output", "json", img, NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_null(strstr(r.out, "auto-converge"));
    run_clear(&r);
    vm_quit(&vm);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* --auto-converge: a live save of a guest that outruns the bandwidth */

#define CONVERGE_DEADLINE_MS 60000

/* The throttle query-migrate reports (0: none yet, or not migrating). */
static int64_t throttle_now(Vm *vm)
{
    g_autoptr(JsonNode) r = vm_cmd(vm, "{'execute': 'query-migrate'}");

    return qmp_get_int(r, "cpu-throttle-percentage");
}

/*
 * A 64 MiB guest rewriting 90% of its pages does not converge at 128 MiB/s
 * on its own (convergence-tests.c).  With --auto-converge-initial 50
 * --auto-converge-increment 25 the VM throttles it at 50, 75 and 99% (its
 * max-cpu-throttle) and the save completes.  The VM's own steps are
 * 30 and 15, so every throttle seen being one of those three shows both
 * options in force.  Afterwards the VM has its own settings back, and
 * the image restores to the same RAM.
 */
static void test_save_auto_converge(void)
{
    g_autofree char *img = scratch("converge.img");
    const char *const mini[] = { "-M", "mini", NULL };
    Vm src = { 0 }, dst = { 0 };
    bool seen[100] = { false };
    int status;

    vm_start_with(&src, "stress,share=90", mini);
    json_node_unref(vm_cmd(&src, "{'execute': 'migrate-set-parameters', "
                                 "'arguments': {'cpu-throttle-initial': 30, "
                                 "'cpu-throttle-increment': 15}}"));
    vm_let_run(&src, 200);
    int64_t deadline = g_get_monotonic_time() / 1000 + CONVERGE_DEADLINE_MS;
    GPid pid = ctl_save_async(&src, img,
                              "-q --keep-vm --live --auto-converge "
                              "--auto-converge-initial 50 "
                              "--auto-converge-increment 25 "
                              "--max-bandwidth 128M");
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (g_get_monotonic_time() / 1000 > deadline) {
            /* It cancels the save and gives the VM back. */
            kill(pid, SIGTERM);
            waitpid(pid, &status, 0);
            g_assert_cmpint(g_get_monotonic_time() / 1000, <=, deadline);
        }
        int64_t t = throttle_now(&src);
        g_assert_cmpint(t, >=, 0);
        g_assert_cmpint(t, <, 100);
        seen[t] = true;
        g_usleep(50 * 1000);
    }
    g_test_message("throttles seen: 50 %d, 75 %d, 99 %d", seen[50], seen[75],
                   seen[99]);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    g_assert_true(seen[50]);
    for (int t = 1; t < 100; t++) {
        g_assert_true(!seen[t] || t == 50 || t == 75 || t == 99);
    }

    g_autofree char *st = vm_status(&src);
    g_assert_cmpstr(st, ==, "postmigrate");
    g_assert_false(vm_cap(&src, "auto-converge"));
    g_autoptr(JsonNode) p =
        vm_cmd(&src, "{'execute': 'query-migrate-parameters'}");
    g_assert_cmpint(qmp_get_int(p, "cpu-throttle-initial"), ==, 30);
    g_assert_cmpint(qmp_get_int(p, "cpu-throttle-increment"), ==, 15);
    g_autofree char *want = vm_digests(&src);

    run_expect(ctl_restore(&dst, img, "-q --paused"), 0, NULL);
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, want);
    g_assert_false(vm_cap(&dst, "auto-converge"));
    vm_quit(&dst);
    vm_quit(&src);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* Failure points: killed at each commit step, a VM dying underneath */

static void set_max_bandwidth(Vm *vm, int64_t bw)
{
    json_node_unref(vm_cmd(vm,
                           "{'execute': 'migrate-set-parameters', "
                           "'arguments': {'max-bandwidth': %" PRId64 "}}",
                           bw));
}

static int64_t max_bandwidth(Vm *vm)
{
    g_autoptr(JsonNode) p =
        vm_cmd(vm, "{'execute': 'query-migrate-parameters'}");
    return qmp_get_int(p, "max-bandwidth");
}

/*
 * SIGKILL at a commit step of a save.  Before the rename the previous
 * image is intact; from the rename on the new one is in its place,
 * complete (checked and restored).  Either way: no temporary file, no
 * process, the VM's settings back.
 */
static void test_commit_kill(gconstpointer data)
{
    const char *point = data;
    g_autofree char *img = scratch("commit.img");
    Vm vm = { 0 }, dst = { 0 };
    int status;

    if (!ctl_test_bin) {
        g_test_skip("MAPMIG_CTL_TEST (mapmig-ctl-test) is not set");
        return;
    }
    g_assert_true(g_file_set_contents(img, "previous image", -1, NULL));
    g_autofree char *before = file_sha256(img);
    vm_start(&vm, "idle");
    vm_fill(&vm, true);
    g_autofree char *want = vm_digests(&vm);
    set_max_bandwidth(&vm, 96 * MiB);

    const char *args[] = { "save", "--qmp",    vm.sock,  img,
                           "-q",   "--layout", "mapped", "--parallel-channels",
                           "2",    NULL };
    GPid pid = ctl_spawn(ctl_test_bin, point, args);
    wait_stopped(pid);
    kill(pid, SIGKILL);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFSIGNALED(status));
    wait_no_strays();

    g_assert_cmpint(files_for(img), ==, 1);
    g_assert_cmpint(max_bandwidth(&vm), ==, 96 * MiB);
    g_autofree char *st = vm_status(&vm);
    g_test_message("VM after the kill at %s: %s", point, st);
    if (strcmp(point, "commit-renamed")) {
        g_autofree char *after = file_sha256(img);
        g_assert_cmpstr(after, ==, before);
        /* The save never happened: the guest goes on. */
        g_assert_cmpstr(st, ==, "running");
    } else {
        run_expect(run_tool(img_bin, "check", img, NULL), 0, NULL);
        run_expect(ctl_restore(&dst, img, "-q --paused"), 0, NULL);
        g_autofree char *got = vm_digests(&dst);
        g_assert_cmpstr(got, ==, want);
        vm_quit(&dst);
    }
    vm_quit(&vm);
    unlink(img);
}

/* The source VM SIGKILLed midway through a save. */
static void test_save_vm_dies(gconstpointer data)
{
    const char *layout = data;
    g_autofree char *img = scratch("vmdies.img");
    Vm vm = { 0 };
    int status;

    g_assert_true(g_file_set_contents(img, "previous image", -1, NULL));
    g_autofree char *before = file_sha256(img);
    /* 80 MiB of data at 4 MiB/s: surely midway when the VM dies. */
    vm_start(&vm, "ab");
    wait_ab_pass(&vm);
    const char *args[] = { "save",     "--qmp", vm.sock,           img,  "-q",
                           "--layout", layout,  "--max-bandwidth", "4M", NULL };
    GPid pid = ctl_spawn(ctl_bin, NULL, args);
    wait_midway(&vm, 1 * MiB);
    kill(vm.pid, SIGKILL);
    g_assert_true(vm_reap(&vm, WAIT_MS));
    qmp_client_free(vm.qmp);
    vm.qmp = NULL;

    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    wait_no_strays();
    g_autofree char *after = file_sha256(img);
    g_assert_cmpstr(after, ==, before);
    g_assert_cmpint(files_for(img), ==, 1);
    g_clear_pointer(&vm.sock, g_free);
    unlink(img);
}

/* The restored VM SIGKILLed while mapmig-ctl waits for its load. */
static void test_restore_vm_dies(void)
{
    g_autofree char *img = NULL;
    g_autofree char *sock = scratch("vd.sock");
    g_autofree char *log = scratch("vd.sock.log");
    g_autofree char *pidfile = scratch("vd.pid");
    g_autofree char *text = NULL;
    int status;

    if (!ctl_test_bin) {
        g_test_skip("MAPMIG_CTL_TEST (mapmig-ctl-test) is not set");
        return;
    }
    img = good_image("vd.img", "-q --layout mapped --parallel-channels 2");
    g_autofree char *before = file_sha256(img);
    const char *args[] = { "restore", img,        "--qmp", sock, "-q",
                           "--",      "-pidfile", pidfile, NULL };
    GPid pid = ctl_spawn(ctl_test_bin, "restore-loading", args);
    wait_stopped(pid);
    g_assert_true(g_file_get_contents(pidfile, &text, NULL, NULL));
    pid_t vm = atoi(text);
    g_assert_cmpint(vm, >, 0);
    track_pid(vm);
    kill(vm, SIGKILL);
    kill(pid, SIGCONT);

    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 1);
    /* mapmig-ctl reaped its VM, or we did (subreaper). */
    Vm v = { .pid = vm };
    g_assert_true(vm_reap(&v, WAIT_MS));
    wait_no_strays();
    g_assert_false(g_file_test(sock, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(log, G_FILE_TEST_EXISTS));
    g_autofree char *after = file_sha256(img);
    g_assert_cmpstr(after, ==, before);
    unlink(pidfile);
    unlink(img);
}

/* ---------------------------------------------------------------- */

static const RoundTrip roundtrips[] = {
    { "stream", 1, false, false }, { "stream", 1, false, true },
    { "stream", 1, true, false },  { "stream", 1, true, true },
    { "mapped", 1, false, false }, { "mapped", 1, false, true },
    { "mapped", 1, true, false },  { "mapped", 1, true, true },
    { "mapped", 4, false, false }, { "mapped", 4, false, true },
    { "mapped", 4, true, false },  { "mapped", 4, true, true },
};

/* ---------------------------------------------------------------- */
/* Lazy restore (--lazy): the VM runs before its RAM is in */

static void test_restore_lazy(gconstpointer data)
{
    const char *save_opts = data;
    g_autofree char *img = scratch("lazy.img");
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "stress,share=25");
    vm_fill(&src, true);
    vm_let_run(&src, 200);
    g_autofree char *opts = g_strdup_printf("-q --keep-vm %s", save_opts);
    run_expect(ctl_save(&src, img, opts), 0, NULL);
    g_autofree char *want = vm_digests(&src);

    run_expect(ctl_restore(&dst, img, "--lazy --paused"), 0, "resumed after");
    g_autofree char *st = vm_status(&dst);
    g_assert_cmpstr(st, ==, "paused");
    wait_lazy_loaded(&dst);
    g_autoptr(JsonNode) q = vm_cmd(&dst, "{'execute': 'query-migrate'}");
    JsonObject *lazy =
        json_object_get_object_member(json_node_get_object(q), "lazy-restore");
    g_assert_nonnull(lazy);
    g_assert_cmpint(json_object_get_int_member(lazy, "pages-loaded"), ==,
                    json_object_get_int_member(lazy, "pages-total"));
    g_autofree char *got = vm_digests(&dst);
    g_assert_cmpstr(got, ==, want);
    vm_quit(&dst);
    vm_quit(&src);
    unlink(img);
}

/* The ab guest runs while its pages come in, and finds each one right. */
static void test_restore_lazy_running(void)
{
    g_autofree char *img = scratch("lazy-run.img");
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "ab");
    vm_fill(&src, false);
    vm_let_run(&src, 300);
    run_expect(ctl_save(&src, img, "-q --parallel-channels 2"), 0, NULL);
    g_assert_true(vm_reap(&src, WAIT_MS));
    qmp_client_free(src.qmp);
    g_free(src.sock);

    run_expect(ctl_restore(&dst, img, "--lazy"), 0, "running");
    int64_t passes = ab_passes(&dst);
    wait_lazy_loaded(&dst);
    check_ab_goes_on(&dst, passes);
    vm_quit(&dst);
    unlink(img);
}

/* A stream has no page offsets to fault from: refused, no VM left. */
static void test_restore_lazy_stream(void)
{
    g_autofree char *img = scratch("lazy-stream.img");
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "idle");
    run_expect(ctl_save(&src, img, "-q --keep-vm --layout stream"), 0, NULL);
    Run r = ctl_restore(&dst, img, "--lazy");
    g_assert_cmpint(r.status, !=, 0);
    assert_contains(r.err, "lazy restore needs an image of the mapped layout");
    run_clear(&r);
    vm_quit(&src);
    unlink(img);
}

/* ---------------------------------------------------------------- */
/* A chain of generations: one guest through many saves and restores */

#define CHAIN_GENERATIONS 24

static gint sort_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in @dir, sorted, one a line (g_free). */
static char *dir_listing(const char *dir)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    DIR *d = opendir(dir);
    struct dirent *e;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            g_ptr_array_add(names, g_strdup(e->d_name));
        }
    }
    closedir(d);
    g_ptr_array_sort(names, sort_names);
    g_ptr_array_add(names, NULL);
    return g_strjoinv("\n", (char **)names->pdata);
}

/* Processes whose parent is this test (it is their subreaper). */
static int count_children(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;

    g_assert_nonnull(d);
    while ((e = readdir(d))) {
        g_autofree char *path = g_strdup_printf("/proc/%s/stat", e->d_name);
        g_autofree char *stat = NULL;
        if (!g_ascii_isdigit(e->d_name[0]) ||
            !g_file_get_contents(path, &stat, NULL, NULL)) {
            continue;
        }
        /* pid (comm) state ppid: comm may hold anything but ')'. */
        const char *rest = strrchr(stat, ')');
        int ppid = 0;
        if (rest && sscanf(rest + 1, " %*c %d", &ppid) == 1 &&
            ppid == getpid()) {
            n++;
        }
    }
    closedir(d);
    return n;
}

/* The processes left behind (guardians exit on their own) are gone. */
static void wait_children_gone(int want)
{
    for (int i = 0; i < WAIT_MS / 20; i++) {
        while (waitpid(-1, NULL, WNOHANG) > 0) {
            /* reap the guardians we adopted */
        }
        if (count_children() <= want) {
            return;
        }
        g_usleep(20 * 1000);
    }
    g_assert_cmpint(count_children(), <=, want);
}

/*
 * After a save without --keep-vm, the source quits by itself.  The log
 * mapmig-ctl restore kept beside its socket (if it started it) goes too.
 */
static void vm_forget_saved(Vm *vm)
{
    g_autofree char *log = g_strconcat(vm->sock, ".log", NULL);

    g_assert_true(vm_reap(vm, WAIT_MS));
    unlink(log);
    qmp_client_free(vm->qmp);
    vm->qmp = NULL;
    g_clear_pointer(&vm->sock, g_free);
}

/*
 * Generation @gen: layouts, channels, O_DIRECT, zstd and lazy restores
 * rotate so that every kind of save follows every kind of restore, in
 * particular a stream save after a lazy restore (lazy-restore must not
 * stay on, nor travel in the image).
 */
static char *chain_save_opts(int gen, bool dio, bool *mapped)
{
    *mapped = gen % 3 != 2;
    return g_strdup_printf("-q --layout %s --parallel-channels %d%s%s",
                           *mapped ? "mapped" : "stream",
                           *mapped && (gen / 3) % 2 ? 4 : 1,
                           dio && (gen / 2) % 2 ? " --bypass-cache" : "",
                           gen % 5 == 3 ? " --compress zstd" : "");
}

static void test_chain(void)
{
    g_autofree char *img = scratch("chain.img");
    g_autofree char *before = dir_listing(tmpdir);
    int children = count_children();
    bool dio = direct_io_ok();
    int lazy_then_stream = 0;
    bool last_lazy = false;
    Vm vm = { 0 };

    vm_start(&vm, "ab");
    vm_let_run(&vm, 200);
    check_ab_goes_on(&vm, ab_passes(&vm));
    for (int gen = 0; gen < CHAIN_GENERATIONS; gen++) {
        bool mapped;
        g_autofree char *sopts = chain_save_opts(gen, dio, &mapped);
        bool lazy = mapped && gen % 2 == 0;
        g_autofree char *ropts =
            g_strdup_printf("-q%s%s", lazy ? " --lazy" : "",
                            dio && (gen / 2) % 2 ? " --bypass-cache" : "");

        g_test_message("generation %d: save %s, restore %s", gen, sopts, ropts);
        lazy_then_stream += last_lazy && !mapped;
        run_expect(ctl_save(&vm, img, sopts), 0, NULL);
        vm_forget_saved(&vm);

        /* Only what the image's VM needs, never how it was loaded. */
        Run r = run_tool(img_bin, "info", "--output", "json", img, NULL);
        g_assert_cmpint(r.status, ==, 0);
        g_assert_null(strstr(r.out, "lazy-restore"));
        run_clear(&r);

        run_expect(ctl_restore(&vm, img, ropts), 0, NULL);
        g_autofree char *st = vm_status(&vm);
        g_assert_cmpstr(st, ==, "running");
        int64_t passes = ab_passes(&vm);
        if (lazy) {
            wait_lazy_loaded(&vm);
        }
        /* Consumed by the load: a later save must not inherit it. */
        g_assert_false(vm_cap(&vm, "lazy-restore"));
        check_ab_goes_on(&vm, passes);
        g_assert_cmpint(unlink(img), ==, 0);
        last_lazy = lazy;
    }
    g_assert_cmpint(lazy_then_stream, >=, 3);
    g_autofree char *log = g_strconcat(vm.sock, ".log", NULL);
    vm_quit(&vm);
    g_assert_cmpint(unlink(log), ==, 0);

    /* Nothing left: no temporary file, socket, pid file or process. */
    g_assert_cmpint(files_for(img), ==, 0);
    g_autofree char *after = dir_listing(tmpdir);
    g_assert_cmpstr(after, ==, before);
    wait_children_gone(children);
}

/* ---------------------------------------------------------------- */
/* --output json */

static void test_output_json(void)
{
    g_autofree char *img = scratch("json.img");
    g_autofree char *sock = scratch("json.sock");
    g_autofree char *pidfile = scratch("json.pid");
    g_autofree char *log = g_strconcat(sock, ".log", NULL);
    Vm src = { 0 }, dst = { 0 };

    vm_start(&src, "ab");
    vm_let_run(&src, 200);
    Run r = run_tool(ctl_bin, "save", "--qmp", src.sock, img, "--output",
                     "json", "--parallel-channels", "2", NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(JsonObject) s = parse_one_object(r.out);
    run_clear(&r);
    g_assert_cmpstr(json_object_get_string_member(s, "operation"), ==, "save");
    g_assert_cmpstr(json_object_get_string_member(s, "layout"), ==, "mapped");
    g_assert_cmpint(json_object_get_int_member(s, "channels"), ==, 2);
    g_assert_cmpint(json_object_get_int_member(s, "bytes"), >=, 64 << 20);
    g_assert_cmpint(json_object_get_int_member(s, "image-bytes"), >, 0);
    g_assert_cmpint(json_object_get_int_member(s, "time-ms"), >=, 0);
    g_assert_true(json_object_has_member(s, "mb-per-second"));
    g_assert_cmpstr(json_object_get_string_member(s, "vm"), ==, "quit");
    vm_forget_saved(&src);

    /* Lazy: the time to resume, and the rate of the whole load. */
    r = run_tool(ctl_bin, "restore", img, "--qmp", sock, "--lazy", "--output",
                 "json", "--", "-pidfile", pidfile, NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_autoptr(JsonObject) o = parse_one_object(r.out);
    g_assert_null(strstr(r.err, "restored "));
    run_clear(&r);
    vm_attach(&dst, sock, pidfile);
    g_assert_cmpstr(json_object_get_string_member(o, "operation"), ==,
                    "restore");
    g_assert_cmpstr(json_object_get_string_member(o, "qmp"), ==, sock);
    g_assert_cmpint(json_object_get_int_member(o, "pid"), ==, dst.pid);
    g_assert_true(json_object_get_boolean_member(o, "lazy"));
    int64_t resume = json_object_get_int_member(o, "time-to-resume-ms");
    int64_t ms = json_object_get_int_member(o, "time-ms");
    g_assert_cmpint(resume, >=, 0);
    g_assert_cmpint(resume, <=, ms);
    /* The rate of the whole load, not RAM over the time to resume. */
    g_assert_cmpint(json_object_get_int_member(o, "mb-per-second"), <=,
                    json_object_get_int_member(o, "bytes") / 1000 / MAX(ms, 1) +
                        1);
    /* mapmig-ctl waited for the whole load. */
    g_autoptr(JsonNode) q = vm_cmd(&dst, "{'execute': 'query-migrate'}");
    g_assert_cmpstr(qmp_get_str(q, "status"), ==, "completed");
    check_ab_goes_on(&dst, ab_passes(&dst));
    vm_quit(&dst);
    unlink(log);

    /* People: the same figures in words, no "effective" rate. */
    r = run_tool(ctl_bin, "restore", img, "--qmp", sock, "--lazy", "--paused",
                 "--", "-pidfile", pidfile, NULL);
    g_assert_cmpint(r.status, ==, 0);
    g_assert_cmpstr(g_strstrip(r.out), ==, sock);
    assert_contains(r.err, "resumed after ");
    assert_contains(r.err, "whole load ");
    g_assert_null(strstr(r.err, "effective"));
    run_clear(&r);
    vm_attach(&dst, sock, pidfile);
    vm_quit(&dst);
    unlink(log);

    run_expect(
        run_tool(ctl_bin, "save", "--qmp", sock, img, "--output", "yaml", NULL),
        2, "--output must be human or json");
    unlink(img);
}

/*
 * libvirt's options: -display none and -nodefaults describe the machine
 * and travel in the image; -nographic binds stdio, so it stays with its
 * process (save_image_option_is_per_instance()), as the docs list.
 */
static void test_per_instance_options(void)
{
    g_autofree char *img = scratch("options.img");
    const char *const extra[] = { "-display",    "none",
                                  "-nodefaults", "-no-user-config",
                                  "-nographic",  NULL };
    Vm src = { 0 }, dst = { 0 };

    vm_start_with(&src, "idle", extra);
    run_expect(ctl_save(&src, img, "-q"), 0, NULL);
    vm_forget_saved(&src);
    Run r = run_tool(img_bin, "info", img, NULL);
    g_assert_cmpint(r.status, ==, 0);
    assert_contains(r.out, "-display none -nodefaults -no-user-config");
    g_assert_null(strstr(r.out, "-nographic"));
    g_assert_null(strstr(r.out, "-serial"));
    g_assert_null(strstr(r.out, "-qmp"));
    run_clear(&r);
    run_expect(ctl_restore(&dst, img, "-q --paused"), 0, NULL);
    vm_quit(&dst);
    unlink(img);
}

/*
 * lazy-restore turned on by hand in a VM (it only means something to a
 * destination): mapmig-ctl turns it off for the save, in any layout, and
 * gives it back with --keep-vm.
 */
static void test_save_lazy_set_by_hand(void)
{
    g_autofree char *img = scratch("by-hand.img");
    Vm vm = { 0 };

    vm_start(&vm, "idle");
    g_autoptr(JsonNode) r = vm_cmd(
        &vm, "{'execute': 'migrate-set-capabilities', 'arguments': "
             "{'capabilities': [{'capability': 'mapped-ram', 'state': true},"
             " {'capability': 'lazy-restore', 'state': true}]}}");
    Run s = ctl_save(&vm, img, "-q --keep-vm --layout stream");
    g_assert_null(strstr(s.err, ": :"));
    run_expect(s, 0, NULL);
    g_assert_true(vm_cap(&vm, "lazy-restore"));
    Run i = run_tool(img_bin, "info", "--output", "json", img, NULL);
    g_assert_cmpint(i.status, ==, 0);
    g_assert_null(strstr(i.out, "lazy-restore"));
    run_clear(&i);
    vm_quit(&vm);
    unlink(img);
}

int main(int argc, char **argv)
{
    if (!harness_init(&argc, &argv, "test-ctl")) {
        return 1;
    }

    for (size_t i = 0; i < ARRAY_SIZE(roundtrips); i++) {
        const RoundTrip *t = &roundtrips[i];
        g_autofree char *path = g_strdup_printf(
            "/ctl/roundtrip/%s/channels-%d/%s/%s", t->layout, t->channels,
            t->bypass ? "bypass-cache" : "page-cache",
            t->zstd ? "zstd" : "none");
        g_test_add_data_func(path, t, test_roundtrip);
    }
    g_test_add_func("/ctl/roundtrip/running", test_roundtrip_running);
    g_test_add_func("/ctl/roundtrip/saved-paused", test_saved_paused);
    g_test_add_func("/ctl/vm-config", test_vm_config);
    g_test_add_func("/ctl/img-info", test_img_info);
    g_test_add_func("/ctl/save/refuse-stream-channels",
                    test_refuse_stream_channels);
    for (size_t i = 0; i < ARRAY_SIZE(damage_cases); i++) {
        g_test_add_data_func(damage_cases[i].path, &damage_cases[i],
                             test_damaged);
    }
    g_test_add_func("/ctl/restore/damage-set", test_damage_set);
    g_test_add_func("/ctl/restore/qmp-guard", test_restore_qmp_guard);
    g_test_add_func("/ctl/restore/sigkill", test_restore_sigkill);
    g_test_add_data_func("/ctl/restore/lazy/mapped", "--layout mapped",
                         test_restore_lazy);
    g_test_add_data_func("/ctl/restore/lazy/mapped-zstd",
                         "--layout mapped --compress zstd", test_restore_lazy);
    g_test_add_func("/ctl/restore/lazy/running-ab", test_restore_lazy_running);
    g_test_add_func("/ctl/restore/lazy/refuse-stream",
                    test_restore_lazy_stream);
    g_test_add_func("/ctl/save/enospc", test_enospc);
    g_test_add_func("/ctl/save/compress-in-place", test_compress_in_place);
    for (size_t i = 0; i < ARRAY_SIZE(interrupt_cases); i++) {
        g_test_add_data_func(interrupt_cases[i].path, &interrupt_cases[i],
                             test_interrupted);
    }
    g_test_add_data_func("/ctl/save/kill-at/commit-synced", "commit-synced",
                         test_commit_kill);
    g_test_add_data_func("/ctl/save/kill-at/commit-final", "commit-final",
                         test_commit_kill);
    g_test_add_data_func("/ctl/save/kill-at/commit-renamed", "commit-renamed",
                         test_commit_kill);
    g_test_add_data_func("/ctl/save/source-vm-dies/stream", "stream",
                         test_save_vm_dies);
    g_test_add_data_func("/ctl/save/source-vm-dies/mapped", "mapped",
                         test_save_vm_dies);
    g_test_add_func("/ctl/restore/vm-dies-while-loading", test_restore_vm_dies);
    for (size_t i = 0; i < ARRAY_SIZE(settings_cases); i++) {
        g_test_add_data_func(settings_cases[i].path, &settings_cases[i],
                             test_settings_restored);
    }
    g_test_add_func("/ctl/save/auto-converge", test_save_auto_converge);
    g_test_add_func("/ctl/chain", test_chain);
    g_test_add_func("/ctl/output-json", test_output_json);
    g_test_add_func("/ctl/save/per-instance-options",
                    test_per_instance_options);
    g_test_add_func("/ctl/save/lazy-set-by-hand", test_save_lazy_set_by_hand);
    int ret = g_test_run();
    cleanup();
    return ret;
}
