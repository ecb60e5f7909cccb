/* sigv4.c - AWS Signature Version 4: builds the canonical request and string to sign and
 * derives the signing key with HMAC-SHA256 (OpenSSL). Used by the cloudwatch_logs source. */
#include "net/sigv4.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/common.h"

static void sigv4_hex(const unsigned char *d, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[2 * n] = '\0';
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    sigv4_hex(md, 32, out);
}

static void sigv4_hmac(const void *key, size_t keylen, const char *msg, size_t len,
                       unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)msg, len, out, &olen);
}

void sigv4_format_date(int64_t unix_secs, char out[17])
{
    time_t t = (time_t)unix_secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else
 * %XX upper-case; '/' kept when keep_slash. */
static void sigv4_uri_encode(sl_buf *out, const char *s, size_t n, bool keep_slash)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hx[c >> 4]);
            buf_putc(out, hx[c & 15]);
        }
    }
}

/* Percent-decodes s[0..n) into out (reset first); bad escapes are kept as they are. */
static void sigv4_uri_decode(sl_buf *out, const char *s, size_t n)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        int h, l;
        if (s[i] == '%' && i + 2 < n && (h = sl_hexval(s[i + 1])) >= 0 && (l = sl_hexval(s[i + 2])) >= 0) {
            buf_putc(out, (char)(h * 16 + l));
            i += 2;
        } else {
            buf_putc(out, s[i]);
        }
    }
}

/* Canonical URI: dot segments resolved, empty segments dropped, each segment encoded. */
static void sigv4_canonical_path(sl_buf *out, const char *path)
{
    if (!path || !*path)
        path = "/";
    size_t n = strlen(path);
    const char **seg = sl_xmalloc((n + 1) * sizeof *seg);
    size_t *segl = sl_xmalloc((n + 1) * sizeof *segl);
    size_t ns = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t l = (size_t)(e - p);
        if (l == 1 && p[0] == '.') {
        } else if (l == 2 && p[0] == '.' && p[1] == '.') {
            if (ns)
                ns--;
        } else if (l) {
            seg[ns] = p;
            segl[ns++] = l;
        }
        p = e;
    }
    for (size_t i = 0; i < ns; i++) {
        buf_putc(out, '/');
        sigv4_uri_encode(out, seg[i], segl[i], false);
    }
    if (ns == 0 || path[n - 1] == '/')
        buf_putc(out, '/');
    free(seg);
    free(segl);
}

typedef struct sigv4_kv {
    char *k, *v;
    size_t idx;
} sigv4_kv;

static int sigv4_kv_cmp(const void *a, const void *b)
{
    const sigv4_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    if (c)
        return c;
    c = strcmp(x->v, y->v);
    return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* Canonical query: each name and value decoded then encoded, sorted by name then value. */
static void sigv4_canonical_query(sl_buf *out, const char *q)
{
    if (!q || !*q)
        return;
    size_t cap = 1;
    for (const char *p = q; *p; p++)
        cap += *p == '&';
    sigv4_kv *kv = sl_xcalloc(cap, sizeof *kv);
    size_t n = 0;
    sl_buf tmp = SL_BUF_INIT, enc = SL_BUF_INIT;
    for (const char *p = q; *p;) {
        const char *e = strchr(p, '&');
        if (!e)
            e = p + strlen(p);
        if (e > p) {
            const char *eq = memchr(p, '=', (size_t)(e - p));
            const char *ke = eq ? eq : e;
            sigv4_uri_decode(&tmp, p, (size_t)(ke - p));
            buf_reset(&enc);
            sigv4_uri_encode(&enc, tmp.p ? tmp.p : "", tmp.len, false);
            buf_putc(&enc, '\0');
            kv[n].k = sl_xstrdup(enc.p);
            const char *vs = eq ? eq + 1 : e;
            sigv4_uri_decode(&tmp, vs, (size_t)(e - vs));
            buf_reset(&enc);
            sigv4_uri_encode(&enc, tmp.p ? tmp.p : "", tmp.len, false);
            buf_putc(&enc, '\0');
            kv[n].v = sl_xstrdup(enc.p);
            kv[n].idx = n;
            n++;
        }
        p = *e ? e + 1 : e;
    }
    qsort(kv, n, sizeof *kv, sigv4_kv_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, '&');
        buf_puts(out, kv[i].k);
        buf_putc(out, '=');
        buf_puts(out, kv[i].v);
        free(kv[i].k);
        free(kv[i].v);
    }
    free(kv);
    buf_free(&tmp);
    buf_free(&enc);
}

/* Header value as signed: leading/trailing white space trimmed, inner runs collapsed. */
static void sigv4_trim_value(sl_buf *out, const char *v)
{
    bool space = false, any = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r') {
            space = any;
            continue;
        }
        if (space)
            buf_putc(out, ' ');
        space = false;
        any = true;
        buf_putc(out, *v);
    }
}

static int sigv4_kv_cmp_name(const void *a, const void *b)
{
    const sigv4_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

int sigv4_sign(const sigv4_request *req, const sigv4_credentials *cred, const char *region,
               const char *service, const char *amz_date, sl_buf *authz, sl_buf *creq_out,
               sl_buf *sts_out)
{
    if (!amz_date || strlen(amz_date) != 16 || amz_date[8] != 'T')
        return SL_ERR_INVAL;
    sl_buf cr = SL_BUF_INIT, signed_hdrs = SL_BUF_INIT, val = SL_BUF_INIT;
    buf_puts(&cr, req->method ? req->method : "POST");
    buf_putc(&cr, '\n');
    sigv4_canonical_path(&cr, req->path);
    buf_putc(&cr, '\n');
    sigv4_canonical_query(&cr, req->query);
    buf_putc(&cr, '\n');

    /* The session token is signed as X-Amz-Security-Token unless the caller lists it. */
    size_t nh = req->nheaders;
    bool add_token = cred->session_token && *cred->session_token;
    for (size_t i = 0; i < req->nheaders && add_token; i++)
        if (strcasecmp(req->headers[i].name, "X-Amz-Security-Token") == 0)
            add_token = false;
    sigv4_kv *h = sl_xcalloc(nh + 1, sizeof *h);
    if (add_token) {
        h[nh].k = sl_xstrdup("x-amz-security-token");
        h[nh].v = sl_xstrdup(cred->session_token);
        h[nh].idx = nh;
        nh++;
    }
    for (size_t i = 0; i < req->nheaders; i++) {
        h[i].k = sl_xstrdup(req->headers[i].name);
        for (char *c = h[i].k; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        buf_reset(&val);
        sigv4_trim_value(&val, req->headers[i].value ? req->headers[i].value : "");
        buf_putc(&val, '\0');
        h[i].v = sl_xstrdup(val.p);
        h[i].idx = i;
    }
    qsort(h, nh, sizeof *h, sigv4_kv_cmp_name);
    for (size_t i = 0; i < nh; i++) {
        bool dup = i > 0 && strcmp(h[i].k, h[i - 1].k) == 0;
        if (dup) { /* repeated names: one line, values joined with commas in order */
            buf_putc(&cr, ',');
        } else {
            if (i > 0) {
                buf_putc(&cr, '\n');
                buf_putc(&signed_hdrs, ';');
            }
            buf_puts(&cr, h[i].k);
            buf_putc(&cr, ':');
            buf_puts(&signed_hdrs, h[i].k);
        }
        buf_puts(&cr, h[i].v);
    }
    if (nh)
        buf_putc(&cr, '\n');
    buf_putc(&cr, '\n');
    buf_append(&cr, signed_hdrs.p, signed_hdrs.len);
    buf_putc(&cr, '\n');
    char hash[65];
    sigv4_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, hash);
    buf_puts(&cr, hash);

    char date[9];
    memcpy(date, amz_date, 8);
    date[8] = '\0';
    sl_buf sts = SL_BUF_INIT, scope = SL_BUF_INIT;
    buf_printf(&scope, "%s/%s/%s/aws4_request", date, region, service);
    sigv4_sha256_hex(cr.p, cr.len, hash);
    buf_printf(&sts, "AWS4-HMAC-SHA256\n%s\n%.*s\n%s", amz_date, (int)scope.len, scope.p, hash);

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request") */
    sl_buf k0 = SL_BUF_INIT;
    buf_printf(&k0, "AWS4%s", cred->secret_key ? cred->secret_key : "");
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    sigv4_hmac(k0.p, k0.len, date, 8, k1);
    sigv4_hmac(k1, 32, region, strlen(region), k2);
    sigv4_hmac(k2, 32, service, strlen(service), k3);
    sigv4_hmac(k3, 32, "aws4_request", 12, k4);
    sigv4_hmac(k4, 32, sts.p, sts.len, sig);
    char sighex[65];
    sigv4_hex(sig, 32, sighex);
    memset(k0.p, 0, k0.len); /* the secret does not linger on the heap */

    buf_reset(authz);
    buf_printf(authz, "AWS4-HMAC-SHA256 Credential=%s/%.*s, SignedHeaders=%.*s, Signature=%s",
               cred->access_key ? cred->access_key : "", (int)scope.len, scope.p,
               (int)signed_hdrs.len, signed_hdrs.p ? signed_hdrs.p : "", sighex);
    if (creq_out) {
        buf_reset(creq_out);
        buf_append(creq_out, cr.p, cr.len);
    }
    if (sts_out) {
        buf_reset(sts_out);
        buf_append(sts_out, sts.p, sts.len);
    }
    for (size_t i = 0; i < nh; i++) {
        free(h[i].k);
        free(h[i].v);
    }
    free(h);
    buf_free(&cr);
    buf_free(&signed_hdrs);
    buf_free(&val);
    buf_free(&sts);
    buf_free(&scope);
    buf_free(&k0);
    return SL_OK;
}
