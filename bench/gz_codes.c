/* gz_codes.c - what the learned codes (note 2 of src/net/gz.c) save on OTLP records: the
 * same segments compressed with gz_segment at level 1 on their own (stream NULL) and as
 * one stream (learned codes), alternated, each timed in this thread's CPU time.
 *
 *   gz_codes [SEGMENTS] [EVENTS]        (make build/gz_codes)
 *
 * Writes SEGMENTS (64) distinct batches of EVENTS (500: a run at the sink's defaults)
 * records with otlp_encode, protobuf, from events shaped as bench/forward_load.py's
 * --log-json records after parse(json) (level, msg, random trace and span ids, job,
 * machine and worker ids, a duration, a flag, the stream), then compresses every segment
 * 20 times each way. Prints bytes in and out, and MB/s over the fastest of the 20 rounds
 * (the least disturbed by other work on the machine) and over all. A benchmark, not a
 * product: errors end it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/event.h"
#include "core/buf.h"
#include "core/common.h"
#include "net/gz.h"
#include "sinks/otlp/otlp.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rnd = 1;
static uint64_t next(void)
{
    rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
    return rnd >> 11;
}

/* One batch's records, protobuf, as the otlp sink writes them. */
static void records(sl_buf *out, int events, int seg)
{
    static const char *levels[] = {"info", "info", "info", "debug", "warn", "error"};
    sl_batch *b = batch_new((uint32_t)events);
    char s[64];
    for (int i = 0; i < events; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1795000000000000000 + (int64_t)i * 1000000;
        int n = snprintf(s, sizeof s, "job %d processed in %d ms", seg * events + i,
                         (int)(next() % 900) + 1);
        e->message = batch_str(b, s, (size_t)n);
        event_set_str(b, e, "level", levels[next() % 6], strlen(levels[0]));
        n = snprintf(s, sizeof s, "%016llx%016llx", (unsigned long long)next(),
                     (unsigned long long)next());
        event_set_str(b, e, "trace_id", s, (size_t)n);
        n = snprintf(s, sizeof s, "%016llx", (unsigned long long)next());
        event_set_str(b, e, "span_id", s, (size_t)n);
        n = snprintf(s, sizeof s, "job-1-%d", seg * events + i);
        event_set_str(b, e, "job_id", s, (size_t)n);
        n = snprintf(s, sizeof s, "m-%d", i % 7);
        event_set_str(b, e, "machine_id", s, (size_t)n);
        n = snprintf(s, sizeof s, "w-%d", i % 31);
        event_set_str(b, e, "worker_id", s, (size_t)n);
        event_set_int(b, e, "duration_ms", (int64_t)(next() % 900) + 1);
        event_set_str(b, e, "ok", next() % 10 ? "true" : "false", 4);
        event_set_str(b, e, "stream", "stdout", 6);
    }
    sl_event **evs = malloc((size_t)events * sizeof *evs);
    for (int i = 0; i < events; i++)
        evs[i] = &b->events[i];
    sl_strmap res = {0};
    otlp_map m = {.resource = &res, .body_field = "body"};
    otlp_encode(out, false, evs, (size_t)events, &m, 1795000000000000000);
    free(evs);
    batch_release(b);
}

int main(int argc, char **argv)
{
    int nseg = argc > 1 ? atoi(argv[1]) : 64, events = argc > 2 ? atoi(argv[2]) : 500;
    if (nseg < 1 || events < 1) {
        fprintf(stderr, "usage: gz_codes [SEGMENTS] [EVENTS]\n");
        return 2;
    }
    sl_buf *seg = calloc((size_t)nseg, sizeof *seg);
    size_t in = 0;
    for (int i = 0; i < nseg; i++) {
        records(&seg[i], events, i);
        in += seg[i].len;
    }
    static const int stream = 0;
    sl_buf out = SL_BUF_INIT;
    double best[2] = {1e30, 1e30}, all[2] = {0, 0};
    size_t bytes[2] = {0, 0};
    enum { ROUNDS = 20 };
    for (int r = 0; r < ROUNDS; r++) {
        for (int way = 0; way < 2; way++) {
            size_t total = 0;
            double t0 = cpu_now();
            for (int i = 0; i < nseg; i++) {
                uint32_t crc;
                buf_reset(&out);
                if (gz_segment(GZ_AUTO, 1, way ? &stream : NULL, seg[i].p, seg[i].len, &out,
                               &crc) != SL_OK) {
                    fprintf(stderr, "gz_codes: gz_segment failed\n");
                    return 1;
                }
                total += out.len;
            }
            double t = cpu_now() - t0;
            all[way] += t;
            if (t < best[way])
                best[way] = t;
            bytes[way] = total;
        }
    }
    printf("%d segments of %d records, %zu bytes (%zu a segment)\n", nseg, events, in,
           in / (size_t)nseg);
    for (int way = 0; way < 2; way++)
        printf("%-16s %9zu bytes out (%.2f%%)  best %6.0f MB/s  all %6.0f MB/s\n",
               way ? "learned codes" : "level 1 alone", bytes[way],
               100.0 * (double)bytes[way] / (double)in, (double)in / best[way] / 1e6,
               (double)in * ROUNDS / all[way] / 1e6);
    printf("time saved: %.1f%% (best), %.1f%% (all)\n", 100.0 * (1 - best[1] / best[0]),
           100.0 * (1 - all[1] / all[0]));
    for (int i = 0; i < nseg; i++)
        buf_free(&seg[i]);
    free(seg);
    buf_free(&out);
    return 0;
}
