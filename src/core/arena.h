/* arena.h - bump allocator that owns all memory of one batch.
 * Allocations are never freed one by one; arena_free releases every chunk at once.
 * An arena may also hold references to shared blocks (a file source's read buffer),
 * so that strings can point into them without a copy; it drops them when it is freed. */
#ifndef SL_ARENA_H
#define SL_ARENA_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_arena_chunk sl_arena_chunk;
typedef struct sl_arena_held sl_arena_held;

/* A reference-counted block of bytes. Its creator writes it while it holds the only
 * reference (block_shared() false); once another holder (an arena) has it, its bytes
 * are read-only for everyone until the creator is again the only holder. */
typedef struct sl_block {
    atomic_uint refs;
    size_t cap;
    char data[];
} sl_block;

typedef struct sl_arena {
    sl_arena_chunk *head;  /* current chunk; older chunks linked behind it */
    char *pos, *end;       /* free space in head */
    size_t chunk_size;     /* size of the next regular chunk */
    size_t total;          /* bytes reserved from malloc (and held blocks), for accounting */
    sl_arena_held *held;   /* blocks this arena holds a reference to */
    const sl_block *last_held; /* the most recent of them, to hold each block once */
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

/* A block of `cap` bytes with one reference (the caller's). Never NULL. */
sl_block *block_new(size_t cap);
/* Drops one reference; the last frees the block. NULL is a no-op. */
void block_release(sl_block *b);
/* Does anyone besides the caller hold b? (Acquire: what they read happened before.) */
static inline int block_shared(const sl_block *b)
{
    return atomic_load_explicit(&b->refs, memory_order_acquire) > 1;
}
/* Keeps b alive until the arena is freed or reset (once per block in a row). */
void arena_hold_slow(sl_arena *a, sl_block *b);
static inline void arena_hold(sl_arena *a, sl_block *b)
{
    if (a->last_held != b)
        arena_hold_slow(a, b);
}

#endif
