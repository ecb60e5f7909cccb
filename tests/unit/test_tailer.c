/* test_tailer.c - the tailer and glob discovery driven directly, without the engine, plus a
 * seeded randomised model-based test of rotation, truncation, deletion and restarts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "sources/glob.h"
#include "sources/tailer.h"

/* ---- Harness ---------------------------------------------------------------------------- */

typedef struct got_line {
    char *text;
    uint64_t key, offset, end;
    bool truncated;
    int instance; /* which tailer delivered it: keys restart with each tailer */
} got_line;

typedef struct got {
    got_line *v;
    size_t n, cap;
    size_t committed; /* lines already passed to tailer_commit */
    int instance;
} got;

static bool on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    got *g = arg;
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->v = realloc(g->v, g->cap * sizeof *g->v);
    }
    got_line *l = &g->v[g->n++];
    l->text = strndup(ln->data, ln->len);
    l->key = f->key;
    l->offset = ln->offset;
    l->end = ln->end;
    l->truncated = ln->truncated;
    l->instance = g->instance;
    return true;
}

static void got_free(got *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->v[i].text);
    free(g->v);
    memset(g, 0, sizeof *g);
}

/* Polls until nothing more is read, committing everything delivered (a perfect sink). */
static void drain(tailer *t, got *g)
{
    for (int i = 0; i < 1000; i++) {
        size_t n = tailer_poll(t, on_line, NULL, g);
        for (; g->committed < g->n; g->committed++)
            tailer_commit(t, g->v[g->committed].key, g->v[g->committed].end);
        if (n == 0)
            break;
    }
    /* one more turn lets drained files close */
    tailer_poll(t, on_line, NULL, g);
    for (; g->committed < g->n; g->committed++)
        tailer_commit(t, g->v[g->committed].key, g->v[g->committed].end);
}

typedef struct scan_ctx {
    tailer *t;
    const char *exclude;
} scan_ctx;

static void offer_cb(void *arg, const char *path)
{
    scan_ctx *c = arg;
    if (c->exclude && glob_match(c->exclude, path))
        return;
    tailer_offer(c->t, path);
}

static void scan(tailer *t, const char *dir, const char *pattern, const char *exclude)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, pattern);
    scan_ctx c = {t, exclude};
    tailer_scan_begin(t);
    glob_expand(p, offer_cb, NULL, &c);
    tailer_scan_end(t);
}

static void append(const char *dir, const char *name, const char *fmt, ...)
{
    char p[1024], buf[8192];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, (size_t)n), n);
    close(fd);
}

static void path_of(char *out, size_t n, const char *dir, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static void rm_rf(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    char *dir = strdup("/tmp/sluice-tailer-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    *state = dir;
    return 0;
}

static int teardown(void **state)
{
    rm_rf(*state);
    free(*state);
    return 0;
}

static tailer *new_tailer(void)
{
    tailer_opts o;
    tailer_opts_default(&o);
    return tailer_new(&o, "test", NULL);
}

/* ---- Tests ------------------------------------------------------------------------------ */

static void test_append_and_partial_line(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    got g = {0};
    append(d, "a.log", "one\ntwo\r\nthr");
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.v[0].text, "one");
    assert_string_equal(g.v[1].text, "two"); /* '\r' stripped */
    assert_int_equal(g.v[1].offset, 4);
    assert_int_equal(g.v[1].end, 9);
    append(d, "a.log", "ee\nfour\n");
    drain(t, &g);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.v[2].text, "three");
    assert_int_equal(g.v[2].offset, 9);
    assert_string_equal(g.v[3].text, "four");
    got_free(&g);
    tailer_free(t);
}

static void test_long_line_chunks(void **state)
{
    const char *d = *state;
    tailer_opts o;
    tailer_opts_default(&o);
    o.max_line_bytes = 100;
    tailer *t = tailer_new(&o, "test", NULL);
    got g = {0};
    char big[251];
    memset(big, 'x', 250);
    big[250] = '\0';
    append(d, "a.log", "short\n%s\nafter\n", big);
    scan(t, d, "a.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 5);
    assert_string_equal(g.v[0].text, "short");
    assert_false(g.v[0].truncated);
    for (int i = 1; i <= 3; i++)
        assert_true(g.v[i].truncated);
    assert_int_equal(strlen(g.v[1].text), 100);
    assert_int_equal(strlen(g.v[2].text), 100);
    assert_int_equal(strlen(g.v[3].text), 50);
    assert_string_equal(g.v[4].text, "after");
    assert_false(g.v[4].truncated);
    got_free(&g);
    tailer_free(t);
}

static void test_rename_rotation_read_to_end(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    got g = {0};
    append(d, "app.log", "a1\na2\n");
    scan(t, d, "app.log", NULL);
    drain(t, &g);
    char p1[1024], p2[1024];
    path_of(p1, sizeof p1, d, "app.log");
    path_of(p2, sizeof p2, d, "app.log.1");
    assert_int_equal(rename(p1, p2), 0);
    append(d, "app.log.1", "a3\n"); /* the writer still had the old file open */
    append(d, "app.log", "b1\n");
    scan(t, d, "app.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 4);
    bool a3 = false, b1 = false;
    for (size_t i = 2; i < g.n; i++) {
        a3 |= strcmp(g.v[i].text, "a3") == 0;
        b1 |= strcmp(g.v[i].text, "b1") == 0;
    }
    assert_true(a3 && b1);
    assert_int_equal(tailer_count(t), 1); /* the rotated file was drained and closed */
    got_free(&g);
    tailer_free(t);
}

static void test_copytruncate(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    got g = {0};
    append(d, "app.log", "l1\nl2\n");
    scan(t, d, "app.log*", NULL);
    drain(t, &g);
    append(d, "app.log", "l3\n"); /* not yet read when the copy is made */
    char p1[1024], cmd[2400];
    path_of(p1, sizeof p1, d, "app.log");
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.1'", p1, p1);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(truncate(p1, 0), 0);
    append(d, "app.log", "n1\n");
    drain(t, &g); /* sees the truncation before the copy is discovered */
    scan(t, d, "app.log*", NULL);
    drain(t, &g);
    /* l1 l2 once, l3 once (from the copy), n1 once */
    const char *want[] = {"l1", "l2", "l3", "n1"};
    for (size_t w = 0; w < 4; w++) {
        int c = 0;
        for (size_t i = 0; i < g.n; i++)
            c += strcmp(g.v[i].text, want[w]) == 0;
        assert_int_equal(c, 1);
    }
    assert_int_equal(g.n, 4);
    got_free(&g);
    tailer_free(t);
}

/* copytruncate, then the file written again past the offset being read, between the turn's
 * size check and its next read (here: from the callback of the turn's first line, while
 * more of the old content is still to be read). The next read gets new bytes at an old
 * offset; they must not go out as old lines, and the copy must resume where the old
 * content was last read, so no old line is lost and no fragment invented. */
typedef struct race_ctx {
    got g;
    const char *dir;
    bool done;
} race_ctx;

static void race_lines(char *buf, size_t cap, char tag, int from, int n)
{
    size_t len = 0;
    for (int i = from; i < from + n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%c%06d %s\n", tag, i,
                                "............................................");
}

static bool race_on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    race_ctx *c = arg;
    if (!c->done) {
        c->done = true;
        char p[1024], cmd[2400];
        path_of(p, sizeof p, c->dir, "app.log");
        snprintf(cmd, sizeof cmd, "cp '%s' '%s.1'", p, p);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(truncate(p, 0), 0);
        static char buf[3000 * 64];
        race_lines(buf, sizeof buf, 'N', 0, 3000);
        int fd = open(p, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
        close(fd);
    }
    return on_line(&c->g, f, ln);
}

static void test_copytruncate_rewritten_during_read(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    race_ctx c = {.dir = d};
    static char buf[3000 * 64];
    race_lines(buf, sizeof buf, 'O', 0, 3000); /* 3000 x 53 bytes: three read chunks */
    char p[1024];
    path_of(p, sizeof p, d, "app.log");
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, strlen(buf)), (ssize_t)strlen(buf));
    close(fd);
    scan(t, d, "app.log*", NULL);
    tailer_poll(t, race_on_line, NULL, &c); /* the rotation happens inside this turn */
    assert_true(c.done);
    drain(t, &c.g);
    scan(t, d, "app.log*", NULL); /* finds the copy */
    drain(t, &c.g);
    int seen_o[3000] = {0}, seen_n[3000] = {0};
    for (size_t i = 0; i < c.g.n; i++) {
        const char *l = c.g.v[i].text;
        int k = -1;
        if (strlen(l) != 52 || (l[0] != 'O' && l[0] != 'N') || sscanf(l + 1, "%6d", &k) != 1 ||
            k < 0 || k >= 3000)
            fail_msg("a line never written: '%s'", l);
        (l[0] == 'O' ? seen_o : seen_n)[k]++;
    }
    for (int k = 0; k < 3000; k++) {
        if (!seen_o[k])
            fail_msg("old line %d lost", k);
        if (!seen_n[k])
            fail_msg("new line %d lost", k);
    }
    got_free(&c.g);
    tailer_free(t);
}

static void test_delete_while_open(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    got g = {0};
    append(d, "x.log", "d1\nd2\npartial");
    scan(t, d, "*.log", NULL);
    char p[1024];
    path_of(p, sizeof p, d, "x.log");
    assert_int_equal(unlink(p), 0);
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.v[2].text, "partial"); /* flushed: it can never be completed */
    assert_int_equal(tailer_count(t), 0);       /* never held open forever */
    assert_int_equal(tailer_open_count(t), 0);
    got_free(&g);
    tailer_free(t);
}

typedef struct positions {
    tailer_position v[256];
    char paths[256][1024];
    size_t n;
} positions;

static void keep_position(void *arg, const tailer_position *p)
{
    positions *ps = arg;
    assert_true(ps->n < 256);
    ps->v[ps->n] = *p;
    snprintf(ps->paths[ps->n], 1024, "%s", p->path);
    ps->v[ps->n].path = ps->paths[ps->n];
    ps->n++;
}

static void test_resume_at_checkpoint(void **state)
{
    const char *d = *state;
    tailer *t = new_tailer();
    got g = {0};
    append(d, "r.log", "r1\nr2\n");
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    positions ps = {0};
    tailer_positions(t, keep_position, &ps);
    tailer_free(t);
    assert_int_equal(ps.n, 1);
    assert_int_equal(ps.v[0].offset, 6);

    /* While stopped: more lines, and the file is renamed (still matching). */
    append(d, "r.log", "r3\n");
    char p1[1024], p2[1024];
    path_of(p1, sizeof p1, d, "r.log");
    path_of(p2, sizeof p2, d, "r-renamed.log");
    assert_int_equal(rename(p1, p2), 0);

    t = new_tailer();
    tailer_restore(t, &ps.v[0]);
    got g2 = {0};
    scan(t, d, "*.log", NULL);
    drain(t, &g2);
    assert_int_equal(g2.n, 1);
    assert_string_equal(g2.v[0].text, "r3");
    assert_int_equal(g2.v[0].offset, 6);
    got_free(&g);
    got_free(&g2);
    tailer_free(t);
}

static void test_inode_reuse_different_fingerprint(void **state)
{
    const char *d = *state;
    append(d, "i.log", "brand new content\n");
    char p[1024];
    path_of(p, sizeof p, d, "i.log");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    /* A saved position for this very inode, but of a file whose first bytes differed. */
    tailer_position old = {(uint64_t)st.st_dev, (uint64_t)st.st_ino, 0, 0, 10, "i.log", false};
    old.fp_len = 5;
    old.fp_crc = 0x12345678;
    tailer *t = new_tailer();
    tailer_restore(t, &old);
    got g = {0};
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.v[0].text, "brand new content"); /* from the start */
    got_free(&g);
    tailer_free(t);
}

static void test_read_from_tail_first_start_only(void **state)
{
    const char *d = *state;
    append(d, "old.log", "old1\nold2\nhalf");
    tailer_opts o;
    tailer_opts_default(&o);
    o.read_from_tail = true;
    tailer *t = tailer_new(&o, "test", NULL);
    tailer_set_first_start(t, true);
    got g = {0};
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 0);
    append(d, "old.log", "done\nnew\n");
    append(d, "later.log", "later1\n"); /* found after the first scan: from its head */
    scan(t, d, "*.log", NULL);
    drain(t, &g);
    assert_int_equal(g.n, 3);
    int halfdone = 0, later = 0;
    for (size_t i = 0; i < g.n; i++) {
        halfdone += strcmp(g.v[i].text, "halfdone") == 0;
        later += strcmp(g.v[i].text, "later1") == 0;
    }
    assert_int_equal(halfdone, 1); /* the line in progress at start is read whole */
    assert_int_equal(later, 1);
    got_free(&g);
    tailer_free(t);
}

static void test_exclude_and_double_star(void **state)
{
    const char *d = *state;
    char p[1024];
    path_of(p, sizeof p, d, "pods/ns_a/c1");
    char err[128];
    assert_int_equal(sl_mkdirs(p, err, sizeof err), SL_OK);
    path_of(p, sizeof p, d, "pods/ns_b");
    assert_int_equal(sl_mkdirs(p, err, sizeof err), SL_OK);
    path_of(p, sizeof p, d, "pods/dir.log"); /* a directory where a file is expected */
    assert_int_equal(sl_mkdirs(p, err, sizeof err), SL_OK);
    append(d, "pods/ns_a/c1/0.log", "deep\n");
    append(d, "pods/ns_b/0.log", "mid\n");
    append(d, "pods/top.log", "top\n");
    append(d, "pods/ns_b/skip.log.gz", "gz\n");
    append(d, "pods/ns_b/skip.log", "skipped\n");
    tailer *t = new_tailer();
    got g = {0};
    scan(t, d, "pods/**/*.log", "skip.*");
    drain(t, &g);
    assert_int_equal(g.n, 3);
    int seen = 0;
    for (size_t i = 0; i < g.n; i++)
        seen += !strcmp(g.v[i].text, "deep") + !strcmp(g.v[i].text, "mid") +
                !strcmp(g.v[i].text, "top");
    assert_int_equal(seen, 3);
    got_free(&g);
    tailer_free(t);

    assert_true(glob_match("/a/**/*.log", "/a/x.log"));
    assert_true(glob_match("/a/**/*.log", "/a/b/c/x.log"));
    assert_false(glob_match("/a/**/*.log", "/b/x.log"));
    assert_true(glob_match("*.gz", "/any/where/f.gz"));
    assert_true(glob_match("./d/[ab]?.log", "d/a1.log"));
    assert_false(glob_match("./d/[ab]?.log", "d/c1.log"));

    /* exclude patterns: '*' crosses '/' as in Fluent Bit's Exclude_Path and Vector */
    assert_false(glob_match("/var/log/*.gz", "/var/log/app/old.gz"));
    assert_true(glob_excludes("/var/log/*.gz", "/var/log/app/old.gz"));
    assert_true(glob_excludes("/var/log/*.gz", "/var/log/old.gz"));
    assert_true(glob_excludes("/var/log/**/*.gz", "/var/log/old.gz")); /* as glob_match */
    assert_true(glob_excludes("/var/log//./*_kube-system_*", "/var/log/c/p_kube-system_x.log"));
    assert_true(glob_excludes("./d/*.tmp", "d/e/f.tmp"));
    assert_true(glob_excludes("*.gz", "/any/where/f.gz"));
    assert_false(glob_excludes("/var/log/*.gz", "/var/lib/old.gz"));
    assert_false(glob_excludes("/var/log/*.gz", "/var/log/app/old.gz.1"));
    assert_false(glob_excludes("old*", "/var/log/older/x.log")); /* no '/': the file name */
}

/* Sources scan on their own threads: two patterns expanded and matched at the same time must
 * each give only their own files (strtok's hidden state once handed one source's walk the
 * rest of the other's pattern, and with it the other source's file). */
typedef struct glob_job {
    char pattern[1024], want[1024], other[1024];
    atomic_int wrong, found;
} glob_job;

static void glob_job_offer(void *arg, const char *path)
{
    glob_job *j = arg;
    if (strcmp(path, j->want) == 0)
        atomic_fetch_add(&j->found, 1);
    else
        atomic_fetch_add(&j->wrong, 1);
}

static void *glob_job_run(void *arg)
{
    glob_job *j = arg;
    for (int i = 0; i < 20000; i++) {
        glob_expand(j->pattern, glob_job_offer, NULL, j);
        if (!glob_match(j->pattern, j->want) || glob_match(j->pattern, j->other))
            atomic_fetch_add(&j->wrong, 1);
    }
    return NULL;
}

static void test_glob_concurrent_sources(void **state)
{
    const char *d = *state;
    char logs[1024];
    snprintf(logs, sizeof logs, "%s/logs", d);
    assert_int_equal(mkdir(logs, 0755), 0);
    append(d, "logs/a.log", "a\n");
    append(d, "logs/c.log", "c\n");
    static glob_job jobs[2];
    const char *names[2] = {"a.log", "c.log"};
    for (int k = 0; k < 2; k++) {
        snprintf(jobs[k].pattern, sizeof jobs[k].pattern, "%s/logs/%s", d, names[k]);
        snprintf(jobs[k].want, sizeof jobs[k].want, "%s/logs/%s", d, names[k]);
        snprintf(jobs[k].other, sizeof jobs[k].other, "%s/logs/%s", d, names[1 - k]);
        atomic_init(&jobs[k].wrong, 0);
        atomic_init(&jobs[k].found, 0);
    }
    pthread_t th[2];
    for (int k = 0; k < 2; k++)
        assert_int_equal(pthread_create(&th[k], NULL, glob_job_run, &jobs[k]), 0);
    for (int k = 0; k < 2; k++)
        pthread_join(th[k], NULL);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(atomic_load(&jobs[k].wrong), 0);
        assert_int_equal(atomic_load(&jobs[k].found), 20000);
    }
}

static void test_unreadable_inputs(void **state)
{
    const char *d = *state;
    char p[1024], target[1024];
    append(d, "ok.log", "fine\n");
    path_of(p, sizeof p, d, "dangling.log");
    path_of(target, sizeof target, d, "nowhere");
    assert_int_equal(symlink(target, p), 0);
    append(d, "secret.log", "hidden\n");
    path_of(p, sizeof p, d, "secret.log");
    chmod(p, 0);
    append(d, "bin.log", "%c%c%c\xff\xfe\n", 0, 1, 2);
    tailer *t = new_tailer();
    got g = {0};
    scan(t, d, "*.log", NULL);
    scan(t, d, "*.log", NULL); /* again: problems are reported once, nothing breaks */
    drain(t, &g);
    bool fine = false;
    for (size_t i = 0; i < g.n; i++)
        fine |= strcmp(g.v[i].text, "fine") == 0;
    assert_true(fine);
    assert_true(g.n >= 2); /* "fine" and the binary line; "hidden" only if we are root */
    got_free(&g);
    tailer_free(t);
}

/* ---- Model-based test -------------------------------------------------------------------
 * One writer appends numbered lines to app.log; random actions rotate (rename), copy-
 * truncate, delete rotated files and restart the tailer from its positions. The model is
 * the list of lines written. Checks: every line written is delivered at least once, lines
 * of one tracked stream arrive in increasing order, and no line is delivered twice.
 * The harness scans after every file creation (as inotify would) so no file is deleted
 * before discovery, and commits every delivered line at once (a perfect sink), which is
 * what makes "no duplicates" exact; copytruncate duplicates would only appear if the copy
 * is found more than one scan after the truncation was seen (not exercised here). */

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void model_run(const char *d, uint64_t seed, int steps)
{
    rng_state = seed * 2654435761ULL + 1;
    tailer *t = new_tailer();
    got g = {0};
    uint64_t written = 0;   /* lines fully written: 0..written-1 */
    bool partial = false;   /* line `written` is half written */
    int rotated = 0;        /* app.log.1 .. app.log.N exist (some may be deleted) */
    static positions ps;
    char cur[1024];
    path_of(cur, sizeof cur, d, "app.log");

    for (int step = 0; step < steps; step++) {
        unsigned a = (unsigned)(rnd() % 100);
        if (a < 45) { /* append complete lines */
            int k = 1 + (int)(rnd() % 5);
            for (int i = 0; i < k; i++) {
                if (partial) {
                    append(d, "app.log", "-tail\n");
                    partial = false;
                } else {
                    append(d, "app.log", "line-%06llu-%s\n", (unsigned long long)written,
                           rnd() % 7 == 0 ? "with some padding to vary the lengths" : "x");
                }
                written++;
            }
        } else if (a < 55) { /* partial append */
            if (!partial) {
                append(d, "app.log", "line-%06llu-x", (unsigned long long)written);
                partial = true;
            }
        } else if (a < 63 && !partial) { /* rename rotation */
            char to[1100];
            snprintf(to, sizeof to, "%s.%d", cur, ++rotated);
            if (access(cur, F_OK) == 0)
                assert_int_equal(rename(cur, to), 0);
            append(d, "app.log", "%s", "");
            scan(t, d, "app.log*", NULL);
        } else if (a < 70 && !partial) { /* copytruncate */
            if (access(cur, F_OK) == 0) {
                char cmd[2400];
                snprintf(cmd, sizeof cmd, "cp '%s' '%s.%d'", cur, cur, ++rotated);
                assert_int_equal(system(cmd), 0);
                assert_int_equal(truncate(cur, 0), 0);
                if (rnd() % 2)
                    drain(t, &g); /* truncation seen before the copy */
                scan(t, d, "app.log*", NULL);
            }
        } else if (a < 76 && rotated > 0) { /* delete a rotated file (read or not) */
            char p[1100];
            snprintf(p, sizeof p, "%s.%d", cur, 1 + (int)(rnd() % (unsigned)rotated));
            unlink(p);
            scan(t, d, "app.log*", NULL);
        } else if (a < 82) { /* restart from checkpoint */
            drain(t, &g);
            ps.n = 0;
            tailer_positions(t, keep_position, &ps);
            tailer_free(t);
            t = new_tailer();
            g.instance++;
            for (size_t i = 0; i < ps.n; i++)
                tailer_restore(t, &ps.v[i]);
            scan(t, d, "app.log*", NULL);
        } else if (a < 92) {
            drain(t, &g);
        } else {
            scan(t, d, "app.log*", NULL);
        }
    }
    if (partial) {
        append(d, "app.log", "-tail\n");
        written++;
    }
    scan(t, d, "app.log*", NULL);
    drain(t, &g);

    /* Check against the model. */
    uint32_t *count = calloc(written + 1, sizeof *count);
    for (size_t i = 0; i < g.n; i++) {
        unsigned long long seq;
        if (sscanf(g.v[i].text, "line-%llu", &seq) != 1 || seq >= written) {
            fail_msg("seed %llu: unexpected line '%s'", (unsigned long long)seed, g.v[i].text);
        }
        count[seq]++;
        /* order within one stream */
        for (size_t j = i; j-- > 0;) {
            if (g.v[j].key != g.v[i].key || g.v[j].instance != g.v[i].instance)
                continue;
            unsigned long long prev;
            sscanf(g.v[j].text, "line-%llu", &prev);
            if (prev >= seq)
                fail_msg("seed %llu: stream order %llu then %llu", (unsigned long long)seed,
                         prev, seq);
            break;
        }
    }
    for (uint64_t s = 0; s < written; s++) {
        if (count[s] == 0)
            fail_msg("seed %llu: line %llu lost", (unsigned long long)seed, (unsigned long long)s);
        if (count[s] > 1)
            fail_msg("seed %llu: line %llu delivered %u times", (unsigned long long)seed,
                     (unsigned long long)s, count[s]);
    }
    free(count);
    got_free(&g);
    tailer_free(t);
}

static void test_model_random(void **state)
{
    const char *base = *state;
    uint64_t seed0 = 1;
    const char *env = getenv("SLUICE_TEST_SEED");
    if (env)
        seed0 = strtoull(env, NULL, 10);
    for (uint64_t s = seed0; s < seed0 + 40; s++) {
        char d[256];
        snprintf(d, sizeof d, "%s/m%llu", base, (unsigned long long)s);
        assert_int_equal(mkdir(d, 0755), 0);
        model_run(d, s, 200);
        rm_rf(d);
    }
}

int main(void)
{
    log_configure(SL_LOG_ERROR, false, NULL, NULL, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_and_partial_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_line_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_rotation_read_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copytruncate_rewritten_during_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_at_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inode_reuse_different_fingerprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_from_tail_first_start_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exclude_and_double_star, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_glob_concurrent_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_model_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
