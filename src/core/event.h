/* event.h - the one in-memory form of a log event, and the batch that owns it.
 * Every string an event points at lives in its batch's arena; nothing is freed per event. */
#ifndef SL_EVENT_H
#define SL_EVENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"

typedef struct sl_str {
    const char *ptr;
    uint32_t len;
} sl_str;

#define SL_STR(lit) ((sl_str){(lit), (uint32_t)(sizeof(lit) - 1)})

typedef enum sl_val_type {
    SL_VAL_STR = 0,
    SL_VAL_INT,
    SL_VAL_FLOAT,
    SL_VAL_BOOL,
    SL_VAL_NULL,
    SL_VAL_JSON, /* raw JSON text of an object or array, emitted verbatim */
} sl_val_type;

/* One attribute. Keys are dotted paths ("kubernetes.pod_name"); values are scalars
 * or a raw JSON subtree. */
typedef struct sl_field {
    sl_str key;
    uint8_t type; /* sl_val_type */
    union {
        sl_str s;
        int64_t i;
        double f;
        bool b;
    } v;
} sl_field;

/* An event's fields are `shared` (nshared of them) followed by `fields` (nfields): the
 * shared ones are one read-only array that several events of a batch point at (a file's
 * metadata), set only by sources, and only in batches marked `shared_fields`. Code that
 * reads fields goes through event_nfields / event_field (or event_get); code that changes
 * them calls event_unshare first (the field helpers below do). Transforms never see them:
 * the router makes them each event's own first. */
typedef struct sl_event {
    int64_t ts_ns;     /* event time, ns since epoch (from the line when known) */
    sl_str message;    /* body */
    sl_field *fields;  /* arena-owned array, the event's own */
    uint32_t nfields, cap_fields;
    const sl_field *shared; /* in the batch's arena, or NULL */
    uint32_t nshared;
    /* What one sink encoded of this event ahead of sending (event_prep, below): `prep_len`
     * bytes at `prep`, in the batch's prep buffer, for the sink whose prep id is
     * `prep_owner` (0: none). Every other sink ignores them; copies do not carry them.
     * Marked with no bytes of its own: the event is in a run whose bytes are those of its
     * first event (net/gz_prep.h). */
    uint32_t prep_len;
    const char *prep;
    uint32_t prep_owner;
    /* Stable id derived from the source position: `id_stream` names the stream
     * (file identity hash, ...), `id_seq` the position in it (byte offset).
     * `id_str`, when non-empty, overrides both (e.g. a CloudWatch event id). */
    uint64_t id_stream, id_seq;
    sl_str id_str;
} sl_event;

typedef struct sl_ack_token sl_ack_token;

/* A batch owns its arena, hence every event and string in it. It is reference
 * counted: each holder (router, memory buffer, sink request) owns one reference.
 * When the last reference is released the batch's ack token is released too,
 * which tells the source that every sink is done with these events. */
typedef struct sl_batch {
    sl_arena arena;
    sl_event *events; /* malloc'd array, grows by doubling */
    uint32_t n, cap;
    size_t bytes;     /* approximate payload bytes, for byte-bounded queues */
    atomic_int refs;
    sl_ack_token *ack; /* owned reference, or NULL */
    /* Tokens of earlier batches whose events this one carries on (multiline keeps lines
     * past their batch): owned references, released or abandoned with the batch. Those
     * events are the first `nheld`. */
    sl_ack_token **holds;
    uint32_t nholds, cap_holds;
    uint32_t nheld;
    sl_buf prep;        /* owns the events' prepared bytes (sl_event.prep), or empty */
    uint32_t prep_owner; /* the sink that prepared them, 0: not prepared */
    const char *origin; /* component id that produced it (static lifetime) */
    bool fallback;      /* a copy of events another sink handed to its fallback */
    bool shared_fields; /* some events have shared fields (see sl_event) */
} sl_batch;

/* A set of ack token references kept by whoever holds events past their batch's release
 * (multiline's open groups): it takes every token the events' batch answers for, and hands
 * them to the batch that finally carries the events, so no position commits past an event
 * that has not been delivered. */
typedef struct sl_ack_set {
    sl_ack_token **v;
    uint32_t n, cap;
} sl_ack_set;

/* Returns an owned batch with refs == 1. */
sl_batch *batch_new(uint32_t cap_hint);
/* Appends a zeroed event and returns it; valid until the next batch_add. */
sl_event *batch_add(sl_batch *b);
void batch_retain(sl_batch *b);
/* Drops one reference; the last one frees the batch and releases its ack token. */
void batch_release(sl_batch *b);
/* Releases a reference whose events were NOT delivered (shutdown deadline): the batch's
 * ack token is abandoned so the source never commits past it. */
void batch_abandon(sl_batch *b);
/* Every field of e, shared ones first: i < event_nfields(e). */
static inline uint32_t event_nfields(const sl_event *e) { return e->nshared + e->nfields; }
static inline const sl_field *event_field(const sl_event *e, uint32_t i)
{
    return i < e->nshared ? &e->shared[i] : &e->fields[i - e->nshared];
}
/* Every field of e in one array from `a`, shared ones first, with room for `cap` fields
 * (cap >= event_nfields(e)). The strings are not copied. */
sl_field *event_fields_flat(sl_arena *a, const sl_event *e, uint32_t cap);
/* Makes e's shared fields its own (copied, in order, before the others), so they can be
 * changed; nothing when it has none. */
void event_unshare(sl_batch *b, sl_event *e);
/* event_unshare for every event; clears b->shared_fields. Only for a batch nobody else
 * reads at the same time. */
void batch_unshare(sl_batch *b);
/* Appends a deep copy of `src` (from any batch) to `dst`; returns the copy. Its fields
 * are all its own. */
sl_event *batch_append_copy(sl_batch *dst, const sl_event *src);
/* A deep copy sharing the ack token (the token gains a reference). refs == 1. Its events
 * have no shared fields. */
sl_batch *batch_clone(const sl_batch *b);
/* Adds to `s` a reference to each token that answers for event i of b, once: the holds for
 * the first nheld events (carried from earlier batches), else the batch's own token (its
 * holds when it has none). */
void ack_set_add_event(sl_ack_set *s, const sl_batch *b, uint32_t i);
/* Moves every reference of `s` into b's holds (s is left empty, its memory kept). */
void batch_hold_acks(sl_batch *b, sl_ack_set *s);
/* Drops the references of `s` (as delivered) and frees its memory. */
void ack_set_release(sl_ack_set *s);
/* Frees the memory of `s` without touching the tokens: for teardown, when their ledgers
 * (which own every token) are freed anyway. */
void ack_set_forget(sl_ack_set *s);
/* Removes events for which keep[i] is false, preserving order (and nheld's meaning). */
void batch_compact(sl_batch *b, const bool *keep);

/* Memory the batch really holds (arena chunks, event array, header): what memory
 * buffers count against their bound, so max_bytes bounds RSS, not an estimate. */
size_t batch_mem_size(const sl_batch *b);
/* Copies a string into the batch arena. */
sl_str batch_str(sl_batch *b, const char *s, size_t len);
/* Field helpers; the key and value are copied into the arena unless noted. */
sl_field *event_add_field(sl_batch *b, sl_event *e, const char *key, size_t keylen);
void event_set_str(sl_batch *b, sl_event *e, const char *key, const char *val, size_t len);
/* Appends a field without looking for an existing one and without copying `key`, which
 * must outlive the batch: the fast path for sources filling fresh events. */
sl_field *event_push_field(sl_batch *b, sl_event *e, sl_str key);
/* Like event_set_str but `key` and `val` must outlive the batch (static strings). */
void event_set_static(sl_batch *b, sl_event *e, sl_str key, sl_str val);
void event_set_int(sl_batch *b, sl_event *e, const char *key, int64_t val);
/* Returns the field with this key or NULL. */
const sl_field *event_get(const sl_event *e, const char *key, size_t keylen);
/* Ahead-of-send encoding (sink vtable `prepare`): a sink that encodes each event alone
 * (an OTLP LogRecord) may do it on the thread that routes the batch, where the batch was
 * just written and is still in that core's cache, instead of on a sink thread that would
 * read it cold from another core. The sink takes a prep id
 * once (prep_id_new), appends each event's bytes to b->prep and records where they end
 * with batch_prep_event; batch_prep_done sets every event's prep once the buffer no
 * longer moves. A sink finds its own bytes with event_prep. A sink may also prepare runs
 * of events as one piece (net/gz_prep.h: compressed ahead). */
uint32_t prep_id_new(void);
/* Event i's bytes are b->prep.p[start, b->prep.len): call after appending them. */
void batch_prep_event(sl_batch *b, uint32_t i, size_t start);
/* Points the events recorded by batch_prep_event into b->prep and marks them `owner`. */
void batch_prep_done(sl_batch *b, uint32_t owner);
/* e's prepared bytes for the sink with prep id `owner`, or an empty string. */
static inline sl_str event_prep(const sl_event *e, uint32_t owner)
{
    if (e->prep_owner != owner || !owner)
        return (sl_str){NULL, 0};
    return (sl_str){e->prep, e->prep_len};
}
/* Bytes an event adds to its batch's accounting (message + fields, rough). */
size_t event_size(const sl_event *e);

#endif
