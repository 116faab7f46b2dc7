/*
 * A stand-in for libFuzzer's main(), as its StandaloneFuzzTargetMain.c:
 * runs LLVMFuzzerTestOneInput() once on every file named on the command
 * line (directories: on each regular file in them, sorted by name).  The
 * harnesses are linked with it in normal builds, so `make check` runs
 * each over its corpus (the seeds saved by gen-seeds.c and the files of
 * tests/fuzz/corpus/), and a crash found by the fuzzer reproduces with
 * `build/tests/fuzz/fuzz-NAME-smoke FILE`.
 *
 *   fuzz-NAME-smoke [--min-ok N] FILE|DIR...
 *
 * Exits 0 when every input ran (a harness aborts on a failure) and at
 * least N of them were accepted by the parser (fuzz_check_result() with
 * success: real saves must load, or the harness VM does not match the
 * seeds and fuzzing would stay shallow); 1 when no input was found or
 * fewer were accepted.
 */
#include "qemu/osdep.h"
#include "tests/fuzz/fuzz.h"

#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif

/*
 * No input of a few KiB may make a parser allocate hundreds of MiB (a
 * length taken from the input and trusted): such an allocation fails
 * here, and glib aborts.  libFuzzer runs get -malloc_limit_mb instead.
 */
#define FUZZ_ALLOC_LIMIT (256 * MiB)

#ifdef FUZZ_ASAN
/*
 * ASan reserves terabytes of shadow: limit single allocations instead,
 * at 64 MiB (the largest a parser makes for a small input is migfile's
 * VM description scan, at most the file's size).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "max_allocation_size_mb=64:allocator_may_return_null=0";
}

static void limit_memory(void)
{
}
#else
/* Address space in use now (VmSize), in bytes. */
static uint64_t vm_size(void)
{
    g_autofree char *text = NULL;

    if (!g_file_get_contents("/proc/self/status", &text, NULL, NULL)) {
        g_error("cannot read /proc/self/status");
    }
    const char *p = strstr(text, "VmSize:");
    g_assert_nonnull(p);
    return g_ascii_strtoull(p + strlen("VmSize:"), NULL, 10) * KiB;
}

static void limit_memory(void)
{
    struct rlimit rl;

    rl.rlim_cur = rl.rlim_max = vm_size() + FUZZ_ALLOC_LIMIT;
    if (setrlimit(RLIMIT_AS, &rl) < 0) {
        g_error("setrlimit: %s", g_strerror(errno));
    }
}
#endif

/* Harnesses without an initializer link against this one. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    return 0;
}

static unsigned run_file(const char *path)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *data = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, &err)) {
        g_printerr("%s\n", err->message);
        exit(1);
    }
    g_print("# %s (%zu bytes)\n", path, (size_t)len);
    /* A private copy of the exact size, so overreads are caught. */
    g_autofree uint8_t *copy = g_memdup2(data, len);
    LLVMFuzzerTestOneInput(copy, len);
    return 1;
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned run_path(const char *path)
{
    unsigned n = 0;

    if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
        return run_file(path);
    }
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;

    if (!dir) {
        return 0;
    }
    while ((name = g_dir_read_name(dir))) {
        g_autofree char *p = g_build_filename(path, name, NULL);
        if (g_file_test(p, G_FILE_TEST_IS_REGULAR) && name[0] != '.') {
            g_ptr_array_add(names, g_steal_pointer(&p));
        }
    }
    g_ptr_array_sort(names, cmp_str);
    for (guint i = 0; i < names->len; i++) {
        n += run_file(names->pdata[i]);
    }
    return n;
}

int main(int argc, char **argv)
{
    unsigned min_ok = 0, n = 0;
    int first = 1;

    if (argc > 2 && !strcmp(argv[1], "--min-ok")) {
        min_ok = atoi(argv[2]);
        first = 3;
    }
    LLVMFuzzerInitialize(&argc, &argv);
    limit_memory();
    for (int i = first; i < argc; i++) {
        n += run_path(argv[i]);
    }
    g_print("# %u inputs ran, %u accepted\n", n, fuzz_ok_inputs);
    if (!n) {
        g_printerr("no input found\n");
        return 1;
    }
    if (fuzz_ok_inputs < min_ok) {
        g_printerr("only %u inputs accepted, expected at least %u\n",
                   fuzz_ok_inputs, min_ok);
        return 1;
    }
    return 0;
}
