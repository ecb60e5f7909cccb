/* syslog.c - the `syslog` source: RFC 5424 and RFC 3164 messages over UDP, TCP or TLS
 * (rsyslog, syslog-ng, logger, network devices).
 *
 * Notes on the design
 *  1. mode udp: one datagram is one message, read on the source's own poll loop (no TCP
 *     listener). A datagram over max_message_bytes is cut to it, marked log.truncated and
 *     counted (MSG_TRUNC), as rsyslog cuts one: the sender and the start of what it said are
 *     kept.
 *     Each turn reads at most batch_max_events datagrams into one batch.
 *  2. mode tcp / tls: the epoll server of src/net/server.c. Each frame is octet-counted or
 *     ends at an LF (or a NUL, as some senders end them), told apart per frame as rsyslog's
 *     imtcp does (formats/syslog.h). Each on_data turn turns every complete frame of one
 *     connection into one batch (split at batch_max_events). An oversize frame is cut to
 *     max_message_bytes (log.truncated), the rest discarded, counted and logged, and the
 *     connection goes on with the next frame; so a connection never holds more than
 *     max_message_bytes plus a frame header, and memory is bounded by max_connections x
 *     that.
 *  3. Syslog has no application-level acknowledgement: a message is accepted once its batch
 *     is in every downstream buffer (for a disk buffer: written to it), which is when
 *     source_emit returns. Backpressure stops reading the sockets, so TCP pushes back on
 *     senders; UDP datagrams beyond the socket buffer are dropped by the kernel. The ack
 *     tokens are still opened and collected (status, lag), but commit nothing.
 *  4. Each frame is copied once into the batch arena and parsed there; every field points
 *     into that copy (structured-data values are unescaped in place), except the static
 *     facility/severity names.
 *  5. Event ids: (hash of a per-process random nonce and the connection id, index of the
 *     message on the connection); UDP is one stream. A batch replayed from a disk buffer
 *     keeps them, so sinks that take ids drop replays; a message a sender sends again after
 *     a reconnect is a new message to sluice (syslog carries no id).
 *  6. A sender never reads, so a connection whose host vanished without closing it (a power
 *     cut, a reboot, a NAT that dropped the flow) would hold its slot for ever, and enough
 *     of them refuse every new sender at max_connections: TCP keepalive (option keepalive)
 *     probes idle connections, and the reset or silence that answers closes them.
 *  7. UDP datagrams the kernel drops (the receive buffer full while sluice is busy or held by
 *     backpressure) are counted by the socket (SO_RXQ_OVFL) and the count comes with the next
 *     datagram queued: its growth is udp_dropped_datagrams and a warning, so every datagram
 *     sent is delivered or counted. receive_buffer_bytes is set with SO_RCVBUFFORCE where
 *     allowed (root, CAP_NET_ADMIN), past net.core.rmem_max, else capped by the kernel: then
 *     the start says what the socket got. */
#include <errno.h>
#include <stdatomic.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "core/memlimit.h"
#include "formats/syslog.h"
#include "net/server.h"
#include "net/url.h"

enum { MODE_UDP = 0, MODE_TCP, MODE_TLS };
static const char *const mode_choices[] = {"udp", "tcp", "tls", NULL};

typedef struct sys_config {
    char *address;
    int mode;
    uint64_t max_message_bytes, receive_buffer_bytes;
    int64_t max_connections, idle_timeout_ms, keepalive_ms, batch_max_events;
    char *timezone;
    net_tls_config tls;
} sys_config;

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(sys_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option sys_options[] = {
    O("address", SL_OPT_ADDRESS, address, NULL, 0, 0,
      "host:port to listen on (default 0.0.0.0:514, or 0.0.0.0:6514 with mode tls)"),
    {"mode", SL_OPT_ENUM, offsetof(sys_config, mode), "tcp", 0, mode_choices, NULL, 0, 0,
     "udp (one datagram, one message), tcp (octet counting or LF/NUL frames), tls (tcp in TLS)"},
    O("max_message_bytes", SL_OPT_SIZE, max_message_bytes, "64KiB", 64, 16 << 20,
      "a larger message (frame or datagram) is cut to this size (log.truncated: true) and "
      "counted; memory for partial messages is at most max_connections x this"),
    O("max_connections", SL_OPT_INT, max_connections, "1024", 1, 1 << 20,
      "tcp/tls connections beyond this are refused"),
    O("idle_timeout", SL_OPT_DURATION, idle_timeout_ms, "0", 0, 86400000,
      "close tcp/tls connections silent this long (0: never, as rsyslog keeps them open)"),
    O("keepalive", SL_OPT_DURATION, keepalive_ms, "1m", 0, 7200000,
      "tcp/tls: TCP keepalive probes after this long without traffic, so a sender whose host "
      "vanished without closing (power cut, reboot, NAT) frees its connection (0: off)"),
    O("batch_max_events", SL_OPT_INT, batch_max_events, "4096", 1, 1 << 20,
      "events per batch at most"),
    O("receive_buffer_bytes", SL_OPT_SIZE, receive_buffer_bytes, "0", 0, 1LL << 30,
      "udp: SO_RCVBUF of the socket (0: the system default); the kernel drops what does not "
      "fit while sluice is busy (counted: udp_dropped_datagrams)"),
    O("timezone", SL_OPT_STR, timezone, "UTC", 0, 0,
      "zone of RFC 3164 times, which carry none: UTC, local (the process's TZ) or an offset "
      "such as +02:00"),
    {"tls", SL_OPT_OBJECT, offsetof(sys_config, tls), NULL, 0, NULL, net_tls_server_options, 0, 0,
     "TLS for mode tls: cert_file, key_file, ca_file, client_auth"},
    SL_OPT_END,
};
#undef O

typedef struct sconn {
    syslog_framer fr;
    uint64_t stream; /* id_stream of its events (note 5) */
    uint64_t seq;    /* messages so far: the next id_seq */
    uint64_t tokens; /* ack tokens opened */
    sl_str ip;       /* peer address without the port, for the current batch */
} sconn;

typedef struct sys_source {
    const sys_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    net_server_config scfg;
    net_server *srv;
    char address[300];
    uint64_t nonce;
    bool closed;
    atomic_uint conns;  /* open tcp/tls connections, for the status API */
    /* mode udp */
    int udp;
    char *dgram;        /* max_message_bytes + 1 */
    uint64_t udp_seq, udp_tokens;
    uint32_t udp_drops; /* the kernel's count of datagrams dropped, as last seen (note 7) */
    int64_t warn_second;
    uint64_t warn_dropped;
    bool tz_local;      /* timezone: local */
    int32_t tz_offset_s;
} sys_source;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static const char *sys_address(const sys_config *c)
{
    return c->address ? c->address : c->mode == MODE_TLS ? "0.0.0.0:6514" : "0.0.0.0:514";
}

static int sys_listens(const void *config, sl_listen *out)
{
    const sys_config *c = config;
    out[0] = (sl_listen){sys_address(c), c->mode == MODE_UDP ? SL_LISTEN_UDP : SL_LISTEN_TCP};
    return 1;
}

static int sys_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                    size_t errlen)
{
    const sys_config *c = config;
    bool tls = c->mode == MODE_TLS;
    if (tls && !c->tls.cert_file)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "mode tls needs tls.cert_file and tls.key_file");
    if (!tls && c->tls.cert_file)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "tls: is set but mode is %s (use mode: tls)",
                         mode_choices[c->mode]);
    bool tz_local;
    int32_t tz_offset_s;
    if (!syslog_tz_parse(c->timezone ? c->timezone : "UTC", &tz_local, &tz_offset_s))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "timezone: \"%s\" is not UTC, local or an offset such as +02:00 "
                         "(for a named zone, run with TZ set to it and use local)", c->timezone);
    int rc = cc->check_only ? SL_OK : net_tls_check(&c->tls, err, errlen);
    if (rc != SL_OK)
        return rc;
    sys_source *s = sl_xcalloc(1, sizeof *s);
    s->tz_local = tz_local;
    s->tz_offset_s = tz_offset_s;
    s->udp = -1;
    s->cfg = c;
    s->cc = cc;
    snprintf(s->address, sizeof s->address, "%s", sys_address(c));
    s->scfg = (net_server_config){
        .address = s->address,
        .default_port = tls ? 6514 : 514,
        .max_connections = c->max_connections,
        .idle_timeout_ms = c->idle_timeout_ms,
        .keepalive_ms = c->keepalive_ms,
        .handshake_timeout_ms = 10000,
        .tls = &c->tls,
        .component = cc->id,
        .metrics = cc->metrics,
    };
    if (sl_random_bytes(&s->nonce, sizeof s->nonce) != SL_OK)
        s->nonce = (uint64_t)sl_now_ns() ^ (uint64_t)getpid() << 32;
    *self = s;
    return SL_OK;
}

/* ---- Events --------------------------------------------------------------------------- */

static void push_str(sl_batch *b, sl_event *e, sl_str key, const char *v, size_t n)
{
    if (!v || !n)
        return;
    sl_field *f = event_push_field(b, e, key);
    f->type = SL_VAL_STR;
    f->v.s = (sl_str){v, (uint32_t)n};
}

static void push_int(sl_batch *b, sl_event *e, sl_str key, int64_t v)
{
    sl_field *f = event_push_field(b, e, key);
    f->type = SL_VAL_INT;
    f->v.i = v;
}

/* Structured data as fields "<SD-ID>.<PARAM-NAME>" (the last of repeated names wins); an
 * element without parameters as "<SD-ID>": {}. Keys are built in the arena and pushed
 * without a lookup: only the fields added here can share a key. */
static void add_sd(sl_batch *b, sl_event *e, const syslog_msg *m)
{
    syslog_sd_iter it;
    syslog_sd_param p;
    uint32_t first = e->nfields;
    syslog_sd_begin(&it, m->sd, m->sd_len);
    while (syslog_sd_next(&it, &p)) {
        size_t kl = p.no_params ? p.id_len : p.id_len + 1 + p.name_len;
        char *key = arena_alloc(&b->arena, kl);
        memcpy(key, p.id, p.id_len);
        if (!p.no_params) {
            key[p.id_len] = '.';
            memcpy(key + p.id_len + 1, p.name, p.name_len);
        }
        sl_field *f = NULL;
        for (uint32_t i = first; i < e->nfields && !f; i++)
            if (e->fields[i].key.len == kl && memcmp(e->fields[i].key.ptr, key, kl) == 0)
                f = &e->fields[i];
        if (!f)
            f = event_push_field(b, e, (sl_str){key, (uint32_t)kl});
        if (p.no_params) {
            f->type = SL_VAL_JSON;
            f->v.s = SL_STR("{}");
            continue;
        }
        f->type = SL_VAL_STR;
        /* The value lies in this event's own copy of the frame: unescaped in place. */
        size_t n = p.value_len;
        if (memchr(p.value, '\\', n))
            n = syslog_sd_unescape(p.value, n, (char *)p.value);
        f->v.s = (sl_str){p.value, (uint32_t)n};
    }
}

/* One message (a frame or a datagram, cut to max_message_bytes when `truncated`) as an
 * event of b (note 4). */
static void add_message(sys_source *s, sl_batch *b, const char *raw, size_t len, sl_str ip,
                        uint64_t stream, uint64_t seq, int64_t now, bool truncated)
{
    while (len && (raw[len - 1] == '\n' || raw[len - 1] == '\r'))
        len--; /* rsyslog's templates end octet-counted frames with one (it drops them too) */
    char *p = arena_alloc(&b->arena, len ? len : 1);
    memcpy(p, raw, len);
    syslog_msg m;
    syslog_parse(p, len, now, &m);
    if (!m.has_pri)
        metrics_error(s->cc->metrics, "no_pri");
    else if (m.fallback)
        metrics_error(s->cc->metrics, "rfc5424_invalid");
    sl_event *e = batch_add(b);
    /* Room for the header fields and a few SD parameters in one allocation. */
    e->cap_fields = 16;
    e->fields = arena_alloc(&b->arena, e->cap_fields * sizeof(sl_field));
    if (m.zoneless && (s->tz_local || s->tz_offset_s))
        m.ts_ns = syslog_tz_apply(m.ts_ns, s->tz_local, s->tz_offset_s);
    e->ts_ns = m.ts_ns ? m.ts_ns : now;
    e->message = (sl_str){m.msg ? m.msg : "", (uint32_t)m.msg_len};
    e->id_stream = stream;
    e->id_seq = seq;
    const char *sev = syslog_severity_name(m.severity), *fac = syslog_facility_name(m.facility);
    push_str(b, e, SL_STR("severity"), sev, strlen(sev));
    push_str(b, e, SL_STR("facility"), fac, strlen(fac));
    push_int(b, e, SL_STR("syslog.severity"), m.severity);
    push_int(b, e, SL_STR("syslog.facility"), m.facility);
    if (m.version)
        push_int(b, e, SL_STR("syslog.version"), m.version);
    push_str(b, e, SL_STR("hostname"), m.hostname, m.hostname_len);
    push_str(b, e, SL_STR("appname"), m.appname, m.appname_len);
    push_str(b, e, SL_STR("procid"), m.procid, m.procid_len);
    push_str(b, e, SL_STR("msgid"), m.msgid, m.msgid_len);
    push_str(b, e, SL_STR("source_ip"), ip.ptr, ip.len);
    if (m.sd_len)
        add_sd(b, e, &m);
    if (truncated) { /* as the file source marks a line cut at max_line_bytes */
        sl_field *f = event_push_field(b, e, SL_STR("log.truncated"));
        f->type = SL_VAL_BOOL;
        f->v.b = true;
    }
    b->bytes += 48 + len + (size_t)e->nfields * 24; /* strings lie in the frame copy */
}

/* "1.2.3.4:5" -> "1.2.3.4", "[::1]:5" -> "::1", copied into b. */
static sl_str peer_ip(sl_batch *b, const char *peer)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']')
        peer++, n -= 2;
    return batch_str(b, peer, n);
}

static void emit(sys_source *s, sl_batch **bp, uint64_t key, uint64_t seq)
{
    sl_batch *b = *bp;
    *bp = NULL;
    if (!b)
        return;
    if (b->n == 0) {
        batch_release(b);
        return;
    }
    uint32_t n = b->n;
    b->ack = ack_token_open(source_ledger(s->ctx), key, seq);
    b->origin = s->cc->id;
    if (source_emit(s->ctx, b) != SL_OK)
        s->closed = true;
    else /* in every downstream buffer: what "accepted" means for syslog (note 3) */
        metrics_count(s->cc->metrics, "accepted_events", n);
}

/* ---- TCP / TLS ------------------------------------------------------------------------ */

static int sys_on_open(void *arg, net_conn *c)
{
    sys_source *s = arg;
    sconn *sc = sl_xcalloc(1, sizeof *sc);
    sc->stream = mix64(s->nonce ^ mix64(c->id)) | 1;
    c->user = sc;
    atomic_fetch_add_explicit(&s->conns, 1, memory_order_relaxed);
    net_conn_set_ready(s->srv, c);
    return 0;
}

static void too_big(sys_source *s, const char *peer)
{
    metrics_error(s->cc->metrics, "message_too_large");
    net_server_warn(s->srv, "%s: message larger than max_message_bytes (%llu): cut to it",
                    peer, (unsigned long long)s->cfg->max_message_bytes);
}

/* Every complete frame in c->in (all of it at eof) to events; returns the bytes used. */
static size_t consume_frames(sys_source *s, net_conn *c, bool eof)
{
    sconn *sc = c->user;
    size_t off = 0, max = (size_t)s->cfg->max_message_bytes;
    sl_batch *b = NULL;
    int64_t now = sl_now_ns();
    while (!s->closed) {
        const char *msg;
        size_t len, used;
        int r = syslog_frame_next(&sc->fr, c->in.p + off, c->in.len - off, max, eof, &msg, &len,
                                  &used);
        off += used;
        if (r == SYSLOG_NEED_MORE) {
            if (used == 0)
                break;
            continue;
        }
        if (r == SYSLOG_TRUNCATED)
            too_big(s, c->peer);
        if (r == SYSLOG_EMPTY) {
            metrics_count(s->cc->metrics, "empty_frames", 1);
            continue;
        }
        if (!b) {
            b = batch_new(64);
            sc->ip = peer_ip(b, c->peer);
        }
        add_message(s, b, msg, len, sc->ip, sc->stream, sc->seq++, now, r == SYSLOG_TRUNCATED);
        atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, used, memory_order_relaxed);
        if (b->n >= (uint32_t)s->cfg->batch_max_events)
            emit(s, &b, c->id, sc->tokens++);
    }
    if (b)
        emit(s, &b, c->id, sc->tokens++);
    return off;
}

static int sys_on_data(void *arg, net_conn *c)
{
    sys_source *s = arg;
    net_conn_consume(c, consume_frames(s, c, false));
    return 0;
}

static void sys_on_close(void *arg, net_conn *c)
{
    sys_source *s = arg;
    sconn *sc = c->user;
    if (!sc)
        return;
    /* A last LF frame without its LF is a message (as rsyslog); an octet-counted frame cut
     * short is not. Not while stopping: no new batch once the acks are drained. */
    if (c->in.len && !source_should_stop(s->ctx)) {
        size_t used = consume_frames(s, c, true);
        if (used < c->in.len && !sc->fr.skip && !sc->fr.skip_line) {
            metrics_error(s->cc->metrics, "truncated_frame");
            net_server_warn(s->srv, "%s: closed in the middle of an octet-counted frame "
                            "(%zu bytes): discarded", c->peer, c->in.len - used);
        }
    }
    free(sc);
    c->user = NULL;
    atomic_fetch_sub_explicit(&s->conns, 1, memory_order_relaxed);
}

static void no_commit(void *arg, uint64_t key, uint64_t value)
{
    (void)arg, (void)key, (void)value; /* note 3: nothing to answer */
}

static void sys_on_tick(void *arg)
{
    sys_source *s = arg;
    source_collect_acks(s->ctx, no_commit, s);
}

static const net_server_cb sys_cb = {
    .on_open = sys_on_open,
    .on_data = sys_on_data,
    .on_close = sys_on_close,
    .on_tick = sys_on_tick,
};

/* ---- UDP ------------------------------------------------------------------------------ */

static void udp_warn(sys_source *s, const char *what)
{
    int64_t sec = sl_mono_ms() / 1000;
    if (sec == s->warn_second) {
        s->warn_dropped++;
        return;
    }
    if (s->warn_dropped)
        log_warn(s->cc->id, "%s (and %llu more warnings)", what,
                 (unsigned long long)s->warn_dropped);
    else
        log_warn(s->cc->id, "%s", what);
    s->warn_second = sec;
    s->warn_dropped = 0;
}

static int udp_open(sys_source *s, char *err, size_t errlen)
{
    char host[256];
    int p = 0;
    int rc = url_parse_hostport(s->address, host, sizeof host, &p, err, errlen);
    if (rc != SL_OK)
        return rc;
    int sz = (int)SL_MIN(s->cfg->receive_buffer_bytes, (uint64_t)INT32_MAX / 2);
    int fd = net_bind_udp(s->address, host, p ? p : 514, sz, err, errlen);
    if (fd < 0)
        return fd;
    int one = 1, got = 0;
    socklen_t gl = sizeof got;
    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    /* the kernel doubles what it grants, for its own overhead */
    if (sz > 0 && getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &gl) == 0 && got / 2 < sz)
        log_warn(s->cc->id, "receive_buffer_bytes %d: the socket got %d (capped by "
                 "net.core.rmem_max; raise it, or run with CAP_NET_ADMIN)", sz, got / 2);
    s->udp = fd;
    s->dgram = sl_xmalloc(s->cfg->max_message_bytes + 1);
    return SL_OK;
}

/* The socket's count of dropped datagrams, carried by a datagram read (note 7). */
static void udp_drops_seen(sys_source *s, struct msghdr *mh)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SO_RXQ_OVFL)
            continue;
        uint32_t total;
        memcpy(&total, CMSG_DATA(c), sizeof total);
        uint32_t more = total - s->udp_drops; /* wraps as the kernel's counter does */
        if (more == 0 || more > UINT32_MAX / 2) /* an older count than one already seen */
            continue;
        s->udp_drops = total;
        metrics_count(s->cc->metrics, "udp_dropped_datagrams", more);
        char what[200];
        snprintf(what, sizeof what, "the kernel dropped %u datagrams: the socket's receive "
                 "buffer was full (receive_buffer_bytes)", more);
        udp_warn(s, what);
    }
}

/* Reads what the socket holds, up to one batch; returns the datagrams read. */
static int udp_read(sys_source *s)
{
    sl_batch *b = NULL;
    uint64_t stream = mix64(s->nonce ^ 0x756470) | 1; /* "udp" */
    size_t max = (size_t)s->cfg->max_message_bytes;
    int64_t now = sl_now_ns();
    int got = 0;
    while (got < s->cfg->batch_max_events) {
        struct sockaddr_storage from;
        struct iovec iov = {s->dgram, max + 1};
        union {
            struct cmsghdr h;
            char b[CMSG_SPACE(sizeof(uint32_t))];
        } ctl;
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov,
                            .msg_iovlen = 1, .msg_control = ctl.b,
                            .msg_controllen = sizeof ctl.b};
        ssize_t n = recvmsg(s->udp, &mh, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
            break;
        got++;
        udp_drops_seen(s, &mh);
        bool cut = (size_t)n > max;
        if (cut) {
            metrics_error(s->cc->metrics, "message_too_large");
            udp_warn(s, "datagram larger than max_message_bytes: cut to it");
        }
        size_t len = cut ? max : (size_t)n;
        while (len && (s->dgram[len - 1] == '\n' || s->dgram[len - 1] == '\0' ||
                       s->dgram[len - 1] == '\r'))
            len--;
        if (len == 0) {
            metrics_count(s->cc->metrics, "empty_frames", 1);
            continue;
        }
        if (!b)
            b = batch_new(64);
        char host[INET6_ADDRSTRLEN];
        net_peer_host(&from, host, sizeof host, NULL);
        sl_str ip = batch_str(b, host, strlen(host));
        add_message(s, b, s->dgram, len, ip, stream, s->udp_seq++, now, cut);
        atomic_fetch_add_explicit(&s->cc->metrics->received_events, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, (uint64_t)n,
                                  memory_order_relaxed);
    }
    if (b)
        emit(s, &b, 0, s->udp_tokens++);
    return got;
}

static void udp_run(sys_source *s)
{
    int stop = source_stop_fd(s->ctx);
    while (!s->closed && !source_should_stop(s->ctx)) {
        struct pollfd pf[2] = {{.fd = s->udp, .events = POLLIN}, {.fd = stop, .events = POLLIN}};
        int wait = ack_ledger_pending(source_ledger(s->ctx)) ? 2 : 100;
        if (poll(pf, 2, wait) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        if (pf[0].revents & POLLIN)
            udp_read(s);
        source_collect_acks(s->ctx, no_commit, s);
    }
}

/* ---- Run ------------------------------------------------------------------------------ */

static int sys_run(void *self, sl_source_ctx *ctx)
{
    sys_source *s = self;
    s->ctx = ctx;
    char err[512];
    int rc;
    if (s->cfg->mode == MODE_UDP) {
        /* a datagram not read in time is dropped by the kernel: never paused for memory */
        source_set_mem_class(ctx, SL_MEM_NEVER);
        if ((rc = udp_open(s, err, sizeof err)) != SL_OK) {
            log_error(s->cc->id, "%s", err);
            metrics_set_state(s->cc->metrics, "listen_failed");
            return rc;
        }
        source_ready(ctx);
        log_info(s->cc->id, "listening on %s (udp)", s->address);
        udp_run(s);
        source_drain_acks(ctx, no_commit, s);
        return SL_OK;
    }
    if ((rc = net_server_open(&s->srv, &s->scfg, &sys_cb, s, err, sizeof err)) != SL_OK) {
        log_error(s->cc->id, "%s", err);
        metrics_set_state(s->cc->metrics, "listen_failed");
        return rc;
    }
    source_ready(ctx);
    log_info(s->cc->id, "listening on %s (port %d, %s)", s->address, net_server_port(s->srv),
             mode_choices[s->cfg->mode]);
    net_server_run(s->srv, source_stop_fd(ctx));
    source_drain_acks(ctx, no_commit, s);
    net_server_free(s->srv);
    s->srv = NULL;
    return SL_OK;
}

/* Status API (the API thread): the open connections and the mode. */
static void sys_status_json(void *self, sl_buf *out)
{
    sys_source *s = self;
    buf_printf(out, ",\"mode\":\"%s\",\"connections\":%u", mode_choices[s->cfg->mode],
               atomic_load_explicit(&s->conns, memory_order_relaxed));
}

static void sys_destroy(void *self)
{
    sys_source *s = self;
    if (!s)
        return;
    net_server_free(s->srv);
    if (s->udp >= 0)
        close(s->udp);
    free(s->dgram);
    free(s);
}

const sl_source_vtable sl_source_syslog = {
    .type = "syslog",
    .help = "syslog server: RFC 5424 and RFC 3164 over UDP, TCP (octet counting, LF or NUL) or TLS",
    .options = sys_options,
    .config_size = sizeof(sys_config),
    .init = sys_init,
    .run = sys_run,
    .destroy = sys_destroy,
    .status_json = sys_status_json,
    .signals_ready = true,
    .listens = sys_listens,
};
