/* http_body.c - HTTP log request bodies to events: JSON (object, array, NDJSON) through the
 * strict JSON parser, msgpack through the bounded reader, text by lines. */
#include "http_body.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/common.h"
#include "json.h"
#include "msgpack.h"

int http_body_kind_of(const char *ct, size_t len)
{
    if (!ct || len == 0)
        return HTTP_BODY_JSON;
    size_t n = 0;
    while (n < len && ct[n] != ';' && ct[n] != ' ')
        n++;
#define IS(lit) (n == sizeof(lit) - 1 && strncasecmp(ct, lit, n) == 0)
    /* `curl -d` labels any body x-www-form-urlencoded: take it as JSON (400 if it is not). */
    if (IS("application/json") || IS("application/x-www-form-urlencoded"))
        return HTTP_BODY_JSON;
    if (IS("application/x-ndjson") || IS("application/ndjson") || IS("application/jsonlines") ||
        IS("application/x-jsonlines"))
        return HTTP_BODY_NDJSON;
    if (IS("application/msgpack") || IS("application/x-msgpack") ||
        IS("application/vnd.msgpack"))
        return HTTP_BODY_MSGPACK;
    if (IS("text/plain"))
        return HTTP_BODY_TEXT;
#undef IS
    return -1;
}

typedef struct ctx {
    sl_batch *b;
    sl_str tag;
    int64_t now_ns;
    sl_buf *json;
    char *err;
    size_t errlen;
    const char *body;
} ctx;

static sl_event *new_event(ctx *c)
{
    sl_event *e = batch_add(c->b);
    e->ts_ns = c->now_ns;
    if (c->tag.len)
        event_set_static(c->b, e, SL_STR("tag"), c->tag);
    return e;
}

static void json_object_event(ctx *c, const json_value *o)
{
    sl_batch *b = c->b;
    sl_event *e = new_event(c);
    bool from_log = false;
    for (size_t i = 0; i < o->n; i++) {
        const char *key = o->keys[i];
        size_t klen = strlen(key);
        const json_value *v = o->items[i];
        if (v->type == JSON_STR) {
            bool is_msg = strcmp(key, "message") == 0, is_log = strcmp(key, "log") == 0;
            if (is_msg || (is_log && !e->message.len && !from_log)) {
                if (is_msg && from_log)
                    event_set_static(b, e, SL_STR("log"), e->message);
                e->message = batch_str(b, v->str, v->len);
                from_log = is_log;
                continue;
            }
        }
        json_value_to_field(b, event_add_field(b, e, key, klen), v, true);
    }
    b->bytes += event_size(e);
}

/* One JSON document: an object, or an array of objects. */
static int json_doc(ctx *c, sl_arena *a, const char *p, size_t n, size_t base, size_t line)
{
    char jerr[160];
    arena_reset(a);
    json_value *v = json_parse(a, p, n, jerr, sizeof jerr);
    if (!v)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "line %zu (body byte %zu): %s",
                         line, base, jerr);
    if (v->type == JSON_OBJ) {
        json_object_event(c, v);
        return SL_OK;
    }
    if (v->type != JSON_ARR)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                         "line %zu (body byte %zu): expected an object or an array of objects",
                         line, base);
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i]->type != JSON_OBJ)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                             "line %zu (body byte %zu): array item %zu is not an object", line,
                             base + (size_t)(v->items[i]->raw - p), i);
        json_object_event(c, v->items[i]);
    }
    return SL_OK;
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
            return false;
    return true;
}

static int ndjson(ctx *c, sl_arena *a, const char *p, size_t n)
{
    size_t pos = 0, line = 1;
    while (pos < n) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (p + pos)) : n - pos;
        if (!blank(p + pos, len)) {
            int rc = json_doc(c, a, p + pos, len, pos, line);
            if (rc != SL_OK)
                return rc;
        }
        pos += len + 1;
        line++;
    }
    return SL_OK;
}

static int mp_map_event(ctx *c, mp_reader *r)
{
    sl_batch *b = c->b;
    mp_obj m;
    const uint8_t *start = r->p;
    if (mp_read(r, &m) != MP_OK || m.type != MP_MAP)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: expected a map");
    sl_event *e = new_event(c);
    for (uint32_t i = 0; i < m.len; i++) {
        mp_obj k, v;
        if (mp_read(r, &k) != MP_OK || (k.type != MP_STR && k.type != MP_BIN))
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                             "msgpack: key %u of the map at body byte %zu is not a string", i,
                             (size_t)(start - (const uint8_t *)c->body));
        const uint8_t *vs = r->p;
        if (mp_read(r, &v) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: truncated value");
        if ((v.type == MP_STR || v.type == MP_BIN) && k.len == 7 && memcmp(k.p, "message", 7) == 0) {
            e->message = batch_str(b, (const char *)v.p, v.len);
            continue;
        }
        sl_field *f = event_add_field(b, e, (const char *)k.p, k.len);
        switch (v.type) {
        case MP_STR:
        case MP_BIN: f->type = SL_VAL_STR, f->v.s = batch_str(b, (const char *)v.p, v.len); break;
        case MP_INT: f->type = SL_VAL_INT, f->v.i = v.i; break;
        case MP_UINT: f->type = SL_VAL_FLOAT, f->v.f = (double)v.u; break;
        case MP_FLOAT:
            if (isfinite(v.f))
                f->type = SL_VAL_FLOAT, f->v.f = v.f;
            else
                f->type = SL_VAL_NULL;
            break;
        case MP_BOOL: f->type = SL_VAL_BOOL, f->v.b = v.b; break;
        case MP_ARRAY:
        case MP_MAP: {
            mp_reader sub = {vs, r->end};
            buf_reset(c->json);
            if (mp_to_json(&sub, c->json, 32) != MP_OK)
                return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: bad nested value");
            r->p = sub.p;
            f->type = SL_VAL_JSON, f->v.s = batch_str(b, c->json->p, c->json->len);
            break;
        }
        default: f->type = SL_VAL_NULL; break;
        }
    }
    b->bytes += event_size(e);
    return SL_OK;
}

static int msgpack_body(ctx *c, const char *p, size_t n)
{
    const uint8_t *base = (const uint8_t *)p;
    mp_reader r = {base, base + n};
    while (r.p < r.end) {
        mp_reader peek = r;
        size_t at = (size_t)(r.p - base);
        int rc = mp_skip(&peek, 32, n);
        if (rc != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                             "msgpack: %s value at body byte %zu",
                             rc == MP_NEED_MORE ? "truncated" : "invalid", at);
        mp_reader v = {r.p, peek.p};
        mp_obj o;
        mp_reader hdr = v;
        mp_read(&hdr, &o);
        if (o.type == MP_ARRAY) {
            v.p = hdr.p;
            for (uint32_t i = 0; i < o.len; i++)
                if ((rc = mp_map_event(c, &v)) != SL_OK)
                    return rc;
        } else if ((rc = mp_map_event(c, &v)) != SL_OK) {
            return rc;
        }
        r.p = peek.p;
    }
    return SL_OK;
}

static void text_body(ctx *c, const char *p, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (p + pos)) : n - pos;
        size_t l = len;
        if (l && p[pos + l - 1] == '\r')
            l--;
        if (l) {
            sl_event *e = new_event(c);
            e->message = batch_str(c->b, p + pos, l);
            c->b->bytes += event_size(e);
        }
        pos += len + 1;
    }
}

int http_body_parse(sl_batch *b, http_body_kind kind, const char *p, size_t n, sl_str tag,
                    int64_t now_ns, sl_arena *scratch, sl_buf *json, char *err, size_t errlen)
{
    ctx c = {b, tag, now_ns, json, err, errlen, p};
    uint32_t n0 = b->n;
    size_t bytes0 = b->bytes;
    int rc = SL_OK;
    switch (kind) {
    case HTTP_BODY_JSON: {
        /* One document (object or array, maybe pretty-printed), else NDJSON. */
        rc = json_doc(&c, scratch, p, n, 0, 1);
        if (rc != SL_OK && strstr(err, "trailing characters") && memchr(p, '\n', n)) {
            b->n = n0, b->bytes = bytes0;
            rc = ndjson(&c, scratch, p, n);
        }
        break;
    }
    case HTTP_BODY_NDJSON: rc = ndjson(&c, scratch, p, n); break;
    case HTTP_BODY_MSGPACK: rc = msgpack_body(&c, p, n); break;
    case HTTP_BODY_TEXT: text_body(&c, p, n); break;
    }
    if (rc != SL_OK) {
        b->n = n0;
        b->bytes = bytes0;
    }
    return rc;
}
