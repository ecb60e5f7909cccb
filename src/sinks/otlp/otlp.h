/* otlp.h - OpenTelemetry logs encoding (OTLP protobuf and OTLP JSON) of sluice events, and
 * the parser of the collector's answer (partial_success). Shared by the sink, tests, fuzz. */
#ifndef SL_OTLP_H
#define SL_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/event.h"

/* How events map onto the log data model. Everything is borrowed. */
typedef struct otlp_map {
    const sl_strmap *resource;      /* static resource attributes (config), may be NULL */
    const sl_strlist *resource_keys; /* extra event fields that belong to the resource */
    const char *severity_field;     /* NULL: the first of level, severity, log.level, lvl */
    const char *body_field;         /* used as body when the message is empty ("body") */
    uint32_t prep_id;               /* records otlp_prepare wrote for this id are copied
                                       (event_prep); 0: every record is encoded here */
    uint32_t seg_id;                /* segments otlp_prepare_segment wrote for this id,
                                       0: none */
} otlp_map;

/* Appends one ExportLogsServiceRequest for events[0..n) to out: protobuf when json is
 * false, OTLP JSON otherwise. Events sharing resource attributes share one ResourceLogs.
 * observed_ns is written as observedTimeUnixNano. Never fails on event content: invalid
 * UTF-8 is replaced, unparsable raw JSON values become strings. */
void otlp_encode(sl_buf *out, bool json, sl_event *const *events, size_t n, const otlp_map *m,
                 int64_t observed_ns);

/* Writes the LogRecord (protobuf or JSON, as otlp_encode would) of every event of b that
 * has no resource or scope field into b's prep buffer, for m->prep_id (event.h,
 * event_prep), with observed_ns as observedTimeUnixNano; otlp_encode copies them.
 * Events with resource or scope fields are left to otlp_encode, which groups them. */
void otlp_prepare(sl_batch *b, bool json, const otlp_map *m, int64_t observed_ns);

/* Compressed ahead (note 8 of otlp_encode.c): when no event of b has a resource or scope
 * field, writes their records, separated as in a request, as deflate segments (net/gz.h)
 * of `per` events each (0: one for all) at gzip `level` into b's prep buffer for
 * m->seg_id, and returns true. Otherwise (or when b was prepared already) writes nothing
 * and returns false. */
bool otlp_prepare_segment(sl_batch *b, bool json, const otlp_map *m, int64_t observed_ns,
                          int level, uint32_t per);

/* When every event of events[0..n) was prepared by otlp_prepare_segment for m->seg_id:
 * writes the gzip'd request to out (replacing its content) from the segments that cover
 * events whole and in order, and from the records of the others written here at `level`
 * with observed_ns; sets *raw_len to its uncompressed size and returns true. Uncompressed,
 * it is the request otlp_encode writes (with each record's observed time). Otherwise
 * returns false and writes nothing. */
bool otlp_encode_segments(sl_buf *out, bool json, sl_event *const *events, size_t n,
                          const otlp_map *m, int level, int64_t observed_ns, size_t *raw_len);

/* Reads an ExportLogsServiceResponse (protobuf or JSON). Returns SL_OK with *rejected
 * (0 when absent) and the error message (may be empty), or SL_ERR_CORRUPT. An empty
 * body is a full success. */
int otlp_parse_response(const char *p, size_t n, bool json, int64_t *rejected, char *msg,
                        size_t msglen);

/* The text of an error answer for a log line or a reason, as one printable line: a
 * collector answers an error with a google.rpc.Status in the request's encoding (protobuf
 * or JSON), whose `message` is taken when the body is one; any other body is shown as it
 * is. */
void otlp_error_text(char *out, size_t outlen, const char *p, size_t n);

#endif
