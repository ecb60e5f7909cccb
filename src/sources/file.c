/* file.c - the `file` source: glob discovery + inotify wake-ups around the tailer, batches
 * of one file's lines, acks turned into checkpoints. The tailer does the file logic.
 * With `multiline:` (tail_ml.h) a file's lines are joined into groups first. The group still
 * open is in no batch, and every event of its file before it ends at or before its first
 * line, so no position passes it; it is sent timeout_ms after its last line (the loop's
 * flush hook) and when its file is drained. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "sources/glob.h"
#include "sources/tail_loop.h"
#include "sources/tail_ml.h"
#include "sources/tailer.h"

typedef struct file_config {
    sl_strlist include, exclude;
    uint64_t max_line_bytes;
    int64_t glob_interval_ms;
    tailer_config tail;
    tail_ml_config ml;
} file_config;

#define O(name, type, field, def, flags, choices, min, max, help) \
    {name, type, offsetof(file_config, field), def, flags, choices, NULL, min, max, help}
static const sl_option file_options[] = {
    O("include", SL_OPT_STRLIST, include, NULL, SL_OPT_REQUIRED, NULL, 0, 0,
      "glob patterns of files to read (*, ?, [...], ** for any depth)"),
    O("exclude", SL_OPT_STRLIST, exclude, NULL, 0, NULL, 0, 0,
      "glob patterns to skip (one without '/' matches the file name; in one with '/', "
      "'*' also crosses '/', as in Fluent Bit's Exclude_Path)"),
    O("max_line_bytes", SL_OPT_SIZE, max_line_bytes, "1MiB", 0, NULL, 16, INT32_MAX,
      "longer lines are emitted in chunks with log.truncated: true"),
    O("glob_interval_ms", SL_OPT_DURATION, glob_interval_ms, "1000", 0, NULL, 10, 3600000,
      "periodic rescan of the include patterns (inotify catches most changes sooner)"),
    TAILER_CONFIG_OPTIONS(file_config, tail),
    TAIL_ML_OPTION(file_config, ml),
    SL_OPT_END,
};
#undef O

typedef struct file_source {
    const file_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    tailer *t;
    sl_ckpt_store *ck;
    int ino_fd;
    bool watch_full_logged;
    /* the batch being filled: lines of one file */
    sl_batch *b;
    uint64_t b_key, b_end;
    sl_str b_path;
    int64_t b_now;
    size_t b_fixed;      /* event_size() of a line's event, less its message */
    uint64_t b_in_bytes; /* input bytes of the batch's lines, counted at flush */
    uint64_t b_in_lines; /* with multiline: lines read since the last flush */
    uint32_t b_last_n;   /* events in the last batch: the next one's array is sized for it */
    bool stopping;
    bool running;        /* until the loop's end: closing a file may still emit */
    bool scanned;        /* the first scan is done (it says when nothing matched) */
    size_t offered;      /* paths the current scan offered the tailer */
    tail_ml *ml;         /* multiline:, NULL when off */
} file_source;

/* Per file with multiline: (the tailer's user slot): its open group, and what an event sent
 * outside its lines (timeout) needs to know of it. */
typedef struct ffile {
    tail_ml_stream ml;
    uint64_t key, stream_id;
    const char *path_seen;
    char *path; /* owned copy of path_seen */
} ffile;

/* ---- Batches ----------------------------------------------------------------------- */

/* Publishes what was read since the last call: once per batch or read pass, not per line.
 * With multiline: lines are counted (a group may still be open), otherwise events. */
static void file_count_received(file_source *s)
{
    uint64_t n = s->ml ? s->b_in_lines : s->b ? s->b->n : 0;
    if (n)
        atomic_fetch_add_explicit(&s->cc->metrics->received_events, n, memory_order_relaxed);
    if (s->b_in_bytes)
        atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, s->b_in_bytes,
                                  memory_order_relaxed);
    s->b_in_lines = 0;
    s->b_in_bytes = 0;
}

static void file_flush(file_source *s)
{
    file_count_received(s);
    if (!s->b)
        return;
    sl_batch *b = s->b;
    s->b = NULL;
    s->b_last_n = b->n;
    b->ack = ack_token_open(source_ledger(s->ctx), s->b_key, s->b_end);
    b->origin = s->cc->id;
    if (source_emit(s->ctx, b) != SL_OK)
        s->stopping = true;
}

/* Appends one event, a line or a group of lines, to the batch of f's lines (flushing the
 * batch of another file or a full one first). ts: 0 = the batch's read time. */
static void file_add(file_source *s, const tailer_file_info *f, const char *data, size_t len,
                     uint64_t offset, uint64_t end, bool truncated, int64_t ts)
{
    if (s->b && (s->b_key != f->key || s->b->n >= (uint32_t)s->cfg->tail.batch_max_events ||
                 s->b->bytes >= s->cfg->tail.batch_max_bytes))
        file_flush(s);
    if (s->stopping)
        return;
    if (!s->b) {
        /* sized as the last batch: a busy file's batches end alike, and an array grown by
         * doubling is copied once or twice per batch */
        uint32_t hint = SL_MAX(s->b_last_n, 256u);
        s->b = batch_new((uint32_t)SL_MIN(s->cfg->tail.batch_max_events, (int64_t)hint));
        s->b_key = f->key;
        s->b_path = batch_str(s->b, f->path, strlen(f->path)); /* once per batch */
        s->b_now = sl_now_ns(); /* read time: one clock read per batch, not per line */
        s->b_fixed = 48 + (16 + 13 + s->b_path.len) + (16 + 10 + 8);
    }
    sl_batch *b = s->b;
    sl_event *e = batch_add(b);
    e->ts_ns = ts ? ts : s->b_now;
    e->message = batch_str(b, data, len);
    e->id_stream = f->stream_id;
    e->id_seq = offset;
    sl_field *fp = event_push_field(b, e, SL_STR("log.file.path"));
    fp->type = SL_VAL_STR;
    fp->v.s = s->b_path;
    sl_field *fo = event_push_field(b, e, SL_STR("log.offset"));
    fo->type = SL_VAL_INT;
    fo->v.i = (int64_t)offset;
    if (truncated) {
        sl_field *fl = event_push_field(b, e, SL_STR("log.truncated"));
        fl->type = SL_VAL_BOOL;
        fl->v.b = true;
    }
    /* event_size(e) without walking the fields: the two fields are the same for every
     * line of the batch, so only the message length varies. */
    b->bytes += s->b_fixed + len;
    if (truncated)
        b->bytes += 16 + 13 + 8;
    if (end > s->b_end || b->n == 1)
        s->b_end = end;
}

/* A group of lines joined by multiline:, sent as one event of its file. */
static void file_ml_emit(void *arg, tail_ml_stream *st, const tail_ml_group *g)
{
    file_source *s = arg;
    ffile *ff = st->owner;
    tailer_file_info fi = {.key = ff->key, .stream_id = ff->stream_id, .path = ff->path};
    file_add(s, &fi, g->text, g->len, g->first_off, g->end, g->cut, g->ts_ns);
}

static void ffile_free(ffile *ff)
{
    if (!ff)
        return;
    tail_ml_forget(&ff->ml);
    free(ff->path);
    free(ff);
}

static bool file_on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    file_source *s = arg;
    if (s->stopping || source_should_stop(s->ctx)) {
        s->stopping = true;
        return false;
    }
    s->b_in_bytes += ln->len + 1;
    if (!s->ml) {
        file_add(s, f, ln->data, ln->len, ln->offset, ln->end, ln->truncated, 0);
        return !s->stopping;
    }
    ffile *ff = *f->user;
    if (SL_UNLIKELY(!ff)) {
        ff = *f->user = sl_xcalloc(1, sizeof *ff);
        ff->ml.owner = ff;
        ff->key = f->key;
    }
    if (SL_UNLIKELY(ff->key != f->key)) { /* truncated: the open group's lines are gone */
        tail_ml_forget(&ff->ml);
        ff->key = f->key;
    }
    if (SL_UNLIKELY(ff->path_seen != f->path)) {
        free(ff->path);
        ff->path = sl_xstrdup(f->path);
        ff->path_seen = f->path;
        ff->stream_id = f->stream_id;
    }
    s->b_in_lines++;
    if (ln->truncated) { /* a chunk of an over-long line cannot join: it ends the group */
        tail_ml_close(s->ml, &ff->ml, file_ml_emit, s);
        file_add(s, f, ln->data, ln->len, ln->offset, ln->end, true, 0);
    } else {
        tail_ml_line(s->ml, &ff->ml, ln->data, ln->len, ln->offset, ln->end, sl_now_ns(),
                     file_ml_emit, s);
    }
    return !s->stopping;
}

/* A file goes away: its open group is sent (drained: it will never continue) with the
 * file's end as position, then the per-file state is freed. */
static void file_on_close(void *arg, const tailer_file_info *f, bool drained)
{
    file_source *s = arg;
    ffile *ff = *f->user;
    if (!ff)
        return;
    if (drained && s->running && !s->stopping && ff->key == f->key) {
        tail_ml_close(s->ml, &ff->ml, file_ml_emit, s);
        file_flush(s);
    }
    ffile_free(ff);
    *f->user = NULL;
}

/* A truncated file: a copy resumes at the first line of its open group (tailer.h). */
static uint64_t file_on_hold(void *arg, const tailer_file_info *f)
{
    ffile *ff = *f->user;
    return ff && ff->key == f->key ? tail_ml_hold(&ff->ml) : UINT64_MAX;
}

static void file_on_done(void *arg, const tailer_file_info *f) { file_flush(arg); }

/* ---- Discovery --------------------------------------------------------------------- */

static void file_offer(void *arg, const char *path)
{
    file_source *s = arg;
    for (size_t i = 0; i < s->cfg->exclude.n; i++)
        if (glob_excludes(s->cfg->exclude.v[i], path))
            return;
    s->offered++;
    tailer_offer(s->t, path);
}

static void file_watch_dir(void *arg, const char *dir)
{
    file_source *s = arg;
    if (s->ino_fd < 0)
        return;
    uint32_t mask = IN_CREATE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE |
                    IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
    if (inotify_add_watch(s->ino_fd, dir, mask) < 0 && errno == ENOSPC && !s->watch_full_logged) {
        s->watch_full_logged = true;
        log_warn(s->cc->id, "inotify watch limit reached at %s; relying on the periodic rescan",
                 dir);
        metrics_error(s->cc->metrics, "inotify_limit");
    }
}

static void file_scan(file_source *s)
{
    s->offered = 0;
    tailer_scan_begin(s->t);
    for (size_t i = 0; i < s->cfg->include.n; i++)
        glob_expand(s->cfg->include.v[i], file_offer, file_watch_dir, s);
    tailer_scan_end(s->t);
    if (!s->scanned && s->offered == 0) /* a typo in a pattern looks like a quiet host */
        log_info(s->cc->id, "no file matches %s%s yet; looking again every %lld ms",
                 s->cfg->include.v[0], s->cfg->include.n > 1 ? " or the other patterns" : "",
                 (long long)s->cfg->glob_interval_ms);
    s->scanned = true;
}

/* True when `pattern` (a relative one from the working directory, where the walk reads
 * it) matches the absolute `path` by `match` (glob_match or glob_excludes). */
static bool pattern_takes(const char *pattern, const char *path,
                          bool (*match)(const char *, const char *))
{
    if (pattern[0] == '/')
        return match(pattern, path);
    char cwd[4096], abs[8192];
    if (!getcwd(cwd, sizeof cwd))
        return false;
    snprintf(abs, sizeof abs, "%s/%s", cwd, pattern);
    return match(abs, path);
}

/* The vtable's `reads`: an include pattern takes the path and no exclude pattern skips it
 * (one without '/' matches the file name, as in file_offer). */
static bool file_reads(const void *config, const char *path)
{
    const file_config *cfg = config;
    bool in = false;
    for (size_t i = 0; i < cfg->include.n && !in; i++)
        in = pattern_takes(cfg->include.v[i], path, glob_match);
    for (size_t i = 0; i < cfg->exclude.n && in; i++) {
        const char *x = cfg->exclude.v[i];
        in = !(strchr(x, '/') ? pattern_takes(x, path, glob_excludes) : glob_match(x, path));
    }
    return in;
}

/* ---- Vtable ------------------------------------------------------------------------ */

static int file_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const file_config *cfg = config;
    if (cfg->include.n == 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "include: at least one pattern needed");
    tail_ml *ml;
    int rc = tail_ml_new(&ml, &cfg->ml, err, errlen);
    if (rc)
        return rc;
    file_source *s = sl_xcalloc(1, sizeof *s);
    s->ml = ml;
    s->cfg = cfg;
    s->cc = cc;
    s->ino_fd = -1;
    tailer_opts o;
    tailer_opts_default(&o);
    tailer_opts_from_config(&o, &cfg->tail);
    o.max_line_bytes = cfg->max_line_bytes;
    s->t = tailer_new(&o, cc->id, cc->metrics);
    if (s->ml) {
        tailer_set_close_hook(s->t, file_on_close, s);
        tailer_set_hold_hook(s->t, file_on_hold, s);
    }
    *self = s;
    return SL_OK;
}

/* Every turn: the batch being filled goes, after the groups whose time is up. */
static void file_flush_hook(void *arg)
{
    file_source *s = arg;
    if (s->ml)
        tail_ml_expire(s->ml, sl_mono_ms(), file_ml_emit, s);
    file_flush(s);
}

static int64_t file_scan_hook(void *arg)
{
    file_source *s = arg;
    file_scan(s);
    return s->cfg->glob_interval_ms;
}

static void file_discard(void *arg)
{
    file_source *s = arg;
    s->running = false; /* from here on, closing files emits nothing */
    if (s->b) {
        batch_release(s->b);
        s->b = NULL;
    }
}

static const tail_loop_ops file_loop_ops = {
    .on_line = file_on_line,
    .on_done = file_on_done,
    .flush = file_flush_hook,
    .scan = file_scan_hook,
    .discard = file_discard,
};

static int file_run(void *self, sl_source_ctx *ctx)
{
    file_source *s = self;
    s->ctx = ctx;
    s->running = true;
    int rc = tail_loop_run(&(tail_loop){
        .t = s->t, .ctx = ctx, .cc = s->cc, .checkpoint_interval_ms = s->cfg->tail.checkpoint_interval_ms,
        .ck = &s->ck, .ino_fd = &s->ino_fd, .stopping = &s->stopping, .ops = &file_loop_ops, .arg = s});
    s->running = false;
    return rc;
}

static void file_destroy(void *self)
{
    file_source *s = self;
    if (!s)
        return;
    s->running = false;
    if (s->b)
        batch_release(s->b);
    tailer_free(s->t); /* the close hook frees every ffile */
    tail_ml_free(s->ml);
    ckpt_close(s->ck);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
    free(s);
}

const sl_source_vtable sl_source_file = {
    .type = "file",
    .help = "Tails files matching glob patterns; survives rotation, truncation and restarts",
    .options = file_options,
    .config_size = sizeof(file_config),
    .init = file_init,
    .run = file_run,
    .destroy = file_destroy,
    .reads = file_reads,
};
