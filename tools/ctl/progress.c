/*
 * The progress line: "saving  123.4 MiB / 512.0 MiB  210.3 MB/s  ETA 2s",
 * redrawn in place on a terminal, nothing otherwise.
 */
#include "ctl.h"

#define PROGRESS_INTERVAL_MS 200

void progress_init(Progress *p, const char *what, bool enabled)
{
    p->enabled = enabled;
    p->what = what;
    p->start_ms = qemu_clock_ms();
    p->last_ms = 0;
    p->drawn = false;
}

void progress_update(Progress *p, uint64_t done, uint64_t total)
{
    int64_t now = qemu_clock_ms();
    double secs = (now - p->start_ms) / 1000.0;

    if (!p->enabled || now - p->last_ms < PROGRESS_INTERVAL_MS) {
        return;
    }
    p->last_ms = now;
    g_autofree char *d = size_to_human_str(done);
    g_autofree char *t = total ? size_to_human_str(total) : g_strdup("?");
    double rate = secs > 0 ? done / secs : 0;
    g_autofree char *eta = NULL;
    if (total > done && rate > 0) {
        eta = g_strdup_printf("  ETA %.0fs", (total - done) / rate);
    }
    fprintf(stderr, "\r\033[K%s  %s / %s  %.1f MB/s%s", p->what, d, t,
            rate / 1e6, eta ? eta : "");
    fflush(stderr);
    p->drawn = true;
}

void progress_done(Progress *p)
{
    if (p->drawn) {
        fprintf(stderr, "\r\033[K");
        fflush(stderr);
        p->drawn = false;
    }
}
