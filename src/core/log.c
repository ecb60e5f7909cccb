/* log.c - self log writer.
 * Formats a whole line in a stack buffer and emits it with one write(2). */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static atomic_int g_level = SL_LOG_INFO;
static bool g_json;
static char *g_file;
static atomic_int g_fd = 2;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* The last LOG_RECENT warnings and errors, for the status API. A fixed ring of fixed-size
 * entries under its own lock: bounded memory, and a slow reader never blocks a writer long. */
#define LOG_RECENT 16
typedef struct recent_entry {
    char when[32], component[64], msg[240];
    int level;
} recent_entry;
static recent_entry g_recent[LOG_RECENT];
static unsigned g_recent_next, g_recent_n;
static pthread_mutex_t g_recent_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t json_escape_into(char *dst, size_t cap, const char *s);

/* Copies s into dst (cap bytes), cut at a UTF-8 character boundary. */
static void copy_utf8(char *dst, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void remember(int level, const char *when, const char *component, const char *msg)
{
    pthread_mutex_lock(&g_recent_mu);
    recent_entry *e = &g_recent[g_recent_next];
    g_recent_next = (g_recent_next + 1) % LOG_RECENT;
    if (g_recent_n < LOG_RECENT)
        g_recent_n++;
    e->level = level;
    copy_utf8(e->when, sizeof e->when, when);
    copy_utf8(e->component, sizeof e->component, component);
    copy_utf8(e->msg, sizeof e->msg, msg);
    pthread_mutex_unlock(&g_recent_mu);
}

void log_recent_json(sl_buf *out)
{
    char esc[sizeof g_recent[0].msg * 6 + 1];
    buf_puts(out, "[");
    pthread_mutex_lock(&g_recent_mu);
    for (unsigned i = 0; i < g_recent_n; i++) {
        const recent_entry *e =
            &g_recent[(g_recent_next + LOG_RECENT - g_recent_n + i) % LOG_RECENT];
        buf_printf(out, "%s{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"", i ? "," : "",
                   e->when, level_names[e->level]);
        buf_append(out, esc, json_escape_into(esc, sizeof esc, e->component));
        buf_puts(out, "\",\"message\":\"");
        buf_append(out, esc, json_escape_into(esc, sizeof esc, e->msg));
        buf_puts(out, "\"}");
    }
    pthread_mutex_unlock(&g_recent_mu);
    buf_puts(out, "]");
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return SL_LOG_WARN;
    return -1;
}

bool log_enabled(int level) { return level >= atomic_load_explicit(&g_level, memory_order_relaxed); }

bool log_gate(_Atomic int64_t *last_ms, int64_t every_ms)
{
    int64_t now = sl_mono_ms(), last = atomic_load(last_ms);
    /* of threads that find the gate open, the one whose exchange succeeds logs */
    return (last == 0 || now - last >= every_ms) &&
           atomic_compare_exchange_strong(last_ms, &last, now);
}

void log_excerpt(char *dst, size_t dstlen, const void *p, size_t len)
{
    const unsigned char *s = p;
    size_t n = SL_MIN(len, dstlen - 1);
    for (size_t i = 0; i < n; i++)
        dst[i] = s[i] < 0x20 || s[i] >= 0x7F ? ' ' : (char)s[i];
    dst[n] = '\0';
}

int log_configure(int level, bool json, const char *file, char *err, unsigned errlen)
{
    pthread_mutex_lock(&g_mu);
    atomic_store(&g_level, level);
    g_json = json;
    free(g_file);
    g_file = file ? sl_xstrdup(file) : NULL;
    pthread_mutex_unlock(&g_mu);
    if (file) {
        int fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return sl_seterr(err, errlen, SL_ERR_IO, "cannot open log file %s: %s", file,
                             strerror(errno));
        int old = atomic_exchange(&g_fd, fd);
        if (old > 2)
            close(old);
    }
    return SL_OK;
}

void log_reopen(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_file) {
        int fd = open(g_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            int old = atomic_exchange(&g_fd, fd);
            if (old > 2)
                close(old);
        }
    }
    pthread_mutex_unlock(&g_mu);
}

static size_t json_escape_into(char *dst, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", c);
        } else {
            dst[n++] = (char)c;
        }
    }
    return n;
}

void sl_log(int level, const char *component, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[2048], line[4608];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    if (level >= SL_LOG_WARN)
        remember(level, when, component ? component : "sluice", msg);
    size_t n;
    if (g_json) {
        n = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"",
                             when, level_names[level]);
        n += json_escape_into(line + n, sizeof line - n, component ? component : "sluice");
        n += (size_t)snprintf(line + n, sizeof line - n, "\",\"message\":\"");
        n += json_escape_into(line + n, sizeof line - n - 4, msg);
        n += (size_t)snprintf(line + n, sizeof line - n, "\"}\n");
    } else {
        n = (size_t)snprintf(line, sizeof line, "%s %-5s %s: %s\n", when, level_names[level],
                             component ? component : "sluice", msg);
    }
    if (n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t w = write(atomic_load(&g_fd), line, n);
    (void)w;
}
