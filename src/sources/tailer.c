/* tailer.c - the file follower behind the file and kubernetes_logs sources: identity by
 * (dev, inode, fingerprint), fair line reading, rotation, truncation, deletion, resume.
 *
 * Notes on the design
 * -------------------
 * State of one tracked file (tfile), and the function behind each transition:
 *
 *              scan_end (new path)           tf_open_pending (room under max_open_files)
 *   [offer] ───────────────────► PENDING ─────────────────────────────► READING ◄──┐
 *                                  ▲  ▲                                 │   │  ▲     │
 *              tf_evict (idle LRU) │  │ scan_end (seen again,           │   │  │ data│
 *           ┌──────────────────────┘  │  fingerprint still matches)     │   ▼  │     │
 *           │                         │                     read_file   │ at EOF ────┘
 *           │                       ERROR ◄── read/open error ──────────┘   │
 *           │                                                               │ scan_end: not offered
 *           │                                                               │ (renamed away) or
 *           │                                                               ▼ fstat nlink == 0
 *           └──────────────────────────────────────────────────── DRAINING
 *                                                                     │ read_file to EOF, then
 *                                                                     │ deleted, or path holds a
 *                                                                     │ new file, or idle for
 *                                                                     ▼ rotate_wait_ms
 *                                                                  closed (record freed)
 *
 * Invariants:
 *  1. A tracked file is one identity: (dev, inode) plus CRC-32C of its first fp_len bytes
 *     (fp_len = min(size, fingerprint_bytes), extended as the file grows). While an fd is
 *     open the inode cannot be reused, so an open file never needs re-identifying; a closed
 *     one is re-verified against its fingerprint before it is trusted again.
 *  2. committed <= line_off <= read_off, and buf holds exactly the bytes
 *     [line_off, read_off) of the file: the
 *     incomplete last line (at most max_line_bytes) is kept, not emitted, until its '\n'.
 *     Memory per file is bounded by max_line_bytes + one read chunk.
 *  3. A line is consumed only after the callback accepted it; a refused line stays in buf.
 *  4. Positions only move forward within one generation. Truncation (size < read_off) or
 *     changed first bytes start a new generation at 0; acks carry the generation in the
 *     key, so a late ack from before the truncation never moves the new position.
 *  5. Data is never dropped by closing: an fd is closed only at EOF (DRAINING, after one
 *     last read, flushing any unterminated last line), on eviction of an idle file (state
 *     and buffer kept, reopened by position), or after an I/O error (kept, retried). A
 *     drained file that still exists is remembered (dev, inode, first bytes, end) for
 *     rotate_wait_ms, so offered again under a new name it resumes at its end.
 *  6. A new file whose first bytes match a known identity (a truncated file's old identity,
 *     a saved position, or a live file with another inode) is the same stream copied
 *     (copytruncate, or a rename while stopped): it resumes at that position instead of
 *     re-reading, from the caller's hold (tailer_set_hold_hook) when it has one, and with
 *     the original's stream id, so replayed lines keep their event ids (a copy found only
 *     after a restart gets its own). Known limit: two unrelated files with identical first
 *     fingerprint_bytes are treated as one stream; raise fingerprint_bytes for files with
 *     long common headers.
 *  7. Every outside-input problem (directory instead of file, permission denied, dangling
 *     symlink, read error) is logged once per path until it clears, and counted.
 */
#include "sources/tailer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/crc32c.h"
#include "core/log.h"

#define TAILER_CHUNK (64 * 1024)

typedef enum tf_state { TF_PENDING, TF_READING, TF_DRAINING, TF_ERROR } tf_state;

typedef struct tfile {
    uint64_t id;
    uint16_t gen;
    char *path;
    uint64_t dev, ino;
    uint32_t fp_crc, fp_len;
    uint64_t stream_id; /* 0 until the first line is delivered */
    int fd;
    tf_state state;
    uint64_t read_off, line_off, committed, last_size;
    char *buf;
    size_t blen, bcap;
    bool long_line;  /* inside a line emitted in chunks */
    bool at_eof;
    bool seen;       /* offered in the current scan */
    bool replaced;   /* its last path holds another file now */
    bool deleted;
    bool want_open;  /* PENDING: has data to read */
    int64_t last_active_ms;
    void *user;      /* caller's slot (tailer_file_info.user) */
} tfile;

/* A position no tracked file has claimed: restored from a checkpoint, or the identity a
 * file had before it was truncated (a "ghost", kept for copytruncate copies until claimed,
 * or for rotate_wait_ms (at least 1 s): a copy may show up some scans later). */
typedef struct saved_pos {
    tailer_position p; /* p.path owned */
    uint64_t committed;
    bool ghost;
    bool claimed;
    int64_t expire_ms; /* ghosts and closed files: dropped at the first scan end after
                          this; 0 (restored) at the end of the first scan */
    uint64_t stream_id; /* ghosts: the truncated file's event id stream, for its copy */
} saved_pos;

typedef struct offer {
    char *path;
    uint64_t dev, ino;
    uint64_t size;
    bool done;
} offer;

typedef struct bad_path {
    char *path;
    bool seen; /* reported again during this scan */
} bad_path;

struct tailer {
    tailer_opts o;
    const char *comp;
    sl_metrics *m;
    tfile **files;
    size_t n, cap, nopen;
    uint64_t next_id;
    size_t rr;
    saved_pos *saved;
    size_t nsaved, capsaved;
    offer *offers;
    size_t noffers, capoffers;
    bad_path *bad;
    size_t nbad, capbad;
    bool first_start, first_scan_done;
    unsigned char *scratch; /* fingerprint_bytes */
    tailer_close_fn close_fn;
    void *close_arg;
    tailer_hold_fn hold_fn;
    void *hold_arg;
};

void tailer_opts_default(tailer_opts *o)
{
    o->max_line_bytes = 1024 * 1024;
    o->fingerprint_bytes = 256;
    o->read_budget_bytes = 256 * 1024;
    o->rotate_wait_ms = 5000;
    o->max_open_files = 1024;
    o->read_from_tail = false;
}

const char *const tailer_read_from_choices[] = {"head", "tail", NULL};

void tailer_opts_from_config(tailer_opts *o, const tailer_config *c)
{
    o->fingerprint_bytes = c->fingerprint_bytes;
    o->read_budget_bytes = c->read_budget_bytes;
    o->rotate_wait_ms = c->rotate_wait_ms;
    o->max_open_files = (int)c->max_open_files;
    o->read_from_tail = c->read_from == 1;
}

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static uint64_t tf_key(const tfile *f) { return f->id << 16 | f->gen; }

static void tf_info(tfile *f, tailer_file_info *info)
{
    info->key = tf_key(f);
    info->stream_id = f->stream_id;
    info->path = f->path;
    info->user = &f->user;
}

/* ---- Problems with outside input: logged once per path ------------------------------- */

static bool bad_once(tailer *t, const char *path)
{
    for (size_t i = 0; i < t->nbad; i++)
        if (strcmp(t->bad[i].path, path) == 0) {
            t->bad[i].seen = true;
            return false;
        }
    if (t->nbad == t->capbad) {
        t->capbad = t->capbad ? t->capbad * 2 : 8;
        t->bad = sl_xrealloc(t->bad, t->capbad * sizeof *t->bad);
    }
    t->bad[t->nbad++] = (bad_path){sl_xstrdup(path), true};
    return true;
}

static void report(tailer *t, const char *path, const char *reason, const char *what)
{
    if (!bad_once(t, path))
        return;
    log_warn(t->comp, "skipping %s: %s", path, what);
    if (t->m)
        metrics_error(t->m, reason);
}

/* ---- Fingerprints ------------------------------------------------------------------- */

/* Reads up to fingerprint_bytes from the start into t->scratch; returns the count. */
static size_t fp_read(tailer *t, int fd, uint64_t size)
{
    size_t want = (size_t)SL_MIN(size, (uint64_t)t->o.fingerprint_bytes), got = 0;
    while (got < want) {
        ssize_t r = pread(fd, t->scratch + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static uint64_t stream_id_of(tailer *t, tfile *f)
{
    /* The first line (capped at fingerprint_bytes) never changes in an append-only file,
     * so the id is the same whenever and however often it is computed. */
    size_t n = fp_read(t, f->fd, f->read_off);
    const unsigned char *nl = memchr(t->scratch, '\n', n);
    size_t len = nl ? (size_t)(nl - t->scratch) + 1 : n;
    uint32_t crc = crc32c(0, t->scratch, len);
    uint64_t id = mix64(f->dev * 0x9e3779b97f4a7c15ULL ^ mix64(f->ino) ^ ((uint64_t)crc << 20 | len));
    return id ? id : 1;
}

/* ---- Records ----------------------------------------------------------------------- */

static tfile *tf_new(tailer *t, const char *path, uint64_t dev, uint64_t ino)
{
    tfile *f = sl_xcalloc(1, sizeof *f);
    f->id = ++t->next_id;
    f->path = sl_xstrdup(path);
    f->dev = dev;
    f->ino = ino;
    f->fd = -1;
    f->state = TF_PENDING;
    f->last_active_ms = sl_mono_ms();
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->files = sl_xrealloc(t->files, t->cap * sizeof *t->files);
    }
    t->files[t->n++] = f;
    return f;
}

static void tf_close_fd(tailer *t, tfile *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
        t->nopen--;
    }
}

static void tf_remove_ex(tailer *t, size_t i, bool drained)
{
    tfile *f = t->files[i];
    if (t->close_fn) {
        tailer_file_info info;
        tf_info(f, &info);
        t->close_fn(t->close_arg, &info, drained);
    }
    tf_close_fd(t, f);
    free(f->path);
    free(f->buf);
    free(f);
    memmove(&t->files[i], &t->files[i + 1], (t->n - i - 1) * sizeof *t->files);
    t->n--;
}

static void tf_remove(tailer *t, size_t i) { tf_remove_ex(t, i, false); }

static void tf_set_path(tfile *f, const char *path)
{
    if (strcmp(f->path, path) != 0) {
        free(f->path);
        f->path = sl_xstrdup(path);
    }
}

/* Where a copy of f should resume: its line position, lowered to what the caller still
 * holds (tailer_set_hold_hook). */
static uint64_t tf_hold(tailer *t, tfile *f)
{
    uint64_t pos = f->line_off;
    if (t->hold_fn) {
        tailer_file_info info;
        tf_info(f, &info);
        uint64_t hold = t->hold_fn(t->hold_arg, &info);
        if (hold < pos)
            pos = hold;
    }
    return pos;
}

/* Starts a file over at offset 0 as a new generation (truncated or rewritten). The old
 * identity is kept as a ghost so a copy made by copytruncate resumes where we were. */
static void tf_restart(tailer *t, tfile *f, const char *why)
{
    log_info(t->comp, "%s: %s; reading it again from the start", f->path, why);
    if (f->fp_len > 0) {
        if (t->nsaved == t->capsaved) {
            t->capsaved = t->capsaved ? t->capsaved * 2 : 8;
            t->saved = sl_xrealloc(t->saved, t->capsaved * sizeof *t->saved);
        }
        saved_pos *s = &t->saved[t->nsaved++];
        memset(s, 0, sizeof *s);
        s->p.fp_crc = f->fp_crc;
        s->p.fp_len = f->fp_len;
        s->p.offset = f->line_off;
        s->p.offset = tf_hold(t, f);
        s->p.path = sl_xstrdup(f->path);
        s->committed = f->committed;
        s->stream_id = f->stream_id;
        s->ghost = true;
        s->expire_ms = sl_mono_ms() + SL_MAX(t->o.rotate_wait_ms, (int64_t)1000);
    }
    f->gen++;
    f->read_off = f->line_off = f->committed = 0;
    f->blen = 0;
    f->long_line = false;
    f->fp_crc = 0;
    f->fp_len = 0;
    f->stream_id = 0;
    f->at_eof = false;
}

#define REOPEN_FAILED (-1)   /* cannot open, or the path names another inode now */
#define REOPEN_REUSED (-2)   /* same inode, other first bytes: a new file */

/* Opens f's path again and verifies it is still f's identity (invariant 1). Returns the
 * fd, REOPEN_FAILED (errno set when open failed) or REOPEN_REUSED. */
static int tf_reopen(tailer *t, tfile *f)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return REOPEN_FAILED;
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
        close(fd);
        errno = 0;
        return REOPEN_FAILED;
    }
    size_t n = fp_read(t, fd, (uint64_t)st.st_size);
    if (n < f->fp_len || crc32c(0, t->scratch, f->fp_len) != f->fp_crc) {
        close(fd);
        return REOPEN_REUSED;
    }
    return fd;
}

/* Closes the least recently active open file that is idle at EOF. */
static bool tf_evict(tailer *t)
{
    tfile *victim = NULL;
    for (size_t i = 0; i < t->n; i++) {
        tfile *f = t->files[i];
        if (f->fd >= 0 && f->state == TF_READING && f->at_eof &&
            (!victim || f->last_active_ms < victim->last_active_ms))
            victim = f;
    }
    if (!victim)
        return false;
    tf_close_fd(t, victim);
    victim->state = TF_PENDING;
    victim->want_open = false;
    if (victim->blen == 0) {
        free(victim->buf);
        victim->buf = NULL;
        victim->bcap = 0;
    }
    return true;
}

static bool tf_room(tailer *t)
{
    return t->o.max_open_files <= 0 || t->nopen < (size_t)t->o.max_open_files || tf_evict(t);
}

static void tf_attach(tailer *t, tfile *f, int fd)
{
    f->fd = fd;
    f->state = TF_READING;
    f->want_open = false;
    f->at_eof = false;
    t->nopen++;
}

/* ---- Tail start ---------------------------------------------------------------------- */

/* Offset just after the last '\n' before size, looking back at most max_line_bytes; size
 * if there is none (then the partial line is skipped with everything else). */
static uint64_t tail_start(tailer *t, int fd, uint64_t size)
{
    char block[4096];
    uint64_t end = size, floor = size > t->o.max_line_bytes ? size - t->o.max_line_bytes : 0;
    while (end > floor) {
        size_t n = (size_t)SL_MIN((uint64_t)sizeof block, end - floor);
        ssize_t r = pread(fd, block, n, (off_t)(end - n));
        if (r != (ssize_t)n)
            return size;
        for (size_t i = n; i > 0; i--)
            if (block[i - 1] == '\n')
                return end - n + i;
        end -= n;
    }
    return floor == 0 ? 0 : size;
}

/* ---- Public: lifecycle and positions ------------------------------------------------- */

tailer *tailer_new(const tailer_opts *o, const char *component, sl_metrics *m)
{
    tailer *t = sl_xcalloc(1, sizeof *t);
    t->o = *o;
    if (t->o.max_line_bytes < 1)
        t->o.max_line_bytes = 1;
    if (t->o.fingerprint_bytes < 1)
        t->o.fingerprint_bytes = 1;
    if (t->o.read_budget_bytes < 1)
        t->o.read_budget_bytes = 1;
    t->comp = component ? component : "tailer";
    t->m = m;
    t->scratch = sl_xmalloc(t->o.fingerprint_bytes);
    return t;
}

static void saved_free(tailer *t, size_t i)
{
    free((char *)t->saved[i].p.path);
    memmove(&t->saved[i], &t->saved[i + 1], (t->nsaved - i - 1) * sizeof *t->saved);
    t->nsaved--;
}

void tailer_free(tailer *t)
{
    if (!t)
        return;
    while (t->n)
        tf_remove(t, t->n - 1);
    while (t->nsaved)
        saved_free(t, t->nsaved - 1);
    for (size_t i = 0; i < t->nbad; i++)
        free(t->bad[i].path);
    for (size_t i = 0; i < t->noffers; i++)
        free(t->offers[i].path);
    free(t->files);
    free(t->saved);
    free(t->offers);
    free(t->bad);
    free(t->scratch);
    free(t);
}

void tailer_restore(tailer *t, const tailer_position *p)
{
    if (t->nsaved == t->capsaved) {
        t->capsaved = t->capsaved ? t->capsaved * 2 : 8;
        t->saved = sl_xrealloc(t->saved, t->capsaved * sizeof *t->saved);
    }
    saved_pos *s = &t->saved[t->nsaved++];
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->p.path = sl_xstrdup(p->path ? p->path : "");
    s->committed = p->offset;
}

void tailer_set_first_start(tailer *t, bool first) { t->first_start = first; }

void tailer_set_close_hook(tailer *t, tailer_close_fn fn, void *arg)
{
    t->close_fn = fn;
    t->close_arg = arg;
}

void tailer_set_hold_hook(tailer *t, tailer_hold_fn fn, void *arg)
{
    t->hold_fn = fn;
    t->hold_arg = arg;
}

void tailer_positions(tailer *t, void (*fn)(void *arg, const tailer_position *p), void *arg)
{
    for (size_t i = 0; i < t->n; i++) {
        tfile *f = t->files[i];
        tailer_position p = {f->dev, f->ino, f->fp_crc, f->fp_len, f->committed, f->path};
        fn(arg, &p);
    }
    /* Before the first scan ends, unclaimed restored positions are still worth keeping. */
    if (!t->first_scan_done)
        for (size_t i = 0; i < t->nsaved; i++)
            if (!t->saved[i].ghost && !t->saved[i].claimed)
                fn(arg, &t->saved[i].p);
}

void tailer_commit(tailer *t, uint64_t key, uint64_t value)
{
    uint64_t id = key >> 16;
    for (size_t i = 0; i < t->n; i++) {
        tfile *f = t->files[i];
        if (f->id != id)
            continue;
        if (f->gen == (uint16_t)(key & 0xffff) && value > f->committed && value <= f->read_off)
            f->committed = value;
        return;
    }
}

bool tailer_tracks(const tailer *t, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->files[i]->dev == dev && t->files[i]->ino == ino)
            return true;
    return false;
}

size_t tailer_count(const tailer *t) { return t->n; }
size_t tailer_open_count(const tailer *t) { return t->nopen; }

/* ---- Discovery ----------------------------------------------------------------------- */

void tailer_scan_begin(tailer *t)
{
    for (size_t i = 0; i < t->noffers; i++)
        free(t->offers[i].path);
    t->noffers = 0;
    for (size_t i = 0; i < t->n; i++) {
        t->files[i]->seen = false;
        t->files[i]->replaced = false;
    }
    for (size_t i = 0; i < t->nbad; i++)
        t->bad[i].seen = false;
}

void tailer_offer(tailer *t, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        struct stat lst;
        if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            report(t, path, "bad_symlink", "symlink cannot be followed");
        else if (errno == EACCES)
            report(t, path, "permission_denied", strerror(errno));
        /* else: gone between the glob and now; the next scan settles it */
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        report(t, path, "not_a_file", "is a directory, expected a file");
        return;
    }
    if (!S_ISREG(st.st_mode)) {
        report(t, path, "not_a_file", "not a regular file");
        return;
    }
    for (size_t i = 0; i < t->noffers; i++)
        if (strcmp(t->offers[i].path, path) == 0)
            return;
    if (t->noffers == t->capoffers) {
        t->capoffers = t->capoffers ? t->capoffers * 2 : 16;
        t->offers = sl_xrealloc(t->offers, t->capoffers * sizeof *t->offers);
    }
    t->offers[t->noffers++] = (offer){sl_xstrdup(path), (uint64_t)st.st_dev, (uint64_t)st.st_ino,
                                      (uint64_t)st.st_size, false};
}

static tfile *find_identity(tailer *t, uint64_t dev, uint64_t ino)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->files[i]->dev == dev && t->files[i]->ino == ino)
            return t->files[i];
    return NULL;
}

static size_t find_index(tailer *t, const tfile *f)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->files[i] == f)
            return i;
    return t->n;
}

/* Pass 1: an offer naming a file we already track. Returns true if settled. */
static bool scan_known(tailer *t, offer *o)
{
    tfile *f = find_identity(t, o->dev, o->ino);
    if (!f)
        return false;
    if (f->seen) /* a second path (hard link, overlapping globs) to the same file */
        return true;
    if (f->fd < 0) {
        tf_set_path(f, o->path);
        int fd = tf_reopen(t, f);
        if (fd == REOPEN_REUSED) {
            log_info(t->comp, "%s: inode reused by a new file", o->path);
            tf_remove(t, find_index(t, f));
            return false;
        }
        f->seen = true;
        if (fd < 0) { /* unreadable for now: kept, retried next scan */
            if (errno == EACCES)
                report(t, o->path, "permission_denied", strerror(errno));
            return true;
        }
        if (o->size != f->read_off || f->state == TF_ERROR) {
            if (tf_room(t)) {
                tf_attach(t, f, fd);
                return true;
            }
            f->state = TF_PENDING;
            f->want_open = true;
        }
        close(fd);
        return true;
    }
    f->seen = true;
    tf_set_path(f, o->path);
    if (f->state == TF_DRAINING && !f->deleted)
        f->state = TF_READING; /* renamed back under an include pattern */
    return true;
}

/* Saved positions whose identity (dev, inode, first bytes) matches an open file exactly. */
static saved_pos *saved_exact(tailer *t, uint64_t dev, uint64_t ino, size_t have)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        if (s->claimed || s->ghost || s->p.dev != dev || s->p.ino != ino || s->p.fp_len > have)
            continue;
        if (crc32c(0, t->scratch, s->p.fp_len) == s->p.fp_crc)
            return s;
    }
    return NULL;
}

/* A known identity this new file's first bytes copy (invariant 6). */
static bool match_copy(tailer *t, size_t have, uint64_t size, uint64_t *start, uint64_t *committed,
                       uint64_t *stream_id)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        if (s->claimed || s->p.fp_len == 0 || s->p.fp_len > have || s->p.offset > size)
            continue;
        if (crc32c(0, t->scratch, s->p.fp_len) == s->p.fp_crc) {
            s->claimed = true;
            *start = s->p.offset;
            *committed = SL_MIN(s->committed, s->p.offset);
            *stream_id = s->stream_id;
            return true;
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        tfile *f = t->files[i];
        if (f->fp_len == 0 || f->fp_len > have || f->line_off > size)
            continue;
        if (crc32c(0, t->scratch, f->fp_len) == f->fp_crc) {
            *start = tf_hold(t, f);
            *committed = SL_MIN(f->committed, *start);
            *stream_id = f->stream_id;
            return true;
        }
    }
    return false;
}

/* Pass 2: a file we do not track yet. */
static void scan_new(tailer *t, offer *o, bool exact_only)
{
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EACCES)
            report(t, o->path, "permission_denied", strerror(errno));
        else if (errno != ENOENT)
            report(t, o->path, "open_error", strerror(errno));
        o->done = true;
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        o->done = true;
        return;
    }
    uint64_t dev = (uint64_t)st.st_dev, ino = (uint64_t)st.st_ino, size = (uint64_t)st.st_size;
    if (find_identity(t, dev, ino)) { /* replaced between stat and open: next scan */
        close(fd);
        o->done = true;
        return;
    }
    size_t have = fp_read(t, fd, size);
    uint64_t start = 0, committed = 0, stream_id = 0;
    saved_pos *s = saved_exact(t, dev, ino, have);
    if (s) {
        s->claimed = true;
        start = SL_MIN(s->p.offset, size);
        committed = SL_MIN(s->committed, start);
    } else if (exact_only) {
        close(fd);
        return; /* second pass decides */
    } else if (match_copy(t, have, size, &start, &committed, &stream_id)) {
        log_info(t->comp, "%s: same first bytes as a file already read (copy or rename); "
                 "resuming at offset %llu", o->path, (unsigned long long)start);
    } else if (t->first_start && !t->first_scan_done && t->o.read_from_tail) {
        start = committed = tail_start(t, fd, size);
    }
    o->done = true;
    tfile *f = tf_new(t, o->path, dev, ino);
    f->seen = true;
    f->fp_len = (uint32_t)have;
    f->fp_crc = crc32c(0, t->scratch, have);
    f->read_off = f->line_off = start;
    f->committed = committed;
    f->last_size = size;
    f->stream_id = stream_id; /* a copy keeps its original's event ids (0: computed later) */
    /* Resuming mid-line (a chunked long line was committed partly): the rest is a chunk. */
    if (start > 0) {
        char prev;
        if (pread(fd, &prev, 1, (off_t)start - 1) == 1 && prev != '\n')
            f->long_line = true;
    }
    if (tf_room(t)) {
        tf_attach(t, f, fd);
    } else {
        close(fd);
        f->want_open = true;
    }
}

void tailer_scan_end(tailer *t)
{
    for (size_t i = 0; i < t->noffers; i++)
        t->offers[i].done = scan_known(t, &t->offers[i]);
    /* Exact resumes first, so a copy cannot take a position its original still owns. */
    for (size_t i = 0; i < t->noffers; i++)
        if (!t->offers[i].done)
            scan_new(t, &t->offers[i], true);
    for (size_t i = 0; i < t->noffers; i++)
        if (!t->offers[i].done)
            scan_new(t, &t->offers[i], false);

    for (size_t i = t->n; i-- > 0;) {
        tfile *f = t->files[i];
        if (f->seen)
            continue;
        if (f->fd < 0) { /* not open and no longer found: nothing left to read it by */
            tf_remove(t, i);
            continue;
        }
        if (f->state != TF_DRAINING)
            log_debug(t->comp, "%s: renamed away or deleted; reading it to its end", f->path);
        f->state = TF_DRAINING;
        for (size_t k = 0; k < t->noffers; k++)
            if (strcmp(t->offers[k].path, f->path) == 0)
                f->replaced = true;
    }
    /* Ghosts live until claimed or expired; restored positions until the first scan ends. */
    for (size_t i = t->nsaved; i-- > 0;)
        if (t->saved[i].claimed ||
            (t->saved[i].expire_ms ? sl_mono_ms() >= t->saved[i].expire_ms : t->first_scan_done))
            saved_free(t, i);
    for (size_t i = t->nbad; i-- > 0;)
        if (!t->bad[i].seen) {
            free(t->bad[i].path);
            t->bad[i] = t->bad[--t->nbad];
        }
    t->first_scan_done = true;
    if (t->m)
        atomic_store(&t->m->files_tracked, (int_fast64_t)t->n);
}

/* ---- Reading ------------------------------------------------------------------------- */

static bool emit(tailer *t, tfile *f, const char *data, size_t len, uint64_t offset,
                 uint64_t end, bool truncated, bool at_newline, tailer_line_fn fn, void *arg)
{
    if (len && data[len - 1] == '\r' && at_newline)
        len--;
    if (!f->stream_id)
        f->stream_id = stream_id_of(t, f);
    tailer_line ln = {data, len, offset, end, truncated};
    tailer_file_info info;
    tf_info(f, &info);
    return fn(arg, &info, &ln);
}

/* Splits buf into lines and delivers them; keeps the incomplete tail (invariant 2).
 * Returns false if the callback asked to stop. */
static bool split_lines(tailer *t, tfile *f, tailer_line_fn fn, void *arg, bool *delivered)
{
    size_t pos = 0, max = t->o.max_line_bytes;
    bool ok = true;
    while (ok) {
        char *nl = memchr(f->buf + pos, '\n', f->blen - pos);
        size_t avail = nl ? (size_t)(nl - (f->buf + pos)) : f->blen - pos;
        if (avail >= max && (!nl || avail > max)) {
            /* Too long: the next max bytes go out as a chunk (policy: log.truncated). */
            if (!f->long_line && t->m)
                metrics_error(t->m, "line_too_long");
            if (!f->long_line)
                log_debug(t->comp, "%s: line at offset %llu longer than max_line_bytes; "
                          "emitting it in chunks", f->path, (unsigned long long)(f->line_off + pos));
            if (!(ok = emit(t, f, f->buf + pos, max, f->line_off + pos, f->line_off + pos + max,
                            true, false, fn, arg)))
                break;
            f->long_line = true;
            *delivered = true;
            pos += max;
            continue;
        }
        if (!nl)
            break;
        if (!f->long_line || avail > 0) {
            if (!(ok = emit(t, f, f->buf + pos, avail, f->line_off + pos,
                            f->line_off + pos + avail + 1, f->long_line, true, fn, arg)))
                break;
            *delivered = true;
        }
        f->long_line = false;
        pos += avail + 1;
    }
    if (pos) {
        memmove(f->buf, f->buf + pos, f->blen - pos);
        f->blen -= pos;
        f->line_off += pos;
    }
    return ok;
}

/* Checks size, deletion and first bytes. Returns false on an error (already handled). */
static bool check_file(tailer *t, tfile *f)
{
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        log_warn(t->comp, "%s: fstat: %s", f->path, strerror(errno));
        return false;
    }
    if (st.st_nlink == 0 && !f->deleted) {
        f->deleted = true;
        f->state = TF_DRAINING;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < f->read_off) {
        if (t->m)
            metrics_error(t->m, "truncated");
        tf_restart(t, f, "file was truncated (copytruncate?)");
    } else if (size != f->last_size || f->fp_len < t->o.fingerprint_bytes) {
        /* Growth: the old first bytes must still be there (else it was truncated and
         * rewritten past our offset between two looks), and the fingerprint extends. */
        if (size != f->last_size || size > f->fp_len) {
            size_t have = fp_read(t, f->fd, size);
            if (have < f->fp_len || crc32c(0, t->scratch, f->fp_len) != f->fp_crc) {
                if (t->m)
                    metrics_error(t->m, "truncated");
                tf_restart(t, f, "first bytes changed (truncated and rewritten)");
                have = fp_read(t, f->fd, size);
            }
            f->fp_len = (uint32_t)have;
            f->fp_crc = crc32c(0, t->scratch, have);
        }
    }
    f->last_size = size;
    return true;
}

static void tf_fail(tailer *t, tfile *f, const char *what)
{
    log_warn(t->comp, "%s: %s: %s; will retry", f->path, what, strerror(errno));
    if (t->m)
        metrics_error(t->m, "read_error");
    tf_close_fd(t, f);
    f->state = TF_ERROR;
}

/* One file's turn: up to read_budget_bytes. Returns bytes read; *stop if the callback
 * asked to stop. */
static size_t read_file(tailer *t, tfile *f, tailer_line_fn fn, tailer_file_done_fn done,
                        void *arg, bool *stop)
{
    if (!check_file(t, f)) {
        tf_fail(t, f, "fstat");
        return 0;
    }
    size_t total = 0, budget = t->o.read_budget_bytes;
    bool delivered = false;
    /* Lines left in buf by a stop request go first. */
    if (f->blen && !split_lines(t, f, fn, arg, &delivered)) {
        *stop = true;
        budget = 0;
    }
    size_t cap_max = t->o.max_line_bytes + TAILER_CHUNK;
    while (budget > 0) {
        if (f->bcap - f->blen < TAILER_CHUNK && f->bcap < cap_max) {
            size_t ncap = f->bcap ? f->bcap * 2 : TAILER_CHUNK;
            f->bcap = SL_MIN(SL_MAX(ncap, f->blen + TAILER_CHUNK), cap_max);
            f->buf = sl_xrealloc(f->buf, f->bcap);
        }
        size_t want = SL_MIN(SL_MIN(f->bcap - f->blen, budget), (size_t)TAILER_CHUNK);
        ssize_t r = pread(f->fd, f->buf + f->blen, want, (off_t)f->read_off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            tf_fail(t, f, "read");
            break;
        }
        if (r == 0) {
            f->at_eof = true;
            break;
        }
        f->at_eof = false;
        f->read_off += (uint64_t)r;
        f->blen += (size_t)r;
        budget -= (size_t)r;
        total += (size_t)r;
        f->last_active_ms = sl_mono_ms();
        if (!split_lines(t, f, fn, arg, &delivered)) {
            *stop = true;
            break;
        }
    }
    /* Between turns a file keeps only its unfinished line: a full read buffer per file
     * would dominate memory with a thousand files (one allocation per turn at most). */
    if (f->blen == 0) {
        free(f->buf);
        f->buf = NULL;
        f->bcap = 0;
    } else if (f->bcap > 2 * f->blen + 4096) {
        f->bcap = (f->blen + 4095) & ~(size_t)4095;
        f->buf = sl_xrealloc(f->buf, f->bcap);
    }
    if (delivered && done) {
        tailer_file_info info;
        tf_info(f, &info);
        done(arg, &info);
    }
    return total;
}

/* A DRAINING file at EOF is closed when deleted, replaced at its path, or idle long
 * enough; an unterminated last line is delivered first (it will never be completed). */
static bool drained(tailer *t, tfile *f, tailer_line_fn fn, tailer_file_done_fn done, void *arg)
{
    if (f->state != TF_DRAINING || !f->at_eof || f->fd < 0)
        return false;
    if (!f->deleted && !f->replaced && sl_mono_ms() - f->last_active_ms < t->o.rotate_wait_ms)
        return false;
    if (f->blen) {
        if (!emit(t, f, f->buf, f->blen, f->line_off, f->read_off, f->long_line, false, fn, arg))
            return false;
        f->line_off = f->read_off;
        f->blen = 0;
        if (done) {
            tailer_file_info info;
            tf_info(f, &info);
            done(arg, &info);
        }
    }
    log_debug(t->comp, "%s: read to its end after rotation/deletion; closed", f->path);
    return true;
}

/* A drained file that still exists (renamed away, or its path now holds another file) may be
 * offered again under another name after we closed it: it then resumes at its end instead
 * of being read again (a lookup by dev, inode and first bytes). Remembered for a minute at
 * least: a slow or busy scan must not turn a late rename into a full re-read. */
static void remember_closed(tailer *t, tfile *f)
{
    if (f->deleted || f->fp_len == 0)
        return;
    if (t->nsaved == t->capsaved) {
        t->capsaved = t->capsaved ? t->capsaved * 2 : 8;
        t->saved = sl_xrealloc(t->saved, t->capsaved * sizeof *t->saved);
    }
    saved_pos *s = &t->saved[t->nsaved++];
    memset(s, 0, sizeof *s);
    s->p.dev = f->dev;
    s->p.ino = f->ino;
    s->p.fp_crc = f->fp_crc;
    s->p.fp_len = f->fp_len;
    s->p.offset = f->read_off;
    s->p.path = sl_xstrdup(f->path);
    s->committed = f->committed;
    s->stream_id = f->stream_id;
    s->expire_ms = sl_mono_ms() + SL_MAX(t->o.rotate_wait_ms * 12, (int64_t)60000);
}

size_t tailer_poll(tailer *t, tailer_line_fn on_line, tailer_file_done_fn on_done, void *arg)
{
    size_t total = 0;
    bool stop = false;
    size_t n = t->n;
    if (n == 0)
        return 0;
    size_t first = t->rr++ % n;
    for (size_t k = 0; k < n && !stop; k++) {
        tfile *f = t->files[(first + k) % n];
        if (f->fd < 0) {
            if (!(f->want_open || f->state == TF_ERROR) || !tf_room(t))
                continue;
            int fd = tf_reopen(t, f);
            if (fd < 0) {
                f->want_open = false; /* the next scan decides what it is now */
                continue;
            }
            tf_attach(t, f, fd);
        }
        total += read_file(t, f, on_line, on_done, arg, &stop);
    }
    for (size_t i = t->n; i-- > 0 && !stop;) {
        if (drained(t, t->files[i], on_line, on_done, arg)) {
            remember_closed(t, t->files[i]);
            tf_remove_ex(t, i, true);
        }
    }
    if (t->m)
        atomic_store(&t->m->files_tracked, (int_fast64_t)t->n);
    return total;
}

/* ---- Checkpoints ------------------------------------------------------------------------- */

void tailer_load_checkpoint(tailer *t, sl_ckpt_store *ck, const sl_component_ctx *cc)
{
    for (size_t i = 0; i < ckpt_count(ck); i++) {
        const sl_ckpt_entry *e = ckpt_at(ck, i);
        tailer_position p = {0};
        int used = 0;
        if (sscanf(e->key, "%" SCNu64 ":%" SCNu64, &p.dev, &p.ino) != 2 ||
            sscanf(e->meta, "%" SCNx32 " %" SCNu32 " %n", &p.fp_crc, &p.fp_len, &used) != 2) {
            log_warn(cc->id, "checkpoint entry '%s' not understood; ignored", e->key);
            metrics_error(cc->metrics, "corrupt_checkpoint");
            continue;
        }
        p.offset = e->pos;
        p.path = e->meta + used;
        tailer_restore(t, &p);
    }
}

static void ckpt_put_position(void *arg, const tailer_position *p)
{
    sl_ckpt_store *ck = arg;
    char key[64];
    snprintf(key, sizeof key, "%" PRIu64 ":%" PRIu64, p->dev, p->ino);
    size_t ml = strlen(p->path) + 32;
    char *meta = sl_xmalloc(ml);
    snprintf(meta, ml, "%08" PRIx32 " %" PRIu32 " %s", p->fp_crc, p->fp_len, p->path);
    ckpt_set(ck, key, p->offset, meta);
    free(meta);
}

int tailer_save_checkpoint(tailer *t, sl_ckpt_store *ck, const sl_component_ctx *cc,
                           bool durable)
{
    char err[256];
    ckpt_clear(ck);
    tailer_positions(t, ckpt_put_position, ck);
    int rc = ckpt_write(ck, durable, err, sizeof err);
    if (rc != SL_OK) {
        log_error(cc->id, "saving checkpoint: %s", err);
        metrics_error(cc->metrics, "checkpoint_write");
        metrics_set_state(cc->metrics, "checkpoint_write_failed");
    } else {
        metrics_set_state(cc->metrics, "ok");
    }
    return rc;
}
