/* fuzz_kafka.c - libFuzzer target for what the kafka source decodes: a consumed message's
 * payload (any bytes) in each decoding (json, raw, forward), with and without a sluice-id
 * header taken from the input. Every message must give its events (or one event holding
 * the payload), each with a stable id and the kafka.* fields. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "net/kafka.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* First byte: the id header's length (0 = none), taken from the end of the input. */
    size_t idlen = size ? data[0] % 40 : 0;
    const uint8_t *p = size ? data + 1 : data;
    size_t n = size ? size - 1 : 0;
    if (idlen > n)
        idlen = 0;
    n -= idlen;
    fwd_scratch scratch = {0};
    for (int d = KAFKA_DEC_JSON; d <= KAFKA_DEC_FORWARD; d++) {
        sl_batch *b = batch_new(8);
        kafka_msg_view m = {.topic = "logs", .partition = 3, .offset = 12345, .ts_ms = 1,
                            .payload = p, .len = n};
        if (idlen) {
            m.id = (const char *)p + n;
            m.idlen = idlen;
        }
        bool bad;
        uint32_t got = kafka_decode(b, &m, d, &scratch, &bad);
        if (got != b->n || (d != KAFKA_DEC_FORWARD && got != 1) || (bad && got != 1))
            abort();
        for (uint32_t i = 0; i < b->n; i++)
            if (!b->events[i].id_str.len || !event_get(&b->events[i], "kafka.offset", 12))
                abort();
        batch_release(b);
    }
    fwd_scratch_free(&scratch);
    return 0;
}
