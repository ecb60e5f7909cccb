/* cwl_bucket.c - token buckets shared across cloudwatch_logs sources: the service's request
 * quotas are per account and region, not per source, so sources of one account share one.
 *
 * Notes on the design
 *  1. Key: region + endpoint + the access key id the source started with. One access key
 *     belongs to one account, so sources with the same key id never exceed the account's
 *     quota together. Temporary credentials from the ECS endpoint, IMDS or web identity
 *     rotate their key id, so those are keyed by the provider ("ecs", "imds",
 *     "web_identity"): every source of the process on that instance, task or pod uses the
 *     same role. What the key cannot tell apart without a
 *     network call (STS GetCallerIdentity): two different keys of the same account (two IAM
 *     users, or a user's key and an instance role of that account) get separate buckets and
 *     together may exceed the account's quota; sources should then share one credential.
 *  2. Rate: the smallest max_requests_per_sec of the members (a member's limit is a cap it
 *     asked for, so the shared bucket honours the strictest); recomputed when one leaves.
 *     Capacity (the largest burst) is one second of the rate, as for a lone source.
 *  3. Level = min(capacity, level + elapsed x rate), refilled lazily on each call from the
 *     caller's clock (monotonic ms; a clock that goes back adds nothing). cwl_bucket_try
 *     checks and takes under the lock, so over any interval T the members together take at
 *     most capacity + rate x T tokens (cwl_bucket_take may overdraw: the debt is paid back
 *     before anyone's next try succeeds).
 *  4. Fairness: sharers wake when the token they wait for is due, and the one that just
 *     finished a request would win every race (its wait is shorter by the request's
 *     duration), starving the other. So a refused try leaves its member waiting (its
 *     reserve, since when, and until the token is due + CWL_CLAIM_GRACE_MS), and a try is
 *     refused while another member waits with a smaller reserve (a higher priority) or with
 *     the same one since earlier: members of one priority get tokens in the order they
 *     were refused, so the one that just got a token and asks again at once goes behind
 *     the others (a single claim would not do: the winner would claim again before the
 *     loser woke). A smaller reserve (a live tail against backfill) is never held back by
 *     a larger one. A member that does not come back by `until` stops holding the others
 *     back (it keeps its place for when it does); a token taken clears the taker's wait.
 *  5. Cost: one process-wide mutex held for a few arithmetic operations; requests are a few
 *     per second, so it is never contended for long. Buckets live in a short list. */
#include "sources/cloudwatch/cwl_bucket.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/log.h"

typedef struct cwl_member {
    char *who; /* owned */
    int64_t rate;
    /* note 4: refused and not served since */
    bool waiting;
    double reserve;
    int64_t since, until;
} cwl_member;

struct cwl_bucket {
    struct cwl_bucket *next;
    char *key; /* owned */
    cwl_member *mem;
    uint32_t nmem, capmem;
    int64_t rate;
    double level;
    int64_t at; /* ms of the last refill */
};

#define CWL_CLAIM_GRACE_MS 50

static pthread_mutex_t cwl_bucket_mu = PTHREAD_MUTEX_INITIALIZER;
static cwl_bucket *cwl_buckets; /* guarded by cwl_bucket_mu, as is every bucket's state */

size_t cwl_bucket_key(char *out, size_t n, const char *region, const char *url,
                      const cwl_creds *c)
{
    const char *from = c && c->from ? c->from : "";
    /* rotating key ids: the provider names the role (note 1) */
    bool rotating = strcmp(from, "ecs") == 0 || strcmp(from, "imds") == 0 ||
                    strcmp(from, "web_identity") == 0;
    const char *who = rotating || !c || !*c->access_key ? from : c->access_key;
    int len = snprintf(out, n, "%s|%s|%s%s", region ? region : "", url ? url : "",
                       rotating || !c || !*c->access_key ? "provider:" : "key:", who);
    if (len < 0)
        return 0;
    return SL_MIN((size_t)len, n ? n - 1 : 0);
}

/* Called with the lock held. */
static void cwl_bucket_refill(cwl_bucket *b, int64_t now)
{
    if (now > b->at) {
        b->level += (double)(now - b->at) * (double)b->rate / 1000.0;
        if (b->level > (double)b->rate)
            b->level = (double)b->rate;
        b->at = now;
    }
}

/* Called with the lock held: rate = the smallest member's, the level within capacity. */
static void cwl_bucket_rerate(cwl_bucket *b)
{
    int64_t r = INT64_MAX;
    for (uint32_t i = 0; i < b->nmem; i++)
        r = SL_MIN(r, b->mem[i].rate);
    b->rate = r;
    if (b->level > (double)r)
        b->level = (double)r;
}

cwl_bucket *cwl_bucket_get(const char *key, const char *who, int64_t rate, int64_t now_ms,
                           uint32_t *sharers)
{
    if (rate < 1)
        rate = 1;
    pthread_mutex_lock(&cwl_bucket_mu);
    cwl_bucket *b = cwl_buckets;
    while (b && strcmp(b->key, key) != 0)
        b = b->next;
    if (!b) {
        b = sl_xcalloc(1, sizeof *b);
        b->key = sl_xstrdup(key);
        b->level = 1.0; /* one request at start, then the rate */
        b->at = now_ms;
        b->next = cwl_buckets;
        cwl_buckets = b;
    } else {
        cwl_bucket_refill(b, now_ms);
    }
    if (b->nmem == b->capmem) {
        b->capmem = b->capmem ? 2 * b->capmem : 2;
        b->mem = sl_xrealloc(b->mem, b->capmem * sizeof *b->mem);
    }
    b->mem[b->nmem++] = (cwl_member){.who = sl_xstrdup(who), .rate = rate};
    cwl_bucket_rerate(b);
    uint32_t n = b->nmem;
    if (n > 1) {
        /* one line per join: which sources now share the account's requests */
        char names[256];
        size_t off = 0;
        names[0] = '\0';
        for (uint32_t i = 0; i < n && off + 1 < sizeof names; i++) {
            int w = snprintf(names + off, sizeof names - off, "%s%s", i ? ", " : "", b->mem[i].who);
            if (w < 0)
                break;
            off = SL_MIN(off + (size_t)w, sizeof names - 1);
        }
        log_info(who, "requests shared with other sources of the same account and region "
                      "(%s): one token bucket at %" PRId64 " requests/s",
                 names, b->rate);
    }
    pthread_mutex_unlock(&cwl_bucket_mu);
    if (sharers)
        *sharers = n;
    return b;
}

void cwl_bucket_put(cwl_bucket *b, const char *who)
{
    if (!b)
        return;
    pthread_mutex_lock(&cwl_bucket_mu);
    for (uint32_t i = 0; i < b->nmem; i++)
        if (strcmp(b->mem[i].who, who) == 0) {
            free(b->mem[i].who); /* its wait goes with it */
            b->mem[i] = b->mem[--b->nmem];
            break;
        }
    if (b->nmem) {
        cwl_bucket_rerate(b); /* the remaining members' smallest rate, from the last refill */
        pthread_mutex_unlock(&cwl_bucket_mu);
        return;
    }
    for (cwl_bucket **p = &cwl_buckets; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&cwl_bucket_mu);
    free(b->mem);
    free(b->key);
    free(b);
}

/* Called with the lock held. */
static int64_t cwl_bucket_wait_locked(const cwl_bucket *b, double level)
{
    if (b->level >= level)
        return 0;
    return SL_MAX(1, (int64_t)((level - b->level) * 1000.0 / (double)b->rate + 0.999));
}

double cwl_bucket_level(cwl_bucket *b, int64_t now_ms)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    cwl_bucket_refill(b, now_ms);
    double l = b->level;
    pthread_mutex_unlock(&cwl_bucket_mu);
    return l;
}

int64_t cwl_bucket_try(cwl_bucket *b, const char *who, double reserve, int64_t now_ms)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    cwl_bucket_refill(b, now_ms);
    reserve = SL_MAX(1.0, SL_MIN(reserve, (double)b->rate));
    cwl_member *m = NULL;
    for (uint32_t i = 0; i < b->nmem && !m; i++)
        if (strcmp(b->mem[i].who, who) == 0)
            m = &b->mem[i];
    int64_t w = cwl_bucket_wait_locked(b, reserve);
    /* note 4: held back by a member of a higher priority, or of the same one refused
     * earlier, that is still expected back */
    int64_t since = m && m->waiting ? m->since : now_ms;
    for (uint32_t i = 0; i < b->nmem && w == 0; i++) {
        const cwl_member *c = &b->mem[i];
        if (c == m || !c->waiting || now_ms > c->until)
            continue;
        if (c->reserve < reserve || (c->reserve == reserve && c->since < since))
            w = SL_MAX(1, SL_MIN(c->until - now_ms, CWL_CLAIM_GRACE_MS));
    }
    if (w == 0) {
        b->level -= 1.0;
        if (m)
            m->waiting = false;
    } else if (m) {
        if (!m->waiting)
            m->since = now_ms;
        m->waiting = true;
        m->reserve = reserve;
        m->until = now_ms + w + CWL_CLAIM_GRACE_MS;
    }
    pthread_mutex_unlock(&cwl_bucket_mu);
    return w;
}

void cwl_bucket_take(cwl_bucket *b, int64_t now_ms)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    cwl_bucket_refill(b, now_ms);
    b->level -= 1.0;
    pthread_mutex_unlock(&cwl_bucket_mu);
}

int64_t cwl_bucket_wait_ms(cwl_bucket *b, double level, int64_t now_ms)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    cwl_bucket_refill(b, now_ms);
    int64_t w = cwl_bucket_wait_locked(b, level);
    pthread_mutex_unlock(&cwl_bucket_mu);
    return w;
}

int64_t cwl_bucket_rate(cwl_bucket *b)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    int64_t r = b->rate;
    pthread_mutex_unlock(&cwl_bucket_mu);
    return r;
}

uint32_t cwl_bucket_sharers(cwl_bucket *b)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    uint32_t n = b->nmem;
    pthread_mutex_unlock(&cwl_bucket_mu);
    return n;
}

size_t cwl_bucket_count(void)
{
    pthread_mutex_lock(&cwl_bucket_mu);
    size_t n = 0;
    for (const cwl_bucket *b = cwl_buckets; b; b = b->next)
        n++;
    pthread_mutex_unlock(&cwl_bucket_mu);
    return n;
}
