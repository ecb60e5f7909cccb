/* tailer.h - follows many files by identity (dev, inode, fingerprint of the first bytes):
 * reads lines fairly, survives rename and copytruncate rotation, deletion and restarts.
 * Discovery is the caller's (globs for the file source, its own for kubernetes_logs). */
#ifndef SL_TAILER_H
#define SL_TAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/checkpoint.h"
#include "core/component.h"
#include "core/metrics.h"

typedef struct tailer_opts {
    size_t max_line_bytes;    /* longer lines are emitted in chunks, marked truncated */
    size_t fingerprint_bytes; /* identity checksum covers min(size, this) first bytes */
    size_t read_budget_bytes; /* per file per tailer_poll turn (fairness) */
    int64_t rotate_wait_ms;   /* a renamed-away file idle this long is closed */
    int max_open_files;       /* beyond it, idle files are closed and reopened later */
    bool read_from_tail;      /* files present at the first scan of a first start */
} tailer_opts;

void tailer_opts_default(tailer_opts *o);

/* What every tailing source (file, kubernetes_logs) takes from its config in the same
 * words: a source embeds one in its config and lists TAILER_CONFIG_OPTIONS in its table. */
typedef struct tailer_config {
    int read_from; /* index in tailer_read_from_choices: 0 head, 1 tail */
    uint64_t fingerprint_bytes, read_budget_bytes, batch_max_bytes;
    int64_t rotate_wait_ms, checkpoint_interval_ms, batch_max_events, max_open_files;
} tailer_config;

extern const char *const tailer_read_from_choices[]; /* "head", "tail", NULL */

#define TAILER_OPT_(T, m, name, type, field, def, choices, min, max, help)                   \
    {name, type, offsetof(T, m) + offsetof(tailer_config, field), def, 0, choices, NULL, min, \
     max, help}
/* Option-table entries for a tailer_config at member `m` of config struct `T`. */
#define TAILER_CONFIG_OPTIONS(T, m)                                                            \
    TAILER_OPT_(T, m, "read_from", SL_OPT_ENUM, read_from, "head", tailer_read_from_choices,  \
                0, 0, "where files present at the very first start are read from; later "     \
                      "files: head"),                                                          \
    TAILER_OPT_(T, m, "fingerprint_bytes", SL_OPT_SIZE, fingerprint_bytes, "256", NULL, 16,   \
                1 << 20, "first bytes checksummed to recognise a file across rotation and "   \
                         "inode reuse"),                                                       \
    TAILER_OPT_(T, m, "read_budget_bytes", SL_OPT_SIZE, read_budget_bytes, "256KiB", NULL,    \
                4096, 1LL << 32, "bytes read from one file per turn, so a busy file cannot "  \
                                 "starve the others"),                                         \
    TAILER_OPT_(T, m, "rotate_wait_ms", SL_OPT_DURATION, rotate_wait_ms, "5000", NULL, 0,     \
                86400000, "a rotated-away or vanished file that stops growing is closed "     \
                          "after this long"),                                                  \
    TAILER_OPT_(T, m, "checkpoint_interval_ms", SL_OPT_DURATION, checkpoint_interval_ms,      \
                "1000", NULL, 10, 3600000, "how often committed positions are made durable "  \
                "(fsync); they are also written, without fsync, as acknowledgements move "  \
                "them"),                                                                     \
    TAILER_OPT_(T, m, "batch_max_events", SL_OPT_INT, batch_max_events, "1024", NULL, 1,      \
                1 << 20, "events per batch at most"),                                          \
    TAILER_OPT_(T, m, "batch_max_bytes", SL_OPT_SIZE, batch_max_bytes, "1MiB", NULL, 1024,    \
                1LL << 30, "bytes per batch at most"),                                         \
    TAILER_OPT_(T, m, "max_open_files", SL_OPT_INT, max_open_files, "1024", NULL, 1, 1 << 20, \
                "beyond it (or 3/4 of ulimit -n), the least recently active idle files are "       \
                "closed and reopened later")

/* Sets the fields of o that come from c (max_line_bytes stays the caller's). */
void tailer_opts_from_config(tailer_opts *o, const tailer_config *c);

/* One line (or chunk of a long line). Borrowed: valid only during the callback. */
typedef struct tailer_line {
    const char *data;
    size_t len;        /* without '\n' and a trailing '\r' */
    uint64_t offset;   /* byte offset of the line's start */
    uint64_t end;      /* offset just after it: the position to commit once delivered */
    bool truncated;    /* a chunk of a line longer than max_line_bytes */
} tailer_line;

/* What the tailer tells the caller about the file a line comes from. Borrowed. */
typedef struct tailer_file_info {
    uint64_t key;       /* ack key: stable while the process runs (changes on truncation) */
    uint64_t stream_id; /* hash of (dev, inode, fingerprint of the first line); a copy found
                           while running (copytruncate) keeps its original's */
    const char *path;   /* last path the file was seen at */
    void **user;        /* the caller's per-file slot (NULL at first); the caller owns what it
                           stores there and frees it in its close hook */
} tailer_file_info;

/* Per-line callback. Return false to stop reading now (e.g. shutting down); the line is
 * then not consumed and comes again at the next poll. */
typedef bool (*tailer_line_fn)(void *arg, const tailer_file_info *f, const tailer_line *ln);
/* Called after each file's turn in tailer_poll when at least one line was delivered
 * (the file source flushes its batch here: one batch holds lines of one file). */
typedef void (*tailer_file_done_fn)(void *arg, const tailer_file_info *f);

typedef struct tailer tailer;

/* `component` names log lines; m may be NULL. Strings are borrowed for the tailer's life. */
tailer *tailer_new(const tailer_opts *o, const char *component, sl_metrics *m);
/* Closes every fd; pending positions are forgotten (persist them first). */
void tailer_free(tailer *t);

/* Optional: called when a file's record goes away. `drained` is true when it was read to
 * its end (rotated away or deleted, from inside tailer_poll: the hook may still deliver
 * what it held back, e.g. an unfinished partial line), false when it is merely forgotten
 * (no longer found while closed, inode reused, tailer_free). Frees *f->user. */
typedef void (*tailer_close_fn)(void *arg, const tailer_file_info *f, bool drained);
void tailer_set_close_hook(tailer *t, tailer_close_fn fn, void *arg);

/* Optional: asked when a file turns out truncated: the lowest offset (a line start) whose
 * lines the caller has taken but not finished with (e.g. parts of a message being joined),
 * or UINT64_MAX. A copy made by copytruncate then resumes there, not after those lines. */
typedef uint64_t (*tailer_hold_fn)(void *arg, const tailer_file_info *f);
void tailer_set_hold_hook(tailer *t, tailer_hold_fn fn, void *arg);

/* ---- Positions (checkpoints) ----
 * A saved position, as the file source stores it. `fp_len` bytes starting the file had
 * CRC-32C `fp_crc`; `offset` was committed. */
typedef struct tailer_position {
    uint64_t dev, ino;
    uint32_t fp_crc, fp_len;
    uint64_t offset;
    const char *path; /* where it was last seen: the directory restore looks in */
    bool away;        /* read outside discovery (found again after it left it): not being
                         offered at `path` does not mean it is excluded */
} tailer_position;

/* Before the first scan: a position to resume from. A file found later with the same
 * (dev, inode) and fingerprint resumes there, whatever its path; failing that, a new file
 * whose first fp_len bytes have that checksum (a copytruncate copy) resumes there. At the
 * end of the first scan, a position no offer claimed is looked for in the directory of its
 * path (renamed out of the patterns while stopped or just before a crash): found there
 * with more bytes than `offset`, the file is read to its end and released. Positions
 * still unclaimed are kept a minute (in tailer_positions too), then dropped. */
void tailer_restore(tailer *t, const tailer_position *p);
/* Optional, before the first scan: the wall-clock time (ns) the restored positions were
 * saved at. Rotation names of a restored file's name (base.1, base-20240101, ...) that no
 * position knows, written after that time (less a second), are files created and rotated
 * out of the patterns after the last checkpoint: they are read from their start. */
void tailer_set_saved_at(tailer *t, int64_t realtime_ns);
/* Marks this as the very first start (no checkpoint existed): read_from_tail applies to
 * the files of the first scan only. */
void tailer_set_first_start(tailer *t, bool first);
/* Calls fn with the committed position of every file worth remembering: those tracked
 * (a drained file until all it delivered is committed), and, for a minute, the end of
 * those released and the restored positions no file claimed. */
void tailer_positions(tailer *t, void (*fn)(void *arg, const tailer_position *p), void *arg);

/* Acks: `key` and `value` as carried by tailer_file_info.key / tailer_line.end. Stale keys
 * (file gone, or truncated since) are ignored. */
void tailer_commit(tailer *t, uint64_t key, uint64_t value);

/* ---- Discovery ----
 * A scan is begin, one offer per path that currently matches, end. Files not offered
 * have been renamed away or deleted: they are drained, then closed. */
void tailer_scan_begin(tailer *t);
void tailer_offer(tailer *t, const char *path);
/* A path the caller's discovery skips for a fault of outside input (a directory link that
 * cannot be followed): between scan begin and end, logged as "skipping <path>: <what>" and
 * counted as error `reason` once per path until a scan no longer reports it (as the
 * tailer's own problems, invariant 7). */
void tailer_skip(tailer *t, const char *path, const char *reason, const char *what);
void tailer_scan_end(tailer *t);

/* ---- Reading ----
 * One turn: every open file gets up to read_budget_bytes, in rotating order. Also
 * detects truncation, deletion and closes drained files. Returns the bytes read; the
 * caller sleeps (inotify, timer) when it returns 0. */
size_t tailer_poll(tailer *t, tailer_line_fn on_line, tailer_file_done_fn on_done, void *arg);

/* True if the file (dev, inode) is tracked now (a discovery that defers new files, e.g.
 * copies still being written, must not defer the ones it already follows). */
bool tailer_tracks(const tailer *t, uint64_t dev, uint64_t ino);

/* Files tracked (open or waiting to be reopened), and of those open. */
size_t tailer_count(const tailer *t);
size_t tailer_open_count(const tailer *t);

/* ---- Checkpoints ----
 * The checkpoint entries of a tailing source: key "dev:ino" (":a" appended when away),
 * meta "fpcrc fplen path", position = committed offset; the loaded copy's mtime is taken
 * as tailer_set_saved_at. Load restores every entry into the tailer (a malformed one
 * is logged, counted as corrupt_checkpoint and skipped); save replaces the store's entries
 * with the tailer's committed positions and writes it (ckpt_write: durable or the live copy),
 * reporting a failure in the log, the metrics and the component's state. Both are called
 * from the source's own thread. */
void tailer_load_checkpoint(tailer *t, sl_ckpt_store *ck, const sl_component_ctx *cc);
int tailer_save_checkpoint(tailer *t, sl_ckpt_store *ck, const sl_component_ctx *cc,
                           bool durable);

#endif
