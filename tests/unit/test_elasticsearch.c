/* test_elasticsearch.c - unit tests for the elasticsearch sink's pieces: document shape
 * (nesting, sanitising, conflicts, UTF-8, non-finite numbers), ids, index names and the
 * streaming _bulk response parser fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"
#include "net/gz.h"
#include "sinks/elasticsearch/es.h"

#define TS_2026 1795219200000000000LL /* 2026-11-21T00:00:00Z */

static char *encode(const sl_event *e, bool flatten)
{
    static sl_buf b;
    es_scratch *s = es_scratch_new();
    es_doc_opts o = {.flatten = flatten, .timestamp = true};
    buf_reset(&b);
    es_encode_doc(&b, e, &o, s);
    buf_putc(&b, '\0');
    es_scratch_free(s);
    return b.p;
}

static const char *after_message(const char *doc)
{
    const char *p = strstr(doc, "\"message\":");
    assert_non_null(p);
    p = strchr(p + 10, ',');
    return p ? p : "}";
}

/* Every document must parse as JSON. */
static void assert_json(const char *doc)
{
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    json_value *v = json_parse(&a, doc, strlen(doc), err, sizeof err);
    if (!v)
        fail_msg("invalid JSON (%s): %s", err, doc);
    arena_free(&a);
}

static void test_nested_and_sorted(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->ts_ns = TS_2026 + 5;
    e->message = batch_str(b, "hi", 2);
    event_set_str(b, e, "kubernetes.pod_name", "p1", 2);
    event_set_str(b, e, "level", "info", 4);
    event_set_str(b, e, "kubernetes.labels.app", "web", 3);
    event_set_str(b, e, "kubernetes.namespace", "ns", 2);
    event_set_int(b, e, "kubernetes.labels.tier-x", 3);
    const char *d = encode(e, false);
    assert_json(d);
    assert_string_equal(after_message(d),
                        ",\"kubernetes\":{\"labels\":{\"app\":\"web\",\"tier-x\":3},"
                        "\"namespace\":\"ns\",\"pod_name\":\"p1\"},\"level\":\"info\"}");
    assert_non_null(strstr(d, "\"@timestamp\":\"2026-11-21T00:00:00.000000005Z\""));
    event_set_str(b, e, "kubernetes_labels_app", "clash", 5);
    d = encode(e, true);
    assert_json(d);
    /* flattened keys that collide are written once, the first in key order */
    const char *fk = strstr(d, "\"kubernetes_labels_app\":");
    assert_non_null(fk);
    assert_null(strstr(fk + 1, "\"kubernetes_labels_app\":"));
    batch_release(b);
}

static void test_sanitise_and_conflicts(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "m", 1);
    event_set_str(b, e, "", "empty", 5);
    event_set_str(b, e, ".lead.trail.", "x", 1);
    event_set_str(b, e, "a", "scalar", 6);
    event_set_str(b, e, "a.b", "child", 5);
    for (int k = 0; k < 2; k++) { /* two fields with one key: the first one wins */
        sl_field *df = event_add_field(b, e, "dup", 3);
        df->type = SL_VAL_STR;
        df->v.s = k ? SL_STR("second") : SL_STR("first");
    }
    event_set_str(b, e, "message", "shadow", 6);
    char longkey[401];
    memset(longkey, 'k', 400);
    longkey[400] = '\0';
    event_set_str(b, e, longkey, "v", 1);
    sl_field *f = event_add_field(b, e, "nan", 3);
    f->type = SL_VAL_FLOAT;
    f->v.f = NAN;
    event_set_str(b, e, "bad\xff", "x\xc3", 2);
    const char *d = encode(e, false);
    assert_json(d);
    assert_non_null(strstr(d, "\"_empty\":\"empty\""));
    assert_non_null(strstr(d, "\"lead\":{\"trail\":\"x\"}"));
    assert_non_null(strstr(d, "\"a\":{\"value\":\"scalar\",\"b\":\"child\"}"));
    const char *dp = strstr(d, "\"dup\":");
    assert_non_null(dp);
    assert_null(strstr(dp + 1, "\"dup\":")); /* one key, never two */
    assert_non_null(strstr(d, "\"_message\":\"shadow\""));
    assert_non_null(strstr(d, "\"nan\":null"));
    assert_non_null(strstr(d, "\"bad\xef\xbf\xbd\":\"x\xef\xbf\xbd\""));
    char want[300];
    memset(want, 'k', 255);
    want[255] = '\0';
    char pat[320];
    snprintf(pat, sizeof pat, "\"%s\":\"v\"", want);
    assert_non_null(strstr(d, pat));
    batch_release(b);
}

static void test_json_field_merged(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "m", 1);
    const char *j = "{\"user\":{\"id\":7,\"name\":\"x\"},\"tags\":[1,2],\"ratio\":0.5,\"k.\":true}";
    sl_field *f = event_add_field(b, e, "app", 3);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, j, strlen(j));
    event_set_str(b, e, "app.zone", "z", 1);
    const char *d = encode(e, false);
    assert_json(d);
    assert_string_equal(after_message(d),
                        ",\"app\":{\"k\":true,\"ratio\":0.5,\"tags\":[1,2],\"user\":{\"id\":7,"
                        "\"name\":\"x\"},\"zone\":\"z\"}}");
    batch_release(b);
}

static void test_ids_and_names(void **state)
{
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    e->ts_ns = TS_2026 + 3600LL * 1000000000LL * 13;
    e->id_stream = 0xabc;
    e->id_seq = 42;
    event_set_str(b, e, "kubernetes.namespace", "Team A/prod", 11);
    sl_buf out = SL_BUF_INIT;
    es_encode_id(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "0000000000000abc000000000000002a");
    buf_reset(&out);
    e->id_str = batch_str(b, "cw-\"1\"", 6);
    es_encode_id(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "cw-\\\"1\\\"");

    es_name_tmpl t;
    char err[200];
    assert_int_equal(es_name_compile(&t, "logs-{{ kubernetes.namespace }}-%Y.%m.%d-%H%%", err,
                                     sizeof err), SL_OK);
    assert_true(t.dynamic);
    assert_string_equal(t.prefix, "logs-");
    buf_reset(&out);
    es_name_render(&t, e, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "logs-team_a_prod-2026.11.21-13%");
    buf_reset(&out);
    sl_event *e2 = batch_add(b);
    e2->ts_ns = TS_2026;
    es_name_render(&t, e2, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "logs-unknown-2026.11.21-00%");
    es_name_free(&t);
    assert_int_not_equal(es_name_compile(&t, "x-%Q", err, sizeof err), SL_OK);
    assert_int_not_equal(es_name_compile(&t, "x-{{ a", err, sizeof err), SL_OK);
    buf_free(&out);
    batch_release(b);
}

typedef struct items {
    int n;
    int status[8];
    char type[8][ES_BULK_TYPE_MAX];
    char reason[8][ES_BULK_REASON_MAX];
} items;

static void on_item(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    items *it = arg;
    assert_int_equal((int)idx, it->n);
    if (it->n < 8) {
        it->status[it->n] = status;
        snprintf(it->type[it->n], ES_BULK_TYPE_MAX, "%s", type);
        snprintf(it->reason[it->n], ES_BULK_REASON_MAX, "%s", reason);
    }
    it->n++;
}

static const char *resp =
    "{\"took\":3,\"errors\":true,\"items\":["
    "{\"create\":{\"_index\":\"x\",\"_id\":\"1\",\"status\":201,\"result\":\"created\"}},"
    "{\"create\":{\"_id\":\"2\",\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
    "\"reason\":\"failed \\\"x\\\" \\u00e9\",\"caused_by\":{\"type\":\"inner\",\"reason\":\"no\"}}}},"
    "{\"index\":{\"status\":429,\"error\":{\"reason\":\"busy\",\"type\":\"es_rejected_execution_exception\"}}},"
    "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\",\"reason\":\"exists\"}}}"
    "]}";

static void test_bulk_every_split(void **state)
{
    size_t n = strlen(resp);
    for (size_t cut = 0; cut <= n; cut++) {
        es_bulk_parser p;
        items it;
        memset(&it, 0, sizeof it);
        es_bulk_init(&p, on_item, &it);
        assert_int_equal(es_bulk_feed(&p, resp, cut), 0);
        assert_int_equal(es_bulk_feed(&p, resp + cut, n - cut), 0);
        assert_int_equal(es_bulk_finish(&p), 0);
        assert_int_equal(it.n, 4);
        assert_int_equal(p.errors, 1);
        assert_int_equal(it.status[0], 201);
        assert_int_equal(it.status[1], 400);
        assert_string_equal(it.type[1], "mapper_parsing_exception");
        assert_string_equal(it.reason[1], "failed \"x\" \xc3\xa9");
        assert_int_equal(it.status[2], 429);
        assert_string_equal(it.type[2], "es_rejected_execution_exception");
        assert_string_equal(it.reason[2], "busy");
        assert_int_equal(it.status[3], 409);
    }
}

static void test_bulk_rejects_garbage(void **state)
{
    const char *bad[] = {"", "<html>", "{\"items\":[", "{\"a\":1}}", "{\"a\":tru}", "[1,]",
                         "{\"a\":\"\x01\"}", "{\"a\":01.}", "{\"a\" 1}"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        es_bulk_parser p;
        items it;
        memset(&it, 0, sizeof it);
        es_bulk_init(&p, on_item, &it);
        es_bulk_feed(&p, bad[i], strlen(bad[i]));
        assert_int_not_equal(es_bulk_finish(&p), 0);
    }
    /* depth bomb */
    char deep[200];
    memset(deep, '[', sizeof deep);
    es_bulk_parser p;
    es_bulk_init(&p, NULL, NULL);
    assert_int_equal(es_bulk_feed(&p, deep, sizeof deep), -1);
    /* filter_path response (no _index/_id) parses */
    items it;
    memset(&it, 0, sizeof it);
    const char *fp = "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":201}}]}";
    es_bulk_init(&p, on_item, &it);
    assert_int_equal(es_bulk_feed(&p, fp, strlen(fp)), 0);
    assert_int_equal(es_bulk_finish(&p), 0);
    assert_int_equal(it.n, 2);
    assert_int_equal(p.errors, 0);
}

/* Every request keeps the endpoint's prefix and query; then the `query:` option (encoded),
 * then the request's own parameters. */
static void test_request_urls(void **state)
{
    (void)state;
    char *keys[] = {"AccountID", "x y", "_stream_fields"}, *vals[] = {"12", "a&b=c", "host,app"};
    sl_strmap q = {keys, vals, 3};
    sl_buf params = SL_BUF_INIT, extra = SL_BUF_INIT, out = SL_BUF_INIT;
    char err[200];
    assert_int_equal(es_query_params(&params, &q, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "AccountID=12&x%20y=a%26b%3Dc&_stream_fields=host%2Capp");
    url_endpoint ep;
    assert_int_equal(url_endpoint_parse(&ep, "http://h:9428/insert/elasticsearch/?_msg_field=message"
                                        "&_time_field=@timestamp", err, sizeof err), SL_OK);
    es_bulk_params(&extra, "my pipe");
    es_request_url(&out, &ep, "_bulk", params.p, extra.p);
    assert_string_equal(out.p, "http://h:9428/insert/elasticsearch/_bulk?_msg_field=message"
                               "&_time_field=@timestamp&AccountID=12&x%20y=a%26b%3Dc"
                               "&_stream_fields=host%2Capp&filter_path=errors,items.*.status,"
                               "items.*.error.type,items.*.error.reason&pipeline=my%20pipe");
    es_request_url(&out, &ep, "", params.p, NULL);
    assert_string_equal(out.p, "http://h:9428/insert/elasticsearch/?_msg_field=message"
                               "&_time_field=@timestamp&AccountID=12&x%20y=a%26b%3Dc"
                               "&_stream_fields=host%2Capp");
    url_endpoint_free(&ep);
    /* no query anywhere: the plain URLs of before */
    sl_strmap none = {NULL, NULL, 0};
    assert_int_equal(es_query_params(&params, &none, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "");
    assert_int_equal(url_endpoint_parse(&ep, "https://es:9200/", err, sizeof err), SL_OK);
    es_bulk_params(&extra, NULL);
    es_request_url(&out, &ep, "_bulk", params.p, extra.p);
    assert_string_equal(out.p, "https://es:9200/_bulk?filter_path=errors,items.*.status,"
                               "items.*.error.type,items.*.error.reason");
    es_request_url(&out, &ep, "_index_template/t", params.p, NULL);
    assert_string_equal(out.p, "https://es:9200/_index_template/t");
    es_request_url(&out, &ep, "", params.p, NULL);
    assert_string_equal(out.p, "https://es:9200/");
    url_endpoint_free(&ep);
    /* keys the sink sets itself are refused */
    char *k2[] = {"filter_path"}, *v2[] = {"x"}, *k3[] = {"pipeline"}, *k4[] = {""};
    sl_strmap fp = {k2, v2, 1}, pl = {k3, v2, 1}, empty = {k4, v2, 1};
    assert_int_equal(es_query_params(&params, &fp, false, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "filter_path"));
    assert_int_equal(es_query_params(&params, &pl, true, err, sizeof err), SL_ERR_CONFIG);
    assert_int_equal(es_query_params(&params, &pl, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "pipeline=x");
    assert_int_equal(es_query_params(&params, &empty, false, err, sizeof err), SL_ERR_CONFIG);
    buf_free(&params);
    buf_free(&extra);
    buf_free(&out);
}

static void test_gzip_engines(void **state)
{
    char in[5000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = "{\"message\":\"abc\"}\n"[i % 18];
    sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
    assert_int_equal(gz_compress(GZ_ZLIB, 1, in, sizeof in, &a), SL_OK);
    assert_int_equal(gz_compress(GZ_AUTO, 1, in, sizeof in, &b), SL_OK);
    assert_true(a.len > 18 && a.len < sizeof in);
    assert_true(b.len > 18 && b.len < sizeof in);
    /* both are gzip streams */
    assert_int_equal((unsigned char)a.p[0], 0x1f);
    assert_int_equal((unsigned char)b.p[0], 0x1f);
    assert_int_equal((unsigned char)b.p[1], 0x8b);
    buf_free(&a);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_and_sorted),
        cmocka_unit_test(test_sanitise_and_conflicts),
        cmocka_unit_test(test_json_field_merged),
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_bulk_every_split),
        cmocka_unit_test(test_bulk_rejects_garbage),
        cmocka_unit_test(test_gzip_engines),
        cmocka_unit_test(test_request_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
