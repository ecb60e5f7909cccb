/* server.h - a small epoll TCP/TLS server run on a source's own thread: accept, read into
 * per-connection buffers, write queues, connection limits and idle timeouts. Protocols
 * (forward, http) plug in with callbacks; the server knows nothing about them. */
#ifndef SL_NET_SERVER_H
#define SL_NET_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/metrics.h"

enum { NET_CLIENT_AUTH_NONE = 0, NET_CLIENT_AUTH_OPTIONAL, NET_CLIENT_AUTH_REQUIRED };

/* `tls:` of a listening source. TLS is on when cert_file is set. */
typedef struct net_tls_config {
    char *cert_file, *key_file, *ca_file;
    int client_auth;
} net_tls_config;

extern const sl_option net_tls_server_options[];
/* Loads what a listener's TLS needs (certificate chain, its key, the client CA) and lets it
 * go: SL_OK when there is no cert_file or all of it loads, else SL_ERR_CONFIG and why. The
 * sources call it when they are built to run, so a start says at the source's position
 * why, and a reload is refused before the running source stops; not when built check_only:
 * `validate` runs where the files are not (a CI job; a Secret mounted at run time). */
int net_tls_check(const net_tls_config *t, char *err, size_t errlen);

typedef struct net_server net_server;

typedef struct net_conn {
    uint64_t id;        /* unique for the server's lifetime (slot + generation) */
    sl_buf in;          /* bytes read and not yet consumed by the protocol */
    int64_t opened_ms;  /* monotonic */
    char peer[64];      /* "ip:port" */
    void *user;         /* protocol state, owned by the protocol */
    bool paused;        /* protocol asked not to read (a reply is pending) */
} net_conn;

typedef struct net_server_cb {
    /* A new connection (TLS handshake done). Return <0 to refuse it. */
    int (*on_open)(void *arg, net_conn *c);
    /* New bytes in c->in: consume complete messages (net_conn_consume). Return <0 to close
     * the connection (the protocol has counted and logged why). */
    int (*on_data)(void *arg, net_conn *c);
    /* The connection is going away (peer closed, error, idle, shutdown). */
    void (*on_close)(void *arg, net_conn *c);
    /* After every loop turn (at least every 100 ms): flush batches, collect acks. */
    void (*on_tick)(void *arg);
    /* Optional: true while answers wait on something outside the loop (acks not yet
     * committed); the loop then ticks every 2 ms instead of 100 ms. */
    bool (*waiting)(void *arg);
    /* Optional: the size of the message that starts at p, from its first n bytes: exact
     * (*exact set) when the whole message is within them, else a lower bound once its
     * header says (a PackedForward's entries length), else 0. With it the server reads a
     * large message only when the kernel holds all of it (server.c note 7). */
    size_t (*frame_size)(void *arg, const char *p, size_t n, bool *exact);
} net_server_cb;

typedef struct net_server_config {
    const char *address;          /* "host:port" */
    int default_port;             /* when the address has none */
    int64_t max_connections;
    int64_t idle_timeout_ms;      /* no bytes in or out for this long: closed */
    int64_t handshake_timeout_ms; /* TLS + protocol handshake must finish within this */
    /* TCP keepalive: probes after this long without traffic find a peer whose host vanished
     * (it never closed); 0 = off. Probes every min(this, 10 s), 6 unanswered close it. */
    int64_t keepalive_ms;
    const net_tls_config *tls;    /* may be NULL */
    const char *component;        /* for log lines */
    /* No open connection and nothing waiting: the loop sleeps until one arrives instead of
     * ticking every 100 ms (a listener whose on_tick has work only for its connections). */
    bool quiet_when_idle;
    sl_metrics *metrics;
} net_server_config;

/* Listens (the port is bound on return, so tests can connect at once). Borrows cfg and cb
 * (they must outlive the server). Returns SL_OK or an error with a message in err. */
int net_server_open(net_server **out, const net_server_config *cfg, const net_server_cb *cb,
                    void *arg, char *err, size_t errlen);
/* Serves until stop_fd is readable. Calls the callbacks on this thread. */
void net_server_run(net_server *s, int stop_fd);
/* Closes every connection (on_close for each) and the listener; frees s. */
void net_server_free(net_server *s);
int net_server_port(const net_server *s);

/* Binds a non-blocking listening socket to host:port (host "" = all interfaces; `address`
 * names it in messages), trying each address the host resolves to. Sets *bound to the port
 * bound (port 0 picks one). Returns the socket, or a negative SL_ERR_* with err set: the
 * host does not resolve (SL_ERR_CONFIG), the port is in use, the address is not local... */
int net_listen(const char *address, const char *host, int port, int backlog, int *bound,
               char *err, size_t errlen);

/* A UDP socket (non-blocking, close-on-exec) bound to the first address host resolves to,
 * as every datagram listener binds; rcvbuf > 0 sets its receive buffer (SO_RCVBUFFORCE where
 * allowed, else SO_RCVBUF, which net.core.rmem_max caps). Returns the fd, or an SL_ERR with a
 * message worded as net_listen's. */
int net_bind_udp(const char *address, const char *host, int port, int rcvbuf, char *err,
                 size_t errlen);

/* Binds `address` (host:port) as a listener would, TCP or UDP, and lets it go at once: SL_OK
 * if it could be bound now, else as net_listen says why (a reload checks a new listening
 * address this way before it stops anything). */
int net_probe_listen(const char *address, bool udp, char *err, size_t errlen);

/* Queues bytes for the peer (copied) and writes what the socket takes now. */
void net_conn_send(net_server *s, net_conn *c, const void *p, size_t n);
/* Bytes queued for the peer and not yet taken by the socket. */
size_t net_conn_queued(net_conn *c);
/* Drops the first n bytes of c->in. */
void net_conn_consume(net_conn *c, size_t n);
/* Closes after the queued bytes are written (or at once when `now`). */
void net_conn_close(net_server *s, net_conn *c, bool now);
/* Stops / resumes reading this connection. Resuming re-runs on_data on what is buffered. */
void net_conn_pause(net_server *s, net_conn *c, bool paused);
/* The handshake of the protocol is done: the handshake timeout no longer applies. */
void net_conn_set_ready(net_server *s, net_conn *c);
/* Closes the connection (counted as "request_timeout") if it is still there at
 * deadline_ms (monotonic); 0 clears it. For slow senders of a request. */
void net_conn_set_deadline(net_server *s, net_conn *c, int64_t deadline_ms);
/* The live connection with this id, or NULL if it has gone. */
net_conn *net_server_find(net_server *s, uint64_t id);
/* The numeric host (and port, when not NULL) of a peer's address `sa` (a sockaddr_storage)
 * into host (at least INET6_ADDRSTRLEN bytes). An IPv4 peer of a socket on [::] comes
 * v4-mapped (::ffff:a.b.c.d): it is written a.b.c.d, as on a 0.0.0.0 socket. */
void net_peer_host(const void *sa, char *host, size_t hostlen, int *port);
/* A warning about outside input, at most one line a second (repeats are counted). */
void net_server_warn(net_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Watches another descriptor on the server's loop (a UDP socket beside the listener, say):
 * fn(arg, fd) runs on the server's thread while it is readable. At most 4; borrows fd,
 * which must stay open until net_server_free. Returns SL_OK or SL_ERR_FULL. */
int net_server_watch(net_server *s, int fd, void (*fn)(void *arg, int fd), void *arg);
/* Number of open connections. */
size_t net_server_connections(const net_server *s);

#endif
