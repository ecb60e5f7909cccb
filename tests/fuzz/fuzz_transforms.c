/* fuzz_transforms.c - libFuzzer target for the field transforms that read outside input:
 * `flatten` (a nested JSON field, parsed into the batch arena), `sanitize_keys` (any key
 * bytes), `filter` (regex and level on any text, dotted keys into any JSON), then JSON
 * encoding, which must stay valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"
#include "formats/json.h"

static const struct { const char *type, *yaml; } steps[] = {
    /* dotted keys into the JSON of obj (json_event_get_path), before flatten makes them keys */
    {"filter", "{action: drop, field: obj.a.b, equals: ['1.0', x]}"},
    {"filter", "{action: drop, regex_field: obj.a.b.c.d, regex: 'zz$', level_field: obj.l, "
               "min_level: fatal}"},
    {"flatten", "{max_depth: 4}"},
    {"flatten", "{separator: __}"},
    {"sanitize_keys", "{lowercase: true}"},
    {"sanitize_keys", "{replacement: ''}"},
    {"filter", "{action: drop, regex: '^(a|b)+$', regex_field: raw}"},
    {"filter", "{min_level: warn}"},
};
#define NSTEPS (sizeof steps / sizeof steps[0])

static const sl_transform_vtable *vts[NSTEPS];
static void *tf[NSTEPS];
static sl_config_doc *docs[NSTEPS]; /* kept reachable for the whole run */
static void *cfgs[NSTEPS];

static void setup(void)
{
    static sl_component_ctx cc;
    cc.id = "t";
    cc.type = "transform";
    cc.data_dir = ".";
    cc.metrics = metrics_register("t", "transform", "fuzz");
    for (size_t i = 0; i < NSTEPS; i++) {
        char err[256];
        vts[i] = registry_transform(steps[i].type);
        if (!vts[i] || config_doc_load(&docs[i], "f.yaml", steps[i].yaml, err, sizeof err))
            abort();
        cfgs[i] = calloc(1, vts[i]->config_size);
        const sl_option *tables[] = {vts[i]->options};
        void *bases[] = {cfgs[i]};
        if (config_apply(tables, bases, 1, docs[i]->root, NULL, "f.yaml", "t", err, sizeof err) ||
            vts[i]->init(&tf[i], cfgs[i], &cc, err, sizeof err))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vts[0])
        setup();
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, (const char *)data, size);
    /* SL_VAL_JSON must hold valid JSON (its producers check): only then is it raw JSON. */
    sl_arena chk;
    arena_init(&chk, 4096);
    char perr[64];
    bool valid = json_parse(&chk, (const char *)data, size, perr, sizeof perr) != NULL;
    arena_free(&chk);
    sl_field *f = event_add_field(b, e, "obj", 3);
    f->type = valid ? SL_VAL_JSON : SL_VAL_STR;
    f->v.s = batch_str(b, (const char *)data, size);
    event_set_str(b, e, "raw", (const char *)data, size);
    event_set_str(b, e, "level", (const char *)data, size < 16 ? size : 16);
    /* the bytes as a key too */
    f = event_add_field(b, e, size ? (const char *)data : "k", size ? (size < 64 ? size : 64) : 1);
    f->type = SL_VAL_INT;
    f->v.i = 1;
    event_set_static(b, e, SL_STR("trace_id"), SL_STR("0af7651916cd43dd8448eb211c80319c"));
    for (size_t i = 0; i < NSTEPS && b->n; i++) {
        if (vts[i]->process(tf[i], b) != SL_OK)
            abort();
        /* correlation fields survive every step */
        if (b->n) {
            const sl_field *t = event_get(&b->events[0], "trace_id", 8);
            if (!t || t->v.s.len != 32)
                abort();
        }
    }
    sl_buf out = SL_BUF_INIT;
    for (uint32_t i = 0; i < b->n; i++)
        json_encode_event(&out, &b->events[i]);
    if (b->n) {
        sl_arena a;
        arena_init(&a, 4096);
        char err[128];
        if (!json_parse(&a, out.p, out.len, err, sizeof err))
            abort();
        arena_free(&a);
    }
    buf_free(&out);
    batch_release(b);
    return 0;
}
