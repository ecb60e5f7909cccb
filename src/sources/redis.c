/* redis.c - the `redis` source: events taken from a Redis list or stream so that an item
 * leaves Redis only once every sink downstream has acknowledged its batch.
 *
 * Notes on the design
 *  1. List mode: BLMOVE key processing LEFT RIGHT <block> waits for the first item, then
 *     one pipeline of LMOVEs takes up to batch_max_events - 1 more. Items sit in the
 *     processing list (default "<key>:processing") while in flight; when a batch's ack
 *     token commits, one pipeline of `LREM processing 1 <value>` removes them.
 *  2. At start the processing list is what a previous run left in flight (it crashed
 *     before the acks): its items are re-emitted first. Delivery is at-least-once; the
 *     duplicates are at most what was in flight.
 *  3. Stream mode: a consumer group (created at "0" with MKSTREAM, so entries written
 *     before the first start are read). At start, entries idle longer than claim_idle in
 *     other consumers' pending lists are XAUTOCLAIMed, then this consumer's own pending
 *     entries are re-read (XREADGROUP ... 0); then XREADGROUP ... > with BLOCK. A
 *     committed batch is XACKed (and XDELed when `delete` is set). The entry id becomes
 *     the event's stable id.
 *  4. Every batch in flight is remembered (values or ids, one buffer per batch) in open
 *     order; commits arrive in that order. Removals that fail (connection lost) stay
 *     queued and are sent again after reconnecting.
 *  5. A lost connection is rebuilt with backoff. A BLMOVE whose reply was lost leaves its
 *     item in the processing list unseen: the next start recovers it (note 2).
 *  6. `tls:` makes the connection TLS (redis_conn in net/redis.c, the sink's code path);
 *     a failed handshake is a connect error, retried with the same backoff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "net/redis.h"

typedef struct rsrc_config {
    redis_conn_config conn;
    char *key, *processing_key, *group, *consumer, *pause_while_open;
    int mode;
    int64_t batch_max_events;
    int64_t block_ms, claim_idle_ms;
    bool del;
} rsrc_config;

static const sl_option rsrc_options[] = {
    REDIS_CONN_OPTIONS(rsrc_config, conn, "connect and reply timeout (beyond `block`)"),
    {"key", SL_OPT_STR, offsetof(rsrc_config, key), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "list or stream key to read"},
    {"mode", SL_OPT_ENUM, offsetof(rsrc_config, mode), "list", 0, redis_modes, NULL, 0, 0,
     "list: BLMOVE into a processing list; stream: consumer group with XACK"},
    {"processing_key", SL_OPT_STR, offsetof(rsrc_config, processing_key), NULL, 0, NULL, NULL, 0,
     0, "list mode: where in-flight items wait for their ack (default <key>:processing); "
        "one per reader"},
    {"group", SL_OPT_STR, offsetof(rsrc_config, group), "sluice", 0, NULL, NULL, 0, 0,
     "stream mode: consumer group"},
    {"consumer", SL_OPT_STR, offsetof(rsrc_config, consumer), NULL, 0, NULL, NULL, 0, 0,
     "stream mode: consumer name (default: host name)"},
    {"claim_idle", SL_OPT_DURATION, offsetof(rsrc_config, claim_idle_ms), "5m", 0, NULL, NULL, 0,
     0, "stream mode: at start, claim other consumers' entries pending longer than this"},
    {"delete", SL_OPT_BOOL, offsetof(rsrc_config, del), "true", 0, NULL, NULL, 0, 0,
     "stream mode: XDEL entries once acknowledged (a spill stream does not grow forever)"},
    {"pause_while_open", SL_OPT_STR, offsetof(rsrc_config, pause_while_open), NULL, 0, NULL,
     NULL, 0, 0, "id of a sink: while its circuit is not closed, read one item a second "
                 "(enough to probe it) instead of draining (a spill is not read back into "
                 "the sink that spilled it)"},
    {"batch_max_events", SL_OPT_INT, offsetof(rsrc_config, batch_max_events), "500", 0, NULL,
     NULL, 1, 100000, "items per batch at most"},
    {"block", SL_OPT_DURATION, offsetof(rsrc_config, block_ms), "1s", 0, NULL, NULL, 10, 60000,
     "how long one blocking read waits for new items"},
    SL_OPT_END,
};

/* One emitted batch: its values (list) or entry ids (stream), length-prefixed. */
typedef struct rsrc_flight {
    uint64_t seq;
    sl_buf items;
    size_t n;
    bool done;
    struct rsrc_flight *next;
} rsrc_flight;

typedef struct rsrc {
    const rsrc_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    redis_endpoint ep;
    char *proc_key; /* owned */
    char *consumer; /* owned */
    redis_conn *conn;
    rsrc_flight *head, *tail;
    uint64_t seq;
    sl_batch *b;         /* batch being filled */
    rsrc_flight *bf;     /* its flight record */
    _Atomic int64_t last_log_ms, foreign_log_ms; /* log_gate */
    sl_metrics *watch; /* pause_while_open's metrics block, found at run */
    size_t limit;      /* items per read now: batch_max_events, or 1 while paused */
    int backoff_ms;
} rsrc;

static int rsrc_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const rsrc_config *cfg = config;
    if (!cfg->key[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "key must not be empty");
    rsrc *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->ep = (redis_endpoint){cfg->conn.address, cfg->conn.password, cfg->conn.db,
                             cfg->conn.timeout_ms + cfg->block_ms, &cfg->conn.tls, NULL,
                             cfg->conn.username};
    if (redis_endpoint_init(&s->ep, err, errlen) != SL_OK) {
        free(s);
        return SL_ERR_CONFIG;
    }
    if (cfg->processing_key && cfg->processing_key[0]) {
        s->proc_key = sl_xstrdup(cfg->processing_key);
    } else {
        size_t n = strlen(cfg->key) + sizeof ":processing";
        s->proc_key = sl_xmalloc(n);
        snprintf(s->proc_key, n, "%s:processing", cfg->key);
    }
    if (cfg->consumer && cfg->consumer[0]) {
        s->consumer = sl_xstrdup(cfg->consumer);
    } else {
        char host[256] = "sluice";
        if (gethostname(host, sizeof host) != 0 || !host[0])
            snprintf(host, sizeof host, "sluice");
        host[sizeof host - 1] = '\0';
        s->consumer = sl_xstrdup(host);
    }
    *self = s;
    return SL_OK;
}

static void rsrc_warn(rsrc *s, _Atomic int64_t *gate, const char *fmt, const char *what)
{
    if (log_gate(gate, 5000))
        log_warn(s->cc->id, fmt, what);
}

static void rsrc_drop_conn(rsrc *s, const char *why)
{
    rsrc_warn(s, &s->last_log_ms, "redis: %s", why);
    metrics_error(s->cc->metrics, "connection");
    redis_conn_close(s->conn);
    s->conn = NULL;
}

static void rsrc_reply_error(rsrc *s, const redisReply *r)
{
    char why[256];
    snprintf(why, sizeof why, "%.*s", (int)SL_MIN(r->len, (size_t)200), r->str ? r->str : "");
    rsrc_warn(s, &s->last_log_ms, "redis error: %s", why);
    metrics_error(s->cc->metrics, "reply_error");
}

/* Runs one command; NULL = the connection broke (and was dropped). Error replies are
 * returned as replies. */
static redisReply *rsrc_cmd(rsrc *s, int argc, const char **argv)
{
    if (!s->conn)
        return NULL;
    redisReply *r = redis_conn_command(s->conn, argc, argv, NULL);
    if (!r)
        rsrc_drop_conn(s, redis_conn_error(s->conn));
    return r;
}

/* ---- Batches ------------------------------------------------------------------------- */

static void rsrc_start_batch(rsrc *s)
{
    if (s->b)
        return;
    s->b = batch_new((uint32_t)SL_MIN(s->cfg->batch_max_events, 512));
    s->bf = sl_xcalloc(1, sizeof *s->bf);
}

/* Adds one item: `item` is the list value or the stream id remembered for removal,
 * stored as a 4-byte length and the bytes (values may hold NULs). */
static void rsrc_remember(rsrc *s, const char *item, size_t len)
{
    uint32_t l = (uint32_t)SL_MIN(len, (size_t)UINT32_MAX);
    buf_append(&s->bf->items, &l, sizeof l);
    buf_append(&s->bf->items, item, l);
    s->bf->n++;
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, len, memory_order_relaxed);
}

static void rsrc_foreign(rsrc *s)
{
    metrics_error(s->cc->metrics, "foreign_value");
    rsrc_warn(s, &s->foreign_log_ms, "%s", "an item that is not sluice's JSON: kept as message");
}

static void rsrc_add_value(rsrc *s, const char *v, size_t len)
{
    rsrc_start_batch(s);
    if (!redis_decode_value(s->b, v, len))
        rsrc_foreign(s);
    rsrc_remember(s, v, len);
}

static int rsrc_flush(rsrc *s)
{
    if (!s->b)
        return SL_OK;
    sl_batch *b = s->b;
    rsrc_flight *f = s->bf;
    s->b = NULL;
    s->bf = NULL;
    f->seq = ++s->seq;
    if (s->tail)
        s->tail->next = f;
    else
        s->head = f;
    s->tail = f;
    b->ack = ack_token_open(source_ledger(s->ctx), f->seq, f->n);
    b->origin = s->cc->id;
    return source_emit(s->ctx, b);
}

/* Reads one remembered item at p; returns the next. */
static const char *rsrc_item(const char *p, const char **item, size_t *len)
{
    uint32_t l;
    memcpy(&l, p, sizeof l);
    *item = p + sizeof l;
    *len = l;
    return p + sizeof l + l;
}

/* ---- Commits (note 4) ---------------------------------------------------------------- */

static void rsrc_commit(void *arg, uint64_t key, uint64_t value)
{
    rsrc *s = arg;
    for (rsrc_flight *f = s->head; f; f = f->next)
        if (f->seq == key) {
            f->done = true;
            return;
        }
}

/* Removes the items of committed batches at the head from Redis. */
static void rsrc_remove_done(rsrc *s)
{
    while (s->head && s->head->done && s->conn) {
        rsrc_flight *f = s->head;
        bool stream = s->cfg->mode == REDIS_MODE_STREAM;
        size_t ncmd = 0;
        const char *p = f->items.p;
        if (stream && f->n) {
            /* XACK key group id... then XDEL key id... from the same array. */
            size_t argc = 3 + f->n;
            const char **argv = sl_xmalloc(argc * sizeof *argv);
            size_t *lens = sl_xmalloc(argc * sizeof *lens);
            argv[0] = "XACK";
            argv[1] = s->cfg->key;
            argv[2] = s->cfg->group;
            lens[0] = 4;
            lens[1] = strlen(s->cfg->key);
            lens[2] = strlen(s->cfg->group);
            for (size_t i = 0; i < f->n; i++)
                p = rsrc_item(p, &argv[3 + i], &lens[3 + i]);
            redis_conn_append(s->conn, (int)argc, argv, lens);
            ncmd++;
            if (s->cfg->del) {
                argv[1] = "XDEL";
                lens[1] = 4;
                argv[2] = s->cfg->key;
                lens[2] = strlen(s->cfg->key);
                redis_conn_append(s->conn, (int)(argc - 1), argv + 1, lens + 1);
                ncmd++;
            }
            free(argv);
            free(lens);
        } else if (!stream) {
            for (size_t i = 0; i < f->n; i++) {
                const char *argv[4] = {"LREM", s->proc_key, "1", NULL};
                size_t lens[4] = {4, strlen(s->proc_key), 1, 0};
                p = rsrc_item(p, &argv[3], &lens[3]);
                redis_conn_append(s->conn, 4, argv, lens);
                ncmd++;
            }
        }
        /* A refusal that passes (MISCONF, READONLY, LOADING ...) keeps what it refused
         * queued: dropped, those items would stay in Redis and come again at the next
         * start. A list keeps only its refused values (an LREM that was applied must not
         * run twice: it would take an equal value of another batch). */
        sl_buf keep = {0};
        size_t nkeep = 0;
        bool ok = true;
        p = f->items.p;
        for (size_t i = 0; i < ncmd; i++) {
            const char *item = NULL;
            size_t len = 0;
            if (!stream)
                p = rsrc_item(p, &item, &len);
            redisReply *rv = NULL;
            if (redis_conn_reply(s->conn, &rv) != 0) {
                rsrc_drop_conn(s, redis_conn_error(s->conn));
                buf_free(&keep);
                return; /* stays queued; sent again after reconnecting */
            }
            if (rv->type == REDIS_REPLY_ERROR) {
                rsrc_reply_error(s, rv);
                if (redis_reply_transient(rv->str, rv->len)) {
                    ok = false;
                    if (!stream) {
                        uint32_t l = (uint32_t)len;
                        buf_append(&keep, &l, sizeof l);
                        buf_append(&keep, item, len);
                        nkeep++;
                    }
                }
            }
            freeReplyObject(rv);
        }
        if (!ok) {
            if (!stream) {
                buf_free(&f->items);
                f->items = keep;
                f->n = nkeep;
            }
            return; /* sent again on the next turn */
        }
        buf_free(&keep);
        s->head = f->next;
        if (!s->head)
            s->tail = NULL;
        buf_free(&f->items);
        free(f);
    }
}

/* ---- Reading ------------------------------------------------------------------------- */

/* Note 1. Returns SL_OK, SL_ERR_IO (connection gone or error reply: back off) or
 * SL_ERR_CLOSED (engine stopping). */
static int rsrc_read_list(rsrc *s)
{
    char block[32];
    snprintf(block, sizeof block, "%.3f", (double)s->cfg->block_ms / 1000.0);
    const char *argv[6] = {"BLMOVE", s->cfg->key, s->proc_key, "LEFT", "RIGHT", block};
    redisReply *r = rsrc_cmd(s, 6, argv);
    if (!r)
        return SL_ERR_IO;
    int rc = SL_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rsrc_reply_error(s, r);
        rc = SL_ERR_IO;
    } else if (r->type == REDIS_REPLY_STRING) {
        rsrc_add_value(s, r->str, r->len);
        size_t more = s->limit - 1;
        argv[0] = "LMOVE"; /* the same move without blocking (and without the timeout) */
        for (size_t i = 0; i < more; i++)
            redis_conn_append(s->conn, 5, argv, NULL);
        bool logged = false;
        for (size_t i = 0; i < more; i++) {
            redisReply *m = NULL;
            if (redis_conn_reply(s->conn, &m) != 0) {
                rsrc_drop_conn(s, redis_conn_error(s->conn));
                break;
            }
            /* Every string is an item now in the processing list, even after a nil: a
             * writer may push between two moves of the pipeline. */
            if (m->type == REDIS_REPLY_STRING) {
                rsrc_add_value(s, m->str, m->len);
            } else if (m->type == REDIS_REPLY_ERROR && !logged) {
                rsrc_reply_error(s, m);
                logged = true;
            }
            freeReplyObject(m);
        }
    }
    freeReplyObject(r);
    if (rsrc_flush(s) != SL_OK)
        return SL_ERR_CLOSED;
    return rc;
}

/* Note 2: re-emits what a previous run left in the processing list. An error reply (a
 * server still LOADING its data after a restart) is not an empty list: the recovery runs
 * again after the backoff, else those items would wait for the next start. */
static int rsrc_recover_list(rsrc *s)
{
    const char *argv[2] = {"LLEN", s->proc_key};
    redisReply *r = rsrc_cmd(s, 2, argv);
    if (!r)
        return SL_ERR_IO;
    if (r->type == REDIS_REPLY_ERROR) {
        rsrc_reply_error(s, r);
        freeReplyObject(r);
        return SL_ERR_IO;
    }
    long long total = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    if (total > 0)
        log_info(s->cc->id, "re-emitting %lld items left in flight in %s", total, s->proc_key);
    for (long long off = 0; off < total; off += s->cfg->batch_max_events) {
        char a[24], b[24];
        snprintf(a, sizeof a, "%lld", off);
        snprintf(b, sizeof b, "%lld", SL_MIN(off + s->cfg->batch_max_events, total) - 1);
        const char *lr[4] = {"LRANGE", s->proc_key, a, b};
        r = rsrc_cmd(s, 4, lr);
        if (!r)
            return SL_ERR_IO;
        if (r->type == REDIS_REPLY_ERROR) {
            /* Again from the start: what was emitted may come twice (at-least-once). */
            rsrc_reply_error(s, r);
            freeReplyObject(r);
            return SL_ERR_IO;
        }
        if (r->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < r->elements; i++)
                if (r->element[i]->type == REDIS_REPLY_STRING)
                    rsrc_add_value(s, r->element[i]->str, r->element[i]->len);
        freeReplyObject(r);
        if (rsrc_flush(s) != SL_OK)
            return SL_ERR_CLOSED;
    }
    return SL_OK;
}

/* One stream entry into the batch (deleted entries are acknowledged at once). */
static void rsrc_entry(void *arg, const char *id, size_t idlen, const redisReply *fields)
{
    rsrc *s = arg;
    if (!fields) {
        const char *argv[4] = {"XACK", s->cfg->key, s->cfg->group, id};
        size_t lens[4] = {4, strlen(s->cfg->key), strlen(s->cfg->group), idlen};
        if (s->conn) {
            redisReply *r = redis_conn_command(s->conn, 4, argv, lens);
            if (r)
                freeReplyObject(r);
        }
        return;
    }
    rsrc_start_batch(s);
    if (!redis_decode_fields(s->b, fields))
        rsrc_foreign(s);
    s->b->events[s->b->n - 1].id_str = batch_str(s->b, id, idlen);
    rsrc_remember(s, id, idlen);
}

/* The entries array of an XREADGROUP reply for our one key, or NULL. */
static const redisReply *xread_entries(const redisReply *r)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1)
        return NULL;
    const redisReply *k = r->element[0];
    if (!k || k->type != REDIS_REPLY_ARRAY || k->elements != 2)
        return NULL;
    return k->element[1];
}

static int rsrc_xread(rsrc *s, const char *from, bool block, char *last, size_t lastlen,
                      size_t *got)
{
    char count[24], ms[24];
    snprintf(count, sizeof count, "%zu", s->limit);
    snprintf(ms, sizeof ms, "%lld", (long long)s->cfg->block_ms);
    const char *argv[12] = {"XREADGROUP", "GROUP", s->cfg->group, s->consumer, "COUNT", count};
    int argc = 6;
    if (block) {
        argv[argc++] = "BLOCK";
        argv[argc++] = ms;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = s->cfg->key;
    argv[argc++] = from;
    redisReply *r = rsrc_cmd(s, argc, argv);
    *got = 0;
    if (!r)
        return SL_ERR_IO;
    int rc = SL_OK;
    if (r->type == REDIS_REPLY_ERROR) {
        rsrc_reply_error(s, r);
        rc = SL_ERR_IO;
        /* The key was deleted (group gone): make it again on the next connection. */
        rsrc_drop_conn(s, "consumer group lost");
    } else {
        const redisReply *entries = xread_entries(r);
        if (entries && entries->type == REDIS_REPLY_ARRAY && entries->elements) {
            *got = entries->elements;
            const redisReply *le = entries->element[entries->elements - 1];
            if (last && le && le->type == REDIS_REPLY_ARRAY && le->elements >= 1 &&
                le->element[0]->type == REDIS_REPLY_STRING)
                snprintf(last, lastlen, "%s", le->element[0]->str);
            if (redis_stream_walk(entries, rsrc_entry, s))
                metrics_error(s->cc->metrics, "malformed_entry");
        }
    }
    freeReplyObject(r);
    if (rsrc_flush(s) != SL_OK)
        return SL_ERR_CLOSED;
    return rc;
}

/* Note 3: group, claims, then our own pending entries. */
static int rsrc_recover_stream(rsrc *s)
{
    const char *cg[6] = {"XGROUP", "CREATE", s->cfg->key, s->cfg->group, "0", "MKSTREAM"};
    redisReply *r = rsrc_cmd(s, 6, cg);
    if (!r)
        return SL_ERR_IO;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        rsrc_reply_error(s, r);
        freeReplyObject(r);
        return SL_ERR_IO;
    }
    freeReplyObject(r);
    char idle[24], cursor[64] = "0-0";
    snprintf(idle, sizeof idle, "%lld", (long long)s->cfg->claim_idle_ms);
    for (int rounds = 0; rounds < 100000; rounds++) {
        const char *ac[9] = {"XAUTOCLAIM", s->cfg->key, s->cfg->group, s->consumer, idle,
                             cursor, "COUNT", "1000", "JUSTID"};
        r = rsrc_cmd(s, 9, ac);
        if (!r)
            return SL_ERR_IO;
        bool more = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
                    r->element[0]->type == REDIS_REPLY_STRING &&
                    strcmp(r->element[0]->str, "0-0") != 0;
        if (more)
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        if (r->type == REDIS_REPLY_ERROR)
            rsrc_reply_error(s, r);
        freeReplyObject(r);
        if (!more)
            break;
    }
    char last[64] = "0";
    for (;;) {
        size_t got;
        char from[64];
        snprintf(from, sizeof from, "%s", last);
        int rc = rsrc_xread(s, from, false, last, sizeof last, &got);
        if (rc != SL_OK)
            return rc;
        if (got == 0)
            return SL_OK;
    }
}

static int rsrc_run(void *self, sl_source_ctx *ctx)
{
    rsrc *s = self;
    s->ctx = ctx;
    bool stream = s->cfg->mode == REDIS_MODE_STREAM, recovered = false;
    s->limit = (size_t)s->cfg->batch_max_events;
    if (s->cfg->pause_while_open && s->cfg->pause_while_open[0]) {
        for (sl_metrics *m = metrics_first(); m; m = m->next)
            if (strcmp(m->kind, "sink") == 0 && strcmp(m->id, s->cfg->pause_while_open) == 0)
                s->watch = m;
        if (!s->watch)
            log_warn(s->cc->id, "pause_while_open: no sink \"%s\"; never pausing",
                     s->cfg->pause_while_open);
    }
    while (!source_should_stop(ctx)) {
        if (!s->conn) {
            char err[256];
            s->conn = redis_conn_open(&s->ep, err, sizeof err);
            if (!s->conn) {
                rsrc_warn(s, &s->last_log_ms, "redis: %s", err);
                metrics_error(s->cc->metrics, "connect");
                s->backoff_ms = s->backoff_ms ? SL_MIN(s->backoff_ms * 2, 5000) : 100;
                source_sleep(ctx, s->backoff_ms);
                continue;
            }
            s->backoff_ms = 0;
            recovered = recovered && !stream; /* a stream's group may be gone: recheck */
        }
        source_collect_acks(ctx, rsrc_commit, s);
        rsrc_remove_done(s);
        if (!s->conn)
            continue;
        int rc;
        if (!recovered) {
            rc = stream ? rsrc_recover_stream(s) : rsrc_recover_list(s);
            if (rc == SL_OK)
                recovered = true;
        } else if (s->watch && atomic_load(&s->watch->circuit_state) != SL_CIRCUIT_CLOSED) {
            /* Spilling: a trickle lets the sink probe; draining would only cycle. */
            s->limit = 1;
            size_t got;
            rc = stream ? rsrc_xread(s, ">", true, NULL, 0, &got) : rsrc_read_list(s);
            s->limit = (size_t)s->cfg->batch_max_events;
            if (rc == SL_OK)
                source_sleep(ctx, 1000);
        } else if (stream) {
            size_t got;
            rc = rsrc_xread(s, ">", true, NULL, 0, &got);
        } else {
            rc = rsrc_read_list(s);
        }
        if (rc == SL_ERR_CLOSED)
            break;
        if (rc != SL_OK)
            source_sleep(ctx, 500);
    }
    if (s->b && rsrc_flush(s) != SL_OK) {
        /* engine stopping: the items stay in Redis for the next start */
    }
    source_drain_acks(ctx, rsrc_commit, s);
    if (!s->conn) {
        char err[256];
        s->conn = redis_conn_open(&s->ep, err, sizeof err);
    }
    rsrc_remove_done(s);
    if (s->head)
        log_warn(s->cc->id, "stopping with items still in flight; they are read again at "
                            "the next start");
    return SL_OK;
}

static void rsrc_destroy(void *self)
{
    rsrc *s = self;
    if (!s)
        return;
    redis_conn_close(s->conn);
    redis_endpoint_free(&s->ep);
    if (s->b)
        batch_release(s->b);
    if (s->bf) {
        buf_free(&s->bf->items);
        free(s->bf);
    }
    while (s->head) {
        rsrc_flight *f = s->head;
        s->head = f->next;
        buf_free(&f->items);
        free(f);
    }
    free(s->proc_key);
    free(s->consumer);
    free(s);
}

const sl_source_vtable sl_source_redis = {
    .type = "redis",
    .help = "Reads events from a Redis list (BLMOVE into a processing list) or stream "
            "(consumer group); items leave Redis only once acknowledged downstream",
    .options = rsrc_options,
    .config_size = sizeof(rsrc_config),
    .init = rsrc_init,
    .run = rsrc_run,
    .destroy = rsrc_destroy,
};
