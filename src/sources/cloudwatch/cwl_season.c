/* cwl_season.c - the seasonal volume model behind reconciliation's plausibility check.
 *
 * Notes on the design
 *  1. Buckets: the hour of the week (UTC) a window starts in, 168 of them. Day of the
 *     month is not modelled: a month-end batch job shows up as a few large hours a month,
 *     which a weekly bucket sees as noise above the mean, and noise above never raises an
 *     alarm (only counts below the model do); a monthly bucket would need a year of history
 *     before it judged anything.
 *  2. Statistics per bucket: a weighted mean and variance of the window counts, each
 *     observation weighted 2^(-age / half_life_weeks) where age is measured from the
 *     bucket's newest observation. Rescaling the sums when a newer observation arrives
 *     keeps this exact, and the weights depend on the windows' times, not on the order
 *     they are learned in: backfill learns newest first, reconciliation oldest first.
 *  3. Each window is learned once: a 64-bit mask marks which of the bucket's last 64
 *     windows (slots: weeks, times the windows per hour when window_ms divides an hour)
 *     were taken; older ones are ignored. Reconciliation checks a recent window every
 *     round, and a repeat must not count as another week of history.
 *  4. Regime changes and outliers: a new observation (newer than every other in its
 *     bucket) more than change_z deviations from an established bucket's mean is held
 *     aside, out of the sums, in a run of such deviations in its direction; change_runs
 *     of them in a row restart the bucket from the run alone. An observation back within
 *     change_z drops the run: a one-week outage neither teaches the bucket that zero is
 *     normal nor widens its variance (which would hide the next real gap and make the
 *     following change look like noise). With the defaults (2 runs, 3 observations to
 *     judge) a permanent change alarms twice, leaves the bucket unknown for a week and is
 *     judged by its new level from the fourth week; unknown means "behave as without a
 *     model", never "alarm". Observations older than the newest are weighted in without
 *     this test (backfill learns newest first), so an outage inside the backfilled
 *     history does count, at its age's weight.
 *  5. Plausibility: X ~ Poisson(mean) when the variance is at most the mean, else a
 *     negative binomial with that mean and variance (method of moments). The variance is
 *     floored at the mean plus (10% of the mean)^2, and at 1, because a few weeks of
 *     identical counts do not mean the next one cannot differ, and inflated by (1 + 1/n)
 *     for the uncertainty of the mean itself. A count is implausible when
 *     P(X <= observed) < threshold. Only the lower tail is ever asked for.
 *  6. File format (text, like the checkpoint):
 *         # sluice season v1
 *         window_ms <ms>
 *         group <name, bytes <= 0x20, '%' and 0x7f as %XX>
 *         b <bucket> <ref_ms> <seen, 16 hex> <n> <run> <s0> <s1> <s2> <r1> <r2>
 *         ...
 *         crc32c <8 hex digits>       CRC-32C of every byte before this line
 *     Buckets in increasing order, only those with observations; doubles as %.17g (they
 *     read back exactly). Anything else is corrupt: the caller discards the whole model
 *     and learns again; nothing here aborts on input. */
#include "cwl_season.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/metrics.h"

#define HOUR_MS 3600000LL
#define SEASON_HEADER "# sluice season v1\n"
#define MAX_NAME 1024

int cwl_season_cfg_check(const cwl_season_cfg *c, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (c->window_ms <= 0)
        bad = "the window length must be positive";
    else if (c->min_history < 1 || c->min_history > 64)
        bad = ".min_history: 1..64";
    else if (!(c->half_life_weeks > 0 && c->half_life_weeks <= 520))
        bad = ".half_life_weeks: 1..520";
    else if (!(c->threshold > 0 && c->threshold < 0.5))
        bad = ".threshold: a probability above 0 and below 0.5";
    else if (!(c->change_z >= 1 && c->change_z <= 100))
        bad = ".change_z: 1..100";
    else if (c->change_runs < 1 || c->change_runs > 64)
        bad = ".change_runs: 1..64";
    if (bad)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "reconcile.seasonal%s%s",
                         *bad == '.' ? "" : ": ", bad);
    return SL_OK;
}

uint32_t cwl_season_bucket_of(int64_t start_ms)
{
    return (uint32_t)((start_ms % CWL_SEASON_WEEK_MS) / HOUR_MS);
}

/* Note 3: a window's slot within its bucket. */
static int64_t season_slot(const cwl_season_cfg *c, int64_t start_ms)
{
    int64_t nsub = 1, sub = 0;
    if (c->window_ms < HOUR_MS && HOUR_MS % c->window_ms == 0) {
        nsub = HOUR_MS / c->window_ms;
        sub = (start_ms % HOUR_MS) / c->window_ms;
    }
    return start_ms / CWL_SEASON_WEEK_MS * nsub + sub;
}

static double season_decay(const cwl_season_cfg *c, int64_t age_ms)
{
    return exp2(-((double)age_ms / (double)CWL_SEASON_WEEK_MS) / c->half_life_weeks);
}

static bool season_window_ok(const cwl_season_cfg *c, int64_t start_ms, int64_t end_ms)
{
    return start_ms >= 0 && end_ms - start_ms == c->window_ms && start_ms % c->window_ms == 0;
}

/* Note 5: the bucket's mean and the variance a new count is judged with. */
static void season_moments(const cwl_season_bucket *b, double *mean, double *var)
{
    double m = b->s0 > 0 ? b->s1 / b->s0 : 0;
    double v = b->s0 > 0 ? b->s2 / b->s0 - m * m : 0;
    if (!(v > 0))
        v = 0;
    v = fmax(v, m) + 0.01 * m * m;
    v = fmax(v, 1.0);
    *mean = m;
    *var = v * (1.0 + 1.0 / (b->n ? b->n : 1));
}

bool cwl_season_learn(cwl_season *m, const cwl_season_cfg *c, int64_t start_ms,
                      int64_t end_ms, uint64_t count)
{
    if (!season_window_ok(c, start_ms, end_ms))
        return false;
    cwl_season_bucket *b = &m->b[cwl_season_bucket_of(start_ms)];
    double x = (double)count;
    if (b->n == 0) { /* the bucket's first observation */
        *b = (cwl_season_bucket){.ref_ms = start_ms, .seen = 1, .s0 = 1, .s1 = x, .s2 = x * x,
                                 .n = 1};
        m->learned++;
        return true;
    }
    int64_t d = season_slot(c, b->ref_ms) - season_slot(c, start_ms);
    if (d == 0)
        return false;
    if (d > 0) { /* older than the newest: weighted in, no change detection (note 4) */
        if (d >= 64 || (b->seen >> d) & 1)
            return false;
        b->seen |= 1ULL << d;
        double w = season_decay(c, b->ref_ms - start_ms);
        b->s0 += w;
        b->s1 += w * x;
        b->s2 += w * x * x;
        b->n++;
        m->learned++;
        return true;
    }
    /* newer: move the reference here, rescaling the sums (note 2) */
    b->seen = -d >= 64 ? 0 : b->seen << -d;
    b->seen |= 1;
    double f = season_decay(c, start_ms - b->ref_ms);
    b->s0 *= f;
    b->s1 *= f;
    b->s2 *= f;
    b->ref_ms = start_ms;
    if (b->n >= c->min_history) {
        double mean, var;
        season_moments(b, &mean, &var);
        double z = (x - mean) / sqrt(var);
        if (fabs(z) > c->change_z) {
            int32_t dir = z > 0 ? 1 : -1;
            if (b->run != 0 && (b->run > 0) == (dir > 0)) {
                b->run += dir;
                b->r1 += x;
                b->r2 += x * x;
            } else {
                b->run = dir;
                b->r1 = x;
                b->r2 = x * x;
            }
            uint32_t len = (uint32_t)abs(b->run);
            if (len >= c->change_runs) { /* a new regime: only the run is history */
                b->s0 = len;
                b->s1 = b->r1;
                b->s2 = b->r2;
                b->n = len;
                b->run = 0;
                b->r1 = b->r2 = 0;
                m->resets++;
            }
            m->learned++; /* held aside in the run, out of the sums */
            return true;
        } else { /* back to normal: the run was an outlier, dropped */
            b->run = 0;
            b->r1 = b->r2 = 0;
        }
    }
    b->s0 += 1;
    b->s1 += x;
    b->s2 += x * x;
    b->n++;
    m->learned++;
    return true;
}

double cwl_season_cdf(double mean, double var, uint64_t x)
{
    if (!(mean > 0) || (double)x >= mean)
        return 1.0; /* only the lower tail is asked for */
    if (x > 100000) { /* a normal approximation, with continuity correction */
        double z = ((double)x + 0.5 - mean) / sqrt(var);
        return 0.5 * erfc(-z / sqrt(2.0));
    }
    /* log-space sums of the pmf from 0 to x; terms grow up to the mode (> x here) */
    double lt, ls, r = 0, lq = 0;
    bool poisson = var <= mean * (1 + 1e-9);
    if (poisson) {
        lt = -mean;
    } else {
        r = mean * mean / (var - mean);
        if (!(r > 0))
            return 1.0; /* r -> 0: the mass is all at 0 */
        /* q = mean / (r + mean) and 1 - q = r / (r + mean), each from its own ratio: with a
         * variance far above mean^2, q rounds to 1 and log1p(-q) would be -inf, P(0) 0
         * where it is close to 1 */
        lq = log(mean) - log(r + mean);
        lt = r * (log(r) - log(r + mean));
    }
    ls = lt;
    for (uint64_t k = 0; k < x; k++) {
        lt += poisson ? log(mean) - log((double)(k + 1))
                      : log(((double)k + r) / (double)(k + 1)) + lq;
        double hi = fmax(ls, lt);
        if (hi == -INFINITY)
            continue; /* every term so far underflowed (q rounds to 1): nothing to add yet */
        ls = hi + log(exp(ls - hi) + exp(lt - hi));
    }
    double p = exp(ls);
    return p > 1 ? 1 : p;
}

cwl_season_judgement cwl_season_judge(const cwl_season *m, const cwl_season_cfg *c,
                                      int64_t start_ms, int64_t end_ms, uint64_t observed)
{
    cwl_season_judgement j = {.verdict = CWL_SEASON_UNKNOWN, .p = 1};
    if (!season_window_ok(c, start_ms, end_ms))
        return j;
    const cwl_season_bucket *b = &m->b[cwl_season_bucket_of(start_ms)];
    j.n = b->n;
    if (b->n < c->min_history)
        return j;
    double mean, var;
    season_moments(b, &mean, &var);
    if (!isfinite(mean) || !isfinite(var))
        return j;
    j.mean = mean;
    j.sd = sqrt(var);
    double p = cwl_season_cdf(mean, var, observed);
    if (!(p >= 0 && p <= 1)) /* no verdict rather than "plausible": that would skip a window */
        return j;
    j.p = p;
    j.verdict = p < c->threshold ? CWL_SEASON_IMPLAUSIBLE : CWL_SEASON_PLAUSIBLE;
    return j;
}

uint32_t cwl_season_ready(const cwl_season *m, const cwl_season_cfg *c)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < CWL_SEASON_BUCKETS; i++)
        n += m->b[i].n >= c->min_history;
    return n;
}

uint64_t cwl_season_observations(const cwl_season *m)
{
    uint64_t n = 0;
    for (uint32_t i = 0; i < CWL_SEASON_BUCKETS; i++)
        n += m->b[i].n;
    return n;
}

/* ---- Decisions ------------------------------------------------------------------------- */

cwl_season_action cwl_season_decide(cwl_season *m, const cwl_season_cfg *c, const char *comp,
                                    const char *group, int64_t start_ms, int64_t end_ms,
                                    uint64_t dst, sl_metrics *metrics)
{
    cwl_season_judgement j = cwl_season_judge(m, c, start_ms, end_ms, dst);
    if (j.verdict == CWL_SEASON_UNKNOWN || (j.verdict == CWL_SEASON_PLAUSIBLE && dst > 0))
        return CWL_SEASON_COUNT;
    char when[32];
    time_t t = (time_t)(start_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M", &tm);
    if (j.verdict == CWL_SEASON_IMPLAUSIBLE) {
        m->implausible++;
        m->rereads++;
        metrics_count(metrics, "season_implausible", 1);
        metrics_count(metrics, "season_rereads", 1);
        log_info(comp,
                 "season: %s window %s es=%" PRIu64 " expected=%.0f\u00b1%.0f implausible "
                 "(p=%.1e), re-reading",
                 group, when, dst, j.mean, j.sd, j.p);
        return CWL_SEASON_RECHECK;
    }
    m->skipped++;
    metrics_count(metrics, "season_skipped", 1);
    log_info(comp, "season: %s window %s es=0 expected=%.0f\u00b1%.0f plausible (quiet hour), "
             "skipped", group, when, j.mean, j.sd);
    return CWL_SEASON_SKIP;
}

void cwl_season_status_json(sl_buf *out, const cwl_season *m, const cwl_season_cfg *c)
{
    buf_printf(out,
               "{\"buckets_learned\":%" PRIu32 ",\"observations\":%" PRIu64
               ",\"implausible\":%" PRIu64 ",\"rereads\":%" PRIu64 ",\"repaired\":%" PRIu64
               ",\"skipped\":%" PRIu64 ",\"resets\":%" PRIu64 "}",
               cwl_season_ready(m, c), cwl_season_observations(m), m->implausible, m->rereads,
               m->repaired, m->skipped, m->resets);
}

/* ---- The walk over older windows ---------------------------------------------------------- */

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void cwl_walk_init(cwl_walk *wk, int64_t history_from, int64_t recent_from, int64_t w,
                   uint64_t seed)
{
    *wk = (cwl_walk){.w = w, .stride = 1};
    if (w <= 0 || history_from < 0 || recent_from <= history_from)
        return;
    wk->first = (history_from + w - 1) / w;
    int64_t last = recent_from / w; /* windows first .. last - 1 end by recent_from */
    wk->nwin = last > wk->first ? (uint64_t)(last - wk->first) : 0;
    if (wk->nwin > 1) { /* a stride coprime with nwin makes i -> off + i*stride a permutation */
        uint64_t sd = (seed + 1) * 0x9E3779B97F4A7C15ULL;
        wk->stride = 1 + (sd >> 7) % (wk->nwin - 1);
        while (gcd_u64(wk->stride, wk->nwin) != 1)
            wk->stride = wk->stride % (wk->nwin - 1) + 1;
        wk->off = (sd >> 29) % wk->nwin;
    }
}

int64_t cwl_walk_at(const cwl_walk *wk, uint64_t pos)
{
    if (!wk->nwin)
        return -1;
    uint64_t r = (wk->off + pos % wk->nwin * wk->stride) % wk->nwin;
    uint64_t f = (uint64_t)wk->first % wk->nwin;
    return (wk->first + (int64_t)((r + wk->nwin - f) % wk->nwin)) * wk->w;
}

/* ---- The file (note 6) ------------------------------------------------------------------ */

static void put_name(sl_buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch <= 0x20 || ch == '%' || ch == 0x7f)
            buf_printf(out, "%%%02X", ch);
        else
            buf_putc(out, (char)ch);
    }
}

void cwl_season_serialize(sl_buf *out, int64_t window_ms, size_t n, const char *const *names,
                          const cwl_season *const *models)
{
    size_t from = out->len;
    buf_puts(out, SEASON_HEADER);
    buf_printf(out, "window_ms %" PRId64 "\n", window_ms);
    for (size_t i = 0; i < n; i++) {
        buf_puts(out, "group ");
        put_name(out, names[i]);
        buf_putc(out, '\n');
        for (uint32_t k = 0; k < CWL_SEASON_BUCKETS; k++) {
            const cwl_season_bucket *b = &models[i]->b[k];
            if (!b->n)
                continue;
            buf_printf(out,
                       "b %" PRIu32 " %" PRId64 " %016" PRIx64 " %" PRIu32 " %" PRId32
                       " %.17g %.17g %.17g %.17g %.17g\n",
                       k, b->ref_ms, b->seen, b->n, b->run, b->s0, b->s1, b->s2, b->r1, b->r2);
        }
    }
    buf_printf(out, "crc32c %08x\n", crc32c(0, out->p + from, out->len - from));
}

static void file_add(cwl_season_file *f, char *name, cwl_season *m)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->names = sl_xrealloc(f->names, f->cap * sizeof *f->names);
        f->models = sl_xrealloc(f->models, f->cap * sizeof *f->models);
    }
    f->names[f->n] = name;
    f->models[f->n++] = m;
}

void cwl_season_file_free(cwl_season_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->names[i]);
        free(f->models[i]);
    }
    free(f->names);
    free(f->models);
    memset(f, 0, sizeof *f);
}

cwl_season *cwl_season_file_find(const cwl_season_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->names[i], name) == 0)
            return f->models[i];
    return NULL;
}

cwl_season *cwl_season_file_take(cwl_season_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) != 0)
            continue;
        cwl_season *m = f->models[i];
        free(f->names[i]);
        f->names[i] = f->names[f->n - 1];
        f->models[i] = f->models[f->n - 1];
        f->n--;
        return m;
    }
    return NULL;
}

/* The escaped name of a "group" line; NULL if malformed. */
static char *get_name(const char *s, size_t len)
{
    if (len == 0 || len > 3 * MAX_NAME)
        return NULL;
    char *out = sl_xmalloc(len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '%') {
            int hi = i + 2 < len ? sl_hexval(s[i + 1]) : -1, lo = hi >= 0 ? sl_hexval(s[i + 2]) : -1;
            if (lo < 0 || hi * 16 + lo == 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (ch <= 0x20 || ch == 0x7f) {
            free(out);
            return NULL;
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
    if (o > MAX_NAME) {
        free(out);
        return NULL;
    }
    return out;
}

/* Splits a NUL-terminated line on single spaces into at most max fields. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line;;) {
        if (n == max)
            return -1;
        f[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp)
            return n;
        *sp = '\0';
        p = sp + 1;
    }
}

static bool get_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool get_dbl(const char *s, double lo, double hi, double *out)
{
    if (!*s || !((*s >= '0' && *s <= '9') || *s == '-'))
        return false; /* no "nan", "inf", hex floats or leading blanks */
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno == ERANGE || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static bool get_bucket(char **f, cwl_season_bucket *b, uint32_t *idx)
{
    int64_t k, ref, n, run;
    if (!get_i64(f[1], 0, CWL_SEASON_BUCKETS - 1, &k) || !get_i64(f[2], 0, INT64_MAX / 2, &ref) ||
        !get_i64(f[4], 1, 1000000000, &n) || !get_i64(f[5], -64, 64, &run))
        return false;
    if (strlen(f[3]) != 16)
        return false;
    uint64_t seen = 0;
    for (int i = 0; i < 16; i++) {
        int h = sl_hexval(f[3][i]);
        if (h < 0)
            return false;
        seen = seen << 4 | (uint64_t)h;
    }
    double s0, s1, s2, r1, r2;
    if (!get_dbl(f[6], 0, 1e6, &s0) || !get_dbl(f[7], 0, 1e24, &s1) ||
        !get_dbl(f[8], 0, 1e44, &s2) || !get_dbl(f[9], 0, 1e24, &r1) ||
        !get_dbl(f[10], 0, 1e44, &r2))
        return false;
    if (!(seen & 1))
        return false; /* the newest window is always marked */
    *idx = (uint32_t)k;
    *b = (cwl_season_bucket){.ref_ms = ref, .seen = seen, .s0 = s0, .s1 = s1, .s2 = s2,
                             .r1 = r1, .r2 = r2, .n = (uint32_t)n, .run = (int32_t)run};
    return true;
}

int cwl_season_parse(cwl_season_file *f, const char *buf, size_t len, char *err, size_t errlen)
{
    cwl_season_file_free(f);
    size_t hl = strlen(SEASON_HEADER);
    if (len < hl || memcmp(buf, SEASON_HEADER, hl) != 0)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "not a season file (or another version)");
    /* the trailer: the last line, "crc32c xxxxxxxx\n" */
    const size_t tl = strlen("crc32c 00000000\n");
    if (len < hl + tl || buf[len - 1] != '\n' || memcmp(buf + len - tl, "crc32c ", 7) != 0)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "no checksum trailer");
    uint32_t want = 0;
    for (size_t i = 0; i < 8; i++) {
        int h = sl_hexval(buf[len - tl + 7 + i]);
        if (h < 0 || (buf[len - tl + 7 + i] >= 'A' && buf[len - tl + 7 + i] <= 'F'))
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "bad checksum trailer");
        want = want << 4 | (uint32_t)h;
    }
    if (crc32c(0, buf, len - tl) != want)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "checksum mismatch");
    const char *p = buf + hl, *end = buf + len - tl;
    int64_t window_ms = -1;
    cwl_season *cur = NULL;
    int32_t last = -1;
    char line[4 * MAX_NAME];
    unsigned lineno = 1;
    while (p < end) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl || (size_t)(nl - p) >= sizeof line)
            goto bad;
        size_t ll = (size_t)(nl - p);
        memcpy(line, p, ll);
        line[ll] = '\0';
        p = nl + 1;
        if (memchr(line, '\0', ll))
            goto bad;
        char *fld[12];
        if (window_ms < 0) { /* the second line */
            int nf = split(line, fld, 3);
            if (nf != 2 || strcmp(fld[0], "window_ms") != 0 ||
                !get_i64(fld[1], 1, 366LL * 86400000, &window_ms))
                goto bad;
            continue;
        }
        if (strncmp(line, "group ", 6) == 0) {
            char *name = get_name(line + 6, ll - 6);
            if (!name)
                goto bad;
            if (cwl_season_file_find(f, name)) {
                free(name);
                goto bad;
            }
            cur = sl_xcalloc(1, sizeof *cur);
            file_add(f, name, cur);
            last = -1;
            continue;
        }
        int nf = split(line, fld, 12);
        if (!cur || nf != 11 || strcmp(fld[0], "b") != 0)
            goto bad;
        cwl_season_bucket b;
        uint32_t idx;
        if (!get_bucket(fld, &b, &idx) || (int32_t)idx <= last)
            goto bad;
        cur->b[idx] = b;
        last = (int32_t)idx;
    }
    if (window_ms < 0)
        goto bad;
    f->window_ms = window_ms;
    return SL_OK;
bad:
    cwl_season_file_free(f);
    return sl_seterr(err, errlen, SL_ERR_CORRUPT, "line %u not understood", lineno);
}

void cwl_season_load(cwl_season_file *f, const char *path, int64_t window_ms, const char *comp,
                     sl_metrics *metrics)
{
    char *buf = NULL, err[256];
    size_t len = 0;
    cwl_season_file_free(f);
    if (sl_read_file(path, &buf, &len, err, sizeof err) != SL_OK)
        return; /* none yet (or unreadable: the next save replaces it) */
    if (cwl_season_parse(f, buf, len, err, sizeof err) != SL_OK) {
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.corrupt", path);
        bool moved = rename(path, aside) == 0;
        log_warn(comp, "seasonal model %s is corrupt (%s); %s, learning again", path, err,
                 moved ? "moved aside to .corrupt" : "ignored");
        metrics_error(metrics, "corrupt_season_model");
    } else if (f->window_ms != window_ms) {
        log_info(comp, "seasonal model %s was learned for %" PRId64 "-minute windows, not %"
                 PRId64 "; learning again", path, f->window_ms / 60000, window_ms / 60000);
        cwl_season_file_free(f);
    } else {
        log_info(comp, "seasonal model: %zu log groups loaded from %s", f->n, path);
    }
    free(buf);
}

int cwl_season_save(const char *path, int64_t window_ms, size_t n, const char *const *names,
                    const cwl_season *const *models, char *err, size_t errlen)
{
    sl_buf out = SL_BUF_INIT;
    cwl_season_serialize(&out, window_ms, n, names, models);
    int rc = sl_write_file_atomic(path, out.p, out.len, err, errlen);
    buf_free(&out);
    return rc;
}
