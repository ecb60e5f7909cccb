/* http_conn.c - HTTP/1.1 requests on the calling thread over pooled keep-alive
 * connections (see the header for the states and invariants).
 *
 * Notes on the design
 *  1. Sockets stay non-blocking; every wait is a poll() bounded by the request's deadline,
 *     so one timeout covers the name lookup (net/dial.h), connect, handshake, send and
 *     receive, as libcurl's did.
 *  2. Plain TCP sends head and body with one sendmsg of two iovecs: the body is never
 *     copied. TLS sends them with SSL_write (a body up to HC_TLS_MERGE is appended to the
 *     head so that a small request is one record).
 *  3. The response parser (net/http_resp.h) is fed from a per-connection read buffer;
 *     bodies go to the caller's on_data or into resp->body (at most HC_MAX_BODY, the rest
 *     is dropped, as with libcurl).
 *  4. Idle connections are checked with poll(0) before reuse: readable means the server
 *     closed it (or sent bytes nobody asked for), and either way it is closed. A server may
 *     still close between that check and our write: invariant 3 covers that race.
 *  5. A context is made again when one of its files changed (inode, size or mtime seen at
 *     each new connection), so certificates renewed on disk are used without a restart,
 *     as libcurl, which read them per connection, did. Connections keep the context they
 *     were made with (SSL_new holds a reference). */
#include "net/http_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/common.h"
#include "net/dial.h"
#include "net/http_resp.h"
#include "net/tls_client.h"

#define HC_MAX_BODY (64u << 20)     /* collected body, as the libcurl path */
#define HC_RBUF (32 * 1024)         /* read buffer per connection */
#define HC_IDLE_PER_KEY 16          /* idle connections kept per destination */
#define HC_IDLE_MAX 64              /* ... and in all (libcurl kept 64 too) */
#define HC_IDLE_MAX_NS (118 * 1000000000LL) /* libcurl's default maximum idle age */
#define HC_CONNECT_MAX_MS 10000     /* connect + handshake, within the request's timeout */
#define HC_TLS_MERGE (16 * 1024)

typedef struct hc_tls {
    char *key; /* "ca\nclient cert\nclient key\ninsecure" */
    char files[160]; /* identity of those files when ctx was made (note 5) */
    SSL_CTX *ctx;
    struct hc_tls *next;
} hc_tls;

typedef struct hc_conn {
    int fd;
    SSL *ssl;          /* NULL = plain TCP */
    char *key;         /* destination and TLS settings (owned) */
    int64_t idle_ns;   /* when it went idle (monotonic) */
    char *rbuf;        /* HC_RBUF bytes */
    bool early;        /* answered before the request was all sent: not reusable */
    struct hc_conn *next;
} hc_conn;

struct http_conn_pool {
    pthread_mutex_t mu;
    hc_conn *idle; /* most recently used first */
    int nidle;
    hc_tls *tls;
    /* the proxy variables libcurl honours, read once (NULL = unset or empty) */
    char *http_proxy, *https_proxy, *all_proxy, *no_proxy;
};

/* A request's destination, from its URL. */
typedef struct hc_url {
    bool tls;
    int port;
    char host[256];   /* without brackets */
    char hosthdr[300]; /* the Host header: host, ":port" unless the scheme's default */
    char where[300];  /* host:port for messages */
    const char *path; /* path and query, "" = "/" */
    size_t path_len;
} hc_url;

/* ---- URLs and proxies ----------------------------------------------------------------- */

/* Splits an http(s) URL; -1 for anything this client leaves to libcurl (another scheme,
 * user information, a fragment, characters that need encoding). */
static int url_split(const char *url, hc_url *u)
{
    memset(u, 0, sizeof *u);
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncasecmp(url, "https://", 8) == 0) {
        p = url + 8;
        u->tls = true;
    } else {
        return -1;
    }
    const char *a = p;
    while (*p && *p != '/' && *p != '?') {
        if (*p == '@' || *p == '#' || (unsigned char)*p <= ' ' || *p == 0x7f)
            return -1;
        p++;
    }
    const char *aend = p, *hend = aend, *h = a;
    const char *portp = NULL;
    if (*a == '[') {
        const char *rb = memchr(a, ']', (size_t)(aend - a));
        if (!rb)
            return -1;
        h = a + 1;
        hend = rb;
        if (rb + 1 < aend) {
            if (rb[1] != ':')
                return -1;
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(a, ':', (size_t)(aend - a));
        if (colon) {
            hend = colon;
            portp = colon + 1;
        }
    }
    size_t hl = (size_t)(hend - h);
    if (hl == 0 || hl >= sizeof u->host)
        return -1;
    memcpy(u->host, h, hl);
    u->host[hl] = '\0';
    int def = u->tls ? 443 : 80;
    u->port = def;
    if (portp && portp < aend) {
        long port = 0;
        for (const char *q = portp; q < aend; q++) {
            if (*q < '0' || *q > '9' || port > 65535)
                return -1;
            port = port * 10 + (*q - '0');
        }
        if (port <= 0 || port > 65535)
            return -1;
        u->port = (int)port;
    }
    bool v6 = *a == '[';
    if (u->port == def)
        snprintf(u->hosthdr, sizeof u->hosthdr, v6 ? "[%s]" : "%s", u->host);
    else
        snprintf(u->hosthdr, sizeof u->hosthdr, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
    snprintf(u->where, sizeof u->where, v6 ? "[%s]:%d" : "%s:%d", u->host, u->port);
    for (const char *q = p; *q; q++)
        if (*q == '#' || (unsigned char)*q <= ' ' || *q == 0x7f)
            return -1;
    u->path = p;
    u->path_len = strlen(p);
    return 0;
}

static char *env_dup(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((!v || !*v) && b)
        v = getenv(b);
    return v && *v ? sl_xstrdup(v) : NULL;
}

/* libcurl's no_proxy: "*", or names a host equals or ends with after a dot. An entry with
 * a '/' (an address range) is left to libcurl: -1. */
static int no_proxy_match(const char *list, const char *host)
{
    size_t hl = strlen(host);
    for (const char *p = list; *p;) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ' && *e != '\t')
            e++;
        const char *s = p;
        size_t n = (size_t)(e - p);
        p = e;
        if (n == 1 && *s == '*')
            return 1;
        if (memchr(s, '/', n))
            return -1;
        if (n && *s == '.')
            s++, n--;
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
            s++, n -= 2;
        if (n == 0)
            continue;
        if (hl == n && strncasecmp(host, s, n) == 0)
            return 1;
        if (hl > n && host[hl - n - 1] == '.' && strncasecmp(host + hl - n, s, n) == 0)
            return 1;
    }
    return 0;
}

bool http_conn_handles(const http_conn_pool *p, const char *url)
{
    hc_url u;
    if (!url || url_split(url, &u) != 0)
        return false;
    const char *proxy = u.tls ? p->https_proxy : p->http_proxy;
    if (!proxy)
        proxy = p->all_proxy;
    if (!proxy)
        return true;
    return p->no_proxy && no_proxy_match(p->no_proxy, u.host) == 1;
}

http_conn_pool *http_conn_pool_new(void)
{
    http_conn_pool *p = sl_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    p->http_proxy = env_dup("http_proxy", NULL); /* libcurl ignores HTTP_PROXY (CGI) */
    p->https_proxy = env_dup("https_proxy", "HTTPS_PROXY");
    p->all_proxy = env_dup("all_proxy", "ALL_PROXY");
    p->no_proxy = env_dup("no_proxy", "NO_PROXY");
    return p;
}

/* ---- Connections ---------------------------------------------------------------------- */

static void conn_close(hc_conn *c)
{
    if (!c)
        return;
    if (c->ssl)
        SSL_free(c->ssl); /* no close_notify: the peer sees the TCP close */
    if (c->fd >= 0)
        close(c->fd);
    free(c->key);
    free(c->rbuf);
    free(c);
}

void http_conn_pool_free(http_conn_pool *p)
{
    if (!p)
        return;
    for (hc_conn *c = p->idle, *next; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    for (hc_tls *t = p->tls, *next; t; t = next) {
        next = t->next;
        SSL_CTX_free(t->ctx);
        free(t->key);
        free(t);
    }
    free(p->http_proxy);
    free(p->https_proxy);
    free(p->all_proxy);
    free(p->no_proxy);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* An idle connection the server has not closed, or NULL (note 4). */
static hc_conn *pool_take(http_conn_pool *p, const char *key)
{
    for (;;) {
        hc_conn *c = NULL;
        pthread_mutex_lock(&p->mu);
        for (hc_conn **pp = &p->idle; *pp; pp = &(*pp)->next) {
            if (strcmp((*pp)->key, key) == 0) {
                c = *pp;
                *pp = c->next;
                p->nidle--;
                break;
            }
        }
        pthread_mutex_unlock(&p->mu);
        if (!c)
            return NULL;
        struct pollfd pf = {c->fd, POLLIN, 0};
        bool stale = sl_mono_ns() - c->idle_ns > HC_IDLE_MAX_NS || poll(&pf, 1, 0) != 0 ||
                     (c->ssl && SSL_pending(c->ssl) > 0);
        if (!stale)
            return c;
        conn_close(c);
    }
}

static void pool_put(http_conn_pool *p, hc_conn *c)
{
    c->idle_ns = sl_mono_ns();
    c->next = NULL;
    int same = 0;
    pthread_mutex_lock(&p->mu);
    for (hc_conn *i = p->idle; i; i = i->next)
        same += strcmp(i->key, c->key) == 0;
    if (same < HC_IDLE_PER_KEY && p->nidle < HC_IDLE_MAX) {
        c->next = p->idle;
        p->idle = c;
        p->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    conn_close(c); /* no room: the pool keeps the ones it has */
}

/* Appends the identity of file f (or "-" when unset or missing) to out. */
static void file_id(char *out, size_t outlen, const char *f)
{
    struct stat st;
    size_t n = strlen(out);
    if (f && stat(f, &st) == 0)
        snprintf(out + n, outlen - n, "%llx.%llx.%lld.%ld;", (unsigned long long)st.st_ino,
                 (unsigned long long)st.st_size, (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec);
    else
        snprintf(out + n, outlen - n, "-;");
}

/* The context for a TLS setting, made on first use and again when its files changed
 * (invariant 4, note 5): a reference the caller drops (SSL_CTX_free), or NULL + err. */
static SSL_CTX *tls_ctx(http_conn_pool *p, const http_mreq *r, char *err, size_t errlen)
{
    char key[1024], files[160] = "";
    snprintf(key, sizeof key, "%s\n%s\n%s\n%d", r->ca_file ? r->ca_file : "",
             r->cert_file ? r->cert_file : "", r->key_file ? r->key_file : "", r->insecure);
    file_id(files, sizeof files, r->ca_file);
    file_id(files, sizeof files, r->cert_file);
    file_id(files, sizeof files, r->key_file);
    pthread_mutex_lock(&p->mu);
    hc_tls *t = p->tls;
    while (t && strcmp(t->key, key) != 0)
        t = t->next;
    SSL_CTX *ctx = t && strcmp(t->files, files) == 0 ? t->ctx : NULL;
    if (!ctx) {
        tls_client_config tc = {
            .enabled = true,
            .verify = !r->insecure,
            .ca_file = (char *)r->ca_file,
            .cert_file = (char *)r->cert_file,
            .key_file = (char *)r->key_file,
        };
        ctx = tls_client_ctx_new(&tc, err, errlen);
        if (ctx) {
            /* a close-delimited body may end without close_notify */
            SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
            if (!t) {
                t = sl_xcalloc(1, sizeof *t);
                t->key = sl_xstrdup(key);
                t->next = p->tls;
                p->tls = t;
            } else {
                SSL_CTX_free(t->ctx); /* its connections hold their own reference */
            }
            t->ctx = ctx;
            snprintf(t->files, sizeof t->files, "%s", files);
        }
    }
    if (ctx)
        SSL_CTX_up_ref(ctx); /* another thread may replace it before our SSL_new */
    pthread_mutex_unlock(&p->mu);
    return ctx;
}

static int64_t ms_left(int64_t deadline)
{
    int64_t left = deadline - sl_mono_ns();
    return left <= 0 ? 0 : (left + 999999) / 1000000;
}

/* The cancel flag of the request this thread runs (http_mreq.cancel), NULL for none: a
 * request runs on its caller's thread from start to end (invariant 1), so every wait of it
 * sees it without each step passing it on. */
static _Thread_local const atomic_bool *hc_cancel;
#define HC_CANCEL_POLL_MS 100

static bool cancelled(void) { return hc_cancel && atomic_load(hc_cancel); }

/* Waits until fd is ready for ev or the deadline passes: the poll revents (non-zero), or 0
 * when it timed out or the request was cancelled. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t ms = ms_left(deadline);
        if (ms == 0 || cancelled())
            return 0;
        if (hc_cancel)
            ms = SL_MIN(ms, (int64_t)HC_CANCEL_POLL_MS);
        struct pollfd pf = {fd, ev, 0};
        int r = poll(&pf, 1, (int)SL_MIN(ms, (int64_t)INT32_MAX));
        if (r > 0)
            return pf.revents;
        if (r < 0 && errno != EINTR)
            return POLLERR; /* an error shows in the next read or write */
    }
}

/* Outcome of one step of I/O. IO_EARLY: the server spoke (or closed) before the request
 * was all sent. */
enum { IO_OK = 0, IO_EOF, IO_TIMEOUT, IO_ERR, IO_TLS, IO_EARLY };

typedef struct hc_io {
    int err;         /* errno of IO_ERR */
    char why[256];   /* IO_ERR / IO_TLS text */
} hc_io;

/* Connects within the deadline (note 1); the fd or -1 with io set. */
static int tcp_connect(const hc_url *u, int64_t deadline, int *kind, hc_io *io)
{
    dial_fail fail;
    int fd = net_dial(u->host, u->port, deadline, &fail, io->why, sizeof io->why);
    if (fd < 0) {
        *kind = fail == DIAL_ERR_TIMEOUT ? IO_TIMEOUT : IO_ERR;
        return -1;
    }
    int one = 1, idle = 60;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
    return fd;
}

/* A fresh connection to u, TLS included; NULL with *kind and io set. */
static hc_conn *conn_open(http_conn_pool *p, const hc_url *u, const http_mreq *r,
                          const char *key, int64_t deadline, int *kind, hc_io *io)
{
    SSL_CTX *ctx = NULL;
    if (u->tls) {
        char err[200];
        ctx = tls_ctx(p, r, err, sizeof err);
        if (!ctx) {
            *kind = IO_TLS;
            snprintf(io->why, sizeof io->why, "%.200s", err); /* "tls: cannot load ..." */
            return NULL;
        }
    }
    int64_t cdl = SL_MIN(deadline, sl_mono_ns() + HC_CONNECT_MAX_MS * 1000000LL);
    int fd = tcp_connect(u, cdl, kind, io);
    if (fd < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    hc_conn *c = sl_xcalloc(1, sizeof *c);
    c->fd = fd;
    if (ctx) {
        tls_client_config tc = {.enabled = true, .verify = !r->insecure};
        char err[200];
        int64_t ms = ms_left(cdl);
        c->ssl = ms ? tls_client_handshake(ctx, &tc, fd, u->host, ms, err, sizeof err) : NULL;
        SSL_CTX_free(ctx);
        if (!c->ssl) {
            bool timeout = !ms || strstr(err, "timed out");
            *kind = timeout ? IO_TIMEOUT : IO_TLS;
            snprintf(io->why, sizeof io->why, "handshake with %.80s: %.150s", u->where,
                     ms ? err : "TLS: handshake timed out");
            conn_close(c);
            return NULL;
        }
    }
    c->key = sl_xstrdup(key);
    c->rbuf = sl_xmalloc(HC_RBUF);
    return c;
}

/* Text and kind of a failed SSL call (r its result). */
static int tls_fail(hc_conn *c, int r, hc_io *io)
{
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && errno == 0 &&
                                       ERR_peek_error() == 0))
        return IO_EOF;
    int saved = errno;
    char why[180];
    tls_client_error(c->ssl, r, why, sizeof why);
    snprintf(io->why, sizeof io->why, "%.200s", why); /* "TLS: ..." */
    if (e == SSL_ERROR_SYSCALL) {
        io->err = saved;
        return IO_ERR;
    }
    return IO_TLS;
}

/* Writes [p, p + n) whole; TLS only. */
static int tls_write(hc_conn *c, const char *p, size_t n, int64_t deadline, hc_io *io)
{
    while (n) {
        ERR_clear_error();
        errno = 0;
        int w = SSL_write(c->ssl, p, (int)SL_MIN(n, (size_t)1 << 30));
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        int e = SSL_get_error(c->ssl, w);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            if (!wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
                return IO_TIMEOUT;
            continue;
        }
        int k = tls_fail(c, w, io);
        return k == IO_EOF ? IO_ERR : k;
    }
    return IO_OK;
}

/* Sends head and body (note 2). */
static int send_request(hc_conn *c, sl_buf *head, const char *body, size_t blen,
                        int64_t deadline, hc_io *io)
{
    if (c->ssl) {
        if (blen <= HC_TLS_MERGE) {
            buf_append(head, body, blen);
            blen = 0;
        }
        int k = tls_write(c, head->p, head->len, deadline, io);
        if (k == IO_OK && blen)
            k = tls_write(c, body, blen, deadline, io);
        return k;
    }
    struct iovec iov[2] = {{head->p, head->len}, {(void *)body, blen}};
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = blen ? 2 : 1;
    while (mh.msg_iovlen) {
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                /* a server that answers before it read the body (413, 401) stops the
                 * send: the answer is read, the connection not reused */
                int ev = wait_fd(c->fd, POLLOUT | POLLIN, deadline);
                if (!ev)
                    return IO_TIMEOUT;
                if ((ev & POLLIN) && !(ev & POLLOUT))
                    return IO_EARLY;
                continue;
            }
            io->err = errno;
            snprintf(io->why, sizeof io->why, "send: %s", strerror(errno));
            return IO_ERR;
        }
        size_t left = (size_t)w;
        while (mh.msg_iovlen && left >= mh.msg_iov->iov_len) {
            left -= mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + left;
            mh.msg_iov->iov_len -= left;
        }
    }
    return IO_OK;
}

/* Reads what is there into c->rbuf, waiting until the deadline; *n bytes on IO_OK. */
static int recv_some(hc_conn *c, int64_t deadline, size_t *n, hc_io *io)
{
    /* A plain read waits first (wait_fd sees the flag); a TLS read tries SSL_read first,
     * so a TLS stream that never pauses would never wait. */
    if (cancelled())
        return IO_TIMEOUT;
    for (;;) {
        if (c->ssl) {
            ERR_clear_error();
            errno = 0;
            int r = SSL_read(c->ssl, c->rbuf, HC_RBUF);
            if (r > 0) {
                *n = (size_t)r;
                return IO_OK;
            }
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                if (!wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline))
                    return IO_TIMEOUT;
                continue;
            }
            return tls_fail(c, r, io);
        }
        /* the answer is rarely there yet: wait first, one syscall fewer */
        if (!wait_fd(c->fd, POLLIN, deadline))
            return IO_TIMEOUT;
        ssize_t r = recv(c->fd, c->rbuf, HC_RBUF, 0);
        if (r > 0) {
            *n = (size_t)r;
            return IO_OK;
        }
        if (r == 0)
            return IO_EOF;
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
            continue;
        io->err = errno;
        snprintf(io->why, sizeof io->why, "receive: %s", strerror(errno));
        return IO_ERR;
    }
}

/* ---- Requests ------------------------------------------------------------------------- */

typedef struct hc_body {
    const http_mreq *req;
    http_mresp *resp;
    const http_resp *hr;
} hc_body;

static int on_body(void *arg, const char *p, size_t n)
{
    hc_body *b = arg;
    if (b->req->on_data) {
        b->resp->status = b->hr->status; /* the caller's reader may want it (http_multi.h) */
        return b->req->on_data(b->req->arg, p, n);
    }
    size_t room = HC_MAX_BODY > b->resp->body.len ? HC_MAX_BODY - b->resp->body.len : 0;
    buf_append(&b->resp->body, p, SL_MIN(n, room));
    return 0;
}

/* Whether the caller's header line h names `name` (followed by ':' or ';'). */
static bool header_is(const char *h, const char *name)
{
    size_t n = strlen(name);
    return strncasecmp(h, name, n) == 0 && (h[n] == ':' || h[n] == ';');
}

/* The request head. Caller headers follow libcurl's conventions: "Name:" with no value
 * suppresses a header (nothing is sent), "Name;" sends it empty; a caller's Host, Accept
 * or Content-Length replaces ours. */
static void build_head(sl_buf *h, const hc_url *u, const http_mreq *r, const char *method,
                       bool has_body)
{
    bool host = false, accept = false, clen = false;
    buf_puts(h, method);
    buf_putc(h, ' ');
    if (u->path_len == 0 || u->path[0] == '?')
        buf_putc(h, '/');
    buf_append(h, u->path, u->path_len);
    buf_puts(h, " HTTP/1.1\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *l = r->headers[i];
        host |= header_is(l, "host");
        accept |= header_is(l, "accept");
        clen |= header_is(l, "content-length");
    }
    if (!host) {
        buf_puts(h, "Host: ");
        buf_puts(h, u->hosthdr);
        buf_puts(h, "\r\n");
    }
    if (r->user) {
        sl_buf up = {0};
        buf_printf(&up, "%s:%s", r->user, r->password ? r->password : "");
        buf_puts(h, "Authorization: Basic ");
        buf_base64(h, up.p, up.len);
        buf_puts(h, "\r\n");
        buf_free(&up);
    }
    if (!accept)
        buf_puts(h, "Accept: */*\r\n");
    for (size_t i = 0; i < r->nheaders; i++) {
        const char *l = r->headers[i];
        const char *sep = strpbrk(l, ":;");
        if (!sep || sep == l)
            continue;
        if (*sep == ';') {
            if (sep[1] == '\0') { /* "Name;": sent with an empty value */
                buf_append(h, l, (size_t)(sep - l));
                buf_puts(h, ":\r\n");
            }
            continue;
        }
        const char *v = sep + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*v)
            continue; /* "Name:" removes a header */
        buf_puts(h, l);
        buf_puts(h, "\r\n");
    }
    if (has_body && !clen)
        buf_printf(h, "Content-Length: %zu\r\n", r->body_len);
    buf_puts(h, "\r\n");
}

/* One exchange on c; 0 when a response arrived. On failure *kind and io say why (an
 * IO_EOF, or an IO_ERR with io->err, before any response byte is what invariant 3 retries).
 * *keep when c may go back to the pool. */
static int exchange(hc_conn *c, sl_buf *head, const char *body, size_t blen, bool no_body,
                    const http_mreq *req, http_mresp *resp, int64_t deadline, int *kind,
                    hc_io *io, bool *keep)
{
    *keep = false;
    int sent = send_request(c, head, body, blen, deadline, io);
    if (sent == IO_TIMEOUT || sent == IO_TLS) {
        *kind = sent;
        return -1;
    }
    /* A failed send may still have an answer waiting (a server that refused the body
     * early, e.g. 413, and closed; a TLS alert): read what is there, without waiting. An
     * early answer is read as any other. */
    if (sent == IO_EARLY)
        sent = IO_OK, c->early = true;
    hc_io rio = {0}, *rd = sent == IO_OK ? io : &rio;
    int64_t rdl = sent == IO_OK ? deadline : sl_mono_ns();
    http_resp hr = {0};
    hc_body hb = {req, resp, &hr};
    http_resp_init(&hr, no_body, on_body, &hb);
    int rc = HTTP_RESP_MORE, k = IO_OK;
    while (rc == HTTP_RESP_MORE) {
        size_t n = 0, used = 0;
        k = recv_some(c, rdl, &n, rd);
        if (k == IO_EOF) {
            rc = http_resp_eof(&hr);
            if (rc == HTTP_RESP_BAD)
                snprintf(rd->why, sizeof rd->why, "%s", hr.err);
            break;
        }
        if (k != IO_OK)
            break;
        rc = http_resp_feed(&hr, c->rbuf, n, &used);
        if (rc == HTTP_RESP_BAD || rc == HTTP_RESP_ABORT)
            snprintf(rd->why, sizeof rd->why, "%s", hr.err);
        else if (rc == HTTP_RESP_DONE)
            *keep = sent == IO_OK && !c->early && hr.keep_alive && used == n &&
                    !(c->ssl && SSL_pending(c->ssl) > 0);
    }
    if (rc == HTTP_RESP_DONE) {
        resp->status = hr.status;
        resp->retry_after_ms = hr.retry_after_ms;
        memcpy(resp->etag, hr.etag, sizeof resp->etag);
        memcpy(resp->location, hr.location, sizeof resp->location);
        http_resp_free(&hr);
        return 0;
    }
    if (sent != IO_OK) {
        if (k == IO_TLS) { /* the alert explains the failed send */
            *io = rio;
            *kind = IO_TLS;
        } else {
            *kind = IO_ERR; /* the send's error (io) */
            if (hr.seen)
                io->err = 0;
        }
        http_resp_free(&hr);
        return -1;
    }
    /* nothing arrived: an idle connection the server had closed (invariant 3) */
    *kind = k == IO_OK || k == IO_EOF ? (hr.seen == 0 && k == IO_EOF ? IO_EOF : IO_ERR) : k;
    if (*kind == IO_EOF)
        snprintf(io->why, sizeof io->why, "connection closed before a response arrived");
    else if (hr.seen)
        io->err = 0; /* a reset after part of the answer is not a stale connection */
    http_resp_free(&hr);
    return -1;
}

int http_conn_do(http_conn_pool *p, const http_mreq *req, http_mresp *resp)
{
    hc_url u;
    if (url_split(req->url, &u) != 0) {
        snprintf(resp->error, sizeof resp->error, "URL not supported: %.200s", req->url);
        return SL_ERR_IO;
    }
    const char *method = req->method ? req->method : "POST";
    bool get = strcmp(method, "GET") == 0, headreq = strcmp(method, "HEAD") == 0;
    bool has_body = !get && !headreq;
    int64_t tmo = req->timeout_ms > 0 ? req->timeout_ms : 30000;
    int64_t deadline = sl_mono_ns() + tmo * 1000000LL;
    char key[1400];
    snprintf(key, sizeof key, "%d|%s|%d|%s\n%s\n%s\n%d", u.tls, u.host, u.port,
             req->ca_file ? req->ca_file : "", req->cert_file ? req->cert_file : "",
             req->key_file ? req->key_file : "", req->insecure);
    sl_buf head = {0};
    build_head(&head, &u, req, method, has_body);
    size_t head_len = head.len; /* TLS may append a small body to it */
    const char *body = has_body && req->body ? req->body : "";
    size_t blen = has_body ? req->body_len : 0;
    int rc = SL_ERR_IO;
    hc_cancel = req->cancel;
    for (int attempt = 0; attempt < 2; attempt++) {
        int kind = IO_OK;
        hc_io io = {0};
        head.len = head_len;
        hc_conn *c = attempt == 0 ? pool_take(p, key) : NULL;
        bool reused = c != NULL;
        if (!c)
            c = conn_open(p, &u, req, key, deadline, &kind, &io);
        bool keep = false;
        if (c && exchange(c, &head, body, blen, headreq, req, resp, deadline, &kind, &io,
                          &keep) == 0) {
            if (keep)
                pool_put(p, c);
            else
                conn_close(c);
            rc = SL_OK;
            break;
        }
        conn_close(c);
        buf_reset(&resp->body);
        if (cancelled()) {
            resp->status = 0;
            snprintf(resp->error, sizeof resp->error, "%.100s: cancelled", u.where);
            rc = SL_ERR_CLOSED;
            break;
        }
        if (reused && (kind == IO_EOF || (kind == IO_ERR && (io.err == EPIPE ||
                                                              io.err == ECONNRESET))))
            continue; /* invariant 3 */
        resp->status = 0;
        resp->tls = kind == IO_TLS;
        if (kind == IO_TIMEOUT && strncmp(io.why, "resolving ", 10) == 0) {
            snprintf(resp->error, sizeof resp->error, "%.200s after %lld ms", io.why,
                     (long long)tmo);
            rc = SL_ERR_TIMEOUT;
        } else if (kind == IO_TIMEOUT) {
            snprintf(resp->error, sizeof resp->error, "%.100s: timed out after %lld ms", u.where,
                     (long long)tmo);
            rc = SL_ERR_TIMEOUT;
        } else if (strncmp(io.why, "connect to ", 11) == 0 ||
                   strncmp(io.why, "handshake with ", 15) == 0 ||
                   strncmp(io.why, "cannot resolve", 14) == 0) {
            snprintf(resp->error, sizeof resp->error, "%s", io.why);
        } else {
            snprintf(resp->error, sizeof resp->error, "%.100s: %.150s", u.where,
                     io.why[0] ? io.why : "request failed");
        }
        break;
    }
    hc_cancel = NULL;
    buf_free(&head);
    return rc;
}
