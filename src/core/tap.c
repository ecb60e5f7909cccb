/* tap.c - see tap.h for the states and the bounds. */
#include "tap.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "formats/json.h"

void tap_init(sl_tap *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
}

void tap_destroy(sl_tap *t)
{
    buf_free(&t->pending);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

int tap_attach(sl_tap *t, int rate, uint64_t limit)
{
    pthread_mutex_lock(&t->mu);
    int rc = SL_OK;
    if (atomic_load(&t->active)) {
        rc = SL_ERR_AGAIN;
    } else {
        buf_reset(&t->pending);
        t->skipped = 0;
        t->rate = rate > 0 ? rate : 1;
        t->window_ms = 0;
        t->window_n = 0;
        t->left = limit ? limit : UINT64_MAX;
        atomic_store(&t->active, 1);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

void tap_detach(sl_tap *t)
{
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->active, 0);
    buf_free(&t->pending);
    pthread_mutex_unlock(&t->mu);
}

void tap_offer(sl_tap *t, const sl_batch *b)
{
    int64_t now = sl_mono_ms();
    pthread_mutex_lock(&t->mu);
    if (!atomic_load(&t->active)) { /* detached since the caller looked */
        pthread_mutex_unlock(&t->mu);
        return;
    }
    size_t before = t->pending.len;
    for (uint32_t i = 0; i < b->n && t->left > 0; i++) {
        if (now - t->window_ms >= 1000) {
            t->window_ms = now;
            t->window_n = 0;
        }
        if (t->window_n >= t->rate || t->pending.len >= SL_TAP_MAX_PENDING) {
            t->skipped++;
            continue;
        }
        if (t->skipped) {
            buf_printf(&t->pending, "{\"tap_skipped\":%llu}\n", (unsigned long long)t->skipped);
            t->skipped = 0;
        }
        json_encode_event(&t->pending, &b->events[i]);
        buf_puts(&t->pending, "\n");
        t->window_n++;
        t->left--;
    }
    if (t->pending.len != before)
        pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

size_t tap_take(sl_tap *t, char *dst, size_t cap, int wait_ms, bool *done)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&t->mu);
    while (t->pending.len == 0 && t->left > 0)
        if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
            break;
    size_t take = t->pending.len < cap ? t->pending.len : cap;
    if (take) {
        memcpy(dst, t->pending.p, take);
        memmove(t->pending.p, t->pending.p + take, t->pending.len - take);
        t->pending.len -= take;
    }
    *done = t->left == 0 && t->pending.len == 0;
    pthread_mutex_unlock(&t->mu);
    return take;
}
