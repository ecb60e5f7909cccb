/* fuzz_http_response.c - libFuzzer target for the HTTP/1.x response parser of the sinks'
 * own client: the input fed whole and fed in pieces (the first byte picks the piece size,
 * the second whether the request was HEAD and whether EOF follows) must give the same
 * outcome, status, keep-alive, consumed length and body, within the parser's bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_resp.h"

typedef struct run_out {
    int rc;
    long status;
    bool keep_alive;
    size_t used;
    sl_buf body;
} run_out;

static int collect(void *arg, const char *p, size_t n)
{
    sl_buf *b = arg;
    if (b->len + n > HTTP_RESP_MAX_BODY + (64u << 10))
        abort(); /* more than any framing allows for inputs of fuzzing size */
    buf_append(b, p, n);
    return 0;
}

static run_out run(const uint8_t *in, size_t n, size_t step, bool head, bool eof)
{
    run_out o = {0};
    char *copy = malloc(n + 1); /* decoded in place */
    memcpy(copy, in, n);
    http_resp r = {0};
    http_resp_init(&r, head, collect, &o.body);
    size_t off = 0;
    int rc = HTTP_RESP_MORE;
    while (rc == HTTP_RESP_MORE && off < n) {
        size_t k = step < n - off ? step : n - off, used = 0;
        rc = http_resp_feed(&r, copy + off, k, &used);
        if (used > k || (rc == HTTP_RESP_MORE && used != k))
            abort();
        off += used;
    }
    if (rc == HTTP_RESP_MORE && eof)
        rc = http_resp_eof(&r);
    if ((rc == HTTP_RESP_DONE) != (r.status >= 200 && r.status <= 999 && r.state == HTTP_RESP_S_DONE))
        abort();
    if (rc == HTTP_RESP_BAD && !r.err[0])
        abort();
    o.rc = rc;
    o.status = r.status;
    o.keep_alive = r.keep_alive;
    o.used = off;
    http_resp_free(&r);
    free(copy);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t step = (size_t)data[0] % 23 + 1;
    bool head = data[1] & 1, eof = data[1] & 2;
    const uint8_t *in = data + 2;
    size_t n = size - 2;
    run_out a = run(in, n, n ? n : 1, head, eof);
    run_out b = run(in, n, step, head, eof);
    if (a.rc != b.rc || a.status != b.status || a.keep_alive != b.keep_alive ||
        a.used != b.used || a.body.len != b.body.len ||
        (a.body.len && memcmp(a.body.p, b.body.p, a.body.len) != 0))
        abort();
    if (a.used > n || a.body.len > n)
        abort();
    buf_free(&a.body);
    buf_free(&b.body);
    return 0;
}
