/* json.c - JSON encoding of events for NDJSON sinks and the DLQ, and a small strict
 * RFC 8259 parser (DOM in an arena) used to read those records back. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/common.h"
#include "cri.h"
#include "utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* ---- Escaping ------------------------------------------------------------------------ */

/* 1 for bytes that are copied verbatim: printable ASCII except '"' and '\\'. */
static const unsigned char json_safe[256] = {
#define R16(v) v, v, v, v, v, v, v, v, v, v, v, v, v, v, v, v
    R16(0), R16(0),                                   /* 0x00-0x1f controls */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,   /* 0x20-0x2f, '"' unsafe */
    R16(1), R16(1),                                   /* 0x30-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,   /* 0x50-0x5f, '\\' unsafe */
    R16(1), R16(1),                                   /* 0x60-0x7f (DEL is legal) */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), /* 0x80-0xff */
#undef R16
};

/* Second byte of the short escapes; 'u' means \u00XX. */
static const char json_esc_char[32] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u',
};

#ifdef __SSE2__
/* Copies k < 16 bytes with at most two overlapping moves each way. */
static inline void copy_short(char *d, const unsigned char *s, size_t k)
{
    if (k >= 8) {
        uint64_t a, z;
        memcpy(&a, s, 8);
        memcpy(&z, s + k - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + k - 8, &z, 8);
    } else if (k >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + k - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + k - 4, &z, 4);
    } else {
        for (size_t j = 0; j < k; j++)
            d[j] = (char)s[j];
    }
}
#endif

/* The byte that needs care at s[*pi] (a control, '"', '\\' or a UTF-8 lead byte), written
 * at d, and after a valid UTF-8 character the run of them that follows; returns the new
 * output position. Re-establishes json_escape's room invariant first, since a longer
 * escape uses up more than its share. Inlined where it is used: as a call, every quote of
 * a scan's tail cost 8% of the scan. */
__attribute__((always_inline)) static inline char *
escape_special(sl_buf *out, const unsigned char *s, size_t n, size_t *pi, char *d)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = *pi;
    /* Room for the rest at two bytes each + the worst single expansion (6 bytes). */
    size_t used = (size_t)(d - out->p);
    if (out->cap - used < 2 * (n - i) + 8) {
        out->len = used;
        buf_reserve(out, (n - i) * 2 + 8);
        d = out->p + out->len;
    }
    unsigned char c = s[i];
    if (c >= 0x80) {
        size_t l = utf8_seq_len(s + i, n - i);
        if (!l) {
            memcpy(d, "\xef\xbf\xbd", 3); /* U+FFFD for one bad byte */
            *pi = i + 1;
            return d + 3;
        }
        /* The run of valid sequences that starts here (text in most scripts is nothing
         * else), copied as it is: one byte out per byte in keeps the room above. The
         * first ASCII or bad byte ends it. */
        do {
            memcpy(d, s + i, l);
            d += l;
            i += l;
        } while (i < n && s[i] >= 0x80 && (l = utf8_seq_len(s + i, n - i)) != 0);
        *pi = i;
        return d;
    }
    *d++ = '\\';
    if (c == '"' || c == '\\') {
        *d++ = (char)c;
    } else {
        char e = json_esc_char[c];
        *d++ = e;
        if (e == 'u') {
            *d++ = '0';
            *d++ = '0';
            *d++ = hex[c >> 4];
            *d++ = hex[c & 15];
        }
    }
    *pi = i + 1;
    return d;
}

/* Escapes s[i..n) to d and sets out->len. Invariant: at the top of the loop there is
 * room for the rest of the input escaped as '"' and '\\' are (two bytes each) plus one
 * longer escape (6 bytes); a quote or backslash keeps it by itself, anything longer
 * re-checks it (escape_special), so neither a byte nor a quote tests capacity. */
static void escape_from(sl_buf *out, const unsigned char *s, size_t n, size_t i, char *d)
{
    while (i < n) {
#ifdef __SSE2__
        /* 16 bytes at a time: each block is stored whole (it fits: i + 16 <= n and there
         * is room for n - i bytes) and the output advances to the first byte needing care.
         * Signed compare < 0x20 also catches bytes >= 0x80 (negative), which take the
         * UTF-8 path below. No call per run: JSON-in-JSON messages escape every few bytes. */
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            _mm_storeu_si128((__m128i *)d, v);
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            int mask = _mm_movemask_epi8(bad);
            if (mask) {
                size_t k = (size_t)__builtin_ctz((unsigned)mask);
                i += k;
                d += k;
                unsigned char c = s[i];
                if (c == '"' || c == '\\') { /* JSON in a message: one every few bytes */
                    d[0] = '\\';
                    d[1] = (char)c;
                    d += 2;
                    i++;
                    continue;
                }
                goto special;
            }
            i += 16;
            d += 16;
        }
        if (i < n && n >= 16) {
            /* The tail (under 16 bytes) of a long input: one block ending at n, its lanes
             * before i ignored; the safe run is copied in at most two moves. */
            size_t back = i + 16 - n;
            __m128i v = _mm_loadu_si128((const __m128i *)(s + n - 16));
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            unsigned mask = (unsigned)_mm_movemask_epi8(bad) >> back;
            size_t k = mask ? (size_t)__builtin_ctz(mask) : n - i;
            copy_short(d, s + i, k);
            i += k;
            d += k;
            if (!mask)
                break;
            goto special;
        }
#endif
        /* 8 bytes at a time (SWAR): any byte < 0x20 or >= 0x80, '"' or '\\'? */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
            uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
            uint64_t bad = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b) | w;
            if (bad & high)
                break;
            memcpy(d, &w, 8);
            i += 8;
            d += 8;
        }
        while (i < n && json_safe[s[i]])
            *d++ = (char)s[i++];
        if (i >= n)
            break;
#ifdef __SSE2__
    special:;
#endif
        d = escape_special(out, s, n, &i, d);
    }
    out->len = (size_t)(d - out->p);
}

/* Room for n input bytes at two output bytes each plus one 6-byte escape (see
 * escape_from); returns where to write. */
static inline char *escape_reserve(sl_buf *out, size_t n)
{
    if (out->cap - out->len < 2 * n + 8)
        buf_reserve(out, 2 * n + 8);
    return out->p + out->len;
}

void json_escape_sse2(sl_buf *out, const char *s, size_t n)
{
    char *d = escape_reserve(out, n);
    escape_from(out, (const unsigned char *)s, n, 0, d);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define SL_JSON_AVX2 1
#include <immintrin.h>

/* The start of a 32-byte scan: room reserved; an input under 32 bytes is escaped here by
 * escape_from, and NULL says so. Else where the scan writes. */
static inline char *scan_begin(sl_buf *out, const unsigned char *s, size_t n)
{
    char *d = escape_reserve(out, n);
    if (n >= 32)
        return d;
    escape_from(out, s, n, 0, d);
    return NULL;
}

/* Copies k < 32 bytes in at most two moves each way. */
static inline void copy_run(char *d, const unsigned char *s, size_t k)
{
    if (k >= 16) {
        _mm_storeu_si128((__m128i *)d, _mm_loadu_si128((const __m128i *)s));
        _mm_storeu_si128((__m128i *)(d + k - 16), _mm_loadu_si128((const __m128i *)(s + k - 16)));
    } else {
        copy_short(d, s, k);
    }
}

/* The tail of a 32-byte scan, under 32 bytes from *pi (n >= 32): one block ending at n,
 * its lanes before *pi ignored. Copies the run needing no care (in at most two moves) and
 * advances *pi and *pd past it. Returns false when that was the end of the input; true
 * when *pi is at a byte needing care. */
__attribute__((target("avx2"))) static inline bool escape_tail32(const unsigned char *s,
                                                                 size_t n, size_t *pi,
                                                                 char **pd)
{
    size_t i = *pi;
    char *d = *pd;
    if (i >= n)
        return false;
    __m256i v = _mm256_loadu_si256((const __m256i *)(s + n - 32));
    __m256i care = _mm256_andnot_si256(
        _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')),
                        _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))),
        _mm256_cmpgt_epi8(v, _mm256_set1_epi8(0x1f)));
    unsigned mask = ~(unsigned)_mm256_movemask_epi8(care) >> (i + 32 - n);
    size_t k = mask ? (size_t)__builtin_ctz(mask) : n - i;
    copy_run(d, s + i, k);
    *pi = i + k;
    *pd = d + k;
    return mask != 0;
}

/* Shuffles that put a backslash before the bytes of an 8-byte group marked in its mask
 * (a '"' or '\\'): entry m takes lane j for byte j and lane 8 for a backslash, the
 * 8 + popcount(m) output bytes first. Built once, by the first AVX2 scan. */
static uint8_t quote_lut[256][16] __attribute__((aligned(16)));
static pthread_once_t quote_lut_once = PTHREAD_ONCE_INIT;

static void quote_lut_build(void)
{
    for (unsigned m = 0; m < 256; m++) {
        unsigned p = 0;
        for (unsigned j = 0; j < 8; j++) {
            if (m >> j & 1)
                quote_lut[m][p++] = 8;
            quote_lut[m][p++] = (uint8_t)j;
        }
        while (p < 16)
            quote_lut[m][p++] = 0x80; /* a zero byte, overwritten by what follows */
    }
}

/* A 32-byte block whose only bytes needing care are '"' and '\\' (marked in qb), escaped
 * 8 bytes at a time without a branch: one shuffle and one 16-byte store per group. Writes
 * at most 64 bytes from d (one store's reach past the end included); returns the end. */
__attribute__((target("avx2,popcnt"))) static inline char *
quote_groups(char *d, const unsigned char *s, unsigned qb, const uint8_t (*lut)[16],
             __m128i bs_hi)
{
    for (unsigned g = 0; g < 4; g++, qb >>= 8, s += 8) {
        unsigned m = qb & 0xff;
        __m128i src = _mm_or_si128(_mm_loadl_epi64((const __m128i *)s), bs_hi);
        __m128i o = _mm_shuffle_epi8(src, _mm_load_si128((const __m128i *)lut[m]));
        _mm_storeu_si128((__m128i *)d, o);
        d += 8 + _mm_popcnt_u32(m);
    }
    return d;
}

/* How many bytes of block v from lane `skip` on (a character starts there) are whole valid
 * UTF-8 characters (as utf8_seq_len has them: no overlong form, surrogate or code point
 * above U+10FFFF) before the first control or byte marked in stop_at; a character that runs
 * past the block ends the count at its first byte. 0 when an invalid sequence follows lane
 * skip anywhere in the block: escape_special then takes it a character at a time. Text in
 * most scripts is nothing but multi-byte characters, which one at a time cost 25 times what
 * ASCII costs. */
__attribute__((target("avx2"))) static inline size_t utf8_run32(__m256i v, unsigned stop_at,
                                                               unsigned skip)
{
    __m256i u = _mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)); /* unsigned order */
#define GE(c)                                                                              \
    (unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi8(u, _mm256_set1_epi8((char)(((c)-1) ^ 0x80))))
#define EQ(c) (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, _mm256_set1_epi8((char)(c))))
    unsigned hi = (unsigned)_mm256_movemask_epi8(v), ctl = ~GE(0x20);
    unsigned c0 = GE(0xc0), c2 = GE(0xc2), e0 = GE(0xe0), f0 = GE(0xf0), f5 = GE(0xf5);
    unsigned a0 = GE(0xa0), b90 = GE(0x90);
    /* Lead bytes before lane skip are not looked at: their characters are behind (or were
     * bad, and written as U+FFFD), so a continuation byte at skip is a stray one. */
    unsigned live = ~0u << skip;
    unsigned cont = hi & ~c0, l2 = c2 & ~e0 & live, l3 = e0 & ~f0 & live, l4 = f0 & ~f5 & live;
    /* Where continuation bytes must be, and nowhere else; bits past the block dropped. */
    unsigned need = ((l2 | l3 | l4) << 1) | ((l3 | l4) << 2) | (l4 << 3);
    unsigned err = (need ^ cont) | (c0 & ~c2) | f5 | (((EQ(0xe0) & live) << 1) & ~a0) |
                   (((EQ(0xed) & live) << 1) & a0) | (((EQ(0xf0) & live) << 1) & ~b90) |
                   (((EQ(0xf4) & live) << 1) & b90);
#undef GE
#undef EQ
    if (err >> skip)
        return 0;
    unsigned end = (ctl | stop_at | (l2 & 0x80000000u) | (l3 & 0xc0000000u) |
                    (l4 & 0xe0000000u)) >> skip;
    return end ? (size_t)__builtin_ctz(end) : 32 - skip;
}

/* Block v at s (a character starts there: s[0] is not a continuation byte): how many of
 * its bytes from lane 0 are whole valid characters - 32 less those of a character running
 * past the block, controls and quotes counted as any ASCII - or 0 when a sequence in it is
 * invalid (utf8_run32 then says where). With `back` the three bytes before s are read and
 * checked with it, else taken as ASCII: they can only make it refuse (a lead byte left
 * unfinished there), never give a run escape_special would not. */
__attribute__((target("avx2"))) static inline size_t utf8_lookup32(const unsigned char *s,
                                                                   __m256i v, bool back)
{
    __m256i p1, p2, p3;
    utf8_before32(s, v, back, &p1, &p2, &p3);
    __m256i bad = utf8_bad32(v, p1, p2, p3);
    return _mm256_testz_si256(bad, bad) ? 32 - utf8_open32(s) : 0;
}

/* The tail of a 32-byte scan at a byte >= 0x80 (*pi, under 32 bytes from the end n >= 32):
 * copies the run of whole UTF-8 characters there (utf8_lookup32, or utf8_run32 when it
 * refuses, on the block ending at n, up to a control, quote or backslash) and advances *pi
 * and *pd past it. False when there is none (an invalid sequence: escape_special's). */
__attribute__((target("avx2"))) static inline bool utf8_tail(const unsigned char *s, size_t n,
                                                             size_t *pi, char **pd)
{
    size_t i = *pi, k = 0;
    unsigned skip = (unsigned)(i + 32 - n);
    __m256i v = _mm256_loadu_si256((const __m256i *)(s + n - 32));
    unsigned qb = (unsigned)_mm256_movemask_epi8(
        _mm256_or_si256(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('"')),
                        _mm256_cmpeq_epi8(v, _mm256_set1_epi8('\\'))));
    if ((s[i] & 0xc0) != 0x80) {
        size_t run = utf8_lookup32(s + n - 32, v, n >= 35);
        __m256i low = _mm256_cmpgt_epi8(_mm256_set1_epi8(0x20), v); /* and bytes >= 0x80 */
        unsigned ctl = (unsigned)_mm256_movemask_epi8(low) & ~(unsigned)_mm256_movemask_epi8(v);
        unsigned stop = (qb | ctl) >> skip;
        if (run > skip)
            k = SL_MIN(run - skip, stop ? (size_t)__builtin_ctz(stop) : 32);
    }
    if (!k)
        k = utf8_run32(v, qb, skip);
    if (!k)
        return false;
    copy_run(*pd, s + i, k);
    *pi = i + k;
    *pd += k;
    return true;
}

/* escape_from's loop over 32-byte blocks (half the compares and branches per byte of a
 * long message); inputs under 32 bytes go to escape_from. A block with quotes or
 * backslashes but no other byte needing care is escaped whole (quote_groups): JSON in a
 * message has one every few bytes, and leaving the loop at each is a branch mispredicted
 * each time; so is a block of valid UTF-8 without controls (utf8_lookup32), but for the
 * lead bytes of a character it cuts. The block loop makes no call, so the constants stay
 * in registers. */
__attribute__((target("avx2,popcnt"))) static void escape_avx2(sl_buf *out, const char *str,
                                                               size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char *d = scan_begin(out, s, n);
    size_t i = 0;
    if (!d)
        return;
    pthread_once(&quote_lut_once, quote_lut_build);
    const uint8_t (*lut)[16] = quote_lut;
    __m256i ctl = _mm256_set1_epi8(0x1f), quote = _mm256_set1_epi8('"'),
            bslash = _mm256_set1_epi8('\\');
    __m128i bs_hi = _mm_set_epi64x(0x5c5c5c5c5c5c5c5cll, 0);
    /* Opaque to the compiler, which would otherwise build them again in every block. */
    __asm__("" : "+x"(ctl), "+x"(quote), "+x"(bslash), "+x"(bs_hi));
    for (;;) {
        unsigned mask;
        size_t k;
        while (i + 32 <= n) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
            _mm256_storeu_si256((__m256i *)d, v);
            /* Lanes needing care: not signed > 0x1f (controls, and bytes >= 0x80, which
             * are negative: the UTF-8 path), then '"' and '\\', as in escape_from. */
            unsigned hard = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi8(v, ctl));
            unsigned qb = (unsigned)_mm256_movemask_epi8(
                _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)));
            if (!(hard | qb)) {
                i += 32;
                d += 32;
                continue;
            }
            if (!hard) { /* room: 2 * (n - i) + 8 >= 72 bytes (escape_from's invariant) */
                d = quote_groups(d, s + i, qb, lut, bs_hi);
                i += 32;
                continue;
            }
            /* Text in other scripts: whole blocks, their quotes escaped as above. */
            if ((s[i] & 0xc0) != 0x80 && hard == (unsigned)_mm256_movemask_epi8(v)) {
                size_t run = utf8_lookup32(s + i, v, i >= 3);
                if (run) { /* no quote among the lead bytes left out */
                    d = qb ? quote_groups(d, s + i, qb, lut, bs_hi) - (32 - run) : d + run;
                    i += run;
                    continue;
                }
            }
            size_t run = utf8_run32(v, qb, 0); /* stored already, as it is */
            if (run) {
                i += run;
                d += run;
                continue;
            }
            mask = hard | qb;
            k = (size_t)__builtin_ctz(mask);
            i += k;
            d += k;
            unsigned char c = s[i];
            if (c != '"' && c != '\\')
                goto special;
            d[0] = '\\'; /* JSON in a message: one every few bytes */
            d[1] = (char)c;
            d += 2;
            i++;
        }
        if (!escape_tail32(s, n, &i, &d))
            break;
        if (s[i] >= 0x80 && utf8_tail(s, n, &i, &d))
            continue;
    special:
        d = escape_special(out, s, n, &i, d);
    }
    out->len = (size_t)(d - out->p);
}

/* The widest scan this CPU runs, asked once: seven feature tests are not made again for
 * every string escaped. */
enum { SCAN_SSE2 = 1, SCAN_AVX2, SCAN_AVX512 };
static int escape_scan(void)
{
    static atomic_int known; /* 0: not asked yet (the same answer on every thread) */
    int k = atomic_load_explicit(&known, memory_order_relaxed);
    if (!k) {
        k = !__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("popcnt") ? SCAN_SSE2
            : __builtin_cpu_supports("avx512vbmi2") && __builtin_cpu_supports("avx512vbmi") &&
                    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                    __builtin_cpu_supports("bmi2")
                ? SCAN_AVX512
                : SCAN_AVX2;
        atomic_store_explicit(&known, k, memory_order_relaxed);
    }
    return k;
}

bool json_escape_avx2(sl_buf *out, const char *s, size_t n)
{
    if (escape_scan() < SCAN_AVX2)
        return false;
    escape_avx2(out, s, n);
    return true;
}

/* escape_avx2 with every '"' and '\\' of a 32-byte block escaped in one step: the block is
 * spread to 64 lanes, a backslash before each byte, and compressed (AVX-512 VBMI2) to keep
 * the backslashes of those bytes alone (escape_avx2 takes four shuffles, quote_groups), and
 * 64 bytes needing no care are copied at once. A block with bytes >= 0x80 copies its run of
 * whole UTF-8 characters (utf8_lookup32, else utf8_run32); controls and invalid sequences
 * go through escape_special. VBMI2 means Ice Lake or Zen 4 and later, whose clocks hardly
 * drop for 512-bit work. */
#define SL_AVX512_TARGET "avx2,avx512f,avx512bw,avx512vl,avx512vbmi,avx512vbmi2,bmi2,popcnt"
__attribute__((target(SL_AVX512_TARGET))) static void escape_avx512(sl_buf *out,
                                                                    const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    char *d = scan_begin(out, s, n);
    size_t i = 0;
    if (!d)
        return;
    __m256i ctl = _mm256_set1_epi8(0x1f), quote = _mm256_set1_epi8('"'),
            bslash = _mm256_set1_epi8('\\');
    /* Lane 2j + 1 of the spread block takes byte j; even lanes keep a backslash. */
    __m512i spread = _mm512_set_epi8(
        31, 0, 30, 0, 29, 0, 28, 0, 27, 0, 26, 0, 25, 0, 24, 0, 23, 0, 22, 0, 21, 0, 20, 0,
        19, 0, 18, 0, 17, 0, 16, 0, 15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7,
        0, 6, 0, 5, 0, 4, 0, 3, 0, 2, 0, 1, 0, 0, 0);
    __m512i bs64 = _mm512_set1_epi8('\\'), ctl64 = _mm512_set1_epi8(0x1f),
            quote64 = _mm512_set1_epi8('"');
    const uint64_t odd = 0xaaaaaaaaaaaaaaaaull, even = 0x5555555555555555ull;
    for (;;) {
        unsigned mask, qb;
        size_t k;
        while (i + 32 <= n) {
            if (i + 64 <= n) { /* 64 bytes needing no care at once */
                __m512i z = _mm512_loadu_si512((const void *)(s + i));
                __mmask64 care = _mm512_cmple_epi8_mask(z, ctl64) |
                                 _mm512_cmpeq_epi8_mask(z, quote64) |
                                 _mm512_cmpeq_epi8_mask(z, bs64);
                if (!care) {
                    _mm512_storeu_si512((void *)d, z);
                    i += 64;
                    d += 64;
                    continue;
                }
            }
            __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
            /* Room: 2 * (n - i) + 8 >= 72 bytes (escape_from's invariant); this block
             * writes at most 64 and takes 32 of the input. */
            mask = ~(unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi8(v, ctl));
            qb = (unsigned)_mm256_movemask_epi8(
                _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)));
            if (mask) /* a control or a byte >= 0x80: up to it as escape_avx2 does */
                break;
            if (!qb) {
                _mm256_storeu_si256((__m256i *)d, v);
                i += 32;
                d += 32;
                continue;
            }
            __m512i w = _mm512_mask_permutexvar_epi8(bs64, odd, spread,
                                                     _mm512_castsi256_si512(v));
            uint64_t keep = odd | _pdep_u64(qb, even);
            _mm512_storeu_si512((void *)d, _mm512_maskz_compress_epi8(keep, w));
            i += 32;
            d += 32 + (size_t)__builtin_popcount(qb);
        }
        if (i + 32 <= n) {
            /* The block holds a control or a byte >= 0x80: the run of whole UTF-8
             * characters it starts with (utf8_lookup32 when it holds no control, else
             * utf8_run32), or what comes before its first such byte and that byte
             * (escape_special); quotes among them escaped here. */
            __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
            size_t run = 0;
            if ((s[i] & 0xc0) != 0x80 && mask == (unsigned)_mm256_movemask_epi8(v))
                run = utf8_lookup32(s + i, v, i >= 3);
            if (!run)
                run = utf8_run32(v, 0, 0);
            k = run ? run : (size_t)__builtin_ctz(mask);
            uint64_t lanes = ~0ull; /* the output lanes of the k bytes taken */
            if (k < 32) {
                qb &= (1u << k) - 1;
                lanes = (1ull << (2 * k)) - 1;
            }
            __m512i w = _mm512_mask_permutexvar_epi8(bs64, odd, spread,
                                                     _mm512_castsi256_si512(v));
            uint64_t keep = (odd | _pdep_u64(qb, even)) & lanes;
            _mm512_storeu_si512((void *)d, _mm512_maskz_compress_epi8(keep, w));
            i += k;
            d += k + (size_t)__builtin_popcount(qb);
            if (!run)
                d = escape_special(out, s, n, &i, d);
            continue;
        }
        if (!escape_tail32(s, n, &i, &d))
            break;
        if (s[i] >= 0x80 && utf8_tail(s, n, &i, &d))
            continue;
        d = escape_special(out, s, n, &i, d);
    }
    out->len = (size_t)(d - out->p);
}

bool json_escape_avx512(sl_buf *out, const char *s, size_t n)
{
    if (escape_scan() != SCAN_AVX512)
        return false;
    escape_avx512(out, s, n);
    return true;
}
#else
bool json_escape_avx2(sl_buf *out, const char *s, size_t n)
{
    (void)out, (void)s, (void)n;
    return false;
}

bool json_escape_avx512(sl_buf *out, const char *s, size_t n)
{
    (void)out, (void)s, (void)n;
    return false;
}
#endif

void json_escape(sl_buf *out, const char *s, size_t n)
{
#ifdef SL_JSON_AVX2
    /* Messages are mostly long enough for 32-byte blocks; shorter ones gain nothing. */
    if (n >= 32) {
        int scan = escape_scan();
        if (scan == SCAN_AVX512) {
            escape_avx512(out, s, n);
            return;
        }
        if (scan == SCAN_AVX2) {
            escape_avx2(out, s, n);
            return;
        }
    }
#endif
    json_escape_sse2(out, s, n);
}

/* ---- Time ---------------------------------------------------------------------------- */

static void put_digits(char *p, unsigned v, int width)
{
    for (int k = width - 1; k >= 0; k--) {
        p[k] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* "00" .. "99": two digits per division (times and integers are on every event). */
static const char digit_pairs[201] = "0001020304050607080910111213141516171819"
                                     "2021222324252627282930313233343536373839"
                                     "4041424344454647484950515253545556575859"
                                     "6061626364656667686970717273747576777879"
                                     "8081828384858687888990919293949596979899";

static inline void put_pair(char *p, unsigned v) { memcpy(p, digit_pairs + 2 * v, 2); }

/* v < 10^9 as exactly 9 digits. */
static inline void put_9digits(char *p, unsigned v)
{
    unsigned hi = v / 100000000u;
    v -= hi * 100000000u;
    p[0] = (char)('0' + hi);
    unsigned a = v / 10000u, b = v % 10000u;
    put_pair(p + 1, a / 100u);
    put_pair(p + 3, a % 100u);
    put_pair(p + 5, b / 100u);
    put_pair(p + 7, b % 100u);
}

void json_format_time(sl_buf *out, int64_t ts_ns)
{
    /* Events of one batch share their second; remember the last formatted prefix
     * per thread so gmtime runs once per second, not once per event. */
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local char cached[24];
    int64_t sec = ts_ns / 1000000000, ns = ts_ns % 1000000000;
    if (ns < 0) {
        ns += 1000000000;
        sec--;
    }
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
            memset(&tm, 0, sizeof tm);
            tm.tm_year = 70;
            tm.tm_mday = 1;
        }
        put_digits(cached, (unsigned)(tm.tm_year + 1900), 4);
        cached[4] = '-';
        put_digits(cached + 5, (unsigned)tm.tm_mon + 1, 2);
        cached[7] = '-';
        put_digits(cached + 8, (unsigned)tm.tm_mday, 2);
        cached[10] = 'T';
        put_digits(cached + 11, (unsigned)tm.tm_hour, 2);
        cached[13] = ':';
        put_digits(cached + 14, (unsigned)tm.tm_min, 2);
        cached[16] = ':';
        put_digits(cached + 17, (unsigned)tm.tm_sec, 2);
        cached[19] = '.';
        cached_sec = sec;
    }
    if (out->cap - out->len < 30)
        buf_reserve(out, 30);
    char *p = out->p + out->len;
    memcpy(p, cached, 20);
    put_9digits(p + 20, (unsigned)ns);
    p[29] = 'Z';
    out->len += 30;
}

/* ---- Encoding ------------------------------------------------------------------------ */

static void put_string(sl_buf *out, const char *s, size_t n)
{
    buf_putc(out, '"');
    json_escape(out, s, n);
    buf_putc(out, '"');
}

/* Shortest of %.15g / %.17g that reads back exactly; always looks like a float so
 * decoding restores the type ("1.0", not "1"). */
static void put_double(sl_buf *out, double f)
{
    if (!isfinite(f)) {
        buf_append(out, "null", 4);
        return;
    }
    char tmp[40];
    int len = snprintf(tmp, sizeof tmp, "%.15g", f);
    if (strtod(tmp, NULL) != f)
        len = snprintf(tmp, sizeof tmp, "%.17g", f);
    if (!strpbrk(tmp, ".eE")) {
        tmp[len++] = '.';
        tmp[len++] = '0';
    }
    buf_append(out, tmp, (size_t)len);
}

/* Decimal digits of u (1..20): the bit length gives the digit count or one more. u | 1
 * has as many digits as u (a power of ten is even) and is never 0. */
static inline unsigned dec_digits(uint64_t u)
{
    u |= 1;
    static const uint64_t pow10[20] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull};
    unsigned t = ((64u - (unsigned)__builtin_clzll(u)) * 1233u) >> 12; /* ~log10(2^bits) */
    return t + (u >= pow10[t]);
}

/* Written in place, two digits at a time from the end; 32-bit division once it fits (an
 * offset or a count nearly always does from the start). */
static void put_int(sl_buf *out, int64_t v)
{
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    unsigned n = dec_digits(u) + (v < 0);
    if (out->cap - out->len < n)
        buf_reserve(out, n);
    char *p = out->p + out->len + n;
    if (v < 0)
        out->p[out->len] = '-';
    out->len += n;
    while (u > UINT32_MAX) {
        p -= 2;
        put_pair(p, (unsigned)(u % 100));
        u /= 100;
    }
    unsigned w = (unsigned)u;
    while (w >= 100) {
        p -= 2;
        put_pair(p, w % 100);
        w /= 100;
    }
    if (w >= 10)
        put_pair(p - 2, w);
    else
        p[-1] = (char)('0' + w);
}

void json_write_double(sl_buf *out, double f) { put_double(out, f); }

void json_write_int(sl_buf *out, int64_t v) { put_int(out, v); }

/* Whether key is "timestamp" or "message" after `min` or more leading underscores: the
 * names of the object's own members, which a field must not repeat (a reader of the
 * NDJSON would take its value for the event's). A field so named is written with one more
 * '_', and json_decode_event takes one away, so every key round-trips. */
static bool own_member_name(const char *k, size_t n, size_t min)
{
    size_t u = 0;
    while (u < n && k[u] == '_')
        u++;
    if (u < min)
        return false;
    k += u, n -= u;
    return (n == 7 && memcmp(k, "message", 7) == 0) ||
           (n == 9 && memcmp(k, "timestamp", 9) == 0);
}

void json_encode_event(sl_buf *out, const sl_event *e)
{
    buf_append(out, "{\"timestamp\":\"", 14);
    json_format_time(out, e->ts_ns);
    buf_append(out, "\",\"message\":", 12);
    put_string(out, e->message.ptr, e->message.len);
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++) {
        const sl_field *f = event_field(e, i);
        buf_putc(out, ',');
        if (f->key.len >= 7 && own_member_name(f->key.ptr, f->key.len, 0)) {
            buf_append(out, "\"_", 2);
            buf_append(out, f->key.ptr, f->key.len);
            buf_putc(out, '"');
        } else {
            put_string(out, f->key.ptr, f->key.len);
        }
        buf_putc(out, ':');
        switch (f->type) {
        case SL_VAL_STR:
            put_string(out, f->v.s.ptr, f->v.s.len);
            break;
        case SL_VAL_INT:
            put_int(out, f->v.i);
            break;
        case SL_VAL_FLOAT:
            put_double(out, f->v.f);
            break;
        case SL_VAL_BOOL:
            if (f->v.b)
                buf_append(out, "true", 4);
            else
                buf_append(out, "false", 5);
            break;
        case SL_VAL_JSON:
            if (f->v.s.len)
                buf_append(out, f->v.s.ptr, f->v.s.len);
            else
                buf_append(out, "null", 4);
            break;
        default:
            buf_append(out, "null", 4);
        }
    }
    buf_putc(out, '}');
}

/* ---- Parser -------------------------------------------------------------------------- */

#define JSON_MAX_DEPTH 64

typedef struct jparser {
    sl_arena *a;
    const unsigned char *s;
    size_t n, i;
    char *err;
    size_t errlen;
    int failed;
} jparser;

static json_value *jfail(jparser *p, const char *what)
{
    if (!p->failed)
        sl_seterr(p->err, p->errlen, SL_ERR_CORRUPT, "json: %s at offset %zu", what, p->i);
    p->failed = 1;
    return NULL;
}

static void skip_ws(jparser *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static json_value *new_value(jparser *p, json_type t, size_t start)
{
    json_value *v = arena_alloc(p->a, sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    v->raw = (const char *)p->s + start;
    return v;
}

static int hex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int d = sl_hexval(s[k]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Parses a string at p->i (which is at '"'); the unescaped text goes to the arena.
 * Unescaped output is never longer than the escaped input, so one allocation of the
 * raw length suffices. */
/* Unescapes JSON string text s[start, end) (its quotes excluded) into o, which has room
 * for end - start + 1 bytes, and ends it with a NUL; a lone surrogate becomes U+FFFD, so the
 * output is valid UTF-8. Returns the length, or -1 with *bad at the offending escape and
 * *why set. */
static ptrdiff_t unescape(const unsigned char *s, size_t start, size_t end, char *o,
                          size_t *bad, const char **why)
{
    size_t w = 0, i = start;
    while (i < end) {
        unsigned char c = s[i];
        if (c != '\\') {
            o[w++] = (char)c;
            i++;
            continue;
        }
        i++;
        c = s[i++];
        switch (c) {
        case '"': o[w++] = '"'; break;
        case '\\': o[w++] = '\\'; break;
        case '/': o[w++] = '/'; break;
        case 'b': o[w++] = '\b'; break;
        case 'f': o[w++] = '\f'; break;
        case 'n': o[w++] = '\n'; break;
        case 'r': o[w++] = '\r'; break;
        case 't': o[w++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (i + 4 > end || hex4(s + i, &cp) != 0) {
                *bad = i;
                *why = "bad \\u escape";
                return -1;
            }
            i += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && i + 6 <= end && s[i] == '\\' && s[i + 1] == 'u' &&
                hex4(s + i + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                cp = 0xfffd; /* lone surrogate: keep the output valid UTF-8 */
            }
            w += utf8_put(o + w, cp);
            break;
        }
        default:
            *bad = i - 1;
            *why = "bad escape";
            return -1;
        }
    }
    o[w] = '\0';
    return (ptrdiff_t)w;
}

static int parse_string(jparser *p, const char **out, size_t *outlen)
{
    size_t start = ++p->i; /* skip '"' */
    size_t end = start;
    bool plain = true;
    while (end < p->n && p->s[end] != '"') {
        unsigned char c = p->s[end];
        if (c == '\\') {
            plain = false;
            end += 2;
            continue;
        }
        if (c < 0x20) {
            p->i = end;
            jfail(p, "control character in string");
            return -1;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq_len(p->s + end, p->n - end);
            if (!l) {
                p->i = end;
                jfail(p, "invalid UTF-8 in string");
                return -1;
            }
            end += l;
            continue;
        }
        end++;
    }
    if (end >= p->n) {
        p->i = p->n;
        jfail(p, "unterminated string");
        return -1;
    }
    if (plain) {
        *out = arena_strndup(p->a, (const char *)p->s + start, end - start);
        *outlen = end - start;
        p->i = end + 1;
        return 0;
    }
    char *o = arena_alloc(p->a, end - start + 1);
    size_t bad;
    const char *why;
    ptrdiff_t w = unescape(p->s, start, end, o, &bad, &why);
    if (w < 0) {
        p->i = bad;
        jfail(p, why);
        return -1;
    }
    *out = o;
    *outlen = (size_t)w;
    p->i = end + 1;
    return 0;
}

static json_value *parse_number(jparser *p)
{
    size_t start = p->i, i = p->i;
    const unsigned char *s = p->s;
    if (i < p->n && s[i] == '-')
        i++;
    if (i >= p->n)
        return jfail(p, "truncated number");
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        p->i = i;
        return jfail(p, "bad number");
    }
    if (i < p->n && s[i] == '.') {
        i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return jfail(p, "bad fraction");
        }
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < p->n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->n || s[i] < '0' || s[i] > '9') {
            p->i = i;
            return jfail(p, "bad exponent");
        }
        while (i < p->n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    json_value *v = new_value(p, JSON_NUM, start);
    /* strtod needs a terminated copy: the input is not NUL-terminated. */
    char tmp[64];
    char *num = (i - start < sizeof tmp) ? tmp : arena_alloc(p->a, i - start + 1);
    memcpy(num, s + start, i - start);
    num[i - start] = '\0';
    v->num = strtod(num, NULL);
    v->raw_len = i - start;
    p->i = i;
    return v;
}

static json_value *parse_value(jparser *p, int depth);

/* Grows an arena-backed pointer array by doubling (old copies are abandoned). */
static void *grow(jparser *p, void *old, size_t n, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 4;
    void *nw = arena_alloc(p->a, ncap * elem);
    if (n)
        memcpy(nw, old, n * elem);
    *cap = ncap;
    return nw;
}

static json_value *parse_container(jparser *p, int depth, bool obj)
{
    if (depth >= JSON_MAX_DEPTH)
        return jfail(p, "nesting deeper than 64");
    size_t start = p->i++;
    json_value *v = new_value(p, obj ? JSON_OBJ : JSON_ARR, start);
    size_t cap = 0, kcap = 0;
    char close = obj ? '}' : ']';
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (unsigned char)close) {
        p->i++;
        v->raw_len = p->i - start;
        return v;
    }
    for (;;) {
        skip_ws(p);
        const char *key = NULL;
        if (obj) {
            size_t klen;
            if (p->i >= p->n || p->s[p->i] != '"')
                return jfail(p, "expected string key");
            if (parse_string(p, &key, &klen) != 0)
                return NULL;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':')
                return jfail(p, "expected ':'");
            p->i++;
        }
        json_value *item = parse_value(p, depth + 1);
        if (!item)
            return NULL;
        if (v->n == cap)
            v->items = grow(p, v->items, v->n, &cap, sizeof *v->items);
        if (obj && v->n == kcap)
            v->keys = grow(p, v->keys, v->n, &kcap, sizeof *v->keys);
        if (obj)
            v->keys[v->n] = key;
        v->items[v->n++] = item;
        skip_ws(p);
        if (p->i >= p->n)
            return jfail(p, obj ? "unterminated object" : "unterminated array");
        if (p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->s[p->i] == (unsigned char)close) {
            p->i++;
            v->raw_len = p->i - start;
            return v;
        }
        return jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static json_value *parse_literal(jparser *p, const char *word, json_type t, bool b)
{
    size_t len = strlen(word);
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return jfail(p, "unexpected character");
    json_value *v = new_value(p, t, p->i);
    v->b = b;
    v->raw_len = len;
    p->i += len;
    return v;
}

static json_value *parse_value(jparser *p, int depth)
{
    skip_ws(p);
    if (p->i >= p->n)
        return jfail(p, "unexpected end of input");
    unsigned char c = p->s[p->i];
    switch (c) {
    case '{':
        return parse_container(p, depth, true);
    case '[':
        return parse_container(p, depth, false);
    case '"': {
        size_t start = p->i;
        json_value *v = new_value(p, JSON_STR, start);
        if (parse_string(p, &v->str, &v->len) != 0)
            return NULL;
        v->raw_len = p->i - start;
        return v;
    }
    case 't':
        return parse_literal(p, "true", JSON_BOOL, true);
    case 'f':
        return parse_literal(p, "false", JSON_BOOL, false);
    case 'n':
        return parse_literal(p, "null", JSON_NULL, false);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p);
        return jfail(p, "unexpected character");
    }
}

json_value *json_parse(sl_arena *a, const char *s, size_t n, char *err, size_t errlen)
{
    size_t used;
    json_value *v = json_parse_prefix(a, s, n, &used, err, errlen);
    if (v && used != n) {
        jparser p = {a, (const unsigned char *)s, n, used, err, errlen, 0};
        return jfail(&p, "trailing characters");
    }
    return v;
}

json_value *json_parse_prefix(sl_arena *a, const char *s, size_t n, size_t *used, char *err,
                              size_t errlen)
{
    jparser p = {a, (const unsigned char *)s, n, 0, err, errlen, 0};
    if (!s)
        n = p.n = 0;
    json_value *v = parse_value(&p, 0);
    if (!v)
        return NULL;
    skip_ws(&p);
    *used = p.i;
    return v;
}

const json_value *json_get(const json_value *obj, const char *key)
{
    if (!obj || obj->type != JSON_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return obj->items[i];
    return NULL;
}

const json_value *json_get_path(const json_value *v, ...)
{
    va_list ap;
    va_start(ap, v);
    for (const char *key; v && (key = va_arg(ap, const char *)) != NULL;)
        v = json_get(v, key);
    va_end(ap);
    return v;
}

/* ---- Streaming object reader --------------------------------------------------------- */

/* json_scan_object reads one object's members without building a DOM: strings without
 * escapes stay in the input, nested values are only validated (their raw text is kept).
 * It accepts exactly the language of json_parse, including the depth limit.
 *
 * The members' strings are found through a bit mask of the bytes that need care inside a
 * string ('"', '\\', controls and bytes >= 0x80), built for up to 1 KiB of input at a
 * time by one vector pass (jmask): a string costs one bit search per 57 bytes, plus a
 * check of each escape and non-ASCII sequence where the mask finds it, and each byte of
 * the input is compared once, not once per string. Nested values go through scan_skip,
 * byte by byte with 16-byte compares for their strings. */

typedef struct jscan {
    const unsigned char *s;
    size_t n, i;
} jscan;

static void scan_ws_run(jscan *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

/* Most calls find no whitespace (compact JSON): that check is inlined. */
static inline void scan_ws(jscan *p)
{
    if (p->i < p->n && p->s[p->i] > ' ')
        return;
    scan_ws_run(p);
}

/* scan_ws on a position: the first non-whitespace at or after i, or n. */
static inline size_t skip_ws_at(const unsigned char *s, size_t n, size_t i)
{
    if (i < n && s[i] > ' ')
        return i;
    jscan p = {s, n, i};
    scan_ws_run(&p);
    return p.i;
}

/* The byte at s[i] inside a string is '\\', a control or >= 0x80: the length of the
 * escape or UTF-8 sequence it starts, 0 when that is invalid. */
static size_t scan_special(const unsigned char *s, size_t n, size_t i)
{
    unsigned char c = s[i];
    if (c == '\\') {
        if (i + 1 >= n)
            return 0;
        unsigned char x = s[i + 1];
        unsigned cp;
        if (x == 'u')
            return i + 6 <= n && hex4(s + i + 2, &cp) == 0 ? 6 : 0;
        return x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' ||
                       x == 'r' || x == 't'
                   ? 2
                   : 0;
    }
    if (c < 0x20)
        return 0;
    return utf8_seq_len(s + i, n - i);
}

/* Validates the string at p->i ('"'): its text is s[*start, *end), *esc when it has
 * escapes. Leaves p->i after the closing quote. */
static int scan_string(jscan *p, size_t *start, size_t *end, bool *esc)
{
    const unsigned char *s = p->s;
    size_t n = p->n, i = p->i + 1;
    bool e = false;
    *start = i;
    for (;;) {
#ifdef __SSE2__
        while (i + 16 <= n) {
            __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
            __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                       _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                    _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
            int mask = _mm_movemask_epi8(bad);
            if (mask) {
                i += (size_t)__builtin_ctz((unsigned)mask);
                break;
            }
            i += 16;
        }
#endif
        if (i >= n)
            return -1;
        unsigned char c = s[i];
        if (c == '"')
            break;
        if (json_safe[c]) {
            i++;
            continue;
        }
        size_t l = scan_special(s, n, i);
        if (!l)
            return -1;
        e |= c == '\\';
        i += l;
    }
    *end = i;
    *esc = e;
    p->i = i + 1;
    return 0;
}

/* The mask of the bytes needing care in a string, for s[base, end) (end - base at most
 * JMASK_BYTES): bit k of byte j of bits (little-endian words) is s[base + 8 j + k]; bits
 * at or past end are clear, and so is the word after the last, so that 64 bits can be
 * read from any byte below end. fill rebuilds it from a position (jmask_fill_sse2 or
 * jmask_fill_avx2). */
#define JMASK_BYTES 1024
typedef struct jmask {
    const unsigned char *s;
    size_t n, base, end;
    void (*fill)(struct jmask *m, size_t from);
    uint64_t bits[JMASK_BYTES / 64 + 1];
} jmask;

static inline uint64_t le64(uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(v);
#else
    return v;
#endif
}

/* Bits of the 64 bytes at s (all readable): 16-byte compares (SSE2), or the escaper's
 * table without them. */
static inline uint64_t special64_sse2(const unsigned char *s)
{
    uint64_t m = 0;
#ifdef __SSE2__
    for (int k = 0; k < 4; k++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + 16 * k));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
        m |= (uint64_t)(unsigned)_mm_movemask_epi8(bad) << (16 * k);
    }
#else
    for (int k = 0; k < 64; k++)
        m |= (uint64_t)(json_safe[s[k]] ^ 1) << k;
#endif
    return m;
}

/* The body of a fill: masks s[from, from + JMASK_BYTES) or to the end of the input with
 * special64, 64 bytes at a time; the last part of the input (under 64 bytes) by the 64
 * bytes that end it, those before it shifted out, or, for an input under 64 bytes, from a
 * copy padded with spaces (which need no care). */
#define JMASK_FILL(m, from, special64)                                                      \
    do {                                                                                   \
        size_t len_ = (m)->n - (from) < JMASK_BYTES ? (m)->n - (from) : JMASK_BYTES;        \
        const unsigned char *at_ = (m)->s + (from);                                        \
        size_t k_ = 0;                                                                     \
        for (; k_ + 64 <= len_; k_ += 64)                                                  \
            (m)->bits[k_ / 64] = le64(special64(at_ + k_));                                \
        if (k_ < len_) {                                                                   \
            size_t r_ = len_ - k_; /* 1..63 bytes, ending the input */                     \
            uint64_t w_;                                                                   \
            if ((m)->n >= 64) {                                                            \
                w_ = special64((m)->s + (m)->n - 64) >> (64 - r_);                          \
            } else {                                                                       \
                unsigned char pad_[64];                                                    \
                memset(pad_, ' ', sizeof pad_);                                            \
                memcpy(pad_, at_ + k_, r_);                                                \
                w_ = special64(pad_);                                                      \
            }                                                                              \
            (m)->bits[k_ / 64] = le64(w_);                                                 \
        }                                                                                  \
        (m)->bits[(len_ + 63) / 64] = 0;                                                   \
        (m)->base = (from);                                                                \
        (m)->end = (from) + len_;                                                          \
    } while (0)

static void jmask_fill_sse2(jmask *m, size_t from) { JMASK_FILL(m, from, special64_sse2); }

#ifdef SL_JSON_AVX2
/* special64_sse2 in two 32-byte compares. */
__attribute__((target("avx2"))) static inline uint64_t special64_avx2(const unsigned char *s)
{
    __m256i ctl = _mm256_set1_epi8(0x20), quote = _mm256_set1_epi8('"'),
            bslash = _mm256_set1_epi8('\\');
    __m256i a = _mm256_loadu_si256((const __m256i *)s);
    __m256i b = _mm256_loadu_si256((const __m256i *)(s + 32));
    /* '"', '\\', and lanes signed < 0x20: controls and bytes >= 0x80 */
#define SPECIAL32(v)                                                                       \
    (uint32_t)_mm256_movemask_epi8(_mm256_or_si256(                                        \
        _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash)),       \
        _mm256_cmpgt_epi8(ctl, v)))
    uint64_t m = SPECIAL32(a) | (uint64_t)SPECIAL32(b) << 32;
#undef SPECIAL32
    return m;
}

__attribute__((target("avx2"))) static void jmask_fill_avx2(jmask *m, size_t from)
{
    JMASK_FILL(m, from, special64_avx2);
}
#endif

/* The mask from i (base <= i < end) in the low bits: at least the 57 bits of s[i, i + 57),
 * read at i's byte of bits and shifted; the bits above those read are clear. */
static inline uint64_t mask_at(const jmask *m, size_t i, unsigned *got)
{
    size_t off = i - m->base;
    uint64_t w;
    memcpy(&w, (const unsigned char *)m->bits + off / 8, 8);
    *got = 64 - (unsigned)(off % 8);
    return le64(w) >> (off % 8);
}

/* The first position >= i (i >= m->base) of a byte needing care in a string, or n. */
static size_t next_special(jmask *m, size_t i)
{
    for (;;) {
        if (i < m->end) {
            unsigned got;
            uint64_t w = mask_at(m, i, &got);
            if (w)
                return i + (size_t)__builtin_ctzll(w);
            i += got;
            if (i > m->end)
                i = m->end;
            continue;
        }
        if (i >= m->n)
            return m->n;
        m->fill(m, i);
    }
}

/* What scan_string_m returns for a string with escapes: its closing quote's position
 * with this bit set. */
#define JSTR_ESC ((size_t)1 << (sizeof(size_t) * 8 - 1))

#ifdef SL_JSON_AVX2
/* From s[i], the first byte of a character in a string, the end of the run of 32-byte
 * blocks of valid UTF-8 without a quote, backslash or control (utf8_bad32): i when the
 * block there is not one. The run ends where a character starts. Text in other scripts
 * is nothing but bytes needing care to the mask, one character a step otherwise. */
__attribute__((target("avx2"))) static size_t utf8_string_run(const unsigned char *s, size_t i,
                                                              size_t n)
{
    const __m256i quote = _mm256_set1_epi8('"'), bslash = _mm256_set1_epi8('\\'),
                  ctl = _mm256_set1_epi8(0x20);
    size_t run;
    while (i + 32 <= n) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(s + i));
        __m256i qb = _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, bslash));
        unsigned stop = (unsigned)_mm256_movemask_epi8(qb) |
                        ((unsigned)_mm256_movemask_epi8(_mm256_cmpgt_epi8(ctl, v)) &
                         ~(unsigned)_mm256_movemask_epi8(v));
        if (stop || !(run = utf8_lookup32(s + i, v, i >= 3)))
            break;
        i += run;
    }
    return i;
}
#endif

/* scan_string_m from i, a position in the string: continues the search through escapes
 * and UTF-8 sequences (each checked as scan_string does, runs of them a block at a time)
 * and new windows. */
static size_t scan_string_rest(jmask *m, size_t i)
{
    const unsigned char *s = m->s;
    size_t esc = 0;
    for (;;) {
        i = next_special(m, i);
        if (i >= m->n)
            return 0;
        unsigned char c = s[i];
        if (c == '"')
            return i | esc;
#ifdef SL_JSON_AVX2
        if (c >= 0x80 && escape_scan() >= SCAN_AVX2) {
            size_t run = utf8_string_run(s, i, m->n);
            if (run > i) {
                i = run;
                continue;
            }
        }
#endif
        size_t l = scan_special(s, m->n, i);
        if (!l)
            return 0;
        if (c == '\\')
            esc = JSTR_ESC;
        i += l;
    }
}

/* scan_string by the mask, for the string whose opening quote is at i: the position of
 * its closing quote (| JSTR_ESC when it has escapes), or 0 when it is invalid. The common
 * string, whose first byte needing care is its closing quote within 57 bytes, is one bit
 * search; an escaped quote is passed over with its escape (scan_string_rest), so runs of
 * backslashes need no parity pass. */
static inline size_t scan_string_m(jmask *m, const unsigned char *s, size_t i)
{
    i++;
    if (i < m->end) {
        unsigned got;
        uint64_t w = mask_at(m, i, &got);
        if (w) {
            i += (size_t)__builtin_ctzll(w);
            if (s[i] == '"')
                return i;
        }
    }
    return scan_string_rest(m, i);
}

/* The number grammar of parse_number at s[i]; sets is_int and iv when it is an integer
 * that fits. Returns the position after the number (never 0), 0 when it is invalid. */
static inline __attribute__((always_inline)) size_t
scan_number_at(const unsigned char *s, size_t n, size_t i, bool *is_int, int64_t *iv)
{
    bool neg = false, integral = true;
    if (i < n && s[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= n)
        return 0;
    uint64_t u = 0;
    size_t digits = 0;
    if (s[i] == '0') {
        i++;
        digits = 1;
    } else if (s[i] >= '1' && s[i] <= '9') {
        /* u is exact up to 19 digits and unused past them (it may wrap there) */
        size_t d0 = i;
        while (i < n && (unsigned)(s[i] - '0') <= 9) {
            u = u * 10 + (uint64_t)(s[i] - '0');
            i++;
        }
        digits = i - d0;
    } else {
        return 0;
    }
    if (i < n && s[i] == '.') {
        integral = false;
        i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        integral = false;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= n || s[i] < '0' || s[i] > '9')
            return 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    *is_int = false;
    if (!integral || digits > 19)
        return i;
    if (neg && u <= (uint64_t)INT64_MAX + 1) {
        *iv = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
        *is_int = true;
    } else if (!neg && u <= (uint64_t)INT64_MAX) {
        *iv = (int64_t)u;
        *is_int = true;
    }
    return i;
}

static int scan_number(jscan *p, bool *is_int, int64_t *iv)
{
    size_t e = scan_number_at(p->s, p->n, p->i, is_int, iv);
    if (!e)
        return -1;
    p->i = e;
    return 0;
}

static int scan_literal(jscan *p, const char *word, size_t len)
{
    if (p->n - p->i < len || memcmp(p->s + p->i, word, len) != 0)
        return -1;
    p->i += len;
    return 0;
}

/* Validates any value at p->i (after whitespace); depth as in parse_value. */
static int scan_skip(jscan *p, int depth)
{
    scan_ws(p);
    if (p->i >= p->n)
        return -1;
    unsigned char c = p->s[p->i];
    size_t st, en;
    bool esc, is_int;
    int64_t iv;
    switch (c) {
    case '"':
        return scan_string(p, &st, &en, &esc);
    case 't':
        return scan_literal(p, "true", 4);
    case 'f':
        return scan_literal(p, "false", 5);
    case 'n':
        return scan_literal(p, "null", 4);
    case '{':
    case '[': {
        if (depth >= JSON_MAX_DEPTH)
            return -1;
        bool obj = c == '{';
        unsigned char close = obj ? '}' : ']';
        p->i++;
        scan_ws(p);
        if (p->i < p->n && p->s[p->i] == close) {
            p->i++;
            return 0;
        }
        for (;;) {
            if (obj) {
                scan_ws(p);
                if (p->i >= p->n || p->s[p->i] != '"' || scan_string(p, &st, &en, &esc) != 0)
                    return -1;
                scan_ws(p);
                if (p->i >= p->n || p->s[p->i] != ':')
                    return -1;
                p->i++;
            }
            if (scan_skip(p, depth + 1) != 0)
                return -1;
            scan_ws(p);
            if (p->i >= p->n)
                return -1;
            if (p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->s[p->i] == close) {
                p->i++;
                return 0;
            }
            return -1;
        }
    }
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return scan_number(p, &is_int, &iv);
        return -1;
    }
}

/* Unescapes validated string text s[start, end) into the arena (as parse_string does). */
static size_t scan_unescape(sl_arena *a, const unsigned char *s, size_t start, size_t end,
                            const char **out)
{
    char *o = arena_alloc(a, end - start + 1);
    size_t bad;
    const char *why;
    ptrdiff_t w = unescape(s, start, end, o, &bad, &why);
    *out = o;
    return w < 0 ? 0 : (size_t)w; /* the scan let no bad escape through */
}

/* The two bytes a, b as they are in memory, to compare with a 16-bit load. */
static inline uint16_t byte_pair(char a, char b)
{
    const unsigned char t[2] = {(unsigned char)a, (unsigned char)b};
    uint16_t v;
    memcpy(&v, t, 2);
    return v;
}

static inline bool at_pair(const unsigned char *s, size_t n, size_t i, uint16_t pair)
{
    uint16_t v;
    if (n - i < 2) /* i <= n */
        return false;
    memcpy(&v, s + i, 2);
    return v == pair;
}

/* json_scan_object with the given fill. Positions are kept in locals, not in a jscan, so
 * they stay in registers; a jscan is made only for a nested value. Compact JSON has no
 * whitespace between tokens: `:"` before a string value and `,"` before the next key are
 * checked as pairs, and anything else (whitespace, other values, the end) takes the
 * general path, which accepts the same language. */
static int scan_object(sl_arena *a, const char *str, size_t n, json_member *m, size_t max,
                       void (*fill)(jmask *, size_t))
{
    if (!str)
        return -1;
    const unsigned char *s = (const unsigned char *)str;
    jmask mk;
    mk.s = s;
    mk.n = n;
    mk.fill = fill;
    size_t i = skip_ws_at(s, n, 0);
    if (i >= n || s[i] != '{')
        return -1;
    size_t k = 0;
    i = skip_ws_at(s, n, i + 1);
    if (i < n && s[i] == '}') {
        i++;
        goto done;
    }
    if (i >= n || s[i] != '"')
        return -1;
    fill(&mk, i + 1); /* here rather than through the first search's slow path */
    for (;;) {
        /* s[i] is the key's opening quote */
        size_t st = i + 1, en = scan_string_m(&mk, s, i);
        if (!en)
            return -1;
        if (k == max)
            return -2;
        json_member *v = &m[k];
        memset(v, 0, sizeof *v);
        if (en & JSTR_ESC) {
            en &= ~JSTR_ESC;
            const char *key;
            size_t kl = scan_unescape(a, s, st, en, &key);
            v->key = key;
            v->keylen = strnlen(key, kl); /* json_parse keys are C strings */
        } else {
            v->key = str + st;
            v->keylen = en - st;
        }
        i = en + 1;
        unsigned char c = '"';
        if (!at_pair(s, n, i, byte_pair(':', '"'))) {
            i = skip_ws_at(s, n, i);
            if (i >= n || s[i] != ':')
                return -1;
            i = skip_ws_at(s, n, i + 1);
            if (i >= n)
                return -1;
            c = s[i];
        } else {
            i++;
        }
        size_t vs = i;
        if (c == '"') {
            st = i + 1;
            if ((en = scan_string_m(&mk, s, i)) == 0)
                return -1;
            v->type = JSON_STR;
            if (en & JSTR_ESC) {
                en &= ~JSTR_ESC;
                v->len = scan_unescape(a, s, st, en, &v->str);
            } else {
                v->str = str + st;
                v->len = en - st;
            }
            i = en + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            if ((i = scan_number_at(s, n, i, &v->is_int, &v->i)) == 0)
                return -1;
            v->type = JSON_NUM;
            if (v->is_int) {
                v->num = (double)v->i;
            } else {
                char tmp[64];
                size_t l = i - vs;
                char *num = l < sizeof tmp ? tmp : arena_alloc(a, l + 1);
                memcpy(num, s + vs, l);
                num[l] = '\0';
                v->num = strtod(num, NULL);
            }
        } else if (c == 't' && n - i >= 4 && memcmp(s + i, "true", 4) == 0) {
            v->type = JSON_BOOL;
            v->b = true;
            i += 4;
        } else if (c == 'f' && n - i >= 5 && memcmp(s + i, "false", 5) == 0) {
            v->type = JSON_BOOL;
            i += 5;
        } else if (c == 'n' && n - i >= 4 && memcmp(s + i, "null", 4) == 0) {
            v->type = JSON_NULL;
            i += 4;
        } else if (c == '{' || c == '[') {
            jscan p = {s, n, i};
            if (scan_skip(&p, 1) != 0)
                return -1;
            i = p.i;
            v->type = c == '{' ? JSON_OBJ : JSON_ARR;
            v->nested = true;
        } else {
            return -1;
        }
        v->raw = str + vs;
        v->raw_len = i - vs;
        k++;
        if (at_pair(s, n, i, byte_pair(',', '"'))) {
            i++;
            continue;
        }
        i = skip_ws_at(s, n, i);
        if (i >= n)
            return -1;
        if (s[i] == '}') {
            i++;
            break;
        }
        if (s[i] != ',')
            return -1;
        i = skip_ws_at(s, n, i + 1);
        if (i >= n || s[i] != '"')
            return -1;
    }
done:
    return skip_ws_at(s, n, i) == n ? (int)k : -1;
}

int json_scan_object_sse2(sl_arena *a, const char *s, size_t n, json_member *m, size_t max)
{
    return scan_object(a, s, n, m, max, jmask_fill_sse2);
}

#ifdef SL_JSON_AVX2
bool json_scan_object_avx2(sl_arena *a, const char *s, size_t n, json_member *m, size_t max,
                           int *ret)
{
    if (!__builtin_cpu_supports("avx2"))
        return false;
    *ret = scan_object(a, s, n, m, max, jmask_fill_avx2);
    return true;
}
#else
bool json_scan_object_avx2(sl_arena *a, const char *s, size_t n, json_member *m, size_t max,
                           int *ret)
{
    (void)a, (void)s, (void)n, (void)m, (void)max, (void)ret;
    return false;
}
#endif

int json_scan_object(sl_arena *a, const char *s, size_t n, json_member *m, size_t max)
{
#ifdef SL_JSON_AVX2
    if (__builtin_cpu_supports("avx2"))
        return scan_object(a, s, n, m, max, jmask_fill_avx2);
#endif
    return scan_object(a, s, n, m, max, jmask_fill_sse2);
}

/* ---- Decoding ------------------------------------------------------------------------ */

bool json_number_is_int(const json_value *v, int64_t *out)
{
    char tmp[32];
    if (v->raw_len == 0 || v->raw_len >= sizeof tmp || memchr(v->raw, '.', v->raw_len) ||
        memchr(v->raw, 'e', v->raw_len) || memchr(v->raw, 'E', v->raw_len))
        return false;
    memcpy(tmp, v->raw, v->raw_len);
    tmp[v->raw_len] = '\0';
    errno = 0;
    char *end;
    long long x = strtoll(tmp, &end, 10);
    if (errno == ERANGE || *end)
        return false;
    *out = x;
    return true;
}

void json_value_to_field(sl_batch *b, sl_field *f, const json_value *v, bool copy)
{
    switch (v->type) {
    case JSON_STR:
        f->type = SL_VAL_STR;
        f->v.s = copy ? batch_str(b, v->str, v->len) : (sl_str){v->str, (uint32_t)v->len};
        break;
    case JSON_NUM:
        if (json_number_is_int(v, &f->v.i)) {
            f->type = SL_VAL_INT;
        } else if (isfinite(v->num)) {
            f->type = SL_VAL_FLOAT;
            f->v.f = v->num;
        } else {
            f->type = SL_VAL_NULL; /* 1e999: no sink can carry it */
        }
        break;
    case JSON_BOOL:
        f->type = SL_VAL_BOOL;
        f->v.b = v->b;
        break;
    case JSON_NULL:
        f->type = SL_VAL_NULL;
        break;
    default: /* arrays and objects: their JSON text */
        f->type = SL_VAL_JSON;
        f->v.s = copy ? batch_str(b, v->raw, v->raw_len) : (sl_str){v->raw, (uint32_t)v->raw_len};
    }
}

static bool path_step(sl_batch *b, const char *s, size_t n, const char *path, size_t plen,
                      sl_field *out, int depth);

/* Whether a member key names the path (then *out is its value) or leads into it (then the
 * search goes on inside the member's value). */
static bool path_member(sl_batch *b, const char *k, size_t kl, const json_value *v,
                        const json_member *m, const char *path, size_t plen, sl_field *out,
                        int depth)
{
    if (kl > plen || memcmp(k, path, kl) != 0)
        return false;
    if (kl == plen) {
        if (v) {
            json_value_to_field(b, out, v, false);
            return true;
        }
        *out = (sl_field){.type = SL_VAL_NULL};
        switch (m->type) {
        case JSON_STR: out->type = SL_VAL_STR, out->v.s = (sl_str){m->str, (uint32_t)m->len}; break;
        case JSON_BOOL: out->type = SL_VAL_BOOL, out->v.b = m->b; break;
        case JSON_NUM:
            if (m->is_int)
                out->type = SL_VAL_INT, out->v.i = m->i;
            else if (isfinite(m->num))
                out->type = SL_VAL_FLOAT, out->v.f = m->num;
            break;
        case JSON_NULL: break;
        default: out->type = SL_VAL_JSON, out->v.s = (sl_str){m->raw, (uint32_t)m->raw_len};
        }
        return true;
    }
    if (path[kl] != '.')
        return false;
    bool obj = v ? v->type == JSON_OBJ : m->nested && m->raw[0] == '{';
    return obj && path_step(b, v ? v->raw : m->raw, v ? v->raw_len : m->raw_len, path + kl + 1,
                            plen - kl - 1, out, depth + 1);
}

/* The member of the object s[0..n) that path names, the object read without a DOM when
 * it has at most 64 members. */
static bool path_step(sl_batch *b, const char *s, size_t n, const char *path, size_t plen,
                      sl_field *out, int depth)
{
    if (depth > 16)
        return false;
    json_member m[64];
    int k = json_scan_object(&b->arena, s, n, m, SL_ARRAY_LEN(m));
    for (int j = 0; j < k; j++)
        if (path_member(b, m[j].key, m[j].keylen, NULL, &m[j], path, plen, out, depth))
            return true;
    if (k != -2)
        return false;
    char err[8];
    json_value *root = json_parse(&b->arena, s, n, err, sizeof err);
    for (size_t j = 0; root && j < root->n; j++)
        if (path_member(b, root->keys[j], strlen(root->keys[j]), root->items[j], NULL, path,
                        plen, out, depth))
            return true;
    return false;
}

bool json_event_get_path(sl_batch *b, const sl_event *e, const char *key, size_t keylen,
                         sl_field *out)
{
    const sl_field *f = event_get(e, key, keylen);
    if (f) {
        *out = *f;
        return true;
    }
    for (size_t i = keylen; i-- > 1;) { /* the longest field that holds an object first */
        if (key[i] != '.')
            continue;
        f = event_get(e, key, i);
        if (f && f->type == SL_VAL_JSON && f->v.s.len && f->v.s.ptr[0] == '{' &&
            path_step(b, f->v.s.ptr, f->v.s.len, key + i + 1, keylen - i - 1, out, 0))
            return true;
    }
    return false;
}

int json_decode_event(sl_batch *b, const char *s, size_t n)
{
    sl_arena tmp;
    arena_init(&tmp, 4096);
    char err[128];
    json_value *root = json_parse(&tmp, s, n, err, sizeof err);
    if (!root || root->type != JSON_OBJ) {
        arena_free(&tmp);
        return SL_ERR_CORRUPT;
    }
    int64_t ts = 0;
    const json_value *tv = json_get(root, "timestamp");
    if (tv && (tv->type != JSON_STR || cri_parse_time(tv->str, tv->len, &ts) != 0)) {
        arena_free(&tmp);
        return SL_ERR_CORRUPT;
    }
    sl_event *e = batch_add(b);
    e->ts_ns = ts;
    for (size_t i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        const json_value *v = root->items[i];
        if (v == tv)
            continue;
        if (strcmp(key, "message") == 0 && !e->message.ptr) {
            if (v->type == JSON_STR)
                e->message = batch_str(b, v->str, v->len);
            else if (v->type != JSON_NULL)
                e->message = batch_str(b, v->raw, v->raw_len);
            else
                e->message = batch_str(b, "", 0);
            continue;
        }
        size_t klen = strlen(key);
        if (klen > 7 && key[0] == '_' && own_member_name(key, klen, 1))
            key++, klen--; /* the encoder's escape of a field so named */
        json_value_to_field(b, event_add_field(b, e, key, klen), v, true);
    }
    if (!e->message.ptr)
        e->message = batch_str(b, "", 0);
    b->bytes += event_size(e);
    arena_free(&tmp);
    return SL_OK;
}
