/* test_sink_runtime.c - the sink runtime against a scripted fake sink and a real memory
 * buffer: exactly-once-or-dead-lettered, retries, breaker, bisect, partial, fallback, stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/acks.h"
#include "core/buffer.h"
#include "core/common.h"
#include "core/config.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/sink_runtime.h"

#define MAXEV 4096

/* ---- The fake sink ---------------------------------------------------------------------
 * Messages are "<kind>-<index>". Kinds: "ev" (fine), "poison" (the request is rejected),
 * "prej" (PARTIAL: item rejected), "pretry" (PARTIAL: item retried the first time),
 * "pfull" (PARTIAL: item retried every time, with an item reason and no request reason). */
typedef struct fake {
    pthread_mutex_t mu;
    int fail_first;    /* the first K requests return RETRY */
    bool always_retry;
    int requests;
    size_t max_n;      /* largest request seen */
    int delivered[MAXEV];
    int seen[MAXEV];   /* pretry: times seen */
    int total_delivered;
    sl_metrics *m;
    int states[64];    /* circuit state seen by the first requests */
    int sends_while_open;
    size_t sizes[64];  /* events in each of the first requests */
    bool hold;         /* sends wait until the test clears it */
    pthread_cond_t held;
} fake;

static int ev_index(const sl_event *e)
{
    const char *dash = memchr(e->message.ptr, '-', e->message.len);
    return dash ? atoi(dash + 1) : 0;
}

static bool has(const sl_event *e, const char *kind)
{
    size_t k = strlen(kind);
    return e->message.len > k && memcmp(e->message.ptr, kind, k) == 0 && e->message.ptr[k] == '-';
}

static int fake_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    fake *f = self;
    pthread_mutex_lock(&f->mu);
    int req = f->requests++;
    if (req < 64)
        f->sizes[req] = n;
    while (f->hold)
        pthread_cond_wait(&f->held, &f->mu);
    int st = f->m ? atomic_load(&f->m->circuit_state) : 0;
    if (req < 64)
        f->states[req] = st;
    if (st == SL_CIRCUIT_OPEN)
        f->sends_while_open++;
    if (n > f->max_n)
        f->max_n = n;
    if (f->always_retry || req < f->fail_first) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "503 unavailable");
        pthread_mutex_unlock(&f->mu);
        return SL_OK;
    }
    for (size_t i = 0; i < n; i++)
        if (has(events[i], "poison")) {
            res->status = SL_SEND_REJECT;
            snprintf(res->reason, sizeof res->reason, "400 mapping conflict");
            pthread_mutex_unlock(&f->mu);
            return SL_OK;
        }
    bool partial = false;
    for (size_t i = 0; i < n; i++) {
        int idx = ev_index(events[i]);
        if (has(events[i], "prej")) {
            res->item_status[i] = SL_ITEM_REJECT;
            res->item_reason[i] = "bad field";
            partial = true;
        } else if (has(events[i], "pretry") && f->seen[idx]++ == 0) {
            res->item_status[i] = SL_ITEM_RETRY;
            partial = true;
        } else if (has(events[i], "pfull")) {
            res->item_status[i] = SL_ITEM_RETRY;
            res->item_reason[i] = "OOM command not allowed";
            partial = true;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (res->item_status[i] == SL_ITEM_OK) {
            f->delivered[ev_index(events[i])]++;
            f->total_delivered++;
        }
    res->status = partial ? SL_SEND_PARTIAL : SL_SEND_OK;
    pthread_mutex_unlock(&f->mu);
    return SL_OK;
}

static const sl_sink_vtable fake_vt = {.type = "fake", .send = fake_send};

/* ---- Fixture ---------------------------------------------------------------------------- */

typedef struct fixture {
    char dir[64];
    sl_metrics *m;
    sl_buffer *buf;
    sl_ack_ledger *ledger;
    sl_sink_common cfg;
    sl_sink_runtime *rt;
    fake f;
    int nbatches;
} fixture;

static void fx_init(fixture *x)
{
    memset(x, 0, sizeof *x);
    strcpy(x->dir, "/tmp/sl_rt_XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    x->m = metrics_register("out", "sink", "fake");
    sl_buffer_config bc = {.type = SL_BUFFER_MEMORY, .max_bytes = 64u << 20};
    char err[256];
    assert_int_equal(buffer_open(&x->buf, &bc, NULL, x->m, err, sizeof err), SL_OK);
    x->ledger = ack_ledger_new();
    x->cfg.batch = (sl_batch_config){.max_events = 1000, .max_bytes = 1u << 20, .timeout_ms = 5};
    x->cfg.concurrency = 1;
    x->cfg.retry = (sl_retry_config){.initial_ms = 1, .max_ms = 4, .max_attempts = 0};
    x->cfg.circuit_breaker = (sl_breaker_config){.failures = 0, .open_ms = 10};
    x->cfg.dlq = true;
    static char *in[] = {"in"};
    x->cfg.inputs = (sl_strlist){in, 1}; /* fed by a source: not only a fallback */
    pthread_mutex_init(&x->f.mu, NULL);
    pthread_cond_init(&x->f.held, NULL);
    x->f.m = x->m;
}

static const sl_sink_vtable fake_fill_vt = {.type = "fake", .send = fake_send, .fill = true};

static void fx_start_vt(fixture *x, const sl_sink_vtable *vt)
{
    char err[256];
    int rc = sink_runtime_start(&x->rt, vt, &x->f, &x->cfg, "out", x->buf, x->dir, x->m, err,
                                sizeof err);
    assert_int_equal(rc, SL_OK);
}

static void fx_start(fixture *x)
{
    char err[256];
    int rc = sink_runtime_start(&x->rt, &fake_vt, &x->f, &x->cfg, "out", x->buf, x->dir, x->m,
                                err, sizeof err);
    assert_int_equal(rc, SL_OK);
}

/* One batch of n events named kind(i)-<first+i>, with its own ack token. */
static void fx_push(fixture *x, int first, int n, const char *(*kind)(int))
{
    sl_batch *b = batch_new((uint32_t)n);
    for (int i = 0; i < n; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "%s-%d", kind ? kind(first + i) : "ev", first + i);
        sl_event *e = batch_add(b);
        e->message = batch_str(b, msg, (size_t)len);
        b->bytes += event_size(e);
    }
    b->ack = ack_token_open(x->ledger, 0, (uint64_t)x->nbatches++);
    assert_int_equal(buffer_push(x->buf, b), SL_OK);
    batch_release(b);
}

/* fx_push of a batch prepared by the sink `owner` in runs of `run` events (gz_prep.h):
 * every event marked, the first of each run with bytes. owner 0: not prepared. */
static void fx_push_runs(fixture *x, int first, int n, uint32_t owner, uint32_t run)
{
    sl_batch *b = batch_new((uint32_t)n);
    for (int i = 0; i < n; i++) {
        char msg[64];
        int len = snprintf(msg, sizeof msg, "ev-%d", first + i);
        sl_event *e = batch_add(b);
        e->message = batch_str(b, msg, (size_t)len);
        b->bytes += event_size(e);
    }
    for (int i = 0; owner && i < n; i++) {
        b->events[i].prep_owner = owner;
        if (i % run == 0) {
            b->events[i].prep = b->events[i].message.ptr;
            b->events[i].prep_len = 1;
        }
    }
    b->prep_owner = owner;
    b->ack = ack_token_open(x->ledger, 0, (uint64_t)x->nbatches++);
    assert_int_equal(buffer_push(x->buf, b), SL_OK);
    batch_release(b);
}

static size_t fx_commits(fixture *x) { return ack_ledger_collect(x->ledger, NULL, NULL); }

/* Lines in the DLQ file. */
static int fx_dlq_lines(fixture *x, const char *must_contain)
{
    char path[128];
    snprintf(path, sizeof path, "%s/dlq/out.ndjson", x->dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, fp)) {
        if (must_contain)
            assert_non_null(strstr(line, must_contain));
        n++;
    }
    fclose(fp);
    return n;
}

static void fx_stop_free(fixture *x, int64_t deadline)
{
    sink_runtime_stop(x->rt, deadline);
    sink_runtime_free(x->rt);
    x->rt = NULL;
}

static void fx_done(fixture *x)
{
    if (x->rt)
        fx_stop_free(x, sl_mono_ms() + 60000);
    buffer_free(x->buf);
    ack_ledger_free(x->ledger);
    pthread_mutex_destroy(&x->f.mu);
    pthread_cond_destroy(&x->f.held);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", x->dir);
    assert_int_equal(system(cmd), 0);
    metrics_reset();
}

/* Every event delivered exactly once, or dead-lettered; never both, never lost. */
static void assert_once_or_dlq(fixture *x, int total, int expect_dlq)
{
    int delivered = 0;
    for (int i = 0; i < total; i++) {
        assert_true(x->f.delivered[i] <= 1);
        delivered += x->f.delivered[i];
    }
    int dlq = fx_dlq_lines(x, NULL);
    assert_int_equal(dlq, expect_dlq);
    assert_int_equal(delivered + dlq, total);
    assert_int_equal((int)atomic_load(&x->m->dlq_events), expect_dlq);
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void test_delivers_all_once(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.concurrency = 4;
    x.cfg.batch.max_events = 50;
    fx_start(&x);
    for (int i = 0; i < 40; i++)
        fx_push(&x, i * 25, 25, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 40);
    assert_once_or_dlq(&x, 1000, 0);
    assert_int_equal(x.f.total_delivered, 1000);
    assert_int_equal((int)atomic_load(&x.m->sent_events), 1000);
    assert_true(x.f.max_n <= 50);
    assert_int_equal((int)atomic_load(&x.m->inflight), 0);
    fx_done(&x);
}

/* Note 10: an item larger than max_events goes in slices that end where a run of prepared
 * bytes starts, when one starts inside; events prepared one by one, or not at all, and a
 * run longer than a slice keep the plain slices. */
static void test_slices_end_where_runs_start(void **state)
{
    static const struct {
        uint32_t owner, run;
        size_t want[5];
    } cases[] = {
        {7, 8, {24, 24, 24, 28, 0}},
        {7, 1, {30, 30, 30, 10, 0}},
        {0, 0, {30, 30, 30, 10, 0}},
        {7, 40, {30, 10, 30, 30, 0}},
    };
    for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
        fixture x;
        fx_init(&x);
        x.cfg.batch.max_events = 30;
        fx_start(&x);
        fx_push_runs(&x, 0, 100, cases[c].owner, cases[c].run);
        fx_stop_free(&x, sl_mono_ms() + 60000);
        assert_once_or_dlq(&x, 100, 0);
        size_t nreq = 0;
        while (nreq < 5 && cases[c].want[nreq])
            nreq++;
        assert_int_equal(x.f.requests, (int)nreq);
        for (size_t i = 0; i < nreq; i++)
            assert_int_equal(x.f.sizes[i], cases[c].want[i]);
        fx_done(&x);
    }
}

/* Reads an int of the fake under its lock. */
static int fake_get(fake *f, const int *v)
{
    pthread_mutex_lock(&f->mu);
    int r = *v;
    pthread_mutex_unlock(&f->mu);
    return r;
}

/* Waits (bounded, generously) until *v reaches want; the test fails if it never does. */
static void wait_for(fake *f, const int *v, int want)
{
    int64_t deadline = sl_mono_ms() + 30000;
    while (fake_get(f, v) < want && sl_mono_ms() < deadline)
        usleep(1000);
    assert_int_equal(fake_get(f, v), want);
}

/* Nothing in flight: a lone event goes out without waiting for the batch to fill. The
 * batch timeout is an hour, so with the old fill-then-send batching this never passes. */
static void test_trickle_sent_at_once(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.timeout_ms = 3600000;
    fx_start(&x);
    for (int i = 0; i < 3; i++) {
        fx_push(&x, i, 1, NULL);
        wait_for(&x.f, &x.f.total_delivered, i + 1);
    }
    assert_int_equal(x.f.requests, 3);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    fx_done(&x);
}

/* A `fill` sink (its request is a stored unit, an S3 object) gets full requests even with
 * nothing in flight: three lone events arrive as one request of max_events 3, never sooner
 * (the batch timeout is an hour). */
static void test_fill_sink_waits_for_full_request(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.timeout_ms = 3600000;
    x.cfg.batch.max_events = 3;
    fx_start_vt(&x, &fake_fill_vt);
    for (int i = 0; i < 3; i++) {
        fx_push(&x, i, 1, NULL);
        /* the worker took it (and, not being Nagle-like here, keeps it) before the next */
        int64_t deadline = sl_mono_ms() + 30000;
        while (buffer_events(x.buf) > 0 && sl_mono_ms() < deadline)
            usleep(1000);
        assert_int_equal(buffer_events(x.buf), 0);
    }
    wait_for(&x.f, &x.f.total_delivered, 3);
    assert_int_equal(fake_get(&x.f, &x.f.requests), 1);
    assert_int_equal(x.f.sizes[0], 3);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    fx_done(&x);
}

/* While a request is in flight, a second worker's request grows with what arrives, and
 * goes out as soon as the one in flight returns (not after the hour-long timeout). */
static void test_batch_grows_while_in_flight(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.timeout_ms = 3600000;
    x.cfg.concurrency = 2;
    x.f.hold = true;
    fx_start(&x);
    fx_push(&x, 0, 1, NULL);
    wait_for(&x.f, &x.f.requests, 1); /* held in send */
    fx_push(&x, 1, 1, NULL);
    fx_push(&x, 2, 1, NULL);
    int64_t deadline = sl_mono_ms() + 30000;
    while (buffer_events(x.buf) > 0 && sl_mono_ms() < deadline)
        usleep(1000); /* both taken by the other worker, which waits while one is out */
    assert_int_equal((int)buffer_events(x.buf), 0);
    assert_int_equal(fake_get(&x.f, &x.f.requests), 1);
    pthread_mutex_lock(&x.f.mu);
    x.f.hold = false;
    pthread_cond_broadcast(&x.f.held);
    pthread_mutex_unlock(&x.f.mu);
    wait_for(&x.f, &x.f.total_delivered, 3);
    assert_int_equal(x.f.requests, 2);
    assert_int_equal((int)x.f.sizes[1], 2);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    fx_done(&x);
}

static void test_retries_then_delivers(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.fail_first = 3;
    fx_start(&x);
    fx_push(&x, 0, 10, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 1);
    assert_once_or_dlq(&x, 10, 0);
    assert_int_equal((int)atomic_load(&x.m->retries), 3);
    assert_int_equal((int)metrics_error_count(x.m, "retry"), 3);
    assert_int_equal(x.f.requests, 4);
    fx_done(&x);
}

static void test_max_attempts_to_dlq(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.always_retry = true;
    x.cfg.retry.max_attempts = 3;
    fx_start(&x);
    fx_push(&x, 0, 5, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(x.f.requests, 3);
    assert_int_equal(fx_dlq_lines(&x, "\"reason\":\"retries_exhausted: 503 unavailable\""), 5);
    assert_once_or_dlq(&x, 5, 5);
    /* Dead-lettered counts as handled: the source may commit. */
    assert_int_equal(fx_commits(&x), 1);
    fx_done(&x);
}

static const char *poison37(int i) { return i == 37 ? "poison" : "ev"; }

static void test_bisect_isolates_poison(void **state)
{
    fixture x;
    fx_init(&x);
    fx_start(&x);
    fx_push(&x, 0, 100, poison37);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 1);
    assert_once_or_dlq(&x, 100, 1);
    assert_int_equal(x.f.delivered[37], 0);
    assert_int_equal(fx_dlq_lines(&x, "\"message\":\"poison-37\""), 1);
    assert_int_equal(fx_dlq_lines(&x, "\"reason\":\"rejected: 400 mapping conflict\""), 1);
    /* Bisection costs about two requests per level, not one per event. */
    assert_true(x.f.requests <= 2 * 8 + 1);
    fx_done(&x);
}

static const char *partial_kind(int i)
{
    if (i == 3 || i == 11)
        return "prej";
    if (i == 5 || i == 6 || i == 19)
        return "pretry";
    return "ev";
}

static void test_partial(void **state)
{
    fixture x;
    fx_init(&x);
    fx_start(&x);
    fx_push(&x, 0, 20, partial_kind);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 1);
    assert_once_or_dlq(&x, 20, 2);
    assert_int_equal(fx_dlq_lines(&x, "bad field"), 2);
    assert_int_equal(x.f.delivered[5], 1);
    assert_int_equal(x.f.delivered[19], 1);
    assert_int_equal(x.f.requests, 2); /* the second one carries only the 3 retried */
    assert_int_equal(x.f.max_n, 20);
    assert_int_equal((int)atomic_load(&x.m->retries), 1);
    fx_done(&x);
}

static const char *pfull_odd(int i) { return i % 2 ? "pfull" : "ev"; }

/* A PARTIAL answer whose failed events carry the only reason (the redis sink's error
 * replies, the kafka sink's reports): the DLQ record says that reason, not "unspecified". */
static void test_partial_item_reason_exhausted(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.retry.max_attempts = 2;
    fx_start(&x);
    fx_push(&x, 0, 6, pfull_odd);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(x.f.requests, 2);
    assert_int_equal(fx_dlq_lines(&x, "\"reason\":\"retries_exhausted: OOM command not allowed\""),
                     3);
    assert_once_or_dlq(&x, 6, 3);
    fx_done(&x);
}

static void test_oversized_item_sliced(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.max_events = 10;
    fx_start(&x);
    fx_push(&x, 0, 25, NULL);
    fx_push(&x, 25, 4, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 2);
    assert_once_or_dlq(&x, 29, 0);
    assert_int_equal(x.f.max_n, 10);
    fx_done(&x);
}

static void test_max_bytes_bounds_request(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.max_bytes = 400; /* one item of 5 small events fits, two do not */
    x.cfg.batch.timeout_ms = 50;
    fx_start(&x);
    for (int i = 0; i < 6; i++)
        fx_push(&x, i * 5, 5, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_once_or_dlq(&x, 30, 0);
    assert_int_equal(x.f.max_n, 5);
    assert_int_equal(x.f.requests, 6);
    assert_int_equal(fx_commits(&x), 6);
    fx_done(&x);
}

static void test_circuit_opens_and_closes(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.fail_first = 3;
    x.cfg.circuit_breaker = (sl_breaker_config){.failures = 3, .open_ms = 20};
    fx_start(&x);
    fx_push(&x, 0, 10, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    /* Three failures while closed, then the one probe saw half-open and closed it. */
    assert_int_equal(x.f.requests, 4);
    assert_int_equal(x.f.states[0], SL_CIRCUIT_CLOSED);
    assert_int_equal(x.f.states[2], SL_CIRCUIT_CLOSED);
    assert_int_equal(x.f.states[3], SL_CIRCUIT_HALF_OPEN);
    assert_int_equal(x.f.sends_while_open, 0);
    assert_int_equal((int)atomic_load(&x.m->circuit_state), SL_CIRCUIT_CLOSED);
    assert_once_or_dlq(&x, 10, 0);
    assert_int_equal(fx_commits(&x), 1);
    fx_done(&x);
}

/* Note 5: four requests in flight together, refused together (a peer not up yet), are one
 * failure: with failures = 2 the circuit stays closed and their retries deliver. Counting
 * each would open it at the second and send the retries into a half-open probe. */
static void test_circuit_counts_overlapping_failures_once(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.fail_first = 4;
    x.f.hold = true;
    x.cfg.concurrency = 4;
    x.cfg.batch.max_events = 10;
    x.cfg.circuit_breaker = (sl_breaker_config){.failures = 2, .open_ms = 10};
    fx_start(&x);
    for (int i = 0; i < 4; i++)
        fx_push(&x, i * 10, 10, NULL);
    pthread_mutex_lock(&x.f.mu);
    for (int spins = 0; x.f.requests < 4 && spins < 3000; spins++) {
        pthread_mutex_unlock(&x.f.mu);
        usleep(1000);
        pthread_mutex_lock(&x.f.mu);
    }
    assert_int_equal(x.f.requests, 4); /* all four in flight, held */
    x.f.hold = false;
    pthread_cond_broadcast(&x.f.held);
    pthread_mutex_unlock(&x.f.mu);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(x.f.requests, 8);
    for (int r = 0; r < 8; r++)
        assert_int_equal(x.f.states[r], SL_CIRCUIT_CLOSED);
    assert_int_equal((int)atomic_load(&x.m->circuit_state), SL_CIRCUIT_CLOSED);
    assert_once_or_dlq(&x, 40, 0);
    assert_int_equal(fx_commits(&x), 4);
    fx_done(&x);
}

static void test_circuit_probe_failure_reopens(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.fail_first = 4;
    x.cfg.circuit_breaker = (sl_breaker_config){.failures = 3, .open_ms = 10};
    fx_start(&x);
    fx_push(&x, 0, 3, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(x.f.requests, 5);
    assert_int_equal(x.f.states[3], SL_CIRCUIT_HALF_OPEN); /* failed probe */
    assert_int_equal(x.f.states[4], SL_CIRCUIT_HALF_OPEN); /* reopened, probed again */
    assert_int_equal(x.f.sends_while_open, 0);
    assert_int_equal((int)atomic_load(&x.m->circuit_state), SL_CIRCUIT_CLOSED);
    assert_once_or_dlq(&x, 3, 0);
    fx_done(&x);
}

static void test_fallback_while_open(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.always_retry = true;
    x.cfg.circuit_breaker = (sl_breaker_config){.failures = 2, .open_ms = 600000};
    sl_metrics *fm = metrics_register("spare", "sink", "fake");
    sl_buffer_config bc = {.type = SL_BUFFER_MEMORY, .max_bytes = 64u << 20};
    sl_buffer *fb;
    char err[256];
    assert_int_equal(buffer_open(&fb, &bc, NULL, fm, err, sizeof err), SL_OK);
    fx_start(&x);
    sink_runtime_set_fallback(x.rt, fb);
    for (int i = 0; i < 5; i++)
        fx_push(&x, i * 10, 10, NULL);
    int got = 0, seen[50] = {0};
    size_t done = 0, committed = 0;
    for (int spins = 0; got < 50 && spins < 600; spins++) {
        sl_buffer_item it;
        if (buffer_pop(fb, &it, 100) != SL_OK)
            continue;
        for (uint32_t i = 0; i < it.batch->n; i++)
            seen[ev_index(&it.batch->events[i])]++;
        got += (int)it.batch->n;
        /* Not committed before the fallback is done with its copy: at most the items done
         * so far (the housekeeping thread commits those when it next looks). */
        committed += fx_commits(&x);
        assert_true(committed <= done);
        buffer_done(fb, &it);
        done++;
    }
    assert_int_equal(got, 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(seen[i], 1);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(x.f.requests, 2);
    assert_int_equal(x.f.total_delivered, 0);
    assert_int_equal((int)atomic_load(&x.m->circuit_state), SL_CIRCUIT_OPEN);
    assert_int_equal(committed + fx_commits(&x), 5);
    buffer_free(fb);
    fx_done(&x);
}

/* A memory buffer for a fallback, and a drain that counts what reaches it by index. */
static sl_buffer *fx_fallback(void)
{
    sl_metrics *fm = metrics_register("spare", "sink", "fake");
    sl_buffer_config bc = {.type = SL_BUFFER_MEMORY, .max_bytes = 64u << 20};
    sl_buffer *fb;
    char err[256];
    assert_int_equal(buffer_open(&fb, &bc, NULL, fm, err, sizeof err), SL_OK);
    return fb;
}

static int fx_drain_fallback(fixture *x, sl_buffer *fb, int want, int *seen)
{
    int got = 0;
    for (int spins = 0; got < want && spins < 600; spins++) {
        sl_buffer_item it;
        if (buffer_pop(fb, &it, 100) != SL_OK)
            continue;
        assert_true(it.batch->fallback); /* marked, so the fallback can say so in its DLQ */
        for (uint32_t i = 0; i < it.batch->n; i++)
            seen[ev_index(&it.batch->events[i])]++;
        got += (int)it.batch->n;
        buffer_done(fb, &it);
    }
    return got;
}

/* retry.max_attempts exhausted with a fallback set: the events go to the fallback, not to
 * the DLQ (the breaker is off, so this is not the open-circuit path). */
static void test_max_attempts_to_fallback(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.always_retry = true;
    x.cfg.retry.max_attempts = 3;
    sl_buffer *fb = fx_fallback();
    fx_start(&x);
    sink_runtime_set_fallback(x.rt, fb);
    for (int i = 0; i < 4; i++)
        fx_push(&x, i * 10, 10, NULL);
    int seen[40] = {0};
    assert_int_equal(fx_drain_fallback(&x, fb, 40, seen), 40);
    for (int i = 0; i < 40; i++)
        assert_int_equal(seen[i], 1);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_dlq_lines(&x, NULL), 0);
    assert_int_equal((int)atomic_load(&x.m->dlq_events), 0);
    assert_int_equal(x.f.total_delivered, 0);
    assert_true(metrics_error_count(x.m, "retries_exhausted") >= 1);
    assert_int_equal(fx_commits(&x), 4); /* committed once the fallback is done */
    buffer_free(fb);
    fx_done(&x);
}

/* With a fallback set, a permanent reject still goes to the DLQ (the fallback would get
 * the same event it cannot take either), the rest is delivered. */
static void test_reject_with_fallback_to_dlq(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.retry.max_attempts = 3;
    sl_buffer *fb = fx_fallback();
    fx_start(&x);
    sink_runtime_set_fallback(x.rt, fb);
    fx_push(&x, 0, 100, poison37);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_once_or_dlq(&x, 100, 1);
    assert_int_equal(fx_dlq_lines(&x, "\"reason\":\"rejected: 400 mapping conflict\""), 1);
    assert_int_equal(buffer_events(fb), 0);
    assert_int_equal(fx_commits(&x), 1);
    buffer_free(fb);
    fx_done(&x);
}

static const char *poison_all(int i) { return "poison"; }

/* A fallback that cannot deliver either: its DLQ says so. A fallback copy (marked) and a
 * sink with no inputs of its own (everything it gets was handed over) are both that. */
static void test_fallback_failed_reason(void **state)
{
    fixture x;
    fx_init(&x);
    fx_start(&x);
    sl_batch *b = batch_new(3);
    for (int i = 0; i < 3; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "poison-%d", i);
        sl_event *e = batch_add(b);
        e->message = batch_str(b, msg, (size_t)len);
    }
    b->fallback = true;
    b->ack = ack_token_open(x.ledger, 0, 0);
    assert_int_equal(buffer_push(x.buf, b), SL_OK);
    batch_release(b);
    fx_push(&x, 3, 2, poison_all); /* not a copy: plain reject */
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_dlq_lines(&x, NULL), 5);
    char path[128];
    snprintf(path, sizeof path, "%s/dlq/out.ndjson", x.dir);
    FILE *fp = fopen(path, "r");
    char line[8192];
    int failed = 0, plain = 0;
    while (fgets(line, sizeof line, fp)) {
        failed += strstr(line, "\"reason\":\"fallback_failed: rejected: 400 mapping conflict\"") != NULL;
        plain += strstr(line, "\"reason\":\"rejected: 400 mapping conflict\"") != NULL;
    }
    fclose(fp);
    assert_int_equal(failed, 3);
    assert_int_equal(plain, 2);
    fx_done(&x);

    /* No inputs: a fallback-only sink; its exhausted retries are the fallback failing. */
    fx_init(&x);
    x.cfg.inputs = (sl_strlist){NULL, 0};
    x.f.always_retry = true;
    x.cfg.retry.max_attempts = 2;
    fx_start(&x);
    fx_push(&x, 0, 4, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_dlq_lines(&x, "\"reason\":\"fallback_failed: retries_exhausted: 503 unavailable\""), 4);
    fx_done(&x);
}

static void test_stop_deadline_abandons(void **state)
{
    fixture x;
    fx_init(&x);
    x.f.always_retry = true;
    fx_start(&x);
    for (int i = 0; i < 3; i++)
        fx_push(&x, i * 4, 4, NULL);
    /* Stop once the sink has been tried (a state, not a sleep), with a deadline it
     * cannot meet: it keeps failing. */
    for (int spins = 0;; spins++) {
        pthread_mutex_lock(&x.f.mu);
        int req = x.f.requests;
        pthread_mutex_unlock(&x.f.mu);
        if (req >= 1)
            break;
        assert_true(spins < 60000); /* a safety net: a minute */
        usleep(1000);
    }
    fx_stop_free(&x, sl_mono_ms() + 30);
    assert_int_equal(fx_commits(&x), 0);
    assert_int_equal(fx_dlq_lines(&x, NULL), 0);
    assert_int_equal(x.f.total_delivered, 0);
    fx_done(&x);
}

/* Disk buffer: what was not delivered by the deadline is still there after reopening. */
static void test_stop_deadline_disk_keeps(void **state)
{
    fixture x;
    fx_init(&x);
    buffer_free(x.buf);
    char bdir[128], err[256];
    snprintf(bdir, sizeof bdir, "%s/buf", x.dir);
    sl_buffer_config bc = {.type = SL_BUFFER_DISK, .max_size = 1u << 30, .fsync = SL_FSYNC_ALWAYS,
                           .fsync_interval_ms = 1000};
    assert_int_equal(buffer_open(&x.buf, &bc, bdir, x.m, err, sizeof err), SL_OK);
    x.f.always_retry = true;
    fx_start(&x);
    for (int i = 0; i < 3; i++)
        fx_push(&x, i * 4, 4, NULL);
    /* The disk buffer acknowledges the source once the record is written. */
    assert_int_equal(fx_commits(&x), 3);
    fx_stop_free(&x, sl_mono_ms() + 30);
    assert_int_equal(x.f.total_delivered, 0);
    buffer_free(x.buf);
    assert_int_equal(buffer_open(&x.buf, &bc, bdir, x.m, err, sizeof err), SL_OK);
    x.f.always_retry = false;
    fx_start(&x);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_once_or_dlq(&x, 12, 0);
    fx_done(&x);
}

/* Pops everything left in the buffer; returns the events' indices in buffer order (n of
 * them) and gives each item back as done. */
static int fx_drain_indices(fixture *x, int *idx, int cap)
{
    int n = 0;
    sl_buffer_item it;
    while (buffer_pop(x->buf, &it, 0) == SL_OK) {
        for (uint32_t i = 0; i < it.batch->n && n < cap; i++)
            idx[n++] = ev_index(&it.batch->events[i]);
        buffer_done(x->buf, &it);
    }
    return n;
}

/* Waits (a state, not a sleep) until the fake sink got `n` requests. */
static void fx_wait_requests(fixture *x, int n)
{
    for (int spins = 0;; spins++) {
        pthread_mutex_lock(&x->f.mu);
        int req = x->f.requests;
        pthread_mutex_unlock(&x->f.mu);
        if (req >= n)
            break;
        assert_true(spins < 60000); /* a safety net: a minute */
        usleep(1000);
    }
}

/* A reload's restart: the request cut short at the deadline, and the item carried over for
 * the next request, go back to the head of the memory buffer in their order; nothing is
 * acknowledged, abandoned or dead-lettered; a new runtime on the buffer delivers all. */
static void test_pause_requeues_in_order(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.batch.max_events = 8;
    x.cfg.batch.adaptive = false;
    x.f.always_retry = true;
    /* Queued before the start: the first request takes batches 0 and 1 (8 events) and
     * carries batch 2 over, 3 and 4 stay queued. */
    for (int i = 0; i < 5; i++)
        fx_push(&x, i * 4, 4, NULL);
    fx_start(&x);
    fx_wait_requests(&x, 3); /* retrying */
    pthread_mutex_lock(&x.f.mu);
    assert_int_equal((int)x.f.sizes[0], 8);
    pthread_mutex_unlock(&x.f.mu);
    sink_runtime_pause(x.rt, sl_mono_ms() + 30);
    sink_runtime_free(x.rt);
    x.rt = NULL;
    assert_int_equal(fx_commits(&x), 0);
    assert_int_equal(fx_dlq_lines(&x, NULL), 0);
    assert_int_equal((int)buffer_events(x.buf), 20);
    int idx[64];
    assert_int_equal(fx_drain_indices(&x, idx, 64), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(idx[i], i);
    assert_int_equal(fx_commits(&x), 5);
    /* Again, and this time a new runtime delivers what the paused one left. */
    x.f.always_retry = true;
    fx_start(&x);
    for (int i = 5; i < 10; i++)
        fx_push(&x, i * 4, 4, NULL);
    fx_wait_requests(&x, 6);
    sink_runtime_pause(x.rt, sl_mono_ms() + 30);
    sink_runtime_free(x.rt);
    x.rt = NULL;
    x.f.always_retry = false;
    fx_start(&x);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_commits(&x), 5);
    for (int i = 20; i < 40; i++)
        assert_int_equal(x.f.delivered[i], 1);
    fx_done(&x);
}

/* The same with a disk buffer: the items given back are popped again first, in order;
 * nothing is done (acked) twice or lost. */
static void test_pause_requeues_disk(void **state)
{
    fixture x;
    fx_init(&x);
    buffer_free(x.buf);
    char bdir[128], err[256];
    snprintf(bdir, sizeof bdir, "%s/buf", x.dir);
    sl_buffer_config bc = {.type = SL_BUFFER_DISK, .max_size = 1u << 30, .fsync = SL_FSYNC_NEVER,
                           .fsync_interval_ms = 1000};
    assert_int_equal(buffer_open(&x.buf, &bc, bdir, x.m, err, sizeof err), SL_OK);
    x.cfg.batch.max_events = 8;
    x.cfg.batch.adaptive = false;
    x.f.always_retry = true;
    for (int i = 0; i < 5; i++)
        fx_push(&x, i * 4, 4, NULL);
    fx_start(&x);
    fx_wait_requests(&x, 3);
    sink_runtime_pause(x.rt, sl_mono_ms() + 30);
    sink_runtime_free(x.rt);
    x.rt = NULL;
    assert_int_equal((int)buffer_events(x.buf), 20);
    int idx[64];
    assert_int_equal(fx_drain_indices(&x, idx, 64), 20);
    for (int i = 0; i < 20; i++)
        assert_int_equal(idx[i], i);
    fx_done(&x);
}

static void test_dlq_disabled_drops(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.dlq = false;
    fx_start(&x);
    fx_push(&x, 0, 8, poison37); /* index 37 absent: make 2 poison below */
    fx_push(&x, 36, 4, poison37);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_int_equal(fx_dlq_lines(&x, NULL), 0);
    assert_int_equal((int)atomic_load(&x.m->dropped_events), 1);
    assert_int_equal((int)metrics_error_count(x.m, "rejected_dropped"), 1);
    assert_int_equal(x.f.total_delivered, 11);
    assert_int_equal(fx_commits(&x), 2);
    fx_done(&x);
}

static void test_adaptive_concurrency(void **state)
{
    fixture x;
    fx_init(&x);
    x.cfg.concurrency = -1;
    x.cfg.batch.max_events = 1;
    x.cfg.batch.timeout_ms = 0;
    fx_start(&x);
    assert_int_equal((int)atomic_load(&x.m->concurrency_limit), 1);
    for (int i = 0; i < 200; i++)
        fx_push(&x, i, 1, NULL);
    fx_stop_free(&x, sl_mono_ms() + 60000);
    assert_once_or_dlq(&x, 200, 0);
    assert_true(atomic_load(&x.m->concurrency_limit) > 1);
    assert_int_equal(fx_commits(&x), 200);
    fx_done(&x);
}

static void test_send_once(void **state)
{
    fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.mu, NULL);
    sl_batch *b = batch_new(10);
    for (int i = 0; i < 10; i++) {
        char msg[32];
        int len = snprintf(msg, sizeof msg, "%s-%d", i == 4 ? "poison" : "ev", i);
        batch_add(b)->message = batch_str(b, msg, (size_t)len);
    }
    sl_event *evs[10];
    for (int i = 0; i < 10; i++)
        evs[i] = &b->events[i];
    sl_retry_config rc = {.initial_ms = 1, .max_ms = 2, .max_attempts = 0};
    char err[256];
    uint8_t ok[10];
    f.fail_first = 2;
    assert_int_not_equal(sink_send_each(&fake_vt, &f, evs, 10, &rc, ok, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "400 mapping conflict"));
    for (int i = 0; i < 10; i++)
        assert_int_equal(ok[i], i != 4);
    assert_int_equal(f.delivered[4], 0);
    /* Without poison, after transient failures: delivered. */
    memset(f.delivered, 0, sizeof f.delivered);
    f.requests = 0;
    f.fail_first = 3;
    assert_int_equal(sink_send_once(&fake_vt, &f, evs, 4, &rc, err, sizeof err), SL_OK);
    assert_int_equal(f.requests, 4);
    /* Bounded when max_attempts is 0: five attempts. */
    f.requests = 0;
    f.always_retry = true;
    assert_int_not_equal(sink_send_once(&fake_vt, &f, evs, 4, &rc, err, sizeof err), SL_OK);
    assert_int_equal(f.requests, 5);
    batch_release(b);
    pthread_mutex_destroy(&f.mu);
}

static void test_common_options(void **state)
{
    sl_sink_common c;
    memset(&c, 0, sizeof c);
    config_defaults(sl_sink_common_options, &c);
    assert_int_equal(c.batch.max_events, 1000);
    assert_int_equal(c.batch.max_bytes, 1u << 20);
    assert_int_equal(c.batch.timeout_ms, 1000);
    assert_int_equal(c.concurrency, 1);
    assert_int_equal(c.retry.initial_ms, 100);
    assert_int_equal(c.retry.max_ms, 30000);
    assert_int_equal(c.retry.max_attempts, 0);
    assert_int_equal(c.circuit_breaker.failures, 5);
    assert_int_equal(c.circuit_breaker.open_ms, 30000);
    assert_true(c.dlq);
    assert_null(c.fallback);
    assert_int_equal(c.buffer.type, SL_BUFFER_MEMORY);
    config_options_free(sl_sink_common_options, &c);

    const char *yaml = "type: fake\ninputs: in\nconcurrency: adaptive\nbatch:\n  max_events: 10\n"
                       "  timeout_ms: 2s\nretry:\n  max_attempts: 4\ncircuit_breaker:\n"
                       "  failures: 0\nfallback: spare\ndlq: false\n";
    sl_config_doc *doc;
    char err[512];
    assert_int_equal(config_doc_load(&doc, "t.yaml", yaml, err, sizeof err), SL_OK);
    const sl_option *tables[] = {sl_sink_common_options};
    void *bases[] = {&c};
    memset(&c, 0, sizeof c);
    assert_int_equal(config_apply(tables, bases, 1, doc->root, NULL, "t.yaml", "sinks.out", err,
                                  sizeof err),
                     SL_OK);
    assert_int_equal(c.concurrency, -1);
    assert_int_equal(c.batch.max_events, 10);
    assert_int_equal(c.batch.timeout_ms, 2000);
    assert_int_equal(c.retry.max_attempts, 4);
    assert_int_equal(c.circuit_breaker.failures, 0);
    assert_string_equal(c.fallback, "spare");
    assert_false(c.dlq);
    assert_int_equal(c.inputs.n, 1);
    config_options_free(sl_sink_common_options, &c);
    config_doc_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivers_all_once),
        cmocka_unit_test(test_trickle_sent_at_once),
        cmocka_unit_test(test_slices_end_where_runs_start),
        cmocka_unit_test(test_fill_sink_waits_for_full_request),
        cmocka_unit_test(test_batch_grows_while_in_flight),
        cmocka_unit_test(test_retries_then_delivers),
        cmocka_unit_test(test_max_attempts_to_dlq),
        cmocka_unit_test(test_bisect_isolates_poison),
        cmocka_unit_test(test_partial),
        cmocka_unit_test(test_partial_item_reason_exhausted),
        cmocka_unit_test(test_oversized_item_sliced),
        cmocka_unit_test(test_max_bytes_bounds_request),
        cmocka_unit_test(test_circuit_opens_and_closes),
        cmocka_unit_test(test_circuit_probe_failure_reopens),
        cmocka_unit_test(test_circuit_counts_overlapping_failures_once),
        cmocka_unit_test(test_fallback_while_open),
        cmocka_unit_test(test_max_attempts_to_fallback),
        cmocka_unit_test(test_reject_with_fallback_to_dlq),
        cmocka_unit_test(test_fallback_failed_reason),
        cmocka_unit_test(test_stop_deadline_abandons),
        cmocka_unit_test(test_stop_deadline_disk_keeps),
        cmocka_unit_test(test_pause_requeues_in_order),
        cmocka_unit_test(test_pause_requeues_disk),
        cmocka_unit_test(test_dlq_disabled_drops),
        cmocka_unit_test(test_adaptive_concurrency),
        cmocka_unit_test(test_send_once),
        cmocka_unit_test(test_common_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
