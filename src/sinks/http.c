/* http.c - the generic `http` sink: events as NDJSON or a JSON array in the body of a POST
 * or PUT, with headers, basic or bearer auth, optional gzip and the HTTP sinks' `tls:`
 * (a private CA, a client certificate). Status codes map to OK / RETRY / REJECT; the sink
 * runtime does the rest. A 401 or 403 is the credentials', not the events' fault: it is
 * retried with the circuit opened at once, as in the other HTTP sinks, so a token being
 * rotated holds the events instead of dead-lettering every one of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/json.h"
#include "net/http_client.h"
#include "net/url.h"

enum { HTTP_POST = 0, HTTP_PUT = 1 };
enum { HTTP_ENC_NDJSON = 0, HTTP_ENC_ARRAY = 1 };
enum { HTTP_COMP_NONE = 0, HTTP_COMP_GZIP = 1 };

typedef struct http_config {
    char *uri;
    int method;
    sl_strmap headers;
    int encoding;
    int compression;
    int64_t timeout_ms;
    http_auth_config auth;
    http_tls_config tls;
} http_config;

static const char *const http_methods[] = {"post", "put", NULL};
static const char *const http_encodings[] = {"ndjson", "json_array", NULL};
static const char *const http_compressions[] = {"none", "gzip", NULL};

static const sl_option http_options[] = {
    {"uri", SL_OPT_STR, offsetof(http_config, uri), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "endpoint URL (http:// or https://)"},
    {"method", SL_OPT_ENUM, offsetof(http_config, method), "post", 0, http_methods, NULL, 0, 0,
     "HTTP method"},
    {"headers", SL_OPT_STRMAP, offsetof(http_config, headers), NULL, 0, NULL, NULL, 0, 0,
     "extra request headers"},
    {"encoding", SL_OPT_ENUM, offsetof(http_config, encoding), "ndjson", 0, http_encodings, NULL,
     0, 0, "ndjson: one object per line; json_array: one array of objects"},
    {"compression", SL_OPT_ENUM, offsetof(http_config, compression), "none", 0,
     http_compressions, NULL, 0, 0, "request body compression"},
    {"timeout_ms", SL_OPT_DURATION, offsetof(http_config, timeout_ms), "30000", 0, NULL, NULL, 1,
     3600000, "whole-request timeout"},
    {"auth", SL_OPT_OBJECT, offsetof(http_config, auth), NULL, 0, NULL, http_auth_options, 0, 0,
     "user + password (basic) or bearer"},
    {"tls", SL_OPT_OBJECT, offsetof(http_config, tls), NULL, 0, NULL, http_tls_options, 0, 0,
     "TLS options for https endpoints"},
    SL_OPT_END,
};

typedef struct http_sink {
    const http_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    http_client *client;    /* owned */
    http_headers headers;   /* owned */
} http_sink;

static void http_destroy(void *self)
{
    http_sink *s = self;
    if (!s)
        return;
    http_client_free(s->client);
    http_headers_free(&s->headers);
    free(s);
}

static int http_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const http_config *cfg = config;
    if (http_tls_check(&cfg->tls, cc->check_only, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    if (!cfg->uri || (strncasecmp(cfg->uri, "http://", 7) != 0 &&
                      strncasecmp(cfg->uri, "https://", 8) != 0))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: uri must start with http:// or https:// (got \"%s\")", cc->id,
                         cfg->uri ? cfg->uri : "");
    url_endpoint ue; /* a host and port the request can use, as the other HTTP sinks check */
    char why[512];
    if (url_endpoint_parse(&ue, cfg->uri, why, sizeof why) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: uri %s", cc->id, why);
    url_endpoint_free(&ue);
    if (http_auth_check(&cfg->auth, cc->id, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    http_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->client = http_client_new();
    if (!s->client) {
        free(s);
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: cannot create HTTP client", cc->id);
    }
    bool has_ct = false;
    char msg[256];
    if (http_headers_from_options(&s->headers, &cfg->headers, &has_ct, msg, sizeof msg) != SL_OK) {
        http_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, msg);
    }
    if (!has_ct)
        http_headers_add(&s->headers, "Content-Type",
                   cfg->encoding == HTTP_ENC_NDJSON ? "application/x-ndjson" : "application/json");
    if (cfg->auth.bearer)
        http_headers_add_bearer(&s->headers, cfg->auth.bearer);
    *self = s;
    return SL_OK;
}

static int http_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    http_sink *s = self;
    const http_config *cfg = s->cfg;
    sl_buf body = SL_BUF_INIT;
    buf_reserve(&body, n * 256);
    if (cfg->encoding == HTTP_ENC_ARRAY)
        buf_putc(&body, '[');
    for (size_t i = 0; i < n; i++) {
        if (cfg->encoding == HTTP_ENC_ARRAY && i)
            buf_putc(&body, ',');
        json_encode_event(&body, events[i]);
        if (cfg->encoding == HTTP_ENC_NDJSON)
            buf_putc(&body, '\n');
    }
    if (cfg->encoding == HTTP_ENC_ARRAY)
        buf_putc(&body, ']');

    http_request req = {
        .method = cfg->method == HTTP_PUT ? "PUT" : "POST",
        .url = cfg->uri,
        .headers = (const char *const *)s->headers.v,
        .nheaders = s->headers.n,
        .body = body.p,
        .body_len = body.len,
        .gzip = cfg->compression == HTTP_COMP_GZIP,
        .timeout_ms = cfg->timeout_ms,
        .user = cfg->auth.user,
        .password = cfg->auth.password,
        .ca_file = cfg->tls.ca_file,
        .cert_file = cfg->tls.cert_file,
        .key_file = cfg->tls.key_file,
        .insecure = !cfg->tls.verify,
        .cancel = res->cancel,
    };
    http_response resp = {.body = SL_BUF_INIT};
    int rc = http_client_do(s->client, &req, &resp);
    buf_free(&body);

    if (rc != SL_OK) {
        /* refused, reset, timed out, DNS...: the server may be back soon */
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "%s", resp.error);
        metrics_error(s->cc->metrics, rc == SL_ERR_TIMEOUT ? "timeout" : "connection");
    } else if (resp.status >= 200 && resp.status < 300) {
        res->status = SL_SEND_OK;
    } else if (resp.status == 408 || resp.status == 429 || resp.status >= 500) {
        res->status = SL_SEND_RETRY;
        res->retry_after_ms = resp.retry_after_ms;
        snprintf(res->reason, sizeof res->reason, "http %ld", resp.status);
        metrics_error(s->cc->metrics, resp.status == 429 ? "http_429" : "http_retry");
        res->throttled = resp.status == 429;
    } else if (resp.status == 401 || resp.status == 403) {
        char excerpt[201];
        http_answer_excerpt(excerpt, sizeof excerpt, resp.status, resp.location, resp.body.p,
                            resp.body.len);
        res->status = SL_SEND_RETRY;
        res->retry_after_ms = resp.retry_after_ms;
        res->open_circuit = true;
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", resp.status, excerpt);
        metrics_error(s->cc->metrics, "http_auth");
    } else {
        char excerpt[201];
        http_answer_excerpt(excerpt, sizeof excerpt, resp.status, resp.location, resp.body.p,
                            resp.body.len);
        res->status = SL_SEND_REJECT; /* a 413 is bisected by the runtime */
        res->too_large = resp.status == 413;
        snprintf(res->reason, sizeof res->reason, "http %ld: %s", resp.status, excerpt);
        metrics_error(s->cc->metrics, "http_reject");
    }
    buf_free(&resp.body);
    return SL_OK;
}

const sl_sink_vtable sl_sink_http = {
    .type = "http",
    .help = "Sends events to an HTTP endpoint as NDJSON or a JSON array",
    .options = http_options,
    .config_size = sizeof(http_config),
    .init = http_init,
    .send = http_send,
    .destroy = http_destroy,
    .serial = false,
};
