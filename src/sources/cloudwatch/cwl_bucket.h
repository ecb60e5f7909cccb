/* cwl_bucket.h - process-wide token buckets for CloudWatch Logs requests, one per account
 * and region, shared by every cloudwatch_logs source that calls with the same credentials. */
#ifndef SL_CWL_BUCKET_H
#define SL_CWL_BUCKET_H

#include <stddef.h>
#include <stdint.h>

#include "sources/cloudwatch/cwl.h"

typedef struct cwl_bucket cwl_bucket;

/* Writes the key that names an account and region: region, endpoint and the access key id
 * of `c` (for credentials from an instance or container endpoint, the provider). Returns
 * the length (truncated to n-1). */
size_t cwl_bucket_key(char *out, size_t n, const char *region, const char *url,
                      const cwl_creds *c);

/* Joins (or creates, with one token) the bucket named `key` as member `who` (copied) with
 * its own limit `rate` (requests/s, >= 1). The bucket's rate and capacity are the smallest
 * rate of its members. Returns a reference the caller owns (never NULL); *sharers (may be
 * NULL) gets the number of members now. Thread-safe. */
cwl_bucket *cwl_bucket_get(const char *key, const char *who, int64_t rate, int64_t now_ms,
                           uint32_t *sharers);
/* Leaves the bucket (the member `who` joined with); the last one frees it. NULL is a no-op. */
void cwl_bucket_put(cwl_bucket *b, const char *who);

/* Tokens available now (refilled first; may be negative after cwl_bucket_take). */
double cwl_bucket_level(cwl_bucket *b, int64_t now_ms);
/* Member `who` takes one token if at least `reserve` are available (reserve is clamped to
 * [1, capacity]) and no other member waits for one with a higher priority (a smaller
 * reserve) or with the same priority since an earlier refusal (cwl_bucket.c note 4): returns
 * 0. Otherwise takes nothing, records `who` as waiting, and returns the ms to wait (>= 1).
 * The check and the take are one step, so sharers never both spend the last token. */
int64_t cwl_bucket_try(cwl_bucket *b, const char *who, double reserve, int64_t now_ms);
/* Takes one token whatever the level (the debt delays every sharer). */
void cwl_bucket_take(cwl_bucket *b, int64_t now_ms);
/* Ms until `level` tokens are available (0 when they are now). */
int64_t cwl_bucket_wait_ms(cwl_bucket *b, double level, int64_t now_ms);
/* The bucket's rate (requests/s) and number of members now. */
int64_t cwl_bucket_rate(cwl_bucket *b);
uint32_t cwl_bucket_sharers(cwl_bucket *b);
/* Buckets alive in the process (for tests). */
size_t cwl_bucket_count(void);

#endif
