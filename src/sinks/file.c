/* file.c - the `file` sink: NDJSON (or plain text) lines appended to files whose path is
 * a strftime template rendered from each event's own timestamp and {{ field }} values (one
 * file per sending host: "/var/log/remote/{{ hostname }}/%Y-%m-%d.log"), with size rotation.
 *
 * Notes on the design
 *  1. The events of a request are grouped by their rendered path (in the order each path
 *     first comes, each path's events in their order); a group is encoded into one buffer
 *     and written with as few write(2) calls as possible. A path that cannot be written
 *     holds back only its own events.
 *  2. A file only ever receives whole lines. When a write fails part-way, the file is
 *     truncated back to its size before that write, and the events not written are
 *     reported RETRY (the ones before them OK), so nothing is lost or torn.
 *  3. Whenever this sink opens a path, a tail without '\n' (a line torn by a crash) is
 *     cut off: those events were never acknowledged and will come again. Its own writes
 *     end in whole lines (note 2), so nothing else is ever cut, and no list of the paths
 *     opened is kept (a path per host and day would grow it without end).
 *  4. Rotation happens between lines, never inside one: when the next line would take
 *     the file above max_file_bytes (and the file is not empty), path.N-1 -> path.N ...
 *     path -> path.1, and a new file is started.
 *  5. The sink is serial: the fd cache and buffers are touched by one thread at a time
 *     (tick runs on a runtime thread too, so the cache is also guarded by a mutex).
 *  6. A path someone else renamed or deleted (logrotate without copytruncate) is noticed
 *     before the next write to it: the cached file is not the path's any more (its device
 *     and inode differ, or the path is gone), so it is closed and the path opened again.
 *     What was written before stays in the renamed file.
 *  7. A field's value comes from the sender (a syslog hostname): '/' and control bytes
 *     become '_', and a value of dots alone ("..") is as many '_', so a path never leaves
 *     the directory its template names.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/json.h"
#include "formats/name_tmpl.h"

enum { FILE_ENC_JSON = 0, FILE_ENC_TEXT = 1 };
#define FILE_CACHE_SLOTS 64 /* a path per host keeps one file open per host */
#define FILE_IDLE_CLOSE_MS 60000

typedef struct file_config {
    char *path;
    int encoding;
    uint64_t max_file_bytes;
    int64_t max_files;
    bool fsync;
    char *id_key;
} file_config;

static const char *const file_encodings[] = {"json", "text", NULL};

static const sl_option file_options[] = {
    {"path", SL_OPT_STR, offsetof(file_config, path), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "file path; strftime fields (%Y %m %d %H %M) come from each event's time (UTC), "
     "{{ field }} from its fields ('/' in a value becomes '_'; missing: unknown)"},
    {"encoding", SL_OPT_ENUM, offsetof(file_config, encoding), "json", 0, file_encodings, NULL,
     0, 0, "json: one JSON object per line; text: the message only"},
    {"max_file_bytes", SL_OPT_SIZE, offsetof(file_config, max_file_bytes), "0", 0, NULL, NULL, 0,
     0, "rotate to <path>.1 when a file would grow past this (0 = never)"},
    {"max_files", SL_OPT_INT, offsetof(file_config, max_files), "5", 0, NULL, NULL, 1, 1000,
     "rotated files kept (<path>.1 .. <path>.N)"},
    {"fsync", SL_OPT_BOOL, offsetof(file_config, fsync), "false", 0, NULL, NULL, 0, 0,
     "fdatasync after each request"},
    {"id_key", SL_OPT_STR, offsetof(file_config, id_key), NULL, 0, NULL, NULL, 0, 0,
     "json: also write the event's stable id (hex of stream+position, or its string id) "
     "under this key, so a reader can deduplicate replays"},
    SL_OPT_END,
};

typedef struct file_slot {
    char *path; /* owned; NULL = free slot */
    int fd;
    dev_t dev;  /* of fd, to see the path moved to another file (note 6) */
    ino_t ino;
    uint64_t size;
    int64_t last_used_ms;
    bool dirty; /* written since last fdatasync */
} file_slot;

typedef struct file_sink {
    const file_config *cfg; /* borrowed */
    const sl_component_ctx *cc;
    pthread_mutex_t lock;
    file_slot slots[FILE_CACHE_SLOTS];
    sl_buf out;             /* encoded lines of the current run */
    size_t *ends;           /* end offset of each line in `out` */
    size_t nends, capends;
    char reason[256];       /* item_reason storage until the next send */
    bool templated;         /* path has '%' or {{ field }} */
    name_tmpl tmpl;         /* the path's parts when it has {{ field }} (tmpl.fields) */
    int64_t cached_sec;     /* render cache: second of the last rendered path (or tm) */
    struct tm cached_tm;
    char cached_path[PATH_MAX];
    size_t cached_len;
    /* per request: each event's rendered path (in `paths`) and the next event of its
     * group; each group's first and last event (note 1) */
    sl_buf paths;
    size_t *poff;
    uint32_t *next, *gfirst, *glast, *ghash;
    size_t capev, ngroups;
} file_sink;

/* ---- Paths and files ------------------------------------------------------------------ */

/* Appends a field's value to out (at o, room up to cap) as note 7 says; returns the new o,
 * or cap when it does not fit. */
static size_t put_field(char *out, size_t o, size_t cap, const char *v, size_t n)
{
    if (n >= cap - o)
        return cap;
    size_t dots = 0;
    while (dots < n && v[dots] == '.')
        dots++;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        out[o++] = dots == n || c == '/' || c < 0x20 || c == 0x7f ? '_' : (char)c;
    }
    return o;
}

/* The path of an event whose template has {{ field }} parts, into s->cached_path. */
static size_t render_fields(file_sink *s, const sl_event *e)
{
    int64_t sec = name_event_sec(e);
    if (sec != s->cached_sec) {
        name_gmtime(sec, &s->cached_tm);
        s->cached_sec = sec;
    }
    char *out = s->cached_path, num[32], fmt[3] = "%";
    size_t o = 0, cap = sizeof s->cached_path;
    for (size_t i = 0; i < s->tmpl.n && o < cap; i++) {
        const name_part *p = &s->tmpl.parts[i];
        if (p->kind == NAME_LIT) {
            o = p->len < cap - o ? o + (size_t)snprintf(out + o, cap - o, "%s", p->text) : cap;
        } else if (p->kind == NAME_DATE) {
            fmt[1] = p->text[0];
            size_t k = strftime(out + o, cap - o, fmt, &s->cached_tm);
            o = k ? o + k : cap;
        } else {
            const char *v;
            size_t n = name_field_value(p, e, 255, num, &v);
            o = put_field(out, o, cap, v, n);
        }
    }
    if (o >= cap)
        o = 0;
    out[o] = '\0';
    return o;
}

/* Renders the path for an event into sink->cached_path; returns its length (0 = empty).
 * Without fields, rendering is cached per second since batches share timestamps. */
static size_t render_path(file_sink *s, const sl_event *e)
{
    if (!s->templated)
        return s->cached_len;
    if (s->tmpl.fields)
        return render_fields(s, e);
    int64_t ts_ns = e->ts_ns;
    int64_t sec = ts_ns / 1000000000;
    if (ts_ns < 0 && ts_ns % 1000000000)
        sec--;
    if (sec == s->cached_sec)
        return s->cached_len;
    time_t t = (time_t)sec;
    struct tm tm;
    s->cached_path[0] = '\0';
    size_t n = 0;
    if (gmtime_r(&t, &tm))
        n = strftime(s->cached_path, sizeof s->cached_path, s->cfg->path, &tm);
    s->cached_path[n] = '\0';
    s->cached_sec = sec;
    s->cached_len = n;
    return n;
}

/* Invariant 3: cut a torn last line. Returns the new size. */
static int repair_tail(file_sink *s, int fd, const char *path, uint64_t *size)
{
    if (*size == 0)
        return SL_OK;
    char tail[4096];
    uint64_t end = *size;
    while (end > 0) {
        size_t chunk = end < sizeof tail ? (size_t)end : sizeof tail;
        ssize_t r = pread(fd, tail, chunk, (off_t)(end - chunk));
        if (r != (ssize_t)chunk)
            return SL_ERR_IO;
        if (end == *size && tail[chunk - 1] == '\n')
            return SL_OK; /* healthy */
        char *nl = memrchr(tail, '\n', chunk);
        if (nl) {
            end = end - chunk + (uint64_t)(nl - tail) + 1;
            break;
        }
        end -= chunk;
    }
    if (ftruncate(fd, (off_t)end) != 0)
        return SL_ERR_IO;
    log_warn(s->cc->id, "%s: cut %llu bytes of a torn last line (they will be written again)",
             path, (unsigned long long)(*size - end));
    metrics_error(s->cc->metrics, "torn_line_repaired");
    *size = end;
    return SL_OK;
}

static void slot_close(file_slot *sl)
{
    if (sl->path) {
        if (sl->dirty)
            fdatasync(sl->fd);
        close(sl->fd);
        free(sl->path);
    }
    memset(sl, 0, sizeof *sl);
    sl->fd = -1;
}

static int open_file(file_sink *s, const char *path, int *fdout, uint64_t *size,
                     struct stat *stout, char *why, size_t whylen)
{
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == ENOENT) {
        /* Parent directory missing: create it, then try once more. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash && slash != dir) {
            *slash = '\0';
            char err[256];
            if (sl_mkdirs(dir, err, sizeof err) != SL_OK)
                return sl_seterr(why, whylen, SL_ERR_IO, "%s", err);
        }
        fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0)
        return sl_seterr(why, whylen, SL_ERR_IO, "open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sl_seterr(why, whylen, SL_ERR_IO, "stat %s: %s", path, strerror(e));
    }
    *size = (uint64_t)st.st_size;
    *stout = st;
    if (repair_tail(s, fd, path, size) != SL_OK) {
        int e = errno;
        close(fd);
        return sl_seterr(why, whylen, SL_ERR_IO, "repair %s: %s", path, strerror(e));
    }
    *fdout = fd;
    return SL_OK;
}

/* Returns the cached slot for path, opening the file (evicting the least recently used
 * slot) when needed; NULL with a reason on failure. Caller holds s->lock. */
static file_slot *get_slot(file_sink *s, const char *path, char *why, size_t whylen)
{
    file_slot *victim = &s->slots[0];
    for (int i = 0; i < FILE_CACHE_SLOTS; i++) {
        file_slot *sl = &s->slots[i];
        if (sl->path && strcmp(sl->path, path) == 0) {
            struct stat st;
            if (stat(path, &st) == 0 && st.st_dev == sl->dev && st.st_ino == sl->ino) {
                sl->last_used_ms = sl_mono_ms();
                return sl;
            }
            log_info(s->cc->id, "%s was moved or deleted: opening it again", path);
            slot_close(sl); /* note 6; this slot is then the one reused */
            victim = sl;
            break;
        }
        if (!sl->path)
            victim = sl;
        else if (victim->path && sl->last_used_ms < victim->last_used_ms)
            victim = sl;
    }
    int fd;
    uint64_t size;
    struct stat st;
    if (open_file(s, path, &fd, &size, &st, why, whylen) != SL_OK)
        return NULL;
    slot_close(victim);
    victim->path = sl_xstrdup(path);
    victim->fd = fd;
    victim->dev = st.st_dev;
    victim->ino = st.st_ino;
    victim->size = size;
    victim->last_used_ms = sl_mono_ms();
    return victim;
}

/* Invariant 4: path.N-1 -> path.N, ..., path -> path.1, then a fresh file. */
static int rotate(file_sink *s, file_slot *sl, char *why, size_t whylen)
{
    char from[PATH_MAX + 24], to[PATH_MAX + 24];
    char *path = sl->path;
    sl->path = NULL;
    if (sl->dirty)
        fdatasync(sl->fd);
    close(sl->fd);
    sl->fd = -1;
    for (int64_t i = s->cfg->max_files - 1; i >= 1; i--) {
        snprintf(from, sizeof from, "%s.%lld", path, (long long)i);
        snprintf(to, sizeof to, "%s.%lld", path, (long long)i + 1);
        if (rename(from, to) != 0 && errno != ENOENT)
            log_warn(s->cc->id, "rotate %s -> %s: %s", from, to, strerror(errno));
    }
    snprintf(to, sizeof to, "%s.1", path);
    if (rename(path, to) != 0 && errno != ENOENT) {
        int e = errno;
        slot_close(sl);
        int rc = sl_seterr(why, whylen, SL_ERR_IO, "rotate %s: %s", path, strerror(e));
        free(path);
        return rc;
    }
    int fd;
    uint64_t size;
    struct stat st;
    int rc = open_file(s, path, &fd, &size, &st, why, whylen);
    if (rc != SL_OK) {
        slot_close(sl);
        free(path);
        return rc;
    }
    sl->path = path;
    sl->fd = fd;
    sl->dev = st.st_dev;
    sl->ino = st.st_ino;
    sl->size = size;
    sl->dirty = false;
    sl->last_used_ms = sl_mono_ms();
    log_info(s->cc->id, "rotated %s", path);
    return SL_OK;
}

/* Writes all of [p, p+len) at the end of the file; on failure truncates back to the
 * size before (invariant 2) and returns the errno. */
static int write_all(file_slot *sl, const char *p, size_t len)
{
    uint64_t before = sl->size;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(sl->fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            if (done && ftruncate(sl->fd, (off_t)before) != 0)
                e = errno;
            return e;
        }
        done += (size_t)w;
    }
    sl->size += len;
    sl->dirty = true;
    return 0;
}

/* Writes lines [first, last) of s->out to path, rotating between lines. Returns the
 * number of lines written; on error fills why. */
static size_t flush_lines(file_sink *s, const char *path, size_t first, size_t last, char *why,
                          size_t whylen)
{
    file_slot *sl = get_slot(s, path, why, whylen);
    if (!sl)
        return 0;
    uint64_t max = s->cfg->max_file_bytes;
    size_t i = first;
    while (i < last) {
        size_t start = i ? s->ends[i - 1] : 0;
        /* Take as many whole lines as fit under max (at least one). */
        size_t j = i + 1;
        if (max) {
            if (sl->size > 0 && sl->size + (s->ends[i] - start) > max) {
                if (rotate(s, sl, why, whylen) != SL_OK)
                    return i - first;
            }
            while (j < last && sl->size + (s->ends[j] - start) <= max)
                j++;
        } else {
            j = last;
        }
        int e = write_all(sl, s->out.p + start, s->ends[j - 1] - start);
        if (e) {
            sl_seterr(why, whylen, SL_ERR_IO, "write %s: %s", path, strerror(e));
            metrics_error(s->cc->metrics, "write");
            return i - first;
        }
        i = j;
    }
    if (s->cfg->fsync && sl->dirty) {
        if (fdatasync(sl->fd) != 0) {
            /* Data may not be durable: the whole run must be sent again. */
            sl_seterr(why, whylen, SL_ERR_IO, "fdatasync %s: %s", path, strerror(errno));
            metrics_error(s->cc->metrics, "fsync");
            return 0;
        }
        sl->dirty = false;
    }
    return last - first;
}

/* ---- Vtable --------------------------------------------------------------------------- */

/* With {{ field }} parts the path is split by name_tmpl; its date parts are strftime's. */
static const name_rules path_rules = {
    .what = "path", .dates = "aAbBcCdDeFgGhHIjklmMnprRsStTuUVwWxXyYzZ%", .lit_ok = NULL,
};

static int file_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                     size_t errlen)
{
    const file_config *cfg = config;
    if (!cfg->path || !cfg->path[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: path must not be empty", cc->id);
    if (strlen(cfg->path) >= PATH_MAX)
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: path too long", cc->id);
    /* a directory never opens as the file: every request would fail and retry forever */
    struct stat st;
    bool templated = strchr(cfg->path, '%') || strstr(cfg->path, "{{");
    if (cfg->path[strlen(cfg->path) - 1] == '/' ||
        (!templated && stat(cfg->path, &st) == 0 && S_ISDIR(st.st_mode)))
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s: path \"%s\" is a directory: name the file to write in it "
                         "(e.g. %s%sout.ndjson)", cc->id, cfg->path, cfg->path,
                         cfg->path[strlen(cfg->path) - 1] == '/' ? "" : "/");
    name_tmpl tmpl = {0};
    if (strstr(cfg->path, "{{")) {
        char why[300];
        if (name_tmpl_compile(&tmpl, cfg->path, &path_rules, why, sizeof why) != SL_OK)
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s", cc->id, why);
    }
    file_sink *s = sl_xcalloc(1, sizeof *s);
    s->cfg = cfg;
    s->cc = cc;
    s->tmpl = tmpl;
    pthread_mutex_init(&s->lock, NULL);
    for (int i = 0; i < FILE_CACHE_SLOTS; i++)
        s->slots[i].fd = -1;
    s->templated = templated;
    s->cached_sec = INT64_MIN;
    if (!s->templated)
        s->cached_len = (size_t)snprintf(s->cached_path, sizeof s->cached_path, "%s", cfg->path);
    *self = s;
    return SL_OK;
}

static void push_end(file_sink *s)
{
    if (s->nends == s->capends) {
        s->capends = s->capends ? s->capends * 2 : 256;
        s->ends = sl_xrealloc(s->ends, s->capends * sizeof *s->ends);
    }
    s->ends[s->nends++] = s->out.len;
}

/* Adds ,"<id_key>":"<id>" inside the object just encoded (which ends with '}'). */
static void put_id(file_sink *s, const sl_event *e)
{
    if (!e->id_str.len && !e->id_stream && !e->id_seq)
        return;
    s->out.len--;
    buf_putc(&s->out, ',');
    buf_putc(&s->out, '"');
    json_escape(&s->out, s->cfg->id_key, strlen(s->cfg->id_key));
    buf_append(&s->out, "\":\"", 3);
    if (e->id_str.len) {
        json_escape(&s->out, e->id_str.ptr, e->id_str.len);
    } else {
        char hex[40];
        int n = snprintf(hex, sizeof hex, "%016" PRIx64 "%016" PRIx64, e->id_stream, e->id_seq);
        buf_append(&s->out, hex, (size_t)n);
    }
    buf_append(&s->out, "\"}", 2);
}

static uint32_t path_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Renders every event's path and groups the events by it (note 1). Events whose path
 * renders empty are rejected here and in no group. Returns the rejected count. */
static size_t group_events(file_sink *s, sl_event *const *events, size_t n, sl_send_result *res)
{
    if (n > s->capev) {
        s->capev = n;
        s->poff = sl_xrealloc(s->poff, n * sizeof *s->poff);
        s->next = sl_xrealloc(s->next, n * sizeof *s->next);
        s->gfirst = sl_xrealloc(s->gfirst, n * sizeof *s->gfirst);
        s->glast = sl_xrealloc(s->glast, n * sizeof *s->glast);
        s->ghash = sl_xrealloc(s->ghash, n * sizeof *s->ghash);
    }
    buf_reset(&s->paths);
    s->ngroups = 0;
    size_t rejected = 0, g = 0;
    for (size_t i = 0; i < n; i++) {
        size_t plen = render_path(s, events[i]);
        if (plen == 0) {
            res->item_status[i] = SL_ITEM_REJECT;
            res->item_reason[i] = "path template renders empty";
            rejected++;
            continue;
        }
        const char *path = s->cached_path;
        uint32_t h = s->templated ? path_hash(path, plen) : 0;
        /* the group of the event before is the likely one (the only one without a
         * template); else look them up */
        if (!s->ngroups || (s->templated && (s->ghash[g] != h ||
                                             strcmp(s->paths.p + s->poff[s->gfirst[g]], path))))
            for (g = 0; g < s->ngroups; g++)
                if (s->ghash[g] == h && strcmp(s->paths.p + s->poff[s->gfirst[g]], path) == 0)
                    break;
        if (g == s->ngroups) {
            s->poff[i] = s->paths.len;
            buf_append(&s->paths, path, plen + 1);
            s->ghash[g] = h;
            s->gfirst[g] = (uint32_t)i;
            s->ngroups++;
        } else {
            s->next[s->glast[g]] = (uint32_t)i;
        }
        s->glast[g] = (uint32_t)i;
        s->next[i] = UINT32_MAX;
    }
    return rejected;
}

static int file_send(void *self, sl_event *const *events, size_t n, sl_send_result *res)
{
    file_sink *s = self;
    pthread_mutex_lock(&s->lock);
    size_t ok = 0, rejected = group_events(s, events, n, res);
    char why[256] = "";
    for (size_t g = 0; g < s->ngroups; g++) {
        buf_reset(&s->out);
        s->nends = 0;
        for (uint32_t i = s->gfirst[g]; i != UINT32_MAX; i = s->next[i]) {
            const sl_event *e = events[i];
            if (s->cfg->encoding == FILE_ENC_TEXT)
                buf_append(&s->out, e->message.ptr, e->message.len);
            else
                json_encode_event(&s->out, e);
            if (s->cfg->id_key && s->cfg->encoding == FILE_ENC_JSON)
                put_id(s, e);
            buf_putc(&s->out, '\n');
            push_end(s);
        }
        char gwhy[256] = "";
        const char *path = s->paths.p + s->poff[s->gfirst[g]];
        size_t written = flush_lines(s, path, 0, s->nends, gwhy, sizeof gwhy);
        ok += written;
        if (written < s->nends) {
            /* the lines after the last one written are sent again, in their order */
            size_t line = 0;
            for (uint32_t i = s->gfirst[g]; i != UINT32_MAX; i = s->next[i])
                if (line++ >= written)
                    res->item_status[i] = SL_ITEM_RETRY;
            if (!why[0])
                snprintf(why, sizeof why, "%s", gwhy);
        }
    }
    size_t retry = n - ok - rejected;
    if (retry == 0 && rejected == 0) {
        res->status = SL_SEND_OK;
    } else if (retry == n) {
        res->status = SL_SEND_RETRY;
        snprintf(res->reason, sizeof res->reason, "%s", why);
    } else if (rejected == n) {
        res->status = SL_SEND_REJECT;
        snprintf(res->reason, sizeof res->reason, "path template renders empty");
    } else {
        res->status = SL_SEND_PARTIAL;
        snprintf(s->reason, sizeof s->reason, "%s", why);
        for (size_t k = 0; k < n; k++)
            if (res->item_status[k] == SL_ITEM_RETRY)
                res->item_reason[k] = s->reason;
        snprintf(res->reason, sizeof res->reason, "%zu ok, %zu retry, %zu rejected%s%.200s", ok,
                 retry, rejected, why[0] ? ": " : "", why);
    }
    if (rejected)
        metrics_error(s->cc->metrics, "empty_path");
    if (retry && why[0])
        log_debug(s->cc->id, "%zu events to retry: %s", retry, why);
    /* Don't keep a huge buffer around after an exceptional request. */
    if (s->out.cap > (64u << 20))
        buf_free(&s->out);
    pthread_mutex_unlock(&s->lock);
    return SL_OK;
}

/* Closes files idle for a minute (date-templated paths move on) and syncs the rest. */
static void file_tick(void *self)
{
    file_sink *s = self;
    pthread_mutex_lock(&s->lock);
    int64_t now = sl_mono_ms();
    for (int i = 0; i < FILE_CACHE_SLOTS; i++)
        if (s->slots[i].path && now - s->slots[i].last_used_ms > FILE_IDLE_CLOSE_MS)
            slot_close(&s->slots[i]);
    pthread_mutex_unlock(&s->lock);
}

static void file_destroy(void *self)
{
    file_sink *s = self;
    if (!s)
        return;
    for (int i = 0; i < FILE_CACHE_SLOTS; i++)
        slot_close(&s->slots[i]);
    free(s->ends);
    buf_free(&s->out);
    buf_free(&s->paths);
    free(s->poff);
    free(s->next);
    free(s->gfirst);
    free(s->glast);
    free(s->ghash);
    name_tmpl_free(&s->tmpl);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* The vtable's `writes`: the path of an event written now, made absolute. */
static size_t file_writes(const void *config, char *out, size_t outlen)
{
    const file_config *cfg = config;
    char rendered[PATH_MAX], cwd[PATH_MAX], fmt[PATH_MAX];
    /* a {{ field }} as a missing field renders: "unknown" */
    size_t fl = 0;
    for (const char *p = cfg->path; *p && fl + 8 < sizeof fmt;) {
        const char *close = strncmp(p, "{{", 2) == 0 ? strstr(p + 2, "}}") : NULL;
        if (close) {
            memcpy(fmt + fl, "unknown", 7);
            fl += 7;
            p = close + 2;
        } else {
            fmt[fl++] = *p++;
        }
    }
    fmt[fl] = '\0';
    time_t now = time(NULL);
    struct tm tm;
    size_t n = gmtime_r(&now, &tm) ? strftime(rendered, sizeof rendered, fmt, &tm) : 0;
    if (n == 0)
        return 0;
    int k = rendered[0] == '/' || !getcwd(cwd, sizeof cwd)
                ? snprintf(out, outlen, "%s", rendered)
                : snprintf(out, outlen, "%s/%s", cwd, rendered);
    return k > 0 && (size_t)k < outlen ? (size_t)k : 0;
}

const sl_sink_vtable sl_sink_file = {
    .type = "file",
    .help = "Appends events as NDJSON (or text) lines to files named by a template of the "
            "event's time and fields",
    .options = file_options,
    .config_size = sizeof(file_config),
    .init = file_init,
    .send = file_send,
    .tick = file_tick,
    .destroy = file_destroy,
    .writes = file_writes,
    .serial = true,
};
