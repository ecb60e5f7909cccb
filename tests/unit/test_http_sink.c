/* test_http_sink.c - unit tests for the http sink and client against the Python emulator
 * (started per test group): OK, 503, 429 + Retry-After, 400 reject, refused, dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"
#include "formats/json.h"
#include "net/http_client.h"

extern const sl_sink_vtable sl_sink_http;

static pid_t emu_pid = -1;
static int emu_port;
static http_client *ctl; /* for /control and /stats */

static const char *emulator_path(void)
{
    static const char *const candidates[] = {
        "tests/emulators/http_sink_server.py",
        "../tests/emulators/http_sink_server.py",
        "../../tests/emulators/http_sink_server.py",
    };
    const char *env = getenv("SLUICE_EMULATORS");
    if (env) {
        static char p[512];
        snprintf(p, sizeof p, "%s/http_sink_server.py", env);
        return p;
    }
    for (size_t i = 0; i < SL_ARRAY_LEN(candidates); i++)
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    return candidates[0];
}

static int start_emulator(void **state)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    emu_pid = fork();
    if (emu_pid < 0)
        return -1;
    if (emu_pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl("/usr/bin/python3", "python3", emulator_path(), (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[32] = "";
    size_t got = 0;
    while (got < sizeof line - 1) {
        ssize_t r = read(fds[0], line + got, 1);
        if (r <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = '\0';
    close(fds[0]);
    emu_port = atoi(line);
    if (emu_port <= 0) {
        fprintf(stderr, "emulator did not start (%s)\n", emulator_path());
        return -1;
    }
    ctl = http_client_new();
    return 0;
}

static int stop_emulator(void **state)
{
    if (emu_pid > 0) {
        kill(emu_pid, SIGTERM);
        waitpid(emu_pid, NULL, 0);
    }
    http_client_free(ctl);
    metrics_reset();
    return 0;
}

/* POSTs a control object; returns the response body (static buffer). */
static const char *control(const char *json)
{
    static char out[4096];
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/control", emu_port);
    http_request req = {.url = url, .body = json, .body_len = strlen(json)};
    http_response resp = {.body = SL_BUF_INIT};
    assert_int_equal(http_client_do(ctl, &req, &resp), SL_OK);
    assert_int_equal(resp.status, 200);
    snprintf(out, sizeof out, "%.*s", (int)resp.body.len, resp.body.p);
    buf_free(&resp.body);
    return out;
}

static const char *get(const char *path)
{
    static char out[65536];
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", emu_port, path);
    http_request req = {.method = "GET", .url = url};
    http_response resp = {.body = SL_BUF_INIT};
    assert_int_equal(http_client_do(ctl, &req, &resp), SL_OK);
    assert_int_equal(resp.status, 200);
    snprintf(out, sizeof out, "%.*s", (int)resp.body.len, resp.body.p);
    buf_free(&resp.body);
    return out;
}

static int64_t stat_num(const char *key)
{
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    const char *s = get("/stats");
    json_value *v = json_parse(&a, s, strlen(s), err, sizeof err);
    assert_non_null(v);
    const json_value *x = json_get(v, key);
    assert_non_null(x);
    int64_t n = (int64_t)x->num;
    arena_free(&a);
    return n;
}

typedef struct sink_fixture {
    sl_config_doc *doc;
    void *cfg;
    void *sink;
    sl_component_ctx cc;
    sl_batch *b;
} sink_fixture;

static void sink_open(sink_fixture *f, const char *extra_yaml, int port)
{
    char yaml[1024], err[512];
    snprintf(yaml, sizeof yaml, "uri: \"http://127.0.0.1:%d/ingest\"\ntimeout_ms: 5s\n%s", port,
             extra_yaml);
    memset(f, 0, sizeof *f);
    assert_int_equal(config_doc_load(&f->doc, "test.yaml", yaml, err, sizeof err), SL_OK);
    f->cfg = calloc(1, sl_sink_http.config_size);
    const sl_option *tables[] = {sl_sink_http.options};
    void *bases[] = {f->cfg};
    if (config_apply(tables, bases, 1, f->doc->root, NULL, "test.yaml", "sinks.out", err,
                     sizeof err) != SL_OK)
        fail_msg("config: %s", err);
    f->cc.id = "out";
    f->cc.type = "http";
    f->cc.metrics = metrics_register("out", "sink", "http");
    if (sl_sink_http.init(&f->sink, f->cfg, &f->cc, err, sizeof err) != SL_OK)
        fail_msg("init: %s", err);
    f->b = batch_new(16);
}

static void sink_close(sink_fixture *f)
{
    sl_sink_http.destroy(f->sink);
    config_options_free(sl_sink_http.options, f->cfg);
    free(f->cfg);
    config_doc_free(f->doc);
    batch_release(f->b);
}

static void sink_send(sink_fixture *f, const char *const *msgs, size_t n, sl_send_result *res)
{
    sl_event *ev[16];
    uint8_t st[16] = {0};
    const char *rs[16] = {0};
    uint32_t first = f->b->n;
    for (size_t i = 0; i < n; i++) {
        sl_event *e = batch_add(f->b);
        e->ts_ns = 1795237109000000000LL + (int64_t)i;
        e->message = batch_str(f->b, msgs[i], strlen(msgs[i]));
    }
    for (size_t i = 0; i < n; i++)
        ev[i] = &f->b->events[first + i];
    memset(res, 0, sizeof *res);
    res->item_status = st;
    res->item_reason = rs;
    assert_int_equal(sl_sink_http.send(f->sink, ev, n, res), SL_OK);
    res->item_status = NULL;
    res->item_reason = NULL;
}

static void test_ok(void **state)
{
    control("{\"reset\":true}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"one", "two", "three"};
    sl_send_result res;
    sink_send(&f, msgs, 3, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_int_equal(stat_num("lines"), 3);
    const char *lines = get("/lines");
    assert_non_null(strstr(lines, "\"message\":\"two\""));
    /* keep-alive: a second request on the same thread works too */
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_int_equal(stat_num("lines"), 4);
    sink_close(&f);
}

static void test_503_retry(void **state)
{
    control("{\"reset\":true}");
    control("{\"fail\":1,\"status\":503,\"retry_after\":null}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"a"};
    sl_send_result res;
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_RETRY);
    assert_string_equal(res.reason, "http 503");
    assert_int_equal(res.retry_after_ms, 0);
    /* the runtime retries: now it goes through */
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_int_equal(stat_num("lines"), 1);
    sink_close(&f);
}

static void test_429_retry_after(void **state)
{
    control("{\"reset\":true}");
    control("{\"fail\":1,\"status\":429,\"retry_after\":2}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"a", "b"};
    sl_send_result res;
    sink_send(&f, msgs, 2, &res);
    assert_int_equal(res.status, SL_SEND_RETRY);
    assert_string_equal(res.reason, "http 429");
    assert_int_equal(res.retry_after_ms, 2000);
    assert_int_equal(metrics_error_count(f.cc.metrics, "http_429"), 1);
    assert_int_equal(stat_num("lines"), 0);
    sink_close(&f);
}

static void test_400_reject(void **state)
{
    control("{\"reset\":true}");
    control("{\"reject_marker\":\"poison\"}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"fine", "a poison pill"};
    sl_send_result res;
    sink_send(&f, msgs, 2, &res);
    assert_int_equal(res.status, SL_SEND_REJECT);
    assert_non_null(strstr(res.reason, "http 400: "));
    assert_non_null(strstr(res.reason, "poison"));
    const char *clean[] = {"fine"};
    sink_send(&f, clean, 1, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    control("{\"reject_marker\":\"\"}");
    sink_close(&f);
}

/* A refused credential is retried with the circuit opened, never dead-lettered: the
 * events are fine, and the next request with a fixed token delivers them. */
static void test_401_403_retry_open_circuit(void **state)
{
    control("{\"reset\":true}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"a", "b"};
    sl_send_result res;
    for (int st = 401; st <= 403; st += 2) {
        char c[64];
        snprintf(c, sizeof c, "{\"fail\":1,\"status\":%d}", st);
        control(c);
        memset(&res, 0, sizeof res);
        sink_send(&f, msgs, 2, &res);
        assert_int_equal(res.status, SL_SEND_RETRY);
        assert_true(res.open_circuit);
        char want[32];
        snprintf(want, sizeof want, "http %d", st);
        assert_non_null(strstr(res.reason, want));
    }
    assert_int_equal(metrics_error_count(f.cc.metrics, "http_auth"), 2);
    assert_int_equal(stat_num("lines"), 0);
    memset(&res, 0, sizeof res);
    sink_send(&f, msgs, 2, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_false(res.open_circuit);
    sink_close(&f);
}

/* A redirect is not followed (nor by Fluent Bit or Vector): the reject says where it
 * points, which tells the user what the endpoint should be, not nginx's HTML. */
static void test_301_reject_names_location(void **state)
{
    control("{\"reset\":true}");
    control("{\"redirect\":\"https://logs.example.com/ingest\"}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"fine"};
    sl_send_result res;
    sink_send(&f, msgs, 1, &res);
    control("{\"redirect\":\"\"}");
    assert_int_equal(res.status, SL_SEND_REJECT);
    assert_non_null(strstr(res.reason, "http 301: redirect to https://logs.example.com/ingest"));
    sink_close(&f);
}

static void test_refused_retry(void **state)
{
    /* A port nobody listens on: bind to get a free one, then close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    int port = ntohs(sa.sin_port);
    close(fd);
    sink_fixture f;
    sink_open(&f, "", port);
    const char *msgs[] = {"a"};
    sl_send_result res;
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_RETRY);
    assert_true(strlen(res.reason) > 0);
    assert_int_equal(metrics_error_count(f.cc.metrics, "connection"), 1);
    sink_close(&f);
}

static void test_dropped_connection_retry(void **state)
{
    control("{\"reset\":true}");
    control("{\"drop\":1}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    const char *msgs[] = {"a"};
    sl_send_result res;
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_RETRY);
    sink_send(&f, msgs, 1, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_int_equal(stat_num("lines"), 1);
    sink_close(&f);
}

static void test_gzip_array_put_headers(void **state)
{
    control("{\"reset\":true}");
    sink_fixture f;
    sink_open(&f,
              "method: put\nencoding: json_array\ncompression: gzip\n"
              "headers: { X-Team: logs }\nauth: { bearer: s3cret }\n",
              emu_port);
    const char *msgs[] = {"x", "y"};
    sl_send_result res;
    sink_send(&f, msgs, 2, &res);
    assert_int_equal(res.status, SL_SEND_OK);
    assert_int_equal(stat_num("lines"), 2);
    assert_int_equal(stat_num("gzip_requests"), 1);
    const char *s = get("/stats");
    assert_non_null(strstr(s, "\"PUT\": 1"));
    assert_non_null(strstr(s, "\"x-team\": \"logs\""));
    assert_non_null(strstr(s, "\"authorization\": \"Bearer s3cret\""));
    assert_non_null(strstr(s, "\"content-type\": \"application/json\""));
    sink_close(&f);
}

typedef struct worker_arg {
    sink_fixture *f;
    sl_event *ev[8];
    int ok;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *w = p;
    for (int r = 0; r < 10; r++) {
        uint8_t st[8] = {0};
        const char *rs[8] = {0};
        sl_send_result res = {.item_status = st, .item_reason = rs};
        if (sl_sink_http.send(w->f->sink, w->ev, 8, &res) == SL_OK && res.status == SL_SEND_OK)
            w->ok++;
    }
    return NULL;
}

/* An Elasticsearch API key as id:key goes as its base64; an encoded one as it is. */
static void test_api_key_header(void **state)
{
    sl_buf b = SL_BUF_INIT;
    http_api_key_header(&b, "VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw");
    buf_putc(&b, '\0');
    assert_string_equal(b.p, "Authorization: ApiKey "
                             "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
    buf_reset(&b);
    http_api_key_header(&b, "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
    buf_putc(&b, '\0');
    assert_string_equal(b.p, "Authorization: ApiKey "
                             "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==");
    buf_free(&b);
}

static void test_concurrent_threads(void **state)
{
    /* One sink shared by four threads, each with its own connection. */
    control("{\"reset\":true}");
    sink_fixture f;
    sink_open(&f, "", emu_port);
    for (int i = 0; i < 32; i++) {
        sl_event *e = batch_add(f.b);
        e->ts_ns = i;
        e->message = batch_str(f.b, "c", 1);
    }
    worker_arg args[4];
    pthread_t th[4];
    for (int t = 0; t < 4; t++) {
        args[t].f = &f;
        args[t].ok = 0;
        for (int i = 0; i < 8; i++)
            args[t].ev[i] = &f.b->events[t * 8 + i];
        assert_int_equal(pthread_create(&th[t], NULL, worker, &args[t]), 0);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(args[t].ok, 10);
    }
    assert_int_equal(stat_num("lines"), 4 * 10 * 8);
    sink_close(&f);
}

static void test_retry_after_parse(void **state)
{
    assert_int_equal(http_parse_retry_after("5"), 5000);
    assert_int_equal(http_parse_retry_after(" 0 \r\n"), 0);
    assert_int_equal(http_parse_retry_after("abc"), 0);
    assert_int_equal(http_parse_retry_after("12x"), 0);
    assert_int_equal(http_parse_retry_after("99999999"), 86400000);
    assert_int_equal(http_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0); /* past */
}

static void test_gzip_round_trip(void **state)
{
    sl_buf in = SL_BUF_INIT, out = SL_BUF_INIT;
    for (int i = 0; i < 5000; i++)
        buf_printf(&in, "{\"n\":%d,\"message\":\"line %d\"}\n", i, i * 7);
    assert_int_equal(http_gzip(in.p, in.len, 1, &out), SL_OK);
    assert_true(out.len < in.len);
    assert_int_equal((unsigned char)out.p[0], 0x1f);
    assert_int_equal((unsigned char)out.p[1], 0x8b);
    char *back = malloc(in.len);
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 31), Z_OK);
    zs.next_in = (Bytef *)out.p;
    zs.avail_in = (uInt)out.len;
    zs.next_out = (Bytef *)back;
    zs.avail_out = (uInt)in.len;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, in.len);
    assert_memory_equal(back, in.p, in.len);
    inflateEnd(&zs);
    free(back);
    buf_free(&in);
    buf_free(&out);
}

static void test_bad_config(void **state)
{
    sl_config_doc *doc;
    char err[512];
    const char *bad[] = {
        "uri: \"ftp://x\"\n",
        "uri: \"http://x\"\nauth: { user: a, bearer: b }\n",
        "uri: \"http://x\"\nauth: { password: p }\n",
        /* refused here, not retried forever at the first delivery */
        "uri: \"http://127.0.0.1:92000/in\"\n",
        "uri: \"http://\"\n",
        "uri: \"http://:8080/in\"\n",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        assert_int_equal(config_doc_load(&doc, "t.yaml", bad[i], err, sizeof err), SL_OK);
        void *cfg = calloc(1, sl_sink_http.config_size);
        const sl_option *tables[] = {sl_sink_http.options};
        void *bases[] = {cfg};
        assert_int_equal(
            config_apply(tables, bases, 1, doc->root, NULL, "t.yaml", "sinks.h", err, sizeof err),
            SL_OK);
        sl_component_ctx cc = {.id = "h", .type = "http"};
        void *sink = NULL;
        assert_int_not_equal(sl_sink_http.init(&sink, cfg, &cc, err, sizeof err), SL_OK);
        assert_null(sink);
        config_options_free(sl_sink_http.options, cfg);
        free(cfg);
        config_doc_free(doc);
    }
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_503_retry),
        cmocka_unit_test(test_429_retry_after),
        cmocka_unit_test(test_400_reject),
        cmocka_unit_test(test_401_403_retry_open_circuit),
        cmocka_unit_test(test_301_reject_names_location),
        cmocka_unit_test(test_refused_retry),
        cmocka_unit_test(test_dropped_connection_retry),
        cmocka_unit_test(test_gzip_array_put_headers),
        cmocka_unit_test(test_api_key_header),
        cmocka_unit_test(test_concurrent_threads),
        cmocka_unit_test(test_retry_after_parse),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, start_emulator, stop_emulator);
}
