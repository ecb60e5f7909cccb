/* reread.c - re-read requests between a sink's repair and the source of a log group.
 *
 * Who owns what. The registry (one per process, under `mu`) owns copies of every string
 * given to it. A served entry (reader, group, fields) belongs to its reader: it is added
 * and updated by reread_serve and removed by reread_unserve. A request belongs to its
 * poster: reread_post creates it, reread_forget frees it; the reader that claimed it only
 * moves it forward, and reports on a request that is gone are ignored, so neither side
 * has to outlive the other.
 *
 * A request's states (sl_reread_state):
 *
 *   POSTED --reread_claim (a reader serving the group)--> CLAIMED
 *   CLAIMED --reread_planned--> PLANNED (windows queued), or DONE when dry or nothing is
 *            left inside the group's retention
 *   PLANNED --reread_finish(ok)--> DONE (every queued window was delivered)
 *   POSTED | CLAIMED | PLANNED --reread_finish(!ok) or the reader's unserve--> FAILED
 *   any --reread_forget--> (freed)
 *
 * A request is posted only for a served group (else reread_post returns 0 and the poster
 * goes on without a re-read). One that no reader claims stays POSTED: the poster decides
 * how long to wait.
 *
 * The retention rule (reread_floor): a source keeps a group's events retention_days; a
 * re-read never asks for anything older than now - retention - a margin (an event that
 * close to its expiry may be gone by the time its window is read), rounded up to the
 * window grid so no window reaches past it. What lies before the floor is not re-read. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/reread.h"

typedef struct rr_served {
    char *reader, *group;
    sl_reread_field f[SL_REREAD_MAX_FIELDS];
    size_t nf;
} rr_served;

typedef struct rr_req {
    uint64_t id;
    char *group, *reader; /* reader: who claimed it (NULL while POSTED) */
    int64_t from, to;
    bool dry;
    sl_reread_state st;
    sl_reread_plan plan;
} rr_req;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static rr_served *served;
static size_t nserved, capserved;
static rr_req *reqs;
static size_t nreqs, capreqs;
static uint64_t next_id = 1, generation;

int64_t reread_floor(int64_t now_ms, int64_t retention_days, int64_t margin_ms,
                     int64_t window_ms)
{
    if (retention_days <= 0)
        return INT64_MIN;
    int64_t f = now_ms - retention_days * 86400000 + margin_ms;
    if (window_ms > 0) {
        int64_t q = f / window_ms - (f % window_ms < 0);
        if (q * window_ms != f)
            q++;
        f = q * window_ms;
    }
    return f;
}

void reread_clip(int64_t from, int64_t to, int64_t floor_ms, sl_reread_plan *p)
{
    p->from = SL_MAX(from, floor_ms);
    p->to = to;
    if (p->from >= p->to)
        p->from = p->to;
}

/* ---- Readers -------------------------------------------------------------------------- */

static void served_clear_fields(rr_served *s)
{
    for (size_t i = 0; i < s->nf; i++) {
        free((char *)s->f[i].key);
        free((char *)s->f[i].value);
    }
    s->nf = 0;
}

void reread_serve(const char *reader, const char *group, const sl_reread_field *fields,
                  size_t n)
{
    pthread_mutex_lock(&mu);
    rr_served *s = NULL;
    for (size_t i = 0; i < nserved && !s; i++)
        if (strcmp(served[i].reader, reader) == 0 && strcmp(served[i].group, group) == 0)
            s = &served[i];
    if (!s) {
        if (nserved == capserved) {
            capserved = capserved ? capserved * 2 : 16;
            served = sl_xrealloc(served, capserved * sizeof *served);
        }
        s = &served[nserved++];
        memset(s, 0, sizeof *s);
        s->reader = sl_xstrdup(reader);
        s->group = sl_xstrdup(group);
    }
    served_clear_fields(s);
    for (size_t i = 0; i < n && i < SL_REREAD_MAX_FIELDS; i++) {
        s->f[i].key = sl_xstrdup(fields[i].key);
        s->f[i].value = sl_xstrdup(fields[i].value);
        s->nf++;
    }
    pthread_mutex_unlock(&mu);
}

void reread_unserve(const char *reader)
{
    pthread_mutex_lock(&mu);
    size_t k = 0;
    for (size_t i = 0; i < nserved; i++) {
        if (strcmp(served[i].reader, reader) != 0) {
            served[k++] = served[i];
            continue;
        }
        served_clear_fields(&served[i]);
        free(served[i].reader);
        free(served[i].group);
    }
    nserved = k;
    for (size_t i = 0; i < nreqs; i++)
        if (reqs[i].reader && strcmp(reqs[i].reader, reader) == 0 &&
            reqs[i].st != SL_REREAD_DONE)
            reqs[i].st = SL_REREAD_FAILED;
    pthread_mutex_unlock(&mu);
}

uint64_t reread_generation(void)
{
    pthread_mutex_lock(&mu);
    uint64_t g = generation;
    pthread_mutex_unlock(&mu);
    return g;
}

static bool serves(const char *reader, const char *group)
{
    for (size_t i = 0; i < nserved; i++)
        if (strcmp(served[i].group, group) == 0 &&
            (!reader || strcmp(served[i].reader, reader) == 0))
            return true;
    return false;
}

uint64_t reread_claim(const char *reader, char *group, size_t glen, int64_t *from,
                      int64_t *to, bool *dry)
{
    uint64_t id = 0;
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nreqs && !id; i++) {
        rr_req *r = &reqs[i];
        if (r->st != SL_REREAD_POSTED || !serves(reader, r->group) || strlen(r->group) >= glen)
            continue;
        r->st = SL_REREAD_CLAIMED;
        r->reader = sl_xstrdup(reader);
        memcpy(group, r->group, strlen(r->group) + 1);
        *from = r->from;
        *to = r->to;
        *dry = r->dry;
        id = r->id;
    }
    pthread_mutex_unlock(&mu);
    return id;
}

static rr_req *find(uint64_t id)
{
    for (size_t i = 0; i < nreqs; i++)
        if (reqs[i].id == id)
            return &reqs[i];
    return NULL;
}

void reread_planned(uint64_t id, const sl_reread_plan *p)
{
    pthread_mutex_lock(&mu);
    rr_req *r = find(id);
    if (r && r->st == SL_REREAD_CLAIMED) {
        r->plan = *p;
        r->st = r->dry || p->from >= p->to || !p->windows ? SL_REREAD_DONE : SL_REREAD_PLANNED;
    }
    pthread_mutex_unlock(&mu);
}

void reread_finish(uint64_t id, bool ok)
{
    pthread_mutex_lock(&mu);
    rr_req *r = find(id);
    if (r && ok && r->st == SL_REREAD_PLANNED)
        r->st = SL_REREAD_DONE;
    else if (r && !ok && r->st != SL_REREAD_DONE)
        r->st = SL_REREAD_FAILED;
    pthread_mutex_unlock(&mu);
}

/* ---- Posters -------------------------------------------------------------------------- */

void reread_each_group(void (*fn)(void *arg, const char *group, const sl_reread_field *f,
                                  size_t n),
                       void *arg)
{
    pthread_mutex_lock(&mu);
    for (size_t i = 0; i < nserved; i++)
        fn(arg, served[i].group, served[i].f, served[i].nf);
    pthread_mutex_unlock(&mu);
}

uint64_t reread_post(const char *group, int64_t from, int64_t to, bool dry)
{
    pthread_mutex_lock(&mu);
    uint64_t id = 0;
    if (serves(NULL, group)) {
        if (nreqs == capreqs) {
            capreqs = capreqs ? capreqs * 2 : 8;
            reqs = sl_xrealloc(reqs, capreqs * sizeof *reqs);
        }
        id = next_id++;
        reqs[nreqs++] = (rr_req){.id = id, .group = sl_xstrdup(group), .from = from, .to = to,
                                 .dry = dry, .st = SL_REREAD_POSTED};
        generation++;
    }
    pthread_mutex_unlock(&mu);
    return id;
}

sl_reread_state reread_poll(uint64_t id, sl_reread_plan *p)
{
    pthread_mutex_lock(&mu);
    rr_req *r = find(id);
    sl_reread_state st = r ? r->st : SL_REREAD_GONE;
    if (r && p)
        *p = r->plan;
    pthread_mutex_unlock(&mu);
    return st;
}

void reread_forget(uint64_t id)
{
    pthread_mutex_lock(&mu);
    rr_req *r = find(id);
    if (r) {
        free(r->group);
        free(r->reader);
        *r = reqs[--nreqs];
    }
    if (!nreqs) {
        free(reqs);
        reqs = NULL;
        capreqs = 0;
    }
    pthread_mutex_unlock(&mu);
}

size_t reread_count(void)
{
    pthread_mutex_lock(&mu);
    size_t n = nreqs;
    pthread_mutex_unlock(&mu);
    return n;
}
