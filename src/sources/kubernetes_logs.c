/* kubernetes_logs.c - the `kubernetes_logs` source: every container's log on a node, from
 * /var/log/pods (or the /var/log/containers symlinks), with pod metadata, in order.
 *
 * Notes on the design
 * -------------------
 *  1. Discovery is ours, reading is the tailer's. A scan walks
 *     <path>/<namespace>_<pod>_<uid>/<container>/<N>.log[.<rotation suffix>] and the
 *     <path>/<pod>_<namespace>_<container>-<id>.log symlinks, applies the include/exclude
 *     globs and exclude_self, and offers what is left to the tailer. inotify watches every
 *     directory of the tree; any event but IN_MODIFY asks for a rescan, IN_Q_OVERFLOW too,
 *     and a periodic rescan catches whatever inotify missed. Compressed (.gz) and temporary
 *     (.tmp) files are never offered, so never read.
 *  2. Kubelet rotation renames N.log to N.log.<time>: the renamed file is still offered
 *     (same inode, so the tailer keeps its position) and read to its end; it is released
 *     when kubelet compresses and deletes it. Files of a deleted pod are read to their end
 *     by the tailer (DRAINING) before they are closed. A rotated name we do not follow yet
 *     (a copytruncate copy) is offered only once its ctime is 250 ms old: a copy still
 *     being written would not match the original's position yet and would be read again
 *     from its start. The first scan after a start offers everything at once (saved
 *     positions are claimed there).
 *  3. Per file (the tailer's user slot) we keep the metadata parsed once from the path and
 *     one partial-line accumulator per stream, so CRI P parts (and Docker entries without a
 *     trailing newline) join per stream and stdout and stderr never mix. A joined message
 *     is bounded by max_line_bytes: beyond it what was gathered goes out marked
 *     log.truncated and joining starts over. A partial whose rest has not come for
 *     partial_timeout_ms of reading (time spent waiting on full buffers does not count) is
 *     delivered as it is, marked log.truncated: a container that exits in the middle of a
 *     line leaves a last P (containerd) or an entry without newline (dockerd) that nothing
 *     completes, and until then it held back its file's position (note 4), so every
 *     restart read the rest of the file again.
 *  4. Acks: one batch holds lines of one file. The position a batch commits is the end of
 *     its last line, lowered to the first offset of any partial still being joined; so a
 *     crash never commits past a part whose message has not been delivered. Positions only
 *     grow: a partial pending at one flush started after the previous flush's position.
 *  5. Event id: id_stream = the tailer's file identity hash, id_seq = the offset of the line
 *     (of its first part when joined). Re-reading after a crash yields the same ids, so a
 *     sink that deduplicates by id ends with no duplicates.
 *  6. Hot path: metadata strings and their fields (Docker attrs too, note 11) are copied
 *     into the batch arena once per batch, and every event of the batch points at them as
 *     its shared fields (event.h); an event's own fields are its stream, offset and
 *     truncation. Keys are static. No malloc per event.
 *  7. Bad input (a line that is neither CRI nor Docker JSON, a broken time) is counted and
 *     logged (rate-limited) and still delivered as a raw message stamped with the read time:
 *     nothing is dropped.
 *  8. `multiline:` (tail_ml.h): complete messages of a stream are joined into groups before
 *     they become events; a group still open holds the position back as a partial does
 *     (note 4), is sent timeout_ms after its last line (the loop's flush hook) and when its
 *     file is drained.
 *  9. API metadata (k8s_meta.h, when there is an API server to ask): each file looks its
 *     pod up again only when the cache's generation moved, so the tail never waits on the
 *     API; until the API answers events carry path metadata alone. Labels, annotations,
 *     node, owner and namespace labels join the per-batch template (note 6). A pod
 *     annotated sluice.io/exclude: "true" is not offered when known at a scan, and lines of
 *     a file already tracked are skipped but still committed (it stays tracked, so the
 *     annotation's removal resumes it where the pod is); sluice.io/parser: json adds the
 *     members of a JSON message as fields. At start the first walk waits (api_wait_ms) for
 *     the first lists: the backlog read then would otherwise go out without labels, and
 *     an excluded pod's files, which no position knows, would be read from their start.
 *     After the first walk, a pod directory younger than pod_wait_ms whose pod the API has
 *     not told of is walked as an excluded pod's (only files followed already) until it
 *     does or the time is up (pod_waits).
 * 10. Pod and container directories may be symlinks (some runtimes and CI setups link
 *     <path>/<ns>_<pod>_<uid> elsewhere): they are followed, as Fluent Bit's and Vector's
 *     globs follow them, and files are offered under the link's path, whose names give the
 *     metadata. The walk has a fixed depth (pod, container, file), so a link back up the
 *     tree cannot loop; a file reached by two paths is one identity (dev, inode) in the
 *     tailer, read once under the first path offered. A link that cannot be followed is
 *     logged once and counted (bad_symlink) until it clears.
 * 11. Docker's `attrs` (the --log-opt labels, env and tag of a json-file line) become
 *     fields attrs.<key>, as Fluent Bit's docker parser and Vector keep the object. They
 *     are fixed when the container is created, so they are the file's, not the line's:
 *     kept per file as the last line's text and added to the batch's shared fields
 *     (note 6); a line whose attrs differ ends the open batch first. A message joined
 *     from parts, or a multiline group, carries the attrs its file had when it went out.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/common.h"
#include "core/component.h"
#include "core/log.h"
#include "formats/cri.h"
#include "formats/json.h"
#include "sources/k8s_meta.h"
#include "sources/k8s_path.h"
#include "sources/tail_loop.h"
#include "sources/tail_ml.h"
#include "sources/tailer.h"

typedef struct k8s_config {
    char *path;
    sl_strlist inc_ns, exc_ns, inc_pod, exc_pod, inc_ctr, exc_ctr;
    bool exclude_self;
    uint64_t max_line_bytes;
    int64_t partial_timeout_ms;
    int64_t rescan_interval_ms;
    tailer_config tail;
    tail_ml_config ml;
    bool metadata, annotations;
    int64_t api_wait_ms, pod_wait_ms;
    k8s_meta_config meta;
} k8s_config;

#define O(name, type, field, def, flags, choices, min, max, help) \
    {name, type, offsetof(k8s_config, field), def, flags, choices, NULL, min, max, help}
static const sl_option k8s_options[] = {
    O("path", SL_OPT_STR, path, "/var/log/pods", 0, NULL, 0, 0,
      "kubelet's pod log directory, or /var/log/containers (symlinks)"),
    O("include_namespaces", SL_OPT_STRLIST, inc_ns, NULL, 0, NULL, 0, 0,
      "glob patterns of namespaces to read (empty: all)"),
    O("exclude_namespaces", SL_OPT_STRLIST, exc_ns, NULL, 0, NULL, 0, 0,
      "glob patterns of namespaces to skip"),
    O("include_pods", SL_OPT_STRLIST, inc_pod, NULL, 0, NULL, 0, 0,
      "glob patterns of pod names to read (empty: all)"),
    O("exclude_pods", SL_OPT_STRLIST, exc_pod, NULL, 0, NULL, 0, 0,
      "glob patterns of pod names to skip"),
    O("include_containers", SL_OPT_STRLIST, inc_ctr, NULL, 0, NULL, 0, 0,
      "glob patterns of container names to read (empty: all)"),
    O("exclude_containers", SL_OPT_STRLIST, exc_ctr, NULL, 0, NULL, 0, 0,
      "glob patterns of container names to skip"),
    O("exclude_self", SL_OPT_BOOL, exclude_self, "true", 0, NULL, 0, 0,
      "skip sluice's own pod ($POD_NAME / $POD_NAMESPACE, else the host name)"),
    O("max_line_bytes", SL_OPT_SIZE, max_line_bytes, "1MiB", 0, NULL, 64, INT32_MAX,
      "bound on a message, joined partial lines included (beyond: log.truncated)"),
    O("partial_timeout_ms", SL_OPT_DURATION, partial_timeout_ms, "30000", 0, NULL, 10,
      86400000, "a partial line (CRI P, Docker entry without newline) whose rest has not "
      "come after this long is delivered as it is, marked log.truncated"),
    O("rescan_interval_ms", SL_OPT_DURATION, rescan_interval_ms, "5000", 0, NULL, 10, 3600000,
      "periodic walk of the tree (inotify catches most changes sooner)"),
    O("metadata", SL_OPT_BOOL, metadata, "true", 0, NULL, 0, 0,
      "pod labels, annotations, owner and namespace labels from the Kubernetes API (in a "
      "cluster, or with api_url)"),
    O("api_url", SL_OPT_STR, meta.api_url, NULL, 0, NULL, 0, 0,
      "API server URL (default: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)"),
    O("token_file", SL_OPT_STR, meta.token_file,
      "/var/run/secrets/kubernetes.io/serviceaccount/token", 0, NULL, 0, 0,
      "bearer token, read again when it changes (rotation)"),
    O("ca_file", SL_OPT_STR, meta.ca_file, NULL, 0, NULL, 0, 0,
      "CA of the API server (default in a cluster: the service account's ca.crt)"),
    O("node_name", SL_OPT_STR, meta.node_name, NULL, 0, NULL, 0, 0,
      "this node's name, to watch only its pods (default: $NODE_NAME)"),
    O("namespace_labels", SL_OPT_BOOL, meta.namespace_labels, "true", 0, NULL, 0, 0,
      "watch namespaces too, for kubernetes.namespace_labels.*"),
    O("annotations", SL_OPT_BOOL, annotations, "true", 0, NULL, 0, 0,
      "add kubernetes.annotations.* (sluice.io/* hints apply either way)"),
    O("max_pods", SL_OPT_INT, meta.max_pods, "5000", 0, NULL, 1, 1000000,
      "bound on the pods (and namespaces) the metadata cache holds"),
    O("deleted_pod_grace_ms", SL_OPT_DURATION, meta.deleted_grace_ms, "60000", 0, NULL, 0,
      86400000, "how long a deleted pod's metadata is kept for its last lines"),
    O("api_timeout_ms", SL_OPT_DURATION, meta.timeout_ms, "10000", 0, NULL, 100, 600000,
      "bound on a list request and on connecting"),
    O("watch_timeout_ms", SL_OPT_DURATION, meta.watch_timeout_ms, "300000", 0, NULL, 1000,
      3600000, "the server ends a watch after this (timeoutSeconds); it is then resumed"),
    O("api_wait_ms", SL_OPT_DURATION, api_wait_ms, "10000", 0, NULL, 0, 600000,
      "at start, files are read once the first pod (and namespace) list is in, or after "
      "this long (0: at once)"),
    O("pod_wait_ms", SL_OPT_DURATION, pod_wait_ms, "5000", 0, NULL, 0, 600000,
      "a pod's files that appear before the API has told of the pod wait this long for its "
      "metadata (0: read at once, with path metadata)"),
    O("api_backoff_max_ms", SL_OPT_DURATION, meta.backoff_max_ms, "30000", 0, NULL, 250,
      600000, "longest wait between failed API requests (doubling from 250 ms)"),
    TAILER_CONFIG_OPTIONS(k8s_config, tail),
    TAIL_ML_OPTION(k8s_config, ml),
    SL_OPT_END,
};
#undef O

/* A partial message being joined (one per stream per file). */
typedef struct kpart {
    char *buf; /* owned */
    size_t len, cap;
    uint64_t first_off;
    int64_t ts_ns;
    int64_t last_ms, wait_at;   /* note 3: when its last part came, the source's wait then */
    struct kfile *owner;        /* its file, and which stream of it (id) */
    int id;
    bool active;
    struct kpart *prev, *next;  /* in the source's list of active partials */
} kpart;

enum { KM_NS, KM_POD, KM_UID, KM_CTR, KM_CID, KM_N };

/* Per tracked file, in the tailer's user slot. Owned by the source (k8s_on_close frees). */
typedef struct kfile {
    uint64_t key;         /* tailer key the partials belong to (a new key = truncated) */
    char *meta[KM_N];     /* owned, never NULL ("" when unknown) */
    uint32_t meta_len[KM_N];
    int64_t restart;      /* -1 when unknown */
    kpart part[2];
    uint64_t chunk_next;  /* end of the last chunk of an over-long line */
    int chunk_stream;
    uint64_t last_end;    /* end of the last line taken: what a drained file commits */
    tail_ml_stream ml[2]; /* note 8: open groups per stream */
    uint64_t stream_id;   /* the file's, for a group sent outside its lines (timeout) */
    char *attrs;          /* note 11: the Docker attrs object of its last line (owned) */
    size_t attrs_len;     /* 0: none */
    const char *path_seen;
    char *path;           /* owned copy of path_seen */
    /* note 9: the API's view of the pod and its namespace (references, may be NULL) */
    k8s_obj *pod, *nsobj;
    uint64_t meta_gen;    /* generation they were looked up at; 0 = never */
} kfile;

/* Note 9: a pod seen in the tree that the API's view does not hold yet. */
typedef struct kwait {
    char *key;     /* "<namespace>/<pod>" (owned) */
    bool seen;     /* in the walk under way: entries no walk sees are dropped */
    bool released; /* known now, or waited pod_wait_ms: read from here on */
} kwait;

typedef struct k8s_source {
    const k8s_config *cfg;
    const sl_component_ctx *cc;
    sl_source_ctx *ctx;
    tailer *t;
    sl_ckpt_store *ck;
    int ino_fd;
    bool watch_full_logged, running, stopping;
    bool rescan_soon; /* a file was deferred: scan again shortly */
    bool scanned;     /* the first scan (which claims saved positions) is done */
    char *root;        /* cfg->path without trailing '/' */
    char self_pod[256], self_ns[256];
    char *scratch;     /* Docker unescape buffer, tailer max line + 1 */
    /* the batch being filled: lines of one file */
    sl_batch *b;
    kfile *b_kf;
    uint64_t b_key, b_end;
    uint32_t b_last_n; /* events in the last batch: the next one's array is sized for it */
    /* Lines read since the counters were last published: added to the shared metrics once
     * per batch, as a locked add per line stalls the thread behind the line's own stores. */
    uint64_t in_lines, in_bytes;
    sl_field *tmpl; /* metadata fields, values in b's arena (owned array) */
    uint32_t ntmpl, tmpl_cap, tmpl_bytes;
    const sl_field *b_tmpl; /* tmpl copied into b's arena: the shared fields of its events */
    k8s_meta *meta; /* note 9, NULL when off */
    k8s_meta_config meta_cfg;
    /* why the metadata is off, said when the source runs: not at init, which validate,
     * top and tap run too and which logs before log.format applies */
    char meta_off[256];
    /* rate limit of bad-input log lines */
    int64_t bad_log_ms;
    uint64_t bad_suppressed;
    tail_ml *ml; /* note 8, NULL when off */
    kpart *parts;         /* note 3: active partials, for their timeout */
    int64_t emit_wait_ms; /* time spent in source_emit while partials were active */
    kwait *waits;         /* note 9: new pods waiting for the API */
    size_t nwaits, waits_cap;
} k8s_source;

/* ---- Metadata from paths -------------------------------------------------------------- */

static void kf_set(kfile *kf, int i, const char *s, size_t n)
{
    free(kf->meta[i]);
    kf->meta[i] = sl_xmalloc(n + 1);
    memcpy(kf->meta[i], s, n);
    kf->meta[i][n] = '\0';
    kf->meta_len[i] = (uint32_t)n;
}

static bool in_root(const k8s_source *s, const char *path)
{
    size_t rl = strlen(s->root);
    return strncmp(path, s->root, rl) == 0 && path[rl] == '/' && !strchr(path + rl + 1, '/');
}

static void kf_set_span(kfile *kf, int i, k8s_span v)
{
    if (v.p)
        kf_set(kf, i, v.p, v.n);
}

static kfile *kfile_new(k8s_source *s, const char *path)
{
    kfile *kf = sl_xcalloc(1, sizeof *kf);
    kf->restart = -1;
    kf->chunk_next = UINT64_MAX;
    for (int i = 0; i < KM_N; i++)
        kf_set(kf, i, "", 0);
    k8s_meta m = {.restart = -1};
    bool ok;
    if (in_root(s, path)) {
        ok = k8s_parse_link_name(strrchr(path, '/') + 1, &m);
        /* The link's target names the pod uid and restart count. */
        char target[PATH_MAX];
        ssize_t tl = ok ? readlink(path, target, sizeof target - 1) : -1;
        k8s_meta t = {.restart = -1};
        if (tl > 0) {
            target[tl] = '\0';
            if (k8s_parse_pods_path(target, &t)) {
                kf_set_span(kf, KM_UID, t.uid);
                kf->restart = t.restart;
            }
        }
    } else {
        ok = k8s_parse_pods_path(path, &m);
        kf->restart = m.restart;
        kf_set_span(kf, KM_UID, m.uid);
    }
    if (ok) {
        kf_set_span(kf, KM_NS, m.ns);
        kf_set_span(kf, KM_POD, m.pod);
        kf_set_span(kf, KM_CTR, m.container);
        kf_set_span(kf, KM_CID, m.container_id);
    } else {
        log_warn(s->cc->id, "%s: path does not follow the kubelet layout; metadata left empty",
                 path);
        metrics_error(s->cc->metrics, "metadata");
    }
    return kf;
}

static void part_unlink(k8s_source *s, kpart *p)
{
    if (!p->active)
        return;
    p->active = false;
    if (p->prev)
        p->prev->next = p->next;
    else
        s->parts = p->next;
    if (p->next)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
}

static void kfile_free(k8s_source *s, kfile *kf)
{
    if (!kf)
        return;
    part_unlink(s, &kf->part[0]);
    part_unlink(s, &kf->part[1]);
    for (int i = 0; i < KM_N; i++)
        free(kf->meta[i]);
    free(kf->part[0].buf);
    free(kf->part[1].buf);
    tail_ml_forget(&kf->ml[0]);
    tail_ml_forget(&kf->ml[1]);
    free(kf->path);
    free(kf->attrs);
    k8s_obj_release(kf->pod);
    k8s_obj_release(kf->nsobj);
    free(kf);
}

/* Note 9: looks the pod up again when the cache changed since the last look. */
static void kf_meta(k8s_source *s, kfile *kf)
{
    uint64_t g = k8s_meta_generation(s->meta);
    if (SL_LIKELY(g == kf->meta_gen))
        return;
    kf->meta_gen = g;
    k8s_obj_release(kf->pod);
    k8s_obj_release(kf->nsobj);
    k8s_meta_lookup(s->meta, kf->meta[KM_NS], kf->meta_len[KM_NS], kf->meta[KM_POD],
                    kf->meta_len[KM_POD], kf->meta[KM_UID], kf->meta_len[KM_UID], &kf->pod,
                    &kf->nsobj);
}

/* ---- Batches -------------------------------------------------------------------------- */

static void k8s_flush(k8s_source *s)
{
    if (s->in_lines) {
        sl_metrics *m = s->cc->metrics;
        atomic_fetch_add_explicit(&m->received_events, s->in_lines, memory_order_relaxed);
        atomic_fetch_add_explicit(&m->received_bytes, s->in_bytes, memory_order_relaxed);
        s->in_lines = s->in_bytes = 0;
    }
    if (!s->b)
        return;
    sl_batch *b = s->b;
    uint64_t end = s->b_end;
    for (int i = 0; i < 2; i++) { /* never commit past a part still being joined (note 4) */
        if (s->b_kf && s->b_kf->part[i].active && s->b_kf->part[i].first_off < end)
            end = s->b_kf->part[i].first_off;
        if (s->b_kf)
            end = SL_MIN(end, tail_ml_hold(&s->b_kf->ml[i]));
    }
    s->b = NULL;
    s->b_kf = NULL;
    s->b_last_n = b->n;
    b->ack = ack_token_open(source_ledger(s->ctx), s->b_key, end);
    b->origin = s->cc->id;
    int64_t t0 = s->parts ? sl_mono_ms() : 0;
    if (source_emit(s->ctx, b) != SL_OK)
        s->stopping = true;
    if (s->parts) /* note 3: a wait on full buffers is no time the rest could be read */
        s->emit_wait_ms += sl_mono_ms() - t0;
}

static void tmpl_add(k8s_source *s, sl_str key, uint8_t type, sl_str v, int64_t iv)
{
    if (s->ntmpl == s->tmpl_cap) {
        s->tmpl_cap = s->tmpl_cap ? s->tmpl_cap * 2 : 16;
        s->tmpl = sl_xrealloc(s->tmpl, s->tmpl_cap * sizeof *s->tmpl);
    }
    sl_field *f = &s->tmpl[s->ntmpl++];
    f->key = key;
    f->type = type;
    if (type == SL_VAL_INT)
        f->v.i = iv;
    else
        f->v.s = v;
    s->tmpl_bytes += 16 + key.len + (type == SL_VAL_INT ? 8 : v.len);
}

/* "<prefix><k>" in b's arena, as a field key. */
static sl_str arena_key(sl_batch *b, const char *prefix, size_t pl, const char *k, size_t kl)
{
    char *p = arena_alloc(&b->arena, pl + kl);
    memcpy(p, prefix, pl);
    memcpy(p + pl, k, kl);
    return (sl_str){p, (uint32_t)(pl + kl)};
}

static void tmpl_kv(k8s_source *s, sl_batch *b, const char *prefix, const k8s_kv *kv, uint32_t n)
{
    size_t pl = strlen(prefix);
    for (uint32_t i = 0; i < n; i++)
        tmpl_add(s, arena_key(b, prefix, pl, kv[i].k, kv[i].kl), SL_VAL_STR,
                 batch_str(b, kv[i].v, kv[i].vl), 0);
}

/* Note 9: the API's metadata, named as Fluent Bit's kubernetes filter does (flat keys). */
static void tmpl_api(k8s_source *s, sl_batch *b, kfile *kf)
{
    kf_meta(s, kf);
    const k8s_obj *p = kf->pod;
    if (p) {
        if (p->node[0])
            tmpl_add(s, SL_STR("kubernetes.host"), SL_VAL_STR, batch_str(b, p->node, strlen(p->node)), 0);
        if (p->owner_kind[0]) {
            tmpl_add(s, SL_STR("kubernetes.owner.kind"), SL_VAL_STR,
                     batch_str(b, p->owner_kind, strlen(p->owner_kind)), 0);
            tmpl_add(s, SL_STR("kubernetes.owner.name"), SL_VAL_STR,
                     batch_str(b, p->owner_name, strlen(p->owner_name)), 0);
        }
        const char *img = k8s_container_image(p, kf->meta[KM_CTR], kf->meta_len[KM_CTR]);
        if (img)
            tmpl_add(s, SL_STR("kubernetes.container_image"), SL_VAL_STR,
                     batch_str(b, img, strlen(img)), 0);
        /* /var/log/pods paths carry no container id (links do): the status has it */
        const char *cid = kf->meta_len[KM_CID] ? NULL
                        : k8s_container_id(p, kf->meta[KM_CTR], kf->meta_len[KM_CTR], kf->restart);
        if (cid)
            tmpl_add(s, SL_STR("kubernetes.container_id"), SL_VAL_STR,
                     batch_str(b, cid, strlen(cid)), 0);
        tmpl_kv(s, b, "kubernetes.labels.", p->labels, p->nlabels);
        if (s->cfg->annotations)
            tmpl_kv(s, b, "kubernetes.annotations.", p->annotations, p->nannotations);
    }
    if (kf->nsobj)
        tmpl_kv(s, b, "kubernetes.namespace_labels.", kf->nsobj->labels, kf->nsobj->nlabels);
}

/* Note 11: Docker's attrs as attrs.<key>, strings as strings, any other value as its JSON.
 * An object that is not valid JSON adds nothing (dockerd writes none such). */
static void tmpl_attrs(k8s_source *s, sl_batch *b, const kfile *kf)
{
    char err[64];
    json_value *v = json_parse(&b->arena, kf->attrs, kf->attrs_len, err, sizeof err);
    if (!v || v->type != JSON_OBJ)
        return;
    for (size_t i = 0; i < v->n; i++) {
        const json_value *x = v->items[i];
        sl_str key = arena_key(b, "attrs.", 6, v->keys[i], strlen(v->keys[i]));
        if (x->type == JSON_STR)
            tmpl_add(s, key, SL_VAL_STR, batch_str(b, x->str, x->len), 0);
        else
            tmpl_add(s, key, SL_VAL_JSON, batch_str(b, x->raw, x->raw_len), 0);
    }
}

/* Note 11: a line's attrs, kept when they differ from the file's last ones. A change ends
 * the file's open batch, whose shared fields carry the old ones. */
static void kf_attrs(k8s_source *s, kfile *kf, const char *a, size_t n)
{
    if (SL_LIKELY(n == kf->attrs_len && (n == 0 || memcmp(a, kf->attrs, n) == 0)))
        return;
    if (s->b && s->b_kf == kf)
        k8s_flush(s);
    free(kf->attrs);
    kf->attrs = n ? sl_xmalloc(n) : NULL;
    if (n)
        memcpy(kf->attrs, a, n);
    kf->attrs_len = n;
}

/* sluice.io/parser: json (note 9): the members of a JSON object message become fields;
 * anything else leaves the event as it is. */
static void parse_json_message(sl_batch *b, sl_event *e)
{
    const char *m = e->message.ptr;
    size_t n = e->message.len, i = 0;
    while (i < n && (m[i] == ' ' || m[i] == '\t'))
        i++;
    if (i >= n || m[i] != '{')
        return;
    json_member mb[64];
    int k = json_scan_object(&b->arena, m + i, n - i, mb, SL_ARRAY_LEN(mb));
    for (int j = 0; j < k; j++) {
        sl_field *f = event_push_field(b, e, (sl_str){mb[j].key, (uint32_t)mb[j].keylen});
        switch (mb[j].type) {
        case JSON_STR: f->type = SL_VAL_STR; f->v.s = (sl_str){mb[j].str, (uint32_t)mb[j].len}; break;
        case JSON_BOOL: f->type = SL_VAL_BOOL; f->v.b = mb[j].b; break;
        case JSON_NULL: f->type = SL_VAL_NULL; break;
        case JSON_NUM:
            if (mb[j].is_int) {
                f->type = SL_VAL_INT;
                f->v.i = mb[j].i;
            } else {
                f->type = SL_VAL_FLOAT;
                f->v.f = mb[j].num;
            }
            break;
        default: f->type = SL_VAL_JSON; f->v.s = (sl_str){mb[j].raw, (uint32_t)mb[j].raw_len}; break;
        }
    }
    if (k < 0)
        return;
    b->bytes += (size_t)k * 48;
}

/* Opens a batch for kf's lines: metadata copied into its arena once (note 6). */
static void k8s_begin(k8s_source *s, kfile *kf, const tailer_file_info *f)
{
    /* Batches of a busy file end alike (a read turn, max_events, max_bytes): sized as the
     * last one, the event array is not grown (copied) once or twice per batch. */
    uint32_t hint = SL_MAX(s->b_last_n, 256u);
    sl_batch *b = s->b = batch_new((uint32_t)SL_MIN(s->cfg->tail.batch_max_events, (int64_t)hint));
    s->b_kf = kf;
    s->b_key = f->key;
    s->ntmpl = 0;
    s->tmpl_bytes = 0;
    static const sl_str keys[KM_N] = {
        SL_STR("kubernetes.namespace"), SL_STR("kubernetes.pod_name"),
        SL_STR("kubernetes.pod_uid"),   SL_STR("kubernetes.container_name"),
        SL_STR("kubernetes.container_id"),
    };
    for (int i = 0; i < KM_N; i++) {
        if (i == KM_CID && kf->meta_len[i] == 0)
            continue;
        tmpl_add(s, keys[i], SL_VAL_STR, batch_str(b, kf->meta[i], kf->meta_len[i]), 0);
        if (i == KM_CTR && kf->restart >= 0)
            tmpl_add(s, SL_STR("kubernetes.restart_count"), SL_VAL_INT, (sl_str){0}, kf->restart);
    }
    tmpl_add(s, SL_STR("log.file.path"), SL_VAL_STR, batch_str(b, f->path, strlen(f->path)), 0);
    if (kf->attrs_len)
        tmpl_attrs(s, b, kf);
    if (s->meta)
        tmpl_api(s, b, kf);
    sl_field *shared = arena_alloc(&b->arena, sizeof(sl_field) * s->ntmpl);
    memcpy(shared, s->tmpl, sizeof(sl_field) * s->ntmpl);
    s->b_tmpl = shared;
    b->shared_fields = true;
}

/* Appends one event to the batch of kf (opening or flushing batches as needed). `msg` is
 * borrowed and copied into the arena. stream < 0: unknown (a line we could not parse). */
static void k8s_emit(k8s_source *s, kfile *kf, const tailer_file_info *f, int64_t ts, int stream,
                     const char *msg, size_t len, uint64_t off, uint64_t end, bool truncated)
{
    if (s->b && (s->b_key != f->key || s->b->n >= (uint32_t)s->cfg->tail.batch_max_events ||
                 s->b->bytes >= s->cfg->tail.batch_max_bytes))
        k8s_flush(s);
    if (!s->b)
        k8s_begin(s, kf, f);
    sl_batch *b = s->b;
    sl_event *e = batch_add(b);
    e->ts_ns = ts;
    e->message = batch_str(b, msg, len);
    e->id_stream = f->stream_id;
    e->id_seq = off;
    e->shared = s->b_tmpl;
    e->nshared = s->ntmpl;
    sl_field *fl = arena_alloc(&b->arena, sizeof(sl_field) * 3);
    uint32_t k = 0;
    if (stream >= 0) {
        fl[k].key = SL_STR("stream");
        fl[k].type = SL_VAL_STR;
        fl[k].v.s = stream == CRI_STDERR ? SL_STR("stderr") : SL_STR("stdout");
        k++;
    }
    fl[k].key = SL_STR("log.offset");
    fl[k].type = SL_VAL_INT;
    fl[k].v.i = (int64_t)off;
    k++;
    if (truncated) {
        fl[k].key = SL_STR("log.truncated");
        fl[k].type = SL_VAL_BOOL;
        fl[k].v.b = true;
        k++;
    }
    e->fields = fl;
    e->nfields = k;
    e->cap_fields = 3;
    b->bytes += 48 + len + s->tmpl_bytes + 64;
    if (SL_UNLIKELY(kf->pod && kf->pod->parser == K8S_PARSER_JSON && stream >= 0))
        parse_json_message(b, e);
    if (end > s->b_end || b->n == 1)
        s->b_end = end;
}

/* A group of lines joined by multiline: (note 8), sent as one event of its stream. */
static void k8s_ml_emit(void *arg, tail_ml_stream *st, const tail_ml_group *g)
{
    kfile *kf = st->owner;
    tailer_file_info fi = {.key = kf->key, .stream_id = kf->stream_id, .path = kf->path};
    k8s_emit(arg, kf, &fi, g->ts_ns, st->id, g->text, g->len, g->first_off, g->end, g->cut);
}

/* A message of a stream: an event, or a line of its stream's group when multiline: is on.
 * A truncated one cannot join: it ends the group and goes as it is. */
static void k8s_out(k8s_source *s, kfile *kf, const tailer_file_info *f, int64_t ts, int stream,
                    const char *msg, size_t len, uint64_t off, uint64_t end, bool truncated)
{
    if (!s->ml || stream < 0) {
        k8s_emit(s, kf, f, ts, stream, msg, len, off, end, truncated);
        return;
    }
    tail_ml_stream *st = &kf->ml[stream];
    st->owner = kf;
    st->id = stream;
    if (truncated) {
        tail_ml_close(s->ml, st, k8s_ml_emit, s);
        k8s_emit(s, kf, f, ts, stream, msg, len, off, end, truncated);
        return;
    }
    tail_ml_line(s->ml, st, msg, len, off, end, ts, k8s_ml_emit, s);
}

/* ---- Lines ---------------------------------------------------------------------------- */

static void k8s_bad(k8s_source *s, const char *path, uint64_t off, const char *why)
{
    metrics_error(s->cc->metrics, why);
    int64_t now = sl_mono_ms();
    if (s->bad_log_ms && now - s->bad_log_ms < 10000) {
        s->bad_suppressed++;
        return;
    }
    s->bad_log_ms = now;
    log_warn(s->cc->id, "%s: line at offset %" PRIu64 " is not a valid container log line "
             "(%s); delivered as is%s", path, off, why,
             s->bad_suppressed ? " (similar lines since the last report not logged)" : "");
    s->bad_suppressed = 0;
}

static void part_reset(k8s_source *s, kpart *p)
{
    part_unlink(s, p);
    p->len = 0;
}

/* Delivers what a partial holds (its message ended, overflowed, or its file closed). */
static void part_emit(k8s_source *s, kfile *kf, const tailer_file_info *f, int stream,
                      uint64_t end, bool truncated)
{
    kpart *p = &kf->part[stream];
    uint64_t first = p->first_off;
    part_unlink(s, p); /* before emitting, so the flush position is not held back by it */
    k8s_out(s, kf, f, p->ts_ns, stream, p->buf, p->len, first, end, truncated);
    p->len = 0;
}

static void part_append(kpart *p, const char *m, size_t n)
{
    if (p->cap - p->len < n) {
        size_t cap = p->cap ? p->cap : 256;
        while (cap - p->len < n)
            cap *= 2;
        p->buf = sl_xrealloc(p->buf, cap);
        p->cap = cap;
    }
    memcpy(p->buf + p->len, m, n);
    p->len += n;
}

static bool k8s_on_line(void *arg, const tailer_file_info *f, const tailer_line *ln)
{
    k8s_source *s = arg;
    if (s->stopping || source_should_stop(s->ctx)) {
        s->stopping = true;
        return false;
    }
    kfile *kf = *f->user;
    if (SL_UNLIKELY(!kf))
        kf = *f->user = kfile_new(s, f->path);
    if (SL_UNLIKELY(kf->key != f->key)) { /* new file or truncated: partials are void */
        part_reset(s, &kf->part[0]);
        part_reset(s, &kf->part[1]);
        tail_ml_forget(&kf->ml[0]);
        tail_ml_forget(&kf->ml[1]);
        kf->chunk_next = UINT64_MAX;
        kf->key = f->key;
        kf->last_end = 0;
    }
    if (SL_UNLIKELY(kf->path_seen != f->path)) { /* notes 3, 8: for what is sent later */
        free(kf->path);
        kf->path = sl_xstrdup(f->path);
        kf->path_seen = f->path;
        kf->stream_id = f->stream_id;
    }
    if (ln->end > kf->last_end)
        kf->last_end = ln->end;
    s->in_lines++;
    s->in_bytes += ln->len + 1;
    if (s->meta) {
        kf_meta(s, kf);
        if (SL_UNLIKELY(kf->pod && kf->pod->exclude)) {
            /* note 9: skipped, but its position still commits with the batch */
            metrics_count(s->cc->metrics, "excluded_lines", 1);
            if (s->b && s->b_key != f->key)
                k8s_flush(s);
            if (!s->b)
                k8s_begin(s, kf, f);
            if (ln->end > s->b_end)
                s->b_end = ln->end;
            return !s->stopping;
        }
    }

    /* The rest of a line longer than the tailer's bound: delivered raw, in chunks. */
    if (SL_UNLIKELY(ln->truncated || kf->chunk_next == ln->offset)) {
        bool cont = kf->chunk_next == ln->offset;
        kf->chunk_next = ln->truncated ? ln->end : UINT64_MAX;
        if (cont) {
            k8s_out(s, kf, f, sl_now_ns(), kf->chunk_stream, ln->data, ln->len, ln->offset,
                    ln->end, true);
            return !s->stopping;
        }
        cri_line cl;
        const char *why;
        if (ln->len && ln->data[0] != '{' && cri_parse(ln->data, ln->len, &cl, &why) == 0) {
            kf->chunk_stream = cl.stream;
            k8s_out(s, kf, f, cl.ts_ns, cl.stream, cl.msg, cl.len, ln->offset, ln->end, true);
        } else {
            kf->chunk_stream = -1;
            k8s_emit(s, kf, f, sl_now_ns(), -1, ln->data, ln->len, ln->offset, ln->end, true);
        }
        return !s->stopping;
    }

    cri_line cl;
    const char *why;
    int rc = ln->len && ln->data[0] == '{'
                 ? docker_json_parse(ln->data, ln->len, s->scratch, &cl, &why)
                 : cri_parse(ln->data, ln->len, &cl, &why);
    if (SL_UNLIKELY(rc != 0)) {
        k8s_bad(s, f->path, ln->offset, why);
        k8s_emit(s, kf, f, sl_now_ns(), -1, ln->data, ln->len, ln->offset, ln->end, false);
        return !s->stopping;
    }
    kf_attrs(s, kf, cl.attrs, cl.attrs_len);
    kpart *p = &kf->part[cl.stream];
    if (SL_LIKELY(!cl.partial && !p->active)) {
        k8s_out(s, kf, f, cl.ts_ns, cl.stream, cl.msg, cl.len, ln->offset, ln->end, false);
        return !s->stopping;
    }
    bool over = p->active && p->len + cl.len > s->cfg->max_line_bytes;
    if (over) {
        /* note 3: bounded; what was gathered goes out, this part starts a new message */
        metrics_error(s->cc->metrics, "line_too_long");
        part_emit(s, kf, f, cl.stream, ln->offset, true);
    }
    if (cl.len > s->cfg->max_line_bytes) {
        /* One part beyond the bound by itself (the tailer bounds lines): delivered whole. */
        if (!over)
            metrics_error(s->cc->metrics, "line_too_long");
        k8s_out(s, kf, f, cl.ts_ns, cl.stream, cl.msg, cl.len, ln->offset, ln->end, true);
        return !s->stopping;
    }
    if (!p->active) {
        p->active = true;
        p->first_off = ln->offset;
        p->ts_ns = cl.ts_ns;
        p->owner = kf;
        p->id = cl.stream;
        p->prev = NULL;
        p->next = s->parts;
        if (s->parts)
            s->parts->prev = p;
        s->parts = p;
    }
    p->last_ms = sl_mono_ms();
    p->wait_at = s->emit_wait_ms;
    part_append(p, cl.msg, cl.len);
    if (!cl.partial)
        part_emit(s, kf, f, cl.stream, ln->end, false);
    return !s->stopping;
}

static void k8s_on_done(void *arg, const tailer_file_info *f) { k8s_flush(arg); }

/* A file goes away: what is still being joined is delivered (it will never end), with the
 * file's end as its position, so the tailer sees the whole file committed and releases it;
 * then the per-file state is freed. */
static void k8s_on_close(void *arg, const tailer_file_info *f, bool drained)
{
    k8s_source *s = arg;
    kfile *kf = *f->user;
    if (!kf)
        return;
    if (s->running && !s->stopping && kf->key == f->key) {
        for (int i = 0; i < 2; i++)
            if (kf->part[i].active) {
                metrics_error(s->cc->metrics, "partial_unterminated");
                part_emit(s, kf, f, i, kf->last_end, true);
            }
        for (int i = 0; s->ml && i < 2; i++)
            tail_ml_close(s->ml, &kf->ml[i], k8s_ml_emit, s);
    }
    if (s->b_kf == kf) {
        if (s->running && !s->stopping)
            k8s_flush(s);
        else
            s->b_kf = NULL;
    }
    kfile_free(s, kf);
    *f->user = NULL;
}

/* A truncated file (copytruncate): its copy must resume at the first part of a message
 * still being joined, or those parts would be lost (replayed lines keep their ids). */
static uint64_t k8s_on_hold(void *arg, const tailer_file_info *f)
{
    kfile *kf = *f->user;
    uint64_t hold = UINT64_MAX;
    if (kf && kf->key == f->key)
        for (int i = 0; i < 2; i++) {
            if (kf->part[i].active && kf->part[i].first_off < hold)
                hold = kf->part[i].first_off;
            hold = SL_MIN(hold, tail_ml_hold(&kf->ml[i]));
        }
    return hold;
}

/* ---- Discovery (note 1) --------------------------------------------------------------- */

static bool globs_allow(const sl_strlist *inc, const sl_strlist *exc, const char *s, size_t n)
{
    char name[256];
    if (n >= sizeof name)
        n = sizeof name - 1;
    memcpy(name, s, n);
    name[n] = '\0';
    for (size_t i = 0; i < exc->n; i++)
        if (fnmatch(exc->v[i], name, 0) == 0)
            return false;
    if (inc->n == 0)
        return true;
    for (size_t i = 0; i < inc->n; i++)
        if (fnmatch(inc->v[i], name, 0) == 0)
            return true;
    return false;
}

/* What a scan offers of a pod: nothing (the filters), every file, or (annotated
 * sluice.io/exclude, note 9) only the files already tracked, whose lines are then skipped
 * and committed: let go, such a file would be read from its start once the annotation went,
 * the lines delivered before it again. */
enum { POD_SKIP, POD_READ, POD_TRACKED };

/* Note 9: true while the files of a pod the API has not told of (known: false) should wait
 * for its metadata: those of a pod whose directory (or /var/log/containers link) at `path`
 * is younger than pod_wait_ms, after the first walk and with the API in sync. The pods of
 * the first walk that the lists lack are gone, an old directory is a deleted pod's the
 * kubelet has not removed yet, and an API that does not answer would hold every new pod. */
static bool pod_waits(k8s_source *s, const char *ns, size_t nsl, const char *pod, size_t podl,
                      bool known, const char *path)
{
    if (known && s->nwaits == 0)
        return false; /* the walk's common case: nothing to look up */
    char key[512];
    int kl = snprintf(key, sizeof key, "%.*s/%.*s", (int)nsl, ns, (int)podl, pod);
    kwait *w = NULL;
    for (size_t i = 0; i < s->nwaits && !w; i++)
        if (strcmp(s->waits[i].key, key) == 0)
            w = &s->waits[i];
    if (w)
        w->seen = true;
    if (w && w->released)
        return false;
    if (known) {
        if (w) {
            w->released = true;
            log_info(s->cc->id, "pod %s: the API told of it; reading its files", key);
        }
        return false;
    }
    struct stat st;
    struct timespec now;
    if (s->cfg->pod_wait_ms <= 0 || !s->scanned || !k8s_meta_synced(s->meta) ||
        lstat(path, &st) != 0 || clock_gettime(CLOCK_REALTIME, &now) != 0)
        return false;
    int64_t age_ms = (int64_t)(now.tv_sec - st.st_ctim.tv_sec) * 1000 +
                     (now.tv_nsec - st.st_ctim.tv_nsec) / 1000000;
    if (age_ms >= s->cfg->pod_wait_ms) {
        if (w) {
            w->released = true;
            metrics_error(s->cc->metrics, "pod_unknown");
            log_warn(s->cc->id, "pod %s: not known to the Kubernetes API after %" PRId64 " ms "
                     "(pod_wait_ms); reading its files with path metadata alone", key,
                     s->cfg->pod_wait_ms);
        }
        return false;
    }
    if (!w && kl > 0 && (size_t)kl < sizeof key) {
        if (s->nwaits == s->waits_cap) {
            s->waits_cap = s->waits_cap ? s->waits_cap * 2 : 8;
            s->waits = sl_xrealloc(s->waits, s->waits_cap * sizeof *s->waits);
        }
        s->waits[s->nwaits++] = (kwait){.key = sl_xstrdup(key), .seen = true};
        log_info(s->cc->id, "pod %s: not known to the Kubernetes API yet; its files wait up to "
                 "%" PRId64 " ms (pod_wait_ms) for its metadata", key, s->cfg->pod_wait_ms);
    }
    s->rescan_soon = true;
    return true;
}

/* The walk's end: pods whose directories are gone are forgotten. */
static void waits_prune(k8s_source *s)
{
    size_t k = 0;
    for (size_t i = 0; i < s->nwaits; i++) {
        if (s->waits[i].seen) {
            s->waits[i].seen = false;
            s->waits[k++] = s->waits[i];
        } else {
            free(s->waits[i].key);
        }
    }
    s->nwaits = k;
}

/* Whether a pod's files are read (its directory, or a /var/log/containers link, at path). */
static int pod_allowed(k8s_source *s, const char *ns, size_t nsl, const char *pod, size_t podl,
                       const char *path)
{
    if (s->cfg->exclude_self && s->self_pod[0] && strlen(s->self_pod) == podl &&
        memcmp(s->self_pod, pod, podl) == 0 &&
        (!s->self_ns[0] || (strlen(s->self_ns) == nsl && memcmp(s->self_ns, ns, nsl) == 0)))
        return POD_SKIP;
    if (!globs_allow(&s->cfg->inc_ns, &s->cfg->exc_ns, ns, nsl) ||
        !globs_allow(&s->cfg->inc_pod, &s->cfg->exc_pod, pod, podl))
        return POD_SKIP;
    if (s->meta) {
        k8s_obj *p, *n;
        k8s_meta_lookup(s->meta, ns, nsl, pod, podl, "", 0, &p, &n);
        bool ex = p && p->exclude, known = p != NULL;
        k8s_obj_release(p);
        k8s_obj_release(n);
        /* excluded, or new to us before the API told of it: only the files followed already */
        if (ex || pod_waits(s, ns, nsl, pod, podl, known, path))
            return POD_TRACKED;
    }
    return POD_READ;
}

/* Offers path, or with tracked_only only when the tailer follows its file already. */
static void offer(k8s_source *s, const char *path, bool tracked_only)
{
    struct stat st;
    if (tracked_only &&
        (stat(path, &st) != 0 || !tailer_tracks(s->t, (uint64_t)st.st_dev, (uint64_t)st.st_ino)))
        return;
    tailer_offer(s->t, path);
}

static void k8s_watch(k8s_source *s, const char *dir)
{
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

static bool is_dir(int dfd, const struct dirent *de)
{
    if (de->d_type == DT_DIR)
        return true;
    if (de->d_type != DT_UNKNOWN)
        return false;
    struct stat st;
    return fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

/* A pod's or container's directory, or a link to one (note 10). A link that cannot be
 * followed (dangling, no permission) is reported once at `path`. */
static bool is_dir_or_link(k8s_source *s, int dfd, const struct dirent *de, const char *path)
{
    if (de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    struct stat st;
    if (fstatat(dfd, de->d_name, &st, 0) == 0)
        return S_ISDIR(st.st_mode);
    int e = errno;
    if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        char what[128];
        snprintf(what, sizeof what, "directory symlink cannot be followed: %s", strerror(e));
        tailer_skip(s->t, path, "bad_symlink", what);
    }
    return false;
}

/* A rotated name (<N>.log.<suffix>) we do not follow yet may be a copytruncate copy still
 * being written: it is offered once unchanged for 250 ms (ctime), so its first bytes and
 * size are final and it resumes where the original was instead of being read again. */
static void offer_rotated(k8s_source *s, const char *path, bool tracked_only)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return;
    if (tracked_only && !tailer_tracks(s->t, (uint64_t)st.st_dev, (uint64_t)st.st_ino))
        return;
    /* Not in the first scan: saved positions are claimed there or dropped. */
    if (s->scanned && !tailer_tracks(s->t, (uint64_t)st.st_dev, (uint64_t)st.st_ino)) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        int64_t age_ms = (int64_t)(now.tv_sec - st.st_ctim.tv_sec) * 1000 +
                         (now.tv_nsec - st.st_ctim.tv_nsec) / 1000000;
        if (age_ms < 250) {
            s->rescan_soon = true;
            return;
        }
    }
    tailer_offer(s->t, path);
}

static void scan_container(k8s_source *s, const char *dir, bool tracked_only)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    k8s_watch(s, dir);
    char path[PATH_MAX];
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!k8s_is_log_name(de->d_name))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= sizeof path)
            continue;
        if (k8s_is_rotated_name(de->d_name))
            offer_rotated(s, path, tracked_only);
        else
            offer(s, path, tracked_only);
    }
    closedir(d);
}

static void scan_pod(k8s_source *s, const char *dir, bool tracked_only)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    k8s_watch(s, dir);
    char path[PATH_MAX];
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (!globs_allow(&s->cfg->inc_ctr, &s->cfg->exc_ctr, de->d_name, strlen(de->d_name)))
            continue;
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, de->d_name) < sizeof path &&
            is_dir_or_link(s, dirfd(d), de, path))
            scan_container(s, path, tracked_only);
    }
    closedir(d);
}

static void scan_link(k8s_source *s, const char *name, const char *path)
{
    k8s_meta m = {.restart = -1};
    if (!k8s_parse_link_name(name, &m) ||
        !globs_allow(&s->cfg->inc_ctr, &s->cfg->exc_ctr, m.container.p, m.container.n))
        return;
    int allow = pod_allowed(s, m.ns.p, m.ns.n, m.pod.p, m.pod.n, path);
    if (allow == POD_SKIP)
        return;
    bool tracked_only = allow == POD_TRACKED;
    offer(s, path, tracked_only);
    /* Writes land in the link target's directory: watch it to wake up on them. Its rotated
     * siblings (<N>.log.<time>) are offered too, so a renamed file is read to its end and a
     * copytruncate copy resumes where the original was (note 2). */
    char real[PATH_MAX], sib[PATH_MAX];
    if (!realpath(path, real))
        return;
    char *slash = strrchr(real, '/');
    if (!slash || slash == real)
        return;
    *slash = '\0';
    const char *base = slash + 1;
    size_t bl = strlen(base);
    k8s_watch(s, real);
    DIR *d = opendir(real);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, base, bl) != 0 || de->d_name[bl] != '.' ||
            !k8s_is_log_name(de->d_name))
            continue;
        if ((size_t)snprintf(sib, sizeof sib, "%s/%s", real, de->d_name) < sizeof sib)
            offer_rotated(s, sib, tracked_only);
    }
    closedir(d);
}

static void k8s_scan(k8s_source *s)
{
    tailer_scan_begin(s->t);
    DIR *d = opendir(s->root);
    if (d) {
        k8s_watch(s, s->root);
        char path[PATH_MAX];
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            const char *name = de->d_name;
            if (name[0] == '.')
                continue;
            if ((size_t)snprintf(path, sizeof path, "%s/%s", s->root, name) >= sizeof path)
                continue;
            size_t nl = strlen(name);
            if (nl > 4 && strcmp(name + nl - 4, ".log") == 0 && !is_dir(dirfd(d), de)) {
                scan_link(s, name, path);
                continue;
            }
            k8s_meta m = {.restart = -1};
            int allow;
            if (!k8s_split_pod_dir(name, nl, &m) ||
                (allow = pod_allowed(s, m.ns.p, m.ns.n, m.pod.p, m.pod.n, path)) == POD_SKIP ||
                !is_dir_or_link(s, dirfd(d), de, path))
                continue;
            scan_pod(s, path, allow == POD_TRACKED);
        }
        closedir(d);
    }
    tailer_scan_end(s->t);
    waits_prune(s);
    s->scanned = true;
}

/* ---- Vtable --------------------------------------------------------------------------- */

static int k8s_init(void **self, const void *config, const sl_component_ctx *cc, char *err,
                    size_t errlen)
{
    const k8s_config *cfg = config;
    if (!cfg->path || !cfg->path[0])
        return sl_seterr(err, errlen, SL_ERR_CONFIG, "path: a directory is needed");
    tail_ml *ml;
    int rc = tail_ml_new(&ml, &cfg->ml, err, errlen);
    if (rc)
        return rc;
    k8s_source *s = sl_xcalloc(1, sizeof *s);
    s->ml = ml;
    s->cfg = cfg;
    s->cc = cc;
    s->ino_fd = -1;
    s->root = sl_xstrdup(cfg->path);
    for (size_t n = strlen(s->root); n > 1 && s->root[n - 1] == '/';)
        s->root[--n] = '\0';
    const char *pod = getenv("POD_NAME"), *ns = getenv("POD_NAMESPACE");
    if (pod && *pod)
        snprintf(s->self_pod, sizeof s->self_pod, "%s", pod);
    else if (gethostname(s->self_pod, sizeof s->self_pod - 1) != 0)
        s->self_pod[0] = '\0';
    if (ns && *ns)
        snprintf(s->self_ns, sizeof s->self_ns, "%s", ns);
    tailer_opts o;
    tailer_opts_default(&o);
    tailer_opts_from_config(&o, &cfg->tail);
    /* room for the CRI prefix (time, stream, tag) or the Docker JSON around a message */
    o.max_line_bytes = cfg->max_line_bytes + cfg->max_line_bytes / 4 + 128;
    s->scratch = sl_xmalloc(o.max_line_bytes + 1);
    s->t = tailer_new(&o, cc->id, cc->metrics);
    tailer_set_close_hook(s->t, k8s_on_close, s);
    tailer_set_hold_hook(s->t, k8s_on_hold, s);
    if (cfg->metadata) {
        s->meta_cfg = cfg->meta;
        if (!cfg->meta.api_url && !cfg->meta.ca_file &&
            access("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", R_OK) == 0)
            s->meta_cfg.ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
        s->meta = k8s_meta_new(&s->meta_cfg, cc->id, cc->metrics, s->meta_off,
                               sizeof s->meta_off);
        if (s->meta)
            s->meta_off[0] = '\0';
    }
    *self = s;
    return SL_OK;
}

/* Note 3: partials whose rest has not come for partial_timeout_ms of reading go as they
 * are. Their file's lines up to the last one taken are all out or in the open batch, so
 * its position may move to there. */
static void parts_expire(k8s_source *s, int64_t now)
{
    for (kpart *p = s->parts, *next; p && !s->stopping; p = next) {
        next = p->next;
        if (now - p->last_ms - (s->emit_wait_ms - p->wait_at) < s->cfg->partial_timeout_ms)
            continue;
        kfile *kf = p->owner;
        tailer_file_info fi = {.key = kf->key, .stream_id = kf->stream_id, .path = kf->path};
        metrics_error(s->cc->metrics, "partial_unterminated");
        part_emit(s, kf, &fi, p->id, kf->last_end, true);
    }
}

/* Every turn: the batch being filled goes, after the groups whose time is up (note 8) and
 * the partials whose time is up (note 3). */
static void k8s_flush_hook(void *arg)
{
    k8s_source *s = arg;
    if (s->parts)
        parts_expire(s, sl_mono_ms());
    if (s->ml)
        tail_ml_expire(s->ml, sl_mono_ms(), k8s_ml_emit, s);
    k8s_flush(s);
}

/* A walk; a file deferred by it (rescan_soon) brings the next one forward. */
static int64_t k8s_scan_hook(void *arg)
{
    k8s_source *s = arg;
    s->rescan_soon = false;
    k8s_scan(s);
    k8s_flush(s);
    return s->rescan_soon ? SL_MIN(s->cfg->rescan_interval_ms, 250) : s->cfg->rescan_interval_ms;
}

static void k8s_discard(void *arg)
{
    k8s_source *s = arg;
    s->running = false; /* from here on, closing files emits nothing */
    if (s->b) {
        batch_release(s->b);
        s->b = NULL;
        s->b_kf = NULL;
    }
}

static const tail_loop_ops k8s_loop_ops = {
    .on_line = k8s_on_line,
    .on_done = k8s_on_done,
    .flush = k8s_flush_hook,
    .scan = k8s_scan_hook,
    .discard = k8s_discard,
};

/* Note 9: the first walk waits for the first lists, at most api_wait_ms. */
static void k8s_wait_lists(k8s_source *s)
{
    int64_t until = sl_mono_ms() + s->cfg->api_wait_ms;
    while (!k8s_meta_synced(s->meta) && !source_should_stop(s->ctx)) {
        int64_t left = until - sl_mono_ms();
        if (left <= 0) {
            log_warn(s->cc->id, "the Kubernetes API has not answered the first lists within "
                     "%" PRId64 " ms (api_wait_ms); reading with path metadata alone until it "
                     "does",
                     s->cfg->api_wait_ms);
            return;
        }
        source_sleep(s->ctx, (int)SL_MIN(left, 20));
    }
}

static int k8s_run(void *self, sl_source_ctx *ctx)
{
    k8s_source *s = self;
    s->ctx = ctx;
    struct stat st;
    if (stat(s->root, &st) != 0 || !S_ISDIR(st.st_mode))
        log_warn(s->cc->id, "%s is not a readable directory yet; waiting for it", s->root);
    s->running = true;
    if (!s->meta && s->cfg->metadata)
        log_info(s->cc->id, "metadata from the Kubernetes API is off: %s", s->meta_off);
    if (s->meta && k8s_meta_start(s->meta) != SL_OK)
        log_warn(s->cc->id, "cannot start the Kubernetes API watch; path metadata alone");
    else if (s->meta && s->cfg->api_wait_ms > 0)
        k8s_wait_lists(s);
    int rc = tail_loop_run(&(tail_loop){
        .t = s->t, .ctx = ctx, .cc = s->cc, .checkpoint_interval_ms = s->cfg->tail.checkpoint_interval_ms,
        .ck = &s->ck, .ino_fd = &s->ino_fd, .stopping = &s->stopping, .ops = &k8s_loop_ops, .arg = s});
    s->running = false;
    return rc;
}

static void k8s_destroy(void *self)
{
    k8s_source *s = self;
    if (!s)
        return;
    s->running = false;
    if (s->b)
        batch_release(s->b);
    s->b = NULL;
    tailer_free(s->t); /* the close hook frees every kfile */
    for (size_t i = 0; i < s->nwaits; i++)
        free(s->waits[i].key);
    free(s->waits);
    k8s_meta_free(s->meta);
    free(s->tmpl);
    tail_ml_free(s->ml);
    ckpt_close(s->ck);
    if (s->ino_fd >= 0)
        close(s->ino_fd);
    free(s->scratch);
    free(s->root);
    free(s);
}

static void k8s_status_json(void *self, sl_buf *out)
{
    k8s_source *s = self;
    if (s->meta)
        k8s_meta_status_json(s->meta, out);
}

const sl_source_vtable sl_source_kubernetes_logs = {
    .type = "kubernetes_logs",
    .help = "Tails every container's log on a Kubernetes node (/var/log/pods or "
            "/var/log/containers) with pod metadata; CRI and Docker json-file formats",
    .options = k8s_options,
    .config_size = sizeof(k8s_config),
    .init = k8s_init,
    .run = k8s_run,
    .destroy = k8s_destroy,
    .status_json = k8s_status_json,
};
