/* es_admin.c - index administration of the `elasticsearch` sink that runs beside the bulk
 * path: hot/cold refresh tuning of the indices it writes.
 *
 * State machine of the tuner (one thread per sink, started on the sink's first tick):
 *   wait `every` (the first pass at once) -> pass -> wait ... until es_admin_stop.
 * A pass:
 *   1. POST <pattern>/_search with size 0 and a terms aggregation on _index with a max of
 *      @timestamp under it: the newest event of every backing index (data streams resolve
 *      to their .ds- indices) in one request. Indices without documents have no newest
 *      event and are left alone.
 *   2. GET <pattern>/_settings/index.refresh_interval?flat_settings=true: what is set now
 *      (unset counts as "not what we want", so it is set once explicitly).
 *   3. Newest @timestamp within cold_age_days -> hot_interval, else cold_interval; each
 *      index whose setting differs gets PUT <index>/_settings, one info line per change
 *      ("refresh: logs-x-2026.11.01 -> 30s (cold)") and the counter refresh_changes.
 * A failed request ends the pass (warning, error reason "refresh_tuning"); the next pass
 * starts over, so nothing is remembered between passes except for the status. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/log.h"
#include "es.h"
#include "formats/json.h"
#include "net/http_client.h"

#define O(name, type, field, def, min, max, help)                                          \
    {name, type, offsetof(es_refresh_config, field), def, 0, NULL, NULL, min, max, help}
const sl_option es_refresh_options[] = {
    O("every", SL_OPT_DURATION, every_ms, "0", 0, 366LL * 86400000,
      "how often the indices are re-evaluated (0 = no refresh tuning)"),
    O("cold_age_days", SL_OPT_INT, cold_age_days, "7", 0, 36500,
      "an index whose newest @timestamp is older than this many days is cold"),
    O("hot_interval", SL_OPT_STR, hot_interval, "1s", 0, 0, "refresh_interval of hot indices"),
    O("cold_interval", SL_OPT_STR, cold_interval, "30s", 0, 0,
      "refresh_interval of cold indices"),
    SL_OPT_END,
};
#undef O

bool es_time_value_ok(const char *v)
{
    if (!v || !*v)
        return false;
    if (strcmp(v, "-1") == 0 || strcmp(v, "0") == 0)
        return true;
    static const char *const units[] = {"nanos", "micros", "ms", "s", "m", "h", "d"};
    size_t digits = strspn(v, "0123456789");
    if (digits == 0 || digits > 12)
        return false;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(v + digits, units[i]) == 0)
            return true;
    return false;
}

struct es_admin {
    es_conn conn;
    const es_refresh_config *cfg; /* borrowed: outlives the tuner */
    char *pattern;
    bool sync; /* mu and cv set up */
    pthread_t th;
    pthread_mutex_t mu; /* stop, cv, and the status fields */
    pthread_cond_t cv;
    bool stop;
    /* status (under mu) */
    uint64_t passes, changes, hot, cold;
    int64_t last_pass_ms; /* wall ms, 0 = none yet */
    char last_error[400];
};

/* The API path "<pattern>/<what>", the pattern encoded as one segment. */
static void admin_api(sl_buf *out, const char *pattern, const char *what)
{
    buf_reset(out);
    url_encode(out, pattern, strlen(pattern), URL_SEGMENT);
    buf_puts(out, what);
    buf_putc(out, '\0');
}

static int admin_pass(es_admin *a, char *err, size_t errlen)
{
    const es_refresh_config *c = a->cfg;
    sl_arena ar;
    arena_init(&ar, 16384);
    sl_buf api = SL_BUF_INIT, body = SL_BUF_INIT;
    http_response r1 = {0}, r2 = {0};
    int rc = SL_OK;
    uint64_t hot = 0, cold = 0, changes = 0;
    char perr[64];
    /* 1. the newest @timestamp of every index */
    admin_api(&api, a->pattern, "/_search");
    buf_puts(&body, "{\"size\":0,\"aggs\":{\"i\":{\"terms\":{\"field\":\"_index\",\"size\":10000},"
                    "\"aggs\":{\"m\":{\"max\":{\"field\":\"@timestamp\"}}}}}}");
    if ((rc = es_conn_do(&a->conn, "POST", api.p, "ignore_unavailable=true&allow_no_indices=true",
                         &body, NULL, &r1, err, errlen)) != SL_OK)
        goto out;
    const json_value *root = json_parse(&ar, r1.body.p, r1.body.len, perr, sizeof perr);
    const json_value *aggs = json_get(root, "aggregations");
    const json_value *buckets = json_get_path(aggs, "i", "buckets", NULL);
    if (root && !aggs && root->type == JSON_OBJ) {
        goto done; /* no index matches yet: nothing to tune */
    }
    if (!buckets || buckets->type != JSON_ARR) {
        snprintf(err, errlen, "POST %s: no aggregations.i.buckets in the answer", api.p);
        rc = SL_ERR_IO;
        goto out;
    }
    /* 2. what is set now */
    admin_api(&api, a->pattern, "/_settings/index.refresh_interval");
    if ((rc = es_conn_do(&a->conn, "GET", api.p,
                         "flat_settings=true&ignore_unavailable=true&allow_no_indices=true",
                         NULL, NULL, &r2, err, errlen)) != SL_OK)
        goto out;
    const json_value *cur = json_parse(&ar, r2.body.p, r2.body.len, perr, sizeof perr);
    if (!cur || cur->type != JSON_OBJ) {
        snprintf(err, errlen, "GET %s: not a JSON object (%s)", api.p, cur ? "shape" : perr);
        rc = SL_ERR_IO;
        goto out;
    }
    /* 3. set what differs */
    int64_t now = sl_now_ns() / 1000000, cold_ms = c->cold_age_days * 86400000;
    for (size_t i = 0; i < buckets->n; i++) {
        const json_value *b = buckets->items[i];
        const json_value *key = json_get(b, "key");
        const json_value *v = json_get_path(b, "m", "value", NULL);
        if (!key || key->type != JSON_STR || !v || v->type != JSON_NUM)
            continue; /* no @timestamp in that index */
        bool is_hot = now - (int64_t)v->num <= cold_ms;
        const char *want = is_hot ? c->hot_interval : c->cold_interval;
        hot += is_hot;
        cold += !is_hot;
        const json_value *ri = json_get_path(cur, key->str, "settings", "index.refresh_interval",
                                             NULL);
        if (ri && ri->type == JSON_STR && strcmp(ri->str, want) == 0)
            continue;
        admin_api(&api, key->str, "/_settings");
        buf_reset(&body);
        buf_printf(&body, "{\"index\":{\"refresh_interval\":\"%s\"}}", want);
        http_response r3;
        rc = es_conn_do(&a->conn, "PUT", api.p, NULL, &body, NULL, &r3, err, errlen);
        buf_free(&r3.body);
        if (rc != SL_OK)
            goto out;
        changes++;
        metrics_count(a->conn.metrics, "refresh_changes", 1);
        log_info(a->conn.id, "refresh: %s -> %s (%s)", key->str, want, is_hot ? "hot" : "cold");
    }
done:
    pthread_mutex_lock(&a->mu);
    a->passes++;
    a->changes += changes;
    a->hot = hot;
    a->cold = cold;
    a->last_pass_ms = sl_now_ns() / 1000000;
    a->last_error[0] = '\0';
    pthread_mutex_unlock(&a->mu);
    sl_gauge_sample g[2] = {{"hot", (double)hot}, {"cold", (double)cold}};
    metrics_gauges_set(a->conn.metrics, "sluice_es_refresh_indices",
                       "Indices an elasticsearch sink's refresh tuning found hot and cold at its "
                       "last pass.", "state", g, 2);
out:
    buf_free(&r1.body);
    buf_free(&r2.body);
    buf_free(&api);
    buf_free(&body);
    arena_free(&ar);
    return rc;
}

static void *admin_main(void *arg)
{
    es_admin *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        pthread_mutex_unlock(&a->mu);
        char err[400] = "";
        if (admin_pass(a, err, sizeof err) != SL_OK) {
            log_warn(a->conn.id, "refresh tuning: %s; again in %" PRId64 " ms", err,
                     a->cfg->every_ms);
            metrics_error(a->conn.metrics, "refresh_tuning");
            pthread_mutex_lock(&a->mu);
            snprintf(a->last_error, sizeof a->last_error, "%s", err);
            pthread_mutex_unlock(&a->mu);
        }
        pthread_mutex_lock(&a->mu);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (a->cfg->every_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(a->cfg->every_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        while (!a->stop && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0) {
        }
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

es_admin *es_admin_start(const es_admin_params *p)
{
    es_admin *a = sl_xcalloc(1, sizeof *a);
    a->cfg = p->cfg;
    a->pattern = sl_xstrdup(p->pattern);
    char e[200];
    if (es_conn_open(&a->conn, &p->conn, e, sizeof e) != SL_OK) {
        log_error(p->conn.id, "refresh tuning: %s", e); /* checked at init: not expected */
        es_admin_stop(a);
        return NULL;
    }
    a->sync = true;
    pthread_mutex_init(&a->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->cv, &ca);
    pthread_condattr_destroy(&ca);
    log_info(p->conn.id,
             "refresh tuning of %s every %" PRId64 " ms: newest @timestamp within %" PRId64
             " days -> %s, older -> %s", a->pattern, p->cfg->every_ms, p->cfg->cold_age_days,
             p->cfg->hot_interval, p->cfg->cold_interval);
    if (pthread_create(&a->th, NULL, admin_main, a) == 0) {
        sl_thread_name(a->th, "es-admin", p->conn.id);
    } else {
        log_error(p->conn.id, "refresh tuning: cannot start a thread");
        a->stop = true;
        a->th = 0;
    }
    return a;
}

void es_admin_stop(es_admin *a)
{
    if (!a)
        return;
    if (a->sync) {
        pthread_mutex_lock(&a->mu);
        bool running = !a->stop;
        a->stop = true;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (running)
            pthread_join(a->th, NULL);
        pthread_cond_destroy(&a->cv);
        pthread_mutex_destroy(&a->mu);
    }
    es_conn_close(&a->conn);
    free(a->pattern);
    free(a);
}

void es_admin_status_json(es_admin *a, sl_buf *out)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    buf_printf(out,
               ",\"refresh_tuning\":{\"passes\":%" PRIu64 ",\"changes\":%" PRIu64
               ",\"hot_indices\":%" PRIu64 ",\"cold_indices\":%" PRIu64 ",\"last_pass_ms\":%" PRId64
               ",\"last_error\":",
               a->passes, a->changes, a->hot, a->cold, a->last_pass_ms);
    if (a->last_error[0]) {
        buf_putc(out, '"');
        json_escape(out, a->last_error, strlen(a->last_error));
        buf_putc(out, '"');
    } else {
        buf_puts(out, "null");
    }
    buf_putc(out, '}');
    pthread_mutex_unlock(&a->mu);
}
