/* blackhole.c - the `blackhole` sink: counts and discards events. It is the benchmark
 * sink, so send does one atomic add and nothing else unless print_every is set. */
#include <stdatomic.h>
#include <stdlib.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"

typedef struct blackhole_config {
    int64_t print_every;
} blackhole_config;

static const sl_option blackhole_options[] = {
    {"print_every", SL_OPT_INT, offsetof(blackhole_config, print_every), "0", 0, NULL, NULL, 0,
     INT64_MAX, "log a line every N events (0 = never)"},
    SL_OPT_END,
};

typedef struct blackhole_sink {
    const sl_component_ctx *cc;
    uint64_t print_every;
    atomic_uint_fast64_t events;
} blackhole_sink;

static int blackhole_init(void **self, const void *config, const sl_component_ctx *cc,
                          char *err, size_t errlen)
{
    const blackhole_config *cfg = config;
    blackhole_sink *s = sl_xcalloc(1, sizeof *s);
    s->cc = cc;
    s->print_every = cfg->print_every > 0 ? (uint64_t)cfg->print_every : 0;
    atomic_init(&s->events, 0);
    *self = s;
    return SL_OK;
}

static int blackhole_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    blackhole_sink *s = self;
    uint64_t before = atomic_fetch_add_explicit(&s->events, n, memory_order_relaxed);
    if (SL_UNLIKELY(s->print_every) && (before + n) / s->print_every != before / s->print_every)
        log_info(s->cc->id, "%llu events discarded", (unsigned long long)(before + n));
    res->status = SL_SEND_OK;
    return SL_OK;
}

static void blackhole_destroy(void *self)
{
    blackhole_sink *s = self;
    if (s && s->print_every)
        log_info(s->cc->id, "%llu events discarded in total",
                 (unsigned long long)atomic_load(&s->events));
    free(s);
}

const sl_sink_vtable sl_sink_blackhole = {
    .type = "blackhole",
    .help = "Counts and discards events (benchmarks, tests)",
    .options = blackhole_options,
    .config_size = sizeof(blackhole_config),
    .init = blackhole_init,
    .send = blackhole_send,
    .destroy = blackhole_destroy,
    .serial = false,
};
