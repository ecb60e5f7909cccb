/* batch_ctl.c - adaptive batch size: multiplicative decrease on push-back, growth by 1/8
 * while full requests stay quick. See batch_ctl.h for the rules and invariants.
 *
 * Why per-event cost: a bigger request takes longer by itself, so a rising latency alone
 * cannot tell a bigger batch from a struggling peer. Microseconds per event fall as
 * batches grow while the peer keeps up (the per-request overhead is shared by more
 * events) and rise once it does not, so growth stops there; a request several times
 * costlier per event than usual, and much slower in absolute terms, is the peer pushing
 * back without saying so. */
#include "batch_ctl.h"

#include "common.h"

static uint32_t clamp_ev(const sl_batch_ctl *c, uint64_t v)
{
    return (uint32_t)SL_MAX((uint64_t)c->min_events, SL_MIN((uint64_t)c->max_events, v));
}

static uint64_t clamp_b(const sl_batch_ctl *c, uint64_t v)
{
    return SL_MAX(c->min_bytes, SL_MIN(c->max_bytes, v));
}

void batch_ctl_init(sl_batch_ctl *c, uint32_t max_events, uint64_t max_bytes)
{
    *c = (sl_batch_ctl){0};
    c->max_events = max_events ? max_events : 1;
    c->max_bytes = max_bytes ? max_bytes : 1;
    c->min_events = SL_MAX(1u, c->max_events / SL_BC_FLOOR_DIV);
    c->min_bytes = SL_MAX((uint64_t)1, c->max_bytes / SL_BC_FLOOR_DIV);
    c->events = c->max_events;
    c->bytes = c->max_bytes;
}

static bool set_target(sl_batch_ctl *c, uint64_t ev, uint64_t b)
{
    uint32_t ne = clamp_ev(c, ev);
    uint64_t nb = clamp_b(c, b);
    c->streak = 0;
    if (ne == c->events && nb == c->bytes)
        return false;
    c->events = ne;
    c->bytes = nb;
    c->gen++;
    return true;
}

bool batch_ctl_observe(sl_batch_ctl *c, const sl_batch_obs *o)
{
    if (o->outcome == SL_BC_TOO_LARGE) {
        /* The peer said how big is too big: at most half of that, whenever it was cut. */
        uint64_t ev = SL_MIN((uint64_t)c->events, (uint64_t)(o->events / 2));
        uint64_t b = SL_MIN(c->bytes, o->bytes / 2);
        return set_target(c, ev, b);
    }
    if (o->gen != c->gen || o->outcome == SL_BC_FAILED)
        return false;
    if (o->outcome == SL_BC_THROTTLED)
        return set_target(c, c->events / 2, c->bytes / 2);
    if (o->events == 0)
        return false;
    bool full = (uint64_t)o->events * 4 >= (uint64_t)c->events * 3 ||
                o->bytes * 4 >= c->bytes * 3;
    if (!full)
        return false;
    double ms = o->ms > 0 ? o->ms : 0;
    double cost = ms * 1000.0 / (double)o->events;
    bool slow = c->cost_us > 0 && cost > 3.0 * c->cost_us && ms > 3.0 * c->avg_ms + 50.0;
    bool rising = c->cost_us > 0 && cost > 1.5 * c->cost_us;
    c->cost_us = c->cost_us > 0 ? c->cost_us * 0.8 + cost * 0.2 : cost;
    c->avg_ms = c->avg_ms > 0 ? c->avg_ms * 0.8 + ms * 0.2 : ms;
    if (slow)
        return set_target(c, c->events / 2, c->bytes / 2);
    if (rising) {
        c->streak = 0;
        return false;
    }
    if (++c->streak < SL_BC_GROW_STREAK)
        return false;
    if (c->events == c->max_events && c->bytes == c->max_bytes) {
        c->streak = 0;
        return false;
    }
    return set_target(c, (uint64_t)c->events + SL_MAX(1u, c->events / 8),
                      c->bytes + SL_MAX((uint64_t)1, c->bytes / 8));
}
