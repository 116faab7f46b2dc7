#include "qemu/osdep.h"
#include "qemu/cutils.h"

#include <ctype.h>
#include <math.h>

static int suffix_shift(char c)
{
    switch (toupper((unsigned char)c)) {
    case 'B':
        return 0;
    case 'K':
        return 10;
    case 'M':
        return 20;
    case 'G':
        return 30;
    case 'T':
        return 40;
    case 'P':
        return 50;
    case 'E':
        return 60;
    default:
        return -1;
    }
}

/*
 * Parse the digits after a decimal point as a fraction in [0, 1].
 * Not strtod(): it would accept exponents ("1.5e3") and signs, and it
 * depends on the locale's decimal separator.
 */
static int parse_fraction(const char *p, char **endp, double *frac)
{
    const char *q = p;

    while (isdigit((unsigned char)*q)) {
        q++;
    }
    if (q == p) {
        return -EINVAL;
    }
    g_autofree char *buf = g_strdup_printf("0.%.*s", (int)(q - p), p);
    *frac = g_ascii_strtod(buf, NULL);
    *endp = (char *)q;
    return 0;
}

int qemu_strtosz_suffix(const char *nptr, const char **end, char default_suffix,
                        uint64_t *result)
{
    const char *p = nptr;
    char *endp;
    uint64_t whole;
    double frac = 0;
    int shift;

    if (!nptr || !*nptr || isspace((unsigned char)*nptr) || *nptr == '-') {
        return -EINVAL;
    }
    errno = 0;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        whole = strtoull(p, &endp, 16);
        if (endp == p + 2 || errno) {
            return errno == ERANGE ? -ERANGE : -EINVAL;
        }
        /* As QEMU: hex with a suffix (0x20M) or fraction is ambiguous. */
        if (*endp == '.' || (*endp && suffix_shift(*endp) >= 0)) {
            return -EINVAL;
        }
        /* As QEMU: a bare hex number is in default_suffix units. */
        shift = default_suffix ? suffix_shift(default_suffix) : 0;
        goto done;
    }
    whole = strtoull(p, &endp, 10);
    if (endp == p || errno == ERANGE) {
        return errno == ERANGE ? -ERANGE : -EINVAL;
    }
    if (*endp == '.' && parse_fraction(endp + 1, &endp, &frac) < 0) {
        return -EINVAL;
    }
    shift = suffix_shift(*endp);
    if (shift >= 0) {
        endp++;
    } else {
        shift = default_suffix ? suffix_shift(default_suffix) : 0;
    }
    /* A fraction of a byte makes no sense, with or without "B". */
    if (frac != 0 && shift == 0) {
        return -EINVAL;
    }
done:
    if (end) {
        *end = endp;
    } else if (*endp) {
        return -EINVAL;
    }
    if (shift && whole > (UINT64_MAX >> shift)) {
        return -ERANGE;
    }
    uint64_t val = whole << shift;
    if (frac != 0) {
        double extra = frac * (double)(1ULL << shift);
        if (val > UINT64_MAX - (uint64_t)extra) {
            return -ERANGE;
        }
        val += (uint64_t)extra;
    }
    *result = val;
    return 0;
}

int qemu_strtosz(const char *nptr, const char **end, uint64_t *result)
{
    return qemu_strtosz_suffix(nptr, end, 0, result);
}

int qemu_strtou64(const char *nptr, uint64_t *result)
{
    char *endp;

    if (!nptr || !*nptr || *nptr == '-' || isspace((unsigned char)*nptr)) {
        return -EINVAL;
    }
    /*
     * Base 16 or 10 only: base 0 would read "010" as octal 8, which
     * nobody writing a size or a count means.
     */
    bool hex = nptr[0] == '0' && (nptr[1] == 'x' || nptr[1] == 'X');
    errno = 0;
    uint64_t v = strtoull(nptr, &endp, hex ? 16 : 10);
    if (errno == ERANGE) {
        return -ERANGE;
    }
    if (endp == nptr || *endp) {
        return -EINVAL;
    }
    *result = v;
    return 0;
}

bool qemu_parse_bool(const char *s, bool *result)
{
    if (!g_strcmp0(s, "on") || !g_strcmp0(s, "yes") || !g_strcmp0(s, "true")) {
        *result = true;
        return true;
    }
    if (!g_strcmp0(s, "off") || !g_strcmp0(s, "no") || !g_strcmp0(s, "false")) {
        *result = false;
        return true;
    }
    return false;
}

char *size_to_str(uint64_t val)
{
    static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int i = 0;
    double v = val;

    while (v >= 1024 && i < (int)ARRAY_SIZE(units) - 1 &&
           (val % (1ULL << (10 * (i + 1)))) == 0) {
        v /= 1024;
        i++;
    }
    if (i == 0 && val >= 1024) {
        return g_strdup_printf("%" PRIu64 " B", val);
    }
    return g_strdup_printf("%.0f %s", v, units[i]);
}

char *size_to_human_str(uint64_t val)
{
    static const char *const units[] = {
        "B", "KiB", "MiB", "GiB", "TiB", "PiB"
    };
    double v = val;
    int u = 0;

    while (v >= 1024 && u < (int)ARRAY_SIZE(units) - 1) {
        v /= 1024;
        u++;
    }
    return u ? g_strdup_printf("%.1f %s", v, units[u])
             : g_strdup_printf("%" PRIu64 " B", val);
}
