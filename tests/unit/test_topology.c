/* test_topology.c - graph validation and a real run: fan-out to transform branches works
 * on clones, every event reaches every sink, and the run drains and commits; readiness
 * waits for network sources to listen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/config.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/topology.h"

static int build(const char *yaml, sl_config_doc **doc, sl_topology **t, char *err, size_t errlen)
{
    int rc = config_doc_load(doc, "t.yaml", yaml, err, errlen);
    if (rc)
        return rc;
    return topology_build(t, *doc, err, errlen);
}

static void expect_error(const char *yaml, const char *want)
{
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    char err[1024] = "";
    int rc = build(yaml, &doc, &t, err, sizeof err);
    if (!strstr(err, want))
        print_error("got: %s\nwant: %s\n", err, want);
    assert_int_not_equal(rc, SL_OK);
    assert_non_null(strstr(err, want));
    assert_null(t);
    config_doc_free(doc);
    metrics_reset();
}

static void test_graph_errors(void **state)
{
    expect_error("sources: { a: { type: demo } }\nsinks: { o: { type: blackhole, inputs: [b] } }\n",
                 "t.yaml:2:41: sinks.o: unknown input 'b' (valid: a)");
    expect_error("sources: { a: { type: demo } }\n"
                 "transforms:\n"
                 "  x: { type: add_fields, inputs: [y], fields: { k: v } }\n"
                 "  y: { type: add_fields, inputs: [x], fields: { k: v } }\n"
                 "sinks: { o: { type: blackhole, inputs: [x] } }\n",
                 "cycle in inputs: x -> y -> x");
    expect_error("sources: { a: { type: demo } }\n"
                 "transforms: { x: { type: add_fields, inputs: [x], fields: { k: v } } }\n"
                 "sinks: { o: { type: blackhole, inputs: [x] } }\n",
                 "a component cannot be its own input");
    expect_error("sources: { a: { type: nope } }\nsinks: { o: { type: blackhole, inputs: [a] } }\n",
                 "unknown source type 'nope' (valid: ");
    expect_error("sources: { a: { type: demo } }\n", "at least one source and one sink");
    expect_error("sources: { a: { type: demo } }\nsinks: { a: { type: blackhole, inputs: [a] } }\n",
                 "the id 'a' is already used");
    expect_error("sources: { a: { type: demo } }\n"
                 "sinks: { o: { type: blackhole, inputs: [a], fallback: o } }\n",
                 "fallback 'o' must be another sink");
    /* a sink without inputs must be some sink's fallback */
    expect_error("sources: { a: { type: demo } }\n"
                 "sinks: { o: { type: blackhole, inputs: [a] }, spare: { type: blackhole } }\n",
                 "sinks.spare: 'inputs' must name at least one source or transform (or be another sink's fallback)");
    expect_error("sources: { a: { type: demo } }\n"
                 "sinks: { o: { type: blackhole, inputs: [a], fallback: nope }, spare: { type: blackhole } }\n",
                 "'inputs' must name at least one");
    expect_error("sources: { a: { type: demo } }\nsinks: { o: { type: blackhole, inputs: [a], colour: red } }\n",
                 "sinks.o: unknown option 'colour'");
    expect_error("data_dir: 3\nbogus: 1\nsources: { a: { type: demo } }\nsinks: { o: { type: blackhole, inputs: [a] } }\n",
                 "unknown option 'bogus'");
    /* the sections are valid top-level keys too, and the nearest one is suggested */
    expect_error("source: { a: { type: demo } }\n"
                 "sinks: { o: { type: blackhole, inputs: [a] } }\n",
                 "t.yaml:1:1: config: unknown option 'source' (did you mean 'sources'? valid: "
                 "data_dir, shutdown_timeout, api, log, limits, sources, transforms, sinks, x-*)");
}

/* A sink that is only another sink's fallback needs no inputs. */
/* api.address takes one listener or a list; what is wrong with one is said at build time. */
static void test_api_listeners(void **state)
{
    (void)state;
#define PIPE "sources: { a: { type: demo } }\nsinks: { o: { type: blackhole, inputs: [a] } }\n"
    expect_error("api: { address: [] }\n" PIPE, "t.yaml:1:8: api.address: give at least one host:port");
    expect_error("api: { address: [\"127.0.0.1:1\", \"127.0.0.1:x\"] }\n" PIPE,
                 "port must be a number");
    expect_error("api: { address: [\"127.0.0.1:7\", \"127.0.0.1:7\"] }\n" PIPE,
                 "\"127.0.0.1:7\" is listed twice");
    expect_error("api: { address: [\":1\", \":2\", \":3\", \":4\", \":5\", \":6\", \":7\", \":8\", "
                 "\":9\"] }\n" PIPE, "at most 8 listeners");
    expect_error("api: { metrics_path: metrics }\n" PIPE, "api.metrics_path \"metrics\" must start with '/'");
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    char err[1024] = "";
    assert_int_equal(build("api: { address: [\"127.0.0.1:0\", \"[::1]:0\"], metrics_path: /prom }\n" PIPE,
                           &doc, &t, err, sizeof err), SL_OK);
    const sl_global_config *g = topology_globals(t);
    assert_int_equal(g->api.address.n, 2);
    assert_string_equal(g->api.address.v[1], "[::1]:0");
    assert_string_equal(g->api.metrics_path, "/prom");
    topology_free(t);
    config_doc_free(doc);
    assert_int_equal(build(PIPE, &doc, &t, err, sizeof err), SL_OK); /* the default: one */
    g = topology_globals(t);
    assert_int_equal(g->api.address.n, 1);
    assert_string_equal(g->api.address.v[0], "127.0.0.1:2020");
    assert_string_equal(g->api.metrics_path, "/metrics");
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();
#undef PIPE
}

static void test_fallback_only_sink(void **state)
{
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    char err[1024] = "";
    int rc = build("sources: { a: { type: demo } }\n"
                   "sinks:\n"
                   "  o: { type: blackhole, inputs: [a], fallback: spill }\n"
                   "  spill: { type: blackhole }\n",
                   &doc, &t, err, sizeof err);
    if (rc)
        print_error("%s\n", err);
    assert_int_equal(rc, SL_OK);
    assert_non_null(t);
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();
}

static size_t count_lines(const char *path, const char *needle, size_t *with)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[4096];
    size_t n = 0;
    *with = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, needle))
            (*with)++;
    }
    fclose(f);
    return n;
}

static void test_run_fans_out_to_transform_branches(void **state)
{
    char dir[] = "/tmp/sluice-topo.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "data_dir: %s/data\n"
             "shutdown_timeout: 10s\n"
             "api: { enabled: false }\n"
             "sources: { gen: { type: demo, count: 5000, rate: 0 } }\n"
             "transforms:\n"
             "  a: { type: add_fields, inputs: [gen], fields: { branch: left } }\n"
             "  b: { type: add_fields, inputs: [gen], fields: { branch: right } }\n"
             "sinks:\n"
             "  l: { type: file, inputs: [a], path: \"%s/l.ndjson\" }\n"
             "  r: { type: file, inputs: [b], path: \"%s/r.ndjson\" }\n"
             "  raw: { type: file, inputs: [gen], path: \"%s/raw.ndjson\" }\n",
             dir, dir, dir, dir);
    sl_config_doc *doc = NULL;
    sl_topology *t = NULL;
    char err[1024];
    log_configure(SL_LOG_WARN, false, NULL, err, sizeof err);
    assert_int_equal(build(yaml, &doc, &t, err, sizeof err), SL_OK);
    assert_int_equal(topology_start(t, err, sizeof err), SL_OK);
    /* The demo source ends after `count`; the run drains and returns 0 = all committed. */
    assert_int_equal(topology_run_until_stopped(t), 0);
    sl_buf st = SL_BUF_INIT;
    topology_status_json(t, &st);
    buf_putc(&st, '\0');
    assert_non_null(strstr(st.p, "\"id\":\"raw\""));
    buf_free(&st);
    topology_free(t);
    config_doc_free(doc);
    metrics_reset();

    char path[512];
    size_t with;
    snprintf(path, sizeof path, "%s/l.ndjson", dir);
    assert_int_equal(count_lines(path, "\"branch\":\"left\"", &with), 5000);
    assert_int_equal(with, 5000);
    snprintf(path, sizeof path, "%s/r.ndjson", dir);
    assert_int_equal(count_lines(path, "\"branch\":\"right\"", &with), 5000);
    assert_int_equal(with, 5000);
    snprintf(path, sizeof path, "%s/raw.ndjson", dir);
    assert_int_equal(count_lines(path, "\"branch\"", &with), 5000);
    assert_int_equal(with, 0); /* the untransformed branch never sees the others' fields */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A listening socket on a free loopback port (the caller closes it); *port gets the port. */
static int listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static bool status_has(sl_topology *t, const char *needle)
{
    sl_buf st = SL_BUF_INIT;
    topology_status_json(t, &st);
    buf_putc(&st, '\0');
    bool has = strstr(st.p, needle) != NULL;
    buf_free(&st);
    return has;
}

/* Ready means every network source listens: a source of the start that cannot bind stops
 * the start (the topology stops itself, unready, and says so), and once ready a client
 * connects. */
static void test_ready_waits_for_listeners(void **state)
{
    char dir[] = "/tmp/sluice-topo.XXXXXX";
    assert_non_null(mkdtemp(dir));
    int taken_port, taken = listener(&taken_port);
    char yaml[2048], err[1024];
    log_configure(SL_LOG_ERROR, false, NULL, err, sizeof err);
    for (int round = 0; round < 2; round++) {
        int port = taken_port;
        if (round == 1) { /* a free port: bind, note, close */
            int fd = listener(&port);
            close(fd);
        }
        snprintf(yaml, sizeof yaml,
                 "data_dir: %s/data%d\n"
                 "api: { enabled: false }\n"
                 "sources:\n"
                 "  gen: { type: demo, rate: 5 }\n"
                 "  fwd: { type: forward, address: \"127.0.0.1:%d\", heartbeat: false }\n"
                 "sinks: { out: { type: blackhole, inputs: [gen, fwd] } }\n",
                 dir, round, port);
        sl_config_doc *doc = NULL;
        sl_topology *t = NULL;
        assert_int_equal(build(yaml, &doc, &t, err, sizeof err), SL_OK);
        assert_int_equal(topology_start(t, err, sizeof err), SL_OK);
        int64_t end = sl_mono_ms() + 60000;
        if (round == 0) {
            /* the forward source fails to bind: the start fails, though the demo source
             * could run on, and the topology stops by itself */
            while (!topology_stopping(t) && sl_mono_ms() < end)
                usleep(10000);
            assert_true(topology_stopping(t));
            assert_true(topology_start_failed(t));
            assert_true(status_has(t, "\"listen_failed\""));
            assert_false(topology_ready(t));
        } else {
            assert_false(topology_start_failed(t));
            while (!topology_ready(t) && sl_mono_ms() < end)
                usleep(10000);
            assert_true(topology_ready(t));
            int c = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
            close(c);
        }
        topology_request_stop(t);
        topology_run_until_stopped(t);
        assert_false(topology_ready(t));
        topology_free(t);
        config_doc_free(doc);
        metrics_reset();
    }
    close(taken);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_graph_errors),
        cmocka_unit_test(test_api_listeners),
        cmocka_unit_test(test_fallback_only_sink),
        cmocka_unit_test(test_run_fans_out_to_transform_branches),
        cmocka_unit_test(test_ready_waits_for_listeners),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
