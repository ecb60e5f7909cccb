/* fuzz_es_bulk_response.c - libFuzzer target for the streaming _bulk response parser.
 * Any input, fed whole or split at an input-chosen point, must give the same verdict and
 * the same items, and never read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sinks/elasticsearch/es.h"

typedef struct fz_items {
    size_t n;
    uint64_t sum;
} fz_items;

static void on_item(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    fz_items *it = arg;
    if (idx != it->n)
        abort();
    if (strlen(type) >= ES_BULK_TYPE_MAX || strlen(reason) >= ES_BULK_REASON_MAX)
        abort();
    it->n++;
    it->sum = it->sum * 31 + (uint64_t)status + strlen(type) * 7 + strlen(reason);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (size)
        memcpy(s, data, size);
    es_bulk_parser p1, p2;
    fz_items a = {0, 0}, b = {0, 0};
    es_bulk_init(&p1, on_item, &a);
    int r1 = es_bulk_feed(&p1, s, size);
    int f1 = es_bulk_finish(&p1);
    /* The same bytes in byte-sized and then two chunks. */
    size_t cut = size ? (size_t)data[0] % size : 0;
    es_bulk_init(&p2, on_item, &b);
    int r2 = 0;
    for (size_t i = 0; i < cut && r2 == 0; i++)
        r2 = es_bulk_feed(&p2, s + i, 1);
    if (r2 == 0)
        r2 = es_bulk_feed(&p2, s + cut, size - cut);
    int f2 = es_bulk_finish(&p2);
    if ((r1 == 0) != (r2 == 0) || f1 != f2)
        abort();
    if (f1 == 0 && (a.n != b.n || a.sum != b.sum || p1.errors != p2.errors))
        abort();
    free(s);
    return 0;
}
