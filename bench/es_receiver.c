/* es_receiver.c - the elasticsearch benchmarks' peer in C: what es_emulator.py --count-only
 * answers, at a sixth of its CPU or less. On a two-core machine the peer shares the cores
 * of the pipeline measured: over the 300 MB tree the Python emulator took 0.38 s of CPU
 * (0.77 s inflating gzip bodies) to sluice's 0.31-0.34 s, and held sluice to its pace
 * (BENCHMARKS, elasticsearch round 17).
 *
 *   es_receiver [PORT]      prints "es_receiver listening on 127.0.0.1 port N", then serves
 *
 * Answers, over HTTP/1.1 keep-alive connections (a thread each):
 *   GET /                    an Elasticsearch 8.11 node (es_emulator.py's default flavor)
 *   POST|PUT [/index]/_bulk  the documents counted (lines / 2; a gzip body inflated first,
 *                            its first member only, as Elasticsearch reads it): errors:false
 *                            and a created item per document, what filter_path keeps
 *   GET /_emulator/stats     requests, bulk_requests, count_only_docs, body_bytes,
 *                            decoded_bytes, bad_requests: es_emulator.py's names
 * 404 to anything else; 400 to a _bulk body not ending in a newline or not valid gzip, and to
 * chunked bodies (sluice sends Content-Length). It checks no document: a benchmark's peer,
 * not a test's (the tests run against es_emulator.py); its count and refusals are checked
 * by tests/integration/test_es_receiver.py. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/common.h"
#include "net/forward.h"

#if defined(__has_include)
#if __has_include(<isa-l/igzip_lib.h>)
#include <isa-l/igzip_lib.h>
#define ES_RECEIVER_ISAL 1
#endif
#endif

#define MAX_HEAD (64 * 1024)
#define MAX_BODY ((size_t)256 << 20)

static atomic_uint_fast64_t st_requests, st_bulk, st_docs, st_body_bytes, st_decoded,
    st_bad;

/* One request's head, as far as this peer cares. */
typedef struct req {
    char method[8];
    size_t path_off, path_len; /* in the connection's buffer, which may move; no query */
    size_t clen;
    bool gzip, chunked, close;
} req;

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool answer(int fd, sl_buf *out, int status, const char *body, size_t len)
{
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : "Not Found";
    buf_reset(out);
    buf_printf(out,
               "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
               "X-Elastic-Product: Elasticsearch\r\nContent-Length: %zu\r\n\r\n",
               status, reason, len);
    buf_append(out, body, len);
    return write_all(fd, out->p, out->len);
}

static bool header_is(const char *line, size_t n, const char *name, const char **value,
                      size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return false;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *value = v;
    *vlen = (size_t)(end - v);
    return true;
}

/* Parses the head in p[0..n) (ending with the blank line). False when malformed. */
static bool parse_head(const char *p, size_t n, req *r)
{
    memset(r, 0, sizeof *r);
    const char *eol = memmem(p, n, "\r\n", 2);
    const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
    if (!sp1 || (size_t)(sp1 - p) >= sizeof r->method)
        return false;
    memcpy(r->method, p, (size_t)(sp1 - p));
    const char *target = sp1 + 1;
    const char *sp2 = memchr(target, ' ', (size_t)(eol - target));
    if (!sp2)
        return false;
    r->path_off = (size_t)(target - p);
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    r->path_len = (size_t)((q ? q : sp2) - target);
    r->close = (size_t)(eol - sp2 - 1) == 8 && memcmp(sp2 + 1, "HTTP/1.0", 8) == 0;
    for (const char *line = eol + 2; line < p + n - 2;) {
        const char *e = memmem(line, (size_t)(p + n - line), "\r\n", 2);
        const char *v;
        size_t vlen;
        if (header_is(line, (size_t)(e - line), "Content-Length", &v, &vlen))
            r->clen = strtoull(v, NULL, 10);
        else if (header_is(line, (size_t)(e - line), "Content-Encoding", &v, &vlen))
            r->gzip = vlen == 4 && strncasecmp(v, "gzip", 4) == 0;
        else if (header_is(line, (size_t)(e - line), "Transfer-Encoding", &v, &vlen))
            r->chunked = true;
        else if (header_is(line, (size_t)(e - line), "Connection", &v, &vlen))
            r->close = vlen == 5 && strncasecmp(v, "close", 5) == 0;
        line = e + 2;
    }
    return true;
}

/* The first gzip member of p[0..n) into out. */
static bool gunzip(sl_buf *out, const char *p, size_t n)
{
    buf_reset(out);
#ifdef ES_RECEIVER_ISAL
    struct inflate_state st;
    isal_inflate_init(&st);
    st.crc_flag = ISAL_GZIP;
    st.next_in = (uint8_t *)(uintptr_t)p;
    st.avail_in = (uint32_t)n;
    for (;;) {
        if (out->cap - out->len < 65536)
            buf_reserve(out, 8 * n + 65536);
        st.next_out = (uint8_t *)out->p + out->len;
        st.avail_out = (uint32_t)(out->cap - out->len);
        uint8_t *before = st.next_out;
        int rc = isal_inflate(&st);
        out->len += (size_t)(st.next_out - before);
        if (rc != ISAL_DECOMP_OK || out->len > MAX_BODY)
            return false;
        if (st.block_state == ISAL_BLOCK_FINISH)
            return true;
        if (st.avail_in == 0 && st.avail_out != 0)
            return false; /* truncated */
    }
#else
    return fwd_gunzip(out, p, n, MAX_BODY) == SL_OK;
#endif
}

static void bulk(int fd, sl_buf *out, sl_buf *inflated, const req *r, const char *body)
{
    atomic_fetch_add(&st_bulk, 1);
    const char *p = body;
    size_t n = r->clen;
    if (r->gzip) {
        if (!gunzip(inflated, body, n)) {
            atomic_fetch_add(&st_bad, 1);
            static const char e[] = "{\"error\":\"request body is not valid gzip\",\"status\":400}";
            answer(fd, out, 400, e, sizeof e - 1);
            return;
        }
        p = inflated->p;
        n = inflated->len;
    }
    if (n == 0 || p[n - 1] != '\n') {
        atomic_fetch_add(&st_bad, 1);
        static const char e[] = "{\"error\":\"The bulk request must be terminated by a newline "
                                "[\\\\n]\",\"status\":400}";
        answer(fd, out, 400, e, sizeof e - 1);
        return;
    }
    size_t lines = 0;
    for (const char *s = p, *end = p + n; (s = memchr(s, '\n', (size_t)(end - s))) != NULL; s++)
        lines++;
    size_t docs = lines / 2;
    atomic_fetch_add(&st_decoded, n);
    atomic_fetch_add(&st_docs, docs);
    static const char item[] = "{\"create\":{\"status\":201}}";
    sl_buf b = {0};
    buf_reserve(&b, 32 + docs * sizeof item);
    buf_puts(&b, "{\"errors\":false,\"items\":[");
    for (size_t i = 0; i < docs; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_append(&b, item, sizeof item - 1);
    }
    buf_puts(&b, "]}");
    answer(fd, out, 200, b.p, b.len);
    buf_free(&b);
}

/* Serves request r, whose head starts at `head`. */
static void serve(int fd, const req *r, const char *head, const char *body, sl_buf *out,
                  sl_buf *inflated)
{
    const char *path = head + r->path_off;
#define PATH_IS(lit) (r->path_len == sizeof lit - 1 && memcmp(path, lit, sizeof lit - 1) == 0)
    atomic_fetch_add(&st_requests, 1);
    atomic_fetch_add(&st_body_bytes, r->clen);
    bool get = strcmp(r->method, "GET") == 0;
    if (get && PATH_IS("/")) {
        static const char v[] =
            "{\"name\":\"es_receiver\",\"cluster_name\":\"sluice-bench\",\"cluster_uuid\":"
            "\"es_receiver\",\"version\":{\"number\":\"8.11.0\",\"build_flavor\":\"default\","
            "\"build_type\":\"deb\",\"lucene_version\":\"9.8.0\"},\"tagline\":\"You Know, for "
            "Search\"}";
        answer(fd, out, 200, v, sizeof v - 1);
        return;
    }
    if (get && PATH_IS("/_emulator/stats")) {
        char s[512];
        int k = snprintf(s, sizeof s,
                         "{\"requests\": %llu, \"bulk_requests\": %llu, \"count_only_docs\": %llu, "
                         "\"body_bytes\": %llu, \"decoded_bytes\": %llu, \"bad_requests\": %llu}",
                         (unsigned long long)atomic_load(&st_requests),
                         (unsigned long long)atomic_load(&st_bulk),
                         (unsigned long long)atomic_load(&st_docs),
                         (unsigned long long)atomic_load(&st_body_bytes),
                         (unsigned long long)atomic_load(&st_decoded),
                         (unsigned long long)atomic_load(&st_bad));
        answer(fd, out, 200, s, (size_t)k);
        return;
    }
    bool post = strcmp(r->method, "POST") == 0 || strcmp(r->method, "PUT") == 0;
#undef PATH_IS
    if (post && r->path_len >= 6 && memcmp(path + r->path_len - 6, "/_bulk", 6) == 0) {
        bulk(fd, out, inflated, r, body);
        return;
    }
    static const char nf[] = "{\"error\":\"not found\",\"status\":404}";
    answer(fd, out, 404, nf, sizeof nf - 1);
}

static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    sl_buf in = {0}, out = {0}, inflated = {0};
    size_t head_len = 0; /* of the request being read; 0 while its head is incomplete */
    req r;
    for (;;) {
        if (head_len == 0) {
            const char *e = in.len ? memmem(in.p, in.len, "\r\n\r\n", 4) : NULL;
            if (e) {
                head_len = (size_t)(e - in.p) + 4;
                if (!parse_head(in.p, head_len, &r) || r.chunked || r.clen > MAX_BODY) {
                    static const char e400[] = "{\"error\":\"bad request\",\"status\":400}";
                    answer(fd, &out, 400, e400, sizeof e400 - 1);
                    break;
                }
                continue;
            }
            if (in.len > MAX_HEAD)
                break;
        } else if (in.len >= head_len + r.clen) {
            serve(fd, &r, in.p, in.p + head_len, &out, &inflated);
            if (r.close)
                break;
            size_t used = head_len + r.clen;
            memmove(in.p, in.p + used, in.len - used);
            in.len -= used;
            head_len = 0;
            continue;
        }
        size_t want = head_len ? head_len + r.clen - in.len : 65536;
        buf_reserve(&in, SL_MAX(want, (size_t)65536));
        ssize_t got = read(fd, in.p + in.len, in.cap - in.len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        in.len += (size_t)got;
    }
    close(fd);
    buf_free(&in);
    buf_free(&out);
    buf_free(&inflated);
    return NULL;
}

int main(int argc, char **argv)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    a.sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 0);
    socklen_t alen = sizeof a;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 128) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "es_receiver: listen: %s\n", strerror(errno));
        return 1;
    }
    printf("es_receiver listening on 127.0.0.1 port %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    for (;;) {
        int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            fprintf(stderr, "es_receiver: accept: %s\n", strerror(errno));
            return 1;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&t, &at, conn_main, (void *)(intptr_t)fd) != 0)
            close(fd);
        pthread_attr_destroy(&at);
    }
}
