/* buffer.c - the per-sink buffer: a byte-bounded in-memory FIFO of batch references,
 * or (buffer_disk.c) append-only segments on disk; plus the buffer option table.
 *
 * Memory buffer invariants:
 *  1. The queue holds one reference to each batch in it; pop hands that reference over.
 *  2. bytes == the sum of the sizes counted when each batch in the queue entered it (kept
 *     in its slot: a batch shared with another sink grows while it waits here, as that
 *     sink prepares its events, and subtracting its size at pop drove bytes below zero),
 *     <= max_bytes, except that a single batch larger than the bound is admitted into an
 *     empty queue (no deadlock).
 *  3. After close, push fails with SL_ERR_CLOSED and pop drains what is left.
 *  4. A producer blocked on a full queue is woken when a pop leaves it at most half full
 *     (or empty), not at every pop: it then fills the space in one run instead of waking
 *     once per batch the sink takes (a wake-up across cores is the costly part of the
 *     hand-off). Its wait is timed (WAIT_MS), so a batch that fits while the sink stalls
 *     above the mark is still admitted. */
#include "buffer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "buffer_disk.h"
#include "common.h"
#include "log.h"

#define WAIT_MS 50 /* a blocked producer's longest wait before it looks again */

static const char *const type_choices[] = {"memory", "disk", NULL};
static const char *const fsync_choices[] = {"always", "interval", "never", NULL};
static const char *const when_full_choices[] = {"block", "drop_newest", NULL};

const sl_option sl_buffer_options[] = {
    {"type", SL_OPT_ENUM, offsetof(sl_buffer_config, type), "memory", 0, type_choices, NULL, 0, 0,
     "where events wait for the sink: memory (lost on crash, acks wait) or disk (durable)"},
    {"max_bytes", SL_OPT_SIZE, offsetof(sl_buffer_config, max_bytes), "2MiB", 0, NULL, NULL, 1,
     INT64_MAX, "memory buffer bound in bytes"},
    {"max_size", SL_OPT_SIZE, offsetof(sl_buffer_config, max_size), "1GiB", 0, NULL, NULL, 4096,
     INT64_MAX, "disk buffer bound on segment bytes"},
    {"fsync", SL_OPT_ENUM, offsetof(sl_buffer_config, fsync), "interval", 0, fsync_choices, NULL,
     0, 0, "disk: fdatasync after every record, every fsync_interval_ms, or never"},
    {"fsync_interval_ms", SL_OPT_DURATION, offsetof(sl_buffer_config, fsync_interval_ms), "1000",
     0, NULL, NULL, 1, 3600000, "disk: how often to fdatasync when fsync is interval"},
    {"when_full", SL_OPT_ENUM, offsetof(sl_buffer_config, when_full), "block", 0,
     when_full_choices, NULL, 0, 0, "block the inputs (backpressure) or drop the newest batch"},
    SL_OPT_END,
};

struct sl_buffer {
    int type;
    sl_buffer_config cfg;
    sl_metrics *m;
    sl_disk_buffer *disk;
    /* memory: ring of owned batch references and their counted sizes, guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    struct mem_slot {
        sl_batch *batch;
        size_t size; /* batch_mem_size() when it entered (invariant 2) */
    } *ring;
    size_t cap, head, count;
    size_t bytes, events;
    atomic_uint_fast64_t wakes; /* buffer_wake calls (written under mu) */
    bool closed;
    bool full_logged;
};

static void mem_publish(sl_buffer *b)
{
    if (b->m) {
        atomic_store(&b->m->buffer_bytes, (int_fast64_t)b->bytes);
        atomic_store(&b->m->buffer_events, (int_fast64_t)b->events);
    }
}

int buffer_open(sl_buffer **out, const sl_buffer_config *cfg, const char *dir, sl_metrics *m,
                char *err, size_t errlen)
{
    *out = NULL;
    sl_buffer *b = sl_xcalloc(1, sizeof *b);
    b->type = cfg->type;
    b->cfg = *cfg;
    b->m = m;
    if (cfg->type == SL_BUFFER_DISK) {
        if (!dir || !*dir) {
            free(b);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "disk buffer needs a directory");
        }
        int rc = disk_buffer_open(&b->disk, cfg, dir, m, err, errlen);
        if (rc != SL_OK) {
            free(b);
            return rc;
        }
        *out = b;
        return SL_OK;
    }
    if (cfg->type != SL_BUFFER_MEMORY) {
        free(b);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "unknown buffer type %d", cfg->type);
    }
    if (b->cfg.max_bytes == 0)
        b->cfg.max_bytes = 8u << 20;
    pthread_mutex_init(&b->mu, NULL);
    sl_cond_init_mono(&b->not_empty);
    sl_cond_init_mono(&b->not_full);
    b->cap = 64;
    b->ring = sl_xmalloc(sizeof *b->ring * b->cap);
    mem_publish(b);
    *out = b;
    return SL_OK;
}

static void mem_grow(sl_buffer *b)
{
    struct mem_slot *r = sl_xmalloc(sizeof *r * b->cap * 2);
    for (size_t i = 0; i < b->count; i++)
        r[i] = b->ring[(b->head + i) % b->cap];
    free(b->ring);
    b->ring = r;
    b->head = 0;
    b->cap *= 2;
}

int buffer_push(sl_buffer *b, sl_batch *batch) { return buffer_push_cancel(b, batch, NULL); }

int buffer_push_cancel(sl_buffer *b, sl_batch *batch, const atomic_bool *cancel)
{
    if (b->disk)
        return disk_buffer_push(b->disk, batch, cancel);
    pthread_mutex_lock(&b->mu);
    bool blocked = false; /* counted in the buffer_blocked gauge until the loop ends */
    for (;;) {
        if (b->closed || (cancel && atomic_load(cancel))) {
            if (blocked && b->m)
                atomic_fetch_sub(&b->m->buffer_blocked, 1);
            pthread_mutex_unlock(&b->mu);
            return SL_ERR_CLOSED;
        }
        if (b->count == 0 || b->bytes + batch_mem_size(batch) <= b->cfg.max_bytes)
            break;
        if (b->cfg.when_full == SL_WHEN_FULL_DROP_NEWEST) {
            if (b->m)
                atomic_fetch_add(&b->m->dropped_events, batch->n);
            if (!b->full_logged)
                log_warn(b->m ? b->m->id : "buffer",
                         "memory buffer full (%zu bytes): dropping newest batches", b->bytes);
            b->full_logged = true;
            pthread_mutex_unlock(&b->mu);
            return SL_ERR_FULL;
        }
        if (!blocked && b->m)
            atomic_fetch_add(&b->m->buffer_blocked, 1);
        blocked = true;
        /* The room and the cancel flag are looked at again every WAIT_MS (invariant 4). */
        struct timespec dl = sl_deadline_mono(WAIT_MS);
        pthread_cond_timedwait(&b->not_full, &b->mu, &dl);
    }
    if (blocked && b->m)
        atomic_fetch_sub(&b->m->buffer_blocked, 1);
    b->full_logged = false;
    if (b->count == b->cap)
        mem_grow(b);
    batch_retain(batch);
    size_t size = batch_mem_size(batch);
    b->ring[(b->head + b->count) % b->cap] = (struct mem_slot){batch, size};
    b->count++;
    b->bytes += size;
    b->events += batch->n;
    mem_publish(b);
    pthread_cond_signal(&b->not_empty);
    pthread_mutex_unlock(&b->mu);
    return SL_OK;
}

int buffer_pop(sl_buffer *b, sl_buffer_item *item, int timeout_ms)
{
    return buffer_pop_since(b, item, timeout_ms, buffer_wakes(b));
}

uint64_t buffer_wakes(sl_buffer *b)
{
    return b->disk ? disk_buffer_wakes(b->disk) : atomic_load(&b->wakes);
}

int buffer_pop_since(sl_buffer *b, sl_buffer_item *item, int timeout_ms, uint64_t wakes)
{
    item->batch = NULL;
    item->token = NULL;
    if (b->disk)
        return disk_buffer_pop(b->disk, item, timeout_ms, wakes);
    struct timespec dl = sl_deadline_mono(timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock(&b->mu);
    while (b->count == 0) {
        if (b->closed) {
            pthread_mutex_unlock(&b->mu);
            return SL_ERR_CLOSED;
        }
        if (timeout_ms <= 0 || b->wakes != wakes ||
            pthread_cond_timedwait(&b->not_empty, &b->mu, &dl) == ETIMEDOUT) {
            if (b->count)
                break;
            int rc = b->closed ? SL_ERR_CLOSED : SL_ERR_TIMEOUT;
            pthread_mutex_unlock(&b->mu);
            return rc;
        }
    }
    sl_batch *batch = b->ring[b->head].batch;
    b->bytes -= b->ring[b->head].size;
    b->head = (b->head + 1) % b->cap;
    b->count--;
    b->events -= batch->n;
    mem_publish(b);
    /* Several producers may fit in the space freed (invariant 4). */
    if (b->count == 0 || b->bytes <= b->cfg.max_bytes / 2)
        pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->mu);
    item->batch = batch;
    return SL_OK;
}

void buffer_done(sl_buffer *b, sl_buffer_item *item)
{
    if (b->disk) {
        disk_buffer_done(b->disk, item);
        return;
    }
    batch_release(item->batch);
    item->batch = NULL;
    item->token = NULL;
}

int buffer_requeue(sl_buffer *b, sl_buffer_item *item)
{
    if (b->disk) {
        if (item->batch)
            disk_buffer_requeue(b->disk, item);
        return SL_OK;
    }
    /* Back at the head, in front of what came later: the order is kept and the reference
     * the item held is the queue's again (invariant 1; the bound may be passed). */
    if (!item->batch)
        return SL_OK;
    pthread_mutex_lock(&b->mu);
    if (b->count == b->cap)
        mem_grow(b);
    b->head = (b->head + b->cap - 1) % b->cap;
    size_t size = batch_mem_size(item->batch);
    b->ring[b->head] = (struct mem_slot){item->batch, size};
    b->count++;
    b->bytes += size;
    b->events += item->batch->n;
    mem_publish(b);
    pthread_cond_signal(&b->not_empty);
    pthread_mutex_unlock(&b->mu);
    item->batch = NULL;
    item->token = NULL;
    return SL_OK;
}

void buffer_wake(sl_buffer *b)
{
    if (b->disk) {
        disk_buffer_wake(b->disk);
        return;
    }
    pthread_mutex_lock(&b->mu);
    atomic_fetch_add(&b->wakes, 1);
    pthread_cond_broadcast(&b->not_empty);
    pthread_mutex_unlock(&b->mu);
}

void buffer_close(sl_buffer *b)
{
    if (b->disk) {
        disk_buffer_close(b->disk);
        return;
    }
    pthread_mutex_lock(&b->mu);
    b->closed = true;
    pthread_cond_broadcast(&b->not_empty);
    pthread_cond_broadcast(&b->not_full);
    pthread_mutex_unlock(&b->mu);
}

/* Batches still queued are released (their sources never get an ack for them, so the
 * events are re-read after restart where the source can). */
void buffer_free(sl_buffer *b)
{
    if (!b)
        return;
    if (b->disk) {
        disk_buffer_free(b->disk);
        free(b);
        return;
    }
    for (size_t i = 0; i < b->count; i++)
        batch_abandon(b->ring[(b->head + i) % b->cap].batch);
    b->count = b->bytes = b->events = 0;
    mem_publish(b);
    free(b->ring);
    pthread_cond_destroy(&b->not_empty);
    pthread_cond_destroy(&b->not_full);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

size_t buffer_bytes(const sl_buffer *b)
{
    if (b->disk)
        return disk_buffer_bytes(b->disk);
    pthread_mutex_lock((pthread_mutex_t *)&b->mu);
    size_t n = b->bytes;
    pthread_mutex_unlock((pthread_mutex_t *)&b->mu);
    return n;
}

int64_t buffer_dir_pending(const char *dir) { return disk_buffer_pending(dir); }

size_t buffer_events(const sl_buffer *b)
{
    if (b->disk)
        return disk_buffer_events(b->disk);
    pthread_mutex_lock((pthread_mutex_t *)&b->mu);
    size_t n = b->events;
    pthread_mutex_unlock((pthread_mutex_t *)&b->mu);
    return n;
}

bool buffer_would_block(sl_buffer *b, size_t bytes)
{
    if (b->cfg.when_full != SL_WHEN_FULL_BLOCK)
        return false;
    if (b->disk)
        return disk_buffer_bytes(b->disk) + bytes > b->cfg.max_size;
    pthread_mutex_lock(&b->mu);
    bool full = !b->closed && b->count > 0 && b->bytes + bytes > b->cfg.max_bytes;
    pthread_mutex_unlock(&b->mu);
    return full;
}
