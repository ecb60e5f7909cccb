/* otlp.h - OpenTelemetry logs encoding (OTLP protobuf and OTLP JSON) of sluice events, and
 * the parser of the collector's answer (partial_success). Shared by the sink, tests, fuzz. */
#ifndef SL_OTLP_H
#define SL_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/event.h"

/* How events map onto the log data model. Everything is borrowed. */
typedef struct otlp_map {
    const sl_strmap *resource;      /* static resource attributes (config), may be NULL */
    const sl_strlist *resource_keys; /* extra event fields that belong to the resource */
    const char *severity_field;     /* NULL: the first of level, severity, log.level, lvl */
    const char *body_field;         /* used as body when the message is empty ("body") */
} otlp_map;

/* Appends one ExportLogsServiceRequest for events[0..n) to out: protobuf when json is
 * false, OTLP JSON otherwise. Events sharing resource attributes share one ResourceLogs.
 * observed_ns is written as observedTimeUnixNano. Never fails on event content: invalid
 * UTF-8 is replaced, unparsable raw JSON values become strings. */
void otlp_encode(sl_buf *out, bool json, sl_event *const *events, size_t n, const otlp_map *m,
                 int64_t observed_ns);

/* Reads an ExportLogsServiceResponse (protobuf or JSON). Returns SL_OK with *rejected
 * (0 when absent) and the error message (may be empty), or SL_ERR_CORRUPT. An empty
 * body is a full success. */
int otlp_parse_response(const char *p, size_t n, bool json, int64_t *rejected, char *msg,
                        size_t msglen);

#endif
