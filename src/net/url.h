/* url.h - endpoint URLs as users write them, and the request URLs built from them.
 *
 * An endpoint may carry a path prefix and a query string of its own (an
 * Elasticsearch-compatible API mounted under /insert/elasticsearch/, a tenant parameter):
 * a request path goes after the prefix and the request's parameters after the endpoint's
 * own, so `http://h/p/?a=1` + `_bulk` + `b=2` is `http://h/p/_bulk?a=1&b=2`. The endpoint's
 * query is kept as written (the user encoded it); everything this module adds is
 * percent-encoded per RFC 3986. */
#ifndef SL_URL_H
#define SL_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

typedef struct url_endpoint {
    char *origin; /* "https://host:port": scheme and authority as written */
    char *path;   /* path prefix without trailing '/' ("" for none), as written */
    char *query;  /* query without '?' and without trailing '&' ("" for none) */
    char *shown;  /* origin + path: for log lines, which must not show the query (it may
                   * hold a token) nor a user:password@ (shown as ***@) */
} url_endpoint;

/* Splits an http:// or https:// URL (scheme case-insensitive). Refuses a missing host,
 * whitespace or control characters, and a fragment ('#', which is never sent). On
 * success u owns its strings (url_endpoint_free); on error u is left empty and err says
 * why. Returns SL_OK or SL_ERR_CONFIG. */
int url_endpoint_parse(url_endpoint *u, const char *url, char *err, size_t errlen);
void url_endpoint_free(url_endpoint *u);

/* Replaces out's content with the NUL-terminated request URL: origin, prefix, '/',
 * `path` (already encoded: see url_encode; may be ""), then '?' and the endpoint's query
 * followed by `params` ("k=v&k2=v2", already encoded; NULL or "" for none) joined by '&'.
 * No '?' when both are empty. */
void url_build(sl_buf *out, const url_endpoint *u, const char *path, const char *params);

/* The URL a sink posts to for its `endpoint` option: the endpoint as written when it has a
 * path, else the endpoint with default_path (a base URL of a Loki, a collector). Returns
 * the URL (owned by the caller), or NULL with err saying why the endpoint is no URL. */
char *url_with_default_path(const char *endpoint, const char *default_path, char *err,
                            size_t errlen);

enum {
    URL_QUERY = 0,   /* a query key or value: only unreserved characters stay */
    URL_SEGMENT = 1, /* one path segment: sub-delims, ':' and '@' stay too ('/' does not) */
};
/* Appends s[0..n) percent-encoded (%XX upper-case) for `where`. */
void url_encode(sl_buf *out, const char *s, size_t n, int where);
/* Appends "key=value", both encoded as URL_QUERY, after a '&' when out is not empty;
 * out stays NUL-terminated (the NUL not counted in len). */
void url_query_add(sl_buf *out, const char *key, const char *value);

/* Splits a `host:port` address ("[ipv6]:port"; an empty host is every interface) into host
 * and port (0-65535). Returns SL_OK, or SL_ERR_CONFIG with a message naming the address. */
int url_parse_hostport(const char *address, char *host, size_t hostlen, int *port, char *err,
                       size_t errlen);

#endif
