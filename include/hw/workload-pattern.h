/*
 * The verify workload's page contents, shared with the tests that
 * predict them: every 64-bit word of guest page @page after pass @pass
 * is a function of (page, pass, word index), so no two pages and no two
 * passes hold the same data.
 */
#ifndef HW_WORKLOAD_PATTERN_H
#define HW_WORKLOAD_PATTERN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64's finaliser over (page, pass). */
static inline uint64_t workload_pattern_seed(uint64_t page, uint64_t pass)
{
    uint64_t z =
        page * 0x9e3779b97f4a7c15ULL + (pass + 1) * 0xd1b54a32d192ed03ULL;

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t workload_pattern_word(uint64_t seed, size_t word)
{
    return seed ^ ((word + 1) * 0x9e3779b97f4a7c15ULL);
}

/* Write pass @pass's contents of page @page to @p (@size bytes). */
static inline void workload_pattern_fill(uint64_t *p, size_t size,
                                         uint64_t page, uint64_t pass)
{
    uint64_t seed = workload_pattern_seed(page, pass);

    for (size_t w = 0; w < size / 8; w++) {
        p[w] = workload_pattern_word(seed, w);
    }
}

/* Whether @p holds exactly pass @pass's contents of page @page. */
static inline bool workload_pattern_check(const uint64_t *p, size_t size,
                                          uint64_t page, uint64_t pass)
{
    uint64_t seed = workload_pattern_seed(page, pass);
    uint64_t diff = 0;

    for (size_t w = 0; w < size / 8; w++) {
        diff |= p[w] ^ workload_pattern_word(seed, w);
    }
    return !diff;
}

#endif
