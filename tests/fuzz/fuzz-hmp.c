/*
 * Fuzz HMP lines without a socket: line assembly (CR LF, NUL bytes, the
 * line length limit), word splitting with quotes and escapes, and every
 * registered HMP command and "info" sub-command with whatever arguments
 * the input brings.  migrate and migrate_incoming parse their URI and
 * refuse; quit only sets the shutdown request, which nothing acts on
 * here (fuzz-monitor.c).
 *
 * Oracle beyond "no crash": one prompt per complete input line (and the
 * one after the banner), so no line is silently dropped or run twice.
 */
#include "qemu/osdep.h"
#include "tests/fuzz/fuzz-monitor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_monitor_init();
    return 0;
}

static size_t count(const uint8_t *p, size_t len, const char *needle)
{
    size_t n = 0, nlen = strlen(needle);

    for (const uint8_t *q = p;
         len >= nlen && (q = memmem(q, len - (q - p), needle, nlen));
         q += nlen) {
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GByteArray) out = fuzz_monitor_run(&hmp_monitor_ops, data, size);
    size_t lines = count(data, size, "\n");
    size_t prompts = count(out->data, out->len, "(qemu) ");

    /* Output may contain "(qemu) " too (echoed words): at least. */
    if (prompts < lines + 1) {
        g_error("fuzz-hmp: %zu prompts for %zu lines", prompts, lines);
    }
    return 0;
}
