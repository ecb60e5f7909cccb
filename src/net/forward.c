/* forward.c - Fluent Forward protocol v1 codec: every message mode to events, events to
 * PackedForward, gzip both ways, and both sides of the shared-key handshake. What peers
 * really send (Fluent Bit 5.1.1 recorded, Fluentd's source) decides the shapes accepted:
 * see tests/data/fluent-bit-forward. */
#include "forward.h"

#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/msgpack.h"

typedef struct dec {
    sl_batch *b;
    fwd_scratch *scratch;
    const fwd_limits *lim;
    const uint8_t *base; /* start of the message, for error positions */
    sl_str tag;
    const uint8_t *opt_meta; /* Message mode's `metadata` option (a map), or NULL */
    uint32_t markers;        /* Fluent Bit group markers skipped */
    char *err;
    size_t errlen;
} dec;

static int bad(dec *d, const mp_reader *r, const char *what)
{
    sl_seterr(d->err, d->errlen, SL_ERR_CORRUPT, "malformed forward message at byte %zu: %s",
              r ? (size_t)(r->p - d->base) : 0, what);
    return SL_ERR_CORRUPT;
}

/* Event time: integer seconds, float seconds, or EventTime (ext 0: sec, nsec). Fluent Bit
 * marks the start and end of a group of records (its OTLP inputs) with the times -1 and
 * -2, as integers or as EventTime seconds read as int32: *marker says so. */
static int read_time(dec *d, mp_reader *r, int64_t *ts, bool *marker)
{
    mp_obj o;
    *marker = false;
    if (mp_read(r, &o) != MP_OK)
        return bad(d, r, "truncated time");
    if (o.type == MP_INT) {
        if (o.i > INT64_MAX / 1000000000 || o.i < INT64_MIN / 1000000000)
            return bad(d, r, "time out of range");
        *marker = o.i == -1 || o.i == -2;
        *ts = o.i * 1000000000;
        return SL_OK;
    }
    if (o.type == MP_EXT && o.ext_type == 0 && o.len == 8) {
        uint32_t sec = ((uint32_t)o.p[0] << 24) | ((uint32_t)o.p[1] << 16) |
                       ((uint32_t)o.p[2] << 8) | o.p[3];
        uint32_t nsec = ((uint32_t)o.p[4] << 24) | ((uint32_t)o.p[5] << 16) |
                        ((uint32_t)o.p[6] << 8) | o.p[7];
        *marker = sec == 0xffffffffu || sec == 0xfffffffeu;
        if (nsec >= 1000000000u && !*marker)
            return bad(d, r, "EventTime nanoseconds out of range");
        *ts = (int64_t)sec * 1000000000 + nsec;
        return SL_OK;
    }
    if (o.type == MP_FLOAT && isfinite(o.f) && fabs(o.f) < 9.2e9) {
        *ts = (int64_t)(o.f * 1e9);
        return SL_OK;
    }
    return bad(d, r, "time is not an integer, float or EventTime");
}

static inline sl_str view(const mp_obj *o) { return (sl_str){(const char *)o->p, o->len}; }

#define META_PREFIX "fluentbit.metadata."

/* `npairs` key/value pairs of a map into fields of e (the map header already read). For a
 * record (`meta` false) the key `message` (else `log`) becomes the body; metadata keys are
 * prefixed with META_PREFIX. Strings point into the message, which fwd_decode copied into
 * the batch arena (no copy per string; only prefixed keys are built there). */
static int read_pairs(dec *d, mp_reader *r, sl_event *e, uint32_t npairs, bool meta)
{
    if (npairs > (uint32_t)(r->end - r->p) / 2)
        return bad(d, r, meta ? "metadata map larger than the message"
                              : "record map larger than the message");
    sl_batch *b = d->b;
    /* Room for every key plus the tag, so no field array is reallocated. */
    uint32_t cap = npairs + e->nfields + 1;
    sl_field *fields = arena_alloc(&b->arena, sizeof(sl_field) * cap);
    if (e->nfields)
        memcpy(fields, e->fields, sizeof(sl_field) * e->nfields);
    e->fields = fields;
    e->cap_fields = cap;
    bool from_log = false;
    for (uint32_t i = 0; i < npairs; i++) {
        mp_obj k, v;
        if (mp_read(r, &k) != MP_OK)
            return bad(d, r, meta ? "truncated metadata key" : "truncated record key");
        if (k.type != MP_STR && k.type != MP_BIN) {
            /* 1, true, nil as keys are data to Fluentd and Fluent Bit: their text here;
             * refused, the client would send the chunk again and again */
            char kt[32];
            size_t kl = mp_key_text(&k, kt, sizeof kt);
            if (!kl)
                return bad(d, r, meta ? "metadata key is not a string"
                                      : "record key is not a string or a scalar");
            k.type = MP_STR;
            k.p = (const uint8_t *)batch_str(b, kt, kl).ptr;
            k.len = (uint32_t)kl;
        }
        const uint8_t *vstart = r->p;
        if (!meta && k.len == 3 && memcmp(k.p, "tag", 3) == 0) {
            /* The message's tag is the event's, as Fluentd routes by it (Vector's fluent
             * source writes it over the record's): a record's own "tag" would be a second
             * field, the one routes and sinks find first. */
            if (mp_skip(r, d->lim->max_depth, (size_t)(r->end - r->p)) != MP_OK)
                return bad(d, r, "truncated record value");
            continue;
        }
        if (mp_read(r, &v) != MP_OK)
            return bad(d, r, meta ? "truncated metadata value" : "truncated record value");
        if (!meta && (v.type == MP_STR || v.type == MP_BIN)) {
            bool is_msg = k.len == 7 && memcmp(k.p, "message", 7) == 0;
            bool is_log = k.len == 3 && memcmp(k.p, "log", 3) == 0;
            if (is_msg || (is_log && e->message.len == 0 && !from_log)) {
                if (is_msg && from_log) { /* keep the earlier `log` as a field */
                    sl_field *lf = &e->fields[e->nfields++];
                    lf->key = SL_STR("log");
                    lf->type = SL_VAL_STR;
                    lf->v.s = e->message;
                }
                e->message = view(&v);
                from_log = is_log;
                continue;
            }
        } else if (!meta && k.len == 7 && memcmp(k.p, "message", 7) == 0) {
            /* Not a string: the message as its JSON text, never a field beside the message
             * (every encoding would write two "message" keys); null says nothing. */
            if (v.type == MP_NIL)
                continue;
            mp_reader sub = {vstart, r->end};
            sl_buf *j = &d->scratch->json;
            buf_reset(j);
            if (mp_to_json(&sub, j, d->lim->max_depth) != MP_OK)
                return bad(d, r, "bad nested value");
            r->p = sub.p;
            if (from_log) {
                sl_field *lf = &e->fields[e->nfields++];
                lf->key = SL_STR("log");
                lf->type = SL_VAL_STR;
                lf->v.s = e->message;
            }
            e->message = batch_str(b, j->p, j->len);
            from_log = false;
            continue;
        }
        if (e->nfields == e->cap_fields) /* only after a `log` moved aside */
            return bad(d, r, "too many fields");
        sl_field *f = &e->fields[e->nfields++];
        if (meta) {
            size_t pl = sizeof META_PREFIX - 1;
            char *key = arena_alloc(&b->arena, pl + k.len);
            memcpy(key, META_PREFIX, pl);
            memcpy(key + pl, k.p, k.len);
            f->key = (sl_str){key, (uint32_t)(pl + k.len)};
        } else {
            f->key = view(&k);
        }
        switch (v.type) {
        case MP_STR:
        case MP_BIN: f->type = SL_VAL_STR, f->v.s = view(&v); break;
        case MP_NIL: f->type = SL_VAL_NULL; break;
        case MP_BOOL: f->type = SL_VAL_BOOL, f->v.b = v.b; break;
        case MP_INT: f->type = SL_VAL_INT, f->v.i = v.i; break;
        case MP_UINT: f->type = SL_VAL_FLOAT, f->v.f = (double)v.u; break;
        case MP_FLOAT:
            if (isfinite(v.f))
                f->type = SL_VAL_FLOAT, f->v.f = v.f;
            else
                f->type = SL_VAL_NULL;
            break;
        case MP_EXT: f->type = SL_VAL_NULL; break;
        default: { /* map or array: raw JSON of the subtree */
            mp_reader sub = {vstart, r->end};
            sl_buf *j = &d->scratch->json;
            buf_reset(j);
            if (mp_to_json(&sub, j, d->lim->max_depth) != MP_OK)
                return bad(d, r, meta ? "bad nested metadata value" : "bad nested value");
            r->p = sub.p;
            f->type = SL_VAL_JSON;
            f->v.s = batch_str(b, j->p, j->len);
            break;
        }
        }
    }
    return SL_OK;
}

static int read_record(dec *d, mp_reader *r, sl_event *e)
{
    mp_obj m;
    if (mp_read(r, &m) != MP_OK || m.type != MP_MAP)
        return bad(d, r, "record is not a map");
    return read_pairs(d, r, e, m.len, false);
}

/* Fluent Bit's metadata map: nil or an empty map add nothing. */
static int read_metadata(dec *d, mp_reader *r, sl_event *e)
{
    mp_obj m;
    if (mp_read(r, &m) != MP_OK || (m.type != MP_MAP && m.type != MP_NIL))
        return bad(d, r, "metadata is not a map");
    if (m.type == MP_NIL || m.len == 0)
        return SL_OK;
    return read_pairs(d, r, e, m.len, true);
}

/* A new event with its time. */
static sl_event *new_event(dec *d, int64_t ts)
{
    sl_event *e = batch_add(d->b);
    e->ts_ns = ts;
    return e;
}

static void finish_event(dec *d, sl_event *e)
{
    if (e->nfields == e->cap_fields) { /* no map gave room yet (an empty record) */
        sl_field *fields = arena_alloc(&d->b->arena, sizeof(sl_field) * (e->nfields + 1));
        if (e->nfields)
            memcpy(fields, e->fields, sizeof(sl_field) * e->nfields);
        e->fields = fields;
        e->cap_fields = e->nfields + 1;
    }
    sl_field *f = &e->fields[e->nfields++];
    f->key = SL_STR("tag");
    f->type = SL_VAL_STR;
    f->v.s = d->tag;
    /* Accounting as event_size() would count it, without walking the fields again. */
    d->b->bytes += 64 + e->message.len + 24 * e->nfields;
}

/* Room for `want` more events at once. `want` comes from outside (the `size` option, an
 * array count), so it is only a hint: bounded by what `bytes` could hold (an entry is at
 * least 3 bytes) and by a fixed ceiling; the array still doubles past it if it lied. */
static void reserve_events(sl_batch *b, uint64_t want, size_t bytes)
{
    want = SL_MIN(want, (uint64_t)bytes / 3);
    want = SL_MIN(want, (uint64_t)65536);
    if (b->n + want > b->cap) {
        b->cap = b->n + (uint32_t)want;
        b->events = sl_xrealloc(b->events, sizeof(sl_event) * b->cap);
    }
}

/* The time-and-record part of an entry or of a Message-mode message: `time, record` or, as
 * Fluent Bit 2.1 and later send it, `[time, metadata], record`. *ep is the new event, not
 * finished (the caller adds the tag), or NULL for a Fluent Bit group marker, skipped. */
static int read_event(dec *d, mp_reader *r, sl_event **ep)
{
    *ep = NULL;
    mp_reader peek = *r;
    mp_obj h;
    bool with_meta = false;
    /* only an array header can start [time, metadata]: other times are not read twice */
    uint8_t c0 = r->p < r->end ? *r->p : 0;
    bool arr = (c0 & 0xf0) == 0x90 || c0 == 0xdc || c0 == 0xdd;
    if (arr && mp_read(&peek, &h) == MP_OK && h.type == MP_ARRAY) {
        if (h.len != 2)
            return bad(d, r, "entry header is not [time, metadata]");
        r->p = peek.p;
        with_meta = true;
    }
    int64_t ts;
    bool marker;
    int rc = read_time(d, r, &ts, &marker);
    if (rc != SL_OK)
        return rc;
    if (marker) { /* group start/end: its metadata and record describe the group */
        for (int i = with_meta ? 2 : 1; i > 0; i--)
            if (mp_skip(r, d->lim->max_depth, (size_t)(r->end - r->p)) != MP_OK)
                return bad(d, r, "bad group marker");
        d->markers++;
        return SL_OK;
    }
    sl_event *e = new_event(d, ts);
    if (with_meta && (rc = read_metadata(d, r, e)) != SL_OK)
        return rc;
    if ((rc = read_record(d, r, e)) != SL_OK)
        return rc;
    *ep = e;
    return SL_OK;
}

/* [time, record] or [[time, metadata], record] */
static int read_entry(dec *d, mp_reader *r)
{
    mp_obj a;
    if (mp_read(r, &a) != MP_OK || a.type != MP_ARRAY || a.len != 2)
        return bad(d, r, "entry is not [time, record]");
    sl_event *e;
    int rc = read_event(d, r, &e);
    if (rc == SL_OK && e)
        finish_event(d, e);
    return rc;
}

static bool key_is(const mp_obj *k, const char *s, size_t n)
{
    return k->len == n && memcmp(k->p, s, n) == 0;
}

/* The option map. Unknown keys (Fluent Bit's `fluent_signal` beyond logs aside) are
 * ignored, so options a newer client adds do not break the connection. */
static int read_options(dec *d, mp_reader *r, fwd_msg_info *info)
{
    mp_obj m;
    if (mp_read(r, &m) != MP_OK)
        return bad(d, r, "truncated option");
    if (m.type == MP_NIL)
        return SL_OK;
    if (m.type != MP_MAP)
        return bad(d, r, "option is not a map");
    for (uint32_t i = 0; i < m.len; i++) {
        mp_obj k, v;
        if (mp_read(r, &k) != MP_OK || k.type != MP_STR)
            return bad(d, r, "option key is not a string");
        const uint8_t *vs = r->p;
        if (mp_read(r, &v) != MP_OK)
            return bad(d, r, "truncated option value");
        if (v.type == MP_ARRAY || v.type == MP_MAP) {
            mp_reader sk = {vs, r->end};
            if (mp_skip(&sk, d->lim->max_depth, (size_t)(r->end - vs)) != MP_OK)
                return bad(d, r, "bad option value");
            r->p = sk.p;
            if (v.type == MP_MAP && key_is(&k, "metadata", 8))
                d->opt_meta = vs; /* Fluent Bit's Message mode metadata */
            continue;
        }
        if (key_is(&k, "chunk", 5)) {
            if (v.type != MP_STR && v.type != MP_BIN)
                return bad(d, r, "chunk is not a string");
            info->chunk = (const char *)v.p, info->chunk_len = v.len;
        } else if (key_is(&k, "size", 4)) {
            if (v.type != MP_INT || v.i < 0)
                return bad(d, r, "size is not a count");
            info->size = v.i;
        } else if (key_is(&k, "compressed", 10)) {
            if (v.type != MP_STR)
                return bad(d, r, "compressed is not a string");
            if (v.len == 4 && memcmp(v.p, "gzip", 4) == 0)
                info->compressed = true;
            else if (!(v.len == 4 && memcmp(v.p, "text", 4) == 0))
                return bad(d, r, "unknown compression");
        } else if (key_is(&k, "fluent_signal", 13) && v.type == MP_INT) {
            info->signal = v.i; /* 0 logs; 1 metrics and 2 traces (PackedForward) are not */
        }
    }
    return SL_OK;
}

/* Is the array `s` (header read, its items at r) a Message mode [time, metadata] header
 * rather than Forward mode's entries? Entries are arrays; a time never is. */
static bool is_time_header(const mp_obj *s, const mp_reader *r)
{
    if (s->len != 2)
        return false;
    mp_reader peek = *r;
    mp_obj t;
    return mp_read(&peek, &t) == MP_OK &&
           (t.type == MP_INT || t.type == MP_EXT || t.type == MP_FLOAT);
}

static int decode(dec *d, const uint8_t *p, size_t len, fwd_msg_info *info)
{
    mp_reader r = {p, p + len};
    mp_obj a, t;
    if (mp_read(&r, &a) != MP_OK || a.type != MP_ARRAY || a.len < 2 || a.len > 4)
        return bad(d, &r, "message is not an array of 2 to 4 items");
    if (mp_read(&r, &t) != MP_OK || (t.type != MP_STR && t.type != MP_BIN) || t.len == 0)
        return bad(d, &r, "tag is not a non-empty string");
    info->tag = (const char *)t.p, info->tag_len = t.len;
    d->tag = view(&t);
    const uint8_t *second = r.p;
    mp_obj s;
    if (mp_read(&r, &s) != MP_OK)
        return bad(d, &r, "truncated message");
    int rc;
    if (s.type == MP_INT || s.type == MP_EXT || s.type == MP_FLOAT ||
        (s.type == MP_ARRAY && a.len >= 3 && is_time_header(&s, &r))) {
        /* Message mode: [tag, time, record, option?] or [tag, [time, metadata], record,
         * option?]; Fluent Bit may also put the metadata in the option's `metadata`. */
        if (a.len < 3)
            return bad(d, &r, "message mode without a record");
        r.p = second;
        sl_event *e;
        if ((rc = read_event(d, &r, &e)) != SL_OK)
            return rc;
        if (a.len == 4 && (rc = read_options(d, &r, info)) != SL_OK)
            return rc;
        info->signal = 0; /* one log record, whatever the option says (as Fluent Bit) */
        if (e && d->opt_meta) {
            mp_reader mr = {d->opt_meta, r.end};
            if ((rc = read_metadata(d, &mr, e)) != SL_OK)
                return rc;
        }
        if (e)
            finish_event(d, e);
        return SL_OK;
    }
    if (a.len == 4)
        return bad(d, &r, "four items but not message mode");
    if (s.type == MP_ARRAY) {
        /* Forward mode: [tag, [entry, ...], option?]; options after the entries. */
        mp_reader skip = {second, r.end};
        if (mp_skip(&skip, d->lim->max_depth, len) != MP_OK)
            return bad(d, &r, "bad entries");
        mp_reader opt = {skip.p, r.end};
        if (a.len == 3 && (rc = read_options(d, &opt, info)) != SL_OK)
            return rc;
        info->signal = 0; /* entries are log records (Fluent Bit reads it in PackedForward only) */
        reserve_events(d->b, s.len, (size_t)(skip.p - r.p));
        for (uint32_t i = 0; i < s.len; i++)
            if ((rc = read_entry(d, &r)) != SL_OK)
                return rc;
        return SL_OK;
    }
    if (s.type != MP_STR && s.type != MP_BIN)
        return bad(d, &r, "second item is not a time, an array or a packed stream");
    /* PackedForward: entries are a stream of entries, maybe gzipped. */
    if (a.len == 3 && (rc = read_options(d, &r, info)) != SL_OK)
        return rc;
    if (info->signal != 0)
        return SL_OK; /* Fluent Bit's metrics or traces (cmetrics/ctraces), not entries */
    const uint8_t *ep = s.p;
    size_t elen = s.len;
    if (info->compressed) {
        sl_buf *z = &d->scratch->inflated;
        buf_reset(z);
        rc = fwd_gunzip(z, s.p, s.len, d->lim->max_inflated);
        if (rc == SL_ERR_TOOBIG)
            return sl_seterr(d->err, d->errlen, SL_ERR_TOOBIG,
                             "compressed entries inflate beyond %zu bytes", d->lim->max_inflated);
        if (rc != SL_OK)
            return bad(d, &r, "bad gzip stream");
        /* Events point into the entries: they must live in the batch arena. */
        uint8_t *copy = arena_alloc(&d->b->arena, z->len ? z->len : 1);
        memcpy(copy, z->p, z->len);
        ep = copy, elen = z->len;
        d->base = ep;
    }
    /* Fluentd and Fluent Bit put the entry count in `size`: one allocation for all. */
    if (info->size > 0)
        reserve_events(d->b, (uint64_t)info->size, elen);
    mp_reader er = {ep, ep + elen};
    while (er.p < er.end)
        if ((rc = read_entry(d, &er)) != SL_OK)
            return rc;
    return SL_OK;
}

int fwd_decode(const uint8_t *p, size_t len, sl_batch *b, fwd_msg_info *info, fwd_scratch *scratch,
               const fwd_limits *lim, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    info->size = -1;
    /* One copy of the whole message into the arena; every string points into it. */
    uint8_t *copy = arena_alloc(&b->arena, len ? len : 1);
    memcpy(copy, p, len);
    dec d = {.b = b, .scratch = scratch, .lim = lim, .base = copy, .err = err, .errlen = errlen};
    uint32_t n0 = b->n;
    size_t bytes0 = b->bytes;
    int rc = decode(&d, copy, len, info);
    if (rc != SL_OK) {
        b->n = n0; /* the arena keeps the bytes until the batch goes; nothing leaks */
        b->bytes = bytes0;
        return rc;
    }
    info->events = b->n - n0;
    info->markers = d.markers;
    return SL_OK;
}

/* ---- Encoding --------------------------------------------------------------------------- */

void fwd_encode_entry(sl_buf *out, const sl_event *e, sl_str msg_key)
{
    mp_put_array(out, 2);
    mp_put_event_time(out, e->ts_ns);
    uint32_t n = 1;
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++) {
        const sl_field *f = event_field(e, i);
        if (!(f->key.len == 3 && memcmp(f->key.ptr, "tag", 3) == 0))
            n++;
    }
    mp_put_map(out, n);
    mp_put_str(out, msg_key.ptr, msg_key.len);
    mp_put_str(out, e->message.ptr ? e->message.ptr : "", e->message.len);
    sl_arena a; /* nested values parsed; it allocates on first use */
    arena_init(&a, 4096);
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++) {
        const sl_field *f = event_field(e, i);
        if (f->key.len == 3 && memcmp(f->key.ptr, "tag", 3) == 0)
            continue;
        if (f->key.len == msg_key.len && memcmp(f->key.ptr, msg_key.ptr, msg_key.len) == 0) {
            /* a field named as the message: one more '_', so no key comes twice */
            mp_put_str_head(out, f->key.len + 1);
            buf_putc(out, '_');
            buf_append(out, f->key.ptr, f->key.len);
        } else {
            mp_put_str(out, f->key.ptr, f->key.len);
        }
        switch (f->type) {
        case SL_VAL_STR: mp_put_str(out, f->v.s.ptr ? f->v.s.ptr : "", f->v.s.len); break;
        case SL_VAL_JSON: /* a map or array as one: a peer's filters index into it */
            mp_put_json(out, &a, f->v.s.ptr ? f->v.s.ptr : "", f->v.s.len);
            break;
        case SL_VAL_INT: mp_put_int(out, f->v.i); break;
        case SL_VAL_FLOAT: mp_put_double(out, f->v.f); break;
        case SL_VAL_BOOL: mp_put_bool(out, f->v.b); break;
        default: mp_put_nil(out); break;
        }
    }
    arena_free(&a);
}

int fwd_encode_packed(sl_buf *out, const char *tag, size_t taglen, const sl_buf *entries,
                      uint32_t count, const char *chunk, bool gzip)
{
    mp_put_array(out, 3);
    mp_put_str(out, tag, taglen);
    if (gzip) {
        /* bin32 header back-patched once the compressed length is known */
        size_t at = out->len;
        uint8_t hdr[5] = {0xc6, 0, 0, 0, 0};
        buf_append(out, hdr, 5);
        size_t start = out->len;
        if (fwd_gzip(out, entries->p, entries->len) != SL_OK)
            return SL_ERR_NOMEM;
        mp_patch_u32(out, at, (uint32_t)(out->len - start));
    } else {
        mp_put_bin(out, entries->p, entries->len);
    }
    mp_put_map(out, (uint32_t)(1 + (chunk != NULL) + gzip));
    mp_put_str(out, "size", 4);
    mp_put_uint(out, count);
    if (chunk) {
        mp_put_str(out, "chunk", 5);
        mp_put_cstr(out, chunk);
    }
    if (gzip) {
        mp_put_str(out, "compressed", 10);
        mp_put_str(out, "gzip", 4);
    }
    return SL_OK;
}

void fwd_encode_ack(sl_buf *out, const char *chunk, size_t len)
{
    mp_put_map(out, 1);
    mp_put_str(out, "ack", 3);
    mp_put_str(out, chunk, len);
}

void fwd_sha512_hex(char out[129], const void *const *parts, const size_t *lens, size_t n)
{
    unsigned char md[64];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha512(), NULL);
    for (size_t i = 0; i < n; i++)
        EVP_DigestUpdate(c, parts[i], lens[i]);
    EVP_DigestFinal_ex(c, md, &mdlen);
    EVP_MD_CTX_free(c);
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 64; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[128] = '\0';
}

/* ---- Shared-key handshake ----------------------------------------------------------------- */

static bool is_text(const mp_obj *o) { return o->type == MP_STR || o->type == MP_BIN; }

static bool text_eq(const mp_obj *o, const char *s, size_t n)
{
    return is_text(o) && o->len == n && memcmp(o->p, s, n) == 0;
}

void fwd_encode_helo(sl_buf *out, const uint8_t nonce[16], const uint8_t *auth, size_t auth_len)
{
    mp_put_array(out, 2);
    mp_put_cstr(out, "HELO");
    mp_put_map(out, 3);
    mp_put_cstr(out, "nonce");
    mp_put_bin(out, nonce, 16);
    mp_put_cstr(out, "auth");
    mp_put_bin(out, auth, auth_len);
    mp_put_cstr(out, "keepalive");
    mp_put_bool(out, true);
}

int fwd_parse_helo(const uint8_t *p, size_t len, fwd_helo *h)
{
    memset(h, 0, sizeof *h);
    mp_reader r = {p, p + len};
    mp_obj a, o, m, k, v;
    if (mp_read(&r, &a) != MP_OK || a.type != MP_ARRAY || a.len != 2 ||
        mp_read(&r, &o) != MP_OK || !text_eq(&o, "HELO", 4) || mp_read(&r, &m) != MP_OK ||
        m.type != MP_MAP)
        return SL_ERR_CORRUPT;
    for (uint32_t i = 0; i < m.len; i++) {
        if (mp_read(&r, &k) != MP_OK)
            return SL_ERR_CORRUPT;
        const uint8_t *vs = r.p;
        if (mp_read(&r, &v) != MP_OK)
            return SL_ERR_CORRUPT;
        if (v.type == MP_ARRAY || v.type == MP_MAP) {
            mp_reader sk = {vs, r.end};
            if (mp_skip(&sk, 8, len) != MP_OK)
                return SL_ERR_CORRUPT;
            r.p = sk.p;
            continue;
        }
        if (text_eq(&k, "nonce", 5) && is_text(&v))
            h->nonce = v.p, h->nonce_len = v.len;
        else if (text_eq(&k, "auth", 4) && is_text(&v))
            h->auth = v.p, h->auth_len = v.len;
    }
    return h->nonce ? SL_OK : SL_ERR_CORRUPT;
}

void fwd_encode_ping(sl_buf *out, const fwd_helo *h, const char *hostname, const uint8_t *salt,
                     size_t salt_len, const char *key, const char *user, const char *password)
{
    char digest[129], pw[129] = "";
    const void *parts[] = {salt, hostname, h->nonce, key};
    size_t lens[] = {salt_len, strlen(hostname), h->nonce_len, strlen(key)};
    fwd_sha512_hex(digest, parts, lens, 4);
    bool login = h->auth_len > 0;
    if (login) {
        const void *up[] = {h->auth, user, password};
        size_t ul[] = {h->auth_len, strlen(user), strlen(password)};
        fwd_sha512_hex(pw, up, ul, 3);
    }
    mp_put_array(out, 6);
    mp_put_cstr(out, "PING");
    mp_put_cstr(out, hostname);
    mp_put_str(out, (const char *)salt, salt_len); /* str, never bin: Fluent Bit insists */
    mp_put_str(out, digest, 128);
    mp_put_cstr(out, login ? user : "");
    mp_put_cstr(out, pw);
}

int fwd_check_ping(const uint8_t *p, size_t len, const uint8_t *nonce, size_t nonce_len,
                   const uint8_t *auth, size_t auth_len, const char *key,
                   char *const *names, char *const *passwords, size_t nusers, fwd_ping *ping)
{
    mp_reader r = {p, p + len};
    mp_obj a, o[6];
    if (mp_read(&r, &a) != MP_OK || a.type != MP_ARRAY || a.len != 6)
        return FWD_PING_MALFORMED;
    for (int i = 0; i < 6; i++)
        if (mp_read(&r, &o[i]) != MP_OK || !is_text(&o[i]))
            return FWD_PING_MALFORMED;
    if (!text_eq(&o[0], "PING", 4))
        return FWD_PING_MALFORMED;
    *ping = (fwd_ping){o[1].p, o[2].p, o[4].p, o[1].len, o[2].len, o[4].len};
    char hex[129];
    const void *parts[] = {o[2].p, o[1].p, nonce, key};
    size_t lens[] = {o[2].len, o[1].len, nonce_len, strlen(key)};
    fwd_sha512_hex(hex, parts, lens, 4);
    if (!text_eq(&o[3], hex, 128))
        return FWD_PING_KEY;
    if (nusers == 0)
        return FWD_PING_OK;
    for (size_t i = 0; i < nusers; i++) {
        if (!text_eq(&o[4], names[i], strlen(names[i])))
            continue;
        const void *up[] = {auth, o[4].p, passwords[i]};
        size_t ul[] = {auth_len, o[4].len, strlen(passwords[i])};
        fwd_sha512_hex(hex, up, ul, 3);
        if (text_eq(&o[5], hex, 128))
            return FWD_PING_OK;
    }
    return FWD_PING_USER;
}

void fwd_encode_pong(sl_buf *out, bool ok, const char *reason, const char *hostname,
                     const fwd_ping *ping, const uint8_t *nonce, size_t nonce_len,
                     const char *key)
{
    mp_put_array(out, 5);
    mp_put_cstr(out, "PONG");
    mp_put_bool(out, ok);
    if (!ok) {
        mp_put_cstr(out, reason);
        mp_put_cstr(out, "");
        mp_put_cstr(out, "");
        return;
    }
    const void *parts[] = {ping->salt, hostname, nonce, key};
    size_t lens[] = {ping->salt_len, strlen(hostname), nonce_len, strlen(key)};
    char hex[129];
    fwd_sha512_hex(hex, parts, lens, 4);
    mp_put_cstr(out, "");
    mp_put_cstr(out, hostname);
    mp_put_str(out, hex, 128);
}

int fwd_check_pong(const uint8_t *p, size_t len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *nonce, size_t nonce_len, const char *key, char *err,
                   size_t errlen)
{
    mp_reader r = {p, p + len};
    mp_obj a, o, ok, reason, host, dig;
    if (mp_read(&r, &a) != MP_OK || a.type != MP_ARRAY || a.len != 5 || mp_read(&r, &o) != MP_OK ||
        !text_eq(&o, "PONG", 4) || mp_read(&r, &ok) != MP_OK || ok.type != MP_BOOL ||
        mp_read(&r, &reason) != MP_OK || mp_read(&r, &host) != MP_OK ||
        mp_read(&r, &dig) != MP_OK)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "malformed PONG from the server");
    if (!ok.b)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "handshake refused: %.*s",
                         is_text(&reason) ? (int)SL_MIN(reason.len, 200u) : 0,
                         is_text(&reason) ? (const char *)reason.p : "");
    if (!is_text(&host))
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "malformed PONG from the server");
    const void *parts[] = {salt, host.p, nonce, key};
    size_t lens[] = {salt_len, host.len, nonce_len, strlen(key)};
    char hex[129];
    fwd_sha512_hex(hex, parts, lens, 4);
    if (!text_eq(&dig, hex, 128))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "server digest mismatch (wrong shared key on the server?)");
    return SL_OK;
}

int fwd_gzip(sl_buf *out, const void *p, size_t n)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SL_ERR_NOMEM;
    buf_reserve(out, deflateBound(&z, n));
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out->p + out->len;
    z.avail_out = (uInt)(out->cap - out->len);
    int rc = deflate(&z, Z_FINISH);
    out->len += (size_t)(z.next_out - ((Bytef *)out->p + out->len));
    deflateEnd(&z);
    return rc == Z_STREAM_END ? SL_OK : SL_ERR_NOMEM;
}

int fwd_gunzip(sl_buf *out, const void *p, size_t n, size_t max)
{
    return fwd_inflate(out, p, n, max, 16 + MAX_WBITS);
}

int fwd_inflate(sl_buf *out, const void *p, size_t n, size_t max, int window_bits)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, window_bits) != Z_OK)
        return SL_ERR_NOMEM;
    z.next_in = (Bytef *)(uintptr_t)p;
    z.avail_in = (uInt)n;
    int rc = SL_OK;
    for (;;) {
        if (out->cap - out->len < 65536)
            buf_reserve(out, SL_MAX(65536, n * 2));
        z.next_out = (Bytef *)out->p + out->len;
        z.avail_out = (uInt)SL_MIN(out->cap - out->len, (size_t)UINT32_MAX);
        Bytef *before = z.next_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        out->len += (size_t)(z.next_out - before);
        if (out->len > max) {
            rc = SL_ERR_TOOBIG;
            break;
        }
        if (zr == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            inflateReset(&z); /* another gzip member (or stream) follows */
            continue;
        }
        if (zr == Z_BUF_ERROR && z.avail_in == 0) {
            rc = SL_ERR_CORRUPT; /* truncated stream */
            break;
        }
        if (zr != Z_OK) {
            rc = SL_ERR_CORRUPT;
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

/* The size of the message at b from its first n bytes, for the server's framed reads
 * (server.c note 7): exact once it is all there; else, for PackedForward, a lower bound
 * ending just after the entries (the small option map follows); else 0. Sizes beyond
 * max_message_bytes say 0, so the plain path rejects them before they are read. */
size_t fwd_frame_size(const uint8_t *b, size_t n, uint64_t max_message_bytes, bool *exact)
{
    mp_reader r = {b, b + n};
    *exact = false;
    int rc = mp_skip(&r, 32, max_message_bytes);
    if (rc == MP_OK) {
        *exact = true;
        return (size_t)(r.p - b);
    }
    if (rc != MP_NEED_MORE)
        return 0;
    r.p = b;
    mp_obj a, t;
    if (mp_read(&r, &a) != MP_OK || a.type != MP_ARRAY || a.len < 2 || a.len > 3 ||
        mp_read(&r, &t) != MP_OK || r.p >= r.end)
        return 0;
    static const uint8_t hdr_len[] = {[0xc4] = 2, [0xc5] = 3, [0xc6] = 5,
                                      [0xd9] = 2, [0xda] = 3, [0xdb] = 5};
    uint8_t c = r.p[0];
    size_t h = (c & 0xe0) == 0xa0 ? 1 : c < sizeof hdr_len ? hdr_len[c] : 0, len = 0;
    if (!h || (size_t)(r.end - r.p) < h)
        return 0;
    if (h == 1)
        len = c & 0x1f;
    for (size_t i = 1; i < h; i++)
        len = len << 8 | r.p[i];
    size_t lb = (size_t)(r.p - b) + h + len + (a.len - 2); /* an option map is >= 1 byte */
    return lb > max_message_bytes ? 0 : lb;
}
