/* batch_ctl.h - the adaptive batch size of a sink: a pure controller fed one observation
 * per request (no clock, no lock, no thread), so its behaviour is unit-tested on sequences
 * of latencies and push-backs. The sink runtime holds one under its mutex. */
#ifndef SL_BATCH_CTL_H
#define SL_BATCH_CTL_H

#include <stdbool.h>
#include <stdint.h>

/* What one request taught. */
typedef enum sl_bc_outcome {
    SL_BC_OK = 0,     /* delivered (or answered per item without push-back) */
    SL_BC_THROTTLED,  /* 429 for the request or some of its items, or the sink's throttling */
    SL_BC_TOO_LARGE,  /* 413 Payload Too Large */
    SL_BC_FAILED,     /* another transient failure: says nothing about the size */
} sl_bc_outcome;

typedef struct sl_batch_obs {
    uint32_t gen;     /* the controller's gen when the request was cut */
    sl_bc_outcome outcome;
    double ms;        /* request latency */
    uint32_t events;  /* events in the request */
    uint64_t bytes;   /* their payload bytes */
} sl_batch_obs;

/* Invariants: min_events <= events <= max_events, min_bytes <= bytes <= max_bytes. gen
 * changes with every change of the target, and only observations of requests cut under
 * the current gen move it (a burst of 429s to requests cut together halves it once, as
 * TCP reacts once per round trip). */
typedef struct sl_batch_ctl {
    uint32_t min_events, max_events;
    uint64_t min_bytes, max_bytes;
    uint32_t events;  /* the target: every new request is cut to at most this */
    uint64_t bytes;
    uint32_t gen;
    uint32_t streak;  /* full, quick requests since the last change */
    double cost_us;   /* moving average of microseconds per event, full requests (0 = none) */
    double avg_ms;    /* moving average of the latency of full requests */
} sl_batch_ctl;

/* Full requests in a row, quick and not slower per event, before the target grows. */
#define SL_BC_GROW_STREAK 4
/* The floor is the ceiling divided by this (at least 1 event, 1 byte). */
#define SL_BC_FLOOR_DIV 32

/* Starts at the ceiling: a peer that never pushes back is sent batches as configured. */
void batch_ctl_init(sl_batch_ctl *c, uint32_t max_events, uint64_t max_bytes);
/* Feeds one request's outcome. Returns true when the target changed.
 *   TOO_LARGE: both targets at most half the refused request (whatever its gen).
 *   THROTTLED, or a full request far slower per event than the average (> 3x and
 *     > 3x the average latency + 50 ms): both halve.
 *   OK on a full request (>= 3/4 of either target) no slower per event than 1.5x the
 *     average: after SL_BC_GROW_STREAK of them both grow by 1/8.
 *   FAILED, and requests smaller than the target: no change (the target did not limit
 *     them, so their latency says nothing about it). */
bool batch_ctl_observe(sl_batch_ctl *c, const sl_batch_obs *o);

#endif
