/* http_multi.h - the HTTP requests of the sinks: callers on any thread run a request and
 * wait for its answer; connections persist and many requests share them. A request runs on
 * the calling thread through the client of net/http_conn.h (its own HTTP/1.1 over a
 * keep-alive pool, the body written to the socket without a copy); one a proxy applies to
 * (http_proxy, https_proxy, all_proxy, no_proxy) or whose URL holds user information goes
 * to a libcurl multi handle driven by a loop thread of its own, which starts, and loads
 * libcurl, with the first such request. */
#ifndef SL_HTTP_MULTI_H
#define SL_HTTP_MULTI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct http_multi http_multi;

/* Receives response body bytes as they arrive (on the calling thread, or on the loop
 * thread for a libcurl request); the response's status is already in resp->status.
 * Returns 0 to go on, non-zero to abort the transfer (reported as an I/O error). */
typedef int (*http_multi_data_fn)(void *arg, const char *p, size_t n);

/* One request. Everything is borrowed until http_multi_do returns. */
typedef struct http_mreq {
    const char *method;         /* "POST" (default when NULL), "PUT", "GET", "HEAD" */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const char *body;           /* sent as is (already compressed if so declared) */
    size_t body_len;
    int64_t timeout_ms;         /* whole request; 0 = 30 s */
    const char *user, *password; /* basic auth when user != NULL */
    const char *ca_file, *cert_file, *key_file;
    bool insecure;              /* skip TLS peer and host verification */
    http_multi_data_fn on_data; /* NULL: the body is collected into resp->body */
    void *arg;
    /* When set and it turns true, the request ends with SL_ERR_CLOSED within about 100 ms
     * (a second through libcurl): a long watch stream its owner stops. NULL: none. */
    const atomic_bool *cancel;
} http_mreq;

typedef struct http_mresp {
    long status;            /* HTTP status, 0 when no response arrived */
    sl_buf body;            /* when on_data is NULL: up to 64 MiB; caller frees (buf_free) */
    int64_t retry_after_ms; /* Retry-After in ms, 0 = none */
    char error[256];        /* transport error when status == 0 */
    char etag[160];         /* the ETag header as sent (quotes kept), "" when none */
    char location[256];     /* the Location header (redirects are not followed), "" if none */
    bool tls;               /* ... and it was a TLS failure (handshake, certificate, alert) */
} http_mresp;

/* Returns an owned handle (http_multi_free); starts no thread. NULL + err is kept for
 * callers' sake (it does not happen today). */
http_multi *http_multi_new(char *err, size_t errlen);
/* The handle in *slot, started on first use (a component's init must not start threads);
 * mu guards the start. Returns it, or NULL + err when it cannot start (tried again on the
 * next call). The caller frees *slot at the end. */
http_multi *http_multi_lazy(_Atomic(http_multi *) *slot, pthread_mutex_t *mu, char *err,
                            size_t errlen);
/* Stops the loop thread if it started: libcurl requests still in flight fail with
 * SL_ERR_CLOSED. Requests on callers' threads are not interrupted: no thread may be inside
 * http_multi_do when this is called (a sink frees it after joining its workers). Closes
 * the idle connections. */
void http_multi_free(http_multi *m);
/* Runs the request (on this thread, or through the loop) and blocks until it completes.
 * Returns SL_OK when a response arrived (any status), SL_ERR_IO / SL_ERR_TIMEOUT /
 * SL_ERR_CLOSED with resp->error set when none did (a libcurl that cannot be loaded is
 * SL_ERR_IO). Thread-safe. */
int http_multi_do(http_multi *m, const http_mreq *req, http_mresp *resp);
/* Requests currently running, on either path. */
int http_multi_inflight(http_multi *m);

#endif
