/* acks.h - end-to-end acknowledgements: a source's positions commit only in order,
 * and only after every holder of every batch before them has released it.
 *
 * A ledger belongs to one producer (a source, or a disk buffer's reader). The
 * producer opens one token per batch, in order, carrying an opaque position
 * (key, value). Tokens are released from any thread. The producer's own thread
 * calls ack_ledger_collect() to receive, in open order, the positions of the
 * longest prefix of released tokens; those are safe to persist. */
#ifndef SL_ACKS_H
#define SL_ACKS_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_ack_ledger sl_ack_ledger;
typedef struct sl_ack_token sl_ack_token;

typedef void (*sl_ack_commit_fn)(void *arg, uint64_t key, uint64_t value);

/* Returns an owned ledger; free with ack_ledger_free once no token is alive. */
sl_ack_ledger *ack_ledger_new(void);
void ack_ledger_free(sl_ack_ledger *l);

/* Returns a token with one reference, owned by the caller (usually handed to
 * a batch). Tokens are committed in the order they were opened. */
sl_ack_token *ack_token_open(sl_ack_ledger *l, uint64_t key, uint64_t value);
void ack_token_retain(sl_ack_token *t);
/* Drops a reference; the last one marks the token done (thread-safe). */
void ack_token_release(sl_ack_token *t);

/* Marks the token as never to be committed (its events were not delivered, e.g. a
 * drain that hit the shutdown deadline), then drops the caller's reference. The ledger
 * stops committing at this token for good, so the position is re-read after restart. */
void ack_token_abandon(sl_ack_token *t);

/* Calls fn for each done token at the head of the ledger, in order, and removes
 * it. Returns how many were committed. */
size_t ack_ledger_collect(sl_ack_ledger *l, sl_ack_commit_fn fn, void *arg);
/* Monotonic ms at which the oldest uncollected token was opened; 0 if none. The age of
 * that token is how far commits lag behind reading (sluice_source_lag_seconds). */
int64_t ack_ledger_oldest_ms(sl_ack_ledger *l);
/* Tokens opened and not yet collected. */
size_t ack_ledger_pending(sl_ack_ledger *l);

#endif
