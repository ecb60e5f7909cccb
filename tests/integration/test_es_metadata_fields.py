"""elasticsearch sink: JSON logs whose top-level keys are Elasticsearch metadata field names
(`_id`, `_index`, `_source`, `_routing`, `_version`, `_type` on 7.x...) are indexed with the
key renamed to `__id` etc. Elasticsearch refuses a whole document that holds one ("Field [_id]
is a metadata field and cannot be added inside a document"), as the emulator does: every such
log line went to the DLQ. Other keys starting with '_' and metadata names below the top level
(`a._id`) are kept as they are, as Elasticsearch takes them."""
import json
import os

from harness import Emulator, Sluice, WORK, free_port, get_ndjson, http_json, log, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
LINES = [
    {"_id": "abc", "n": 0},
    {"_index": "other", "n": 1},
    {"_source": {"app": "x"}, "n": 2},
    {"_routing": "r1", "_version": 3, "n": 3},
    {"_type": "doc", "n": 4},
    {"_seq_no": 9, "_field_names": "f", "_ignored": "i", "n": 5},
    {"_other": "kept", "a": {"_id": "nested"}, "n": 6},
    {"plain": True, "n": 7},
]
with open(os.path.join(logs, "a.log"), "w") as f:
    for d in LINES:
        f.write(json.dumps(d) + "\n")

emu = Emulator("es_emulator.py", "--flavor", "es7")
base = "http://127.0.0.1:%d" % emu.port
s = Sluice("""
data_dir: %s/data
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
    index: meta
    batch: { max_events: 100, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
""" % (WORK, free_port(), logs, base)).start()
try:
    wait_until(lambda: s.component("in")["pending_acks"] == 0 and
               http_json(base + "/_emulator/stats")["items"] >= len(LINES), 60,
               "every line sent and acknowledged")
    dlq = s.metric("sluice_dlq_events_total", component_id="es")
finally:
    assert s.stop() == 0
docs = {d["_source"]["n"]: d["_source"] for d in get_ndjson(base + "/_emulator/docs")}
dlq_file = os.path.join(WORK, "data", "dlq", "es.ndjson")
assert dlq == 0, dlq
assert not os.path.exists(dlq_file) or open(dlq_file).read() == "", open(dlq_file).read()
assert sorted(docs) == list(range(len(LINES))), docs
assert docs[0]["__id"] == "abc" and "_id" not in docs[0], docs[0]
assert docs[1]["__index"] == "other", docs[1]
assert docs[2]["__source"] == {"app": "x"}, docs[2]
assert docs[3]["__routing"] == "r1" and docs[3]["__version"] == 3, docs[3]
assert docs[4]["__type"] == "doc", docs[4]
assert docs[5]["__seq_no"] == 9 and docs[5]["__field_names"] == "f" and docs[5]["__ignored"] == "i"
assert docs[6]["_other"] == "kept" and docs[6]["a"] == {"_id": "nested"}, docs[6]
assert docs[7]["plain"] is True, docs[7]
log("ok: metadata field names renamed at the top level, every line indexed, none dead-lettered")
emu.stop()
