/* otlp.c - the `otlp` source: OTLP/HTTP logs (POST /v1/logs, protobuf or JSON, gzip,
 * deflate or zstd), answered 200 only once the events are in every downstream buffer.
 *
 * Notes on the design
 *  1. The HTTP/1.1 request handling (framing, keep-alive, 100-continue, gzip, 429 under
 *     backpressure, ack tokens, the connection's states) is net/http_request.c, shared with
 *     the http source; this file keeps the path, content types, decoding and answers.
 *  2. Answers follow the OTLP/HTTP specification: 200 with an ExportLogsServiceResponse in
 *     the request's encoding (partial_success when records were refused); 400 for a body
 *     that does not decode; 404 for other paths; 405 for other methods; 411 without a
 *     length; 413 above max_body_bytes; 415 for other content types or encodings; 429 with
 *     Retry-After when a downstream buffer is full (source_would_block), 503 with
 *     Retry-After when stopping. Error bodies are a google.rpc.Status. 429 and 503 are the
 *     codes OTLP clients retry, the 4xx others they drop.
 *  3. One request = one batch = one ack token (net/http_request.h); a token committed
 *     after the client left is dropped: the client saw no 200 and will retry.
 *  4. Event ids are (hash of the decoded body, record index): a retried request yields the
 *     same ids, so downstream deduplication by id sees repeats as repeats.
 *  5. gRPC is not served: a gRPC server needs HTTP/2 framing (libnghttp2 does that part),
 *     plus the gRPC length-prefixed messages, trailers and status mapping of our own;
 *     OTLP/HTTP reaches the collectors and SDKs that can be configured for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "formats/otlp_logs.h"
#include "net/http_request.h"

typedef struct otlp_src_config {
    http_req_options req; /* address, limits, tls */
    char *path;
    uint64_t max_record_bytes;
} otlp_src_config;

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(otlp_src_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option otlp_src_options[] = {
    O("address", SL_OPT_ADDRESS, req.address, "0.0.0.0:4318", 0, 0, "host:port to listen on"),
    O("path", SL_OPT_STR, path, "/v1/logs", 0, 0, "the request path of log exports"),
    O("max_record_bytes", SL_OPT_SIZE, max_record_bytes, "1MiB", 16, 1LL << 31,
      "a log record larger than this (encoded) is refused alone, as a partial success"),
    O("retry_after", SL_OPT_INT, req.retry_after_s, "1", 0, 3600,
      "seconds in the Retry-After header of 429 and 503 answers"),
    HTTP_REQ_LIMIT_OPTIONS(otlp_src_config),
    SL_OPT_END,
};
#undef O

typedef struct oconn {
    http_req r; /* first: the request layer's state */
    bool json, type_ok;
    const char *bad_enc;
    uint32_t wait_rejected;
    char wait_msg[160];
} oconn;

typedef struct otlp_source {
    const otlp_src_config *cfg;
    const sl_component_ctx *cc;
    http_req_layer req;
    sl_arena scratch;
    sl_buf out;
    char not_found[320]; /* the 404's words, naming the configured path */
} otlp_source;

static const http_req_handler os_handler;

static int os_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const net_tls_config *tls = &((const otlp_src_config *)config)->req.tls;
    int rc = cc->check_only ? SL_OK : net_tls_check(tls, err, errlen);
    if (rc != SL_OK)
        return rc;
    otlp_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    http_req_init(&s->req, &s->cfg->req, 4318, cc, &os_handler, s, sizeof(oconn));
    arena_init(&s->scratch, 64 * 1024);
    snprintf(s->not_found, sizeof s->not_found,
             "not found: logs are exported to the configured path (%s)", s->cfg->path);
    *self = s;
    return SL_OK;
}

/* Sends the answer whose body is s->out, in the request's encoding. */
static void respond(otlp_source *s, net_conn *c, int code, bool close)
{
    bool json = ((oconn *)c->user)->json;
    http_req_answer(&s->req, c, code, json ? "application/json" : "application/x-protobuf",
                    code == 429 || code == 503 ? s->cfg->req.retry_after_s : -1, s->out.p,
                    s->out.len, close);
}

/* An error answer: a google.rpc.Status with the gRPC code that matches the HTTP one. */
static void os_error(void *arg, net_conn *c, int code, const char *msg, bool close)
{
    otlp_source *s = arg;
    int grpc = code == 429 ? 8 : code == 503 ? 14 : code == 404 || code == 405 ? 12 : 3;
    buf_reset(&s->out);
    otlp_logs_status(&s->out, ((oconn *)c->user)->json, grpc, msg);
    respond(s, c, code, close);
}

/* Answers 200 with the request's partial success (none when nothing was refused). */
static void respond_ok(otlp_source *s, net_conn *c, uint32_t rejected, const char *msg)
{
    buf_reset(&s->out);
    otlp_logs_response(&s->out, ((oconn *)c->user)->json, rejected, msg);
    respond(s, c, 200, false);
}

static void os_begin(void *arg, net_conn *c)
{
    oconn *h = c->user;
    h->json = h->type_ok = false;
    h->bad_enc = NULL;
}

static int os_header(void *arg, net_conn *c, const char *name, size_t nlen, const char *v,
                     size_t vlen, const char **msg)
{
    oconn *h = c->user;
    if (http_req_name_is(name, nlen, "content-type")) {
        h->json = http_req_type_is(v, vlen, "application/json");
        h->type_ok = h->json || http_req_type_is(v, vlen, "application/x-protobuf");
    } else if (http_req_name_is(name, nlen, "content-encoding")) {
        if (!http_req_encoding(&h->r, v, vlen))
            h->bad_enc = HTTP_REQ_ENCODINGS;
    }
    return 0;
}

/* Path, method, type and encoding are refused before the framing is. */
static int os_head(void *arg, net_conn *c, const http_req_head *hd, const char **msg)
{
    otlp_source *s = arg;
    oconn *h = c->user;
    if (hd->target_len != strlen(s->cfg->path) ||
        memcmp(hd->target, s->cfg->path, hd->target_len) != 0) {
        *msg = s->not_found;
        return 404;
    }
    if (!hd->post) {
        *msg = "only POST is served";
        return 405;
    }
    if (!h->type_ok) {
        *msg = "unsupported Content-Type (application/x-protobuf or application/json)";
        return 415;
    }
    if (h->bad_enc) {
        *msg = h->bad_enc;
        return 415;
    }
    return 0;
}

/* The whole body is in (inflated); it decodes into one batch. */
static void os_body(void *arg, net_conn *c, const char *body, size_t blen, size_t total)
{
    otlp_source *s = arg;
    oconn *h = c->user;
    char err[256];
    sl_batch *b = batch_new(64);
    otlp_logs_opts o = {.max_record_bytes = s->cfg->max_record_bytes,
                        .now_ns = sl_now_ns(),
                        .id_stream = otlp_logs_hash(body, blen)};
    otlp_logs_result r;
    arena_reset(&s->scratch);
    int rc = otlp_logs_decode(b, body, blen, h->json, &s->scratch, &o, &r, err, sizeof err);
    http_req_consume(c, total);
    if (rc != SL_OK) {
        batch_release(b);
        metrics_error(s->cc->metrics, "parse");
        net_server_warn(s->req.srv, "%s: bad body: %s", c->peer, err);
        os_error(s, c, 400, err, false);
        return;
    }
    if (r.rejected) {
        for (uint32_t i = 0; i < r.rejected; i++)
            metrics_error(s->cc->metrics, "record_too_large");
        net_server_warn(s->req.srv, "%s: %u of %u records refused: %s", c->peer, r.rejected,
                        r.records, r.reject_msg);
    }
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, total, memory_order_relaxed);
    if (b->n == 0) {
        batch_release(b);
        respond_ok(s, c, r.rejected, r.reject_msg);
        return;
    }
    h->wait_rejected = r.rejected;
    snprintf(h->wait_msg, sizeof h->wait_msg, "%s", r.reject_msg);
    if (http_req_emit(&s->req, c, b) != SL_OK)
        os_error(s, c, 503, "shutting down", true);
}

static void os_committed(void *arg, net_conn *c)
{
    oconn *h = c->user;
    respond_ok(arg, c, h->wait_rejected, h->wait_msg);
}

static const http_req_handler os_handler = {
    .begin = os_begin,
    .header = os_header,
    .head = os_head,
    .body = os_body,
    .error = os_error,
    .committed = os_committed,
};

static int os_run(void *self, sl_source_ctx *ctx)
{
    otlp_source *s = self;
    char what[300];
    snprintf(what, sizeof what, ", OTLP/HTTP logs at %s", s->cfg->path);
    return http_req_run(&s->req, ctx, what);
}

static void os_destroy(void *self)
{
    otlp_source *s = self;
    if (!s)
        return;
    http_req_free(&s->req);
    arena_free(&s->scratch);
    buf_free(&s->out);
    free(s);
}

static int os_listens(const void *config, sl_listen *out)
{
    out[0] = (sl_listen){((const otlp_src_config *)config)->req.address, SL_LISTEN_TCP};
    return 1;
}

const sl_source_vtable sl_source_otlp = {
    .type = "otlp",
    .help = "OpenTelemetry logs over OTLP/HTTP (POST /v1/logs, protobuf or JSON, gzip, deflate, "
            "zstd); 200 only once durably accepted, 429 + Retry-After under backpressure",
    .options = otlp_src_options,
    .config_size = sizeof(otlp_src_config),
    .init = os_init,
    .run = os_run,
    .destroy = os_destroy,
    .signals_ready = true,
    .listens = os_listens,
};
