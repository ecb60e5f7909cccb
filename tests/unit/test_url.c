/* test_url.c - unit tests for endpoint URLs: the split into origin, path prefix and query,
 * request URLs that keep an endpoint's prefix and query (the parameters of the request go
 * after the endpoint's own), refused URLs, and RFC 3986 percent-encoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include <string.h>

#include "core/common.h"
#include "net/url.h"

static const char *build(const char *endpoint, const char *path, const char *params)
{
    static sl_buf out;
    url_endpoint u;
    char err[200];
    assert_int_equal(url_endpoint_parse(&u, endpoint, err, sizeof err), SL_OK);
    url_build(&out, &u, path, params);
    url_endpoint_free(&u);
    assert_int_equal(strlen(out.p), out.len);
    return out.p;
}

static void test_build(void **state)
{
    (void)state;
    /* the case users hit: a prefix with a trailing slash and a query */
    assert_string_equal(build("http://h:9428/insert/elasticsearch/?_msg_field=message&_time_field=@timestamp",
                              "_bulk", "filter_path=errors"),
                        "http://h:9428/insert/elasticsearch/_bulk?_msg_field=message&_time_field=@timestamp"
                        "&filter_path=errors");
    assert_string_equal(build("http://h:9428/insert/elasticsearch/?_msg_field=message", "", NULL),
                        "http://h:9428/insert/elasticsearch/?_msg_field=message");
    /* no prefix, no query */
    assert_string_equal(build("http://h:9200", "_bulk", "a=1"), "http://h:9200/_bulk?a=1");
    assert_string_equal(build("http://h:9200/", "", NULL), "http://h:9200/");
    assert_string_equal(build("http://h:9200///", "_bulk", ""), "http://h:9200/_bulk");
    /* a query without a path, an empty query, trailing '&' */
    assert_string_equal(build("https://h?tenant=a", "x/_count", "b=2"), "https://h/x/_count?tenant=a&b=2");
    assert_string_equal(build("http://h/p?", "_bulk", NULL), "http://h/p/_bulk");
    assert_string_equal(build("http://h/p?a=1&&", "_bulk", "b=2"), "http://h/p/_bulk?a=1&b=2");
    /* a prefix without trailing slash, IPv6, user info and case of the scheme kept */
    assert_string_equal(build("HTTP://u:p@[::1]:9200/es", "_bulk", NULL), "HTTP://u:p@[::1]:9200/es/_bulk");
    /* the endpoint's query is kept as written (the user encoded it) */
    assert_string_equal(build("http://h/?q=%41%20b", "", "c=d"), "http://h/?q=%41%20b&c=d");
}

static void test_shown(void **state)
{
    (void)state;
    url_endpoint u;
    char err[200];
    assert_int_equal(url_endpoint_parse(&u, "https://h:1/a/b/?token=secret", err, sizeof err), SL_OK);
    assert_string_equal(u.origin, "https://h:1");
    assert_string_equal(u.path, "/a/b");
    assert_string_equal(u.query, "token=secret");
    assert_string_equal(u.shown, "https://h:1/a/b"); /* no query in log lines */
    url_endpoint_free(&u);
    /* nor a password: the origin keeps it for the request */
    assert_int_equal(url_endpoint_parse(&u, "http://elastic:s3cret@h:9200/p?x=1", err,
                                        sizeof err), SL_OK);
    assert_string_equal(u.origin, "http://elastic:s3cret@h:9200");
    assert_string_equal(u.shown, "http://***@h:9200/p");
    url_endpoint_free(&u);
    const char *fine[] = {"http://h:/x", "http://[::1]:9200", "http://[::1]", "http://h:65535",
                          "http://u:p@h:1/x"};
    for (size_t i = 0; i < SL_ARRAY_LEN(fine); i++) {
        assert_int_equal(url_endpoint_parse(&u, fine[i], err, sizeof err), SL_OK);
        url_endpoint_free(&u);
    }
    assert_int_equal(url_endpoint_parse(&u, "https://tok@h", err, sizeof err), SL_OK);
    assert_string_equal(u.shown, "https://***@h");
    url_endpoint_free(&u);
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {"h:9200", "ftp://h", "http://", "http:///x", "http://h/a b",
                         "http://h/\tx", "http://h/#frag", "http://h/?a=1#f", "",
                         /* a host and port the request could never use */
                         "http://h:99999", "http://h:0/x", "http://h:92a/x", "http://:9200",
                         "http://u:p@:9200", "http://u@", "http://[::1", "http://[]:9200",
                         "http://[::1]x", "http://h:123456"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        url_endpoint u;
        char err[200] = "";
        assert_int_equal(url_endpoint_parse(&u, bad[i], err, sizeof err), SL_ERR_CONFIG);
        assert_true(err[0] != '\0');
        assert_null(u.origin);
        url_endpoint_free(&u); /* harmless on an empty one */
    }
}

static void test_encode(void **state)
{
    (void)state;
    sl_buf b = SL_BUF_INIT;
    const char *s = "aZ09-._~ !$&'()*+,;=:@/?#%\xc3\xa9";
    url_encode(&b, s, strlen(s), URL_QUERY);
    buf_putc(&b, '\0');
    assert_string_equal(b.p, "aZ09-._~%20%21%24%26%27%28%29%2A%2B%2C%3B%3D%3A%40%2F%3F%23%25%C3%A9");
    buf_reset(&b);
    url_encode(&b, s, strlen(s), URL_SEGMENT);
    buf_putc(&b, '\0');
    assert_string_equal(b.p, "aZ09-._~%20!$&'()*+,;=:@%2F%3F%23%25%C3%A9");
    /* a NUL inside the input is encoded, not a terminator */
    buf_reset(&b);
    url_encode(&b, "a\0b", 3, URL_SEGMENT);
    buf_putc(&b, '\0');
    assert_string_equal(b.p, "a%00b");
    buf_reset(&b);
    url_query_add(&b, "k y", "v&w=x");
    assert_string_equal(b.p, "k%20y=v%26w%3Dx");
    url_query_add(&b, "_time_field", "@timestamp");
    assert_string_equal(b.p, "k%20y=v%26w%3Dx&_time_field=%40timestamp");
    url_query_add(&b, "e", "");
    assert_string_equal(b.p, "k%20y=v%26w%3Dx&_time_field=%40timestamp&e=");
    buf_free(&b);
}

static void test_default_path(void **state)
{
    char err[256];
    char *u = url_with_default_path("http://loki:3100", "loki/api/v1/push", err, sizeof err);
    assert_string_equal(u, "http://loki:3100/loki/api/v1/push");
    free(u);
    u = url_with_default_path("https://c.example/?tenant=a", "v1/logs", err, sizeof err);
    assert_string_equal(u, "https://c.example/v1/logs?tenant=a");
    free(u);
    /* a path as written is kept, query and all */
    u = url_with_default_path("http://gw/otlp/v1/logs?k=v", "v1/logs", err, sizeof err);
    assert_string_equal(u, "http://gw/otlp/v1/logs?k=v");
    free(u);
    assert_null(url_with_default_path("ftp://x", "v1/logs", err, sizeof err));
    assert_true(err[0]);
    assert_null(url_with_default_path(NULL, "v1/logs", err, sizeof err));
}

static void test_hostport(void **state)
{
    char host[64], err[256];
    int port;
    assert_int_equal(url_parse_hostport("127.0.0.1:2020", host, sizeof host, &port, err,
                                        sizeof err), SL_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 2020);
    assert_int_equal(url_parse_hostport("[::1]:0", host, sizeof host, &port, err, sizeof err),
                     SL_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    assert_int_equal(url_parse_hostport(":8080", host, sizeof host, &port, err, sizeof err),
                     SL_OK);
    assert_string_equal(host, "");
    assert_int_equal(port, 8080);
    const char *bad[] = {"", "nope", "1.2.3.4:", "1.2.3.4:99999", "::1:80", "[::1]80",
                         "[::1", "h:12a", "h:-1", "h:123456", "h: 80"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        err[0] = '\0';
        assert_int_equal(url_parse_hostport(bad[i], host, sizeof host, &port, err, sizeof err),
                         SL_ERR_CONFIG);
        assert_non_null(strstr(err, "address")); /* no word of the API: sources use it */
        assert_null(strstr(err, "api"));
    }
    assert_int_equal(url_parse_hostport(NULL, host, sizeof host, &port, err, sizeof err),
                     SL_ERR_CONFIG);
    char tiny[4];
    assert_int_equal(url_parse_hostport("localhost:1", tiny, sizeof tiny, &port, err, sizeof err),
                     SL_ERR_CONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_shown),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_hostport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
