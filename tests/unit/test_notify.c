/* test_notify.c - the service manager notifications: datagrams to a bound AF_UNIX socket at
 * a path and at an abstract '@' name, no socket (nothing sent), bad names refused, the
 * watchdog period from WATCHDOG_USEC/WATCHDOG_PID, and the notifier thread's order:
 * STATUS=starting, READY=1 only once the phase says ready, WATCHDOG=1 pings, STOPPING=1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/notify.h"

/* A datagram socket bound at `name` (a path, or '@' for an abstract name), as the service
 * manager has one. Receives time out after 20 s: a safety net, never a measured time. */
static int bind_manager(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path, name, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    else
        unlink(name), len++;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, len), 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void recv_msg(int fd, char *buf, size_t n)
{
    ssize_t r = recv(fd, buf, n - 1, 0);
    assert_true(r > 0);
    buf[r] = '\0';
}

static void test_path_socket(void **state)
{
    (void)state;
    char path[64], buf[256], err[256];
    snprintf(path, sizeof path, "/tmp/sl-notify-%d.sock", (int)getpid());
    int fd = bind_manager(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(notify_send("READY=1\nSTATUS=up", err, sizeof err), 1);
    recv_msg(fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1\nSTATUS=up");
    close(fd);
    unlink(path);
    /* the manager went away: an error with a message, no crash */
    assert_int_equal(notify_send("WATCHDOG=1", err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void **state)
{
    (void)state;
    char name[64], buf[256], err[256];
    snprintf(name, sizeof name, "@sl-notify-test-%d", (int)getpid());
    int fd = bind_manager(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(notify_send("STOPPING=1", err, sizeof err), 1);
    recv_msg(fd, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1");
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

static void test_no_socket_and_bad_names(void **state)
{
    (void)state;
    char err[256];
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(notify_send("READY=1", err, sizeof err), 0);
    assert_null(notifier_start(NULL, NULL, "x")); /* nothing to notify: no thread */
    setenv("NOTIFY_SOCKET", "", 1);
    assert_int_equal(notify_send("READY=1", err, sizeof err), 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(notify_send("READY=1", err, sizeof err), -1);
    assert_non_null(strstr(err, "relative/path"));
    char longname[200];
    memset(longname, 'a', sizeof longname - 1);
    longname[0] = '/';
    longname[sizeof longname - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1); /* longer than sun_path */
    assert_int_equal(notify_send("READY=1", err, sizeof err), -1);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1); /* not spoken: said, not crashed */
    assert_int_equal(notify_send("READY=1", err, sizeof err), -1);
    unsetenv("NOTIFY_SOCKET");
}

static void test_watchdog_env(void **state)
{
    (void)state;
    char pid[32];
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    assert_int_equal(notify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(notify_watchdog_usec(), 30000000);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(notify_watchdog_usec(), 30000000);
    snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* another process's watchdog */
    assert_int_equal(notify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "12x", 1);
    assert_int_equal(notify_watchdog_usec(), 0);
    unsetenv("WATCHDOG_USEC");
}

static _Atomic int phase_now = SL_NOTIFY_STARTING;
static _Atomic int phase_calls;
static sl_notify_phase phase_fn(void *arg)
{
    (void)arg;
    atomic_fetch_add(&phase_calls, 1);
    return (sl_notify_phase)atomic_load(&phase_now);
}

/* Receives until a datagram other than WATCHDOG=1 arrives; counts the pings seen. */
static int recv_state(int fd, char *buf, size_t n)
{
    int pings = 0;
    for (;;) {
        recv_msg(fd, buf, n);
        if (strcmp(buf, "WATCHDOG=1") != 0)
            return pings;
        pings++;
    }
}

static void test_notifier_thread(void **state)
{
    (void)state;
    char name[64], buf[256];
    snprintf(name, sizeof name, "@sl-notifier-test-%d", (int)getpid());
    int fd = bind_manager(name);
    setenv("NOTIFY_SOCKET", name, 1);
    setenv("WATCHDOG_USEC", "20000", 1); /* a ping every 10 ms */
    atomic_store(&phase_now, SL_NOTIFY_STARTING);
    sl_notifier *n = notifier_start(phase_fn, NULL, "test.yaml, API 127.0.0.1:1");
    assert_non_null(n);
    recv_state(fd, buf, sizeof buf);
    assert_string_equal(buf, "STATUS=starting: test.yaml, API 127.0.0.1:1");
    /* not ready: the phase is asked again and again, and only pings arrive */
    int calls = atomic_load(&phase_calls);
    int pings = 0;
    while (atomic_load(&phase_calls) < calls + 3 || pings < 3) {
        recv_msg(fd, buf, sizeof buf);
        assert_string_equal(buf, "WATCHDOG=1");
        pings++;
    }
    atomic_store(&phase_now, SL_NOTIFY_READY);
    recv_state(fd, buf, sizeof buf);
    assert_string_equal(buf, "READY=1\nSTATUS=ready: test.yaml, API 127.0.0.1:1");
    /* pings go on while ready, and nothing else comes */
    for (int i = 0; i < 3; i++) {
        recv_msg(fd, buf, sizeof buf);
        assert_string_equal(buf, "WATCHDOG=1");
    }
    atomic_store(&phase_now, SL_NOTIFY_STOPPING);
    recv_state(fd, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1\nSTATUS=stopping: draining in-flight batches");
    notifier_stop(n); /* STOPPING=1 already said: not again */
    /* drain what is left: pings only */
    struct timeval tv = {0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0) {
        buf[r] = '\0';
        assert_string_equal(buf, "WATCHDOG=1");
    }
    close(fd);
    unsetenv("WATCHDOG_USEC");
    unsetenv("NOTIFY_SOCKET");
}

/* A stop before readiness: STOPPING=1 from notifier_stop, and never READY=1. */
static void test_notifier_stop_before_ready(void **state)
{
    (void)state;
    char name[64], buf[256];
    snprintf(name, sizeof name, "@sl-notifier-early-%d", (int)getpid());
    int fd = bind_manager(name);
    setenv("NOTIFY_SOCKET", name, 1);
    unsetenv("WATCHDOG_USEC");
    atomic_store(&phase_now, SL_NOTIFY_STARTING);
    sl_notifier *n = notifier_start(phase_fn, NULL, "x");
    assert_non_null(n);
    recv_msg(fd, buf, sizeof buf);
    assert_string_equal(buf, "STATUS=starting: x");
    notifier_stop(n);
    recv_msg(fd, buf, sizeof buf);
    assert_string_equal(buf, "STOPPING=1\nSTATUS=stopping: draining in-flight batches");
    assert_true(recv(fd, buf, sizeof buf, MSG_DONTWAIT) < 0); /* nothing after */
    close(fd);
    unsetenv("NOTIFY_SOCKET");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_socket),
        cmocka_unit_test(test_abstract_socket),
        cmocka_unit_test(test_no_socket_and_bad_names),
        cmocka_unit_test(test_watchdog_env),
        cmocka_unit_test(test_notifier_thread),
        cmocka_unit_test(test_notifier_stop_before_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
