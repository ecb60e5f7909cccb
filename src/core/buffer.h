/* buffer.h - the buffer in front of each sink: memory (bounded in bytes) or disk
 * (append-only CRC32C-framed segments, replayed on restart). */
#ifndef SL_BUFFER_H
#define SL_BUFFER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "acks.h"
#include "config.h"
#include "event.h"
#include "metrics.h"

enum { SL_BUFFER_MEMORY = 0, SL_BUFFER_DISK = 1 };
enum { SL_FSYNC_ALWAYS = 0, SL_FSYNC_INTERVAL = 1, SL_FSYNC_NEVER = 2 };
enum { SL_WHEN_FULL_BLOCK = 0, SL_WHEN_FULL_DROP_NEWEST = 1 };

typedef struct sl_buffer_config {
    int type;            /* SL_BUFFER_* */
    uint64_t max_bytes;  /* memory: queue bound in bytes */
    uint64_t max_size;   /* disk: bound on segment bytes on disk */
    int fsync;           /* SL_FSYNC_* (disk) */
    int64_t fsync_interval_ms;
    int when_full;       /* SL_WHEN_FULL_* */
} sl_buffer_config;

extern const sl_option sl_buffer_options[];

typedef struct sl_buffer sl_buffer;

/* One unit handed to the sink runtime. `batch` is an owned reference; `token` is the
 * disk read-cursor token (NULL for memory buffers). Give it back with buffer_done. */
typedef struct sl_buffer_item {
    sl_batch *batch;
    sl_ack_token *token;
} sl_buffer_item;

/* Opens a buffer. `dir` is where a disk buffer keeps its segments (created if needed;
 * existing segments are replayed). Returns an owned buffer in *out. */
int buffer_open(sl_buffer **out, const sl_buffer_config *cfg, const char *dir, sl_metrics *m,
                char *err, size_t errlen);

/* Producer side (source threads). Makes the batch this sink's responsibility:
 * memory buffers retain a reference; disk buffers append one record and keep none (the
 * record is durable per the fsync policy when this returns). Blocks while full when
 * when_full=block. Returns SL_OK, SL_ERR_FULL (dropped by drop_newest policy, counted),
 * SL_ERR_CLOSED (closing; nothing kept), or SL_ERR_IO (disk write failed; nothing kept,
 * the caller retries later so nothing is lost). The caller keeps its own reference. */
int buffer_push(sl_buffer *b, sl_batch *batch);
/* The same, giving up with SL_ERR_CLOSED (nothing kept) once *cancel is true while it
 * waits for room: a source stopped by a reload must not wait for a sink that is down. */
int buffer_push_cancel(sl_buffer *b, sl_batch *batch, const atomic_bool *cancel);

/* Consumer side (sink runtime). Waits up to timeout_ms for the next batch in order.
 * Returns SL_OK, SL_ERR_TIMEOUT, or SL_ERR_CLOSED once closed and empty. */
int buffer_pop(sl_buffer *b, sl_buffer_item *item, int timeout_ms);
/* The item's events were delivered or dead-lettered: releases the batch; for disk
 * buffers the persisted read cursor may now pass it (items may be done out of order). */
void buffer_done(sl_buffer *b, sl_buffer_item *item);
/* Gives a popped item back undelivered (a sink restarted by a reload): the next pop
 * returns it again, before anything else (a memory buffer puts it back at its head, over
 * the bound if need be; a disk buffer keeps it in memory with its cursor token, and a
 * close before it is popped again leaves its record to be replayed). Returns SL_OK. */
int buffer_requeue(sl_buffer *b, sl_buffer_item *item);
/* Ends every pop waiting now, with SL_ERR_TIMEOUT if it has nothing (the sink runtime's
 * signal that a request returned, so a waiting request may go out). */
void buffer_wake(sl_buffer *b);
/* How many buffer_wake calls so far; buffer_pop_since returns SL_ERR_TIMEOUT at once
 * (having nothing) if there were more than `wakes`, so a wake between reading this and
 * popping is not lost. buffer_pop is buffer_pop_since(buffer_wakes()). */
uint64_t buffer_wakes(sl_buffer *b);
int buffer_pop_since(sl_buffer *b, sl_buffer_item *item, int timeout_ms, uint64_t wakes);

/* Stops producers (push returns SL_ERR_CLOSED) and wakes waiters; pop drains what is
 * left. For disk buffers, everything not done stays on disk for the next start. */
void buffer_close(sl_buffer *b);
void buffer_free(sl_buffer *b);

size_t buffer_bytes(const sl_buffer *b);
/* True when a push of about `bytes` would block now (when_full: block and no room), so a
 * producer that can answer "later" (HTTP 429) does not have to wait. A hint: racy. */
bool buffer_would_block(sl_buffer *b, size_t bytes);
size_t buffer_events(const sl_buffer *b);
/* Events a disk buffer directory holds past its read cursor, read without opening it (a
 * directory no sink of the configuration opens); 0 for none or one that cannot be read. */
int64_t buffer_dir_pending(const char *dir);

#endif
