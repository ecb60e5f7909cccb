/* es_sink.c - the `elasticsearch` sink: _bulk NDJSON over libcurl's multi interface to
 * several nodes, per-item outcomes from the streamed response, 413 splitting, templates.
 *
 * Notes on the design
 *
 *  1. One http_multi loop per sink drives every request; runtime workers encode, submit
 *     and wait, so `concurrency` requests share keep-alive connections and no thread is
 *     made per request. Per-request scratch (encoder, body, gzip, reasons) comes from a
 *     free list owned by the sink: nothing is allocated per event once warm.
 *  2. A batch is encoded in pieces of about bulk_max_bytes, each sent as one _bulk request
 *     before the next is encoded, so a worker holds one small body (in cache when libcurl
 *     copies it out) instead of the whole batch's. A piece that fails as a whole (transport
 *     error, 429/5xx, 401/403) ends the send: the rest is retried with it, not sent.
 *     offs[i] is where event i's action line starts in its piece, so a 413 resends the two
 *     halves as slices of the same body (recursively, down to one event, which is then
 *     rejected as too large).
 *  3. Each event's outcome: 2xx -> OK; 409 on `create` -> OK (already indexed: the
 *     document id is the event's stable id, so a replayed batch is not a duplicate);
 *     429 / 5xx -> RETRY (only those items go again); other 4xx -> REJECT "type: reason"
 *     (to the DLQ). Whole-request 429/5xx, timeouts and connection errors -> RETRY of
 *     the range; 401/403 -> RETRY with open_circuit (one loud log line per episode);
 *     another 4xx -> REJECT (the runtime bisects); a response that cannot be parsed or
 *     whose item count differs -> RETRY (creates make that safe).
 *  4. Endpoints are tried round-robin; a node that failed at the transport level or with
 *     503 is skipped for a backoff (0.5 s doubling to 30 s) unless every node is down.
 *  5. Setup before the first bulk request, when it matters (manage_templates or
 *     mode: data_stream): GET / names the server and version; then the template is
 *     installed - composable `_index_template` on Elasticsearch >= 7.8 and OpenSearch,
 *     legacy `_template` before. Data streams need Elasticsearch >= 7.9 or OpenSearch:
 *     on an older node the sink holds its events (RETRY with open_circuit, one loud
 *     line) and asks again at each probe. Until setup succeeds every send is a RETRY.
 *     A GET / that is refused (a writer without the monitor privilege) is taken as a
 *     current release.
 *  6. refresh_tuning (es_admin.c): a thread of its own, started by the first tick, sets
 *     refresh_interval per backing index (hot or cold by its newest @timestamp) on the
 *     indices the `index` name's literal prefix matches; the bulk path never waits for it.
 *  7. versioned (es_versions.c, whose header holds the state machine): the rendered name
 *     is a stable alias; events go to its active data stream, and during a repair to the
 *     standby first (per piece, a request of their own before the piece's active one; a
 *     standby item that is not written makes the rest of the send a RETRY, creates make
 *     that harmless). A send holds the versions module shared while it runs.
 *  8. schema_heal: items refused with mapper_parsing_exception / document_parsing_exception
 *     have the field the reason names moved to <field><suffix> as a string and are sent
 *     again within the same send, right after their piece (up to 4 fields a document), so they do not reach the
 *     DLQ; dry_run only says so.
 *  9. Compressed ahead (net/gz_prep.h), with gzip on the default engine and neither
 *     versioned nor schema_heal (whose requests rewrite lines): `prepare` writes the lines
 *     of runs of an eighth of batch.max_events events of a batch (requests are cut where
 *     runs start), cut again at bulk_max_bytes, and compresses each run as a deflate
 *     segment on the routing thread. A piece of whole segments is sent as they are, joined into one gzip
 *     member; events of a run the request cuts are encoded here as before. A joined
 *     piece refused with 413 goes again from encoded bodies, which note 2 splits. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "es.h"
#include "formats/json.h"
#include "net/gz.h"
#include "net/gz_prep.h"
#include "net/http_client.h"
#include "net/http_multi.h"

/* snprintf whose truncation is intended (reasons and log excerpts are bounded). */
#define ES_FMT(dst, cap, ...)                    \
    do {                                         \
        if (snprintf(dst, cap, __VA_ARGS__) < 0) \
            (dst)[0] = '\0';                      \
    } while (0)

enum { ES_MODE_INDEX = 0, ES_MODE_DATA_STREAM = 1 };
enum { ES_ID_STABLE = 0, ES_ID_NONE = 1 };
enum { ES_ACTION_CREATE = 0, ES_ACTION_INDEX = 1 };
enum { ES_COMP_GZIP = 0, ES_COMP_NONE = 1 };

typedef struct es_auth_config {
    char *user, *password, *api_key, *bearer;
} es_auth_config;

typedef struct es_config {
    sl_strlist endpoints;
    char *endpoint;
    int mode;
    char *index;
    int id;
    int action;
    int compression;
    int64_t compression_level;
    int gzip_engine;
    int64_t timeout_ms;
    uint64_t bulk_max_bytes;
    es_auth_config auth;
    http_tls_config tls;
    bool flatten;
    bool manage_templates;
    char *template_name;
    char *pipeline;
    sl_strmap query;
    es_refresh_config refresh_tuning;
    bool versioned;
    char *versioned_prefix;
    int schema_heal;
    char *schema_heal_suffix;
    int64_t schema_heal_interval_ms;
} es_config;

static const char *const es_modes[] = {"index", "data_stream", NULL};
static const char *const es_ids[] = {"stable", "none", NULL};
static const char *const es_actions[] = {"create", "index", NULL};
static const char *const es_comps[] = {"gzip", "none", NULL};
static const char *const es_engines[] = {"auto", "zlib", NULL};
static const char *const es_heals[] = {"off", "on", "dry_run", NULL};

static const sl_option es_auth_options[] = {
    {"user", SL_OPT_STR, offsetof(es_auth_config, user), NULL, 0, NULL, NULL, 0, 0,
     "basic auth user"},
    {"password", SL_OPT_STR, offsetof(es_auth_config, password), NULL, 0, NULL, NULL, 0, 0,
     "basic auth password"},
    {"api_key", SL_OPT_STR, offsetof(es_auth_config, api_key), NULL, 0, NULL, NULL, 0, 0,
     "API key: id:key, or its base64 (the encoded value Elasticsearch gives) "
     "(Authorization: ApiKey ...)"},
    {"bearer", SL_OPT_STR, offsetof(es_auth_config, bearer), NULL, 0, NULL, NULL, 0, 0,
     "bearer token (Authorization: Bearer ...)"},
    SL_OPT_END,
};

static const sl_option es_options[] = {
    {"endpoints", SL_OPT_STRLIST, offsetof(es_config, endpoints), NULL, 0, NULL, NULL, 0, 0,
     "node URLs (http:// or https://), used round-robin with health marking; a path prefix "
     "and query string are kept on every request"},
    {"endpoint", SL_OPT_STR, offsetof(es_config, endpoint), NULL, 0, NULL, NULL, 0, 0,
     "a single node URL (same as endpoints: [url])"},
    {"mode", SL_OPT_ENUM, offsetof(es_config, mode), "index", 0, es_modes, NULL, 0, 0,
     "index: write to `index`; data_stream: `index` names a data stream (create actions)"},
    {"index", SL_OPT_STR, offsetof(es_config, index), NULL, 0, NULL, NULL, 0, 0,
     "index or data stream name: %Y %m %d %H %y %j from the event's timestamp (UTC) and "
     "{{ field }} substitutions, lower case (default logs-%Y.%m.%d, or logs-sluice-default "
     "for data streams)"},
    {"id", SL_OPT_ENUM, offsetof(es_config, id), "stable", 0, es_ids, NULL, 0, 0,
     "stable: _id is the event's stable id, so a resent batch makes no duplicate; none: "
     "Elasticsearch assigns ids"},
    {"action", SL_OPT_ENUM, offsetof(es_config, action), "create", 0, es_actions, NULL, 0, 0,
     "bulk action in index mode (data streams always use create)"},
    {"compression", SL_OPT_ENUM, offsetof(es_config, compression), "gzip", 0, es_comps, NULL,
     0, 0, "request body compression"},
    {"compression_level", SL_OPT_INT, offsetof(es_config, compression_level), "1", 0, NULL,
     NULL, 1, 9, "gzip level (1 is fastest)"},
    {"gzip_engine", SL_OPT_ENUM, offsetof(es_config, gzip_engine), "auto", 0, es_engines,
     NULL, 0, 0, "auto: ISA-L igzip when built with it, else zlib"},
    {"timeout_ms", SL_OPT_DURATION, offsetof(es_config, timeout_ms), "30000", 0, NULL, NULL, 1,
     3600000, "whole-request timeout"},
    {"bulk_max_bytes", SL_OPT_SIZE, offsetof(es_config, bulk_max_bytes), "1MiB", 0, NULL, NULL,
     4096, (int64_t)1 << 30,
     "bytes of one _bulk body before compression: a larger batch goes as several _bulk "
     "requests in turn (the last may take half as much again), so encoded bodies in "
     "flight stay small"},
    {"auth", SL_OPT_OBJECT, offsetof(es_config, auth), NULL, 0, NULL, es_auth_options, 0, 0,
     "user + password (basic), api_key, or bearer"},
    {"tls", SL_OPT_OBJECT, offsetof(es_config, tls), NULL, 0, NULL, http_tls_options, 0, 0,
     "TLS client options for https:// endpoints"},
    {"flatten", SL_OPT_BOOL, offsetof(es_config, flatten), "false", 0, NULL, NULL, 0, 0,
     "write every field at the top level with dots replaced by '_' (no objects)"},
    {"manage_templates", SL_OPT_BOOL, offsetof(es_config, manage_templates), "false", 0, NULL,
     NULL, 0, 0, "install an index template (with data_stream for data streams) on start"},
    {"template_name", SL_OPT_STR, offsetof(es_config, template_name), NULL, 0, NULL, NULL, 0,
     0, "name of the managed template (default sluice-<sink id>)"},
    {"pipeline", SL_OPT_STR, offsetof(es_config, pipeline), NULL, 0, NULL, NULL, 0, 0,
     "ingest pipeline for every document (one the node lacks holds them, circuit open, "
     "until it is made)"},
    {"query", SL_OPT_STRMAP, offsetof(es_config, query), NULL, 0, NULL, NULL, 0, 0,
     "parameters added (URL-encoded) to the query string of every request, after the "
     "endpoint's own (e.g. _msg_field for VictoriaLogs)"},
    {"refresh_tuning", SL_OPT_OBJECT, offsetof(es_config, refresh_tuning), NULL, 0, NULL,
     es_refresh_options, 0, 0,
     "hot/cold refresh_interval of the written indices by their newest @timestamp (on when "
     "`every` is set)"},
    {"versioned", SL_OPT_BOOL, offsetof(es_config, versioned), "false", 0, NULL, NULL, 0, 0,
     "the rendered `index` name is an alias over two data streams, <versioned_prefix><name>-v1 "
     "and -v2: the active one and the standby a repair rebuilds before the alias is swapped"},
    {"versioned_prefix", SL_OPT_STR, offsetof(es_config, versioned_prefix), "sluice-", 0, NULL,
     NULL, 0, 0, "prefix of the versioned data streams' names (keeps them out of the readers' "
     "wildcard over the stable names)"},
    {"schema_heal", SL_OPT_ENUM, offsetof(es_config, schema_heal), "off", 0, es_heals, NULL, 0,
     0, "on: documents refused for a mapping conflict are sent again with the field renamed, "
     "and (versioned) conflicting types across backing indices are rebuilt into the standby by "
     "consensus; dry_run: say what would be done"},
    {"schema_heal_suffix", SL_OPT_STR, offsetof(es_config, schema_heal_suffix), "_str", 0, NULL,
     NULL, 0, 0, "suffix of a renamed field (statusCode -> statusCode_str)"},
    {"schema_heal_interval", SL_OPT_DURATION, offsetof(es_config, schema_heal_interval_ms),
     "5m", 0, NULL, NULL, 100, 366LL * 86400000,
     "how often the versions' mappings are checked for conflicts"},
    SL_OPT_END,
};

typedef struct es_endpoint {
    url_endpoint u;   /* prefix and query kept for every request (url.h) */
    const char *base; /* u.shown: origin and prefix, for log lines */
    char *bulk_url;
    _Atomic int64_t down_until; /* monotonic ms */
    atomic_int fails;
} es_endpoint;

/* Scratch of one request, reused from the sink's free list. */
typedef struct es_req {
    struct es_req *next;
    es_scratch *enc;
    sl_buf body, gz, reasons, head, name;
    sl_buf vact, vsb;  /* versions of the current name (note 7) */
    uint8_t *dual;     /* per event: also goes to a standby */
    size_t *offs; /* n + 1 entries */
    uint32_t *roff; /* per event: offset of its reason in `reasons` + 1, 0 = none */
    size_t cap;
    /* response state, written by the loop thread while the worker waits */
    es_bulk_parser parser;
    size_t lo, n;      /* range being sent */
    uint8_t *st;       /* item_status of the whole send */
    const atomic_bool *cancel; /* the send's stop deadline (sl_send_result.cancel) */
    bool mismatch;
    bool nopipe; /* an item was refused for want of the ingest pipeline */
    size_t nretry_items, nreject_items, nconflict;
} es_req;

typedef struct es_keep {
    pthread_t th;
    char *p;
    struct es_keep *next;
} es_keep;

typedef struct es_sink {
    const es_config *cfg;
    const sl_component_ctx *cc;
    _Atomic(http_multi *) http; /* started by the first send */
    es_endpoint *eps;
    size_t neps;
    atomic_uint rr;
    es_name_tmpl name;
    char *params; /* the `query:` option, encoded (es_query_params) */
    char **headers;
    size_t nheaders;
    /* How requests beside the bulk path reach the cluster (setup, index administration,
     * versions): filled once at init; borrows cfg, params and headers. */
    es_conn_params conn;
    const char *auth[ES_CONN_MAX_HEADERS]; /* conn's headers: the Authorization lines */
    es_doc_opts doc;
    pthread_mutex_t mu; /* free list, templates */
    es_req *free_reqs;
    es_keep *keeps; /* per-thread item reasons (see keep_set) */
    atomic_bool templates_ok; /* setup (note 5) done */
    bool vknown;              /* under mu: the server's version was read */
    bool opensearch;
    int vmajor, vminor;
    char product[64];         /* "Elasticsearch 8.11.0", for log lines */
    bool ds_logged;           /* under mu: "no data streams" was said */
    atomic_bool auth_failed; /* a 401/403 episode was logged */
    atomic_bool tls_failed;  /* a TLS failure episode was logged */
    atomic_bool pipe_failed; /* a missing ingest pipeline episode was logged */
    atomic_bool blocked;     /* a cluster-wide write block episode was logged */
    _Atomic int64_t log_parse_ms; /* last "unparseable response" log line */
    pthread_mutex_t admin_mu;     /* admin, admin_started (tick, status and destroy) */
    es_admin *admin;              /* note 6 */
    bool admin_started;
    char admin_pattern[260];
    es_vers *vers;                /* note 7; NULL unless versioned */
    uint32_t seg_id;              /* note 9: the prep id of segments, 0: none */
    _Atomic int64_t heal_log_ms;  /* last "renamed" log line (note 8) */
} es_sink;

/* ---- Setup ------------------------------------------------------------------------------ */

static void add_header(es_sink *s, const char *fmt, const char *v)
{
    size_t len = strlen(fmt) + strlen(v) + 1;
    char *h = sl_xmalloc(len);
    snprintf(h, len, fmt, v);
    s->headers = sl_xrealloc(s->headers, (s->nheaders + 1) * sizeof *s->headers);
    s->headers[s->nheaders++] = h;
}

static void es_destroy(void *self)
{
    es_sink *s = self;
    if (!s)
        return;
    es_admin_stop(s->admin); /* before anything it borrows */
    es_vers_free(s->vers);
    pthread_mutex_destroy(&s->admin_mu);
    http_multi_free(atomic_load(&s->http));
    for (size_t i = 0; i < s->neps; i++) {
        url_endpoint_free(&s->eps[i].u);
        free(s->eps[i].bulk_url);
    }
    free(s->eps);
    free(s->params);
    for (size_t i = 0; i < s->nheaders; i++)
        free(s->headers[i]);
    free(s->headers);
    es_name_free(&s->name);
    while (s->free_reqs) {
        es_req *r = s->free_reqs;
        s->free_reqs = r->next;
        es_scratch_free(r->enc);
        buf_free(&r->body);
        buf_free(&r->gz);
        buf_free(&r->reasons);
        buf_free(&r->head);
        buf_free(&r->name);
        buf_free(&r->vact);
        buf_free(&r->vsb);
        free(r->dual);
        free(r->offs);
        free(r->roff);
        free(r);
    }
    while (s->keeps) {
        es_keep *k = s->keeps;
        s->keeps = k->next;
        free(k->p);
        free(k);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int add_endpoint(es_sink *s, const char *url, char *err, size_t errlen)
{
    char e2[300];
    es_endpoint *e = &s->eps[s->neps];
    if (url_endpoint_parse(&e->u, url, e2, sizeof e2) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: endpoint %s", s->cc->id, e2);
    s->neps++;
    e->base = e->u.shown;
    sl_buf extra = SL_BUF_INIT, u = SL_BUF_INIT;
    es_bulk_params(&extra, s->cfg->pipeline);
    es_request_url(&u, &e->u, "_bulk", s->params, extra.p);
    e->bulk_url = sl_xstrdup(u.p);
    buf_free(&extra);
    buf_free(&u);
    return SL_OK;
}

static int es_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const es_config *c = config;
    es_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = c;
    s->cc = cc;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->admin_mu, NULL);
    int rc = SL_OK;
    size_t n = c->endpoints.n + (c->endpoint ? 1 : 0);
    if (n == 0) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: set endpoints (or endpoint)", cc->id);
        goto fail;
    }
    sl_buf params = SL_BUF_INIT;
    char e1[200];
    rc = es_query_params(&params, &c->query, c->pipeline != NULL, e1, sizeof e1);
    s->params = sl_xstrdup(params.p);
    buf_free(&params);
    if (rc != SL_OK) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, e1);
        goto fail;
    }
    s->eps = sl_xcalloc(n, sizeof *s->eps);
    for (size_t i = 0; i < c->endpoints.n && rc == SL_OK; i++)
        rc = add_endpoint(s, c->endpoints.v[i], err, errlen);
    if (rc == SL_OK && c->endpoint)
        rc = add_endpoint(s, c->endpoint, err, errlen);
    if (rc != SL_OK)
        goto fail;
    int nauth = !!c->auth.user + !!c->auth.api_key + !!c->auth.bearer;
    if (nauth > 1 || (c->auth.password && !c->auth.user)) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                       "%s: auth takes one of user/password, api_key or bearer", cc->id);
        goto fail;
    }
    const char *idx = c->index ? c->index
                               : c->mode == ES_MODE_DATA_STREAM ? "logs-sluice-default"
                                                                : "logs-%Y.%m.%d";
    char e2[200];
    if (es_name_compile(&s->name, idx, e2, sizeof e2) != SL_OK) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, e2);
        goto fail;
    }
    add_header(s, "Content-Type: %s", "application/x-ndjson");
    if (c->compression == ES_COMP_GZIP)
        add_header(s, "Content-Encoding: %s", "gzip");
    add_header(s, "Accept-Encoding: %s", "identity");
    if (c->auth.api_key) {
        sl_buf k = SL_BUF_INIT;
        http_api_key_header(&k, c->auth.api_key); /* id:key goes as its base64 */
        buf_putc(&k, '\0');
        add_header(s, "%s", k.p);
        buf_free(&k);
    }
    if (c->auth.bearer)
        add_header(s, "Authorization: Bearer %s", c->auth.bearer);
    for (size_t i = 0; i < s->nheaders; i++)
        if (strpbrk(s->headers[i], "\r\n")) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: line break in a header value", cc->id);
            goto fail;
        }
    s->conn = (es_conn_params){
        .id = cc->id, .metrics = cc->metrics, .headers = s->auth,
        .url = c->endpoints.n ? c->endpoints.v[0] : c->endpoint, .params = s->params,
        .user = c->auth.user, .password = c->auth.password, .ca_file = c->tls.ca_file,
        .cert_file = c->tls.cert_file, .key_file = c->tls.key_file,
        .insecure = !c->tls.verify, .timeout_ms = c->timeout_ms,
    };
    for (size_t i = 0; i < s->nheaders && s->conn.nheaders < ES_CONN_MAX_HEADERS; i++)
        if (strncmp(s->headers[i], "Authorization:", 14) == 0)
            s->auth[s->conn.nheaders++] = s->headers[i];
    if ((rc = http_tls_check(&c->tls, cc->check_only, err, errlen)) != SL_OK)
        goto fail;
    const es_refresh_config *rt = &c->refresh_tuning;
    if (rt->every_ms > 0) {
        const char *bad = !es_time_value_ok(rt->hot_interval) ? rt->hot_interval
                          : !es_time_value_ok(rt->cold_interval) ? rt->cold_interval : NULL;
        if (bad) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: refresh_tuning: '%s' is not a time "
                           "value (digits and a unit: 500ms, 1s, 30s, 5m; or -1)", cc->id,
                           bad ? bad : "");
            goto fail;
        }
        if (!s->name.prefix[0]) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: refresh_tuning needs an index name "
                           "that starts with literal text (the pattern it tunes)", cc->id);
            goto fail;
        }
        snprintf(s->admin_pattern, sizeof s->admin_pattern, "%s%s", s->name.prefix,
                 s->name.dynamic ? "*" : "");
    }
    if (c->versioned) {
        if (!c->versioned_prefix || !c->versioned_prefix[0] ||
            strpbrk(c->versioned_prefix, "\\/*?\"<>| ,#:")) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: versioned_prefix must be non-empty "
                           "text an index name may start with", cc->id);
            goto fail;
        }
        if (c->id == ES_ID_NONE) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: versioned needs id: stable (a repair "
                           "copies documents by _id and a resend must not duplicate)", cc->id);
            goto fail;
        }
        char tb[200];
        snprintf(tb, sizeof tb, "%s", c->template_name ? c->template_name : "");
        if (!tb[0])
            snprintf(tb, sizeof tb, "sluice-%s", cc->id);
        es_vers_params vp = {
            .conn = s->conn,
            .prefix = c->versioned_prefix, .template_base = tb, .heal = c->schema_heal,
            .suffix = c->schema_heal_suffix ? c->schema_heal_suffix : "_str",
            .every_ms = c->schema_heal_interval_ms, .name = &s->name,
        };
        s->vers = es_vers_new(&vp);
        if (!s->vers) {
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: versioned: bad endpoint", cc->id);
            goto fail;
        }
    }
    if (c->schema_heal != ES_HEAL_OFF &&
        (!c->schema_heal_suffix || !c->schema_heal_suffix[0] ||
         strpbrk(c->schema_heal_suffix, ".\"\\"))) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: schema_heal_suffix must be non-empty, "
                       "without '.', '\"' or '\\'", cc->id);
        goto fail;
    }
    s->doc.flatten = c->flatten;
    s->doc.timestamp = true;
    /* Note 9: documents compressed ahead, when a request's bodies are its events' lines
     * as they are (no standby copies, no healed documents) and gzip is the default engine. */
    if (c->compression == ES_COMP_GZIP && c->gzip_engine == 0 && !c->versioned &&
        c->schema_heal == ES_HEAL_OFF)
        s->seg_id = prep_id_new();
    atomic_store(&s->templates_ok, !c->manage_templates && c->mode != ES_MODE_DATA_STREAM &&
                                       !c->versioned);
    *self = s;
    return SL_OK;
fail:
    es_destroy(s);
    return rc;
}

/* ---- Requests --------------------------------------------------------------------------- */

static es_req *req_get(es_sink *s, size_t n)
{
    pthread_mutex_lock(&s->mu);
    es_req *r = s->free_reqs;
    if (r)
        s->free_reqs = r->next;
    pthread_mutex_unlock(&s->mu);
    if (!r) {
        r = sl_xcalloc(1, sizeof *r);
        r->enc = es_scratch_new();
    }
    if (r->cap < n + 1) {
        r->cap = n + 1;
        r->offs = sl_xrealloc(r->offs, r->cap * sizeof *r->offs);
        r->roff = sl_xrealloc(r->roff, r->cap * sizeof *r->roff);
        r->dual = sl_xrealloc(r->dual, r->cap);
    }
    buf_reset(&r->reasons);
    memset(r->roff, 0, (n + 1) * sizeof *r->roff);
    return r;
}

static void req_put(es_sink *s, es_req *r)
{
    /* Do not keep a huge buffer from one outsized request forever. */
    if (r->body.cap > (64u << 20))
        buf_free(&r->body);
    if (r->gz.cap > (64u << 20))
        buf_free(&r->gz);
    pthread_mutex_lock(&s->mu);
    r->next = s->free_reqs;
    s->free_reqs = r;
    pthread_mutex_unlock(&s->mu);
}

static es_endpoint *ep_pick(es_sink *s)
{
    unsigned start = atomic_fetch_add(&s->rr, 1);
    int64_t now = sl_mono_ms();
    es_endpoint *best = NULL;
    for (size_t k = 0; k < s->neps; k++) {
        es_endpoint *e = &s->eps[(start + k) % s->neps];
        int64_t du = atomic_load(&e->down_until);
        if (du <= now)
            return e;
        if (!best || du < atomic_load(&best->down_until))
            best = e;
    }
    return best; /* all down: the one back soonest */
}

static void ep_fail(es_sink *s, es_endpoint *e, const char *why)
{
    int f = atomic_fetch_add(&e->fails, 1) + 1;
    int64_t ms = 500;
    for (int i = 1; i < f && ms < 30000; i++)
        ms *= 2;
    ms = SL_MIN(ms, 30000);
    int64_t prev = atomic_exchange(&e->down_until, sl_mono_ms() + ms);
    if (s->neps > 1 && prev <= sl_mono_ms())
        log_warn(s->cc->id, "node %s marked down for %lld ms: %s", e->base, (long long)ms, why);
}

static void ep_ok(es_endpoint *e)
{
    if (atomic_load(&e->fails)) {
        atomic_store(&e->fails, 0);
        atomic_store(&e->down_until, 0);
    }
}

/* One loud line per episode of TLS failures (refused client certificate, untrusted
 * server); the episode ends with the next successful request. */
static void tls_failed(es_sink *s, const char *why)
{
    metrics_error(s->cc->metrics, "tls");
    if (!atomic_exchange(&s->tls_failed, true))
        log_error(s->cc->id, "TLS FAILED: %s; check tls.ca_file, tls.cert_file, tls.key_file "
                  "and tls.verify; opening the circuit, the sink resumes at the next probe "
                  "once the handshake succeeds", why);
}

/* Encodes events [lo, ...) into the body until it holds bulk_max_bytes (at least one
 * event), or half as much again when that takes the rest of the batch (so a batch a little
 * over the bound is not sent as a second, tiny request); *hi is the end of the piece.
 * offs[i] marks event i's action line. With versions (note 7) an event goes to its name's
 * active version, or with standby to the standby; dual[i] says whether event i also has a
 * standby now. Returns SL_OK, or SL_ERR_IO when a name could not be set up (why). */
/* The start of an action line: what it is and where the index name follows. */
static const char *action_of(const es_config *c, size_t *alen)
{
    const char *a = c->mode == ES_MODE_DATA_STREAM || c->action == ES_ACTION_CREATE || c->versioned
                        ? "{\"create\":{\"_index\":\""
                        : "{\"index\":{\"_index\":\"";
    *alen = strlen(a);
    return a;
}

/* Appends event e's action line and document to r->body. `first`: the first of a run
 * (its name is rendered; after it, only when it can differ); *last_hour carries the hour
 * between events of a run. Returns SL_OK, or SL_ERR_IO when a versioned name is not set
 * up (reason in why). */
static int encode_event(es_sink *s, es_req *r, const sl_event *e, size_t i, bool standby,
                        bool first, int64_t *last_hour, char *why, size_t whylen)
{
    const es_config *c = s->cfg;
    size_t alen;
    const char *action = action_of(c, &alen);
    /* Without {{ field }} parts the name only changes with the event's hour. Without
     * versioned targets r->name holds the action line up to the id, copied at once. */
    int64_t hour = e->ts_ns / 3600000000000LL - (e->ts_ns < 0);
    if (first || s->name.fields || (s->name.dynamic && hour != *last_hour)) {
        buf_reset(&r->name);
        if (!s->vers)
            buf_append(&r->name, action, alen);
        es_name_render(&s->name, e, &r->name);
        *last_hour = hour;
        if (s->vers) {
            buf_putc(&r->name, '\0');
            r->name.len--;
            if (es_vers_targets(s->vers, r->name.p, &r->vact, &r->vsb, why, whylen) != SL_OK)
                return SL_ERR_IO;
        } else {
            buf_putc(&r->name, '"');
        }
    }
    if (s->vers) {
        const sl_buf *t = standby ? &r->vsb : &r->vact;
        buf_append(&r->body, action, alen);
        buf_append(&r->body, t->p, t->len);
        buf_putc(&r->body, '"');
        r->dual[i] = r->vsb.len > 0;
    } else {
        buf_append(&r->body, r->name.p, r->name.len);
        r->dual[i] = 0;
    }
    if (c->id == ES_ID_STABLE && (e->id_str.len || e->id_stream || e->id_seq)) {
        buf_append(&r->body, ",\"_id\":\"", 8);
        es_encode_id(&r->body, e);
        buf_append(&r->body, "\"}}\n", 4);
    } else {
        buf_append(&r->body, "}}\n", 3);
    }
    es_encode_doc(&r->body, e, &s->doc, r->enc);
    buf_putc(&r->body, '\n');
    return SL_OK;
}

static size_t bulk_cap(const es_config *c)
{
    return c->bulk_max_bytes ? (size_t)c->bulk_max_bytes : (1u << 20);
}

static int encode_body(es_sink *s, es_req *r, sl_event *const *events, size_t lo, size_t n,
                       bool standby, size_t *hi, char *why, size_t whylen)
{
    int64_t last_hour = 0;
    size_t cap = bulk_cap(s->cfg);
    buf_reset(&r->body);
    if (lo == 0)
        es_scratch_begin(r->enc); /* the events stay held until the send returns */
    size_t i = lo;
    for (; i < n; i++) {
        if (i > lo && r->body.len >= cap) {
            /* the rest, at this piece's bytes per event, would fit in half a bound more? */
            size_t per = r->body.len / (i - lo);
            if (r->body.len >= cap + cap / 2 || (n - i) * per > cap / 2)
                break;
        }
        r->offs[i] = r->body.len;
        if (encode_event(s, r, events[i], i, standby, i == lo, &last_hour, why, whylen) != SL_OK)
            return SL_ERR_IO;
    }
    r->offs[i] = r->body.len;
    *hi = i;
    return SL_OK;
}

/* Note 9, on the routing thread: the lines of runs of b's events (gz_prep_run), cut again
 * at bulk_max_bytes, each run compressed as a segment. */
static void es_prep(void *self, sl_batch *b)
{
    es_sink *s = self;
    if (!s->seg_id || !b->n || b->prep_owner)
        return;
    uint32_t per = gz_prep_run(s->cc->max_events);
    size_t cap = bulk_cap(s->cfg);
    int level = (int)s->cfg->compression_level;
    es_req *r = req_get(s, b->n);
    es_scratch_begin(r->enc);
    bool ok = true;
    int64_t last_hour = 0;
    for (uint32_t i = 0; i < b->n && ok;) {
        uint32_t end = i + SL_MIN(per, b->n - i), k = i;
        buf_reset(&r->body);
        for (; k < end && (k == i || r->body.len < cap) && ok; k++)
            ok = encode_event(s, r, &b->events[k], k, false, k == i, &last_hour, NULL, 0) == SL_OK;
        ok = ok && gz_prep_add(b, i, k - i, r->body.p, r->body.len, level, s);
        i = k;
    }
    gz_prep_end(b, s->seg_id, ok);
    req_put(s, r);
}

/* Note 9: the piece at lo made of the whole segments there (at least one, then while
 * they fit in bulk_max_bytes), joined into r->gz; its end in *hi, its size in *raw. False
 * when no whole segment starts at lo. */
static bool segment_piece(es_sink *s, es_req *r, sl_event *const *events, size_t lo, size_t n,
                          size_t *hi, size_t *raw)
{
    gz_prep_head h;
    const char *comp;
    size_t cap = bulk_cap(s->cfg), i = lo, k;
    if (!s->seg_id || !gz_prep_at(events, n, lo, s->seg_id, &h, &comp))
        return false;
    gz_join j;
    buf_reset(&r->gz);
    gz_join_begin(&j, &r->gz);
    while (i < n && (k = gz_prep_at(events, n, i, s->seg_id, &h, &comp)) > 0 &&
           (i == lo || j.len + h.raw_len <= cap)) {
        gz_join_segment(&j, comp, h.comp_len, h.crc, h.raw_len);
        i += k;
    }
    gz_join_end(&j);
    *hi = i;
    *raw = (size_t)j.len;
    return true;
}

/* Where the events of [lo, n) that no whole segment covers end: the next whole segment. */
static size_t loose_end(es_sink *s, sl_event *const *events, size_t lo, size_t n)
{
    gz_prep_head h;
    const char *comp;
    size_t i = lo + 1;
    if (!s->seg_id)
        return n;
    while (i < n && !gz_prep_at(events, n, i, s->seg_id, &h, &comp))
        i++;
    return i;
}

/* Static metric reasons for item failures. */
static const char *item_metric(int status, const char *type)
{
    if (status == 429)
        return "item_429";
    if (status >= 500)
        return "item_5xx";
    if (strstr(type, "cluster_block_exception"))
        return "item_blocked";
    if (strstr(type, "mapper_parsing") || strstr(type, "document_parsing"))
        return "mapping";
    if (strstr(type, ": pipeline with id ["))
        return "pipeline";
    if (strstr(type, "illegal_argument"))
        return "illegal_argument";
    return "item_rejected";
}

/* Loop thread: one item of the response. */
static void on_item(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    es_req *r = arg;
    if (idx >= r->n) {
        r->mismatch = true;
        return;
    }
    size_t g = r->lo + idx;
    if (status >= 200 && status < 300) {
        r->st[g] = SL_ITEM_OK;
    } else if (status == 409) {
        r->st[g] = SL_ITEM_OK; /* already indexed under this id: delivered before */
        r->nconflict++;
    } else if (status == 400 && strncmp(reason, "pipeline with id [", 18) == 0 &&
               strstr(reason, "] does not exist")) {
        /* The node lacks the `pipeline` option's pipeline (not made yet, a typo): every
         * document of every request would be refused; they wait for it instead. */
        r->st[g] = SL_ITEM_RETRY;
        r->nretry_items++;
        r->nopipe = true;
    } else if (status == 429 || status >= 500 || status == 0 ||
               strcmp(type, "cluster_block_exception") == 0) {
        /* A block (index.blocks.write, a read-only index or cluster: 403 FORBIDDEN/8, /5,
         * /6...) is the cluster's state, lifted by its operator: the documents wait. */
        r->st[g] = SL_ITEM_RETRY;
        r->nretry_items++;
    } else {
        r->st[g] = SL_ITEM_REJECT;
        r->nreject_items++;
    }
    if (r->st[g] != SL_ITEM_OK) {
        r->roff[g] = (uint32_t)r->reasons.len + 1;
        buf_printf(&r->reasons, "%d %s: %s", status, type[0] ? type : "error",
                   reason[0] ? reason : "(no reason)");
        buf_putc(&r->reasons, '\0');
    }
}

static int on_data(void *arg, const char *p, size_t n)
{
    es_req *r = arg;
    if (r->head.len < 512)
        buf_append(&r->head, p, SL_MIN(n, 512 - r->head.len));
    es_bulk_feed(&r->parser, p, n);
    return 0;
}

typedef struct es_outcome {
    size_t ok, retry, reject;
    bool whole_reject; /* a whole-request 4xx: let the runtime bisect */
    bool whole_retry;  /* a whole request failed transiently: send no further piece */
    bool open_circuit;
    bool throttled; /* the request or some items got 429 */
    bool too_large; /* a 413 split the request */
    int64_t retry_after_ms;
    char reason[256];
} es_outcome;

static void mark_range(es_req *r, size_t lo, size_t n, uint8_t st)
{
    memset(r->st + lo, st, n);
}

/* Sends events [lo, lo+n) of the encoded body, or with `joined` (the size of r->gz's
 * content uncompressed) those whose body segment_piece joined in r->gz; fills r->st for
 * them. Returns false only for a joined body refused with 413, with nothing filled: the
 * caller sends those events again from an encoded body (which a 413 splits). */
static bool send_range(es_sink *s, es_req *r, size_t lo, size_t n, es_outcome *o, int depth,
                       size_t joined)
{
    const es_config *c = s->cfg;
    sl_metrics *m = s->cc->metrics;
    const char *body = joined ? r->gz.p : r->body.p + r->offs[lo];
    size_t blen = joined ? r->gz.len : r->offs[lo + n] - r->offs[lo];
    size_t payload = joined ? joined : blen;
    if (!joined && c->compression == ES_COMP_GZIP) {
        if (gz_compress(c->gzip_engine == 1 ? GZ_ZLIB : GZ_AUTO, (int)c->compression_level, s,
                        body, blen, &r->gz) != SL_OK) {
            mark_range(r, lo, n, SL_ITEM_RETRY);
            o->retry += n;
            o->whole_retry = true;
            ES_FMT(o->reason, sizeof o->reason, "gzip failed");
            return true;
        }
        body = r->gz.p;
        blen = r->gz.len;
    }
    atomic_fetch_add_explicit(&m->payload_bytes, payload, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->wire_bytes, blen, memory_order_relaxed);
    es_endpoint *ep = ep_pick(s);
    http_mreq req = {
        .method = "POST",
        .url = ep->bulk_url,
        .headers = (const char *const *)s->headers,
        .nheaders = s->nheaders,
        .body = body,
        .body_len = blen,
        .timeout_ms = c->timeout_ms,
        .cancel = r->cancel,
        .user = c->auth.user,
        .password = c->auth.password,
        .ca_file = c->tls.ca_file,
        .cert_file = c->tls.cert_file,
        .key_file = c->tls.key_file,
        .insecure = !c->tls.verify,
        .on_data = on_data,
        .arg = r,
    };
    http_mresp resp;
    memset(&resp, 0, sizeof resp);
    buf_reset(&r->head);
    es_bulk_init(&r->parser, on_item, r);
    r->lo = lo;
    r->n = n;
    r->mismatch = false;
    r->nopipe = false;
    r->nretry_items = r->nreject_items = r->nconflict = 0;
    int rc = http_multi_do(atomic_load(&s->http), &req, &resp);
    buf_free(&resp.body);
    long st = resp.status;
    char ex[161];
    if (rc != SL_OK) {
        mark_range(r, lo, n, SL_ITEM_RETRY);
        o->retry += n;
        o->whole_retry = true;
        ES_FMT(o->reason, sizeof o->reason, "%s: %s", ep->base, resp.error);
        if (resp.tls) {
            /* Certificates do not fix themselves: hold everything behind the circuit. */
            tls_failed(s, o->reason);
            o->open_circuit = true;
            return true;
        }
        ep_fail(s, ep, resp.error);
        metrics_error(m, rc == SL_ERR_TIMEOUT ? "timeout" : "connection");
        return true;
    }
    if (st == 200) {
        ep_ok(ep);
        atomic_store(&s->auth_failed, false);
        atomic_store(&s->tls_failed, false);
        atomic_store(&s->blocked, false);
        if (es_bulk_finish(&r->parser) != 0 || r->mismatch || r->parser.nitems != n) {
            /* Not understood: every item again (creates with stable ids make it safe). */
            metrics_error(m, "bad_response");
            log_excerpt(ex, sizeof ex, r->head.p, r->head.len);
            mark_range(r, lo, n, SL_ITEM_RETRY);
            o->retry += n;
            ES_FMT(o->reason, sizeof o->reason, "unparseable _bulk response (%zu of %zu items): %s",
                     r->parser.nitems, n, ex);
            int64_t now = sl_mono_ms(), last = atomic_load(&s->log_parse_ms);
            if ((last == 0 || now - last > 10000) &&
                atomic_compare_exchange_strong(&s->log_parse_ms, &last, now))
                log_warn(s->cc->id, "%s", o->reason);
            return true;
        }
        for (size_t i = lo; i < lo + n; i++) {
            if (r->st[i] == SL_ITEM_OK) {
                o->ok++;
                continue;
            }
            const char *rs = r->reasons.p + r->roff[i] - 1;
            int code = atoi(rs);
            const char *sp = strchr(rs, ' ');
            metrics_error(m, item_metric(code, sp ? sp + 1 : ""));
            if (code == 429)
                o->throttled = true;
            if (r->st[i] == SL_ITEM_RETRY)
                o->retry++;
            else
                o->reject++;
        }
        /* a 409 on create: Elasticsearch had the document (a replay after a crash), which
         * is delivered, not an error an alert should see */
        if (r->nconflict)
            metrics_count(m, "documents_already_present", r->nconflict);
        if (r->nopipe) {
            ES_FMT(o->reason, sizeof o->reason, "%s has no ingest pipeline [%s]", ep->base,
                   c->pipeline ? c->pipeline : "");
            if (!atomic_exchange(&s->pipe_failed, true))
                log_error(s->cc->id, "INGEST PIPELINE MISSING: %s; opening the circuit, create "
                          "it (or fix the pipeline option) and the sink resumes at the next "
                          "probe", o->reason);
            o->open_circuit = true;
        } else if (r->parser.nitems) {
            atomic_store(&s->pipe_failed, false);
        }
        return true;
    }
    http_answer_excerpt(ex, sizeof ex, st, resp.location, r->head.p, r->head.len);
    if (st == 413) {
        metrics_error(m, "http_413");
        o->too_large = true;
        if (joined)
            return false;
        if (n == 1 || depth > 40) {
            mark_range(r, lo, n, SL_ITEM_REJECT);
            for (size_t i = lo; i < lo + n; i++) {
                r->roff[i] = (uint32_t)r->reasons.len + 1;
                buf_printf(&r->reasons, "413 request_too_large: a single document of %zu bytes "
                           "exceeds the server's limit", blen);
                buf_putc(&r->reasons, '\0');
            }
            o->reject += n;
            return true;
        }
        size_t half = n / 2;
        send_range(s, r, lo, half, o, depth + 1, 0);
        send_range(s, r, lo + half, n - half, o, depth + 1, 0);
        return true;
    }
    mark_range(r, lo, n, SL_ITEM_RETRY);
    if (st == 403 && memmem(r->head.p, r->head.len, "cluster_block_exception", 23)) {
        /* The cluster takes no write at all (cluster.blocks.read_only): its operator lifts
         * it; the credentials are fine, which the line must not send anyone checking. */
        metrics_error(m, "http_blocked");
        ES_FMT(o->reason, sizeof o->reason, "%s blocks writes (http 403): %s", ep->base, ex);
        if (!atomic_exchange(&s->blocked, true))
            log_error(s->cc->id, "CLUSTER BLOCKED: %s; opening the circuit, the sink resumes at "
                      "the next probe once the block is lifted", o->reason);
        o->open_circuit = true;
        o->retry += n;
        o->whole_retry = true;
        return true;
    }
    if (st == 401 || st == 403) {
        metrics_error(m, st == 401 ? "http_401" : "http_403");
        ES_FMT(o->reason, sizeof o->reason, "%s refused the credentials (http %ld): %s",
                 ep->base, st, ex);
        if (!atomic_exchange(&s->auth_failed, true))
            log_error(s->cc->id, "AUTHENTICATION FAILED: %s; opening the circuit, fix auth and "
                      "the sink resumes at the next probe", o->reason);
        o->open_circuit = true;
        o->retry += n;
        o->whole_retry = true;
        return true;
    }
    if (st == 429 || st == 408 || st >= 500) {
        if (st == 503 || st == 502 || st == 504)
            ep_fail(s, ep, "unavailable");
        metrics_error(m, st == 429 ? "http_429" : "http_5xx");
        if (st == 429)
            o->throttled = true;
        ES_FMT(o->reason, sizeof o->reason, "http %ld from %s: %s", st, ep->base, ex);
        o->retry_after_ms = SL_MAX(o->retry_after_ms, resp.retry_after_ms);
        o->retry += n;
        o->whole_retry = true;
        return true;
    }
    /* Another status for the whole request: permanent for this content. */
    ep_ok(ep);
    metrics_error(m, "http_reject");
    mark_range(r, lo, n, SL_ITEM_REJECT);
    for (size_t i = lo; i < lo + n; i++)
        r->roff[i] = 0;
    ES_FMT(o->reason, sizeof o->reason, "http %ld: %s", st, ex);
    o->reject += n;
    o->whole_reject = true;
    return true;
}

/* ---- Templates -------------------------------------------------------------------------- */

/* A request of the setup (note 5): auth and TLS as for bulk requests. The body of the
 * answer lands in resp->body (caller frees). Returns http_multi_do's code. */
static int setup_do(es_sink *s, es_endpoint *ep, const char *method, const char *url,
                    const sl_buf *body, http_mresp *resp)
{
    const es_config *c = s->cfg;
    const char *h[4];
    size_t nh = 0;
    h[nh++] = "Content-Type: application/json";
    /* API key / bearer ride in the common header list; add them here too. */
    for (size_t i = 0; i < s->conn.nheaders && nh < 4; i++)
        h[nh++] = s->conn.headers[i];
    http_mreq req = {
        .method = method, .url = url, .headers = h, .nheaders = nh,
        .body = body ? body->p : NULL, .body_len = body ? body->len : 0,
        .timeout_ms = c->timeout_ms, .user = c->auth.user, .password = c->auth.password,
        .ca_file = c->tls.ca_file, .cert_file = c->tls.cert_file, .key_file = c->tls.key_file,
        .insecure = !c->tls.verify,
    };
    memset(resp, 0, sizeof *resp);
    int rc = http_multi_do(atomic_load(&s->http), &req, resp);
    if (rc != SL_OK) {
        if (resp->tls)
            tls_failed(s, resp->error);
        else
            ep_fail(s, ep, resp->error);
    }
    return rc;
}

/* Reads the server's product and version from GET / (caller holds mu). */
static int detect_version(es_sink *s, char *why, size_t whylen)
{
    es_endpoint *ep = ep_pick(s);
    sl_buf url = SL_BUF_INIT;
    es_request_url(&url, &ep->u, "", s->params, NULL);
    http_mresp resp;
    int rc = setup_do(s, ep, "GET", url.p, NULL, &resp);
    buf_free(&url);
    if (rc != SL_OK) {
        ES_FMT(why, whylen, "reading the server version: %s: %s", ep->base, resp.error);
        buf_free(&resp.body);
        return SL_ERR_IO;
    }
    if (resp.status == 401 || resp.status == 403 || resp.status >= 500) {
        char ex[161];
        log_excerpt(ex, sizeof ex, resp.body.p, resp.body.len);
        buf_free(&resp.body);
        if (resp.status >= 500) {
            ES_FMT(why, whylen, "reading the server version: http %ld: %s", resp.status, ex);
            return SL_ERR_IO;
        }
        log_warn(s->cc->id, "%s refused GET / (http %ld); assuming a current Elasticsearch or "
                 "OpenSearch release", ep->base, resp.status);
        s->vmajor = 8;
        snprintf(s->product, sizeof s->product, "unknown server");
        s->vknown = true;
        return SL_OK;
    }
    sl_arena a;
    arena_init(&a, 4096);
    char perr[64];
    const json_value *root = resp.status == 200 ? json_parse(&a, resp.body.p, resp.body.len, perr,
                                                             sizeof perr) : NULL;
    const json_value *num = json_get_path(root, "version", "number", NULL);
    const json_value *dist = json_get_path(root, "version", "distribution", NULL);
    int out = SL_OK;
    if (!num || num->type != JSON_STR) {
        char ex[161];
        log_excerpt(ex, sizeof ex, resp.body.p, resp.body.len);
        ES_FMT(why, whylen, "reading the server version: http %ld, no version.number: %s",
               resp.status, ex);
        out = SL_ERR_IO;
    } else {
        s->opensearch = dist && dist->type == JSON_STR && strcmp(dist->str, "opensearch") == 0;
        s->vmajor = s->vminor = 0;
        if (sscanf(num->str, "%d.%d", &s->vmajor, &s->vminor) < 1)
            s->vmajor = 8;
        ES_FMT(s->product, sizeof s->product, "%s %.40s",
               s->opensearch ? "OpenSearch" : "Elasticsearch", num->str);
        s->vknown = true;
        log_info(s->cc->id, "%s is %s", ep->base, s->product);
    }
    arena_free(&a);
    buf_free(&resp.body);
    return out;
}

/* Elasticsearch at least major.minor (any OpenSearch qualifies: it forked from 7.10). */
static bool es_at_least(const es_sink *s, int major, int minor)
{
    return s->opensearch || s->vmajor > major || (s->vmajor == major && s->vminor >= minor);
}

/* The priority of the managed composable template. Elasticsearch's built-in templates
 * (logs-*-*, metrics-*-*, traces-*-*, synthetics-*-*: priority 100, data streams, used by
 * Elastic Agent and Fleet) must keep their names: a pattern that covers all of one
 * ("logs-*", from the default index logs-%Y.%m.%d) goes below them, as Elastic's docs ask,
 * where 200 would have made every new Fleet data stream a plain index. Sluice's own
 * indices (one '-') do not match the built-ins, so its template still applies to them. */
static int template_priority(const char *prefix, bool dynamic)
{
    static const char *const builtin[] = {"logs-", "metrics-", "traces-", "synthetics-"};
    size_t pl = strlen(prefix);
    for (size_t i = 0; dynamic && i < SL_ARRAY_LEN(builtin); i++)
        if (pl <= strlen(builtin[i]) && memcmp(prefix, builtin[i], pl) == 0)
            return 99;
    return 200;
}

static int install_templates(es_sink *s, char *why, size_t whylen)
{
    const es_config *c = s->cfg;
    char name[200];
    snprintf(name, sizeof name, "%s", c->template_name ? c->template_name : "");
    if (!name[0])
        snprintf(name, sizeof name, "sluice-%s", s->cc->id);
    bool composable = es_at_least(s, 7, 8);
    sl_buf body = SL_BUF_INIT, url = SL_BUF_INIT;
    buf_puts(&body, "{\"index_patterns\":[\"");
    json_escape(&body, s->name.prefix, strlen(s->name.prefix));
    buf_puts(&body, s->name.dynamic ? "*\"]," : "\"],");
    const char *mappings = "\"mappings\":{\"properties\":{\"@timestamp\":{\"type\":\"date_nanos\"},"
                           "\"message\":{\"type\":\"text\"}}}";
    if (composable) {
        if (c->mode == ES_MODE_DATA_STREAM)
            buf_puts(&body, "\"data_stream\":{},");
        int prio = template_priority(s->name.prefix, s->name.dynamic);
        if (prio < 100)
            log_info(s->cc->id, "template %s: its pattern %s* covers Elasticsearch's built-in "
                     "data stream templates, so it goes below them (priority %d)", name,
                     s->name.prefix, prio);
        buf_printf(&body, "\"priority\":%d,\"template\":{%s}}", prio, mappings);
    } else {
        /* legacy template: no priority, no data_stream, mappings at the top */
        buf_printf(&body, "\"order\":200,%s}", mappings);
    }
    es_endpoint *ep = ep_pick(s);
    sl_buf api = SL_BUF_INIT;
    buf_puts(&api, composable ? "_index_template/" : "_template/");
    url_encode(&api, name, strlen(name), URL_SEGMENT);
    buf_putc(&api, '\0');
    es_request_url(&url, &ep->u, api.p, s->params, NULL);
    buf_free(&api);
    http_mresp resp;
    int rc = setup_do(s, ep, "PUT", url.p, &body, &resp);
    int out = SL_OK;
    if (rc != SL_OK) {
        ES_FMT(why, whylen, "installing template %s: %s: %s", name, ep->base, resp.error);
        out = SL_ERR_IO;
    } else if (resp.status < 200 || resp.status >= 300) {
        char ex[161];
        log_excerpt(ex, sizeof ex, resp.body.p, resp.body.len);
        ES_FMT(why, whylen, "installing template %s: http %ld: %s", name, resp.status, ex);
        out = SL_ERR_IO;
    } else {
        atomic_store(&s->tls_failed, false);
        log_info(s->cc->id, "%s template %s installed for %s%s (%s)",
                 composable ? "index" : "legacy", name, s->name.prefix,
                 s->name.dynamic ? "*" : "", s->product);
    }
    buf_free(&resp.body);
    buf_free(&body);
    buf_free(&url);
    return out;
}

/* Note 5. Caller holds mu. Returns SL_OK when bulk requests may go; otherwise a reason
 * in why, and *hold when the circuit should open (nothing will change soon). */
static int es_setup(es_sink *s, char *why, size_t whylen, bool *hold)
{
    const es_config *c = s->cfg;
    if (!s->vknown && detect_version(s, why, whylen) != SL_OK) {
        *hold = atomic_load(&s->tls_failed);
        return SL_ERR_IO;
    }
    if ((c->mode == ES_MODE_DATA_STREAM || c->versioned) && !es_at_least(s, 7, 9)) {
        ES_FMT(why, whylen, "data streams need Elasticsearch >= 7.9 or OpenSearch; the node "
               "is %s: events are held (use mode: index, or upgrade)", s->product);
        if (!s->ds_logged)
            log_error(s->cc->id, "%s", why);
        s->ds_logged = true;
        s->vknown = false; /* ask again at the next probe: the node may be upgraded */
        *hold = true;
        return SL_ERR_CONFIG;
    }
    if (c->versioned && !s->opensearch && !es_at_least(s, 7, 14)) {
        ES_FMT(why, whylen, "versioned needs aliases on data streams, Elasticsearch >= 7.14; the "
               "node is %s: events are held (turn versioned off, or upgrade)", s->product);
        if (!s->ds_logged)
            log_error(s->cc->id, "%s", why);
        s->ds_logged = true;
        s->vknown = false;
        *hold = true;
        return SL_ERR_CONFIG;
    }
    if (c->manage_templates && install_templates(s, why, whylen) != SL_OK) {
        *hold = atomic_load(&s->tls_failed);
        return SL_ERR_IO;
    }
    return SL_OK;
}

/* ---- Schema healing of refused items (note 8) -------------------------------------------- */

/* The _index of the action line at a (up to its newline), into out. */
static void action_index(const char *a, const char *nl, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *p = memmem(a, (size_t)(nl - a), "\"_index\":\"", 10);
    if (!p)
        return;
    p += 10;
    const char *q = memchr(p, '"', (size_t)(nl - p));
    if (q && (size_t)(q - p) < outlen) {
        memcpy(out, p, (size_t)(q - p));
        out[q - p] = '\0';
    }
}

/* Items of r[lo..lo+n) (the piece its body holds) refused for a mapping conflict go again
 * with the named field renamed, in rounds (a document may have several such fields);
 * r->st, r->roff and o follow. */
static void heal_items(es_sink *s, es_req *r, size_t lo, size_t n, es_outcome *o)
{
    const es_config *c = s->cfg;
    if (c->schema_heal == ES_HEAL_OFF)
        return; /* (items of a piece refused as a whole have no reason: not touched) */
    const char *suffix = c->schema_heal_suffix ? c->schema_heal_suffix : "_str";
    sl_buf fixed = SL_BUF_INIT;
    es_req *cur = r;
    size_t curlo = lo, curn = n, *orig = NULL; /* orig[j]: event of r that cur's item j is */
    uint64_t renamed = 0, would = 0;
    char first_field[256] = "", first_index[300] = "";
    for (int round = 0; round < 4; round++) {
        es_req *h = NULL;
        size_t k = 0, *map = NULL;
        for (size_t j = curlo; j < curlo + curn; j++) {
            if (cur->st[j] != SL_ITEM_REJECT || !cur->roff[j])
                continue;
            const char *rs = cur->reasons.p + cur->roff[j] - 1;
            char field[256], index[300];
            if ((!strstr(rs, "mapper_parsing") && !strstr(rs, "document_parsing")) ||
                !es_mapping_error_field(rs, field, sizeof field))
                continue;
            const char *a = cur->body.p + cur->offs[j], *end = cur->body.p + cur->offs[j + 1];
            const char *nl = memchr(a, '\n', (size_t)(end - a));
            if (!nl || end - nl < 2)
                continue;
            action_index(a, nl, index, sizeof index);
            if (!first_field[0]) {
                snprintf(first_field, sizeof first_field, "%s", field);
                snprintf(first_index, sizeof first_index, "%s", index);
            }
            if (c->schema_heal == ES_HEAL_DRY_RUN) {
                would++;
                continue;
            }
            if (es_fix_field(nl + 1, (size_t)(end - nl - 2), field, NULL, suffix, &fixed) != 2)
                continue;
            if (!h) {
                h = req_get(s, curn);
                buf_reset(&h->body);
                h->st = sl_xmalloc(curn);
                map = sl_xmalloc(curn * sizeof *map);
            }
            h->offs[k] = h->body.len;
            buf_append(&h->body, a, (size_t)(nl - a + 1));
            buf_append(&h->body, fixed.p, fixed.len);
            buf_putc(&h->body, '\n');
            map[k++] = orig ? orig[j] : j;
            renamed++;
            if (s->vers)
                es_vers_renamed(s->vers, index, field);
        }
        if (cur != r) {
            free(cur->st);
            cur->st = NULL;
            req_put(s, cur);
            cur = r;
        }
        free(orig);
        orig = NULL;
        if (!h)
            break;
        h->offs[k] = h->body.len;
        es_outcome o2;
        memset(&o2, 0, sizeof o2);
        send_range(s, h, 0, k, &o2, 0, 0);
        for (size_t j = 0; j < k; j++) {
            size_t i = map[j];
            o->reject--;
            r->st[i] = h->st[j];
            if (h->st[j] == SL_ITEM_OK) {
                o->ok++;
                r->roff[i] = 0;
                continue;
            }
            if (h->st[j] == SL_ITEM_RETRY)
                o->retry++;
            else
                o->reject++;
            if (h->roff[j]) {
                r->roff[i] = (uint32_t)r->reasons.len + 1;
                buf_puts(&r->reasons, h->reasons.p + h->roff[j] - 1);
                buf_putc(&r->reasons, '\0');
            }
        }
        if (o2.open_circuit)
            o->open_circuit = true;
        o->retry_after_ms = SL_MAX(o->retry_after_ms, o2.retry_after_ms);
        cur = h;
        curlo = 0;
        curn = k;
        orig = map;
    }
    if (cur != r) {
        free(cur->st);
        cur->st = NULL;
        req_put(s, cur);
    }
    free(orig);
    buf_free(&fixed);
    if (!renamed && !would)
        return;
    if (renamed)
        metrics_count(s->cc->metrics, "schema_heal_documents_renamed", renamed);
    if (log_gate(&s->heal_log_ms, 10000)) {
        if (renamed)
            log_info(s->cc->id, "schema_heal: renamed %s to %s%s in %" PRIu64 " documents "
                     "refused by %s for a mapping conflict (logged at most every 10 s)", first_field,
                     first_field, suffix, renamed, first_index);
        else
            log_info(s->cc->id, "schema_heal: dry_run: would rename %s to %s%s in %" PRIu64
                     " documents refused by %s for a mapping conflict (logged at most every "
                     "10 s)",
                     first_field, first_field, suffix, would, first_index);
    }
}

/* ---- Send ------------------------------------------------------------------------------- */

/* Replaces the calling thread's parked reason strings (freeing the previous ones). */
static void keep_set(es_sink *s, char *p)
{
    pthread_t self = pthread_self();
    pthread_mutex_lock(&s->mu);
    es_keep *k = s->keeps;
    while (k && !pthread_equal(k->th, self))
        k = k->next;
    if (!k) {
        k = sl_xcalloc(1, sizeof *k);
        k->th = self;
        k->next = s->keeps;
        s->keeps = k;
    }
    char *old = k->p;
    k->p = p;
    pthread_mutex_unlock(&s->mu);
    free(old);
}

/* Note 7: the events of the piece [lo, hi) of r that have a standby now are written there
 * first, in requests of their own. Returns SL_OK when every one is written (or refused for
 * good, which abandons the repair), else SL_ERR_IO with the reason in o (the rest of the
 * send is retried). */
static int standby_first(es_sink *s, es_req *r, sl_event *const *events, size_t lo, size_t hi,
                         es_outcome *o)
{
    size_t k = 0;
    for (size_t i = lo; i < hi; i++)
        k += r->dual[i] != 0;
    if (!k)
        return SL_OK;
    sl_event **sub = sl_xmalloc(k * sizeof *sub);
    k = 0;
    for (size_t i = lo; i < hi; i++)
        if (r->dual[i])
            sub[k++] = events[i];
    es_req *b = req_get(s, k);
    b->st = sl_xmalloc(k);
    int rc = SL_OK;
    size_t blo = 0;
    while (rc == SL_OK && blo < k) {
        size_t bhi = blo;
        rc = encode_body(s, b, sub, blo, k, true, &bhi, o->reason, sizeof o->reason);
        if (rc != SL_OK)
            break;
        es_outcome ob;
        memset(&ob, 0, sizeof ob);
        send_range(s, b, blo, bhi - blo, &ob, 0, 0);
        heal_items(s, b, blo, bhi - blo, &ob);
        for (size_t j = blo; j < bhi && rc == SL_OK; j++) {
            const char *why = b->roff[j] ? b->reasons.p + b->roff[j] - 1 : ob.reason;
            if (b->st[j] == SL_ITEM_RETRY) {
                ES_FMT(o->reason, sizeof o->reason, "standby write: %s", why);
                o->retry_after_ms = SL_MAX(o->retry_after_ms, ob.retry_after_ms);
                o->open_circuit = o->open_circuit || ob.open_circuit;
                rc = SL_ERR_IO;
            } else if (b->st[j] == SL_ITEM_REJECT) {
                const char *a = b->body.p + b->offs[j];
                const char *nl = memchr(a, '\n', b->offs[j + 1] - b->offs[j]);
                char index[300] = "";
                if (nl)
                    action_index(a, nl, index, sizeof index);
                es_vers_standby_failed(s->vers, index, why);
            }
        }
        blo = bhi;
    }
    free(b->st);
    b->st = NULL;
    req_put(s, b);
    free(sub);
    return rc;
}

static int es_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    es_sink *s = self;
    if (!http_multi_lazy(&s->http, &s->mu, res->reason, sizeof res->reason)) {
        res->status = SL_SEND_RETRY;
        return SL_OK;
    }
    if (!atomic_load(&s->templates_ok)) {
        pthread_mutex_lock(&s->mu);
        int rc = SL_OK;
        bool hold = false;
        if (!atomic_load(&s->templates_ok)) {
            rc = es_setup(s, res->reason, sizeof res->reason, &hold);
            if (rc == SL_OK)
                atomic_store(&s->templates_ok, true);
        }
        pthread_mutex_unlock(&s->mu);
        if (rc != SL_OK) {
            metrics_error(s->cc->metrics, rc == SL_ERR_CONFIG ? "unsupported" : "template");
            res->status = SL_SEND_RETRY;
            res->open_circuit = hold;
            return SL_OK;
        }
    }
    if (s->vers)
        es_vers_enter(s->vers);
    es_req *r = req_get(s, n);
    r->st = res->item_status;
    r->cancel = res->cancel;
    es_outcome o;
    memset(&o, 0, sizeof o);
    size_t lo = 0, pieces = 0, raw = 0, hi = 0, redo = 0;
    es_scratch_begin(r->enc);
    while (lo < n) { /* note 2 */
        if (lo >= redo && segment_piece(s, r, events, lo, n, &hi, &raw)) { /* note 9 */
            if (!send_range(s, r, lo, hi - lo, &o, 0, raw)) {
                redo = hi; /* refused as too large: again from encoded bodies */
                continue;
            }
        } else {
            size_t end = lo < redo ? redo : loose_end(s, events, lo, n);
            if (encode_body(s, r, events, lo, end, false, &hi, o.reason, sizeof o.reason) != SL_OK ||
                (s->vers && standby_first(s, r, events, lo, hi, &o) != SL_OK)) {
                /* a name not set up, or a standby write not done (note 7): the rest again */
                mark_range(r, lo, n - lo, SL_ITEM_RETRY);
                o.retry += n - lo;
                o.retry_after_ms = SL_MAX(o.retry_after_ms, 100);
                break;
            }
            send_range(s, r, lo, hi - lo, &o, 0, 0);
            heal_items(s, r, lo, hi - lo, &o);
        }
        pieces++;
        lo = hi;
        if (o.whole_retry && lo < n) {
            mark_range(r, lo, n - lo, SL_ITEM_RETRY);
            o.retry += n - lo;
            break;
        }
    }
    if (pieces > 1 && o.whole_reject && o.reject < n) {
        /* A piece refused as a whole among pieces that were not: the runtime bisects only
         * a whole rejected send, so that piece goes again on its own (then as one send). */
        for (size_t i = 0; i < n; i++)
            if (r->st[i] == SL_ITEM_REJECT && !r->roff[i]) {
                r->st[i] = SL_ITEM_RETRY;
                o.reject--;
                o.retry++;
            }
        o.whole_reject = false;
    }

    if (o.retry)
        metrics_count(s->cc->metrics, "documents_retried", o.retry);
    if (o.reject)
        metrics_count(s->cc->metrics, "documents_rejected", o.reject);
    res->retry_after_ms = o.retry_after_ms;
    res->open_circuit = o.open_circuit;
    res->throttled = o.throttled;
    res->too_large = o.too_large;
    ES_FMT(res->reason, sizeof res->reason, "%s", o.reason);
    if (o.ok == n) {
        res->status = SL_SEND_OK;
    } else if (o.retry == n && (!r->reasons.len || o.open_circuit)) {
        res->status = SL_SEND_RETRY; /* the whole request failed, or waits for the cluster */
    } else if (o.reject == n && o.whole_reject) {
        res->status = SL_SEND_REJECT;
    } else {
        res->status = SL_SEND_PARTIAL;
        if (r->reasons.len) {
            /* The runtime reads item reasons after we return: park a copy in this
             * thread's slot, valid until the thread's next send. */
            char *copy = sl_xmalloc(r->reasons.len);
            memcpy(copy, r->reasons.p, r->reasons.len);
            keep_set(s, copy);
            for (size_t i = 0; i < n; i++)
                if (r->roff[i])
                    res->item_reason[i] = copy + r->roff[i] - 1;
        }
        if (!res->reason[0]) {
            const char *first = NULL;
            for (size_t i = 0; i < n && !first; i++)
                if (res->item_status[i] != SL_ITEM_OK && res->item_reason[i])
                    first = res->item_reason[i];
            ES_FMT(res->reason, sizeof res->reason, "%s", first ? first : "some items failed");
        }
    }
    req_put(s, r);
    if (s->vers)
        es_vers_leave(s->vers);
    return SL_OK;
}

/* Starts the refresh tuner (note 6) on the first tick: not at init, so `validate` and
 * a failed start make no request. */
static void es_tick(void *self)
{
    es_sink *s = self;
    const es_config *c = s->cfg;
    es_vers_start(s->vers);
    if (c->refresh_tuning.every_ms <= 0)
        return;
    pthread_mutex_lock(&s->admin_mu);
    if (!s->admin_started) {
        s->admin_started = true;
        es_admin_params p = {
            .conn = s->conn,
            .pattern = s->admin_pattern, .cfg = &c->refresh_tuning,
        };
        s->admin = es_admin_start(&p);
    }
    pthread_mutex_unlock(&s->admin_mu);
}

static void es_status_json(void *self, sl_buf *out)
{
    es_sink *s = self;
    pthread_mutex_lock(&s->admin_mu);
    es_admin_status_json(s->admin, out);
    pthread_mutex_unlock(&s->admin_mu);
    es_vers_status_json(s->vers, out);
}

const sl_sink_vtable sl_sink_elasticsearch = {
    .type = "elasticsearch",
    .help = "Indexes events into Elasticsearch 7/8 or OpenSearch 1/2 with the _bulk API "
            "(per-item retries, stable ids, data streams)",
    .options = es_options,
    .config_size = sizeof(es_config),
    .init = es_init,
    .send = es_send,
    .prepare = es_prep,
    .tick = es_tick,
    .destroy = es_destroy,
    .status_json = es_status_json,
    .serial = false,
};
