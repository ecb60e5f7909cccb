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
    /* Its own token first: an older held token seen done then finds the newer one done
     * too, so both commit in one collect. */
    if (b->ack)
        ack_token_release(b->ack);
    for (uint32_t i = 0; i < b->nholds; i++)
        ack_token_release(b->holds[i]);
    free(b->holds);
    buf_free(&b->prep);
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
    for (uint32_t i = 0; i < b->nholds; i++) {
        ack_token_retain(b->holds[i]);
        ack_token_abandon(b->holds[i]);
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
    e->prep_owner = 0; /* another batch: the prepared bytes stay behind */
    e->prep = NULL;
    e->prep_len = 0;
    e->message = copy_str(b, se->message);
    e->id_str = copy_str(b, se->id_str);
    uint32_t nf = event_nfields(se);
    e->shared = NULL;
    e->nshared = 0;
    e->nfields = e->cap_fields = nf;
    e->fields = nf ? arena_alloc(&b->arena, sizeof(sl_field) * nf) : NULL;
    for (uint32_t j = 0; j < nf; j++) {
        const sl_field *sf = event_field(se, j);
        e->fields[j] = *sf;
        e->fields[j].key = copy_str(b, sf->key);
        if (sf->type == SL_VAL_STR || sf->type == SL_VAL_JSON)
            e->fields[j].v.s = copy_str(b, sf->v.s);
    }
    b->bytes += event_size(e);
    return e;
}

sl_field *event_fields_flat(sl_arena *a, const sl_event *e, uint32_t cap)
{
    sl_field *f = arena_alloc(a, sizeof(sl_field) * cap);
    if (e->nshared)
        memcpy(f, e->shared, sizeof(sl_field) * e->nshared);
    if (e->nfields)
        memcpy(f + e->nshared, e->fields, sizeof(sl_field) * e->nfields);
    return f;
}

void event_unshare(sl_batch *b, sl_event *e)
{
    if (!e->nshared)
        return;
    /* Strings stay where they are: shared fields point into this batch's arena too. */
    uint32_t nf = e->nshared + e->nfields, cap = nf + 2;
    e->fields = event_fields_flat(&b->arena, e, cap);
    e->nfields = nf;
    e->cap_fields = cap;
    e->shared = NULL;
    e->nshared = 0;
}

void batch_unshare(sl_batch *b)
{
    if (!b->shared_fields)
        return;
    for (uint32_t i = 0; i < b->n; i++)
        event_unshare(b, &b->events[i]);
    b->shared_fields = false;
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
    b->nheld = src->nheld;
    if (src->nholds) {
        b->holds = sl_xmalloc(sizeof(sl_ack_token *) * src->nholds);
        b->nholds = b->cap_holds = src->nholds;
        for (uint32_t i = 0; i < src->nholds; i++) {
            ack_token_retain(src->holds[i]);
            b->holds[i] = src->holds[i];
        }
    }
    return b;
}

static bool tokens_have(sl_ack_token *const *v, uint32_t n, const sl_ack_token *t)
{
    for (uint32_t i = 0; i < n; i++)
        if (v[i] == t)
            return true;
    return false;
}

static void set_add(sl_ack_set *s, sl_ack_token *t)
{
    if (!t || tokens_have(s->v, s->n, t))
        return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 2;
        s->v = sl_xrealloc(s->v, sizeof(sl_ack_token *) * s->cap);
    }
    ack_token_retain(t);
    s->v[s->n++] = t;
}

void ack_set_add_event(sl_ack_set *s, const sl_batch *b, uint32_t i)
{
    if (i >= b->nheld && b->ack) {
        set_add(s, b->ack);
        return;
    }
    for (uint32_t k = 0; k < b->nholds; k++)
        set_add(s, b->holds[k]);
}

void batch_hold_acks(sl_batch *b, sl_ack_set *s)
{
    for (uint32_t i = 0; i < s->n; i++) {
        sl_ack_token *t = s->v[i];
        if (t == b->ack || tokens_have(b->holds, b->nholds, t)) {
            ack_token_release(t); /* the batch answers for it already */
            continue;
        }
        if (b->nholds == b->cap_holds) {
            b->cap_holds = b->cap_holds ? b->cap_holds * 2 : 2;
            b->holds = sl_xrealloc(b->holds, sizeof(sl_ack_token *) * b->cap_holds);
        }
        b->holds[b->nholds++] = t;
    }
    s->n = 0;
}

void ack_set_release(sl_ack_set *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        ack_token_release(s->v[i]);
    ack_set_forget(s);
}

void ack_set_forget(sl_ack_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

void batch_compact(sl_batch *b, const bool *keep)
{
    uint32_t w = 0, held = 0;
    size_t bytes = 0;
    for (uint32_t r = 0; r < b->n; r++) {
        if (!keep[r])
            continue;
        held += r < b->nheld;
        if (w != r)
            b->events[w] = b->events[r];
        bytes += event_size(&b->events[w]);
        w++;
    }
    b->n = w;
    b->nheld = held;
    b->bytes = bytes;
}

size_t batch_mem_size(const sl_batch *b)
{
    return sizeof *b + b->arena.total + (size_t)b->cap * sizeof(sl_event) + b->prep.cap;
}

uint32_t prep_id_new(void)
{
    static atomic_uint next = 1;
    return atomic_fetch_add(&next, 1);
}

/* Until batch_prep_done the buffer may still move: prep holds the start as an offset. */
void batch_prep_event(sl_batch *b, uint32_t i, size_t start)
{
    sl_event *e = &b->events[i];
    e->prep = (const char *)(uintptr_t)start;
    e->prep_len = (uint32_t)(b->prep.len - start);
}

void batch_prep_done(sl_batch *b, uint32_t owner)
{
    /* Reserved by an estimate: what was not used goes back before a buffer counts it. */
    if (b->prep.cap - b->prep.len > b->prep.len / 8 + 4096) {
        b->prep.cap = b->prep.len ? b->prep.len : 1;
        b->prep.p = sl_xrealloc(b->prep.p, b->prep.cap);
    }
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        if (!e->prep_len)
            continue;
        e->prep = b->prep.p + (uintptr_t)e->prep;
        e->prep_owner = owner;
    }
    b->prep_owner = owner;
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
    event_unshare(b, e);
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
    event_unshare(b, e);
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
    for (uint32_t i = 0, n = event_nfields(e); i < n; i++) {
        const sl_field *f = event_field(e, i);
        if (f->key.len == keylen && memcmp(f->key.ptr, key, keylen) == 0)
            return f;
    }
    return NULL;
}

size_t event_size(const sl_event *e)
{
    size_t n = 48 + e->message.len;
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++) {
        const sl_field *f = event_field(e, i);
        n += 16 + f->key.len;
        if (f->type == SL_VAL_STR || f->type == SL_VAL_JSON)
            n += f->v.s.len;
        else
            n += 8;
    }
    return n;
}
