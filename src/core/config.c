/* config.c - YAML configuration loading (libyaml) into a position-aware node tree, ${VAR}
 * expansion, and the declarative option tables that parse, validate and describe options.
 *
 * Notes on the design:
 *  1. Every node remembers its 1-based line and column; map entries also remember where
 *     their key is, so "unknown option" points at the key and "bad value" at the value.
 *  2. A plain (unquoted) YAML null ("", "~", "null") is stored as an empty, unquoted
 *     scalar. An empty quoted scalar is a real empty string. Options treat null as unset.
 *  3. The tree is bounded: at most CFG_MAX_DEPTH levels and CFG_MAX_NODES nodes, so alias
 *     bombs and self-referencing anchors are errors, never a crash or a hang.
 *  4. config_apply zeroes every field it manages before parsing; on error it frees what
 *     it stored, leaving fields zero, so a second config_options_free is harmless.
 *  5. Aliases are libyaml's; merge keys (`<<: *defaults`) are resolved here (merge_keys),
 *     a map's own keys first. Merged nodes count toward CFG_MAX_NODES like any others. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "buf.h"
#include "common.h"
#include "net/url.h"

#define CFG_MAX_DEPTH 64
#define CFG_MAX_NODES 200000

/* ---- Node tree ------------------------------------------------------------------- */

static void cnode_free(sl_cnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        cnode_free(n->items[i]);
    free(n->items);
    free(n->key);
    free(n->scalar);
    free(n);
}

void config_doc_free(sl_config_doc *doc)
{
    if (!doc)
        return;
    cnode_free(doc->root);
    free(doc->path);
    free(doc);
}

const sl_cnode *cnode_get(const sl_cnode *map, const char *key)
{
    if (!map || map->kind != SL_CNODE_MAP || !key)
        return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->items[i]->key && strcmp(map->items[i]->key, key) == 0)
            return map->items[i];
    return NULL;
}

const sl_cnode *cnode_find_path(const sl_cnode *n, const char *path, size_t len)
{
    while (n && len) {
        if (path[0] == '[') {
            size_t i = 1, idx = 0;
            while (i < len && path[i] >= '0' && path[i] <= '9' && idx < 1000000)
                idx = idx * 10 + (size_t)(path[i++] - '0');
            if (i == 1 || i >= len || path[i] != ']')
                return NULL;
            if (n->kind == SL_CNODE_SCALAR && idx == 0)
                ; /* a scalar where a list may be is a list of one */
            else if (n->kind == SL_CNODE_SEQ && idx < n->n)
                n = n->items[idx];
            else
                return NULL;
            path += i + 1, len -= i + 1;
        } else {
            if (n->kind != SL_CNODE_MAP)
                return NULL;
            /* the longest key that is the path or a prefix of it followed by . or [ */
            const sl_cnode *best = NULL;
            size_t bl = 0;
            for (size_t i = 0; i < n->n; i++) {
                const char *k = n->items[i]->key;
                size_t kl = k ? strlen(k) : 0;
                if (kl && kl <= len && kl > bl && memcmp(k, path, kl) == 0 &&
                    (kl == len || path[kl] == '.' || path[kl] == '['))
                    best = n->items[i], bl = kl;
            }
            if (!best)
                return NULL;
            n = best;
            path += bl, len -= bl;
        }
        if (len && path[0] == '.') {
            if (len == 1)
                return NULL;
            path++, len--;
        }
    }
    return len ? NULL : n;
}

bool cnode_section_has(const sl_cnode *root, const char *section, const char *id,
                       sl_buf *ids)
{
    const sl_cnode *sec = cnode_get(root, section);
    size_t n = sec && sec->kind == SL_CNODE_MAP ? sec->n : 0;
    for (size_t i = 0; i < n; i++)
        buf_printf(ids, "%s%s", i ? ", " : "", sec->items[i]->key);
    if (n == 0)
        buf_puts(ids, "none");
    buf_putc(ids, '\0');
    return cnode_get(sec, id) != NULL;
}

typedef struct load_ctx {
    yaml_document_t *doc;
    const char *path;
    size_t nodes;
    char *err;
    size_t errlen;
} load_ctx;

static bool is_env_name_start(char c) { return c == '_' || isalpha((unsigned char)c); }
static bool is_env_name_char(char c) { return c == '_' || isalnum((unsigned char)c); }

/* Expands ${VAR}, ${VAR:-default} and $$ in `in`. Returns an owned string in *out. */
static int expand_env(const load_ctx *lc, const char *in, int line, int col, char **out)
{
    sl_buf b = SL_BUF_INIT;
    const char *p = in;
    while (*p) {
        if (p[0] != '$' || (p[1] != '$' && p[1] != '{')) {
            buf_putc(&b, *p++);
            continue;
        }
        if (p[1] == '$') {
            buf_putc(&b, '$');
            p += 2;
            continue;
        }
        const char *name = p + 2, *q = name;
        if (!is_env_name_start(*q)) {
            buf_free(&b);
            return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                             "%s:%d:%d: invalid environment variable reference (write "
                             "${NAME} or ${NAME:-default}, or $$ for a literal $)",
                             lc->path, line, col);
        }
        while (is_env_name_char(*q))
            q++;
        size_t nlen = (size_t)(q - name);
        const char *def = NULL;
        size_t deflen = 0;
        if (q[0] == ':' && q[1] == '-') {
            def = q + 2;
            const char *e = strchr(def, '}');
            if (!e)
                q = def + strlen(def);
            else {
                deflen = (size_t)(e - def);
                q = e;
            }
        }
        if (*q != '}') {
            buf_free(&b);
            return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                             "%s:%d:%d: unterminated or invalid ${...} reference (write "
                             "${NAME} or ${NAME:-default}, or $$ for a literal $)",
                             lc->path, line, col);
        }
        char vname[256];
        if (nlen >= sizeof vname) {
            buf_free(&b);
            return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                             "%s:%d:%d: environment variable name too long", lc->path, line, col);
        }
        memcpy(vname, name, nlen);
        vname[nlen] = '\0';
        const char *val = getenv(vname);
        if (def && (!val || !*val)) {
            if (deflen)
                buf_append(&b, def, deflen);
        } else if (val) {
            if (*val)
                buf_puts(&b, val);
        } else {
            buf_free(&b);
            return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                             "%s:%d:%d: environment variable %s is not set (write ${%s:-default} "
                             "to give a default)",
                             lc->path, line, col, vname, vname);
        }
        p = q + 1;
    }
    buf_putc(&b, '\0');
    *out = b.p;
    return SL_OK;
}

static bool plain_is_null(const char *s)
{
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

static const char *node_kind_word(const sl_cnode *n)
{
    return n->kind == SL_CNODE_MAP ? "a map" : n->kind == SL_CNODE_SEQ ? "a sequence" : "a scalar";
}

static int convert(load_ctx *lc, yaml_node_t *y, int depth, sl_cnode **out);

/* `<<` unquoted: YAML's merge key (`<<: *defaults`), as Kubernetes and compose files use
 * it to share settings between components. */
static bool is_merge_key(const yaml_node_t *k)
{
    return k->type == YAML_SCALAR_NODE && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           strcmp((const char *)k->data.scalar.value, "<<") == 0;
}

/* The pairs of the maps a map's merge keys name (a map, or a list of maps: the earlier
 * wins) join it where it has no such key of its own, as YAML 1.1's merge type says. */
static int merge_keys(load_ctx *lc, yaml_node_t *y, int depth, sl_cnode *n)
{
    for (yaml_node_pair_t *pr = y->data.mapping.pairs.start; pr < y->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(lc->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(lc->doc, pr->value);
        if (!k || !v || !is_merge_key(k))
            continue;
        yaml_node_item_t one = pr->value, *from = &one, *to = &one + 1;
        if (v->type == YAML_SEQUENCE_NODE)
            from = v->data.sequence.items.start, to = v->data.sequence.items.top;
        for (yaml_node_item_t *it = from; it < to; it++) {
            yaml_node_t *m = yaml_document_get_node(lc->doc, *it);
            if (!m || m->type != YAML_MAPPING_NODE)
                return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                                 "%s:%d:%d: '<<' merges maps only (write <<: *name, with "
                                 "&name on a map)",
                                 lc->path, (int)k->start_mark.line + 1,
                                 (int)k->start_mark.column + 1);
            for (yaml_node_pair_t *q = m->data.mapping.pairs.start;
                 q < m->data.mapping.pairs.top; q++) {
                yaml_node_t *mk = yaml_document_get_node(lc->doc, q->key);
                yaml_node_t *mv = yaml_document_get_node(lc->doc, q->value);
                if (!mk || !mv || mk->type != YAML_SCALAR_NODE || is_merge_key(mk) ||
                    cnode_get(n, (const char *)mk->data.scalar.value))
                    continue;
                sl_cnode *c = NULL;
                int rc = convert(lc, mv, depth + 1, &c);
                if (rc != SL_OK)
                    return rc;
                c->key = sl_xstrdup((const char *)mk->data.scalar.value);
                c->key_line = (int)mk->start_mark.line + 1;
                c->key_col = (int)mk->start_mark.column + 1;
                n->items = sl_xrealloc(n->items, (n->n + 1) * sizeof *n->items);
                n->items[n->n++] = c;
            }
        }
    }
    return SL_OK;
}

/* Converts libyaml node `y` into a new sl_cnode in *out (owned by the caller). */
static int convert(load_ctx *lc, yaml_node_t *y, int depth, sl_cnode **out)
{
    int line = (int)y->start_mark.line + 1, col = (int)y->start_mark.column + 1;
    if (depth > CFG_MAX_DEPTH)
        return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                         "%s:%d:%d: document nested deeper than %d levels", lc->path, line, col,
                         CFG_MAX_DEPTH);
    if (++lc->nodes > CFG_MAX_NODES)
        return sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                         "%s:%d:%d: document has more than %d nodes (alias expansion?)", lc->path,
                         line, col, CFG_MAX_NODES);
    sl_cnode *n = sl_xcalloc(1, sizeof *n);
    n->line = n->key_line = line;
    n->col = n->key_col = col;
    int rc = SL_OK;
    switch (y->type) {
    case YAML_SCALAR_NODE: {
        n->kind = SL_CNODE_SCALAR;
        const char *raw = (const char *)y->data.scalar.value;
        n->quoted = y->data.scalar.style != YAML_PLAIN_SCALAR_STYLE &&
                    y->data.scalar.style != YAML_ANY_SCALAR_STYLE;
        if (!n->quoted && plain_is_null(raw))
            n->scalar = sl_xstrdup("");
        else
            rc = expand_env(lc, raw, line, col, &n->scalar);
        break;
    }
    case YAML_SEQUENCE_NODE: {
        n->kind = SL_CNODE_SEQ;
        size_t cnt = (size_t)(y->data.sequence.items.top - y->data.sequence.items.start);
        n->items = sl_xcalloc(cnt ? cnt : 1, sizeof *n->items);
        for (size_t i = 0; i < cnt && rc == SL_OK; i++) {
            yaml_node_t *c = yaml_document_get_node(lc->doc, y->data.sequence.items.start[i]);
            if (!c)
                break;
            rc = convert(lc, c, depth + 1, &n->items[n->n]);
            if (rc == SL_OK)
                n->n++;
        }
        break;
    }
    case YAML_MAPPING_NODE: {
        n->kind = SL_CNODE_MAP;
        size_t cnt = (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start);
        n->items = sl_xcalloc(cnt ? cnt : 1, sizeof *n->items);
        for (size_t i = 0; i < cnt && rc == SL_OK; i++) {
            yaml_node_pair_t *pr = &y->data.mapping.pairs.start[i];
            yaml_node_t *k = yaml_document_get_node(lc->doc, pr->key);
            yaml_node_t *v = yaml_document_get_node(lc->doc, pr->value);
            if (!k || !v)
                break;
            int kl = (int)k->start_mark.line + 1, kc = (int)k->start_mark.column + 1;
            if (k->type != YAML_SCALAR_NODE) {
                rc = sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                               "%s:%d:%d: map keys must be plain strings", lc->path, kl, kc);
                break;
            }
            if (is_merge_key(k))
                continue; /* after the map's own keys: merge_keys */
            const char *key = (const char *)k->data.scalar.value;
            const sl_cnode *dup = cnode_get(n, key);
            if (dup) {
                rc = sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG,
                               "%s:%d:%d: duplicate key '%s' (first defined at line %d)",
                               lc->path, kl, kc, key, dup->key_line);
                break;
            }
            sl_cnode *c = NULL;
            rc = convert(lc, v, depth + 1, &c);
            if (rc != SL_OK)
                break;
            c->key = sl_xstrdup(key);
            c->key_line = kl;
            c->key_col = kc;
            n->items[n->n++] = c;
        }
        if (rc == SL_OK)
            rc = merge_keys(lc, y, depth, n);
        break;
    }
    default:
        rc = sl_seterr(lc->err, lc->errlen, SL_ERR_CONFIG, "%s:%d:%d: unsupported YAML node",
                       lc->path, line, col);
        break;
    }
    if (rc != SL_OK) {
        cnode_free(n);
        return rc;
    }
    *out = n;
    return SL_OK;
}

/* Turns a byte offset into a 1-based line:column, for reader errors that lack a mark. */
static void offset_to_linecol(const char *text, size_t len, size_t off, int *line, int *col)
{
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int parser_error(const yaml_parser_t *p, const char *path, const char *text, size_t len,
                        char *err, size_t errlen)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    int line, col;
    if (p->error == YAML_READER_ERROR) {
        offset_to_linecol(text, len, p->problem_offset, &line, &col);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s:%d:%d: %s", path, line, col, problem);
    }
    if (p->error == YAML_MEMORY_ERROR)
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: out of memory while parsing YAML", path);
    line = (int)p->problem_mark.line + 1;
    col = (int)p->problem_mark.column + 1;
    return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s:%d:%d: %s", path, line, col, problem);
}

static int load_text(sl_config_doc *doc, const char *text, size_t len, char *err, size_t errlen)
{
    yaml_parser_t parser;
    yaml_document_t ydoc;
    if (!yaml_parser_initialize(&parser))
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: cannot initialise YAML parser",
                         doc->path);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &ydoc)) {
        int rc = parser_error(&parser, doc->path, text, len, err, errlen);
        yaml_parser_delete(&parser);
        return rc;
    }
    int rc = SL_OK;
    yaml_node_t *root = yaml_document_get_root_node(&ydoc);
    if (root) {
        load_ctx lc = {&ydoc, doc->path, 0, err, errlen};
        rc = convert(&lc, root, 0, &doc->root);
    }
    yaml_document_delete(&ydoc);
    if (rc == SL_OK) {
        /* A second document is almost always a mistake (a stray "---"); say so. */
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            rc = parser_error(&parser, doc->path, text, len, err, errlen);
        } else {
            yaml_node_t *r2 = yaml_document_get_root_node(&next);
            bool empty = !r2 || (r2->type == YAML_SCALAR_NODE && r2->data.scalar.length == 0 &&
                                 r2->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
            if (!empty)
                rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                               "%s:%d:%d: only one YAML document is allowed in a configuration",
                               doc->path, (int)next.start_mark.line + 1,
                               (int)next.start_mark.column + 1);
            yaml_document_delete(&next);
        }
    }
    yaml_parser_delete(&parser);
    if (rc != SL_OK)
        return rc;
    /* An empty file (or one holding only null) is an empty map. */
    if (!doc->root || (doc->root->kind == SL_CNODE_SCALAR && !doc->root->quoted &&
                       !doc->root->scalar[0])) {
        cnode_free(doc->root);
        doc->root = sl_xcalloc(1, sizeof *doc->root);
        doc->root->kind = SL_CNODE_MAP;
        doc->root->line = doc->root->col = doc->root->key_line = doc->root->key_col = 1;
    }
    return SL_OK;
}

/* True when the line at p (length n) is `word`, ASCII case ignored, then only blanks or a
 * comment starting with `#`. */
static bool line_is(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    if (n < w || strncasecmp(p, word, w) != 0)
        return false;
    for (size_t i = w; i < n && p[i] != '#'; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

static bool line_starts(const char *p, size_t n, const char *word)
{
    size_t w = strlen(word);
    return n >= w && strncmp(p, word, w) == 0;
}

/* Which other log shipper's configuration `text` is, from a line at column 0 that no sluice
 * file can have (a YAML document whose top is a map): Fluent Bit's classic sections and
 * directives, Fluent Bit's YAML `pipeline:`, Fluentd's directives, Vector's TOML tables.
 * Their parsers' errors ("did not find expected <document start>") said nothing of it.
 * Returns the name, or NULL; *line gets the line that told. */
static const char *foreign_format(const char *text, size_t len, int *line)
{
    static const char *const fluentbit[] = {"[SERVICE]", "[INPUT]", "[FILTER]", "[OUTPUT]",
                                            "[PARSER]", "[MULTILINE_PARSER]", "[UPSTREAM]",
                                            "[PLUGINS]", "[NODE]"};
    const char *p = text, *end = text + len;
    for (int ln = 1; p < end; ln++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        *line = ln;
        for (size_t i = 0; i < sizeof fluentbit / sizeof *fluentbit; i++)
            if (line_is(p, n, fluentbit[i]))
                return "a Fluent Bit configuration (classic format)";
        if (line_starts(p, n, "@INCLUDE ") || line_starts(p, n, "@SET "))
            return "a Fluent Bit configuration (classic format)";
        if (line_is(p, n, "pipeline:"))
            return "a Fluent Bit configuration (YAML format)";
        if (line_is(p, n, "<source>") || line_starts(p, n, "<match ") ||
            line_starts(p, n, "<filter ") || line_is(p, n, "<system>") ||
            line_starts(p, n, "<label ") || line_starts(p, n, "@include "))
            return "a Fluentd configuration";
        if (line_starts(p, n, "[sources.") || line_starts(p, n, "[transforms.") ||
            line_starts(p, n, "[sinks.") || line_starts(p, n, "data_dir ="))
            return "a Vector configuration (TOML)";
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

int config_doc_load(sl_config_doc **out, const char *path, const char *text, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!path && !text)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "no configuration file given");
    sl_config_doc *doc = sl_xcalloc(1, sizeof *doc);
    doc->path = sl_xstrdup(path ? path : "<config>");
    char *owned = NULL;
    size_t len;
    int rc;
    if (text) {
        len = strlen(text);
    } else {
        rc = sl_read_file(path, &owned, &len, err, errlen);
        if (rc != SL_OK) {
            config_doc_free(doc);
            return rc;
        }
        text = owned;
    }
    int fline = 0;
    const char *foreign = foreign_format(text, len, &fline);
    if (foreign)
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                       "%s:%d:1: this is %s; sluice reads its own YAML (sources, "
                       "transforms, sinks): docs/migration/other-shippers.md gives sluice's "
                       "type for their plugins, `sluice components TYPE` its options",
                       doc->path, fline, foreign);
    else
        rc = load_text(doc, text, len, err, errlen);
    free(owned);
    if (rc != SL_OK) {
        config_doc_free(doc);
        return rc;
    }
    *out = doc;
    return SL_OK;
}

static sl_config_file_loader file_loader;

void config_set_file_loader(sl_config_file_loader fn) { file_loader = fn; }

int config_file_load(sl_config_doc **out, const char *path, char *err, size_t errlen)
{
    return file_loader ? file_loader(out, path, err, errlen)
                       : config_doc_load(out, path, NULL, err, errlen);
}

/* ---- Value parsers ---------------------------------------------------------------- */

static bool parse_u64(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    if (!isdigit((unsigned char)*s))
        return false;
    uint64_t v = 0;
    while (isdigit((unsigned char)*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *sp = s;
    *out = v;
    return true;
}

int config_parse_size(const char *s, uint64_t *out)
{
    if (!s)
        return SL_ERR_INVAL;
    while (*s == ' ' || *s == '\t')
        s++;
    uint64_t v;
    if (!parse_u64(&s, &v))
        return SL_ERR_INVAL;
    while (*s == ' ' || *s == '\t')
        s++;
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {
        {"", 1},
        {"b", 1},
        {"k", 1024ull},
        {"kb", 1000ull},
        {"kib", 1024ull},
        {"m", 1024ull * 1024},
        {"mb", 1000ull * 1000},
        {"mib", 1024ull * 1024},
        {"g", 1024ull * 1024 * 1024},
        {"gb", 1000ull * 1000 * 1000},
        {"gib", 1024ull * 1024 * 1024},
        {"t", 1024ull * 1024 * 1024 * 1024},
        {"tb", 1000ull * 1000 * 1000 * 1000},
        {"tib", 1024ull * 1024 * 1024 * 1024},
    };
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    for (size_t i = 0; i < SL_ARRAY_LEN(units); i++) {
        if (strlen(units[i].suffix) != n || strncasecmp(s, units[i].suffix, n) != 0)
            continue;
        if (v > UINT64_MAX / units[i].mult)
            return SL_ERR_INVAL;
        *out = v * units[i].mult;
        return SL_OK;
    }
    return SL_ERR_INVAL;
}

int config_parse_duration_ms(const char *s, int64_t *out)
{
    if (!s)
        return SL_ERR_INVAL;
    while (*s == ' ' || *s == '\t')
        s++;
    uint64_t total = 0;
    bool any = false;
    while (*s && *s != ' ' && *s != '\t') {
        uint64_t v;
        if (!parse_u64(&s, &v))
            return SL_ERR_INVAL;
        uint64_t mult;
        if (s[0] == 'm' && s[1] == 's')
            mult = 1, s += 2;
        else if (s[0] == 's')
            mult = 1000, s += 1;
        else if (s[0] == 'm')
            mult = 60000, s += 1;
        else if (s[0] == 'h')
            mult = 3600000, s += 1;
        else if (s[0] == 'd')
            mult = 86400000, s += 1;
        else if (!any && (!*s || *s == ' ' || *s == '\t'))
            mult = 1; /* a bare number is milliseconds */
        else
            return SL_ERR_INVAL;
        if (v > (uint64_t)INT64_MAX / mult || total > (uint64_t)INT64_MAX - v * mult)
            return SL_ERR_INVAL;
        total += v * mult;
        any = true;
        if (mult == 1 && (!*s || *s == ' ' || *s == '\t'))
            break;
    }
    while (*s == ' ' || *s == '\t')
        s++;
    if (!any || *s)
        return SL_ERR_INVAL;
    *out = (int64_t)total;
    return SL_OK;
}

static bool parse_int64(const char *s, int64_t *out)
{
    if (!*s || isspace((unsigned char)*s))
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (size_t i = 0; i < SL_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Levenshtein distance, capped: returns cap+1 when the strings are further apart. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return cap + 1;
    if ((la > lb ? la - lb : lb - la) > cap)
        return cap + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t best = prev + (a[i - 1] != b[j - 1]);
            best = SL_MIN(best, row[j] + 1);
            best = SL_MIN(best, row[j - 1] + 1);
            row[j] = best;
            prev = cur;
        }
    }
    return row[lb] > cap ? cap + 1 : row[lb];
}

/* ---- Applying option tables -------------------------------------------------------- */

typedef struct apply_ctx {
    const char *path;
    char *err;
    size_t errlen;
} apply_ctx;

/* Formats "path:line:col: where: problem" (no line:col when `at` is NULL). */
static int cfg_err(const apply_ctx *ac, const sl_cnode *at, bool at_key, const char *where,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int cfg_err(const apply_ctx *ac, const sl_cnode *at, bool at_key, const char *where,
                   const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *sep = where && *where ? ": " : "";
    if (!where)
        where = "";
    if (!at || at->line <= 0)
        return sl_seterr(ac->err, ac->errlen, SL_ERR_CONFIG, "%s: %s%s%s", ac->path, where, sep,
                         msg);
    int line = at_key && at->key ? at->key_line : at->line;
    int col = at_key && at->key ? at->key_col : at->col;
    return sl_seterr(ac->err, ac->errlen, SL_ERR_CONFIG, "%s:%d:%d: %s%s%s", ac->path, line, col,
                     where, sep, msg);
}

static bool cnode_is_null(const sl_cnode *n)
{
    return n && n->kind == SL_CNODE_SCALAR && !n->quoted && !n->scalar[0];
}

/* Describes a node for "got ..." messages: the scalar in quotes, or its kind. */
static const char *got_word(const sl_cnode *n, char *tmp, size_t tmplen)
{
    if (n->kind != SL_CNODE_SCALAR)
        return node_kind_word(n);
    snprintf(tmp, tmplen, "'%.200s%s'", n->scalar, strlen(n->scalar) > 200 ? "..." : "");
    return tmp;
}

static void join_path(char *dst, size_t len, const char *where, const char *name)
{
    if (where && *where)
        snprintf(dst, len, "%s.%s", where, name);
    else
        snprintf(dst, len, "%s", name);
}

static void table_zero(const sl_option *t, char *base)
{
    for (const sl_option *o = t; o->name; o++) {
        char *f = base + o->offset;
        switch (o->type) {
        case SL_OPT_STR:
        case SL_OPT_ADDRESS: *(char **)f = NULL; break;
        case SL_OPT_INT:
        case SL_OPT_DURATION:
        case SL_OPT_CONCURRENCY: *(int64_t *)f = 0; break;
        case SL_OPT_BOOL: *(bool *)f = false; break;
        case SL_OPT_SIZE: *(uint64_t *)f = 0; break;
        case SL_OPT_ENUM: *(int *)f = 0; break;
        case SL_OPT_STRLIST: memset(f, 0, sizeof(sl_strlist)); break;
        case SL_OPT_STRMAP: memset(f, 0, sizeof(sl_strmap)); break;
        case SL_OPT_OBJECT:
            if (o->sub)
                table_zero(o->sub, f);
            break;
        }
    }
}

void config_options_free(const sl_option *table, void *base)
{
    if (!table || !base)
        return;
    for (const sl_option *o = table; o->name; o++) {
        char *f = (char *)base + o->offset;
        switch (o->type) {
        case SL_OPT_STR:
        case SL_OPT_ADDRESS:
            free(*(char **)f);
            *(char **)f = NULL;
            break;
        case SL_OPT_STRLIST: {
            sl_strlist *l = (sl_strlist *)f;
            for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
            free(l->v);
            l->v = NULL;
            l->n = 0;
            break;
        }
        case SL_OPT_STRMAP: {
            sl_strmap *m = (sl_strmap *)f;
            for (size_t i = 0; i < m->n; i++) {
                free(m->keys[i]);
                free(m->vals[i]);
            }
            free(m->keys);
            free(m->vals);
            m->keys = m->vals = NULL;
            m->n = 0;
            break;
        }
        case SL_OPT_OBJECT:
            config_options_free(o->sub, f);
            break;
        default:
            break;
        }
    }
}

static int apply_tables(const apply_ctx *ac, const sl_option *const *tables,
                        void *const *bases, size_t ntables, const sl_cnode *map,
                        const char *const *ignore, const char *where, const sl_cnode *fallback);

static int expect_scalar(const apply_ctx *ac, const sl_cnode *v, const char *opath,
                         const char *what)
{
    if (v->kind == SL_CNODE_SCALAR)
        return SL_OK;
    return cfg_err(ac, v, false, opath, "expected %s, got %s", what, node_kind_word(v));
}

static void list_choices(sl_buf *b, const char *const *choices)
{
    for (size_t i = 0; choices && choices[i]; i++)
        buf_printf(b, "%s%s", i ? ", " : "", choices[i]);
    buf_putc(b, '\0');
}

/* Stores node `v` (not null) into the field of option `o`. */
static int set_value(const apply_ctx *ac, const sl_option *o, char *base, const sl_cnode *v,
                     const char *opath)
{
    char *f = base + o->offset;
    char tmp[256];
    int rc;
    switch (o->type) {
    case SL_OPT_STR:
        if ((rc = expect_scalar(ac, v, opath, "a string")) != SL_OK)
            return rc;
        free(*(char **)f);
        *(char **)f = sl_xstrdup(v->scalar);
        return SL_OK;
    case SL_OPT_ADDRESS: {
        if ((rc = expect_scalar(ac, v, opath, "a host:port address")) != SL_OK)
            return rc;
        char host[256], msg[512];
        int port;
        if (url_parse_hostport(v->scalar, host, sizeof host, &port, msg, sizeof msg) != SL_OK)
            return cfg_err(ac, v, false, opath, "%s", msg);
        free(*(char **)f);
        *(char **)f = sl_xstrdup(v->scalar);
        return SL_OK;
    }
    case SL_OPT_INT: {
        int64_t x;
        if (v->kind != SL_CNODE_SCALAR || !parse_int64(v->scalar, &x))
            return cfg_err(ac, v, false, opath, "expected an integer, got %s",
                           got_word(v, tmp, sizeof tmp));
        if (o->max > o->min && (x < o->min || x > o->max))
            return cfg_err(ac, v, false, opath, "must be between %lld and %lld, got %lld",
                           (long long)o->min, (long long)o->max, (long long)x);
        *(int64_t *)f = x;
        return SL_OK;
    }
    case SL_OPT_BOOL: {
        bool x;
        if (v->kind != SL_CNODE_SCALAR || !parse_bool(v->scalar, &x))
            return cfg_err(ac, v, false, opath, "expected true or false, got %s",
                           got_word(v, tmp, sizeof tmp));
        *(bool *)f = x;
        return SL_OK;
    }
    case SL_OPT_SIZE: {
        uint64_t x;
        if (v->kind != SL_CNODE_SCALAR || config_parse_size(v->scalar, &x) != SL_OK)
            return cfg_err(ac, v, false, opath,
                           "expected a size like 4096, 512KiB, 64MiB or 1GB, got %s",
                           got_word(v, tmp, sizeof tmp));
        if (o->max > o->min && (o->max < 0 || x < (uint64_t)SL_MAX(o->min, 0) ||
                                x > (uint64_t)o->max))
            return cfg_err(ac, v, false, opath, "must be between %lld and %lld bytes, got %s",
                           (long long)o->min, (long long)o->max, got_word(v, tmp, sizeof tmp));
        *(uint64_t *)f = x;
        return SL_OK;
    }
    case SL_OPT_DURATION: {
        int64_t x;
        if (v->kind != SL_CNODE_SCALAR || config_parse_duration_ms(v->scalar, &x) != SL_OK)
            return cfg_err(ac, v, false, opath,
                           "expected a duration like 250ms, 5s, 2m or 1h, got %s",
                           got_word(v, tmp, sizeof tmp));
        /* A number alone is milliseconds, which only a name ending in _ms says: whoever
         * wrote `idle_timeout: 30` meant seconds (Fluent Bit's times are), and 30 ms
         * would close every connection. */
        size_t nl = strlen(o->name);
        if (x != 0 && !(nl > 3 && strcmp(o->name + nl - 3, "_ms") == 0) &&
            strspn(v->scalar, " \t0123456789") == strlen(v->scalar))
            return cfg_err(ac, v, false, opath,
                           "%s has no unit: write %lldms or %llds (a number alone would be "
                           "milliseconds)",
                           got_word(v, tmp, sizeof tmp), (long long)x, (long long)x);
        if (o->max > o->min && (x < o->min || x > o->max))
            return cfg_err(ac, v, false, opath, "must be between %lld and %lld ms, got %s",
                           (long long)o->min, (long long)o->max, got_word(v, tmp, sizeof tmp));
        *(int64_t *)f = x;
        return SL_OK;
    }
    case SL_OPT_CONCURRENCY: {
        int64_t x;
        if (v->kind == SL_CNODE_SCALAR && strcmp(v->scalar, "adaptive") == 0) {
            *(int64_t *)f = -1;
            return SL_OK;
        }
        if (v->kind != SL_CNODE_SCALAR || !parse_int64(v->scalar, &x) || x < 1)
            return cfg_err(ac, v, false, opath,
                           "expected a positive integer or 'adaptive', got %s",
                           got_word(v, tmp, sizeof tmp));
        if (o->max > o->min && (x < o->min || x > o->max))
            return cfg_err(ac, v, false, opath, "must be between %lld and %lld, got %lld",
                           (long long)o->min, (long long)o->max, (long long)x);
        *(int64_t *)f = x;
        return SL_OK;
    }
    case SL_OPT_ENUM: {
        if (v->kind == SL_CNODE_SCALAR) {
            for (int i = 0; o->choices && o->choices[i]; i++) {
                if (strcmp(o->choices[i], v->scalar) == 0) {
                    *(int *)f = i;
                    return SL_OK;
                }
            }
        }
        sl_buf b = SL_BUF_INIT;
        list_choices(&b, o->choices);
        const char *near = NULL;
        size_t bestd = 3;
        for (size_t i = 0; v->kind == SL_CNODE_SCALAR && o->choices && o->choices[i]; i++) {
            size_t d = edit_distance(v->scalar, o->choices[i], 2);
            if (d < bestd && d < strlen(o->choices[i])) {
                bestd = d;
                near = o->choices[i];
            }
        }
        if (near)
            rc = cfg_err(ac, v, false, opath, "invalid value %s (did you mean '%s'? valid: %s)",
                         got_word(v, tmp, sizeof tmp), near, b.p);
        else
            rc = cfg_err(ac, v, false, opath, "invalid value %s (valid: %s)",
                         got_word(v, tmp, sizeof tmp), b.p);
        buf_free(&b);
        return rc;
    }
    case SL_OPT_STRLIST: {
        sl_strlist *l = (sl_strlist *)f;
        if (v->kind == SL_CNODE_MAP)
            return cfg_err(ac, v, false, opath, "expected a list of strings, got a map");
        if (v->kind == SL_CNODE_SCALAR) {
            l->v = sl_xcalloc(1, sizeof *l->v);
            l->v[0] = sl_xstrdup(v->scalar);
            l->n = 1;
            return SL_OK;
        }
        for (size_t i = 0; i < v->n; i++) {
            if (v->items[i]->kind != SL_CNODE_SCALAR) {
                char ipath[512];
                snprintf(ipath, sizeof ipath, "%s[%zu]", opath, i);
                return cfg_err(ac, v->items[i], false, ipath, "expected a string, got %s",
                               node_kind_word(v->items[i]));
            }
        }
        l->v = sl_xcalloc(v->n ? v->n : 1, sizeof *l->v);
        for (size_t i = 0; i < v->n; i++)
            l->v[i] = sl_xstrdup(v->items[i]->scalar);
        l->n = v->n;
        return SL_OK;
    }
    case SL_OPT_STRMAP: {
        sl_strmap *m = (sl_strmap *)f;
        if (v->kind != SL_CNODE_MAP)
            return cfg_err(ac, v, false, opath, "expected a map of strings, got %s",
                           got_word(v, tmp, sizeof tmp));
        /* With SL_OPT_MULTI a value may be a list of strings: one entry per element. */
        bool multi = (o->flags & SL_OPT_MULTI) != 0;
        size_t total = 0;
        for (size_t i = 0; i < v->n; i++) {
            const sl_cnode *it = v->items[i];
            bool list_ok = multi && it->kind == SL_CNODE_SEQ;
            for (size_t k = 0; list_ok && k < it->n; k++)
                list_ok = it->items[k]->kind == SL_CNODE_SCALAR;
            if (it->kind != SL_CNODE_SCALAR && !list_ok) {
                char ipath[512];
                join_path(ipath, sizeof ipath, opath, it->key);
                return cfg_err(ac, it, false, ipath,
                               multi ? "expected a string or a list of strings, got %s"
                                     : "expected a string, got %s",
                               node_kind_word(it));
            }
            total += it->kind == SL_CNODE_SEQ ? it->n : 1;
        }
        m->keys = sl_xcalloc(total ? total : 1, sizeof *m->keys);
        m->vals = sl_xcalloc(total ? total : 1, sizeof *m->vals);
        m->n = 0;
        for (size_t i = 0; i < v->n; i++) {
            const sl_cnode *it = v->items[i];
            if (it->kind == SL_CNODE_SCALAR) {
                m->keys[m->n] = sl_xstrdup(it->key);
                m->vals[m->n++] = sl_xstrdup(it->scalar);
                continue;
            }
            for (size_t k = 0; k < it->n; k++) {
                m->keys[m->n] = sl_xstrdup(it->key);
                m->vals[m->n++] = sl_xstrdup(it->items[k]->scalar);
            }
        }
        return SL_OK;
    }
    case SL_OPT_OBJECT: {
        if (v->kind != SL_CNODE_MAP)
            return cfg_err(ac, v, false, opath, "expected a map, got %s",
                           got_word(v, tmp, sizeof tmp));
        if (!o->sub)
            return SL_OK;
        const sl_option *const tabs[1] = {o->sub};
        void *const bs[1] = {f};
        return apply_tables(ac, tabs, bs, 1, v, NULL, opath, v);
    }
    }
    return cfg_err(ac, v, false, opath, "unsupported option type");
}

/* Applies the default text of `o`, parsed like a value written at `pos`. */
static int set_default(const apply_ctx *ac, const sl_option *o, char *base,
                       const sl_cnode *pos, const char *opath)
{
    if ((o->type == SL_OPT_STRLIST || o->type == SL_OPT_STRMAP) &&
        (o->def[0] == '[' || o->def[0] == '{')) {
        sl_config_doc *d = NULL;
        char derr[256];
        if (config_doc_load(&d, "<default>", o->def, derr, sizeof derr) != SL_OK)
            return cfg_err(ac, pos, true, opath, "invalid built-in default: %s", derr);
        int rc = set_value(ac, o, base, d->root, opath);
        config_doc_free(d);
        return rc;
    }
    sl_cnode n = {0};
    n.kind = SL_CNODE_SCALAR;
    n.scalar = (char *)o->def;
    if (pos) {
        n.line = n.key_line = pos->key ? pos->key_line : pos->line;
        n.col = n.key_col = pos->key ? pos->key_col : pos->col;
    }
    if (o->type == SL_OPT_OBJECT)
        return SL_OK; /* nested options carry their own defaults */
    return set_value(ac, o, base, &n, opath);
}

/* Whether s is in list; an entry ending in '*' takes every name it starts. */
static bool in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list && list[i]; i++) {
        size_t n = strlen(list[i]);
        if (n && list[i][n - 1] == '*' ? strncmp(list[i], s, n - 1) == 0
                                       : strcmp(list[i], s) == 0)
            return true;
    }
    return false;
}

typedef struct near_miss {
    const char *key;  /* the unknown key */
    sl_buf valid;     /* every valid name, comma separated */
    const char *near; /* the closest valid name, if close enough */
    size_t bestd;
} near_miss;

static void near_miss_add(near_miss *nm, const char *name)
{
    buf_printf(&nm->valid, "%s%s", nm->valid.len ? ", " : "", name);
    size_t d = edit_distance(nm->key, name, 2);
    if (d < nm->bestd && d < strlen(name)) {
        nm->bestd = d;
        nm->near = name;
    }
}

/* The keys the caller handles itself (`ignore`: the top level's sources, transforms and
 * sinks) are valid too: "source:" is pointed at "sources", not at the tables alone. */
static int unknown_key(const apply_ctx *ac, const sl_option *const *tables, size_t ntables,
                       const char *const *ignore, const sl_cnode *item, const char *where)
{
    near_miss nm = {.key = item->key, .valid = SL_BUF_INIT, .bestd = 3};
    for (size_t t = 0; t < ntables; t++)
        for (const sl_option *o = tables[t]; o && o->name; o++)
            near_miss_add(&nm, o->name);
    for (size_t i = 0; ignore && ignore[i]; i++) {
        bool listed = false;
        for (size_t t = 0; t < ntables && !listed; t++)
            for (const sl_option *o = tables[t]; o && o->name && !listed; o++)
                listed = strcmp(o->name, ignore[i]) == 0;
        if (!listed)
            near_miss_add(&nm, ignore[i]);
    }
    sl_buf valid = nm.valid;
    const char *near = nm.near;
    buf_putc(&valid, '\0');
    int rc;
    if (near)
        rc = cfg_err(ac, item, true, where, "unknown option '%s' (did you mean '%s'? valid: %s)",
                     item->key, near, valid.p);
    else
        rc = cfg_err(ac, item, true, where, "unknown option '%s' (valid: %s)", item->key,
                     valid.p);
    buf_free(&valid);
    return rc;
}

static int apply_tables(const apply_ctx *ac, const sl_option *const *tables,
                        void *const *bases, size_t ntables, const sl_cnode *map,
                        const char *const *ignore, const char *where, const sl_cnode *fallback)
{
    char tmp[256];
    if (cnode_is_null(map))
        map = NULL;
    if (map && map->kind != SL_CNODE_MAP)
        return cfg_err(ac, map, false, where, "expected a map, got %s",
                       got_word(map, tmp, sizeof tmp));
    const sl_cnode *pos = map ? map : fallback;
    for (size_t i = 0; map && i < map->n; i++) {
        const sl_cnode *item = map->items[i];
        if (in_list(ignore, item->key))
            continue;
        bool known = false;
        for (size_t t = 0; t < ntables && !known; t++)
            for (const sl_option *o = tables[t]; o && o->name && !known; o++)
                known = strcmp(o->name, item->key) == 0;
        if (!known)
            return unknown_key(ac, tables, ntables, ignore, item, where);
    }
    for (size_t t = 0; t < ntables; t++) {
        for (const sl_option *o = tables[t]; o && o->name; o++) {
            if (in_list(ignore, o->name))
                continue;
            char opath[512];
            join_path(opath, sizeof opath, where, o->name);
            const sl_cnode *v = cnode_get(map, o->name);
            if (cnode_is_null(v))
                v = NULL;
            int rc = SL_OK;
            if (v) {
                rc = set_value(ac, o, bases[t], v, opath);
            } else if (o->type == SL_OPT_OBJECT && o->sub) {
                const sl_option *const tabs[1] = {o->sub};
                void *const bs[1] = {(char *)bases[t] + o->offset};
                rc = apply_tables(ac, tabs, bs, 1, NULL, NULL, opath, pos);
            } else if (o->def) {
                rc = set_default(ac, o, bases[t], pos, opath);
            } else if (o->flags & SL_OPT_REQUIRED) {
                rc = cfg_err(ac, pos, true, where, "missing required option '%s'", o->name);
            }
            if (rc != SL_OK)
                return rc;
        }
    }
    return SL_OK;
}

int config_apply(const sl_option *const *tables, void *const *bases, size_t ntables,
                 const sl_cnode *map, const char *const *ignore, const char *path,
                 const char *where, char *err, size_t errlen)
{
    apply_ctx ac = {path ? path : "<config>", err, errlen};
    for (size_t t = 0; t < ntables; t++)
        if (tables[t])
            table_zero(tables[t], bases[t]);
    int rc = apply_tables(&ac, tables, bases, ntables, map, ignore, where, map);
    if (rc != SL_OK)
        for (size_t t = 0; t < ntables; t++)
            config_options_free(tables[t], bases[t]);
    return rc;
}

void config_defaults(const sl_option *table, void *base)
{
    char err[256];
    apply_ctx ac = {"<defaults>", err, sizeof err};
    table_zero(table, base);
    for (const sl_option *o = table; o && o->name; o++) {
        if (o->type == SL_OPT_OBJECT)
            config_defaults(o->sub, (char *)base + o->offset);
        else if (o->def && set_default(&ac, o, base, NULL, o->name) != SL_OK)
            table_zero((const sl_option[]){*o, SL_OPT_END}, base); /* bad default: zero */
    }
}

/* ---- Describing options ---------------------------------------------------------------- */

static void type_word(const sl_option *o, sl_buf *b)
{
    switch (o->type) {
    case SL_OPT_STR: buf_puts(b, "string"); break;
    case SL_OPT_INT: buf_puts(b, "integer"); break;
    case SL_OPT_BOOL: buf_puts(b, "bool"); break;
    case SL_OPT_SIZE: buf_puts(b, "size"); break;
    case SL_OPT_DURATION: buf_puts(b, "duration"); break;
    case SL_OPT_ENUM:
        for (size_t i = 0; o->choices && o->choices[i]; i++)
            buf_printf(b, "%s%s", i ? "|" : "", o->choices[i]);
        break;
    case SL_OPT_STRLIST: buf_puts(b, "list"); break;
    case SL_OPT_STRMAP: buf_puts(b, "map"); break;
    case SL_OPT_OBJECT: buf_puts(b, "object"); break;
    case SL_OPT_CONCURRENCY: buf_puts(b, "integer|adaptive"); break;
    case SL_OPT_ADDRESS: buf_puts(b, "host:port"); break;
    }
}

static void describe(const sl_option *table, const char *indent, sl_buf *out)
{
    size_t w = 0;
    for (const sl_option *o = table; o && o->name; o++)
        w = SL_MAX(w, strlen(o->name));
    for (const sl_option *o = table; o && o->name; o++) {
        buf_printf(out, "%s%-*s  ", indent, (int)w, o->name);
        type_word(o, out);
        if (o->def)
            buf_printf(out, "  (default: %s)", o->def);
        if (o->flags & SL_OPT_REQUIRED)
            buf_puts(out, "  (required)");
        if (o->help && *o->help)
            buf_printf(out, "  %s", o->help);
        buf_putc(out, '\n');
        if (o->type == SL_OPT_OBJECT && o->sub) {
            sl_buf sub = SL_BUF_INIT;
            buf_printf(&sub, "%s  ", indent);
            buf_putc(&sub, '\0');
            describe(o->sub, sub.p, out);
            buf_free(&sub);
        }
    }
}

void config_options_describe(const sl_option *table, const char *indent, char *out, size_t outlen)
{
    if (!out || !outlen)
        return;
    sl_buf b = SL_BUF_INIT;
    describe(table, indent ? indent : "", &b);
    size_t n = SL_MIN(b.len, outlen - 1);
    if (n)
        memcpy(out, b.p, n);
    out[n] = '\0';
    buf_free(&b);
}
