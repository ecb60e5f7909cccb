/* test_s3.c - the s3 sink's pieces that need no network: key templates (date parts, field
 * values made key-safe, no empty or dot segments), object names (deterministic, different
 * for any other list of events), the plan that cuts a request into objects, NDJSON bodies
 * (plain, gzip members and zstd frames that decode to the same lines), S3's XML answers
 * and their classification, and the signer against the S3 example of the SigV4 docs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>
#include <zstd.h>

#include "core/common.h"
#include "net/sigv4.h"
#include "sinks/s3/s3.h"

#define SEC 1000000000LL
/* 2026-03-04T05:06:07Z */
#define T1 (1772600767LL * SEC)

static sl_event *ev(sl_batch *b, int64_t ts, const char *msg, const char *app)
{
    sl_event *e = batch_add(b);
    e->ts_ns = ts;
    e->message = batch_str(b, msg, strlen(msg));
    e->id_stream = 0xabc;
    e->id_seq = (uint64_t)b->n;
    if (app)
        event_set_str(b, e, "app", app, strlen(app));
    return e;
}

static void render(const char *tmpl, const sl_event *e, const char *want)
{
    s3_key_tmpl t;
    char err[256];
    assert_int_equal(s3_key_compile(&t, tmpl, err, sizeof err), SL_OK);
    sl_buf out = SL_BUF_INIT;
    s3_key_render(&t, e, &out);
    assert_string_equal(out.p, want);
    buf_free(&out);
    s3_key_free(&t);
}

static void test_key_template(void **state)
{
    (void)state;
    sl_batch *b = batch_new(4);
    sl_event *e = ev(b, T1, "m", "web/front end");
    render("%Y/%m/%d/%H/%M/%j/", e, "2026/03/04/05/06/063/");
    render("logs/{{ app }}/", e, "logs/web_front_end/");   /* '/' and ' ' in a value */
    render("logs/{{missing}}/x", e, "logs/unknown/x");
    render("//a///b/", e, "a/b/");                          /* no empty segments */
    render("a/./b/../c", e, "a/_/b/__/c");                  /* no dot segments */
    render("dt=%Y-%m-%d/", e, "dt=2026-03-04/");
    render("", e, "");
    sl_event *d = ev(b, T1, "m", "..");
    render("x/{{app}}/", d, "x/__/");
    event_set_int(b, d, "n", 42);
    render("{{n}}", d, "42");

    s3_key_tmpl t;
    char err[256];
    assert_int_equal(s3_key_compile(&t, "%Q", err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "unsupported date conversion"));
    assert_int_equal(s3_key_compile(&t, "{{ app", err, sizeof err), SL_ERR_CONFIG);
    assert_int_equal(s3_key_compile(&t, "{{ }}", err, sizeof err), SL_ERR_CONFIG);
    assert_int_equal(s3_key_compile(&t, "a b", err, sizeof err), SL_ERR_CONFIG);
    assert_int_equal(s3_key_compile(&t, "a?b", err, sizeof err), SL_ERR_CONFIG);
    batch_release(b);
}

static void test_key_name(void **state)
{
    (void)state;
    sl_batch *b = batch_new(8);
    for (int i = 0; i < 4; i++)
        ev(b, T1 + i, "line", NULL);
    sl_event *v[4] = {&b->events[0], &b->events[1], &b->events[2], &b->events[3]};
    sl_buf k1 = SL_BUF_INIT, k2 = SL_BUF_INIT, k3 = SL_BUF_INIT, k4 = SL_BUF_INIT;
    s3_key_name(&k1, v, 4, ".ndjson.gz");
    s3_key_name(&k2, v, 4, ".ndjson.gz");
    s3_key_name(&k3, v, 3, ".ndjson.gz");
    assert_string_equal(k1.p, k2.p); /* deterministic */
    assert_true(strncmp(k1.p, "0000000000000abc-0000000000000001-4-", 36) == 0);
    assert_int_equal(strlen(k1.p), 36 + 8 + strlen(".ndjson.gz"));
    assert_string_not_equal(k1.p, k3.p); /* fewer events, another key */
    b->events[3].message = batch_str(b, "other", 5);
    s3_key_name(&k4, v, 4, ".ndjson.gz");
    assert_string_not_equal(k1.p, k4.p); /* another content, another key */
    buf_reset(&k4);
    b->events[0].id_str = batch_str(b, "cw/1.2:x", 8);
    s3_key_name(&k4, v, 1, ".ndjson");
    assert_true(strncmp(k4.p, "cw_1_2_x-1-", 11) == 0);
    buf_free(&k1);
    buf_free(&k2);
    buf_free(&k3);
    buf_free(&k4);
    batch_release(b);
}

static void test_plan(void **state)
{
    (void)state;
    sl_batch *b = batch_new(16);
    /* a, b, a, a, b (two hours), then a an hour later */
    ev(b, T1, "1", "a");
    ev(b, T1, "2", "b");
    ev(b, T1 + 1, "3", "a");
    ev(b, T1 + 2, "4", "a");
    ev(b, T1 + 3, "5", "b");
    ev(b, T1 + 3600 * SEC, "6", "a");
    sl_event *v[6];
    for (int i = 0; i < 6; i++)
        v[i] = &b->events[i];
    s3_key_tmpl t;
    char err[256];
    assert_int_equal(s3_key_compile(&t, "%H/{{app}}/", err, sizeof err), SL_OK);
    s3_plan p;
    s3_plan_build(&p, &t, v, 6, 0, 0);
    assert_int_equal(p.n, 3);
    assert_string_equal(p.obj[0].prefix, "05/a/");
    assert_int_equal(p.obj[0].n, 3);
    assert_int_equal(p.obj[0].idx[0], 0);
    assert_int_equal(p.obj[0].idx[1], 2);
    assert_int_equal(p.obj[0].idx[2], 3);
    assert_string_equal(p.obj[1].prefix, "05/b/");
    assert_int_equal(p.obj[1].n, 2);
    assert_string_equal(p.obj[2].prefix, "06/a/");
    assert_int_equal(p.obj[2].n, 1);
    s3_plan_free(&p);
    s3_key_free(&t);

    /* one prefix, cut by size (every event alone past a tiny bound) and by event age */
    assert_int_equal(s3_key_compile(&t, "x/", err, sizeof err), SL_OK);
    s3_plan_build(&p, &t, v, 6, 1, 0);
    assert_int_equal(p.n, 6);
    s3_plan_free(&p);
    s3_plan_build(&p, &t, v, 6, 0, 2);
    assert_int_equal(p.n, 3); /* {1,2,3,4}: +2 ns; {5}: +3 ns; {6} */
    assert_int_equal(p.obj[0].n, 4);
    assert_int_equal(p.obj[1].n, 1);
    assert_int_equal(p.obj[2].n, 1);
    s3_plan_free(&p);
    size_t total = 0;
    s3_plan_build(&p, &t, v, 6, 1 << 20, 0);
    for (size_t i = 0; i < p.n; i++)
        total += p.obj[i].n;
    assert_int_equal(p.n, 1);
    assert_int_equal(total, 6);
    s3_plan_free(&p);
    s3_key_free(&t);
    batch_release(b);
}

/* Inflates every gzip member of in into out. */
static void gunzip_all(const char *in, size_t n, sl_buf *out)
{
    size_t off = 0;
    while (off < n) {
        z_stream z;
        memset(&z, 0, sizeof z);
        assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
        z.next_in = (unsigned char *)in + off;
        z.avail_in = (unsigned)(n - off);
        int rc;
        do {
            buf_reserve(out, 65536);
            z.next_out = (unsigned char *)out->p + out->len;
            z.avail_out = 65536;
            rc = inflate(&z, Z_NO_FLUSH);
            assert_true(rc == Z_OK || rc == Z_STREAM_END);
            out->len += 65536 - z.avail_out;
        } while (rc != Z_STREAM_END);
        off = n - z.avail_in;
        inflateEnd(&z);
    }
}

static void test_body(void **state)
{
    (void)state;
    sl_batch *b = batch_new(64);
    char msg[64];
    for (int i = 0; i < 3000; i++) {
        snprintf(msg, sizeof msg, "message number %d", i);
        ev(b, T1 + i, msg, "app");
    }
    s3_body plain, gz, zs;
    s3_body_init(&plain, S3_COMP_NONE, 1, 0, "_id");
    s3_body_init(&gz, S3_COMP_GZIP, 1, 4096, "_id"); /* small chunks: many members */
    s3_body_init(&zs, S3_COMP_ZSTD, 3, 4096, "_id"); /* and many frames */
    for (uint32_t i = 0; i < b->n; i++) {
        assert_int_equal(s3_body_add(&plain, &b->events[i]), SL_OK);
        assert_int_equal(s3_body_add(&gz, &b->events[i]), SL_OK);
        assert_int_equal(s3_body_add(&zs, &b->events[i]), SL_OK);
        assert_true(gz.raw.len < 4096 + 200); /* raw never holds more than a chunk */
    }
    assert_int_equal(s3_body_flush(&plain), SL_OK);
    assert_int_equal(s3_body_flush(&gz), SL_OK);
    assert_int_equal(s3_body_flush(&zs), SL_OK);
    /* a series of zstd frames decodes in one call, to the plain body */
    assert_true(zs.part.len < plain.part.len / 3);
    char *dz = malloc(plain.part.len + 1);
    size_t dn = ZSTD_decompress(dz, plain.part.len + 1, zs.part.p, zs.part.len);
    assert_false(ZSTD_isError(dn));
    assert_int_equal(dn, plain.part.len);
    assert_memory_equal(dz, plain.part.p, dn);
    free(dz);
    s3_body_free(&zs);
    assert_int_equal(plain.raw_bytes, plain.part.len);
    assert_int_equal(gz.raw_bytes, plain.part.len);
    assert_true(gz.part.len < plain.part.len / 3);
    sl_buf out = SL_BUF_INIT;
    gunzip_all(gz.part.p, gz.part.len, &out);
    assert_int_equal(out.len, plain.part.len);
    assert_memory_equal(out.p, plain.part.p, out.len);
    /* first line: the event as JSON with its id, then '\n'; 3000 lines */
    const char *nl = memchr(plain.part.p, '\n', plain.part.len);
    assert_non_null(nl);
    assert_non_null(memmem(plain.part.p, (size_t)(nl - plain.part.p),
                           "\"_id\":\"0000000000000abc0000000000000001\"}", 41));
    size_t lines = 0;
    for (size_t i = 0; i < plain.part.len; i++)
        lines += plain.part.p[i] == '\n';
    assert_int_equal(lines, 3000);
    buf_free(&out);
    s3_body_free(&plain);
    s3_body_free(&gz);
    batch_release(b);
}

static void test_answers(void **state)
{
    (void)state;
    const char *x = "<?xml version=\"1.0\"?><Error><Code>SlowDown</Code><Message>Please "
                    "reduce\nyour request rate.</Message></Error>";
    char code[32], m[64], none[8];
    s3_xml_get(x, strlen(x), "Code", code, sizeof code);
    s3_xml_get(x, strlen(x), "Message", m, sizeof m);
    s3_xml_get(x, strlen(x), "UploadId", none, sizeof none);
    assert_string_equal(code, "SlowDown");
    assert_string_equal(m, "Please reduce your request rate.");
    assert_string_equal(none, "");
    s3_xml_get(x, 30, "Code", code, sizeof code); /* cut: nothing read past len */
    assert_string_equal(code, "");
    s3_xml_get(x, strlen(x), "Code", code, 5);
    assert_string_equal(code, "Slow");
    const char *ent = "<Error><Message>key &quot;a&amp;b&quot; &#x41; none</Message></Error>";
    s3_xml_get(ent, strlen(ent), "Message", m, sizeof m); /* entities decoded */
    assert_string_equal(m, "key \"a&b\" A none");
    assert_int_equal(s3_classify(200, ""), S3_OK);
    assert_int_equal(s3_classify(204, ""), S3_OK);
    assert_int_equal(s3_classify(503, "SlowDown"), S3_RETRY);
    assert_int_equal(s3_classify(500, "InternalError"), S3_RETRY);
    assert_int_equal(s3_classify(0, ""), S3_RETRY);
    assert_int_equal(s3_classify(400, "RequestTimeout"), S3_RETRY);
    assert_int_equal(s3_classify(429, ""), S3_RETRY);
    assert_int_equal(s3_classify(403, "SignatureDoesNotMatch"), S3_AUTH);
    assert_int_equal(s3_classify(403, "InvalidAccessKeyId"), S3_AUTH);
    assert_int_equal(s3_classify(400, "ExpiredToken"), S3_AUTH);
    assert_int_equal(s3_classify(403, "AccessDenied"), S3_REJECT);
    assert_int_equal(s3_classify(404, "NoSuchBucket"), S3_REJECT);
    assert_int_equal(s3_classify(400, "InvalidArgument"), S3_REJECT);
    assert_int_equal(s3_classify(400, "EntityTooSmall"), S3_REJECT);
}

/* Virtual-hosted addressing only where a host name can carry the bucket. */
static void test_addressing(void **state)
{
    (void)state;
    assert_true(s3_virtual_host_ok("logs", "s3.us-east-1.amazonaws.com", true));
    assert_true(s3_virtual_host_ok("my-logs-2", "localhost:9000", false));
    assert_true(s3_virtual_host_ok("my.logs", "minio.local:9000", false));
    assert_false(s3_virtual_host_ok("my.logs", "s3.us-east-1.amazonaws.com", true));
    assert_false(s3_virtual_host_ok("logs", "127.0.0.1:9000", false));
    assert_false(s3_virtual_host_ok("logs", "10.1.2.3", true));
    assert_false(s3_virtual_host_ok("logs", "[::1]:9000", false));
    assert_false(s3_virtual_host_ok("Logs", "localhost:9000", false));
    assert_false(s3_virtual_host_ok("old_logs", "localhost:9000", false));
    assert_false(s3_virtual_host_ok("-logs", "localhost:9000", false));
    assert_false(s3_virtual_host_ok("", "localhost:9000", false));
}

/* The GET Object example of the S3 SigV4 documentation ("Signature Calculations for the
 * Authorization Header"): S3's canonical request, unsigned body hash header included. */
static void test_sigv4_s3_example(void **state)
{
    (void)state;
    sigv4_header h[] = {
        {"Host", "examplebucket.s3.amazonaws.com"},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"x-amz-date", "20130524T000000Z"},
    };
    sigv4_request rq = {"GET", "/test.txt", NULL, h, 4, "", 0};
    sigv4_credentials c = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", NULL};
    sl_buf authz = SL_BUF_INIT;
    assert_int_equal(sigv4_sign(&rq, &c, "us-east-1", "s3", "20130524T000000Z", &authz, NULL,
                                NULL),
                     SL_OK);
    buf_putc(&authz, '\0');
    assert_string_equal(authz.p,
                        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                        "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    buf_free(&authz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_template), cmocka_unit_test(test_key_name),
        cmocka_unit_test(test_plan),         cmocka_unit_test(test_body),
        cmocka_unit_test(test_answers),      cmocka_unit_test(test_sigv4_s3_example),
        cmocka_unit_test(test_addressing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
