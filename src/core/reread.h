/* reread.h - re-read requests: a sink repairing what it wrote (the elasticsearch sink's
 * schema healing) asks the source that reads a log group to read a time range of it again.
 * Process-wide and thread-safe; the state machine is in reread.c. */
#ifndef SL_REREAD_H
#define SL_REREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum sl_reread_state {
    SL_REREAD_GONE = 0, /* no such request (forgotten, or never posted) */
    SL_REREAD_POSTED,   /* waiting for a reader of its group to claim it */
    SL_REREAD_CLAIMED,  /* a reader took it and is learning the group's retention */
    SL_REREAD_PLANNED,  /* the plan is known; its windows are being read */
    SL_REREAD_DONE,     /* every window of the plan was delivered (dry: planned only) */
    SL_REREAD_FAILED,   /* the reader could not (it stopped, an error): nothing promised */
} sl_reread_state;

/* What a reader does with a request. from == to: nothing is read (all of it older than the
 * retention allows). */
typedef struct sl_reread_plan {
    int64_t from, to;       /* [from, to) ms, re-read from the source */
    int64_t retention_days; /* the group's retention; 0 = never expires */
    uint64_t windows;       /* windows queued for it */
    char source[32];        /* what is read, for log lines ("CloudWatch") */
} sl_reread_plan;

/* An identifying field of a group's events (e.g. cloudwatch.log_group = /aws/lambda/x), so
 * that a sink can tell which of its names a group's events go to. */
typedef struct sl_reread_field {
    const char *key, *value;
} sl_reread_field;

#define SL_REREAD_MAX_FIELDS 4

/* The margin kept from the retention's edge: an event this close to expiring may be gone
 * by the time its window is read. */
#define SL_REREAD_MARGIN_MS 3600000

/* The oldest time a re-read may ask for: now - retention - margin, rounded up to the
 * window grid (window_ms > 0). retention_days 0 (never expires): INT64_MIN. */
int64_t reread_floor(int64_t now_ms, int64_t retention_days, int64_t margin_ms,
                     int64_t window_ms);
/* The plan for [from, to) under that rule: from raised to the floor; from == to when
 * nothing is left. */
void reread_clip(int64_t from, int64_t to, int64_t floor_ms, sl_reread_plan *p);

/* ---- Readers (sources) ---------------------------------------------------------------- */
/* `reader` (a component id) reads `group` and its events carry fields[0..n) (copied; at
 * most SL_REREAD_MAX_FIELDS). Again for the same pair: updated. */
void reread_serve(const char *reader, const char *group, const sl_reread_field *fields,
                  size_t n);
/* The reader stops: its groups are no longer served, its open requests fail. */
void reread_unserve(const char *reader);
/* Changes whenever a request is posted: a reader polls it cheaply. */
uint64_t reread_generation(void);
/* Claims the oldest POSTED request for a group `reader` serves: its id (0: none), group
 * (into group, glen), range and dry flag. */
uint64_t reread_claim(const char *reader, char *group, size_t glen, int64_t *from,
                      int64_t *to, bool *dry);
/* CLAIMED -> PLANNED with p (copied); a dry request, or one with nothing to read, goes to
 * DONE at once. Ignored for a request that is gone. */
void reread_planned(uint64_t id, const sl_reread_plan *p);
/* PLANNED -> DONE (ok) or anything open -> FAILED. Ignored for a request that is gone. */
void reread_finish(uint64_t id, bool ok);

/* ---- Posters (sinks) ------------------------------------------------------------------ */
/* Calls fn for every group served, with its fields (valid during the call only). The
 * registry is locked meanwhile: fn must not call back into it. */
void reread_each_group(void (*fn)(void *arg, const char *group, const sl_reread_field *f,
                                  size_t n),
                       void *arg);
/* Asks for [from, to) of `group` to be read again (dry: the plan only). Returns the id,
 * or 0 when no reader serves the group (then nothing will be re-read). */
uint64_t reread_post(const char *group, int64_t from, int64_t to, bool dry);
/* The state of request id, and its plan once PLANNED or later (p may be NULL). */
sl_reread_state reread_poll(uint64_t id, sl_reread_plan *p);
/* The poster is done with id, in any state: it is freed; a reader's later reports on it are
 * ignored (windows already queued are still read: harmless). */
void reread_forget(uint64_t id);
/* Requests alive (for tests). */
size_t reread_count(void);

#endif
