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
 *           └──────────────────────────────────────────────────── DRAINING ◄── relocate (found
 *                                                                     │    again by identity in
 *                                                                     │    the directory it was
 *                                                                     │    last seen in)
 *                                                                     │ read_file to EOF, then
 *                                                                     │ deleted, or path holds a
 *                                                                     │ new file, or idle for
 *                                                                     ▼ rotate_wait_ms
 *                                                                   DONE (fd closed, close hook
 *                                                                     │   called, position kept)
 *                                                                     ▼ committed reaches its end
 *                                                                  released (record freed)
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
 *     key, so a late ack from before the truncation never moves the new position. The
 *     first bytes are checked before each turn and again after each read, before its
 *     lines go out: a truncation and rewrite past read_off between the two would otherwise
 *     pass new bytes off as the rest of the old content, and its copy would resume past
 *     old lines never read.
 *  5. Data is never dropped by closing: an fd is closed only at EOF (DRAINING, after one
 *     last read, flushing any unterminated last line), on eviction of an idle file (state
 *     and buffer kept, reopened by position), or after an I/O error (kept, retried). A
 *     drained file stays in the positions (DONE) until every line it delivered is
 *     committed, so a crash meanwhile reads its tail again instead of losing it; released,
 *     a file that still exists is remembered (dev, inode, first bytes, end) for a minute,
 *     so offered again under a new name it resumes at its end.
 *  6. A new file whose first bytes match a known identity (a truncated file's old identity,
 *     a saved position, or a live file with another inode) is the same stream copied
 *     (copytruncate, or a rename while stopped): it resumes at that position instead of
 *     re-reading, from the caller's hold (tailer_set_hold_hook) when it has one, and with
 *     the original's stream id, so replayed lines keep their event ids (a copy found only
 *     after a restart gets its own); late acks of the lines the original delivered move the
 *     copy's position (same bytes, same offsets). Known limit: two unrelated files with
 *     identical first fingerprint_bytes are treated as one stream; raise fingerprint_bytes
 *     for files with long common headers.
 *  7. Every outside-input problem (directory instead of file, permission denied, dangling
 *     symlink, read error; a caller's discovery reports its own with tailer_skip) is
 *     logged once per path until it clears, and counted.
 *  8. A file that left discovery while we could not follow it by fd is looked for again
 *     (relocate) in the directory it was last seen in: a saved position no offer claimed
 *     at the first scan (renamed out of the include patterns while we were down, or just
 *     before a crash), a closed file that is no longer offered (evicted, then renamed away)
 *     by (dev, inode, first bytes) under any name there; a truncated file's old identity
 *     and a saved position whose inode now holds other bytes (copytruncate) by first bytes
 *     under the rotation names of its base name (base.1, base.<n>, base-20240101,
 *     base.<time>, stem.1.ext; never compressed or .tmp files). Found, it is read to its
 *     end from the saved position and released as any rotated file. Not found (moved to
 *     another directory, deleted, compressed): its unread tail is lost. At the first scan,
 *     rotation names no position knows that were written after the positions were saved
 *     (tailer_set_saved_at) are files created and rotated away since: read from the start.
 */
#include "sources/tailer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/common.h"
#include "core/crc32c.h"
#include "core/log.h"

/* One read: 128 KiB halves the reads of 64 KiB (each a system call that costs a few
 * microseconds here besides its copy) and still fits in L2 for the split that follows; 256
 * KiB gained nothing more (docs/BENCHMARKS.md, round 11). */
#define TAILER_CHUNK (128 * 1024)
#define SPARE_MAX (4 * TAILER_CHUNK) /* a bigger read buffer (a long line) is freed */

typedef enum tf_state { TF_PENDING, TF_READING, TF_DRAINING, TF_ERROR, TF_DONE } tf_state;

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
    int64_t last_mtime_ns; /* with last_size: the file has not changed since the last look */
    char *buf;
    size_t blen, bcap;
    bool long_line;  /* inside a line emitted in chunks */
    bool at_eof;
    bool seen;       /* offered in the current scan */
    bool replaced;   /* its last path holds another file now */
    bool deleted;
    bool want_open;  /* PENDING: has data to read */
    bool away;       /* found by relocate, not by an offer: read to its end, then released */
    uint64_t alias_key; /* a copy: its original's key, whose late acks move it too (0: none) */
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
    int64_t expire_ms; /* dropped at the first scan end after this; restored ones get it
                          (remember_ms) at the end of the first scan */
    uint64_t stream_id; /* ghosts: the truncated file's event id stream, for its copy */
    uint64_t key;       /* ghosts: the truncated generation's key (its late acks) */
    bool looked;        /* ghosts: its copy was looked for under the rotation names */
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
    size_t fd_budget; /* fd_budget() when created */
    offer *offers;
    size_t noffers, capoffers;
    bad_path *bad;
    size_t nbad, capbad;
    bool first_start, first_scan_done;
    bool starved;           /* a file waits for room under max_open_files */
    bool fd_limit_logged;   /* the open files limit, not max_open_files, kept files closed */
    int64_t saved_at_ns;    /* when the restored positions were saved (0: unknown) */
    unsigned char *scratch; /* fingerprint_bytes */
    /* A read buffer a file gave up at the end of its turn (it keeps only its unfinished
     * line between turns), taken by the next file to read: not grown and shrunk by
     * realloc, which copies, in every turn. At most one, at most SPARE_MAX bytes. */
    char *spare;
    size_t spare_cap;
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

/* ---- Descriptors -------------------------------------------------------------------------
 * Every tailer of the process draws its files' descriptors from one budget below
 * RLIMIT_NOFILE: max_open_files (1024 by default) is as high as a shell's usual soft limit,
 * and a tailer that took every descriptor left its sinks unable to open a file or a socket
 * and the API unable to accept, so nothing it read was delivered. A quarter of the limit
 * (at least 64) stays for the rest of the process. A tailer may always hold a few
 * (TAILER_MIN_FDS, from that quarter): another one holding the whole budget with idle files
 * never needs to close them, and would keep it from reading anything. */
#define TAILER_MIN_FDS 8
static atomic_size_t tailer_fds; /* files open in every tailer */

static size_t fd_budget(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        rl.rlim_cur > SIZE_MAX / 2)
        return SIZE_MAX;
    size_t lim = (size_t)rl.rlim_cur, reserve = SL_MAX(lim / 4, (size_t)64);
    return lim > reserve + 16 ? lim - reserve : 16;
}

/* Says once per tailer that the descriptor budget, not max_open_files, is what keeps files
 * closed (the files are still read: idle ones are closed to make room). */
static void fd_limit_reached(tailer *t)
{
    if (t->fd_limit_logged)
        return;
    t->fd_limit_logged = true;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    log_warn(t->comp, "%zu files open: the open files limit (%llu, ulimit -n or LimitNOFILE) "
             "leaves no room for more; idle files are closed and reopened as they grow",
             t->nopen, (unsigned long long)rl.rlim_cur);
    if (t->m)
        metrics_error(t->m, "fd_limit");
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

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
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

void tailer_skip(tailer *t, const char *path, const char *reason, const char *what)
{
    report(t, path, reason, what);
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
        atomic_fetch_sub_explicit(&tailer_fds, 1, memory_order_relaxed);
    }
}

static void tf_remove_ex(tailer *t, size_t i, bool drained)
{
    tfile *f = t->files[i];
    if (t->close_fn && f->state != TF_DONE) { /* DONE: the hook ran when it was drained */
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

/* Appends a zeroed saved position to t->saved and returns it (valid until the next push). */
static saved_pos *saved_push(tailer *t)
{
    if (t->nsaved == t->capsaved) {
        t->capsaved = t->capsaved ? t->capsaved * 2 : 8;
        t->saved = sl_xrealloc(t->saved, t->capsaved * sizeof *t->saved);
    }
    saved_pos *s = &t->saved[t->nsaved++];
    memset(s, 0, sizeof *s);
    return s;
}

/* Keeps f's identity as a ghost, so a copy made by copytruncate resumes where we were. */
static void tf_ghost(tailer *t, tfile *f)
{
    if (f->fp_len == 0)
        return;
    saved_pos *s = saved_push(t);
    s->p.fp_crc = f->fp_crc;
    s->p.fp_len = f->fp_len;
    s->p.offset = tf_hold(t, f);
    s->p.path = sl_xstrdup(f->path);
    s->committed = SL_MIN(f->committed, s->p.offset);
    s->stream_id = f->stream_id;
    s->key = tf_key(f);
    s->ghost = true;
    s->expire_ms = sl_mono_ms() + SL_MAX(t->o.rotate_wait_ms, (int64_t)1000);
}

/* Starts a file over at offset 0 as a new generation (truncated or rewritten). */
static void tf_restart(tailer *t, tfile *f, const char *why)
{
    log_info(t->comp, "%s: %s; reading it again from the start", f->path, why);
    tf_ghost(t, f);
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
    bool under_max = t->o.max_open_files <= 0 || t->nopen < (size_t)t->o.max_open_files;
    bool under_limit = atomic_load_explicit(&tailer_fds, memory_order_relaxed) < t->fd_budget ||
                       t->nopen < TAILER_MIN_FDS;
    if ((under_max && under_limit) || tf_evict(t))
        return true;
    if (!under_limit)
        fd_limit_reached(t);
    t->starved = true; /* drained files at their end close sooner (drained) */
    return false;
}

static void tf_attach(tailer *t, tfile *f, int fd)
{
    f->fd = fd;
    f->state = f->away ? TF_DRAINING : TF_READING;
    f->want_open = false;
    f->at_eof = false;
    t->nopen++;
    atomic_fetch_add_explicit(&tailer_fds, 1, memory_order_relaxed);
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
    t->fd_budget = fd_budget();
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
    free(t->spare);
    free(t);
}

void tailer_restore(tailer *t, const tailer_position *p)
{
    saved_pos *s = saved_push(t);
    s->p = *p;
    s->p.path = sl_xstrdup(p->path ? p->path : "");
    s->committed = p->offset;
}

void tailer_set_first_start(tailer *t, bool first) { t->first_start = first; }

void tailer_set_saved_at(tailer *t, int64_t realtime_ns) { t->saved_at_ns = realtime_ns; }

/* How long a released file's identity and an unclaimed restored position are kept. */
static int64_t remember_ms(const tailer *t)
{
    return SL_MAX(t->o.rotate_wait_ms * 12, (int64_t)60000);
}

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
        tailer_position p = {f->dev, f->ino, f->fp_crc, f->fp_len, f->committed, f->path,
                             f->away};
        fn(arg, &p);
    }
    /* Released files and unclaimed restored positions: after a crash, a released file must
     * not look unknown (tailer_set_saved_at), nor a restored one be forgotten by a second
     * restart soon after the first. */
    for (size_t i = 0; i < t->nsaved; i++) {
        const saved_pos *s = &t->saved[i];
        if (s->ghost || s->claimed || tailer_tracks(t, s->p.dev, s->p.ino))
            continue;
        bool dup = false; /* one position per identity: the latest */
        for (size_t j = i + 1; j < t->nsaved && !dup; j++)
            dup = !t->saved[j].ghost && !t->saved[j].claimed &&
                  t->saved[j].p.dev == s->p.dev && t->saved[j].p.ino == s->p.ino;
        if (!dup)
            fn(arg, &s->p);
    }
}

void tailer_commit(tailer *t, uint64_t key, uint64_t value)
{
    uint64_t id = key >> 16;
    uint16_t gen = (uint16_t)(key & 0xffff);
    for (size_t i = 0; i < t->n; i++) {
        tfile *f = t->files[i];
        /* A copy takes its original's late acks too (invariant 6). */
        if (((f->id == id && f->gen == gen) || f->alias_key == key) && value > f->committed &&
            value <= f->read_off)
            f->committed = value;
    }
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        if (s->ghost && !s->claimed && s->key == key && value > s->committed &&
            value <= s->p.offset)
            s->committed = value;
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
    f->away = false; /* discovery has it again */
    if (f->fd < 0 && f->fp_len == 0) {
        /* closed before a byte was read: nothing tells whether the inode was reused (by a
         * copy, say); nothing is lost by taking the file as new */
        tf_remove(t, find_index(t, f));
        return false;
    }
    if (f->fd < 0) {
        tf_set_path(f, o->path);
        int fd = tf_reopen(t, f);
        if (fd == REOPEN_REUSED) {
            /* truncated and rewritten while closed (copytruncate), or deleted and the
             * inode reused: a copy of what it held may be under a rotation name */
            log_info(t->comp, "%s: other first bytes than when last read; a new file", o->path);
            tf_ghost(t, f);
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
        if (s->p.fp_len == 0)
            continue; /* no first bytes to tell a reused inode by (nothing was read: a new
                         file is read from its start all the same) */
        if (crc32c(0, t->scratch, s->p.fp_len) == s->p.fp_crc)
            return s;
    }
    return NULL;
}

/* A known identity this new file's first bytes copy (invariant 6): a truncated file's old
 * identity first (copytruncate), then a tracked file (copied, its truncation not seen
 * yet), then a restored or released position. */
static saved_pos *match_saved(tailer *t, size_t have, uint64_t size, bool ghosts)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        if (s->claimed || s->ghost != ghosts || s->p.fp_len == 0 || s->p.fp_len > have ||
            s->p.offset > size)
            continue;
        if (crc32c(0, t->scratch, s->p.fp_len) == s->p.fp_crc)
            return s;
    }
    return NULL;
}

static bool match_copy(tailer *t, size_t have, uint64_t size, uint64_t *start, uint64_t *committed,
                       uint64_t *stream_id, uint64_t *alias)
{
    saved_pos *s = match_saved(t, have, size, true);
    if (!s) {
        for (size_t i = 0; i < t->n; i++) {
            tfile *f = t->files[i];
            if (f->fp_len == 0 || f->fp_len > have || f->line_off > size)
                continue;
            if (crc32c(0, t->scratch, f->fp_len) == f->fp_crc) {
                *start = tf_hold(t, f);
                *committed = SL_MIN(f->committed, *start);
                *stream_id = f->stream_id;
                *alias = tf_key(f);
                return true;
            }
        }
        s = match_saved(t, have, size, false);
    }
    if (!s)
        return false;
    s->claimed = true;
    *start = s->p.offset;
    *committed = SL_MIN(s->committed, s->p.offset);
    *stream_id = s->stream_id;
    *alias = s->ghost ? s->key : 0;
    return true;
}

/* Starts tracking the file open on fd (owned from here) at `start`: t->scratch holds its
 * first `have` bytes. */
static tfile *tf_adopt(tailer *t, const char *path, int fd, const struct stat *st, size_t have,
                       uint64_t start, uint64_t committed, uint64_t stream_id, bool away)
{
    tfile *old = find_identity(t, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    if (old && old->state == TF_DONE) /* its file was deleted and the inode reused */
        tf_remove(t, find_index(t, old));
    tfile *f = tf_new(t, path, (uint64_t)st->st_dev, (uint64_t)st->st_ino);
    f->fp_len = (uint32_t)have;
    f->fp_crc = crc32c(0, t->scratch, have);
    f->read_off = f->line_off = start;
    f->committed = committed;
    f->last_size = (uint64_t)st->st_size;
    f->last_mtime_ns = mtime_ns(st);
    f->stream_id = stream_id; /* a copy keeps its original's event ids (0: computed later) */
    f->away = away;
    /* Resuming mid-line (a chunked long line was committed partly): the rest is a chunk. */
    if (start > 0) {
        char prev;
        if (pread(fd, &prev, 1, (off_t)start - 1) == 1 && prev != '\n')
            f->long_line = true;
    }
    /* A file found away from discovery is opened beyond max_open_files if need be: it is
     * read to its end and closed, and nothing else would find it again. */
    if (tf_room(t) || away) {
        tf_attach(t, f, fd);
    } else {
        close(fd);
        f->want_open = true;
    }
    return f;
}

/* ---- Finding a file again (invariant 8) ---------------------------------------------- */

static bool has_suffix(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n > k && memcmp(s + n - k, suf, k) == 0;
}

static bool rot_sep(char c) { return c == '.' || c == '-' || c == '_'; }

/* A name rotation gives `base`: base.1, base.<n>, base-20240101 (logrotate, Docker),
 * base.20240101-120000 (kubelet), and with logrotate's `extension`, stem.1.ext and
 * stem-20240101.ext. Compressed and temporary files hold no lines we could read. */
static bool rotated_name(const char *base, const char *name)
{
    static const char *const packed[] = {".gz", ".bz2", ".xz", ".zst", ".lz4", ".lzma", ".zip",
                                         ".Z", ".br", ".tmp", NULL};
    size_t bl = strlen(base), nl = strlen(name);
    for (size_t i = 0; packed[i]; i++)
        if (has_suffix(name, nl, packed[i]))
            return false;
    if (nl > bl + 1 && memcmp(name, base, bl) == 0 && rot_sep(name[bl]))
        return true;
    const char *ext = strrchr(base, '.');
    if (!ext || ext == base)
        return false;
    size_t sl = (size_t)(ext - base), el = bl - sl;
    return nl > sl + 1 + el && memcmp(name, base, sl) == 0 && rot_sep(name[sl]) &&
           memcmp(name + nl - el, ext, el) == 0;
}

/* Whether the file whose first n bytes are in t->scratch is this DONE record's. A DONE
 * record has no fd: its inode may have been freed and reused by another file. */
static bool done_is(tailer *t, const tfile *f, size_t n)
{
    return n >= f->fp_len && crc32c(0, t->scratch, f->fp_len) == f->fp_crc;
}

/* What relocate looks for. */
typedef struct lost_file {
    uint64_t dev, ino;       /* the identity under any name; ino 0: a copy only */
    uint32_t fp_crc, fp_len; /* its first bytes */
    uint64_t need;           /* the file must be at least this long, a copy `need_copy` */
    uint64_t need_copy;
    bool copy_ok;            /* a rotation name with the same first bytes will do */
    const char *skip;        /* a path not to take (where discovery left it on purpose) */
    const tfile *self;       /* the record looking for its file, if it has one */
} lost_file;

/* One directory: returns an open fd (the exact identity if there, else the first copy), or
 * -1. *path (owned) and *st describe it; t->scratch holds its first *have bytes. */
static int relocate_in(tailer *t, const char *dir, const char *base, const lost_file *l,
                       char **path, struct stat *st, size_t *have)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int found = -1;
    char p[PATH_MAX];
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2])))
            continue;
        bool rot = rotated_name(base, name);
        /* d_ino spares a stat of every other name; rotation names are stat'ed anyway (on
         * some overlay filesystems d_ino is not st_ino) */
        if (!rot && (!l->ino || (uint64_t)de->d_ino != l->ino))
            continue;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, name) >= sizeof p ||
            (l->skip && strcmp(p, l->skip) == 0))
            continue;
        struct stat cs;
        if (stat(p, &cs) != 0 || !S_ISREG(cs.st_mode))
            continue;
        const tfile *owner = find_identity(t, (uint64_t)cs.st_dev, (uint64_t)cs.st_ino);
        if (owner && owner != l->self && owner->state != TF_DONE)
            continue;
        bool exact = l->ino && (uint64_t)cs.st_dev == l->dev && (uint64_t)cs.st_ino == l->ino;
        if ((uint64_t)cs.st_size < (exact ? l->need : l->need_copy))
            continue;
        if (!exact && (found >= 0 || !rot || !l->copy_ok || l->fp_len == 0))
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat fs;
        size_t n = fstat(fd, &fs) == 0 && fs.st_dev == cs.st_dev && fs.st_ino == cs.st_ino
                       ? fp_read(t, fd, (uint64_t)fs.st_size)
                       : 0;
        if (n < l->fp_len || (n == 0 && !exact) ||
            crc32c(0, t->scratch, l->fp_len) != l->fp_crc ||
            (owner && owner != l->self && done_is(t, owner, n))) {
            close(fd);
            continue;
        }
        if (found >= 0) { /* an exact match beats the copy found before it */
            close(found);
            free(*path);
        }
        found = fd;
        *path = sl_xstrdup(p);
        *st = fs;
        *have = n;
        if (exact)
            break;
    }
    closedir(d);
    if (found >= 0) /* later candidates may have used the scratch */
        *have = fp_read(t, found, (uint64_t)st->st_size);
    return found;
}

/* The directory `last` was seen in, then, when `last` is a symlink, its target's. */
static int relocate(tailer *t, const char *last, const lost_file *l, char **path,
                    struct stat *st, size_t *have)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(last, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if ((size_t)(slash - last) < sizeof dir) {
        memcpy(dir, last, (size_t)(slash - last));
        dir[slash - last] = '\0';
        if (!dir[0])
            snprintf(dir, sizeof dir, "/");
    } else {
        return -1;
    }
    int fd = relocate_in(t, dir, slash ? slash + 1 : last, l, path, st, have);
    struct stat ls;
    char target[PATH_MAX], real[PATH_MAX];
    if (fd >= 0 || lstat(last, &ls) != 0 || !S_ISLNK(ls.st_mode) || !realpath(last, target))
        return fd;
    memcpy(real, target, sizeof real);
    char *rs = strrchr(real, '/');
    if (!rs || rs == real)
        return -1;
    *rs = '\0';
    lost_file l2 = *l;
    l2.skip = target; /* what the link names now: discovery has it */
    return relocate_in(t, real, rs + 1, &l2, path, st, have);
}

/* Restored positions no offer claimed at the first scan (invariant 8): found again, they
 * are read from the saved position to their end. First by identity only (before offers
 * may claim positions as copies: a file that is still there is not a copy), then copies. */
static void relocate_restored(tailer *t, bool copies)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        /* fp_len 0: nothing read, and no first bytes to tell a reused inode by (a file
         * rotated since with lines in it is read from its start: adopt_unknown_rotated) */
        if (s->claimed || s->ghost || s->expire_ms || !s->p.path[0] || !s->p.fp_len)
            continue;
        /* the file itself if it holds more than was read; a copy even if not: its original's
         * inode (the key of the position) now names other bytes, so only the copy, tracked
         * then remembered, can keep it known (adopt_unknown_rotated) */
        lost_file l = {s->p.dev, s->p.ino, s->p.fp_crc, s->p.fp_len, s->p.offset + 1, s->p.offset,
                       copies, s->p.away ? NULL : s->p.path, NULL};
        char *path = NULL;
        struct stat st;
        size_t have = 0;
        int fd = relocate(t, s->p.path, &l, &path, &st, &have);
        if (fd < 0)
            continue;
        s->claimed = true;
        bool exact = (uint64_t)st.st_dev == s->p.dev && (uint64_t)st.st_ino == s->p.ino;
        log_info(t->comp, "%s: %s, last seen as %s; reading it to its end from offset %llu",
                 path, exact ? "found again" : "a copy of a file", s->p.path,
                 (unsigned long long)s->p.offset);
        tf_adopt(t, path, fd, &st, have, s->p.offset, SL_MIN(s->committed, s->p.offset), 0, true);
        free(path);
    }
}

/* Whether a file holds nothing a position does not cover: the first bytes of one (itself
 * or a copy of it) and no more bytes than its offset. (The same inode with other first
 * bytes is a new file in a reused inode; more bytes than a position knows: read.) */
static bool saved_covers(tailer *t, size_t have, uint64_t size)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        const tailer_position *p = &t->saved[i].p;
        if (p->fp_len > 0 && p->fp_len <= have && size <= p->offset &&
            crc32c(0, t->scratch, p->fp_len) == p->fp_crc)
            return true;
    }
    return false;
}

static void adopt_unknown_in(tailer *t, const char *dir, const char *base, int64_t since)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    char p[PATH_MAX];
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!rotated_name(base, de->d_name) ||
            (size_t)snprintf(p, sizeof p, "%s/%s", dir, de->d_name) >= sizeof p)
            continue;
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0 ||
            mtime_ns(&st) < since)
            continue;
        const tfile *owner = find_identity(t, (uint64_t)st.st_dev, (uint64_t)st.st_ino);
        if (owner && owner->state != TF_DONE)
            continue;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct stat fs;
        size_t have = fstat(fd, &fs) == 0 ? fp_read(t, fd, (uint64_t)fs.st_size) : 0;
        if (have == 0 || fs.st_ino != st.st_ino || (owner && done_is(t, owner, have)) ||
            saved_covers(t, have, (uint64_t)fs.st_size)) {
            close(fd);
            continue;
        }
        log_info(t->comp, "%s: rotated after the last checkpoint and never read; reading it "
                 "from the start", p);
        tf_adopt(t, p, fd, &fs, have, 0, 0, 0, true);
    }
    closedir(d);
}

/* The rotation names of `path`'s name, in its directory and, for a symlink, its target's. */
static void adopt_unknown_of(tailer *t, const char *path, int64_t since)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX], real[PATH_MAX];
    if (!slash || slash == path || (size_t)(slash - path) >= sizeof dir)
        return;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    adopt_unknown_in(t, dir, slash + 1, since);
    struct stat ls;
    if (lstat(path, &ls) == 0 && S_ISLNK(ls.st_mode) && realpath(path, real)) {
        char *rs = strrchr(real, '/');
        if (rs && rs != real) {
            *rs = '\0';
            adopt_unknown_in(t, real, rs + 1, since);
        }
    }
}

/* Rotation names, of the restored files' names and of those offered at the first scan,
 * that no position knows and that were written after the positions were saved: created
 * and rotated out of discovery since the last checkpoint (tailer_set_saved_at). */
static void adopt_unknown_rotated(tailer *t)
{
    if (!t->saved_at_ns)
        return;
    int64_t since = t->saved_at_ns - 1000000000; /* positions are taken before the write */
    size_t n = t->nsaved + t->noffers;
    const char **paths = sl_xmalloc((n ? n : 1) * sizeof *paths);
    size_t k = 0;
    for (size_t i = 0; i < t->nsaved; i++)
        if (!t->saved[i].ghost && t->saved[i].p.path[0])
            paths[k++] = t->saved[i].p.path;
    for (size_t i = 0; i < t->noffers; i++)
        paths[k++] = t->offers[i].path;
    for (size_t i = 0; i < k; i++) {
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(paths[j], paths[i]) == 0;
        if (!seen)
            adopt_unknown_of(t, paths[i], since);
    }
    free(paths);
}

/* The copy of a file just truncated (copytruncate), looked for once under the rotation
 * names: a copy outside the include patterns would never be offered. */
static void relocate_ghosts(tailer *t)
{
    for (size_t i = 0; i < t->nsaved; i++) {
        saved_pos *s = &t->saved[i];
        if (!s->ghost || s->claimed || s->looked)
            continue;
        s->looked = true;
        /* even with nothing left to read: tracked, then remembered, the copy is known */
        lost_file l = {0, 0, s->p.fp_crc, s->p.fp_len, s->p.offset, s->p.offset, true, s->p.path,
                       NULL};
        char *path = NULL;
        struct stat st;
        size_t have = 0;
        int fd = relocate(t, s->p.path, &l, &path, &st, &have);
        if (fd < 0)
            continue;
        s->claimed = true;
        log_info(t->comp, "%s: copy of %s before it was truncated; resuming at offset %llu",
                 path, s->p.path, (unsigned long long)s->p.offset);
        tfile *f = tf_adopt(t, path, fd, &st, have, s->p.offset,
                            SL_MIN(s->committed, s->p.offset), s->stream_id, true);
        f->alias_key = s->key;
        free(path);
    }
}

/* A closed file no longer offered (evicted while idle, then renamed away): reopened where
 * it is now if that is in the directory it was seen in (invariant 8). Its inode under a
 * rotation name but with other first bytes: truncated and rewritten while closed, then
 * rotated; read again from the start (tf_restart keeps the old identity for its copy). */
static bool relocate_closed(tailer *t, tfile *f)
{
    lost_file l = {f->dev, f->ino, 0, 0, 0, 0, false, f->away ? NULL : f->path, f};
    char *path = NULL;
    struct stat st;
    size_t have = 0;
    int fd = relocate(t, f->path, &l, &path, &st, &have);
    if (fd < 0)
        return false;
    const char *slash = strrchr(f->path, '/'), *ps = strrchr(path, '/');
    bool same = have >= f->fp_len && crc32c(0, t->scratch, f->fp_len) == f->fp_crc;
    if (!same && !rotated_name(slash ? slash + 1 : f->path, ps ? ps + 1 : path)) {
        close(fd); /* the inode reused by some other file */
        free(path);
        return false;
    }
    log_debug(t->comp, "%s: renamed away while closed, to %s; reading it to its end", f->path,
              path);
    tf_set_path(f, path);
    free(path);
    if (!same) {
        tf_restart(t, f, "first bytes changed while closed");
        f->fp_len = (uint32_t)have;
        f->fp_crc = crc32c(0, t->scratch, have);
    }
    f->last_size = (uint64_t)st.st_size;
    f->last_mtime_ns = mtime_ns(&st);
    f->away = true;
    tf_room(t);
    tf_attach(t, f, fd);
    return true;
}

/* Pass 2: a file we do not track yet. */
static void scan_new(tailer *t, offer *o, bool exact_only)
{
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) /* not the file's fault: the next scan */
            fd_limit_reached(t);
        else if (errno == EACCES)
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
    uint64_t start = 0, committed = 0, stream_id = 0, alias = 0;
    saved_pos *s = saved_exact(t, dev, ino, have);
    if (s) {
        s->claimed = true;
        log_debug(t->comp, "%s: resumes at %llu (saved as %s)", o->path,
                  (unsigned long long)s->p.offset, s->p.path);
        start = SL_MIN(s->p.offset, size);
        committed = SL_MIN(s->committed, start);
    } else if (exact_only) {
        close(fd);
        return; /* second pass decides */
    } else if (match_copy(t, have, size, &start, &committed, &stream_id, &alias)) {
        log_info(t->comp, "%s: same first bytes as a file already read (copy or rename); "
                 "resuming at offset %llu", o->path, (unsigned long long)start);
    } else if (t->first_start && !t->first_scan_done && t->o.read_from_tail) {
        start = committed = tail_start(t, fd, size);
    }
    o->done = true;
    tfile *f = tf_adopt(t, o->path, fd, &st, have, start, committed, stream_id, false);
    f->seen = true;
    f->alias_key = alias;
}

void tailer_scan_end(tailer *t)
{
    for (size_t i = 0; i < t->noffers; i++)
        t->offers[i].done = scan_known(t, &t->offers[i]);
    /* Exact resumes first, so a copy cannot take a position its original still owns. */
    for (size_t i = 0; i < t->noffers; i++)
        if (!t->offers[i].done)
            scan_new(t, &t->offers[i], true);
    if (!t->first_scan_done)
        relocate_restored(t, false);
    for (size_t i = 0; i < t->noffers; i++)
        if (!t->offers[i].done)
            scan_new(t, &t->offers[i], false);
    if (!t->first_scan_done) {
        relocate_restored(t, true);
        adopt_unknown_rotated(t);
    }

    for (size_t i = t->n; i-- > 0;) {
        tfile *f = t->files[i];
        if (f->seen || f->state == TF_DONE) /* DONE: kept until its lines are committed */
            continue;
        if (f->fd < 0 && !relocate_closed(t, f)) { /* nothing left to read it by */
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
    relocate_ghosts(t); /* a file truncated while closed (scan_known) */
    /* Ghosts, released files and restored positions live until claimed or expired. */
    int64_t now = sl_mono_ms();
    for (size_t i = t->nsaved; i-- > 0;) {
        saved_pos *s = &t->saved[i];
        if (!s->expire_ms)
            s->expire_ms = now + remember_ms(t);
        if (s->claimed || now >= s->expire_ms)
            saved_free(t, i);
    }
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

/* Still f's first bytes? Checked after each read, before its lines go out: a file
 * truncated and written again past read_off between check_file and the read gives new
 * bytes at an old offset, and only the first bytes tell. Bytes read before a check that
 * passes were written before any truncation, so every line sent is the old content's. */
static bool first_bytes_hold(tailer *t, tfile *f)
{
    if (f->fp_len == 0)
        return true;
    size_t have = fp_read(t, f->fd, f->fp_len);
    return have == f->fp_len && crc32c(0, t->scratch, have) == f->fp_crc;
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
        size_t have = fp_read(t, f->fd, size); /* the new first bytes (invariant 1) */
        f->fp_len = (uint32_t)have;
        f->fp_crc = crc32c(0, t->scratch, have);
    } else if (size != f->last_size || mtime_ns(&st) != f->last_mtime_ns ||
               f->fp_len < t->o.fingerprint_bytes) {
        /* Growth or a write: the old first bytes must still be there (else it was truncated
         * and rewritten past our offset, or to the same size, between two looks), and the
         * fingerprint extends. */
        if (size != f->last_size || size > f->fp_len || mtime_ns(&st) != f->last_mtime_ns) {
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
    f->last_mtime_ns = mtime_ns(&st);
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
            ncap = SL_MIN(SL_MAX(ncap, f->blen + TAILER_CHUNK), cap_max);
            if (t->spare && t->spare_cap >= ncap && t->spare_cap <= cap_max) {
                if (f->blen)
                    memcpy(t->spare, f->buf, f->blen);
                free(f->buf);
                f->buf = t->spare;
                f->bcap = t->spare_cap;
                t->spare = NULL;
            } else {
                f->bcap = ncap;
                f->buf = sl_xrealloc(f->buf, f->bcap);
            }
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
        if (!first_bytes_hold(t, f)) {
            /* Truncated and written again past read_off since check_file: these bytes are
             * the new content, not the rest of the old (invariant 4). They are dropped
             * before any line of them goes out, so the old identity's ghost keeps the
             * position of the last line read from the old content. */
            if (t->m)
                metrics_error(t->m, "truncated");
            tf_restart(t, f, "first bytes changed while reading (truncated and rewritten)");
            size_t have = fp_read(t, f->fd, UINT64_MAX);
            f->fp_len = (uint32_t)have;
            f->fp_crc = crc32c(0, t->scratch, have);
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
    if (f->blen == 0 || f->bcap > 2 * f->blen + 4096) {
        char *small = NULL;
        size_t scap = 0;
        if (f->blen) {
            scap = (f->blen + 4095) & ~(size_t)4095;
            small = sl_xmalloc(scap);
            memcpy(small, f->buf, f->blen);
        }
        if (!t->spare && f->bcap <= SPARE_MAX) {
            t->spare = f->buf;
            t->spare_cap = f->bcap;
        } else {
            free(f->buf);
        }
        f->buf = small;
        f->bcap = scap;
    }
    if (delivered && done) {
        tailer_file_info info;
        tf_info(f, &info);
        done(arg, &info);
    }
    return total;
}

/* A DRAINING file at EOF is closed when deleted, replaced at its path, idle long enough,
 * or when another file waits for its fd; an unterminated last line is delivered first (it
 * will never be completed). */
static bool drained(tailer *t, tfile *f, tailer_line_fn fn, tailer_file_done_fn done, void *arg)
{
    if (f->state != TF_DRAINING || !f->at_eof || f->fd < 0)
        return false;
    if (!f->deleted && !f->replaced && !t->starved &&
        sl_mono_ms() - f->last_active_ms < t->o.rotate_wait_ms)
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
    saved_pos *s = saved_push(t);
    s->p.dev = f->dev;
    s->p.ino = f->ino;
    s->p.fp_crc = f->fp_crc;
    s->p.fp_len = f->fp_len;
    s->p.offset = f->read_off;
    s->p.path = sl_xstrdup(f->path);
    s->p.away = f->away;
    s->committed = f->committed;
    s->stream_id = f->stream_id;
    s->expire_ms = sl_mono_ms() + remember_ms(t);
}

/* A drained file: the caller's per-file state goes (close hook), the fd too; the position
 * stays until every line delivered is committed (invariant 5). */
static void tf_finish(tailer *t, tfile *f)
{
    if (t->close_fn) {
        tailer_file_info info;
        tf_info(f, &info);
        t->close_fn(t->close_arg, &info, true);
    }
    tf_close_fd(t, f);
    free(f->buf);
    f->buf = NULL;
    f->blen = f->bcap = 0;
    f->state = TF_DONE; /* away stays: a crash before the commit looks for it again */
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
        tfile *f = t->files[i];
        if (drained(t, f, on_line, on_done, arg))
            tf_finish(t, f);
        /* deleted: nothing to read again, and its inode may soon name another file */
        if (f->state == TF_DONE && (f->committed >= f->line_off || f->deleted)) {
            remember_closed(t, f);
            tf_remove(t, i);
        }
    }
    relocate_ghosts(t);
    t->starved = false;
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
        int klen = 0;
        if (sscanf(e->key, "%" SCNu64 ":%" SCNu64 "%n", &p.dev, &p.ino, &klen) != 2 ||
            sscanf(e->meta, "%" SCNx32 " %" SCNu32 " %n", &p.fp_crc, &p.fp_len, &used) != 2) {
            log_warn(cc->id, "checkpoint entry '%s' not understood; ignored", e->key);
            metrics_error(cc->metrics, "corrupt_checkpoint");
            continue;
        }
        p.offset = e->pos;
        p.path = e->meta + used;
        p.away = strcmp(e->key + klen, ":a") == 0;
        tailer_restore(t, &p);
    }
    if (ckpt_loaded_mtime(ck))
        tailer_set_saved_at(t, ckpt_loaded_mtime(ck));
}

static void ckpt_put_position(void *arg, const tailer_position *p)
{
    sl_ckpt_store *ck = arg;
    char key[64];
    snprintf(key, sizeof key, "%" PRIu64 ":%" PRIu64 "%s", p->dev, p->ino, p->away ? ":a" : "");
    size_t ml = strlen(p->path) + 32;
    char *meta = sl_xmalloc(ml);
    snprintf(meta, ml, "%08" PRIx32 " %" PRIu32 " %s", p->fp_crc, p->fp_len, p->path);
    ckpt_set(ck, key, p->offset, meta);
    free(meta);
}

int tailer_save_checkpoint(tailer *t, sl_ckpt_store *ck, const sl_component_ctx *cc,
                           bool durable)
{
    ckpt_clear(ck);
    tailer_positions(t, ckpt_put_position, ck);
    return ckpt_write_logged(ck, durable, cc->id, cc->metrics);
}
