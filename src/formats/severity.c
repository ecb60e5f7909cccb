/* severity.c - level spellings to OpenTelemetry severity numbers, shared by the
 * `severity` transform, the `filter` threshold and the otlp sink. */
#include "formats/severity.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/common.h"

enum { SEV_TRACE = 1, SEV_DEBUG = 5, SEV_INFO = 9, SEV_INFO2 = 10, SEV_WARN = 13,
       SEV_ERROR = 17, SEV_FATAL = 21 };

static const char *const sev_names[] = {"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"};

const char *severity_text(int number)
{
    if (number < 1 || number > 24)
        return NULL;
    return sev_names[(number - 1) / 4];
}

static sl_severity sev(int number)
{
    return (sl_severity){number, severity_text(number)};
}

/* Spellings seen in the wild: language loggers, syslog names, klog/glog letters. */
#define W(w, n) {w, sizeof w - 1, n}
static const struct {
    const char *word;
    unsigned char len;
    unsigned char number;
} sev_words[] = {
    W("trace", SEV_TRACE),     W("trc", SEV_TRACE),        W("verbose", SEV_TRACE),
    W("finest", SEV_TRACE),    W("finer", SEV_TRACE),      W("t", SEV_TRACE),
    W("debug", SEV_DEBUG),     W("dbg", SEV_DEBUG),        W("debu", SEV_DEBUG),
    W("fine", SEV_DEBUG),      W("config", SEV_DEBUG),     W("d", SEV_DEBUG),
    W("info", SEV_INFO),       W("information", SEV_INFO), W("informational", SEV_INFO),
    W("inf", SEV_INFO),        W("i", SEV_INFO),           W("notice", SEV_INFO2),
    W("n", SEV_INFO2),         W("warn", SEV_WARN),        W("warning", SEV_WARN),
    W("wrn", SEV_WARN),        W("w", SEV_WARN),           W("error", SEV_ERROR),
    W("err", SEV_ERROR),       W("eror", SEV_ERROR),       W("severe", SEV_ERROR),
    W("e", SEV_ERROR),         W("fatal", SEV_FATAL),      W("critical", SEV_FATAL),
    W("crit", SEV_FATAL),      W("crt", SEV_FATAL),        W("alert", SEV_FATAL),
    W("emerg", SEV_FATAL),     W("emergency", SEV_FATAL),  W("panic", SEV_FATAL),
    W("f", SEV_FATAL),         W("c", SEV_FATAL),
    /* Serilog's {Level:u3}, .NET's console logger, zap's development panic */
    W("vrb", SEV_TRACE),       W("trce", SEV_TRACE),       W("dbug", SEV_DEBUG),
    W("fail", SEV_ERROR),      W("ftl", SEV_FATAL),        W("dpanic", SEV_FATAL),
    /* PostgreSQL's error_severity (csvlog, jsonlog): LOG is its informational level */
    W("log", SEV_INFO),        W("debug1", SEV_DEBUG),     W("debug2", SEV_DEBUG),
    W("debug3", SEV_DEBUG),    W("debug4", SEV_DEBUG),     W("debug5", SEV_DEBUG),
};
#undef W

/* The words by length, each as two zero-padded 8-byte words, built once. */
static struct {
    uint64_t a, b;
    unsigned char number;
} sev_bylen[17][SL_ARRAY_LEN(sev_words)];
static unsigned char sev_nlen[17];
static pthread_once_t sev_once = PTHREAD_ONCE_INIT;

static void sev_index(void)
{
    for (size_t i = 0; i < SL_ARRAY_LEN(sev_words); i++) {
        unsigned char w[16] = {0}, n = sev_words[i].len;
        memcpy(w, sev_words[i].word, n);
        unsigned k = sev_nlen[n]++;
        memcpy(&sev_bylen[n][k].a, w, 8);
        memcpy(&sev_bylen[n][k].b, w + 8, 8);
        sev_bylen[n][k].number = sev_words[i].number;
    }
}

sl_severity severity_from_int(int64_t v)
{
    static const int syslog_map[8] = {SEV_FATAL, SEV_FATAL, SEV_FATAL, SEV_ERROR,
                                      SEV_WARN,  SEV_INFO2, SEV_INFO,  SEV_DEBUG};
    if (v >= 0 && v <= 7)
        return sev(syslog_map[v]);
    switch (v) { /* pino / bunyan */
    case 10: return sev(SEV_TRACE);
    case 20: return sev(SEV_DEBUG);
    case 30: return sev(SEV_INFO);
    case 40: return sev(SEV_WARN);
    case 50: return sev(SEV_ERROR);
    case 60: return sev(SEV_FATAL);
    default: return (sl_severity){0, NULL};
    }
}

/* ASCII only, without the locale's table: this runs once per event. */
static inline bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

sl_severity severity_from_text(const char *s, size_t n)
{
    while (n && is_space(*s))
        s++, n--;
    while (n && is_space(s[n - 1]))
        n--;
    if (n == 0 || n > 16)
        return (sl_severity){0, NULL};
    if (is_digit(s[0])) {
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!is_digit(s[i]))
                return (sl_severity){0, NULL};
            v = v * 10 + (s[i] - '0');
        }
        return severity_from_int(v);
    }
    /* ASCII case folding once, then exact compares of the words of that length (the
     * words are lowercase ASCII and distinct, so the order of the compares does not
     * matter), as two zero-padded 8-byte words */
    unsigned char low[16] = {0};
    for (size_t i = 0; i < n; i++)
        low[i] = s[i] >= 'A' && s[i] <= 'Z' ? (unsigned char)(s[i] + 32) : (unsigned char)s[i];
    uint64_t a, b;
    memcpy(&a, low, 8);
    memcpy(&b, low + 8, 8);
    pthread_once(&sev_once, sev_index);
    for (unsigned i = 0; i < sev_nlen[n]; i++)
        if (sev_bylen[n][i].a == a && sev_bylen[n][i].b == b)
            return sev(sev_bylen[n][i].number);
    return (sl_severity){0, NULL};
}

sl_severity severity_from_field(const sl_field *f)
{
    if (!f)
        return (sl_severity){0, NULL};
    if (f->type == SL_VAL_STR)
        return severity_from_text(f->v.s.ptr, f->v.s.len);
    if (f->type == SL_VAL_INT)
        return severity_from_int(f->v.i);
    /* a JSON 40.0, or a number a msgpack writer sent as a float */
    if (f->type == SL_VAL_FLOAT && f->v.f >= 0 && f->v.f <= 100 && f->v.f == (int64_t)f->v.f)
        return severity_from_int((int64_t)f->v.f);
    return (sl_severity){0, NULL};
}
