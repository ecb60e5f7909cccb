/* test_tailer_hook.c - unit tests for the tailer's per-file user slot and close hook, which
 * the kubernetes_logs source keeps its per-file metadata and partial lines in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "sources/tailer.h"

typedef struct hook_state {
    int lines, closes, drained, freed;
    int per_file_lines; /* counted through the user slot */
} hook_state;

static bool on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    hook_state *h = arg;
    if (!*f->user)
        *f->user = sl_xcalloc(1, sizeof(int));
    (*(int *)*f->user)++;
    h->lines++;
    return true;
}

static void on_close(void *arg, const tailer_file_info *f, bool drained)
{
    hook_state *h = arg;
    h->closes++;
    h->drained += drained;
    if (*f->user) {
        h->per_file_lines += *(int *)*f->user;
        free(*f->user);
        *f->user = NULL;
        h->freed++;
    }
}

static void scan(tailer *t, const char *path, bool offer)
{
    tailer_scan_begin(t);
    if (offer)
        tailer_offer(t, path);
    tailer_scan_end(t);
}

static void test_slot_and_hook(void **state)
{
    char dir[] = "/tmp/sl-tailer-hook.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], b[64];
    snprintf(a, sizeof a, "%s/a.log", dir);
    snprintf(b, sizeof b, "%s/b.log", dir);
    FILE *f = fopen(a, "w");
    fputs("one\ntwo\n", f);
    fclose(f);
    f = fopen(b, "w");
    fputs("x\n", f);
    fclose(f);

    tailer_opts o;
    tailer_opts_default(&o);
    o.rotate_wait_ms = 0;
    tailer *t = tailer_new(&o, "test", NULL);
    hook_state h = {0};
    tailer_set_close_hook(t, on_close, &h);
    tailer_scan_begin(t);
    tailer_offer(t, a);
    tailer_offer(t, b);
    tailer_scan_end(t);
    tailer_poll(t, on_line, NULL, &h);
    assert_int_equal(h.lines, 3);

    /* a deleted file is read to its end, then released with drained = true */
    f = fopen(a, "a");
    fputs("three\n", f);
    fclose(f);
    unlink(a);
    scan(t, b, true);
    for (int i = 0; i < 5 && h.closes == 0; i++)
        tailer_poll(t, on_line, NULL, &h);
    assert_int_equal(h.closes, 1);
    assert_int_equal(h.drained, 1);
    assert_int_equal(h.per_file_lines, 3);

    /* tailer_free releases the rest with drained = false */
    tailer_free(t);
    assert_int_equal(h.closes, 2);
    assert_int_equal(h.drained, 1);
    assert_int_equal(h.freed, 2);
    unlink(b);
    rmdir(dir);
}

/* A renamed file closed at its end (its path holds a new file) and offered again later under
 * its new name resumes at its end: nothing is read twice. */
static void test_closed_then_offered(void **state)
{
    char dir[] = "/tmp/sl-tailer-closed.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[64], a1[64];
    snprintf(a, sizeof a, "%s/0.log", dir);
    snprintf(a1, sizeof a1, "%s/0.log.1", dir);
    FILE *f = fopen(a, "w");
    fputs("one\ntwo\n", f);
    fclose(f);
    tailer_opts o;
    tailer_opts_default(&o);
    tailer *t = tailer_new(&o, "test", NULL);
    hook_state h = {0};
    tailer_set_close_hook(t, on_close, &h);
    scan(t, a, true);
    tailer_poll(t, on_line, NULL, &h);
    assert_int_equal(h.lines, 2);
    assert_int_equal(rename(a, a1), 0);
    f = fopen(a, "w");
    fputs("new\n", f);
    fclose(f);
    scan(t, a, true); /* the renamed file is not offered: drained and closed */
    for (int i = 0; i < 3; i++)
        tailer_poll(t, on_line, NULL, &h);
    assert_int_equal(h.closes, 1);
    assert_int_equal(h.lines, 3);
    tailer_scan_begin(t); /* now found under its new name */
    tailer_offer(t, a);
    tailer_offer(t, a1);
    tailer_scan_end(t);
    for (int i = 0; i < 3; i++)
        tailer_poll(t, on_line, NULL, &h);
    assert_int_equal(h.lines, 3);
    tailer_free(t);
    unlink(a);
    unlink(a1);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slot_and_hook),
        cmocka_unit_test(test_closed_then_offered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
