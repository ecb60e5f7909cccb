/* severity.c - level spellings to OpenTelemetry severity numbers, shared by the
 * `severity` transform, the `filter` threshold and the otlp sink. */
#include "formats/severity.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

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
static const struct {
    const char *word;
    int number;
} sev_words[] = {
    {"trace", SEV_TRACE},     {"trc", SEV_TRACE},        {"verbose", SEV_TRACE},
    {"finest", SEV_TRACE},    {"finer", SEV_TRACE},      {"t", SEV_TRACE},
    {"debug", SEV_DEBUG},     {"dbg", SEV_DEBUG},        {"debu", SEV_DEBUG},
    {"fine", SEV_DEBUG},      {"config", SEV_DEBUG},     {"d", SEV_DEBUG},
    {"info", SEV_INFO},       {"information", SEV_INFO}, {"informational", SEV_INFO},
    {"inf", SEV_INFO},        {"i", SEV_INFO},           {"notice", SEV_INFO2},
    {"n", SEV_INFO2},         {"warn", SEV_WARN},        {"warning", SEV_WARN},
    {"wrn", SEV_WARN},        {"w", SEV_WARN},           {"error", SEV_ERROR},
    {"err", SEV_ERROR},       {"eror", SEV_ERROR},       {"severe", SEV_ERROR},
    {"e", SEV_ERROR},         {"fatal", SEV_FATAL},      {"critical", SEV_FATAL},
    {"crit", SEV_FATAL},      {"crt", SEV_FATAL},        {"alert", SEV_FATAL},
    {"emerg", SEV_FATAL},     {"emergency", SEV_FATAL},  {"panic", SEV_FATAL},
    {"f", SEV_FATAL},         {"c", SEV_FATAL},
};

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

sl_severity severity_from_text(const char *s, size_t n)
{
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n > 16)
        return (sl_severity){0, NULL};
    if (isdigit((unsigned char)s[0])) {
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)s[i]))
                return (sl_severity){0, NULL};
            v = v * 10 + (s[i] - '0');
        }
        return severity_from_int(v);
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(sev_words); i++)
        if (strlen(sev_words[i].word) == n && strncasecmp(sev_words[i].word, s, n) == 0)
            return sev(sev_words[i].number);
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
    return (sl_severity){0, NULL};
}
