/* test_parse.c - the transforms that structure raw lines: parse (json, logfmt, regex, auto;
 * field, target; on_error keep, drop, dlq), severity (every spelling, number, default) and
 * route (by tag or any field). Correlation fields must come out untouched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"

static char data_dir[] = "/tmp/sluice-test-parse.XXXXXX";

#include "tf_harness.h"

static void assert_msg(const sl_event *e, const char *v)
{
    assert_int_equal(e->message.len, strlen(v));
    assert_memory_equal(e->message.ptr, v, e->message.len);
}

static uint64_t errors(const tf *t)
{
    return metrics_error_count(t->cc.metrics, "parse");
}

static void test_json(void **state)
{
    tf *t = tf_new("parse", "format: json\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b,
        "{\"timestamp\":\"2024-01-15T10:30:45.123Z\",\"level\":\"info\",\"message\":\"Job "
        "processing started\",\"job_id\":\"job-789\",\"n\":5,\"f\":1.5,\"ok\":true,\"nul\":null,"
        "\"http\":{\"status\":500},\"tags\":[\"a\",2],\"s\":\"tab\\there\"}");
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_int_equal(b->n, 1);
    assert_msg(e, "Job processing started");
    assert_int_equal(e->ts_ns, 1705314645123000000LL);
    assert_null(get(e, "timestamp"));
    assert_null(get(e, "message"));
    assert_str(e, "level", "info");
    assert_int_equal(get(e, "n")->type, SL_VAL_INT);
    assert_int_equal(get(e, "n")->v.i, 5);
    assert_int_equal(get(e, "f")->type, SL_VAL_FLOAT);
    assert_true(get(e, "f")->v.f == 1.5);
    assert_int_equal(get(e, "ok")->type, SL_VAL_BOOL);
    assert_int_equal(get(e, "nul")->type, SL_VAL_NULL);
    assert_int_equal(get(e, "http")->type, SL_VAL_JSON);
    assert_int_equal(get(e, "tags")->type, SL_VAL_JSON);
    assert_str(e, "s", "tab\there");
    /* 4 correlation fields (job_id replaced by the same value) + 8 parsed ones, and the
     * field array holds exactly those: message and time are not fields */
    assert_int_equal(e->nfields, 12);
    assert_true(e->cap_fields <= 13);
    assert_corr(e);

    /* not JSON, on_error keep: unchanged and counted */
    uint64_t before = errors(t);
    e = corr_event(b, "{\"broken\": ");
    sl_event *e2 = batch_add(b);
    e2->message = batch_str(b, "plain words", 11);
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_int_equal(b->n, 3);
    assert_msg(&b->events[1], "{\"broken\": ");
    assert_int_equal(b->events[1].nfields, 4);
    assert_corr(&b->events[1]);
    assert_int_equal(errors(t), before + 3); /* the first event is JSON no more */
    batch_release(b);
    tf_free(t);
}

/* Keys the event already has, and keys repeated in the object, are set in place (the last
 * value wins) and never duplicated, whatever the keys: a pool of 40 keys of many lengths
 * and end bytes against a reference model of the rule, in 300 random objects with up to
 * 30 members and up to 6 fields already there. */
static void test_json_existing_and_repeated_keys(void **state)
{
    static const char *const pool[] = {
        "a", "b", "ab", "ba", "aa", "stream", "level", "lvl", "job_id", "jobid", "x1", "x2",
        "y1", "trace_id", "span_id", "k", "kk", "kkk", "kkkk", "kkkkk", "worker_id", "w",
        "machine_id", "duration_ms", "ok", "okay", "zz", "za", "az", "host", "hostname",
        "pod", "p0d", "pad", "n0", "n1", "n2", "n10", "n11", "service"};
    enum { NPOOL = sizeof pool / sizeof pool[0] };
    tf *t = tf_new("parse", "format: json\n");
    uint64_t rnd = 11;
    for (int round = 0; round < 300; round++) {
        sl_batch *b = batch_new(1);
        sl_event *e = batch_add(b);
        const char *model_key[64];
        int64_t model_val[64];
        size_t nm = 0;
        size_t pre = (rnd = rnd * 6364136223846793005ull + 1442695040888963407ull) >> 33 & 7;
        for (size_t i = 0; i < pre && i < 6; i++) {
            const char *k = pool[(rnd = rnd * 6364136223846793005ull + 1) >> 33 & 31];
            event_set_int(b, e, k, -1 - (int64_t)i);
            size_t j = 0;
            while (j < nm && strcmp(model_key[j], k))
                j++;
            model_key[j] = k;
            model_val[j] = -1 - (int64_t)i;
            nm += j == nm;
        }
        char line[2048];
        size_t len = 0;
        size_t members = 1 + ((rnd = rnd * 6364136223846793005ull + 1) >> 33) % 30;
        line[len++] = '{';
        for (size_t i = 0; i < members; i++) {
            const char *k = pool[((rnd = rnd * 6364136223846793005ull + 1) >> 33) % NPOOL];
            len += (size_t)snprintf(line + len, sizeof line - len, "%s\"%s\":%zu",
                                    i ? "," : "", k, i);
            size_t j = 0;
            while (j < nm && strcmp(model_key[j], k))
                j++;
            model_key[j] = k;
            model_val[j] = (int64_t)i;
            nm += j == nm;
        }
        line[len++] = '}';
        line[len] = '\0';
        e->message = batch_str(b, line, len);
        assert_int_equal(t->vt->process(t->self, b), SL_OK);
        e = &b->events[0];
        if (e->nfields != nm)
            fail_msg("%s: %u fields, expected %zu", line, e->nfields, nm);
        for (size_t j = 0; j < nm; j++) {
            const sl_field *f = &e->fields[j];
            assert_int_equal(f->key.len, strlen(model_key[j]));
            assert_memory_equal(f->key.ptr, model_key[j], f->key.len);
            assert_int_equal(f->type, SL_VAL_INT);
            assert_int_equal(f->v.i, model_val[j]);
        }
        batch_release(b);
    }
    tf_free(t);
}

/* Every message and time key, and keys that look like them but are not (note 2). */
static void test_json_message_time_keys(void **state)
{
    tf *t = tf_new("parse", "format: json\n");
    static const struct { const char *line, *msg; int64_t ts; int nfields; } cases[] = {
        {"{\"msg\":\"a\",\"ts\":1700000000}", "a", 1700000000000000000LL, 0},
        {"{\"message\":\"b\",\"time\":\"2024-01-15T10:30:45Z\"}", "b", 1705314645000000000LL, 0},
        {"{\"@timestamp\":\"2024-01-15T10:30:45.5Z\",\"m\":1}", NULL, 1705314645500000000LL, 1},
        {"{\"timestamp\":1700000000000,\"mess\":\"x\",\"tsx\":2,\"msgs\":\"y\"}", NULL,
         1700000000000000000LL, 3},
        /* a "message" of another type is the message as its JSON text, never a field
         * (encoders would write it as a second "message"); null leaves the line */
        {"{\"message\":5,\"time\":\"soon\",\"ts\":true,\"Msg\":\"z\"}", "5", 1, 3},
        {"{\"message\": {\"a\": [1, true]},\"k\":1}", "{\"a\": [1, true]}", 1, 1},
        {"{\"message\":false}", "false", 1, 0},
        {"{\"message\":null,\"k\":1}", NULL, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sl_batch *b = batch_new(1);
        sl_event *e = batch_add(b);
        e->ts_ns = 1;
        e->message = batch_str(b, cases[i].line, strlen(cases[i].line));
        assert_int_equal(t->vt->process(t->self, b), SL_OK);
        e = &b->events[0];
        assert_msg(e, cases[i].msg ? cases[i].msg : cases[i].line);
        assert_int_equal(e->ts_ns, cases[i].ts);
        assert_int_equal(e->nfields, cases[i].nfields);
        assert_null(get(e, "message"));
        batch_release(b);
    }
    /* Two message or two time keys: "message" is the message and the other stays a field,
     * the first time read is the time and the rest stay fields; none is lost. */
    static const struct { const char *fmt, *line, *msg, *key, *val; int64_t ts; } two[] = {
        {"json", "{\"msg\":\"a\",\"message\":\"b\"}", "b", "msg", "a", 1},
        {"json", "{\"message\":\"b\",\"msg\":\"a\"}", "b", "msg", "a", 1},
        {"json", "{\"msg\":\"a\",\"message\":[1]}", "[1]", "msg", "a", 1},
        {"json", "{\"ts\":\"2024-01-15T10:30:45Z\",\"time\":\"2024-01-15T10:30:46Z\"}", NULL,
         "time", "2024-01-15T10:30:46Z", 1705314645000000000LL},
        {"logfmt", "msg=a message=b", "b", "msg", "a", 1},
        {"logfmt", "time=2024-01-15T10:30:45Z ts=nope msg=x", "x", "ts", "nope",
         1705314645000000000LL},
        {"logfmt", "ts=2024-01-15T10:30:45Z time=2024-01-15T10:30:46Z msg=x", "x", "time",
         "2024-01-15T10:30:46Z", 1705314645000000000LL},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(two); i++) {
        char yaml[32];
        snprintf(yaml, sizeof yaml, "format: %s\n", two[i].fmt);
        tf *t2 = tf_new("parse", yaml);
        sl_batch *b = batch_new(1);
        sl_event *e = batch_add(b);
        e->ts_ns = 1;
        e->message = batch_str(b, two[i].line, strlen(two[i].line));
        assert_int_equal(t2->vt->process(t2->self, b), SL_OK);
        e = &b->events[0];
        assert_msg(e, two[i].msg ? two[i].msg : two[i].line);
        assert_int_equal(e->ts_ns, two[i].ts);
        if (!get(e, two[i].key))
            fail_msg("%s: no field %s", two[i].line, two[i].key);
        assert_str(e, two[i].key, two[i].val);
        batch_release(b);
        tf_free(t2);
    }
    /* the same through the DOM, for objects wider than the scanner takes */
    sl_buf wide = SL_BUF_INIT;
    buf_puts(&wide, "{\"msg\":\"m\",\"message\":[7]");
    for (int i = 0; i < 80; i++)
        buf_printf(&wide, ",\"k%d\":%d", i, i);
    buf_putc(&wide, '}');
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, wide.p, wide.len);
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_msg(&b->events[0], "[7]");
    assert_int_equal(b->events[0].nfields, 81);
    assert_str(&b->events[0], "msg", "m");
    assert_null(get(&b->events[0], "message"));
    batch_release(b);
    buf_free(&wide);
    tf_free(t);
}

/* Times as loggers write them become the event time, with the key consumed: a space for
 * the T, a comma fraction, +hhmm, no offset (UTC), epoch digits in a string. */
static void test_time_spellings(void **state)
{
    const int64_t t0 = 1704164645LL * 1000000000; /* 2024-01-02T03:04:05Z */
    static const struct { const char *v; int64_t off_ns; } ok[] = {
        {"2024-01-02T03:04:05Z", 0},
        {"2024-01-02 03:04:05", 0},
        {"2024-01-02 03:04:05,123", 123000000},
        {"2024-01-02T03:04:05.5+0100", -3600000000000LL + 500000000},
        {"2024-01-02T03:04:05-05", 5 * 3600000000000LL},
        {"2024-01-02T03:04:05.000001", 1000},
        {"1704164645", 0},
        {"1704164645123", 123000000},
        {"1704164645123456789", 123456789},
        {"1704164645.25", 250000000},
    };
    static const char *const bad[] = {"17.", "0", "2024-01-02T03:04:05 UTC", "2024-13-02T03:04:05",
                                      "02/Jan/2024:03:04:05 +0000", "2024-01-02T03:04:05+1",
                                      "99999999999999999999", "9999999999999999999", "1.2.3"};
    for (int fmt = 0; fmt < 2; fmt++) {
        tf *t = tf_new("parse", fmt ? "format: logfmt\n" : "format: json\n");
        for (size_t i = 0; i < sizeof ok / sizeof ok[0] + sizeof bad / sizeof bad[0]; i++) {
            bool good = i < sizeof ok / sizeof ok[0];
            const char *v = good ? ok[i].v : bad[i - sizeof ok / sizeof ok[0]];
            char line[128];
            snprintf(line, sizeof line,
                     fmt ? "timestamp=\"%s\" a=1" : "{\"timestamp\":\"%s\",\"a\":1}", v);
            sl_batch *b = batch_new(1);
            sl_event *e = batch_add(b);
            e->ts_ns = 7;
            e->message = batch_str(b, line, strlen(line));
            assert_int_equal(t->vt->process(t->self, b), SL_OK);
            e = &b->events[0];
            if (good) {
                assert_int_equal(e->ts_ns, t0 + ok[i].off_ns);
                assert_null(get(e, "timestamp"));
            } else {
                assert_int_equal(e->ts_ns, 7);
                assert_non_null(get(e, "timestamp"));
            }
            batch_release(b);
        }
        tf_free(t);
    }
}

/* One line through a parse built from yaml: the event time and the message after it. */
static int64_t parse_time(const char *yaml, const char *line, const char *field,
                          const char *field_val)
{
    tf *t = tf_new("parse", yaml);
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->ts_ns = 7;
    e->message = batch_str(b, line, strlen(line));
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    e = &b->events[0];
    int64_t ts = e->ts_ns;
    if (field && !get(e, field))
        fail_msg("%s: no field %s", line, field);
    if (field)
        assert_str(e, field, field_val);
    batch_release(b);
    tf_free(t);
    return ts;
}

/* time_key, time_format and timezone, as Fluent Bit's Time_Key, Time_Format and
 * Time_Offset: an access log's [14/Nov/2023:22:13:20 -0700] is the event time. */
static void test_time_format(void **state)
{
    const char *apache = "1.2.3.4 - - [14/Nov/2023:22:13:20 -0700] \"GET / HTTP/1.1\" 200 5";
    const char *re = "format: regex\npattern: '^(?<host>\\S+) \\S+ \\S+ \\[(?<time>[^\\]]+)\\] "
                     "\"(?<method>\\S+)'\n";
    char yaml[512];
    snprintf(yaml, sizeof yaml, "%stime_format: '%%d/%%b/%%Y:%%H:%%M:%%S %%z'\n", re);
    assert_int_equal(parse_time(yaml, apache, "method", "GET"), 1700025200000000000LL);
    /* without it the text stays a field and the event its time */
    assert_int_equal(parse_time(re, apache, "time", "14/Nov/2023:22:13:20 -0700"), 7);
    /* a format that does not read it: the same, said in the log */
    snprintf(yaml, sizeof yaml, "%stime_format: '%%Y-%%m-%%d'\n", re);
    assert_int_equal(parse_time(yaml, apache, "time", "14/Nov/2023:22:13:20 -0700"), 7);
    /* %L, another key, a zone for a time without one; "time" is then a field */
    assert_int_equal(parse_time("format: logfmt\ntime_key: at\ntimezone: '+02:00'\n"
                                "time_format: '%Y-%m-%d %H:%M:%S.%L'\n",
                                "at=\"2024-01-02 03:04:05.123456\" time=x msg=hi", "time", "x"),
                     1704157445123456000LL);
    assert_int_equal(parse_time("format: json\ntime_key: date\n",
                                "{\"date\":\"2024-01-02T03:04:05Z\",\"ts\":5}", NULL, NULL),
                     1704164645000000000LL);
    /* timezone applies to the built-in spellings without an offset, not to one with */
    assert_int_equal(parse_time("format: json\ntimezone: '+01:00'\n",
                                "{\"time\":\"2024-01-02 03:04:05\"}", NULL, NULL),
                     1704161045000000000LL);
    assert_int_equal(parse_time("format: json\ntimezone: '+01:00'\n",
                                "{\"time\":\"2024-01-02T03:04:05Z\"}", NULL, NULL),
                     1704164645000000000LL);
    /* a format without a year: this year's date (last year's when that is months ahead) */
    int64_t ts = parse_time("format: regex\n"
                            "pattern: '^(?<time>\\w+ +\\d+ [\\d:]+) (?<message>.*)'\n"
                            "time_format: '%b %d %H:%M:%S'\n", "Jan  2 03:04:05 sshd: hi", NULL,
                            NULL);
    time_t sec = (time_t)(ts / 1000000000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    assert_int_equal(tm.tm_mon, 0);
    assert_int_equal(tm.tm_mday, 2);
    assert_int_equal(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec, 3 * 3600 + 4 * 60 + 5);
    assert_true(sec <= time(NULL) + 31 * 86400 && sec > time(NULL) - 366 * 86400);
    assert_int_not_equal(tf_init_fails("parse", "timezone: Mars/Olympus\n"), 0);
    assert_int_not_equal(tf_init_fails("parse", "target: x\ntime_key: at\n"), 0);
    assert_int_not_equal(tf_init_fails("parse", "field: raw\ntime_format: '%s'\n"), 0);
}

/* types, as Fluent Bit's Types: regex groups (text) and logfmt or JSON values take the
 * type named; a value that cannot be one stays as it was. */
static void test_types(void **state)
{
    tf *t = tf_new("parse", "format: regex\n"
                   "pattern: '^(?<code>\\S+) (?<size>\\S+) (?<ratio>\\S+) (?<ok>\\S+) "
                   "(?<id>\\S+)'\n"
                   "types: {code: integer, size: integer, ratio: float, ok: bool, id: string}\n");
    sl_batch *b = batch_new(2);
    const char *lines[] = {"200 1234 0.25 TRUE 007", "404 - 1 no 8"};
    for (int i = 0; i < 2; i++) {
        sl_event *e = batch_add(b);
        e->message = batch_str(b, lines[i], strlen(lines[i]));
    }
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    const sl_event *e = &b->events[0];
    assert_int_equal(get(e, "code")->type, SL_VAL_INT);
    assert_int_equal(get(e, "code")->v.i, 200);
    assert_int_equal(get(e, "size")->v.i, 1234);
    assert_int_equal(get(e, "ratio")->type, SL_VAL_FLOAT);
    assert_true(get(e, "ratio")->v.f == 0.25);
    assert_int_equal(get(e, "ok")->type, SL_VAL_BOOL);
    assert_true(get(e, "ok")->v.b);
    assert_str(e, "id", "007");
    e = &b->events[1];
    assert_int_equal(get(e, "code")->v.i, 404);
    assert_str(e, "size", "-"); /* not a number: kept */
    assert_int_equal(get(e, "ratio")->type, SL_VAL_FLOAT);
    assert_str(e, "ok", "no");
    batch_release(b);
    tf_free(t);

    /* logfmt keeps a string key's text; JSON numbers become strings or floats; a target's
     * prefix is the key's */
    t = tf_new("parse", "format: logfmt\ntarget: x\ntypes: {id: string, n: float, q: integer}\n");
    b = batch_new(1);
    sl_event *ev = batch_add(b);
    ev->message = batch_str(b, "id=007 n=3 q=\"42\"", 17);
    t->vt->process(t->self, b);
    assert_str(&b->events[0], "x.id", "007");
    assert_int_equal(get(&b->events[0], "x.n")->type, SL_VAL_FLOAT);
    assert_int_equal(get(&b->events[0], "x.q")->v.i, 42);
    batch_release(b);
    tf_free(t);
    t = tf_new("parse", "format: json\ntypes: {v: string, w: string}\n");
    b = batch_new(1);
    ev = batch_add(b);
    ev->message = batch_str(b, "{\"v\":1.5,\"w\":12}", 16);
    t->vt->process(t->self, b);
    assert_str(&b->events[0], "v", "1.5");
    assert_str(&b->events[0], "w", "12");
    batch_release(b);
    tf_free(t);
    assert_int_not_equal(tf_init_fails("parse", "types: {a: int}\n"), 0);
}

static void test_on_error(void **state)
{
    tf *t = tf_new("parse", "format: json\non_error: drop\n");
    sl_batch *b = batch_new(4);
    corr_event(b, "{\"a\":1}");
    corr_event(b, "not json");
    corr_event(b, "{\"b\":2}");
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_int_equal(b->n, 2);
    assert_non_null(get(&b->events[0], "a"));
    assert_non_null(get(&b->events[1], "b"));
    assert_corr(&b->events[1]);
    batch_release(b);
    tf_free(t);

    t = tf_new("parse", "format: json\non_error: dlq\n");
    b = batch_new(4);
    corr_event(b, "{\"a\":1}");
    corr_event(b, "dead letter line");
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_int_equal(b->n, 1);
    batch_release(b);
    tf_free(t);
    char path[256], line[4096];
    snprintf(path, sizeof path, "%s/dlq/t.ndjson", data_dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "dead letter line"));
    assert_non_null(strstr(line, "job-789"));

    /* An event with nothing to parse says so, not what the format thinks of no text. */
    assert_int_equal(unlink(path), 0);
    t = tf_new("parse", "format: json\nfield: payload\non_error: dlq\n");
    b = batch_new(4);
    corr_event(b, "no payload here");
    sl_event *e = corr_event(b, "payload of another type");
    sl_field *pf = event_add_field(b, e, "payload", 7);
    pf->type = SL_VAL_INT;
    pf->v.i = 5;
    assert_int_equal(t->vt->process(t->self, b), SL_OK);
    assert_int_equal(b->n, 0);
    batch_release(b);
    tf_free(t);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    assert_non_null(strstr(line, "\"reason\":\"no field payload\""));
    assert_non_null(fgets(line, sizeof line, fp));
    assert_non_null(strstr(line, "\"reason\":\"field payload is not a string\""));
    fclose(fp);
}

static void test_logfmt_regex(void **state)
{
    tf *t = tf_new("parse", "format: logfmt\n");
    sl_batch *b = batch_new(2);
    sl_event *e = corr_event(b, "ts=2024-01-15T10:30:46Z level=WARNING msg=\"disk almost full\" "
                                "pct=93.5 count=3 ok=true debug");
    t->vt->process(t->self, b);
    assert_msg(e, "disk almost full");
    assert_int_equal(e->ts_ns, 1705314646000000000LL);
    assert_str(e, "level", "WARNING");
    assert_int_equal(get(e, "pct")->type, SL_VAL_FLOAT);
    assert_int_equal(get(e, "count")->type, SL_VAL_INT);
    assert_int_equal(get(e, "count")->v.i, 3);
    assert_int_equal(get(e, "ok")->type, SL_VAL_BOOL);
    assert_int_equal(get(e, "debug")->type, SL_VAL_BOOL); /* a bare key */
    assert_corr(e);
    batch_release(b);
    /* An '=' inside a value is the value's (a query string), as Vector's parse_logfmt
     * reads it; an integer too long for 64 bits keeps its digits (a Datadog trace id),
     * where a float would change them. Both in auto mode too. */
    for (int fmt = 0; fmt < 2; fmt++) {
        tf *t2 = fmt ? tf_new("parse", "format: auto\n") : t;
        b = batch_new(1);
        e = corr_event(b, "level=warn path=/a?b=c&d==e dd.trace_id=12345678901234567890 "
                          "n=-9223372036854775809 f=1e400 g=1.5e3");
        t2->vt->process(t2->self, b);
        assert_str(e, "path", "/a?b=c&d==e");
        assert_str(e, "dd.trace_id", "12345678901234567890");
        assert_str(e, "n", "-9223372036854775809");
        assert_str(e, "f", "1e400");
        assert_int_equal(get(e, "g")->type, SL_VAL_FLOAT);
        assert_str(e, "level", "warn");
        batch_release(b);
        if (fmt)
            tf_free(t2);
    }
    tf_free(t);

    t = tf_new("parse", "format: regex\non_error: drop\n"
                        "pattern: '^(?<ts>\\S+) (?<level>[A-Z]+) (?<message>.*)$'\n");
    b = batch_new(2);
    e = corr_event(b, "2024-01-15T10:30:46Z ERROR boom happened");
    corr_event(b, "no match here");
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 1);
    e = &b->events[0];
    assert_msg(e, "boom happened");
    assert_int_equal(e->ts_ns, 1705314646000000000LL);
    assert_str(e, "level", "ERROR");
    assert_corr(e);
    batch_release(b);
    /* Lines a multiline transform joined: the message group takes the stack trace too,
     * with or without the $ */
    static const char trace[] = "2024-01-15T10:30:46Z ERROR request failed\n"
                                "java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)";
    b = batch_new(1);
    e = corr_event(b, trace);
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 1);
    assert_msg(&b->events[0], strchr(trace, 'r'));
    batch_release(b);
    tf_free(t);
    t = tf_new("parse", "format: regex\npattern: '^(?<ts>\\S+) (?<level>[A-Z]+) (?<message>.*)'\n");
    b = batch_new(1);
    e = corr_event(b, trace);
    t->vt->process(t->self, b);
    assert_msg(&b->events[0], strchr(trace, 'r'));
    batch_release(b);
    tf_free(t);
    char err[256];
    sl_config_doc *doc;
    const sl_transform_vtable *vt = registry_transform("parse");
    static const char *const bad[] = {"format: regex\n", "format: regex\npattern: '('\n",
                                      "format: regex\npattern: 'no groups'\n",
                                      "format: json\npattern: '(?<a>x)'\n"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        assert_int_equal(config_doc_load(&doc, "test", bad[i], err, sizeof err), 0);
        void *cfg = calloc(1, vt->config_size), *self = NULL;
        const sl_option *tabs[] = {vt->options};
        void *bases[] = {cfg};
        int rc = config_apply(tabs, bases, 1, doc->root, NULL, "test", "t", err, sizeof err);
        sl_component_ctx cc = {.id = "t", .type = "parse", .data_dir = data_dir,
                               .metrics = metrics_register("t", "transform", "parse")};
        if (rc == 0)
            rc = vt->init(&self, cfg, &cc, err, sizeof err);
        assert_int_not_equal(rc, 0);
        config_options_free(vt->options, cfg);
        free(cfg);
        config_doc_free(doc);
    }
}

static void test_auto_field_target(void **state)
{
    tf *t = tf_new("parse", "format: auto\n");
    sl_batch *b = batch_new(4);
    corr_event(b, "{\"level\":\"info\",\"msg\":\"json\"}");
    corr_event(b, "level=info msg=logfmt");
    corr_event(b, "just some plain text = not logfmt");
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 3);
    assert_msg(&b->events[0], "json");
    assert_msg(&b->events[1], "logfmt");
    assert_str(&b->events[1], "level", "info");
    assert_msg(&b->events[2], "just some plain text = not logfmt");
    assert_int_equal(b->events[2].nfields, 4);
    for (int i = 0; i < 3; i++)
        assert_corr(&b->events[i]);
    batch_release(b);
    tf_free(t);

    /* a field, into a prefix: the message stays, msg is an ordinary key there */
    t = tf_new("parse", "format: json\nfield: raw\ntarget: http\n");
    b = batch_new(2);
    sl_event *e = corr_event(b, "line");
    event_set_str(b, e, "raw", "{\"status\":404,\"msg\":\"nf\"}", 25);
    sl_event *none = corr_event(b, "no raw field");
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 2); /* keep */
    assert_msg(e, "line");
    assert_int_equal(get(e, "http.status")->v.i, 404);
    assert_str(e, "http.msg", "nf");
    assert_corr(e);
    assert_int_equal(none->nfields, 4);
    batch_release(b);
    tf_free(t);
}

static void test_severity(void **state)
{
    static const struct {
        const char *in;
        const char *word;
        int num;
    } cases[] = {
        {"trace", "trace", 1}, {"TRACE", "trace", 1}, {"verbose", "trace", 1},
        {"debug", "debug", 5}, {"DBG", "debug", 5},   {"7", "debug", 5},
        {"info", "info", 9},   {"Information", "info", 9}, {"I", "info", 9},
        {"notice", "info", 10}, {"6", "info", 9},     {"30", "info", 9},
        {"warn", "warn", 13},  {"WARNING", "warn", 13}, {"W", "warn", 13}, {"4", "warn", 13},
        {"error", "error", 17}, {"Err", "error", 17}, {"E", "error", 17}, {"3", "error", 17},
        {"50", "error", 17},   {"fatal", "fatal", 21}, {"CRITICAL", "fatal", 21},
        {"panic", "fatal", 21}, {"emerg", "fatal", 21}, {"0", "fatal", 21},
        /* Serilog's three letters, .NET's console logger, zap's development panic */
        {"VRB", "trace", 1},   {"trce", "trace", 1}, {"dbug", "debug", 5},
        {"fail", "error", 17}, {"FTL", "fatal", 21}, {"crit", "fatal", 21},
        {"dpanic", "fatal", 21},
        /* PostgreSQL's levels */
        {"LOG", "info", 9},    {"DEBUG1", "debug", 5}, {"DEBUG5", "debug", 5},
    };
    tf *t = tf_new("severity", "field: lvl\nnumber_field: sevnum\n");
    sl_batch *b = batch_new(SL_ARRAY_LEN(cases));
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        sl_event *e = corr_event(b, "x");
        event_set_str(b, e, "lvl", cases[i].in, strlen(cases[i].in));
    }
    t->vt->process(t->self, b);
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        const sl_event *e = &b->events[i];
        const sl_field *f = get(e, "level");
        if (!f)
            fail_msg("no level for %s", cases[i].in);
        if (f->v.s.len != strlen(cases[i].word) || memcmp(f->v.s.ptr, cases[i].word, f->v.s.len))
            fail_msg("%s -> %.*s, want %s", cases[i].in, (int)f->v.s.len, f->v.s.ptr, cases[i].word);
        /* notice is INFO2 (10) */
        if (get(e, "sevnum")->v.i != cases[i].num && !(cases[i].num == 10 && get(e, "sevnum")->v.i == 9))
            fail_msg("%s -> %lld, want %d", cases[i].in, (long long)get(e, "sevnum")->v.i, cases[i].num);
        assert_corr(e);
    }
    batch_release(b);
    tf_free(t);

    /* default field list, integer levels (pino), default for the rest */
    t = tf_new("severity", "default: info\n");
    b = batch_new(3);
    sl_event *e = corr_event(b, "x");
    event_set_int(b, e, "severity", 50);
    sl_event *none = corr_event(b, "y");
    t->vt->process(t->self, b);
    assert_str(e, "level", "error");
    assert_str(none, "level", "info");
    assert_corr(none);
    batch_release(b);
    tf_free(t);

    /* A level it cannot read is never replaced by the default: "audit" stays where it was
     * (the number says the default); written to another target, the default is. A float
     * that is a whole number reads as the integer. */
    t = tf_new("severity", "default: info\nnumber_field: sevnum\n");
    b = batch_new(3);
    e = corr_event(b, "x");
    event_set_str(b, e, "level", "audit", 5);
    sl_event *fl = corr_event(b, "y");
    sl_field *ff = event_add_field(b, fl, "level", 5);
    ff->type = SL_VAL_FLOAT;
    ff->v.f = 40.0;
    t->vt->process(t->self, b);
    assert_str(e, "level", "audit");
    assert_int_equal(get(e, "sevnum")->v.i, 9);
    assert_str(fl, "level", "warn");
    batch_release(b);
    tf_free(t);
    t = tf_new("severity", "default: info\ntarget: severity_text\n");
    b = batch_new(1);
    e = corr_event(b, "x");
    event_set_str(b, e, "level", "audit", 5);
    t->vt->process(t->self, b);
    assert_str(e, "level", "audit");
    assert_str(e, "severity_text", "info");
    batch_release(b);
    tf_free(t);
}

static void test_route(void **state)
{
    static const char *const tags[] = {"app", "app.api", "web.front", "web.front.x", "db"};
    tf *t = tf_new("route", "match: [\"app.**\", \"web.*\"]\n");
    sl_batch *b = batch_new(5);
    for (size_t i = 0; i < SL_ARRAY_LEN(tags); i++)
        event_set_str(b, corr_event(b, tags[i]), "tag", tags[i], strlen(tags[i]));
    corr_event(b, "no tag");
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 3);
    assert_msg(&b->events[0], "app");
    assert_msg(&b->events[1], "app.api");
    assert_msg(&b->events[2], "web.front");
    assert_corr(&b->events[2]);
    batch_release(b);
    tf_free(t);

    /* by another field, inverted */
    t = tf_new("route", "field: service\nmatch: \"{billing,auth}\"\ninvert: true\n");
    b = batch_new(3);
    event_set_str(b, corr_event(b, "a"), "service", "billing", 7);
    event_set_str(b, corr_event(b, "b"), "service", "search", 6);
    event_set_str(b, corr_event(b, "c"), "service", "auth", 4);
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 1);
    assert_msg(&b->events[0], "b");
    assert_corr(&b->events[0]);
    batch_release(b);
    tf_free(t);
}

static int setup(void **state)
{
    if (!mkdtemp(data_dir))
        return -1;
    tf_data_dir = data_dir;
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json),         cmocka_unit_test(test_on_error),
        cmocka_unit_test(test_logfmt_regex), cmocka_unit_test(test_auto_field_target),
        cmocka_unit_test(test_severity),     cmocka_unit_test(test_route),
        cmocka_unit_test(test_json_existing_and_repeated_keys),
        cmocka_unit_test(test_json_message_time_keys),
        cmocka_unit_test(test_time_spellings),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_types),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
