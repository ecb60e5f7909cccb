/* forward.c - the `forward` source: Fluent Forward protocol v1 server (Fluent Bit, Fluentd,
 * fluent-logger) with chunk acks after durable acceptance, shared-key handshake and TLS.
 *
 * Notes on the design
 *  1. Per connection: HELO_SENT -> (PING ok) READY, or READY at once without shared_key.
 *     A message before the handshake, a bad PING, a malformed or oversized message closes
 *     that connection only, with a counted error and a rate-limited log line.
 *  2. Each on_data turn decodes every complete message of one connection into one batch
 *     (split at batch_max_events, never inside a message), opens one ack token keyed by
 *     (connection id, per-connection sequence) and emits it. source_emit blocks under
 *     backpressure, which stops every socket read: TCP pushes back on the clients.
 *  3. A message's `chunk` is answered with {"ack": chunk} only when the token of the batch
 *     holding its events is committed by the ledger (every sink delivered it or buffered
 *     it durably). If the connection has gone by then, nothing is sent: the client did not
 *     see the ack and retransmits, so nothing is lost (duplicates are possible).
 *  4. Each message is copied once into the batch arena and its strings point into that
 *     copy; the connection's buffer is then consumed, so nothing points into a connection.
 *  5. Events of a message with a chunk id get a stable id (hash of the chunk, index), so a
 *     chunk retransmitted after a lost ack is recognisable by idempotent sinks.
 *  6. Heartbeats: as Fluentd's in_forward, a UDP socket on the same address and port
 *     answers every datagram with one NUL byte, so out_forward with `heartbeat_type udp`
 *     sees the node alive. It runs on the same loop; each turn reads at most 64
 *     datagrams (64 bytes of each), and at most HB_PER_SEC answers go out a second: the
 *     rest are dropped and counted, so the port cannot be used to amplify or to flood. */
#include <errno.h>
#include <netdb.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "formats/msgpack.h"
#include "net/forward.h"
#include "net/server.h"
#include "net/url.h"

typedef struct fwd_config {
    char *address, *shared_key, *self_hostname;
    sl_strmap users;
    uint64_t max_message_bytes;
    int64_t max_connections, idle_timeout_ms, handshake_timeout_ms, batch_max_events;
    bool heartbeat;
    net_tls_config tls;
} fwd_config;

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(fwd_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option fwd_options[] = {
    O("address", SL_OPT_ADDRESS, address, NULL, 0, 0,
      "host:port to listen on (default 0.0.0.0:24224, or 0.0.0.0:24225 with tls)"),
    O("shared_key", SL_OPT_STR, shared_key, NULL, 0, 0,
      "require the shared-key handshake (HELO/PING/PONG) with this key"),
    O("self_hostname", SL_OPT_STR, self_hostname, "sluice", 0, 0,
      "hostname sent in PONG"),
    O("users", SL_OPT_STRMAP, users, NULL, 0, 0,
      "username: password pairs; with shared_key, clients must also log in"),
    O("max_message_bytes", SL_OPT_SIZE, max_message_bytes, "8MiB", 256, 1LL << 31,
      "a larger message (or inflated PackedForward) closes the connection; memory for "
      "partial messages is at most max_connections x this"),
    O("max_connections", SL_OPT_INT, max_connections, "1024", 1, 1 << 20,
      "connections beyond this are refused"),
    O("idle_timeout", SL_OPT_DURATION, idle_timeout_ms, "300s", 0, 86400000,
      "close connections silent this long (0: never)"),
    O("handshake_timeout", SL_OPT_DURATION, handshake_timeout_ms, "10s", 1, 3600000,
      "TLS and shared-key handshakes must finish within this"),
    O("batch_max_events", SL_OPT_INT, batch_max_events, "8192", 1, 1 << 20,
      "events per batch at most (a message is never split)"),
    O("heartbeat", SL_OPT_BOOL, heartbeat, "true", 0, 0,
      "answer Fluentd's UDP heartbeats (heartbeat_type udp) on the same port"),
    {"tls", SL_OPT_OBJECT, offsetof(fwd_config, tls), NULL, 0, NULL, net_tls_server_options, 0, 0,
     "TLS: cert_file, key_file, ca_file, client_auth"},
    SL_OPT_END,
};
#undef O

/* A chunk waiting for its batch's commit. The reply bytes live in fconn.acks. */
typedef struct pending_ack {
    uint64_t seq;
    size_t end; /* offset in fconn.acks just after this reply */
} pending_ack;

typedef struct fconn {
    bool ready;
    uint8_t nonce[16], auth_salt[16];
    uint64_t seq;       /* tokens opened for this connection */
    sl_buf acks;        /* encoded {"ack": chunk} replies, oldest first */
    size_t acks_off;    /* replies before this offset were sent */
    pending_ack *pend;
    size_t npend, cappend, headpend;
} fconn;

typedef struct fwd_source {
    const fwd_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    net_server_config scfg;
    net_server *srv;
    char address[300];
    fwd_scratch scratch;
    fwd_limits lim;
    bool closed;
    int udp;              /* heartbeat socket (note 6), -1 when off */
    int64_t hb_second;    /* the second the answer budget is for */
    uint32_t hb_answers;  /* answers sent in it */
} fwd_source;

/* A message nested deeper is refused whole: no Forward record nests so deep, and the
 * decoder recurses by it. */
#define FWD_MAX_DEPTH 32
#define HB_PER_SEC 256
#define HB_PER_TURN 64

/* The address it listens on: the configured one, else the default for TLS or not. */
static const char *fwd_address(const fwd_config *c)
{
    return c->address ? c->address : c->tls.cert_file ? "0.0.0.0:24225" : "0.0.0.0:24224";
}

static int fwd_listens(const void *config, sl_listen *out)
{
    const fwd_config *c = config;
    out[0] = (sl_listen){fwd_address(c), SL_LISTEN_TCP | (c->heartbeat ? SL_LISTEN_UDP : 0)};
    return 1;
}

static int fwd_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                    size_t errlen)
{
    const net_tls_config *tcfg = &((const fwd_config *)config)->tls;
    int rc = cc->check_only ? SL_OK : net_tls_check(tcfg, err, errlen);
    if (rc != SL_OK)
        return rc;
    fwd_source *s = sl_xcalloc(1, sizeof *s);
    s->udp = -1;
    s->cfg = config;
    s->cc = cc;
    const fwd_config *c = s->cfg;
    bool tls = c->tls.cert_file != NULL;
    snprintf(s->address, sizeof s->address, "%s", fwd_address(c));
    if (c->users.n && !c->shared_key) {
        free(s);
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "users needs shared_key (the handshake)");
    }
    if (c->shared_key && lazylib_need(&lazy_openssl, "shared_key", err, errlen) != SL_OK) {
        free(s);
        return SL_ERR_CONFIG;
    }
    s->scfg = (net_server_config){
        .address = s->address,
        .default_port = tls ? 24225 : 24224,
        .max_connections = c->max_connections,
        .idle_timeout_ms = c->idle_timeout_ms,
        .handshake_timeout_ms = c->handshake_timeout_ms,
        .tls = &c->tls,
        .component = cc->id,
        .metrics = cc->metrics,
    };
    s->lim.max_inflated = c->max_message_bytes;
    s->lim.max_depth = 32;
    *self = s;
    return SL_OK;
}

/* ---- Handshake ---------------------------------------------------------------------------- */

static void send_helo(fwd_source *s, net_conn *c, fconn *f)
{
    sl_buf b = SL_BUF_INIT;
    fwd_encode_helo(&b, f->nonce, f->auth_salt, s->cfg->users.n ? sizeof f->auth_salt : 0);
    net_conn_send(s->srv, c, b.p, b.len);
    buf_free(&b);
}

static void send_pong(fwd_source *s, net_conn *c, bool ok, const char *reason, const fwd_ping *ping)
{
    fconn *f = c->user;
    sl_buf b = SL_BUF_INIT;
    fwd_encode_pong(&b, ok, reason, s->cfg->self_hostname, ping, f->nonce, sizeof f->nonce,
                    s->cfg->shared_key);
    net_conn_send(s->srv, c, b.p, b.len);
    buf_free(&b);
}

/* The client's PING (net/forward.h). Items are read as str or bin: Fluent Bit sends str,
 * older sluice sinks sent the salt as bin, Fluentd reads either. Returns false to close. */
static bool handle_ping(fwd_source *s, net_conn *c, const uint8_t *p, size_t len)
{
    fconn *f = c->user;
    const fwd_config *cfg = s->cfg;
    fwd_ping ping;
    int rc = fwd_check_ping(p, len, f->nonce, sizeof f->nonce, f->auth_salt,
                            sizeof f->auth_salt, cfg->shared_key, cfg->users.keys,
                            cfg->users.vals, cfg->users.n, &ping);
    switch (rc) {
    case FWD_PING_OK:
        send_pong(s, c, true, "", &ping);
        f->ready = true;
        net_conn_set_ready(s->srv, c);
        return true;
    case FWD_PING_KEY:
        metrics_error(s->cc->metrics, "auth");
        net_server_warn(s->srv, "%s: shared key mismatch", c->peer);
        send_pong(s, c, false, "shared_key mismatch", NULL);
        return false;
    case FWD_PING_USER:
        metrics_error(s->cc->metrics, "auth");
        net_server_warn(s->srv, "%s: username/password mismatch", c->peer);
        send_pong(s, c, false, "username/password mismatch", NULL);
        return false;
    default:
        metrics_error(s->cc->metrics, "handshake");
        net_server_warn(s->srv, "%s: malformed PING, closing", c->peer);
        return false;
    }
}

/* ---- Data ---------------------------------------------------------------------------------- */

static int fwd_on_open(void *arg, net_conn *c)
{
    fwd_source *s = arg;
    fconn *f = sl_xcalloc(1, sizeof *f);
    c->user = f;
    if (!s->cfg->shared_key) {
        f->ready = true;
        net_conn_set_ready(s->srv, c);
        return 0;
    }
    if (sl_random_bytes(f->nonce, sizeof f->nonce) != SL_OK ||
        sl_random_bytes(f->auth_salt, sizeof f->auth_salt) != SL_OK) {
        metrics_error(s->cc->metrics, "random");
        return -1;
    }
    send_helo(s, c, f);
    return 0;
}

static void fwd_on_close(void *arg, net_conn *c)
{
    fconn *f = c->user;
    if (!f)
        return;
    buf_free(&f->acks);
    free(f->pend);
    free(f);
    c->user = NULL;
}

static void emit(fwd_source *s, net_conn *c, sl_batch **bp)
{
    sl_batch *b = *bp;
    *bp = NULL;
    if (!b)
        return;
    fconn *f = c->user;
    b->ack = ack_token_open(source_ledger(s->ctx), c->id, f->seq);
    b->origin = s->cc->id;
    if (source_emit(s->ctx, b) != SL_OK)
        s->closed = true;
}

static void add_pending(fconn *f, const fwd_msg_info *info)
{
    if (f->npend == f->cappend) {
        if (f->headpend) { /* compact before growing */
            memmove(f->pend, f->pend + f->headpend, (f->npend - f->headpend) * sizeof *f->pend);
            f->npend -= f->headpend;
            f->headpend = 0;
        }
        if (f->npend == f->cappend) {
            f->cappend = f->cappend ? f->cappend * 2 : 8;
            f->pend = sl_xrealloc(f->pend, f->cappend * sizeof *f->pend);
        }
    }
    fwd_encode_ack(&f->acks, info->chunk, info->chunk_len);
    f->pend[f->npend++] = (pending_ack){f->seq, f->acks.len};
}

static int fwd_on_data(void *arg, net_conn *c)
{
    fwd_source *s = arg;
    fconn *f = c->user;
    const uint8_t *base = (const uint8_t *)c->in.p;
    size_t off = 0, len = c->in.len;
    sl_batch *b = NULL;
    bool chunks = false; /* b carries chunks to answer, even if it has no events */
    int ret = 0;
    char err[256];
    while (off < len && !s->closed) {
        mp_reader r = {base + off, base + len};
        int rc = mp_skip(&r, FWD_MAX_DEPTH, s->cfg->max_message_bytes);
        if (rc == MP_NEED_MORE)
            break;
        if (rc == MP_TOO_BIG) {
            metrics_error(s->cc->metrics, "message_too_large");
            net_server_warn(s->srv, "%s: message larger than max_message_bytes (%llu), closing",
                     c->peer, (unsigned long long)s->cfg->max_message_bytes);
            ret = -1;
            break;
        }
        if (rc == MP_TOO_DEEP) { /* well-formed so far, but no record nests so deep */
            metrics_error(s->cc->metrics, "too_deep");
            net_server_warn(s->srv, "%s: msgpack nested deeper than %d levels at byte %zu, "
                            "closing", c->peer, FWD_MAX_DEPTH, off);
            ret = -1;
            break;
        }
        if (rc != MP_OK) {
            metrics_error(s->cc->metrics, "malformed");
            net_server_warn(s->srv, "%s: malformed msgpack at byte %zu, closing", c->peer, off);
            ret = -1;
            break;
        }
        size_t mlen = (size_t)(r.p - (base + off));
        if (!f->ready) {
            if (!handle_ping(s, c, base + off, mlen)) {
                ret = -1;
                break;
            }
            off += mlen;
            continue;
        }
        if (!b)
            b = batch_new(64);
        fwd_msg_info info;
        rc = fwd_decode(base + off, mlen, b, &info, &s->scratch, &s->lim, err, sizeof err);
        if (rc != SL_OK) {
            metrics_error(s->cc->metrics, rc == SL_ERR_TOOBIG ? "message_too_large" : "malformed");
            net_server_warn(s->srv, "%s: %s; closing", c->peer, err);
            ret = -1;
            break;
        }
        atomic_fetch_add_explicit(&s->cc->metrics->received_events, info.events,
                                  memory_order_relaxed);
        atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, mlen, memory_order_relaxed);
        if (info.signal != 0) {
            /* Fluent Bit's metrics (1) or traces (2): not log events. Answered and dropped,
             * so a sender that also forwards them is not stuck retransmitting forever. */
            metrics_error(s->cc->metrics, "unsupported_signal");
            net_server_warn(s->srv, "%s: tag %.*s: fluent_signal %lld (metrics or traces) "
                            "is not logs; dropped", c->peer, (int)SL_MIN(info.tag_len, 64u),
                            info.tag, (long long)info.signal);
        } else if (info.size >= 0 && (uint64_t)info.size != info.events + info.markers) {
            /* As Fluentd: the count is only advisory; the events are kept. */
            metrics_error(s->cc->metrics, "size_mismatch");
            net_server_warn(s->srv, "%s: tag %.*s: size option says %lld events, the message "
                            "holds %u; accepted", c->peer, (int)SL_MIN(info.tag_len, 64u),
                            info.tag, (long long)info.size, info.events);
        }
        if (info.chunk) {
            add_pending(f, &info);
            chunks = true;
            /* Stable ids from the chunk id: a retransmitted chunk (the client saw no ack)
             * carries the same ids, so sinks with idempotent writes drop the repeat. */
            uint64_t h = 1469598103934665603ull;
            for (uint32_t k = 0; k < info.chunk_len; k++)
                h = (h ^ (uint8_t)info.chunk[k]) * 1099511628211ull;
            for (uint32_t k = 0; k < info.events; k++) {
                sl_event *e = &b->events[b->n - info.events + k];
                e->id_stream = h | 1;
                e->id_seq = k;
            }
        }
        off += mlen;
        if (b->n >= (uint32_t)s->cfg->batch_max_events) {
            emit(s, c, &b);
            f->seq++;
            chunks = false;
        }
    }
    if (b) {
        if (b->n == 0 && !chunks) {
            batch_release(b);
        } else {
            emit(s, c, &b);
            f->seq++;
        }
    }
    net_conn_consume(c, off);
    return ret;
}

/* A committed token: send every reply of this connection up to its sequence. */
static void fwd_commit(void *arg, uint64_t key, uint64_t value)
{
    fwd_source *s = arg;
    net_conn *c = net_server_find(s->srv, key);
    if (!c || !c->user)
        return;
    fconn *f = c->user;
    size_t end = f->acks_off;
    while (f->headpend < f->npend && f->pend[f->headpend].seq <= value)
        end = f->pend[f->headpend++].end;
    if (end > f->acks_off) {
        net_conn_send(s->srv, c, f->acks.p + f->acks_off, end - f->acks_off);
        f->acks_off = end;
    }
    if (f->headpend == f->npend) {
        f->headpend = f->npend = 0;
        buf_reset(&f->acks);
        f->acks_off = 0;
    }
}

static void fwd_on_tick(void *arg)
{
    fwd_source *s = arg;
    source_collect_acks(s->ctx, fwd_commit, s);
}

static bool fwd_waiting(void *arg)
{
    return ack_ledger_pending(source_ledger(((fwd_source *)arg)->ctx)) > 0;
}

/* Framed reads (server.c note 7): the protocol module sizes a message from its header. */
static size_t fwd_frame_size_cb(void *arg, const char *p, size_t n, bool *exact)
{
    const fwd_source *s = arg;
    return fwd_frame_size((const uint8_t *)p, n, s->cfg->max_message_bytes, exact);
}

static const net_server_cb fwd_cb = {
    .on_open = fwd_on_open,
    .on_data = fwd_on_data,
    .on_close = fwd_on_close,
    .on_tick = fwd_on_tick,
    .waiting = fwd_waiting,
    .frame_size = fwd_frame_size_cb,
};

/* Readable heartbeat socket: one NUL byte back to each sender, within the budget. */
static void fwd_heartbeat(void *arg, int fd)
{
    fwd_source *s = arg;
    for (int i = 0; i < HB_PER_TURN; i++) {
        char buf[64];
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error of an earlier answer: nothing to do */
        int64_t sec = sl_mono_ms() / 1000;
        if (sec != s->hb_second)
            s->hb_second = sec, s->hb_answers = 0;
        if (s->hb_answers >= HB_PER_SEC) {
            metrics_error(s->cc->metrics, "heartbeat_rate");
            net_server_warn(s->srv, "more than %d UDP heartbeats a second: dropping",
                            HB_PER_SEC);
            continue;
        }
        s->hb_answers++;
        if (sendto(fd, "", 1, MSG_DONTWAIT, (struct sockaddr *)&from, fl) == 1)
            metrics_count(s->cc->metrics, "heartbeats", 1);
    }
}

/* Binds the heartbeat socket to the listener's host and (actual) port. */
static int heartbeat_open(fwd_source *s, char *err, size_t errlen)
{
    char host[256];
    int p = 0;
    int rc = url_parse_hostport(s->address, host, sizeof host, &p, err, errlen);
    if (rc != SL_OK)
        return rc;
    char msg[400];
    int fd = net_bind_udp(s->address, host, net_server_port(s->srv), 0, msg, sizeof msg);
    if (fd < 0)
        return sl_seterr(err, errlen, fd, "heartbeat: %s", msg);
    if ((rc = net_server_watch(s->srv, fd, fwd_heartbeat, s)) != SL_OK) {
        close(fd);
        return sl_seterr(err, errlen, rc, "heartbeat: cannot watch the UDP socket");
    }
    s->udp = fd;
    return SL_OK;
}

static int fwd_run(void *self, sl_source_ctx *ctx)
{
    fwd_source *s = self;
    s->ctx = ctx;
    char err[512];
    int rc = net_server_open(&s->srv, &s->scfg, &fwd_cb, s, err, sizeof err);
    if (rc != SL_OK) {
        log_error(s->cc->id, "%s", err);
        metrics_set_state(s->cc->metrics, "listen_failed");
        return rc;
    }
    if (s->cfg->heartbeat && heartbeat_open(s, err, sizeof err) != SL_OK) {
        /* The data port works without it; out_forward's TCP heartbeats still do. */
        metrics_error(s->cc->metrics, "heartbeat_listen");
        log_warn(s->cc->id, "%s", err);
    }
    source_ready(ctx); /* connections now queue in the listener's backlog */
    log_info(s->cc->id, "listening on %s (port %d%s%s%s)", s->address, net_server_port(s->srv),
             s->cfg->tls.cert_file ? ", tls" : "", s->cfg->shared_key ? ", shared key" : "",
             s->udp >= 0 ? ", udp heartbeat" : "");
    net_server_run(s->srv, source_stop_fd(ctx));
    /* Let in-flight batches commit so their acks still reach connected clients. */
    source_drain_acks(ctx, fwd_commit, s);
    net_server_free(s->srv);
    s->srv = NULL;
    if (s->udp >= 0)
        close(s->udp);
    s->udp = -1;
    return SL_OK;
}

static void fwd_destroy(void *self)
{
    fwd_source *s = self;
    if (!s)
        return;
    net_server_free(s->srv);
    if (s->udp >= 0)
        close(s->udp);
    fwd_scratch_free(&s->scratch);
    free(s);
}

const sl_source_vtable sl_source_forward = {
    .type = "forward",
    .help = "Fluent Forward protocol server (Fluent Bit, Fluentd): acks, shared key, TLS",
    .options = fwd_options,
    .config_size = sizeof(fwd_config),
    .init = fwd_init,
    .run = fwd_run,
    .destroy = fwd_destroy,
    .signals_ready = true,
    .listens = fwd_listens,
};
