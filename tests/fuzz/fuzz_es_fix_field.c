/* fuzz_es_fix_field.c - libFuzzer target for schema healing's document rewrite and the
 * field name read from a mapping refusal (both read what Elasticsearch sends back). Input:
 * a type byte, a field path up to the first newline, then a document. The rewrite of a JSON
 * object must be a JSON object again; the reason reader never writes past its buffer. */
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
    if (size < 2)
        return 0;
    static const char *const types[] = {NULL, "long", "double", "keyword", "boolean", "object",
                                        "date"};
    const char *want = types[data[0] % 7];
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    const char *nl = memchr(p, '\n', n);
    size_t fl = nl ? (size_t)(nl - p) : n;
    char field[256];
    if (fl >= sizeof field)
        fl = sizeof field - 1;
    memcpy(field, p, fl);
    field[fl] = '\0';
    const char *doc = nl ? nl + 1 : p + n;
    size_t dl = (size_t)((const char *)data + size - doc);

    char *reason = malloc(n + 1);
    memcpy(reason, p, n);
    reason[n] = '\0';
    char got[64];
    if (es_mapping_error_field(reason, got, sizeof got) && strlen(got) >= sizeof got)
        abort();
    free(reason);

    sl_buf out = SL_BUF_INIT;
    int r = es_fix_field(doc, dl, field, want, "_str", &out);
    sl_arena a;
    arena_init(&a, 4096);
    char err[64];
    const json_value *in = json_parse(&a, doc, dl, err, sizeof err);
    if (in && in->type == JSON_OBJ) {
        const json_value *o = json_parse(&a, out.p, out.len, err, sizeof err);
        if (r < 0 || !o || o->type != JSON_OBJ)
            abort();
    } else if (r != -1) {
        abort();
    }
    arena_free(&a);
    buf_free(&out);
    return 0;
}
