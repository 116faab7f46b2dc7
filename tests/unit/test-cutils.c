/*
 * Unit tests for util/cutils.c: size and integer parsing.
 */
#include "qemu/osdep.h"
#include "qemu/cutils.h"

static void check_sz(const char *str, uint64_t expect)
{
    uint64_t res = 0xdeadbeef;
    int rc = qemu_strtosz(str, NULL, &res);

    if (rc != 0) {
        g_test_message("qemu_strtosz(\"%s\") = %d", str, rc);
    }
    g_assert_cmpint(rc, ==, 0);
    g_assert_cmpuint(res, ==, expect);
}

static void check_sz_err(const char *str, int err)
{
    uint64_t res = 0xdeadbeef;

    g_assert_cmpint(qemu_strtosz(str, NULL, &res), ==, err);
    /* Failure must not touch the result. */
    g_assert_cmpuint(res, ==, 0xdeadbeef);
}

static void test_strtosz_simple(void)
{
    check_sz("0", 0);
    check_sz("1", 1);
    check_sz("12345", 12345);
    check_sz("18446744073709551615", UINT64_MAX);
}

static void test_strtosz_suffixes(void)
{
    check_sz("1B", 1);
    check_sz("1K", KiB);
    check_sz("1k", KiB);
    check_sz("8M", 8 * MiB);
    check_sz("8m", 8 * MiB);
    check_sz("3G", 3 * GiB);
    check_sz("2T", 2 * TiB);
    check_sz("1P", 1024 * TiB);
    check_sz("1E", 1024 * 1024 * TiB);
    check_sz("15E", 15ULL << 60);
}

static void test_strtosz_fraction(void)
{
    check_sz("1.5G", GiB + GiB / 2);
    check_sz("0.5K", 512);
    check_sz("1.25M", MiB + MiB / 4);
    check_sz("1.0", 1);
    check_sz("12.000K", 12 * KiB);
    /* A fraction of a byte is meaningless. */
    check_sz_err("1.5", -EINVAL);
    check_sz_err("1.5B", -EINVAL);
    /* Only digits after the point: no exponent, sign, or empty fraction. */
    check_sz_err("1.5e3", -EINVAL);
    check_sz_err("1.K", -EINVAL);
    check_sz_err("1.-5K", -EINVAL);
    check_sz_err("1.5.5K", -EINVAL);
}

static void test_strtosz_hex(void)
{
    check_sz("0x20", 0x20);
    check_sz("0X1f", 0x1f);
    check_sz("0xffffffffffffffff", UINT64_MAX);
    /* Suffixes and fractions after hex are ambiguous. */
    check_sz_err("0x20M", -EINVAL);
    check_sz_err("0x20K", -EINVAL);
    check_sz_err("0x1.8", -EINVAL);
    check_sz_err("0xg", -EINVAL);
    check_sz_err("0x", -EINVAL);
    check_sz_err("0x10000000000000000", -ERANGE);
}

static void test_strtosz_invalid(void)
{
    check_sz_err("", -EINVAL);
    check_sz_err(" 1", -EINVAL);
    check_sz_err("-1", -EINVAL);
    check_sz_err("-0", -EINVAL);
    check_sz_err("K", -EINVAL);
    check_sz_err("abc", -EINVAL);
    check_sz_err("1Q", -EINVAL);
    check_sz_err("1KB", -EINVAL);
    check_sz_err("1 K", -EINVAL);
    check_sz_err("12x", -EINVAL);
    check_sz_err(".5K", -EINVAL);

    uint64_t res = 7;
    g_assert_cmpint(qemu_strtosz(NULL, NULL, &res), ==, -EINVAL);
    g_assert_cmpuint(res, ==, 7);
}

static void test_strtosz_overflow(void)
{
    check_sz_err("18446744073709551616", -ERANGE);
    check_sz_err("99999999999999999999999", -ERANGE);
    check_sz_err("16E", -ERANGE);
    check_sz_err("16384P", -ERANGE);
    check_sz_err("17179869184T", -ERANGE);
    check_sz_err("15.99999999999999999999E", -ERANGE);
    check_sz("16383P", 16383ULL << 50);
    check_sz("15.5E", (15ULL << 60) + (1ULL << 59));
}

static void test_strtosz_end(void)
{
    const char *end = NULL;
    uint64_t res = 0;
    const char *str;

    str = "123";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, 123);
    g_assert_true(end == str + 3);

    str = "12K,rest";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, 12 * KiB);
    g_assert_true(end == str + 3);

    /* Not a suffix: parsing stops there, the caller sees what is left. */
    str = "12 K";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, 12);
    g_assert_true(end == str + 2);

    str = "1.5Gx";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, GiB + GiB / 2);
    g_assert_cmpstr(end, ==, "x");

    str = "0x10:";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, 16);
    g_assert_cmpstr(end, ==, ":");

    /* As in QEMU: "0x" is the number 0 followed by "x". */
    str = "0x";
    g_assert_cmpint(qemu_strtosz(str, &end, &res), ==, 0);
    g_assert_cmpuint(res, ==, 0);
    g_assert_true(end == str + 1);
}

static void test_strtosz_default_suffix(void)
{
    uint64_t res = 0;
    const char *end;

    g_assert_cmpint(qemu_strtosz_suffix("512", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 512 * MiB);
    /* An explicit suffix wins over the default, including B. */
    g_assert_cmpint(qemu_strtosz_suffix("512K", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 512 * KiB);
    g_assert_cmpint(qemu_strtosz_suffix("4096B", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 4096);
    g_assert_cmpint(qemu_strtosz_suffix("2G", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 2 * GiB);
    /* With a non-byte default, a fraction is fine. */
    g_assert_cmpint(qemu_strtosz_suffix("1.5", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, MiB + MiB / 2);
    /* As QEMU's -m: a bare hex number is in default units too. */
    g_assert_cmpint(qemu_strtosz_suffix("0x10", NULL, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 16 * MiB);
    g_assert_cmpint(qemu_strtosz_suffix("0x10M", NULL, 'M', &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtosz_suffix("16", &end, 'M', &res), ==, 0);
    g_assert_cmpuint(res, ==, 16 * MiB);
    g_assert_cmpstr(end, ==, "");
    g_assert_cmpint(qemu_strtosz_suffix("17592186044416", NULL, 'M', &res), ==,
                    -ERANGE);
    g_assert_cmpint(qemu_strtosz_suffix("17592186044415", NULL, 'M', &res), ==,
                    0);
    g_assert_cmpuint(res, ==, 17592186044415ULL << 20);
}

static void test_strtou64(void)
{
    uint64_t res = 0;

    g_assert_cmpint(qemu_strtou64("0", &res), ==, 0);
    g_assert_cmpuint(res, ==, 0);
    g_assert_cmpint(qemu_strtou64("42", &res), ==, 0);
    g_assert_cmpuint(res, ==, 42);
    g_assert_cmpint(qemu_strtou64("18446744073709551615", &res), ==, 0);
    g_assert_cmpuint(res, ==, UINT64_MAX);
    g_assert_cmpint(qemu_strtou64("0x1F", &res), ==, 0);
    g_assert_cmpuint(res, ==, 0x1f);
    /* Decimal, not octal: a leading zero does not change the base. */
    g_assert_cmpint(qemu_strtou64("010", &res), ==, 0);
    g_assert_cmpuint(res, ==, 10);
    g_assert_cmpint(qemu_strtou64("08", &res), ==, 0);
    g_assert_cmpuint(res, ==, 8);

    res = 99;
    g_assert_cmpint(qemu_strtou64("18446744073709551616", &res), ==, -ERANGE);
    g_assert_cmpint(qemu_strtou64("0x10000000000000000", &res), ==, -ERANGE);
    g_assert_cmpint(qemu_strtou64("", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64(NULL, &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("-1", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64(" 1", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("1 ", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("12abc", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("0x", &res), ==, -EINVAL);
    g_assert_cmpint(qemu_strtou64("1K", &res), ==, -EINVAL);
    g_assert_cmpuint(res, ==, 99);
}

static void test_parse_bool(void)
{
    static const char *yes[] = { "on", "yes", "true" };
    static const char *no[] = { "off", "no", "false" };
    static const char *bad[] = { "", "1", "0", "ON", "y", "onx", "tru" };
    bool b;

    for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
        b = false;
        g_assert_true(qemu_parse_bool(yes[i], &b));
        g_assert_true(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
        b = true;
        g_assert_true(qemu_parse_bool(no[i], &b));
        g_assert_false(b);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        b = true;
        g_assert_false(qemu_parse_bool(bad[i], &b));
        g_assert_true(b);
    }
    g_assert_false(qemu_parse_bool(NULL, &b));
}

static void test_size_to_str(void)
{
    static const struct {
        uint64_t val;
        const char *str;
    } cases[] = {
        { 0, "0 B" },     { 512, "512 B" },
        { KiB, "1 KiB" }, { 512 * MiB, "512 MiB" },
        { GiB, "1 GiB" }, { 3 * TiB, "3 TiB" },
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        g_autofree char *s = size_to_str(cases[i].val);
        g_assert_cmpstr(s, ==, cases[i].str);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/cutils/strtosz/simple", test_strtosz_simple);
    g_test_add_func("/cutils/strtosz/suffixes", test_strtosz_suffixes);
    g_test_add_func("/cutils/strtosz/fraction", test_strtosz_fraction);
    g_test_add_func("/cutils/strtosz/hex", test_strtosz_hex);
    g_test_add_func("/cutils/strtosz/invalid", test_strtosz_invalid);
    g_test_add_func("/cutils/strtosz/overflow", test_strtosz_overflow);
    g_test_add_func("/cutils/strtosz/end", test_strtosz_end);
    g_test_add_func("/cutils/strtosz/default-suffix",
                    test_strtosz_default_suffix);
    g_test_add_func("/cutils/strtou64", test_strtou64);
    g_test_add_func("/cutils/parse-bool", test_parse_bool);
    g_test_add_func("/cutils/size-to-str", test_size_to_str);
    return g_test_run();
}
