/* sink_runtime.c - the engine behind every sink: batching from the buffer, worker threads,
 * retries with jittered backoff, bisection of rejects, circuit breaker, fallback and DLQ.
 *
 * Notes on the design
 *
 *  1. A worker owns a request: the buffer items it popped, in order, and one flat array of
 *     event pointers over them (reused between requests; nothing is allocated per event).
 *     An item is never split across requests; an item alone larger than batch.max_events
 *     is sent in max_events slices.
 *  2. Every event of a request ends in exactly one state: delivered, dead-lettered (or
 *     dropped when dlq is off, with a log line and a metric), handed to the fallback, or
 *     still pending when the shutdown deadline passes. The DLQ takes permanent rejects
 *     (reason "rejected: ..."), events whose retry.max_attempts ran out on a sink without
 *     a fallback ("retries_exhausted: ..."), and, in a fallback, events it could not
 *     deliver either ("fallback_failed: " + one of those).
 *  3. An item is given back with buffer_done only once none of its events is pending, and
 *     every DLQ write is durable (fdatasync) before that. Items with pending events at the
 *     deadline are released with batch_abandon and not done: a memory item's source never
 *     commits them, a disk item stays on disk for the next start.
 *  4. Fallback: while the circuit is open, or once retry.max_attempts ran out, and a
 *     fallback buffer is set, each item's pending events are copied into a new batch
 *     (marked `fallback`) pushed to the fallback. That batch carries a token
 *     of this runtime's private ledger; the original item is parked (not done) until the
 *     token is released, i.e. until the fallback delivered or durably buffered the copy.
 *     The original item therefore keeps its ack semantics whatever kind the buffers are.
 *  5. Only RETRY outcomes count as breaker failures (a REJECT says the sink is reachable).
 *     Requests in flight together that fail count once: a failure counts only when its
 *     request took its slot after the last failure counted (acq_seq, fail_seq), so four
 *     workers refused by a peer not up yet are one failure, and the next is their retries.
 *     Adaptive concurrency halves on counted failures only, for the same reason.
 *     Circuit transitions happen under rt->mu; one log line per transition:
 *
 *        CLOSED --(failures consecutive failures)--> OPEN      gate_release
 *        OPEN   --(open_ms elapsed, next request)--> HALF_OPEN gate_acquire
 *        HALF_OPEN --(probe ok)--> CLOSED, --(probe failed)--> OPEN   gate_release
 *
 *     In HALF_OPEN exactly one request (the probe) is in flight; others wait or fall back.
 *  6. Adaptive concurrency is AIMD on a slot count taken in gate_acquire: +1 after a streak
 *     (as long as the current limit) of successes whose latency is not rising, halved on a
 *     RETRY (429, timeouts) or on a response far slower than the moving average. Fixed
 *     concurrency simply has as many slots as workers.
 *  7. The housekeeping thread (tick, fallback commits) waits on its own condition so the
 *     per-request broadcasts of rt->cv do not wake it.
 *  8. Batching is Nagle-like: a worker takes what is queued without waiting, and sends at
 *     once when no request of this sink is in flight (waiting could only add latency).
 *     Only while others are in flight does it wait for more, until the request is full,
 *     batch.timeout_ms after its first item, or the last request in flight returns
 *     (gate_release wakes the buffer's waiters). So batches are as large as the load makes
 *     them: one event at a trickle, max_events when the sink is the bottleneck. A sink
 *     whose request is a stored unit (`fill`: an S3 object) always waits, as before.
 *  9. Adaptive batch size (batch.adaptive, not for `fill` sinks): the target a worker cuts
 *     its request to (events and bytes) comes from a batch_ctl under rt->mu, fed by
 *     gate_release with each request's latency, size and push-back (429 or throttled
 *     items: halve; 413: at most half the refused request; growth by 1/8 after a streak
 *     of full quick requests). Workers read the target from atomics when they cut a
 *     request and slice what they popped to it, so a large source batch cannot bypass it.
 *     The request keeps the gen it was cut under: a burst of 429s answered to requests
 *     cut together halves the target once. Latencies of the last SL_LAT_RING requests
 *     give the p50 the housekeeping thread publishes (metrics, status) and logs with the
 *     target when it changed, at most once a second.
 * 10. A sink that prepares runs of events as one piece (net/gz_prep.h: compressed ahead)
 *     uses a run whole only when a request holds all of it. A slice of an item therefore
 *     ends where a run starts (an event with prepared bytes) when one starts inside it:
 *     never larger than the target, at most one run smaller. Events prepared one by one
 *     have bytes, and events not prepared no owner: their slices do not change (and cost
 *     one look).
 * 11. A stop keeps its deadline even while a send waits on its peer (a kafka delivery
 *     report, an HTTP answer, each bounded only by the sink's own timeout): the stop joins
 *     the workers until the deadline, then sets abort_now, which sends see through
 *     res.cancel. A send that ends so answers RETRY for what the peer did not confirm;
 *     those events stay pending (note 3), and the peer may still have taken some of them:
 *     a duplicate at the next start, as at-least-once allows. */
#include "sink_runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch_ctl.h"
#include "common.h"
#include "dlq.h"
#include "log.h"

/* ---- Options ---------------------------------------------------------------------------- */

static const sl_option batch_options[] = {
    {.name = "max_events", .type = SL_OPT_INT, .offset = offsetof(sl_batch_config, max_events),
     .def = "1000", .min = 1, .max = 10000000, .help = "most events in one request"},
    {.name = "max_bytes", .type = SL_OPT_SIZE, .offset = offsetof(sl_batch_config, max_bytes),
     .def = "1MiB", .min = 1, .max = INT64_MAX, .help = "most payload bytes in one request"},
    {.name = "timeout_ms", .type = SL_OPT_DURATION, .offset = offsetof(sl_batch_config, timeout_ms),
     .def = "1000", .min = 0, .max = 3600000,
     .help = "send a partial request this long after its first event"},
    {.name = "adaptive", .type = SL_OPT_BOOL, .offset = offsetof(sl_batch_config, adaptive),
     .def = "true",
     .help = "shrink requests on push-back (429, 413, a far slower answer) and grow them back "
             "while answers stay quick, between max/32 and max_events / max_bytes"},
    SL_OPT_END,
};

static const sl_option retry_options[] = {
    {.name = "initial_ms", .type = SL_OPT_DURATION, .offset = offsetof(sl_retry_config, initial_ms),
     .def = "100", .min = 1, .max = 3600000, .help = "first backoff; doubles per attempt"},
    {.name = "max_ms", .type = SL_OPT_DURATION, .offset = offsetof(sl_retry_config, max_ms),
     .def = "30000", .min = 1, .max = 86400000, .help = "backoff ceiling"},
    {.name = "max_attempts", .type = SL_OPT_INT, .offset = offsetof(sl_retry_config, max_attempts),
     .def = "0", .min = 0, .max = 1000000,
     .help = "attempts before events go to the fallback, or without one to the DLQ; 0 = "
             "retry forever"},
    SL_OPT_END,
};

static const sl_option breaker_options[] = {
    {.name = "failures", .type = SL_OPT_INT, .offset = offsetof(sl_breaker_config, failures),
     .def = "5", .min = 0, .max = 1000000,
     .help = "consecutive failures that open the circuit (requests in flight together count "
              "once); 0 disables it"},
    {.name = "open_ms", .type = SL_OPT_DURATION, .offset = offsetof(sl_breaker_config, open_ms),
     .def = "30000", .min = 1, .max = 86400000, .help = "how long the circuit stays open"},
    SL_OPT_END,
};

const sl_option sl_sink_common_options[] = {
    {.name = "type", .type = SL_OPT_STR, .offset = offsetof(sl_sink_common, type),
     .flags = SL_OPT_REQUIRED, .help = "sink type"},
    /* not SL_OPT_REQUIRED: a sink that is only another sink's fallback has none; the
     * topology checks the rest */
    {.name = "inputs", .type = SL_OPT_STRLIST, .offset = offsetof(sl_sink_common, inputs),
     .help = "ids of the sources/transforms feeding this sink (none for a fallback-only sink)"},
    {.name = "buffer", .type = SL_OPT_OBJECT, .offset = offsetof(sl_sink_common, buffer),
     .sub = sl_buffer_options, .help = "buffer in front of the sink (memory or disk)"},
    {.name = "batch", .type = SL_OPT_OBJECT, .offset = offsetof(sl_sink_common, batch),
     .sub = batch_options, .help = "request size limits"},
    {.name = "concurrency", .type = SL_OPT_CONCURRENCY,
     .offset = offsetof(sl_sink_common, concurrency), .def = "1", .min = 1, .max = 1024,
     .help = "parallel requests: a number, or adaptive (AIMD)"},
    {.name = "retry", .type = SL_OPT_OBJECT, .offset = offsetof(sl_sink_common, retry),
     .sub = retry_options, .help = "backoff for transient errors (full jitter)"},
    {.name = "circuit_breaker", .type = SL_OPT_OBJECT,
     .offset = offsetof(sl_sink_common, circuit_breaker), .sub = breaker_options,
     .help = "stop sending for a while after repeated failures"},
    {.name = "fallback", .type = SL_OPT_STR, .offset = offsetof(sl_sink_common, fallback),
     .help = "id of a sink that takes requests while the circuit is open"},
    {.name = "dlq", .type = SL_OPT_BOOL, .offset = offsetof(sl_sink_common, dlq), .def = "true",
     .help = "write permanently rejected events to <data_dir>/dlq/<id>.ndjson; when false "
             "they are dropped with an error log line and a metric"},
    SL_OPT_END,
};

/* ---- Types ------------------------------------------------------------------------------ */

enum { EV_PENDING = 0, EV_DELIVERED, EV_DEAD, EV_HANDED };
enum { D_DONE = 0, D_FALLBACK, D_ABORT };
enum { OUT_SUCCESS = 0, OUT_FAILURE };
#define SL_LAT_RING 32

/* A request's item: its events have global indices [base, base + n). */
typedef struct rt_item {
    sl_buffer_item it;
    uint32_t base, n;
    uint32_t left;  /* events still pending */
    uint32_t dead;  /* events dead-lettered: the rest of the batch's bytes count as sent */
    bool parked;    /* ownership moved to a park record (fallback) */
} rt_item;

/* An item waiting for its fallback copy to be released (design note 4). */
typedef struct rt_park {
    sl_buffer_item item;
    bool cancelled; /* the push failed: the worker kept the item */
    struct rt_park *prev, *next;
} rt_park;

typedef struct rt_worker {
    struct sl_sink_runtime *rt; /* NULL inside sink_send_once */
    uint32_t gen;               /* batch target generation the slice being sent was cut under */
    uint64_t acq;               /* the runtime's acq_seq when this request took its slot */
    const sl_sink_vtable *vt;
    void *self;
    sl_retry_config retry;
    int64_t max_attempts;
    pthread_t th;
    /* the request (note 1); arrays grow by doubling and are kept between requests */
    rt_item *items;
    size_t nitems, cap_items;
    sl_event **all;     /* by global index */
    uint32_t *owner;    /* global index -> item index */
    uint8_t *resolved;  /* global index -> EV_* */
    sl_event **evs;     /* working order, what send sees */
    uint32_t *gidx;     /* working position -> global index */
    uint8_t *st;        /* send result scratch */
    const char **rsn;
    size_t nev, cap_ev;
    uint64_t bytes;
    sl_buffer_item carry;
    bool has_carry;
    uint64_t rng;
    /* sink_send_once: first failure */
    char *err;
    size_t errlen;
} rt_worker;

struct sl_sink_runtime {
    const sl_sink_vtable *vt;
    void *self;
    const sl_sink_common *cfg;
    char *id;
    sl_buffer *buf;
    sl_metrics *m;
    sl_dlq *dlq;
    int64_t max_events;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_mutex_t serial_mu;
    atomic_bool stopping, abort_now;
    atomic_bool gone; /* a send said the destination can take nothing again (res.gone) */
    atomic_bool pausing; /* sink_runtime_pause: unfinished items go back to the buffer */
    atomic_size_t abandoned; /* events left undelivered at the deadline */
    _Atomic int64_t dead_log_ms; /* rate limit for per-event reject lines */
    atomic_size_t dead_quiet;    /* rejects not logged since the last line */
    _Atomic int64_t retry_log_ms; /* rate limit for retry lines: one per 10 s */
    atomic_size_t retry_quiet;    /* retries not logged since the last line */
    _Atomic int64_t deadline;

    /* breaker + slots, under mu */
    int cstate;
    int64_t open_until;
    int64_t consecutive;
    uint64_t acq_seq;  /* slots taken so far */
    uint64_t fail_seq; /* acq_seq when the last failure was counted (note 5) */
    bool probe_busy;
    int slots_used, limit, max_limit;
    bool adaptive;
    int streak;
    double ewma_ms;

    /* adaptive batch size (note 9): the controller and latency ring under mu, the target
     * also in atomics for workers cutting a request */
    bool badaptive;
    sl_batch_ctl bctl;
    _Atomic uint32_t tgt_events, tgt_gen;
    _Atomic uint64_t tgt_bytes;
    float lat_ms[SL_LAT_RING];
    unsigned nlat, lat_pos;
    bool lat_new;
    int64_t lat_p50_ms_at; /* housekeeping: when the p50 was last computed */
    uint32_t logged_events; /* housekeeping: the target the last info line showed */
    uint64_t logged_bytes;
    int64_t logged_at;

    sl_buffer *fallback;
    sl_ack_ledger *fb_ledger;
    rt_park *parks; /* under mu */

    rt_worker *workers;
    int nworkers;
    pthread_t hk;
    pthread_cond_t hk_cv; /* under mu */
    bool hk_started;
    atomic_bool hk_stop;
};

/* ---- Small helpers ---------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x ? x : 0x9e3779b97f4a7c15ull;
}

static bool rt_aborted(sl_sink_runtime *rt)
{
    if (!rt)
        return false;
    if (atomic_load(&rt->abort_now))
        return true;
    if (atomic_load(&rt->stopping) &&
        (atomic_load(&rt->gone) || sl_mono_ms() >= atomic_load(&rt->deadline))) {
        atomic_store(&rt->abort_now, true);
        return true;
    }
    return false;
}

/* Sleeps ms; returns false (early) once the runtime must abort. Without a runtime it is a
 * plain sleep. */
static bool rt_sleep(sl_sink_runtime *rt, int64_t ms)
{
    if (!rt) {
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        return true;
    }
    int64_t until = sl_mono_ms() + ms;
    pthread_mutex_lock(&rt->mu);
    for (;;) {
        if (rt_aborted(rt)) {
            pthread_mutex_unlock(&rt->mu);
            return false;
        }
        int64_t now = sl_mono_ms();
        if (now >= until)
            break;
        struct timespec ts;
        ts = sl_deadline_mono(SL_MIN(until - now, 100));
        pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    }
    pthread_mutex_unlock(&rt->mu);
    return true;
}

static const char *circuit_name(int s)
{
    return s == SL_CIRCUIT_OPEN ? "open" : s == SL_CIRCUIT_HALF_OPEN ? "half-open" : "closed";
}

/* Caller holds rt->mu. */
static void circuit_set(sl_sink_runtime *rt, int s, const char *why)
{
    if (rt->cstate == s)
        return;
    int lvl = s == SL_CIRCUIT_OPEN ? SL_LOG_WARN : SL_LOG_INFO;
    sl_log(lvl, rt->id, "circuit %s -> %s (%s)", circuit_name(rt->cstate), circuit_name(s), why);
    rt->cstate = s;
    if (s == SL_CIRCUIT_OPEN)
        rt->open_until = sl_mono_ms() + rt->cfg->circuit_breaker.open_ms;
    atomic_store(&rt->m->circuit_state, s);
    pthread_cond_broadcast(&rt->cv);
}

/* Grows the worker's per-request arrays to hold `need` events. */
static void worker_reserve(rt_worker *w, size_t need)
{
    if (need <= w->cap_ev)
        return;
    size_t cap = w->cap_ev ? w->cap_ev : 256;
    while (cap < need)
        cap *= 2;
    w->all = sl_xrealloc(w->all, cap * sizeof *w->all);
    w->owner = sl_xrealloc(w->owner, cap * sizeof *w->owner);
    w->resolved = sl_xrealloc(w->resolved, cap * sizeof *w->resolved);
    w->evs = sl_xrealloc(w->evs, cap * sizeof *w->evs);
    w->gidx = sl_xrealloc(w->gidx, cap * sizeof *w->gidx);
    w->st = sl_xrealloc(w->st, cap * sizeof *w->st);
    w->rsn = sl_xrealloc(w->rsn, cap * sizeof *w->rsn);
    w->cap_ev = cap;
}

static void worker_free_arrays(rt_worker *w)
{
    free(w->items);
    free(w->all);
    free(w->owner);
    free(w->resolved);
    free(w->evs);
    free(w->gidx);
    free(w->st);
    free(w->rsn);
}

/* Adds a popped item to the request (takes ownership of it). */
static void request_add(rt_worker *w, const sl_buffer_item *it)
{
    if (w->nitems == w->cap_items) {
        w->cap_items = w->cap_items ? w->cap_items * 2 : 16;
        w->items = sl_xrealloc(w->items, w->cap_items * sizeof *w->items);
    }
    uint32_t n = it->batch ? it->batch->n : 0;
    worker_reserve(w, w->nev + n);
    rt_item *ri = &w->items[w->nitems];
    ri->it = *it;
    ri->base = (uint32_t)w->nev;
    ri->n = n;
    ri->left = n;
    ri->dead = 0;
    ri->parked = false;
    for (uint32_t i = 0; i < n; i++) {
        w->all[w->nev + i] = &it->batch->events[i];
        w->owner[w->nev + i] = (uint32_t)w->nitems;
        w->resolved[w->nev + i] = EV_PENDING;
    }
    w->nev += n;
    w->bytes += it->batch ? it->batch->bytes : 0;
    w->nitems++;
}

/* ---- Event resolution ------------------------------------------------------------------- */

/* Returns 1 if the event was pending (the caller counts them into sent_events once per
 * request); its bytes are counted when its item is released (release_items), from the
 * batch's size, not by walking the delivered event's fields again. */
static size_t resolve_ok(rt_worker *w, size_t pos)
{
    uint32_t g = w->gidx[pos];
    if (w->resolved[g] != EV_PENDING)
        return 0;
    w->resolved[g] = EV_DELIVERED;
    if (w->rt)
        w->items[w->owner[g]].left--;
    return 1;
}

/* One line per second at most, so a flood of rejects cannot flood the log. */
static void dead_log(sl_sink_runtime *rt, int level, const char *what, const char *reason)
{
    int64_t now = sl_mono_ms(), last = atomic_load(&rt->dead_log_ms);
    if (last && now - last < 1000) {
        atomic_fetch_add(&rt->dead_quiet, 1);
        return;
    }
    if (!atomic_compare_exchange_strong(&rt->dead_log_ms, &last, now)) {
        atomic_fetch_add(&rt->dead_quiet, 1);
        return;
    }
    size_t quiet = atomic_exchange(&rt->dead_quiet, 0);
    if (quiet)
        sl_log(level, rt->id, "%s: %s (and %zu more since the last line)", what, reason, quiet);
    else
        sl_log(level, rt->id, "%s: %s", what, reason);
}

/* Why an event goes to the DLQ; the record's reason is "<why>: <detail>", prefixed with
 * "fallback_failed: " when the event was handed over by another sink (its batch is a
 * fallback copy, or this sink has no inputs of its own, e.g. replayed from its disk
 * buffer after a restart). */
#define WHY_REJECTED "rejected"
#define WHY_EXHAUSTED "retries_exhausted"

/* Dead-letters one event. Returns false if the DLQ write could not be made durable before
 * the shutdown deadline (the event stays pending). */
static bool resolve_dead(rt_worker *w, size_t pos, const char *why, const char *detail,
                         int attempts, int64_t first_ns)
{
    uint32_t g = w->gidx[pos];
    if (w->resolved[g] != EV_PENDING)
        return true;
    sl_sink_runtime *rt = w->rt;
    char reason[400];
    bool handed = rt && (rt->cfg->inputs.n == 0 || w->items[w->owner[g]].it.batch->fallback);
    snprintf(reason, sizeof reason, "%s%s: %s", handed ? "fallback_failed: " : "", why, detail);
    if (!rt) {
        if (w->err && !w->err[0])
            sl_seterr(w->err, w->errlen, SL_ERR_IO, "%s", reason);
        w->resolved[g] = EV_DEAD;
        return true;
    }
    if (!rt->dlq) {
        /* dlq: false - the operator chose to drop permanent rejects. */
        dead_log(rt, SL_LOG_ERROR, "event dropped (dlq disabled)", reason);
        metrics_error(rt->m, "rejected_dropped");
        atomic_fetch_add(&rt->m->dropped_events, 1);
    } else {
        int64_t backoff = 100;
        for (;;) {
            if (dlq_write(rt->dlq, w->all[g], reason, attempts, first_ns, sl_now_ns()) == SL_OK)
                break;
            log_error(rt->id, "DLQ write failed; retrying in %lld ms", (long long)backoff);
            metrics_error(rt->m, "dlq_io");
            if (!rt_sleep(rt, backoff))
                return false;
            backoff = SL_MIN(backoff * 2, 5000);
        }
        dead_log(rt, SL_LOG_WARN, "event dead-lettered", reason);
        atomic_fetch_add(&rt->m->dlq_events, 1);
    }
    w->resolved[g] = EV_DEAD;
    w->items[w->owner[g]].left--;
    w->items[w->owner[g]].dead++;
    return true;
}

/* ---- Gate: circuit breaker and concurrency slots ---------------------------------------- */

static int gate_acquire(rt_worker *w, bool *probe)
{
    sl_sink_runtime *rt = w->rt;
    *probe = false;
    if (!rt)
        return D_DONE;
    pthread_mutex_lock(&rt->mu);
    for (;;) {
        if (rt_aborted(rt)) {
            pthread_mutex_unlock(&rt->mu);
            return D_ABORT;
        }
        int64_t now = sl_mono_ms();
        if (rt->cstate == SL_CIRCUIT_OPEN && now >= rt->open_until)
            circuit_set(rt, SL_CIRCUIT_HALF_OPEN, "probing");
        bool breaker_ok = rt->cstate == SL_CIRCUIT_CLOSED ||
                          (rt->cstate == SL_CIRCUIT_HALF_OPEN && !rt->probe_busy);
        if (!breaker_ok && rt->fallback) {
            pthread_mutex_unlock(&rt->mu);
            return D_FALLBACK;
        }
        if (breaker_ok && rt->slots_used < rt->limit) {
            rt->slots_used++;
            w->acq = ++rt->acq_seq;
            if (rt->cstate == SL_CIRCUIT_HALF_OPEN) {
                rt->probe_busy = true;
                *probe = true;
            }
            atomic_fetch_add(&rt->m->inflight, 1);
            pthread_mutex_unlock(&rt->mu);
            return D_DONE;
        }
        int64_t wait = 100;
        if (rt->cstate == SL_CIRCUIT_OPEN)
            wait = SL_MAX(1, SL_MIN(wait, rt->open_until - now));
        struct timespec ts;
        ts = sl_deadline_mono(wait);
        pthread_cond_timedwait(&rt->cv, &rt->mu, &ts);
    }
}

/* Caller holds rt->mu. Publishes the batch target for workers cutting requests. */
static void batch_publish(sl_sink_runtime *rt)
{
    atomic_store(&rt->tgt_bytes, rt->bctl.bytes);
    atomic_store(&rt->tgt_events, rt->bctl.events);
    atomic_store(&rt->tgt_gen, rt->bctl.gen);
    atomic_store(&rt->m->batch_target, (int64_t)rt->bctl.events);
    atomic_store(&rt->m->batch_target_bytes, (int64_t)rt->bctl.bytes);
}

/* bo: what the request teaches the batch size (note 9), NULL when nothing. */
static void gate_release(rt_worker *w, bool probe, int outcome, double ms,
                         const sl_batch_obs *bo)
{
    sl_sink_runtime *rt = w->rt;
    if (!rt)
        return;
    pthread_mutex_lock(&rt->mu);
    rt->lat_ms[rt->lat_pos] = (float)ms;
    rt->lat_pos = (rt->lat_pos + 1) % SL_LAT_RING;
    if (rt->nlat < SL_LAT_RING)
        rt->nlat++;
    rt->lat_new = true;
    if (bo && rt->badaptive && batch_ctl_observe(&rt->bctl, bo))
        batch_publish(rt);
    rt->slots_used--;
    atomic_fetch_sub(&rt->m->inflight, 1);
    int64_t thr = rt->cfg->circuit_breaker.failures;
    if (outcome == OUT_FAILURE) {
        /* Note 5: one failure for the requests that were in flight together. */
        bool counted = w->acq > rt->fail_seq;
        if (counted) {
            rt->consecutive++;
            rt->fail_seq = rt->acq_seq;
        }
        if (probe) {
            rt->probe_busy = false;
            /* Force a fresh open period even if another request reopened it. */
            rt->cstate = SL_CIRCUIT_HALF_OPEN;
            circuit_set(rt, SL_CIRCUIT_OPEN, "probe failed");
        } else if (rt->cstate == SL_CIRCUIT_CLOSED && thr > 0 && rt->consecutive >= thr) {
            char why[64];
            snprintf(why, sizeof why, "%lld consecutive failures", (long long)rt->consecutive);
            circuit_set(rt, SL_CIRCUIT_OPEN, why);
        }
        if (rt->adaptive && counted) {
            rt->limit = SL_MAX(1, rt->limit / 2);
            rt->streak = 0;
        }
    } else {
        rt->consecutive = 0;
        if (probe) {
            rt->probe_busy = false;
            circuit_set(rt, SL_CIRCUIT_CLOSED, "probe succeeded");
        }
        if (rt->adaptive) {
            bool rising = rt->ewma_ms > 0 && ms > rt->ewma_ms * 1.5 + 1.0;
            bool slow = rt->ewma_ms > 0 && ms > rt->ewma_ms * 3.0 + 50.0;
            rt->ewma_ms = rt->ewma_ms > 0 ? rt->ewma_ms * 0.8 + ms * 0.2 : ms;
            if (slow) {
                /* A response far slower than usual is the server pushing back. */
                rt->limit = SL_MAX(1, rt->limit / 2);
                rt->streak = 0;
            } else if (rising) {
                rt->streak = 0;
            } else if (++rt->streak >= rt->limit) {
                rt->streak = 0;
                if (rt->limit < rt->max_limit)
                    rt->limit++;
            }
        }
    }
    atomic_store(&rt->m->concurrency_limit, rt->limit);
    bool idle = rt->slots_used == 0;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    if (idle)
        buffer_wake(rt->buf); /* note 8: a request waiting to grow may go now */
}

/* ---- Delivery --------------------------------------------------------------------------- */

static bool backoff_sleep(rt_worker *w, int attempts, int64_t retry_after_ms)
{
    int64_t cap = w->retry.initial_ms > 0 ? w->retry.initial_ms : 1;
    int64_t maxv = w->retry.max_ms > 0 ? w->retry.max_ms : 30000;
    for (int i = 1; i < attempts && cap < maxv; i++)
        cap *= 2;
    cap = SL_MIN(cap, maxv);
    int64_t ms = (int64_t)(rng_next(&w->rng) % (uint64_t)(cap + 1)); /* full jitter */
    if (retry_after_ms > 0)
        ms = SL_MAX(ms, SL_MIN(retry_after_ms, 3600000)); /* the server knows best, within reason */
    return rt_sleep(w->rt, ms);
}

static int dead_range(rt_worker *w, size_t lo, size_t n, const char *why, const char *detail,
                      int attempts, int64_t first_ns)
{
    for (size_t p = lo; p < lo + n; p++)
        if (!resolve_dead(w, p, why, detail, attempts, first_ns))
            return D_ABORT;
    return D_DONE;
}

static bool has_fallback(sl_sink_runtime *rt)
{
    if (!rt)
        return false;
    pthread_mutex_lock(&rt->mu);
    bool fb = rt->fallback != NULL;
    pthread_mutex_unlock(&rt->mu);
    return fb;
}

/* Delivers the events at working positions [lo, lo+n): retries, bisects, dead-letters.
 * `attempts` and `first_ns` carry the history of the request this range was cut from. */
static int deliver_range(rt_worker *w, size_t lo, size_t n, int attempts, int64_t first_ns)
{
    sl_sink_runtime *rt = w->rt;
    char reason[256];
    while (n > 0) {
        bool probe;
        int g = gate_acquire(w, &probe);
        if (g != D_DONE)
            return g;
        if (!first_ns)
            first_ns = sl_now_ns();
        attempts++;
        sl_send_result res;
        memset(&res, 0, sizeof res);
        memset(w->st + lo, 0, n);
        memset(w->rsn + lo, 0, n * sizeof *w->rsn);
        res.item_status = w->st + lo;
        res.item_reason = w->rsn + lo;
        res.cancel = rt ? &rt->abort_now : NULL;
        int64_t t0 = sl_mono_ns();
        if (rt && w->vt->serial)
            pthread_mutex_lock(&rt->serial_mu);
        int rc = w->vt->send(w->self, w->evs + lo, n, &res);
        if (rt && w->vt->serial)
            pthread_mutex_unlock(&rt->serial_mu);
        double secs = (double)(sl_mono_ns() - t0) / 1e9;
        res.reason[sizeof res.reason - 1] = '\0';
        int status = res.status;
        if (status < SL_SEND_OK || status > SL_SEND_PARTIAL ||
            (rc != SL_OK && status == SL_SEND_OK)) {
            snprintf(res.reason, sizeof res.reason, "send failed: %s",
                     rc != SL_OK ? sl_strerror(rc) : "invalid status");
            status = SL_SEND_RETRY;
        }
        size_t nretry = 0, nok = 0;
        if (status == SL_SEND_PARTIAL)
            for (size_t i = 0; i < n; i++) {
                if (w->st[lo + i] == SL_ITEM_OK)
                    nok++;
                else if (w->st[lo + i] != SL_ITEM_REJECT)
                    nretry++; /* unknown codes are treated as transient */
            }
        bool failed = status == SL_SEND_RETRY || (status == SL_SEND_PARTIAL && nok == 0 &&
                                                  nretry == n);
        sl_batch_obs bo = {
            .gen = w->gen,
            .outcome = res.too_large   ? SL_BC_TOO_LARGE
                       : res.throttled ? SL_BC_THROTTLED
                       : failed        ? SL_BC_FAILED
                                       : SL_BC_OK,
            .ms = secs * 1000.0,
            .events = (uint32_t)n,
            .bytes = w->nev ? (uint64_t)((double)w->bytes * (double)n / (double)w->nev) : 0,
        };
        gate_release(w, probe, failed ? OUT_FAILURE : OUT_SUCCESS, secs * 1000.0, &bo);
        if (rt && res.throttled && !failed && rt->adaptive) {
            pthread_mutex_lock(&rt->mu);
            rt->limit = SL_MAX(1, rt->limit / 2);
            rt->streak = 0;
            atomic_store(&rt->m->concurrency_limit, rt->limit);
            pthread_mutex_unlock(&rt->mu);
        }
        if (rt && res.open_circuit && status == SL_SEND_RETRY &&
            rt->cfg->circuit_breaker.failures > 0) {
            /* The sink says no retry can succeed until someone fixes credentials. */
            pthread_mutex_lock(&rt->mu);
            circuit_set(rt, SL_CIRCUIT_OPEN, res.reason[0] ? res.reason : "refused by the sink");
            pthread_mutex_unlock(&rt->mu);
        }
        if (rt && res.gone && status == SL_SEND_RETRY)
            atomic_store(&rt->gone, true);
        if (rt)
            metrics_observe_duration(rt->m, secs);
        const char *why = res.reason[0] ? res.reason : NULL;
        /* A sink that answers per event (a redis reply, a kafka report) may say why only
         * there: the first retried event's reason, else the first rejected one's, is the
         * request's for the retry log and a retries_exhausted record. */
        for (int pass = 0; !why && status == SL_SEND_PARTIAL && pass < 2; pass++)
            for (size_t i = 0; i < n && !why; i++)
                if (w->st[lo + i] == (pass ? SL_ITEM_REJECT : SL_ITEM_RETRY) &&
                    w->rsn[lo + i] && w->rsn[lo + i][0])
                    why = w->rsn[lo + i];
        snprintf(reason, sizeof reason, "%s", why ? why : "unspecified");

        if (status == SL_SEND_OK) {
            size_t ok = 0;
            for (size_t p = lo; p < lo + n; p++)
                ok += resolve_ok(w, p);
            if (rt)
                atomic_fetch_add(&rt->m->sent_events, ok);
            return D_DONE;
        }
        if (status == SL_SEND_REJECT) {
            if (rt)
                metrics_error(rt->m, "reject");
            if (n == 1)
                return dead_range(w, lo, 1, WHY_REJECTED, reason, attempts, first_ns);
            /* Bisect so one poison event cannot take its neighbours with it. */
            size_t half = n / 2;
            int r = deliver_range(w, lo, half, attempts, first_ns);
            if (r != D_DONE)
                return r;
            return deliver_range(w, lo + half, n - half, attempts, first_ns);
        }
        if (status == SL_SEND_PARTIAL) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                size_t p = lo + i;
                if (w->st[p] == SL_ITEM_OK) {
                    size_t ok = resolve_ok(w, p);
                    if (rt && ok)
                        atomic_fetch_add(&rt->m->sent_events, ok);
                } else if (w->st[p] == SL_ITEM_REJECT) {
                    const char *ir = w->rsn[p] && w->rsn[p][0] ? w->rsn[p] : reason;
                    if (rt)
                        metrics_error(rt->m, "reject");
                    if (!resolve_dead(w, p, WHY_REJECTED, ir, attempts, first_ns))
                        return D_ABORT;
                }
            }
            /* Keep only the RETRY ones, in order, at the front of the range. */
            for (size_t i = 0; i < n; i++) {
                size_t p = lo + i;
                if (w->resolved[w->gidx[p]] == EV_PENDING) {
                    w->evs[lo + k] = w->evs[p];
                    w->gidx[lo + k] = w->gidx[p];
                    k++;
                }
            }
            n = k;
            if (n == 0)
                return D_DONE;
        }
        /* RETRY, or what is left of a PARTIAL. */
        if (rt) {
            atomic_fetch_add(&rt->m->retries, 1);
            metrics_error(rt->m, "retry");
        }
        if (w->max_attempts > 0 && attempts >= w->max_attempts) {
            if (has_fallback(rt)) {
                /* Transient failures are what a fallback is for: the DLQ is the last
                 * resort (design note 2). request_process hands every pending event over. */
                metrics_error(rt->m, "retries_exhausted");
                dead_log(rt, SL_LOG_WARN, "retries exhausted, events handed to the fallback",
                         reason);
                return D_FALLBACK;
            }
            return dead_range(w, lo, n, WHY_EXHAUSTED, reason, attempts, first_ns);
        }
        if (rt) {
            int64_t now = sl_mono_ms(), last = atomic_load(&rt->retry_log_ms);
            if ((last == 0 || now - last >= 10000) &&
                atomic_compare_exchange_strong(&rt->retry_log_ms, &last, now)) {
                size_t quiet = atomic_exchange(&rt->retry_quiet, 0);
                log_warn(rt->id, "delivery failed, retrying with backoff (attempt %d): %s%s", attempts,
                         reason, quiet ? " (and more since the last line)" : "");
            } else {
                atomic_fetch_add(&rt->retry_quiet, 1);
            }
        }
        if (!backoff_sleep(w, attempts, res.retry_after_ms))
            return D_ABORT;
    }
    return D_DONE;
}

/* Lays out every pending event in working order and delivers it in max_events slices. */
static int deliver_pending(rt_worker *w, size_t max_events)
{
    size_t k = 0;
    for (size_t g = 0; g < w->nev; g++)
        if (w->resolved[g] == EV_PENDING) {
            w->evs[k] = w->all[g];
            w->gidx[k] = (uint32_t)g;
            k++;
        }
    for (size_t lo = 0; lo < k;) {
        size_t slice = max_events;
        sl_sink_runtime *rt = w->rt;
        if (rt && rt->badaptive) {
            /* Note 9: each slice of a large item is cut to the target as it is now, so
             * a 413 or 429 on one slice shrinks the next. */
            w->gen = atomic_load(&rt->tgt_gen);
            slice = SL_MIN(slice, (size_t)atomic_load(&rt->tgt_events));
        }
        slice = SL_MIN(slice, k - lo);
        if (slice < k - lo) {
            /* Note 10: end the slice where a run of prepared bytes starts, if one does. */
            size_t j = lo + slice;
            while (j > lo && w->evs[j]->prep_owner && !w->evs[j]->prep_len)
                j--;
            if (j > lo)
                slice = j - lo;
        }
        int r = deliver_range(w, lo, slice, 0, 0);
        if (r != D_DONE)
            return r;
        lo += slice;
    }
    return D_DONE;
}

/* ---- Fallback --------------------------------------------------------------------------- */

static void park_unlink(sl_sink_runtime *rt, rt_park *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        rt->parks = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

/* Called from the housekeeping thread as fallback copies are released, in order. */
static void park_commit(void *arg, uint64_t key, uint64_t value)
{
    sl_sink_runtime *rt = arg;
    rt_park *p = (rt_park *)(uintptr_t)value;
    pthread_mutex_lock(&rt->mu);
    park_unlink(rt, p);
    pthread_mutex_unlock(&rt->mu);
    if (!p->cancelled)
        buffer_done(rt->buf, &p->item);
    free(p);
}

/* Hands every item's pending events to the fallback buffer. Returns true when nothing is
 * left pending. */
static bool handoff_fallback(rt_worker *w)
{
    sl_sink_runtime *rt = w->rt;
    bool all = true;
    for (size_t k = 0; k < w->nitems; k++) {
        rt_item *ri = &w->items[k];
        if (ri->left == 0 || ri->parked)
            continue;
        sl_batch *fb = batch_new(ri->left);
        fb->origin = ri->it.batch->origin;
        fb->fallback = true;
        for (uint32_t g = ri->base; g < ri->base + ri->n; g++)
            if (w->resolved[g] == EV_PENDING)
                batch_append_copy(fb, w->all[g]);
        rt_park *p = sl_xcalloc(1, sizeof *p);
        p->item = ri->it;
        pthread_mutex_lock(&rt->mu);
        p->next = rt->parks;
        if (rt->parks)
            rt->parks->prev = p;
        rt->parks = p;
        pthread_cond_broadcast(&rt->hk_cv);
        pthread_mutex_unlock(&rt->mu);
        fb->ack = ack_token_open(rt->fb_ledger, 0, (uint64_t)(uintptr_t)p);
        int rc = buffer_push(rt->fallback, fb);
        if (rc != SL_OK) {
            /* Not taken: the worker keeps the item; releasing fb frees the park unused. */
            p->cancelled = true;
            batch_release(fb);
            log_error(rt->id, "fallback push failed: %s", sl_strerror(rc));
            metrics_error(rt->m, "fallback_push");
            all = false;
            continue;
        }
        batch_release(fb);
        for (uint32_t g = ri->base; g < ri->base + ri->n; g++)
            if (w->resolved[g] == EV_PENDING)
                w->resolved[g] = EV_HANDED;
        ri->left = 0;
        ri->parked = true;
        metrics_error(rt->m, "fallback");
    }
    return all;
}

/* ---- Workers ---------------------------------------------------------------------------- */

/* Finishes a request: done items whose events all resolved, abandon the rest (note 3). */
static void request_finish(rt_worker *w)
{
    /* Pausing: what goes back into a memory buffer goes to its head, so the carry (popped
     * after these items) goes first and the items last to first, keeping buffer order. */
    bool pausing = atomic_load(&w->rt->pausing);
    if (pausing && w->has_carry) {
        if (buffer_requeue(w->rt->buf, &w->carry) != SL_OK) {
            atomic_fetch_add(&w->rt->abandoned, w->carry.batch ? w->carry.batch->n : 0);
            batch_abandon(w->carry.batch);
        }
        w->has_carry = false;
    }
    for (size_t j = 0; j < w->nitems; j++) {
        size_t k = pausing ? w->nitems - 1 - j : j;
        rt_item *ri = &w->items[k];
        if (ri->parked)
            continue;
        if (ri->left == 0) {
            const sl_batch *b = ri->it.batch;
            if (b && ri->n > ri->dead)
                atomic_fetch_add(&w->rt->m->sent_bytes,
                                 ri->dead ? b->bytes / ri->n * (ri->n - ri->dead) : b->bytes);
            buffer_done(w->rt->buf, &ri->it);
        }
        else if (pausing && buffer_requeue(w->rt->buf, &ri->it) == SL_OK) {
            /* kept for the sink's next runtime; events of it already delivered go again */
        } else {
            atomic_fetch_add(&w->rt->abandoned, ri->left);
            batch_abandon(ri->it.batch);
        }
    }
    w->nitems = 0;
    w->nev = 0;
    w->bytes = 0;
}

static void request_process(rt_worker *w)
{
    sl_sink_runtime *rt = w->rt;
    int64_t nev = (int64_t)w->nev;
    atomic_fetch_add(&rt->m->request_events, nev);
    for (;;) {
        int r = deliver_pending(w, (size_t)rt->max_events);
        if (r != D_FALLBACK)
            break;
        if (handoff_fallback(w))
            break;
        if (!rt_sleep(rt, 100))
            break;
    }
    request_finish(w);
    atomic_fetch_sub(&rt->m->request_events, nev);
}

static void *worker_main(void *arg)
{
    rt_worker *w = arg;
    sl_sink_runtime *rt = w->rt;
    const sl_batch_config *bc = &rt->cfg->batch;
    uint64_t cfg_bytes = bc->max_bytes ? bc->max_bytes : 1u << 20;
    for (;;) {
        if (rt_aborted(rt) || atomic_load(&rt->pausing))
            break;
        /* Note 9: cut the request to the current target. */
        size_t max_events = (size_t)rt->max_events;
        uint64_t max_bytes = cfg_bytes;
        if (rt->badaptive) {
            max_events = SL_MIN(max_events, (size_t)atomic_load(&rt->tgt_events));
            max_bytes = SL_MIN(max_bytes, atomic_load(&rt->tgt_bytes));
        }
        sl_buffer_item it;
        if (w->has_carry) {
            request_add(w, &w->carry);
            w->has_carry = false;
        } else {
            /* A pause wakes the buffer and a stop closes it, so the timeout only bounds how
             * long an idle worker sleeps. */
            int rc = buffer_pop(rt->buf, &it, 1000);
            if (rc == SL_ERR_TIMEOUT)
                continue;
            if (rc != SL_OK)
                break; /* closed and drained */
            request_add(w, &it);
        }
        /* Note 8: take what is queued; wait for more only while another request is out (or
         * always for a `fill` sink). */
        int64_t first = sl_mono_ms();
        while (w->nev < max_events && w->bytes < max_bytes && !rt_aborted(rt) &&
               !atomic_load(&rt->pausing)) {
            int wait = 0;
            uint64_t wakes = buffer_wakes(rt->buf); /* before looking at inflight */
            if (rt->vt->fill || atomic_load(&rt->m->inflight) > 0) {
                int64_t left = bc->timeout_ms - (sl_mono_ms() - first);
                if (left <= 0)
                    break;
                wait = (int)SL_MIN(left, 100);
            }
            int rc = buffer_pop_since(rt->buf, &it, wait, wakes);
            if (rc == SL_ERR_TIMEOUT && wait > 0)
                continue; /* a request returned, or time to look at the clock again */
            if (rc != SL_OK)
                break;
            uint32_t n = it.batch ? it.batch->n : 0;
            uint64_t nb = it.batch ? it.batch->bytes : 0;
            if (w->nev + n > max_events || w->bytes + nb > max_bytes) {
                w->carry = it; /* never split an item across requests */
                w->has_carry = true;
                break;
            }
            request_add(w, &it);
        }
        request_process(w);
    }
    if (w->has_carry) {
        if (!atomic_load(&rt->pausing) || buffer_requeue(rt->buf, &w->carry) != SL_OK) {
            atomic_fetch_add(&rt->abandoned, w->carry.batch ? w->carry.batch->n : 0);
            batch_abandon(w->carry.batch);
        }
        w->has_carry = false;
    }
    return NULL;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Housekeeping, note 9: publishes the latency p50 (at most every 100 ms, when requests
 * returned) and logs a changed batch target, at most once a second. */
static void hk_adaptive(sl_sink_runtime *rt)
{
    int64_t now = sl_mono_ms();
    float v[SL_LAT_RING];
    unsigned n = 0;
    bool say = false;
    uint32_t ev = 0;
    uint64_t bytes = 0;
    int limit = 0;
    pthread_mutex_lock(&rt->mu);
    if (rt->lat_new && now - rt->lat_p50_ms_at >= 100) {
        n = rt->nlat;
        memcpy(v, rt->lat_ms, n * sizeof *v);
        rt->lat_new = false;
        rt->lat_p50_ms_at = now;
    }
    if (rt->badaptive && (rt->bctl.events != rt->logged_events ||
                          rt->bctl.bytes != rt->logged_bytes) && now - rt->logged_at >= 1000) {
        say = true;
        ev = rt->logged_events = rt->bctl.events;
        bytes = rt->logged_bytes = rt->bctl.bytes;
        rt->logged_at = now;
        limit = rt->limit;
    }
    pthread_mutex_unlock(&rt->mu);
    if (n) {
        qsort(v, n, sizeof *v, cmp_float);
        atomic_store(&rt->m->latency_p50_us, (int64_t)((double)v[n / 2] * 1000.0));
    }
    if (say)
        log_info(rt->id, "adaptive: batch=%u in_flight=%d latency_p50=%lldms max_bytes=%llu",
                 ev, limit, (long long)(atomic_load(&rt->m->latency_p50_us) / 1000),
                 (unsigned long long)bytes);
}

/* Housekeeping: commits fallback releases and ticks the sink about once a second. */
static void *hk_main(void *arg)
{
    sl_sink_runtime *rt = arg;
    int64_t last_tick = sl_mono_ms();
    while (!atomic_load(&rt->hk_stop)) {
        ack_ledger_collect(rt->fb_ledger, park_commit, rt);
        hk_adaptive(rt);
        if (rt->vt->tick && sl_mono_ms() - last_tick >= 1000) {
            last_tick = sl_mono_ms();
            if (rt->vt->serial)
                pthread_mutex_lock(&rt->serial_mu);
            rt->vt->tick(rt->self);
            if (rt->vt->serial)
                pthread_mutex_unlock(&rt->serial_mu);
        }
        pthread_mutex_lock(&rt->mu);
        if (!atomic_load(&rt->hk_stop)) {
            /* Parked items wait on their fallback's acks: collect them every 20 ms. Else
             * only the latency figure and vt->tick need the thread: 250 ms, so an idle
             * sink costs next to nothing. A new park wakes it. */
            struct timespec ts = sl_deadline_mono(rt->parks ? 20 : 250);
            pthread_cond_timedwait(&rt->hk_cv, &rt->mu, &ts);
        }
        pthread_mutex_unlock(&rt->mu);
    }
    ack_ledger_collect(rt->fb_ledger, park_commit, rt);
    return NULL;
}

/* ---- Public API ------------------------------------------------------------------------- */

static void rt_join(sl_sink_runtime *rt, int nstarted)
{
    for (int i = 0; i < nstarted; i++)
        pthread_join(rt->workers[i].th, NULL);
}

/* Joins the workers; at the deadline sets abort_now, which a send in progress sees
 * (res.cancel) and ends on, so a stop does not wait out a peer's timeout (note 11). */
static void rt_join_until(sl_sink_runtime *rt, int64_t deadline_ms)
{
    for (int i = 0; i < rt->nworkers; i++) {
        pthread_t th = rt->workers[i].th;
        if (!atomic_load(&rt->abort_now)) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t left = SL_MAX(deadline_ms - sl_mono_ms(), 0);
            ts.tv_sec += left / 1000;
            ts.tv_nsec += (left % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_timedjoin_np(th, NULL, &ts) == 0)
                continue;
            pthread_mutex_lock(&rt->mu);
            atomic_store(&rt->abort_now, true);
            pthread_cond_broadcast(&rt->cv);
            pthread_mutex_unlock(&rt->mu);
        }
        pthread_join(th, NULL);
    }
}

int sink_runtime_start(sl_sink_runtime **out, const sl_sink_vtable *vt, void *self,
                       const sl_sink_common *cfg, const char *id, sl_buffer *buf,
                       const char *data_dir, sl_metrics *m, char *err, size_t errlen)
{
    *out = NULL;
    if (!vt || !vt->send || !cfg || !buf || !m || !id)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "sink runtime: missing argument");
    if (cfg->concurrency == 0 || cfg->concurrency < -1)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "sinks.%s.concurrency: must be a positive "
                         "number or adaptive", id);
    if (vt->ordered && cfg->concurrency != 1) /* topology_build refuses it first */
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "sinks.%s.concurrency: a %s sink sends "
                         "one request at a time, in order (concurrency 1)", id, vt->type);
    sl_sink_runtime *rt = sl_xcalloc(1, sizeof *rt);
    rt->vt = vt;
    rt->self = self;
    rt->cfg = cfg;
    rt->id = sl_xstrdup(id);
    rt->buf = buf;
    rt->m = m;
    rt->max_events = cfg->batch.max_events > 0 ? cfg->batch.max_events : 1000;
    if (cfg->dlq) {
        int rc = dlq_open(&rt->dlq, data_dir ? data_dir : ".", id, err, errlen);
        if (rc != SL_OK) {
            free(rt->id);
            free(rt);
            return rc;
        }
    }
    sl_cond_init_mono(&rt->cv);
    sl_cond_init_mono(&rt->hk_cv);
    pthread_mutex_init(&rt->mu, NULL);
    pthread_mutex_init(&rt->serial_mu, NULL);
    atomic_init(&rt->stopping, false);
    atomic_init(&rt->gone, false);
    atomic_init(&rt->abort_now, false);
    atomic_init(&rt->pausing, false);
    atomic_init(&rt->deadline, INT64_MAX);
    atomic_init(&rt->hk_stop, false);
    rt->fb_ledger = ack_ledger_new();
    rt->cstate = SL_CIRCUIT_CLOSED;
    if (cfg->concurrency == -1) {
        rt->adaptive = true;
        rt->nworkers = SL_MAX(4, 2 * sl_ncpu());
        rt->limit = 1;
    } else {
        rt->nworkers = (int)cfg->concurrency;
        rt->limit = rt->nworkers;
    }
    rt->max_limit = rt->nworkers;
    atomic_store(&m->concurrency_limit, rt->limit);
    rt->badaptive = cfg->batch.adaptive && !vt->fill;
    batch_ctl_init(&rt->bctl, (uint32_t)SL_MIN(rt->max_events, (int64_t)UINT32_MAX),
                   cfg->batch.max_bytes ? cfg->batch.max_bytes : 1u << 20);
    rt->logged_events = rt->bctl.events;
    rt->logged_bytes = rt->bctl.bytes;
    batch_publish(rt);
    atomic_store(&m->latency_p50_us, 0);
    atomic_store(&m->circuit_state, SL_CIRCUIT_CLOSED);
    atomic_store(&m->inflight, 0);
    atomic_store(&m->request_events, 0);

    rt->workers = sl_xcalloc((size_t)rt->nworkers, sizeof *rt->workers);
    uint64_t seed = (uint64_t)sl_now_ns() ^ (uint64_t)(uintptr_t)rt;
    int started = 0;
    for (; started < rt->nworkers; started++) {
        rt_worker *w = &rt->workers[started];
        w->rt = rt;
        w->vt = vt;
        w->self = self;
        w->retry = cfg->retry;
        w->max_attempts = cfg->retry.max_attempts;
        w->rng = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(started + 1);
        if (pthread_create(&w->th, NULL, worker_main, w) != 0)
            break;
        sl_thread_name(w->th, "sink", id);
    }
    int rc = SL_OK;
    if (started < rt->nworkers) {
        rc = sl_seterr(err, errlen, SL_ERR_NOMEM, "sink %s: cannot start worker threads", id);
    } else if (pthread_create(&rt->hk, NULL, hk_main, rt) != 0) {
        rc = sl_seterr(err, errlen, SL_ERR_NOMEM, "sink %s: cannot start a thread", id);
    } else {
        sl_thread_name(rt->hk, "hk", id);
        rt->hk_started = true;
    }
    if (rc != SL_OK) {
        atomic_store(&rt->abort_now, true);
        pthread_cond_broadcast(&rt->cv);
        buffer_wake(rt->buf);
        rt_join(rt, started);
        rt->nworkers = started; /* joined already */
        for (int i = 0; i < started; i++)
            worker_free_arrays(&rt->workers[i]);
        free(rt->workers);
        rt->workers = NULL;
        rt->nworkers = 0;
        sink_runtime_free(rt);
        return rc;
    }
    log_info(id, "sink runtime started: %d worker(s)%s%s", rt->nworkers,
             rt->adaptive ? " (adaptive concurrency)" : "",
             rt->badaptive ? " (adaptive batch size)" : "");
    *out = rt;
    return SL_OK;
}

void sink_runtime_set_fallback(sl_sink_runtime *rt, sl_buffer *fallback)
{
    pthread_mutex_lock(&rt->mu);
    rt->fallback = fallback;
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
}

static void rt_stop_housekeeping(sl_sink_runtime *rt)
{
    if (!rt->hk_started)
        return;
    pthread_mutex_lock(&rt->mu);
    atomic_store(&rt->hk_stop, true);
    pthread_cond_broadcast(&rt->hk_cv);
    pthread_mutex_unlock(&rt->mu);
    pthread_join(rt->hk, NULL);
    rt->hk_started = false;
}

/* Stops the workers (retries end at the deadline), gives fallback copies until the deadline
 * to be released, and stops the housekeeping thread. A pause leaves the buffer open (its
 * undelivered requests were given back in order); a stop closes it. */
static void rt_quiesce(sl_sink_runtime *rt, int64_t deadline_ms, bool pausing)
{
    pthread_mutex_lock(&rt->mu);
    if (pausing)
        atomic_store(&rt->pausing, true);
    atomic_store(&rt->deadline, deadline_ms);
    atomic_store(&rt->stopping, true); /* with the deadline: retries end there */
    pthread_cond_broadcast(&rt->cv);
    pthread_mutex_unlock(&rt->mu);
    if (pausing)
        buffer_wake(rt->buf);
    else
        buffer_close(rt->buf);
    rt_join_until(rt, deadline_ms);
    for (int i = 0; i < rt->nworkers; i++)
        worker_free_arrays(&rt->workers[i]);
    free(rt->workers);
    rt->workers = NULL;
    while (ack_ledger_pending(rt->fb_ledger) > 0 && sl_mono_ms() < deadline_ms) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    rt_stop_housekeeping(rt);
}

void sink_runtime_pause(sl_sink_runtime *rt, int64_t deadline_ms)
{
    if (!rt || !rt->workers)
        return;
    rt_quiesce(rt, deadline_ms, true);
    size_t left = atomic_load(&rt->abandoned);
    pthread_mutex_lock(&rt->mu);
    for (rt_park *p = rt->parks; p; p = p->next) {
        if (p->cancelled)
            continue;
        if (buffer_requeue(rt->buf, &p->item) != SL_OK) {
            left += p->item.batch ? p->item.batch->n : 0;
            batch_abandon(p->item.batch);
        }
        p->item.batch = NULL;
        p->cancelled = true; /* a late release must not touch the item again */
    }
    pthread_mutex_unlock(&rt->mu);
    if (left)
        log_warn(rt->id, "restart: %zu event(s) could not be given back to the buffer", left);
    else
        log_info(rt->id, "sink runtime stopped for a restart; its buffer is kept");
}

void sink_runtime_stop(sl_sink_runtime *rt, int64_t deadline_ms)
{
    if (!rt || !rt->workers)
        return;
    rt_quiesce(rt, deadline_ms, false);

    /* Whatever is left was not delivered in time (note 3). */
    size_t left = atomic_load(&rt->abandoned);
    sl_buffer_item it;
    while (buffer_pop(rt->buf, &it, 0) == SL_OK) {
        left += it.batch ? it.batch->n : 0;
        batch_abandon(it.batch);
    }
    pthread_mutex_lock(&rt->mu);
    for (rt_park *p = rt->parks; p; p = p->next) {
        if (!p->cancelled) {
            left += p->item.batch ? p->item.batch->n : 0;
            batch_abandon(p->item.batch);
            p->item.batch = NULL;
            p->cancelled = true; /* a late release must not touch the item again */
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (left)
        log_warn(rt->id, "shutdown deadline: %zu event(s) not delivered (kept for redelivery)",
                 left);
    else
        log_info(rt->id, "sink runtime stopped");
}

void sink_runtime_free(sl_sink_runtime *rt)
{
    if (!rt)
        return;
    if (rt->workers)
        sink_runtime_stop(rt, sl_mono_ms());
    rt_stop_housekeeping(rt);
    if (ack_ledger_pending(rt->fb_ledger) == 0) {
        ack_ledger_free(rt->fb_ledger);
        rt_park *p = rt->parks;
        while (p) {
            rt_park *n = p->next;
            free(p);
            p = n;
        }
    }
    /* else: the fallback still holds copies whose tokens point into the ledger; leaking
     * it (and the parks) is the safe choice at this last moment of the process. */
    dlq_close(rt->dlq);
    pthread_cond_destroy(&rt->cv);
    pthread_cond_destroy(&rt->hk_cv);
    pthread_mutex_destroy(&rt->mu);
    pthread_mutex_destroy(&rt->serial_mu);
    free(rt->id);
    free(rt);
}

int sink_send_each(const sl_sink_vtable *vt, void *self, sl_event *const *events, size_t n,
                   const sl_retry_config *retry, uint8_t *delivered, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (n == 0)
        return SL_OK;
    rt_worker w;
    memset(&w, 0, sizeof w);
    w.vt = vt;
    w.self = self;
    if (retry)
        w.retry = *retry;
    else
        w.retry = (sl_retry_config){100, 30000, 0};
    w.max_attempts = w.retry.max_attempts > 0 ? w.retry.max_attempts : 5;
    w.rng = (uint64_t)sl_now_ns() | 1;
    w.err = err;
    w.errlen = errlen;
    worker_reserve(&w, n);
    for (size_t i = 0; i < n; i++) {
        w.all[i] = events[i];
        w.owner[i] = 0;
        w.resolved[i] = EV_PENDING;
    }
    w.nev = n;
    deliver_pending(&w, n);
    size_t failed = 0;
    for (size_t i = 0; i < n; i++) {
        bool ok = w.resolved[i] == EV_DELIVERED;
        if (delivered)
            delivered[i] = ok;
        failed += !ok;
    }
    worker_free_arrays(&w);
    if (failed) {
        char first[256];
        snprintf(first, sizeof first, "%s", err && err[0] ? err : "not delivered");
        return sl_seterr(err, errlen, SL_ERR_IO, "%zu of %zu event(s) not delivered: %s",
                         failed, n, first);
    }
    return SL_OK;
}

int sink_send_once(const sl_sink_vtable *vt, void *self, sl_event *const *events, size_t n,
                   const sl_retry_config *retry, char *err, size_t errlen)
{
    return sink_send_each(vt, self, events, n, retry, NULL, err, errlen);
}
