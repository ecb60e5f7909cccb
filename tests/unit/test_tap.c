/* test_tap.c - the tap (core/tap.h): nothing copied while detached, at most `rate` events
 * a second with the rest counted in a tap_skipped line, the limit, one client at a time,
 * and partial takes that add up to the whole stream. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/common.h"
#include "core/event.h"
#include "core/tap.h"

static sl_batch *batch_of(int n)
{
    sl_batch *b = batch_new((uint32_t)n);
    for (int i = 0; i < n; i++) {
        sl_event *e = batch_add(b);
        e->ts_ns = 1;
        e->message = SL_STR("line");
        event_set_int(b, e, "i", i);
    }
    return b;
}

static size_t count(const char *s, size_t n, const char *needle)
{
    size_t c = 0, l = strlen(needle);
    for (size_t i = 0; i + l <= n; i++)
        c += memcmp(s + i, needle, l) == 0;
    return c;
}

static void test_tap(void **state)
{
    sl_tap t;
    tap_init(&t);
    sl_batch *b = batch_of(10);
    char out[8192];
    bool done = false;

    tap_hook(&t, b); /* detached: nothing */
    assert_int_equal(tap_take(&t, out, sizeof out, 0, &done), 0);

    assert_int_equal(tap_attach(&t, 4, 0), SL_OK);
    assert_int_equal(tap_attach(&t, 4, 0), SL_ERR_AGAIN); /* one client */
    tap_hook(&t, b);
    tap_hook(&t, b); /* same second: 4 copied, 16 skipped */
    size_t n = tap_take(&t, out, sizeof out, 0, &done);
    assert_false(done);
    assert_int_equal(count(out, n, "\n"), 4);
    assert_int_equal(count(out, n, "\"message\":\"line\""), 4);
    assert_int_equal(count(out, n, "\"i\":3"), 1);
    assert_int_equal(count(out, n, "tap_skipped"), 0); /* said before the next event taken */
    tap_detach(&t);

    /* A limit; takes of a few bytes at a time give back the same stream. */
    assert_int_equal(tap_attach(&t, 100, 3), SL_OK);
    tap_hook(&t, b);
    sl_buf all = SL_BUF_INIT;
    for (int guard = 0; !done && guard < 10000; guard++) {
        n = tap_take(&t, out, 7, 0, &done);
        buf_append(&all, out, n);
    }
    assert_true(done);
    assert_int_equal(count(all.p, all.len, "\n"), 3);
    assert_int_equal(count(all.p, all.len, "\"i\":2}"), 1);
    buf_free(&all);
    tap_detach(&t);

    /* The skipped count comes before the next copied event. */
    assert_int_equal(tap_attach(&t, 1, 0), SL_OK);
    tap_hook(&t, b); /* 1 copied, 9 skipped */
    t.window_ms -= 1000; /* the next second */
    tap_hook(&t, b);
    n = tap_take(&t, out, sizeof out, 0, &done);
    out[n] = '\0';
    assert_non_null(strstr(out, "}\n{\"tap_skipped\":9}\n{"));
    assert_int_equal(count(out, n, "\n"), 3);
    tap_detach(&t);

    batch_release(b);
    tap_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
