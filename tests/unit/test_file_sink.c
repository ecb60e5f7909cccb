/* test_file_sink.c - unit tests for the file sink through its vtable: per-event date
 * paths, {{ field }} paths, torn line repair, size rotation, text encoding and RETRY on
 * unwritable paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"
#include "formats/json.h"

extern const sl_sink_vtable sl_sink_file;

typedef struct fixture {
    char dir[64];
    sl_config_doc *doc;
    void *cfg;
    void *sink;
    sl_component_ctx cc;
    sl_batch *b;
    sl_event *ev[64];
    uint8_t status[64];
    const char *reasons[64];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/test_file_sink.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->b = batch_new(64);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->sink)
        sl_sink_file.destroy(f->sink);
    if (f->cfg) {
        config_options_free(sl_sink_file.options, f->cfg);
        free(f->cfg);
    }
    if (f->doc)
        config_doc_free(f->doc);
    batch_release(f->b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    metrics_reset();
    free(f);
    return 0;
}

/* Builds the sink from YAML options; "@" in yaml is replaced by the temp dir. */
static void open_sink(fixture *f, const char *yaml_tmpl)
{
    char yaml[8192], *w = yaml;
    for (const char *p = yaml_tmpl; *p; p++) {
        if (*p == '@')
            w += sprintf(w, "%s", f->dir);
        else
            *w++ = *p;
    }
    *w = '\0';
    char err[512];
    assert_int_equal(config_doc_load(&f->doc, "test.yaml", yaml, err, sizeof err), SL_OK);
    f->cfg = calloc(1, sl_sink_file.config_size);
    const sl_option *tables[] = {sl_sink_file.options};
    void *bases[] = {f->cfg};
    int rc = config_apply(tables, bases, 1, f->doc->root, NULL, "test.yaml", "sinks.out", err,
                          sizeof err);
    if (rc != SL_OK)
        fail_msg("config: %s", err);
    f->cc.id = "out";
    f->cc.type = "file";
    f->cc.data_dir = f->dir;
    f->cc.metrics = metrics_register("out", "sink", "file");
    assert_int_equal(sl_sink_file.init(&f->sink, f->cfg, &f->cc, err, sizeof err), SL_OK);
}

static void add_event(fixture *f, int64_t ts_ns, const char *msg)
{
    sl_event *e = batch_add(f->b);
    e->ts_ns = ts_ns;
    e->message = batch_str(f->b, msg, strlen(msg));
    event_set_int(f->b, e, "n", f->b->n);
}

static sl_send_result *send_all(fixture *f, size_t first, sl_send_result *res)
{
    memset(res, 0, sizeof *res);
    memset(f->status, 0, sizeof f->status);
    memset(f->reasons, 0, sizeof f->reasons);
    res->item_status = f->status;
    res->item_reason = f->reasons;
    size_t n = f->b->n - first;
    for (size_t i = 0; i < n; i++)
        f->ev[i] = &f->b->events[first + i];
    assert_int_equal(sl_sink_file.send(f->sink, f->ev, n, res), SL_OK);
    return res;
}

static char *slurp(fixture *f, const char *rel)
{
    char path[256], err[128];
    snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    char *data = NULL;
    size_t len;
    if (sl_read_file(path, &data, &len, err, sizeof err) != SL_OK)
        return NULL;
    data = realloc(data, len + 1);
    data[len] = '\0';
    return data;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

#define DAY1 1795237109000000000LL /* 2026-11-21T04:58:29Z */
#define DAY2 (DAY1 + 86400LL * 1000000000LL)

static void test_template_per_event(void **state)
{
    fixture *f = *state;
    open_sink(f, "path: \"@/logs/%Y/%m-%d.log\"\n");
    add_event(f, DAY1, "a");
    add_event(f, DAY2, "b");
    add_event(f, DAY2 + 1, "c");
    add_event(f, DAY1 + 5, "d");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *d1 = slurp(f, "logs/2026/11-21.log");
    char *d2 = slurp(f, "logs/2026/11-22.log");
    assert_non_null(d1);
    assert_non_null(d2);
    assert_string_equal(d1, "{\"timestamp\":\"2026-11-21T04:58:29.000000000Z\",\"message\":\"a\",\"n\":1}\n"
                            "{\"timestamp\":\"2026-11-21T04:58:29.000000005Z\",\"message\":\"d\",\"n\":4}\n");
    assert_int_equal(count_lines(d2), 2);
    assert_non_null(strstr(d2, "\"message\":\"b\""));
    assert_non_null(strstr(d2, "\"message\":\"c\""));
    /* every line decodes */
    sl_batch *back = batch_new(4);
    char *nl = strchr(d2, '\n');
    assert_int_equal(json_decode_event(back, d2, (size_t)(nl - d2)), SL_OK);
    assert_true(back->events[0].ts_ns == DAY2);
    batch_release(back);
    free(d1);
    free(d2);
}

static void test_torn_line_repair(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/out.log", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("good 1\ngood 2\n{\"timestamp\":\"2026-", fp);
    fclose(fp);
    open_sink(f, "path: \"@/out.log\"\nencoding: text\n");
    add_event(f, DAY1, "new 1");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *d = slurp(f, "out.log");
    assert_string_equal(d, "good 1\ngood 2\nnew 1\n");
    free(d);
    assert_int_equal(metrics_error_count(f->cc.metrics, "torn_line_repaired"), 1);
    /* Later sends append; no second repair. */
    add_event(f, DAY1, "new 2");
    send_all(f, 1, &res);
    d = slurp(f, "out.log");
    assert_string_equal(d, "good 1\ngood 2\nnew 1\nnew 2\n");
    free(d);
    assert_int_equal(metrics_error_count(f->cc.metrics, "torn_line_repaired"), 1);
}

static void test_torn_no_newline_at_all(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof path, "%s/out.log", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 10000; i++)
        fputc('x', fp); /* longer than one read chunk, no newline */
    fclose(fp);
    open_sink(f, "path: \"@/out.log\"\nencoding: text\n");
    add_event(f, DAY1, "only");
    sl_send_result res;
    send_all(f, 0, &res);
    char *d = slurp(f, "out.log");
    assert_string_equal(d, "only\n");
    free(d);
}

static void test_rotation(void **state)
{
    fixture *f = *state;
    /* Each line is 10 bytes; at most 3 lines (30 bytes) per file, 2 rotated kept. */
    open_sink(f, "path: \"@/r.log\"\nencoding: text\nmax_file_bytes: 30\nmax_files: 2\n");
    char msg[32];
    for (int i = 0; i < 12; i++) {
        snprintf(msg, sizeof msg, "line-%04d", i);
        add_event(f, DAY1, msg);
    }
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *cur = slurp(f, "r.log"), *r1 = slurp(f, "r.log.1"), *r2 = slurp(f, "r.log.2");
    char *r3 = slurp(f, "r.log.3");
    assert_null(r3);
    assert_string_equal(r2, "line-0003\nline-0004\nline-0005\n");
    assert_string_equal(r1, "line-0006\nline-0007\nline-0008\n");
    assert_string_equal(cur, "line-0009\nline-0010\nline-0011\n");
    free(cur);
    free(r1);
    free(r2);
    /* A line bigger than the limit still goes whole into a fresh file. */
    add_event(f, DAY1, "a-very-long-line-longer-than-thirty-bytes");
    send_all(f, 12, &res);
    cur = slurp(f, "r.log");
    assert_string_equal(cur, "a-very-long-line-longer-than-thirty-bytes\n");
    free(cur);
}

static void test_text_encoding(void **state)
{
    fixture *f = *state;
    open_sink(f, "path: \"@/t.log\"\nencoding: text\n");
    add_event(f, DAY1, "first message");
    add_event(f, DAY1, "second \"quoted\"");
    sl_send_result res;
    send_all(f, 0, &res);
    char *d = slurp(f, "t.log");
    assert_string_equal(d, "first message\nsecond \"quoted\"\n");
    free(d);
}

static void test_unwritable_then_fixed(void **state)
{
    fixture *f = *state;
    char blocker[128];
    snprintf(blocker, sizeof blocker, "%s/sub", f->dir);
    FILE *fp = fopen(blocker, "w"); /* a file where the parent directory should be */
    assert_non_null(fp);
    fclose(fp);
    open_sink(f, "path: \"@/sub/dir/out.log\"\n");
    add_event(f, DAY1, "a");
    add_event(f, DAY1, "b");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_RETRY);
    assert_true(strlen(res.reason) > 0);
    assert_non_null(strstr(res.reason, "sub"));
    /* The operator fixes it; the runtime retries the same events. */
    assert_int_equal(unlink(blocker), 0);
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *d = slurp(f, "sub/dir/out.log");
    assert_non_null(d);
    assert_int_equal(count_lines(d), 2);
    free(d);
}

static void test_empty_path_rejected(void **state)
{
    fixture *f = *state;
    /* A template whose expansion cannot fit renders empty: those events are rejected. */
    char yaml[4096] = "path: \"@/";
    for (int i = 0; i < 1800; i++)
        strcat(yaml, "%c");
    strcat(yaml, "\"\n");
    open_sink(f, yaml);
    add_event(f, DAY1, "x");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_REJECT);
    assert_int_equal(f->status[0], SL_ITEM_REJECT);
    assert_int_equal(metrics_error_count(f->cc.metrics, "empty_path"), 1);
}

static void test_partial_second_path_fails(void **state)
{
    fixture *f = *state;
    /* Day 22's directory is blocked by a file: day 21's events land (d too: a path that
     * cannot be written holds back only its own events), day 22's retry. */
    char blocker[128];
    snprintf(blocker, sizeof blocker, "%s/22", f->dir);
    FILE *fp = fopen(blocker, "w");
    assert_non_null(fp);
    fclose(fp);
    open_sink(f, "path: \"@/%d/out.log\"\nencoding: text\n");
    add_event(f, DAY1, "a");
    add_event(f, DAY1, "b");
    add_event(f, DAY2, "c");
    add_event(f, DAY1, "d");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_PARTIAL);
    assert_int_equal(f->status[0], SL_ITEM_OK);
    assert_int_equal(f->status[1], SL_ITEM_OK);
    assert_int_equal(f->status[2], SL_ITEM_RETRY);
    assert_int_equal(f->status[3], SL_ITEM_OK);
    assert_non_null(f->reasons[2]);
    assert_non_null(strstr(f->reasons[2], "22"));
    char *d = slurp(f, "21/out.log");
    assert_string_equal(d, "a\nb\nd\n");
    free(d);
}

static void add_host_event(fixture *f, int64_t ts_ns, const char *host, const char *msg)
{
    add_event(f, ts_ns, msg);
    if (host)
        event_set_str(f->b, &f->b->events[f->b->n - 1], "hostname", host, strlen(host));
}

static void test_field_in_path(void **state)
{
    fixture *f = *state;
    /* One file per sending host and day, as a syslog archive is laid out. */
    open_sink(f, "path: \"@/remote/{{ hostname }}/%Y-%m-%d.log\"\nencoding: text\n");
    add_host_event(f, DAY1, "web1", "a");
    add_host_event(f, DAY1, "db1", "b");
    add_host_event(f, DAY2, "web1", "c");
    add_host_event(f, DAY1, "web1", "d");
    add_host_event(f, DAY1, NULL, "e");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *w1 = slurp(f, "remote/web1/2026-11-21.log"), *w2 = slurp(f, "remote/web1/2026-11-22.log");
    char *d1 = slurp(f, "remote/db1/2026-11-21.log");
    char *u1 = slurp(f, "remote/unknown/2026-11-21.log");
    assert_non_null(w1);
    assert_string_equal(w1, "a\nd\n");
    assert_non_null(w2);
    assert_string_equal(w2, "c\n");
    assert_non_null(d1);
    assert_string_equal(d1, "b\n");
    assert_non_null(u1);
    assert_string_equal(u1, "e\n");
    free(w1);
    free(w2);
    free(d1);
    free(u1);
}

static void test_field_value_stays_in_its_directory(void **state)
{
    fixture *f = *state;
    /* A sender names itself: '/' and a value of dots cannot leave the directory. */
    open_sink(f, "path: \"@/remote/{{ hostname }}/out.log\"\nencoding: text\n");
    add_host_event(f, DAY1, "../../escape", "a");
    add_host_event(f, DAY1, "..", "b");
    add_host_event(f, DAY1, "line\nbreak", "c");
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    char *a = slurp(f, "remote/.._.._escape/out.log"), *b = slurp(f, "remote/__/out.log");
    char *c = slurp(f, "remote/line_break/out.log");
    assert_non_null(a);
    assert_string_equal(a, "a\n");
    assert_non_null(b);
    assert_string_equal(b, "b\n");
    assert_non_null(c);
    assert_string_equal(c, "c\n");
    free(a);
    free(b);
    free(c);
}

static void test_many_paths_interleaved(void **state)
{
    fixture *f = *state;
    /* More paths than files kept open, their events interleaved: each file still gets its
     * lines in order, and each path is opened once per request. */
    open_sink(f, "path: \"@/h/{{ hostname }}.log\"\nencoding: text\n");
    char host[16], msg[32];
    for (int i = 0; i < 60; i++) {
        snprintf(host, sizeof host, "host%02d", i % 20);
        snprintf(msg, sizeof msg, "m%02d", i);
        add_host_event(f, DAY1, host, msg);
    }
    sl_send_result res;
    send_all(f, 0, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    for (int h = 0; h < 20; h++) {
        char rel[32], want[64];
        snprintf(rel, sizeof rel, "h/host%02d.log", h);
        snprintf(want, sizeof want, "m%02d\nm%02d\nm%02d\n", h, h + 20, h + 40);
        char *d = slurp(f, rel);
        assert_non_null(d);
        assert_string_equal(d, want);
        free(d);
    }
}

static void test_field_template_errors(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"path: \"/x/{{ hostname /x.log\"\n", "path: \"/x/{{ }}.log\"\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char err[512];
        sl_config_doc *doc;
        assert_int_equal(config_doc_load(&doc, "test.yaml", bad[i], err, sizeof err), SL_OK);
        void *cfg = calloc(1, sl_sink_file.config_size);
        const sl_option *tables[] = {sl_sink_file.options};
        void *bases[] = {cfg};
        assert_int_equal(config_apply(tables, bases, 1, doc->root, NULL, "test.yaml",
                                      "sinks.out", err, sizeof err), SL_OK);
        sl_component_ctx cc = {.id = "out", .type = "file", .data_dir = f->dir};
        void *sink = NULL;
        assert_int_equal(sl_sink_file.init(&sink, cfg, &cc, err, sizeof err), SL_ERR_CONFIG);
        assert_non_null(strstr(err, "{{"));
        config_options_free(sl_sink_file.options, cfg);
        free(cfg);
        config_doc_free(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_template_per_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_line_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_no_newline_at_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_encoding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unwritable_then_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_path_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_second_path_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_in_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_value_stays_in_its_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_paths_interleaved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_field_template_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
