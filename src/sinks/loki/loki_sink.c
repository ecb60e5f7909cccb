/* loki_sink.c - the `loki` sink: Grafana Loki's push API (POST /loki/api/v1/push), protobuf
 * with snappy block compression or JSON, labels and structured metadata from event fields,
 * a tenant header, basic or bearer auth, TLS.
 *
 * Notes on the design:
 *  1. Ordering: Loki refuses, per stream, entries older than what it already holds (with
 *     unordered writes off; with them on, entries too far behind). Entries of a stream are
 *     sorted by time inside a request (loki_encode), and the sink is `ordered`: the runtime
 *     runs it with one request at a time, retried in place before the next is cut, so a
 *     stream's requests reach Loki in buffer order.
 *  2. Answers: 2xx = delivered. 429, 408, 5xx and transport errors retry (Retry-After
 *     honoured; a 429 is flagged throttled, which halves the adaptive batch target);
 *     401/403 retry with the circuit opened at once (credentials); other 4xx ("entry out
 *     of order", "too old", "greater than max", line too long, bad labels; 413:
 *     note 4) are permanent: the runtime bisects and dead-letters what Loki still refuses,
 *     with Loki's text as the reason. Loki keeps the entries of a refused request it found
 *     valid; a resent one is dropped by Loki as a duplicate (same stream, time and line)
 *     or, with unordered writes off and a newer entry stored since, refused again: the DLQ
 *     then holds an event Loki also has (never one fewer).
 *  3. Cardinality: see loki_encode.c; every event that went over the cap is counted
 *     (loki_label_overflow) and a warning is logged at most every 10 s.
 *  4. Size: a 413 (Loki's own body limit, or a proxy's in front of it, whose answer is no
 *     Loki text) is a reject flagged too_large: the runtime bisects the request, so its
 *     events still go, and halves the adaptive batch target so later requests fit.
 *  5. Structured metadata disallowed (a Loki whose schema is older than v13 runs with
 *     allow_structured_metadata: false): Loki refuses every entry that has some, so
 *     bisecting would only dead-letter each event after two requests of its own. The
 *     events wait instead, retried behind an open circuit, with one error line, until Loki
 *     allows it or the sink's structured_metadata is removed (a reload keeps the buffer),
 *     as the elasticsearch sink does for a missing ingest pipeline. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snappy-c.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/http_client.h"
#include "net/http_multi.h"
#include "net/url.h"
#include "sinks/loki/loki.h"

enum { LOKI_PROTOBUF = 0, LOKI_JSON = 1 };
enum { LOKI_LINE_MESSAGE = 0, LOKI_LINE_JSON = 1 };

typedef struct loki_config {
    char *endpoint;
    int encoding;
    int line;
    sl_strmap labels;
    sl_strmap structured_metadata;
    int64_t max_label_sets;
    char *tenant_id;
    sl_strmap headers;
    http_auth_config auth;
    int64_t timeout_ms;
    http_tls_config tls;
} loki_config;

static const char *const loki_encodings[] = {"protobuf", "json", NULL};
static const char *const loki_lines[] = {"message", "json", NULL};

static const sl_option loki_options[] = {
    {"endpoint", SL_OPT_STR, offsetof(loki_config, endpoint), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "Loki URL; a base URL without a path gets /loki/api/v1/push"},
    {"encoding", SL_OPT_ENUM, offsetof(loki_config, encoding), "protobuf", 0, loki_encodings,
     NULL, 0, 0, "protobuf (snappy-compressed) or json"},
    {"line", SL_OPT_ENUM, offsetof(loki_config, line), "message", 0, loki_lines, NULL, 0, 0,
     "the log line: the event's message (the event as JSON when it has none), or json"},
    {"labels", SL_OPT_STRMAP, offsetof(loki_config, labels), NULL, 0, NULL, NULL, 0, 0,
     "label name -> value template ({{ field }} parts); empty values are left out"},
    {"structured_metadata", SL_OPT_STRMAP, offsetof(loki_config, structured_metadata), NULL, 0,
     NULL, NULL, 0, 0, "name -> value template, sent as Loki 3 structured metadata"},
    {"max_label_sets", SL_OPT_INT, offsetof(loki_config, max_label_sets), "10000", 0, NULL,
     NULL, 1, 1 << 24, "distinct label sets; past it field-derived values become __overflow__"},
    {"tenant_id", SL_OPT_STR, offsetof(loki_config, tenant_id), NULL, 0, NULL, NULL, 0, 0,
     "sent as X-Scope-OrgID (multi-tenant Loki), as written: letters, digits, !-_.*'()"},
    {"headers", SL_OPT_STRMAP, offsetof(loki_config, headers), NULL, 0, NULL, NULL, 0, 0,
     "extra request headers"},
    {"auth", SL_OPT_OBJECT, offsetof(loki_config, auth), NULL, 0, NULL, http_auth_options, 0, 0,
     "user + password (basic) or bearer"},
    {"timeout_ms", SL_OPT_DURATION, offsetof(loki_config, timeout_ms), "30000", 0, NULL, NULL, 1,
     3600000, "whole-request timeout"},
    {"tls", SL_OPT_OBJECT, offsetof(loki_config, tls), NULL, 0, NULL, http_tls_options, 0, 0,
     "TLS options for https endpoints"},
    SL_OPT_END,
};

typedef struct loki_sink {
    const loki_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    loki_enc *enc;          /* owned */
    char *url;              /* owned */
    http_headers headers;   /* owned */
    pthread_mutex_t mu;
    _Atomic(http_multi *) http; /* owned; started by the first send */
    _Atomic int64_t last_warn_ms; /* log_gate: conditions that can repeat every request */
    atomic_bool held;       /* structured metadata refused, said once until delivered (note 5) */
} loki_sink;

static void loki_destroy(void *self)
{
    loki_sink *s = self;
    if (!s)
        return;
    http_multi_free(atomic_load(&s->http));
    http_headers_free(&s->headers);
    loki_enc_free(s->enc);
    free(s->url);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* Loki takes a tenant ID of at most 150 bytes of letters, digits and !-_.*'(), other than
 * "." and ".." (the tenant rules of its server library); any other is refused at every
 * push, so every event would wait or be dead-lettered. A template ("{{ namespace }}", as
 * Vector's tenant_id takes) is such a one: it is sent as it is written. */
static int tenant_check(const char *t, char *err, size_t errlen)
{
    size_t n = strlen(t);
    if (n > 150 || !strcmp(t, ".") || !strcmp(t, ".."))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "tenant_id: Loki refuses \"%.40s%s\" as a tenant ID (at most 150 "
                         "bytes, not . or ..)", t, n > 40 ? "..." : "");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("!-_.*'()", c))
            continue;
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "tenant_id: Loki refuses '%c' in a tenant ID (letters, digits and "
                         "!-_.*'() only)%s", c >= 0x20 && c < 0x7f ? c : '?',
                         strstr(t, "{{") ? "; it is sent as written, not as a template" : "");
    }
    return SL_OK;
}

static int loki_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const loki_config *cfg = config;
    if (cfg->tenant_id && cfg->tenant_id[0] && tenant_check(cfg->tenant_id, err, errlen))
        return SL_ERR_CONFIG;
    if (http_auth_check(&cfg->auth, cc->id, err, errlen) != SL_OK ||
        http_tls_check(&cfg->tls, cc->check_only, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    char e2[300];
    /* libsnappy is loaded here, not linked (snappy_lazy.c): without it, protobuf cannot be
     * sent at all, so the sink does not start. */
    if (cfg->encoding == LOKI_PROTOBUF && lazylib_load(&lazy_snappy, e2, sizeof e2) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_NOTFOUND,
                         "%s: encoding protobuf needs libsnappy (encoding: json does not): %s",
                         cc->id, e2);
    char *url = url_with_default_path(cfg->endpoint, "loki/api/v1/push", e2, sizeof e2);
    if (!url)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: endpoint %s", cc->id, e2);
    /* Loki's default limits_config.max_label_names_per_series: a stream with more names is
     * refused, so every event would go to the DLQ. Said, not refused: the limit is Loki's. */
    if (cfg->labels.n > 15)
        log_warn(cc->id, "%zu labels: Loki refuses streams of more than 15 label names unless "
                 "its limits_config.max_label_names_per_series is raised (the events would go "
                 "to the DLQ); structured_metadata takes the others", cfg->labels.n);
    loki_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->url = url;
    pthread_mutex_init(&s->mu, NULL);
    s->enc = loki_enc_new(&cfg->labels, &cfg->structured_metadata, cfg->line == LOKI_LINE_JSON,
                          (uint64_t)cfg->max_label_sets, e2, sizeof e2);
    if (!s->enc) {
        loki_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, e2);
    }
    bool has_ct = false;
    if (http_headers_from_options(&s->headers, &cfg->headers, &has_ct, e2, sizeof e2) != SL_OK) {
        loki_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, e2);
    }
    if (has_ct) {
        loki_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: Content-Type follows the encoding and cannot be set", cc->id);
    }
    http_headers_add(&s->headers, "Content-Type",
                     cfg->encoding == LOKI_JSON ? "application/json" : "application/x-protobuf");
    if (cfg->tenant_id && cfg->tenant_id[0])
        http_headers_add(&s->headers, "X-Scope-OrgID", cfg->tenant_id);
    if (cfg->auth.bearer)
        http_headers_add_bearer(&s->headers, cfg->auth.bearer);
    *self = s;
    return SL_OK;
}

static int loki_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    loki_sink *s = self;
    const loki_config *cfg = s->cfg;
    sl_metrics *m = s->cc->metrics;
    http_multi *h = http_multi_lazy(&s->http, &s->mu, res->reason, sizeof res->reason);
    if (!h) {
        res->status = SL_SEND_RETRY;
        return SL_OK;
    }
    bool json = cfg->encoding == LOKI_JSON;
    sl_buf body = SL_BUF_INIT, wire = SL_BUF_INIT;
    loki_stats st;
    loki_encode(s->enc, &body, json, events, n, sl_now_ns(), &st);
    if (st.overflowed) {
        metrics_count(m, "loki_label_overflow", st.overflowed);
        if (log_gate(&s->last_warn_ms, 10000))
            log_warn(s->cc->id,
                     "max_label_sets (%lld) reached: %llu event(s) sent with field-derived "
                     "label values set to " LOKI_OVERFLOW_VALUE,
                     (long long)cfg->max_label_sets, (unsigned long long)st.overflowed);
    }
    const char *data = body.p;
    size_t data_len = body.len;
    if (!json) {
        /* Loki reads protobuf pushes as one raw snappy block (not the framed format). */
        size_t cap = snappy_max_compressed_length(body.len);
        buf_reserve(&wire, cap);
        size_t out_len = cap;
        if (snappy_compress(body.p, body.len, wire.p, &out_len) != SNAPPY_OK) {
            buf_free(&body);
            buf_free(&wire);
            res->status = SL_SEND_RETRY;
            snprintf(res->reason, sizeof res->reason, "snappy compression failed");
            return SL_OK;
        }
        wire.len = out_len;
        data = wire.p;
        data_len = wire.len;
    }
    atomic_fetch_add_explicit(&m->payload_bytes, body.len, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->wire_bytes, data_len, memory_order_relaxed);

    http_mreq req = {
        .method = "POST",
        .url = s->url,
        .headers = (const char *const *)s->headers.v,
        .nheaders = s->headers.n,
        .body = data,
        .body_len = data_len,
        .timeout_ms = cfg->timeout_ms,
        .user = cfg->auth.user,
        .password = cfg->auth.password,
        .ca_file = cfg->tls.ca_file,
        .cert_file = cfg->tls.cert_file,
        .key_file = cfg->tls.key_file,
        .insecure = !cfg->tls.verify,
        .cancel = res->cancel,
    };
    http_mresp resp = {.body = SL_BUF_INIT};
    int rc = http_multi_do(h, &req, &resp);
    buf_free(&body);
    buf_free(&wire);

    if (rc != SL_OK) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "%s", resp.error);
        metrics_error(m, rc == SL_ERR_TIMEOUT ? "timeout" : "connection");
        buf_free(&resp.body);
        return SL_OK;
    }
    const char *kind;
    loki_outcome out = loki_classify(resp.status, resp.body.p, resp.body.len, &kind);
    char ex[201];
    http_answer_excerpt(ex, sizeof ex, resp.status, resp.location, resp.body.p, resp.body.len);
    switch (out) {
    case LOKI_OK:
        res->status = SL_SEND_OK;
        atomic_store(&s->held, false);
        break;
    case LOKI_HELD: /* note 5 */
        res->status = SL_SEND_RETRY;
        res->open_circuit = true;
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", resp.status, ex);
        metrics_error(m, kind);
        if (!atomic_exchange(&s->held, true))
            log_error(s->cc->id,
                      "STRUCTURED METADATA DISALLOWED: %s; opening the circuit, the events "
                      "wait: allow it in Loki (limits_config.allow_structured_metadata, "
                      "schema v13) or remove structured_metadata from this sink",
                      res->reason);
        break;
    case LOKI_RETRY:
    case LOKI_AUTH:
        res->status = SL_SEND_RETRY;
        res->retry_after_ms = resp.retry_after_ms;
        res->open_circuit = out == LOKI_AUTH;
        res->throttled = resp.status == 429; /* halves the batch target, as elsewhere */
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", resp.status, ex);
        metrics_error(m, kind);
        break;
    case LOKI_REJECT:
    case LOKI_TOO_LARGE:
        /* the runtime bisects a reject; a 413 also halves its batch target (note 4) */
        res->status = SL_SEND_REJECT;
        res->too_large = out == LOKI_TOO_LARGE;
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", resp.status, ex);
        metrics_error(m, kind);
        break;
    }
    buf_free(&resp.body);
    return SL_OK;
}

const sl_sink_vtable sl_sink_loki = {
    .type = "loki",
    .help = "Sends logs to Grafana Loki's push API (protobuf+snappy or JSON)",
    .options = loki_options,
    .config_size = sizeof(loki_config),
    .init = loki_init,
    .send = loki_send,
    .destroy = loki_destroy,
    .serial = true,
    .ordered = true,
};
