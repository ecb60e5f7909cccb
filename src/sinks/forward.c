/* forward.c - the `forward` sink: PackedForward (optionally gzip) to Fluentd, Fluent Bit or
 * another sluice, with chunk acks, the shared-key handshake, TLS and failover.
 *
 * Notes on the design
 *  1. A pool of connections, one per concurrent send (the runtime's concurrency), each
 *     used by one send at a time; the runtime's retries are the retransmits. Per
 *     connection: DOWN -> (connect, TLS, HELO/PING/PONG) -> UP -> DOWN on any error or
 *     missing ack; the next send reconnects, trying `servers` in order from the one that
 *     worked last (failover).
 *  2. Events are grouped into runs of one tag (field `tag`, else the `tag` option); each
 *     run is one message with its own chunk id. With require_ack, a run counts as
 *     delivered only when {"ack": chunk} comes back within ack_timeout; runs without an
 *     ack are reported RETRY per event (PARTIAL), so acked runs are not sent twice.
 *  3. Blocking I/O with socket timeouts: a connection's only user is the runtime thread
 *     that took it from the pool. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "formats/msgpack.h"
#include "net/dial.h"
#include "net/forward.h"
#include "net/tls_client.h"
#include "net/url.h"

typedef struct fsink_config {
    sl_strlist servers;
    char *tag, *shared_key, *self_hostname, *username, *password, *message_key;
    int compression;
    bool require_ack;
    int64_t ack_timeout_ms, connect_timeout_ms;
    tls_client_config tls;
} fsink_config;

static const char *const fsink_compressions[] = {"none", "gzip", NULL};

#define O(name, type, field, def, flags, choices, min, max, help) \
    {name, type, offsetof(fsink_config, field), def, flags, choices, NULL, min, max, help}
static const sl_option fsink_options[] = {
    O("servers", SL_OPT_STRLIST, servers, NULL, SL_OPT_REQUIRED, NULL, 0, 0,
      "host:port list; the first that answers is used, the next ones on failure"),
    O("tag", SL_OPT_STR, tag, "sluice", 0, NULL, 0, 0, "tag of events without a `tag` field"),
    O("message_key", SL_OPT_STR, message_key, "message", 0, NULL, 0, 0,
      "record key of the message (log: as Fluent Bit's tail and Docker write records, for a "
      "receiver whose filters read `log`)"),
    O("compression", SL_OPT_ENUM, compression, "none", 0, fsink_compressions, 0, 0,
      "gzip sends CompressedPackedForward"),
    O("require_ack", SL_OPT_BOOL, require_ack, "true", 0, NULL, 0, 0,
      "send chunk ids and count a message delivered only once the server acks it"),
    O("ack_timeout", SL_OPT_DURATION, ack_timeout_ms, "30s", 0, NULL, 1, 3600000,
      "no ack within this: reconnect and retransmit"),
    O("connect_timeout", SL_OPT_DURATION, connect_timeout_ms, "5s", 0, NULL, 1, 600000,
      "TCP connect + TLS + handshake"),
    O("shared_key", SL_OPT_STR, shared_key, NULL, 0, NULL, 0, 0,
      "answer the server's HELO with this shared key"),
    O("self_hostname", SL_OPT_STR, self_hostname, "sluice", 0, NULL, 0, 0,
      "hostname sent in PING"),
    O("username", SL_OPT_STR, username, NULL, 0, NULL, 0, 0, "user for servers with users"),
    O("password", SL_OPT_STR, password, NULL, 0, NULL, 0, 0, "password for servers with users"),
    {"tls", SL_OPT_OBJECT, offsetof(fsink_config, tls), NULL, 0, NULL, tls_client_options, 0, 0,
     "TLS client: enabled, verify, ca_file, cert_file, key_file, server_name"},
    SL_OPT_END,
};
#undef O

/* One connection; used by one send at a time. */
typedef struct fconn {
    const fsink_config *cfg;
    const sl_component_ctx *cc;
    SSL_CTX *tls; /* borrowed from the sink */
    int fd;
    SSL *ssl;
    size_t cur; /* index in servers of the current / last good server */
    sl_buf out, entries, rbuf;
    size_t roff;
    char err[256];
} fconn;

#define FSINK_POOL 64

/* The sink: a pool of connections, one per concurrent send (note 1). */
typedef struct fsink {
    const fsink_config *cfg;
    const sl_component_ctx *cc;
    SSL_CTX *tls;
    pthread_mutex_t mu;
    fconn *pool[FSINK_POOL];
    bool busy[FSINK_POOL];
    size_t npool;
} fsink;

static int fsink_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                      size_t errlen)
{
    const fsink_config *cfg = config;
    if (!cfg->message_key || !cfg->message_key[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "message_key: a record key is needed");
    fsink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = config;
    s->cc = cc;
    pthread_mutex_init(&s->mu, NULL);
    for (size_t i = 0; i < s->cfg->servers.n; i++) {
        char host[256];
        int port;
        if (url_parse_hostport(s->cfg->servers.v[i], host, sizeof host, &port, err, errlen) !=
            SL_OK) {
            free(s);
            return SL_ERR_CONFIG;
        }
    }
    if (s->cfg->shared_key && lazylib_need(&lazy_openssl, "shared_key", err, errlen) != SL_OK) {
        free(s);
        return SL_ERR_CONFIG;
    }
    s->tls = tls_client_ctx_new(&s->cfg->tls, err, errlen);
    if (!s->tls && err[0]) {
        free(s);
        return SL_ERR_CONFIG;
    }
    *self = s;
    return SL_OK;
}

static void disconnect(fconn *s)
{
    if (s->ssl) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    buf_reset(&s->rbuf);
    s->roff = 0;
}

static int io_write(fconn *s, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w;
        if (s->ssl) {
            int r = SSL_write(s->ssl, c, (int)SL_MIN(n, (size_t)1 << 30));
            if (r <= 0) {
                ERR_clear_error();
                return SL_ERR_IO;
            }
            w = r;
        } else {
            w = send(s->fd, c, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return SL_ERR_IO;
        }
        c += w;
        n -= (size_t)w;
    }
    return SL_OK;
}

/* Reads the next complete msgpack object; *o points into rbuf until the next read. */
static int io_read_obj(fconn *s, const uint8_t **op, size_t *olen, int64_t deadline_ms)
{
    for (;;) {
        if (s->rbuf.len > s->roff) {
            mp_reader r = {(const uint8_t *)s->rbuf.p + s->roff, (const uint8_t *)s->rbuf.p + s->rbuf.len};
            int rc = mp_skip(&r, 8, 1 << 20);
            if (rc == MP_OK) {
                *op = (const uint8_t *)s->rbuf.p + s->roff;
                *olen = (size_t)(r.p - *op);
                s->roff += *olen;
                return SL_OK;
            }
            if (rc != MP_NEED_MORE)
                return SL_ERR_CORRUPT;
        }
        if (s->roff == s->rbuf.len) {
            buf_reset(&s->rbuf);
            s->roff = 0;
        }
        int64_t left = deadline_ms - sl_mono_ms();
        if (left <= 0)
            return SL_ERR_TIMEOUT;
        if (!s->ssl || SSL_pending(s->ssl) == 0) {
            struct pollfd p = {s->fd, POLLIN, 0};
            int pr = poll(&p, 1, (int)SL_MIN(left, 1000));
            if (pr < 0 && errno != EINTR)
                return SL_ERR_IO;
            if (pr <= 0)
                continue;
        }
        buf_reserve(&s->rbuf, 4096);
        ssize_t n;
        if (s->ssl) {
            int r = SSL_read(s->ssl, s->rbuf.p + s->rbuf.len, 4096);
            if (r <= 0) {
                int e = SSL_get_error(s->ssl, r);
                ERR_clear_error();
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    continue;
                return SL_ERR_IO;
            }
            n = r;
        } else {
            n = recv(s->fd, s->rbuf.p + s->rbuf.len, 4096, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return SL_ERR_IO;
        }
        s->rbuf.len += (size_t)n;
    }
}

static int tcp_connect(fconn *s, const char *host, int port, int64_t deadline)
{
    dial_fail fail;
    int fd = net_dial(host[0] ? host : "127.0.0.1", port, deadline * 1000000LL, &fail, s->err,
                      sizeof s->err);
    if (fd >= 0) {
        /* Back to blocking, with timeouts for the TLS handshake and writes. */
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct timeval tv = {(time_t)(s->cfg->ack_timeout_ms / 1000),
                             (suseconds_t)(s->cfg->ack_timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

static bool obj_str(const mp_obj *o, const char *want)
{
    size_t n = strlen(want);
    return (o->type == MP_STR || o->type == MP_BIN) && o->len == n && memcmp(o->p, want, n) == 0;
}

/* HELO -> PING -> PONG as a client (net/forward.h). The salt is 16 random bytes written as
 * 32 hex digits, as Fluentd's out_forward does: a msgpack str that is also valid UTF-8, so
 * Fluent Bit (str only) and strict decoders alike take it. */
static int handshake(fconn *s, int64_t deadline)
{
    const uint8_t *p;
    size_t n;
    if (io_read_obj(s, &p, &n, deadline) != SL_OK) {
        snprintf(s->err, sizeof s->err, "no HELO from the server");
        return SL_ERR_IO;
    }
    fwd_helo h;
    if (fwd_parse_helo(p, n, &h) != SL_OK) {
        snprintf(s->err, sizeof s->err, "malformed HELO from the server");
        return SL_ERR_CORRUPT;
    }
    uint8_t rnd[16], salt[32];
    if (sl_random_bytes(rnd, sizeof rnd) != SL_OK) {
        snprintf(s->err, sizeof s->err, "no random bytes for the PING's salt");
        return SL_ERR_IO;
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof rnd; i++)
        salt[2 * i] = (uint8_t)hex[rnd[i] >> 4], salt[2 * i + 1] = (uint8_t)hex[rnd[i] & 15];
    const fsink_config *c = s->cfg;
    sl_buf b = SL_BUF_INIT;
    fwd_encode_ping(&b, &h, c->self_hostname, salt, sizeof salt, c->shared_key,
                    c->username ? c->username : "", c->password ? c->password : "");
    /* Keep the nonce: it lives in rbuf, which the next read may move. */
    uint8_t nonce[256];
    size_t nl = SL_MIN(h.nonce_len, sizeof nonce);
    memcpy(nonce, h.nonce, nl);
    int rc = io_write(s, b.p, b.len);
    buf_free(&b);
    if (rc != SL_OK || io_read_obj(s, &p, &n, deadline) != SL_OK) {
        snprintf(s->err, sizeof s->err, "no PONG from the server");
        return SL_ERR_IO;
    }
    return fwd_check_pong(p, n, salt, sizeof salt, nonce, nl, c->shared_key, s->err,
                          sizeof s->err);
}

static int connect_one(fconn *s, const char *addr)
{
    char host[256];
    int port;
    char e[128];
    if (url_parse_hostport(addr, host, sizeof host, &port, e, sizeof e) != SL_OK)
        return SL_ERR_CONFIG;
    int64_t deadline = sl_mono_ms() + s->cfg->connect_timeout_ms;
    s->fd = tcp_connect(s, host, port, deadline);
    if (s->fd < 0)
        return SL_ERR_IO;
    if (s->tls) {
        char e2[256];
        s->ssl = tls_client_handshake(s->tls, &s->cfg->tls, s->fd, host,
                                      SL_MAX(deadline - sl_mono_ms(), 1), e2, sizeof e2);
        if (!s->ssl) {
            snprintf(s->err, sizeof s->err, "TLS to %.80s: %.160s", addr, e2);
            disconnect(s);
            return SL_ERR_IO;
        }
    }
    if (s->cfg->shared_key) {
        int rc = handshake(s, deadline);
        if (rc != SL_OK) {
            disconnect(s);
            return rc;
        }
    }
    return SL_OK;
}

/* Connected and not closed by the peer? Reconnects (with failover) when needed. */
static int ensure_connected(fconn *s)
{
    if (s->fd >= 0) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 0) == 0 && s->rbuf.len == s->roff)
            return SL_OK;
        disconnect(s); /* readable while idle: EOF, or bytes we never asked for */
    }
    size_t n = s->cfg->servers.n;
    for (size_t i = 0; i < n; i++) {
        size_t k = (s->cur + i) % n;
        int rc = connect_one(s, s->cfg->servers.v[k]);
        if (rc == SL_OK) {
            if (k != s->cur || i)
                log_info(s->cc->id, "connected to %s", s->cfg->servers.v[k]);
            s->cur = k;
            return SL_OK;
        }
        log_debug(s->cc->id, "%s: %s", s->cfg->servers.v[k], s->err);
    }
    return SL_ERR_IO;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ c[i]) * 1099511628211ull;
    return h;
}

static uint64_t event_id_hash(uint64_t h, const sl_event *e)
{
    if (e->id_str.len)
        return fnv(h, e->id_str.ptr, e->id_str.len);
    h = fnv(h, &e->id_stream, sizeof e->id_stream);
    return fnv(h, &e->id_seq, sizeof e->id_seq);
}

static pthread_once_t chunk_prefix_once = PTHREAD_ONCE_INIT;
static uint64_t chunk_prefix;
static atomic_uint_fast64_t chunk_seq;

static void chunk_prefix_init(void)
{
    if (sl_random_bytes(&chunk_prefix, sizeof chunk_prefix) != SL_OK)
        chunk_prefix = (uint64_t)sl_now_ns() ^ (uint64_t)getpid() << 32;
}

/* The chunk id of events[start, end): derived from their stable ids when they have them,
 * so a retransmission carries the same chunk id (and the receiver the same event ids);
 * random otherwise. */
static void new_chunk(char out[32], sl_event *const *events, size_t start, size_t end)
{
    const sl_event *a = events[start], *z = events[end - 1];
    if (a->id_str.len || a->id_stream || a->id_seq) {
        uint64_t n = end - start;
        uint64_t h1 = event_id_hash(fnv(1469598103934665603ull, &n, sizeof n), a);
        uint64_t h2 = event_id_hash(fnv(h1 ^ 0x9e3779b97f4a7c15ull, &n, sizeof n), z);
        unsigned char r[16];
        memcpy(r, &h1, 8);
        memcpy(r + 8, &h2, 8);
        base64_encode(out, r, sizeof r);
        return;
    }
    /* a random prefix drawn once per process, then a counter: unique without a system
     * call per message */
    pthread_once(&chunk_prefix_once, chunk_prefix_init);
    uint64_t n = atomic_fetch_add(&chunk_seq, 1);
    unsigned char r[16];
    memcpy(r, &chunk_prefix, 8);
    memcpy(r + 8, &n, 8);
    base64_encode(out, r, sizeof r); /* 24 chars + NUL */
}

static sl_str event_tag(const fconn *s, const sl_event *e)
{
    const sl_field *f = event_get(e, "tag", 3);
    if (f && f->type == SL_VAL_STR && f->v.s.len)
        return f->v.s;
    return (sl_str){s->cfg->tag, (uint32_t)strlen(s->cfg->tag)};
}

static int conn_send(fconn *s, sl_event *const *events, size_t n, sl_send_result *res)
{
    const sl_str msg_key = {s->cfg->message_key, (uint32_t)strlen(s->cfg->message_key)};
    if (ensure_connected(s) != SL_OK) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "no server reachable: %.200s", s->err);
        return SL_OK;
    }
    /* Runs of one tag -> one message each. */
    typedef struct run {
        size_t start, end;
        char chunk[32];
    } run;
    size_t nruns = 0, cap = 8;
    run *runs = sl_xmalloc(cap * sizeof *runs);
    buf_reset(&s->out);
    int rc = SL_OK;
    for (size_t i = 0; i < n;) {
        sl_str tag = event_tag(s, events[i]);
        size_t j = i;
        buf_reset(&s->entries);
        while (j < n) {
            sl_str t = event_tag(s, events[j]);
            if (t.len != tag.len || memcmp(t.ptr, tag.ptr, t.len) != 0)
                break;
            fwd_encode_entry(&s->entries, events[j], msg_key);
            j++;
        }
        if (nruns == cap)
            runs = sl_xrealloc(runs, (cap *= 2) * sizeof *runs);
        run *r = &runs[nruns++];
        r->start = i, r->end = j;
        if (s->cfg->require_ack)
            new_chunk(r->chunk, events, i, j);
        if (fwd_encode_packed(&s->out, tag.ptr, tag.len, &s->entries, (uint32_t)(j - i),
                              s->cfg->require_ack ? r->chunk : NULL, s->cfg->compression == 1) != SL_OK) {
            rc = SL_ERR_NOMEM;
            break;
        }
        i = j;
    }
    if (rc != SL_OK) {
        free(runs);
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "compression failed");
        return SL_OK;
    }
    if (io_write(s, s->out.p, s->out.len) != SL_OK) {
        disconnect(s);
        free(runs);
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "write to %s failed", s->cfg->servers.v[s->cur]);
        return SL_OK;
    }
    if (!s->cfg->require_ack) {
        free(runs);
        res->status = SL_SEND_OK;
        return SL_OK;
    }
    /* Acks come back in order; a missing one fails that run and every later one. */
    size_t acked = 0;
    int64_t deadline = sl_mono_ms() + s->cfg->ack_timeout_ms;
    while (acked < nruns) {
        const uint8_t *p;
        size_t len;
        if (io_read_obj(s, &p, &len, deadline) != SL_OK)
            break;
        mp_reader r = {p, p + len};
        mp_obj m, k, v;
        if (mp_read(&r, &m) != MP_OK || m.type != MP_MAP || m.len < 1 || mp_read(&r, &k) != MP_OK ||
            !obj_str(&k, "ack") || mp_read(&r, &v) != MP_OK || !obj_str(&v, runs[acked].chunk))
            break;
        acked++;
    }
    if (acked == nruns) {
        free(runs);
        res->status = SL_SEND_OK;
        return SL_OK;
    }
    disconnect(s);
    if (acked == 0) {
        res->status = SL_SEND_RETRY;
    } else {
        res->status = SL_SEND_PARTIAL;
        for (size_t i = 0; i < nruns; i++)
            for (size_t e = runs[i].start; e < runs[i].end; e++)
                res->item_status[e] = i < acked ? SL_ITEM_OK : SL_ITEM_RETRY;
    }
    snprintf(res->reason, sizeof res->reason, "no ack from %s within ack_timeout",
             s->cfg->servers.v[s->cur]);
    free(runs);
    return SL_OK;
}

/* Takes a free connection from the pool (a new one when all are busy), sends, gives it
 * back. Connections stay open between sends. */
static int fsink_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    fsink *s = self;
    size_t slot = FSINK_POOL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->npool; i++)
        if (!s->busy[i]) {
            slot = i;
            break;
        }
    if (slot == FSINK_POOL && s->npool < FSINK_POOL) {
        fconn *c = sl_xcalloc(1, sizeof *c);
        c->cfg = s->cfg, c->cc = s->cc, c->tls = s->tls, c->fd = -1;
        slot = s->npool;
        s->pool[s->npool++] = c;
    }
    if (slot != FSINK_POOL)
        s->busy[slot] = true;
    pthread_mutex_unlock(&s->mu);
    if (slot == FSINK_POOL) { /* more concurrent sends than connections: try later */
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "all %d connections busy", FSINK_POOL);
        return SL_OK;
    }
    int rc = conn_send(s->pool[slot], events, n, res);
    pthread_mutex_lock(&s->mu);
    s->busy[slot] = false;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void fsink_destroy(void *self)
{
    fsink *s = self;
    if (!s)
        return;
    for (size_t i = 0; i < s->npool; i++) {
        fconn *c = s->pool[i];
        disconnect(c);
        buf_free(&c->out);
        buf_free(&c->entries);
        buf_free(&c->rbuf);
        free(c);
    }
    if (s->tls)
        SSL_CTX_free(s->tls);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const sl_sink_vtable sl_sink_forward = {
    .type = "forward",
    .help = "Fluent Forward protocol client (PackedForward, gzip, acks, shared key, TLS, "
            "failover) to Fluentd, Fluent Bit or sluice",
    .options = fsink_options,
    .config_size = sizeof(fsink_config),
    .init = fsink_init,
    .send = fsink_send,
    .destroy = fsink_destroy,
};
