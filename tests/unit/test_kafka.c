/* test_kafka.c - what the kafka components decide without a broker: the brokers list, the
 * connection options as librdkafka properties (and the config errors), delivery errors as
 * the runtime's outcomes, the id header and the default key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/component.h"
#include "net/kafka.h"

static void test_brokers(void **state)
{
    char err[256];
    sl_buf out = {0};
    char *one[] = {"a:9092, b:9093 ,c:1"};
    sl_strlist l = {one, 1};
    assert_int_equal(kafka_brokers_join(&l, &out, err, sizeof err), SL_OK);
    assert_string_equal(out.p, "a:9092,b:9093,c:1");
    char *two[] = {"a:1", "[::1]:2,"};
    l = (sl_strlist){two, 2};
    assert_int_equal(kafka_brokers_join(&l, &out, err, sizeof err), SL_OK);
    assert_string_equal(out.p, "a:1,[::1]:2");
    char *bad[] = {"a:1", "nohost"};
    l = (sl_strlist){bad, 2};
    assert_int_equal(kafka_brokers_join(&l, &out, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "nohost"));
    char *port[] = {"h:70000"};
    l = (sl_strlist){port, 1};
    assert_int_equal(kafka_brokers_join(&l, &out, err, sizeof err), SL_ERR_CONFIG);
    char *empty[] = {" , "};
    l = (sl_strlist){empty, 1};
    assert_int_equal(kafka_brokers_join(&l, &out, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "at least one"));
    buf_free(&out);
}

static const char *get(rd_kafka_conf_t *c, const char *name, char *v, size_t n)
{
    if (rd_kafka_conf_get(c, name, v, &n) != RD_KAFKA_CONF_OK)
        return "?";
    return v;
}

static void test_conf(void **state)
{
    char err[256], v[256];
    char *brokers[] = {"k1:9092,k2:9092"};
    char *keys[] = {"linger.ms"}, *vals[] = {"50"};
    kafka_conn_config c = {.brokers = {brokers, 1}};
    c.librdkafka = (sl_strmap){keys, vals, 1};
    c.tls.verify = true;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_OK);
    assert_string_equal(get(conf, "bootstrap.servers", v, sizeof v), "k1:9092,k2:9092");
    assert_string_equal(get(conf, "security.protocol", v, sizeof v), "plaintext");
    assert_string_equal(get(conf, "linger.ms", v, sizeof v), "50");
    rd_kafka_conf_destroy(conf);

    /* TLS + SCRAM */
    c.tls.enabled = true;
    c.sasl = (kafka_sasl_config){KAFKA_SASL_SCRAM512, "u", "p"};
    conf = rd_kafka_conf_new();
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_OK);
    assert_string_equal(get(conf, "security.protocol", v, sizeof v), "sasl_ssl");
    assert_string_equal(get(conf, "sasl.mechanisms", v, sizeof v), "SCRAM-SHA-512");
    assert_string_equal(get(conf, "sasl.username", v, sizeof v), "u");
    assert_string_equal(get(conf, "ssl.endpoint.identification.algorithm", v, sizeof v), "https");
    rd_kafka_conf_destroy(conf);

    /* errors name the option */
    c.sasl.password = NULL;
    conf = rd_kafka_conf_new();
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "sasl"));
    c.sasl = (kafka_sasl_config){KAFKA_SASL_NONE, "u", NULL};
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "without a mechanism"));
    c.sasl = (kafka_sasl_config){0};
    c.tls.server_name = "x";
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "server_name"));
    c.tls.server_name = NULL;
    c.tls.enabled = false;
    c.tls.ca_file = "/nonexistent/ca.pem";
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "tls"));
    c.tls.ca_file = NULL;
    keys[0] = "no.such.property";
    assert_int_equal(kafka_conf_apply(conf, &c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "librdkafka"));
    assert_non_null(strstr(err, "no.such.property"));
    rd_kafka_conf_destroy(conf);
}

/* The tls options offered (sluice components kafka) are the TLS client's but server_name,
 * which librdkafka cannot honour. */
static void test_tls_options(void **state)
{
    (void)state;
    size_t n = 0;
    for (const sl_option *o = kafka_tls_options; o->name; o++, n++)
        assert_string_not_equal(o->name, "server_name");
    size_t m = 0;
    for (const sl_option *o = tls_client_options; o->name; o++) {
        if (strcmp(o->name, "server_name") == 0)
            continue;
        m++;
        bool found = false;
        for (const sl_option *k = kafka_tls_options; k->name; k++)
            if (strcmp(k->name, o->name) == 0)
                found = k->offset == o->offset && k->type == o->type &&
                        ((!k->def && !o->def) || (k->def && o->def && !strcmp(k->def, o->def)));
        assert_true(found);
    }
    assert_int_equal(n, m);
}

static void test_err_classes(void **state)
{
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_NO_ERROR), SL_ITEM_OK);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), SL_ITEM_REJECT);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION), SL_ITEM_REJECT);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                     SL_ITEM_REJECT);
    /* a topic the cluster does not have, once librdkafka gave up waiting for it */
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC), SL_ITEM_REJECT);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART),
                     SL_ITEM_REJECT);
    assert_true(kafka_err_is_topic(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
    assert_true(kafka_err_is_topic(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED));
    assert_false(kafka_err_is_topic(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE));
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT), SL_ITEM_RETRY);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION),
                     SL_ITEM_RETRY);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR__TRANSPORT), SL_ITEM_RETRY);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR__QUEUE_FULL), SL_ITEM_RETRY);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR__FATAL), SL_ITEM_RETRY);
}

static void test_ids(void **state)
{
    sl_buf b = {0};
    sl_event e = {.id_stream = 0xabc, .id_seq = 42};
    kafka_format_id(&b, &e);
    assert_int_equal(b.len, KAFKA_HEX_ID_LEN);
    assert_memory_equal(b.p, "0000000000000abc000000000000002a", b.len);
    buf_reset(&b);
    kafka_format_stream_key(&b, &e);
    assert_int_equal(b.len, 16);
    assert_memory_equal(b.p, "0000000000000abc", b.len);
    e = (sl_event){.id_str = SL_STR("logs/3/1234")};
    buf_reset(&b);
    kafka_format_id(&b, &e);
    assert_memory_equal(b.p, "logs/3/1234", b.len);
    buf_reset(&b);
    kafka_format_stream_key(&b, &e);
    assert_memory_equal(b.p, "logs/3/1234", b.len);
    assert_true(kafka_event_has_id(&e));
    /* an event from a source without positions (http, stdin): no id to send */
    e = (sl_event){0};
    assert_false(kafka_event_has_id(&e));
    e.id_seq = 7;
    assert_true(kafka_event_has_id(&e));
    buf_free(&b);
}

static const char *field_str(const sl_event *e, const char *k, char *tmp, size_t n)
{
    const sl_field *f = event_get(e, k, strlen(k));
    if (!f)
        return "(none)";
    if (f->type == SL_VAL_INT)
        snprintf(tmp, n, "%lld", (long long)f->v.i);
    else
        snprintf(tmp, n, "%.*s", (int)f->v.s.len, f->v.s.ptr);
    return tmp;
}

static void test_decode(void **state)
{
    char t[64];
    fwd_scratch scr = {0};
    bool bad;
    sl_batch *b = batch_new(4);
    /* raw: the payload is the message; id topic/partition/offset */
    kafka_msg_view m = {.topic = "logs", .partition = 2, .offset = 77, .ts_ms = 1000,
                        .payload = "hello", .len = 5};
    assert_int_equal(kafka_decode(b, &m, KAFKA_DEC_RAW, &scr, &bad), 1);
    assert_false(bad);
    assert_memory_equal(b->events[0].message.ptr, "hello", 5);
    assert_memory_equal(b->events[0].id_str.ptr, "logs/2/77", b->events[0].id_str.len);
    assert_int_equal(b->events[0].ts_ns, 1000 * 1000000LL);
    assert_string_equal(field_str(&b->events[0], "kafka.topic", t, sizeof t), "logs");
    assert_string_equal(field_str(&b->events[0], "kafka.partition", t, sizeof t), "2");
    assert_string_equal(field_str(&b->events[0], "kafka.offset", t, sizeof t), "77");
    /* json: sluice's JSON back to the event; the id header wins */
    const char *js = "{\"timestamp\":\"2026-01-02T03:04:05Z\",\"message\":\"m1\",\"app\":\"a\"}";
    m.payload = js;
    m.len = strlen(js);
    m.id = "0000000000000abc000000000000002a";
    m.idlen = 32;
    assert_int_equal(kafka_decode(b, &m, KAFKA_DEC_JSON, &scr, &bad), 1);
    assert_memory_equal(b->events[1].message.ptr, "m1", 2);
    assert_string_equal(field_str(&b->events[1], "app", t, sizeof t), "a");
    assert_int_equal(b->events[1].id_str.len, 32);
    assert_memory_equal(b->events[1].id_str.ptr, m.id, 32);
    /* forward: not msgpack -> the payload kept as message, flagged */
    m.id = NULL;
    m.payload = "\xc1junk";
    m.len = 5;
    assert_int_equal(kafka_decode(b, &m, KAFKA_DEC_FORWARD, &scr, &bad), 1);
    assert_true(bad);
    assert_int_equal(b->events[2].message.len, 5);
    /* forward: ["t", [[1, {"message":"x"}], [2, {"message":"y"}]]] -> two events, /0 /1 */
    static const uint8_t fw[] = {0x92, 0xa1, 't', 0x92, 0x92, 0x01, 0x81, 0xa7, 'm', 'e', 's', 's',
                                 'a', 'g', 'e', 0xa1, 'x', 0x92, 0x02, 0x81, 0xa7, 'm', 'e', 's',
                                 's', 'a', 'g', 'e', 0xa1, 'y'};
    m.payload = fw;
    m.len = sizeof fw;
    assert_int_equal(kafka_decode(b, &m, KAFKA_DEC_FORWARD, &scr, &bad), 2);
    assert_false(bad);
    assert_memory_equal(b->events[3].message.ptr, "x", 1);
    assert_memory_equal(b->events[4].id_str.ptr, "logs/2/77/1", b->events[4].id_str.len);
    batch_release(b);
    fwd_scratch_free(&scr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brokers),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_tls_options),
        cmocka_unit_test(test_err_classes),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_decode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
