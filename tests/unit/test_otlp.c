/* test_otlp.c - severity spellings, the logfmt tokenizer, OTLP JSON encoding of one event
 * (structure, ids, nested values, UTF-8 repair) and the partial_success reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/severity.h"
#include "sinks/otlp/otlp.h"
#include "transforms/parse.h"
#include "gunzip_one.h"

static void test_severity(void **state)
{
    static const struct { const char *s; int n; } cases[] = {
        {"trace", 1}, {"DEBUG", 5}, {"dbg", 5}, {"Info", 9}, {" informational ", 9}, {"I", 9},
        {"notice", 10}, {"WARNING", 13}, {"w", 13}, {"err", 17}, {"Error", 17},
        {"fatal", 21}, {"CRIT", 21}, {"emerg", 21}, {"3", 17}, {"7", 5}, {"30", 9},
        {"60", 21}, {"loud", 0}, {"", 0}, {"8", 0}, {"123456789012345678901", 0},
        {"wArNiNg", 13}, {"INFORMATIONAL", 9}, {"PANIC", 21}, {"inf\xc3\xa9", 0}, {"[info]", 0},
        /* every length of the word list, and near misses of each */
        {"t", 1}, {"c", 21}, {"n", 10}, {"x", 0}, {"crt", 21}, {"Eror", 17}, {"debu", 5},
        {"infx", 0}, {"Finer", 1}, {"alert", 21}, {"errorx", 0}, {"Finest", 1}, {"CONFIG", 5},
        {"severe", 17}, {"verbose", 1}, {"warnin", 0}, {"critical", 21}, {"criticaL", 21},
        {"emergency", 21}, {"emergenc", 0}, {"information", 9}, {"informationa", 0},
        {"informationalx", 0}, {"informationalxyz", 0}, {"info\x01", 0}, {"in", 0},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        sl_severity s = severity_from_text(cases[i].s, strlen(cases[i].s));
        if (s.number != cases[i].n)
            print_error("%s -> %d\n", cases[i].s, s.number);
        assert_int_equal(s.number, cases[i].n);
    }
    assert_string_equal(severity_text(13), "WARN");
    assert_null(severity_text(0));
}

typedef struct { int n; char out[512]; } lf_acc;

static void lf_collect(void *arg, const logfmt_pair *p)
{
    lf_acc *a = arg;
    size_t l = strlen(a->out);
    snprintf(a->out + l, sizeof a->out - l, "[%.*s|%.*s|%d%d]", (int)p->keylen, p->key,
             (int)p->vallen, p->val ? p->val : "", p->quoted, p->bare);
    a->n++;
}

static void test_logfmt(void **state)
{
    sl_arena ar;
    arena_init(&ar, 1024);
    lf_acc a = {0};
    const char *s = "level=info msg=\"a \\\"b\\\" c\" n=3 flag empty=";
    assert_int_equal(logfmt_parse(s, strlen(s), false, &ar, lf_collect, &a), 5);
    assert_string_equal(a.out, "[level|info|00][msg|a \"b\" c|10][n|3|00][flag||01][empty||00]");
    memset(&a, 0, sizeof a);
    /* strict (auto): prose and bare words are not logfmt, nothing is reported */
    assert_int_equal(logfmt_parse(s, strlen(s), true, &ar, lf_collect, &a), -1);
    assert_int_equal(a.n, 0);
    const char *bad[] = {"hello world", "", "a=\"open", "a=b\"c", "=x", "a=\"x\"y"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_equal(logfmt_parse(bad[i], strlen(bad[i]), false, &ar, lf_collect, &a), -1);
    arena_free(&ar);
}

static void test_encode_json(void **state)
{
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    e->ts_ns = 1705314645123000000LL;
    e->message = batch_str(b, "bad \xff byte", 10);
    event_set_str(b, e, "level", "warning", 7);
    event_set_str(b, e, "trace_id", "0AF7651916CD43DD8448EB211C80319C", 32);
    event_set_str(b, e, "span_id", "short", 5);
    event_set_str(b, e, "service.name", "api", 3);
    sl_field *f = event_add_field(b, e, "http", 4);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"status\":500,\"t\":[1.5,null]}", 29);
    event_set_int(b, e, "n", -7);
    const char *nf[3] = {"inf", "ninf", "nan"};
    double nfv[3] = {INFINITY, -INFINITY, NAN};
    for (int i = 0; i < 3; i++) {
        f = event_add_field(b, e, nf[i], strlen(nf[i]));
        f->type = SL_VAL_FLOAT;
        f->v.f = nfv[i];
    }
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    sl_event *evs[1] = {e};
    sl_buf out = SL_BUF_INIT;
    otlp_encode(&out, true, evs, 1, &m, 42);
    buf_putc(&out, '\0');
    const char *want =
        "{\"resourceLogs\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":"
        "{\"stringValue\":\"api\"}}]},\"scopeLogs\":[{\"scope\":{\"name\":\"sluice\",\"version\":\"";
    assert_memory_equal(out.p, want, strlen(want));
    assert_non_null(strstr(out.p, "\"timeUnixNano\":\"1705314645123000000\",\"observedTimeUnixNano\":\"42\""));
    assert_non_null(strstr(out.p, "\"severityNumber\":13,\"severityText\":\"WARN\""));
    assert_non_null(strstr(out.p, "\"body\":{\"stringValue\":\"bad \\ufffd byte\"}") ||
                    strstr(out.p, "\"body\":{\"stringValue\":\"bad \xef\xbf\xbd byte\"}"));
    assert_non_null(strstr(out.p, "{\"key\":\"span_id\",\"value\":{\"stringValue\":\"short\"}}"));
    assert_non_null(strstr(out.p, "{\"key\":\"http\",\"value\":{\"kvlistValue\":{\"values\":["
                                  "{\"key\":\"status\",\"value\":{\"intValue\":\"500\"}},"
                                  "{\"key\":\"t\",\"value\":{\"arrayValue\":{\"values\":["
                                  "{\"doubleValue\":1.5},{}]}}}]}}}"));
    assert_non_null(strstr(out.p, "{\"key\":\"n\",\"value\":{\"intValue\":\"-7\"}}"));
    /* non-finite doubles as proto3 JSON strings (the collector refuses null) */
    assert_non_null(strstr(out.p, "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"Infinity\"}}"));
    assert_non_null(strstr(out.p, "{\"key\":\"ninf\",\"value\":{\"doubleValue\":\"-Infinity\"}}"));
    assert_non_null(strstr(out.p, "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}}"));
    assert_non_null(strstr(out.p, "\"traceId\":\"0af7651916cd43dd8448eb211c80319c\""));
    assert_null(strstr(out.p, "spanId"));
    assert_null(strstr(out.p, "\"key\":\"level\""));
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    assert_non_null(json_parse(&a, out.p, out.len - 1, err, sizeof err));
    arena_free(&a);
    /* protobuf: starts with field 1 (resource_logs), length-delimited */
    buf_reset(&out);
    otlp_encode(&out, false, evs, 1, &m, 42);
    assert_true(out.len > 20);
    assert_int_equal((unsigned char)out.p[0], 0x0A);
    buf_free(&out);
    batch_release(b);
}

/* A structured body (no message, a `body` object), and resource grouping: events of one
 * resource share one ResourceLogs; resource_keys and the well-known keys go there. */
static void test_body_and_resources(void **state)
{
    sl_batch *b = batch_new(4);
    sl_event *e = batch_add(b);
    e->ts_ns = 1;
    sl_field *f = event_add_field(b, e, "body", 4);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"k\":[true,2.5]}", 16);
    event_set_str(b, e, "cloud.provider", "aws", 3);
    event_set_str(b, e, "aws.log.group.names", "/ecs/api", 8);
    e = batch_add(b);
    e->message = batch_str(b, "two", 3);
    event_set_str(b, e, "team", "core", 4);
    event_set_str(b, e, "kubernetes.pod_name", "p1", 2);
    e = batch_add(b);
    e->message = batch_str(b, "three", 5);
    event_set_str(b, e, "cloud.provider", "aws", 3);
    event_set_str(b, e, "aws.log.group.names", "/ecs/api", 8);
    sl_strmap res = {0};
    char *rk[] = {"team"};
    sl_strlist keys = {.v = rk, .n = 1};
    otlp_map m = {.resource = &res, .resource_keys = &keys, .body_field = "body"};
    sl_event *evs[3] = {&b->events[0], &b->events[1], &b->events[2]};
    sl_buf out = SL_BUF_INIT;
    otlp_encode(&out, true, evs, 3, &m, 42);
    buf_putc(&out, '\0');
    assert_non_null(strstr(out.p, "\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
                                  "{\"arrayValue\":{\"values\":[{\"boolValue\":true},{\"doubleValue\":2.5}]}}}]}}"));
    /* two resources: the aws one holds events 1 and 3 */
    const char *r1 = strstr(out.p, "{\"key\":\"cloud.provider\",\"value\":{\"stringValue\":\"aws\"}}");
    assert_non_null(r1);
    assert_non_null(strstr(out.p, "{\"key\":\"aws.log.group.names\",\"value\":{\"stringValue\":\"/ecs/api\"}}"));
    assert_null(strstr(r1 + 10, "\"key\":\"cloud.provider\""));
    assert_non_null(strstr(out.p, "{\"key\":\"team\",\"value\":{\"stringValue\":\"core\"}},"
                                  "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"p1\"}}") ||
                    strstr(out.p, "{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"p1\"}},"
                                  "{\"key\":\"team\",\"value\":{\"stringValue\":\"core\"}}"));
    int nres = 0;
    for (const char *p = out.p; (p = strstr(p, "\"resource\":")); p++)
        nres++;
    assert_int_equal(nres, 2);
    const char *three = strstr(out.p, "\"stringValue\":\"three\"");
    const char *two = strstr(out.p, "\"stringValue\":\"two\"");
    assert_non_null(three);
    assert_non_null(two);
    assert_true(three < strstr(out.p, "\"key\":\"team\"")); /* grouped with event 1 */
    buf_free(&out);
    batch_release(b);
}

/* An SDK's resource relayed by the otlp source (its attributes are event fields) goes back
 * to the resource: the semantic conventions' resource namespaces, under their own names;
 * process.thread.* (ECS, per line) and other keys stay record attributes. */
static void test_semconv_resource(void **state)
{
    sl_batch *b = batch_new(4);
    for (int k = 0; k < 3; k++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1;
        e->message = batch_str(b, k == 2 ? "go" : "java", k == 2 ? 2 : 4);
        event_set_str(b, e, "service.name", "svc", 3);
        event_set_str(b, e, "telemetry.sdk.language", k == 2 ? "go" : "java", k == 2 ? 2 : 4);
        event_set_str(b, e, "k8s.replicaset.name", "rs-1", 4);
        event_set_str(b, e, "host.arch", "amd64", 5);
        event_set_str(b, e, "os.type", "linux", 5);
        event_set_int(b, e, "process.pid", 42);
        event_set_str(b, e, "process.thread.name", "main", 4);
        event_set_str(b, e, "k8s.", "x", 1);
        event_set_str(b, e, "hostname", "h", 1);
    }
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    sl_event *evs[3] = {&b->events[0], &b->events[1], &b->events[2]};
    sl_buf out = SL_BUF_INIT;
    otlp_encode(&out, true, evs, 3, &m, 42);
    buf_putc(&out, '\0');
    /* two resources, java (events 1 and 2) and go */
    int nres = 0;
    for (const char *p = out.p; (p = strstr(p, "\"resource\":")); p++)
        nres++;
    assert_int_equal(nres, 2);
    const char *r1 = strstr(out.p, "\"resource\":");
    const char *recs = strstr(r1, "\"logRecords\":");
    assert_non_null(recs);
    static const char *const in_res[] = {
        "{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"java\"}}",
        "{\"key\":\"k8s.replicaset.name\",\"value\":{\"stringValue\":\"rs-1\"}}",
        "{\"key\":\"host.arch\",\"value\":{\"stringValue\":\"amd64\"}}",
        "{\"key\":\"os.type\",\"value\":{\"stringValue\":\"linux\"}}",
        "{\"key\":\"process.pid\",\"value\":{\"intValue\":\"42\"}}",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(in_res); i++) {
        const char *at = strstr(out.p, in_res[i]);
        assert_non_null(at);
        assert_true(at > r1 && at < recs);
    }
    static const char *const in_rec[] = {"\"key\":\"process.thread.name\"", "\"key\":\"k8s.\"",
                                         "\"key\":\"hostname\""};
    for (size_t i = 0; i < SL_ARRAY_LEN(in_rec); i++) {
        const char *at = strstr(out.p, in_rec[i]);
        assert_non_null(at);
        assert_true(at > recs);
    }
    assert_null(strstr(recs, "\"key\":\"telemetry.sdk.language\",\"value\":"
                             "{\"stringValue\":\"java"));
    const char *go = strstr(out.p, "\"stringValue\":\"go\"}},{\"key\"");
    assert_non_null(go); /* the go resource's own telemetry.sdk.language */
    buf_free(&out);
    batch_release(b);
}

static unsigned lcg(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*r >> 33);
}

/* Note 8 of otlp_encode.c: requests written from segments prepared `per` events at a
 * time (0: one per batch) are, uncompressed, the request written from the events, for
 * a request of the whole batch, of slices cut inside segments, and of two batches. A
 * batch with an event that has resource or scope fields is not prepared so. */
static void check_segments(const sl_batch *b, bool json, const otlp_map *m, uint32_t per)
{
    sl_batch *c = batch_clone(b), *c2 = batch_clone(b), *d = batch_clone(b);
    otlp_map ms = *m;
    ms.seg_id = prep_id_new();
    bool ok = otlp_prepare_segment(c, json, &ms, 42, 1, per);
    bool ok2 = otlp_prepare_segment(c2, json, &ms, 42, 1, per);
    assert_int_equal(ok, ok2);
    otlp_map mr = *m;
    mr.prep_id = prep_id_new();
    otlp_prepare(d, json, &mr, 42);
    uint32_t alone = 0;
    for (uint32_t i = 0; i < d->n; i++)
        alone += event_prep(&d->events[i], mr.prep_id).len > 0;
    assert_int_equal(ok, b->n > 0 && alone == b->n);
    size_t n = c->n;
    sl_event **evs = malloc((2 * n + 1) * sizeof *evs);
    sl_buf got = SL_BUF_INIT, plain = SL_BUF_INIT, gz = SL_BUF_INIT;
    if (ok) {
        assert_int_equal(c->prep_owner, ms.seg_id);
        const size_t cuts[][2] = {{0, n}, {1, n}, {0, n - 1}, {1, n > 1 ? n - 1 : 1}, {n / 2, n}};
        for (size_t t = 0; t < SL_ARRAY_LEN(cuts) + 1; t++) {
            size_t lo = 0, k = 0;
            if (t < SL_ARRAY_LEN(cuts)) {
                lo = cuts[t][0];
                k = cuts[t][1] > lo ? cuts[t][1] - lo : 0;
                for (size_t i = 0; i < k; i++)
                    evs[i] = &c->events[lo + i];
            } else { /* two batches in one request */
                for (size_t i = 0; i < n; i++) {
                    evs[i] = &c->events[i];
                    evs[n + i] = &c2->events[i];
                }
                k = 2 * n;
            }
            if (k == 0)
                continue;
            size_t raw = 0;
            assert_true(otlp_encode_segments(&gz, json, evs, k, &ms, 1, 42, &raw));
            buf_reset(&got);
            assert_true(gunzip_one(gz.p, gz.len, &got));
            /* the same events as the sink would see them without segments: this map did
             * not prepare them, so otlp_encode writes them from their fields */
            buf_reset(&plain);
            otlp_encode(&plain, json, evs, k, m, 42);
            assert_int_equal(raw, got.len);
            assert_int_equal(got.len, plain.len);
            assert_memory_equal(got.p, plain.p, plain.len);
        }
        /* a map without the segment id sees none of them */
        for (size_t i = 0; i < n; i++)
            evs[i] = &c->events[i];
        otlp_map mo = *m;
        mo.seg_id = prep_id_new();
        assert_false(otlp_encode_segments(&gz, json, evs, n, &mo, 1, 42, &(size_t){0}));
        /* a request whose later event, of no run, has a resource field: written whole by
         * otlp_encode instead (nothing of the walk's pieces used) */
        sl_batch *r = batch_new(1);
        sl_event *e = batch_add(r);
        e->message = batch_str(r, "other", 5);
        event_set_str(r, e, "service.name", "api", 3);
        evs[n] = e;
        buf_reset(&gz);
        assert_false(otlp_encode_segments(&gz, json, evs, n + 1, &ms, 1, 42, &(size_t){0}));
        assert_int_equal(gz.len, 0);
        batch_release(r);
    } else {
        assert_int_equal(c->prep_owner, 0);
        assert_int_equal(c->prep.len, 0);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(c->events[i].prep_len, 0);
            evs[i] = &c->events[i];
        }
        if (n)
            assert_false(otlp_encode_segments(&gz, json, evs, n, &ms, 1, 42, &(size_t){0}));
    }
    free(evs);
    buf_free(&got);
    buf_free(&plain);
    buf_free(&gz);
    batch_release(c);
    batch_release(c2);
    batch_release(d);
}

/* The request otlp_encode writes from records otlp_prepare wrote ahead (note 7 of
 * otlp_encode.c) is `want`, the request it writes from the events alone: on a copy of b
 * prepared for m, and encoded for m. Another sink's map (other resource keys, another
 * prep id) on the same prepared copy ignores those records and writes what it writes from
 * the events. A copy of a prepared event carries none of them. */
static void check_prepared(const sl_batch *b, bool json, const otlp_map *m, const sl_buf *want)
{
    sl_batch *c = batch_clone(b);
    otlp_map mp = *m;
    mp.prep_id = prep_id_new();
    otlp_prepare(c, json, &mp, 42);
    assert_int_equal(c->prep_owner, mp.prep_id);
    sl_event **evs = malloc((c->n + 1) * sizeof *evs);
    uint32_t prepared = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        evs[i] = &c->events[i];
        prepared += event_prep(evs[i], mp.prep_id).len > 0;
        assert_int_equal(event_prep(evs[i], mp.prep_id + 1000).len, 0);
    }
    sl_buf got = SL_BUF_INIT, other = SL_BUF_INIT, plain = SL_BUF_INIT;
    otlp_encode(&got, json, evs, c->n, &mp, 42);
    assert_int_equal(got.len, want->len);
    assert_memory_equal(got.p, want->p, want->len);
    /* another sink: job_id belongs to its resource, so its records differ */
    char *rk[] = {"job_id"};
    sl_strlist keys = {.v = rk, .n = 1};
    otlp_map mo = *m;
    mo.resource_keys = &keys;
    mo.prep_id = prep_id_new();
    otlp_encode(&other, json, evs, c->n, &mo, 42);
    sl_batch *d = batch_clone(b);
    for (uint32_t i = 0; i < d->n; i++)
        evs[i] = &d->events[i];
    otlp_encode(&plain, json, evs, d->n, &mo, 42);
    assert_int_equal(other.len, plain.len);
    assert_memory_equal(other.p, plain.p, plain.len);
    /* copies leave the prepared bytes behind */
    sl_batch *e = batch_new(1);
    if (prepared) {
        for (uint32_t i = 0; i < c->n; i++)
            if (event_prep(&c->events[i], mp.prep_id).len) {
                const sl_event *x = batch_append_copy(e, &c->events[i]);
                assert_int_equal(event_prep(x, mp.prep_id).len, 0);
                assert_int_equal(x->prep_owner, 0);
                break;
            }
    }
    assert_true(batch_mem_size(c) >= c->prep.cap + c->arena.total);
    for (uint32_t per = 0; per < 4; per++)
        check_segments(b, json, m, per);
    batch_release(e);
    batch_release(d);
    batch_release(c);
    free(evs);
    buf_free(&got);
    buf_free(&other);
    buf_free(&plain);
}

/* Encoder output over a varied corpus, pinned by a hash of every byte: the protobuf
 * length placement, id decoding and UTF-8 checks are tuned for speed and must not change
 * a byte. Ids valid, upper case, zero, short, non-hex; bodies and values across the
 * 1- / 2- / 3-byte length boundaries (127, 128, 16383, 16384); invalid UTF-8; numbers,
 * booleans, raw JSON; several resources per request. */
static void test_encode_golden_corpus(void **state)
{
    (void)state;
    static const char *const hexes[] = {
        "0af7651916cd43dd8448eb211c80319c", "0AF7651916CD43DD8448EB211C80319C",
        "00000000000000000000000000000000", "0af7651916cd43dd8448eb211c80319", "0af7651916cd43dd8448eb211c80319g",
        "b7ad6b7169203331", "B7AD6B71692033FF", "0000000000000000", "b7ad6b716920333", "b7ad6b71692033:1",
        "00f067aa0ba902b7", "0af7651916cd43dd8448eb211c80319c0", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"};
    static const char *const keys[] = {"level", "trace_id", "span_id", "job_id", "machine_id",
                                       "caf\xc3\xa9", "bad\xff", "k8s.pod.name", "cloud.provider",
                                       "duration_ms", "ok", "ratio", "payload", "traceparent"};
    static const size_t lens[] = {0, 1, 7, 8, 15, 16, 17, 100, 126, 127, 128, 129, 300,
                                  16370, 16383, 16384, 16400, 20000};
    uint64_t rnd = 7, h = 1469598103934665603ull;
    char *big = malloc(20001);
    for (size_t i = 0; i < 20000; i++)
        big[i] = (char)('a' + i % 26);
    big[20000] = '\0';
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    sl_buf out = SL_BUF_INIT;
    for (int round = 0; round < 120; round++) {
        size_t n = 1 + lcg(&rnd) % 12;
        sl_batch *b = batch_new((uint32_t)n);
        sl_event *evs[12];
        for (size_t i = 0; i < n; i++) {
            sl_event *e = batch_add(b);
            e->ts_ns = lcg(&rnd) % 4 ? (int64_t)lcg(&rnd) * 1000003 : 0;
            size_t ml = lens[lcg(&rnd) % SL_ARRAY_LEN(lens)];
            e->message = batch_str(b, big, ml);
            if (lcg(&rnd) % 9 == 0 && ml > 3)
                ((char *)e->message.ptr)[ml / 2] = (char)0xc3; /* invalid UTF-8 */
            size_t nf = lcg(&rnd) % 8;
            for (size_t k = 0; k < nf; k++) {
                const char *key = keys[lcg(&rnd) % SL_ARRAY_LEN(keys)];
                sl_field *f = event_add_field(b, e, key, strlen(key));
                unsigned kind = lcg(&rnd) % 7;
                if (kind <= 2) {
                    const char *v = hexes[lcg(&rnd) % SL_ARRAY_LEN(hexes)];
                    f->type = SL_VAL_STR;
                    f->v.s = batch_str(b, v, strlen(v));
                } else if (kind == 3) {
                    f->type = SL_VAL_STR;
                    f->v.s = batch_str(b, big + k, lens[lcg(&rnd) % 13]);
                } else if (kind == 4) {
                    f->type = SL_VAL_INT;
                    f->v.i = (int64_t)lcg(&rnd) - 77777;
                } else if (kind == 5 && lcg(&rnd) % 2) {
                    f->type = SL_VAL_BOOL;
                    f->v.b = lcg(&rnd) % 2;
                } else if (kind == 5) {
                    f->type = SL_VAL_FLOAT;
                    f->v.f = (double)lcg(&rnd) / 3.0;
                } else {
                    f->type = SL_VAL_JSON;
                    f->v.s = SL_STR("{\"a\":[1,\"x\",{\"b\":null}],\"c\":2.5}");
                }
            }
            if (lcg(&rnd) % 5 == 0)
                event_set_str(b, e, "traceparent",
                              "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55);
            evs[i] = e;
        }
        for (int json = 0; json < 2; json++) {
            buf_reset(&out);
            otlp_encode(&out, json != 0, evs, n, &m, 42);
            for (size_t i = 0; i < out.len; i++)
                h = (h ^ (unsigned char)out.p[i]) * 1099511628211ull;
            check_prepared(b, json != 0, &m, &out);
        }
        batch_release(b);
    }
    buf_free(&out);
    free(big);
    if (h != 0xdd2445015be70bf9ull)
        fail_msg("output changed: corpus hash %016llx", (unsigned long long)h);
}

/* Requests whose events share their keys in the same order (as a source's usually do),
 * with values that change each key's role from event to event: a level word known or not,
 * ids valid or not, a severity_number in range or not, a resource key holding a raw JSON
 * value, scope fields, and the config's severity_field, body_field and resource_keys. The
 * classification is remembered per field position by key (classify); the bytes are pinned
 * by a hash taken with the encoder from before that. */
static void test_encode_repeated_shapes(void **state)
{
    (void)state;
    static const char *const keys[] = {
        "level", "trace_id", "span_id", "traceparent", "severity_number", "trace_flags",
        "observed_time_unix_nano", "otel.scope.name", "otel.scope.version",
        "otel.scope.attributes.lib", "event.name", "body", "msg_level", "k8s.pod.name",
        "service.name", "team", "job", "kubernetes.container_name", "a_key_longer_than_32_bytes_here_x"};
    static const char *const strs[] = {
        "info", "WARN", "loud", "", "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "zz", "error", "7"};
    uint64_t rnd = 11, h = 1469598103934665603ull;
    char *rk[] = {"team", "level"};
    sl_strlist rkeys = {.v = rk, .n = 2};
    sl_strmap res = {0};
    otlp_map maps[3] = {{.resource = &res, .body_field = "body"},
                        {.resource = &res, .severity_field = "msg_level", .body_field = "team"},
                        {.resource = &res, .resource_keys = &rkeys}};
    sl_buf out = SL_BUF_INIT;
    for (int round = 0; round < 150; round++) {
        size_t n = 2 + lcg(&rnd) % 10, nf = 1 + lcg(&rnd) % 9;
        const char *shape[9];
        for (size_t k = 0; k < nf; k++)
            shape[k] = keys[lcg(&rnd) % SL_ARRAY_LEN(keys)];
        sl_batch *b = batch_new((uint32_t)n);
        sl_event *evs[12];
        for (size_t i = 0; i < n; i++) {
            sl_event *e = batch_add(b);
            e->ts_ns = 1000 + (int64_t)i;
            if (lcg(&rnd) % 3)
                e->message = batch_str(b, "hello", 5);
            for (size_t k = 0; k < nf; k++) {
                sl_field *f = event_push_field(b, e, (sl_str){shape[k], (uint32_t)strlen(shape[k])});
                unsigned kind = lcg(&rnd) % 5;
                if (kind <= 2) {
                    const char *v = strs[lcg(&rnd) % SL_ARRAY_LEN(strs)];
                    f->type = SL_VAL_STR;
                    f->v.s = batch_str(b, v, strlen(v));
                } else if (kind == 3) {
                    f->type = SL_VAL_INT;
                    f->v.i = (int64_t)(lcg(&rnd) % 30) - 2;
                } else {
                    f->type = SL_VAL_JSON;
                    f->v.s = SL_STR("{\"x\":1}");
                }
            }
            evs[i] = e;
        }
        for (int mi = 0; mi < 3; mi++)
            for (int json = 0; json < 2; json++) {
                buf_reset(&out);
                otlp_encode(&out, json != 0, evs, n, &maps[mi], 42);
                for (size_t i = 0; i < out.len; i++)
                    h = (h ^ (unsigned char)out.p[i]) * 1099511628211ull;
                check_prepared(b, json != 0, &maps[mi], &out);
            }
        batch_release(b);
    }
    buf_free(&out);
    if (h != 0xde2f2e6c7ccafeb3ull)
        fail_msg("output changed: corpus hash %016llx", (unsigned long long)h);
}

/* Level words in one request, remembered by the encoder in a small table (level_severity):
 * words that share a slot (info, INFO, panic; warn, emerg; trace, bogus, severe), spaces,
 * unknown words and a number, in an order that evicts and brings back each, every record
 * with the severity severity_from_text gives its word. */
static void test_level_memo(void **state)
{
    (void)state;
    static const char *const words[] = {"info", "INFO", "panic", "warn", "emerg", "trace",
                                        "bogus", "severe", "Info", " info ", "eRRor", "error",
                                        "7", "I", "W", "critical", "notice", "E", "x"};
    enum { N = 120 };
    sl_batch *b = batch_new(N);
    sl_event *evs[N];
    uint64_t rnd = 5;
    for (int i = 0; i < N; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1000 + i;
        e->message = batch_str(b, "m", 1);
        const char *w = words[i < 19 ? (size_t)i : lcg(&rnd) % SL_ARRAY_LEN(words)];
        event_set_str(b, e, "level", w, strlen(w));
        evs[i] = e;
    }
    sl_strmap res = {0};
    otlp_map m = {.resource = &res};
    sl_buf out = SL_BUF_INIT;
    otlp_encode(&out, true, evs, N, &m, 42);
    buf_putc(&out, '\0');
    const char *p = out.p;
    for (int i = 0; i < N; i++) {
        const char *rec = strstr(p, "{\"timeUnixNano\"");
        assert_non_null(rec);
        const char *next = strstr(rec + 1, "{\"timeUnixNano\"");
        const sl_field *f = &evs[i]->fields[0];
        sl_severity want = severity_from_text(f->v.s.ptr, f->v.s.len);
        const char *sn = strstr(rec, "\"severityNumber\":");
        if (want.number == 0) {
            assert_true(!sn || (next && sn > next));
        } else {
            assert_non_null(sn);
            assert_true(!next || sn < next);
            assert_int_equal(atoi(sn + strlen("\"severityNumber\":")), want.number);
        }
        p = rec + 1;
    }
    buf_free(&out);
    batch_release(b);
}

/* Events with shared fields (kubernetes_logs' metadata, event.h): prepared from their
 * fields as one array, the same bytes as otlp_encode's copies; a shared resource field
 * (k8s.pod.name) leaves the event to otlp_encode's grouping. */
static void test_prepared_shared_fields(void **state)
{
    (void)state;
    sl_strmap res = {0};
    otlp_map m = {.resource = &res};
    for (int variant = 0; variant < 2; variant++) {
        sl_batch *b = batch_new(8);
        sl_field *sh = arena_alloc(&b->arena, 2 * sizeof *sh);
        sh[0] = (sl_field){.key = SL_STR("log.file.name"), .type = SL_VAL_STR,
                           .v.s = SL_STR("app")};
        sh[1] = (sl_field){.key = variant ? SL_STR("k8s.pod.name") : SL_STR("log.file.path"),
                           .type = SL_VAL_STR, .v.s = SL_STR("/var/log/pods/x/app/0.log")};
        for (int i = 0; i < 6; i++) {
            sl_event *e = batch_add(b);
            e->ts_ns = 1000 + i;
            char msg[32];
            int ml = snprintf(msg, sizeof msg, "line %d level=warn", i);
            e->message = batch_str(b, msg, (size_t)ml);
            e->shared = sh;
            e->nshared = 2;
            event_set_str(b, e, "stream", i % 2 ? "stderr" : "stdout", 6);
            event_set_int(b, e, "log.offset", 100 * i);
        }
        b->shared_fields = true;
        for (int json = 0; json < 2; json++) {
            sl_event *evs[6];
            for (int i = 0; i < 6; i++)
                evs[i] = &b->events[i];
            sl_buf want = SL_BUF_INIT;
            otlp_encode(&want, json != 0, evs, 6, &m, 42);
            sl_batch *c = batch_new(8);
            for (int i = 0; i < 6; i++) { /* the same events, shared fields kept */
                sl_event *e = batch_add(c);
                *e = b->events[i];
            }
            otlp_map mp = m;
            mp.prep_id = prep_id_new();
            otlp_prepare(c, json != 0, &mp, 42);
            for (int i = 0; i < 6; i++) {
                evs[i] = &c->events[i];
                assert_int_equal(event_prep(evs[i], mp.prep_id).len > 0, variant == 0);
            }
            sl_buf got = SL_BUF_INIT;
            otlp_encode(&got, json != 0, evs, 6, &mp, 42);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.p, want.p, want.len);
            buf_free(&got);
            buf_free(&want);
            batch_release(c);
        }
        batch_release(b);
    }
}

/* A batch of many short records: otlp_prepare's first guess is far above what they take,
 * so batch_prep_done gives the rest back (the buffer moves) before the events point into
 * it; the request is still the same bytes. */
static void test_prepared_many_short_records(void **state)
{
    (void)state;
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    sl_batch *b = batch_new(400);
    for (int i = 0; i < 400; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1000 + i;
        char msg[16];
        e->message = batch_str(b, msg, (size_t)snprintf(msg, sizeof msg, "m%d", i));
        event_set_int(b, e, "n", i);
    }
    sl_event *evs[400];
    for (int i = 0; i < 400; i++)
        evs[i] = &b->events[i];
    for (int json = 0; json < 2; json++) {
        sl_buf want = SL_BUF_INIT;
        otlp_encode(&want, json != 0, evs, 400, &m, 42);
        sl_batch *c = batch_clone(b);
        otlp_map mp = m;
        mp.prep_id = prep_id_new();
        otlp_prepare(c, json != 0, &mp, 42);
        assert_true(c->prep.len > 0 && c->prep.cap == c->prep.len); /* given back */
        check_prepared(b, json != 0, &m, &want);
        batch_release(c);
        buf_free(&want);
    }
    batch_release(b);
}

/* otlp_prepare leaves a batch to otlp_encode when its first 8 events all have resource
 * fields (a source's events look alike); one plain event among them keeps it preparing.
 * Either way the request is the one written from the events alone (check_prepared). */
static void test_prepare_gives_up(void **state)
{
    (void)state;
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    for (int plain_at = -1; plain_at < 8; plain_at += 4) {
        sl_batch *b = batch_new(20);
        for (int i = 0; i < 20; i++) {
            sl_event *e = batch_add(b);
            e->ts_ns = 1000 + i;
            e->message = batch_str(b, "m", 1);
            if (i < 8 && i != plain_at)
                event_set_str(b, e, "service.name", "shop", 4);
        }
        sl_event *evs[20];
        for (int i = 0; i < 20; i++)
            evs[i] = &b->events[i];
        sl_buf want = SL_BUF_INIT;
        otlp_encode(&want, false, evs, 20, &m, 42);
        sl_batch *c = batch_clone(b);
        otlp_map mp = m;
        mp.prep_id = prep_id_new();
        otlp_prepare(c, false, &mp, 42);
        uint32_t prepared = 0;
        for (uint32_t i = 0; i < c->n; i++)
            prepared += event_prep(&c->events[i], mp.prep_id).len > 0;
        assert_int_equal(prepared, plain_at < 0 ? 0 : 13);
        check_prepared(b, false, &m, &want);
        batch_release(c);
        batch_release(b);
        buf_free(&want);
    }
}

static void test_response(void **state)
{
    int64_t rej;
    char msg[64];
    /* partial_success { rejected_log_records: 3, error_message: "bad" } */
    const char pb[] = {0x0A, 0x07, 0x08, 0x03, 0x12, 0x03, 'b', 'a', 'd'};
    assert_int_equal(otlp_parse_response(pb, sizeof pb, false, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 3);
    assert_string_equal(msg, "bad");
    assert_int_equal(otlp_parse_response("", 0, false, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 0);
    const char trunc[] = {0x0A, 0x09, 0x08};
    assert_int_equal(otlp_parse_response(trunc, sizeof trunc, false, &rej, msg, sizeof msg),
                     SL_ERR_CORRUPT);
    const char *js = "{\"partialSuccess\":{\"rejectedLogRecords\":\"5\",\"errorMessage\":\"x\"}}";
    assert_int_equal(otlp_parse_response(js, strlen(js), true, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 5);
    assert_string_equal(msg, "x");
    assert_int_equal(otlp_parse_response("{}", 2, true, &rej, msg, sizeof msg), SL_OK);
    assert_int_equal(rej, 0);
    assert_int_equal(otlp_parse_response("[", 1, true, &rej, msg, sizeof msg), SL_ERR_CORRUPT);
}

/* An error answer's text: a google.rpc.Status (protobuf or JSON) gives its message,
 * anything else is shown as it came. */
static void test_error_text(void **state)
{
    char out[64];
    /* Status { code: 3, message: "bad data", details: [ 2 bytes ] } */
    const char st[] = {0x08, 0x03, 0x12, 0x08, 'b', 'a', 'd', ' ', 'd', 'a', 't', 'a',
                       0x1A, 0x02, 0x0A, 0x00};
    otlp_error_text(out, sizeof out, st, sizeof st);
    assert_string_equal(out, "bad data");
    const char *js = "{\"code\":3,\"message\":\"bad data\"}";
    otlp_error_text(out, sizeof out, js, strlen(js));
    assert_string_equal(out, "bad data");
    const char *other = "{\"error\":\"quota\"}";
    otlp_error_text(out, sizeof out, other, strlen(other));
    assert_string_equal(out, other);
    otlp_error_text(out, sizeof out, "Bad Gateway\n", 12);
    assert_string_equal(out, "Bad Gateway ");
    const char cut[] = {0x08, 0x03, 0x12, 0x09, 'b', 'a', 'd'}; /* not a Status: as it came */
    otlp_error_text(out, sizeof out, cut, sizeof cut);
    assert_string_equal(out, "    bad");
    otlp_error_text(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_severity),
        cmocka_unit_test(test_logfmt),
        cmocka_unit_test(test_encode_json),
        cmocka_unit_test(test_body_and_resources),
        cmocka_unit_test(test_semconv_resource),
        cmocka_unit_test(test_encode_golden_corpus),
        cmocka_unit_test(test_encode_repeated_shapes),
        cmocka_unit_test(test_level_memo),
        cmocka_unit_test(test_prepared_shared_fields),
        cmocka_unit_test(test_prepared_many_short_records),
        cmocka_unit_test(test_prepare_gives_up),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_error_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
