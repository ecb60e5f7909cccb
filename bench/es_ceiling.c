/* es_ceiling.c - the least work of kubernetes_logs -> elasticsearch, in one thread: what
 * the same documents cost without a pipeline (no buffer, no threads, no events, no acks).
 *
 *   es_ceiling TREE PORT [MAX_EVENTS]        (ES_CEILING=1 bash bench/es_k8s.sh runs it)
 *
 * Reads every *.log under TREE (ns_pod_uid/container/N.log, CRI lines) 32 KiB at a time,
 * splits lines, parses each CRI header and time, and writes the `_bulk` action and the
 * document sluice writes for it (the same members, order and escaping; each file's
 * metadata rendered once), MAX_EVENTS (1000) documents a request, to the Elasticsearch
 * emulator at 127.0.0.1:PORT over one keep-alive connection, reading each answer. Prints
 * events, CPU seconds (the process's, CLOCK_PROCESS_CPUTIME_ID) and events per
 * CPU-second. A benchmark's reference point, not a product: errors end it. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "formats/cri.h"
#include "formats/json.h"

static int sock = -1;
static size_t max_events = 1000;
static size_t docs_in_body, events_total;
static sl_buf body;

/* Errors are printed here and end the run: every function returns 0 or -1. */
static int fail_errno(const char *what)
{
    fprintf(stderr, "es_ceiling: %s: %s\n", what, strerror(errno));
    return -1;
}

static int fail(const char *fmt, const char *arg)
{
    fprintf(stderr, "es_ceiling: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return -1;
}

static int full_write(const struct iovec *iov, int n)
{
    struct iovec v[2];
    memcpy(v, iov, sizeof v[0] * (size_t)n);
    while (n > 0) {
        ssize_t w = writev(sock, v, n);
        if (w < 0)
            return fail_errno("writev");
        while (n > 0 && (size_t)w >= v[0].iov_len) {
            w -= (ssize_t)v[0].iov_len;
            memmove(v, v + 1, sizeof v[0] * (size_t)--n);
        }
        if (n > 0) {
            v[0].iov_base = (char *)v[0].iov_base + w;
            v[0].iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* POST the body and read the answer: headers, Content-Length, "errors":false. */
static int flush_body(void)
{
    if (docs_in_body == 0)
        return 0;
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/x-ndjson\r\nContent-Length: %zu\r\n\r\n",
                      body.len);
    struct iovec iov[2] = {{head, (size_t)hn}, {body.p, body.len}};
    if (full_write(iov, 2) != 0)
        return -1;
    static char ans[1 << 20];
    size_t got = 0, need = 0, hdr_end = 0;
    for (;;) {
        ssize_t r = read(sock, ans + got, sizeof ans - 1 - got);
        if (r <= 0)
            return r < 0 ? fail_errno("read answer") : fail("%s", "the emulator closed");
        got += (size_t)r;
        ans[got] = '\0';
        if (hdr_end == 0) {
            char *e = strstr(ans, "\r\n\r\n");
            if (!e)
                continue;
            hdr_end = (size_t)(e - ans) + 4;
            char *cl = strcasestr(ans, "content-length:");
            if (!cl || strncmp(ans, "HTTP/1.1 200", 12) != 0)
                return fail("bad answer: %.200s", ans);
            need = hdr_end + strtoul(cl + 15, NULL, 10);
        }
        if (got >= need)
            break;
    }
    if (!memmem(ans + hdr_end, got - hdr_end, "\"errors\":false", 14))
        return fail("bulk errors: %.200s", ans + hdr_end);
    events_total += docs_in_body;
    docs_in_body = 0;
    body.len = 0;
    return 0;
}

/* One file's constant part of a document, and its `_id` prefix. */
typedef struct {
    sl_buf meta; /* ,"kubernetes":{...},"log":{"file":{"path":...},"offset": */
    char id16[17];
    sl_buf partial[2]; /* the P lines waiting for their F, per stream */
    uint64_t partial_off[2];
} file_ctx;

static int file_meta(file_ctx *f, const char *path, const char *pod_dir, const char *container,
                      const char *restart)
{
    /* pod_dir is namespace_pod_uid */
    const char *u1 = strchr(pod_dir, '_');
    const char *u2 = u1 ? strchr(u1 + 1, '_') : NULL;
    if (!u2)
        return fail("not a pod directory: %s", pod_dir);
    sl_buf *m = &f->meta;
    buf_puts(m, "\",\"kubernetes\":{\"container_name\":\"");
    json_escape(m, container, strlen(container));
    buf_puts(m, "\",\"namespace\":\"");
    json_escape(m, pod_dir, (size_t)(u1 - pod_dir));
    buf_puts(m, "\",\"pod_name\":\"");
    json_escape(m, u1 + 1, (size_t)(u2 - u1 - 1));
    buf_puts(m, "\",\"pod_uid\":\"");
    json_escape(m, u2 + 1, strlen(u2 + 1));
    buf_puts(m, "\",\"restart_count\":");
    buf_puts(m, restart);
    buf_puts(m, "},\"log\":{\"file\":{\"path\":\"");
    json_escape(m, path, strlen(path));
    buf_puts(m, "\"},\"offset\":");
    uint64_t h = 1469598103934665603ull;
    for (const char *p = path; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(f->id16, sizeof f->id16, "%016llx", (unsigned long long)h);
    return 0;
}

static void put_u64(sl_buf *b, uint64_t v)
{
    char t[24];
    int n = 0;
    do
        t[23 - n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    buf_append(b, t + 24 - n, (size_t)n);
}

static void put_hex16(sl_buf *b, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char t[16];
    for (int i = 15; i >= 0; i--, v >>= 4)
        t[i] = hex[v & 15];
    buf_append(b, t, 16);
}

static int on_line(file_ctx *f, const char *s, size_t n, uint64_t offset)
{
    cri_line c;
    const char *why;
    if (cri_parse(s, n, &c, &why) != 0)
        return fail("not a CRI line (%s)", why);
    /* P lines join the next line of their stream (sluice's default) */
    sl_buf *pend = &f->partial[c.stream == CRI_STDERR];
    if (c.partial) {
        if (pend->len == 0)
            f->partial_off[c.stream == CRI_STDERR] = offset;
        buf_append(pend, c.msg, c.len);
        return 0;
    }
    if (pend->len > 0) {
        buf_append(pend, c.msg, c.len);
        c.msg = pend->p;
        c.len = pend->len;
        offset = f->partial_off[c.stream == CRI_STDERR];
    }
    time_t secs = (time_t)(c.ts_ns / 1000000000);
    long nsec = (long)(c.ts_ns % 1000000000);
    static time_t day_start = -1;
    static char day[16], stamp_prefix[24];
    static time_t stamp_sec = -1;
    if (secs != stamp_sec) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        if (secs - secs % 86400 != day_start) {
            day_start = secs - secs % 86400;
            strftime(day, sizeof day, "%Y.%m.%d", &tm);
        }
        strftime(stamp_prefix, sizeof stamp_prefix, "%Y-%m-%dT%H:%M:%S", &tm);
        stamp_sec = secs;
    }
    sl_buf *b = &body;
    buf_puts(b, "{\"create\":{\"_index\":\"bench-");
    buf_puts(b, day);
    buf_puts(b, "\",\"_id\":\"");
    buf_append(b, f->id16, 16);
    put_hex16(b, offset);
    buf_puts(b, "\"}}\n{\"@timestamp\":\"");
    buf_puts(b, stamp_prefix);
    char frac[11];
    frac[0] = '.';
    frac[10] = 'Z';
    for (int i = 9; i >= 1; i--, nsec /= 10)
        frac[i] = (char)('0' + nsec % 10);
    buf_append(b, frac, 11);
    buf_puts(b, "\",\"message\":\"");
    json_escape(b, c.msg, c.len);
    buf_append(b, f->meta.p, f->meta.len);
    put_u64(b, offset);
    buf_puts(b, c.stream == CRI_STDERR ? "},\"stream\":\"stderr\"}\n" : "},\"stream\":\"stdout\"}\n");
    pend->len = 0;
    return ++docs_in_body >= max_events ? flush_body() : 0;
}

static int read_file(const char *path, const char *pod_dir, const char *container,
                     const char *restart)
{
    file_ctx f;
    memset(&f, 0, sizeof f);
    int fd = -1, rc = file_meta(&f, path, pod_dir, container, restart);
    if (rc == 0 && (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        rc = fail_errno(path);
    static char buf[64 * 1024];
    size_t have = 0;
    uint64_t file_off = 0, line_off = 0;
    while (rc == 0) {
        ssize_t r = pread(fd, buf + have, 32 * 1024, (off_t)file_off);
        if (r < 0)
            rc = fail_errno("pread");
        if (r <= 0)
            break;
        file_off += (uint64_t)r;
        have += (size_t)r;
        size_t start = 0;
        while (rc == 0) {
            char *nl = memchr(buf + start, '\n', have - start);
            if (!nl)
                break;
            size_t len = (size_t)(nl - (buf + start));
            rc = on_line(&f, buf + start, len, line_off);
            line_off += len + 1;
            start += len + 1;
        }
        memmove(buf, buf + start, have - start);
        have -= start;
        if (rc == 0 && have > 32 * 1024)
            rc = fail("a line over 32 KiB in %s", path);
    }
    if (fd >= 0)
        close(fd);
    buf_free(&f.meta);
    buf_free(&f.partial[0]);
    buf_free(&f.partial[1]);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: es_ceiling TREE PORT [MAX_EVENTS]\n");
        return 2;
    }
    if (argc > 3)
        max_events = strtoul(argv[3], NULL, 10);
    sock = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sock < 0 || connect(sock, (struct sockaddr *)&a, sizeof a) != 0) {
        fail_errno("connect");
        return 1;
    }
    int one = 1;
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

    struct timespec c0, c1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    /* TREE/<pod dir>/<container>/<restart>.log, in directory order */
    DIR *top = opendir(argv[1]);
    if (!top) {
        fail_errno(argv[1]);
        return 1;
    }
    int rc = 0;
    struct dirent *pe;
    while (rc == 0 && (pe = readdir(top)) != NULL) {
        if (pe->d_name[0] == '.')
            continue;
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s", argv[1], pe->d_name);
        DIR *pd = opendir(pdir);
        if (!pd)
            continue;
        struct dirent *ce;
        while (rc == 0 && (ce = readdir(pd)) != NULL) {
            if (ce->d_name[0] == '.')
                continue;
            char cdir[4096 + 256];
            snprintf(cdir, sizeof cdir, "%s/%s", pdir, ce->d_name);
            DIR *cd = opendir(cdir);
            if (!cd)
                continue;
            struct dirent *le;
            while (rc == 0 && (le = readdir(cd)) != NULL) {
                size_t ln = strlen(le->d_name);
                if (ln < 5 || strcmp(le->d_name + ln - 4, ".log") != 0)
                    continue;
                char path[4096 + 512], restart[256];
                snprintf(path, sizeof path, "%s/%s", cdir, le->d_name);
                snprintf(restart, sizeof restart, "%.*s", (int)(ln - 4), le->d_name);
                rc = read_file(path, pe->d_name, ce->d_name, restart);
            }
            closedir(cd);
        }
        closedir(pd);
    }
    closedir(top);
    if (rc == 0)
        rc = flush_body();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    if (rc == 0)
        printf("events=%zu cpu_s=%.3f events_per_cpu_s=%.0f\n", events_total, cpu,
               (double)events_total / cpu);
    buf_free(&body);
    close(sock);
    return rc == 0 ? 0 : 1;
}
