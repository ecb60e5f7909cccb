/* utf8.c - the longest valid UTF-8 prefix of a string (utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* A character at a time, after runs of ASCII skipped 16 and 8 bytes at a time. */
static size_t prefix_scalar(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
#ifdef __SSE2__
        while (i + 16 <= n && !_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(s + i))))
            i += 16;
#endif
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull)))
            i += 8;
        while (i < n && s[i] < 0x80)
            i++;
        if (i >= n)
            break;
        size_t l = utf8_seq_len(s + i, n - i);
        if (!l)
            return i;
        i += l;
    }
    return n;
}

#ifdef SL_UTF8_AVX2
/* Whether all of s[0..n), n >= 32, is valid: blocks of ASCII are skipped, unless the block
 * before left a character open; the last bytes are checked in a copy with zeros after
 * them, so that a character open at the end is refused as one cut short. It stops at the
 * first bad block: a caller that replaces a bad byte and looks again (pb_string) must not
 * pay for the whole rest of the string each time, which made a long string of bad bytes
 * quadratic. */
__attribute__((target("avx2"))) static bool valid_avx2(const unsigned char *s, size_t n)
{
    __m256i bad, p1, p2, p3;
    bool open = false; /* the last block checked ends inside a character */
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        if (!_mm256_movemask_epi8(v)) {
            if (open)
                return false;
            continue;
        }
        utf8_before32(s + i, v, i > 0, &p1, &p2, &p3);
        bad = utf8_bad32(v, p1, p2, p3);
        if (!_mm256_testz_si256(bad, bad))
            return false;
        open = utf8_open32(s + i) != 0;
    }
    /* The rest (under 32 bytes): ASCII, with no character open before it, is valid; else
     * it is checked after the three bytes before it, then zeros. */
    if (!open && !_mm256_movemask_epi8(_mm256_loadu_si256((const __m256i *)(s + n - 32))))
        return true;
    unsigned char t[64] = {0};
    size_t rest = n - i;
    memcpy(t, s + i - 3, 3 + rest);
    __m256i v = _mm256_loadu_si256((const __m256i *)(t + 3));
    utf8_before32(t + 3, v, true, &p1, &p2, &p3);
    bad = utf8_bad32(v, p1, p2, p3);
    return _mm256_testz_si256(bad, bad);
}

#endif

size_t utf8_valid_prefix(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
#ifdef SL_UTF8_AVX2
    /* Valid text is checked once; only a string that is not looks for where it ends. */
    if (n >= 32 && __builtin_cpu_supports("avx2") && valid_avx2(s, n))
        return n;
#endif
    return prefix_scalar(s, n);
}
