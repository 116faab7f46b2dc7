/*
 * buffer_is_zero(): OR the buffer together in the widest registers the
 * host has and test the result once per block.
 *
 * Every implementation reads the (possibly unaligned) first and last
 * word or vector with unaligned loads, which also covers the bytes
 * outside the aligned middle, then runs over the aligned middle.  Data
 * pages nearly always have a non-zero byte near the start, so that first
 * test rejects most of them at once.
 */
#include "qemu/osdep.h"
#include "qemu/bufferiszero.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86_VECTORS 1
#else
#define HAVE_X86_VECTORS 0
#endif

typedef bool (*BufferIsZeroFn)(const void *buf, size_t len);

/* A 64-bit word that may alias the caller's bytes. */
typedef uint64_t __attribute__((may_alias)) WordAlias;

static inline uint64_t load_word(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* Buffers too short for a block loop: any length, any alignment. */
static bool buffer_zero_short(const uint8_t *p, size_t len)
{
    if (len < 8) {
        uint8_t acc = 0;
        for (size_t i = 0; i < len; i++) {
            acc |= p[i];
        }
        return !acc;
    }
    uint64_t acc = load_word(p) | load_word(p + len - 8);
    const WordAlias *w = (const WordAlias *)ROUND_UP((uintptr_t)p, 8);
    const WordAlias *end = (const WordAlias *)ROUND_DOWN((uintptr_t)p + len, 8);
    for (; w < end; w++) {
        acc |= *w;
    }
    return !acc;
}

/* Portable: eight 64-bit words per test. */
static bool buffer_zero_int(const void *buf, size_t len)
{
    const uint8_t *p = buf;

    if (len < 64) {
        return buffer_zero_short(p, len);
    }
    if (load_word(p) | load_word(p + len - 8)) {
        return false;
    }
    const WordAlias *w = (const WordAlias *)ROUND_UP((uintptr_t)p, 8);
    const WordAlias *end = (const WordAlias *)ROUND_DOWN((uintptr_t)p + len, 8);
    for (; end - w >= 8; w += 8) {
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) {
            return false;
        }
    }
    uint64_t acc = 0;
    for (; w < end; w++) {
        acc |= *w;
    }
    return !acc;
}

#if HAVE_X86_VECTORS
/* SSE2 (every x86-64): four 16-byte vectors per test. */
static bool __attribute__((target("sse2")))
buffer_zero_sse2(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    const __m128i zero = _mm_setzero_si128();

    if (len < 64) {
        return buffer_zero_short(p, len);
    }
    __m128i t = _mm_or_si128(_mm_loadu_si128((const __m128i *)p),
                             _mm_loadu_si128((const __m128i *)(p + len - 16)));
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(t, zero)) != 0xffff) {
        return false;
    }
    const __m128i *v = (const __m128i *)ROUND_UP((uintptr_t)p, 16);
    const __m128i *end = (const __m128i *)ROUND_DOWN((uintptr_t)p + len, 16);
    for (; end - v >= 4; v += 4) {
        t = _mm_or_si128(_mm_or_si128(v[0], v[1]), _mm_or_si128(v[2], v[3]));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(t, zero)) != 0xffff) {
            return false;
        }
    }
    for (; v < end; v++) {
        t = _mm_or_si128(t, *v);
    }
    return _mm_movemask_epi8(_mm_cmpeq_epi8(t, zero)) == 0xffff;
}

/* AVX2: four 32-byte vectors per test, vptest instead of a compare. */
static bool __attribute__((target("avx2")))
buffer_zero_avx2(const void *buf, size_t len)
{
    const uint8_t *p = buf;

    if (len < 128) {
        return buffer_zero_sse2(p, len);
    }
    __m256i t =
        _mm256_or_si256(_mm256_loadu_si256((const __m256i *)p),
                        _mm256_loadu_si256((const __m256i *)(p + len - 32)));
    if (!_mm256_testz_si256(t, t)) {
        return false;
    }
    const __m256i *v = (const __m256i *)ROUND_UP((uintptr_t)p, 32);
    const __m256i *end = (const __m256i *)ROUND_DOWN((uintptr_t)p + len, 32);
    for (; end - v >= 4; v += 4) {
        t = _mm256_or_si256(_mm256_or_si256(v[0], v[1]),
                            _mm256_or_si256(v[2], v[3]));
        if (!_mm256_testz_si256(t, t)) {
            return false;
        }
    }
    for (; v < end; v++) {
        t = _mm256_or_si256(t, *v);
    }
    return _mm256_testz_si256(t, t);
}

static bool have_avx2(void)
{
    return __builtin_cpu_supports("avx2");
}

static bool have_sse2(void)
{
    return __builtin_cpu_supports("sse2");
}
#endif

typedef struct BufferIsZeroImpl {
    const char *name;
    BufferIsZeroFn fn;
    bool (*usable)(void); /* NULL: always */
} BufferIsZeroImpl;

/* Best first. */
static const BufferIsZeroImpl impls[] = {
#if HAVE_X86_VECTORS
    { "avx2", buffer_zero_avx2, have_avx2 },
    { "sse2", buffer_zero_sse2, have_sse2 },
#endif
    { "int", buffer_zero_int, NULL },
};

static BufferIsZeroFn buffer_is_zero_fn = buffer_zero_int;

static const BufferIsZeroImpl *impl_usable(unsigned i)
{
    for (size_t k = 0; k < ARRAY_SIZE(impls); k++) {
        if (!impls[k].usable || impls[k].usable()) {
            if (!i--) {
                return &impls[k];
            }
        }
    }
    return NULL;
}

const char *buffer_is_zero_select(unsigned i)
{
    const BufferIsZeroImpl *impl = impl_usable(i);

    if (!impl) {
        return NULL;
    }
    buffer_is_zero_fn = impl->fn;
    return impl->name;
}

/* Before main(), hence before any thread can call buffer_is_zero(). */
static void __attribute__((constructor)) buffer_is_zero_init(void)
{
#if HAVE_X86_VECTORS
    __builtin_cpu_init();
#endif
    buffer_is_zero_select(0);
}

bool buffer_is_zero(const void *buf, size_t len)
{
    return buffer_is_zero_fn(buf, len);
}
