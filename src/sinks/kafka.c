/* kafka.c - the `kafka` sink: each event one message, produced with librdkafka.
 *
 * Notes on the design
 *  1. One producer per sink, shared by the runtime's workers (librdkafka is thread-safe).
 *     A send produces its events, then polls until every one of them has its delivery
 *     report: the request is delivered only when every report is OK. The reports carry a
 *     pointer to the request's slot for that event (msg opaque), so concurrent requests
 *     never see each other's outcomes; whichever thread polls runs the callbacks.
 *  2. Outcomes per event (kafka_err_item_status): OK, RETRY (leaders moving, brokers down,
 *     message.timeout.ms passed, queue full) or REJECT (too large, invalid, topic refused
 *     or missing); all alike is a whole-request OK/RETRY, a mix is PARTIAL. librdkafka
 *     guarantees a report for every message within message.timeout.ms, so a send always
 *     ends. A topic the cluster does not have is waited for topic_wait (librdkafka's
 *     topic.metadata.propagation.max.ms), kept under message.timeout.ms so that it ends
 *     as _UNKNOWN_TOPIC (rejected: one bad value of a topic template would otherwise be
 *     retried forever and hold the sink) and not as a time-out (retried).
 *  3. Idempotent producer with acks=all by default: librdkafka's own retries never
 *     duplicate or reorder inside one producer session; a request the runtime retries
 *     after a RETRY report may (at-least-once). Every message of an event with a stable
 *     id carries it in the KAFKA_ID_HEADER header so consumers can drop those duplicates
 *     (an event without one goes without: a consumer then names it by its offset).
 *  4. Memory is bounded: librdkafka's queue is capped by `max_queue_bytes`; a produce that
 *     finds it full polls and tries again, so the queue never holds more than the bound
 *     and the workers block (the sink's buffer then fills: backpressure).
 *  5. A fatal producer error (the idempotent producer lost its sequence state) fails the
 *     request (RETRY) and the producer is rebuilt before the next send, under a write lock
 *     that sends hold for reading.
 *  6. The broker refuses a record batch over the topic's max.message.bytes as a whole:
 *     every message in it reports MSG_SIZE_TOO_LARGE, however small. librdkafka does not
 *     split the batch, so when several messages of a request report it, the send produces
 *     each of them alone, waiting for its report: only one too large by itself is
 *     rejected. The request is marked too_large, so the adaptive batch target shrinks and
 *     the next requests (the batches librdkafka makes of them) are smaller.
 *  7. At the stop deadline (res.cancel) a send stops waiting out message.timeout.ms: it
 *     purges what librdkafka still holds (queued or in flight; the producer is shared, but
 *     every send of the sink sees the same deadline), whose reports then come at once as
 *     _PURGE_QUEUE / _PURGE_INFLIGHT and are retried, i.e. left unacknowledged. Waiting
 *     for those reports keeps the slots alive until no callback can reach them. A message
 *     purged in flight may have reached the broker: a duplicate at the next start.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "formats/json.h"
#include "net/kafka.h"
#include "net/redis.h"

enum { KSINK_ENC_JSON = 0, KSINK_ENC_RAW = 1 };
static const char *const ksink_encodings[] = {"json", "raw", NULL};
static const char *const ksink_compressions[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
static const char *const ksink_acks[] = {"all", "1", "0", NULL};

typedef struct ksink_config {
    kafka_conn_config conn;
    char *topic, *key;
    sl_strmap headers;
    int compression, acks, encoding;
    bool idempotent;
    int64_t message_timeout_ms, topic_wait_ms;
    uint64_t max_queue_bytes;
} ksink_config;

static const sl_option ksink_options[] = {
    KAFKA_CONN_OPTIONS(ksink_config, conn),
    {"topic", SL_OPT_STR, offsetof(ksink_config, topic), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "topic; {{ field }} of the event (e.g. logs-{{ kubernetes.namespace }}), missing = unknown"},
    {"key", SL_OPT_STR, offsetof(ksink_config, key), NULL, 0, NULL, NULL, 0, 0,
     "message key template (default: the stream of the event's stable id, so a stream stays in "
     "one partition, none for an event without an id; \"\" = no key)"},
    {"headers", SL_OPT_STRMAP, offsetof(ksink_config, headers), NULL, 0, NULL, NULL, 0, 0,
     "extra headers, name: value template (" KAFKA_ID_HEADER " carries the event's id, when it "
     "has one)"},
    {"compression", SL_OPT_ENUM, offsetof(ksink_config, compression), "none", 0,
     ksink_compressions, NULL, 0, 0, "none, gzip, snappy, lz4 or zstd"},
    {"acks", SL_OPT_ENUM, offsetof(ksink_config, acks), "all", 0, ksink_acks, NULL, 0, 0,
     "all (every in-sync replica), 1 (the leader) or 0 (none; needs idempotent: false)"},
    {"idempotent", SL_OPT_BOOL, offsetof(ksink_config, idempotent), "true", 0, NULL, NULL, 0, 0,
     "idempotent producer: librdkafka's retries neither duplicate nor reorder"},
    {"encoding", SL_OPT_ENUM, offsetof(ksink_config, encoding), "json", 0, ksink_encodings, NULL,
     0, 0, "json: the event as JSON; raw: its message only"},
    {"message_timeout", SL_OPT_DURATION, offsetof(ksink_config, message_timeout_ms), "30s", 0,
     NULL, NULL, 1000, 3600000, "how long librdkafka tries one message before it is retried"},
    {"topic_wait", SL_OPT_DURATION, offsetof(ksink_config, topic_wait_ms), "10s", 0, NULL,
     NULL, 0, 3600000,
     "how long a topic the cluster does not have is waited for (at most half of "
     "message_timeout); then its events are dead-lettered"},
    {"max_queue_bytes", SL_OPT_SIZE, offsetof(ksink_config, max_queue_bytes), "16MiB", 0, NULL,
     NULL, 1 << 20, (int64_t)1 << 31, "librdkafka's send queue bound (backpressure beyond it)"},
    SL_OPT_END,
};

typedef struct ksink ksink;

/* One send's delivery state (note 1). */
typedef struct kreq {
    atomic_size_t pending;
    rd_kafka_resp_err_t *errs; /* n entries */
} kreq;

typedef struct kslot {
    kreq *r;
    size_t i;
} kslot;

struct ksink {
    const ksink_config *cfg;
    const sl_component_ctx *cc;
    redis_key_tmpl topic, key;
    redis_key_tmpl *hdr; /* one per headers entry */
    bool has_key;
    rd_kafka_t *rk;
    pthread_rwlock_t lk;      /* note 5: sends read, a rebuild writes */
    atomic_bool rebuild;
    atomic_llong last_log_ms;
};

static void ksink_log(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    ksink *s = rd_kafka_opaque(rk);
    kafka_log(s->cc->id, level, fac, msg);
}

static void ksink_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ksink *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL)
        atomic_store(&s->rebuild, true);
    metrics_error(s->cc->metrics, err == RD_KAFKA_RESP_ERR__FATAL ? "fatal" : "connection");
    int64_t now = sl_mono_ms();
    if (now - atomic_load(&s->last_log_ms) >= 5000) {
        atomic_store(&s->last_log_ms, now);
        log_warn(s->cc->id, "kafka: %s: %s", rd_kafka_err2name(err), reason);
    }
}

static void ksink_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kslot *slot = m->_private;
    if (!slot)
        return;
    slot->r->errs[slot->i] = m->err;
    atomic_fetch_sub(&slot->r->pending, 1);
}

/* Builds the producer from the config into *out (checked: every property librdkafka
 * refuses is a config error naming it); check_only, the properties alone (*out NULL).
 * Returns SL_OK or SL_ERR_CONFIG. */
static int ksink_producer(ksink *s, rd_kafka_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const ksink_config *c = s->cfg;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char v[64];
    int rc = kafka_conf_set(conf, "client.id", "sluice", err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "enable.idempotence", c->idempotent ? "true" : "false", err,
                            errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "acks", ksink_acks[c->acks], err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "compression.codec", ksink_compressions[c->compression], err,
                            errlen);
    snprintf(v, sizeof v, "%lld", (long long)c->message_timeout_ms);
    if (!rc)
        rc = kafka_conf_set(conf, "message.timeout.ms", v, err, errlen);
    /* Note 2: the verdict on a missing topic must come before the message times out. */
    snprintf(v, sizeof v, "%lld",
             (long long)SL_MIN(c->topic_wait_ms, c->message_timeout_ms / 2));
    if (!rc)
        rc = kafka_conf_set(conf, "topic.metadata.propagation.max.ms", v, err, errlen);
    snprintf(v, sizeof v, "%llu", (unsigned long long)(c->max_queue_bytes / 1024));
    if (!rc)
        rc = kafka_conf_set(conf, "queue.buffering.max.kbytes", v, err, errlen);
    if (!rc)
        rc = kafka_conf_apply(conf, &c->conn, err, errlen);
    if (rc || s->cc->check_only) { /* check_only: no client, no connection */
        rd_kafka_conf_destroy(conf);
        return rc ? SL_ERR_CONFIG : SL_OK;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_log_cb(conf, ksink_log);
    rd_kafka_conf_set_error_cb(conf, ksink_error);
    rd_kafka_conf_set_dr_msg_cb(conf, ksink_dr);
    char why[512];
    *out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s", why);
    }
    return SL_OK;
}

static void ksink_destroy(void *self);

static int ksink_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    const ksink_config *cfg = config;
    /* librdkafka is loaded here, not linked (rdkafka_lazy.c) */
    char e2[300];
    if (lazylib_load(&lazy_rdkafka, e2, sizeof e2) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_NOTFOUND, "needs librdkafka: %s", e2);
    ksink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->lk, &a);
    pthread_rwlockattr_destroy(&a);
    s->hdr = sl_xcalloc(cfg->headers.n + 1, sizeof *s->hdr);
    char why[256];
    if (cfg->idempotent && cfg->acks != 0) {
        sl_seterr(err, errlen, SL_ERR_CONFIG,
                  "acks: an idempotent producer needs acks: all (or set idempotent: false)");
        goto fail;
    }
    if (!cfg->topic[0]) {
        sl_seterr(err, errlen, SL_ERR_CONFIG, "topic: must not be empty");
        goto fail;
    }
    if (redis_key_compile(&s->topic, cfg->topic, why, sizeof why) != 0) {
        sl_seterr(err, errlen, SL_ERR_CONFIG, "topic: %s", why);
        goto fail;
    }
    s->has_key = !cfg->key || cfg->key[0];
    if (cfg->key && cfg->key[0] && redis_key_compile(&s->key, cfg->key, why, sizeof why) != 0) {
        sl_seterr(err, errlen, SL_ERR_CONFIG, "key: %s", why);
        goto fail;
    }
    for (size_t i = 0; i < cfg->headers.n; i++) {
        if (strcmp(cfg->headers.keys[i], KAFKA_ID_HEADER) == 0) {
            sl_seterr(err, errlen, SL_ERR_CONFIG,
                      "headers: %s is set by the sink (the event's stable id)", KAFKA_ID_HEADER);
            goto fail;
        }
        if (redis_key_compile(&s->hdr[i], cfg->headers.vals[i], why, sizeof why) != 0) {
            sl_seterr(err, errlen, SL_ERR_CONFIG, "headers.%s: %s", cfg->headers.keys[i], why);
            goto fail;
        }
    }
    if (ksink_producer(s, &s->rk, err, errlen) != SL_OK)
        goto fail;
    *self = s;
    return SL_OK;
fail:
    ksink_destroy(s);
    return SL_ERR_CONFIG;
}

/* Note 5: a fatal error poisons the producer; the next send makes a new one. */
static void ksink_maybe_rebuild(ksink *s)
{
    if (!atomic_load(&s->rebuild))
        return;
    pthread_rwlock_wrlock(&s->lk);
    if (atomic_exchange(&s->rebuild, false)) {
        char why[512] = "";
        char fatal[256] = "";
        if (s->rk) {
            rd_kafka_fatal_error(s->rk, fatal, sizeof fatal);
            log_warn(s->cc->id, "kafka producer failed fatally (%s); starting a new one", fatal);
            rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_destroy(s->rk);
        }
        /* The same config built one at init; only resources can fail here: the sends
         * answer RETRY meanwhile and the next one tries again. */
        if (ksink_producer(s, &s->rk, why, sizeof why) != SL_OK) {
            log_warn(s->cc->id, "kafka producer: %s", why);
            atomic_store(&s->rebuild, true);
        }
    }
    pthread_rwlock_unlock(&s->lk);
}

static void ksink_render(const redis_key_tmpl *t, const sl_event *e, sl_buf *out)
{
    buf_reset(out);
    redis_key_render(t, e, out);
    buf_putc(out, '\0');
    out->len--;
}

/* One send's scratch buffers. */
typedef struct kscratch {
    sl_buf topic, key, val, id, hv;
} kscratch;

/* Produces one event with slot as its opaque (the delivery report's target). Returns
 * librdkafka's refusal (then no report comes) or NO_ERROR. A full queue waits (note 4). */
static rd_kafka_resp_err_t ksink_produce(ksink *s, const sl_event *e, kslot *slot,
                                         kscratch *b, const atomic_bool *cancel)
{
    ksink_render(&s->topic, e, &b->topic);
    /* An event without an id (http, stdin) goes without the header and the default key:
     * one id and one key for all of them would make consumers drop all but one as
     * duplicates and put every one in the same partition. */
    bool has_id = kafka_event_has_id(e);
    buf_reset(&b->id);
    if (has_id)
        kafka_format_id(&b->id, e);
    buf_reset(&b->key);
    if (s->cfg->key)
        ksink_render(&s->key, e, &b->key);
    else if (has_id)
        kafka_format_stream_key(&b->key, e);
    bool keyed = s->cfg->key ? s->has_key : has_id;
    buf_reset(&b->val);
    if (s->cfg->encoding == KSINK_ENC_RAW)
        buf_append(&b->val, e->message.ptr, e->message.len);
    else
        json_encode_event(&b->val, e);
    rd_kafka_headers_t *h = rd_kafka_headers_new(s->cfg->headers.n + 1);
    if (has_id)
        rd_kafka_header_add(h, KAFKA_ID_HEADER, -1, b->id.p, (ssize_t)b->id.len);
    for (size_t j = 0; j < s->cfg->headers.n; j++) {
        ksink_render(&s->hdr[j], e, &b->hv);
        rd_kafka_header_add(h, s->cfg->headers.keys[j], -1, b->hv.p, (ssize_t)b->hv.len);
    }
    int64_t ts_ms = e->ts_ns > 0 ? e->ts_ns / 1000000 : 0;
    rd_kafka_resp_err_t perr;
    for (;;) {
        /* The array form of rd_kafka_producev: the library is loaded on first use
         * (rdkafka_lazy.c), and a variadic call cannot be forwarded. */
        rd_kafka_vu_t vu[] = {
            {.vtype = RD_KAFKA_VTYPE_TOPIC, .u.cstr = b->topic.p},
            {.vtype = RD_KAFKA_VTYPE_MSGFLAGS, .u.i = RD_KAFKA_MSG_F_COPY},
            {.vtype = RD_KAFKA_VTYPE_VALUE, .u.mem = {b->val.p, b->val.len}},
            {.vtype = RD_KAFKA_VTYPE_KEY,
             .u.mem = {keyed ? (void *)b->key.p : NULL, keyed ? b->key.len : 0}},
            {.vtype = RD_KAFKA_VTYPE_HEADERS, .u.headers = h},
            {.vtype = RD_KAFKA_VTYPE_TIMESTAMP, .u.i64 = ts_ms},
            {.vtype = RD_KAFKA_VTYPE_OPAQUE, .u.ptr = slot},
        };
        rd_kafka_error_t *pe = rd_kafka_produceva(s->rk, vu, sizeof vu / sizeof vu[0]);
        perr = pe ? rd_kafka_error_code(pe) : RD_KAFKA_RESP_ERR_NO_ERROR;
        if (pe)
            rd_kafka_error_destroy(pe);
        if (perr != RD_KAFKA_RESP_ERR__QUEUE_FULL || (cancel && atomic_load(cancel)))
            break; /* a full queue at the stop deadline is a local refusal: retried */
        rd_kafka_poll(s->rk, 10); /* note 4: wait for room */
    }
    if (perr) {
        rd_kafka_headers_destroy(h);
        if (perr == RD_KAFKA_RESP_ERR__FATAL)
            atomic_store(&s->rebuild, true);
    }
    return perr;
}

/* The reason of an event refused for its topic names the topic: with a template, which
 * value was wrong is what the reader of the DLQ needs. The text lives in this thread's
 * buffer until its next send (item_reason's lifetime); consecutive events with the same
 * reason share it, and once the buffer is full the rest get librdkafka's text alone. */
static const char *ksink_topic_reason(const ksink *s, const sl_event *e,
                                      rd_kafka_resp_err_t err, sl_buf *topic, size_t *used,
                                      const char **last)
{
    static _Thread_local char why[4096];
    char one[512];
    ksink_render(&s->topic, e, topic);
    if (err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        snprintf(one, sizeof one, "kafka: topic \"%.*s\" does not exist in the cluster",
                 (int)SL_MIN(topic->len, 400), topic->p);
    else
        snprintf(one, sizeof one, "kafka: topic \"%.*s\": %s", (int)SL_MIN(topic->len, 400),
                 topic->p, rd_kafka_err2str(err));
    if (*last && strcmp(*last, one) == 0)
        return *last;
    size_t len = strlen(one) + 1;
    if (*used + len > sizeof why)
        return rd_kafka_err2str(err);
    memcpy(why + *used, one, len);
    *last = why + *used;
    *used += len;
    return *last;
}

/* Polls until every report of r came (note 1); at the stop deadline purges (note 7). */
static void ksink_wait(ksink *s, kreq *r, const atomic_bool *cancel)
{
    bool purged = false;
    while (atomic_load(&r->pending) > 0) {
        if (!purged && cancel && atomic_load(cancel)) {
            rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
        rd_kafka_poll(s->rk, 5);
    }
}

static int ksink_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    ksink *s = self;
    if (n == 0)
        return SL_OK;
    ksink_maybe_rebuild(s);
    pthread_rwlock_rdlock(&s->lk);
    if (!s->rk) {
        pthread_rwlock_unlock(&s->lk);
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "kafka: no producer");
        return SL_OK;
    }
    kreq r = {.errs = sl_xcalloc(n, sizeof *r.errs)};
    kslot *slots = sl_xmalloc(n * sizeof *slots);
    bool *local = sl_xcalloc(n, sizeof *local); /* refused by produce, no report */
    kscratch b = {0};
    atomic_store(&r.pending, n);
    for (size_t i = 0; i < n; i++) {
        slots[i] = (kslot){&r, i};
        rd_kafka_resp_err_t perr = ksink_produce(s, events[i], &slots[i], &b, res->cancel);
        if (perr) { /* no report will come for this one */
            r.errs[i] = perr;
            local[i] = true;
            atomic_fetch_sub(&r.pending, 1);
        }
    }
    ksink_wait(s, &r, res->cancel); /* note 1: every report of this request */
    /* Note 6: a batch the broker found too large, each of its messages alone. */
    size_t big = 0;
    for (size_t i = 0; i < n; i++)
        big += !local[i] && r.errs[i] == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE;
    for (size_t i = 0; big > 1 && i < n; i++) {
        if (local[i] || r.errs[i] != RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
            continue;
        r.errs[i] = RD_KAFKA_RESP_ERR_NO_ERROR;
        atomic_store(&r.pending, 1);
        rd_kafka_resp_err_t perr = ksink_produce(s, events[i], &slots[i], &b, res->cancel);
        if (perr) {
            r.errs[i] = perr;
            atomic_store(&r.pending, 0);
        }
        ksink_wait(s, &r, res->cancel);
    }
    if (big > 1) {
        res->too_large = true; /* smaller requests make smaller batches */
        metrics_count(s->cc->metrics, "batches_too_large", 1);
    }
    pthread_rwlock_unlock(&s->lk);

    size_t ok = 0, retry = 0, reject = 0, used = 0;
    const char *last = NULL;
    rd_kafka_resp_err_t first = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (size_t i = 0; i < n; i++) {
        int st = kafka_err_item_status(r.errs[i]);
        res->item_status[i] = (uint8_t)st;
        res->item_reason[i] = st == SL_ITEM_OK ? NULL : rd_kafka_err2str(r.errs[i]);
        if (st != SL_ITEM_OK && kafka_err_is_topic(r.errs[i]))
            res->item_reason[i] = ksink_topic_reason(s, events[i], r.errs[i], &b.topic, &used,
                                                     &last);
        if (st == SL_ITEM_OK)
            ok++;
        else if (st == SL_ITEM_REJECT)
            reject++;
        else
            retry++;
        if (st != SL_ITEM_OK && !first)
            first = r.errs[i];
        if (r.errs[i] == RD_KAFKA_RESP_ERR__FATAL)
            atomic_store(&s->rebuild, true);
    }
    if (retry)
        metrics_error(s->cc->metrics, "produce_retry");
    if (reject)
        metrics_error(s->cc->metrics, "produce_reject");
    if (ok == n) {
        res->status = SL_SEND_OK;
    } else if (retry == n) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "kafka: %s", rd_kafka_err2str(first));
    } else if (reject == n && n == 1) {
        res->status = SL_SEND_REJECT;
        if (kafka_err_is_topic(first))
            snprintf(res->reason, sizeof res->reason, "%s", res->item_reason[0]);
        else
            snprintf(res->reason, sizeof res->reason, "kafka: %s", rd_kafka_err2str(first));
    } else {
        res->status = SL_SEND_PARTIAL;
    }
    free(r.errs);
    free(slots);
    free(local);
    buf_free(&b.topic);
    buf_free(&b.key);
    buf_free(&b.val);
    buf_free(&b.id);
    buf_free(&b.hv);
    return SL_OK;
}

/* Serves the error and log callbacks while no request polls. */
static void ksink_tick(void *self)
{
    ksink *s = self;
    ksink_maybe_rebuild(s);
    pthread_rwlock_rdlock(&s->lk);
    if (s->rk)
        rd_kafka_poll(s->rk, 0);
    pthread_rwlock_unlock(&s->lk);
}

static void ksink_destroy(void *self)
{
    ksink *s = self;
    if (!s)
        return;
    if (s->rk) {
        /* Every send has returned: nothing of ours is queued; flush what librdkafka
         * itself still owes (none for a producer that is idle). */
        rd_kafka_flush(s->rk, 1000);
        rd_kafka_destroy(s->rk);
    }
    redis_key_free(&s->topic);
    redis_key_free(&s->key);
    for (size_t i = 0; s->hdr && i < s->cfg->headers.n; i++)
        redis_key_free(&s->hdr[i]);
    free(s->hdr);
    pthread_rwlock_destroy(&s->lk);
    free(s);
}

const sl_sink_vtable sl_sink_kafka = {
    .type = "kafka",
    .help = "Produces each event as one Kafka message (librdkafka), idempotent with acks=all; "
            "delivered once every delivery report is OK",
    .options = ksink_options,
    .config_size = sizeof(ksink_config),
    .init = ksink_init,
    .send = ksink_send,
    .tick = ksink_tick,
    .destroy = ksink_destroy,
};
