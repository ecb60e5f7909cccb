/* fuzz_config.c - libFuzzer target: arbitrary bytes as a YAML configuration, loaded and
 * applied to a nested option table with every option type, then everything freed. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/config.h"

typedef struct f_inner {
    int kind;
    uint64_t max;
    int64_t wait;
    char *name;
    sl_strlist list;
} f_inner;

typedef struct f_cfg {
    char *path;
    int64_t count;
    bool flag;
    uint64_t size;
    int64_t dur;
    int mode;
    sl_strlist include;
    sl_strmap labels;
    f_inner inner;
    int64_t conc;
} f_cfg;

static const char *const f_modes[] = {"head", "tail", NULL};
static const char *const f_kinds[] = {"memory", "disk", NULL};

static const sl_option f_inner_opts[] = {
    {"type", SL_OPT_ENUM, offsetof(f_inner, kind), "memory", 0, f_kinds, NULL, 0, 0, NULL},
    {"max_size", SL_OPT_SIZE, offsetof(f_inner, max), "1MiB", 0, NULL, NULL, 1, 1 << 30, NULL},
    {"wait", SL_OPT_DURATION, offsetof(f_inner, wait), "1s", 0, NULL, NULL, 0, 60000, NULL},
    {"name", SL_OPT_STR, offsetof(f_inner, name), "x", 0, NULL, NULL, 0, 0, NULL},
    {"list", SL_OPT_STRLIST, offsetof(f_inner, list), "[a, b]", 0, NULL, NULL, 0, 0, NULL},
    SL_OPT_END,
};

static const sl_option f_opts[] = {
    {"path", SL_OPT_STR, offsetof(f_cfg, path), NULL, 0, NULL, NULL, 0, 0, NULL},
    {"count", SL_OPT_INT, offsetof(f_cfg, count), "10", 0, NULL, NULL, 1, 1000, NULL},
    {"flag", SL_OPT_BOOL, offsetof(f_cfg, flag), "true", 0, NULL, NULL, 0, 0, NULL},
    {"size", SL_OPT_SIZE, offsetof(f_cfg, size), "1KiB", 0, NULL, NULL, 0, 0, NULL},
    {"dur", SL_OPT_DURATION, offsetof(f_cfg, dur), "250ms", 0, NULL, NULL, 0, 0, NULL},
    {"mode", SL_OPT_ENUM, offsetof(f_cfg, mode), "tail", 0, f_modes, NULL, 0, 0, NULL},
    {"include", SL_OPT_STRLIST, offsetof(f_cfg, include), NULL, 0, NULL, NULL, 0, 0, NULL},
    {"labels", SL_OPT_STRMAP, offsetof(f_cfg, labels), "{a: b}", 0, NULL, NULL, 0, 0, NULL},
    {"inner", SL_OPT_OBJECT, offsetof(f_cfg, inner), NULL, 0, NULL, f_inner_opts, 0, 0, NULL},
    {"concurrency", SL_OPT_CONCURRENCY, offsetof(f_cfg, conc), "adaptive", 0, NULL, NULL, 1, 64,
     NULL},
    SL_OPT_END,
};

typedef struct f_common {
    char *id;
    bool enabled;
} f_common;

static const sl_option f_common_opts[] = {
    {"id", SL_OPT_STR, offsetof(f_common, id), NULL, 0, NULL, NULL, 0, 0, NULL},
    {"enabled", SL_OPT_BOOL, offsetof(f_common, enabled), "yes", 0, NULL, NULL, 0, 0, NULL},
    SL_OPT_END,
};

static const char *const f_ignore[] = {"type", "inputs", NULL};

static void apply_one(const sl_cnode *node, const char *path, const char *where)
{
    f_cfg cfg;
    f_common common;
    const sl_option *const tables[] = {f_common_opts, f_opts};
    void *const bases[] = {&common, &cfg};
    char err[512] = "";
    config_apply(tables, bases, 2, node, f_ignore, path, where, err, sizeof err);
    if (strlen(err) >= sizeof err)
        abort();
    config_options_free(f_opts, &cfg);
    config_options_free(f_common_opts, &common);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    setenv("SLUICE_FUZZ_SET", "v", 0);
    sl_config_doc *doc = NULL;
    char err[512] = "";
    if (config_doc_load(&doc, "fuzz.yaml", text, err, sizeof err) == SL_OK) {
        apply_one(doc->root, doc->path, "");
        /* Also every child of the root, and every grandchild, like components. */
        for (size_t i = 0; i < doc->root->n; i++) {
            const sl_cnode *c = doc->root->items[i];
            apply_one(c, doc->path, c->key ? c->key : "item");
            for (size_t j = 0; j < c->n; j++)
                apply_one(c->items[j], doc->path, "sub");
            cnode_get(c, "path");
        }
        uint64_t sz;
        int64_t ms;
        if (doc->root->kind == SL_CNODE_MAP) {
            const sl_cnode *s = cnode_get(doc->root, "s");
            if (s && s->kind == SL_CNODE_SCALAR) {
                config_parse_size(s->scalar, &sz);
                config_parse_duration_ms(s->scalar, &ms);
            }
        }
        config_doc_free(doc);
    }
    /* The raw text through the scalar parsers too. */
    uint64_t sz;
    int64_t ms;
    config_parse_size(text, &sz);
    config_parse_duration_ms(text, &ms);
    free(text);
    return 0;
}
