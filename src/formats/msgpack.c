/* msgpack.c - bounded MessagePack reader/writer (the subset the Forward protocol and the
 * HTTP source need: every type, no allocation, every length checked against the input). */
#include "msgpack.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rd64(const uint8_t *p) { return ((uint64_t)rd32(p) << 32) | rd32(p + 4); }

/* Reads n bytes of payload into o->p, o->len. */
static int take(mp_reader *r, mp_obj *o, size_t n)
{
    if ((size_t)(r->end - r->p) < n)
        return MP_NEED_MORE;
    o->p = r->p;
    o->len = (uint32_t)n;
    r->p += n;
    return MP_OK;
}

int mp_read_any(mp_reader *r, mp_obj *o)
{
    const uint8_t *p = r->p;
    size_t avail = (size_t)(r->end - p);
    if (avail < 1)
        return MP_NEED_MORE;
    uint8_t c = p[0];
    o->len = 0;
    o->p = NULL;
    if (c <= 0x7f) {
        o->type = MP_INT, o->i = c, r->p++;
        return MP_OK;
    }
    if (c >= 0xe0) {
        o->type = MP_INT, o->i = (int8_t)c, r->p++;
        return MP_OK;
    }
    if ((c & 0xf0) == 0x80) {
        o->type = MP_MAP, o->len = c & 0x0f, r->p++;
        return MP_OK;
    }
    if ((c & 0xf0) == 0x90) {
        o->type = MP_ARRAY, o->len = c & 0x0f, r->p++;
        return MP_OK;
    }
    if ((c & 0xe0) == 0xa0) {
        o->type = MP_STR;
        r->p++;
        int rc = take(r, o, c & 0x1f);
        if (rc != MP_OK)
            r->p = p;
        return rc;
    }
    /* Header sizes by first byte, for 0xc0..0xdf. */
    static const uint8_t hdr[32] = {1, 1, 1, 1, 2, 3, 5, 3, 4, 6, 5, 9, 2, 3, 5, 9,
                                    2, 3, 5, 9, 2, 2, 2, 2, 2, 2, 3, 5, 3, 5, 3, 5};
    size_t h = hdr[c - 0xc0];
    if (avail < h)
        return MP_NEED_MORE;
    size_t payload = 0;
    switch (c) {
    case 0xc0: o->type = MP_NIL; break;
    case 0xc1: return MP_BAD;
    case 0xc2: o->type = MP_BOOL, o->b = false; break;
    case 0xc3: o->type = MP_BOOL, o->b = true; break;
    case 0xc4: o->type = MP_BIN, payload = p[1]; break;
    case 0xc5: o->type = MP_BIN, payload = rd16(p + 1); break;
    case 0xc6: o->type = MP_BIN, payload = rd32(p + 1); break;
    case 0xc7: o->type = MP_EXT, payload = p[1], o->ext_type = (int8_t)p[2]; break;
    case 0xc8: o->type = MP_EXT, payload = rd16(p + 1), o->ext_type = (int8_t)p[3]; break;
    case 0xc9: o->type = MP_EXT, payload = rd32(p + 1), o->ext_type = (int8_t)p[5]; break;
    case 0xca: {
        uint32_t v = rd32(p + 1);
        float f;
        memcpy(&f, &v, 4);
        o->type = MP_FLOAT, o->f = f;
        break;
    }
    case 0xcb: {
        uint64_t v = rd64(p + 1);
        memcpy(&o->f, &v, 8);
        o->type = MP_FLOAT;
        break;
    }
    case 0xcc: o->type = MP_INT, o->i = p[1]; break;
    case 0xcd: o->type = MP_INT, o->i = rd16(p + 1); break;
    case 0xce: o->type = MP_INT, o->i = rd32(p + 1); break;
    case 0xcf: {
        uint64_t v = rd64(p + 1);
        if (v > INT64_MAX)
            o->type = MP_UINT, o->u = v;
        else
            o->type = MP_INT, o->i = (int64_t)v;
        break;
    }
    case 0xd0: o->type = MP_INT, o->i = (int8_t)p[1]; break;
    case 0xd1: o->type = MP_INT, o->i = (int16_t)rd16(p + 1); break;
    case 0xd2: o->type = MP_INT, o->i = (int32_t)rd32(p + 1); break;
    case 0xd3: o->type = MP_INT, o->i = (int64_t)rd64(p + 1); break;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        o->type = MP_EXT, o->ext_type = (int8_t)p[1], payload = (size_t)1 << (c - 0xd4);
        break;
    case 0xd9: o->type = MP_STR, payload = p[1]; break;
    case 0xda: o->type = MP_STR, payload = rd16(p + 1); break;
    case 0xdb: o->type = MP_STR, payload = rd32(p + 1); break;
    case 0xdc: o->type = MP_ARRAY, o->len = rd16(p + 1); break;
    case 0xdd: o->type = MP_ARRAY, o->len = rd32(p + 1); break;
    case 0xde: o->type = MP_MAP, o->len = rd16(p + 1); break;
    case 0xdf: o->type = MP_MAP, o->len = rd32(p + 1); break;
    }
    r->p += h;
    if (o->type == MP_STR || o->type == MP_BIN || o->type == MP_EXT) {
        int rc = take(r, o, payload);
        if (rc != MP_OK)
            r->p = p;
        return rc;
    }
    return MP_OK;
}

int mp_skip(mp_reader *r, int max_depth, size_t limit)
{
    /* Iterative: `pending` counts values still to skip; containers add their children.
     * Depth is bounded by counting open containers on a small stack. */
    const uint8_t *start = r->p;
    uint64_t stack[64];
    int depth = 0;
    if (max_depth > 64)
        max_depth = 64;
    uint64_t pending = 1;
    while (pending || depth) {
        if (pending == 0) {
            pending = stack[--depth];
            continue;
        }
        pending--;
        mp_obj o;
        const uint8_t *before = r->p;
        int rc = mp_read(r, &o);
        if (rc == MP_NEED_MORE) {
            /* A string or bin whose claimed size alone exceeds the limit. */
            if ((size_t)(r->end - start) >= limit)
                return MP_TOO_BIG;
            if (r->end - before >= 5) {
                uint8_t c = *before;
                uint64_t claim = 0;
                if (c == 0xc6 || c == 0xdb || c == 0xc9)
                    claim = rd32(before + 1);
                if (claim && (size_t)(before - start) + claim > limit)
                    return MP_TOO_BIG;
            }
            return MP_NEED_MORE;
        }
        if (rc != MP_OK)
            return rc;
        if ((size_t)(r->p - start) > limit)
            return MP_TOO_BIG;
        if (o.type == MP_ARRAY || o.type == MP_MAP) {
            uint64_t n = o.type == MP_MAP ? 2ull * o.len : o.len;
            /* Every element takes at least one byte. */
            if (n > limit)
                return MP_TOO_BIG;
            if (n == 0)
                continue;
            if (depth >= max_depth)
                return MP_TOO_DEEP;
            stack[depth++] = pending;
            pending = n;
        }
    }
    return MP_OK;
}

size_t mp_key_text(const mp_obj *k, char *buf, size_t cap)
{
    int n;
    switch (k->type) {
    case MP_INT: n = snprintf(buf, cap, "%" PRId64, k->i); break;
    case MP_UINT: n = snprintf(buf, cap, "%" PRIu64, k->u); break;
    case MP_BOOL: n = snprintf(buf, cap, "%s", k->b ? "true" : "false"); break;
    case MP_NIL: n = snprintf(buf, cap, "null"); break;
    default: return 0;
    }
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int mp_to_json(mp_reader *r, sl_buf *out, int max_depth)
{
    mp_obj o;
    int rc = mp_read(r, &o);
    if (rc != MP_OK)
        return rc;
    char num[40];
    switch (o.type) {
    case MP_NIL: buf_append(out, "null", 4); break;
    case MP_BOOL: buf_puts(out, o.b ? "true" : "false"); break;
    case MP_INT: buf_append(out, num, (size_t)snprintf(num, sizeof num, "%" PRId64, o.i)); break;
    case MP_UINT: buf_append(out, num, (size_t)snprintf(num, sizeof num, "%" PRIu64, o.u)); break;
    case MP_FLOAT:
        if (isfinite(o.f))
            buf_append(out, num, (size_t)snprintf(num, sizeof num, "%.17g", o.f));
        else
            buf_append(out, "null", 4);
        break;
    case MP_STR:
    case MP_BIN:
        buf_putc(out, '"');
        json_escape(out, (const char *)o.p, o.len);
        buf_putc(out, '"');
        break;
    case MP_EXT: buf_append(out, "null", 4); break;
    case MP_ARRAY:
    case MP_MAP: {
        if (max_depth <= 0)
            return MP_TOO_DEEP;
        bool map = o.type == MP_MAP;
        buf_putc(out, map ? '{' : '[');
        for (uint32_t i = 0; i < o.len; i++) {
            if (i)
                buf_putc(out, ',');
            if (map) {
                mp_obj k;
                size_t kl;
                if ((rc = mp_read(r, &k)) != MP_OK)
                    return rc;
                if (k.type == MP_STR || k.type == MP_BIN) {
                    buf_putc(out, '"');
                    json_escape(out, (const char *)k.p, k.len);
                    buf_putc(out, '"');
                } else if ((kl = mp_key_text(&k, num, sizeof num)) > 0) {
                    buf_putc(out, '"'); /* a scalar key: its text, quoted */
                    buf_append(out, num, kl);
                    buf_putc(out, '"');
                } else {
                    /* A container (or float/ext) as a key has no JSON form; quoting its
                     * text would also grow exponentially with nesting. */
                    return MP_BAD;
                }
                buf_putc(out, ':');
            }
            if ((rc = mp_to_json(r, out, max_depth - 1)) != MP_OK)
                return rc;
        }
        buf_putc(out, map ? '}' : ']');
        break;
    }
    }
    return MP_OK;
}

/* ---- Writer ---------------------------------------------------------------------------- */

static inline void put8(sl_buf *b, uint8_t c) { buf_putc(b, (char)c); }
static void put16(sl_buf *b, uint8_t tag, uint16_t v)
{
    uint8_t x[3] = {tag, (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 3);
}
static void put32(sl_buf *b, uint8_t tag, uint32_t v)
{
    uint8_t x[5] = {tag, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    buf_append(b, x, 5);
}
static void put64(sl_buf *b, uint8_t tag, uint64_t v)
{
    uint8_t x[9];
    x[0] = tag;
    for (int i = 0; i < 8; i++)
        x[1 + i] = (uint8_t)(v >> (56 - 8 * i));
    buf_append(b, x, 9);
}

void mp_put_nil(sl_buf *b) { put8(b, 0xc0); }
void mp_put_bool(sl_buf *b, bool v) { put8(b, v ? 0xc3 : 0xc2); }

void mp_put_uint(sl_buf *b, uint64_t v)
{
    if (v <= 0x7f)
        put8(b, (uint8_t)v);
    else if (v <= 0xff) {
        uint8_t x[2] = {0xcc, (uint8_t)v};
        buf_append(b, x, 2);
    } else if (v <= 0xffff)
        put16(b, 0xcd, (uint16_t)v);
    else if (v <= 0xffffffffu)
        put32(b, 0xce, (uint32_t)v);
    else
        put64(b, 0xcf, v);
}

void mp_put_int(sl_buf *b, int64_t v)
{
    if (v >= 0) {
        mp_put_uint(b, (uint64_t)v);
    } else if (v >= -32) {
        put8(b, (uint8_t)(int8_t)v);
    } else if (v >= INT8_MIN) {
        uint8_t x[2] = {0xd0, (uint8_t)(int8_t)v};
        buf_append(b, x, 2);
    } else if (v >= INT16_MIN) {
        put16(b, 0xd1, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        put32(b, 0xd2, (uint32_t)(int32_t)v);
    } else {
        put64(b, 0xd3, (uint64_t)v);
    }
}

void mp_put_double(sl_buf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    put64(b, 0xcb, u);
}

void mp_put_str(sl_buf *b, const char *s, size_t len)
{
    mp_put_str_head(b, len);
    buf_append(b, s, len);
}

void mp_put_str_head(sl_buf *b, size_t len)
{
    if (len < 32)
        put8(b, (uint8_t)(0xa0 | len));
    else if (len <= 0xff) {
        uint8_t x[2] = {0xd9, (uint8_t)len};
        buf_append(b, x, 2);
    } else if (len <= 0xffff)
        put16(b, 0xda, (uint16_t)len);
    else
        put32(b, 0xdb, (uint32_t)len);
}

void mp_put_bin(sl_buf *b, const void *s, size_t len)
{
    if (len <= 0xff) {
        uint8_t x[2] = {0xc4, (uint8_t)len};
        buf_append(b, x, 2);
    } else if (len <= 0xffff)
        put16(b, 0xc5, (uint16_t)len);
    else
        put32(b, 0xc6, (uint32_t)len);
    buf_append(b, s, len);
}

void mp_put_array(sl_buf *b, uint32_t n)
{
    if (n < 16)
        put8(b, (uint8_t)(0x90 | n));
    else if (n <= 0xffff)
        put16(b, 0xdc, (uint16_t)n);
    else
        put32(b, 0xdd, n);
}

void mp_put_map(sl_buf *b, uint32_t n)
{
    if (n < 16)
        put8(b, (uint8_t)(0x80 | n));
    else if (n <= 0xffff)
        put16(b, 0xde, (uint16_t)n);
    else
        put32(b, 0xdf, n);
}

static void put_json_value(sl_buf *b, const json_value *v)
{
    int64_t i;
    switch (v->type) {
    case JSON_NULL: mp_put_nil(b); break;
    case JSON_BOOL: mp_put_bool(b, v->b); break;
    case JSON_NUM:
        if (json_number_is_int(v, &i))
            mp_put_int(b, i);
        else if (isfinite(v->num))
            mp_put_double(b, v->num);
        else
            mp_put_nil(b); /* 1e999 */
        break;
    case JSON_STR: mp_put_str(b, v->str, v->len); break;
    case JSON_ARR:
        mp_put_array(b, (uint32_t)v->n);
        for (size_t k = 0; k < v->n; k++)
            put_json_value(b, v->items[k]);
        break;
    case JSON_OBJ:
        mp_put_map(b, (uint32_t)v->n);
        for (size_t k = 0; k < v->n; k++) {
            mp_put_cstr(b, v->keys[k]);
            put_json_value(b, v->items[k]);
        }
        break;
    }
}

void mp_put_json(sl_buf *b, sl_arena *a, const char *s, size_t n)
{
    char err[8];
    /* json_parse bounds the nesting, so the recursion is bounded too */
    const json_value *v = json_parse(a, s, n, err, sizeof err);
    if (v)
        put_json_value(b, v);
    else
        mp_put_str(b, s, n);
}

void mp_put_event_time(sl_buf *b, int64_t ts_ns)
{
    /* The seconds are an unsigned 32-bit count whose last two values, as -1 and -2, are Fluent
     * Bit's group markers: a time outside [0, 2^32 - 2 s) would wrap or read back as a marker
     * and the event would be skipped. It goes out as the nearest time that fits. */
    const int64_t last = (int64_t)0xfffffffd * 1000000000 + 999999999;
    if (ts_ns < 0)
        ts_ns = 0;
    if (ts_ns > last)
        ts_ns = last;
    int64_t sec = ts_ns / 1000000000, nsec = ts_ns % 1000000000;
    uint8_t x[10] = {0xd7, 0x00};
    uint32_t s32 = (uint32_t)sec, n32 = (uint32_t)nsec;
    for (int i = 0; i < 4; i++) {
        x[2 + i] = (uint8_t)(s32 >> (24 - 8 * i));
        x[6 + i] = (uint8_t)(n32 >> (24 - 8 * i));
    }
    buf_append(b, x, 10);
}

void mp_patch_u32(sl_buf *b, size_t at, uint32_t v)
{
    uint8_t *p = (uint8_t *)b->p + at + 1;
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
