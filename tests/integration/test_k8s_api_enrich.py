"""kubernetes_logs with the Kubernetes API (emulated): pod labels, annotations, node, container image and
id (from the status, by the file's restart number), owner
(Deployment via its ReplicaSet, StatefulSet, CronJob via its Job) and namespace labels on
every event; only this node's pods listed; sluice.io/exclude keeps a pod's files from being
read, and skips the lines of a file already open once the pod gets the annotation (counted);
sluice.io/parser: json adds a JSON message's members; a label changed through the watch
reaches later events. Every line written is counted in and out."""
import os

from harness import Sluice, WORK, free_port, log, wait_until
from k8s_api_common import (Api, NODE, by_message, config, counter, pod_dir, wait_messages,
                            write_lines, write_token)

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1", "--bookmark-ms", "200")
api.namespace("add", "shop", {"team": "payments"})
api.namespace("add", "batch", {"team": "data"})
api.pod("add", "shop", "web-7d9f8c6b5d-x2x4q", "u-web", labels={"app": "web", "pod-template-hash": "7d9f8c6b5d"},
        annotations={"note": "hi"}, owner=("ReplicaSet", "web-7d9f8c6b5d"),
        containers={"app": "registry.example/shop/web:1.4.2", "proxy": "envoyproxy/envoy:v1.28"},
        init_containers={"migrate": "registry.example/shop/migrate:7"},
        statuses={"app": (0, "containerd://" + "a" * 64, None)})
# restarted once: its 0.log is the instance before the current one
api.pod("add", "shop", "db-0", "u-db", labels={"app": "db"}, owner=("StatefulSet", "db"),
        statuses={"app": (1, "containerd://" + "d1" * 32, "containerd://" + "d0" * 32)})
api.pod("add", "shop", "noisy-1", "u-noisy", annotations={"sluice.io/exclude": "true"}, owner=("DaemonSet", "noisy"))
api.pod("add", "batch", "nightly-28912345-abcde", "u-json", annotations={"sluice.io/parser": "json"},
        owner=("Job", "nightly-28912345"))
api.pod("add", "shop", "far-1", "u-far", node="node-b", labels={"app": "far"})

# No periodic rescan: files are found through inotify. A file open when its pod gets the
# exclude annotation stays open (test_k8s_api_exclude_later.py: through rescans too) and its
# lines meet the line check.
s = Sluice(config(root, free_port(), api.url, rescan=3600000), "k8s").start()
wait_until(lambda: counter(s, "k8s_api_pod_lists") >= 1 and counter(s, "k8s_api_namespace_lists") >= 1,
           60, "the pod and namespace lists")
st = s.component("pods")["kubernetes_api"]
assert st["pods_synced"] and st["pods"] == 4, st  # far-1 is on another node

files = {
    "web": pod_dir(root, "shop", "web-7d9f8c6b5d-x2x4q", "u-web"),
    "db": pod_dir(root, "shop", "db-0", "u-db"),
    "noisy": pod_dir(root, "shop", "noisy-1", "u-noisy"),
    "json": pod_dir(root, "batch", "nightly-28912345-abcde", "u-json"),
    "far": pod_dir(root, "shop", "far-1", "u-far"),
}
written = 0
for k, p in files.items():
    msgs = ["%s line %d" % (k, i) for i in range(20)]
    if k == "json":
        msgs = ['{"level":"warn","n":%d,"msg":"json %d"}' % (i, i) for i in range(20)]
    write_lines(p, msgs)
    written += len(msgs)
want = ["%s line %d" % (k, i) for k in ("web", "db", "far") for i in range(20)] + \
       ['{"level":"warn","n":%d,"msg":"json %d"}' % (i, i) for i in range(20)]
got = wait_messages(want)

w = got["web line 3"]
assert w["kubernetes.labels.app"] == "web", w
assert w["kubernetes.labels.pod-template-hash"] == "7d9f8c6b5d", w
assert w["kubernetes.annotations.note"] == "hi", w
assert w["kubernetes.host"] == NODE, w
assert w["kubernetes.owner.kind"] == "Deployment" and w["kubernetes.owner.name"] == "web", w
assert w["kubernetes.namespace_labels.team"] == "payments", w
assert w["kubernetes.container_image"] == "registry.example/shop/web:1.4.2", w
assert "kubernetes.container_image" not in got["db line 3"], got["db line 3"]  # no spec given
# The container id, which /var/log/pods paths lack, from the status: the instance the
# file is (its restart number).
assert w["kubernetes.container_id"] == "a" * 64, w
assert got["db line 3"]["kubernetes.container_id"] == "d0" * 32, got["db line 3"]
assert "kubernetes.container_id" not in got["far line 3"], got["far line 3"]
assert w["kubernetes.pod_name"] == "web-7d9f8c6b5d-x2x4q" and w["kubernetes.namespace"] == "shop", w
d = got["db line 0"]
assert d["kubernetes.owner.kind"] == "StatefulSet" and d["kubernetes.owner.name"] == "db", d
assert d["kubernetes.labels.app"] == "db" and "kubernetes.labels.pod-template-hash" not in d, d
j = got['{"level":"warn","n":7,"msg":"json 7"}']
assert j["level"] == "warn" and j["n"] == 7 and j["msg"] == "json 7", j
assert j["kubernetes.owner.kind"] == "CronJob" and j["kubernetes.owner.name"] == "nightly", j
assert j["kubernetes.namespace_labels.team"] == "data", j
f = got["far line 0"]
assert not any(k.startswith("kubernetes.labels.") for k in f) and "kubernetes.host" not in f, f
assert f["kubernetes.pod_name"] == "far-1", f  # path metadata still there
assert not any(m.startswith("noisy") for m in got), "excluded pod delivered"

# A label changed through the watch reaches the lines after it.
before = counter(s, "k8s_api_watch_events")
api.pod("modify", "shop", "web-7d9f8c6b5d-x2x4q", "u-web", labels={"app": "web", "version": "v2"},
        owner=("ReplicaSet", "web-7d9f8c6b5d"))
wait_until(lambda: counter(s, "k8s_api_watch_events") >= before + 1, 60, "the MODIFIED event")
write_lines(files["web"], ["web after"])
written += 1
got = wait_messages(want + ["web after"])
assert got["web after"]["kubernetes.labels.version"] == "v2", got["web after"]
assert "kubernetes.annotations.note" not in got["web after"], got["web after"]

# The annotation on a pod whose file is open: its later lines are read and skipped.
before = counter(s, "k8s_api_watch_events")
api.pod("modify", "shop", "db-0", "u-db", labels={"app": "db"}, annotations={"sluice.io/exclude": "true"},
        owner=("StatefulSet", "db"))
wait_until(lambda: counter(s, "k8s_api_watch_events") >= before + 1, 60, "the MODIFIED event")
write_lines(files["db"], ["db hidden %d" % i for i in range(15)])
written += 15
wait_until(lambda: counter(s, "excluded_lines") >= 15, 60, "the excluded lines counted")

# Quiet state, then every line accounted for: delivered once, skipped, or never read
# (the 20 lines of the pod excluded from the start).
read = written - 20
wait_until(lambda: s.counter("sluice_component_received_events_total", component_id="pods") >= read,
           60, "every line read")
assert s.counter("sluice_component_received_events_total", component_id="pods") == read
assert counter(s, "excluded_lines") == 15
assert s.stop() == 0
got = by_message()
assert len(got) == read - 15, (len(got), read)
assert not any(m.startswith("db hidden") for m in got)
log("ok: enrichment, owners, namespace labels, exclude, parser hint, watch update (%d lines)" % written)
api.stop()
