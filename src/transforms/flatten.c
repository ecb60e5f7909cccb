/* flatten.c - the `flatten` transform (nested JSON objects kept as raw SL_VAL_JSON become
 * one typed field per leaf, keys joined with a separator) and `sanitize_keys` (characters
 * a backend refuses in field names replaced). Everything new lives in the batch arena. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/component.h"
#include "formats/json.h"

/* ---- flatten -------------------------------------------------------------------------- */

typedef struct flatten_config {
    char *separator;
    int64_t max_depth;
    sl_strlist fields;
} flatten_config;

static const sl_option flatten_options[] = {
    {"separator", SL_OPT_STR, offsetof(flatten_config, separator), ".", 0, NULL, NULL, 0, 0,
     "joins a parent key and a child key"},
    {"max_depth", SL_OPT_INT, offsetof(flatten_config, max_depth), "16", 0, NULL, NULL, 1, 64,
     "object levels expanded; deeper objects stay raw JSON"},
    {"fields", SL_OPT_STRLIST, offsetof(flatten_config, fields), NULL, 0, NULL, NULL, 0, 0,
     "only these fields (default: every object-valued field)"},
    SL_OPT_END,
};

typedef struct flatten_tf {
    const flatten_config *cfg;
    size_t seplen;
} flatten_tf;

static int flatten_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                        size_t errlen)
{
    const flatten_config *cfg = config;
    flatten_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->seplen = strlen(cfg->separator);
    *self = t;
    return SL_OK;
}

typedef struct flat_ctx {
    flatten_tf *t;
    sl_batch *b;
    sl_event *e;
    sl_buf key; /* the current path */
} flat_ctx;

static void flat_emit(flat_ctx *c, const json_value *v, int depth)
{
    if (v->type == JSON_OBJ && v->n > 0 && depth <= c->t->cfg->max_depth) {
        size_t mark = c->key.len;
        for (size_t i = 0; i < v->n; i++) {
            c->key.len = mark;
            if (mark)
                buf_append(&c->key, c->t->cfg->separator, c->t->seplen);
            buf_puts(&c->key, v->keys[i]);
            flat_emit(c, v->items[i], depth + 1);
        }
        c->key.len = mark;
        return;
    }
    /* Never overwrite a field the event already has (trace_id ...): '_' until unique. */
    for (int tries = 0; tries < 8 && event_get(c->e, c->key.p, c->key.len); tries++)
        buf_putc(&c->key, '_');
    /* strings, arrays and empty or too deep objects were parsed into the batch arena */
    json_value_to_field(c->b, event_add_field(c->b, c->e, c->key.p, c->key.len), v, false);
    c->b->bytes += c->key.len + 16;
}

static bool flatten_wanted(const flatten_tf *t, sl_str k)
{
    if (t->cfg->fields.n == 0)
        return true;
    for (size_t i = 0; i < t->cfg->fields.n; i++)
        if (strlen(t->cfg->fields.v[i]) == k.len && memcmp(t->cfg->fields.v[i], k.ptr, k.len) == 0)
            return true;
    return false;
}

static int flatten_process(void *self, sl_batch *b)
{
    flatten_tf *t = self;
    flat_ctx c = {.t = t, .b = b};
    char err[64];
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        c.e = e;
        uint32_t n0 = e->nfields;
        for (uint32_t f = 0; f < n0;) {
            sl_field fld = e->fields[f];
            if (fld.type != SL_VAL_JSON || !fld.v.s.len || fld.v.s.ptr[0] != '{' ||
                !flatten_wanted(t, fld.key)) {
                f++;
                continue;
            }
            /* Parsed into the batch arena: the leaves' strings are used in place. */
            json_value *root = json_parse(&b->arena, fld.v.s.ptr, fld.v.s.len, err, sizeof err);
            if (!root || root->type != JSON_OBJ || root->n == 0) {
                f++;
                continue;
            }
            memmove(&e->fields[f], &e->fields[f + 1], (e->nfields - f - 1) * sizeof *e->fields);
            e->nfields--;
            n0--;
            buf_reset(&c.key);
            buf_append(&c.key, fld.key.ptr, fld.key.len);
            flat_emit(&c, root, 1);
        }
    }
    buf_free(&c.key);
    return SL_OK;
}

const sl_transform_vtable sl_transform_flatten = {
    .type = "flatten",
    .help = "Turn nested JSON objects into one field per leaf (parent.child keys)",
    .options = flatten_options,
    .config_size = sizeof(flatten_config),
    .init = flatten_init,
    .process = flatten_process,
    .destroy = free,
};

/* ---- sanitize_keys -------------------------------------------------------------------- */

typedef struct sanitize_config {
    char *replacement;
    char *allowed;
    bool lowercase;
} sanitize_config;

static const sl_option sanitize_options[] = {
    {"replacement", SL_OPT_STR, offsetof(sanitize_config, replacement), "_", 0, NULL, NULL, 0, 0,
     "character written instead of a refused one (empty: drop it)"},
    {"allowed", SL_OPT_STR, offsetof(sanitize_config, allowed), "_.-", 0, NULL, NULL, 0, 0,
     "characters kept besides ASCII letters and digits"},
    {"lowercase", SL_OPT_BOOL, offsetof(sanitize_config, lowercase), "false", 0, NULL, NULL, 0,
     0, "also lower-case keys"},
    SL_OPT_END,
};

typedef struct sanitize_tf {
    const sanitize_config *cfg;
    bool ok[256];
    char repl;
    bool has_repl;
} sanitize_tf;

static int sanitize_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                         size_t errlen)
{
    const sanitize_config *cfg = config;
    if (strlen(cfg->replacement) > 1)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "replacement: \"%s\" is not one character (or empty: drop them)",
                         cfg->replacement);
    sanitize_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    for (int ch = 0; ch < 256; ch++)
        t->ok[ch] = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    for (const char *p = cfg->allowed; *p; p++)
        t->ok[(unsigned char)*p] = true;
    t->repl = cfg->replacement[0];
    t->has_repl = t->repl != '\0';
    *self = t;
    return SL_OK;
}

static int sanitize_process(void *self, sl_batch *b)
{
    sanitize_tf *t = self;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        for (uint32_t f = 0; f < e->nfields; f++) {
            sl_str k = e->fields[f].key;
            bool change = false;
            for (uint32_t j = 0; j < k.len && !change; j++) {
                unsigned char ch = (unsigned char)k.ptr[j];
                change = !t->ok[ch] || (t->cfg->lowercase && ch >= 'A' && ch <= 'Z');
            }
            if (!change)
                continue; /* the common case: keys stay where they are, no copy */
            /* +8: room to make the key unique (below) */
            char *nk = arena_alloc(&b->arena, k.len + 9);
            uint32_t n = 0;
            for (uint32_t j = 0; j < k.len; j++) {
                unsigned char ch = (unsigned char)k.ptr[j];
                if (t->ok[ch])
                    nk[n++] = (char)(t->cfg->lowercase && ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
                else if (t->has_repl)
                    nk[n++] = t->repl;
            }
            /* A cleaned key must not shadow one the event already has (trace_id ...):
             * it gets '_' appended until it is unique. */
            for (int tries = 0; tries < 8 && event_get(e, nk, n); tries++)
                nk[n++] = '_';
            nk[n] = '\0';
            e->fields[f].key = (sl_str){nk, n};
        }
    }
    return SL_OK;
}

const sl_transform_vtable sl_transform_sanitize_keys = {
    .type = "sanitize_keys",
    .help = "Replace characters outside [A-Za-z0-9_.-] in field names",
    .options = sanitize_options,
    .config_size = sizeof(sanitize_config),
    .init = sanitize_init,
    .process = sanitize_process,
    .destroy = free,
};
