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

static void test_err_classes(void **state)
{
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_NO_ERROR), SL_ITEM_OK);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), SL_ITEM_REJECT);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION), SL_ITEM_REJECT);
    assert_int_equal(kafka_err_item_status(RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
                     SL_ITEM_REJECT);
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
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_brokers),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_err_classes),
        cmocka_unit_test(test_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
