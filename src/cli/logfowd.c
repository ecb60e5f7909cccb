/* logfowd.c - logfowd2's config.json as a sluice pipeline: the pod log tree read by
 * kubernetes_logs (path metadata, CRI and Docker formats, positions) into elasticsearch with
 * `<index_name>-YYYY.MM.DD` indices, batched, with logfowd2's retry and circuit breaker.
 *
 * Every key logfowd2 reads is known here with its JSON type. A key with a sluice meaning
 * becomes an option; one without (channel sizes, backpressure delays, reader pools) is
 * accepted with one info note saying why sluice does not need it; a key logfowd2 does not
 * know is a warning (logfowd2 would silently ignore it, which hides typos); a value of the
 * wrong type is an error, as logfowd2 refuses to start on one. */
#include "cli/logfowd.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/yaml_quote.h"
#include "core/arena.h"
#include "core/common.h"
#include "formats/json.h"

typedef enum { LF_STR, LF_UINT, LF_BOOL, LF_FLOAT, LF_OBJ } lf_kind;

typedef struct lf_key {
    const char *name;
    lf_kind kind;
    const struct lf_key *sub; /* LF_OBJ */
    const char *why;          /* non-NULL: accepted without a sluice meaning, this is why */
} lf_key;

#define WHY_CHANNEL                                                                             \
    "events wait in the sink's buffer (bounded in bytes by buffer.max_bytes), not in channels " \
    "between threads"
#define WHY_BACKPRESSURE                                                                       \
    "a full buffer stops the reading thread itself (files are not read until there is room), " \
    "so there is no delay to tune"
#define WHY_NOTIFY                                                                           \
    "an inotify overflow makes sluice walk the tree again; no file event is buffered or " \
    "dropped"

static const lf_key channels_keys[] = {
    {"watcher_buffer_size", LF_UINT, NULL, WHY_CHANNEL},
    {"es_buffer_size", LF_UINT, NULL, WHY_CHANNEL},
    {"backpressure_threshold", LF_FLOAT, NULL, WHY_BACKPRESSURE},
    {"backpressure_min_delay_ms", LF_UINT, NULL, WHY_BACKPRESSURE},
    {"backpressure_max_delay_ms", LF_UINT, NULL, WHY_BACKPRESSURE},
    {"notify_buffer_warning_threshold", LF_UINT, NULL, WHY_NOTIFY},
    {"notify_buffer_max_size", LF_UINT, NULL, WHY_NOTIFY},
    {"notify_drop_on_overflow", LF_BOOL, NULL, WHY_NOTIFY},
    {"notify_filesystem_buffer_warning_threshold", LF_UINT, NULL, WHY_NOTIFY},
    {"notify_filesystem_buffer_size", LF_UINT, NULL, WHY_NOTIFY},
    {NULL, 0, NULL, NULL},
};

static const lf_key metrics_keys[] = {
    {"enabled", LF_BOOL, NULL, NULL},
    {"port", LF_UINT, NULL, NULL},
    {"path", LF_STR, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

static const lf_key logging_keys[] = {
    {"level", LF_STR, NULL, NULL},
    {"format", LF_STR, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

static const lf_key es_keys[] = {
    {"host", LF_STR, NULL, NULL},          {"port", LF_UINT, NULL, NULL},
    {"index_name", LF_STR, NULL, NULL},    {"flush_interval", LF_UINT, NULL, NULL},
    {"bulk_size", LF_UINT, NULL, NULL},    {"workers", LF_UINT, NULL, NULL},
    {NULL, 0, NULL, NULL},
};

static const lf_key top_keys[] = {
    {"log_path", LF_STR, NULL, NULL},
    {"is_debug", LF_BOOL, NULL, NULL},
    {"state_file_path", LF_STR, NULL, NULL},
    {"read_existing_on_startup", LF_BOOL, NULL, NULL},
    {"read_chunk_size", LF_UINT, NULL, NULL},
    {"max_line_size", LF_UINT, NULL, NULL},
    {"max_concurrent_file_readers", LF_UINT, NULL,
     "one thread reads every file, each turn bounded by read_budget_bytes so no file starves "
     "the others; there is no pool of readers to size"},
    {"channels", LF_OBJ, channels_keys, NULL},
    {"metrics", LF_OBJ, metrics_keys, NULL},
    {"logging", LF_OBJ, logging_keys, NULL},
    {"es", LF_OBJ, es_keys, NULL},
    {NULL, 0, NULL, NULL},
};

static const char *kind_word(lf_kind k)
{
    switch (k) {
    case LF_STR: return "a string";
    case LF_UINT: return "a whole number >= 0";
    case LF_BOOL: return "true or false";
    case LF_FLOAT: return "a number";
    default: return "an object";
    }
}

static const char *type_word(json_type t)
{
    static const char *const w[] = {"null", "a boolean", "a number", "a string", "an array",
                                    "an object"};
    return w[t];
}

static bool type_ok(lf_kind k, const json_value *v)
{
    switch (k) {
    case LF_STR: return v->type == JSON_STR;
    case LF_BOOL: return v->type == JSON_BOOL;
    case LF_FLOAT: return v->type == JSON_NUM;
    case LF_OBJ: return v->type == JSON_OBJ;
    case LF_UINT:
        return v->type == JSON_NUM && v->num >= 0 && v->num <= 9007199254740992.0 &&
               floor(v->num) == v->num;
    }
    return false;
}

/* Checks every member of `obj` against `keys` (recursively), writing notes. */
static int check_object(const json_value *obj, const lf_key *keys, const char *prefix,
                        const char *path, sl_buf *notes, char *err, size_t errlen)
{
    for (size_t i = 0; i < obj->n; i++) {
        const char *k = obj->keys[i];
        const json_value *v = obj->items[i];
        char full[256];
        snprintf(full, sizeof full, "%s%s", prefix, k);
        const lf_key *d = keys;
        while (d->name && strcmp(d->name, k) != 0)
            d++;
        if (!d->name) {
            if (notes)
                buf_printf(notes, "warn: %s: unknown key \"%s\" ignored (logfowd2 ignores it "
                                  "too; is it a typo?)\n", path, full);
            continue;
        }
        if (v->type == JSON_NULL) /* an absent Option in logfowd2: the default */
            continue;
        if (!type_ok(d->kind, v))
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s: expected %s, got %s%s%.*s",
                             path, full, kind_word(d->kind), type_word(v->type),
                             v->type == JSON_NUM ? " " : "",
                             v->type == JSON_NUM ? (int)SL_MIN(v->raw_len, 40) : 0, v->raw);
        if (d->kind == LF_STR && !yaml_utf8_valid(v->str))
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s: not valid UTF-8", path, full);
        if (d->kind == LF_OBJ) {
            char sub[sizeof full + 1];
            snprintf(sub, sizeof sub, "%s.", full);
            int rc = check_object(v, d->sub, sub, path, notes, err, errlen);
            if (rc)
                return rc;
        } else if (d->why && notes) {
            buf_printf(notes, "info: %s: %s (%.*s) is not needed: %s\n", path, full,
                       (int)SL_MIN(v->raw_len, 40), v->raw, d->why);
        }
    }
    return SL_OK;
}

static const json_value *get2(const json_value *root, const char *obj, const char *key)
{
    const json_value *v = obj ? json_get_path(root, obj, key, NULL) : json_get(root, key);
    return v && v->type != JSON_NULL ? v : NULL;
}

static const char *str_or(const json_value *root, const char *obj, const char *key,
                          const char *def)
{
    const json_value *v = get2(root, obj, key);
    return v ? v->str : def;
}

static long long num_or(const json_value *root, const char *obj, const char *key, long long def)
{
    const json_value *v = get2(root, obj, key);
    return v ? (long long)v->num : def;
}

static bool bool_or(const json_value *root, const char *obj, const char *key, bool def)
{
    const json_value *v = get2(root, obj, key);
    return v ? v->b : def;
}

bool logfowd_detect(const char *text, size_t n)
{
    size_t i = 0;
    while (i < n && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i >= n || text[i] != '{')
        return false;
    sl_arena a;
    arena_init(&a, 4096);
    char err[128];
    const json_value *root = json_parse(&a, text, n, err, sizeof err);
    bool yes = root && root->type == JSON_OBJ && !json_get(root, "sources") &&
               !json_get(root, "sinks") &&
               (json_get(root, "log_path") || json_get(root, "es") ||
                json_get(root, "channels") || json_get(root, "state_file_path"));
    arena_free(&a);
    return yes;
}

int logfowd_translate(const char *text, size_t n, const char *path, char **yaml, sl_buf *notes,
                      char *err, size_t errlen)
{
    *yaml = NULL;
    sl_arena a;
    arena_init(&a, 4096);
    char jerr[256];
    int rc = SL_OK;
    const json_value *root = json_parse(&a, text, n, jerr, sizeof jerr);
    if (!root)
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: not valid JSON: %s", path, jerr);
    else if (root->type != JSON_OBJ)
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: expected a JSON object, got %s", path,
                       type_word(root->type));
    if (!rc)
        rc = check_object(root, top_keys, "", path, notes, err, errlen);
    /* What logfowd2 cannot start without. */
    static const char *const required[][2] = {
        {NULL, "log_path"}, {NULL, "es"}, {"es", "host"}, {"es", "port"}, {"es", "index_name"}};
    for (size_t i = 0; !rc && i < sizeof required / sizeof required[0]; i++)
        if (!get2(root, required[i][0], required[i][1]))
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: missing key \"%s%s%s\"", path,
                           required[i][0] ? required[i][0] : "", required[i][0] ? "." : "",
                           required[i][1]);
    const char *level = "info", *format = "text";
    long long port = 0, mport = 0;
    const char *mpath = NULL, *index = NULL, *host = NULL;
    if (!rc) {
        /* logfowd2's logging levels; `trace` is below anything sluice logs */
        static const char *const levels[][2] = {{"trace", "debug"}, {"debug", "debug"},
                                                {"info", "info"},   {"warn", "warn"},
                                                {"warning", "warn"}, {"error", "error"}};
        const char *l = str_or(root, "logging", "level", bool_or(root, NULL, "is_debug", false)
                                                             ? "debug" : "info");
        size_t i = 0;
        while (i < sizeof levels / sizeof levels[0] && strcasecmp(levels[i][0], l) != 0)
            i++;
        if (i == sizeof levels / sizeof levels[0])
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                           "%s: logging.level: unknown level \"%s\" (valid: trace, debug, info, "
                           "warn, error)", path, l);
        else
            level = levels[i][1];
    }
    if (!rc) {
        const char *f = str_or(root, "logging", "format", "simple");
        if (strcmp(f, "simple") == 0)
            format = "text";
        else if (strcmp(f, "structured") == 0 || strcmp(f, "json") == 0)
            format = "json";
        else
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                           "%s: logging.format: unknown format \"%s\" (valid: simple, structured)",
                           path, f);
    }
    if (!rc) {
        port = num_or(root, "es", "port", 9200);
        mport = num_or(root, "metrics", "port", 9090);
        mpath = str_or(root, "metrics", "path", "/metrics");
        index = str_or(root, "es", "index_name", "logfowd");
        host = str_or(root, "es", "host", "http://elasticsearch");
        if (port < 1 || port > 65535 || mport < 1 || mport > 65535)
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: %s: %lld is not a port (1-65535)",
                           path, port < 1 || port > 65535 ? "es.port" : "metrics.port",
                           port < 1 || port > 65535 ? port : mport);
        else if (mpath[0] != '/')
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG,
                           "%s: metrics.path \"%s\" must start with '/'", path, mpath);
        else if (!*index)
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: es.index_name is empty", path);
        else if (!*host)
            rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s: es.host is empty", path);
    }
    if (rc) {
        arena_free(&a);
        return rc;
    }

    sl_buf y = SL_BUF_INIT, s = SL_BUF_INIT;
    buf_puts(&y, "# sluice configuration equivalent to logfowd2's ");
    for (const char *c = path; *c; c++) /* a comment line: no control may end it */
        buf_putc(&y, (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c);
    buf_puts(&y, "\n");
    /* positions live where logfowd2 kept its state file (its own format is not read) */
    const char *state = str_or(root, NULL, "state_file_path", "/tmp/logfowd2_state.json");
    const char *slash = strrchr(state, '/');
    if (!slash)
        buf_puts(&s, ".");
    else if (slash == state)
        buf_puts(&s, "/");
    else
        buf_printf(&s, "%.*s", (int)(slash - state), state);
    buf_putc(&s, '\0');
    buf_puts(&y, "data_dir: ");
    yaml_quote(&y, s.p);
    buf_printf(&y, "\nlog: { level: %s, format: %s }\n", level, format);
    if (bool_or(root, "metrics", "enabled", false)) {
        buf_printf(&y, "api: { address: \"0.0.0.0:%lld\", metrics_path: ", mport);
        yaml_quote(&y, mpath);
        buf_puts(&y, " }\n");
    } else if (notes) {
        buf_printf(notes, "info: %s: metrics.enabled is false: /metrics and the health "
                          "endpoints stay on sluice's API at 127.0.0.1:2020\n", path);
    }
    buf_puts(&y, "sources:\n  pods:\n    type: kubernetes_logs\n    path: ");
    yaml_quote(&y, str_or(root, NULL, "log_path", "/var/log/pods"));
    buf_printf(&y, "\n    read_from: %s\n    max_line_bytes: %lld\n    batch_max_events: %lld\n",
               bool_or(root, NULL, "read_existing_on_startup", false) ? "head" : "tail",
               SL_MAX(num_or(root, NULL, "max_line_size", 1048576), 1LL),
               SL_MAX(num_or(root, NULL, "read_chunk_size", 200), 1LL));
    buf_puts(&y, "sinks:\n  elasticsearch:\n    type: elasticsearch\n    inputs: [pods]\n"
                 "    endpoint: ");
    /* logfowd2 joins host and port; a host without a scheme is plain http */
    buf_reset(&s);
    const char *scheme = strstr(host, "://");
    if (!scheme)
        buf_puts(&s, "http://");
    const char *auth = scheme ? scheme + 3 : host;
    size_t hl = strcspn(auth, "/?");
    const char *lastc = memchr(auth, ']', hl) ? NULL : memchr(auth, ':', hl);
    if (lastc) /* the host already names a port */
        buf_puts(&s, host);
    else
        buf_printf(&s, "%.*s:%lld%s", (int)(auth - host + hl), host, port, auth + hl);
    buf_putc(&s, '\0');
    yaml_quote(&y, s.p);
    buf_reset(&s);
    buf_printf(&s, "%s-%%Y.%%m.%%d", index);
    buf_putc(&s, '\0');
    buf_puts(&y, "\n    index: ");
    yaml_quote(&y, s.p);
    buf_printf(&y,
               "\n    batch: { max_events: %lld, timeout_ms: %lld }\n    concurrency: %lld\n"
               "    # logfowd2's exponential backoff (500 ms to 30 s) and circuit breaker (10\n"
               "    # failures, 30 s open)\n"
               "    retry: { initial_ms: 500, max_ms: 30000 }\n"
               "    circuit_breaker: { failures: 10, open_ms: 30000 }\n",
               SL_MAX(num_or(root, "es", "bulk_size", 1000), 1LL),
               SL_MAX(num_or(root, "es", "flush_interval", 1000), 1LL),
               SL_MAX(num_or(root, "es", "workers", 1), 1LL));
    buf_free(&s);
    buf_putc(&y, '\0');
    arena_free(&a);
    *yaml = y.p;
    return SL_OK;
}

int logfowd_translate_file(const char *path, char **yaml, sl_buf *notes, char *err,
                           size_t errlen)
{
    *yaml = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    sl_buf b = SL_BUF_INIT;
    char chunk[8192];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < (1u << 20))
        buf_append(&b, chunk, r);
    bool bad = ferror(f);
    fclose(f);
    if (bad || b.len >= (1u << 20)) {
        buf_free(&b);
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: %s", path,
                         bad ? "cannot read" : "larger than 1 MiB: not a config.json");
    }
    int rc = logfowd_translate(b.p ? b.p : "", b.len, path, yaml, notes, err, errlen);
    buf_free(&b);
    return rc;
}
