/* k8s_meta.h - pod and namespace metadata from the Kubernetes API server for the
 * kubernetes_logs source: list + watch on threads of their own, a bounded cache the tailing
 * thread reads without ever waiting on the network. */
#ifndef SL_K8S_META_H
#define SL_K8S_META_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/metrics.h"
#include "core/arena.h"
#include "formats/json.h"

typedef struct k8s_kv {
    char *k, *v; /* owned by the object, NUL-terminated */
    uint32_t kl, vl;
} k8s_kv;

/* A container instance from the pod's status: its name, the restart it is (the kubelet's
 * <restart>.log) and its id without the runtime's scheme ("containerd://"). */
typedef struct k8s_cid {
    char *name, *id; /* owned */
    uint32_t nl;
    int32_t restart;
} k8s_cid;

enum { K8S_PARSER_NONE = 0, K8S_PARSER_JSON = 1 };

/* A pod or a namespace as the API last described it. Immutable once built; reference
 * counted (k8s_obj_release), so a reader keeps a pod it looked up while the watch replaces
 * it. Namespaces have ns = "" and their name in name. Every string is owned, never NULL. */
typedef struct k8s_obj {
    atomic_int refs;
    char *ns, *name, *uid, *node;
    /* A static pod's mirror (annotation kubernetes.io/config.mirror): the uid kubelet gave
     * the static pod, which names its log directory, while the API's object has its own. */
    char *mirror;
    char *owner_kind, *owner_name; /* the top controller ("" when none), k8s_owner() */
    k8s_kv *labels, *annotations;
    uint32_t nlabels, nannotations;
    k8s_kv *images; /* container name -> image, from spec (containers, init, ephemeral) */
    uint32_t nimages;
    k8s_cid *cids;  /* from status: the current and last instance of each container */
    uint32_t ncids;
    bool exclude;   /* annotation sluice.io/exclude: "true" */
    uint8_t parser; /* annotation sluice.io/parser: K8S_PARSER_* */
} k8s_obj;

void k8s_obj_release(k8s_obj *o);

/* Builds an object from a Pod or Namespace JSON value (metadata, spec.nodeName). Returns
 * an owned object with one reference, or NULL when v is not an object with a name. Labels
 * and annotations beyond 128 each, and values over 16 KiB, are left out. */
k8s_obj *k8s_obj_from_json(const json_value *v);
/* The image of a pod's container by its name; NULL when the spec does not list it. */
const char *k8s_container_image(const k8s_obj *o, const char *container, size_t len);
/* The id of a pod's container in its restart-th instance (restart < 0: the newest the status
 * names); NULL when the status does not name it (not started yet, or older than the last). */
const char *k8s_container_id(const k8s_obj *o, const char *container, size_t len, int restart);

/* The workload that owns a pod, from its controller ownerReference (kind, name) and its
 * pod-template-hash label (may be NULL): a ReplicaSet named <deployment>-<hash> is the
 * Deployment, a Job named <cronjob>-<minutes> is the CronJob; StatefulSet, DaemonSet and
 * others stay as they are. Writes NUL-terminated kind and name (truncated to their size). */
void k8s_owner(const char *kind, const char *name, const char *template_hash, char *okind,
               size_t okl, char *oname, size_t onl);

/* One line of a watch stream. */
enum { K8S_EV_ADDED = 1, K8S_EV_MODIFIED, K8S_EV_DELETED, K8S_EV_BOOKMARK, K8S_EV_ERROR };
typedef struct k8s_event {
    int type;
    k8s_obj *obj;   /* ADDED/MODIFIED/DELETED: owned by the caller (release it) */
    char rv[64];    /* the object's metadata.resourceVersion ("" when none) */
    int code;       /* ERROR: the Status code (410 = the resourceVersion is gone) */
    char message[160]; /* ERROR: the Status message, cut ("" when none) */
} k8s_event;
/* Decodes one watch event. Returns 0, or -1 when the line is not a watch event we know. */
int k8s_decode_event(const char *s, size_t n, k8s_event *ev);
/* Decodes a list answer (PodList, NamespaceList): calls fn for each item (the object is
 * then the callee's) and writes the list's resourceVersion. Returns 0 or -1. */
int k8s_decode_list(const char *s, size_t n, void (*fn)(void *arg, k8s_obj *o), void *arg,
                    char *rv, size_t rvlen);

/* ---- The cache ------------------------------------------------------------------------
 * Objects keyed by uid (and found by namespace + name too). Bounded by max entries: a new
 * object beyond it evicts the deleted one gone longest, else the oldest one. Deleted
 * objects stay for grace_ms so late log lines of a deleted pod still find it. Not locked:
 * k8s_meta locks around it. */
typedef struct k8s_cache k8s_cache;
k8s_cache *k8s_cache_new(uint32_t max, int64_t grace_ms);
void k8s_cache_free(k8s_cache *c);
/* Takes o's reference. Returns true when it changed what the cache holds. */
bool k8s_cache_put(k8s_cache *c, k8s_obj *o, int64_t now_ms);
/* Marks deleted (kept for the grace period). */
bool k8s_cache_delete(k8s_cache *c, const char *uid, const char *ns, const char *name,
                      int64_t now_ms);
/* A relist: k8s_cache_begin, put every listed object, k8s_cache_end marks deleted whatever
 * the list did not have. */
void k8s_cache_begin(k8s_cache *c);
bool k8s_cache_end(k8s_cache *c, int64_t now_ms);
/* Drops deleted objects older than the grace period; returns how many. */
uint32_t k8s_cache_expire(k8s_cache *c, int64_t now_ms);
/* The object with this uid (when uid is non-empty) or else namespace + name, a live one
 * before a deleted one; a new reference, or NULL. */
k8s_obj *k8s_cache_get(const k8s_cache *c, const char *ns, size_t nsl, const char *name,
                       size_t namel, const char *uid, size_t uidl);
uint32_t k8s_cache_count(const k8s_cache *c);
uint64_t k8s_cache_evictions(const k8s_cache *c);

/* ---- The client ----------------------------------------------------------------------- */
typedef struct k8s_meta_config {
    char *api_url;     /* NULL: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT */
    char *token_file;  /* bearer token, read again when it changes */
    char *ca_file;     /* NULL: the system store */
    char *node_name;   /* NULL or "": $NODE_NAME, else every pod */
    int64_t max_pods;
    int64_t deleted_grace_ms, timeout_ms, watch_timeout_ms, backoff_max_ms;
    bool namespace_labels;
} k8s_meta_config;

typedef struct k8s_meta k8s_meta;

/* Returns an owned client (not started), or NULL with err set when there is no API to
 * ask (no api_url and not in a cluster). cfg is borrowed for the client's life. */
k8s_meta *k8s_meta_new(const k8s_meta_config *cfg, const char *id, sl_metrics *m, char *err,
                       size_t errlen);
/* Starts the watch threads. Returns SL_OK or an error. */
int k8s_meta_start(k8s_meta *km);
/* Stops the threads (an answer being read is abandoned) and frees everything. */
void k8s_meta_free(k8s_meta *km);
/* Bumped whenever the cache changes: a reader looks up again only then. */
uint64_t k8s_meta_generation(const k8s_meta *km);
/* The pod (uid, else namespace + name) and its namespace, new references or NULL. Never
 * waits on the API. */
void k8s_meta_lookup(k8s_meta *km, const char *ns, size_t nsl, const char *pod, size_t podl,
                     const char *uid, size_t uidl, k8s_obj **pod_out, k8s_obj **ns_out);
/* True once the first pod list has been applied, and the namespace list when watched (or
 * refused with a 4xx, as without RBAC on namespaces). */
bool k8s_meta_synced(k8s_meta *km);
/* Appends ,"kubernetes_api":{...} for the status API. */
void k8s_meta_status_json(k8s_meta *km, sl_buf *out);

#endif
