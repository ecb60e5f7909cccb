/* event.c - batch lifetime (reference counting, ack release) and field helpers.
 * The hot path allocates only from the batch arena and grows arrays by doubling. */
#include "event.h"

#include <stdlib.h>
#include <string.h>

#include "acks.h"
#include "common.h"

sl_batch *batch_new(uint32_t cap_hint)
{
    sl_batch *b = sl_xcalloc(1, sizeof *b);
    arena_init(&b->arena, 64 * 1024);
    b->cap = cap_hint ? cap_hint : 256;
    b->events = sl_xmalloc(sizeof(sl_event) * b->cap);
    atomic_init(&b->refs, 1);
    return b;
}

sl_event *batch_add(sl_batch *b)
{
    if (SL_UNLIKELY(b->n == b->cap)) {
        b->cap *= 2;
        b->events = sl_xrealloc(b->events, sizeof(sl_event) * b->cap);
    }
    sl_event *e = &b->events[b->n++];
    memset(e, 0, sizeof *e);
    return e;
}

void batch_retain(sl_batch *b) { atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed); }

void batch_release(sl_batch *b)
{
    if (!b)
        return;
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (b->ack)
        ack_token_release(b->ack);
    arena_free(&b->arena);
    free(b->events);
    free(b);
}

void batch_abandon(sl_batch *b)
{
    if (!b)
        return;
    if (b->ack) {
        /* Poison the token first: whoever drops the last batch reference, the
         * source must not commit these events. */
        ack_token_retain(b->ack);
        ack_token_abandon(b->ack);
    }
    batch_release(b);
}

static sl_str copy_str(sl_batch *b, sl_str s)
{
    if (!s.ptr)
        return s;
    return (sl_str){arena_strndup(&b->arena, s.ptr, s.len), s.len};
}

sl_event *batch_append_copy(sl_batch *b, const sl_event *se)
{
    sl_event *e = batch_add(b);
    *e = *se;
    e->message = copy_str(b, se->message);
    e->id_str = copy_str(b, se->id_str);
    e->cap_fields = se->nfields;
    e->fields = se->nfields ? arena_alloc(&b->arena, sizeof(sl_field) * se->nfields) : NULL;
    for (uint32_t j = 0; j < se->nfields; j++) {
        e->fields[j] = se->fields[j];
        e->fields[j].key = copy_str(b, se->fields[j].key);
        if (se->fields[j].type == SL_VAL_STR || se->fields[j].type == SL_VAL_JSON)
            e->fields[j].v.s = copy_str(b, se->fields[j].v.s);
    }
    b->bytes += event_size(e);
    return e;
}

sl_batch *batch_clone(const sl_batch *src)
{
    sl_batch *b = batch_new(src->n ? src->n : 1);
    for (uint32_t i = 0; i < src->n; i++)
        batch_append_copy(b, &src->events[i]);
    b->bytes = src->bytes;
    b->origin = src->origin;
    b->fallback = src->fallback;
    if (src->ack) {
        ack_token_retain(src->ack);
        b->ack = src->ack;
    }
    return b;
}

void batch_compact(sl_batch *b, const bool *keep)
{
    uint32_t w = 0;
    size_t bytes = 0;
    for (uint32_t r = 0; r < b->n; r++) {
        if (!keep[r])
            continue;
        if (w != r)
            b->events[w] = b->events[r];
        bytes += event_size(&b->events[w]);
        w++;
    }
    b->n = w;
    b->bytes = bytes;
}

size_t batch_mem_size(const sl_batch *b)
{
    return sizeof *b + b->arena.total + (size_t)b->cap * sizeof(sl_event);
}

sl_str batch_str(sl_batch *b, const char *s, size_t len)
{
    return (sl_str){arena_strndup(&b->arena, s, len), (uint32_t)len};
}

/* Makes room for one more field (arrays live in the arena and grow by doubling). */
static sl_field *field_slot(sl_batch *b, sl_event *e)
{
    if (e->nfields == e->cap_fields) {
        uint32_t cap = e->cap_fields ? e->cap_fields * 2 : 4;
        sl_field *nf = arena_alloc(&b->arena, sizeof(sl_field) * cap);
        if (e->nfields)
            memcpy(nf, e->fields, sizeof(sl_field) * e->nfields);
        e->fields = nf;
        e->cap_fields = cap;
    }
    sl_field *f = &e->fields[e->nfields++];
    memset(f, 0, sizeof *f);
    return f;
}

static sl_field *find_field(sl_event *e, const char *key, size_t keylen)
{
    for (uint32_t i = 0; i < e->nfields; i++) {
        sl_field *f = &e->fields[i];
        if (f->key.len == keylen && memcmp(f->key.ptr, key, keylen) == 0)
            return f;
    }
    return NULL;
}

sl_field *event_add_field(sl_batch *b, sl_event *e, const char *key, size_t keylen)
{
    sl_field *f = find_field(e, key, keylen);
    if (f)
        return f;
    f = field_slot(b, e);
    f->key = batch_str(b, key, keylen);
    return f;
}

sl_field *event_push_field(sl_batch *b, sl_event *e, sl_str key)
{
    sl_field *f = field_slot(b, e);
    f->key = key;
    return f;
}

void event_set_str(sl_batch *b, sl_event *e, const char *key, const char *val, size_t len)
{
    sl_field *f = event_add_field(b, e, key, strlen(key));
    f->type = SL_VAL_STR;
    f->v.s = batch_str(b, val, len);
}

void event_set_static(sl_batch *b, sl_event *e, sl_str key, sl_str val)
{
    sl_field *f = find_field(e, key.ptr, key.len);
    if (!f) {
        f = field_slot(b, e);
        f->key = key;
    }
    f->type = SL_VAL_STR;
    f->v.s = val;
}

void event_set_int(sl_batch *b, sl_event *e, const char *key, int64_t val)
{
    sl_field *f = event_add_field(b, e, key, strlen(key));
    f->type = SL_VAL_INT;
    f->v.i = val;
}

const sl_field *event_get(const sl_event *e, const char *key, size_t keylen)
{
    for (uint32_t i = 0; i < e->nfields; i++) {
        const sl_field *f = &e->fields[i];
        if (f->key.len == keylen && memcmp(f->key.ptr, key, keylen) == 0)
            return f;
    }
    return NULL;
}

size_t event_size(const sl_event *e)
{
    size_t n = 48 + e->message.len;
    for (uint32_t i = 0; i < e->nfields; i++) {
        const sl_field *f = &e->fields[i];
        n += 16 + f->key.len;
        if (f->type == SL_VAL_STR || f->type == SL_VAL_JSON)
            n += f->v.s.len;
        else
            n += 8;
    }
    return n;
}
