/* test_memlimit.c - the memory limit's decision (thresholds per class, lowest priority
 * first, hysteresis, nothing paused when nothing can drain), the cgroup v2 default read
 * from a fake hierarchy, and the estimate between two samples. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/common.h"
#include "core/memlimit.h"

#define MiB (1024ull * 1024ull)
#define ALL ((1u << SL_MEM_NCLASS) - 1)

static void test_thresholds(void **state)
{
    (void)state;
    uint64_t L = 400 * MiB;
    assert_int_equal(memlimit_headroom(L), 50 * MiB);            /* 1/8 */
    assert_int_equal(memlimit_headroom(16 * MiB), 4 * MiB);      /* at least 4 MiB */
    assert_int_equal(memlimit_headroom(6 * MiB), 3 * MiB);       /* at most half */
    /* lowest priority pauses first */
    assert_true(memlimit_pause_at(L, SL_MEM_DEEP) < memlimit_pause_at(L, SL_MEM_BACKFILL));
    assert_true(memlimit_pause_at(L, SL_MEM_BACKFILL) < memlimit_pause_at(L, SL_MEM_LIVE));
    assert_int_equal(memlimit_pause_at(L, SL_MEM_LIVE), 350 * MiB);
    assert_int_equal(memlimit_pause_at(L, SL_MEM_BACKFILL), 325 * MiB);
    assert_int_equal(memlimit_pause_at(L, SL_MEM_DEEP), 300 * MiB);
}

static void test_decide(void **state)
{
    (void)state;
    uint64_t L = 400 * MiB;
    assert_int_equal(memlimit_decide(0, 10000 * MiB, 0, true), 0);   /* no limit */
    assert_int_equal(memlimit_decide(L, 100 * MiB, 0, true), 0);
    /* rising: deep, then backfill, then live */
    assert_int_equal(memlimit_decide(L, 300 * MiB, 0, true), 1u << SL_MEM_DEEP);
    assert_int_equal(memlimit_decide(L, 330 * MiB, 1, true), (1u << SL_MEM_DEEP) | (1u << SL_MEM_BACKFILL));
    assert_int_equal(memlimit_decide(L, 360 * MiB, 3, true), ALL);
    /* falling: each resumes half a headroom (25 MiB) below where it paused */
    assert_int_equal(memlimit_decide(L, 325 * MiB, ALL, true), ALL);
    assert_int_equal(memlimit_decide(L, 324 * MiB, ALL, true), 3);
    assert_int_equal(memlimit_decide(L, 300 * MiB, 3, true), 3);
    assert_int_equal(memlimit_decide(L, 299 * MiB, 3, true), 1);
    assert_int_equal(memlimit_decide(L, 275 * MiB, 1, true), 1);
    assert_int_equal(memlimit_decide(L, 274 * MiB, 1, true), 0);
    /* without the hysteresis the same level does not pause */
    assert_int_equal(memlimit_decide(L, 340 * MiB, 0, true), 3);
    /* nothing sluice holds can drain: pausing would never end */
    assert_int_equal(memlimit_decide(L, 390 * MiB, ALL, false), 0);
}

static char tmpdir[] = "/tmp/sluice-memlimit-XXXXXX";

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    /* make the parents */
    for (char *s = p + strlen(tmpdir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static uint64_t cg(void)
{
    char proc[512], root[512];
    snprintf(proc, sizeof proc, "%s/proc_cgroup", tmpdir);
    snprintf(root, sizeof root, "%s/cg", tmpdir);
    return memlimit_cgroup(proc, root);
}

static void test_cgroup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    /* no file: none */
    assert_int_equal(cg(), 0);
    /* cgroup v1 only: none */
    put("proc_cgroup", "4:memory:/a\n1:cpu:/\n");
    assert_int_equal(cg(), 0);
    /* v2, no memory.max anywhere (the root has none): none */
    put("proc_cgroup", "0::/kubepods/pod1/c1\n");
    assert_int_equal(cg(), 0);
    put("cg/kubepods/pod1/c1/memory.max", "max\n");
    assert_int_equal(cg(), 0);
    /* the container's own limit */
    put("cg/kubepods/pod1/c1/memory.max", "268435456\n");
    assert_int_equal(cg(), 268435456ull);
    /* a smaller one on an ancestor wins (the effective limit) */
    put("cg/kubepods/pod1/memory.max", "134217728\n");
    assert_int_equal(cg(), 134217728ull);
    put("cg/kubepods/memory.max", "max\n");
    assert_int_equal(cg(), 134217728ull);
    /* a namespaced cgroup: the process sees itself at the root */
    put("proc_cgroup", "0::/\n");
    put("cg/memory.max", "536870912\n");
    assert_int_equal(cg(), 536870912ull);
    /* hybrid: the v2 line among v1 lines */
    put("proc_cgroup", "5:memory:/x\n0::/kubepods/pod1/c1\n");
    assert_int_equal(cg(), 134217728ull);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static uint64_t fake_held;
static uint64_t held_fn(void *arg, bool *drainable)
{
    (void)arg;
    if (drainable)
        *drainable = true;
    return fake_held;
}

/* Between samples, growth of the memory buffers counts at once. */
static void test_estimate(void **state)
{
    (void)state;
    uint64_t L = 1ull << 40; /* far above this process */
    char err[256];
    fake_held = 0;
    assert_int_equal(memlimit_start(L, "test", held_fn, NULL, err, sizeof err), 0);
    assert_true(memlimit_active());
    /* a second pipeline in the process runs under the first one's governor */
    assert_int_equal(memlimit_start(L / 2, "test", held_fn, NULL, err, sizeof err), SL_ERR_AGAIN);
    /* wait for the first sample (the status shows the resident set) */
    for (int i = 0; i < 500; i++) {
        sl_buf b = SL_BUF_INIT;
        memlimit_status_json(&b);
        buf_putc(&b, '\0');
        bool sampled = !strstr(b.p, "\"rss_bytes\":0,");
        buf_free(&b);
        if (sampled)
            break;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    for (int c = 0; c < SL_MEM_NCLASS; c++) {
        assert_false(memlimit_paused(c));
        assert_false(memlimit_over(c, 0)); /* no growth: the sample's decision stands */
        assert_true(memlimit_over(c, L)); /* buffers grew by the whole limit */
    }
    assert_true(memlimit_over(SL_MEM_DEEP, memlimit_pause_at(L, SL_MEM_DEEP)));
    assert_false(memlimit_over(SL_MEM_NEVER, L));
    sl_buf b = SL_BUF_INIT;
    memlimit_render_prometheus(&b);
    buf_putc(&b, '\0');
    assert_non_null(strstr(b.p, "sluice_memory_limit_bytes 1099511627776\n"));
    assert_non_null(strstr(b.p, "sluice_memory_paused_sources 0\n"));
    assert_non_null(strstr(b.p, "sluice_memory_paused{class=\"deep_history\"} 0\n"));
    buf_free(&b);
    memlimit_stop();
    memlimit_start(0, NULL, NULL, NULL, err, sizeof err); /* no limit */
    assert_false(memlimit_active());
    assert_false(memlimit_over(SL_MEM_DEEP, L));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thresholds),
        cmocka_unit_test(test_decide),
        cmocka_unit_test(test_cgroup),
        cmocka_unit_test(test_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
