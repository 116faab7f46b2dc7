/*
 * Unit tests for util/bitmap.c, checked against a naive bit-by-bit model.
 */
#include "qemu/osdep.h"
#include "qemu/bitmap.h"

static uint64_t naive_next(const unsigned long *map, uint64_t size,
                           uint64_t off, bool want)
{
    for (uint64_t i = off; i < size; i++) {
        if (test_bit(i, map) == want) {
            return i;
        }
    }
    return size;
}

/* Every offset, for sizes around word boundaries and not multiples of 64. */
static void check_find_all(const unsigned long *map, uint64_t size)
{
    for (uint64_t off = 0; off <= size + 1; off++) {
        g_assert_cmpuint(find_next_bit(map, size, off), ==,
                         naive_next(map, size, off, true));
        g_assert_cmpuint(find_next_zero_bit(map, size, off), ==,
                         naive_next(map, size, off, false));
    }
}

static const uint64_t sizes[] = { 1, 7, 63, 64, 65, 100, 127, 128, 129, 200 };

static void test_find_next_bit(void)
{
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        uint64_t size = sizes[s];
        g_autofree unsigned long *map = bitmap_new(size);

        g_assert_cmpuint(find_next_bit(map, size, 0), ==, size);
        g_assert_cmpuint(find_next_zero_bit(map, size, 0), ==, 0);
        check_find_all(map, size);

        /* Bits on both sides of each word boundary, and the last bit. */
        for (uint64_t b = 0; b < size; b += 64) {
            set_bit(b, map);
            if (b) {
                set_bit(b - 1, map);
            }
        }
        set_bit(size - 1, map);
        check_find_all(map, size);
    }
}

static void test_find_next_zero_bit(void)
{
    for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
        uint64_t size = sizes[s];
        g_autofree unsigned long *map = bitmap_new(size);

        bitmap_set_range(map, 0, size);
        g_assert_cmpuint(find_next_zero_bit(map, size, 0), ==, size);
        g_assert_cmpuint(find_next_bit(map, size, 0), ==, 0);
        check_find_all(map, size);

        clear_bit(size - 1, map);
        if (size > 64) {
            clear_bit(64, map);
        }
        check_find_all(map, size);
    }
}

/* Bits past @size in the last word must not leak into the results. */
static void test_find_ignores_tail(void)
{
    unsigned long map[2];

    memset(map, 0, sizeof(map));
    map[1] = ~0UL << 6; /* bits 70..127 set, size is 70 */
    g_assert_cmpuint(find_next_bit(map, 70, 0), ==, 70);
    g_assert_cmpuint(find_next_bit(map, 70, 69), ==, 70);

    memset(map, 0xff, sizeof(map));
    map[1] = (1UL << 6) - 1; /* bits 64..69 set, 70..127 clear */
    g_assert_cmpuint(find_next_zero_bit(map, 70, 0), ==, 70);
    g_assert_cmpuint(find_next_zero_bit(map, 70, 65), ==, 70);
    g_assert_cmpuint(bitmap_count_one(map, 70), ==, 70);
    g_assert_cmpuint(bitmap_count_one(map, 64), ==, 64);
}

static void test_count_one(void)
{
    g_autofree unsigned long *map = bitmap_new(300);

    g_assert_cmpuint(bitmap_count_one(map, 300), ==, 0);
    g_assert_cmpuint(bitmap_count_one(map, 0), ==, 0);
    set_bit(0, map);
    set_bit(63, map);
    set_bit(64, map);
    set_bit(199, map);
    set_bit(299, map);
    g_assert_cmpuint(bitmap_count_one(map, 300), ==, 5);
    g_assert_cmpuint(bitmap_count_one(map, 299), ==, 4);
    g_assert_cmpuint(bitmap_count_one(map, 200), ==, 4);
    g_assert_cmpuint(bitmap_count_one(map, 199), ==, 3);
    g_assert_cmpuint(bitmap_count_one(map, 64), ==, 2);
    g_assert_cmpuint(bitmap_count_one(map, 63), ==, 1);
    g_assert_cmpuint(bitmap_count_one(map, 1), ==, 1);
}

typedef void (*RangeFn)(unsigned long *, uint64_t, uint64_t);

/* Apply @fn to [start, start + nr) and compare every bit with the model. */
static void check_range(RangeFn fn, bool set, uint64_t size, uint64_t start,
                        uint64_t nr)
{
    g_autofree unsigned long *map = bitmap_new(size);
    bool initial = !set;

    if (initial) {
        bitmap_set_range(map, 0, size);
    }
    fn(map, start, nr);
    for (uint64_t i = 0; i < size; i++) {
        bool in = i >= start && i < start + nr;
        g_assert_cmpint(test_bit(i, map), ==, in ? set : initial);
    }
    g_assert_cmpuint(bitmap_count_one(map, size), ==, set ? nr : size - nr);
}

static void test_ranges(RangeFn set_fn, RangeFn clear_fn)
{
    static const struct {
        uint64_t start, nr;
    } r[] = {
        { 0, 0 },    { 0, 1 },   { 5, 10 },    { 0, 64 },
        { 63, 2 },   { 60, 10 }, { 64, 64 },   { 1, 126 },
        { 10, 200 }, { 0, 259 }, { 128, 131 }, { 258, 1 },
    };

    for (size_t i = 0; i < ARRAY_SIZE(r); i++) {
        check_range(set_fn, true, 259, r[i].start, r[i].nr);
        check_range(clear_fn, false, 259, r[i].start, r[i].nr);
    }
}

static void test_set_clear_range(void)
{
    test_ranges(bitmap_set_range, bitmap_clear_range);
}

static void test_set_clear_range_atomic(void)
{
    test_ranges(bitmap_set_range_atomic, bitmap_clear_range_atomic);
}

static void test_single_bits(void)
{
    g_autofree unsigned long *map = bitmap_new(130);

    set_bit_atomic(129, map);
    set_bit(64, map);
    g_assert_true(test_bit(129, map));
    g_assert_true(test_bit(64, map));
    g_assert_false(test_bit(128, map));
    clear_bit_atomic(129, map);
    clear_bit(64, map);
    g_assert_cmpuint(bitmap_count_one(map, 130), ==, 0);
    g_assert_cmpuint(bitmap_bytes(130), ==, 3 * sizeof(unsigned long));
    g_assert_cmpuint(bitmap_bytes(128), ==, 2 * sizeof(unsigned long));
}

/* Threads set disjoint, word-sharing runs: no update may be lost. */
#define ATOMIC_THREADS 4
#define ATOMIC_BITS 4099

typedef struct {
    unsigned long *map;
    int idx;
} AtomicArg;

static gpointer atomic_worker(gpointer opaque)
{
    AtomicArg *a = opaque;

    for (int round = 0; round < 50; round++) {
        /* Runs of 3 bits, interleaved across threads. */
        for (uint64_t b = a->idx * 3; b + 3 <= ATOMIC_BITS;
             b += 3 * ATOMIC_THREADS) {
            bitmap_set_range_atomic(a->map, b, 3);
        }
        for (uint64_t b = a->idx * 3; b + 3 <= ATOMIC_BITS;
             b += 3 * ATOMIC_THREADS) {
            bitmap_clear_range_atomic(a->map, b, 3);
        }
    }
    for (uint64_t b = a->idx * 3; b + 3 <= ATOMIC_BITS;
         b += 3 * ATOMIC_THREADS) {
        bitmap_set_range_atomic(a->map, b, 3);
    }
    return NULL;
}

static void test_atomic_concurrent(void)
{
    g_autofree unsigned long *map = bitmap_new(ATOMIC_BITS);
    AtomicArg args[ATOMIC_THREADS];
    GThread *th[ATOMIC_THREADS];

    for (int i = 0; i < ATOMIC_THREADS; i++) {
        args[i] = (AtomicArg){ .map = map, .idx = i };
        th[i] = g_thread_new("bitmap", atomic_worker, &args[i]);
    }
    for (int i = 0; i < ATOMIC_THREADS; i++) {
        g_thread_join(th[i]);
    }
    /* 4099 = 1366 runs of 3 plus one bit nobody owns. */
    g_assert_cmpuint(bitmap_count_one(map, ATOMIC_BITS), ==, 1366 * 3);
    g_assert_cmpuint(find_next_zero_bit(map, ATOMIC_BITS, 0), ==, 4098);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bitmap/find-next-bit", test_find_next_bit);
    g_test_add_func("/bitmap/find-next-zero-bit", test_find_next_zero_bit);
    g_test_add_func("/bitmap/find-ignores-tail", test_find_ignores_tail);
    g_test_add_func("/bitmap/count-one", test_count_one);
    g_test_add_func("/bitmap/single-bits", test_single_bits);
    g_test_add_func("/bitmap/range", test_set_clear_range);
    g_test_add_func("/bitmap/range-atomic", test_set_clear_range_atomic);
    g_test_add_func("/bitmap/atomic-concurrent", test_atomic_concurrent);
    return g_test_run();
}
