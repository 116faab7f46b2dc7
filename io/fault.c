/*
 * Test-only I/O fault injection (see include/io/fault.h).  Only the test
 * binary tests/mapmig-fault compiles this file.
 */
#include "qemu/osdep.h"
#include "io/fault.h"

#ifndef CONFIG_FAULT_INJECTION
#error "io/fault.c belongs to test builds only"
#endif

typedef struct FaultRule {
    bool active;
    bool is_write;
    int err;           /* positive errno */
    uint64_t after;    /* bytes that go through first */
    char *path;        /* substring of the file's path, or NULL */
    int64_t count;     /* failures left; -1: unlimited */
    uint64_t delay_us; /* slow I/O: sleep before each matching call */
} FaultRule;

static FaultRule rule;
static _Atomic uint64_t bytes_done;
static GMutex count_lock;

static int parse_errno(const char *s)
{
    if (!strcmp(s, "EIO")) {
        return EIO;
    }
    if (!strcmp(s, "ENOSPC")) {
        return ENOSPC;
    }
    if (!strcmp(s, "EROFS")) {
        return EROFS;
    }
    return atoi(s); /* 0: no failure (with delay=) */
}

/* A malformed rule is a broken test: say so and stop. */
static void rule_error(const char *spec, const char *what)
{
    fprintf(stderr, "mapmig-fault: bad MAPMIG_FAULT '%s': %s\n", spec, what);
    abort();
}

static void rule_parse(const char *spec)
{
    g_auto(GStrv) parts = g_strsplit(spec, ",", -1);
    bool have_op = false;

    rule.count = -1;
    rule.err = -1; /* EIO unless only a delay is asked for */
    for (int i = 0; parts[i]; i++) {
        const char *eq = strchr(parts[i], '=');
        if (!eq) {
            rule_error(spec, "expected key=value");
        }
        g_autofree char *key = g_strndup(parts[i], eq - parts[i]);
        const char *val = eq + 1;
        if (!strcmp(key, "op")) {
            if (strcmp(val, "read") && strcmp(val, "write")) {
                rule_error(spec, "op must be read or write");
            }
            rule.is_write = !strcmp(val, "write");
            have_op = true;
        } else if (!strcmp(key, "errno")) {
            rule.err = parse_errno(val);
        } else if (!strcmp(key, "after")) {
            rule.after = g_ascii_strtoull(val, NULL, 0);
        } else if (!strcmp(key, "path")) {
            rule.path = g_strdup(val);
        } else if (!strcmp(key, "count")) {
            rule.count = g_ascii_strtoll(val, NULL, 0);
        } else if (!strcmp(key, "delay")) {
            rule.delay_us = g_ascii_strtoull(val, NULL, 0);
        } else {
            rule_error(spec, "unknown key");
        }
    }
    if (rule.err < 0) {
        rule.err = rule.delay_us ? 0 : EIO;
    }
    if (!have_op || (!rule.err && !rule.delay_us)) {
        rule_error(spec, "op and an errno or a delay are required");
    }
    rule.active = true;
    fprintf(stderr, "mapmig-fault: after %" PRIu64 " bytes, %s calls %s%s%s\n",
            rule.after, rule.is_write ? "write" : "read",
            rule.delay_us ? "are slow" : "",
            rule.delay_us && rule.err ? " and " : "",
            rule.err ? g_strerror(rule.err) : "");
}

static gpointer rule_init(gpointer opaque)
{
    const char *spec = g_getenv("MAPMIG_FAULT");

    if (spec && *spec) {
        rule_parse(spec);
    }
    return NULL;
}

static bool path_matches(int fd)
{
    char link[64], target[PATH_MAX];
    ssize_t n;

    if (!rule.path) {
        return true;
    }
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    n = readlink(link, target, sizeof(target) - 1);
    if (n < 0) {
        return false;
    }
    target[n] = 0;
    return strstr(target, rule.path) != NULL;
}

/* Take one failure from the budget; false once it is used up. */
static bool take_failure(void)
{
    bool ok = true;

    g_mutex_lock(&count_lock);
    if (rule.count == 0) {
        ok = false;
    } else if (rule.count > 0) {
        rule.count--;
    }
    g_mutex_unlock(&count_lock);
    return ok;
}

int qemu_io_fault(int fd, bool is_write, size_t len)
{
    static GOnce once = G_ONCE_INIT;

    g_once(&once, rule_init, NULL);
    if (!rule.active || is_write != rule.is_write || !path_matches(fd)) {
        return 0;
    }
    /* Reserve the bytes; a call that fails gives them back. */
    uint64_t before = atomic_fetch_add(&bytes_done, len);
    if (before + len <= rule.after) {
        return 0;
    }
    if (rule.delay_us) {
        g_usleep(rule.delay_us);
    }
    if (!rule.err) {
        return 0;
    }
    atomic_fetch_sub(&bytes_done, len);
    return take_failure() ? -rule.err : 0;
}
