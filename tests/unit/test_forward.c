/* test_forward.c - unit tests for the msgpack reader/writer, the Forward codec (every mode,
 * EventTime, options, errors), the handshake digest, HTTP bodies and tag routing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/common.h"
#include "formats/http_body.h"
#include "formats/msgpack.h"
#include "net/forward.h"
#include "transforms/route.h"

static const fwd_limits lim = {1 << 20, 32};

static const sl_field *field(const sl_event *e, const char *k)
{
    return event_get(e, k, strlen(k));
}

static void put_record(sl_buf *b, const char *msg, int64_t n)
{
    mp_put_map(b, 2);
    mp_put_cstr(b, "message");
    mp_put_cstr(b, msg);
    mp_put_cstr(b, "n");
    mp_put_int(b, n);
}

static void test_msgpack_round_trip(void **state)
{
    sl_buf b = SL_BUF_INIT;
    int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, INT32_MAX, (int64_t)INT32_MAX + 1,
                      INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769, INT32_MIN, INT64_MIN};
    for (size_t i = 0; i < SL_ARRAY_LEN(ints); i++)
        mp_put_int(&b, ints[i]);
    mp_put_double(&b, 1.5);
    char big[70000];
    memset(big, 'x', sizeof big);
    mp_put_str(&b, big, 31);
    mp_put_str(&b, big, 200);
    mp_put_str(&b, big, 3000);
    mp_put_str(&b, big, sizeof big);
    mp_put_bin(&b, big, 300);
    mp_put_array(&b, 20);
    mp_put_map(&b, 70000);
    mp_put_event_time(&b, 1700000000123456789LL);
    mp_reader r = {(const uint8_t *)b.p, (const uint8_t *)b.p + b.len};
    mp_obj o;
    for (size_t i = 0; i < SL_ARRAY_LEN(ints); i++) {
        assert_int_equal(mp_read(&r, &o), MP_OK);
        assert_int_equal(o.type, MP_INT);
        assert_true(o.i == ints[i]);
    }
    assert_int_equal(mp_read(&r, &o), MP_OK);
    assert_true(o.type == MP_FLOAT && o.f == 1.5);
    uint32_t lens[] = {31, 200, 3000, sizeof big};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(mp_read(&r, &o), MP_OK);
        assert_int_equal(o.type, MP_STR);
        assert_int_equal(o.len, lens[i]);
    }
    assert_int_equal(mp_read(&r, &o), MP_OK);
    assert_true(o.type == MP_BIN && o.len == 300);
    assert_int_equal(mp_read(&r, &o), MP_OK);
    assert_true(o.type == MP_ARRAY && o.len == 20);
    assert_int_equal(mp_read(&r, &o), MP_OK);
    assert_true(o.type == MP_MAP && o.len == 70000);
    assert_int_equal(mp_read(&r, &o), MP_OK);
    assert_true(o.type == MP_EXT && o.ext_type == 0 && o.len == 8);
    assert_int_equal(mp_read(&r, &o), MP_NEED_MORE);
    buf_free(&b);
}

/* A time before the epoch (a float time a little under 0 floors to -1 s) must not go out
 * as -1 or -2 seconds: those are Fluent Bit's group markers, and the event would be skipped
 * when read back (found by fuzz_forward). It goes out as the epoch. Nor may a time of 2^32 - 1
 * or 2^32 - 2 seconds (an integer time a peer may send; found by fuzz_forward too), nor wrap
 * past 2^32: those go out as the last second that is not a marker. */
static void test_time_before_epoch(void **state)
{
    const int64_t last = 4294967293LL * 1000000000 + 999999999;
    const int64_t times[] = {-160000, -1500000000LL, 4294967295LL * 1000000000,
                             4294967294LL * 1000000000 + 5, 5000000000LL * 1000000000, last};
    const int64_t want[] = {0, 0, last, last, last, last};
    enum { N = sizeof times / sizeof times[0] };
    sl_batch *b = batch_new(N);
    for (int i = 0; i < N; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = times[i];
        e->message = batch_str(b, "m", 1);
        event_set_str(b, e, "fluentbit.metadata.k", "v", 1);
    }
    sl_buf entries = SL_BUF_INIT, msg = SL_BUF_INIT;
    for (uint32_t i = 0; i < b->n; i++)
        fwd_encode_entry(&entries, &b->events[i], SL_STR("message"));
    assert_int_equal(fwd_encode_packed(&msg, "t", 1, &entries, b->n, NULL, false), SL_OK);
    fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
    sl_batch *b2 = batch_new(N);
    fwd_msg_info info;
    char err[256];
    assert_int_equal(fwd_decode((const uint8_t *)msg.p, msg.len, b2, &info, &sc, &lim, err,
                                sizeof err), SL_OK);
    assert_int_equal(b2->n, N);
    assert_int_equal(info.markers, 0);
    for (uint32_t i = 0; i < b2->n; i++)
        assert_int_equal(b2->events[i].ts_ns, want[i]);
    fwd_scratch_free(&sc);
    buf_free(&entries);
    buf_free(&msg);
    batch_release(b2);
    batch_release(b);
}

static void test_msgpack_bounds(void **state)
{
    /* Every prefix of a value is NEED_MORE, never a read past the end. */
    sl_buf b = SL_BUF_INIT;
    mp_put_array(&b, 3);
    mp_put_cstr(&b, "tag");
    mp_put_event_time(&b, 5);
    put_record(&b, "hello", 7);
    for (size_t n = 0; n < b.len; n++) {
        mp_reader r = {(const uint8_t *)b.p, (const uint8_t *)b.p + n};
        assert_int_equal(mp_skip(&r, 8, 1 << 20), MP_NEED_MORE);
    }
    mp_reader r = {(const uint8_t *)b.p, (const uint8_t *)b.p + b.len};
    assert_int_equal(mp_skip(&r, 8, 1 << 20), MP_OK);
    assert_ptr_equal(r.p, b.p + b.len);
    /* Size claims beyond the limit fail at once. */
    const uint8_t str2g[] = {0xdb, 0x7f, 0xff, 0xff, 0xff};
    mp_reader r2 = {str2g, str2g + sizeof str2g};
    assert_int_equal(mp_skip(&r2, 8, 1 << 20), MP_TOO_BIG);
    const uint8_t arr2g[] = {0xdd, 0x7f, 0xff, 0xff, 0xff};
    mp_reader r3 = {arr2g, arr2g + sizeof arr2g};
    assert_int_equal(mp_skip(&r3, 8, 1 << 20), MP_TOO_BIG);
    /* Depth is bounded. */
    uint8_t deep[100];
    memset(deep, 0x91, sizeof deep);
    mp_reader r4 = {deep, deep + sizeof deep};
    assert_int_equal(mp_skip(&r4, 32, 1 << 20), MP_TOO_DEEP);
    /* Maps as map keys have no JSON form (and quoting them nests escapes exponentially). */
    uint8_t keys[64];
    for (size_t i = 0; i < sizeof keys; i++)
        keys[i] = 0x81;
    sl_buf j = SL_BUF_INIT;
    mp_reader r6 = {keys, keys + sizeof keys};
    assert_int_equal(mp_to_json(&r6, &j, 32), MP_BAD);
    assert_true(j.len < 64);
    buf_free(&j);
    const uint8_t never[] = {0xc1};
    mp_reader r5 = {never, never + 1};
    assert_int_equal(mp_skip(&r5, 8, 100), MP_BAD);
    buf_free(&b);
}

static void decode_ok(sl_buf *m, sl_batch *b, fwd_msg_info *info)
{
    fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
    char err[256] = "";
    int rc = fwd_decode((const uint8_t *)m->p, m->len, b, info, &sc, &lim, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("decode: %s", err);
    fwd_scratch_free(&sc);
}

static void test_modes(void **state)
{
    sl_batch *b = batch_new(8);
    fwd_msg_info info;
    sl_buf m = SL_BUF_INIT;
    /* Message mode, integer time, option with chunk. */
    mp_put_array(&m, 4);
    mp_put_cstr(&m, "app.a");
    mp_put_int(&m, 1700000000);
    put_record(&m, "one", 1);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "chunk");
    mp_put_cstr(&m, "abc");
    decode_ok(&m, b, &info);
    assert_int_equal(info.events, 1);
    assert_int_equal(info.chunk_len, 3);
    assert_memory_equal(info.chunk, "abc", 3);
    assert_true(b->events[0].ts_ns == 1700000000LL * 1000000000);
    assert_memory_equal(b->events[0].message.ptr, "one", 3);
    assert_memory_equal(field(&b->events[0], "tag")->v.s.ptr, "app.a", 5);
    assert_int_equal(field(&b->events[0], "n")->v.i, 1);
    /* Forward mode with EventTime. */
    buf_reset(&m);
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "app.b");
    mp_put_array(&m, 2);
    for (int i = 0; i < 2; i++) {
        mp_put_array(&m, 2);
        mp_put_event_time(&m, 1700000000123456789LL + i);
        put_record(&m, "fwd", i);
    }
    decode_ok(&m, b, &info);
    assert_int_equal(info.events, 2);
    assert_true(b->events[2].ts_ns == 1700000000123456790LL);
    assert_null(info.chunk);
    /* PackedForward, plain and gzip, with `size`. */
    sl_buf entries = SL_BUF_INIT;
    sl_batch *src = batch_new(3);
    for (int i = 0; i < 3; i++) {
        sl_event *e = batch_add(src);
        e->ts_ns = 1000000000LL * (i + 1) + 7;
        e->message = batch_str(src, "packed", 6);
        event_set_int(src, e, "i", i);
        event_set_static(src, e, SL_STR("tag"), SL_STR("ignored"));
    }
    for (int i = 0; i < 3; i++)
        fwd_encode_entry(&entries, &src->events[i], SL_STR("message"));
    for (int gz = 0; gz < 2; gz++) {
        buf_reset(&m);
        assert_int_equal(fwd_encode_packed(&m, "app.p", 5, &entries, 3, "ck", gz), SL_OK);
        uint32_t before = b->n;
        decode_ok(&m, b, &info);
        assert_int_equal(info.events, 3);
        assert_int_equal(info.size, 3);
        assert_int_equal(info.compressed, gz);
        assert_memory_equal(info.chunk, "ck", 2);
        const sl_event *e = &b->events[before + 2];
        assert_true(e->ts_ns == 3000000007LL);
        assert_int_equal(field(e, "i")->v.i, 2);
        assert_memory_equal(field(e, "tag")->v.s.ptr, "app.p", 5);
    }
    batch_release(src);
    buf_free(&entries);
    buf_free(&m);
    batch_release(b);
}

/* `size` is Fluentd's entry count: a capacity hint, never trusted for an allocation, and a
 * wrong count keeps the events (the source counts a size_mismatch). */
static void test_size_option(void **state)
{
    (void)state;
    sl_buf entries = SL_BUF_INIT, m = SL_BUF_INIT;
    sl_batch *src = batch_new(3);
    for (int i = 0; i < 3; i++) {
        sl_event *e = batch_add(src);
        e->ts_ns = 1000000000LL * (i + 1);
        e->message = batch_str(src, "sized", 5);
        fwd_encode_entry(&entries, e, SL_STR("message"));
    }
    const uint32_t claims[] = {3, 5, 1, 2000000000u};
    for (size_t k = 0; k < SL_ARRAY_LEN(claims); k++) {
        for (int gz = 0; gz < 2; gz++) {
            sl_batch *b = batch_new(1);
            fwd_msg_info info;
            buf_reset(&m);
            assert_int_equal(fwd_encode_packed(&m, "app.s", 5, &entries, claims[k], NULL, gz),
                             SL_OK);
            decode_ok(&m, b, &info);
            assert_int_equal(info.events, 3);
            assert_int_equal(info.size, claims[k]);
            assert_int_equal(b->n, 3);
            /* The hint sized the array once (3 entries), a huge claim is bounded by the
             * bytes: no 2e9-event allocation. */
            assert_true(b->cap >= 3 && b->cap <= m.len);
            if (claims[k] == 3)
                assert_int_equal(b->cap, 3);
            batch_release(b);
        }
    }
    batch_release(src);
    buf_free(&entries);
    buf_free(&m);
}

static void test_errors(void **state)
{
    sl_batch *b = batch_new(8);
    fwd_scratch sc = {SL_BUF_INIT, SL_BUF_INIT};
    char err[256];
    fwd_msg_info info;
    sl_buf m = SL_BUF_INIT;
    /* A valid first entry then a bad one: nothing is appended. */
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "t");
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    mp_put_int(&m, 1);
    put_record(&m, "ok", 1);
    mp_put_array(&m, 2);
    mp_put_cstr(&m, "not a time");
    put_record(&m, "bad", 2);
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_int_equal(b->n, 0);
    assert_non_null(strstr(err, "time"));
    /* Zip bomb: inflates beyond the limit. */
    static char zeros[1 << 21];
    sl_buf z = SL_BUF_INIT;
    assert_int_equal(fwd_gzip(&z, zeros, sizeof zeros), SL_OK);
    buf_reset(&m);
    mp_put_array(&m, 3);
    mp_put_cstr(&m, "t");
    mp_put_bin(&m, z.p, z.len);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "compressed");
    mp_put_cstr(&m, "gzip");
    assert_int_equal(fwd_decode((const uint8_t *)m.p, m.len, b, &info, &sc, &lim, err, sizeof err),
                     SL_ERR_TOOBIG);
    buf_free(&z);
    buf_free(&m);
    fwd_scratch_free(&sc);
    batch_release(b);
}

static void test_digest(void **state)
{
    /* sha512("abc") */
    const void *parts[] = {"a", "bc"};
    size_t lens[] = {1, 2};
    char hex[129];
    fwd_sha512_hex(hex, parts, lens, 2);
    assert_string_equal(hex, "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

static void test_http_bodies(void **state)
{
    sl_batch *b = batch_new(8);
    sl_arena a;
    arena_init(&a, 4096);
    sl_buf j = SL_BUF_INIT;
    char err[256];
    const char *arr = "[{\"message\":\"a\",\"x\":1.5},{\"log\":\"b\",\"o\":{\"k\":[1]}}]";
    assert_int_equal(http_body_parse(b, HTTP_BODY_JSON, arr, strlen(arr), SL_STR("t"), SL_STR(""),
                                     1, &a, &j, err, sizeof err), SL_OK);
    assert_int_equal(b->n, 2);
    assert_memory_equal(b->events[1].message.ptr, "b", 1);
    assert_int_equal(field(&b->events[1], "o")->type, SL_VAL_JSON);
    const char *nd = "{\"message\":\"c\"}\n\n{\"message\":\"d\"}\n";
    assert_int_equal(http_body_parse(b, HTTP_BODY_JSON, nd, strlen(nd), SL_STR("t"), SL_STR(""),
                                     1, &a, &j, err, sizeof err), SL_OK);
    assert_int_equal(b->n, 4);
    const char *bad = "{\"message\":\"e\"}\n{\"message\":\n";
    assert_int_equal(http_body_parse(b, HTTP_BODY_NDJSON, bad, strlen(bad), SL_STR("t"), SL_STR(""),
                                     1, &a, &j, err, sizeof err), SL_ERR_CORRUPT);
    assert_int_equal(b->n, 4);
    assert_non_null(strstr(err, "line 2"));
    assert_int_equal(http_body_kind_of("application/json; charset=utf-8", 31), HTTP_BODY_JSON);
    assert_int_equal(http_body_kind_of("application/x-ndjson", 20), HTTP_BODY_NDJSON);
    assert_int_equal(http_body_kind_of("application/msgpack", 19), HTTP_BODY_MSGPACK);
    assert_int_equal(http_body_kind_of("image/png", 9), -1);
    arena_free(&a);
    buf_free(&j);
    batch_release(b);
}

static void test_route_patterns(void **state)
{
    struct {
        const char *pat, *tag;
        bool want;
    } cases[] = {
        {"a", "a", true},          {"a", "b", false},         {"a.*", "a.b", true},
        {"a.*", "a", false},       {"a.*", "a.b.c", false},   {"a.**", "a", true},
        {"a.**", "a.b.c", true},   {"a.**", "ab", false},     {"**", "x.y", true},
        {"**.z", "z", true},       {"**.z", "x.y.z", true},   {"**.z", "x.y", false},
        {"a.*.c", "a.b.c", true},  {"a.*.c", "a.c", false},   {"a.b*", "a.bcd", true},
        {"{a,b}.x", "b.x", true},  {"{a,b}.x", "c.x", false}, {"a.{x,y.**}", "a.y.z", true},
        {"fwd.app.**", "fwd.app", true}, {"fwd.app.**", "fwd.application", false},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        bool got = route_tag_match(cases[i].pat, cases[i].tag, strlen(cases[i].tag));
        if (got != cases[i].want)
            fail_msg("pattern %s vs tag %s: got %d", cases[i].pat, cases[i].tag, got);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msgpack_round_trip), cmocka_unit_test(test_msgpack_bounds),
        cmocka_unit_test(test_time_before_epoch),
        cmocka_unit_test(test_modes),              cmocka_unit_test(test_errors),
        cmocka_unit_test(test_digest),             cmocka_unit_test(test_http_bodies),
        cmocka_unit_test(test_route_patterns),     cmocka_unit_test(test_size_option),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
