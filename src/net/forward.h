/* forward.h - the Fluent Forward protocol v1 codec shared by the forward source and sink:
 * decoding Message / Forward / PackedForward / CompressedPackedForward into events, encoding
 * PackedForward, and both sides of the shared-key handshake (HELO, PING, PONG). */
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
    uint32_t markers;  /* Fluent Bit group start/end records skipped (not events) */
    int64_t signal;    /* Fluent Bit's `fluent_signal` of a PackedForward message: 0 logs;
                          otherwise (1 metrics, 2 traces: cmetrics/ctraces payloads) the
                          entries were not decoded and `events` is 0. Other modes: 0. */
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
 * An entry is [time, record] or, as Fluent Bit 2.1+ sends it, [[time, metadata], record];
 * a non-empty metadata map becomes fields `fluentbit.metadata.<key>`.
 * `scratch` holds the caller's reusable buffers for inflating and JSON subtrees. On error
 * nothing is appended, and err names the position and the problem.
 * Returns SL_OK or SL_ERR_CORRUPT / SL_ERR_TOOBIG. */
int fwd_decode(const uint8_t *p, size_t len, sl_batch *b, fwd_msg_info *info, fwd_scratch *scratch,
               const fwd_limits *lim, char *err, size_t errlen);

/* Appends one record [time, {<msg_key>: message, fields...}] for e (the `tag` field left
 * out; a field named msg_key written with one more leading '_'); nested values (JSON text)
 * go as msgpack maps and arrays. */
void fwd_encode_entry(sl_buf *out, const sl_event *e, sl_str msg_key);
/* Appends a PackedForward message [tag, entries, {size, chunk?, compressed?}] where
 * `entries` are the concatenated records (gzip-compressed when `gzip`). Returns SL_OK,
 * or SL_ERR_NOMEM if compression failed. */
int fwd_encode_packed(sl_buf *out, const char *tag, size_t taglen, const sl_buf *entries,
                      uint32_t count, const char *chunk, bool gzip);

/* Appends the answer to a chunk: {"ack": chunk} (str, as Fluentd and Fluent Bit send it). */
void fwd_encode_ack(sl_buf *out, const char *chunk, size_t len);

/* Lowercase hex SHA-512 of the concatenation of the n parts (pointer/length pairs given
 * as arrays). out has room for 129 bytes. */
void fwd_sha512_hex(char out[129], const void *const *parts, const size_t *lens, size_t n);

/* ---- Shared-key handshake ---------------------------------------------------------------
 * server HELO ["HELO", {nonce, auth, keepalive}] -> client PING ["PING", hostname, salt,
 * sha512_hex(salt + hostname + nonce + key), username, sha512_hex(auth + username +
 * password)] -> server PONG ["PONG", ok, reason, server_hostname, sha512_hex(salt +
 * server_hostname + nonce + key)]. Fluent Bit's in_forward refuses a PING item that is
 * not a msgpack str, so the client writes every item as str (the salt's raw bytes too);
 * servers here read str or bin alike, as Fluentd does. */

/* What a HELO carried; pointers into the message (borrowed). */
typedef struct fwd_helo {
    const uint8_t *nonce, *auth;
    uint32_t nonce_len, auth_len;
} fwd_helo;

/* Server side: the HELO with a 16-byte nonce and the user-auth salt (auth_len 0: no users),
 * both bin, as Fluentd sends them. */
void fwd_encode_helo(sl_buf *out, const uint8_t nonce[16], const uint8_t *auth, size_t auth_len);
/* Client side: reads a HELO (nonce and auth as str or bin). SL_OK or SL_ERR_CORRUPT. */
int fwd_parse_helo(const uint8_t *p, size_t len, fwd_helo *h);

/* Client side: the PING answering h. The password digest is sent whenever the HELO has a
 * non-empty auth salt (user and password may be ""), as Fluent Bit does; else "" "". */
void fwd_encode_ping(sl_buf *out, const fwd_helo *h, const char *hostname, const uint8_t *salt,
                     size_t salt_len, const char *key, const char *user, const char *password);

/* What the server checked in a PING; pointers into the message (borrowed). */
typedef struct fwd_ping {
    const uint8_t *hostname, *salt, *user;
    uint32_t hostname_len, salt_len, user_len;
} fwd_ping;

enum { FWD_PING_OK = 0, FWD_PING_MALFORMED, FWD_PING_KEY, FWD_PING_USER };

/* Server side: checks a PING against the nonce and auth salt this connection's HELO sent,
 * the shared key and, when nusers > 0, the users (names[i], passwords[i]). Items may be str
 * or bin. Returns FWD_PING_OK, FWD_PING_MALFORMED (not a PING: close without PONG),
 * FWD_PING_KEY or FWD_PING_USER (answer PONG false, then close). */
int fwd_check_ping(const uint8_t *p, size_t len, const uint8_t *nonce, size_t nonce_len,
                   const uint8_t *auth, size_t auth_len, const char *key,
                   char *const *names, char *const *passwords, size_t nusers, fwd_ping *ping);

/* Server side: the PONG. ok: [PONG, true, "", hostname, digest of the PING's salt];
 * refused: [PONG, false, reason, "", ""]. Every item a str. */
void fwd_encode_pong(sl_buf *out, bool ok, const char *reason, const char *hostname,
                     const fwd_ping *ping, const uint8_t *nonce, size_t nonce_len,
                     const char *key);

/* Client side: checks a PONG against the salt the PING sent and the HELO's nonce. Returns
 * SL_OK; SL_ERR_CONFIG when the server refused us or its digest is wrong (a wrong key on
 * one side); SL_ERR_CORRUPT when it is not a PONG. err says which. */
int fwd_check_pong(const uint8_t *p, size_t len, const uint8_t *salt, size_t salt_len,
                   const uint8_t *nonce, size_t nonce_len, const char *key, char *err,
                   size_t errlen);

/* Gzip (one member) of [p, p+n) appended to out; returns SL_OK or SL_ERR_NOMEM. */
int fwd_gzip(sl_buf *out, const void *p, size_t n);
/* Inflates gzip data (several concatenated members allowed) into out, at most `max`
 * bytes. Returns SL_OK, SL_ERR_TOOBIG or SL_ERR_CORRUPT. */
int fwd_gunzip(sl_buf *out, const void *p, size_t n, size_t max);
/* fwd_gunzip for zlib's other framings: window_bits as inflateInit2 takes them (15: zlib
 * streams, -15: raw deflate). */
int fwd_inflate(sl_buf *out, const void *p, size_t n, size_t max, int window_bits);

/* How long the message starting at b is, from its first n bytes: exact (*exact) once it is
 * all there; for a PackedForward still arriving, a lower bound read from its entries'
 * length prefix; 0 when unknown, malformed, or over max_message_bytes. Never larger than
 * the message. */
size_t fwd_frame_size(const uint8_t *b, size_t n, uint64_t max_message_bytes, bool *exact);

#endif
