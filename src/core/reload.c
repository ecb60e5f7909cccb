/* reload.c - configuration reload without loss (SIGHUP, POST /api/v1/reload).
 *
 * A reload reads the file again, validates all of it as `sluice validate` would, compares
 * it with the running document component by component (reload_diff), and restarts only
 * what changed. Invariants:
 *
 *  1. Nothing changes until everything is valid. The new document is built (options,
 *     graph) and every changed or added component is initialised, every added sink's
 *     buffer opened and every new listening port bound once (probe_listeners), before
 *     the first running thing is touched. Any error: those are freed,
 *     the running pipeline is as it was, the answer says why (file:line:col).
 *  2. Top-level settings (data_dir, shutdown_timeout, api, log) and an existing sink's
 *     `buffer` cannot change live: the reload is refused and says to restart.
 *  3. An unchanged component keeps its node: its instance, thread, ledger, positions,
 *     connections, buffer, runtime, metrics and tap. Only its `down` edges are rebuilt.
 *  4. A changed or removed source stops reading (a push it is blocked in on a full buffer
 *     gives up: route_cancel in topology.c), its in-flight acks settle (until
 *     shutdown_timeout), it writes its position and is destroyed; then (changed) the new
 *     instance starts from that position. What was not acknowledged by then is read
 *     again: duplicates only within what was in flight. The old ledger lives on (late
 *     releases land in it, ignored) until the topology is freed.
 *  5. A changed sink keeps its buffer (the same object, so a memory buffer's contents carry
 *     over). Its old runtime stops taking requests; requests in flight finish, retries end
 *     at shutdown_timeout and what they did not deliver goes back into the buffer
 *     (buffer_requeue); then the new runtime starts on that buffer. Sources keep pushing
 *     into the buffer meanwhile (backpressure when it fills). This swap needs no graph
 *     lock and comes first: a source blocked on that full buffer gets room again.
 *  6. Edges (`down`), transforms and the node array change only under the graph lock held
 *     for writing: no batch is being routed then. What a changed or removed transform
 *     keeps (multiline's open groups) is flushed through the old graph first.
 *  7. A removed sink takes nothing new once the edges are swapped. A memory buffer is
 *     delivered until empty or shutdown_timeout; what is left then is dropped (counted,
 *     logged) and its acks released, so sources' positions move on. A disk buffer is not
 *     drained: it stays on disk under <data_dir>/buffers/<id> and is replayed when a sink
 *     with that id comes back (reload or restart).
 *  8. One reload at a time (reload_mu); a stop request makes a reload that waits for the
 *     graph lock give up (the drain at shutdown holds reload_mu), and no reload starts
 *     once stopping. While a reload runs, sources_running holds one extra count so a
 *     restarting source does not look like "every source finished".
 *  9. Batches may point at strings a source or transform owns (add_fields' values are its
 *     configuration's; a batch's origin is its source's id), and such batches can wait in
 *     a memory buffer for as long as a sink is down. So a replaced or removed source or
 *     transform is retired, not freed: its node (configuration, id) stays until the
 *     topology is freed; a source's instance is destroyed at once only when nothing it
 *     emitted is alive (its ledger empty), else it stays too. Sinks are freed (batches never
 *     point into a sink). The cost is a configuration's size per change. */
#include "reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"
#include "formats/json.h"
#include "log.h"
#include "metrics.h"
#include "net/server.h"
#include "topology_int.h"

static const char *const sections[] = {"sources", "transforms", "sinks"};

/* ---- Diff ----------------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

bool config_node_equal(const sl_cnode *a, const sl_cnode *b)
{
    if (!a || !b)
        return a == b;
    if (a->kind != b->kind || a->n != b->n)
        return false;
    switch (a->kind) {
    case SL_CNODE_SCALAR:
        return str_eq(a->scalar, b->scalar) && a->quoted == b->quoted;
    case SL_CNODE_SEQ:
        for (size_t i = 0; i < a->n; i++)
            if (!config_node_equal(a->items[i], b->items[i]))
                return false;
        return true;
    case SL_CNODE_MAP:
        for (size_t i = 0; i < a->n; i++)
            if (!config_node_equal(a->items[i], cnode_get(b, a->items[i]->key)))
                return false;
        return true;
    }
    return false;
}

static void list_add(sl_strlist *l, const char *s)
{
    l->v = sl_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = sl_xstrdup(s);
}

static void list_free(sl_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool reload_list_has(const sl_strlist *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], id) == 0)
            return true;
    return false;
}

void reload_diff_free(sl_reload_diff *d)
{
    list_free(&d->same);
    list_free(&d->changed);
    list_free(&d->added);
    list_free(&d->removed);
}

/* The component `id` in any section of root; *section gets its index. */
static const sl_cnode *find_component(const sl_cnode *root, const char *id, int *section)
{
    for (int k = 0; k < 3; k++) {
        const sl_cnode *c = cnode_get(cnode_get(root, sections[k]), id);
        if (c) {
            *section = k;
            return c;
        }
    }
    return NULL;
}

static bool is_section(const char *key)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(key, sections[k]) == 0)
            return true;
    return false;
}

/* The first top-level setting that differs, checked from both sides. */
static const char *global_change(const sl_cnode *a, const sl_cnode *b, const sl_cnode **at)
{
    for (int side = 0; side < 2; side++) {
        const sl_cnode *x = side ? b : a, *y = side ? a : b;
        for (size_t i = 0; x && x->kind == SL_CNODE_MAP && i < x->n; i++) {
            const char *key = x->items[i]->key;
            /* x-* keys hold anchors: what changed there shows in the components merging them */
            if (is_section(key) || strncmp(key, "x-", 2) == 0 ||
                config_node_equal(x->items[i], cnode_get(y, key)))
                continue;
            *at = cnode_get(b, key);
            return key;
        }
    }
    return NULL;
}

int reload_diff(const sl_cnode *old_root, const sl_cnode *new_root, const char *path,
                sl_reload_diff *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const sl_cnode *at = NULL;
    const char *g = global_change(old_root, new_root, &at);
    if (g) {
        return sl_seterr(err, errlen, SL_ERR_CONFIG,
                         "%s:%d:%d: '%s' cannot change while sluice runs (it is read once at "
                         "start); restart sluice to change it, or keep the running value",
                         path, at ? at->key_line : 1, at ? at->key_col : 1, g);
    }
    for (int k = 0; k < 3; k++) {
        const sl_cnode *sec = cnode_get(new_root, sections[k]);
        for (size_t i = 0; sec && sec->kind == SL_CNODE_MAP && i < sec->n; i++) {
            const sl_cnode *c = sec->items[i];
            int ok = -1;
            const sl_cnode *o = find_component(old_root, c->key, &ok);
            if (!o) {
                list_add(&out->added, c->key);
                continue;
            }
            if (ok == 2 && k == 2 &&
                !config_node_equal(cnode_get(o, "buffer"), cnode_get(c, "buffer"))) {
                const sl_cnode *b = cnode_get(c, "buffer");
                reload_diff_free(out);
                return sl_seterr(err, errlen, SL_ERR_CONFIG,
                                 "%s:%d:%d: sinks.%s.buffer cannot change while sluice runs "
                                 "(a reload keeps the buffer and what it holds); restart "
                                 "sluice to change it",
                                 path, b ? b->key_line : c->key_line, b ? b->key_col : c->key_col,
                                 c->key);
            }
            if (ok != k || !config_node_equal(o, c))
                list_add(&out->changed, c->key);
            else
                list_add(&out->same, c->key);
        }
    }
    for (int k = 0; k < 3; k++) {
        const sl_cnode *sec = cnode_get(old_root, sections[k]);
        for (size_t i = 0; sec && sec->kind == SL_CNODE_MAP && i < sec->n; i++) {
            int nk;
            if (!find_component(new_root, sec->items[i]->key, &nk))
                list_add(&out->removed, sec->items[i]->key);
        }
    }
    return SL_OK;
}

/* ---- Apply ---------------------------------------------------------------------------- */

void topology_set_reloader(sl_topology *t, sl_reload_loader fn, void *arg)
{
    t->loader = fn;
    t->loader_arg = arg;
}

static node *find(node **nodes, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(nodes[i]->id, id) == 0)
            return nodes[i];
    return NULL;
}

/* Invariant 1: initialises what changed or is new, opens new sinks' buffers. A changed
 * component of the same kind keeps its metrics block; others get a new one. */
static int prepare(sl_topology *t, sl_topology *nt, const sl_reload_diff *d, char *err,
                   size_t errlen)
{
    for (size_t i = 0; i < nt->nnodes; i++) {
        node *n = nt->nodes[i];
        if (reload_list_has(&d->same, n->id))
            continue;
        node *old = find(t->nodes, t->nnodes, n->id);
        sl_metrics *m = old && old->kind == n->kind
                            ? old->m
                            : metrics_register(n->id, topo_kind_names[n->kind], n->type);
        int rc = topo_init_node(nt, n, t->g.data_dir, m, err, errlen);
        n->m = m;
        if (rc == SL_OK && n->kind == NODE_SINK && !(old && old->kind == NODE_SINK))
            rc = topo_open_buffer(t, n, err, errlen);
        if (rc != SL_OK)
            return rc;
    }
    return SL_OK;
}

/* Whether a source this reload stops (changed or removed) listens on `port` with one of
 * `protos`: it lets the port go before the new one binds. */
static bool freed_by_reload(sl_topology *t, const sl_reload_diff *d, int port, unsigned protos)
{
    for (size_t i = 0; i < t->nnodes; i++) {
        node *o = t->nodes[i];
        topo_listen tl[SL_LISTEN_MAX];
        int k = reload_list_has(&d->same, o->id) ? 0 : topo_listens(o, tl);
        for (int j = 0; j < k; j++)
            if (tl[j].port == port && (tl[j].l.protos & protos))
                return true;
    }
    return false;
}

/* Invariant 1 for listeners: a changed or added source binds each of its ports now and lets
 * it go, so that a port another program holds refuses the reload before the running source
 * stops (it stopped, the new one died on "port already in use", and when it was the only
 * source sluice drained and exited 0). A port that a source this reload stops holds is
 * taken as free: that one lets it go first. */
static int probe_listeners(sl_topology *t, sl_topology *nt, const sl_reload_diff *d,
                           char *err, size_t errlen)
{
    for (size_t i = 0; i < nt->nnodes; i++) {
        node *n = nt->nodes[i];
        topo_listen tl[SL_LISTEN_MAX];
        int k = reload_list_has(&d->same, n->id) ? 0 : topo_listens(n, tl);
        for (int j = 0; j < k; j++) {
            const sl_listen *ls = &tl[j].l;
            int port = tl[j].port;
            char msg[512];
            if (port == 0)
                continue; /* said by the option's check; port 0 is any free port */
            /* UDP beside TCP is forward's heartbeat, which a source runs without (as at
             * start): only the port it cannot run without is probed. */
            unsigned proto = ls->protos & SL_LISTEN_TCP ? SL_LISTEN_TCP : SL_LISTEN_UDP;
            if (freed_by_reload(t, d, port, proto) ||
                net_probe_listen(ls->address, proto == SL_LISTEN_UDP, msg, sizeof msg) == SL_OK)
                continue;
            const sl_cnode *at = cnode_get(n->cn, "address");
            if (!at)
                at = n->cn;
            return sl_seterr(err, errlen, SL_ERR_CONFIG, "%s:%d:%d: %s.address: %s", nt->path,
                             at->line, at->col, n->where, msg);
        }
    }
    return SL_OK;
}

/* Undoes prepare's metrics blocks (the rest goes with topology_free(nt)). */
static void unprepare(sl_topology *t, sl_topology *nt)
{
    for (size_t i = 0; i < nt->nnodes; i++) {
        node *n = nt->nodes[i];
        node *old = find(t->nodes, t->nnodes, n->id);
        if (n->m && !(old && old->m == n->m))
            metrics_unregister(n->m);
        n->m = NULL;
    }
}

static void destroy_instance(sl_topology *t, node *n)
{
    pthread_mutex_lock(&t->mu); /* the status reads instances under it */
    bool was = n->inited;
    n->inited = false;
    pthread_mutex_unlock(&t->mu);
    if (!was)
        return;
    if (n->kind == NODE_SOURCE && n->vt.src->destroy)
        n->vt.src->destroy(n->self);
    else if (n->kind == NODE_TRANSFORM && n->vt.tr->destroy)
        n->vt.tr->destroy(n->self);
    else if (n->kind == NODE_SINK && n->vt.sink->destroy)
        n->vt.sink->destroy(n->self);
    n->self = NULL;
}

static bool graph_wrlock(sl_topology *t)
{
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        int rc = pthread_rwlock_timedwrlock(&t->graph, &ts);
        if (rc == 0)
            return true;
        if (atomic_load(&t->stopping))
            return false;
    }
}

/* Invariant 7: a removed sink's runtime ends; what its memory buffer still holds at the
 * deadline is released as dropped. */
static void retire_sink(node *n, int64_t deadline)
{
    if (!n->rt)
        return;
    bool memory = n->common.buffer.type == SL_BUFFER_MEMORY;
    while (memory && sl_mono_ms() < deadline &&
           (buffer_events(n->buf) > 0 || atomic_load(&n->m->inflight) > 0)) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sink_runtime_pause(n->rt, memory ? deadline : sl_mono_ms() + 1000);
    sink_runtime_free(n->rt);
    n->rt = NULL;
    if (!memory) {
        /* kept on disk, as at a restart (warn_stranded_buffers): say how much */
        size_t left = buffer_events(n->buf);
        if (left)
            log_warn(n->id, "removed by a reload: its disk buffer keeps %zu undelivered "
                     "event(s), delivered once a sink '%s' with a disk buffer is back", left,
                     n->id);
        return;
    }
    size_t dropped = 0;
    sl_buffer_item it;
    while (buffer_pop(n->buf, &it, 0) == SL_OK) {
        dropped += it.batch ? it.batch->n : 0;
        buffer_done(n->buf, &it);
    }
    if (dropped) {
        atomic_fetch_add(&n->m->dropped_events, dropped);
        log_warn(n->id, "removed by a reload: %zu event(s) in its memory buffer were not "
                 "delivered before shutdown_timeout and are dropped", dropped);
    }
}

/* The buffer of the sink named `id` once the reload is done: an existing sink's (kept if it
 * changes), else a new one's, opened by prepare. */
static sl_buffer *buffer_of(sl_topology *t, sl_topology *nt, const char *id)
{
    node *o = find(t->nodes, t->nnodes, id);
    if (o && o->kind == NODE_SINK)
        return o->buf;
    node *n = find(nt->nodes, nt->nnodes, id);
    return n && n->kind == NODE_SINK ? n->buf : NULL;
}

/* 5: a changed sink's new runtime takes over its buffer. The graph does not change here
 * (sources push into the same buffer object), so this comes before the graph lock: a
 * source blocked on the full buffer of a sink that cannot deliver, which the reload is
 * there to fix, gets room again rather than holding the lock's reading side for ever. */
static void swap_sink_runtimes(sl_topology *t, sl_topology *nt, int64_t deadline,
                               sl_buf *problems)
{
    for (size_t i = 0; i < nt->nnodes; i++) {
        node *n = nt->nodes[i];
        node *o = find(t->nodes, t->nnodes, n->id);
        if (n->kind != NODE_SINK || !n->inited || !o || o->kind != NODE_SINK || !o->rt)
            continue;
        sink_runtime_pause(o->rt, deadline);
        sink_runtime_free(o->rt);
        o->rt = NULL;
        n->buf = o->buf; /* the same buffer, contents and all; o lets go of it at the swap */
        node *fb = n->fallback; /* nt's wiring; the buffer is looked up by id */
        n->fallback = NULL;
        char err[1024];
        if (topo_start_runtime(t, n, err, sizeof err) != SL_OK) {
            log_error(n->id, "cannot start after the reload: %s", err);
            buf_printf(problems, "%s%s", problems->len ? "; " : "", err);
        } else if (fb) {
            sink_runtime_set_fallback(n->rt, buffer_of(t, nt, fb->id));
        }
        n->fallback = fb;
    }
}

/* The point of no return is passed: invariants 3-7. Returns SL_ERR_CLOSED if a stop
 * came while waiting for the graph lock (sources already stopped stay stopped; the drain
 * of the shutdown takes over). */
static int apply(sl_topology *t, sl_topology *nt, sl_config_doc *doc, const sl_reload_diff *d,
                 sl_buf *problems)
{
    int64_t deadline = sl_mono_ms() + t->g.shutdown_timeout_ms;
    swap_sink_runtimes(t, nt, deadline, problems);
    /* 4: sources that change or go stop, while every sink delivers. */
    for (size_t i = 0; i < t->nnodes; i++) {
        node *o = t->nodes[i];
        if (o->kind != NODE_SOURCE || reload_list_has(&d->same, o->id))
            continue;
        /* Its instance goes now (files, sockets) unless a batch of it is still alive. */
        if (topo_stop_source(t, o, deadline))
            destroy_instance(t, o);
        else
            log_warn(o->id, "events of the replaced source are still in flight; its memory "
                     "is kept until exit");
        log_info(o->id, "source stopped for the reload; its position is saved");
    }
    if (!graph_wrlock(t)) {
        /* Stopping: the new runtimes end here; the old nodes keep the buffers. */
        for (size_t i = 0; i < nt->nnodes; i++) {
            node *n = nt->nodes[i];
            node *o = find(t->nodes, t->nnodes, n->id);
            if (n->kind == NODE_SINK && o && o->kind == NODE_SINK && n->buf == o->buf) {
                sink_runtime_stop(n->rt, atomic_load(&t->deadline_ms));
                sink_runtime_free(n->rt);
                n->rt = NULL;
                n->buf = NULL;
            }
        }
        return SL_ERR_CLOSED;
    }
    /* 6: what a changed or removed transform keeps goes on through the old graph. */
    for (size_t i = 0; i < t->nnodes; i++) {
        node *o = t->nodes[i];
        if (o->kind != NODE_TRANSFORM || reload_list_has(&d->same, o->id) || !o->vt.tr->flush)
            continue;
        for (size_t j = 0; j < t->nnodes; j++) {
            if (t->nodes[j]->kind != NODE_SOURCE)
                continue;
            topo_flush_transform(t, o, t->nodes[j]->id, sl_mono_ms(), true);
        }
    }
    /* 3, 5: the new node array. Garbage (old nodes replaced or removed, and the new
     * document's placeholders of unchanged ones) goes to nt, freed with it. */
    node **keep = sl_xcalloc(nt->nnodes ? nt->nnodes : 1, sizeof *keep);
    node **garbage = sl_xcalloc(nt->nnodes + t->nnodes + 1, sizeof *garbage);
    size_t ng = 0;
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < nt->nnodes; i++) {
        node *n = nt->nodes[i];
        node *o = find(t->nodes, t->nnodes, n->id);
        if (reload_list_has(&d->same, n->id)) {
            o->cn = n->cn;
            keep[i] = o;
            garbage[ng++] = n;
            continue;
        }
        keep[i] = n;
        if (!o)
            continue;
        garbage[ng++] = o;
        if (o->kind == n->kind) {
            tap_destroy(n->tap);
            free(n->tap);
            n->tap = o->tap;
            o->tap = NULL;
            n->rate_prev_ms = o->rate_prev_ms;
            n->rate_prev_events = o->rate_prev_events;
            if (strcmp(o->type, n->type) != 0)
                metrics_set_type(n->m, n->type);
            if (n->kind == NODE_SINK)
                o->buf = NULL; /* n has it (swap_sink_runtimes) */
        }
    }
    for (size_t i = 0; i < t->nnodes; i++)
        if (!find(nt->nodes, nt->nnodes, t->nodes[i]->id))
            garbage[ng++] = t->nodes[i];
    /* Taps of nodes that leave (or change kind) outlive them: a client may hold one. */
    for (size_t i = 0; i < ng; i++) {
        node *g = garbage[i];
        if (g->tap && find(t->nodes, t->nnodes, g->id) == g) {
            t->dead_taps = sl_xrealloc(t->dead_taps, (t->ndead_taps + 1) * sizeof *t->dead_taps);
            t->dead_taps[t->ndead_taps++] = g->tap;
            g->tap = NULL;
        }
    }
    /* Old sources and transforms are retired rather than freed (topology_int.h); their
     * metrics blocks are dealt with below like the garbage's. */
    size_t kept = 0, retired_from = t->nretired;
    for (size_t i = 0; i < ng; i++) {
        node *g = garbage[i];
        if (g->kind != NODE_SINK && find(t->nodes, t->nnodes, g->id) == g) {
            t->retired = sl_xrealloc(t->retired, (t->nretired + 1) * sizeof *t->retired);
            t->retired[t->nretired++] = g;
        } else {
            garbage[kept++] = g;
        }
    }
    ng = kept;
    free(t->nodes);
    t->nodes = keep;
    t->nnodes = nt->nnodes;
    free(nt->nodes);
    nt->nodes = garbage;
    nt->nnodes = ng;
    sl_config_doc *old_doc = t->doc;
    t->doc = doc;
    t->path = doc->path;
    t->root = doc->root;
    nt->doc = old_doc; /* freed with nt: nothing kept points into it any more */
    topo_rewire(t);
    pthread_mutex_unlock(&t->mu);
    pthread_rwlock_unlock(&t->graph);

    /* 7: removed sinks' runtimes end (changed ones were swapped before the lock). */
    for (size_t i = 0; i < ng; i++)
        if (garbage[i]->kind == NODE_SINK && garbage[i]->rt)
            retire_sink(garbage[i], deadline);
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        char err[1024];
        if (n->kind == NODE_SINK && !n->rt && topo_start_runtime(t, n, err, sizeof err) != SL_OK) {
            log_error(n->id, "cannot start after the reload: %s", err);
            buf_printf(problems, "%s%s", problems->len ? "; " : "", err);
        }
    }
    for (size_t i = 0; i < t->nnodes; i++) {
        node *n = t->nodes[i];
        char err[1024];
        if (n->kind == NODE_SOURCE && !n->sctx && topo_start_source(t, n, err, sizeof err) != SL_OK) {
            log_error(n->id, "cannot start after the reload: %s", err);
            buf_printf(problems, "%s%s", problems->len ? "; " : "", err);
        }
    }
    /* Metrics blocks of what left: out of the exposition. */
    for (size_t i = 0; i < ng + t->nretired - retired_from; i++) {
        node *g = i < ng ? garbage[i] : t->retired[retired_from + i - ng];
        if (g->m && !find(t->nodes, t->nnodes, g->id))
            metrics_unregister(g->m);
        else if (g->m) {
            node *now = find(t->nodes, t->nnodes, g->id);
            if (now->m != g->m)
                metrics_unregister(g->m);
        }
        g->m = NULL;
    }
    return SL_OK;
}

static void json_list(sl_buf *out, const char *name, const sl_strlist *l)
{
    buf_printf(out, ",\"%s\":[", name);
    for (size_t i = 0; i < l->n; i++) {
        buf_puts(out, i ? ",\"" : "\"");
        json_escape(out, l->v[i], strlen(l->v[i]));
        buf_puts(out, "\"");
    }
    buf_puts(out, "]");
}

static void text_list(sl_buf *out, const char *name, const sl_strlist *l)
{
    buf_printf(out, " %s [", name);
    for (size_t i = 0; i < l->n; i++)
        buf_printf(out, "%s%s", i ? ", " : "", l->v[i]);
    buf_puts(out, "]");
}

static void record(sl_topology *t, bool ok, const char *error)
{
    pthread_mutex_lock(&t->mu);
    if (ok)
        t->reloads_ok++;
    else
        t->reloads_failed++;
    t->reload_last_ok = ok;
    t->reload_last_unix_ms = sl_now_ns() / 1000000;
    snprintf(t->reload_last_error, sizeof t->reload_last_error, "%s", ok ? "" : error);
    pthread_mutex_unlock(&t->mu);
    metrics_config_reload(ok);
}

static int fail(sl_topology *t, sl_buf *reply, int status, const char *error)
{
    record(t, false, error);
    log_error("sluice", "reload failed, still running the previous configuration: %s", error);
    if (reply) {
        buf_puts(reply, "{\"reloaded\":false,\"error\":\"");
        json_escape(reply, error, strlen(error));
        buf_puts(reply, "\"}");
    }
    return status;
}

int topology_reload(sl_topology *t, sl_buf *reply)
{
    char err[2048] = "";
    pthread_mutex_lock(&t->reload_mu);
    if (atomic_load(&t->stopping) || !atomic_load(&t->started)) {
        pthread_mutex_unlock(&t->reload_mu);
        if (reply)
            buf_puts(reply, "{\"reloaded\":false,\"error\":\"sluice is not running (stopping)\"}");
        return 503;
    }
    if (!t->loader) {
        /* No file to read again (a drop-in's environment, the quickstart): nothing was
         * tried, so nothing failed; a SIGHUP sent to reopen the log must not set off the
         * failed-reload alert. */
        snprintf(err, sizeof err, "nothing to reload: sluice runs %s, not a configuration "
                 "file (-c)", t->path);
        log_info("sluice", "reload: %s", err);
        if (reply) {
            buf_puts(reply, "{\"reloaded\":false,\"error\":\"");
            json_escape(reply, err, strlen(err));
            buf_puts(reply, "\"}");
        }
        pthread_mutex_unlock(&t->reload_mu);
        return 400;
    }
    log_info("sluice", "reload: reading %s", t->path);
    sl_config_doc *doc = NULL;
    sl_topology *nt = NULL;
    sl_reload_diff d = {0};
    int rc = t->loader(t->loader_arg, &doc, err, sizeof err);
    if (rc == SL_OK)
        rc = topo_build(&nt, doc, false, err, sizeof err);
    if (rc == SL_OK)
        rc = reload_diff(t->root, doc->root, doc->path, &d, err, sizeof err);
    if (rc == SL_OK) {
        rc = prepare(t, nt, &d, err, sizeof err);
        if (rc == SL_OK)
            rc = probe_listeners(t, nt, &d, err, sizeof err);
        if (rc != SL_OK)
            unprepare(t, nt);
    }
    if (rc != SL_OK) {
        topology_free(nt);
        config_doc_free(doc);
        reload_diff_free(&d);
        int status = fail(t, reply, 400, err);
        pthread_mutex_unlock(&t->reload_mu);
        return status;
    }
    atomic_fetch_add(&t->sources_running, 1); /* invariant 8 */
    sl_buf problems = SL_BUF_INIT;
    rc = d.changed.n + d.added.n + d.removed.n ? apply(t, nt, doc, &d, &problems) : SL_OK;
    if (d.changed.n + d.added.n + d.removed.n == 0) {
        /* Nothing to restart; the new document still replaces the old (same values). */
        pthread_mutex_lock(&t->mu);
        for (size_t i = 0; i < nt->nnodes; i++)
            find(t->nodes, t->nnodes, nt->nodes[i]->id)->cn = nt->nodes[i]->cn;
        sl_config_doc *old_doc = t->doc;
        t->doc = doc;
        t->path = doc->path;
        t->root = doc->root;
        nt->doc = old_doc;
        pthread_mutex_unlock(&t->mu);
    }
    if (rc == SL_ERR_CLOSED) {
        unprepare(t, nt);
        config_doc_free(doc);
    }
    topology_free(nt);
    pthread_mutex_lock(&t->mu);
    atomic_fetch_sub(&t->sources_running, 1);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    int status;
    if (rc == SL_ERR_CLOSED) {
        status = fail(t, reply, 503, "stopped during the reload");
    } else if (problems.len) {
        status = fail(t, reply, 500, problems.p);
    } else {
        sl_buf line = SL_BUF_INIT;
        text_list(&line, "changed", &d.changed);
        text_list(&line, "added", &d.added);
        text_list(&line, "removed", &d.removed);
        log_info("sluice", "reload: ok:%.*s", (int)line.len, line.p);
        buf_free(&line);
        record(t, true, NULL);
        if (reply) {
            buf_puts(reply, "{\"reloaded\":true");
            json_list(reply, "changed", &d.changed);
            json_list(reply, "added", &d.added);
            json_list(reply, "removed", &d.removed);
            buf_puts(reply, "}");
        }
        status = 200;
    }
    buf_free(&problems);
    reload_diff_free(&d);
    pthread_mutex_unlock(&t->reload_mu);
    return status;
}
