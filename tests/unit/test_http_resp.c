/* test_http_resp.c - unit tests for the HTTP/1.x response parser of the sinks' own client:
 * every response fed whole and split at every point, Content-Length, chunked and
 * close-delimited bodies, interim 1xx responses, keep-alive rules, bad status lines,
 * oversize heads, Retry-After and ETag, and the bytes after a response left unconsumed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "net/http_resp.h"

typedef struct got {
    sl_buf body;
    int refuse_after; /* refuse once the body holds this many bytes (0 = never) */
} got;

static int collect(void *arg, const char *p, size_t n)
{
    got *g = arg;
    buf_append(&g->body, p, n);
    return g->refuse_after && g->body.len >= (size_t)g->refuse_after;
}

typedef struct outcome {
    int rc;
    long status;
    bool keep_alive;
    int64_t retry_after_ms;
    char etag[160];
    char err[160];
    size_t used; /* input bytes consumed in all */
    sl_buf body;
} outcome;

/* Feeds `in` in pieces cut at `cut` (0 = whole), then EOF if `eof` and still MORE. */
static outcome run(const char *in, size_t n, size_t cut, bool eof, bool no_body)
{
    outcome o = {0};
    got g = {0};
    http_resp r = {0};
    http_resp_init(&r, no_body, collect, &g);
    char *copy = malloc(n + 1); /* chunked decoding writes in place */
    memcpy(copy, in, n);
    size_t off = 0;
    int rc = HTTP_RESP_MORE;
    while (rc == HTTP_RESP_MORE && off < n) {
        size_t len = cut && off < cut ? cut - off : n - off; /* [0, cut), then the rest */
        size_t used = 0;
        rc = http_resp_feed(&r, copy + off, len, &used);
        assert_true(used <= len);
        if (rc == HTTP_RESP_MORE)
            assert_int_equal(used, len);
        off += used;
        if (rc != HTTP_RESP_MORE)
            break;
    }
    if (rc == HTTP_RESP_MORE && eof)
        rc = http_resp_eof(&r);
    o.rc = rc;
    o.status = r.status;
    o.keep_alive = r.keep_alive;
    o.retry_after_ms = r.retry_after_ms;
    memcpy(o.etag, r.etag, sizeof o.etag);
    memcpy(o.err, r.err, sizeof o.err);
    o.used = off;
    o.body = g.body;
    http_resp_free(&r);
    free(copy);
    return o;
}

/* Runs `in` whole and cut at every point; every run must give the same outcome. */
static outcome all_splits(const char *in, bool eof, bool no_body)
{
    size_t n = strlen(in);
    outcome whole = run(in, n, 0, eof, no_body);
    for (size_t cut = 1; cut < n; cut++) {
        outcome o = run(in, n, cut, eof, no_body);
        assert_int_equal(o.rc, whole.rc);
        assert_int_equal(o.status, whole.status);
        assert_int_equal(o.keep_alive, whole.keep_alive);
        assert_int_equal(o.used, whole.used);
        assert_int_equal(o.body.len, whole.body.len);
        if (o.body.len)
            assert_memory_equal(o.body.p, whole.body.p, o.body.len);
        buf_free(&o.body);
    }
    return whole;
}

static void expect_body(outcome *o, const char *want)
{
    assert_int_equal(o->body.len, strlen(want));
    if (o->body.len)
        assert_memory_equal(o->body.p, want, o->body.len);
    buf_free(&o->body);
}

static void test_content_length(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: 11\r\n\r\n{\"a\":\"bcd\"}",
                           false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_int_equal(o.status, 200);
    assert_true(o.keep_alive);
    expect_body(&o, "{\"a\":\"bcd\"}");

    /* the next response's bytes are not consumed */
    const char *two = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n";
    o = all_splits(two, false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_int_equal(o.status, 201);
    assert_int_equal(o.used, strlen(two) - strlen("HTTP/1.1 200 OK\r\n"));
    expect_body(&o, "ok");

    /* no body: Content-Length 0, 204, 304, and any answer to HEAD */
    o = all_splits("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    expect_body(&o, "");
    o = all_splits("HTTP/1.1 204 No Content\r\n\r\n", false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_true(o.keep_alive);
    expect_body(&o, "");
    o = all_splits("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", false, true);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_true(o.keep_alive);
    expect_body(&o, "");

    /* a cut body: EOF before the end is an error naming what is missing */
    o = all_splits("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "7 response body bytes missing"));
    buf_free(&o.body);

    /* bare LF line ends */
    o = all_splits("HTTP/1.1 200 OK\nContent-Length: 3\n\nxyz", false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    expect_body(&o, "xyz");
}

static void test_chunked(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\nNEXT",
                           false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_true(o.keep_alive);
    assert_int_equal(o.used, strlen("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5\r\nhello\r\n1;ext=1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\n"));
    expect_body(&o, "hello world");

    /* chunked wins over Content-Length, and the connection is not reused */
    o = all_splits("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "2\r\nab\r\n0\r\n\r\n",
                   false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_false(o.keep_alive);
    expect_body(&o, "ab");

    o = all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "chunked"));
    buf_free(&o.body);

    o = all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    buf_free(&o.body);

    /* another coding: the body runs to the close */
    o = all_splits("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", true, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_false(o.keep_alive);
    expect_body(&o, "raw");
}

static void test_close_delimited(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", true,
                           false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_false(o.keep_alive);
    expect_body(&o, "all of it");
    /* without EOF it is not over */
    o = all_splits("HTTP/1.1 200 OK\r\n\r\npart", false, false);
    assert_int_equal(o.rc, HTTP_RESP_MORE);
    expect_body(&o, "part");
}

static void test_keep_alive(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                           false, false);
    assert_false(o.keep_alive);
    buf_free(&o.body);
    o = all_splits("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_false(o.keep_alive);
    buf_free(&o.body);
    o = all_splits("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
                   false, false);
    assert_true(o.keep_alive);
    buf_free(&o.body);
    o = all_splits("HTTP/1.1 200 OK\r\nCONNECTION: upgrade, Close\r\nContent-Length: 0\r\n\r\n",
                   false, false);
    assert_false(o.keep_alive);
    buf_free(&o.body);
}

static void test_interim(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 100 Continue\r\nRetry-After: 9\r\n\r\n"
                           "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                           "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 4\r\n\r\nslow",
                           false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    assert_int_equal(o.status, 429);
    assert_int_equal(o.retry_after_ms, 0); /* the 100's header went with it */
    expect_body(&o, "slow");
    o = all_splits("HTTP/1.1 101 Switching Protocols\r\n\r\n", false, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    buf_free(&o.body);
}

static void test_bad_status(void **state)
{
    (void)state;
    const char *bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 abc OK\r\n\r\n",
        "http/1.1 200 OK\r\n\r\n",
        "HTTP/1.2 200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        outcome o = all_splits(bad[i], true, false);
        assert_int_equal(o.rc, HTTP_RESP_BAD);
        assert_true(o.err[0] != '\0');
        buf_free(&o.body);
    }
    /* a status line with no reason phrase is fine, as is a repeated equal length */
    outcome o = all_splits("HTTP/1.1 200\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
                           false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    expect_body(&o, "x");
    /* nothing at all, or a head cut short */
    o = run("", 0, 0, true, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "before a response arrived"));
    o = run("HTTP/1.1 200 OK\r\n", 17, 0, true, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "inside the response head"));
}

/* An HTTP/2-only port (gRPC) answers with its SETTINGS frame, here gRPC's own (C core:
 * SETTINGS, WINDOW_UPDATE, then it closes): said as HTTP/2 as soon as the frame header is
 * in, the connection still open, wherever the bytes are cut. */
static void test_http2_answer(void **state)
{
    (void)state;
    static const char grpc[] = "\0\0\x18\x04\0\0\0\0\0\0\x04\0?\xff\xff\0\x05\0?\xff\xff"
                               "\0\x06\0\0 \0\xfe\x03\0\0\0\x01\0\0\x04\x08\0\0\0\0\0\0?\0\0";
    size_t n = sizeof grpc - 1;
    for (size_t cut = 0; cut < n; cut++) {
        outcome o = run(grpc, n, cut, false, false);
        assert_int_equal(o.rc, HTTP_RESP_BAD);
        assert_non_null(strstr(o.err, "answered in HTTP/2"));
        buf_free(&o.body);
    }
    /* an empty SETTINGS, as a server sends first, and then the EOF */
    outcome o = run("\0\0\0\x04\0\0\0\0\0", 9, 0, true, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "answered in HTTP/2"));
    /* eight bytes of it are not yet a frame header */
    o = run("\0\0\0\x04\0\0\0\0", 8, 0, false, false);
    assert_int_equal(o.rc, HTTP_RESP_MORE);
}

static void test_oversize_head(void **state)
{
    (void)state;
    size_t n = HTTP_RESP_MAX_HEAD + 100;
    char *in = malloc(n + 1);
    memcpy(in, "HTTP/1.1 200 OK\r\nX-Big: ", 24);
    memset(in + 24, 'a', n - 24);
    in[n] = '\0';
    outcome o = run(in, n, 0, false, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    assert_non_null(strstr(o.err, "64 KiB"));
    o = run(in, n, 1000, false, false);
    assert_int_equal(o.rc, HTTP_RESP_BAD);
    /* just under the bound is fine */
    size_t m = HTTP_RESP_MAX_HEAD - 4;
    memcpy(in + m, "\r\n\r\n", 4);
    o = run(in, HTTP_RESP_MAX_HEAD, 0, false, false);
    assert_int_equal(o.rc, HTTP_RESP_MORE); /* close-delimited, no EOF yet: not done */
    assert_int_equal(o.status, 200);
    free(in);
}

static void test_headers(void **state)
{
    (void)state;
    outcome o = all_splits("HTTP/1.1 503 Service Unavailable\r\nretry-after:  120 \r\n"
                           "ETAG: \"abc-1\"\r\nContent-Length: 0\r\n\r\n",
                           false, false);
    assert_int_equal(o.status, 503);
    assert_int_equal(o.retry_after_ms, 120000);
    assert_string_equal(o.etag, "\"abc-1\"");
    buf_free(&o.body);
    /* an HTTP date a minute ahead */
    char in[256], date[64];
    time_t t = time(NULL) + 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(in, sizeof in, "HTTP/1.1 429 Slow\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
             date);
    o = run(in, strlen(in), 0, false, false);
    assert_true(o.retry_after_ms > 50000 && o.retry_after_ms <= 60000);
    /* the obsolete forms: RFC 850 and asctime */
    const char *obsolete[] = {"%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"};
    for (size_t i = 0; i < 2; i++) {
        strftime(date, sizeof date, obsolete[i], &tm);
        snprintf(in, sizeof in, "HTTP/1.1 429 Slow\r\nRetry-After: %s\r\nContent-Length: 0\r\n\r\n",
                 date);
        o = run(in, strlen(in), 0, false, false);
        assert_true(o.retry_after_ms > 50000 && o.retry_after_ms <= 60000);
    }
    /* a date in the past asks for no wait; a huge number is capped at a day */
    const char *past = "HTTP/1.1 429 Slow\r\nRetry-After: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n";
    o = run(past, strlen(past), 0, false, true);
    assert_int_equal(o.retry_after_ms, 0);
    const char *huge = "HTTP/1.1 429 Slow\r\nRetry-After: 99999999\r\n\r\n";
    o = run(huge, strlen(huge), 0, false, true);
    assert_int_equal(o.retry_after_ms, 86400000);
    /* nonsense is no Retry-After */
    const char *junk = "HTTP/1.1 429 Slow\r\nRetry-After: soon\r\nContent-Length: 0\r\n\r\n";
    o = run(junk, strlen(junk), 0, false, false);
    assert_int_equal(o.retry_after_ms, 0);
    /* folded and colon-less lines are skipped */
    o = all_splits("HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nnocolon\r\nContent-Length: 1\r\n\r\nz",
                   false, false);
    assert_int_equal(o.rc, HTTP_RESP_DONE);
    expect_body(&o, "z");
}

static void test_reader_refuses(void **state)
{
    (void)state;
    got g = {.refuse_after = 2};
    http_resp r = {0};
    http_resp_init(&r, false, collect, &g);
    char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde";
    size_t used;
    assert_int_equal(http_resp_feed(&r, in, strlen(in), &used), HTTP_RESP_ABORT);
    assert_int_equal(http_resp_eof(&r), HTTP_RESP_ABORT);
    http_resp_free(&r);
    buf_free(&g.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_content_length), cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited), cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_interim),         cmocka_unit_test(test_bad_status),
        cmocka_unit_test(test_oversize_head),   cmocka_unit_test(test_headers),
        cmocka_unit_test(test_reader_refuses), cmocka_unit_test(test_http2_answer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
