"""elasticsearch sink: mapping conflicts. The index maps `message` as long; text messages
fail with document_parsing_exception (the emulator's default flavor is Elasticsearch 8;
7.x and OpenSearch say mapper_parsing_exception, see test_es_flavors) inside a 200 response. Only those items go to the DLQ,
with the error type and reason; their neighbours are indexed. After the mapping is fixed
(ignore_malformed, an updatable mapping parameter) `sluice dlq replay` delivers them, under
the stable `_id` the sink gave them: replaying the same records again (a replay whose answer
or DLQ rewrite was lost) folds into 409s and adds no document."""
import json
import os
import subprocess

from harness import Emulator, SLUICE, Sluice, WORK, file_to_es_config, http_json, log, wait_until

N = int(os.environ.get("ES_N", "2000"))
BAD = {i for i in range(N) if i % 97 == 3}
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write(("oops %d\n" % i) if i in BAD else ("%d\n" % (1000000 + i)))

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def call(method, p, body=None):
    return http_json(base + p, body, method)


call("PUT", "/numbers", {"mappings": {"properties": {"message": {"type": "long"}}}})
cfg = file_to_es_config(logs, base, """\
    index: numbers
    batch: { max_events: 500, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
""")
s = Sluice(cfg).start()
try:
    wait_until(lambda: s.metric("sluice_dlq_events_total", component_id="es") == len(BAD), 60,
               "mapping conflicts dead-lettered")
    wait_until(lambda: call("GET", "/numbers/_count")["count"] == N - len(BAD), 60, "good events indexed")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits past the rejects")
    mapping_errs = s.metric("sluice_component_errors_total", component_id="es", reason="mapping")
    assert mapping_errs == len(BAD), mapping_errs
finally:
    assert s.stop() == 0
st = call("GET", "/_emulator/stats")
# each bad item was tried once: a mapping error is permanent, never retried
assert st["items"] == N and st["mapping_errors"] == len(BAD), st
dlq = os.path.join(WORK, "data", "dlq", "es.ndjson")
recs = [json.loads(l) for l in open(dlq)]
assert sorted(r["event"]["message"] for r in recs) == sorted("oops %d" % i for i in BAD)
for r in recs:
    assert "document_parsing_exception" in r["reason"] and "message" in r["reason"], r
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config], capture_output=True, text=True)
assert out.returncode != 0, out  # the mapping is still wrong: records stay
assert len(open(dlq).read().splitlines()) == len(BAD)

call("PUT", "/numbers/_mapping", {"properties": {"message": {"type": "long", "ignore_malformed": True}}})
kept = open(dlq).read()
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config], capture_output=True, text=True)
log(out.stdout, out.stderr)
assert out.returncode == 0, out
assert call("GET", "/numbers/_count")["count"] == N
assert not os.path.exists(dlq) or open(dlq).read().strip() == ""
ids = call("GET", "/_emulator/ids")
assert len(ids) == N and all(len(i) == 32 for i in ids), [i for i in ids if len(i) != 32][:3]
with open(dlq, "w") as f:
    f.write(kept)
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config], capture_output=True, text=True)
assert out.returncode == 0, out
assert call("GET", "/numbers/_count")["count"] == N, "a second replay duplicated documents"
log("ok: %d mapping conflicts dead-lettered with their reason and replayed after the fix" % len(BAD))
emu.stop()
