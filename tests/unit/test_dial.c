/* test_dial.c - net_dial: connects to a loopback listener (by address and by name), says
 * "Connection refused" where nobody listens, names a name too long to look up and a lookup
 * that answered with no address, and gives up on a name lookup at its deadline
 * while the lookup itself is still blocked (a stand-in resolver that waits on a gate), with
 * lookups pending at once bounded and usable again once they finish, and looks a name up
 * on the caller's own thread when no thread can be started (pthread_create is wrapped by
 * the link, see the Makefile). No assertion depends on how long anything took: the lookups
 * are held by the gate until the test opens it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "net/dial.h"

static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 64), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int64_t in_ms(int64_t ms) { return sl_mono_ns() + ms * 1000000LL; }

/* The link wraps pthread_create (-Wl,--wrap): while no_threads is set, it fails as it does
 * when the process is out of threads or memory. */
int __real_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg);
static _Atomic bool no_threads;
int __wrap_pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *),
                          void *arg)
{
    if (no_threads)
        return EAGAIN;
    return __real_pthread_create(th, attr, fn, arg);
}

/* ---- A resolver that holds every lookup until the gate opens ---- */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool open;
    int entered, returned;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};

static int gated_resolver(const char *host, const char *port, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    (void)host;
    pthread_mutex_lock(&gate.mu);
    gate.entered++;
    pthread_cond_broadcast(&gate.cv);
    while (!gate.open)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
    int rc = getaddrinfo("127.0.0.1", port, hints, res);
    pthread_mutex_lock(&gate.mu);
    gate.returned++;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
    return rc;
}

static void gate_reset(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = false;
    gate.entered = gate.returned = 0;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_open_and_wait(int returned)
{
    pthread_mutex_lock(&gate.mu);
    gate.open = true;
    pthread_cond_broadcast(&gate.cv);
    while (gate.returned < returned)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

/* A listener, with lookups going through the closed gate. */
static int gated_listener(int *port)
{
    gate_reset();
    net_dial_set_resolver(gated_resolver);
    return listener(port);
}

static int noname_resolver(const char *host, const char *port, const struct addrinfo *hints,
                           struct addrinfo **res)
{
    (void)host, (void)port, (void)hints, (void)res;
    return EAI_NONAME;
}

/* Success with an empty list: nothing to connect to. */
static int empty_resolver(const char *host, const char *port, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    (void)host, (void)port, (void)hints;
    *res = NULL;
    return 0;
}

static void test_connect_and_refused(void **state)
{
    (void)state;
    int port, lfd = listener(&port);
    dial_fail fail = 0;
    char err[256] = "";
    int fd = net_dial("127.0.0.1", port, in_ms(30000), &fail, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    fd = net_dial("localhost", port, in_ms(30000), &fail, err, sizeof err); /* by name */
    assert_true(fd >= 0);
    close(fd);
    fd = net_dial("bucket.localhost", port, in_ms(30000), &fail, err, sizeof err);
    assert_true(fd >= 0); /* RFC 6761 */
    close(fd);
    close(lfd); /* nobody listens there now */
    fd = net_dial("127.0.0.1", port, in_ms(30000), &fail, err, sizeof err);
    assert_int_equal(fd, -1);
    assert_int_equal(fail, DIAL_ERR_CONNECT);
    char want[64];
    snprintf(want, sizeof want, "connect to 127.0.0.1:%d: Connection refused", port);
    assert_string_equal(err, want);
}

static void test_lookup_errors(void **state)
{
    (void)state;
    dial_fail fail = 0;
    char err[256] = "";
    net_dial_set_resolver(noname_resolver);
    assert_int_equal(net_dial("nowhere.example", 80, in_ms(30000), &fail, err, sizeof err), -1);
    assert_int_equal(fail, DIAL_ERR_RESOLVE);
    assert_true(strncmp(err, "cannot resolve nowhere.example: ", 32) == 0);
    /* a name longer than DNS allows: refused before any lookup, the message cut short */
    char name[300];
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(net_dial(name, 80, in_ms(30000), &fail, err, sizeof err), -1);
    assert_int_equal(fail, DIAL_ERR_RESOLVE);
    char want[160];
    snprintf(want, sizeof want, "cannot resolve %.100s...: name too long", name);
    assert_string_equal(err, want);
    /* a resolver that answers with no address */
    net_dial_set_resolver(empty_resolver);
    assert_int_equal(net_dial("empty.example", 80, in_ms(30000), &fail, err, sizeof err), -1);
    assert_int_equal(fail, DIAL_ERR_CONNECT);
    assert_string_equal(err, "connect to empty.example:80: no address");
    /* an address is taken as it is: the resolver is asked only to convert it */
    int port, lfd = listener(&port);
    net_dial_set_resolver(NULL);
    int fd = net_dial("127.0.0.1", port, in_ms(30000), &fail, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    close(lfd);
}

/* A lookup that does not answer by the deadline: net_dial returns while it is still held. */
static void test_lookup_deadline(void **state)
{
    (void)state;
    int port, lfd = gated_listener(&port);
    dial_fail fail = 0;
    char err[256] = "";
    assert_int_equal(net_dial("slow.example", port, in_ms(50), &fail, err, sizeof err), -1);
    assert_int_equal(fail, DIAL_ERR_TIMEOUT);
    assert_string_equal(err, "resolving slow.example timed out");
    pthread_mutex_lock(&gate.mu);
    assert_int_equal(gate.returned, 0); /* given up on, not waited for */
    pthread_mutex_unlock(&gate.mu);
    gate_open_and_wait(1);
    /* with the gate open, a name resolves through its thread and connects */
    int fd = net_dial("fine.example", port, in_ms(30000), &fail, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    net_dial_set_resolver(NULL);
    close(lfd);
}

/* Lookups held at once are bounded; when they finish, lookups work again. */
static void test_lookups_bounded(void **state)
{
    (void)state;
    int port, lfd = gated_listener(&port);
    dial_fail fail = 0;
    char err[256] = "";
    int held = 0;
    for (;;) {
        int fd = net_dial("held.example", port, in_ms(1), &fail, err, sizeof err);
        assert_int_equal(fd, -1);
        if (strstr(err, "lookups already waiting"))
            break;
        assert_int_equal(fail, DIAL_ERR_TIMEOUT);
        held++;
        assert_true(held <= 64);
    }
    assert_int_equal(fail, DIAL_ERR_RESOLVE);
    assert_true(held >= 8);
    gate_open_and_wait(held);
    /* every held lookup has returned; its thread lets go of its slot right after */
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100000; tries++) {
        fd = net_dial("again.example", port, in_ms(30000), &fail, err, sizeof err);
        if (fd < 0) {
            assert_non_null(strstr(err, "lookups already waiting"));
            usleep(1000); /* a thread between its answer and its exit */
        }
    }
    assert_true(fd >= 0);
    close(fd);
    net_dial_set_resolver(NULL);
    close(lfd);
}

/* A resolver that says which thread asked it, then answers loopback. */
static pthread_t asked_on;
static int asked;
static int where_resolver(const char *host, const char *port, const struct addrinfo *hints,
                          struct addrinfo **res)
{
    (void)host;
    asked_on = pthread_self();
    asked++;
    return getaddrinfo("127.0.0.1", port, hints, res);
}

/* No thread to spare: the name is looked up on the caller's thread, errors are the usual
 * ones, and the lookup gives its slot back (more of them than the bound still work). */
static void test_lookup_without_thread(void **state)
{
    (void)state;
    int port, lfd = listener(&port);
    dial_fail fail = 0;
    char err[256] = "";
    net_dial_set_resolver(where_resolver);
    no_threads = true;
    for (int i = 0; i < 100; i++) {
        asked = 0;
        int fd = net_dial("nothread.example", port, in_ms(30000), &fail, err, sizeof err);
        assert_true(fd >= 0);
        close(fd);
        close(accept(lfd, NULL, NULL)); /* the listener's queue stays short */
        assert_int_equal(asked, 1);
        assert_true(pthread_equal(asked_on, pthread_self()));
    }
    net_dial_set_resolver(noname_resolver);
    assert_int_equal(net_dial("nothread.example", port, in_ms(30000), &fail, err, sizeof err), -1);
    assert_int_equal(fail, DIAL_ERR_RESOLVE);
    assert_true(strncmp(err, "cannot resolve nothread.example: ", 33) == 0);
    no_threads = false; /* threads again: the lookup is not the caller's */
    net_dial_set_resolver(where_resolver);
    asked = 0;
    int fd = net_dial("thread.example", port, in_ms(30000), &fail, err, sizeof err);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(asked, 1);
    assert_false(pthread_equal(asked_on, pthread_self()));
    net_dial_set_resolver(NULL);
    close(lfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_and_refused),
        cmocka_unit_test(test_lookup_errors),
        cmocka_unit_test(test_lookup_deadline),
        cmocka_unit_test(test_lookups_bounded),
        cmocka_unit_test(test_lookup_without_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
