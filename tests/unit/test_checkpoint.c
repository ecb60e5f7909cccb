/* test_checkpoint.c - the checkpoint store: round trip, corruption detected and moved aside,
 * atomic replacement, locking, and the `checkpoints` command. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/common.h"
#include "core/crc32c.h"
#include "core/log.h"
#include "core/metrics.h"

static int setup(void **state)
{
    char *dir = strdup("/tmp/sluice-ckpt-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", (char *)*state);
    int rc = system(cmd);
    free(*state);
    metrics_reset();
    return rc == 0 ? 0 : -1;
}

static bool exists(const char *dir, const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, name);
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_round_trip(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "src", NULL, err, sizeof err), SL_OK);
    assert_false(ckpt_existed(s));
    ckpt_set(s, "2049:12", 100, "0badf00d 256 /var/log/a b.log");
    ckpt_set(s, "weird key\twith\nspaces%", 7, "");
    ckpt_set(s, "dash", 1, "-");
    for (int i = 0; i < 100; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%d", i);
        ckpt_set(s, k, (uint64_t)i, NULL);
    }
    ckpt_set(s, "2049:12", 200, "0badf00d 256 /var/log/a b.log"); /* replace */
    assert_true(ckpt_remove(s, "k50"));
    assert_false(ckpt_remove(s, "k50"));
    assert_int_equal(ckpt_count(s), 102);
    assert_int_equal(ckpt_save(s, err, sizeof err), SL_OK);
    ckpt_close(s);

    assert_int_equal(ckpt_open(&s, d, "src", NULL, err, sizeof err), SL_OK);
    assert_true(ckpt_existed(s));
    assert_int_equal(ckpt_count(s), 102);
    const sl_ckpt_entry *e = ckpt_get(s, "2049:12");
    assert_non_null(e);
    assert_int_equal(e->pos, 200);
    assert_string_equal(e->meta, "0badf00d 256 /var/log/a b.log");
    e = ckpt_get(s, "weird key\twith\nspaces%");
    assert_non_null(e);
    assert_int_equal(e->pos, 7);
    assert_string_equal(e->meta, "");
    assert_string_equal(ckpt_get(s, "dash")->meta, "-");
    assert_null(ckpt_get(s, "k50"));
    assert_int_equal(ckpt_get(s, "k99")->pos, 99);
    ckpt_close(s);
}

static void corrupt_and_reopen(const char *d, const char *content, size_t len)
{
    char p[600], err[256];
    snprintf(p, sizeof p, "%s/checkpoints/c.ckpt", d);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    fclose(f);
    sl_metrics *m = metrics_register("c", "source", "file");
    uint64_t before = metrics_error_count(m, "corrupt_checkpoint");
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "c", m, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_count(s), 0);             /* starts empty */
    assert_true(ckpt_existed(s));                   /* not a first start */
    assert_int_equal(metrics_error_count(m, "corrupt_checkpoint"), before + 1);
    assert_true(exists(d, "c.ckpt.corrupt"));       /* moved aside */
    assert_false(exists(d, "c.ckpt"));
    ckpt_close(s);
}

static void test_corrupt_detected_and_moved_aside(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "c", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "1:2", 42, "meta");
    assert_int_equal(ckpt_save(s, err, sizeof err), SL_OK);
    ckpt_close(s);
    char p[600], *good;
    size_t len;
    snprintf(p, sizeof p, "%s/checkpoints/c.ckpt", d);
    assert_int_equal(sl_read_file(p, &good, &len, err, sizeof err), SL_OK);

    char *bad = malloc(len);
    memcpy(bad, good, len);
    bad[len / 2] ^= 0x01; /* one flipped bit */
    corrupt_and_reopen(d, bad, len);
    corrupt_and_reopen(d, good, len - 5);          /* torn write */
    corrupt_and_reopen(d, "garbage\n", 8);          /* not ours at all */
    corrupt_and_reopen(d, "", 0);                   /* empty */
    free(bad);
    free(good);
}

static void test_parse_rejects_bad_lines(void **state)
{
    sl_ckpt_store *s = ckpt_new();
    sl_buf b = SL_BUF_INIT;
    char err[256];
    /* A correct checksum over a malformed body must still be rejected. */
    const char *bodies[] = {
        "# sluice checkpoint v1\nkey notanumber meta\n",
        "# sluice checkpoint v1\nkey 1\n",
        "# sluice checkpoint v1\nkey 1 m\nkey 2 m\n", /* duplicate */
        "# sluice checkpoint v1\nk%zz 1 m\n",
        "# sluice checkpoint v1\nk 99999999999999999999999 m\n",
    };
    for (size_t i = 0; i < SL_ARRAY_LEN(bodies); i++) {
        buf_reset(&b);
        buf_puts(&b, bodies[i]);
        buf_printf(&b, "crc32c %08x\n", crc32c(0, b.p, b.len));
        assert_int_equal(ckpt_parse(s, b.p, b.len, err, sizeof err), SL_ERR_CORRUPT);
        assert_int_equal(ckpt_count(s), 0);
    }
    /* and a good one parses */
    ckpt_set(s, "a", 1, "x y");
    buf_reset(&b);
    ckpt_serialize(s, &b);
    assert_int_equal(ckpt_parse(s, b.p, b.len, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_count(s), 1);
    buf_free(&b);
    ckpt_close(s);
}

static void test_atomic_replace(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "a", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 1, NULL);
    assert_int_equal(ckpt_save(s, err, sizeof err), SL_OK);
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoints/a.ckpt", d);
    struct stat st1, st2;
    assert_int_equal(stat(p, &st1), 0);
    ckpt_set(s, "k", 2, NULL);
    assert_int_equal(ckpt_save(s, err, sizeof err), SL_OK);
    assert_int_equal(stat(p, &st2), 0);
    assert_true(st1.st_ino != st2.st_ino); /* a new file renamed over, not rewritten */
    assert_false(exists(d, "a.ckpt.tmp"));
    /* A leftover temp file from a crash mid-save does not disturb loading. */
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s.tmp", p);
    FILE *f = fopen(tmp, "w");
    fputs("half a checkpo", f);
    fclose(f);
    ckpt_close(s);
    assert_int_equal(ckpt_open(&s, d, "a", NULL, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_get(s, "k")->pos, 2);
    ckpt_close(s);
}

static void test_lock_and_cli(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s, *s2;
    assert_int_equal(ckpt_open(&s, d, "run", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 5, NULL);
    assert_int_equal(ckpt_save(s, err, sizeof err), SL_OK);
    /* A second opener is refused while the first holds the lock. */
    assert_int_not_equal(ckpt_open(&s2, d, "run", NULL, err, sizeof err), SL_OK);
    assert_non_null(strstr(err, "locked"));

    char *show[] = {"checkpoints", "show", "--data-dir", (char *)d, NULL};
    assert_int_equal(checkpoints_cli(4, show), 0);
    char *reset[] = {"checkpoints", "reset", "--data-dir", (char *)d, "--source", "run", NULL};
    assert_int_equal(checkpoints_cli(6, reset), 1); /* refused: locked */
    assert_true(exists(d, "run.ckpt"));
    ckpt_close(s);
    assert_int_equal(checkpoints_cli(6, reset), 0);
    assert_false(exists(d, "run.ckpt"));
    char *bad[] = {"checkpoints", "frobnicate", NULL};
    assert_int_equal(checkpoints_cli(2, bad), 2);
    assert_int_equal(ckpt_open(&s, d, "../x", NULL, err, sizeof err), SL_ERR_INVAL);
}

int main(void)
{
    log_configure(SL_LOG_ERROR, false, NULL, NULL, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_detected_and_moved_aside, setup, teardown),
        cmocka_unit_test(test_parse_rejects_bad_lines),
        cmocka_unit_test_setup_teardown(test_atomic_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_and_cli, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
