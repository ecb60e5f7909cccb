/* test_redis.c - the redis sink and source encodings: key templates, values that come back
 * as the event they were (and foreign ones as messages), stream entries, addresses; the
 * connection module against a scripted server (pipelines, bad replies, close, timeout). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/common.h"
#include "formats/json.h"
#include "net/redis.h"

static void test_address(void **state)
{
    char err[128];
    assert_int_equal(redis_address_check("127.0.0.1:6379", err, sizeof err), 0);
    assert_int_equal(redis_address_check("[::1]:6379", err, sizeof err), 0);
    assert_int_not_equal(redis_address_check("localhost", err, sizeof err), 0);
    assert_int_not_equal(redis_address_check("h:0", err, sizeof err), 0);
    assert_int_not_equal(redis_address_check("h:70000", err, sizeof err), 0);
    assert_int_not_equal(redis_address_check(":6379", err, sizeof err), 0);
    /* an ACL user logs in with its password: a username alone is a config error */
    redis_endpoint ep = {"127.0.0.1:6379", NULL, 0, 100, NULL, NULL, "shipper"};
    assert_int_equal(redis_endpoint_init(&ep, err, sizeof err), SL_ERR_CONFIG);
    assert_non_null(strstr(err, "needs a password"));
    ep.password = "s3cret";
    assert_int_equal(redis_endpoint_init(&ep, err, sizeof err), SL_OK);
    redis_endpoint_free(&ep);
}

static void test_key_template(void **state)
{
    char err[128];
    redis_key_tmpl t;
    assert_int_equal(redis_key_compile(&t, "logs:{{ app }}:%Y-%m-%d:{{n}}", err, sizeof err), 0);
    assert_true(t.dynamic);
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    e->ts_ns = 1700000000LL * 1000000000LL; /* 2023-11-14T22:13:20Z */
    event_set_str(b, e, "app", "api", 3);
    event_set_int(b, e, "n", 7);
    sl_buf out = SL_BUF_INIT;
    redis_key_render(&t, e, &out);
    assert_int_equal(out.len, strlen("logs:api:2023-11-14:7"));
    assert_memory_equal(out.p, "logs:api:2023-11-14:7", out.len);
    /* A missing field renders as "unknown". */
    sl_event *e2 = batch_add(b);
    e2->ts_ns = e->ts_ns;
    buf_reset(&out);
    redis_key_render(&t, e2, &out);
    assert_memory_equal(out.p, "logs:unknown:2023-11-14:unknown", out.len);
    redis_key_free(&t);
    assert_int_equal(redis_key_compile(&t, "static", err, sizeof err), 0);
    assert_false(t.dynamic);
    redis_key_free(&t);
    assert_int_not_equal(redis_key_compile(&t, "a{{b", err, sizeof err), 0);
    assert_int_not_equal(redis_key_compile(&t, "a{{ }}", err, sizeof err), 0);
    assert_int_not_equal(redis_key_compile(&t, "", err, sizeof err), 0);
    buf_free(&out);
    batch_release(b);
}

/* What the sink stores comes back through the source as the same event. */
static void test_round_trip(void **state)
{
    sl_batch *b = batch_new(4);
    sl_event *e = batch_add(b);
    e->ts_ns = 1700000000123456789LL;
    e->message = batch_str(b, "hello \"world\"\n", 14);
    event_set_str(b, e, "trace_id", "abc", 3);
    event_set_int(b, e, "job_id", 42);
    sl_field *f = event_add_field(b, e, "http", 4);
    f->type = SL_VAL_JSON;
    f->v.s = batch_str(b, "{\"status\":500}", 14);
    sl_buf out = SL_BUF_INIT;
    json_encode_event(&out, e);

    sl_batch *d = batch_new(4);
    assert_true(redis_decode_value(d, out.p, out.len));
    assert_int_equal(d->n, 1);
    sl_event *g = &d->events[0];
    assert_int_equal(g->ts_ns, e->ts_ns);
    assert_int_equal(g->message.len, 14);
    assert_memory_equal(g->message.ptr, "hello \"world\"\n", 14);
    const sl_field *t = event_get(g, "trace_id", 8);
    assert_non_null(t);
    assert_int_equal(t->type, SL_VAL_STR);
    const sl_field *j = event_get(g, "job_id", 6);
    assert_non_null(j);
    assert_int_equal(j->type, SL_VAL_INT);
    assert_int_equal(j->v.i, 42);
    sl_buf again = SL_BUF_INIT;
    json_encode_event(&again, g);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.p, out.p, out.len);

    /* Someone else's values: text and foreign JSON become messages. */
    assert_false(redis_decode_value(d, "plain line", 10));
    assert_false(redis_decode_value(d, "{\"a\":1}", 7));
    assert_false(redis_decode_value(d, "{\"timestamp\":\"garbage\"}", 23));
    assert_false(redis_decode_value(d, "", 0));
    assert_int_equal(d->n, 5);
    assert_memory_equal(d->events[1].message.ptr, "plain line", 10);
    assert_memory_equal(d->events[2].message.ptr, "{\"a\":1}", 7);
    assert_int_equal(d->events[4].message.len, 0);
    buf_free(&out);
    buf_free(&again);
    batch_release(b);
    batch_release(d);
}

typedef struct { sl_batch *b; int calls, deleted; char ids[128]; } walk_acc;

static void on_entry(void *arg, const char *id, size_t idlen, const redisReply *fields)
{
    walk_acc *a = arg;
    a->calls++;
    strncat(a->ids, id, idlen);
    strcat(a->ids, ";");
    if (!fields) {
        a->deleted++;
        return;
    }
    redis_decode_fields(a->b, fields);
}

static redisReply *parse_resp(const char *s)
{
    redisReader *r = redisReaderCreate();
    redisReaderFeed(r, s, strlen(s));
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    redisReaderFree(r);
    assert_non_null(reply);
    return reply;
}

static void test_stream_entries(void **state)
{
    /* [[1-1, [event, <json>]], [1-2, nil], [1-3, [message, hi, lvl, 3]], 7, [x]] */
    const char *json = "{\"timestamp\":\"2023-11-14T22:13:20Z\",\"message\":\"m\",\"job_id\":\"j\"}";
    char resp[512];
    snprintf(resp, sizeof resp,
             "*5\r\n"
             "*2\r\n$3\r\n1-1\r\n*2\r\n$5\r\nevent\r\n$%zu\r\n%s\r\n"
             "*2\r\n$3\r\n1-2\r\n*-1\r\n"
             "*2\r\n$3\r\n1-3\r\n*4\r\n$7\r\nmessage\r\n$2\r\nhi\r\n$3\r\nlvl\r\n$1\r\n3\r\n"
             ":7\r\n"
             "*1\r\n$1\r\nx\r\n",
             strlen(json), json);
    redisReply *r = parse_resp(resp);
    walk_acc a = {.b = batch_new(4)};
    assert_int_equal(redis_stream_walk(r, on_entry, &a), 2); /* two malformed */
    assert_int_equal(a.calls, 3);
    assert_int_equal(a.deleted, 1);
    assert_string_equal(a.ids, "1-1;1-2;1-3;");
    assert_int_equal(a.b->n, 2);
    assert_memory_equal(a.b->events[0].message.ptr, "m", 1);
    assert_int_equal(a.b->events[0].ts_ns, 1700000000LL * 1000000000LL);
    assert_memory_equal(a.b->events[1].message.ptr, "hi", 2);
    const sl_field *f = event_get(&a.b->events[1], "lvl", 3);
    assert_non_null(f);
    assert_memory_equal(f->v.s.ptr, "3", 1);
    freeReplyObject(r);
    batch_release(a.b);
}

/* ---- Connections against a scripted server --------------------------------------------- */

typedef struct script {
    int lfd;
    const char *answer; /* written after the first bytes arrive; NULL = never answer */
    bool close_at_once;
    char got[256]; /* what the client sent first */
} script;

static void *script_serve(void *arg)
{
    script *sc = arg;
    int fd = accept(sc->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    if (!sc->close_at_once) {
        ssize_t n = recv(fd, sc->got, sizeof sc->got - 1, 0);
        if (n > 0 && sc->answer)
            (void)!send(fd, sc->answer, strlen(sc->answer), MSG_NOSIGNAL);
        char b[256];
        while (recv(fd, b, sizeof b, 0) > 0) { /* until the client closes */
        }
    }
    close(fd);
    return NULL;
}

/* Starts a one-connection server; the address goes to addr. */
static void script_start(script *sc, pthread_t *th, char *addr, size_t addrlen)
{
    sc->lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(sc->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(sc->lfd, 1), 0);
    socklen_t sl = sizeof sa;
    getsockname(sc->lfd, (struct sockaddr *)&sa, &sl);
    snprintf(addr, addrlen, "127.0.0.1:%d", ntohs(sa.sin_port));
    pthread_create(th, NULL, script_serve, sc);
}

/* timeout_ms: what the test waits for is a timeout, or a safety net far beyond any
 * scheduling delay of the script thread (a loaded machine may not run it for a while). */
static redis_conn *script_conn(script *sc, pthread_t *th, char *addr, int timeout_ms)
{
    script_start(sc, th, addr, 64);
    redis_endpoint ep = {addr, NULL, 0, timeout_ms, NULL, NULL, NULL};
    char err[256];
    redis_conn *c = redis_conn_open(&ep, err, sizeof err);
    assert_non_null(c);
    return c;
}

static void script_end(script *sc, pthread_t th, redis_conn *c)
{
    redis_conn_close(c);
    pthread_join(th, NULL);
    close(sc->lfd);
}

static void test_conn_pipeline(void **state)
{
    script sc = {.answer = ":1\r\n$2\r\nok\r\n-ERR no\r\n"};
    pthread_t th;
    char addr[64];
    redis_conn *c = script_conn(&sc, &th, addr, 30000);
    const char *a1[] = {"RPUSH", "k", "v"};
    const size_t l1[] = {5, 1, 1};
    assert_int_equal(redis_conn_append(c, 3, a1, l1), 0);
    const char *a2[] = {"GET", "k"};
    assert_int_equal(redis_conn_append(c, 2, a2, NULL), 0);
    assert_int_equal(redis_conn_append(c, 2, a2, NULL), 0);
    redisReply *r;
    assert_int_equal(redis_conn_reply(c, &r), 0);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, 1);
    freeReplyObject(r);
    assert_int_equal(redis_conn_reply(c, &r), 0);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "ok");
    freeReplyObject(r);
    assert_int_equal(redis_conn_reply(c, &r), 0);
    assert_int_equal(r->type, REDIS_REPLY_ERROR); /* a reply, not a broken connection */
    freeReplyObject(r);
    assert_string_equal(redis_conn_error(c), "");
    /* The whole pipeline went out in one write, encoded as RESP. */
    assert_true(strncmp(sc.got, "*3\r\n$5\r\nRPUSH\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nGET", 40) == 0);
    script_end(&sc, th, c);
}

static void test_conn_failures(void **state)
{
    const char *a[] = {"PING"};
    redisReply *r;
    char addr[64];
    pthread_t th;
    /* Not RESP: a protocol error breaks the connection, and it stays broken. */
    script bad = {.answer = "?what\r\n"};
    redis_conn *c = script_conn(&bad, &th, addr, 30000);
    assert_null(redis_conn_command(c, 1, a, NULL));
    assert_non_null(strstr(redis_conn_error(c), "protocol error"));
    assert_int_equal(redis_conn_append(c, 1, a, NULL), -1);
    assert_int_equal(redis_conn_reply(c, &r), -1);
    script_end(&bad, th, c);
    /* The server closes (the command is sent once it has). */
    script gone = {.close_at_once = true};
    c = script_conn(&gone, &th, addr, 30000);
    pthread_join(th, NULL);
    assert_null(redis_conn_command(c, 1, a, NULL));
    assert_true(strstr(redis_conn_error(c), "closed") || strstr(redis_conn_error(c), "reset"));
    redis_conn_close(c);
    close(gone.lfd);
    /* The server never answers: the read times out. */
    script mute = {.answer = NULL};
    c = script_conn(&mute, &th, addr, 300);
    assert_null(redis_conn_command(c, 1, a, NULL));
    assert_non_null(strstr(redis_conn_error(c), "timed out"));
    script_end(&mute, th, c);
    /* A TLS client whose server never answers the handshake: a timeout, said as such. */
    script silent = {.answer = NULL};
    script_start(&silent, &th, addr, sizeof addr);
    tls_client_config t = {.enabled = true, .verify = false};
    char err[256];
    redis_endpoint tep = {addr, NULL, 0, 200, &t, NULL, NULL};
    assert_int_equal(redis_endpoint_init(&tep, err, sizeof err), SL_OK);
    assert_non_null(tep.ssl_ctx);
    assert_null(redis_conn_open(&tep, err, sizeof err));
    assert_non_null(strstr(err, "handshake timed out"));
    redis_endpoint_free(&tep);
    script_end(&silent, th, NULL);
    /* Nobody listens (the port of the finished server). */
    redis_endpoint ep = {addr, NULL, 0, 300, NULL, NULL, NULL};
    assert_null(redis_conn_open(&ep, err, sizeof err));
    assert_non_null(strstr(err, "connect"));
}

/* An array header larger than any reply of ours is refused before anything is reserved
 * (hiredis would calloc its element pointers at once: 10 GB here); a normal one parses. */
static void test_reader_bounded(void **state)
{
    (void)state;
    static const char huge[] = "*1333333333\r\n:1\r\n";
    redisReader *r = redis_reader_new();
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, huge, sizeof huge - 1), REDIS_OK);
    void *reply = NULL;
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_ERR);
    assert_null(reply);
    redisReaderFree(r);

    static const char ok[] = "*3\r\n:1\r\n$1\r\nx\r\n*0\r\n";
    r = redis_reader_new();
    assert_int_equal(redisReaderFeed(r, ok, sizeof ok - 1), REDIS_OK);
    assert_int_equal(redisReaderGetReply(r, &reply), REDIS_OK);
    assert_non_null(reply);
    const redisReply *rep = reply;
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal(rep->elements, 3);
    freeReplyObject(reply);
    redisReaderFree(r);
}

static bool transient(const char *reply)
{
    return redis_reply_transient(reply, strlen(reply));
}

static void test_reply_classes(void **state)
{
    assert_true(transient("OOM command not allowed when used memory > 'maxmemory'."));
    assert_true(transient("LOADING Redis is loading the dataset in memory"));
    assert_true(transient("READONLY You can't write against a read only replica."));
    assert_true(transient("MISCONF Redis is configured to save RDB snapshots, but it's "
                          "currently unable to persist to disk."));
    assert_true(transient("ERR max number of clients reached"));
    assert_false(transient("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_false(transient("ERR unknown command 'LMOVE'"));
    assert_false(redis_reply_transient(NULL, 0));
}

static void test_tls_options(void **state)
{
    char err[256];
    tls_client_config t = {.enabled = false};
    assert_null(tls_client_ctx_new(&t, err, sizeof err));
    assert_string_equal(err, ""); /* plain TCP */
    t.ca_file = "ca.pem";
    assert_null(tls_client_ctx_new(&t, err, sizeof err));
    assert_non_null(strstr(err, "enabled")); /* options without enabled: refused */
    t.enabled = true;
    t.verify = true;
    t.ca_file = "/nonexistent/ca.pem";
    assert_null(tls_client_ctx_new(&t, err, sizeof err));
    assert_non_null(strstr(err, "ca_file"));
    t.ca_file = NULL;
    t.verify = false;
    SSL_CTX *ctx = tls_client_ctx_new(&t, err, sizeof err);
    assert_non_null(ctx);
    SSL_CTX_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address),
        cmocka_unit_test(test_key_template),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_stream_entries),
        cmocka_unit_test(test_conn_pipeline),
        cmocka_unit_test(test_conn_failures),
        cmocka_unit_test(test_tls_options),
        cmocka_unit_test(test_reply_classes),
        cmocka_unit_test(test_reader_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
