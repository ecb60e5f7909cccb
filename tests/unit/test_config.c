/* test_config.c - unit tests for YAML loading, ${VAR} expansion and option tables.
 * Error messages are asserted word for word, positions included. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/config.h"

/* ---- A sample component configuration with every option type -------------------- */

typedef struct t_buffer {
    int type;
    uint64_t max_size;
    int64_t flush;
    char *path;
} t_buffer;

typedef struct t_cfg {
    char *path;
    int64_t count;
    bool flag;
    uint64_t size;
    int64_t dur;
    int mode;
    sl_strlist include;
    sl_strmap labels;
    t_buffer buffer;
    int64_t conc;
} t_cfg;

static const char *const t_modes[] = {"head", "tail", NULL};
static const char *const t_buftypes[] = {"memory", "disk", NULL};

static const sl_option t_buffer_opts[] = {
    {"type", SL_OPT_ENUM, offsetof(t_buffer, type), "memory", 0, t_buftypes, NULL, 0, 0,
     "where events wait"},
    {"max_size", SL_OPT_SIZE, offsetof(t_buffer, max_size), "64MiB", 0, NULL, NULL, 1024,
     1073741824, "bound"},
    {"flush", SL_OPT_DURATION, offsetof(t_buffer, flush), "1s", 0, NULL, NULL, 0, 0, "flush"},
    {"path", SL_OPT_STR, offsetof(t_buffer, path), NULL, 0, NULL, NULL, 0, 0, "disk path"},
    SL_OPT_END,
};

static const sl_option t_opts[] = {
    {"path", SL_OPT_STR, offsetof(t_cfg, path), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "file path"},
    {"count", SL_OPT_INT, offsetof(t_cfg, count), "10", 0, NULL, NULL, 1, 1000, "how many"},
    {"flag", SL_OPT_BOOL, offsetof(t_cfg, flag), "true", 0, NULL, NULL, 0, 0, "a switch"},
    {"size", SL_OPT_SIZE, offsetof(t_cfg, size), "1KiB", 0, NULL, NULL, 0, 0, "bytes"},
    {"dur", SL_OPT_DURATION, offsetof(t_cfg, dur), "250ms", 0, NULL, NULL, 0, 0, "wait"},
    {"mode", SL_OPT_ENUM, offsetof(t_cfg, mode), "tail", 0, t_modes, NULL, 0, 0, "start"},
    {"include", SL_OPT_STRLIST, offsetof(t_cfg, include), "[\"*.log\", \"*.txt\"]", 0, NULL,
     NULL, 0, 0, "globs"},
    {"labels", SL_OPT_STRMAP, offsetof(t_cfg, labels), NULL, 0, NULL, NULL, 0, 0, "labels"},
    {"buffer", SL_OPT_OBJECT, offsetof(t_cfg, buffer), NULL, 0, NULL, t_buffer_opts, 0, 0,
     "buffering"},
    {"concurrency", SL_OPT_CONCURRENCY, offsetof(t_cfg, conc), "adaptive", 0, NULL, NULL, 0, 0,
     "requests in flight"},
    SL_OPT_END,
};

typedef struct t_common {
    char *id;
} t_common;

static const sl_option t_common_opts[] = {
    {"id", SL_OPT_STR, offsetof(t_common, id), NULL, 0, NULL, NULL, 0, 0, "name"},
    SL_OPT_END,
};

static const char *const t_ignore[] = {"type", "inputs", NULL};

static sl_config_doc *load_ok(const char *text)
{
    sl_config_doc *doc = NULL;
    char err[512] = "";
    int rc = config_doc_load(&doc, "cfg.yaml", text, err, sizeof err);
    if (rc != SL_OK)
        fail_msg("load failed: %s", err);
    assert_non_null(doc);
    return doc;
}

static void load_err(const char *text, const char *want)
{
    sl_config_doc *doc = NULL;
    char err[512] = "";
    int rc = config_doc_load(&doc, "cfg.yaml", text, err, sizeof err);
    assert_int_equal(rc, SL_ERR_CONFIG);
    assert_null(doc);
    if (want)
        assert_string_equal(err, want);
    else
        assert_non_null(strstr(err, "this is a "));
}

/* Loads `text`, applies t_opts (+ common) to the node at sources.in. Returns rc; the
 * caller owns *cfg on success and must free it. */
static int apply_in(const char *text, t_cfg *cfg, t_common *common, char *err, size_t errlen)
{
    sl_config_doc *doc = load_ok(text);
    const sl_cnode *in = cnode_get(cnode_get(doc->root, "sources"), "in");
    const sl_option *const tables[] = {t_common_opts, t_opts};
    void *const bases[] = {common, cfg};
    memset(cfg, 0xA5, sizeof *cfg); /* config_apply must not trust prior contents */
    memset(common, 0xA5, sizeof *common);
    int rc = config_apply(tables, bases, 2, in, t_ignore, doc->path, "sources.in", err, errlen);
    config_doc_free(doc);
    return rc;
}

static void apply_err(const char *text, const char *want)
{
    t_cfg cfg;
    t_common common;
    char err[512] = "";
    int rc = apply_in(text, &cfg, &common, err, sizeof err);
    assert_int_equal(rc, SL_ERR_CONFIG);
    assert_string_equal(err, want);
    /* After an error fields are zeroed and freeing again is harmless. */
    assert_null(cfg.path);
    config_options_free(t_opts, &cfg);
    config_options_free(t_common_opts, &common);
}

static void free_cfg(t_cfg *cfg, t_common *common)
{
    config_options_free(t_opts, cfg);
    config_options_free(t_common_opts, common);
}

/* ---- Loading ---------------------------------------------------------------------- */

/* Merge keys: a map's own keys win, then the merged maps in order; a merged value is its
 * own node (with the merged key's position); '<<' quoted is a plain key; a scalar to
 * merge is an error. */
static void test_load_merge_keys(void **state)
{
    (void)state;
    sl_config_doc *doc = load_ok("x-d: &d\n  a: 1\n  b: { c: 2 }\nx-e: &e\n  a: 9\n  z: 3\n"
                                 "one:\n  <<: *d\n  b: own\n"
                                 "two:\n  <<: [*e, *d]\n"
                                 "three: { \"<<\": 5 }\n");
    const sl_cnode *one = cnode_get(doc->root, "one"), *two = cnode_get(doc->root, "two");
    assert_int_equal(one->n, 2);
    assert_string_equal(cnode_get(one, "a")->scalar, "1");
    assert_string_equal(cnode_get(one, "b")->scalar, "own");
    assert_int_equal(cnode_get(one, "a")->key_line, 2); /* where the merged key is */
    assert_int_equal(two->n, 3);
    assert_string_equal(cnode_get(two, "a")->scalar, "9"); /* the first merged map wins */
    assert_string_equal(cnode_get(two, "z")->scalar, "3");
    assert_string_equal(cnode_get(cnode_get(two, "b"), "c")->scalar, "2");
    assert_string_equal(cnode_get(cnode_get(doc->root, "three"), "<<")->scalar, "5");
    config_doc_free(doc);
    load_err("a: &s x\nb:\n  <<: *s\n",
             "cfg.yaml:3:3: '<<' merges maps only (write <<: *name, with &name on a map)");
}

static void test_load_positions(void **state)
{
    sl_config_doc *doc = load_ok("a: 1\nsources:\n  in:\n    path: \"/x\"\n    list: [p, q]\n");
    assert_int_equal(doc->root->kind, SL_CNODE_MAP);
    const sl_cnode *a = cnode_get(doc->root, "a");
    assert_non_null(a);
    assert_string_equal(a->scalar, "1");
    assert_int_equal(a->key_line, 1);
    assert_int_equal(a->key_col, 1);
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    assert_false(a->quoted);
    const sl_cnode *in = cnode_get(cnode_get(doc->root, "sources"), "in");
    assert_non_null(in);
    assert_int_equal(in->key_line, 3);
    assert_int_equal(in->key_col, 3);
    const sl_cnode *p = cnode_get(in, "path");
    assert_true(p->quoted);
    assert_string_equal(p->scalar, "/x");
    assert_int_equal(p->line, 4);
    assert_int_equal(p->col, 11);
    const sl_cnode *l = cnode_get(in, "list");
    assert_int_equal(l->kind, SL_CNODE_SEQ);
    assert_int_equal(l->n, 2);
    assert_string_equal(l->items[1]->scalar, "q");
    assert_int_equal(l->items[1]->col, 15);
    assert_null(cnode_get(in, "nope"));
    assert_null(cnode_get(p, "x"));
    assert_null(cnode_get(NULL, "x"));
    config_doc_free(doc);
}

static const sl_cnode *find_path(const sl_cnode *n, const char *path)
{
    return cnode_find_path(n, path, strlen(path));
}

static void test_find_path(void **state)
{
    sl_config_doc *doc = load_ok("t:\n  tls: { ca_file: a }\n  match: [x, y]\n  one: z\n"
                                 "  fields: { service.name: s, service: t }\n");
    const sl_cnode *t = cnode_get(doc->root, "t");
    assert_string_equal(find_path(t, "tls.ca_file")->scalar, "a");
    assert_string_equal(find_path(t, "match[1]")->scalar, "y");
    assert_string_equal(find_path(t, "one[0]")->scalar, "z"); /* a list of one */
    assert_string_equal(find_path(t, "fields.service.name")->scalar, "s");
    assert_string_equal(find_path(t, "fields.service")->scalar, "t");
    assert_int_equal(find_path(t, "match")->kind, SL_CNODE_SEQ);
    const char *none[] = {"tls.", "match[2]", "match[", "match[x]", "one[1]", "tls.cert_file",
                          "nope", "tls..ca_file", "fields.service.nam"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        assert_null(find_path(t, none[i]));
    assert_ptr_equal(cnode_find_path(t, "tls.ca_file: x", 3), cnode_get(t, "tls"));
    config_doc_free(doc);
}

/* Other shippers' files are named at the line that tells; sluice YAML holding the same
 * words where YAML allows them (indented, quoted, in a block scalar) still loads. */
static void test_load_other_shippers(void **state)
{
    (void)state;
    load_err("# fluent-bit.conf\n[SERVICE]\n    Flush 1\n[INPUT]\n    Name tail\n",
             "cfg.yaml:2:1: this is a Fluent Bit configuration (classic format); sluice reads "
             "its own YAML (sources, transforms, sinks): docs/migration/other-shippers.md gives "
             "sluice's type for their plugins, `sluice components TYPE` its options");
    load_err("@INCLUDE inputs.conf\n", NULL);
    load_err("service:\n  flush: 1\npipeline:  # inputs and outputs\n  inputs: []\n", NULL);
    load_err("<source>\n  @type forward\n</source>\n", NULL);
    load_err("<match app.**>\n  @type stdout\n</match>\n", NULL);
    load_err("data_dir = \"/var/lib/vector\"\n[sources.in]\ntype = \"stdin\"\n", NULL);
    sl_config_doc *doc = load_ok("x-notes: |\n  [INPUT]\n  <source>\n"
                                 "sources:\n  pipeline: { type: demo, tag: \"[INPUT]\" }\n");
    config_doc_free(doc);
}

static void test_load_empty(void **state)
{
    sl_config_doc *doc = load_ok("");
    assert_int_equal(doc->root->kind, SL_CNODE_MAP);
    assert_int_equal(doc->root->n, 0);
    config_doc_free(doc);
    doc = load_ok("# only a comment\n");
    assert_int_equal(doc->root->kind, SL_CNODE_MAP);
    config_doc_free(doc);
}

static void test_load_nulls(void **state)
{
    sl_config_doc *doc = load_ok("a:\nb: ~\nc: null\nd: \"\"\ne: 'null'\n");
    const char *keys[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        const sl_cnode *n = cnode_get(doc->root, keys[i]);
        assert_string_equal(n->scalar, "");
        assert_false(n->quoted);
    }
    assert_true(cnode_get(doc->root, "d")->quoted);
    assert_string_equal(cnode_get(doc->root, "e")->scalar, "null");
    config_doc_free(doc);
}

static void test_load_syntax_error(void **state)
{
    load_err("a: 1\nb: [1, 2\n", "cfg.yaml:3:1: did not find expected ',' or ']'");
    load_err("a: b: c\n", "cfg.yaml:1:5: mapping values are not allowed in this context");
}

static void test_load_duplicate_key(void **state)
{
    load_err("a: 1\nb:\n  x: 1\n  x: 2\n", "cfg.yaml:4:3: duplicate key 'x' (first defined at line 3)");
}

static void test_load_file(void **state)
{
    char dir[] = "/tmp/sluice-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/c.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("k: v\n", f);
    fclose(f);
    sl_config_doc *doc = NULL;
    char err[512];
    assert_int_equal(config_doc_load(&doc, path, NULL, err, sizeof err), SL_OK);
    assert_string_equal(doc->path, path);
    assert_string_equal(cnode_get(doc->root, "k")->scalar, "v");
    config_doc_free(doc);
    unlink(path);
    assert_int_not_equal(config_doc_load(&doc, path, NULL, err, sizeof err), SL_OK);
    assert_null(doc);
    rmdir(dir);
}

static void test_load_multi_document(void **state)
{
    load_err("a: 1\n---\nb: 2\n",
             "cfg.yaml:2:1: only one YAML document is allowed in a configuration");
}

static void test_load_alias_bomb(void **state)
{
    /* Self-reference and exponential aliases are bounded, not followed forever. */
    sl_config_doc *doc = NULL;
    char err[512];
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    assert_int_equal(config_doc_load(&doc, "cfg.yaml", bomb, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "more than 200000 nodes"));
    assert_null(doc);
    /* A small alias is fine. */
    doc = load_ok("base: &b {x: 1}\nother: *b\n");
    assert_string_equal(cnode_get(cnode_get(doc->root, "other"), "x")->scalar, "1");
    config_doc_free(doc);
}

static void test_load_deep_nesting(void **state)
{
    char text[1000];
    memset(text, '[', 300);
    memset(text + 300, ']', 300);
    text[600] = '\0';
    sl_config_doc *doc = NULL;
    char err[512];
    assert_int_equal(config_doc_load(&doc, "cfg.yaml", text, err, sizeof err), SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:1:66: document nested deeper than 64 levels");
}

/* ---- Environment expansion ---------------------------------------------------------- */

static void test_env_set(void **state)
{
    setenv("SLUICE_T_HOST", "db.local", 1);
    sl_config_doc *doc = load_ok("a: \"${SLUICE_T_HOST}:5432\"\nb: x${SLUICE_T_HOST}y\n");
    assert_string_equal(cnode_get(doc->root, "a")->scalar, "db.local:5432");
    assert_string_equal(cnode_get(doc->root, "b")->scalar, "xdb.localy");
    config_doc_free(doc);
    unsetenv("SLUICE_T_HOST");
}

static void test_env_default(void **state)
{
    unsetenv("SLUICE_T_UNSET");
    setenv("SLUICE_T_EMPTY", "", 1);
    setenv("SLUICE_T_SET", "v", 1);
    sl_config_doc *doc = load_ok("a: ${SLUICE_T_UNSET:-fallback}\n"
                                 "b: ${SLUICE_T_EMPTY:-dflt}\n"
                                 "c: ${SLUICE_T_SET:-dflt}\n"
                                 "d: \"[${SLUICE_T_UNSET:-}]\"\n");
    assert_string_equal(cnode_get(doc->root, "a")->scalar, "fallback");
    assert_string_equal(cnode_get(doc->root, "b")->scalar, "dflt");
    assert_string_equal(cnode_get(doc->root, "c")->scalar, "v");
    assert_string_equal(cnode_get(doc->root, "d")->scalar, "[]");
    config_doc_free(doc);
    /* Set but empty without a default expands to the empty string. */
    doc = load_ok("e: \"<${SLUICE_T_EMPTY}>\"\nf: \"${SLUICE_T_EMPTY}\"\ng: \"${SLUICE_T_UNSET:-}\"\n");
    assert_string_equal(cnode_get(doc->root, "e")->scalar, "<>");
    assert_string_equal(cnode_get(doc->root, "f")->scalar, "");
    assert_true(cnode_get(doc->root, "f")->quoted);
    assert_string_equal(cnode_get(doc->root, "g")->scalar, "");
    config_doc_free(doc);
    unsetenv("SLUICE_T_EMPTY");
    unsetenv("SLUICE_T_SET");
}

static void test_env_unset(void **state)
{
    unsetenv("FOO_SLUICE_T");
    load_err("x: 1\nkey: ${FOO_SLUICE_T}\n",
             "cfg.yaml:2:6: environment variable FOO_SLUICE_T is not set (write "
             "${FOO_SLUICE_T:-default} to give a default)");
    load_err("key: \"${BAD\"\n",
             "cfg.yaml:1:6: unterminated or invalid ${...} reference (write ${NAME} or "
             "${NAME:-default}, or $$ for a literal $)");
    load_err("key: \"${1X}\"\n",
             "cfg.yaml:1:6: invalid environment variable reference (write ${NAME} or "
             "${NAME:-default}, or $$ for a literal $)");
}

static void test_env_dollar(void **state)
{
    sl_config_doc *doc = load_ok("a: \"cost $$5 and $${X}\"\nb: $HOME\nc: a$\n");
    assert_string_equal(cnode_get(doc->root, "a")->scalar, "cost $5 and ${X}");
    assert_string_equal(cnode_get(doc->root, "b")->scalar, "$HOME");
    assert_string_equal(cnode_get(doc->root, "c")->scalar, "a$");
    config_doc_free(doc);
}

/* ---- Option tables: good values ------------------------------------------------------- */

static void test_apply_all_types(void **state)
{
    t_cfg cfg;
    t_common common;
    char err[512] = "";
    int rc = apply_in("sources:\n"
                      "  in:\n"
                      "    type: file\n"
                      "    inputs: [a]\n"
                      "    id: my-in\n"
                      "    path: /var/log/x.log\n"
                      "    count: 42\n"
                      "    flag: off\n"
                      "    size: 64MiB\n"
                      "    dur: 2m\n"
                      "    mode: head\n"
                      "    include: [\"a\", b]\n"
                      "    labels: {app: web, tier: \"1\"}\n"
                      "    buffer: {type: disk, max_size: 1GB, path: /d}\n"
                      "    concurrency: 8\n",
                      &cfg, &common, err, sizeof err);
    assert_int_equal(rc, SL_OK);
    assert_string_equal(common.id, "my-in");
    assert_string_equal(cfg.path, "/var/log/x.log");
    assert_int_equal(cfg.count, 42);
    assert_false(cfg.flag);
    assert_int_equal(cfg.size, 64ull * 1024 * 1024);
    assert_int_equal(cfg.dur, 120000);
    assert_int_equal(cfg.mode, 0);
    assert_int_equal(cfg.include.n, 2);
    assert_string_equal(cfg.include.v[0], "a");
    assert_string_equal(cfg.include.v[1], "b");
    assert_int_equal(cfg.labels.n, 2);
    assert_string_equal(cfg.labels.keys[1], "tier");
    assert_string_equal(cfg.labels.vals[1], "1");
    assert_int_equal(cfg.buffer.type, 1);
    assert_int_equal(cfg.buffer.max_size, 1000000000ull);
    assert_int_equal(cfg.buffer.flush, 1000); /* nested default */
    assert_string_equal(cfg.buffer.path, "/d");
    assert_int_equal(cfg.conc, 8);
    free_cfg(&cfg, &common);
    assert_null(cfg.path);
    assert_null(cfg.include.v);
    assert_null(cfg.buffer.path);
}

static void test_apply_defaults(void **state)
{
    t_cfg cfg;
    t_common common;
    char err[512] = "";
    int rc = apply_in("sources:\n  in:\n    path: p\n    count:\n    flag: ~\n", &cfg, &common,
                      err, sizeof err);
    assert_int_equal(rc, SL_OK);
    assert_null(common.id);
    assert_int_equal(cfg.count, 10); /* explicit null counts as unset */
    assert_true(cfg.flag);
    assert_int_equal(cfg.size, 1024);
    assert_int_equal(cfg.dur, 250);
    assert_int_equal(cfg.mode, 1);
    assert_int_equal(cfg.include.n, 2);
    assert_string_equal(cfg.include.v[1], "*.txt");
    assert_int_equal(cfg.labels.n, 0);
    assert_int_equal(cfg.buffer.type, 0);
    assert_int_equal(cfg.buffer.max_size, 64ull << 20);
    assert_int_equal(cfg.conc, -1);
    free_cfg(&cfg, &common);
}

static void test_config_defaults(void **state)
{
    t_cfg cfg;
    memset(&cfg, 0xA5, sizeof cfg);
    config_defaults(t_opts, &cfg);
    assert_null(cfg.path);
    assert_int_equal(cfg.count, 10);
    assert_int_equal(cfg.include.n, 2);
    assert_int_equal(cfg.buffer.flush, 1000);
    assert_int_equal(cfg.conc, -1);
    config_options_free(t_opts, &cfg);
}

static void test_apply_strlist_scalar(void **state)
{
    t_cfg cfg;
    t_common common;
    char err[512] = "";
    assert_int_equal(apply_in("sources:\n  in:\n    path: p\n    include: one.log\n", &cfg,
                              &common, err, sizeof err),
                     SL_OK);
    assert_int_equal(cfg.include.n, 1);
    assert_string_equal(cfg.include.v[0], "one.log");
    free_cfg(&cfg, &common);
}

static void test_apply_bools(void **state)
{
    const char *words[] = {"true", "yes", "on", "True", "false", "no", "off", "NO"};
    for (size_t i = 0; i < SL_ARRAY_LEN(words); i++) {
        char text[128];
        snprintf(text, sizeof text, "sources:\n  in:\n    path: p\n    flag: %s\n", words[i]);
        t_cfg cfg;
        t_common common;
        char err[512] = "";
        assert_int_equal(apply_in(text, &cfg, &common, err, sizeof err), SL_OK);
        assert_int_equal(cfg.flag, i < 4);
        free_cfg(&cfg, &common);
    }
}

static void test_apply_null_map(void **state)
{
    /* A component written as `in:` (null) still gets defaults and required checks. */
    apply_err("sources:\n  in:\n", "cfg.yaml:2:3: sources.in: missing required option 'path'");
}

/* ---- Option tables: errors ------------------------------------------------------------- */

static void test_err_unknown_option(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    pathh: q\n",
              "cfg.yaml:4:5: sources.in: unknown option 'pathh' (did you mean 'path'? valid: id, "
              "path, count, flag, size, dur, mode, include, labels, buffer, concurrency, type, "
              "inputs)");
    apply_err("sources:\n  in:\n    path: p\n    zzzzzzz: q\n",
              "cfg.yaml:4:5: sources.in: unknown option 'zzzzzzz' (valid: id, path, count, flag, "
              "size, dur, mode, include, labels, buffer, concurrency, type, inputs)");
}

static void test_err_unknown_option_sink_example(void **state)
{
    typedef struct {
        char *path;
        int enc;
        uint64_t max;
    } s_cfg;
    static const char *const encs[] = {"json", "text", NULL};
    static const sl_option s_opts[] = {
        {"path", SL_OPT_STR, offsetof(s_cfg, path), NULL, 0, NULL, NULL, 0, 0, NULL},
        {"encoding", SL_OPT_ENUM, offsetof(s_cfg, enc), "json", 0, encs, NULL, 0, 0, NULL},
        {"max_file_bytes", SL_OPT_SIZE, offsetof(s_cfg, max), NULL, 0, NULL, NULL, 0, 0, NULL},
        SL_OPT_END,
    };
    sl_config_doc *doc = load_ok("sinks:\n  out:\n    type: file\n    pathh: /x\n");
    s_cfg c;
    const sl_option *const tables[] = {s_opts};
    void *const bases[] = {&c};
    char err[512];
    int rc = config_apply(tables, bases, 1, cnode_get(cnode_get(doc->root, "sinks"), "out"),
                          t_ignore, doc->path, "sinks.out", err, sizeof err);
    assert_int_equal(rc, SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:4:5: sinks.out: unknown option 'pathh' (did you mean "
                             "'path'? valid: path, encoding, max_file_bytes, type, inputs)");
    config_options_free(s_opts, &c);
    config_doc_free(doc);
}

static void test_err_missing_required(void **state)
{
    apply_err("x: 1\nsources:\n  in:\n    count: 3\n",
              "cfg.yaml:3:3: sources.in: missing required option 'path'");
}

static void test_err_int(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    count: lots\n",
              "cfg.yaml:4:12: sources.in.count: expected an integer, got 'lots'");
    apply_err("sources:\n  in:\n    path: p\n    count: 0\n",
              "cfg.yaml:4:12: sources.in.count: must be between 1 and 1000, got 0");
    apply_err("sources:\n  in:\n    path: p\n    count: 99999999999999999999\n",
              "cfg.yaml:4:12: sources.in.count: expected an integer, got '99999999999999999999'");
    apply_err("sources:\n  in:\n    path: p\n    count: [1]\n",
              "cfg.yaml:4:12: sources.in.count: expected an integer, got a sequence");
}

static void test_err_bool(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    flag: maybe\n",
              "cfg.yaml:4:11: sources.in.flag: expected true or false, got 'maybe'");
}

static void test_err_size(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    size: 12XB\n",
              "cfg.yaml:4:11: sources.in.size: expected a size like 4096, 512KiB, 64MiB or 1GB, "
              "got '12XB'");
    apply_err("sources:\n  in:\n    path: p\n    buffer:\n      max_size: 10\n",
              "cfg.yaml:5:17: sources.in.buffer.max_size: must be between 1024 and 1073741824 "
              "bytes, got '10'");
}

static void test_err_duration(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    dur: soon\n",
              "cfg.yaml:4:10: sources.in.dur: expected a duration like 250ms, 5s, 2m or 1h, got "
              "'soon'");
    apply_err("sources:\n  in:\n    path: p\n    dur: -5s\n",
              "cfg.yaml:4:10: sources.in.dur: expected a duration like 250ms, 5s, 2m or 1h, got "
              "'-5s'");
}

static void test_err_enum(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    buffer: {type: ram}\n",
              "cfg.yaml:4:20: sources.in.buffer.type: invalid value 'ram' (valid: memory, disk)");
    apply_err("sources:\n  in:\n    path: p\n    buffer: {type: dsk}\n",
              "cfg.yaml:4:20: sources.in.buffer.type: invalid value 'dsk' (did you mean 'disk'? "
              "valid: memory, disk)");
}

static void test_err_concurrency(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    concurrency: 0\n",
              "cfg.yaml:4:18: sources.in.concurrency: expected a positive integer or 'adaptive', "
              "got '0'");
    t_cfg cfg;
    t_common common;
    char err[512] = "";
    assert_int_equal(apply_in("sources:\n  in:\n    path: p\n    concurrency: adaptive\n", &cfg,
                              &common, err, sizeof err),
                     SL_OK);
    assert_int_equal(cfg.conc, -1);
    free_cfg(&cfg, &common);
}

static void test_err_types(void **state)
{
    apply_err("sources:\n  in:\n    path: [a]\n",
              "cfg.yaml:3:11: sources.in.path: expected a string, got a sequence");
    apply_err("sources:\n  in:\n    path: p\n    buffer: disk\n",
              "cfg.yaml:4:13: sources.in.buffer: expected a map, got 'disk'");
    apply_err("sources:\n  in:\n    path: p\n    include: {a: b}\n",
              "cfg.yaml:4:14: sources.in.include: expected a list of strings, got a map");
    apply_err("sources:\n  in:\n    path: p\n    include: [a, [b]]\n",
              "cfg.yaml:4:18: sources.in.include[1]: expected a string, got a sequence");
    apply_err("sources:\n  in:\n    path: p\n    labels: [a]\n",
              "cfg.yaml:4:13: sources.in.labels: expected a map of strings, got a sequence");
    apply_err("sources:\n  in:\n    path: p\n    labels: {a: {b: c}}\n",
              "cfg.yaml:4:17: sources.in.labels.a: expected a string, got a map");
    apply_err("sources:\n  in: [1]\n", "cfg.yaml:2:7: sources.in: expected a map, got a sequence");
}

static void test_err_nested_unknown(void **state)
{
    apply_err("sources:\n  in:\n    path: p\n    buffer:\n      typo: 1\n",
              "cfg.yaml:5:7: sources.in.buffer: unknown option 'typo' (did you mean 'type'? "
              "valid: type, max_size, flush, path)");
}

static void test_err_nested_required(void **state)
{
    static const sl_option inner[] = {
        {"need", SL_OPT_STR, 0, NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0, NULL},
        SL_OPT_END,
    };
    static const sl_option outer[] = {
        {"obj", SL_OPT_OBJECT, 0, NULL, 0, NULL, inner, 0, 0, NULL},
        SL_OPT_END,
    };
    char *field = NULL;
    const sl_option *const tables[] = {outer};
    void *const bases[] = {&field};
    char err[512];
    sl_config_doc *doc = load_ok("c:\n  obj:\n    other: 1\n");
    assert_int_equal(config_apply(tables, bases, 1, cnode_get(doc->root, "c"), NULL, doc->path,
                                  "c", err, sizeof err),
                     SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:3:5: c.obj: unknown option 'other' (valid: need)");
    config_doc_free(doc);
    doc = load_ok("c:\n  obj: {}\n");
    assert_int_equal(config_apply(tables, bases, 1, cnode_get(doc->root, "c"), NULL, doc->path,
                                  "c", err, sizeof err),
                     SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:2:3: c.obj: missing required option 'need'");
    config_doc_free(doc);
    doc = load_ok("c:\n  x: 1\n");
    static const sl_option outer2[] = {
        {"obj", SL_OPT_OBJECT, 0, NULL, 0, NULL, inner, 0, 0, NULL},
        {"x", SL_OPT_INT, sizeof(char *), NULL, 0, NULL, NULL, 0, 0, NULL},
        SL_OPT_END,
    };
    struct {
        char *need;
        int64_t x;
    } two;
    const sl_option *const tables2[] = {outer2};
    void *const bases2[] = {&two};
    assert_int_equal(config_apply(tables2, bases2, 1, cnode_get(doc->root, "c"), NULL, doc->path,
                                  "c", err, sizeof err),
                     SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:1:1: c.obj: missing required option 'need'");
    config_doc_free(doc);
    /* Top level with no `where`. */
    static const sl_option top[] = {
        {"data_dir", SL_OPT_STR, 0, NULL, 0, NULL, NULL, 0, 0, NULL},
        SL_OPT_END,
    };
    char *dd = NULL;
    const sl_option *const tables3[] = {top};
    void *const bases3[] = {&dd};
    doc = load_ok("data_dri: /x\n");
    assert_int_equal(
        config_apply(tables3, bases3, 1, doc->root, NULL, doc->path, "", err, sizeof err),
        SL_ERR_CONFIG);
    assert_string_equal(err, "cfg.yaml:1:1: unknown option 'data_dri' (did you mean 'data_dir'? "
                             "valid: data_dir)");
    config_doc_free(doc);
}

/* ---- Parsers and describe ------------------------------------------------------------- */

static void test_parse_size(void **state)
{
    uint64_t v;
    struct {
        const char *s;
        uint64_t want;
    } ok[] = {
        {"4096", 4096},        {"512k", 512 * 1024}, {"1KB", 1000},       {"1KiB", 1024},
        {"2M", 2 << 20},       {"3MB", 3000000},     {"64MiB", 64 << 20}, {"1G", 1ull << 30},
        {"1GB", 1000000000},   {"1GiB", 1ull << 30}, {"10 MiB", 10 << 20}, {"0", 0},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++) {
        assert_int_equal(config_parse_size(ok[i].s, &v), SL_OK);
        assert_int_equal(v, ok[i].want);
    }
    const char *bad[] = {"", "-1", "abc", "1.5GiB", "12XB", "1GiBx", "18446744073709551616",
                         "20000000000GiB", "GiB", "1 2"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_not_equal(config_parse_size(bad[i], &v), SL_OK);
}

static void test_parse_duration(void **state)
{
    int64_t v;
    struct {
        const char *s;
        int64_t want;
    } ok[] = {
        {"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1h", 3600000},
        {"1500", 1500}, {"0", 0},     {"1m30s", 90000}, {"1d", 86400000},
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(ok); i++) {
        assert_int_equal(config_parse_duration_ms(ok[i].s, &v), SL_OK);
        assert_int_equal(v, ok[i].want);
    }
    const char *bad[] = {"", "-5s", "5x", "s", "5 s", "1s5", "9223372036854775808",
                         "99999999999999999h", "5ss", "ms"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_int_not_equal(config_parse_duration_ms(bad[i], &v), SL_OK);
}

static void test_describe(void **state)
{
    char out[4096];
    config_options_describe(t_opts, "  ", out, sizeof out);
    assert_non_null(strstr(out, "  path         string  (required)  file path\n"));
    assert_non_null(strstr(out, "  count        integer  (default: 10)  how many\n"));
    assert_non_null(strstr(out, "  mode         head|tail  (default: tail)  start\n"));
    assert_non_null(strstr(out, "  buffer       object  buffering\n"
                                "    type      memory|disk  (default: memory)  where events wait\n"));
    assert_non_null(strstr(out, "    max_size  size  (default: 64MiB)  bound\n"));
    assert_non_null(strstr(out, "  concurrency  integer|adaptive  (default: adaptive)"));
    for (const sl_option *o = t_opts; o->name; o++)
        assert_non_null(strstr(out, o->name));
    /* Truncates safely. */
    char small[16];
    config_options_describe(t_opts, "", small, sizeof small);
    assert_int_equal(strlen(small), 15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_positions),
        cmocka_unit_test(test_load_merge_keys),
        cmocka_unit_test(test_find_path),
        cmocka_unit_test(test_load_empty),
        cmocka_unit_test(test_load_nulls),
        cmocka_unit_test(test_load_syntax_error),
        cmocka_unit_test(test_load_duplicate_key),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_multi_document),
        cmocka_unit_test(test_load_alias_bomb),
        cmocka_unit_test(test_load_deep_nesting),
        cmocka_unit_test(test_env_set),
        cmocka_unit_test(test_env_default),
        cmocka_unit_test(test_env_unset),
        cmocka_unit_test(test_env_dollar),
        cmocka_unit_test(test_apply_all_types),
        cmocka_unit_test(test_apply_defaults),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_apply_strlist_scalar),
        cmocka_unit_test(test_apply_bools),
        cmocka_unit_test(test_apply_null_map),
        cmocka_unit_test(test_err_unknown_option),
        cmocka_unit_test(test_err_unknown_option_sink_example),
        cmocka_unit_test(test_err_missing_required),
        cmocka_unit_test(test_err_int),
        cmocka_unit_test(test_err_bool),
        cmocka_unit_test(test_err_size),
        cmocka_unit_test(test_err_duration),
        cmocka_unit_test(test_err_enum),
        cmocka_unit_test(test_err_concurrency),
        cmocka_unit_test(test_err_types),
        cmocka_unit_test(test_err_nested_unknown),
        cmocka_unit_test(test_err_nested_required),
        cmocka_unit_test(test_load_other_shippers),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
