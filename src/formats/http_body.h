/* http_body.h - turns the body of an HTTP log request (JSON object, JSON array, NDJSON,
 * msgpack, plain text lines) into events. Fuzzed: bad input is an error, never a crash. */
#ifndef SL_HTTP_BODY_H
#define SL_HTTP_BODY_H

#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"
#include "../core/event.h"

typedef enum http_body_kind {
    HTTP_BODY_JSON = 0, /* an object, an array of objects, or NDJSON */
    HTTP_BODY_NDJSON,
    HTTP_BODY_MSGPACK,  /* a map, an array of maps, or a stream of maps */
    HTTP_BODY_TEXT,     /* one event per line */
} http_body_kind;

/* Maps a Content-Type value ("application/json; charset=utf-8") to a kind; returns -1 if
 * it is not one we take. NULL or empty means JSON. */
int http_body_kind_of(const char *content_type, size_t len);

/* Appends the events of [p, p+n) to b: strings copied into b's arena, `tag` (which must
 * outlive b, e.g. copied into its arena) as field `tag`, `now_ns` as time. `scratch` is a
 * reusable arena for the JSON DOM, `json` a reusable buffer. On error nothing is appended
 * and err says what and where ("line 3, byte 17: ..."). Returns SL_OK or SL_ERR_CORRUPT. */
int http_body_parse(sl_batch *b, http_body_kind kind, const char *p, size_t n, sl_str tag,
                    int64_t now_ns, sl_arena *scratch, sl_buf *json, char *err, size_t errlen);

#endif
