/* server.c - epoll TCP/TLS server for network sources: one thread, level-triggered,
 * per-connection read buffer and write queue, limits and timeouts.
 *
 * Notes on the design
 *  1. Everything runs on the source's thread; callbacks may block (source_emit under
 *     backpressure), which stops reading every socket: TCP then pushes back on the peers.
 *  2. A connection lives in a slot; its id is slot | generation << 32, so a late ack for a
 *     closed connection finds nothing instead of a newcomer in the same slot.
 *  3. States: TLS_HANDSHAKE -> OPEN (on_open) -> READY (protocol handshake done, see
 *     net_conn_set_ready) -> CLOSING (write queue drains) -> closed (on_close). A
 *     connection not READY within handshake_timeout, or silent for idle_timeout, is closed.
 *  4. A paused connection is not polled for input, so level-triggered epoll does not spin.
 *  5. OpenSSL may hold decrypted bytes the socket no longer signals; such connections are
 *     read again on the next turn without waiting.
 *  6. Memory: a turn reads up to 512 KiB of one connection into one scratch buffer shared by
 *     all connections, behind that connection's leftover, and the protocol parses it all
 *     at once. Only the new leftover (an incomplete message) is copied back into the
 *     connection's own buffer, so an idle connection costs no buffer and an active one
 *     only its partial message.
 *  7. Framed reads keep even that partial message out of the process when the protocol
 *     can size its messages (frame_size) and they are large: the server peeks the
 *     header, and reads a message only once the kernel holds all of it, waiting for it
 *     with SO_RCVLOWAT (the kernel grows the socket buffer to fit, and TCP pushes back
 *     on the sender meanwhile). So 100 busy connections cost 100 socket buffers, not 100
 *     half messages on the heap. Small messages, TLS, a peer that closes mid-message, a
 *     low-water mark the kernel caps, or a wait that stalls for 2 s (sweep) fall back to the
 *     reads of note 6 until the message is complete.
 *  8. A peer that shuts its side of the connection after its requests (a client that
 *     half-closes, pipelined requests then EOF) while the protocol is paused waiting to
 *     answer (http: for the ack of the request) keeps the connection: it is not polled for
 *     input any more, the rest of what it sent is parsed on resume, and it closes once the
 *     protocol no longer waits and the answers are written. Closing at the EOF dropped the
 *     answer to a request already accepted (so the client sent it again) and the requests
 *     behind it.
 *  9. Closing after an answer (a 413 sent before the body it refuses, a 431, a protocol
 *     error) lingers: close() on a socket with input unread makes the kernel send a reset,
 *     which can destroy the answer before the peer has read it (curl then reports "send
 *     failure" instead of the 413). So the server shuts its side (the peer sees EOF after
 *     the answer), reads and drops what still comes, and closes at the peer's EOF or after
 *     LINGER_MS. The protocol is told the connection closed (on_close) when it starts to
 *     linger, and net_server_find no longer finds it. TLS connections close at once. */
#include "server.h"

#include <errno.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "net/url.h"

static const char *const client_auth_choices[] = {"none", "optional", "required", NULL};

const sl_option net_tls_server_options[] = {
    {"cert_file", SL_OPT_STR, offsetof(net_tls_config, cert_file), NULL, 0, NULL, NULL, 0, 0,
     "PEM certificate chain; TLS is on when set"},
    {"key_file", SL_OPT_STR, offsetof(net_tls_config, key_file), NULL, 0, NULL, NULL, 0, 0,
     "PEM private key"},
    {"ca_file", SL_OPT_STR, offsetof(net_tls_config, ca_file), NULL, 0, NULL, NULL, 0, 0,
     "CA bundle that client certificates are verified against"},
    {"client_auth", SL_OPT_ENUM, offsetof(net_tls_config, client_auth), "none", 0,
     client_auth_choices, NULL, 0, 0, "ask for client certificates: none, optional, required"},
    SL_OPT_END,
};

enum { ST_TLS = 0, ST_OPEN, ST_READY, ST_CLOSING, ST_LINGER };
#define LINGER_MS 2000 /* note 9 */

typedef struct conn {
    net_conn pub;
    int fd;
    SSL *ssl;
    int state;
    uint32_t slot;
    uint32_t epoll_events;
    sl_buf out;
    size_t out_off;
    int64_t active_ms;
    int64_t deadline_ms; /* net_conn_set_deadline, 0 = none */
    bool more; /* TLS bytes buffered inside OpenSSL */
    bool peer_done; /* the peer shut its side while the protocol was paused (note 8) */
    int64_t linger_until; /* ST_LINGER: closed at this time at the latest (note 9) */
    /* Framed reads (note 7): the socket's low-water mark (0 = the kernel's default 1),
     * what the kernel held at the last sweep while waiting, and `greedy` until the
     * current message is complete after a fallback. */
    int lowat;
    int lowat_avail;
    bool greedy;
} conn;

struct net_server {
    const net_server_config *cfg;
    const net_server_cb *cb;
    void *arg;
    int lfd, efd, port;
    SSL_CTX *tls;
    conn **slots;
    uint32_t *gens;
    size_t nslots, nconns;
    int64_t last_sweep_ms, last_log_ms;
    uint64_t suppressed;
    sl_buf scratch; /* shared read buffer (note 6) */
    int64_t accept_paused_until; /* 0, or when to poll the listener again (EMFILE) */
    struct {
        int fd;
        void (*fn)(void *arg, int fd);
        void *arg;
    } watch[4]; /* net_server_watch; epoll ids WATCH_ID - i */
    size_t nwatch;
};

#define WATCH_ID (UINT64_MAX - 1)

#define READ_CHUNK (128 * 1024)
#define TURN_BYTES (512 * 1024) /* read per connection per turn, then parse */
#define FRAMED_MIN (32 * 1024)  /* smaller messages are read greedily (note 7) */
#define FRAMED_MAX (16 << 20)
#define FRAMED_RCVBUF (1 << 20) /* the kernel doubles it; the window is about half */
#define FRAMED_PEEK 512         /* header bytes peeked to size a message */

void net_peer_host(const void *sa, char *host, size_t hostlen, int *port)
{
    const struct sockaddr_storage *ss = sa;
    int p = 0;
    snprintf(host, hostlen, "?");
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = sa;
        inet_ntop(AF_INET, &a->sin_addr, host, (socklen_t)hostlen);
        p = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = sa;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr))
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], host, (socklen_t)hostlen);
        else
            inet_ntop(AF_INET6, &a->sin6_addr, host, (socklen_t)hostlen);
        p = ntohs(a->sin6_port);
    }
    if (port)
        *port = p;
}

/* At most one line a second per server; repeats are counted into the next line. */
void net_server_warn(net_server *s, const char *fmt, ...)
{
    int64_t now = sl_mono_ms();
    if (now - s->last_log_ms < 1000) {
        s->suppressed++;
        return;
    }
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->suppressed)
        log_warn(s->cfg->component, "%s (and %llu more such lines suppressed)", msg,
                 (unsigned long long)s->suppressed);
    else
        log_warn(s->cfg->component, "%s", msg);
    s->suppressed = 0;
    s->last_log_ms = now;
}

static int tls_ctx_new(SSL_CTX **out, const net_tls_config *t, char *err, size_t errlen)
{
    if (!t->key_file)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: key_file is required with cert_file");
    /* A file that is not there is said plainly, not in OpenSSL's words; each message starts
     * with the option's path, so a config error points at the option. */
    const char *files[3][2] = {{"cert_file", t->cert_file}, {"key_file", t->key_file},
                               {"ca_file", t->ca_file}};
    for (int i = 0; i < 3; i++)
        if (files[i][1] && access(files[i][1], R_OK) != 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls.%s: \"%s\": %s", files[i][0],
                             files[i][1], strerror(errno));
    if (lazylib_need(&lazy_openssl, "tls", err, errlen) != SL_OK)
        return SL_ERR_CONFIG;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "tls: cannot create context");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    char e[256] = "";
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1) {
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        SSL_CTX_free(ctx);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls.cert_file: \"%s\": %s", t->cert_file, e);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        ERR_error_string_n(ERR_get_error(), e, sizeof e);
        SSL_CTX_free(ctx);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls.key_file: \"%s\": %s", t->key_file, e);
    }
    if (t->client_auth != NET_CLIENT_AUTH_NONE) {
        if (!t->ca_file || SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1) {
            SSL_CTX_free(ctx);
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "tls.ca_file: client_auth needs a CA bundle it can load");
        }
        int mode = SSL_VERIFY_PEER;
        if (t->client_auth == NET_CLIENT_AUTH_REQUIRED)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
    }
    *out = ctx;
    return SL_OK;
}

int net_tls_check(const net_tls_config *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    if (!t || !t->cert_file)
        return SL_OK;
    int rc = tls_ctx_new(&ctx, t, err, errlen);
    if (ctx)
        SSL_CTX_free(ctx);
    return rc;
}

/* Why a bind or listen failed, in words a user acts on; NULL when strerror says it best. */
static const char *bind_why(int e)
{
    return e == EADDRINUSE      ? "port already in use"
           : e == EADDRNOTAVAIL ? "no such local address on this host"
           : e == EACCES        ? "permission denied (ports below 1024 need privileges)"
                                : NULL;
}

int net_listen(const char *address, const char *host, int port, int backlog, int *bound,
               char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (gai != 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address \"%s\": cannot resolve host: %s",
                         address, gai_strerror(gai));
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        const char *why = bind_why(saved);
        if (why)
            return sl_seterr(err, errlen, SL_ERR_IO, "address \"%s\": %s", address, why);
        return sl_seterr(err, errlen, SL_ERR_IO, "address \"%s\": cannot listen: %s", address,
                         strerror(saved));
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    *bound = port;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

int net_bind_udp(const char *address, const char *host, int port, int rcvbuf, char *err,
                 size_t errlen)
{
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, portstr, &hints, &res);
    if (gai != 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "address \"%s\": cannot resolve host: %s",
                         address, gai_strerror(gai));
    /* No SO_REUSEADDR: on UDP it would let a second program bind the port beside us and
     * take part of the datagrams; UDP has no TIME_WAIT for it to help with. */
    int fd = socket(res->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
    /* FORCE where allowed (root, CAP_NET_ADMIN): SO_RCVBUF is capped at net.core.rmem_max */
    if (fd >= 0 && rcvbuf > 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
        e = errno;
        if (fd >= 0)
            close(fd);
    }
    freeaddrinfo(res);
    if (e) {
        const char *why = bind_why(e);
        return sl_seterr(err, errlen, SL_ERR_IO, "address \"%s\": %s (udp)", address,
                         why ? why : strerror(e));
    }
    return fd;
}

int net_probe_listen(const char *address, bool udp, char *err, size_t errlen)
{
    char host[256];
    int port = 0, bound = 0;
    int rc = url_parse_hostport(address, host, sizeof host, &port, err, errlen);
    if (rc != SL_OK)
        return rc;
    if (!udp) {
        int fd = net_listen(address, host, port, 1, &bound, err, errlen);
        if (fd < 0)
            return fd;
        close(fd);
        return SL_OK;
    }
    int fd = net_bind_udp(address, host, port, 0, err, errlen);
    if (fd < 0)
        return fd;
    close(fd);
    return SL_OK;
}

int net_server_open(net_server **out, const net_server_config *cfg, const net_server_cb *cb,
                    void *arg, char *err, size_t errlen)
{
    char host[256];
    int port = 0;
    int rc = url_parse_hostport(cfg->address, host, sizeof host, &port, err, errlen);
    if (rc != SL_OK)
        return rc;
    net_server *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg, s->cb = cb, s->arg = arg, s->lfd = -1, s->efd = -1;
    if (cfg->tls && cfg->tls->cert_file && (rc = tls_ctx_new(&s->tls, cfg->tls, err, errlen)) != SL_OK) {
        free(s);
        return rc;
    }
    s->lfd = net_listen(cfg->address, host, port, 1024, &s->port, err, errlen);
    if (s->lfd < 0) {
        rc = s->lfd;
        net_server_free(s);
        return rc;
    }
    s->efd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
    epoll_ctl(s->efd, EPOLL_CTL_ADD, s->lfd, &ev);
    s->nslots = (size_t)cfg->max_connections;
    s->slots = sl_xcalloc(s->nslots, sizeof *s->slots);
    s->gens = sl_xcalloc(s->nslots, sizeof *s->gens);
    *out = s;
    return SL_OK;
}

int net_server_port(const net_server *s) { return s->port; }

int net_server_watch(net_server *s, int fd, void (*fn)(void *arg, int fd), void *arg)
{
    if (s->nwatch == SL_ARRAY_LEN(s->watch))
        return SL_ERR_FULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WATCH_ID - s->nwatch};
    if (epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return SL_ERR_IO;
    s->watch[s->nwatch].fd = fd;
    s->watch[s->nwatch].fn = fn;
    s->watch[s->nwatch].arg = arg;
    s->nwatch++;
    return SL_OK;
}
size_t net_server_connections(const net_server *s) { return s->nconns; }

static void set_events(net_server *s, conn *c)
{
    uint32_t ev = 0;
    if (!c->pub.paused && c->state != ST_CLOSING && !c->peer_done)
        ev |= EPOLLIN | EPOLLRDHUP;
    if (c->out.len > c->out_off)
        ev |= EPOLLOUT;
    if (ev == c->epoll_events)
        return;
    struct epoll_event e = {.events = ev, .data.u64 = c->slot + 1};
    epoll_ctl(s->efd, EPOLL_CTL_MOD, c->fd, &e);
    c->epoll_events = ev;
}

static void conn_free(net_server *s, conn *c)
{
    if (c->state >= ST_OPEN && c->state != ST_LINGER && s->cb->on_close)
        s->cb->on_close(s->arg, &c->pub);
    epoll_ctl(s->efd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->ssl) {
        if (c->state != ST_TLS)
            SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    close(c->fd);
    s->slots[c->slot] = NULL;
    s->gens[c->slot]++;
    s->nconns--;
    buf_free(&c->pub.in);
    buf_free(&c->out);
    free(c);
}

/* A connection closing once its answers are written (note 9): lingers, or is freed. */
static void conn_finish(net_server *s, conn *c)
{
    if (c->ssl || c->peer_done || shutdown(c->fd, SHUT_WR) != 0) {
        conn_free(s, c);
        return;
    }
    if (s->cb->on_close)
        s->cb->on_close(s->arg, &c->pub);
    c->state = ST_LINGER;
    c->linger_until = sl_mono_ms() + LINGER_MS;
    buf_free(&c->pub.in);
    struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = c->slot + 1};
    epoll_ctl(s->efd, EPOLL_CTL_MOD, c->fd, &e);
    c->epoll_events = e.events;
}

/* Note 9: what a lingering peer still sends is dropped; its EOF (or an error) ends it. */
static void linger_read(net_server *s, conn *c)
{
    char drop[16384];
    for (int i = 0; i < 32; i++) { /* a turn's budget, as for reads */
        ssize_t n = recv(c->fd, drop, sizeof drop, 0);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn_free(s, c);
            return;
        }
        if (n < 0)
            return;
    }
}

net_conn *net_server_find(net_server *s, uint64_t id)
{
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot >= s->nslots || !s->slots[slot] || s->gens[slot] != gen ||
        s->slots[slot]->state == ST_LINGER)
        return NULL;
    return &s->slots[slot]->pub;
}

/* Returns bytes written, or -1 on a fatal error. */
static ssize_t raw_write(conn *c, const void *p, size_t n)
{
    if (c->ssl) {
        int w = SSL_write(c->ssl, p, (int)SL_MIN(n, (size_t)INT32_MAX));
        if (w > 0)
            return w;
        int e = SSL_get_error(c->ssl, w);
        return (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) ? 0 : -1;
    }
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w >= 0)
        return w;
    return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
}

/* Writes the queue; returns false if the connection broke. */
static bool flush_out(net_server *s, conn *c)
{
    while (c->out.len > c->out_off) {
        ssize_t w = raw_write(c, c->out.p + c->out_off, c->out.len - c->out_off);
        if (w < 0)
            return false;
        if (w == 0)
            break;
        c->out_off += (size_t)w;
        c->active_ms = sl_mono_ms();
    }
    if (c->out_off == c->out.len) {
        buf_reset(&c->out);
        c->out_off = 0;
    }
    set_events(s, c);
    return true;
}

static conn *impl(net_conn *pc) { return (conn *)((char *)pc - offsetof(conn, pub)); }

void net_conn_send(net_server *s, net_conn *pc, const void *p, size_t n)
{
    conn *c = impl(pc);
    if (c->state == ST_CLOSING && c->out.len == c->out_off)
        return;
    if (c->out.len - c->out_off > 4u << 20) {
        /* A peer that never reads its acks/answers: do not queue for it forever. */
        metrics_error(s->cfg->metrics, "slow_reader");
        net_server_warn(s, "closing %s: it does not read what it is sent", c->pub.peer);
        net_conn_close(s, pc, true);
        return;
    }
    buf_append(&c->out, p, n);
    if (!flush_out(s, c)) {
        c->state = ST_CLOSING;
        buf_reset(&c->out);
        c->out_off = 0;
    }
}

size_t net_conn_queued(net_conn *pc)
{
    conn *c = impl(pc);
    return c->out.len - c->out_off;
}

void net_conn_consume(net_conn *c, size_t n)
{
    if (n >= c->in.len) {
        c->in.len = 0;
        return;
    }
    memmove(c->in.p, c->in.p + n, c->in.len - n);
    c->in.len -= n;
}

void net_conn_close(net_server *s, net_conn *pc, bool now)
{
    conn *c = impl(pc);
    c->state = ST_CLOSING;
    if (now) {
        buf_reset(&c->out);
        c->out_off = 0;
    }
    set_events(s, c);
}

void net_conn_set_ready(net_server *s, net_conn *pc)
{
    conn *c = impl(pc);
    if (c->state == ST_OPEN)
        c->state = ST_READY;
}

static void read_conn(net_server *s, conn *c, uint32_t events);

void net_conn_set_deadline(net_server *s, net_conn *pc, int64_t deadline_ms)
{
    impl(pc)->deadline_ms = deadline_ms;
}

void net_conn_pause(net_server *s, net_conn *pc, bool paused)
{
    conn *c = impl(pc);
    if (pc->paused == paused)
        return;
    pc->paused = paused;
    if (!paused && c->ssl)
        c->more = true; /* OpenSSL may hold bytes that arrived while paused */
    set_events(s, c);
    if (!paused && c->state != ST_CLOSING && pc->in.len && s->cb->on_data(s->arg, pc) < 0)
        c->state = ST_CLOSING;
    if (c->peer_done && !pc->paused && c->state != ST_CLOSING) {
        c->state = ST_CLOSING; /* note 8: nothing more will come; close once written */
        set_events(s, c);
    }
}

static void do_accept(net_server *s)
{
    for (int i = 0; i < 256; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(s->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                metrics_error(s->cfg->metrics, "accept");
                net_server_warn(s, "accept: %s", strerror(errno));
                if (errno == EMFILE || errno == ENFILE) {
                    /* Out of descriptors: stop polling the listener for a moment rather
                     * than spin on a connection we cannot take. */
                    struct epoll_event ev = {.events = 0, .data.u64 = 0};
                    epoll_ctl(s->efd, EPOLL_CTL_MOD, s->lfd, &ev);
                    s->accept_paused_until = sl_mono_ms() + 100;
                }
            }
            return;
        }
        char host[INET6_ADDRSTRLEN];
        int port;
        net_peer_host(&ss, host, sizeof host, &port);
        if (s->nconns >= s->nslots) {
            metrics_error(s->cfg->metrics, "max_connections");
            net_server_warn(s, "refusing %s: max_connections reached", host);
            close(fd);
            continue;
        }
        uint32_t slot = 0;
        while (s->slots[slot])
            slot++;
        conn *c = sl_xcalloc(1, sizeof *c);
        c->fd = fd;
        c->slot = slot;
        c->pub.id = slot | (uint64_t)s->gens[slot] << 32;
        c->pub.opened_ms = c->active_ms = sl_mono_ms();
        snprintf(c->pub.peer, sizeof c->pub.peer, "%s:%d", host, port);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (s->cfg->keepalive_ms > 0) {
            int idle = (int)SL_MAX(s->cfg->keepalive_ms / 1000, 1), intvl = SL_MIN(idle, 10);
            int cnt = 6;
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
            setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
        }
        if (s->cb->frame_size && !s->tls) {
            /* Room for a whole large message while it waits in the kernel (note 7). */
            int rcv = FRAMED_RCVBUF;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
        }
        s->slots[slot] = c;
        s->nconns++;
        c->epoll_events = EPOLLIN | EPOLLRDHUP;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u64 = slot + 1};
        epoll_ctl(s->efd, EPOLL_CTL_ADD, fd, &ev);
        if (s->tls) {
            c->ssl = SSL_new(s->tls);
            SSL_set_fd(c->ssl, fd);
            SSL_set_accept_state(c->ssl);
            c->state = ST_TLS;
            continue;
        }
        c->state = ST_OPEN;
        if (s->cb->on_open && s->cb->on_open(s->arg, &c->pub) < 0)
            conn_free(s, c);
    }
}

static void tls_step(net_server *s, conn *c)
{
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = ST_OPEN;
        c->more = true; /* application bytes may already sit inside OpenSSL */
        if (s->cb->on_open && s->cb->on_open(s->arg, &c->pub) < 0)
            c->state = ST_CLOSING;
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return;
    char buf[256] = "";
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    metrics_error(s->cfg->metrics, "tls_handshake");
    net_server_warn(s, "TLS handshake with %s failed: %s", c->pub.peer, buf);
    conn_free(s, c);
}

/* Sets the socket's receive low-water mark (note 7); 0 = back to the default. Returns
 * false if the kernel capped it below v (its buffer cannot grow that far). */
static bool set_lowat(conn *c, int v)
{
    if (c->lowat == v)
        return true;
    int one = v ? v : 1, got = 0;
    socklen_t gl = sizeof got;
    c->lowat = v;
    c->lowat_avail = -1;
    if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one) != 0 ||
        getsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &got, &gl) != 0 || got < one) {
        one = 1;
        setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
        c->lowat = 0;
        return false;
    }
    return true;
}

/* Reads exactly n bytes the kernel already holds into in. False if it held fewer. */
static bool recv_exact(conn *c, sl_buf *in, size_t n)
{
    buf_reserve(in, n + FRAMED_PEEK);
    while (n) {
        ssize_t r = recv(c->fd, in->p + in->len, n, 0);
        if (r <= 0)
            return false;
        in->len += (size_t)r;
        n -= (size_t)r;
    }
    return true;
}

/* Framed reads (note 7): appends whole large messages to c->pub.in (which starts at a
 * message boundary), each once the kernel holds all of it; when the next one is not all
 * there, arms SO_RCVLOWAT for the rest (unless `hup`: the peer closed, so the rest of a
 * message is never coming and plain reads find the end). Returns true when the turn is done that way, false
 * to read greedily instead (small or unsized messages, a capped low-water mark, a short
 * read): what was appended stays, the greedy reads continue behind it. */
static bool read_framed(net_server *s, conn *c, size_t *got, bool hup)
{
    sl_buf *in = &c->pub.in;
    size_t frame = 0; /* where the current message starts in `in` */
    while (*got < TURN_BYTES) {
        int avail = 0;
        if (ioctl(c->fd, FIONREAD, &avail) != 0 || avail <= 0)
            return *got > 0 && set_lowat(c, 0); /* nothing more, or EOF: recv tells */
        size_t have = in->len - frame;
        size_t want = SL_MIN(have < FRAMED_PEEK ? FRAMED_PEEK - have : 0, (size_t)avail);
        buf_reserve(in, FRAMED_PEEK);
        ssize_t pk = want ? recv(c->fd, in->p + in->len, want, MSG_PEEK) : 0;
        if (pk < 0)
            return false;
        bool exact = false;
        size_t lb = s->cb->frame_size(s->arg, in->p + frame, have + (size_t)pk, &exact);
        if (lb < FRAMED_MIN || lb > FRAMED_MAX || lb < have)
            return false;
        size_t rest = lb - have, need = rest + !exact;
        if ((size_t)avail < need) {
            if (hup) /* the peer has closed (or failed): this message stays incomplete */
                return false;
            if (c->lowat == (int)need) { /* woken short of it: the kernel cannot queue more */
                c->greedy = true;
                return false;
            }
            return set_lowat(c, (int)need); /* wait in the kernel, not on the heap */
        }
        if (!recv_exact(c, in, rest))
            return false;
        *got += rest;
        if (!exact) {
            /* The option map after the entries: peek it and read exactly to its end. */
            size_t tail = SL_MIN((size_t)avail - rest, (size_t)FRAMED_PEEK);
            pk = recv(c->fd, in->p + in->len, tail, MSG_PEEK);
            if (pk <= 0)
                return false;
            size_t t = s->cb->frame_size(s->arg, in->p + frame, lb + (size_t)pk, &exact);
            if (!exact || t < lb || !recv_exact(c, in, t - lb))
                return false;
            *got += t - lb;
            lb = t;
        }
        frame += lb;
    }
    return set_lowat(c, 0); /* the turn's budget is used: come back at once */
}

/* Reads what is there (up to TURN_BYTES) into the server's shared scratch buffer behind
 * the connection's leftover, hands it all to the protocol at once, and keeps only the new
 * leftover (an incomplete message) in the connection's own buffer (note 6). */
static void read_conn(net_server *s, conn *c, uint32_t events)
{
    if (c->state == ST_LINGER) {
        linger_read(s, c);
        return;
    }
    if (c->peer_done && (events & (EPOLLHUP | EPOLLERR))) {
        conn_free(s, c); /* note 8: it reset too; nobody reads the answers now */
        return;
    }
    bool eof = false, broken = false;
    size_t got = 0;
    c->more = false;
    sl_buf own = c->pub.in;
    sl_buf *sc = &s->scratch;
    sc->len = 0;
    buf_append(sc, own.p, own.len);
    c->pub.in = *sc;
    bool hup = events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    bool framed = !c->ssl && s->cb->frame_size && !c->greedy && !c->pub.paused &&
                  c->state != ST_CLOSING && read_framed(s, c, &got, hup);
    if (!framed)
        set_lowat(c, 0);
    while (!framed && got < TURN_BYTES && !c->pub.paused && c->state != ST_CLOSING) {
        if (c->pub.in.cap - c->pub.in.len < READ_CHUNK)
            buf_reserve(&c->pub.in, READ_CHUNK);
        char *dst = c->pub.in.p + c->pub.in.len;
        size_t room = SL_MIN(c->pub.in.cap - c->pub.in.len, TURN_BYTES - got + READ_CHUNK);
        ssize_t n;
        if (c->ssl) {
            int r = SSL_read(c->ssl, dst, (int)SL_MIN(room, (size_t)INT32_MAX));
            if (r > 0) {
                n = r;
            } else {
                int e = SSL_get_error(c->ssl, r);
                if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                    break;
                if (e == SSL_ERROR_ZERO_RETURN)
                    eof = true;
                else
                    broken = true;
                ERR_clear_error();
                break;
            }
        } else {
            n = recv(c->fd, dst, room, 0);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                broken = true;
                break;
            }
            if (n == 0) {
                eof = true;
                break;
            }
        }
        c->pub.in.len += (size_t)n;
        got += (size_t)n;
    }
    if (got)
        c->active_ms = sl_mono_ms();
    size_t before = c->pub.in.len;
    if (got && !c->pub.paused && c->state != ST_CLOSING && s->cb->on_data(s->arg, &c->pub) < 0)
        c->state = ST_CLOSING;
    if (c->pub.in.len < before)
        c->greedy = false; /* the message that fell back is done: framed reads resume */
    if (c->ssl && SSL_pending(c->ssl) > 0)
        c->more = true;
    /* Take the scratch back; keep the leftover in the connection's own buffer. */
    *sc = c->pub.in;
    c->pub.in = own;
    c->pub.in.len = 0;
    if (sc->len) {
        /* Exactly the leftover's size: many connections may each hold one. */
        if (c->pub.in.cap < sc->len || c->pub.in.cap > 2 * sc->len + 4096) {
            c->pub.in.p = sl_xrealloc(c->pub.in.p, sc->len);
            c->pub.in.cap = sc->len;
        }
        memcpy(c->pub.in.p, sc->p, sc->len);
        c->pub.in.len = sc->len;
    } else if (c->pub.in.cap > 4096) {
        buf_free(&c->pub.in);
    }
    if (sc->cap > 4 * TURN_BYTES) /* after a huge message: give the memory back */
        buf_free(sc);
    if (eof && !broken && c->pub.paused && c->state != ST_CLOSING) {
        c->peer_done = true; /* note 8 */
        set_events(s, c);
        return;
    }
    if (eof || broken) {
        /* Flush what we still owe (acks), then close. */
        if (broken || !flush_out(s, c) || c->out.len == c->out_off) {
            conn_free(s, c);
            return;
        }
        c->state = ST_CLOSING;
    }
    if (c->state == ST_CLOSING && c->out.len == c->out_off) {
        if (eof)
            conn_free(s, c);
        else
            conn_finish(s, c);
        return;
    }
    set_events(s, c);
}

static void sweep(net_server *s, int64_t now)
{
    for (size_t i = 0; i < s->nslots; i++) {
        conn *c = s->slots[i];
        if (!c)
            continue;
        if (c->state == ST_LINGER) {
            if (now >= c->linger_until)
                conn_free(s, c);
            continue;
        }
        if (c->state == ST_CLOSING && c->out.len == c->out_off) {
            conn_finish(s, c);
            continue;
        }
        if (c->state < ST_READY && s->cfg->handshake_timeout_ms > 0 &&
            now - c->pub.opened_ms > s->cfg->handshake_timeout_ms) {
            metrics_error(s->cfg->metrics, "handshake_timeout");
            net_server_warn(s, "closing %s: handshake not finished in time", c->pub.peer);
            conn_free(s, c);
            continue;
        }
        if (c->lowat) {
            /* A framed wait (note 7): bytes arriving count as activity; a kernel queue
             * that stopped growing short of the message for 2 s falls back to plain
             * reads (a kernel that cannot queue it all, or a sender pausing mid-way). */
            int avail = 0;
            if (ioctl(c->fd, FIONREAD, &avail) == 0 && avail != c->lowat_avail) {
                if (c->lowat_avail >= 0)
                    c->active_ms = now;
                c->lowat_avail = avail;
            } else if (avail > 0 && avail < c->lowat && now - c->active_ms > 2000) {
                c->greedy = true;
                set_lowat(c, 0);
            }
        }
        if (c->deadline_ms && now > c->deadline_ms && !c->pub.paused) {
            metrics_error(s->cfg->metrics, "request_timeout");
            net_server_warn(s, "closing %s: request not complete in time", c->pub.peer);
            conn_free(s, c);
            continue;
        }
        if (s->cfg->idle_timeout_ms > 0 && now - c->active_ms > s->cfg->idle_timeout_ms &&
            !c->pub.paused) {
            metrics_error(s->cfg->metrics, "idle_timeout");
            log_debug(s->cfg->component, "closing idle connection %s", c->pub.peer);
            conn_free(s, c);
        }
    }
}

void net_server_run(net_server *s, int stop_fd)
{
    struct epoll_event sev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
    epoll_ctl(s->efd, EPOLL_CTL_ADD, stop_fd, &sev);
    struct epoll_event evs[64];
    bool more = false;
    for (;;) {
        int timeout = more                                           ? 0
                      : (s->cb->waiting && s->cb->waiting(s->arg)) ? 2
                      : (s->cfg->quiet_when_idle && s->nconns == 0 && !s->accept_paused_until)
                          ? -1
                          : 100;
        int n = epoll_wait(s->efd, evs, 64, timeout);
        if (n < 0 && errno != EINTR)
            break;
        bool stop = false;
        for (int i = 0; i < n; i++) {
            uint64_t id = evs[i].data.u64;
            if (id == UINT64_MAX) {
                stop = true;
                continue;
            }
            if (id == 0) {
                do_accept(s);
                continue;
            }
            if (id > WATCH_ID - SL_ARRAY_LEN(s->watch)) {
                size_t w = (size_t)(WATCH_ID - id);
                s->watch[w].fn(s->watch[w].arg, s->watch[w].fd);
                continue;
            }
            conn *c = s->slots[id - 1];
            if (!c)
                continue;
            if (c->state == ST_TLS) {
                tls_step(s, c);
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                if (!flush_out(s, c)) {
                    conn_free(s, c);
                    continue;
                }
                if (c->state == ST_CLOSING && c->out.len == c->out_off) {
                    conn_finish(s, c);
                    continue;
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                read_conn(s, c, evs[i].events);
        }
        more = false;
        for (size_t i = 0; i < s->nslots; i++) {
            conn *c = s->slots[i];
            if (c && c->more && !c->pub.paused) {
                read_conn(s, c, 0);
                if (s->slots[i] && s->slots[i]->more)
                    more = true;
            }
        }
        if (s->cb->on_tick)
            s->cb->on_tick(s->arg);
        int64_t now = sl_mono_ms();
        if (s->accept_paused_until && now >= s->accept_paused_until) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0};
            epoll_ctl(s->efd, EPOLL_CTL_MOD, s->lfd, &ev);
            s->accept_paused_until = 0;
        }
        if (now - s->last_sweep_ms >= 250) {
            sweep(s, now);
            s->last_sweep_ms = now;
        }
        if (stop)
            break;
    }
    epoll_ctl(s->efd, EPOLL_CTL_DEL, stop_fd, NULL);
}

void net_server_free(net_server *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nslots; i++)
        if (s->slots[i])
            conn_free(s, s->slots[i]);
    free(s->slots);
    free(s->gens);
    if (s->efd >= 0)
        close(s->efd);
    if (s->lfd >= 0)
        close(s->lfd);
    if (s->tls)
        SSL_CTX_free(s->tls);
    buf_free(&s->scratch);
    free(s);
}
