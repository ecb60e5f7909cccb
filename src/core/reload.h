/* reload.h - what a configuration reload changes: the diff of two documents by component.
 * The reload itself is topology_reload (topology.h); this is its pure part, unit-tested. */
#ifndef SL_RELOAD_H
#define SL_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Component ids, in the order of the new document (removed: of the old one). */
typedef struct sl_reload_diff {
    sl_strlist same, changed, added, removed;
} sl_reload_diff;

/* True when two nodes hold the same configuration: same kinds, scalars (value and
 * quoting) and sequences in order, maps with the same keys whatever their order. Where
 * they were written (line, column) does not matter. NULL equals NULL only. */
bool config_node_equal(const sl_cnode *a, const sl_cnode *b);

/* Compares two documents' roots. A component is `changed` when any of its options
 * differs, including `inputs` (what it reads from), `fallback` and `type`, or when it
 * moved between sources, transforms and sinks. Refused (SL_ERR_CONFIG, "path:line:col:
 * ..." naming the new document's `path`): a change of a top-level setting (data_dir,
 * shutdown_timeout, api, log), which sluice reads once at start, and a change of an
 * existing sink's `buffer` (the buffer and what it holds are kept). On success the
 * caller owns *out (reload_diff_free). */
int reload_diff(const sl_cnode *old_root, const sl_cnode *new_root, const char *path,
                sl_reload_diff *out, char *err, size_t errlen);
void reload_diff_free(sl_reload_diff *d);
/* True if `id` is in the list. */
bool reload_list_has(const sl_strlist *l, const char *id);

#endif
