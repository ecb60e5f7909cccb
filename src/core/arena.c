/* arena.c - chunked bump allocator; oversized requests get a chunk of their own.
 * Invariant: head is the only chunk with free space that we hand out from. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

struct sl_arena_chunk {
    sl_arena_chunk *next;
    size_t size;
    /* data follows, 16-byte aligned */
};

#define CHUNK_HDR ((sizeof(sl_arena_chunk) + 15) & ~(size_t)15)

void arena_init(sl_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->pos = a->end = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
    a->total = 0;
}

static sl_arena_chunk *chunk_new(sl_arena *a, size_t size)
{
    sl_arena_chunk *c = sl_xmalloc(CHUNK_HDR + size);
    c->size = size;
    a->total += CHUNK_HDR + size;
    return c;
}

void *arena_alloc(sl_arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (SL_UNLIKELY((size_t)(a->end - a->pos) < n)) {
        if (n > a->chunk_size / 4 && a->head) {
            /* Large: a chunk of its own behind head, so head's free space stays usable. */
            sl_arena_chunk *c = chunk_new(a, n);
            c->next = a->head->next;
            a->head->next = c;
            return (char *)c + CHUNK_HDR;
        }
        /* Regular chunks grow geometrically from 4 KiB up to chunk_size, so a batch of
         * a few events does not pin a whole large chunk. */
        size_t next = a->head ? a->head->size * 2 : 4096;
        if (next > a->chunk_size)
            next = a->chunk_size;
        sl_arena_chunk *c = chunk_new(a, n > next ? n : next);
        c->next = a->head;
        a->head = c;
        a->pos = (char *)c + CHUNK_HDR;
        a->end = a->pos + c->size;
    }
    void *p = a->pos;
    a->pos += n;
    return p;
}

char *arena_strndup(sl_arena *a, const char *s, size_t len)
{
    char *d = arena_alloc(a, len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void arena_free(sl_arena *a)
{
    sl_arena_chunk *c = a->head;
    while (c) {
        sl_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->pos = a->end = NULL;
    a->total = 0;
}

void arena_reset(sl_arena *a)
{
    if (!a->head)
        return;
    /* Keep the largest regular chunk for reuse (it is where the arena settled), free the rest. */
    sl_arena_chunk *keep = NULL, *c = a->head;
    for (; c; c = c->next)
        if (c->size <= a->chunk_size && (!keep || c->size > keep->size))
            keep = c;
    c = a->head;
    while (c) {
        sl_arena_chunk *next = c->next;
        if (c != keep)
            free(c);
        c = next;
    }
    a->head = keep;
    if (keep) {
        keep->next = NULL;
        a->pos = (char *)keep + CHUNK_HDR;
        a->end = a->pos + keep->size;
        a->total = CHUNK_HDR + keep->size;
    } else {
        a->pos = a->end = NULL;
        a->total = 0;
    }
}
