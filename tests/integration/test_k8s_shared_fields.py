"""kubernetes_logs events share their file's metadata fields (event.h): every consumer must
see them as if each event had its own. One tree of pod logs read by two sources: to sinks
that encode fields each their own way (file's JSON, elasticsearch's documents and index
name, otlp's resource and attributes), through a transform beside those sinks (the router
copies the batch for it), and through the only consumer of the second source, a `remove`
and a `rename` of metadata fields (the router makes the fields each event's own in place).
Every event arrives everywhere with all its metadata, and the transforms change only what
they name."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, ndjson_file, wait_until

root = os.path.join(WORK, "pods")
T = "2024-05-01T12:00:%02d.%09dZ"
PODS = [("shop", "web-1", "app", 0), ("shop", "web-2", "app", 2), ("ops", "db-0", "pg", 1)]
N = 400  # lines per file: several batches each
want = {}
for ns, pod, ctr, restart in PODS:
    d = os.path.join(root, "%s_%s_uid-%s" % (ns, pod, pod), ctr)
    os.makedirs(d)
    with open(os.path.join(d, "%d.log" % restart), "w") as f:
        for i in range(N):
            stream = "stderr" if i % 7 == 3 else "stdout"
            msg = "%s/%s line %04d" % (ns, pod, i)
            f.write("%s %s F %s\n" % (T % (i % 60, i), stream, msg))
            want[msg] = {"ns": ns, "pod": pod, "uid": "uid-" + pod, "container": ctr,
                         "restart": restart, "stream": stream}
TOTAL = len(want)

otlp = Emulator("otlp_receiver.py")
es = Emulator("es_emulator.py")
otlp_base = "http://127.0.0.1:%d" % otlp.port
es_base = "http://127.0.0.1:%d" % es.port


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


# the otlp sink sends these as resource attributes under their OpenTelemetry names
OTEL = {"k8s.namespace.name": "kubernetes.namespace", "k8s.pod.name": "kubernetes.pod_name",
        "k8s.pod.uid": "kubernetes.pod_uid", "k8s.container.name": "kubernetes.container_name"}


def otlp_records():
    """Each record's attributes with its resource's, under the event's field names."""
    def attrs(lst):
        return {OTEL.get(a["key"], a["key"]): a["value"].get("stringValue", a["value"].get("intValue"))
                for a in lst}
    out = []
    for req in json.loads(get(otlp_base + "/records")):
        for rl in req["body"]["resourceLogs"]:
            res = attrs(rl.get("resource", {}).get("attributes", []))
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    a = dict(res, **attrs(r.get("attributes", [])))
                    a["message"] = r["body"]["stringValue"]
                    out.append(a)
    return out


def es_docs():
    return [json.loads(l) for l in get(es_base + "/_emulator/docs").split("\n") if l.strip()]


def nested(doc, dotted):
    """A value of an Elasticsearch document by its dotted field name (objects are nested)."""
    v = doc
    for part in dotted.split("."):
        v = v[part]
    return v


def check(got, what, get_field=lambda g, k: g[k], pod_key="kubernetes.pod_name", pod=None,
          uid=True):
    seen = {}
    for g in got:
        m = get_field(g, "message")
        w = want.get(m)
        assert w, "%s: unexpected event %r" % (what, g)
        assert m not in seen, "%s: %r twice" % (what, m)
        seen[m] = True
        assert get_field(g, "kubernetes.namespace") == w["ns"], (what, g)
        assert get_field(g, pod_key) == (pod or w["pod"]), (what, g)
        assert get_field(g, "kubernetes.container_name") == w["container"], (what, g)
        assert int(get_field(g, "kubernetes.restart_count")) == w["restart"], (what, g)
        assert get_field(g, "stream") == w["stream"], (what, g)
        assert int(get_field(g, "log.offset")) >= 0, (what, g)
        path = "/%s_%s_uid-%s/%s/%d.log" % (w["ns"], w["pod"], w["pod"], w["container"], w["restart"])
        assert get_field(g, "log.file.path").endswith(path), (what, g)
        if uid:
            assert get_field(g, "kubernetes.pod_uid") == w["uid"], (what, g)
    assert len(seen) == TOTAL, "%s: %d of %d events" % (what, len(seen), TOTAL)


out = {k: os.path.join(WORK, k + ".ndjson") for k in ("direct", "tagged", "alone")}
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  pods: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 300, exclude_self: false }
  alone: { type: kubernetes_logs, path: "%s", rescan_interval_ms: 300, exclude_self: false }
transforms:
  tag: { type: set, inputs: [pods], fields: { env: prod } }
  drop_uid: { type: remove, inputs: [alone], fields: [kubernetes.pod_uid] }
  renamed: { type: rename, inputs: [drop_uid], fields: { kubernetes.pod_name: pod } }
sinks:
  direct: { type: file, inputs: [pods], path: "%s", batch: { timeout_ms: 50 } }
  tagged: { type: file, inputs: [tag], path: "%s", batch: { timeout_ms: 50 } }
  alone_out: { type: file, inputs: [renamed], path: "%s", batch: { timeout_ms: 50 } }
  otlp: { type: otlp, inputs: [pods], endpoint: "%s", encoding: json, compression: none,
          batch: { timeout_ms: 50 } }
  es: { type: elasticsearch, inputs: [pods], endpoints: ["%s"], index: "k8s-{{ kubernetes.namespace }}",
        batch: { timeout_ms: 50 } }
""" % (WORK, free_port(), root, root, out["direct"], out["tagged"], out["alone"], otlp_base,
       es_base)).start()

wait_until(lambda: all(len(ndjson_file(p)) >= TOTAL for p in out.values()), 60, "the file sinks")
wait_until(lambda: len(otlp_records()) >= TOTAL, 60, "the otlp receiver")
wait_until(lambda: len(es_docs()) >= TOTAL, 60, "the elasticsearch emulator")
stored = es_docs()

check(ndjson_file(out["direct"]), "file")
tagged = ndjson_file(out["tagged"])
check(tagged, "set")
assert all(g["env"] == "prod" for g in tagged)
alone = ndjson_file(out["alone"])
check(alone, "remove + rename", pod_key="pod", uid=False)
assert not any("kubernetes.pod_uid" in g or "kubernetes.pod_name" in g for g in alone), alone[:2]
check(otlp_records(), "otlp")
check([d["_source"] for d in stored], "elasticsearch", get_field=nested)
indices = {d["_index"] for d in stored}
assert indices == {"k8s-ops", "k8s-shop"}, indices  # the index name reads a shared field
assert s.stop() == 0
log("ok: %d events with shared metadata, the same in every sink and through every transform" % TOTAL)
