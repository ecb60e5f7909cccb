/* test_checkpoint.c - the checkpoint store: round trip, corruption detected and moved aside,
 * atomic replacement, the live copy and generations, pacing, durable writes that stop once
 * the entries have settled, locking, and the
 * `checkpoints` command. */
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

/* stat of <dir>/checkpoints/<name>; false if it is not there. */
static bool stat_copy(const char *dir, const char *name, struct stat *st)
{
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoints/%s", dir, name);
    return stat(p, st) == 0;
}

static bool exists(const char *dir, const char *name)
{
    struct stat st;
    return stat_copy(dir, name, &st);
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

    char *show[] = {"show", "--data-dir", (char *)d, NULL};
    assert_int_equal(checkpoints_cli(3, show), 0);
    char *reset[] = {"reset", "--data-dir", (char *)d, "--source", "run", NULL};
    assert_int_equal(checkpoints_cli(5, reset), 1); /* refused: locked */
    assert_true(exists(d, "run.ckpt"));
    ckpt_close(s);
    assert_int_equal(checkpoints_cli(5, reset), 0);
    assert_false(exists(d, "run.ckpt"));
    char *bad[] = {"frobnicate", NULL};
    assert_int_equal(checkpoints_cli(1, bad), 2);
    assert_int_equal(ckpt_open(&s, d, "../x", NULL, err, sizeof err), SL_ERR_INVAL);
}

/* Reopens store `id` and returns the position of key "k" (-1 when absent). */
static long long reopen_pos(const char *d, const char *id, sl_metrics *m)
{
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, id, m, err, sizeof err), SL_OK);
    const sl_ckpt_entry *e = ckpt_get(s, "k");
    long long pos = e ? (long long)e->pos : -1;
    ckpt_close(s);
    return pos;
}

static void damage(const char *d, const char *name)
{
    char p[600], err[256], *img;
    size_t len;
    snprintf(p, sizeof p, "%s/checkpoints/%s", d, name);
    assert_int_equal(sl_read_file(p, &img, &len, err, sizeof err), SL_OK);
    img[len / 2] ^= 0x20;
    FILE *f = fopen(p, "wb");
    assert_int_equal(fwrite(img, 1, len, f), len);
    fclose(f);
    free(img);
}

/* The newer of the durable file and its live copy wins, by generation; a damaged copy
 * falls back to the other one. */
static void test_live_copy(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "l", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 10, NULL);
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 20, NULL);
    assert_int_equal(ckpt_write(s, false, err, sizeof err), SL_OK);
    assert_true(exists(d, "l.ckpt.live"));
    assert_false(exists(d, "l.ckpt.live.tmp"));
    uint64_t gen = ckpt_generation(s);
    ckpt_close(s);
    assert_int_equal(reopen_pos(d, "l", NULL), 20); /* live newer: kill -9 after it */

    assert_int_equal(ckpt_open(&s, d, "l", NULL, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_generation(s), gen);
    ckpt_set(s, "k", 30, NULL);
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK); /* durable newer now */
    assert_true(ckpt_generation(s) > gen);
    ckpt_close(s);
    assert_int_equal(reopen_pos(d, "l", NULL), 30);

    /* Live newer again, then damaged (never flushed before a power loss): durable used,
     * counted, and the damaged copy removed. */
    assert_int_equal(ckpt_open(&s, d, "l", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 40, NULL);
    assert_int_equal(ckpt_write(s, false, err, sizeof err), SL_OK);
    ckpt_close(s);
    damage(d, "l.ckpt.live");
    sl_metrics *m = metrics_register("l", "source", "file");
    assert_int_equal(reopen_pos(d, "l", m), 30);
    assert_int_equal(metrics_error_count(m, "corrupt_checkpoint"), 1);
    assert_false(exists(d, "l.ckpt.live"));

    /* Durable damaged, live good: live used, the durable one moved aside. */
    assert_int_equal(ckpt_open(&s, d, "l", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 50, NULL);
    assert_int_equal(ckpt_write(s, false, err, sizeof err), SL_OK);
    ckpt_close(s);
    damage(d, "l.ckpt");
    assert_int_equal(reopen_pos(d, "l", m), 50);
    assert_int_equal(metrics_error_count(m, "corrupt_checkpoint"), 2);
    assert_true(exists(d, "l.ckpt.corrupt"));

    /* Only a live copy: not a first start; `checkpoints reset` removes it too. */
    assert_int_equal(ckpt_open(&s, d, "l", NULL, err, sizeof err), SL_OK);
    assert_true(ckpt_existed(s));
    ckpt_close(s);
    char *reset[] = {"reset", "--data-dir", (char *)d, "--source", "l", NULL};
    assert_int_equal(checkpoints_cli(5, reset), 0);
    assert_false(exists(d, "l.ckpt.live"));
    assert_int_equal(reopen_pos(d, "l", NULL), -1);
}

/* The inode of a copy: every write replaces it by a rename, so a new inode is a new write. */
static ino_t inode_of(const char *dir, const char *name)
{
    struct stat st;
    assert_true(stat_copy(dir, name, &st));
    return st.st_ino;
}

/* Durable writes of entries that have not changed go on until they have stood for the
 * settle time, then stop (an idle source writes nothing); a change writes again, and the
 * live copy is always written. */
static void test_durable_settles(void **state)
{
    const char *d = *state;
    char err[256];
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "z", NULL, err, sizeof err), SL_OK);
    ckpt_set(s, "k", 10, "meta");
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    ino_t ino = inode_of(d, "z.ckpt");
    uint64_t gen = ckpt_generation(s);
    /* the default settle time (2 s) has not passed: written again, dated anew */
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "z.ckpt") != ino);
    assert_int_equal(ckpt_generation(s), gen + 1);
    /* settled: the same entries are not written */
    ckpt_set_settle(s, 0);
    ino = inode_of(d, "z.ckpt");
    gen = ckpt_generation(s);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "z.ckpt") == ino);
    assert_int_equal(ckpt_generation(s), gen);
    /* the live copy is not paced by it */
    assert_int_equal(ckpt_write(s, false, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_generation(s), gen + 1);
    /* a changed position, and a changed meta, are written */
    ckpt_set(s, "k", 11, "meta");
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "z.ckpt") != ino);
    ino = inode_of(d, "z.ckpt");
    ckpt_set(s, "k", 11, "other");
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "z.ckpt") != ino);
    gen = ckpt_generation(s);
    ckpt_close(s);
    /* what was skipped was the same: the newest copy loads with the last positions */
    assert_int_equal(reopen_pos(d, "z", NULL), 11);
    assert_int_equal(ckpt_open(&s, d, "z", NULL, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_generation(s), gen);
    /* a reopened store writes its first durable copy whatever it holds */
    ino = inode_of(d, "z.ckpt");
    ckpt_set_settle(s, 0);
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "z.ckpt") != ino);
    ckpt_close(s);
    /* no entries at all (a source with nothing to track yet): the same rule */
    assert_int_equal(ckpt_open(&s, d, "empty", NULL, err, sizeof err), SL_OK);
    ckpt_set_settle(s, 0);
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    ino = inode_of(d, "empty.ckpt");
    assert_int_equal(ckpt_write(s, true, err, sizeof err), SL_OK);
    assert_true(inode_of(d, "empty.ckpt") == ino);
    ckpt_close(s);
}

/* A v1 file (no generation) still loads, as generation 0; the next write is v2. */
static void test_v1_file(void **state)
{
    const char *d = *state;
    char p[600], err[256];
    snprintf(p, sizeof p, "%s/checkpoints", d);
    assert_int_equal(sl_mkdirs(p, err, sizeof err), SL_OK);
    sl_buf b = SL_BUF_INIT;
    buf_puts(&b, "# sluice checkpoint v1\nk 77 -\n");
    buf_printf(&b, "crc32c %08x\n", crc32c(0, b.p, b.len));
    snprintf(p, sizeof p, "%s/checkpoints/old.ckpt", d);
    FILE *f = fopen(p, "wb");
    assert_int_equal(fwrite(b.p, 1, b.len, f), b.len);
    fclose(f);
    buf_free(&b);
    sl_ckpt_store *s;
    assert_int_equal(ckpt_open(&s, d, "old", NULL, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_generation(s), 0);
    assert_int_equal(ckpt_get(s, "k")->pos, 77);
    assert_int_equal(ckpt_write(s, false, err, sizeof err), SL_OK);
    assert_int_equal(ckpt_generation(s), 1);
    ckpt_close(s);
    assert_int_equal(reopen_pos(d, "old", NULL), 77);
    /* A bad generation is damage like any other. */
    sl_ckpt_store *t = ckpt_new();
    const char *bad[] = {"# sluice checkpoint v2 \n", "# sluice checkpoint v2 x1\n",
                         "# sluice checkpoint v2 1"};
    for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
        sl_buf x = SL_BUF_INIT;
        buf_puts(&x, bad[i]);
        buf_printf(&x, "crc32c %08x\n", crc32c(0, x.p, x.len));
        assert_int_equal(ckpt_parse(t, x.p, x.len, err, sizeof err), SL_ERR_CORRUPT);
        buf_free(&x);
    }
    ckpt_close(t);
}

/* Pacing: the first commit after a quiet spell is written at once; later ones at most
 * every SL_CKPT_LIVE_MS unless SL_CKPT_LIVE_BATCHES have piled up; durable on its interval. */
static void test_pace(void **state)
{
    sl_ckpt_pace p;
    ckpt_pace_init(&p, 1000, 100000);
    assert_int_equal(ckpt_pace_due(&p, 100000), SL_CKPT_NONE);
    assert_int_equal(ckpt_pace_wait(&p, 100000), 1000);
    ckpt_pace_committed(&p, 0);
    assert_int_equal(ckpt_pace_due(&p, 100001), SL_CKPT_NONE);
    ckpt_pace_committed(&p, 1);
    assert_int_equal(ckpt_pace_due(&p, 100001), SL_CKPT_LIVE); /* last write long ago */
    ckpt_pace_written(&p, SL_CKPT_LIVE, 100001);
    ckpt_pace_committed(&p, 2);
    assert_int_equal(ckpt_pace_due(&p, 100005), SL_CKPT_NONE);
    assert_int_equal(ckpt_pace_wait(&p, 100005), SL_CKPT_LIVE_MS - 4);
    assert_int_equal(ckpt_pace_due(&p, 100001 + SL_CKPT_LIVE_MS), SL_CKPT_LIVE);
    ckpt_pace_committed(&p, SL_CKPT_LIVE_BATCHES - 2);
    assert_int_equal(ckpt_pace_due(&p, 100006), SL_CKPT_LIVE); /* enough piled up */
    ckpt_pace_written(&p, SL_CKPT_LIVE, 100006);
    assert_int_equal(ckpt_pace_due(&p, 101000), SL_CKPT_DURABLE); /* moved or not */
    ckpt_pace_written(&p, SL_CKPT_DURABLE, 101000);
    assert_int_equal(ckpt_pace_due(&p, 101001), SL_CKPT_NONE);
    assert_int_equal(ckpt_pace_wait(&p, 101001), 999);
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
        cmocka_unit_test_setup_teardown(test_live_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_durable_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v1_file, setup, teardown),
        cmocka_unit_test(test_pace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
