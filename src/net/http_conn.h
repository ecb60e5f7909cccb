/* http_conn.h - an HTTP/1.1 client that runs each request on the calling thread over a
 * pooled keep-alive connection (plain TCP or TLS), for net/http_multi.c: the request head
 * and the caller's body go straight to the socket (one sendmsg for plain TCP, SSL_write
 * for TLS), never through a copy of the body.
 *
 * A connection is in one of these states:
 *
 *   (connect + TLS handshake) -> WRITING -> READING HEAD -> READING BODY -> IDLE | CLOSED
 *   WRITING -> (the server answers before it read the body: 413, 401) -> READING HEAD,
 *              and CLOSED after the answer
 *   IDLE -> (taken, still quiet and idle for less than 118 s) -> WRITING
 *   IDLE -> (readable, hung up, or too old when looked at) -> CLOSED
 *
 * Invariants
 *  1. An IDLE connection sits in its pool, keyed by scheme, host, port and TLS settings,
 *     and belongs to no thread; a connection in any other state belongs to the one thread
 *     running a request on it and is in no list. The pool's lock guards only its lists.
 *  2. A connection goes back to IDLE only after a complete response that allows reuse
 *     (HTTP/1.1 without Connection: close, or 1.0 with keep-alive) to a request sent
 *     whole, with no byte after it.
 *     Any error, timeout or refusal of the body by its reader closes it.
 *  3. A REUSED connection that fails with EOF, EPIPE or ECONNRESET before any response
 *     byte arrived (the server closed it while idle) is replaced by a fresh one and the
 *     request sent once more; a fresh connection is never retried.
 *  4. One SSL_CTX per distinct TLS setting (ca_file, cert_file, key_file, insecure) lives
 *     as long as the pool; connections share it.
 *
 * What the client does not do, so http_multi.c hands those requests to libcurl: proxies
 * (http_proxy, https_proxy, all_proxy and no_proxy, as libcurl reads them) and user
 * information in the URL (user:password@host). Redirects are not followed (libcurl was
 * not told to either). */
#ifndef SL_HTTP_CONN_H
#define SL_HTTP_CONN_H

#include <stdbool.h>

#include "net/http_multi.h"

typedef struct http_conn_pool http_conn_pool;

/* Returns an owned pool (http_conn_pool_free); reads the proxy variables once. */
http_conn_pool *http_conn_pool_new(void);
/* Closes every idle connection. No thread may be inside http_conn_do. */
void http_conn_pool_free(http_conn_pool *p);

/* Whether http_conn_do can run this request (false: a proxy applies, or the URL is one
 * this client does not take). */
bool http_conn_handles(const http_conn_pool *p, const char *url);

/* Runs the request on the calling thread within req->timeout_ms. Same contract as
 * http_multi_do: SL_OK when a response arrived (any status), SL_ERR_IO / SL_ERR_TIMEOUT
 * with resp->error set when none did. resp must be reset by the caller. Thread-safe. */
int http_conn_do(http_conn_pool *p, const http_mreq *req, http_mresp *resp);

#endif
