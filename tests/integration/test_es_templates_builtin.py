"""elasticsearch sink, manage_templates on a cluster Elastic Agent and Fleet share: the
emulator holds Elasticsearch 8's built-in data stream templates (logs-*-* and the others,
priority 100). With the default index logs-%Y.%m.%d the managed template's pattern is
logs-*, which covers every Fleet data stream name; at priority 200, as before, a new
logs-nginx.access-default could no longer be made a data stream ("no matching index
template found"). The template goes below the built-ins now (99): the Fleet data stream is
made, and sluice's own daily indices (one '-', which logs-*-* does not match) still take
sluice's template. A data stream sink with its own exact name keeps 200."""
import json
import os
import urllib.error
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, http_json, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 50
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("event %d\n" % i)

emu = Emulator("es_emulator.py", "--builtin-templates")
base = "http://127.0.0.1:%d" % emu.port
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(w)s/logs/*.log"] }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoint: "%(base)s"
    manage_templates: true
    batch: { max_events: 20, timeout_ms: 50 }
  ds:
    type: elasticsearch
    inputs: [in]
    endpoint: "%(base)s"
    mode: data_stream
    index: logs-sluice-test
    manage_templates: true
    batch: { max_events: 20, timeout_ms: 50 }
""" % {"w": WORK, "api": free_port(), "base": base}).start()


def indices():
    return {r["index"]: int(r["docs.count"]) for r in
            http_json(base + "/_cat/indices?format=json")}


def daily(ix):
    return {n: c for n, c in ix.items() if n.startswith("logs-2")}


wait_until(lambda: sum(daily(indices()).values()) == N, 60, "every event in the daily index")
wait_until(lambda: s.component("ds")["sent_events"] == N, 60, "every event in the data stream")
prio = {t["name"]: t["index_template"]["priority"]
        for name in ("sluice-es", "sluice-ds")
        for t in http_json(base + "/_index_template/" + name)["index_templates"]}
assert prio == {"sluice-es": 99, "sluice-ds": 200}, prio
assert "built-in data stream templates" in s.log_text(), s.log_text()[-2000:]

# Elastic Agent's next data stream is still made from the built-in template
req = urllib.request.Request(base + "/_data_stream/logs-nginx.access-default", method="PUT")
try:
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["acknowledged"] is True
except urllib.error.HTTPError as e:
    raise AssertionError("Fleet's data stream refused: %s" % e.read().decode())

# sluice's daily index is a plain index with sluice's mapping (@timestamp a date)
day = next(iter(daily(indices())))
m = http_json(base + "/" + day + "/_mapping")
assert "@timestamp" in json.dumps(m), m
assert s.counter("sluice_dlq_events_total", component_id="es") == 0
assert s.stop() == 0, s.log_text()[-2000:]
emu.stop()
print("ok")
