/* journald.c - the `journald` source: entries of the systemd journal through libsystemd's
 * sd-journal, the system journal or the journal files of one directory.
 *
 * Notes on the design
 *  1. Position: the sd-journal cursor of an entry. Each batch opens one ack token whose value
 *     is the batch's number; the cursor of the batch's last entry waits in a FIFO (`pend`)
 *     until the ledger commits that number, and only then becomes the checkpoint (key
 *     "cursor", pos = the entry's sequence number, meta = the cursor). So the checkpoint
 *     never passes an entry some sink has not delivered or durably buffered.
 *  2. Start: with a checkpointed cursor, sd_journal_seek_cursor and the entry at the cursor is
 *     skipped when it is still there (sd_journal_test_cursor). Whether it is still there is
 *     asked before the matches are added, so a changed filter does not read as a vacuumed
 *     journal. A cursor no longer in the journal (vacuumed, rotated away, another machine's
 *     journal) or not a cursor at all: warned, counted (cursor_not_found), read from the
 *     head. Without a cursor: read_from, on the first start only (a checkpoint file exists
 *     afterwards; a later start without a cursor saw no entry yet and reads from the head).
 *     read_from: tail checkpoints the last entry at once, so a restart resumes from there;
 *     with none (no file yet, or none the filters match) it reads from the head, where
 *     everything is new.
 *  3. Filters are sd-journal matches: values of one field are OR'ed, fields AND'ed;
 *     current_boot_only adds a _BOOT_ID match. `units` take a unit's entries as
 *     `journalctl -u` gathers them (add_unit): its own (_SYSTEMD_UNIT), its core dumps,
 *     systemd's lines about it (_PID=1 with UNIT: "Main process exited, status=1/FAILURE")
 *     and root daemons' naming it (OBJECT_SYSTEMD_UNIT); units are OR'ed, and the rest is
 *     AND'ed with them.
 *  4. Waiting: poll on sd_journal_get_fd and the stop fd, then sd_journal_process (it also
 *     picks up new files in the directory). Batches are bounded; source_emit blocks while a
 *     downstream buffer is full, and nothing more is read meanwhile (backpressure).
 *  5. Files sd-journal cannot open (corrupt, truncated) are skipped by it silently; the
 *     directory is listed at start and whenever sd-journal sees files come or go, each new
 *     file opened once on its own to warn and count (corrupt_journal_file).
 *  6. Event: message = MESSAGE (bytes as stored), ts = _SOURCE_REALTIME_TIMESTAMP, else the
 *     entry's realtime; severity from PRIORITY; every field kept under its journal name
 *     (keep_trusted_fields: false drops the '_' ones); id = (hash of the cursor's seqnum id,
 *     sequence number), the same on every read of the entry. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-id128.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/common.h"
#include "core/component.h"
#include "core/lazylib.h"
#include "core/log.h"
#include "formats/journald.h"

enum { FROM_HEAD = 0, FROM_TAIL };
static const char *const from_choices[] = {"head", "tail", NULL};

typedef struct jd_config {
    char *directory;
    sl_strlist units;
    sl_strmap matches;
    int read_from;
    bool current_boot_only, keep_trusted_fields;
    int64_t batch_max_events, checkpoint_interval_ms;
    uint64_t batch_max_bytes, max_field_bytes;
} jd_config;

#define O(name, type, field, def, min, max, help) \
    {name, type, offsetof(jd_config, field), def, 0, NULL, NULL, min, max, help}
static const sl_option jd_options[] = {
    O("directory", SL_OPT_STR, directory, NULL, 0, 0,
      "read the journal files of this directory instead of the system journal"),
    O("units", SL_OPT_STRLIST, units, NULL, 0, 0,
      "only entries of these systemd units, as journalctl -u gathers them (the unit's own, its "
      "core dumps, systemd's lines about it; .service added without a suffix)"),
    {"matches", SL_OPT_STRMAP, offsetof(jd_config, matches), NULL, SL_OPT_MULTI, NULL, NULL, 0,
     0, "field: value or [values]; values of a field OR'ed, fields AND'ed"},
    {"read_from", SL_OPT_ENUM, offsetof(jd_config, read_from), "head", 0, from_choices, NULL, 0,
     0, "first start only: the oldest entry or only new ones; later starts resume at the cursor"},
    O("current_boot_only", SL_OPT_BOOL, current_boot_only, "false", 0, 0,
      "only entries of this machine's current boot (_BOOT_ID)"),
    O("keep_trusted_fields", SL_OPT_BOOL, keep_trusted_fields, "true", 0, 0,
      "keep the fields journald adds itself (names starting with '_')"),
    O("batch_max_events", SL_OPT_INT, batch_max_events, "1000", 1, 1000000, "entries per batch"),
    O("batch_max_bytes", SL_OPT_SIZE, batch_max_bytes, "1MiB", 1024, INT32_MAX,
      "bytes per batch (fields and message)"),
    O("max_field_bytes", SL_OPT_SIZE, max_field_bytes, "1MiB", 64, INT32_MAX,
      "fields longer than this may be cut by libsystemd (sd_journal_set_data_threshold)"),
    O("checkpoint_interval_ms", SL_OPT_DURATION, checkpoint_interval_ms, "1000", 10, 3600000,
      "how often the cursor is written durably (a live copy follows every commit)"),
    SL_OPT_END,
};
#undef O

/* A batch sent, waiting for its ack (note 1). */
typedef struct jd_pending {
    uint64_t n;     /* batch number = token value */
    uint64_t seq;   /* sequence number of its last entry */
    char *cursor;   /* owned: its last entry's cursor */
} jd_pending;

typedef struct jd_source {
    const jd_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    sd_journal *j;
    sl_ckpt_store *ck;
    jd_pending *pend;
    size_t pend_head, pend_n, pend_cap; /* ring */
    uint64_t batches;
    bool skip_cursor;      /* the next entry is the checkpointed one: drop it if it is (note 2) */
    char *start_cursor;    /* owned: the checkpointed cursor at start */
    bool moved;            /* committed cursor changed since the last write */
    bool stopping;
    /* directory files already checked (note 5) */
    char **seen;
    size_t nseen, capseen;
    /* status API */
    pthread_mutex_t lock;
    char *committed;       /* owned: the committed cursor, NULL before any */
    uint64_t committed_seq;
    size_t files_ok, files_bad;
} jd_source;

/* ---- Acks and checkpoints ------------------------------------------------------------- */

static void jd_commit(void *arg, uint64_t key, uint64_t value)
{
    jd_source *s = arg;
    while (s->pend_n) {
        jd_pending *p = &s->pend[s->pend_head];
        s->pend_head = (s->pend_head + 1) % s->pend_cap;
        s->pend_n--;
        if (p->n != value) { /* never: tokens commit in order, one per batch */
            free(p->cursor);
            continue;
        }
        ckpt_set(s->ck, "cursor", p->seq, p->cursor);
        pthread_mutex_lock(&s->lock);
        free(s->committed);
        s->committed = p->cursor;
        s->committed_seq = p->seq;
        pthread_mutex_unlock(&s->lock);
        s->moved = true;
        return;
    }
}

static void pend_push(jd_source *s, uint64_t n, uint64_t seq, char *cursor)
{
    if (s->pend_n == s->pend_cap) {
        size_t cap = s->pend_cap ? s->pend_cap * 2 : 64;
        jd_pending *v = sl_xcalloc(cap, sizeof *v);
        for (size_t i = 0; i < s->pend_n; i++)
            v[i] = s->pend[(s->pend_head + i) % s->pend_cap];
        free(s->pend);
        s->pend = v;
        s->pend_cap = cap;
        s->pend_head = 0;
    }
    s->pend[(s->pend_head + s->pend_n++) % s->pend_cap] = (jd_pending){n, seq, cursor};
}

static void save(jd_source *s, bool durable)
{
    ckpt_write_logged(s->ck, durable, s->cc->id, s->cc->metrics);
    s->moved = false;
}

/* ---- Files of the directory (note 5) -------------------------------------------------- */

static bool is_journal_name(const char *n)
{
    size_t l = strlen(n);
    return (l > 8 && strcmp(n + l - 8, ".journal") == 0) ||
           (l > 9 && strcmp(n + l - 9, ".journal~") == 0);
}

static bool is_machine_id(const char *n)
{
    size_t i = 0;
    for (; n[i]; i++)
        if (!((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
            return false;
    return i == 32;
}

/* Checks the journal files of dir (and, as sd-journal reads them, of its <machine-id>
 * subdirectories, as in /var/log/journal); returns how many there are. */
static size_t check_dir(jd_source *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t total = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (depth == 0 && is_machine_id(de->d_name)) {
            total += check_dir(s, path, 1);
            continue;
        }
        if (!is_journal_name(de->d_name))
            continue;
        total++;
        bool known = false;
        for (size_t i = 0; i < s->nseen && !known; i++)
            known = strcmp(s->seen[i], path) == 0;
        if (known)
            continue;
        if (s->nseen == s->capseen) {
            s->capseen = s->capseen ? s->capseen * 2 : 16;
            s->seen = sl_xrealloc(s->seen, s->capseen * sizeof *s->seen);
        }
        s->seen[s->nseen++] = sl_xstrdup(path);
        const char *paths[2] = {path, NULL};
        sd_journal *one = NULL;
        int r = sd_journal_open_files(&one, paths, 0);
        if (r >= 0) { /* opened; a file with a broken header is refused here */
            r = sd_journal_seek_head(one);
            if (r >= 0)
                r = sd_journal_next(one);
        }
        sd_journal_close(one);
        pthread_mutex_lock(&s->lock);
        if (r < 0)
            s->files_bad++;
        else
            s->files_ok++;
        pthread_mutex_unlock(&s->lock);
        if (r < 0) {
            log_warn(s->cc->id, "journal file %s cannot be read (%s); skipped", path,
                     strerror(-r));
            metrics_error(s->cc->metrics, "corrupt_journal_file");
        }
    }
    closedir(d);
    return total;
}

static void check_files(jd_source *s)
{
    if (!s->cfg->directory)
        return;
    if (check_dir(s, s->cfg->directory, 0) == 0 && s->nseen == 0)
        log_warn(s->cc->id, "no journal files in %s yet (*.journal); waiting for some",
                 s->cfg->directory);
}

/* ---- Opening and positioning (notes 2, 3) --------------------------------------------- */

/* Note 3: the terms of one unit U, OR'ed: each is a match on U and the fields beside it. */
static int add_unit(sd_journal *j, const char *unit)
{
    static const char *const terms[][3] = {
        {"_SYSTEMD_UNIT=", NULL, NULL},                                          /* its own */
        {"COREDUMP_UNIT=", "MESSAGE_ID=fc2e22bc6ee647b6b90729ab34a250b1", "_UID=0"}, /* dumps */
        {"UNIT=", "_PID=1", NULL},                                               /* systemd's */
        {"OBJECT_SYSTEMD_UNIT=", "_UID=0", NULL},                                /* root's */
    };
    char m[512];
    int r = 0;
    for (size_t t = 0; t < SL_ARRAY_LEN(terms) && r >= 0; t++) {
        if (t && (r = sd_journal_add_disjunction(j)) < 0)
            break;
        snprintf(m, sizeof m, "%s%s", terms[t][0], unit);
        r = sd_journal_add_match(j, m, 0);
        for (size_t k = 1; k < 3 && terms[t][k] && r >= 0; k++)
            r = sd_journal_add_match(j, terms[t][k], 0);
    }
    return r;
}

static int add_matches(jd_source *s, char *err, size_t errlen)
{
    const jd_config *c = s->cfg;
    char m[512];
    int r;
    for (size_t i = 0; i < c->units.n; i++) {
        if (journald_unit_match(c->units.v[i], m, sizeof m) < 0 || strlen(m) > 300)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "units: bad unit name '%s'",
                             c->units.v[i]);
        const char *unit = m + strlen("_SYSTEMD_UNIT=");
        if ((i && (r = sd_journal_add_disjunction(s->j)) < 0) || (r = add_unit(s->j, unit)) < 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "units: %s: %s", unit, strerror(-r));
    }
    if (c->units.n && (c->matches.n || c->current_boot_only) &&
        (r = sd_journal_add_conjunction(s->j)) < 0)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "units: %s", strerror(-r));
    for (size_t i = 0; i < c->matches.n; i++) {
        int n = snprintf(m, sizeof m, "%s=%s", c->matches.keys[i], c->matches.vals[i]);
        if (n < 0 || (size_t)n >= sizeof m)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "matches.%s: value too long",
                             c->matches.keys[i]);
        if ((r = sd_journal_add_match(s->j, m, (size_t)n)) < 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "matches.%s: %s", c->matches.keys[i],
                             strerror(-r));
    }
    if (c->current_boot_only) {
        sd_id128_t boot;
        if ((r = sd_id128_get_boot(&boot)) < 0)
            return sl_seterr(err, errlen, SL_ERR_IO, "current_boot_only: no boot id: %s",
                             strerror(-r));
        char bs[SD_ID128_STRING_MAX];
        int n = snprintf(m, sizeof m, "_BOOT_ID=%s", sd_id128_to_string(boot, bs));
        if ((r = sd_journal_add_match(s->j, m, (size_t)n)) < 0)
            return sl_seterr(err, errlen, SL_ERR_IO, "_BOOT_ID match: %s", strerror(-r));
    }
    return SL_OK;
}

/* Is the cursor's entry still in the journal? Asked before any match is added. */
static bool cursor_exists(sd_journal *j, const char *cursor)
{
    if (sd_journal_seek_cursor(j, cursor) < 0)
        return false;
    if (sd_journal_next(j) <= 0)
        return false;
    return sd_journal_test_cursor(j, cursor) > 0;
}

static int jd_open(jd_source *s, char *err, size_t errlen)
{
    const jd_config *c = s->cfg;
    int r;
    if (c->directory)
        r = sd_journal_open_directory(&s->j, c->directory, 0);
    else
        r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "cannot open the journal%s%s: %s",
                         c->directory ? " in " : "", c->directory ? c->directory : "",
                         strerror(-r));
    sd_journal_set_data_threshold(s->j, (size_t)c->max_field_bytes);
    check_files(s);
    /* In a container without the host's journal mounted, the system journal opens with no
     * file at all: said, or the source reads nothing and nothing says why. */
    if (!c->directory && sd_journal_has_runtime_files(s->j) == 0 &&
        sd_journal_has_persistent_files(s->j) == 0) {
        log_warn(s->cc->id, "no journal files in /run/log/journal or /var/log/journal: nothing "
                 "to read yet (in a container, mount the host's journal there, or give "
                 "directory:)");
        metrics_error(s->cc->metrics, "no_journal_files");
    }

    const sl_ckpt_entry *ce = ckpt_get(s->ck, "cursor");
    bool first = !ckpt_existed(s->ck);
    if (ce && *ce->meta) {
        s->start_cursor = sl_xstrdup(ce->meta);
        if (!cursor_exists(s->j, s->start_cursor)) {
            log_warn(s->cc->id,
                     "checkpointed cursor %s is not in the journal (vacuumed or rotated "
                     "away?); reading from the oldest entry",
                     s->start_cursor);
            metrics_error(s->cc->metrics, "cursor_not_found");
            free(s->start_cursor);
            s->start_cursor = NULL;
        } else {
            pthread_mutex_lock(&s->lock);
            s->committed = sl_xstrdup(s->start_cursor);
            s->committed_seq = ce->pos;
            pthread_mutex_unlock(&s->lock);
        }
    }
    int rc = add_matches(s, err, errlen);
    if (rc != SL_OK)
        return rc;
    if (s->start_cursor) {
        sd_journal_seek_cursor(s->j, s->start_cursor);
        s->skip_cursor = true;
        log_info(s->cc->id, "resuming after cursor %s", s->start_cursor);
        return SL_OK;
    }
    if (!(first && c->read_from == FROM_TAIL)) {
        sd_journal_seek_head(s->j);
        return SL_OK;
    }
    /* read_from: tail: stand on the last entry and checkpoint it, so a restart resumes there.
     * With no entry to stand on (no file yet, or none the filters match), every entry that
     * comes is new: from the head. After seek_tail alone, sd-journal hands over only the last
     * entry of a file that appears, or of a first batch of matching ones. */
    sd_journal_seek_tail(s->j);
    if (sd_journal_previous(s->j) <= 0) {
        sd_journal_seek_head(s->j);
    } else {
        char *cur = NULL;
        if (sd_journal_get_cursor(s->j, &cur) >= 0) {
            uint64_t st, seq;
            journald_cursor_id(cur, &st, &seq);
            ckpt_set(s->ck, "cursor", seq, cur);
            pthread_mutex_lock(&s->lock);
            s->committed = cur;
            s->committed_seq = seq;
            pthread_mutex_unlock(&s->lock);
        }
    }
    return SL_OK;
}

/* ---- Reading ---------------------------------------------------------------------------- */

static sl_str arena_copy(sl_batch *b, const char *p, size_t n)
{
    return batch_str(b, p, n);
}

/* The current entry as an event of b; its cursor (owned) in *cursor. False when the entry
 * cannot be read (counted) and is skipped. */
static bool add_entry(jd_source *s, sl_batch *b, char **cursor, uint64_t *seq_out,
                      uint64_t *in_bytes)
{
    char *cur = NULL;
    int r = sd_journal_get_cursor(s->j, &cur);
    if (r < 0) {
        metrics_error(s->cc->metrics, "read_error");
        return false;
    }
    uint64_t stream, seq;
    journald_cursor_id(cur, &stream, &seq);
    sl_event *e = batch_add(b);
    e->id_stream = stream;
    e->id_seq = seq;
    e->cap_fields = 24;
    e->fields = arena_alloc(&b->arena, e->cap_fields * sizeof(sl_field));
    int64_t ts = 0;
    bool have_src_ts = false;
    size_t bytes = 48;
    const void *d;
    size_t l;
    sd_journal_restart_data(s->j);
    while ((r = sd_journal_enumerate_available_data(s->j, &d, &l)) > 0) {
        long kl = journald_field_key_len(d, l);
        if (kl < 0)
            continue;
        const char *k = d, *v = k + kl + 1;
        size_t vl = l - (size_t)kl - 1;
        *in_bytes += l;
        if (kl == 7 && memcmp(k, "MESSAGE", 7) == 0) {
            e->message = arena_copy(b, v, vl);
            bytes += vl;
            continue;
        }
        if (kl == 8 && memcmp(k, "PRIORITY", 8) == 0) {
            const char *sev = journald_severity(v, vl);
            if (sev) {
                sl_field *f = event_push_field(b, e, SL_STR("severity"));
                f->type = SL_VAL_STR;
                f->v.s = (sl_str){sev, (uint32_t)strlen(sev)};
            }
        }
        if (kl == 26 && memcmp(k, "_SOURCE_REALTIME_TIMESTAMP", 26) == 0)
            have_src_ts = journald_parse_usec(v, vl, &ts);
        if (k[0] == '_' && !s->cfg->keep_trusted_fields)
            continue;
        sl_field *f = event_push_field(b, e, arena_copy(b, k, (size_t)kl));
        f->type = SL_VAL_STR;
        f->v.s = arena_copy(b, v, vl);
        bytes += 24 + (size_t)kl + vl;
    }
    if (r < 0)
        metrics_error(s->cc->metrics, "read_error");
    if (!have_src_ts) {
        uint64_t us;
        ts = sd_journal_get_realtime_usec(s->j, &us) >= 0 && us <= (uint64_t)INT64_MAX / 1000
                 ? (int64_t)us * 1000
                 : sl_now_ns();
    }
    e->ts_ns = ts;
    b->bytes += bytes;
    *cursor = cur;
    *seq_out = seq;
    return true;
}

/* Reads up to one batch and emits it. Returns the entries read (0: none available). */
static size_t read_batch(jd_source *s)
{
    sl_batch *b = NULL;
    char *last = NULL;
    uint64_t last_seq = 0, in_bytes = 0;
    size_t n = 0;
    while (n < (size_t)s->cfg->batch_max_events &&
           (!b || b->bytes < s->cfg->batch_max_bytes)) {
        int r = sd_journal_next(s->j);
        if (r < 0) {
            log_warn(s->cc->id, "reading the journal: %s", strerror(-r));
            metrics_error(s->cc->metrics, "read_error");
            break;
        }
        if (r == 0)
            break;
        if (s->skip_cursor) {
            s->skip_cursor = false;
            if (sd_journal_test_cursor(s->j, s->start_cursor) > 0)
                continue; /* delivered before the restart */
        }
        if (!b)
            b = batch_new((uint32_t)SL_MIN(s->cfg->batch_max_events, 256));
        char *cur;
        uint64_t seq;
        if (!add_entry(s, b, &cur, &seq, &in_bytes))
            continue;
        free(last);
        last = cur;
        last_seq = seq;
        n++;
    }
    if (!b)
        return 0;
    if (b->n == 0) {
        batch_release(b);
        free(last);
        return 0;
    }
    uint64_t no = ++s->batches;
    pend_push(s, no, last_seq, last);
    b->ack = ack_token_open(source_ledger(s->ctx), 0, no);
    b->origin = s->cc->id;
    atomic_fetch_add_explicit(&s->cc->metrics->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->cc->metrics->received_bytes, in_bytes, memory_order_relaxed);
    if (source_emit(s->ctx, b) != SL_OK)
        s->stopping = true;
    return n;
}

/* ---- Vtable ----------------------------------------------------------------------------- */

static int jd_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                   size_t errlen)
{
    const jd_config *cfg = config;
    char m[512];
    for (size_t i = 0; i < cfg->units.n; i++)
        if (journald_unit_match(cfg->units.v[i], m, sizeof m) < 0)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "units: bad unit name '%s'",
                             cfg->units.v[i]);
    for (size_t i = 0; i < cfg->matches.n; i++)
        if (!journald_field_name_ok(cfg->matches.keys[i]))
            return sl_seterr(err, errlen, SL_ERR_CONFIG,
                             "matches: '%s' is not a journal field name (A-Z, 0-9, _)",
                             cfg->matches.keys[i]);
    if (cfg->directory && !*cfg->directory)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "directory: empty");
    /* libsystemd is loaded here, not linked (systemd_lazy.c) */
    char e2[300];
    if (lazylib_load(&lazy_systemd, e2, sizeof e2) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_NOTFOUND, "needs libsystemd: %s", e2);
    jd_source *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    pthread_mutex_init(&s->lock, NULL);
    *self = s;
    return SL_OK;
}

static int jd_run(void *self, sl_source_ctx *ctx)
{
    jd_source *s = self;
    const sl_component_ctx *cc = s->cc;
    s->ctx = ctx;
    char err[512];
    int rc = ckpt_open(&s->ck, cc->data_dir, cc->id, cc->metrics, err, sizeof err);
    if (rc != SL_OK) {
        log_error(cc->id, "%s", err);
        return rc;
    }
    if ((rc = jd_open(s, err, sizeof err)) != SL_OK) {
        log_error(cc->id, "%s", err);
        metrics_set_state(cc->metrics, "open_failed");
        return rc;
    }
    save(s, true); /* from now on a checkpoint exists: read_from applies no more */
    int fd = sd_journal_get_fd(s->j);
    if (fd < 0)
        log_warn(cc->id, "no journal change notification (%s); polling", strerror(-fd));
    int events = fd >= 0 ? sd_journal_get_events(s->j) : 0;
    sl_ckpt_pace pace;
    ckpt_pace_init(&pace, s->cfg->checkpoint_interval_ms, sl_mono_ms());
    while (!s->stopping && !source_should_stop(ctx)) {
        ckpt_pace_committed(&pace, source_collect_acks(ctx, jd_commit, s));
        size_t n = read_batch(s);
        ckpt_pace_committed(&pace, source_collect_acks(ctx, jd_commit, s));
        int64_t now = sl_mono_ms();
        int due = ckpt_pace_due(&pace, now);
        if (due != SL_CKPT_NONE) {
            if (s->moved || due == SL_CKPT_DURABLE)
                save(s, due == SL_CKPT_DURABLE);
            ckpt_pace_written(&pace, due, now);
        }
        if (n > 0)
            continue;
        /* Idle: wait for the journal, stop, the next checkpoint write, or 250 ms; 5 ms while
         * batches are out so their acks are collected soon after they come. */
        int64_t until = SL_MIN(250, ckpt_pace_wait(&pace, now));
        if (ack_ledger_pending(source_ledger(ctx)) > 0)
            until = SL_MIN(until, 5);
        uint64_t jt;
        if (fd >= 0 && sd_journal_get_timeout(s->j, &jt) >= 0 && jt != UINT64_MAX) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t nowus = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
            until = SL_MIN(until, jt > nowus ? (int64_t)((jt - nowus + 999) / 1000) : 0);
        }
        struct pollfd pf[2] = {{.fd = source_stop_fd(ctx), .events = POLLIN},
                               {.fd = fd, .events = (short)events}};
        poll(pf, fd >= 0 ? 2 : 1, (int)SL_MAX(0, until));
        int pr = sd_journal_process(s->j);
        if (pr == SD_JOURNAL_INVALIDATE)
            check_files(s);
    }
    size_t left = source_drain_acks(ctx, jd_commit, s);
    if (left)
        log_warn(cc->id, "%zu batches not acknowledged at shutdown; they will be read again",
                 left);
    save(s, true);
    return SL_OK;
}

static void jd_status_json(void *self, sl_buf *out)
{
    jd_source *s = self;
    pthread_mutex_lock(&s->lock);
    buf_printf(out, ",\"journal_files\":%zu,\"bad_journal_files\":%zu,\"cursor_seq\":%" PRIu64,
               s->files_ok, s->files_bad, s->committed_seq);
    buf_puts(out, ",\"cursor\":");
    if (s->committed) /* cursors are [0-9a-z=;] only */
        buf_printf(out, "\"%s\"", s->committed);
    else
        buf_puts(out, "null");
    pthread_mutex_unlock(&s->lock);
}

static void jd_destroy(void *self)
{
    jd_source *s = self;
    if (!s)
        return;
    for (size_t i = 0; i < s->pend_n; i++)
        free(s->pend[(s->pend_head + i) % s->pend_cap].cursor);
    free(s->pend);
    for (size_t i = 0; i < s->nseen; i++)
        free(s->seen[i]);
    free(s->seen);
    free(s->start_cursor);
    free(s->committed);
    if (s->j)
        sd_journal_close(s->j);
    ckpt_close(s->ck);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

const sl_source_vtable sl_source_journald = {
    .type = "journald",
    .help = "systemd journal entries (sd-journal), filtered by unit and field, resumed by cursor",
    .options = jd_options,
    .config_size = sizeof(jd_config),
    .init = jd_init,
    .run = jd_run,
    .destroy = jd_destroy,
    .status_json = jd_status_json,
};
