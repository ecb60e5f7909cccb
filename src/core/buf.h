/* buf.h - growable byte buffer used by encoders and writers.
 * The buffer owns its memory; buf_free releases it, buf_reset keeps capacity. */
#ifndef SL_BUF_H
#define SL_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct sl_buf {
    char *p;
    size_t len, cap;
} sl_buf;

#define SL_BUF_INIT {NULL, 0, 0}

void buf_reserve(sl_buf *b, size_t extra);
void buf_printf(sl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(sl_buf *b);

static inline void buf_reset(sl_buf *b) { b->len = 0; }

static inline void buf_append(sl_buf *b, const void *data, size_t n)
{
    if (n == 0)
        return;
    if (b->cap - b->len < n)
        buf_reserve(b, n);
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static inline void buf_putc(sl_buf *b, char c)
{
    if (b->cap == b->len)
        buf_reserve(b, 1);
    b->p[b->len++] = c;
}

static inline void buf_puts(sl_buf *b, const char *s) { buf_append(b, s, strlen(s)); }

/* Base64 (RFC 4648, with padding) of n bytes: base64_encode writes 4 * ((n + 2) / 3)
 * characters and a NUL to out; buf_base64 appends them (no NUL). */
void base64_encode(char *out, const void *in, size_t n);
void buf_base64(sl_buf *b, const void *in, size_t n);

#endif
