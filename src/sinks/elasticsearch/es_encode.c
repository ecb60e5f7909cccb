/* es_encode.c - Elasticsearch documents from events (nested objects, sanitised keys,
 * repaired UTF-8) and index / data stream names from templates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "core/common.h"
#include "es.h"
#include "formats/json.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define ES_KEY_MAX 255
#define ES_MAX_SEGS 32
#define ES_LEAF_DOM 100 /* leaf whose value is a parsed JSON node (array or scalar) */

/* ---- Index names ------------------------------------------------------------------------ */

/* What Elasticsearch and OpenSearch refuse in an index or data stream name: upper case,
 * \ / * ? " < > | space , # : and control characters (invalid_index_name_exception on
 * every document: the literal text of `index` is checked when the config is read). */
static bool index_char_ok(unsigned char c)
{
    return !(c >= 'A' && c <= 'Z') && c >= 0x20 && c != 0x7f && !strchr("\\/*?\"<>| ,#:", c);
}

static const name_rules index_rules = {
    .what = "index", .dates = "YmdHyj%", .lit_ok = index_char_ok,
    .lit_desc = "an index name (lower case, none of \\ / * ? \" < > | , # : or space)"};

/* A name may not start with '-', '_' or '+' either. */
static bool lead_bad(char c)
{
    return c == '-' || c == '_' || c == '+';
}

int es_name_compile(es_name_tmpl *t, const char *s, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    int rc = name_tmpl_compile(&t->t, s, &index_rules, err, errlen);
    if (rc != SL_OK)
        return rc;
    if (t->t.n == 0) {
        es_name_free(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "index name is empty");
    }
    const name_part *p0 = &t->t.parts[0];
    const char *bad = NULL;
    if (p0->kind == NAME_LIT && lead_bad(p0->text[0]))
        bad = "may not start with '-', '_' or '+'";
    else if (t->t.n == 1 && p0->kind == NAME_LIT &&
             (strcmp(p0->text, ".") == 0 || strcmp(p0->text, "..") == 0))
        bad = "may not be '.' or '..'";
    else if (t->t.n == 1 && p0->kind == NAME_LIT && p0->len > 255)
        bad = "is longer than 255 bytes";
    if (bad) {
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "index \"%.80s%s\": an index name %s", s,
                       strlen(s) > 80 ? "..." : "", bad);
        es_name_free(t);
        return rc;
    }
    t->dynamic = t->t.dynamic;
    t->fields = t->t.fields;
    size_t plen = 0;
    if (t->t.parts[0].kind == NAME_LIT)
        plen = SL_MIN(t->t.parts[0].len, sizeof t->prefix - 1);
    memcpy(t->prefix, t->t.parts[0].text, plen);
    t->prefix[plen] = '\0';
    return SL_OK;
}

void es_name_free(es_name_tmpl *t)
{
    name_tmpl_free(&t->t);
    memset(t, 0, sizeof *t);
}

/* Index names are lowercase and refuse \ / * ? " < > | space , # : */
static char name_char(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c + 32);
    if (c < 0x20 || c >= 0x7f || strchr("\\/*?\"<>| ,#:", c))
        return '_';
    return (char)c;
}

void es_name_render(const es_name_tmpl *t, const sl_event *e, sl_buf *out)
{
    size_t start = out->len;
    /* Batches share hours: the broken-down time is cached per hour and thread. */
    static _Thread_local int64_t cached_hour = INT64_MIN;
    static _Thread_local struct tm ctm;
    for (size_t i = 0; i < t->t.n; i++) {
        const name_part *p = &t->t.parts[i];
        if (p->kind == NAME_LIT) {
            buf_append(out, p->text, p->len);
        } else if (p->kind == NAME_DATE) {
            int64_t sec = name_event_sec(e);
            int64_t hour = sec >= 0 ? sec / 3600 : (sec - 3599) / 3600;
            if (hour != cached_hour) {
                name_gmtime(hour * 3600, &ctm);
                cached_hour = hour;
            }
            char tmp[8];
            buf_append(out, tmp, (size_t)name_date_digits(p->text[0], &ctm, tmp));
        } else {
            char num[32];
            const char *v;
            size_t vlen = name_field_value(p, e, 100, num, &v);
            buf_reserve(out, vlen);
            for (size_t k = 0; k < vlen; k++)
                out->p[out->len++] = name_char((unsigned char)v[k]);
        }
    }
    /* A field value at the start ("_system", "-") must not begin the name with what
     * Elasticsearch refuses there (the literal start was checked by es_name_compile). */
    if (t->t.parts[0].kind == NAME_LIT)
        return;
    size_t k = start;
    while (k < out->len && lead_bad(out->p[k]))
        k++;
    if (k > start) {
        memmove(out->p + start, out->p + k, out->len - k);
        out->len -= k - start;
    }
    if (out->len == start)
        buf_append(out, "unknown", 7);
}

/* ---- Documents --------------------------------------------------------------------------
 *
 * Layout cache: a document's structure (sanitised keys, braces, commas, key order) depends
 * on the event's keys alone, never on its values. So the encoder keeps the structure of
 * the last document it built the long way as literal runs between field values, and
 * replays it for the next event whose keys are the same bytes in the same order (every
 * event of one kubernetes_logs file, of one parser's output...): one key comparison per
 * field instead of sanitising, sorting and nesting. An event with a raw JSON field is
 * never cached (its keys come from the value) and leaves the cache as it was. Output is
 * byte-for-byte the same either way (tests/unit/test_elasticsearch.c and
 * tests/fuzz/fuzz_es_document.c compare the two). */

typedef struct es_leaf {
    uint32_t koff, klen; /* sanitised key in scratch->keys */
    uint32_t field;      /* index in the event's fields (event_field) */
    uint8_t type;        /* sl_val_type, or ES_LEAF_DOM */
    union {
        sl_str s;
        int64_t i;
        double f;
        bool b;
        const json_value *dom;
    } v;
} es_leaf;

typedef struct es_step {
    uint32_t toff, tlen; /* literal text before the value, in lay_text */
    uint32_t field;      /* index in the event's fields (event_field) of the value */
} es_step;

/* Value cache of one step (see "Value cache" below): the value the step saw last, by
 * identity (a string's pointer and length, an integer or boolean itself), and, once the
 * same value came twice in a row, the step's literal and rendered value in s->vals. */
typedef struct es_vcache {
    const char *ptr;
    int64_t i;
    uint32_t len;
    uint32_t roff, rlen; /* in s->vals, when cached */
    uint8_t type;
    bool seen, cached;
} es_vcache;

#define ES_VC_MAX 1024 /* longest literal + value kept rendered */

struct es_scratch {
    sl_buf keys;
    es_leaf *leaves;
    uint32_t *order;
    size_t cap;
    size_t n;
    sl_arena arena; /* parsed JSON field values, reset per event */
    bool arena_used;
    /* Layout cache (see above): valid when lay_ok, for lay_nf fields whose raw keys are
     * lay_keys (lengths lay_klen) and for lay_flatten. */
    bool lay_ok, lay_flatten;
    uint32_t lay_nf;
    sl_buf lay_keys;
    uint32_t *lay_klen;
    const char **lay_kptr; /* a pointer each key was seen at in this run, or NULL */
    size_t lay_kcap;
    sl_buf lay_text; /* literal runs */
    es_step *steps;  /* one per written value, in output order */
    es_vcache *vc;   /* one per step (steps_cap of them) */
    size_t nsteps, steps_cap;
    uint32_t tail_off, tail_len; /* closing braces after the last value */
    /* Value cache: on between es_scratch_begin calls (the caller's promise that values
     * keep their bytes while their pointers can reach the encoder). */
    bool vc_on, vc_dirty;
    sl_buf vals, vals2; /* rendered steps; vals2 is the spare of vc_relayout */
    /* Shared fields (event.h), with the value cache on: lay_shared (lay_nshared of them,
     * their keys lay_shared_klen bytes of lay_keys) matched the layout in this run, so
     * another event pointing at them needs no check of those keys; the value cache holds
     * the values of prev_shared (prev_nshared), those of the event replayed last, so a
     * step of a field in them needs no check of its value either. */
    const sl_field *lay_shared, *prev_shared;
    uint32_t lay_nshared, lay_shared_klen, prev_nshared;
    /* Runs of such steps: run_end[i] ends the run of cached steps of the first runs_nshared
     * fields from step i whose rendered values follow each other in vals (i itself when
     * step i is not one). Valid while runs_ok: anything that changes which steps are
     * cached or where vals keeps them clears it. */
    uint32_t *run_end;
    uint32_t runs_nshared;
    bool runs_ok;
};

es_scratch *es_scratch_new(void)
{
    es_scratch *s = sl_xcalloc(1, sizeof *s);
    arena_init(&s->arena, 16384);
    return s;
}

void es_scratch_free(es_scratch *s)
{
    if (!s)
        return;
    buf_free(&s->keys);
    buf_free(&s->lay_keys);
    buf_free(&s->lay_text);
    free(s->lay_klen);
    free(s->lay_kptr);
    free(s->steps);
    free(s->vc);
    free(s->run_end);
    buf_free(&s->vals);
    buf_free(&s->vals2);
    free(s->leaves);
    free(s->order);
    arena_free(&s->arena);
    free(s);
}

static void vc_clear(es_scratch *s)
{
    if (s->vc)
        memset(s->vc, 0, s->steps_cap * sizeof *s->vc);
    buf_reset(&s->vals);
    s->vc_dirty = false;
    s->prev_shared = NULL;
    s->runs_ok = false;
}

void es_scratch_begin(es_scratch *s)
{
    s->vc_on = true;
    vc_clear(s);
    s->lay_shared = s->prev_shared = NULL;
    if (s->lay_kptr) /* key pointers of an earlier run may have been freed */
        memset(s->lay_kptr, 0, s->lay_kcap * sizeof *s->lay_kptr);
}

static es_leaf *leaf_new(es_scratch *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->leaves = sl_xrealloc(s->leaves, s->cap * sizeof *s->leaves);
        s->order = sl_xrealloc(s->order, s->cap * sizeof *s->order);
    }
    s->order[s->n] = (uint32_t)s->n;
    return &s->leaves[s->n++];
}

/* Names Elasticsearch and OpenSearch keep for their metadata fields: a document holding
 * one at the top level is refused whole ("Field [_id] is a metadata field and cannot be
 * added inside a document"), so such a field gets one more '_' (a JSON log with "_id"). */
static const char *const meta_names[] = {
    "_id", "_index", "_source", "_routing", "_type", "_version", "_seq_no", "_primary_term",
    "_field_names", "_ignored", "_ignored_source", "_data_stream_timestamp", "_doc_count",
    "_tier", "_nested_path", "_tsid", "_ts_routing_hash", "_feature", "_size", NULL,
};

static bool meta_name(const char *k, size_t n)
{
    if (n < 3 || k[0] != '_')
        return false;
    for (const char *const *m = meta_names; *m; m++)
        if (strlen(*m) == n && memcmp(*m, k, n) == 0)
            return true;
    return false;
}

/* A Kubernetes label or annotation key is one name, dots and all (app.kubernetes.io/name):
 * nested at its dots it would make kubernetes.labels.app an object in one document and a
 * value in another (a pod labelled app=web), and Elasticsearch refuses the later one
 * ("object mapping ... found a concrete value"). Its dots become '_' instead, as Beats'
 * add_kubernetes_metadata (labels.dedot, annotations.dedot) writes them. k[0..n) is a key
 * as key_put builds it, '.' between segments. */
static void dedot_label_key(char *k, size_t n)
{
    static const struct {
        const char *p;
        size_t n;
    } pre[] = {{"kubernetes.labels.", 18}, {"kubernetes.annotations.", 23},
               {"kubernetes.namespace_labels.", 28}, {"kubernetes.namespace_annotations.", 33}};
    if (n <= 18 || memcmp(k, "kubernetes.", 11) != 0)
        return;
    for (size_t i = 0; i < SL_ARRAY_LEN(pre); i++) {
        if (n > pre[i].n && memcmp(k, pre[i].p, pre[i].n) == 0) {
            for (size_t j = pre[i].n; j < n; j++)
                if (k[j] == '.')
                    k[j] = '_';
            return;
        }
    }
}

/* Appends the sanitised form of prefix + "." + key to s->keys; returns its length.
 * Empty segments go, the whole key is cut to 255 bytes on a UTF-8 boundary, and a key
 * left empty becomes "_empty". With flatten, '.' becomes '_'; without it, so do the dots
 * of a Kubernetes label or annotation key (dedot_label_key). A top-level name the
 * document or the server keeps for itself (message, @timestamp, metadata fields) gets a
 * leading '_'. */
static uint32_t key_put(es_scratch *s, const char *pre, size_t prelen, const char *k,
                        size_t klen, bool flatten)
{
    size_t start = s->keys.len;
    buf_reserve(&s->keys, prelen + klen + 8);
    char sep = flatten ? '_' : '.';
    for (int part = 0; part < 2; part++) {
        const char *p = part ? k : pre;
        size_t n = part ? klen : prelen;
        size_t i = 0;
        while (i < n) {
            size_t j = i;
            while (j < n && p[j] != '.')
                j++;
            if (j > i) {
                if (s->keys.len > start)
                    s->keys.p[s->keys.len++] = sep;
                memcpy(s->keys.p + s->keys.len, p + i, j - i);
                s->keys.len += j - i;
            }
            i = j + 1;
        }
    }
    size_t len = s->keys.len - start;
    if (!flatten)
        dedot_label_key(s->keys.p + start, len);
    if (len > ES_KEY_MAX) {
        len = ES_KEY_MAX;
        while (len > 0 && ((unsigned char)s->keys.p[start + len] & 0xc0) == 0x80)
            len--; /* do not cut a UTF-8 sequence */
        while (len > 0 && s->keys.p[start + len - 1] == sep)
            len--;
    }
    if (len == 0) {
        s->keys.len = start;
        buf_append(&s->keys, "_empty", 6);
        return 6;
    }
    /* The document's own top-level keys cannot be shadowed by a field. */
    const char *kk = s->keys.p + start;
    const char *dot = flatten ? NULL : memchr(kk, '.', len);
    size_t top = dot ? (size_t)(dot - kk) : len;
    if ((len >= 7 && memcmp(kk, "message", 7) == 0 && (len == 7 || kk[7] == sep)) ||
        (len >= 10 && memcmp(kk, "@timestamp", 10) == 0 && (len == 10 || kk[10] == sep)) ||
        meta_name(kk, top)) {
        s->keys.len = start + len;
        buf_reserve(&s->keys, 1);
        memmove(s->keys.p + start + 1, s->keys.p + start, len);
        s->keys.p[start] = '_';
        s->keys.len = start + len + 1;
        return (uint32_t)(len + 1);
    }
    s->keys.len = start + len;
    return (uint32_t)len;
}

/* Adds the members of a parsed JSON object as leaves under `pre`. */
static void add_dom(es_scratch *s, const char *pre, size_t prelen, const json_value *v,
                    bool flatten, int depth)
{
    for (size_t i = 0; i < v->n; i++) {
        const json_value *c = v->items[i];
        size_t ko = s->keys.len;
        uint32_t kl = key_put(s, pre, prelen, v->keys[i], strlen(v->keys[i]), flatten);
        if (c->type == JSON_OBJ && c->n > 0 && depth < 16) {
            /* the prefix lives in s->keys, which may move: copy it */
            char *p = arena_strndup(&s->arena, s->keys.p + ko, kl);
            s->keys.len = ko;
            add_dom(s, p, kl, c, flatten, depth + 1);
            continue;
        }
        es_leaf *l = leaf_new(s);
        l->koff = (uint32_t)ko;
        l->klen = kl;
        l->field = UINT32_MAX;
        l->type = ES_LEAF_DOM;
        l->v.dom = c;
    }
}

/* Orders keys path-wise: '.' sorts before every other byte so "a" < "a.b" < "a-b" and
 * every key under a prefix is contiguous. */
static int key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t n = SL_MIN(al, bl);
    for (size_t i = 0; i < n; i++) {
        int ca = a[i] == '.' ? 0 : (unsigned char)a[i] + 1;
        int cb = b[i] == '.' ? 0 : (unsigned char)b[i] + 1;
        if (ca != cb)
            return ca - cb;
    }
    return al < bl ? -1 : al > bl;
}

static void sort_leaves(es_scratch *s)
{
    const char *kb = s->keys.p;
    for (size_t i = 1; i < s->n; i++) {
        uint32_t x = s->order[i];
        const es_leaf *lx = &s->leaves[x];
        size_t j = i;
        while (j > 0) {
            const es_leaf *ly = &s->leaves[s->order[j - 1]];
            if (key_cmp(kb + ly->koff, ly->klen, kb + lx->koff, lx->klen) <= 0)
                break;
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = x;
    }
}

static void put_str(sl_buf *out, const char *p, size_t n)
{
    buf_putc(out, '"');
    json_escape(out, p, n);
    buf_putc(out, '"');
}

static void put_dom(sl_buf *out, const json_value *v)
{
    switch (v->type) {
    case JSON_NULL: buf_append(out, "null", 4); break;
    case JSON_BOOL: v->b ? buf_append(out, "true", 4) : buf_append(out, "false", 5); break;
    case JSON_STR: put_str(out, v->str, v->len); break;
    case JSON_NUM:
        if (!memchr(v->raw, '.', v->raw_len) && !memchr(v->raw, 'e', v->raw_len) &&
            !memchr(v->raw, 'E', v->raw_len) && v->raw_len < 19)
            buf_append(out, v->raw, v->raw_len);
        else
            json_write_double(out, v->num);
        break;
    default:
        /* arrays and empty objects: the parser validated them (UTF-8 included) */
        buf_append(out, v->raw, v->raw_len);
    }
}

static void put_leaf(sl_buf *out, const es_leaf *l)
{
    switch (l->type) {
    case SL_VAL_STR: put_str(out, l->v.s.ptr, l->v.s.len); break;
    case SL_VAL_INT: json_write_int(out, l->v.i); break;
    case SL_VAL_FLOAT: json_write_double(out, l->v.f); break;
    case SL_VAL_BOOL: l->v.b ? buf_append(out, "true", 4) : buf_append(out, "false", 5); break;
    case ES_LEAF_DOM: put_dom(out, l->v.dom); break;
    default: buf_append(out, "null", 4);
    }
}

static void put_key(sl_buf *out, const char *k, size_t n)
{
    put_str(out, k, n);
    buf_putc(out, ':');
}

/* Splits key into segments; returns their count (the rest stays in the last one). */
static int split_segs(const char *k, size_t n, uint32_t *off, uint32_t *len)
{
    int c = 0;
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && (k[j] != '.' || c == ES_MAX_SEGS - 1))
            j++;
        off[c] = (uint32_t)i;
        len[c] = (uint32_t)(j - i);
        c++;
        i = j + 1;
    }
    return c;
}

/* Notes that e's shared fields, if any, match the layout (their keys need no check). */
static void lay_note_shared(es_scratch *s, const sl_event *e)
{
    if (!s->vc_on || !e->nshared || (e->shared == s->lay_shared && e->nshared == s->lay_nshared))
        return;
    uint32_t kb = 0;
    for (uint32_t i = 0; i < e->nshared; i++)
        kb += s->lay_klen[i];
    s->lay_shared = e->shared;
    s->lay_nshared = e->nshared;
    s->lay_shared_klen = kb;
}

/* Do n fields f, at layout position i on and key bytes *k on, have the layout's keys and
 * cacheable kinds? Advances *k. */
static inline bool lay_keys_match(es_scratch *s, const sl_field *f, uint32_t n, uint32_t i,
                                  const char **k)
{
    for (uint32_t j = 0; j < n; j++, f++, i++) {
        uint32_t kl = s->lay_klen[i];
        if (f->type == SL_VAL_JSON || f->key.len != kl)
            return false;
        /* the same key pointer as a match of this run: the same bytes (value cache) */
        if (f->key.ptr != s->lay_kptr[i]) {
            if (kl && memcmp(f->key.ptr, *k, kl) != 0)
                return false;
            if (s->vc_on)
                s->lay_kptr[i] = f->key.ptr;
        }
        *k += kl;
    }
    return true;
}

/* Keys and value kinds of e as the layout cache holds them? */
static bool lay_match(es_scratch *s, const sl_event *e, bool flatten)
{
    if (!s->lay_ok || s->lay_nf != event_nfields(e) || s->lay_flatten != flatten)
        return false;
    const char *k = s->lay_keys.p;
    if (e->nshared && e->shared == s->lay_shared && e->nshared == s->lay_nshared) {
        k += s->lay_shared_klen; /* matched before in this run: the same keys */
    } else {
        if (!lay_keys_match(s, e->shared, e->nshared, 0, &k))
            return false;
        lay_note_shared(s, e);
    }
    return lay_keys_match(s, e->fields, e->nfields, e->nshared, &k);
}

static bool cacheable(const sl_event *e)
{
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++)
        if (event_field(e, i)->type == SL_VAL_JSON)
            return false;
    return true;
}

/* Starts recording the layout of e (cacheable). */
static void lay_begin(es_scratch *s, const sl_event *e, bool flatten)
{
    uint32_t nf = event_nfields(e);
    s->lay_ok = false;
    s->lay_flatten = flatten;
    s->lay_nf = nf;
    s->nsteps = 0;
    vc_clear(s);
    s->lay_shared = NULL;
    buf_reset(&s->lay_keys);
    buf_reset(&s->lay_text);
    if (s->lay_kcap < nf) {
        s->lay_kcap = nf;
        s->lay_klen = sl_xrealloc(s->lay_klen, s->lay_kcap * sizeof *s->lay_klen);
        s->lay_kptr = sl_xrealloc(s->lay_kptr, s->lay_kcap * sizeof *s->lay_kptr);
    }
    for (uint32_t i = 0; i < nf; i++) {
        const sl_field *f = event_field(e, i);
        s->lay_klen[i] = f->key.len;
        s->lay_kptr[i] = s->vc_on ? f->key.ptr : NULL;
        buf_append(&s->lay_keys, f->key.ptr, f->key.len);
    }
    lay_note_shared(s, e);
}

/* Records out[*mark, out->len) as the literal before the value of field `field`. */
static void lay_step(es_scratch *s, const sl_buf *out, size_t *mark, uint32_t field)
{
    if (s->nsteps == s->steps_cap) {
        s->steps_cap = s->steps_cap ? s->steps_cap * 2 : 32;
        s->steps = sl_xrealloc(s->steps, s->steps_cap * sizeof *s->steps);
        s->vc = sl_xrealloc(s->vc, s->steps_cap * sizeof *s->vc);
        s->run_end = sl_xrealloc(s->run_end, s->steps_cap * sizeof *s->run_end);
        memset(s->vc + s->nsteps, 0, (s->steps_cap - s->nsteps) * sizeof *s->vc);
    }
    es_step *st = &s->steps[s->nsteps++];
    st->toff = (uint32_t)s->lay_text.len;
    st->tlen = (uint32_t)(out->len - *mark);
    st->field = field;
    buf_append(&s->lay_text, out->p + *mark, out->len - *mark);
}

static void put_field(sl_buf *out, const sl_field *f)
{
    switch (f->type) {
    case SL_VAL_STR: put_str(out, f->v.s.ptr, f->v.s.len); break;
    case SL_VAL_INT: json_write_int(out, f->v.i); break;
    case SL_VAL_FLOAT: json_write_double(out, f->v.f); break;
    case SL_VAL_BOOL: f->v.b ? buf_append(out, "true", 4) : buf_append(out, "false", 5); break;
    default: buf_append(out, "null", 4);
    }
}

static void put_head(sl_buf *out, const sl_event *e)
{
    buf_append(out, "{\"@timestamp\":\"", 15);
    json_format_time(out, e->ts_ns);
    buf_append(out, "\",\"message\":", 12);
    put_str(out, e->message.ptr, e->message.len);
}

/* ---- Value cache -----------------------------------------------------------------------
 *
 * Most values of a replayed layout are the same from one event to the next: a
 * kubernetes_logs file's namespace, pod, uid, container, restart count and path are
 * copied per event from its batch's template, so they point at the same bytes. A step
 * whose value is identical (same string pointer and length, same integer) to the last
 * event's twice in a row keeps its literal and rendered value in s->vals; then a run of
 * consecutive steps that are cached, unchanged and laid out one after the other in vals
 * is one copy. vals is laid out again in step order whenever a step becomes cached.
 * Pointer identity is sound only while the values cannot change under the same pointer:
 * the cache is on after es_scratch_begin, which clears it, and the caller calls it
 * whenever events seen before may have been freed (each request body). */

static inline bool vc_same(const es_vcache *c, const sl_field *f)
{
    if (!c->seen || c->type != f->type)
        return false;
    switch (f->type) {
    case SL_VAL_STR: return f->v.s.ptr == c->ptr && f->v.s.len == c->len;
    case SL_VAL_INT: return f->v.i == c->i;
    case SL_VAL_BOOL: return (int64_t)f->v.b == c->i;
    default: return false;
    }
}

static void vc_note(es_vcache *c, const sl_field *f)
{
    c->cached = false;
    c->type = f->type;
    c->seen = f->type == SL_VAL_STR || f->type == SL_VAL_INT || f->type == SL_VAL_BOOL;
    c->ptr = f->type == SL_VAL_STR ? f->v.s.ptr : NULL;
    c->len = f->type == SL_VAL_STR ? f->v.s.len : 0;
    c->i = f->type == SL_VAL_INT ? f->v.i : f->type == SL_VAL_BOOL ? (int64_t)f->v.b : 0;
}

/* Rewrites vals with the cached steps in step order, so runs of them are contiguous. */
static void vc_relayout(es_scratch *s)
{
    buf_reset(&s->vals2);
    for (size_t i = 0; i < s->nsteps; i++) {
        es_vcache *c = &s->vc[i];
        if (!c->cached)
            continue;
        uint32_t off = (uint32_t)s->vals2.len;
        buf_append(&s->vals2, s->vals.p + c->roff, c->rlen);
        c->roff = off;
    }
    sl_buf t = s->vals;
    s->vals = s->vals2;
    s->vals2 = t;
    s->vc_dirty = false;
    s->runs_ok = false;
}

/* Computes run_end for steps of the first nshared fields (see es_scratch). */
static void runs_build(es_scratch *s, uint32_t nshared)
{
    for (size_t i = s->nsteps; i-- > 0;) {
        const es_vcache *c = &s->vc[i];
        uint32_t end = (uint32_t)i;
        if (c->cached && s->steps[i].field < nshared) {
            end = (uint32_t)i + 1;
            if (i + 1 < s->nsteps && s->run_end[i + 1] > i + 1 &&
                s->vc[i + 1].roff == c->roff + c->rlen)
                end = s->run_end[i + 1];
        }
        s->run_end[i] = end;
    }
    s->runs_nshared = nshared;
    s->runs_ok = true;
}

static void replay_cached(sl_buf *out, const sl_event *e, es_scratch *s)
{
    const char *t = s->lay_text.p;
    /* Steps of fields below `same` hold the value the last replayed event had: the same
     * shared array. A cached one of them is the same (vc_note kept it). */
    uint32_t same = e->nshared && e->shared == s->prev_shared && e->nshared == s->prev_nshared
                        ? e->nshared
                        : 0;
#define STEP_SAME(c, fi) ((fi) < same ? (c)->seen : vc_same((c), event_field(e, (fi))))
    if (same && (!s->runs_ok || s->runs_nshared != same))
        runs_build(s, same);
    size_t i = 0;
    while (i < s->nsteps) {
        es_vcache *c = &s->vc[i];
        uint32_t fi = s->steps[i].field;
        if (same && s->run_end[i] > i) { /* a run of unchanged shared values: one copy */
            const es_vcache *last = &s->vc[s->run_end[i] - 1];
            buf_append(out, s->vals.p + c->roff, last->roff + last->rlen - c->roff);
            i = s->run_end[i];
            continue;
        }
        if (c->cached && STEP_SAME(c, fi)) {
            uint32_t start = c->roff, end = c->roff + c->rlen;
            size_t j = i + 1;
            while (j < s->nsteps) {
                const es_vcache *d = &s->vc[j];
                uint32_t fj = s->steps[j].field;
                if (!d->cached || d->roff != end || !STEP_SAME(d, fj))
                    break;
                end += d->rlen;
                j++;
            }
            buf_append(out, s->vals.p + start, end - start);
            i = j;
            continue;
        }
        const es_step *st = &s->steps[i];
        const sl_field *f = event_field(e, fi);
        size_t m = out->len;
        buf_append(out, t + st->toff, st->tlen);
        put_field(out, f);
        if (STEP_SAME(c, fi) && out->len - m <= ES_VC_MAX) {
            c->roff = (uint32_t)s->vals.len;
            c->rlen = (uint32_t)(out->len - m);
            buf_append(&s->vals, out->p + m, c->rlen);
            c->cached = true;
            s->vc_dirty = true;
        } else {
            if (c->cached)
                s->runs_ok = false;
            vc_note(c, f);
        }
        i++;
    }
#undef STEP_SAME
    buf_append(out, t + s->tail_off, s->tail_len);
    if (s->vc_dirty)
        vc_relayout(s);
    s->prev_shared = e->shared;
    s->prev_nshared = e->nshared;
}

void es_encode_doc(sl_buf *out, const sl_event *e, const es_doc_opts *o, es_scratch *s)
{
    if (lay_match(s, e, o->flatten)) {
        put_head(out, e);
        if (s->vc_on) {
            replay_cached(out, e, s);
            return;
        }
        const char *t = s->lay_text.p;
        for (size_t i = 0; i < s->nsteps; i++) {
            const es_step *st = &s->steps[i];
            buf_append(out, t + st->toff, st->tlen);
            put_field(out, event_field(e, st->field));
        }
        buf_append(out, t + s->tail_off, s->tail_len);
        return;
    }
    bool rec = cacheable(e);
    if (rec)
        lay_begin(s, e, o->flatten);
    s->n = 0;
    buf_reset(&s->keys);
    if (s->arena_used) {
        arena_reset(&s->arena);
        s->arena_used = false;
    }
    for (uint32_t i = 0, nf = event_nfields(e); i < nf; i++) {
        const sl_field *f = event_field(e, i);
        if (f->type == SL_VAL_JSON && f->v.s.len) {
            char err[8];
            s->arena_used = true;
            json_value *v = json_parse(&s->arena, f->v.s.ptr, f->v.s.len, err, sizeof err);
            size_t ko = s->keys.len;
            uint32_t kl = key_put(s, NULL, 0, f->key.ptr, f->key.len, o->flatten);
            if (v && v->type == JSON_OBJ && v->n > 0) {
                char *p = arena_strndup(&s->arena, s->keys.p + ko, kl);
                s->keys.len = ko;
                add_dom(s, p, kl, v, o->flatten, 0);
                continue;
            }
            es_leaf *l = leaf_new(s);
            l->koff = (uint32_t)ko;
            l->klen = kl;
            l->field = i;
            if (v) {
                l->type = ES_LEAF_DOM;
                l->v.dom = v;
            } else { /* not JSON after all: keep the text */
                l->type = SL_VAL_STR;
                l->v.s = f->v.s;
            }
            continue;
        }
        size_t ko = s->keys.len;
        uint32_t kl = key_put(s, NULL, 0, f->key.ptr, f->key.len, o->flatten);
        es_leaf *l = leaf_new(s);
        l->koff = (uint32_t)ko;
        l->klen = kl;
        l->field = i;
        l->type = f->type == SL_VAL_JSON ? SL_VAL_NULL : f->type;
        if (f->type == SL_VAL_STR)
            l->v.s = f->v.s;
        else if (f->type == SL_VAL_INT)
            l->v.i = f->v.i;
        else if (f->type == SL_VAL_FLOAT)
            l->v.f = f->v.f;
        else if (f->type == SL_VAL_BOOL)
            l->v.b = f->v.b;
    }
    if (s->n > 1)
        sort_leaves(s);

    put_head(out, e);
    size_t mark = out->len; /* start of the literal run being recorded */

    const char *kb = s->keys.p;
    /* Open objects: segments of the key that opened them (offsets into kb). */
    uint32_t ooff[ES_MAX_SEGS], olen[ES_MAX_SEGS];
    int nopen = 0;
    const char *prev = NULL;
    size_t prevlen = 0;
    for (size_t r = 0; r < s->n; r++) {
        const es_leaf *l = &s->leaves[s->order[r]];
        const char *k = kb + l->koff;
        if (prev && prevlen == l->klen && memcmp(prev, k, prevlen) == 0)
            continue; /* duplicate key: the first one wins */
        prev = k;
        prevlen = l->klen;
        /* Does a later key nest under this one? Then this value goes to "<key>.value". */
        bool parent = false;
        for (size_t q = r + 1; !o->flatten && q < s->n; q++) {
            const es_leaf *nx = &s->leaves[s->order[q]];
            if (nx->klen == l->klen && memcmp(kb + nx->koff, k, l->klen) == 0)
                continue; /* a duplicate, skipped below */
            parent = nx->klen > l->klen && memcmp(kb + nx->koff, k, l->klen) == 0 &&
                     kb[nx->koff + l->klen] == '.';
            break;
        }
        if (o->flatten) {
            buf_putc(out, ',');
            put_key(out, k, l->klen);
            if (rec)
                lay_step(s, out, &mark, l->field);
            put_leaf(out, l);
            mark = out->len;
            continue;
        }
        uint32_t soff[ES_MAX_SEGS], slen[ES_MAX_SEGS];
        int ns = split_segs(k, l->klen, soff, slen);
        int objs = parent ? ns : ns - 1; /* segments that are objects */
        int common = 0;
        while (common < nopen && common < objs && olen[common] == slen[common] &&
               memcmp(kb + ooff[common], k + soff[common], slen[common]) == 0)
            common++;
        for (; nopen > common; nopen--)
            buf_putc(out, '}');
        bool first = false; /* next member is the first of a just-opened object */
        for (int g = common; g < objs; g++) {
            if (!first)
                buf_putc(out, ',');
            put_key(out, k + soff[g], slen[g]);
            buf_putc(out, '{');
            ooff[nopen] = (uint32_t)(l->koff + soff[g]);
            olen[nopen] = slen[g];
            nopen++;
            first = true;
        }
        if (!first)
            buf_putc(out, ',');
        if (parent)
            put_key(out, "value", 5);
        else
            put_key(out, k + soff[ns - 1], slen[ns - 1]);
        if (rec)
            lay_step(s, out, &mark, l->field);
        put_leaf(out, l);
        mark = out->len;
    }
    for (; nopen > 0; nopen--)
        buf_putc(out, '}');
    buf_putc(out, '}');
    if (rec) {
        s->tail_off = (uint32_t)s->lay_text.len;
        s->tail_len = (uint32_t)(out->len - mark);
        buf_append(&s->lay_text, out->p + mark, out->len - mark);
        s->lay_ok = true;
    }
}

static uint64_t fnv64(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* 16 lowercase hex digits, most significant first (every _id of a file source). */
static void put_hex64(sl_buf *out, uint64_t v)
{
    buf_reserve(out, 16);
#if defined(__SSE2__) && defined(__x86_64__)
    /* the 8 bytes in print order, split into nibbles, interleaved high first, to ASCII */
    __m128i x = _mm_cvtsi64_si128((long long)__builtin_bswap64(v));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(x, 4), _mm_set1_epi8(0x0f));
    __m128i lo = _mm_and_si128(x, _mm_set1_epi8(0x0f));
    __m128i nib = _mm_unpacklo_epi8(hi, lo);
    __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(nib, _mm_set1_epi8(9)),
                                   _mm_set1_epi8('a' - '0' - 10));
    __m128i asc = _mm_add_epi8(_mm_add_epi8(nib, _mm_set1_epi8('0')), letter);
    _mm_storeu_si128((__m128i *)(out->p + out->len), asc);
#else
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out->p[out->len + (size_t)i] = hex[v & 15];
        v >>= 4;
    }
#endif
    out->len += 16;
}

void es_encode_id(sl_buf *out, const sl_event *e)
{
    if (e->id_str.len && e->id_str.len <= 500) {
        json_escape(out, e->id_str.ptr, e->id_str.len);
    } else if (e->id_str.len) {
        /* Elasticsearch caps _id at 512 bytes: a long id becomes its hash */
        put_hex64(out, fnv64(e->id_str.ptr, e->id_str.len));
        put_hex64(out, fnv64(e->id_str.ptr, e->id_str.len / 2) ^ e->id_str.len);
    } else {
        put_hex64(out, e->id_stream);
        put_hex64(out, e->id_seq);
    }
}

/* ---- Request URLs ------------------------------------------------------------------------ */

int es_query_params(sl_buf *out, const sl_strmap *query, bool has_pipeline, char *err,
                    size_t errlen)
{
    buf_reset(out);
    buf_putc(out, '\0');
    out->len = 0;
    for (size_t i = 0; i < query->n; i++) {
        const char *k = query->keys[i];
        if (strcmp(k, "filter_path") == 0 || (has_pipeline && strcmp(k, "pipeline") == 0))
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "query: the sink sets \"%s\" itself%s", k,
                             has_pipeline && k[0] == 'p' ? " (from the pipeline option)" : "");
        if (!k[0])
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "query: an empty parameter name");
        url_query_add(out, k, query->vals[i] ? query->vals[i] : "");
    }
    return SL_OK;
}

void es_request_url(sl_buf *out, const url_endpoint *ep, const char *api, const char *params,
                    const char *extra)
{
    bool p = params && params[0], x = extra && extra[0];
    if (!p || !x) {
        url_build(out, ep, api, p ? params : extra);
        return;
    }
    sl_buf q = SL_BUF_INIT;
    buf_printf(&q, "%s&%s", params, extra);
    buf_putc(&q, '\0');
    url_build(out, ep, api, q.p);
    buf_free(&q);
}

void es_bulk_params(sl_buf *out, const char *pipeline)
{
    buf_reset(out);
    /* filter_path keeps the response to what per-item handling needs (ES 7/8, OpenSearch);
     * its commas and stars are legal in a query and every server reads them as written */
    buf_puts(out, "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason");
    if (pipeline)
        url_query_add(out, "pipeline", pipeline);
    buf_putc(out, '\0');
    out->len--;
}
