/* loki_encode.c - sluice events to a Loki push request, written by hand from the public
 * field numbers of Loki's push.proto (logproto):
 *
 *   PushRequest    { repeated StreamAdapter streams = 1; }
 *   StreamAdapter  { string labels = 1; repeated EntryAdapter entries = 2; }
 *   EntryAdapter   { google.protobuf.Timestamp timestamp = 1; string line = 2;
 *                    repeated LabelPairAdapter structuredMetadata = 3; }
 *   LabelPairAdapter { string name = 1; string value = 2; }
 *   Timestamp      { int64 seconds = 1; int32 nanos = 2; }
 *
 * Notes on the design:
 *  1. Each event's label set is rendered once into its canonical text `{a="x",b="y"}`
 *     (names sorted at compile time, empty values left out); that text is the stream's key
 *     in a per-request hash table and, hashed, its key in the cardinality set.
 *  2. Cardinality: the encoder remembers the 64-bit hashes of at most max_label_sets
 *     label sets. An event whose set is new once the cap is reached gets every
 *     field-derived label value replaced by LOKI_OVERFLOW_VALUE (static labels kept): the
 *     event is sent, into a bounded number of overflow streams, never dropped. The set is
 *     never emptied while the process runs (a set once admitted keeps its own stream).
 *  3. One record per event {stream, time, index}, sorted by all three: streams come out in
 *     order of first appearance, entries by time, equal times in arrival order.
 *  4. Protobuf needs every length before its bytes: a nested message reserves 5 bytes for
 *     its length and, when it ends, the real varint is written and the body moved down. */
#include "sinks/loki/loki.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/utf8.h"

typedef struct tpart {
    bool field;
    char *text; /* owned: literal text or field name */
    size_t len;
} tpart;

typedef struct tmpl {
    char *name; /* owned label / metadata name */
    tpart *parts;
    size_t n;
    bool dynamic; /* has a field part */
} tmpl;

struct loki_enc {
    tmpl *labels, *meta;
    size_t nlabels, nmeta;
    bool line_json;
    pthread_mutex_t mu; /* guards the set below */
    uint64_t *set;      /* open addressing of label set hashes; 0 = empty slot */
    size_t set_cap;     /* power of two, > 2 * max */
    uint64_t set_n, max;
};

/* ---- Templates --------------------------------------------------------------------------- */

bool loki_label_name_ok(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    return true;
}

static void tmpl_free(tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    free(t->name);
}

static void tmpl_add(tmpl *t, bool field, const char *p, size_t len)
{
    t->parts = sl_xrealloc(t->parts, (t->n + 1) * sizeof *t->parts);
    char *s = sl_xmalloc(len + 1);
    memcpy(s, p, len);
    s[len] = '\0';
    t->parts[t->n++] = (tpart){field, s, len};
    t->dynamic |= field;
}

static int tmpl_compile(tmpl *t, const char *name, const char *s, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    t->name = sl_xstrdup(name);
    if (!loki_label_name_ok(name, strlen(name)))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "'%s' is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)", name);
    const char *p = s;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            tmpl_add(t, false, p, strlen(p));
            break;
        }
        if (open > p)
            tmpl_add(t, false, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: '{{' without '}}' in \"%s\"", name,
                             s);
        const char *a = open + 2, *b = close;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: empty '{{ }}' in \"%s\"", name, s);
        tmpl_add(t, true, a, (size_t)(b - a));
        p = close + 2;
    }
    return SL_OK;
}

/* Appends the value of field f as text. Returns false for a null. */
static bool field_text(sl_buf *out, const sl_field *f)
{
    char num[32];
    switch (f->type) {
    case SL_VAL_STR:
    case SL_VAL_JSON:
        buf_append(out, f->v.s.ptr, f->v.s.len);
        return true;
    case SL_VAL_INT:
        buf_append(out, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)f->v.i));
        return true;
    case SL_VAL_FLOAT:
        json_write_double(out, f->v.f);
        return true;
    case SL_VAL_BOOL:
        buf_puts(out, f->v.b ? "true" : "false");
        return true;
    default:
        return false;
    }
}

/* Renders t for e into out (reset first). Returns false when a field is missing or null,
 * or the value is empty: the label or metadata is then left out. */
static bool tmpl_render(const tmpl *t, const sl_event *e, sl_buf *out)
{
    buf_reset(out);
    for (size_t i = 0; i < t->n; i++) {
        const tpart *pt = &t->parts[i];
        if (!pt->field) {
            buf_append(out, pt->text, pt->len);
            continue;
        }
        const sl_field *f = event_get(e, pt->text, pt->len);
        if (!f || !field_text(out, f))
            return false;
    }
    return out->len > 0;
}

static int tmpl_cmp(const void *a, const void *b)
{
    return strcmp(((const tmpl *)a)->name, ((const tmpl *)b)->name);
}

static int compile_map(tmpl **out, size_t *nout, const sl_strmap *m, const char *what, char *err,
                       size_t errlen)
{
    size_t n = m ? m->n : 0;
    *out = n ? sl_xcalloc(n, sizeof **out) : NULL;
    *nout = 0;
    for (size_t i = 0; i < n; i++) {
        char e2[256];
        int rc = tmpl_compile(&(*out)[i], m->keys[i], m->vals[i] ? m->vals[i] : "", e2,
                              sizeof e2);
        *nout = i + 1;
        if (rc != SL_OK)
            return sl_seterr(err, errlen, rc, "%s: %s", what, e2);
        for (size_t j = 0; j < i; j++)
            if (!strcmp((*out)[j].name, m->keys[i]))
                return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: '%s' given twice", what,
                                 m->keys[i]);
    }
    if (n > 1)
        qsort(*out, n, sizeof **out, tmpl_cmp);
    return SL_OK;
}

void loki_enc_free(loki_enc *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nlabels; i++)
        tmpl_free(&c->labels[i]);
    for (size_t i = 0; i < c->nmeta; i++)
        tmpl_free(&c->meta[i]);
    free(c->labels);
    free(c->meta);
    free(c->set);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

loki_enc *loki_enc_new(const sl_strmap *labels, const sl_strmap *metadata, bool line_json,
                       uint64_t max_label_sets, char *err, size_t errlen)
{
    if (max_label_sets == 0 || max_label_sets > (1u << 24)) {
        sl_seterr(err, errlen, SL_ERR_CONFIG, "max_label_sets: between 1 and %u", 1u << 24);
        return NULL;
    }
    loki_enc *c = sl_xcalloc(1, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    c->line_json = line_json;
    c->max = max_label_sets;
    if (compile_map(&c->labels, &c->nlabels, labels, "labels", err, errlen) != SL_OK ||
        compile_map(&c->meta, &c->nmeta, metadata, "structured_metadata", err, errlen) != SL_OK) {
        loki_enc_free(c);
        return NULL;
    }
    c->set_cap = 16;
    while (c->set_cap < 2 * max_label_sets + 2)
        c->set_cap <<= 1;
    c->set = sl_xcalloc(c->set_cap, sizeof *c->set);
    return c;
}

uint64_t loki_enc_label_sets(loki_enc *c)
{
    pthread_mutex_lock(&c->mu);
    uint64_t n = c->set_n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

/* ---- Label text ---------------------------------------------------------------------------- */

/* Appends p with invalid UTF-8 replaced by U+FFFD; in label syntax when quote is set. */
static void text_clean(sl_buf *out, const char *s, size_t n, bool quote)
{
    const unsigned char *p = (const unsigned char *)s;
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < n) {
        unsigned c = p[i];
        if (c >= 0x80) {
            size_t k = utf8_seq_len(p + i, n - i);
            if (k) {
                buf_append(out, p + i, k);
                i += k;
            } else {
                buf_append(out, "\xEF\xBF\xBD", 3);
                i++;
            }
            continue;
        }
        i++;
        if (!quote) {
            buf_putc(out, (char)c);
        } else if (c == '\\' || c == '"') {
            buf_putc(out, '\\');
            buf_putc(out, (char)c);
        } else if (c == '\n') {
            buf_append(out, "\\n", 2);
        } else if (c == '\t') {
            buf_append(out, "\\t", 2);
        } else if (c == '\r') {
            buf_append(out, "\\r", 2);
        } else if (c < 0x20 || c == 0x7F) {
            char x[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            buf_append(out, x, 4);
        } else {
            buf_putc(out, (char)c);
        }
    }
}

void loki_label_value(sl_buf *out, const char *p, size_t n)
{
    buf_putc(out, '"');
    text_clean(out, p, n, true);
    buf_putc(out, '"');
}

/* Writes the label set of e into out (reset): `{a="x",...}` or, json, `{"a":"x",...}`.
 * overflow: field-derived values become LOKI_OVERFLOW_VALUE. tmp is scratch. */
static void render_labels(const loki_enc *c, const sl_event *e, bool overflow, bool json,
                          sl_buf *out, sl_buf *tmp)
{
    buf_reset(out);
    buf_putc(out, '{');
    bool first = true;
    for (size_t i = 0; i < c->nlabels; i++) {
        const tmpl *t = &c->labels[i];
        if (!tmpl_render(t, e, tmp))
            continue;
        const char *v = tmp->p;
        size_t vlen = tmp->len;
        if (overflow && t->dynamic) {
            v = LOKI_OVERFLOW_VALUE;
            vlen = sizeof LOKI_OVERFLOW_VALUE - 1;
        }
        if (!first)
            buf_putc(out, ',');
        first = false;
        if (json) {
            buf_putc(out, '"');
            buf_puts(out, t->name);
            buf_append(out, "\":\"", 3);
            json_escape(out, v, vlen);
            buf_putc(out, '"');
        } else {
            buf_puts(out, t->name);
            buf_putc(out, '=');
            loki_label_value(out, v, vlen);
        }
    }
    if (first)
        buf_puts(out, json ? "\"" LOKI_DEFAULT_LABEL "\":\"" LOKI_DEFAULT_VALUE "\""
                           : LOKI_DEFAULT_LABEL "=\"" LOKI_DEFAULT_VALUE "\"");
    buf_putc(out, '}');
}

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    h ^= h >> 31;
    h *= 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
    return h ? h : 1;
}

/* True when the set with hash h may have its own stream: already known, or admitted now. */
static bool admit(loki_enc *c, uint64_t h, loki_stats *st)
{
    bool ok = false;
    pthread_mutex_lock(&c->mu);
    size_t mask = c->set_cap - 1, i = (size_t)h & mask;
    while (c->set[i] && c->set[i] != h)
        i = (i + 1) & mask;
    if (c->set[i]) {
        ok = true;
    } else if (c->set_n < c->max) {
        c->set[i] = h;
        c->set_n++;
        st->new_sets++;
        ok = true;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

/* ---- Protobuf ------------------------------------------------------------------------------ */

static inline void pb_varint(sl_buf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    buf_append(b, tmp, n);
}

static void pb_tag(sl_buf *b, unsigned field, unsigned wire) { pb_varint(b, field << 3 | wire); }

static void pb_bytes(sl_buf *b, unsigned field, const void *p, size_t n)
{
    pb_tag(b, field, 2);
    pb_varint(b, n);
    buf_append(b, p, n);
}

static size_t pb_begin(sl_buf *b, unsigned field)
{
    pb_tag(b, field, 2);
    buf_reserve(b, 5);
    b->len += 5;
    return b->len;
}

static void pb_end(sl_buf *b, size_t mark)
{
    size_t len = b->len - mark;
    unsigned char tmp[5];
    size_t k = 0;
    uint64_t v = len;
    while (v >= 0x80) {
        tmp[k++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[k++] = (unsigned char)v;
    memcpy(b->p + mark - 5, tmp, k);
    if (k < 5)
        memmove(b->p + mark - 5 + k, b->p + mark, len);
    b->len -= 5 - k;
}

/* ---- Encoding ------------------------------------------------------------------------------ */

typedef struct rec {
    uint32_t stream, idx;
    int64_t ts;
} rec;

typedef struct stream {
    size_t off, len; /* key in the keys buffer */
    uint64_t h;
    uint32_t first;  /* index of its first event */
    bool overflow;
} stream;

static int rec_cmp(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->stream != y->stream)
        return x->stream < y->stream ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Appends the line of e: its message, or the event as JSON (line_json, or no message). */
static void line_of(const loki_enc *c, const sl_event *e, sl_buf *out)
{
    buf_reset(out);
    if (c->line_json || e->message.len == 0)
        json_encode_event(out, e);
    else
        buf_append(out, e->message.ptr, e->message.len);
}

static void write_entry_pb(const loki_enc *c, sl_buf *out, const sl_event *e, int64_t ts,
                           sl_buf *tmp, sl_buf *clean)
{
    size_t em = pb_begin(out, 2);
    size_t tm = pb_begin(out, 1);
    int64_t sec = ts / 1000000000, nsec = ts % 1000000000;
    if (nsec < 0) {
        nsec += 1000000000;
        sec--;
    }
    if (sec) {
        pb_tag(out, 1, 0);
        pb_varint(out, (uint64_t)sec);
    }
    if (nsec) {
        pb_tag(out, 2, 0);
        pb_varint(out, (uint64_t)nsec);
    }
    pb_end(out, tm);
    line_of(c, e, tmp);
    pb_bytes(out, 2, tmp->p, tmp->len);
    for (size_t i = 0; i < c->nmeta; i++) {
        if (!tmpl_render(&c->meta[i], e, tmp))
            continue;
        buf_reset(clean);
        text_clean(clean, tmp->p, tmp->len, false);
        size_t mm = pb_begin(out, 3);
        pb_bytes(out, 1, c->meta[i].name, strlen(c->meta[i].name));
        pb_bytes(out, 2, clean->p, clean->len);
        pb_end(out, mm);
    }
    pb_end(out, em);
}

static void write_entry_json(const loki_enc *c, sl_buf *out, const sl_event *e, int64_t ts,
                             sl_buf *tmp)
{
    buf_printf(out, "[\"%lld\",\"", (long long)ts);
    line_of(c, e, tmp);
    json_escape(out, tmp->p, tmp->len);
    buf_putc(out, '"');
    bool first = true;
    for (size_t i = 0; i < c->nmeta; i++) {
        if (!tmpl_render(&c->meta[i], e, tmp))
            continue;
        buf_append(out, first ? ",{\"" : ",\"", first ? 3 : 2);
        first = false;
        buf_puts(out, c->meta[i].name);
        buf_append(out, "\":\"", 3);
        json_escape(out, tmp->p, tmp->len);
        buf_putc(out, '"');
    }
    if (!first)
        buf_putc(out, '}');
    buf_putc(out, ']');
}

void loki_encode(loki_enc *c, sl_buf *out, bool json, sl_event *const *events, size_t n,
                 int64_t now_ns, loki_stats *st)
{
    loki_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    rec *recs = n ? sl_xmalloc(n * sizeof *recs) : NULL;
    stream *streams = NULL;
    size_t nstreams = 0, cap_streams = 0;
    size_t tcap = 16;
    while (tcap < 2 * n + 2)
        tcap <<= 1;
    uint32_t *table = sl_xcalloc(tcap, sizeof *table); /* stream index + 1 */
    sl_buf keys = SL_BUF_INIT, key = SL_BUF_INIT, tmp = SL_BUF_INIT, clean = SL_BUF_INIT;

    for (size_t i = 0; i < n; i++) {
        const sl_event *e = events[i];
        bool overflow = false;
        uint32_t sidx = UINT32_MAX;
        for (int pass = 0; pass < 2 && sidx == UINT32_MAX; pass++) {
            render_labels(c, e, overflow, false, &key, &tmp);
            uint64_t h = hash_bytes(key.p, key.len);
            size_t slot = (size_t)h & (tcap - 1);
            while (table[slot]) {
                const stream *s = &streams[table[slot] - 1];
                if (s->h == h && s->len == key.len && !memcmp(keys.p + s->off, key.p, key.len)) {
                    sidx = table[slot] - 1;
                    break;
                }
                slot = (slot + 1) & (tcap - 1);
            }
            if (sidx != UINT32_MAX)
                break;
            if (!overflow && !admit(c, h, st)) {
                overflow = true; /* render again with overflow values, look up again */
                st->overflowed++;
                continue;
            }
            if (nstreams == cap_streams) {
                cap_streams = cap_streams ? 2 * cap_streams : 8;
                streams = sl_xrealloc(streams, cap_streams * sizeof *streams);
            }
            streams[nstreams] = (stream){keys.len, key.len, h, (uint32_t)i, overflow};
            buf_append(&keys, key.p, key.len);
            table[slot] = (uint32_t)++nstreams;
            sidx = (uint32_t)(nstreams - 1);
        }
        recs[i] = (rec){sidx, (uint32_t)i, e->ts_ns > 0 ? e->ts_ns : now_ns};
    }
    if (n > 1)
        qsort(recs, n, sizeof *recs, rec_cmp);

    if (json)
        buf_puts(out, "{\"streams\":[");
    size_t i = 0;
    while (i < n) {
        const stream *s = &streams[recs[i].stream];
        size_t j = i;
        while (j < n && recs[j].stream == recs[i].stream)
            j++;
        if (json) {
            if (i)
                buf_putc(out, ',');
            buf_puts(out, "{\"stream\":");
            render_labels(c, events[s->first], s->overflow, true, &key, &tmp);
            buf_append(out, key.p, key.len);
            buf_puts(out, ",\"values\":[");
            for (size_t k = i; k < j; k++) {
                if (k > i)
                    buf_putc(out, ',');
                write_entry_json(c, out, events[recs[k].idx], recs[k].ts, &tmp);
            }
            buf_puts(out, "]}");
        } else {
            size_t sm = pb_begin(out, 1);
            pb_bytes(out, 1, keys.p + s->off, s->len);
            for (size_t k = i; k < j; k++)
                write_entry_pb(c, out, events[recs[k].idx], recs[k].ts, &tmp, &clean);
            pb_end(out, sm);
        }
        i = j;
    }
    if (json)
        buf_puts(out, "]}");
    buf_free(&keys);
    buf_free(&key);
    buf_free(&tmp);
    buf_free(&clean);
    free(table);
    free(streams);
    free(recs);
}

/* ---- Answers ------------------------------------------------------------------------------- */

static bool has(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k > n)
        return false;
    for (size_t i = 0; i + k <= n; i++)
        if (!strncasecmp(p + i, needle, k))
            return true;
    return false;
}

loki_outcome loki_classify(long status, const char *body, size_t n, const char **kind)
{
    if (!body)
        n = 0;
    n = SL_MIN(n, (size_t)4096); /* Loki puts the reason first; no need to read further */
    if (status >= 200 && status < 300) {
        *kind = "ok";
        return LOKI_OK;
    }
    if (status == 429) {
        *kind = "rate_limited";
        return LOKI_RETRY;
    }
    if (status == 408 || status >= 500 || status < 100) {
        *kind = "http_retry";
        return LOKI_RETRY;
    }
    if (status == 401 || status == 403) {
        *kind = "http_auth";
        return LOKI_AUTH;
    }
    if (status == 413) { /* whatever the body says: a proxy's page is no Loki text */
        *kind = "too_large";
        return LOKI_TOO_LARGE;
    }
    if (status == 400 && has(body, n, "structured metadata") && has(body, n, "disallowed")) {
        *kind = "structured_metadata";
        return LOKI_HELD;
    }
    if (has(body, n, "out of order") || has(body, n, "too far behind"))
        *kind = "out_of_order";
    else if (has(body, n, "too old") || has(body, n, "greater than max") ||
             has(body, n, "greater_than_max"))
        *kind = "too_old";
    else if (has(body, n, "too new") || has(body, n, "too far in the future"))
        *kind = "too_new";
    else if (has(body, n, "max entry size") || has(body, n, "line too long"))
        *kind = "line_too_long";
    else if (has(body, n, "stream limit") || has(body, n, "streams limit"))
        *kind = "stream_limit";
    else if (has(body, n, "label"))
        *kind = "bad_labels";
    else
        *kind = "http_reject";
    return LOKI_REJECT;
}
