/* metrics.h - per-component counters in one scheme, rendered as Prometheus text.
 * Counters are atomics updated on the hot path without locks; one registry lists them. */
#ifndef SL_METRICS_H
#define SL_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SL_METRICS_MAX_REASONS 16
#define SL_METRICS_BUCKETS 12

typedef struct sl_metric_reason {
    _Atomic(const char *) reason; /* static string; NULL = free slot */
    atomic_uint_fast64_t count;
} sl_metric_reason;

typedef enum sl_circuit_state { SL_CIRCUIT_CLOSED = 0, SL_CIRCUIT_OPEN = 1, SL_CIRCUIT_HALF_OPEN = 2 } sl_circuit_state;

/* One component's metrics. Registered once at build time; lives until metrics_reset. */
typedef struct sl_metrics {
    const char *id;   /* component id */
    const char *kind; /* "source" | "transform" | "sink" */
    const char *type; /* e.g. "file" */
    atomic_uint_fast64_t received_events, received_bytes;
    atomic_uint_fast64_t sent_events, sent_bytes;
    atomic_uint_fast64_t dropped_events; /* by policy: when_full: drop_newest */
    atomic_uint_fast64_t dlq_events;
    atomic_uint_fast64_t retries;
    /* sinks that encode requests: body bytes before and after compression */
    atomic_uint_fast64_t payload_bytes, wire_bytes;
    sl_metric_reason errors[SL_METRICS_MAX_REASONS];
    /* sinks */
    atomic_int_fast64_t buffer_bytes, buffer_events;
    atomic_int buffer_blocked; /* pushes waiting for room in the buffer (backpressure) */
    atomic_int inflight;
    /* events of the requests being sent or retried: they have left the buffer (memory) */
    atomic_int_fast64_t request_events;
    atomic_int concurrency_limit;
    atomic_int_fast64_t batch_target, batch_target_bytes; /* adaptive batch size, or the max */
    atomic_int_fast64_t latency_p50_us; /* of the sink's last 32 requests */
    atomic_int circuit_state; /* sl_circuit_state */
    atomic_uint_fast64_t duration_buckets[SL_METRICS_BUCKETS]; /* cumulative at render */
    atomic_uint_fast64_t duration_count;
    atomic_uint_fast64_t duration_sum_us;
    /* sources */
    atomic_int_fast64_t files_tracked;
    /* monotonic ms at which the oldest batch read but not yet committed was read, 0 when
     * none: the lag is computed when read (metrics_lag_ms), so it keeps growing while the
     * source is blocked (backpressure) and does not update it */
    atomic_int_fast64_t lag_since_ms;
    /* Named state after an I/O failure ("ok" when healthy): shown in /api/v1/status. */
    _Atomic(const char *) state;
    /* component-specific counters by static name (e.g. reconciliation), see metrics_count */
    sl_metric_reason counters[SL_METRICS_MAX_REASONS];
    /* component gauges with one extra label (metrics_gauges_set); under the gauge lock */
    struct sl_metric_gauges *gauges;
    struct sl_metrics *next;
    struct sl_metrics *retired_next; /* metrics_unregister's list */
} sl_metrics;

/* Returns a registered, zeroed metrics block (owned by the registry, which copies the
 * strings). */
sl_metrics *metrics_register(const char *id, const char *kind, const char *type);
/* A reload removed the component: its block leaves the exposition (the memory stays
 * until metrics_reset, as a walker may stand on it). */
void metrics_unregister(sl_metrics *m);
/* A reload changed the component's type; the block (and its counters) carries on. */
void metrics_set_type(sl_metrics *m, const char *type);
/* Counts one configuration reload (sluice_config_reloads_total{result}) and stamps it. */
void metrics_config_reload(bool ok);
/* Frees every registered block (at exit, or between tests). */
void metrics_reset(void);
/* Head of the registry list, in registration order. */
sl_metrics *metrics_first(void);
/* A source's commit lag now, in ms (0 when everything read is committed). */
int64_t metrics_lag_ms(const sl_metrics *m);

/* Counts one error with a static reason string ("io", "parse", "corrupt_segment"...). */
void metrics_error(sl_metrics *m, const char *reason);
uint64_t metrics_error_count(const sl_metrics *m, const char *reason);
/* Adds n to the component counter `name` (a static string), rendered as
 * sluice_component_counter_total{name=...}; past the table's size they go to "other". */
void metrics_count(sl_metrics *m, const char *name, uint64_t n);
uint64_t metrics_count_get(const sl_metrics *m, const char *name);
void metrics_observe_duration(sl_metrics *m, double seconds);
void metrics_set_state(sl_metrics *m, const char *state);

/* Component gauges: families of series with one or two labels beyond the component's (e.g.
 * sluice_backfill_remaining_windows{group=...}, sluice_kafka_consumer_lag{topic=...,
 * partition=...}). A family's series are replaced as a whole, so series that end simply
 * disappear; at most SL_METRICS_MAX_GAUGES series per component over all its families (the
 * rest are not kept: callers bound their own cardinality). */
#define SL_METRICS_MAX_GAUGES 256
typedef struct sl_gauge_sample {
    const char *label_value; /* copied (at most 127 bytes); NULL = the series has no label */
    double value;
} sl_gauge_sample;
typedef struct sl_gauge_sample2 {
    const char *label_value, *label2_value; /* copied as above; NULL = without that label */
    double value;
} sl_gauge_sample2;
/* Replaces the series of `family` (name and help static) of m; n == 0 removes them. */
void metrics_gauges_set(sl_metrics *m, const char *family, const char *help, const char *label,
                        const sl_gauge_sample *v, size_t n);
/* The same with a second label (`label2`, static). */
void metrics_gauges_set2(sl_metrics *m, const char *family, const char *help, const char *label,
                         const char *label2, const sl_gauge_sample2 *v, size_t n);

/* Appends the Prometheus text exposition of every registered component. */
void metrics_render_prometheus(sl_buf *out);

#endif
