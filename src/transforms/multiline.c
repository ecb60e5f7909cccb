/* multiline.c - the `multiline` transform: joins the lines of one message (a log line and
 * the stack trace printed after it) into one event, per stream.
 *
 * Notes on the design
 *  1. Rules. A mode is a small state machine over lines, as Fluent Bit's built-in multiline
 *     parsers and fluent-plugin-detect-exceptions have them: a rule says "in these states, a
 *     line matching this pattern continues the group and moves it to that state". A line no
 *     rule of the group's state takes opens a new group, whose first state is that of the
 *     first ML_START rule it matches, else ML_LINE: a plain log line, which the exception
 *     printed after it (log4j, logback, python logging, ...) may still join. custom: a line
 *     matching start_pattern opens a group; otherwise one matching continue_pattern (any
 *     line when unset) joins the open group.
 *  2. Streams. Groups are kept per source (the batch's origin) and per stream inside it: the
 *     event's id_stream (the file) and its `stream` field (stdout and stderr share a
 *     container's file), or the fields of `group_by`. Interleaved streams never mix. A
 *     joined event is its first line's event (time, fields, stable id) with the lines
 *     joined by '\n' as its text.
 *  3. In place. A batch is walked once. A group opened and closed inside the batch stays
 *     where its first line is (its text replaced by the joined one, the other lines cut
 *     out), so single lines cost nothing. A group still open when the batch ends is copied
 *     out (its first event into a one-event batch, its text into a buffer) and its lines cut
 *     out. A group carried over from an earlier batch goes to the front of the batch that
 *     closes it: before every line of its stream in that batch.
 *  4. Acks. A carried group keeps a reference on the ack tokens that answer for its first
 *     line (sl_ack_set: its batch's own token; the ledger commits in order, so the later
 *     lines' tokens wait behind it), plus those of any event an earlier transform carried;
 *     the batch that finally carries the joined event takes them (batch_hold_acks, nheld)
 *     and they are released when every sink is done with it. So a source never commits
 *     past a line held in an open group, and after a crash the group is read again whole. A position may still be committed inside a group that was delivered
 *     (a batch ended inside it): after a crash its tail comes again as an event of its own
 *     (lines twice, never lost). The tailing sources' own `multiline:` option avoids that.
 *  5. Closing. A group closes at the next line of its stream that does not continue it;
 *     before a line would take it past max_lines or max_bytes (it is then marked
 *     multiline.truncated and the line opens the next group, in the state it reached); when
 *     the source has more than max_open_groups open (the least recently fed one goes); and
 *     timeout_ms after its last line: the engine asks (the vtable's flush) on the source's
 *     own thread each time the source collects its acks, and for everything when the source
 *     drains at its end, so a last exception is never held for ever.
 *  6. Threads. Everything of one origin runs under that origin's mutex (a source may emit
 *     from several threads); origins share nothing but the rules, which are read-only. */
#include "transforms/multiline.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/component.h"
#include "core/log.h"

/* ---- Rules ---------------------------------------------------------------------------- */

/* States every mode has: ML_START is only a "from" (a line opening a group), ML_LINE the
 * state of a group opened by a line no ML_START rule took. */
enum { ML_START = 0, ML_LINE = 1 };
#define ML_BREAK 0xFF /* to-state: the line opens a new group (custom's start_pattern) */
#define S(x) (1u << (x))

typedef struct ml_rule_def {
    uint32_t from; /* mask of states */
    uint8_t to;
    const char *re; /* NULL = any line */
} ml_rule_def;

/* Java, Kotlin, Scala (Throwable.printStackTrace, log4j, logback): the exception line after a
 * log line, frames, Caused by / Suppressed chains, "... N more". */
enum { J_EXC = 2, J_FRAME };
static const ml_rule_def java_rules[] = {
    {S(ML_START) | S(ML_LINE), J_EXC,
     "^(?:[A-Za-z_$][\\w$]*\\.)+[\\w$]*(?:Exception|Error|Throwable)(?::.*)?\\s*$"},
    {S(ML_START), J_EXC, "^Exception in thread \"[^\"]*\" \\S"},
    {S(ML_START) | S(ML_LINE) | S(J_EXC) | S(J_FRAME), J_FRAME, "^[\\t ]+at \\S"},
    {S(ML_START) | S(J_EXC) | S(J_FRAME), J_EXC, "^[\\t ]*(?:Caused by|Suppressed|Wrapped by): "},
    {S(ML_START) | S(J_EXC) | S(J_FRAME), J_FRAME,
     "^[\\t ]*\\.\\.\\. \\d+ (?:more|common frames omitted)\\s*$"},
};

/* Python tracebacks, with chained exceptions ("During handling of the above exception..."). */
enum { P_TB = 2, P_EXC, P_SEP, P_CHAIN };
static const ml_rule_def python_rules[] = {
    {S(ML_START) | S(ML_LINE) | S(P_CHAIN), P_TB,
     "^[\\t ]*(?:\\+ )?(?:Traceback|Stack|Exception Group Traceback) \\(most recent call last\\):\\s*$"},
    {S(P_TB), P_TB, "^[\\t ]+\\S"},
    {S(P_TB), P_EXC, "^[A-Za-z_][\\w.]*(?::.*)?\\s*$"},
    {S(P_EXC), P_SEP, "^\\s*$"},
    {S(P_SEP), P_CHAIN,
     "^(?:During handling of the above exception, another exception occurred|"
     "The above exception was the direct cause of the following exception):\\s*$"},
    {S(P_CHAIN), P_CHAIN, "^\\s*$"},
    {S(ML_START), P_TB, "^[\\t ]+File \""},
};

/* Go: panic / fatal error, [signal ...], goroutine dumps (function line, then its file line). */
enum { G_PANIC = 2, G_BLANK, G_STACK, G_FUNC };
static const ml_rule_def go_rules[] = {
    {S(ML_START), G_PANIC, "^(?:panic|fatal error): "},
    {S(ML_START) | S(ML_LINE) | S(G_PANIC) | S(G_BLANK), G_STACK, "^goroutine \\d+ .*\\]:\\s*$"},
    {S(G_PANIC), G_PANIC, "^(?:\\[signal |[\\t ]+\\S)"},
    {S(G_PANIC) | S(G_STACK) | S(G_BLANK), G_BLANK, "^\\s*$"},
    {S(G_BLANK), G_STACK, "^runtime stack:\\s*$"},
    {S(G_STACK), G_STACK, "^\\.\\.\\.additional frames elided\\.\\.\\.\\s*$"},
    {S(G_STACK), G_FUNC, "^(?:created by |[^\\s(]+\\()"},
    {S(G_FUNC), G_STACK, "^[\\t ]+\\S"},
    {S(G_STACK) | S(G_BLANK), G_BLANK, "^exit status \\d+\\s*$"},
    {S(ML_START), G_STACK, "^\\t\\S+\\.go:\\d+"},
};

/* Ruby: "file:line:in `method'" frames (with "from" when uncaught), Rails' "Error (msg):". */
enum { R_EXC = 2, R_FRAME };
static const ml_rule_def ruby_rules[] = {
    {S(ML_START) | S(ML_LINE) | S(R_EXC) | S(R_FRAME), R_FRAME, "^[\\t ]*(?:from )?\\S.*?:\\d+:in [`']"},
    {S(ML_START), R_EXC, "(?:Error|Exception) \\(.*\\):\\s*$"},
    {S(R_EXC), R_EXC, "^\\s*$"},
    {S(R_FRAME), R_FRAME, "^[\\t ]*\\.\\.\\. \\d+ levels\\.\\.\\.\\s*$"},
};

/* .NET: Exception.ToString() (inner exceptions " ---> ", "--- End of ... ---"), "Unhandled
 * exception.", and Microsoft.Extensions.Logging's console layout (message lines indented by
 * six spaces under the category line). */
enum { D_EXC = 2, D_FRAME };
static const ml_rule_def dotnet_rules[] = {
    {S(ML_START) | S(ML_LINE), D_EXC,
     "^[\\t ]*(?:[A-Za-z_]\\w*\\.)+\\w*(?:Exception|Error)(?: \\((?:0x[0-9A-Fa-f]+|-?\\d+)\\))?"
     "(?::.*)?\\s*$"},
    {S(ML_START), D_EXC, "^Unhandled [Ee]xception[.:] \\S"},
    {S(D_EXC), D_EXC, "^File name: '"},
    {S(ML_START) | S(D_EXC) | S(D_FRAME), D_EXC, "^[\\t ]*---> "},
    {S(ML_START) | S(ML_LINE) | S(D_EXC) | S(D_FRAME), D_FRAME, "^[\\t ]+at \\S"},
    {S(ML_START) | S(D_EXC) | S(D_FRAME), D_FRAME,
     "^[\\t ]*--- End of (?:inner exception stack trace|stack trace from previous location"
     "(?: where exception was thrown)?) ---\\s*$"},
    {S(D_EXC) | S(D_FRAME), D_FRAME, "^[\\t ]*<---\\s*$"},
    {S(ML_LINE), ML_LINE, "^ {6}\\S"},
};

static const struct {
    const ml_rule_def *v;
    size_t n;
} mode_rules[] = {
    {java_rules, SL_ARRAY_LEN(java_rules)},     {python_rules, SL_ARRAY_LEN(python_rules)},
    {go_rules, SL_ARRAY_LEN(go_rules)},         {ruby_rules, SL_ARRAY_LEN(ruby_rules)},
    {dotnet_rules, SL_ARRAY_LEN(dotnet_rules)},
};

const char *const ml_mode_names[] = {"java", "python", "go", "ruby", "dotnet", "custom", NULL};

typedef struct ml_rule {
    uint32_t from;
    uint8_t to;
    pcre2_code *re; /* NULL = any line */
    /* From the compiled pattern, for anchored ones: the bytes a match can start with and
     * its shortest length, so most lines are turned away without running the matcher. */
    bool has_first;
    uint8_t first[32];
    uint32_t minlen;
} ml_rule;

struct ml_rules {
    ml_rule *v;
    size_t n;
};

void ml_rules_free(ml_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        pcre2_code_free(r->v[i].re);
    free(r->v);
    free(r);
}

static void learn_prefilter(ml_rule *x)
{
    uint32_t opts = 0, type = 0, unit = 0, minlen = 0;
    const uint8_t *bitmap = NULL;
    pcre2_pattern_info(x->re, PCRE2_INFO_ALLOPTIONS, &opts);
    pcre2_pattern_info(x->re, PCRE2_INFO_MINLENGTH, &minlen);
    x->minlen = minlen;
    if (!(opts & PCRE2_ANCHORED) || (opts & PCRE2_CASELESS))
        return; /* the first byte of a match is the line's only when anchored */
    pcre2_pattern_info(x->re, PCRE2_INFO_FIRSTCODETYPE, &type);
    if (type == 1) {
        pcre2_pattern_info(x->re, PCRE2_INFO_FIRSTCODEUNIT, &unit);
        if (unit > 0xFF)
            return;
        memset(x->first, 0, sizeof x->first);
        x->first[unit >> 3] |= (uint8_t)(1u << (unit & 7));
        x->has_first = true;
    } else if (pcre2_pattern_info(x->re, PCRE2_INFO_FIRSTBITMAP, &bitmap) == 0 && bitmap) {
        memcpy(x->first, bitmap, sizeof x->first);
        x->has_first = true;
    }
}

static int add_rule(ml_rules *r, uint32_t from, uint8_t to, const char *re, uint32_t flags,
                    const char *what, char *err, size_t errlen)
{
    ml_rule *x = &r->v[r->n];
    *x = (ml_rule){.from = from, .to = to};
    if (re) {
        int ec;
        PCRE2_SIZE off;
        x->re = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, flags, &ec, &off, NULL);
        if (!x->re) {
            char msg[256];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s at offset %zu", what, msg,
                             (size_t)off);
        }
        pcre2_jit_compile(x->re, PCRE2_JIT_COMPLETE); /* optional: the interpreter otherwise */
        learn_prefilter(x);
    }
    r->n++;
    return SL_OK;
}

int ml_rules_new(ml_rules **out, int mode, const char *start_pattern,
                 const char *continue_pattern, char *err, size_t errlen)
{
    *out = NULL;
    ml_rules *r = sl_xcalloc(1, sizeof *r);
    int rc = SL_OK;
    if (mode == ML_MODE_CUSTOM) {
        bool has_start = start_pattern && start_pattern[0];
        bool has_cont = continue_pattern && continue_pattern[0];
        if (!has_start && !has_cont) {
            ml_rules_free(r);
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "mode: custom needs start_pattern, continue_pattern or both");
        }
        /* User patterns see any bytes: UTF-8 where valid, as the other transforms. */
        uint32_t flags = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
        r->v = sl_xcalloc(2, sizeof *r->v);
        if (has_start)
            rc = add_rule(r, S(ML_LINE), ML_BREAK, start_pattern, flags, "start_pattern", err, errlen);
        if (!rc)
            rc = add_rule(r, S(ML_LINE), ML_LINE, has_cont ? continue_pattern : NULL, flags,
                          "continue_pattern", err, errlen);
    } else if (mode >= 0 && mode < (int)SL_ARRAY_LEN(mode_rules)) {
        r->v = sl_xcalloc(mode_rules[mode].n, sizeof *r->v);
        for (size_t i = 0; !rc && i < mode_rules[mode].n; i++) {
            const ml_rule_def *d = &mode_rules[mode].v[i];
            rc = add_rule(r, d->from, d->to, d->re, 0, ml_mode_names[mode], err, errlen);
        }
    } else {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "unknown mode %d", mode);
    }
    if (rc) {
        ml_rules_free(r);
        return rc;
    }
    *out = r;
    return SL_OK;
}

void *ml_match_new(void) { return pcre2_match_data_create(1, NULL); }
void ml_match_free(void *md) { pcre2_match_data_free(md); }

/* The to-state of the first rule from `state` that takes the line, or -1. */
static int ml_eval(const ml_rules *r, void *md, int state, const char *s, size_t n)
{
    uint32_t bit = S(state);
    for (size_t i = 0; i < r->n; i++) {
        const ml_rule *x = &r->v[i];
        if (!(x->from & bit))
            continue;
        if (x->re) {
            if (n < x->minlen)
                continue;
            if (x->has_first && n && !(x->first[(uint8_t)s[0] >> 3] & (1u << ((uint8_t)s[0] & 7))))
                continue;
            /* rc 0 means "matched, ovector too small": we only ask whether it matched. */
            if (pcre2_match(x->re, (PCRE2_SPTR)(s ? s : ""), n, 0, 0, md, NULL) < 0)
                continue;
        }
        return x->to == ML_BREAK ? -1 : x->to;
    }
    return -1;
}

int ml_first(const ml_rules *r, void *md, const char *s, size_t n)
{
    int st = ml_eval(r, md, ML_START, s, n);
    return st < 0 ? ML_LINE : st;
}

int ml_next(const ml_rules *r, void *md, int state, const char *s, size_t n)
{
    return ml_eval(r, md, state, s, n);
}

/* ---- Options ---------------------------------------------------------------------------- */

typedef struct ml_config {
    int mode;
    char *start_pattern, *continue_pattern;
    char *field;
    sl_strlist group_by;
    int64_t timeout_ms;
    int64_t max_lines;
    uint64_t max_bytes;
    int64_t max_open_groups;
} ml_config;

#define O(name, type, field, def, flags, choices, min, max, help) \
    {name, type, offsetof(ml_config, field), def, flags, choices, NULL, min, max, help}
static const sl_option ml_options[] = {
    O("mode", SL_OPT_ENUM, mode, NULL, SL_OPT_REQUIRED, ml_mode_names, 0, 0,
      "which lines belong together: the stack traces of java (also Kotlin, Scala), python, go, "
      "ruby, dotnet, or custom patterns"),
    O("start_pattern", SL_OPT_STR, start_pattern, NULL, 0, NULL, 0, 0,
      "custom: a line matching this PCRE2 pattern opens a new event"),
    O("continue_pattern", SL_OPT_STR, continue_pattern, NULL, 0, NULL, 0, 0,
      "custom: a line matching this joins the open event (unset: every line that does not "
      "match start_pattern)"),
    O("field", SL_OPT_STR, field, "message", 0, NULL, 0, 0,
      "the text to join: the message, or a string field"),
    O("group_by", SL_OPT_STRLIST, group_by, NULL, 0, NULL, 0, 0,
      "fields that name a stream (default: the event's stream id, i.e. its file, and `stream`)"),
    O("timeout_ms", SL_OPT_DURATION, timeout_ms, "1000", 0, NULL, 1, 3600000,
      "an open event is sent this long after its last line"),
    O("max_lines", SL_OPT_INT, max_lines, "1000", 0, NULL, 1, 1000000,
      "lines per event; more are sent as the next event (marked multiline.truncated)"),
    O("max_bytes", SL_OPT_SIZE, max_bytes, "256KiB", 0, NULL, 1, 64 << 20,
      "bytes of joined text per event; more are sent as the next event (marked "
      "multiline.truncated)"),
    O("max_open_groups", SL_OPT_INT, max_open_groups, "1000", 0, NULL, 1, 1000000,
      "open events per source; past it the one fed least recently is sent"),
    SL_OPT_END,
};
#undef O

/* ---- State ---------------------------------------------------------------------------- */

typedef struct ml_group {
    struct ml_group *hnext;         /* hash chain */
    struct ml_group *older, *newer; /* by last line, oldest first (origin's lru sentinel) */
    uint64_t hash;
    sl_buf key;                     /* the stream's key bytes */
    int state;
    uint32_t lines;
    size_t bytes;                   /* of the joined text */
    bool carried;                   /* copied out of its batch (else `head` indexes it) */
    bool truncated;
    bool listed;                    /* in the origin's `opened` list for this batch */
    bool dead;                      /* removed during this batch; freed at its end */
    uint32_t head;
    sl_batch *first;                /* carried: one event, the first line's */
    sl_buf text;                    /* the joined text once lines > 1 or carried */
    sl_ack_set acks;                /* carried: tokens its lines answer for */
    int64_t last_ms;
} ml_group;

typedef struct ml_origin {
    struct ml_origin *next;
    char *name;
    pthread_mutex_t mu;
    ml_group **tab;                 /* power-of-two buckets */
    size_t tabcap, ngroups;
    ml_group lru;                   /* sentinel: lru.newer is the oldest */
    void *md;
    sl_buf key;                     /* scratch */
    bool *keep;
    size_t keepcap;
    ml_group **opened, **dead;      /* this batch's groups opened / removed */
    size_t nopened, capopened, ndead, capdead;
} ml_origin;

typedef struct ml_tf {
    const ml_config *cfg;
    const sl_component_ctx *cc;
    ml_rules *rules;
    bool use_message;
    size_t fieldlen;
    pthread_mutex_t mu; /* the origin list */
    ml_origin *origins;
} ml_tf;

/* Per process or flush call; added to the metrics once. */
typedef struct ml_stats {
    uint64_t joined, truncated, evicted, timeouts;
} ml_stats;

static const sl_str k_truncated = SL_STR("multiline.truncated");

static void stats_add(ml_tf *t, const ml_stats *st)
{
    if (st->joined)
        metrics_count(t->cc->metrics, "multiline_joined", st->joined);
    if (st->truncated)
        metrics_count(t->cc->metrics, "multiline_truncated", st->truncated);
    if (st->evicted)
        metrics_count(t->cc->metrics, "multiline_evicted", st->evicted);
    if (st->timeouts)
        metrics_count(t->cc->metrics, "multiline_timeouts", st->timeouts);
}

static ml_origin *origin_get(ml_tf *t, const char *name, bool create)
{
    if (!name)
        name = "";
    pthread_mutex_lock(&t->mu);
    ml_origin *o = t->origins;
    while (o && strcmp(o->name, name) != 0)
        o = o->next;
    if (!o && create) {
        o = sl_xcalloc(1, sizeof *o);
        o->name = sl_xstrdup(name);
        pthread_mutex_init(&o->mu, NULL);
        o->tabcap = 64;
        o->tab = sl_xcalloc(o->tabcap, sizeof *o->tab);
        o->lru.older = o->lru.newer = &o->lru;
        o->md = ml_match_new();
        if (!o->md)
            abort(); /* allocation failure: as sl_xmalloc */
        o->next = t->origins;
        t->origins = o;
    }
    pthread_mutex_unlock(&t->mu);
    return o;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static void put_value(sl_buf *k, const sl_field *f)
{
    uint8_t tag = f ? (uint8_t)(f->type + 1) : 0;
    buf_putc(k, (char)tag);
    if (!f)
        return;
    if (f->type == SL_VAL_STR || f->type == SL_VAL_JSON) {
        uint32_t len = f->v.s.len;
        buf_append(k, &len, sizeof len);
        buf_append(k, f->v.s.ptr, len);
    } else {
        buf_append(k, &f->v, sizeof f->v.i);
    }
}

/* The stream an event belongs to, as bytes in o->key. */
static void make_key(const ml_tf *t, ml_origin *o, const sl_event *e)
{
    sl_buf *k = &o->key;
    buf_reset(k);
    const sl_strlist *by = &t->cfg->group_by;
    if (by->n == 0) {
        buf_append(k, &e->id_stream, sizeof e->id_stream);
        put_value(k, event_get(e, "stream", 6));
        return;
    }
    for (size_t i = 0; i < by->n; i++)
        put_value(k, event_get(e, by->v[i], strlen(by->v[i])));
}

static ml_group *group_find(ml_origin *o, uint64_t h)
{
    for (ml_group *g = o->tab[h & (o->tabcap - 1)]; g; g = g->hnext)
        if (g->hash == h && g->key.len == o->key.len && memcmp(g->key.p, o->key.p, o->key.len) == 0)
            return g;
    return NULL;
}

static void lru_unlink(ml_group *g)
{
    g->older->newer = g->newer;
    g->newer->older = g->older;
}

static void lru_push_newest(ml_origin *o, ml_group *g)
{
    g->newer = &o->lru;
    g->older = o->lru.older;
    o->lru.older->newer = g;
    o->lru.older = g;
}

static void grow_table(ml_origin *o)
{
    size_t cap = o->tabcap * 2;
    ml_group **tab = sl_xcalloc(cap, sizeof *tab);
    for (size_t i = 0; i < o->tabcap; i++) {
        ml_group *g = o->tab[i];
        while (g) {
            ml_group *next = g->hnext;
            g->hnext = tab[g->hash & (cap - 1)];
            tab[g->hash & (cap - 1)] = g;
            g = next;
        }
    }
    free(o->tab);
    o->tab = tab;
    o->tabcap = cap;
}

static ml_group *group_new(ml_origin *o, uint64_t h)
{
    if (o->ngroups >= o->tabcap)
        grow_table(o);
    ml_group *g = sl_xcalloc(1, sizeof *g);
    g->hash = h;
    buf_append(&g->key, o->key.p, o->key.len);
    g->hnext = o->tab[h & (o->tabcap - 1)];
    o->tab[h & (o->tabcap - 1)] = g;
    lru_push_newest(o, g);
    o->ngroups++;
    return g;
}

static void group_free(ml_group *g)
{
    buf_free(&g->key);
    buf_free(&g->text);
    if (g->first)
        batch_release(g->first);
    ack_set_forget(&g->acks); /* emptied by emit, or at teardown (see ml_destroy) */
    free(g);
}

/* Unhooks g from the table and the list; freed at the end of the batch (it may be listed). */
static void group_remove(ml_origin *o, ml_group *g)
{
    ml_group **pp = &o->tab[g->hash & (o->tabcap - 1)];
    while (*pp != g)
        pp = &(*pp)->hnext;
    *pp = g->hnext;
    lru_unlink(g);
    o->ngroups--;
    g->dead = true;
    if (o->ndead == o->capdead) {
        o->capdead = o->capdead ? o->capdead * 2 : 16;
        o->dead = sl_xrealloc(o->dead, o->capdead * sizeof *o->dead);
    }
    o->dead[o->ndead++] = g;
}

static void free_dead(ml_origin *o)
{
    for (size_t i = 0; i < o->ndead; i++)
        group_free(o->dead[i]);
    o->ndead = 0;
}

/* ---- Text --------------------------------------------------------------------------- */

static bool get_text(const ml_tf *t, const sl_event *e, sl_str *out)
{
    if (t->use_message) {
        *out = e->message;
        return true;
    }
    const sl_field *f = event_get(e, t->cfg->field, t->fieldlen);
    if (!f || f->type != SL_VAL_STR)
        return false;
    *out = f->v.s;
    return true;
}

static void set_text(const ml_tf *t, sl_batch *b, sl_event *e, const sl_buf *text)
{
    sl_str s = batch_str(b, text->p ? text->p : "", text->len);
    if (t->use_message) {
        e->message = s;
        return;
    }
    sl_field *f = event_add_field(b, e, t->cfg->field, t->fieldlen);
    f->type = SL_VAL_STR;
    f->v.s = s;
}

static void mark_truncated(sl_batch *b, sl_event *e)
{
    if (event_get(e, k_truncated.ptr, k_truncated.len))
        return;
    sl_field *f = event_push_field(b, e, k_truncated);
    f->type = SL_VAL_BOOL;
    f->v.b = true;
}

/* ---- Groups ------------------------------------------------------------------------- */

/* g (re)starts with line i of b. */
static void group_start(ml_origin *o, ml_group *g, uint32_t i, int state, size_t len, int64_t now)
{
    g->state = state;
    g->lines = 1;
    g->bytes = len;
    g->carried = false;
    g->truncated = false;
    g->head = i;
    buf_reset(&g->text);
    g->last_ms = now;
    if (!g->listed) {
        g->listed = true;
        if (o->nopened == o->capopened) {
            o->capopened = o->capopened ? o->capopened * 2 : 16;
            o->opened = sl_xrealloc(o->opened, o->capopened * sizeof *o->opened);
        }
        o->opened[o->nopened++] = g;
    }
}

/* Appends a carried group's event to b (with its tokens), and forgets its copy. */
static void emit_carried(const ml_tf *t, sl_batch *b, ml_group *g, ml_stats *st)
{
    sl_event *e = batch_append_copy(b, &g->first->events[0]);
    set_text(t, b, e, &g->text);
    if (g->truncated)
        mark_truncated(b, e);
    batch_hold_acks(b, &g->acks);
    batch_release(g->first);
    g->first = NULL;
    st->joined += g->lines > 1;
}

/* Ends g's group: an in-batch one gets its joined text at its first line, a carried one is
 * appended to b (moved to the front later). */
static void group_finish(const ml_tf *t, sl_batch *b, ml_group *g, ml_stats *st)
{
    if (g->carried) {
        emit_carried(t, b, g, st);
        return;
    }
    if (g->lines > 1) {
        set_text(t, b, &b->events[g->head], &g->text);
        st->joined++;
    }
    if (g->truncated)
        mark_truncated(b, &b->events[g->head]);
}

/* Line i (text s) joins g. A carried group taking an event an earlier transform carried
 * (i < nheld) also takes the tokens that answer for it. */
static void group_append(ml_group *g, const sl_batch *b, uint32_t i, const ml_tf *t, sl_str s)
{
    if (g->carried && i < b->nheld)
        ack_set_add_event(&g->acks, b, i);
    if (!g->carried && g->lines == 1) {
        sl_str first = {0};
        get_text(t, &b->events[g->head], &first);
        buf_append(&g->text, first.ptr, first.len);
    }
    buf_putc(&g->text, '\n');
    buf_append(&g->text, s.ptr, s.len);
    g->lines++;
    g->bytes += 1 + s.len;
}

/* Copies an in-batch group out of b at the batch's end: it waits for its next line. */
static void group_carry(const ml_tf *t, sl_batch *b, ml_group *g)
{
    const sl_event *e = &b->events[g->head];
    if (g->lines == 1) {
        sl_str s = {0};
        get_text(t, e, &s);
        buf_append(&g->text, s.ptr, s.len);
    }
    g->first = batch_new(1);
    batch_append_copy(g->first, e);
    ack_set_add_event(&g->acks, b, g->head);
    g->carried = true;
}

/* Sends the least recently fed group of o other than `keep` (over max_open_groups). */
static void evict_one(const ml_tf *t, ml_origin *o, sl_batch *b, const ml_group *keep, ml_stats *st)
{
    ml_group *g = o->lru.newer;
    if (g == keep)
        g = g->newer;
    if (g == &o->lru)
        return;
    group_finish(t, b, g, st);
    group_remove(o, g);
    st->evicted++;
}

static bool *keep_array(ml_origin *o, size_t n)
{
    if (n > o->keepcap) {
        o->keepcap = n;
        free(o->keep);
        o->keep = sl_xmalloc(n * sizeof *o->keep);
    }
    for (size_t i = 0; i < n; i++)
        o->keep[i] = true;
    return o->keep;
}

/* Drops the lines cut out of the first n events and puts the events appended after them
 * (carried groups closed in this batch) first: they and the events an earlier transform
 * carried are the batch's nheld. */
static void rebuild(sl_batch *b, uint32_t n, const bool *keep)
{
    uint32_t nfront = b->n - n;
    if (nfront == 0) {
        batch_compact(b, keep);
        return;
    }
    sl_event *ev = sl_xmalloc(sizeof(sl_event) * (b->n ? b->n : 1));
    uint32_t w = 0, held = nfront;
    for (uint32_t i = n; i < b->n; i++)
        ev[w++] = b->events[i];
    for (uint32_t i = 0; i < n; i++) {
        if (keep[i]) {
            held += i < b->nheld;
            ev[w++] = b->events[i];
        }
    }
    free(b->events);
    b->events = ev;
    b->cap = b->n;
    b->n = w;
    b->nheld = held;
    size_t bytes = 0;
    for (uint32_t i = 0; i < w; i++)
        bytes += event_size(&ev[i]);
    b->bytes = bytes;
}

static int ml_process(void *self, sl_batch *b)
{
    ml_tf *t = self;
    if (b->n == 0)
        return SL_OK;
    ml_origin *o = origin_get(t, b->origin, true);
    pthread_mutex_lock(&o->mu);
    const ml_config *c = t->cfg;
    int64_t now = sl_mono_ms();
    uint32_t n = b->n;
    bool *keep = keep_array(o, n);
    ml_stats st = {0};
    for (uint32_t i = 0; i < n; i++) {
        sl_str s = {0};
        bool has_text = get_text(t, &b->events[i], &s);
        make_key(t, o, &b->events[i]);
        uint64_t h = hash_bytes(o->key.p, o->key.len);
        ml_group *g = group_find(o, h);
        if (!has_text) {
            /* Nothing to join: it ends its stream's group and passes as it is. */
            if (g) {
                group_finish(t, b, g, &st);
                group_remove(o, g);
            }
            continue;
        }
        int next = g ? ml_next(t->rules, o->md, g->state, s.ptr, s.len) : -1;
        if (g && next >= 0 && g->lines < (uint64_t)c->max_lines &&
            g->bytes + 1 + s.len <= c->max_bytes) {
            group_append(g, b, i, t, s);
            g->state = next;
            g->last_ms = now;
            lru_unlink(g);
            lru_push_newest(o, g);
            keep[i] = false;
            continue;
        }
        int state;
        if (g && next >= 0) {
            /* Over a limit: the group goes as it is, the line opens the next one in the
             * state it reached, so the rest of the trace still joins. */
            g->truncated = true;
            st.truncated++;
            state = next;
        } else {
            state = ml_first(t->rules, o->md, s.ptr, s.len);
        }
        if (g) {
            group_finish(t, b, g, &st);
            lru_unlink(g);
            lru_push_newest(o, g);
        } else {
            g = group_new(o, h);
        }
        group_start(o, g, i, state, s.len, now);
        while (o->ngroups > (size_t)c->max_open_groups)
            evict_one(t, o, b, g, &st);
    }
    /* Groups still open wait for their next line outside the batch. */
    for (size_t i = 0; i < o->nopened; i++) {
        ml_group *g = o->opened[i];
        g->listed = false;
        if (g->dead || g->carried)
            continue;
        group_carry(t, b, g);
        keep[g->head] = false;
    }
    o->nopened = 0;
    free_dead(o);
    rebuild(b, n, keep);
    pthread_mutex_unlock(&o->mu);
    stats_add(t, &st);
    return SL_OK;
}

static sl_batch *ml_flush(void *self, const char *origin, int64_t now_ms, bool all)
{
    ml_tf *t = self;
    ml_origin *o = origin_get(t, origin, false);
    if (!o)
        return NULL;
    pthread_mutex_lock(&o->mu);
    sl_batch *b = NULL;
    ml_stats st = {0};
    /* Outside process every open group is carried; the oldest come first. */
    for (ml_group *g = o->lru.newer; g != &o->lru; g = o->lru.newer) {
        if (!all && now_ms - g->last_ms < t->cfg->timeout_ms)
            break;
        if (!b) {
            b = batch_new(8);
            b->origin = origin;
        }
        emit_carried(t, b, g, &st);
        st.timeouts += !all;
        group_remove(o, g);
    }
    free_dead(o);
    pthread_mutex_unlock(&o->mu);
    stats_add(t, &st);
    if (b) {
        size_t bytes = 0;
        for (uint32_t i = 0; i < b->n; i++)
            bytes += event_size(&b->events[i]);
        b->bytes = bytes;
        b->nheld = b->n; /* every event came from earlier batches: the holds answer */
    }
    return b;
}

/* ---- Lifetime ------------------------------------------------------------------------- */

static void ml_destroy(void *self)
{
    ml_tf *t = self;
    if (!t)
        return;
    ml_origin *o = t->origins;
    while (o) {
        ml_origin *next = o->next;
        /* Groups still open here were never flushed (the engine flushes at every source's
         * end): their tokens belong to ledgers that free them, so they are only forgotten. */
        for (ml_group *g = o->lru.newer; g != &o->lru;) {
            ml_group *gn = g->newer;
            group_free(g);
            g = gn;
        }
        free(o->tab);
        ml_match_free(o->md);
        buf_free(&o->key);
        free(o->keep);
        free(o->opened);
        free(o->dead);
        pthread_mutex_destroy(&o->mu);
        free(o->name);
        free(o);
        o = next;
    }
    ml_rules_free(t->rules);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static int ml_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const ml_config *c = config;
    if (c->mode != ML_MODE_CUSTOM && ((c->start_pattern && c->start_pattern[0]) ||
                                      (c->continue_pattern && c->continue_pattern[0])))
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: only for mode custom (mode is %s)",
                         c->start_pattern && c->start_pattern[0] ? "start_pattern"
                                                                 : "continue_pattern",
                         ml_mode_names[c->mode]);
    ml_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = c;
    t->cc = cc;
    pthread_mutex_init(&t->mu, NULL);
    t->use_message = !c->field || strcmp(c->field, "message") == 0;
    t->fieldlen = c->field ? strlen(c->field) : 0;
    int rc = ml_rules_new(&t->rules, c->mode, c->start_pattern, c->continue_pattern, err, errlen);
    if (rc) {
        ml_destroy(t);
        return rc;
    }
    *self = t;
    return SL_OK;
}

const sl_transform_vtable sl_transform_multiline = {
    .type = "multiline",
    .help = "Joins the lines of one message (a log line and the stack trace after it) into one "
            "event, per stream",
    .options = ml_options,
    .config_size = sizeof(ml_config),
    .init = ml_init,
    .process = ml_process,
    .flush = ml_flush,
    .destroy = ml_destroy,
};
