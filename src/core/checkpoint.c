/* checkpoint.c - persisted source positions: a checksummed text file per source, replaced
 * atomically, locked while the source runs, and the `sluice checkpoints` command.
 *
 * Notes on the design
 * -------------------
 * File format (text, so an operator can read it):
 *
 *     # sluice checkpoint v2 <generation>
 *     <key> <pos> <meta>            one line per entry
 *     crc32c <8 hex digits>         CRC-32C of every byte before this line
 *
 * key and meta are escaped: bytes <= 0x20, '%' and 0x7f become %XX; an empty meta is "-"
 * (a literal "-" is written %2D). A v1 file (header "# sluice checkpoint v1", no
 * generation) is read as generation 0.
 *
 * Two copies: positions follow acknowledgements, so they are written often, and two
 * kinds of write share the work:
 *   - <id>.ckpt.live: written by write + rename, no fsync (ckpt_write, durable false) as
 *     soon as positions move (paced by sl_ckpt_pace): a rename is atomic for the running
 *     system, so kill -9 at any instant leaves the old or the new copy; it costs no flush.
 *   - <id>.ckpt: temp, fsync, rename, fsync dir (durable true) every checkpoint interval
 *     and at shutdown: after a power loss this one holds. Its mtime dates the positions
 *     (the file source's rotation-across-a-crash rule, tailer.c), so entries that have not
 *     changed are still written until the copy is CKPT_SETTLE_MS younger than the change;
 *     after that a durable write of the same entries is skipped, and an idle source
 *     writes nothing.
 * Every write carries a generation one above the last; ckpt_open loads the valid copy
 * with the higher generation. A live copy damaged by a power loss (it was never flushed)
 * fails its checksum and the durable copy is used.
 *
 * Invariants:
 *  1. Each file on disk is always a complete, checksummed version: it is only ever replaced
 *     by a rename of a complete temp file, so a crash leaves the old or the new version,
 *     never a mix.
 *  2. Nothing is trusted that does not verify: a missing trailer, a checksum mismatch, a
 *     malformed line or a duplicate key makes the whole file corrupt. A corrupt durable
 *     file is logged once, counted ("corrupt_checkpoint"), renamed to <file>.corrupt for a
 *     human to look at; with no valid copy left the store starts empty - the source then
 *     re-reads from the start: duplicates, never loss.
 *  3. A store opened with ckpt_open holds an exclusive flock on <id>.lock until
 *     ckpt_close, so two daemons cannot share a source's positions and `checkpoints reset`
 *     refuses while a source runs.
 *  4. Keys are unique; the in-memory index always maps every key to its entry.
 *  5. Generations only grow: a write uses one above every generation loaded or written.
 */
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../cli/options.h"
#include "common.h"
#include "config.h"
#include "crc32c.h"
#include "log.h"

#define CKPT_HEADER_V1 "# sluice checkpoint v1\n"
#define CKPT_HEADER_V2 "# sluice checkpoint v2 "
#define CKPT_LIVE_SUFFIX ".live"
#define CKPT_DEFAULT_DATA_DIR "/var/lib/sluice"
#define CKPT_SETTLE_MS 2000 /* twice the file source's margin on the positions' date */

struct sl_ckpt_store {
    sl_ckpt_entry *v;
    size_t n, cap;
    uint32_t *index; /* open addressing: entry index + 1, 0 = empty */
    size_t index_cap; /* power of two, > 2 * n */
    char *path;       /* "" for in-memory stores */
    char *live_path;  /* path + ".live", "" for in-memory stores */
    int lock_fd;
    bool existed;
    uint64_t gen;     /* of the version loaded or last written (note 5) */
    int64_t loaded_mtime_ns; /* of the file the loaded version came from, 0: none */
    /* The entries of the last durable write, when it was written and since when they were
     * those (wall-clock ns), and how long they must stand before rewrites stop. */
    sl_buf durable_entries;
    int64_t durable_at_ns, entries_since_ns, settle_ns;
    bool failing; /* the last ckpt_write_logged failed */
};

/* ---- In-memory table ------------------------------------------------------------------ */

static uint64_t key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ULL;
    return h;
}

static void index_rebuild(sl_ckpt_store *s)
{
    size_t cap = 16;
    while (cap < s->n * 2 + 2)
        cap *= 2;
    free(s->index);
    s->index = sl_xcalloc(cap, sizeof *s->index);
    s->index_cap = cap;
    for (size_t i = 0; i < s->n; i++) {
        size_t h = (size_t)key_hash(s->v[i].key) & (cap - 1);
        while (s->index[h])
            h = (h + 1) & (cap - 1);
        s->index[h] = (uint32_t)(i + 1);
    }
}

/* Returns the index slot holding `key`, or the empty slot where it would go. */
static size_t index_find(const sl_ckpt_store *s, const char *key)
{
    size_t h = (size_t)key_hash(key) & (s->index_cap - 1);
    while (s->index[h] && strcmp(s->v[s->index[h] - 1].key, key) != 0)
        h = (h + 1) & (s->index_cap - 1);
    return h;
}

sl_ckpt_store *ckpt_new(void)
{
    sl_ckpt_store *s = sl_xcalloc(1, sizeof *s);
    s->path = sl_xstrdup("");
    s->live_path = sl_xstrdup("");
    s->lock_fd = -1;
    s->settle_ns = (int64_t)CKPT_SETTLE_MS * 1000000;
    index_rebuild(s);
    return s;
}

void ckpt_clear(sl_ckpt_store *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].meta);
    }
    s->n = 0;
    memset(s->index, 0, s->index_cap * sizeof *s->index);
}

void ckpt_close(sl_ckpt_store *s)
{
    if (!s)
        return;
    ckpt_clear(s);
    free(s->v);
    free(s->index);
    free(s->path);
    free(s->live_path);
    buf_free(&s->durable_entries);
    if (s->lock_fd >= 0)
        close(s->lock_fd); /* drops the flock */
    free(s);
}

bool ckpt_existed(const sl_ckpt_store *s) { return s->existed; }
uint64_t ckpt_generation(const sl_ckpt_store *s) { return s->gen; }
const char *ckpt_path(const sl_ckpt_store *s) { return s->path; }
int64_t ckpt_loaded_mtime(const sl_ckpt_store *s) { return s->loaded_mtime_ns; }
size_t ckpt_count(const sl_ckpt_store *s) { return s->n; }
const sl_ckpt_entry *ckpt_at(const sl_ckpt_store *s, size_t i) { return i < s->n ? &s->v[i] : NULL; }

const sl_ckpt_entry *ckpt_get(const sl_ckpt_store *s, const char *key)
{
    size_t h = index_find(s, key);
    return s->index[h] ? &s->v[s->index[h] - 1] : NULL;
}

void ckpt_set(sl_ckpt_store *s, const char *key, uint64_t pos, const char *meta)
{
    size_t h = index_find(s, key);
    if (s->index[h]) {
        sl_ckpt_entry *e = &s->v[s->index[h] - 1];
        e->pos = pos;
        free(e->meta);
        e->meta = sl_xstrdup(meta ? meta : "");
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = sl_xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n] = (sl_ckpt_entry){sl_xstrdup(key), pos, sl_xstrdup(meta ? meta : "")};
    s->n++;
    if (s->n * 2 + 2 > s->index_cap)
        index_rebuild(s);
    else
        s->index[h] = (uint32_t)s->n;
}

bool ckpt_remove(sl_ckpt_store *s, const char *key)
{
    size_t h = index_find(s, key);
    if (!s->index[h])
        return false;
    size_t i = s->index[h] - 1;
    free(s->v[i].key);
    free(s->v[i].meta);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
    index_rebuild(s);
    return true;
}

/* ---- Text format ---------------------------------------------------------------------- */

static void put_escaped(sl_buf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (!*s) {
        buf_putc(out, '-');
        return;
    }
    if (strcmp(s, "-") == 0) {
        buf_puts(out, "%2D");
        return;
    }
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == '%' || c == 0x7f) {
            buf_putc(out, '%');
            buf_putc(out, hex[c >> 4]);
            buf_putc(out, hex[c & 15]);
        } else {
            buf_putc(out, (char)c);
        }
    }
}

static void serialize_entries(const sl_ckpt_store *s, sl_buf *out)
{
    for (size_t i = 0; i < s->n; i++) {
        put_escaped(out, s->v[i].key);
        buf_printf(out, " %llu ", (unsigned long long)s->v[i].pos);
        put_escaped(out, s->v[i].meta);
        buf_putc(out, '\n');
    }
}

void ckpt_serialize(const sl_ckpt_store *s, sl_buf *out)
{
    size_t start = out->len;
    buf_printf(out, "%s%llu\n", CKPT_HEADER_V2, (unsigned long long)s->gen);
    serialize_entries(s, out);
    uint32_t crc = crc32c(0, out->p + start, out->len - start);
    buf_printf(out, "crc32c %08x\n", crc);
}

/* Decodes one escaped token [p, end) into a malloc'd string; NULL if malformed. */
static char *unescape(const char *p, const char *end)
{
    if (end - p == 1 && *p == '-')
        return sl_xstrdup("");
    if (p == end)
        return NULL;
    char *out = sl_xmalloc((size_t)(end - p) + 1), *o = out;
    while (p < end) {
        if (*p == '%') {
            if (end - p < 3 || sl_hexval(p[1]) < 0 || sl_hexval(p[2]) < 0) {
                free(out);
                return NULL;
            }
            int c = sl_hexval(p[1]) * 16 + sl_hexval(p[2]);
            if (c == 0) { /* keys and metas are C strings */
                free(out);
                return NULL;
            }
            *o++ = (char)c;
            p += 3;
        } else if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            free(out);
            return NULL;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static bool parse_u64(const char *p, const char *end, uint64_t *out)
{
    if (p == end || end - p > 20)
        return false;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

int ckpt_parse(sl_ckpt_store *s, const char *buf, size_t len, char *err, size_t errlen)
{
    ckpt_clear(s);
    size_t hl = strlen(CKPT_HEADER_V1), h2 = strlen(CKPT_HEADER_V2);
    uint64_t gen = 0;
    if (len >= hl && memcmp(buf, CKPT_HEADER_V1, hl) == 0) {
        /* v1: generation 0 */
    } else if (len > h2 && memcmp(buf, CKPT_HEADER_V2, h2) == 0) {
        const char *nl = memchr(buf + h2, '\n', len - h2);
        if (!nl || !parse_u64(buf + h2, nl, &gen))
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "bad header");
        hl = (size_t)(nl + 1 - buf);
    } else {
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "bad header");
    }
    /* The trailer is the last line: "crc32c xxxxxxxx\n" (16 bytes). */
    const size_t tl = 16;
    if (len < hl + tl || memcmp(buf + len - tl, "crc32c ", 7) != 0 || buf[len - 1] != '\n')
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "missing checksum trailer (truncated?)");
    uint32_t want = 0;
    for (size_t i = len - tl + 7; i < len - 1; i++) {
        int h = sl_hexval(buf[i]);
        if (h < 0)
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "bad checksum trailer");
        want = want << 4 | (uint32_t)h;
    }
    size_t body = len - tl;
    uint32_t got = crc32c(0, buf, body);
    if (got != want)
        return sl_seterr(err, errlen, SL_ERR_CORRUPT, "checksum mismatch (%08x != %08x)", got, want);

    const char *p = buf + hl, *end = buf + body;
    int lineno = 1;
    while (p < end) {
        lineno++;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            ckpt_clear(s);
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "line %d: unterminated", lineno);
        }
        const char *sp1 = memchr(p, ' ', (size_t)(nl - p));
        const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(nl - sp1 - 1)) : NULL;
        uint64_t pos;
        char *key = NULL, *meta = NULL;
        if (sp2 && parse_u64(sp1 + 1, sp2, &pos)) {
            key = unescape(p, sp1);
            meta = unescape(sp2 + 1, nl);
        }
        if (!key || !meta || !*key || ckpt_get(s, key)) {
            free(key);
            free(meta);
            ckpt_clear(s);
            return sl_seterr(err, errlen, SL_ERR_CORRUPT, "line %d: malformed entry", lineno);
        }
        ckpt_set(s, key, pos, meta);
        free(key);
        free(meta);
        p = nl + 1;
    }
    s->gen = gen;
    return SL_OK;
}

/* ---- Files ---------------------------------------------------------------------------- */

static int ckpt_paths(const char *data_dir, const char *id, char *file, char *lock, size_t n,
                      char *err, size_t errlen)
{
    if (!sl_id_names_file(id))
        return sl_seterr(err, errlen, SL_ERR_INVAL, "source id '%s' cannot name a file", id);
    if ((size_t)snprintf(file, n, "%s/checkpoints/%s.ckpt", data_dir, id) >= n ||
        (size_t)snprintf(lock, n, "%s/checkpoints/%s.lock", data_dir, id) >= n)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "data_dir path too long");
    return SL_OK;
}

/* Takes the source's lock; returns the fd, -1 if another process holds it (errno
 * EWOULDBLOCK) or on error. */
static int lock_take(const char *lock_path)
{
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Loads `path` into s. Missing file: SL_ERR_NOTFOUND. Damaged: SL_ERR_CORRUPT. */
static int load_file(sl_ckpt_store *s, const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t len = 0;
    int rc = sl_read_file(path, &data, &len, err, errlen);
    if (rc == SL_ERR_NOTFOUND)
        return rc;
    if (rc != SL_OK)
        return SL_ERR_CORRUPT; /* unreadable counts as corrupt: start over, loudly */
    rc = ckpt_parse(s, data, len, err, errlen);
    free(data);
    return rc;
}

/* Moves the contents (entries, index, generation) of src into dst; src is left empty. */
static void store_take(sl_ckpt_store *dst, sl_ckpt_store *src)
{
    ckpt_clear(dst);
    free(dst->v);
    free(dst->index);
    dst->v = src->v;
    dst->n = src->n;
    dst->cap = src->cap;
    dst->index = src->index;
    dst->index_cap = src->index_cap;
    dst->gen = src->gen;
    src->v = NULL;
    src->n = src->cap = 0;
    src->index = NULL;
    index_rebuild(src);
}

/* Loads whichever of the durable file and its live copy is valid and newer (design note
 * "Two copies") into s. *rc_file and *rc_live say how each load went (SL_OK, NOTFOUND,
 * CORRUPT); why_* hold the reasons. Returns which was taken: 1 durable, 2 live, 0 none. */
static int load_newest(sl_ckpt_store *s, const char *file, const char *live, int *rc_file,
                       int *rc_live, char *why_file, char *why_live, size_t whylen)
{
    sl_ckpt_store *l = ckpt_new();
    *rc_file = load_file(s, file, why_file, whylen);
    *rc_live = load_file(l, live, why_live, whylen);
    int took = 0;
    if (*rc_live == SL_OK && (*rc_file != SL_OK || l->gen > s->gen)) {
        store_take(s, l);
        took = 2;
    } else if (*rc_file == SL_OK) {
        took = 1;
    } else {
        ckpt_clear(s);
    }
    ckpt_close(l);
    struct stat st;
    s->loaded_mtime_ns = took && stat(took == 2 ? live : file, &st) == 0
                             ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec
                             : 0;
    return took;
}

int ckpt_open(sl_ckpt_store **out, const char *data_dir, const char *source_id, sl_metrics *m,
              char *err, size_t errlen)
{
    char file[4096], lock[4096], dir[4096], live[4200];
    *out = NULL;
    int rc = ckpt_paths(data_dir, source_id, file, lock, sizeof file, err, errlen);
    if (rc != SL_OK)
        return rc;
    snprintf(dir, sizeof dir, "%s/checkpoints", data_dir);
    snprintf(live, sizeof live, "%s%s", file, CKPT_LIVE_SUFFIX);
    if ((rc = sl_mkdirs(dir, err, errlen)) != SL_OK)
        return rc;
    int lfd = lock_take(lock);
    if (lfd < 0) {
        if (errno == EWOULDBLOCK)
            return sl_seterr(err, errlen, SL_ERR_IO,
                             "checkpoints of source '%s' are locked by another sluice process "
                             "(%s)", source_id, lock);
        return sl_seterr(err, errlen, SL_ERR_IO, "lock %s: %s", lock, strerror(errno));
    }
    sl_ckpt_store *s = ckpt_new();
    free(s->path);
    free(s->live_path);
    s->path = sl_xstrdup(file);
    s->live_path = sl_xstrdup(live);
    s->lock_fd = lfd;

    char why[256], why_live[256];
    int rc_live;
    int took = load_newest(s, file, live, &rc, &rc_live, why, why_live, sizeof why);
    s->existed = rc != SL_ERR_NOTFOUND || rc_live != SL_ERR_NOTFOUND;
    if (rc == SL_ERR_CORRUPT) {
        char aside[4200];
        snprintf(aside, sizeof aside, "%s.corrupt", file);
        bool moved = rename(file, aside) == 0;
        log_error(source_id, "checkpoint %s is corrupt (%s); %s; %s", file, why,
                  moved ? "moved aside to .corrupt" : "could not move it aside",
                  took ? "using its live copy" :
                         "starting without positions (files are re-read from the start: "
                         "duplicates, not loss)");
    } else if (rc_live == SL_ERR_CORRUPT) {
        /* Expected after a power loss: the live copy is never flushed. */
        log_warn(source_id, "live copy %s of the checkpoint is damaged (%s); %s", live, why_live,
                 took ? "using the durable one" : "starting without positions");
        unlink(live);
    }
    if (m && (rc == SL_ERR_CORRUPT || rc_live == SL_ERR_CORRUPT))
        metrics_error(m, "corrupt_checkpoint");
    *out = s;
    return SL_OK;
}

int ckpt_write(sl_ckpt_store *s, bool durable, char *err, size_t errlen)
{
    if (!*s->path)
        return sl_seterr(err, errlen, SL_ERR_INVAL, "in-memory checkpoint store has no file");
    sl_buf entries = SL_BUF_INIT;
    bool same = false;
    if (durable) {
        serialize_entries(s, &entries);
        same = s->durable_at_ns && entries.len == s->durable_entries.len &&
               (entries.len == 0 || memcmp(entries.p, s->durable_entries.p, entries.len) == 0);
        if (same && s->durable_at_ns - s->entries_since_ns >= s->settle_ns) {
            buf_free(&entries); /* settled: the copy on disk says the same, and dates it */
            return SL_OK;
        }
    }
    s->gen++;
    sl_buf b = SL_BUF_INIT;
    ckpt_serialize(s, &b);
    int rc = sl_write_file_replace(durable ? s->path : s->live_path, b.p, b.len, durable, err,
                                   errlen);
    buf_free(&b);
    if (rc == SL_OK) {
        s->existed = true;
        if (durable) {
            int64_t now = sl_now_ns();
            if (!same) {
                buf_reset(&s->durable_entries);
                buf_append(&s->durable_entries, entries.p, entries.len);
                s->entries_since_ns = now;
            }
            s->durable_at_ns = now;
        }
    }
    buf_free(&entries);
    return rc;
}

int ckpt_write_logged(sl_ckpt_store *s, bool durable, const char *id, sl_metrics *m)
{
    char err[256];
    int rc = ckpt_write(s, durable, err, sizeof err);
    if (rc != SL_OK) {
        metrics_error(m, "checkpoint_write");
        metrics_set_state(m, "checkpoint_write_failed");
        if (!s->failing)
            log_error(id, "saving checkpoint: %s (positions stay as last saved; said again "
                          "once a save works)", err);
        s->failing = true;
    } else if (s->failing) {
        log_info(id, "checkpoint saved again");
        metrics_set_state(m, "ok");
        s->failing = false;
    }
    return rc;
}

void ckpt_set_settle(sl_ckpt_store *s, int64_t ms) { s->settle_ns = ms * 1000000; }

int ckpt_save(sl_ckpt_store *s, char *err, size_t errlen) { return ckpt_write(s, true, err, errlen); }

/* ---- Pacing of writes ------------------------------------------------------------------ */

void ckpt_pace_init(sl_ckpt_pace *p, int64_t durable_ms, int64_t now)
{
    memset(p, 0, sizeof *p);
    p->durable_ms = durable_ms;
    p->next_durable = now + durable_ms;
}

void ckpt_pace_committed(sl_ckpt_pace *p, size_t batches) { p->unsaved += batches; }

int ckpt_pace_due(const sl_ckpt_pace *p, int64_t now)
{
    if (now >= p->next_durable)
        return SL_CKPT_DURABLE;
    if (p->unsaved > 0 &&
        (p->unsaved >= SL_CKPT_LIVE_BATCHES || now - p->last_write >= SL_CKPT_LIVE_MS))
        return SL_CKPT_LIVE;
    return SL_CKPT_NONE;
}

void ckpt_pace_written(sl_ckpt_pace *p, int kind, int64_t now)
{
    p->unsaved = 0;
    p->last_write = now;
    if (kind == SL_CKPT_DURABLE)
        p->next_durable = now + p->durable_ms;
}

int64_t ckpt_pace_wait(const sl_ckpt_pace *p, int64_t now)
{
    int64_t until = p->next_durable;
    if (p->unsaved > 0)
        until = SL_MIN(until, p->last_write + SL_CKPT_LIVE_MS);
    return SL_MAX(0, until - now);
}

/* ---- sluice checkpoints ----------------------------------------------------------------- */

enum { CKPT_OPT_CONFIG, CKPT_OPT_DATA_DIR, CKPT_OPT_SOURCE, CKPT_OPT_ALL };
static const cli_opt ckpt_opts[] = {
    CLI_OPT_CONFIG,
    {"data-dir", 0, "a DIR", false},
    {"source", 0, "an ID", false},
    {"all", 0, NULL, false},
    {0},
};

static const char ckpt_usage[] =
    "usage: sluice checkpoints show  [-c FILE | --data-dir DIR] [--source ID]\n"
    "       sluice checkpoints reset [-c FILE | --data-dir DIR] (--source ID | --all)\n"
    "  show    print each source's saved positions\n"
    "  reset   delete the saved positions of one source (--source) or of every source\n"
    "          (--all): it reads its input again from the start; refused while a running\n"
    "          sluice holds the source's lock\n"
    "  -c, --config FILE  take data_dir from this configuration\n"
    "  --data-dir DIR     data directory (default " CKPT_DEFAULT_DATA_DIR ")\n"
    "  --source ID        only this source\n"
    "  --all              reset: every source\n"
    "  -h, --help         this text\n";

static const cli_cmd ckpt_cmd = {.name = "checkpoints", .usage = ckpt_usage, .opts = ckpt_opts,
                                 .max_args = 1};

/* The data directory: --data-dir, else the config's, else the default. With a config and
 * a --source, *named says whether the config has that source, and ids lists the ones it
 * has (cnode_section_has). */
static int cli_data_dir(const char *config, const char *data_dir, const char *source, char *out,
                        size_t outlen, bool *named, sl_buf *ids)
{
    snprintf(out, outlen, "%s", data_dir ? data_dir : CKPT_DEFAULT_DATA_DIR);
    *named = true;
    if (!config)
        return 0;
    sl_config_doc *doc = NULL;
    char err[512];
    if (config_file_load(&doc, config, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice checkpoints: %s\n", err);
        return -1;
    }
    const sl_cnode *dd = cnode_get(doc->root, "data_dir");
    if (!data_dir && dd && dd->kind == SL_CNODE_SCALAR && dd->scalar && *dd->scalar)
        snprintf(out, outlen, "%s", dd->scalar);
    if (source)
        *named = cnode_section_has(doc->root, "sources", source, ids);
    config_doc_free(doc);
    return 0;
}

static void cli_show_one(const char *dir, const char *id)
{
    char path[4096], live[4200], err[256], err_live[256];
    snprintf(path, sizeof path, "%s/%s.ckpt", dir, id);
    snprintf(live, sizeof live, "%s%s", path, CKPT_LIVE_SUFFIX);
    sl_ckpt_store *s = ckpt_new();
    int rc, rc_live;
    int took = load_newest(s, path, live, &rc, &rc_live, err, err_live, sizeof err);
    printf("source %s (%s)\n", id, took == 2 ? live : path);
    if (rc == SL_ERR_CORRUPT)
        printf("  CORRUPT: %s: %s\n", path, err);
    if (rc_live == SL_ERR_CORRUPT)
        printf("  CORRUPT: %s: %s\n", live, err_live);
    if (!took && rc == SL_ERR_NOTFOUND && rc_live == SL_ERR_NOTFOUND)
        printf("  no checkpoint\n");
    else if (!took)
        printf("  (the source will start without positions)\n");
    else if (s->n == 0)
        printf("  no entries\n");
    for (size_t i = 0; i < s->n; i++)
        printf("  %-32s %12llu  %s\n", s->v[i].key, (unsigned long long)s->v[i].pos,
               s->v[i].meta);
    ckpt_close(s);
}

/* Returns 0 on success, 1 if refused or failed. */
static int cli_reset_one(const char *data_dir, const char *id)
{
    char file[4096], lock[4096], err[256];
    if (ckpt_paths(data_dir, id, file, lock, sizeof file, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice checkpoints: %s\n", err);
        return 1;
    }
    int lfd = lock_take(lock);
    if (lfd < 0) {
        if (errno == EWOULDBLOCK)
            fprintf(stderr,
                    "sluice checkpoints: refusing to reset source '%s': a running sluice holds "
                    "its lock (%s); stop it first\n", id, lock);
        else
            fprintf(stderr, "sluice checkpoints: lock %s: %s\n", lock, strerror(errno));
        return 1;
    }
    int rc = 0;
    char live[4200];
    snprintf(live, sizeof live, "%s%s", file, CKPT_LIVE_SUFFIX);
    if ((unlink(live) != 0 && errno != ENOENT) || (unlink(file) != 0 && errno != ENOENT)) {
        fprintf(stderr, "sluice checkpoints: unlink %s: %s\n", file, strerror(errno));
        rc = 1;
    } else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/checkpoints", data_dir);
        sl_fsync_dir(dir);
        printf("reset source %s\n", id);
    }
    close(lfd);
    return rc;
}

/* Calls fn for each source with a <id>.ckpt or only a <id>.ckpt.live in dir; returns how many. */
static int cli_each_source(const char *data_dir, const char *only,
                           int (*fn)(const char *data_dir, const char *dir, const char *id))
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/checkpoints", data_dir);
    if (only)
        return fn(data_dir, dir, only);
    DIR *d = opendir(dir);
    if (!d) {
        printf("no checkpoints in %s\n", dir);
        return 0;
    }
    int rc = 0, n = 0;
    struct dirent *de;
    const size_t sl = strlen(".ckpt"), ll = strlen(".ckpt" CKPT_LIVE_SUFFIX);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name), cut;
        if (l > sl && strcmp(de->d_name + l - sl, ".ckpt") == 0)
            cut = sl;
        else if (l > ll && strcmp(de->d_name + l - ll, ".ckpt" CKPT_LIVE_SUFFIX) == 0)
            cut = ll;
        else
            continue;
        char id[256], durable[4400];
        if (l - cut >= sizeof id)
            continue;
        memcpy(id, de->d_name, l - cut);
        id[l - cut] = '\0';
        struct stat st;
        snprintf(durable, sizeof durable, "%s/%s.ckpt", dir, id);
        if (cut == ll && stat(durable, &st) == 0)
            continue; /* listed under its durable file */
        rc |= fn(data_dir, dir, id);
        n++;
    }
    closedir(d);
    if (n == 0)
        printf("no checkpoints in %s\n", dir);
    return rc;
}

static int cli_show_cb(const char *data_dir, const char *dir, const char *id)
{
    cli_show_one(dir, id);
    return 0;
}

static int cli_reset_cb(const char *data_dir, const char *dir, const char *id)
{
    return cli_reset_one(data_dir, id);
}

int checkpoints_cli(int argc, char **argv)
{
    cli_args o;
    int rc = cli_parse(&ckpt_cmd, argc, argv, &o);
    if (rc != CLI_GO)
        return rc;
    const char *config = o.val[CKPT_OPT_CONFIG], *data_dir = o.val[CKPT_OPT_DATA_DIR];
    const char *source = o.val[CKPT_OPT_SOURCE], *cmd = o.nargs ? o.arg[0] : NULL;
    if (cmd && strcmp(cmd, "help") == 0) {
        fputs(ckpt_usage, stdout);
        return 0;
    }
    if (!cmd || (strcmp(cmd, "show") != 0 && strcmp(cmd, "reset") != 0))
        return cli_usage_error(&ckpt_cmd, "expected 'show' or 'reset'");
    /* Both given, one would be ignored: a reset could hit another directory than meant. */
    if (config && data_dir)
        return cli_usage_error(&ckpt_cmd, "-c and --data-dir: give one or the other");
    /* A reset without --source forgot every source's positions, and each read all its
     * input again: a forgotten --source costs that, so it is asked for, as dlq purge does. */
    if (strcmp(cmd, "reset") == 0 && !source && !o.val[CKPT_OPT_ALL])
        return cli_usage_error(&ckpt_cmd, "reset: say which: --source ID or --all");
    if (source && !sl_id_names_file(source)) {
        fprintf(stderr, "sluice checkpoints: invalid source id '%s'\n", source);
        return 2;
    }
    char dd[4096];
    bool named;
    sl_buf ids = SL_BUF_INIT;
    if (cli_data_dir(config, data_dir, source, dd, sizeof dd, &named, &ids) != 0) {
        buf_free(&ids);
        return 1;
    }
    if (!named) {
        /* A typo would "reset" nothing; a source gone from the config may still have
         * positions to show or reset. */
        char path[4200], live[4300];
        struct stat st;
        snprintf(path, sizeof path, "%s/checkpoints/%s.ckpt", dd, source);
        snprintf(live, sizeof live, "%s%s", path, CKPT_LIVE_SUFFIX);
        if (stat(path, &st) != 0 && stat(live, &st) != 0) {
            fprintf(stderr,
                    "sluice checkpoints: %s has no source '%s' and %s/checkpoints has no "
                    "positions of it (sources: %s)\n", config, source, dd, ids.p);
            buf_free(&ids);
            return 2;
        }
    }
    buf_free(&ids);
    if (strcmp(cmd, "show") == 0)
        return cli_each_source(dd, source, cli_show_cb);
    return cli_each_source(dd, source, cli_reset_cb) ? 1 : 0;
}
