"""kubernetes_logs with the API (emulated) into Elasticsearch (the emulator maps fields as a
node does: a field's first type wins, an object where a value was mapped is refused). One
pod is labelled app=web, another app.kubernetes.io/name=api (the recommended labels), a
third has both. Nested at their dots, the label keys made kubernetes.labels.app a value in
one document and an object in the other, and every document of the later pods went to the
DLQ ("object mapping ... found a concrete value"). Label and annotation keys keep their
dots as '_' now (app_kubernetes_io/name, as Beats' dedot writes them): every line is
indexed, none dead-lettered."""
import os

from harness import Emulator, Sluice, WORK, free_port, http_json, wait_until
from k8s_api_common import Api, NODE, TOKEN_FILE, pod_dir, write_lines, write_token

root = os.path.join(WORK, "pods")
os.makedirs(root)
write_token("tok-1")
api = Api("--token", "tok-1")
api.namespace("add", "shop", {"kubernetes.io/metadata.name": "shop"})
pods = {
    "web-1": {"app": "web"},
    "api-1": {"app.kubernetes.io/name": "api", "app.kubernetes.io/part-of": "shop"},
    "both-1": {"app": "both", "app.kubernetes.io/name": "both"},
}
for name, labels in pods.items():
    api.pod("add", "shop", name, "u-" + name, labels=labels,
            annotations={"prometheus.io/scrape": "true"})

es = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % es.port
s = Sluice("""data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  pods:
    type: kubernetes_logs
    path: "%(root)s"
    exclude_self: false
    api_url: "%(url)s"
    token_file: "%(tok)s"
    node_name: "%(node)s"
    annotations: true
sinks:
  es:
    type: elasticsearch
    inputs: [pods]
    endpoint: "%(es)s"
    batch: { max_events: 10, timeout_ms: 50 }
""" % {"w": WORK, "api": free_port(), "root": root, "url": api.url, "tok": TOKEN_FILE,
       "node": NODE, "es": base}, "k8s").start()

N = 20
for name in pods:  # one pod at a time: the first document of each maps its labels
    write_lines(pod_dir(root, "shop", name, "u-" + name), ["%s line %d" % (name, i) for i in range(N)])
    wait_until(lambda: s.component("es")["sent_events"] + s.counter(
        "sluice_dlq_events_total", component_id="es") >= N * (list(pods).index(name) + 1),
        60, "the lines of " + name)
assert s.counter("sluice_dlq_events_total", component_id="es") == 0, s.log_text()[-3000:]
count = http_json(base + "/logs-*/_count")["count"]
assert count == N * len(pods), count
m = http_json(base + "/logs-*/_mapping")
props = next(iter(m.values()))["mappings"]["properties"]["kubernetes"]["properties"]
labels = props["labels"]["properties"]
assert set(labels) == {"app", "app_kubernetes_io/name", "app_kubernetes_io/part-of"}, labels
assert "prometheus_io/scrape" in props["annotations"]["properties"], props["annotations"]
assert "kubernetes_io/metadata_name" in props["namespace_labels"]["properties"], props
assert s.stop() == 0, s.log_text()[-2000:]
es.stop()
api.stop()
print("ok")
