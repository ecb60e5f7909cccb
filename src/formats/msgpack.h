/* msgpack.h - a small bounded MessagePack reader and writer for the Forward protocol.
 * The reader never allocates and never reads past `end`; the writer appends to an sl_buf. */
#ifndef SL_MSGPACK_H
#define SL_MSGPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/arena.h"
#include "../core/buf.h"

typedef enum mp_type {
    MP_NIL = 0,
    MP_BOOL,
    MP_INT,   /* signed, or unsigned that fits in int64 */
    MP_UINT,  /* unsigned above INT64_MAX */
    MP_FLOAT,
    MP_STR,
    MP_BIN,
    MP_ARRAY,
    MP_MAP,
    MP_EXT,
} mp_type;

/* One decoded header. For STR/BIN/EXT `p`/`len` point into the input (borrowed);
 * for ARRAY/MAP `len` is the element (pair) count and the elements follow. */
typedef struct mp_obj {
    mp_type type;
    int8_t ext_type;
    bool b;
    int64_t i;
    uint64_t u;
    double f;
    const uint8_t *p;
    uint32_t len;
} mp_obj;

/* A cursor over [p, end). Every read checks the bounds. */
typedef struct mp_reader {
    const uint8_t *p, *end;
} mp_reader;

enum { MP_OK = 0, MP_NEED_MORE = 1, MP_BAD = -1, MP_TOO_BIG = -2, MP_TOO_DEEP = -3 };

/* Reads one header; advances past it (and past the payload for STR/BIN/EXT).
 * Returns MP_OK, MP_NEED_MORE (input ends inside it) or MP_BAD (0xc1). */
int mp_read_any(mp_reader *r, mp_obj *o);

/* mp_read_any with the most common headers of a Forward record (fixmap, fixarray, fixstr,
 * str8) read inline; the same result for every input. */
static inline int mp_read(mp_reader *r, mp_obj *o)
{
    const uint8_t *p = r->p;
    size_t avail = (size_t)(r->end - p);
    if (avail >= 2) {
        uint8_t c = p[0];
        size_t n;
        if ((c & 0xe0) == 0x80) { /* fixmap 0x80-0x8f, fixarray 0x90-0x9f */
            o->type = c < 0x90 ? MP_MAP : MP_ARRAY;
            o->len = c & 0x0f;
            o->p = NULL;
            r->p = p + 1;
            return MP_OK;
        }
        if ((c & 0xe0) == 0xa0 && (n = c & 0x1f) < avail) { /* fixstr */
            o->type = MP_STR;
            o->p = p + 1;
            o->len = (uint32_t)n;
            r->p = p + 1 + n;
            return MP_OK;
        }
        if (c == 0xd9 && (n = p[1]) <= avail - 2) { /* str8 */
            o->type = MP_STR;
            o->p = p + 2;
            o->len = (uint32_t)n;
            r->p = p + 2 + n;
            return MP_OK;
        }
    }
    return mp_read_any(r, o);
}
/* Skips one whole value, nested at most `max_depth` deep (deeper: MP_TOO_DEEP). A length
 * claim that would make the value larger than `limit` bytes returns MP_TOO_BIG before
 * waiting for the bytes. Returns MP_OK, MP_NEED_MORE, MP_BAD, MP_TOO_BIG or MP_TOO_DEEP. */
int mp_skip(mp_reader *r, int max_depth, size_t limit);

/* The text of a map key that is a scalar but no string (an integer, true, false, nil), in
 * buf (32 bytes at least): its length, or 0 for any other type. Peers accept such keys
 * (Fluentd, Fluent Bit), so a record with one is read, the key as this text. */
size_t mp_key_text(const mp_obj *k, char *buf, size_t cap);

/* Appends the value at r as JSON text (maps, arrays, scalars; bin as a string; ext as
 * null), advancing r. Returns MP_OK or an error as mp_skip. */
int mp_to_json(mp_reader *r, sl_buf *out, int max_depth);

/* Writer. */
void mp_put_nil(sl_buf *b);
void mp_put_bool(sl_buf *b, bool v);
void mp_put_int(sl_buf *b, int64_t v);
void mp_put_uint(sl_buf *b, uint64_t v);
void mp_put_double(sl_buf *b, double v);
void mp_put_str(sl_buf *b, const char *s, size_t len);
/* The header of a str of len bytes, which the caller appends (in pieces). */
void mp_put_str_head(sl_buf *b, size_t len);
void mp_put_bin(sl_buf *b, const void *s, size_t len);
void mp_put_array(sl_buf *b, uint32_t n);
void mp_put_map(sl_buf *b, uint32_t n);
/* Forward's EventTime: ext type 0, seconds and nanoseconds as big-endian uint32; a time
 * before the epoch is written as the epoch, one after 2106-02-07 06:28:13 as that second
 * (the two seconds after it are Fluent Bit's group markers). */
void mp_put_event_time(sl_buf *b, int64_t ts_ns);
/* Writes the JSON text s[0..n) as the msgpack value it stands for (objects as maps, arrays
 * as arrays, integers as integers), parsed in `a`; text that is not JSON as a str. */
void mp_put_json(sl_buf *b, sl_arena *a, const char *s, size_t n);
/* Writes a 32-bit array/bin/str header of a fixed size at `at` (for back-patching). */
void mp_patch_u32(sl_buf *b, size_t at, uint32_t v);

static inline void mp_put_cstr(sl_buf *b, const char *s) { mp_put_str(b, s, strlen(s)); }

#endif
