/* fuzz_checkpoint.c - arbitrary bytes as a checkpoint file: parsing must never crash, and
 * whatever parses must serialize and parse back to the same entries; the entries are then
 * read as a tailing source's positions (key "dev:ino[:a]", meta "fpcrc fplen path"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/checkpoint.h"
#include "core/component.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/metrics.h"
#include "sources/tailer.h"

static void count_position(void *arg, const tailer_position *p)
{
    if (!p->path)
        abort();
    (*(size_t *)arg)++;
}

/* The tailer's reading of the entries: no file is touched before the first scan. */
static void as_positions(sl_ckpt_store *s)
{
    static sl_metrics *m;
    if (!m) {
        log_configure(SL_LOG_ERROR, false, NULL, NULL, 0);
        m = metrics_register("fuzz", "source", "file");
    }
    sl_component_ctx cc = {.id = "fuzz", .type = "file", .data_dir = "", .metrics = m};
    tailer_opts o;
    tailer_opts_default(&o);
    tailer *t = tailer_new(&o, "fuzz", NULL);
    tailer_load_checkpoint(t, s, &cc);
    size_t n = 0;
    tailer_positions(t, count_position, &n);
    if (n > ckpt_count(s))
        abort();
    tailer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    sl_ckpt_store *s = ckpt_new();
    /* As given, then with a valid trailer appended so the line parser is reached too. */
    if (ckpt_parse(s, (const char *)data, size, err, sizeof err) == 0)
        as_positions(s);
    sl_buf b = SL_BUF_INIT;
    buf_puts(&b, "# sluice checkpoint v1\n");
    buf_append(&b, data, size);
    buf_printf(&b, "crc32c %08x\n", crc32c(0, b.p, b.len));
    if (ckpt_parse(s, b.p, b.len, err, sizeof err) == 0) {
        sl_buf again = SL_BUF_INIT;
        ckpt_serialize(s, &again);
        sl_ckpt_store *s2 = ckpt_new();
        if (ckpt_parse(s2, again.p, again.len, err, sizeof err) != 0 ||
            ckpt_count(s2) != ckpt_count(s))
            abort();
        for (size_t i = 0; i < ckpt_count(s); i++) {
            const sl_ckpt_entry *e = ckpt_at(s, i), *e2 = ckpt_get(s2, e->key);
            if (!e2 || e2->pos != e->pos || strcmp(e2->meta, e->meta) != 0)
                abort();
        }
        as_positions(s);
        ckpt_close(s2);
        buf_free(&again);
    }
    buf_free(&b);
    ckpt_close(s);
    return 0;
}
