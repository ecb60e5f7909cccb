/* es_versions.c - stable names over versioned data streams, and schema healing, for the
 * `elasticsearch` sink (`versioned: true`, `schema_heal: on | dry_run`).
 *
 * Names. The `index` option renders a stable name N per event (e.g. cloudwatch-aws-lambda-x).
 * N is an alias over one of two data streams, <prefix>N-v1 and <prefix>N-v2 (prefix
 * "sluice-" by default): the active one, which the alias points at and the sink writes,
 * and the standby, empty or stale, which a repair rebuilds. The versions' names start with
 * the prefix, not with N, so a reader's wildcard over the stable names (cloudwatch-*) never
 * reaches them: it reaches the alias, which resolves to the active version alone, and sees
 * every event once. One template per name (<template_base>-N) covers both versions.
 *
 * State of a name (in memory; Elasticsearch holds the truth, so a restart relearns it):
 *
 *   unknown --first event--> SETUP: GET _alias/N
 *        200: active = its write index (any name: an alias made by hand is adopted),
 *             standby = whichever of -v1 / -v2 is not active          --> READY
 *        404: PUT _index_template, PUT _data_stream/<prefix>N-v1,
 *             POST _aliases add N -> -v1 (is_write_index)              --> READY
 *        error: the send is retried; the name stays unknown
 *   READY --a heal pass decides a rebuild--> REPAIR
 *   REPAIR:
 *     1. DELETE the standby (it is never the only copy of anything: see invariant 2),
 *        PUT the template with the decided types, PUT _data_stream/<standby>.
 *     2. Exclusively (no send in flight): dual = true. From here every send writes its
 *        events of N to the standby first, then to the active version.
 *     3. Copy the active version into the standby (scroll, _bulk create with the same
 *        _id), each document's disagreeing fields coerced or renamed (es_fix_field). The
 *        copy keeps everything, what the source no longer holds included.
 *     4. Exclusively: refresh both, count both; standby >= active: ONE POST _aliases
 *        (remove N from active, add N to standby as write index); active and standby
 *        change places; dual = false
 *        Anything failed (a request, a refused copy, a refused standby write, fewer
 *        documents): dual = false, the alias is not touched           --> READY
 *     5. After a swap, re-read: the log groups whose events render to N (the groups a
 *        source serves in core/reread.h, each rendered through the `index` option with
 *        the fields its reader gave) are asked to read the version's span [oldest,
 *        newest] @timestamp again. Each source reads the part its group still holds: from
 *        now - retention - 1 h (rounded up to its window grid; the whole span when the
 *        group never expires) to the newest event. Those events come back through the
 *        pipeline into the rebuilt version, now active: a create of an event it holds is
 *        a 409 (it has one backing index, the standby's, so _id uniqueness covers all of
 *        it), one it lacks (lost from the old version) is written. Wait until every
 *        re-read is delivered (the source's windows committed) or has failed (its source
 *        stopped; not claimed within a minute): a failed re-read leaves the repair a
 *        copy, as without a source.                                   --> READY
 *        Why after the swap and not into the standby under dual writes: the dual writes'
 *        second create would go to the old version's write index, and Elasticsearch
 *        checks _id only within a backing index, so every re-read event whose document
 *        sits in an older backing index (all of them, after the rollover that made the
 *        conflict) would be there twice, seen through the alias until the swap.
 *
 * Invariants.
 *   1. The alias always names exactly one complete version: it moves in one _aliases
 *      call, and only to a standby holding at least every document of the active one.
 *   2. Nothing is deleted that exists nowhere else: the only delete is of the standby,
 *      which after a swap is the previous version (its documents were copied, and
 *      counted, into the active one) and otherwise a half-built copy. A rebuild copies
 *      the whole active version, so it never depends on the source still holding a
 *      range: the re-read (step 5) only adds what the version lacks, and asks the
 *      source for nothing older than its retention (minus the margin) allows.
 *   3. A send that began before dual writes were on has finished before the copy starts
 *      (step 2 is exclusive), so the copy sees its documents; a send after step 2 writes
 *      both. A send's standby write precedes its active write, so whatever a reader can
 *      see through the alias before the swap is in the standby at the swap.
 *
 * Healing. A pass (every schema_heal_interval) asks each READY name's active version
 * GET <active>/_field_caps?fields=*: a field with more than one type across its backing
 * indices is a conflict (Kibana's "mapping conflict"). Per type, POST <its indices>/_count
 * with an exists query gives how many documents have it; the type most documents have wins
 * (a tie goes to keyword, which holds any value). Fields renamed by the send path
 * (es_vers_renamed: live documents refused with mapper_parsing_exception /
 * document_parsing_exception, whose field moved to <field><suffix>) get their type pinned
 * too. The decisions are merged into the name's template (what is there is kept), and a
 * name with a conflict is repaired as above. dry_run logs and reports what would be done
 * (the re-read too: the sources answer a dry request with their plan, waited for at most
 * 30 s) and changes nothing. One info line per action (`schema_heal: repair N: re-read
 * <from>..<to> of <group> from CloudWatch (retention 3d), copied the older range from
 * <active>`); counters and the status say the rest. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/event.h"
#include "core/log.h"
#include "core/reread.h"
#include "es.h"
#include "formats/json.h"
#include "net/http_client.h"

/* snprintf whose truncation is intended (names and reasons are bounded). */
#define VFMT(dst, cap, ...)                      \
    do {                                         \
        if (snprintf(dst, cap, __VA_ARGS__) < 0) \
            (dst)[0] = '\0';                     \
    } while (0)

#define VER_BUCKETS 1024
#define VER_MAX_PINS 32
#define VER_COPY_PAGE 500

/* ---- Documents ---------------------------------------------------------------------- */

static void put_key(sl_buf *out, const char *k, size_t kl, const char *suffix)
{
    buf_putc(out, '"');
    json_escape(out, k, kl);
    if (suffix)
        json_escape(out, suffix, strlen(suffix));
    buf_puts(out, "\":");
}

/* The value as a JSON string: a string as it is, anything else as its JSON text. */
static void put_as_string(sl_buf *out, const json_value *v)
{
    buf_putc(out, '"');
    if (v->type == JSON_STR)
        json_escape(out, v->str, v->len);
    else
        json_escape(out, v->raw, v->raw_len);
    buf_putc(out, '"');
}

/* Converts v to want into out; returns 1 converted, 0 already that type, -1 cannot. */
static int convert(const json_value *v, const char *want, sl_buf *out)
{
    if (!want)
        return -1;
    if (strcmp(want, "long") == 0 || strcmp(want, "double") == 0) {
        if (v->type == JSON_NUM)
            return 0;
        if (v->type != JSON_STR || v->len == 0 || v->len > 40)
            return -1;
        char tmp[48], *end;
        memcpy(tmp, v->str, v->len);
        tmp[v->len] = '\0';
        errno = 0;
        if (want[0] == 'l') {
            long long x = strtoll(tmp, &end, 10);
            if (errno || *end || end == tmp)
                return -1;
            json_write_int(out, x);
        } else {
            double x = strtod(tmp, &end);
            if (errno || *end || end == tmp || !isfinite(x))
                return -1;
            json_write_double(out, x);
        }
        return 1;
    }
    if (strcmp(want, "keyword") == 0) {
        if (v->type == JSON_STR)
            return 0;
        if (v->type != JSON_NUM && v->type != JSON_BOOL)
            return -1;
        put_as_string(out, v);
        return 1;
    }
    if (strcmp(want, "boolean") == 0) {
        if (v->type == JSON_BOOL)
            return 0;
        if (v->type == JSON_STR && (strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0)) {
            buf_puts(out, v->str);
            return 1;
        }
        return -1;
    }
    if (strcmp(want, "object") == 0)
        return v->type == JSON_OBJ ? 0 : -1;
    return v->type == JSON_OBJ || v->type == JSON_ARR ? -1 : 0; /* date and others */
}

/* Writes object o with the member at path `rest` fixed; *res as es_fix_field returns. */
static void fix_obj(sl_buf *out, const json_value *o, const char *rest, const char *want,
                    const char *suffix, int *res, sl_buf *tmp)
{
    buf_putc(out, '{');
    bool first = true;
    const char *moved_key = NULL;
    const json_value *moved = NULL;
    size_t rl = strlen(rest);
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        const json_value *v = o->items[i];
        size_t kl = strlen(k);
        if (*res == 0 && kl == rl && memcmp(k, rest, rl) == 0) {
            buf_reset(tmp);
            int c = convert(v, want, tmp);
            if (c < 0) {
                moved_key = k;
                moved = v;
                *res = 2;
                continue;
            }
            if (!first)
                buf_putc(out, ',');
            first = false;
            put_key(out, k, kl, NULL);
            if (c == 1) {
                buf_append(out, tmp->p, tmp->len);
                *res = 1;
            } else {
                buf_append(out, v->raw, v->raw_len);
                *res = 3; /* found, already right: stop looking */
            }
            continue;
        }
        if (!first)
            buf_putc(out, ',');
        first = false;
        put_key(out, k, kl, NULL);
        if (*res == 0 && v->type == JSON_OBJ && kl < rl && memcmp(rest, k, kl) == 0 &&
            rest[kl] == '.')
            fix_obj(out, v, rest + kl + 1, want, suffix, res, tmp);
        else
            buf_append(out, v->raw, v->raw_len);
    }
    if (moved) {
        if (!first)
            buf_putc(out, ',');
        put_key(out, moved_key, strlen(moved_key), suffix);
        put_as_string(out, moved);
    }
    buf_putc(out, '}');
}

int es_fix_field(const char *doc, size_t len, const char *field, const char *want_type,
                 const char *suffix, sl_buf *out)
{
    buf_reset(out);
    sl_arena a;
    arena_init(&a, 4096);
    char perr[64];
    const json_value *root = json_parse(&a, doc, len, perr, sizeof perr);
    if (!root || root->type != JSON_OBJ) {
        arena_free(&a);
        buf_append(out, doc, len);
        return -1;
    }
    int res = 0;
    sl_buf tmp = SL_BUF_INIT;
    fix_obj(out, root, field, want_type, suffix ? suffix : "_str", &res, &tmp);
    buf_free(&tmp);
    arena_free(&a);
    return res == 3 ? 0 : res;
}

bool es_mapping_error_field(const char *reason, char *out, size_t outlen)
{
    static const char *const marks[] = {"failed to parse field [", "object mapping for [",
                                        "tried to parse field [", "mapper [", "field ["};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        const char *p = strstr(reason, marks[i]);
        if (!p)
            continue;
        p += strlen(marks[i]);
        const char *e = strchr(p, ']');
        if (!e || e == p || (size_t)(e - p) >= outlen)
            continue;
        memcpy(out, p, (size_t)(e - p));
        out[e - p] = '\0';
        return true;
    }
    return false;
}

/* ---- Names -------------------------------------------------------------------------- */

typedef struct ver_pin {
    char field[256];
    char type[16]; /* "" = to be read from the mapping at the next pass */
} ver_pin;

typedef struct ver_name {
    struct ver_name *next; /* hash chain */
    char *stable;
    char active[300], standby[300];
    bool dual, repairing, standby_failed;
    ver_pin pins[VER_MAX_PINS]; /* renamed fields still to pin (es_vers_renamed) */
    size_t npins;
} ver_name;

struct es_vers {
    es_vers_params p; /* its strings copied: below, and p.conn's into conn */
    es_conn conn;
    char *prefix, *template_base, *suffix;
    pthread_rwlock_t rw;    /* sends shared, repair steps exclusive */
    pthread_mutex_t mu;     /* table, name fields, status */
    pthread_mutex_t setup;  /* one first-sight setup at a time */
    ver_name *tab[VER_BUCKETS];
    size_t nnames;
    pthread_t th;
    pthread_cond_t cv;
    bool started, stop;
    /* status (under mu) */
    uint64_t passes, conflicts, indices_fixed, swaps, abandoned, copied, coerced, renamed,
        would_fix;
    uint64_t rereads, rereads_failed, reread_windows; /* re-reads asked of sources */
    char last_action[1024], last_error[400];
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Caller holds mu. */
static ver_name *find(es_vers *v, const char *stable)
{
    for (ver_name *n = v->tab[hash_str(stable) % VER_BUCKETS]; n; n = n->next)
        if (strcmp(n->stable, stable) == 0)
            return n;
    return NULL;
}

/* Caller holds mu; active names an existing version. */
static void insert(es_vers *v, const char *stable, const char *active)
{
    ver_name *n = sl_xcalloc(1, sizeof *n);
    n->stable = sl_xstrdup(stable);
    VFMT(n->active, sizeof n->active, "%s", active);
    char v1[300];
    VFMT(v1, sizeof v1, "%s%s-v1", v->prefix, stable);
    if (strcmp(active, v1) == 0)
        VFMT(n->standby, sizeof n->standby, "%s%s-v2", v->prefix, stable);
    else
        VFMT(n->standby, sizeof n->standby, "%s", v1);
    uint64_t b = hash_str(stable) % VER_BUCKETS;
    n->next = v->tab[b];
    v->tab[b] = n;
    v->nnames++;
}

static void set_error(es_vers *v, const char *err)
{
    pthread_mutex_lock(&v->mu);
    VFMT(v->last_error, sizeof v->last_error, "%s", err);
    pthread_mutex_unlock(&v->mu);
}

static void set_action(es_vers *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_action(es_vers *v, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_info(v->conn.id, "%s", line);
    pthread_mutex_lock(&v->mu);
    VFMT(v->last_action, sizeof v->last_action, "%s", line);
    pthread_mutex_unlock(&v->mu);
}

/* ---- Requests ------------------------------------------------------------------------ */

/* "<name><what>" with the name encoded as one path segment, into out (reset). */
static void api_of(sl_buf *out, const char *name, const char *what)
{
    buf_reset(out);
    url_encode(out, name, strlen(name), URL_SEGMENT);
    buf_puts(out, what);
    buf_putc(out, '\0');
}

static void template_name(es_vers *v, const char *stable, sl_buf *api)
{
    char t[600];
    VFMT(t, sizeof t, "%s-%s", v->template_base, stable);
    buf_reset(api);
    buf_puts(api, "_index_template/");
    url_encode(api, t, strlen(t), URL_SEGMENT);
    buf_putc(api, '\0');
}

/* PUT the name's template: the base mappings, what the template has now (kept unless
 * decided anew), and the decisions pins[0..n). */
static int put_template(es_vers *v, const char *stable, const ver_pin *pins, size_t n,
                        char *err, size_t errlen)
{
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    sl_arena a;
    arena_init(&a, 4096);
    http_response r0 = {0}, r1 = {0};
    template_name(v, stable, &api);
    const json_value *props = NULL;
    char e0[300];
    if (es_conn_do(&v->conn, "GET", api.p, NULL, NULL, NULL, &r0, e0, sizeof e0) == SL_OK) {
        char perr[64];
        const json_value *root = json_parse(&a, r0.body.p, r0.body.len, perr, sizeof perr);
        const json_value *ts = json_get(root, "index_templates");
        const json_value *t0 = ts && ts->type == JSON_ARR && ts->n ? ts->items[0] : NULL;
        props = json_get_path(t0, "index_template", "template", "mappings", "properties", NULL);
        if (props && props->type != JSON_OBJ)
            props = NULL;
    }
    buf_puts(&body, "{\"index_patterns\":[\"");
    json_escape(&body, v->prefix, strlen(v->prefix));
    json_escape(&body, stable, strlen(stable));
    buf_puts(&body, "-v1\",\"");
    json_escape(&body, v->prefix, strlen(v->prefix));
    json_escape(&body, stable, strlen(stable));
    buf_puts(&body, "-v2\"],\"data_stream\":{},\"priority\":210,\"template\":{\"mappings\":"
                    "{\"properties\":{\"@timestamp\":{\"type\":\"date_nanos\"},"
                    "\"message\":{\"type\":\"text\"}");
    for (size_t i = 0; props && i < props->n; i++) {
        const char *k = props->keys[i];
        bool over = strcmp(k, "@timestamp") == 0 || strcmp(k, "message") == 0;
        for (size_t j = 0; j < n && !over; j++)
            over = strcmp(pins[j].field, k) == 0;
        if (over)
            continue;
        buf_putc(&body, ',');
        put_key(&body, k, strlen(k), NULL);
        buf_append(&body, props->items[i]->raw, props->items[i]->raw_len);
    }
    for (size_t j = 0; j < n; j++) {
        buf_putc(&body, ',');
        put_key(&body, pins[j].field, strlen(pins[j].field), NULL);
        buf_printf(&body, "{\"type\":\"%s\"}", pins[j].type);
    }
    buf_puts(&body, "}}}}");
    int rc = es_conn_do(&v->conn, "PUT", api.p, NULL, &body, NULL, &r1, err, errlen);
    buf_free(&r0.body);
    buf_free(&r1.body);
    buf_free(&api);
    buf_free(&body);
    arena_free(&a);
    return rc;
}

/* PUT _data_stream/<name>; one that exists already is fine. */
static int create_stream(es_vers *v, const char *name, char *err, size_t errlen)
{
    sl_buf api = SL_BUF_INIT;
    buf_puts(&api, "_data_stream/");
    url_encode(&api, name, strlen(name), URL_SEGMENT);
    buf_putc(&api, '\0');
    http_response r = {0};
    int rc = es_conn_do(&v->conn, "PUT", api.p, NULL, NULL, NULL, &r, err, errlen);
    if (rc != SL_OK && r.status == 400 && r.body.p &&
        memmem(r.body.p, r.body.len, "already_exists", 14))
        rc = SL_OK;
    buf_free(&r.body);
    buf_free(&api);
    return rc;
}

/* ---- Setup of a name -------------------------------------------------------------------- */

static int setup_name(es_vers *v, const char *stable, char *why, size_t whylen)
{
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    sl_arena a;
    arena_init(&a, 4096);
    http_response r = {0};
    char active[300] = "";
    buf_puts(&api, "_alias/");
    url_encode(&api, stable, strlen(stable), URL_SEGMENT);
    buf_putc(&api, '\0');
    int rc = es_conn_do(&v->conn, "GET", api.p, NULL, NULL, NULL, &r, why, whylen);
    bool created = false;
    if (rc == SL_OK) {
        char perr[64];
        const json_value *root = json_parse(&a, r.body.p, r.body.len, perr, sizeof perr);
        for (size_t i = 0; root && root->type == JSON_OBJ && i < root->n; i++) {
            const json_value *me = json_get_path(root->items[i], "aliases", stable, NULL);
            const json_value *w = json_get(me, "is_write_index");
            if (!me)
                continue;
            if (!active[0] || (w && w->type == JSON_BOOL && w->b))
                VFMT(active, sizeof active, "%s", root->keys[i]);
        }
        if (!active[0]) {
            VFMT(why, whylen, "GET _alias/%s: no index in the answer", stable);
            rc = SL_ERR_IO;
        }
    } else if (r.status == 404) {
        char v1[300];
        VFMT(v1, sizeof v1, "%s%s-v1", v->prefix, stable);
        if ((rc = put_template(v, stable, NULL, 0, why, whylen)) == SL_OK &&
            (rc = create_stream(v, v1, why, whylen)) == SL_OK) {
            buf_puts(&body, "{\"actions\":[{\"add\":{\"index\":\"");
            json_escape(&body, v1, strlen(v1));
            buf_puts(&body, "\",\"alias\":\"");
            json_escape(&body, stable, strlen(stable));
            buf_puts(&body, "\",\"is_write_index\":true}}]}");
            http_response r2 = {0};
            rc = es_conn_do(&v->conn, "POST", "_aliases", NULL, &body, NULL, &r2, why, whylen);
            buf_free(&r2.body);
            if (rc == SL_OK) {
                VFMT(active, sizeof active, "%s", v1);
                created = true;
            }
        }
    }
    if (rc == SL_OK) {
        pthread_mutex_lock(&v->mu);
        if (!find(v, stable))
            insert(v, stable, active);
        pthread_mutex_unlock(&v->mu);
        log_info(v->conn.id, "versions: %s is an alias over %s (%s)", stable, active,
                 created ? "created" : "found");
    }
    buf_free(&r.body);
    buf_free(&api);
    buf_free(&body);
    arena_free(&a);
    return rc;
}

int es_vers_targets(es_vers *v, const char *name, sl_buf *act, sl_buf *sb, char *why,
                    size_t whylen)
{
    buf_reset(act);
    buf_reset(sb);
    for (int pass = 0; pass < 2; pass++) {
        pthread_mutex_lock(&v->mu);
        ver_name *n = find(v, name);
        if (n) {
            buf_puts(act, n->active);
            buf_putc(act, '\0');
            act->len--;
            if (n->dual) {
                buf_puts(sb, n->standby);
                buf_putc(sb, '\0');
                sb->len--;
            }
        }
        pthread_mutex_unlock(&v->mu);
        if (n)
            return SL_OK;
        if (pass == 1)
            break;
        pthread_mutex_lock(&v->setup);
        pthread_mutex_lock(&v->mu);
        bool known = find(v, name) != NULL;
        pthread_mutex_unlock(&v->mu);
        int rc = known ? SL_OK : setup_name(v, name, why, whylen);
        pthread_mutex_unlock(&v->setup);
        if (rc != SL_OK) {
            metrics_error(v->conn.metrics, "versions");
            return rc;
        }
    }
    VFMT(why, whylen, "versions of %s: not set up", name);
    return SL_ERR_IO;
}

/* The stable name a version belongs to (caller holds mu), or NULL. */
static ver_name *by_version(es_vers *v, const char *index)
{
    for (size_t b = 0; b < VER_BUCKETS; b++)
        for (ver_name *n = v->tab[b]; n; n = n->next)
            if (strcmp(n->active, index) == 0 || strcmp(n->standby, index) == 0)
                return n;
    return NULL;
}

void es_vers_renamed(es_vers *v, const char *index, const char *field)
{
    pthread_mutex_lock(&v->mu);
    v->renamed++;
    ver_name *n = by_version(v, index);
    if (n) {
        bool have = false;
        for (size_t i = 0; i < n->npins && !have; i++)
            have = strcmp(n->pins[i].field, field) == 0;
        if (!have && n->npins < VER_MAX_PINS && strlen(field) < sizeof n->pins[0].field) {
            VFMT(n->pins[n->npins].field, sizeof n->pins[0].field, "%s", field);
            n->pins[n->npins].type[0] = '\0';
            n->npins++;
        }
    }
    pthread_mutex_unlock(&v->mu);
}

void es_vers_standby_failed(es_vers *v, const char *standby, const char *why)
{
    pthread_mutex_lock(&v->mu);
    ver_name *n = by_version(v, standby);
    bool first = n && n->dual && !n->standby_failed;
    if (n)
        n->standby_failed = true;
    pthread_mutex_unlock(&v->mu);
    if (first)
        log_warn(v->conn.id, "versions: a write to the standby %s was refused (%s): the repair "
                 "will be abandoned", standby, why);
}

void es_vers_enter(es_vers *v) { pthread_rwlock_rdlock(&v->rw); }
void es_vers_leave(es_vers *v) { pthread_rwlock_unlock(&v->rw); }

/* ---- Repair ----------------------------------------------------------------------------- */

typedef struct copy_items {
    size_t n, bad;
    int *status;
    char (*field)[256]; /* mapping refusals: the field named */
    char first[300];
} copy_items;

static void on_copy_item(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    copy_items *c = arg;
    if (idx >= c->n)
        return;
    c->status[idx] = status;
    c->field[idx][0] = '\0';
    if (status >= 300 && status != 409) {
        if (strstr(type, "parsing_exception"))
            es_mapping_error_field(reason, c->field[idx], sizeof c->field[idx]);
        if (!c->first[0])
            VFMT(c->first, sizeof c->first, "%d %s: %s", status, type, reason);
    }
}

/* POSTs a _bulk body of n create actions; status per item into c. */
static int copy_bulk(es_vers *v, const sl_buf *body, size_t n, copy_items *c, char *err,
                     size_t errlen)
{
    http_response r = {0};
    int rc = es_conn_do(&v->conn, "POST", "_bulk",
                        "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason",
                        body, "application/x-ndjson", &r, err, errlen);
    if (rc == SL_OK) {
        c->n = n;
        c->first[0] = '\0';
        for (size_t i = 0; i < n; i++)
            c->status[i] = 0;
        es_bulk_parser p;
        es_bulk_init(&p, on_copy_item, c);
        if (es_bulk_feed(&p, r.body.p, r.body.len) != 0 || es_bulk_finish(&p) != 0 ||
            p.nitems != n) {
            VFMT(err, errlen, "_bulk into the standby: unparseable answer");
            rc = SL_ERR_IO;
        }
    }
    buf_free(&r.body);
    return rc;
}

static void put_create(sl_buf *b, const char *index, const char *id)
{
    buf_puts(b, "{\"create\":{\"_index\":\"");
    json_escape(b, index, strlen(index));
    buf_puts(b, "\",\"_id\":\"");
    json_escape(b, id, strlen(id));
    buf_puts(b, "\"}}\n");
}

/* One page of hits copied: each document fixed per the decisions, created in the
 * standby; a document refused for a mapping has the named field renamed and goes again
 * (up to 4 fields). Returns SL_OK or SL_ERR_IO (the repair is abandoned). */
static int copy_page(es_vers *v, const json_value *hits, const char *standby, const ver_pin *dec,
                     size_t ndec, uint64_t *coerced, uint64_t *renamed, char *err, size_t errlen)
{
    size_t n = hits->n;
    if (!n)
        return SL_OK;
    sl_buf *docs = sl_xcalloc(n, sizeof *docs);
    const char **ids = sl_xcalloc(n, sizeof *ids);
    sl_buf tmp = SL_BUF_INIT, body = SL_BUF_INIT;
    copy_items c = {.status = sl_xcalloc(n, sizeof(int)), .field = sl_xcalloc(n, 256)};
    size_t *pend = sl_xcalloc(n, sizeof *pend);
    int rc = SL_OK;
    for (size_t i = 0; i < n; i++) {
        const json_value *id = json_get(hits->items[i], "_id");
        const json_value *src = json_get(hits->items[i], "_source");
        if (!id || id->type != JSON_STR || !src || src->type != JSON_OBJ) {
            VFMT(err, errlen, "a hit without _id or _source");
            rc = SL_ERR_IO;
            goto out;
        }
        ids[i] = id->str;
        buf_append(&docs[i], src->raw, src->raw_len);
        for (size_t d = 0; d < ndec; d++) {
            int f = es_fix_field(docs[i].p, docs[i].len, dec[d].field, dec[d].type, v->suffix,
                                 &tmp);
            if (f > 0) {
                *coerced += f == 1;
                *renamed += f == 2;
                buf_reset(&docs[i]);
                buf_append(&docs[i], tmp.p, tmp.len);
            }
        }
        pend[i] = i;
    }
    size_t np = n;
    for (int round = 0; round < 5 && np; round++) {
        buf_reset(&body);
        for (size_t j = 0; j < np; j++) {
            put_create(&body, standby, ids[pend[j]]);
            buf_append(&body, docs[pend[j]].p, docs[pend[j]].len);
            buf_putc(&body, '\n');
        }
        if ((rc = copy_bulk(v, &body, np, &c, err, errlen)) != SL_OK)
            goto out;
        size_t next = 0;
        for (size_t j = 0; j < np; j++) {
            int st = c.status[j];
            if ((st >= 200 && st < 300) || st == 409)
                continue;
            size_t i = pend[j];
            if (st == 429 || st >= 500) {
                pend[next++] = i; /* again as it is */
                continue;
            }
            if (!c.field[j][0] || round == 4 ||
                es_fix_field(docs[i].p, docs[i].len, c.field[j], NULL, v->suffix, &tmp) != 2) {
                VFMT(err, errlen, "the standby %s refused document %s: %s", standby, ids[i],
                         c.first);
                rc = SL_ERR_IO;
                goto out;
            }
            (*renamed)++;
            buf_reset(&docs[i]);
            buf_append(&docs[i], tmp.p, tmp.len);
            pend[next++] = i;
        }
        np = next;
    }
    if (np) {
        VFMT(err, errlen, "the standby %s kept refusing %zu documents: %s", standby, np,
                 c.first);
        rc = SL_ERR_IO;
    }
out:
    for (size_t i = 0; i < n; i++)
        buf_free(&docs[i]);
    free(docs);
    free(ids);
    free(c.status);
    free(c.field);
    free(pend);
    buf_free(&tmp);
    buf_free(&body);
    return rc;
}

/* Copies every document of `active` into `standby` (scroll, 500 a page). */
static int copy_all(es_vers *v, const char *active, const char *standby, const ver_pin *dec,
                    size_t ndec, uint64_t *copied, uint64_t *coerced, uint64_t *renamed,
                    char *err, size_t errlen)
{
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    char sid[4096] = "";
    int rc = SL_OK;
    api_of(&api, active, "/_search");
    buf_printf(&body, "{\"size\":%d,\"sort\":[\"_doc\"]}", VER_COPY_PAGE);
    bool first = true;
    for (;;) {
        http_response r = {0};
        if (first)
            rc = es_conn_do(&v->conn, "POST", api.p, "scroll=5m", &body, NULL, &r, err, errlen);
        else
            rc = es_conn_do(&v->conn, "POST", "_search/scroll", NULL, &body, NULL, &r, err, errlen);
        first = false;
        if (rc != SL_OK) {
            buf_free(&r.body);
            break;
        }
        sl_arena a;
        arena_init(&a, 65536);
        char perr[64];
        const json_value *root = json_parse(&a, r.body.p, r.body.len, perr, sizeof perr);
        const json_value *s = json_get(root, "_scroll_id");
        const json_value *hits = json_get_path(root, "hits", "hits", NULL);
        if (!s || s->type != JSON_STR || s->len >= sizeof sid || !hits || hits->type != JSON_ARR) {
            VFMT(err, errlen, "scroll of %s: unexpected answer", active);
            rc = SL_ERR_IO;
        } else {
            memcpy(sid, s->str, s->len + 1);
            rc = copy_page(v, hits, standby, dec, ndec, coerced, renamed, err, errlen);
            *copied += hits->n;
        }
        size_t nh = hits && hits->type == JSON_ARR ? hits->n : 0;
        arena_free(&a);
        buf_free(&r.body);
        if (rc != SL_OK || nh == 0)
            break;
        pthread_mutex_lock(&v->mu);
        bool stop = v->stop;
        pthread_mutex_unlock(&v->mu);
        if (stop) {
            VFMT(err, errlen, "stopping");
            rc = SL_ERR_IO;
            break;
        }
        buf_reset(&body);
        buf_puts(&body, "{\"scroll\":\"5m\",\"scroll_id\":\"");
        json_escape(&body, sid, strlen(sid));
        buf_puts(&body, "\"}");
    }
    if (sid[0]) {
        buf_reset(&body);
        buf_puts(&body, "{\"scroll_id\":\"");
        json_escape(&body, sid, strlen(sid));
        buf_puts(&body, "\"}");
        http_response r = {0};
        char e2[200];
        es_conn_do(&v->conn, "DELETE", "_search/scroll", NULL, &body, NULL, &r, e2, sizeof e2);
        buf_free(&r.body);
    }
    buf_free(&api);
    buf_free(&body);
    return rc;
}

/* POST <index>/_count with an optional query body; the count into *n. */
static int count_docs(es_vers *v, const char *index, const char *query, uint64_t *n, char *err,
                      size_t errlen)
{
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    api_of(&api, index, "/_count");
    if (query)
        buf_puts(&body, query);
    http_response r = {0};
    int rc = es_conn_do(&v->conn, "POST", api.p, NULL, query ? &body : NULL, NULL, &r, err, errlen);
    if (rc == SL_OK) {
        sl_arena a;
        arena_init(&a, 1024);
        char perr[64];
        const json_value *root = json_parse(&a, r.body.p, r.body.len, perr, sizeof perr);
        const json_value *c = root ? json_get(root, "count") : NULL;
        if (!c || c->type != JSON_NUM) {
            VFMT(err, errlen, "POST %s: no count in the answer", api.p);
            rc = SL_ERR_IO;
        } else {
            *n = (uint64_t)c->num;
        }
        arena_free(&a);
    }
    buf_free(&r.body);
    buf_free(&api);
    buf_free(&body);
    return rc;
}

/* ---- Re-reads from the source (core/reread.h) ------------------------------------------ */

#define VER_MAX_GROUPS 8
#define VER_UNCLAIMED_MS 60000 /* a request no reader takes by then is given up */
#define VER_DRY_WAIT_MS 30000  /* dry_run waits this long for a plan */

typedef struct ver_rr {
    char group[520];
    uint64_t id; /* 0: not posted (no reader serves it any more) */
    sl_reread_state st;
    sl_reread_plan plan;
} ver_rr;

typedef struct ver_rrs {
    ver_rr g[VER_MAX_GROUPS];
    size_t n;
    bool more;        /* more groups matched than VER_MAX_GROUPS: those are copied only */
    int64_t from, to; /* the active version's @timestamp span, [from, to) */
} ver_rrs;

typedef struct ver_match {
    const es_name_tmpl *t;
    const char *stable;
    ver_rrs *set;
    sl_buf name;
} ver_match;

/* A group whose events (identified by the fields its reader gave) render to this name. */
static void match_group(void *arg, const char *group, const sl_reread_field *f, size_t n)
{
    ver_match *m = arg;
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    for (size_t i = 0; i < n; i++)
        event_set_str(b, e, f[i].key, f[i].value, strlen(f[i].value));
    buf_reset(&m->name);
    es_name_render(m->t, e, &m->name);
    bool same = m->name.len == strlen(m->stable) &&
                memcmp(m->name.p, m->stable, m->name.len) == 0;
    batch_release(b);
    if (!same || strlen(group) >= sizeof m->set->g[0].group)
        return;
    for (size_t i = 0; i < m->set->n; i++)
        if (strcmp(m->set->g[i].group, group) == 0)
            return; /* served by two readers: asked once */
    if (m->set->n == VER_MAX_GROUPS) {
        m->set->more = true;
        return;
    }
    VFMT(m->set->g[m->set->n].group, sizeof m->set->g[0].group, "%s", group);
    m->set->n++;
}

/* The oldest and newest @timestamp in `index` (epoch ms); *any false when it is empty. */
static int version_span(es_vers *v, const char *index, int64_t *from, int64_t *to, bool *any,
                        char *err, size_t errlen)
{
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    api_of(&api, index, "/_search");
    buf_puts(&body, "{\"size\":0,\"aggs\":{\"oldest\":{\"min\":{\"field\":\"@timestamp\"}},"
                    "\"newest\":{\"max\":{\"field\":\"@timestamp\"}}}}");
    http_response r = {0};
    int rc = es_conn_do(&v->conn, "POST", api.p, NULL, &body, NULL, &r, err, errlen);
    *any = false;
    if (rc == SL_OK) {
        sl_arena a;
        arena_init(&a, 1024);
        char perr[64];
        const json_value *root = json_parse(&a, r.body.p, r.body.len, perr, sizeof perr);
        const json_value *lo = json_get_path(root, "aggregations", "oldest", "value", NULL);
        const json_value *hi = json_get_path(root, "aggregations", "newest", "value", NULL);
        if (!lo || !hi) {
            VFMT(err, errlen, "POST %s: no aggregations in the answer", api.p);
            rc = SL_ERR_IO;
        } else if (lo->type == JSON_NUM && hi->type == JSON_NUM && lo->num <= hi->num) {
            *from = (int64_t)floor(lo->num);
            *to = (int64_t)floor(hi->num) + 1;
            *any = true;
        }
        arena_free(&a);
    }
    buf_free(&r.body);
    buf_free(&api);
    buf_free(&body);
    return rc;
}

/* Asks the sources of the log groups whose events go to n to read the active version's
 * span again (dry: to say what they would read). No group, an empty version, or a span
 * that cannot be learned: nothing is asked (set->n == 0), the repair copies only. */
static void post_rereads(es_vers *v, ver_name *n, const char *active, bool dry, ver_rrs *set)
{
    memset(set, 0, sizeof *set);
    if (!v->p.name)
        return;
    ver_match m = {v->p.name, n->stable, set, SL_BUF_INIT};
    reread_each_group(match_group, &m);
    buf_free(&m.name);
    if (!set->n)
        return;
    char err[400];
    bool any = false;
    if (version_span(v, active, &set->from, &set->to, &any, err, sizeof err) != SL_OK) {
        log_warn(v->conn.id, "schema_heal: %s: its time span: %s; copied only", n->stable, err);
        set->n = 0;
        return;
    }
    if (!any) {
        set->n = 0;
        return;
    }
    for (size_t i = 0; i < set->n; i++) {
        set->g[i].id = reread_post(set->g[i].group, set->from, set->to, dry);
        set->g[i].st = set->g[i].id ? SL_REREAD_POSTED : SL_REREAD_GONE;
    }
}

/* Waits until every request has ended (DONE, FAILED, or not claimed within
 * VER_UNCLAIMED_MS; dry: at most VER_DRY_WAIT_MS in all), then forgets them. Returns
 * SL_ERR_IO when the module stops meanwhile. */
static int wait_rereads(es_vers *v, ver_rrs *set, bool dry)
{
    int64_t t0 = sl_mono_ms();
    int rc = SL_OK;
    for (;;) {
        bool open = false;
        int64_t now = sl_mono_ms();
        for (size_t i = 0; i < set->n; i++) {
            ver_rr *g = &set->g[i];
            if (!g->id || g->st == SL_REREAD_DONE || g->st == SL_REREAD_FAILED ||
                g->st == SL_REREAD_GONE)
                continue;
            g->st = reread_poll(g->id, &g->plan);
            if (g->st == SL_REREAD_GONE)
                g->st = SL_REREAD_FAILED;
            bool late = (g->st == SL_REREAD_POSTED && now - t0 > VER_UNCLAIMED_MS) ||
                        (dry && now - t0 > VER_DRY_WAIT_MS);
            if (late && g->st != SL_REREAD_DONE)
                g->st = SL_REREAD_FAILED;
            open = open || (g->st != SL_REREAD_DONE && g->st != SL_REREAD_FAILED);
        }
        if (!open)
            break;
        pthread_mutex_lock(&v->mu);
        if (!v->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += 100000000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&v->cv, &v->mu, &ts);
        }
        bool stop = v->stop;
        pthread_mutex_unlock(&v->mu);
        if (stop) {
            rc = SL_ERR_IO;
            break;
        }
    }
    for (size_t i = 0; i < set->n; i++)
        if (set->g[i].id)
            reread_forget(set->g[i].id);
    return rc;
}

/* "2025-12-01T13:00Z" */
static void fmt_ms(char *out, size_t n, int64_t ms)
{
    time_t t = (time_t)(ms / 1000 - (ms % 1000 < 0));
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, n, "%Y-%m-%dT%H:%MZ", &tm) == 0 && n)
        out[0] = '\0';
}

/* What the repair of a name read again and what it copied, for its info line. */
static void describe_rereads(const ver_rrs *set, const char *active, bool dry, char *out,
                             size_t n)
{
    size_t len = 0;
    bool all_read = set->n > 0 && !set->more;
    out[0] = '\0';
#define PUT(...)                                                                         \
    do {                                                                                 \
        int w_ = snprintf(out + len, n - len, __VA_ARGS__);                              \
        if (w_ > 0)                                                                      \
            len = SL_MIN(len + (size_t)w_, n - 1);                                       \
    } while (0)
    for (size_t i = 0; i < set->n; i++) {
        const ver_rr *g = &set->g[i];
        char a[32], b[32], ret[48];
        if (g->plan.retention_days)
            VFMT(ret, sizeof ret, "retention %" PRId64 "d", g->plan.retention_days);
        else
            VFMT(ret, sizeof ret, "no retention limit");
        if (i)
            PUT("; ");
        if (g->st != SL_REREAD_DONE) {
            PUT("%s not re-read (its source did not answer)", g->group);
            all_read = false;
        } else if (g->plan.from >= g->plan.to) {
            PUT("%s: nothing within its %s to re-read", g->group, ret);
            all_read = false;
        } else {
            fmt_ms(a, sizeof a, g->plan.from);
            fmt_ms(b, sizeof b, g->plan.to);
            PUT("%s %s..%s of %s from %s (%s)", dry ? "would re-read" : "re-read", a, b,
                g->group, g->plan.source[0] ? g->plan.source : "its source", ret);
            all_read = all_read && g->plan.from <= set->from;
        }
    }
    if (!set->n)
        PUT("%s everything from %s (no source re-reads its events)", dry ? "would copy" : "copied",
            active);
    else
        PUT(", %s %s from %s", dry ? "would copy" : "copied",
            all_read ? "everything as well" : "the older range", active);
#undef PUT
}

static void set_dual(es_vers *v, ver_name *n, bool on)
{
    pthread_rwlock_wrlock(&v->rw);
    pthread_mutex_lock(&v->mu);
    n->dual = on;
    n->standby_failed = false;
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->rw);
}

/* The REPAIR state of the header: rebuild `n` into its standby with the decisions, swap.
 * Returns SL_OK when the alias was swapped. */
static int repair(es_vers *v, ver_name *n, const ver_pin *dec, size_t ndec, char *err,
                  size_t errlen)
{
    char active[300], standby[300];
    pthread_mutex_lock(&v->mu);
    VFMT(active, sizeof active, "%s", n->active);
    VFMT(standby, sizeof standby, "%s", n->standby);
    n->repairing = true;
    pthread_mutex_unlock(&v->mu);
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    http_response r = {0};
    uint64_t copied = 0, coerced = 0, renamed = 0, na = 0, ns = 0;
    ver_rrs rrs;
    char what[700] = "";
    memset(&rrs, 0, sizeof rrs);
    /* 1. a fresh standby under the new template */
    buf_puts(&api, "_data_stream/");
    url_encode(&api, standby, strlen(standby), URL_SEGMENT);
    buf_putc(&api, '\0');
    int rc = es_conn_do(&v->conn, "DELETE", api.p, NULL, NULL, NULL, &r, err, errlen);
    if (rc != SL_OK && r.status == 404)
        rc = SL_OK;
    buf_free(&r.body);
    if (rc == SL_OK)
        rc = put_template(v, n->stable, dec, ndec, err, errlen);
    if (rc == SL_OK)
        rc = create_stream(v, standby, err, errlen);
    if (rc != SL_OK)
        goto out;
    /* 2. dual writes; every send without them has finished */
    set_dual(v, n, true);
    /* 3. copy */
    rc = copy_all(v, active, standby, dec, ndec, &copied, &coerced, &renamed, err, errlen);
    /* 4. verify and swap, with no send between its two writes */
    pthread_rwlock_wrlock(&v->rw);
    pthread_mutex_lock(&v->mu);
    bool refused = n->standby_failed;
    pthread_mutex_unlock(&v->mu);
    if (rc == SL_OK && refused) {
        VFMT(err, errlen, "a live write to the standby %s was refused", standby);
        rc = SL_ERR_IO;
    }
    if (rc == SL_OK) {
        char both[620];
        VFMT(both, sizeof both, "%s,%s", active, standby);
        api_of(&api, both, "/_refresh");
        rc = es_conn_do(&v->conn, "POST", api.p, NULL, NULL, NULL, &r, err, errlen);
        buf_free(&r.body);
    }
    if (rc == SL_OK && (rc = count_docs(v, active, NULL, &na, err, errlen)) == SL_OK &&
        (rc = count_docs(v, standby, NULL, &ns, err, errlen)) == SL_OK && ns < na) {
        VFMT(err, errlen, "the standby %s holds %" PRIu64 " documents, the active %s %" PRIu64,
                 standby, ns, active, na);
        rc = SL_ERR_IO;
    }
    if (rc == SL_OK) {
        buf_reset(&body);
        buf_puts(&body, "{\"actions\":[{\"remove\":{\"index\":\"");
        json_escape(&body, active, strlen(active));
        buf_puts(&body, "\",\"alias\":\"");
        json_escape(&body, n->stable, strlen(n->stable));
        buf_puts(&body, "\"}},{\"add\":{\"index\":\"");
        json_escape(&body, standby, strlen(standby));
        buf_puts(&body, "\",\"alias\":\"");
        json_escape(&body, n->stable, strlen(n->stable));
        buf_puts(&body, "\",\"is_write_index\":true}}]}");
        rc = es_conn_do(&v->conn, "POST", "_aliases", NULL, &body, NULL, &r, err, errlen);
        buf_free(&r.body);
    }
    pthread_mutex_lock(&v->mu);
    if (rc == SL_OK) {
        VFMT(n->active, sizeof n->active, "%s", standby);
        VFMT(n->standby, sizeof n->standby, "%s", active);
        v->swaps++;
        v->copied += copied;
        v->coerced += coerced;
        v->renamed += renamed;
    }
    n->dual = false;
    n->standby_failed = false;
    pthread_mutex_unlock(&v->mu);
    pthread_rwlock_unlock(&v->rw);
    if (rc == SL_OK) {
        metrics_count(v->conn.metrics, "alias_swaps", 1);
        metrics_count(v->conn.metrics, "schema_heal_documents_coerced", coerced);
        metrics_count(v->conn.metrics, "schema_heal_documents_renamed", renamed);
        set_action(v, "versions: %s rebuilt into %s (%" PRIu64 " documents, %" PRIu64
                   " coerced, %" PRIu64 " renamed) and the alias moved from %s in one call",
                   n->stable, standby, ns, coerced, renamed, active);
        /* 5. the sources read again what they still hold of the span, into the rebuilt
         * version, now active (one backing index: a create of an event it holds is a 409) */
        post_rereads(v, n, standby, false, &rrs);
        wait_rereads(v, &rrs, false);
        describe_rereads(&rrs, active, false, what, sizeof what);
        uint64_t rr_done = 0, rr_failed = 0, rr_windows = 0;
        for (size_t i = 0; i < rrs.n; i++) {
            if (rrs.g[i].st == SL_REREAD_DONE) {
                rr_done++;
                rr_windows += rrs.g[i].plan.windows;
            } else {
                rr_failed++;
            }
        }
        pthread_mutex_lock(&v->mu);
        v->rereads += rr_done;
        v->rereads_failed += rr_failed;
        v->reread_windows += rr_windows;
        pthread_mutex_unlock(&v->mu);
        metrics_count(v->conn.metrics, "schema_heal_rereads", rr_done);
        metrics_count(v->conn.metrics, "schema_heal_rereads_failed", rr_failed);
        metrics_count(v->conn.metrics, "schema_heal_reread_windows", rr_windows);
        set_action(v, "schema_heal: repair %s: %s", n->stable, what);
    }
out:
    pthread_mutex_lock(&v->mu);
    n->repairing = false;
    if (rc != SL_OK)
        v->abandoned++;
    pthread_mutex_unlock(&v->mu);
    if (rc != SL_OK)
        metrics_count(v->conn.metrics, "repairs_abandoned", 1);
    buf_free(&api);
    buf_free(&body);
    return rc;
}

/* ---- Heal pass -------------------------------------------------------------------------- */

/* The template type of a _field_caps type, by family ("" = not decided on). */
static const char *family(const char *t)
{
    static const char *const ints[] = {"long", "integer", "short", "byte", "unsigned_long"};
    static const char *const flts[] = {"double", "float", "half_float", "scaled_float"};
    static const char *const strs[] = {"keyword", "text", "match_only_text", "wildcard",
                                       "constant_keyword"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(t, ints[i]) == 0)
            return "long";
    for (size_t i = 0; i < 4; i++)
        if (strcmp(t, flts[i]) == 0)
            return "double";
    for (size_t i = 0; i < 5; i++)
        if (strcmp(t, strs[i]) == 0)
            return "keyword";
    if (strcmp(t, "boolean") == 0)
        return "boolean";
    if (strcmp(t, "date") == 0 || strcmp(t, "date_nanos") == 0)
        return "date";
    if (strcmp(t, "object") == 0 || strcmp(t, "nested") == 0)
        return "object";
    return "";
}

typedef struct heal_result {
    ver_pin dec[VER_MAX_PINS];
    size_t ndec;
    size_t fix; /* backing indices whose type loses */
    bool conflict;
    char what[400];
} heal_result;

/* Looks at one name's active version: conflicts and their consensus, renamed fields'
 * types. Returns SL_OK (res filled) or an error. */
static int examine(es_vers *v, ver_name *n, const char *active, heal_result *res, char *err,
                   size_t errlen)
{
    memset(res, 0, sizeof *res);
    sl_buf api = SL_BUF_INIT, q = SL_BUF_INIT;
    sl_arena a;
    arena_init(&a, 16384);
    http_response r = {0};
    api_of(&api, active, "/_field_caps");
    int rc = es_conn_do(&v->conn, "GET", api.p, "fields=*", NULL, NULL, &r, err, errlen);
    char perr[64];
    const json_value *root = rc == SL_OK ? json_parse(&a, r.body.p, r.body.len, perr, sizeof perr)
                                         : NULL;
    const json_value *fields = root ? json_get(root, "fields") : NULL;
    if (rc == SL_OK && (!fields || fields->type != JSON_OBJ)) {
        VFMT(err, errlen, "GET %s: no fields in the answer", api.p);
        rc = SL_ERR_IO;
    }
    size_t wlen = 0;
    for (size_t i = 0; rc == SL_OK && i < fields->n && res->ndec < VER_MAX_PINS; i++) {
        const char *f = fields->keys[i];
        const json_value *types = fields->items[i];
        if (types->type != JSON_OBJ || f[0] == '_' || strlen(f) >= sizeof res->dec[0].field)
            continue;
        /* families present, with the documents of each */
        const char *fam[8];
        uint64_t cnt[8] = {0};
        size_t nidx[8] = {0}, nf = 0;
        for (size_t t = 0; t < types->n; t++) {
            const char *fm = family(types->keys[t]);
            if (!fm[0])
                continue;
            size_t k = 0;
            while (k < nf && strcmp(fam[k], fm) != 0)
                k++;
            if (k == nf) {
                if (nf == 8)
                    continue;
                fam[nf++] = fm;
            }
            const json_value *ixs = json_get(types->items[t], "indices");
            if (!ixs || ixs->type != JSON_ARR || !ixs->n)
                continue;
            sl_buf list = SL_BUF_INIT;
            for (size_t j = 0; j < ixs->n; j++)
                if (ixs->items[j]->type == JSON_STR) {
                    if (list.len)
                        buf_putc(&list, ',');
                    buf_puts(&list, ixs->items[j]->str);
                }
            buf_putc(&list, '\0');
            buf_reset(&q);
            buf_puts(&q, "{\"query\":{\"exists\":{\"field\":\"");
            json_escape(&q, f, strlen(f));
            buf_puts(&q, "\"}}}");
            buf_putc(&q, '\0');
            uint64_t c = 0;
            rc = count_docs(v, list.p, q.p, &c, err, errlen);
            buf_free(&list);
            if (rc != SL_OK)
                break;
            cnt[k] += c;
            nidx[k] += ixs->n;
        }
        if (rc != SL_OK)
            break;
        bool pinned = false;
        pthread_mutex_lock(&v->mu);
        for (size_t p = 0; p < n->npins; p++)
            pinned = pinned || strcmp(n->pins[p].field, f) == 0;
        pthread_mutex_unlock(&v->mu);
        if (nf == 1 && pinned && strcmp(fam[0], "object") != 0) {
            ver_pin *d = &res->dec[res->ndec++];
            VFMT(d->field, sizeof d->field, "%s", f);
            VFMT(d->type, sizeof d->type, "%s", fam[0]);
            continue;
        }
        if (nf < 2)
            continue;
        size_t best = 0;
        for (size_t k = 1; k < nf; k++)
            if (cnt[k] > cnt[best] ||
                (cnt[k] == cnt[best] && strcmp(fam[k], "keyword") == 0))
                best = k;
        if (strcmp(fam[best], "object") == 0 || strcmp(fam[best], "date") == 0)
            continue; /* not coerced into: left as it is, and said */
        res->conflict = true;
        ver_pin *d = &res->dec[res->ndec++];
        VFMT(d->field, sizeof d->field, "%s", f);
        VFMT(d->type, sizeof d->type, "%s", fam[best]);
        for (size_t k = 0; k < nf; k++)
            if (k != best)
                res->fix += nidx[k];
        int w = snprintf(res->what + wlen, sizeof res->what - wlen, "%s%s: %s", wlen ? "; " : "",
                         f, fam[best]);
        for (size_t k = 0; k < nf && w > 0 && wlen + (size_t)w < sizeof res->what; k++) {
            size_t at = wlen + (size_t)w;
            int w2 = snprintf(res->what + at, sizeof res->what - at, "%s%s in %zu (%" PRIu64
                              " documents)", k ? ", " : " (", fam[k], nidx[k], cnt[k]);
            if (w2 > 0)
                w += w2;
        }
        if (w > 0 && wlen + (size_t)w + 1 < sizeof res->what) {
            res->what[wlen + (size_t)w] = ')';
            res->what[wlen + (size_t)w + 1] = '\0';
            w++;
        }
        if (w > 0)
            wlen = SL_MIN(wlen + (size_t)w, sizeof res->what - 1);
    }
    /* a renamed field also pins its new name as keyword */
    pthread_mutex_lock(&v->mu);
    for (size_t p = 0; p < n->npins && res->ndec < VER_MAX_PINS; p++) {
        ver_pin *d = &res->dec[res->ndec];
        int w = snprintf(d->field, sizeof d->field, "%s%s", n->pins[p].field, v->suffix);
        if (w > 0 && (size_t)w < sizeof d->field) {
            VFMT(d->type, sizeof d->type, "keyword");
            res->ndec++;
        }
    }
    pthread_mutex_unlock(&v->mu);
    buf_free(&r.body);
    buf_free(&api);
    buf_free(&q);
    arena_free(&a);
    return rc;
}

/* Learns the names whose alias points at one of our versions (a pass after a restart
 * knows them before any event of theirs is sent): the aliases of <prefix>*. */
static void discover(es_vers *v)
{
    sl_buf api = SL_BUF_INIT;
    char pat[300], err[400];
    VFMT(pat, sizeof pat, "%s*", v->prefix);
    api_of(&api, pat, "/_alias");
    http_response r = {0};
    if (es_conn_do(&v->conn, "GET", api.p, NULL, NULL, NULL, &r, err, sizeof err) == SL_OK) {
        sl_arena a;
        arena_init(&a, 16384);
        char perr[64];
        const json_value *root = json_parse(&a, r.body.p, r.body.len, perr, sizeof perr);
        size_t pl = strlen(v->prefix);
        for (size_t i = 0; root && root->type == JSON_OBJ && i < root->n; i++) {
            const char *ix = root->keys[i];
            const json_value *al = json_get(root->items[i], "aliases");
            size_t il = strlen(ix);
            if (!al || al->type != JSON_OBJ || il < pl + 4 || strncmp(ix, v->prefix, pl) != 0 ||
                (strcmp(ix + il - 3, "-v1") != 0 && strcmp(ix + il - 3, "-v2") != 0))
                continue;
            for (size_t j = 0; j < al->n; j++) {
                const char *name = al->keys[j];
                const json_value *w = json_get(al->items[j], "is_write_index");
                if (strlen(name) != il - pl - 3 || strncmp(name, ix + pl, il - pl - 3) != 0 ||
                    (w && w->type == JSON_BOOL && !w->b))
                    continue;
                pthread_mutex_lock(&v->mu);
                if (!find(v, name))
                    insert(v, name, ix);
                pthread_mutex_unlock(&v->mu);
            }
        }
        arena_free(&a);
    } else if (r.status != 404) {
        log_warn(v->conn.id, "schema_heal: %s", err);
    }
    buf_free(&r.body);
    buf_free(&api);
}

static void heal_pass(es_vers *v)
{
    discover(v);
    /* the names, snapshotted: a name is never freed while the module lives */
    pthread_mutex_lock(&v->mu);
    size_t cap = v->nnames, nn = 0;
    ver_name **names = sl_xcalloc(cap ? cap : 1, sizeof *names);
    for (size_t b = 0; b < VER_BUCKETS; b++)
        for (ver_name *n = v->tab[b]; n && nn < cap; n = n->next)
            names[nn++] = n;
    pthread_mutex_unlock(&v->mu);
    size_t fixed = 0, would = 0, conflicts = 0;
    for (size_t i = 0; i < nn; i++) {
        ver_name *n = names[i];
        char active[300], err[400] = "";
        pthread_mutex_lock(&v->mu);
        VFMT(active, sizeof active, "%s", n->active);
        size_t npins = n->npins;
        bool stop = v->stop;
        pthread_mutex_unlock(&v->mu);
        if (stop)
            break;
        heal_result res;
        if (examine(v, n, active, &res, err, sizeof err) != SL_OK) {
            log_warn(v->conn.id, "schema_heal: %s: %s", n->stable, err);
            metrics_error(v->conn.metrics, "schema_heal");
            set_error(v, err);
            continue;
        }
        if (res.conflict) {
            conflicts++;
            metrics_count(v->conn.metrics, "schema_heal_conflicts", 1);
        }
        if (v->p.heal == ES_HEAL_DRY_RUN) {
            if (res.conflict) {
                would += res.fix;
                ver_rrs rrs;
                char what[700];
                post_rereads(v, n, active, true, &rrs);
                wait_rereads(v, &rrs, true);
                describe_rereads(&rrs, active, true, what, sizeof what);
                set_action(v, "schema_heal: dry_run: %s would be rebuilt into its standby with "
                           "%s; %zu indices disagree; %s", n->stable, res.what, res.fix, what);
            }
            continue;
        }
        if (res.conflict) {
            log_info(v->conn.id, "schema_heal: %s: %s; rebuilding into the standby", n->stable,
                     res.what);
            if (repair(v, n, res.dec, res.ndec, err, sizeof err) != SL_OK) {
                log_warn(v->conn.id, "schema_heal: %s: repair abandoned, the alias stays: %s",
                         n->stable, err);
                metrics_error(v->conn.metrics, "schema_heal");
                set_error(v, err);
                continue;
            }
            fixed += res.fix;
        } else if (res.ndec && npins) {
            if (put_template(v, n->stable, res.dec, res.ndec, err, sizeof err) != SL_OK) {
                log_warn(v->conn.id, "schema_heal: %s: %s", n->stable, err);
                set_error(v, err);
                continue;
            }
            set_action(v, "schema_heal: %s: template pins %zu renamed field%s", n->stable,
                       res.ndec / 2, res.ndec / 2 == 1 ? "" : "s");
        }
        if (npins) {
            pthread_mutex_lock(&v->mu);
            /* pins added meanwhile stay for the next pass */
            memmove(n->pins, n->pins + npins, (n->npins - npins) * sizeof *n->pins);
            n->npins -= npins;
            pthread_mutex_unlock(&v->mu);
        }
    }
    free(names);
    pthread_mutex_lock(&v->mu);
    v->passes++;
    v->conflicts += conflicts;
    v->indices_fixed += fixed;
    v->would_fix = would;
    pthread_mutex_unlock(&v->mu);
    if (fixed) {
        metrics_count(v->conn.metrics, "schema_heal_indices_fixed", fixed);
        set_action(v, "schema_heal: fixed %zu %s with mapping conflicts", fixed,
                   fixed == 1 ? "index" : "indices");
    }
    if (would)
        set_action(v, "schema_heal: dry_run: would fix %zu %s with mapping conflicts", would,
                   would == 1 ? "index" : "indices");
}

static void *heal_main(void *arg)
{
    es_vers *v = arg;
    pthread_mutex_lock(&v->mu);
    while (!v->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (v->p.every_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(v->p.every_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!v->stop && pthread_cond_timedwait(&v->cv, &v->mu, &ts) == 0) {
        }
        if (v->stop)
            break;
        pthread_mutex_unlock(&v->mu);
        heal_pass(v);
        pthread_mutex_lock(&v->mu);
    }
    pthread_mutex_unlock(&v->mu);
    return NULL;
}

/* ---- Life --------------------------------------------------------------------------- */

es_vers *es_vers_new(const es_vers_params *p)
{
    es_vers *v = sl_xcalloc(1, sizeof *v);
    v->p = *p;
    v->prefix = sl_xstrdup(p->prefix);
    v->template_base = sl_xstrdup(p->template_base);
    v->suffix = sl_xstrdup(p->suffix);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* a repair waiting for the exclusive hold must not starve behind a stream of sends */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&v->rw, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&v->mu, NULL);
    pthread_mutex_init(&v->setup, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&v->cv, &ca);
    pthread_condattr_destroy(&ca);
    char e[200];
    if (es_conn_open(&v->conn, &p->conn, e, sizeof e) != SL_OK) {
        log_error(p->conn.id, "versions: %s", e);
        es_vers_free(v);
        return NULL;
    }
    return v;
}

void es_vers_start(es_vers *v)
{
    if (!v || v->p.heal == ES_HEAL_OFF)
        return;
    pthread_mutex_lock(&v->mu);
    bool go = !v->started;
    v->started = true;
    pthread_mutex_unlock(&v->mu);
    if (!go)
        return;
    log_info(v->conn.id, "schema_heal%s: every %" PRId64 " ms, renamed fields get the suffix %s",
             v->p.heal == ES_HEAL_DRY_RUN ? " (dry_run: reports only)" : "", v->p.every_ms,
             v->suffix);
    if (pthread_create(&v->th, NULL, heal_main, v) == 0) {
        sl_thread_name(v->th, "es-heal", v->conn.id);
    } else {
        log_error(v->conn.id, "schema_heal: cannot start a thread");
        pthread_mutex_lock(&v->mu);
        v->started = false;
        pthread_mutex_unlock(&v->mu);
    }
}

void es_vers_free(es_vers *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&v->mu);
    bool joined = v->started;
    v->stop = true;
    pthread_cond_broadcast(&v->cv);
    pthread_mutex_unlock(&v->mu);
    if (joined)
        pthread_join(v->th, NULL);
    es_conn_close(&v->conn);
    for (size_t b = 0; b < VER_BUCKETS; b++)
        while (v->tab[b]) {
            ver_name *n = v->tab[b];
            v->tab[b] = n->next;
            free(n->stable);
            free(n);
        }
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->setup);
    pthread_mutex_destroy(&v->mu);
    pthread_rwlock_destroy(&v->rw);
    free(v->prefix);
    free(v->template_base);
    free(v->suffix);
    free(v);
}

static void put_json_str(sl_buf *out, const char *s)
{
    if (!s || !*s) {
        buf_puts(out, "null");
        return;
    }
    buf_putc(out, '"');
    json_escape(out, s, strlen(s));
    buf_putc(out, '"');
}

void es_vers_status_json(es_vers *v, sl_buf *out)
{
    if (!v)
        return;
    static const char *const modes[] = {"off", "on", "dry_run"};
    pthread_mutex_lock(&v->mu);
    buf_printf(out, ",\"versions\":{\"names\":%zu,\"schema_heal\":\"%s\",\"passes\":%" PRIu64
               ",\"conflicts\":%" PRIu64 ",\"indices_fixed\":%" PRIu64 ",\"would_fix\":%" PRIu64
               ",\"swaps\":%" PRIu64 ",\"repairs_abandoned\":%" PRIu64 ",\"documents_copied\":%"
               PRIu64 ",\"documents_coerced\":%" PRIu64 ",\"documents_renamed\":%" PRIu64
               ",\"rereads\":%" PRIu64 ",\"rereads_failed\":%" PRIu64 ",\"reread_windows\":%"
               PRIu64 ",\"last_action\":", v->nnames, modes[v->p.heal], v->passes, v->conflicts,
               v->indices_fixed, v->would_fix, v->swaps, v->abandoned, v->copied, v->coerced,
               v->renamed, v->rereads, v->rereads_failed, v->reread_windows);
    put_json_str(out, v->last_action);
    buf_puts(out, ",\"last_error\":");
    put_json_str(out, v->last_error);
    buf_puts(out, ",\"streams\":[");
    size_t k = 0;
    for (size_t b = 0; b < VER_BUCKETS && k < 64; b++)
        for (ver_name *n = v->tab[b]; n && k < 64; n = n->next, k++) {
            buf_puts(out, k ? ",{\"name\":" : "{\"name\":");
            put_json_str(out, n->stable);
            buf_puts(out, ",\"active\":");
            put_json_str(out, n->active);
            buf_puts(out, ",\"standby\":");
            put_json_str(out, n->standby);
            buf_printf(out, ",\"repairing\":%s}", n->repairing ? "true" : "false");
        }
    buf_puts(out, "]}");
    pthread_mutex_unlock(&v->mu);
}
