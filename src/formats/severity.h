/* severity.h - one mapping of log level spellings (words, syslog and pino numbers, single
 * letters) to the OpenTelemetry severity number and its canonical text. */
#ifndef SL_SEVERITY_H
#define SL_SEVERITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event.h"

/* OpenTelemetry SeverityNumber ranges: TRACE 1-4, DEBUG 5-8, INFO 9-12, WARN 13-16,
 * ERROR 17-20, FATAL 21-24. 0 = unspecified. */
typedef struct sl_severity {
    int number;       /* 0 when the spelling is unknown */
    const char *text; /* static canonical text: "TRACE".."FATAL", NULL when unknown */
} sl_severity;

/* Maps a level word ("warn", "WARNING", "Err", "I", "notice", "crit" ...) or a number
 * written as text ("3" syslog, "30" pino). Case-insensitive; surrounding blanks ignored. */
sl_severity severity_from_text(const char *s, size_t n);
/* Syslog numbers 0-7, pino levels 10-60, and OpenTelemetry numbers written as 100+n are
 * not distinguishable from each other in general: 0-7 are syslog, 10/20/../60 pino. */
sl_severity severity_from_int(int64_t v);
/* From a field of any type (string or number); {0, NULL} otherwise. */
sl_severity severity_from_field(const sl_field *f);
/* Text for a number 1-24 ("INFO" for 9-12 ...), or NULL. */
const char *severity_text(int number);

/* What severity_from_text takes, for the valid choices of an option's error message. */
#define SEVERITY_VALID_WORDS \
    "trace, debug, info, warn, error, fatal, or another spelling of one: WARNING, Err, " \
    "notice, crit, I, FTL, dbug, a syslog (0-7) or pino (10-60) number"

#endif
