/* http_request.c - the HTTP/1.1 request layer of the http and otlp sources (see the header
 * for the state machine and the split of work with the source).
 *
 * Notes on the design
 *  1. The parser is deliberately small: HTTP/1.0 and 1.1, lines ending in CRLF or a bare
 *     LF, Content-Length or chunked bodies, keep-alive, Expect: 100-continue (curl sends it
 *     for larger bodies). A Content-Length claim above max_body_bytes is answered 413 before
 *     the body is read, so it costs nothing; two Content-Lengths that differ are a 400.
 *  2. Chunked bodies are decoded in place as they arrive (formats/http_chunked.h): c->in holds
 *     [head][decoded body][undecoded rest], so once the last chunk is in, the request looks
 *     exactly like a Content-Length one of the decoded size, and memory is bounded by
 *     max_body_bytes as for those. Content-Length with Transfer-Encoding is refused (400).
 *  3. One request = one batch = one ack token keyed (connection id, sequence). A token
 *     committed after the client left is dropped: the client saw no 2xx and will retry.
 *  4. A refused head closes the connection after the answer: its body is not read, so the
 *     next request's start is unknown. The server lingers (note 9 of server.c), so a client
 *     still sending that body reads the answer rather than a reset.
 *  5. Backpressure (a full buffer downstream, limits.memory reached) is answered 429 as
 *     soon as the head is in, before the body is read: a refused body would cost its whole
 *     size in memory only to be thrown away. The body is then drained (DRAIN): discarded as
 *     it arrives, never held, at most max_body_bytes, within request_timeout, and the
 *     connection goes on (keep-alive). Clients that send the whole body before reading the
 *     answer (python, Fluent Bit) so read it; closing with the body unread would reset the
 *     connection under them. A client that sent Expect: 100-continue gets the 429 instead
 *     of 100, does not send the body, and the connection closes. A body that passes the
 *     head's check is checked again once read (its inflated size, a buffer filled since).
 *  6. Another protocol at a request's start, an HTTP/2 preface or a TLS handshake, is said
 *     and closed at once (other_protocol). */
#include "net/http_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "core/common.h"
#include "core/crc32c.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/forward.h"

#define BUSY "buffers are full, retry later"

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
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Service Unavailable";
    }
}

void http_req_answer(http_req_layer *l, net_conn *c, int code, const char *ctype,
                     int64_t retry_after_s, const char *body, size_t len, bool close)
{
    http_req *r = c->user;
    if (!r->keep_alive)
        close = true;
    char head[512], retry[48] = "";
    if (retry_after_s >= 0)
        snprintf(retry, sizeof retry, "Retry-After: %lld\r\n", (long long)retry_after_s);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
                     code, reason_of(code), ctype, len, retry,
                     close ? "Connection: close\r\n" : "");
    net_conn_send(l->srv, c, head, (size_t)n);
    if (len)
        net_conn_send(l->srv, c, body, len);
    if (close && r->state != HTTP_REQ_DRAIN) /* a drain closes once the body is gone */
        net_conn_close(l->srv, c, false);
}

bool http_req_name_is(const char *name, size_t nlen, const char *want)
{
    return nlen == strlen(want) && strncasecmp(name, want, nlen) == 0;
}

bool http_req_value_has(const char *v, size_t vlen, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= vlen; i++)
        if (strncasecmp(v + i, word, wl) == 0)
            return true;
    return false;
}

bool http_req_type_is(const char *v, size_t vlen, const char *want)
{
    size_t n = 0;
    while (n < vlen && v[n] != ';' && v[n] != ' ')
        n++;
    return http_req_name_is(v, n, want);
}

bool http_req_encoding(http_req *r, const char *v, size_t vlen)
{
    if (http_req_value_has(v, vlen, "gzip"))
        r->enc = HTTP_ENC_GZIP;
    else if (http_req_value_has(v, vlen, "deflate"))
        r->enc = HTTP_ENC_DEFLATE;
    else if (http_req_value_has(v, vlen, "zstd"))
        r->enc = HTTP_ENC_ZSTD;
    else if (http_req_value_has(v, vlen, "snappy"))
        r->enc = HTTP_ENC_SNAPPY;
    else
        return http_req_value_has(v, vlen, "identity");
    return true;
}

static int on_open(void *arg, net_conn *c)
{
    http_req_layer *l = arg;
    c->user = sl_xcalloc(1, l->conn_size);
    net_conn_set_ready(l->srv, c);
    return 0;
}

static void on_close(void *arg, net_conn *c)
{
    free(c->user);
    c->user = NULL;
}

int http_req_parse_head(http_req_layer *l, net_conn *c, http_req *r, const char **msg)
{
    const char *p = c->in.p, *end = c->in.p + r->head_len;
    l->h->begin(l->arg, c);
    r->enc = HTTP_ENC_IDENTITY;
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
    if (!sp1 || !sp2) {
        *msg = "malformed request line";
        return 400;
    }
    http_req_head hd = {.post = sp1 - p == 4 && memcmp(p, "POST", 4) == 0};
    r->keep_alive = !((size_t)(eol - sp2) >= 9 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0);
    hd.target = sp1 + 1;
    hd.target_len = (size_t)(sp2 - hd.target);
    const char *q = memchr(hd.target, '?', hd.target_len);
    if (q)
        hd.target_len = (size_t)(q - hd.target);
    bool have_len = false, chunked = false;
    r->expect = false;
    int64_t clen = 0;
    for (const char *h = eol + 1; h < end;) {
        const char *he = memchr(h, '\n', (size_t)(end - h));
        if (!he)
            break;
        const char *colon = memchr(h, ':', (size_t)(he - h));
        if (colon) {
            size_t nlen = (size_t)(colon - h);
            const char *v = colon + 1;
            while (v < he && (*v == ' ' || *v == '\t'))
                v++;
            size_t vlen = (size_t)(he - v);
            while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
                vlen--;
            if (http_req_name_is(h, nlen, "content-length")) {
                char num[24];
                if (vlen == 0 || vlen >= sizeof num) {
                    *msg = "bad Content-Length";
                    return vlen >= sizeof num ? 413 : 400;
                }
                memcpy(num, v, vlen);
                num[vlen] = '\0';
                char *ep;
                int64_t len = strtoll(num, &ep, 10);
                if (*ep || num[0] < '0' || num[0] > '9' || len < 0) {
                    *msg = "bad Content-Length";
                    return 400;
                }
                /* two that disagree: which body is meant is a guess (RFC 9112 6.3) */
                if (have_len && len != clen) {
                    *msg = "Content-Length given twice with different values";
                    return 400;
                }
                clen = len;
                have_len = true;
            } else if (http_req_name_is(h, nlen, "transfer-encoding")) {
                if (vlen != 7 || strncasecmp(v, "chunked", 7) != 0) {
                    *msg = "unsupported Transfer-Encoding (only chunked)";
                    return 501;
                }
                chunked = true;
            } else if (http_req_name_is(h, nlen, "connection")) {
                if (http_req_value_has(v, vlen, "close"))
                    r->keep_alive = false;
                else if (http_req_value_has(v, vlen, "keep-alive"))
                    r->keep_alive = true;
            } else if (http_req_name_is(h, nlen, "expect")) {
                r->expect = http_req_value_has(v, vlen, "100-continue");
            } else {
                int code = l->h->header(l->arg, c, h, nlen, v, vlen, msg);
                if (code)
                    return code;
            }
        }
        h = he + 1;
    }
    if (chunked && have_len)
        hd.status = 400, hd.msg = "both Content-Length and Transfer-Encoding";
    else if (!have_len && !chunked)
        hd.status = 411, hd.msg = "Content-Length required";
    else if ((uint64_t)clen > l->opt->max_body_bytes)
        hd.status = 413, hd.msg = "body larger than max_body_bytes";
    int code = l->h->head(l->arg, c, &hd, msg);
    if (!code && hd.status)
        code = hd.status, *msg = hd.msg;
    if (code)
        return code;
    r->chunked = chunked;
    r->body_len = chunked ? 0 : (size_t)clen;
    if (chunked)
        http_chunked_init(&r->dc, l->opt->max_body_bytes);
    return 0;
}

/* Refuses the request whose head was just read for backpressure, before its body (note 5). */
static void refuse(http_req_layer *l, net_conn *c, http_req *r)
{
    metrics_error(l->cc->metrics, "backpressure");
    net_conn_consume(c, r->head_len);
    r->head_len = 0;
    r->state = r->expect ? HTTP_REQ_CLOSED : HTTP_REQ_DRAIN;
    l->h->error(l->arg, c, 429, BUSY, r->expect);
}

/* Discards what arrived of a refused request's body (note 5). True once all of it is gone
 * and the connection is back in HEAD; false while it goes on, or when the connection closes
 * (the client did not keep alive, or broke the chunked framing). */
static bool drain(http_req_layer *l, net_conn *c, http_req *r)
{
    bool done;
    if (r->chunked) {
        size_t used = 0, wrote = 0;
        char err[256];
        int rc = http_chunked_decode(&r->dc, c->in.p, c->in.len, c->in.p, &used, &wrote, err,
                                     sizeof err);
        net_conn_consume(c, used);
        if (rc != HTTP_CHUNKED_DONE && rc != HTTP_CHUNKED_MORE) {
            r->state = HTTP_REQ_CLOSED; /* the next request's start is unknown */
            net_conn_close(l->srv, c, false);
            return false;
        }
        done = rc == HTTP_CHUNKED_DONE;
    } else {
        size_t n = SL_MIN(c->in.len, r->body_len);
        net_conn_consume(c, n);
        r->body_len -= n;
        done = r->body_len == 0;
    }
    if (!done)
        return false;
    net_conn_set_deadline(l->srv, c, 0);
    r->timed = false;
    if (!r->keep_alive) {
        r->state = HTTP_REQ_CLOSED;
        net_conn_close(l->srv, c, false);
        return false;
    }
    r->state = HTTP_REQ_HEAD;
    return true;
}

/* Decodes the chunks that arrived, in place (note 2). True once the body is complete
 * (r->body_len bytes behind the head); false while it goes on, or after answering a
 * framing error (400) or a body past max_body_bytes (413), both closing the connection. */
static bool dechunk(http_req_layer *l, net_conn *c, http_req *r)
{
    size_t at = r->head_len + r->body_len, used = 0, wrote = 0;
    char err[256];
    int rc = http_chunked_decode(&r->dc, c->in.p + at, c->in.len - at, c->in.p + at, &used,
                                 &wrote, err, sizeof err);
    memmove(c->in.p + at + wrote, c->in.p + at + used, c->in.len - at - used);
    c->in.len -= used - wrote;
    r->body_len += wrote;
    if (rc == HTTP_CHUNKED_DONE)
        return true;
    if (rc == HTTP_CHUNKED_MORE)
        return false;
    bool big = rc == HTTP_CHUNKED_TOOBIG;
    metrics_error(l->cc->metrics, big ? "body_too_large" : "bad_chunked");
    net_server_warn(l->srv, "%s: %d: %s", c->peer, big ? 413 : 400, err);
    r->state = HTTP_REQ_CLOSED;
    l->h->error(l->arg, c, big ? 413 : 400, err, true);
    return false;
}

void http_req_consume(net_conn *c, size_t total)
{
    net_conn_consume(c, total);
    ((http_req *)c->user)->state = HTTP_REQ_HEAD;
}

/* A zstd body (one frame or several) into out, at most `max` bytes. Returns SL_OK,
 * SL_ERR_TOOBIG, SL_ERR_CORRUPT, or SL_ERR_NOTFOUND when libzstd cannot be loaded. */
static int unzstd(sl_buf *out, const char *p, size_t n, size_t max)
{
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    if (!dc)
        return SL_ERR_NOTFOUND;
    /* A frame may ask for a window of up to 2 GiB; 16 MiB is far beyond what senders use
     * (level 3: 2 MiB) and bounds what one request can make us allocate. */
    ZSTD_DCtx_setParameter(dc, ZSTD_d_windowLogMax, 24);
    ZSTD_inBuffer in = {p, n, 0};
    int rc = SL_OK;
    for (;;) {
        if (out->cap - out->len < 65536)
            buf_reserve(out, SL_MAX(65536, n * 2));
        ZSTD_outBuffer ob = {out->p + out->len, out->cap - out->len, 0};
        size_t zr = ZSTD_decompressStream(dc, &ob, &in);
        out->len += ob.pos;
        if (ZSTD_isError(zr)) {
            rc = SL_ERR_CORRUPT;
            break;
        }
        if (out->len > max) {
            rc = SL_ERR_TOOBIG;
            break;
        }
        if (in.pos == in.size && (zr == 0 || ob.pos < ob.size)) {
            rc = zr == 0 ? SL_OK : SL_ERR_CORRUPT; /* else a frame ends short of its end */
            break;
        }
    }
    ZSTD_freeDCtx(dc);
    return rc;
}

/* One raw snappy block (the format of snappy_compress) appended to out, the whole output
 * at most `max` bytes. */
static int unsnappy_block(sl_buf *out, const char *p, size_t n, size_t max)
{
    size_t len;
    if (snappy_uncompressed_length(p, n, &len) != SNAPPY_OK)
        return SL_ERR_CORRUPT;
    if (len > max - out->len)
        return SL_ERR_TOOBIG;
    buf_reserve(out, len + 1);
    if (snappy_uncompress(p, n, out->p + out->len, &len) != SNAPPY_OK)
        return SL_ERR_CORRUPT;
    out->len += len;
    return SL_OK;
}

/* A snappy body into out, at most `max` bytes: a raw block (Vector's http sink, Prometheus'
 * remote write), or the framing format (snappy's framing_format.txt: a stream identifier,
 * then chunks of compressed or stored data, each with the masked CRC-32C of its data).
 * Returns SL_OK, SL_ERR_TOOBIG, SL_ERR_CORRUPT, or SL_ERR_NOTFOUND when libsnappy cannot
 * be loaded. */
static int unsnappy(sl_buf *out, const char *p, size_t n, size_t max)
{
    static const char stream_id[10] = "\xff\x06\x00\x00sNaPpY";
    if (!lazylib_ready(&lazy_snappy))
        return SL_ERR_NOTFOUND;
    if (n < sizeof stream_id || memcmp(p, stream_id, sizeof stream_id) != 0)
        return unsnappy_block(out, p, n, max);
    const unsigned char *u = (const unsigned char *)p;
    for (size_t i = sizeof stream_id; i < n;) {
        if (n - i < 4)
            return SL_ERR_CORRUPT;
        unsigned type = u[i];
        size_t clen = (size_t)u[i + 1] | (size_t)u[i + 2] << 8 | (size_t)u[i + 3] << 16;
        i += 4;
        if (clen > n - i)
            return SL_ERR_CORRUPT;
        if (type == 0x00 || type == 0x01) { /* compressed or stored data */
            if (clen < 4)
                return SL_ERR_CORRUPT;
            uint32_t want = (uint32_t)u[i] | (uint32_t)u[i + 1] << 8 |
                            (uint32_t)u[i + 2] << 16 | (uint32_t)u[i + 3] << 24;
            size_t from = out->len;
            int rc;
            if (type == 0x00) {
                rc = unsnappy_block(out, p + i + 4, clen - 4, max);
            } else if (clen - 4 > max - out->len) {
                rc = SL_ERR_TOOBIG;
            } else {
                buf_append(out, p + i + 4, clen - 4);
                rc = SL_OK;
            }
            if (rc != SL_OK)
                return rc;
            uint32_t crc = crc32c(0, out->p + from, out->len - from);
            if (((crc >> 15 | crc << 17) + 0xa282ead8u) != want)
                return SL_ERR_CORRUPT;
        } else if (type == 0xff) { /* the identifier again, as concatenated streams have */
            if (clen != 6 || memcmp(p + i, stream_id + 4, 6) != 0)
                return SL_ERR_CORRUPT;
        } else if (type < 0x80) { /* reserved unskippable */
            return SL_ERR_CORRUPT;
        }
        i += clen; /* 0x80-0xfe: skippable and padding */
    }
    return SL_OK;
}

int http_req_decode(sl_buf *out, int enc, const char *p, size_t n, size_t max)
{
    int rc;
    buf_reset(out);
    if (enc == HTTP_ENC_GZIP)
        rc = fwd_gunzip(out, p, n, max);
    else if (enc == HTTP_ENC_ZSTD)
        rc = unzstd(out, p, n, max);
    else if (enc == HTTP_ENC_SNAPPY)
        rc = unsnappy(out, p, n, max);
    else if (enc != HTTP_ENC_DEFLATE)
        rc = SL_ERR_INVAL;
    else if ((rc = fwd_inflate(out, p, n, max, MAX_WBITS)) == SL_ERR_CORRUPT) {
        buf_reset(out); /* not a zlib stream: raw deflate, as some clients send */
        rc = fwd_inflate(out, p, n, max, -MAX_WBITS);
    }
    return rc;
}

/* The whole request is in c->in: inflate, check room downstream, hand to the source. */
static void take_body(http_req_layer *l, net_conn *c, http_req *r)
{
    const char *body = c->in.p + r->head_len;
    size_t blen = r->body_len;
    size_t total = r->head_len + r->body_len;
    if (r->enc != HTTP_ENC_IDENTITY && blen) {
        int rc = http_req_decode(&l->inflated, r->enc, body, blen, l->opt->max_body_bytes * 8);
        if (rc != SL_OK) {
            static const char *const bad[] = {"", "bad gzip body", "bad deflate body",
                                              "bad zstd body", "bad snappy body"};
            bool big = rc == SL_ERR_TOOBIG, gone = rc == SL_ERR_NOTFOUND;
            metrics_error(l->cc->metrics, big ? "body_too_large"
                                          : r->enc == HTTP_ENC_GZIP ? "bad_gzip"
                                                                    : "bad_encoding");
            http_req_consume(c, total);
            l->h->error(l->arg, c, big ? 413 : gone ? 415 : 400,
                        big    ? "inflated body larger than 8 x max_body_bytes"
                        : gone ? (r->enc == HTTP_ENC_ZSTD
                                      ? "zstd bodies need libzstd.so.1, which cannot be loaded"
                                      : "snappy bodies need libsnappy.so.1, which cannot be "
                                        "loaded")
                               : bad[r->enc],
                        false);
            return;
        }
        body = l->inflated.p, blen = l->inflated.len;
    }
    /* A full downstream buffer is answered 429 so that clients back off instead of piling up. */
    if (source_would_block(l->ctx, blen)) {
        metrics_error(l->cc->metrics, "backpressure");
        http_req_consume(c, total);
        l->h->error(l->arg, c, 429, BUSY, false);
        return;
    }
    l->h->body(l->arg, c, body ? body : "", blen, total);
}

/* Lines end in CRLF or in a bare LF, which RFC 9112 2.2 lets a server take (printf | nc
 * sends them; such a request waited out request_timeout). */
size_t http_req_head_end(const char *p, size_t n)
{
    for (const char *q = memchr(p, '\n', n); q;) {
        size_t at = (size_t)(q - p) + 1; /* after a line's LF: an empty line ends the head */
        if (at < n && p[at] == '\n')
            return at + 1;
        if (at + 1 < n && p[at] == '\r' && p[at + 1] == '\n')
            return at + 2;
        q = at < n ? memchr(p + at, '\n', n - at) : NULL;
    }
    return 0;
}

/* A connection that speaks something else than HTTP/1.x at a request's start: an HTTP/2
 * preface (gRPC exporters, which default to it; HTTP/2 with prior knowledge) or a TLS
 * handshake (an https:// URL given for a listener without TLS). The preface was answered
 * as a request for path * (a 404 blaming the path) and a handshake waited out
 * request_timeout for a head that never comes. Says so, naming the fix, and closes: an
 * HTTP/2 client after a 505 in HTTP/1.1 (gRPC reports "trying to connect an http1.x
 * server" and backs off; a GOAWAY after a SETTINGS would let it reconnect at once, again
 * and again), a TLS one at once. True if so. */
static bool other_protocol(http_req_layer *l, net_conn *c)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n";
    const char *p = c->in.p;
    size_t n = c->in.len, k = sizeof preface - 1;
    bool h2 = n >= k && memcmp(p, preface, k) == 0;
    /* 0x16: a TLS handshake record (behind TLS, the bytes are already decrypted) */
    if (!h2 && ((unsigned char)p[0] != 0x16 || l->opt->tls.cert_file))
        return false;
    http_req *r = c->user;
    r->state = HTTP_REQ_CLOSED;
    if (h2) {
        static const char msg[] = "HTTP/2 is not served here, only HTTP/1.1: an OpenTelemetry "
                                  "exporter needs protocol http/protobuf or http/json, not grpc";
        metrics_error(l->cc->metrics, "http2");
        net_server_warn(l->srv, "%s: an HTTP/2 client (gRPC?): %s", c->peer, msg);
        l->h->begin(l->arg, c);
        l->h->error(l->arg, c, 505, msg, true);
        return true;
    }
    metrics_error(l->cc->metrics, "tls_on_plain");
    net_server_warn(l->srv, "%s: a TLS handshake, but this listener has no TLS: the client "
                    "should use http://, or the source tls.cert_file and tls.key_file",
                    c->peer);
    net_conn_close(l->srv, c, false);
    return true;
}

static int on_data(void *arg, net_conn *c)
{
    http_req_layer *l = arg;
    http_req *r = c->user;
    while (r->state < HTTP_REQ_WAIT && c->in.len && !c->paused) {
        if (r->state == HTTP_REQ_HEAD && !r->timed) {
            /* A request has started: it must be complete in request_timeout (slow senders). */
            net_conn_set_deadline(l->srv, c, sl_mono_ms() + l->opt->request_timeout_ms);
            r->timed = true;
        }
        if (r->state == HTTP_REQ_HEAD) {
            if (other_protocol(l, c))
                return 0;
            size_t head = http_req_head_end(c->in.p, c->in.len);
            if (!head) {
                if (c->in.len > l->opt->max_header_bytes) {
                    metrics_error(l->cc->metrics, "header_too_large");
                    l->h->error(l->arg, c, 431, "header block too large", true);
                }
                return 0;
            }
            r->head_len = head;
            const char *msg = NULL;
            int code = http_req_parse_head(l, c, r, &msg);
            if (code) {
                metrics_error(l->cc->metrics, code == 413 ? "body_too_large" : "bad_request");
                net_server_warn(l->srv, "%s: %d: %s", c->peer, code, msg);
                r->state = HTTP_REQ_CLOSED; /* note 4 */
                l->h->error(l->arg, c, code, msg, true);
                return 0;
            }
            if (source_would_block(l->ctx, r->chunked ? 0 : r->body_len)) {
                refuse(l, c, r); /* note 5: to DRAIN, or CLOSED */
            } else {
                if (r->expect) {
                    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                    net_conn_send(l->srv, c, cont, sizeof cont - 1);
                }
                r->state = HTTP_REQ_BODY;
            }
        }
        if (r->state == HTTP_REQ_DRAIN) {
            if (!drain(l, c, r))
                return 0;
            continue;
        }
        if (r->state == HTTP_REQ_BODY) {
            if (r->chunked ? !dechunk(l, c, r) : c->in.len < r->head_len + r->body_len)
                return 0;
            net_conn_set_deadline(l->srv, c, 0);
            r->timed = false;
            take_body(l, c, r);
        }
    }
    return 0;
}

int http_req_emit(http_req_layer *l, net_conn *c, sl_batch *b)
{
    http_req *r = c->user;
    r->wait_seq = r->seq++;
    b->ack = ack_token_open(source_ledger(l->ctx), c->id, r->wait_seq);
    b->origin = l->cc->id;
    r->state = HTTP_REQ_WAIT;
    net_conn_pause(l->srv, c, true);
    int rc = source_emit(l->ctx, b);
    if (rc != SL_OK)
        r->state = HTTP_REQ_HEAD;
    return rc;
}

/* An ack token committed: answer its request, read the connection again. */
static void commit(void *arg, uint64_t key, uint64_t value)
{
    http_req_layer *l = arg;
    net_conn *c = net_server_find(l->srv, key);
    if (!c || !c->user)
        return;
    http_req *r = c->user;
    if (r->state != HTTP_REQ_WAIT || r->wait_seq != value)
        return;
    r->state = HTTP_REQ_HEAD;
    l->h->committed(l->arg, c);
    net_conn_pause(l->srv, c, false);
}

static void on_tick(void *arg)
{
    http_req_layer *l = arg;
    source_collect_acks(l->ctx, commit, l);
}

static bool waiting(void *arg)
{
    return ack_ledger_pending(source_ledger(((http_req_layer *)arg)->ctx)) > 0;
}

static const net_server_cb server_cb = {
    .on_open = on_open,
    .on_data = on_data,
    .on_close = on_close,
    .on_tick = on_tick,
    .waiting = waiting,
};

void http_req_init(http_req_layer *l, const http_req_options *opt, int default_port,
                   const sl_component_ctx *cc, const http_req_handler *h, void *arg,
                   size_t conn_size)
{
    *l = (http_req_layer){
        .opt = opt,
        .cc = cc,
        .h = h,
        .arg = arg,
        .conn_size = conn_size,
        .scfg = {
            .address = opt->address,
            .default_port = default_port,
            .max_connections = opt->max_connections,
            .idle_timeout_ms = opt->idle_timeout_ms,
            .handshake_timeout_ms = 30000,
            .tls = &opt->tls,
            .component = cc->id,
            .metrics = cc->metrics,
        },
    };
}

int http_req_run(http_req_layer *l, sl_source_ctx *ctx, const char *what)
{
    l->ctx = ctx;
    char err[512];
    int rc = net_server_open(&l->srv, &l->scfg, &server_cb, l, err, sizeof err);
    if (rc != SL_OK) {
        log_error(l->cc->id, "%s", err);
        metrics_set_state(l->cc->metrics, "listen_failed");
        return rc;
    }
    source_ready(ctx); /* connections now queue in the listener's backlog */
    log_info(l->cc->id, "listening on %s (port %d%s)%s", l->opt->address,
             net_server_port(l->srv), l->opt->tls.cert_file ? ", tls" : "", what);
    net_server_run(l->srv, source_stop_fd(ctx));
    source_drain_acks(ctx, commit, l);
    net_server_free(l->srv);
    l->srv = NULL;
    return SL_OK;
}

void http_req_free(http_req_layer *l)
{
    net_server_free(l->srv);
    l->srv = NULL;
    buf_free(&l->inflated);
}
