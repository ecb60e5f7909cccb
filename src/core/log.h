/* log.h - sluice's own log: one line per message, text or JSON, with levels.
 * Thread-safe; lines are written with a single write(2) so they never interleave. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdbool.h>

#include "buf.h"

enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* `file` NULL means stderr. Returns SL_OK or an error with a message in err. */
int log_configure(int level, bool json, const char *file, char *err, unsigned errlen);
/* Reopens the log file (SIGHUP, after logrotate). Safe to call from the main loop. */
void log_reopen(void);
/* Parses "debug|info|warn|error"; -1 if unknown. */
int log_level_parse(const char *s);
bool log_enabled(int level);

/* Appends a JSON array of the last 16 warnings and errors logged (oldest first), each
 * {time, level, component, message}; messages are cut at 239 bytes. */
void log_recent_json(sl_buf *out);

void sl_log(int level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(comp, ...) \
    do { if (log_enabled(SL_LOG_DEBUG)) sl_log(SL_LOG_DEBUG, comp, __VA_ARGS__); } while (0)
#define log_info(comp, ...) sl_log(SL_LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) sl_log(SL_LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) sl_log(SL_LOG_ERROR, comp, __VA_ARGS__)

#endif
