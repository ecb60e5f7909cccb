/* fuzz_http_request.c - libFuzzer target for the head framing of the http and otlp sources
 * (http_request.c): arbitrary bytes as what a client sent. The end of the head lies inside
 * the input, the parse never reads outside its exact-size copy, the target and every header
 * it hands the source lie inside the head, and a head it accepts has a body it can frame
 * (chunked, or a Content-Length within max_body_bytes). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/http_request.h"

static const char *head_p;
static size_t head_n;

static void inside(const char *p, size_t n)
{
    if (n && (p < head_p || p + n > head_p + head_n))
        abort();
}

static void begin(void *arg, net_conn *c)
{
    (void)arg;
    (void)c;
}

static int header(void *arg, net_conn *c, const char *name, size_t nlen, const char *v,
                  size_t vlen, const char **msg)
{
    (void)arg;
    (void)c;
    (void)msg;
    inside(name, nlen);
    inside(v, vlen);
    return 0;
}

static int head(void *arg, net_conn *c, const http_req_head *hd, const char **msg)
{
    (void)arg;
    (void)c;
    (void)msg;
    inside(hd->target, hd->target_len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *p = malloc(size ? size : 1);
    if (size)
        memcpy(p, data, size);
    size_t h = http_req_head_end(p, size);
    if (h > size)
        abort();
    if (h) {
        static const http_req_handler handler = {.begin = begin, .header = header, .head = head};
        http_req_options opt = {.max_body_bytes = 1 << 20};
        http_req_layer l = {.opt = &opt, .h = &handler};
        net_conn c = {.in = {.p = p, .len = size, .cap = size}};
        http_req r = {.head_len = h};
        head_p = p;
        head_n = h;
        const char *msg = NULL;
        int code = http_req_parse_head(&l, &c, &r, &msg);
        if (code && !msg)
            abort(); /* every refusal says why */
        if (!code && !r.chunked && r.body_len > opt.max_body_bytes)
            abort();
    }
    free(p);
    return 0;
}
