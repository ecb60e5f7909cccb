/* test_multiline.c - the multiline transform: real stack traces of each language (as their
 * runtimes and logging libraries print them) become one event with the log line before
 * them, fed in one batch, a line a batch and three lines a batch with the same result;
 * interleaved streams; the timeout flush (on a given clock, no sleeping); limits; the cap
 * on open groups; acks: a source commits no position past a line held in an open group,
 * and the joined event's batch releases every token its lines answered for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/acks.h"
#include "core/common.h"
#include "core/component.h"
#include "core/config.h"
#include "core/metrics.h"
#include "sources/tail_ml.h"
#include "transforms/multiline.h"

#include "tf_harness.h"

#define NL(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers --------------------------------------------------------------------------- */

static const char *origin = "src";

static sl_event *line_event(sl_batch *b, const char *msg, uint64_t stream, uint64_t seq)
{
    sl_event *e = batch_add(b);
    e->ts_ns = (int64_t)seq;
    e->message = batch_str(b, msg, strlen(msg));
    e->id_stream = stream;
    e->id_seq = seq;
    b->bytes += event_size(e);
    return e;
}

/* Output collected across batches: messages (owned) and the id_seq of each. */
typedef struct out {
    char **msg;
    uint64_t *seq;
    size_t n;
} out;

static void out_take(out *o, sl_batch *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->n; i++) {
        o->msg = realloc(o->msg, (o->n + 1) * sizeof *o->msg);
        o->seq = realloc(o->seq, (o->n + 1) * sizeof *o->seq);
        o->msg[o->n] = strndup(b->events[i].message.ptr, b->events[i].message.len);
        o->seq[o->n] = b->events[i].id_seq;
        o->n++;
    }
    batch_release(b);
}

static void out_free(out *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->msg[i]);
    free(o->msg);
    free(o->seq);
    memset(o, 0, sizeof *o);
}

static sl_batch *flush_all(tf *t) { return t->vt->flush(t->self, origin, sl_mono_ms(), true); }

/* Feeds lines[0..n) per `per` lines a batch (one stream), then flushes everything; expects
 * one event per entry of `starts` (the index of its first line) whose text is its lines. */
static void expect_groups(const char *yaml, const char *const *lines, size_t n, const size_t *starts,
                          size_t nstarts, size_t per)
{
    tf *t = tf_new("multiline", yaml);
    out o = {0};
    for (size_t i = 0; i < n; i += per) {
        sl_batch *b = batch_new(4);
        b->origin = origin;
        for (size_t j = i; j < n && j < i + per; j++)
            line_event(b, lines[j], 7, 1000 + j);
        assert_int_equal(t->vt->process(t->self, b), SL_OK);
        out_take(&o, b);
    }
    out_take(&o, flush_all(t));
    if (o.n != nstarts) {
        for (size_t i = 0; i < o.n; i++)
            print_error("got[%zu] = %s\n", i, o.msg[i]);
    }
    assert_int_equal(o.n, nstarts);
    for (size_t g = 0; g < nstarts; g++) {
        size_t end = g + 1 < nstarts ? starts[g + 1] : n;
        sl_buf want = SL_BUF_INIT;
        for (size_t j = starts[g]; j < end; j++) {
            if (j > starts[g])
                buf_putc(&want, '\n');
            buf_puts(&want, lines[j]);
        }
        buf_putc(&want, '\0');
        if (strcmp(o.msg[g], want.p) != 0)
            print_error("event %zu (per %zu)\n got: %s\nwant: %s\n", g, per, o.msg[g], want.p);
        assert_string_equal(o.msg[g], want.p);
        assert_int_equal(o.seq[g], 1000 + starts[g]); /* the first line's stable id */
        buf_free(&want);
    }
    out_free(&o);
    tf_free(t);
}

static void expect_all_ways(const char *yaml, const char *const *lines, size_t n,
                            const size_t *starts, size_t nstarts)
{
    expect_groups(yaml, lines, n, starts, nstarts, n); /* one batch */
    expect_groups(yaml, lines, n, starts, nstarts, 1); /* a line a batch */
    expect_groups(yaml, lines, n, starts, nstarts, 3);
}

/* ---- languages -------------------------------------------------------------------------- */

static void test_java(void **state)
{
    static const char *const lines[] = {
        /* 0 */ "2024-05-14 09:21:07,398 INFO  [http-nio-8080-exec-7] c.s.o.OrderController - POST /orders/8812/checkout",
        /* 1: log4j2: the log line, then the exception with suppressed and cause */
        "2024-05-14 09:21:07,412 ERROR [http-nio-8080-exec-7] o.a.c.c.C.[.[.[/].[dispatcherServlet] - Servlet.service() for servlet [dispatcherServlet] threw exception",
        "java.lang.IllegalStateException: order 8812 has no lines",
        "\tat com.shop.orders.OrderService.total(OrderService.java:88)",
        "\tat com.shop.orders.OrderController.checkout(OrderController.java:41)",
        "\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)",
        "\tat org.springframework.web.servlet.FrameworkServlet.processRequest(FrameworkServlet.java:1014)",
        "\tat java.base/java.lang.Thread.run(Thread.java:840)",
        "\tSuppressed: java.lang.RuntimeException: rollback failed",
        "\t\tat com.shop.db.Tx.close(Tx.java:19)",
        "\t\tat com.shop.orders.OrderService.total(OrderService.java:80)",
        "\t\t... 4 more",
        "Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.",
        "\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)",
        "\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
        "\t... 5 more",
        /* 16 */ "2024-05-14 09:21:07,415 INFO  [http-nio-8080-exec-8] c.s.o.OrderController - GET /orders/8813 200",
        /* 17: logback with packaging data and common frames omitted */
        "09:22:10.001 [main] ERROR com.shop.Boot - Application run failed",
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource' defined in class path resource [com/shop/DbConfig.class]: Failed to instantiate [javax.sql.DataSource]",
        "\tat org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:648) ~[spring-beans-6.1.6.jar:6.1.6]",
        "\tat com.shop.Boot.main(Boot.java:12) [classes/:na]",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method) ~[na:na]",
        "\tat org.postgresql.core.PGStream.<init>(PGStream.java:98) ~[postgresql-42.7.3.jar:42.7.3]",
        "\t... 12 common frames omitted",
        /* 25: uncaught, printed by the JVM without a log line; then a Kotlin one */
        "Exception in thread \"main\" java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"s\" is null",
        "\tat Main.main(Main.java:5)",
        /* 27 */ "2024-05-14 09:23:00,001 WARN  [sched-1] c.s.Jobs - retrying",
        /* 28: an exception without a message, after a log line */
        "2024-05-14 09:23:00,002 ERROR [sched-1] c.s.Jobs - job failed",
        "kotlin.KotlinNullPointerException",
        "\tat com.shop.JobsKt.run(Jobs.kt:14)",
        /* 31: text that only looks like a class name is not an exception */
        "2024-05-14 09:23:01,000 INFO  [main] c.s.App - done",
        "shop.example.com: reachable",
    };
    static const size_t starts[] = {0, 1, 16, 17, 25, 27, 28, 31, 32};
    expect_all_ways("mode: java\n", lines, NL(lines), starts, NL(starts));
}

static void test_python(void **state)
{
    static const char *const lines[] = {
        /* 0: uncaught, from the interpreter, a "raise ... from exc" chain */
        "Traceback (most recent call last):",
        "  File \"/usr/lib/python3.11/site-packages/urllib3/connection.py\", line 203, in _new_conn",
        "    sock = connection.create_connection(",
        "ConnectionRefusedError: [Errno 111] Connection refused",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        "  File \"/srv/app/main.py\", line 12, in <module>",
        "    main()",
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='api', port=80): Max retries exceeded",
        /* 11: the next one, a bare exception name */
        "Traceback (most recent call last):",
        "  File \"/srv/app/main.py\", line 3, in <module>",
        "    time.sleep(10)",
        "KeyboardInterrupt",
        /* 15: logging.exception: the log line, then a chained exception with 3.11 markers */
        "2024-05-14 09:30:00,120 ERROR [app.worker] job 42 failed",
        "Traceback (most recent call last):",
        "  File \"/srv/app/worker.py\", line 88, in handle",
        "    return payload[\"amount\"] / payload[\"count\"]",
        "           ~~~~~~~~~~~~~~~~~~^~~~~~~~~~~~~~~~~~",
        "ZeroDivisionError: division by zero",
        "",
        "During handling of the above exception, another exception occurred:",
        "",
        "Traceback (most recent call last):",
        "  File \"/srv/app/worker.py\", line 57, in run",
        "    result = self.handle(job)",
        "             ^^^^^^^^^^^^^^^^",
        "  File \"/srv/app/worker.py\", line 91, in handle",
        "    raise JobError(job.id)",
        "app.errors.JobError: 42",
        /* 31 */ "2024-05-14 09:30:00,122 INFO [app.worker] job 43 started",
        /* 32 */ "2024-05-14 09:30:01,000 INFO [app] shutting down",
    };
    static const size_t starts[] = {0, 11, 15, 31, 32};
    expect_all_ways("mode: python\n", lines, NL(lines), starts, NL(starts));
}

static void test_go(void **state)
{
    static const char *const lines[] = {
        /* 0 */ "2024/05/14 09:40:00 listening on :8080",
        /* 1: a panic with two goroutines, then `go run`'s exit status */
        "panic: runtime error: invalid memory address or nil pointer dereference",
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6c2b1a]",
        "",
        "goroutine 34 [running]:",
        "main.(*Store).Get(0x0, {0xc0000a4010, 0x5})",
        "\t/src/app/store.go:27 +0x1a",
        "main.handler({0x7f1c38, 0xc0000ec000}, 0xc0000e2000)",
        "\t/src/app/main.go:19 +0x6b",
        "net/http.HandlerFunc.ServeHTTP(0x0?, {0x7f1c38?, 0xc0000ec000?}, 0x0?)",
        "\t/usr/local/go/src/net/http/server.go:2166 +0x29",
        "created by net/http.(*Server).Serve in goroutine 1",
        "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
        "",
        "goroutine 1 [IO wait]:",
        "internal/poll.runtime_pollWait(0x7f0b2c1e6e80, 0x72)",
        "\t/usr/local/go/src/runtime/netpoll.go:345 +0x85",
        "...additional frames elided...",
        "exit status 2",
        /* 19: net/http logs a recovered panic: a log line, then the goroutine's stack */
        "2024/05/14 09:41:00 http: panic serving 10.0.0.7:51234: boom",
        "goroutine 18 [running]:",
        "net/http.(*conn).serve.func1()",
        "\t/usr/local/go/src/net/http/server.go:1898 +0xbe",
        "panic({0x6e4f20?, 0x8bfa70?})",
        "\t/usr/local/go/src/runtime/panic.go:770 +0x132",
        "main.handler(...)",
        "\t/src/app/main.go:25",
        /* 27 */ "2024/05/14 09:41:01 GET /health 200",
        /* 28: a re-panic */
        "panic: first [recovered]",
        "\tpanic: second",
        "",
        "goroutine 1 [running]:",
        "main.main()",
        "\t/src/app/main.go:9 +0x25",
        /* 34 */ "2024/05/14 09:42:00 started",
    };
    static const size_t starts[] = {0, 1, 19, 27, 28, 34};
    expect_all_ways("mode: go\n", lines, NL(lines), starts, NL(starts));
}

static void test_ruby(void **state)
{
    static const char *const lines[] = {
        /* 0: uncaught, from the interpreter (Ruby 3.4 quotes with '), with its cause */
        "/srv/app/lib/billing.rb:14:in 'Billing#charge': undefined method 'amount' for nil (NoMethodError)",
        "\tfrom /srv/app/lib/billing.rb:7:in 'block in Billing#run'",
        "\tfrom /srv/app/lib/billing.rb:6:in 'Array#each'",
        "\tfrom /srv/app/bin/billing:5:in '<main>'",
        "/srv/app/lib/gateway.rb:30:in 'Gateway#post': timeout (Net::ReadTimeout)",
        "\tfrom /srv/app/lib/billing.rb:13:in 'Billing#charge'",
        /* 6: Logger with an exception: message (Class), then the backtrace */
        "E, [2024-05-14T09:50:00.123456 #4120] ERROR -- : invoice 7 failed: Connection refused - connect(2) for \"billing\" port 443 (Errno::ECONNREFUSED)",
        "/usr/lib/ruby/3.1.0/net/http.rb:1018:in `initialize'",
        "/usr/lib/ruby/3.1.0/net/http.rb:1018:in `open'",
        "/srv/app/lib/client.rb:22:in `post'",
        "\t ... 3 levels...",
        /* 11 */ "I, [2024-05-14T09:50:01.000001 #4120]  INFO -- : invoice 8 sent",
        /* 12: Rails */
        "NoMethodError (undefined method `email' for nil:NilClass):",
        "  ",
        "app/controllers/users_controller.rb:12:in `show'",
        "actionpack (7.0.8) lib/action_controller/metal/basic_implicit_render.rb:6:in `send_action'",
        /* 16 */ "Started GET \"/users/5\" for 10.0.0.9 at 2024-05-14 09:51:00 +0000",
    };
    static const size_t starts[] = {0, 6, 11, 12, 16};
    expect_all_ways("mode: ruby\n", lines, NL(lines), starts, NL(starts));
}

static void test_dotnet(void **state)
{
    static const char *const lines[] = {
        /* 0: Serilog, Exception.ToString() with two inner exceptions */
        "2024-05-14 10:00:00.123 +00:00 [ERR] Cancelling order 77 failed",
        "System.InvalidOperationException: Order 77 could not be cancelled",
        " ---> System.Net.Http.HttpRequestException: Connection refused (inventory:80)",
        " ---> System.Net.Sockets.SocketException (111): Connection refused",
        "   at System.Net.Sockets.Socket.AwaitableSocketAsyncEventArgs.ThrowException(SocketError error, CancellationToken cancellationToken)",
        "   --- End of inner exception stack trace ---",
        "   at System.Net.Http.HttpConnectionPool.ConnectToTcpHostAsync(String host, Int32 port, HttpRequestMessage initialRequest, Boolean async, CancellationToken cancellationToken)",
        "   at Shop.Inventory.InventoryClient.ReleaseAsync(Int32 orderId) in /src/Shop/Inventory/InventoryClient.cs:line 34",
        "   --- End of inner exception stack trace ---",
        "   at Shop.Orders.OrderService.CancelAsync(Int32 id) in /src/Shop/Orders/OrderService.cs:line 58",
        "   at lambda_method5(Closure, Object)",
        "--- End of stack trace from previous location ---",
        "   at Microsoft.AspNetCore.Mvc.Infrastructure.ActionMethodExecutor.AwaitableObjectResultExecutor.Execute(ActionContext actionContext, IActionResultTypeMapper mapper, ObjectMethodExecutor executor, Object controller, Object[] arguments)",
        /* 13 */ "2024-05-14 10:00:00.130 +00:00 [INF] HTTP POST /orders/77/cancel responded 500 in 12.3 ms",
        /* 14: Microsoft.Extensions.Logging console: category line, message indented by six */
        "fail: Microsoft.AspNetCore.Diagnostics.DeveloperExceptionPageMiddleware[1]",
        "      An unhandled exception has occurred while executing the request.",
        "      System.ArgumentNullException: Value cannot be null. (Parameter 'source')",
        "         at System.Linq.ThrowHelper.ThrowArgumentNullException(ExceptionArgument argument)",
        "         at Shop.Api.Program.<>c.<<Main>$>b__0_0(String id) in /src/Shop.Api/Program.cs:line 12",
        "info: Microsoft.AspNetCore.Hosting.Diagnostics[2]",
        "      Request finished HTTP/1.1 GET http://localhost:5000/items/x - 500 - text/plain 10.2ms",
        /* 21: unhandled, from the runtime */
        "Unhandled exception. System.IO.FileNotFoundException: Could not find file '/app/config.json'.",
        "File name: '/app/config.json'",
        "   at Microsoft.Win32.SafeHandles.SafeFileHandle.Open(String fullPath, FileMode mode, FileAccess access, FileShare share, FileOptions options, Int64 preallocationSize, UnixFileMode openPermissions, Int64& fileLength, UnixFileMode& filePermissions, Boolean failForSymlink, Boolean& wasSymlink, Func`4 createOpenException)",
        "   at Program.<Main>$(String[] args) in /app/Program.cs:line 3",
        /* 25 */ "2024-05-14 10:01:00.000 +00:00 [INF] Starting",
    };
    static const size_t starts[] = {0, 13, 14, 19, 21, 25};
    expect_all_ways("mode: dotnet\n", lines, NL(lines), starts, NL(starts));
}

static void test_custom(void **state)
{
    /* start_pattern alone: every other line continues */
    static const char *const a[] = {
        "[2024-05-14 10:10:00] query plan:", "  Seq Scan on orders", "    Filter: (id = 7)",
        "[2024-05-14 10:10:01] done",        "[2024-05-14 10:10:02] next",
        "  detail",
    };
    static const size_t sa[] = {0, 3, 4};
    expect_all_ways("mode: custom\nstart_pattern: '^\\['\n", a, NL(a), sa, NL(sa));
    /* continue_pattern alone: indented lines continue, any other opens an event */
    static const char *const c[] = {"a", " b", " c", "d", "e", " f"};
    static const size_t sc[] = {0, 3, 4};
    expect_all_ways("mode: custom\ncontinue_pattern: '^\\s'\n", c, NL(c), sc, NL(sc));
    /* both: a start line opens, continuation lines join, anything else stands alone */
    static const char *const d[] = {"BEGIN 1", "+ x", "+ y", "noise", "+ z", "BEGIN 2", "+ w"};
    static const size_t sd[] = {0, 3, 5};
    expect_all_ways("mode: custom\nstart_pattern: '^BEGIN'\ncontinue_pattern: '^\\+ '\n", d, NL(d),
                    sd, NL(sd));
    /* bad configurations are refused */
    assert_int_not_equal(tf_init_fails("multiline", "mode: custom\n"), SL_OK);
    assert_int_not_equal(tf_init_fails("multiline", "mode: custom\nstart_pattern: '(['\n"), SL_OK);
    assert_int_not_equal(tf_init_fails("multiline", "mode: java\nstart_pattern: x\n"), SL_OK);
    assert_int_not_equal(tf_init_fails("multiline", "mode: perl\n"), SL_OK);
    assert_int_not_equal(tf_init_fails("multiline", "{}\n"), SL_OK);
}

/* ---- streams, fields ------------------------------------------------------------------- */

static void test_interleaved_streams(void **state)
{
    /* Two files and stdout/stderr of one file, interleaved line by line across batches. */
    tf *t = tf_new("multiline", "mode: java\n");
    struct { uint64_t stream; const char *std; const char *msg; } in[] = {
        {1, "stdout", "A1 ERROR failed"},
        {2, "stdout", "B1 ERROR failed"},
        {1, "stderr", "C1 plain"},
        {1, "stdout", "java.lang.RuntimeException: a"},
        {2, "stdout", "java.lang.RuntimeException: b"},
        {1, "stderr", "C2 plain"},
        {1, "stdout", "\tat A.a(A.java:1)"},
        {2, "stdout", "\tat B.b(B.java:1)"},
        {1, "stdout", "A2 next"},
        {2, "stdout", "\tat B.c(B.java:2)"},
        {2, "stdout", "B2 next"},
    };
    out o = {0};
    for (size_t i = 0; i < NL(in); i += 2) {
        sl_batch *b = batch_new(2);
        b->origin = origin;
        for (size_t j = i; j < NL(in) && j < i + 2; j++) {
            sl_event *e = line_event(b, in[j].msg, in[j].stream, j);
            event_set_str(b, e, "stream", in[j].std, strlen(in[j].std));
        }
        t->vt->process(t->self, b);
        out_take(&o, b);
    }
    out_take(&o, flush_all(t));
    const char *want[] = {
        "C1 plain",
        "A1 ERROR failed\njava.lang.RuntimeException: a\n\tat A.a(A.java:1)",
        "B1 ERROR failed\njava.lang.RuntimeException: b\n\tat B.b(B.java:1)\n\tat B.c(B.java:2)",
    };
    /* Every line is in exactly one event, and each stream's events keep their order. */
    size_t total = 0;
    for (size_t i = 0; i < o.n; i++)
        for (const char *p = o.msg[i]; p; p = strchr(p + 1, '\n'))
            total++;
    assert_int_equal(total, NL(in));
    assert_int_equal(o.n, 6);
    for (size_t w = 0; w < NL(want); w++) {
        bool found = false;
        for (size_t i = 0; i < o.n; i++)
            found |= strcmp(o.msg[i], want[w]) == 0;
        if (!found)
            fail_msg("missing: %s", want[w]);
    }
    size_t a1 = 0, a2 = 0, c1 = 0, c2 = 0;
    for (size_t i = 0; i < o.n; i++) {
        if (strncmp(o.msg[i], "A1", 2) == 0) a1 = i;
        if (strncmp(o.msg[i], "A2", 2) == 0) a2 = i;
        if (strncmp(o.msg[i], "C1", 2) == 0) c1 = i;
        if (strncmp(o.msg[i], "C2", 2) == 0) c2 = i;
    }
    assert_true(a1 < a2);
    assert_true(c1 < c2);
    out_free(&o);
    tf_free(t);

    /* Two sources never share a group, even with the same stream id. */
    t = tf_new("multiline", "mode: java\n");
    sl_batch *b1 = batch_new(2), *b2 = batch_new(2);
    b1->origin = "one";
    b2->origin = "two";
    line_event(b1, "ERROR x", 1, 1);
    line_event(b2, "\tat Y.y(Y.java:1)", 1, 1);
    t->vt->process(t->self, b1);
    t->vt->process(t->self, b2);
    assert_int_equal(b1->n + b2->n, 0); /* both held */
    sl_batch *f1 = t->vt->flush(t->self, "one", sl_mono_ms(), true);
    sl_batch *f2 = t->vt->flush(t->self, "two", sl_mono_ms(), true);
    assert_int_equal(f1->n, 1);
    assert_int_equal(f2->n, 1);
    assert_string_equal(f1->events[0].message.ptr, "ERROR x");
    assert_string_equal(f2->events[0].message.ptr, "\tat Y.y(Y.java:1)");
    batch_release(b1);
    batch_release(b2);
    batch_release(f1);
    batch_release(f2);
    tf_free(t);
}

static void test_fields_and_group_by(void **state)
{
    /* The joined event is the first line's: fields, time, id; `field` joins a field. */
    tf *t = tf_new("multiline", "mode: python\nfield: log\ngroup_by: [container]\n");
    sl_batch *b = batch_new(4);
    b->origin = origin;
    const char *in[][2] = {
        {"web", "ERROR boom"}, {"db", "ready"}, {"web", "Traceback (most recent call last):"},
        {"web", "  File \"x.py\", line 1, in <module>"}, {"web", "ValueError: bad"},
    };
    for (size_t i = 0; i < NL(in); i++) {
        sl_event *e = corr_event(b, "ignored");
        e->id_stream = 100 + i; /* group_by replaces the stream id */
        e->id_seq = i;
        e->ts_ns = 10 + (int64_t)i;
        event_set_str(b, e, "container", in[i][0], strlen(in[i][0]));
        event_set_str(b, e, "log", in[i][1], strlen(in[i][1]));
    }
    sl_event *nolog = batch_add(b); /* no `log` field: passes, ends nothing of others */
    nolog->message = batch_str(b, "no log field", 12);
    event_set_str(b, nolog, "container", "other", 5);
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 1);
    assert_string_equal(b->events[0].message.ptr, "no log field");
    sl_batch *f = flush_all(t);
    assert_int_equal(f->n, 2);
    const sl_event *web = &f->events[0], *db = &f->events[1];
    if (web->id_seq != 0) {
        const sl_event *x = web;
        web = db;
        db = x;
    }
    assert_str(web, "log", "ERROR boom\nTraceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: bad");
    assert_str(web, "container", "web");
    assert_corr(web);
    assert_int_equal(web->ts_ns, 10);
    assert_int_equal(web->id_stream, 100);
    assert_string_equal(web->message.ptr, "ignored");
    assert_str(db, "log", "ready");
    assert_int_equal(metrics_count_get(t->cc.metrics, "multiline_joined"), 1);
    batch_release(b);
    batch_release(f);
    tf_free(t);
}

/* ---- timeout, limits, cap -------------------------------------------------------------- */

static void test_timeout_flush(void **state)
{
    tf *t = tf_new("multiline", "mode: java\ntimeout_ms: 60000\n");
    sl_batch *b = batch_new(4);
    b->origin = origin;
    line_event(b, "ERROR last words", 1, 1);
    line_event(b, "java.lang.Error: x", 1, 2);
    t->vt->process(t->self, b);
    assert_int_equal(b->n, 0);
    batch_release(b);
    int64_t now = sl_mono_ms();
    /* Not due: nothing; an unknown source: nothing. */
    assert_null(t->vt->flush(t->self, origin, now, false));
    assert_null(t->vt->flush(t->self, "nobody", now + 120000, false));
    /* A minute after its last line (the clock is the caller's) it goes on its own. */
    sl_batch *f = t->vt->flush(t->self, origin, now + 60001, false);
    assert_non_null(f);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->events[0].message.ptr, "ERROR last words\njava.lang.Error: x");
    assert_int_equal(metrics_count_get(t->cc.metrics, "multiline_timeouts"), 1);
    batch_release(f);
    assert_null(flush_all(t));

    /* Only the groups past the timeout go, oldest first: the younger one stays. */
    b = batch_new(4);
    b->origin = origin;
    line_event(b, "old", 1, 1);
    t->vt->process(t->self, b);
    batch_release(b);
    int64_t t0 = sl_mono_ms();
    while (sl_mono_ms() <= t0) /* the younger line's clock reads past t0 (< 1 ms) */
        ;
    b = batch_new(4);
    b->origin = origin;
    line_event(b, "young", 2, 1);
    t->vt->process(t->self, b);
    batch_release(b);
    f = t->vt->flush(t->self, origin, t0 + 60000, false);
    assert_int_equal(f->n, 1);
    assert_string_equal(f->events[0].message.ptr, "old");
    batch_release(f);
    f = flush_all(t);
    assert_non_null(f);
    assert_string_equal(f->events[f->n - 1].message.ptr, "young");
    batch_release(f);
    tf_free(t);
}

static void test_limits(void **state)
{
    /* max_lines: a 7-line trace with max_lines 3 comes as 3 + 3 + 1, the first two marked,
     * and the rest of the trace still joins (the state carries over). */
    tf *t = tf_new("multiline", "mode: java\nmax_lines: 3\n");
    const char *in[] = {"ERROR x", "java.lang.Error: y", "\tat a.A.a(A.java:1)", "\tat a.A.b(A.java:2)",
                        "\tat a.A.c(A.java:3)", "\tat a.A.d(A.java:4)", "\t... 9 more", "INFO next"};
    sl_batch *b = batch_new(8);
    b->origin = origin;
    for (size_t i = 0; i < NL(in); i++)
        line_event(b, in[i], 1, i);
    t->vt->process(t->self, b);
    sl_batch *f = flush_all(t);
    assert_int_equal(b->n, 3);
    assert_int_equal(f->n, 1);
    assert_string_equal(b->events[0].message.ptr, "ERROR x\njava.lang.Error: y\n\tat a.A.a(A.java:1)");
    assert_string_equal(b->events[1].message.ptr, "\tat a.A.b(A.java:2)\n\tat a.A.c(A.java:3)\n\tat a.A.d(A.java:4)");
    assert_string_equal(b->events[2].message.ptr, "\t... 9 more");
    assert_non_null(get(&b->events[0], "multiline.truncated"));
    assert_non_null(get(&b->events[1], "multiline.truncated"));
    assert_null(get(&b->events[2], "multiline.truncated"));
    assert_null(get(&f->events[0], "multiline.truncated"));
    assert_int_equal(metrics_count_get(t->cc.metrics, "multiline_truncated"), 2);
    batch_release(b);
    batch_release(f);
    tf_free(t);

    /* max_bytes: the joined text never passes it (unless one line alone does). */
    t = tf_new("multiline", "mode: custom\nstart_pattern: '^S'\nmax_bytes: 20\n");
    b = batch_new(8);
    b->origin = origin;
    const char *c[] = {"S 123456", "c 123456", "c 123456", "c", "S", "c 12345678901234567890123"};
    for (size_t i = 0; i < NL(c); i++)
        line_event(b, c[i], 1, i);
    t->vt->process(t->self, b);
    f = flush_all(t);
    assert_int_equal(b->n + f->n, 4);
    assert_string_equal(b->events[0].message.ptr, "S 123456\nc 123456");
    assert_non_null(get(&b->events[0], "multiline.truncated"));
    assert_string_equal(b->events[1].message.ptr, "c 123456\nc");
    assert_string_equal(b->events[2].message.ptr, "S");
    assert_non_null(get(&b->events[2], "multiline.truncated"));
    assert_string_equal(f->events[0].message.ptr, "c 12345678901234567890123");
    for (uint32_t i = 0; i < b->n; i++)
        assert_true(b->events[i].message.len <= 20);
    batch_release(b);
    batch_release(f);
    tf_free(t);
}

static void test_open_group_cap(void **state)
{
    /* 10 streams with a cap of 4: the ones fed least recently are sent to make room. */
    tf *t = tf_new("multiline", "mode: java\nmax_open_groups: 4\n");
    out o = {0};
    for (int round = 0; round < 2; round++) {
        sl_batch *b = batch_new(16);
        b->origin = origin;
        for (uint64_t k = 0; k < 10; k++) {
            uint64_t s = round ? 9 - k : k; /* the second round feeds the open ones first */
            char msg[32];
            snprintf(msg, sizeof msg, "%s %llu", round ? "java.lang.Error: e" : "ERROR s",
                     (unsigned long long)s);
            line_event(b, msg, s, (uint64_t)round);
        }
        t->vt->process(t->self, b);
        out_take(&o, b);
    }
    out_take(&o, flush_all(t));
    assert_int_equal(o.n, 20 - 4); /* the last 4 streams' exceptions joined their line */
    size_t joined = 0;
    for (size_t i = 0; i < o.n; i++)
        joined += strchr(o.msg[i], '\n') != NULL;
    assert_int_equal(joined, 4);
    assert_true(metrics_count_get(t->cc.metrics, "multiline_evicted") >= 6);
    out_free(&o);
    tf_free(t);
}

/* ---- acks ------------------------------------------------------------------------------ */

static uint64_t last_commit;
static void on_commit(void *arg, uint64_t key, uint64_t value) { last_commit = value; }

static void test_acks_held_until_delivered(void **state)
{
    tf *t = tf_new("multiline", "mode: java\n");
    sl_ack_ledger *l = ack_ledger_new();
    last_commit = 0;

    /* batch 1 ends inside a group: its token must not commit while the group is open */
    sl_batch *b1 = batch_new(4);
    b1->origin = origin;
    b1->ack = ack_token_open(l, 1, 100);
    line_event(b1, "INFO a", 1, 0);
    line_event(b1, "ERROR b", 1, 50);
    line_event(b1, "java.lang.Error: c", 1, 80);
    t->vt->process(t->self, b1);
    assert_int_equal(b1->n, 1); /* "INFO a" goes; the group is held */
    batch_release(b1);          /* delivered */
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 0);

    /* batch 2 continues it; batch 3 closes it: the joined event leads batch 3 */
    sl_batch *b2 = batch_new(4);
    b2->origin = origin;
    b2->ack = ack_token_open(l, 1, 200);
    line_event(b2, "\tat x.X.x(X.java:1)", 1, 100);
    t->vt->process(t->self, b2);
    assert_int_equal(b2->n, 0);
    batch_release(b2);
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 0);

    sl_batch *b3 = batch_new(4);
    b3->origin = origin;
    b3->ack = ack_token_open(l, 1, 300);
    line_event(b3, "INFO d", 1, 200);
    line_event(b3, "INFO e", 1, 250);
    t->vt->process(t->self, b3);
    assert_int_equal(b3->n, 2);
    assert_string_equal(b3->events[0].message.ptr, "ERROR b\njava.lang.Error: c\n\tat x.X.x(X.java:1)");
    assert_int_equal(b3->events[0].id_seq, 50);
    assert_string_equal(b3->events[1].message.ptr, "INFO d");
    /* A clone (a branch to another transform) answers for the same tokens. */
    sl_batch *clone = batch_clone(b3);
    batch_release(b3);
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 0);
    batch_release(clone);
    /* Tokens 1 and 2 commit; 3 waits for "INFO e", still open. */
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 2);
    assert_int_equal(last_commit, 200);

    /* The timeout flush carries token 3; abandoning that batch (shutdown) poisons it. */
    sl_batch *f = flush_all(t);
    assert_int_equal(f->n, 1);
    batch_abandon(f);
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 0);
    assert_int_equal(ack_ledger_pending(l), 1);
    tf_free(t);
    ack_ledger_free(l);
}

static void test_acks_chained_transforms(void **state)
{
    /* A second multiline below the first holds the tokens the first one's flush carried. */
    tf *t1 = tf_new("multiline", "mode: java\n");
    tf *t2 = tf_new("multiline", "mode: custom\nstart_pattern: '^NEVER'\n");
    sl_ack_ledger *l = ack_ledger_new();
    sl_batch *b = batch_new(4);
    b->origin = origin;
    b->ack = ack_token_open(l, 1, 10);
    line_event(b, "ERROR a", 1, 0);
    t1->vt->process(t1->self, b);
    t2->vt->process(t2->self, b);
    batch_release(b);
    sl_batch *f = flush_all(t1); /* no own token: its hold is token 1 */
    assert_int_equal(f->n, 1);
    t2->vt->process(t2->self, f);
    assert_int_equal(f->n, 0);
    batch_release(f);
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 0);
    sl_batch *f2 = flush_all(t2);
    assert_int_equal(f2->n, 1);
    batch_release(f2);
    assert_int_equal(ack_ledger_collect(l, on_commit, NULL), 1);
    tf_free(t1);
    tf_free(t2);
    ack_ledger_free(l);
}

static void test_rules_api(void **state)
{
    ml_rules *r;
    char err[256];
    assert_int_equal(ml_rules_new(&r, ML_MODE_JAVA, NULL, NULL, err, sizeof err), SL_OK);
    void *md = ml_match_new();
    int st = ml_first(r, md, "INFO x", 6);
    assert_true(st >= 0);
    assert_true(ml_next(r, md, st, "INFO y", 6) < 0);
    int exc = ml_next(r, md, st, "a.b.CException: z", 18);
    assert_true(exc >= 0);
    assert_true(ml_next(r, md, exc, "\tat q", 5) >= 0);
    assert_true(ml_next(r, md, exc, "", 0) < 0);
    ml_match_free(md);
    ml_rules_free(r);
    assert_int_not_equal(ml_rules_new(&r, ML_MODE_CUSTOM, NULL, "", err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "custom"));
}

/* ---- the tailing sources' multiline: option ---------------------------------------------- */

typedef struct tml_out {
    char text[8][256];
    uint64_t first[8], end[8];
    bool cut[8];
    int n;
} tml_out;

static void tml_take(void *arg, tail_ml_stream *st, const tail_ml_group *g)
{
    tml_out *o = arg;
    assert_true(o->n < 8);
    assert_true(g->len < sizeof o->text[0]);
    memcpy(o->text[o->n], g->text, g->len);
    o->text[o->n][g->len] = '\0';
    o->first[o->n] = g->first_off;
    o->end[o->n] = g->end;
    o->cut[o->n] = g->cut;
    o->n++;
}

static void test_tail_ml(void **state)
{
    sl_config_doc *doc;
    char err[256];
    assert_int_equal(config_doc_load(&doc, "t", "mode: java\nmax_lines: 4\ntimeout_ms: 500\n", err, sizeof err), 0);
    tail_ml_config c = {0};
    const sl_option *tabs[] = {tail_ml_options};
    void *bases[] = {&c};
    assert_int_equal(config_apply(tabs, bases, 1, doc->root, NULL, "t", "multiline", err, sizeof err), 0);
    tail_ml *m;
    assert_int_equal(tail_ml_new(&m, &c, err, sizeof err), SL_OK);
    assert_non_null(m);
    tail_ml_stream a = {0}, b = {0};
    tml_out o = {0};
    /* offsets as a file would have them: each line at its start, ends after its '\n' */
    const char *lines[] = {"INFO up", "ERROR down", "java.lang.Error: x", "\tat a.A.a(A.java:1)",
                           "\tat a.A.b(A.java:2)", "\tat a.A.c(A.java:3)", "INFO again"};
    uint64_t off = 0;
    for (size_t i = 0; i < NL(lines); i++) {
        size_t n = strlen(lines[i]);
        tail_ml_line(m, &a, lines[i], n, off, off + n + 1, 1000 + (int64_t)i, tml_take, &o);
        off += n + 1;
        if (i == 2) /* the open group holds its file back to its first line */
            assert_int_equal(tail_ml_hold(&a), 8);
    }
    assert_int_equal(o.n, 3);
    assert_string_equal(o.text[0], "INFO up");
    assert_int_equal(o.first[0], 0);
    assert_int_equal(o.end[0], 8);
    /* max_lines 4: the trace goes cut, its last frame as the next event */
    assert_string_equal(o.text[1], "ERROR down\njava.lang.Error: x\n\tat a.A.a(A.java:1)\n\tat a.A.b(A.java:2)");
    assert_true(o.cut[1]);
    assert_string_equal(o.text[2], "\tat a.A.c(A.java:3)");
    assert_false(o.cut[2]);
    assert_int_equal(tail_ml_hold(&a), o.end[2]); /* "INFO again" is open */
    /* Timeout, on the caller's clock: nothing before it, then both streams, oldest first. */
    tail_ml_line(m, &b, "ERROR other", 11, 500, 512, 7, tml_take, &o);
    int64_t now = sl_mono_ms();
    tail_ml_expire(m, now - 1000, tml_take, &o);
    assert_int_equal(o.n, 3);
    tail_ml_expire(m, now + 500, tml_take, &o);
    assert_int_equal(o.n, 5);
    assert_string_equal(o.text[3], "INFO again");
    assert_string_equal(o.text[4], "ERROR other");
    assert_false(a.active);
    assert_false(b.active);
    assert_int_equal(tail_ml_hold(&a), UINT64_MAX);
    /* forget: no emission, memory freed; close of an idle stream: nothing */
    tail_ml_line(m, &a, "x", 1, 0, 2, 0, tml_take, &o);
    tail_ml_forget(&a);
    tail_ml_close(m, &a, tml_take, &o);
    assert_int_equal(o.n, 5);
    tail_ml_forget(&b);
    tail_ml_free(m);
    config_options_free(tail_ml_options, &c);
    config_doc_free(doc);

    /* off: nothing to build; patterns without custom: refused */
    tail_ml_config none = {0};
    assert_int_equal(tail_ml_new(&m, &none, err, sizeof err), SL_OK);
    assert_null(m);
    tail_ml_config bad = {.mode = 1, .start_pattern = "x"};
    assert_int_not_equal(tail_ml_new(&m, &bad, err, sizeof err), SL_OK);
    tail_ml_config badre = {.mode = ML_MODE_CUSTOM + 1, .start_pattern = "(["};
    assert_int_not_equal(tail_ml_new(&m, &badre, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "start_pattern"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_java),
        cmocka_unit_test(test_python),
        cmocka_unit_test(test_go),
        cmocka_unit_test(test_ruby),
        cmocka_unit_test(test_dotnet),
        cmocka_unit_test(test_custom),
        cmocka_unit_test(test_interleaved_streams),
        cmocka_unit_test(test_fields_and_group_by),
        cmocka_unit_test(test_timeout_flush),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_open_group_cap),
        cmocka_unit_test(test_acks_held_until_delivered),
        cmocka_unit_test(test_acks_chained_transforms),
        cmocka_unit_test(test_rules_api),
        cmocka_unit_test(test_tail_ml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
