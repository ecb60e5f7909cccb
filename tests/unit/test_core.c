/* test_core.c - the small core modules: common (errors, atomic files, mkdirs), buf, event
 * field helpers, and log (levels, JSON lines, reopen, the warning gate, excerpts). */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/codec.h"
#include "core/common.h"
#include "core/event.h"
#include "formats/json.h"
#include "core/log.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/sluice-core.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_errors(void **state)
{
    assert_string_equal(sl_strerror(SL_OK), "ok");
    assert_string_equal(sl_strerror(SL_ERR_CORRUPT), "corrupt data");
    assert_string_equal(sl_strerror(-999), "unknown error");
    char err[8];
    assert_int_equal(sl_seterr(err, sizeof err, SL_ERR_IO, "%s", "a long message"), SL_ERR_IO);
    assert_string_equal(err, "a long "); /* truncated, always terminated */
}

static void test_atomic_write_and_read(void **state)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(sl_mkdirs(path, err, sizeof err), SL_OK);
    assert_int_equal(sl_mkdirs(path, err, sizeof err), SL_OK); /* idempotent */
    snprintf(path, sizeof path, "%s/a/b/c/state", dir);
    assert_int_equal(sl_write_file_atomic(path, "one", 3, err, sizeof err), SL_OK);
    struct stat st1;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(sl_write_file_atomic(path, "second", 6, err, sizeof err), SL_OK);
    struct stat st2;
    assert_int_equal(stat(path, &st2), 0);
    assert_int_not_equal(st1.st_ino, st2.st_ino); /* replaced by rename, never rewritten */
    char *data;
    size_t len;
    assert_int_equal(sl_read_file(path, &data, &len, err, sizeof err), SL_OK);
    assert_int_equal(len, 6);
    assert_string_equal(data, "second");
    free(data);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_not_equal(access(tmp, F_OK), 0);
    /* A directory where a file is expected, and a file where a directory is. */
    snprintf(path, sizeof path, "%s/a", dir);
    assert_int_equal(sl_read_file(path, &data, &len, err, sizeof err), SL_ERR_IO);
    snprintf(path, sizeof path, "%s/a/b/c/state/x", dir);
    assert_int_not_equal(sl_mkdirs(path, err, sizeof err), SL_OK);
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(sl_read_file(path, &data, &len, err, sizeof err), SL_ERR_NOTFOUND);
}

static void test_buf(void **state)
{
    sl_buf b = SL_BUF_INIT;
    buf_append(&b, "", 0);
    assert_int_equal(b.len, 0);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    buf_putc(&b, '\0');
    assert_int_equal(strncmp(b.p, "0,1,2,", 6), 0);
    assert_non_null(strstr(b.p, "998,999,"));
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    buf_reset(&b);
    buf_printf(&b, "[%s]", big); /* longer than the stack fast path */
    assert_int_equal(b.len, sizeof big + 1);
    buf_free(&b);
    assert_null(b.p);
}

/* RFC 4648's test vectors, each length's padding, and bytes over 0x7f; random bytes. */
static void test_base64_and_random(void **state)
{
    (void)state;
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=",
                                       "Zm9vYmFy"};
    char out[64];
    for (size_t n = 0; n < 7; n++) {
        memset(out, 'x', sizeof out);
        base64_encode(out, "foobar", n);
        assert_string_equal(out, want[n]);
    }
    base64_encode(out, "\xff\xfe\xfd\x00", 4);
    assert_string_equal(out, "//79AA==");
    sl_buf b = SL_BUF_INIT;
    buf_append(&b, "a:", 2);
    buf_base64(&b, "foob", 4);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.p, "a:Zm9vYg==", 10);
    buf_free(&b);

    unsigned char r1[32] = {0}, r2[32] = {0};
    assert_int_equal(sl_random_bytes(r1, sizeof r1), SL_OK);
    assert_int_equal(sl_random_bytes(r2, sizeof r2), SL_OK);
    assert_memory_not_equal(r1, r2, sizeof r1);
    assert_int_equal(sl_random_bytes(r1, 0), SL_OK);
}

static void test_event_fields(void **state)
{
    sl_batch *b = batch_new(2);
    sl_event *e = batch_add(b);
    event_set_str(b, e, "k", "v1", 2);
    event_set_str(b, e, "k", "v2", 2); /* replaces */
    event_set_int(b, e, "n", 42);
    for (int i = 0; i < 20; i++) { /* grows the field array */
        char key[16];
        snprintf(key, sizeof key, "f%d", i);
        event_set_str(b, e, key, "x", 1);
    }
    event_set_static(b, e, SL_STR("s"), SL_STR("static"));
    assert_int_equal(e->nfields, 23);
    const sl_field *f = event_get(e, "k", 1);
    assert_non_null(f);
    assert_int_equal(f->v.s.len, 2);
    assert_memory_equal(f->v.s.ptr, "v2", 2);
    assert_int_equal(event_get(e, "n", 1)->v.i, 42);
    assert_null(event_get(e, "nope", 4));
    bool keep[1] = {false};
    batch_compact(b, keep);
    assert_int_equal(b->n, 0);
    assert_int_equal(b->bytes, 0);
    assert_true(batch_mem_size(b) > sizeof *b);
    batch_release(b);
}

/* Shared fields (event.h): two events point at one array of a batch. Readers see them
 * before the event's own; a change to one event copies them out for it alone; copies,
 * the JSON form and the disk buffer's codec carry them as ordinary fields. */
static void test_event_shared_fields(void **state)
{
    (void)state;
    sl_batch *b = batch_new(2);
    sl_field *sh = arena_alloc(&b->arena, 2 * sizeof *sh);
    sh[0] = (sl_field){.key = SL_STR("pod"), .type = SL_VAL_STR, .v.s = SL_STR("web-1")};
    sh[1] = (sl_field){.key = SL_STR("restart"), .type = SL_VAL_INT, .v.i = 3};
    b->shared_fields = true;
    sl_event *e[2];
    for (int i = 0; i < 2; i++) {
        e[i] = batch_add(b);
        e[i]->ts_ns = 1000000000LL * (i + 1);
        e[i]->message = SL_STR("m");
        e[i]->shared = sh;
        e[i]->nshared = 2;
        sl_field *f = event_push_field(b, e[i], SL_STR("offset"));
        f->type = SL_VAL_INT;
        f->v.i = 10 * i;
    }
    assert_int_equal(event_nfields(e[0]), 3);
    assert_ptr_equal(event_field(e[0], 1), &sh[1]);
    assert_int_equal(event_field(e[1], 2)->v.i, 10);
    assert_int_equal(event_get(e[1], "restart", 7)->v.i, 3);
    assert_int_equal(event_get(e[1], "offset", 6)->v.i, 10);

    sl_buf j = SL_BUF_INIT;
    json_encode_event(&j, e[0]);
    buf_putc(&j, '\0');
    assert_non_null(strstr(j.p, "\"message\":\"m\",\"pod\":\"web-1\",\"restart\":3,\"offset\":0}"));

    /* the disk buffer's record, read back: the same fields, all the event's own */
    sl_buf rec = SL_BUF_INIT;
    codec_encode_batch(&rec, b);
    sl_batch *back = NULL;
    char err[128];
    assert_int_equal(codec_decode_batch(rec.p, rec.len, &back, err, sizeof err), SL_OK);
    assert_int_equal(back->events[1].nshared, 0);
    assert_int_equal(back->events[1].nfields, 3);
    buf_reset(&rec);
    json_encode_event(&rec, &back->events[0]);
    buf_putc(&rec, '\0');
    assert_string_equal(rec.p, j.p);
    batch_release(back);

    sl_batch *c = batch_clone(b);
    assert_false(c->shared_fields);
    assert_int_equal(c->events[0].nshared, 0);
    assert_int_equal(c->events[0].nfields, 3);
    assert_int_equal(event_get(&c->events[0], "restart", 7)->v.i, 3);
    batch_release(c);

    /* changing a shared field of one event leaves the other as it was */
    event_set_str(b, e[0], "pod", "web-2", 5);
    assert_int_equal(e[0]->nshared, 0);
    assert_int_equal(e[0]->nfields, 3);
    assert_memory_equal(event_get(e[0], "pod", 3)->v.s.ptr, "web-2", 5);
    assert_memory_equal(event_get(e[1], "pod", 3)->v.s.ptr, "web-1", 5);
    assert_memory_equal(sh[0].v.s.ptr, "web-1", 5);
    assert_int_equal(event_get(e[0], "offset", 6)->v.i, 0);
    batch_unshare(b);
    assert_false(b->shared_fields);
    assert_int_equal(e[1]->nshared, 0);
    assert_int_equal(e[1]->nfields, 3);
    assert_ptr_not_equal(event_get(e[1], "pod", 3), &sh[0]);
    assert_int_equal(event_get(e[1], "offset", 6)->v.i, 10);
    buf_free(&j);
    buf_free(&rec);
    batch_release(b);
}

static void test_log_json_and_reopen(void **state)
{
    char path[128], moved[160], err[256];
    snprintf(path, sizeof path, "%s/sluice.log", dir);
    assert_int_equal(log_configure(SL_LOG_INFO, true, path, err, sizeof err), SL_OK);
    log_debug("t", "hidden");
    log_info("t", "quote \" and\nnewline");
    snprintf(moved, sizeof moved, "%s.1", path);
    assert_int_equal(rename(path, moved), 0);
    log_reopen();
    log_warn("t", "after reopen");
    char *a, *c;
    size_t al, cl;
    assert_int_equal(sl_read_file(moved, &a, &al, err, sizeof err), SL_OK);
    assert_int_equal(sl_read_file(path, &c, &cl, err, sizeof err), SL_OK);
    assert_null(strstr(a, "hidden"));
    assert_non_null(strstr(a, "\"level\":\"info\""));
    assert_non_null(strstr(a, "quote \\\" and\\u000anewline")); /* one JSON line */
    assert_non_null(strstr(c, "after reopen"));
    assert_int_equal(log_level_parse("warning"), SL_LOG_WARN);
    assert_int_equal(log_level_parse("loud"), -1);
    free(a);
    free(c);
    log_configure(SL_LOG_INFO, false, NULL, err, sizeof err);
}

/* The ring behind the status API's recent_errors: warnings and errors only, the last 16,
 * oldest first, escaped, long messages cut at a character boundary. */
static void test_log_recent(void **state)
{
    char path[128], err[256], big[400];
    snprintf(path, sizeof path, "%s/recent.log", dir);
    assert_int_equal(log_configure(SL_LOG_INFO, false, path, err, sizeof err), SL_OK);
    log_info("t", "not kept");
    for (int i = 0; i < 20; i++)
        log_warn("t", "warn %d", i);
    log_error("c\"q", "quote \" and\nnewline");
    memset(big, 'x', sizeof big);
    memcpy(big + 237, "\xc3\xa9", 2); /* a 2-byte character across the cut */
    big[sizeof big - 1] = '\0';
    log_error("t", "%s", big);
    sl_buf b = SL_BUF_INIT;
    log_recent_json(&b);
    buf_append(&b, "", 1);
    assert_null(strstr(b.p, "not kept"));
    assert_null(strstr(b.p, "\"warn 5\"")); /* 22 logged, 16 kept */
    assert_non_null(strstr(b.p, "[{\"time\":"));
    char *w6 = strstr(b.p, "\"warn 6\""), *w19 = strstr(b.p, "\"warn 19\"");
    assert_non_null(w6);
    assert_non_null(w19);
    assert_true(w6 < w19);
    assert_non_null(strstr(b.p, "\"component\":\"c\\\"q\",\"message\":\"quote \\\" and\\u000anewline\""));
    assert_non_null(strstr(b.p, "\"level\":\"error\""));
    assert_null(strstr(b.p, "\xc3\"")); /* no half character before the closing quote */
    buf_free(&b);
    log_configure(SL_LOG_INFO, false, NULL, err, sizeof err);
}

/* One gate shared by threads that all find it open: exactly one of them logs. */
static _Atomic int64_t race_gate;
static _Atomic int race_open;

static void *race_gate_thread(void *arg)
{
    for (int i = 0; i < 1000; i++)
        if (log_gate(&race_gate, 3600000))
            atomic_fetch_add(&race_open, 1);
    return NULL;
}

static void test_log_gate(void **state)
{
    _Atomic int64_t gate = 0;
    assert_true(log_gate(&gate, 3600000)); /* the first call opens it */
    assert_false(log_gate(&gate, 3600000));
    assert_false(log_gate(&gate, 3600000));
    assert_true(log_gate(&gate, 0));       /* the interval has passed */
    atomic_store(&gate, sl_mono_ms() - 7200000);
    assert_true(log_gate(&gate, 3600000));
    assert_false(log_gate(&gate, 3600000));

    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, race_gate_thread, NULL), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(atomic_load(&race_open), 1);
}

/* Ids that name files under data_dir (checkpoints, buffers, the DLQ), and the ones that
 * cannot: empty, climbing out, hidden, with a separator or a control byte, too long. */
static void test_id_names_file(void **state)
{
    (void)state;
    char longest[SL_ID_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[SL_ID_MAX] = '\0';
    const char *good[] = {"in", "out-1", "es.logs_2", "a..b", "x-", longest};
    for (size_t i = 0; i < SL_ARRAY_LEN(good); i++)
        assert_true(sl_id_names_file(good[i]));
    longest[SL_ID_MAX] = 'a';
    longest[SL_ID_MAX + 1] = '\0';
    const char *bad[] = {NULL, "", ".", "..", "../x", ".hidden", "a/b", "a\\b", "a\nb",
                         "tab\there", "del\x7f", longest};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++)
        assert_false(sl_id_names_file(bad[i]));
}

static void test_hexval(void **state)
{
    for (int c = -128; c < 256; c++) {
        const char *digits = "0123456789abcdef", *up = "0123456789ABCDEF";
        const char *at = c > 0 ? strchr(digits, c) : NULL, *atu = c > 0 ? strchr(up, c) : NULL;
        int want = at ? (int)(at - digits) : atu ? (int)(atu - up) : -1;
        assert_int_equal(sl_hexval(c), want);
    }
}

static void test_log_excerpt(void **state)
{
    char out[8];
    log_excerpt(out, sizeof out, "a\tb\r\nc\x7f\xc3\xa9z", 10);
    assert_string_equal(out, "a b  c "); /* cut at 7 bytes; controls and DEL flattened */
    log_excerpt(out, sizeof out, "ok\xc3\xa9", 4);
    assert_string_equal(out, "ok  ");    /* no UTF-8 byte, whole or cut, reaches a log line */
    log_excerpt(out, 1, "abc", 3);
    assert_string_equal(out, "");
    log_excerpt(out, sizeof out, NULL, 0);
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_atomic_write_and_read),
        cmocka_unit_test(test_buf),
        cmocka_unit_test(test_base64_and_random),
        cmocka_unit_test(test_event_fields),
        cmocka_unit_test(test_event_shared_fields),
        cmocka_unit_test(test_log_json_and_reopen),
        cmocka_unit_test(test_log_recent),
        cmocka_unit_test(test_log_gate),
        cmocka_unit_test(test_log_excerpt),
        cmocka_unit_test(test_hexval),
        cmocka_unit_test(test_id_names_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
