/* test_elasticsearch.c - unit tests for the elasticsearch sink's pieces: document shape
 * (nesting, sanitising, conflicts, UTF-8, non-finite numbers), ids, index names and the
 * streaming _bulk response parser fed in every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"
#include "net/gz.h"
#include "sinks/elasticsearch/es.h"

#define TS_2026 1795219200000000000LL /* 2026-11-21T00:00:00Z */

static char *encode(const sl_event *e, bool flatten)
{
    static sl_buf b;
    es_scratch *s = es_scratch_new();
    es_doc_opts o = {.flatten = flatten, .timestamp = true};
    buf_reset(&b);
    es_encode_doc(&b, e, &o, s);
    buf_putc(&b, '\0');
    es_scratch_free(s);
    return b.p;
}

static const char *after_message(const char *doc)
{
    const char *p = strstr(doc, "\"message\":");
    assert_non_null(p);
    p = strchr(p + 10, ',');
    return p ? p : "}";
}

/* Every document must parse as JSON. */
static void assert_json(const char *doc)
{
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    json_value *v = json_parse(&a, doc, strlen(doc), err, sizeof err);
    if (!v)
        fail_msg("invalid JSON (%s): %s", err, doc);
    arena_free(&a);
}

static void test_nested_and_sorted(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->ts_ns = TS_2026 + 5;
    e->message = batch_str(b, "hi", 2);
    event_set_str(b, e, "kubernetes.pod_name", "p1", 2);
    event_set_str(b, e, "level", "info", 4);
    event_set_str(b, e, "kubernetes.labels.app", "web", 3);
    event_set_str(b, e, "kubernetes.namespace", "ns", 2);
    event_set_int(b, e, "kubernetes.labels.tier-x", 3);
    const char *d = encode(e, false);
    assert_json(d);
    assert_string_equal(after_message(d),
                        ",\"kubernetes\":{\"labels\":{\"app\":\"web\",\"tier-x\":3},"
                        "\"namespace\":\"ns\",\"pod_name\":\"p1\"},\"level\":\"info\"}");
    assert_non_null(strstr(d, "\"@timestamp\":\"2026-11-21T00:00:00.000000005Z\""));
    event_set_str(b, e, "kubernetes_labels_app", "clash", 5);
    d = encode(e, true);
    assert_json(d);
    /* flattened keys that collide are written once, the first in key order */
    const char *fk = strstr(d, "\"kubernetes_labels_app\":");
    assert_non_null(fk);
    assert_null(strstr(fk + 1, "\"kubernetes_labels_app\":"));
    batch_release(b);
}

static void test_sanitise_and_conflicts(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "m", 1);
    event_set_str(b, e, "", "empty", 5);
    event_set_str(b, e, ".lead.trail.", "x", 1);
    event_set_str(b, e, "a", "scalar", 6);
    event_set_str(b, e, "a.b", "child", 5);
    for (int k = 0; k < 2; k++) { /* two fields with one key: the first one wins */
        sl_field *df = event_add_field(b, e, "dup", 3);
        df->type = SL_VAL_STR;
        df->v.s = k ? SL_STR("second") : SL_STR("first");
    }
    event_set_str(b, e, "message", "shadow", 6);
    char longkey[401];
    memset(longkey, 'k', 400);
    longkey[400] = '\0';
    event_set_str(b, e, longkey, "v", 1);
    sl_field *f = event_add_field(b, e, "nan", 3);
    f->type = SL_VAL_FLOAT;
    f->v.f = NAN;
    event_set_str(b, e, "bad\xff", "x\xc3", 2);
    const char *d = encode(e, false);
    assert_json(d);
    assert_non_null(strstr(d, "\"_empty\":\"empty\""));
    assert_non_null(strstr(d, "\"lead\":{\"trail\":\"x\"}"));
    assert_non_null(strstr(d, "\"a\":{\"value\":\"scalar\",\"b\":\"child\"}"));
    const char *dp = strstr(d, "\"dup\":");
    assert_non_null(dp);
    assert_null(strstr(dp + 1, "\"dup\":")); /* one key, never two */
    assert_non_null(strstr(d, "\"_message\":\"shadow\""));
    assert_non_null(strstr(d, "\"nan\":null"));
    assert_non_null(strstr(d, "\"bad\xef\xbf\xbd\":\"x\xef\xbf\xbd\""));
    char want[300];
    memset(want, 'k', 255);
    want[255] = '\0';
    char pat[320];
    snprintf(pat, sizeof pat, "\"%s\":\"v\"", want);
    assert_non_null(strstr(d, pat));
    batch_release(b);
}

/* A top-level key Elasticsearch keeps for a metadata field would get the whole document
 * refused: it gains a '_', nested or longer names stay. */
static void test_metadata_names(void **state)
{
    (void)state;
    for (int flat = 0; flat < 2; flat++) {
        sl_batch *b = batch_new(1);
        sl_event *e = batch_add(b);
        e->message = batch_str(b, "m", 1);
        event_set_str(b, e, "_id", "i", 1);
        event_set_str(b, e, "_source.app", "s", 1);
        event_set_str(b, e, "_routing", "r", 1);
        event_set_str(b, e, "a._index", "n", 1);
        event_set_str(b, e, "_idx", "k", 1);
        event_set_str(b, e, "_", "u", 1);
        const char *d = encode(e, flat);
        assert_json(d);
        assert_non_null(strstr(d, "\"__id\":\"i\""));
        assert_non_null(strstr(d, "\"__routing\":\"r\""));
        assert_non_null(strstr(d, "\"_idx\":\"k\""));
        assert_non_null(strstr(d, "\"_\":\"u\""));
        if (flat) {
            assert_non_null(strstr(d, "\"_source_app\":\"s\""));
            assert_non_null(strstr(d, "\"a__index\":\"n\""));
        } else {
            assert_non_null(strstr(d, "\"__source\":{\"app\":\"s\"}"));
            assert_non_null(strstr(d, "\"a\":{\"_index\":\"n\"}"));
        }
        batch_release(b);
    }
}

/* A Kubernetes label key is one name: its dots become '_' (Beats' dedot), so a pod
 * labelled app and one labelled app.kubernetes.io/name give documents Elasticsearch maps
 * alike. Other dotted keys still nest. */
static void test_label_keys_dedot(void **state)
{
    (void)state;
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "m", 1);
    event_set_str(b, e, "kubernetes.labels.app", "web", 3);
    event_set_str(b, e, "kubernetes.labels.app.kubernetes.io/name", "api", 3);
    event_set_str(b, e, "kubernetes.annotations.prometheus.io/scrape", "true", 4);
    event_set_str(b, e, "kubernetes.namespace_labels.kubernetes.io/metadata.name", "ns", 2);
    event_set_str(b, e, "kubernetes.pod_name", "p", 1);
    event_set_str(b, e, "log.file.path", "/x", 2);
    const char *d = encode(e, false);
    assert_json(d);
    assert_non_null(strstr(d, "\"labels\":{\"app\":\"web\",\"app_kubernetes_io/name\":\"api\"}"));
    assert_non_null(strstr(d, "\"annotations\":{\"prometheus_io/scrape\":\"true\"}"));
    assert_non_null(strstr(d, "\"namespace_labels\":{\"kubernetes_io/metadata_name\":\"ns\"}"));
    assert_non_null(strstr(d, "\"log\":{\"file\":{\"path\":\"/x\"}}"));
    d = encode(e, true);
    assert_json(d);
    assert_non_null(strstr(d, "\"kubernetes_labels_app_kubernetes_io/name\":\"api\""));
    batch_release(b);
}

static unsigned lcg_next(uint64_t *r)
{
    *r = *r * 6364136223846793005ull + 1442695040888963407ull;
    return (unsigned)(*r >> 33);
}

/* The layout cache replays the structure of the last document for an event with the
 * same keys: output must be byte for byte what a fresh encoder writes, over a varied
 * corpus (nesting, conflicts, duplicates, sanitised and shadowing keys, every value kind,
 * raw JSON fields that must not be cached, and layouts that change between events). */
static void test_layout_cache_same_bytes(void **state)
{
    static const char *const keys[] = {
        "kubernetes.namespace", "kubernetes.pod_name", "kubernetes.labels.app", "a", "a.b",
        "a.b.c", "dup", "message", "@timestamp.x", "", ".lead.", "x..y", "stream",
        "log.offset", "log.file.path", "k\xff", "kubernetes_labels_app", "z", "_id",
        "_source.app"};
    const size_t nk = sizeof keys / sizeof keys[0];
    uint64_t rnd = 12345;
#define RND() lcg_next(&rnd)
    es_scratch *warm = es_scratch_new();
    sl_buf got = SL_BUF_INIT, want = SL_BUF_INIT;
    int cached_layouts = 0;
    for (int layout = 0; layout < 300; layout++) {
        size_t nf = RND() % 9;
        size_t pick[8];
        int kind[8];
        for (size_t i = 0; i < nf; i++) {
            pick[i] = RND() % nk;
            kind[i] = (int)(RND() % 12); /* 11: raw JSON */
        }
        bool flatten = RND() % 4 == 0;
        int reps = 1 + (int)(RND() % 4);
        bool has_json = false;
        for (int r = 0; r < reps; r++) {
            sl_batch *b = batch_new(1);
            sl_event *e = batch_add(b);
            e->ts_ns = TS_2026 + (int64_t)RND() * 1000;
            char msg[64];
            int ml = snprintf(msg, sizeof msg, "m%u \"q\" \\ %u\n", RND(), (unsigned)r);
            e->message = batch_str(b, msg, (size_t)ml);
            /* now and then one key differs in one byte only (same length) */
            size_t alter = r > 0 && nf && RND() % 3 == 0 ? RND() % nf : SIZE_MAX;
            for (size_t i = 0; i < nf; i++) {
                char kbuf[32];
                size_t kl = strlen(keys[pick[i]]);
                memcpy(kbuf, keys[pick[i]], kl);
                if (i == alter && kl) {
                    size_t at = RND() % kl;
                    kbuf[at] = ".q_"[RND() % 3];
                }
                sl_field *f = event_add_field(b, e, kbuf, kl);
                char v[32];
                int vl = snprintf(v, sizeof v, "v%u\t\"%d", RND() % 1000, r);
                /* the value kind may change between events of one layout */
                switch ((kind[i] + (r & (int)(RND() % 2))) % 12) {
                case 0: case 1: case 2: case 3: case 4:
                    f->type = SL_VAL_STR;
                    f->v.s = batch_str(b, v, (size_t)vl);
                    break;
                case 5: case 6: f->type = SL_VAL_INT; f->v.i = (int64_t)RND() - 99999; break;
                case 7: f->type = SL_VAL_FLOAT; f->v.f = RND() % 3 ? (double)RND() / 7.0 : NAN; break;
                case 8: f->type = SL_VAL_BOOL; f->v.b = RND() & 1; break;
                case 9: f->type = SL_VAL_NULL; break;
                default: {
                    const char *j = RND() % 2 ? "{\"u\":{\"id\":7},\"t\":[1]}" : "[1,\"x\"]";
                    f->type = SL_VAL_JSON;
                    f->v.s = batch_str(b, j, strlen(j));
                    has_json = true;
                }
                }
            }
            es_doc_opts o = {.flatten = flatten ^ (r > 0 && RND() % 5 == 0), .timestamp = true};
            es_scratch *fresh = es_scratch_new();
            buf_reset(&got);
            buf_reset(&want);
            buf_append(&got, "prefix", 6); /* documents are appended to a body */
            buf_append(&want, "prefix", 6);
            es_encode_doc(&got, e, &o, warm);
            es_encode_doc(&want, e, &o, fresh);
            es_scratch_free(fresh);
            if (got.len != want.len || memcmp(got.p, want.p, got.len) != 0)
                fail_msg("layout %d rep %d:\n got %.*s\nwant %.*s", layout, r, (int)got.len,
                         got.p, (int)want.len, want.p);
            buf_putc(&got, '\0');
            assert_json(got.p + 6);
            batch_release(b);
        }
        if (reps > 1 && !has_json)
            cached_layouts++;
    }
    assert_true(cached_layouts > 50); /* the corpus does exercise the replay */
#undef RND
    buf_free(&got);
    buf_free(&want);
    es_scratch_free(warm);
}

/* Appends e's document, encoded with the warm scratch, to got (as to a body), and fails
 * unless it is byte for byte what a fresh encoder writes for ref. */
static void expect_same_doc(sl_buf *got, sl_buf *want, const sl_event *e, const sl_event *ref,
                            const es_doc_opts *o, es_scratch *warm, int run, int i)
{
    es_scratch *fresh = es_scratch_new();
    buf_reset(want);
    es_encode_doc(want, ref, o, fresh);
    es_scratch_free(fresh);
    size_t at = got->len;
    es_encode_doc(got, e, o, warm);
    if (got->len - at != want->len || memcmp(got->p + at, want->p, want->len) != 0)
        fail_msg("run %d event %d:\n got %.*s\nwant %.*s", run, i, (int)(got->len - at),
                 got->p + at, (int)want->len, want->p);
}

/* The value cache (es_scratch_begin): events of one run whose fields point at the same
 * template strings, as a kubernetes_logs batch's do, with values that change now and then
 * (another file's template, a stream that flips, an offset per event, a value of the same
 * length at another pointer, a key order that changes the layout): every document is byte
 * for byte what a fresh encoder writes, across several runs that reuse the scratch. */
static void test_value_cache_same_bytes(void **state)
{
    (void)state;
    uint64_t rnd = 777;
#define RND() lcg_next(&rnd)
    es_scratch *warm = es_scratch_new();
    sl_buf got = SL_BUF_INIT, want = SL_BUF_INIT;
    for (int run = 0; run < 20; run++) {
        es_scratch_begin(warm);
        sl_batch *b = batch_new(64);
        /* templates: per "file", namespace, pod, path (a quote and a tab to escape) */
        sl_str tmpl[4][3];
        for (int t = 0; t < 4; t++)
            for (int k = 0; k < 3; k++) {
                char v[48];
                int vl = snprintf(v, sizeof v, "v\"%d\t%d-%d", run, t, k % 2 ? t : 0);
                tmpl[t][k] = batch_str(b, v, (size_t)vl);
            }
        static const char *const keys[] = {"kubernetes.namespace", "kubernetes.pod_name",
                                           "log.file.path", "stream", "log.offset",
                                           "kubernetes.restart_count"};
        int file = 0;
        for (int i = 0; i < 200; i++) {
            if (RND() % 17 == 0)
                file = (int)(RND() % 4);
            sl_event *e = batch_add(b);
            e->ts_ns = TS_2026 + (int64_t)i * 1000;
            e->message = batch_str(b, "m \"x\"", 5);
            bool swap = RND() % 29 == 0; /* another key order: another layout */
            for (int k = 0; k < 6; k++) {
                int kk = swap && k < 2 ? 1 - k : k;
                sl_field *f = event_push_field(b, e, (sl_str){keys[kk], (uint32_t)strlen(keys[kk])});
                if (kk < 3) {
                    f->type = SL_VAL_STR;
                    f->v.s = tmpl[file][kk];
                    if (RND() % 23 == 0) /* same bytes at another pointer */
                        f->v.s = batch_str(b, f->v.s.ptr, f->v.s.len);
                } else if (kk == 3) {
                    f->type = SL_VAL_STR;
                    f->v.s = RND() % 5 ? SL_STR("stdout") : SL_STR("stderr");
                } else if (kk == 4) {
                    f->type = SL_VAL_INT;
                    f->v.i = i * 100;
                } else {
                    if (RND() % 31) {
                        f->type = SL_VAL_INT;
                        f->v.i = 2;
                    } else { /* another kind at the same step */
                        f->type = SL_VAL_BOOL;
                        f->v.b = true;
                    }
                }
            }
            es_doc_opts o = {.flatten = run % 5 == 4, .timestamp = true};
            expect_same_doc(&got, &want, e, e, &o, warm, run, i);
        }
        batch_release(b);
        buf_reset(&got);
    }
#undef RND
    buf_free(&got);
    buf_free(&want);
    es_scratch_free(warm);
}

/* Shared fields (event.h), as kubernetes_logs sends them: events of a run point at their
 * file's array of metadata fields and have their own stream and offset. Files change, a
 * file's array comes again at another address (its next batch), with fewer fields shared
 * (the rest its own, under the same keys or others), or not shared at all: every document is byte for byte what a fresh
 * encoder writes for a copy whose fields are all its own. */
static void test_shared_fields_same_bytes(void **state)
{
    (void)state;
    uint64_t rnd = 4242;
#define RND() lcg_next(&rnd)
    static const char *const keys[] = {"kubernetes.namespace", "kubernetes.pod_name",
                                       "kubernetes.restart_count", "log.file.path",
                                       "stream", "log.offset"};
    es_scratch *warm = es_scratch_new();
    sl_buf got = SL_BUF_INIT, want = SL_BUF_INIT;
    for (int run = 0; run < 20; run++) {
        es_scratch_begin(warm);
        sl_batch *b = batch_new(64), *own = batch_new(64);
        sl_field *files[3][2] = {{NULL}}; /* per file, two copies of its array */
        for (int fl = 0; fl < 3; fl++)
            for (int c = 0; c < 2; c++) {
                sl_field *a = arena_alloc(&b->arena, 4 * sizeof *a);
                for (int k = 0; k < 4; k++) {
                    a[k] = (sl_field){.key = {keys[k], (uint32_t)strlen(keys[k])}};
                    if (k == 2) {
                        a[k].type = SL_VAL_INT;
                        a[k].v.i = fl;
                    } else {
                        char v[32];
                        int vl = snprintf(v, sizeof v, "f\"%d-%d", fl, k);
                        a[k].type = SL_VAL_STR;
                        a[k].v.s = batch_str(b, v, (size_t)vl);
                    }
                }
                files[fl][c] = a;
            }
        b->shared_fields = true;
        int file = 0, copy = 0;
        for (int i = 0; i < 200; i++) {
            if (RND() % 13 == 0)
                file = (int)(RND() % 3);
            if (RND() % 11 == 0)
                copy = (int)(RND() % 2);
            sl_event *e = batch_add(b);
            e->ts_ns = TS_2026 + (int64_t)i * 1000;
            e->message = batch_str(b, "m", 1);
            uint32_t ns = RND() % 9 == 0 ? (uint32_t)(RND() % 5) : 4;
            e->shared = ns ? files[file][copy] : NULL;
            e->nshared = ns;
            for (uint32_t k = ns; k < 6; k++) {
                sl_field *f = event_push_field(b, e, (sl_str){keys[k], (uint32_t)strlen(keys[k])});
                if (k < 4) {
                    *f = files[file][copy][k];
                    if (RND() % 3 == 0) /* another key where the array has its own */
                        f->key = SL_STR("kubernetes.other");
                } else if (k == 4) {
                    f->type = SL_VAL_STR;
                    f->v.s = RND() % 4 ? SL_STR("stdout") : SL_STR("stderr");
                } else {
                    f->type = SL_VAL_INT;
                    f->v.i = i * 100;
                }
            }
            const sl_event *oe = batch_append_copy(own, e);
            assert_int_equal(oe->nshared, 0);
            es_doc_opts o = {.flatten = run % 5 == 4, .timestamp = true};
            expect_same_doc(&got, &want, e, oe, &o, warm, run, i);
        }
        batch_release(own);
        batch_release(b);
        buf_reset(&got);
    }
#undef RND
    buf_free(&got);
    buf_free(&want);
    es_scratch_free(warm);
}

static void test_json_field_merged(void **state)
{
    sl_batch *b = batch_new(1);
    sl_event *e = batch_add(b);
    e->message = batch_str(b, "m", 1);
    const char *j = "{\"user\":{\"id\":7,\"name\":\"x\"},\"tags\":[1,2],\"ratio\":0.5,\"k.\":true}";
    sl_field *f = event_add_field(b, e, "app", 3);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, j, strlen(j));
    event_set_str(b, e, "app.zone", "z", 1);
    const char *d = encode(e, false);
    assert_json(d);
    assert_string_equal(after_message(d),
                        ",\"app\":{\"k\":true,\"ratio\":0.5,\"tags\":[1,2],\"user\":{\"id\":7,"
                        "\"name\":\"x\"},\"zone\":\"z\"}}");
    batch_release(b);
}

static void test_ids_and_names(void **state)
{
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    e->ts_ns = TS_2026 + 3600LL * 1000000000LL * 13;
    e->id_stream = 0xabc;
    e->id_seq = 42;
    event_set_str(b, e, "kubernetes.namespace", "Team A/prod", 11);
    sl_buf out = SL_BUF_INIT;
    es_encode_id(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "0000000000000abc000000000000002a");
    /* ids across the whole range, against printf */
    uint64_t r = 1;
    for (int k = 0; k < 2000; k++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        e->id_stream = k < 64 ? 1ull << k : r;
        e->id_seq = k < 64 ? ~(1ull << k) : r * 31 + (uint64_t)k;
        char want[40];
        snprintf(want, sizeof want, "%016llx%016llx", (unsigned long long)e->id_stream,
                 (unsigned long long)e->id_seq);
        buf_reset(&out);
        es_encode_id(&out, e);
        buf_putc(&out, '\0');
        assert_string_equal(out.p, want);
    }
    e->id_stream = 0xabc;
    e->id_seq = 42;
    buf_reset(&out);
    e->id_str = batch_str(b, "cw-\"1\"", 6);
    es_encode_id(&out, e);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "cw-\\\"1\\\"");

    es_name_tmpl t;
    char err[200];
    assert_int_equal(es_name_compile(&t, "logs-{{ kubernetes.namespace }}-%Y.%m.%d-%H%%", err,
                                     sizeof err), SL_OK);
    assert_true(t.dynamic);
    assert_string_equal(t.prefix, "logs-");
    buf_reset(&out);
    es_name_render(&t, e, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "logs-team_a_prod-2026.11.21-13%");
    buf_reset(&out);
    sl_event *e2 = batch_add(b);
    e2->ts_ns = TS_2026;
    es_name_render(&t, e2, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "logs-unknown-2026.11.21-00%");
    es_name_free(&t);
    assert_int_not_equal(es_name_compile(&t, "x-%Q", err, sizeof err), SL_OK);
    assert_int_not_equal(es_name_compile(&t, "x-{{ a", err, sizeof err), SL_OK);
    /* what Elasticsearch refuses in a name is refused in the literal text */
    static const char *const refused[] = {"MyApp-%Y", "a*", "a,b", "a b", "a:b", "a#", "a|b",
                                          "a\\b", "a/b", "a?", "a\"", "a<", "-x", "_x", "+x",
                                          ".", ".."};
    for (size_t k = 0; k < sizeof refused / sizeof refused[0]; k++) {
        err[0] = '\0';
        assert_int_equal(es_name_compile(&t, refused[k], err, sizeof err), SL_ERR_CONFIG);
        assert_non_null(strstr(err, "an index name"));
    }
    assert_int_equal(es_name_compile(&t, ".hidden-%Y", err, sizeof err), SL_OK);
    es_name_free(&t);
    /* a field value at the start loses the '-', '_' and '+' a name may not start with */
    assert_int_equal(es_name_compile(&t, "{{ ns }}-%Y", err, sizeof err), SL_OK);
    event_set_str(b, e2, "ns", "_+-Kube System", 14);
    buf_reset(&out);
    es_name_render(&t, e2, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "kube_system-2026");
    es_name_free(&t);
    assert_int_equal(es_name_compile(&t, "{{ ns }}", err, sizeof err), SL_OK);
    buf_reset(&out);
    buf_append(&out, "pre", 3); /* rendered after an action line's start */
    event_set_str(b, e2, "ns", "__", 2);
    es_name_render(&t, e2, &out);
    buf_putc(&out, '\0');
    assert_string_equal(out.p, "preunknown");
    es_name_free(&t);
    buf_free(&out);
    batch_release(b);
}

typedef struct items {
    int n;
    int status[8];
    char type[8][ES_BULK_TYPE_MAX];
    char reason[8][ES_BULK_REASON_MAX];
} items;

static void on_item(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    items *it = arg;
    assert_int_equal((int)idx, it->n);
    if (it->n < 8) {
        it->status[it->n] = status;
        snprintf(it->type[it->n], ES_BULK_TYPE_MAX, "%s", type);
        snprintf(it->reason[it->n], ES_BULK_REASON_MAX, "%s", reason);
    }
    it->n++;
}

static const char *resp =
    "{\"took\":3,\"errors\":true,\"items\":["
    "{\"create\":{\"_index\":\"x\",\"_id\":\"1\",\"status\":201,\"result\":\"created\"}},"
    "{\"create\":{\"_id\":\"2\",\"status\":400,\"error\":{\"type\":\"mapper_parsing_exception\","
    "\"reason\":\"failed \\\"x\\\" \\u00e9\",\"caused_by\":{\"type\":\"inner\",\"reason\":\"no\"}}}},"
    "{\"index\":{\"status\":429,\"error\":{\"reason\":\"busy\",\"type\":\"es_rejected_execution_exception\"}}},"
    "{\"create\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\",\"reason\":\"exists\"}}}"
    "]}";

static void test_bulk_every_split(void **state)
{
    size_t n = strlen(resp);
    for (size_t cut = 0; cut <= n; cut++) {
        es_bulk_parser p;
        items it;
        memset(&it, 0, sizeof it);
        es_bulk_init(&p, on_item, &it);
        assert_int_equal(es_bulk_feed(&p, resp, cut), 0);
        assert_int_equal(es_bulk_feed(&p, resp + cut, n - cut), 0);
        assert_int_equal(es_bulk_finish(&p), 0);
        assert_int_equal(it.n, 4);
        assert_int_equal(p.errors, 1);
        assert_int_equal(it.status[0], 201);
        assert_int_equal(it.status[1], 400);
        assert_string_equal(it.type[1], "mapper_parsing_exception");
        assert_string_equal(it.reason[1], "failed \"x\" \xc3\xa9");
        assert_int_equal(it.status[2], 429);
        assert_string_equal(it.type[2], "es_rejected_execution_exception");
        assert_string_equal(it.reason[2], "busy");
        assert_int_equal(it.status[3], 409);
    }
}

/* Items recorded as a hash chain, for responses of any length. */
typedef struct items_sum {
    size_t n;
    uint64_t sum;
} items_sum;

static void on_item_sum(void *arg, size_t idx, int status, const char *type, const char *reason)
{
    items_sum *it = arg;
    assert_int_equal(idx, it->n);
    it->n++;
    it->sum = it->sum * 1000003u + (uint64_t)status;
    for (const char *q = type; *q; q++)
        it->sum = it->sum * 31 + (unsigned char)*q;
    for (const char *q = reason; *q; q++)
        it->sum = it->sum * 37 + (unsigned char)*q;
}

/* The whole-item fast path (common compact items) and the byte-level path must report
 * the same items and verdict: fed whole, the fast path takes what it can; fed a byte at a
 * time it never sees a whole item. Items near the common shape but not it: spaces, other
 * digit counts, a float, extra members, upper case, an error item. */
static void test_bulk_fast_items_same_report(void **state)
{
    static const char *const shapes[] = {
        "{\"create\":{\"status\":201}}", "{\"index\":{\"status\":200}}",
        "{\"create\": {\"status\":201}}", "{\"create\":{\"status\":2010}}",
        "{\"create\":{\"status\":20}}", "{\"create\":{\"status\":201.0}}",
        "{\"create\":{\"status\":201,\"x\":1}}", "{\"Create\":{\"status\":201}}",
        "{\"create\":{\"status\":429,\"error\":{\"type\":\"t\",\"reason\":\"busy\"}}}",
        "{\"create\":{\"status\":099}}", "{\"create\":{\"status\":201} }",
        "{\"abcdefghijklmnopq\":{\"status\":201}}", "{\"create\":{\"status\":-201}}",
        "{\"create\":{\"status\":201}}}", "{\"create\":{\"status\":201]", "{}",
        "{\"createx\":{\"status\":201}}", "{\"creat\":{\"status\":201}}",
        "{\"indexx\":{\"status\":200}}", "{\"index\":{\"status\":200}", "{\"delete\":{\"status\":200}}"};
    uint64_t rnd = 99;
    sl_buf body = SL_BUF_INIT;
    for (int round = 0; round < 400; round++) {
        buf_reset(&body);
        buf_puts(&body, round % 2 ? "{\"errors\":false,\"items\":[" : "{\"took\":1,\"items\":[");
        int nitems = (int)(lcg_next(&rnd) % 12);
        for (int k = 0; k < nitems; k++) {
            if (k)
                buf_puts(&body, lcg_next(&rnd) % 8 ? "," : " , ");
            unsigned pick = lcg_next(&rnd) % 48;
            buf_puts(&body, shapes[pick < SL_ARRAY_LEN(shapes) ? pick : 0]);
        }
        buf_puts(&body, "]}");
        size_t len = body.len;
        if (round % 7 == 3)
            len = lcg_next(&rnd) % (len + 1); /* truncated */
        es_bulk_parser p1, p2;
        items_sum a = {0, 0}, b = {0, 0};
        es_bulk_init(&p1, on_item_sum, &a);
        int r1 = es_bulk_feed(&p1, body.p, len);
        int f1 = es_bulk_finish(&p1);
        es_bulk_init(&p2, on_item_sum, &b);
        int r2 = 0;
        for (size_t i = 0; i < len && r2 == 0; i++)
            r2 = es_bulk_feed(&p2, body.p + i, 1);
        int f2 = es_bulk_finish(&p2);
        if (r1 != r2 || f1 != f2 || a.n != b.n || a.sum != b.sum || p1.nitems != p2.nitems)
            fail_msg("round %d: %d/%d %d/%d items %zu/%zu: %.*s", round, r1, r2, f1, f2, a.n, b.n,
                     (int)len, body.p);
    }
    buf_free(&body);
    /* and a large all-success response (the common case) is counted exactly */
    buf_reset(&body);
    buf_puts(&body, "{\"errors\":false,\"items\":[");
    for (int k = 0; k < 5000; k++)
        buf_puts(&body, k ? ",{\"create\":{\"status\":201}}" : "{\"create\":{\"status\":201}}");
    buf_puts(&body, "]}");
    es_bulk_parser p;
    items_sum it = {0, 0};
    es_bulk_init(&p, on_item_sum, &it);
    assert_int_equal(es_bulk_feed(&p, body.p, body.len / 3), 0);
    assert_int_equal(es_bulk_feed(&p, body.p + body.len / 3, body.len - body.len / 3), 0);
    assert_int_equal(es_bulk_finish(&p), 0);
    assert_int_equal(it.n, 5000);
    assert_int_equal(p.errors, 0);
    buf_free(&body);
}

static void test_bulk_rejects_garbage(void **state)
{
    const char *bad[] = {"", "<html>", "{\"items\":[", "{\"a\":1}}", "{\"a\":tru}", "[1,]",
                         "{\"a\":\"\x01\"}", "{\"a\":01.}", "{\"a\" 1}"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        es_bulk_parser p;
        items it;
        memset(&it, 0, sizeof it);
        es_bulk_init(&p, on_item, &it);
        es_bulk_feed(&p, bad[i], strlen(bad[i]));
        assert_int_not_equal(es_bulk_finish(&p), 0);
    }
    /* depth bomb */
    char deep[200];
    memset(deep, '[', sizeof deep);
    es_bulk_parser p;
    es_bulk_init(&p, NULL, NULL);
    assert_int_equal(es_bulk_feed(&p, deep, sizeof deep), -1);
    /* filter_path response (no _index/_id) parses */
    items it;
    memset(&it, 0, sizeof it);
    const char *fp = "{\"errors\":false,\"items\":[{\"create\":{\"status\":201}},{\"create\":{\"status\":201}}]}";
    es_bulk_init(&p, on_item, &it);
    assert_int_equal(es_bulk_feed(&p, fp, strlen(fp)), 0);
    assert_int_equal(es_bulk_finish(&p), 0);
    assert_int_equal(it.n, 2);
    assert_int_equal(p.errors, 0);
}

/* Every request keeps the endpoint's prefix and query; then the `query:` option (encoded),
 * then the request's own parameters. */
static void test_request_urls(void **state)
{
    (void)state;
    char *keys[] = {"AccountID", "x y", "_stream_fields"}, *vals[] = {"12", "a&b=c", "host,app"};
    sl_strmap q = {keys, vals, 3};
    sl_buf params = SL_BUF_INIT, extra = SL_BUF_INIT, out = SL_BUF_INIT;
    char err[200];
    assert_int_equal(es_query_params(&params, &q, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "AccountID=12&x%20y=a%26b%3Dc&_stream_fields=host%2Capp");
    url_endpoint ep;
    assert_int_equal(url_endpoint_parse(&ep, "http://h:9428/insert/elasticsearch/?_msg_field=message"
                                        "&_time_field=@timestamp", err, sizeof err), SL_OK);
    es_bulk_params(&extra, "my pipe");
    es_request_url(&out, &ep, "_bulk", params.p, extra.p);
    assert_string_equal(out.p, "http://h:9428/insert/elasticsearch/_bulk?_msg_field=message"
                               "&_time_field=@timestamp&AccountID=12&x%20y=a%26b%3Dc"
                               "&_stream_fields=host%2Capp&filter_path=errors,items.*.status,"
                               "items.*.error.type,items.*.error.reason&pipeline=my%20pipe");
    es_request_url(&out, &ep, "", params.p, NULL);
    assert_string_equal(out.p, "http://h:9428/insert/elasticsearch/?_msg_field=message"
                               "&_time_field=@timestamp&AccountID=12&x%20y=a%26b%3Dc"
                               "&_stream_fields=host%2Capp");
    url_endpoint_free(&ep);
    /* no query anywhere: the plain URLs of before */
    sl_strmap none = {NULL, NULL, 0};
    assert_int_equal(es_query_params(&params, &none, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "");
    assert_int_equal(url_endpoint_parse(&ep, "https://es:9200/", err, sizeof err), SL_OK);
    es_bulk_params(&extra, NULL);
    es_request_url(&out, &ep, "_bulk", params.p, extra.p);
    assert_string_equal(out.p, "https://es:9200/_bulk?filter_path=errors,items.*.status,"
                               "items.*.error.type,items.*.error.reason");
    es_request_url(&out, &ep, "_index_template/t", params.p, NULL);
    assert_string_equal(out.p, "https://es:9200/_index_template/t");
    es_request_url(&out, &ep, "", params.p, NULL);
    assert_string_equal(out.p, "https://es:9200/");
    url_endpoint_free(&ep);
    /* keys the sink sets itself are refused */
    char *k2[] = {"filter_path"}, *v2[] = {"x"}, *k3[] = {"pipeline"}, *k4[] = {""};
    sl_strmap fp = {k2, v2, 1}, pl = {k3, v2, 1}, empty = {k4, v2, 1};
    assert_int_equal(es_query_params(&params, &fp, false, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "filter_path"));
    assert_int_equal(es_query_params(&params, &pl, true, err, sizeof err), SL_ERR_CONFIG);
    assert_int_equal(es_query_params(&params, &pl, false, err, sizeof err), SL_OK);
    assert_string_equal(params.p, "pipeline=x");
    assert_int_equal(es_query_params(&params, &empty, false, err, sizeof err), SL_ERR_CONFIG);
    buf_free(&params);
    buf_free(&extra);
    buf_free(&out);
}

static void test_gzip_engines(void **state)
{
    char in[5000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = "{\"message\":\"abc\"}\n"[i % 18];
    sl_buf a = SL_BUF_INIT, b = SL_BUF_INIT;
    assert_int_equal(gz_compress(GZ_ZLIB, 1, NULL, in, sizeof in, &a), SL_OK);
    assert_int_equal(gz_compress(GZ_AUTO, 1, NULL, in, sizeof in, &b), SL_OK);
    assert_true(a.len > 18 && a.len < sizeof in);
    assert_true(b.len > 18 && b.len < sizeof in);
    /* both are gzip streams */
    assert_int_equal((unsigned char)a.p[0], 0x1f);
    assert_int_equal((unsigned char)b.p[0], 0x1f);
    assert_int_equal((unsigned char)b.p[1], 0x8b);
    buf_free(&a);
    buf_free(&b);
}

/* refresh_tuning values are checked as Elasticsearch checks index time settings. */
static void test_time_values(void **state)
{
    (void)state;
    const char *good[] = {"1s", "30s", "500ms", "5m", "1h", "2d", "100micros", "7nanos", "-1", "0"};
    const char *bad[] = {"", "30", "s", "1.5s", "1 s", "-2s", "1S", "1sec", "1s ", "9999999999999s", "1w"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!es_time_value_ok(good[i]))
            fail_msg("refused '%s'", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (es_time_value_ok(bad[i]))
            fail_msg("accepted '%s'", bad[i]);
    assert_false(es_time_value_ok(NULL));
}

static void fix_is(const char *doc, const char *field, const char *want, int rc, const char *out)
{
    sl_buf b = SL_BUF_INIT;
    int r = es_fix_field(doc, strlen(doc), field, want, "_str", &b);
    buf_putc(&b, '\0');
    if (r != rc || strcmp(b.p, out) != 0)
        fail_msg("%s [%s -> %s]: got %d %s, want %d %s", doc, field, want ? want : "rename", r,
                 b.p, rc, out);
    buf_free(&b);
}

static void test_schema_heal_fix(void **state)
{
    (void)state;
    /* renamed: the value becomes a string under <field>_str, at the end of its object */
    fix_is("{\"statusCode\":\"OK\",\"a\":1}", "statusCode", NULL, 2, "{\"a\":1,\"statusCode_str\":\"OK\"}");
    fix_is("{\"x\":{\"a\":1}}", "x", NULL, 2, "{\"x_str\":\"{\\\"a\\\":1}\"}");
    fix_is("{\"s\":200}", "s", "long", 0, "{\"s\":200}");
    /* converted when the wanted type can hold it */
    fix_is("{\"s\":\"200\",\"t\":true}", "s", "long", 1, "{\"s\":200,\"t\":true}");
    fix_is("{\"s\":\"2.5\"}", "s", "double", 1, "{\"s\":2.5}");
    fix_is("{\"s\":200}", "s", "keyword", 1, "{\"s\":\"200\"}");
    fix_is("{\"s\":\"true\"}", "s", "boolean", 1, "{\"s\":true}");
    fix_is("{\"s\":\"-\"}", "s", "long", 2, "{\"s_str\":\"-\"}");
    fix_is("{\"s\":[1,2]}", "s", "keyword", 2, "{\"s_str\":\"[1,2]\"}");
    /* nested paths, and a literal dotted key */
    fix_is("{\"http\":{\"status\":\"x\",\"m\":\"GET\"},\"z\":0}", "http.status", "long", 2,
           "{\"http\":{\"m\":\"GET\",\"status_str\":\"x\"},\"z\":0}");
    fix_is("{\"http.status\":\"7\"}", "http.status", "long", 1, "{\"http.status\":7}");
    /* absent field, not an object */
    fix_is("{\"a\":1}", "b", NULL, 0, "{\"a\":1}");
    fix_is("[1]", "a", NULL, -1, "[1]");
    fix_is("{\"a\":", "a", NULL, -1, "{\"a\":");

    char f[64];
    assert_true(es_mapping_error_field("[1:15] failed to parse field [statusCode] of type [long] "
                                       "in document with id 'x'. Preview of field's value: 'OK'",
                                       f, sizeof f));
    assert_string_equal(f, "statusCode");
    assert_true(es_mapping_error_field("object mapping for [a.b] tried to parse field [a.b] as "
                                       "object, but found a concrete value", f, sizeof f));
    assert_string_equal(f, "a.b");
    assert_false(es_mapping_error_field("failed to parse field [] of type", f, sizeof f));
    assert_false(es_mapping_error_field("failed to parse field [unterminated", f, sizeof f));
    assert_false(es_mapping_error_field("no field here", f, sizeof f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nested_and_sorted),
        cmocka_unit_test(test_sanitise_and_conflicts),
        cmocka_unit_test(test_metadata_names),
        cmocka_unit_test(test_label_keys_dedot),
        cmocka_unit_test(test_json_field_merged),
        cmocka_unit_test(test_layout_cache_same_bytes),
        cmocka_unit_test(test_value_cache_same_bytes),
        cmocka_unit_test(test_shared_fields_same_bytes),
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_bulk_every_split),
        cmocka_unit_test(test_bulk_fast_items_same_report),
        cmocka_unit_test(test_bulk_rejects_garbage),
        cmocka_unit_test(test_gzip_engines),
        cmocka_unit_test(test_request_urls),
        cmocka_unit_test(test_time_values),
        cmocka_unit_test(test_schema_heal_fix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
