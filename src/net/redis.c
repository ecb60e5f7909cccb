/* redis.c - connection setup, key templates and value decoding shared by the redis sink
 * and source (src/sinks/redis.c, src/sources/redis.c). */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "../core/common.h"
#include "../formats/json.h"

const char *const redis_modes[] = {"list", "stream", NULL};

/* Splits "host:port" (the last ':' separates, so "[::1]:6379" and "::1:6379" work). */
static int split_address(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon = address ? strrchr(address, ':') : NULL;
    if (!colon || colon == address)
        return -1;
    const char *h = address;
    size_t hl = (size_t)(colon - address);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p <= 0 || p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int redis_address_check(const char *address, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_address(address, host, sizeof host, &port) != 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address must be host:port, got \"%s\"",
                         address ? address : "");
    return 0;
}

/* Runs one command on a fresh connection; 0 when it answered with anything but an error. */
static int setup_command(redisContext *c, char *err, size_t errlen, const char *what, int argc,
                         const char **argv)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (!r) {
        snprintf(err, errlen, "%s: %s", what, c->errstr[0] ? c->errstr : "connection lost");
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %.*s", what, (int)SL_MIN(r->len, (size_t)200), r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

redisContext *redis_connect(const redis_endpoint *ep, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_address(ep->address, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "bad address \"%s\"", ep->address ? ep->address : "");
        return NULL;
    }
    int64_t ms = ep->timeout_ms > 0 ? ep->timeout_ms : 5000;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c) {
        snprintf(err, errlen, "connect %s: out of memory", ep->address);
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "connect %s: %s", ep->address, c->errstr);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    char tmp[256];
    if (ep->password && ep->password[0]) {
        const char *argv[] = {"AUTH", ep->password};
        if (setup_command(c, tmp, sizeof tmp, "AUTH", 2, argv) != 0)
            goto fail;
    }
    if (ep->db) {
        char db[24];
        snprintf(db, sizeof db, "%lld", (long long)ep->db);
        const char *argv[] = {"SELECT", db};
        if (setup_command(c, tmp, sizeof tmp, "SELECT", 2, argv) != 0)
            goto fail;
    }
    return c;
fail:
    snprintf(err, errlen, "%s: %s", ep->address, tmp);
    redisFree(c);
    return NULL;
}

/* ---- Key templates ------------------------------------------------------------------- */

static void key_add(redis_key_tmpl *t, bool field, const char *s, size_t len)
{
    if (len == 0)
        return;
    t->parts = sl_xrealloc(t->parts, (t->n + 1) * sizeof *t->parts);
    redis_key_part *p = &t->parts[t->n++];
    p->field = field;
    p->text = sl_xmalloc(len + 1);
    memcpy(p->text, s, len);
    p->text[len] = '\0';
    p->len = len;
    p->has_pct = !field && memchr(s, '%', len) != NULL;
    if (field || p->has_pct)
        t->dynamic = true;
}

int redis_key_compile(redis_key_tmpl *t, const char *s, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!s || !*s)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "key must not be empty");
    const char *p = s;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            key_add(t, false, p, strlen(p));
            break;
        }
        key_add(t, false, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            redis_key_free(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "key \"%s\": \"{{\" without \"}}\"", s);
        }
        const char *a = open + 2, *b = close;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (a == b) {
            redis_key_free(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "key \"%s\": empty {{ }}", s);
        }
        key_add(t, true, a, (size_t)(b - a));
        p = close + 2;
    }
    return 0;
}

void redis_key_free(redis_key_tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

void redis_key_render(const redis_key_tmpl *t, const sl_event *e, sl_buf *out)
{
    /* Batches share timestamps: the broken-down time is cached per second and thread. */
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local struct tm ctm;
    for (size_t i = 0; i < t->n; i++) {
        const redis_key_part *p = &t->parts[i];
        if (p->field) {
            const sl_field *f = event_get(e, p->text, p->len);
            if (f && f->type == SL_VAL_STR && f->v.s.len) {
                buf_append(out, f->v.s.ptr, SL_MIN(f->v.s.len, (uint32_t)256));
            } else if (f && f->type == SL_VAL_INT) {
                buf_printf(out, "%lld", (long long)f->v.i);
            } else if (f && f->type == SL_VAL_BOOL) {
                buf_puts(out, f->v.b ? "true" : "false");
            } else {
                buf_puts(out, "unknown");
            }
        } else if (!p->has_pct) {
            buf_append(out, p->text, p->len);
        } else {
            int64_t sec = e->ts_ns / 1000000000;
            if (e->ts_ns < 0 && e->ts_ns % 1000000000)
                sec--;
            if (sec != cached_sec) {
                time_t tt = (time_t)sec;
                if (!gmtime_r(&tt, &ctm)) {
                    memset(&ctm, 0, sizeof ctm);
                    ctm.tm_year = 70;
                    ctm.tm_mday = 1;
                }
                cached_sec = sec;
            }
            char tmp[512];
            size_t n = strftime(tmp, sizeof tmp, p->text, &ctm);
            buf_append(out, tmp, n);
        }
    }
}

/* ---- Values -------------------------------------------------------------------------- */

bool redis_decode_value(sl_batch *b, const char *s, size_t n)
{
    uint32_t before = b->n;
    /* json_encode_event always starts with the timestamp: other JSON is someone else's. */
    static const char head[] = "{\"timestamp\":";
    if (n > sizeof head - 1 && memcmp(s, head, sizeof head - 1) == 0 &&
        json_decode_event(b, s, n) == SL_OK && b->n == before + 1)
        return true;
    /* Not ours: the text is the message, time is now. */
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    e->message = batch_str(b, s, SL_MIN(n, (size_t)UINT32_MAX));
    b->bytes += event_size(e);
    return false;
}

/* ---- Stream entries ------------------------------------------------------------------ */

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->str;
}

size_t redis_stream_walk(const redisReply *entries, redis_entry_fn fn, void *arg)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return 0;
    size_t bad = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0])) {
            bad++;
            continue;
        }
        const redisReply *f = e->element[1];
        if (f && f->type == REDIS_REPLY_NIL)
            f = NULL;
        else if (!f || f->type != REDIS_REPLY_ARRAY) {
            bad++;
            continue;
        }
        fn(arg, e->element[0]->str, e->element[0]->len, f);
    }
    return bad;
}

bool redis_decode_fields(sl_batch *b, const redisReply *fields)
{
    size_t n = fields ? fields->elements / 2 : 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = fields->element[2 * i], *v = fields->element[2 * i + 1];
        if (is_str(k) && is_str(v) && k->len == sizeof REDIS_STREAM_FIELD - 1 &&
            memcmp(k->str, REDIS_STREAM_FIELD, k->len) == 0)
            return redis_decode_value(b, v->str, v->len);
    }
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = fields->element[2 * i], *v = fields->element[2 * i + 1];
        if (!is_str(k) || !is_str(v) || k->len == 0 || k->len > 1024)
            continue;
        if (k->len == 7 && memcmp(k->str, "message", 7) == 0 && !e->message.ptr) {
            e->message = batch_str(b, v->str, SL_MIN(v->len, (size_t)UINT32_MAX));
            continue;
        }
        sl_field *f = event_add_field(b, e, k->str, k->len);
        f->type = SL_VAL_STR;
        f->v.s = batch_str(b, v->str, SL_MIN(v->len, (size_t)UINT32_MAX));
    }
    if (!e->message.ptr)
        e->message = batch_str(b, "", 0);
    b->bytes += event_size(e);
    return false;
}
