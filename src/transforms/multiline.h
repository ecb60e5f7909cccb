/* multiline.h - the line rules behind the `multiline` transform: each mode is a small state
 * machine over lines, compiled once (PCRE2, JIT when available) and asked line by line.
 * Exposed for the unit tests and the fuzzer. */
#ifndef SL_MULTILINE_H
#define SL_MULTILINE_H

#include <stddef.h>

enum { ML_MODE_JAVA = 0, ML_MODE_PYTHON, ML_MODE_GO, ML_MODE_RUBY, ML_MODE_DOTNET, ML_MODE_CUSTOM };

/* "java", "python", "go", "ruby", "dotnet", "custom", NULL. */
extern const char *const ml_mode_names[];

typedef struct ml_rules ml_rules;

/* Compiles the rules of `mode`. custom needs start_pattern or continue_pattern (PCRE2; the
 * others ignore both). Returns SL_OK and an owned *out, or an error naming the pattern. */
int ml_rules_new(ml_rules **out, int mode, const char *start_pattern,
                 const char *continue_pattern, char *err, size_t errlen);
void ml_rules_free(ml_rules *r);

/* Match scratch: one per thread (or per lock holder). */
void *ml_match_new(void);
void ml_match_free(void *md);

/* The state of a group whose first line is s[0..n). Never fails. */
int ml_first(const ml_rules *r, void *md, const char *s, size_t n);
/* The state after s[0..n) joins a group in `state`, or -1 when the line does not continue
 * it (it opens a new group). */
int ml_next(const ml_rules *r, void *md, int state, const char *s, size_t n);

#endif
