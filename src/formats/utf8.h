/* utf8.h - UTF-8 as every encoder checks it (RFC 3629): no overlong form, no UTF-16
 * surrogate, nothing above U+10FFFF. JSON strings, protobuf strings and Loki labels must be
 * valid, and each writes U+FFFD for a byte that is not. */
#ifndef SL_UTF8_H
#define SL_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the valid sequence at s, of which n >= 1 bytes can be read, or 0 when
 * none starts there. */
static inline size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (n >= 2 && (s[1] & 0xc0) == 0x80) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
            return 0;
        if (c == 0xe0 && s[1] < 0xa0)
            return 0; /* overlong */
        if (c == 0xed && s[1] >= 0xa0)
            return 0; /* UTF-16 surrogate */
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        if (c == 0xf0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xf4 && s[1] >= 0x90)
            return 0; /* above U+10FFFF */
        return 4;
    }
    return 0;
}

/* Length of the longest valid prefix of s[0..n): n when all of it is valid. With AVX2,
 * 32 bytes at a time (utf8_bad32). */
size_t utf8_valid_prefix(const char *s, size_t n);

#if defined(__x86_64__) && defined(__GNUC__)
#define SL_UTF8_AVX2 1
#include <immintrin.h>

/* UTF-8 checked by table lookups (the method of Keiser and Lemire, "Validating UTF-8 in
 * less than one instruction per byte"): a byte and the one before it are wrong together
 * when the three tables - by the high and the low nibble of the byte before, by the high
 * nibble of the byte - all hold one of these bits; U8_CONT2 is right only where a 3- or
 * 4-byte sequence needs a second or third continuation. */
enum {
    U8_SHORT = 0x01, /* a lead byte, then no continuation */
    U8_LONG = 0x02,  /* ASCII, then a continuation */
    U8_OVER3 = 0x04, /* E0 80..9F */
    U8_LARGE = 0x08, /* F4 90..BF, F5..FF 90..BF */
    U8_SURR = 0x10,  /* ED A0..BF */
    U8_OVER2 = 0x20, /* C0 or C1, then a continuation */
    U8_OVER4 = 0x40, /* F0 80..8F, F5..FF 80..8F */
    U8_CONT2 = 0x80, /* two continuations */
    U8_ANY = U8_SHORT | U8_LONG | U8_CONT2,  /* by any low nibble: they need none */
    U8_CONT = U8_LONG | U8_CONT2 | U8_OVER2, /* by the byte, for every continuation */
    /* A low nibble of 5..F: F5..FF is too large whatever continuation follows (90..BF
     * under U8_LARGE, 80..8F under U8_OVER4's bit) */
    U8_F = U8_ANY | U8_LARGE | U8_OVER4,
};
#define U8_C(x) ((char)(unsigned char)(x))
#define U8_TABLE(a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p)                              \
    _mm256_setr_epi8(U8_C(a), U8_C(b), U8_C(c), U8_C(d), U8_C(e), U8_C(f), U8_C(g), U8_C(h),   \
                     U8_C(i), U8_C(j), U8_C(k), U8_C(l), U8_C(m), U8_C(n), U8_C(o), U8_C(p),   \
                     U8_C(a), U8_C(b), U8_C(c), U8_C(d), U8_C(e), U8_C(f), U8_C(g), U8_C(h),   \
                     U8_C(i), U8_C(j), U8_C(k), U8_C(l), U8_C(m), U8_C(n), U8_C(o), U8_C(p))

/* The lanes of block v that are wrong with the bytes before them (p1, p2, p3: the block
 * moved up by one, two and three bytes): non-zero where a sequence is invalid. A sequence
 * still open at the block's end is not one (its next bytes are the next block's). */
__attribute__((target("avx2"))) static inline __m256i utf8_bad32(__m256i v, __m256i p1,
                                                                 __m256i p2, __m256i p3)
{
    const __m256i by_hi1 = U8_TABLE(U8_LONG, U8_LONG, U8_LONG, U8_LONG, U8_LONG, U8_LONG,
                                    U8_LONG, U8_LONG, U8_CONT2, U8_CONT2, U8_CONT2, U8_CONT2,
                                    U8_SHORT | U8_OVER2, U8_SHORT,
                                    U8_SHORT | U8_OVER3 | U8_SURR,
                                    U8_SHORT | U8_LARGE | U8_OVER4);
    const __m256i by_lo1 = U8_TABLE(U8_ANY | U8_OVER2 | U8_OVER3 | U8_OVER4, U8_ANY | U8_OVER2,
                                    U8_ANY, U8_ANY, U8_ANY | U8_LARGE, U8_F, U8_F, U8_F, U8_F,
                                    U8_F, U8_F, U8_F, U8_F, U8_F | U8_SURR, U8_F, U8_F);
    const __m256i by_hi0 = U8_TABLE(U8_SHORT, U8_SHORT, U8_SHORT, U8_SHORT, U8_SHORT, U8_SHORT,
                                    U8_SHORT, U8_SHORT, U8_CONT | U8_OVER3 | U8_OVER4,
                                    U8_CONT | U8_OVER3 | U8_LARGE, U8_CONT | U8_SURR | U8_LARGE,
                                    U8_CONT | U8_SURR | U8_LARGE, U8_SHORT, U8_SHORT, U8_SHORT,
                                    U8_SHORT);
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i bad = _mm256_and_si256(
        _mm256_and_si256(
            _mm256_shuffle_epi8(by_hi1, _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib)),
            _mm256_shuffle_epi8(by_lo1, _mm256_and_si256(p1, nib))),
        _mm256_shuffle_epi8(by_hi0, _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)));
    /* Two or three bytes back a 3- or 4-byte lead: here a second continuation belongs. */
    __m256i need = _mm256_or_si256(_mm256_subs_epu8(p2, _mm256_set1_epi8((char)(0xe0 - 0x80))),
                                   _mm256_subs_epu8(p3, _mm256_set1_epi8((char)(0xf0 - 0x80))));
    return _mm256_xor_si256(bad, _mm256_and_si256(need, _mm256_set1_epi8((char)0x80)));
}
#undef U8_TABLE
#undef U8_C

/* p1, p2, p3 of utf8_bad32 for the block v at s: with `back` the bytes before it, read from
 * s[-3..] (they must be readable), else zeros (ASCII) in front. */
__attribute__((target("avx2"))) static inline void utf8_before32(const unsigned char *s,
                                                                 __m256i v, bool back,
                                                                 __m256i *p1, __m256i *p2,
                                                                 __m256i *p3)
{
    if (back) {
        *p1 = _mm256_loadu_si256((const __m256i *)(s - 1));
        *p2 = _mm256_loadu_si256((const __m256i *)(s - 2));
        *p3 = _mm256_loadu_si256((const __m256i *)(s - 3));
        return;
    }
    __m256i lo_in_hi = _mm256_permute2x128_si256(v, v, 0x08);
    *p1 = _mm256_alignr_epi8(v, lo_in_hi, 15);
    *p2 = _mm256_alignr_epi8(v, lo_in_hi, 14);
    *p3 = _mm256_alignr_epi8(v, lo_in_hi, 13);
}
#endif

/* Of the 32 bytes at s, valid UTF-8 so far, how many end it inside a character that runs
 * past them: the lead and continuations of that character, 0 to 3. */
static inline unsigned utf8_open32(const unsigned char *s)
{
    return s[31] >= 0xc0 ? 1 : s[30] >= 0xe0 ? 2 : s[29] >= 0xf0 ? 3 : 0;
}

/* Writes code point cp (at most U+10FFFF, no surrogate: the caller checked) as UTF-8 at o,
 * which has room for 4 bytes; returns the bytes written. */
static inline size_t utf8_put(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

#endif
