/* tap.h - a copy of the events passing one component, for `sluice tap` (GET /api/v1/tap).
 *
 * Each component owns one sl_tap for its whole life. The pipeline thread calls tap_hook on
 * every batch the component outputs: with no client attached that is one relaxed atomic
 * load. With one attached, events are encoded as NDJSON lines into a bounded pending
 * buffer, at most `rate` a second; the rest are counted as skipped and reported in a line
 * {"tap_skipped":N} before the next event taken. The pipeline never waits for the client:
 * when pending is full, events are skipped too. One client per component at a time.
 *
 * States: idle (active 0) -> attached (tap_attach; active 1) -> idle (tap_detach). */
#ifndef SL_TAP_H
#define SL_TAP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"

#define SL_TAP_MAX_PENDING (1u << 20)

typedef struct sl_tap {
    atomic_int active;    /* the hot path's only load */
    pthread_mutex_t mu;   /* guards the rest */
    pthread_cond_t cv;    /* signalled when pending grows or the tap closes */
    sl_buf pending;       /* whole NDJSON lines not yet taken */
    uint64_t skipped;     /* events not copied since the last report */
    int rate;             /* events per second copied at most */
    int64_t window_ms;    /* start of the current one-second window */
    int window_n;         /* events copied in it */
    uint64_t left;        /* events still to copy before the client is done */
} sl_tap;

void tap_init(sl_tap *t);
void tap_destroy(sl_tap *t);
/* Attaches a client copying at most `rate` events a second and `limit` in all (0: no
 * limit). Returns SL_OK, or SL_ERR_AGAIN when another client is attached. */
int tap_attach(sl_tap *t, int rate, uint64_t limit);
/* Detaches the client and drops what it did not take. */
void tap_detach(sl_tap *t);

void tap_offer(sl_tap *t, const sl_batch *b);
static inline void tap_hook(sl_tap *t, const sl_batch *b)
{
    if (atomic_load_explicit(&t->active, memory_order_relaxed))
        tap_offer(t, b);
}

/* Moves up to `cap` bytes of the NDJSON stream into dst, waiting up to wait_ms for some.
 * Returns the bytes written (0 when none came in time); *done is set once the limit's
 * events are all taken. */
size_t tap_take(sl_tap *t, char *dst, size_t cap, int wait_ms, bool *done);

#endif
