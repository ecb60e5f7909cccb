/* escape_scans.c - json_escape's scans (src/formats/json.c) on the messages of CRI log
 * files, each timed in this thread's CPU time, alternated.
 *
 *   escape_scans FILE...        (make build/escape_scans; the files of bench/gen_pods.py,
 *                                or of bench/gen_utf8_lines.py for text in other scripts)
 *
 * Takes each line's message (after the CRI header), then escapes all of them 20 times with
 * each scan the CPU has: 16-byte blocks, 32-byte blocks (AVX2), 32-byte blocks with their
 * quotes at once (AVX-512 VBMI2). Prints MB/s of input over the fastest of the 20 rounds
 * (the least disturbed by other work on the machine) and over all, and checks that the
 * scans wrote the same bytes. A benchmark, not a product: errors end it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "formats/json.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct msg {
    const char *p;
    size_t n;
} msg;

/* One round of a scan over every message, into out (reset per 1,000 messages, as a
 * sink's request body is); returns the bytes written. */
static size_t scan(int kind, const msg *m, size_t nm, sl_buf *out)
{
    size_t total = 0;
    buf_reset(out);
    for (size_t i = 0; i < nm; i++) {
        if (i % 1000 == 0) {
            total += out->len;
            buf_reset(out);
        }
        if (kind == 0)
            json_escape_sse2(out, m[i].p, m[i].n);
        else if (kind == 1)
            json_escape_avx2(out, m[i].p, m[i].n);
        else
            json_escape_avx512(out, m[i].p, m[i].n);
    }
    return total + out->len;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: escape_scans FILE...\n");
        return 2;
    }
    sl_buf all = SL_BUF_INIT;
    for (int a = 1; a < argc; a++) {
        FILE *f = fopen(argv[a], "rb");
        if (!f) {
            perror(argv[a]);
            return 1;
        }
        char tmp[65536];
        size_t k;
        while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
            buf_append(&all, tmp, k);
        fclose(f);
    }
    size_t nm = 0, cap = 1024, bytes = 0;
    msg *m = malloc(cap * sizeof *m);
    for (const char *p = all.p, *end = all.p + all.len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        /* "<time> <stream> <P|F> <message>": the message after the third space */
        const char *q = p;
        for (int sp = 0; sp < 3 && q < le; q++)
            sp += *q == ' ';
        if (nm == cap)
            m = realloc(m, (cap *= 2) * sizeof *m);
        m[nm++] = (msg){q, (size_t)(le - q)};
        bytes += (size_t)(le - q);
        p = le + 1;
    }
    sl_buf out = SL_BUF_INIT;
    static const char *names[] = {"16-byte (SSE2)", "32-byte (AVX2)", "AVX-512 quotes"};
    double best[3] = {1e9, 1e9, 1e9}, sum[3] = {0};
    int have = 1;
    if (json_escape_avx2(&out, "", 0))
        have = 2;
    if (json_escape_avx512(&out, "", 0))
        have = 3;
    size_t want = 0;
    for (int round = 0; round < 20; round++) {
        for (int kind = 0; kind < have; kind++) {
            double t0 = cpu_now();
            size_t w = scan(kind, m, nm, &out);
            double t = cpu_now() - t0;
            if (!want)
                want = w;
            if (w != want) {
                fprintf(stderr, "escape_scans: %s wrote %zu bytes, not %zu\n", names[kind],
                        w, want);
                return 1;
            }
            best[kind] = t < best[kind] ? t : best[kind];
            sum[kind] += t;
        }
    }
    printf("%zu messages, %zu bytes in, %zu bytes out\n", nm, bytes, want);
    for (int kind = 0; kind < have; kind++)
        printf("%-16s best %7.0f MB/s   all %7.0f MB/s\n", names[kind],
               (double)bytes / best[kind] / 1e6, 20.0 * (double)bytes / sum[kind] / 1e6);
    buf_free(&out);
    buf_free(&all);
    free(m);
    return 0;
}
