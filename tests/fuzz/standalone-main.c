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
