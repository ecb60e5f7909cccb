/* fuzz_parse.c - libFuzzer target for the parse transform (logfmt tokenizer, PCRE2-driven
 * regex parser, JSON, auto; time_format and types) followed by the OTLP encoders: any line must parse or be
 * refused cleanly, and the OTLP JSON of whatever came out must be valid JSON. */
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
#include "sinks/otlp/otlp.h"
#include "transforms/parse.h"

static const char *const modes[] = {
    "{format: json}",
    "{format: logfmt, on_error: drop}",
    "{format: auto}",
    "{format: regex, pattern: '^(?<ts>\\S+) (?<level>[A-Z]+) (?:\\[(?<trace_id>[0-9a-f]+)\\] )?(?<message>.*)$'}",
    "{format: json, field: raw, target: p}",
    "{format: logfmt, time_key: at, time_format: '%d/%b/%Y:%H:%M:%S.%L %z', timezone: local, "
    "types: {at: string, n: integer, f: float, b: bool, s: string}}",
    "{format: regex, pattern: '^(?<time>[^|]*)\\|(?<n>[^|]*)\\|(?<message>.*)', "
    "time_format: '%b %d %H:%M:%S', timezone: '+05:30', types: {n: float}}",
};
#define NMODES (sizeof modes / sizeof modes[0])

static const sl_transform_vtable *vt;
static void *tf[NMODES];
static sl_config_doc *docs[NMODES]; /* kept reachable for the whole run */
static void *cfgs[NMODES];

static void setup(void)
{
    vt = registry_transform("parse");
    static sl_component_ctx cc;
    cc.id = "p";
    cc.type = "parse";
    cc.data_dir = ".";
    cc.metrics = metrics_register("p", "transform", "parse");
    for (size_t i = 0; i < NMODES; i++) {
        char err[256];
        if (config_doc_load(&docs[i], "f.yaml", modes[i], err, sizeof err))
            abort();
        sl_config_doc *doc = docs[i];
        void *cfg = cfgs[i] = calloc(1, vt->config_size);
        const sl_option *tables[] = {vt->options};
        void *bases[] = {cfg};
        if (config_apply(tables, bases, 1, doc->root, NULL, "f.yaml", "p", err, sizeof err) ||
            vt->init(&tf[i], cfg, &cc, err, sizeof err))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vt)
        setup();
    for (size_t m = 0; m < NMODES; m++) {
        sl_batch *b = batch_new(2);
        sl_event *e = batch_add(b);
        e->message = batch_str(b, (const char *)data, size);
        event_set_str(b, e, "raw", (const char *)data, size);
        event_set_static(b, e, SL_STR("trace_id"), SL_STR("0af7651916cd43dd8448eb211c80319c"));
        if (vt->process(tf[m], b) != SL_OK)
            abort();
        sl_event *evs[2];
        for (uint32_t i = 0; i < b->n; i++)
            evs[i] = &b->events[i];
        otlp_map map = {.body_field = "body"};
        sl_buf out = SL_BUF_INIT;
        otlp_encode(&out, false, evs, b->n, &map, 1);
        buf_reset(&out);
        otlp_encode(&out, true, evs, b->n, &map, 1);
        sl_arena a;
        arena_init(&a, 4096);
        char err[128];
        if (!json_parse(&a, out.p, out.len, err, sizeof err))
            abort();
        arena_free(&a);
        buf_free(&out);
        batch_release(b);
    }
    return 0;
}
