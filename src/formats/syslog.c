/* syslog.c - RFC 5424 / RFC 3164 parsing and RFC 6587 framing (see syslog.h).
 *
 * Notes
 *  1. As rsyslog: a message that announces RFC 5424 ("<PRI>1 ") is parsed strictly; any
 *     deviation (a bad time, an over-long field, broken structured data) sends the whole
 *     message to the RFC 3164 heuristics instead, so nothing is ever rejected for its
 *     format: the worst case is a message with no header fields.
 *  2. RFC 3164 times have no year and no zone. The year is the one that puts the time
 *     nearest to now without being more than a month ahead (a December line read in
 *     January is last year's); the zone is taken as UTC, or the source's `timezone`
 *     (syslog_tz_apply: rsyslog's traditional forwarding format sends local time). */
#include "formats/syslog.h"

#include <string.h>
#include <time.h>

#include "formats/cri.h"

static const char *const facility_names[24] = {
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
    "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"};
static const char *const severity_names[8] = {"emerg", "alert", "crit", "err",
                                              "warning", "notice", "info", "debug"};

const char *syslog_facility_name(int facility)
{
    return facility >= 0 && facility < 24 ? facility_names[facility] : "unknown";
}

const char *syslog_severity_name(int severity)
{
    return severity >= 0 && severity < 8 ? severity_names[severity] : "unknown";
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "<PRI>" at p: 1-3 digits, 0-191. Returns the bytes used, 0 when there is none. With
 * `strict` (RFC 5424), no leading zero. */
static size_t parse_pri(const char *p, size_t n, bool strict, int *pri)
{
    if (n < 3 || p[0] != '<')
        return 0;
    size_t i = 1;
    int v = 0;
    while (i < n && i <= 3 && is_digit(p[i]))
        v = v * 10 + (p[i++] - '0');
    if (i == 1 || i >= n || p[i] != '>' || v > 191)
        return 0;
    if (strict && p[1] == '0' && i > 2)
        return 0;
    *pri = v;
    return i + 1;
}

/* A header field of RFC 5424: 1..max PRINTUSASCII up to the next SP; "-" is NILVALUE.
 * Returns the bytes used (without the SP), 0 when invalid. */
static size_t field5424(const char *p, const char *end, size_t max, const char **out,
                        size_t *outlen)
{
    const char *q = p;
    while (q < end && *q != ' ') {
        unsigned char c = (unsigned char)*q;
        if (c < 33 || c > 126)
            return 0;
        q++;
    }
    size_t len = (size_t)(q - p);
    if (len == 0 || len > max || q == end)
        return 0;
    if (len == 1 && *p == '-') {
        *out = NULL;
        *outlen = 0;
    } else {
        *out = p;
        *outlen = len;
    }
    return len;
}

/* SD-NAME: 1..32 PRINTUSASCII except '=', SP, ']', '"'. */
static size_t sd_name(const char *p, const char *end)
{
    const char *q = p;
    while (q < end && q - p <= 32) {
        unsigned char c = (unsigned char)*q;
        if (c < 33 || c > 126 || c == '=' || c == ']' || c == '"')
            break;
        q++;
    }
    size_t len = (size_t)(q - p);
    return len >= 1 && len <= 32 ? len : 0;
}

/* A quoted PARAM-VALUE at p (on the opening quote). Returns the bytes up to and including
 * the closing quote, 0 when it never closes. A backslash escapes the next byte. */
static size_t sd_value(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return 0;
    const char *q = p + 1;
    while (q < end) {
        if (*q == '\\') {
            if (q + 1 >= end)
                return 0;
            q += 2;
            continue;
        }
        if (*q == '"')
            return (size_t)(q + 1 - p);
        q++;
    }
    return 0;
}

/* STRUCTURED-DATA at p: "-" or one or more elements. Returns its length, 0 when invalid. */
static size_t parse_sd(const char *p, const char *end)
{
    if (p < end && *p == '-')
        return 1;
    const char *q = p;
    while (q < end && *q == '[') {
        q++;
        size_t k = sd_name(q, end);
        if (!k)
            return 0;
        q += k;
        while (q < end && *q == ' ') {
            q++;
            if (!(k = sd_name(q, end)))
                return 0;
            q += k;
            if (q >= end || *q != '=')
                return 0;
            q++;
            if (!(k = sd_value(q, end)))
                return 0;
            q += k;
        }
        if (q >= end || *q != ']')
            return 0;
        q++;
    }
    return (size_t)(q - p);
}

static bool parse_5424(const char *p, size_t n, syslog_msg *m)
{
    const char *end = p + n;
    int pri;
    size_t k = parse_pri(p, n, true, &pri);
    if (!k || n - k < 2 || p[k] != '1' || p[k + 1] != ' ')
        return false;
    const char *q = p + k + 2;
    /* TIMESTAMP */
    const char *t = q;
    while (q < end && *q != ' ')
        q++;
    if (q == end || q == t)
        return false;
    int64_t ts = 0;
    if (!(q - t == 1 && *t == '-') && cri_parse_time(t, (size_t)(q - t), &ts) != 0)
        return false;
    q++;
    const char *f;
    size_t flen;
    if (!(k = field5424(q, end, 255, &f, &flen)))
        return false;
    m->hostname = f, m->hostname_len = flen, q += k + 1;
    if (!(k = field5424(q, end, 48, &f, &flen)))
        return false;
    m->appname = f, m->appname_len = flen, q += k + 1;
    if (!(k = field5424(q, end, 128, &f, &flen)))
        return false;
    m->procid = f, m->procid_len = flen, q += k + 1;
    if (!(k = field5424(q, end, 32, &f, &flen)))
        return false;
    m->msgid = f, m->msgid_len = flen, q += k + 1;
    if (!(k = parse_sd(q, end)))
        return false;
    if (!(k == 1 && *q == '-'))
        m->sd = q, m->sd_len = k;
    q += k;
    if (q < end) {
        if (*q != ' ')
            return false;
        q++;
        if (end - q >= 3 && memcmp(q, "\xEF\xBB\xBF", 3) == 0)
            q += 3;
    }
    m->msg = q;
    m->msg_len = (size_t)(end - q);
    m->facility = pri >> 3;
    m->severity = pri & 7;
    m->has_pri = true;
    m->version = 1;
    m->ts_ns = ts;
    return true;
}

/* ---- RFC 3164 ------------------------------------------------------------------------ */

static int month_of(const char *p)
{
    static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
    char l[3];
    for (int i = 0; i < 3; i++)
        l[i] = (char)(p[i] | 0x20);
    for (int i = 0; i < 12; i++)
        if (memcmp(months + 3 * i, l, 3) == 0)
            return i + 1;
    return 0;
}

static bool num(const char *p, size_t n, unsigned *v)
{
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(p[i]))
            return false;
        x = x * 10 + (unsigned)(p[i] - '0');
    }
    *v = x;
    return true;
}

static int64_t days_from_civil(int64_t y, unsigned mo, unsigned d)
{
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int64_t year_of(int64_t secs)
{
    /* civil_from_days, year only */
    int64_t z = secs / 86400 + 719468;
    if (secs < 0 && secs % 86400)
        z--;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    unsigned mo = mp < 10 ? mp + 3 : mp - 9;
    return (int64_t)yoe + era * 400 + (mo <= 2);
}

/* "Mmm dd [yyyy ]hh:mm:ss[.frac]" at p. Returns the bytes used, 0 when it is not one. */
static size_t bsd_time(const char *p, const char *end, int64_t now_ns, int64_t *ts)
{
    size_t n = (size_t)(end - p);
    if (n < 15)
        return 0;
    int mo = month_of(p);
    if (!mo || p[3] != ' ')
        return 0;
    size_t i = 4;
    unsigned d, y = 0, h, mi, s;
    if (p[i] == ' ')
        i++; /* "Dec  4" */
    size_t ds = i;
    while (i < n && is_digit(p[i]) && i - ds < 2)
        i++;
    if (i == ds || !num(p + ds, i - ds, &d) || d < 1 || d > 31 || i >= n || p[i] != ' ')
        return 0;
    i++;
    if (n - i >= 5 && num(p + i, 4, &y) && p[i + 4] == ' ')
        i += 5;
    else
        y = 0;
    if (n - i < 8 || p[i + 2] != ':' || p[i + 5] != ':' || !num(p + i, 2, &h) ||
        !num(p + i + 3, 2, &mi) || !num(p + i + 6, 2, &s) || h > 23 || mi > 59 || s > 60)
        return 0;
    i += 8;
    int64_t frac = 0;
    if (i < n && p[i] == '.' && i + 1 < n && is_digit(p[i + 1])) {
        int nd = 0;
        for (i++; i < n && is_digit(p[i]); i++)
            if (nd < 9)
                frac = frac * 10 + (p[i] - '0'), nd++;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (i < n && p[i] != ' ' && p[i] != ':')
        return 0;
    int64_t tod = (int64_t)h * 3600 + mi * 60 + s;
    int64_t secs;
    if (y) {
        secs = days_from_civil(y, (unsigned)mo, d) * 86400 + tod;
    } else {
        int64_t now = now_ns / 1000000000;
        int64_t cy = year_of(now);
        secs = days_from_civil(cy, (unsigned)mo, d) * 86400 + tod;
        if (secs > now + 31 * 86400)
            secs = days_from_civil(cy - 1, (unsigned)mo, d) * 86400 + tod;
        else if (secs < now - 335 * 86400)
            secs = days_from_civil(cy + 1, (unsigned)mo, d) * 86400 + tod;
    }
    *ts = secs * 1000000000 + frac;
    return i;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' ||
           c == '-' || c == '_' || c == ':' || c == '%';
}

/* A tag "app[pid]:" or "app:" at p, up to end of word. Returns the bytes used including
 * the ':' (and one SP after it), 0 when the word is not a tag. */
static size_t bsd_tag(const char *p, const char *end, syslog_msg *m)
{
    const char *q = p;
    while (q < end && q - p < 128 && *q != ' ' && *q != '[' && *q != ':')
        q++;
    if (q == p || q >= end)
        return 0;
    const char *app = p, *pid = NULL;
    size_t app_len = (size_t)(q - p), pid_len = 0;
    if (*q == '[') {
        pid = ++q;
        while (q < end && q - pid < 128 && *q != ']' && *q != ' ')
            q++;
        if (q >= end || *q != ']')
            return 0;
        pid_len = (size_t)(q - pid);
        q++;
    }
    if (q >= end || *q != ':')
        return 0;
    q++;
    if (q < end && *q == ' ')
        q++;
    m->appname = app, m->appname_len = app_len;
    m->procid = pid_len ? pid : NULL, m->procid_len = pid_len;
    return (size_t)(q - p);
}

static void parse_3164(const char *p, size_t n, int64_t now_ns, syslog_msg *m)
{
    const char *end = p + n, *q = p;
    int pri;
    size_t k = parse_pri(p, n, false, &pri);
    if (k) {
        m->facility = pri >> 3, m->severity = pri & 7, m->has_pri = true;
        q += k;
    }
    bool ts = false;
    if (end - q >= 20 && is_digit(q[0]) && q[4] == '-') {
        const char *t = memchr(q, ' ', (size_t)(end - q));
        const char *te = t ? t : end;
        if (cri_parse_time(q, (size_t)(te - q), &m->ts_ns) == 0)
            q = te, ts = true;
    } else if ((k = bsd_time(q, end, now_ns, &m->ts_ns)) != 0) {
        q += k;
        m->zoneless = true;
        if (q < end && *q == ':')
            q++; /* "Mar  1 18:46:11: " (some network devices) */
        ts = true;
    }
    if (ts) {
        if (q < end && *q == ' ')
            q++;
        /* The hostname: a word of host characters that is not the tag. */
        const char *w = q;
        while (q < end && host_char(*q))
            q++;
        bool tag_like = q > w && q[-1] == ':';
        if (q > w && !tag_like && (q == end || *q == ' ')) {
            m->hostname = w, m->hostname_len = (size_t)(q - w);
            if (q < end)
                q++;
        } else {
            q = w;
        }
    }
    if ((k = bsd_tag(q, end, m)) != 0)
        q += k;
    m->msg = q;
    m->msg_len = (size_t)(end - q);
}

void syslog_parse(const char *p, size_t n, int64_t now_ns, syslog_msg *m)
{
    memset(m, 0, sizeof *m);
    if (parse_5424(p, n, m))
        return;
    memset(m, 0, sizeof *m);
    m->facility = 1;
    m->severity = 5;
    parse_3164(p, n, now_ns, m);
    int pri;
    size_t k = parse_pri(p, n, false, &pri);
    m->fallback = k && n - k >= 2 && p[k] == '1' && p[k + 1] == ' ';
}

/* ---- Structured data ------------------------------------------------------------------ */

void syslog_sd_begin(syslog_sd_iter *it, const char *sd, size_t len)
{
    it->p = sd;
    it->end = sd + len;
    it->id = NULL;
    it->id_len = 0;
}

bool syslog_sd_next(syslog_sd_iter *it, syslog_sd_param *out)
{
    for (;;) {
        if (!it->id) {
            if (it->p >= it->end || *it->p != '[')
                return false;
            it->p++;
            size_t k = sd_name(it->p, it->end);
            if (!k)
                return false;
            it->id = it->p;
            it->id_len = k;
            it->p += k;
            if (it->p < it->end && *it->p == ']') { /* an element without parameters */
                it->p++;
                *out = (syslog_sd_param){.id = it->id, .id_len = it->id_len, .no_params = true,
                                         .name = "", .value = ""};
                it->id = NULL;
                return true;
            }
        }
        if (it->p < it->end && *it->p == ']') {
            it->p++;
            it->id = NULL;
            continue;
        }
        if (it->p >= it->end || *it->p != ' ')
            return false;
        it->p++;
        size_t k = sd_name(it->p, it->end);
        if (!k || it->p + k >= it->end || it->p[k] != '=')
            return false;
        out->id = it->id, out->id_len = it->id_len, out->no_params = false;
        out->name = it->p, out->name_len = k;
        it->p += k + 1;
        size_t v = sd_value(it->p, it->end);
        if (!v)
            return false;
        out->value = it->p + 1;
        out->value_len = v - 2;
        it->p += v;
        return true;
    }
}

size_t syslog_sd_unescape(const char *v, size_t n, char *dst)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == '\\' && i + 1 < n && (v[i + 1] == '"' || v[i + 1] == '\\' || v[i + 1] == ']'))
            i++;
        dst[o++] = v[i];
    }
    return o;
}

/* ---- Framing ---------------------------------------------------------------------------- */

/* The first frame end in p[0..n): an LF, or a NUL, which some senders end frames with
 * instead (RFC 6587 3.4.2 allows a trailer other than LF). NULL when there is none. */
static const char *frame_end(const char *p, size_t n)
{
    const char *lf = memchr(p, '\n', n);
    const char *nul = memchr(p, '\0', lf ? (size_t)(lf - p) : n);
    return nul ? nul : lf;
}

int syslog_frame_next(syslog_framer *f, const char *p, size_t n, size_t max, bool eof,
                      const char **msg, size_t *len, size_t *used)
{
    *used = 0;
    *msg = NULL;
    *len = 0;
    if (f->skip) { /* the rest of an oversize octet-counted frame */
        size_t k = f->skip < n ? (size_t)f->skip : n;
        f->skip -= k;
        *used = k;
        return SYSLOG_NEED_MORE;
    }
    if (f->skip_line) {
        const char *lf = frame_end(p, n);
        if (!lf) {
            *used = n;
            return SYSLOG_NEED_MORE;
        }
        f->skip_line = false;
        *used = (size_t)(lf + 1 - p);
        return SYSLOG_NEED_MORE;
    }
    if (n == 0)
        return SYSLOG_NEED_MORE;
    if (is_digit(p[0])) { /* octet counting, if digits and a space follow */
        size_t i = 0;
        uint64_t l = 0;
        while (i < n && i < 10 && is_digit(p[i]))
            l = l * 10 + (uint64_t)(p[i++] - '0');
        if (i == n && i < 10 && !eof)
            return SYSLOG_NEED_MORE;
        if (i < n && p[i] == ' ') {
            i++;
            if (l == 0) {
                *used = i;
                return SYSLOG_EMPTY;
            }
            if (l > max) { /* its first max bytes, once they are here */
                if (n - i < max)
                    return SYSLOG_NEED_MORE;
                f->skip = l - max;
                *msg = p + i;
                *len = max;
                *used = i + max;
                return SYSLOG_TRUNCATED;
            }
            if (n - i < l)
                return SYSLOG_NEED_MORE;
            *msg = p + i;
            *len = (size_t)l;
            *used = i + (size_t)l;
            return SYSLOG_FRAME;
        }
        /* not an octet count: an LF frame that starts with a digit */
    }
    size_t look = n < max + 2 ? n : max + 2; /* the message, a CR and the LF (or NUL) */
    const char *lf = frame_end(p, look);
    if (!lf) {
        if (n > max + 1) { /* its first max bytes; the rest is skipped up to its LF */
            f->skip_line = true;
            *msg = p;
            *len = max;
            *used = max;
            return SYSLOG_TRUNCATED;
        }
        if (!eof)
            return SYSLOG_NEED_MORE;
        lf = p + n; /* the last frame, cut by the peer's close */
    }
    size_t l = (size_t)(lf - p);
    *used = lf < p + n ? l + 1 : l;
    if (l && p[l - 1] == '\r')
        l--;
    if (l > max) {
        *msg = p;
        *len = max;
        return SYSLOG_TRUNCATED;
    }
    if (l == 0)
        return SYSLOG_EMPTY;
    *msg = p;
    *len = l;
    return SYSLOG_FRAME;
}

/* ---- Zones for RFC 3164 times ------------------------------------------------------ */

bool syslog_tz_parse(const char *s, bool *local, int32_t *offset_s)
{
    *local = false;
    *offset_s = 0;
    if (strcmp(s, "UTC") == 0 || strcmp(s, "utc") == 0 || strcmp(s, "Z") == 0)
        return true;
    if (strcmp(s, "local") == 0) {
        *local = true;
        return true;
    }
    unsigned h, mi;
    size_t n = strlen(s);
    if ((s[0] != '+' && s[0] != '-') || (n != 6 && n != 5))
        return false;
    if (n == 6 ? !(s[3] == ':' && num(s + 1, 2, &h) && num(s + 4, 2, &mi))
               : !(num(s + 1, 2, &h) && num(s + 3, 2, &mi)))
        return false;
    if (h > 14 || mi > 59)
        return false;
    *offset_s = (int32_t)((h * 3600 + mi * 60) * (s[0] == '-' ? -1 : 1));
    return true;
}

/* The process zone's UTC offset at UTC time t. */
static long local_offset(time_t t)
{
    struct tm tm;
    return localtime_r(&t, &tm) ? tm.tm_gmtoff : 0;
}

int64_t syslog_tz_apply(int64_t zoneless_ns, bool local, int32_t offset_s)
{
    if (!local)
        return zoneless_ns - (int64_t)offset_s * 1000000000;
    /* A sender's clock reads the same quarter hour for many messages: remember its offset
     * (zone changes fall on quarter hours). */
    static _Thread_local int64_t slot = INT64_MIN;
    static _Thread_local long off;
    int64_t secs = zoneless_ns / 1000000000, q = secs / 900;
    if (q != slot) {
        /* the offset at the instant the wall time names: a guess, then the offset there */
        off = local_offset((time_t)(secs - local_offset((time_t)secs)));
        slot = q;
    }
    return zoneless_ns - (int64_t)off * 1000000000;
}
