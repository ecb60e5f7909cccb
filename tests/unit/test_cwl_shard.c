/* test_cwl_shard.c - rendezvous assignment of log groups to the replicas of a sharded
 * cloudwatch_logs source: exactly one owner, balance, minimal movement when the count
 * changes, weights fixed across runs and machines, and the index from a pod name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sources/cloudwatch/cwl_shard.h"

#define NGROUPS 1000

static char names[NGROUPS][64];

static int setup(void **state)
{
    (void)state;
    static const char *const kinds[] = {"/aws/lambda/", "/aws/ecs/", "/ecs/prod/", "app-"};
    for (int i = 0; i < NGROUPS; i++)
        snprintf(names[i], sizeof names[i], "%sservice-%d", kinds[i % 4], i);
    return 0;
}

/* Every group is owned by exactly one of N shards: the replica asking "do I own it?" with
 * its own index agrees with the owner computed once; every shard gets a fair share. */
static void test_one_owner(void **state)
{
    (void)state;
    for (uint32_t n = 1; n <= 8; n++) {
        uint32_t per[8] = {0};
        for (int g = 0; g < NGROUPS; g++) {
            uint32_t owner = cwl_shard_owner(names[g], n), claims = 0;
            assert_true(owner < n);
            for (uint32_t i = 0; i < n; i++) { /* what replica i decides on its own */
                uint64_t mine = cwl_shard_weight(names[g], i);
                int wins = 1;
                for (uint32_t j = 0; j < n; j++) {
                    uint64_t other = cwl_shard_weight(names[g], j);
                    if (other > mine || (other == mine && j < i))
                        wins = 0;
                }
                claims += (uint32_t)wins;
                if (wins)
                    assert_int_equal(i, owner);
            }
            assert_int_equal(claims, 1);
            per[owner]++;
        }
        /* balance: each share within 35% of the mean (binomial spread at 1,000 groups is
         * well inside that; a broken mix puts most groups on one shard) */
        for (uint32_t i = 0; i < n; i++) {
            double mean = (double)NGROUPS / n;
            if (per[i] < mean * 0.65 || per[i] > mean * 1.35)
                fail_msg("N=%u: shard %u owns %u of %d groups", n, i, per[i], NGROUPS);
        }
    }
}

/* N -> N+1: a group either stays or moves to the new shard N; about 1/(N+1) move. Back
 * from N+1 to N: only shard N's groups move. */
static void test_minimal_movement(void **state)
{
    (void)state;
    for (uint32_t n = 1; n < 8; n++) {
        int moved = 0;
        for (int g = 0; g < NGROUPS; g++) {
            uint32_t a = cwl_shard_owner(names[g], n), b = cwl_shard_owner(names[g], n + 1);
            if (a != b) {
                assert_int_equal(b, n);
                moved++;
            }
        }
        double want = (double)NGROUPS / (n + 1);
        if (moved < want * 0.65 || moved > want * 1.35)
            fail_msg("%u -> %u shards moved %d of %d groups (about %.0f expected)", n, n + 1, moved,
                     NGROUPS, want);
    }
}

/* The weights are a fixed function of the name and index: pinned values, so a change of
 * the hash (which would move groups between replicas of different releases) fails here. */
static void test_stable(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint32_t index;
        uint64_t weight;
    } pinned[] = {
        {"/aws/lambda/checkout", 0, 0x684b8e50a3c3466dULL},
        {"/aws/lambda/checkout", 1, 0xe6f36613dd83e614ULL},
        {"app-service-7", 2, 0xadebde0bcb0a9c99ULL},
        {"", 0, 0x00b64dc769ab878dULL},
    };
    for (size_t i = 0; i < sizeof pinned / sizeof pinned[0]; i++)
        assert_true(cwl_shard_weight(pinned[i].name, pinned[i].index) == pinned[i].weight);
    static const uint32_t of3[8] = {2, 2, 1, 0, 1, 1, 1, 2}; /* g0..g7 over 3 shards */
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        assert_int_equal(cwl_shard_owner(name, 3), of3[i]);
    }
    for (int g = 0; g < NGROUPS; g++)
        assert_int_equal(cwl_shard_owner(names[g], 1), 0);
}

static void test_index(void **state)
{
    (void)state;
    int64_t v = -1;
    assert_int_equal(cwl_shard_index("2", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(cwl_shard_index("007", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(cwl_shard_index("sluice-puller-2", &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(cwl_shard_index("web-0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(cwl_shard_index("a-12", &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(cwl_shard_index("", &v), -1);
    assert_int_equal(cwl_shard_index("-1", &v), -1);
    assert_int_equal(cwl_shard_index("sluice-puller", &v), -1);
    assert_int_equal(cwl_shard_index("puller2", &v), -1);
    assert_int_equal(cwl_shard_index("puller-", &v), -1);
    assert_int_equal(cwl_shard_index("1234567890", &v), -1);
    assert_int_equal(cwl_shard_index("x-2a", &v), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_owner),
        cmocka_unit_test(test_minimal_movement),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_index),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
