/* test_batch_ctl.c - the adaptive batch size controller as a pure function: sequences of
 * latencies, 429s and 413s against model peers; the target stays within its bounds,
 * reacts once per burst, converges below a peer's size limit and grows back afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/batch_ctl.h"

#define EV_BYTES 100 /* payload bytes per event in the model peers */

static void in_bounds(const sl_batch_ctl *c)
{
    assert_true(c->events >= c->min_events && c->events <= c->max_events);
    assert_true(c->bytes >= c->min_bytes && c->bytes <= c->max_bytes);
    assert_true(c->min_events >= 1 && c->min_bytes >= 1);
}

/* A full request at the current target, as a worker under load cuts it. */
static sl_batch_obs full(const sl_batch_ctl *c, sl_bc_outcome out, double ms)
{
    uint32_t n = c->events;
    if ((uint64_t)n * EV_BYTES > c->bytes)
        n = (uint32_t)(c->bytes / EV_BYTES);
    if (n == 0)
        n = 1;
    return (sl_batch_obs){.gen = c->gen, .outcome = out, .ms = ms, .events = n,
                          .bytes = (uint64_t)n * EV_BYTES};
}

/* A peer whose latency is linear in the request's size: 2 ms + 10 us per event. */
static double linear_ms(uint32_t n)
{
    return 2.0 + 0.01 * n;
}

static void test_starts_at_ceiling(void **state)
{
    (void)state;
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    assert_int_equal(c.events, 1000);
    assert_int_equal(c.bytes, 1 << 20);
    assert_int_equal(c.min_events, 1000 / SL_BC_FLOOR_DIV);
    assert_int_equal(c.min_bytes, (1 << 20) / SL_BC_FLOOR_DIV);
    in_bounds(&c);
    /* tiny ceilings keep a floor of one */
    batch_ctl_init(&c, 1, 1);
    assert_int_equal(c.min_events, 1);
    assert_int_equal(c.min_bytes, 1);
    for (int i = 0; i < 10; i++) {
        sl_batch_obs o = full(&c, SL_BC_THROTTLED, 5);
        batch_ctl_observe(&c, &o);
        in_bounds(&c);
    }
    /* a quick peer never pushing back: the target stays at the ceiling */
    batch_ctl_init(&c, 1000, 1 << 20);
    for (int i = 0; i < 500; i++) {
        sl_batch_obs o = full(&c, SL_BC_OK, linear_ms(c.events));
        assert_false(batch_ctl_observe(&c, &o));
    }
    assert_int_equal(c.events, 1000);
}

static void test_burst_halves_once(void **state)
{
    (void)state;
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    /* eight requests cut together all answered 429: one halving */
    sl_batch_obs o = full(&c, SL_BC_THROTTLED, 3);
    for (int i = 0; i < 8; i++)
        batch_ctl_observe(&c, &o);
    assert_int_equal(c.events, 500);
    assert_int_equal(c.bytes, (1 << 20) / 2);
    /* quick answers to requests cut before the change do not count towards growth */
    sl_batch_obs old = o;
    old.outcome = SL_BC_OK;
    for (int i = 0; i < 20; i++)
        assert_false(batch_ctl_observe(&c, &old));
    assert_int_equal(c.events, 500);
    /* other transient failures say nothing about the size */
    sl_batch_obs f = full(&c, SL_BC_FAILED, 30000);
    for (int i = 0; i < 20; i++)
        assert_false(batch_ctl_observe(&c, &f));
    assert_int_equal(c.events, 500);
}

static void test_sustained_429_floor_and_regrowth(void **state)
{
    (void)state;
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    for (int i = 0; i < 100; i++) {
        sl_batch_obs o = full(&c, SL_BC_THROTTLED, 3);
        batch_ctl_observe(&c, &o);
        in_bounds(&c);
    }
    assert_int_equal(c.events, c.min_events);
    assert_int_equal(c.bytes, c.min_bytes);
    /* the push-back ends: full quick requests take it back to the ceiling */
    int n = 0;
    while (c.events < c.max_events && n < 1000) {
        sl_batch_obs o = full(&c, SL_BC_OK, linear_ms(c.events));
        batch_ctl_observe(&c, &o);
        in_bounds(&c);
        n++;
    }
    assert_int_equal(c.events, c.max_events);
    assert_true(n < 300); /* from max/32 by 1/8 per 4 requests: about 4 * 30 */
    /* requests smaller than the target (a trickle) do not move it */
    batch_ctl_init(&c, 1000, 1 << 20);
    sl_batch_obs o = full(&c, SL_BC_THROTTLED, 3);
    batch_ctl_observe(&c, &o);
    uint32_t t = c.events;
    for (int i = 0; i < 100; i++) {
        sl_batch_obs s = {.gen = c.gen, .outcome = SL_BC_OK, .ms = 1, .events = 3,
                          .bytes = 3 * EV_BYTES};
        assert_false(batch_ctl_observe(&c, &s));
    }
    assert_int_equal(c.events, t);
}

/* A peer refusing bodies above `limit` bytes (413): the target ends below it and stays
 * near it, a 413 at most every SL_BC_GROW_STREAK + 1 requests once converged. */
static void test_413_converges_below_limit(void **state)
{
    (void)state;
    const uint64_t limit = 30000; /* 300 events of EV_BYTES */
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    int refused = 0, late_refused = 0;
    uint64_t late_sum = 0;
    const int N = 2000;
    for (int i = 0; i < N; i++) {
        sl_batch_obs o = full(&c, SL_BC_OK, 0);
        bool big = o.bytes > limit;
        o.outcome = big ? SL_BC_TOO_LARGE : SL_BC_OK;
        o.ms = big ? 1 : linear_ms(o.events);
        batch_ctl_observe(&c, &o);
        in_bounds(&c);
        refused += big;
        if (i >= N / 2) {
            late_refused += big;
            late_sum += o.bytes;
        }
        if (big)
            assert_true(c.bytes <= o.bytes / 2 || c.bytes == c.min_bytes);
    }
    assert_true(refused > 0);
    assert_true(late_refused * (SL_BC_GROW_STREAK + 1) <= N / 2 + SL_BC_GROW_STREAK);
    /* the sawtooth stays between a quarter of the limit and the limit */
    uint64_t avg = late_sum / (uint64_t)(N / 2);
    assert_true(avg >= limit / 4 && avg <= limit);
}

/* A peer that slows down sharply once bodies pass a size: the target is halved by the
 * slow answers and spends most of its time below that size. */
static void test_slow_big_bodies(void **state)
{
    (void)state;
    const uint32_t knee = 400;
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    /* first the target is halved (429s) to below the knee, and the peer is quick */
    while (c.events >= knee / 2) {
        sl_batch_obs o = full(&c, SL_BC_THROTTLED, 3);
        batch_ctl_observe(&c, &o);
    }
    int slow = 0, late_slow = 0;
    const int N = 3000;
    for (int i = 0; i < N; i++) {
        sl_batch_obs o = full(&c, SL_BC_OK, 0);
        bool over = o.events > knee;
        o.ms = linear_ms(o.events) + (over ? 500.0 : 0.0);
        batch_ctl_observe(&c, &o);
        in_bounds(&c);
        slow += over;
        if (i >= N / 2)
            late_slow += over;
    }
    assert_true(slow > 0);                   /* it did probe past the knee */
    assert_true(late_slow * 4 <= N / 2);     /* and stays below it most of the time */
}

/* A 413 from a request cut under an older, larger target still bounds the target. */
static void test_413_any_gen(void **state)
{
    (void)state;
    sl_batch_ctl c;
    batch_ctl_init(&c, 1000, 1 << 20);
    sl_batch_obs old = full(&c, SL_BC_OK, 3);
    sl_batch_obs t = full(&c, SL_BC_THROTTLED, 3);
    batch_ctl_observe(&c, &t); /* 500 */
    old.outcome = SL_BC_TOO_LARGE;
    old.events = 900;
    old.bytes = 90000;
    assert_true(batch_ctl_observe(&c, &old));
    assert_int_equal(c.events, 450);
    assert_int_equal(c.bytes, 45000);
    /* a refused request smaller than the floor leaves it at the floor */
    old.events = 2;
    old.bytes = 200;
    batch_ctl_observe(&c, &old);
    assert_int_equal(c.events, c.min_events);
    assert_int_equal(c.bytes, c.min_bytes);
    in_bounds(&c);
}

/* Random outcomes and latencies: the invariants hold whatever the sequence. */
static void test_random_sequences(void **state)
{
    (void)state;
    unsigned seed = 12345;
    for (int run = 0; run < 50; run++) {
        sl_batch_ctl c;
        uint32_t maxe = 1 + (uint32_t)(rand_r(&seed) % 5000);
        uint64_t maxb = 1 + (uint64_t)(rand_r(&seed) % (8 << 20));
        batch_ctl_init(&c, maxe, maxb);
        for (int i = 0; i < 2000; i++) {
            sl_batch_obs o = {
                .gen = c.gen - (uint32_t)(rand_r(&seed) % 3 == 0),
                .outcome = (sl_bc_outcome)(rand_r(&seed) % 4),
                .ms = (double)(rand_r(&seed) % 3000) / 3.0,
                .events = (uint32_t)(rand_r(&seed) % (maxe + 1)),
                .bytes = (uint64_t)rand_r(&seed) % (maxb + 1),
            };
            uint32_t g = c.gen;
            bool changed = batch_ctl_observe(&c, &o);
            in_bounds(&c);
            assert_true(changed == (c.gen != g));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_ceiling),
        cmocka_unit_test(test_burst_halves_once),
        cmocka_unit_test(test_sustained_429_floor_and_regrowth),
        cmocka_unit_test(test_413_converges_below_limit),
        cmocka_unit_test(test_slow_big_bodies),
        cmocka_unit_test(test_413_any_gen),
        cmocka_unit_test(test_random_sequences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
