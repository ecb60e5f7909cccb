/* test_json.c - unit tests for the JSON encoder, the event decoder and the strict parser.
 * Covers escaping of controls and invalid UTF-8, time formatting and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
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
         * by each scan: json_escape's choice, 16-byte, 32-byte where the CPU has it */
        size_t pre = (size_t)(r >> 40) % 40, room = pre + (size_t)(r >> 20) % (2 * n + 16);
        buf_reset(&want);
        for (size_t k = 0; k < pre; k++)
            buf_putc(&want, 'p');
        escape_ref(&want, in, n);
        for (int path = 0; path < 3; path++) {
            sl_buf fresh = SL_BUF_INIT;
            buf_reserve(&fresh, room);
            memset(fresh.p, 'p', pre);
            fresh.len = pre;
            bool ran = true;
            if (path == 0)
                json_escape(&fresh, (const char *)in, n);
            else if (path == 1)
                json_escape_sse2(&fresh, (const char *)in, n);
            else
                ran = json_escape_avx2(&fresh, (const char *)in, n);
            if (ran && (fresh.len != want.len || memcmp(fresh.p, want.p, want.len) != 0))
                fail_msg("round %d, scan %d: escape differs from the reference (%zu vs %zu "
                         "bytes)", round, path, fresh.len, want.len);
            buf_free(&fresh);
        }
    }
    buf_free(&got);
    buf_free(&want);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),       cmocka_unit_test(test_escape_output_parses),
        cmocka_unit_test(test_escape_matches_reference),
        cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_write_int),  cmocka_unit_test(test_encode),
        cmocka_unit_test(test_round_trip),   cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_parse_table),  cmocka_unit_test(test_parse_dom),
        cmocka_unit_test(test_parse_depth),
        cmocka_unit_test(test_get_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
