/* fuzz_http_decode.c - libFuzzer target for the body decoders of the http and otlp sources
 * (http_req_decode: gzip, deflate, zstd, snappy raw or framed): the first byte picks the
 * encoding and the bound, the rest is the body. The result is one of the documented codes
 * and never more than the bound; the sanitizers check that nothing reads or writes outside
 * the input and the output. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/buf.h"
#include "core/common.h"
#include "net/http_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int encs[] = {HTTP_ENC_GZIP, HTTP_ENC_DEFLATE, HTTP_ENC_ZSTD, HTTP_ENC_SNAPPY};
    if (size < 1)
        return 0;
    int enc = encs[data[0] & 3];
    size_t max = (size_t)1 << (8 + (data[0] >> 2) % 12); /* 256 B .. 512 KiB */
    sl_buf out = {0};
    int rc = http_req_decode(&out, enc, (const char *)data + 1, size - 1, max);
    if (rc != SL_OK && rc != SL_ERR_TOOBIG && rc != SL_ERR_CORRUPT && rc != SL_ERR_NOTFOUND)
        abort();
    if (rc == SL_OK && out.len > max)
        abort();
    buf_free(&out);
    return 0;
}
