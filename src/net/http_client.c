/* http_client.c - blocking requests for the http sink, the elasticsearch sink's
 * administration, the cloudwatch_logs source and credential providers: run on the calling
 * thread by the client of net/http_conn.h (a keep-alive pool per client), or, when a proxy
 * applies or the URL holds user information, by a libcurl easy handle cached per thread;
 * gzip bodies via zlib and Retry-After parsing.
 *
 * The own client asks for no content coding (no Accept-Encoding: the server answers in
 * identity); libcurl's path still accepts and decodes any coding the library knows. */
#include "http_client.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <zlib.h>

#include "core/common.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/http_conn.h"

#define HTTP_MAX_BODY (64u << 20)

/* One thread's handle. Linked into its client so http_client_free can reach it. */
typedef struct http_thread {
    http_client *c;
    CURL *h;
    sl_buf gz; /* compressed body scratch */
    struct http_thread *prev, *next;
} http_thread;

struct http_client {
    http_conn_pool *pool; /* requests that need no libcurl */
    pthread_key_t key;
    pthread_mutex_t lock;
    http_thread *threads;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_global(void) { curl_global_init(CURL_GLOBAL_ALL); }

static void thread_free(http_thread *t)
{
    if (t->h)
        curl_easy_cleanup(t->h);
    buf_free(&t->gz);
    free(t);
}

/* Runs at thread exit for threads that used the client. */
static void thread_dtor(void *p)
{
    http_thread *t = p;
    http_client *c = t->c;
    pthread_mutex_lock(&c->lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        c->threads = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&c->lock);
    thread_free(t);
}

http_client *http_client_new(void)
{
    http_client *c = sl_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    if (pthread_key_create(&c->key, thread_dtor) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    c->pool = http_conn_pool_new();
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    /* Deleting the key first means no destructor can run on a freed thread state. */
    pthread_key_delete(c->key);
    pthread_mutex_lock(&c->lock);
    http_thread *t = c->threads;
    c->threads = NULL;
    pthread_mutex_unlock(&c->lock);
    while (t) {
        http_thread *next = t->next;
        thread_free(t);
        t = next;
    }
    http_conn_pool_free(c->pool);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static http_thread *thread_get(http_client *c)
{
    http_thread *t = pthread_getspecific(c->key);
    if (t)
        return t;
    pthread_once(&curl_once, curl_global); /* loads libcurl: only on its path */
    t = sl_xcalloc(1, sizeof *t);
    t->c = c;
    t->h = curl_easy_init();
    if (!t->h) {
        free(t);
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    t->next = c->threads;
    if (c->threads)
        c->threads->prev = t;
    c->threads = t;
    pthread_mutex_unlock(&c->lock);
    pthread_setspecific(c->key, t);
    return t;
}

int http_gzip(const char *data, size_t len, int level, sl_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* windowBits 15 + 16 = gzip wrapper */
    if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SL_ERR_NOMEM;
    buf_reset(out);
    buf_reserve(out, deflateBound(&zs, (uLong)len) + 32);
    size_t fed = 0;
    for (;;) {
        /* zlib counts in uInt: feed and drain at most 1 GiB at a time */
        if (zs.avail_in == 0 && fed < len) {
            size_t chunk = SL_MIN(len - fed, (size_t)1 << 30);
            zs.next_in = (Bytef *)data + fed;
            zs.avail_in = (uInt)chunk;
            fed += chunk;
        }
        if (out->cap == out->len)
            buf_reserve(out, out->cap);
        uInt room = (uInt)SL_MIN(out->cap - out->len, (size_t)1 << 30);
        zs.next_out = (Bytef *)out->p + out->len;
        zs.avail_out = room;
        int rc = deflate(&zs, fed == len ? Z_FINISH : Z_NO_FLUSH);
        out->len += room - zs.avail_out;
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            deflateEnd(&zs);
            return SL_ERR_IO;
        }
    }
    deflateEnd(&zs);
    return SL_OK;
}

void http_header_value(char *out, size_t outlen, const char *p, size_t n)
{
    size_t a = 0, b = n;
    while (a < b && (p[a] == ' ' || p[a] == '\t'))
        a++;
    while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' || p[b - 1] == ' ' ||
                     p[b - 1] == '\t'))
        b--;
    if (!outlen)
        return;
    size_t k = SL_MIN(b - a, outlen - 1);
    memcpy(out, p + a, k);
    out[k] = '\0';
}

void http_answer_excerpt(char *out, size_t outlen, long status, const char *location,
                         const char *body, size_t n)
{
    /* A redirect's body is usually empty or boilerplate: where it points is what tells a
     * user that the endpoint wants https, a trailing slash or another host. */
    if (status >= 300 && status < 400 && location && location[0]) {
        char loc[200];
        log_excerpt(loc, sizeof loc, location, strlen(location));
        snprintf(out, outlen, "redirect to %s, not followed: set the endpoint to it", loc);
        return;
    }
    log_excerpt(out, outlen, body, n);
}

int64_t http_parse_retry_after(const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    if (!*v)
        return 0;
    if (isdigit((unsigned char)*v)) {
        char *end;
        unsigned long long sec = strtoull(v, &end, 10);
        while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
            end++;
        if (*end)
            return 0;
        if (sec > 86400)
            sec = 86400; /* a server asking for more than a day is not taken literally */
        return (int64_t)sec * 1000;
    }
    /* An HTTP date (RFC 9110 5.6.7: IMF-fixdate, then the obsolete RFC 850 and asctime
     * forms), parsed here rather than by curl_getdate: the sinks' own client must not load
     * libcurl for it. */
    static const char *const forms[] = {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                        "%a %b %e %H:%M:%S %Y"};
    time_t when = 0;
    for (size_t i = 0; i < sizeof forms / sizeof *forms && when <= 0; i++) {
        struct tm tm = {0};
        const char *end = strptime(v, forms[i], &tm);
        while (end && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
            end++;
        if (end && !*end)
            when = timegm(&tm);
    }
    if (when <= 0)
        return 0;
    int64_t ms = ((int64_t)when * 1000) - sl_now_ns() / 1000000;
    if (ms <= 0)
        return 0;
    return ms > 86400000 ? 86400000 : ms;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *arg)
{
    http_response *r = arg;
    size_t n = size * nmemb;
    size_t room = r->body.len < HTTP_MAX_BODY ? HTTP_MAX_BODY - r->body.len : 0;
    buf_append(&r->body, p, n < room ? n : room);
    return n;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
    http_response *r = arg;
    size_t n = size * nmemb;
    if (n > 5 && memcmp(p, "HTTP/", 5) == 0) {
        r->retry_after_ms = 0; /* a new response (after 100 Continue or a redirect) */
        r->location[0] = '\0';
    } else if (n > 9 && strncasecmp(p, "Location:", 9) == 0) {
        http_header_value(r->location, sizeof r->location, p + 9, n - 9);
    } else if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t len = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, len);
        v[len] = '\0';
        r->retry_after_ms = http_parse_retry_after(v);
    }
    return n;
}

/* libcurl calls it about once a second, and on every transfer step: non-zero aborts. */
static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    return atomic_load((const atomic_bool *)ud) ? 1 : 0;
}

/* The request through net/http_conn.h; same results as the libcurl path. */
static int own_do(http_client *c, const http_request *req, http_response *resp)
{
    sl_buf gz = {0};
    const char **hdrs = sl_xmalloc((req->nheaders + 1) * sizeof *hdrs);
    size_t nh = 0;
    for (size_t i = 0; i < req->nheaders; i++)
        hdrs[nh++] = req->headers[i];
    bool get = req->method && strcmp(req->method, "GET") == 0;
    http_mreq mr = {
        .method = req->method,
        .url = req->url,
        .body = req->body,
        .body_len = req->body_len,
        .timeout_ms = req->timeout_ms,
        .user = req->user,
        .password = req->password,
        .ca_file = req->ca_file,
        .cert_file = req->cert_file,
        .key_file = req->key_file,
        .insecure = req->insecure,
        .cancel = req->cancel,
    };
    if (req->gzip && !get) {
        if (http_gzip(req->body, req->body_len, 1, &gz) != SL_OK) {
            free(hdrs);
            buf_free(&gz);
            return sl_seterr(resp->error, sizeof resp->error, SL_ERR_IO, "gzip failed");
        }
        mr.body = gz.p;
        mr.body_len = gz.len;
        hdrs[nh++] = "Content-Encoding: gzip";
    }
    mr.headers = hdrs;
    mr.nheaders = nh;
    http_mresp mresp;
    memset(&mresp, 0, sizeof mresp);
    mresp.body = resp->body; /* lent for the call, handed back below */
    int rc = http_conn_do(c->pool, &mr, &mresp);
    resp->body = mresp.body;
    resp->status = mresp.status;
    resp->retry_after_ms = mresp.retry_after_ms;
    memcpy(resp->location, mresp.location, sizeof resp->location);
    snprintf(resp->error, sizeof resp->error, "%s", mresp.error);
    free(hdrs);
    buf_free(&gz);
    return rc;
}

int http_client_do(http_client *c, const http_request *req, http_response *resp)
{
    resp->status = 0;
    resp->retry_after_ms = 0;
    resp->error[0] = '\0';
    resp->location[0] = '\0';
    buf_reset(&resp->body);
    if (http_conn_handles(c->pool, req->url))
        return own_do(c, req, resp);
    http_thread *t = thread_get(c);
    if (!t) {
        if (lazylib_load(&lazy_curl, resp->error, sizeof resp->error) != SL_OK)
            return SL_ERR_NOTFOUND; /* libcurl is not linked and could not be loaded */
        return sl_seterr(resp->error, sizeof resp->error, SL_ERR_NOMEM, "curl_easy_init failed");
    }
    CURL *h = t->h;
    /* reset keeps the connection cache: the next request reuses the socket */
    curl_easy_reset(h);

    const char *body = req->body;
    size_t body_len = req->body_len;
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        hdrs = curl_slist_append(hdrs, req->headers[i]);
    if (req->gzip) {
        if (http_gzip(req->body, req->body_len, 1, &t->gz) != SL_OK) {
            curl_slist_free_all(hdrs);
            return sl_seterr(resp->error, sizeof resp->error, SL_ERR_IO, "gzip failed");
        }
        body = t->gz.p;
        body_len = t->gz.len;
        hdrs = curl_slist_append(hdrs, "Content-Encoding: gzip");
    }
    /* No "Expect: 100-continue" round trip before large bodies. */
    hdrs = curl_slist_append(hdrs, "Expect:");

    char errbuf[CURL_ERROR_SIZE] = "";
    const char *method = req->method ? req->method : "POST";
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, ""); /* any the library decodes */
    int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout < 10000 ? timeout : 10000));
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    if (req->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, req->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    if (req->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file);
    if (req->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, req->cert_file);
    if (req->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, req->key_file);
    if (req->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->cancel) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)req->cancel);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, resp);

    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    /* Don't pin a huge compressed body per thread. */
    if (t->gz.cap > (16u << 20))
        buf_free(&t->gz);
    if (rc == CURLE_ABORTED_BY_CALLBACK && req->cancel && atomic_load(req->cancel)) {
        resp->status = 0;
        return sl_seterr(resp->error, sizeof resp->error, SL_ERR_CLOSED, "cancelled");
    }
    if (rc != CURLE_OK) {
        resp->status = 0;
        return sl_seterr(resp->error, sizeof resp->error,
                         rc == CURLE_OPERATION_TIMEDOUT ? SL_ERR_TIMEOUT : SL_ERR_IO, "%s%s%s",
                         curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    return SL_OK;
}

/* ---- Shared option table and header lists ------------------------------------------------ */

const sl_option http_tls_options[] = {
    {"ca_file", SL_OPT_STR, offsetof(http_tls_config, ca_file), NULL, 0, NULL, NULL, 0, 0,
     "PEM file of CAs to trust instead of the system store"},
    {"cert_file", SL_OPT_STR, offsetof(http_tls_config, cert_file), NULL, 0, NULL, NULL, 0, 0,
     "client certificate (PEM)"},
    {"key_file", SL_OPT_STR, offsetof(http_tls_config, key_file), NULL, 0, NULL, NULL, 0, 0,
     "client private key (PEM)"},
    {"verify", SL_OPT_BOOL, offsetof(http_tls_config, verify), "true", 0, NULL, NULL, 0, 0,
     "verify the server certificate and host name (false: tests only)"},
    SL_OPT_END,
};

const sl_option http_auth_options[] = {
    {"user", SL_OPT_STR, offsetof(http_auth_config, user), NULL, 0, NULL, NULL, 0, 0,
     "basic auth user"},
    {"password", SL_OPT_STR, offsetof(http_auth_config, password), NULL, 0, NULL, NULL, 0, 0,
     "basic auth password"},
    {"bearer", SL_OPT_STR, offsetof(http_auth_config, bearer), NULL, 0, NULL, NULL, 0, 0,
     "bearer token (Authorization: Bearer ...)"},
    SL_OPT_END,
};

int http_tls_check(const http_tls_config *t, bool check_only, char *err, size_t errlen)
{
    if (check_only)
        return SL_OK;
    const char *files[3][2] = {{"ca_file", t->ca_file}, {"cert_file", t->cert_file},
                               {"key_file", t->key_file}};
    for (int i = 0; i < 3; i++)
        if (files[i][1] && access(files[i][1], R_OK) != 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls.%s: \"%s\": %s", files[i][0],
                             files[i][1], strerror(errno));
    if (t->key_file && !t->cert_file)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls.key_file: needs tls.cert_file");
    return SL_OK;
}

int http_auth_check(const http_auth_config *a, const char *id, char *err, size_t errlen)
{
    if (a->bearer && a->user)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: auth takes either user/password or bearer, not both", id);
    if (a->password && !a->user)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: auth.password needs auth.user", id);
    return SL_OK;
}

void http_headers_add(http_headers *h, const char *name, const char *value)
{
    size_t len = strlen(name) + strlen(value) + 3;
    char *line = sl_xmalloc(len);
    snprintf(line, len, "%s: %s", name, value);
    h->v = sl_xrealloc(h->v, (h->n + 1) * sizeof *h->v);
    h->v[h->n++] = line;
}

void http_headers_add_bearer(http_headers *h, const char *token)
{
    size_t len = strlen(token) + 8;
    char *v = sl_xmalloc(len);
    snprintf(v, len, "Bearer %s", token);
    http_headers_add(h, "Authorization", v);
    free(v);
}

void http_api_key_header(sl_buf *out, const char *api_key)
{
    buf_puts(out, "Authorization: ApiKey ");
    if (strchr(api_key, ':'))
        buf_base64(out, api_key, strlen(api_key));
    else
        buf_puts(out, api_key);
}

void http_headers_free(http_headers *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->v[i]);
    free(h->v);
    h->v = NULL;
    h->n = 0;
}

int http_headers_from_options(http_headers *h, const sl_strmap *m, bool *has_content_type,
                              char *err, size_t errlen)
{
    *has_content_type = false;
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->keys[i], *v = m->vals[i];
        if (!k[0] || strpbrk(k, ": \t\r\n") || strpbrk(v, "\r\n"))
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "invalid header \"%s\"", k);
        *has_content_type |= strcasecmp(k, "Content-Type") == 0;
        http_headers_add(h, k, v);
    }
    return SL_OK;
}
