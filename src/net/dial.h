/* dial.h - outbound TCP connections for the clients of sinks and sources (HTTP, Redis,
 * Forward): the name is resolved within the caller's deadline, then each address is tried
 * with a non-blocking connect until one accepts.
 *
 * A name lookup runs on a thread of its own while the caller waits for it until the
 * deadline: a DNS server that never answers costs a worker its request's deadline, not the
 * resolver's own timeouts (getaddrinfo can block for 5 s per server and attempt). A lookup
 * the caller gave up on finishes, or not, on its thread and frees what it holds. Addresses
 * (IPv4, IPv6 literals) are taken as they are, without a thread. */
#ifndef SL_DIAL_H
#define SL_DIAL_H

#include <stddef.h>
#include <stdint.h>

struct addrinfo;

typedef enum dial_fail {
    DIAL_ERR_RESOLVE = 1, /* the name has no address, or its lookup failed */
    DIAL_ERR_TIMEOUT,     /* the deadline passed while resolving or connecting */
    DIAL_ERR_CONNECT,     /* every address refused or failed */
} dial_fail;

/* A connected, non-blocking, close-on-exec socket to host:port, or -1 with *fail and `err`
 * set: "cannot resolve <host>: <why>", "resolving <host> timed out", "connect to
 * <host>:<port>: <why>". deadline_ns is on sl_mono_ns()'s clock. Names under .localhost are
 * loopback (RFC 6761), as libcurl has them. */
int net_dial(const char *host, int port, int64_t deadline_ns, dial_fail *fail, char *err,
             size_t errlen);

/* For tests: the function lookups call instead of getaddrinfo (NULL: getaddrinfo again). */
typedef int (*dial_resolver_fn)(const char *host, const char *port,
                                const struct addrinfo *hints, struct addrinfo **res);
void net_dial_set_resolver(dial_resolver_fn fn);

#endif
