/* http_request.h - the HTTP/1.1 request layer of the sources that take POSTed bodies
 * (`http`, `otlp`): request line and headers, Content-Length or chunked bodies, keep-alive,
 * Expect: 100-continue, gzip, deflate, zstd and snappy, backpressure (429), ack tokens and the
 * answer's head.
 *
 * The layer owns framing; the source owns meaning. It sees each header the layer does not
 * interpret, judges the parsed head (path, method, content type, auth), decodes the body and
 * writes the answers' bodies. Per connection: HEAD (waiting for the header block) -> BODY
 * (Content-Length bytes, or chunks decoded in place until the last) -> WAIT (events emitted,
 * reading paused until the request's ack token commits) -> HEAD again (keep-alive) or
 * CLOSED (nothing more is read; the answer is on its way and the connection closes).
 * A request refused for backpressure at its head goes HEAD -> DRAIN (answered 429; the
 * body is discarded as it arrives) -> HEAD, or CLOSED when it expected 100-continue. */
#ifndef SL_HTTP_REQUEST_H
#define SL_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/component.h"
#include "core/config.h"
#include "formats/http_chunked.h"
#include "net/server.h"

enum { HTTP_REQ_HEAD = 0, HTTP_REQ_BODY, HTTP_REQ_DRAIN, HTTP_REQ_WAIT, HTTP_REQ_CLOSED };
/* Content-Encodings a body may have: gzip, deflate (a zlib stream, or raw deflate as some
 * clients send it), zstd and snappy (a raw block as Vector's http sink sends it, or the
 * framing format), as Vector's and the OpenTelemetry Collector's senders use. */
enum { HTTP_ENC_IDENTITY = 0, HTTP_ENC_GZIP, HTTP_ENC_DEFLATE, HTTP_ENC_ZSTD, HTTP_ENC_SNAPPY };

/* Per-connection request state: the first member of the source's connection struct, which
 * the layer allocates (zeroed) on open and frees on close. */
typedef struct http_req {
    int state;
    size_t head_len, body_len; /* c->in holds [head][body] once the body is complete; in
                                * DRAIN, body_len is what is left to discard */
    uint8_t enc; /* HTTP_ENC_*: the body's Content-Encoding */
    bool keep_alive, expect, timed, chunked;
    http_chunked dc; /* chunked body decoder: decodes in place, so memory stays bounded */
    uint64_t seq, wait_seq; /* ack token value of the next request, of the awaited one */
} http_req;

/* What the layer read of a request's head, for the source to judge. */
typedef struct http_req_head {
    const char *target; /* request target without the query; not NUL-terminated */
    size_t target_len;
    bool post;
    int status;      /* 0, or the framing's verdict (400 both lengths, 411, 413) ... */
    const char *msg; /* ... and why */
} http_req_head;

typedef struct http_req_handler {
    /* A new head is about to be read: reset the source's per-request fields. */
    void (*begin)(void *arg, net_conn *c);
    /* A header other than Content-Length, Transfer-Encoding, Connection and Expect (name
     * and value trimmed, not NUL-terminated). Returns 0, or an HTTP status to answer now. */
    int (*header)(void *arg, net_conn *c, const char *name, size_t nlen, const char *v,
                  size_t vlen, const char **msg);
    /* The whole head is read. Returns 0 or a status; returning 0 leaves hd->status, if any,
     * to be answered, so the source decides which of its refusals come before framing's. */
    int (*head)(void *arg, net_conn *c, const http_req_head *hd, const char **msg);
    /* The whole body is in, inflated if gzip, and fits downstream: decode it, then
     * http_req_consume(c, total) before answering or http_req_emit. `body` is valid until
     * then (it points into c->in or into the layer's inflation buffer). */
    void (*body)(void *arg, net_conn *c, const char *body, size_t len, size_t total);
    /* Answer an error (the source writes the body); `close` ends the connection after it. */
    void (*error)(void *arg, net_conn *c, int code, const char *msg, bool close);
    /* The awaited request's ack token committed: answer 200 (reading resumes after). */
    void (*committed)(void *arg, net_conn *c);
} http_req_handler;

/* The listening options both sources have (same names and meaning): a member of each
 * source's config, filled by the source's option table. */
typedef struct http_req_options {
    char *address;
    uint64_t max_body_bytes, max_header_bytes;
    int64_t max_connections, idle_timeout_ms, request_timeout_ms, retry_after_s;
    net_tls_config tls;
} http_req_options;

/* The option table entries of the limits in http_req_options, for a source config type T
 * whose member `req` it is; address and retry_after (default port, help) are the source's. */
#define HTTP_REQ_LIMIT_OPTIONS(T)                                                            \
    {"max_body_bytes", SL_OPT_SIZE, offsetof(T, req.max_body_bytes), "16MiB", 0, NULL, NULL, \
     64, 1LL << 31,                                                                         \
     "larger bodies (or compressed bodies inflating beyond 8x this) are answered 413"},     \
    {"max_header_bytes", SL_OPT_SIZE, offsetof(T, req.max_header_bytes), "16KiB", 0, NULL,    \
     NULL, 256, 1 << 20, "request line + headers at most"},                                  \
    {"max_connections", SL_OPT_INT, offsetof(T, req.max_connections), "1024", 0, NULL, NULL, \
     1, 1 << 20, "connections beyond this are refused"},                                     \
    {"idle_timeout", SL_OPT_DURATION, offsetof(T, req.idle_timeout_ms), "60s", 0, NULL, NULL, \
     0, 86400000, "close keep-alive connections silent this long (0: never)"},               \
    {"request_timeout", SL_OPT_DURATION, offsetof(T, req.request_timeout_ms), "30s", 0, NULL, \
     NULL, 100, 3600000, "a request (headers and body) must arrive within this once it starts"}, \
    {"tls", SL_OPT_OBJECT, offsetof(T, req.tls), NULL, 0, NULL, net_tls_server_options, 0, 0, \
     "TLS: cert_file, key_file, ca_file, client_auth"}

/* One per source, set up by http_req_init; http_req_free releases what the layer owns. */
typedef struct http_req_layer {
    const http_req_options *opt; /* the source's config, which outlives the layer */
    const sl_component_ctx *cc;
    const http_req_handler *h;
    void *arg;
    size_t conn_size; /* sizeof the source's connection struct, >= sizeof(http_req) */
    net_server_config scfg;
    net_server *srv;    /* owned, while running */
    sl_source_ctx *ctx; /* while running */
    sl_buf inflated;    /* owned: the decoded body of the current request */
} http_req_layer;

/* Handler h gets arg; each connection's struct (conn_size bytes) begins with an http_req. */
void http_req_init(http_req_layer *l, const http_req_options *opt, int default_port,
                   const sl_component_ctx *cc, const http_req_handler *h, void *arg,
                   size_t conn_size);
/* A source's run: listens, serves requests until the source is stopped, then answers the
 * acks still due. `what` ends the "listening" log line (may be ""). */
int http_req_run(http_req_layer *l, sl_source_ctx *ctx, const char *what);
void http_req_free(http_req_layer *l);

/* The request's bytes are used: drop them from c->in, back to HEAD. */
void http_req_consume(net_conn *c, size_t total);
/* Emits b with an ack token for this request and pauses reading until it commits (then
 * handler->committed answers). Returns source_emit's code; on failure the request is back
 * in HEAD and the source answers 503. Takes b. */
int http_req_emit(http_req_layer *l, net_conn *c, sl_batch *b);

/* Sends an answer: head with Content-Type `ctype`, Retry-After when retry_after_s >= 0,
 * then `len` bytes of body. `close` (forced when the client did not keep alive) closes the
 * connection after it. */
void http_req_answer(http_req_layer *l, net_conn *c, int code, const char *ctype,
                     int64_t retry_after_s, const char *body, size_t len, bool close);

/* The head's framing, for on_data and the fuzz target: the length of the header block at
 * p (through its empty line), 0 while incomplete; then the parse of c->in's first
 * r->head_len bytes, calling h->begin, h->header and h->head. Returns 0, or an HTTP
 * status to answer with *msg saying why. */
size_t http_req_head_end(const char *p, size_t n);
int http_req_parse_head(http_req_layer *l, net_conn *c, http_req *r, const char **msg);

/* Header value helpers: exact name without case; word anywhere in the value; media type
 * before its parameters; Content-Encoding gzip, deflate, zstd, snappy (sets r->enc) or
 * identity, else false (HTTP_REQ_ENCODINGS names them for the 415). */
bool http_req_name_is(const char *name, size_t nlen, const char *want);
bool http_req_value_has(const char *v, size_t vlen, const char *word);
bool http_req_type_is(const char *v, size_t vlen, const char *want);
bool http_req_encoding(http_req *r, const char *v, size_t vlen);
/* Decodes a body of Content-Encoding enc (HTTP_ENC_*, not IDENTITY) into out (reset
 * first), at most max bytes. Returns SL_OK, SL_ERR_TOOBIG past max, SL_ERR_CORRUPT for a
 * body that does not decode, SL_ERR_NOTFOUND when the library it needs cannot be loaded. */
int http_req_decode(sl_buf *out, int enc, const char *p, size_t n, size_t max);
#define HTTP_REQ_ENCODINGS "unsupported Content-Encoding (gzip, deflate, zstd, snappy or identity)"

#endif
