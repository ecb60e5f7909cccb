/* codec.h - compact binary form of a batch's events, as stored in disk buffer records.
 * Little-endian, length-prefixed; the decoder treats its input as untrusted. */
#ifndef SL_CODEC_H
#define SL_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "event.h"

/* Layout (all integers little-endian):
 *   u8 version (1) | u32 nevents | event*
 *   event  = i64 ts_ns | u64 id_stream | u64 id_seq | str message | str id_str
 *            | u32 nfields | field*
 *   field  = str key | u8 type | value
 *   value  = STR/JSON: str | INT: i64 | FLOAT: f64 bits | BOOL: u8 | NULL: nothing
 *   str    = u32 len | bytes   (len 0xFFFFFFFF = absent, ptr NULL) */
#define CODEC_VERSION 1

/* Appends the encoding of every event of `b` to `out` (borrows both). */
void codec_encode_batch(sl_buf *out, const sl_batch *b);

/* Number of events an encoding claims, or -1 if the prefix is malformed. Cheap. */
int64_t codec_peek_count(const char *p, size_t n);

/* Decodes `n` bytes into a new batch (refs == 1, no ack token, bytes set) returned
 * owned in *out. Every string is copied into the batch's arena and NUL-terminated.
 * Returns SL_OK, or SL_ERR_CORRUPT with a message for any malformed input. */
int codec_decode_batch(const char *p, size_t n, sl_batch **out, char *err, size_t errlen);

#endif
