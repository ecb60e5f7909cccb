/* component.h - the one small interface every source, transform and sink implements,
 * and the registry table that names them. Adding a component = its file + one line in
 * registry.c. */
#ifndef SL_COMPONENT_H
#define SL_COMPONENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acks.h"
#include "config.h"
#include "event.h"
#include "metrics.h"

/* What every component gets at init. Borrowed; lives as long as the component. */
typedef struct sl_component_ctx {
    const char *id;       /* name in the config */
    const char *type;
    const char *data_dir; /* global data_dir (state, buffers, dlq live below it) */
    sl_metrics *metrics;
    uint32_t max_events;  /* sinks: batch.max_events, the most events one request holds
                             (requests are cut at multiples of it); 0 for the others */
    /* Stops the whole pipeline, for an output that can never take anything again (stdout
     * whose reader left): `run` then exits 1. Set by the topology; NULL outside one. */
    void (*stop_pipeline)(void *arg);
    void *stop_arg;
    /* The component is built to check its config only (validate, top, tap, reload -c): it
     * is destroyed without running, so init opens no connection and starts no client. */
    bool check_only;
} sl_component_ctx;

/* init's error messages: one about an option starts with its path in the component's map
 * ("pattern: ...", "tls.ca_file: ...", "match[1]: ..."), and the config error then points
 * at that option's file:line:col; where there is a list of valid values, it names them. */

/* ---- Sources -------------------------------------------------------------------------
 * A source runs on its own thread. It builds batches (batch_new), opens one ack token per
 * batch on its ledger with the position the batch ends at, and emits them. The engine
 * releases the token once every sink has delivered or durably buffered the batch; the
 * source learns it in order through source_collect_acks() and only then persists the
 * position. */
typedef struct sl_source_ctx sl_source_ctx;

/* Runs transforms and routes the batch to every downstream sink buffer. Takes the
 * caller's reference. Blocks while a downstream buffer is full (backpressure).
 * Returns SL_OK, or SL_ERR_CLOSED once the engine is stopping (batch released). */
int source_emit(sl_source_ctx *ctx, sl_batch *b);
/* True when emitting about `bytes` now would block on a full downstream buffer (a hint for
 * sources that can answer "retry later", such as HTTP 429). */
bool source_would_block(sl_source_ctx *ctx, size_t bytes);
/* True once the engine asks sources to stop reading. Sources then emit nothing new,
 * call source_drain_acks and return. */
bool source_should_stop(const sl_source_ctx *ctx);
/* The ledger for this source's tokens (ack_token_open). */
sl_ack_ledger *source_ledger(sl_source_ctx *ctx);
/* Delivers committed positions (in order) to fn; call from the source thread, at least
 * every few ms while acks are pending. It also sends on what transforms downstream keep
 * for this source and is now due (multiline's open groups past their timeout), so it may
 * block on backpressure like source_emit. */
size_t source_collect_acks(sl_source_ctx *ctx, sl_ack_commit_fn fn, void *arg);
/* At shutdown: sends on everything transforms downstream keep for this source, then waits
 * until every token is collected or the shutdown deadline passes, calling fn for each.
 * Returns the number still pending (0 = all committed). */
size_t source_drain_acks(sl_source_ctx *ctx, sl_ack_commit_fn fn, void *arg);
/* Sleeps up to ms, waking early when the engine stops. */
void source_sleep(sl_source_ctx *ctx, int ms);
/* Borrowed: the fd that becomes readable when stop is requested (for epoll loops). */
int source_stop_fd(const sl_source_ctx *ctx);
/* Memory limit (memlimit.h): the priority class of what this source emits, SL_MEM_LIVE
 * unless set (SL_MEM_NEVER: a source that loses data when it stops reading). source_emit
 * waits while its class is paused, and source_would_block answers true. */
void source_set_mem_class(sl_source_ctx *ctx, int cls);
/* For a source that reads several classes (cloudwatch_logs: deep history, backfill): true
 * while class `cls` is paused, in which case the source defers that reading; it counts as
 * a paused source until a later call answers false. */
bool source_mem_paused(sl_source_ctx *ctx, int cls);
/* The source now accepts input (a listener is bound): for sources whose vtable sets
 * signals_ready, /readyz waits for this, so a client told "ready" is never refused. */
void source_ready(sl_source_ctx *ctx);

/* A port a source will listen on (sl_source_vtable.listens). */
enum { SL_LISTEN_TCP = 1, SL_LISTEN_UDP = 2, SL_LISTEN_MAX = 2 };
typedef struct sl_listen {
    const char *address; /* host:port, its default filled in (static or the config's) */
    unsigned protos;     /* SL_LISTEN_TCP | SL_LISTEN_UDP */
} sl_listen;

typedef struct sl_source_vtable {
    const char *type;
    const char *help;
    const sl_option *options;
    size_t config_size;
    /* Builds the source from its parsed config (borrowed, lives as long as the source).
     * Must not start threads or read input yet. *self is owned by the engine. */
    int (*init)(void **self, const void *config, const sl_component_ctx *cc, char *err,
                size_t errlen);
    /* Runs on the source's own thread until it ends (EOF) or source_should_stop(). */
    int (*run)(void *self, sl_source_ctx *ctx);
    void (*destroy)(void *self);
    /* Optional: appends ",\"member\":value..." to the source's object in the status API.
     * Called from the API thread while the source runs: the source locks its own state. */
    void (*status_json)(void *self, sl_buf *out);
    /* run() calls source_ready() once it accepts input (servers: after binding); the
     * process is not ready until then. Other sources are ready once started. */
    bool signals_ready;
    /* Optional, for servers: the ports its parsed config will listen on (at most
     * SL_LISTEN_MAX; returns how many), so that a config in which two listeners take one
     * port is refused when it is read (topology.c, check_listeners), not at start. */
    int (*listens)(const void *config, sl_listen *out);
    /* Optional, for sources that read files: true when its parsed config would read the
     * file at `path` (absolute), so that a config in which it reads what a sink it feeds
     * writes, or sluice's own files, is refused when it is read (topology.c, check_feedback). */
    bool (*reads)(const void *config, const char *path);
} sl_source_vtable;

/* ---- Transforms ----------------------------------------------------------------------
 * Run on the emitting source's thread, in place: they may change events, add fields
 * (allocating from the batch arena) and drop events with batch_compact. Their events
 * have no shared fields (event.h): the router makes them each event's own first. */
typedef struct sl_transform_vtable {
    const char *type;
    const char *help;
    const sl_option *options;
    size_t config_size;
    int (*init)(void **self, const void *config, const sl_component_ctx *cc, char *err,
                size_t errlen);
    /* Returns SL_OK; errors are counted by the transform itself and never drop the batch
     * unless the transform's own policy says so. Must be thread-safe (several sources). */
    int (*process)(void *self, sl_batch *b);
    void (*destroy)(void *self);
    /* Optional, for transforms that keep events past the batch they came in (multiline):
     * returns an owned batch of the events kept for the source `origin` that are due at
     * now_ms (monotonic; every one when `all`), or NULL. The engine calls it on that
     * source's thread each time the source collects its acks, and with `all` when the
     * source drains at its end, then routes the batch on from this transform. A kept event
     * keeps the ack tokens of its batch (sl_ack_set) until the batch carrying it is done. */
    sl_batch *(*flush)(void *self, const char *origin, int64_t now_ms, bool all);
} sl_transform_vtable;

/* ---- Sinks ---------------------------------------------------------------------------
 * A sink only sends. The sink runtime owns batching, buffering, retries, backoff,
 * circuit breaking, dead-lettering and fallback. Events may have shared fields (event.h):
 * a sink reads fields through event_nfields / event_field, event_get or
 * json_encode_event. */
typedef enum sl_send_status {
    SL_SEND_OK = 0,   /* every event delivered */
    SL_SEND_RETRY,    /* transient: the whole request may be retried */
    SL_SEND_REJECT,   /* permanent: no retry will help (runtime bisects to isolate) */
    SL_SEND_PARTIAL,  /* per-event outcome in item_status / item_reason */
} sl_send_status;

enum { SL_ITEM_OK = 0, SL_ITEM_RETRY = 1, SL_ITEM_REJECT = 2 };

typedef struct sl_send_result {
    sl_send_status status;
    char reason[256];         /* why, for RETRY / REJECT */
    uint8_t *item_status;     /* runtime-owned, n entries, zeroed; fill for PARTIAL */
    const char **item_reason; /* runtime-owned, n entries; strings owned by the sink and
                                 valid until its next send call */
    int64_t retry_after_ms;   /* server's hint (Retry-After), 0 = none */
    bool open_circuit;        /* with RETRY: credentials refused (401/403); open the circuit
                                 now instead of after `failures` attempts */
    bool throttled;           /* the peer throttled the request (429) or some of its items
                                 (429 inside an answered request): adaptive concurrency
                                 halves as for a failed request, the batch target halves */
    bool too_large;           /* the peer refused the request's size (413), even if the sink
                                 then delivered it in parts: the batch target halves */
    bool gone;                /* with RETRY: the destination can never take anything again
                                 (a closed stdout): once stopping, retries end at once instead
                                 of at the deadline (the events stay unacknowledged) */
    const atomic_bool *cancel; /* runtime-owned, NULL outside a runtime: turns true when the
                                  stop deadline passes. A send waiting on its peer then
                                  ends soon, answering RETRY for what the peer did not
                                  confirm (not acknowledged: read again at the next start) */
} sl_send_result;

typedef struct sl_sink_vtable {
    const char *type;
    const char *help;
    const sl_option *options;
    size_t config_size;
    int (*init)(void **self, const void *config, const sl_component_ctx *cc, char *err,
                size_t errlen);
    /* Delivers `n` events (borrowed, valid during the call). Called from several runtime
     * threads at once when concurrency > 1, unless `serial` is set. Returns SL_OK or an
     * error code; the outcome is in res. */
    int (*send)(void *self, sl_event *const *events, size_t n, sl_send_result *res);
    /* Optional: encodes b's events ahead of send (event.h, event_prep), on the thread
     * that routes b to this sink, before b enters its memory buffer; send then copies
     * event_prep's bytes where it would have encoded the event. Called only for a batch no
     * other sink prepared, and from several source threads at once: it may read the
     * sink's configuration but change only b. */
    void (*prepare)(void *self, sl_batch *b);
    /* Optional: called about once a second from a runtime thread (flush, rotate). */
    void (*tick)(void *self);
    void (*destroy)(void *self);
    /* Optional: appends ,"key":value members to the sink's entry in the status API
     * (called from the API thread). */
    void (*status_json)(void *self, sl_buf *out);
    /* Optional, for sinks that write files: writes into out (outlen bytes) the path its
     * parsed config writes now (a template's fields filled in with the current time) and
     * returns its length, 0 when it has none (check_feedback). */
    size_t (*writes)(const void *config, char *out, size_t outlen);
    bool serial; /* send must not run concurrently with itself */
    /* Requests must reach the peer in buffer order (Loki's per-stream order): the config
     * refuses a concurrency other than 1, so one worker sends and retries each request
     * before cutting the next. */
    bool ordered;
    /* A request is what the sink stores as one unit (an S3 object): the runtime fills it
     * until batch.max_events / max_bytes or batch.timeout_ms, even when no other request is
     * in flight, instead of sending what is queued at once. */
    bool fill;
} sl_sink_vtable;

/* ---- Registry (registry.c) ------------------------------------------------------------ */
const sl_source_vtable *registry_source(const char *type);
const sl_transform_vtable *registry_transform(const char *type);
const sl_sink_vtable *registry_sink(const char *type);
/* Comma-separated list of the registered types of a kind, for error messages. */
void registry_list(const char *kind, char *out, size_t outlen);
/* NULL-terminated arrays, for --help and docs. */
extern const sl_source_vtable *const sl_sources[];
extern const sl_transform_vtable *const sl_transforms[];
extern const sl_sink_vtable *const sl_sinks[];

#endif
