/* fuzz_loki.c - libFuzzer target for the Loki sink's outside input: the reading of Loki's
 * answers (any status and body is classified, never overrun) and event content reaching the
 * encoder (message and label/metadata values of any bytes): the protobuf must walk as
 * well-formed length-delimited fields, every label set must be valid UTF-8 text, and the
 * JSON form must parse. Input: 2 bytes of status, then the body; the body split at its first
 * NUL gives the message and two field values. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/json.h"
#include "sinks/loki/loki.h"

static loki_enc *enc;

static int walk(const unsigned char *p, const unsigned char *end, int depth)
{
    while (p < end) {
        uint64_t tag = 0, v = 0;
        for (int sh = 0;; sh += 7) {
            if (p >= end || sh > 63)
                return -1;
            tag |= (uint64_t)(*p & 0x7F) << sh;
            if (!(*p++ & 0x80))
                break;
        }
        unsigned wt = tag & 7, f = (unsigned)(tag >> 3);
        for (int sh = 0;; sh += 7) {
            if (p >= end || sh > 63)
                return -1;
            v |= (uint64_t)(*p & 0x7F) << sh;
            if (!(*p++ & 0x80))
                break;
        }
        if (wt == 0)
            continue;
        if (wt != 2 || v > (uint64_t)(end - p))
            return -1;
        /* messages: PushRequest.streams, StreamAdapter.entries, EntryAdapter.timestamp and
         * structuredMetadata; the rest are strings */
        bool msg = (depth == 0 && f == 1) || (depth == 1 && f == 2) ||
                   (depth == 2 && (f == 1 || f == 3));
        if (msg && walk(p, p + v, depth + 1))
            return -1;
        p += v;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!enc) {
        char *lk[] = {"app", "env", "who"}, *lv[] = {"{{app}}", "prod", "x{{ user }}y"};
        char *mk[] = {"user"}, *mv[] = {"{{user}}"};
        sl_strmap labels = {lk, lv, 3}, meta = {mk, mv, 1};
        char err[128];
        enc = loki_enc_new(&labels, &meta, false, 64, err, sizeof err);
        if (!enc)
            abort();
    }
    if (size < 2)
        return 0;
    long status = (long)(data[0] | data[1] << 8) % 700;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    char *copy = malloc(n ? n : 1);
    memcpy(copy, body, n);
    const char *kind = NULL;
    loki_outcome o = loki_classify(status, copy, n, &kind);
    if (!kind || o > LOKI_HELD)
        abort();

    /* message \0 app \0 user */
    const char *parts[3] = {copy, "", ""};
    size_t lens[3] = {n, 0, 0};
    for (int k = 1; k < 3; k++) {
        const char *z = memchr(parts[k - 1], '\0', lens[k - 1]);
        if (!z)
            break;
        size_t before = (size_t)(z - parts[k - 1]);
        parts[k] = z + 1;
        lens[k] = lens[k - 1] - before - 1;
        lens[k - 1] = before;
    }
    sl_batch *b = batch_new(2);
    for (int i = 0; i < 2; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = i ? (int64_t)status * 7 : -(int64_t)status;
        e->message = batch_str(b, parts[0], lens[0]);
        if (lens[1])
            event_set_str(b, e, "app", parts[1], lens[1]);
        if (lens[2] || i)
            event_set_str(b, e, "user", parts[2], lens[2]);
    }
    sl_event *evs[2] = {&b->events[0], &b->events[1]};
    sl_buf out = SL_BUF_INIT;
    loki_encode(enc, &out, false, evs, 2, 1, NULL);
    if (walk((const unsigned char *)out.p, (const unsigned char *)out.p + out.len, 0))
        abort();
    buf_reset(&out);
    loki_encode(enc, &out, true, evs, 2, 1, NULL);
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    if (!json_parse(&a, out.p, out.len, err, sizeof err))
        abort();
    arena_free(&a);
    buf_free(&out);
    batch_release(b);
    free(copy);
    return 0;
}
