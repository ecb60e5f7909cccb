/* test_acks.c - the ordered ack ledger and batch reference counting that drives it. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/acks.h"
#include "core/event.h"

typedef struct seen {
    uint64_t keys[4096], values[4096];
    size_t n;
} seen;

static void record(void *arg, uint64_t key, uint64_t value)
{
    seen *s = arg;
    s->keys[s->n] = key;
    s->values[s->n] = value;
    s->n++;
}

static void test_commits_only_the_done_prefix(void **state)
{
    sl_ack_ledger *l = ack_ledger_new();
    sl_ack_token *t[5];
    for (int i = 0; i < 5; i++)
        t[i] = ack_token_open(l, 7, (uint64_t)(i + 1) * 100);
    seen s = {0};
    ack_token_release(t[1]);
    ack_token_release(t[2]);
    assert_int_equal(ack_ledger_collect(l, record, &s), 0); /* t[0] still out */
    ack_token_release(t[0]);
    assert_int_equal(ack_ledger_collect(l, record, &s), 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.values[0], 100);
    assert_int_equal(s.values[2], 300);
    assert_int_equal(ack_ledger_pending(l), 2);
    ack_token_release(t[4]);
    assert_int_equal(ack_ledger_collect(l, record, &s), 0);
    ack_token_release(t[3]);
    assert_int_equal(ack_ledger_collect(l, record, &s), 2);
    assert_int_equal(s.values[4], 500);
    assert_int_equal(ack_ledger_pending(l), 0);
    ack_ledger_free(l);
}

static void test_shared_token_needs_every_reference(void **state)
{
    sl_ack_ledger *l = ack_ledger_new();
    sl_ack_token *t = ack_token_open(l, 1, 10);
    ack_token_retain(t);
    ack_token_release(t);
    seen s = {0};
    assert_int_equal(ack_ledger_collect(l, record, &s), 0);
    ack_token_release(t);
    assert_int_equal(ack_ledger_collect(l, record, &s), 1);
    ack_ledger_free(l);
}

static void test_abandoned_token_blocks_commits(void **state)
{
    sl_ack_ledger *l = ack_ledger_new();
    sl_ack_token *a = ack_token_open(l, 1, 10);
    sl_ack_token *b = ack_token_open(l, 1, 20);
    ack_token_abandon(a);
    ack_token_release(b);
    seen s = {0};
    assert_int_equal(ack_ledger_collect(l, record, &s), 0);
    assert_int_equal(ack_ledger_pending(l), 2);
    ack_ledger_free(l);
}

static void test_batch_release_acks_and_abandon_does_not(void **state)
{
    sl_ack_ledger *l = ack_ledger_new();
    seen s = {0};
    sl_batch *b = batch_new(4);
    b->ack = ack_token_open(l, 3, 33);
    batch_retain(b);  /* a sink's reference */
    sl_batch *c = batch_clone(b); /* a transform branch shares the token */
    batch_release(b);
    batch_release(b);
    assert_int_equal(ack_ledger_collect(l, record, &s), 0); /* the clone still holds it */
    batch_release(c);
    assert_int_equal(ack_ledger_collect(l, record, &s), 1);
    assert_int_equal(s.values[0], 33);

    sl_batch *d = batch_new(4);
    d->ack = ack_token_open(l, 3, 44);
    batch_retain(d);
    batch_abandon(d);  /* one holder could not deliver */
    batch_release(d);
    assert_int_equal(ack_ledger_collect(l, record, &s), 0);
    assert_int_equal(ack_ledger_pending(l), 1);
    ack_ledger_free(l);
}

typedef struct releaser {
    sl_ack_token **tokens;
    int from, to;
} releaser;

static void *release_range(void *arg)
{
    releaser *r = arg;
    for (int i = r->from; i < r->to; i++)
        ack_token_release(r->tokens[i]);
    return NULL;
}

static void test_concurrent_release_in_order_commit(void **state)
{
    enum { N = 4000 };
    sl_ack_ledger *l = ack_ledger_new();
    sl_ack_token **t = malloc(sizeof *t * N);
    for (int i = 0; i < N; i++)
        t[i] = ack_token_open(l, 0, (uint64_t)i);
    pthread_t th[4];
    releaser r[4];
    for (int k = 0; k < 4; k++) {
        /* Each thread releases an interleaved quarter, so completion is out of order. */
        r[k] = (releaser){t, k * (N / 4), (k + 1) * (N / 4)};
        pthread_create(&th[k], NULL, release_range, &r[k]);
    }
    static seen s;
    s.n = 0;
    for (int k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
    assert_int_equal(ack_ledger_collect(l, record, &s), N);
    for (int i = 0; i < N; i++)
        assert_int_equal(s.values[i], (uint64_t)i);
    free(t);
    ack_ledger_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_commits_only_the_done_prefix),
        cmocka_unit_test(test_shared_token_needs_every_reference),
        cmocka_unit_test(test_abandoned_token_blocks_commits),
        cmocka_unit_test(test_batch_release_acks_and_abandon_does_not),
        cmocka_unit_test(test_concurrent_release_in_order_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
