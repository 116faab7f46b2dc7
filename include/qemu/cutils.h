/*
 * String helpers.
 */
#ifndef QEMU_CUTILS_H
#define QEMU_CUTILS_H

#include "qemu/osdep.h"

/*
 * Parse a size as QEMU does: a decimal number, optionally with a fraction,
 * followed by an optional suffix B, K, M, G, T, P, E (powers of 1024, case
 * insensitive).  @default_suffix applies when there is none (0 = bytes,
 * 'M' for -m).  Hex (0x...) is accepted without suffix only.  Returns 0 and
 * sets *result, or -EINVAL / -ERANGE.  If @end is NULL the whole string
 * must be consumed.
 */
int qemu_strtosz_suffix(const char *nptr, const char **end, char default_suffix,
                        uint64_t *result);
int qemu_strtosz(const char *nptr, const char **end, uint64_t *result);
/* Plain unsigned decimal (or 0x hex) integer, whole string. */
int qemu_strtou64(const char *nptr, uint64_t *result);
/* "on"/"off"/"yes"/"no"/"true"/"false". */
bool qemu_parse_bool(const char *s, bool *result);
/* Size as "1 GiB", "512 MiB", ... (g_free). */
char *size_to_str(uint64_t val);
/*
 * Size for people, rounded: "1.5 GiB", "512.0 MiB", "700 B" (g_free).
 * Printed beside raw byte counts, or alone in progress lines.
 */
char *size_to_human_str(uint64_t val);

#endif
