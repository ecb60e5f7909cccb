/* otlp_sink.c - the `otlp` sink: OpenTelemetry logs over OTLP/HTTP (protobuf or JSON,
 * gzip, custom headers such as an API key and a dataset), for collectors and vendors.
 *
 * Notes on the design:
 *  1. One http_multi loop (started by the first send) carries every request, so runtime
 *     workers share keep-alive connections; the runtime owns batching and retries.
 *  2. Answers: 2xx = delivered; a partial_success with rejected_log_records > 0 is logged
 *     (rate-limited), counted as dropped and as error "partial_success" - the collector
 *     does not say which records, and resending would not help. As the OTLP/HTTP spec
 *     says, only 429, 502, 503 and 504 (and a connection lost without an answer) retry,
 *     honouring Retry-After; every other 4xx and 5xx (400 bad data, 408, 413, 500, 501
 *     ...) MUST NOT be retried and is permanent: bisected, then dead-lettered, so
 *     nothing is lost (`sluice dlq replay`). 401/403 retry with the circuit opened at
 *     once: a key being rotated is fixed without a replay.
 *  3. The endpoint is used as given when it has a path, else /v1/logs is appended
 *     (the OTLP convention for a base URL), before its query string if it has one. A 404
 *     to a URL whose path is not /v1/logs (a base URL given with a path of its own, a typo)
 *     says so in its reason: the collector's own text rarely names the path. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "net/gz.h"
#include "net/gz_prep.h"
#include "net/http_client.h"
#include "net/http_multi.h"
#include "net/url.h"
#include "sinks/otlp/otlp.h"

enum { OTLP_PROTOBUF = 0, OTLP_JSON = 1 };
enum { OTLP_COMP_GZIP = 0, OTLP_COMP_NONE = 1 };

typedef struct otlp_config {
    char *endpoint;
    int encoding;
    int compression;
    int64_t compression_level;
    sl_strmap headers;
    sl_strmap resource;
    sl_strlist resource_keys;
    char *severity_field;
    char *body_field;
    int64_t timeout_ms;
    http_tls_config tls;
} otlp_config;

static const char *const otlp_encodings[] = {"protobuf", "json", NULL};
static const char *const otlp_compressions[] = {"gzip", "none", NULL};

static const sl_option otlp_options[] = {
    {"endpoint", SL_OPT_STR, offsetof(otlp_config, endpoint), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "OTLP/HTTP URL; a base URL without a path gets /v1/logs"},
    {"encoding", SL_OPT_ENUM, offsetof(otlp_config, encoding), "protobuf", 0, otlp_encodings,
     NULL, 0, 0, "request body encoding"},
    {"compression", SL_OPT_ENUM, offsetof(otlp_config, compression), "gzip", 0,
     otlp_compressions, NULL, 0, 0, "request body compression"},
    {"compression_level", SL_OPT_INT, offsetof(otlp_config, compression_level), "1", 0, NULL,
     NULL, 1, 9, "gzip level"},
    {"headers", SL_OPT_STRMAP, offsetof(otlp_config, headers), NULL, 0, NULL, NULL, 0, 0,
     "extra request headers (Authorization: Bearer ${API_KEY}, Dash0-Dataset: ...)"},
    {"resource", SL_OPT_STRMAP, offsetof(otlp_config, resource), NULL, 0, NULL, NULL, 0, 0,
     "static resource attributes (service.name, deployment.environment ...)"},
    {"resource_keys", SL_OPT_STRLIST, offsetof(otlp_config, resource_keys), NULL, 0, NULL, NULL,
     0, 0, "event fields that go to the resource besides service.*, k8s.*, cloud.* ..."},
    {"severity_field", SL_OPT_STR, offsetof(otlp_config, severity_field), NULL, 0, NULL, NULL, 0,
     0, "level field (default: the first of level, severity, log.level, lvl)"},
    {"body_field", SL_OPT_STR, offsetof(otlp_config, body_field), "body", 0, NULL, NULL, 0, 0,
     "field used as a structured body when the event has no message"},
    {"timeout_ms", SL_OPT_DURATION, offsetof(otlp_config, timeout_ms), "30000", 0, NULL, NULL, 1,
     3600000, "whole-request timeout"},
    {"tls", SL_OPT_OBJECT, offsetof(otlp_config, tls), NULL, 0, NULL, http_tls_options, 0, 0,
     "TLS options for https endpoints"},
    SL_OPT_END,
};

typedef struct otlp_sink {
    const otlp_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    otlp_map map;
    char *url;              /* owned */
    http_headers headers;   /* owned */
    pthread_mutex_t mu;
    _Atomic(http_multi *) http; /* owned; started by the first send */
    _Atomic int64_t last_warn_ms; /* log_gate: answers that can repeat every request */
    bool odd_path;          /* url's path does not end in /v1/logs (note 3) */
} otlp_sink;

#define OTLP_PATH_HINT                                                                   \
    " (the OTLP/HTTP logs path is /v1/logs: set endpoint to the collector's base URL or " \
    "its full /v1/logs URL)"

/* True when the path of url (before its query) ends in /v1/logs. */
static bool otlp_logs_path(const char *url)
{
    static const char want[] = "/v1/logs";
    size_t n = strcspn(url, "?"), k = sizeof want - 1;
    return n >= k && memcmp(url + n - k, want, k) == 0;
}

static void otlp_destroy(void *self)
{
    otlp_sink *s = self;
    if (!s)
        return;
    http_multi_free(atomic_load(&s->http));
    http_headers_free(&s->headers);
    free(s->url);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int otlp_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const otlp_config *cfg = config;
    if (http_tls_check(&cfg->tls, cc->check_only, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    if (cfg->resource_keys.n > 200)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: at most 200 resource_keys", cc->id);
    char e2[300];
    char *url = url_with_default_path(cfg->endpoint, "v1/logs", e2, sizeof e2);
    if (!url)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: endpoint %s", cc->id, e2);
    otlp_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->url = url;
    s->odd_path = !otlp_logs_path(url);
    pthread_mutex_init(&s->mu, NULL);
    bool has_ct = false;
    char msg[256];
    if (http_headers_from_options(&s->headers, &cfg->headers, &has_ct, msg, sizeof msg) != SL_OK) {
        otlp_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, msg);
    }
    if (!has_ct)
        http_headers_add(&s->headers, "Content-Type",
                   cfg->encoding == OTLP_JSON ? "application/json" : "application/x-protobuf");
    if (cfg->compression == OTLP_COMP_GZIP)
        http_headers_add(&s->headers, "Content-Encoding", "gzip");
    s->map = (otlp_map){
        .resource = &cfg->resource,
        .resource_keys = &cfg->resource_keys,
        .severity_field = cfg->severity_field,
        .body_field = cfg->body_field,
        .prep_id = prep_id_new(),
        .seg_id = cfg->compression == OTLP_COMP_GZIP ? prep_id_new() : 0,
    };
    *self = s;
    return SL_OK;
}

/* On the routing thread (note 7 of otlp_encode.c). */
static void otlp_prep(void *self, sl_batch *b)
{
    otlp_sink *s = self;
    bool json = s->cfg->encoding == OTLP_JSON;
    int64_t now = sl_now_ns();
    if (s->map.seg_id &&
        otlp_prepare_segment(b, json, &s->map, now, (int)s->cfg->compression_level,
                             gz_prep_run(s->cc->max_events)))
        return;
    otlp_prepare(b, json, &s->map, now);
}

/* The OTLP/HTTP spec's retryable codes: a server says "try later" with these, and any
 * other error status would come back the same for the same request, forever. */
static bool otlp_retryable(long st)
{
    return st == 429 || st == 502 || st == 503 || st == 504;
}

static int otlp_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    otlp_sink *s = self;
    const otlp_config *cfg = s->cfg;
    sl_metrics *m = s->cc->metrics;
    http_multi *h = http_multi_lazy(&s->http, &s->mu, res->reason, sizeof res->reason);
    if (!h) {
        res->status = SL_SEND_RETRY;
        return SL_OK;
    }
    bool json = cfg->encoding == OTLP_JSON;
    sl_buf body = SL_BUF_INIT, gz = SL_BUF_INIT;
    size_t raw_len = 0;
    bool segs = otlp_encode_segments(&gz, json, events, n, &s->map,
                                     (int)cfg->compression_level, sl_now_ns(), &raw_len);
    if (!segs) {
        otlp_encode(&body, json, events, n, &s->map, sl_now_ns());
        raw_len = body.len;
    }
    const char *wire = segs ? gz.p : body.p;
    size_t wire_len = segs ? gz.len : body.len;
    if (!segs && cfg->compression == OTLP_COMP_GZIP) {
        if (gz_compress(GZ_AUTO, (int)cfg->compression_level, &s->map, body.p, body.len,
                        &gz) != SL_OK) {
            buf_free(&body);
            buf_free(&gz);
            res->status = SL_SEND_RETRY;
            snprintf(res->reason, sizeof res->reason, "gzip failed");
            return SL_OK;
        }
        wire = gz.p;
        wire_len = gz.len;
    }
    atomic_fetch_add_explicit(&m->payload_bytes, raw_len, memory_order_relaxed);
    if (wire != body.p)
        buf_free(&body); /* only the compressed copy waits for the answer */
    atomic_fetch_add_explicit(&m->wire_bytes, wire_len, memory_order_relaxed);

    http_mreq req = {
        .method = "POST",
        .url = s->url,
        .headers = (const char *const *)s->headers.v,
        .nheaders = s->headers.n,
        .body = wire,
        .body_len = wire_len,
        .timeout_ms = cfg->timeout_ms,
        .ca_file = cfg->tls.ca_file,
        .cert_file = cfg->tls.cert_file,
        .key_file = cfg->tls.key_file,
        .insecure = !cfg->tls.verify,
        .cancel = res->cancel,
    };
    http_mresp resp = {.body = SL_BUF_INIT};
    int rc = http_multi_do(h, &req, &resp);
    buf_free(&body);
    buf_free(&gz);

    long st = resp.status;
    if (rc != SL_OK) {
        res->status = SL_SEND_RETRY;
        /* a gRPC port answers in HTTP/2 (net/http_resp.c, note 4): OTLP's usual mix-up */
        int k = snprintf(res->reason, sizeof res->reason, "%s", resp.error);
        if (strstr(resp.error, "in HTTP/2") && k > 0 && (size_t)k < sizeof res->reason)
            snprintf(res->reason + k, sizeof res->reason - (size_t)k,
                     "; OTLP/gRPC is served on 4317, this sink speaks OTLP/HTTP (4318)");
        metrics_error(m, rc == SL_ERR_TIMEOUT ? "timeout" : "connection");
    } else if (st >= 200 && st < 300) {
        res->status = SL_SEND_OK;
        int64_t rejected = 0;
        char msg[160];
        /* a JSON request gets a JSON answer; some servers answer {} with either */
        bool rjson = json || (resp.body.len && resp.body.p[0] == '{');
        if (otlp_parse_response(resp.body.p, resp.body.len, rjson, &rejected, msg, sizeof msg)) {
            metrics_error(m, "bad_response");
            if (log_gate(&s->last_warn_ms, 10000))
                log_warn(s->cc->id, "unreadable success answer (%zu bytes) ignored",
                         resp.body.len);
        } else if (rejected > 0) {
            metrics_error(m, "partial_success");
            atomic_fetch_add_explicit(&m->dropped_events, (uint64_t)rejected,
                                      memory_order_relaxed);
            if (log_gate(&s->last_warn_ms, 10000))
                log_warn(s->cc->id, "collector rejected %lld of %zu log records: %s",
                         (long long)rejected, n, msg);
        }
    } else if (otlp_retryable(st) || st == 401 || st == 403) {
        res->status = SL_SEND_RETRY;
        res->retry_after_ms = resp.retry_after_ms;
        res->open_circuit = st == 401 || st == 403;
        char ex[201];
        otlp_error_text(ex, sizeof ex, resp.body.p, resp.body.len);
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", st, ex);
        metrics_error(m, st == 429 ? "http_429" : res->open_circuit ? "http_auth" : "http_retry");
        res->throttled = st == 429;
    } else {
        char ex[201];
        bool hint = st == 404 && s->odd_path;
        /* with the hint, a shorter excerpt so that the hint fits the reason whole */
        size_t exlen = hint ? sizeof res->reason - sizeof OTLP_PATH_HINT - 16 : sizeof ex;
        if (exlen > sizeof ex)
            exlen = sizeof ex;
        if (resp.location[0])
            http_answer_excerpt(ex, exlen, st, resp.location, resp.body.p, resp.body.len);
        else
            otlp_error_text(ex, exlen, resp.body.p, resp.body.len);
        res->status = SL_SEND_REJECT;
        res->too_large = st == 413;
        int k = snprintf(res->reason, sizeof res->reason, "http %ld: %s", st, ex);
        if (hint && k > 0 && (size_t)k < sizeof res->reason)
            snprintf(res->reason + k, sizeof res->reason - (size_t)k, "%s", OTLP_PATH_HINT);
        metrics_error(m, "http_reject");
    }
    buf_free(&resp.body);
    return SL_OK;
}

const sl_sink_vtable sl_sink_otlp = {
    .type = "otlp",
    .help = "Sends OpenTelemetry logs over OTLP/HTTP (protobuf or JSON, gzip)",
    .options = otlp_options,
    .config_size = sizeof(otlp_config),
    .init = otlp_init,
    .send = otlp_send,
    .prepare = otlp_prep,
    .destroy = otlp_destroy,
    .serial = false,
};
