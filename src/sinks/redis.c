/* redis.c - the `redis` sink: events as the JSON of json_encode_event, RPUSHed to a list
 * or XADDed to a stream whose key is a template; the spill side of a Redis failover.
 *
 * Notes on the design
 *  1. A request is one pipeline: every command is appended, then every reply is read.
 *     In list mode a run of events sharing a key is one RPUSH (up to REDIS_RUN values);
 *     in stream mode each event is one XADD key * event <json>.
 *  2. An error reply fails only the events of its command: WRONGTYPE and other "ERR"s are
 *     permanent (REJECT), the rest (OOM, LOADING, READONLY, BUSY, MISCONF ...) transient
 *     (RETRY); the request is then PARTIAL. "ERR max number of clients reached" is the
 *     server's answer to the connection, not to the command: transient too.
 *  3. A connection that breaks (or never comes up) is dropped and rebuilt on the next
 *     request; commands whose reply was not read are RETRY. Redis may have applied some of
 *     them, so a retry can duplicate: delivery is at-least-once.
 *  4. The sink is serial: one connection, one pipeline at a time, no locking needed.
 *  4b. READONLY means the address leads to a replica: after a failover that moved a name
 *     (a managed service's primary endpoint) to the new primary, only a new connection
 *     reaches it, so the connection is dropped after the request and made again.
 *  5. `tls:` (enabled, verify, ca_file, cert_file, key_file, server_name) makes the same
 *     connection TLS (redis_conn in net/redis.c: OpenSSL for the I/O, hiredis only to
 *     encode commands and parse replies, so hiredis_ssl is not needed). A handshake or
 *     certificate failure is a connect error: events wait and are retried.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/json.h"
#include "net/redis.h"

#define REDIS_RUN 1000

typedef struct rsink_config {
    redis_conn_config conn;
    char *key;
    int mode;
} rsink_config;

static const sl_option rsink_options[] = {
    REDIS_CONN_OPTIONS(rsink_config, conn, "connect and reply timeout"),
    {"key", SL_OPT_STR, offsetof(rsink_config, key), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "list or stream key; {{ field }} and strftime fields (%Y %m %d %H) of the event's time"},
    {"mode", SL_OPT_ENUM, offsetof(rsink_config, mode), "list", 0, redis_modes, NULL, 0, 0,
     "list: RPUSH the event's JSON; stream: XADD key * event <json>"},
    SL_OPT_END,
};

typedef struct rsink {
    const rsink_config *cfg;
    const sl_component_ctx *cc;
    redis_endpoint ep;
    redis_key_tmpl key;
    redis_conn *conn; /* NULL = reconnect on the next request */
    sl_buf vals, keys;  /* encoded events and rendered keys of the request */
    size_t *voff, *koff; /* end offsets, n + 1 entries each */
    size_t cap;
    const char **argv; /* one command's arguments */
    size_t *argvlen;
    size_t *cmd_first; /* first event of each command; cmd_first[ncmd] = n */
    char reason[256];  /* item_reason storage until the next send */
    int64_t last_log_ms;
} rsink;

static void rsink_grow(rsink *s, size_t n)
{
    if (n + 1 <= s->cap)
        return;
    s->cap = n + 1;
    s->voff = sl_xrealloc(s->voff, s->cap * sizeof *s->voff);
    s->koff = sl_xrealloc(s->koff, s->cap * sizeof *s->koff);
    s->cmd_first = sl_xrealloc(s->cmd_first, s->cap * sizeof *s->cmd_first);
}

static int rsink_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    const rsink_config *cfg = config;
    rsink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->ep = (redis_endpoint){cfg->conn.address, cfg->conn.password, cfg->conn.db, cfg->conn.timeout_ms, &cfg->conn.tls,
                             NULL, cfg->conn.username};
    if (redis_endpoint_init(&s->ep, err, errlen) != SL_OK) {
        free(s);
        return SL_ERR_CONFIG;
    }
    if (redis_key_compile(&s->key, cfg->key, err, errlen) != 0) {
        redis_endpoint_free(&s->ep);
        free(s);
        return SL_ERR_CONFIG;
    }
    s->argv = sl_xmalloc((REDIS_RUN + 4) * sizeof *s->argv);
    s->argvlen = sl_xmalloc((REDIS_RUN + 4) * sizeof *s->argvlen);
    *self = s;
    return SL_OK;
}

/* Logs why (rate-limited; `named`: the text already names the address) and closes. */
static void rsink_drop_conn(rsink *s, const char *why, bool named)
{
    int64_t now = sl_mono_ms();
    if (now - s->last_log_ms >= 5000) {
        if (named)
            log_warn(s->cc->id, "redis %s", why);
        else
            log_warn(s->cc->id, "redis %s: %s", s->cfg->conn.address, why);
        s->last_log_ms = now;
    }
    redis_conn_close(s->conn);
    s->conn = NULL;
}

static int rsink_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    rsink *s = self;
    if (n == 0)
        return SL_OK;
    if (!s->conn) {
        char err[256];
        s->conn = redis_conn_open(&s->ep, err, sizeof err);
        if (!s->conn) {
            rsink_drop_conn(s, err, true);
            metrics_error(s->cc->metrics, "connect");
            res->status = SL_SEND_RETRY;
            snprintf(res->reason, sizeof res->reason, "%s", err);
            return SL_OK;
        }
    }
    /* Encode every event and its key once. */
    rsink_grow(s, n);
    buf_reset(&s->vals);
    buf_reset(&s->keys);
    s->voff[0] = s->koff[0] = 0;
    for (size_t i = 0; i < n; i++) {
        json_encode_event(&s->vals, events[i]);
        s->voff[i + 1] = s->vals.len;
        redis_key_render(&s->key, events[i], &s->keys);
        s->koff[i + 1] = s->keys.len;
    }
    /* Note 1: one pipeline. */
    bool stream = s->cfg->mode == REDIS_MODE_STREAM;
    size_t ncmd = 0, i = 0;
    while (i < n) {
        size_t klen = s->koff[i + 1] - s->koff[i];
        const char *k = s->keys.p + s->koff[i];
        size_t j = i + 1;
        if (!stream)
            while (j < n && j - i < REDIS_RUN && s->koff[j + 1] - s->koff[j] == klen &&
                   memcmp(s->keys.p + s->koff[j], k, klen) == 0)
                j++;
        int argc = 0;
        s->argv[argc] = stream ? "XADD" : "RPUSH";
        s->argvlen[argc++] = stream ? 4 : 5;
        s->argv[argc] = k;
        s->argvlen[argc++] = klen;
        if (stream) {
            s->argv[argc] = "*";
            s->argvlen[argc++] = 1;
            s->argv[argc] = REDIS_STREAM_FIELD;
            s->argvlen[argc++] = sizeof REDIS_STREAM_FIELD - 1;
        }
        for (size_t e = i; e < j; e++) {
            s->argv[argc] = s->vals.p + s->voff[e];
            s->argvlen[argc++] = s->voff[e + 1] - s->voff[e];
        }
        if (redis_conn_append(s->conn, argc, s->argv, s->argvlen) != 0) {
            rsink_drop_conn(s, "out of memory building a pipeline", false);
            res->status = SL_SEND_RETRY;
            snprintf(res->reason, sizeof res->reason, "out of memory");
            return SL_OK;
        }
        s->cmd_first[ncmd++] = i;
        i = j;
    }
    s->cmd_first[ncmd] = n;
    /* Note 2/3: every reply, per command. */
    size_t ok = 0, bad = 0;
    bool replica = false;
    s->reason[0] = '\0';
    for (size_t c = 0; c < ncmd; c++) {
        size_t a = s->cmd_first[c], b = s->cmd_first[c + 1];
        redisReply *r = NULL;
        if (!s->conn || redis_conn_reply(s->conn, &r) != 0) {
            if (s->conn) {
                char why[192];
                snprintf(why, sizeof why, "%s", redis_conn_error(s->conn));
                rsink_drop_conn(s, why, false);
                metrics_error(s->cc->metrics, "connection");
                if (!s->reason[0])
                    snprintf(s->reason, sizeof s->reason, "%s", why);
            }
            for (size_t e = a; e < b; e++) {
                res->item_status[e] = SL_ITEM_RETRY;
                res->item_reason[e] = s->reason;
            }
            bad += b - a;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            bool transient = redis_reply_transient(r->str, r->len);
            replica |= r->len >= 8 && memcmp(r->str, "READONLY", 8) == 0;
            if (!s->reason[0])
                snprintf(s->reason, sizeof s->reason, "%.*s", (int)SL_MIN(r->len, (size_t)200),
                         r->str);
            metrics_error(s->cc->metrics, transient ? "reply_retry" : "reply_reject");
            for (size_t e = a; e < b; e++) {
                res->item_status[e] = transient ? SL_ITEM_RETRY : SL_ITEM_REJECT;
                res->item_reason[e] = s->reason;
            }
            bad += b - a;
        } else {
            ok += b - a;
        }
        freeReplyObject(r);
    }
    if (replica && s->conn) /* note 4b */
        rsink_drop_conn(s, "answers READONLY (a replica now: a failover?); connecting again",
                        false);
    if (bad == 0) {
        res->status = SL_SEND_OK;
    } else if (ok == 0 && !s->conn) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "%s", s->reason);
    } else {
        res->status = SL_SEND_PARTIAL;
    }
    return SL_OK;
}

static void rsink_destroy(void *self)
{
    rsink *s = self;
    if (!s)
        return;
    redis_conn_close(s->conn);
    redis_endpoint_free(&s->ep);
    redis_key_free(&s->key);
    buf_free(&s->vals);
    buf_free(&s->keys);
    free(s->voff);
    free(s->koff);
    free(s->cmd_first);
    free(s->argv);
    free(s->argvlen);
    free(s);
}

const sl_sink_vtable sl_sink_redis = {
    .type = "redis",
    .help = "Pushes events (their JSON) to a Redis list (RPUSH) or stream (XADD), pipelined",
    .options = rsink_options,
    .config_size = sizeof(rsink_config),
    .init = rsink_init,
    .send = rsink_send,
    .destroy = rsink_destroy,
    .serial = true,
};
