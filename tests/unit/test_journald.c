/* test_journald.c - the pure rules of the journald source: units to matches (".service"
 * added as Vector does), field names accepted in `matches`, PRIORITY to severity, journal
 * timestamps, entry data split at '=', ids from cursors; and `matches` values given as a
 * list (SL_OPT_MULTI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/config.h"
#include "formats/journald.h"

static void test_units(void **state)
{
    (void)state;
    char m[64];
    assert_int_equal(journald_unit_match("nginx", m, sizeof m), 27);
    assert_string_equal(m, "_SYSTEMD_UNIT=nginx.service");
    assert_int_equal(journald_unit_match("cron.timer", m, sizeof m), 24);
    assert_string_equal(m, "_SYSTEMD_UNIT=cron.timer");
    assert_int_equal(journald_unit_match("user@1000.service", m, sizeof m), 31);
    assert_string_equal(m, "_SYSTEMD_UNIT=user@1000.service");
    assert_int_equal(journald_unit_match("", m, sizeof m), -1);
    char small[25];
    assert_int_equal(journald_unit_match("abc", small, sizeof small), -1); /* needs 25 + NUL */
    char exact[26];
    assert_int_equal(journald_unit_match("abc", exact, sizeof exact), 25);
    assert_string_equal(exact, "_SYSTEMD_UNIT=abc.service");
}

static void test_field_names(void **state)
{
    (void)state;
    assert_true(journald_field_name_ok("SYSLOG_IDENTIFIER"));
    assert_true(journald_field_name_ok("_PID"));
    assert_true(journald_field_name_ok("A1"));
    assert_false(journald_field_name_ok(""));
    assert_false(journald_field_name_ok("1A"));
    assert_false(journald_field_name_ok("lower"));
    assert_false(journald_field_name_ok("A=B"));
    char longname[70];
    memset(longname, 'A', 65);
    longname[65] = 0;
    assert_false(journald_field_name_ok(longname));
    longname[64] = 0;
    assert_true(journald_field_name_ok(longname));
}

static void test_severity(void **state)
{
    (void)state;
    const char *want[8] = {"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"};
    for (int i = 0; i < 8; i++) {
        char c = (char)('0' + i);
        assert_string_equal(journald_severity(&c, 1), want[i]);
    }
    assert_null(journald_severity("8", 1));
    assert_null(journald_severity("", 0));
    assert_null(journald_severity("03", 2));
    assert_null(journald_severity("x", 1));
}

static void test_usec(void **state)
{
    (void)state;
    int64_t ns = 0;
    assert_true(journald_parse_usec("1700000000000001", 16, &ns));
    assert_true(ns == 1700000000000001000LL);
    assert_true(journald_parse_usec("0", 1, &ns) && ns == 0);
    assert_false(journald_parse_usec("", 0, &ns));
    assert_false(journald_parse_usec("12a", 3, &ns));
    assert_false(journald_parse_usec("-1", 2, &ns));
    assert_false(journald_parse_usec("9223372036854776", 16, &ns)); /* x1000 overflows */
    assert_true(journald_parse_usec("9223372036854775", 16, &ns));
}

static void test_field_key(void **state)
{
    (void)state;
    assert_int_equal(journald_field_key_len("MESSAGE=hi", 10), 7);
    assert_int_equal(journald_field_key_len("MESSAGE=", 8), 7);
    assert_int_equal(journald_field_key_len("X=a=b", 5), 1);
    assert_int_equal(journald_field_key_len("=x", 2), -1);
    assert_int_equal(journald_field_key_len("NOEQ", 4), -1);
    assert_int_equal(journald_field_key_len("AB=", 2), -1); /* '=' past len */
}

static void test_cursor_id(void **state)
{
    (void)state;
    uint64_t a, sa, b, sb, c, sc;
    journald_cursor_id("s=cbfd48d03a424b5dac0862a62cf18058;i=2a;b=0123;m=3e8;t=60a;x=fc", &a, &sa);
    assert_true(sa == 0x2a);
    /* the same seqnum id with other b/m/t/x parts: the same stream */
    journald_cursor_id("s=cbfd48d03a424b5dac0862a62cf18058;i=2b;b=9;m=1;t=2;x=3", &b, &sb);
    assert_true(a == b && sb == 0x2b);
    journald_cursor_id("s=0000;i=2a;b=0123;m=3e8;t=60a;x=fc", &c, &sc);
    assert_true(c != a && sc == 0x2a);
    /* not a cursor: a hash of it, seq 0, and never a crash */
    journald_cursor_id("garbage", &c, &sc);
    assert_true(sc == 0);
    journald_cursor_id("s=ab;i=zz", &c, &sc);
    assert_true(sc == 0);
    journald_cursor_id("s=ab;i=11111111111111111", &c, &sc); /* 17 hex digits */
    assert_true(sc == 0);
    journald_cursor_id("", &c, &sc);
    assert_true(sc == 0);
}

typedef struct m_cfg {
    sl_strmap matches;
} m_cfg;

static const sl_option m_opts[] = {
    {"matches", SL_OPT_STRMAP, offsetof(m_cfg, matches), NULL, SL_OPT_MULTI, NULL, NULL, 0, 0, "m"},
    SL_OPT_END,
};

static int apply(const char *text, m_cfg *c, char *err, size_t errlen)
{
    sl_config_doc *doc;
    int rc = config_doc_load(&doc, "cfg.yaml", text, err, errlen);
    assert_int_equal(rc, SL_OK);
    memset(c, 0, sizeof *c);
    const sl_option *const tabs[1] = {m_opts};
    void *const bases[1] = {c};
    rc = config_apply(tabs, bases, 1, doc->root, NULL, doc->path, "sources.j", err, errlen);
    config_doc_free(doc);
    return rc;
}

static void test_matches_lists(void **state)
{
    (void)state;
    char err[256];
    m_cfg c;
    assert_int_equal(apply("matches: { PRIORITY: [\"3\", \"4\"], _PID: 7 }\n", &c, err, sizeof err),
                     SL_OK);
    assert_int_equal(c.matches.n, 3);
    assert_string_equal(c.matches.keys[0], "PRIORITY");
    assert_string_equal(c.matches.vals[0], "3");
    assert_string_equal(c.matches.keys[1], "PRIORITY");
    assert_string_equal(c.matches.vals[1], "4");
    assert_string_equal(c.matches.keys[2], "_PID");
    assert_string_equal(c.matches.vals[2], "7");
    config_options_free(m_opts, &c);
    assert_int_not_equal(apply("matches: { A: [[x]] }\n", &c, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "a string or a list of strings"));
    assert_non_null(strstr(err, "cfg.yaml:1:"));
    config_options_free(m_opts, &c);
    assert_int_not_equal(apply("matches: { A: { b: c } }\n", &c, err, sizeof err), SL_OK);
    config_options_free(m_opts, &c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),      cmocka_unit_test(test_field_names),
        cmocka_unit_test(test_severity),   cmocka_unit_test(test_usec),
        cmocka_unit_test(test_field_key),  cmocka_unit_test(test_cursor_id),
        cmocka_unit_test(test_matches_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
