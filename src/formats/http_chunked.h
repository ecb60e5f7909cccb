/* http_chunked.h - an incremental decoder for HTTP/1.1 chunked request bodies
 * (Transfer-Encoding: chunked), bounded in body size, line length and trailer size. */
#ifndef SL_HTTP_CHUNKED_H
#define SL_HTTP_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

enum {
    HTTP_CHUNKED_MORE = 0, /* input used up; the body goes on */
    HTTP_CHUNKED_DONE,     /* last chunk and trailers read: the body is complete */
    HTTP_CHUNKED_BAD,      /* framing error (err says what and where) */
    HTTP_CHUNKED_TOOBIG,   /* the decoded body passed `max` */
};

/* Decoder state; zero it (or http_chunked_init) before the first call of a body. */
typedef struct http_chunked {
    int state;
    uint64_t left;     /* data bytes of the current chunk still to come */
    uint64_t total;    /* decoded body bytes so far */
    uint64_t max;      /* bound on total */
    uint64_t raw;      /* input bytes seen, for error positions */
    uint32_t line;     /* bytes of the current size or trailer line */
    uint32_t trailer;  /* trailer bytes so far */
    uint8_t digits;    /* hex digits of the current size */
} http_chunked;

void http_chunked_init(http_chunked *d, uint64_t max);

/* Decodes [in, in + n) and writes body bytes to out, which may be `in` itself or lie before
 * it (the output never overtakes the input, so decoding in place works). Sets *used to the
 * input bytes consumed (on DONE, up to the end of the body's framing: what follows is the
 * next request) and *wrote to the body bytes written. Returns an HTTP_CHUNKED_* value. */
int http_chunked_decode(http_chunked *d, const char *in, size_t n, char *out, size_t *used,
                        size_t *wrote, char *err, size_t errlen);

#endif
