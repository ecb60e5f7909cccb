/* redis.c - connections (plain TCP or TLS, pipelined), key templates and value decoding
 * shared by the redis sink and source (src/sinks/redis.c, src/sources/redis.c). */
#include "redis.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "../core/common.h"
#include "dial.h"
#include "../formats/json.h"

const char *const redis_modes[] = {"list", "stream", NULL};

/* Splits "host:port" (the last ':' separates, so "[::1]:6379" and "::1:6379" work). */
static int split_address(const char *address, char *host, size_t hostlen, int *port)
{
    const char *colon = address ? strrchr(address, ':') : NULL;
    if (!colon || colon == address)
        return -1;
    const char *h = address;
    size_t hl = (size_t)(colon - address);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p <= 0 || p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

int redis_address_check(const char *address, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_address(address, host, sizeof host, &port) != 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address must be host:port, got \"%s\"",
                         address ? address : "");
    return 0;
}

int redis_endpoint_init(redis_endpoint *ep, char *err, size_t errlen)
{
    ep->ssl_ctx = NULL;
    if (redis_address_check(ep->address, err, errlen) != 0)
        return SL_ERR_CONFIG;
    if (ep->username && ep->username[0] && !(ep->password && ep->password[0]))
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "username \"%s\" needs a password",
                         ep->username);
    if (ep->tls) {
        ep->ssl_ctx = tls_client_ctx_new(ep->tls, err, errlen);
        if (!ep->ssl_ctx && err[0])
            return SL_ERR_CONFIG;
    }
    return SL_OK;
}

void redis_endpoint_free(redis_endpoint *ep)
{
    if (ep->ssl_ctx)
        SSL_CTX_free(ep->ssl_ctx);
    ep->ssl_ctx = NULL;
}

/* ---- Connections ----------------------------------------------------------------------
 * Notes on the design
 *  1. Connecting is non-blocking with a poll() for the timeout; then the socket is
 *     blocking with SO_RCVTIMEO / SO_SNDTIMEO = timeout_ms, so a read or write that makes
 *     no progress for that long fails (EAGAIN, or WANT_READ/WANT_WRITE under OpenSSL). A
 *     blocking command's timeout is the caller's (the source adds its `block`). Blocking
 *     I/O costs one syscall per wait where poll()+retry costs three, which shows in the
 *     many small replies of a list source.
 *  2. Plain TCP and TLS share every path; only conn_send / conn_fill pick send/recv or
 *     SSL_write/SSL_read.
 *  3. A pipeline is encoded into `out` and written whole before its replies are read;
 *     Redis keeps the replies of a client in its output buffer meanwhile.
 *  4. States: OPEN -> (I/O error, timeout, protocol error, out of memory) -> BROKEN with
 *     the reason in err; BROKEN is final, the caller closes and reconnects. */

/* Socket reads are 64 KiB, but the reply parser gets 4 KiB at a time: hiredis' reader
 * memmoves its unread rest after each 1 KiB consumed, so a big feed costs copying. */
#define REDIS_CONN_READ (64 * 1024)
#define REDIS_CONN_FEED 4096

struct redis_conn {
    int fd;
    SSL *ssl; /* NULL = plain TCP */
    redisReader *reader;
    sl_buf out; /* encoded commands not yet written */
    char *in;   /* REDIS_CONN_READ bytes */
    size_t in_off, in_len; /* in[in_off, in_len) read but not yet fed to the reader */
    int64_t timeout_ms;
    char err[256]; /* non-empty = BROKEN (note 4) */
};

static void conn_fail(redis_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void conn_fail(redis_conn *c, const char *fmt, ...)
{
    if (c->err[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    if (!c->err[0])
        snprintf(c->err, sizeof c->err, "connection broken");
}

static void conn_timed_out(redis_conn *c, const char *what)
{
    conn_fail(c, "%s: timed out after %lld ms", what, (long long)c->timeout_ms);
}

/* After a failed TLS write: the server may have said why before it closed (an alert such
 * as "certificate required", which TLS 1.3 sends only after the handshake, racing our
 * first write). Reads it when it is already there; true when it explained the failure. */
static bool conn_alert(redis_conn *c)
{
    char b;
    if (recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
        return false;
    ERR_clear_error();
    int r = SSL_read(c->ssl, c->in, REDIS_CONN_READ);
    if (r > 0 || SSL_get_error(c->ssl, r) != SSL_ERROR_SSL)
        return false;
    char why[200];
    tls_client_error(c->ssl, r, why, sizeof why);
    conn_fail(c, "write: %s", why);
    return true;
}

/* Writes all of `out` (note 3). */
static int conn_send(redis_conn *c)
{
    size_t off = 0;
    while (off < c->out.len) {
        size_t n = c->out.len - off;
        if (c->ssl) {
            ERR_clear_error();
            int w = SSL_write(c->ssl, c->out.p + off, (int)SL_MIN(n, (size_t)1 << 30));
            if (w > 0) {
                off += (size_t)w;
                continue;
            }
            int e = SSL_get_error(c->ssl, w);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
                conn_timed_out(c, "write"); /* note 1: the socket timed out */
                return -1;
            }
            char why[200];
            tls_client_error(c->ssl, w, why, sizeof why);
            if (conn_alert(c))
                return -1;
            conn_fail(c, "write: %s", why);
            return -1;
        }
        ssize_t w = send(c->fd, c->out.p + off, n, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_timed_out(c, "write");
            return -1;
        } else {
            conn_fail(c, "write: %s", w < 0 ? strerror(errno) : "connection closed");
            return -1;
        }
    }
    buf_reset(&c->out);
    return 0;
}

/* Gives the reply parser its next piece: from what was read, else from the socket
 * (waiting up to the timeout for something). */
static int conn_fill(redis_conn *c)
{
    if (c->in_off < c->in_len) {
        size_t n = SL_MIN(c->in_len - c->in_off, (size_t)REDIS_CONN_FEED);
        if (redisReaderFeed(c->reader, c->in + c->in_off, n) != REDIS_OK) {
            conn_fail(c, "protocol error: %s", c->reader->errstr);
            return -1;
        }
        c->in_off += n;
        return 0;
    }
    ssize_t got;
    if (c->ssl) {
        ERR_clear_error();
        int r = SSL_read(c->ssl, c->in, REDIS_CONN_READ);
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                conn_timed_out(c, "read");
                return -1;
            }
            char why[200];
            tls_client_error(c->ssl, r, why, sizeof why);
            conn_fail(c, "read: %s", why);
            return -1;
        }
        got = r;
    } else {
        do
            got = recv(c->fd, c->in, REDIS_CONN_READ, 0);
        while (got < 0 && errno == EINTR);
        if (got == 0) {
            conn_fail(c, "read: connection closed by the server");
            return -1;
        }
        if (got < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                conn_timed_out(c, "read");
            else
                conn_fail(c, "read: %s", strerror(errno));
            return -1;
        }
    }
    c->in_off = 0;
    c->in_len = (size_t)got;
    return conn_fill(c);
}

int redis_conn_append(redis_conn *c, int argc, const char **argv, const size_t *lens)
{
    if (c->err[0])
        return -1;
    char *cmd = NULL;
    int n = redisFormatCommandArgv(&cmd, argc, argv, lens);
    if (n < 0 || !cmd) {
        conn_fail(c, "out of memory encoding a command");
        return -1;
    }
    buf_append(&c->out, cmd, (size_t)n);
    redisFreeCommand(cmd);
    return 0;
}

int redis_conn_reply(redis_conn *c, redisReply **out)
{
    *out = NULL;
    if (c->err[0])
        return -1;
    if (c->out.len && conn_send(c) != 0)
        return -1;
    for (;;) {
        void *r = NULL;
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
            conn_fail(c, "protocol error: %s", c->reader->errstr);
            return -1;
        }
        if (r) {
            *out = r;
            return 0;
        }
        if (conn_fill(c) != 0)
            return -1;
    }
}

redisReply *redis_conn_command(redis_conn *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = NULL;
    if (redis_conn_append(c, argc, argv, lens) != 0 || redis_conn_reply(c, &r) != 0)
        return NULL;
    return r;
}

const char *redis_conn_error(const redis_conn *c)
{
    return c->err;
}

void redis_conn_close(redis_conn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        if (!c->err[0])
            SSL_shutdown(c->ssl); /* close_notify; no wait for the server's */
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
    if (c->reader)
        redisReaderFree(c->reader);
    buf_free(&c->out);
    free(c->in);
    free(c);
}

/* Connects to host:port within timeout_ms (the lookup included); -1 with err set. */
static int tcp_connect(const char *host, int port, int64_t timeout_ms, char *err, size_t errlen)
{
    dial_fail fail;
    int fd = net_dial(host, port, sl_mono_ns() + timeout_ms * 1000000LL, &fail, err, errlen);
    if (fd >= 0) {
        /* Note 1: blocking from here on, with timeouts. */
        int one = 1;
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)((timeout_ms % 1000) * 1000)};
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
            snprintf(err, errlen, "socket options: %s", strerror(errno));
            close(fd);
            return -1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* Runs one command on a fresh connection; 0 when it answered with anything but an error. */
static int setup_command(redis_conn *c, char *err, size_t errlen, const char *what, int argc,
                         const char **argv)
{
    redisReply *r = redis_conn_command(c, argc, argv, NULL);
    if (!r) {
        snprintf(err, errlen, "%s: %.200s", what, c->err);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %.*s", what, (int)SL_MIN(r->len, (size_t)200), r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* hiredis 0.14 allocates an array reply's element pointers as soon as its header arrives,
 * so "*1333333333\r\n" from a broken or hostile server would reserve 10 GB before one
 * element came. No command of ours gets more than REDIS_MAX_ELEMENTS back (batches are at
 * most 100,000 items), so a larger header is refused: the reader fails with an error and
 * the connection is reset like any protocol error. */
#define REDIS_MAX_ELEMENTS (1 << 20)

static redisReplyObjectFunctions bounded_fns;
static void *(*default_create_array)(const redisReadTask *, int);

static void *bounded_create_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > REDIS_MAX_ELEMENTS)
        return NULL;
    return default_create_array(task, elements);
}

static void bounded_fns_init(void)
{
    redisReader *r = redisReaderCreate();
    if (!r)
        return;
    bounded_fns = *r->fn;
    default_create_array = bounded_fns.createArray;
    bounded_fns.createArray = bounded_create_array;
    redisReaderFree(r);
}

redisReader *redis_reader_new(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, bounded_fns_init);
    redisReader *r = redisReaderCreate();
    if (r && default_create_array)
        r->fn = &bounded_fns;
    else if (r) { /* the template could not be made: refuse rather than run unbounded */
        redisReaderFree(r);
        r = NULL;
    }
    return r;
}

redis_conn *redis_conn_open(const redis_endpoint *ep, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (split_address(ep->address, host, sizeof host, &port) != 0) {
        snprintf(err, errlen, "bad address \"%s\"", ep->address ? ep->address : "");
        return NULL;
    }
    int64_t ms = ep->timeout_ms > 0 ? ep->timeout_ms : 5000;
    char tmp[320];
    int fd = tcp_connect(host, port, ms, tmp, sizeof tmp);
    if (fd < 0) { /* "connect to <address>: ...", "cannot resolve <host>: ..." */
        snprintf(err, errlen, "%s", tmp);
        return NULL;
    }
    redis_conn *c = sl_xcalloc(1, sizeof *c);
    c->fd = fd;
    c->timeout_ms = ms;
    c->in = sl_xmalloc(REDIS_CONN_READ);
    c->reader = redis_reader_new();
    if (!c->reader) {
        snprintf(err, errlen, "connect %s: out of memory", ep->address);
        redis_conn_close(c);
        return NULL;
    }
    if (ep->ssl_ctx) {
        c->ssl = tls_client_handshake(ep->ssl_ctx, ep->tls, fd, host, ms, tmp, sizeof tmp);
        if (!c->ssl) {
            snprintf(err, errlen, "connect %s: %s", ep->address, tmp);
            conn_fail(c, "TLS handshake failed"); /* BROKEN: no close_notify */
            redis_conn_close(c);
            return NULL;
        }
    }
    bool ran = false;
    if (ep->password && ep->password[0]) {
        bool user = ep->username && ep->username[0];
        const char *argv[] = {"AUTH", user ? ep->username : ep->password, ep->password};
        if (setup_command(c, tmp, sizeof tmp, "AUTH", user ? 3 : 2, argv) != 0)
            goto fail;
        ran = true;
    }
    if (ep->db) {
        char db[24];
        snprintf(db, sizeof db, "%lld", (long long)ep->db);
        const char *argv[] = {"SELECT", db};
        if (setup_command(c, tmp, sizeof tmp, "SELECT", 2, argv) != 0)
            goto fail;
        ran = true;
    }
    if (c->ssl && !ran) {
        /* With TLS 1.3 a server that wants a client certificate says so only after the
         * handshake: one round trip here makes that a connect error, not a lost reply. */
        const char *argv[] = {"PING"};
        if (setup_command(c, tmp, sizeof tmp, "PING", 1, argv) != 0)
            goto fail;
    }
    return c;
fail:
    snprintf(err, errlen, "connect %s: %s", ep->address, tmp);
    redis_conn_close(c);
    return NULL;
}

bool redis_reply_transient(const char *str, size_t len)
{
    static const char *const words[] = {"OOM", "LOADING", "READONLY", "BUSY", "TRYAGAIN",
                                        "MASTERDOWN", "NOAUTH", "CLUSTERDOWN", "MOVED", "ASK",
                                        "MISCONF", "ERR max number of clients reached"};
    for (size_t i = 0; i < SL_ARRAY_LEN(words); i++) {
        size_t wl = strlen(words[i]);
        if (str && len >= wl && memcmp(str, words[i], wl) == 0)
            return true;
    }
    return false;
}

/* ---- Key templates ------------------------------------------------------------------- */

static void key_add(redis_key_tmpl *t, bool field, const char *s, size_t len)
{
    if (len == 0)
        return;
    t->parts = sl_xrealloc(t->parts, (t->n + 1) * sizeof *t->parts);
    redis_key_part *p = &t->parts[t->n++];
    p->field = field;
    p->text = sl_xmalloc(len + 1);
    memcpy(p->text, s, len);
    p->text[len] = '\0';
    p->len = len;
    p->has_pct = !field && memchr(s, '%', len) != NULL;
    if (field || p->has_pct)
        t->dynamic = true;
}

int redis_key_compile(redis_key_tmpl *t, const char *s, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    if (!s || !*s)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "key must not be empty");
    const char *p = s;
    while (*p) {
        const char *open = strstr(p, "{{");
        if (!open) {
            key_add(t, false, p, strlen(p));
            break;
        }
        key_add(t, false, p, (size_t)(open - p));
        const char *close = strstr(open + 2, "}}");
        if (!close) {
            redis_key_free(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "key \"%s\": \"{{\" without \"}}\"", s);
        }
        const char *a = open + 2, *b = close;
        while (a < b && *a == ' ')
            a++;
        while (b > a && b[-1] == ' ')
            b--;
        if (a == b) {
            redis_key_free(t);
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "key \"%s\": empty {{ }}", s);
        }
        key_add(t, true, a, (size_t)(b - a));
        p = close + 2;
    }
    return 0;
}

void redis_key_free(redis_key_tmpl *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->parts[i].text);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

void redis_key_render(const redis_key_tmpl *t, const sl_event *e, sl_buf *out)
{
    /* Batches share timestamps: the broken-down time is cached per second and thread. */
    static _Thread_local int64_t cached_sec = INT64_MIN;
    static _Thread_local struct tm ctm;
    for (size_t i = 0; i < t->n; i++) {
        const redis_key_part *p = &t->parts[i];
        if (p->field) {
            const sl_field *f = event_get(e, p->text, p->len);
            if (f && f->type == SL_VAL_STR && f->v.s.len) {
                buf_append(out, f->v.s.ptr, SL_MIN(f->v.s.len, (uint32_t)256));
            } else if (f && f->type == SL_VAL_INT) {
                buf_printf(out, "%lld", (long long)f->v.i);
            } else if (f && f->type == SL_VAL_BOOL) {
                buf_puts(out, f->v.b ? "true" : "false");
            } else {
                buf_puts(out, "unknown");
            }
        } else if (!p->has_pct) {
            buf_append(out, p->text, p->len);
        } else {
            int64_t sec = e->ts_ns / 1000000000;
            if (e->ts_ns < 0 && e->ts_ns % 1000000000)
                sec--;
            if (sec != cached_sec) {
                time_t tt = (time_t)sec;
                if (!gmtime_r(&tt, &ctm)) {
                    memset(&ctm, 0, sizeof ctm);
                    ctm.tm_year = 70;
                    ctm.tm_mday = 1;
                }
                cached_sec = sec;
            }
            char tmp[512];
            size_t n = strftime(tmp, sizeof tmp, p->text, &ctm);
            buf_append(out, tmp, n);
        }
    }
}

/* ---- Values -------------------------------------------------------------------------- */

bool redis_decode_value(sl_batch *b, const char *s, size_t n)
{
    uint32_t before = b->n;
    /* json_encode_event always starts with the timestamp: other JSON is someone else's. */
    static const char head[] = "{\"timestamp\":";
    if (n > sizeof head - 1 && memcmp(s, head, sizeof head - 1) == 0 &&
        json_decode_event(b, s, n) == SL_OK && b->n == before + 1)
        return true;
    /* Not ours: the text is the message, time is now. */
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    e->message = batch_str(b, s, SL_MIN(n, (size_t)UINT32_MAX));
    b->bytes += event_size(e);
    return false;
}

/* ---- Stream entries ------------------------------------------------------------------ */

static bool is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && r->str;
}

size_t redis_stream_walk(const redisReply *entries, redis_entry_fn fn, void *arg)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return 0;
    size_t bad = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (!e || e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !is_str(e->element[0])) {
            bad++;
            continue;
        }
        const redisReply *f = e->element[1];
        if (f && f->type == REDIS_REPLY_NIL)
            f = NULL;
        else if (!f || f->type != REDIS_REPLY_ARRAY) {
            bad++;
            continue;
        }
        fn(arg, e->element[0]->str, e->element[0]->len, f);
    }
    return bad;
}

bool redis_decode_fields(sl_batch *b, const redisReply *fields)
{
    size_t n = fields ? fields->elements / 2 : 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = fields->element[2 * i], *v = fields->element[2 * i + 1];
        if (is_str(k) && is_str(v) && k->len == sizeof REDIS_STREAM_FIELD - 1 &&
            memcmp(k->str, REDIS_STREAM_FIELD, k->len) == 0)
            return redis_decode_value(b, v->str, v->len);
    }
    sl_event *e = batch_add(b);
    e->ts_ns = sl_now_ns();
    for (size_t i = 0; i < n; i++) {
        const redisReply *k = fields->element[2 * i], *v = fields->element[2 * i + 1];
        if (!is_str(k) || !is_str(v) || k->len == 0 || k->len > 1024)
            continue;
        if (k->len == 7 && memcmp(k->str, "message", 7) == 0 && !e->message.ptr) {
            e->message = batch_str(b, v->str, SL_MIN(v->len, (size_t)UINT32_MAX));
            continue;
        }
        sl_field *f = event_add_field(b, e, k->str, k->len);
        f->type = SL_VAL_STR;
        f->v.s = batch_str(b, v->str, SL_MIN(v->len, (size_t)UINT32_MAX));
    }
    if (!e->message.ptr)
        e->message = batch_str(b, "", 0);
    b->bytes += event_size(e);
    return false;
}
