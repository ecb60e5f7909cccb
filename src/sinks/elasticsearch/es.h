/* es.h - internals of the `elasticsearch` sink, shared by its files: the streaming parser
 * of _bulk responses (es_bulk.c), document, index-name and request-URL encoding
 * (es_encode.c), the requests beside the bulk path (es_conn.c) of index administration
 * (es_admin.c) and of stable names over versioned data streams and schema healing
 * (es_versions.c). */
#ifndef SL_ES_H
#define SL_ES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/event.h"
#include "core/metrics.h"
#include "formats/name_tmpl.h"
#include "net/http_client.h"
#include "net/url.h"

/* ---- _bulk response parser (es_bulk.c) ------------------------------------------------
 * Incremental: feed the body in any chunks as it arrives; each item of `items` is
 * reported once its object closes. Outside input: never trusts lengths, depth or
 * encoding (fuzzed by tests/fuzz/fuzz_es_bulk_response.c). */

#define ES_BULK_MAX_DEPTH 64
#define ES_BULK_TYPE_MAX 96
#define ES_BULK_REASON_MAX 320

/* Called for item number `idx` (0-based, in response order) with its HTTP status (0 when
 * missing) and, for failures, the error type and reason (possibly empty, NUL-terminated,
 * borrowed for the call). */
typedef void (*es_bulk_item_fn)(void *arg, size_t idx, int status, const char *type,
                                const char *reason);

typedef struct es_bulk_parser {
    es_bulk_item_fn fn;
    void *arg;
    int state, after_str, lit_pos;
    const char *lit;
    int depth;
    uint8_t stack[ES_BULK_MAX_DEPTH + 1]; /* '{' or '[' per open container */
    char keys[6][16];                     /* last key seen in objects at depth 1..5 */
    char tok[ES_BULK_REASON_MAX];         /* current string or number (truncated) */
    size_t toklen;
    unsigned uhex, uleft;
    bool failed;
    int errors; /* top-level "errors": -1 unseen, 0 false, 1 true */
    bool in_items, in_error;
    size_t nitems;
    int status;
    char type[ES_BULK_TYPE_MAX];
    char reason[ES_BULK_REASON_MAX];
} es_bulk_parser;

void es_bulk_init(es_bulk_parser *p, es_bulk_item_fn fn, void *arg);
/* Returns 0, or -1 once the input is not valid JSON (sticky). */
int es_bulk_feed(es_bulk_parser *p, const char *data, size_t n);
/* Returns 0 when the document is complete and valid, -1 otherwise. */
int es_bulk_finish(es_bulk_parser *p);

/* ---- Documents and index names (es_encode.c) ----------------------------------------- */

/* A compiled index / data stream name: literal text, strftime-style date parts of the
 * event's own timestamp (UTC: %Y %m %d %H %y %j %%) and {{ field }} substitutions. */
typedef struct es_name_tmpl {
    name_tmpl t;
    bool dynamic; /* has date or field parts */
    bool fields;  /* has field parts (else the name depends on the hour only) */
    char prefix[256]; /* literal text before the first dynamic part (for templates) */
} es_name_tmpl;

/* Compiles `s`. Returns 0, or -1 with a message in err. */
int es_name_compile(es_name_tmpl *t, const char *s, char *err, size_t errlen);
void es_name_free(es_name_tmpl *t);
/* Appends the name for event e to out: field values lowercased, characters Elasticsearch
 * refuses in index names replaced by '_', a missing field written as "unknown". */
void es_name_render(const es_name_tmpl *t, const sl_event *e, sl_buf *out);

typedef struct es_doc_opts {
    bool flatten;      /* one level of keys, dots replaced by '_' */
    bool timestamp;    /* write @timestamp (always true for data streams) */
} es_doc_opts;

/* Per-thread scratch for the encoder; reused between events (no malloc per event once
 * warm). Owned by the caller: es_scratch_free. */
typedef struct es_scratch es_scratch;
es_scratch *es_scratch_new(void);
void es_scratch_free(es_scratch *s);
/* Starts a run of documents whose values keep their bytes while the run lasts (one request
 * body: its events' batches are held): equal values are then recognised by their pointer
 * and rendered once. Call it again before events of an earlier run may have been freed. */
void es_scratch_begin(es_scratch *s);

/* Appends one document: {"@timestamp":..., "message":..., fields...}. Dotted keys become
 * nested objects (or flat keys with '_' when flatten), keys are sanitised (empty
 * segments dropped, an empty key becomes "_empty", at most 255 bytes), a raw JSON object
 * field is merged key by key, non-finite numbers become null, invalid UTF-8 is repaired.
 * A key that is both a value and an object keeps the value under "<key>.value". */
void es_encode_doc(sl_buf *out, const sl_event *e, const es_doc_opts *o, es_scratch *s);
/* Appends the event's stable id (hex id_stream-id_seq, or id_str escaped for JSON). */
void es_encode_id(sl_buf *out, const sl_event *e);

/* ---- Request URLs (es_encode.c) ---------------------------------------------------------
 * Every request keeps its endpoint's path prefix and query string (url.h), then carries
 * the `query:` option's parameters, then its own. */

/* The `query:` option's pairs as one encoded string into out (reset, NUL-terminated).
 * A key the sink sets itself (filter_path, and pipeline when the `pipeline` option is
 * set) is refused. Returns SL_OK or SL_ERR_CONFIG with a message in err. */
int es_query_params(sl_buf *out, const sl_strmap *query, bool has_pipeline, char *err,
                    size_t errlen);
/* The URL of `api` ("_bulk", "_index_template/<name>", "" for GET /; already encoded, see
 * url_encode) on endpoint ep into out (reset, NUL-terminated): `params` (from
 * es_query_params) then `extra` (encoded; NULL for none) after the endpoint's query. */
void es_request_url(sl_buf *out, const url_endpoint *ep, const char *api, const char *params,
                    const char *extra);
/* The parameters of a _bulk request (filter_path, pipeline) into out (reset). */
void es_bulk_params(sl_buf *out, const char *pipeline);

/* ---- Requests beside the bulk path (es_conn.c) ---------------------------------------- */

#define ES_CONN_MAX_HEADERS 4

/* How the side modules reach the cluster, filled once by the sink. Borrowed: es_conn_open
 * copies what it keeps. */
typedef struct es_conn_params {
    const char *id;             /* component id, for log lines */
    sl_metrics *metrics;        /* outlives the modules */
    const char *url;            /* one endpoint URL (prefix and query kept) */
    const char *params;         /* the `query:` option, encoded */
    const char *const *headers; /* Authorization lines, at most ES_CONN_MAX_HEADERS */
    size_t nheaders;
    const char *user, *password;
    const char *ca_file, *cert_file, *key_file; /* tls: as the bulk requests send them */
    bool insecure;              /* !tls.verify */
    int64_t timeout_ms;
} es_conn_params;

/* A module's own copy of es_conn_params and its HTTP client (one thread's at a time). */
typedef struct es_conn {
    const char *id;             /* borrowed, as in es_conn_params */
    sl_metrics *metrics;        /* borrowed */
    char *user, *password, *ca_file, *cert_file, *key_file, *params;
    char *headers[ES_CONN_MAX_HEADERS];
    size_t nheaders;
    bool insecure;
    int64_t timeout_ms;
    url_endpoint ep;
    http_client *hc;
} es_conn;

/* Copies p into c. Returns SL_OK, or SL_ERR_CONFIG for a bad URL with a message in err
 * (es_conn_close frees what was copied either way). */
int es_conn_open(es_conn *c, const es_conn_params *p, char *err, size_t errlen);
void es_conn_close(es_conn *c);
/* One request to `api` (as es_request_url) with Content-Type ctype (NULL: JSON); the answer
 * in resp (caller frees its body). Returns SL_OK on a 2xx; any other status is SL_ERR_IO
 * with resp->status set, a transport error SL_ERR_IO with 0; err says why. */
int es_conn_do(es_conn *c, const char *method, const char *api, const char *extra,
               const sl_buf *body, const char *ctype, http_response *resp, char *err,
               size_t errlen);

/* ---- Index administration (es_admin.c) ----------------------------------------------- */

/* The `refresh_tuning` option of the sink: hot/cold refresh_interval by newest @timestamp. */
typedef struct es_refresh_config {
    int64_t every_ms; /* 0 = off */
    int64_t cold_age_days;
    char *hot_interval, *cold_interval;
} es_refresh_config;
extern const sl_option es_refresh_options[];

/* True for an Elasticsearch time value as index settings take it: digits and a unit
 * (nanos, micros, ms, s, m, h, d), or "-1" / "0". */
bool es_time_value_ok(const char *v);

/* What the tuner needs of its sink; every string is copied by es_admin_start. */
typedef struct es_admin_params {
    es_conn_params conn;
    const char *pattern;           /* index pattern tuned, e.g. "cloudwatch-*" */
    const es_refresh_config *cfg;  /* borrowed: outlives the tuner */
} es_admin_params;

typedef struct es_admin es_admin;
/* Starts the tuner thread (a pass at once, then every cfg->every_ms). NULL on failure. */
es_admin *es_admin_start(const es_admin_params *p);
/* Stops and joins the thread, frees everything; NULL is fine. */
void es_admin_stop(es_admin *a);
/* Appends ,"refresh_tuning":{...} (passes, changes, hot/cold counts, last error). */
void es_admin_status_json(es_admin *a, sl_buf *out);

/* ---- Versioned data streams and schema healing (es_versions.c) ------------------------ */

enum { ES_HEAL_OFF = 0, ES_HEAL_ON = 1, ES_HEAL_DRY_RUN = 2 };

/* Rewrites the field `field` (a dotted path, as a mapping error names it) of the JSON
 * document doc[0..len) into out (reset): with want_type NULL, or when the value cannot be
 * converted to want_type ("long", "double", "keyword", "boolean"), the value moves to
 * "<field><suffix>" as a string (JSON text for arrays, objects and numbers); a numeric
 * string becomes a number, a number or boolean a string, when want_type asks for it.
 * Returns 0 when the document had no such field (out is a copy), 1 converted, 2 moved,
 * -1 when doc is not a JSON object. */
int es_fix_field(const char *doc, size_t len, const char *field, const char *want_type,
                 const char *suffix, sl_buf *out);
/* The field a mapping refusal's reason names ("failed to parse field [a.b] of type ...",
 * "object mapping for [a] tried to parse ..."), into out. Returns false when none. */
bool es_mapping_error_field(const char *reason, char *out, size_t outlen);

typedef struct es_vers_params {
    es_conn_params conn;
    const char *prefix;            /* versions are <prefix><stable name>-v1 and -v2 */
    const char *template_base;     /* per-name templates: <template_base>-<stable name> */
    int heal;                      /* ES_HEAL_* */
    const char *suffix;            /* renamed fields: <field><suffix> */
    int64_t every_ms;              /* heal pass interval */
    const es_name_tmpl *name;      /* borrowed: the `index` option, which tells the log groups
                                      a stable name holds (re-reads; NULL: copy only) */
} es_vers_params;

typedef struct es_vers es_vers;
/* Every string is copied. NULL on a bad endpoint (checked at init). */
es_vers *es_vers_new(const es_vers_params *p);
/* Starts the heal thread (a pass every every_ms) when healing is on or dry_run. */
void es_vers_start(es_vers *v);
void es_vers_free(es_vers *v);
/* A send holds the module shared for its whole duration; a repair holds it exclusively
 * to turn dual writes on (so every send that started without them has finished) and to
 * swap the alias (so no send is between its two writes). */
void es_vers_enter(es_vers *v);
void es_vers_leave(es_vers *v);
/* Where events of stable name `name` go: the active version into act, and the standby
 * into sb while a repair copies into it (else sb is left empty); both reset first. The
 * first sight of a name sets it up (template, data stream, alias; or learns the alias's
 * write index after a restart). Caller is entered. Returns SL_OK, or SL_ERR_IO with why. */
int es_vers_targets(es_vers *v, const char *name, sl_buf *act, sl_buf *sb, char *why,
                    size_t whylen);
/* A live document of `name` was written with `field` renamed (schema healing of a refused
 * item): the next pass pins the field's type in the name's template. */
void es_vers_renamed(es_vers *v, const char *index, const char *field);
/* A standby write of a repair was refused: the repair is abandoned (the alias stays). */
void es_vers_standby_failed(es_vers *v, const char *standby, const char *why);
/* Appends ,"versions":{...}. */
void es_vers_status_json(es_vers *v, sl_buf *out);

#endif
