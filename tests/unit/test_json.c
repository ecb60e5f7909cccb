/* test_json.c - unit tests for the JSON encoder, the event decoder, the strict parser and
 * the DOM-free object scanner (each of its scans against the parser). Covers escaping of
 * controls and invalid UTF-8, time formatting and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/json.h"

static void assert_escape(const char *in, size_t n, const char *want)
{
    sl_buf b = SL_BUF_INIT;
    json_escape(&b, in, n);
    buf_putc(&b, '\0');
    assert_string_equal(b.p, want);
    buf_free(&b);
}

static void test_escape(void **state)
{
    assert_escape("plain text", 10, "plain text");
    assert_escape("a\"b\\c", 5, "a\\\"b\\\\c");
    assert_escape("l1\nl2\r\t\b\f", 9, "l1\\nl2\\r\\t\\b\\f");
    assert_escape("\x01\x1f", 2, "\\u0001\\u001f");
    assert_escape("nul\0x", 5, "nul\\u0000x");
    /* valid multi-byte UTF-8 passes through */
    assert_escape("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15,
                  "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
    /* invalid bytes become U+FFFD, one per bad byte */
    assert_escape("a\xff" "b", 3, "a\xef\xbf\xbd" "b");
    assert_escape("\xc3", 1, "\xef\xbf\xbd");              /* truncated */
    assert_escape("\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"); /* overlong */
    assert_escape("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* surrogate */
    assert_escape("\xf4\x90\x80\x80", 4,
                  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"); /* > U+10FFFF */
}

/* The escaper's definition, a byte at a time: the vector path must write the same bytes. */
static void escape_ref(sl_buf *out, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, (char)c);
            i++;
        } else if (c < 0x20) {
            const char *sh = c == '\b' ? "\\b" : c == '\t' ? "\\t" : c == '\n' ? "\\n"
                           : c == '\f' ? "\\f" : c == '\r' ? "\\r" : NULL;
            if (sh) {
                buf_append(out, sh, 2);
            } else {
                char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(out, u, 6);
            }
            i++;
        } else if (c < 0x80) {
            buf_putc(out, (char)c);
            i++;
        } else {
            /* a valid sequence is copied, one bad byte becomes U+FFFD */
            size_t l = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
            bool ok = l && i + l <= n;
            for (size_t k = 1; ok && k < l; k++)
                ok = (s[i + k] & 0xc0) == 0x80;
            if (ok && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0) ||
                       (c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90)))
                ok = false;
            if (ok) {
                buf_append(out, s + i, l);
                i += l;
            } else {
                buf_append(out, "\xef\xbf\xbd", 3);
                i++;
            }
        }
    }
}

/* Escapes in into out with json_escape (scan 0) or one scan: 16-byte, AVX2, AVX-512
 * (1-3). False when the CPU lacks that scan. */
static bool run_scan(int scan, sl_buf *out, const unsigned char *in, size_t n)
{
    if (scan == 0)
        json_escape(out, (const char *)in, n);
    else if (scan == 1)
        json_escape_sse2(out, (const char *)in, n);
    else if (scan == 2)
        return json_escape_avx2(out, (const char *)in, n);
    else
        return json_escape_avx512(out, (const char *)in, n);
    return true;
}

static void test_escape_matches_reference(void **state)
{
    (void)state;
    static const char *const pieces[] = {"plain text ", "\"", "\\", "\n", "\x01", "\x1f", "\x7f",
                                         "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff",
                                         "\xc3", "\xe0\x80\x80", "\xed\xa0\x80", "{\"k\":\"v\"}",
                                         "0123456789abcdef", "\t"};
    uint64_t r = 3;
    unsigned char in[700];
    sl_buf got = SL_BUF_INIT, want = SL_BUF_INIT;
    for (int round = 0; round < 3000; round++) {
        size_t n = 0;
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        size_t target = (size_t)(r >> 33) % 600;
        while (n < target) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            const char *pc = pieces[(r >> 33) % SL_ARRAY_LEN(pieces)];
            size_t pl = strlen(pc);
            if (n + pl > sizeof in)
                break;
            memcpy(in + n, pc, pl);
            n += pl;
        }
        /* append after some bytes into buffers of many capacities (exact fits included),
         * by each scan: json_escape's choice, 16-byte, 32-byte and 32-byte with quotes at once
         * where the CPU has them */
        size_t pre = (size_t)(r >> 40) % 40, room = pre + (size_t)(r >> 20) % (2 * n + 16);
        buf_reset(&want);
        for (size_t k = 0; k < pre; k++)
            buf_putc(&want, 'p');
        escape_ref(&want, in, n);
        for (int path = 0; path < 4; path++) {
            sl_buf fresh = SL_BUF_INIT;
            buf_reserve(&fresh, room);
            memset(fresh.p, 'p', pre);
            fresh.len = pre;
            bool ran = run_scan(path, &fresh, in, n);
            if (ran && (fresh.len != want.len || memcmp(fresh.p, want.p, want.len) != 0))
                fail_msg("round %d, scan %d: escape differs from the reference (%zu vs %zu "
                         "bytes)", round, path, fresh.len, want.len);
            buf_free(&fresh);
        }
    }
    buf_free(&got);
    buf_free(&want);
}

/* Every scan the CPU has, and json_escape, against the reference escaper. */
static void assert_scans_match(const unsigned char *in, size_t len, const char *what)
{
    sl_buf want = SL_BUF_INIT, got = SL_BUF_INIT;
    escape_ref(&want, in, len);
    static const char *const names[] = {"json_escape", "the 16-byte scan", "the AVX2 scan",
                                        "the AVX-512 scan"};
    for (int scan = 0; scan < 4; scan++) {
        buf_reset(&got);
        bool ran = run_scan(scan, &got, in, len);
        if (ran && (got.len != want.len || memcmp(got.p, want.p, want.len) != 0))
            fail_msg("%s: %s differs from the reference", what, names[scan]);
    }
    buf_free(&want);
    buf_free(&got);
}

/* n units unit(k) with `odd` put before unit `at`, into in; returns the length. */
static size_t units_with_odd(unsigned char *in, size_t n, size_t at, const char *odd,
                             const char *(*unit)(size_t k, size_t n))
{
    size_t len = 0;
    for (size_t k = 0; k < n; k++) {
        if (k == at) {
            memcpy(in + len, odd, strlen(odd));
            len += strlen(odd);
        }
        const char *u = unit(k, n);
        memcpy(in + len, u, strlen(u));
        len += strlen(u);
    }
    return len;
}

static const char *quote_unit(size_t k, size_t n)
{
    (void)n;
    return (k % 5 == 3) ? "q" : (k & 1) ? "\\" : "\"";
}

/* Blocks dense with quotes, the case of the AVX-512 scan and of the AVX2 scan's groups:
 * every block of 32 quotes or backslashes, and a control, a UTF-8 sequence or a bad byte
 * at every place among them. */
static void test_escape_quote_blocks(void **state)
{
    (void)state;
    static const char *const odd[] = {"\n", "\x01", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff",
                                      "a"};
    unsigned char in[160];
    for (size_t n = 31; n <= 130; n++)
        for (size_t at = 0; at <= n; at += (n > 70 ? 7 : 1))
            for (size_t o = 0; o < SL_ARRAY_LEN(odd); o++) {
                char what[64];
                snprintf(what, sizeof what, "n %zu, at %zu, kind %zu", n, at, o);
                assert_scans_match(in, units_with_odd(in, n, at, odd[o], quote_unit), what);
            }
}

static const char *utf8_unit(size_t k, size_t n)
{
    static const char *const chars[] = {"\xd0\x96", "\xe4\xb8\xad", "\xf0\x9f\x98\x80",
                                        "\xe6\x96\x87", " "};
    return chars[(k * 7 + n) % SL_ARRAY_LEN(chars)];
}

/* Text of multi-byte characters (2, 3 and 4 bytes, runs crossing every block boundary),
 * the case of the scans' UTF-8 runs: a bad or edge sequence, a quote or a control at every
 * place among them, and inputs cut inside a character. */
static void test_escape_utf8_runs(void **state)
{
    (void)state;
    static const char *const odd[] = {
        "\"",           "\x01",         "\xc3", "\xe0\x80\x80", "\xed\xa0\x80",
        "\xf0\x8f\xbf\xbf", "\xf4\x90\x80\x80", "\xc0\xaf", "\x80", "\xff",
        "\xe0\xa0\x80",     "\xed\x9f\xbf",     "\xf4\x8f\xbf\xbf", "\\"};
    unsigned char in[200];
    for (size_t n = 20; n <= 60; n++)
        for (size_t at = 0; at <= n; at++)
            for (size_t o = 0; o < SL_ARRAY_LEN(odd); o++) {
                size_t len = units_with_odd(in, n, at, odd[o], utf8_unit);
                for (size_t cut = 0; cut < 3; cut++) { /* whole, or 1-2 bytes short */
                    char what[64];
                    snprintf(what, sizeof what, "n %zu, at %zu, odd %zu, cut %zu", n, at, o,
                             cut);
                    assert_scans_match(in, len - cut, what);
                }
            }
}

/* Random text of the same kind - valid characters of every length, quotes, controls and
 * bad or edge bytes mixed in - seeded, so a failure names its input: the scans' UTF-8
 * blocks (checked by table lookups, quotes escaped in the block) against the reference. */
static void test_escape_utf8_random(void **state)
{
    (void)state;
    static const unsigned char edge[] = {0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                         0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf3,
                                         0xf4, 0xf5, 0xff, '"',  '\\', 0x01, 0x1f, '\n'};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    unsigned char in[300];
    for (int t = 0; t < 40000; t++) {
        size_t n = 32 + (size_t)(x % 220), len = 0;
        while (len + 4 <= n) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned k = (unsigned)(x >> 32) % 16;
            uint32_t cp = (uint32_t)(x >> 8);
            if (k < 6) { /* 3 bytes, no surrogate */
                cp = 0x800 + cp % 0xf800;
                if (cp >= 0xd800 && cp < 0xe000)
                    cp -= 0x800;
                in[len++] = (unsigned char)(0xe0 | cp >> 12);
                in[len++] = (unsigned char)(0x80 | (cp >> 6 & 63));
                in[len++] = (unsigned char)(0x80 | (cp & 63));
            } else if (k < 8) {
                cp = 0x10000 + cp % 0x100000;
                in[len++] = (unsigned char)(0xf0 | cp >> 18);
                in[len++] = (unsigned char)(0x80 | (cp >> 12 & 63));
                in[len++] = (unsigned char)(0x80 | (cp >> 6 & 63));
                in[len++] = (unsigned char)(0x80 | (cp & 63));
            } else if (k < 10) {
                cp = 0x80 + cp % 0x780;
                in[len++] = (unsigned char)(0xc0 | cp >> 6);
                in[len++] = (unsigned char)(0x80 | (cp & 63));
            } else if (k < 14) {
                in[len++] = (unsigned char)('a' + cp % 26);
            } else {
                in[len++] = edge[cp % sizeof edge];
            }
        }
        char what[32];
        snprintf(what, sizeof what, "random input %d", t);
        assert_scans_match(in, len, what);
    }
}

static void test_escape_output_parses(void **state)
{
    /* Every byte value, escaped, must form a string the strict parser accepts. */
    char in[512];
    for (int i = 0; i < 512; i++)
        in[i] = (char)(i * 7 + 3);
    sl_buf b = SL_BUF_INIT;
    buf_putc(&b, '"');
    json_escape(&b, in, sizeof in);
    buf_putc(&b, '"');
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    json_value *v = json_parse(&a, b.p, b.len, err, sizeof err);
    assert_non_null(v);
    assert_int_equal(v->type, JSON_STR);
    arena_free(&a);
    buf_free(&b);
}

static void assert_time(int64_t ns, const char *want)
{
    sl_buf b = SL_BUF_INIT;
    json_format_time(&b, ns);
    buf_putc(&b, '\0');
    assert_string_equal(b.p, want);
    buf_free(&b);
}

static void test_format_time(void **state)
{
    assert_time(0, "1970-01-01T00:00:00.000000000Z");
    assert_time(1795237109123456789LL, "2026-11-21T04:58:29.123456789Z");
    assert_time(1795237109000000001LL, "2026-11-21T04:58:29.000000001Z");
    assert_time(951782400000000000LL, "2000-02-29T00:00:00.000000000Z");
    assert_time(-1, "1969-12-31T23:59:59.999999999Z");
    assert_time(1795237109100000000LL, "2026-11-21T04:58:29.100000000Z");
    assert_time(1795237109099999999LL, "2026-11-21T04:58:29.099999999Z");
    assert_time(1795237109000010900LL, "2026-11-21T04:58:29.000010900Z");
}

/* Integers two digits at a time: every length and sign, against printf. */
static void test_write_int(void **state)
{
    (void)state;
    int64_t v[600];
    size_t n = 0;
    v[n++] = 0;
    v[n++] = INT64_MIN;
    v[n++] = INT64_MAX;
    int64_t p = 1;
    for (int k = 0; k < 19; k++) { /* 10^0 .. 10^18 */
        if (k)
            p *= 10;
        v[n++] = p - 1;
        v[n++] = p;
        v[n++] = -p;
        v[n++] = p + 7 * (p / 10);
    }
    for (int k = 0; k < 64; k++) { /* every bit length: 2^k - 1, 2^k, and negated */
        uint64_t q = 1ull << k;
        v[n++] = (int64_t)(q - 1);
        v[n++] = k < 63 ? (int64_t)q : INT64_MIN + 1;
        v[n++] = -(int64_t)(q - 1);
    }
    uint64_t x = 88172645463325252ull; /* xorshift: values of every size */
    for (int k = 0; k < 300; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        v[n++] = (int64_t)(x >> (k % 64));
    }
    assert_true(n <= sizeof v / sizeof *v);
    sl_buf b = SL_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%lld", (long long)v[i]);
        buf_reset(&b);
        json_write_int(&b, v[i]);
        buf_putc(&b, '\0');
        assert_string_equal(b.p, want);
    }
    buf_free(&b);
}

static sl_event *make_event(sl_batch *b)
{
    sl_event *e = batch_add(b);
    e->ts_ns = 1795237109123456789LL;
    e->message = batch_str(b, "hello \"world\"\n", 14);
    event_set_str(b, e, "kubernetes.pod_name", "web-1", 5);
    event_set_int(b, e, "count", -42);
    sl_field *f = event_add_field(b, e, "ratio", 5);
    f->type = SL_VAL_FLOAT;
    f->v.f = 0.1;
    f = event_add_field(b, e, "whole", 5);
    f->type = SL_VAL_FLOAT;
    f->v.f = 3.0;
    f = event_add_field(b, e, "ok", 2);
    f->type = SL_VAL_BOOL;
    f->v.b = true;
    f = event_add_field(b, e, "nothing", 7);
    f->type = SL_VAL_NULL;
    f = event_add_field(b, e, "obj", 3);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"a\":[1,2,{\"b\":null}]}", 22);
    f = event_add_field(b, e, "inf", 3);
    f->type = SL_VAL_FLOAT;
    f->v.f = INFINITY;
    e->id_stream = 77;
    e->id_seq = 1234;
    return e;
}

static void test_encode(void **state)
{
    sl_batch *b = batch_new(4);
    sl_event *e = make_event(b);
    sl_buf out = SL_BUF_INIT;
    json_encode_event(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p,
                        "{\"timestamp\":\"2026-11-21T04:58:29.123456789Z\","
                        "\"message\":\"hello \\\"world\\\"\\n\","
                        "\"kubernetes.pod_name\":\"web-1\",\"count\":-42,\"ratio\":0.1,"
                        "\"whole\":3.0,\"ok\":true,\"nothing\":null,"
                        "\"obj\":{\"a\":[1,2,{\"b\":null}]},\"inf\":null}");
    buf_free(&out);
    batch_release(b);
}

static void test_round_trip(void **state)
{
    sl_batch *b = batch_new(4);
    sl_event *e = make_event(b);
    e->nfields--; /* drop "inf": null does not come back as a float */
    sl_field *f = event_add_field(b, e, "big", 3);
    f->type = SL_VAL_INT;
    f->v.i = INT64_MIN;
    f = event_add_field(b, e, "pi", 2);
    f->type = SL_VAL_FLOAT;
    f->v.f = 3.141592653589793;
    sl_buf out = SL_BUF_INIT;
    json_encode_event(&out, e);

    sl_batch *d = batch_new(4);
    assert_int_equal(json_decode_event(d, out.p, out.len), SL_OK);
    assert_int_equal(d->n, 1);
    e = &b->events[0];
    sl_event *g = &d->events[0];
    assert_int_equal(g->ts_ns, e->ts_ns);
    assert_int_equal(g->message.len, e->message.len);
    assert_memory_equal(g->message.ptr, e->message.ptr, e->message.len);
    assert_int_equal(g->nfields, e->nfields);
    for (uint32_t i = 0; i < e->nfields; i++) {
        const sl_field *x = &e->fields[i], *y = &g->fields[i];
        assert_int_equal(x->key.len, y->key.len);
        assert_memory_equal(x->key.ptr, y->key.ptr, x->key.len);
        assert_int_equal(x->type, y->type);
        switch (x->type) {
        case SL_VAL_STR:
        case SL_VAL_JSON:
            assert_int_equal(x->v.s.len, y->v.s.len);
            assert_memory_equal(x->v.s.ptr, y->v.s.ptr, x->v.s.len);
            break;
        case SL_VAL_INT:
            assert_true(x->v.i == y->v.i);
            break;
        case SL_VAL_FLOAT:
            assert_true(x->v.f == y->v.f);
            break;
        case SL_VAL_BOOL:
            assert_int_equal(x->v.b, y->v.b);
            break;
        }
    }
    /* re-encoding gives the same bytes */
    sl_buf again = SL_BUF_INIT;
    json_encode_event(&again, g);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.p, out.p, out.len);
    buf_free(&again);
    buf_free(&out);
    batch_release(d);
    batch_release(b);
}

/* Fields named as the object's own members are written once each, and come back. */
static void test_own_member_names(void **state)
{
    sl_batch *b = batch_new(4);
    sl_event *e = batch_add(b);
    e->ts_ns = 1795237109000000000LL;
    e->message = batch_str(b, "m", 1);
    const char *keys[] = {"message", "timestamp", "_message", "__timestamp", "messages",
                          "_msg", "message_"};
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
        sl_field *f = event_add_field(b, e, keys[i], strlen(keys[i]));
        f->type = SL_VAL_INT;
        f->v.i = (int64_t)i;
    }
    sl_buf out = SL_BUF_INIT;
    json_encode_event(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "{\"timestamp\":\"2026-11-21T04:58:29.000000000Z\","
                               "\"message\":\"m\",\"_message\":0,\"_timestamp\":1,"
                               "\"__message\":2,\"___timestamp\":3,\"messages\":4,"
                               "\"_msg\":5,\"message_\":6}");
    /* a reader that keeps the last of a repeated key sees the event's own */
    sl_arena a;
    arena_init(&a, 1024);
    char err[64];
    const json_value *root = json_parse(&a, out.p, out.len - 1, err, sizeof err);
    assert_non_null(root);
    assert_string_equal(json_get(root, "message")->str, "m");

    sl_batch *d = batch_new(4);
    assert_int_equal(json_decode_event(d, out.p, out.len - 1), SL_OK);
    const sl_event *g = &d->events[0];
    assert_int_equal(g->nfields, SL_ARRAY_LEN(keys));
    for (size_t i = 0; i < SL_ARRAY_LEN(keys); i++) {
        assert_int_equal(g->fields[i].key.len, strlen(keys[i]));
        assert_memory_equal(g->fields[i].key.ptr, keys[i], strlen(keys[i]));
        assert_int_equal(g->fields[i].v.i, (int64_t)i);
    }
    /* what earlier versions wrote, a second "message" key, is still a field */
    const char *old = "{\"timestamp\":\"2026-11-21T04:58:29Z\",\"message\":\"m\","
                      "\"message\":{\"a\":1}}";
    assert_int_equal(json_decode_event(d, old, strlen(old)), SL_OK);
    assert_int_equal(d->events[1].nfields, 1);
    assert_int_equal(d->events[1].fields[0].type, SL_VAL_JSON);
    arena_free(&a);
    batch_release(d);
    buf_free(&out);
    batch_release(b);
}

static void test_decode_errors(void **state)
{
    sl_batch *d = batch_new(4);
    const char *bad[] = {
        "", "[]", "\"x\"", "{\"timestamp\":12}", "{\"timestamp\":\"yesterday\"}",
        "{\"message\":\"x\"", "{\"timestamp\":\"2026-11-21T04:58:29.Z\"}",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(json_decode_event(d, bad[i], strlen(bad[i])), SL_ERR_CORRUPT);
    assert_int_equal(d->n, 0);
    const char *ok = "{\"timestamp\":\"2026-11-21T06:58:29+02:00\",\"message\":\"m\"}";
    assert_int_equal(json_decode_event(d, ok, strlen(ok)), SL_OK);
    assert_int_equal(d->events[0].ts_ns, 1795237109000000000LL);
    batch_release(d);
}

static const struct {
    const char *text;
    bool ok;
} parse_cases[] = {
    {"null", true}, {"true", true}, {"false", true}, {"0", true}, {"-0", true},
    {"1.5e10", true}, {"-1.25E-3", true}, {"\"\"", true}, {"[]", true}, {"{}", true},
    {" [1, 2 , {\"a\" : [\"b\"]}] ", true}, {"\"\\u00e9\\ud83d\\ude00\"", true},
    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", true}, {"{\"a\":1,\"a\":2}", true},
    {"", false}, {" ", false}, {"nul", false}, {"True", false}, {"01", false},
    {"1.", false}, {".5", false}, {"1e", false}, {"-", false}, {"+1", false},
    {"[1,]", false}, {"[1 2]", false}, {"{\"a\"}", false}, {"{\"a\":}", false},
    {"{a:1}", false}, {"{\"a\":1,}", false}, {"[", false}, {"]", false},
    {"\"abc", false}, {"\"a\nb\"", false}, {"\"\\x\"", false}, {"\"\\u12g4\"", false},
    {"\"\\u12\"", false}, {"1 2", false}, {"{} x", false}, {"\"\xff\"", false},
    {"'a'", false}, {"NaN", false}, {"[1]]", false},
};

static void test_parse_table(void **state)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(parse_cases); i++) {
        sl_arena a;
        arena_init(&a, 1024);
        char err[128] = "";
        json_value *v = json_parse(&a, parse_cases[i].text, strlen(parse_cases[i].text), err,
                                   sizeof err);
        if ((v != NULL) != parse_cases[i].ok)
            fail_msg("case %zu <%s>: expected %s (%s)", i, parse_cases[i].text,
                     parse_cases[i].ok ? "accept" : "reject", err);
        if (!v)
            assert_true(strlen(err) > 0);
        arena_free(&a);
    }
}

static void test_parse_dom(void **state)
{
    sl_arena a;
    arena_init(&a, 1024);
    char err[128];
    const char *t = "{\"s\":\"x\\u00e9\\ud83d\\ude00\\ud800y\",\"n\":-2.5,\"arr\":[1,[2]],"
                    "\"o\":{\"k\":true}}";
    json_value *v = json_parse(&a, t, strlen(t), err, sizeof err);
    assert_non_null(v);
    assert_int_equal(v->n, 4);
    const json_value *s = json_get(v, "s");
    assert_non_null(s);
    assert_string_equal(s->str, "x\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdy");
    assert_true(json_get(v, "n")->num == -2.5);
    const json_value *arr = json_get(v, "arr");
    assert_int_equal(arr->type, JSON_ARR);
    assert_int_equal(arr->n, 2);
    assert_int_equal(arr->raw_len, 7);
    assert_memory_equal(arr->raw, "[1,[2]]", 7);
    assert_true(json_get(json_get(v, "o"), "k")->b);
    assert_null(json_get(v, "missing"));
    arena_free(&a);
}

static void test_get_path(void **state)
{
    sl_arena a;
    arena_init(&a, 1024);
    char err[128];
    const char *t = "{\"hits\":{\"hits\":[1],\"n\":2},\"ix\":{\"settings\":"
                    "{\"index.refresh_interval\":\"5s\"}},\"arr\":[{\"k\":1}]}";
    json_value *v = json_parse(&a, t, strlen(t), err, sizeof err);
    assert_non_null(v);
    const json_value *h = json_get_path(v, "hits", "hits", NULL);
    assert_non_null(h);
    assert_int_equal(h->type, JSON_ARR);
    assert_ptr_equal(h, json_get(json_get(v, "hits"), "hits"));
    const json_value *ri = json_get_path(v, "ix", "settings", "index.refresh_interval", NULL);
    assert_non_null(ri);
    assert_string_equal(ri->str, "5s");
    assert_ptr_equal(json_get_path(v, NULL), v);             /* no step: v itself */
    assert_null(json_get_path(NULL, "hits", NULL));          /* no root */
    assert_null(json_get_path(v, "hits", "missing", NULL));  /* a step missing */
    assert_null(json_get_path(v, "hits", "n", "x", NULL));   /* through a number */
    assert_null(json_get_path(v, "arr", "k", NULL));         /* through an array */
    assert_null(json_get_path(v, "ix", "settings", "index", "refresh_interval", NULL));
    arena_free(&a);
}

static void test_parse_depth(void **state)
{
    char deep[200];
    sl_arena a;
    char err[128];
    for (int depth = 64; depth <= 65; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        arena_init(&a, 1024);
        json_value *v = json_parse(&a, deep, (size_t)depth * 2, err, sizeof err);
        if (depth == 64)
            assert_non_null(v);
        else
            assert_null(v);
        arena_free(&a);
    }
}

/* ---- json_scan_object against json_parse, by each of its scans ---------------------- */

/* Checks every scan of json_scan_object on s[0..n) (copied to a block of exactly n bytes,
 * so that a read past the end is caught under ASan) against json_parse: the same accepted
 * language (-2 only past max members), the same keys, types,
 * raw text, strings, booleans and numbers. Returns json_scan_object's result. */
static int check_scan(const char *src, size_t n, size_t max, const char *what)
{
    char *s = malloc(n ? n : 1);
    assert_non_null(s);
    memcpy(s, src, n);
    sl_arena pa;
    arena_init(&pa, 1024);
    char err[128];
    json_value *v = json_parse(&pa, s, n, err, sizeof err);
    bool obj = v && v->type == JSON_OBJ;
    int first = 0;
    for (int path = 0; path < 3; path++) {
        json_member m[64];
        sl_arena a;
        arena_init(&a, 1024);
        int k = -3;
        if (path == 0)
            k = json_scan_object(&a, s, n, m, max);
        else if (path == 1)
            k = json_scan_object_sse2(&a, s, n, m, max);
        else if (!json_scan_object_avx2(&a, s, n, m, max, &k))
            k = first; /* no AVX2 here: nothing to compare */
        if (path == 0)
            first = k;
        if (k != first)
            fail_msg("%s, scan %d: %d members, the dispatched scan %d", what, path, k, first);
        /* -2 is said as soon as a member past max has a valid key, so also for an
         * input that turns out invalid further on */
        if (k == -1 ? obj : !obj && k != -2)
            fail_msg("%s, scan %d: returns %d, json_parse %s it (%s)", what, path, k,
                     obj ? "accepts" : "rejects", err);
        if (k == -2 && obj && v->n <= max)
            fail_msg("%s, scan %d: -2 for %zu members", what, path, v->n);
        if (k >= 0 && (size_t)k != v->n)
            fail_msg("%s, scan %d: %d members, json_parse %zu", what, path, k, v->n);
        for (int i = 0; i < k; i++) {
            const json_value *x = v->items[i];
            if (strlen(v->keys[i]) != m[i].keylen ||
                memcmp(v->keys[i], m[i].key, m[i].keylen) != 0)
                fail_msg("%s, scan %d: key %d differs", what, path, i);
            if (x->type != m[i].type || x->raw_len != m[i].raw_len ||
                memcmp(x->raw, m[i].raw, x->raw_len) != 0)
                fail_msg("%s, scan %d: member %d differs in type or raw text", what, path, i);
            if (x->type == JSON_STR && (x->len != m[i].len || memcmp(x->str, m[i].str, x->len)))
                fail_msg("%s, scan %d: string %d differs", what, path, i);
            if (x->type == JSON_BOOL && x->b != m[i].b)
                fail_msg("%s, scan %d: boolean %d differs", what, path, i);
            if (x->type == JSON_NUM && !(x->num == m[i].num || (isnan(x->num) && isnan(m[i].num))))
                fail_msg("%s, scan %d: number %d differs", what, path, i);
            if (m[i].nested != (x->type == JSON_ARR || x->type == JSON_OBJ))
                fail_msg("%s, scan %d: member %d nested flag", what, path, i);
        }
        arena_free(&a);
    }
    arena_free(&pa);
    free(s);
    return first;
}

static int check_scan_str(const char *s, const char *what)
{
    return check_scan(s, strlen(s), 64, what);
}

/* Known answers: what the scan returns, on short inputs (the padded copy) and long ones. */
static void test_scan_object_cases(void **state)
{
    (void)state;
    sl_arena a;
    arena_init(&a, 1024);
    json_member m[64];
    const char *t = "{\"k\":\"a\\\"b\\\\\",\"e\\u00e9\":\"\xc3\xa9\\u20ac\",\"n\":-12,\"f\":1.5e1,"
                    "\"t\":true,\"z\":null,\"o\":{\"x\":[1,\"]\"]}}";
    assert_int_equal(check_scan_str(t, "known"), 7);
    assert_int_equal(json_scan_object(&a, t, strlen(t), m, 64), 7);
    assert_int_equal(m[0].len, 4);
    assert_memory_equal(m[0].str, "a\"b\\", 4);
    assert_int_equal(m[1].keylen, 3);
    assert_memory_equal(m[1].key, "e\xc3\xa9", 3);
    assert_int_equal(m[1].len, 5);
    assert_memory_equal(m[1].str, "\xc3\xa9\xe2\x82\xac", 5);
    assert_true(m[2].is_int && m[2].i == -12);
    assert_true(!m[3].is_int && m[3].num == 15.0);
    assert_true(m[4].type == JSON_BOOL && m[4].b);
    assert_int_equal(m[5].type, JSON_NULL);
    assert_true(m[6].nested && m[6].raw_len == 13);
    /* too many members: -2 by every scan */
    assert_int_equal(check_scan(t, strlen(t), 3, "max 3"), -2);
    static const char *const bad[] = {
        "{\"a\":\"\x01\"}",          /* control in a string */
        "{\"a\":\"\\x\"}",            /* bad escape */
        "{\"a\":\"\\u12g4\"}",        /* bad \u */
        "{\"a\":\"\xff\"}",           /* invalid UTF-8 */
        "{\"a\":\"\xc3\"}",           /* truncated UTF-8 sequence */
        "{\"a\":\"\xed\xa0\x80\"}",   /* surrogate */
        "{\"a\":\"x\\\"}",            /* the closing quote escaped */
        "{\"a\":\"x\\",               /* a backslash at the end */
        "{\"a\":tru}", "{\"a\":nul", "{\"a\":1,}", "{\"a\" 1}", "{\"a\":1 \"b\":2}",
        "{\"a\":1}x", "[1]", "\"s\"", "{", "",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(check_scan_str(bad[i], bad[i]), -1);
    arena_free(&a);
}

/* Strings starting and ending on each side of the 16-, 32- and 64-byte blocks and of the
 * 1 KiB window, with an escape, a run of backslashes, a non-ASCII character or a control
 * at each place; objects under and over 64 bytes; every prefix of each (truncated input). */
static void test_scan_object_boundaries(void **state)
{
    (void)state;
    static const char *const inserts[] = {
        "",   "\\\"", "\\\\", "\\\\\\\"", "\\\\\\\\", "\\\\\\\\\\\"", "\\n", "\\u00e9",
        "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xff", "\x1f",
        "\\", "\x7f", "/",
    };
    char buf[2200], what[64];
    static const size_t lens[] = {0, 1, 15, 16, 17, 30, 31, 32, 33, 55, 56, 57, 62, 63, 64,
                                  65, 66, 127, 128, 129, 1000, 1030};
    for (size_t pre = 0; pre < 70; pre += 3) {
        for (size_t li = 0; li < SL_ARRAY_LEN(lens); li++) {
            for (size_t ii = 0; ii < SL_ARRAY_LEN(inserts); ii++) {
                size_t len = lens[li], ins = strlen(inserts[ii]);
                /* {"<pre x's>":"<len bytes: the insert at len - 1 - its length>","z":1} */
                size_t n = 0;
                buf[n++] = '{';
                buf[n++] = '"';
                memset(buf + n, 'x', pre);
                n += pre;
                memcpy(buf + n, "\":\"", 3);
                n += 3;
                size_t at = len > ins ? len - ins : 0;
                for (size_t j = 0; j < at; j++)
                    buf[n++] = (char)('a' + j % 26);
                memcpy(buf + n, inserts[ii], ins);
                n += ins;
                memcpy(buf + n, "\",\"z\":1}", 8);
                n += 8;
                snprintf(what, sizeof what, "pre %zu len %zu insert %zu", pre, len, ii);
                check_scan(buf, n, 64, what);
                /* the insert at the start of the string, too */
                if (ins && len > ins) {
                    memmove(buf + 2 + pre + 3 + ins, buf + 2 + pre + 3, at);
                    memcpy(buf + 2 + pre + 3, inserts[ii], ins);
                    check_scan(buf, n, 64, what);
                }
                if (len <= 66 && pre % 9 == 0)
                    for (size_t cut = 0; cut < n; cut++)
                        if (check_scan(buf, cut, 64, what) != -1)
                            fail_msg("%s: a prefix of %zu bytes accepted", what, cut);
            }
        }
    }
}

static size_t next_rand(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return (size_t)(*r >> 33);
}

/* Random objects of strings with escapes, non-ASCII and bad bytes, numbers, literals,
 * nested values and whitespace, some cut short or with a byte changed. */
static void test_scan_object_random(void **state)
{
    (void)state;
    static const char *const pieces[] = {
        "plain text ", "\\\"", "\\\\", "\\/", "\\n", "\\t", "\\u0041", "\\u0000", "\\ud800",
        "\\udc00x", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "0123456789abcdef",
        "{\\\"k\\\":1}", "\xff", "\x01", "\\q", "\\u12", "\"",
    };
    static const char *const values[] = {
        "1", "-0", "12345678901234567890", "-9223372036854775808", "9223372036854775807",
        "1.5", "2e-3", "-1E+2", "01", "1.", "true", "false", "null", "[1,\"a\",{\"b\":[]}]",
        "{}", "[]", "{\"x\":{\"y\":\"z\"}}", "tru", "-",
    };
    uint64_t r = 7;
#define NEXT() next_rand(&r)
    char buf[4096], what[32];
    for (int round = 0; round < 4000; round++) {
        size_t n = 0, members = NEXT() % 12;
        bool spaces = NEXT() % 4 == 0;
        buf[n++] = '{';
        for (size_t k = 0; k < members && n < 3000; k++) {
            if (k)
                buf[n++] = ',';
            if (spaces && NEXT() % 2)
                buf[n++] = ' ';
            buf[n++] = '"';
            for (size_t p = NEXT() % 3; p > 0; p--) {
                const char *pc = pieces[NEXT() % (SL_ARRAY_LEN(pieces) - 4)];
                memcpy(buf + n, pc, strlen(pc));
                n += strlen(pc);
            }
            buf[n++] = '"';
            if (spaces && NEXT() % 2)
                buf[n++] = '\n';
            buf[n++] = ':';
            if (NEXT() % 2) {
                buf[n++] = '"';
                for (size_t p = NEXT() % 12; p > 0; p--) {
                    /* the last 4 pieces (invalid in a string) in one string of 8 */
                    size_t bad = NEXT() % 8 ? 4 : 0;
                    const char *pc = pieces[NEXT() % (SL_ARRAY_LEN(pieces) - bad)];
                    memcpy(buf + n, pc, strlen(pc));
                    n += strlen(pc);
                }
                buf[n++] = '"';
            } else {
                const char *vl = values[NEXT() % SL_ARRAY_LEN(values)];
                memcpy(buf + n, vl, strlen(vl));
                n += strlen(vl);
            }
        }
        buf[n++] = '}';
        if (spaces)
            buf[n++] = '\t';
        if (NEXT() % 8 == 0)
            n = NEXT() % n;
        if (NEXT() % 8 == 0 && n) {
            size_t at = NEXT() % n;
            buf[at] = (char)NEXT();
        }
        snprintf(what, sizeof what, "round %d", round);
        check_scan(buf, n, 64, what);
        check_scan(buf, n, members / 2, what);
    }
#undef NEXT
}

/* Strings of multi-byte text (whole blocks of it, which the scan takes a block at a time)
 * with a bad or edge sequence, an escape, a quote or a control at every place, and cut
 * inside a character: every scan against json_parse. */
static void test_scan_object_utf8(void **state)
{
    (void)state;
    static const char *const odd[] = {"\\\"", "\\u00e9", "\x01", "\xc3", "\xe0\x80\x80",
                                      "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80", "\xff",
                                      "\xf0\x9f\x98\x80", "\"", "a"};
    unsigned char text[300];
    char buf[400], what[64];
    for (size_t n = 10; n <= 50; n++)
        for (size_t at = 0; at <= n; at++)
            for (size_t o = 0; o < SL_ARRAY_LEN(odd); o++)
                for (size_t cut = 0; cut < 2; cut++) {
                    size_t len = units_with_odd(text, n, at, odd[o], utf8_unit) - cut;
                    size_t k = 0;
                    memcpy(buf, "{\"k\":\"", 6);
                    k = 6;
                    memcpy(buf + k, text, len);
                    k += len;
                    memcpy(buf + k, "\",\"n\":1}", 8);
                    k += 8;
                    snprintf(what, sizeof what, "n %zu, at %zu, odd %zu, cut %zu", n, at, o, cut);
                    check_scan(buf, k, 64, what);
                }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_escape_output_parses),
        cmocka_unit_test(test_escape_matches_reference),
        cmocka_unit_test(test_escape_quote_blocks),
        cmocka_unit_test(test_escape_utf8_runs),
        cmocka_unit_test(test_escape_utf8_random),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_write_int),  cmocka_unit_test(test_encode),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_own_member_names),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_parse_table),  cmocka_unit_test(test_parse_dom),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_get_path),
        cmocka_unit_test(test_scan_object_cases),
        cmocka_unit_test(test_scan_object_boundaries),
        cmocka_unit_test(test_scan_object_random),
        cmocka_unit_test(test_scan_object_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
