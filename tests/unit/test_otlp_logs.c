/* test_otlp_logs.c - the OTLP logs request decoder: every field of the log data model from
 * protobuf and from OTLP JSON, refusals (truncation at every byte, wrong wire types, bad ids,
 * nesting), partial success over max_record_bytes, stable ids, the answers, and the round
 * trip decoder -> otlp sink encoder -> decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/otlp_logs.h"
#include "sinks/otlp/otlp.h"

/* ---- a tiny protobuf writer for the test inputs ---- */
static void varint(sl_buf *b, uint64_t v)
{
    while (v >= 0x80) {
        buf_putc(b, (char)(v | 0x80));
        v >>= 7;
    }
    buf_putc(b, (char)v);
}
static void tag(sl_buf *b, unsigned f, unsigned wt) { varint(b, (uint64_t)f << 3 | wt); }
static void ld(sl_buf *b, unsigned f, const void *p, size_t n)
{
    tag(b, f, 2);
    varint(b, n);
    buf_append(b, p, n);
}
static void lds(sl_buf *b, unsigned f, const char *s) { ld(b, f, s, strlen(s)); }
static void ldb(sl_buf *b, unsigned f, const sl_buf *m) { ld(b, f, m->p ? m->p : "", m->len); }
static void fixed(sl_buf *b, unsigned f, uint64_t v, int w)
{
    tag(b, f, w == 8 ? 1 : 5);
    for (int i = 0; i < w; i++)
        buf_putc(b, (char)(v >> (8 * i)));
}
static void kv_str(sl_buf *b, unsigned f, const char *k, const char *v)
{
    sl_buf kv = SL_BUF_INIT, av = SL_BUF_INIT;
    lds(&av, 1, v);
    lds(&kv, 1, k);
    ldb(&kv, 2, &av);
    ldb(b, f, &kv);
    buf_free(&kv);
    buf_free(&av);
}
static void kv_any(sl_buf *b, unsigned f, const char *k, const sl_buf *av)
{
    sl_buf kv = SL_BUF_INIT;
    lds(&kv, 1, k);
    ldb(&kv, 2, av);
    ldb(b, f, &kv);
    buf_free(&kv);
}

/* A request with one resource, one scope and `n` records carrying every field. */
static void build_request(sl_buf *out, int n)
{
    sl_buf res = SL_BUF_INIT, scope = SL_BUF_INIT, sl = SL_BUF_INIT, rl = SL_BUF_INIT;
    kv_str(&res, 1, "service.name", "checkout");
    tag(&res, 2, 0), varint(&res, 0);
    lds(&scope, 1, "io.example");
    lds(&scope, 2, "1.0");
    kv_str(&scope, 3, "lib", "x");
    ldb(&sl, 1, &scope);
    for (int i = 0; i < n; i++) {
        sl_buf r = SL_BUF_INIT, body = SL_BUF_INIT, av = SL_BUF_INIT, arr = SL_BUF_INIT,
               el = SL_BUF_INIT;
        fixed(&r, 1, 1700000000000000000ULL + (uint64_t)i, 8);
        fixed(&r, 11, 1700000000500000000ULL, 8);
        tag(&r, 2, 0), varint(&r, 14);
        lds(&r, 3, "Warning");
        char msg[32];
        snprintf(msg, sizeof msg, "hello %d", i);
        lds(&body, 1, msg);
        ldb(&r, 5, &body);
        kv_str(&r, 6, "user", "ann");
        tag(&av, 3, 0), varint(&av, (uint64_t)-5); /* int -5 */
        kv_any(&r, 6, "neg", &av);
        buf_reset(&av);
        fixed(&av, 4, 0x3FF8000000000000ULL, 8); /* 1.5 */
        kv_any(&r, 6, "d", &av);
        buf_reset(&av);
        tag(&av, 2, 0), varint(&av, 1);
        kv_any(&r, 6, "b", &av);
        buf_reset(&av);
        ld(&av, 7, "\x00\x01\x02", 3);
        kv_any(&r, 6, "raw", &av);
        buf_reset(&av);
        tag(&el, 3, 0), varint(&el, 1);
        ldb(&arr, 1, &el);
        buf_reset(&el);
        lds(&el, 1, "two");
        ldb(&arr, 1, &el);
        ldb(&av, 5, &arr);
        kv_any(&r, 6, "list", &av);
        tag(&r, 7, 0), varint(&r, 2);
        fixed(&r, 8, 1, 4);
        ld(&r, 9, "\x5b\x8e\xff\xf7\x98\x03\x81\x03\xd2\x69\xb6\x33\x81\x3f\xc6\x0c", 16);
        ld(&r, 10, "\xee\xe1\x9b\x7e\xc3\xc1\xb1\x74", 8);
        lds(&r, 12, "app.start");
        lds(&r, 99, "unknown fields are skipped");
        ldb(&sl, 2, &r);
        buf_free(&r), buf_free(&body), buf_free(&av), buf_free(&arr), buf_free(&el);
    }
    ldb(&rl, 1, &res);
    ldb(&rl, 2, &sl);
    ldb(out, 1, &rl);
    buf_free(&res), buf_free(&scope), buf_free(&sl), buf_free(&rl);
}

static const sl_field *get(const sl_event *e, const char *k)
{
    const sl_field *f = event_get(e, k, strlen(k));
    if (!f)
        print_error("no field %s\n", k);
    assert_non_null(f);
    return f;
}

static void assert_str(const sl_event *e, const char *k, const char *v)
{
    const sl_field *f = get(e, k);
    assert_int_equal(f->type, SL_VAL_STR);
    assert_int_equal(f->v.s.len, strlen(v));
    assert_memory_equal(f->v.s.ptr, v, f->v.s.len);
}

static void assert_int_field(const sl_event *e, const char *k, int64_t v)
{
    const sl_field *f = get(e, k);
    assert_int_equal(f->type, SL_VAL_INT);
    assert_int_equal(f->v.i, v);
}

static void check_event(const sl_event *e, int i)
{
    char msg[32];
    snprintf(msg, sizeof msg, "hello %d", i);
    assert_int_equal(e->message.len, strlen(msg));
    assert_memory_equal(e->message.ptr, msg, e->message.len);
    assert_int_equal(e->ts_ns, 1700000000000000000LL + i);
    assert_str(e, "service.name", "checkout");
    assert_str(e, "otel.scope.name", "io.example");
    assert_str(e, "otel.scope.version", "1.0");
    assert_str(e, "otel.scope.attributes.lib", "x");
    assert_str(e, "user", "ann");
    assert_int_field(e, "neg", -5);
    assert_int_equal(get(e, "d")->type, SL_VAL_FLOAT);
    assert_true(get(e, "d")->v.f == 1.5);
    assert_int_equal(get(e, "b")->type, SL_VAL_BOOL);
    assert_true(get(e, "b")->v.b);
    assert_str(e, "raw", "AAEC");
    const sl_field *l = get(e, "list");
    assert_int_equal(l->type, SL_VAL_JSON);
    assert_int_equal(l->v.s.len, 9);
    assert_memory_equal(l->v.s.ptr, "[1,\"two\"]", 9);
    assert_int_field(e, "trace_flags", 1);
    assert_str(e, "trace_id", "5b8efff798038103d269b633813fc60c");
    assert_str(e, "span_id", "eee19b7ec3c1b174");
    assert_str(e, "event.name", "app.start");
    assert_str(e, "severity", "Warning");
    assert_int_field(e, "severity_number", 14);
    assert_int_field(e, "observed_time_unix_nano", 1700000000500000000LL);
    assert_int_equal(e->id_seq, (uint64_t)i);
}

static int decode(sl_batch *b, const void *p, size_t n, bool json, size_t maxrec,
                  otlp_logs_result *r, char *err, size_t errlen)
{
    sl_arena a;
    arena_init(&a, 4096);
    otlp_logs_opts o = {.max_record_bytes = maxrec, .now_ns = 42, .id_stream = 7};
    int rc = otlp_logs_decode(b, p, n, json, &a, &o, r, err, errlen);
    arena_free(&a);
    return rc;
}

static void test_protobuf_fields(void **state)
{
    sl_buf req = SL_BUF_INIT;
    build_request(&req, 3);
    sl_batch *b = batch_new(4);
    otlp_logs_result r;
    char err[256];
    assert_int_equal(decode(b, req.p, req.len, false, 0, &r, err, sizeof err), SL_OK);
    assert_int_equal(b->n, 3);
    assert_int_equal(r.records, 3);
    assert_int_equal(r.rejected, 0);
    for (int i = 0; i < 3; i++) {
        check_event(&b->events[i], i);
        assert_int_equal(b->events[i].id_stream, 7);
    }
    batch_release(b);
    buf_free(&req);
}

static const char json_req[] =
    "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
    "{\"stringValue\":\"checkout\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"io.example\","
    "\"version\":\"1.0\",\"attributes\":[{\"key\":\"lib\",\"value\":{\"stringValue\":\"x\"}}]},"
    "\"logRecords\":[{\"timeUnixNano\":\"1700000000000000000\",\"observed_time_unix_nano\":"
    "1700000000500000000,\"severityNumber\":14,\"severityText\":\"Warning\",\"body\":"
    "{\"stringValue\":\"hello 0\"},\"attributes\":[{\"key\":\"user\",\"value\":{\"stringValue\":"
    "\"ann\"}},{\"key\":\"neg\",\"value\":{\"intValue\":-5}},{\"key\":\"d\",\"value\":"
    "{\"doubleValue\":1.5}},{\"key\":\"b\",\"value\":{\"boolValue\":true}},{\"key\":\"raw\","
    "\"value\":{\"bytesValue\":\"AAEC\"}},{\"key\":\"list\",\"value\":{\"arrayValue\":{\"values\":"
    "[{\"intValue\":\"1\"},{\"stringValue\":\"two\"}]}}}],\"droppedAttributesCount\":2,"
    "\"flags\":1,\"traceId\":\"5B8EFFF798038103D269B633813FC60C\",\"spanId\":\"eee19b7ec3c1b174\","
    "\"eventName\":\"app.start\",\"futureField\":{\"x\":1}}]}]}]}";

static void test_json_fields(void **state)
{
    sl_batch *b = batch_new(4);
    otlp_logs_result r;
    char err[256];
    int rc = decode(b, json_req, strlen(json_req), true, 0, &r, err, sizeof err);
    if (rc != SL_OK)
        print_error("%s\n", err);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(b->n, 1);
    check_event(&b->events[0], 0);
    batch_release(b);
}

static void test_body_kinds_and_defaults(void **state)
{
    /* a kvlist body, no times (now), only a severity number, zero ids (absent) */
    const char *j = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"severityNumber\":9,"
                    "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"a\",\"value\":{\"kvlistValue\":"
                    "{\"values\":[{\"key\":\"b\",\"value\":{\"doubleValue\":\"NaN\"}}]}}}]}},"
                    "\"traceId\":\"00000000000000000000000000000000\",\"spanId\":\"\"},"
                    "{\"body\":{\"intValue\":\"9007199254740993\"},"
                    "\"severityNumber\":\"SEVERITY_NUMBER_ERROR3\"},{}]}]}]}";
    sl_batch *b = batch_new(4);
    otlp_logs_result r;
    char err[256];
    assert_int_equal(decode(b, j, strlen(j), true, 0, &r, err, sizeof err), SL_OK);
    assert_int_equal(b->n, 3);
    const sl_event *e = &b->events[0];
    assert_int_equal(e->ts_ns, 42);
    assert_int_equal(e->message.len, 0);
    const sl_field *body = get(e, "body");
    assert_int_equal(body->type, SL_VAL_JSON);
    assert_memory_equal(body->v.s.ptr, "{\"a\":{\"b\":\"NaN\"}}", body->v.s.len);
    assert_str(e, "severity", "INFO");
    assert_null(event_get(e, "trace_id", 8));
    assert_null(event_get(e, "span_id", 7));
    assert_int_field(&b->events[1], "body", 9007199254740993LL);
    assert_int_field(&b->events[1], "severity_number", 19); /* an enum by name */
    assert_str(&b->events[1], "severity", "ERROR");
    assert_int_equal(b->events[2].nfields, 0);
    batch_release(b);
}

/* Every strict prefix of a request either decodes (it ends on a field boundary of the outer
 * message) or is refused with a message; never anything else. */
static void test_truncated(void **state)
{
    sl_buf req = SL_BUF_INIT;
    build_request(&req, 2);
    char err[256];
    size_t refused = 0;
    for (size_t n = 1; n < req.len; n++) {
        sl_batch *b = batch_new(4);
        otlp_logs_result r;
        err[0] = '\0';
        int rc = decode(b, req.p, n, false, 0, &r, err, sizeof err);
        assert_true(rc == SL_OK || rc == SL_ERR_CORRUPT);
        if (rc != SL_OK) {
            assert_true(err[0] != '\0');
            refused++;
        }
        batch_release(b);
    }
    assert_true(refused == req.len - 1); /* one ResourceLogs: every prefix cuts it */
    /* the messages name where */
    sl_batch *b = batch_new(1);
    otlp_logs_result r;
    assert_int_equal(decode(b, "\x0a\x05\x12\x03", 4, false, 0, &r, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "past the end"));
    assert_int_equal(decode(b, "\x0a", 1, false, 0, &r, err, sizeof err), SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "truncated length"));
    assert_int_equal(decode(b, "\x0a\x02\x08\x80", 4, false, 0, &r, err, sizeof err),
                     SL_ERR_CORRUPT);
    assert_non_null(strstr(err, "truncated varint"));
    batch_release(b);
    buf_free(&req);
}

static void expect_refused(const void *p, size_t n, bool json, const char *needle)
{
    sl_batch *b = batch_new(1);
    otlp_logs_result r;
    char err[256] = "";
    int rc = decode(b, p, n, json, 0, &r, err, sizeof err);
    if (rc != SL_ERR_CORRUPT || !strstr(err, needle))
        print_error("rc %d err '%s', want '%s'\n", rc, err, needle);
    assert_int_equal(rc, SL_ERR_CORRUPT);
    assert_non_null(strstr(err, needle));
    batch_release(b);
}

static void test_wire_types(void **state)
{
    /* resource_logs as varint */
    expect_refused("\x08\x01", 2, false, "resource_logs (field 1): wire type 0, want 2");
    /* a group */
    expect_refused("\x0b", 1, false, "wire type 3 not supported");
    /* LogRecord.time_unix_nano as varint: ResourceLogs{ScopeLogs{LogRecord{1:varint}}} */
    expect_refused("\x0a\x06\x12\x04\x12\x02\x08\x01", 8, false, "time_unix_nano");
    /* trace_id of 3 bytes */
    expect_refused("\x0a\x09\x12\x07\x12\x05\x4a\x03\x01\x02\x03", 11, false,
                   "trace_id: 3 bytes, want 16");
    /* AnyValue.string_value as varint inside the body */
    expect_refused("\x0a\x08\x12\x06\x12\x04\x2a\x02\x08\x01", 10, false, "AnyValue field 1");
    /* field number 0 */
    expect_refused("\x02\x00", 2, false, "bad field number");
    /* JSON refusals */
    expect_refused("{\"resourceLogs\":{}}", 19, true, "want an array");
    const char *j1 = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"spanId\":\"xyz\"}]}]}]}";
    expect_refused(j1, strlen(j1), true, "spanId");
    const char *j2 = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"-1\"}]}]}]}";
    expect_refused(j2, strlen(j2), true, "timeUnixNano");
    const char *j3 = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"intValue\":1.5}}]}]}]}";
    expect_refused(j3, strlen(j3), true, "intValue");
    expect_refused("{\"resourceLogs\":[", 17, true, "bad JSON");
}

static void test_depth(void **state)
{
    /* 40 nested arrays in a body: refused past 32 */
    sl_buf inner = SL_BUF_INIT, tmp = SL_BUF_INIT;
    lds(&inner, 1, "deep");
    for (int i = 0; i < 40; i++) {
        buf_reset(&tmp);
        ldb(&tmp, 1, &inner); /* ArrayValue.values */
        buf_reset(&inner);
        ldb(&inner, 5, &tmp); /* AnyValue.array_value */
    }
    sl_buf rec = SL_BUF_INIT, sl = SL_BUF_INIT, rl = SL_BUF_INIT, req = SL_BUF_INIT;
    ldb(&rec, 5, &inner);
    ldb(&sl, 2, &rec);
    ldb(&rl, 2, &sl);
    ldb(&req, 1, &rl);
    expect_refused(req.p, req.len, false, "nested deeper than 32");
    buf_free(&inner), buf_free(&tmp), buf_free(&rec), buf_free(&sl), buf_free(&rl), buf_free(&req);
}

static void test_partial_and_ids(void **state)
{
    sl_buf req = SL_BUF_INIT;
    build_request(&req, 3);
    sl_batch *b = batch_new(4);
    otlp_logs_result r;
    char err[256];
    /* every record is ~200 bytes: a limit of 100 refuses all, ids keep their indexes */
    assert_int_equal(decode(b, req.p, req.len, false, 100, &r, err, sizeof err), SL_OK);
    assert_int_equal(b->n, 0);
    assert_int_equal(r.rejected, 3);
    assert_non_null(strstr(r.reject_msg, "max_record_bytes"));
    batch_release(b);
    /* the hash of the same bytes is the same, of other bytes other */
    assert_true(otlp_logs_hash(req.p, req.len) == otlp_logs_hash(req.p, req.len));
    assert_true(otlp_logs_hash(req.p, req.len) != otlp_logs_hash(req.p, req.len - 1));
    buf_free(&req);
}

static void test_answers(void **state)
{
    sl_buf out = SL_BUF_INIT;
    int64_t rej;
    char msg[64];
    otlp_logs_response(&out, false, 0, "");
    assert_int_equal(out.len, 0);
    otlp_logs_response(&out, false, 2, "too big");
    assert_int_equal(otlp_parse_response(out.p, out.len, false, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 2);
    assert_string_equal(msg, "too big");
    buf_reset(&out);
    otlp_logs_response(&out, true, 3, "x\"y");
    assert_int_equal(otlp_parse_response(out.p, out.len, true, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 3);
    assert_string_equal(msg, "x\"y");
    buf_reset(&out);
    otlp_logs_status(&out, false, 3, "bad");
    assert_int_equal(out.len, 7);
    assert_memory_equal(out.p, "\x08\x03\x12\x03" "bad", 7);
    buf_reset(&out);
    otlp_logs_status(&out, true, 8, "full");
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "{\"code\":8,\"message\":\"full\"}");
    buf_free(&out);
}

/* decoder -> the otlp sink's encoder (both encodings) -> decoder: the same fields. */
static void test_round_trip(void **state)
{
    sl_buf req = SL_BUF_INIT;
    build_request(&req, 2);
    sl_batch *b = batch_new(4);
    otlp_logs_result r;
    char err[256];
    assert_int_equal(decode(b, req.p, req.len, false, 0, &r, err, sizeof err), SL_OK);
    for (int json = 0; json < 2; json++) {
        sl_event *evs[2] = {&b->events[0], &b->events[1]};
        otlp_map m = {.body_field = "body"};
        sl_buf enc = SL_BUF_INIT;
        otlp_encode(&enc, json, evs, 2, &m, 1);
        sl_batch *b2 = batch_new(4);
        int rc = decode(b2, enc.p, enc.len, json, 0, &r, err, sizeof err);
        if (rc != SL_OK)
            print_error("%s\n", err);
        assert_int_equal(rc, SL_OK);
        assert_int_equal(b2->n, 2);
        for (int i = 0; i < 2; i++) {
            check_event(&b2->events[i], i);
            assert_int_equal(b2->events[i].nfields, b->events[i].nfields);
        }
        batch_release(b2);
        buf_free(&enc);
    }
    batch_release(b);
    buf_free(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protobuf_fields),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_body_kinds_and_defaults),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_wire_types),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_partial_and_ids),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
