/* s3_object.c - key template, object plan, NDJSON body and XML answers of the s3 sink.
 * Nothing here does I/O; s3_sink.c drives it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zstd.h>

#include "core/common.h"
#include "core/log.h"
#include "core/crc32c.h"
#include "formats/json.h"
#include "net/gz.h"
#include "sinks/s3/s3.h"
#include "sources/cloudwatch/cwl.h"

/* ---- Key template ---------------------------------------------------------------------- */

static bool key_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/' || c == '=';
}

static const name_rules key_rules = {.what = "key_prefix", .dates = "YmdHMj%",
                                     .lit_ok = key_char_ok, .lit_desc = "[A-Za-z0-9._-/=]"};

int s3_key_compile(s3_key_tmpl *t, const char *s, char *err, size_t errlen)
{
    return name_tmpl_compile(t, s, &key_rules, err, errlen);
}

void s3_key_free(s3_key_tmpl *t)
{
    name_tmpl_free(t);
}

/* Appends c unless it would start an empty segment (a '/' after '/' or at the start). */
static void key_putc(sl_buf *out, char c)
{
    if (c == '/' && (out->len == 0 || out->p[out->len - 1] == '/'))
        return;
    buf_putc(out, c);
}

/* Rewrites segments "." and ".." (which clients resolve away) as "_" and "__". */
static void key_fix_dots(sl_buf *out)
{
    size_t start = 0;
    for (size_t i = 0; i <= out->len; i++) {
        if (i < out->len && out->p[i] != '/')
            continue;
        size_t l = i - start;
        if ((l == 1 || l == 2) && out->p[start] == '.' && out->p[i - 1] == '.')
            memset(out->p + start, '_', l);
        start = i + 1;
    }
}

void s3_key_render(const s3_key_tmpl *t, const sl_event *e, sl_buf *out)
{
    buf_reset(out);
    struct tm tm;
    bool have_tm = false;
    for (size_t i = 0; i < t->n; i++) {
        const name_part *p = &t->parts[i];
        if (p->kind == NAME_LIT) {
            for (size_t k = 0; k < p->len; k++)
                key_putc(out, p->text[k]);
        } else if (p->kind == NAME_DATE) {
            if (!have_tm) {
                name_gmtime(name_event_sec(e), &tm);
                have_tm = true;
            }
            char tmp[8];
            if (p->text[0] == '%')
                buf_putc(out, '_'); /* '%' is not key-safe */
            else
                buf_append(out, tmp, (size_t)name_date_digits(p->text[0], &tm, tmp));
        } else {
            char num[32];
            const char *v;
            size_t vlen = name_field_value(p, e, 128, num, &v);
            /* A value never adds segments: its '/' become '_' too. */
            for (size_t k = 0; k < vlen; k++) {
                unsigned char c = (unsigned char)v[k];
                buf_putc(out, key_char_ok(c) && c != '/' ? (char)c : '_');
            }
        }
    }
    key_fix_dots(out);
    buf_reserve(out, 1);
    out->p[out->len] = '\0';
}

void s3_key_name(sl_buf *out, sl_event *const *events, size_t n, const char *ext)
{
    const sl_event *e = events[0];
    if (e->id_str.len) {
        size_t l = SL_MIN(e->id_str.len, (uint32_t)64);
        for (size_t k = 0; k < l; k++) {
            unsigned char c = (unsigned char)e->id_str.ptr[k];
            buf_putc(out, key_char_ok(c) && c != '/' && c != '.' ? (char)c : '_');
        }
    } else {
        buf_printf(out, "%016" PRIx64 "-%016" PRIx64, e->id_stream, e->id_seq);
    }
    uint32_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        const sl_event *x = events[i];
        uint64_t w[3] = {(uint64_t)x->ts_ns, x->id_stream, x->id_seq};
        crc = crc32c(crc, w, sizeof w);
        crc = crc32c(crc, x->id_str.ptr ? x->id_str.ptr : "", x->id_str.len);
        crc = crc32c(crc, x->message.ptr ? x->message.ptr : "", x->message.len);
    }
    buf_printf(out, "-%zu-%08" PRIx32 "%s", n, crc, ext);
    buf_reserve(out, 1);
    out->p[out->len] = '\0';
}

/* ---- Plan ------------------------------------------------------------------------------ */

typedef struct plan_open {
    size_t obj;       /* index in p->obj of the group's current object */
    uint64_t bytes;
    int64_t first_ts;
} plan_open;

static size_t plan_new_obj(s3_plan *p, const char *prefix, size_t cap)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4;
        p->obj = sl_xrealloc(p->obj, p->cap * sizeof *p->obj);
    }
    s3_object_plan *o = &p->obj[p->n];
    o->prefix = sl_xstrdup(prefix);
    o->idx = sl_xmalloc(cap * sizeof *o->idx);
    o->n = 0;
    return p->n++;
}

void s3_plan_build(s3_plan *p, const s3_key_tmpl *t, sl_event *const *events, size_t n,
                   uint64_t max_bytes, int64_t max_age_ns)
{
    memset(p, 0, sizeof *p);
    /* One open object per distinct prefix; a request rarely has more than a few. */
    plan_open *open = NULL;
    size_t nopen = 0;
    sl_buf key = SL_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const sl_event *e = events[i];
        s3_key_render(t, e, &key);
        size_t g = 0;
        for (; g < nopen; g++)
            if (strcmp(p->obj[open[g].obj].prefix, key.p) == 0)
                break;
        uint64_t sz = event_size(e);
        if (g == nopen) {
            open = sl_xrealloc(open, (nopen + 1) * sizeof *open);
            open[g].obj = plan_new_obj(p, key.p, n - i);
            open[g].bytes = 0;
            open[g].first_ts = e->ts_ns;
            nopen++;
        } else {
            s3_object_plan *o = &p->obj[open[g].obj];
            bool full = max_bytes && open[g].bytes + sz > max_bytes;
            bool old = max_age_ns > 0 && e->ts_ns - open[g].first_ts > max_age_ns;
            if (o->n && (full || old)) {
                open[g].obj = plan_new_obj(p, key.p, n - i);
                open[g].bytes = 0;
                open[g].first_ts = e->ts_ns;
            }
        }
        s3_object_plan *o = &p->obj[open[g].obj];
        o->idx[o->n++] = i;
        open[g].bytes += sz;
    }
    free(open);
    buf_free(&key);
}

void s3_plan_free(s3_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->obj[i].prefix);
        free(p->obj[i].idx);
    }
    free(p->obj);
    memset(p, 0, sizeof *p);
}

/* ---- Body ------------------------------------------------------------------------------ */

void s3_body_init(s3_body *b, int compression, int level, size_t chunk, const char *id_key)
{
    memset(b, 0, sizeof *b);
    b->compression = compression;
    b->level = level;
    b->chunk = chunk ? chunk : (size_t)1 << 20;
    b->id_key = id_key && *id_key ? id_key : NULL;
}

void s3_body_free(s3_body *b)
{
    buf_free(&b->raw);
    buf_free(&b->part);
    buf_free(&b->tmp);
}

int s3_body_flush(s3_body *b)
{
    if (!b->raw.len)
        return SL_OK;
    if (b->compression == S3_COMP_NONE) {
        buf_append(&b->part, b->raw.p, b->raw.len);
    } else if (b->compression == S3_COMP_ZSTD) {
        size_t cap = ZSTD_compressBound(b->raw.len);
        if (!cap)
            return SL_ERR_NOMEM;
        buf_reserve(&b->part, cap);
        size_t n = ZSTD_compress(b->part.p + b->part.len, cap, b->raw.p, b->raw.len, b->level);
        if (ZSTD_isError(n))
            return SL_ERR_NOMEM;
        b->part.len += n;
    } else {
        int rc = gz_compress(GZ_AUTO, b->level, b->stream, b->raw.p, b->raw.len, &b->tmp);
        if (rc != SL_OK)
            return rc;
        buf_append(&b->part, b->tmp.p, b->tmp.len);
    }
    buf_reset(&b->raw);
    return SL_OK;
}

int s3_body_add(s3_body *b, const sl_event *e)
{
    size_t before = b->raw.len;
    json_encode_event(&b->raw, e);
    if (b->id_key && (e->id_str.len || e->id_stream || e->id_seq)) {
        b->raw.len--; /* inside the object, before its '}' */
        buf_append(&b->raw, ",\"", 2);
        json_escape(&b->raw, b->id_key, strlen(b->id_key));
        buf_append(&b->raw, "\":\"", 3);
        if (e->id_str.len)
            json_escape(&b->raw, e->id_str.ptr, e->id_str.len);
        else
            buf_printf(&b->raw, "%016" PRIx64 "%016" PRIx64, e->id_stream, e->id_seq);
        buf_append(&b->raw, "\"}", 2);
    }
    buf_putc(&b->raw, '\n');
    b->raw_bytes += b->raw.len - before;
    if (b->compression == S3_COMP_NONE || b->raw.len >= b->chunk)
        return s3_body_flush(b);
    return SL_OK;
}

/* ---- Answers --------------------------------------------------------------------------- */

void s3_xml_get(const char *xml, size_t len, const char *tag, char *out, size_t outlen)
{
    /* The STS answer's reader (entities decoded, nothing read past len), then one
     * printable line for a log or a reason. */
    char text[2048];
    if (outlen)
        out[0] = '\0';
    if (!xml || !outlen || cwl_xml_find(xml, len, tag, text, sizeof text) != SL_OK)
        return;
    log_excerpt(out, outlen, text, strlen(text));
}

/* ---- Addressing -------------------------------------------------------------------------- */

bool s3_virtual_host_ok(const char *bucket, const char *authority, bool https)
{
    if (authority[0] == '[')
        return false; /* an IPv6 literal */
    size_t hl = strcspn(authority, ":");
    bool ipv4 = hl > 0;
    for (size_t i = 0; i < hl && ipv4; i++)
        ipv4 = (authority[i] >= '0' && authority[i] <= '9') || authority[i] == '.';
    if (ipv4)
        return false;
    size_t n = strlen(bucket);
    if (n == 0 || n > 63 || bucket[0] == '-' || bucket[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        if (c == '.' ? https : !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return false;
    }
    return true;
}

s3_outcome s3_classify(long status, const char *code)
{
    if (status >= 200 && status < 300)
        return S3_OK;
    if (status == 0 || status >= 500 || status == 408 || status == 429 ||
        strcmp(code, "SlowDown") == 0 || strcmp(code, "RequestTimeout") == 0)
        return S3_RETRY;
    if (strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "InvalidAccessKeyId") == 0 ||
        strcmp(code, "ExpiredToken") == 0 || strcmp(code, "TokenRefreshRequired") == 0 ||
        strcmp(code, "RequestTimeTooSkewed") == 0 || strcmp(code, "InvalidToken") == 0)
        return S3_AUTH;
    return S3_REJECT;
}
