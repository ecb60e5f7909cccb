/* test_syslog.c - unit tests for the syslog parser and framing: the RFC 5424 examples,
 * lines as util-linux logger and rsyslog send them, RFC 3164 variants, structured data
 * escapes, NILVALUE, BOM, the fallback from broken RFC 5424, and both TCP framings with
 * oversize frames. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/cri.h"
#include "formats/syslog.h"

/* 2026-12-04T18:00:00Z: "now" for year-less times. */
#define NOW 1796407200000000000LL

static syslog_msg parse(const char *s)
{
    syslog_msg m;
    syslog_parse(s, strlen(s), NOW, &m);
    return m;
}

static void eq(const char *p, size_t n, const char *want)
{
    if (!want) {
        assert_int_equal(n, 0);
        return;
    }
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static int64_t ts(const char *s)
{
    int64_t ns = 0;
    assert_int_equal(cri_parse_time(s, strlen(s), &ns), 0);
    return ns;
}

static void test_rfc5424_examples(void **state)
{
    /* RFC 5424 section 6.5, example 1 (with BOM) */
    syslog_msg m = parse("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                         "\xEF\xBB\xBF'su root' failed for lonvick on /dev/pts/8");
    assert_int_equal(m.version, 1);
    assert_int_equal(m.facility, 4);
    assert_int_equal(m.severity, 2);
    assert_true(m.has_pri);
    assert_false(m.fallback);
    assert_int_equal(m.ts_ns, ts("2003-10-11T22:14:15.003Z"));
    eq(m.hostname, m.hostname_len, "mymachine.example.com");
    eq(m.appname, m.appname_len, "su");
    eq(m.procid, m.procid_len, NULL);
    eq(m.msgid, m.msgid_len, "ID47");
    eq(m.sd, m.sd_len, NULL);
    eq(m.msg, m.msg_len, "'su root' failed for lonvick on /dev/pts/8");
    /* example 2 */
    m = parse("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
              "%% It's time to make the do-nuts.");
    assert_int_equal(m.facility, 20);
    assert_int_equal(m.severity, 5);
    assert_int_equal(m.ts_ns, ts("2003-08-24T12:14:15.000003Z"));
    eq(m.hostname, m.hostname_len, "192.0.2.1");
    eq(m.procid, m.procid_len, "8710");
    eq(m.msg, m.msg_len, "%% It's time to make the do-nuts.");
    /* example 3: structured data and a message */
    m = parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
              "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] "
              "\xEF\xBB\xBF" "An application event log entry...");
    eq(m.sd, m.sd_len, "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" "
                       "eventID=\"1011\"]");
    eq(m.msg, m.msg_len, "An application event log entry...");
    /* example 4: two elements, no message */
    m = parse("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
              "[exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"]"
              "[examplePriority@32473 class=\"high\"]");
    assert_int_equal(m.version, 1);
    assert_int_equal(m.msg_len, 0);
    syslog_sd_iter it;
    syslog_sd_param p;
    syslog_sd_begin(&it, m.sd, m.sd_len);
    const char *want[][3] = {{"exampleSDID@32473", "iut", "3"},
                             {"exampleSDID@32473", "eventSource", "Application"},
                             {"exampleSDID@32473", "eventID", "1011"},
                             {"examplePriority@32473", "class", "high"}};
    for (size_t i = 0; i < 4; i++) {
        assert_true(syslog_sd_next(&it, &p));
        eq(p.id, p.id_len, want[i][0]);
        eq(p.name, p.name_len, want[i][1]);
        eq(p.value, p.value_len, want[i][2]);
    }
    assert_false(syslog_sd_next(&it, &p));
}

static void test_rfc5424_nil_and_escapes(void **state)
{
    syslog_msg m = parse("<0>1 - - - - - -");
    assert_int_equal(m.version, 1);
    assert_int_equal(m.facility, 0);
    assert_int_equal(m.severity, 0);
    assert_int_equal(m.ts_ns, 0);
    assert_int_equal(m.hostname_len + m.appname_len + m.procid_len + m.msgid_len + m.sd_len, 0);
    assert_int_equal(m.msg_len, 0);
    /* escapes in values: \" \\ \] unescaped, any other backslash kept */
    m = parse("<13>1 2026-01-02T03:04:05Z h a p m [x@1 a=\"q\\\"t\" b=\"b\\\\s\" c=\"r\\]b\" "
              "d=\"\\n\"][empty] msg");
    assert_int_equal(m.version, 1);
    syslog_sd_iter it;
    syslog_sd_param p;
    syslog_sd_begin(&it, m.sd, m.sd_len);
    const char *vals[] = {"q\"t", "b\\s", "r]b", "\\n"};
    for (size_t i = 0; i < 4; i++) {
        assert_true(syslog_sd_next(&it, &p));
        char buf[16];
        size_t n = syslog_sd_unescape(p.value, p.value_len, buf);
        eq(buf, n, vals[i]);
    }
    assert_true(syslog_sd_next(&it, &p));
    assert_true(p.no_params);
    eq(p.id, p.id_len, "empty");
    assert_false(syslog_sd_next(&it, &p));
    eq(m.msg, m.msg_len, "msg");
    /* a '"' inside a value must be escaped: unescaped it ends the value early, which
     * breaks the element; the message is then read as RFC 3164 (and flagged) */
    m = parse("<13>1 2026-01-02T03:04:05Z h a p m [x@1 a=\"q\"t\"] msg");
    assert_int_equal(m.version, 0);
    assert_true(m.fallback);
}

/* Lines exactly as util-linux logger 2.38 and rsyslog 8.2302 sent them. */
static void test_real_senders(void **state)
{
    /* logger --rfc5424 -i -t app -p daemon.warning --msgid MID --sd-id meta@32473 */
    syslog_msg m = parse("<28>1 2026-12-04T18:06:52.648837+00:00 vm app 1988 MID "
                         "[timeQuality tzKnown=\"1\" isSynced=\"0\"][meta@32473 "
                         "a=\"x\\]y\\\\z\"] logger 5424 udp");
    assert_int_equal(m.version, 1);
    assert_int_equal(m.facility, 3);
    assert_int_equal(m.severity, 4);
    assert_int_equal(m.ts_ns, ts("2026-12-04T18:06:52.648837Z"));
    eq(m.procid, m.procid_len, "1988");
    eq(m.msgid, m.msgid_len, "MID");
    eq(m.msg, m.msg_len, "logger 5424 udp");
    /* logger --rfc3164 -i -t app -p local0.info */
    m = parse("<134>Dec  4 18:06:25 vm app[1372]: logger 3164 udp");
    assert_int_equal(m.version, 0);
    assert_false(m.fallback);
    assert_int_equal(m.facility, 16);
    assert_int_equal(m.severity, 6);
    assert_int_equal(m.ts_ns, ts("2026-12-04T18:06:25Z"));
    eq(m.hostname, m.hostname_len, "vm");
    eq(m.appname, m.appname_len, "app");
    eq(m.procid, m.procid_len, "1372");
    eq(m.msg, m.msg_len, "logger 3164 udp");
    /* logger -u (a local socket): no hostname */
    m = parse("<11>Dec  4 18:06:54 rsapp: via rsyslog one");
    eq(m.hostname, m.hostname_len, NULL);
    eq(m.appname, m.appname_len, "rsapp");
    eq(m.msg, m.msg_len, "via rsyslog one");
    /* rsyslog RSYSLOG_SyslogProtocol23Format (its MSG keeps the space it read) */
    m = parse("<11>1 2026-12-04T18:06:54.154253+00:00 vm rsapp - - -  via rsyslog one");
    assert_int_equal(m.version, 1);
    eq(m.appname, m.appname_len, "rsapp");
    eq(m.msg, m.msg_len, " via rsyslog one");
    /* rsyslog RSYSLOG_ForwardFormat: RFC 3339 time in an RFC 3164 header */
    m = parse("<30>2026-12-04T18:06:54.154253+00:00 vm rsapp[77]: forwarded");
    assert_int_equal(m.version, 0);
    assert_int_equal(m.ts_ns, ts("2026-12-04T18:06:54.154253Z"));
    eq(m.hostname, m.hostname_len, "vm");
    eq(m.appname, m.appname_len, "rsapp");
    eq(m.procid, m.procid_len, "77");
    eq(m.msg, m.msg_len, "forwarded");
    /* rsyslog's traditional forward format */
    m = parse("<13>Dec  4 18:06:54 vm rsapp: plain");
    eq(m.hostname, m.hostname_len, "vm");
    eq(m.msg, m.msg_len, "plain");
}

static void test_rfc3164_variants(void **state)
{
    /* RFC 3164 section 5.4 examples */
    syslog_msg m = parse("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick");
    assert_int_equal(m.facility, 4);
    assert_int_equal(m.severity, 2);
    assert_int_equal(m.ts_ns, ts("2026-10-11T22:14:15Z"));
    eq(m.hostname, m.hostname_len, "mymachine");
    eq(m.appname, m.appname_len, "su");
    eq(m.msg, m.msg_len, "'su root' failed for lonvick");
    m = parse("<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!");
    eq(m.hostname, m.hostname_len, "10.0.0.99");
    eq(m.appname, m.appname_len, NULL);
    eq(m.msg, m.msg_len, "Use the BFG!");
    /* a December line read early in the next year is last year's; January read in
     * December is the coming year's only within a month */
    syslog_msg j;
    syslog_parse("<13>Dec 31 23:59:59 h a: x", 26, ts("2027-01-01T00:00:10Z"), &j);
    assert_int_equal(j.ts_ns, ts("2026-12-31T23:59:59Z"));
    syslog_parse("<13>Jan  1 00:00:01 h a: x", 26, ts("2026-12-31T23:59:50Z"), &j);
    assert_int_equal(j.ts_ns, ts("2027-01-01T00:00:01Z"));
    /* a year before the time, fractions, a colon after the time (network gear) */
    m = parse("<13>Mar  1 2024 18:46:11 h a: y");
    assert_int_equal(m.ts_ns, ts("2024-03-01T18:46:11Z"));
    m = parse("<187>Mar  1 18:46:11.123: %LINK-3-UPDOWN: Interface up");
    assert_int_equal(m.ts_ns, ts("2026-03-01T18:46:11.123Z"));
    assert_int_equal(m.facility, 23);
    eq(m.hostname, m.hostname_len, NULL);
    /* no PRI: the default user.notice, all of it the message */
    m = parse("just some text");
    assert_false(m.has_pri);
    assert_int_equal(m.facility, 1);
    assert_int_equal(m.severity, 5);
    eq(m.msg, m.msg_len, "just some text");
    /* a PRI out of range is not a PRI */
    m = parse("<192>Oct 11 22:14:15 h a: x");
    assert_false(m.has_pri);
    /* PRI alone, a tag without time */
    m = parse("<14>sshd[42]: accepted");
    assert_true(m.has_pri);
    eq(m.appname, m.appname_len, "sshd");
    eq(m.procid, m.procid_len, "42");
    eq(m.msg, m.msg_len, "accepted");
    m = parse("<14>");
    assert_int_equal(m.msg_len, 0);
    /* RFC 5424 with a bad time falls back and is flagged */
    m = parse("<13>1 2026-13-45T00:00:00Z h a - - - x");
    assert_int_equal(m.version, 0);
    assert_true(m.fallback);
    assert_int_equal(m.severity, 5);
    /* over-long APP-NAME (49 > 48) */
    m = parse("<13>1 - h aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa - - - x");
    assert_true(m.fallback);
    /* names */
    assert_string_equal(syslog_facility_name(23), "local7");
    assert_string_equal(syslog_severity_name(4), "warning");
    assert_string_equal(syslog_facility_name(24), "unknown");
}

/* Feeds `in` to the framer in pieces of `step` bytes as a connection would, collecting
 * frames as "msg|" (a frame cut to max as "msg~|") and outcomes. */
static void frames(const char *in, size_t n, size_t max, size_t step, char *out, size_t outlen,
                   int *too_big, int *empty)
{
    syslog_framer f = {0};
    char buf[4096];
    size_t have = 0, fed = 0;
    out[0] = 0;
    *too_big = *empty = 0;
    for (;;) {
        size_t k = n - fed < step ? n - fed : step;
        memcpy(buf + have, in + fed, k);
        have += k;
        fed += k;
        bool eof = fed == n;
        for (;;) {
            const char *msg;
            size_t len, used;
            int r = syslog_frame_next(&f, buf, have, max, eof, &msg, &len, &used);
            if (r == SYSLOG_FRAME)
                snprintf(out + strlen(out), outlen - strlen(out), "%.*s|", (int)len, msg);
            if (r == SYSLOG_TRUNCATED) {
                snprintf(out + strlen(out), outlen - strlen(out), "%.*s~|", (int)len, msg);
                (*too_big)++;
            }
            if (r == SYSLOG_EMPTY)
                (*empty)++;
            memmove(buf, buf + used, have - used);
            have -= used;
            if (r == SYSLOG_NEED_MORE && used == 0)
                break;
        }
        if (eof)
            break;
    }
}

/* timezone: a zoneless RFC 3164 time moved to the sender's zone; RFC 5424 times keep theirs */
static void test_timezone(void **state)
{
    bool local;
    int32_t off;
    assert_true(syslog_tz_parse("UTC", &local, &off) && !local && off == 0);
    assert_true(syslog_tz_parse("+02:00", &local, &off) && !local && off == 7200);
    assert_true(syslog_tz_parse("-0530", &local, &off) && off == -19800);
    assert_true(syslog_tz_parse("local", &local, &off) && local);
    const char *bad[] = {"Europe/Berlin", "+2", "+25:00", "02:00", "+02:60", "", "CET"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(syslog_tz_parse(bad[i], &local, &off));

    syslog_msg m = parse("<13>Mar  1 18:46:11 h a: y");
    assert_true(m.zoneless);
    assert_int_equal(syslog_tz_apply(m.ts_ns, false, 7200), ts("2026-03-01T16:46:11Z"));
    assert_int_equal(syslog_tz_apply(m.ts_ns, false, -19800), ts("2026-03-02T00:16:11Z"));
    m = parse("<13>1 2026-03-01T18:46:11+01:00 h a - - - y");
    assert_false(m.zoneless);
    m = parse("<13>2026-03-01T18:46:11Z h a: y");
    assert_false(m.zoneless);

    /* local: the process's zone, daylight saving included (Berlin: +01:00 in winter,
     * +02:00 in summer) */
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    m = parse("<13>Jan 15 12:00:00 h a: y");
    assert_int_equal(syslog_tz_apply(m.ts_ns, true, 0), ts("2026-01-15T11:00:00Z"));
    m = parse("<13>Jul 15 12:00:00 h a: y");
    assert_int_equal(syslog_tz_apply(m.ts_ns, true, 0), ts("2026-07-15T10:00:00Z"));
    unsetenv("TZ");
    tzset();
}

static void test_framing(void **state)
{
    const char *in = "5 <1>ab<2>lf one\r\n12 <3>1 - - - -<4>x\n0 \n9X not a count\n";
    char out[512];
    int tb, em;
    for (size_t step = 1; step <= strlen(in); step++) {
        frames(in, strlen(in), 64, step, out, sizeof out, &tb, &em);
        assert_string_equal(out, "<1>ab|<2>lf one|<3>1 - - - -|<4>x|9X not a count|");
        assert_int_equal(tb, 0);
        assert_int_equal(em, 2);
    }
    /* oversize: the first max bytes are a message (as rsyslog cuts them), the rest is
     * skipped, an octet-counted frame's by its count, an LF frame's up to its LF; the frames
     * after each come through */
    const char *big = "20 aaaaaaaaaaaaaaaaaaaa<5>ok\nbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n<6>ok2\n"
                      "12345678901 x\nccccccccccccccccc\n";
    for (size_t step = 1; step <= strlen(big); step++) {
        frames(big, strlen(big), 16, step, out, sizeof out, &tb, &em);
        assert_string_equal(out, "aaaaaaaaaaaaaaaa~|<5>ok|bbbbbbbbbbbbbbbb~|<6>ok2|12345678901 x|"
                                 "cccccccccccccccc~|");
        assert_int_equal(tb, 3);
    }
    /* an oversize octet-counted frame cut by the close before max bytes came is not one */
    frames("100 <7>cut", 10, 16, 3, out, sizeof out, &tb, &em);
    assert_string_equal(out, "");
    /* the last LF frame without its LF is delivered at eof; a cut count is not */
    frames("<7>tail", 7, 64, 3, out, sizeof out, &tb, &em);
    assert_string_equal(out, "<7>tail|");
    frames("30 <7>cut", 9, 64, 4, out, sizeof out, &tb, &em);
    assert_string_equal(out, "");
}

/* Frames that end in NUL instead of LF (RFC 6587 3.4.2 allows another trailer; some senders
 * use NUL) are split as LF frames are, mixed with LF and octet-counted ones. */
static void test_framing_nul(void **state)
{
    static const char in[] = "<1>one\0<2>two\r\0<3>three\n\0" "7 <4>four" "<5>five\0"
                             "<6>a\0<7>b\n";
    size_t n = sizeof in - 1;
    char out[512];
    int tb, em;
    for (size_t step = 1; step <= n; step++) {
        frames(in, n, 64, step, out, sizeof out, &tb, &em);
        assert_string_equal(out, "<1>one|<2>two|<3>three|<4>four|<5>five|<6>a|<7>b|");
        assert_int_equal(tb, 0);
        assert_int_equal(em, 1); /* the NUL right after "<3>three\n" */
    }
    /* an oversize frame is cut to max and the rest skipped up to its NUL; the next comes
     * through */
    static const char big[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbb\0<8>ok\0";
    for (size_t step = 1; step < sizeof big; step++) {
        frames(big, sizeof big - 1, 16, step, out, sizeof out, &tb, &em);
        assert_string_equal(out, "bbbbbbbbbbbbbbbb~|<8>ok|");
        assert_int_equal(tb, 1);
    }
    /* a last frame without its NUL is delivered at eof, as one without its LF */
    frames("<9>x\0<9>tail", 12, 64, 5, out, sizeof out, &tb, &em);
    assert_string_equal(out, "<9>x|<9>tail|");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc5424_examples),
        cmocka_unit_test(test_rfc5424_nil_and_escapes),
        cmocka_unit_test(test_real_senders),
        cmocka_unit_test(test_rfc3164_variants),
        cmocka_unit_test(test_timezone),
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_framing_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
