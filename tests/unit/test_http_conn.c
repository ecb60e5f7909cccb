/* test_http_conn.c - unit tests for the sinks' own HTTP client (net/http_conn.c through
 * http_multi_do) against a small in-process server on an ephemeral loopback port: the
 * request head (method, target, Host, Content-Length, basic auth, caller headers, a
 * suppressed header), keep-alive reuse, a connection the server closed while idle, one it
 * closed under a reused request (sent again on a fresh one), chunked answers streamed to
 * on_data, HEAD, Retry-After and ETag, an answer that comes before the body was read, the
 * timeout, a refused connection's message, http_multi_inflight, and a stream that never
 * ends, given up by its cancel flag (the status known to on_data before the body), and the
 * same over TLS when every byte of the stream is already there (no read ever waits). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "core/common.h"
#include "net/http_multi.h"

enum {
    M_KEEP = 0,     /* answer 200 with a body, keep the connection */
    M_CLOSE_AFTER,  /* answer, then close without saying so */
    M_DROP_REUSED,  /* a second request on a connection: close without an answer */
    M_CHUNKED,      /* a chunked 200 */
    M_SILENT,       /* never answer */
    M_HEAD,         /* Content-Length: 100, no body (an answer to HEAD) */
    M_RETRY,        /* 429 with Retry-After and an ETag */
    M_EARLY,        /* 413 as soon as the head is in, the body left unread */
    M_STREAM,       /* a chunked 200 with one chunk, then nothing, never ended */
};

static struct {
    int lfd, port, mode;
    int conns, reqs, closes;
    bool early_done; /* M_EARLY: the client has its answer (and closed) */
    char last_head[4096];
    size_t last_body;
    pthread_mutex_t mu;
    pthread_t th;
} srv;

static void answer(int fd, const char *s) { (void)!write(fd, s, strlen(s)); }

/* Reads one request head and its body (not with M_EARLY, as set when the head is in); -1
 * at EOF. */
static int read_request(int fd, char *head, size_t cap, size_t *body)
{
    size_t n = 0;
    char *end = NULL;
    while (!(end = n ? strstr(head, "\r\n\r\n") : NULL)) {
        if (n + 1 >= cap)
            return -1;
        ssize_t r = read(fd, head + n, 1); /* byte by byte: never read past the head */
        if (r <= 0)
            return -1;
        n += (size_t)r;
        head[n] = '\0';
    }
    pthread_mutex_lock(&srv.mu);
    bool skip_body = srv.mode == M_EARLY;
    pthread_mutex_unlock(&srv.mu);
    const char *cl = strcasestr(head, "\r\nContent-Length:");
    size_t want = cl && !skip_body ? strtoul(cl + 17, NULL, 10) : 0, got = 0;
    char buf[65536];
    while (got < want) {
        ssize_t r = read(fd, buf, SL_MIN(sizeof buf, want - got));
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    *body = got;
    return 0;
}

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(srv.lfd, NULL, NULL);
        if (fd < 0)
            return NULL;
        pthread_mutex_lock(&srv.mu);
        srv.conns++;
        pthread_mutex_unlock(&srv.mu);
        int on_conn = 0;
        char head[4096];
        size_t body;
        while (read_request(fd, head, sizeof head, &body) == 0) {
            on_conn++;
            pthread_mutex_lock(&srv.mu);
            srv.reqs++;
            snprintf(srv.last_head, sizeof srv.last_head, "%s", head);
            srv.last_body = body;
            int mode = srv.mode;
            pthread_mutex_unlock(&srv.mu);
            if (mode == M_DROP_REUSED && on_conn > 1)
                break;
            if (mode == M_STREAM)
                answer(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "6\r\nevent\n\r\n");
            if (mode == M_SILENT || mode == M_STREAM) {
                char b;
                while (read(fd, &b, 1) > 0) /* until the client gives up */
                    ;
                break;
            }
            if (mode == M_CHUNKED)
                answer(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n");
            else if (mode == M_HEAD)
                answer(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
            else if (mode == M_EARLY)
                answer(fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\n\r\ntoo big");
            else if (mode == M_RETRY)
                answer(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 429 Slow Down\r\n"
                           "Retry-After: 7\r\nETag: \"v1\"\r\nContent-Length: 4\r\n\r\nslow");
            else
                answer(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                           "Content-Length: 2\r\n\r\nok");
            if (mode == M_CLOSE_AFTER)
                break;
            if (mode == M_EARLY) {
                /* read nothing until the client has its answer, then drain to its close
                 * (closing with unread bytes would reset the connection under it) */
                for (;;) {
                    pthread_mutex_lock(&srv.mu);
                    bool done = srv.early_done;
                    pthread_mutex_unlock(&srv.mu);
                    if (done)
                        break;
                    usleep(1000);
                }
                char drain[65536];
                while (read(fd, drain, sizeof drain) > 0)
                    ;
                break;
            }
        }
        close(fd);
        pthread_mutex_lock(&srv.mu);
        srv.closes++;
        pthread_mutex_unlock(&srv.mu);
    }
}

/* A TCP socket bound to 127.0.0.1 on a port the kernel chooses, listening when backlog > 0;
 * *port is that port. -1 on failure. */
static int loopback_socket(int backlog, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (backlog > 0 && listen(fd, backlog) != 0) ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static int setup(void **state)
{
    (void)state;
    pthread_mutex_init(&srv.mu, NULL);
    srv.lfd = loopback_socket(16, &srv.port);
    if (srv.lfd < 0)
        return -1;
    return pthread_create(&srv.th, NULL, server, NULL);
}

static void reset(int mode)
{
    pthread_mutex_lock(&srv.mu);
    srv.mode = mode;
    srv.conns = srv.reqs = srv.closes = 0;
    if (mode == M_EARLY)
        srv.early_done = false; /* set again once the client has its answer */
    srv.last_head[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

static int do_req(http_multi *m, const char *method, const char *path, const char *body,
                  http_mresp *resp, int64_t timeout_ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", srv.port, path);
    const char *hdrs[] = {"Content-Type: application/x-ndjson", "Expect:", "X-Empty;"};
    http_mreq r = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .nheaders = 3,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = timeout_ms,
    };
    return http_multi_do(m, &r, resp);
}

static void test_head_and_reuse(void **state)
{
    (void)state;
    char err[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    reset(M_KEEP);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/p/_bulk?refresh=false", srv.port);
    const char *hdrs[] = {"Content-Type: application/x-ndjson", "Expect:", "X-Empty;"};
    http_mreq r = {.url = url, .headers = hdrs, .nheaders = 3, .body = "{}\n", .body_len = 3,
                   .user = "user", .password = "pw"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(http_multi_do(m, &r, &resp), SL_OK);
        assert_int_equal(resp.status, 200);
        assert_int_equal(resp.body.len, 2);
        assert_memory_equal(resp.body.p, "ok", 2);
    }
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.conns, 1); /* one connection for all three */
    assert_int_equal(srv.reqs, 3);
    const char *h = srv.last_head;
    assert_true(strncmp(h, "POST /p/_bulk?refresh=false HTTP/1.1\r\n", 38) == 0);
    char host[64];
    snprintf(host, sizeof host, "\r\nHost: 127.0.0.1:%d\r\n", srv.port);
    assert_non_null(strstr(h, host));
    assert_non_null(strstr(h, "\r\nContent-Length: 3\r\n"));
    assert_non_null(strstr(h, "\r\nAuthorization: Basic dXNlcjpwdw==\r\n"));
    assert_non_null(strstr(h, "\r\nContent-Type: application/x-ndjson\r\n"));
    assert_non_null(strstr(h, "\r\nX-Empty:\r\n"));
    assert_null(strcasestr(h, "Expect"));
    assert_int_equal(srv.last_body, 3);
    pthread_mutex_unlock(&srv.mu);

    /* GET: no body, no Content-Length; an empty POST says Content-Length: 0 */
    assert_int_equal(do_req(m, "GET", "", "ignored", &resp, 0), SL_OK);
    pthread_mutex_lock(&srv.mu);
    assert_true(strncmp(srv.last_head, "GET / HTTP/1.1\r\n", 16) == 0);
    assert_null(strstr(srv.last_head, "Content-Length"));
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(do_req(m, NULL, "/x", NULL, &resp, 0), SL_OK);
    pthread_mutex_lock(&srv.mu);
    assert_non_null(strstr(srv.last_head, "\r\nContent-Length: 0\r\n"));
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(http_multi_inflight(m), 0);
    buf_free(&resp.body);
    http_multi_free(m);
}

/* Waits until the server has closed n connections (fails after 30 s). */
static void wait_closes(int n)
{
    for (int waited = 0;; waited++) {
        pthread_mutex_lock(&srv.mu);
        int c = srv.closes;
        pthread_mutex_unlock(&srv.mu);
        if (c >= n)
            return;
        assert_true(waited < 30000);
        usleep(1000);
    }
}

static void test_stale_connections(void **state)
{
    (void)state;
    char err[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    /* closed after each answer: never an error. Each request waits until the server has
     * closed the last connection, so the check before reuse is what should find it (one
     * it missed would be sent again, the case below). */
    reset(M_CLOSE_AFTER);
    for (int i = 0; i < 4; i++) {
        if (i)
            wait_closes(i);
        assert_int_equal(do_req(m, "POST", "/a", "x", &resp, 0), SL_OK);
        assert_int_equal(resp.status, 200);
    }
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.conns, 4);
    pthread_mutex_unlock(&srv.mu);
    /* closed under the reused request: sent again on a fresh connection */
    reset(M_KEEP);
    assert_int_equal(do_req(m, "POST", "/b", "y", &resp, 0), SL_OK);
    pthread_mutex_lock(&srv.mu);
    srv.mode = M_DROP_REUSED;
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(do_req(m, "POST", "/b", "z", &resp, 0), SL_OK);
    assert_int_equal(resp.status, 200);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.conns, 2);
    assert_int_equal(srv.reqs, 3); /* the dropped one and its resend */
    pthread_mutex_unlock(&srv.mu);
    buf_free(&resp.body);
    http_multi_free(m);
}

typedef struct streamed {
    char buf[64];
    size_t len;
} streamed;

static int on_data(void *arg, const char *p, size_t n)
{
    streamed *s = arg;
    assert_true(s->len + n < sizeof s->buf);
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static void test_answers(void **state)
{
    (void)state;
    char err[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    reset(M_CHUNKED);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/c", srv.port);
    streamed st = {0};
    http_mreq r = {.url = url, .body = "b", .body_len = 1, .on_data = on_data, .arg = &st};
    assert_int_equal(http_multi_do(m, &r, &resp), SL_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(st.len, 11);
    assert_memory_equal(st.buf, "hello world", 11);
    assert_int_equal(resp.body.len, 0);
    /* the connection is kept after a chunked answer */
    assert_int_equal(do_req(m, "POST", "/c", "x", &resp, 0), SL_OK);
    assert_memory_equal(resp.body.p, "hello world", 11);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.conns, 1);
    pthread_mutex_unlock(&srv.mu);

    reset(M_HEAD);
    assert_int_equal(do_req(m, "HEAD", "/h", NULL, &resp, 0), SL_OK);
    assert_int_equal(resp.status, 200);
    assert_int_equal(resp.body.len, 0);

    reset(M_RETRY);
    assert_int_equal(do_req(m, "POST", "/r", "x", &resp, 0), SL_OK);
    assert_int_equal(resp.status, 429);
    assert_int_equal(resp.retry_after_ms, 7000);
    assert_string_equal(resp.etag, "\"v1\"");
    assert_memory_equal(resp.body.p, "slow", 4);

    /* an answer before the body was read stops the send; that connection is not reused */
    reset(M_EARLY);
    size_t big = 24u << 20; /* more than loopback buffers hold */
    char *body = malloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    int rc = do_req(m, "POST", "/big", body, &resp, 10000);
    pthread_mutex_lock(&srv.mu);
    srv.early_done = true;
    pthread_mutex_unlock(&srv.mu);
    if (rc != SL_OK)
        fprintf(stderr, "early answer: %s\n", resp.error);
    assert_int_equal(rc, SL_OK);
    assert_int_equal(resp.status, 413);
    assert_memory_equal(resp.body.p, "too big", 7);
    free(body);
    reset(M_KEEP);
    assert_int_equal(do_req(m, "POST", "/after", "x", &resp, 0), SL_OK);
    assert_int_equal(resp.status, 200);
    pthread_mutex_lock(&srv.mu);
    assert_int_equal(srv.conns, 1); /* a fresh one */
    pthread_mutex_unlock(&srv.mu);
    buf_free(&resp.body);
    http_multi_free(m);
}

static void test_failures(void **state)
{
    (void)state;
    char err[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    reset(M_SILENT);
    assert_int_equal(do_req(m, "POST", "/t", "x", &resp, 200), SL_ERR_TIMEOUT);
    assert_int_equal(resp.status, 0);
    assert_non_null(strstr(resp.error, "timed out after 200 ms"));
    assert_int_equal(http_multi_inflight(m), 0);

    /* a port nobody listens on: the listener of a socket bound and closed */
    int port;
    int fd = loopback_socket(0, &port);
    assert_true(fd >= 0);
    close(fd);
    char url[128], want[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    http_mreq r = {.url = url, .body = "x", .body_len = 1};
    assert_int_equal(http_multi_do(m, &r, &resp), SL_ERR_IO);
    assert_string_equal(resp.error, want);
    assert_false(resp.tls);
    buf_free(&resp.body);
    http_multi_free(m);
}

typedef struct watching {
    http_mresp *resp;
    atomic_bool cancel;
    long status_seen;
    size_t bytes;
} watching;

static int on_stream(void *arg, const char *p, size_t n)
{
    (void)p;
    watching *w = arg;
    w->status_seen = w->resp->status;
    w->bytes += n;
    atomic_store(&w->cancel, true); /* its owner stops while the stream waits */
    return 0;
}

/* A stream that never ends: only the cancel flag ends it with SL_ERR_CLOSED (were the flag
 * not seen, the request's deadline would, with SL_ERR_TIMEOUT). */
static void test_cancel(void **state)
{
    (void)state;
    char err[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    reset(M_STREAM);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/watch", srv.port);
    watching w = {.resp = &resp};
    http_mreq r = {.method = "GET", .url = url, .timeout_ms = 30000, .on_data = on_stream,
                   .arg = &w, .cancel = &w.cancel};
    assert_int_equal(http_multi_do(m, &r, &resp), SL_ERR_CLOSED);
    assert_int_equal(w.status_seen, 200);
    assert_int_equal(w.bytes, 6);
    assert_non_null(strstr(resp.error, "cancelled"));
    assert_int_equal(resp.status, 0);
    /* a flag that stays false changes nothing */
    reset(M_KEEP);
    atomic_store(&w.cancel, false);
    http_mreq k = {.url = url, .body = "x", .body_len = 1, .cancel = &w.cancel};
    assert_int_equal(http_multi_do(m, &k, &resp), SL_OK);
    assert_int_equal(resp.status, 200);
    assert_memory_equal(resp.body.p, "ok", 2);
    buf_free(&resp.body);
    http_multi_free(m);
}

/* ---- TLS: a stream whose bytes are all there ---------------------------------------------
 * A TLS read tries SSL_read before it waits on the socket, so a stream that never pauses
 * never waits: the cancel flag must be looked at before each read. The server sends the
 * head and one chunk, then (while on_data holds the client, the flag already set) the rest
 * of the answer, complete, into the socket buffers. Were the flag seen only by a wait, the
 * client would read it all and return SL_OK. */

static struct {
    int lfd, port;
    SSL_CTX *ctx;
    atomic_bool rest_written;
    pthread_t th;
} tls_srv;

static int ssl_write_all(SSL *ssl, const char *p, size_t n)
{
    while (n > 0) {
        int w = SSL_write(ssl, p, (int)n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *tls_server(void *arg)
{
    (void)arg;
    int fd = accept(tls_srv.lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    int one = 1; /* no Nagle: the last small record goes out at once */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    SSL *ssl = SSL_new(tls_srv.ctx);
    SSL_set_fd(ssl, fd);
    char head[4096];
    size_t n = 0;
    if (SSL_accept(ssl) == 1) {
        while (n + 1 < sizeof head) { /* the request head */
            int r = SSL_read(ssl, head + n, (int)(sizeof head - 1 - n));
            if (r <= 0)
                break;
            n += (size_t)r;
            head[n] = '\0';
            if (strstr(head, "\r\n\r\n"))
                break;
        }
        const char *first = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nevent\n\r\n";
        char chunk[1024 + 16];
        int hl = snprintf(chunk, sizeof chunk, "400\r\n");
        memset(chunk + hl, 'x', 1024);
        memcpy(chunk + hl + 1024, "\r\n", 2);
        int ok = ssl_write_all(ssl, first, strlen(first));
        for (int i = 0; ok == 0 && i < 32; i++) /* 32 KiB: well within the socket buffers */
            ok = ssl_write_all(ssl, chunk, (size_t)hl + 1026);
        if (ok == 0)
            ok = ssl_write_all(ssl, "0\r\n\r\n", 5);
        /* written is not there yet: wait until the client's kernel has acknowledged it all */
        for (int i = 0; ok == 0 && i < 20000; i++) {
            int q = 0;
            if (ioctl(fd, SIOCOUTQ, &q) != 0 || q == 0)
                break;
            usleep(1000);
        }
        atomic_store(&tls_srv.rest_written, true);
        char b;
        while (SSL_read(ssl, &b, 1) > 0) /* until the client goes */
            ;
    }
    SSL_free(ssl);
    close(fd);
    return NULL;
}

/* A self-signed certificate made here: the client runs with `insecure`. */
static SSL_CTX *tls_server_ctx(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static int on_tls_stream(void *arg, const char *p, size_t n)
{
    (void)p;
    watching *w = arg;
    w->bytes += n;
    if (atomic_load(&w->cancel))
        return 0;
    atomic_store(&w->cancel, true);
    /* Hold the client here until the whole answer is in its socket (a state, bounded). */
    for (int i = 0; i < 20000 && !atomic_load(&tls_srv.rest_written); i++)
        usleep(1000);
    assert_true(atomic_load(&tls_srv.rest_written));
    return 0;
}

static void test_cancel_tls(void **state)
{
    (void)state;
    tls_srv.ctx = tls_server_ctx();
    int port;
    tls_srv.lfd = loopback_socket(4, &port);
    assert_true(tls_srv.lfd >= 0);
    assert_int_equal(pthread_create(&tls_srv.th, NULL, tls_server, NULL), 0);
    char err[128], url[128];
    http_multi *m = http_multi_new(err, sizeof err);
    http_mresp resp = {0};
    snprintf(url, sizeof url, "https://127.0.0.1:%d/watch", port);
    watching w = {.resp = &resp};
    http_mreq r = {.method = "GET", .url = url, .timeout_ms = 30000, .insecure = true,
                   .on_data = on_tls_stream, .arg = &w, .cancel = &w.cancel};
    int rc = http_multi_do(m, &r, &resp);
    if (rc != SL_ERR_CLOSED)
        fprintf(stderr, "rc %d status %ld error %s bytes %zu\n", rc, resp.status, resp.error,
                w.bytes);
    assert_int_equal(rc, SL_ERR_CLOSED);
    assert_non_null(strstr(resp.error, "cancelled"));
    assert_true(w.bytes < 6 + 32 * 1024); /* the rest, all there, was never read */
    http_multi_free(m); /* closes the connection: the server's read ends */
    pthread_join(tls_srv.th, NULL);
    close(tls_srv.lfd);
    SSL_CTX_free(tls_srv.ctx);
    buf_free(&resp.body);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_and_reuse),
        cmocka_unit_test(test_stale_connections),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cancel_tls),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
