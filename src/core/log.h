/* log.h - sluice's own log: one line per message, text or JSON, with levels.
 * Thread-safe; lines are written with a single write(2) so they never interleave. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum sl_log_level { SL_LOG_DEBUG = 0, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* `file` NULL means stderr. Returns SL_OK or an error with a message in err. */
int log_configure(int level, bool json, const char *file, char *err, unsigned errlen);
/* Reopens the log file (SIGHUP, after logrotate). Safe to call from the main loop. */
void log_reopen(void);
/* Parses "debug|info|warn|error"; -1 if unknown. */
int log_level_parse(const char *s);
bool log_enabled(int level);
/* A gate for warnings that can repeat on every event or request: true at most once per
 * every_ms for one gate, its first call included, so one line stands for a burst.
 * Thread-safe; a gate is an int64_t that starts at 0. */
bool log_gate(_Atomic int64_t *last_ms, int64_t every_ms);
/* Copies at most dstlen - 1 bytes of text from outside (a peer's answer) into dst as one
 * printable ASCII line, for a log line or a send result's reason: control bytes and bytes
 * >= 0x7F become spaces (a cut UTF-8 sequence never reaches the log). dstlen > 0. */
void log_excerpt(char *dst, size_t dstlen, const void *p, size_t len);

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
