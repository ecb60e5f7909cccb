/* test_cwl_bucket.c - the shared CloudWatch token buckets: keys per account and region,
 * sharing and the smallest rate, refcounted frees, level math on an injected clock. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sources/cloudwatch/cwl_bucket.h"

static void creds(cwl_creds *c, const char *from, const char *ak)
{
    memset(c, 0, sizeof *c);
    c->from = from;
    snprintf(c->access_key, sizeof c->access_key, "%s", ak);
}

static void test_key(void **state)
{
    (void)state;
    cwl_creds a, a2, b, i1, i2, e1, w1, w2;
    char ka[256], ka2[256], kb[256], ki1[256], ki2[256], ke[256], kr[256], ku[256];
    char kw1[256], kw2[256];
    creds(&a, "env", "AKIDA");
    creds(&a2, "file", "AKIDA"); /* the same key from another provider: the same account */
    creds(&b, "env", "AKIDB");
    creds(&i1, "imds", "ASIA1"); /* instance role: the key id rotates */
    creds(&i2, "imds", "ASIA2");
    creds(&e1, "ecs", "ASIA1");
    creds(&w1, "web_identity", "ASIA3"); /* IRSA: a new key id at every refresh */
    creds(&w2, "web_identity", "ASIA4");
    cwl_bucket_key(ka, sizeof ka, "us-east-1", "https://logs", &a);
    cwl_bucket_key(ka2, sizeof ka2, "us-east-1", "https://logs", &a2);
    cwl_bucket_key(kb, sizeof kb, "us-east-1", "https://logs", &b);
    cwl_bucket_key(ki1, sizeof ki1, "us-east-1", "https://logs", &i1);
    cwl_bucket_key(ki2, sizeof ki2, "us-east-1", "https://logs", &i2);
    cwl_bucket_key(ke, sizeof ke, "us-east-1", "https://logs", &e1);
    cwl_bucket_key(kw1, sizeof kw1, "us-east-1", "https://logs", &w1);
    cwl_bucket_key(kw2, sizeof kw2, "us-east-1", "https://logs", &w2);
    cwl_bucket_key(kr, sizeof kr, "eu-west-1", "https://logs", &a);
    cwl_bucket_key(ku, sizeof ku, "us-east-1", "http://other", &a);
    assert_string_equal(ka, ka2);
    assert_string_not_equal(ka, kb);
    assert_string_equal(ki1, ki2);
    assert_string_not_equal(ki1, ke);
    assert_string_equal(kw1, kw2);
    assert_string_not_equal(kw1, ki1);
    assert_string_not_equal(ka, kr);
    assert_string_not_equal(ka, ku);
    assert_null(strstr(ka, "secret"));
    /* truncation stays in bounds */
    char small[8];
    assert_int_equal(cwl_bucket_key(small, sizeof small, "us-east-1", "https://logs", &a), 7);
    assert_int_equal(strlen(small), 7);
}

static void test_sharing(void **state)
{
    (void)state;
    size_t base = cwl_bucket_count();
    uint32_t n = 0;
    cwl_bucket *a = cwl_bucket_get("k1", "src_a", 5, 1000, &n);
    assert_int_equal(n, 1);
    assert_int_equal(cwl_bucket_rate(a), 5);
    cwl_bucket *b = cwl_bucket_get("k1", "src_b", 3, 1000, &n);
    assert_ptr_equal(a, b);
    assert_int_equal(n, 2);
    assert_int_equal(cwl_bucket_rate(a), 3); /* the smallest limit */
    cwl_bucket *c = cwl_bucket_get("k2", "src_c", 7, 1000, NULL);
    assert_ptr_not_equal(a, c);
    assert_int_equal(cwl_bucket_rate(c), 7);
    assert_int_equal(cwl_bucket_count(), base + 2);
    cwl_bucket_put(b, "src_b"); /* the 3/s member leaves: back to 5 */
    assert_int_equal(cwl_bucket_sharers(a), 1);
    assert_int_equal(cwl_bucket_rate(a), 5);
    assert_int_equal(cwl_bucket_count(), base + 2);
    cwl_bucket_put(a, "src_a"); /* the last reference frees it (ASan sees any leak) */
    assert_int_equal(cwl_bucket_count(), base + 1);
    cwl_bucket *a2 = cwl_bucket_get("k1", "src_a", 5, 1000, &n);
    assert_int_equal(n, 1);
    cwl_bucket_put(a2, "src_a");
    cwl_bucket_put(c, "src_c");
    cwl_bucket_put(NULL, "x");
    assert_int_equal(cwl_bucket_count(), base);
}

static void test_level(void **state)
{
    (void)state;
    cwl_bucket *b = cwl_bucket_get("lvl", "s", 4, 10000, NULL);
    /* one token at start */
    assert_true(cwl_bucket_level(b, 10000) == 1.0);
    assert_int_equal(cwl_bucket_try(b, "s", 1.0, 10000), 0);
    assert_true(cwl_bucket_level(b, 10000) == 0.0);
    /* 4/s: the next token in 250 ms; nothing is taken while waiting */
    assert_int_equal(cwl_bucket_try(b, "s", 1.0, 10000), 250);
    assert_int_equal(cwl_bucket_wait_ms(b, 1.0, 10000), 250);
    assert_int_equal(cwl_bucket_try(b, "s", 1.0, 10100), 150);
    assert_int_equal(cwl_bucket_try(b, "s", 1.0, 10250), 0);
    /* a clock that goes back adds nothing */
    assert_true(cwl_bucket_level(b, 9000) == 0.0);
    /* capacity is one second of the rate */
    assert_true(cwl_bucket_level(b, 60000) == 4.0);
    /* a reserve above capacity is clamped (never unreachable) */
    assert_int_equal(cwl_bucket_try(b, "s", 9.0, 60000), 0);
    assert_true(cwl_bucket_level(b, 60000) == 3.0);
    /* reserve 2 with one token: wait for one more */
    cwl_bucket_take(b, 60000);
    cwl_bucket_take(b, 60000);
    assert_int_equal(cwl_bucket_try(b, "s", 2.0, 60000), 250);
    assert_int_equal(cwl_bucket_try(b, "s", 1.0, 60000), 0);
    /* debt: take overdraws, and everyone waits until it is repaid */
    cwl_bucket_take(b, 60000);
    cwl_bucket_take(b, 60000);
    assert_true(cwl_bucket_level(b, 60000) == -2.0);
    assert_int_equal(cwl_bucket_wait_ms(b, 1.0, 60000), 750);
    assert_int_equal(cwl_bucket_wait_ms(b, 1.0, 60750), 0);
    /* a sharer with a lower rate lowers the capacity at once */
    cwl_bucket *b2 = cwl_bucket_get("lvl", "t", 2, 70000, NULL);
    assert_true(cwl_bucket_level(b, 70000) == 2.0);
    assert_int_equal(cwl_bucket_try(b2, "t", 3.0, 70000), 0); /* clamped to 2 */
    assert_int_equal(cwl_bucket_try(b, "s", 2.0, 70000), 500);
    cwl_bucket_put(b2, "t");
    cwl_bucket_put(b, "s");
}

/* A sharer refused first gets the next token, unless the other's request is of a higher
 * priority (a smaller reserve); a claimant that does not come back loses its claim. */
static void test_fair(void **state)
{
    (void)state;
    cwl_bucket *b = cwl_bucket_get("fair", "x", 4, 0, NULL);
    (void)cwl_bucket_get("fair", "y", 4, 0, NULL);
    assert_int_equal(cwl_bucket_try(b, "x", 1.0, 0), 0);
    assert_int_equal(cwl_bucket_try(b, "y", 1.0, 0), 250); /* y claims the next token */
    /* x comes back first (its wait was shorter): held back briefly, y gets it */
    assert_true(cwl_bucket_try(b, "x", 1.0, 250) > 0);
    assert_int_equal(cwl_bucket_try(b, "y", 1.0, 260), 0);
    /* a backfill's claim (reserve 2) never holds back a live tail (reserve 1) */
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 260), 490); /* level 0.04 */
    assert_int_equal(cwl_bucket_try(b, "x", 1.0, 600), 0);
    /* but it does hold back the other's backfill */
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 790), 210); /* level 1.16 */
    assert_true(cwl_bucket_try(b, "x", 2.0, 1010) > 0);
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 1020), 0);
    /* a claimant that does not come back loses its claim */
    assert_int_equal(cwl_bucket_try(b, "y", 3.0, 1020), 480);
    assert_int_equal(cwl_bucket_try(b, "x", 3.0, 5000), 0);
    /* a member that leaves takes its claim with it */
    assert_true(cwl_bucket_try(b, "y", 4.0, 5000) > 0);
    cwl_bucket_put(b, "y");
    assert_int_equal(cwl_bucket_try(b, "x", 3.0, 5010), 0);
    cwl_bucket_put(b, "x");
}

/* Turns: the member that just got its token and asks again at once goes behind a sharer
 * refused before it, so two busy backfills alternate instead of one keeping the bucket. */
static void test_turns(void **state)
{
    (void)state;
    cwl_bucket *b = cwl_bucket_get("turns", "x", 4, 0, NULL);
    (void)cwl_bucket_get("turns", "y", 4, 0, NULL);
    assert_int_equal(cwl_bucket_try(b, "x", 2.0, 0), 250);  /* level 1: x waits first */
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 10), 240); /* then y */
    assert_int_equal(cwl_bucket_try(b, "x", 2.0, 250), 0);
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 251), 249); /* y still waits, since 10 */
    /* x's next request at once: refused, and now behind y */
    assert_int_equal(cwl_bucket_try(b, "x", 2.0, 252), 248);
    /* x wakes first (its wait was shorter): held back, y gets the token */
    assert_true(cwl_bucket_try(b, "x", 2.0, 500) > 0);
    assert_int_equal(cwl_bucket_try(b, "y", 2.0, 505), 0);
    /* Both busy for 10 s: each sends its next request 2 ms after a token and retries when
     * told; the tokens alternate. */
    const char *who[2] = {"x", "y"};
    int64_t at[2] = {550, 507};
    int got[2] = {0, 0};
    for (int64_t t = 550; t < 10550; t++)
        for (int k = 0; k < 2; k++)
            if (at[k] <= t) {
                int64_t w = cwl_bucket_try(b, who[k], 2.0, t);
                if (w == 0)
                    got[k]++;
                at[k] = t + (w ? w : 2);
            }
    assert_true(got[0] + got[1] >= 38);
    assert_true(got[0] - got[1] <= 1 && got[1] - got[0] <= 1);
    cwl_bucket_put(b, "y");
    cwl_bucket_put(b, "x");
}

/* Sharers race for tokens on a frozen clock: exactly the bucket's level is handed out. */
static cwl_bucket *race_b;
static int race_got[4];

static void *racer(void *arg)
{
    int *got = arg;
    for (int i = 0; i < 20000; i++)
        if (cwl_bucket_try(race_b, "r", 1.0, 5000) == 0)
            (*got)++;
    return NULL;
}

static void test_race(void **state)
{
    (void)state;
    race_b = cwl_bucket_get("race", "r", 8, 1000, NULL);
    (void)cwl_bucket_level(race_b, 5000); /* full: 8 tokens */
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, racer, &race_got[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(race_got[0] + race_got[1] + race_got[2] + race_got[3], 8);
    cwl_bucket_put(race_b, "r");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_sharing),
        cmocka_unit_test(test_level),
        cmocka_unit_test(test_fair),
        cmocka_unit_test(test_turns),
        cmocka_unit_test(test_race),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
