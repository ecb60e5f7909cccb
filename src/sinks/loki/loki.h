/* loki.h - Loki push encoding of sluice events (logproto.PushRequest protobuf and the push
 * API's JSON), label and structured metadata templates with a bound on distinct label
 * sets, and the reading of Loki's answers. Shared by the sink, tests and fuzz targets. */
#ifndef SL_LOKI_H
#define SL_LOKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/event.h"

/* The value written instead of a field-derived label value once max_label_sets distinct
 * label sets have been seen (static labels keep their value). */
#define LOKI_OVERFLOW_VALUE "__overflow__"
/* The label of a stream whose labels all rendered empty: Loki refuses a stream with no
 * label, and Loki 3 uses the same name and value for logs without a service. */
#define LOKI_DEFAULT_LABEL "service_name"
#define LOKI_DEFAULT_VALUE "unknown_service"

typedef struct loki_enc loki_enc;

/* What one encode saw about label cardinality. */
typedef struct loki_stats {
    uint64_t overflowed;  /* events whose label set went over the cap */
    uint64_t new_sets;    /* label sets seen for the first time */
} loki_stats;

/* Compiles the `labels` and `structured_metadata` maps (name -> template: literal text with
 * {{ field }} parts; a field alone is "{{ field }}"). Names must be Loki label names
 * ([a-zA-Z_][a-zA-Z0-9_]*). line_json: the line is the whole event as JSON instead of its
 * message. max_label_sets > 0. Borrows nothing. Returns an owned encoder or NULL + err. */
loki_enc *loki_enc_new(const sl_strmap *labels, const sl_strmap *metadata, bool line_json,
                       uint64_t max_label_sets, char *err, size_t errlen);
void loki_enc_free(loki_enc *c);
/* Distinct label sets seen so far (at most max_label_sets, plus the overflow sets). */
uint64_t loki_enc_label_sets(loki_enc *c);

/* Appends one push request for events[0..n) to out: protobuf (logproto.PushRequest,
 * uncompressed) when json is false, the push API's JSON otherwise. Events are grouped by
 * their rendered label set, streams in order of first appearance, entries of a stream
 * sorted by time (stable: equal times keep their order). An event without a time gets
 * now_ns. Thread-safe (the label set bound is shared under a lock). */
void loki_encode(loki_enc *c, sl_buf *out, bool json, sl_event *const *events, size_t n,
                 int64_t now_ns, loki_stats *st);

/* Appends a label value in Loki's label syntax, quotes included: backslash, quote and
 * control characters escaped, invalid UTF-8 replaced by U+FFFD. */
void loki_label_value(sl_buf *out, const char *p, size_t n);
/* True when s is a valid Loki label name. */
bool loki_label_name_ok(const char *s, size_t n);

/* What an answer means. */
typedef enum loki_outcome {
    LOKI_OK = 0,
    LOKI_RETRY,  /* 408, 429, 5xx */
    LOKI_AUTH,   /* 401, 403: retried with the circuit opened (credentials) */
    LOKI_REJECT, /* other 4xx: no retry helps */
    LOKI_TOO_LARGE, /* 413 (Loki's body limit or a proxy's): the request's size refused;
                       rejected like other 4xx, and the batch target shrinks */
    LOKI_HELD,   /* 400 "includes structured metadata, but this feature is disallowed":
                    the sink's structured_metadata against Loki's limits, refused for
                    every event alike; retried with the circuit opened until either
                    changes */
} loki_outcome;

/* Classifies an answer from its status and body (any bytes). *kind is a static metric
 * label: "out_of_order", "too_old", "too_new", "line_too_long", "bad_labels",
 * "rate_limited", "stream_limit", "too_large", "structured_metadata", "http_reject",
 * "http_retry", "http_auth" or "ok". */
loki_outcome loki_classify(long status, const char *body, size_t n, const char **kind);

#endif
