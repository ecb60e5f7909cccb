/* url.c - endpoint URLs split into origin, path prefix and query; request URLs built from
 * them; RFC 3986 percent-encoding. See url.h. */
#include "url.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/common.h"

static char *dup_n(const char *s, size_t n)
{
    char *d = sl_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* The host and port of [user:password@]host[:port]: a port the request could never use
 * (99999, 0, letters) is a config error now, not a retry loop at the first delivery. */
static int check_authority(const char *url, const char *auth, size_t alen, char *err,
                           size_t errlen)
{
    const char *h = auth, *end = auth + alen;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            h = p + 1;
    const char *colon = NULL;
    if (h < end && *h == '[') {
        const char *rb = memchr(h, ']', (size_t)(end - h));
        if (!rb || rb == h + 1 || (rb + 1 < end && rb[1] != ':'))
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "\"%s\": want [ipv6] or [ipv6]:port as the host", url);
        colon = rb + 1 < end ? rb + 1 : NULL;
    } else {
        colon = memchr(h, ':', (size_t)(end - h));
        if (colon == h || h == end)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "\"%s\": no host", url);
    }
    if (!colon || colon + 1 == end)
        return SL_OK; /* the scheme's port */
    long port = 0;
    for (const char *p = colon + 1; p < end; p++) {
        if (*p < '0' || *p > '9' || p - colon > 5)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "\"%s\": the port must be a number 1-65535", url);
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "\"%s\": the port must be a number 1-65535", url);
    return SL_OK;
}

int url_endpoint_parse(url_endpoint *u, const char *url, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    size_t skip = strncasecmp(url, "http://", 7) == 0    ? 7
                  : strncasecmp(url, "https://", 8) == 0 ? 8
                                                         : 0;
    if (!skip)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "\"%s\" must start with http:// or https://", url);
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c == 0x7f)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "\"%s\": a space or control character at byte %zu (encode it "
                             "as %%XX)", url, (size_t)(p - url));
        if (c == '#')
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "\"%s\": a fragment (#...) is never sent to the server", url);
    }
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?");
    if (alen == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "\"%s\": no host", url);
    if (check_authority(url, auth, alen, err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    const char *path = auth + alen;
    size_t plen = strcspn(path, "?");
    const char *q = path[plen] == '?' ? path + plen + 1 : path + plen;
    size_t qlen = strlen(q);
    while (plen && path[plen - 1] == '/')
        plen--;
    while (qlen && q[qlen - 1] == '&')
        qlen--;
    u->origin = dup_n(url, skip + alen);
    u->path = dup_n(path, plen);
    u->query = dup_n(q, qlen);
    /* user:password@ in the authority is for the server, not for log lines */
    const char *at = memchr(auth, '@', alen);
    if (at) {
        size_t hl = alen - (size_t)(at + 1 - auth);
        u->shown = sl_xmalloc(skip + 4 + hl + plen + 1);
        memcpy(u->shown, url, skip);
        memcpy(u->shown + skip, "***@", 4);
        memcpy(u->shown + skip + 4, at + 1, hl + plen);
        u->shown[skip + 4 + hl + plen] = '\0';
    } else {
        u->shown = dup_n(url, skip + alen + plen);
    }
    return SL_OK;
}

void url_endpoint_free(url_endpoint *u)
{
    free(u->origin);
    free(u->path);
    free(u->query);
    free(u->shown);
    memset(u, 0, sizeof *u);
}

char *url_with_default_path(const char *endpoint, const char *default_path, char *err,
                            size_t errlen)
{
    url_endpoint ue;
    if (url_endpoint_parse(&ue, endpoint ? endpoint : "", err, errlen) != SL_OK)
        return NULL;
    char *url;
    if (!ue.path[0]) {
        sl_buf b = SL_BUF_INIT;
        url_build(&b, &ue, default_path, NULL);
        url = sl_xstrdup(b.p);
        buf_free(&b);
    } else {
        url = sl_xstrdup(endpoint);
    }
    url_endpoint_free(&ue);
    return url;
}

void url_build(sl_buf *out, const url_endpoint *u, const char *path, const char *params)
{
    buf_reset(out);
    buf_puts(out, u->origin);
    buf_puts(out, u->path);
    buf_putc(out, '/');
    buf_puts(out, path ? path : "");
    bool q = u->query[0] != '\0', p = params && params[0];
    if (q || p)
        buf_putc(out, '?');
    buf_puts(out, u->query);
    if (q && p)
        buf_putc(out, '&');
    if (p)
        buf_puts(out, params);
    buf_putc(out, '\0');
    out->len--; /* the NUL stays but does not count */
}

void url_encode(sl_buf *out, const char *s, size_t n, int where)
{
    static const char hx[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_' || c == '~' ||
                    (where == URL_SEGMENT && c && strchr("!$&'()*+,;=:@", c));
        if (keep) {
            buf_putc(out, (char)c);
        } else {
            buf_putc(out, '%');
            buf_putc(out, hx[c >> 4]);
            buf_putc(out, hx[c & 15]);
        }
    }
}

void url_query_add(sl_buf *out, const char *key, const char *value)
{
    if (out->len)
        buf_putc(out, '&');
    url_encode(out, key, strlen(key), URL_QUERY);
    buf_putc(out, '=');
    url_encode(out, value, strlen(value), URL_QUERY);
    buf_putc(out, '\0');
    out->len--;
}

int url_parse_hostport(const char *address, char *host, size_t hostlen, int *port, char *err,
                       size_t errlen)
{
    if (!address || !*address)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address is empty (want host:port)");
    const char *hs, *he, *ps;
    if (address[0] == '[') {
        hs = address + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "address \"%s\": want [ipv6]:port", address);
        ps = he + 2;
    } else {
        he = strrchr(address, ':');
        if (!he)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "address \"%s\": missing port (want host:port)", address);
        hs = address;
        if (memchr(hs, ':', (size_t)(he - hs)))
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "address \"%s\": IPv6 hosts need brackets, e.g. [::1]:2020",
                             address);
        ps = he + 1;
    }
    size_t hl = (size_t)(he - hs);
    if (hl >= hostlen)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address \"%s\": host too long",
                         address);
    long p = 0;
    size_t nd = 0;
    for (const char *c = ps; *c; c++, nd++) {
        if (*c < '0' || *c > '9' || nd >= 5)
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "address \"%s\": port must be a number 0-65535", address);
        p = p * 10 + (*c - '0');
    }
    if (nd == 0 || p > 65535)
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "address \"%s\": port must be a number 0-65535", address);
    memcpy(host, hs, hl);
    host[hl] = '\0';
    *port = (int)p;
    return SL_OK;
}
