/* s3_sink.c - the `s3` sink: archives events as NDJSON objects (plain, gzip or zstd) in an S3
 * bucket or an S3-compatible store, signed with SigV4, with server-side encryption and
 * storage class headers.
 *
 * Notes on the design
 *  1. An object is made of one request's events: the runtime's batch (batch.max_bytes,
 *     batch.max_events, batch.timeout_ms; the sink is `fill`, so a request waits for them
 *     even when none is in flight) is the object buffer, so an object's events stay
 *     in the sink's buffer, unacknowledged, until the object is complete. A request is cut
 *     into objects by rendered key_prefix, by max_object_bytes and by max_object_age (the
 *     span of event time in one object); see s3_plan_build.
 *  2. Delivery = the object exists: 200 to PutObject, or 200 without an <Error> to
 *     CompleteMultipartUpload. Only then are the object's events reported OK; objects of a
 *     request that did not complete are reported RETRY or REJECT (a PARTIAL answer), so the
 *     runtime retries exactly those events (their objects are planned again).
 *  3. Memory: the body is built in parts. Once part_size bytes (>= 5 MiB, S3's minimum for
 *     every part but the last) are ready, a multipart upload is started and the part sent,
 *     so the sink holds about one part per request in flight whatever the object size. An
 *     object that fits in one part is one PutObject. An upload that fails after it started
 *     is aborted (AbortMultipartUpload) so no part lingers in the bucket.
 *  4. Keys: <key_prefix rendered from the first event><first event id>-<n>-<crc>.ndjson[.gz]
 *     (s3_key_name): deterministic, so a resend of the same events after kill -9 writes the
 *     same bytes under the same key, and any other list of events gets another key: a
 *     retry never overwrites another object's data.
 *  5. Answers (s3_classify): 5xx, SlowDown, 408, 429 and no answer retry (Retry-After
 *     honoured); a refused signature or key and expired tokens retry with the circuit
 *     opened and the credentials reloaded; other 4xx (AccessDenied, NoSuchBucket, ...) are
 *     permanent: the events are dead-lettered with S3's code and message as the reason.
 *  6. Credentials as the cloudwatch_logs source finds them (environment, shared file and
 *     profile, ECS, IMDSv2), loaded on first use and again when stale or refused. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/http_client.h"
#include "net/http_multi.h"
#include "net/sigv4.h"
#include "net/url.h"
#include "sinks/s3/s3.h"
#include "sources/cloudwatch/cwl.h"

#define S3_MIN_PART ((uint64_t)5 << 20)
#define S3_MAX_PARTS 10000

enum { SSE_NONE = 0, SSE_AES256 = 1, SSE_KMS = 2 };

typedef struct s3_config {
    char *bucket, *region, *endpoint;
    bool path_style;
    char *profile, *credentials_file;
    char *key_prefix;
    int compression;
    int64_t gzip_level, zstd_level;
    uint64_t max_object_bytes;
    int64_t max_object_age_ms;
    uint64_t part_size;
    int sse;
    char *sse_kms_key_id;
    char *storage_class;
    char *id_key;
    int64_t timeout_ms;
    http_tls_config tls;
} s3_config;

static const char *const s3_compressions[] = {"none", "gzip", "zstd", NULL};
static const char *const s3_sses[] = {"none", "AES256", "aws:kms", NULL};

#define O(name, type, field, def, flags, choices, min, max, help)                             \
    {name, type, offsetof(s3_config, field), def, flags, choices, NULL, min, max, help}
static const sl_option s3_options[] = {
    O("bucket", SL_OPT_STR, bucket, NULL, SL_OPT_REQUIRED, NULL, 0, 0, "bucket name"),
    O("region", SL_OPT_STR, region, "us-east-1", 0, NULL, 0, 0, "region (signing scope)"),
    O("endpoint", SL_OPT_STR, endpoint, NULL, 0, NULL, 0, 0,
      "S3-compatible endpoint URL (default https://s3.<region>.amazonaws.com)"),
    O("path_style", SL_OPT_BOOL, path_style, "false", 0, NULL, 0, 0,
      "address the bucket in the path (<endpoint>/<bucket>/<key>), not the host name "
      "(also done when the endpoint is an IP address or the bucket no DNS name)"),
    O("profile", SL_OPT_STR, profile, NULL, 0, NULL, 0, 0,
      "section of the shared credentials file (else AWS_PROFILE, else default)"),
    O("credentials_file", SL_OPT_STR, credentials_file, NULL, 0, NULL, 0, 0,
      "shared credentials file (else AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials)"),
    O("key_prefix", SL_OPT_STR, key_prefix, "%Y/%m/%d/%H/", 0, NULL, 0, 0,
      "key prefix template: %Y %m %d %H %M %j of the event's time (UTC), {{ field }}"),
    O("compression", SL_OPT_ENUM, compression, "gzip", 0, s3_compressions, 0, 0,
      "gzip (objects end in .ndjson.gz), zstd (.ndjson.zst) or none"),
    O("gzip_level", SL_OPT_INT, gzip_level, "1", 0, NULL, 1, 9, "gzip level"),
    O("zstd_level", SL_OPT_INT, zstd_level, "3", 0, NULL, 1, 19, "zstd level"),
    O("max_object_bytes", SL_OPT_SIZE, max_object_bytes, "256MiB", 0, NULL, 1024,
      (int64_t)5 << 40, "start a new object past about this many event bytes"),
    O("max_object_age", SL_OPT_DURATION, max_object_age_ms, "0", 0, NULL, 0, 86400000LL * 366,
      "start a new object when an event's time is this far past the object's first "
      "(0 = no limit); the wall-clock bound is batch.timeout_ms"),
    O("part_size", SL_OPT_SIZE, part_size, "8MiB", 0, NULL, (int64_t)S3_MIN_PART,
      (int64_t)5 << 30, "multipart part size (an object that fits in one part is one PUT)"),
    O("sse", SL_OPT_ENUM, sse, "none", 0, s3_sses, 0, 0,
      "server-side encryption: none, AES256 or aws:kms"),
    O("sse_kms_key_id", SL_OPT_STR, sse_kms_key_id, NULL, 0, NULL, 0, 0,
      "KMS key for sse: aws:kms (else the bucket's default key)"),
    O("storage_class", SL_OPT_STR, storage_class, NULL, 0, NULL, 0, 0,
      "x-amz-storage-class (STANDARD, STANDARD_IA, GLACIER_IR, ...)"),
    O("id_key", SL_OPT_STR, id_key, NULL, 0, NULL, 0, 0,
      "write each event's stable id under this key"),
    O("timeout_ms", SL_OPT_DURATION, timeout_ms, "60000", 0, NULL, 1, 3600000,
      "per HTTP request"),
    {"tls", SL_OPT_OBJECT, offsetof(s3_config, tls), NULL, 0, NULL, http_tls_options, 0, 0,
     "TLS options for https endpoints"},
    SL_OPT_END,
};
#undef O

typedef struct s3_sink {
    const s3_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    s3_key_tmpl tmpl;
    char *origin;    /* owned: scheme://authority the requests go to */
    char *host;      /* owned: the Host header (authority) */
    char *base_path; /* owned: "/<bucket>" (path style) or "" */
    const char *ext;
    pthread_mutex_t mu;             /* guards creds, have_creds and the start of http */
    _Atomic(http_multi *) http;     /* owned; started by the first send */
    http_client *hc;                /* owned: for the credential providers */
    cwl_creds creds;
    bool have_creds, logged_creds;
    int64_t refresh_after_ms; /* a refresh failed while creds were valid: not before this */
    int64_t refresh_warned_ms;
} s3_sink;

static void s3_destroy(void *self)
{
    s3_sink *s = self;
    if (!s)
        return;
    http_multi_free(atomic_load(&s->http));
    if (s->hc)
        http_client_free(s->hc);
    s3_key_free(&s->tmpl);
    free(s->origin);
    free(s->host);
    free(s->base_path);
    memset(&s->creds, 0, sizeof s->creds);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static bool bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int s3_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const s3_config *cfg = config;
    if (http_tls_check(&cfg->tls, cc->check_only, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    if (!bucket_ok(cfg->bucket))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: bucket \"%s\": 3-63 characters of [a-z0-9.-]", cc->id, cfg->bucket);
    if (!cfg->region || !cfg->region[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: region is empty", cc->id);
    if (cfg->sse_kms_key_id && cfg->sse != SSE_KMS)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: sse_kms_key_id needs sse: aws:kms",
                         cc->id);
    if (cfg->max_object_bytes / cfg->part_size >= S3_MAX_PARTS)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: max_object_bytes / part_size must stay under %d parts", cc->id,
                         S3_MAX_PARTS);
    char e2[300];
    sl_buf def = SL_BUF_INIT;
    const char *ep = cfg->endpoint;
    if (!ep || !ep[0]) {
        buf_printf(&def, "https://s3.%s.amazonaws.com", cfg->region);
        buf_putc(&def, '\0');
        ep = def.p;
    }
    url_endpoint ue;
    if (url_endpoint_parse(&ue, ep, e2, sizeof e2) != SL_OK) {
        buf_free(&def);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: endpoint %s", cc->id, e2);
    }
    buf_free(&def);
    if (ue.path[0] || ue.query[0]) {
        url_endpoint_free(&ue);
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: endpoint takes no path or query (scheme://host[:port])", cc->id);
    }
    s3_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    pthread_mutex_init(&s->mu, NULL);
    const char *auth = strstr(ue.origin, "://") + 3;
    size_t schemelen = (size_t)(auth - ue.origin);
    sl_buf b = SL_BUF_INIT;
    bool https = schemelen == 8; /* "https://" */
    if (cfg->path_style || !s3_virtual_host_ok(cfg->bucket, auth, https)) {
        s->host = sl_xstrdup(auth);
        s->origin = sl_xstrdup(ue.origin);
        buf_printf(&b, "/%s", cfg->bucket);
        buf_putc(&b, '\0');
        s->base_path = sl_xstrdup(b.p);
    } else {
        buf_printf(&b, "%s.%s", cfg->bucket, auth);
        buf_putc(&b, '\0');
        s->host = sl_xstrdup(b.p);
        buf_reset(&b);
        buf_printf(&b, "%.*s%s", (int)schemelen, ue.origin, s->host);
        buf_putc(&b, '\0');
        s->origin = sl_xstrdup(b.p);
        s->base_path = sl_xstrdup("");
    }
    buf_free(&b);
    url_endpoint_free(&ue);
    if (s3_key_compile(&s->tmpl, cfg->key_prefix ? cfg->key_prefix : "", e2, sizeof e2) !=
        SL_OK) {
        s3_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, e2);
    }
    s->ext = cfg->compression == S3_COMP_GZIP   ? ".ndjson.gz"
             : cfg->compression == S3_COMP_ZSTD ? ".ndjson.zst"
                                                : ".ndjson";
    if (lazylib_need(&lazy_openssl, "SigV4", err, errlen) != SL_OK) {
        s3_destroy(s);
        return SL_ERR_CONFIG;
    }
    if (cfg->compression == S3_COMP_ZSTD && lazylib_load(&lazy_zstd, e2, sizeof e2) != SL_OK) {
        s3_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: compression zstd needs libzstd: %s", cc->id,
                         e2);
    }
    s->hc = http_client_new();
    if (!s->hc) {
        s3_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: http client", cc->id);
    }
    *self = s;
    return SL_OK;
}

/* ---- One signed request ---------------------------------------------------------------- */

typedef struct s3_hdr {
    const char *name, *value;
} s3_hdr;

/* What came back, for the caller's classification and messages. */
typedef struct s3_answer {
    long status;
    s3_outcome out;
    char code[64];      /* S3 error code, "" when none */
    char msg[200];      /* S3's message or the transport error */
    char etag[160];
    char upload_id[512];
    int64_t retry_after_ms;
} s3_answer;

/* The path as sigv4 canonicalises it (unreserved characters and '/' kept, the rest %XX),
 * so the URL sent and the path signed are the same bytes. */
static void s3_path_encode(sl_buf *out, const char *s)
{
    static const char hx[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hx[c >> 4]);
            buf_putc(out, hx[c & 15]);
        }
    }
}

static bool s3_get_creds(s3_sink *s, cwl_creds *out, char *err, size_t errlen)
{
    pthread_mutex_lock(&s->mu);
    int64_t now = sl_mono_ms(), wall = sl_now_ns() / 1000000;
    if (!s->have_creds || (cwl_creds_stale(&s->creds, wall) && now >= s->refresh_after_ms)) {
        cwl_creds c;
        if (cwl_creds_load(&c, s->hc, s->cfg->region, s->cfg->profile, s->cfg->credentials_file,
                           err, errlen) == SL_OK) {
            if (!s->logged_creds)
                log_info(s->cc->id, "credentials from %s; %s%s", c.from, s->origin,
                         s->base_path);
            s->creds = c;
            s->have_creds = s->logged_creds = true;
        } else if (!s->have_creds) {
            pthread_mutex_unlock(&s->mu);
            return false;
        } else {
            /* The ones held are still good: keep them, say it (they will expire), and do
             * not ask again for every request (a provider that does not answer would
             * hold each one up). */
            s->refresh_after_ms = now + 5000;
            metrics_error(s->cc->metrics, "credentials");
            if (now - s->refresh_warned_ms >= 60000 || !s->refresh_warned_ms) {
                log_warn(s->cc->id, "refreshing the credentials failed: %s; the ones held "
                         "expire in %lld s", err, (long long)((s->creds.expires_ms - wall) / 1000));
                s->refresh_warned_ms = now;
            }
        }
    }
    *out = s->creds;
    pthread_mutex_unlock(&s->mu);
    return true;
}

static void s3_forget_creds(s3_sink *s)
{
    pthread_mutex_lock(&s->mu);
    s->have_creds = false;
    pthread_mutex_unlock(&s->mu);
}

/* The stop deadline's flag of the send this thread runs (sl_send_result.cancel), NULL
 * for none: every request of an object's upload ends when it turns true. */
static _Thread_local const atomic_bool *s3_cancel;

static bool s3_cancelled(void) { return s3_cancel && atomic_load(s3_cancel); }

/* Signs and sends one request on `key` ("" for the bucket) with `query` (already encoded,
 * may be NULL). extra headers are signed and sent. Fills a. */
static void s3_call(s3_sink *s, http_multi *h, const char *method, const char *key,
                    const char *query, const char *body, size_t len, const s3_hdr *extra,
                    size_t nextra, s3_answer *a)
{
    memset(a, 0, sizeof *a);
    cwl_creds *cr = sl_xmalloc(sizeof *cr);
    if (!s3_get_creds(s, cr, a->msg, sizeof a->msg)) {
        free(cr);
        a->out = S3_RETRY;
        snprintf(a->code, sizeof a->code, "NoCredentials");
        return;
    }
    char date[17], hash[65];
    sigv4_format_date(sl_now_ns() / 1000000000, date);
    sigv4_sha256_hex(body ? body : "", body ? len : 0, hash);
    sl_buf path = SL_BUF_INIT, url = SL_BUF_INIT, authz = SL_BUF_INIT;
    buf_printf(&path, "%s/%s", s->base_path, key);
    buf_putc(&path, '\0');
    buf_puts(&url, s->origin);
    s3_path_encode(&url, path.p);
    if (query && *query) {
        buf_putc(&url, '?');
        buf_puts(&url, query);
    }
    buf_putc(&url, '\0');

    size_t nh = 0, cap = nextra + 4;
    sigv4_header *sh = sl_xcalloc(cap, sizeof *sh);
    sh[nh++] = (sigv4_header){"Host", s->host};
    sh[nh++] = (sigv4_header){"X-Amz-Date", date};
    sh[nh++] = (sigv4_header){"X-Amz-Content-Sha256", hash};
    if (cr->token[0])
        sh[nh++] = (sigv4_header){"X-Amz-Security-Token", cr->token};
    for (size_t i = 0; i < nextra; i++)
        sh[nh++] = (sigv4_header){extra[i].name, extra[i].value};
    /* sigv4_header has room for nh entries: cap counted the token slot */
    sigv4_request rq = {method, path.p, query, sh, nh, body, len};
    sigv4_credentials sc = {cr->access_key, cr->secret_key, cr->token};
    sigv4_sign(&rq, &sc, s->cfg->region, "s3", date, &authz, NULL, NULL);
    buf_putc(&authz, '\0');

    http_headers hl = {0};
    for (size_t i = 0; i < nh; i++) {
        if (strcmp(sh[i].name, "Host") == 0)
            continue; /* the HTTP client sends the same Host from the URL */
        http_headers_add(&hl, sh[i].name, sh[i].value);
    }
    http_headers_add(&hl, "Authorization", authz.p);
    if (!body)
        http_headers_add(&hl, "Content-Type", ""); /* no default form type on POST */

    http_mreq req = {
        .method = method,
        .url = url.p,
        .headers = (const char *const *)hl.v,
        .nheaders = hl.n,
        .body = body,
        .body_len = len,
        .timeout_ms = s->cfg->timeout_ms,
        .ca_file = s->cfg->tls.ca_file,
        .cert_file = s->cfg->tls.cert_file,
        .key_file = s->cfg->tls.key_file,
        .insecure = !s->cfg->tls.verify,
        .cancel = s3_cancel,
    };
    http_mresp resp = {.body = SL_BUF_INIT};
    int rc = http_multi_do(h, &req, &resp);
    if (rc != SL_OK) {
        a->out = S3_RETRY;
        snprintf(a->msg, sizeof a->msg, "%.199s", resp.error);
        snprintf(a->code, sizeof a->code, "%s", rc == SL_ERR_TIMEOUT ? "Timeout" : "NoAnswer");
    } else {
        a->status = resp.status;
        a->retry_after_ms = resp.retry_after_ms;
        snprintf(a->etag, sizeof a->etag, "%s", resp.etag);
        s3_xml_get(resp.body.p, resp.body.len, "Code", a->code, sizeof a->code);
        s3_xml_get(resp.body.p, resp.body.len, "Message", a->msg, sizeof a->msg);
        s3_xml_get(resp.body.p, resp.body.len, "UploadId", a->upload_id, sizeof a->upload_id);
        /* CompleteMultipartUpload can fail after its 200 has started: the body says so. */
        bool err200 = resp.status == 200 && resp.body.len &&
                      memmem(resp.body.p, resp.body.len, "<Error>", 7) != NULL;
        a->out = err200 ? S3_RETRY : s3_classify(resp.status, a->code);
        if (!a->msg[0] && a->out != S3_OK)
            snprintf(a->msg, sizeof a->msg, "http %ld", resp.status);
    }
    if (a->out == S3_AUTH)
        s3_forget_creds(s);
    buf_free(&resp.body);
    http_headers_free(&hl);
    free(sh);
    buf_free(&path);
    buf_free(&url);
    buf_free(&authz);
    memset(cr, 0, sizeof *cr);
    free(cr);
}

/* The headers an object's first request carries (PUT, CreateMultipartUpload). */
static size_t s3_object_headers(const s3_sink *s, s3_hdr *h)
{
    const s3_config *cfg = s->cfg;
    size_t n = 0;
    h[n++] = (s3_hdr){"Content-Type", "application/x-ndjson"};
    if (cfg->compression == S3_COMP_GZIP)
        h[n++] = (s3_hdr){"Content-Encoding", "gzip"};
    else if (cfg->compression == S3_COMP_ZSTD)
        h[n++] = (s3_hdr){"Content-Encoding", "zstd"};
    if (cfg->sse == SSE_AES256)
        h[n++] = (s3_hdr){"X-Amz-Server-Side-Encryption", "AES256"};
    else if (cfg->sse == SSE_KMS)
        h[n++] = (s3_hdr){"X-Amz-Server-Side-Encryption", "aws:kms"};
    if (cfg->sse == SSE_KMS && cfg->sse_kms_key_id && cfg->sse_kms_key_id[0])
        h[n++] = (s3_hdr){"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", cfg->sse_kms_key_id};
    if (cfg->storage_class && cfg->storage_class[0])
        h[n++] = (s3_hdr){"X-Amz-Storage-Class", cfg->storage_class};
    return n;
}

/* ---- One object ------------------------------------------------------------------------ */

typedef struct s3_upload {
    char upload_id[512];
    sl_buf xml; /* the CompleteMultipartUpload body being built */
    int parts;
} s3_upload;

static const char *metric_kind(const s3_answer *a)
{
    if (a->status == 0)
        return "connection";
    if (strcmp(a->code, "SlowDown") == 0)
        return "slowdown";
    if (a->out == S3_AUTH)
        return "auth";
    return a->status >= 500 ? "server" : "client";
}

static void s3_answer_why(const s3_answer *a, const char *op, const char *key, char *why,
                          size_t whylen)
{
    /* through a buffer: the parts may exceed whylen, which cuts the line */
    sl_buf b = SL_BUF_INIT;
    buf_printf(&b, "%s %s: %s%s%s (http %ld)", op, key, a->code, a->code[0] ? ": " : "", a->msg,
               a->status);
    size_t k = SL_MIN(b.len, whylen - 1);
    memcpy(why, b.p, k);
    why[k] = '\0';
    buf_free(&b);
}

static void s3_abort(s3_sink *s, http_multi *h, const char *key, const s3_upload *u)
{
    sl_buf q = SL_BUF_INIT;
    url_query_add(&q, "uploadId", u->upload_id);
    s3_answer a;
    s3_call(s, h, "DELETE", key, q.p, NULL, 0, NULL, 0, &a);
    if (a.out != S3_OK && a.status != 404)
        log_warn(s->cc->id, "AbortMultipartUpload %s failed (%s %s); the bucket's lifecycle "
                 "rule for incomplete uploads removes its parts", key, a.code, a.msg);
    else
        metrics_count(s->cc->metrics, "s3_uploads_aborted", 1);
    buf_free(&q);
}

static s3_outcome s3_upload_part(s3_sink *s, http_multi *h, const char *key, s3_upload *u,
                                 s3_body *b, s3_answer *a, char *why, size_t whylen)
{
    if (!u->upload_id[0]) {
        s3_hdr hd[8];
        size_t nh = s3_object_headers(s, hd);
        s3_call(s, h, "POST", key, "uploads", NULL, 0, hd, nh, a);
        if (a->out != S3_OK) {
            s3_answer_why(a, "CreateMultipartUpload", key, why, whylen);
            return a->out;
        }
        if (!a->upload_id[0]) {
            snprintf(why, whylen, "CreateMultipartUpload %s: no UploadId in the answer", key);
            a->out = S3_RETRY;
            return S3_RETRY;
        }
        snprintf(u->upload_id, sizeof u->upload_id, "%s", a->upload_id);
        buf_puts(&u->xml, "<CompleteMultipartUpload>");
    }
    sl_buf q = SL_BUF_INIT;
    char num[16];
    snprintf(num, sizeof num, "%d", u->parts + 1);
    url_query_add(&q, "partNumber", num);
    url_query_add(&q, "uploadId", u->upload_id);
    s3_call(s, h, "PUT", key, q.p, b->part.p, b->part.len, NULL, 0, a);
    buf_free(&q);
    if (a->out != S3_OK) {
        s3_answer_why(a, "UploadPart", key, why, whylen);
        return a->out;
    }
    if (!a->etag[0]) {
        snprintf(why, whylen, "UploadPart %s: no ETag in the answer", key);
        a->out = S3_RETRY;
        return S3_RETRY;
    }
    u->parts++;
    buf_printf(&u->xml, "<Part><PartNumber>%d</PartNumber><ETag>", u->parts);
    for (const char *c = a->etag; *c; c++) { /* the ETag is quoted: escape for XML */
        if (*c == '"')
            buf_puts(&u->xml, "&quot;");
        else if (*c == '&')
            buf_puts(&u->xml, "&amp;");
        else if (*c == '<')
            buf_puts(&u->xml, "&lt;");
        else
            buf_putc(&u->xml, *c);
    }
    buf_puts(&u->xml, "</ETag></Part>");
    atomic_fetch_add_explicit(&s->cc->metrics->wire_bytes, b->part.len, memory_order_relaxed);
    metrics_count(s->cc->metrics, "s3_parts", 1);
    buf_reset(&b->part);
    return S3_OK;
}

/* Writes one object. Returns its outcome; why says what failed. */
static s3_outcome s3_write_object(s3_sink *s, http_multi *h, sl_event *const *evs, size_t n,
                                  const char *prefix, s3_answer *a, char *why, size_t whylen)
{
    const s3_config *cfg = s->cfg;
    sl_buf key = SL_BUF_INIT;
    buf_puts(&key, prefix);
    s3_key_name(&key, evs, n, s->ext);
    s3_body b;
    int level = (int)(cfg->compression == S3_COMP_ZSTD ? cfg->zstd_level : cfg->gzip_level);
    s3_body_init(&b, cfg->compression, level, (size_t)1 << 20, cfg->id_key);
    b.stream = s;
    s3_upload u;
    memset(&u, 0, sizeof u);
    s3_outcome out = S3_OK;
    for (size_t i = 0; i < n && out == S3_OK; i++) {
        if (s3_body_add(&b, evs[i]) != SL_OK) {
            snprintf(why, whylen, "compression failed");
            out = S3_RETRY;
            break;
        }
        if (b.part.len >= cfg->part_size && i + 1 < n)
            out = s3_upload_part(s, h, key.p, &u, &b, a, why, whylen);
    }
    if (out == S3_OK && s3_body_flush(&b) != SL_OK) {
        snprintf(why, whylen, "compression failed");
        out = S3_RETRY;
    }
    if (out == S3_OK && !u.upload_id[0]) {
        s3_hdr hd[8];
        size_t nh = s3_object_headers(s, hd);
        s3_call(s, h, "PUT", key.p, NULL, b.part.p ? b.part.p : "", b.part.len, hd, nh, a);
        out = a->out;
        if (out != S3_OK)
            s3_answer_why(a, "PutObject", key.p, why, whylen);
        else
            atomic_fetch_add_explicit(&s->cc->metrics->wire_bytes, b.part.len,
                                      memory_order_relaxed);
    } else if (out == S3_OK) {
        if (b.part.len)
            out = s3_upload_part(s, h, key.p, &u, &b, a, why, whylen);
        if (out == S3_OK) {
            buf_puts(&u.xml, "</CompleteMultipartUpload>");
            sl_buf q = SL_BUF_INIT;
            url_query_add(&q, "uploadId", u.upload_id);
            s3_hdr hd[] = {{"Content-Type", "application/xml"}};
            s3_call(s, h, "POST", key.p, q.p, u.xml.p, u.xml.len, hd, 1, a);
            buf_free(&q);
            out = a->out;
            if (out != S3_OK)
                s3_answer_why(a, "CompleteMultipartUpload", key.p, why, whylen);
            else
                metrics_count(s->cc->metrics, "s3_multipart_objects", 1);
        }
    }
    if (out != S3_OK && u.upload_id[0] && !s3_cancelled())
        s3_abort(s, h, key.p, &u);
    else if (out != S3_OK && u.upload_id[0])
        log_info(s->cc->id, "stopping: multipart upload of %s left unfinished; the bucket's "
                 "lifecycle rule for incomplete uploads removes its parts", key.p);
    if (out == S3_OK) {
        metrics_count(s->cc->metrics, "s3_objects", 1);
        atomic_fetch_add_explicit(&s->cc->metrics->payload_bytes, b.raw_bytes,
                                  memory_order_relaxed);
    }
    buf_free(&u.xml);
    s3_body_free(&b);
    buf_free(&key);
    return out;
}

/* ---- Send -------------------------------------------------------------------------------- */

static int s3_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    s3_sink *s = self;
    sl_metrics *m = s->cc->metrics;
    /* item_reason strings must live until this thread's next send */
    static _Thread_local char reject_why[256];
    http_multi *h = http_multi_lazy(&s->http, &s->mu, res->reason, sizeof res->reason);
    if (!h) {
        res->status = SL_SEND_RETRY;
        return SL_OK;
    }
    s3_cancel = res->cancel;
    s3_plan plan;
    s3_plan_build(&plan, &s->tmpl, events, n, s->cfg->max_object_bytes,
                  s->cfg->max_object_age_ms * 1000000);
    size_t nok = 0, nretry = 0;
    bool stop = false; /* after a RETRY the rest wait for the backoff too */
    sl_event **evs = sl_xmalloc((n ? n : 1) * sizeof *evs);
    char why[256];
    for (size_t o = 0; o < plan.n; o++) {
        const s3_object_plan *op = &plan.obj[o];
        s3_outcome out = S3_RETRY;
        s3_answer a;
        memset(&a, 0, sizeof a);
        if (!stop) {
            for (size_t i = 0; i < op->n; i++)
                evs[i] = events[op->idx[i]];
            out = s3_write_object(s, h, evs, op->n, op->prefix, &a, why, sizeof why);
        }
        uint8_t st = SL_ITEM_OK;
        if (out == S3_OK) {
            nok += op->n;
        } else if (out == S3_REJECT) {
            st = SL_ITEM_REJECT;
            snprintf(reject_why, sizeof reject_why, "%s", why);
            metrics_error(m, metric_kind(&a));
        } else {
            st = SL_ITEM_RETRY;
            nretry += op->n;
            if (!stop) {
                snprintf(res->reason, sizeof res->reason, "%s", why);
                res->retry_after_ms = a.retry_after_ms;
                res->open_circuit = out == S3_AUTH;
                metrics_error(m, metric_kind(&a));
            }
            stop = true;
        }
        for (size_t i = 0; i < op->n; i++) {
            res->item_status[op->idx[i]] = st;
            if (st == SL_ITEM_REJECT)
                res->item_reason[op->idx[i]] = reject_why;
        }
    }
    s3_cancel = NULL;
    free(evs);
    s3_plan_free(&plan);
    if (nok == n) {
        res->status = SL_SEND_OK;
    } else if (nretry == n) {
        res->status = SL_SEND_RETRY;
    } else {
        /* Rejects are reported per event even when every object was refused: S3 refuses
         * an object for its bucket, key or headers, never for one event, so the runtime's
         * bisection would only repeat the refusal for every event. */
        res->status = SL_SEND_PARTIAL;
    }
    return SL_OK;
}

const sl_sink_vtable sl_sink_s3 = {
    .type = "s3",
    .help = "Archives events as NDJSON objects (gzip, zstd or plain) in S3 or an S3-compatible store",
    .options = s3_options,
    .config_size = sizeof(s3_config),
    .init = s3_init,
    .send = s3_send,
    .destroy = s3_destroy,
    .fill = true, /* a request is an object: fill it, do not send what is queued at once */
};
