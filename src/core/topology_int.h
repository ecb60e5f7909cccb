/* topology_int.h - the running pipeline's insides, shared by topology.c (build, run) and
 * reload.c (changes while running) only. Everyone else uses topology.h. */
#ifndef SL_TOPOLOGY_INT_H
#define SL_TOPOLOGY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "buffer.h"
#include "component.h"
#include "sink_runtime.h"
#include "tap.h"
#include "topology.h"

enum node_kind { NODE_SOURCE, NODE_TRANSFORM, NODE_SINK };

/* One component. Nodes are allocated one by one, so a pointer to a node (a source thread's
 * context, another node's `down`) stays valid while the topology holds it. */
typedef struct node {
    enum node_kind kind;
    char *id, *type;
    char where[256]; /* "sinks.out", for messages */
    const sl_cnode *cn;       /* in the topology's current document */
    const sl_option *options; /* the component's own table */
    void *config;             /* its parsed options (config_size bytes) */
    union {
        const sl_source_vtable *src;
        const sl_transform_vtable *tr;
        const sl_sink_vtable *sink;
    } vt;
    void *self;
    bool inited;
    sl_metrics *m;
    sl_component_ctx cc;
    sl_strlist inputs;   /* transforms (sinks keep theirs in common.inputs) */
    sl_tap *tap;         /* copies of what the component outputs (sinks: takes in) */
    struct node **down;  /* consumers; read under the graph lock */
    size_t ndown;
    bool clone_for_transforms;
    bool keeps; /* a transform below keeps events across batches (has flush) */
    size_t idx; /* position in the topology's array while it is built (cycle search) */
    /* sources */
    pthread_t thread;
    bool thread_started;
    struct sl_source_ctx *sctx;
    /* sinks */
    sl_sink_common common;
    sl_buffer *buf;
    sl_sink_runtime *rt;
    struct node *fallback;
    /* status rates */
    int64_t rate_prev_ms;
    uint64_t rate_prev_events;
} node;

struct sl_source_ctx {
    sl_topology *t;
    node *n;
    sl_ack_ledger *ledger;
    bool ready;        /* source_ready() called (source thread only) */
    bool initial;      /* started by topology_start, not by a reload */
    atomic_bool stop;  /* this source alone must stop (a reload) */
    int stop_efd;      /* readable once the topology or this source stops */
    _Atomic int64_t deadline_ms; /* with stop: how long its acks may take to settle */
    int mem_class;          /* sl_mem_class of what source_emit carries (memlimit.h) */
    atomic_bool mem_paused; /* held back by the memory limit (counted in memlimit) */
};

struct sl_topology {
    sl_global_config g;
    bool check_only; /* topology_check: never started */
    node **nodes;
    size_t nnodes;
    const char *path;
    const sl_cnode *root; /* of the current document */
    atomic_bool stopping;
    atomic_bool started;
    atomic_bool start_failed; /* topology_start failed, or a listening source of the start
                                 ended before it listened */
    atomic_bool output_gone;  /* a sink stopped the pipeline: it can take nothing again */
    atomic_int sources_running;
    atomic_int sources_unready; /* signals_ready sources not yet serving (/readyz) */
    int stop_efd;
    int dir_lock;  /* flock'd <data_dir>/sluice.pid: one process per data_dir; -1 before */
    _Atomic int64_t deadline_ms; /* monotonic; set when stop begins */
    pthread_mutex_t mu;   /* the node array (status, reload's swap) */
    pthread_cond_t cv;
    int64_t start_ns;
    bool memlimit_started;
    /* Read-held by every thread routing a batch (source_emit, the flush of kept events,
     * source_would_block), write-held by a reload while it changes `down`, transforms and
     * the node array; writers are preferred so a busy source cannot starve a reload. */
    pthread_rwlock_t graph;
    /* reload.c */
    pthread_mutex_t reload_mu;   /* one reload at a time; held by shutdown's drain too */
    sl_config_doc *doc;          /* the current document when a reload installed it (owned) */
    sl_reload_loader loader;
    void *loader_arg;
    struct sl_source_ctx **dead_ctx; /* contexts of replaced sources: their ledgers may */
    size_t ndead_ctx;                /* still get late releases; freed last */
    sl_tap **dead_taps;              /* taps of removed components (a client may hold one) */
    size_t ndead_taps;
    /* Sources and transforms a reload replaced or removed: batches still in buffers may point
     * at strings their configuration or instance owns (add_fields' values, ids as origins),
     * so they are freed last, with the topology. */
    struct node **retired;
    size_t nretired;
    uint64_t reloads_ok, reloads_failed; /* under reload_mu, read by the status */
    int64_t reload_last_unix_ms;
    bool reload_last_ok;
    char reload_last_error[512];
};

extern const char *const topo_kind_names[];

/* topology_build without the components' init (init = false): a reload validates the
 * document this way, then initialises only what changed. */
/* A port a source will listen on (sl_source_vtable.listens), its address split; port 0
 * when the address does not parse (its option's check says why) or is "any free port". */
typedef struct topo_listen {
    sl_listen l;
    char host[256];
    int port;
} topo_listen;
/* The ports source n will listen on, into out; how many (0 for other nodes). */
int topo_listens(const node *n, topo_listen out[SL_LISTEN_MAX]);

/* BUILD_GRAPH: options and graph only; BUILD_CHECK: components built check_only;
 * BUILD_RUN: built to run. topo_build(init) is GRAPH or RUN. */
enum build_mode { BUILD_GRAPH, BUILD_CHECK, BUILD_RUN };
int topo_build_mode(sl_topology **out, const sl_config_doc *doc, enum build_mode mode,
                    char *err, size_t errlen);
int topo_build(sl_topology **out, const sl_config_doc *doc, bool init, char *err,
               size_t errlen);
/* Initialises one component with the given data_dir and metrics block (borrowed). */
int topo_init_node(sl_topology *t, node *n, const char *data_dir, sl_metrics *m, char *err,
                   size_t errlen);
/* Opens a sink's buffer (when it has none) under <data_dir>/buffers/<id>. */
int topo_open_buffer(sl_topology *t, node *n, char *err, size_t errlen);
/* Starts a sink's runtime on its buffer. */
int topo_start_runtime(sl_topology *t, node *n, char *err, size_t errlen);
/* Starts a source's thread with a new context and ledger. */
int topo_start_source(sl_topology *t, node *n, char *err, size_t errlen);
/* Stops one source: it stops reading, its acks settle until deadline_ms, it writes its
 * position and its thread ends (joined). Its context is freed, or, while tokens of its
 * ledger are still out (they may still be released into it), kept on the dead list.
 * Returns true when nothing it emitted is alive any more (every token collected). */
bool topo_stop_source(sl_topology *t, node *n, int64_t deadline_ms);
/* Rebuilds every `down`, fallback, clone flag and keeps flag from the nodes' inputs (a
 * validated graph). Caller holds the graph lock for writing (or nothing runs yet). */
void topo_rewire(sl_topology *t);
/* Flushes what transform `d` keeps for `origin` (all of it when `all`) and routes it on;
 * what a sink cannot take is abandoned. Caller holds the graph lock. */
void topo_flush_transform(sl_topology *t, node *d, const char *origin, int64_t now_ms, bool all);
/* Frees one node (destroying its component when inited; its buffer, runtime, tap). */
void topo_node_free(node *n);

#endif
