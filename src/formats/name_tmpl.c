/* name_tmpl.c - see name_tmpl.h. */
#include "formats/name_tmpl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

static void part_add(name_tmpl *t, int kind, const char *s, size_t len)
{
    t->parts = sl_xrealloc(t->parts, (t->n + 1) * sizeof *t->parts);
    name_part *p = &t->parts[t->n++];
    p->kind = kind;
    p->text = sl_xmalloc(len + 1);
    memcpy(p->text, s, len);
    p->text[len] = '\0';
    p->len = len;
    if (kind != NAME_LIT)
        t->dynamic = true;
    if (kind == NAME_FIELD)
        t->fields = true;
}

static int fail(name_tmpl *t, char *err, size_t errlen, const name_rules *r, const char *s,
                const char *why)
{
    name_tmpl_free(t);
    /* a long template is quoted by its start, so the reason still fits the message */
    int q = (int)SL_MIN(strlen(s), (size_t)80);
    return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s \"%.*s%s\": %s", r->what, q, s,
                     s[q] ? "..." : "", why);
}

int name_tmpl_compile(name_tmpl *t, const char *s, const name_rules *r, char *err,
                      size_t errlen)
{
    memset(t, 0, sizeof *t);
    size_t i = 0, n = strlen(s), lit = 0;
    char litbuf[512], why[160];
#define FLUSH_LIT()                              \
    do {                                         \
        if (lit)                                 \
            part_add(t, NAME_LIT, litbuf, lit); \
        lit = 0;                                 \
    } while (0)
    while (i < n) {
        if (s[i] == '%') {
            if (i + 1 >= n || !strchr(r->dates, s[i + 1])) {
                size_t w = (size_t)snprintf(why, sizeof why,
                                            "unsupported date conversion at %zu (use", i);
                for (const char *c = r->dates; *c && w < sizeof why; c++)
                    w += (size_t)snprintf(why + w, sizeof why - w, " %%%c", *c);
                if (w < sizeof why)
                    snprintf(why + w, sizeof why - w, ")");
                return fail(t, err, errlen, r, s, why);
            }
            if (s[i + 1] == '%' && (!r->lit_ok || r->lit_ok('%'))) {
                if (lit >= sizeof litbuf)
                    return fail(t, err, errlen, r, s, "too long");
                litbuf[lit++] = '%';
            } else {
                FLUSH_LIT();
                part_add(t, NAME_DATE, s + i + 1, 1);
            }
            i += 2;
        } else if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') {
            const char *end = strstr(s + i + 2, "}}");
            if (!end)
                return fail(t, err, errlen, r, s, "unclosed {{");
            const char *a = s + i + 2, *b = end;
            while (a < b && *a == ' ')
                a++;
            while (b > a && b[-1] == ' ')
                b--;
            if (a == b)
                return fail(t, err, errlen, r, s, "empty {{ }}");
            FLUSH_LIT();
            part_add(t, NAME_FIELD, a, (size_t)(b - a));
            i = (size_t)(end - s) + 2;
        } else {
            if (r->lit_ok && !r->lit_ok((unsigned char)s[i])) {
                snprintf(why, sizeof why, "character at %zu not in %s", i, r->lit_desc);
                return fail(t, err, errlen, r, s, why);
            }
            if (lit >= sizeof litbuf)
                return fail(t, err, errlen, r, s, "too long");
            litbuf[lit++] = s[i++];
        }
    }
    FLUSH_LIT();
#undef FLUSH_LIT
    return SL_OK;
}

void name_tmpl_free(name_tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

void name_gmtime(int64_t sec, struct tm *tm)
{
    time_t tt = (time_t)sec;
    if (!gmtime_r(&tt, tm)) {
        memset(tm, 0, sizeof *tm);
        tm->tm_year = 70;
        tm->tm_mday = 1;
    }
}

int64_t name_event_sec(const sl_event *e)
{
    int64_t sec = e->ts_ns / 1000000000;
    if (e->ts_ns < 0 && e->ts_ns % 1000000000)
        sec--;
    return sec;
}

int name_date_digits(char conv, const struct tm *tm, char *out)
{
    switch (conv) {
    case 'Y': return snprintf(out, 8, "%04d", (tm->tm_year + 1900) % 10000);
    case 'y': return snprintf(out, 8, "%02d", (tm->tm_year + 1900) % 100);
    case 'm': return snprintf(out, 8, "%02d", (tm->tm_mon + 1) % 100);
    case 'd': return snprintf(out, 8, "%02d", tm->tm_mday % 100);
    case 'H': return snprintf(out, 8, "%02d", tm->tm_hour % 100);
    case 'M': return snprintf(out, 8, "%02d", tm->tm_min % 100);
    case 'j': return snprintf(out, 8, "%03d", (tm->tm_yday + 1) % 1000);
    }
    return 0;
}

size_t name_field_value(const name_part *p, const sl_event *e, size_t max, char num[32],
                        const char **v)
{
    const sl_field *f = event_get(e, p->text, p->len);
    if (f && f->type == SL_VAL_STR && f->v.s.len) {
        *v = f->v.s.ptr;
        return SL_MIN((size_t)f->v.s.len, max);
    }
    if (f && f->type == SL_VAL_INT) {
        *v = num;
        return (size_t)snprintf(num, 32, "%lld", (long long)f->v.i);
    }
    if (f && f->type == SL_VAL_BOOL) {
        *v = f->v.b ? "true" : "false";
        return strlen(*v);
    }
    *v = "unknown";
    return 7;
}
