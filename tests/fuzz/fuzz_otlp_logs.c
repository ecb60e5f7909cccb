/* fuzz_otlp_logs.c - libFuzzer target for the OTLP logs request decoder, protobuf and JSON:
 * any bytes are decoded or refused with a message, never overrun; what decodes goes through
 * the otlp sink's encoder (both encodings) and must decode again to as many records; the
 * records otlp_prepare writes ahead must make the same request, byte for byte, and so must
 * the gzip'd segments of otlp_prepare_segment (2 events each), once inflated, for the whole
 * batch and for a request cut after its first event. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/otlp_logs.h"
#include "sinks/otlp/otlp.h"
#include "../unit/gunzip_one.h"

/* evs[lo..n) through segments, against the request written from the events. */
static void check_segments(sl_event **evs, size_t lo, size_t n, bool json, const otlp_map *ms,
                           const otlp_map *m)
{
    sl_buf gz = SL_BUF_INIT, got = SL_BUF_INIT, want = SL_BUF_INIT;
    size_t raw = 0;
    if (!otlp_encode_segments(&gz, json, evs + lo, n - lo, ms, 1, 1, &raw))
        abort();
    if (!gunzip_one(gz.p, gz.len, &got))
        abort();
    otlp_encode(&want, json, evs + lo, n - lo, m, 1);
    if (raw != got.len || got.len != want.len || memcmp(got.p, want.p, want.len) != 0)
        abort();
    buf_free(&gz);
    buf_free(&got);
    buf_free(&want);
}

static void one(const char *s, size_t size, bool json)
{
    sl_arena a;
    arena_init(&a, 4096);
    sl_batch *b = batch_new(8);
    otlp_logs_opts o = {.max_record_bytes = 64, .now_ns = 1, .id_stream = 1};
    otlp_logs_result r;
    char err[256];
    int rc = otlp_logs_decode(b, s, size, json, &a, &o, &r, err, sizeof err);
    if (rc != SL_OK && rc != SL_ERR_CORRUPT)
        abort();
    if (rc != SL_OK && err[0] == '\0')
        abort(); /* a refusal always says why */
    if (rc == SL_OK && r.records != b->n + r.rejected)
        abort();
    if (rc == SL_OK && b->n) {
        sl_event **evs = malloc(b->n * sizeof *evs);
        for (uint32_t i = 0; i < b->n; i++)
            evs[i] = &b->events[i];
        otlp_map m = {.body_field = "body"};
        for (int j = 0; j < 2; j++) {
            sl_buf enc = SL_BUF_INIT;
            otlp_encode(&enc, j, evs, b->n, &m, 1);
            sl_batch *b2 = batch_new(8);
            otlp_logs_opts o2 = {.now_ns = 1};
            arena_reset(&a);
            if (otlp_logs_decode(b2, enc.p, enc.len, j, &a, &o2, &r, err, sizeof err) != SL_OK ||
                b2->n != b->n)
                abort();
            batch_release(b2);
            sl_batch *c = batch_clone(b);
            otlp_map mp = m;
            mp.prep_id = prep_id_new();
            otlp_prepare(c, j, &mp, 1);
            sl_event **cevs = malloc(c->n * sizeof *cevs);
            for (uint32_t i = 0; i < c->n; i++)
                cevs[i] = &c->events[i];
            sl_buf penc = SL_BUF_INIT;
            otlp_encode(&penc, j, cevs, c->n, &mp, 1);
            if (penc.len != enc.len || memcmp(penc.p, enc.p, enc.len) != 0)
                abort();
            buf_free(&penc);
            batch_release(c);
            c = batch_clone(b);
            otlp_map ms = m;
            ms.seg_id = prep_id_new();
            if (otlp_prepare_segment(c, j, &ms, 1, 1, 2)) {
                for (uint32_t i = 0; i < c->n; i++)
                    cevs[i] = &c->events[i];
                check_segments(cevs, 0, c->n, j, &ms, &m);
                if (c->n > 1)
                    check_segments(cevs, 1, c->n, j, &ms, &m);
            }
            free(cevs);
            batch_release(c);
            buf_free(&enc);
        }
        free(evs);
    }
    batch_release(b);
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    one(s, size, false);
    one(s, size, true);
    free(s);
    return 0;
}
