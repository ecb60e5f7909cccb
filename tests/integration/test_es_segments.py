"""elasticsearch sink with gzip: the lines of each run of events are written and compressed
ahead, on the source's thread (note 9 of es_sink.c), and a request joins them into one gzip
member. The same file goes through two sluices, each to its own node:
  joined - the default engine (segments), batch.max_events 400, bulk_max_bytes 8 KiB (runs
           cut by bytes too), a node that answers 413 to bodies over 900 bytes as received
           (joined pieces refused go again from encoded bodies, split; the runtime's smaller
           target then cuts requests inside runs, whose events are encoded on the sink);
  plain  - gzip_engine: zlib, which never prepares.
Both nodes end with the same documents (index, id, source), each once. The node reads a
gzip body's first member only, as Elasticsearch does (Netty's decoder drops the rest), so a
body joined as several members would lose documents here as it would there; checked below
with two members sent by hand."""
import gzip
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = 3000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "app.log"), "w") as f:
    for i in range(N):
        rec = {"time": "2026-12-0%dT10:%02d:%02d.%03dZ" % (1 + i % 3, i % 60, i % 59, i % 1000),
               "level": ["info", "warn", "error"][i % 3], "msg": "event %05d \"q\" \u00e9 %s" % (i, "z" * (i % 150)),
               "n": i, "ratio": i / 7, "ok": i % 2 == 0, "user": {"id": i % 13, "name": "u%d" % (i % 5)}}
        f.write(json.dumps(rec) + "\n")


def call(e, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (e.port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def docs(e):
    out = [json.loads(l) for l in call(e, "GET", "/_emulator/docs").decode().splitlines() if l]
    return sorted(json.dumps([d["_index"], d["_id"], d["_source"]], sort_keys=True) for d in out)


got = {}
for name, extra in (("joined", ""), ("plain", "    gzip_engine: zlib\n")):
    node = Emulator("es_emulator.py")
    if name == "joined":
        call(node, "POST", "/_emulator/control", {"max_body": 900})
    s = Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  es:
    type: elasticsearch
    inputs: [p]
    endpoint: "http://127.0.0.1:%d"
    index: "logs-%%Y.%%m.%%d"
    bulk_max_bytes: 8KiB
    batch: { max_events: 400, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, name, free_port(), logs, node.port) + extra, name="sluice-" + name).start()
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="es") >= N,
               90, name + " delivery")
    got[name] = docs(node)
    stats = json.loads(call(node, "GET", "/_emulator/stats"))
    refused = s.metric("sluice_component_errors_total", component_id="es", reason="http_413")
    assert s.stop() == 0
    node.stop()
    assert len(got[name]) == N, (name, len(got[name]))
    assert stats["gzip_dropped_bytes"] == 0, stats
    if name == "joined":
        assert stats["status_413"] > 0 and refused > 0, (stats, refused)
    log("%s: %d documents, %d bodies refused with 413" % (name, N, stats["status_413"]))
assert got["joined"] == got["plain"]

# The node is as strict as Elasticsearch: of two gzip members, the second is dropped.
node = Emulator("es_emulator.py")
line = lambda i: b'{"create":{"_index":"two","_id":"m%d"}}\n{"n":%d}\n' % (i, i)
req = urllib.request.Request("http://127.0.0.1:%d/_bulk" % node.port, method="POST",
                             data=gzip.compress(line(1)) + gzip.compress(line(2)),
                             headers={"Content-Type": "application/x-ndjson",
                                      "Content-Encoding": "gzip"})
with urllib.request.urlopen(req, timeout=30) as r:
    assert len(json.loads(r.read())["items"]) == 1
assert json.loads(call(node, "GET", "/_emulator/stats"))["gzip_dropped_bytes"] > 0
node.stop()
assert len({json.loads(d)[1] for d in got["joined"]}) == N
log("ok: the same %d documents with bodies joined from segments and encoded at send" % N)
