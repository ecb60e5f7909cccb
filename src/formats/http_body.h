/* http_body.h - turns the body of an HTTP log request (JSON object, JSON array, NDJSON,
 * concatenated JSON, msgpack maps or entries, plain text lines) into events. Fuzzed: bad
 * input is an error, never a crash. */
#ifndef SL_HTTP_BODY_H
#define SL_HTTP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/event.h"

typedef enum http_body_kind {
    HTTP_BODY_JSON = 0, /* JSON documents one after another: an object, an array of objects,
                         * NDJSON, or objects back to back (Fluent Bit's json_stream) */
    HTTP_BODY_NDJSON,
    HTTP_BODY_MSGPACK,  /* a map, an array of maps, entries, or a stream of those */
    HTTP_BODY_TEXT,     /* one event per line */
} http_body_kind;

/* Maps a Content-Type value ("application/json; charset=utf-8") to a kind; returns -1 if
 * it is not one we take. NULL or empty means JSON. */
int http_body_kind_of(const char *content_type, size_t len);

/* Appends the events of [p, p+n) to b: strings copied into b's arena, `tag` (which must
 * outlive b, e.g. copied into its arena) as field `tag`. `scratch` is a reusable arena for
 * the JSON DOM, `json` a reusable buffer. On error nothing is appended and err says what
 * and where ("line 3, byte 17: ..."). Returns SL_OK or SL_ERR_CORRUPT.
 *
 * What senders put on the wire decides the shapes (Fluent Bit's out_http, every format):
 * - Time: a msgpack entry's own time; else a record's `time_key` (Fluent Bit's json_date_key,
 *   "date" by default) when it reads as a time - a number of seconds (double or epoch; from
 *   1e11 on milliseconds, epoch_ms) or an RFC 3339 / ISO 8601 string, 'T' or ' ' between
 *   date and time, no zone meaning UTC (iso8601, java_sql_timestamp) - and the key is then
 *   not a field; else, in a JSON record without the time_key, an RFC 3339 "timestamp"
 *   string (Vector's events); else `now_ns`. An empty time_key turns this off.
 * - msgpack entries: [time, record] or, Fluent Bit >= 2.1, [[time, metadata], record]
 *   (time an integer, a float or EventTime). Fluent Bit's group start/end markers
 *   (times -1 and -2) are skipped. Metadata keys become fields fluentbit.metadata.<key>.
 * - JSON records may carry Fluent Bit's "__internal__": {"log_metadata": {...},
 *   "group_attributes": {...}}: fluentbit.metadata.<key> fields and one JSON field
 *   fluentbit.group_attributes.
 * - A record's string `message` (else `log`) is the event's message, in JSON and msgpack. */
int http_body_parse(sl_batch *b, http_body_kind kind, const char *p, size_t n, sl_str tag,
                    sl_str time_key, int64_t now_ns, sl_arena *scratch, sl_buf *json, char *err,
                    size_t errlen);

#endif
