/* yaml_quote.h - double-quoted YAML scalars for the configurations the drop-ins write
 * (from_env.c, logfowd.c), so that no value from the environment or a JSON file can end
 * its scalar, start a ${VAR} expansion or carry a character YAML refuses. */
#ifndef SL_YAML_QUOTE_H
#define SL_YAML_QUOTE_H

#include <stdbool.h>

#include "core/buf.h"

/* True when s (NUL-terminated) is valid UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF). */
bool yaml_utf8_valid(const char *s);
/* Appends s as a double-quoted scalar: quote and backslash escaped, '$' doubled (the
 * loader's ${VAR} expansion gives it back), C0 and C1 controls, DEL, BOM and non-characters
 * as \u escapes, and a byte that is not UTF-8 as U+FFFD. */
void yaml_quote(sl_buf *out, const char *s);

#endif
