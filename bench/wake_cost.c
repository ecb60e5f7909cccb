/* wake_cost.c - what a hand-off between threads costs on this machine: the figures behind
 * the memory buffer's wake-up at half (src/core/buffer.c, invariant 4) and BENCHMARKS'
 * elasticsearch round 21.
 *
 *   wake_cost            (make build/wake_cost; needs two CPUs, 0 and 1)
 *
 * Prints, each the median of 5 rounds:
 *   syscall          CPU of one system call that does nothing (getppid)
 *   TLB refill       what touching one line in each of 256 pages costs more right after
 *                    such a call than without it: where the kernel entry empties the TLB
 *                    (no PCID), user code pays again for every page it touches next
 *   wake, 2 cpus     CPU of the waker (its FUTEX_WAKE) and of the sleeper (its wait
 *                    returning) when a thread on CPU 1 sleeping in futex_wait is woken by
 *                    one on CPU 0: the cost a producer and a consumer on two cores pay per
 *                    hand-off that finds the other asleep
 *   wake, 1 cpu      the same with both threads on CPU 0
 *   cache line       round trip of one cache line written in turn by CPU 0 and CPU 1
 * CPU is each thread's own CPU time (CLOCK_THREAD_CPUTIME_ID): what the benchmarks'
 * events per CPU-second count. A benchmark, not a product: errors end it. */
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5
#define WAKES 4000
#define BOUNCES 100000

static double thread_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static double wall_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static void pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    if (pthread_setaffinity_np(pthread_self(), sizeof s, &s) != 0) {
        fprintf(stderr, "wake_cost: cannot run on CPU %d\n", cpu);
        exit(1);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v)
{
    qsort(v, ROUNDS, sizeof *v, cmp_double);
    return v[ROUNDS / 2];
}

/* ---- The TLB after a system call ------------------------------------------------------ */

#define PAGES 256

/* ns per round of touching PAGES pages, with or without a system call before each round. */
static double touch_round(volatile char *mem, bool call)
{
    long sum = 0;
    double t0 = thread_us();
    for (int r = 0; r < 20000; r++) {
        if (call)
            syscall(SYS_getppid);
        for (int i = 0; i < PAGES; i++)
            sum += mem[(size_t)i * 4096 + (size_t)(r & 63) * 64];
    }
    if (sum == 42)
        putchar(' ');
    return (thread_us() - t0) * 1000 / 20000;
}

/* ---- Wake-ups: the sleeper waits on `word`, the waker sets it and wakes it ---------------- */

static atomic_int word, sleeping;
static int sleeper_cpu;
static double sleeper_us;

static void *sleeper(void *arg)
{
    (void)arg;
    pin(sleeper_cpu);
    double t0 = thread_us();
    for (int i = 0; i < WAKES; i++) {
        atomic_store(&sleeping, 1);
        while (atomic_load(&word) == 0)
            syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
        atomic_store(&word, 0);
    }
    sleeper_us = thread_us() - t0;
    return NULL;
}

/* One round: the waker's and the sleeper's CPU per wake, in microseconds. */
static void wake_round(int cpu, double *waker, double *slept)
{
    pthread_t th;
    sleeper_cpu = cpu;
    atomic_store(&word, 0);
    atomic_store(&sleeping, 0);
    pin(0);
    if (pthread_create(&th, NULL, sleeper, NULL) != 0)
        exit(1);
    double spent = 0;
    for (int i = 0; i < WAKES; i++) {
        while (!atomic_load(&sleeping))
            sched_yield();
        atomic_store(&sleeping, 0);
        /* time to be asleep (on one CPU the yield above already let it sleep) */
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
        double t0 = thread_us();
        atomic_store(&word, 1);
        syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
        spent += thread_us() - t0;
    }
    pthread_join(th, NULL);
    *waker = spent / WAKES;
    *slept = sleeper_us / WAKES;
}

/* ---- A cache line written in turn by two CPUs --------------------------------------------- */

static _Alignas(64) atomic_long line;

static void *bouncer(void *arg)
{
    (void)arg;
    pin(1);
    for (long i = 0; i < BOUNCES; i++) {
        while (atomic_load(&line) != 2 * i + 1)
            ;
        atomic_store(&line, 2 * i + 2);
    }
    return NULL;
}

static double bounce_round(void)
{
    pthread_t th;
    atomic_store(&line, 0);
    pin(0);
    if (pthread_create(&th, NULL, bouncer, NULL) != 0)
        exit(1);
    double t0 = wall_ns();
    for (long i = 0; i < BOUNCES; i++) {
        atomic_store(&line, 2 * i + 1);
        while (atomic_load(&line) != 2 * i + 2)
            ;
    }
    double ns = (wall_ns() - t0) / BOUNCES;
    pthread_join(th, NULL);
    return ns;
}

int main(void)
{
    double sys[ROUNDS], tlb[ROUNDS], w2[ROUNDS], s2[ROUNDS], w1[ROUNDS], s1[ROUNDS],
        line_ns[ROUNDS];
    volatile char *mem = calloc(PAGES, 4096);
    if (!mem)
        return 1;
    for (size_t i = 0; i < (size_t)PAGES * 4096; i += 64)
        mem[i] = 1; /* pages of their own, not the shared zero page */
    pin(0);
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = thread_us();
        for (int i = 0; i < 100000; i++)
            syscall(SYS_getppid);
        sys[r] = (thread_us() - t0) / 100000;
        tlb[r] = touch_round(mem, true) - touch_round(mem, false) - sys[r] * 1000;
        wake_round(1, &w2[r], &s2[r]);
        wake_round(0, &w1[r], &s1[r]);
        line_ns[r] = bounce_round();
    }
    printf("syscall        %6.2f us CPU\n", median(sys));
    printf("TLB refill     %6.0f ns more for %d pages touched after a syscall\n", median(tlb),
           PAGES);
    printf("wake, 2 cpus   %6.2f us CPU of the waker, %6.2f us of the sleeper\n", median(w2),
           median(s2));
    printf("wake, 1 cpu    %6.2f us CPU of the waker, %6.2f us of the sleeper\n", median(w1),
           median(s1));
    printf("cache line     %6.0f ns round trip between CPU 0 and CPU 1\n", median(line_ns));
    return 0;
}
