/*
 * mapmig-img tests: files written by mapmig (stream and mapped-ram) and,
 * when it is installed, by QEMU 7.2; info/check/extract/convert, loading
 * converted files back into mapmig, and damaged files.
 *
 * Environment: MAPMIG_BINARY (the VM), MAPMIG_IMG (the tool).
 */
#include "qemu/osdep.h"
#include "qapi/qmp-client.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *mapmig_bin;
static const char *img_bin;
static char *tmpdir;

typedef struct Files {
    bool done;
    char *stream;         /* mapmig stream layout */
    char *mapped;         /* mapmig mapped-ram layout */
    char *stream_digests; /* "id=sha256;..." of the source */
    char *mapped_digests;
    char *stream_pcram; /* sha256 of pc.ram */
    char *mapped_pcram;
} Files;

static Files files;

typedef struct Vm {
    GPid pid;
    QMPClient *qmp;
} Vm;

static void vm_start(Vm *vm, const char *const *extra)
{
    g_autofree char *sock = g_strdup_printf("%s/qmp-%d.sock", tmpdir,
                                            g_random_int_range(0, 1 << 30));
    g_autofree char *qmparg =
        g_strdup_printf("unix:%s,server=on,wait=off", sock);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *err = NULL;

    g_ptr_array_add(argv, (char *)mapmig_bin);
    g_ptr_array_add(argv, (char *)"-m");
    g_ptr_array_add(argv, (char *)"64M");
    g_ptr_array_add(argv, (char *)"-qmp");
    g_ptr_array_add(argv, qmparg);
    for (int i = 0; extra && extra[i]; i++) {
        g_ptr_array_add(argv, (char *)extra[i]);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async(NULL, (char **)argv->pdata, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &vm->pid,
                                &err));
    vm->qmp = qmp_client_connect(sock, 10000, &err);
    g_assert_no_error(err);
}

static void vm_stop(Vm *vm)
{
    GError *err = NULL;
    JsonNode *r = qmp_client_cmdf(vm->qmp, &err, "{'execute': 'quit'}");
    if (r) {
        json_node_unref(r);
    }
    g_clear_error(&err);
    qmp_client_free(vm->qmp);
    int status;
    for (int i = 0; i < 100; i++) {
        if (waitpid(vm->pid, &status, WNOHANG) == vm->pid) {
            return;
        }
        g_usleep(50 * 1000);
    }
    kill(vm->pid, SIGKILL);
    waitpid(vm->pid, &status, 0);
}

static JsonNode *cmd(Vm *vm, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static JsonNode *cmd(Vm *vm, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    GError *err = NULL;
    JsonNode *r = qmp_client_cmdf(vm->qmp, &err, "%s", text);
    g_assert_no_error(err);
    return r;
}

static void cmd_ok(Vm *vm, const char *text)
{
    json_node_unref(cmd(vm, "%s", text));
}

static void wait_migration(Vm *vm)
{
    for (int i = 0; i < 6000; i++) {
        JsonNode *r = cmd(vm, "{'execute': 'query-migrate'}");
        const char *st = qmp_get_str(r, "status");
        g_autofree char *s = g_strdup(st ? st : "");
        json_node_unref(r);
        if (!strcmp(s, "completed")) {
            return;
        }
        g_assert_cmpstr(s, !=, "failed");
        g_usleep(20 * 1000);
    }
    g_assert_not_reached();
}

/* Migrate to @uri and wait until it completed. */
static void vm_migrate(Vm *vm, const char *uri)
{
    json_node_unref(
        cmd(vm, "{'execute': 'migrate', 'arguments': {'uri': '%s'}}", uri));
    wait_migration(vm);
}

/* "id=sha;id=sha;" of x-query-ram-digest; *pcram gets pc.ram's. */
static char *ram_digests(Vm *vm, char **pcram)
{
    JsonNode *r = cmd(vm, "{'execute': 'x-query-ram-digest'}");
    JsonArray *a = json_node_get_array(r);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        const char *id = json_object_get_string_member(o, "id");
        const char *sha = json_object_get_string_member(o, "sha256");
        g_string_append_printf(s, "%s=%s;", id, sha);
        if (pcram && !strcmp(id, "pc.ram")) {
            *pcram = g_strdup(sha);
        }
    }
    json_node_unref(r);
    return g_string_free(s, false);
}

static void set_mapped_ram(Vm *vm)
{
    cmd_ok(vm,
           "{'execute': 'migrate-set-capabilities', 'arguments': "
           "{'capabilities': [{'capability': 'mapped-ram', 'state': true}]}}");
}

/*
 * Save a stopped VM whose every block holds x-fill-ram's pattern (every
 * page distinct, some zero; docs/interop/qmp.rst), written over what the
 * stress workload left.
 */
static void save_vm(bool mapped, const char *path, char **digests, char **pcram)
{
    static const char *const extra[] = { "-workload", "stress", NULL };
    g_autofree char *uri = g_strdup_printf("file:%s", path);
    Vm vm;

    vm_start(&vm, extra);
    g_usleep(300 * 1000);
    cmd_ok(&vm, "{'execute': 'stop'}");
    cmd_ok(&vm, "{'execute': 'x-fill-ram', 'arguments': "
                "{'generation': 1, 'zero-stride': 7}}");
    if (mapped) {
        set_mapped_ram(&vm);
    }
    cmd_ok(&vm, "{'execute': 'migrate-set-parameters', 'arguments': "
                "{'max-bandwidth': 0}}");
    vm_migrate(&vm, uri);
    *digests = ram_digests(&vm, pcram);
    vm_stop(&vm);
}

/* Load @path into a fresh destination and return its digests. */
static char *load_vm(bool mapped, const char *path)
{
    static const char *const extra[] = { "-S", "-incoming", "defer", NULL };
    Vm vm;

    vm_start(&vm, extra);
    if (mapped) {
        set_mapped_ram(&vm);
    }
    json_node_unref(cmd(&vm,
                        "{'execute': 'migrate-incoming', 'arguments': "
                        "{'uri': 'file:%s'}}",
                        path));
    wait_migration(&vm);
    char *d = ram_digests(&vm, NULL);
    vm_stop(&vm);
    return d;
}

static void need_files(void)
{
    if (files.done) {
        return;
    }
    files.stream = g_build_filename(tmpdir, "stream.sav", NULL);
    files.mapped = g_build_filename(tmpdir, "mapped.sav", NULL);
    save_vm(false, files.stream, &files.stream_digests, &files.stream_pcram);
    save_vm(true, files.mapped, &files.mapped_digests, &files.mapped_pcram);
    files.done = true;
}

/* Run mapmig-img; returns the exit status (-1: killed by a signal). */
static int run_img(char **out, char **err, const char *first, ...)
{
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    va_list ap;
    int status;
    GError *e = NULL;
    char *o = NULL, *x = NULL;

    g_ptr_array_add(argv, (char *)img_bin);
    va_start(ap, first);
    for (const char *a = first; a; a = va_arg(ap, const char *)) {
        g_ptr_array_add(argv, (char *)a);
    }
    va_end(ap);
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_sync(NULL, (char **)argv->pdata, NULL, 0, NULL, NULL,
                               &o, &x, &status, &e));
    g_assert_no_error(e);
    if (out) {
        *out = o;
    } else {
        g_free(o);
    }
    if (err) {
        *err = x;
    } else {
        g_free(x);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *file_sha256(const char *path)
{
    g_autofree char *data = NULL;
    gsize len;
    GError *err = NULL;

    g_assert_true(g_file_get_contents(path, &data, &len, &err));
    return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
}

static void assert_check_ok(const char *path)
{
    g_autofree char *out = NULL, *err = NULL;
    int rc = run_img(&out, &err, "check", path, NULL);
    if (rc) {
        g_printerr("check %s: %s%s\n", path, out, err);
    }
    g_assert_cmpint(rc, ==, 0);
    g_assert_nonnull(strstr(out, "No errors were found on the migration "
                                 "file."));
}

static void test_layout(bool mapped)
{
    need_files();
    const char *path = mapped ? files.mapped : files.stream;
    g_autofree char *out = NULL, *json = NULL;
    g_autofree char *ram = g_build_filename(tmpdir, "pc.ram", NULL);

    g_assert_cmpint(run_img(&out, NULL, "info", path, NULL), ==, 0);
    g_assert_nonnull(
        strstr(out, mapped ? "layout: mapped-ram" : "layout: stream"));
    g_assert_nonnull(strstr(out, "machine type: mini"));
    g_assert_nonnull(strstr(out, "pc.ram"));
    g_assert_nonnull(strstr(out, "globalstate"));
    g_assert_nonnull(strstr(out, "VM description: present"));
    g_assert_cmpint(
        run_img(&json, NULL, "info", path, "--output", "json", NULL), ==, 0);
    g_autoptr(JsonParser) p = json_parser_new();
    g_assert_true(json_parser_load_from_data(p, json, -1, NULL));
    JsonObject *o = json_node_get_object(json_parser_get_root(p));
    g_assert_cmpstr(json_object_get_string_member(o, "layout"), ==,
                    mapped ? "mapped-ram" : "stream");
    JsonArray *blocks = json_object_get_array_member(o, "ram-blocks");
    JsonObject *b0 = json_array_get_object_element(blocks, 0);
    g_assert_cmpstr(json_object_get_string_member(b0, "name"), ==, "pc.ram");
    g_assert_cmpint(json_object_get_int_member(b0, "size"), ==, 64 * MiB);
    if (mapped) {
        g_assert_cmpint(json_object_get_int_member(b0, "pages-offset") % MiB,
                        ==, 0);
        g_assert_cmpint(json_object_get_int_member(b0, "present-pages"), >, 0);
    } else {
        g_assert_cmpint(json_object_get_int_member(b0, "page-records"), >, 0);
    }
    assert_check_ok(path);

    g_assert_cmpint(run_img(NULL, NULL, "extract", path, "--block", "pc.ram",
                            "-o", ram, NULL),
                    ==, 0);
    g_autofree char *sha = file_sha256(ram);
    g_assert_cmpstr(sha, ==, mapped ? files.mapped_pcram : files.stream_pcram);
    unlink(ram);
}

static void test_layout_data(gconstpointer data)
{
    test_layout(GPOINTER_TO_INT(data));
}

static void test_convert(void)
{
    need_files();
    g_autofree char *m = g_build_filename(tmpdir, "conv-m.sav", NULL);
    g_autofree char *s = g_build_filename(tmpdir, "conv-s.sav", NULL);
    g_autofree char *ms = g_build_filename(tmpdir, "conv-ms.sav", NULL);

    /* stream -> mapped-ram -> stream */
    g_assert_cmpint(run_img(NULL, NULL, "convert", files.stream, "-O",
                            "mapped-ram", m, NULL),
                    ==, 0);
    assert_check_ok(m);
    g_assert_cmpint(run_img(NULL, NULL, "convert", m, "-O", "stream", s, NULL),
                    ==, 0);
    assert_check_ok(s);
    g_autofree char *dm = load_vm(true, m);
    g_assert_cmpstr(dm, ==, files.stream_digests);
    g_autofree char *ds = load_vm(false, s);
    g_assert_cmpstr(ds, ==, files.stream_digests);

    /* a file mapmig wrote as mapped-ram, to the stream layout */
    g_assert_cmpint(
        run_img(NULL, NULL, "convert", files.mapped, "-O", "stream", ms, NULL),
        ==, 0);
    assert_check_ok(ms);
    g_autofree char *dms = load_vm(false, ms);
    g_assert_cmpstr(dms, ==, files.mapped_digests);

    /* converting to the layout it already has is refused */
    g_autofree char *err = NULL;
    g_assert_cmpint(
        run_img(NULL, &err, "convert", files.stream, "-O", "stream", ms, NULL),
        ==, 1);
    g_assert_nonnull(strstr(err, "already"));
    unlink(m);
    unlink(s);
    unlink(ms);
}

/* @len bytes of @data to @path, replacing it (no fsync: scratch). */
static void write_scratch(const char *path, const char *data, gsize len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(write(fd, data, len), ==, (gssize)len);
    close(fd);
}

/* @orig's first @len bytes, with bit 6 of byte @flip flipped if >= 0. */
static void check_damaged(char *orig, gsize size, const char *dmg, gsize len,
                          gssize flip)
{
    g_assert_cmpuint(len, <=, size);
    if (flip >= 0) {
        orig[flip] ^= 0x40;
    }
    write_scratch(dmg, orig, len);
    if (flip >= 0) {
        orig[flip] ^= 0x40;
    }
    g_autofree char *out = NULL, *err = NULL;
    int rc = run_img(&out, &err, "check", dmg, NULL);
    /* Sanitizer builds: a report must fail the test, not pass as exit 1. */
    g_assert_null(strstr(err, "Sanitizer"));
    g_assert_null(strstr(err, "runtime error"));
    if (rc != 1) {
        g_printerr("damaged (len %zu flip %zd) gave %d: %s\n", len, flip, rc,
                   out);
    }
    g_assert_cmpint(rc, ==, 1);
    /* The finding is an error: said once, on stderr. */
    g_assert_nonnull(strstr(err, "offset 0x"));
    g_assert_cmpstr(out, ==, "");
    /* info and extract must fail cleanly too */
    g_autofree char *raw = g_build_filename(tmpdir, "dmg.ram", NULL);
    g_assert_cmpint(run_img(NULL, NULL, "info", dmg, NULL), ==, 1);
    g_assert_cmpint(run_img(NULL, NULL, "extract", dmg, "--block", "pc.ram",
                            "-o", raw, NULL),
                    ==, 1);
}

static void test_damaged(void)
{
    need_files();
    g_autofree char *dmg = g_build_filename(tmpdir, "damaged.sav", NULL);

    for (int l = 0; l < 2; l++) {
        const char *path = l ? files.mapped : files.stream;
        g_autofree char *orig = NULL;
        gsize size;

        g_assert_true(g_file_get_contents(path, &orig, &size, NULL));
        /* truncations: header, RAM section, devices, EOF, vmdesc */
        gsize cuts[] = { 0,        3,          9,          40,      size / 3,
                         size / 2, size - 600, size - 100, size - 1 };
        for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
            check_damaged(orig, size, dmg, cuts[i], -1);
        }
        /* bit flips in framing: magic, version, config, first records */
        gssize flips[] = { 0, 7, 8, 12, 17, 21, 30, 40 };
        for (size_t i = 0; i < G_N_ELEMENTS(flips); i++) {
            check_damaged(orig, size, dmg, size, flips[i]);
        }
    }
    unlink(dmg);
}

static void test_options(void)
{
    g_autofree char *out = NULL, *err = NULL, *err2 = NULL, *err3 = NULL;

    g_assert_cmpint(run_img(&out, NULL, "--help", NULL), ==, 0);
    g_assert_nonnull(strstr(out, "Usage: mapmig-img"));
    g_assert_cmpint(run_img(NULL, &err, "info", "/nonexistent/x.sav", NULL), ==,
                    1);
    g_assert_nonnull(strstr(err, "No such file"));
    /* Usage errors: 2 (tests/tools has the full table). */
    g_assert_cmpint(run_img(NULL, &err2, "info", "--bogus", "x", NULL), ==, 2);
    g_assert_cmpint(run_img(NULL, &err3, "frobnicate", NULL), ==, 2);
    g_assert_nonnull(strstr(err3, "unknown command"));
    g_assert_cmpint(run_img(NULL, NULL, "info", "x", "--offset", "zz", NULL),
                    ==, 2);
    g_assert_cmpint(run_img(NULL, NULL, "extract", "x", NULL), ==, 2);
}

static void test_offset(void)
{
    need_files();
    g_autofree char *data = NULL;
    gsize size;
    GError *e = NULL;
    g_autofree char *path = g_build_filename(tmpdir, "offset.sav", NULL);

    /* A management header before a stream-layout file. */
    g_assert_true(g_file_get_contents(files.stream, &data, &size, &e));
    GString *s = g_string_new("LibvirtQemudSave");
    g_string_set_size(s, 4096);
    g_string_append_len(s, data, size);
    g_assert_true(g_file_set_contents(path, s->str, s->len, &e));
    g_string_free(s, true);
    g_assert_cmpint(run_img(NULL, NULL, "check", path, NULL), ==, 1);
    g_assert_cmpint(run_img(NULL, NULL, "check", path, "--offset", "4k", NULL),
                    ==, 0);
    unlink(path);
}

/*
 * x-ignore-shared with mapped-ram: the shared file-backed block gets a
 * header with both offsets 0 and nothing else; the tool says so and
 * refuses to extract memory that is not in the file.
 */
static void test_ignore_shared(void)
{
    g_autofree char *ram = g_build_filename(tmpdir, "shared-ram", NULL);
    g_autofree char *sav = g_build_filename(tmpdir, "ignore-shared.sav", NULL);
    g_autofree char *raw = g_build_filename(tmpdir, "ignored.raw", NULL);
    g_autofree char *obj = g_strdup_printf(
        "memory-backend-file,id=mem0,size=64M,mem-path=%s,share=on", ram);
    const char *extra[] = { "-M", "none",     "-object",
                            obj,  "-machine", "memory-backend=mem0",
                            "-S", NULL };
    g_autofree char *out = NULL, *err = NULL;
    Vm vm;

    g_autofree char *uri = g_strdup_printf("file:%s", sav);

    vm_start(&vm, extra);
    cmd_ok(&vm, "{'execute': 'migrate-set-capabilities', 'arguments': "
                "{'capabilities': [{'capability': 'mapped-ram', 'state': true},"
                " {'capability': 'x-ignore-shared', 'state': true}]}}");
    vm_migrate(&vm, uri);
    vm_stop(&vm);

    g_assert_cmpint(run_img(&out, NULL, "info", sav, NULL), ==, 0);
    g_assert_nonnull(strstr(out, "not in the file: shared memory"));
    assert_check_ok(sav);
    g_assert_cmpint(
        run_img(NULL, &err, "extract", sav, "--block", "mem0", "-o", raw, NULL),
        ==, 1);
    g_assert_nonnull(strstr(err, "x-ignore-shared left it in the shared file"));
    g_assert_false(g_file_test(raw, G_FILE_TEST_EXISTS));
    unlink(sav);
    unlink(ram);
}

/* ---- QEMU 7.2 interoperability ---- */

#define SEABIOS "/usr/share/seabios/bios-256k.bin"

/* Uniform, zero and varied pages: PAGE and ZERO records. */
static void fill_uniform_varied(uint8_t *pat, gsize size)
{
    memset(pat, 0, size);
    for (gsize p = 0; p < size / 4096; p++) {
        uint8_t *pg = pat + p * 4096;
        if (p % 5 == 0) {
            memset(pg, 0xff, 4096);
        } else if (p % 5 == 1) {
            for (int i = 0; i < 4096; i++) {
                pg[i] = (uint8_t)(p * 31 + i);
            }
        }
    }
}

/* Every fourth page zero, the rest distinct 8-byte words. */
static void fill_words(uint8_t *buf, gsize size)
{
    for (gsize i = 0; i < size / 8; i++) {
        uint64_t v = (i / 512) % 4 ? i * 0x9e3779b97f4a7c15ULL : 0;
        memcpy(buf + i * 8, &v, 8);
    }
}

/* Start QEMU 7.2 with -nodefaults -nographic -qmp and @args. */
static void qemu_spawn(Vm *vm, const char *qemu, const char *const *args)
{
    g_autofree char *sock = g_strdup_printf("%s/qemu-%d.sock", tmpdir,
                                            g_random_int_range(0, 1 << 30));
    g_autofree char *qmparg =
        g_strdup_printf("unix:%s,server=on,wait=off", sock);
    g_autoptr(GPtrArray) argv = g_ptr_array_new();
    GError *err = NULL;
    int devnull = open("/dev/null", O_RDWR);

    g_ptr_array_add(argv, (char *)qemu);
    g_ptr_array_add(argv, (char *)"-nodefaults");
    g_ptr_array_add(argv, (char *)"-nographic");
    g_ptr_array_add(argv, (char *)"-qmp");
    g_ptr_array_add(argv, qmparg);
    for (int i = 0; args[i]; i++) {
        g_ptr_array_add(argv, (char *)args[i]);
    }
    g_ptr_array_add(argv, NULL);
    g_assert_true(g_spawn_async_with_fds(NULL, (char **)argv->pdata, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL,
                                         &vm->pid, devnull, -1, -1, &err));
    close(devnull);
    g_assert_no_error(err);
    vm->qmp = qmp_client_connect(sock, 10000, &err);
    g_assert_no_error(err);
}

/* @raw's sha256 is @want's. */
static void assert_extract(const char *sav, const char *block, const char *raw,
                           const char *want)
{
    g_assert_cmpint(
        run_img(NULL, NULL, "extract", sav, "--block", block, "-o", raw, NULL),
        ==, 0);
    g_autofree char *got = file_sha256(raw);
    g_assert_cmpstr(got, ==, want);
}

/*
 * A QEMU 7.2 guest, stopped, saves with exec:cat; its main RAM is block
 * mem0, a shared file holding a pattern.  mapmig-img reads the file.
 */
typedef struct QemuSaveCase {
    const char *path;
    /* QEMU's options; "@OBJ@" is mem0's -object. */
    const char *args[12];
    gsize size;
    void (*pattern)(uint8_t *buf, gsize size);
    const char *info[5]; /* what mapmig-img info says */
    const char *needs;   /* a file the case needs, or NULL */
    /* A block that must come out as the file @block_file. */
    const char *block;
    const char *block_file;
    /* Also through the mapped-ram layout and back. */
    bool convert;
} QemuSaveCase;

static const QemuSaveCase qemu_save_cases[] = {
    { .path = "/img/qemu72/none",
      .args = { "-M", "none", "-m", "32M", "-S", "-object", "@OBJ@", "-machine",
                "memory-backend=mem0" },
      .size = 32 * MiB,
      .pattern = fill_uniform_varied,
      .info = { "machine type: none", "mem0", "timer", "globalstate" },
      .convert = true },
    /*
     * -M pc: 30 device sections the tool only knows from the VM
     * description, several RAM blocks; the BIOS ROM block comes out byte
     * for byte too.
     */
    { .path = "/img/qemu72/pc",
      .args = { "-M", "pc", "-m", "64M", "-S", "-object", "@OBJ@", "-machine",
                "memory-backend=mem0", "-bios", SEABIOS },
      .size = 64 * MiB,
      .pattern = fill_words,
      .info = { "machine type: pc-i440fx-7.2", "mem0", "pc.bios", "piix4_pm" },
      .needs = SEABIOS,
      .block = "pc.bios",
      .block_file = SEABIOS },
};

static void test_qemu_save(gconstpointer data)
{
    const QemuSaveCase *c = data;
    g_autofree char *qemu = g_find_program_in_path("qemu-system-x86_64");
    if (!qemu) {
        g_test_skip("qemu-system-x86_64 is not installed");
        return;
    }
    if (c->needs && !g_file_test(c->needs, G_FILE_TEST_EXISTS)) {
        g_autofree char *why = g_strdup_printf("%s is not installed", c->needs);
        g_test_skip(why);
        return;
    }
    g_autofree char *mem = g_build_filename(tmpdir, "qemu-mem0", NULL);
    g_autofree char *sav = g_build_filename(tmpdir, "qemu.sav", NULL);
    g_autofree char *raw = g_build_filename(tmpdir, "qemu-mem0.raw", NULL);
    g_autofree char *uri = g_strdup_printf("exec:cat > %s", sav);
    g_autofree char *obj =
        g_strdup_printf("memory-backend-file,id=mem0,size=%" G_GSIZE_FORMAT
                        ",mem-path=%s,share=on",
                        c->size, mem);
    g_autofree uint8_t *pat = g_malloc(c->size);
    const char *args[G_N_ELEMENTS(c->args) + 1] = { NULL };
    Vm vm;

    c->pattern(pat, c->size);
    g_assert_true(g_file_set_contents(mem, (char *)pat, c->size, NULL));
    for (size_t i = 0; c->args[i]; i++) {
        args[i] = strcmp(c->args[i], "@OBJ@") ? c->args[i] : obj;
    }
    qemu_spawn(&vm, qemu, args);
    cmd_ok(&vm, "{'execute': 'migrate-set-parameters', 'arguments': "
                "{'max-bandwidth': 1099511627776}}");
    vm_migrate(&vm, uri);
    vm_stop(&vm);

    g_autofree char *out = NULL;
    g_assert_cmpint(run_img(&out, NULL, "info", sav, NULL), ==, 0);
    for (size_t i = 0; c->info[i]; i++) {
        g_assert_nonnull(strstr(out, c->info[i]));
    }
    g_assert_null(strstr(out, "footer scan"));
    assert_check_ok(sav);
    g_autofree char *want =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, pat, c->size);
    assert_extract(sav, "mem0", raw, want);
    if (c->block) {
        g_autofree char *block_want = file_sha256(c->block_file);
        assert_extract(sav, c->block, raw, block_want);
    }
    if (c->convert) {
        g_autofree char *m = g_build_filename(tmpdir, "qemu-m.sav", NULL);
        g_autofree char *s = g_build_filename(tmpdir, "qemu-s.sav", NULL);

        g_assert_cmpint(
            run_img(NULL, NULL, "convert", sav, "-O", "mapped-ram", m, NULL),
            ==, 0);
        assert_check_ok(m);
        g_assert_cmpint(
            run_img(NULL, NULL, "convert", m, "-O", "stream", s, NULL), ==, 0);
        assert_check_ok(s);
        assert_extract(s, "mem0", raw, want);
        unlink(m);
        unlink(s);
    }
    unlink(mem);
    unlink(sav);
    unlink(raw);
}

/*
 * QEMU 7.2 has no mapped-ram: a mapmig mapped-ram file converted to the
 * stream layout loads into it, and QEMU ends with the guest's RAM.
 */
static void test_qemu72_from_mapped_ram(void)
{
    g_autofree char *qemu = g_find_program_in_path("qemu-system-x86_64");
    if (!qemu) {
        g_test_skip("qemu-system-x86_64 is not installed");
        return;
    }
    g_autofree char *mem = g_build_filename(tmpdir, "guest-ram", NULL);
    g_autofree char *mr = g_build_filename(tmpdir, "mr.sav", NULL);
    g_autofree char *mr_uri = g_strdup_printf("file:%s", mr);
    g_autofree char *st = g_build_filename(tmpdir, "mr-stream.sav", NULL);
    g_autofree char *dump = g_build_filename(tmpdir, "pmemsave", NULL);
    /* share=off: mapmig's RAM starts as the file, named "ram" as -m's. */
    g_autofree char *obj =
        g_strdup_printf("memory-backend-file,id=ram,size=64M,mem-path=%s", mem);
    const char *const mapmig_args[] = { "-M", "none",     "-object",
                                        obj,  "-machine", "memory-backend=ram",
                                        "-S", NULL };
    const char *const qemu_args[] = { "-M", "none",      "-m",    "64M",
                                      "-S", "-incoming", "defer", NULL };
    const gsize size = 64 * MiB;
    g_autofree uint8_t *pat = g_malloc(size);
    Vm vm;

    fill_words(pat, size);
    g_assert_true(g_file_set_contents(mem, (char *)pat, size, NULL));
    vm_start(&vm, mapmig_args);
    set_mapped_ram(&vm);
    vm_migrate(&vm, mr_uri);
    vm_stop(&vm);
    g_assert_cmpint(
        run_img(NULL, NULL, "convert", mr, "-O", "stream", st, NULL), ==, 0);

    qemu_spawn(&vm, qemu, qemu_args);
    json_node_unref(cmd(&vm,
                        "{'execute': 'migrate-incoming', 'arguments': "
                        "{'uri': 'exec:cat %s'}}",
                        st));
    wait_migration(&vm);
    json_node_unref(cmd(&vm,
                        "{'execute': 'pmemsave', 'arguments': {'val': 0, "
                        "'size': %" G_GSIZE_FORMAT ", 'filename': '%s'}}",
                        size, dump));
    vm_stop(&vm);
    g_autofree char *got = file_sha256(dump);
    g_autofree char *want =
        g_compute_checksum_for_data(G_CHECKSUM_SHA256, pat, size);
    g_assert_cmpstr(got, ==, want);
    unlink(mem);
    unlink(mr);
    unlink(st);
    unlink(dump);
}

static void cleanup_dir(void)
{
    g_autoptr(GDir) d = g_dir_open(tmpdir, 0, NULL);
    const char *n;
    while (d && (n = g_dir_read_name(d))) {
        g_autofree char *p = g_build_filename(tmpdir, n, NULL);
        unlink(p);
    }
    rmdir(tmpdir);
}

/* A failed assertion: the scratch files (in memory) go too. */
static void on_abort(int sig)
{
    cleanup_dir();
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGPIPE, SIG_IGN);
    mapmig_bin = g_getenv("MAPMIG_BINARY");
    img_bin = g_getenv("MAPMIG_IMG");
    if (!mapmig_bin || !img_bin) {
        g_printerr("MAPMIG_BINARY and MAPMIG_IMG must be set\n");
        return 1;
    }
    /*
     * Scratch files in memory when possible: the saved files hold data in
     * every page, and a disk would make each save wait for its sync.
     */
    if (!g_getenv("TMPDIR") && g_file_test("/dev/shm", G_FILE_TEST_IS_DIR)) {
        tmpdir = g_strdup("/dev/shm/mapmig-img-XXXXXX");
        tmpdir = g_mkdtemp(tmpdir);
    } else {
        tmpdir = g_dir_make_tmp("mapmig-img-XXXXXX", NULL);
    }
    g_assert_nonnull(tmpdir);
    signal(SIGABRT, on_abort);

    g_test_add_func("/img/options", test_options);
    g_test_add_data_func("/img/stream/info-check-extract", GINT_TO_POINTER(0),
                         test_layout_data);
    g_test_add_data_func("/img/mapped-ram/info-check-extract",
                         GINT_TO_POINTER(1), test_layout_data);
    g_test_add_func("/img/convert/roundtrip-load", test_convert);
    g_test_add_func("/img/check/damaged", test_damaged);
    g_test_add_func("/img/offset", test_offset);
    g_test_add_func("/img/mapped-ram/ignore-shared", test_ignore_shared);
    for (size_t i = 0; i < G_N_ELEMENTS(qemu_save_cases); i++) {
        g_test_add_data_func(qemu_save_cases[i].path, &qemu_save_cases[i],
                             test_qemu_save);
    }
    g_test_add_func("/img/qemu72/from-mapped-ram", test_qemu72_from_mapped_ram);
    int rc = g_test_run();
    cleanup_dir();
    return rc;
}
