/* fuzz_http_body.c - libFuzzer target for the HTTP source's body parser: the first byte
 * picks the content type (JSON, NDJSON, msgpack, text), the rest is the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/http_body.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int kind = data[0] % 4;
    size_t n = size - 1;
    char *p = malloc(n ? n : 1);
    if (n)
        memcpy(p, data + 1, n);
    sl_batch *b = batch_new(4);
    sl_arena a;
    arena_init(&a, 4096);
    sl_buf j = SL_BUF_INIT;
    char err[256];
    int rc = http_body_parse(b, (http_body_kind)kind, p, n, SL_STR("fuzz"), SL_STR("date"), 1,
                             &a, &j, err, sizeof err);
    if (rc != SL_OK && b->n != 0)
        abort(); /* a rejected body appends nothing */
    for (uint32_t i = 0; i < b->n; i++)
        if (b->events[i].message.len && !b->events[i].message.ptr)
            abort();
    batch_release(b);
    arena_free(&a);
    buf_free(&j);
    free(p);
    return 0;
}
