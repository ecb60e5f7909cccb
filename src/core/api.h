/* api.h - the HTTP API: /, /healthz, /readyz, /metrics, /api/v1/status, /api/v1/tap,
 * POST /api/v1/reload.
 * Serves from its own thread; knows the pipeline only through callbacks. */
#ifndef SL_API_H
#define SL_API_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "buf.h"

typedef struct sl_api sl_api;
struct sl_tap;

/* Callbacks run on the API thread; `arg` is passed back untouched. Either may be
 * NULL: no `ready` means always ready, no `status_json` serves "{}". */
typedef struct sl_api_handlers {
    bool (*ready)(void *arg);
    /* Appends one JSON document to `out` (owned by the API, freed after sending). */
    void (*status_json)(void *arg, sl_buf *out);
    void *arg;
    /* Optional: GET /api/plugins.json, the Fluentd monitor_agent document (NULL: 404). */
    void (*plugins_json)(void *arg, sl_buf *out);
    /* Optional: GET /api/v1/tap. The tap (tap.h) of component `id`, or NULL with the
     * known ids appended to `ids` for the message; the tap must outlive the API. */
    struct sl_tap *(*tap)(void *arg, const char *id, sl_buf *ids);
    /* Optional: POST /api/v1/reload. Appends the JSON answer and returns the HTTP status
     * (NULL: 404). Runs on the API thread until the reload is done. */
    int (*reload)(void *arg, sl_buf *out);
    /* Path of the Prometheus exposition (NULL: "/metrics"); must outlive the API. */
    const char *metrics_path;
} sl_api_handlers;

/* `api.address` may list several listeners (e.g. a health port and a metrics port). */
#define SL_API_MAX_LISTENERS 8

/* Parses "host:port", "[v6]:port" or ":port" (all interfaces) and listens there.
 * Port 0 picks a free port (see api_port). `h` is copied. On success *out is owned
 * by the caller and released with api_stop. A bad address or a busy port returns
 * SL_ERR_CONFIG or SL_ERR_IO with a message in err. Requests and bad requests are
 * counted in the metrics block id "api", kind "api" (registered on first start):
 * call api_stop before metrics_reset. */
int api_start(sl_api **out, const char *address, const sl_api_handlers *h, char *err,
              size_t errlen);
/* The port actually bound (useful after asking for port 0). */
int api_port(const sl_api *a);
/* Stops serving, waits for the API thread, frees `a`. NULL is fine. */
void api_stop(sl_api *a);

/* What api_parse_head read of a request; the pointers are into its input. */
typedef struct api_req {
    const char *method, *path, *query; /* query: after '?', or NULL */
    size_t method_len, path_len, query_len;
    bool http10, close, keep_alive, chunked;
    uint64_t content_length;
} api_req;

/* Parses a request head p[0, n): the request line and header lines, each ending in CRLF,
 * then the empty line. Returns 0, or the status to answer: 400 for a malformed line (or
 * both Content-Length and Transfer-Encoding), 505 for a version other than HTTP/1.0 and
 * 1.1. Exposed for tests and the fuzzer. */
int api_parse_head(const char *p, size_t n, api_req *r);
/* The value of the query parameter `name` in r's query, percent-decoded ('+' is a space)
 * and cut to fit outlen (which must be > 0) with a NUL; false if it is absent. */
bool api_query_param(const api_req *r, const char *name, char *out, size_t outlen);

#endif
