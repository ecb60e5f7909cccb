/* cwl_api.c - CloudWatch Logs calls for the cloudwatch_logs source: credential providers,
 * SigV4-signed JSON 1.1 requests, error classification and response parsing (fuzzed). */
#include "sources/cloudwatch/cwl.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/common.h"
#include "formats/json.h"
#include "formats/utf8.h"
#include "net/sigv4.h"
#include "net/url.h"

/* ---- Credentials ----------------------------------------------------------------- */

static void cwl_copy(char *dst, size_t n, const char *s, size_t len)
{
    len = SL_MIN(len, n - 1);
    memcpy(dst, s, len);
    dst[len] = '\0';
}

bool cwl_creds_stale(const cwl_creds *c, int64_t now_ms)
{
    return c->expires_ms && now_ms + 5 * 60 * 1000 >= c->expires_ms;
}

/* "2026-11-21T06:00:00Z" -> ms since the epoch; 0 when unparseable. */
static int64_t cwl_parse_iso8601(const char *s, size_t len)
{
    char tmp[64];
    cwl_copy(tmp, sizeof tmp, s, len);
    struct tm tm = {0};
    const char *e = strptime(tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!e)
        return 0;
    return (int64_t)timegm(&tm) * 1000;
}

static int cwl_creds_env(cwl_creds *c)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ak || !*ak || !sk || !*sk)
        return SL_ERR_NOTFOUND;
    const char *tok = getenv("AWS_SESSION_TOKEN");
    cwl_copy(c->access_key, sizeof c->access_key, ak, strlen(ak));
    cwl_copy(c->secret_key, sizeof c->secret_key, sk, strlen(sk));
    cwl_copy(c->token, sizeof c->token, tok ? tok : "", tok ? strlen(tok) : 0);
    c->expires_ms = 0;
    c->from = "env";
    return SL_OK;
}

static char *cwl_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static int cwl_creds_file(cwl_creds *c, const char *profile, const char *file)
{
    char path[1024];
    if (!file || !*file)
        file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    if (!file || !*file) {
        const char *home = getenv("HOME");
        if (!home)
            return SL_ERR_NOTFOUND;
        snprintf(path, sizeof path, "%s/.aws/credentials", home);
        file = path;
    }
    if (!profile || !*profile)
        profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    FILE *f = fopen(file, "r");
    if (!f)
        return SL_ERR_NOTFOUND;
    char line[4096];
    bool in = false;
    cwl_creds t = {0};
    while (fgets(line, sizeof line, f)) {
        char *l = cwl_trim(line);
        if (*l == '#' || *l == ';' || !*l)
            continue;
        if (*l == '[') {
            char *e = strchr(l, ']');
            if (e)
                *e = '\0';
            char *name = cwl_trim(l + 1);
            if (strncmp(name, "profile ", 8) == 0) /* the config file's spelling */
                name = cwl_trim(name + 8);
            in = strcmp(name, profile) == 0;
            continue;
        }
        char *eq = strchr(l, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        char *k = cwl_trim(l), *v = cwl_trim(eq + 1);
        if (strcmp(k, "aws_access_key_id") == 0)
            cwl_copy(t.access_key, sizeof t.access_key, v, strlen(v));
        else if (strcmp(k, "aws_secret_access_key") == 0)
            cwl_copy(t.secret_key, sizeof t.secret_key, v, strlen(v));
        else if (strcmp(k, "aws_session_token") == 0)
            cwl_copy(t.token, sizeof t.token, v, strlen(v));
    }
    fclose(f);
    if (!t.access_key[0] || !t.secret_key[0])
        return SL_ERR_NOTFOUND;
    t.from = "file";
    *c = t;
    return SL_OK;
}

/* {"AccessKeyId","SecretAccessKey","Token","Expiration"}: the ECS and IMDS answer. */
static int cwl_creds_json(cwl_creds *c, const char *body, size_t len, const char *from)
{
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    json_value *v = json_parse(&a, body, len, err, sizeof err);
    const json_value *ak = v ? json_get(v, "AccessKeyId") : NULL;
    const json_value *sk = v ? json_get(v, "SecretAccessKey") : NULL;
    const json_value *tk = v ? json_get(v, "Token") : NULL;
    const json_value *ex = v ? json_get(v, "Expiration") : NULL;
    int rc = SL_ERR_CORRUPT;
    if (ak && ak->type == JSON_STR && sk && sk->type == JSON_STR) {
        cwl_copy(c->access_key, sizeof c->access_key, ak->str, ak->len);
        cwl_copy(c->secret_key, sizeof c->secret_key, sk->str, sk->len);
        if (tk && tk->type == JSON_STR)
            cwl_copy(c->token, sizeof c->token, tk->str, tk->len);
        else
            c->token[0] = '\0';
        c->expires_ms = ex && ex->type == JSON_STR ? cwl_parse_iso8601(ex->str, ex->len) : 0;
        c->from = from;
        rc = SL_OK;
    }
    arena_free(&a);
    return rc;
}

static int cwl_http_get(http_client *hc, const char *method, const char *url,
                        const char *const *hdrs, size_t nh, int64_t timeout_ms, http_response *r)
{
    http_request q = {.method = method, .url = url, .headers = hdrs, .nheaders = nh,
                      .timeout_ms = timeout_ms};
    if (http_client_do(hc, &q, r) != SL_OK || r->status != 200)
        return SL_ERR_IO;
    return SL_OK;
}

/* The token of a file the kubelet writes (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE for EKS
 * Pod Identity, AWS_WEB_IDENTITY_TOKEN_FILE for IRSA), read at every load since it
 * rotates, without its trailing line break, into tok. */
static int cwl_ecs_token_file(const char *path, char *tok, size_t toklen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return SL_ERR_IO;
    size_t n = fread(tok, 1, toklen - 1, f);
    fclose(f);
    while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
        n--;
    tok[n] = '\0';
    return n && !strpbrk(tok, "\r\n") ? SL_OK : SL_ERR_CORRUPT;
}

static int cwl_creds_ecs(cwl_creds *c, http_client *hc)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *tok = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    const char *tokfile = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    char url[1024], auth[4200], ftok[4096];
    if (rel && *rel)
        snprintf(url, sizeof url, "http://169.254.170.2%s", rel);
    else if (full && *full)
        snprintf(url, sizeof url, "%s", full);
    else
        return SL_ERR_NOTFOUND;
    /* the file wins over the variable, as in the AWS SDKs */
    if (tokfile && *tokfile) {
        if (cwl_ecs_token_file(tokfile, ftok, sizeof ftok) != SL_OK)
            return SL_ERR_IO;
        tok = ftok;
    }
    const char *h[1];
    size_t nh = 0;
    if (tok && *tok) {
        snprintf(auth, sizeof auth, "Authorization: %s", tok);
        h[nh++] = auth;
    }
    http_response r = {0};
    int rc = cwl_http_get(hc, "GET", url, h, nh, 2000, &r);
    if (rc == SL_OK)
        rc = cwl_creds_json(c, r.body.p, r.body.len, "ecs");
    buf_free(&r.body);
    return rc;
}

static int cwl_creds_imds(cwl_creds *c, http_client *hc)
{
    const char *dis = getenv("AWS_EC2_METADATA_DISABLED");
    if (dis && strcasecmp(dis, "true") == 0)
        return SL_ERR_NOTFOUND;
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!ep || !*ep)
        ep = "http://169.254.169.254";
    size_t el = strlen(ep);
    while (el && ep[el - 1] == '/')
        el--;
    char url[1024], hdr[512];
    http_response r = {0};
    int rc = SL_ERR_IO;
    /* IMDSv2: a session token first (PUT), then the role name, then its credentials. */
    snprintf(url, sizeof url, "%.*s/latest/api/token", (int)el, ep);
    const char *th[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600"};
    if (cwl_http_get(hc, "PUT", url, th, 1, 1000, &r) != SL_OK || r.body.len == 0 ||
        r.body.len > 400)
        goto out;
    snprintf(hdr, sizeof hdr, "X-aws-ec2-metadata-token: %.*s", (int)r.body.len, r.body.p);
    const char *gh[] = {hdr};
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/", (int)el, ep);
    if (cwl_http_get(hc, "GET", url, gh, 1, 1000, &r) != SL_OK || r.body.len == 0)
        goto out;
    size_t rl = 0;
    while (rl < r.body.len && rl < 200 && r.body.p[rl] != '\n' && r.body.p[rl] != '\r')
        rl++;
    char role[256];
    cwl_copy(role, sizeof role, r.body.p, rl);
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int)el, ep,
             role);
    if (cwl_http_get(hc, "GET", url, gh, 1, 1000, &r) != SL_OK)
        goto out;
    rc = cwl_creds_json(c, r.body.p, r.body.len, "imds");
out:
    buf_free(&r.body);
    return rc;
}

/* ---- STS web identity -------------------------------------------------------------- */

/* Appends n bytes to out[*k], or notes the overflow: a cut token would only be refused. */
static void cwl_xml_put(char *out, size_t outlen, size_t *k, bool *full, const char *s,
                        size_t n)
{
    if (*k + n >= outlen) {
        *full = true;
        return;
    }
    memcpy(out + *k, s, n);
    *k += n;
}

/* Decodes text[0..n) (the five XML entities and character references) into out. */
static int cwl_xml_text(const char *s, size_t n, char *out, size_t outlen, size_t *k,
                        bool *full)
{
    static const struct {
        const char *name;
        char ch;
    } ents[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    for (size_t i = 0; i < n;) {
        if (s[i] != '&') {
            size_t j = i;
            while (j < n && s[j] != '&')
                j++;
            cwl_xml_put(out, outlen, k, full, s + i, j - i);
            i = j;
            continue;
        }
        const char *semi = memchr(s + i, ';', SL_MIN(n - i, (size_t)12));
        if (!semi)
            return SL_ERR_CORRUPT;
        const char *name = s + i + 1;
        size_t nl = (size_t)(semi - name);
        i = (size_t)(semi - s) + 1;
        if (nl >= 2 && name[0] == '#') {
            bool hex = name[1] == 'x';
            unsigned long cp = 0;
            size_t d = hex ? 2 : 1;
            if (d >= nl)
                return SL_ERR_CORRUPT;
            for (; d < nl; d++) {
                int v = hex ? sl_hexval((unsigned char)name[d])
                            : (isdigit((unsigned char)name[d]) ? name[d] - '0' : -1);
                if (v < 0 || cp > 0x10FFFF)
                    return SL_ERR_CORRUPT;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            }
            if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return SL_ERR_CORRUPT;
            char u[4];
            size_t ul = utf8_put(u, cp);
            cwl_xml_put(out, outlen, k, full, u, ul);
            continue;
        }
        size_t e = 0;
        while (e < SL_ARRAY_LEN(ents) &&
               !(strlen(ents[e].name) == nl && memcmp(ents[e].name, name, nl) == 0))
            e++;
        if (e == SL_ARRAY_LEN(ents))
            return SL_ERR_CORRUPT;
        cwl_xml_put(out, outlen, k, full, &ents[e].ch, 1);
    }
    return SL_OK;
}

/* Skips from p to just after the terminator `end`; NULL when it never comes. */
static const char *cwl_xml_skip(const char *p, const char *e, const char *end)
{
    size_t n = strlen(end);
    const char *f = (size_t)(e - p) >= n ? memmem(p, (size_t)(e - p), end, n) : NULL;
    return f ? f + n : NULL;
}

#define CWL_XML_DEPTH 32
#define CWL_XML_PATH 8

int cwl_xml_find(const char *xml, size_t len, const char *path, char *out, size_t outlen)
{
    /* the path's names, matched against the innermost open elements (local names: a
     * namespace prefix is ignored) */
    const char *pn[CWL_XML_PATH];
    size_t pl[CWL_XML_PATH], np = 0;
    for (const char *s = path; *s && np < CWL_XML_PATH;) {
        size_t n = strcspn(s, "/");
        pn[np] = s;
        pl[np++] = n;
        s += n + (s[n] == '/');
    }
    if (!np || !outlen)
        return SL_ERR_CORRUPT;
    out[0] = '\0';
    const char *sn[CWL_XML_DEPTH];
    size_t sl[CWL_XML_DEPTH], depth = 0, k = 0;
    int in = -1; /* the depth of the matched element while inside it */
    bool full = false, done = false;
    const char *p = xml, *e = xml + len;
    while (p < e) {
        if (*p != '<') {
            const char *t = memchr(p, '<', (size_t)(e - p));
            if (!t)
                t = e;
            if (in >= 0 && cwl_xml_text(p, (size_t)(t - p), out, outlen, &k, &full) != SL_OK)
                return SL_ERR_CORRUPT;
            p = t;
            continue;
        }
        size_t rest = (size_t)(e - p);
        if (rest >= 4 && memcmp(p, "<!--", 4) == 0) {
            p = cwl_xml_skip(p + 4, e, "-->");
        } else if (rest >= 9 && memcmp(p, "<![CDATA[", 9) == 0) {
            const char *t = cwl_xml_skip(p + 9, e, "]]>");
            if (t && in >= 0)
                cwl_xml_put(out, outlen, &k, &full, p + 9, (size_t)(t - 3 - (p + 9)));
            p = t;
        } else if (rest >= 2 && p[1] == '?') {
            p = cwl_xml_skip(p + 2, e, "?>");
        } else if (rest >= 2 && p[1] == '!') {
            p = cwl_xml_skip(p + 2, e, ">");
        } else {
            bool close = rest >= 2 && p[1] == '/';
            const char *n = p + 1 + close, *ne = n;
            while (ne < e && !isspace((unsigned char)*ne) && *ne != '>' && *ne != '/')
                ne++;
            const char *colon = memchr(n, ':', (size_t)(ne - n));
            if (colon)
                n = colon + 1;
            if (ne == n)
                return SL_ERR_CORRUPT;
            /* to the end of the tag, over quoted attribute values */
            const char *t = ne;
            char q = 0;
            while (t < e && (q || *t != '>')) {
                if (q && *t == q)
                    q = 0;
                else if (!q && (*t == '"' || *t == '\''))
                    q = *t;
                t++;
            }
            if (t == e)
                return SL_ERR_CORRUPT;
            bool empty = !close && t[-1] == '/';
            p = t + 1;
            if (close) {
                if (!depth || sl[depth - 1] != (size_t)(ne - n) ||
                    memcmp(sn[depth - 1], n, sl[depth - 1]) != 0)
                    return SL_ERR_CORRUPT;
                if (in == (int)depth) {
                    done = true;
                    break;
                }
                depth--;
                continue;
            }
            if (depth == CWL_XML_DEPTH)
                return SL_ERR_CORRUPT;
            sn[depth] = n;
            sl[depth++] = (size_t)(ne - n);
            if (in < 0 && depth >= np) {
                size_t i = 0;
                while (i < np && pl[i] == sl[depth - np + i] &&
                       memcmp(pn[i], sn[depth - np + i], pl[i]) == 0)
                    i++;
                if (i == np)
                    in = (int)depth;
            }
            if (empty) {
                if (in == (int)depth) {
                    done = true;
                    break;
                }
                depth--;
            }
        }
        if (!p)
            return SL_ERR_CORRUPT;
    }
    if (in < 0)
        return SL_ERR_NOTFOUND;
    out[SL_MIN(k, outlen - 1)] = '\0';
    /* an element cut off by the end of the answer, or longer than out, is no value */
    return done && !full ? SL_OK : SL_ERR_CORRUPT;
}

int cwl_sts_creds(cwl_creds *c, const char *xml, size_t len)
{
    static const char base[] = "AssumeRoleWithWebIdentityResult/Credentials/";
    char path[96], exp[64];
    cwl_creds t = {0};
    snprintf(path, sizeof path, "%sAccessKeyId", base);
    if (cwl_xml_find(xml, len, path, t.access_key, sizeof t.access_key) != SL_OK)
        return SL_ERR_CORRUPT;
    snprintf(path, sizeof path, "%sSecretAccessKey", base);
    if (cwl_xml_find(xml, len, path, t.secret_key, sizeof t.secret_key) != SL_OK)
        return SL_ERR_CORRUPT;
    snprintf(path, sizeof path, "%sSessionToken", base);
    if (cwl_xml_find(xml, len, path, t.token, sizeof t.token) != SL_OK)
        return SL_ERR_CORRUPT;
    snprintf(path, sizeof path, "%sExpiration", base);
    if (cwl_xml_find(xml, len, path, exp, sizeof exp) != SL_OK)
        return SL_ERR_CORRUPT;
    t.expires_ms = cwl_parse_iso8601(exp, strlen(exp));
    /* temporary credentials without a usable expiry would never be refreshed */
    if (!t.access_key[0] || !t.secret_key[0] || !t.token[0] || !t.expires_ms)
        return SL_ERR_CORRUPT;
    t.from = "web_identity";
    *c = t;
    return SL_OK;
}

/* The STS endpoint: AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL (the SDKs' overrides),
 * else the regional one (the SDKs' default; the global one is only for no region). */
static void cwl_sts_url(char *url, size_t n, const char *region)
{
    const char *ep = getenv("AWS_ENDPOINT_URL_STS");
    if (!ep || !*ep)
        ep = getenv("AWS_ENDPOINT_URL");
    if (ep && *ep) {
        snprintf(url, n, "%s", ep);
        return;
    }
    if (!region || !*region)
        region = getenv("AWS_REGION");
    if (!region || !*region)
        region = getenv("AWS_DEFAULT_REGION");
    if (!region || !*region)
        snprintf(url, n, "https://sts.amazonaws.com");
    else
        snprintf(url, n, "https://sts.%s.amazonaws.com%s", region,
                 strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
}

#define CWL_WEB_TOKEN_MAX 16384

/* IRSA: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, exchanged with STS
 * AssumeRoleWithWebIdentity (unsigned: the token is the proof) for temporary credentials.
 * The file is read at every load since the kubelet rotates it. */
static int cwl_creds_web_identity(cwl_creds *c, http_client *hc, const char *region,
                                  char *err, size_t errlen)
{
    const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE"), *role = getenv("AWS_ROLE_ARN");
    if (!file || !*file || !role || !*role)
        return SL_ERR_NOTFOUND;
    const char *name = getenv("AWS_ROLE_SESSION_NAME");
    char gen[48], url[1024];
    if (!name || !*name) {
        snprintf(gen, sizeof gen, "sluice-%lld", (long long)time(NULL));
        name = gen;
    }
    char *tok = sl_xmalloc(CWL_WEB_TOKEN_MAX);
    if (cwl_ecs_token_file(file, tok, CWL_WEB_TOKEN_MAX) != SL_OK) {
        free(tok);
        return sl_seterr(err, errlen, SL_ERR_IO,
                         "web identity: token file %s unreadable, empty or not one line", file);
    }
    if (!hc) {
        free(tok);
        return sl_seterr(err, errlen, SL_ERR_IO, "web identity: no HTTP client");
    }
    sl_buf body = SL_BUF_INIT;
    url_query_add(&body, "Action", "AssumeRoleWithWebIdentity");
    url_query_add(&body, "Version", "2011-06-15");
    url_query_add(&body, "RoleArn", role);
    url_query_add(&body, "RoleSessionName", name);
    url_query_add(&body, "WebIdentityToken", tok);
    memset(tok, 0, CWL_WEB_TOKEN_MAX);
    free(tok);
    cwl_sts_url(url, sizeof url, region);
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                       "Expect:"};
    http_request q = {.method = "POST", .url = url, .headers = h, .nheaders = SL_ARRAY_LEN(h),
                      .body = body.p, .body_len = body.len, .timeout_ms = 10000};
    http_response r = {0};
    int rc = http_client_do(hc, &q, &r);
    memset(body.p, 0, body.len); /* it holds the token */
    buf_free(&body);
    if (rc != SL_OK || r.status == 0) {
        rc = sl_seterr(err, errlen, SL_ERR_IO, "web identity: STS %s: %s", url, r.error);
    } else if (r.status != 200) {
        char code[128], msg[512];
        if (cwl_xml_find(r.body.p, r.body.len, "Error/Code", code, sizeof code) != SL_OK)
            snprintf(code, sizeof code, "?");
        if (cwl_xml_find(r.body.p, r.body.len, "Error/Message", msg, sizeof msg) != SL_OK)
            msg[0] = '\0';
        /* code and message first: a sink's retry reason may cut the end */
        rc = sl_seterr(err, errlen, SL_ERR_IO, "web identity: STS: %s: %s (http %ld, role %s)",
                       code, msg, r.status, role);
    } else {
        rc = cwl_sts_creds(c, r.body.p, r.body.len);
        if (rc != SL_OK)
            sl_seterr(err, errlen, rc, "web identity: STS answer without credentials");
    }
    buf_free(&r.body);
    return rc;
}

int cwl_creds_load(cwl_creds *c, http_client *hc, const char *region, const char *profile,
                   const char *file, char *err, size_t errlen)
{
    if (cwl_creds_env(c) == SL_OK)
        return SL_OK;
    /* Configured web identity is the pod's role: when STS refuses it, falling through to
     * the node's role (IMDS) would act as someone else, so its error is the answer. */
    int rc = cwl_creds_web_identity(c, hc, region, err, errlen);
    if (rc != SL_ERR_NOTFOUND)
        return rc;
    if (cwl_creds_file(c, profile, file) == SL_OK || (hc && cwl_creds_ecs(c, hc) == SL_OK) ||
        (hc && cwl_creds_imds(c, hc) == SL_OK))
        return SL_OK;
    return sl_seterr(err, errlen, SL_ERR_NOTFOUND,
                     "no AWS credentials: tried AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, web "
                     "identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN), the shared "
                     "credentials file (profile %s), the container endpoint (ECS, EKS Pod "
                     "Identity) and IMDSv2",
                     profile && *profile ? profile : "default");
}

/* ---- Calls ----------------------------------------------------------------------- */

void cwl_client_init(cwl_client *c, http_client *hc, const char *endpoint, const char *region,
                     int64_t timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->hc = hc;
    c->region = region;
    c->timeout_ms = timeout_ms;
    if (!endpoint || !*endpoint) {
        char defurl[256];
        snprintf(defurl, sizeof defurl, "https://logs.%s.amazonaws.com", region);
        c->owned_url = sl_xstrdup(defurl);
        endpoint = c->owned_url;
    }
    c->url = endpoint;
    const char *h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    size_t n = strcspn(h, "/?");
    cwl_copy(c->host, sizeof c->host, h, n);
}

void cwl_client_free(cwl_client *c)
{
    free(c->owned_url);
    buf_free(&c->authz);
    memset(&c->creds, 0, sizeof c->creds);
}

cwl_status cwl_classify(long status, const char *body, size_t len, char *etype, size_t etypelen)
{
    if (etypelen)
        etype[0] = '\0';
    if (status == 200)
        return CWL_OK;
    /* The error type, as the AWS JSON protocol allows it: "ThrottlingException",
     * "namespace#ThrottlingException", or either followed by ":<url>" (clients cut at the
     * first ':' and then after the '#', as the SDKs' SanitizeErrorCode does). */
    const char *t = body ? memmem(body, len, "\"__type\"", 8) : NULL;
    if (t && etypelen) {
        const char *e = body + len;
        t += 8;
        while (t < e && (*t == ' ' || *t == ':'))
            t++;
        if (t < e && *t == '"') {
            const char *s = ++t;
            while (t < e && *t != '"')
                t++;
            const char *colon = memchr(s, ':', (size_t)(t - s));
            if (colon)
                t = colon;
            const char *hash = memchr(s, '#', (size_t)(t - s));
            if (hash)
                s = hash + 1;
            cwl_copy(etype, etypelen, s, (size_t)(t - s));
        }
    }
    if (status == 429 || (etypelen && (strcmp(etype, "ThrottlingException") == 0 ||
                                       strcmp(etype, "LimitExceededException") == 0 ||
                                       strcmp(etype, "TooManyRequestsException") == 0 ||
                                       strcmp(etype, "RequestLimitExceeded") == 0)))
        return CWL_THROTTLED;
    if (status == 0 || status >= 500)
        return CWL_RETRY;
    if (etypelen && (strcmp(etype, "ExpiredTokenException") == 0 ||
                     strcmp(etype, "ExpiredToken") == 0 ||
                     strcmp(etype, "InvalidSignatureException") == 0 ||
                     strcmp(etype, "UnrecognizedClientException") == 0 ||
                     strcmp(etype, "IncompleteSignatureException") == 0))
        return CWL_AUTH;
    return CWL_FAILED;
}

cwl_status cwl_call(cwl_client *c, const char *action, const char *body, size_t len,
                    http_response *resp, char *etype, size_t etypelen, char *err, size_t errlen)
{
    char date[17], target[96], hdr_date[48], hdr_target[128], hdr_host[300];
    sigv4_format_date(sl_now_ns() / 1000000000, date);
    snprintf(target, sizeof target, "Logs_20140328.%s", action);
    sigv4_header sh[] = {{"Content-Type", "application/x-amz-json-1.1"},
                         {"Host", c->host},
                         {"X-Amz-Date", date},
                         {"X-Amz-Target", target}};
    sigv4_request rq = {"POST", "/", NULL, sh, SL_ARRAY_LEN(sh), body, len};
    sigv4_credentials cr = {c->creds.access_key, c->creds.secret_key, c->creds.token};
    sigv4_sign(&rq, &cr, c->region, "logs", date, &c->authz, NULL, NULL);
    buf_putc(&c->authz, '\0');
    snprintf(hdr_date, sizeof hdr_date, "X-Amz-Date: %s", date);
    snprintf(hdr_target, sizeof hdr_target, "X-Amz-Target: %s", target);
    snprintf(hdr_host, sizeof hdr_host, "Host: %s", c->host);
    sl_buf tokh = SL_BUF_INIT, authh = SL_BUF_INIT;
    buf_printf(&authh, "Authorization: %s", c->authz.p);
    buf_putc(&authh, '\0'); /* buf_printf does not always terminate */
    const char *hdrs[7] = {"Content-Type: application/x-amz-json-1.1", hdr_host, hdr_date,
                           hdr_target, authh.p, "Expect:", NULL};
    size_t nh = 6;
    if (c->creds.token[0]) {
        buf_printf(&tokh, "X-Amz-Security-Token: %s", c->creds.token);
        buf_putc(&tokh, '\0');
        hdrs[nh++] = tokh.p;
    }
    http_request q = {.method = "POST", .url = c->url, .headers = hdrs, .nheaders = nh,
                      .body = body, .body_len = len, .timeout_ms = c->timeout_ms};
    c->requests++;
    int rc = http_client_do(c->hc, &q, resp);
    buf_free(&tokh);
    buf_free(&authh);
    if (rc != SL_OK) {
        if (etypelen)
            etype[0] = '\0';
        sl_seterr(err, errlen, rc, "%s: %s", action, resp->error);
        return CWL_RETRY;
    }
    cwl_status st = cwl_classify(resp->status, resp->body.p, resp->body.len, etype, etypelen);
    if (st != CWL_OK)
        sl_seterr(err, errlen, SL_ERR_IO, "%s: HTTP %ld %s", action, resp->status,
                  etypelen && etype[0] ? etype : "");
    return st;
}

/* ---- Parsing ----------------------------------------------------------------------- */

size_t cwl_slug(const char *group, char *out, size_t outlen)
{
    size_t n = 0;
    bool dash = false;
    for (const char *p = group; *p && n + 1 < outlen; p++) {
        unsigned char ch = (unsigned char)*p;
        if (isalnum(ch) || ch == '_' || ch == '.') {
            if (dash && n > 0 && n + 2 < outlen)
                out[n++] = '-';
            dash = false;
            out[n++] = (char)tolower(ch);
        } else {
            dash = true;
        }
    }
    out[n] = '\0';
    return n;
}

static char *cwl_token(const json_value *root)
{
    const json_value *t = json_get(root, "nextToken");
    if (t && t->type == JSON_STR && t->len)
        return sl_xstrdup(t->str);
    return NULL;
}

/* Top-level members of a JSON message become fields (skipping the event's own names). */
static void cwl_json_fields(sl_batch *b, sl_event *e, const json_value *o)
{
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        size_t kl = strlen(k);
        const json_value *v = o->items[i];
        if (kl == 0 || strcmp(k, "message") == 0 || strcmp(k, "@timestamp") == 0 ||
            strncmp(k, "cloudwatch.", 11) == 0 || strcmp(k, "cloudwatch") == 0)
            continue;
        json_value_to_field(b, event_add_field(b, e, k, kl), v, true);
    }
}

/* An event the source can emit: numeric timestamp in range, string message, eventId. */
static bool cwl_event_ok(const json_value *ev)
{
    if (ev->type != JSON_OBJ)
        return false;
    const json_value *ts = json_get(ev, "timestamp"), *msg = json_get(ev, "message");
    const json_value *id = json_get(ev, "eventId");
    return ts && ts->type == JSON_NUM && msg && msg->type == JSON_STR && id &&
           id->type == JSON_STR && id->len != 0 && ts->num > -1e15 && ts->num < 1e15;
}

/* Parses an answer (into tmp, reset first) whose part of interest is the array `member`
 * (absent means empty). Returns the root object with *list set to the array or NULL, or
 * NULL with a message naming `action` in err. */
static const json_value *cwl_answer(const char *body, size_t len, sl_arena *tmp,
                                    const char *action, const char *member,
                                    const json_value **list, char *err, size_t errlen)
{
    arena_reset(tmp);
    json_value *root = json_parse(tmp, body, len, err, errlen);
    if (!root)
        return NULL;
    *list = json_get(root, member);
    if (root->type != JSON_OBJ || (*list && (*list)->type != JSON_ARR)) {
        sl_seterr(err, errlen, SL_ERR_CORRUPT, "%s: unexpected shape", action);
        return NULL;
    }
    return root;
}

int cwl_parse_count(const char *body, size_t len, sl_arena *tmp, uint64_t *n, char **next_token,
                    char *err, size_t errlen)
{
    *n = 0;
    *next_token = NULL;
    const json_value *evs;
    const json_value *root = cwl_answer(body, len, tmp, "FilterLogEvents", "events", &evs, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    for (size_t i = 0; evs && i < evs->n; i++)
        *n += cwl_event_ok(evs->items[i]);
    *next_token = cwl_token(root);
    return SL_OK;
}

int cwl_parse_es_count(const char *body, size_t len, sl_arena *tmp, uint64_t *n, char *err,
                       size_t errlen)
{
    *n = 0;
    arena_reset(tmp);
    json_value *root = json_parse(tmp, body, len, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    const json_value *c = root->type == JSON_OBJ ? json_get(root, "count") : NULL;
    if (!c || c->type != JSON_NUM || !(c->num >= 0 && c->num < 1e18))
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "_count: no count in the answer");
    *n = (uint64_t)c->num;
    return SL_OK;
}

int cwl_parse_es_newest(const char *body, size_t len, sl_arena *tmp, bool *found,
                        int64_t *ms, char *err, size_t errlen)
{
    *found = false;
    *ms = 0;
    arena_reset(tmp);
    json_value *root = json_parse(tmp, body, len, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    const json_value *v = json_get_path(root, "aggregations", "newest", "value", NULL);
    if (!v || (v->type != JSON_NULL && v->type != JSON_NUM))
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "_search: no aggregations.newest.value");
    if (v->type == JSON_NULL) /* no document of the group */
        return SL_OK;
    if (!(v->num >= 0 && v->num < 1e15)) /* epoch ms, before the year 33658 */
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "_search: newest @timestamp %g out of range",
                         v->num);
    *found = true;
    *ms = (int64_t)v->num;
    return SL_OK;
}

int cwl_parse_filter(const char *body, size_t len, sl_batch *b, const cwl_group_strs *g,
                     bool parse_json, sl_arena *tmp, cwl_page *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_value *evs;
    const json_value *root = cwl_answer(body, len, tmp, "FilterLogEvents", "events", &evs, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    for (size_t i = 0; evs && i < evs->n; i++) {
        const json_value *ev = evs->items[i];
        const json_value *ts = ev->type == JSON_OBJ ? json_get(ev, "timestamp") : NULL;
        const json_value *msg = ev->type == JSON_OBJ ? json_get(ev, "message") : NULL;
        const json_value *id = ev->type == JSON_OBJ ? json_get(ev, "eventId") : NULL;
        const json_value *st = ev->type == JSON_OBJ ? json_get(ev, "logStreamName") : NULL;
        const json_value *it = ev->type == JSON_OBJ ? json_get(ev, "ingestionTime") : NULL;
        if (!cwl_event_ok(ev)) {
            out->skipped++;
            continue;
        }
        sl_event *e = batch_add(b);
        e->ts_ns = (int64_t)ts->num * 1000000;
        e->message = batch_str(b, msg->str, msg->len);
        e->id_str = batch_str(b, id->str, id->len);
        if (parse_json) {
            const char *p = msg->str;
            size_t n = msg->len;
            while (n && isspace((unsigned char)*p)) {
                p++;
                n--;
            }
            if (n && *p == '{') {
                char jerr[64];
                json_value *o = json_parse(tmp, p, n, jerr, sizeof jerr);
                if (o && o->type == JSON_OBJ)
                    cwl_json_fields(b, e, o);
            }
        }
        sl_field *f = event_push_field(b, e, SL_STR("cloudwatch.log_group"));
        f->type = SL_VAL_STR;
        f->v.s = g->group;
        f = event_push_field(b, e, SL_STR("cloudwatch.log_group_slug"));
        f->type = SL_VAL_STR;
        f->v.s = g->slug;
        if (st && st->type == JSON_STR) {
            f = event_push_field(b, e, SL_STR("cloudwatch.log_stream"));
            f->type = SL_VAL_STR;
            f->v.s = batch_str(b, st->str, st->len);
        }
        f = event_push_field(b, e, SL_STR("cloudwatch.event_id"));
        f->type = SL_VAL_STR;
        f->v.s = e->id_str;
        if (it && it->type == JSON_NUM && it->num > -1e15 && it->num < 1e15) {
            f = event_push_field(b, e, SL_STR("cloudwatch.ingestion_time"));
            f->type = SL_VAL_INT;
            f->v.i = (int64_t)it->num;
        }
        b->bytes += event_size(e);
        out->n++;
    }
    out->next_token = cwl_token(root);
    return SL_OK;
}

int cwl_parse_groups(const char *body, size_t len, sl_arena *tmp,
                     void (*fn)(void *arg, const char *name, int64_t retention_days),
                     void *arg, char **next_token, char *err, size_t errlen)
{
    *next_token = NULL;
    const json_value *gs;
    const json_value *root = cwl_answer(body, len, tmp, "DescribeLogGroups", "logGroups", &gs, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    for (size_t i = 0; gs && i < gs->n; i++) {
        const json_value *n = gs->items[i]->type == JSON_OBJ ? json_get(gs->items[i], "logGroupName") : NULL;
        if (!n || n->type != JSON_STR || !n->len || n->len >= 512 || memchr(n->str, 0, n->len))
            continue;
        /* absent (or not a day count the API allows): the events never expire */
        const json_value *r = json_get(gs->items[i], "retentionInDays");
        int64_t days = r && r->type == JSON_NUM && r->num >= 1 && r->num <= 36500
                           ? (int64_t)r->num
                           : 0;
        fn(arg, n->str, days);
    }
    *next_token = cwl_token(root);
    return SL_OK;
}

static int64_t cwl_num_ms(const json_value *o, const char *key)
{
    const json_value *v = json_get(o, key);
    return v && v->type == JSON_NUM && v->num > 0 && v->num < 1e15 ? (int64_t)v->num : 0;
}

int cwl_parse_streams(const char *body, size_t len, sl_arena *tmp,
                      void (*fn)(void *arg, const cwl_stream_info *si), void *arg,
                      char **next_token, char *err, size_t errlen)
{
    *next_token = NULL;
    const json_value *ss;
    const json_value *root = cwl_answer(body, len, tmp, "DescribeLogStreams", "logStreams", &ss, err, errlen);
    if (!root)
        return SL_ERR_CORRUPT;
    for (size_t i = 0; ss && i < ss->n; i++) {
        const json_value *o = ss->items[i];
        const json_value *n = o->type == JSON_OBJ ? json_get(o, "logStreamName") : NULL;
        if (!n || n->type != JSON_STR || !n->len || n->len > 512 || memchr(n->str, 0, n->len))
            continue;
        cwl_stream_info si = {n->str, cwl_num_ms(o, "lastEventTimestamp"),
                              cwl_num_ms(o, "lastIngestionTime")};
        fn(arg, &si);
    }
    *next_token = cwl_token(root);
    return SL_OK;
}
