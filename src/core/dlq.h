/* dlq.h - dead-letter queue: events a sink rejected permanently, one NDJSON line each
 * ({"time","sink","reason","attempts","first_attempt","last_attempt","event":{...}}). */
#ifndef SL_DLQ_H
#define SL_DLQ_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

typedef struct sl_dlq sl_dlq;

/* Opens (creating) <data_dir>/dlq/<sink_id>.ndjson for appending; a torn last line left
 * by a crash is cut off. Returns an owned handle. */
int dlq_open(sl_dlq **out, const char *data_dir, const char *sink_id, char *err, size_t errlen);
/* Appends one record and fsyncs: when this returns SL_OK the event is durable. Thread-safe. */
int dlq_write(sl_dlq *d, const sl_event *e, const char *reason, int attempts,
              int64_t first_attempt_ns, int64_t last_attempt_ns);
void dlq_close(sl_dlq *d);

/* CLI: `sluice dlq list|replay|purge`. argv excludes "dlq". Returns the exit status. */
int dlq_cli(int argc, char **argv);

#endif
