/* fuzz_cwl_season.c - libFuzzer target for the cloudwatch_logs seasonal model file: any bytes
 * are parsed as they are, and again with a valid checksum trailer put in place of theirs (so
 * the body's parser is reached, not only the checksum). Whatever parses must serialize and
 * parse back to the same text, and the models it yields must learn and judge without
 * crashing or producing a verdict from a non-finite estimate. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/crc32c.h"
#include "sources/cloudwatch/cwl_season.h"

static void exercise(cwl_season_file *f)
{
    cwl_season_cfg c = {.window_ms = f->window_ms, .min_history = 1, .half_life_weeks = 4,
                        .threshold = 0.001, .change_z = 4, .change_runs = 2};
    for (size_t i = 0; i < f->n; i++) {
        cwl_season *m = f->models[i];
        for (uint32_t k = 0; k < CWL_SEASON_BUCKETS; k++) {
            const cwl_season_bucket *b = &m->b[k];
            if (!b->n)
                continue;
            /* the bucket's newest window (aligned down to the grid) and one a week on */
            int64_t t = b->ref_ms / c.window_ms * c.window_ms;
            for (int w = 0; w < 2; w++, t += CWL_SEASON_WEEK_MS) {
                cwl_season_judgement j = cwl_season_judge(m, &c, t, t + c.window_ms, 0);
                if (j.verdict != CWL_SEASON_UNKNOWN &&
                    (!isfinite(j.mean) || !isfinite(j.sd) || !(j.p >= 0 && j.p <= 1)))
                    abort();
                cwl_season_learn(m, &c, t, t + c.window_ms, (uint64_t)w * 1000);
            }
        }
    }
}

static void check(const char *buf, size_t len)
{
    cwl_season_file f = {0};
    char err[256];
    if (cwl_season_parse(&f, buf, len, err, sizeof err) != SL_OK) {
        if (f.n)
            abort(); /* a refused file leaves nothing */
        return;
    }
    sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
    cwl_season_serialize(&a, f.window_ms, f.n, (const char *const *)f.names,
                         (const cwl_season *const *)f.models);
    cwl_season_file g = {0};
    if (cwl_season_parse(&g, a.p, a.len, err, sizeof err) != SL_OK || g.n != f.n ||
        g.window_ms != f.window_ms)
        abort();
    cwl_season_serialize(&b, g.window_ms, g.n, (const char *const *)g.names,
                         (const cwl_season *const *)g.models);
    if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0)
        abort();
    exercise(&g);
    cwl_season_file_free(&g);
    cwl_season_file_free(&f);
    buf_free(&a);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check((const char *)data, size);
    /* the same body with a checksum that matches it */
    size_t body = size;
    const char *tr = size ? memmem(data, size, "crc32c ", 7) : NULL;
    if (tr)
        body = (size_t)(tr - (const char *)data);
    sl_buf s = SL_BUF_INIT;
    buf_append(&s, data, body);
    if (body && s.p[body - 1] != '\n')
        buf_putc(&s, '\n');
    buf_printf(&s, "crc32c %08x\n", crc32c(0, s.p, s.len));
    check(s.p, s.len);
    buf_free(&s);
    return 0;
}
