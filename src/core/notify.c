/* notify.c - sd_notify(3)'s protocol, spoken directly (see notify.h).
 *
 * The notifier thread's states, in order, each entered once:
 *   starting  -> STATUS=starting sent at once
 *   ready     -> READY=1 (the phase callback said ready: every sink running, every listener
 *                bound; what /readyz answers 200 for)
 *   stopping  -> STOPPING=1 (the callback said stopping, or notifier_stop was called first)
 * A start that goes straight to stopping never sends READY=1. WATCHDOG=1 goes every
 * WATCHDOG_USEC/2 in every state until notifier_stop: it says the process still runs its
 * threads, which is what /healthz says too. */
#include "notify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

int notify_send(const char *state, char *err, size_t errlen)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t n = strlen(path);
    /* A path is absolute; an abstract name starts with '@', which stands for the NUL. */
    if ((path[0] != '/' && path[0] != '@') || n < 2 || n >= sizeof sa.sun_path) {
        sl_seterr(err, errlen, SL_ERR_INVAL, "NOTIFY_SOCKET=%s: not an absolute path or @name",
                  path);
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: the length says where the name ends */
    else
        salen++; /* a path's terminating NUL */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        sl_seterr(err, errlen, SL_ERR_IO, "NOTIFY_SOCKET: socket: %s", strerror(errno));
        return -1;
    }
    /* The manager's queue is short (net.unix.max_dgram_qlen, 10 by default): wait for room,
     * but at most a second, so a manager that stops reading costs a message, never a stuck
     * thread. */
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    ssize_t w = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    int e = errno;
    close(fd);
    if (w < 0 || (size_t)w != strlen(state)) {
        sl_seterr(err, errlen, SL_ERR_IO, "NOTIFY_SOCKET=%s: %s", path,
                  w < 0 ? strerror(e) : "short send");
        return -1;
    }
    return 1;
}

uint64_t notify_watchdog_usec(void)
{
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!us || !*us)
        return 0;
    if (pid && *pid) {
        char *end;
        long p = strtol(pid, &end, 10);
        if (*end || p != (long)getpid())
            return 0; /* meant for another process (e.g. a wrapper that exec'd us is fine) */
    }
    char *end;
    unsigned long long v = strtoull(us, &end, 10);
    return *end ? 0 : (uint64_t)v;
}

struct sl_notifier {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;             /* under mu */
    sl_notify_phase_fn phase;
    void *arg;
    char *what;
    uint64_t wd_ms;        /* watchdog ping period (WATCHDOG_USEC/2), 0 = none */
    sl_notify_phase sent;  /* the last phase told (thread only, then notifier_stop) */
    bool warned;           /* one log line for a manager that cannot be reached */
};

static void tell(sl_notifier *n, const char *state)
{
    char err[256];
    if (notify_send(state, err, sizeof err) < 0 && !n->warned) {
        n->warned = true;
        log_warn("sluice", "service manager notification: %s", err);
    }
}

static void tell_phase(sl_notifier *n, sl_notify_phase p)
{
    char msg[512];
    if (p == SL_NOTIFY_READY)
        snprintf(msg, sizeof msg, "READY=1\nSTATUS=ready: %s", n->what);
    else if (p == SL_NOTIFY_STOPPING)
        snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=stopping: draining in-flight batches");
    else
        snprintf(msg, sizeof msg, "STATUS=starting: %s", n->what);
    tell(n, msg);
    n->sent = p;
}

static void *notifier_thread(void *arg)
{
    sl_notifier *n = arg;
    tell_phase(n, SL_NOTIFY_STARTING);
    int64_t next_wd = sl_mono_ms();
    pthread_mutex_lock(&n->mu);
    while (!n->quit) {
        pthread_mutex_unlock(&n->mu);
        sl_notify_phase p = n->phase(n->arg);
        if (p != n->sent && n->sent != SL_NOTIFY_STOPPING &&
            !(p == SL_NOTIFY_STARTING && n->sent == SL_NOTIFY_READY))
            tell_phase(n, p);
        int64_t now = sl_mono_ms(), wait = 100;
        if (n->wd_ms) {
            if (now >= next_wd) {
                tell(n, "WATCHDOG=1");
                next_wd = now + (int64_t)n->wd_ms;
            }
            wait = SL_MIN(wait, next_wd - now);
        }
        pthread_mutex_lock(&n->mu);
        if (!n->quit && wait > 0) {
            struct timespec ts = sl_deadline_mono(wait);
            pthread_cond_timedwait(&n->cv, &n->mu, &ts);
        }
    }
    pthread_mutex_unlock(&n->mu);
    return NULL;
}

sl_notifier *notifier_start(sl_notify_phase_fn phase, void *arg, const char *what)
{
    const char *s = getenv("NOTIFY_SOCKET");
    if (!s || !*s)
        return NULL;
    sl_notifier *n = sl_xcalloc(1, sizeof *n);
    pthread_mutex_init(&n->mu, NULL);
    sl_cond_init_mono(&n->cv);
    n->phase = phase;
    n->arg = arg;
    n->what = sl_xstrdup(what ? what : "");
    n->sent = SL_NOTIFY_STARTING;
    uint64_t us = notify_watchdog_usec();
    n->wd_ms = us ? SL_MAX(us / 2000, 1) : 0;
    if (pthread_create(&n->th, NULL, notifier_thread, n) == 0) {
        sl_thread_name(n->th, "notify", NULL);
    } else {
        log_warn("sluice", "service manager notification: cannot start its thread");
        pthread_cond_destroy(&n->cv);
        pthread_mutex_destroy(&n->mu);
        free(n->what);
        free(n);
        return NULL;
    }
    return n;
}

void notifier_stop(sl_notifier *n)
{
    if (!n)
        return;
    pthread_mutex_lock(&n->mu);
    n->quit = true;
    pthread_cond_signal(&n->cv);
    pthread_mutex_unlock(&n->mu);
    pthread_join(n->th, NULL);
    if (n->sent != SL_NOTIFY_STOPPING)
        tell_phase(n, SL_NOTIFY_STOPPING);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n->what);
    free(n);
}
