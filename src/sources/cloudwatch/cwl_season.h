/* cwl_season.h - the seasonal model of a CloudWatch log group's volume: how many events a
 * reconciliation window normally holds at its hour of the week, and whether a count the
 * destination reports (zero, or far below normal) is plausible. Pure computation and a
 * text file format; the cloudwatch_logs source feeds it counts and acts on its verdicts
 * (cwl_source.c note 11). */
#ifndef SL_CWL_SEASON_H
#define SL_CWL_SEASON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct sl_metrics;

#define CWL_SEASON_BUCKETS 168 /* hours of the week, UTC, from the epoch's Thursday 00:00 */
#define CWL_SEASON_WEEK_MS (7 * 86400000LL)

typedef struct cwl_season_cfg {
    int64_t window_ms;    /* the windows' length; observations of other lengths are ignored */
    uint32_t min_history; /* observations a bucket needs before it judges (else: unknown) */
    double half_life_weeks; /* an observation's weight halves every this many weeks */
    double threshold;     /* P(X <= observed) below this is implausible */
    double change_z;      /* a new observation this many deviations from the mean ... */
    uint32_t change_runs; /* ... this many times in a row, the same way: the bucket restarts */
} cwl_season_cfg;

/* One hour of the week. The sums are weighted by 2^(-age / half_life), age measured from
 * the bucket's newest observation (ref_ms), so the order observations arrive in does not
 * matter (backfill learns newest first). */
typedef struct cwl_season_bucket {
    int64_t ref_ms;   /* start of the newest window learned; meaningless while n == 0 */
    uint64_t seen;    /* bit k: the window k slots before ref_ms was learned (no twice) */
    double s0, s1, s2; /* sum of weights, of weight * x, of weight * x^2 */
    double r1, r2;    /* sums of x and x^2 over the current run of deviations */
    uint32_t n;       /* observations since the bucket (re)started */
    int32_t run;      /* consecutive deviations of new observations: > 0 above, < 0 below */
} cwl_season_bucket;

/* The model of one group, and what it led to in this process (not persisted). */
typedef struct cwl_season {
    cwl_season_bucket b[CWL_SEASON_BUCKETS];
    uint64_t learned, resets;               /* observations taken, buckets restarted */
    uint64_t implausible, rereads, repaired, skipped; /* the source's decisions */
} cwl_season;

typedef enum cwl_verdict {
    CWL_SEASON_UNKNOWN = 0, /* not enough history in the bucket: behave as without a model */
    CWL_SEASON_PLAUSIBLE,
    CWL_SEASON_IMPLAUSIBLE,
} cwl_verdict;

typedef struct cwl_season_judgement {
    cwl_verdict verdict;
    double mean, sd; /* what the bucket expects (sd includes the floor, see cwl_season.c) */
    double p;        /* P(X <= observed) under the bucket's distribution */
    uint32_t n;      /* observations behind it */
} cwl_season_judgement;

/* Checks a configuration; SL_OK or SL_ERR_CONFIG with a message naming the field. */
int cwl_season_cfg_check(const cwl_season_cfg *c, char *err, size_t errlen);

/* The bucket of a window starting at start_ms (>= 0). */
uint32_t cwl_season_bucket_of(int64_t start_ms);

/* Learns that [start_ms, end_ms) held `count` events. Only whole windows on the
 * window_ms grid count, each once (a second observation of the same window is ignored),
 * and only within the last 64 windows of its bucket. Returns true when it was taken. */
bool cwl_season_learn(cwl_season *m, const cwl_season_cfg *c, int64_t start_ms,
                      int64_t end_ms, uint64_t count);

/* Whether `observed` events in [start_ms, end_ms) is plausible at that hour of the week. */
cwl_season_judgement cwl_season_judge(const cwl_season *m, const cwl_season_cfg *c,
                                      int64_t start_ms, int64_t end_ms, uint64_t observed);

/* Buckets with at least min_history observations. */
uint32_t cwl_season_ready(const cwl_season *m, const cwl_season_cfg *c);
/* Observations held (sum of n over the buckets). */
uint64_t cwl_season_observations(const cwl_season *m);

/* P(X <= x) for a count with this mean and variance: Poisson when var <= mean, negative
 * binomial above, a normal approximation for large means. */
double cwl_season_cdf(double mean, double var, uint64_t x);

/* ---- What the source does with a destination count (cwl_source.c note 11) ------------- */
typedef enum cwl_season_action {
    CWL_SEASON_COUNT = 0, /* as without a model: count in CloudWatch and compare */
    CWL_SEASON_SKIP,      /* zero, and plausible: trust the destination, no CloudWatch read */
    CWL_SEASON_RECHECK,   /* implausibly low: count in CloudWatch now, at high priority */
} cwl_season_action;

/* Judges `dst` for [start_ms, end_ms) of `group`, counts the decision in m and as the
 * component counters season_implausible / season_rereads / season_skipped on `metrics`,
 * and logs one info line for a skip or a re-check (`comp` is the component id). */
cwl_season_action cwl_season_decide(cwl_season *m, const cwl_season_cfg *c, const char *comp,
                                    const char *group, int64_t start_ms, int64_t end_ms,
                                    uint64_t dst, struct sl_metrics *metrics);
/* Appends {"buckets_learned":..,"observations":..,"implausible":..,"rereads":..,
 * "repaired":..,"skipped":..,"resets":..} for the status API. */
void cwl_season_status_json(sl_buf *out, const cwl_season *m, const cwl_season_cfg *c);

/* ---- Which older windows reconciliation samples ------------------------------------------
 * The windows of w ms wholly inside [history_from, recent_from) are indexed by their absolute
 * number (start / w) modulo nwin, their count; step pos of the walk names the residue
 * off + pos * stride (mod nwin), stride coprime with nwin, both drawn from the seed. So while
 * nwin stays the same (it does as time passes: the range keeps its length), every window is
 * named exactly once in any nwin consecutive steps, and its turn does not move as the range
 * slides. */
typedef struct cwl_walk {
    int64_t first, w; /* absolute number of the oldest window in range; window length */
    uint64_t nwin, stride, off;
} cwl_walk;

void cwl_walk_init(cwl_walk *wk, int64_t history_from, int64_t recent_from, int64_t w,
                   uint64_t seed);
/* Start (ms) of the window step pos names; -1 when the range holds no window. */
int64_t cwl_walk_at(const cwl_walk *wk, uint64_t pos);

/* ---- The file: <data_dir>/checkpoints/<id>.season ---------------------------------------
 * Text, versioned and checksummed like the checkpoint (cwl_season.c has the format). */
typedef struct cwl_season_file {
    int64_t window_ms;
    size_t n, cap;
    char **names;        /* owned */
    cwl_season **models; /* owned */
} cwl_season_file;

/* Appends the text of the models to out: header, one section per group, trailer. */
void cwl_season_serialize(sl_buf *out, int64_t window_ms, size_t n, const char *const *names,
                          const cwl_season *const *models);
/* Parses a file into f (emptied first). On any damage (header, version, a line, a value
 * out of range, a duplicate, the checksum) returns SL_ERR_CORRUPT and leaves f empty.
 * Never reads past len. */
int cwl_season_parse(cwl_season_file *f, const char *buf, size_t len, char *err,
                     size_t errlen);
/* The model of `name` in f, or NULL. Borrowed. */
cwl_season *cwl_season_file_find(const cwl_season_file *f, const char *name);
/* Takes the model of `name` out of f (the caller owns it), or NULL. */
cwl_season *cwl_season_file_take(cwl_season_file *f, const char *name);
void cwl_season_file_free(cwl_season_file *f);
/* Loads `path` into f. A missing file is an empty f; a corrupt one is logged as a
 * warning, counted ("corrupt_season_model"), moved aside to <path>.corrupt and f is left
 * empty; a file of another window length is dropped with an info line (relearned). Never
 * fails the caller. */
void cwl_season_load(cwl_season_file *f, const char *path, int64_t window_ms, const char *comp,
                     struct sl_metrics *metrics);
/* Writes the models durably (temp file, fsync, rename: the checkpoint's durability). */
int cwl_season_save(const char *path, int64_t window_ms, size_t n, const char *const *names,
                    const cwl_season *const *models, char *err, size_t errlen);

#endif
