/* route.h - Fluentd-style tag patterns for the `route` transform: `*` is one tag part,
 * `**` zero or more parts, `{a,b}` alternatives; exposed for unit tests. */
#ifndef SL_ROUTE_H
#define SL_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* True if the tag (not NUL-terminated) matches the pattern (NUL-terminated). */
bool route_tag_match(const char *pattern, const char *tag, size_t taglen);

#endif
