/* k8s_meta.c - pod and namespace metadata from the Kubernetes API server.
 *
 * State machine (one thread per resource: pods, and namespaces when namespace_labels)
 * ------------------------------------------------------------------------------------
 *   LIST   GET /api/v1/pods?fieldSelector=spec.nodeName=<node>: the cache is replaced by
 *          the answer (objects it lacks are marked deleted) and the list's resourceVersion
 *          is kept. A failure (no answer, 5xx, 401, timeout) waits a backoff and lists again.
 *   WATCH  GET ...&watch=1&allowWatchBookmarks=true&resourceVersion=<rv>&timeoutSeconds=N:
 *          one JSON event a line, applied as it arrives; every event and BOOKMARK moves rv.
 *          The server ending the stream (its timeout) watches again from rv at once; a
 *          broken stream, one ended by another ERROR event (an etcd failure, a cache
 *          behind rv) or at once without an event, watches again from rv after a backoff.
 *          `410 Gone` (an ERROR event with code 410, or an HTTP 410) means rv is too old:
 *          LIST again.
 *   The backoff doubles from 250 ms to backoff_max_ms and resets once an answer succeeds.
 *
 * Invariants
 *  - Readers (the tailing thread, the API thread) never wait on the network: they take the
 *    mutex for a cache lookup only; objects are immutable and reference counted, so a
 *    reader keeps what it looked up while the watch replaces it.
 *  - The cache is bounded (max_pods); deleted pods stay deleted_grace_ms so lines read
 *    after the pod went away still get its metadata.
 *  - The bearer token is read again whenever its file changes (kubelet rotates projected
 *    tokens) and after a 401.
 *  - Stopping abandons the request in flight (the request's cancel flag, net/http_multi.h)
 *    and wakes a backoff.
 *  - Requests go through the sinks' HTTP client (net/http_multi.h): its own HTTP/1.1 on the
 *    watcher's thread, so a node agent with metadata loads no libcurl unless a proxy
 *    applies to the API server.
 */
#include "sources/k8s_meta.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/arena.h"
#include "core/common.h"
#include "core/log.h"
#include "net/http_multi.h"

#define K8S_MAX_KV 128
#define K8S_MAX_VALUE (16u << 10)
#define K8S_MAX_LINE (16u << 20)  /* one watch event */
#define K8S_MAX_BODY (256u << 20) /* one list answer */

/* ---- Objects -------------------------------------------------------------------------- */

static char *dupn(const char *s, size_t n)
{
    char *p = sl_xmalloc(n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *str_of(const json_value *v)
{
    return v && v->type == JSON_STR ? dupn(v->str, v->len) : dupn("", 0);
}

static void kv_free(k8s_kv *kv, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(kv[i].k);
        free(kv[i].v);
    }
    free(kv);
}

void k8s_obj_release(k8s_obj *o)
{
    if (!o || atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(o->ns);
    free(o->name);
    free(o->uid);
    free(o->mirror);
    free(o->node);
    free(o->owner_kind);
    free(o->owner_name);
    kv_free(o->labels, o->nlabels);
    kv_free(o->annotations, o->nannotations);
    kv_free(o->images, o->nimages);
    for (uint32_t i = 0; i < o->ncids; i++) {
        free(o->cids[i].name);
        free(o->cids[i].id);
    }
    free(o->cids);
    free(o);
}

static k8s_obj *obj_ref(k8s_obj *o)
{
    if (o)
        atomic_fetch_add_explicit(&o->refs, 1, memory_order_relaxed);
    return o;
}

/* String members of an object, as owned pairs. */
static k8s_kv *kv_from(const json_value *m, uint32_t *n)
{
    *n = 0;
    if (!m || m->type != JSON_OBJ || m->n == 0)
        return NULL;
    k8s_kv *kv = sl_xcalloc(m->n < K8S_MAX_KV ? m->n : K8S_MAX_KV, sizeof *kv);
    for (size_t i = 0; i < m->n && *n < K8S_MAX_KV; i++) {
        const json_value *v = m->items[i];
        size_t kl = strlen(m->keys[i]);
        if (v->type != JSON_STR || v->len > K8S_MAX_VALUE || kl == 0 || kl > 253)
            continue;
        kv[*n].k = dupn(m->keys[i], kl);
        kv[*n].kl = (uint32_t)kl;
        kv[*n].v = dupn(v->str, v->len);
        kv[*n].vl = (uint32_t)v->len;
        (*n)++;
    }
    return kv;
}

/* The items of o's arrays named lists[0..3) (a pod's three kinds of container), together. */
static size_t items_of(const json_value *o, const char *const lists[3])
{
    size_t n = 0;
    for (size_t l = 0; l < 3; l++) {
        const json_value *a = json_get(o, lists[l]);
        n += a && a->type == JSON_ARR ? a->n : 0;
    }
    return n;
}

/* name -> image of the containers in spec's lists (containers, initContainers,
 * ephemeralContainers), as owned pairs. */
static k8s_kv *images_from(const json_value *spec, uint32_t *n)
{
    static const char *const lists[] = {"containers", "initContainers", "ephemeralContainers"};
    size_t cap = items_of(spec, lists);
    *n = 0;
    if (cap == 0)
        return NULL;
    cap = cap < K8S_MAX_KV ? cap : K8S_MAX_KV;
    k8s_kv *kv = sl_xcalloc(cap, sizeof *kv);
    for (size_t l = 0; l < SL_ARRAY_LEN(lists); l++) {
        const json_value *a = json_get(spec, lists[l]);
        for (size_t i = 0; a && a->type == JSON_ARR && i < a->n && *n < cap; i++) {
            const json_value *name = json_get(a->items[i], "name");
            const json_value *img = json_get(a->items[i], "image");
            if (!name || name->type != JSON_STR || !name->len || name->len > 253 || !img ||
                img->type != JSON_STR || img->len > K8S_MAX_VALUE)
                continue;
            kv[*n] = (k8s_kv){dupn(name->str, name->len), dupn(img->str, img->len),
                              (uint32_t)name->len, (uint32_t)img->len};
            (*n)++;
        }
    }
    return kv;
}

const char *k8s_container_image(const k8s_obj *o, const char *container, size_t len)
{
    for (uint32_t i = 0; o && i < o->nimages; i++)
        if (o->images[i].kl == len && memcmp(o->images[i].k, container, len) == 0)
            return o->images[i].v;
    return NULL;
}

/* A container id as the status gives it ("containerd://<hex>", "cri-o://<hex>"), without
 * the scheme: the id /var/log/containers names carry. NULL when empty or unusable. */
static char *cid_of(const json_value *v)
{
    if (!v || v->type != JSON_STR || v->len == 0 || v->len > 256)
        return NULL;
    const char *p = strstr(v->str, "://");
    p = p ? p + 3 : v->str;
    return *p ? dupn(p, strlen(p)) : NULL;
}

/* The instances status names: each container's current one (restartCount) and the one before
 * (lastState.terminated, restartCount - 1). */
static k8s_cid *cids_from(const json_value *status, uint32_t *n)
{
    static const char *const lists[] = {"containerStatuses", "initContainerStatuses",
                                        "ephemeralContainerStatuses"};
    size_t cap = 2 * items_of(status, lists);
    *n = 0;
    if (cap == 0)
        return NULL;
    cap = cap < K8S_MAX_KV ? cap : K8S_MAX_KV;
    k8s_cid *c = sl_xcalloc(cap, sizeof *c);
    for (size_t l = 0; l < SL_ARRAY_LEN(lists); l++) {
        const json_value *a = json_get(status, lists[l]);
        for (size_t i = 0; a && a->type == JSON_ARR && i < a->n && *n + 2 <= cap; i++) {
            const json_value *st = a->items[i], *name = json_get(st, "name"),
                             *rc = json_get(st, "restartCount");
            if (!name || name->type != JSON_STR || !name->len || name->len > 253 || !rc ||
                rc->type != JSON_NUM || rc->num < 0 || rc->num > INT32_MAX)
                continue;
            int32_t restart = (int32_t)rc->num;
            char *ids[2] = {cid_of(json_get(st, "containerID")),
                            cid_of(json_get_path(st, "lastState", "terminated", "containerID",
                                                 NULL))};
            for (int k = 0; k < 2; k++) {
                if (!ids[k])
                    continue;
                if (k == 1 && restart == 0) { /* no instance before the first */
                    free(ids[k]);
                    continue;
                }
                c[(*n)++] = (k8s_cid){dupn(name->str, name->len), ids[k], (uint32_t)name->len,
                                      restart - k};
            }
        }
    }
    return c;
}

const char *k8s_container_id(const k8s_obj *o, const char *container, size_t len, int restart)
{
    const k8s_cid *best = NULL;
    for (uint32_t i = 0; o && i < o->ncids; i++) {
        const k8s_cid *c = &o->cids[i];
        if (c->nl != len || memcmp(c->name, container, len) != 0)
            continue;
        if (restart >= 0 ? c->restart == restart : !best || c->restart > best->restart)
            best = c;
    }
    return best ? best->id : NULL;
}

static const char *kv_find(const k8s_kv *kv, uint32_t n, const char *k)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(kv[i].k, k) == 0)
            return kv[i].v;
    return NULL;
}

/* Kubernetes' "safe" alphabet for generated name suffixes (no vowels, no 0/1/3). */
static bool is_hash(const char *s, size_t n)
{
    if (n == 0 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("bcdfghjklmnpqrstvwxz2456789", s[i]))
            return false;
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

void k8s_owner(const char *kind, const char *name, const char *template_hash, char *okind,
               size_t okl, char *oname, size_t onl)
{
    const char *dash = strrchr(name, '-');
    size_t base = dash ? (size_t)(dash - name) : strlen(name);
    const char *suffix = dash ? dash + 1 : "";
    const char *k = kind;
    size_t nl = strlen(name);
    if (dash && base > 0 && strcmp(kind, "ReplicaSet") == 0 &&
        (template_hash ? strcmp(template_hash, suffix) == 0 : is_hash(suffix, strlen(suffix)))) {
        k = "Deployment";
        nl = base;
    } else if (dash && base > 0 && strcmp(kind, "Job") == 0 && all_digits(suffix, strlen(suffix)) &&
               strlen(suffix) >= 8) {
        k = "CronJob"; /* <cronjob>-<scheduled time in minutes> */
        nl = base;
    }
    snprintf(okind, okl, "%s", k);
    snprintf(oname, onl, "%.*s", (int)(nl > INT32_MAX ? INT32_MAX : nl), name);
}

k8s_obj *k8s_obj_from_json(const json_value *v)
{
    const json_value *md = json_get(v, "metadata");
    const json_value *name = json_get(md, "name");
    if (!name || name->type != JSON_STR || name->len == 0)
        return NULL;
    k8s_obj *o = sl_xcalloc(1, sizeof *o);
    atomic_init(&o->refs, 1);
    o->name = str_of(name);
    o->ns = str_of(json_get(md, "namespace"));
    o->uid = str_of(json_get(md, "uid"));
    o->node = str_of(json_get_path(v, "spec", "nodeName", NULL));
    o->labels = kv_from(json_get(md, "labels"), &o->nlabels);
    o->annotations = kv_from(json_get(md, "annotations"), &o->nannotations);
    o->images = images_from(json_get(v, "spec"), &o->nimages);
    o->cids = cids_from(json_get(v, "status"), &o->ncids);
    /* the controller reference, else the first one */
    const json_value *refs = json_get(md, "ownerReferences"), *pick = NULL;
    for (size_t i = 0; refs && refs->type == JSON_ARR && i < refs->n; i++) {
        const json_value *r = refs->items[i], *c;
        if (r->type != JSON_OBJ)
            continue;
        const json_value *k = json_get(r, "kind"), *n = json_get(r, "name");
        if (!k || k->type != JSON_STR || !n || n->type != JSON_STR)
            continue;
        if (!pick)
            pick = r;
        if ((c = json_get(r, "controller")) && c->type == JSON_BOOL && c->b) {
            pick = r;
            break;
        }
    }
    if (pick) {
        char kind[64], oname[256];
        k8s_owner(json_get(pick, "kind")->str, json_get(pick, "name")->str,
                  kv_find(o->labels, o->nlabels, "pod-template-hash"), kind, sizeof kind, oname,
                  sizeof oname);
        o->owner_kind = sl_xstrdup(kind);
        o->owner_name = sl_xstrdup(oname);
    } else {
        o->owner_kind = dupn("", 0);
        o->owner_name = dupn("", 0);
    }
    const char *mirror = kv_find(o->annotations, o->nannotations, "kubernetes.io/config.mirror");
    o->mirror = sl_xstrdup(mirror ? mirror : "");
    const char *ex = kv_find(o->annotations, o->nannotations, "sluice.io/exclude");
    o->exclude = ex && strcmp(ex, "true") == 0;
    const char *ps = kv_find(o->annotations, o->nannotations, "sluice.io/parser");
    o->parser = ps && strcmp(ps, "json") == 0 ? K8S_PARSER_JSON : K8S_PARSER_NONE;
    return o;
}

static void rv_of(const json_value *obj, char *rv, size_t rvlen)
{
    const json_value *v = json_get_path(obj, "metadata", "resourceVersion", NULL);
    rv[0] = '\0';
    if (v && v->type == JSON_STR && v->len < rvlen)
        memcpy(rv, v->str, v->len + 1);
}

int k8s_decode_event(const char *s, size_t n, k8s_event *ev)
{
    memset(ev, 0, sizeof *ev);
    sl_arena a;
    arena_init(&a, 4096);
    char err[64];
    json_value *v = json_parse(&a, s, n, err, sizeof err);
    const json_value *t = v && v->type == JSON_OBJ ? json_get(v, "type") : NULL;
    const json_value *obj = t ? json_get(v, "object") : NULL;
    int rc = -1;
    if (!t || t->type != JSON_STR || !obj || obj->type != JSON_OBJ)
        goto out;
    static const char *const names[] = {"", "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};
    for (int i = K8S_EV_ADDED; i <= K8S_EV_ERROR; i++)
        if (strcmp(t->str, names[i]) == 0)
            ev->type = i;
    if (!ev->type)
        goto out;
    if (ev->type == K8S_EV_ERROR) {
        const json_value *c = json_get(obj, "code");
        ev->code = c && c->type == JSON_NUM && c->num >= 0 && c->num < 1000 ? (int)c->num : 0;
        const json_value *m = json_get(obj, "message");
        if (m && m->type == JSON_STR)
            snprintf(ev->message, sizeof ev->message, "%.*s", (int)SL_MIN(m->len, 159),
                     m->str);
        rc = 0;
        goto out;
    }
    rv_of(obj, ev->rv, sizeof ev->rv);
    if (ev->type == K8S_EV_BOOKMARK) {
        rc = ev->rv[0] ? 0 : -1;
        goto out;
    }
    ev->obj = k8s_obj_from_json(obj);
    rc = ev->obj ? 0 : -1;
out:
    arena_free(&a);
    return rc;
}

int k8s_decode_list(const char *s, size_t n, void (*fn)(void *arg, k8s_obj *o), void *arg,
                    char *rv, size_t rvlen)
{
    sl_arena a;
    arena_init(&a, 64 << 10);
    char err[64];
    json_value *v = json_parse(&a, s, n, err, sizeof err);
    const json_value *items = v && v->type == JSON_OBJ ? json_get(v, "items") : NULL;
    int rc = -1;
    if (!items || (items->type != JSON_ARR && items->type != JSON_NULL))
        goto out;
    rv_of(v, rv, rvlen);
    for (size_t i = 0; items->type == JSON_ARR && i < items->n; i++) {
        k8s_obj *o = k8s_obj_from_json(items->items[i]);
        if (o)
            fn(arg, o);
    }
    rc = 0;
out:
    arena_free(&a);
    return rc;
}

/* ---- Cache ---------------------------------------------------------------------------- */

typedef struct centry {
    k8s_obj *o;
    int64_t deleted_ms; /* 0 = live */
    uint64_t seq;       /* insertion order, for eviction */
    uint64_t epoch;     /* the relist that saw it last */
} centry;

struct k8s_cache {
    centry *e;
    uint32_t n, max;
    int64_t grace_ms;
    uint64_t seq, epoch, evictions;
};

k8s_cache *k8s_cache_new(uint32_t max, int64_t grace_ms)
{
    k8s_cache *c = sl_xcalloc(1, sizeof *c);
    c->max = max ? max : 1;
    c->grace_ms = grace_ms;
    c->e = sl_xcalloc(c->max, sizeof *c->e);
    return c;
}

void k8s_cache_free(k8s_cache *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->n; i++)
        k8s_obj_release(c->e[i].o);
    free(c->e);
    free(c);
}

static bool same(const k8s_obj *o, const char *uid, const char *ns, const char *name)
{
    if (uid[0] && o->uid[0])
        return strcmp(uid, o->uid) == 0;
    return strcmp(ns, o->ns) == 0 && strcmp(name, o->name) == 0;
}

static void drop(k8s_cache *c, uint32_t i)
{
    k8s_obj_release(c->e[i].o);
    c->e[i] = c->e[--c->n];
}

bool k8s_cache_put(k8s_cache *c, k8s_obj *o, int64_t now_ms)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (same(c->e[i].o, o->uid, o->ns, o->name)) {
            k8s_obj_release(c->e[i].o);
            c->e[i].o = o;
            c->e[i].deleted_ms = 0;
            c->e[i].epoch = c->epoch;
            return true;
        }
    if (c->n == c->max) { /* evict the deleted one gone longest, else the oldest */
        uint32_t victim = 0;
        for (uint32_t i = 1; i < c->n; i++) {
            const centry *a = &c->e[i], *b = &c->e[victim];
            bool better = a->deleted_ms && (!b->deleted_ms || a->deleted_ms < b->deleted_ms);
            if (better || (!a->deleted_ms && !b->deleted_ms && a->seq < b->seq))
                victim = i;
        }
        drop(c, victim);
        c->evictions++;
    }
    c->e[c->n++] = (centry){.o = o, .seq = ++c->seq, .epoch = c->epoch};
    (void)now_ms;
    return true;
}

bool k8s_cache_delete(k8s_cache *c, const char *uid, const char *ns, const char *name,
                      int64_t now_ms)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (same(c->e[i].o, uid, ns, name) && !c->e[i].deleted_ms) {
            c->e[i].deleted_ms = now_ms ? now_ms : 1;
            return true;
        }
    return false;
}

void k8s_cache_begin(k8s_cache *c) { c->epoch++; }

bool k8s_cache_end(k8s_cache *c, int64_t now_ms)
{
    bool changed = false;
    for (uint32_t i = 0; i < c->n; i++)
        if (c->e[i].epoch != c->epoch && !c->e[i].deleted_ms) {
            c->e[i].deleted_ms = now_ms ? now_ms : 1;
            changed = true;
        }
    return changed;
}

uint32_t k8s_cache_expire(k8s_cache *c, int64_t now_ms)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < c->n;)
        if (c->e[i].deleted_ms && now_ms - c->e[i].deleted_ms >= c->grace_ms) {
            drop(c, i);
            n++;
        } else {
            i++;
        }
    return n;
}

static bool eq(const char *a, const char *s, size_t n) { return strlen(a) == n && memcmp(a, s, n) == 0; }

k8s_obj *k8s_cache_get(const k8s_cache *c, const char *ns, size_t nsl, const char *name,
                       size_t namel, const char *uid, size_t uidl)
{
    const centry *best = NULL;
    for (uint32_t i = 0; i < c->n; i++) {
        const k8s_obj *o = c->e[i].o;
        bool hit = uidl ? eq(o->uid, uid, uidl) || eq(o->mirror, uid, uidl)
                        : eq(o->ns, ns, nsl) && eq(o->name, name, namel);
        if (hit && (!best || (best->deleted_ms && !c->e[i].deleted_ms) ||
                    (best->deleted_ms && c->e[i].deleted_ms > best->deleted_ms)))
            best = &c->e[i];
    }
    return best ? obj_ref(best->o) : NULL;
}

uint32_t k8s_cache_count(const k8s_cache *c) { return c->n; }
uint64_t k8s_cache_evictions(const k8s_cache *c) { return c->evictions; }

/* ---- Client --------------------------------------------------------------------------- */

typedef struct watcher {
    struct k8s_meta *km;
    const char *what;   /* "pods" | "namespaces" */
    k8s_cache *cache;   /* guarded by km->mu */
    pthread_t th;
    bool started;
    bool synced;        /* a list has been applied (under km->mu) */
    bool refused;       /* a list was answered 4xx (RBAC, auth): not worth waiting for */
    char rv[64];
    /* the answer being read */
    http_mresp resp;
    sl_buf body;
    long status;        /* of the answer whose body arrived (kept when a stream breaks) */
    bool streaming;     /* a watch: events are applied line by line */
    int gone;           /* an ERROR 410 arrived */
    int err_code;       /* another ERROR arrived: its code, and its message */
    char err_msg[160];
    uint64_t events;
} watcher;

struct k8s_meta {
    const k8s_meta_config *cfg;
    const char *id;
    sl_metrics *m;
    char *base;     /* API URL without a trailing '/' */
    char *selector; /* "&fieldSelector=..." or "" */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool stop;
    atomic_uint_fast64_t gen;
    http_multi *http; /* both watchers' requests */
    watcher pods, nss;
    /* token: read again when the file changes (guarded by mu) */
    char *token;
    struct stat token_st;
    bool token_ok;
};

static void bump(k8s_meta *km) { atomic_fetch_add_explicit(&km->gen, 1, memory_order_release); }

uint64_t k8s_meta_generation(const k8s_meta *km)
{
    return atomic_load_explicit(&km->gen, memory_order_acquire);
}

k8s_meta *k8s_meta_new(const k8s_meta_config *cfg, const char *id, sl_metrics *m, char *err,
                       size_t errlen)
{
    char url[512];
    if (cfg->api_url && cfg->api_url[0]) {
        snprintf(url, sizeof url, "%s", cfg->api_url);
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host) {
            sl_seterr(err, errlen, SL_ERR_CONFIG,
                      "no api_url and not in a cluster ($KUBERNETES_SERVICE_HOST is unset)");
            return NULL;
        }
        bool v6 = strchr(host, ':') != NULL;
        snprintf(url, sizeof url, "https://%s%s%s:%s", v6 ? "[" : "", host, v6 ? "]" : "",
                 port && *port ? port : "443");
    }
    for (size_t n = strlen(url); n > 0 && url[n - 1] == '/';)
        url[--n] = '\0';
    k8s_meta *km = sl_xcalloc(1, sizeof *km);
    km->cfg = cfg;
    km->id = id;
    km->m = m;
    km->base = sl_xstrdup(url);
    const char *node = cfg->node_name && cfg->node_name[0] ? cfg->node_name : getenv("NODE_NAME");
    char sel[512] = "";
    if (node && *node) {
        /* a node name is a DNS subdomain: nothing in it needs escaping but the '=' */
        snprintf(sel, sizeof sel, "&fieldSelector=spec.nodeName%%3D%s", node);
    } else {
        log_warn(id, "no node_name and $NODE_NAME unset: watching every pod of the cluster "
                     "(set NODE_NAME from spec.nodeName in the DaemonSet)");
    }
    km->selector = sl_xstrdup(sel);
    pthread_mutex_init(&km->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&km->cv, &ca);
    pthread_condattr_destroy(&ca);
    km->pods = (watcher){.km = km, .what = "pods",
                         .cache = k8s_cache_new((uint32_t)cfg->max_pods, cfg->deleted_grace_ms)};
    /* namespaces: far fewer than pods on any cluster, the same bound is plenty */
    km->nss = (watcher){.km = km, .what = "namespaces",
                        .cache = k8s_cache_new((uint32_t)cfg->max_pods, cfg->deleted_grace_ms)};
    return km;
}

/* Waits ms or until stopped; false when stopping. */
static bool nap(k8s_meta *km, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&km->mu);
    while (!atomic_load(&km->stop))
        if (pthread_cond_timedwait(&km->cv, &km->mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&km->mu);
    return !atomic_load(&km->stop);
}

/* The Authorization header line, the token read again when its file changed (or force). */
static void auth_header(k8s_meta *km, bool force, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *path = km->cfg->token_file;
    if (!path || !*path)
        return;
    pthread_mutex_lock(&km->mu);
    struct stat st;
    if (stat(path, &st) == 0 &&
        (force || !km->token_ok || st.st_ino != km->token_st.st_ino ||
         st.st_size != km->token_st.st_size || st.st_mtim.tv_sec != km->token_st.st_mtim.tv_sec ||
         st.st_mtim.tv_nsec != km->token_st.st_mtim.tv_nsec)) {
        FILE *f = fopen(path, "r");
        char buf[16384];
        size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose(f);
        while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            n--;
        buf[n] = '\0';
        if (f && n && !strpbrk(buf, "\r\n")) {
            bool first = !km->token_ok;
            free(km->token);
            km->token = sl_xstrdup(buf);
            km->token_st = st;
            km->token_ok = true;
            if (!first)
                metrics_count(km->m, "k8s_api_token_reloads", 1);
        }
    }
    if (km->token)
        snprintf(out, outlen, "Authorization: Bearer %s", km->token);
    pthread_mutex_unlock(&km->mu);
}

static void apply_event(watcher *w, const char *s, size_t n);

static int on_data(void *arg, const char *p, size_t n)
{
    watcher *w = arg;
    w->status = w->resp.status; /* set before the body's first bytes (http_multi.h) */
    if (!w->streaming || w->status != 200) {
        if (w->body.len + n > K8S_MAX_BODY)
            return 1; /* abandons the answer */
        buf_append(&w->body, p, n);
        return 0;
    }
    buf_append(&w->body, p, n);
    size_t start = 0;
    for (size_t i = w->body.len - n; i < w->body.len; i++)
        if (w->body.p[i] == '\n') {
            if (i > start)
                apply_event(w, w->body.p + start, i - start);
            start = i + 1;
        }
    if (start) {
        memmove(w->body.p, w->body.p + start, w->body.len - start);
        w->body.len -= start;
    }
    return w->body.len > K8S_MAX_LINE ? 1 : 0;
}

/* GET base+path. Returns the HTTP status, 0 when no answer (err set), -1 when stopping. */
static long api_get(watcher *w, const char *path, bool streaming, bool force_token, char *err,
                    size_t errlen)
{
    k8s_meta *km = w->km;
    char url[2048], auth[16500];
    snprintf(url, sizeof url, "%s%s", km->base, path);
    auth_header(km, force_token, auth, sizeof auth);
    const char *hdrs[2] = {"Accept: application/json", auth};
    http_mreq req = {
        .method = "GET",
        .url = url,
        .headers = hdrs,
        .nheaders = auth[0] ? 2 : 1,
        /* The server ends a watch after timeoutSeconds; one that lasts longer than that
         * and a margin (bookmarks arrive about every minute) is dead. */
        .timeout_ms = streaming ? km->cfg->watch_timeout_ms + 30000 : km->cfg->timeout_ms,
        .ca_file = km->cfg->ca_file && km->cfg->ca_file[0] ? km->cfg->ca_file : NULL,
        .on_data = on_data,
        .arg = w,
        .cancel = &km->stop,
    };
    buf_reset(&w->body);
    w->streaming = streaming;
    w->status = 0;
    w->gone = 0;
    w->err_code = 0;
    int rc = http_multi_do(km->http, &req, &w->resp);
    if (atomic_load(&km->stop))
        return -1;
    if (rc != SL_OK) {
        snprintf(err, errlen, "%s", w->resp.error);
        return 0; /* a watch cut after its 200 too: w->status says so */
    }
    return w->resp.status;
}

static void put_obj(watcher *w, k8s_obj *o)
{
    pthread_mutex_lock(&w->km->mu);
    k8s_cache_put(w->cache, o, sl_mono_ms());
    pthread_mutex_unlock(&w->km->mu);
}

static void list_item(void *arg, k8s_obj *o) { put_obj(arg, o); }

static void apply_event(watcher *w, const char *s, size_t n)
{
    k8s_meta *km = w->km;
    k8s_event ev;
    if (k8s_decode_event(s, n, &ev) != 0) {
        metrics_error(km->m, "k8s_api_decode");
        return;
    }
    if (ev.type != K8S_EV_ERROR) /* what the stream delivered; an ERROR ends it */
        w->events++;
    if (ev.rv[0])
        memcpy(w->rv, ev.rv, sizeof w->rv);
    switch (ev.type) {
    case K8S_EV_ERROR:
        if (ev.code == 410) {
            w->gone = 1;
        } else {
            metrics_error(km->m, "k8s_api_watch_error");
            w->err_code = ev.code ? ev.code : -1;
            memcpy(w->err_msg, ev.message, sizeof w->err_msg);
        }
        return;
    case K8S_EV_BOOKMARK:
        metrics_count(km->m, "k8s_api_bookmarks", 1);
        return;
    case K8S_EV_DELETED:
        pthread_mutex_lock(&km->mu);
        k8s_cache_delete(w->cache, ev.obj->uid, ev.obj->ns, ev.obj->name, sl_mono_ms());
        pthread_mutex_unlock(&km->mu);
        k8s_obj_release(ev.obj);
        break;
    default:
        put_obj(w, ev.obj);
        break;
    }
    bump(km);
    /* counted once readers can see it: a test waiting on the count then sees the change */
    metrics_count(km->m, "k8s_api_watch_events", 1);
}

/* LIST: the cache becomes the answer. Returns 200 when applied, else the HTTP status, 0
 * when there was no usable answer (err set), -1 when stopping. */
static long do_list(watcher *w, bool force_token, char *err, size_t errlen)
{
    k8s_meta *km = w->km;
    bool sel = w == &km->pods && km->selector[0];
    char path[700];
    /* no resourceVersion: a consistent read, what a relist after 410 needs */
    snprintf(path, sizeof path, "/api/v1/%s%s%s", w->what, sel ? "?" : "", sel ? km->selector + 1 : "");
    long st = api_get(w, path, false, force_token, err, errlen);
    if (st != 200) {
        if (st >= 400 && st < 500) {
            pthread_mutex_lock(&km->mu);
            w->refused = true;
            pthread_mutex_unlock(&km->mu);
        }
        return st;
    }
    pthread_mutex_lock(&km->mu);
    k8s_cache_begin(w->cache);
    pthread_mutex_unlock(&km->mu);
    char rv[64];
    if (k8s_decode_list(w->body.p, w->body.len, list_item, w, rv, sizeof rv) != 0 || !rv[0]) {
        snprintf(err, errlen, "the %s answer is not a list with a resourceVersion", w->what);
        metrics_error(km->m, "k8s_api_decode");
        return 0;
    }
    pthread_mutex_lock(&km->mu);
    k8s_cache_end(w->cache, sl_mono_ms());
    k8s_cache_expire(w->cache, sl_mono_ms());
    w->synced = true;
    pthread_mutex_unlock(&km->mu);
    memcpy(w->rv, rv, sizeof rv);
    bump(km);
    metrics_count(km->m, w == &km->pods ? "k8s_api_pod_lists" : "k8s_api_namespace_lists", 1);
    return 200;
}

static void *watch_main(void *arg)
{
    watcher *w = arg;
    k8s_meta *km = w->km;
    int64_t backoff = 250, last_log = 0;
    bool listed = false, force_token = false;
    char err[512], path[900];
    long long tmo = km->cfg->watch_timeout_ms / 1000 ? km->cfg->watch_timeout_ms / 1000 : 1;
    while (!atomic_load(&km->stop)) {
        long st;
        err[0] = '\0';
        if (!listed) {
            st = do_list(w, force_token, err, sizeof err);
            if (st == 200) {
                listed = true;
                backoff = 250;
                force_token = false;
                continue;
            }
        } else {
            snprintf(path, sizeof path,
                     "/api/v1/%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s"
                     "&timeoutSeconds=%lld%s",
                     w->what, w->rv, tmo, w == &km->pods ? km->selector : "");
            uint64_t before = w->events;
            int64_t t0 = sl_mono_ms();
            st = api_get(w, path, true, force_token, err, sizeof err);
            if (st >= 0 && (st == 410 || w->gone)) { /* rv too old: list again */
                metrics_count(km->m, "k8s_api_relists_gone", 1);
                listed = false;
                continue;
            }
            if (st == 200 && (w->err_code || (w->events == before && sl_mono_ms() - t0 < 1000))) {
                /* Ended by an ERROR event (an etcd failure, a cache behind rv), or at once
                 * without one: a failure. Watched again at once, it came back as fast as the
                 * server could answer, from every node, and said nothing. */
                if (w->err_code)
                    snprintf(err, sizeof err, "the watch ended with an ERROR event (code %d): %s",
                             w->err_code, w->err_msg);
                else
                    snprintf(err, sizeof err, "the watch ended at once without an event");
                st = 0;
            } else if (st == 200) { /* the server ended the stream: watch again from rv */
                backoff = 250;
                force_token = false;
                continue;
            }
            if (st == 0 && w->status == 200 && w->events > before)
                backoff = 250; /* a stream that worked, then broke */
        }
        if (st < 0)
            break;
        force_token = st == 401;
        if (!w->err_code) /* an ERROR event is counted as k8s_api_watch_error already */
            metrics_error(km->m, st == 0 ? "k8s_api_unreachable" : "k8s_api_status");
        int64_t now = sl_mono_ms();
        if (!last_log || now - last_log >= 10000) {
            last_log = now;
            if (st == 0)
                log_warn(km->id, "kubernetes API (%s): %s; %s", w->what, err,
                         listed ? "the metadata listed is kept until it answers"
                                : "events carry path metadata alone until it answers");
            else
                log_warn(km->id, "kubernetes API (%s): HTTP %ld: %.200s", w->what, st,
                         w->body.len ? w->body.p : "");
        }
        if (!nap(km, backoff))
            break;
        backoff = SL_MIN(backoff * 2, km->cfg->backoff_max_ms);
    }
    return NULL;
}

int k8s_meta_start(k8s_meta *km)
{
    watcher *ws[2] = {&km->pods, km->cfg->namespace_labels ? &km->nss : NULL};
    char err[256];
    if (!km->http && !(km->http = http_multi_new(err, sizeof err)))
        return SL_ERR_NOMEM;
    for (int i = 0; i < 2; i++) {
        watcher *w = ws[i];
        if (!w)
            continue;
        if (pthread_create(&w->th, NULL, watch_main, w) != 0)
            return SL_ERR_IO;
        sl_thread_name(w->th, "k8s-watch", NULL);
        w->started = true;
    }
    return SL_OK;
}

void k8s_meta_free(k8s_meta *km)
{
    if (!km)
        return;
    pthread_mutex_lock(&km->mu);
    atomic_store(&km->stop, true);
    pthread_cond_broadcast(&km->cv);
    pthread_mutex_unlock(&km->mu);
    watcher *ws[2] = {&km->pods, &km->nss};
    for (int i = 0; i < 2; i++) {
        if (ws[i]->started)
            pthread_join(ws[i]->th, NULL);
        buf_free(&ws[i]->resp.body);
        buf_free(&ws[i]->body);
        k8s_cache_free(ws[i]->cache);
    }
    if (km->http)
        http_multi_free(km->http); /* after the watchers: none is inside a request */
    pthread_cond_destroy(&km->cv);
    pthread_mutex_destroy(&km->mu);
    free(km->token);
    free(km->base);
    free(km->selector);
    free(km);
}

void k8s_meta_lookup(k8s_meta *km, const char *ns, size_t nsl, const char *pod, size_t podl,
                     const char *uid, size_t uidl, k8s_obj **pod_out, k8s_obj **ns_out)
{
    int64_t now = sl_mono_ms();
    pthread_mutex_lock(&km->mu);
    k8s_cache_expire(km->pods.cache, now);
    *pod_out = k8s_cache_get(km->pods.cache, ns, nsl, pod, podl, uid, uidl);
    *ns_out = km->cfg->namespace_labels ? k8s_cache_get(km->nss.cache, "", 0, ns, nsl, "", 0)
                                        : NULL;
    pthread_mutex_unlock(&km->mu);
}

bool k8s_meta_synced(k8s_meta *km)
{
    pthread_mutex_lock(&km->mu);
    bool ok = km->pods.synced &&
              (!km->cfg->namespace_labels || km->nss.synced || km->nss.refused);
    pthread_mutex_unlock(&km->mu);
    return ok;
}

void k8s_meta_status_json(k8s_meta *km, sl_buf *out)
{
    pthread_mutex_lock(&km->mu);
    buf_printf(out,
               ",\"kubernetes_api\":{\"pods_synced\":%s,\"pods\":%u,\"namespaces_synced\":%s,"
               "\"namespaces\":%u,\"evictions\":%llu}",
               km->pods.synced ? "true" : "false", k8s_cache_count(km->pods.cache),
               km->nss.synced ? "true" : "false", k8s_cache_count(km->nss.cache),
               (unsigned long long)k8s_cache_evictions(km->pods.cache));
    pthread_mutex_unlock(&km->mu);
}
