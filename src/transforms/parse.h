/* parse.h - the logfmt tokenizer behind the `parse` transform, exposed for the fuzzer and
 * unit tests. (JSON uses formats/json.h; regex uses PCRE2 named groups.) */
#ifndef SL_PARSE_H
#define SL_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

/* One key=value pair. `val` is unescaped (into the arena when it had escapes, else it
 * points into the input). bare: a key without '=' (a flag); quoted: the value was "...". */
typedef struct logfmt_pair {
    const char *key;
    size_t keylen;
    const char *val;
    size_t vallen;
    bool quoted, bare;
} logfmt_pair;

typedef void (*logfmt_fn)(void *arg, const logfmt_pair *p);

/* Tokenizes s[0..n). strict: every token must be key=value (what `auto` needs to tell
 * logfmt from prose). Calls fn for each pair only when the whole line is valid.
 * Returns the number of pairs (>= 1), or -1 when the line is not logfmt. At most 256
 * pairs. */
int logfmt_parse(const char *s, size_t n, bool strict, sl_arena *a, logfmt_fn fn, void *arg);

#endif
