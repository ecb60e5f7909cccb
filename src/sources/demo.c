/* demo.c - the `demo` source: realistic, deterministic log lines (text, JSON or CRI) at a
 * given rate, for the quickstart, tests and benchmarks. Every message carries its seq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"

typedef struct demo_config {
    int64_t rate, count, seed, batch_max_events;
    int format;
} demo_config;

static const char *const demo_formats[] = {"text", "json", "cri", NULL};
enum { DEMO_TEXT, DEMO_JSON, DEMO_CRI };

static const sl_option demo_options[] = {
    {"rate", SL_OPT_INT, offsetof(demo_config, rate), "100", 0, NULL, NULL, 0, INT32_MAX,
     "events per second (0 = as fast as possible)"},
    {"count", SL_OPT_INT, offsetof(demo_config, count), "0", 0, NULL, NULL, 0, INT64_MAX,
     "events to emit before ending (0 = forever)"},
    {"format", SL_OPT_ENUM, offsetof(demo_config, format), "text", 0, demo_formats, NULL, 0, 0,
     "shape of the lines: text, json or cri (container runtime)"},
    {"seed", SL_OPT_INT, offsetof(demo_config, seed), "1", 0, NULL, NULL, 0, 0,
     "random seed: the same seed gives the same lines"},
    {"batch_max_events", SL_OPT_INT, offsetof(demo_config, batch_max_events), "512", 0, NULL,
     NULL, 1, 1 << 20, "events per batch at most"},
    SL_OPT_END,
};

typedef struct demo_source {
    const demo_config *cfg;
    const sl_component_ctx *cc;
    uint64_t rng;
} demo_source;

static uint64_t demo_rand(demo_source *s)
{
    /* xorshift64*: deterministic from the seed, good enough for fake logs */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545f4914f6cdd1dULL;
}

static const char *const demo_services[] = {"checkout", "cart", "payments", "auth", "search",
                                            "inventory", "gateway", "email"};
static const char *const demo_levels[] = {"INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR"};
static const char *const demo_words[] = {
    "request", "completed", "user", "order", "latency_ms=", "status=200", "cache", "miss",
    "retrying", "upstream", "connection", "pool", "timeout", "GET", "/api/v1/items", "POST",
    "/api/v1/orders", "trace_id=", "span_id=", "bytes=", "region=eu-west-1", "db.query",
    "rows=", "tenant=", "session", "renewed", "token", "validated", "queue", "depth="};

/* Writes one line (without '\n') into out; returns its length (80..1000 bytes). */
static size_t demo_line(demo_source *s, uint64_t seq, int64_t ts_ns, char *out, size_t cap)
{
    size_t target = 80 + (size_t)(demo_rand(s) % 921);
    const char *svc = demo_services[demo_rand(s) % SL_ARRAY_LEN(demo_services)];
    const char *lvl = demo_levels[demo_rand(s) % SL_ARRAY_LEN(demo_levels)];
    char body[1100];
    size_t bl = (size_t)snprintf(body, sizeof body, "seq=%llu service=%s", (unsigned long long)seq,
                                 svc);
    /* text body padded with words; the envelope adds ~60-90 bytes */
    size_t want = target > 90 ? target - 70 : 20;
    while (bl < want && bl + 40 < sizeof body) {
        const char *w = demo_words[demo_rand(s) % SL_ARRAY_LEN(demo_words)];
        bl += (size_t)snprintf(body + bl, sizeof body - bl, " %s", w);
        if (w[strlen(w) - 1] == '=')
            bl += (size_t)snprintf(body + bl, sizeof body - bl, "%llu",
                                   (unsigned long long)(demo_rand(s) % 100000));
    }
    char tsbuf[40];
    time_t secs = (time_t)(ts_ns / 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t tl = strftime(tsbuf, sizeof tsbuf, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tsbuf + tl, sizeof tsbuf - tl, ".%09lldZ", (long long)(ts_ns % 1000000000LL));
    int n;
    switch (s->cfg->format) {
    case DEMO_JSON:
        n = snprintf(out, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"seq\":%llu,"
                     "\"msg\":\"%.*s\"}", tsbuf, lvl, svc, (unsigned long long)seq, (int)bl, body);
        break;
    case DEMO_CRI:
        n = snprintf(out, cap, "%s %s F %s %s", tsbuf, strcmp(lvl, "ERROR") ? "stdout" : "stderr",
                     lvl, body);
        break;
    default:
        n = snprintf(out, cap, "%s %-5s [%s] %.*s", tsbuf, lvl, svc, (int)bl, body);
        break;
    }
    return n < 0 ? 0 : SL_MIN((size_t)n, cap - 1);
}

static void demo_noop_commit(void *arg, uint64_t key, uint64_t value) {}

static int demo_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    demo_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    s->rng = (uint64_t)s->cfg->seed * 0x9e3779b97f4a7c15ULL + 0x1234567ULL;
    if (!s->rng)
        s->rng = 1;
    *self = s;
    return SL_OK;
}

static int demo_run(void *self, sl_source_ctx *ctx)
{
    demo_source *s = self;
    const demo_config *c = s->cfg;
    char line[1200];
    uint64_t seq = 0;
    int64_t start = sl_mono_ns();
    /* At a given rate, batches cover about 100 ms so latency stays low. */
    uint64_t per_batch = (uint64_t)c->batch_max_events;
    if (c->rate > 0)
        per_batch = SL_MAX(1, SL_MIN(per_batch, (uint64_t)c->rate / 10));
    while (!source_should_stop(ctx) && (c->count == 0 || seq < (uint64_t)c->count)) {
        source_collect_acks(ctx, demo_noop_commit, s);
        if (c->rate > 0) {
            int64_t due = start + (int64_t)(seq * 1000000000ULL / (uint64_t)c->rate);
            int64_t wait_ms = (due - sl_mono_ns()) / 1000000;
            if (wait_ms > 0) {
                source_sleep(ctx, (int)SL_MIN(wait_ms, 1000));
                continue;
            }
        }
        uint64_t n = per_batch;
        if (c->count)
            n = SL_MIN(n, (uint64_t)c->count - seq);
        sl_batch *b = batch_new((uint32_t)n);
        for (uint64_t i = 0; i < n; i++, seq++) {
            sl_event *e = batch_add(b);
            e->ts_ns = sl_now_ns();
            size_t len = demo_line(s, seq, e->ts_ns, line, sizeof line);
            e->message = batch_str(b, line, len);
            e->id_stream = (uint64_t)c->seed;
            e->id_seq = seq;
            event_set_int(b, e, "demo.seq", (int64_t)seq);
            b->bytes += event_size(e);
            atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, len, memory_order_relaxed);
        }
        b->ack = ack_token_open(source_ledger(ctx), 0, seq);
        b->origin = s->cc->id;
        if (source_emit(ctx, b) != SL_OK)
            break;
    }
    size_t left = source_drain_acks(ctx, demo_noop_commit, s);
    if (c->count && seq >= (uint64_t)c->count)
        log_info(s->cc->id, "emitted %llu events%s", (unsigned long long)seq,
                 left ? " (some not acknowledged)" : "");
    return SL_OK;
}

static void demo_destroy(void *self) { free(self); }

const sl_source_vtable sl_source_demo = {
    .type = "demo",
    .help = "Generates realistic log lines (text, json or cri) at a rate, deterministically",
    .options = demo_options,
    .config_size = sizeof(demo_config),
    .init = demo_init,
    .run = demo_run,
    .destroy = demo_destroy,
};
