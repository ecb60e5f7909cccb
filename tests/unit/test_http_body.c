/* test_http_body.c - the http source's bodies as Fluent Bit's out_http sends them, per
 * format: msgpack chunks ([[EventTime, metadata], record] entries with group markers, and
 * the older [time, record]), json (an array with a `date` double), json_stream (objects
 * back to back), json_lines, every json_date_format, `__internal__` metadata, and the
 * time key turned off or not reading as a time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/event.h"
#include "formats/http_body.h"
#include "formats/msgpack.h"

#define NOW 42 /* the receive time handed to the parser */

static sl_arena scratch;
static sl_buf jbuf;
static char err[256];

static int parse(sl_batch *b, http_body_kind kind, const char *p, size_t n, const char *time_key)
{
    return http_body_parse(b, kind, p, n, SL_STR("fb"), (sl_str){time_key, (uint32_t)strlen(time_key)},
                           NOW, &scratch, &jbuf, err, sizeof err);
}

static const sl_field *field(const sl_event *e, const char *key)
{
    for (uint32_t i = 0; i < e->nfields; i++)
        if (e->fields[i].key.len == strlen(key) && memcmp(e->fields[i].key.ptr, key, e->fields[i].key.len) == 0)
            return &e->fields[i];
    return NULL;
}

static void assert_msg(const sl_event *e, const char *m)
{
    assert_int_equal(e->message.len, strlen(m));
    assert_memory_equal(e->message.ptr, m, strlen(m));
}

/* EventTime with raw seconds (Fluent Bit writes group markers as seconds -1 and -2). */
static void put_et(sl_buf *b, uint32_t sec, uint32_t nsec)
{
    unsigned char h[10] = {0xd7, 0x00, (unsigned char)(sec >> 24), (unsigned char)(sec >> 16),
                           (unsigned char)(sec >> 8), (unsigned char)sec,
                           (unsigned char)(nsec >> 24), (unsigned char)(nsec >> 16),
                           (unsigned char)(nsec >> 8), (unsigned char)nsec};
    buf_append(b, h, sizeof h);
}

/* Fluent Bit >= 2.1 chunk: [[EventTime, {}], {"log": ..., "n": i}] entries, a group of
 * two records with metadata between markers, as format msgpack posts it raw. */
static void test_fluentbit_msgpack(void **state)
{
    (void)state;
    sl_buf m = SL_BUF_INIT;
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    put_et(&m, 1733300000, 123456789);
    mp_put_map(&m, 0);
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "log");
    mp_put_cstr(&m, "first line");
    mp_put_cstr(&m, "date");
    mp_put_cstr(&m, "a record field, not the time");
    /* group start: metadata and attributes of the group, not an event */
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    put_et(&m, 0xffffffffu, 0);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "schema");
    mp_put_cstr(&m, "otlp");
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "resource");
    mp_put_map(&m, 0);
    /* a record with metadata */
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    put_et(&m, 1733300001, 5);
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "otlp");
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "severity_number");
    mp_put_int(&m, 9);
    mp_put_cstr(&m, "k");
    mp_put_int(&m, 7);
    mp_put_map(&m, 2);
    mp_put_cstr(&m, "message");
    mp_put_cstr(&m, "second");
    mp_put_cstr(&m, "log");
    mp_put_cstr(&m, "kept aside");
    /* group end */
    mp_put_array(&m, 2);
    mp_put_array(&m, 2);
    put_et(&m, 0xfffffffeu, 0);
    mp_put_nil(&m);
    mp_put_map(&m, 0);
    /* Fluent Bit < 2.1 and Fluentd: [time, record], time as EventTime, integer or float */
    mp_put_array(&m, 2);
    mp_put_event_time(&m, 1733300002000000007LL);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "log");
    mp_put_cstr(&m, "third");
    mp_put_array(&m, 2);
    mp_put_int(&m, 1733300003);
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "log");
    mp_put_cstr(&m, "fourth");
    mp_put_array(&m, 2);
    mp_put_double(&m, 1733300004.5);
    mp_put_map(&m, 0);
    /* and plain maps still work, alone or in an array */
    mp_put_map(&m, 1);
    mp_put_cstr(&m, "message");
    mp_put_cstr(&m, "plain");
    mp_put_array(&m, 2);
    mp_put_map(&m, 0);
    mp_put_map(&m, 0);

    sl_batch *b = batch_new(8);
    assert_int_equal(parse(b, HTTP_BODY_MSGPACK, m.p, m.len, "date"), SL_OK);
    assert_int_equal(b->n, 8);
    sl_event *e = b->events;
    assert_int_equal(e[0].ts_ns, 1733300000123456789LL);
    assert_msg(&e[0], "first line");
    assert_non_null(field(&e[0], "date")); /* the entry's time wins: date stays a field */
    assert_null(field(&e[0], "fluentbit.metadata.schema"));
    assert_int_equal(e[1].ts_ns, 1733300001000000005LL);
    assert_msg(&e[1], "second");
    assert_non_null(field(&e[1], "log"));
    const sl_field *f = field(&e[1], "fluentbit.metadata.otlp");
    assert_non_null(f);
    assert_int_equal(f->type, SL_VAL_JSON);
    assert_memory_equal(f->v.s.ptr, "{\"severity_number\":9}", f->v.s.len);
    f = field(&e[1], "fluentbit.metadata.k");
    assert_true(f && f->type == SL_VAL_INT && f->v.i == 7);
    assert_int_equal(e[2].ts_ns, 1733300002000000007LL);
    assert_msg(&e[2], "third");
    assert_int_equal(e[3].ts_ns, 1733300003000000000LL);
    assert_int_equal(e[4].ts_ns, 1733300004500000000LL);
    assert_msg(&e[5], "plain");
    assert_int_equal(e[5].ts_ns, NOW);
    assert_int_equal(e[7].ts_ns, NOW);
    for (int i = 0; i < 8; i++)
        assert_non_null(field(&e[i], "tag"));
    batch_release(b);

    /* malformed entries are refused whole */
    const char *bad[] = {
        "\x92\xa1x\x80",                   /* [str, {}] */
        "\x92\x92\x01\x80",                /* [[1, {}]] is not [[time, meta], record] */
        "\x92\x92\x01\x01\x80",            /* metadata not a map */
        "\x92\xd7\x00\x00\x00\x00\x01\x3b\x9a\xca\x00\x80", /* nanoseconds >= 1e9 */
        "\x92\x01\x01",                    /* record not a map */
    };
    size_t lens[] = {4, 4, 5, 12, 3};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        b = batch_new(2);
        assert_int_equal(parse(b, HTTP_BODY_MSGPACK, bad[i], lens[i], "date"), SL_ERR_CORRUPT);
        assert_int_equal(b->n, 0);
        batch_release(b);
    }
    buf_free(&m);
}

/* format json: an array, the date key first as a double (json_date_format double). */
static void test_fluentbit_json(void **state)
{
    (void)state;
    const char *body = "[{\"date\":1733300000.123456789,\"log\":\"a\"},"
                       "{\"date\":1733300001.5,\"log\":\"b\",\"__internal__\":{\"log_metadata\":"
                       "{\"k\":\"v\"},\"group_attributes\":{\"g\":1}}}]";
    sl_batch *b = batch_new(4);
    assert_int_equal(parse(b, HTTP_BODY_JSON, body, strlen(body), "date"), SL_OK);
    assert_int_equal(b->n, 2);
    assert_int_equal(b->events[0].ts_ns, 1733300000123456789LL);
    assert_null(field(&b->events[0], "date"));
    assert_msg(&b->events[0], "a");
    assert_int_equal(b->events[1].ts_ns, 1733300001500000000LL);
    const sl_field *f = field(&b->events[1], "fluentbit.metadata.k");
    assert_true(f && f->type == SL_VAL_STR && f->v.s.len == 1);
    f = field(&b->events[1], "fluentbit.group_attributes");
    assert_true(f && f->type == SL_VAL_JSON);
    assert_null(field(&b->events[1], "__internal__"));
    batch_release(b);
}

/* format json_stream: objects back to back, no separator, Content-Type application/json;
 * and a stream that breaks later says where. */
static void test_json_stream(void **state)
{
    (void)state;
    const char *body = "{\"date\":1733300000,\"log\":\"a\"}{\"date\":1733300001,\"log\":\"b\"}"
                       " {\"log\":\"c\"}\n[{\"log\":\"d\"}]";
    sl_batch *b = batch_new(4);
    assert_int_equal(parse(b, HTTP_BODY_JSON, body, strlen(body), "date"), SL_OK);
    assert_int_equal(b->n, 4);
    assert_int_equal(b->events[1].ts_ns, 1733300001000000000LL);
    assert_int_equal(b->events[2].ts_ns, NOW);
    assert_msg(&b->events[3], "d");
    const char *broken = "{\"log\":\"a\"}\n{\"log\":\"b\"}{\"log\":\n";
    assert_int_equal(parse(b, HTTP_BODY_JSON, broken, strlen(broken), "date"), SL_ERR_CORRUPT);
    assert_int_equal(b->n, 4);
    assert_non_null(strstr(err, "line 2 (body byte 23)"));
    batch_release(b);
}

/* format json_lines with every json_date_format Fluent Bit has, the key renamed
 * (json_date_key), and values that are no time. */
static void test_date_formats(void **state)
{
    (void)state;
    const char *body =
        "{\"ts\":\"2018-05-30T09:39:52.000681Z\",\"log\":\"iso8601\"}\n"
        "{\"ts\":\"2018-05-30 09:39:52.000681\",\"log\":\"java_sql_timestamp\"}\n"
        "{\"ts\":1527673192,\"log\":\"epoch\"}\n"
        "{\"ts\":1527673192000,\"log\":\"epoch_ms\"}\n"
        "{\"ts\":1527673192.000681,\"log\":\"double\"}\n"
        "{\"ts\":\"tomorrow\",\"log\":\"no time\"}\n"
        "{\"ts\":-5,\"log\":\"negative\"}\n"
        "{\"ts\":1527673192,\"ts\":7,\"log\":\"twice\"}\n";
    sl_batch *b = batch_new(8);
    assert_int_equal(parse(b, HTTP_BODY_NDJSON, body, strlen(body), "ts"), SL_OK);
    assert_int_equal(b->n, 8);
    int64_t want[] = {1527673192000681000LL, 1527673192000681000LL, 1527673192000000000LL,
                      1527673192000000000LL, 1527673192000681000LL, NOW, NOW,
                      1527673192000000000LL};
    for (int i = 0; i < 8; i++)
        assert_int_equal(b->events[i].ts_ns, want[i]);
    for (int i = 0; i < 5; i++)
        assert_null(field(&b->events[i], "ts"));
    assert_non_null(field(&b->events[5], "ts")); /* not a time: kept as it was */
    assert_non_null(field(&b->events[6], "ts"));
    assert_non_null(field(&b->events[7], "ts")); /* the second one is a field */
    batch_release(b);

    /* time_key off: `date` is an ordinary field and the time is the receive time */
    const char *one = "{\"date\":1733300000.5,\"message\":\"x\"}";
    b = batch_new(1);
    assert_int_equal(parse(b, HTTP_BODY_JSON, one, strlen(one), ""), SL_OK);
    assert_int_equal(b->events[0].ts_ns, NOW);
    const sl_field *f = field(&b->events[0], "date");
    assert_true(f && f->type == SL_VAL_FLOAT);
    batch_release(b);
}

int main(void)
{
    arena_init(&scratch, 4096);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fluentbit_msgpack),
        cmocka_unit_test(test_fluentbit_json),
        cmocka_unit_test(test_json_stream),
        cmocka_unit_test(test_date_formats),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    arena_free(&scratch);
    buf_free(&jbuf);
    return rc;
}
