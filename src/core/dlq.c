/* dlq.c - the dead-letter queue file of one sink (append + fdatasync, torn tail cut on open)
 * and the `sluice dlq list|replay|purge` command that reads, resends and removes records. */
#include "dlq.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "common.h"
#include "component.h"
#include "config.h"
#include "log.h"
#include "sink_runtime.h"
#include "topology.h"
#include "../cli/options.h"
#include "../formats/json.h"

struct sl_dlq {
    pthread_mutex_t mu;
    int fd;
    off_t size;   /* bytes of complete records */
    char *id;
    char *path;
    sl_buf line;  /* reused for each record, under mu */
};

static int dlq_path(char *out, size_t outlen, const char *data_dir, const char *id)
{
    int n = snprintf(out, outlen, "%s/dlq/%s.ndjson", data_dir, id);
    return n > 0 && (size_t)n < outlen ? SL_OK : SL_ERR_TOOBIG;
}

/* Finds the length of the file up to and including its last newline. */
static int dlq_complete_len(int fd, off_t size, off_t *out)
{
    char chunk[4096];
    off_t end = size;
    while (end > 0) {
        off_t start = end > (off_t)sizeof chunk ? end - (off_t)sizeof chunk : 0;
        ssize_t r = pread(fd, chunk, (size_t)(end - start), start);
        if (r != end - start)
            return SL_ERR_IO;
        for (ssize_t i = r - 1; i >= 0; i--)
            if (chunk[i] == '\n') {
                *out = start + i + 1;
                return SL_OK;
            }
        end = start;
    }
    *out = 0;
    return SL_OK;
}

int dlq_open(sl_dlq **out, const char *data_dir, const char *sink_id, char *err, size_t errlen)
{
    *out = NULL;
    if (!sl_id_names_file(sink_id))
        return sl_seterr(err, errlen, SL_ERR_INVAL, "dlq: invalid sink id '%s'",
                         sink_id ? sink_id : "");
    char dir[4096], path[4096];
    if (snprintf(dir, sizeof dir, "%s/dlq", data_dir) >= (int)sizeof dir ||
        dlq_path(path, sizeof path, data_dir, sink_id) != SL_OK)
        return sl_seterr(err, errlen, SL_ERR_TOOBIG, "dlq: path too long");
    int rc = sl_mkdirs(dir, err, errlen);
    if (rc != SL_OK)
        return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "dlq: open %s: %s", path, strerror(errno));
    struct stat st;
    off_t keep = 0;
    if (fstat(fd, &st) != 0 || dlq_complete_len(fd, st.st_size, &keep) != SL_OK) {
        rc = sl_seterr(err, errlen, SL_ERR_IO, "dlq: read %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    if (keep < st.st_size) {
        /* A crash mid-append left half a record: it was never acknowledged, cut it. */
        if (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0) {
            rc = sl_seterr(err, errlen, SL_ERR_IO, "dlq: truncate %s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
        log_warn(sink_id, "dlq: cut a torn record of %lld byte(s) at the end of %s",
                 (long long)(st.st_size - keep), path);
    }
    sl_dlq *d = sl_xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->mu, NULL);
    d->fd = fd;
    d->size = keep;
    d->id = sl_xstrdup(sink_id);
    d->path = sl_xstrdup(path);
    *out = d;
    return SL_OK;
}

static void put_time(sl_buf *b, const char *key, int64_t ns)
{
    buf_printf(b, ",\"%s\":\"", key);
    json_format_time(b, ns);
    buf_putc(b, '"');
}

int dlq_write(sl_dlq *d, const sl_event *e, const char *reason, int attempts,
              int64_t first_attempt_ns, int64_t last_attempt_ns)
{
    if (!d)
        return SL_ERR_INVAL;
    pthread_mutex_lock(&d->mu);
    sl_buf *b = &d->line;
    buf_reset(b);
    buf_puts(b, "{\"time\":\"");
    json_format_time(b, sl_now_ns());
    buf_puts(b, "\",\"sink\":\"");
    json_escape(b, d->id, strlen(d->id));
    buf_puts(b, "\",\"reason\":\"");
    if (reason)
        json_escape(b, reason, strlen(reason));
    buf_printf(b, "\",\"attempts\":%d", attempts);
    put_time(b, "first_attempt", first_attempt_ns);
    put_time(b, "last_attempt", last_attempt_ns);
    /* The event's stable id, which the event's JSON does not carry: a replay sends it
     * under the same id, so a peer that already has it (an answer lost after it stored
     * it) folds the copy as it would any resend (Elasticsearch's create: 409). */
    if (e->id_str.len) {
        buf_puts(b, ",\"id_str\":\"");
        json_escape(b, e->id_str.ptr, e->id_str.len);
        buf_putc(b, '"');
    } else if (e->id_stream || e->id_seq) {
        buf_printf(b, ",\"id\":\"%016" PRIx64 "%016" PRIx64 "\"", e->id_stream, e->id_seq);
    }
    buf_puts(b, ",\"event\":");
    json_encode_event(b, e);
    buf_puts(b, "}\n");

    int rc = SL_OK;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(d->fd, b->p + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = SL_ERR_IO;
            break;
        }
        off += (size_t)w;
    }
    if (rc == SL_OK && fdatasync(d->fd) != 0)
        rc = SL_ERR_IO;
    if (rc == SL_OK) {
        d->size += (off_t)b->len;
    } else {
        /* Never leave half a record behind a later good one. */
        if (ftruncate(d->fd, d->size) != 0)
            log_error(d->id, "dlq: cannot cut a failed write in %s: %s", d->path, strerror(errno));
        log_error(d->id, "dlq: write %s: %s", d->path, strerror(errno));
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

void dlq_close(sl_dlq *d)
{
    if (!d)
        return;
    close(d->fd);
    buf_free(&d->line);
    pthread_mutex_destroy(&d->mu);
    free(d->id);
    free(d->path);
    free(d);
}

/* ---- CLI -------------------------------------------------------------------------------- */

enum { DLQ_CONFIG, DLQ_SINK, DLQ_LIMIT, DLQ_ALL };
static const cli_opt dlq_opts[] = {
    CLI_OPT_CONFIG, {"sink", 0, "an ID", false}, {"limit", 0, "a number", false},
    {"all", 0, NULL, false}, {0}};

static const cli_cmd dlq_cmd = {
    "dlq",
    "usage: sluice dlq list   -c FILE [--sink ID] [--limit N]\n"
    "       sluice dlq replay -c FILE [--sink ID] [--limit N]\n"
    "       sluice dlq purge  -c FILE (--sink ID | --all)\n"
    "\n"
    "Dead-lettered events live in <data_dir>/dlq/<sink>.ndjson, one JSON record per line\n"
    "(a parse transform's with on_error: dlq too, listed and purged by its id, not replayed).\n"
    "  list    per sink: the number of records, then each record (time, reason, attempts,\n"
    "          message); --limit caps the records shown per sink\n"
    "  replay  resends records through the sink as configured in FILE; delivered records\n"
    "          are removed from the file, the others stay. Exit status 0 only if every\n"
    "          record it tried (all, or the first N of each sink with --limit N) was\n"
    "          replayed. Refused while a daemon runs on the data_dir.\n"
    "  purge   deletes the DLQ file of one sink (--sink) or of every sink (--all); refused\n"
    "          while a daemon runs on the data_dir\n"
    "options:\n"
    "  -c, --config FILE  configuration (data_dir and sinks are read from it)\n"
    "  --sink ID          only this sink (default: every sink with a DLQ file)\n"
    "  --limit N          at most N records per sink\n"
    "  --all              purge: every sink\n"
    "  -h, --help         this text\n",
    dlq_opts, 1};

typedef struct dlq_args {
    const char *cmd, *config, *sink;
    long limit; /* -1 = none */
    bool all;
} dlq_args;

/* One line of a DLQ file (borrowed from the file's buffer). */
typedef struct dlq_line {
    const char *p;
    size_t n;
} dlq_line;

/* Returns CLI_GO, or the status to exit with. */
static int parse_args(int argc, char **argv, dlq_args *a)
{
    memset(a, 0, sizeof *a);
    a->limit = -1;
    cli_args o;
    int rc = cli_parse(&dlq_cmd, argc, argv, &o);
    if (rc != CLI_GO)
        return rc;
    long long limit;
    if (o.val[DLQ_LIMIT]) {
        if (cli_number(&dlq_cmd, DLQ_LIMIT, o.val[DLQ_LIMIT], 0, LONG_MAX, &limit) != CLI_GO)
            return 2;
        a->limit = (long)limit;
    }
    a->config = o.val[DLQ_CONFIG];
    a->sink = o.val[DLQ_SINK];
    a->all = o.val[DLQ_ALL] != NULL;
    a->cmd = o.nargs ? o.arg[0] : NULL;
    if (!a->cmd)
        return cli_usage_error(&dlq_cmd, "list, replay or purge?");
    if (strcmp(a->cmd, "list") && strcmp(a->cmd, "replay") && strcmp(a->cmd, "purge"))
        return cli_usage_error(&dlq_cmd, "unknown command '%s' (list, replay, purge)", a->cmd);
    if (!a->config)
        return cli_usage_error(&dlq_cmd, "%s: -c FILE is required", a->cmd);
    if (a->sink && !sl_id_names_file(a->sink)) {
        fprintf(stderr, "sluice dlq: invalid sink id '%s'\n", a->sink);
        return 2;
    }
    if (!strcmp(a->cmd, "purge") && !a->sink && !a->all) {
        fprintf(stderr, "sluice dlq purge: say which: --sink ID or --all\n");
        return 2;
    }
    return CLI_GO;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sink ids to work on: --sink, or every <id>.ndjson in the dlq directory (sorted).
 * Returns a malloc'd array of malloc'd strings. */
static char **list_sinks(const char *dir, const char *only, size_t *n)
{
    *n = 0;
    size_t cap = 8;
    char **v = sl_xmalloc(cap * sizeof *v);
    if (only) {
        v[(*n)++] = sl_xstrdup(only);
        return v;
    }
    DIR *d = opendir(dir);
    if (!d)
        return v;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 7 || de->d_name[0] == '.' || strcmp(de->d_name + len - 7, ".ndjson"))
            continue;
        if (*n == cap)
            v = sl_xrealloc(v, (cap *= 2) * sizeof *v);
        v[*n] = sl_xstrdup(de->d_name);
        v[*n][len - 7] = '\0';
        (*n)++;
    }
    closedir(d);
    qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_sinks(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits a file into non-empty lines. Returns a malloc'd array. */
static dlq_line *split_lines(const char *data, size_t len, size_t *n)
{
    size_t cap = 64;
    dlq_line *v = sl_xmalloc(cap * sizeof *v);
    *n = 0;
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - data) : len;
        if (end > i) {
            if (*n == cap)
                v = sl_xrealloc(v, (cap *= 2) * sizeof *v);
            v[(*n)++] = (dlq_line){data + i, end - i};
        }
        i = end + 1;
    }
    return v;
}

/* Reads <dir>/<id>.ndjson; a missing file is an empty DLQ. */
static int read_dlq(const char *dir, const char *id, char *path, size_t pathlen, char **data,
                    size_t *len)
{
    *data = NULL;
    *len = 0;
    if (snprintf(path, pathlen, "%s/%s.ndjson", dir, id) >= (int)pathlen)
        return SL_ERR_TOOBIG;
    if (access(path, F_OK) != 0)
        return SL_OK;
    char err[256];
    int rc = sl_read_file(path, data, len, err, sizeof err);
    if (rc != SL_OK)
        fprintf(stderr, "sluice dlq: %s\n", err);
    return rc;
}

static const char *jstr(const json_value *obj, const char *key)
{
    const json_value *v = json_get(obj, key);
    return v && v->type == JSON_STR ? v->str : "?";
}

static int cmd_list(const char *dir, const dlq_args *a)
{
    size_t nsinks;
    char **sinks = list_sinks(dir, a->sink, &nsinks);
    int status = 0;
    if (nsinks == 0)
        printf("no dead-lettered events in %s\n", dir);
    sl_arena arena;
    arena_init(&arena, 16 * 1024);
    for (size_t s = 0; s < nsinks; s++) {
        char path[4096], *data;
        size_t len, nlines;
        if (read_dlq(dir, sinks[s], path, sizeof path, &data, &len) != SL_OK) {
            status = 1;
            continue;
        }
        dlq_line *lines = split_lines(data ? data : "", len, &nlines);
        printf("%s: %zu record(s)\n", sinks[s], nlines);
        for (size_t i = 0; i < nlines && (a->limit < 0 || (long)i < a->limit); i++) {
            char err[128];
            arena_reset(&arena);
            json_value *r = json_parse(&arena, lines[i].p, lines[i].n, err, sizeof err);
            if (!r || r->type != JSON_OBJ) {
                printf("  record %zu: unreadable (%s)\n", i + 1, r ? "not an object" : err);
                continue;
            }
            const json_value *att = json_get(r, "attempts");
            const json_value *ev = json_get(r, "event");
            printf("  %s  attempts=%d  reason=%s  message=%s\n", jstr(r, "time"),
                   att && att->type == JSON_NUM ? (int)att->num : 0, jstr(r, "reason"),
                   ev && ev->type == JSON_OBJ ? jstr(ev, "message") : "?");
        }
        free(lines);
        free(data);
    }
    arena_free(&arena);
    free_sinks(sinks, nsinks);
    return status;
}

static int cmd_purge(const char *dir, const dlq_args *a)
{
    size_t nsinks;
    char **sinks = list_sinks(dir, a->all ? NULL : a->sink, &nsinks);
    int status = 0;
    for (size_t s = 0; s < nsinks; s++) {
        char path[4096], *data;
        size_t len, nlines;
        if (read_dlq(dir, sinks[s], path, sizeof path, &data, &len) != SL_OK) {
            status = 1;
            continue;
        }
        dlq_line *lines = split_lines(data ? data : "", len, &nlines);
        free(lines);
        free(data);
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "sluice dlq purge: %s: %s\n", path, strerror(errno));
            status = 1;
            continue;
        }
        printf("%s: purged %zu record(s)\n", sinks[s], nlines);
    }
    sl_fsync_dir(dir);
    free_sinks(sinks, nsinks);
    return status;
}

/* 16 hex digits (the halves of a record's "id") into *out. */
static bool hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        int d = sl_hexval((unsigned char)s[i]);
        if (d < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

/* Gives e the stable id its record kept (records written before ids were kept have none:
 * the event goes without, as it did then). */
static void restore_id(sl_batch *b, sl_event *e, const json_value *rec)
{
    const json_value *s = json_get(rec, "id_str"), *h = json_get(rec, "id");
    uint64_t st, sq;
    if (s && s->type == JSON_STR && s->len) {
        e->id_str = batch_str(b, s->str, s->len);
    } else if (h && h->type == JSON_STR && h->len == 32 && hex64(h->str, &st) &&
               hex64(h->str + 16, &sq)) {
        e->id_stream = st;
        e->id_seq = sq;
    }
}

/* Replays one sink's file. Adds to *replayed / *remaining. Returns 0 or 1. */
static int replay_sink(sl_topology *t, const sl_cnode *root, const char *dir, const char *id,
                       long limit, size_t *replayed, size_t *remaining)
{
    char path[4096], *data;
    size_t len, nlines;
    if (read_dlq(dir, id, path, sizeof path, &data, &len) != SL_OK)
        return 1;
    dlq_line *lines = split_lines(data ? data : "", len, &nlines);
    if (nlines == 0) {
        free(lines);
        free(data);
        return 0;
    }
    const sl_sink_vtable *vt;
    void *self;
    const sl_sink_common *common;
    if (topology_sink_instance(t, id, &vt, &self, &common) != SL_OK) {
        /* A transform's records (parse's on_error: dlq) are events it could not read:
         * no sink was meant to take them as they are. */
        sl_buf ids = SL_BUF_INIT;
        if (cnode_section_has(root, "transforms", id, &ids))
            fprintf(stderr, "sluice dlq replay: '%s' is a transform: its %zu record(s) are "
                            "events it could not process, not replayed (dlq list --sink %s "
                            "shows them, dlq purge --sink %s removes them)\n",
                    id, nlines, id, id);
        else
            fprintf(stderr, "sluice dlq replay: no sink '%s' in the configuration; %zu "
                            "record(s) kept\n", id, nlines);
        buf_free(&ids);
        *remaining += nlines;
        free(lines);
        free(data);
        return 1;
    }
    bool *keep = sl_xmalloc(nlines * sizeof *keep);
    for (size_t i = 0; i < nlines; i++)
        keep[i] = true;
    size_t todo = limit < 0 ? nlines : SL_MIN(nlines, (size_t)limit);
    size_t chunk = common->batch.max_events > 0 ? (size_t)common->batch.max_events : 500;
    size_t *which = sl_xmalloc(chunk * sizeof *which);
    sl_event **evs = sl_xmalloc(chunk * sizeof *evs);
    uint8_t *delivered = sl_xmalloc(chunk);
    size_t ok_here = 0, bad = 0;
    sl_arena arena;
    arena_init(&arena, 16 * 1024);
    for (size_t lo = 0; lo < todo; lo += chunk) {
        size_t hi = SL_MIN(todo, lo + chunk), k = 0;
        sl_batch *b = batch_new((uint32_t)(hi - lo));
        for (size_t i = lo; i < hi; i++) {
            char err[128];
            arena_reset(&arena);
            json_value *r = json_parse(&arena, lines[i].p, lines[i].n, err, sizeof err);
            const json_value *ev = r ? json_get(r, "event") : NULL;
            if (!ev || ev->type != JSON_OBJ || json_decode_event(b, ev->raw, ev->raw_len) != SL_OK) {
                bad++;
                continue; /* kept as is: a human has to look at it */
            }
            restore_id(b, &b->events[b->n - 1], r);
            which[k++] = i;
        }
        for (size_t j = 0; j < k; j++)
            evs[j] = &b->events[j]; /* after every batch_add: the array may have moved */
        char err[512];
        int rc = k ? sink_send_each(vt, self, evs, k, &common->retry, delivered, err, sizeof err)
                   : SL_OK;
        if (rc != SL_OK)
            fprintf(stderr, "sluice dlq replay: %s: %s\n", id, err);
        for (size_t j = 0; j < k; j++)
            if (rc == SL_OK || delivered[j]) {
                keep[which[j]] = false;
                ok_here++;
            }
        batch_release(b);
    }
    arena_free(&arena);
    if (bad)
        fprintf(stderr, "sluice dlq replay: %s: %zu unreadable record(s) kept\n", id, bad);

    int status = 0;
    if (ok_here > 0) {
        sl_buf out = SL_BUF_INIT;
        for (size_t i = 0; i < nlines; i++)
            if (keep[i]) {
                buf_append(&out, lines[i].p, lines[i].n);
                buf_putc(&out, '\n');
            }
        char err[512];
        if (sl_write_file_atomic(path, out.p ? out.p : "", out.len, err, sizeof err) != SL_OK) {
            /* The sink has the events but the file still lists them: replaying again
             * would duplicate, never lose. */
            fprintf(stderr, "sluice dlq replay: %s: %s\n", id, err);
            ok_here = 0;
            status = 1;
        }
        buf_free(&out);
    }
    size_t left = 0, failed = 0;
    for (size_t i = 0; i < nlines; i++) {
        left += keep[i];
        failed += keep[i] && i < todo; /* past --limit: not tried, not failed */
    }
    if (status)
        left = failed = nlines;
    printf("%s: replayed %zu, remaining %zu\n", id, ok_here, left);
    *replayed += ok_here;
    *remaining += left;
    free(which);
    free(evs);
    free(delivered);
    free(keep);
    free(lines);
    free(data);
    return status || failed ? 1 : 0;
}

static int cmd_replay(sl_config_doc *doc, const char *dir, const dlq_args *a)
{
    char err[1024];
    sl_topology *t = NULL;
    if (topology_build(&t, doc, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice dlq replay: %s\n", err);
        return 1;
    }
    size_t nsinks, replayed = 0, remaining = 0;
    char **sinks = list_sinks(dir, a->sink, &nsinks);
    int status = 0;
    for (size_t s = 0; s < nsinks; s++)
        status |= replay_sink(t, doc->root, dir, sinks[s], a->limit, &replayed, &remaining);
    printf("replayed %zu, remaining %zu\n", replayed, remaining);
    free_sinks(sinks, nsinks);
    topology_free(t);
    return status;
}

int dlq_cli(int argc, char **argv)
{
    dlq_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != CLI_GO)
        return rc;
    char err[1024];
    sl_config_doc *doc = NULL;
    if (config_file_load(&doc, a.config, err, sizeof err) != SL_OK) {
        fprintf(stderr, "sluice dlq: %s\n", err);
        return 1;
    }
    const sl_cnode *dd = cnode_get(doc->root, "data_dir");
    const char *data_dir = dd && dd->kind == SL_CNODE_SCALAR && dd->scalar && dd->scalar[0]
                               ? dd->scalar
                               : "/var/lib/sluice";
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/dlq", data_dir) >= (int)sizeof dir) {
        fprintf(stderr, "sluice dlq: data_dir too long\n");
        config_doc_free(doc);
        return 1;
    }
    if (a.sink) {
        /* A typo would list, replay or purge nothing and say so as a success; a sink gone
         * from the config may still have a DLQ file to deal with. */
        char path[4400];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.ndjson", dir, a.sink);
        sl_buf ids = SL_BUF_INIT;
        bool known = cnode_section_has(doc->root, "sinks", a.sink, &ids) ||
                     stat(path, &st) == 0;
        if (!known)
            fprintf(stderr, "sluice dlq: %s has no sink '%s' and %s has no DLQ file of it "
                            "(sinks: %s)\n", a.config, a.sink, dir, ids.p);
        buf_free(&ids);
        if (!known) {
            config_doc_free(doc);
            return 2;
        }
    }
    /* A running daemon appends to the DLQ files through descriptors it keeps open: a file
     * replay rewrote or purge removed would take its later records with the unlinked inode.
     * Its flock on data_dir says it runs (a data_dir not there has no daemon either). */
    int lock = -1;
    struct stat dst;
    if (strcmp(a.cmd, "list") && stat(data_dir, &dst) == 0) {
        rc = sl_data_dir_lock(data_dir, &lock, err, sizeof err);
        if (rc != SL_OK) {
            fprintf(stderr, "sluice dlq %s: %s%s\n", a.cmd, err,
                    rc == SL_ERR_AGAIN ? ": stop it first (the records stay)" : "");
            config_doc_free(doc);
            return 1;
        }
    }
    int status;
    if (!strcmp(a.cmd, "list"))
        status = cmd_list(dir, &a);
    else if (!strcmp(a.cmd, "purge"))
        status = cmd_purge(dir, &a);
    else
        status = cmd_replay(doc, dir, &a);
    if (lock >= 0)
        close(lock);
    config_doc_free(doc);
    return status;
}
