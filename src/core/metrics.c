/* metrics.c - the metrics registry and its Prometheus text exposition.
 * Registration and rendering take one mutex; counter updates are lock-free atomics. */
#include "metrics.h"
#include "memlimit.h"

#include <math.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "version.h"

/* Upper bounds (seconds) of the request duration buckets; the last is +Inf. */
static const double bucket_bounds[SL_METRICS_BUCKETS - 1] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
static const char *const bucket_labels[SL_METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

/* The last reason slot is kept for "other", so overflow never loses a count. */
#define OTHER_SLOT (SL_METRICS_MAX_REASONS - 1)
static const char other_reason[] = "other";

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static sl_metrics *reg_head, *reg_tail;
/* Blocks of components a reload removed: out of the list (not rendered), freed at reset,
 * since a lock-free walker (metrics_first) may still be on one. */
static sl_metrics *retired;

/* Configuration reloads (metrics_config_reload). */
static atomic_uint_fast64_t reloads_ok, reloads_failed;
static _Atomic double reload_last_unix;
static atomic_int reload_last_ok = 1;

/* Component gauges (metrics_gauges_set): set rarely (a source's progress tick), so one lock
 * for all of them; taken after reg_lock when rendering. */
static pthread_mutex_t gauge_lock = PTHREAD_MUTEX_INITIALIZER;
typedef struct sl_metric_gauge {
    const char *family, *help, *label, *label2; /* static; label2 may be NULL */
    char value[128], value2[128];
    bool has_value, has_value2;
    double v;
} sl_metric_gauge;
struct sl_metric_gauges {
    sl_metric_gauge g[SL_METRICS_MAX_GAUGES];
    size_t n;
};

sl_metrics *metrics_register(const char *id, const char *kind, const char *type)
{
    sl_metrics *m = sl_xcalloc(1, sizeof *m);
    m->id = sl_xstrdup(id ? id : "");
    m->kind = sl_xstrdup(kind ? kind : "");
    m->type = sl_xstrdup(type ? type : "");
    atomic_store(&m->state, "ok");
    pthread_mutex_lock(&reg_lock);
    if (reg_tail)
        reg_tail->next = m;
    else
        reg_head = m;
    reg_tail = m;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

static void metrics_free_list(sl_metrics *m, bool retired_list)
{
    while (m) {
        sl_metrics *next = retired_list ? m->retired_next : m->next;
        free(m->gauges);
        free((char *)m->id);
        free((char *)m->kind);
        free((char *)m->type);
        free(m);
        m = next;
    }
}

void metrics_reset(void)
{
    pthread_mutex_lock(&reg_lock);
    sl_metrics *m = reg_head, *r = retired;
    reg_head = reg_tail = retired = NULL;
    atomic_store(&reloads_ok, 0);
    atomic_store(&reloads_failed, 0);
    atomic_store(&reload_last_unix, 0.0);
    atomic_store(&reload_last_ok, 1);
    pthread_mutex_unlock(&reg_lock);
    metrics_free_list(m, false);
    metrics_free_list(r, true);
}

void metrics_set_type(sl_metrics *m, const char *type)
{
    char *t = sl_xstrdup(type ? type : "");
    pthread_mutex_lock(&reg_lock);
    char *old = (char *)m->type;
    m->type = t;
    pthread_mutex_unlock(&reg_lock);
    free(old);
}

void metrics_config_reload(bool ok)
{
    atomic_fetch_add(ok ? &reloads_ok : &reloads_failed, 1);
    atomic_store(&reload_last_ok, ok ? 1 : 0);
    atomic_store(&reload_last_unix, (double)sl_now_ns() / 1e9);
}

void metrics_unregister(sl_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&reg_lock);
    sl_metrics *prev = NULL;
    for (sl_metrics *p = reg_head; p; prev = p, p = p->next) {
        if (p != m)
            continue;
        if (prev)
            prev->next = m->next;
        else
            reg_head = m->next;
        if (reg_tail == m)
            reg_tail = prev;
        /* m->next still leads into the list for a walker standing on m. */
        m->retired_next = retired;
        retired = m;
        break;
    }
    pthread_mutex_unlock(&reg_lock);
}

sl_metrics *metrics_first(void)
{
    pthread_mutex_lock(&reg_lock);
    sl_metrics *m = reg_head;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

int64_t metrics_lag_ms(const sl_metrics *m)
{
    int64_t since = atomic_load(&m->lag_since_ms);
    return since ? SL_MAX(0, sl_mono_ms() - since) : 0;
}

static bool reason_eq(const char *a, const char *b) { return a == b || strcmp(a, b) == 0; }

/* Claims or finds slot i for `reason`; true when the slot now holds it. */
static bool slot_take(sl_metric_reason *slot, const char *reason)
{
    const char *cur = atomic_load_explicit(&slot->reason, memory_order_acquire);
    if (cur == NULL) {
        const char *expected = NULL;
        if (atomic_compare_exchange_strong(&slot->reason, &expected, reason))
            return true;
        cur = expected; /* lost the race: see whether the winner has our reason */
    }
    return reason_eq(cur, reason);
}

/* Adds n to the slot of `name` in slots (a free one if it has none; the last slot, "other",
 * once all are taken). Lock-free: slots are claimed with a compare-and-swap. */
static void slots_add(sl_metric_reason *slots, const char *name, uint64_t n)
{
    if (strcmp(name, other_reason) != 0) {
        for (int i = 0; i < OTHER_SLOT; i++) {
            if (slot_take(&slots[i], name)) {
                atomic_fetch_add_explicit(&slots[i].count, n, memory_order_relaxed);
                return;
            }
        }
    }
    slot_take(&slots[OTHER_SLOT], other_reason);
    atomic_fetch_add_explicit(&slots[OTHER_SLOT].count, n, memory_order_relaxed);
}

void metrics_error(sl_metrics *m, const char *reason)
{
    if (m)
        slots_add(m->errors, reason && *reason ? reason : "unknown", 1);
}

void metrics_count(sl_metrics *m, const char *name, uint64_t n)
{
    if (m && name)
        slots_add(m->counters, name, n);
}

static uint64_t slots_get(const sl_metric_reason *slots, const char *name)
{
    for (int i = 0; i < SL_METRICS_MAX_REASONS; i++) {
        const char *r = atomic_load_explicit(&slots[i].reason, memory_order_acquire);
        if (r && reason_eq(r, name))
            return atomic_load_explicit(&slots[i].count, memory_order_relaxed);
    }
    return 0;
}

uint64_t metrics_count_get(const sl_metrics *m, const char *name)
{
    return m && name ? slots_get(m->counters, name) : 0;
}

uint64_t metrics_error_count(const sl_metrics *m, const char *reason)
{
    return m && reason ? slots_get(m->errors, reason) : 0;
}

void metrics_observe_duration(sl_metrics *m, double seconds)
{
    if (!m)
        return;
    if (!(seconds >= 0)) /* NaN or negative (clock step): count as zero */
        seconds = 0;
    int i = 0;
    while (i < SL_METRICS_BUCKETS - 1 && seconds > bucket_bounds[i])
        i++;
    atomic_fetch_add_explicit(&m->duration_buckets[i], 1, memory_order_relaxed);
    double us = seconds * 1e6;
    uint64_t add = us > 1.8e19 ? UINT64_MAX / 2 : (uint64_t)llround(us);
    atomic_fetch_add_explicit(&m->duration_sum_us, add, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->duration_count, 1, memory_order_relaxed);
}

void metrics_set_state(sl_metrics *m, const char *state)
{
    if (m)
        atomic_store(&m->state, state ? state : "ok");
}

static void gauges_set(sl_metrics *m, const char *family, const char *help, const char *label,
                       const char *label2, const sl_gauge_sample *v1,
                       const sl_gauge_sample2 *v2, size_t n)
{
    if (!m || !family)
        return;
    pthread_mutex_lock(&gauge_lock);
    if (!m->gauges)
        m->gauges = sl_xcalloc(1, sizeof *m->gauges);
    struct sl_metric_gauges *t = m->gauges;
    size_t k = 0; /* drop the family's old series, keeping the order of the others */
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->g[i].family, family) != 0)
            t->g[k++] = t->g[i];
    t->n = k;
    for (size_t i = 0; i < n && t->n < SL_METRICS_MAX_GAUGES; i++) {
        sl_metric_gauge *g = &t->g[t->n++];
        g->family = family;
        g->help = help ? help : "";
        g->label = label ? label : "label";
        const char *lv = v1 ? v1[i].label_value : v2[i].label_value;
        const char *lv2 = v1 ? NULL : v2[i].label2_value;
        g->has_value = lv != NULL;
        snprintf(g->value, sizeof g->value, "%s", lv ? lv : "");
        g->label2 = label2;
        g->has_value2 = label2 && lv2;
        snprintf(g->value2, sizeof g->value2, "%s", g->has_value2 ? lv2 : "");
        g->v = v1 ? v1[i].value : v2[i].value;
    }
    pthread_mutex_unlock(&gauge_lock);
}

void metrics_gauges_set(sl_metrics *m, const char *family, const char *help, const char *label,
                        const sl_gauge_sample *v, size_t n)
{
    gauges_set(m, family, help, label, NULL, v, NULL, n);
}

void metrics_gauges_set2(sl_metrics *m, const char *family, const char *help, const char *label,
                         const char *label2, const sl_gauge_sample2 *v, size_t n)
{
    gauges_set(m, family, help, label, label2, NULL, v, n);
}

/* ---- rendering ---- */

/* Label values escape backslash, double quote and newline (exposition format 0.0.4). */
static void put_label_value(sl_buf *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '\\': buf_puts(out, "\\\\"); break;
        case '"': buf_puts(out, "\\\""); break;
        case '\n': buf_puts(out, "\\n"); break;
        default: buf_putc(out, *s); break;
        }
    }
}

static void put_labels(sl_buf *out, const sl_metrics *m)
{
    buf_puts(out, "component_id=\"");
    put_label_value(out, m->id);
    buf_puts(out, "\",component_kind=\"");
    put_label_value(out, m->kind);
    buf_puts(out, "\",component_type=\"");
    put_label_value(out, m->type);
    buf_putc(out, '"');
}

static void put_family(sl_buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

enum which { ALL, SINKS, SOURCES };

static bool selected(const sl_metrics *m, enum which w)
{
    if (w == SINKS)
        return strcmp(m->kind, "sink") == 0;
    if (w == SOURCES)
        return strcmp(m->kind, "source") == 0;
    return true;
}

static bool any_selected(enum which w)
{
    for (const sl_metrics *m = reg_head; m; m = m->next)
        if (selected(m, w))
            return true;
    return false;
}

/* One family with one sample per selected component; integer-valued families
 * print without a fraction. */
static void render_simple(sl_buf *out, enum which w, const char *name, const char *type,
                          const char *help, size_t off, int kind)
{
    if (!any_selected(w))
        return;
    put_family(out, name, type, help);
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        if (!selected(m, w))
            continue;
        buf_printf(out, "%s{", name);
        put_labels(out, m);
        const char *p = (const char *)m + off;
        switch (kind) {
        case 0: /* unsigned 64 */
            buf_printf(out, "} %llu\n",
                       (unsigned long long)atomic_load((const atomic_uint_fast64_t *)p));
            break;
        case 1: /* signed 64 */
            buf_printf(out, "} %lld\n", (long long)atomic_load((const atomic_int_fast64_t *)p));
            break;
        default: /* int */
            buf_printf(out, "} %d\n", atomic_load((const atomic_int *)p));
            break;
        }
    }
}

#define U64 0
#define I64 1
#define INT 2
#define FIELD(f) offsetof(sl_metrics, f)

/* One family of per-name slots (errors or counters: the array at `field` of each
 * sl_metrics), labelled label="name"; nothing when no component has any. */
static void render_slots(sl_buf *out, size_t field, const char *name, const char *help,
                         const char *label)
{
#define SLOTS(m) ((const sl_metric_reason *)((const char *)(m) + field))
    bool any = false;
    for (const sl_metrics *m = reg_head; m && !any; m = m->next)
        for (int i = 0; i < SL_METRICS_MAX_REASONS; i++)
            if (atomic_load(&SLOTS(m)[i].reason))
                any = true;
    if (!any)
        return;
    put_family(out, name, "counter", help);
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        for (int i = 0; i < SL_METRICS_MAX_REASONS; i++) {
            const char *r = atomic_load(&SLOTS(m)[i].reason);
            if (!r)
                continue;
            buf_printf(out, "%s{", name);
            put_labels(out, m);
            buf_printf(out, ",%s=\"", label);
            put_label_value(out, r);
            buf_printf(out, "\"} %llu\n", (unsigned long long)atomic_load(&SLOTS(m)[i].count));
        }
    }
#undef SLOTS
}

/* Every family of component gauges, each once with all its series (the families in order
 * of first appearance). */
static void render_gauges(sl_buf *out)
{
    pthread_mutex_lock(&gauge_lock);
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        for (size_t i = 0; m->gauges && i < m->gauges->n; i++) {
            const char *fam = m->gauges->g[i].family;
            bool seen = false; /* rendered with an earlier component or series */
            for (const sl_metrics *p = reg_head; p != m->next && !seen; p = p->next)
                for (size_t j = 0; p->gauges && j < (p == m ? i : p->gauges->n) && !seen; j++)
                    seen = strcmp(p->gauges->g[j].family, fam) == 0;
            if (seen)
                continue;
            put_family(out, fam, "gauge", m->gauges->g[i].help);
            for (const sl_metrics *q = m; q; q = q->next) {
                for (size_t j = 0; q->gauges && j < q->gauges->n; j++) {
                    const sl_metric_gauge *g = &q->gauges->g[j];
                    if (strcmp(g->family, fam) != 0)
                        continue;
                    buf_printf(out, "%s{", fam);
                    put_labels(out, q);
                    if (g->has_value) {
                        buf_printf(out, ",%s=\"", g->label);
                        put_label_value(out, g->value);
                        buf_putc(out, '"');
                    }
                    if (g->has_value2) {
                        buf_printf(out, ",%s=\"", g->label2);
                        put_label_value(out, g->value2);
                        buf_putc(out, '"');
                    }
                    buf_printf(out, "} %.15g\n", g->v);
                }
            }
        }
    }
    pthread_mutex_unlock(&gauge_lock);
}

static void render_lag(sl_buf *out)
{
    if (!any_selected(SOURCES))
        return;
    const char *name = "sluice_source_lag_seconds";
    put_family(out, name, "gauge", "Age of the oldest batch a source has read whose position is not yet committed (0 when all are), in seconds.");
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        if (!selected(m, SOURCES))
            continue;
        buf_printf(out, "%s{", name);
        put_labels(out, m);
        buf_printf(out, "} %.3f\n", (double)metrics_lag_ms(m) / 1000.0);
    }
}

static void render_latency_p50(sl_buf *out)
{
    if (!any_selected(SINKS))
        return;
    const char *name = "sluice_sink_latency_p50_seconds";
    put_family(out, name, "gauge", "Median latency of a sink's last 32 requests, in seconds.");
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        if (!selected(m, SINKS))
            continue;
        buf_printf(out, "%s{", name);
        put_labels(out, m);
        buf_printf(out, "} %.6f\n", (double)atomic_load(&m->latency_p50_us) / 1e6);
    }
}

static void render_histogram(sl_buf *out)
{
    if (!any_selected(SINKS))
        return;
    const char *name = "sluice_sink_request_duration_seconds";
    put_family(out, name, "histogram", "Duration of sink requests, in seconds.");
    for (const sl_metrics *m = reg_head; m; m = m->next) {
        if (!selected(m, SINKS))
            continue;
        /* _count is the +Inf bucket so the series stays self-consistent even
         * while observations land during the render. */
        uint64_t cum = 0;
        for (int i = 0; i < SL_METRICS_BUCKETS; i++) {
            cum += atomic_load(&m->duration_buckets[i]);
            buf_printf(out, "%s_bucket{", name);
            put_labels(out, m);
            buf_printf(out, ",le=\"%s\"} %llu\n", bucket_labels[i], (unsigned long long)cum);
        }
        buf_printf(out, "%s_sum{", name);
        put_labels(out, m);
        buf_printf(out, "} %.6f\n", (double)atomic_load(&m->duration_sum_us) / 1e6);
        buf_printf(out, "%s_count{", name);
        put_labels(out, m);
        buf_printf(out, "} %llu\n", (unsigned long long)cum);
    }
}

/* Resident set size in bytes from /proc/self/statm (second field, in pages). */
static long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    long long size = 0, rss = 0;
    int n = fscanf(f, "%lld %lld", &size, &rss);
    fclose(f);
    if (n != 2)
        return 0;
    return rss * sysconf(_SC_PAGESIZE);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* Process start, seconds since the epoch: boot time (/proc/stat btime) plus the
 * start tick of this process (/proc/self/stat field 22). Computed once. */
static double start_time_cached;
static pthread_once_t start_time_once = PTHREAD_ONCE_INIT;

static void start_time_compute(void)
{
    start_time_cached = (double)sl_now_ns() / 1e9; /* fallback: first render */
    char line[256];
    long long btime = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    char stat[1024];
    f = fopen("/proc/self/stat", "r");
    if (!f)
        return;
    size_t n = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: skip to the last ')'. */
    char *p = strrchr(stat, ')');
    if (!p || btime < 0)
        return;
    p++;
    unsigned long long start_ticks = 0;
    /* after ')' come fields 3..; field 22 is the 20th of them */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p || sscanf(p, " %llu", &start_ticks) != 1)
        return;
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        return;
    start_time_cached = (double)btime + (double)start_ticks / (double)hz;
}

static double start_time_seconds(void)
{
    pthread_once(&start_time_once, start_time_compute);
    return start_time_cached;
}

static void render_process(sl_buf *out)
{
    put_family(out, "sluice_build_info", "gauge", "Build information; the value is always 1.");
    buf_puts(out, "sluice_build_info{version=\"");
    put_label_value(out, SLUICE_VERSION);
    buf_puts(out, "\"} 1\n");
    put_family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    buf_printf(out, "process_resident_memory_bytes %lld\n", resident_bytes());
    put_family(out, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
    buf_printf(out, "process_cpu_seconds_total %.6f\n", cpu_seconds());
    put_family(out, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
    buf_printf(out, "process_start_time_seconds %.3f\n", start_time_seconds());
}

void metrics_render_prometheus(sl_buf *out)
{
    pthread_mutex_lock(&reg_lock);
    render_simple(out, ALL, "sluice_component_received_events_total", "counter",
                  "Events received by a component.", FIELD(received_events), U64);
    render_simple(out, ALL, "sluice_component_received_bytes_total", "counter",
                  "Bytes received by a component.", FIELD(received_bytes), U64);
    render_simple(out, ALL, "sluice_component_sent_events_total", "counter",
                  "Events sent on (delivered, for sinks) by a component.", FIELD(sent_events), U64);
    render_simple(out, ALL, "sluice_component_sent_bytes_total", "counter",
                  "Bytes sent on (delivered, for sinks) by a component.", FIELD(sent_bytes), U64);
    render_simple(out, ALL, "sluice_component_dropped_events_total", "counter",
                  "Events dropped on purpose by policy.", FIELD(dropped_events), U64);
    render_slots(out, FIELD(errors), "sluice_component_errors_total",
                 "Errors seen by a component, by reason.", "reason");
    render_slots(out, FIELD(counters), "sluice_component_counter_total",
                 "Component-specific counters, by name.", "name");
    render_simple(out, SINKS, "sluice_sink_retries_total", "counter",
                  "Sink request retries.", FIELD(retries), U64);
    render_simple(out, SINKS, "sluice_sink_payload_bytes_total", "counter",
                  "Request body bytes before compression.", FIELD(payload_bytes), U64);
    render_simple(out, SINKS, "sluice_sink_wire_bytes_total", "counter",
                  "Request body bytes as sent (after compression).", FIELD(wire_bytes), U64);
    render_simple(out, SINKS, "sluice_dlq_events_total", "counter",
                  "Events written to the dead-letter queue.", FIELD(dlq_events), U64);
    render_simple(out, SINKS, "sluice_buffer_bytes", "gauge",
                  "Bytes waiting in a sink's buffer.", FIELD(buffer_bytes), I64);
    render_simple(out, SINKS, "sluice_buffer_events", "gauge",
                  "Events waiting in a sink's buffer.", FIELD(buffer_events), I64);
    render_simple(out, SINKS, "sluice_buffer_blocked_pushes", "gauge",
                  "Pushes (a source, or a sink handing over to this fallback) waiting for room "
                  "in a sink's buffer: backpressure in effect.", FIELD(buffer_blocked), INT);
    render_simple(out, SINKS, "sluice_sink_inflight", "gauge",
                  "Sink requests in flight.", FIELD(inflight), INT);
    render_simple(out, SINKS, "sluice_sink_request_events", "gauge",
                  "Events in a sink's requests being sent or retried (they have left its "
                  "buffer; undelivered all the same).", FIELD(request_events), I64);
    render_simple(out, SINKS, "sluice_sink_concurrency_limit", "gauge",
                  "Current adaptive concurrency limit of a sink.", FIELD(concurrency_limit), INT);
    render_simple(out, SINKS, "sluice_sink_batch_target", "gauge",
                  "Events a sink's next request holds at most (the adaptive batch size, or "
                  "batch.max_events).", FIELD(batch_target), I64);
    render_simple(out, SINKS, "sluice_sink_batch_target_bytes", "gauge",
                  "Payload bytes a sink's next request holds at most.", FIELD(batch_target_bytes),
                  I64);
    render_latency_p50(out);
    render_simple(out, SINKS, "sluice_circuit_state", "gauge",
                  "Circuit breaker state: 0 closed, 1 open, 2 half-open.", FIELD(circuit_state),
                  INT);
    render_histogram(out);
    render_simple(out, SOURCES, "sluice_files_tracked", "gauge",
                  "Files a source is tracking.", FIELD(files_tracked), I64);
    render_lag(out);
    render_gauges(out);
    pthread_mutex_unlock(&reg_lock);
    put_family(out, "sluice_config_reloads_total", "counter",
               "Configuration reloads (SIGHUP, POST /api/v1/reload), by result.");
    buf_printf(out, "sluice_config_reloads_total{result=\"ok\"} %llu\n",
               (unsigned long long)atomic_load(&reloads_ok));
    buf_printf(out, "sluice_config_reloads_total{result=\"failed\"} %llu\n",
               (unsigned long long)atomic_load(&reloads_failed));
    put_family(out, "sluice_config_last_reload_successful", "gauge",
               "1 if the last reload (or none yet) succeeded, 0 if it failed.");
    buf_printf(out, "sluice_config_last_reload_successful %d\n", atomic_load(&reload_last_ok));
    put_family(out, "sluice_config_last_reload_timestamp_seconds", "gauge",
               "Unix time of the last reload attempt, 0 if none.");
    buf_printf(out, "sluice_config_last_reload_timestamp_seconds %.3f\n",
               atomic_load(&reload_last_unix));
    render_process(out);
    memlimit_render_prometheus(out);
}
