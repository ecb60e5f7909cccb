/* fuzz_redis.c - libFuzzer target for what the redis source parses: RESP bytes through
 * hiredis's reader, then stream entries (redis_stream_walk / redis_decode_fields) and list
 * values (redis_decode_value). Anything must decode or fall back to a message. The bytes
 * are also fed in small pieces, as redis_conn does, and must give the same replies. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "formats/json.h"
#include "net/redis.h"

static void on_entry(void *arg, const char *id, size_t idlen, const redisReply *fields)
{
    sl_batch *b = arg;
    if (fields)
        redis_decode_fields(b, fields);
    (void)batch_str(b, id, idlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sl_batch *b = batch_new(8);
    /* The raw bytes as a list value. */
    redis_decode_value(b, (const char *)data, size);
    /* The bytes as a RESP reply: an entries array, or a list of values. */
    redisReader *r = redis_reader_new();
    redisReaderFeed(r, (const char *)data, size);
    void *reply = NULL;
    if (redisReaderGetReply(r, &reply) == REDIS_OK && reply) {
        const redisReply *rep = reply;
        redis_stream_walk(rep, on_entry, b);
        if (rep->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < rep->elements; i++)
                if (rep->element[i]->type == REDIS_REPLY_STRING)
                    redis_decode_value(b, rep->element[i]->str, rep->element[i]->len);
        freeReplyObject(reply);
    }
    redisReaderFree(r);
    /* The same bytes in pieces of 1..8 bytes, replies taken after each piece (as redis_conn
     * does): as many replies, and the same error, as from the whole. */
    size_t nw = 0, nc = 0;
    bool ew = false, ec = false;
    redisReader *whole = redis_reader_new(), *cut = redis_reader_new();
    redisReaderFeed(whole, (const char *)data, size);
    for (void *x = NULL; nw < 4096; nw++, freeReplyObject(x), x = NULL)
        if (redisReaderGetReply(whole, &x) != REDIS_OK ? (ew = true) : !x)
            break;
    size_t step = size ? (size_t)(data[0] % 8) + 1 : 1;
    for (size_t off = 0; off < size && !ec; off += step) {
        redisReaderFeed(cut, (const char *)data + off, size - off < step ? size - off : step);
        for (void *x = NULL; nc < 4096; nc++, freeReplyObject(x), x = NULL)
            if (redisReaderGetReply(cut, &x) != REDIS_OK ? (ec = true) : !x)
                break;
    }
    if (ew != ec || (!ew && nw != nc))
        __builtin_trap();
    redisReaderFree(whole);
    redisReaderFree(cut);
    /* Whatever came out encodes back to JSON. */
    sl_buf out = SL_BUF_INIT;
    for (uint32_t i = 0; i < b->n; i++)
        json_encode_event(&out, &b->events[i]);
    buf_free(&out);
    batch_release(b);
    return 0;
}
