/* api_client.h - the HTTP/1.1 requests that `sluice top`, `sluice tap` and `sluice reload`
 * make to a running sluice's API: one request per connection, Content-Length or chunked
 * bodies. */
#ifndef SL_API_CLIENT_H
#define SL_API_CLIENT_H

#include <stddef.h>

#include "cli/options.h"
#include "core/buf.h"

/* The options every client of the API (top, tap, reload) takes, first in its table: -c
 * FILE (whose first api.address is asked) and --api HOST:PORT (asked instead). */
#define API_CLIENT_OPTS CLI_OPT_CONFIG, {"api", 0, "HOST:PORT", false}
enum { API_CLIENT_OPT_CONFIG, API_CLIENT_OPT_API, API_CLIENT_NOPTS };

/* A client command: `addr` is the API to dial ("host:port"), `config` the -c FILE or NULL,
 * `a` its options and arguments as read. Returns the exit status. */
typedef int (*api_client_fn)(const char *addr, const char *config, const cli_args *a);

/* The address a client should dial for an `api.address` value: a wildcard host
 * (":2020", "0.0.0.0:2020", "[::]:2020") becomes loopback; "http://HOST:PORT/", as the
 * log names the API, is HOST:PORT. Writes "host:port" to out. */
int api_client_dial_address(const char *listen, char *out, size_t outlen, char *err,
                            size_t errlen);

/* Called with each piece of the body as it arrives; a nonzero return stops reading. */
typedef int (*api_client_body_fn)(void *arg, const char *p, size_t n);

/* GETs `path` from `address` ("host:port"). *status gets the HTTP status. The body of a
 * 200 goes to `on_body` when set (streamed, for endless responses); any other body, or
 * every body without on_body, into `body` (whole) unless that is NULL.
 * `timeout_ms` bounds connecting and each wait for data (0: wait for ever once connected).
 * Returns SL_OK, or SL_ERR_IO / SL_ERR_CORRUPT with a message in err. */
int api_client_get(const char *address, const char *path, int timeout_ms, int *status,
                   sl_buf *body, api_client_body_fn on_body, void *arg, char *err,
                   size_t errlen);

/* The same with another method ("POST": sent with an empty body). */
int api_client_request(const char *address, const char *method, const char *path,
                       int timeout_ms, int *status, sl_buf *body, api_client_body_fn on_body,
                       void *arg, char *err, size_t errlen);

/* Reads one response from fd (the request already sent) as api_client_get does; `address`
 * names the peer in messages. Does not close fd. Exposed for the fuzz target. */
int api_client_read_response(int fd, const char *address, int timeout_ms, int *status,
                             sl_buf *body, api_client_body_fn on_body, void *arg, char *err,
                             size_t errlen);

#endif
