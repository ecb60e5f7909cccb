/* tail_ml.c - the `multiline:` option of the tailing sources: see tail_ml.h. The rules are
 * the multiline transform's (transforms/multiline.h); everything runs on the source's own
 * thread. Invariant: a stream is in the list of open groups exactly when it is active. */
#include "sources/tail_ml.h"

#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "transforms/multiline.h"

static const char *const tail_ml_modes[] = {"off",  "java",   "python", "go",
                                            "ruby", "dotnet", "custom", NULL};

#define O(name, type, field, def, choices, min, max, help) \
    {name, type, offsetof(tail_ml_config, field), def, 0, choices, NULL, min, max, help}
const sl_option tail_ml_options[] = {
    O("mode", SL_OPT_ENUM, mode, "off", tail_ml_modes, 0, 0,
      "the stack traces of java (also Kotlin, Scala), python, go, ruby, dotnet, or custom "
      "patterns; off: every line is an event"),
    O("start_pattern", SL_OPT_STR, start_pattern, NULL, NULL, 0, 0,
      "custom: a line matching this PCRE2 pattern opens a new event"),
    O("continue_pattern", SL_OPT_STR, continue_pattern, NULL, NULL, 0, 0,
      "custom: a line matching this joins the open event (unset: every line that does not "
      "match start_pattern)"),
    O("timeout_ms", SL_OPT_DURATION, timeout_ms, "1000", NULL, 1, 3600000,
      "an open event is sent this long after its last line"),
    O("max_lines", SL_OPT_INT, max_lines, "1000", NULL, 1, 1000000,
      "lines per event; more are sent as the next event (the first marked log.truncated)"),
    O("max_bytes", SL_OPT_SIZE, max_bytes, "256KiB", NULL, 1, 64 << 20,
      "bytes of joined text per event; more are sent as the next event (the first marked "
      "log.truncated)"),
    SL_OPT_END,
};
#undef O

struct tail_ml {
    const tail_ml_config *cfg;
    ml_rules *rules;
    void *md;
    tail_ml_stream open; /* sentinel of the open groups, oldest last line first */
};

int tail_ml_new(tail_ml **out, const tail_ml_config *c, char *err, size_t errlen)
{
    *out = NULL;
    /* Messages start with the option's path: the config error then points at that option. */
    bool has_start = c->start_pattern && c->start_pattern[0];
    bool has_cont = c->continue_pattern && c->continue_pattern[0];
    if (c->mode != ML_MODE_CUSTOM + 1 && (has_start || has_cont))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "multiline.%s: only for mode custom (mode is %s)",
                         has_start ? "start_pattern" : "continue_pattern",
                         tail_ml_modes[c->mode]);
    if (c->mode == 0)
        return SL_OK;
    tail_ml *m = sl_xcalloc(1, sizeof *m);
    m->cfg = c;
    m->open.prev = m->open.next = &m->open;
    char msg[256];
    int rc = ml_rules_new(&m->rules, c->mode - 1, c->start_pattern, c->continue_pattern, msg,
                          sizeof msg);
    if (rc) {
        free(m);
        return sl_seterr(err, errlen, rc, "multiline.%s", msg); /* msg names the option */
    }
    m->md = ml_match_new();
    if (!m->md)
        abort(); /* allocation failure, as sl_xmalloc */
    *out = m;
    return SL_OK;
}

void tail_ml_free(tail_ml *m)
{
    if (!m)
        return;
    ml_rules_free(m->rules);
    ml_match_free(m->md);
    free(m);
}

static void unlink_stream(tail_ml_stream *st)
{
    st->prev->next = st->next;
    st->next->prev = st->prev;
    st->prev = st->next = NULL;
}

static void push_newest(tail_ml *m, tail_ml_stream *st)
{
    st->next = &m->open;
    st->prev = m->open.prev;
    m->open.prev->next = st;
    m->open.prev = st;
}

/* Emits the open group and leaves st inactive (its buffer kept for the next group). */
static void emit(tail_ml_stream *st, bool cut, tail_ml_emit_fn fn, void *arg)
{
    unlink_stream(st);
    st->active = false;
    tail_ml_group g = {st->text.p ? st->text.p : "", st->text.len, st->first_off, st->end,
                       st->ts_ns, cut};
    fn(arg, st, &g);
    buf_reset(&st->text);
}

void tail_ml_line(tail_ml *m, tail_ml_stream *st, const char *s, size_t n, uint64_t off,
                  uint64_t end, int64_t ts_ns, tail_ml_emit_fn fn, void *arg)
{
    int64_t now = sl_mono_ms();
    int state = -1;
    bool cut = false;
    if (st->active) {
        state = ml_next(m->rules, m->md, st->state, s, n);
        if (state >= 0 && st->lines < (uint64_t)m->cfg->max_lines &&
            st->text.len + 1 + n <= m->cfg->max_bytes) {
            buf_putc(&st->text, '\n');
            buf_append(&st->text, s, n);
            st->lines++;
            st->state = state;
            st->end = end;
            st->last_ms = now;
            unlink_stream(st);
            push_newest(m, st);
            return;
        }
        cut = state >= 0; /* over a limit: the line opens the next group in that state */
        emit(st, cut, fn, arg);
    }
    if (!cut)
        state = ml_first(m->rules, m->md, s, n);
    st->active = true;
    st->state = state;
    st->lines = 1;
    st->first_off = off;
    st->end = end;
    st->ts_ns = ts_ns;
    st->last_ms = now;
    buf_reset(&st->text);
    buf_append(&st->text, s, n);
    push_newest(m, st);
}

void tail_ml_close(tail_ml *m, tail_ml_stream *st, tail_ml_emit_fn fn, void *arg)
{
    if (st->active)
        emit(st, false, fn, arg);
}

void tail_ml_expire(tail_ml *m, int64_t now_ms, tail_ml_emit_fn fn, void *arg)
{
    while (m->open.next != &m->open && now_ms - m->open.next->last_ms >= m->cfg->timeout_ms)
        emit(m->open.next, false, fn, arg);
}

void tail_ml_forget(tail_ml_stream *st)
{
    if (st->active)
        unlink_stream(st);
    st->active = false;
    buf_free(&st->text);
}
