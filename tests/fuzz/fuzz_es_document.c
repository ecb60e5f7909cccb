/* fuzz_es_document.c - libFuzzer target for the elasticsearch document encoder: events
 * with arbitrary keys (dots, empty segments, invalid UTF-8, conflicts), values and raw JSON
 * fields must always encode to one valid JSON object, nested or flattened, and the same
 * bytes again from the encoder's layout cache (a second event with the same keys), and
 * from an event with the same fields, some of them shared (event.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"
#include "sinks/elasticsearch/es.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Lines "<type><key>\x01<value>"; type byte picks the value kind. */
    sl_batch *b = batch_new(2); /* room for se: e stays where it is */
    sl_event *e = batch_add(b);
    e->message = batch_str(b, (const char *)data, SL_MIN(size, (size_t)64));
    size_t i = 0;
    int nf = 0;
    while (i < size && nf < 40) {
        size_t j = i;
        while (j < size && data[j] != '\n')
            j++;
        if (j > i) {
            const char *line = (const char *)data + i + 1;
            size_t len = j - i - 1;
            const char *sep = memchr(line, 1, len);
            size_t klen = sep ? (size_t)(sep - line) : len;
            const char *v = sep ? sep + 1 : "";
            size_t vlen = sep ? len - klen - 1 : 0;
            sl_field *f = event_add_field(b, e, line, klen);
            switch (data[i] % 5) {
            case 0: f->type = SL_VAL_STR; f->v.s = batch_str(b, v, vlen); break;
            case 1: f->type = SL_VAL_INT; f->v.i = (int64_t)vlen * 977 - 5000; break;
            case 2: f->type = SL_VAL_FLOAT; f->v.f = vlen ? 1.0 / (double)(vlen - 1) : -0.0; break;
            case 3: f->type = SL_VAL_JSON; f->v.s = batch_str(b, v, vlen); break;
            default: f->type = SL_VAL_BOOL; f->v.b = vlen & 1; break;
            }
            nf++;
        }
        i = j + 1;
    }
    /* se: e's fields, the first ns of them shared (its array), the others its own */
    sl_event *se = batch_add(b);
    *se = *e;
    se->shared = e->fields;
    se->nshared = size ? data[size - 1] % (e->nfields + 1) : 0;
    se->fields = NULL;
    se->nfields = se->cap_fields = 0;
    for (uint32_t k = se->nshared; k < e->nfields; k++)
        *event_push_field(b, se, e->fields[k].key) = e->fields[k];
    es_scratch *sc = es_scratch_new();
    sl_buf out = SL_BUF_INIT, again = SL_BUF_INIT;
    for (int flat = 0; flat < 2; flat++) {
        es_doc_opts o = {.flatten = flat != 0, .timestamp = true};
        buf_reset(&out);
        es_encode_doc(&out, e, &o, sc);
        buf_reset(&again);
        es_encode_doc(&again, e, &o, sc); /* replayed from the cache when cacheable */
        if (again.len != out.len || memcmp(again.p, out.p, out.len) != 0)
            abort();
        /* and with the value cache: the third and fourth copies replay cached values */
        es_scratch_begin(sc);
        for (int k = 0; k < 6; k++) {
            buf_reset(&again);
            es_encode_doc(&again, k < 3 || k % 2 ? e : se, &o, sc);
            if (again.len != out.len || memcmp(again.p, out.p, out.len) != 0)
                abort();
        }
        sl_arena a;
        arena_init(&a, 4096);
        char err[128];
        if (!json_parse(&a, out.p, out.len, err, sizeof err))
            abort();
        arena_free(&a);
    }
    buf_free(&out);
    buf_free(&again);
    es_scratch_free(sc);
    batch_release(b);
    return 0;
}
