/* api.c - the HTTP API on libmicrohttpd with its internal polling thread.
 * We bind the listen socket ourselves so a bad address or a busy port gets a clear error. */
#include "api.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "log.h"
#include "metrics.h"
#include "status_page.h" /* generated from status_page.html by the Makefile */
#include "tap.h"

/* Limits that keep a misbehaving client from holding the API: idle or slow
 * connections are dropped, header memory is bounded (MHD answers 431 beyond it). */
#define API_CONN_TIMEOUT_S 10
#define API_CONN_LIMIT 64
#define API_CONN_MEMORY (32 * 1024)
/* A tap stream: how long one read waits for events (the API thread serves other requests
 * between reads, so this bounds their extra latency while a tap runs), the newline sent
 * after this long without events (it finds a client that left), the block size. */
#define TAP_WAIT_MS 20
#define TAP_HEARTBEAT_MS 2000
#define TAP_BLOCK (8 * 1024)
#define TAP_DEFAULT_RATE 100
#define TAP_MAX_RATE 100000

struct sl_api {
    struct MHD_Daemon *mhd;
    sl_api_handlers h;
    int port;
    char address[128];
    sl_metrics *m; /* registry-owned; see api_start */
};

int api_parse_address(const char *address, char *host, size_t hostlen, int *port, char *err,
                      size_t errlen)
{
    if (!address || !*address)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "api address is empty (want host:port)");
    const char *hs, *he, *ps;
    if (address[0] == '[') {
        hs = address + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "api address \"%s\": want [ipv6]:port", address);
        ps = he + 2;
    } else {
        he = strrchr(address, ':');
        if (!he)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "api address \"%s\": missing port (want host:port)", address);
        hs = address;
        if (memchr(hs, ':', (size_t)(he - hs)))
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "api address \"%s\": IPv6 hosts need brackets, e.g. [::1]:2020",
                             address);
        ps = he + 1;
    }
    size_t hl = (size_t)(he - hs);
    if (hl >= hostlen)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "api address \"%s\": host too long",
                         address);
    long p = 0;
    size_t nd = 0;
    for (const char *c = ps; *c; c++, nd++) {
        if (*c < '0' || *c > '9' || nd >= 5)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "api address \"%s\": port must be a number 0-65535", address);
        p = p * 10 + (*c - '0');
    }
    if (nd == 0 || p > 65535)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "api address \"%s\": port must be a number 0-65535", address);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return SL_OK;
}

/* Resolves and binds; returns a listening socket, or a negative SL_ERR_* with err set. */
static int listen_on(const char *address, const char *host, int port, int *family, char *err,
                     size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &res);
    if (rc != 0) {
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "api address \"%s\": cannot resolve host: %s", address,
                         gai_strerror(rc));
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            *family = ai->ai_family;
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        fd = SL_ERR_IO;
        if (saved == EADDRINUSE)
            sl_seterr(err, errlen, SL_ERR_IO, "api address \"%s\": port already in use", address);
        else if (saved == EADDRNOTAVAIL)
            sl_seterr(err, errlen, SL_ERR_IO,
                      "api address \"%s\": no such local address on this host", address);
        else if (saved == EACCES)
            sl_seterr(err, errlen, SL_ERR_IO,
                      "api address \"%s\": permission denied (ports below 1024 need privileges)",
                      address);
        else
            sl_seterr(err, errlen, SL_ERR_IO, "api address \"%s\": cannot listen: %s", address,
                      strerror(saved));
    }
    return fd;
}

/* Protocol errors MHD handles by itself (bad request lines, oversized headers)
 * reach us only through its log: count them and keep them at debug level. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    sl_api *a = cls;
    char line[256];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    metrics_error(a->m, "http_protocol");
    log_debug("api", "http: %s", line);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode code)
{
    sl_api *a = cls;
    if (code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        metrics_error(a->m, "timeout");
    else if (code == MHD_REQUEST_TERMINATED_CLIENT_ABORT ||
             code == MHD_REQUEST_TERMINATED_READ_ERROR)
        metrics_error(a->m, "client_abort");
    else if (code == MHD_REQUEST_TERMINATED_WITH_ERROR)
        metrics_error(a->m, "http_protocol");
}

/* Takes `body` (malloc'd, may be NULL when len is 0) and queues it. A 405 says `allow`. */
static enum MHD_Result reply_allow(struct MHD_Connection *c, unsigned status, const char *ctype,
                                   char *body, size_t len, const char *allow);

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             char *body, size_t len)
{
    return reply_allow(c, status, ctype, body, len, "GET, HEAD");
}

static enum MHD_Result reply_allow(struct MHD_Connection *c, unsigned status, const char *ctype,
                                   char *body, size_t len, const char *allow)
{
    struct MHD_Response *r;
    if (body)
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    else
        r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", sl_xstrdup(text), strlen(text));
}

typedef struct tap_stream {
    sl_tap *tap;
    int64_t quiet_since_ms;
} tap_stream;

/* MHD's content reader for a tap: events as they come, the end once the limit is
 * reached. Returning 0 makes MHD call again; tap_take's short wait paces that. */
static ssize_t tap_read(void *cls, uint64_t pos, char *out, size_t max)
{
    tap_stream *s = cls;
    bool done = false;
    size_t n = tap_take(s->tap, out, max, TAP_WAIT_MS, &done);
    int64_t now = sl_mono_ms();
    if (n) {
        s->quiet_since_ms = now;
        return (ssize_t)n;
    }
    if (done)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (now - s->quiet_since_ms >= TAP_HEARTBEAT_MS && max > 0) {
        s->quiet_since_ms = now;
        out[0] = '\n';
        return 1;
    }
    return 0;
}

static void tap_free(void *cls)
{
    tap_stream *s = cls;
    tap_detach(s->tap);
    free(s);
}

/* Parses a non-negative decimal query parameter; false if present and not one. */
static bool query_uint(struct MHD_Connection *c, const char *name, uint64_t *v)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!s)
        return true;
    uint64_t r = 0;
    if (!*s || strlen(s) > 12)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        r = r * 10 + (uint64_t)(*s - '0');
    }
    *v = r;
    return true;
}

/* GET /api/v1/tap?component=ID[&limit=N][&rate=R]: chunked NDJSON of the events the
 * component outputs (tap.h), at most R a second (default 100), ending after N (0 or
 * absent: until the client leaves). */
static enum MHD_Result serve_tap(sl_api *a, struct MHD_Connection *c)
{
    char msg[1024];
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "component");
    uint64_t limit = 0, rate = TAP_DEFAULT_RATE;
    if (!id || !*id)
        return reply_text(c, MHD_HTTP_BAD_REQUEST, "tap: the component parameter is required\n");
    if (!query_uint(c, "limit", &limit) || !query_uint(c, "rate", &rate) || rate == 0 ||
        rate > TAP_MAX_RATE)
        return reply_text(c, MHD_HTTP_BAD_REQUEST,
                          "tap: limit must be a number >= 0 and rate one of 1-100000\n");
    sl_buf ids = SL_BUF_INIT;
    sl_tap *tap = a->h.tap(a->h.arg, id, &ids);
    if (!tap) {
        snprintf(msg, sizeof msg, "tap: no component '%.200s' (components: %.*s)\n", id,
                 (int)(ids.len < 700 ? ids.len : 700), ids.p ? ids.p : "");
        buf_free(&ids);
        return reply_text(c, MHD_HTTP_NOT_FOUND, msg);
    }
    buf_free(&ids);
    if (tap_attach(tap, (int)rate, limit) != SL_OK) {
        snprintf(msg, sizeof msg, "tap: component '%.200s' is already tapped by another client\n", id);
        return reply_text(c, MHD_HTTP_CONFLICT, msg);
    }
    tap_stream *s = sl_xcalloc(1, sizeof *s);
    s->tap = tap;
    s->quiet_since_ms = sl_mono_ms();
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, TAP_BLOCK, tap_read, s, tap_free);
    if (!r) {
        tap_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/x-ndjson");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* the connection keeps it; tap_free runs when it is done */
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    sl_api *a = cls;
    static char seen; /* marks a request already counted (MHD may call us again for a body) */
    if (*req_cls == NULL) {
        *req_cls = &seen;
        atomic_fetch_add_explicit(&a->m->received_events, 1, memory_order_relaxed);
    }
    /* A reload is a POST (any body is ignored); answered at once, as below. */
    if (strcmp(url, "/api/v1/reload") == 0 && a->h.reload) {
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
            metrics_error(a->m, "method_not_allowed");
            static const char msg[] = "use POST to reload\n";
            return reply_allow(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
                               sl_xstrdup(msg), sizeof msg - 1, "POST");
        }
        sl_buf b = SL_BUF_INIT;
        int status = a->h.reload(a->h.arg, &b);
        buf_putc(&b, '\n');
        return reply(c, (unsigned)status, "application/json", b.p, b.len);
    }
    /* Anything but GET/HEAD is answered at once, before any body is read;
     * MHD then closes the connection. */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        metrics_error(a->m, "method_not_allowed");
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    }
    if (*upload_data_size != 0) { /* a GET with a body: ignore the body */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/") == 0) { /* the live status page; it polls /api/v1/status */
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof sl_status_page - 1, (void *)sl_status_page, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'none'; style-src 'unsafe-inline'; "
                                "script-src 'unsafe-inline'; connect-src 'self'");
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(url, "/healthz") == 0)
        return reply_text(c, MHD_HTTP_OK, "ok\n");
    if (strcmp(url, "/readyz") == 0) {
        bool ok = a->h.ready ? a->h.ready(a->h.arg) : true;
        return ok ? reply_text(c, MHD_HTTP_OK, "ready\n")
                  : reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready\n");
    }
    if (strcmp(url, a->h.metrics_path ? a->h.metrics_path : "/metrics") == 0) {
        sl_buf b = SL_BUF_INIT;
        metrics_render_prometheus(&b);
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
    }
    if (strcmp(url, "/api/plugins.json") == 0 && a->h.plugins_json) {
        sl_buf b = SL_BUF_INIT;
        a->h.plugins_json(a->h.arg, &b);
        return reply(c, MHD_HTTP_OK, "application/json", b.p, b.len);
    }
    if (strcmp(url, "/api/v1/status") == 0) {
        sl_buf b = SL_BUF_INIT;
        if (a->h.status_json)
            a->h.status_json(a->h.arg, &b);
        else
            buf_puts(&b, "{}");
        return reply(c, MHD_HTTP_OK, "application/json", b.p, b.len);
    }
    if (strcmp(url, "/api/v1/tap") == 0 && a->h.tap)
        return serve_tap(a, c);
    metrics_error(a->m, "not_found");
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found\n");
}

/* One registry block for the API however often it restarts, so /metrics never
 * shows the same series twice. */
static sl_metrics *api_metrics(void)
{
    for (sl_metrics *m = metrics_first(); m; m = m->next)
        if (strcmp(m->kind, "api") == 0 && strcmp(m->id, "api") == 0)
            return m;
    return metrics_register("api", "api", "http");
}

int api_start(sl_api **out, const char *address, const sl_api_handlers *h, char *err,
              size_t errlen)
{
    *out = NULL;
    char host[256];
    int port, family = AF_INET;
    int rc = api_parse_address(address, host, sizeof host, &port, err, errlen);
    if (rc != SL_OK)
        return rc;
    int fd = listen_on(address, host, port, &family, err, errlen);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);

    sl_api *a = sl_xcalloc(1, sizeof *a);
    if (h)
        a->h = *h;
    a->port = bound;
    snprintf(a->address, sizeof a->address, "%s", address);
    a->m = api_metrics();

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    a->mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, a,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONN_TIMEOUT_S,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_LIMIT,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_CONN_MEMORY,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, a,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
        MHD_OPTION_END);
    if (!a->mhd) {
        close(fd);
        free(a);
        return sl_seterr(err, errlen, SL_ERR_IO, "api address \"%s\": cannot start HTTP server",
                         address);
    }
    log_info("api", "listening on %s (port %d)", address, bound);
    *out = a;
    return SL_OK;
}

int api_port(const sl_api *a) { return a ? a->port : -1; }

void api_stop(sl_api *a)
{
    if (!a)
        return;
    MHD_stop_daemon(a->mhd); /* joins the thread and closes the listen socket */
    free(a);
}
