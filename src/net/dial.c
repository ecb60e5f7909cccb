/* dial.c - outbound TCP connections within a deadline, the name lookup included (dial.h).
 *
 * A lookup is shared by the caller and its thread and freed by whichever lets go last:
 * the caller once it has the answer or gave up at its deadline, the thread once
 * getaddrinfo returned. Lookups pending at once are bounded (LOOKUPS_MAX), so a resolver
 * that hangs while a sink retries cannot pile up threads without end. */
#include "net/dial.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"

#define LOOKUPS_MAX 32

static _Atomic(dial_resolver_fn) resolver;
static atomic_int lookups_pending;

void net_dial_set_resolver(dial_resolver_fn fn) { atomic_store(&resolver, fn); }

static dial_resolver_fn resolver_fn(void)
{
    dial_resolver_fn fn = atomic_load(&resolver);
    return fn ? fn : getaddrinfo;
}

typedef struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    int refs;          /* the caller's and the thread's */
    bool done;
    int gai;
    struct addrinfo *res; /* the thread's answer until the caller takes it */
    dial_resolver_fn fn;
    char host[256], port[8];
} lookup;

static void lookup_release(lookup *l)
{
    pthread_mutex_lock(&l->mu);
    bool last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
}

static const struct addrinfo stream_hints = {
    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};

static void *lookup_run(void *arg)
{
    lookup *l = arg;
    struct addrinfo *res = NULL;
    int gai = l->fn(l->host, l->port, &stream_hints, &res);
    pthread_mutex_lock(&l->mu);
    l->gai = gai;
    l->res = gai == 0 ? res : NULL;
    l->done = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    atomic_fetch_sub(&lookups_pending, 1);
    lookup_release(l);
    return NULL;
}

static bool is_address(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* getaddrinfo for host:port, given up at the deadline; 0, or -1 with err set. */
static int resolve(const char *host, const char *port, int64_t deadline_ns,
                   struct addrinfo **res, dial_fail *fail, char *err, size_t errlen)
{
    dial_resolver_fn fn = resolver_fn();
    int gai;
    *fail = DIAL_ERR_RESOLVE;
    if (is_address(host)) {
        struct addrinfo h = stream_hints;
        h.ai_flags |= AI_NUMERICHOST;
        gai = fn(host, port, &h, res);
        goto answered;
    }
    if (strlen(host) >= sizeof ((lookup *)0)->host) {
        snprintf(err, errlen, "cannot resolve %.100s...: name too long", host);
        return -1;
    }
    if (atomic_fetch_add(&lookups_pending, 1) >= LOOKUPS_MAX) {
        atomic_fetch_sub(&lookups_pending, 1);
        snprintf(err, errlen, "cannot resolve %.100s: %d lookups already waiting for the "
                 "resolver", host, LOOKUPS_MAX);
        return -1;
    }
    lookup *l = sl_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    sl_cond_init_mono(&l->cv);
    l->refs = 2;
    l->fn = fn;
    snprintf(l->host, sizeof l->host, "%s", host);
    snprintf(l->port, sizeof l->port, "%s", port);
    pthread_attr_t attr;
    pthread_t th;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&th, &attr, lookup_run, l);
    pthread_attr_destroy(&attr);
    if (rc != 0) { /* no thread to spare: look it up here */
        atomic_fetch_sub(&lookups_pending, 1);
        l->refs = 1;
        lookup_release(l);
        gai = fn(host, port, &stream_hints, res);
        goto answered;
    }
    struct timespec ts = {(time_t)(deadline_ns / 1000000000LL), (long)(deadline_ns % 1000000000LL)};
    pthread_mutex_lock(&l->mu);
    while (!l->done && deadline_ns > sl_mono_ns())
        pthread_cond_timedwait(&l->cv, &l->mu, &ts);
    bool done = l->done;
    gai = l->gai;
    if (done) {
        *res = l->res;
        l->res = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    lookup_release(l);
    if (!done) {
        *fail = DIAL_ERR_TIMEOUT;
        snprintf(err, errlen, "resolving %.100s timed out", host);
        return -1;
    }
answered:
    if (gai != 0) {
        snprintf(err, errlen, "cannot resolve %.100s: %s", host,
                 gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        return -1;
    }
    return 0;
}

/* Waits for a non-blocking connect until the deadline; 0 or the error. */
static int connect_wait(int fd, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - sl_mono_ns();
        if (left <= 0)
            return ETIMEDOUT;
        struct pollfd p = {fd, POLLOUT, 0};
        int r = poll(&p, 1, (int)SL_MIN((left + 999999) / 1000000, (int64_t)INT32_MAX));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            continue; /* the loop checks the deadline */
        int e = 0;
        socklen_t el = sizeof e;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0)
            return errno;
        return e;
    }
}

int net_dial(const char *host, int port, int64_t deadline_ns, dial_fail *fail, char *err,
             size_t errlen)
{
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    const char *name = host;
    size_t hl = strlen(name);
    if (hl > 10 && strcasecmp(name + hl - 10, ".localhost") == 0)
        name = "localhost";
    struct addrinfo *res = NULL;
    if (resolve(name, ps, deadline_ns, &res, fail, err, errlen) != 0)
        return -1;
    char where[300];
    snprintf(where, sizeof where, strchr(host, ':') ? "[%.100s]:%d" : "%.100s:%d", host, port);
    *fail = DIAL_ERR_CONNECT;
    snprintf(err, errlen, "connect to %s: no address", where);
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(err, errlen, "socket: %s", strerror(errno));
            continue;
        }
        int e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
        if (e == EINPROGRESS)
            e = connect_wait(fd, deadline_ns);
        if (e) {
            if (e == ETIMEDOUT)
                *fail = DIAL_ERR_TIMEOUT;
            snprintf(err, errlen, "connect to %s: %s", where,
                     e == ETIMEDOUT ? "timed out" : strerror(e));
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}
