/* config.h - YAML configuration: a node tree that remembers file:line:column, ${VAR}
 * expansion, and declarative option tables that parse, validate and document options. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum sl_cnode_kind { SL_CNODE_SCALAR, SL_CNODE_MAP, SL_CNODE_SEQ } sl_cnode_kind;

/* One YAML node. Map entries are children that carry `key`. Scalars hold the value
 * after ${VAR} / ${VAR:-default} expansion. Lines and columns are 1-based. */
typedef struct sl_cnode {
    sl_cnode_kind kind;
    int line, col;
    char *key;            /* when a map entry: its key, else NULL */
    int key_line, key_col;
    char *scalar;         /* SL_CNODE_SCALAR: the expanded value */
    bool quoted;          /* scalar was quoted (so "123" stays a string, "" is not null) */
    struct sl_cnode **items;
    size_t n;
} sl_cnode;

/* A loaded document: the tree plus the file name used in every message. */
typedef struct sl_config_doc {
    sl_cnode *root;
    char *path;
} sl_config_doc;

/* Parses YAML text (from a file, or a string when `text` is non-NULL; `path` names it in
 * messages). Expands ${VAR} and ${VAR:-default} in scalars; an unset ${VAR} without a
 * default is an error. Returns an owned doc in *out (config_doc_free), or an error of
 * the form "path:line:col: message". */
int config_doc_load(sl_config_doc **out, const char *path, const char *text, char *err,
                    size_t errlen);

/* How a command that reads a -c file without running it (dlq, checkpoints) loads the file:
 * as `run` reads it, through the function main sets (a logfowd2 config.json is translated,
 * its data_dir included), else config_doc_load. */
typedef int (*sl_config_file_loader)(sl_config_doc **out, const char *path, char *err,
                                     size_t errlen);
void config_set_file_loader(sl_config_file_loader fn);
int config_file_load(sl_config_doc **out, const char *path, char *err, size_t errlen);
void config_doc_free(sl_config_doc *doc);

/* Map lookup by key; NULL if absent or `map` is not a map. */
const sl_cnode *cnode_get(const sl_cnode *map, const char *key);
/* The node `path` (len bytes) names below `n`: map keys joined by '.', a list item as
 * [N] ("tls.ca_file", "match[1]"; [0] of a scalar is the scalar, as a list option takes a
 * scalar for a list of one); a key holding dots ("service.name") matches whole. NULL when
 * there is none. */
const sl_cnode *cnode_find_path(const sl_cnode *n, const char *path, size_t len);
/* Whether the map `section` of root (sources, sinks ...) has the key `id`. Its keys, joined
 * by ", " ("none" when there are none), are appended to `ids` and NUL-terminated: for a
 * message that names the valid ones. */
bool cnode_section_has(const sl_cnode *root, const char *section, const char *id,
                       sl_buf *ids);

/* ---- Declarative options ------------------------------------------------------------
 * A component declares its options once, in a table that drives parsing, defaults,
 * validation messages, `--help` and docs. Values are stored at `offset` in the
 * component's config struct:
 *   STR -> char* (owned, freed by config_options_free)   INT -> int64_t
 *   BOOL -> bool      SIZE -> uint64_t ("64MiB", "1GB", 4096)
 *   DURATION -> int64_t milliseconds ("250ms", "5s", "2m", or a bare number of ms)
 *   ENUM -> int (index into `choices`)                    STRLIST -> sl_strlist
 *   STRMAP -> sl_strmap (a map of scalars)                OBJECT -> nested table `sub`
 *   CONCURRENCY -> int64_t (a positive number, or -1 for the word "adaptive")
 *   ADDRESS -> char* like STR, a `host:port` checked when read (url_parse_hostport), so
 *              `validate` refuses a listen address the source could not bind
 * STRLIST also accepts a single scalar as a list of one. */
typedef enum sl_opt_type {
    SL_OPT_STR,
    SL_OPT_INT,
    SL_OPT_BOOL,
    SL_OPT_SIZE,
    SL_OPT_DURATION,
    SL_OPT_ENUM,
    SL_OPT_STRLIST,
    SL_OPT_STRMAP,
    SL_OPT_OBJECT,
    SL_OPT_CONCURRENCY,
    SL_OPT_ADDRESS,
} sl_opt_type;

#define SL_OPT_REQUIRED 1u
/* STRMAP: a value may also be a list of strings, stored as one entry per element (the key
 * repeated, in order). */
#define SL_OPT_MULTI 2u

typedef struct sl_option {
    const char *name;
    sl_opt_type type;
    size_t offset;
    const char *def;               /* default as it would be written in YAML; NULL = none */
    unsigned flags;                /* SL_OPT_REQUIRED */
    const char *const *choices;    /* ENUM: NULL-terminated */
    const struct sl_option *sub;   /* OBJECT: nested table, offsets relative to `offset` */
    int64_t min, max;              /* INT/SIZE/DURATION bounds when max > min */
    const char *help;
} sl_option;

#define SL_OPT_END {0}

typedef struct sl_strlist {
    char **v;
    size_t n;
} sl_strlist;

typedef struct sl_strmap {
    char **keys, **vals;
    size_t n;
} sl_strmap;

/* Applies `map` to several option tables at once (a component's common options and its
 * own): each key must belong to exactly one table. Unknown keys, wrong types, values
 * out of range, bad enum words and missing required options are errors naming
 * file:line:col, the option path (`where`, e.g. "sinks.out") and the valid choices.
 * Unset options get their defaults. Keys listed in `ignore` (NULL-terminated, may be
 * NULL) are accepted and skipped. */
int config_apply(const sl_option *const *tables, void *const *bases, size_t ntables,
                 const sl_cnode *map, const char *const *ignore, const char *path,
                 const char *where, char *err, size_t errlen);
/* Applies defaults only (no YAML), e.g. for a built-in pipeline. */
void config_defaults(const sl_option *table, void *base);
/* Frees owned strings/lists stored by config_apply for one table. */
void config_options_free(const sl_option *table, void *base);
/* Writes "  name  type  (default: x)  help" lines for --help and docs. */
void config_options_describe(const sl_option *table, const char *indent, char *out, size_t outlen);

/* Parses sizes ("64MiB", "1GB", "512k", 4096) and durations ("250ms", "5s", "1m", "1h",
 * or a number of ms). Return 0 on success. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, int64_t *out);

#endif
