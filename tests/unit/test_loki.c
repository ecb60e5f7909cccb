/* test_loki.c - the Loki push encoder: exact protobuf bytes of a small request, a strict
 * little protobuf reader checking a larger one (streams, per-stream time order, structured
 * metadata), the JSON form, label value escaping, templates, the label set cap and the
 * classification of Loki's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <snappy-c.h>

#include "core/common.h"
#include "sinks/loki/loki.h"

/* ---- a strict protobuf reader: PushRequest -> "labels[ts:line|k=v,...]..." per stream ---- */

static int rd_varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    *v = 0;
    for (int sh = 0; sh < 64; sh += 7) {
        if (*p >= end)
            return -1;
        unsigned char c = *(*p)++;
        *v |= (uint64_t)(c & 0x7F) << sh;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Reads one LEN field with the expected number; returns its bytes or NULL. */
static const unsigned char *rd_len(const unsigned char **p, const unsigned char *end,
                                   unsigned *field, size_t *len)
{
    uint64_t tag, n;
    if (rd_varint(p, end, &tag) || (tag & 7) != 2 || rd_varint(p, end, &n) ||
        n > (uint64_t)(end - *p))
        return NULL;
    *field = (unsigned)(tag >> 3);
    *len = (size_t)n;
    const unsigned char *s = *p;
    *p += n;
    return s;
}

static void decode_entry(const unsigned char *p, const unsigned char *end, sl_buf *out)
{
    buf_putc(out, '[');
    while (p < end) {
        unsigned f;
        size_t n;
        const unsigned char *s = rd_len(&p, end, &f, &n);
        assert_non_null(s);
        if (f == 1) {
            const unsigned char *q = s, *qe = s + n;
            uint64_t sec = 0, nsec = 0, tag;
            while (q < qe) {
                assert_int_equal(rd_varint(&q, qe, &tag), 0);
                assert_int_equal(tag & 7, 0);
                assert_int_equal(rd_varint(&q, qe, (tag >> 3) == 1 ? &sec : &nsec), 0);
            }
            buf_printf(out, "%llu.%09llu:", (unsigned long long)sec, (unsigned long long)nsec);
        } else if (f == 2) {
            buf_append(out, s, n);
        } else {
            assert_int_equal(f, 3);
            const unsigned char *q = s, *qe = s + n;
            buf_putc(out, '|');
            while (q < qe) {
                unsigned g;
                size_t m;
                const unsigned char *t = rd_len(&q, qe, &g, &m);
                assert_non_null(t);
                buf_append(out, t, m);
                buf_putc(out, g == 1 ? '=' : ';');
            }
        }
    }
    buf_putc(out, ']');
}

static void decode_push(const char *buf, size_t len, sl_buf *out)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + len;
    while (p < end) {
        unsigned f;
        size_t n;
        const unsigned char *s = rd_len(&p, end, &f, &n);
        assert_non_null(s);
        assert_int_equal(f, 1);
        const unsigned char *q = s, *qe = s + n;
        while (q < qe) {
            unsigned g;
            size_t m;
            const unsigned char *t = rd_len(&q, qe, &g, &m);
            assert_non_null(t);
            if (g == 1)
                buf_append(out, t, m);
            else
                decode_entry(t, t + m, out);
        }
        buf_putc(out, '\n');
    }
    buf_putc(out, '\0');
}

static sl_strmap map_of(const char **kv, size_t n)
{
    sl_strmap m = {calloc(n, sizeof(char *)), calloc(n, sizeof(char *)), n};
    for (size_t i = 0; i < n; i++) {
        m.keys[i] = (char *)kv[2 * i];
        m.vals[i] = (char *)kv[2 * i + 1];
    }
    return m;
}

static void map_free(sl_strmap *m)
{
    free(m->keys);
    free(m->vals);
}

static sl_event *ev(sl_batch *b, int64_t ts, const char *msg, const char *app, const char *user)
{
    sl_event *e = batch_add(b);
    e->ts_ns = ts;
    e->message = batch_str(b, msg, strlen(msg));
    if (app)
        event_set_str(b, e, "app", app, strlen(app));
    if (user)
        event_set_str(b, e, "user", user, strlen(user));
    return e;
}

static void test_exact_bytes(void **state)
{
    const char *l[] = {"a", "b"};
    sl_strmap labels = map_of(l, 1);
    char err[256];
    loki_enc *c = loki_enc_new(&labels, NULL, false, 10, err, sizeof err);
    assert_non_null(c);
    sl_batch *b = batch_new(1);
    ev(b, 1000000005, "hi", NULL, NULL);
    sl_event *evs[1] = {&b->events[0]};
    sl_buf out = SL_BUF_INIT;
    loki_encode(c, &out, false, evs, 1, 1, NULL);
    static const unsigned char want[] = {
        0x0a, 0x15,                                           /* streams, 21 bytes */
        0x0a, 0x07, '{', 'a', '=', '"', 'b', '"', '}',        /* labels */
        0x12, 0x0a,                                           /* entries, 10 bytes */
        0x0a, 0x04, 0x08, 0x01, 0x10, 0x05,                   /* timestamp 1 s 5 ns */
        0x12, 0x02, 'h', 'i',                                 /* line */
    };
    assert_int_equal(out.len, sizeof want);
    assert_memory_equal(out.p, want, sizeof want);

    /* Loki reads it as one raw snappy block */
    size_t clen = snappy_max_compressed_length(out.len), ulen = 0;
    char *z = malloc(clen), u[64];
    assert_int_equal(snappy_compress(out.p, out.len, z, &clen), SNAPPY_OK);
    assert_int_equal(snappy_uncompressed_length(z, clen, &ulen), SNAPPY_OK);
    assert_int_equal(ulen, out.len);
    assert_int_equal(snappy_uncompress(z, clen, u, &ulen), SNAPPY_OK);
    assert_memory_equal(u, want, sizeof want);
    free(z);
    buf_free(&out);
    batch_release(b);
    loki_enc_free(c);
    map_free(&labels);
}

static void test_streams_sorted(void **state)
{
    const char *l[] = {"app", "{{ app }}", "env", "prod", "who", "u-{{user}}"};
    const char *md[] = {"user", "{{user}}", "trace", "{{ trace_id }}"};
    sl_strmap labels = map_of(l, 3), meta = map_of(md, 2);
    char err[256];
    loki_enc *c = loki_enc_new(&labels, &meta, false, 100, err, sizeof err);
    assert_non_null(c);
    sl_batch *b = batch_new(8);
    ev(b, 3000000000, "a3", "a", NULL);
    ev(b, 2000000000, "b2", "b", "x");
    ev(b, 1000000000, "a1", "a", NULL);
    ev(b, 3000000000, "a3bis", "a", NULL); /* same time as a3: keeps its place after it */
    sl_event *e = ev(b, 0, "no time", "a", NULL);
    event_set_str(b, e, "trace_id", "t1", 2);
    ev(b, 5, "no labels", NULL, NULL);
    sl_event *evs[6];
    for (int i = 0; i < 6; i++)
        evs[i] = &b->events[i];
    sl_buf out = SL_BUF_INIT, txt = SL_BUF_INIT;
    loki_stats st;
    loki_encode(c, &out, false, evs, 6, 4000000000, &st);
    decode_push(out.p, out.len, &txt);
    assert_string_equal(txt.p,
        "{app=\"a\",env=\"prod\"}[1.000000000:a1][3.000000000:a3][3.000000000:a3bis]"
        "[4.000000000:no time|trace=t1;]\n"
        "{app=\"b\",env=\"prod\",who=\"u-x\"}[2.000000000:b2|user=x;]\n"
        "{env=\"prod\"}[0.000000005:no labels]\n");
    assert_int_equal(st.new_sets, 3);
    assert_int_equal(st.overflowed, 0);

    /* the same request in JSON */
    buf_reset(&out);
    loki_encode(c, &out, true, evs, 6, 4000000000, &st);
    buf_putc(&out, '\0');
    assert_string_equal(out.p,
        "{\"streams\":["
        "{\"stream\":{\"app\":\"a\",\"env\":\"prod\"},\"values\":[[\"1000000000\",\"a1\"],"
        "[\"3000000000\",\"a3\"],[\"3000000000\",\"a3bis\"],"
        "[\"4000000000\",\"no time\",{\"trace\":\"t1\"}]]},"
        "{\"stream\":{\"app\":\"b\",\"env\":\"prod\",\"who\":\"u-x\"},"
        "\"values\":[[\"2000000000\",\"b2\",{\"user\":\"x\"}]]},"
        "{\"stream\":{\"env\":\"prod\"},\"values\":[[\"5\",\"no labels\"]]}]}");
    assert_int_equal(st.new_sets, 0);
    buf_free(&out);
    buf_free(&txt);
    batch_release(b);
    loki_enc_free(c);
    map_free(&labels);
    map_free(&meta);
}

static void test_escaping(void **state)
{
    sl_buf out = SL_BUF_INIT;
    loki_label_value(&out, "a\"b\\c\nd\te\x01 \xff\xc3\xa9", 14);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "\"a\\\"b\\\\c\\nd\\te\\x01 \xef\xbf\xbd\xc3\xa9\"");
    assert_true(loki_label_name_ok("job_1", 5));
    assert_true(loki_label_name_ok("_x", 2));
    assert_false(loki_label_name_ok("1x", 2));
    assert_false(loki_label_name_ok("a-b", 3));
    assert_false(loki_label_name_ok("a.b", 3));
    assert_false(loki_label_name_ok("", 0));

    /* an escaped value inside a stream's labels; a field with no labels gets the default */
    const char *l[] = {"app", "{{app}}"};
    sl_strmap labels = map_of(l, 1);
    char err[256];
    loki_enc *c = loki_enc_new(&labels, NULL, false, 10, err, sizeof err);
    sl_batch *b = batch_new(2);
    ev(b, 1, "x", "q\"t", NULL);
    ev(b, 1, "y", NULL, NULL);
    sl_event *evs[2] = {&b->events[0], &b->events[1]};
    sl_buf txt = SL_BUF_INIT;
    buf_reset(&out);
    loki_encode(c, &out, false, evs, 2, 1, NULL);
    decode_push(out.p, out.len, &txt);
    assert_string_equal(txt.p, "{app=\"q\\\"t\"}[0.000000001:x]\n"
                               "{service_name=\"unknown_service\"}[0.000000001:y]\n");
    buf_free(&txt);
    buf_free(&out);
    batch_release(b);
    loki_enc_free(c);
    map_free(&labels);
}

static void test_config_errors(void **state)
{
    char err[256];
    const char *bad[][2] = {{"a-b", "x"}, {"ok", "{{ unclosed"}, {"ok", "{{ }}"}, {"9", "x"}};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        sl_strmap m = map_of(bad[i], 1);
        err[0] = '\0';
        assert_null(loki_enc_new(&m, NULL, false, 10, err, sizeof err));
        assert_true(err[0] != '\0');
        assert_null(loki_enc_new(NULL, &m, false, 10, err, sizeof err));
        map_free(&m);
    }
    const char *dup[] = {"a", "x", "a", "y"};
    sl_strmap m = map_of(dup, 2);
    assert_null(loki_enc_new(&m, NULL, false, 10, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
    map_free(&m);
    assert_null(loki_enc_new(NULL, NULL, false, 0, err, sizeof err));
}

static void test_cardinality(void **state)
{
    const char *l[] = {"app", "{{app}}", "env", "prod"};
    sl_strmap labels = map_of(l, 2);
    char err[256];
    loki_enc *c = loki_enc_new(&labels, NULL, false, 2, err, sizeof err);
    assert_non_null(c);
    sl_batch *b = batch_new(8);
    const char *apps[] = {"a", "b", "c", "d", "a", "c"};
    for (int i = 0; i < 6; i++)
        ev(b, i + 1, apps[i], apps[i], NULL);
    sl_event *evs[6];
    for (int i = 0; i < 6; i++)
        evs[i] = &b->events[i];
    sl_buf out = SL_BUF_INIT, txt = SL_BUF_INIT;
    loki_stats st;
    loki_encode(c, &out, false, evs, 6, 1, &st);
    decode_push(out.p, out.len, &txt);
    /* a and b are admitted; c and d (twice for c) go to the overflow stream, none dropped */
    assert_string_equal(txt.p,
        "{app=\"a\",env=\"prod\"}[0.000000001:a][0.000000005:a]\n"
        "{app=\"b\",env=\"prod\"}[0.000000002:b]\n"
        "{app=\"__overflow__\",env=\"prod\"}[0.000000003:c][0.000000004:d][0.000000006:c]\n");
    assert_int_equal(st.overflowed, 3);
    assert_int_equal(st.new_sets, 2);
    assert_int_equal(loki_enc_label_sets(c), 2);
    /* a later request: an admitted set keeps its own stream */
    buf_reset(&out);
    buf_reset(&txt);
    loki_encode(c, &out, false, evs + 1, 1, 1, &st);
    decode_push(out.p, out.len, &txt);
    assert_string_equal(txt.p, "{app=\"b\",env=\"prod\"}[0.000000002:b]\n");
    assert_int_equal(st.overflowed, 0);
    buf_free(&out);
    buf_free(&txt);
    batch_release(b);
    loki_enc_free(c);
    map_free(&labels);
}

static void test_classify(void **state)
{
    const char *k;
    assert_int_equal(loki_classify(204, "", 0, &k), LOKI_OK);
    assert_int_equal(loki_classify(429, "Ingestion rate limit exceeded", 29, &k), LOKI_RETRY);
    assert_string_equal(k, "rate_limited");
    assert_int_equal(loki_classify(500, NULL, 5, &k), LOKI_RETRY);
    assert_int_equal(loki_classify(503, "", 0, &k), LOKI_RETRY);
    assert_int_equal(loki_classify(401, "no org id", 9, &k), LOKI_AUTH);
    const struct { const char *body; const char *kind; } r[] = {
        {"entry with timestamp 2024 ignored, reason: 'entry out of order' for stream", "out_of_order"},
        {"entry too far behind, entry timestamp is: x", "out_of_order"},
        {"entry for stream '{a=\"b\"}' has timestamp too old: 2020", "too_old"},
        {"greater_than_max_sample_age", "too_old"},
        {"entry for stream '{a=\"b\"}' has timestamp too new: 2099", "too_new"},
        {"Max entry size '256' bytes exceeded for stream", "line_too_long"},
        {"error at least one label pair is required per stream", "bad_labels"},
        {"whatever", "http_reject"},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(r); i++) {
        assert_int_equal(loki_classify(400, r[i].body, strlen(r[i].body), &k), LOKI_REJECT);
        assert_string_equal(k, r[i].kind);
    }
    /* 413, from Loki or a proxy in front of it: too large, whatever the body says */
    const char *page = "<html><head><title>413 Request Entity Too Large</title></head></html>";
    assert_int_equal(loki_classify(413, page, strlen(page), &k), LOKI_TOO_LARGE);
    assert_string_equal(k, "too_large");
    assert_int_equal(loki_classify(413, "bad label", 9, &k), LOKI_TOO_LARGE);
    /* structured metadata disallowed (schema before v13): held, not rejected */
    const char *sm = "stream '{app=\"a\"}' includes structured metadata, but this feature is "
                     "disallowed. Please see `limits_config.allow_structured_metadata` or "
                     "contact your Loki administrator to enable it.";
    assert_int_equal(loki_classify(400, sm, strlen(sm), &k), LOKI_HELD);
    assert_string_equal(k, "structured_metadata");
    const char *big = "stream '{app=\"a\"}' has structured metadata too large: '70000' bytes";
    assert_int_equal(loki_classify(400, big, strlen(big), &k), LOKI_REJECT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_streams_sorted),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_cardinality),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
