/* gunzip_one.h - for tests and fuzz targets: inflates a body that must be exactly one gzip
 * member (nothing after it), as a request body joined from pieces must be. */
#ifndef SL_TEST_GUNZIP_ONE_H
#define SL_TEST_GUNZIP_ONE_H

#include <stdbool.h>
#include <string.h>

#include <zlib.h>

#include "core/buf.h"

/* Appends what gz[0..n) inflates to to out. False unless it is one whole member. */
static inline bool gunzip_one(const char *gz, size_t n, sl_buf *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, 15 + 16) != Z_OK)
        return false;
    zs.next_in = (Bytef *)gz;
    zs.avail_in = (uInt)n;
    int rc;
    do {
        buf_reserve(out, 65536);
        zs.next_out = (Bytef *)out->p + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len = out->cap - zs.avail_out;
    } while (rc == Z_OK);
    bool ok = rc == Z_STREAM_END && zs.avail_in == 0;
    inflateEnd(&zs);
    return ok;
}

#endif
