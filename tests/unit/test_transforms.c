/* test_transforms.c - set, rename, copy, remove, add_env, flatten, sanitize_keys and filter,
 * each built from YAML through the registry as the engine does; correlation fields
 * (trace_id, job_id, machine_id, worker_id) must come out untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"

#include "tf_harness.h"

static void test_set(void **state)
{
    tf *t = tf_new("set", "fields: {env: prod, n: \"5\", on: \"true\", job_id: other}\noverwrite: false\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "x");
    event_set_str(b, e, "env", "dev", 3);
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_str(e, "env", "dev"); /* overwrite: false */
    assert_int_equal(get(e, "n")->type, SL_VAL_INT);
    assert_int_equal(get(e, "n")->v.i, 5);
    assert_int_equal(get(e, "on")->type, SL_VAL_BOOL);
    assert_true(get(e, "on")->v.b);
    assert_corr(e);
    batch_release(b);
    tf_free(t);
    t = tf_new("set", "fields: {env: prod}\n");
    b = batch_new(2);
    e = corr_event(b, "x");
    event_set_str(b, e, "env", "dev", 3);
    t->vt->process(t->self, b);
    assert_str(e, "env", "prod");
    batch_release(b);
    tf_free(t);
}

static void test_rename_copy(void **state)
{
    tf *t = tf_new("rename", "fields: {lvl: level, msg: message, a: b}\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "raw line");
    event_set_str(b, e, "lvl", "warn", 4);
    event_set_str(b, e, "msg", "real message", 12);
    event_set_str(b, e, "a", "1", 1);
    event_set_str(b, e, "b", "old", 3);
    t->vt->process(t->self, b);
    assert_str(e, "level", "warn");
    assert_null(get(e, "lvl"));
    assert_null(get(e, "msg"));
    assert_null(get(e, "a"));
    assert_str(e, "b", "1");
    assert_int_equal(e->message.len, 12);
    assert_memory_equal(e->message.ptr, "real message", 12);
    assert_int_equal(e->nfields, 6);
    assert_corr(e);
    batch_release(b);
    tf_free(t);

    t = tf_new("copy", "fields: {trace_id: tid, message: original}\n");
    b = batch_new(2);
    e = corr_event(b, "hello");
    t->vt->process(t->self, b);
    assert_str(e, "tid", "0af7651916cd43dd8448eb211c80319c");
    assert_str(e, "original", "hello");
    assert_int_equal(e->message.len, 5);
    assert_corr(e);
    batch_release(b);
    tf_free(t);
}

static void test_remove(void **state)
{
    tf *t = tf_new("remove", "fields: [a, \"k8s.*\", missing]\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "x");
    event_set_str(b, e, "a", "1", 1);
    event_set_str(b, e, "k8s.pod", "p", 1);
    event_set_str(b, e, "k8s.ns", "n", 1);
    event_set_str(b, e, "k8sfoo", "keep", 4);
    t->vt->process(t->self, b);
    assert_null(get(e, "a"));
    assert_null(get(e, "k8s.pod"));
    assert_null(get(e, "k8s.ns"));
    assert_str(e, "k8sfoo", "keep");
    assert_int_equal(e->nfields, 5);
    assert_corr(e);
    batch_release(b);
    tf_free(t);
}

static void assert_msg(const sl_event *e, const char *want)
{
    assert_int_equal(e->message.len, strlen(want));
    assert_memory_equal(e->message.ptr, want, e->message.len);
    assert_null(get(e, "message")); /* never a field beside the message */
}

/* `message` is the event's message in set, add_fields and remove, as in rename and copy. */
static void test_message_name(void **state)
{
    static const char *const setters[] = {"set", "add_fields"};
    for (size_t i = 0; i < 2; i++) {
        tf *t = tf_new(setters[i], "fields: {message: replaced, env: prod}\n");
        sl_batch *b = batch_new(2);
        sl_event *e = corr_event(b, "raw line");
        t->vt->process(t->self, b);
        assert_msg(e, "replaced");
        assert_str(e, "env", "prod");
        assert_corr(e);
        batch_release(b);
        tf_free(t);
        t = tf_new(setters[i], "fields: {message: \"42\"}\noverwrite: false\n");
        b = batch_new(2);
        e = corr_event(b, "kept");
        sl_event *empty = corr_event(b, "");
        t->vt->process(t->self, b);
        assert_msg(e, "kept");
        assert_msg(empty, "42");
        batch_release(b);
        tf_free(t);
    }
    tf *t = tf_new("remove", "fields: [message, a]\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "{\"a\":1,\"b\":2}");
    event_set_str(b, e, "a", "1", 1);
    event_set_str(b, e, "b", "2", 1);
    t->vt->process(t->self, b);
    assert_msg(e, "");
    assert_null(get(e, "a"));
    assert_str(e, "b", "2");
    assert_corr(e);
    batch_release(b);
    tf_free(t);
}

static void test_add_env(void **state)
{
    tf *t = tf_new("add_env", "environment: production\nservice: api\nhost_name: h1\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "x");
    sl_event *e2 = corr_event(b, "y");
    event_set_str(b, e2, "service.name", "own", 3);
    t->vt->process(t->self, b);
    e = &b->events[0];
    assert_str(e, "deployment.environment", "production");
    assert_str(e, "service.name", "api");
    assert_str(e, "host.name", "h1");
    assert_str(&b->events[1], "service.name", "own");
    assert_corr(e);
    batch_release(b);
    tf_free(t);
    t = tf_new("add_env", "service: s\n");
    b = batch_new(1);
    e = corr_event(b, "x");
    t->vt->process(t->self, b);
    assert_non_null(get(e, "host.name")); /* this machine's */
    batch_release(b);
    tf_free(t);
    assert_int_not_equal(tf_init_fails("add_env", "host: false\n"), 0);
}

static void test_flatten(void **state)
{
    tf *t = tf_new("flatten", "{}\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "x");
    const char *js = "{\"status\":500,\"req\":{\"path\":\"/x\\ty\",\"ok\":true,\"t\":1.5,\"n\":null},"
                     "\"tags\":[1,2],\"e\":{}}";
    sl_field *f = event_add_field(b, e, "http", 4);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, js, strlen(js));
    f = event_add_field(b, e, "arr", 3);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "[1]", 3);
    t->vt->process(t->self, b);
    assert_null(get(e, "http"));
    assert_int_equal(get(e, "http.status")->type, SL_VAL_INT);
    assert_int_equal(get(e, "http.status")->v.i, 500);
    assert_str(e, "http.req.path", "/x\ty");
    assert_int_equal(get(e, "http.req.ok")->type, SL_VAL_BOOL);
    assert_int_equal(get(e, "http.req.t")->type, SL_VAL_FLOAT);
    assert_int_equal(get(e, "http.req.n")->type, SL_VAL_NULL);
    assert_int_equal(get(e, "http.tags")->type, SL_VAL_JSON);
    assert_int_equal(get(e, "http.tags")->v.s.len, 5);
    assert_int_equal(get(e, "http.e")->type, SL_VAL_JSON);
    assert_int_equal(get(e, "arr")->type, SL_VAL_JSON); /* arrays stay */
    assert_corr(e);
    batch_release(b);
    tf_free(t);

    t = tf_new("flatten", "separator: _\nmax_depth: 1\n");
    b = batch_new(1);
    e = corr_event(b, "x");
    f = event_add_field(b, e, "a", 1);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"b\":{\"c\":1},\"d\":\"x\"}", 21);
    f = event_add_field(b, e, "bad", 3);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"b\":", 5);
    t->vt->process(t->self, b);
    assert_int_equal(get(e, "a_b")->type, SL_VAL_JSON);
    assert_str(e, "a_d", "x");
    assert_int_equal(get(e, "bad")->type, SL_VAL_JSON); /* invalid JSON: left alone */
    batch_release(b);
    /* A leaf named like an existing field does not overwrite it. */
    b = batch_new(1);
    e = corr_event(b, "x");
    f = event_add_field(b, e, "trace", 5);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"id\":\"other\"}", 14);
    t->vt->process(t->self, b);
    assert_str(e, "trace_id_", "other");
    assert_corr(e);
    batch_release(b);
    tf_free(t);
}

static void test_sanitize(void **state)
{
    tf *t = tf_new("sanitize_keys", "lowercase: true\n");
    sl_batch *b = batch_new(1);
    sl_event *e = corr_event(b, "x");
    const char *before = get(e, "trace_id")->key.ptr;
    event_set_str(b, e, "Bad Key!", "v", 1);
    event_set_str(b, e, "ok.key-1", "w", 1);
    t->vt->process(t->self, b);
    assert_str(e, "bad_key_", "v");
    assert_str(e, "ok.key-1", "w");
    assert_ptr_equal(get(e, "trace_id")->key.ptr, before); /* untouched, not copied */
    event_set_str(b, e, "Trace_ID", "shadow", 6); /* cleans to an existing key */
    t->vt->process(t->self, b);
    assert_str(e, "trace_id_", "shadow");
    assert_corr(e);
    batch_release(b);
    tf_free(t);
    assert_int_not_equal(tf_init_fails("sanitize_keys", "replacement: ab\n"), 0);
}

static uint32_t run_filter(const char *yaml)
{
    tf *t = tf_new("filter", yaml);
    sl_batch *b = batch_new(8);
    static const char *const lv[] = {"info", "WARNING", "err", NULL, "debug", "fatal"};
    for (int i = 0; i < 6; i++) {
        char msg[32];
        snprintf(msg, sizeof msg, "event %d %s", i, i % 2 ? "odd" : "even");
        sl_event *e = corr_event(b, msg);
        if (lv[i])
            event_set_str(b, e, "level", lv[i], strlen(lv[i]));
        event_set_int(b, e, "n", i);
        sl_field *f = event_add_field(b, e, "lat", 3); /* 0.0, 0.1, ... 0.5 */
        f->type = SL_VAL_FLOAT;
        f->v.f = i / 10.0;
    }
    t->vt->process(t->self, b);
    uint32_t n = b->n;
    for (uint32_t i = 0; i < b->n; i++)
        assert_corr(&b->events[i]);
    batch_release(b);
    tf_free(t);
    return n;
}

static void test_filter(void **state)
{
    assert_int_equal(run_filter("field: level\nequals: [info, debug]\n"), 2);
    assert_int_equal(run_filter("action: drop\nfield: level\nequals: [info, debug]\n"), 4);
    assert_int_equal(run_filter("field: n\nequals: [\"3\"]\n"), 1);
    assert_int_equal(run_filter("regex: 'odd$'\n"), 3);
    assert_int_equal(run_filter("action: drop\nregex: '^event [01] '\n"), 4);
    assert_int_equal(run_filter("min_level: warn\n"), 3);
    assert_int_equal(run_filter("min_level: info\n"), 4);
    assert_int_equal(run_filter("min_level: warn\nregex: 'even$'\n"), 1); /* both: event 2 */
    assert_int_equal(run_filter("field: job_id\nequals: job-789\n"), 6);
    /* numbers compare as numbers: 1 is 1.0, 0.1 is the 0.1 a JSON parse made; their text
     * is as the JSON encoder writes it (0.1, 0.0), never %.17g's 0.10000000000000001 */
    assert_int_equal(run_filter("field: lat\nequals: [\"0.1\", \"0.30\"]\n"), 2);
    assert_int_equal(run_filter("field: lat\nequals: [\"0\"]\n"), 1);
    assert_int_equal(run_filter("field: n\nequals: [\"3.0\", \"4e0\"]\n"), 2);
    assert_int_equal(run_filter("field: n\nequals: [\"0x3\", \" 3\", \"\"]\n"), 0);
    assert_int_equal(run_filter("field: lat\nregex: '^0\\.[12]$'\n"), 2);
    assert_int_equal(run_filter("field: lat\nregex: '^0\\.0$'\n"), 1);
    assert_int_not_equal(tf_init_fails("filter", "action: keep\n"), 0);
    assert_int_not_equal(tf_init_fails("filter", "regex: '('\n"), 0);
    assert_int_not_equal(tf_init_fails("filter", "min_level: loud\n"), 0);
    assert_int_not_equal(tf_init_fails("filter", "equals: [a]\n"), 0);
}

/* Nested JSON a parse left as one field is looked into by a dotted key, as Fluent Bit's
 * $kubernetes['labels']['app'] and Vector's .kubernetes.labels.app are. */
static uint32_t run_nested(const char *yaml)
{
    static const char *const docs[] = {
        "{\"labels\":{\"app\":\"web\",\"app.kubernetes.io/name\":\"a\\\"b\"},\"n\":1.5}",
        "{\"labels\":{\"app\":\"db\"},\"n\":2}",
        "[1,2]",
        NULL,
    };
    tf *t = tf_new("filter", yaml);
    sl_batch *b = batch_new(8);
    for (int i = 0; i < 4; i++) {
        sl_event *e = corr_event(b, "x");
        if (docs[i]) {
            sl_field *f = event_add_field(b, e, "kubernetes", 10);
            f->type = SL_VAL_JSON;
            f->v.s = batch_str(b, docs[i], strlen(docs[i]));
        } else { /* flattened already: the field itself */
            event_set_str(b, e, "kubernetes.labels.app", "web", 3);
        }
        sl_field *lf = event_add_field(b, e, "log", 3);
        lf->type = SL_VAL_JSON;
        lf->v.s = batch_str(b, i ? "{\"level\":\"info\"}" : "{\"level\":\"error\"}", 17);
    }
    /* an object of more than 64 members */
    char wide[2048];
    size_t n = (size_t)snprintf(wide, sizeof wide, "{");
    for (int k = 0; k < 80; k++)
        n += (size_t)snprintf(wide + n, sizeof wide - n, "\"k%d\":%d,", k, k);
    snprintf(wide + n, sizeof wide - n, "\"labels\":{\"app\":\"wide\"}}");
    sl_event *e = corr_event(b, "x");
    sl_field *f = event_add_field(b, e, "kubernetes", 10);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, wide, strlen(wide));
    t->vt->process(t->self, b);
    uint32_t kept = b->n;
    batch_release(b);
    tf_free(t);
    return kept;
}

static void test_filter_nested(void **state)
{
    assert_int_equal(run_nested("field: kubernetes.labels.app\nequals: [web]\n"), 2);
    assert_int_equal(run_nested("field: kubernetes.labels.app\nequals: [wide]\n"), 1);
    assert_int_equal(run_nested("field: kubernetes.labels.app.kubernetes.io/name\n"
                                "equals: ['a\"b']\n"), 1);
    assert_int_equal(run_nested("field: kubernetes.n\nequals: [\"2.0\"]\n"), 1);
    assert_int_equal(run_nested("regex_field: kubernetes.labels.app\nregex: '^(db|wide)$'\n"), 2);
    assert_int_equal(run_nested("field: kubernetes.labels.none\nequals: [web]\n"), 0);
    assert_int_equal(run_nested("action: drop\nfield: kubernetes.labels\nregex: app\n"), 2);
    assert_int_equal(run_nested("min_level: warn\nlevel_field: log.level\n"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set),      cmocka_unit_test(test_rename_copy),
        cmocka_unit_test(test_remove),   cmocka_unit_test(test_add_env),
        cmocka_unit_test(test_flatten),  cmocka_unit_test(test_sanitize),
        cmocka_unit_test(test_filter),   cmocka_unit_test(test_message_name),
        cmocka_unit_test(test_filter_nested),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
