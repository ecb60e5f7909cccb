/* s3.h - the pieces of the `s3` sink that do not talk to the network: the object key
 * template, the plan that cuts a request into objects, the NDJSON object body (plain or
 * gzip) cut into parts, and the reading of S3's XML answers. */
#ifndef SL_S3_H
#define SL_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event.h"
#include "formats/name_tmpl.h"

/* ---- Key template ------------------------------------------------------------------------
 * Literal text, strftime-style parts of the event's own time (UTC: %Y %m %d %H %M %j %%)
 * and {{ field }} substitutions. Rendered keys use only [A-Za-z0-9._-/=]: anything else in
 * a field value becomes '_', a missing field is "unknown", and no segment is empty, "." or
 * ".." (S3 keeps such keys, but signers and clients normalise them differently). */
typedef name_tmpl s3_key_tmpl; /* formats/name_tmpl.h, with the rules above */

/* Compiles `s` (may be ""). Returns SL_OK, or SL_ERR_CONFIG with a message in err. */
int s3_key_compile(s3_key_tmpl *t, const char *s, char *err, size_t errlen);
void s3_key_free(s3_key_tmpl *t);
/* Replaces out's content with the prefix for event e (NUL-terminated, NUL not counted). */
void s3_key_render(const s3_key_tmpl *t, const sl_event *e, sl_buf *out);

/* Appends the object name that follows the prefix: "<first event id>-<n>-<crc>" + ext.
 * The id is hex id_stream-id_seq, or the event's id_str made key-safe (at most 64 bytes);
 * n is the number of events and crc a CRC-32C of every event's ids, time and message, so
 * a key names one exact list of events: a resend of the same events after a crash writes
 * the same bytes under the same key, and any other list of events gets another key. */
void s3_key_name(sl_buf *out, sl_event *const *events, size_t n, const char *ext);

/* ---- Plan ----------------------------------------------------------------------------------
 * A request's events are grouped by rendered prefix (order kept inside a group), and a
 * group is cut into objects of at most max_events events, about max_bytes (event_size) and
 * at most max_age_ns of event time after the object's first event. */
typedef struct s3_object_plan {
    char *prefix;   /* owned */
    size_t *idx;    /* owned: indices into the request's events, in order */
    size_t n;
} s3_object_plan;

typedef struct s3_plan {
    s3_object_plan *obj;
    size_t n, cap;
} s3_plan;

void s3_plan_build(s3_plan *p, const s3_key_tmpl *t, sl_event *const *events, size_t n,
                   uint64_t max_bytes, int64_t max_age_ns);
void s3_plan_free(s3_plan *p);

/* ---- Body ----------------------------------------------------------------------------------
 * NDJSON lines (one JSON object per event, optionally with the id under id_key) are
 * gathered in `raw` and moved to `part` in chunks: as is, or each chunk as one gzip member
 * or zstd frame (a series of members is one valid gzip file, a series of frames one zstd
 * file, so parts can be cut at their boundaries and never hold more than part_size plus
 * one chunk). zstd needs lazy_zstd loaded (the sink's init loads it). */
enum { S3_COMP_NONE = 0, S3_COMP_GZIP = 1, S3_COMP_ZSTD = 2 };

typedef struct s3_body {
    int compression;
    int level;
    size_t chunk;      /* raw bytes per gzip member */
    const char *id_key; /* NULL = no id field */
    sl_buf raw, part, tmp;
    uint64_t raw_bytes; /* every raw byte added (payload) */
    const void *stream; /* whose objects (gz_compress's learned codes): NULL after init */
} s3_body;

void s3_body_init(s3_body *b, int compression, int level, size_t chunk, const char *id_key);
void s3_body_free(s3_body *b);
/* Appends one event's line; may move a chunk to `part`. Returns SL_OK or SL_ERR_NOMEM. */
int s3_body_add(s3_body *b, const sl_event *e);
/* Moves what is left of `raw` to `part` (end of object). */
int s3_body_flush(s3_body *b);

/* ---- Addressing ---------------------------------------------------------------------------- */
/* Whether the bucket can be addressed as a host name (<bucket>.<authority>) under the
 * authority (host[:port]) of an endpoint: not when the host is an IP address (there is no
 * such name), nor when the bucket is no DNS label of [a-z0-9-], nor, over https, when it
 * has dots (the endpoint's wildcard certificate matches one level only). The caller then
 * puts the bucket in the path, as the AWS SDKs do. */
bool s3_virtual_host_ok(const char *bucket, const char *authority, bool https);

/* ---- Answers -------------------------------------------------------------------------------- */
/* Copies the text of the first <tag>...</tag> of an XML answer into out as one printable
 * line, entities decoded (empty when there is none or it is malformed). Never reads past
 * len. The reader is cwl_xml_find, the credentials chain's. */
void s3_xml_get(const char *xml, size_t len, const char *tag, char *out, size_t outlen);

typedef enum s3_outcome {
    S3_OK = 0,
    S3_RETRY,  /* 5xx (InternalError, SlowDown, ServiceUnavailable), 408, 429, no answer */
    S3_AUTH,   /* a signature or key S3 refuses, an expired token: reload, retry, circuit */
    S3_REJECT, /* any other 4xx (AccessDenied, NoSuchBucket, InvalidArgument, ...) */
} s3_outcome;

/* Classifies an answer from its status and S3 error code ("" when none). */
s3_outcome s3_classify(long status, const char *code);

#endif
