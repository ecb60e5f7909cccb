/* parse.c - the `parse` transform: turns a raw line (the message or a field) into typed
 * fields with JSON, logfmt, a PCRE2 regex with named groups, or `auto`.
 *
 * Notes on the design:
 *  1. Top-level JSON keys become fields; nested objects and arrays stay SL_VAL_JSON raw
 *     text (sinks that understand structure, such as otlp, expand them; `flatten` makes
 *     dotted keys). Numbers without fraction/exponent that fit int64 are INT.
 *  2. When the line was the message, a parsed "message"/"msg" string becomes the message
 *     (a "message" of another type too, as its JSON text: never a field of that name;
 *     with both, "msg" stays a field) and the first parsed "timestamp"/"time"/"ts"/
 *     "@timestamp" that reads as a time (RFC 3339, also with a space for the
 *     T, a comma fraction, +hhmm or no offset, i.e. UTC; or epoch s/ms/us/ns, as a
 *     number or digits) becomes the event time; otherwise the original line stays the
 *     message, so nothing is lost. Existing fields (correlation ids included) are only
 *     replaced by a parsed key of the same name.
 *  3. JSON is read without a DOM (json_scan_object): keys and values without escapes
 *     point into the line itself, which the batch arena already holds; unescaped strings
 *     and prefixed keys go to the arena. Objects wider than 64 members take the DOM
 *     path. A member whose key is not in a 64-bit set of the event's keys (key_bit) is
 *     appended without comparing keys; one that may be there is looked for, so a repeated
 *     or existing key is still set in place. No malloc per event; PCRE2 match data is one
 *     per thread.
 *  4. on_error: keep (event unchanged, counted), drop (removed, counted), dlq (written to
 *     <data_dir>/dlq/<id>.ndjson, then removed). `auto` never fails: prose stays prose. */
#include "transforms/parse.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <errno.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/common.h"
#include "core/component.h"
#include "core/dlq.h"
#include "core/log.h"
#include "formats/cri.h"
#include "formats/json.h"
#include "formats/syslog.h"

enum { PF_JSON = 0, PF_LOGFMT, PF_REGEX, PF_AUTO };
enum { PE_KEEP = 0, PE_DROP, PE_DLQ };

typedef struct parse_config {
    char *field;
    int format;
    char *pattern;
    int on_error;
    char *target;
    char *time_key;
    char *time_format;
    char *timezone;
    sl_strmap types;
} parse_config;

static const char *const parse_formats[] = {"json", "logfmt", "regex", "auto", NULL};
static const char *const parse_on_error[] = {"keep", "drop", "dlq", NULL};

static const sl_option parse_options[] = {
    {"field", SL_OPT_STR, offsetof(parse_config, field), "message", 0, NULL, NULL, 0, 0,
     "what to parse: message, or a string field"},
    {"format", SL_OPT_ENUM, offsetof(parse_config, format), "auto", 0, parse_formats, NULL, 0, 0,
     "auto tries JSON, then logfmt, then keeps plain text"},
    {"pattern", SL_OPT_STR, offsetof(parse_config, pattern), NULL, 0, NULL, NULL, 0, 0,
     "format regex: PCRE2 pattern with named groups, (?<name>...); `.` also matches a newline "
     "(the lines of a multiline event), (?-s) turns that off"},
    {"on_error", SL_OPT_ENUM, offsetof(parse_config, on_error), "keep", 0, parse_on_error, NULL,
     0, 0, "unparsable events: keep unchanged, drop, or dlq (dead-letter file)"},
    {"target", SL_OPT_STR, offsetof(parse_config, target), NULL, 0, NULL, NULL, 0, 0,
     "prefix for the parsed keys (\"http\" -> http.status)"},
    {"time_key", SL_OPT_STR, offsetof(parse_config, time_key), NULL, 0, NULL, NULL, 0, 0,
     "the key (or regex group) that holds the event time, instead of timestamp, time, ts "
     "and @timestamp"},
    {"time_format", SL_OPT_STR, offsetof(parse_config, time_format), NULL, 0, NULL, NULL, 0,
     0, "strptime format of the time, as Fluent Bit's Time_Format (%d/%b/%Y:%H:%M:%S %z; %L "
     "fractional seconds); unset: RFC 3339 as loggers write it, or epoch s/ms/us/ns"},
    {"timezone", SL_OPT_STR, offsetof(parse_config, timezone), "UTC", 0, NULL, NULL, 0, 0,
     "zone of times written without an offset: UTC, local (the process's TZ) or +05:30"},
    {"types", SL_OPT_STRMAP, offsetof(parse_config, types), NULL, 0, NULL, NULL, 0, 0,
     "parsed keys' types, as Fluent Bit's Types ({code: integer, ratio: float, ok: bool, "
     "id: string}): a regex group is text otherwise; a value that is not one stays as it is"},
    SL_OPT_END,
};

typedef struct parse_group {
    uint32_t num;
    sl_str name; /* owned by the transform; outlives every batch */
} parse_group;

enum { PT_INT = 0, PT_FLOAT, PT_BOOL, PT_STR };
static const char *const parse_type_names[] = {"integer", "float", "bool", "string", NULL};

typedef struct parse_type {
    sl_str key; /* with the target's prefix */
    int type;
} parse_type;

typedef struct parse_tf {
    const parse_config *cfg;
    const sl_component_ctx *cc;
    bool from_message;
    bool specials; /* message and time keys are applied (note 2): from the message, no target */
    pcre2_code *re;
    parse_group *groups;
    size_t ngroups;
    pthread_key_t md_key; /* per-thread pcre2_match_data */
    bool have_key;
    sl_dlq *dlq;
    _Atomic int64_t last_log_ms; /* log_gate of parse failures */
    _Atomic int64_t last_time_log_ms; /* log_gate of times time_format does not read */
    uint64_t special_lens; /* bit n: a message or time key may have n bytes (may_be_special) */
    char time_key0;        /* first byte of time_key, else 't' */
    sl_str time_key;
    char *tf_head, *tf_tail; /* time_format before and after %L (tail NULL: no %L) */
    bool tf_zone;            /* time_format reads an offset (%z) */
    bool tz_local;
    int32_t tz_offset_s;
    parse_type *types;
    size_t ntypes;
    /* Why an event with nothing to parse failed: said in the log and the DLQ record,
     * rather than the format's complaint about text it never saw. */
    char why_missing[160], why_not_string[160];
} parse_tf;

/* ---- logfmt ------------------------------------------------------------------------ */

static bool lf_keychar(unsigned char c)
{
    return c > ' ' && c != '=' && c != '"' && c != 0x7F;
}

int logfmt_parse(const char *s, size_t n, bool strict, sl_arena *a, logfmt_fn fn, void *arg)
{
    logfmt_pair pairs[256];
    int np = 0, with_eq = 0;
    size_t i = 0;
    for (;;) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        if (np == (int)SL_ARRAY_LEN(pairs))
            return -1;
        logfmt_pair *p = &pairs[np];
        memset(p, 0, sizeof *p);
        size_t k = i;
        while (i < n && lf_keychar((unsigned char)s[i]))
            i++;
        if (i == k)
            return -1;
        p->key = s + k;
        p->keylen = i - k;
        if (i >= n || s[i] == ' ' || s[i] == '\t') {
            if (strict)
                return -1;
            p->bare = true;
            np++;
            continue;
        }
        if (s[i] != '=')
            return -1;
        i++;
        with_eq++;
        if (i < n && s[i] == '"') {
            i++;
            size_t v = i;
            bool esc = false;
            while (i < n && s[i] != '"') {
                if (s[i] == '\\') {
                    esc = true;
                    if (++i >= n)
                        return -1;
                }
                i++;
            }
            if (i >= n)
                return -1;
            p->quoted = true;
            if (!esc) {
                p->val = s + v;
                p->vallen = i - v;
            } else {
                char *d = arena_alloc(a, i - v + 1);
                size_t dn = 0;
                for (size_t j = v; j < i; j++) {
                    if (s[j] == '\\') {
                        j++;
                        d[dn++] = s[j] == 'n' ? '\n' : s[j] == 't' ? '\t' : s[j] == 'r' ? '\r' : s[j];
                    } else {
                        d[dn++] = s[j];
                    }
                }
                d[dn] = '\0';
                p->val = d;
                p->vallen = dn;
            }
            i++;
            if (i < n && s[i] != ' ' && s[i] != '\t')
                return -1;
        } else {
            /* an '=' is the value's (a URL's query string), as Vector's parse_logfmt
             * reads it: the key ended at the first */
            size_t v = i;
            while (i < n && s[i] != ' ' && s[i] != '\t') {
                if (s[i] == '"')
                    return -1;
                i++;
            }
            p->val = s + v;
            p->vallen = i - v;
        }
        np++;
    }
    if (np == 0 || with_eq == 0)
        return -1;
    for (int j = 0; j < np; j++)
        fn(arg, &pairs[j]);
    return np;
}

/* ---- applying parsed values ---------------------------------------------------------- */

typedef struct apply_ctx {
    parse_tf *t;
    sl_batch *b;
    sl_event *e;
    /* Which key made the message (MSG_*) and whether a time was read: with two message
     * keys, "message" is the message and "msg" a field; with two time keys, the first
     * read is the time and the others fields. Neither value is lost. */
    uint8_t msg_from;
    bool time_set;
} apply_ctx;

enum { MSG_NONE = 0, MSG_MSG, MSG_MESSAGE };

static sl_field *set_field(apply_ctx *c, const char *key, size_t keylen)
{
    const char *prefix = c->t->cfg->target;
    sl_str k;
    if (prefix && prefix[0]) {
        size_t pl = strlen(prefix);
        char *d = arena_alloc(&c->b->arena, pl + 1 + keylen + 1);
        memcpy(d, prefix, pl);
        d[pl] = '.';
        memcpy(d + pl + 1, key, keylen);
        d[pl + 1 + keylen] = '\0';
        k = (sl_str){d, (uint32_t)(pl + 1 + keylen)};
    } else {
        k = (sl_str){key, (uint32_t)keylen};
    }
    sl_event *e = c->e;
    for (uint32_t i = 0; i < e->nfields; i++)
        if (e->fields[i].key.len == k.len && memcmp(e->fields[i].key.ptr, k.ptr, k.len) == 0)
            return &e->fields[i];
    c->b->bytes += k.len + 16;
    return event_push_field(c->b, e, k);
}

static bool is_key(const char *k, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

/* One bit of a 64-bit set per key, from its length and end bytes: a member whose bit is
 * not in the set of the event's keys cannot be one of them, so it is appended without
 * comparing keys (note 3). */
static inline uint64_t key_bit(const char *k, size_t n)
{
    unsigned h = n ? (unsigned)n * 7u ^ (unsigned char)k[0] ^ (unsigned)(unsigned char)k[n - 1] << 1
                   : 0;
    return 1ULL << (h & 63);
}

/* Epoch numbers by magnitude: seconds, ms, us or ns. */
static int64_t epoch_to_ns(double v)
{
    if (v < 0 || v > 9.2e18)
        return 0;
    if (v < 1e11)
        return (int64_t)(v * 1e9);
    if (v < 1e14)
        return (int64_t)(v * 1e6);
    if (v < 1e17)
        return (int64_t)(v * 1e3);
    return (int64_t)v;
}

/* A time written as text: RFC 3339 and what loggers write around it (a space for the T,
 * a comma before the fraction, no offset: UTC, as Fluent Bit's parsers and the http
 * source take it; +hhmm or +hh), or epoch s/ms/us/ns digits. Returns 0 or -1. */
static int text_to_ns(const char *s, size_t n, int64_t *ns, bool *zoneless)
{
    *zoneless = false;
    if (cri_parse_time(s, n, ns) == 0)
        return 0;
    /* epoch digits: whole units by magnitude (s, ms, us, ns), then up to 9 fraction
     * digits of that unit, in integers (a double would be off by up to 256 ns) */
    size_t i = 0;
    uint64_t u = 0; /* 19 digits fit */
    int64_t frac = 0, scale = 1;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i < 19)
        u = u * 10 + (uint64_t)(s[i++] - '0');
    if (u > INT64_MAX)
        return -1;
    int64_t v = (int64_t)u;
    if (i > 0 && i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (scale < 1000000000)
                frac = frac * 10 + (s[i] - '0'), scale *= 10;
        if (scale == 1)
            i = 0; /* "17." */
    }
    if (i == n && v > 0) {
        int64_t unit = v < 100000000000LL ? 1000000000 : v < 100000000000000LL ? 1000000
                     : v < 100000000000000000LL ? 1000 : 1;
        if (v >= INT64_MAX / unit)
            return -1;
        *ns = v * unit + frac * unit / scale;
        return 0;
    }
    char t[48];
    if (n < 19 || n + 4 > sizeof t || s[4] != '-' || s[13] != ':')
        return -1;
    memcpy(t, s, 19);
    size_t o = 19;
    i = 19;
    if (i < n && (s[i] == '.' || s[i] == ',')) {
        t[o++] = '.';
        for (i++; i < n && s[i] >= '0' && s[i] <= '9';)
            t[o++] = s[i++];
    }
    size_t z = n - i; /* the offset, if any */
    if (z == 5 && (s[i] == '+' || s[i] == '-')) { /* +hhmm */
        memcpy(t + o, s + i, 3);
        t[o + 3] = ':';
        memcpy(t + o + 4, s + i + 3, 2);
        o += 6;
    } else if (z == 3 && (s[i] == '+' || s[i] == '-')) { /* +hh */
        memcpy(t + o, s + i, 3);
        memcpy(t + o + 3, ":00", 3);
        o += 6;
    } else if (z == 0) {
        t[o++] = 'Z';
        *zoneless = true;
    } else {
        return -1; /* Z and +hh:mm were cri_parse_time's; anything else is not a time */
    }
    return cri_parse_time(t, o, ns);
}

/* A time by time_format: strptime for what is around %L, the fraction's digits read here.
 * The whole text must be read (trailing blanks aside). Returns 0 or -1. */
static __attribute__((noinline)) int format_to_ns(const parse_tf *t, const char *s, size_t n,
                                                   int64_t *ns, bool *zoneless)
{
    char buf[128];
    if (n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* a year the format does not read stays at this mark: then the current year */
    struct tm tm = {.tm_year = -100000, .tm_mday = 1};
    const char *p = strptime(buf, t->tf_head, &tm);
    int64_t frac = 0;
    if (p && t->tf_tail) {
        int64_t scale = 1000000000;
        if (*p == '.' || *p == ',')
            p++;
        for (; *p >= '0' && *p <= '9'; p++)
            if (scale > 1)
                scale /= 10, frac += (*p - '0') * scale;
        p = *t->tf_tail ? strptime(p, t->tf_tail, &tm) : p;
    }
    while (p && (*p == ' ' || *p == '\t'))
        p++;
    if (!p || *p)
        return -1;
    long gmtoff = t->tf_zone ? tm.tm_gmtoff : 0;
    if (tm.tm_year == -100000) {
        time_t now = time(NULL);
        struct tm nt;
        gmtime_r(&now, &nt);
        tm.tm_year = nt.tm_year;
        /* "Dec 31 23:59:59" read on the 1st of January is last year's */
        if (tm.tm_mon > nt.tm_mon + 1)
            tm.tm_year--;
    }
    time_t sec = timegm(&tm);
    if (sec == (time_t)-1 && tm.tm_year != 69)
        return -1;
    *ns = ((int64_t)sec - gmtoff) * 1000000000 + frac;
    *zoneless = !t->tf_zone;
    return 0;
}

/* The event time a time key's text gives: time_format's, else the spellings text_to_ns
 * reads; a time without an offset is in `timezone`. */
static void time_unread(parse_tf *t, const char *s, size_t n)
{
    if (log_gate(&t->last_time_log_ms, 10000))
        log_warn(t->cc->id, "time_format: \"%s\" does not read \"%.*s\"; the event keeps the "
                 "time it was read and the key stays a field (further ones for 10 s not logged)",
                 t->cfg->time_format, (int)SL_MIN(n, 64), s);
}

static __attribute__((noinline)) int time_to_ns(parse_tf *t, const char *s, size_t n,
                                                 int64_t *ns)
{
    bool zoneless;
    int rc = t->tf_head ? format_to_ns(t, s, n, ns, &zoneless) : -1;
    if (rc != 0)
        rc = text_to_ns(s, n, ns, &zoneless);
    if (rc != 0) {
        if (t->tf_head)
            time_unread(t, s, n);
        return -1;
    }
    if (zoneless && (t->tz_local || t->tz_offset_s))
        *ns = syslog_tz_apply(*ns, t->tz_local, t->tz_offset_s);
    return *ns > 0 ? 0 : -1;
}

/* The message from "message" (is_message) or "msg"; false when it stays a field: a "msg"
 * beside a "message". A "msg" that made the message before a "message" came becomes the
 * field it would have been. */
static inline bool set_message(apply_ctx *c, bool is_message, sl_str v)
{
    if (c->msg_from == MSG_NONE) { /* nearly always: one message key */
        c->msg_from = is_message ? MSG_MESSAGE : MSG_MSG;
        c->e->message = v;
        return true;
    }
    if (!is_message) {
        if (c->msg_from != MSG_NONE)
            return false;
        c->msg_from = MSG_MSG;
    } else {
        if (c->msg_from == MSG_MSG) {
            sl_field *f = set_field(c, "msg", 3);
            f->type = SL_VAL_STR;
            f->v.s = c->e->message;
            c->b->bytes += c->e->message.len;
        }
        c->msg_from = MSG_MESSAGE;
    }
    c->e->message = v;
    return true;
}

/* Message and time keys (note 2). Returns true when the value was consumed. */
static bool special_key(apply_ctx *c, const char *k, size_t kl, int jtype, double num,
                        const char *str, size_t slen)
{
    if (!c->t->specials)
        return false;
    bool msg = false, time = false;
    const sl_str tk = c->t->time_key;
    if (tk.len) {
        time = kl == tk.len && memcmp(k, tk.ptr, kl) == 0;
        msg = kl == 3 ? is_key(k, kl, "msg") : kl == 7 && is_key(k, kl, "message");
    } else {
        switch (kl) { /* by length first: most keys are neither */
        case 2: time = is_key(k, kl, "ts"); break;
        case 3: msg = is_key(k, kl, "msg"); break;
        case 4: time = is_key(k, kl, "time"); break;
        case 7: msg = is_key(k, kl, "message"); break;
        case 9: time = is_key(k, kl, "timestamp"); break;
        case 10: time = is_key(k, kl, "@timestamp"); break;
        default: return false;
        }
    }
    if (msg && (jtype < 0 || jtype == JSON_STR))
        return set_message(c, kl == 7, (sl_str){str, (uint32_t)slen});
    if (time && !c->time_set) {
        int64_t ns = 0;
        if (jtype == JSON_NUM)
            ns = epoch_to_ns(num);
        else if (str && time_to_ns(c->t, str, slen, &ns) != 0)
            ns = 0;
        if (ns > 0) {
            c->e->ts_ns = ns;
            c->time_set = true;
            return true;
        }
    }
    return false;
}

/* A member as json_scan_object reports it, from a DOM value (objects wider than the
 * scanner's array). */
static void member_from_dom(json_member *m, const char *key, const json_value *v)
{
    memset(m, 0, sizeof *m);
    m->key = key;
    m->keylen = strlen(key);
    m->type = v->type;
    m->nested = v->type == JSON_ARR || v->type == JSON_OBJ;
    m->b = v->b;
    m->num = v->num;
    m->str = v->str;
    m->len = v->len;
    m->raw = v->raw;
    m->raw_len = v->raw_len;
    if (v->type == JSON_NUM && v->raw_len < 21 && !memchr(v->raw, '.', v->raw_len) &&
        !memchr(v->raw, 'e', v->raw_len) && !memchr(v->raw, 'E', v->raw_len)) {
        char tmp[24];
        memcpy(tmp, v->raw, v->raw_len);
        tmp[v->raw_len] = '\0';
        errno = 0;
        char *end;
        long long ll = strtoll(tmp, &end, 10);
        if (errno == 0 && *end == '\0') {
            m->is_int = true;
            m->i = ll;
        }
    }
}

/* Whether a key can be a message or time key (special_key): by length and first byte,
 * inline, so most members cost no call. */
static inline bool may_be_special(const parse_tf *t, const char *k, size_t kl)
{
    return t->specials && kl < 64 && (t->special_lens >> kl & 1) &&
           (k[0] == 't' || k[0] == 'm' || k[0] == '@' || k[0] == t->time_key0);
}

/* Message and time members (note 2); true when consumed. */
static bool apply_special(apply_ctx *c, const json_member *v)
{
    if (v->type == JSON_STR)
        return special_key(c, v->key, v->keylen, JSON_STR, 0, v->str, v->len);
    /* A "message" that is not a string is the message as its JSON text: as a field it
     * would be a second "message" beside the message in every encoding. null says
     * nothing, and the line stays the message. */
    if (c->t->specials && is_key(v->key, v->keylen, "message")) {
        if (v->type != JSON_NULL)
            set_message(c, true, (sl_str){v->raw, (uint32_t)v->raw_len});
        return true;
    }
    if (v->type == JSON_NUM)
        return special_key(c, v->key, v->keylen, JSON_NUM, v->num, NULL, 0);
    return false;
}

/* A member that is not a special one becomes a field. `keys` (may be NULL) is the key_bit
 * set of the event's fields when the field array has room for this member and there is
 * no target prefix: a key outside it is appended without a search. Always inlined (it runs
 * for nearly every member; the call cost a quarter of it). */
static inline __attribute__((always_inline)) void apply_field(apply_ctx *c, const json_member *v,
                                                           uint64_t *keys)
{
    const char *k = v->key;
    size_t kl = v->keylen;
    sl_field *f;
    uint64_t bit = keys ? key_bit(k, kl) : 0;
    if (keys && !(*keys & bit)) {
        sl_event *e = c->e;
        f = &e->fields[e->nfields++];
        *f = (sl_field){.key = {k, (uint32_t)kl}};
        c->b->bytes += kl + 16;
    } else {
        f = set_field(c, k, kl);
    }
    if (keys)
        *keys |= bit;
    switch (v->type) {
    case JSON_STR:
        f->type = SL_VAL_STR;
        f->v.s = (sl_str){v->str, (uint32_t)v->len};
        break;
    case JSON_BOOL:
        f->type = SL_VAL_BOOL;
        f->v.b = v->b;
        break;
    case JSON_NULL:
        f->type = SL_VAL_NULL;
        break;
    case JSON_NUM:
        if (v->is_int) {
            f->type = SL_VAL_INT;
            f->v.i = v->i;
        } else {
            f->type = SL_VAL_FLOAT;
            f->v.f = v->num;
        }
        break;
    default: /* object or array: raw text (note 1) */
        f->type = SL_VAL_JSON;
        f->v.s = (sl_str){v->raw, (uint32_t)v->raw_len};
        break;
    }
    c->b->bytes += v->raw_len;
}

/* Note 3: members are read without a DOM into a stack array, and applied only once the
 * whole object is known to be valid, so a bad line leaves the event untouched. */
static bool parse_json(apply_ctx *c, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= n || s[i] != '{')
        return false;
    json_member m[64];
    int k = json_scan_object(&c->b->arena, s + i, n - i, m, SL_ARRAY_LEN(m));
    if (k >= 0) {
        /* Message and time first, then room for exactly the members that become fields:
         * doubling would leave 2-3 dead arrays per event, and the field array is the
         * largest thing a parsed event holds (40 bytes a member, more than its text). */
        uint64_t special = 0;
        uint32_t nf = 0;
        for (int j = 0; j < k; j++) {
            if (may_be_special(c->t, m[j].key, m[j].keylen) && apply_special(c, &m[j]))
                special |= 1ULL << j;
            else
                nf++;
        }
        sl_event *e = c->e;
        if (e->nfields + nf > e->cap_fields) {
            uint32_t cap = e->nfields + nf;
            sl_field *na = arena_alloc(&c->b->arena, cap * sizeof *na);
            if (e->nfields)
                memcpy(na, e->fields, e->nfields * sizeof *na);
            e->fields = na;
            e->cap_fields = cap;
        }
        uint64_t keys = 0, *kp = NULL;
        if (!(c->t->cfg->target && c->t->cfg->target[0])) {
            for (uint32_t j = 0; j < e->nfields; j++)
                keys |= key_bit(e->fields[j].key.ptr, e->fields[j].key.len);
            kp = &keys;
        }
        for (int j = 0; j < k; j++)
            if (!(special & (1ULL << j)))
                apply_field(c, &m[j], kp);
        return true;
    }
    if (k == -1)
        return false;
    char err[8];
    json_value *root = json_parse(&c->b->arena, s + i, n - i, err, sizeof err);
    if (!root || root->type != JSON_OBJ)
        return false;
    for (size_t j = 0; j < root->n; j++) {
        member_from_dom(&m[0], root->keys[j], root->items[j]);
        if (!apply_special(c, &m[0]))
            apply_field(c, &m[0], NULL);
    }
    return true;
}

/* Whether types makes key a string: logfmt then keeps its text (an id=007 stays "007"). */
static bool typed_string(const parse_tf *t, sl_str key)
{
    for (size_t i = 0; i < t->ntypes; i++)
        if (t->types[i].type == PT_STR && t->types[i].key.len == key.len &&
            memcmp(t->types[i].key.ptr, key.ptr, key.len) == 0)
            return true;
    return false;
}

static void apply_logfmt(void *arg, const logfmt_pair *p)
{
    apply_ctx *c = arg;
    if (!p->bare && special_key(c, p->key, p->keylen, -1, 0, p->val, p->vallen))
        return;
    sl_field *f = set_field(c, p->key, p->keylen);
    c->b->bytes += p->vallen;
    if (p->bare) {
        f->type = SL_VAL_BOOL;
        f->v.b = true;
        return;
    }
    f->type = SL_VAL_STR;
    f->v.s = (sl_str){p->val, (uint32_t)p->vallen};
    if (p->quoted || p->vallen == 0 || p->vallen > 20 || typed_string(c->t, f->key))
        return;
    /* unquoted numbers and booleans get their type */
    char tmp[24];
    memcpy(tmp, p->val, p->vallen);
    tmp[p->vallen] = '\0';
    if (strcmp(tmp, "true") == 0 || strcmp(tmp, "false") == 0) {
        f->type = SL_VAL_BOOL;
        f->v.b = tmp[0] == 't';
        return;
    }
    char *end;
    errno = 0;
    long long ll = strtoll(tmp, &end, 10);
    if (*end == '\0' && (tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9'))) {
        /* digits past 64 bits (a Datadog trace id) stay text: a float would change them */
        if (errno == 0) {
            f->type = SL_VAL_INT;
            f->v.i = ll;
        }
        return;
    }
    errno = 0;
    double d = strtod(tmp, &end);
    if (errno == 0 && *end == '\0' && (tmp[0] == '-' || (tmp[0] >= '0' && tmp[0] <= '9'))) {
        f->type = SL_VAL_FLOAT;
        f->v.f = d;
    }
}

static void md_free(void *p)
{
    pcre2_match_data_free(p);
}

static bool parse_regex(parse_tf *t, apply_ctx *c, const char *s, size_t n)
{
    pcre2_match_data *md = pthread_getspecific(t->md_key);
    if (!md) {
        md = pcre2_match_data_create_from_pattern(t->re, NULL);
        if (!md)
            return false;
        pthread_setspecific(t->md_key, md);
    }
    int rc = pcre2_match(t->re, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    if (rc < 0)
        return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    for (size_t g = 0; g < t->ngroups; g++) {
        uint32_t num = t->groups[g].num;
        if ((int)num >= rc || ov[2 * num] == PCRE2_UNSET)
            continue;
        const char *v = s + ov[2 * num];
        size_t vl = ov[2 * num + 1] - ov[2 * num];
        sl_str name = t->groups[g].name;
        if (special_key(c, name.ptr, name.len, -1, 0, v, vl))
            continue;
        sl_field *f = set_field(c, name.ptr, name.len);
        f->type = SL_VAL_STR;
        f->v.s = (sl_str){v, (uint32_t)vl};
        c->b->bytes += vl;
    }
    return true;
}

/* ---- transform ---------------------------------------------------------------------- */

static void parse_destroy(void *self)
{
    parse_tf *t = self;
    if (!t)
        return;
    if (t->have_key) {
        /* the calling thread's match data; other threads' go with their exit */
        md_free(pthread_getspecific(t->md_key));
        pthread_key_delete(t->md_key);
    }
    free(t->tf_head);
    free(t->tf_tail);
    for (size_t i = 0; i < t->ntypes; i++)
        free((char *)t->types[i].key.ptr);
    free(t->types);
    for (size_t i = 0; i < t->ngroups; i++)
        free((char *)t->groups[i].name.ptr);
    free(t->groups);
    pcre2_code_free(t->re);
    if (t->dlq)
        dlq_close(t->dlq);
    free(t);
}

static int parse_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    const parse_config *cfg = config;
    if (cfg->format == PF_REGEX && (!cfg->pattern || !cfg->pattern[0]))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "format: regex needs 'pattern', a PCRE2 pattern with named groups");
    if (cfg->pattern && cfg->format != PF_REGEX)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "pattern: only for format regex (format is "
                         "%s)", parse_formats[cfg->format]);
    parse_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->cc = cc;
    t->from_message = !cfg->field || strcmp(cfg->field, "message") == 0;
    if (!t->from_message) {
        snprintf(t->why_missing, sizeof t->why_missing, "no field %.100s", cfg->field);
        snprintf(t->why_not_string, sizeof t->why_not_string, "field %.100s is not a string",
                 cfg->field);
    }
    t->specials = t->from_message && !(cfg->target && cfg->target[0]);
    t->special_lens = 0x69Cu; /* ts msg time message timestamp @timestamp: 2 3 4 7 9 10 */
    t->time_key0 = 't';
    if (cfg->time_key && cfg->time_key[0]) {
        if (strlen(cfg->time_key) >= 64) {
            parse_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "time_key: longer than 63 bytes");
        }
        t->time_key = (sl_str){cfg->time_key, (uint32_t)strlen(cfg->time_key)};
        t->special_lens = 1u << 3 | 1u << 7 | 1ull << t->time_key.len;
        t->time_key0 = cfg->time_key[0];
    }
    if (!syslog_tz_parse(cfg->timezone ? cfg->timezone : "UTC", &t->tz_local,
                         &t->tz_offset_s)) {
        parse_destroy(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "timezone: \"%s\" is not UTC, local or an "
                         "offset such as +02:00 (for a named zone, run with TZ set to it and "
                         "use local)", cfg->timezone);
    }
    if (cfg->time_format && cfg->time_format[0]) {
        const char *f = cfg->time_format, *l = strstr(f, "%L");
        t->tf_head = sl_xstrdup(f);
        if (l)
            t->tf_head[l - f] = '\0';
        t->tf_tail = l ? sl_xstrdup(l + 2) : NULL;
        t->tf_zone = strstr(f, "%z") != NULL;
        if (!t->tf_head[0] && !t->tf_tail) {
            parse_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "time_format: empty");
        }
    }
    if (cfg->types.n) {
        t->types = sl_xcalloc(cfg->types.n, sizeof *t->types);
        for (size_t i = 0; i < cfg->types.n; i++) {
            int ty = -1;
            for (int k = 0; parse_type_names[k]; k++)
                if (strcmp(cfg->types.vals[i], parse_type_names[k]) == 0)
                    ty = k;
            if (ty < 0) {
                parse_destroy(t);
                return sl_seterr(err, errlen, SL_ERR_CONFIG, "types.%s: \"%s\" is not integer, "
                                 "float, bool or string", cfg->types.keys[i], cfg->types.vals[i]);
            }
            const char *pre = cfg->target && cfg->target[0] ? cfg->target : NULL;
            char *k = sl_xmalloc((pre ? strlen(pre) + 1 : 0) + strlen(cfg->types.keys[i]) + 1);
            sprintf(k, "%s%s%s", pre ? pre : "", pre ? "." : "", cfg->types.keys[i]);
            t->types[t->ntypes++] = (parse_type){{k, (uint32_t)strlen(k)}, ty};
        }
    }
    if ((t->time_key.len || t->tf_head) && !t->specials) {
        const char *opt = t->time_key.len ? "time_key" : "time_format";
        parse_destroy(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: the event time is read only when "
                         "the message is parsed without a target", opt);
    }
    if (cfg->format == PF_REGEX) {
        int ec;
        PCRE2_SIZE eo;
        /* DOTALL: the text may be lines a multiline transform joined, and a group ending
         * in .* (the message, mostly) must take all of them, not drop the stack trace
         * after the first (Fluentd's and Fluent Bit's /m); (?-s) turns it off. */
        t->re = pcre2_compile((PCRE2_SPTR)cfg->pattern, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_DOTALL, &ec, &eo, NULL);
        if (!t->re) {
            char msg[160];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
            parse_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "pattern: at offset %zu: %s",
                             (size_t)eo, msg);
        }
        pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional: falls back to the interpreter */
        uint32_t count = 0, esize = 0;
        PCRE2_SPTR table = NULL;
        pcre2_pattern_info(t->re, PCRE2_INFO_NAMECOUNT, &count);
        pcre2_pattern_info(t->re, PCRE2_INFO_NAMEENTRYSIZE, &esize);
        pcre2_pattern_info(t->re, PCRE2_INFO_NAMETABLE, &table);
        if (count == 0) {
            parse_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "pattern: has no named group (?<name>...) to make a field of");
        }
        t->groups = sl_xcalloc(count, sizeof *t->groups);
        for (uint32_t i = 0; i < count; i++) {
            const unsigned char *ent = table + (size_t)i * esize;
            const char *name = (const char *)ent + 2;
            t->groups[i].num = (uint32_t)(ent[0] << 8 | ent[1]);
            t->groups[i].name = (sl_str){sl_xstrdup(name), (uint32_t)strlen(name)};
        }
        t->ngroups = count;
        if (pthread_key_create(&t->md_key, md_free) != 0) {
            parse_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: pthread_key_create failed", cc->id);
        }
        t->have_key = true;
    }
    if (cfg->on_error == PE_DLQ) {
        int rc = dlq_open(&t->dlq, cc->data_dir, cc->id, err, errlen);
        if (rc != SL_OK) {
            parse_destroy(t);
            return rc;
        }
    }
    *self = t;
    return SL_OK;
}

/* types: each named field that was parsed takes its type; a value that cannot be one (an
 * integer "n/a") stays as it is, so nothing is lost. */
static void apply_types(const parse_tf *t, sl_batch *b, sl_event *e)
{
    for (size_t i = 0; i < t->ntypes; i++) {
        const sl_field *cf = event_get(e, t->types[i].key.ptr, t->types[i].key.len);
        if (!cf)
            continue;
        sl_field *f = (sl_field *)cf; /* the event's own: parse wrote it */
        char tmp[48];
        int ty = t->types[i].type;
        if (ty == PT_STR) {
            int n;
            if (f->type == SL_VAL_INT) {
                n = snprintf(tmp, sizeof tmp, "%lld", (long long)f->v.i);
            } else if (f->type == SL_VAL_FLOAT) {
                n = snprintf(tmp, sizeof tmp, "%.15g", f->v.f);
                if (strtod(tmp, NULL) != f->v.f)
                    n = snprintf(tmp, sizeof tmp, "%.17g", f->v.f);
            } else if (f->type == SL_VAL_BOOL) {
                n = snprintf(tmp, sizeof tmp, "%s", f->v.b ? "true" : "false");
            } else {
                continue;
            }
            f->v.s = batch_str(b, tmp, (size_t)n);
            f->type = SL_VAL_STR;
            continue;
        }
        if (f->type == SL_VAL_INT && ty == PT_FLOAT) {
            f->type = SL_VAL_FLOAT;
            f->v.f = (double)f->v.i;
            continue;
        }
        if (f->type != SL_VAL_STR || f->v.s.len == 0 || f->v.s.len >= sizeof tmp)
            continue;
        memcpy(tmp, f->v.s.ptr, f->v.s.len);
        tmp[f->v.s.len] = '\0';
        char *end;
        errno = 0;
        if (ty == PT_INT) {
            long long v = strtoll(tmp, &end, 10);
            if (errno == 0 && *end == '\0' && tmp[0] != ' ')
                f->type = SL_VAL_INT, f->v.i = v;
        } else if (ty == PT_FLOAT) {
            double v = strtod(tmp, &end);
            if (errno == 0 && *end == '\0' && tmp[0] != ' ' && isfinite(v))
                f->type = SL_VAL_FLOAT, f->v.f = v;
        } else if (strcasecmp(tmp, "true") == 0 || strcasecmp(tmp, "false") == 0) {
            f->type = SL_VAL_BOOL;
            f->v.b = tmp[0] == 't' || tmp[0] == 'T';
        }
    }
}

static void parse_failed(parse_tf *t, const sl_event *e, const char *why)
{
    metrics_error(t->cc->metrics, "parse");
    if (log_gate(&t->last_log_ms, 10000))
        log_warn(t->cc->id, "cannot parse event (%s; %s); further failures for 10 s not logged",
                 why, t->cfg->on_error == PE_KEEP ? "kept" : t->cfg->on_error == PE_DROP ? "dropped" : "dead-lettered");
    if (t->dlq) {
        int64_t ns = sl_now_ns();
        if (dlq_write(t->dlq, e, why, 0, ns, ns) != SL_OK)
            metrics_error(t->cc->metrics, "dlq_write");
        else
            atomic_fetch_add_explicit(&t->cc->metrics->dlq_events, 1, memory_order_relaxed);
    }
}

static int parse_process(void *self, sl_batch *b)
{
    parse_tf *t = self;
    const parse_config *cfg = t->cfg;
    bool *keep = NULL;
    for (uint32_t i = 0; i < b->n; i++) {
        sl_event *e = &b->events[i];
        sl_str src;
        const char *why;
        if (t->from_message) {
            src = e->message;
        } else {
            const sl_field *f = event_get(e, cfg->field, strlen(cfg->field));
            if (!f || f->type != SL_VAL_STR) {
                if (cfg->format == PF_AUTO)
                    continue;
                why = f ? t->why_not_string : t->why_missing;
                goto failed;
            }
            src = f->v.s;
        }
        apply_ctx c = {.t = t, .b = b, .e = e};
        bool ok;
        switch (cfg->format) {
        case PF_JSON:
            ok = parse_json(&c, src.ptr, src.len);
            break;
        case PF_LOGFMT:
            ok = logfmt_parse(src.ptr, src.len, false, &b->arena, apply_logfmt, &c) > 0;
            break;
        case PF_REGEX:
            ok = parse_regex(t, &c, src.ptr, src.len);
            break;
        default:
            if (!parse_json(&c, src.ptr, src.len))
                logfmt_parse(src.ptr, src.len, true, &b->arena, apply_logfmt, &c);
            ok = true;
            break;
        }
        if (ok) {
            if (t->ntypes)
                apply_types(t, b, e);
            continue;
        }
        why = cfg->format == PF_JSON ? "not a JSON object" :
              cfg->format == PF_LOGFMT ? "not logfmt" : "pattern does not match";
    failed:
        parse_failed(t, e, why);
        if (cfg->on_error != PE_KEEP) {
            if (!keep) {
                keep = arena_alloc(&b->arena, b->n * sizeof *keep);
                memset(keep, 1, b->n * sizeof *keep);
            }
            keep[i] = false;
        }
    }
    if (keep)
        batch_compact(b, keep);
    return SL_OK;
}

const sl_transform_vtable sl_transform_parse = {
    .type = "parse",
    .help = "Parse the message (or a field) as JSON, logfmt, a regex with named groups, or auto",
    .options = parse_options,
    .config_size = sizeof(parse_config),
    .init = parse_init,
    .process = parse_process,
    .destroy = parse_destroy,
};
