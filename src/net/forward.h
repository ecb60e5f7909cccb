/* forward.h - the Fluent Forward protocol v1 codec shared by the forward source and sink:
 * decoding Message / Forward / PackedForward / CompressedPackedForward into events, encoding
 * PackedForward, and the shared-key handshake digests. */
#ifndef SL_FORWARD_H
#define SL_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/event.h"

/* What a decoded message asked for. `chunk` points into the message (borrowed). */
typedef struct fwd_msg_info {
    const char *chunk;
    uint32_t chunk_len;
    int64_t size;      /* the `size` option (the entry count), -1 when absent; a hint
                          for the event array, checked against `events` by the caller */
    bool compressed;   /* gzip */
    uint32_t events;   /* events appended */
    const char *tag;   /* points into the message (borrowed) */
    uint32_t tag_len;
} fwd_msg_info;

/* Reusable buffers of a decoder (owned by the caller; fwd_scratch_free releases them). */
typedef struct fwd_scratch {
    sl_buf inflated, json;
} fwd_scratch;

static inline void fwd_scratch_free(fwd_scratch *s)
{
    buf_free(&s->inflated);
    buf_free(&s->json);
}

/* Limits of one decode: `max_inflated` bounds a decompressed PackedForward stream. */
typedef struct fwd_limits {
    size_t max_inflated;
    int max_depth;
} fwd_limits;

/* Decodes one complete msgpack value [p, p+len) (found with mp_skip) as a Forward message
 * and appends its events to b (strings copied into b's arena; field `tag` holds the tag).
 * `scratch` holds the caller's reusable buffers for inflating and JSON subtrees. On error
 * nothing is appended, and err names the position and the problem.
 * Returns SL_OK or SL_ERR_CORRUPT / SL_ERR_TOOBIG. */
int fwd_decode(const uint8_t *p, size_t len, sl_batch *b, fwd_msg_info *info, fwd_scratch *scratch,
               const fwd_limits *lim, char *err, size_t errlen);

/* Appends one record [time, {message, fields...}] for e (the `tag` field left out). */
void fwd_encode_entry(sl_buf *out, const sl_event *e);
/* Appends a PackedForward message [tag, entries, {size, chunk?, compressed?}] where
 * `entries` are the concatenated records (gzip-compressed when `gzip`). Returns SL_OK,
 * or SL_ERR_NOMEM if compression failed. */
int fwd_encode_packed(sl_buf *out, const char *tag, size_t taglen, const sl_buf *entries,
                      uint32_t count, const char *chunk, bool gzip);

/* Lowercase hex SHA-512 of the concatenation of the parts (NULL-terminated list of
 * pointer/length pairs given as arrays). out has room for 129 bytes. */
void fwd_sha512_hex(char out[129], const void *const *parts, const size_t *lens, size_t n);

/* Gzip (one member) of [p, p+n) appended to out; returns SL_OK or SL_ERR_NOMEM. */
int fwd_gzip(sl_buf *out, const void *p, size_t n);
/* Inflates gzip data (several concatenated members allowed) into out, at most `max`
 * bytes. Returns SL_OK, SL_ERR_TOOBIG or SL_ERR_CORRUPT. */
int fwd_gunzip(sl_buf *out, const void *p, size_t n, size_t max);

/* How long the message starting at b is, from its first n bytes: exact (*exact) once it is
 * all there; for a PackedForward still arriving, a lower bound read from its entries'
 * length prefix; 0 when unknown, malformed, or over max_message_bytes. Never larger than
 * the message. */
size_t fwd_frame_size(const uint8_t *b, size_t n, uint64_t max_message_bytes, bool *exact);

#endif
