"""elasticsearch sink: index names Elasticsearch refuses. An `index` whose literal text has
upper case or a character an index name may not hold (`MyApp-%Y.%m.%d`, `logs,x`,
`_logs`) is a config error that `sluice validate` reports; it passed, and every document
then went to the DLQ with invalid_index_name_exception. A `{{ field }}` value at the start of
the name loses the '_', '-' or '+' a name may not start with ("_platform" -> platform-logs)
instead of making every such document a reject."""
import json
import os
import subprocess

from harness import (Emulator, SLUICE, Sluice, WORK, free_port, get_ndjson, http_json, log,
                     wait_until)

logs = os.path.join(WORK, "logs")
os.makedirs(logs)


def config(endpoint, index):
    return """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  es:
    type: elasticsearch
    inputs: [p]
    endpoint: "%s"
    index: '%s'
    batch: { max_events: 100, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
""" % (WORK, free_port(), logs, endpoint, index)


for bad in ("MyApp-%Y.%m.%d", "logs,x", "logs*", "_logs-%Y", "-logs", "logs x", "a:b"):
    path = os.path.join(WORK, "bad.yaml")
    with open(path, "w") as f:
        f.write(config("http://127.0.0.1:9", bad))
    out = subprocess.run([SLUICE, "validate", "-c", path], capture_output=True, text=True)
    assert out.returncode == 1, (bad, out)
    assert "an index name" in out.stderr and "sinks.es" in out.stderr, (bad, out.stderr)

TEAMS = ["_platform", "-ops", "+edge", "Web", "__", "db"]
with open(os.path.join(logs, "a.log"), "w") as f:
    for i, t in enumerate(TEAMS):
        f.write(json.dumps({"team": t, "n": i}) + "\n")

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port
s = Sluice(config(base, "{{ team }}-logs")).start()
try:
    wait_until(lambda: s.component("in")["pending_acks"] == 0 and
               http_json(base + "/_emulator/stats")["items"] >= len(TEAMS), 60,
               "every line sent and acknowledged")
    dead = s.metric("sluice_dlq_events_total", component_id="es")
finally:
    assert s.stop() == 0
assert dead == 0, open(os.path.join(WORK, "data", "dlq", "es.ndjson")).read()[:3000]
where = {d["_source"]["n"]: d["_index"] for d in get_ndjson(base + "/_emulator/docs")}
assert where == {0: "platform-logs", 1: "ops-logs", 2: "edge-logs", 3: "web-logs",
                 4: "logs", 5: "db-logs"}, where
log("ok: refused index names are config errors; field values at the start lose '_', '-', '+'")
emu.stop()
