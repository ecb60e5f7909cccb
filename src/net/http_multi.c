/* http_multi.c - HTTP requests for every HTTP sink: run on the calling thread by the
 * client of net/http_conn.h, or, for what that client leaves to libcurl (a proxy applies,
 * user information in the URL), by a libcurl multi handle on one loop thread. Workers
 * submit those jobs through a locked queue and curl_multi_wakeup; the loop adds them,
 * drives every transfer and signals each job's condition when it completes.
 *
 * Notes on the design
 *  0. The loop thread, and libcurl itself, start with the first request that needs them:
 *     a pipeline whose requests all go straight to the socket never loads libcurl. The
 *     own client saves what the loop cost per request (libcurl's copy of the body into its
 *     upload buffer, two context switches, libcurl's own bookkeeping).
 *
 *  1. A job lives on the submitting thread's stack; the loop only touches it between
 *     submission and `done`, and the submitter waits for `done` before returning, so a job
 *     never outlives its request.
 *  2. Easy handles are pooled (reset before reuse) and the multi handle keeps the
 *     connection cache, so keep-alive connections survive from one request to the next
 *     whatever worker sent them.
 *  3. The loop never blocks on anything but curl_multi_poll; callbacks only copy bytes or
 *     hand them to the caller's streaming parser.
 *  4. At shutdown every queued or running job is completed with SL_ERR_CLOSED. */
#include "http_multi.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "core/common.h"
#include "core/lazylib.h"
#include "net/http_client.h"
#include "net/http_conn.h"

#define HM_MAX_BODY (64u << 20)
#define HM_POOL_MAX 64

typedef struct hm_job {
    const http_mreq *req;
    http_mresp *resp;
    CURL *easy;
    struct curl_slist *hdrs;
    int rc;
    bool done;
    char errbuf[CURL_ERROR_SIZE]; /* libcurl's detail (e.g. the TLS alert) */
    pthread_cond_t cv;
    struct hm_job *next;          /* submit queue */
    struct hm_job *rprev, *rnext; /* running list (loop thread only) */
} hm_job;

struct http_multi {
    http_conn_pool *conns;      /* requests on the caller's thread */
    CURLM *cm;                  /* NULL until the loop started (under mu) */
    pthread_t th;
    pthread_mutex_t mu;
    hm_job *queue, *queue_tail; /* submitted, not yet added (under mu) */
    bool stop;
    int inflight;               /* under mu */
    CURL *pool[HM_POOL_MAX];    /* loop thread only */
    int npool;
    hm_job *running;            /* added to the multi handle (loop thread only) */
};

/* A transfer that failed because of TLS: the handshake, the server's certificate, or an
 * alert the server sent after it (e.g. a client certificate it requires or refuses). */
static bool hm_tls_failure(CURLcode res, const char *detail)
{
    switch (res) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CRL_BADFILE:
        return true;
    default:
        return strstr(detail, "SSL") != NULL || strstr(detail, "alert") != NULL;
    }
}

static pthread_once_t hm_once = PTHREAD_ONCE_INIT;
static void hm_global(void) { curl_global_init(CURL_GLOBAL_ALL); }

static size_t hm_write(char *p, size_t sz, size_t nm, void *ud)
{
    hm_job *j = ud;
    size_t n = sz * nm;
    if (j->req->on_data) {
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->resp->status);
        return j->req->on_data(j->req->arg, p, n) == 0 ? n : 0;
    }
    size_t room = HM_MAX_BODY > j->resp->body.len ? HM_MAX_BODY - j->resp->body.len : 0;
    buf_append(&j->resp->body, p, SL_MIN(n, room));
    return n;
}

/* libcurl calls it about once a second, and on every transfer step: non-zero aborts. */
static int hm_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    const hm_job *j = ud;
    return atomic_load(j->req->cancel) ? 1 : 0;
}

static size_t hm_header(char *p, size_t sz, size_t nm, void *ud)
{
    hm_job *j = ud;
    size_t n = sz * nm;
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[64];
        size_t k = SL_MIN(n - 12, sizeof v - 1);
        memcpy(v, p + 12, k);
        v[k] = '\0';
        j->resp->retry_after_ms = http_parse_retry_after(v);
    } else if (n > 5 && strncasecmp(p, "ETag:", 5) == 0) {
        http_header_value(j->resp->etag, sizeof j->resp->etag, p + 5, n - 5);
    } else if (n > 9 && strncasecmp(p, "Location:", 9) == 0) {
        http_header_value(j->resp->location, sizeof j->resp->location, p + 9, n - 9);
    }
    return n;
}

static void hm_finish(http_multi *m, hm_job *j, int rc)
{
    if (j->rprev || j->rnext || m->running == j) {
        if (j->rprev)
            j->rprev->rnext = j->rnext;
        else
            m->running = j->rnext;
        if (j->rnext)
            j->rnext->rprev = j->rprev;
        j->rprev = j->rnext = NULL;
    }
    if (j->hdrs)
        curl_slist_free_all(j->hdrs);
    j->hdrs = NULL;
    if (j->easy) {
        if (m->npool < HM_POOL_MAX)
            m->pool[m->npool++] = j->easy;
        else
            curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    pthread_mutex_lock(&m->mu);
    j->rc = rc;
    j->done = true;
    m->inflight--;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&m->mu);
}

/* libcurl copies a body into its upload buffer (64 KiB by default) and sends it one buffer
 * at a time: a 1 MiB bulk piece took 16 send calls, each a trip through the loopback or
 * network stack. A bigger body gets a buffer that takes it in one or two sends. */
#define HM_UPLOAD_SMALL (64 * 1024)
#define HM_UPLOAD_BIG (2L * 1024 * 1024)

/* Builds the easy handle for a job; loop thread. */
static int hm_setup(http_multi *m, hm_job *j)
{
    const http_mreq *r = j->req;
    CURL *h = m->npool ? m->pool[--m->npool] : curl_easy_init();
    if (!h)
        return SL_ERR_NOMEM;
    curl_easy_reset(h);
    j->easy = h;
    curl_easy_setopt(h, CURLOPT_URL, r->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, j);
    j->errbuf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(r->timeout_ms > 0 ? r->timeout_ms : 30000));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)SL_MIN(r->timeout_ms > 0 ? r->timeout_ms : 30000, 10000));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hm_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, hm_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (r->cancel) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, hm_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, j);
    }
    const char *method = r->method ? r->method : "POST";
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        if (r->body_len > HM_UPLOAD_SMALL)
            curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)HM_UPLOAD_BIG);
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    for (size_t i = 0; i < r->nheaders; i++)
        j->hdrs = curl_slist_append(j->hdrs, r->headers[i]);
    j->hdrs = curl_slist_append(j->hdrs, "Expect:"); /* no 100-continue round trip */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, j->hdrs);
    if (r->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
    if (r->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, r->ca_file);
    if (r->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, r->cert_file);
    if (r->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, r->key_file);
    if (r->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (curl_multi_add_handle(m->cm, h) != CURLM_OK)
        return SL_ERR_IO;
    j->rnext = m->running;
    if (m->running)
        m->running->rprev = j;
    m->running = j;
    return SL_OK;
}

static void *hm_loop(void *arg)
{
    http_multi *m = arg;
    for (;;) {
        pthread_mutex_lock(&m->mu);
        bool stop = m->stop;
        hm_job *q = m->queue;
        m->queue = m->queue_tail = NULL;
        pthread_mutex_unlock(&m->mu);
        for (hm_job *j = q, *next; j; j = next) {
            next = j->next;
            if (stop) {
                snprintf(j->resp->error, sizeof j->resp->error, "client stopped");
                hm_finish(m, j, SL_ERR_CLOSED);
                continue;
            }
            int rc = hm_setup(m, j);
            if (rc != SL_OK) {
                snprintf(j->resp->error, sizeof j->resp->error, "cannot start request: %s",
                         sl_strerror(rc));
                if (j->easy)
                    curl_multi_remove_handle(m->cm, j->easy);
                hm_finish(m, j, rc);
            }
        }
        int running = 0;
        curl_multi_perform(m->cm, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m->cm, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *h = msg->easy_handle;
            CURLcode res = msg->data.result;
            hm_job *j = NULL;
            curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
            curl_multi_remove_handle(m->cm, h);
            if (!j)
                continue;
            int rc = SL_OK;
            if (res == CURLE_OK) {
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->resp->status);
            } else {
                j->resp->status = 0;
                /* The detail names the cause (a TLS alert, a refused certificate). */
                if (j->errbuf[0])
                    snprintf(j->resp->error, sizeof j->resp->error, "%s", j->errbuf);
                else
                    snprintf(j->resp->error, sizeof j->resp->error, "%s", curl_easy_strerror(res));
                j->resp->tls = hm_tls_failure(res, j->errbuf);
                rc = res == CURLE_OPERATION_TIMEDOUT ? SL_ERR_TIMEOUT : SL_ERR_IO;
                if (res == CURLE_ABORTED_BY_CALLBACK && j->req->cancel &&
                    atomic_load(j->req->cancel))
                    rc = SL_ERR_CLOSED;
            }
            hm_finish(m, j, rc);
        }
        if (stop) {
            /* Fail whatever is still running; its submitters are waiting. */
            while (m->running) {
                hm_job *j = m->running;
                curl_multi_remove_handle(m->cm, j->easy);
                j->resp->status = 0;
                snprintf(j->resp->error, sizeof j->resp->error, "client stopped");
                hm_finish(m, j, SL_ERR_CLOSED);
            }
            return NULL;
        }
        curl_multi_poll(m->cm, NULL, 0, 1000, NULL);
    }
}

http_multi *http_multi_new(char *err, size_t errlen)
{
    http_multi *m = sl_xcalloc(1, sizeof *m);
    m->conns = http_conn_pool_new();
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

/* Loads libcurl and starts the loop thread, once; under m->mu. */
static int hm_start_loop(http_multi *m, char *err, size_t errlen)
{
    if (m->cm)
        return SL_OK;
    if (lazylib_load(&lazy_curl, err, errlen) != SL_OK) /* libcurl is not linked */
        return SL_ERR_IO;
    pthread_once(&hm_once, hm_global);
    m->cm = curl_multi_init();
    if (!m->cm)
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "cannot create a curl multi handle");
    curl_multi_setopt(m->cm, CURLMOPT_MAXCONNECTS, 64L);
    if (pthread_create(&m->th, NULL, hm_loop, m) != 0) {
        curl_multi_cleanup(m->cm);
        m->cm = NULL;
        return sl_seterr(err, errlen, SL_ERR_IO, "cannot start the HTTP loop thread");
    }
    sl_thread_name(m->th, "http", NULL);
    return SL_OK;
}

void http_multi_free(http_multi *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->stop = true;
    bool loop = m->cm != NULL;
    pthread_mutex_unlock(&m->mu);
    if (loop) {
        curl_multi_wakeup(m->cm);
        pthread_join(m->th, NULL);
        /* Jobs submitted after the loop ended are completed here. */
        pthread_mutex_lock(&m->mu);
        hm_job *q = m->queue;
        m->queue = m->queue_tail = NULL;
        pthread_mutex_unlock(&m->mu);
        for (hm_job *j = q, *next; j; j = next) {
            next = j->next;
            snprintf(j->resp->error, sizeof j->resp->error, "client stopped");
            hm_finish(m, j, SL_ERR_CLOSED);
        }
        for (int i = 0; i < m->npool; i++)
            curl_easy_cleanup(m->pool[i]);
        curl_multi_cleanup(m->cm);
    }
    http_conn_pool_free(m->conns);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

int http_multi_do(http_multi *m, const http_mreq *req, http_mresp *resp)
{
    resp->status = 0;
    resp->retry_after_ms = 0;
    resp->error[0] = '\0';
    resp->etag[0] = '\0';
    resp->location[0] = '\0';
    resp->tls = false;
    buf_reset(&resp->body);
    bool own = http_conn_handles(m->conns, req->url);
    pthread_mutex_lock(&m->mu);
    int rc = m->stop ? SL_ERR_CLOSED : own ? SL_OK : hm_start_loop(m, resp->error, sizeof resp->error);
    if (rc != SL_OK) {
        pthread_mutex_unlock(&m->mu);
        if (rc == SL_ERR_CLOSED)
            snprintf(resp->error, sizeof resp->error, "client stopped");
        return rc;
    }
    m->inflight++;
    pthread_mutex_unlock(&m->mu);
    if (own) {
        rc = http_conn_do(m->conns, req, resp);
        pthread_mutex_lock(&m->mu);
        m->inflight--;
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    hm_job j;
    memset(&j, 0, sizeof j);
    j.req = req;
    j.resp = resp;
    pthread_cond_init(&j.cv, NULL);
    pthread_mutex_lock(&m->mu);
    if (m->queue_tail)
        m->queue_tail->next = &j;
    else
        m->queue = &j;
    m->queue_tail = &j;
    pthread_mutex_unlock(&m->mu);
    curl_multi_wakeup(m->cm);
    pthread_mutex_lock(&m->mu);
    while (!j.done)
        pthread_cond_wait(&j.cv, &m->mu);
    pthread_mutex_unlock(&m->mu);
    pthread_cond_destroy(&j.cv);
    return j.rc;
}

int http_multi_inflight(http_multi *m)
{
    pthread_mutex_lock(&m->mu);
    int n = m->inflight;
    pthread_mutex_unlock(&m->mu);
    return n;
}

http_multi *http_multi_lazy(_Atomic(http_multi *) *slot, pthread_mutex_t *mu, char *err,
                            size_t errlen)
{
    http_multi *h = atomic_load(slot);
    if (h)
        return h;
    pthread_mutex_lock(mu);
    h = atomic_load(slot);
    if (!h) {
        h = http_multi_new(err, errlen);
        atomic_store(slot, h);
    }
    pthread_mutex_unlock(mu);
    return h;
}
