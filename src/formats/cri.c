/* cri.c - CRI and Docker json-file line parsers for the kubernetes_logs source.
 * Hot path: no allocation, one pass over the line, times converted without libc. */
#include "formats/cri.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "formats/utf8.h"

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i] - '0';
        if (c > 9)
            return false;
        v = v * 10 + c;
    }
    *out = v;
    return true;
}

/* Eight ASCII digits at s (unaligned, any bytes readable) to their value; false if any byte
 * is not a digit. SWAR: digit check and conversion on one 64-bit word, little-endian. */
static bool eight_digits(const char *s, uint32_t *out)
{
    uint64_t v;
    memcpy(&v, s, 8);
    if (((v & 0xF0F0F0F0F0F0F0F0ULL) |
         (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) != 0x3333333333333333ULL)
        return false;
    v -= 0x3030303030303030ULL;
    v = (v * 10) + (v >> 8); /* pairs of digits */
    v = (((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32))) +
         (((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32)))) >> 32;
    *out = (uint32_t)v;
    return true;
}

/* Lines of one minute share "YYYY-MM-DDTHH:MM:": its value is remembered per thread, so
 * the common case converts only seconds and fraction. */
static _Thread_local char tcache_prefix[17];
static _Thread_local int64_t tcache_secs;
static _Thread_local bool tcache_valid;

int cri_parse_time(const char *s, size_t n, int64_t *ns)
{
    /* YYYY-MM-DDTHH:MM:SS = 19 bytes, then [.fraction], then Z or +hh:mm */
    unsigned y, mo, d, h, mi, se;
    if (n < 20 || !digits(s + 17, 2, &se) || se > 60)
        return -1;
    /* What CRI runtimes write, nanoseconds in UTC, in a minute seen before: seconds and
     * the nine fraction digits only (the general path below gives the same value). */
    uint32_t eight;
    if (n == 30 && s[19] == '.' && s[29] == 'Z' && tcache_valid &&
        memcmp(s, tcache_prefix, 17) == 0 && (unsigned)(s[28] - '0') <= 9 &&
        eight_digits(s + 20, &eight)) {
        int64_t t;
        if (__builtin_mul_overflow(tcache_secs + se, (int64_t)1000000000, &t) ||
            __builtin_add_overflow(t, (int64_t)eight * 10 + (s[28] - '0'), &t))
            return -1;
        *ns = t;
        return 0;
    }
    int64_t base;
    if (tcache_valid && memcmp(s, tcache_prefix, 17) == 0) {
        base = tcache_secs;
    } else {
        if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
            s[13] != ':' || s[16] != ':')
            return -1;
        if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
            !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi))
            return -1;
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59)
            return -1;
        base = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
        memcpy(tcache_prefix, s, 17);
        tcache_secs = base;
        tcache_valid = true;
    }
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        size_t nd = 0;
        if (n - i >= 8 && eight_digits(s + i, &eight)) { /* the usual 9-digit fraction */
            frac = eight;
            nd = 8;
            i += 8;
        }
        while (i < n && (unsigned)(s[i] - '0') <= 9) {
            if (nd < 9) {
                frac = frac * 10 + (s[i] - '0');
                nd++;
            }
            i++;
        }
        if (nd == 0)
            return -1;
        static const int64_t scale[10] = {1000000000, 100000000, 10000000, 1000000, 100000,
                                          10000,      1000,      100,      10,      1};
        frac *= scale[nd]; /* to nanoseconds: nd is 1 to 9 */
    }
    int64_t off = 0;
    if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        unsigned oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return -1;
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return -1;
    }
    if (i != n)
        return -1;
    int64_t secs = base + se - off, t;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &t) ||
        __builtin_add_overflow(t, frac, &t))
        return -1; /* outside 1677..2262: not representable in ns */
    *ns = t;
    return 0;
}

/* The first space of the line. The usual one ends a 30-byte time: two compares instead
 * of a call per line. */
static inline const char *first_space(const char *s, size_t n)
{
#ifdef __SSE2__
    if (n > 30 && s[30] == ' ') {
        const __m128i sp = _mm_set1_epi8(' ');
        __m128i a = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)s), sp);
        __m128i b = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + 14)), sp);
        if (!_mm_movemask_epi8(_mm_or_si128(a, b)))
            return s + 30;
    }
#endif
    return memchr(s, ' ', n);
}

int cri_parse(const char *s, size_t n, cri_line *out, const char **why)
{
    const char *end = s + n;
    out->attrs = NULL;
    out->attrs_len = 0;
    const char *sp = first_space(s, n);
    if (!sp) {
        *why = "cri_parse";
        return -1;
    }
    if (cri_parse_time(s, (size_t)(sp - s), &out->ts_ns) != 0) {
        /* a date-like first word is a broken time; anything else is not CRI at all */
        unsigned y;
        *why = sp - s >= 5 && digits(s, 4, &y) && s[4] == '-' ? "cri_timestamp" : "cri_parse";
        return -1;
    }
    const char *p = sp + 1;
    if (end - p >= 7 && memcmp(p, "stdout ", 7) == 0) {
        out->stream = CRI_STDOUT;
    } else if (end - p >= 7 && memcmp(p, "stderr ", 7) == 0) {
        out->stream = CRI_STDERR;
    } else {
        *why = "cri_parse";
        return -1;
    }
    p += 7;
    /* Tags: "P" or "F", possibly followed by more ':'-separated tags. */
    if (p >= end || (*p != 'P' && *p != 'F')) {
        *why = "cri_parse";
        return -1;
    }
    out->partial = *p == 'P';
    const char *q = p + 1;
    if (q < end && *q == ':')
        while (q < end && *q != ' ')
            q++;
    if (q < end && *q != ' ') {
        *why = "cri_parse";
        return -1;
    }
    if (q < end)
        q++; /* the space before the message; an empty message may have none */
    out->msg = q;
    out->len = (size_t)(end - q);
    return 0;
}

/* ---- Docker json-file ---------------------------------------------------------------- */

typedef struct jcur {
    const char *p, *end;
} jcur;

static void jws(jcur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* Reads a string at c->p (on the opening quote). When `dst` is non-NULL the unescaped
 * bytes go there and *len gets their count; otherwise *raw and *len name the raw body. */
static int jstring(jcur *c, char *dst, const char **raw, size_t *len)
{
    if (c->p >= c->end || *c->p != '"')
        return -1;
    const char *p = ++c->p;
    size_t o = 0;
    while (p < c->end) {
        char ch = *p;
        if (ch == '"') {
            if (dst)
                *len = o;
            else {
                *raw = c->p;
                *len = (size_t)(p - c->p);
            }
            c->p = p + 1;
            return 0;
        }
        if (ch != '\\') {
            if (dst)
                dst[o++] = ch;
            p++;
            continue;
        }
        if (++p >= c->end)
            return -1;
        char e = *p++, r;
        switch (e) {
        case '"': r = '"'; break;
        case '\\': r = '\\'; break;
        case '/': r = '/'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case 'n': r = '\n'; break;
        case 'r': r = '\r'; break;
        case 't': r = '\t'; break;
        case 'u': {
            unsigned cp;
            if (c->end - p < 4 || hex4(p, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff && c->end - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo;
                if (hex4(p + 2, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    p += 6;
                }
            }
            if (cp >= 0xd800 && cp <= 0xdfff)
                cp = 0xfffd; /* lone surrogate */
            /* 6 (or 12) source bytes give at most 3 (or 4): never longer than the source */
            if (dst)
                o += utf8_put(dst + o, cp);
            continue;
        }
        default:
            return -1;
        }
        if (dst)
            dst[o++] = r;
    }
    return -1;
}

/* Skips any JSON value (for keys we do not use, and to delimit "attrs"). */
static int jskip(jcur *c, int depth)
{
    if (depth > 32)
        return -1;
    jws(c);
    if (c->p >= c->end)
        return -1;
    const char *raw;
    size_t len;
    char ch = *c->p;
    if (ch == '"')
        return jstring(c, NULL, &raw, &len);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        jws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                jws(c);
                if (jstring(c, NULL, &raw, &len) != 0)
                    return -1;
                jws(c);
                if (c->p >= c->end || *c->p++ != ':')
                    return -1;
            }
            if (jskip(c, depth + 1) != 0)
                return -1;
            jws(c);
            if (c->p >= c->end)
                return -1;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p == close) {
                c->p++;
                return 0;
            }
            return -1;
        }
    }
    /* number, true, false, null: a run of these characters */
    const char *start = c->p;
    while (c->p < c->end && strchr("0123456789+-.eEtruefalsn", *c->p) && *c->p)
        c->p++;
    return c->p > start ? 0 : -1;
}

int docker_json_parse(const char *s, size_t n, char *scratch, cri_line *out, const char **why)
{
    jcur c = {s, s + n};
    bool have_log = false, have_stream = false, have_time = false;
    *why = "json_parse";
    out->attrs = NULL;
    out->attrs_len = 0;
    jws(&c);
    if (c.p >= c.end || *c.p++ != '{')
        return -1;
    jws(&c);
    if (c.p < c.end && *c.p == '}')
        return -1;
    for (;;) {
        const char *key;
        size_t klen;
        jws(&c);
        if (jstring(&c, NULL, &key, &klen) != 0)
            return -1;
        jws(&c);
        if (c.p >= c.end || *c.p++ != ':')
            return -1;
        jws(&c);
        if (klen == 3 && memcmp(key, "log", 3) == 0) {
            if (jstring(&c, scratch, NULL, &out->len) != 0)
                return -1;
            out->msg = scratch;
            have_log = true;
        } else if (klen == 6 && memcmp(key, "stream", 6) == 0) {
            const char *v;
            size_t vl;
            if (jstring(&c, NULL, &v, &vl) != 0)
                return -1;
            if (vl == 6 && memcmp(v, "stdout", 6) == 0)
                out->stream = CRI_STDOUT;
            else if (vl == 6 && memcmp(v, "stderr", 6) == 0)
                out->stream = CRI_STDERR;
            else
                return -1;
            have_stream = true;
        } else if (klen == 4 && memcmp(key, "time", 4) == 0) {
            const char *v;
            size_t vl;
            if (jstring(&c, NULL, &v, &vl) != 0)
                return -1;
            if (cri_parse_time(v, vl, &out->ts_ns) != 0) {
                *why = "json_timestamp";
                return -1;
            }
            have_time = true;
        } else if (klen == 5 && memcmp(key, "attrs", 5) == 0) {
            /* kept whole for the caller, which reads it only when it changes */
            const char *v = c.p;
            if (jskip(&c, 0) != 0)
                return -1;
            if (*v == '{') {
                out->attrs = v;
                out->attrs_len = (size_t)(c.p - v);
            }
        } else if (jskip(&c, 0) != 0) {
            return -1;
        }
        jws(&c);
        if (c.p >= c.end)
            return -1;
        if (*c.p == ',') {
            c.p++;
            continue;
        }
        if (*c.p++ != '}')
            return -1;
        break;
    }
    jws(&c);
    if (c.p != c.end || !have_log || !have_stream || !have_time) {
        if (c.p == c.end && have_log && have_stream)
            *why = "json_timestamp";
        return -1;
    }
    out->partial = true;
    if (out->len && out->msg[out->len - 1] == '\n') {
        out->len--;
        out->partial = false;
    }
    return 0;
}
