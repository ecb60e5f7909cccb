/* gz.h - gzip compression of request bodies: ISA-L igzip when the build has it (several
 * times faster at the low levels bulk logs want), zlib otherwise. Output is plain gzip. */
#ifndef SL_GZ_H
#define SL_GZ_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

typedef enum gz_engine { GZ_AUTO = 0, GZ_ZLIB = 1, GZ_ISAL = 2 } gz_engine;

/* Compresses `len` bytes into out (replacing its content). `level` 1..9 for zlib; ISA-L
 * maps it to its own 0..3 (1 -> 1). Per-thread scratch is kept between calls.
 * Returns SL_OK or SL_ERR_NOMEM. */
int gz_compress(gz_engine engine, int level, const char *data, size_t len, sl_buf *out);
/* True when ISA-L was compiled in. */
bool gz_have_isal(void);

/* Huffman codes learned from a stream of similar bodies (one sink's requests), for
 * gz_compress_learned. Thread-safe; owned by the caller. */
typedef struct gz_learned gz_learned;
gz_learned *gz_learned_new(void);
void gz_learned_free(gz_learned *l);
/* gz_compress at level 1 in one pass: ISA-L's level 0 with codes learned from this stream's
 * bodies, learned again every GZ_RELEARN calls (gz.c). Plain gzip, like gz_compress; zlib's
 * level 1 without ISA-L. */
int gz_compress_learned(gz_learned *l, const char *data, size_t len, sl_buf *out);

#endif
