/* json.h - JSON encoding of events (NDJSON sinks, DLQ) and a small strict parser
 * (DLQ replay, tests). The parser is fuzzed: it must reject, never crash. */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/buf.h"
#include "../core/event.h"

/* Appends s as a JSON string body (no quotes), escaping per RFC 8259; invalid UTF-8
 * bytes become U+FFFD so output is always valid JSON. */
void json_escape(sl_buf *out, const char *s, size_t n);
/* The ways json_escape scans, for tests comparing them: 16-byte blocks (SSE2, or 8-byte
 * words without it), 32-byte blocks (AVX2) and 32-byte blocks whose quotes are escaped at
 * once (AVX-512 VBMI2), chosen at run time. The last two return false, writing nothing,
 * where the CPU or build lacks them. */
void json_escape_sse2(sl_buf *out, const char *s, size_t n);
bool json_escape_avx2(sl_buf *out, const char *s, size_t n);
bool json_escape_avx512(sl_buf *out, const char *s, size_t n);
/* Appends "2026-11-21T04:58:29.123456789Z". */
void json_format_time(sl_buf *out, int64_t ts_ns);
/* Appends a number: the shortest exact form of f (non-finite values become null). */
void json_write_double(sl_buf *out, double f);
void json_write_int(sl_buf *out, int64_t v);
/* Appends one event as a JSON object: {"timestamp":..., "message":..., <fields>...},
 * fields with dotted keys written flat. A field named "message" or "timestamp" (after any
 * underscores) gets one more leading '_', so no key is written twice; the decoder below
 * takes it away. No trailing newline. */
void json_encode_event(sl_buf *out, const sl_event *e);

/* Parses one JSON object produced by json_encode_event back into an event in `b`
 * (strings copied into b's arena). Returns SL_OK or SL_ERR_CORRUPT. */
int json_decode_event(sl_batch *b, const char *s, size_t n);

/* Minimal DOM for reading JSON (DLQ records, tests). Values live in an arena. */
typedef enum { JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ } json_type;
typedef struct json_value {
    json_type type;
    bool b;
    double num;
    const char *str; size_t len;      /* STR: unescaped, NUL-terminated */
    const char *raw; size_t raw_len;  /* source text of this value */
    struct json_value **items;        /* ARR and OBJ */
    const char **keys;                /* OBJ */
    size_t n;
} json_value;
/* Returns NULL (and a message in err) on invalid JSON or nesting deeper than 64. */
json_value *json_parse(sl_arena *a, const char *s, size_t n, char *err, size_t errlen);
/* Parses the value at the start of s[0..n) and the whitespace after it; *used is where
 * that ends (the next value of a stream of concatenated ones, or n). */
json_value *json_parse_prefix(sl_arena *a, const char *s, size_t n, size_t *used, char *err,
                              size_t errlen);
/* The member key of obj; NULL when obj is NULL, not an object or has no such member. */
const json_value *json_get(const json_value *obj, const char *key);
/* Walks a fixed path of object members from v, one key a step, the list ended by NULL:
 * json_get_path(root, "hits", "hits", NULL) is root.hits.hits. A key is one whole member
 * name, dots included ("index.refresh_interval" is one step). NULL when v is NULL or a
 * step is missing or not an object; with no key, v itself. */
const json_value *json_get_path(const json_value *v, ...) __attribute__((sentinel));
/* Whether the number v is an integer: no fraction or exponent, and it fits int64 (*out). */
bool json_number_is_int(const json_value *v, int64_t *out);
/* Sets f's type and value from v: strings; numbers without fraction or exponent that fit
 * int64 as integers, other finite ones as floats, non-finite as null; booleans; null;
 * arrays and objects as their JSON text. With copy the bytes are copied into b's arena;
 * without, v must already live there (parsed into it) or outlive the batch. */
void json_value_to_field(sl_batch *b, sl_field *f, const json_value *v, bool copy);

/* The value named by a dotted key in e: the field of that key, else a member inside the
 * JSON object a field holds, as a parse of nested JSON leaves it ("kubernetes.labels.app"
 * in a field kubernetes of {"labels":{"app":"web"}}; a member's own dots are matched too,
 * "labels.app.kubernetes.io/name"). Sets *out; unescaped strings go to b's arena. False
 * when there is none. */
bool json_event_get_path(sl_batch *b, const sl_event *e, const char *key, size_t keylen,
                         sl_field *out);

/* One member of a JSON object read by json_scan_object, without a DOM. Strings point
 * into the input when they had no escape, else into the arena; neither is NUL-terminated. */
typedef struct json_member {
    const char *key; size_t keylen;  /* unescaped; cut at an escaped NUL as json_parse does */
    json_type type;
    bool nested;                     /* JSON_ARR/JSON_OBJ: only raw is set (validated text) */
    bool b;
    bool is_int;                     /* NUM without fraction/exponent that fits int64 */
    int64_t i;
    double num;
    const char *str; size_t len;     /* STR: unescaped */
    const char *raw; size_t raw_len; /* source text of the value */
} json_member;
/* Reads the object in s[0..n) (surrounding whitespace allowed) into m[0..max). Accepts
 * exactly what json_parse accepts. Returns the number of members, -1 when s is not valid
 * JSON or not an object, -2 when it has more than max members (use json_parse then; said
 * as soon as a key past max is read, before the rest is checked). */
int json_scan_object(sl_arena *a, const char *s, size_t n, json_member *m, size_t max);
/* The two ways json_scan_object finds the bytes of strings, for tests comparing them:
 * 16-byte compares (SSE2, or a table without it) and 32-byte ones (AVX2, chosen at run
 * time). The second returns false, setting nothing, where the CPU or build has no AVX2. */
int json_scan_object_sse2(sl_arena *a, const char *s, size_t n, json_member *m, size_t max);
bool json_scan_object_avx2(sl_arena *a, const char *s, size_t n, json_member *m, size_t max,
                           int *ret);

#endif
