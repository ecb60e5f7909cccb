/* route.c - the `route` transform: keeps the events whose tag (field `tag` by default)
 * matches Fluentd-style patterns, so sinks subscribe to tags through `inputs:`. Several
 * route transforms on one input each see their own copy of the batch (topology clones). */
#include "route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/component.h"

typedef struct route_config {
    sl_strlist match;
    char *field;
    bool invert;
} route_config;

static const sl_option route_options[] = {
    {"match", SL_OPT_STRLIST, offsetof(route_config, match), NULL, SL_OPT_REQUIRED, NULL, NULL, 0,
     0, "tag patterns: app.* (one part), app.** (any depth, also app), {a,b}.logs"},
    {"field", SL_OPT_STR, offsetof(route_config, field), "tag", 0, NULL, NULL, 0, 0,
     "event field holding the tag"},
    {"invert", SL_OPT_BOOL, offsetof(route_config, invert), "false", 0, NULL, NULL, 0, 0,
     "keep the events that match none of the patterns instead"},
    SL_OPT_END,
};

/* Glob within one part: `*` any run of characters (a part never holds a dot). */
static bool part_match(const char *p, const char *pe, const char *t, const char *te)
{
    while (p < pe) {
        if (*p == '*') {
            for (const char *x = te; x >= t; x--)
                if (part_match(p + 1, pe, x, te))
                    return true;
            return false;
        }
        if (t == te || *p != *t)
            return false;
        p++, t++;
    }
    return t == te;
}

#define ROUTE_MAX_PARTS 32

typedef struct parts {
    const char *p[ROUTE_MAX_PARTS];
    size_t len[ROUTE_MAX_PARTS];
    size_t n;
} parts;

/* Splits on dots; false if there are too many parts. */
static bool split(parts *out, const char *s, size_t n)
{
    out->n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.')
            continue;
        if (out->n == ROUTE_MAX_PARTS)
            return false;
        out->p[out->n] = s + start;
        out->len[out->n++] = i - start;
        start = i + 1;
    }
    return true;
}

/* memo: 0 unknown, 1 no, 2 yes */
static bool match_from(const parts *pp, const parts *tp, size_t pi, size_t ti,
                       uint8_t memo[ROUTE_MAX_PARTS + 1][ROUTE_MAX_PARTS + 1])
{
    if (memo[pi][ti])
        return memo[pi][ti] == 2;
    bool m;
    if (pi == pp->n) {
        m = ti == tp->n;
    } else if (pp->len[pi] == 2 && pp->p[pi][0] == '*' && pp->p[pi][1] == '*') {
        /* `**`: zero parts, or one more part and stay */
        m = match_from(pp, tp, pi + 1, ti, memo) ||
            (ti < tp->n && match_from(pp, tp, pi, ti + 1, memo));
    } else {
        m = ti < tp->n &&
            part_match(pp->p[pi], pp->p[pi] + pp->len[pi], tp->p[ti], tp->p[ti] + tp->len[ti]) &&
            match_from(pp, tp, pi + 1, ti + 1, memo);
    }
    memo[pi][ti] = m ? 2 : 1;
    return m;
}

static bool parts_match(const char *p, const char *pe, const char *t, const char *te)
{
    parts pp, tp;
    if (!split(&pp, p, (size_t)(pe - p)) || !split(&tp, t, (size_t)(te - t)))
        return false;
    uint8_t memo[ROUTE_MAX_PARTS + 1][ROUTE_MAX_PARTS + 1];
    memset(memo, 0, sizeof memo);
    return match_from(&pp, &tp, 0, 0, memo);
}

/* Expands the first {a,b,...} group and matches each alternative. */
static bool brace_match(const char *pat, size_t plen, const char *t, size_t tl, int depth)
{
    const char *open = memchr(pat, '{', plen);
    if (!open || depth > 8)
        return parts_match(pat, pat + plen, t, t + tl);
    const char *close = memchr(open, '}', plen - (size_t)(open - pat));
    if (!close)
        return parts_match(pat, pat + plen, t, t + tl);
    char buf[512];
    size_t pre = (size_t)(open - pat), post = plen - (size_t)(close + 1 - pat);
    for (const char *a = open + 1; a <= close;) {
        const char *c = a;
        while (c < close && *c != ',')
            c++;
        size_t alen = (size_t)(c - a);
        if (pre + alen + post < sizeof buf) {
            memcpy(buf, pat, pre);
            memcpy(buf + pre, a, alen);
            memcpy(buf + pre + alen, close + 1, post);
            if (brace_match(buf, pre + alen + post, t, tl, depth + 1))
                return true;
        }
        a = c + 1;
    }
    return false;
}

bool route_tag_match(const char *pattern, const char *tag, size_t taglen)
{
    return brace_match(pattern, strlen(pattern), tag, taglen, 0);
}

typedef struct route {
    const route_config *cfg;
    size_t flen;
} route;

static int route_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    const route_config *cfg = config;
    if (cfg->match.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "match: give at least one pattern");
    for (size_t i = 0; i < cfg->match.n; i++) {
        /* as Fluentd refuses them: a brace never closed (or closed, never opened) matched
         * nothing it meant to; an alternative must fit brace_match's buffer */
        const char *p = cfg->match.v[i];
        int depth = 0;
        for (const char *c = p; *c && depth >= 0; c++)
            depth += *c == '{' ? 1 : *c == '}' ? -1 : 0;
        if (depth != 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "match[%zu]: pattern \"%s\": '%c' without '%c'", i, p,
                             depth > 0 ? '{' : '}', depth > 0 ? '}' : '{');
        if (strlen(p) >= 512)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "match[%zu]: pattern \"%.40s...\": longer than 511 bytes", i, p);
    }
    route *r = sl_xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->flen = strlen(cfg->field);
    *self = r;
    return SL_OK;
}

static int route_process(void *self, sl_batch *b)
{
    route *r = self;
    if (b->n == 0)
        return SL_OK;
    bool stack_keep[256];
    bool *keep = b->n <= 256 ? stack_keep : sl_xmalloc(b->n * sizeof *keep);
    bool all = true;
    for (uint32_t i = 0; i < b->n; i++) {
        const sl_field *f = event_get(&b->events[i], r->cfg->field, r->flen);
        bool m = false;
        if (f && f->type == SL_VAL_STR)
            for (size_t k = 0; k < r->cfg->match.n && !m; k++)
                m = route_tag_match(r->cfg->match.v[k], f->v.s.ptr, f->v.s.len);
        keep[i] = m != r->cfg->invert;
        all &= keep[i];
    }
    if (!all)
        batch_compact(b, keep);
    if (keep != stack_keep)
        free(keep);
    return SL_OK;
}

static void route_destroy(void *self) { free(self); }

const sl_transform_vtable sl_transform_route = {
    .type = "route",
    .help = "Keep events whose tag matches Fluentd-style patterns (app.*, app.**, {a,b})",
    .options = route_options,
    .config_size = sizeof(route_config),
    .init = route_init,
    .process = route_process,
    .destroy = route_destroy,
};
