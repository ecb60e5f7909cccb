/* http.c - the `http` source: POST /<tag> with JSON, NDJSON, msgpack or text bodies (gzip
 * allowed), answered 2xx only once the events are durably accepted.
 *
 * Notes on the design
 *  1. Per connection: HEAD (waiting for the header block) -> BODY (waiting for
 *     Content-Length bytes, or decoding chunks until the last one) -> WAIT (events emitted; reading paused until the batch's
 *     token is committed) -> HEAD again (keep-alive) or closed.
 *  2. Answers: 200 {"accepted":N} after the commit; 400 with the parse error's position;
 *     401 without the bearer token; 405 for other methods; 411 without a length; 413
 *     above max_body_bytes (said before reading the body, so a huge claim costs nothing;
 *     for a chunked body as soon as a chunk's size line would pass it); 400 and the
 *     connection closed for bad chunk framing; 501 for transfer codings other than chunked;
 *     415 for unknown content types; 429 + Retry-After when a downstream buffer is full
 *     (source_would_block), so clients back off instead of piling up; 503 when stopping.
 *  3. One request = one batch = one ack token keyed (connection id, sequence). A token
 *     committed after the client left is simply dropped: the client saw no 2xx and will
 *     retry, so nothing is lost.
 *  4. The HTTP parser is deliberately small: HTTP/1.0 and 1.1, Content-Length bodies,
 *     keep-alive, Expect: 100-continue (curl sends it for larger bodies).
 *  5. Chunked bodies are decoded in place as they arrive (formats/http_chunked.h): the
 *     connection's buffer holds [head][decoded body][undecoded rest], so once the last
 *     chunk is in, the request looks exactly like a Content-Length one of the decoded
 *     size, and memory is bounded by max_body_bytes as for those. Content-Length together
 *     with Transfer-Encoding is refused (400): one body, one framing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/http_body.h"
#include "formats/http_chunked.h"
#include "formats/json.h"
#include "net/forward.h"
#include "net/server.h"

typedef struct http_src_auth {
    char *bearer_token;
} http_src_auth;

typedef struct http_src_config {
    char *address, *tag, *time_key;
    uint64_t max_body_bytes, max_header_bytes;
    int64_t max_connections, idle_timeout_ms, request_timeout_ms, retry_after_s;
    http_src_auth auth;
    net_tls_config tls;
} http_src_config;

static const sl_option http_src_auth_options[] = {
    {"bearer_token", SL_OPT_STR, offsetof(http_src_auth, bearer_token), NULL, 0, NULL, NULL, 0,
     0, "require Authorization: Bearer <token>"},
    SL_OPT_END,
};

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(http_src_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option http_src_options[] = {
    O("address", SL_OPT_STR, address, "0.0.0.0:8888", 0, 0, "host:port to listen on"),
    O("tag", SL_OPT_STR, tag, "http", 0, 0, "tag of requests to / (else the path is the tag)"),
    O("time_key", SL_OPT_STR, time_key, "date", 0, 0,
      "record key holding the event time (Fluent Bit's json_date_key): seconds or milliseconds "
      "since the epoch, or RFC 3339; taken out of the fields when it reads as a time; \"\" "
      "for none"),
    O("max_body_bytes", SL_OPT_SIZE, max_body_bytes, "8MiB", 64, 1LL << 31,
      "larger bodies (or gzip bodies inflating beyond 8x this) are answered 413"),
    O("max_header_bytes", SL_OPT_SIZE, max_header_bytes, "16KiB", 256, 1 << 20,
      "request line + headers at most"),
    O("max_connections", SL_OPT_INT, max_connections, "1024", 1, 1 << 20,
      "connections beyond this are refused"),
    O("idle_timeout", SL_OPT_DURATION, idle_timeout_ms, "60s", 0, 86400000,
      "close keep-alive connections silent this long (0: never)"),
    O("request_timeout", SL_OPT_DURATION, request_timeout_ms, "30s", 100, 3600000,
      "a request (headers and body) must arrive within this once it starts"),
    O("retry_after", SL_OPT_INT, retry_after_s, "1", 0, 3600,
      "seconds in the Retry-After header of 429 answers"),
    {"auth", SL_OPT_OBJECT, offsetof(http_src_config, auth), NULL, 0, NULL, http_src_auth_options,
     0, 0, "bearer_token"},
    {"tls", SL_OPT_OBJECT, offsetof(http_src_config, tls), NULL, 0, NULL, net_tls_server_options,
     0, 0, "TLS: cert_file, key_file, ca_file, client_auth"},
    SL_OPT_END,
};
#undef O

enum { HS_HEAD = 0, HS_BODY, HS_WAIT, HS_CLOSED };

typedef struct hconn {
    int state;
    size_t head_len, body_len;
    int kind;
    bool gzip, keep_alive, continued, timed, chunked;
    http_chunked dc; /* chunked body decoder (note 5) */
    uint64_t seq, wait_seq;
    uint32_t wait_events;
    char tag[256];
    size_t tag_len;
} hconn;

typedef struct http_source {
    const http_src_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    net_server_config scfg;
    net_server *srv;
    sl_arena scratch;
    sl_buf json, inflated;
    bool closed;
} http_source;

static int hs_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    http_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    s->scfg = (net_server_config){
        .address = s->cfg->address,
        .default_port = 8888,
        .max_connections = s->cfg->max_connections,
        .idle_timeout_ms = s->cfg->idle_timeout_ms,
        .handshake_timeout_ms = 30000,
        .tls = &s->cfg->tls,
        .component = cc->id,
        .metrics = cc->metrics,
    };
    arena_init(&s->scratch, 64 * 1024);
    *self = s;
    return SL_OK;
}

static const char *reason_of(int code)
{
    switch (code) {
    case 100: return "Continue";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 501: return "Not Implemented";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    default: return "Service Unavailable";
    }
}

/* Sends a response with a small JSON body; `close` ends the connection after it. */
static void respond(http_source *s, net_conn *c, int code, const char *json_body, bool close)
{
    hconn *h = c->user;
    if (!h->keep_alive)
        close = true;
    char head[512], retry[48] = "";
    size_t blen = strlen(json_body);
    if (code == 429)
        snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", (long long)s->cfg->retry_after_s);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                     "%s%s\r\n",
                     code, reason_of(code), blen, retry, close ? "Connection: close\r\n" : "");
    net_conn_send(s->srv, c, head, (size_t)n);
    net_conn_send(s->srv, c, json_body, blen);
    if (close)
        net_conn_close(s->srv, c, false);
}

static void respond_error(http_source *s, net_conn *c, int code, const char *msg, bool close)
{
    sl_buf b = SL_BUF_INIT;
    buf_puts(&b, "{\"error\":\"");
    json_escape(&b, msg, strlen(msg));
    buf_puts(&b, "\"}");
    buf_putc(&b, '\0');
    respond(s, c, code, b.p, close);
    buf_free(&b);
}

static int hs_on_open(void *arg, net_conn *c)
{
    http_source *s = arg;
    c->user = sl_xcalloc(1, sizeof(hconn));
    net_conn_set_ready(s->srv, c);
    return 0;
}

static void hs_on_close(void *arg, net_conn *c)
{
    free(c->user);
    c->user = NULL;
}

static bool hdr_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

static bool val_has(const char *v, size_t vlen, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= vlen; i++)
        if (strncasecmp(v + i, word, wl) == 0)
            return true;
    return false;
}

/* Parses the header block [0, head_len). Returns 0, or an HTTP status to answer. */
static int parse_head(http_source *s, net_conn *c, hconn *h, const char **msg)
{
    const char *p = c->in.p, *end = c->in.p + h->head_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2) {
        *msg = "malformed request line";
        return 400;
    }
    bool post = sp1 - p == 4 && memcmp(p, "POST", 4) == 0;
    bool http10 = (size_t)(eol - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    h->keep_alive = !http10;
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    const char *q = memchr(target, '?', tlen);
    if (q)
        tlen = (size_t)(q - target);
    while (tlen && *target == '/')
        target++, tlen--;
    if (tlen == 0) {
        target = s->cfg->tag;
        tlen = strlen(target);
    }
    h->tag_len = SL_MIN(tlen, sizeof h->tag - 1);
    memcpy(h->tag, target, h->tag_len);
    bool have_len = false, chunked = false, expect = false, authed = !s->cfg->auth.bearer_token;
    int64_t clen = 0;
    h->kind = HTTP_BODY_JSON;
    h->gzip = false;
    int kind = HTTP_BODY_JSON;
    for (const char *l = eol + 1; l < end;) {
        const char *le = memchr(l, '\n', (size_t)(end - l));
        if (!le)
            break;
        const char *colon = memchr(l, ':', (size_t)(le - l));
        if (colon) {
            size_t nlen = (size_t)(colon - l);
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(le - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (hdr_is(l, nlen, "content-length")) {
                char num[24];
                if (vlen == 0 || vlen >= sizeof num) {
                    *msg = "bad Content-Length";
                    return vlen >= sizeof num ? 413 : 400;
                }
                memcpy(num, v, vlen);
                num[vlen] = '\0';
                char *ep;
                clen = strtoll(num, &ep, 10);
                if (*ep || clen < 0) {
                    *msg = "bad Content-Length";
                    return 400;
                }
                have_len = true;
            } else if (hdr_is(l, nlen, "content-type")) {
                kind = http_body_kind_of(v, vlen);
            } else if (hdr_is(l, nlen, "content-encoding")) {
                if (val_has(v, vlen, "gzip"))
                    h->gzip = true;
                else if (!val_has(v, vlen, "identity")) {
                    *msg = "unsupported Content-Encoding";
                    return 415;
                }
            } else if (hdr_is(l, nlen, "transfer-encoding")) {
                if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0) {
                    *msg = "unsupported Transfer-Encoding (only chunked)";
                    return 501;
                }
                chunked = true;
            } else if (hdr_is(l, nlen, "connection")) {
                if (val_has(v, vlen, "close"))
                    h->keep_alive = false;
                else if (val_has(v, vlen, "keep-alive"))
                    h->keep_alive = true;
            } else if (hdr_is(l, nlen, "expect")) {
                expect = val_has(v, vlen, "100-continue");
            } else if (hdr_is(l, nlen, "authorization") && s->cfg->auth.bearer_token) {
                const char *tok = s->cfg->auth.bearer_token;
                size_t tl = strlen(tok);
                authed = vlen == 7 + tl && strncasecmp(v, "Bearer ", 7) == 0 &&
                         memcmp(v + 7, tok, tl) == 0;
            }
        }
        l = le + 1;
    }
    if (!post) {
        *msg = "only POST /<tag> is served";
        return 405;
    }
    if (!authed) {
        *msg = "missing or wrong bearer token";
        return 401;
    }
    if (chunked && have_len) {
        *msg = "both Content-Length and Transfer-Encoding";
        return 400;
    }
    if (!have_len && !chunked) {
        *msg = "Content-Length required";
        return 411;
    }
    if ((uint64_t)clen > s->cfg->max_body_bytes) {
        *msg = "body larger than max_body_bytes";
        return 413;
    }
    if (kind < 0) {
        *msg = "unsupported Content-Type (json, x-ndjson, msgpack, text/plain)";
        return 415;
    }
    h->kind = kind;
    h->chunked = chunked;
    h->body_len = chunked ? 0 : (size_t)clen;
    if (chunked)
        http_chunked_init(&h->dc, s->cfg->max_body_bytes);
    if (expect && !h->continued) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        net_conn_send(s->srv, c, cont, sizeof cont - 1);
        h->continued = true;
    }
    return 0;
}

/* The whole request is in c->in. */
static int handle_request(http_source *s, net_conn *c, hconn *h)
{
    const char *body = c->in.p + h->head_len;
    size_t blen = h->body_len;
    size_t total = h->head_len + h->body_len;
    char err[256];
    if (h->gzip && blen) {
        buf_reset(&s->inflated);
        int rc = fwd_gunzip(&s->inflated, body, blen, s->cfg->max_body_bytes * 8);
        if (rc != SL_OK) {
            metrics_error(s->cc->metrics, rc == SL_ERR_TOOBIG ? "body_too_large" : "bad_gzip");
            net_conn_consume(c, total);
            h->state = HS_HEAD;
            respond_error(s, c, rc == SL_ERR_TOOBIG ? 413 : 400,
                          rc == SL_ERR_TOOBIG ? "inflated body larger than 8 x max_body_bytes"
                                              : "bad gzip body", false);
            return 0;
        }
        body = s->inflated.p, blen = s->inflated.len;
    }
    if (source_would_block(s->ctx, blen)) {
        metrics_error(s->cc->metrics, "backpressure");
        net_conn_consume(c, total);
        h->state = HS_HEAD;
        respond_error(s, c, 429, "buffers are full, retry later", false);
        return 0;
    }
    sl_batch *b = batch_new(64);
    sl_str tag = batch_str(b, h->tag, h->tag_len);
    const char *tk = s->cfg->time_key ? s->cfg->time_key : "";
    int rc = http_body_parse(b, (http_body_kind)h->kind, body ? body : "", blen, tag,
                             (sl_str){tk, (uint32_t)strlen(tk)}, sl_now_ns(), &s->scratch,
                             &s->json, err, sizeof err);
    net_conn_consume(c, total);
    h->state = HS_HEAD;
    if (rc != SL_OK) {
        batch_release(b);
        metrics_error(s->cc->metrics, "parse");
        net_server_warn(s->srv, "%s: bad body: %s", c->peer, err);
        respond_error(s, c, 400, err, false);
        return 0;
    }
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, total, memory_order_relaxed);
    if (b->n == 0) {
        batch_release(b);
        respond(s, c, 200, "{\"accepted\":0}", false);
        return 0;
    }
    h->wait_seq = h->seq++;
    h->wait_events = b->n;
    b->ack = ack_token_open(source_ledger(s->ctx), c->id, h->wait_seq);
    b->origin = s->cc->id;
    h->state = HS_WAIT;
    net_conn_pause(s->srv, c, true);
    if (source_emit(s->ctx, b) != SL_OK) {
        s->closed = true;
        h->state = HS_HEAD;
        respond_error(s, c, 503, "shutting down", true);
    }
    return 0;
}

/* Decodes the chunks that arrived, in place (note 5). True once the body is complete
 * (h->body_len bytes behind the head); false while it goes on, or after answering a
 * framing error (400) or a body past max_body_bytes (413), both closing the connection. */
static bool dechunk(http_source *s, net_conn *c, hconn *h)
{
    size_t at = h->head_len + h->body_len, used = 0, wrote = 0;
    char err[256];
    int rc = http_chunked_decode(&h->dc, c->in.p + at, c->in.len - at, c->in.p + at, &used,
                                 &wrote, err, sizeof err);
    memmove(c->in.p + at + wrote, c->in.p + at + used, c->in.len - at - used);
    c->in.len -= used - wrote;
    h->body_len += wrote;
    if (rc == HTTP_CHUNKED_DONE)
        return true;
    if (rc == HTTP_CHUNKED_MORE)
        return false;
    bool big = rc == HTTP_CHUNKED_TOOBIG;
    metrics_error(s->cc->metrics, big ? "body_too_large" : "bad_chunked");
    net_server_warn(s->srv, "%s: %d: %s", c->peer, big ? 413 : 400, err);
    h->state = HS_CLOSED; /* nothing more is read from this connection */
    respond_error(s, c, big ? 413 : 400, err, true);
    return false;
}

static int hs_on_data(void *arg, net_conn *c)
{
    http_source *s = arg;
    hconn *h = c->user;
    while (h->state < HS_WAIT && c->in.len && !c->paused) {
        if (h->state == HS_HEAD && !h->timed) {
            /* A request has started: it must be complete in request_timeout (slow senders). */
            net_conn_set_deadline(s->srv, c, sl_mono_ms() + s->cfg->request_timeout_ms);
            h->timed = true;
        }
        if (h->state == HS_HEAD) {
            const char *e = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
            if (!e) {
                if (c->in.len > s->cfg->max_header_bytes) {
                    metrics_error(s->cc->metrics, "header_too_large");
                    respond_error(s, c, 431, "header block too large", true);
                    return 0;
                }
                return 0;
            }
            h->head_len = (size_t)(e - c->in.p) + 4;
            h->continued = false;
            const char *msg = NULL;
            int code = parse_head(s, c, h, &msg);
            if (code) {
                metrics_error(s->cc->metrics, code == 413 ? "body_too_large" : "bad_request");
                net_server_warn(s->srv, "%s: %d: %s", c->peer, code, msg);
                /* The body (if any) is not read: close after the answer. */
                respond_error(s, c, code, msg, true);
                return 0;
            }
            h->state = HS_BODY;
        }
        if (h->state == HS_BODY) {
            if (h->chunked ? !dechunk(s, c, h) : c->in.len < h->head_len + h->body_len)
                return 0;
            net_conn_set_deadline(s->srv, c, 0);
            h->timed = false;
            handle_request(s, c, h);
        }
    }
    return 0;
}

static void hs_commit(void *arg, uint64_t key, uint64_t value)
{
    http_source *s = arg;
    net_conn *c = net_server_find(s->srv, key);
    if (!c || !c->user)
        return;
    hconn *h = c->user;
    if (h->state != HS_WAIT || h->wait_seq != value)
        return;
    h->state = HS_HEAD;
    char body[64];
    snprintf(body, sizeof body, "{\"accepted\":%u}", h->wait_events);
    respond(s, c, 200, body, false);
    net_conn_pause(s->srv, c, false);
}

static void hs_on_tick(void *arg)
{
    http_source *s = arg;
    source_collect_acks(s->ctx, hs_commit, s);
}

static bool hs_waiting(void *arg)
{
    return ack_ledger_pending(source_ledger(((http_source *)arg)->ctx)) > 0;
}

static const net_server_cb hs_cb = {
    .on_open = hs_on_open,
    .on_data = hs_on_data,
    .on_close = hs_on_close,
    .on_tick = hs_on_tick,
    .waiting = hs_waiting,
};

static int hs_run(void *self, sl_source_ctx *ctx)
{
    http_source *s = self;
    s->ctx = ctx;
    char err[512];
    int rc = net_server_open(&s->srv, &s->scfg, &hs_cb, s, err, sizeof err);
    if (rc != SL_OK) {
        log_error(s->cc->id, "%s", err);
        metrics_set_state(s->cc->metrics, "listen_failed");
        return rc;
    }
    source_ready(ctx); /* connections now queue in the listener's backlog */
    log_info(s->cc->id, "listening on %s (port %d%s)", s->cfg->address, net_server_port(s->srv),
             s->cfg->tls.cert_file ? ", tls" : "");
    net_server_run(s->srv, source_stop_fd(ctx));
    source_drain_acks(ctx, hs_commit, s);
    net_server_free(s->srv);
    s->srv = NULL;
    return SL_OK;
}

static void hs_destroy(void *self)
{
    http_source *s = self;
    if (!s)
        return;
    net_server_free(s->srv);
    arena_free(&s->scratch);
    buf_free(&s->json);
    buf_free(&s->inflated);
    free(s);
}

const sl_source_vtable sl_source_http = {
    .type = "http",
    .help = "HTTP endpoint: POST /<tag> with JSON, NDJSON, msgpack or text (gzip allowed); "
            "2xx only once durably accepted, 429 under backpressure",
    .options = http_src_options,
    .config_size = sizeof(http_src_config),
    .init = hs_init,
    .run = hs_run,
    .destroy = hs_destroy,
    .signals_ready = true,
};
