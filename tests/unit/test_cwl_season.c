/* test_cwl_season.c - the seasonal volume model: a weekly pattern learned, a quiet night
 * plausible and a missing busy hour not, a regime change learned without lasting alarms,
 * each window learned once in any order, the file's round trip and corrupt files. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/crc32c.h"
#include "sources/cloudwatch/cwl_season.h"

#define H 3600000LL
#define WEEK CWL_SEASON_WEEK_MS
/* a Monday 00:00 UTC: 2025-12-01 */
#define T0 1764547200000LL

static const cwl_season_cfg CFG = {.window_ms = H, .min_history = 3, .half_life_weeks = 4,
                                   .threshold = 0.001, .change_z = 4, .change_runs = 2};

static uint64_t rng = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A service's weekly pattern: weekdays 08-20 UTC busy, nights and weekends nearly idle. */
static uint64_t traffic(int64_t start)
{
    int64_t day = (start - T0) / 86400000 % 7, hour = start % 86400000 / H;
    if (day < 5 && hour >= 8 && hour < 20)
        return 1200 - 90 + rnd() % 181;
    return rnd() % 4 == 0 ? 1 : 0;
}

static void learn_weeks(cwl_season *m, int64_t from, int weeks)
{
    for (int64_t t = from; t < from + weeks * WEEK; t += H)
        assert_true(cwl_season_learn(m, &CFG, t, t + H, traffic(t)));
}

static void test_weekly_pattern(void **state)
{
    (void)state;
    cwl_season *m = calloc(1, sizeof *m);
    learn_weeks(m, T0, 2);
    int64_t busy = T0 + 2 * WEEK + 10 * H, night = T0 + 2 * WEEK + 3 * H; /* Monday */
    /* two weeks are not enough history: unknown, the caller does what it did without one */
    assert_int_equal(cwl_season_judge(m, &CFG, busy, busy + H, 0).verdict, CWL_SEASON_UNKNOWN);
    assert_int_equal(cwl_season_ready(m, &CFG), 0);
    learn_weeks(m, T0 + 2 * WEEK, 2);
    assert_int_equal(cwl_season_ready(m, &CFG), CWL_SEASON_BUCKETS);
    assert_int_equal(cwl_season_observations(m), 4 * 168);
    busy += 2 * WEEK;
    night += 2 * WEEK;
    cwl_season_judgement j = cwl_season_judge(m, &CFG, busy, busy + H, 0);
    assert_int_equal(j.verdict, CWL_SEASON_IMPLAUSIBLE); /* a missing busy hour */
    assert_true(j.mean > 1100 && j.mean < 1300);
    assert_true(j.sd > 30 && j.sd < 300);
    assert_true(j.p < 1e-12);
    assert_int_equal(j.n, 4);
    /* far below the model is implausible too; ordinary noise is not */
    assert_int_equal(cwl_season_judge(m, &CFG, busy, busy + H, 300).verdict,
                     CWL_SEASON_IMPLAUSIBLE);
    assert_int_equal(cwl_season_judge(m, &CFG, busy, busy + H, 1050).verdict,
                     CWL_SEASON_PLAUSIBLE);
    /* a quiet night: zero is plausible */
    j = cwl_season_judge(m, &CFG, night, night + H, 0);
    assert_int_equal(j.verdict, CWL_SEASON_PLAUSIBLE);
    assert_true(j.mean < 1);
    /* Saturday noon is quiet: the pattern is by hour of the week, not of the day */
    int64_t sat = T0 + 4 * WEEK + 5 * 86400000LL + 12 * H;
    assert_int_equal(cwl_season_judge(m, &CFG, sat, sat + H, 0).verdict, CWL_SEASON_PLAUSIBLE);
    /* windows off the grid or of another length are neither learned nor judged */
    assert_false(cwl_season_learn(m, &CFG, busy + 1, busy + H + 1, 5));
    assert_false(cwl_season_learn(m, &CFG, busy, busy + 2 * H, 5));
    assert_int_equal(cwl_season_judge(m, &CFG, busy + 60000, busy + H + 60000, 0).verdict,
                     CWL_SEASON_UNKNOWN);
    free(m);
}

/* Each window counts once, and the result does not depend on the order of learning. */
static void test_once_any_order(void **state)
{
    (void)state;
    cwl_season *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    uint64_t v[6 * 168];
    for (int i = 0; i < 6 * 168; i++)
        v[i] = traffic(T0 + i * H);
    for (int i = 0; i < 6 * 168; i++)
        assert_true(cwl_season_learn(a, &CFG, T0 + i * H, T0 + (i + 1) * H, v[i]));
    for (int i = 6 * 168 - 1; i >= 0; i--) /* newest first, as backfill reads */
        assert_true(cwl_season_learn(b, &CFG, T0 + i * H, T0 + (i + 1) * H, v[i]));
    /* again: reconciliation checks recent windows every round */
    for (int i = 0; i < 6 * 168; i++)
        assert_false(cwl_season_learn(a, &CFG, T0 + i * H, T0 + (i + 1) * H, v[i] + 7));
    assert_int_equal(cwl_season_observations(a), 6 * 168);
    for (int k = 0; k < CWL_SEASON_BUCKETS; k++) {
        int64_t t = T0 + 6 * WEEK + k * H;
        cwl_season_judgement x = cwl_season_judge(a, &CFG, t, t + H, 0);
        cwl_season_judgement y = cwl_season_judge(b, &CFG, t, t + H, 0);
        assert_true(fabs(x.mean - y.mean) <= 1e-9 * (1 + x.mean));
        assert_true(fabs(x.sd - y.sd) <= 1e-9 * (1 + x.sd));
        assert_int_equal(x.verdict, y.verdict);
    }
    free(a);
    free(b);
}

/* A busy hour that goes quiet for good alarms while it is new and is learned within weeks;
 * a single odd week does not restart the bucket. */
static void test_regime_change(void **state)
{
    (void)state;
    cwl_season *m = calloc(1, sizeof *m);
    int64_t t = T0 + 10 * H; /* Monday 10:00 */
    for (int w = 0; w < 6; w++, t += WEEK)
        cwl_season_learn(m, &CFG, t, t + H, 1200 + rnd() % 50);
    /* one week's outage, then back to normal: an alarm that week, no restart */
    assert_int_equal(cwl_season_judge(m, &CFG, t, t + H, 0).verdict, CWL_SEASON_IMPLAUSIBLE);
    cwl_season_learn(m, &CFG, t, t + H, 0);
    t += WEEK;
    cwl_season_learn(m, &CFG, t, t + H, 1210);
    t += WEEK;
    assert_int_equal(m->resets, 0);
    assert_int_equal(cwl_season_judge(m, &CFG, t, t + H, 0).verdict, CWL_SEASON_IMPLAUSIBLE);
    /* the service stops for good: zero every week from now on */
    int alarms = 0, unknown = 0, last_alarm = -1;
    for (int w = 0; w < 20; w++, t += WEEK) {
        cwl_season_judgement j = cwl_season_judge(m, &CFG, t, t + H, 0);
        if (j.verdict == CWL_SEASON_IMPLAUSIBLE) {
            alarms++;
            last_alarm = w;
        }
        unknown += j.verdict == CWL_SEASON_UNKNOWN;
        cwl_season_learn(m, &CFG, t, t + H, 0); /* what CloudWatch counted */
    }
    assert_int_equal(m->resets, 1);
    assert_int_equal(alarms, 2);    /* change_runs weeks of alarms */
    assert_int_equal(last_alarm, 1);
    assert_int_equal(unknown, 1);   /* then a week without a verdict, then the new level */
    assert_int_equal(cwl_season_judge(m, &CFG, t, t + H, 0).verdict, CWL_SEASON_PLAUSIBLE);
    /* and traffic coming back is learned the same way (counts above never alarm) */
    for (int w = 0; w < 3; w++, t += WEEK) {
        assert_int_not_equal(cwl_season_judge(m, &CFG, t, t + H, 800).verdict,
                             CWL_SEASON_IMPLAUSIBLE);
        cwl_season_learn(m, &CFG, t, t + H, 800);
    }
    assert_int_equal(m->resets, 2);
    assert_int_equal(cwl_season_judge(m, &CFG, t, t + H, 0).verdict, CWL_SEASON_IMPLAUSIBLE);
    free(m);
}

static void test_cdf(void **state)
{
    (void)state;
    /* Poisson(3): P(0) = e^-3, P(X <= 2) = e^-3 (1 + 3 + 4.5) */
    assert_true(fabs(cwl_season_cdf(3, 3, 0) - exp(-3)) < 1e-12);
    assert_true(fabs(cwl_season_cdf(3, 3, 2) - exp(-3) * 8.5) < 1e-12);
    /* negative binomial, mean 4, variance 12: r = 2, P(0) = (r / (r + mean))^r = 1/9 */
    assert_true(fabs(cwl_season_cdf(4, 12, 0) - 1.0 / 9) < 1e-12);
    /* at or above the mean: the lower tail is all that is asked for */
    assert_true(cwl_season_cdf(5, 5, 5) == 1.0);
    assert_true(cwl_season_cdf(0, 1, 0) == 1.0);
    /* large counts stay finite and ordered */
    double a = cwl_season_cdf(1e6, 1e8, 900000), b = cwl_season_cdf(1e6, 1e8, 990000);
    assert_true(a > 0 && a < b && b < 0.5);
    assert_true(cwl_season_cdf(1e7, 1e7, 0) == 0.0);
    /* a variance far above mean^2 (q rounds to 1): nearly all the mass at 0, never NaN (a
     * fuzzed model file gave NaN, which judged a window plausible and skipped it) */
    double v[][3] = {{100, 1e25, 0}, {100, 1e25, 2}, {1e10, 1e40, 1}, {1e15, 1e300, 50}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        double p = cwl_season_cdf(v[i][0], v[i][1], (uint64_t)v[i][2]);
        assert_true(p > 0.999 && p <= 1);
    }
    /* P(0) = (r / (r + mean))^r for a wide spread, against the closed form */
    double m = 50, var = 50 + 50.0 * 50 / 0.01, r = 0.01;
    assert_true(fabs(cwl_season_cdf(m, var, 0) - pow(r / (r + m), r)) < 1e-12);
}

static char *roundtrip_text(cwl_season **ms, const char **names, size_t n)
{
    sl_buf out = SL_BUF_INIT;
    cwl_season_serialize(&out, H, n, names, (const cwl_season *const *)ms);
    buf_putc(&out, '\0');
    return out.p;
}

static void test_file_roundtrip(void **state)
{
    (void)state;
    cwl_season *ms[2] = {calloc(1, sizeof(cwl_season)), calloc(1, sizeof(cwl_season))};
    const char *names[2] = {"/aws/lambda/orders", "odd name%with\tbytes"};
    learn_weeks(ms[0], T0, 5);
    learn_weeks(ms[1], T0 + 3 * WEEK, 1);
    int64_t t = T0 + 10 * H + 5 * WEEK; /* a run in progress is kept too */
    cwl_season_learn(ms[0], &CFG, t, t + H, 0);
    /* a deviation held aside after a long silence: the decayed weights sum to less than 1 */
    t = T0 + 11 * H + 40 * WEEK;
    assert_true(cwl_season_learn(ms[0], &CFG, t, t + H, 0));
    assert_true(ms[0]->b[cwl_season_bucket_of(t)].s0 < 1);
    char *text = roundtrip_text(ms, names, 2);
    cwl_season_file f = {0};
    char err[256];
    assert_int_equal(cwl_season_parse(&f, text, strlen(text), err, sizeof err), SL_OK);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.window_ms, H);
    for (int i = 0; i < 2; i++) {
        cwl_season *m = cwl_season_file_find(&f, names[i]);
        assert_non_null(m);
        assert_memory_equal(m->b, ms[i]->b, sizeof m->b);
    }
    assert_null(cwl_season_file_find(&f, "/other"));
    /* the text of what was read is the text that was written */
    char *again = roundtrip_text(f.models, (const char **)f.names, f.n);
    assert_string_equal(again, text);
    cwl_season *taken = cwl_season_file_take(&f, names[0]);
    assert_non_null(taken);
    assert_int_equal(f.n, 1);
    assert_null(cwl_season_file_find(&f, names[0]));
    free(taken);
    cwl_season_file_free(&f);
    free(again);
    free(text);
    free(ms[0]);
    free(ms[1]);
}

/* Replaces `from` by `to` in text and writes a valid checksum again: damage the checksum
 * cannot see (a file written by a broken program) must still be refused. */
static char *edit(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    sl_buf b = SL_BUF_INIT;
    buf_append(&b, text, (size_t)(at - text));
    buf_puts(&b, to);
    const char *rest = at + strlen(from);
    const char *trailer = strstr(rest, "crc32c ");
    buf_append(&b, rest, (size_t)(trailer - rest));
    buf_printf(&b, "crc32c %08x\n", crc32c(0, b.p, b.len));
    buf_putc(&b, '\0');
    return b.p;
}

static void test_file_corrupt(void **state)
{
    (void)state;
    cwl_season *m = calloc(1, sizeof *m);
    const char *name = "/g";
    learn_weeks(m, T0, 3);
    char *text = roundtrip_text(&m, &name, 1);
    size_t len = strlen(text);
    cwl_season_file f = {0};
    char err[256];
    assert_int_equal(cwl_season_parse(&f, text, len, err, sizeof err), SL_OK);
    /* every single flipped byte and every truncation is refused, leaving nothing */
    for (size_t i = 0; i < len; i++) {
        char *c = strdup(text);
        c[i] ^= 0x20;
        assert_int_equal(cwl_season_parse(&f, c, len, err, sizeof err), SL_ERR_CORRUPT);
        assert_int_equal(f.n, 0);
        free(c);
    }
    for (size_t l = 0; l < len; l += 7)
        assert_int_equal(cwl_season_parse(&f, text, l, err, sizeof err), SL_ERR_CORRUPT);
    /* well checksummed but wrong inside */
    const char *bad[][2] = {
        {"# sluice season v1", "# sluice season v9"},
        {"window_ms 3600000", "window_ms -5"},
        {"group /g", "group "},
        {"group /g", "group /g\ngroup /g"},
        {"\nb 0 ", "\nb 168 "},
        {"\nb 1 ", "\nb 0 "}, /* out of order: a duplicate bucket */
        {" 1 0 1 ", " 1 0 nan "},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (!strstr(text, bad[i][0]))
            continue; /* the pattern does not occur in this text */
        char *c = edit(text, bad[i][0], bad[i][1]);
        assert_int_equal(cwl_season_parse(&f, c, strlen(c), err, sizeof err), SL_ERR_CORRUPT);
        assert_int_equal(f.n, 0);
        free(c);
    }
    /* an edit that keeps it valid is accepted: the test edits work */
    char *ok = edit(text, "group /g", "group /h");
    assert_int_equal(cwl_season_parse(&f, ok, strlen(ok), err, sizeof err), SL_OK);
    assert_non_null(cwl_season_file_find(&f, "/h"));
    cwl_season_file_free(&f);
    free(ok);
    free(text);
    free(m);
}

static void test_cfg(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cwl_season_cfg_check(&CFG, err, sizeof err), SL_OK);
    cwl_season_cfg c = CFG;
    c.threshold = 0.5;
    assert_int_equal(cwl_season_cfg_check(&c, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "threshold"));
    c = CFG;
    c.min_history = 0;
    assert_int_equal(cwl_season_cfg_check(&c, err, sizeof err), SL_ERR_CONFIG);
    /* 15-minute windows: four a bucket each week, each learned once */
    c = CFG;
    c.window_ms = H / 4;
    cwl_season *m = calloc(1, sizeof *m);
    for (int w = 0; w < 3; w++)
        for (int q = 0; q < 4; q++) {
            int64_t t = T0 + w * WEEK + 10 * H + q * c.window_ms;
            assert_true(cwl_season_learn(m, &c, t, t + c.window_ms, 300));
            assert_false(cwl_season_learn(m, &c, t, t + c.window_ms, 300));
        }
    assert_int_equal(m->b[cwl_season_bucket_of(T0 + 10 * H)].n, 12);
    free(m);
}

/* The reconciliation walk with the defaults (30 days, 24 recent hours, 4 older windows a
 * round, hourly windows, seed 1) and a round every 15 minutes while time passes: every
 * older window is checked once every 173 or 174 rounds (695 windows, 4 a round), and a
 * missing day is found within 11 rounds from any start - the numbers docs/ARCHITECTURE.md
 * states. */
static void test_walk(void **state)
{
    (void)state;
    const int64_t w = H, interval = 900000;
    const int rounds = 4 * 174;
    /* visits[r][k]: the window checked by step k of round r */
    static int64_t visits[4 * 174][4];
    int64_t t0 = T0 + 7 * 60000 + 1234;
    uint64_t pos = 0, nwin = 0;
    for (int r = 0; r < rounds; r++) {
        int64_t now = t0 + r * interval;
        cwl_walk wk;
        cwl_walk_init(&wk, now - 30 * 86400000LL, (now - 24 * H) / w * w, w, 1);
        assert_true(wk.nwin == 695);
        nwin = wk.nwin;
        for (int k = 0; k < 4; k++) {
            int64_t a = cwl_walk_at(&wk, pos + (uint64_t)k);
            assert_true(a >= now - 30 * 86400000LL && a + w <= (now - 24 * H) / w * w);
            assert_int_equal(a % w, 0);
            visits[r][k] = a;
        }
        pos += 4;
    }
    (void)nwin;
    /* gaps between visits of one window, while it stays in range */
    int64_t lo = (t0 - 30 * 86400000LL) / w * w + w, hi = (t0 - 24 * H) / w * w - w;
    int checked = 0;
    for (int64_t a = lo; a < hi; a += w) {
        int first = -1, last = -1;
        int64_t leaves = a + 30 * 86400000LL; /* past this, the window is out of range */
        for (int r = 0; r < rounds && t0 + r * interval < leaves; r++)
            for (int k = 0; k < 4; k++)
                if (visits[r][k] == a) {
                    if (last >= 0)
                        assert_true(r - last == 173 || r - last == 174);
                    if (first < 0)
                        first = r;
                    last = r;
                    checked++;
                }
        /* visited within the first cycle unless it leaves the range before */
        if (leaves - t0 > 174 * interval)
            assert_true(first >= 0 && first < 174);
    }
    assert_true(checked > 600);
    /* a missing day (24 windows) that stays in range: found within 11 rounds of any start */
    int worst = 0;
    for (int r0 = 0; r0 < 174; r0++) {
        int64_t now = t0 + r0 * interval;
        for (int d = 2; d < 28; d++) {
            int64_t day = (now / 86400000LL - d) * 86400000LL;
            int found = -1;
            for (int r = r0; r < rounds && found < 0; r++)
                for (int k = 0; k < 4; k++)
                    if (visits[r][k] >= day && visits[r][k] < day + 86400000LL)
                        found = r - r0 + 1;
            assert_true(found > 0);
            if (found > worst)
                worst = found;
        }
    }
    assert_true(worst <= 11);
    /* no range, no window */
    cwl_walk wk;
    cwl_walk_init(&wk, T0, T0, H, 1);
    assert_int_equal(wk.nwin, 0);
    assert_int_equal(cwl_walk_at(&wk, 5), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_weekly_pattern), cmocka_unit_test(test_once_any_order),
        cmocka_unit_test(test_regime_change),  cmocka_unit_test(test_cdf),
        cmocka_unit_test(test_file_roundtrip), cmocka_unit_test(test_file_corrupt),
        cmocka_unit_test(test_cfg),            cmocka_unit_test(test_walk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
