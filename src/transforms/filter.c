/* filter.c - the `filter` transform: keeps (or drops) the events that match every
 * condition given: a field equal to one of some values, a field matching a PCRE2 regex,
 * a level at or above a threshold. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/json.h"
#include "formats/severity.h"

enum { FILTER_KEEP = 0, FILTER_DROP = 1 };
static const char *const filter_actions[] = {"keep", "drop", NULL};

typedef struct filter_config {
    int action;
    char *field;
    sl_strlist equals;
    char *regex;
    char *regex_field;
    char *min_level;
    char *level_field;
} filter_config;

static const sl_option filter_options[] = {
    {"action", SL_OPT_ENUM, offsetof(filter_config, action), "keep", 0, filter_actions, NULL, 0,
     0, "keep: pass only matching events; drop: pass all but the matching ones"},
    {"field", SL_OPT_STR, offsetof(filter_config, field), NULL, 0, NULL, NULL, 0, 0,
     "field compared with `equals` (`message` is the event's message; a.b.c is also c inside "
     "the JSON object of a field a or a.b, as parse leaves nested JSON)"},
    {"equals", SL_OPT_STRLIST, offsetof(filter_config, equals), NULL, 0, NULL, NULL, 0, 0,
     "the field's value is one of these: as text, or for a number field as a number "
     "(\"1\" and \"1.0\" both match 1 and 1.0)"},
    {"regex", SL_OPT_STR, offsetof(filter_config, regex), NULL, 0, NULL, NULL, 0, 0,
     "PCRE2 pattern the field's text must match (unanchored)"},
    {"regex_field", SL_OPT_STR, offsetof(filter_config, regex_field), NULL, 0, NULL, NULL, 0, 0,
     "field the regex applies to (default: `field`, else the message)"},
    {"min_level", SL_OPT_STR, offsetof(filter_config, min_level), NULL, 0, NULL, NULL, 0, 0,
     "level threshold (trace, debug, info, warn, error, fatal, or any spelling severity knows); "
     "events without a known level do not match"},
    {"level_field", SL_OPT_STR, offsetof(filter_config, level_field), NULL, 0, NULL, NULL, 0, 0,
     "level field (default: the first of level, severity, log.level, lvl)"},
    SL_OPT_END,
};

typedef struct filter_tf {
    const filter_config *cfg;
    const sl_component_ctx *cc;
    sl_str field, regex_field, level_field;
    sl_str *equals;
    double *equals_num; /* each one's number, NAN when it is not one */
    pcre2_code *re;
    pthread_key_t md_key; /* per-thread match data: process runs on several sources */
    bool has_md_key;
    int min_level;
} filter_tf;

static const sl_str filter_level_keys[] = {SL_STR("level"), SL_STR("severity"),
                                           SL_STR("log.level"), SL_STR("lvl")};

static sl_str filter_cstr(const char *s)
{
    return (sl_str){s, s ? (uint32_t)strlen(s) : 0};
}

/* A value of `equals` written as a decimal number ("1", "1.0", "-2.5e3"), else NAN: not
 * strtod's hex, blanks, inf or nan, which no JSON number is written as. */
static double decimal_number(const char *s)
{
    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
        return NAN;
    char *end;
    double d = strtod(s, &end);
    return *end || !isfinite(d) ? NAN : d;
}

static void filter_md_free(void *p)
{
    pcre2_match_data_free(p);
}

static void filter_destroy(void *self)
{
    filter_tf *t = self;
    if (!t)
        return;
    if (t->re)
        pcre2_code_free(t->re);
    if (t->has_md_key) {
        /* the calling thread's match data; other threads' go with their exit */
        pcre2_match_data_free(pthread_getspecific(t->md_key));
        pthread_key_delete(t->md_key);
    }
    free(t->equals);
    free(t->equals_num);
    free(t);
}

static int filter_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                       size_t errlen)
{
    const filter_config *cfg = config;
    filter_tf *t = sl_xcalloc(1, sizeof *t);
    t->cfg = cfg;
    t->cc = cc;
    t->field = filter_cstr(cfg->field);
    t->regex_field = filter_cstr(cfg->regex_field ? cfg->regex_field
                                 : cfg->field ? cfg->field : "message");
    t->level_field = filter_cstr(cfg->level_field);
    if (cfg->equals.n && !cfg->field) {
        filter_destroy(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "equals: needs `field`, the field compared");
    }
    if (cfg->equals.n) {
        t->equals = sl_xcalloc(cfg->equals.n, sizeof *t->equals);
        t->equals_num = sl_xcalloc(cfg->equals.n, sizeof *t->equals_num);
        for (size_t i = 0; i < cfg->equals.n; i++) {
            t->equals[i] = filter_cstr(cfg->equals.v[i]);
            t->equals_num[i] = decimal_number(cfg->equals.v[i]);
        }
    }
    if (cfg->regex) {
        int ec;
        PCRE2_SIZE off;
        t->re = pcre2_compile((PCRE2_SPTR)cfg->regex, PCRE2_ZERO_TERMINATED,
                              PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &ec, &off, NULL);
        if (!t->re) {
            char msg[160];
            pcre2_get_error_message(ec, (PCRE2_UCHAR *)msg, sizeof msg);
            filter_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "regex: at offset %zu: %s",
                             (size_t)off, msg);
        }
        pcre2_jit_compile(t->re, PCRE2_JIT_COMPLETE); /* optional */
        if (pthread_key_create(&t->md_key, filter_md_free) != 0) {
            filter_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_NOMEM, "%s: pthread_key_create", cc->id);
        }
        t->has_md_key = true;
    }
    if (cfg->min_level) {
        sl_severity s = severity_from_text(cfg->min_level, strlen(cfg->min_level));
        if (!s.number) {
            filter_destroy(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "min_level: unknown level \"%s\" "
                             "(valid: %s)", cfg->min_level, SEVERITY_VALID_WORDS);
        }
        /* Compare by band (INFO..INFO4 = info), so "info" keeps every info spelling. */
        t->min_level = ((s.number - 1) / 4) * 4 + 1;
    }
    if (!cfg->equals.n && !t->re && !t->min_level) {
        filter_destroy(t);
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: give at least one of equals, regex, min_level", cc->id);
    }
    *self = t;
    return SL_OK;
}

/* The text of a field (numbers and booleans written out into tmp, as the JSON encoder
 * writes them: 0.1 and 1.0, not 0.10000000000000001 and 1); false if absent/null. *num is
 * the value of a number field, NAN otherwise. */
static bool field_text(sl_batch *b, const sl_event *e, sl_str key, char *tmp, size_t tmplen,
                       sl_str *out, double *num)
{
    *num = NAN;
    if (key.len == 7 && memcmp(key.ptr, "message", 7) == 0) {
        *out = e->message;
        return true;
    }
    sl_field val;
    if (!json_event_get_path(b, e, key.ptr, key.len, &val))
        return false;
    const sl_field *f = &val;
    int n;
    switch (f->type) {
    case SL_VAL_STR:
    case SL_VAL_JSON:
        *out = f->v.s;
        return true;
    case SL_VAL_INT:
        n = snprintf(tmp, tmplen, "%lld", (long long)f->v.i);
        *num = (double)f->v.i;
        break;
    case SL_VAL_FLOAT:
        n = snprintf(tmp, tmplen, "%.15g", f->v.f);
        if (strtod(tmp, NULL) != f->v.f)
            n = snprintf(tmp, tmplen, "%.17g", f->v.f);
        if (isfinite(f->v.f) && !strpbrk(tmp, ".eE"))
            n += snprintf(tmp + n, tmplen - (size_t)n, ".0");
        *num = f->v.f;
        break;
    case SL_VAL_BOOL:
        n = snprintf(tmp, tmplen, "%s", f->v.b ? "true" : "false");
        break;
    default:
        return false;
    }
    *out = (sl_str){tmp, (uint32_t)SL_MAX(n, 0)};
    return true;
}

static bool filter_match(filter_tf *t, sl_batch *b, const sl_event *e, pcre2_match_data *md)
{
    char tmp[64];
    sl_str v;
    double num;
    if (t->cfg->equals.n) {
        if (!field_text(b, e, t->field, tmp, sizeof tmp, &v, &num))
            return false;
        bool any = false;
        for (size_t i = 0; i < t->cfg->equals.n && !any; i++)
            any = (t->equals[i].len == v.len && memcmp(t->equals[i].ptr, v.ptr, v.len) == 0) ||
                  num == t->equals_num[i]; /* NAN on either side: not equal */
        if (!any)
            return false;
    }
    if (t->re) {
        if (!field_text(b, e, t->regex_field, tmp, sizeof tmp, &v, &num))
            return false;
        if (pcre2_match(t->re, (PCRE2_SPTR)(v.ptr ? v.ptr : ""), v.len, 0, 0, md, NULL) < 0)
            return false;
    }
    if (t->min_level) {
        const sl_field *f = NULL;
        sl_field val;
        if (t->level_field.len &&
            json_event_get_path(b, e, t->level_field.ptr, t->level_field.len, &val))
            f = &val;
        for (size_t i = 0; !t->level_field.len && !f && i < SL_ARRAY_LEN(filter_level_keys); i++)
            f = event_get(e, filter_level_keys[i].ptr, filter_level_keys[i].len);
        sl_severity s = f ? severity_from_field(f) : (sl_severity){0};
        if (!s.number || s.number < t->min_level)
            return false;
    }
    return true;
}

static int filter_process(void *self, sl_batch *b)
{
    filter_tf *t = self;
    pcre2_match_data *md = NULL;
    if (t->re) {
        md = pthread_getspecific(t->md_key);
        if (!md) {
            md = pcre2_match_data_create_from_pattern(t->re, NULL);
            if (!md) {
                metrics_error(t->cc->metrics, "nomem");
                return SL_OK; /* nothing filtered rather than anything lost */
            }
            pthread_setspecific(t->md_key, md);
        }
    }
    bool *keep = arena_alloc(&b->arena, b->n ? b->n : 1);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        bool m = filter_match(t, b, &b->events[i], md);
        keep[i] = t->cfg->action == FILTER_KEEP ? m : !m;
        kept += keep[i];
    }
    if (kept != b->n)
        batch_compact(b, keep);
    return SL_OK;
}

const sl_transform_vtable sl_transform_filter = {
    .type = "filter",
    .help = "Keep or drop events by field equality, PCRE2 regex, or level threshold",
    .options = filter_options,
    .config_size = sizeof(filter_config),
    .init = filter_init,
    .process = filter_process,
    .destroy = filter_destroy,
};
