/* arena.h - bump allocator that owns all memory of one batch.
 * Allocations are never freed one by one; arena_free releases every chunk at once. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_arena_chunk sl_arena_chunk;

typedef struct sl_arena {
    sl_arena_chunk *head;  /* current chunk; older chunks linked behind it */
    char *pos, *end;       /* free space in head */
    size_t chunk_size;     /* size of the next regular chunk */
    size_t total;          /* bytes reserved from malloc, for accounting */
} sl_arena;

/* Prepare an empty arena; first chunk is allocated lazily with `chunk_size` bytes. */
void arena_init(sl_arena *a, size_t chunk_size);
/* Returns memory owned by the arena, aligned to 8 bytes. Never NULL. */
void *arena_alloc(sl_arena *a, size_t n);
/* Copies `len` bytes into the arena and NUL-terminates the copy. */
char *arena_strndup(sl_arena *a, const char *s, size_t len);
/* Releases every chunk; the arena may be reused after arena_init. */
void arena_free(sl_arena *a);
/* Forgets all allocations but keeps the first chunk for reuse. */
void arena_reset(sl_arena *a);

#endif
