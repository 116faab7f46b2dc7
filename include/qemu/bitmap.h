/*
 * Bitmaps of unsigned longs, bit i in word i / BITS_PER_LONG, LSB first
 * (host order; mapped-ram writes them as they are in memory).
 */
#ifndef QEMU_BITMAP_H
#define QEMU_BITMAP_H

#include "qemu/osdep.h"

#define BITS_PER_LONG (sizeof(unsigned long) * 8)
#define BITS_TO_LONGS(n) DIV_ROUND_UP((n), BITS_PER_LONG)
#define BIT_WORD(n) ((n) / BITS_PER_LONG)
#define BIT_MASK(n) (1UL << ((n) % BITS_PER_LONG))

static inline unsigned long *bitmap_new(uint64_t nbits)
{
    return g_new0(unsigned long, BITS_TO_LONGS(nbits));
}

static inline size_t bitmap_bytes(uint64_t nbits)
{
    return BITS_TO_LONGS(nbits) * sizeof(unsigned long);
}

static inline void set_bit(uint64_t nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline void clear_bit(uint64_t nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] &= ~BIT_MASK(nr);
}

static inline bool test_bit(uint64_t nr, const unsigned long *addr)
{
    return addr[BIT_WORD(nr)] & BIT_MASK(nr);
}

static inline void set_bit_atomic(uint64_t nr, unsigned long *addr)
{
    atomic_fetch_or((_Atomic unsigned long *)&addr[BIT_WORD(nr)], BIT_MASK(nr));
}

static inline void clear_bit_atomic(uint64_t nr, unsigned long *addr)
{
    atomic_fetch_and((_Atomic unsigned long *)&addr[BIT_WORD(nr)],
                     ~BIT_MASK(nr));
}

/* First set (or clear) bit at or after @offset, or @size if none. */
uint64_t find_next_bit(const unsigned long *addr, uint64_t size,
                       uint64_t offset);
uint64_t find_next_zero_bit(const unsigned long *addr, uint64_t size,
                            uint64_t offset);
uint64_t bitmap_count_one(const unsigned long *addr, uint64_t nbits);
void bitmap_set_range(unsigned long *addr, uint64_t start, uint64_t nr);
void bitmap_clear_range(unsigned long *addr, uint64_t start, uint64_t nr);
void bitmap_set_range_atomic(unsigned long *addr, uint64_t start, uint64_t nr);
void bitmap_clear_range_atomic(unsigned long *addr, uint64_t start,
                               uint64_t nr);

#endif
