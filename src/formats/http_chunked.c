/* http_chunked.c - incremental decoder of chunked HTTP/1.1 bodies: chunk sizes, extensions,
 * data, trailers. Fuzzed (tests/fuzz/fuzz_http_chunked.c): bad framing is an error.
 *
 * Notes on the design
 *  1. States: SIZE (hex digits) -> EXT (";name=value" or blanks, skipped) -> SIZE_LF ->
 *     DATA -> DATA_CR -> DATA_LF -> SIZE again; a zero size goes to TRAILER (header lines,
 *     skipped) until an empty line (END_LF) -> DONE.
 *  2. Line ends are CRLF only: a bare LF is a framing error, as are a size without digits,
 *     more than 16 hex digits, and data not followed by CRLF. Strict framing keeps a body
 *     from being read two ways (request smuggling) by a proxy in front.
 *  3. Bounds: a chunk whose size would take the body past `max` is refused as soon as its
 *     size line ends, before any of its bytes; a size or extension line is at most 4 KiB,
 *     the trailers at most 16 KiB in all.
 *  4. The output is written at or behind the input position, so a caller can decode a
 *     buffer in place and then close the gap. */
#include "http_chunked.h"

#include <stdio.h>
#include <string.h>

#include "../core/common.h"

enum { ST_SIZE = 0, ST_EXT, ST_SIZE_LF, ST_DATA, ST_DATA_CR, ST_DATA_LF, ST_TRAILER,
       ST_TRAILER_LINE, ST_TRAILER_LF, ST_END_LF, ST_DONE };

#define MAX_LINE 4096
#define MAX_TRAILER (16 * 1024)

void http_chunked_init(http_chunked *d, uint64_t max)
{
    memset(d, 0, sizeof *d);
    d->max = max;
}

int http_chunked_decode(http_chunked *d, const char *in, size_t n, char *out, size_t *used,
                        size_t *wrote, char *err, size_t errlen)
{
    size_t i = 0, w = 0;
    int rc = HTTP_CHUNKED_MORE;
    const char *what = NULL;
    while (i < n && rc == HTTP_CHUNKED_MORE) {
        if (d->state == ST_DATA) {
            size_t k = (size_t)SL_MIN((uint64_t)(n - i), d->left);
            memmove(out + w, in + i, k);
            w += k, i += k;
            d->left -= k;
            d->total += k;
            if (d->left == 0)
                d->state = ST_DATA_CR;
            continue;
        }
        char ch = in[i];
        switch (d->state) {
        case ST_SIZE: {
            int v = sl_hexval(ch);
            if (v >= 0) {
                if (d->digits == 16) {
                    what = "chunk size has more than 16 hex digits";
                    break;
                }
                d->left = d->left << 4 | (uint64_t)v;
                d->digits++;
            } else if (d->digits == 0) {
                what = "chunk size is not a hex number";
            } else if (ch == '\r') {
                d->state = ST_SIZE_LF;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                d->state = ST_EXT;
            } else {
                what = "bad character after the chunk size";
            }
            break;
        }
        case ST_EXT:
            if (ch == '\r')
                d->state = ST_SIZE_LF;
            else if (ch == '\n' || ch == '\0')
                what = "bare LF or NUL in a chunk extension";
            break;
        case ST_SIZE_LF:
            if (ch != '\n') {
                what = "chunk size line does not end with CRLF";
                break;
            }
            d->line = 0;
            d->digits = 0;
            if (d->left == 0) {
                d->state = ST_TRAILER;
            } else if (d->left > d->max - d->total) {
                rc = HTTP_CHUNKED_TOOBIG;
                sl_seterr(err, errlen, SL_ERR_TOOBIG,
                          "chunked body larger than %llu bytes (a chunk of %llu after %llu)",
                          (unsigned long long)d->max, (unsigned long long)d->left,
                          (unsigned long long)d->total);
            } else {
                d->state = ST_DATA;
            }
            break;
        case ST_DATA_CR:
            if (ch == '\r')
                d->state = ST_DATA_LF;
            else
                what = "chunk data longer than its size (no CRLF after it)";
            break;
        case ST_DATA_LF:
            if (ch == '\n')
                d->state = ST_SIZE, d->line = 0;
            else
                what = "chunk data not followed by CRLF";
            break;
        case ST_TRAILER:
            if (ch == '\r')
                d->state = ST_END_LF;
            else if (ch == '\n')
                what = "bare LF in the trailers";
            else
                d->state = ST_TRAILER_LINE;
            break;
        case ST_TRAILER_LINE:
            if (ch == '\r')
                d->state = ST_TRAILER_LF;
            else if (ch == '\n')
                what = "bare LF in the trailers";
            break;
        case ST_TRAILER_LF:
            if (ch == '\n')
                d->state = ST_TRAILER;
            else
                what = "trailer line does not end with CRLF";
            break;
        case ST_END_LF:
            if (ch == '\n') {
                d->state = ST_DONE;
                rc = HTTP_CHUNKED_DONE;
            } else {
                what = "last chunk not followed by an empty line";
            }
            break;
        default:
            what = "data after the end of the body";
            break;
        }
        if (what)
            break;
        if (rc == HTTP_CHUNKED_TOOBIG)
            break;
        i++;
        if (d->state == ST_SIZE || d->state == ST_EXT || d->state == ST_SIZE_LF) {
            if (++d->line > MAX_LINE)
                what = "chunk size line longer than 4 KiB";
        } else if (d->state >= ST_TRAILER && d->state <= ST_END_LF) {
            if (++d->trailer > MAX_TRAILER)
                what = "trailers larger than 16 KiB";
        }
        if (what)
            break;
    }
    d->raw += i;
    *used = i;
    *wrote = w;
    if (what) {
        sl_seterr(err, errlen, SL_ERR_CORRUPT, "bad chunked body at byte %llu: %s",
                  (unsigned long long)d->raw, what);
        return HTTP_CHUNKED_BAD;
    }
    return rc;
}
