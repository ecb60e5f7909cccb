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

#endif
