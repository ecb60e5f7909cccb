/* codec.c - binary encoding of batches for the disk buffer.
 * The decoder bounds-checks every read and sizes allocations from the bytes left. */
#include "codec.h"

#include <string.h>

#include "common.h"

#define STR_ABSENT 0xFFFFFFFFu
/* Smallest encodings, used to reject counts the input cannot possibly hold. */
#define MIN_EVENT_BYTES (8 + 8 + 8 + 4 + 4 + 4)
#define MIN_FIELD_BYTES (4 + 1)

static inline void put_u8(char *p, uint8_t v) { p[0] = (char)v; }

static inline void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static inline void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)(v >> (8 * i));
}

static inline uint32_t get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | (uint32_t)u[1] << 8 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 24;
}

static inline uint64_t get_u64(const char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static size_t str_size(sl_str s) { return 4 + (s.ptr ? s.len : 0); }

static size_t encoded_size(const sl_batch *b)
{
    size_t n = 5;
    for (uint32_t i = 0; i < b->n; i++) {
        const sl_event *e = &b->events[i];
        n += 24 + str_size(e->message) + str_size(e->id_str) + 4;
        for (uint32_t j = 0, nf = event_nfields(e); j < nf; j++) {
            const sl_field *f = event_field(e, j);
            n += str_size(f->key) + 1;
            switch (f->type) {
            case SL_VAL_STR:
            case SL_VAL_JSON: n += str_size(f->v.s); break;
            case SL_VAL_INT:
            case SL_VAL_FLOAT: n += 8; break;
            case SL_VAL_BOOL: n += 1; break;
            default: break;
            }
        }
    }
    return n;
}

static char *put_str(char *p, sl_str s)
{
    if (!s.ptr) {
        put_u32(p, STR_ABSENT);
        return p + 4;
    }
    put_u32(p, s.len);
    memcpy(p + 4, s.ptr, s.len);
    return p + 4 + s.len;
}

void codec_encode_batch(sl_buf *out, const sl_batch *b)
{
    size_t need = encoded_size(b);
    buf_reserve(out, need);
    char *p = out->p + out->len;
    put_u8(p, CODEC_VERSION);
    put_u32(p + 1, b->n);
    p += 5;
    for (uint32_t i = 0; i < b->n; i++) {
        const sl_event *e = &b->events[i];
        put_u64(p, (uint64_t)e->ts_ns);
        put_u64(p + 8, e->id_stream);
        put_u64(p + 16, e->id_seq);
        p = put_str(p + 24, e->message);
        p = put_str(p, e->id_str);
        uint32_t nf = event_nfields(e); /* shared fields are written as the event's own */
        put_u32(p, nf);
        p += 4;
        for (uint32_t j = 0; j < nf; j++) {
            const sl_field *f = event_field(e, j);
            p = put_str(p, f->key);
            /* Unknown types are written as NULL so the record stays decodable. */
            uint8_t t = f->type <= SL_VAL_JSON ? f->type : SL_VAL_NULL;
            put_u8(p++, t);
            switch (t) {
            case SL_VAL_STR:
            case SL_VAL_JSON: p = put_str(p, f->v.s); break;
            case SL_VAL_INT: put_u64(p, (uint64_t)f->v.i); p += 8; break;
            case SL_VAL_FLOAT: {
                uint64_t bits;
                memcpy(&bits, &f->v.f, 8);
                put_u64(p, bits);
                p += 8;
                break;
            }
            case SL_VAL_BOOL: put_u8(p++, f->v.b ? 1 : 0); break;
            default: break;
            }
        }
    }
    out->len += need;
}

int64_t codec_peek_count(const char *p, size_t n)
{
    if (n < 5 || (uint8_t)p[0] != CODEC_VERSION)
        return -1;
    return get_u32(p + 1);
}

/* Cursor over untrusted input: every get fails instead of reading past `end`. */
typedef struct rd {
    const char *p, *end;
    sl_batch *b;
} rd;

static bool rd_u8(rd *r, uint8_t *v)
{
    if (r->end - r->p < 1)
        return false;
    *v = (uint8_t)*r->p++;
    return true;
}

static bool rd_u32(rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return false;
    *v = get_u32(r->p);
    r->p += 4;
    return true;
}

static bool rd_u64(rd *r, uint64_t *v)
{
    if (r->end - r->p < 8)
        return false;
    *v = get_u64(r->p);
    r->p += 8;
    return true;
}

static bool rd_str(rd *r, sl_str *s)
{
    uint32_t len;
    if (!rd_u32(r, &len))
        return false;
    if (len == STR_ABSENT) {
        *s = (sl_str){NULL, 0};
        return true;
    }
    if ((size_t)(r->end - r->p) < len)
        return false;
    s->ptr = arena_strndup(&r->b->arena, r->p, len);
    s->len = len;
    r->p += len;
    return true;
}

static bool rd_event(rd *r, sl_event *e)
{
    uint64_t ts;
    uint32_t nf;
    if (!rd_u64(r, &ts) || !rd_u64(r, &e->id_stream) || !rd_u64(r, &e->id_seq) ||
        !rd_str(r, &e->message) || !rd_str(r, &e->id_str) || !rd_u32(r, &nf))
        return false;
    e->ts_ns = (int64_t)ts;
    if (nf > (size_t)(r->end - r->p) / MIN_FIELD_BYTES)
        return false;
    e->fields = nf ? arena_alloc(&r->b->arena, sizeof(sl_field) * nf) : NULL;
    e->nfields = e->cap_fields = nf;
    for (uint32_t j = 0; j < nf; j++) {
        sl_field *f = &e->fields[j];
        memset(f, 0, sizeof *f);
        uint8_t t;
        if (!rd_str(r, &f->key) || !rd_u8(r, &t))
            return false;
        f->type = t;
        switch (t) {
        case SL_VAL_STR:
        case SL_VAL_JSON:
            if (!rd_str(r, &f->v.s))
                return false;
            break;
        case SL_VAL_INT: {
            uint64_t v;
            if (!rd_u64(r, &v))
                return false;
            f->v.i = (int64_t)v;
            break;
        }
        case SL_VAL_FLOAT: {
            uint64_t v;
            if (!rd_u64(r, &v))
                return false;
            memcpy(&f->v.f, &v, 8);
            break;
        }
        case SL_VAL_BOOL: {
            uint8_t v;
            if (!rd_u8(r, &v) || v > 1)
                return false;
            f->v.b = v;
            break;
        }
        case SL_VAL_NULL: break;
        default: return false;
        }
    }
    return true;
}

int codec_decode_batch(const char *p, size_t n, sl_batch **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n < 5)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "batch encoding too short (%zu bytes)", n);
    if ((uint8_t)p[0] != CODEC_VERSION)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "unknown batch encoding version %u",
                         (unsigned)(uint8_t)p[0]);
    uint32_t count = get_u32(p + 1);
    if (count > (n - 5) / MIN_EVENT_BYTES)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "event count %u exceeds %zu bytes", count,
                         n);
    sl_batch *b = batch_new(count ? count : 1);
    rd r = {p + 5, p + n, b};
    for (uint32_t i = 0; i < count; i++) {
        sl_event *e = batch_add(b);
        if (!rd_event(&r, e)) {
            batch_release(b);
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "malformed event %u of %u", i, count);
        }
        b->bytes += event_size(e);
    }
    if (r.p != r.end) {
        batch_release(b);
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "%zu trailing bytes after %u events",
                         (size_t)(r.end - r.p), count);
    }
    *out = b;
    return SL_OK;
}
