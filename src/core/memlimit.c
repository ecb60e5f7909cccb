/* memlimit.c - the memory governor: samples the resident set and pauses source classes.
 *
 * Notes on the design
 *
 *  1. What is measured: the resident set (RSS, /proc/self/statm, read with one pread on a
 *     descriptor kept open) every 100 ms on the governor's own thread, a few microseconds
 *     each. RSS rather than the buffers' accounted bytes plus a baseline: it is what the
 *     kernel charges and kills for, and it sees what accounting cannot (libcurl and TLS
 *     state, request and response bodies being encoded or parsed, the allocator's own
 *     overhead). The buffers are bounded by their own max_bytes anyway.
 *  2. glibc keeps freed memory inside its heaps, so RSS does not fall by itself when the
 *     buffers drain. While any class is paused the governor calls malloc_trim(0) (at most
 *     every 200 ms), which returns free pages of every arena to the kernel, so RSS follows
 *     what is really held and the paused classes can resume.
 *  3. The state is one mask of paused classes (bit c = sl_mem_class c), written only by
 *     the governor and read with a relaxed atomic load on every source_emit: no lock on the
 *     hot path. Transitions follow memlimit_decide (pure, unit-tested): thresholds per
 *     class with hysteresis, and nothing paused while nothing sluice holds can drain (the
 *     pause could never end). One info line per transition, one warning the first time
 *     the resident set is over a threshold with nothing to drain (the limit is below what
 *     the pipeline needs when idle).
 *  4. Between two samples memory can still grow by what is being read (a source batch per
 *     source, the requests in flight): the headroom, 1/8 of the limit and at least 4 MiB,
 *     is for that; the live class pauses one headroom below the limit. */
#include "memlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "log.h"

#define MIB (1024.0 * 1024.0)

static const char *const class_names[SL_MEM_NCLASS] = {"deep_history", "backfill", "live"};

static struct {
    pthread_mutex_t mu; /* start/stop and the governor's sleep */
    pthread_cond_t cv;
    pthread_t th;
    bool running, stop;
    uint64_t limit;
    const char *from;
    sl_mem_held_fn held;
    void *arg;
    int statm_fd;
    long page;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .statm_fd = -1};

static _Atomic uint64_t g_limit;      /* for status and metrics */
static atomic_uint g_mask;            /* paused classes */
static _Atomic uint64_t g_rss;        /* last sample */
static _Atomic uint64_t g_held;       /* memory buffers' bytes at the last sample */
static atomic_int g_paused_sources;

uint64_t memlimit_headroom(uint64_t limit)
{
    uint64_t h = SL_MAX(limit / 8, (uint64_t)4 << 20);
    return SL_MIN(h, limit / 2);
}

uint64_t memlimit_pause_at(uint64_t limit, sl_mem_class c)
{
    uint64_t h = memlimit_headroom(limit);
    uint64_t below = c == SL_MEM_LIVE ? h : c == SL_MEM_BACKFILL ? h + h / 2 : 2 * h;
    return limit > below ? limit - below : 0;
}

unsigned memlimit_decide(uint64_t limit, uint64_t rss, unsigned paused, bool drainable)
{
    if (!limit || !drainable)
        return 0;
    uint64_t hyst = memlimit_headroom(limit) / 2;
    unsigned out = 0;
    for (int c = 0; c < SL_MEM_NCLASS; c++) {
        uint64_t at = memlimit_pause_at(limit, (sl_mem_class)c);
        unsigned bit = 1u << c;
        if (rss >= at || ((paused & bit) && rss + hyst >= at))
            out |= bit;
    }
    return out;
}

/* Reads a whole small file into buf (NUL-terminated); false when it cannot. */
static bool read_small(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    return true;
}

uint64_t memlimit_cgroup(const char *proc_cgroup, const char *cgroup_root)
{
    char text[4096];
    if (!read_small(proc_cgroup, text, sizeof text))
        return 0;
    /* cgroup v2: the line "0::<path>" */
    char *p = strstr(text, "0::");
    if (p && p != text && p[-1] != '\n')
        p = NULL;
    if (!p)
        return 0;
    p += 3;
    char *nl = strchr(p, '\n');
    if (nl)
        *nl = '\0';
    char path[4096];
    snprintf(path, sizeof path, "%s", p);
    uint64_t best = 0;
    for (;;) {
        char file[8192], v[64];
        snprintf(file, sizeof file, "%s%s%smemory.max", cgroup_root,
                 strcmp(path, "/") == 0 ? "" : path, "/");
        if (read_small(file, v, sizeof v) && strncmp(v, "max", 3) != 0) {
            char *end;
            errno = 0;
            unsigned long long x = strtoull(v, &end, 10);
            if (!errno && end != v && x > 0 && (!best || x < best))
                best = x;
        }
        char *slash = strrchr(path, '/');
        if (!slash || strcmp(path, "/") == 0)
            break;
        if (slash == path)
            strcpy(path, "/");
        else
            *slash = '\0';
    }
    return best;
}

static uint64_t sample_rss(void)
{
    char buf[128];
    ssize_t n = pread(g.statm_fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    unsigned long long size = 0, rss = 0;
    if (sscanf(buf, "%llu %llu", &size, &rss) != 2)
        return 0;
    return (uint64_t)rss * (uint64_t)g.page;
}

static void names(unsigned mask, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (int c = 0; c < SL_MEM_NCLASS; c++)
        if (mask & (1u << c))
            len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s",
                                    len ? ", " : "", class_names[c]);
}

static void *governor_main(void *arg)
{
    (void)arg;
    int64_t last_trim = 0;
    bool warned = false;
    pthread_mutex_lock(&g.mu);
    while (!g.stop) {
        pthread_mutex_unlock(&g.mu);
        bool drainable = true;
        uint64_t held = g.held ? g.held(g.arg, &drainable) : 0;
        uint64_t rss = sample_rss();
        atomic_store_explicit(&g_held, held, memory_order_relaxed);
        atomic_store_explicit(&g_rss, rss, memory_order_relaxed);
        unsigned old = atomic_load_explicit(&g_mask, memory_order_relaxed);
        unsigned now_mask = memlimit_decide(g.limit, rss, old, drainable);
        if (now_mask != old) {
            atomic_store_explicit(&g_mask, now_mask, memory_order_relaxed);
            char on[96], off[96];
            names(now_mask & ~old, on, sizeof on);
            names(old & ~now_mask, off, sizeof off);
            if (on[0])
                log_info("memory", "rss %.1f MiB, limit %.1f MiB (%s): pausing %s", rss / MIB,
                         g.limit / MIB, g.from, on);
            if (off[0])
                log_info("memory", "rss %.1f MiB, limit %.1f MiB: resuming %s%s", rss / MIB,
                         g.limit / MIB, off, drainable ? "" : " (nothing left to drain)");
        }
        if (!drainable && !warned && rss >= memlimit_pause_at(g.limit, SL_MEM_LIVE)) {
            warned = true;
            log_warn("memory", "rss %.1f MiB is over the pause threshold %.1f MiB with nothing "
                     "buffered in memory: limits.memory (%.1f MiB) is too low for this pipeline",
                     rss / MIB, memlimit_pause_at(g.limit, SL_MEM_LIVE) / MIB, g.limit / MIB);
        }
        int64_t t = sl_mono_ms();
        if ((now_mask || rss >= memlimit_pause_at(g.limit, SL_MEM_DEEP)) && t - last_trim >= 200) {
            malloc_trim(0); /* note 2 */
            last_trim = t;
        }
        pthread_mutex_lock(&g.mu);
        if (!g.stop) {
            struct timespec ts = sl_deadline_mono(100);
            pthread_cond_timedwait(&g.cv, &g.mu, &ts);
        }
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

int memlimit_start(uint64_t limit, const char *from, sl_mem_held_fn held, void *arg, char *err,
                   size_t errlen)
{
    pthread_mutex_lock(&g.mu);
    if (g.running) {
        /* One governor per process: a second pipeline in the same process (tests) runs
         * under the first one's. */
        pthread_mutex_unlock(&g.mu);
        return SL_ERR_AGAIN;
    }
    atomic_store(&g_mask, 0);
    atomic_store(&g_paused_sources, 0);
    atomic_store(&g_limit, limit);
    if (!limit) {
        pthread_mutex_unlock(&g.mu);
        return SL_OK;
    }
    g.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (g.statm_fd < 0) {
        int e = errno;
        pthread_mutex_unlock(&g.mu);
        atomic_store(&g_limit, 0);
        return sl_seterr(err, errlen, SL_ERR_IO, "limits.memory: /proc/self/statm: %s",
                         strerror(e));
    }
    g.page = sysconf(_SC_PAGESIZE);
    g.limit = limit;
    g.from = from ? from : "config";
    g.held = held;
    g.arg = arg;
    atomic_store(&g_rss, 0); /* no estimate before the first sample */
    g.stop = false;
    sl_cond_init_mono(&g.cv);
    if (pthread_create(&g.th, NULL, governor_main, NULL) == 0) {
        sl_thread_name(g.th, "memlimit", NULL);
    } else {
        close(g.statm_fd);
        g.statm_fd = -1;
        pthread_cond_destroy(&g.cv);
        pthread_mutex_unlock(&g.mu);
        atomic_store(&g_limit, 0);
        return sl_seterr(err, errlen, SL_ERR_NOMEM, "limits.memory: cannot start a thread");
    }
    g.running = true;
    pthread_mutex_unlock(&g.mu);
    log_info("memory", "limit %.1f MiB (%s): sources pause from %.1f MiB (deep history), "
             "%.1f MiB (backfill), %.1f MiB (live and other sources)", limit / MIB, g.from,
             memlimit_pause_at(limit, SL_MEM_DEEP) / MIB,
             memlimit_pause_at(limit, SL_MEM_BACKFILL) / MIB,
             memlimit_pause_at(limit, SL_MEM_LIVE) / MIB);
    return SL_OK;
}

void memlimit_stop(void)
{
    pthread_mutex_lock(&g.mu);
    if (!g.running) {
        pthread_mutex_unlock(&g.mu);
        return;
    }
    g.stop = true;
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    pthread_join(g.th, NULL);
    pthread_mutex_lock(&g.mu);
    g.running = false;
    close(g.statm_fd);
    g.statm_fd = -1;
    pthread_cond_destroy(&g.cv);
    pthread_mutex_unlock(&g.mu);
    atomic_store(&g_mask, 0);
}

bool memlimit_active(void) { return atomic_load_explicit(&g_limit, memory_order_relaxed) != 0; }

bool memlimit_over(int c, uint64_t buffered_now)
{
    uint64_t limit = atomic_load_explicit(&g_limit, memory_order_relaxed);
    uint64_t rss = atomic_load_explicit(&g_rss, memory_order_relaxed);
    if (c < 0 || c >= SL_MEM_NCLASS || !limit || !rss)
        return false;
    uint64_t held = atomic_load_explicit(&g_held, memory_order_relaxed);
    /* Only growth since the sample counts: the state at the sample is the governor's to
     * judge (and when nothing could drain then, it paused nothing: note 3). */
    if (buffered_now <= held)
        return false;
    return rss + (buffered_now - held) >= memlimit_pause_at(limit, (sl_mem_class)c);
}

bool memlimit_paused(int c)
{
    if (c < 0 || c >= SL_MEM_NCLASS)
        return false;
    return (atomic_load_explicit(&g_mask, memory_order_relaxed) >> c) & 1u;
}

void memlimit_count_paused(int delta) { atomic_fetch_add(&g_paused_sources, delta); }

void memlimit_status_json(sl_buf *out)
{
    uint64_t limit = atomic_load(&g_limit);
    unsigned mask = atomic_load(&g_mask);
    buf_printf(out, ",\"memory\":{\"limit_bytes\":%llu,\"from\":\"%s\",\"headroom_bytes\":%llu,"
               "\"rss_bytes\":%llu,\"paused_sources\":%d,\"paused_classes\":[",
               (unsigned long long)limit, limit ? (g.from ? g.from : "config") : "none",
               (unsigned long long)(limit ? memlimit_headroom(limit) : 0),
               (unsigned long long)atomic_load(&g_rss), atomic_load(&g_paused_sources));
    bool first = true;
    for (int c = 0; c < SL_MEM_NCLASS; c++)
        if (mask & (1u << c)) {
            buf_printf(out, "%s\"%s\"", first ? "" : ",", class_names[c]);
            first = false;
        }
    buf_puts(out, "]}");
}

void memlimit_render_prometheus(sl_buf *out)
{
    buf_puts(out, "# HELP sluice_memory_limit_bytes The memory limit sources pause below "
                  "(limits.memory or the cgroup's memory.max); 0 = none.\n"
                  "# TYPE sluice_memory_limit_bytes gauge\n");
    buf_printf(out, "sluice_memory_limit_bytes %llu\n", (unsigned long long)atomic_load(&g_limit));
    buf_puts(out, "# HELP sluice_memory_paused_sources Sources paused (or holding back part of "
                  "their reading) by the memory limit.\n"
                  "# TYPE sluice_memory_paused_sources gauge\n");
    buf_printf(out, "sluice_memory_paused_sources %d\n", atomic_load(&g_paused_sources));
    buf_puts(out, "# HELP sluice_memory_paused Whether a priority class of reading is paused "
                  "by the memory limit.\n# TYPE sluice_memory_paused gauge\n");
    unsigned mask = atomic_load(&g_mask);
    for (int c = 0; c < SL_MEM_NCLASS; c++)
        buf_printf(out, "sluice_memory_paused{class=\"%s\"} %u\n", class_names[c],
                   (mask >> c) & 1u);
}
