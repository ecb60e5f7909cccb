/* sink_runtime.h - what every sink gets for free: batching, concurrency (fixed or
 * adaptive), retries with backoff and jitter, circuit breaker, dead-letter queue, fallback. */
#ifndef SL_SINK_RUNTIME_H
#define SL_SINK_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include "buffer.h"
#include "component.h"
#include "config.h"

typedef struct sl_batch_config {
    int64_t max_events;
    uint64_t max_bytes;
    int64_t timeout_ms;
    bool adaptive; /* adjust the request size to the peer (batch_ctl.h), within the above */
} sl_batch_config;

typedef struct sl_retry_config {
    int64_t initial_ms, max_ms;
    int64_t max_attempts; /* 0 = retry transient errors forever */
} sl_retry_config;

typedef struct sl_breaker_config {
    int64_t failures; /* consecutive failed requests that open the circuit; 0 = never */
    int64_t open_ms;  /* how long it stays open before a half-open probe */
} sl_breaker_config;

/* Options every sink accepts, besides its own. */
typedef struct sl_sink_common {
    char *type;
    sl_strlist inputs;
    sl_buffer_config buffer;
    sl_batch_config batch;
    int64_t concurrency; /* N, or -1 = adaptive */
    sl_retry_config retry;
    sl_breaker_config circuit_breaker;
    char *fallback; /* id of another sink, or NULL */
    bool dlq;       /* dead-letter permanent rejects (default true) */
} sl_sink_common;

extern const sl_option sl_sink_common_options[];

typedef struct sl_sink_runtime sl_sink_runtime;

/* Starts the runtime's threads for one sink. Borrows vt, self, cfg, buf and m; they must
 * outlive the runtime. The DLQ lives in <data_dir>/dlq/<id>.ndjson. */
int sink_runtime_start(sl_sink_runtime **out, const sl_sink_vtable *vt, void *self,
                       const sl_sink_common *cfg, const char *id, sl_buffer *buf,
                       const char *data_dir, sl_metrics *m, char *err, size_t errlen);
/* While this sink's circuit is open, whole requests are pushed into `fallback` instead. */
void sink_runtime_set_fallback(sl_sink_runtime *rt, sl_buffer *fallback);
/* Drains: keeps delivering until the buffer is empty or deadline_ms (monotonic) passes,
 * then stops the threads. Undelivered events stay unacknowledged (memory) or on disk. */
void sink_runtime_stop(sl_sink_runtime *rt, int64_t deadline_ms);
/* For a restart (config reload): stops the threads without closing the buffer. Requests in
 * flight finish (their retries end at deadline_ms); what is not delivered by then goes
 * back into the buffer (buffer_requeue), so a new runtime on the same buffer carries on
 * with it. Then only sink_runtime_free is valid. */
void sink_runtime_pause(sl_sink_runtime *rt, int64_t deadline_ms);
void sink_runtime_free(sl_sink_runtime *rt);

/* Delivers events outside the daemon (dlq replay): one synchronous request with the
 * same retry policy. Returns SL_OK when every event was delivered. */
int sink_send_once(const sl_sink_vtable *vt, void *self, sl_event *const *events, size_t n,
                   const sl_retry_config *retry, char *err, size_t errlen);
/* Like sink_send_once, and reports which events were delivered: delivered[i] is set to 1
 * or 0 (caller-owned, n entries; may be NULL). Rejected events are never dead-lettered
 * here: they count as not delivered and err names the first reason. */
int sink_send_each(const sl_sink_vtable *vt, void *self, sl_event *const *events, size_t n,
                   const sl_retry_config *retry, uint8_t *delivered, char *err, size_t errlen);

#endif
