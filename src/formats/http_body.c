/* http_body.c - HTTP log request bodies to events: JSON (object, array, NDJSON, objects back
 * to back) through the strict JSON parser, msgpack maps and Forward-style entries through
 * the bounded reader, text by lines. The shapes are those real senders use (http_body.h). */
#include "http_body.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/common.h"
#include "cri.h"
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
    /* `curl -d` labels any body x-www-form-urlencoded: take it as JSON (400 if it is not);
     * the http source takes Fluentd's json= and msgpack= form fields out first. */
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
    sl_str tag, time_key;
    int64_t now_ns;
    sl_buf *json;
    char *err;
    size_t errlen;
    const char *body;
} ctx;

#define META_PREFIX "fluentbit.metadata."

static sl_event *new_event(ctx *c, int64_t ts)
{
    sl_event *e = batch_add(c->b);
    e->ts_ns = ts;
    if (c->tag.len)
        event_set_static(c->b, e, SL_STR("tag"), c->tag);
    return e;
}

/* A record's own "tag" beside the tag of the request's path: the path's is the event's
 * (routes read it), the record's is the sender's data, kept as "_tag" as Fluent Bit's http
 * input keeps it a record key. (The forward source drops it instead: there it is
 * Fluentd's injected copy of the message's tag.) */
static bool is_tag_key(const ctx *c, const char *k, size_t n)
{
    return c->tag.len && n == 3 && memcmp(k, "tag", 3) == 0;
}

static bool is_time_key(const ctx *c, const char *k, size_t n)
{
    return c->time_key.len && n == c->time_key.len && memcmp(k, c->time_key.ptr, n) == 0;
}

/* The time key's value (see http_body.h): seconds as a number (milliseconds from 1e11
 * on), or an RFC 3339 time whose zone may be missing (UTC). */
static bool num_time(double v, int64_t *ns)
{
    if (!isfinite(v) || v < 0)
        return false;
    if (v >= 1e11)
        v /= 1000;
    if (v >= 9.2e9)
        return false;
    *ns = (int64_t)(v * 1e9 + 0.5);
    return true;
}

/* The same for a JSON number's text, exact to the nanosecond when it is plain digits with
 * an optional fraction (a double would round 1733300000.123456789 to 256 ns). */
static bool num_text_time(const char *s, size_t n, double v, int64_t *ns)
{
    size_t i = 0;
    int64_t whole = 0;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
        if (i == 14)
            return false; /* beyond any time in int64 nanoseconds */
        whole = whole * 10 + (s[i] - '0');
    }
    if (i == 0 || (i < n && s[i] != '.'))
        return num_time(v, ns); /* a sign or an exponent */
    bool ms = whole >= 100000000000LL;
    int want = ms ? 6 : 9, nd = 0; /* fraction digits down to the nanosecond */
    int64_t frac = 0;
    if (i < n) {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (nd < want)
                frac = frac * 10 + (s[i] - '0'), nd++;
        if (i != n || nd == 0)
            return num_time(v, ns);
    }
    for (; nd < want; nd++)
        frac *= 10;
    if ((ms ? whole / 1000 : whole) >= 9200000000LL)
        return false;
    *ns = (ms ? whole * 1000000 : whole * 1000000000) + frac;
    return true;
}

static bool str_time(const char *s, size_t n, int64_t *ns)
{
    if (cri_parse_time(s, n, ns) == 0)
        return true;
    char tmp[48];
    if (n < 19 || n + 1 >= sizeof tmp)
        return false;
    memcpy(tmp, s, n);
    tmp[n] = 'Z';
    return cri_parse_time(tmp, n + 1, ns) == 0;
}

static void json_meta_fields(ctx *c, sl_event *e, const json_value *internal);

static void json_object_event(ctx *c, const json_value *o)
{
    sl_batch *b = c->b;
    sl_event *e = new_event(c, c->now_ns);
    bool from_log = false, timed = false;
    /* Vector's events carry their time as "timestamp", an RFC 3339 string: it is the time
     * of a record without a time_key member, so what a Vector http sink sends keeps its
     * times (a backlog too) and no second "timestamp" is written beside the event's. */
    bool vector_ts = c->time_key.len != 0;
    for (size_t i = 0; i < o->n && vector_ts; i++)
        vector_ts = !is_time_key(c, o->keys[i], strlen(o->keys[i]));
    for (size_t i = 0; i < o->n; i++) {
        const char *key = o->keys[i];
        size_t klen = strlen(key);
        const json_value *v = o->items[i];
        if (!timed && is_time_key(c, key, klen) &&
            ((v->type == JSON_NUM && num_text_time(v->raw, v->raw_len, v->num, &e->ts_ns)) ||
             (v->type == JSON_STR && str_time(v->str, v->len, &e->ts_ns)))) {
            timed = true;
            continue;
        }
        if (!timed && vector_ts && v->type == JSON_STR && klen == 9 &&
            memcmp(key, "timestamp", 9) == 0 && str_time(v->str, v->len, &e->ts_ns)) {
            timed = true;
            continue;
        }
        if (v->type == JSON_OBJ && klen == 12 && memcmp(key, "__internal__", 12) == 0) {
            json_meta_fields(c, e, v);
            continue;
        }
        if (v->type == JSON_STR) {
            bool is_msg = strcmp(key, "message") == 0, is_log = strcmp(key, "log") == 0;
            if (is_msg || (is_log && !e->message.len && !from_log)) {
                if (is_msg && from_log)
                    event_set_static(b, e, SL_STR("log"), e->message);
                e->message = batch_str(b, v->str, v->len);
                from_log = is_log;
                continue;
            }
        } else if (strcmp(key, "message") == 0) {
            /* Not a string: the message as its JSON text, never a field beside the message
             * (every encoding would write two "message" keys); null says nothing. */
            if (v->type != JSON_NULL) {
                if (from_log)
                    event_set_static(b, e, SL_STR("log"), e->message);
                e->message = batch_str(b, v->raw, v->raw_len);
                from_log = false;
            }
            continue;
        }
        if (is_tag_key(c, key, klen))
            key = "_tag", klen = 4;
        json_value_to_field(b, event_add_field(b, e, key, klen), v, true);
    }
    b->bytes += event_size(e);
}

/* Fluent Bit's JSON formats carry a record's metadata (and its group's attributes) as
 * "__internal__": {"log_metadata": {...}, "group_attributes": {...}}: the metadata become
 * META_PREFIX fields, as the forward source keeps them; the attributes one JSON field. */
static void json_meta_fields(ctx *c, sl_event *e, const json_value *internal)
{
    sl_batch *b = c->b;
    for (size_t i = 0; i < internal->n; i++) {
        const json_value *v = internal->items[i];
        if (strcmp(internal->keys[i], "log_metadata") == 0 && v->type == JSON_OBJ) {
            for (size_t k = 0; k < v->n; k++) {
                buf_reset(c->json);
                buf_puts(c->json, META_PREFIX);
                buf_puts(c->json, v->keys[k]);
                json_value_to_field(b, event_add_field(b, e, c->json->p, c->json->len),
                                    v->items[k], true);
            }
        } else if (strcmp(internal->keys[i], "group_attributes") == 0 && v->type == JSON_OBJ &&
                   v->n) {
            json_value_to_field(b, event_add_field(b, e, "fluentbit.group_attributes", 26), v,
                                true);
        }
    }
}

static int json_fail(ctx *c, const char *jerr, size_t line, size_t at)
{
    return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "line %zu (body byte %zu): %s", line, at,
                     jerr);
}

/* One JSON document: an object, or an array of objects. */
static int json_doc(ctx *c, const json_value *v, const char *p, size_t base, size_t line)
{
    if (v->type == JSON_OBJ) {
        json_object_event(c, v);
        return SL_OK;
    }
    if (v->type != JSON_ARR)
        return json_fail(c, "expected an object or an array of objects", line, base);
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

/* application/json: documents one after another, whitespace (newlines or none) between
 * them: one object or array, NDJSON, or Fluent Bit's json_stream, objects back to back. */
static int json_stream(ctx *c, sl_arena *a, const char *p, size_t n)
{
    size_t pos = 0, line = 1, counted = 0;
    char jerr[160];
    do {
        for (; counted < pos; counted++) /* the line the document starts on */
            line += p[counted] == '\n';
        arena_reset(a);
        size_t used;
        json_value *v = json_parse_prefix(a, p + pos, n - pos, &used, jerr, sizeof jerr);
        if (!v)
            return json_fail(c, jerr, line, pos);
        int rc = json_doc(c, v, p + pos, pos, line);
        if (rc != SL_OK)
            return rc;
        pos += used;
    } while (pos < n);
    return SL_OK;
}

static int ndjson(ctx *c, sl_arena *a, const char *p, size_t n)
{
    size_t pos = 0, line = 1;
    char jerr[160];
    while (pos < n) {
        const char *nl = memchr(p + pos, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - (p + pos)) : n - pos;
        if (!blank(p + pos, len)) {
            arena_reset(a);
            json_value *v = json_parse(a, p + pos, len, jerr, sizeof jerr);
            if (!v)
                return json_fail(c, jerr, line, pos);
            int rc = json_doc(c, v, p + pos, pos, line);
            if (rc != SL_OK)
                return rc;
        }
        pos += len + 1;
        line++;
    }
    return SL_OK;
}

/* The `npairs` pairs of a map (header read) into e. A record's `message` (else `log`)
 * string is the body and its time key the time, unless `timed` (the entry had a time);
 * metadata keys get META_PREFIX. */
static int mp_pairs(ctx *c, mp_reader *r, sl_event *e, uint32_t npairs, bool meta, bool timed,
                    size_t at)
{
    sl_batch *b = c->b;
    bool from_log = false;
    for (uint32_t i = 0; i < npairs; i++) {
        mp_obj k, v;
        char kt[32];
        size_t kl;
        if (mp_read(r, &k) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: truncated key");
        if (k.type != MP_STR && k.type != MP_BIN) { /* 1, true, nil: their text, as forward */
            if (!(kl = mp_key_text(&k, kt, sizeof kt)))
                return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                                 "msgpack: key %u of the map at body byte %zu is not a string "
                                 "or a scalar", i, at);
            k.type = MP_STR, k.p = (const uint8_t *)kt, k.len = (uint32_t)kl;
        }
        const uint8_t *vs = r->p;
        if (mp_read(r, &v) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: truncated value");
        const char *key = (const char *)k.p;
        if (!meta && !timed && is_time_key(c, key, k.len)) {
            if (((v.type == MP_INT && num_time((double)v.i, &e->ts_ns)) ||
                 (v.type == MP_FLOAT && num_time(v.f, &e->ts_ns)) ||
                 (v.type == MP_STR && str_time((const char *)v.p, v.len, &e->ts_ns)))) {
                timed = true;
                continue;
            }
        }
        if (!meta && (v.type == MP_STR || v.type == MP_BIN)) {
            bool is_msg = k.len == 7 && memcmp(key, "message", 7) == 0;
            bool is_log = k.len == 3 && memcmp(key, "log", 3) == 0;
            if (is_msg || (is_log && !e->message.len && !from_log)) {
                if (is_msg && from_log)
                    event_set_static(b, e, SL_STR("log"), e->message);
                e->message = batch_str(b, (const char *)v.p, v.len);
                from_log = is_log;
                continue;
            }
        } else if (!meta && k.len == 7 && memcmp(key, "message", 7) == 0) {
            /* Not a string: the message as its JSON text, as for JSON bodies. */
            if (v.type == MP_NIL)
                continue;
            mp_reader sub = {vs, r->end};
            buf_reset(c->json);
            if (mp_to_json(&sub, c->json, 32) != MP_OK)
                return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, "msgpack: bad nested value");
            r->p = sub.p;
            if (from_log)
                event_set_static(b, e, SL_STR("log"), e->message);
            e->message = batch_str(b, c->json->p, c->json->len);
            from_log = false;
            continue;
        }
        sl_field *f;
        if (meta) {
            buf_reset(c->json);
            buf_puts(c->json, META_PREFIX);
            buf_append(c->json, key, k.len);
            f = event_add_field(b, e, c->json->p, c->json->len);
        } else if (is_tag_key(c, key, k.len)) {
            f = event_add_field(b, e, "_tag", 4);
        } else {
            f = event_add_field(b, e, key, k.len);
        }
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
    return SL_OK;
}

/* A map: one event. `ts` >= 0 is the entry's time (the time key is then a field). */
static int mp_map_event(ctx *c, mp_reader *r, int64_t ts, const mp_reader *meta)
{
    mp_obj m;
    size_t at = (size_t)(r->p - (const uint8_t *)c->body);
    if (mp_read(r, &m) != MP_OK || m.type != MP_MAP)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT,
                         "msgpack: expected a map at body byte %zu", at);
    sl_event *e = new_event(c, ts >= 0 ? ts : c->now_ns);
    int rc;
    if (meta) {
        mp_reader mr = *meta;
        mp_obj mm;
        mp_read(&mr, &mm); /* checked by the caller */
        if ((rc = mp_pairs(c, &mr, e, mm.len, true, true, at)) != SL_OK)
            return rc;
    }
    if ((rc = mp_pairs(c, r, e, m.len, false, ts >= 0, at)) != SL_OK)
        return rc;
    c->b->bytes += event_size(e);
    return SL_OK;
}

/* An entry time: integer or float seconds, or EventTime (ext 0: big-endian seconds and
 * nanoseconds). Returns 1 for a time, 0 for Fluent Bit's group start/end markers
 * (seconds -1 and -2, as integers or EventTime seconds read as int32), -1 otherwise. */
static int mp_entry_time(const mp_obj *o, int64_t *ts)
{
    if (o->type == MP_INT) {
        if (o->i == -1 || o->i == -2)
            return 0;
        if (o->i < 0 || o->i >= 9200000000LL)
            return -1;
        *ts = o->i * 1000000000;
        return 1;
    }
    if (o->type == MP_FLOAT)
        return isfinite(o->f) && o->f >= 0 && o->f < 9.2e9 ? (*ts = (int64_t)(o->f * 1e9), 1)
                                                           : -1;
    if (o->type == MP_EXT && o->ext_type == 0 && o->len == 8) {
        const uint8_t *p = o->p;
        uint32_t sec = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        uint32_t nsec = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
        if (sec == 0xffffffffu || sec == 0xfffffffeu)
            return 0;
        if (nsec >= 1000000000u)
            return -1;
        *ts = (int64_t)sec * 1000000000 + nsec;
        return 1;
    }
    return -1;
}

/* Is the array at v (header `a` read, items at v) an entry, [time, record] or
 * [[time, metadata], record] as Fluent Bit's `msgpack` format sends its chunks? Then it
 * is read as one event (or skipped, for a group marker) and 1 returned; 0 when it is
 * something else (an array of maps); an error code for a malformed entry. */
static int mp_entry(ctx *c, mp_reader *v, const mp_obj *a)
{
    if (a->len != 2)
        return 0;
    mp_reader r = *v;
    mp_obj t, m;
    const char *bad = "msgpack: entry at body byte %zu is not [time, record] or "
                      "[[time, metadata], record]";
    size_t at = (size_t)(v->p - (const uint8_t *)c->body);
    if (mp_read(&r, &t) != MP_OK)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
    mp_reader meta = {NULL, NULL};
    if (t.type == MP_ARRAY) { /* [time, metadata] */
        if (t.len != 2 || mp_read(&r, &t) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
        meta = r;
        if (mp_read(&r, &m) != MP_OK || (m.type != MP_MAP && m.type != MP_NIL))
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
        r = meta;
        if (mp_skip(&r, 32, (size_t)(r.end - r.p)) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
        if (m.type == MP_NIL || m.len == 0)
            meta.p = NULL;
    } else if (t.type == MP_MAP) {
        return 0; /* an array of two maps */
    }
    int64_t ts = 0;
    int kind = mp_entry_time(&t, &ts);
    if (kind < 0)
        return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
    if (kind == 0) { /* a group marker: its record describes the group, not an event */
        if (mp_skip(&r, 32, (size_t)(r.end - r.p)) != MP_OK)
            return sl_seterr(c->err, c->errlen, SL_ERR_CORRUPT, bad, at);
        *v = r;
        return 1;
    }
    int rc = mp_map_event(c, &r, ts, meta.p ? &meta : NULL);
    if (rc != SL_OK)
        return rc;
    *v = r;
    return 1;
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
            rc = mp_entry(c, &v, &o);
            if (rc < 0)
                return rc;
            for (uint32_t i = 0; rc == 0 && i < o.len; i++)
                if ((rc = mp_map_event(c, &v, -1, NULL)) != SL_OK)
                    return rc;
        } else if ((rc = mp_map_event(c, &v, -1, NULL)) != SL_OK) {
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
            sl_event *e = new_event(c, c->now_ns);
            e->message = batch_str(c->b, p + pos, l);
            c->b->bytes += event_size(e);
        }
        pos += len + 1;
    }
}

int http_body_parse(sl_batch *b, http_body_kind kind, const char *p, size_t n, sl_str tag,
                    sl_str time_key, int64_t now_ns, sl_arena *scratch, sl_buf *json, char *err,
                    size_t errlen)
{
    ctx c = {b, tag, time_key, now_ns, json, err, errlen, p};
    uint32_t n0 = b->n;
    size_t bytes0 = b->bytes;
    int rc = SL_OK;
    switch (kind) {
    case HTTP_BODY_JSON: rc = json_stream(&c, scratch, p, n); break;
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
