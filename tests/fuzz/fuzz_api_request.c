/* fuzz_api_request.c - libFuzzer target for the API's request parser: the head parser and
 * the query lookup never read outside their input (an exact-size copy), the parts they
 * return lie inside it, and a head they accept is well-formed where the API relies on it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/api.h"

static void inside(const char *p, size_t n, const char *base, size_t len)
{
    if (p && (p < base || p + n > base + len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    memcpy(in, data, size);
    api_req r;
    int rc = api_parse_head(in, size, &r);
    if (rc != 0 && rc != 400 && rc != 505)
        abort();
    if (rc == 0) {
        inside(r.method, r.method_len, in, size);
        inside(r.path, r.path_len, in, size);
        inside(r.query, r.query_len, in, size);
        if (!r.method_len || !r.path_len || r.path[0] != '/')
            abort();
        if (memchr(r.path, '?', r.path_len) || (r.query && r.query != r.path + r.path_len + 1))
            abort();
        if (r.chunked && r.content_length)
            abort();
        static const char *const names[] = {"component", "limit", "rate", ""};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            char small[4], big[300];
            if (api_query_param(&r, names[i], small, sizeof small) && strlen(small) >= sizeof small)
                abort();
            if (api_query_param(&r, names[i], big, sizeof big) && strlen(big) >= sizeof big)
                abort();
        }
    }
    free(in);
    return 0;
}
