/* es_conn.c - the requests of the elasticsearch sink's side modules (index administration,
 * versioned data streams): one owned copy of how to reach the cluster, and one request
 * with the sink's `query:` parameters, Authorization lines, basic auth and TLS (CA, client
 * certificate and key, verification: the same as the bulk requests). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "es.h"

static char *dup_or_null(const char *s) { return s ? sl_xstrdup(s) : NULL; }

int es_conn_open(es_conn *c, const es_conn_params *p, char *err, size_t errlen)
{
    *c = (es_conn){
        .id = p->id,
        .metrics = p->metrics,
        .user = dup_or_null(p->user),
        .password = dup_or_null(p->password),
        .ca_file = dup_or_null(p->ca_file),
        .cert_file = dup_or_null(p->cert_file),
        .key_file = dup_or_null(p->key_file),
        .params = sl_xstrdup(p->params ? p->params : ""),
        .nheaders = SL_MIN(p->nheaders, (size_t)ES_CONN_MAX_HEADERS),
        .insecure = p->insecure,
        .timeout_ms = p->timeout_ms,
    };
    for (size_t i = 0; i < c->nheaders; i++)
        c->headers[i] = sl_xstrdup(p->headers[i]);
    if (url_endpoint_parse(&c->ep, p->url, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    c->hc = http_client_new();
    return SL_OK;
}

void es_conn_close(es_conn *c)
{
    http_client_free(c->hc);
    c->hc = NULL;
    url_endpoint_free(&c->ep);
    for (size_t i = 0; i < c->nheaders; i++)
        free(c->headers[i]);
    c->nheaders = 0;
    free(c->user);
    free(c->password);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->params);
    c->user = c->password = c->ca_file = c->cert_file = c->key_file = c->params = NULL;
}

int es_conn_do(es_conn *c, const char *method, const char *api, const char *extra,
               const sl_buf *body, const char *ctype, http_response *resp, char *err,
               size_t errlen)
{
    sl_buf url = SL_BUF_INIT;
    es_request_url(&url, &c->ep, api, c->params, extra);
    const char *h[1 + ES_CONN_MAX_HEADERS];
    size_t nh = 0;
    char ct[64];
    snprintf(ct, sizeof ct, "Content-Type: %.40s", ctype ? ctype : "application/json");
    h[nh++] = ct;
    for (size_t i = 0; i < c->nheaders; i++)
        h[nh++] = c->headers[i];
    http_request req = {
        .method = method, .url = url.p, .headers = h, .nheaders = nh,
        .body = body ? body->p : NULL, .body_len = body ? body->len : 0,
        .timeout_ms = c->timeout_ms, .user = c->user, .password = c->password,
        .ca_file = c->ca_file, .cert_file = c->cert_file, .key_file = c->key_file,
        .insecure = c->insecure,
    };
    memset(resp, 0, sizeof *resp);
    int rc = http_client_do(c->hc, &req, resp);
    if (rc != SL_OK) {
        snprintf(err, errlen, "%s %s: %s", method, api, resp->error);
        rc = SL_ERR_IO;
    } else if (resp->status < 200 || resp->status >= 300) {
        int n = (int)SL_MIN(resp->body.len, (size_t)160);
        snprintf(err, errlen, "%s %s: http %ld: %.*s", method, api, resp->status, n,
                 resp->body.p ? resp->body.p : "");
        rc = SL_ERR_IO;
    }
    buf_free(&url);
    return rc;
}
