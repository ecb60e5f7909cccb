/* test_reread.c - re-read requests between a sink's repair and a source: the retention
 * rule's arithmetic and the request's state machine (core/reread.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/reread.h"

#define H 3600000LL
#define D 86400000LL

static void test_floor(void **state)
{
    (void)state;
    int64_t now = 100 * D + 30 * 60000; /* 00:30 on day 100 */
    /* never expires: no floor */
    assert_true(reread_floor(now, 0, SL_REREAD_MARGIN_MS, H) == INT64_MIN);
    /* 14 days: now - 14 d + 1 h margin, rounded up to the hour grid */
    assert_true(reread_floor(now, 14, SL_REREAD_MARGIN_MS, H) == 86 * D + 2 * H);
    /* already on the grid: stays */
    assert_true(reread_floor(100 * D, 3, H, H) == 97 * D + H);
    /* six-hour windows */
    assert_true(reread_floor(now, 3, H, 6 * H) == 97 * D + 6 * H);
    /* no grid */
    assert_true(reread_floor(now, 1, H, 0) == 99 * D + 90 * 60000);
    /* before the epoch (a test clock): rounds up too */
    assert_true(reread_floor(0, 1, 0, H) == -D);
    assert_true(reread_floor(-H / 2, 0 + 1, 0, H) == -D);
}

static void test_clip(void **state)
{
    (void)state;
    sl_reread_plan p;
    reread_clip(10 * D, 20 * D, 15 * D, &p); /* the older part is left to the copy */
    assert_true(p.from == 15 * D && p.to == 20 * D);
    reread_clip(10 * D, 20 * D, INT64_MIN, &p); /* never expires: all of it */
    assert_true(p.from == 10 * D && p.to == 20 * D);
    reread_clip(10 * D, 20 * D, 25 * D, &p); /* all of it expired: nothing */
    assert_true(p.from == p.to && p.to == 20 * D);
    reread_clip(10 * D, 20 * D, 20 * D, &p);
    assert_true(p.from == p.to);
}

typedef struct seen {
    char groups[512];
} seen;

static void on_group(void *arg, const char *group, const sl_reread_field *f, size_t n)
{
    seen *s = arg;
    size_t l = strlen(s->groups);
    snprintf(s->groups + l, sizeof s->groups - l, "%s[%zu:%s=%s];", group, n, n ? f[0].key : "",
             n ? f[0].value : "");
}

static void test_requests(void **state)
{
    (void)state;
    size_t base = reread_count();
    /* nobody serves /g: nothing posted */
    assert_int_equal(reread_post("/g", 0, 10, false), 0);
    sl_reread_field f[2] = {{"cloudwatch.log_group", "/g"}, {"cloudwatch.log_group_slug", "g"}};
    reread_serve("src@1", "/g", f, 2);
    reread_serve("src@1", "/g", f, 1); /* updated, not doubled */
    seen sn = {""};
    reread_each_group(on_group, &sn);
    assert_string_equal(sn.groups, "/g[1:cloudwatch.log_group=/g];");
    uint64_t gen = reread_generation();
    uint64_t id = reread_post("/g", 5 * D, 9 * D, false);
    assert_true(id != 0);
    assert_true(reread_generation() != gen);
    assert_int_equal(reread_count(), base + 1);
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_POSTED);
    /* another reader does not serve /g */
    char g[64];
    int64_t from, to;
    bool dry;
    assert_int_equal(reread_claim("other@2", g, sizeof g, &from, &to, &dry), 0);
    assert_true(reread_claim("src@1", g, sizeof g, &from, &to, &dry) == id);
    assert_string_equal(g, "/g");
    assert_true(from == 5 * D && to == 9 * D && !dry);
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_CLAIMED);
    assert_int_equal(reread_claim("src@1", g, sizeof g, &from, &to, &dry), 0); /* once */
    /* finish before planned is ignored for ok */
    reread_finish(id, true);
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_CLAIMED);
    sl_reread_plan p = {.from = 6 * D, .to = 9 * D, .retention_days = 4, .windows = 72};
    reread_planned(id, &p);
    sl_reread_plan q;
    assert_int_equal(reread_poll(id, &q), SL_REREAD_PLANNED);
    assert_true(q.from == 6 * D && q.windows == 72 && q.retention_days == 4);
    reread_finish(id, true);
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_DONE);
    reread_finish(id, false); /* done stays done */
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_DONE);
    reread_forget(id);
    assert_int_equal(reread_poll(id, NULL), SL_REREAD_GONE);
    reread_finish(id, true); /* a report on a forgotten request: ignored */
    assert_int_equal(reread_count(), base);

    /* dry: planned is done; nothing left inside the retention: done too */
    uint64_t d1 = reread_post("/g", 0, D, true);
    uint64_t d2 = reread_post("/g", 0, D, false);
    assert_true(reread_claim("src@1", g, sizeof g, &from, &to, &dry) == d1 && dry);
    assert_true(reread_claim("src@1", g, sizeof g, &from, &to, &dry) == d2 && !dry);
    sl_reread_plan some = {.from = 0, .to = D, .windows = 24};
    reread_planned(d1, &some);
    assert_int_equal(reread_poll(d1, NULL), SL_REREAD_DONE);
    sl_reread_plan none = {.from = D, .to = D, .windows = 0};
    reread_planned(d2, &none);
    assert_int_equal(reread_poll(d2, NULL), SL_REREAD_DONE);
    reread_forget(d1);
    reread_forget(d2);

    /* the reader stops: its open requests fail, its groups are no longer served */
    uint64_t a = reread_post("/g", 0, D, false), b = reread_post("/g", D, 2 * D, false);
    assert_true(reread_claim("src@1", g, sizeof g, &from, &to, &dry) == a);
    reread_unserve("src@1");
    assert_int_equal(reread_poll(a, NULL), SL_REREAD_FAILED);
    assert_int_equal(reread_poll(b, NULL), SL_REREAD_POSTED); /* unclaimed: the poster's call */
    assert_int_equal(reread_post("/g", 0, D, false), 0);
    sn.groups[0] = '\0';
    reread_each_group(on_group, &sn);
    assert_string_equal(sn.groups, "");
    reread_forget(a);
    reread_forget(b);
    assert_int_equal(reread_count(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_floor),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
