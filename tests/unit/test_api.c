/* test_api.c - unit tests for the HTTP API: routes, errors, bad addresses, the request
 * parser, keep-alive, and malformed requests over raw sockets that must not take the server
 * down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/api.h"
#include "core/common.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/tap.h"

typedef struct fake_topo {
    bool ready;
    int status_calls;
} fake_topo;

static bool fake_ready(void *arg) { return ((fake_topo *)arg)->ready; }

static void fake_status(void *arg, sl_buf *out)
{
    fake_topo *t = arg;
    t->status_calls++;
    buf_printf(out, "{\"ready\":%s,\"calls\":%d}", t->ready ? "true" : "false", t->status_calls);
}

typedef struct resp {
    long status;
    sl_buf body;
    char ctype[128];
    char allow[64];
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(&((resp *)ud)->body, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    char line[256];
    size_t l = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, p, l);
    line[l] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    if (strncasecmp(line, "Content-Type: ", 14) == 0)
        snprintf(r->ctype, sizeof r->ctype, "%.127s", line + 14);
    if (strncasecmp(line, "Allow: ", 7) == 0)
        snprintf(r->allow, sizeof r->allow, "%.63s", line + 7);
    return len;
}

/* Performs one request; the body is NUL-terminated. Caller frees r->body. */
static void http(int port, const char *method, const char *path, resp *r)
{
    memset(r, 0, sizeof *r);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    buf_putc(&r->body, '\0');
    r->body.len--;
}

static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Reads fd until `needle` is in what was read, or EOF (needle NULL), or a 20 s safety net.
 * Returns the bytes read into out (NUL-terminated). */
static size_t read_until(int fd, char *out, size_t outlen, const char *needle)
{
    size_t got = 0;
    out[0] = '\0';
    while (!needle || !strstr(out, needle)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20000) <= 0 || got + 1 >= outlen)
            break;
        ssize_t n = recv(fd, out + got, outlen - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        out[got] = '\0';
    }
    return got;
}

/* Sends everything it can (the server may close early) and reads the reply
 * until EOF or a 20 s safety timeout. Returns bytes read into out. */
static size_t raw_exchange(int port, const char *data, size_t len, char *out, size_t outlen)
{
    int fd = raw_connect(port);
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    size_t got = read_until(fd, out, outlen, NULL);
    close(fd);
    return got;
}

static void assert_healthy(int port)
{
    resp r;
    http(port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "ok\n");
    buf_free(&r.body);
}

static sl_api *start_local(const sl_api_handlers *h)
{
    sl_api *a = NULL;
    char err[256] = "";
    int rc = api_start(&a, "127.0.0.1:0", h, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("api_start: %s", err);
    assert_non_null(a);
    assert_true(api_port(a) > 0);
    return a;
}

/* ---- tests ---- */

static void test_routes(void **state)
{
    fake_topo t = {.ready = false};
    sl_api_handlers h = {.ready = fake_ready, .status_json = fake_status, .arg = &t};
    sl_api *a = start_local(&h);
    int port = api_port(a);
    resp r;

    http(port, "GET", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "ok\n");
    buf_free(&r.body);

    http(port, "GET", "/readyz", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body.p, "not ready\n");
    buf_free(&r.body);
    /* Fluent Bit's and Vector's health paths say the same, as their probes read them */
    http(port, "GET", "/api/v1/health", &r);
    assert_int_equal(r.status, 503);
    buf_free(&r.body);
    http(port, "GET", "/health", &r);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body.p, "{\"ok\":false}");
    buf_free(&r.body);
    t.ready = true;
    http(port, "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "ready\n");
    buf_free(&r.body);
    http(port, "GET", "/api/v1/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "ok\n");
    buf_free(&r.body);
    http(port, "GET", "/health", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.p, "{\"ok\":true}");
    assert_true(strncmp(r.ctype, "application/json", 16) == 0);
    buf_free(&r.body);

    sl_metrics *m = metrics_register("in", "source", "file");
    atomic_store(&m->received_events, 42);
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.ctype, "text/plain; version=0.0.4", 25) == 0);
    assert_non_null(strstr(r.body.p, "sluice_component_received_events_total{component_id=\"in\","
                                     "component_kind=\"source\",component_type=\"file\"} 42\n"));
    assert_non_null(strstr(r.body.p, "\nsluice_build_info{version="));
    buf_free(&r.body);

    http(port, "GET", "/api/v1/status", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    assert_string_equal(r.body.p, "{\"ready\":true,\"calls\":1}");
    buf_free(&r.body);

    http(port, "GET", "/api/v1/status?x=1", &r); /* query strings are ignored */
    assert_int_equal(r.status, 200);
    buf_free(&r.body);

    http(port, "HEAD", "/healthz", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    buf_free(&r.body);

    http(port, "GET", "/", &r); /* the status page */
    assert_int_equal(r.status, 200);
    buf_append(&r.body, "", 1);
    assert_non_null(strstr(r.body.p, "<!doctype html>"));
    assert_non_null(strstr(r.body.p, "api/v1/status"));
    buf_free(&r.body);

    const char *missing[] = {"/index.html", "/nope", "/metrics/", "/healthz/x", "/api/v1/status/"};
    for (size_t i = 0; i < SL_ARRAY_LEN(missing); i++) {
        http(port, "GET", missing[i], &r);
        assert_int_equal(r.status, 404);
        buf_free(&r.body);
    }

    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    for (size_t i = 0; i < SL_ARRAY_LEN(methods); i++) {
        http(port, methods[i], "/healthz", &r);
        assert_int_equal(r.status, 405);
        assert_string_equal(r.allow, "GET, HEAD");
        buf_free(&r.body);
    }
    assert_healthy(port);

    /* bad requests are counted in the API's own metrics block */
    sl_metrics *am = NULL;
    for (sl_metrics *x = metrics_first(); x; x = x->next)
        if (strcmp(x->id, "api") == 0)
            am = x;
    assert_non_null(am);
    assert_int_equal(metrics_error_count(am, "not_found"), 5);
    assert_int_equal(metrics_error_count(am, "method_not_allowed"), 5);
    api_stop(a);
}

static void test_null_handlers(void **state)
{
    sl_api *a = start_local(NULL);
    resp r;
    http(api_port(a), "GET", "/readyz", &r);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    http(api_port(a), "GET", "/api/v1/status", &r);
    assert_string_equal(r.body.p, "{}");
    buf_free(&r.body);
    api_stop(a);
    api_stop(NULL);
}

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void test_restart_keeps_one_metrics_block(void **state)
{
    api_stop(start_local(NULL));
    int before = count_fds();
    for (int i = 0; i < 3; i++)
        api_stop(start_local(NULL));
    assert_int_equal(count_fds(), before); /* listen sockets are closed by api_stop */
    int n = 0;
    for (sl_metrics *x = metrics_first(); x; x = x->next)
        if (strcmp(x->id, "api") == 0)
            n++;
    assert_int_equal(n, 1);
}

static void test_busy_port_and_bad_addresses(void **state)
{
    sl_api *a = start_local(NULL);
    char addr[64], err[256] = "";
    snprintf(addr, sizeof addr, "127.0.0.1:%d", api_port(a));
    sl_api *b = (sl_api *)0x1;
    assert_int_equal(api_start(&b, addr, NULL, err, sizeof err), SL_ERR_IO);
    assert_null(b);
    assert_non_null(strstr(err, "in use"));
    api_stop(a);

    err[0] = '\0';
    assert_int_equal(api_start(&b, "127.0.0.1:70000", NULL, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "port"));
    err[0] = '\0';
    /* TEST-NET-3 is never a local address */
    assert_int_equal(api_start(&b, "203.0.113.7:0", NULL, err, sizeof err), SL_ERR_IO);
    assert_non_null(strstr(err, "203.0.113.7"));
    err[0] = '\0';
    assert_int_equal(api_start(&b, "no-such-host.invalid:0", NULL, err, sizeof err),
                     SL_ERR_CONFIG);
    assert_non_null(strstr(err, "resolve"));
    assert_null(b);
}

static void test_ipv6_loopback(void **state)
{
    sl_api *a = NULL;
    char err[256] = "";
    int rc = api_start(&a, "[::1]:0", NULL, err, sizeof err);
    if (rc != SL_OK) {
        /* A host without IPv6 loopback must get a clear error, never a crash. */
        assert_non_null(strstr(err, "::1"));
        assert_null(a);
        return;
    }
    CURL *c = curl_easy_init();
    char url[64];
    snprintf(url, sizeof url, "http://[::1]:%d/healthz", api_port(a));
    curl_easy_setopt(c, CURLOPT_URL, url);
    resp r;
    memset(&r, 0, sizeof r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    api_stop(a);
}

static void test_malformed_requests(void **state)
{
    sl_api *a = start_local(NULL);
    int port = api_port(a);
    static char out[65536];

    /* garbage request line */
    const char garbage[] = "\x01\x02\xff garbage \x00 \r\n\r\n";
    raw_exchange(port, garbage, sizeof garbage - 1, out, sizeof out);
    assert_true(out[0] == '\0' || strncmp(out, "HTTP/1.1 4", 10) == 0);
    assert_healthy(port);

    /* a request line with no HTTP version, and an unknown version */
    const char *lines[] = {"GET /healthz\r\n\r\n", "GET /healthz HTTP/9.9\r\n\r\n",
                           "GET\r\n\r\n", "\r\n\r\n\r\n", "GET /healthz HTTP/1.1\r\nbad\r\n\r\n",
                           "GET /%00%zz HTTP/1.1\r\nHost: x\r\n\r\n"};
    for (size_t i = 0; i < SL_ARRAY_LEN(lines); i++) {
        raw_exchange(port, lines[i], strlen(lines[i]), out, sizeof out);
        assert_healthy(port);
    }

    /* huge header: beyond the per-connection memory limit */
    size_t big = 200 * 1024;
    char *req = malloc(big + 128);
    assert_non_null(req);
    int hl = snprintf(req, 128, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + hl, 'a', big);
    memcpy(req + hl + big, "\r\n\r\n", 4);
    raw_exchange(port, req, (size_t)hl + big + 4, out, sizeof out);
    if (getenv("API_TEST_VERBOSE"))
        fprintf(stderr, "huge header reply: %.40s\n", out);
    assert_true(out[0] == '\0' || strncmp(out, "HTTP/1.1 4", 10) == 0);
    free(req);
    assert_healthy(port);

    /* many headers */
    sl_buf many = SL_BUF_INIT;
    buf_puts(&many, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 5000; i++)
        buf_printf(&many, "X-H%d: v\r\n", i);
    buf_puts(&many, "\r\n");
    raw_exchange(port, many.p, many.len, out, sizeof out);
    buf_free(&many);
    assert_healthy(port);

    /* slowloris-style: several partial requests held open, then dropped */
    int fds[16];
    for (int i = 0; i < 16; i++) {
        fds[i] = raw_connect(port);
        const char part[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ";
        assert_true(send(fds[i], part, sizeof part - 1, MSG_NOSIGNAL) > 0);
    }
    assert_healthy(port); /* the server still answers others meanwhile */
    for (int i = 0; i < 16; i++)
        close(fds[i]);
    assert_healthy(port);

    /* a valid request over a raw socket, to show the exchange itself works */
    const char ok[] = "GET /healthz HTTP/1.0\r\n\r\n";
    raw_exchange(port, ok, sizeof ok - 1, out, sizeof out);
    assert_true(strncmp(out, "HTTP/1.1 200", 12) == 0 || strncmp(out, "HTTP/1.0 200", 12) == 0);
    assert_non_null(strstr(out, "\r\n\r\nok\n"));

    /* a POST with a large body is refused without reading it all */
    sl_buf post = SL_BUF_INIT;
    buf_printf(&post, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1 << 20);
    raw_exchange(port, post.p, post.len, out, sizeof out);
    buf_free(&post);
    assert_true(strncmp(out, "HTTP/1.1 405", 12) == 0);
    assert_healthy(port);
    api_stop(a);
}

static void test_parse_head(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *path, *query;
        bool http10, close, keep_alive, chunked;
        uint64_t length;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", 0, "/", NULL, false, false, false, false, 0},
        {"GET /api/v1/tap?component=x&rate=5 HTTP/1.1\r\nHost: a\r\n\r\n", 0, "/api/v1/tap",
         "component=x&rate=5", false, false, false, false, 0},
        {"HEAD /healthz HTTP/1.0\r\nConnection:  Keep-Alive \r\n\r\n", 0, "/healthz", NULL, true,
         false, true, false, 0},
        {"POST /x HTTP/1.1\r\nconnection: close\r\ncontent-length: 12\r\n\r\n", 0, "/x", NULL,
         false, true, false, false, 12},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 0, "/x", NULL, false, false,
         false, true, 0},
        {"GET /? HTTP/1.1\r\n\r\n", 0, "/", "", false, false, false, false, 0},
        {.in = "GET /healthz HTTP/9.9\r\n\r\n", .rc = 505},
        {.in = "GET /healthz HTTP/2.0\r\n\r\n", .rc = 505},
        {.in = "GET /healthz\r\n\r\n", .rc = 400},
        {.in = "GET\r\n\r\n", .rc = 400},
        {.in = "\r\n\r\n", .rc = 400},
        {.in = "get /healthz HTTP/1.1\r\n\r\n", .rc = 400},
        {.in = "GET healthz HTTP/1.1\r\n\r\n", .rc = 400},
        {.in = "GET  /healthz HTTP/1.1\r\n\r\n", .rc = 400},
        {.in = "GET /a b HTTP/1.1\r\n\r\n", .rc = 400},
        {.in = "GET /healthz HTTP/1.1\r\nbad\r\n\r\n", .rc = 400},
        {.in = "GET /healthz HTTP/1.1\r\n folded: x\r\n\r\n", .rc = 400},
        {.in = "GET /healthz HTTP/1.1\nHost: x\n\n", .rc = 400},
        {.in = "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", .rc = 400},
        {.in = "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", .rc = 400},
        {.in = "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = 400},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
        api_req r;
        int rc = api_parse_head(cases[i].in, strlen(cases[i].in), &r);
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): %d, want %d", i, cases[i].in, rc, cases[i].rc);
        if (rc)
            continue;
        assert_int_equal(r.path_len, strlen(cases[i].path));
        assert_memory_equal(r.path, cases[i].path, r.path_len);
        if (cases[i].query) {
            assert_non_null(r.query);
            assert_int_equal(r.query_len, strlen(cases[i].query));
            assert_memory_equal(r.query, cases[i].query, r.query_len);
        } else {
            assert_null(r.query);
        }
        assert_int_equal(r.http10, cases[i].http10);
        assert_int_equal(r.close, cases[i].close);
        assert_int_equal(r.keep_alive, cases[i].keep_alive);
        assert_int_equal(r.chunked, cases[i].chunked);
        assert_int_equal(r.content_length, cases[i].length);
    }
    /* the query: percent-decoding, '+', the first of repeated names, cut to the room */
    const char *q = "GET /t?component=a%2Fb+c&limit=&rate=5&rate=6&x%41=1&bad=%zz%4 HTTP/1.1\r\n\r\n";
    api_req r;
    assert_int_equal(api_parse_head(q, strlen(q), &r), 0);
    char v[16];
    assert_true(api_query_param(&r, "component", v, sizeof v));
    assert_string_equal(v, "a/b c");
    assert_true(api_query_param(&r, "limit", v, sizeof v));
    assert_string_equal(v, "");
    assert_true(api_query_param(&r, "rate", v, sizeof v));
    assert_string_equal(v, "5");
    assert_false(api_query_param(&r, "xA", v, sizeof v)); /* names are not decoded */
    assert_true(api_query_param(&r, "bad", v, sizeof v));
    assert_string_equal(v, "%zz%4");
    assert_true(api_query_param(&r, "component", v, 3));
    assert_string_equal(v, "a/");
    assert_false(api_query_param(&r, "nope", v, sizeof v));
}

/* Counts non-overlapping occurrences of needle in s. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void test_keep_alive_and_bodies(void **state)
{
    sl_api *a = start_local(NULL);
    int port = api_port(a);
    static char out[65536];

    /* Pipelined on one connection: a refused POST whose body is dropped, two GETs, the
     * last asking to close; the server answers all three in order and closes. */
    const char three[] = "POST /healthz HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde"
                         "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                         "GET /readyz HTTP/1.1\r\nConnection: close\r\n\r\n";
    raw_exchange(port, three, sizeof three - 1, out, sizeof out);
    assert_int_equal(count_of(out, "HTTP/1.1 "), 3);
    const char *p405 = strstr(out, "HTTP/1.1 405"), *pok = strstr(out, "\r\n\r\nok\n"),
               *pready = strstr(out, "\r\n\r\nready\n");
    assert_non_null(p405);
    assert_non_null(pok);
    assert_non_null(pready);
    assert_true(p405 < pok && pok < pready);
    assert_non_null(strstr(out, "Connection: close\r\n"));

    /* A body too large to be worth dropping, or chunked: answered, then the close. */
    const char *closers[] = {"POST /healthz HTTP/1.1\r\nContent-Length: 2097152\r\n\r\n",
                             "POST /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"};
    for (size_t i = 0; i < SL_ARRAY_LEN(closers); i++) {
        raw_exchange(port, closers[i], strlen(closers[i]), out, sizeof out);
        assert_true(strncmp(out, "HTTP/1.1 405", 12) == 0);
        assert_non_null(strstr(out, "Connection: close\r\n"));
    }

    /* HTTP/1.0 keeps the connection only when asked to, and says so. */
    const char ten[] = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                       "GET /readyz HTTP/1.0\r\n\r\n"
                       "GET /healthz HTTP/1.0\r\n\r\n";
    raw_exchange(port, ten, sizeof ten - 1, out, sizeof out);
    assert_int_equal(count_of(out, "HTTP/1.1 200 OK\r\n"), 2);
    const char *ka = strstr(out, "Connection: keep-alive\r\n"), *cl = strstr(out, "Connection: close\r\n");
    assert_non_null(ka);
    assert_non_null(cl);
    assert_true(ka < cl && cl < strstr(out, "ready\n"));

    /* A head arriving a byte at a time is answered once whole. */
    int fd = raw_connect(port);
    const char slow[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for (size_t i = 0; i < sizeof slow - 1; i++)
        assert_int_equal(send(fd, slow + i, 1, MSG_NOSIGNAL), 1);
    size_t got = 0;
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 20000) <= 0)
            break;
        ssize_t n = recv(fd, out + got, sizeof out - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    out[got] = '\0';
    close(fd);
    assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(out, "Content-Length: 3\r\n"));

    /* Bad requests get their status, are counted, and close the connection. */
    sl_metrics *am = NULL;
    for (sl_metrics *x = metrics_first(); x; x = x->next)
        if (strcmp(x->id, "api") == 0)
            am = x;
    assert_non_null(am);
    uint64_t before = metrics_error_count(am, "http_protocol");
    const char v2[] = "GET /healthz HTTP/2.0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n";
    raw_exchange(port, v2, sizeof v2 - 1, out, sizeof out);
    assert_true(strncmp(out, "HTTP/1.1 505", 12) == 0);
    assert_int_equal(count_of(out, "HTTP/1.1 "), 1);
    const char bad[] = "GET /healthz HTTP/1.1\r\nno colon\r\n\r\n";
    raw_exchange(port, bad, sizeof bad - 1, out, sizeof out);
    assert_true(strncmp(out, "HTTP/1.1 400", 12) == 0);
    assert_int_equal(metrics_error_count(am, "http_protocol"), before + 2);
    assert_healthy(port);
    api_stop(a);
}

static sl_tap the_tap;

static sl_tap *fake_tap(void *arg, const char *id, sl_buf *ids)
{
    if (strcmp(id, "c") == 0)
        return &the_tap;
    buf_puts(ids, "c");
    return NULL;
}

/* Waits until a client has attached to the tap (a state, not a time). */
static void wait_attached(void)
{
    for (int i = 0; !atomic_load(&the_tap.active); i++) {
        assert_true(i < 20000); /* a safety net: 20 s */
        usleep(1000);
    }
}

static sl_batch *events_of(int n)
{
    sl_batch *b = batch_new((uint32_t)n);
    for (int i = 0; i < n; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1;
        e->message = SL_STR("tapped");
        event_set_int(b, e, "i", i);
    }
    return b;
}

/* GET /api/v1/tap: a chunked stream that ends after `limit` events and keeps the
 * connection (HTTP/1.1), or an unframed one that ends with the close (HTTP/1.0); one client
 * at a time; an unknown component is a 404 naming the known ones. */
static void test_tap_stream(void **state)
{
    tap_init(&the_tap);
    sl_api_handlers h = {.tap = fake_tap};
    sl_api *a = start_local(&h);
    int port = api_port(a);
    static char out[65536];
    sl_batch *b = events_of(5);

    int fd = raw_connect(port);
    const char get11[] = "GET /api/v1/tap?component=c&limit=3&rate=1000 HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(send(fd, get11, sizeof get11 - 1, MSG_NOSIGNAL), (ssize_t)sizeof get11 - 1);
    wait_attached();
    raw_exchange(port, get11, sizeof get11 - 1, out, sizeof out); /* a second client */
    assert_true(strncmp(out, "HTTP/1.1 409", 12) == 0);
    tap_hook(&the_tap, b);
    read_until(fd, out, sizeof out, "\r\n0\r\n\r\n");
    assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(out, "Transfer-Encoding: chunked\r\n"));
    assert_int_equal(count_of(out, "\"message\":\"tapped\""), 3);
    assert_non_null(strstr(out, "\r\n0\r\n\r\n")); /* the last chunk */
    /* the same connection serves the next request */
    const char next[] = "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
    assert_int_equal(send(fd, next, sizeof next - 1, MSG_NOSIGNAL), (ssize_t)sizeof next - 1);
    read_until(fd, out, sizeof out, NULL);
    assert_true(strncmp(out, "HTTP/1.1 200 OK\r\n", 17) == 0);
    assert_non_null(strstr(out, "\r\n\r\nok\n"));
    close(fd);
    assert_false(atomic_load(&the_tap.active)); /* detached when the stream ended */

    fd = raw_connect(port);
    const char get10[] = "GET /api/v1/tap?component=c&limit=2 HTTP/1.0\r\n\r\n";
    assert_int_equal(send(fd, get10, sizeof get10 - 1, MSG_NOSIGNAL), (ssize_t)sizeof get10 - 1);
    wait_attached();
    tap_hook(&the_tap, b);
    read_until(fd, out, sizeof out, NULL); /* the server closes at the end */
    close(fd);
    assert_null(strstr(out, "chunked"));
    assert_non_null(strstr(out, "Connection: close\r\n"));
    assert_int_equal(count_of(out, "\"message\":\"tapped\""), 2);

    const char unknown[] = "GET /api/v1/tap?component=x HTTP/1.1\r\nConnection: close\r\n\r\n";
    raw_exchange(port, unknown, sizeof unknown - 1, out, sizeof out);
    assert_true(strncmp(out, "HTTP/1.1 404", 12) == 0);
    assert_non_null(strstr(out, "(components: c)"));
    api_stop(a);
    batch_release(b);
    tap_destroy(&the_tap);
}

static int teardown(void **state)
{
    metrics_reset();
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_routes, teardown),
        cmocka_unit_test_teardown(test_null_handlers, teardown),
        cmocka_unit_test_teardown(test_restart_keeps_one_metrics_block, teardown),
        cmocka_unit_test_teardown(test_busy_port_and_bad_addresses, teardown),
        cmocka_unit_test_teardown(test_ipv6_loopback, teardown),
        cmocka_unit_test_teardown(test_malformed_requests, teardown),
        cmocka_unit_test(test_parse_head),
        cmocka_unit_test_teardown(test_keep_alive_and_bodies, teardown),
        cmocka_unit_test_teardown(test_tap_stream, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
