/* http_resp.h - an incremental parser of HTTP/1.x responses, for the client of
 * net/http_conn.h: status line, headers, then the body framed by Content-Length,
 * Transfer-Encoding: chunked, or the end of the connection.
 *
 * States: HEAD -> (1xx: HEAD again) -> BODY_LEN | BODY_CHUNKED | BODY_CLOSE -> DONE;
 * any state -> BAD (malformed, oversize: err says what) or ABORT (the body callback
 * refused). DONE, BAD and ABORT are final. A response with no body (to HEAD, 204, 304,
 * Content-Length: 0) is DONE as soon as its head is.
 *
 * Bounds: the header section of one response is at most HTTP_RESP_MAX_HEAD bytes; a
 * chunked body at most HTTP_RESP_MAX_BODY decoded bytes (the collecting caller bounds
 * other bodies itself). Input is consumed exactly up to the end of the response, so the
 * caller knows whether bytes follow it (which makes the connection unusable). */
#ifndef SL_HTTP_RESP_H
#define SL_HTTP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "formats/http_chunked.h"

#define HTTP_RESP_MAX_HEAD (64u << 10)
#define HTTP_RESP_MAX_BODY (64ull << 20)

enum {
    HTTP_RESP_MORE = 0, /* input used up, the response goes on */
    HTTP_RESP_DONE,     /* the response is complete */
    HTTP_RESP_BAD,      /* not a valid response (err says why) */
    HTTP_RESP_ABORT,    /* the body callback returned non-zero */
};

enum {
    HTTP_RESP_S_HEAD = 0,
    HTTP_RESP_S_BODY_LEN,
    HTTP_RESP_S_BODY_CHUNKED,
    HTTP_RESP_S_BODY_CLOSE,
    HTTP_RESP_S_DONE,
    HTTP_RESP_S_BAD,
    HTTP_RESP_S_ABORT,
};

/* Receives body bytes as they are decoded. Non-zero aborts the response. */
typedef int (*http_resp_body_fn)(void *arg, const char *p, size_t n);

typedef struct http_resp {
    int state;
    bool no_body;          /* the request was HEAD */
    long status;           /* of the final response; 0 until its head is in */
    bool keep_alive;       /* the connection may carry another request afterwards */
    int64_t retry_after_ms; /* Retry-After in ms from now, 0 = none */
    char etag[160];        /* ETag as sent (quotes kept), "" when none */
    char location[256];    /* Location as sent (a redirect is not followed), "" when none */
    uint64_t left;         /* BODY_LEN: bytes still to come */
    uint64_t seen;         /* input bytes consumed so far (0 = nothing arrived) */
    sl_buf head;           /* the head being collected (owned) */
    size_t scan;           /* head bytes already searched for its end */
    http_chunked ck;
    http_resp_body_fn on_body;
    void *arg;
    char err[160];
} http_resp;

/* Starts a response to a request; no_body for HEAD. Pairs with http_resp_free. */
void http_resp_init(http_resp *r, bool no_body, http_resp_body_fn on_body, void *arg);
void http_resp_free(http_resp *r);

/* Parses [in, in + n); chunked bodies are decoded in place, so `in` is overwritten.
 * Sets *used to the bytes consumed (less than n only when the response ended inside the
 * input). Returns an HTTP_RESP_* value. */
int http_resp_feed(http_resp *r, char *in, size_t n, size_t *used);

/* The connection ended (EOF). Returns HTTP_RESP_DONE when that ends a close-delimited
 * body, else HTTP_RESP_BAD with err saying where the response was cut. */
int http_resp_eof(http_resp *r);

#endif
