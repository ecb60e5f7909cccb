/* http.c - the `http` source: POST /<tag> with JSON, NDJSON, msgpack or text bodies (gzip,
 * deflate, zstd, snappy), answered 2xx only once the events are durably accepted.
 *
 * Notes on the design
 *  1. The HTTP/1.1 request handling (framing, keep-alive, 100-continue, gzip, 429 under
 *     backpressure, ack tokens, the connection's states) is net/http_request.c, shared with
 *     the otlp source; this file keeps what is the http source's own: tag from the path,
 *     bearer auth, body kinds and the JSON answers.
 *  2. Answers: 200 {"accepted":N} after the commit; 400 with the parse error's position;
 *     401 without the bearer token; 405 for other methods; 411 without a length; 413
 *     above max_body_bytes (said before reading the body, so a huge claim costs nothing;
 *     for a chunked body as soon as a chunk's size line would pass it); 400 and the
 *     connection closed for bad chunk framing; 501 for transfer codings other than chunked;
 *     415 for unknown content types; 429 + Retry-After when a downstream buffer is full
 *     (source_would_block), so clients back off instead of piling up; 503 when stopping.
 *  3. One request = one batch = one ack token (net/http_request.h): a token committed
 *     after the client left is dropped: the client saw no 2xx and will retry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/component.h"
#include "formats/http_body.h"
#include "formats/json.h"
#include "net/http_request.h"

typedef struct http_src_auth {
    char *bearer_token;
} http_src_auth;

typedef struct http_src_config {
    http_req_options req; /* address, limits, tls */
    char *tag, *time_key;
    http_src_auth auth;
} http_src_config;

static const sl_option http_src_auth_options[] = {
    {"bearer_token", SL_OPT_STR, offsetof(http_src_auth, bearer_token), NULL, 0, NULL, NULL, 0,
     0, "require Authorization: Bearer <token>"},
    SL_OPT_END,
};

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(http_src_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option http_src_options[] = {
    O("address", SL_OPT_ADDRESS, req.address, "0.0.0.0:8888", 0, 0, "host:port to listen on"),
    O("tag", SL_OPT_STR, tag, "http", 0, 0,
      "tag of requests to / (else the path, its slashes as dots: /app/web is app.web)"),
    O("time_key", SL_OPT_STR, time_key, "date", 0, 0,
      "record key holding the event time (Fluent Bit's json_date_key): seconds or milliseconds "
      "since the epoch, or RFC 3339; taken out of the fields when it reads as a time; a JSON "
      "record without it takes an RFC 3339 \"timestamp\" (Vector's); \"\" for none"),
    O("retry_after", SL_OPT_INT, req.retry_after_s, "1", 0, 3600,
      "seconds in the Retry-After header of 429 answers"),
    {"auth", SL_OPT_OBJECT, offsetof(http_src_config, auth), NULL, 0, NULL, http_src_auth_options,
     0, 0, "bearer_token"},
    HTTP_REQ_LIMIT_OPTIONS(http_src_config),
    SL_OPT_END,
};
#undef O

typedef struct hconn {
    http_req r; /* first: the request layer's state */
    int kind;
    bool authed, form;
    uint32_t wait_events;
    char tag[256];
    size_t tag_len;
} hconn;

typedef struct http_source {
    const http_src_config *cfg;
    const sl_component_ctx *cc;
    http_req_layer req;
    sl_arena scratch;
    sl_buf json, body, form;
    bool closed;
} http_source;

static const http_req_handler hs_handler;

static int hs_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const net_tls_config *tls = &((const http_src_config *)config)->req.tls;
    int rc = cc->check_only ? SL_OK : net_tls_check(tls, err, errlen);
    if (rc != SL_OK)
        return rc;
    http_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    http_req_init(&s->req, &s->cfg->req, 8888, cc, &hs_handler, s, sizeof(hconn));
    arena_init(&s->scratch, 64 * 1024);
    *self = s;
    return SL_OK;
}

/* Sends a response with a small JSON body; `close` ends the connection after it. */
static void respond(http_source *s, net_conn *c, int code, const char *json_body, bool close)
{
    int64_t retry = code == 429 ? s->cfg->req.retry_after_s : -1;
    http_req_answer(&s->req, c, code, "application/json", retry, json_body, strlen(json_body),
                    close);
}

static void hs_error(void *arg, net_conn *c, int code, const char *msg, bool close)
{
    http_source *s = arg;
    buf_reset(&s->body);
    buf_puts(&s->body, "{\"error\":\"");
    json_escape(&s->body, msg, strlen(msg));
    buf_puts(&s->body, "\"}");
    buf_putc(&s->body, '\0');
    respond(s, c, code, s->body.p, close);
}

static void hs_begin(void *arg, net_conn *c)
{
    http_source *s = arg;
    hconn *h = c->user;
    h->kind = HTTP_BODY_JSON;
    h->form = false;
    h->authed = !s->cfg->auth.bearer_token;
}

static int hs_header(void *arg, net_conn *c, const char *name, size_t nlen, const char *v,
                     size_t vlen, const char **msg)
{
    http_source *s = arg;
    hconn *h = c->user;
    if (http_req_name_is(name, nlen, "content-type")) {
        h->kind = http_body_kind_of(v, vlen);
        h->form = http_req_type_is(v, vlen, "application/x-www-form-urlencoded");
    } else if (http_req_name_is(name, nlen, "content-encoding")) {
        if (!http_req_encoding(&h->r, v, vlen)) {
            *msg = HTTP_REQ_ENCODINGS;
            return 415;
        }
    } else if (http_req_name_is(name, nlen, "authorization") && s->cfg->auth.bearer_token) {
        const char *tok = s->cfg->auth.bearer_token;
        size_t tl = strlen(tok);
        h->authed = vlen == 7 + tl && strncasecmp(v, "Bearer ", 7) == 0 &&
                    memcmp(v + 7, tok, tl) == 0;
    }
    return 0;
}

/* The path is the tag (leading slashes off; the configured tag for /), its other slashes
 * dots as Fluentd's in_http makes them (/app/web is app.web, a tag routes match). A bad
 * Content-Type is told after the framing's refusals. */
static int hs_head(void *arg, net_conn *c, const http_req_head *hd, const char **msg)
{
    http_source *s = arg;
    hconn *h = c->user;
    const char *target = hd->target;
    size_t tlen = hd->target_len;
    while (tlen && *target == '/')
        target++, tlen--;
    while (tlen && target[tlen - 1] == '/')
        tlen--;
    if (tlen == 0) {
        target = s->cfg->tag;
        tlen = strlen(target);
    }
    h->tag_len = SL_MIN(tlen, sizeof h->tag - 1);
    memcpy(h->tag, target, h->tag_len);
    for (size_t i = 0; i < h->tag_len; i++)
        if (h->tag[i] == '/')
            h->tag[i] = '.';
    if (!hd->post) {
        *msg = "only POST /<tag> is served";
        return 405;
    }
    if (!h->authed) {
        *msg = "missing or wrong bearer token";
        return 401;
    }
    if (hd->status) {
        *msg = hd->msg;
        return hd->status;
    }
    if (h->kind < 0) {
        *msg = "unsupported Content-Type (json, x-ndjson, msgpack, text/plain)";
        return 415;
    }
    return 0;
}

/* Appends the form-decoded (RFC 1866: '+' a space, %XX a byte) [p, p+n) to out. */
static void form_decode(sl_buf *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (p[i] == '+') {
            buf_putc(out, ' ');
        } else if (p[i] == '%' && i + 2 < n && (hi = sl_hexval(p[i + 1])) >= 0 &&
                   (lo = sl_hexval(p[i + 2])) >= 0) {
            buf_putc(out, (char)(hi << 4 | lo));
            i += 2;
        } else {
            buf_putc(out, p[i]);
        }
    }
}

/* Fluentd's in_http form: json=<record(s)> or msgpack=<record(s)>, and time=<epoch seconds>
 * for events without their own. A body that starts as JSON does (curl -d '{...}' labels it
 * a form too) is left as it is. Returns false, with *msg, when no record parameter is there. */
static bool form_body(http_source *s, const char **body, size_t *blen, int *kind,
                      int64_t *now_ns, const char **msg)
{
    const char *p = *body, *end = p + *blen;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    if (p == end || *p == '{' || *p == '[')
        return true;
    bool found = false;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq) {
            size_t nl = (size_t)(eq - p);
            bool is_json = nl == 4 && memcmp(p, "json", 4) == 0;
            bool is_mp = nl == 7 && memcmp(p, "msgpack", 7) == 0;
            if ((is_json || is_mp) && !found) {
                buf_reset(&s->form);
                form_decode(&s->form, eq + 1, (size_t)(pe - eq - 1));
                *kind = is_json ? HTTP_BODY_JSON : HTTP_BODY_MSGPACK;
                found = true;
            } else if (nl == 4 && memcmp(p, "time", 4) == 0) {
                char num[24];
                size_t vl = SL_MIN((size_t)(pe - eq - 1), sizeof num - 1);
                memcpy(num, eq + 1, vl);
                num[vl] = '\0';
                long long t = strtoll(num, NULL, 10); /* 0 or not a number: now */
                if (t > 0 && t < INT64_MAX / 1000000000)
                    *now_ns = (int64_t)t * 1000000000;
            }
        }
        p = amp ? amp + 1 : end;
    }
    if (!found) {
        *msg = "a form body needs a json= or msgpack= parameter";
        return false;
    }
    *body = s->form.p, *blen = s->form.len;
    return true;
}

/* The whole body is in (inflated); it becomes one batch. */
static void hs_body(void *arg, net_conn *c, const char *body, size_t blen, size_t total)
{
    http_source *s = arg;
    hconn *h = c->user;
    char err[256];
    int64_t now = sl_now_ns();
    int kind = h->kind;
    const char *fmsg = NULL;
    if (h->form && !form_body(s, &body, &blen, &kind, &now, &fmsg)) {
        http_req_consume(c, total);
        metrics_error(s->cc->metrics, "parse");
        net_server_warn(s->req.srv, "%s: bad body: %s", c->peer, fmsg);
        hs_error(s, c, 400, fmsg, false);
        return;
    }
    sl_batch *b = batch_new(64);
    sl_str tag = batch_str(b, h->tag, h->tag_len);
    const char *tk = s->cfg->time_key ? s->cfg->time_key : "";
    int rc = http_body_parse(b, (http_body_kind)kind, body, blen, tag,
                             (sl_str){tk, (uint32_t)strlen(tk)}, now, &s->scratch,
                             &s->json, err, sizeof err);
    http_req_consume(c, total);
    if (rc != SL_OK) {
        batch_release(b);
        metrics_error(s->cc->metrics, "parse");
        net_server_warn(s->req.srv, "%s: bad body: %s", c->peer, err);
        hs_error(s, c, 400, err, false);
        return;
    }
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, total, memory_order_relaxed);
    if (b->n == 0) {
        batch_release(b);
        respond(s, c, 200, "{\"accepted\":0}", false);
        return;
    }
    h->wait_events = b->n;
    if (http_req_emit(&s->req, c, b) != SL_OK) {
        s->closed = true;
        hs_error(s, c, 503, "shutting down", true);
    }
}

static void hs_committed(void *arg, net_conn *c)
{
    char body[64];
    snprintf(body, sizeof body, "{\"accepted\":%u}", ((hconn *)c->user)->wait_events);
    respond(arg, c, 200, body, false);
}

static const http_req_handler hs_handler = {
    .begin = hs_begin,
    .header = hs_header,
    .head = hs_head,
    .body = hs_body,
    .error = hs_error,
    .committed = hs_committed,
};

static int hs_run(void *self, sl_source_ctx *ctx)
{
    http_source *s = self;
    return http_req_run(&s->req, ctx, "");
}

static void hs_destroy(void *self)
{
    http_source *s = self;
    if (!s)
        return;
    http_req_free(&s->req);
    arena_free(&s->scratch);
    buf_free(&s->json);
    buf_free(&s->body);
    buf_free(&s->form);
    free(s);
}

static int hs_listens(const void *config, sl_listen *out)
{
    out[0] = (sl_listen){((const http_src_config *)config)->req.address, SL_LISTEN_TCP};
    return 1;
}

const sl_source_vtable sl_source_http = {
    .type = "http",
    .help = "HTTP endpoint: POST /<tag> with JSON, NDJSON, msgpack or text (gzip, deflate, zstd, snappy); "
            "2xx only once durably accepted, 429 under backpressure",
    .options = http_src_options,
    .config_size = sizeof(http_src_config),
    .init = hs_init,
    .run = hs_run,
    .destroy = hs_destroy,
    .signals_ready = true,
    .listens = hs_listens,
};
