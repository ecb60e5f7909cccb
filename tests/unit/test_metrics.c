/* test_metrics.c - unit tests for the metrics registry and Prometheus rendering.
 * Includes a strict line-by-line checker of the text exposition format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/metrics.h"
#include "core/version.h"

/* ---- a strict checker of the Prometheus text format (0.0.4) ---- */

#define MAX_FAMILIES 64
#define MAX_SERIES 512

typedef struct fmt_state {
    char families[MAX_FAMILIES][128];
    char types[MAX_FAMILIES][16];
    bool helped[MAX_FAMILIES];
    int nfamilies;
    int current; /* family of the last TYPE line */
    char series[MAX_SERIES][512];
    int nseries;
    /* histogram checks for the current series label set */
    double last_le;
    double last_bucket;
    char hist_key[512];
    double inf_bucket;
    bool have_inf;
} fmt_state;

static bool is_name_start(int c) { return isalpha(c) || c == '_' || c == ':'; }
static bool is_name_char(int c) { return isalnum(c) || c == '_' || c == ':'; }

/* Parses a metric name; returns length or 0. */
static size_t parse_name(const char *s)
{
    if (!is_name_start((unsigned char)s[0]))
        return 0;
    size_t n = 1;
    while (is_name_char((unsigned char)s[n]))
        n++;
    return n;
}

static int family_index(fmt_state *st, const char *name, size_t n)
{
    for (int i = 0; i < st->nfamilies; i++)
        if (strlen(st->families[i]) == n && strncmp(st->families[i], name, n) == 0)
            return i;
    return -1;
}

static bool parse_value(const char *s, double *out)
{
    if (strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0 || strcmp(s, "NaN") == 0) {
        *out = 0;
        return true;
    }
    char *end;
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

/* Checks one sample line; fails the test on any deviation. */
static void check_sample(fmt_state *st, const char *line)
{
    size_t n = parse_name(line);
    assert_true(n > 0);
    char name[128];
    assert_true(n < sizeof name);
    memcpy(name, line, n);
    name[n] = '\0';
    assert_true(st->current >= 0);
    const char *fam = st->families[st->current];
    const char *type = st->types[st->current];
    const char *suffix = "";
    if (strcmp(name, fam) != 0) {
        /* only histograms and summaries may add a suffix */
        assert_string_equal(type, "histogram");
        size_t fl = strlen(fam);
        assert_true(strncmp(name, fam, fl) == 0);
        suffix = name + fl;
        assert_true(strcmp(suffix, "_bucket") == 0 || strcmp(suffix, "_sum") == 0 ||
                    strcmp(suffix, "_count") == 0);
    } else {
        assert_string_not_equal(type, "histogram");
    }
    const char *p = line + n;
    char labels_wo_le[512] = "";
    size_t lw = 0;
    double le = 0;
    bool have_le = false;
    if (*p == '{') {
        p++;
        bool first = true;
        char seen[16][64];
        int nseen = 0;
        while (*p != '}') {
            if (!first) {
                assert_int_equal(*p, ',');
                p++;
            }
            first = false;
            size_t ln = parse_name(p);
            assert_true(ln > 0 && ln < 64);
            char lname[64];
            memcpy(lname, p, ln);
            lname[ln] = '\0';
            assert_false(lname[0] == '_' && lname[1] == '_'); /* reserved */
            for (int i = 0; i < nseen; i++)
                assert_string_not_equal(seen[i], lname);
            assert_true(nseen < 16);
            strcpy(seen[nseen++], lname);
            p += ln;
            assert_int_equal(*p, '=');
            p++;
            assert_int_equal(*p, '"');
            p++;
            char val[256];
            size_t vl = 0;
            while (*p != '"') {
                assert_true(*p != '\0' && *p != '\n');
                if (*p == '\\') {
                    p++;
                    assert_true(*p == '\\' || *p == '"' || *p == 'n');
                }
                assert_true(vl < sizeof val - 1);
                val[vl++] = *p++;
            }
            val[vl] = '\0';
            p++;
            if (strcmp(lname, "le") == 0) {
                assert_true(parse_value(val, &le));
                if (strcmp(val, "+Inf") == 0)
                    le = 1e300;
                have_le = true;
            } else {
                lw += (size_t)snprintf(labels_wo_le + lw, sizeof labels_wo_le - lw, "%s=%s;",
                                       lname, val);
                assert_true(lw < sizeof labels_wo_le);
            }
        }
        p++;
    }
    assert_int_equal(*p, ' ');
    p++;
    double v;
    assert_true(parse_value(p, &v));
    /* no duplicate series */
    char key[1024];
    int kl = snprintf(key, sizeof key, "%s|%s|%g", name, labels_wo_le, have_le ? le : -1.0);
    assert_true(kl > 0 && (size_t)kl < sizeof st->series[0]);
    for (int i = 0; i < st->nseries; i++)
        assert_string_not_equal(st->series[i], key);
    assert_true(st->nseries < MAX_SERIES);
    strcpy(st->series[st->nseries++], key);
    if (strcmp(suffix, "_bucket") == 0) {
        assert_true(have_le);
        if (strcmp(st->hist_key, labels_wo_le) != 0) {
            assert_false(st->hist_key[0] && !st->have_inf); /* previous ended at +Inf */
            strcpy(st->hist_key, labels_wo_le);
            st->last_le = -1;
            st->last_bucket = 0;
            st->have_inf = false;
        }
        assert_true(le > st->last_le);
        assert_true(v >= st->last_bucket); /* cumulative */
        st->last_le = le;
        st->last_bucket = v;
        if (le >= 1e300) {
            st->have_inf = true;
            st->inf_bucket = v;
        }
    } else if (strcmp(suffix, "_count") == 0) {
        assert_string_equal(st->hist_key, labels_wo_le);
        assert_true(st->have_inf);
        assert_true(v == st->inf_bucket);
    } else {
        assert_false(have_le);
    }
}

/* Validates a whole exposition; returns the number of samples. */
static int check_exposition(const char *text)
{
    static fmt_state st;
    memset(&st, 0, sizeof st);
    st.current = -1;
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    int samples = 0;
    const char *line = text;
    while (*line) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        size_t ll = (size_t)(nl - line);
        char buf[1024];
        assert_true(ll < sizeof buf);
        memcpy(buf, line, ll);
        buf[ll] = '\0';
        assert_true(ll > 0); /* no blank lines in our output */
        if (strncmp(buf, "# HELP ", 7) == 0 || strncmp(buf, "# TYPE ", 7) == 0) {
            bool help = buf[2] == 'H';
            const char *p = buf + 7;
            size_t n = parse_name(p);
            assert_true(n > 0);
            assert_int_equal(p[n], ' ');
            int fi = family_index(&st, p, n);
            if (fi < 0) {
                assert_true(st.nfamilies < MAX_FAMILIES);
                fi = st.nfamilies++;
                memcpy(st.families[fi], p, n);
                st.families[fi][n] = '\0';
            } else {
                /* metadata for a family only before its samples, and only once */
                assert_int_equal(fi, st.current);
            }
            const char *rest = p + n + 1;
            if (help) {
                assert_false(st.helped[fi]);
                st.helped[fi] = true;
                for (const char *q = rest; *q; q++)
                    if (*q == '\\')
                        assert_true(q[1] == '\\' || q[1] == 'n'), q++;
            } else {
                assert_int_equal(st.types[fi][0], '\0');
                assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                            strcmp(rest, "histogram") == 0 || strcmp(rest, "summary") == 0 ||
                            strcmp(rest, "untyped") == 0);
                strcpy(st.types[fi], rest);
                assert_true(st.helped[fi]); /* our scheme: HELP then TYPE */
            }
            st.current = fi;
            st.hist_key[0] = '\0';
        } else {
            assert_int_not_equal(buf[0], '#');
            check_sample(&st, buf);
            samples++;
        }
        line = nl + 1;
    }
    for (int i = 0; i < st.nfamilies; i++)
        assert_true(st.types[i][0] != '\0');
    return samples;
}

/* ---- helpers ---- */

static char *render(void)
{
    sl_buf b = SL_BUF_INIT;
    metrics_render_prometheus(&b);
    buf_putc(&b, '\0');
    return b.p;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

static void assert_line(const char *text, const char *line)
{
    if (!has_line(text, line))
        fail_msg("missing line: %s\n---\n%s", line, text);
}

static int teardown(void **state)
{
    metrics_reset();
    return 0;
}

/* ---- tests ---- */

static void test_register_order_and_reset(void **state)
{
    assert_null(metrics_first());
    sl_metrics *a = metrics_register("a", "source", "file");
    sl_metrics *b = metrics_register("b", "sink", "blackhole");
    assert_ptr_equal(metrics_first(), a);
    assert_ptr_equal(a->next, b);
    assert_null(b->next);
    assert_string_equal(atomic_load(&a->state), "ok");
    metrics_set_state(a, "io_error");
    assert_string_equal(atomic_load(&a->state), "io_error");
    metrics_reset();
    assert_null(metrics_first());
}

static void test_exact_lines_sink(void **state)
{
    sl_metrics *m = metrics_register("out", "sink", "file");
    atomic_store(&m->received_events, 10);
    atomic_store(&m->received_bytes, 1000);
    atomic_store(&m->sent_events, 7);
    atomic_store(&m->sent_bytes, 700);
    atomic_store(&m->dropped_events, 2);
    atomic_store(&m->retries, 3);
    atomic_store(&m->dlq_events, 1);
    atomic_store(&m->buffer_bytes, 300);
    atomic_store(&m->buffer_events, 3);
    atomic_store(&m->buffer_blocked, 1);
    atomic_store(&m->inflight, 2);
    atomic_store(&m->concurrency_limit, 8);
    atomic_store(&m->circuit_state, SL_CIRCUIT_HALF_OPEN);
    char *t = render();
#define L "{component_id=\"out\",component_kind=\"sink\",component_type=\"file\"}"
    assert_line(t, "# HELP sluice_component_received_events_total Events received by a component.");
    assert_line(t, "# TYPE sluice_component_received_events_total counter");
    assert_line(t, "sluice_component_received_events_total" L " 10");
    assert_line(t, "sluice_component_received_bytes_total" L " 1000");
    assert_line(t, "sluice_component_sent_events_total" L " 7");
    assert_line(t, "sluice_component_sent_bytes_total" L " 700");
    assert_line(t, "sluice_component_dropped_events_total" L " 2");
    assert_line(t, "sluice_sink_retries_total" L " 3");
    assert_line(t, "sluice_dlq_events_total" L " 1");
    assert_line(t, "# TYPE sluice_buffer_bytes gauge");
    assert_line(t, "sluice_buffer_bytes" L " 300");
    assert_line(t, "sluice_buffer_events" L " 3");
    assert_line(t, "# TYPE sluice_buffer_blocked_pushes gauge");
    assert_line(t, "sluice_buffer_blocked_pushes" L " 1");
    assert_line(t, "sluice_sink_inflight" L " 2");
    assert_line(t, "sluice_sink_concurrency_limit" L " 8");
    assert_line(t, "sluice_circuit_state" L " 2");
    assert_line(t, "# TYPE sluice_sink_request_duration_seconds histogram");
    assert_line(t, "sluice_build_info{version=\"" SLUICE_VERSION "\"} 1");
    /* no errors yet: no errors family; a sink has no source-only families */
    assert_null(strstr(t, "sluice_component_errors_total"));
    assert_null(strstr(t, "sluice_files_tracked"));
    assert_null(strstr(t, "sluice_source_lag_seconds"));
    assert_non_null(strstr(t, "\nprocess_resident_memory_bytes "));
    assert_non_null(strstr(t, "\nprocess_cpu_seconds_total "));
    assert_non_null(strstr(t, "\nprocess_start_time_seconds "));
    check_exposition(t);
    free(t);
#undef L
}

static void test_source_and_transform_families(void **state)
{
    sl_metrics *s = metrics_register("in", "source", "file");
    sl_metrics *x = metrics_register("tx", "transform", "parse");
    atomic_store(&s->files_tracked, 4);
    atomic_store(&s->lag_since_ms, sl_mono_ms() - 1500); /* read 1.5 s ago, still pending */
    atomic_store(&x->sent_events, 5);
    char *t = render();
    assert_line(t, "sluice_files_tracked{component_id=\"in\",component_kind=\"source\","
                   "component_type=\"file\"} 4");
    /* the lag is the age now: 1.5 s, or a little more by the time it was rendered */
    const char *lag = "sluice_source_lag_seconds{component_id=\"in\",component_kind=\"source\","
                      "component_type=\"file\"} ";
    const char *at = strstr(t, lag);
    assert_non_null(at);
    double secs = strtod(at + strlen(lag), NULL);
    assert_true(secs >= 1.5 && secs < 1.5 + 600);
    assert_line(t, "sluice_component_sent_events_total{component_id=\"tx\","
                   "component_kind=\"transform\",component_type=\"parse\"} 5");
    /* neither is a sink */
    assert_null(strstr(t, "sluice_sink_inflight"));
    assert_null(strstr(t, "sluice_sink_request_duration_seconds"));
    assert_null(strstr(t, "component_id=\"tx\",component_kind=\"transform\","
                          "component_type=\"parse\"} 0\nsluice_files_tracked"));
    assert_null(strstr(t, "sluice_files_tracked{component_id=\"tx\""));
    check_exposition(t);
    free(t);
}

static void test_reasons(void **state)
{
    sl_metrics *m = metrics_register("s", "sink", "http");
    metrics_error(m, "io");
    metrics_error(m, "io");
    char parse[] = "parse"; /* same text, different pointer: same series */
    metrics_error(m, "parse");
    metrics_error(m, parse);
    assert_int_equal(metrics_error_count(m, "io"), 2);
    assert_int_equal(metrics_error_count(m, "parse"), 2);
    assert_int_equal(metrics_error_count(m, "nope"), 0);
    char *t = render();
    assert_line(t, "# TYPE sluice_component_errors_total counter");
    assert_line(t, "sluice_component_errors_total{component_id=\"s\",component_kind=\"sink\","
                   "component_type=\"http\",reason=\"io\"} 2");
    assert_line(t, "sluice_component_errors_total{component_id=\"s\",component_kind=\"sink\","
                   "component_type=\"http\",reason=\"parse\"} 2");
    check_exposition(t);
    free(t);
}

static void test_counters(void **state)
{
    sl_metrics *m = metrics_register("cw", "source", "cloudwatch_logs");
    metrics_count(m, "reconcile_windows_checked", 1);
    metrics_count(m, "reconcile_windows_checked", 2);
    metrics_count(m, "reconcile_events_missing", 40);
    metrics_error(m, "io"); /* errors and counters are separate tables */
    assert_int_equal(metrics_count_get(m, "reconcile_windows_checked"), 3);
    assert_int_equal(metrics_count_get(m, "reconcile_events_missing"), 40);
    assert_int_equal(metrics_count_get(m, "io"), 0);
    assert_int_equal(metrics_error_count(m, "reconcile_windows_checked"), 0);
    metrics_count(NULL, "x", 1); /* tolerated */
    char *t = render();
    assert_line(t, "# TYPE sluice_component_counter_total counter");
    assert_line(t, "sluice_component_counter_total{component_id=\"cw\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\",name=\"reconcile_windows_checked\"} 3");
    check_exposition(t);
    free(t);
}

/* Component gauges: one family header however many components carry it, a family's
 * series replaced as a whole, a series without the extra label, and the per-component cap. */
static void test_component_gauges(void **state)
{
    sl_metrics *a = metrics_register("a", "source", "cloudwatch_logs");
    sl_metrics *b = metrics_register("b", "source", "cloudwatch_logs");
    const char *fam = "sluice_backfill_remaining_windows";
    sl_gauge_sample v[] = {{NULL, 7}, {"/g/1", 5}, {"/g/\"2", 2.5}};
    metrics_gauges_set(a, fam, "Windows left.", "group", v, 3);
    metrics_gauges_set(b, fam, "Windows left.", "group", v, 1);
    metrics_gauges_set(a, "sluice_backfill_eta_seconds", "ETA.", "group", v, 2);
    v[0].value = 6;
    metrics_gauges_set(a, fam, "Windows left.", "group", v, 2); /* /g/"2 ends */
    char *t = render();
    const char *p = strstr(t, "# TYPE sluice_backfill_remaining_windows gauge");
    assert_non_null(p);
    assert_null(strstr(p + 1, "# TYPE sluice_backfill_remaining_windows gauge"));
    assert_line(t, "sluice_backfill_remaining_windows{component_id=\"a\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\"} 6");
    assert_line(t, "sluice_backfill_remaining_windows{component_id=\"a\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\",group=\"/g/1\"} 5");
    assert_line(t, "sluice_backfill_remaining_windows{component_id=\"b\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\"} 7");
    assert_line(t, "sluice_backfill_eta_seconds{component_id=\"a\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\",group=\"/g/1\"} 5");
    assert_null(strstr(t, "/g/\\\"2"));
    check_exposition(t);
    free(t);
    /* the cap: series past SL_METRICS_MAX_GAUGES are not kept */
    sl_gauge_sample many[SL_METRICS_MAX_GAUGES + 10];
    static char names[SL_METRICS_MAX_GAUGES + 10][16];
    for (int i = 0; i < SL_METRICS_MAX_GAUGES + 10; i++) {
        snprintf(names[i], sizeof names[i], "g%d", i);
        many[i] = (sl_gauge_sample){names[i], i};
    }
    metrics_gauges_set(b, "x_many", "Many.", "group", many, SL_METRICS_MAX_GAUGES + 10);
    t = render();
    int n = 0;
    for (const char *q = t; (q = strstr(q, "\nx_many{")); q++)
        n++;
    assert_int_equal(n, SL_METRICS_MAX_GAUGES - 1); /* b's remaining series has one slot */
    check_exposition(t);
    free(t);
    metrics_gauges_set(b, "x_many", "Many.", "group", NULL, 0);
    t = render();
    assert_null(strstr(t, "x_many"));
    free(t);
    /* two labels (a kafka partition: topic and partition) */
    sl_gauge_sample2 two[] = {{"logs", "0", 3}, {"logs", "1", 0}};
    metrics_gauges_set2(a, "sluice_kafka_consumer_lag", "Lag.", "topic", "partition", two, 2);
    t = render();
    assert_line(t, "sluice_kafka_consumer_lag{component_id=\"a\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\",topic=\"logs\",partition=\"0\"} 3");
    assert_line(t, "sluice_kafka_consumer_lag{component_id=\"a\",component_kind=\"source\","
                   "component_type=\"cloudwatch_logs\",topic=\"logs\",partition=\"1\"} 0");
    check_exposition(t);
    free(t);
}

static void test_reason_overflow_counts_as_other(void **state)
{
    sl_metrics *m = metrics_register("s", "sink", "http");
    static char names[40][16];
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "r%d", i);
        metrics_error(m, names[i]);
    }
    metrics_error(m, "other");
    /* 15 named slots, the rest (25 + 1 explicit) under "other" */
    for (int i = 0; i < SL_METRICS_MAX_REASONS - 1; i++)
        assert_int_equal(metrics_error_count(m, names[i]), 1);
    assert_int_equal(metrics_error_count(m, names[SL_METRICS_MAX_REASONS - 1]), 0);
    assert_int_equal(metrics_error_count(m, "other"), 40 - (SL_METRICS_MAX_REASONS - 1) + 1);
    metrics_error(m, NULL); /* no crash; counted somewhere */
    char *t = render();
    assert_line(t, "sluice_component_errors_total{component_id=\"s\",component_kind=\"sink\","
                   "component_type=\"http\",reason=\"other\"} 27");
    assert_int_equal(check_exposition(t) > 0, 1);
    free(t);
    metrics_error(NULL, "io"); /* tolerated */
}

#define THREADS 8
#define PER_THREAD 20000
static const char *const race_reasons[] = {"a", "b", "c", "d", "e"};

static void *race_worker(void *arg)
{
    sl_metrics *m = arg;
    for (int i = 0; i < PER_THREAD; i++)
        metrics_error(m, race_reasons[i % 5]);
    return NULL;
}

static void test_reason_claims_race(void **state)
{
    sl_metrics *m = metrics_register("s", "sink", "http");
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_worker, m), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int used = 0;
    for (int i = 0; i < SL_METRICS_MAX_REASONS; i++)
        if (atomic_load(&m->errors[i].reason))
            used++;
    assert_int_equal(used, 5); /* each reason claimed exactly one slot */
    for (int r = 0; r < 5; r++)
        assert_int_equal(metrics_error_count(m, race_reasons[r]), THREADS * PER_THREAD / 5);
}

static void test_histogram_cumulative(void **state)
{
    sl_metrics *m = metrics_register("es", "sink", "elasticsearch");
    metrics_observe_duration(m, 0.003);
    metrics_observe_duration(m, 0.005); /* le is inclusive */
    metrics_observe_duration(m, 0.2);
    metrics_observe_duration(m, 0.2);
    metrics_observe_duration(m, 3);
    metrics_observe_duration(m, 100);
    metrics_observe_duration(m, -1); /* clock step: counted as 0 */
    char *t = render();
#define H "sluice_sink_request_duration_seconds"
#define L "component_id=\"es\",component_kind=\"sink\",component_type=\"elasticsearch\""
    assert_line(t, "# HELP " H " Duration of sink requests, in seconds.");
    assert_line(t, H "_bucket{" L ",le=\"0.005\"} 3");
    assert_line(t, H "_bucket{" L ",le=\"0.01\"} 3");
    assert_line(t, H "_bucket{" L ",le=\"0.1\"} 3");
    assert_line(t, H "_bucket{" L ",le=\"0.25\"} 5");
    assert_line(t, H "_bucket{" L ",le=\"2.5\"} 5");
    assert_line(t, H "_bucket{" L ",le=\"5\"} 6");
    assert_line(t, H "_bucket{" L ",le=\"10\"} 6");
    assert_line(t, H "_bucket{" L ",le=\"+Inf\"} 7");
    assert_line(t, H "_sum{" L "} 103.408000");
    assert_line(t, H "_count{" L "} 7");
    check_exposition(t);
    free(t);
#undef H
#undef L
}

static void test_label_escaping(void **state)
{
    metrics_register("we\"ird\\id\nx", "sink", "file");
    char *t = render();
    assert_line(t, "sluice_sink_inflight{component_id=\"we\\\"ird\\\\id\\nx\","
                   "component_kind=\"sink\",component_type=\"file\"} 0");
    check_exposition(t);
    free(t);
}

static void test_many_components_parse(void **state)
{
    static char ids[12][16];
    const char *kinds[] = {"source", "transform", "sink"};
    for (int i = 0; i < 12; i++) {
        snprintf(ids[i], sizeof ids[i], "c%d", i);
        sl_metrics *m = metrics_register(ids[i], kinds[i % 3], "t");
        metrics_error(m, "io");
        metrics_observe_duration(m, 0.01 * i);
    }
    char *t = render();
    int samples = check_exposition(t);
    /* 5 common families x 12 + 12 error series + sink families (4 sinks: 11 gauges/counters
     * + 14 histogram lines; 14 with the batch target, its bytes and the latency p50) +
     * source families (4 sources x 2) + 4 config reload lines (ok, failed, last successful,
     * last time) + 4 process lines + 5 of the memory limit (limit, paused sources, paused
     * per class) */
    assert_int_equal(samples, 5 * 12 + 12 + 4 * (14 + 14) + 4 * 2 + 4 + 4 + 5);
    free(t);
}

/* The checker must be able to fail: run it on known-bad texts in a child process
 * (cmocka's failure longjmps out of the test, so each runs in its own group). */
static const char *bad_text;

static void check_bad_text(void **state) { check_exposition(bad_text); }

static bool checker_rejects(const char *text)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(devnull, 2);
        bad_text = text;
        const struct CMUnitTest t[] = {cmocka_unit_test(check_bad_text)};
        _exit(cmocka_run_group_tests(t, NULL, NULL) == 0 ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) && WEXITSTATUS(st) != 0;
}

static void test_checker_rejects_bad_input(void **state)
{
    const char *good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\n";
    assert_false(checker_rejects(good));
    const char *bad[] = {
        /* no trailing newline */
        "# HELP a A.\n# TYPE a gauge\na 1",
        /* sample before its TYPE */
        "a 1\n# HELP a A.\n# TYPE a gauge\n",
        /* duplicate series */
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",
        /* bad escape in a label value */
        "# HELP a A.\n# TYPE a gauge\na{x=\"\\t\"} 1\n",
        /* unknown type */
        "# HELP a A.\n# TYPE a meter\na 1\n",
        /* family split by another family */
        "# HELP a A.\n# TYPE a gauge\na{x=\"1\"} 1\n# HELP b B.\n# TYPE b gauge\nb 1\n"
        "# HELP a A.\n",
        /* histogram not cumulative */
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 3\n"
        "h_sum 1\nh_count 3\n",
        /* histogram count differs from +Inf */
        "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_sum 1\nh_count 4\n",
        /* value not a number */
        "# HELP a A.\n# TYPE a gauge\na 1x\n",
        /* bad metric name */
        "# HELP a A.\n# TYPE a gauge\n9a 1\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!checker_rejects(bad[i]))
            fail_msg("checker accepted bad text %zu:\n%s", i, bad[i]);
    assert_int_equal(parse_name("a:b_c{"), 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_register_order_and_reset, teardown),
        cmocka_unit_test_teardown(test_exact_lines_sink, teardown),
        cmocka_unit_test_teardown(test_source_and_transform_families, teardown),
        cmocka_unit_test_teardown(test_reasons, teardown),
        cmocka_unit_test_teardown(test_counters, teardown),
        cmocka_unit_test_teardown(test_component_gauges, teardown),
        cmocka_unit_test_teardown(test_reason_overflow_counts_as_other, teardown),
        cmocka_unit_test_teardown(test_reason_claims_race, teardown),
        cmocka_unit_test_teardown(test_histogram_cumulative, teardown),
        cmocka_unit_test_teardown(test_label_escaping, teardown),
        cmocka_unit_test_teardown(test_many_components_parse, teardown),
        cmocka_unit_test(test_checker_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
