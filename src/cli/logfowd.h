/* logfowd.h - the logfowd2 drop-in: its config.json (JSON) translated into the equivalent
 * sluice pipeline (kubernetes_logs -> elasticsearch with daily indices). */
#ifndef SL_LOGFOWD_H
#define SL_LOGFOWD_H

#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"

/* True when `text` is a logfowd2 configuration rather than a sluice one: a JSON object
 * (leading whitespace allowed) without sources/sinks and with one of logfowd2's keys
 * (log_path, es, channels, state_file_path). */
bool logfowd_detect(const char *text, size_t n);

/* Translates config.json text into sluice YAML (*yaml owned by the caller: free). `path`
 * names the file in messages. `notes` (may be NULL) gets one line per remark, each
 * starting with "info: " (an option sluice has no use for, and why) or "warn: " (a key
 * logfowd2 does not know: it would ignore it, sluice says so). Errors (not JSON, a value of
 * the wrong type, an out-of-range number or an unknown word) return SL_ERR_CONFIG with
 * "path: key: message" in err. */
int logfowd_translate(const char *text, size_t n, const char *path, char **yaml, sl_buf *notes,
                      char *err, size_t errlen);
/* The same for a file; SL_ERR_IO when it cannot be read. */
int logfowd_translate_file(const char *path, char **yaml, sl_buf *notes, char *err,
                           size_t errlen);

#endif
