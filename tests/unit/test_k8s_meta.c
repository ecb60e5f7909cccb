/* test_k8s_meta.c - unit tests for the Kubernetes API metadata: owner derivation, pod and
 * namespace decoding (labels, annotations, hints), watch events (410, bookmarks), lists,
 * and the cache's bounds (eviction, deleted pods kept for a grace period, relists). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "sources/k8s_meta.h"

static void owner(const char *kind, const char *name, const char *hash, const char *wk,
                  const char *wn)
{
    char k[64], n[256];
    k8s_owner(kind, name, hash, k, sizeof k, n, sizeof n);
    assert_string_equal(k, wk);
    assert_string_equal(n, wn);
}

static void test_owner(void **state)
{
    owner("ReplicaSet", "web-7d9f8c6b5d", "7d9f8c6b5d", "Deployment", "web");
    owner("ReplicaSet", "web-7d9f8c6b5d", NULL, "Deployment", "web");     /* alphabet */
    owner("ReplicaSet", "my-api-5c5b8d4f79", NULL, "Deployment", "my-api");
    owner("ReplicaSet", "web-abcde", NULL, "ReplicaSet", "web-abcde");    /* vowels: not a hash */
    owner("ReplicaSet", "web-7d9f8c6b5d", "other", "ReplicaSet", "web-7d9f8c6b5d");
    owner("ReplicaSet", "standalone", NULL, "ReplicaSet", "standalone");
    owner("ReplicaSet", "-x", NULL, "ReplicaSet", "-x");
    owner("StatefulSet", "db", NULL, "StatefulSet", "db");
    owner("DaemonSet", "agent", NULL, "DaemonSet", "agent");
    owner("Job", "nightly-28912345", NULL, "CronJob", "nightly");
    owner("Job", "migrate-1", NULL, "Job", "migrate-1");                  /* too short */
    owner("Job", "migrate", NULL, "Job", "migrate");
    owner("Node", "node-a", NULL, "Node", "node-a");
}

static k8s_obj *decode_pod(const char *json)
{
    sl_arena a;
    arena_init(&a, 4096);
    char err[64];
    json_value *v = json_parse(&a, json, strlen(json), err, sizeof err);
    assert_non_null(v);
    k8s_obj *o = k8s_obj_from_json(v);
    arena_free(&a);
    return o;
}

static void test_pod(void **state)
{
    k8s_obj *o = decode_pod(
        "{\"metadata\":{\"name\":\"web-7d9f8c6b5d-x\",\"namespace\":\"shop\",\"uid\":\"u1\","
        "\"labels\":{\"app\":\"web\",\"pod-template-hash\":\"7d9f8c6b5d\",\"n\":3},"
        "\"annotations\":{\"sluice.io/exclude\":\"true\",\"sluice.io/parser\":\"json\"},"
        "\"ownerReferences\":[{\"kind\":\"Node\",\"name\":\"x\"},"
        "{\"kind\":\"ReplicaSet\",\"name\":\"web-7d9f8c6b5d\",\"controller\":true}]},"
        "\"spec\":{\"nodeName\":\"node-a\",\"containers\":[{\"name\":\"app\","
        "\"image\":\"web:1\"},{\"name\":\"noimage\"},{\"image\":\"x\"}],"
        "\"initContainers\":[{\"name\":\"init\",\"image\":\"busybox:1.36\"}]},"
        "\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":2,"
        "\"containerID\":\"containerd://c2\",\"lastState\":{\"terminated\":{"
        "\"containerID\":\"containerd://c1\"}}},{\"name\":\"waiting\",\"restartCount\":0}],"
        "\"initContainerStatuses\":[{\"name\":\"init\",\"restartCount\":0,"
        "\"containerID\":\"cri-o://i0\",\"lastState\":{\"terminated\":{"
        "\"containerID\":\"cri-o://bogus\"}}}]}}");
    assert_non_null(o);
    /* container ids: the current instance, the one before, none older or not started */
    assert_string_equal(k8s_container_id(o, "app", 3, 2), "c2");
    assert_string_equal(k8s_container_id(o, "app", 3, 1), "c1");
    assert_string_equal(k8s_container_id(o, "app", 3, -1), "c2");
    assert_null(k8s_container_id(o, "app", 3, 0));
    assert_null(k8s_container_id(o, "waiting", 7, 0));
    assert_string_equal(k8s_container_id(o, "init", 4, 0), "i0");
    assert_string_equal(k8s_container_image(o, "app", 3), "web:1");
    assert_string_equal(k8s_container_image(o, "init", 4), "busybox:1.36");
    assert_null(k8s_container_image(o, "noimage", 7));
    assert_null(k8s_container_image(o, "ap", 2));
    assert_string_equal(o->name, "web-7d9f8c6b5d-x");
    assert_string_equal(o->ns, "shop");
    assert_string_equal(o->uid, "u1");
    assert_string_equal(o->node, "node-a");
    assert_string_equal(o->owner_kind, "Deployment");
    assert_string_equal(o->owner_name, "web");
    assert_int_equal(o->nlabels, 2); /* the number is not a string: left out */
    assert_string_equal(o->labels[0].k, "app");
    assert_true(o->exclude);
    assert_int_equal(o->parser, K8S_PARSER_JSON);
    k8s_obj_release(o);

    o = decode_pod("{\"metadata\":{\"name\":\"p\",\"annotations\":{\"sluice.io/exclude\":\"false\"}}}");
    assert_non_null(o);
    assert_false(o->exclude);
    assert_int_equal(o->parser, K8S_PARSER_NONE);
    assert_string_equal(o->ns, "");
    assert_string_equal(o->owner_kind, "");
    k8s_obj_release(o);
    assert_null(decode_pod("{\"metadata\":{\"namespace\":\"x\"}}"));
    assert_null(decode_pod("[1]"));
    assert_null(decode_pod("{\"metadata\":{\"name\":\"\"}}"));
}

static void test_events(void **state)
{
    k8s_event ev;
    const char *add = "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
                      "\"n\",\"uid\":\"u\",\"resourceVersion\":\"42\"}}}";
    assert_int_equal(k8s_decode_event(add, strlen(add), &ev), 0);
    assert_int_equal(ev.type, K8S_EV_ADDED);
    assert_string_equal(ev.rv, "42");
    assert_string_equal(ev.obj->name, "p");
    k8s_obj_release(ev.obj);
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"99\"}}}";
    assert_int_equal(k8s_decode_event(bm, strlen(bm), &ev), 0);
    assert_int_equal(ev.type, K8S_EV_BOOKMARK);
    assert_string_equal(ev.rv, "99");
    assert_null(ev.obj);
    const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}}";
    assert_int_equal(k8s_decode_event(gone, strlen(gone), &ev), 0);
    assert_int_equal(ev.type, K8S_EV_ERROR);
    assert_int_equal(ev.code, 410);
    assert_string_equal(ev.message, "");
    const char *etcd = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":500,"
                       "\"message\":\"etcdserver: request timed out\"}}";
    assert_int_equal(k8s_decode_event(etcd, strlen(etcd), &ev), 0);
    assert_int_equal(ev.code, 500);
    assert_string_equal(ev.message, "etcdserver: request timed out");
    const char *bad[] = {"", "{}", "{\"type\":\"ADDED\"}", "{\"type\":\"NOPE\",\"object\":{}}",
                         "{\"type\":\"BOOKMARK\",\"object\":{}}",
                         "{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}", "{\"type\":1,\"object\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(k8s_decode_event(bad[i], strlen(bad[i]), &ev), -1);
}

static int listed;
static void count_item(void *arg, k8s_obj *o)
{
    listed++;
    k8s_obj_release(o);
}

static void test_list(void **state)
{
    const char *l = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"7\"},\"items\":["
                    "{\"metadata\":{\"name\":\"a\"}},{\"metadata\":{}},{\"metadata\":{\"name\":\"b\"}}]}";
    char rv[64];
    listed = 0;
    assert_int_equal(k8s_decode_list(l, strlen(l), count_item, NULL, rv, sizeof rv), 0);
    assert_int_equal(listed, 2);
    assert_string_equal(rv, "7");
    const char *empty = "{\"metadata\":{\"resourceVersion\":\"8\"},\"items\":null}";
    assert_int_equal(k8s_decode_list(empty, strlen(empty), count_item, NULL, rv, sizeof rv), 0);
    assert_string_equal(rv, "8");
    assert_int_equal(k8s_decode_list("{}", 2, count_item, NULL, rv, sizeof rv), -1);
    assert_int_equal(k8s_decode_list("[", 1, count_item, NULL, rv, sizeof rv), -1);
}

static k8s_obj *pod(const char *ns, const char *name, const char *uid)
{
    char j[256];
    snprintf(j, sizeof j, "{\"metadata\":{\"name\":\"%s\",\"namespace\":\"%s\",\"uid\":\"%s\"}}",
             name, ns, uid);
    return decode_pod(j);
}

static bool has(k8s_cache *c, const char *uid)
{
    k8s_obj *o = k8s_cache_get(c, "", 0, "", 0, uid, strlen(uid));
    k8s_obj_release(o);
    return o != NULL;
}

static void test_cache(void **state)
{
    k8s_cache *c = k8s_cache_new(3, 1000);
    k8s_cache_put(c, pod("n", "a", "ua"), 10);
    k8s_cache_put(c, pod("n", "b", "ub"), 20);
    k8s_cache_put(c, pod("n", "c", "uc"), 30);
    assert_int_equal(k8s_cache_count(c), 3);
    /* by namespace + name when the uid is unknown */
    k8s_obj *o = k8s_cache_get(c, "n", 1, "b", 1, "", 0);
    assert_non_null(o);
    assert_string_equal(o->uid, "ub");
    k8s_obj_release(o);
    /* a deleted pod stays for the grace period, and is evicted first when full */
    assert_true(k8s_cache_delete(c, "ub", "n", "b", 100));
    assert_true(has(c, "ub"));
    k8s_cache_put(c, pod("n", "d", "ud"), 200);
    assert_false(has(c, "ub"));
    assert_true(has(c, "ua") && has(c, "uc") && has(c, "ud"));
    /* full of live pods: the oldest goes */
    k8s_cache_put(c, pod("n", "e", "ue"), 300);
    assert_false(has(c, "ua"));
    assert_int_equal(k8s_cache_count(c), 3);
    assert_int_equal(k8s_cache_evictions(c), 2);
    /* a replaced object keeps its slot; a reader's reference outlives the replacement */
    k8s_obj *old = k8s_cache_get(c, "", 0, "", 0, "uc", 2);
    k8s_cache_put(c, pod("n", "c2", "uc"), 310);
    assert_string_equal(old->name, "c");
    k8s_obj_release(old);
    o = k8s_cache_get(c, "", 0, "", 0, "uc", 2);
    assert_string_equal(o->name, "c2");
    k8s_obj_release(o);
    /* grace period */
    k8s_cache_delete(c, "ud", "n", "d", 400);
    assert_int_equal(k8s_cache_expire(c, 1399), 0);
    assert_int_equal(k8s_cache_expire(c, 1400), 1);
    assert_false(has(c, "ud"));
    /* a relist: what it lacks is deleted (kept for the grace period) */
    k8s_cache_begin(c);
    k8s_cache_put(c, pod("n", "e", "ue"), 2000);
    k8s_cache_end(c, 2000);
    assert_true(has(c, "uc"));
    assert_int_equal(k8s_cache_expire(c, 3000), 1);
    assert_false(has(c, "uc"));
    assert_true(has(c, "ue"));
    /* a live pod is found before a deleted one of the same name */
    k8s_cache_delete(c, "ue", "n", "e", 3000);
    k8s_cache_put(c, pod("n", "e", "ue2"), 3001);
    o = k8s_cache_get(c, "n", 1, "e", 1, "", 0);
    assert_string_equal(o->uid, "ue2");
    k8s_obj_release(o);
    /* a static pod's mirror is found by the uid kubelet gave the static pod (its log
     * directory's), as by its own */
    k8s_cache_put(c, decode_pod("{\"metadata\":{\"name\":\"etcd-n1\",\"namespace\":\"kube-system\","
                                "\"uid\":\"api-uid\",\"annotations\":{"
                                "\"kubernetes.io/config.mirror\":\"0f3c9a\"}}}"), 3002);
    assert_true(has(c, "0f3c9a") && has(c, "api-uid"));
    assert_false(has(c, "0f3c9"));
    k8s_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner), cmocka_unit_test(test_pod), cmocka_unit_test(test_events),
        cmocka_unit_test(test_list),  cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
