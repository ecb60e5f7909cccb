/* otlp.c - the `otlp` source: OTLP/HTTP logs (POST /v1/logs, protobuf or JSON, gzip
 * allowed), answered 200 only once the events are in every downstream buffer.
 *
 * Notes on the design
 *  1. Per connection: HEAD -> BODY (Content-Length bytes, or chunks decoded in place as the
 *     http source does) -> WAIT (events emitted, reading paused until the request's ack
 *     token commits) -> HEAD again (keep-alive) or closed.
 *  2. Answers follow the OTLP/HTTP specification: 200 with an ExportLogsServiceResponse in
 *     the request's encoding (partial_success when records were refused); 400 for a body
 *     that does not decode; 404 for other paths; 405 for other methods; 411 without a
 *     length; 413 above max_body_bytes; 415 for other content types or encodings; 429 with
 *     Retry-After when a downstream buffer is full (source_would_block), 503 with
 *     Retry-After when stopping. Error bodies are a google.rpc.Status. 429 and 503 are the
 *     codes OTLP clients retry, the 4xx others they drop.
 *  3. One request = one batch = one ack token keyed (connection id, sequence); a token
 *     committed after the client left is dropped: the client saw no 200 and will retry.
 *  4. Event ids are (hash of the decoded body, record index): a retried request yields the
 *     same ids, so downstream deduplication by id sees repeats as repeats.
 *  5. gRPC is not served: a gRPC server needs HTTP/2 framing (libnghttp2 does that part),
 *     plus the gRPC length-prefixed messages, trailers and status mapping of our own;
 *     OTLP/HTTP reaches the collectors and SDKs that can be configured for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/http_chunked.h"
#include "formats/otlp_logs.h"
#include "net/forward.h"
#include "net/server.h"

typedef struct otlp_src_config {
    char *address, *path;
    uint64_t max_body_bytes, max_header_bytes, max_record_bytes;
    int64_t max_connections, idle_timeout_ms, request_timeout_ms, retry_after_s;
    net_tls_config tls;
} otlp_src_config;

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(otlp_src_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option otlp_src_options[] = {
    O("address", SL_OPT_STR, address, "0.0.0.0:4318", 0, 0, "host:port to listen on"),
    O("path", SL_OPT_STR, path, "/v1/logs", 0, 0, "the request path of log exports"),
    O("max_body_bytes", SL_OPT_SIZE, max_body_bytes, "8MiB", 64, 1LL << 31,
      "larger bodies (or gzip bodies inflating beyond 8x this) are answered 413"),
    O("max_header_bytes", SL_OPT_SIZE, max_header_bytes, "16KiB", 256, 1 << 20,
      "request line + headers at most"),
    O("max_record_bytes", SL_OPT_SIZE, max_record_bytes, "1MiB", 16, 1LL << 31,
      "a log record larger than this (encoded) is refused alone, as a partial success"),
    O("max_connections", SL_OPT_INT, max_connections, "1024", 1, 1 << 20,
      "connections beyond this are refused"),
    O("idle_timeout", SL_OPT_DURATION, idle_timeout_ms, "60s", 0, 86400000,
      "close keep-alive connections silent this long (0: never)"),
    O("request_timeout", SL_OPT_DURATION, request_timeout_ms, "30s", 100, 3600000,
      "a request (headers and body) must arrive within this once it starts"),
    O("retry_after", SL_OPT_INT, retry_after_s, "1", 0, 3600,
      "seconds in the Retry-After header of 429 and 503 answers"),
    {"tls", SL_OPT_OBJECT, offsetof(otlp_src_config, tls), NULL, 0, NULL, net_tls_server_options,
     0, 0, "TLS: cert_file, key_file, ca_file, client_auth"},
    SL_OPT_END,
};
#undef O

enum { OS_HEAD = 0, OS_BODY, OS_WAIT, OS_CLOSED };

typedef struct oconn {
    int state;
    size_t head_len, body_len;
    bool json, gzip, keep_alive, continued, timed, chunked;
    http_chunked dc;
    uint64_t seq, wait_seq;
    uint32_t wait_rejected;
    char wait_msg[160];
} oconn;

typedef struct otlp_source {
    const otlp_src_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    net_server_config scfg;
    net_server *srv;
    sl_arena scratch;
    sl_buf inflated, out;
} otlp_source;

static int os_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    otlp_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    s->scfg = (net_server_config){
        .address = s->cfg->address,
        .default_port = 4318,
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
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    default: return "Service Unavailable";
    }
}

/* Sends the answer whose body is s->out; `close` ends the connection after it. */
static void respond(otlp_source *s, net_conn *c, int code, bool close)
{
    oconn *h = c->user;
    if (!h->keep_alive)
        close = true;
    char head[512], retry[48] = "";
    if (code == 429 || code == 503)
        snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", (long long)s->cfg->retry_after_s);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     code, reason_of(code), h->json ? "application/json" : "application/x-protobuf",
                     s->out.len, retry, close ? "Connection: close\r\n" : "");
    net_conn_send(s->srv, c, head, (size_t)n);
    if (s->out.len)
        net_conn_send(s->srv, c, s->out.p, s->out.len);
    if (close)
        net_conn_close(s->srv, c, false);
}

/* An error answer: a google.rpc.Status with the gRPC code that matches the HTTP one. */
static void respond_error(otlp_source *s, net_conn *c, int code, const char *msg, bool close)
{
    int grpc = code == 429 ? 8 : code == 503 ? 14 : code == 404 || code == 405 ? 12 : 3;
    buf_reset(&s->out);
    otlp_logs_status(&s->out, ((oconn *)c->user)->json, grpc, msg);
    respond(s, c, code, close);
}

static int os_on_open(void *arg, net_conn *c)
{
    otlp_source *s = arg;
    c->user = sl_xcalloc(1, sizeof(oconn));
    net_conn_set_ready(s->srv, c);
    return 0;
}

static void os_on_close(void *arg, net_conn *c)
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

/* The media type before any parameters, compared without case. */
static bool type_is(const char *v, size_t vlen, const char *want)
{
    size_t n = 0;
    while (n < vlen && v[n] != ';' && v[n] != ' ')
        n++;
    return hdr_is(v, n, want);
}

/* Parses the header block [0, head_len). Returns 0, or an HTTP status to answer. */
static int parse_head(otlp_source *s, net_conn *c, oconn *h, const char **msg)
{
    const char *p = c->in.p, *end = c->in.p + h->head_len;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    h->json = false;
    if (!sp1 || !sp2) {
        *msg = "malformed request line";
        return 400;
    }
    bool post = sp1 - p == 4 && memcmp(p, "POST", 4) == 0;
    h->keep_alive = !((size_t)(eol - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0);
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    const char *q = memchr(target, '?', tlen);
    if (q)
        tlen = (size_t)(q - target);
    bool path_ok = tlen == strlen(s->cfg->path) && memcmp(target, s->cfg->path, tlen) == 0;
    bool have_len = false, chunked = false, expect = false, type_ok = false;
    int64_t clen = 0;
    h->gzip = false;
    const char *bad_enc = NULL;
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
                h->json = type_is(v, vlen, "application/json");
                type_ok = h->json || type_is(v, vlen, "application/x-protobuf");
            } else if (hdr_is(l, nlen, "content-encoding")) {
                if (val_has(v, vlen, "gzip"))
                    h->gzip = true;
                else if (!val_has(v, vlen, "identity"))
                    bad_enc = "unsupported Content-Encoding (gzip or identity)";
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
            }
        }
        l = le + 1;
    }
    if (!path_ok) {
        *msg = "not found: logs are exported to the configured path (/v1/logs)";
        return 404;
    }
    if (!post) {
        *msg = "only POST is served";
        return 405;
    }
    if (!type_ok) {
        *msg = "unsupported Content-Type (application/x-protobuf or application/json)";
        return 415;
    }
    if (bad_enc) {
        *msg = bad_enc;
        return 415;
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

/* Answers 200 with the request's partial success (none when nothing was refused). */
static void respond_ok(otlp_source *s, net_conn *c, uint32_t rejected, const char *msg)
{
    buf_reset(&s->out);
    otlp_logs_response(&s->out, ((oconn *)c->user)->json, rejected, msg);
    respond(s, c, 200, false);
}

/* The whole request is in c->in. */
static void handle_request(otlp_source *s, net_conn *c, oconn *h)
{
    const char *body = c->in.p + h->head_len;
    size_t blen = h->body_len;
    size_t total = h->head_len + h->body_len;
    char err[256];
    if (h->gzip && blen) {
        buf_reset(&s->inflated);
        int rc = fwd_gunzip(&s->inflated, body, blen, s->cfg->max_body_bytes * 8);
        if (rc != SL_OK) {
            bool big = rc == SL_ERR_TOOBIG;
            metrics_error(s->cc->metrics, big ? "body_too_large" : "bad_gzip");
            net_conn_consume(c, total);
            h->state = OS_HEAD;
            respond_error(s, c, big ? 413 : 400,
                          big ? "inflated body larger than 8 x max_body_bytes" : "bad gzip body",
                          false);
            return;
        }
        body = s->inflated.p, blen = s->inflated.len;
    }
    if (source_would_block(s->ctx, blen)) {
        metrics_error(s->cc->metrics, "backpressure");
        net_conn_consume(c, total);
        h->state = OS_HEAD;
        respond_error(s, c, 429, "buffers are full, retry later", false);
        return;
    }
    sl_batch *b = batch_new(64);
    otlp_logs_opts o = {.max_record_bytes = s->cfg->max_record_bytes,
                        .now_ns = sl_now_ns(),
                        .id_stream = otlp_logs_hash(body ? body : "", blen)};
    otlp_logs_result r;
    arena_reset(&s->scratch);
    int rc = otlp_logs_decode(b, body ? body : "", blen, h->json, &s->scratch, &o, &r, err,
                              sizeof err);
    net_conn_consume(c, total);
    h->state = OS_HEAD;
    if (rc != SL_OK) {
        batch_release(b);
        metrics_error(s->cc->metrics, "parse");
        net_server_warn(s->srv, "%s: bad body: %s", c->peer, err);
        respond_error(s, c, 400, err, false);
        return;
    }
    if (r.rejected) {
        for (uint32_t i = 0; i < r.rejected; i++)
            metrics_error(s->cc->metrics, "record_too_large");
        net_server_warn(s->srv, "%s: %u of %u records refused: %s", c->peer, r.rejected,
                        r.records, r.reject_msg);
    }
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, total, memory_order_relaxed);
    if (b->n == 0) {
        batch_release(b);
        respond_ok(s, c, r.rejected, r.reject_msg);
        return;
    }
    h->wait_seq = h->seq++;
    h->wait_rejected = r.rejected;
    snprintf(h->wait_msg, sizeof h->wait_msg, "%s", r.reject_msg);
    b->ack = ack_token_open(source_ledger(s->ctx), c->id, h->wait_seq);
    b->origin = s->cc->id;
    h->state = OS_WAIT;
    net_conn_pause(s->srv, c, true);
    if (source_emit(s->ctx, b) != SL_OK) {
        h->state = OS_HEAD;
        respond_error(s, c, 503, "shutting down", true);
    }
}

/* Decodes the chunks that arrived, in place. True once the body is complete. */
static bool dechunk(otlp_source *s, net_conn *c, oconn *h)
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
    h->state = OS_CLOSED;
    respond_error(s, c, big ? 413 : 400, err, true);
    return false;
}

static int os_on_data(void *arg, net_conn *c)
{
    otlp_source *s = arg;
    oconn *h = c->user;
    while (h->state < OS_WAIT && c->in.len && !c->paused) {
        if (h->state == OS_HEAD && !h->timed) {
            net_conn_set_deadline(s->srv, c, sl_mono_ms() + s->cfg->request_timeout_ms);
            h->timed = true;
        }
        if (h->state == OS_HEAD) {
            const char *e = memmem(c->in.p, c->in.len, "\r\n\r\n", 4);
            if (!e) {
                if (c->in.len > s->cfg->max_header_bytes) {
                    metrics_error(s->cc->metrics, "header_too_large");
                    respond_error(s, c, 431, "header block too large", true);
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
                h->state = OS_CLOSED; /* the body is not read: close after the answer */
                respond_error(s, c, code, msg, true);
                return 0;
            }
            h->state = OS_BODY;
        }
        if (h->state == OS_BODY) {
            if (h->chunked ? !dechunk(s, c, h) : c->in.len < h->head_len + h->body_len)
                return 0;
            net_conn_set_deadline(s->srv, c, 0);
            h->timed = false;
            handle_request(s, c, h);
        }
    }
    return 0;
}

static void os_commit(void *arg, uint64_t key, uint64_t value)
{
    otlp_source *s = arg;
    net_conn *c = net_server_find(s->srv, key);
    if (!c || !c->user)
        return;
    oconn *h = c->user;
    if (h->state != OS_WAIT || h->wait_seq != value)
        return;
    h->state = OS_HEAD;
    respond_ok(s, c, h->wait_rejected, h->wait_msg);
    net_conn_pause(s->srv, c, false);
}

static void os_on_tick(void *arg)
{
    otlp_source *s = arg;
    source_collect_acks(s->ctx, os_commit, s);
}

static bool os_waiting(void *arg)
{
    return ack_ledger_pending(source_ledger(((otlp_source *)arg)->ctx)) > 0;
}

static const net_server_cb os_cb = {
    .on_open = os_on_open,
    .on_data = os_on_data,
    .on_close = os_on_close,
    .on_tick = os_on_tick,
    .waiting = os_waiting,
};

static int os_run(void *self, sl_source_ctx *ctx)
{
    otlp_source *s = self;
    s->ctx = ctx;
    char err[512];
    int rc = net_server_open(&s->srv, &s->scfg, &os_cb, s, err, sizeof err);
    if (rc != SL_OK) {
        log_error(s->cc->id, "%s", err);
        metrics_set_state(s->cc->metrics, "listen_failed");
        return rc;
    }
    source_ready(ctx);
    log_info(s->cc->id, "listening on %s (port %d%s), OTLP/HTTP logs at %s", s->cfg->address,
             net_server_port(s->srv), s->cfg->tls.cert_file ? ", tls" : "", s->cfg->path);
    net_server_run(s->srv, source_stop_fd(ctx));
    source_drain_acks(ctx, os_commit, s);
    net_server_free(s->srv);
    s->srv = NULL;
    return SL_OK;
}

static void os_destroy(void *self)
{
    otlp_source *s = self;
    if (!s)
        return;
    net_server_free(s->srv);
    arena_free(&s->scratch);
    buf_free(&s->inflated);
    buf_free(&s->out);
    free(s);
}

const sl_source_vtable sl_source_otlp = {
    .type = "otlp",
    .help = "OpenTelemetry logs over OTLP/HTTP (POST /v1/logs, protobuf or JSON, gzip); 200 "
            "only once durably accepted, 429 + Retry-After under backpressure",
    .options = otlp_src_options,
    .config_size = sizeof(otlp_src_config),
    .init = os_init,
    .run = os_run,
    .destroy = os_destroy,
    .signals_ready = true,
};
