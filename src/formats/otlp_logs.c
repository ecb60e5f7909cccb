/* otlp_logs.c - ExportLogsServiceRequest (protobuf or OTLP JSON) to sluice events, written
 * by hand from the public field numbers of opentelemetry/proto (collector/logs/v1, logs/v1,
 * common/v1, resource/v1).
 *
 * Notes on the design:
 *  1. Protobuf is read strictly: a known field with another wire type, a length past its
 *     message, a truncated varint, groups (wire types 3/4) or a trace/span id of the wrong
 *     size refuse the whole request with a message naming the message and field. Unknown
 *     fields are skipped, as every protobuf reader does, so newer senders still work.
 *  2. JSON is transcoded into the same protobuf bytes (in the scratch arena) and then read
 *     by the one protobuf reader: one mapping to events, one place for its rules. Lengths
 *     of nested messages are written as 5-byte varints (valid protobuf, no second pass).
 *  3. AnyValue nesting (kvlist, array) is bounded by OTLP_MAX_DEPTH; deeper is refused.
 *  4. Resource and scope fields are decoded once per ScopeLogs, into its first event, and
 *     copied (pointers into the same batch arena) into the events after it.
 *  5. A record over max_record_bytes is refused alone (partial success); its index still
 *     counts, so the ids of the others do not depend on which were refused. */
#include "formats/otlp_logs.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/severity.h"

#define OTLP_MAX_DEPTH 32

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct pbr {
    const uint8_t *p, *end;
} pbr;

typedef struct pbf {
    uint32_t num;
    int wt;
    uint64_t v;       /* VARINT, I64, I32 */
    const uint8_t *d; /* LEN */
    size_t len;
} pbf;

typedef struct dec {
    sl_batch *b;
    const otlp_logs_opts *o;
    otlp_logs_result *r;
    char *err;
    size_t errlen;
    sl_buf tmp; /* JSON text of nested AnyValues, prefixed keys */
    uint32_t index;
} dec;

static int fail(dec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->err, d->errlen, fmt, ap);
    va_end(ap);
    return SL_ERR_CORRUPT;
}

/* ---- protobuf reading --------------------------------------------------------------- */

static bool rd_varint(pbr *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end)
            return false;
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1)
            return false;
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return false;
}

/* 1: a field in *f; 0: the end of the message; SL_ERR_CORRUPT with the message set. */
static int pb_next(dec *d, pbr *r, const char *msg, pbf *f)
{
    if (r->p >= r->end)
        return 0;
    uint64_t key;
    if (!rd_varint(r, &key))
        return fail(d, "%s: truncated field key", msg);
    f->num = (uint32_t)(key >> 3);
    f->wt = (int)(key & 7);
    if (f->num == 0 || key >> 3 > 0x1fffffff)
        return fail(d, "%s: bad field number", msg);
    size_t left;
    switch (f->wt) {
    case WT_VARINT:
        if (!rd_varint(r, &f->v))
            return fail(d, "%s field %u: truncated varint", msg, f->num);
        return 1;
    case WT_I64:
    case WT_I32: {
        size_t w = f->wt == WT_I64 ? 8 : 4;
        if ((size_t)(r->end - r->p) < w)
            return fail(d, "%s field %u: truncated fixed%zu", msg, f->num, w * 8);
        f->v = 0;
        for (size_t i = 0; i < w; i++)
            f->v |= (uint64_t)r->p[i] << (8 * i);
        r->p += w;
        return 1;
    }
    case WT_LEN:
        if (!rd_varint(r, &f->v))
            return fail(d, "%s field %u: truncated length", msg, f->num);
        left = (size_t)(r->end - r->p);
        if (f->v > left)
            return fail(d, "%s field %u: length %llu past the end of the message (%zu left)", msg,
                        f->num, (unsigned long long)f->v, left);
        f->d = r->p;
        f->len = (size_t)f->v;
        r->p += f->len;
        return 1;
    default:
        return fail(d, "%s field %u: wire type %d not supported", msg, f->num, f->wt);
    }
}

static int want(dec *d, const char *msg, const char *field, const pbf *f, int wt)
{
    if (f->wt == wt)
        return SL_OK;
    return fail(d, "%s.%s (field %u): wire type %d, want %d", msg, field, f->num, f->wt, wt);
}

#define WANT(msg, name, f, wt)                                \
    do {                                                      \
        int rc_ = want(d, msg, name, f, wt);                  \
        if (rc_ != SL_OK)                                     \
            return rc_;                                       \
    } while (0)

/* ---- AnyValue ----------------------------------------------------------------------- */

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(sl_buf *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        buf_putc(out, b64chars[v >> 18 & 63]);
        buf_putc(out, b64chars[v >> 12 & 63]);
        buf_putc(out, i + 1 < n ? b64chars[v >> 6 & 63] : '=');
        buf_putc(out, i + 2 < n ? b64chars[v & 63] : '=');
    }
}

static int any_json(dec *d, sl_buf *out, const uint8_t *p, size_t n, int depth);

/* The key (empty when absent) and value (NULL when absent) of a KeyValue. */
static int read_kv(dec *d, const uint8_t *p, size_t n, const uint8_t **key, size_t *klen,
                   const uint8_t **val, size_t *vlen)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    *key = (const uint8_t *)"";
    *val = NULL;
    *klen = *vlen = 0;
    while ((rc = pb_next(d, &r, "KeyValue", &f)) == 1) {
        if (f.num == 1) {
            WANT("KeyValue", "key", &f, WT_LEN);
            *key = f.d, *klen = f.len;
        } else if (f.num == 2) {
            WANT("KeyValue", "value", &f, WT_LEN);
            *val = f.d, *vlen = f.len;
        }
    }
    return rc;
}

static int kv_json(dec *d, sl_buf *out, const uint8_t *p, size_t n, int depth)
{
    const uint8_t *key, *val;
    size_t klen, vlen;
    int rc = read_kv(d, p, n, &key, &klen, &val, &vlen);
    if (rc < 0)
        return rc;
    buf_putc(out, '"');
    json_escape(out, (const char *)key, klen);
    buf_puts(out, "\":");
    if (!val) {
        buf_puts(out, "null");
        return SL_OK;
    }
    return any_json(d, out, val, vlen, depth);
}

/* Writes an AnyValue as JSON: kvlist -> object, array -> array, bytes -> base64 string. */
static int any_json(dec *d, sl_buf *out, const uint8_t *p, size_t n, int depth)
{
    if (depth > OTLP_MAX_DEPTH)
        return fail(d, "AnyValue nested deeper than %d", OTLP_MAX_DEPTH);
    pbr r = {p, p + n};
    pbf f, last = {0};
    int rc;
    while ((rc = pb_next(d, &r, "AnyValue", &f)) == 1) {
        static const int wts[] = {0, WT_LEN, WT_VARINT, WT_VARINT, WT_I64, WT_LEN, WT_LEN, WT_LEN};
        static const char *const names[] = {"", "string_value", "bool_value", "int_value",
                                            "double_value", "array_value", "kvlist_value",
                                            "bytes_value"};
        if (f.num >= 1 && f.num <= 7) {
            WANT("AnyValue", names[f.num], &f, wts[f.num]);
            last = f; /* oneof: the last one wins */
        }
    }
    if (rc < 0)
        return rc;
    switch (last.num) {
    case 1:
        buf_putc(out, '"');
        json_escape(out, (const char *)last.d, last.len);
        buf_putc(out, '"');
        return SL_OK;
    case 2:
        buf_puts(out, last.v ? "true" : "false");
        return SL_OK;
    case 3:
        json_write_int(out, (int64_t)last.v);
        return SL_OK;
    case 4: {
        double x;
        memcpy(&x, &last.v, 8);
        if (isfinite(x))
            json_write_double(out, x);
        else
            buf_puts(out, isnan(x) ? "\"NaN\"" : x > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return SL_OK;
    }
    case 5:
    case 6: {
        bool obj = last.num == 6;
        buf_putc(out, obj ? '{' : '[');
        pbr ar = {last.d, last.d + last.len};
        bool first = true;
        const char *msg = obj ? "KeyValueList" : "ArrayValue";
        while ((rc = pb_next(d, &ar, msg, &f)) == 1) {
            if (f.num != 1)
                continue;
            WANT(msg, "values", &f, WT_LEN);
            if (!first)
                buf_putc(out, ',');
            first = false;
            rc = obj ? kv_json(d, out, f.d, f.len, depth + 1)
                     : any_json(d, out, f.d, f.len, depth + 1);
            if (rc != SL_OK)
                return rc;
        }
        if (rc < 0)
            return rc;
        buf_putc(out, obj ? '}' : ']');
        return SL_OK;
    }
    case 7:
        buf_putc(out, '"');
        b64_encode(out, last.d, last.len);
        buf_putc(out, '"');
        return SL_OK;
    default:
        buf_puts(out, "null");
        return SL_OK;
    }
}

/* Sets field f from an AnyValue; *is_str/str report a string value (the body's message). */
static int any_field(dec *d, sl_field *f, const uint8_t *p, size_t n, sl_str *str)
{
    pbr r = {p, p + n};
    pbf x, last = {0};
    int rc;
    const uint8_t *start = p;
    while ((rc = pb_next(d, &r, "AnyValue", &x)) == 1) {
        static const int wts[] = {0, WT_LEN, WT_VARINT, WT_VARINT, WT_I64, WT_LEN, WT_LEN, WT_LEN};
        if (x.num >= 1 && x.num <= 7) {
            if (x.wt != wts[x.num])
                return fail(d, "AnyValue field %u: wire type %d, want %d", x.num, x.wt,
                            wts[x.num]);
            last = x;
        }
    }
    if (rc < 0)
        return rc;
    str->ptr = NULL;
    switch (last.num) {
    case 1:
        WANT("AnyValue", "string_value", &last, WT_LEN);
        f->type = SL_VAL_STR;
        f->v.s = batch_str(d->b, (const char *)last.d, last.len);
        *str = f->v.s;
        return SL_OK;
    case 2:
        WANT("AnyValue", "bool_value", &last, WT_VARINT);
        f->type = SL_VAL_BOOL;
        f->v.b = last.v != 0;
        return SL_OK;
    case 3:
        WANT("AnyValue", "int_value", &last, WT_VARINT);
        f->type = SL_VAL_INT;
        f->v.i = (int64_t)last.v;
        return SL_OK;
    case 4:
        WANT("AnyValue", "double_value", &last, WT_I64);
        f->type = SL_VAL_FLOAT;
        memcpy(&f->v.f, &last.v, 8);
        return SL_OK;
    case 7:
        WANT("AnyValue", "bytes_value", &last, WT_LEN);
        buf_reset(&d->tmp);
        b64_encode(&d->tmp, last.d, last.len);
        f->type = SL_VAL_STR;
        f->v.s = batch_str(d->b, d->tmp.p ? d->tmp.p : "", d->tmp.len);
        return SL_OK;
    case 5:
    case 6:
        buf_reset(&d->tmp);
        rc = any_json(d, &d->tmp, start, n, 0);
        if (rc != SL_OK)
            return rc;
        f->type = SL_VAL_JSON;
        f->v.s = batch_str(d->b, d->tmp.p, d->tmp.len);
        return SL_OK;
    default:
        f->type = SL_VAL_NULL;
        return SL_OK;
    }
}

/* Adds prefix+key = value of one KeyValue to e. */
static int add_kv(dec *d, sl_event *e, const char *prefix, const uint8_t *p, size_t n)
{
    const uint8_t *key, *val;
    size_t klen, vlen;
    int rc = read_kv(d, p, n, &key, &klen, &val, &vlen);
    if (rc < 0)
        return rc;
    sl_str k;
    if (prefix) {
        size_t pl = strlen(prefix);
        char *kp = arena_alloc(&d->b->arena, pl + klen + 1);
        memcpy(kp, prefix, pl);
        memcpy(kp + pl, key, klen);
        kp[pl + klen] = '\0';
        k = (sl_str){kp, (uint32_t)(pl + klen)};
    } else {
        k = batch_str(d->b, (const char *)key, klen);
    }
    sl_field *fl = event_push_field(d->b, e, k);
    sl_str s;
    fl->type = SL_VAL_NULL;
    return val ? any_field(d, fl, val, vlen, &s) : SL_OK;
}

static void hex_field(dec *d, sl_event *e, sl_str key, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    bool zero = true;
    for (size_t i = 0; i < n; i++)
        zero &= p[i] == 0;
    if (zero)
        return;
    char *h = arena_alloc(&d->b->arena, 2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hx[p[i] >> 4];
        h[2 * i + 1] = hx[p[i] & 15];
    }
    h[2 * n] = '\0';
    sl_field *f = event_push_field(d->b, e, key);
    f->type = SL_VAL_STR;
    f->v.s = (sl_str){h, (uint32_t)(2 * n)};
}

/* v's bytes must live as long as the batch (batch_str, or a literal). */
static void str_field(dec *d, sl_event *e, sl_str key, sl_str v)
{
    sl_field *f = event_push_field(d->b, e, key);
    f->type = SL_VAL_STR;
    f->v.s = v;
}

static void int_field(dec *d, sl_event *e, sl_str key, int64_t v)
{
    sl_field *f = event_push_field(d->b, e, key);
    f->type = SL_VAL_INT;
    f->v.i = v;
}

static int resource_fields(dec *d, sl_event *e, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    while ((rc = pb_next(d, &r, "Resource", &f)) == 1) {
        if (f.num == 1) {
            WANT("Resource", "attributes", &f, WT_LEN);
            if ((rc = add_kv(d, e, NULL, f.d, f.len)) != SL_OK)
                return rc;
        } else if (f.num == 2) {
            WANT("Resource", "dropped_attributes_count", &f, WT_VARINT);
        }
    }
    return rc < 0 ? rc : SL_OK;
}

static int scope_fields(dec *d, sl_event *e, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    while ((rc = pb_next(d, &r, "InstrumentationScope", &f)) == 1) {
        if (f.num == 1 || f.num == 2) {
            WANT("InstrumentationScope", f.num == 1 ? "name" : "version", &f, WT_LEN);
            if (f.len)
                str_field(d, e,
                          f.num == 1 ? SL_STR("otel.scope.name") : SL_STR("otel.scope.version"),
                          batch_str(d->b, (const char *)f.d, f.len));
        } else if (f.num == 3) {
            WANT("InstrumentationScope", "attributes", &f, WT_LEN);
            if ((rc = add_kv(d, e, "otel.scope.attributes.", f.d, f.len)) != SL_OK)
                return rc;
        } else if (f.num == 4) {
            WANT("InstrumentationScope", "dropped_attributes_count", &f, WT_VARINT);
        }
    }
    return rc < 0 ? rc : SL_OK;
}

static int record(dec *d, sl_event *e, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    uint64_t t = 0, obs = 0;
    int64_t sevnum = 0;
    const uint8_t *sevtext = NULL;
    size_t sevlen = 0;
    while ((rc = pb_next(d, &r, "LogRecord", &f)) == 1) {
        switch (f.num) {
        case 1:
            WANT("LogRecord", "time_unix_nano", &f, WT_I64);
            t = f.v;
            break;
        case 11:
            WANT("LogRecord", "observed_time_unix_nano", &f, WT_I64);
            obs = f.v;
            break;
        case 2:
            WANT("LogRecord", "severity_number", &f, WT_VARINT);
            sevnum = (int64_t)f.v;
            break;
        case 3:
            WANT("LogRecord", "severity_text", &f, WT_LEN);
            sevtext = f.d, sevlen = f.len;
            break;
        case 5: {
            WANT("LogRecord", "body", &f, WT_LEN);
            sl_field tmpf = {.key = SL_STR("body")};
            sl_str s;
            if ((rc = any_field(d, &tmpf, f.d, f.len, &s)) != SL_OK)
                return rc;
            if (s.ptr) {
                e->message = s;
            } else if (tmpf.type != SL_VAL_NULL) {
                sl_field *x = event_push_field(d->b, e, SL_STR("body"));
                *x = tmpf;
            }
            break;
        }
        case 6:
            WANT("LogRecord", "attributes", &f, WT_LEN);
            if ((rc = add_kv(d, e, NULL, f.d, f.len)) != SL_OK)
                return rc;
            break;
        case 7:
            WANT("LogRecord", "dropped_attributes_count", &f, WT_VARINT);
            break;
        case 8:
            WANT("LogRecord", "flags", &f, WT_I32);
            if (f.v)
                int_field(d, e, SL_STR("trace_flags"), (int64_t)f.v);
            break;
        case 9:
        case 10: {
            bool tr = f.num == 9;
            WANT("LogRecord", tr ? "trace_id" : "span_id", &f, WT_LEN);
            size_t w = tr ? 16 : 8;
            if (f.len != 0 && f.len != w)
                return fail(d, "LogRecord.%s: %zu bytes, want %zu", tr ? "trace_id" : "span_id",
                            f.len, w);
            if (f.len)
                hex_field(d, e, tr ? SL_STR("trace_id") : SL_STR("span_id"), f.d, f.len);
            break;
        }
        case 12:
            WANT("LogRecord", "event_name", &f, WT_LEN);
            if (f.len)
                str_field(d, e, SL_STR("event.name"), batch_str(d->b, (const char *)f.d, f.len));
            break;
        default:
            break;
        }
    }
    if (rc < 0)
        return rc;
    e->ts_ns = t ? (int64_t)t : obs ? (int64_t)obs : d->o->now_ns;
    if (obs)
        int_field(d, e, SL_STR("observed_time_unix_nano"), (int64_t)obs);
    if (sevlen || (sevnum >= 1 && sevnum <= 24)) {
        sl_field *x = event_push_field(d->b, e, SL_STR("severity"));
        x->type = SL_VAL_STR;
        if (sevlen) {
            x->v.s = batch_str(d->b, (const char *)sevtext, sevlen);
        } else {
            const char *st = severity_text((int)sevnum);
            x->v.s = (sl_str){st, (uint32_t)strlen(st)};
        }
    }
    if (sevnum)
        int_field(d, e, SL_STR("severity_number"), sevnum);
    return SL_OK;
}

/* ResourceLogs and ScopeLogs have one shape: field 1 a message (resource, scope), 2 the
 * repeated children (scope_logs, log_records), 3 schema_url. This first pass checks the
 * wire types and finds field 1, which the children need and which may come after them. */
static int level_first(dec *d, const uint8_t *p, size_t n, const char *msg, const char *one,
                       const char *many, const uint8_t **first, size_t *firstlen)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    *first = NULL, *firstlen = 0;
    while ((rc = pb_next(d, &r, msg, &f)) == 1) {
        if (f.num == 1) {
            WANT(msg, one, &f, WT_LEN);
            *first = f.d, *firstlen = f.len;
        } else if (f.num == 2) {
            WANT(msg, many, &f, WT_LEN);
        } else if (f.num == 3) {
            WANT(msg, "schema_url", &f, WT_LEN);
        }
    }
    return rc < 0 ? rc : SL_OK;
}

/* One ScopeLogs under a resource (note 4). */
static int scope_logs(dec *d, const uint8_t *res, size_t reslen, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    const uint8_t *scope;
    size_t scopelen;
    int rc = level_first(d, p, n, "ScopeLogs", "scope", "log_records", &scope, &scopelen);
    if (rc != SL_OK)
        return rc;
    int64_t tmpl = -1; /* index of the event holding the resource and scope fields */
    uint32_t nbase = 0;
    while ((rc = pb_next(d, &r, "ScopeLogs", &f)) == 1) {
        if (f.num != 2)
            continue;
        uint32_t idx = d->index++;
        d->r->records++;
        sl_event *e = batch_add(d->b);
        e->id_stream = d->o->id_stream;
        e->id_seq = idx;
        if (tmpl < 0) {
            if (res && (rc = resource_fields(d, e, res, reslen)) != SL_OK)
                return rc;
            if (scope && (rc = scope_fields(d, e, scope, scopelen)) != SL_OK)
                return rc;
            nbase = e->nfields;
            tmpl = (int64_t)(d->b->n - 1);
        } else {
            for (uint32_t i = 0; i < nbase; i++) {
                const sl_field *src = &d->b->events[tmpl].fields[i];
                sl_field *x = event_push_field(d->b, e, src->key);
                *x = *src;
            }
        }
        if ((rc = record(d, e, f.d, f.len)) != SL_OK)
            return rc;
        if (d->o->max_record_bytes && f.len > d->o->max_record_bytes) {
            d->r->rejected++;
            if (!d->r->reject_msg[0])
                snprintf(d->r->reject_msg, sizeof d->r->reject_msg,
                         "log record %u: %zu bytes, more than max_record_bytes (%zu)", idx,
                         f.len, d->o->max_record_bytes);
            if ((int64_t)(d->b->n - 1) == tmpl)
                d->b->n--, tmpl = -1; /* the template goes with it: decode it again */
            else
                d->b->n--;
            continue;
        }
        d->b->bytes += event_size(e);
    }
    return rc < 0 ? rc : SL_OK;
}

static int resource_logs(dec *d, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    const uint8_t *res;
    size_t reslen;
    int rc = level_first(d, p, n, "ResourceLogs", "resource", "scope_logs", &res, &reslen);
    if (rc != SL_OK)
        return rc;
    while ((rc = pb_next(d, &r, "ResourceLogs", &f)) == 1)
        if (f.num == 2 && (rc = scope_logs(d, res, reslen, f.d, f.len)) != SL_OK)
            return rc;
    return rc < 0 ? rc : SL_OK;
}

static int decode_pb(dec *d, const uint8_t *p, size_t n)
{
    pbr r = {p, p + n};
    pbf f;
    int rc;
    while ((rc = pb_next(d, &r, "ExportLogsServiceRequest", &f)) == 1) {
        if (f.num != 1)
            continue;
        WANT("ExportLogsServiceRequest", "resource_logs", &f, WT_LEN);
        if ((rc = resource_logs(d, f.d, f.len)) != SL_OK)
            return rc;
    }
    return rc < 0 ? rc : SL_OK;
}

/* ---- JSON -> protobuf (note 2) ------------------------------------------------------ */

static void w_varint(sl_buf *b, uint64_t v)
{
    char t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (char)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (char)v;
    buf_append(b, t, n);
}

static void w_tag(sl_buf *b, unsigned field, int wt)
{
    w_varint(b, (uint64_t)field << 3 | (unsigned)wt);
}

static void w_fixed(sl_buf *b, unsigned field, uint64_t v, size_t w)
{
    char t[8];
    w_tag(b, field, w == 8 ? WT_I64 : WT_I32);
    for (size_t i = 0; i < w; i++)
        t[i] = (char)(v >> (8 * i));
    buf_append(b, t, w);
}

static void w_bytes(sl_buf *b, unsigned field, const void *p, size_t n)
{
    w_tag(b, field, WT_LEN);
    w_varint(b, n);
    buf_append(b, p, n);
}

static size_t w_begin(sl_buf *b, unsigned field)
{
    w_tag(b, field, WT_LEN);
    size_t mark = b->len;
    buf_append(b, "\x80\x80\x80\x80\x00", 5);
    return mark;
}

static void w_end(sl_buf *b, size_t mark)
{
    size_t n = b->len - mark - 5;
    for (int i = 0; i < 5; i++)
        b->p[mark + (size_t)i] = (char)((n >> (7 * i) & 0x7f) | (i < 4 ? 0x80 : 0));
}

static bool jk(const char *k, const char *camel, const char *snake)
{
    return strcmp(k, camel) == 0 || (snake && strcmp(k, snake) == 0);
}

/* int64/uint64 from a JSON number without fraction, or a string of digits. */
static bool j_int(const json_value *v, bool is_unsigned, uint64_t *out)
{
    const char *s;
    size_t n;
    if (v->type == JSON_STR)
        s = v->str, n = v->len;
    else if (v->type == JSON_NUM)
        s = v->raw, n = v->raw_len;
    else
        return false;
    char t[32];
    if (n == 0 || n >= sizeof t)
        return false;
    memcpy(t, s, n);
    t[n] = '\0';
    if (strpbrk(t, ".eE")) { /* 1e3 or 5.0: accepted when integral, as the collector does */
        char *end;
        errno = 0;
        double x = strtod(t, &end);
        if (*end || errno || x != floor(x) || fabs(x) > 9.2e18 || (is_unsigned && x < 0))
            return false;
        *out = is_unsigned ? (uint64_t)x : (uint64_t)(int64_t)x;
        return true;
    }
    char *end;
    errno = 0;
    if (is_unsigned) {
        if (t[0] == '-')
            return false;
        *out = strtoull(t, &end, 10);
    } else {
        *out = (uint64_t)strtoll(t, &end, 10);
    }
    return !errno && *end == '\0' && end != t;
}

static int j_hex(dec *d, sl_buf *b, unsigned field, const json_value *v, size_t w,
                 const char *name)
{
    if (v->type != JSON_STR)
        return fail(d, "LogRecord.%s: want a hex string", name);
    if (v->len == 0)
        return SL_OK;
    if (v->len != 2 * w)
        return fail(d, "LogRecord.%s: %zu hex digits, want %zu", name, v->len, 2 * w);
    uint8_t id[16];
    for (size_t i = 0; i < w; i++) {
        int hv[2];
        for (int k = 0; k < 2; k++) {
            hv[k] = sl_hexval((unsigned char)v->str[2 * i + (size_t)k]);
            if (hv[k] < 0)
                return fail(d, "LogRecord.%s: not hex", name);
        }
        id[i] = (uint8_t)(hv[0] << 4 | hv[1]);
    }
    w_bytes(b, field, id, w);
    return SL_OK;
}

static int b64val(char c)
{
    const char *q = c ? strchr(b64chars, c) : NULL;
    if (q)
        return (int)(q - b64chars);
    return c == '-' ? 62 : c == '_' ? 63 : -1; /* URL-safe spelling too */
}

static int j_base64(dec *d, sl_buf *b, unsigned field, const json_value *v)
{
    if (v->type != JSON_STR)
        return fail(d, "AnyValue.bytesValue: want a base64 string");
    size_t mark = w_begin(b, field);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < v->len; i++) {
        char c = v->str[i];
        if (c == '=')
            break;
        int x = b64val(c);
        if (x < 0)
            return fail(d, "AnyValue.bytesValue: not base64");
        acc = acc << 6 | (uint32_t)x;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf_putc(b, (char)(acc >> bits & 0xff));
        }
    }
    w_end(b, mark);
    return SL_OK;
}

static int j_any(dec *d, sl_buf *b, const json_value *v, int depth);

static int j_kv(dec *d, sl_buf *b, const json_value *v, int depth)
{
    if (v->type != JSON_OBJ)
        return fail(d, "KeyValue: want an object");
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        const json_value *x = v->items[i];
        if (x->type == JSON_NULL)
            continue;
        if (jk(k, "key", NULL)) {
            if (x->type != JSON_STR)
                return fail(d, "KeyValue.key: want a string");
            w_bytes(b, 1, x->str, x->len);
        } else if (jk(k, "value", NULL)) {
            size_t m = w_begin(b, 2);
            int rc = j_any(d, b, x, depth);
            if (rc != SL_OK)
                return rc;
            w_end(b, m);
        }
    }
    return SL_OK;
}

/* values: [...] of AnyValue (array) or KeyValue (kvlist). */
static int j_values(dec *d, sl_buf *b, const json_value *v, bool kv, int depth)
{
    const char *name = kv ? "kvlistValue" : "arrayValue";
    if (v->type != JSON_OBJ)
        return fail(d, "AnyValue.%s: want an object", name);
    const json_value *vals = json_get(v, "values");
    if (!vals || vals->type == JSON_NULL)
        return SL_OK;
    if (vals->type != JSON_ARR)
        return fail(d, "AnyValue.%s.values: want an array", name);
    for (size_t i = 0; i < vals->n; i++) {
        size_t m = w_begin(b, 1);
        int rc = kv ? j_kv(d, b, vals->items[i], depth + 1) : j_any(d, b, vals->items[i], depth + 1);
        if (rc != SL_OK)
            return rc;
        w_end(b, m);
    }
    return SL_OK;
}

static int j_any(dec *d, sl_buf *b, const json_value *v, int depth)
{
    if (depth > OTLP_MAX_DEPTH)
        return fail(d, "AnyValue nested deeper than %d", OTLP_MAX_DEPTH);
    if (v->type == JSON_NULL)
        return SL_OK;
    if (v->type != JSON_OBJ)
        return fail(d, "AnyValue: want an object");
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        const json_value *x = v->items[i];
        uint64_t u;
        if (x->type == JSON_NULL)
            continue;
        if (jk(k, "stringValue", "string_value")) {
            if (x->type != JSON_STR)
                return fail(d, "AnyValue.stringValue: want a string");
            w_bytes(b, 1, x->str, x->len);
        } else if (jk(k, "boolValue", "bool_value")) {
            if (x->type != JSON_BOOL)
                return fail(d, "AnyValue.boolValue: want true or false");
            w_tag(b, 2, WT_VARINT);
            w_varint(b, x->b);
        } else if (jk(k, "intValue", "int_value")) {
            if (!j_int(x, false, &u))
                return fail(d, "AnyValue.intValue: want an int64 (number or string)");
            w_tag(b, 3, WT_VARINT);
            w_varint(b, u);
        } else if (jk(k, "doubleValue", "double_value")) {
            double f;
            if (x->type == JSON_NUM)
                f = x->num;
            else if (x->type == JSON_STR && strcmp(x->str, "NaN") == 0)
                f = NAN;
            else if (x->type == JSON_STR && strcmp(x->str, "Infinity") == 0)
                f = INFINITY;
            else if (x->type == JSON_STR && strcmp(x->str, "-Infinity") == 0)
                f = -INFINITY;
            else if (x->type == JSON_STR && x->len && x->len < 64) {
                char *end;
                f = strtod(x->str, &end);
                if (*end)
                    return fail(d, "AnyValue.doubleValue: want a number");
            } else
                return fail(d, "AnyValue.doubleValue: want a number");
            uint64_t bits;
            memcpy(&bits, &f, 8);
            w_fixed(b, 4, bits, 8);
        } else if (jk(k, "arrayValue", "array_value") || jk(k, "kvlistValue", "kvlist_value")) {
            bool kv = k[0] == 'k';
            size_t m = w_begin(b, kv ? 6 : 5);
            int rc = j_values(d, b, x, kv, depth);
            if (rc != SL_OK)
                return rc;
            w_end(b, m);
        } else if (jk(k, "bytesValue", "bytes_value")) {
            int rc = j_base64(d, b, 7, x);
            if (rc != SL_OK)
                return rc;
        }
    }
    return SL_OK;
}

static int j_attrs(dec *d, sl_buf *b, unsigned field, const json_value *v, const char *msg)
{
    if (v->type != JSON_ARR)
        return fail(d, "%s.attributes: want an array", msg);
    for (size_t i = 0; i < v->n; i++) {
        size_t m = w_begin(b, field);
        int rc = j_kv(d, b, v->items[i], 0);
        if (rc != SL_OK)
            return rc;
        w_end(b, m);
    }
    return SL_OK;
}

static int j_string(dec *d, sl_buf *b, unsigned field, const json_value *v, const char *what)
{
    if (v->type != JSON_STR)
        return fail(d, "%s: want a string", what);
    w_bytes(b, field, v->str, v->len);
    return SL_OK;
}

static int j_uint_varint(dec *d, sl_buf *b, unsigned field, const json_value *v, const char *what)
{
    uint64_t u;
    if (!j_int(v, false, &u))
        return fail(d, "%s: want an integer", what);
    w_tag(b, field, WT_VARINT);
    w_varint(b, u);
    return SL_OK;
}

#define J(call)                   \
    do {                          \
        int rc_ = (call);         \
        if (rc_ != SL_OK)         \
            return rc_;           \
    } while (0)

/* An enum written by name, as proto3 JSON allows: SEVERITY_NUMBER_WARN2 -> 14; -1 if not. */
static int severity_enum(const char *s, size_t n)
{
    static const char pre[] = "SEVERITY_NUMBER_";
    static const char *const words[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};
    if (n < sizeof pre - 1 || memcmp(s, pre, sizeof pre - 1) != 0)
        return -1;
    s += sizeof pre - 1, n -= sizeof pre - 1;
    if (n == 11 && memcmp(s, "UNSPECIFIED", 11) == 0)
        return 0;
    for (int w = 0; w < 6; w++) {
        size_t wl = strlen(words[w]);
        if (n < wl || memcmp(s, words[w], wl) != 0)
            continue;
        if (n == wl)
            return 4 * w + 1;
        if (n == wl + 1 && s[wl] >= '2' && s[wl] <= '4')
            return 4 * w + (s[wl] - '0');
    }
    return -1;
}

static int j_record(dec *d, sl_buf *b, const json_value *v)
{
    if (v->type != JSON_OBJ)
        return fail(d, "LogRecord: want an object");
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->keys[i];
        const json_value *x = v->items[i];
        uint64_t u;
        if (x->type == JSON_NULL)
            continue;
        if (jk(k, "timeUnixNano", "time_unix_nano") ||
            jk(k, "observedTimeUnixNano", "observed_time_unix_nano")) {
            if (!j_int(x, true, &u))
                return fail(d, "LogRecord.%s: want a uint64 (number or string)", k);
            w_fixed(b, k[0] == 't' ? 1 : 11, u, 8);
        } else if (jk(k, "severityNumber", "severity_number")) {
            int sn = x->type == JSON_STR ? severity_enum(x->str, x->len) : -1;
            if (sn >= 0) {
                w_tag(b, 2, WT_VARINT);
                w_varint(b, (uint64_t)sn);
            } else {
                J(j_uint_varint(d, b, 2, x, "LogRecord.severityNumber"));
            }
        } else if (jk(k, "severityText", "severity_text")) {
            J(j_string(d, b, 3, x, "LogRecord.severityText"));
        } else if (jk(k, "body", NULL)) {
            size_t m = w_begin(b, 5);
            J(j_any(d, b, x, 0));
            w_end(b, m);
        } else if (jk(k, "attributes", NULL)) {
            J(j_attrs(d, b, 6, x, "LogRecord"));
        } else if (jk(k, "droppedAttributesCount", "dropped_attributes_count")) {
            J(j_uint_varint(d, b, 7, x, "LogRecord.droppedAttributesCount"));
        } else if (jk(k, "flags", NULL)) {
            if (!j_int(x, true, &u) || u > UINT32_MAX)
                return fail(d, "LogRecord.flags: want a uint32");
            w_fixed(b, 8, u, 4);
        } else if (jk(k, "traceId", "trace_id")) {
            J(j_hex(d, b, 9, x, 16, "traceId"));
        } else if (jk(k, "spanId", "span_id")) {
            J(j_hex(d, b, 10, x, 8, "spanId"));
        } else if (jk(k, "eventName", "event_name")) {
            J(j_string(d, b, 12, x, "LogRecord.eventName"));
        }
    }
    return SL_OK;
}

/* Calls fn(d, b, key, value, arg) for each member of the object v that is not null (a null
 * member is an absent one to proto3 JSON readers); `what` names v in errors. */
typedef int (*j_member_fn)(dec *, sl_buf *, const char *, const json_value *, const void *);

static int j_members(dec *d, sl_buf *b, const json_value *v, const char *what, j_member_fn fn,
                     const void *arg)
{
    if (v->type != JSON_OBJ)
        return fail(d, "%s: want an object", what);
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i]->type != JSON_NULL)
            J(fn(d, b, v->keys[i], v->items[i], arg));
    return SL_OK;
}

static int j_scope_member(dec *d, sl_buf *b, const char *k, const json_value *x, const void *arg)
{
    if (jk(k, "name", NULL))
        return j_string(d, b, 1, x, "InstrumentationScope.name");
    if (jk(k, "version", NULL))
        return j_string(d, b, 2, x, "InstrumentationScope.version");
    if (jk(k, "attributes", NULL))
        return j_attrs(d, b, 3, x, "InstrumentationScope");
    if (jk(k, "droppedAttributesCount", "dropped_attributes_count"))
        return j_uint_varint(d, b, 4, x, "InstrumentationScope.droppedAttributesCount");
    return SL_OK;
}

static int j_scope(dec *d, sl_buf *b, const json_value *v)
{
    return j_members(d, b, v, "InstrumentationScope", j_scope_member, NULL);
}

static int j_array_of(dec *d, sl_buf *b, unsigned field, const json_value *x, const char *what,
                      int (*fn)(dec *, sl_buf *, const json_value *))
{
    if (x->type != JSON_ARR)
        return fail(d, "%s: want an array", what);
    for (size_t j = 0; j < x->n; j++) {
        size_t m = w_begin(b, field);
        J(fn(d, b, x->items[j]));
        w_end(b, m);
    }
    return SL_OK;
}

/* ResourceLogs and ScopeLogs have one shape: a message in field 1 (resource, scope) and
 * repeated messages in field 2 (scopeLogs, logRecords). */
typedef struct j_level {
    const char *what;                          /* the message's name, for errors */
    const char *one;                           /* JSON key of field 1 */
    int (*one_fn)(dec *, sl_buf *, const json_value *);
    const char *many, *many_snake, *many_what; /* JSON keys of field 2, its name for errors */
    int (*many_fn)(dec *, sl_buf *, const json_value *);
} j_level;

static int j_level_member(dec *d, sl_buf *b, const char *k, const json_value *x,
                          const void *arg)
{
    const j_level *l = arg;
    if (jk(k, l->one, NULL)) {
        size_t m = w_begin(b, 1);
        J(l->one_fn(d, b, x));
        w_end(b, m);
    } else if (jk(k, l->many, l->many_snake)) {
        J(j_array_of(d, b, 2, x, l->many_what, l->many_fn));
    }
    return SL_OK;
}

static int j_level_of(dec *d, sl_buf *b, const json_value *v, const j_level *l)
{
    return j_members(d, b, v, l->what, j_level_member, l);
}

static int j_scope_logs(dec *d, sl_buf *b, const json_value *v)
{
    static const j_level l = {"ScopeLogs", "scope", j_scope, "logRecords", "log_records",
                              "ScopeLogs.logRecords", j_record};
    return j_level_of(d, b, v, &l);
}

static int j_resource_member(dec *d, sl_buf *b, const char *k, const json_value *x,
                             const void *arg)
{
    if (jk(k, "attributes", NULL))
        return j_attrs(d, b, 1, x, "Resource");
    if (jk(k, "droppedAttributesCount", "dropped_attributes_count"))
        return j_uint_varint(d, b, 2, x, "Resource.droppedAttributesCount");
    return SL_OK;
}

static int j_resource(dec *d, sl_buf *b, const json_value *v)
{
    return j_members(d, b, v, "Resource", j_resource_member, NULL);
}

static int j_resource_logs(dec *d, sl_buf *b, const json_value *v)
{
    static const j_level l = {"ResourceLogs", "resource", j_resource, "scopeLogs", "scope_logs",
                              "ResourceLogs.scopeLogs", j_scope_logs};
    return j_level_of(d, b, v, &l);
}

static int j_request(dec *d, sl_buf *b, const json_value *v)
{
    if (v->type != JSON_OBJ)
        return fail(d, "ExportLogsServiceRequest: want an object");
    const json_value *x = json_get(v, "resourceLogs");
    if (!x)
        x = json_get(v, "resource_logs");
    if (!x || x->type == JSON_NULL)
        return SL_OK;
    return j_array_of(d, b, 1, x, "ExportLogsServiceRequest.resourceLogs", j_resource_logs);
}

/* ---- entry points ------------------------------------------------------------------- */

int otlp_logs_decode(sl_batch *b, const char *p, size_t n, bool json, sl_arena *scratch,
                     const otlp_logs_opts *o, otlp_logs_result *r, char *err, size_t errlen)
{
    dec d = {.b = b, .o = o, .r = r, .err = err, .errlen = errlen};
    memset(r, 0, sizeof *r);
    if (errlen)
        err[0] = '\0';
    int rc;
    if (json) {
        char jerr[128];
        json_value *v = json_parse(scratch, p, n, jerr, sizeof jerr);
        if (!v) {
            snprintf(err, errlen, "bad JSON: %s", jerr);
            return SL_ERR_CORRUPT;
        }
        sl_buf pb = SL_BUF_INIT;
        rc = j_request(&d, &pb, v);
        if (rc == SL_OK)
            rc = decode_pb(&d, (const uint8_t *)(pb.p ? pb.p : ""), pb.len);
        buf_free(&pb);
    } else {
        rc = decode_pb(&d, (const uint8_t *)p, n);
    }
    buf_free(&d.tmp);
    return rc;
}

uint64_t otlp_logs_hash(const void *p, size_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 29;
        s += 8, n -= 8;
    }
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)s[i] << (8 * i);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

void otlp_logs_response(sl_buf *out, bool json, int64_t rejected, const char *msg)
{
    if (json) {
        if (!rejected) {
            buf_puts(out, "{}");
            return;
        }
        buf_printf(out, "{\"partialSuccess\":{\"rejectedLogRecords\":\"%lld\",\"errorMessage\":\"",
                   (long long)rejected);
        json_escape(out, msg, strlen(msg));
        buf_puts(out, "\"}}");
        return;
    }
    if (!rejected)
        return;
    size_t m = w_begin(out, 1);
    w_tag(out, 1, WT_VARINT);
    w_varint(out, (uint64_t)rejected);
    if (msg[0])
        w_bytes(out, 2, msg, strlen(msg));
    w_end(out, m);
}

void otlp_logs_status(sl_buf *out, bool json, int code, const char *msg)
{
    if (json) {
        buf_printf(out, "{\"code\":%d,\"message\":\"", code);
        json_escape(out, msg, strlen(msg));
        buf_puts(out, "\"}");
        return;
    }
    w_tag(out, 1, WT_VARINT);
    w_varint(out, (uint64_t)code);
    w_bytes(out, 2, msg, strlen(msg));
}
