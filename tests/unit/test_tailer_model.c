/* test_tailer_model.c - model-based test of the tailer: seeded random sequences of what
 * writers, logrotate, kubelet and crashes do to files, applied both to real files in a temp
 * directory (read by a real tailer) and to a model of what a reader must see.
 *
 * The world: 1-3 writers append numbered lines ("L000042 w1 ...") to w<k>.log, all read
 * through the include pattern "*.log". Steps: write lines, write half a line, rotate by
 * rename out of the pattern (w0.log.3, w0.log-20240103, w0.log.20240101-120003.003, with
 * or without a late line through the old fd), rotate by rename into it (w0-r3.log), rename
 * a rotated file again, copytruncate (copy out of or into the pattern), truncate, delete
 * (then the writer recreates), scan, poll, drain, acknowledge a prefix of what was delivered
 * (the ledger commits in order), persist positions (a checkpoint), restart cleanly, crash
 * (un-persisted state is gone; the next start restores the last checkpoint), and, while
 * stopped or crashed, any file operation before the next start.
 *
 * What the reader must see (checked at the end of each sequence):
 *  - every complete line at least once, except the lines of a file deleted or truncated
 *    before they were delivered (no reader could) - those may be missing;
 *  - nothing invented: every delivered line is a written line, byte for byte, or the
 *    written part of a half line whose file went away (delivered unterminated);
 *  - per tracked file, lines in the order written;
 *  - a line twice only if a crash came after it was delivered and before its ack was
 *    persisted.
 * The known limits are kept out of the world on purpose: a file created and then renamed
 * or copied out of the pattern while the reader is down (it never knew the file), a file
 * copytruncated before the reader saw its first bytes, a rename while a half line is
 * pending (the writer would finish it in the new file).
 *
 * SLUICE_MODEL_RUNS (default 2000) sequences of SLUICE_MODEL_STEPS (default 80) steps,
 * from SLUICE_MODEL_SEED (default 1). A failure prints the seed and the steps taken:
 * SLUICE_MODEL_SEED=<seed> SLUICE_MODEL_RUNS=1 replays it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/log.h"
#include "sources/glob.h"
#include "sources/tailer.h"

enum { MAX_WRITERS = 3, MAX_POS = 512 };

typedef struct mline {
    char *text;      /* the whole line, without '\n' */
    size_t written;  /* bytes of text written so far */
    bool complete;   /* its '\n' is written */
    bool abandoned;  /* half written, and its file went away */
    bool optional;   /* its file was deleted or truncated before it was delivered */
    bool may_repeat; /* delivered, then a crash before its ack was persisted */
    int delivered;
} mline;

typedef struct mfile {
    char name[128];
    int *ids; /* lines it holds, in order (the last may be half written) */
    size_t n, cap;
    int writer; /* whose live file it is, or -1 */
    bool gone;
} mfile;

typedef struct mwriter {
    int file;    /* its live file (index in files), -1: created at the next write */
    int pending; /* line half written, or -1 */
    int gen;     /* generation of the live file (created or truncated) */
    int seen;    /* 0: first bytes not seen by the reader yet, 1: scanned since, 2: polled */
} mwriter;

typedef struct dlv {
    int id;
    uint64_t key, end;
    int instance;
    size_t index;
} dlv;

typedef struct model {
    char dir[256];
    uint64_t seed, rng;
    int step;
    mline *lines;
    size_t nlines, caplines;
    mfile *files;
    size_t nfiles, capfiles;
    mwriter w[MAX_WRITERS];
    int nw, rot;
    tailer_opts o;
    tailer *t; /* NULL while stopped */
    int instance;
    dlv *d;
    size_t nd, capd;
    size_t acked;     /* deliveries [0, acked) acknowledged (or dropped at a crash) */
    size_t persisted; /* deliveries [0, persisted) acknowledged and persisted */
    tailer_position snap[MAX_POS];
    char snap_path[MAX_POS][256];
    size_t nsnap;
    bool have_snap;
    int64_t snap_ns; /* when it was taken (the checkpoint file's mtime) */
    bool late_ok; /* late writes to a rotated file are read (rotate_wait_ms > 0) */
    char trace[16384];
    size_t ntrace;
} model;

/* ---- Small helpers ------------------------------------------------------------------- */

static uint64_t rnd(model *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static unsigned pick(model *m, unsigned n) { return (unsigned)(rnd(m) % n); }

static void note(model *m, const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if (getenv("SLUICE_MODEL_DEBUG")) /* interleaved with the tailer's log lines */
        fprintf(stderr, "%d:%s\n", m->step, buf);
    if (m->ntrace + (size_t)n + 16 >= sizeof m->trace) { /* keep the latest steps */
        size_t cut = sizeof m->trace / 2;
        memmove(m->trace, m->trace + cut, m->ntrace - cut);
        m->ntrace -= cut;
    }
    m->ntrace += (size_t)snprintf(m->trace + m->ntrace, sizeof m->trace - m->ntrace, "%d:%s ",
                                  m->step, buf);
}

#define MFAIL(m, fmt, ...)                                                                  \
    do {                                                                                    \
        fprintf(stderr, "steps: %.*s\n", (int)(m)->ntrace, (m)->trace);                     \
        fail_msg("seed %" PRIu64 " (SLUICE_MODEL_SEED=%" PRIu64 " SLUICE_MODEL_RUNS=1): "  \
                 fmt, (m)->seed, (m)->seed, ##__VA_ARGS__);                                 \
    } while (0)

static void path_of(const model *m, char *out, size_t n, const char *name)
{
    if ((size_t)snprintf(out, n, "%s/%s", m->dir, name) >= n)
        abort();
}

static void raw_append(model *m, const char *name, const char *data, size_t len)
{
    char p[512];
    path_of(m, p, sizeof p, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        MFAIL(m, "open %s", p);
    if (len && write(fd, data, len) != (ssize_t)len)
        MFAIL(m, "write %s", p);
    close(fd);
}

static uint64_t fsize(const model *m, const char *name)
{
    char p[512];
    path_of(m, p, sizeof p, name);
    struct stat st;
    return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static void file_push(mfile *f, int id)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->ids = realloc(f->ids, f->cap * sizeof *f->ids);
    }
    f->ids[f->n++] = id;
}

static int file_new(model *m, const char *name, int writer)
{
    if (m->nfiles == m->capfiles) {
        m->capfiles = m->capfiles ? m->capfiles * 2 : 16;
        m->files = realloc(m->files, m->capfiles * sizeof *m->files);
    }
    mfile *f = &m->files[m->nfiles];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
    f->writer = writer;
    return (int)m->nfiles++;
}

static int line_new(model *m, int writer)
{
    if (m->nlines == m->caplines) {
        m->caplines = m->caplines ? m->caplines * 2 : 256;
        m->lines = realloc(m->lines, m->caplines * sizeof *m->lines);
    }
    int id = (int)m->nlines++;
    mline *l = &m->lines[id];
    memset(l, 0, sizeof *l);
    char pad[80];
    size_t np = pick(m, 8) == 0 ? 40 + pick(m, 30) : pick(m, 12);
    for (size_t i = 0; i < np; i++)
        pad[i] = (char)('a' + pick(m, 26));
    pad[np] = '\0';
    char buf[128];
    snprintf(buf, sizeof buf, "L%06d w%d %s", id, writer, pad);
    l->text = strdup(buf);
    return id;
}

/* ---- The reader ---------------------------------------------------------------------- */

static bool on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    model *m = arg;
    int id;
    if (ln->len < 7 || ln->data[0] != 'L' || sscanf(ln->data, "L%6d", &id) != 1 || id < 0 ||
        (size_t)id >= m->nlines)
        MFAIL(m, "invented line '%.*s'", (int)ln->len, ln->data);
    mline *l = &m->lines[id];
    size_t want = l->complete ? strlen(l->text) : l->written;
    if (!l->complete && !l->abandoned)
        MFAIL(m, "line %d delivered before it was complete", id);
    if (ln->len != want || memcmp(ln->data, l->text, want) != 0)
        MFAIL(m, "line %d delivered as '%.*s', written '%.*s'", id,
              (int)ln->len, ln->data, (int)want, l->text);
    if (l->delivered && !l->may_repeat)
        MFAIL(m, "line %d delivered again without a crash in between (from %s)", id, f->path);
    l->delivered++;
    if (m->nd == m->capd) {
        m->capd = m->capd ? m->capd * 2 : 256;
        m->d = realloc(m->d, m->capd * sizeof *m->d);
    }
    m->d[m->nd] = (dlv){id, f->key, ln->end, m->instance, m->nd};
    if (getenv("SLUICE_MODEL_DEBUG"))
        note(m, "got L%d from %s", id, f->path + strlen(m->dir) + 1);
    m->nd++;
    return true;
}

static void offer_cb(void *arg, const char *path) { tailer_offer(arg, path); }

static void do_scan(model *m)
{
    if (!m->t)
        return;
    char p[512];
    path_of(m, p, sizeof p, "*.log");
    tailer_scan_begin(m->t);
    glob_expand(p, offer_cb, NULL, m->t);
    tailer_scan_end(m->t);
    for (int i = 0; i < m->nw; i++)
        if (m->w[i].seen == 0)
            m->w[i].seen = 1;
}

static size_t do_poll(model *m)
{
    if (!m->t)
        return 0;
    size_t n = tailer_poll(m->t, on_line, NULL, m);
    for (int i = 0; i < m->nw; i++)
        if (m->w[i].seen == 1)
            m->w[i].seen = 2;
    return n;
}

static void do_drain(model *m)
{
    for (int i = 0; i < 10000 && m->t; i++)
        if (do_poll(m) == 0 && do_poll(m) == 0)
            break;
}

static void do_ack(model *m, size_t k)
{
    for (; k > 0 && m->acked < m->nd; k--, m->acked++)
        tailer_commit(m->t, m->d[m->acked].key, m->d[m->acked].end);
}

/* As the checkpoint store keeps them: one entry per key ("dev:ino", ":a" when away). */
static void keep_pos(void *arg, const tailer_position *p)
{
    model *m = arg;
    for (size_t i = 0; i < m->nsnap; i++)
        if (m->snap[i].dev == p->dev && m->snap[i].ino == p->ino && m->snap[i].away == p->away)
            MFAIL(m, "two positions for one file (inode %llu)", (unsigned long long)p->ino);
    if (m->nsnap == MAX_POS)
        MFAIL(m, "more than %d positions", MAX_POS);
    m->snap[m->nsnap] = *p;
    snprintf(m->snap_path[m->nsnap], sizeof m->snap_path[0], "%s", p->path);
    m->snap[m->nsnap].path = m->snap_path[m->nsnap];
    m->nsnap++;
}

static void do_persist(model *m)
{
    m->nsnap = 0;
    tailer_positions(m->t, keep_pos, m);
    m->have_snap = true;
    m->snap_ns = sl_now_ns();
    if (getenv("SLUICE_MODEL_DEBUG"))
        for (size_t i = 0; i < m->nsnap; i++)
            note(m, "saved %s ino %llu fp %u @%llu%s", m->snap[i].path + strlen(m->dir) + 1,
                 (unsigned long long)m->snap[i].ino, m->snap[i].fp_len,
                 (unsigned long long)m->snap[i].offset, m->snap[i].away ? " away" : "");
    m->persisted = m->acked;
}

static mfile *live(model *m, int wi);
static void do_persist(model *m);

static void do_start(model *m)
{
    for (int i = 0; i < m->nw; i++) /* every application has its log file open */
        live(m, i);
    m->t = tailer_new(&m->o, "model", NULL);
    tailer_set_first_start(m->t, !m->have_snap);
    if (m->have_snap)
        tailer_set_saved_at(m->t, m->snap_ns);
    for (size_t i = 0; i < m->nsnap; i++) {
        tailer_restore(m->t, &m->snap[i]);
        if (getenv("SLUICE_MODEL_DEBUG"))
            note(m, "restore %s ino %llu fp %u @%llu%s", m->snap[i].path + strlen(m->dir) + 1,
                 (unsigned long long)m->snap[i].ino, m->snap[i].fp_len,
                 (unsigned long long)m->snap[i].offset, m->snap[i].away ? " away" : "");
    }
    m->instance++;
    do_scan(m);
    do_persist(m); /* as the tailing sources do after their first walk */
}

static void do_crash(model *m)
{
    for (size_t i = m->persisted; i < m->nd; i++)
        m->lines[m->d[i].id].may_repeat = true;
    m->acked = m->nd;
    tailer_free(m->t);
    m->t = NULL;
}

static void do_stop(model *m)
{
    do_ack(m, SIZE_MAX);
    do_persist(m);
    tailer_free(m->t);
    m->t = NULL;
}

/* ---- The writers ----------------------------------------------------------------------- */

/* The writer's live file, created (and seen by a scan, as inotify would) when missing. */
static mfile *live(model *m, int wi)
{
    mwriter *w = &m->w[wi];
    if (w->file < 0 || m->files[w->file].gone) {
        char name[64];
        snprintf(name, sizeof name, "w%d.log", wi);
        raw_append(m, name, "", 0);
        w->file = file_new(m, name, wi);
        w->gen++;
        w->seen = 0;
        do_scan(m);
    }
    return &m->files[w->file];
}

/* Appends lines ids[0..n) to the writer's live file in one write: the first from what is
 * written of it up to `upto` (its end if complete), the others whole; all but a last half
 * line end with '\n'. */
static void write_lines(model *m, int wi, const int *ids, int n, size_t upto, bool nl)
{
    mfile *f = live(m, wi);
    if (fsize(m, f->name) == 0)
        m->w[wi].seen = 0;
    char buf[8192];
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        mline *l = &m->lines[ids[i]];
        size_t end = i == n - 1 ? upto : strlen(l->text);
        memcpy(buf + len, l->text + l->written, end - l->written);
        len += end - l->written;
        l->written = end;
        if (i < n - 1 || nl) {
            buf[len++] = '\n';
            l->complete = true;
        }
    }
    raw_append(m, f->name, buf, len);
}

static void finish_pending(model *m, int wi)
{
    mwriter *w = &m->w[wi];
    if (w->pending < 0)
        return;
    write_lines(m, wi, &w->pending, 1, strlen(m->lines[w->pending].text), true);
    w->pending = -1;
}

static void op_write(model *m, int wi, int k)
{
    note(m, "write w%d x%d", wi, k);
    finish_pending(m, wi);
    int ids[8];
    for (int i = 0; i < k; i++) {
        ids[i] = line_new(m, wi);
        file_push(live(m, wi), ids[i]);
    }
    write_lines(m, wi, ids, k, strlen(m->lines[ids[k - 1]].text), true);
}

static void op_partial(model *m, int wi)
{
    if (m->w[wi].pending >= 0)
        return;
    int id = line_new(m, wi);
    size_t len = strlen(m->lines[id].text);
    size_t cut = 8 + pick(m, (unsigned)len - 8); /* its number written: an abandoned half
                                                    line delivered is recognisable */
    note(m, "partial w%d L%d@%zu", wi, id, cut);
    file_push(live(m, wi), id);
    write_lines(m, wi, &id, 1, cut, false);
    m->w[wi].pending = id;
}

static void rotated_name(model *m, int wi, char *out, size_t n)
{
    int r = ++m->rot;
    switch (pick(m, 3)) {
    case 0: snprintf(out, n, "w%d.log.%d", wi, r); break;       /* logrotate */
    case 1: snprintf(out, n, "w%d.log-2024%04d", wi, r); break; /* dateext */
    default: snprintf(out, n, "w%d.log.20240101-12%04d.%03d", wi, r, r % 1000); break; /* kubelet */
    }
}

static void op_rotate(model *m, int wi, bool out)
{
    mwriter *w = &m->w[wi];
    if (w->file < 0 || m->files[w->file].gone)
        return;
    finish_pending(m, wi);
    char to[128], a[512], b[512];
    if (out)
        rotated_name(m, wi, to, sizeof to);
    else
        snprintf(to, sizeof to, "w%d-r%d.log", wi, ++m->rot);
    mfile *f = &m->files[w->file];
    path_of(m, a, sizeof a, f->name);
    path_of(m, b, sizeof b, to);
    if (rename(a, b) != 0)
        MFAIL(m, "rename");
    note(m, "rotate %s -> %s", f->name, to);
    snprintf(f->name, sizeof f->name, "%s", to);
    f->writer = -1;
    int fi = w->file;
    w->file = -1;
    if (m->t && pick(m, 3) == 0)
        do_scan(m); /* the rename seen before the new file exists */
    if (m->late_ok && pick(m, 2) == 0) { /* a last line through the old fd */
        int id = line_new(m, wi);
        file_push(&m->files[fi], id);
        char buf[128];
        int len = snprintf(buf, sizeof buf, "%s\n", m->lines[id].text);
        raw_append(m, to, buf, (size_t)len);
        m->lines[id].written = strlen(m->lines[id].text);
        m->lines[id].complete = true;
        note(m, "late L%d", id);
    }
    if (pick(m, 3) != 0)
        live(m, wi); /* created now (and scanned), else at the next write */
    else
        do_scan(m);
}

/* A rotated file renamed again (logrotate shifting .1 to .2): still out of the pattern. */
static void op_rerotate(model *m)
{
    int cand[64], nc = 0;
    for (size_t i = 0; i < m->nfiles && nc < 64; i++)
        if (!m->files[i].gone && m->files[i].writer < 0 && !strstr(m->files[i].name, "-r") &&
            !strstr(m->files[i].name, "-c"))
            cand[nc++] = (int)i;
    if (!nc)
        return;
    mfile *f = &m->files[cand[pick(m, (unsigned)nc)]];
    char to[160], a[512], b[512];
    snprintf(to, sizeof to, "%.100s.%d", f->name, ++m->rot);
    path_of(m, a, sizeof a, f->name);
    path_of(m, b, sizeof b, to);
    if (rename(a, b) != 0)
        MFAIL(m, "rename");
    note(m, "rerotate %s -> %s", f->name, to);
    if ((size_t)snprintf(f->name, sizeof f->name, "%s", to) >= sizeof f->name)
        abort();
    if (pick(m, 2))
        do_scan(m);
}

static void op_copytruncate(model *m, int wi)
{
    mwriter *w = &m->w[wi];
    if (w->file < 0 || m->files[w->file].gone || w->pending >= 0)
        return;
    mfile *f = &m->files[w->file];
    if (fsize(m, f->name) == 0)
        return;
    bool out = pick(m, 10) < 7;
    /* known limit: a file copied out of the patterns before the reader read its first
     * bytes (not yet looked at, or waiting for an fd under max_open_files) */
    if (out && m->t && (w->seen != 2 || m->o.max_open_files < 3))
        out = false;
    char to[128], a[512], b[512];
    if (out)
        rotated_name(m, wi, to, sizeof to);
    else
        snprintf(to, sizeof to, "w%d-c%d.log", wi, ++m->rot);
    path_of(m, a, sizeof a, f->name);
    path_of(m, b, sizeof b, to);
    note(m, "copytruncate %s -> %s", f->name, to);
    /* copy, then truncate in place */
    int in = open(a, O_RDONLY), outfd = open(b, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (in < 0 || outfd < 0)
        MFAIL(m, "copy open");
    char buf[65536];
    ssize_t r;
    while ((r = read(in, buf, sizeof buf)) > 0)
        if (write(outfd, buf, (size_t)r) != r)
            MFAIL(m, "copy write");
    close(in);
    close(outfd);
    int ci = file_new(m, to, -1);
    f = &m->files[w->file];
    for (size_t i = 0; i < f->n; i++)
        file_push(&m->files[ci], f->ids[i]);
    if (truncate(a, 0) != 0)
        MFAIL(m, "truncate");
    f->n = 0;
    w->gen++;
    w->seen = 0;
    if (m->t) { /* the reader notices the truncation before the file grows back (a limit:
                   truncated and rewritten past the read position between two looks) */
        if (pick(m, 2)) {
            do_poll(m); /* the truncation seen before the copy is offered */
            do_scan(m);
        } else {
            do_scan(m);
            do_poll(m);
        }
    }
}

/* Lines of a file that goes away before they were delivered: no reader could see them. */
static void lose_undelivered(model *m, mfile *f)
{
    for (size_t i = 0; i < f->n; i++) {
        mline *l = &m->lines[f->ids[i]];
        if (!l->delivered)
            l->optional = true;
    }
}

static void op_truncate(model *m, int wi)
{
    mwriter *w = &m->w[wi];
    if (w->file < 0 || m->files[w->file].gone)
        return;
    finish_pending(m, wi);
    mfile *f = &m->files[w->file];
    note(m, "truncate %s", f->name);
    lose_undelivered(m, f);
    char a[512];
    path_of(m, a, sizeof a, f->name);
    if (truncate(a, 0) != 0)
        MFAIL(m, "truncate");
    f->n = 0;
    w->gen++;
    w->seen = 0;
    do_poll(m); /* noticed before the file grows back (see op_copytruncate) */
}

static void op_delete(model *m)
{
    int cand[256], nc = 0;
    for (size_t i = 0; i < m->nfiles && nc < 256; i++)
        if (!m->files[i].gone)
            cand[nc++] = (int)i;
    if (!nc)
        return;
    if (m->t && pick(m, 2)) { /* deleted after the reader caught up, mostly */
        do_scan(m);
        do_drain(m);
    }
    mfile *f = &m->files[cand[pick(m, (unsigned)nc)]];
    note(m, "delete %s", f->name);
    if (f->writer >= 0) {
        mwriter *w = &m->w[f->writer];
        if (w->pending >= 0) {
            m->lines[w->pending].abandoned = true;
            w->pending = -1;
        }
        w->file = -1;
    }
    lose_undelivered(m, f);
    char a[512];
    path_of(m, a, sizeof a, f->name);
    if (unlink(a) != 0)
        MFAIL(m, "unlink");
    f->gone = true;
    f->writer = -1;
    if (m->t && pick(m, 2))
        do_scan(m);
}

/* ---- One sequence ------------------------------------------------------------------------ */

static int cmp_dlv(const void *a, const void *b)
{
    const dlv *x = a, *y = b;
    if (x->instance != y->instance)
        return x->instance < y->instance ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static void check(model *m)
{
    for (size_t i = 0; i < m->nlines; i++) {
        mline *l = &m->lines[i];
        if (l->complete && !l->optional && !l->delivered)
            MFAIL(m, "line %zu lost ('%s')", i, l->text);
    }
    /* order within one tracked file (one key of one reader instance) */
    dlv *s = malloc((m->nd + 1) * sizeof *s);
    memcpy(s, m->d, m->nd * sizeof *s);
    qsort(s, m->nd, sizeof *s, cmp_dlv);
    for (size_t i = 1; i < m->nd; i++)
        if (s[i].instance == s[i - 1].instance && s[i].key == s[i - 1].key &&
            s[i].id <= s[i - 1].id)
            MFAIL(m, "line %d delivered after line %d from the same file",
                  s[i].id, s[i - 1].id);
    free(s);
}

static void run_one(const char *base, uint64_t seed, int steps)
{
    static model mm;
    model *m = &mm;
    memset(m, 0, sizeof *m);
    m->seed = seed;
    m->rng = seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
    snprintf(m->dir, sizeof m->dir, "%s/s%" PRIu64, base, seed);
    if (mkdir(m->dir, 0755) != 0)
        MFAIL(m, "mkdir %s", m->dir);
    m->nw = 1 + (int)pick(m, MAX_WRITERS);
    for (int i = 0; i < m->nw; i++)
        m->w[i] = (mwriter){-1, -1, 0, 0};
    tailer_opts_default(&m->o);
    m->o.read_budget_bytes = pick(m, 3) == 0 ? 64 + pick(m, 512) : 256 * 1024;
    m->o.fingerprint_bytes = pick(m, 3) == 0 ? 16 + pick(m, 48) : 256;
    m->o.max_open_files = pick(m, 4) == 0 ? 1 + (int)pick(m, 2) : 1024;
    m->o.rotate_wait_ms = pick(m, 4) == 0 ? 0 : 60000;
    m->late_ok = m->o.rotate_wait_ms > 0;
    note(m, "w=%d budget=%zu fp=%zu open=%d wait=%lld", m->nw, m->o.read_budget_bytes,
         m->o.fingerprint_bytes, m->o.max_open_files, (long long)m->o.rotate_wait_ms);
    do_start(m);

    for (m->step = 0; m->step < steps; m->step++) {
        int wi = (int)pick(m, (unsigned)m->nw);
        unsigned a = pick(m, 100);
        if (!m->t) { /* stopped: files change, or the reader starts again */
            if (a < 30) {
                note(m, "start");
                do_start(m);
            } else if (a < 55) {
                op_write(m, wi, 1 + (int)pick(m, 4));
            } else if (a < 62) {
                op_partial(m, wi);
            } else if (a < 77) {
                op_rotate(m, wi, pick(m, 4) != 0);
            } else if (a < 82) {
                op_rerotate(m);
            } else if (a < 90) {
                op_copytruncate(m, wi);
            } else if (a < 94) {
                op_truncate(m, wi);
            } else {
                op_delete(m);
            }
            continue;
        }
        if (a < 24) {
            op_write(m, wi, 1 + (int)pick(m, 5));
        } else if (a < 30) {
            op_partial(m, wi);
        } else if (a < 37) {
            op_rotate(m, wi, pick(m, 4) != 0);
        } else if (a < 39) {
            op_rerotate(m);
        } else if (a < 43) {
            op_copytruncate(m, wi);
        } else if (a < 45) {
            op_truncate(m, wi);
        } else if (a < 48) {
            op_delete(m);
        } else if (a < 55) {
            note(m, "scan");
            do_scan(m);
        } else if (a < 67) {
            note(m, "poll");
            do_poll(m);
        } else if (a < 71) {
            note(m, "drain");
            do_drain(m);
        } else if (a < 82) {
            size_t k = 1 + pick(m, 8);
            note(m, "ack %zu", k);
            do_ack(m, k);
        } else if (a < 90) {
            note(m, "persist");
            do_persist(m);
        } else if (a < 94) {
            note(m, "stop");
            do_stop(m);
        } else {
            note(m, "crash");
            do_crash(m);
        }
    }
    /* The end: everything written completely, read, and checked. */
    if (!m->t) {
        note(m, "start");
        do_start(m);
    }
    for (int i = 0; i < m->nw; i++)
        finish_pending(m, i);
    note(m, "final");
    for (int i = 0; i < 3; i++) {
        do_scan(m);
        do_drain(m);
        do_ack(m, SIZE_MAX);
    }
    check(m);

    tailer_free(m->t);
    for (size_t i = 0; i < m->nlines; i++)
        free(m->lines[i].text);
    for (size_t i = 0; i < m->nfiles; i++) {
        free(m->files[i].ids);
        if (!m->files[i].gone) {
            char p[512];
            path_of(m, p, sizeof p, m->files[i].name);
            unlink(p);
        }
    }
    free(m->lines);
    free(m->files);
    free(m->d);
    if (rmdir(m->dir) != 0)
        MFAIL(m, "a file left in %s", m->dir);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

static void test_model(void **state)
{
    (void)state;
    /* on tmpfs when there is one: thousands of small files come and go */
    char base[64] = "/dev/shm/sluice-tmodel-XXXXXX";
    if (!mkdtemp(base)) {
        snprintf(base, sizeof base, "/tmp/sluice-tmodel-XXXXXX");
        assert_non_null(mkdtemp(base));
    }
    uint64_t seed0 = env_u64("SLUICE_MODEL_SEED", 1);
    uint64_t runs = env_u64("SLUICE_MODEL_RUNS", 2000);
    int steps = (int)env_u64("SLUICE_MODEL_STEPS", 80);
    for (uint64_t s = seed0; s < seed0 + runs; s++)
        run_one(base, s, steps);
    assert_int_equal(rmdir(base), 0);
}

int main(void)
{
    /* SLUICE_MODEL_DEBUG=1: the tailer's own log lines, to follow a replayed seed */
    log_configure(getenv("SLUICE_MODEL_DEBUG") ? SL_LOG_DEBUG : SL_LOG_ERROR, false, NULL, NULL, 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
