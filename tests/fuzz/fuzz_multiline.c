/* fuzz_multiline.c - libFuzzer target for the multiline transform's grouping: any lines, in
 * any mode, over several interleaved streams, cut into batches of any size, with timeout
 * flushes at any moment and small limits. Checks what must always hold: every stream's
 * lines come out exactly once and in order (the joined texts split on '\n' give the input
 * back), and every ack token is released once everything is flushed. The same lines then
 * go through the tailing sources' multiline: option (tail_ml), with the same check and:
 * a stream's open group never starts before what it last sent ended. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/acks.h"
#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"
#include "sources/tail_ml.h"

static const char *const yamls[] = {
    "{mode: java, max_lines: 7, max_bytes: 300, max_open_groups: 3, timeout_ms: 5}",
    "{mode: python, max_lines: 7, max_bytes: 300, max_open_groups: 3, timeout_ms: 5}",
    "{mode: go, max_lines: 7, max_bytes: 300, max_open_groups: 3, timeout_ms: 5}",
    "{mode: ruby, max_lines: 7, max_bytes: 300, max_open_groups: 3, timeout_ms: 5}",
    "{mode: dotnet, max_lines: 7, max_bytes: 300, max_open_groups: 3, timeout_ms: 5}",
    "{mode: custom, start_pattern: '^[A-Z]', continue_pattern: '^\\s', max_lines: 5}",
    "{mode: custom, start_pattern: '^\\[', timeout_ms: 5}",
};
#define NMODES (sizeof yamls / sizeof yamls[0])
#define NSTREAMS 4

static const tail_ml_config tml_cfgs[] = {
    {.mode = 1, .timeout_ms = 5, .max_lines = 7, .max_bytes = 300},
    {.mode = 2, .timeout_ms = 5, .max_lines = 7, .max_bytes = 300},
    {.mode = 3, .timeout_ms = 5, .max_lines = 7, .max_bytes = 300},
    {.mode = 4, .timeout_ms = 5, .max_lines = 7, .max_bytes = 300},
    {.mode = 5, .timeout_ms = 5, .max_lines = 7, .max_bytes = 300},
    {.mode = 6, .start_pattern = "^[A-Z]", .continue_pattern = "^\\s", .timeout_ms = 5,
     .max_lines = 5, .max_bytes = 1 << 20},
    {.mode = 6, .start_pattern = "^\\[", .timeout_ms = 5, .max_lines = 1000, .max_bytes = 1 << 20},
};
static tail_ml *tmls[NMODES];

static const sl_transform_vtable *vt;
static void *tf[NMODES];
static sl_config_doc *docs[NMODES];
static void *cfgs[NMODES];

static void setup(void)
{
    static sl_component_ctx cc;
    cc.id = "ml";
    cc.type = "multiline";
    cc.data_dir = ".";
    cc.metrics = metrics_register("ml", "transform", "multiline");
    vt = registry_transform("multiline");
    for (size_t i = 0; i < NMODES; i++) {
        char err[256];
        if (!vt || config_doc_load(&docs[i], "f.yaml", yamls[i], err, sizeof err))
            abort();
        cfgs[i] = calloc(1, vt->config_size);
        const sl_option *tables[] = {vt->options};
        void *bases[] = {cfgs[i]};
        if (config_apply(tables, bases, 1, docs[i]->root, NULL, "f.yaml", "t", err, sizeof err) ||
            vt->init(&tf[i], cfgs[i], &cc, err, sizeof err))
            abort();
        if (tail_ml_new(&tmls[i], &tml_cfgs[i], err, sizeof err) || !tmls[i])
            abort();
    }
}

typedef struct line {
    const char *p;
    size_t n;
} line;

/* Per stream: the input lines, and how many the output has given back so far. */
static line in[NSTREAMS][4096];
static size_t nin[NSTREAMS], nout[NSTREAMS];

static void check_event(const sl_event *e)
{
    uint64_t s = e->id_stream;
    if (s >= NSTREAMS)
        abort();
    const char *p = e->message.ptr ? e->message.ptr : "";
    size_t n = e->message.len;
    for (;;) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) : n;
        if (nout[s] >= nin[s])
            abort(); /* a line that was never put in, or twice */
        const line *want = &in[s][nout[s]++];
        if (want->n != len || memcmp(want->p, p, len) != 0)
            abort(); /* out of order or altered */
        if (!nl)
            break;
        n -= len + 1;
        p = nl + 1;
    }
}

static void check_text(uint64_t s, const char *p, size_t n)
{
    sl_event e = {.id_stream = s, .message = {p, (uint32_t)n}};
    check_event(&e);
}

/* tail_ml: per stream, the offset where the last group sent ended. */
static uint64_t sent_end[NSTREAMS];

static void tml_emit(void *arg, tail_ml_stream *st, const tail_ml_group *g)
{
    uint64_t s = (uint64_t)st->id;
    if (g->first_off < sent_end[s] || g->end <= g->first_off)
        abort(); /* groups overlap or go backwards */
    sent_end[s] = g->end;
    check_text(s, g->text, g->len);
}

static void drain(sl_batch *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->n; i++)
        check_event(&b->events[i]);
    batch_release(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!vt)
        setup();
    if (size < 2)
        return 0;
    size_t mode = data[0] % NMODES;
    void *t = tf[mode];
    /* The last input's groups were all flushed: the origin starts empty. */
    const char *origin = "o";
    memset(nin, 0, sizeof nin);
    memset(nout, 0, sizeof nout);
    sl_ack_ledger *l = ack_ledger_new();
    size_t batches = 0;
    int64_t now = sl_mono_ms();
    sl_batch *b = NULL;
    /* Each line: one control byte (stream, cut the batch here, flush now), then text to '\n'. */
    size_t i = 1;
    while (i < size) {
        uint8_t ctl = data[i++];
        const char *p = (const char *)data + i;
        const char *nl = memchr(p, '\n', size - i);
        size_t len = nl ? (size_t)(nl - p) : size - i;
        i += len + (nl ? 1 : 0);
        uint64_t s = ctl % NSTREAMS;
        if (nin[s] == sizeof in[s] / sizeof in[s][0])
            break;
        in[s][nin[s]++] = (line){p, len};
        if (!b) {
            b = batch_new(4);
            b->origin = origin;
            b->ack = ack_token_open(l, 0, batches++);
        }
        sl_event *e = batch_add(b);
        e->message = batch_str(b, p, len);
        e->id_stream = s;
        e->id_seq = nin[s];
        if ((ctl & 0x30) == 0x30 || i >= size) {
            vt->process(t, b);
            drain(b);
            b = NULL;
        }
        if ((ctl & 0xC0) == 0xC0) {
            now += 1 + (ctl & 7);
            drain(vt->flush(t, origin, now, false));
        }
    }
    drain(vt->flush(t, origin, now, true));
    for (size_t s = 0; s < NSTREAMS; s++)
        if (nout[s] != nin[s])
            abort(); /* a line never came out */

    /* The same lines through tail_ml, a line at a time per stream (offsets: their index). */
    tail_ml *m = tmls[mode];
    tail_ml_stream st[NSTREAMS];
    memset(st, 0, sizeof st);
    memset(nout, 0, sizeof nout);
    memset(sent_end, 0, sizeof sent_end);
    size_t next[NSTREAMS] = {0};
    for (size_t s = 0; s < NSTREAMS; s++)
        st[s].id = (int)s;
    for (size_t k = 0, left = 1; left;) {
        left = 0;
        for (size_t s = 0; s < NSTREAMS; s++) {
            if (next[s] >= nin[s])
                continue;
            left = 1;
            const line *ln = &in[s][next[s]];
            tail_ml_line(m, &st[s], ln->p, ln->n, next[s], next[s] + 1, 0, tml_emit, NULL);
            next[s]++;
            if (st[s].active && st[s].first_off < sent_end[s])
                abort(); /* the open group would let a position pass sent lines */
            if ((++k & 15) == 0)
                tail_ml_expire(m, sl_mono_ms() + (int64_t)(k & 7), tml_emit, NULL);
        }
    }
    for (size_t s = 0; s < NSTREAMS; s++) {
        tail_ml_close(m, &st[s], tml_emit, NULL);
        tail_ml_forget(&st[s]);
        if (nout[s] != nin[s])
            abort();
    }
    if (ack_ledger_collect(l, NULL, NULL) != batches || ack_ledger_pending(l) != 0)
        abort(); /* a token still held */
    ack_ledger_free(l);
    return 0;
}
