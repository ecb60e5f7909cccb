/* fuzz_http_chunked.c - libFuzzer target for the chunked body decoder: the input decoded in
 * one call into a separate buffer must give the same outcome and bytes as decoding it in
 * place in pieces (the first byte picks the piece size), and never more than the bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/http_chunked.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = (size_t)data[0] % 17 + 1;
    uint64_t max = (uint64_t)(data[1] % 64) * 16;
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    char err[256];

    /* One call, separate output. */
    http_chunked a;
    http_chunked_init(&a, max);
    char *out = malloc(n + 1);
    size_t used1 = 0, wrote1 = 0;
    int rc1 = http_chunked_decode(&a, in, n, out, &used1, &wrote1, err, sizeof err);
    if (used1 > n || wrote1 > used1 || wrote1 > max || a.total != wrote1)
        abort();

    /* In place, piece by piece, closing the gap after each piece. */
    char *buf = malloc(n + 1);
    http_chunked b;
    http_chunked_init(&b, max);
    size_t body = 0, pos = 0, len = 0, fed = 0;
    int rc2 = HTTP_CHUNKED_MORE;
    while (rc2 == HTTP_CHUNKED_MORE && fed < n) {
        size_t k = step < n - fed ? step : n - fed;
        memcpy(buf + len, in + fed, k);
        len += k, fed += k;
        size_t u = 0, w = 0;
        rc2 = http_chunked_decode(&b, buf + pos, len - pos, buf + body, &u, &w, err, sizeof err);
        memmove(buf + body + w, buf + pos + u, len - pos - u);
        len -= u - w;
        body += w;
        pos = body;
    }
    if (rc1 != rc2 || body != wrote1 || memcmp(buf, out, body) != 0)
        abort();
    if (rc1 == HTTP_CHUNKED_DONE && (size_t)b.raw != used1)
        abort();
    free(out);
    free(buf);
    return 0;
}
