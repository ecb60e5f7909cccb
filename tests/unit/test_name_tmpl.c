/* test_name_tmpl.c - the name templates the elasticsearch index and the s3 key_prefix share:
 * parts as compiled under each user's rules ("%%" a literal or a date part, refused
 * literals and conversions with the messages users see), the date digits of an event's own
 * time and the value of a field of each type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "core/common.h"
#include "core/event.h"
#include "formats/name_tmpl.h"

static bool no_percent(unsigned char c) { return c != '%' && c != ' '; }

static const name_rules any = {.what = "index", .dates = "YmdHyj%"};
static const name_rules strict = {.what = "key_prefix", .dates = "YmdHMj%", .lit_ok = no_percent,
                                  .lit_desc = "[no % or space]"};

static void test_parts(void **state)
{
    (void)state;
    name_tmpl t;
    char err[200];
    assert_int_equal(name_tmpl_compile(&t, "a-{{  k.x }}-%Y%%z", &any, err, sizeof err), SL_OK);
    assert_int_equal(t.n, 5);
    assert_int_equal(t.parts[0].kind, NAME_LIT);
    assert_string_equal(t.parts[0].text, "a-");
    assert_int_equal(t.parts[1].kind, NAME_FIELD);
    assert_string_equal(t.parts[1].text, "k.x"); /* spaces trimmed */
    assert_int_equal(t.parts[3].kind, NAME_DATE);
    assert_string_equal(t.parts[3].text, "Y");
    assert_int_equal(t.parts[4].kind, NAME_LIT);
    assert_string_equal(t.parts[4].text, "%z"); /* "%%" is a literal where '%' may be */
    assert_true(t.dynamic && t.fields);
    name_tmpl_free(&t);

    /* where '%' may not be literal, "%%" is a date part the user renders */
    assert_int_equal(name_tmpl_compile(&t, "p/%%", &strict, err, sizeof err), SL_OK);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.parts[1].kind, NAME_DATE);
    assert_string_equal(t.parts[1].text, "%");
    assert_false(t.fields);
    name_tmpl_free(&t);

    assert_int_equal(name_tmpl_compile(&t, "", &strict, err, sizeof err), SL_OK);
    assert_int_equal(t.n, 0);
    assert_false(t.dynamic);
    name_tmpl_free(&t);
}

static void test_refused(void **state)
{
    (void)state;
    name_tmpl t;
    char err[200];
    assert_int_not_equal(name_tmpl_compile(&t, "x-%M", &any, err, sizeof err), SL_OK);
    assert_string_equal(err, "index \"x-%M\": unsupported date conversion at 2 (use %Y %m %d %H "
                             "%y %j %%)");
    assert_int_not_equal(name_tmpl_compile(&t, "x-%", &any, err, sizeof err), SL_OK);
    assert_int_not_equal(name_tmpl_compile(&t, "x-{{ a", &any, err, sizeof err), SL_OK);
    assert_string_equal(err, "index \"x-{{ a\": unclosed {{");
    assert_int_not_equal(name_tmpl_compile(&t, "x-{{  }}", &any, err, sizeof err), SL_OK);
    assert_string_equal(err, "index \"x-{{  }}\": empty {{ }}");
    assert_int_not_equal(name_tmpl_compile(&t, "a b", &strict, err, sizeof err), SL_OK);
    assert_string_equal(err, "key_prefix \"a b\": character at 1 not in [no % or space]");
    char big[700];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_not_equal(name_tmpl_compile(&t, big, &any, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "too long"));
}

static void test_dates_and_values(void **state)
{
    (void)state;
    struct tm tm;
    name_gmtime(1764076245, &tm); /* 2025-11-25 13:10:45 UTC, day 329 */
    char d[8];
    const char *want[][2] = {{"Y", "2025"}, {"y", "25"}, {"m", "11"}, {"d", "25"},
                             {"H", "13"},   {"M", "10"}, {"j", "329"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(want); i++) {
        int n = name_date_digits(want[i][0][0], &tm, d);
        assert_int_equal(n, (int)strlen(want[i][1]));
        assert_memory_equal(d, want[i][1], (size_t)n);
    }
    assert_int_equal(name_date_digits('Q', &tm, d), 0);

    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->ts_ns = -1; /* just before the epoch: second -1 */
    assert_int_equal(name_event_sec(e), -1);
    event_set_str(b, e, "s", "long-value", 10);
    sl_field *f = event_add_field(b, e, "i", 1);
    f->type = SL_VAL_INT;
    f->v.i = -42;
    f = event_add_field(b, e, "b", 1);
    f->type = SL_VAL_BOOL;
    f->v.b = true;
    name_part ps = {NAME_FIELD, "s", 1}, pi = {NAME_FIELD, "i", 1}, pb = {NAME_FIELD, "b", 1},
              pm = {NAME_FIELD, "missing", 7};
    char num[32];
    const char *v;
    size_t n = name_field_value(&ps, e, 4, num, &v);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "long", 4); /* at most max bytes */
    n = name_field_value(&pi, e, 100, num, &v);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "-42", 3);
    n = name_field_value(&pb, e, 100, num, &v);
    assert_int_equal(n, 4);
    assert_memory_equal(v, "true", 4);
    n = name_field_value(&pm, e, 100, num, &v);
    assert_int_equal(n, 7);
    assert_memory_equal(v, "unknown", 7);
    batch_release(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_dates_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
