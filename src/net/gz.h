/* gz.h - gzip compression of request bodies: ISA-L igzip when the build has it (several
 * times faster at the low levels bulk logs want), zlib otherwise. Output is plain gzip. */
#ifndef SL_GZ_H
#define SL_GZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum gz_engine { GZ_AUTO = 0, GZ_ZLIB = 1, GZ_ISAL = 2 } gz_engine;

/* Compresses `len` bytes into out (replacing its content). `level` 1..9 for zlib; ISA-L
 * maps it to its own 0..3 (1 -> 1). `stream` names whose bodies these are (a sink): at
 * level 1, ISA-L codes them with Huffman codes learned from earlier bodies and segments of
 * the same stream on this thread (note 2 of gz.c); NULL, each on its own. Per-thread
 * scratch is kept between calls. Returns SL_OK or SL_ERR_NOMEM. */
int gz_compress(gz_engine engine, int level, const void *stream, const char *data, size_t len,
                sl_buf *out);
/* Deflate segments: pieces of one body compressed apart (ahead of time, on other threads)
 * and joined into one gzip member that any gzip reader reads as one stream. A segment is
 * raw deflate ending byte-aligned in a non-final block, so segments, and bytes written as
 * stored blocks, concatenate; the trailer's CRC is combined from the pieces' own.
 *
 * gz_segment appends the segment of data[0..len) to out (its content kept), with `engine`
 * and `stream` as gz_compress, and gives its CRC-32 in *crc. Returns SL_OK or
 * SL_ERR_NOMEM. */
int gz_segment(gz_engine engine, int level, const void *stream, const char *data, size_t len,
               sl_buf *out, uint32_t *crc);

/* One gzip member written into out from pieces in order: gz_join_begin (the header),
 * any number of gz_join_raw / gz_join_segment, then gz_join_end (the final block and the
 * trailer). */
typedef struct gz_join {
    sl_buf *out;
    uint32_t crc;
    uint64_t len; /* uncompressed bytes so far */
} gz_join;
void gz_join_begin(gz_join *j, sl_buf *out);
/* Bytes as they are (stored blocks; for the few bytes of framing around segments). */
void gz_join_raw(gz_join *j, const char *p, size_t n);
/* A segment from gz_segment: comp_len bytes standing for raw_len bytes with that CRC. */
void gz_join_segment(gz_join *j, const char *comp, size_t comp_len, uint32_t crc,
                     size_t raw_len);
void gz_join_end(gz_join *j);

/* Lessons of learned codes (note 2 of gz.c) taken on this thread so far: for tests. */
uint64_t gz_lessons(void);

/* True when ISA-L was compiled in. */
bool gz_have_isal(void);

#endif
