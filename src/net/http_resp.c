/* http_resp.c - incremental HTTP/1.x response parser (see the header for the states).
 *
 * Notes on the design
 *  1. The head is collected into r->head until its empty line, then parsed whole: heads
 *     are small and rare next to bodies, and a whole head needs no state per header.
 *     Lines may end in CRLF or a bare LF (RFC 9112 lets a recipient accept both).
 *  2. Body framing follows RFC 9112 section 6.3: no body for HEAD, 1xx, 204 and 304;
 *     Transfer-Encoding wins over Content-Length (and the connection is then not reused);
 *     a transfer coding other than a final chunked, or no length at all, runs to the end
 *     of the connection. Differing Content-Length values are refused.
 *  3. Retry-After and ETag are taken from the final response only (a 100 Continue's
 *     headers are dropped with it).
 *  4. An HTTP/2-only server (a gRPC port: an OTLP collector's 4317, Loki's 9095) answers
 *     any connection with its SETTINGS frame and closes on the HTTP/1.1 request; that is
 *     said as such as soon as the frame's header is in, not as a head cut short. */
#include "net/http_resp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "net/http_client.h"

void http_resp_init(http_resp *r, bool no_body, http_resp_body_fn on_body, void *arg)
{
    sl_buf head = r->head; /* kept across responses on one connection */
    memset(r, 0, sizeof *r);
    r->head = head;
    buf_reset(&r->head);
    r->no_body = no_body;
    r->on_body = on_body;
    r->arg = arg;
}

void http_resp_free(http_resp *r)
{
    buf_free(&r->head);
}

static int fail(http_resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(http_resp *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->state = HTTP_RESP_S_BAD;
    return HTTP_RESP_BAD;
}

static bool name_is(const char *p, size_t n, const char *want)
{
    return n == strlen(want) && strncasecmp(p, want, n) == 0;
}

static bool has_word(const char *v, size_t n, const char *word)
{
    size_t wl = strlen(word);
    for (size_t i = 0; i + wl <= n; i++)
        if (strncasecmp(v + i, word, wl) == 0)
            return true;
    return false;
}

/* True when p (9 bytes) is the header of an HTTP/2 SETTINGS frame: a length in whole
 * settings of 6 bytes, type 4, no flag but ACK, stream 0 (note 4). A status line starts
 * with "HTTP/", so the two cannot be mistaken. */
static bool h2_settings(const unsigned char *p)
{
    uint32_t len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    return len % 6 == 0 && p[3] == 4 && (p[4] & ~1u) == 0 && !p[5] && !p[6] && !p[7] && !p[8];
}

/* The offset just past the head's empty line, or 0 while it has not arrived. */
static size_t head_end(http_resp *r)
{
    const char *p = r->head.p;
    size_t len = r->head.len;
    for (size_t i = r->scan; i < len; i++) {
        if (p[i] != '\n')
            continue;
        if (i + 1 < len && p[i + 1] == '\n')
            return i + 2;
        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n')
            return i + 3;
    }
    r->scan = len >= 2 ? len - 2 : 0; /* a '\n' there may still be completed */
    return 0;
}

/* Parses the head [0, len) of r->head and picks the body's framing. */
static int parse_head(http_resp *r, size_t len)
{
    const char *p = r->head.p, *end = p + len;
    const char *eol = memchr(p, '\n', len);
    size_t ll = (size_t)(eol - p);
    if (ll && p[ll - 1] == '\r')
        ll--;
    /* "HTTP/1.1 200 OK": the reason phrase may be empty or missing */
    if (ll < 12 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') || p[8] != ' ' ||
        p[9] < '0' || p[9] > '9' || p[10] < '0' || p[10] > '9' || p[11] < '0' || p[11] > '9' ||
        (ll > 12 && p[12] != ' '))
        return fail(r, "malformed status line \"%.*s\"", (int)SL_MIN(ll, 60), p);
    long status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status < 100)
        return fail(r, "malformed status line \"%.*s\"", (int)SL_MIN(ll, 60), p);
    bool v11 = p[7] == '1';
    bool close = false, ka = false, chunked = false, te = false, have_len = false;
    uint64_t clen = 0;
    int64_t retry = 0;
    char etag[sizeof r->etag] = "", location[sizeof r->location] = "";
    for (const char *h = eol + 1; h < end;) {
        const char *he = memchr(h, '\n', (size_t)(end - h));
        const char *colon = memchr(h, ':', (size_t)(he - h));
        const char *next = he + 1;
        if (!colon || colon == h || *h == ' ' || *h == '\t') { /* the empty line, folds */
            h = next;
            continue;
        }
        size_t nlen = (size_t)(colon - h);
        const char *v = colon + 1;
        while (v < he && (*v == ' ' || *v == '\t'))
            v++;
        size_t vlen = (size_t)(he - v);
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
            vlen--;
        if (name_is(h, nlen, "content-length")) {
            uint64_t n = 0;
            if (vlen == 0 || vlen > 18)
                return fail(r, "bad Content-Length \"%.*s\"", (int)SL_MIN(vlen, 40), v);
            for (size_t i = 0; i < vlen; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return fail(r, "bad Content-Length \"%.*s\"", (int)SL_MIN(vlen, 40), v);
                n = n * 10 + (uint64_t)(v[i] - '0');
            }
            if (have_len && n != clen)
                return fail(r, "conflicting Content-Length values");
            clen = n;
            have_len = true;
        } else if (name_is(h, nlen, "transfer-encoding")) {
            /* the last coding decides; a later header continues the list */
            te = true;
            chunked = vlen >= 7 && strncasecmp(v + vlen - 7, "chunked", 7) == 0;
        } else if (name_is(h, nlen, "connection")) {
            close |= has_word(v, vlen, "close");
            ka |= has_word(v, vlen, "keep-alive");
        } else if (name_is(h, nlen, "retry-after")) {
            char tmp[64];
            size_t k = SL_MIN(vlen, sizeof tmp - 1);
            memcpy(tmp, v, k);
            tmp[k] = '\0';
            retry = http_parse_retry_after(tmp);
        } else if (name_is(h, nlen, "etag")) {
            size_t k = SL_MIN(vlen, sizeof etag - 1);
            memcpy(etag, v, k);
            etag[k] = '\0';
        } else if (name_is(h, nlen, "location")) {
            size_t k = SL_MIN(vlen, sizeof location - 1);
            memcpy(location, v, k);
            location[k] = '\0';
        }
        h = next;
    }
    if (status < 200) {
        if (status == 101)
            return fail(r, "unexpected 101 Switching Protocols");
        buf_reset(&r->head); /* interim (100 Continue, 103 Early Hints): the next head */
        r->scan = 0;
        return HTTP_RESP_MORE;
    }
    r->status = status;
    r->retry_after_ms = retry;
    memcpy(r->etag, etag, sizeof etag);
    memcpy(r->location, location, sizeof location);
    r->keep_alive = !close && (v11 || ka);
    buf_reset(&r->head);
    r->scan = 0;
    if (r->no_body || status == 204 || status == 304) {
        r->state = HTTP_RESP_S_DONE;
    } else if (te) {
        r->keep_alive = r->keep_alive && !have_len; /* both: a smuggling suspect, note 2 */
        if (chunked) {
            http_chunked_init(&r->ck, HTTP_RESP_MAX_BODY);
            r->state = HTTP_RESP_S_BODY_CHUNKED;
        } else {
            r->keep_alive = false;
            r->state = HTTP_RESP_S_BODY_CLOSE;
        }
    } else if (have_len) {
        r->left = clen;
        r->state = clen ? HTTP_RESP_S_BODY_LEN : HTTP_RESP_S_DONE;
    } else {
        r->keep_alive = false;
        r->state = HTTP_RESP_S_BODY_CLOSE;
    }
    return HTTP_RESP_MORE;
}

static int body(http_resp *r, const char *p, size_t n)
{
    if (n && r->on_body && r->on_body(r->arg, p, n) != 0) {
        snprintf(r->err, sizeof r->err, "response body refused by its reader");
        r->state = HTTP_RESP_S_ABORT;
        return HTTP_RESP_ABORT;
    }
    return HTTP_RESP_MORE;
}

static int result(const http_resp *r)
{
    switch (r->state) {
    case HTTP_RESP_S_DONE: return HTTP_RESP_DONE;
    case HTTP_RESP_S_BAD: return HTTP_RESP_BAD;
    case HTTP_RESP_S_ABORT: return HTTP_RESP_ABORT;
    default: return HTTP_RESP_MORE;
    }
}

int http_resp_feed(http_resp *r, char *in, size_t n, size_t *used)
{
    size_t off = 0;
    int rc = HTTP_RESP_MORE;
    while (rc == HTTP_RESP_MORE && off < n) {
        switch (r->state) {
        case HTTP_RESP_S_HEAD: {
            size_t old = r->head.len;
            size_t take = SL_MIN(n - off, HTTP_RESP_MAX_HEAD - old);
            buf_append(&r->head, in + off, take);
            size_t e = head_end(r);
            /* Only bytes that cannot end a head first: a response split anywhere is read
             * the same way (old < 9 when this first holds). */
            if ((e == 0 || e > 9) && r->head.len >= 9 &&
                h2_settings((const unsigned char *)r->head.p)) {
                off += 9 - old; /* the frame header, however it was split */
                rc = fail(r, "the server answered in HTTP/2 (a SETTINGS frame), not HTTP/1.1: "
                          "an HTTP/2-only port, such as a gRPC one");
                break;
            }
            if (!e) {
                off += take;
                if (r->head.len >= HTTP_RESP_MAX_HEAD)
                    rc = fail(r, "response header section larger than %u KiB",
                              HTTP_RESP_MAX_HEAD >> 10);
                break;
            }
            off += e - old;
            rc = parse_head(r, e);
            break;
        }
        case HTTP_RESP_S_BODY_LEN: {
            size_t take = (size_t)SL_MIN((uint64_t)(n - off), r->left);
            rc = body(r, in + off, take);
            off += take;
            r->left -= take;
            if (rc == HTTP_RESP_MORE && r->left == 0)
                r->state = HTTP_RESP_S_DONE;
            break;
        }
        case HTTP_RESP_S_BODY_CHUNKED: {
            size_t u = 0, w = 0;
            char why[120];
            int c = http_chunked_decode(&r->ck, in + off, n - off, in + off, &u, &w, why,
                                        sizeof why);
            rc = body(r, in + off, w);
            off += u;
            if (rc != HTTP_RESP_MORE)
                break;
            if (c == HTTP_CHUNKED_DONE)
                r->state = HTTP_RESP_S_DONE;
            else if (c == HTTP_CHUNKED_BAD)
                rc = fail(r, "bad chunked body: %s", why);
            else if (c == HTTP_CHUNKED_TOOBIG)
                rc = fail(r, "chunked body larger than %llu MiB", HTTP_RESP_MAX_BODY >> 20);
            else
                off = n; /* MORE used it all */
            break;
        }
        case HTTP_RESP_S_BODY_CLOSE:
            rc = body(r, in + off, n - off);
            off = n;
            break;
        default:
            n = off; /* final: nothing more is part of this response */
            break;
        }
        if (rc == HTTP_RESP_MORE)
            rc = result(r);
    }
    r->seen += off;
    *used = off;
    return rc == HTTP_RESP_MORE ? result(r) : rc;
}

int http_resp_eof(http_resp *r)
{
    switch (r->state) {
    case HTTP_RESP_S_BODY_CLOSE:
        r->state = HTTP_RESP_S_DONE;
        return HTTP_RESP_DONE;
    case HTTP_RESP_S_HEAD:
        return fail(r, r->seen ? "connection closed inside the response head"
                               : "connection closed before a response arrived");
    case HTTP_RESP_S_BODY_LEN:
        return fail(r, "connection closed with %llu response body bytes missing",
                    (unsigned long long)r->left);
    case HTTP_RESP_S_BODY_CHUNKED:
        return fail(r, "connection closed inside a chunked response body");
    default:
        return result(r);
    }
}
