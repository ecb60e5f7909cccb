/* otlp_logs.h - the decoder of an OTLP ExportLogsServiceRequest (protobuf, or OTLP's JSON
 * mapping) into sluice events, and the writer of the answers (ExportLogsServiceResponse,
 * google.rpc.Status). Used by the otlp source; fuzzed.
 *
 * Field mapping (what the otlp sink reads back, see docs/ARCHITECTURE.md):
 *   resource attribute k            -> field k
 *   scope name / version            -> otel.scope.name / otel.scope.version
 *   scope attribute k               -> otel.scope.attributes.k
 *   log record attribute k          -> field k
 *   body: string                    -> message; other kinds -> field body (int, float,
 *                                      bool, bytes as base64, kvlist/array as JSON)
 *   severity_text, else the number's canonical text -> severity (string)
 *   severity_number (1-24)          -> severity_number (int)
 *   time_unix_nano, else observed   -> the event time; observed_time_unix_nano (int)
 *   trace_id / span_id (non-zero)   -> trace_id / span_id (lowercase hex)
 *   flags (non-zero)                -> trace_flags (int)
 *   event_name                      -> event.name
 * The event id is (id_stream, index of the record in the request). */
#ifndef SL_OTLP_LOGS_H
#define SL_OTLP_LOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/event.h"

typedef struct otlp_logs_opts {
    size_t max_record_bytes; /* records larger than this (encoded) are refused; 0: no limit */
    int64_t now_ns;          /* event time when a record has neither time */
    uint64_t id_stream;      /* events get ids (id_stream, record index) */
} otlp_logs_opts;

typedef struct otlp_logs_result {
    uint32_t records;  /* log records in the request */
    uint32_t rejected; /* of which refused (not in the batch) */
    char reject_msg[160];
} otlp_logs_result;

/* Decodes the request p[0..n) and appends one event per accepted log record to b.
 * json: OTLP JSON, else protobuf. scratch holds the JSON DOM and the transcoded bytes (the
 * caller resets it). Returns SL_OK, or SL_ERR_CORRUPT with a message naming the message and
 * field at fault; on error b may hold some events, the caller discards it. */
int otlp_logs_decode(sl_batch *b, const char *p, size_t n, bool json, sl_arena *scratch,
                     const otlp_logs_opts *o, otlp_logs_result *r, char *err, size_t errlen);

/* A 64-bit hash of a request body: the event ids of a retried request are the same. */
uint64_t otlp_logs_hash(const void *p, size_t n);

/* Appends an ExportLogsServiceResponse: empty (full success) when rejected is 0. */
void otlp_logs_response(sl_buf *out, bool json, int64_t rejected, const char *msg);
/* Appends a google.rpc.Status {code, message}, the body of OTLP/HTTP error answers. */
void otlp_logs_status(sl_buf *out, bool json, int code, const char *msg);

#endif
