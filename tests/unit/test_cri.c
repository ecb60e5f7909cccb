/* test_cri.c - unit tests for the CRI and Docker json-file line parsers and RFC 3339 times.
 * Covers tags, streams, offsets in times, escapes, partial entries and rejections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "formats/cri.h"

static int64_t t(const char *s)
{
    int64_t ns = 0;
    assert_int_equal(cri_parse_time(s, strlen(s), &ns), 0);
    return ns;
}

static void test_time(void **state)
{
    assert_int_equal(t("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(t("1970-01-01T00:00:01.5Z"), 1500000000LL);
    assert_int_equal(t("2024-01-15T10:20:30.123456789Z"), 1705314030123456789LL);
    /* more than 9 fraction digits: extra ones ignored */
    assert_int_equal(t("2024-01-15T10:20:30.1234567891Z"), 1705314030123456789LL);
    assert_int_equal(t("2024-01-15T12:20:30+02:00"), 1705314030000000000LL);
    assert_int_equal(t("2024-01-15T08:20:30.000000001-02:00"), 1705314030000000001LL);
    assert_int_equal(t("2000-02-29T00:00:00Z"), 951782400000000000LL); /* leap day */
    /* fractions of every length around the 8-digit fast path */
    assert_int_equal(t("1970-01-01T00:00:00.98765432Z"), 987654320LL);
    assert_int_equal(t("1970-01-01T00:00:00.9876543Z"), 987654300LL);
    assert_int_equal(t("1970-01-01T00:00:00.000000090Z"), 90LL);
    assert_int_equal(t("1970-01-01T00:00:00.099999999Z"), 99999999LL);
    assert_int_equal(t("1970-01-01T00:00:00.12345678912345Z"), 123456789LL);
    assert_int_equal(t("1970-01-01T00:00:00.12345678+01:00"), -3600000000000LL + 123456780LL);
    int64_t ns;
    /* the per-minute cache never accepts what the full parse rejects */
    assert_int_equal(cri_parse_time("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\000000Z", 20, &ns), -1);
    assert_int_equal(t("2024-01-15T10:20:59Z"), 1705314059000000000LL);
    assert_int_equal(t("2024-01-15T10:20:00Z"), 1705314000000000000LL);
    assert_int_equal(cri_parse_time("2024-01-15T10:20:6xZ", 20, &ns), -1);
    assert_int_equal(cri_parse_time("2024-01-15T10:20:00.1234:678Z", 29, &ns), -1);
    assert_int_equal(cri_parse_time("2024-01-15T10:20:00.1234/678Z", 29, &ns), -1);
    /* nanoseconds in int64 reach from 1677-09-21 to 2262-04-11: beyond is refused */
    assert_int_equal(t("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
    assert_int_equal(t("1677-09-22T00:00:00Z"), -9223286400LL * 1000000000LL);
    assert_int_equal(cri_parse_time("2262-04-11T23:47:16.854775808Z", 30, &ns), -1);
    assert_int_equal(cri_parse_time("9999-12-31T23:59:59Z", 20, &ns), -1);
    assert_int_equal(cri_parse_time("0001-01-01T00:00:00Z", 20, &ns), -1);
    const char *bad[] = {"", "2024-01-15", "2024-01-15T10:20:30", "2024-13-15T10:20:30Z",
                         "2024-01-15T25:20:30Z", "2024-01-15T10:20:30.Z", "2024-01-15T10:20:30Zx",
                         "2024-01-15T10:20:30+0200", "2O24-01-15T10:20:30Z", "2024-01-15T10:20:30+02:0x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cri_parse_time(bad[i], strlen(bad[i]), &ns), -1);
}

/* The 30-byte nanosecond form of a cached minute takes a short path: every value and every
 * refusal must be those of the general parse (seen with the cache cold, other minute). */
static void test_time_cached_minute(void **state)
{
    static const char *const in[] = {
        "2024-01-15T10:20:30.123456789Z", "2024-01-15T10:20:00.000000000Z",
        "2024-01-15T10:20:59.999999999Z", "2024-01-15T10:20:60.000000001Z",
        "2024-01-15T10:20:61.000000001Z", "2024-01-15T10:20:30.12345678xZ",
        "2024-01-15T10:20:30.1234567x9Z", "2024-01-15T10:20:30.123456789z",
        "2024-01-15T10:20:30,123456789Z", "2024-01-15T10:20:3x.123456789Z",
        "2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775808Z",
        "2262-04-11T23:47:59.999999999Z",
    };
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        int64_t cold = 0, warm = 0, other;
        cri_parse_time("1999-09-09T09:09:09Z", 20, &other); /* another minute */
        int rc_cold = cri_parse_time(in[i], 30, &cold);
        int rc_warm = cri_parse_time(in[i], 30, &warm); /* the same minute: cached */
        assert_int_equal(rc_cold, rc_warm);
        if (rc_cold == 0)
            assert_int_equal(cold, warm);
    }
    assert_int_equal(t("2024-01-15T10:20:30.123456789Z"), 1705314030123456789LL);
    assert_int_equal(t("2024-01-15T10:20:31.000000007Z"), 1705314031000000007LL);
}

static void cri_ok(const char *s, int stream, bool partial, const char *msg)
{
    cri_line l;
    const char *why = NULL;
    assert_int_equal(cri_parse(s, strlen(s), &l, &why), 0);
    assert_int_equal(l.stream, stream);
    assert_int_equal(l.partial, partial);
    assert_int_equal(l.len, strlen(msg));
    assert_memory_equal(l.msg, msg, l.len);
}

static void cri_bad(const char *s, const char *reason)
{
    cri_line l;
    const char *why = NULL;
    assert_int_equal(cri_parse(s, strlen(s), &l, &why), -1);
    assert_string_equal(why, reason);
}

static void test_cri(void **state)
{
    /* the first space ends the time, also when byte 30 is a space too */
    cri_ok("2024-01-15T10:20:30.123456789Z stdout F hello world", CRI_STDOUT, false,
           "hello world");
    cri_ok("2024-01-15T10:20:30Z stdout F 0 hello", CRI_STDOUT, false, "0 hello");
    cri_ok("2024-01-15T10:20:30.12Z stdout F 0123456 x", CRI_STDOUT, false, "0123456 x");
    cri_bad("2024-01-15 10:20:30.12345678Z stdout F x", "cri_timestamp");
    cri_ok("2024-01-15T10:20:30.1Z stdout F hello world", CRI_STDOUT, false, "hello world");
    cri_ok("2024-01-15T10:20:30.1Z stderr P part ", CRI_STDERR, true, "part ");
    cri_ok("2024-01-15T10:20:30.1Z stdout F ", CRI_STDOUT, false, "");
    cri_ok("2024-01-15T10:20:30.1Z stdout F", CRI_STDOUT, false, "");
    cri_ok("2024-01-15T10:20:30.1Z stdout F:x:y tagged", CRI_STDOUT, false, "tagged");
    cri_ok("2024-01-15T10:20:30.1Z stdout F  two spaces", CRI_STDOUT, false, " two spaces");
    cri_bad("garbage", "cri_parse");
    cri_bad("\x01\x02 stdout F x", "cri_parse");
    cri_bad("2024-01-15T99:20:30Z stdout F x", "cri_timestamp");
    cri_bad("2024-01-15T10:20:30Z stdin F x", "cri_parse");
    cri_bad("2024-01-15T10:20:30Z stdout X x", "cri_parse");
    cri_bad("2024-01-15T10:20:30Z stdout FF x", "cri_parse");
    cri_bad("2024-01-15T10:20:30Z stdout", "cri_parse");
    cri_line l;
    const char *why;
    assert_int_equal(cri_parse("2024-01-15T10:20:30.5Z stdout F x", 33, &l, &why), 0);
    assert_int_equal(l.ts_ns, 1705314030500000000LL);
}

static void docker_ok(const char *s, int stream, bool partial, const char *msg)
{
    char scratch[512];
    cri_line l;
    const char *why = NULL;
    assert_int_equal(docker_json_parse(s, strlen(s), scratch, &l, &why), 0);
    assert_int_equal(l.stream, stream);
    assert_int_equal(l.partial, partial);
    assert_int_equal(l.len, strlen(msg));
    assert_memory_equal(l.msg, msg, l.len);
}

/* The "attrs" object of a line (docker's --log-opt labels, env, tag), as its text; NULL
 * for none. */
static void docker_attrs(const char *s, const char *attrs)
{
    char scratch[512];
    cri_line l;
    memset(&l, 0x5a, sizeof l); /* a reused cri_line: nothing of the last line stays */
    const char *why = NULL;
    assert_int_equal(docker_json_parse(s, strlen(s), scratch, &l, &why), 0);
    if (!attrs) {
        assert_null(l.attrs);
        assert_int_equal(l.attrs_len, 0);
        return;
    }
    assert_non_null(l.attrs);
    assert_int_equal(l.attrs_len, strlen(attrs));
    assert_memory_equal(l.attrs, attrs, l.attrs_len);
}

static void docker_bad(const char *s, const char *reason)
{
    char scratch[512];
    cri_line l;
    const char *why = NULL;
    assert_int_equal(docker_json_parse(s, strlen(s), scratch, &l, &why), -1);
    assert_string_equal(why, reason);
}

static void test_docker(void **state)
{
    docker_ok("{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:20:30Z\"}",
              CRI_STDOUT, false, "hello");
    docker_ok("{\"stream\":\"stderr\",\"log\":\"no newline\",\"time\":\"2024-01-15T10:20:30Z\"}",
              CRI_STDERR, true, "no newline");
    docker_ok(" { \"log\" : \"q\\\"b\\\\s\\/\\t\\u00e9\\ud83d\\ude00\\ud800x\\n\" , \"attrs\":"
              "{\"a\":[1,2.5e3,true,null,{\"b\":\"c\"}]}, \"stream\":\"stdout\", "
              "\"time\":\"2024-01-15T10:20:30.000000001Z\" } ",
              CRI_STDOUT, false, "q\"b\\s/\t\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbdx");
    docker_bad("not json", "json_parse");
    docker_bad("{\"log\":\"x\\n\",\"stream\":\"stdout\"", "json_parse");
    docker_bad("{\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"yesterday\"}", "json_timestamp");
    docker_bad("{\"log\":\"x\\n\",\"stream\":\"stdout\"}", "json_timestamp");
    docker_bad("{\"log\":\"x\\q\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:20:30Z\"}",
               "json_parse");
    docker_bad("{\"log\":\"x\",\"stream\":\"other\",\"time\":\"2024-01-15T10:20:30Z\"}",
               "json_parse");
    docker_bad("{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:20:30Z\"} extra",
               "json_parse");
    docker_bad("{}", "json_parse");
    docker_bad("{\"log\":\"\\u12\"}", "json_parse");
    docker_bad("{\"log\":\"x\\n\",\"attrs\":{\"a\":},\"stream\":\"stdout\","
               "\"time\":\"2024-01-15T10:20:30Z\"}", "json_parse");
}

static void test_docker_attrs(void **state)
{
    /* as dockerd writes it with --log-opt labels=...,env=...,tag=... */
    docker_attrs("{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"attrs\":{\"tag\":\"web\","
                 "\"com.example.team\":\"pay\\\"ments\",\"ENV\":\"prod\"},"
                 "\"time\":\"2024-01-15T10:20:30Z\"}",
                 "{\"tag\":\"web\",\"com.example.team\":\"pay\\\"ments\",\"ENV\":\"prod\"}");
    docker_attrs("{\"attrs\" : { } ,\"log\":\"hi\\n\",\"stream\":\"stdout\","
                 "\"time\":\"2024-01-15T10:20:30Z\"}", "{ }");
    docker_attrs("{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-15T10:20:30Z\"}",
                 NULL);
    /* not an object: not docker's, ignored */
    docker_attrs("{\"log\":\"hi\\n\",\"attrs\":\"x\",\"stream\":\"stdout\","
                 "\"time\":\"2024-01-15T10:20:30Z\"}", NULL);
    cri_line l;
    memset(&l, 0x5a, sizeof l);
    const char *why;
    assert_int_equal(cri_parse("2024-01-15T10:20:30.5Z stdout F x", 33, &l, &why), 0);
    assert_null(l.attrs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_time_cached_minute),
        cmocka_unit_test(test_cri),
        cmocka_unit_test(test_docker),
        cmocka_unit_test(test_docker_attrs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
