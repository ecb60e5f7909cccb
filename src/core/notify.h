/* notify.h - the service manager notification protocol (sd_notify(3)) without libsystemd:
 * each message is one datagram of "KEY=value" lines to the AF_UNIX socket named by
 * $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
 *
 * The notifier is a thread that tells the manager what /readyz would say: READY=1 once the
 * pipeline is ready, WATCHDOG=1 every WATCHDOG_USEC/2 while the process runs, STOPPING=1 as
 * soon as a stop begins, with a STATUS= line at each step. Without $NOTIFY_SOCKET none of
 * this exists (notifier_start returns NULL and costs nothing). */
#ifndef SL_NOTIFY_H
#define SL_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sends `state` (e.g. "READY=1\nSTATUS=ready") to $NOTIFY_SOCKET, waiting at most 1 s for
 * room in the manager's queue. Returns 1 when sent, 0 when $NOTIFY_SOCKET is unset or empty
 * (nothing to do), -1 with a message in err. */
int notify_send(const char *state, char *err, size_t errlen);

/* The watchdog period the manager asked for, in microseconds: WATCHDOG_USEC when set and
 * WATCHDOG_PID is unset or this process; 0 otherwise (no watchdog). */
uint64_t notify_watchdog_usec(void);

/* What the pipeline is doing, as the notifier reads it (its callback's answer). */
typedef enum { SL_NOTIFY_STARTING, SL_NOTIFY_READY, SL_NOTIFY_STOPPING } sl_notify_phase;
typedef sl_notify_phase (*sl_notify_phase_fn)(void *arg);

typedef struct sl_notifier sl_notifier;

/* Starts the notifier thread when $NOTIFY_SOCKET is set; `phase` is called from that thread
 * (every 100 ms at most) and must be thread-safe. `what` names the pipeline in STATUS lines
 * (copied). Returns NULL when there is no manager to notify or the thread cannot start. */
sl_notifier *notifier_start(sl_notify_phase_fn phase, void *arg, const char *what);
/* Sends STOPPING=1 if not yet sent, stops and frees the notifier. NULL is fine. */
void notifier_stop(sl_notifier *n);

#endif
