/*
 * buffer_is_zero(): every implementation the host runs against a byte
 * loop, for every length and alignment that matters.
 */
#include "qemu/osdep.h"
#include "qemu/bufferiszero.h"

#define MAX_LEN 300   /* every length up to here: all the short paths */
#define SHORT_LEN 160 /* one non-zero byte at every position up to here */
#define MAX_ALIGN 64  /* every start offset within a cache line */
#define PAGE TARGET_PAGE_SIZE

/* Page aligned, room for the largest length at the largest offset. */
static uint8_t buf[2 * PAGE + 2 * MAX_ALIGN] __attribute__((aligned(4096)));

static bool ref_is_zero(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i]) {
            return false;
        }
    }
    return true;
}

/*
 * Checks one case against @want, with non-zero guard bytes just outside
 * the buffer.
 */
static void check_want(size_t align, size_t len, bool want)
{
    uint8_t *p = buf + MAX_ALIGN + align;

    p[-1] = 0xff;
    p[len] = 0xff;
    if (buffer_is_zero(p, len) != want) {
        g_test_message("align %zu len %zu: want %d", align, len, want);
        g_test_fail();
    }
    p[-1] = 0;
    p[len] = 0;
}

/* Checks one case against the byte loop. */
static void check(size_t align, size_t len)
{
    check_want(align, len, ref_is_zero(buf + MAX_ALIGN + align, len));
}

/* Runs @fn once per implementation this host has. */
static void for_each_impl(void (*fn)(void))
{
    const char *name;

    for (unsigned i = 0; (name = buffer_is_zero_select(i)); i++) {
        g_test_message("implementation %s", name);
        memset(buf, 0, sizeof(buf));
        fn();
    }
    buffer_is_zero_select(0);
}

static void all_zero(void)
{
    for (size_t align = 0; align < MAX_ALIGN; align++) {
        for (size_t len = 0; len <= MAX_LEN; len++) {
            check(align, len);
        }
        check(align, PAGE - 1);
        check(align, PAGE);
        check(align, PAGE + 1);
        check(align, 2 * PAGE);
    }
}

/* A single non-zero byte at every position of every short buffer. */
static void one_byte_short(void)
{
    for (size_t align = 0; align < MAX_ALIGN; align++) {
        uint8_t *p = buf + MAX_ALIGN + align;
        for (size_t len = 1; len <= SHORT_LEN; len++) {
            for (size_t pos = 0; pos < len; pos++) {
                p[pos] = 1 << (pos % 8);
                check(align, len);
                p[pos] = 0;
            }
        }
    }
}

/* Pages: first, last, middle, and every byte of the first/last 256. */
static void one_byte_page(void)
{
    for (size_t align = 0; align < MAX_ALIGN; align++) {
        uint8_t *p = buf + MAX_ALIGN + align;
        size_t lens[] = { PAGE - 1, PAGE, PAGE + 1, 2 * PAGE };
        for (size_t k = 0; k < ARRAY_SIZE(lens); k++) {
            size_t len = lens[k];
            for (size_t pos = 0; pos < len; pos++) {
                if (pos >= 256 && pos < len - 256 && pos != len / 2 &&
                    pos % 61) {
                    continue;
                }
                p[pos] = 0x80;
                check_want(align, len, false);
                p[pos] = 0;
            }
        }
    }
}

/* Random sparse bytes at random places, against the byte loop. */
static void random_sparse(void)
{
    for (int round = 0; round < 20000; round++) {
        size_t align = g_test_rand_int_range(0, MAX_ALIGN);
        size_t len = g_test_rand_int_range(0, 2 * PAGE + 1);
        uint8_t *p = buf + MAX_ALIGN + align;
        size_t pos = len ? g_test_rand_int_range(0, len) : 0;
        bool set = len && g_test_rand_bit();

        if (set) {
            p[pos] = g_test_rand_int_range(1, 256);
        }
        check(align, len);
        if (set) {
            p[pos] = 0;
        }
    }
}

static void test_all_zero(void)
{
    for_each_impl(all_zero);
}

static void test_one_byte_short(void)
{
    for_each_impl(one_byte_short);
}

static void test_one_byte_page(void)
{
    for_each_impl(one_byte_page);
}

static void test_random(void)
{
    for_each_impl(random_sparse);
}

/* The portable loop is always there, and the selection ends. */
static void test_select(void)
{
    const char *name = NULL, *last = NULL;
    unsigned n = 0;

    while ((name = buffer_is_zero_select(n))) {
        last = name;
        n++;
    }
    g_assert_cmpuint(n, >=, 1);
    g_assert_cmpstr(last, ==, "int");
    g_assert_nonnull(buffer_is_zero_select(0));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/bufferiszero/select", test_select);
    g_test_add_func("/bufferiszero/all-zero", test_all_zero);
    g_test_add_func("/bufferiszero/one-byte/short", test_one_byte_short);
    g_test_add_func("/bufferiszero/one-byte/page", test_one_byte_page);
    g_test_add_func("/bufferiszero/random", test_random);
    return g_test_run();
}
