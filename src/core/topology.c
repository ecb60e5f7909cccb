/* topology.c - builds the pipeline graph from the config and runs it: one thread per
 * source, transforms inline on the source's thread, a buffer and a runtime per sink.
 *
 * Notes on the design
 *  1. Validation happens entirely in topology_build, before any thread or file exists, so
 *     `sluice validate` and `sluice run` report exactly the same errors. validate (and
 *     top, tap, reload -c) build with topology_check: components are built check_only,
 *     checking what run checks but starting no client (a kafka config's librdkafka).
 *  2. A batch travels: source -> transforms (in place, on the source thread) -> every sink
 *     buffer reachable from it. The router holds one reference while fanning out; each
 *     memory buffer takes its own; a disk buffer writes the batch and keeps none. When
 *     the last reference goes, the batch's ack token is released (acks.h).
 *  3. A batch that could not be handed to every sink (shutdown) is abandoned, never acked,
 *     so its source re-reads it after restart.
 *  4. Shutdown: sources stop reading and wait for their acks while sinks keep delivering;
 *     at the deadline every buffer is closed (unblocking producers), sources commit what
 *     was acknowledged, then sink runtimes drain what is left until the same deadline.
 *  5. When a node feeds several consumers and one of them is a transform, each transform
 *     consumer works on its own clone (transforms modify in place); sinks share.
 *  6. A transform may keep events past their batch (multiline's open groups, with their
 *     batches' ack tokens). What it keeps for a source is asked for (vtable flush) on that
 *     source's thread, when the source collects its acks and, all of it, when the source
 *     drains at its end; it is routed on from that transform as any batch. */
#include "topology.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "buffer.h"
#include "common.h"
#include "component.h"
#include "log.h"
#include "memlimit.h"
#include "metrics.h"
#include "sink_runtime.h"
#include "formats/json.h"
#include "net/url.h"
#include "tap.h"
#include "topology_int.h"

const char *const topo_kind_names[] = {"source", "transform", "sink"};
#define kind_names topo_kind_names
static const char *const section_names[] = {"sources", "transforms", "sinks"};

/* ---- Global options ------------------------------------------------------------------ */

static const char *const log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const log_formats[] = {"text", "json", NULL};

static const sl_option api_options[] = {
    {"address", SL_OPT_STRLIST, offsetof(sl_global_config, api.address) - offsetof(sl_global_config, api),
     "127.0.0.1:2020", 0, NULL, NULL, 0, 0,
     "host:port the HTTP API listens on, or a list of them (every route on each)"},
    {"metrics_path", SL_OPT_STR,
     offsetof(sl_global_config, api.metrics_path) - offsetof(sl_global_config, api), "/metrics", 0,
     NULL, NULL, 0, 0, "path of the Prometheus exposition"},
    {"enabled", SL_OPT_BOOL, offsetof(sl_global_config, api.enabled) - offsetof(sl_global_config, api),
     "true", 0, NULL, NULL, 0, 0, "serve /healthz, /readyz, /metrics, /api/v1/status"},
    SL_OPT_END,
};

static const sl_option limits_options[] = {
    {"memory", SL_OPT_SIZE, offsetof(sl_global_config, limits.memory) - offsetof(sl_global_config, limits),
     NULL, 0, NULL, NULL, 0, 0,
     "pause sources (deep history first, then backfill, live tails last) before the process "
     "uses this much memory (resident set); default: the cgroup v2 memory.max, if any"},
    SL_OPT_END,
};

static const sl_option log_options[] = {
    {"level", SL_OPT_ENUM, offsetof(sl_global_config, log.level) - offsetof(sl_global_config, log),
     "info", 0, log_levels, NULL, 0, 0, "minimum level of sluice's own log"},
    {"format", SL_OPT_ENUM, offsetof(sl_global_config, log.format) - offsetof(sl_global_config, log),
     "text", 0, log_formats, NULL, 0, 0, "text or json lines"},
    {"file", SL_OPT_STR, offsetof(sl_global_config, log.file) - offsetof(sl_global_config, log),
     NULL, 0, NULL, NULL, 0, 0, "write the log here instead of stderr (reopened on SIGHUP)"},
    SL_OPT_END,
};

const sl_option sl_global_options[] = {
    {"data_dir", SL_OPT_STR, offsetof(sl_global_config, data_dir), "/var/lib/sluice", 0, NULL,
     NULL, 0, 0, "where checkpoints, disk buffers and dead letters live"},
    {"shutdown_timeout", SL_OPT_DURATION, offsetof(sl_global_config, shutdown_timeout_ms), "30s",
     0, NULL, NULL, 0, 0, "how long SIGTERM waits for in-flight batches to drain; a send "
     "still waiting on its peer then is cut off (its events are read again at the next start, "
     "and may arrive twice)"},
    {"api", SL_OPT_OBJECT, offsetof(sl_global_config, api), NULL, 0, NULL, api_options, 0, 0,
     "HTTP API"},
    {"log", SL_OPT_OBJECT, offsetof(sl_global_config, log), NULL, 0, NULL, log_options, 0, 0,
     "sluice's own log"},
    {"limits", SL_OPT_OBJECT, offsetof(sl_global_config, limits), NULL, 0, NULL, limits_options, 0,
     0, "process-wide resource limits"},
    SL_OPT_END,
};

typedef struct transform_common {
    char *type;
    sl_strlist inputs;
} transform_common;

static const sl_option source_common_options[] = {
    {"type", SL_OPT_STR, 0, NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0, "component type"},
    SL_OPT_END,
};

static const sl_option transform_common_options[] = {
    {"type", SL_OPT_STR, offsetof(transform_common, type), NULL, SL_OPT_REQUIRED, NULL, NULL, 0, 0,
     "component type"},
    {"inputs", SL_OPT_STRLIST, offsetof(transform_common, inputs), NULL, SL_OPT_REQUIRED, NULL,
     NULL, 0, 0, "ids of the sources or transforms this one reads from"},
    SL_OPT_END,
};

/* ---- Build --------------------------------------------------------------------------- */

static node *find_node(sl_topology *t, const char *id)
{
    for (size_t i = 0; i < t->nnodes; i++)
        if (strcmp(t->nodes[i]->id, id) == 0)
            return t->nodes[i];
    return NULL;
}

static int node_err(sl_topology *t, const sl_cnode *at, char *err, size_t errlen, const char *fmt,
                    ...) __attribute__((format(printf, 5, 6)));
static int node_err(sl_topology *t, const sl_cnode *at, char *err, size_t errlen, const char *fmt,
                    ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = at ? (at->key ? at->key_line : at->line) : 1;
    int col = at ? (at->key ? at->key_col : at->col) : 1;
    return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s:%d:%d: %s", t->path, line, col, msg);
}

/* The ids of the sinks (or of the sources and transforms) but `except`, for messages. */
static void list_ids(sl_topology *t, bool want_sink, const node *except, char *out,
                     size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < t->nnodes && n < outlen; i++) {
        bool is_sink = t->nodes[i]->kind == NODE_SINK;
        if (is_sink != want_sink || t->nodes[i] == except)
            continue;
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", t->nodes[i]->id);
    }
    if (!out[0])
        snprintf(out, outlen, "none defined");
}

/* Plugin names of Fluent Bit and Vector that a file written from their documentation uses,
 * and sluice's type for the same thing; said with the unknown type so that a converted
 * config's first error tells the name to write. Only names with a like-for-like type. */
static const struct {
    int kind;
    const char *name, *text;
} foreign_types[] = {
    {NODE_SOURCE, "tail", "Fluent Bit's tail is sluice's file"},
    {NODE_SOURCE, "dummy", "Fluent Bit's dummy is sluice's demo"},
    {NODE_SOURCE, "systemd", "Fluent Bit's systemd is sluice's journald"},
    {NODE_SOURCE, "opentelemetry", "Fluent Bit's and Vector's opentelemetry is sluice's otlp"},
    {NODE_SOURCE, "fluent", "Vector's fluent is sluice's forward"},
    {NODE_SOURCE, "http_server", "Vector's http_server is sluice's http"},
    {NODE_SOURCE, "demo_logs", "Vector's demo_logs is sluice's demo"},
    {NODE_TRANSFORM, "grep", "Fluent Bit's grep is sluice's filter"},
    {NODE_TRANSFORM, "parser", "Fluent Bit's parser is sluice's parse"},
    {NODE_TRANSFORM, "record_modifier", "Fluent Bit's record_modifier is sluice's add_fields"},
    {NODE_TRANSFORM, "modify", "Fluent Bit's modify is sluice's set, rename, copy and remove"},
    {NODE_TRANSFORM, "remap", "sluice has no VRL: Vector's remap is parse, set, rename, copy, "
                              "remove and filter"},
    {NODE_SINK, "console", "Vector's console is sluice's stdout"},
    {NODE_SINK, "es", "Fluent Bit's es is sluice's elasticsearch"},
    {NODE_SINK, "opensearch", "Fluent Bit's opensearch is sluice's elasticsearch"},
    {NODE_SINK, "null", "Fluent Bit's null is sluice's blackhole"},
    {NODE_SINK, "aws_s3", "Vector's aws_s3 is sluice's s3"},
    {NODE_SINK, "opentelemetry", "Fluent Bit's and Vector's opentelemetry is sluice's otlp"},
};

static const char *foreign_type(int kind, const char *name)
{
    for (size_t i = 0; i < sizeof foreign_types / sizeof *foreign_types; i++)
        if (foreign_types[i].kind == kind && strcmp(foreign_types[i].name, name) == 0)
            return foreign_types[i].text;
    return NULL;
}

/* Reads the `type:` of a component map and resolves its vtable. */
static int resolve_type(sl_topology *t, node *n, char *err, size_t errlen)
{
    const sl_cnode *ty = cnode_get(n->cn, "type");
    char valid[512];
    registry_list(kind_names[n->kind], valid, sizeof valid);
    if (!ty || ty->kind != SL_CNODE_SCALAR || !ty->scalar || !ty->scalar[0])
        return node_err(t, n->cn, err, errlen, "%s: missing required option 'type' (valid: %s)",
                        n->where, valid);
    n->type = sl_xstrdup(ty->scalar);
    const void *vt = NULL;
    const sl_option *opts = NULL;
    size_t size = 0;
    switch (n->kind) {
    case NODE_SOURCE:
        if ((n->vt.src = registry_source(n->type)))
            vt = n->vt.src, opts = n->vt.src->options, size = n->vt.src->config_size;
        break;
    case NODE_TRANSFORM:
        if ((n->vt.tr = registry_transform(n->type)))
            vt = n->vt.tr, opts = n->vt.tr->options, size = n->vt.tr->config_size;
        break;
    case NODE_SINK:
        if ((n->vt.sink = registry_sink(n->type)))
            vt = n->vt.sink, opts = n->vt.sink->options, size = n->vt.sink->config_size;
        break;
    }
    if (!vt) {
        const sl_cnode at = {.line = ty->line, .col = ty->col};
        const char *theirs = foreign_type(n->kind, n->type);
        return node_err(t, &at, err, errlen, "%s: unknown %s type '%s' (%s%svalid: %s)",
                        n->where, kind_names[n->kind], n->type, theirs ? theirs : "",
                        theirs ? "; " : "", valid);
    }
    n->options = opts;
    n->config = sl_xcalloc(1, size ? size : 1);
    return SL_OK;
}

static int parse_node_options(sl_topology *t, node *n, char *err, size_t errlen)
{
    static const char *const ignore_type[] = {"type", NULL};
    static const sl_option empty[] = {SL_OPT_END};
    const sl_option *own = n->options ? n->options : empty;
    transform_common tc = {0};
    char *dummy_type = NULL;
    int rc;
    switch (n->kind) {
    case NODE_SOURCE: {
        const sl_option *tables[] = {source_common_options, own};
        void *bases[] = {&dummy_type, n->config};
        rc = config_apply(tables, bases, 2, n->cn, ignore_type, t->path, n->where, err, errlen);
        free(dummy_type);
        break;
    }
    case NODE_TRANSFORM: {
        const sl_option *tables[] = {transform_common_options, own};
        void *bases[] = {&tc, n->config};
        rc = config_apply(tables, bases, 2, n->cn, ignore_type, t->path, n->where, err, errlen);
        n->inputs = tc.inputs;
        free(tc.type);
        break;
    }
    default: {
        const sl_option *tables[] = {sl_sink_common_options, own};
        void *bases[] = {&n->common, n->config};
        rc = config_apply(tables, bases, 2, n->cn, ignore_type, t->path, n->where, err, errlen);
        if (rc == SL_OK && n->vt.sink && n->vt.sink->ordered && n->common.concurrency != 1) {
            const sl_cnode *at = cnode_get(n->cn, "concurrency");
            const sl_cnode pos = {.line = at ? at->line : n->cn->line,
                                  .col = at ? at->col : n->cn->col};
            rc = node_err(t, &pos, err, errlen, "%s.concurrency: a %s sink sends one request at "
                          "a time, in order (concurrency 1)", n->where, n->vt.sink->type);
        }
        const sl_retry_config *r = &n->common.retry;
        if (rc == SL_OK && r->initial_ms > r->max_ms) {
            const sl_cnode *at = cnode_get(cnode_get(n->cn, "retry"), "initial_ms");
            rc = node_err(t, at ? at : n->cn, err, errlen,
                          "%s.retry: initial_ms (%lld ms) is above max_ms (%lld ms): the "
                          "first backoff would be above its ceiling",
                          n->where, (long long)r->initial_ms, (long long)r->max_ms);
        }
        break;
    }
    }
    return rc;
}

static const sl_strlist *node_inputs(node *n)
{
    return n->kind == NODE_SINK ? &n->common.inputs : &n->inputs;
}

/* The cnode of the i-th input (for line:col), or the component's map. */
static const sl_cnode *input_at(const node *n, size_t i)
{
    const sl_cnode *in = cnode_get(n->cn, "inputs");
    if (in && in->kind == SL_CNODE_SEQ && i < in->n)
        return in->items[i];
    return in ? in : n->cn;
}

/* True when another sink names n as its fallback. */
static bool is_fallback(const sl_topology *t, const node *n)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        const node *o = t->nodes[i];
        if (o != n && o->kind == NODE_SINK && o->common.fallback &&
            strcmp(o->common.fallback, n->id) == 0)
            return true;
    }
    return false;
}

static int wire_inputs(sl_topology *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind == NODE_SOURCE)
            continue;
        const sl_strlist *in = node_inputs(n);
        if (in->n == 0 && n->kind == NODE_SINK && is_fallback(t, n))
            continue; /* a sink that is only another sink's fallback */
        if (in->n == 0)
            return node_err(t, n->cn, err, errlen, "%s: 'inputs' must name at least one source or transform%s",
                            n->where, n->kind == NODE_SINK ? " (or be another sink's fallback)" : "");
        for (size_t j = 0; j < in->n; j++) {
            node *up = find_node(t, in->v[j]);
            if (!up || up->kind == NODE_SINK) {
                char valid[1024];
                list_ids(t, false, n, valid, sizeof valid);
                const sl_cnode *at = input_at(n, j);
                const sl_cnode pos = {.line = at->line, .col = at->col};
                return node_err(t, &pos, err, errlen, "%s: unknown input '%s'%s (valid: %s)",
                                n->where, in->v[j], up ? " (a sink cannot be an input)" : "",
                                valid);
            }
            if (up == n) {
                const sl_cnode *at = input_at(n, j);
                const sl_cnode pos = {.line = at->line, .col = at->col};
                return node_err(t, &pos, err, errlen, "%s: a component cannot be its own input",
                                n->where);
            }
            /* Listed twice, every event of it would arrive twice. */
            for (size_t k = 0; k < j; k++) {
                if (strcmp(in->v[k], in->v[j]) == 0) {
                    const sl_cnode *at = input_at(n, j);
                    const sl_cnode pos = {.line = at->line, .col = at->col};
                    return node_err(t, &pos, err, errlen,
                                    "%s: input '%s' is listed twice (its events would arrive "
                                    "twice)", n->where, in->v[j]);
                }
            }
            up->down = sl_xrealloc(up->down, sizeof(node *) * (up->ndown + 1));
            up->down[up->ndown++] = n;
        }
    }
    return SL_OK;
}

/* Depth-first search over transform inputs; colour 1 = on the stack. */
static int find_cycle(sl_topology *t, node *n, int *colour, node **stack, size_t depth, char *err,
                      size_t errlen)
{
    size_t idx = n->idx;
    if (colour[idx] == 2)
        return SL_OK;
    stack[depth] = n;
    if (colour[idx] == 1) {
        char path[1024];
        size_t len = 0, start = 0;
        for (size_t i = 0; i < depth; i++)
            if (stack[i] == n)
                start = i;
        for (size_t i = start; i <= depth && len < sizeof path; i++)
            len += (size_t)snprintf(path + len, sizeof path - len, "%s%s", i > start ? " -> " : "",
                                    stack[i]->id);
        return node_err(t, n->cn, err, errlen, "%s: cycle in inputs: %s", n->where, path);
    }
    colour[idx] = 1;
    const sl_strlist *in = node_inputs(n);
    for (size_t j = 0; n->kind != NODE_SOURCE && j < in->n; j++) {
        node *up = find_node(t, in->v[j]);
        int rc = find_cycle(t, up, colour, stack, depth + 1, err, errlen);
        if (rc)
            return rc;
    }
    colour[idx] = 2;
    return SL_OK;
}

static int check_cycles(sl_topology *t, char *err, size_t errlen)
{
    int *colour = sl_xcalloc(t->nnodes, sizeof(int));
    node **stack = sl_xcalloc(t->nnodes + 1, sizeof(node *));
    int rc = SL_OK;
    for (size_t i = 0; i < t->nnodes && rc == SL_OK; i++)
        rc = find_cycle(t, t->nodes[i], colour, stack, 0, err, errlen);
    free(colour);
    free(stack);
    return rc;
}

static int wire_fallbacks(sl_topology *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind != NODE_SINK || !n->common.fallback)
            continue;
        node *fb = find_node(t, n->common.fallback);
        const sl_cnode *at = cnode_get(n->cn, "fallback");
        const sl_cnode pos = {.line = at ? at->line : n->cn->line, .col = at ? at->col : n->cn->col};
        if (!fb || fb->kind != NODE_SINK || fb == n) {
            char valid[1024];
            list_ids(t, true, n, valid, sizeof valid);
            return node_err(t, &pos, err, errlen, "%s: fallback '%s' must be another sink (valid: %s)",
                            n->where, n->common.fallback, valid);
        }
        n->fallback = fb;
    }
    return SL_OK;
}

static void mark_clones(sl_topology *t)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        size_t transforms = 0;
        for (size_t j = 0; j < n->ndown; j++)
            transforms += n->down[j]->kind == NODE_TRANSFORM;
        n->clone_for_transforms = transforms > 0 && n->ndown > 1;
    }
}

static bool reaches_flush(const node *n)
{
    for (size_t i = 0; i < n->ndown; i++) {
        const node *d = n->down[i];
        if (d->kind == NODE_TRANSFORM && (d->vt.tr->flush || reaches_flush(d)))
            return true;
    }
    return false;
}

static int collect_nodes(sl_topology *t, const sl_cnode *root, char *err, size_t errlen)
{
    size_t total = 0;
    const sl_cnode *sec[3];
    for (int k = 0; k < 3; k++) {
        sec[k] = cnode_get(root, section_names[k]);
        if (sec[k] && sec[k]->kind != SL_CNODE_MAP)
            return node_err(t, sec[k], err, errlen, "%s: expected a map of named components",
                            section_names[k]);
        total += sec[k] ? sec[k]->n : 0;
    }
    t->nodes = sl_xcalloc(total ? total : 1, sizeof(node *));
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; sec[k] && i < sec[k]->n; i++) {
            const sl_cnode *c = sec[k]->items[i];
            if (find_node(t, c->key))
                return node_err(t, c, err, errlen, "%s.%s: the id '%s' is already used by another component",
                                section_names[k], c->key, c->key);
            /* ids name files under data_dir: checkpoints, buffers, the DLQ */
            if (!sl_id_names_file(c->key)) {
                const sl_cnode pos = {.line = c->key_line, .col = c->key_col};
                return node_err(t, &pos, err, errlen,
                                "%s: the id '%.40s%s' cannot name a file under data_dir (at "
                                "most %d bytes, no '/', '\\' or control character, not "
                                "starting with '.')", section_names[k], c->key,
                                strlen(c->key) > 40 ? "..." : "", SL_ID_MAX);
            }
            node *n = sl_xcalloc(1, sizeof *n);
            n->idx = t->nnodes;
            t->nodes[t->nnodes++] = n;
            n->tap = sl_xcalloc(1, sizeof *n->tap);
            tap_init(n->tap);
            n->kind = (enum node_kind)k;
            n->id = sl_xstrdup(c->key);
            n->cn = c;
            snprintf(n->where, sizeof n->where, "%s.%s", section_names[k], c->key);
            if (c->kind != SL_CNODE_MAP)
                return node_err(t, c, err, errlen, "%s: expected a map with 'type' and options",
                                n->where);
        }
    }
    bool any_source = false, any_sink = false;
    for (size_t i = 0; i < t->nnodes; i++) {
        any_source |= t->nodes[i]->kind == NODE_SOURCE;
        any_sink |= t->nodes[i]->kind == NODE_SINK;
    }
    if (!any_source || !any_sink)
        return node_err(t, root, err, errlen, "the pipeline needs at least one source and one sink (%s)",
                        any_source ? "no sinks defined" : "no sources defined");
    return SL_OK;
}

/* sl_component_ctx.stop_pipeline: a sink that can take nothing again holds every source's
 * acks, so a drain could only wait out shutdown_timeout; the other sinks get a second. */
static void stop_pipeline(void *arg)
{
    sl_topology *t = arg;
    atomic_store(&t->output_gone, true);
    topology_request_stop_within(t, 1000);
}

int topo_init_node(sl_topology *t, node *n, const char *data_dir, sl_metrics *m, char *err,
                   size_t errlen)
{
    {
        n->m = m;
        n->cc = (sl_component_ctx){.id = n->id, .type = n->type, .data_dir = data_dir,
                                     .metrics = n->m, .stop_pipeline = stop_pipeline,
                                     .stop_arg = t, .check_only = t->check_only};
        if (n->kind == NODE_SINK)
            n->cc.max_events = (uint32_t)SL_MIN(n->common.batch.max_events, (int64_t)UINT32_MAX);
        char msg[1024] = "";
        int rc;
        switch (n->kind) {
        case NODE_SOURCE:
            rc = n->vt.src->init(&n->self, n->config, &n->cc, msg, sizeof msg);
            break;
        case NODE_TRANSFORM:
            rc = n->vt.tr->init(&n->self, n->config, &n->cc, msg, sizeof msg);
            break;
        default:
            rc = n->vt.sink->init(&n->self, n->config, &n->cc, msg, sizeof msg);
            break;
        }
        if (rc != SL_OK) {
            /* Components name themselves in their messages ("out: ..."); where says it. */
            const char *why = msg[0] ? msg : sl_strerror(rc);
            size_t il = strlen(n->id);
            if (strncmp(why, n->id, il) == 0 && why[il] == ':' && why[il + 1] == ' ')
                why += il + 2;
            /* A message about one option starts with its path ("pattern: ...", or a wrapped
             * "multiline: mode: ..."): point at the option, at its value when it is a
             * scalar, as config_apply's errors do. */
            const sl_cnode *at = NULL;
            char path[256] = "";
            for (;;) {
                size_t pl = strcspn(why, ": ");
                const sl_cnode *below = why[pl] == ':' && why[pl + 1] == ' '
                                            ? cnode_find_path(at ? at : n->cn, why, pl) : NULL;
                if (!below || strlen(path) + pl + 2 > sizeof path)
                    break;
                snprintf(path + strlen(path), sizeof path - strlen(path), ".%.*s", (int)pl, why);
                at = below;
                why += pl + 2;
            }
            if (at) {
                bool value = at->kind == SL_CNODE_SCALAR || !at->key;
                const sl_cnode pos = {.line = value ? at->line : at->key_line,
                                      .col = value ? at->col : at->key_col};
                return node_err(t, &pos, err, errlen, "%s%s: %s", n->where, path, why);
            }
            return node_err(t, n->cn, err, errlen, "%s: %s", n->where, why);
        }
        n->inited = true;
    }
    return SL_OK;
}

static int init_nodes(sl_topology *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        int rc = topo_init_node(t, n, t->g.data_dir,
                                metrics_register(n->id, kind_names[n->kind], n->type), err, errlen);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* The API's listeners are opened by main after the pipeline starts; what can be wrong with
 * them short of a busy port is said here, so `validate` says it too. */
static int check_api(sl_topology *t, const sl_cnode *root, char *err, size_t errlen)
{
    const sl_cnode *api = cnode_get(root, "api");
    const sl_strlist *a = &t->g.api.address;
    if (t->g.api.enabled && a->n == 0)
        return node_err(t, cnode_get(api, "address"), err, errlen,
                        "api.address: give at least one host:port (or api.enabled: false)");
    if (a->n > SL_API_MAX_LISTENERS)
        return node_err(t, cnode_get(api, "address"), err, errlen,
                        "api.address: at most %d listeners", SL_API_MAX_LISTENERS);
    for (size_t i = 0; i < a->n; i++) {
        char host[256], msg[512];
        int port;
        if (url_parse_hostport(a->v[i], host, sizeof host, &port, msg, sizeof msg) != SL_OK)
            return node_err(t, cnode_get(api, "address"), err, errlen, "%s", msg);
        for (size_t j = 0; j < i; j++)
            if (port != 0 && strcmp(a->v[i], a->v[j]) == 0)
                return node_err(t, cnode_get(api, "address"), err, errlen,
                                "api.address: \"%s\" is listed twice", a->v[i]);
    }
    if (t->g.api.metrics_path[0] != '/')
        return node_err(t, cnode_get(api, "metrics_path"), err, errlen,
                        "api.metrics_path \"%s\" must start with '/'", t->g.api.metrics_path);
    return SL_OK;
}

/* What a host of a listen address binds, for check_listeners. */
enum host_kind { HOST_ANY, HOST_ANY4, HOST_ANY6, HOST_IP4, HOST_IP6, HOST_NAME };

static enum host_kind host_kind(const char *h)
{
    unsigned char a[16];
    if (!h[0])
        return HOST_ANY;
    if (strcmp(h, "0.0.0.0") == 0)
        return HOST_ANY4;
    if (inet_pton(AF_INET6, h, a) == 1)
        return memcmp(a, (unsigned char[16]){0}, 16) == 0 ? HOST_ANY6 : HOST_IP6;
    return inet_pton(AF_INET, h, a) == 1 ? HOST_IP4 : HOST_NAME;
}

/* Whether binding a then b on one port and protocol fails (EADDRINUSE): one host twice, or
 * an IPv4 address under 0.0.0.0, or any address under [::] (Linux's default is dual-stack).
 * A name is not resolved here: it collides with itself and with [::] only. */
static bool hosts_collide(const char *a, const char *b)
{
    if (strcasecmp(a, b) == 0)
        return true;
    enum host_kind x = host_kind(a), y = host_kind(b);
    if (x == HOST_ANY6 || y == HOST_ANY6)
        return true;
    if (x > y) {
        enum host_kind t = x;
        x = y;
        y = t;
    }
    /* x <= y: the wildcards of IPv4 (an empty host binds 0.0.0.0 or [::]) take IPv4's */
    return (x == HOST_ANY || x == HOST_ANY4) && (y <= HOST_ANY4 || y == HOST_IP4);
}

int topo_listens(const node *n, topo_listen out[SL_LISTEN_MAX])
{
    if (n->kind != NODE_SOURCE || !n->vt.src->listens)
        return 0;
    sl_listen ls[SL_LISTEN_MAX];
    int k = n->vt.src->listens(n->config, ls);
    for (int j = 0; j < k; j++) {
        char msg[512];
        out[j].l = ls[j];
        if (url_parse_hostport(ls[j].address, out[j].host, sizeof out[j].host, &out[j].port,
                               msg, sizeof msg) != SL_OK)
            out[j].port = 0;
    }
    return k;
}

typedef struct listener {
    const char *where;
    const sl_cnode *at;
    topo_listen tl;
} listener;

/* Two listeners of one config on one port (sources and the API): the second could not
 * listen, and `run` would fail at start. Said here, so that `validate` and a reload say
 * it with the place. Port 0 (any free port) never collides. */
static int check_listeners(sl_topology *t, const sl_cnode *root, char *err, size_t errlen)
{
    size_t cap = t->g.api.enabled ? t->g.api.address.n : 0, n = 0;
    for (size_t i = 0; i < t->nnodes; i++)
        cap += t->nodes[i]->kind == NODE_SOURCE && t->nodes[i]->vt.src->listens ? SL_LISTEN_MAX
                                                                                 : 0;
    listener *l = sl_xcalloc(cap + 1, sizeof *l);
    const sl_cnode *api = cnode_get(root, "api");
    for (size_t i = 0; t->g.api.enabled && i < t->g.api.address.n; i++) {
        topo_listen *a = &l[n].tl;
        char msg[512];
        a->l = (sl_listen){t->g.api.address.v[i], SL_LISTEN_TCP};
        if (url_parse_hostport(a->l.address, a->host, sizeof a->host, &a->port, msg,
                               sizeof msg) != SL_OK)
            a->port = 0; /* check_api said why */
        l[n].where = "api";
        l[n++].at = cnode_get(api, "address");
    }
    for (size_t i = 0; i < t->nnodes; i++) {
        node *nd = t->nodes[i];
        topo_listen tl[SL_LISTEN_MAX];
        int k = topo_listens(nd, tl);
        const sl_cnode *at = cnode_get(nd->cn, "address");
        for (int j = 0; j < k; j++)
            l[n++] = (listener){.where = nd->where, .at = at ? at : nd->cn, .tl = tl[j]};
    }
    int rc = SL_OK;
    for (size_t i = 0; i < n && rc == SL_OK; i++) {
        const topo_listen *a = &l[i].tl;
        for (size_t j = 0; j < i && rc == SL_OK && a->port; j++) {
            const topo_listen *b = &l[j].tl;
            if (b->port == a->port && (b->l.protos & a->l.protos) &&
                hosts_collide(b->host, a->host))
                rc = node_err(t, l[i].at, err, errlen,
                              "%s: \"%s\" takes port %d%s, as %s does (\"%s\"): one of "
                              "them could not listen; give it another port",
                              l[i].where, a->l.address, a->port,
                              b->l.protos & a->l.protos & SL_LISTEN_TCP ? "" : " (udp)",
                              l[j].where, b->l.address);
        }
    }
    free(l);
    return rc;
}

/* ---- Reading what it writes ------------------------------------------------------------ */

/* Does `n` feed the sink `k`: directly, through transforms, or as the fallback (of the
 * fallback...) of a sink it feeds? (No input cycles by now; fallbacks may loop.) */
static bool feeds(const sl_topology *t, const node *n, const node *k)
{
    for (size_t i = 0; i < n->ndown; i++) {
        const node *d = n->down[i];
        if (d->kind == NODE_TRANSFORM && feeds(t, d, k))
            return true;
        for (size_t hop = 0; d && hop <= t->nnodes; d = d->fallback, hop++)
            if (d == k)
                return true;
    }
    return false;
}

/* The path of one of sluice's own files under data_dir (absolute): the `i`-th of the pid
 * file, then per node its checkpoint (sources), DLQ and disk buffer segment (sinks).
 * Returns false past the last. */
static bool own_file(sl_topology *t, size_t i, char *out, size_t outlen)
{
    char cwd[2048];
    const char *dd = t->g.data_dir, *sep = "";
    if (dd[0] != '/' && getcwd(cwd, sizeof cwd))
        sep = "/";
    else
        cwd[0] = '\0';
    if (i == 0) {
        snprintf(out, outlen, "%s%s%s/sluice.pid", cwd, sep, dd);
        return true;
    }
    i--;
    if (i / 2 >= t->nnodes)
        return false;
    node *n = t->nodes[i / 2];
    if (n->kind == NODE_SOURCE)
        snprintf(out, outlen, "%s%s%s/checkpoints/%s.ckpt", cwd, sep, dd, n->id);
    else if (n->kind == NODE_SINK && i % 2 == 0)
        snprintf(out, outlen, "%s%s%s/dlq/%s.ndjson", cwd, sep, dd, n->id);
    else if (n->kind == NODE_SINK)
        snprintf(out, outlen, "%s%s%s/buffers/%s/00000000000000000001.seg", cwd, sep, dd, n->id);
    else
        out[0] = '\0';
    return true;
}

/* A source that reads files must not read what it makes: a file that a sink it feeds
 * writes, or sluice's own files under data_dir. Every event written would be read again,
 * without end (a `**` pattern over an archive sink's directory made millions of events a
 * second from one line). Said with the place, so validate says it. */
static int check_feedback(sl_topology *t, char *err, size_t errlen)
{
    char path[4096];
    for (size_t i = 0; i < t->nnodes; i++) {
        node *s = t->nodes[i];
        if (s->kind != NODE_SOURCE || !s->vt.src->reads)
            continue;
        const sl_cnode *at = cnode_get(s->cn, "include");
        at = at ? at : s->cn;
        for (size_t k = 0; own_file(t, k, path, sizeof path); k++)
            if (path[0] && s->vt.src->reads(s->config, path))
                return node_err(t, at, err, errlen,
                                "%s: reads %s, sluice's own file under data_dir (%s); add "
                                "\"%s/**\" to exclude",
                                s->where, path, t->g.data_dir, t->g.data_dir);
        for (size_t j = 0; j < t->nnodes; j++) {
            node *k = t->nodes[j];
            if (k->kind != NODE_SINK || !k->vt.sink->writes || !feeds(t, s, k) ||
                !k->vt.sink->writes(k->config, path, sizeof path) ||
                !s->vt.src->reads(s->config, path))
                continue;
            return node_err(t, at, err, errlen,
                            "%s: reads %s, which %s writes from the events it reads: each "
                            "would be read and written again, without end; add it to exclude",
                            s->where, path, k->where);
        }
    }
    return SL_OK;
}

int topology_build(sl_topology **out, const sl_config_doc *doc, char *err, size_t errlen)
{
    return topo_build(out, doc, true, err, errlen);
}

int topology_check(sl_topology **out, const sl_config_doc *doc, char *err, size_t errlen)
{
    return topo_build_mode(out, doc, BUILD_CHECK, err, errlen);
}

int topo_build(sl_topology **out, const sl_config_doc *doc, bool init, char *err, size_t errlen)
{
    return topo_build_mode(out, doc, init ? BUILD_RUN : BUILD_GRAPH, err, errlen);
}

int topo_build_mode(sl_topology **out, const sl_config_doc *doc, enum build_mode mode,
                    char *err, size_t errlen)
{
    sl_topology *t = sl_xcalloc(1, sizeof *t);
    t->check_only = mode == BUILD_CHECK;
    t->path = doc->path;
    t->root = doc->root;
    t->stop_efd = -1;
    t->dir_lock = -1;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->reload_mu, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&t->graph, &ra);
    pthread_rwlockattr_destroy(&ra);
    t->reload_last_ok = true;
    sl_cond_init_mono(&t->cv);
    *out = NULL;
    const sl_cnode *root = doc->root;
    /* x-*: free keys for YAML anchors (`x-defaults: &d ...`, then `<<: *d`), as compose
     * files have them */
    static const char *const ignore[] = {"sources", "transforms", "sinks", "x-*", NULL};
    const sl_option *tables[] = {sl_global_options};
    void *bases[] = {&t->g};
    int rc = SL_OK;
    if (!root || root->kind != SL_CNODE_MAP)
        rc = sl_seterr(err, errlen, SL_ERR_CONFIG, "%s:1:1: expected a map at the top level", t->path);
    if (!rc)
        rc = config_apply(tables, bases, 1, root, ignore, t->path, "config", err, errlen);
    if (!rc && !t->g.data_dir[0])
        rc = node_err(t, cnode_get(root, "data_dir"), err, errlen,
                      "data_dir: give a directory (default /var/lib/sluice)");
    if (!rc)
        rc = check_api(t, root, err, errlen);
    if (!rc)
        rc = collect_nodes(t, root, err, errlen);
    for (size_t i = 0; !rc && i < t->nnodes; i++)
        rc = resolve_type(t, t->nodes[i], err, errlen);
    for (size_t i = 0; !rc && i < t->nnodes; i++)
        rc = parse_node_options(t, t->nodes[i], err, errlen);
    if (!rc)
        rc = check_listeners(t, root, err, errlen);
    if (!rc)
        rc = wire_inputs(t, err, errlen);
    if (!rc)
        rc = check_cycles(t, err, errlen);
    if (!rc)
        rc = wire_fallbacks(t, err, errlen);
    if (!rc)
        rc = check_feedback(t, err, errlen);
    if (!rc && mode != BUILD_GRAPH)
        rc = init_nodes(t, err, errlen);
    if (rc) {
        topology_free(t);
        return rc;
    }
    mark_clones(t);
    for (size_t i = 0; i < t->nnodes; i++)
        t->nodes[i]->keeps = t->nodes[i]->kind == NODE_SOURCE && reaches_flush(t->nodes[i]);
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->kind != NODE_SINK && t->nodes[i]->ndown == 0)
            log_warn(t->nodes[i]->id, "%s has no consumers; its events go nowhere", t->nodes[i]->where);
    *out = t;
    return SL_OK;
}

void topo_rewire(sl_topology *t)
{
    char err[64];
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        free(n->down);
        n->down = NULL;
        n->ndown = 0;
        n->fallback = NULL;
        n->idx = i;
    }
    /* The graph was validated when its document was built: these cannot fail here. */
    (void)wire_inputs(t, err, sizeof err);
    (void)wire_fallbacks(t, err, sizeof err);
    mark_clones(t);
    for (size_t i = 0; i < t->nnodes; i++)
        t->nodes[i]->keeps = t->nodes[i]->kind == NODE_SOURCE && reaches_flush(t->nodes[i]);
}

const sl_global_config *topology_globals(const sl_topology *t) { return &t->g; }

int topology_sink_instance(sl_topology *t, const char *id, const struct sl_sink_vtable **vt,
                           void **self, const struct sl_sink_common **common)
{
    node *n = find_node(t, id);
    if (!n || n->kind != NODE_SINK)
        return SL_ERR_NOTFOUND;
    *vt = n->vt.sink;
    *self = n->self;
    *common = &n->common;
    return SL_OK;
}

/* ---- Routing -------------------------------------------------------------------------- */

/* While a source thread routes: its context's stop flag, so a push blocked on a full buffer
 * gives up when a reload stops that source alone (the batch is abandoned and read again by
 * the new instance). NULL on other threads. */
static _Thread_local const atomic_bool *route_cancel;

static bool push_to_sink(sl_topology *t, node *sink, sl_batch *b)
{
    tap_hook(sink->tap, b);
    /* Encoded here, in this thread's cache, when the batch waits in memory for this sink
     * alone among those that prepare (a disk buffer keeps only the events). */
    if (sink->vt.sink->prepare && !b->prep_owner && b->n &&
        sink->common.buffer.type == SL_BUFFER_MEMORY)
        sink->vt.sink->prepare(sink->self, b);
    atomic_fetch_add_explicit(&sink->m->received_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&sink->m->received_bytes, b->bytes, memory_order_relaxed);
    bool logged = false;
    for (;;) {
        int rc = buffer_push_cancel(sink->buf, b, route_cancel);
        if (rc == SL_OK || rc == SL_ERR_FULL)
            return true; /* SL_ERR_FULL: dropped by the sink's own when_full policy */
        if (rc == SL_ERR_CLOSED)
            return false;
        /* SL_ERR_IO: the disk buffer could not take it. Hold the batch (the source stays
         * paused) and retry, so nothing accepted is lost. */
        if (!logged) {
            log_error(sink->id, "buffer write failed; pausing %s until it succeeds", b->origin ? b->origin : "input");
            logged = true;
        }
        if (atomic_load(&t->stopping) && sl_mono_ms() > atomic_load(&t->deadline_ms))
            return false;
        if (route_cancel && atomic_load(route_cancel))
            return false;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Hands the batch (caller's reference) to every consumer of `from`. Returns false if any
 * sink could not take it. */
static bool route(sl_topology *t, node *from, sl_batch *b)
{
    tap_hook(from->tap, b);
    bool ok = true;
    for (size_t i = 0; i < from->ndown; i++) {
        node *d = from->down[i];
        if (d->kind == NODE_SINK) {
            ok &= push_to_sink(t, d, b);
            continue;
        }
        sl_batch *tb = b;
        if (from->clone_for_transforms) {
            tb = batch_clone(b);
        } else {
            batch_retain(b);
            batch_unshare(b); /* the transform's alone (one consumer): changed in place */
        }
        atomic_fetch_add_explicit(&d->m->received_events, tb->n, memory_order_relaxed);
        d->vt.tr->process(d->self, tb);
        atomic_fetch_add_explicit(&d->m->sent_events, tb->n, memory_order_relaxed);
        /* A transform that dropped every event ends this branch; releasing is the ack. */
        bool branch_ok = tb->n == 0 || route(t, d, tb);
        ok &= branch_ok;
        if (branch_ok)
            batch_release(tb);
        else
            batch_abandon(tb);
    }
    return ok;
}

static void mem_mark(sl_source_ctx *ctx, bool paused)
{
    if (atomic_load_explicit(&ctx->mem_paused, memory_order_relaxed) == paused)
        return;
    if (atomic_exchange(&ctx->mem_paused, paused) != paused) {
        memlimit_count_paused(paused ? 1 : -1);
        if (paused)
            metrics_count(ctx->n->m, "memory_pauses", 1);
    }
}

/* Waits while the memory limit pauses this source's class (memlimit.h): the source stops
 * reading as it does behind a full buffer. */
static uint64_t mem_held(void *arg, bool *drainable);

/* Is class cls held back: paused at the governor's last sample, or over its threshold by
 * what memory buffers gained since (memlimit_over)? One atomic load without a limit. */
static bool mem_hold(sl_source_ctx *ctx, int cls)
{
    if (!memlimit_active() || cls >= SL_MEM_NCLASS)
        return false;
    return memlimit_paused(cls) || memlimit_over(cls, mem_held(ctx->t, NULL));
}

static void mem_wait(sl_source_ctx *ctx)
{
    if (!mem_hold(ctx, ctx->mem_class))
        return;
    mem_mark(ctx, true);
    while (mem_hold(ctx, ctx->mem_class) && !atomic_load(&ctx->t->stopping) &&
           !atomic_load(&ctx->stop)) {
        struct pollfd p = {.fd = ctx->stop_efd, .events = POLLIN};
        poll(&p, 1, 20);
    }
    mem_mark(ctx, false);
}

void source_set_mem_class(sl_source_ctx *ctx, int cls) { ctx->mem_class = cls; }

bool source_mem_paused(sl_source_ctx *ctx, int cls)
{
    bool p = mem_hold(ctx, cls);
    mem_mark(ctx, p);
    return p;
}

int source_emit(sl_source_ctx *ctx, sl_batch *b)
{
    node *n = ctx->n;
    mem_wait(ctx);
    if (!b->origin)
        b->origin = n->id;
    if (b->n == 0) {
        batch_release(b);
        return SL_OK;
    }
    atomic_fetch_add_explicit(&n->m->sent_events, b->n, memory_order_relaxed);
    atomic_fetch_add_explicit(&n->m->sent_bytes, b->bytes, memory_order_relaxed);
    pthread_rwlock_rdlock(&ctx->t->graph);
    route_cancel = &ctx->stop;
    bool ok = route(ctx->t, n, b);
    route_cancel = NULL;
    pthread_rwlock_unlock(&ctx->t->graph);
    if (ok) {
        batch_release(b);
        return SL_OK;
    }
    batch_abandon(b);
    return SL_ERR_CLOSED;
}

static bool would_block(node *n, size_t bytes)
{
    for (size_t i = 0; i < n->ndown; i++) {
        node *d = n->down[i];
        if (d->kind == NODE_SINK ? d->buf && buffer_would_block(d->buf, bytes) : would_block(d, bytes))
            return true;
    }
    return false;
}

bool source_would_block(sl_source_ctx *ctx, size_t bytes)
{
    if (source_mem_paused(ctx, ctx->mem_class))
        return true;
    pthread_rwlock_rdlock(&ctx->t->graph);
    bool r = would_block(ctx->n, bytes);
    pthread_rwlock_unlock(&ctx->t->graph);
    return r;
}

/* For the memory limit (sl_mem_held_fn): the bytes of events in memory buffers, and
 * whether anything is held that delivery frees (those, requests in flight). Disk buffers
 * hold nothing in memory. The graph's read lock keeps the node array still. */
static uint64_t mem_held(void *arg, bool *drainable)
{
    sl_topology *t = arg;
    uint64_t bytes = 0;
    bool inflight = false;
    pthread_rwlock_rdlock(&t->graph);
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind != NODE_SINK)
            continue;
        inflight |= atomic_load_explicit(&n->m->inflight, memory_order_relaxed) > 0;
        if (n->common.buffer.type != SL_BUFFER_DISK)
            bytes += (uint64_t)SL_MAX(0, atomic_load_explicit(&n->m->buffer_bytes,
                                                              memory_order_relaxed));
    }
    pthread_rwlock_unlock(&t->graph);
    if (drainable)
        *drainable = inflight || bytes > 0;
    return bytes;
}

/* Routes on what the transforms below `from` keep for `origin` and is due (design note 6):
 * each keeping transform's batch goes on from that transform, so the ones below it see it
 * before their own flush is asked. */
void topo_flush_transform(sl_topology *t, node *d, const char *origin, int64_t now_ms, bool all)
{
    sl_batch *b = d->vt.tr->flush ? d->vt.tr->flush(d->self, origin, now_ms, all) : NULL;
    if (b && b->n) {
        atomic_fetch_add_explicit(&d->m->sent_events, b->n, memory_order_relaxed);
        if (route(t, d, b))
            batch_release(b);
        else
            batch_abandon(b);
    } else if (b) {
        batch_release(b);
    }
}

static void flush_kept(sl_topology *t, node *from, const char *origin, int64_t now_ms, bool all)
{
    for (size_t i = 0; i < from->ndown; i++) {
        node *d = from->down[i];
        if (d->kind != NODE_TRANSFORM)
            continue;
        topo_flush_transform(t, d, origin, now_ms, all);
        flush_kept(t, d, origin, now_ms, all);
    }
}

bool source_should_stop(const sl_source_ctx *ctx)
{
    return atomic_load(&ctx->t->stopping) || atomic_load(&ctx->stop);
}
sl_ack_ledger *source_ledger(sl_source_ctx *ctx) { return ctx->ledger; }
int source_stop_fd(const sl_source_ctx *ctx) { return ctx->stop_efd; }

/* The flush of what transforms keep for this source, under the graph lock. */
static void flush_kept_locked(sl_source_ctx *ctx, bool all)
{
    pthread_rwlock_rdlock(&ctx->t->graph);
    route_cancel = &ctx->stop;
    if (ctx->n->keeps)
        flush_kept(ctx->t, ctx->n, ctx->n->id, sl_mono_ms(), all);
    route_cancel = NULL;
    pthread_rwlock_unlock(&ctx->t->graph);
}

void source_ready(sl_source_ctx *ctx)
{
    if (!ctx->ready && ctx->n->vt.src->signals_ready) {
        ctx->ready = true;
        atomic_fetch_sub(&ctx->t->sources_unready, 1);
    }
}

size_t source_collect_acks(sl_source_ctx *ctx, sl_ack_commit_fn fn, void *arg)
{
    flush_kept_locked(ctx, false);
    size_t n = ack_ledger_collect(ctx->ledger, fn, arg);
    int64_t oldest = ack_ledger_oldest_ms(ctx->ledger);
    atomic_store_explicit(&ctx->n->m->lag_since_ms, oldest, memory_order_relaxed);
    return n;
}

void source_sleep(sl_source_ctx *ctx, int ms)
{
    struct pollfd p = {.fd = ctx->stop_efd, .events = POLLIN};
    poll(&p, 1, ms);
}

size_t source_drain_acks(sl_source_ctx *ctx, sl_ack_commit_fn fn, void *arg)
{
    flush_kept_locked(ctx, true);
    for (;;) {
        ack_ledger_collect(ctx->ledger, fn, arg);
        size_t pending = ack_ledger_pending(ctx->ledger);
        if (pending == 0)
            return 0;
        if (atomic_load(&ctx->t->stopping) && sl_mono_ms() >= atomic_load(&ctx->t->deadline_ms))
            return pending;
        if (atomic_load(&ctx->stop) && sl_mono_ms() >= atomic_load(&ctx->deadline_ms))
            return pending;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* ---- Run ------------------------------------------------------------------------------ */

static void *source_thread(void *arg)
{
    sl_source_ctx *ctx = arg;
    node *n = ctx->n;
    int rc = n->vt.src->run(n->self, ctx);
    mem_mark(ctx, false);
    /* A network source of the start that ended before it listened (a port in use, an
     * address not of this host) stops the start, as an API listener does: clients would be
     * refused with nothing to say so but a log line. One a reload added leaves the rest
     * running (unready). */
    bool start_failed = rc != SL_OK && n->vt.src->signals_ready && !ctx->ready &&
                        ctx->initial && !atomic_load(&ctx->t->stopping) &&
                        !atomic_load(&ctx->stop);
    if (start_failed)
        log_error("sluice", "cannot start: source %s ended before it listened (%s)", n->id,
                  sl_strerror(rc));
    else if (rc != SL_OK)
        log_error(n->id, "source stopped: %s", sl_strerror(rc));
    else
        log_debug(n->id, "source finished");
    pthread_mutex_lock(&ctx->t->mu);
    atomic_fetch_sub(&ctx->t->sources_running, 1);
    pthread_cond_broadcast(&ctx->t->cv);
    pthread_mutex_unlock(&ctx->t->mu);
    if (start_failed) {
        atomic_store(&ctx->t->start_failed, true);
        topology_request_stop(ctx->t);
    }
    return NULL;
}

int topo_open_buffer(sl_topology *t, node *n, char *err, size_t errlen)
{
    if (n->buf)
        return SL_OK;
    char dir[4096], msg[512];
    snprintf(dir, sizeof dir, "%s/buffers/%s", t->g.data_dir, n->id);
    int rc = buffer_open(&n->buf, &n->common.buffer, dir, n->m, msg, sizeof msg);
    if (rc)
        return sl_seterr(err, errlen, rc, "%s: buffer: %s", n->where, msg);
    return SL_OK;
}

int topo_start_runtime(sl_topology *t, node *n, char *err, size_t errlen)
{
    char msg[512];
    int rc = sink_runtime_start(&n->rt, n->vt.sink, n->self, &n->common, n->id, n->buf,
                                t->g.data_dir, n->m, msg, sizeof msg);
    if (rc)
        return sl_seterr(err, errlen, rc, "%s: %s", n->where, msg);
    if (n->fallback)
        sink_runtime_set_fallback(n->rt, n->fallback->buf);
    return SL_OK;
}

int topo_start_source(sl_topology *t, node *n, char *err, size_t errlen)
{
    sl_source_ctx *c = sl_xcalloc(1, sizeof *c);
    c->t = t;
    c->n = n;
    c->mem_class = SL_MEM_LIVE;
    c->initial = !atomic_load(&t->started);
    c->ledger = ack_ledger_new();
    c->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (c->stop_efd < 0) {
        ack_ledger_free(c->ledger);
        free(c);
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: eventfd: %s", n->where, strerror(errno));
    }
    pthread_mutex_lock(&t->mu);
    n->sctx = c;
    if (atomic_load(&t->stopping)) { /* a stop that came before this context existed */
        uint64_t one = 1;
        ssize_t w = write(c->stop_efd, &one, sizeof one);
        (void)w;
    }
    pthread_mutex_unlock(&t->mu);
    if (n->vt.src->signals_ready)
        atomic_fetch_add(&t->sources_unready, 1);
    atomic_fetch_add(&t->sources_running, 1);
    if (pthread_create(&n->thread, NULL, source_thread, c) != 0) {
        atomic_fetch_sub(&t->sources_running, 1);
        if (n->vt.src->signals_ready)
            atomic_fetch_sub(&t->sources_unready, 1);
        return sl_seterr(err, errlen, SL_ERR_IO, "%s: cannot start thread", n->where);
    }
    sl_thread_name(n->thread, "src", n->id);
    n->thread_started = true;
    return SL_OK;
}

static void ctx_free(sl_source_ctx *c)
{
    if (!c)
        return;
    ack_ledger_free(c->ledger);
    if (c->stop_efd >= 0)
        close(c->stop_efd);
    free(c);
}

bool topo_stop_source(sl_topology *t, node *n, int64_t deadline_ms)
{
    sl_source_ctx *c = n->sctx;
    if (!c)
        return true;
    atomic_store(&c->deadline_ms, deadline_ms);
    atomic_store(&c->stop, true);
    uint64_t one = 1;
    ssize_t w = write(c->stop_efd, &one, sizeof one);
    (void)w;
    if (n->thread_started) {
        pthread_join(n->thread, NULL);
        n->thread_started = false;
    }
    if (n->vt.src->signals_ready && !c->ready)
        atomic_fetch_sub(&t->sources_unready, 1);
    pthread_mutex_lock(&t->mu);
    n->sctx = NULL;
    /* No token left (all collected): nothing can release into the ledger any more. */
    bool done = ack_ledger_pending(c->ledger) == 0;
    if (!done) {
        t->dead_ctx = sl_xrealloc(t->dead_ctx, (t->ndead_ctx + 1) * sizeof *t->dead_ctx);
        t->dead_ctx[t->ndead_ctx++] = c;
    }
    pthread_mutex_unlock(&t->mu);
    if (done)
        ctx_free(c);
    return done;
}

/* One process per data_dir: two would read the same files into the same checkpoints and
 * disk buffers (and `sluice dlq replay|purge` rewrites the DLQ files). */
static int lock_data_dir(sl_topology *t, char *err, size_t errlen)
{
    char why[4400];
    int rc = sl_data_dir_lock(t->g.data_dir, &t->dir_lock, why, sizeof why);
    if (rc == SL_ERR_AGAIN)
        return sl_seterr(err, errlen, rc, "%s: one data_dir per process", why);
    if (rc != SL_OK)
        return sl_seterr(err, errlen, rc, "%s", why);
    if (why[0])
        log_warn("sluice", "%s", why);
    return SL_OK;
}

/* A disk buffer directory under data_dir that no sink of this configuration opens (its
 * sink renamed or removed, or given a memory buffer) keeps its events until a sink of that
 * id with a disk buffer is back: said at start, with the count, so they are not left there
 * unseen (the files are not touched). */
static void warn_stranded_buffers(sl_topology *t)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/buffers", t->g.data_dir);
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        node *n = find_node(t, de->d_name);
        if (n && n->kind == NODE_SINK && n->common.buffer.type == SL_BUFFER_DISK)
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        int64_t pending = buffer_dir_pending(sub);
        if (pending <= 0)
            continue;
        log_warn("sluice",
                 "%s holds about %lld undelivered event(s) of sink '%s', which %s: they "
                 "stay there and are delivered once a sink '%s' with a disk buffer is back "
                 "(delete the directory to drop them)",
                 sub, (long long)pending, de->d_name,
                 n && n->kind == NODE_SINK ? "has a memory buffer in this configuration"
                                           : "this configuration does not have",
                 de->d_name);
    }
    closedir(dp);
}

static int start_topology(sl_topology *t, char *err, size_t errlen);

int topology_start(sl_topology *t, char *err, size_t errlen)
{
    int rc = start_topology(t, err, errlen);
    if (rc != SL_OK)
        atomic_store(&t->start_failed, true);
    return rc;
}

static int start_topology(sl_topology *t, char *err, size_t errlen)
{
    t->start_ns = sl_now_ns();
    t->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->stop_efd < 0)
        return sl_seterr(err, errlen, SL_ERR_IO, "eventfd: %s", strerror(errno));
    int rc = sl_mkdirs(t->g.data_dir, err, errlen);
    if (rc)
        return rc;
    if ((rc = lock_data_dir(t, err, errlen)) != SL_OK)
        return rc;
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->kind == NODE_SINK && (rc = topo_open_buffer(t, t->nodes[i], err, errlen)))
            return rc;
    warn_stranded_buffers(t);
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->kind == NODE_SINK && (rc = topo_start_runtime(t, t->nodes[i], err, errlen)))
            return rc;
    uint64_t mlimit = t->g.limits.memory;
    const char *mfrom = "config";
    if (!mlimit) {
        mlimit = memlimit_cgroup("/proc/self/cgroup", "/sys/fs/cgroup");
        mfrom = "cgroup memory.max";
    }
    rc = memlimit_start(mlimit, mfrom, mem_held, t, err, errlen);
    if (rc != SL_OK && rc != SL_ERR_AGAIN)
        return rc;
    t->memlimit_started = rc == SL_OK;
    for (size_t i = 0; i < t->nnodes; i++)
        if (t->nodes[i]->kind == NODE_SOURCE && (rc = topo_start_source(t, t->nodes[i], err, errlen)))
            return rc;
    atomic_store(&t->started, true);
    log_info("sluice", "pipeline started: %zu components", t->nnodes);
    return SL_OK;
}

void topology_request_stop(sl_topology *t) { topology_request_stop_within(t, -1); }

void topology_request_stop_within(sl_topology *t, int64_t ms)
{
    /* Called from the signal thread (sigwait), main or a component, never from a handler. */
    if (ms < 0 || ms > t->g.shutdown_timeout_ms)
        ms = t->g.shutdown_timeout_ms;
    if (!atomic_load(&t->stopping)) {
        atomic_store(&t->deadline_ms, sl_mono_ms() + ms);
        atomic_store(&t->stopping, true);
    } else if (sl_mono_ms() + ms < atomic_load(&t->deadline_ms)) {
        atomic_store(&t->deadline_ms, sl_mono_ms() + ms);
    }
    uint64_t one = 1;
    if (t->stop_efd >= 0) {
        ssize_t w = write(t->stop_efd, &one, sizeof one);
        (void)w;
    }
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nnodes; i++) {
        if (t->nodes[i]->sctx) {
            ssize_t w = write(t->nodes[i]->sctx->stop_efd, &one, sizeof one);
            (void)w;
        }
    }
    pthread_cond_broadcast(&t->cv); /* topology_run_until_stopped */
    pthread_mutex_unlock(&t->mu);
}

static bool join_until(pthread_t th, int64_t deadline_ms)
{
    int64_t now = sl_mono_ms();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t left = deadline_ms > now ? deadline_ms - now : 0;
    ts.tv_sec += left / 1000;
    ts.tv_nsec += (left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(th, NULL, &ts) == 0;
}

int topology_run_until_stopped(sl_topology *t)
{
    pthread_mutex_lock(&t->mu);
    /* A stop request and the last source's end both broadcast cv; the timeout is a guard. */
    while (!atomic_load(&t->stopping) && atomic_load(&t->sources_running) > 0) {
        struct timespec ts = sl_deadline_mono(1000);
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
    }
    pthread_mutex_unlock(&t->mu);
    if (!atomic_load(&t->stopping))
        log_info("sluice", "every source has finished; draining");
    topology_request_stop(t);
    int64_t left = SL_MAX(atomic_load(&t->deadline_ms) - sl_mono_ms(), 0);
    log_info("sluice", "stopping: draining in-flight batches (up to %lld ms)",
             (long long)((left + 99) / 100 * 100)); /* what is left, to 100 ms */
    int64_t deadline = atomic_load(&t->deadline_ms);
    /* A reload in progress gives up once it sees the stop, and none starts after it. One
     * stopping a source waits for that source's acks: past the deadline the buffers close
     * so a source blocked on a full one ends too. */
    for (bool closed = false;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (pthread_mutex_timedlock(&t->reload_mu, &ts) == 0)
            break;
        if (!closed && sl_mono_ms() >= deadline) {
            pthread_mutex_lock(&t->mu);
            for (size_t j = 0; j < t->nnodes; j++)
                if (t->nodes[j]->buf)
                    buffer_close(t->nodes[j]->buf);
            pthread_mutex_unlock(&t->mu);
            closed = true;
        }
    }
    /* Sources first: they wait for their acks while sinks keep delivering. */
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind != NODE_SOURCE || !n->thread_started)
            continue;
        if (!join_until(n->thread, deadline)) {
            /* Past the deadline: unblock producers stuck on full buffers. */
            for (size_t j = 0; j < t->nnodes; j++)
                if (t->nodes[j]->buf)
                    buffer_close(t->nodes[j]->buf);
            pthread_join(n->thread, NULL);
        }
        n->thread_started = false;
    }
    int pending = 0;
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind == NODE_SINK && n->rt) {
            sink_runtime_stop(n->rt, deadline);
            pending += (int)buffer_events(n->buf);
        }
    }
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind == NODE_SOURCE && n->sctx)
            pending += (int)ack_ledger_pending(n->sctx->ledger);
    }
    /* A source whose last checkpoint write failed (a full disk) has not committed what it
     * read since its last good one, however cleanly it stopped. */
    char unsaved[512] = "";
    size_t ul = 0;
    for (size_t i = 0; i < t->nnodes && ul < sizeof unsaved; i++) {
        node *n = t->nodes[i];
        const char *st = n->kind == NODE_SOURCE && n->m ? atomic_load(&n->m->state) : NULL;
        if (st && strcmp(st, "checkpoint_write_failed") == 0)
            ul += (size_t)snprintf(unsaved + ul, sizeof unsaved - ul, "%s%s", ul ? ", " : "",
                                   n->id);
    }
    pthread_mutex_unlock(&t->reload_mu);
    /* pending counts the sources' unacknowledged batches (ledger tokens), not events */
    if (pending)
        log_warn("sluice", "stopped with %d batch%s not yet delivered; they will be read or "
                 "replayed again at the next start", pending, pending == 1 ? "" : "es");
    if (unsaved[0])
        log_warn("sluice", "stopped without saving the positions of %s (their checkpoint "
                 "writes failed): they read again from their last saved positions at the next "
                 "start", unsaved);
    else if (!pending)
        log_info("sluice", "%s; every position committed",
                 atomic_load(&t->start_failed) ? "stopped after a failed start"
                                               : "stopped cleanly");
    return pending ? 1 : 0;
}

bool topology_ready(const sl_topology *t)
{
    return t && atomic_load(&t->started) && !atomic_load(&t->stopping) &&
           atomic_load(&t->sources_unready) == 0;
}

bool topology_stopping(const sl_topology *t) { return t && atomic_load(&t->stopping); }

bool topology_start_failed(const sl_topology *t) { return t && atomic_load(&t->start_failed); }

bool topology_output_gone(const sl_topology *t) { return t && atomic_load(&t->output_gone); }

void topo_node_free(node *n)
{
    if (n->kind == NODE_SINK && n->rt)
        sink_runtime_free(n->rt);
    n->rt = NULL;
    if (n->inited) {
        if (n->kind == NODE_SOURCE && n->vt.src->destroy)
            n->vt.src->destroy(n->self);
        else if (n->kind == NODE_TRANSFORM && n->vt.tr->destroy)
            n->vt.tr->destroy(n->self);
        else if (n->kind == NODE_SINK && n->vt.sink->destroy)
            n->vt.sink->destroy(n->self);
    }
    if (n->buf)
        buffer_free(n->buf);
    ctx_free(n->sctx);
    if (n->config && n->options)
        config_options_free(n->options, n->config);
    free(n->config);
    if (n->kind == NODE_SINK)
        config_options_free(sl_sink_common_options, &n->common);
    else if (n->kind == NODE_TRANSFORM) {
        transform_common tc = {.inputs = n->inputs};
        config_options_free(transform_common_options, &tc);
    }
    free(n->down);
    free(n->id);
    free(n->type);
    if (n->tap) {
        tap_destroy(n->tap);
        free(n->tap);
    }
    free(n);
}

void topology_free(sl_topology *t)
{
    if (!t)
        return;
    if (t->memlimit_started)
        memlimit_stop();
    /* Runtimes first: a sink's fallback is another sink's buffer. */
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        if (n->kind == NODE_SINK && n->rt) {
            sink_runtime_free(n->rt);
            n->rt = NULL;
        }
    }
    /* Sinks' buffers before sources' ledgers: a batch still queued releases its token. */
    for (int k = NODE_SINK; k >= NODE_SOURCE; k--) {
        for (size_t i = 0; i < t->nnodes; i++) {
            if (t->nodes[i] && t->nodes[i]->kind == (enum node_kind)k) {
                topo_node_free(t->nodes[i]);
                t->nodes[i] = NULL;
            }
        }
    }
    free(t->nodes);
    for (size_t i = 0; i < t->nretired; i++)
        topo_node_free(t->retired[i]);
    free(t->retired);
    for (size_t i = 0; i < t->ndead_ctx; i++)
        ctx_free(t->dead_ctx[i]);
    free(t->dead_ctx);
    for (size_t i = 0; i < t->ndead_taps; i++) {
        tap_destroy(t->dead_taps[i]);
        free(t->dead_taps[i]);
    }
    free(t->dead_taps);
    config_options_free(sl_global_options, &t->g);
    if (t->stop_efd >= 0)
        close(t->stop_efd);
    if (t->dir_lock >= 0)
        close(t->dir_lock); /* the lock goes with the descriptor; the file stays */
    config_doc_free(t->doc);
    pthread_rwlock_destroy(&t->graph);
    pthread_mutex_destroy(&t->reload_mu);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

sl_tap *topology_tap(sl_topology *t, const char *id)
{
    pthread_mutex_lock(&t->mu);
    node *n = find_node(t, id);
    sl_tap *tap = n ? n->tap : NULL;
    pthread_mutex_unlock(&t->mu);
    return tap;
}

void topology_component_ids(const sl_topology *t, sl_buf *out)
{
    for (size_t i = 0; i < t->nnodes; i++)
        buf_printf(out, "%s%s", i ? ", " : "", t->nodes[i]->id);
}

/* ---- Status ----------------------------------------------------------------------------- */

static const char *circuit_name(int s)
{
    return s == SL_CIRCUIT_OPEN ? "open" : s == SL_CIRCUIT_HALF_OPEN ? "half_open" : "closed";
}

void topology_status_json(const sl_topology *ct, sl_buf *out)
{
    sl_topology *t = (sl_topology *)ct; /* rate samples are updated in place */
    int64_t now_ms = sl_mono_ms();
    buf_printf(out, "{\"version\":1,\"uptime_seconds\":%.3f,\"ready\":%s,\"stopping\":%s,\"components\":[",
               (double)(sl_now_ns() - t->start_ns) / 1e9, topology_ready(t) ? "true" : "false",
               atomic_load(&t->stopping) ? "true" : "false");
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        sl_metrics *m = n->m;
        uint64_t recv = atomic_load(&m->received_events), sent = atomic_load(&m->sent_events);
        double rate = 0;
        if (n->rate_prev_ms && now_ms > n->rate_prev_ms)
            rate = (double)(sent - n->rate_prev_events) * 1000.0 / (double)(now_ms - n->rate_prev_ms);
        n->rate_prev_ms = now_ms;
        n->rate_prev_events = sent;
        const char *state = atomic_load(&m->state);
        buf_printf(out,
                   "%s{\"id\":\"%s\",\"kind\":\"%s\",\"type\":\"%s\",\"state\":\"%s\","
                   "\"received_events\":%llu,\"sent_events\":%llu,\"events_per_second\":%.1f,"
                   "\"errors\":[",
                   i ? "," : "", n->id, kind_names[n->kind], n->type, state ? state : "ok",
                   (unsigned long long)recv, (unsigned long long)sent, rate);
        bool first = true;
        for (int r = 0; r < SL_METRICS_MAX_REASONS; r++) {
            const char *reason = atomic_load(&m->errors[r].reason);
            if (!reason)
                continue;
            buf_printf(out, "%s{\"reason\":\"%s\",\"count\":%llu}", first ? "" : ",", reason,
                       (unsigned long long)atomic_load(&m->errors[r].count));
            first = false;
        }
        buf_puts(out, "],\"counters\":{");
        first = true;
        for (int r = 0; r < SL_METRICS_MAX_REASONS; r++) {
            const char *name = atomic_load(&m->counters[r].reason);
            if (!name)
                continue;
            buf_printf(out, "%s\"%s\":%llu", first ? "" : ",", name,
                       (unsigned long long)atomic_load(&m->counters[r].count));
            first = false;
        }
        buf_puts(out, "}");
        if (n->kind != NODE_SOURCE) { /* the graph's edges, as configured */
            const sl_strlist *in = node_inputs(n);
            buf_puts(out, ",\"inputs\":[");
            for (size_t k = 0; k < in->n; k++)
                buf_printf(out, "%s\"%s\"", k ? "," : "", in->v[k]);
            buf_puts(out, "]");
        }
        if (n->kind == NODE_SINK) {
            uint64_t cap = n->common.buffer.type == SL_BUFFER_DISK ? n->common.buffer.max_size
                                                                   : n->common.buffer.max_bytes;
            int64_t bytes = atomic_load(&m->buffer_bytes);
            buf_printf(out,
                       ",\"buffer\":{\"type\":\"%s\",\"bytes\":%lld,\"events\":%lld,\"max_bytes\":%llu,"
                       "\"fill_ratio\":%.4f,\"blocked_pushes\":%d},\"circuit\":\"%s\",\"inflight\":%d,"
                       "\"request_events\":%lld,"
                       "\"concurrency_limit\":%d,\"batch_target\":%lld,\"batch_target_bytes\":%lld,"
                       "\"latency_p50_ms\":%.3f,"
                       "\"dropped_events\":%llu,\"dlq_events\":%llu,\"retries\":%llu",
                       n->common.buffer.type == SL_BUFFER_DISK ? "disk" : "memory",
                       (long long)bytes, (long long)atomic_load(&m->buffer_events),
                       (unsigned long long)cap, cap ? (double)bytes / (double)cap : 0.0,
                       atomic_load(&m->buffer_blocked), circuit_name(atomic_load(&m->circuit_state)),
                       atomic_load(&m->inflight),
                       (long long)atomic_load(&m->request_events),
                       atomic_load(&m->concurrency_limit),
                       (long long)atomic_load(&m->batch_target),
                       (long long)atomic_load(&m->batch_target_bytes),
                       (double)atomic_load(&m->latency_p50_us) / 1000.0,
                       (unsigned long long)atomic_load(&m->dropped_events),
                       (unsigned long long)atomic_load(&m->dlq_events),
                       (unsigned long long)atomic_load(&m->retries));
            if (n->inited && n->self && n->vt.sink->status_json)
                n->vt.sink->status_json(n->self, out);
        } else if (n->kind == NODE_SOURCE) {
            buf_printf(out, ",\"files_tracked\":%lld,\"lag_seconds\":%.3f,\"pending_acks\":%zu",
                       (long long)atomic_load(&m->files_tracked),
                       (double)metrics_lag_ms(m) / 1000.0,
                       n->sctx ? ack_ledger_pending(n->sctx->ledger) : (size_t)0);
            if (n->inited && n->self && n->vt.src->status_json)
                n->vt.src->status_json(n->self, out);
        }
        buf_puts(out, "}");
    }
    buf_printf(out, "],\"reload\":{\"reloads_ok\":%llu,\"reloads_failed\":%llu,\"last_result\":",
               (unsigned long long)t->reloads_ok, (unsigned long long)t->reloads_failed);
    if (!t->reload_last_unix_ms) {
        buf_puts(out, "null,\"last_time\":null,\"last_error\":null}");
    } else {
        buf_printf(out, "\"%s\",\"last_time\":\"", t->reload_last_ok ? "ok" : "failed");
        json_format_time(out, t->reload_last_unix_ms * 1000000);
        buf_printf(out, "\",\"last_time_unix\":%.3f,\"last_error\":",
                   (double)t->reload_last_unix_ms / 1000.0);
        if (t->reload_last_ok) {
            buf_puts(out, "null");
        } else {
            buf_putc(out, '"');
            json_escape(out, t->reload_last_error, strlen(t->reload_last_error));
            buf_putc(out, '"');
        }
        buf_puts(out, "}");
    }
    /* The file a reload reads (absolute, so `sluice reload -c FILE` can tell whether FILE is
     * it), null for a drop-in or the quickstart. */
    buf_puts(out, ",\"config\":");
    char *abs = t->loader ? realpath(t->path, NULL) : NULL;
    if (t->loader) {
        const char *p = abs ? abs : t->path;
        buf_putc(out, '"');
        json_escape(out, p, strlen(p));
        buf_putc(out, '"');
    } else {
        buf_puts(out, "null");
    }
    free(abs);
    pthread_mutex_unlock(&t->mu);
    memlimit_status_json(out);
    buf_puts(out, ",\"recent_errors\":");
    log_recent_json(out);
    buf_puts(out, "}");
}

void topology_plugins_json(const sl_topology *ct, sl_buf *out)
{
    sl_topology *t = (sl_topology *)ct;
    static const char *const category[] = {"input", "filter", "output"};
    buf_puts(out, "{\"plugins\":[");
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        sl_metrics *m = n->m;
        uint64_t errors = 0;
        for (int r = 0; r < SL_METRICS_MAX_REASONS; r++)
            errors += atomic_load(&m->errors[r].count);
        buf_printf(out,
                   "%s{\"plugin_id\":\"%s\",\"plugin_category\":\"%s\",\"type\":\"%s\","
                   "\"config\":{\"@type\":\"%s\",\"@id\":\"%s\"},\"output_plugin\":%s,"
                   "\"emit_records\":%llu,\"emit_count\":%llu,\"error_count\":%llu",
                   i ? "," : "", n->id, category[n->kind], n->type, n->type, n->id,
                   n->kind == NODE_SINK ? "true" : "false",
                   (unsigned long long)atomic_load(&m->sent_events),
                   (unsigned long long)atomic_load(&m->received_events), (unsigned long long)errors);
        if (n->kind == NODE_SINK) {
            uint64_t cap = n->common.buffer.type == SL_BUFFER_DISK ? n->common.buffer.max_size
                                                                   : n->common.buffer.max_bytes;
            int64_t bytes = atomic_load(&m->buffer_bytes);
            double avail = cap ? 100.0 * (1.0 - (double)bytes / (double)cap) : 100.0;
            buf_printf(out,
                       ",\"buffer_queue_length\":%lld,\"buffer_total_queued_size\":%lld,"
                       "\"buffer_available_buffer_space_ratios\":%.2f,\"retry_count\":%llu,"
                       "\"write_count\":%llu,\"circuit\":\"%s\"",
                       (long long)atomic_load(&m->buffer_events), (long long)bytes,
                       avail < 0 ? 0.0 : avail, (unsigned long long)atomic_load(&m->retries),
                       (unsigned long long)atomic_load(&m->duration_count),
                       circuit_name(atomic_load(&m->circuit_state)));
        } else {
            buf_puts(out, ",\"retry_count\":null");
        }
        buf_puts(out, "}");
    }
    pthread_mutex_unlock(&t->mu);
    buf_puts(out, "]}");
}
