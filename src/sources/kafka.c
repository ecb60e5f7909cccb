/* kafka.c - the `kafka` source: a consumer group member (librdkafka) whose offsets are
 * committed only behind acknowledgements.
 *
 * Notes on the design
 *  1. Offsets never auto-commit. Every batch holds messages of one partition and opens one
 *     ack token whose key is (ownership generation << 32 | partition slot) and whose value
 *     is the offset after its last message. The ledger hands tokens back in open order
 *     once every sink has delivered or durably buffered their batches; only then does the
 *     partition's `acked` offset move, and only `acked` is ever committed (async, every
 *     `commit_interval`; sync on revoke and at stop). So a committed offset is never
 *     ahead of delivery; a crash re-reads what was read and not yet committed.
 *  2. Rebalancing is cooperative-sticky (incremental). On revoke the source waits (at
 *     most `revoke_timeout`) until the revoked partitions' tokens are collected, commits
 *     what was acked, and only then gives them up. What was not acked by then is read
 *     again by the next owner. The batch being built, if it is a revoked partition's, is
 *     dropped rather than emitted: the next owner reads it from the committed offset, so
 *     it is delivered once, not twice. The partition's generation moves, so a late ack of
 *     the old ownership never commits anything. A lost assignment (session timed out)
 *     commits nothing. Commits wait while the group rebalances (ksrc_rebalance_err).
 *  3. Stable ids: the sluice-id header when the message has one (the id the event had
 *     before the producing sluice, so dedupe holds across tiers), else
 *     "topic/partition/offset" (kafka_decode in net/kafka.c).
 *  4. Memory: librdkafka's prefetch queue is bounded by `max_fetch_queue_bytes`. When a
 *     downstream buffer is full the source does not block in source_emit: it pauses its
 *     partitions (librdkafka drops what it prefetched and later resumes after the last
 *     message handed out) and keeps polling, so group events (rebalances) are served at
 *     once. A member that stopped polling would hold up every rebalance of the group until
 *     it rejoined, or be dropped from it and lose its partitions (a broker waits up to
 *     max.poll.interval.ms for it, librdkafka's mock cluster about session.timeout.ms),
 *     and the group re-reads what it had not committed. The check is made before each
 *     emit with what the batch takes in memory (what a memory buffer counts); the batch
 *     (and the message that would have started the next one, `held`) wait while paused
 *     and go on at resume. A revoke drops what it holds of the revoked partitions (the
 *     next owner reads it). Should the check miss (a transform that grows the batch),
 *     source_emit blocks as before.
 *  5. Per partition lag (high watermark - acked offset) is in the status API, refreshed
 *     from librdkafka's cached watermarks about twice a second; the same refresh sets the
 *     /metrics gauges sluice_kafka_consumer_lag and sluice_kafka_committed_offset
 *     {topic, partition} of the owned partitions (KSRC_METRIC_PARTS at most, so the
 *     component's series stay bounded; a revoked partition's series disappear).
 *  6. Retention: when the offset to fetch is no longer on the broker (retention deleted it
 *     before it was read, so the committed offset fell behind the log start), librdkafka
 *     resets to `start_offset` and says so only in its log. The source takes that log line
 *     (any librdkafka thread: into `resets`, under `rlock`), and at the partition's next
 *     message warns and counts the messages it skipped (the offsets in between) in
 *     kafka_skipped_messages: they are lost to this group, and an operator must know.
 *
 * State: `parts` (slots, never removed: a slot keeps its index for token keys) is written
 * by the source thread only, under `lock` so the status API can read it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/kafka.h"

static const char *const ksrc_starts[] = {"earliest", "latest", NULL};

typedef struct ksrc_config {
    kafka_conn_config conn;
    char *group_id;
    sl_strlist topics;
    int start_offset, decoding;
    int64_t batch_max_events, commit_interval_ms, revoke_timeout_ms;
    uint64_t max_fetch_queue_bytes;
} ksrc_config;

static const sl_option ksrc_options[] = {
    KAFKA_CONN_OPTIONS(ksrc_config, conn),
    {"group_id", SL_OPT_STR, offsetof(ksrc_config, group_id), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "consumer group"},
    {"topics", SL_OPT_STRLIST, offsetof(ksrc_config, topics), NULL, SL_OPT_REQUIRED, NULL, NULL,
     0, 0, "topic names, or regexes starting with ^"},
    {"start_offset", SL_OPT_ENUM, offsetof(ksrc_config, start_offset), "earliest", 0, ksrc_starts,
     NULL, 0, 0, "where a partition without a committed offset starts: earliest or latest"},
    {"decoding", SL_OPT_ENUM, offsetof(ksrc_config, decoding), "json", 0, kafka_decodings, NULL,
     0, 0, "json (sluice's JSON back to the event, else the payload as message), raw, or "
           "forward (a Fluent Forward message in msgpack)"},
    {"batch_max_events", SL_OPT_INT, offsetof(ksrc_config, batch_max_events), "1000", 0, NULL,
     NULL, 1, 100000, "messages per batch at most (a batch holds one partition)"},
    {"commit_interval", SL_OPT_DURATION, offsetof(ksrc_config, commit_interval_ms), "200ms", 0,
     NULL, NULL, 1, 60000, "how often acknowledged offsets are committed"},
    {"revoke_timeout", SL_OPT_DURATION, offsetof(ksrc_config, revoke_timeout_ms), "10s", 0, NULL,
     NULL, 0, 600000, "on revoke, how long to wait for the partitions' acks before giving them up"},
    {"max_fetch_queue_bytes", SL_OPT_SIZE, offsetof(ksrc_config, max_fetch_queue_bytes), "16MiB",
     0, NULL, NULL, 1 << 20, (int64_t)1 << 31, "librdkafka's prefetch bound"},
    SL_OPT_END,
};

typedef struct kpart {
    char *topic;
    int32_t partition;
    bool owned;
    uint32_t gen;
    int64_t read;      /* offset after the last message read, -1 none */
    int64_t acked;     /* offset after the last acknowledged message, -1 none */
    int64_t committed; /* last commit the group confirmed, -1 none */
    int64_t sent;      /* last offset sent in a commit (confirmed or not), -1 none */
    int64_t high;      /* high watermark, -1 unknown */
    size_t inflight;   /* tokens opened and not collected */
    int64_t reset_at;  /* note 6: the offset librdkafka found out of range, -1 none */
} kpart;

/* An offset reset librdkafka logged, not yet matched to a partition slot (note 6). */
typedef struct kreset {
    char topic[256];
    int32_t partition;
    int64_t at;
} kreset;

#define KSRC_RESETS 16

typedef struct ksrc {
    const ksrc_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    rd_kafka_t *rk;
    pthread_mutex_t lock; /* parts, for the status API */
    kpart *parts;
    size_t nparts, cap;
    sl_batch *b; /* being built, for parts[bslot] */
    size_t bslot;
    int64_t blast; /* offset of the batch's last message */
    rd_kafka_message_t *held; /* read while the batch could not be emitted (note 4) */
    fwd_scratch scratch;
    bool dirty, draining_failed, paused;
    bool rebalancing; /* a commit was refused for a rebalance: hold commits until it ends */
    int64_t last_commit_ms, last_high_ms, rebalancing_ms;
    _Atomic int64_t last_log_ms, bad_log_ms; /* log_gate */
    pthread_mutex_t rlock; /* resets: written by librdkafka's threads (its log callback) */
    kreset resets[KSRC_RESETS];
    size_t nresets;
    atomic_bool has_resets;
} ksrc;

static void ksrc_warn(ksrc *s, _Atomic int64_t *gate, const char *fmt, const char *arg)
{
    if (log_gate(gate, 5000))
        log_warn(s->cc->id, fmt, arg);
}

static size_t ksrc_slot(ksrc *s, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < s->nparts; i++)
        if (s->parts[i].partition == partition && strcmp(s->parts[i].topic, topic) == 0)
            return i;
    pthread_mutex_lock(&s->lock);
    if (s->nparts == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->parts = sl_xrealloc(s->parts, s->cap * sizeof *s->parts);
    }
    s->parts[s->nparts] =
        (kpart){sl_xstrdup(topic), partition, false, 0, -1, -1, -1, -1, -1, 0, -1};
    pthread_mutex_unlock(&s->lock);
    return s->nparts++;
}

/* ---- Acks and commits (note 1) -------------------------------------------------------- */

static void ksrc_ack(void *arg, uint64_t key, uint64_t value)
{
    ksrc *s = arg;
    size_t slot = (size_t)(key & 0xffffffffu);
    uint32_t gen = (uint32_t)(key >> 32);
    if (slot >= s->nparts)
        return;
    kpart *p = &s->parts[slot];
    if (p->inflight)
        p->inflight--;
    if (p->owned && p->gen == gen && (int64_t)value > p->acked) {
        pthread_mutex_lock(&s->lock);
        p->acked = (int64_t)value;
        pthread_mutex_unlock(&s->lock);
        s->dirty = true;
    }
}

/* The group refuses commits while it rebalances (and those of a past generation); a
 * commit sent then fails, and librdkafka may take the refusal for a lost assignment, the
 * member rejoins and the rebalance starts over. So after such a refusal commits wait for
 * the rebalance callback (or 10 s). */
static bool ksrc_rebalance_err(rd_kafka_resp_err_t err)
{
    return err == RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS ||
           err == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION ||
           err == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID;
}

/* The outcome of a commit: confirmed offsets become `committed`; a refused one is sent
 * again later (a quiet partition would otherwise keep a stale committed offset). */
static void ksrc_committed(ksrc *s, rd_kafka_resp_err_t err,
                           const rd_kafka_topic_partition_list_t *offsets)
{
    rd_kafka_resp_err_t first = err;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; offsets && i < offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &offsets->elems[i];
        size_t k = 0;
        while (k < s->nparts && (s->parts[k].partition != e->partition ||
                                 strcmp(s->parts[k].topic, e->topic) != 0))
            k++;
        if (k == s->nparts || e->offset < 0)
            continue;
        kpart *p = &s->parts[k];
        if (!err && !e->err) {
            p->committed = SL_MAX(p->committed, e->offset);
        } else {
            if (!first)
                first = e->err;
            p->sent = p->committed; /* not committed: send it again */
            s->dirty = true;
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (first && first != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        metrics_error(s->cc->metrics, "commit");
        ksrc_warn(s, &s->last_log_ms, "kafka commit: %s", rd_kafka_err2str(first));
        if (ksrc_rebalance_err(first) && !s->rebalancing) {
            s->rebalancing = true;
            s->rebalancing_ms = sl_mono_ms();
        }
    }
}

/* Commits the acked offsets of owned partitions (those in `only` when given). */
static void ksrc_commit(ksrc *s, const rd_kafka_topic_partition_list_t *only, bool sync)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(8);
    for (size_t i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        if (!p->owned || p->acked < 0 || p->acked <= p->sent)
            continue;
        if (only && !rd_kafka_topic_partition_list_find(only, p->topic, p->partition))
            continue;
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->acked;
        p->sent = p->acked;
    }
    s->dirty = false;
    if (l->cnt) {
        /* The outcome reaches ksrc_offset_commit_cb, for a sync commit too; a sync success
         * is taken at once (status), an async call refused locally never went out. */
        rd_kafka_resp_err_t err = rd_kafka_commit(s->rk, l, sync ? 0 : 1);
        if (sync ? !err : err != RD_KAFKA_RESP_ERR_NO_ERROR)
            ksrc_committed(s, err, l);
    }
    rd_kafka_topic_partition_list_destroy(l);
    s->last_commit_ms = sl_mono_ms();
}

static void ksrc_offset_commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    ksrc_committed(opaque, err, offsets);
}

static int ksrc_flush(ksrc *s)
{
    if (!s->b)
        return SL_OK;
    sl_batch *b = s->b;
    s->b = NULL;
    kpart *p = &s->parts[s->bslot];
    p->inflight++;
    b->ack = ack_token_open(source_ledger(s->ctx), ((uint64_t)p->gen << 32) | s->bslot,
                            (uint64_t)(s->blast + 1));
    b->origin = s->cc->id;
    return source_emit(s->ctx, b);
}

static void ksrc_collect(ksrc *s)
{
    source_collect_acks(s->ctx, ksrc_ack, s);
    int64_t now = sl_mono_ms();
    if (s->rebalancing && now - s->rebalancing_ms >= 10000)
        s->rebalancing = false;
    if (s->dirty && !s->rebalancing && now - s->last_commit_ms >= s->cfg->commit_interval_ms)
        ksrc_commit(s, NULL, false);
}

/* ---- Backpressure (note 4) ------------------------------------------------------------ */

/* True when emitting the batch being built would block on a full downstream buffer (a
 * memory buffer counts what the batch takes in memory, not its payload bytes). */
static bool ksrc_full(ksrc *s)
{
    return source_would_block(s->ctx, s->b ? SL_MAX(batch_mem_size(s->b), (size_t)1) : 1);
}

/* Pauses (or resumes) fetching of the partitions given, or of the whole assignment. */
static void ksrc_pause(ksrc *s, bool pause, rd_kafka_topic_partition_list_t *parts)
{
    rd_kafka_topic_partition_list_t *all = NULL;
    if (!parts) {
        if (rd_kafka_assignment(s->rk, &all) != RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        parts = all;
    }
    if (parts->cnt) {
        rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(s->rk, parts)
                                        : rd_kafka_resume_partitions(s->rk, parts);
        if (err)
            ksrc_warn(s, &s->last_log_ms, pause ? "kafka pause: %s" : "kafka resume: %s",
                      rd_kafka_err2str(err));
    }
    if (all)
        rd_kafka_topic_partition_list_destroy(all);
}

/* Emits the batch being built unless that would block: then pauses and keeps it. */
static int ksrc_try_flush(ksrc *s)
{
    if (s->b && !s->paused && ksrc_full(s)) {
        ksrc_pause(s, true, NULL);
        s->paused = true;
    }
    return s->paused ? SL_OK : ksrc_flush(s);
}

/* ---- Rebalancing (note 2) ------------------------------------------------------------- */

/* Logs an assignment change with the partitions it names ("topic/partition ..."), so an
 * operator (and a test) can tell which partitions moved where. */
static void ksrc_log_parts(ksrc *s, const char *what, const rd_kafka_topic_partition_list_t *parts)
{
    char list[512];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < parts->cnt && len < sizeof list; i++) {
        int n = snprintf(list + len, sizeof list - len, " %s/%d", parts->elems[i].topic,
                         (int)parts->elems[i].partition);
        if (n < 0 || (size_t)n >= sizeof list - len) {
            snprintf(list + len, sizeof list - len, " ...");
            break;
        }
        len += (size_t)n;
    }
    log_info(s->cc->id, "kafka: %d partition(s) %s:%s", parts->cnt, what, list);
}

static bool ksrc_revoked_inflight(ksrc *s, const rd_kafka_topic_partition_list_t *parts)
{
    for (int i = 0; i < parts->cnt; i++) {
        size_t k = ksrc_slot(s, parts->elems[i].topic, parts->elems[i].partition);
        if (s->parts[k].owned && s->parts[k].inflight)
            return true;
    }
    return false;
}

static void ksrc_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                           rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ksrc *s = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    s->rebalancing = false; /* this rebalance is over: commits may go again */
    if (!s->ctx) { /* closing outside run(): nothing of ours is in flight */
        if (coop)
            rd_kafka_error_destroy(err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS
                                       ? rd_kafka_incremental_assign(rk, parts)
                                       : rd_kafka_incremental_unassign(rk, parts));
        else
            rd_kafka_assign(rk, err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS ? parts : NULL);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            size_t k = ksrc_slot(s, parts->elems[i].topic, parts->elems[i].partition);
            pthread_mutex_lock(&s->lock);
            kpart *p = &s->parts[k];
            p->owned = true;
            p->gen++;
            p->read = p->acked = p->committed = p->sent = p->reset_at = -1;
            pthread_mutex_unlock(&s->lock);
        }
        ksrc_log_parts(s, "assigned", parts);
        if (coop) {
            rd_kafka_error_t *e = rd_kafka_incremental_assign(rk, parts);
            if (e) {
                log_warn(s->cc->id, "kafka assign: %s", rd_kafka_error_string(e));
                rd_kafka_error_destroy(e);
            }
        } else {
            rd_kafka_assign(rk, parts);
        }
        if (s->paused) /* backpressure still holds: the new partitions wait too */
            ksrc_pause(s, true, coop ? parts : NULL);
        return;
    }
    /* Revoke (or lost): what was emitted gets acked and committed (bounded wait), then
     * the partitions go. An unemitted batch of theirs is dropped (note 2); another
     * partition's is emitted unless backpressure holds it. */
    bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(rk);
    if (s->held && rd_kafka_topic_partition_list_find(parts, rd_kafka_topic_name(s->held->rkt),
                                                      s->held->partition)) {
        rd_kafka_message_destroy(s->held);
        s->held = NULL;
    }
    if (s->b && rd_kafka_topic_partition_list_find(parts, s->parts[s->bslot].topic,
                                                   s->parts[s->bslot].partition)) {
        batch_release(s->b); /* no token opened yet: nothing to ack or abandon */
        s->b = NULL;
    } else if (ksrc_try_flush(s) != SL_OK) {
        s->draining_failed = true;
    }
    if (!lost && !s->draining_failed) {
        int64_t deadline = sl_mono_ms() + s->cfg->revoke_timeout_ms;
        while (ksrc_revoked_inflight(s, parts) && sl_mono_ms() < deadline &&
               !source_should_stop(s->ctx)) {
            source_collect_acks(s->ctx, ksrc_ack, s);
            if (ksrc_revoked_inflight(s, parts))
                source_sleep(s->ctx, 2);
        }
        ksrc_commit(s, parts, true);
    }
    for (int i = 0; i < parts->cnt; i++) {
        size_t k = ksrc_slot(s, parts->elems[i].topic, parts->elems[i].partition);
        pthread_mutex_lock(&s->lock);
        s->parts[k].owned = false;
        s->parts[k].gen++;
        pthread_mutex_unlock(&s->lock);
    }
    ksrc_log_parts(s, lost ? "lost" : "revoked", parts);
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e) {
            log_warn(s->cc->id, "kafka unassign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
    } else {
        rd_kafka_assign(rk, NULL);
    }
}

/* ---- Setup ---------------------------------------------------------------------------- */

/* Note 6: librdkafka's "[thrd:...]: TOPIC [PARTITION]: offset reset (at offset N, ..."
 * (logged as a warning when a fetch found its offset out of range) becomes a pending reset.
 * Topic names have no spaces ([A-Za-z0-9._-]). */
static void ksrc_note_reset(ksrc *s, const char *msg)
{
    static const char mark[] = "]: offset reset (at offset ";
    const char *r = strstr(msg, mark), *b = r;
    while (b && b > msg && b[-1] != '[')
        b--;
    if (!r || b < msg + 3 || b[-2] != ' ')
        return;
    const char *t = b - 2; /* the topic is [t, b - 2) */
    while (t > msg && t[-1] != ' ')
        t--;
    size_t tlen = (size_t)(b - 2 - t);
    const char *o = r + sizeof mark - 1;
    char *end;
    long long part = strtoll(b, &end, 10), at = strtoll(o, NULL, 10);
    if (!tlen || tlen >= sizeof s->resets[0].topic || end != r || part < 0 || part > INT32_MAX ||
        !(*o >= '0' && *o <= '9'))
        return; /* not an offset (INVALID, END...): nothing read was skipped */
    metrics_error(s->cc->metrics, "offset_reset");
    pthread_mutex_lock(&s->rlock);
    if (s->nresets < KSRC_RESETS) {
        kreset *k = &s->resets[s->nresets++];
        memcpy(k->topic, t, tlen);
        k->topic[tlen] = '\0';
        k->partition = (int32_t)part;
        k->at = at;
        atomic_store(&s->has_resets, true);
    }
    pthread_mutex_unlock(&s->rlock);
}

static void ksrc_log(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    ksrc *s = rd_kafka_opaque(rk);
    if (level <= 4 && strcmp(fac, "OFFSET") == 0) /* LOG_WARNING */
        ksrc_note_reset(s, msg);
    kafka_log(s->cc->id, level, fac, msg);
}

/* Source thread: the pending resets go to their partitions' slots; a message of a
 * partition with a reset says how many were skipped before it (note 6). */
static void ksrc_check_reset(ksrc *s, size_t slot, int64_t offset)
{
    if (atomic_load(&s->has_resets)) {
        kreset r[KSRC_RESETS];
        pthread_mutex_lock(&s->rlock);
        size_t n = s->nresets;
        memcpy(r, s->resets, n * sizeof r[0]);
        s->nresets = 0;
        atomic_store(&s->has_resets, false);
        pthread_mutex_unlock(&s->rlock);
        for (size_t i = 0; i < n; i++) {
            size_t k = ksrc_slot(s, r[i].topic, r[i].partition);
            if (s->parts[k].owned)
                s->parts[k].reset_at = r[i].at;
        }
    }
    kpart *p = &s->parts[slot];
    if (p->reset_at < 0 || offset < p->reset_at)
        return; /* no reset, or a message fetched before it */
    int64_t skipped = offset - p->reset_at;
    if (skipped > 0) {
        metrics_count(s->cc->metrics, "kafka_skipped_messages", (uint64_t)skipped);
        log_warn(s->cc->id,
                 "kafka: %s/%d: offset %lld is no longer on the broker (deleted by retention?), "
                 "reading on at %lld: %lld message(s) skipped",
                 p->topic, (int)p->partition, (long long)p->reset_at, (long long)offset,
                 (long long)skipped);
    }
    p->reset_at = -1;
}

static void ksrc_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    ksrc *s = opaque;
    metrics_error(s->cc->metrics, "connection");
    char line[512];
    snprintf(line, sizeof line, "%s: %s", rd_kafka_err2name(err), reason);
    ksrc_warn(s, &s->last_log_ms, "kafka: %s", line);
}

static void ksrc_destroy(void *self);

static int ksrc_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const ksrc_config *cfg = config;
    for (size_t i = 0; i < cfg->conn.librdkafka.n; i++) {
        const char *k = cfg->conn.librdkafka.keys[i];
        if (strcmp(k, "enable.auto.commit") == 0 || strcmp(k, "enable.auto.offset.store") == 0 ||
            strcmp(k, "group.id") == 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "librdkafka: %s is the source's own (offsets commit only behind "
                             "acknowledgements; group_id names the group)", k);
    }
    if (!cfg->group_id[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "group_id: must not be empty");
    for (size_t i = 0; i < cfg->topics.n; i++)
        if (!cfg->topics.v[i][0])
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "topics: an empty name");
    if (!cfg->topics.n)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "topics: at least one");
    /* librdkafka is loaded here, not linked (rdkafka_lazy.c) */
    char e2[300];
    if (lazylib_load(&lazy_rdkafka, e2, sizeof e2) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_NOTFOUND, "needs librdkafka: %s", e2);
    ksrc *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->rlock, NULL);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char v[64];
    snprintf(v, sizeof v, "%llu", (unsigned long long)(cfg->max_fetch_queue_bytes / 1024));
    int rc = kafka_conf_set(conf, "client.id", "sluice", err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "group.id", cfg->group_id, err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "partition.assignment.strategy", "cooperative-sticky", err,
                            errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "auto.offset.reset", ksrc_starts[cfg->start_offset], err,
                            errlen);
    if (!rc)
        rc = kafka_conf_set(conf, "queued.max.messages.kbytes", v, err, errlen);
    if (!rc)
        rc = kafka_conf_apply(conf, &cfg->conn, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        ksrc_destroy(s);
        return SL_ERR_CONFIG;
    }
    if (cc->check_only) { /* the properties are checked: no consumer, no connection */
        rd_kafka_conf_destroy(conf);
        *self = s;
        return SL_OK;
    }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_log_cb(conf, ksrc_log);
    rd_kafka_conf_set_error_cb(conf, ksrc_error);
    rd_kafka_conf_set_rebalance_cb(conf, ksrc_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, ksrc_offset_commit_cb);
    char why[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        ksrc_destroy(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s", why);
    }
    rd_kafka_poll_set_consumer(s->rk);
    *self = s;
    return SL_OK;
}

/* ---- Reading -------------------------------------------------------------------------- */

/* Messages behind: the high watermark minus the acked offset (the read one before the first
 * ack; the whole partition, deleted messages too, before anything was read); -1 while the
 * high watermark is not known. */
static int64_t ksrc_lag(const kpart *p)
{
    int64_t at = p->acked >= 0 ? p->acked : p->read;
    return p->high >= 0 ? SL_MAX(p->high - SL_MAX(at, (int64_t)0), (int64_t)0) : -1;
}

/* Series per family at most (two families share the component's SL_METRICS_MAX_GAUGES). */
#define KSRC_METRIC_PARTS 120

/* /metrics (note 5): lag and committed offset of each owned partition. Source thread. */
static void ksrc_publish(ksrc *s)
{
    sl_gauge_sample2 lag[KSRC_METRIC_PARTS], com[KSRC_METRIC_PARTS];
    char pn[KSRC_METRIC_PARTS][12];
    size_t nl = 0, nc = 0, k = 0;
    for (size_t i = 0; i < s->nparts && k < KSRC_METRIC_PARTS; i++) {
        const kpart *p = &s->parts[i];
        if (!p->owned)
            continue;
        snprintf(pn[k], sizeof pn[k], "%d", (int)p->partition);
        int64_t l = ksrc_lag(p);
        if (l >= 0)
            lag[nl++] = (sl_gauge_sample2){p->topic, pn[k], (double)l};
        if (p->committed >= 0)
            com[nc++] = (sl_gauge_sample2){p->topic, pn[k], (double)p->committed};
        k++;
    }
    metrics_gauges_set2(s->cc->metrics, "sluice_kafka_consumer_lag",
                        "Messages of an owned partition not yet acknowledged by every sink "
                        "(high watermark - acknowledged offset).",
                        "topic", "partition", lag, nl);
    metrics_gauges_set2(s->cc->metrics, "sluice_kafka_committed_offset",
                        "The offset last committed for an owned partition (only ever behind "
                        "acknowledgements).",
                        "topic", "partition", com, nc);
}

static void ksrc_refresh_high(ksrc *s)
{
    s->last_high_ms = sl_mono_ms();
    for (size_t i = 0; i < s->nparts; i++) {
        kpart *p = &s->parts[i];
        int64_t lo, hi;
        if (p->owned &&
            rd_kafka_get_watermark_offsets(s->rk, p->topic, p->partition, &lo, &hi) == 0 &&
            hi >= 0) {
            pthread_mutex_lock(&s->lock);
            p->high = hi;
            pthread_mutex_unlock(&s->lock);
        }
    }
    ksrc_publish(s);
}

/* Adds one message to the batch; returns SL_OK, SL_ERR_AGAIN (the batch before it cannot
 * be emitted now: hold the message, note 4) or SL_ERR_CLOSED (engine stopping). */
static int ksrc_add(ksrc *s, const rd_kafka_message_t *m)
{
    const char *topic = rd_kafka_topic_name(m->rkt);
    size_t slot = ksrc_slot(s, topic, m->partition);
    if (!s->parts[slot].owned)
        return SL_OK; /* fetched before a revoke: the next owner reads it */
    ksrc_check_reset(s, slot, m->offset);
    if (s->b && (s->bslot != slot || s->b->n >= (uint32_t)s->cfg->batch_max_events)) {
        int rc = s->held ? ksrc_flush(s) : ksrc_try_flush(s); /* one held message at most */
        if (rc != SL_OK)
            return rc;
        if (s->b)
            return SL_ERR_AGAIN;
    }
    if (!s->b) {
        s->b = batch_new((uint32_t)SL_MIN(s->cfg->batch_max_events, 512));
        s->bslot = slot;
    }
    kafka_msg_view v = {.topic = topic, .partition = m->partition, .offset = m->offset,
                        .payload = m->payload, .len = m->len};
    rd_kafka_timestamp_type_t tt;
    v.ts_ms = rd_kafka_message_timestamp(m, &tt);
    rd_kafka_headers_t *h = NULL;
    const void *idv;
    size_t idl;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, KAFKA_ID_HEADER, &idv, &idl) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        idv && idl) {
        v.id = idv;
        v.idlen = idl;
    }
    bool bad;
    kafka_decode(s->b, &v, s->cfg->decoding, &s->scratch, &bad);
    if (bad) {
        metrics_error(s->cc->metrics, "decode");
        ksrc_warn(s, &s->bad_log_ms, "%s", "a message that does not decode: kept as message");
    }
    s->blast = m->offset;
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, m->len, memory_order_relaxed);
    pthread_mutex_lock(&s->lock);
    s->parts[slot].read = m->offset + 1;
    pthread_mutex_unlock(&s->lock);
    return SL_OK;
}

static int ksrc_run(void *self, sl_source_ctx *ctx)
{
    ksrc *s = self;
    s->ctx = ctx;
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)s->cfg->topics.n);
    for (size_t i = 0; i < s->cfg->topics.n; i++)
        rd_kafka_topic_partition_list_add(topics, s->cfg->topics.v[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(s->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (err) {
        log_error(s->cc->id, "kafka subscribe: %s", rd_kafka_err2str(err));
        return SL_ERR_CONFIG;
    }
    while (!source_should_stop(ctx)) {
        int rc = SL_OK;
        /* Paused by backpressure (note 4): resume once the batch fits, then the message
         * that waited for it. */
        if (s->paused && !ksrc_full(s)) {
            ksrc_pause(s, false, NULL);
            s->paused = false;
            rc = ksrc_flush(s);
            if (rc == SL_OK && s->held) {
                rd_kafka_message_t *h = s->held;
                s->held = NULL;
                rc = ksrc_add(s, h);
                if (rc == SL_ERR_AGAIN)
                    s->held = h; /* paused again */
                else
                    rd_kafka_message_destroy(h);
            }
            if (rc == SL_ERR_CLOSED)
                break;
        }
        /* A batch open: take what is already fetched, flush at the first gap. */
        int wait = s->paused ? 10
                             : s->b ? 0 : (ack_ledger_pending(source_ledger(ctx)) ? 5 : 100);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, wait);
        if (!m) {
            rc = ksrc_try_flush(s);
        } else if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                metrics_error(s->cc->metrics, "consume");
                ksrc_warn(s, &s->last_log_ms, "kafka: %s", rd_kafka_message_errstr(m));
            }
        } else {
            rc = ksrc_add(s, m);
            if (rc == SL_ERR_AGAIN) {
                s->held = m; /* paused: the batch before it waits for room */
                m = NULL;
                rc = SL_OK;
            }
        }
        if (m)
            rd_kafka_message_destroy(m);
        if (rc == SL_ERR_CLOSED)
            break;
        ksrc_collect(s);
        if (sl_mono_ms() - s->last_high_ms >= 500)
            ksrc_refresh_high(s);
    }
    /* Stop: what was read goes out, the acks are awaited, the acked offsets committed. A
     * held message is not emitted: it is past the batch, and read again by the next owner. */
    if (s->held) {
        rd_kafka_message_destroy(s->held);
        s->held = NULL;
    }
    if (ksrc_flush(s) != SL_OK)
        s->draining_failed = true;
    if (source_drain_acks(ctx, ksrc_ack, s) > 0)
        s->draining_failed = true; /* the rest is read again: do not wait on revoke */
    ksrc_commit(s, NULL, true);
    rd_kafka_consumer_close(s->rk);
    s->ctx = NULL;
    return SL_OK;
}

static void ksrc_status(void *self, sl_buf *out)
{
    ksrc *s = self;
    buf_puts(out, ",\"partitions\":[");
    pthread_mutex_lock(&s->lock);
    bool first = true;
    for (size_t i = 0; i < s->nparts; i++) {
        const kpart *p = &s->parts[i];
        if (!p->owned)
            continue;
        int64_t lag = ksrc_lag(p);
        buf_printf(out, "%s{\"topic\":\"", first ? "" : ",");
        for (const char *c = p->topic; *c; c++) /* topic names are [A-Za-z0-9._-] */
            if (*c != '"' && *c != '\\' && (unsigned char)*c >= 0x20)
                buf_putc(out, *c);
        buf_printf(out, "\",\"partition\":%d,\"read\":%lld,\"acked\":%lld,\"committed\":%lld,"
                        "\"high_watermark\":%lld,\"lag\":%lld}",
                   (int)p->partition, (long long)p->read, (long long)p->acked,
                   (long long)p->committed, (long long)p->high, (long long)lag);
        first = false;
    }
    pthread_mutex_unlock(&s->lock);
    buf_putc(out, ']');
}

static void ksrc_destroy(void *self)
{
    ksrc *s = self;
    if (!s)
        return;
    if (s->held)
        rd_kafka_message_destroy(s->held);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    if (s->b)
        batch_release(s->b);
    for (size_t i = 0; i < s->nparts; i++)
        free(s->parts[i].topic);
    free(s->parts);
    fwd_scratch_free(&s->scratch);
    pthread_mutex_destroy(&s->lock);
    pthread_mutex_destroy(&s->rlock);
    free(s);
}

const sl_source_vtable sl_source_kafka = {
    .type = "kafka",
    .help = "Consumes Kafka topics in a consumer group (cooperative-sticky); offsets are "
            "committed only once every sink has acknowledged the events before them",
    .options = ksrc_options,
    .config_size = sizeof(ksrc_config),
    .init = ksrc_init,
    .run = ksrc_run,
    .destroy = ksrc_destroy,
    .status_json = ksrc_status,
};
