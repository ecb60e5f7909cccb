/* test_reload_diff.c - unit tests for the reload's diff (reload.h): equality of config
 * nodes whatever the key order or position, components same / changed / added / removed
 * (options, inputs, type, a move between sections), and the refusals: a top-level setting
 * or an existing sink's buffer that changed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/config.h"
#include "core/reload.h"

static sl_config_doc *load(const char *text)
{
    sl_config_doc *doc = NULL;
    char err[512];
    if (config_doc_load(&doc, "c.yaml", text, err, sizeof err) != SL_OK)
        fail_msg("%s", err);
    return doc;
}

/* Runs the diff; returns its code, with the lists in *d (or the error in err). */
static int diff(const char *a, const char *b, sl_reload_diff *d, char *err, size_t errlen)
{
    sl_config_doc *x = load(a), *y = load(b);
    int rc = reload_diff(x->root, y->root, "c.yaml", d, err, errlen);
    config_doc_free(x);
    config_doc_free(y);
    return rc;
}

static void assert_list(const sl_strlist *l, const char *want)
{
    char got[512] = "";
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += (size_t)snprintf(got + n, sizeof got - n, "%s%s", i ? "," : "", l->v[i]);
    assert_string_equal(got, want);
}

static void test_node_equal(void **state)
{
    (void)state;
    sl_config_doc *a = load("x: {a: 1, b: [1, 2], c: \"s\"}\n");
    sl_config_doc *b = load("x:\n  c: \"s\"\n  b: [1, 2]\n  a: 1\n");
    sl_config_doc *c = load("x: {a: 1, b: [2, 1], c: \"s\"}\n");
    sl_config_doc *d = load("x: {a: \"1\", b: [1, 2], c: \"s\"}\n");
    sl_config_doc *e = load("x: {a: 1, b: [1, 2]}\n");
    assert_true(config_node_equal(a->root, b->root));
    assert_false(config_node_equal(a->root, c->root)); /* sequence order matters */
    assert_false(config_node_equal(a->root, d->root)); /* quoting matters: "1" is a string */
    assert_false(config_node_equal(a->root, e->root));
    assert_false(config_node_equal(e->root, a->root));
    assert_true(config_node_equal(NULL, NULL));
    assert_false(config_node_equal(a->root, NULL));
    config_doc_free(a);
    config_doc_free(b);
    config_doc_free(c);
    config_doc_free(d);
    config_doc_free(e);
}

static const char base[] =
    "data_dir: /d\n"
    "sources:\n"
    "  a: {type: demo}\n"
    "  b: {type: demo, count: 5}\n"
    "transforms:\n"
    "  t: {type: add_fields, inputs: [a], fields: {x: 1}}\n"
    "sinks:\n"
    "  o: {type: blackhole, inputs: [t]}\n"
    "  p: {type: blackhole, inputs: [b], buffer: {max_bytes: 1MiB}}\n";

static void test_components(void **state)
{
    (void)state;
    sl_reload_diff d;
    char err[512];
    /* The same document, keys reordered and lines moved: nothing changes. */
    const char *same = "sinks:\n"
                       "  p: {inputs: [b], type: blackhole, buffer: {max_bytes: 1MiB}}\n"
                       "  o: {type: blackhole, inputs: [t]}\n"
                       "data_dir: /d\n"
                       "transforms:\n"
                       "  t: {type: add_fields, inputs: [a], fields: {x: 1}}\n"
                       "sources:\n"
                       "  b: {type: demo, count: 5}\n"
                       "  a: {type: demo}\n";
    assert_int_equal(diff(base, same, &d, err, sizeof err), SL_OK);
    assert_list(&d.same, "b,a,t,p,o"); /* in the new document's order */
    assert_list(&d.changed, "");
    assert_list(&d.added, "");
    assert_list(&d.removed, "");
    reload_diff_free(&d);

    /* An option (b), what a sink reads from (o), a transform's option (t), a new sink (q),
     * a removed source (a is no longer read: t now reads b). */
    const char *next = "data_dir: /d\n"
                       "sources:\n"
                       "  b: {type: demo, count: 6}\n"
                       "transforms:\n"
                       "  t: {type: add_fields, inputs: [b], fields: {x: 1}}\n"
                       "sinks:\n"
                       "  o: {type: blackhole, inputs: [t, b]}\n"
                       "  p: {type: blackhole, inputs: [b], buffer: {max_bytes: 1MiB}}\n"
                       "  q: {type: blackhole, inputs: [b]}\n";
    assert_int_equal(diff(base, next, &d, err, sizeof err), SL_OK);
    assert_list(&d.same, "p");
    assert_list(&d.changed, "b,t,o");
    assert_list(&d.added, "q");
    assert_list(&d.removed, "a");
    reload_diff_free(&d);

    /* A type change, and an id moving from transforms to sinks: changed. */
    const char *moved = "data_dir: /d\n"
                        "sources:\n"
                        "  a: {type: stdin}\n"
                        "  b: {type: demo, count: 5}\n"
                        "sinks:\n"
                        "  t: {type: blackhole, inputs: [a]}\n"
                        "  o: {type: blackhole, inputs: [a]}\n"
                        "  p: {type: blackhole, inputs: [b], buffer: {max_bytes: 1MiB}}\n";
    assert_int_equal(diff(base, moved, &d, err, sizeof err), SL_OK);
    assert_list(&d.changed, "a,t,o");
    assert_list(&d.same, "b,p");
    assert_list(&d.removed, "");
    reload_diff_free(&d);
}

static void test_refused(void **state)
{
    (void)state;
    sl_reload_diff d;
    char err[512];
    /* data_dir changed: named with the new document's line and column */
    const char *dd = "sources: {a: {type: demo}}\n"
                     "data_dir: /e\n";
    assert_int_equal(diff(base, dd, &d, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "c.yaml:2:1: 'data_dir' cannot change while sluice runs"));
    /* a top-level setting added or removed */
    char added[2048];
    snprintf(added, sizeof added, "%sapi: {address: \"127.0.0.1:1\"}\n", base);
    assert_int_equal(diff(base, added, &d, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "'api' cannot change"));
    assert_int_equal(diff(added, base, &d, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "c.yaml:1:1: 'api' cannot change"));
    /* an existing sink's buffer */
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", base);
    char *p = strstr(buf, "1MiB");
    memcpy(p, "2MiB", 4);
    assert_int_equal(diff(base, buf, &d, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "c.yaml:9:"));
    assert_non_null(strstr(err, "sinks.p.buffer cannot change while sluice runs"));
    /* a new sink may have any buffer */
    snprintf(buf, sizeof buf, "%s  r: {type: blackhole, inputs: [a], buffer: {type: disk}}\n", base);
    assert_int_equal(diff(base, buf, &d, err, sizeof err), SL_OK);
    assert_list(&d.added, "r");
    reload_diff_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_equal),
        cmocka_unit_test(test_components),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
