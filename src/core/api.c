/* api.c - the HTTP API, served by the project's own epoll server (net/server.h) on a thread
 * of its own.
 *
 * Per connection: HEAD (reading a request's head; it must be whole within
 * API_CONN_TIMEOUT_MS of its first byte and API_HEAD_MAX bytes) -> answered, the body (if
 * any) dropped as it arrives -> HEAD again (keep-alive), or CLOSED (a bad request, a
 * chunked body or one over API_BODY_DROP_MAX, or the client asked to close: nothing more is
 * read and the answer is flushed before the close),
 * or TAP (GET /api/v1/tap: a chunked stream of events pumped on every loop tick until the
 * tap's limit is reached or the client leaves; then HEAD or CLOSED). Connections silent for
 * API_CONN_TIMEOUT_MS are closed, at most API_CONN_LIMIT are open. A tap stream takes events
 * only while less than TAP_QUEUE_MAX bytes wait for the client, so a client that stops
 * reading falls silent and is closed as idle. */
#include "api.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "metrics.h"
#include "net/server.h"
#include "net/url.h"
#include "status_page.h" /* generated from status_page.html by the Makefile */
#include "tap.h"

#define API_CONN_TIMEOUT_MS 10000
#define API_CONN_LIMIT 64
#define API_HEAD_MAX (32 * 1024) /* request line + headers; beyond it: 431 */
#define API_BODY_DROP_MAX (1 << 20) /* a larger body is not read: the connection closes */
/* A tap stream: the newline sent after this long without events (it finds a client that
 * left), the block taken from the tap at a time, the most queued for a client. */
#define TAP_HEARTBEAT_MS 2000
#define TAP_BLOCK (8 * 1024)
#define TAP_QUEUE_MAX (64 * 1024)
#define TAP_DEFAULT_RATE 100
#define TAP_MAX_RATE 100000

enum { API_HEAD = 0, API_TAP, API_CLOSED };

typedef struct api_conn {
    int state;
    bool deadline;    /* a head is arriving: net_conn_set_deadline is armed */
    bool keep_alive;  /* after a tap stream ends */
    bool chunked_out; /* the tap stream is chunked (HTTP/1.1) */
    uint64_t discard; /* body bytes of the answered request still to drop */
    net_conn *c;
    sl_tap *tap;
    int64_t quiet_since_ms;
    struct api_conn *prev, *next; /* in sl_api.taps while streaming */
} api_conn;

struct sl_api {
    net_server *srv;
    net_server_config scfg;
    net_server_cb cb;
    pthread_t thread;
    int stop_fd;
    sl_api_handlers h;
    int port;
    char address[128];
    sl_metrics *m; /* registry-owned; see api_start */
    api_conn *taps;
};

static bool token_is(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(p, word, n) == 0;
}

int api_parse_head(const char *p, size_t n, api_req *r)
{
    memset(r, 0, sizeof *r);
    const char *end = p + n;
    const char *eol = memchr(p, '\n', n);
    if (!eol || eol == p || eol[-1] != '\r')
        return 400;
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == p || sp2 == sp1 + 1 || sp1[1] != '/')
        return 400;
    r->method = p;
    r->method_len = (size_t)(sp1 - p);
    for (size_t i = 0; i < r->method_len; i++)
        if (p[i] < 'A' || p[i] > 'Z')
            return 400;
    const char *target = sp1 + 1, *vers = sp2 + 1;
    size_t tlen = (size_t)(sp2 - target), vlen = (size_t)(eol - 1 - vers);
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)target[i] <= ' ' || target[i] == 0x7f)
            return 400;
    if (vlen != 8 || memcmp(vers, "HTTP/1.", 7) != 0)
        return vlen >= 5 && memcmp(vers, "HTTP/", 5) == 0 ? 505 : 400;
    if (vers[7] != '0' && vers[7] != '1')
        return 505;
    r->http10 = vers[7] == '0';
    r->path = target;
    const char *q = memchr(target, '?', tlen);
    r->path_len = q ? (size_t)(q - target) : tlen;
    if (q) {
        r->query = q + 1;
        r->query_len = tlen - r->path_len - 1;
    }
    bool has_length = false;
    for (const char *line = eol + 1; line < end;) {
        const char *le = memchr(line, '\n', (size_t)(end - line));
        if (!le || le[-1] != '\r')
            return 400;
        size_t ll = (size_t)(le - 1 - line);
        if (ll == 0)
            break; /* the empty line ending the head */
        const char *colon = memchr(line, ':', ll);
        if (!colon || colon == line || line[0] == ' ' || line[0] == '\t')
            return 400;
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1, *ve = le - 1;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (nl == 10 && strncasecmp(line, "connection", 10) == 0) {
            if (vl == 5 && strncasecmp(v, "close", 5) == 0)
                r->close = true;
            else if (vl == 10 && strncasecmp(v, "keep-alive", 10) == 0)
                r->keep_alive = true;
        } else if (nl == 14 && strncasecmp(line, "content-length", 14) == 0) {
            uint64_t cl = 0;
            if (vl == 0 || vl > 15 || has_length)
                return 400;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return 400;
                cl = cl * 10 + (uint64_t)(v[i] - '0');
            }
            r->content_length = cl;
            has_length = true;
        } else if (nl == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
            r->chunked = true; /* any coding: the body's end is not known here */
        }
        line = le + 1;
    }
    if (r->chunked && has_length)
        return 400;
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 422: return "Unprocessable Entity";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* How a request is answered: without the body (HEAD); closing the connection after it;
 * saying "Connection: keep-alive" (an HTTP/1.0 client that asked for it). */
typedef struct api_answer {
    bool head_only, close, keep_alive_10;
} api_answer;

/* Answers with a whole body (not sent for HEAD). `extra` is more header lines, each ending
 * in CRLF (may be NULL). */
static void reply_full(sl_api *a, api_conn *ac, const api_answer *an, int status,
                       const char *ctype, const char *body, size_t len, const char *extra)
{
    char head[768];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nCache-Control: no-store\r\n"
                      "Content-Length: %zu\r\n%s%s\r\n",
                      status, reason_phrase(status), ctype, len, extra ? extra : "",
                      an->close           ? "Connection: close\r\n"
                      : an->keep_alive_10 ? "Connection: keep-alive\r\n"
                                          : "");
    net_conn_send(a->srv, ac->c, head, (size_t)SL_MIN((size_t)hn, sizeof head - 1));
    if (!an->head_only && len)
        net_conn_send(a->srv, ac->c, body, len);
    if (an->close) {
        ac->state = API_CLOSED;
        net_conn_close(a->srv, ac->c, false);
    }
}

static void reply_text(sl_api *a, api_conn *ac, const api_answer *an, int status,
                       const char *text)
{
    reply_full(a, ac, an, status, "text/plain; charset=utf-8", text,
               strlen(text), NULL);
}

/* Takes b's memory. */
static void reply_buf(sl_api *a, api_conn *ac, const api_answer *an, int status,
                      const char *ctype, sl_buf *b)
{
    reply_full(a, ac, an, status, ctype, b->p ? b->p : "", b->len, NULL);
    buf_free(b);
}

bool api_query_param(const api_req *r, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    const char *p = r->query, *end = r->query ? r->query + r->query_len : NULL;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        const char *ke = eq ? eq : pe;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : pe; v < pe && o + 1 < outlen; v++) {
                int hi, lo;
                if (*v == '%' && pe - v >= 3 && (hi = sl_hexval(v[1])) >= 0 &&
                    (lo = sl_hexval(v[2])) >= 0) {
                    out[o++] = (char)(hi << 4 | lo);
                    v += 2;
                } else {
                    out[o++] = *v == '+' ? ' ' : *v;
                }
            }
            out[o] = '\0';
            return true;
        }
        p = amp ? amp + 1 : end;
    }
    return false;
}

/* Parses a non-negative decimal query parameter; false if present and not one. */
static bool query_uint(const api_req *r, const char *name, uint64_t *v)
{
    char s[32];
    if (!api_query_param(r, name, s, sizeof s))
        return true;
    uint64_t n = 0;
    if (!*s || strlen(s) > 12)
        return false;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return false;
        n = n * 10 + (uint64_t)(*c - '0');
    }
    *v = n;
    return true;
}

static void tap_unlink(sl_api *a, api_conn *ac)
{
    if (!ac->tap)
        return;
    tap_detach(ac->tap);
    ac->tap = NULL;
    if (ac->prev)
        ac->prev->next = ac->next;
    else
        a->taps = ac->next;
    if (ac->next)
        ac->next->prev = ac->prev;
    ac->prev = ac->next = NULL;
}

static void tap_send(sl_api *a, api_conn *ac, const char *p, size_t n)
{
    if (ac->chunked_out) {
        char sz[24];
        int l = snprintf(sz, sizeof sz, "%zx\r\n", n);
        net_conn_send(a->srv, ac->c, sz, (size_t)l);
    }
    net_conn_send(a->srv, ac->c, p, n);
    if (ac->chunked_out)
        net_conn_send(a->srv, ac->c, "\r\n", 2);
}

/* Moves what the tap holds to the client while it keeps up; ends the stream once the
 * tap's limit is reached. Runs on every loop tick. */
static void tap_pump(sl_api *a, api_conn *ac)
{
    char blk[TAP_BLOCK];
    int64_t now = sl_mono_ms();
    while (ac->tap && ac->state == API_TAP && net_conn_queued(ac->c) < TAP_QUEUE_MAX) {
        bool done = false;
        size_t n = tap_take(ac->tap, blk, sizeof blk, 0, &done);
        if (n) {
            tap_send(a, ac, blk, n);
            ac->quiet_since_ms = now;
            continue;
        }
        if (done) {
            tap_unlink(a, ac);
            if (ac->chunked_out)
                net_conn_send(a->srv, ac->c, "0\r\n\r\n", 5);
            ac->state = API_HEAD;
            if (!ac->keep_alive || !ac->chunked_out) {
                ac->state = API_CLOSED;
                net_conn_close(a->srv, ac->c, false);
            }
            return;
        }
        if (now - ac->quiet_since_ms >= TAP_HEARTBEAT_MS) {
            tap_send(a, ac, "\n", 1);
            ac->quiet_since_ms = now;
        }
        return;
    }
}

/* GET /api/v1/tap?component=ID[&limit=N][&rate=R]: chunked NDJSON of the events the
 * component outputs (tap.h), at most R a second (default 100), ending after N (0 or
 * absent: until the client leaves). */
static void serve_tap(sl_api *a, api_conn *ac, const api_req *r, const api_answer *an)
{
    char msg[1024], id[256];
    uint64_t limit = 0, rate = TAP_DEFAULT_RATE;
    if (!api_query_param(r, "component", id, sizeof id) || !*id) {
        reply_text(a, ac, an, 400, "tap: the component parameter is required\n");
        return;
    }
    if (!query_uint(r, "limit", &limit) || !query_uint(r, "rate", &rate) || rate == 0 ||
        rate > TAP_MAX_RATE) {
        reply_text(a, ac, an, 400, "tap: limit must be a number >= 0 and rate one of 1-100000\n");
        return;
    }
    sl_buf ids = SL_BUF_INIT;
    sl_tap *tap = a->h.tap(a->h.arg, id, &ids);
    if (!tap) {
        snprintf(msg, sizeof msg, "tap: no component '%.200s' (components: %.*s)\n", id,
                 (int)(ids.len < 700 ? ids.len : 700), ids.p ? ids.p : "");
        buf_free(&ids);
        reply_text(a, ac, an, 404, msg);
        return;
    }
    buf_free(&ids);
    if (an->head_only) {
        reply_full(a, ac, an, 200, "application/x-ndjson", "", 0, NULL);
        return;
    }
    if (tap_attach(tap, (int)rate, limit) != SL_OK) {
        snprintf(msg, sizeof msg, "tap: component '%.200s' is already tapped by another client\n",
                 id);
        reply_text(a, ac, an, 409, msg);
        return;
    }
    ac->chunked_out = !r->http10;
    ac->keep_alive = !an->close;
    static const char head11[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                 "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n";
    static const char head10[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                                 "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
    if (ac->chunked_out)
        net_conn_send(a->srv, ac->c, head11, sizeof head11 - 1);
    else
        net_conn_send(a->srv, ac->c, head10, sizeof head10 - 1);
    ac->tap = tap;
    ac->state = API_TAP;
    ac->quiet_since_ms = sl_mono_ms();
    ac->next = a->taps;
    if (a->taps)
        a->taps->prev = ac;
    a->taps = ac;
    tap_pump(a, ac);
}

static bool path_is(const api_req *r, const char *path)
{
    return token_is(r->path, r->path_len, path);
}

/* Answers one parsed request. */
static void serve(sl_api *a, api_conn *ac, const api_req *r)
{
    api_answer an = {
        .head_only = token_is(r->method, r->method_len, "HEAD"),
        /* A chunked body cannot be skipped without decoding it, nor is a large one worth
         * reading only to drop it: close after the answer. */
        .close = r->close || (r->http10 && !r->keep_alive) || r->chunked ||
                 r->content_length > API_BODY_DROP_MAX,
    };
    an.keep_alive_10 = r->http10 && !an.close;
    atomic_fetch_add_explicit(&a->m->received_events, 1, memory_order_relaxed);
    /* A reload is a POST (any body is ignored); answered at once, as below. */
    if (path_is(r, "/api/v1/reload") && a->h.reload) {
        if (!token_is(r->method, r->method_len, "POST")) {
            metrics_error(a->m, "method_not_allowed");
            reply_full(a, ac, &an, 405, "text/plain; charset=utf-8",
                       "use POST to reload\n", 19, "Allow: POST\r\n");
            return;
        }
        sl_buf b = SL_BUF_INIT;
        int status = a->h.reload(a->h.arg, &b);
        buf_putc(&b, '\n');
        reply_buf(a, ac, &an, status, "application/json", &b);
        return;
    }
    /* Anything but GET/HEAD is answered at once; its body is dropped as it arrives. */
    if (!an.head_only && !token_is(r->method, r->method_len, "GET")) {
        metrics_error(a->m, "method_not_allowed");
        an.head_only = false;
        reply_full(a, ac, &an, 405, "text/plain; charset=utf-8",
                   "method not allowed\n", 19, "Allow: GET, HEAD\r\n");
        return;
    }
    if (path_is(r, "/")) { /* the live status page; it polls /api/v1/status */
        reply_full(a, ac, &an, 200, "text/html; charset=utf-8",
                   sl_status_page, sizeof sl_status_page - 1,
                   "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
                   "script-src 'unsafe-inline'; connect-src 'self'\r\n");
        return;
    }
    if (path_is(r, "/healthz")) {
        reply_text(a, ac, &an, 200, "ok\n");
        return;
    }
    if (path_is(r, "/readyz")) {
        bool ok = a->h.ready ? a->h.ready(a->h.arg) : true;
        reply_text(a, ac, &an, ok ? 200 : 503, ok ? "ready\n" : "not ready\n");
        return;
    }
    /* The health paths of Fluent Bit (/api/v1/health) and Vector (/health), which their
     * Helm charts' probes ask: a chart kept through a migration keeps working. Both say
     * what /readyz says (503 while stopping), in their own bodies. */
    if (path_is(r, "/api/v1/health") || path_is(r, "/health")) {
        bool ok = a->h.ready ? a->h.ready(a->h.arg) : true;
        if (path_is(r, "/health")) {
            sl_buf b = SL_BUF_INIT;
            buf_puts(&b, ok ? "{\"ok\":true}" : "{\"ok\":false}");
            reply_buf(a, ac, &an, ok ? 200 : 503, "application/json", &b);
        } else {
            reply_text(a, ac, &an, ok ? 200 : 503, ok ? "ok\n" : "error\n");
        }
        return;
    }
    if (path_is(r, a->h.metrics_path ? a->h.metrics_path : "/metrics")) {
        sl_buf b = SL_BUF_INIT;
        metrics_render_prometheus(&b);
        reply_buf(a, ac, &an, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
        return;
    }
    if (path_is(r, "/api/plugins.json") && a->h.plugins_json) {
        sl_buf b = SL_BUF_INIT;
        a->h.plugins_json(a->h.arg, &b);
        reply_buf(a, ac, &an, 200, "application/json", &b);
        return;
    }
    if (path_is(r, "/api/v1/status")) {
        sl_buf b = SL_BUF_INIT;
        if (a->h.status_json)
            a->h.status_json(a->h.arg, &b);
        else
            buf_puts(&b, "{}");
        reply_buf(a, ac, &an, 200, "application/json", &b);
        return;
    }
    if (path_is(r, "/api/v1/tap") && a->h.tap) {
        serve_tap(a, ac, r, &an);
        return;
    }
    metrics_error(a->m, "not_found");
    reply_text(a, ac, &an, 404, "not found\n");
}

/* A request the API will not serve: answered, then the connection closes. */
static void refuse(sl_api *a, api_conn *ac, int status, const char *text)
{
    metrics_error(a->m, "http_protocol");
    log_debug("api", "bad request from %s: %s", ac->c->peer, text);
    static const api_answer an = {.close = true};
    reply_full(a, ac, &an, status, "text/plain; charset=utf-8", text, strlen(text),
               NULL);
}

static int on_open(void *arg, net_conn *c)
{
    api_conn *ac = sl_xcalloc(1, sizeof *ac);
    ac->c = c;
    c->user = ac;
    net_conn_set_ready(((sl_api *)arg)->srv, c);
    return 0;
}

static void on_close(void *arg, net_conn *c)
{
    api_conn *ac = c->user;
    tap_unlink(arg, ac);
    free(ac);
    c->user = NULL;
}

static int on_data(void *arg, net_conn *c)
{
    sl_api *a = arg;
    api_conn *ac = c->user;
    while (c->in.len) {
        if (ac->state != API_HEAD) { /* closing, or streaming a tap: input is not read */
            net_conn_consume(c, c->in.len);
            break;
        }
        if (ac->discard) {
            size_t k = (size_t)SL_MIN(ac->discard, (uint64_t)c->in.len);
            net_conn_consume(c, k);
            ac->discard -= k;
            continue;
        }
        const char *end = memmem(c->in.p, SL_MIN(c->in.len, (size_t)API_HEAD_MAX), "\r\n\r\n", 4);
        if (!end) {
            if (c->in.len >= API_HEAD_MAX) {
                refuse(a, ac, 431, "request head too large\n");
                break;
            }
            if (!ac->deadline) { /* the head must be whole in time (slow senders) */
                net_conn_set_deadline(a->srv, c, sl_mono_ms() + API_CONN_TIMEOUT_MS);
                ac->deadline = true;
            }
            break;
        }
        size_t head_len = (size_t)(end - c->in.p) + 4;
        if (ac->deadline) {
            net_conn_set_deadline(a->srv, c, 0);
            ac->deadline = false;
        }
        api_req r;
        int bad = api_parse_head(c->in.p, head_len, &r);
        if (bad) {
            refuse(a, ac, bad, bad == 505 ? "HTTP version not supported\n" : "bad request\n");
            break;
        }
        serve(a, ac, &r);
        net_conn_consume(c, head_len);
        ac->discard = ac->state == API_HEAD ? r.content_length : 0;
    }
    return 0;
}

static void on_tick(void *arg)
{
    sl_api *a = arg;
    for (api_conn *ac = a->taps, *next; ac; ac = next) {
        next = ac->next;
        tap_pump(a, ac);
    }
}

/* While a tap streams, the loop turns every 2 ms instead of 100. */
static bool waiting(void *arg) { return ((sl_api *)arg)->taps != NULL; }

static void *api_thread(void *arg)
{
    sl_api *a = arg;
    net_server_run(a->srv, a->stop_fd);
    return NULL;
}

/* One registry block for the API however often it restarts, so /metrics never
 * shows the same series twice. */
static sl_metrics *api_metrics(void)
{
    for (sl_metrics *m = metrics_first(); m; m = m->next)
        if (strcmp(m->kind, "api") == 0 && strcmp(m->id, "api") == 0)
            return m;
    return metrics_register("api", "api", "http");
}

int api_start(sl_api **out, const char *address, const sl_api_handlers *h, char *err,
              size_t errlen)
{
    *out = NULL;
    char host[256];
    int port;
    int rc = url_parse_hostport(address, host, sizeof host, &port, err, errlen);
    if (rc != SL_OK)
        return rc;
    sl_api *a = sl_xcalloc(1, sizeof *a);
    if (h)
        a->h = *h;
    snprintf(a->address, sizeof a->address, "%s", address);
    a->m = api_metrics();
    a->scfg = (net_server_config){
        .address = a->address,
        .max_connections = API_CONN_LIMIT,
        .idle_timeout_ms = API_CONN_TIMEOUT_MS,
        .component = "api",
        .metrics = a->m,
        .quiet_when_idle = true,
    };
    a->cb = (net_server_cb){
        .on_open = on_open,
        .on_data = on_data,
        .on_close = on_close,
        .on_tick = on_tick,
        .waiting = waiting,
    };
    char e[256];
    rc = net_server_open(&a->srv, &a->scfg, &a->cb, a, e, sizeof e);
    if (rc != SL_OK) {
        free(a);
        return sl_seterr(err, errlen, rc, "api %s", e);
    }
    a->port = net_server_port(a->srv);
    a->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (a->stop_fd < 0 || pthread_create(&a->thread, NULL, api_thread, a) != 0) {
        int saved = errno;
        if (a->stop_fd >= 0)
            close(a->stop_fd);
        net_server_free(a->srv);
        free(a);
        return sl_seterr(err, errlen, SL_ERR_IO, "api address \"%s\": cannot start: %s", address,
                         strerror(saved));
    }
    sl_thread_name(a->thread, "api", NULL);
    log_info("api", "listening on %s (port %d)", address, a->port);
    *out = a;
    return SL_OK;
}

int api_port(const sl_api *a) { return a ? a->port : -1; }

void api_stop(sl_api *a)
{
    if (!a)
        return;
    uint64_t one = 1;
    while (write(a->stop_fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
    pthread_join(a->thread, NULL);
    net_server_free(a->srv); /* closes every connection (detaching taps) and the listener */
    close(a->stop_fd);
    free(a);
}
