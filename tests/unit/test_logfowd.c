/* test_logfowd.c - unit tests for the logfowd2 drop-in: config.json detection, every key
 * translated (and the result loads as a sluice topology), the info note of each option
 * sluice does not need, warnings for unknown keys, errors for wrong types, missing keys,
 * bad ports, levels and formats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cli/logfowd.h"
#include "core/common.h"
#include "core/config.h"
#include "core/metrics.h"
#include "core/topology.h"

/* The seed's example, every key set. */
static const char full[] =
    "{\n"
    "  \"log_path\": \"/var/log/pods\",\n"
    "  \"is_debug\": false,\n"
    "  \"state_file_path\": \"/var/lib/logfowd/state.json\",\n"
    "  \"read_existing_on_startup\": true,\n"
    "  \"read_chunk_size\": 150,\n"
    "  \"max_line_size\": 524288,\n"
    "  \"max_concurrent_file_readers\": 10,\n"
    "  \"channels\": {\n"
    "    \"watcher_buffer_size\": 300, \"es_buffer_size\": 30, \"backpressure_threshold\": 0.7,\n"
    "    \"backpressure_min_delay_ms\": 5, \"backpressure_max_delay_ms\": 60,\n"
    "    \"notify_buffer_warning_threshold\": 1000, \"notify_buffer_max_size\": 10000,\n"
    "    \"notify_drop_on_overflow\": true, \"notify_filesystem_buffer_warning_threshold\": 1000,\n"
    "    \"notify_filesystem_buffer_size\": 1024\n"
    "  },\n"
    "  \"metrics\": { \"enabled\": true, \"port\": 9191, \"path\": \"/prom\" },\n"
    "  \"logging\": { \"level\": \"warn\", \"format\": \"structured\" },\n"
    "  \"es\": { \"host\": \"https://es.example\", \"port\": 9243, \"index_name\": \"k8s\",\n"
    "          \"flush_interval\": 750, \"bulk_size\": 500, \"workers\": 3 }\n"
    "}\n";

static int translate(const char *json, char **yaml, sl_buf *notes, char *err, size_t errlen)
{
    return logfowd_translate(json, strlen(json), "config.json", yaml, notes, err, errlen);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_detect(void **state)
{
    (void)state;
    assert_true(logfowd_detect(full, strlen(full)));
    const char *min = "  {\"es\": {\"host\": \"h\"}}";
    assert_true(logfowd_detect(min, strlen(min)));
    /* a sluice config written as JSON, YAML, broken JSON, another JSON document: no */
    const char *sl = "{\"sources\": {}, \"log_path\": 1}";
    assert_false(logfowd_detect(sl, strlen(sl)));
    const char *y = "sources:\n  a: { type: stdin }\n";
    assert_false(logfowd_detect(y, strlen(y)));
    const char *broken = "{\"log_path\": ";
    assert_false(logfowd_detect(broken, strlen(broken)));
    const char *other = "{\"a\": 1}";
    assert_false(logfowd_detect(other, strlen(other)));
}

static void test_full(void **state)
{
    (void)state;
    char *y = NULL, err[512];
    sl_buf notes = SL_BUF_INIT;
    assert_int_equal(translate(full, &y, &notes, err, sizeof err), SL_OK);
    buf_putc(&notes, '\0');
    assert_non_null(strstr(y, "data_dir: \"/var/lib/logfowd\"\n"));
    assert_non_null(strstr(y, "log: { level: warn, format: json }\n"));
    assert_non_null(strstr(y, "api: { address: \"0.0.0.0:9191\", metrics_path: \"/prom\" }\n"));
    assert_non_null(strstr(y, "type: kubernetes_logs\n    path: \"/var/log/pods\"\n"));
    assert_non_null(strstr(y, "read_from: head\n"));
    assert_non_null(strstr(y, "max_line_bytes: 524288\n"));
    assert_non_null(strstr(y, "batch_max_events: 150\n"));
    assert_non_null(strstr(y, "endpoint: \"https://es.example:9243\"\n"));
    assert_non_null(strstr(y, "index: \"k8s-%Y.%m.%d\"\n"));
    assert_non_null(strstr(y, "batch: { max_events: 500, timeout_ms: 750 }\n"));
    assert_non_null(strstr(y, "concurrency: 3\n"));
    /* one info note per option without a sluice meaning: 10 channels + the reader pool */
    assert_int_equal(count(notes.p, "info: "), 11);
    assert_int_equal(count(notes.p, "warn: "), 0);
    assert_non_null(strstr(notes.p, "channels.es_buffer_size (30) is not needed: "));
    assert_non_null(strstr(notes.p, "max_concurrent_file_readers (10) is not needed: "));
    /* the result is a valid sluice configuration */
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    assert_int_equal(config_doc_load(&doc, "config.json", y, err, sizeof err), SL_OK);
    int rc = topology_build(&t, doc, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    const sl_global_config *g = topology_globals(t);
    assert_int_equal(g->api.address.n, 1);
    assert_string_equal(g->api.address.v[0], "0.0.0.0:9191");
    assert_string_equal(g->api.metrics_path, "/prom");
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();
    free(y);
    buf_free(&notes);
}

static void test_defaults_and_hosts(void **state)
{
    (void)state;
    char *y = NULL, err[512];
    sl_buf notes = SL_BUF_INIT;
    const char *min = "{\"log_path\": \"/p\", \"es\": {\"host\": \"es\", \"port\": 9200, "
                      "\"index_name\": \"logs\"}}";
    assert_int_equal(translate(min, &y, &notes, err, sizeof err), SL_OK);
    buf_putc(&notes, '\0');
    assert_non_null(strstr(y, "data_dir: \"/tmp\"\n")); /* logfowd2's default state file */
    assert_non_null(strstr(y, "read_from: tail\n"));    /* read_existing_on_startup: false */
    assert_non_null(strstr(y, "endpoint: \"http://es:9200\"\n"));
    assert_non_null(strstr(y, "log: { level: info, format: text }\n"));
    assert_null(strstr(y, "api:"));
    assert_non_null(strstr(notes.p, "info: config.json: metrics.enabled is false"));
    free(y);
    /* a host that names its port keeps it; a path stays after the port */
    const char *p = "{\"log_path\": \"/p\", \"es\": {\"host\": \"http://es:9201/pre\", \"port\": 9200, "
                    "\"index_name\": \"logs\"}}";
    assert_int_equal(translate(p, &y, NULL, err, sizeof err), SL_OK);
    assert_non_null(strstr(y, "endpoint: \"http://es:9201/pre\"\n"));
    free(y);
    p = "{\"log_path\": \"/p\", \"es\": {\"host\": \"http://es/pre\", \"port\": 9200, "
        "\"index_name\": \"logs\"}, \"is_debug\": true, \"logging\": {\"level\": null}}";
    assert_int_equal(translate(p, &y, NULL, err, sizeof err), SL_OK);
    assert_non_null(strstr(y, "endpoint: \"http://es:9200/pre\"\n"));
    assert_non_null(strstr(y, "level: debug"));
    free(y);
    buf_free(&notes);
}

static void test_unknown_keys(void **state)
{
    (void)state;
    char *y = NULL, err[512];
    sl_buf notes = SL_BUF_INIT;
    const char *j = "{\"log_path\": \"/p\", \"bulk_size\": 3, \"es\": {\"host\": \"h\", \"port\": 1, "
                    "\"index_name\": \"i\", \"index\": \"x\"}, \"channels\": {\"foo\": 1}}";
    assert_int_equal(translate(j, &y, &notes, err, sizeof err), SL_OK);
    buf_putc(&notes, '\0');
    assert_int_equal(count(notes.p, "warn: "), 3);
    assert_non_null(strstr(notes.p, "unknown key \"bulk_size\""));
    assert_non_null(strstr(notes.p, "unknown key \"es.index\""));
    assert_non_null(strstr(notes.p, "unknown key \"channels.foo\""));
    free(y);
    buf_free(&notes);
}

static void expect_error(const char *json, const char *msg)
{
    char *y = (char *)1, err[512];
    int rc = translate(json, &y, NULL, err, sizeof err);
    assert_int_equal(rc, SL_ERR_CONFIG);
    assert_null(y);
    if (!strstr(err, msg))
        fail_msg("error \"%s\" does not say \"%s\"", err, msg);
}

#define ES "\"es\": {\"host\": \"h\", \"port\": 9200, \"index_name\": \"i\"}"

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"log_path\": ", "config.json: not valid JSON");
    expect_error("[1]", "expected a JSON object, got an array");
    expect_error("{\"log_path\": \"/p\"}", "missing key \"es\"");
    expect_error("{" ES "}", "missing key \"log_path\"");
    expect_error("{\"log_path\": \"/p\", \"es\": {\"host\": \"h\", \"port\": 1}}",
                 "missing key \"es.index_name\"");
    expect_error("{\"log_path\": 5, " ES "}", "log_path: expected a string, got a number 5");
    expect_error("{\"log_path\": \"/p\", \"max_line_size\": -1, " ES "}",
                 "max_line_size: expected a whole number >= 0, got a number -1");
    expect_error("{\"log_path\": \"/p\", \"read_chunk_size\": 1.5, " ES "}",
                 "read_chunk_size: expected a whole number");
    expect_error("{\"log_path\": \"/p\", \"read_existing_on_startup\": \"yes\", " ES "}",
                 "read_existing_on_startup: expected true or false, got a string");
    expect_error("{\"log_path\": \"/p\", \"channels\": [], " ES "}",
                 "channels: expected an object, got an array");
    expect_error("{\"log_path\": \"/p\", \"channels\": {\"backpressure_threshold\": \"x\"}, " ES "}",
                 "channels.backpressure_threshold: expected a number, got a string");
    expect_error("{\"log_path\": \"/p\", \"es\": {\"host\": \"h\", \"port\": 70000, \"index_name\": \"i\"}}",
                 "es.port: 70000 is not a port");
    expect_error("{\"log_path\": \"/p\", \"metrics\": {\"port\": 0}, " ES "}",
                 "metrics.port: 0 is not a port");
    expect_error("{\"log_path\": \"/p\", \"metrics\": {\"path\": \"m\"}, " ES "}",
                 "metrics.path \"m\" must start with '/'");
    expect_error("{\"log_path\": \"/p\", \"logging\": {\"level\": \"loud\"}, " ES "}",
                 "logging.level: unknown level \"loud\"");
    expect_error("{\"log_path\": \"/p\", \"logging\": {\"format\": \"xml\"}, " ES "}",
                 "logging.format: unknown format \"xml\"");
    expect_error("{\"log_path\": \"/p\xff\", " ES "}", "invalid UTF-8 in string");
}

/* Strings YAML would not take raw (DEL, C1 controls, a BOM, '$', quotes) still load, unchanged. */
static void test_strings_quoted(void **state)
{
    (void)state;
    char *y = NULL, err[512];
    const char *j = "{\"log_path\": \"/p\\u0001\\u007f\\u0085\\ufeff$x\\\"\\\\\u00e9\", " ES "}";
    assert_int_equal(translate(j, &y, NULL, err, sizeof err), SL_OK);
    sl_config_doc *doc = NULL;
    if (config_doc_load(&doc, "config.json", y, err, sizeof err) != SL_OK)
        fail_msg("%s\n%s", err, y);
    const sl_cnode *p = cnode_get(cnode_get(cnode_get(doc->root, "sources"), "pods"), "path");
    assert_non_null(p);
    assert_string_equal(p->scalar, "/p\x01\x7f\xc2\x85\xef\xbb\xbf$x\"\\\xc3\xa9");
    config_doc_free(doc);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_defaults_and_hosts),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_strings_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
