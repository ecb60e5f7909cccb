"""elasticsearch sink outcomes not covered elsewhere. `id: none`: the server picks ids
(no _id sent), every event indexed once. illegal_argument_exception items (index actions
into a data stream) go to the DLQ with their reason. 403 on whole requests: the circuit
opens with one AUTHENTICATION FAILED line and closes once the node accepts again.
timeout_ms: answers slower than the timeout retry the whole batch, and since the node
stored the first copy, the resends end in 409s: every event stored exactly once."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "800"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("outcome %05d\n" % i)
want = sorted("outcome %05d" % i for i in range(N))

plain, forbid, slow = (Emulator("es_emulator.py") for _ in range(3))


def call(e, method, p, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (e.port, p), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode() or "null")


def stored(e, index):
    with urllib.request.urlopen("http://127.0.0.1:%d/_emulator/docs" % e.port, timeout=30) as r:
        docs = [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]
    return [d for d in docs if d["_index"] == index]


stats = lambda e: call(e, "GET", "/_emulator/stats")
# a data stream template: index actions into it are refused item by item
call(plain, "PUT", "/_index_template/direct", {"index_patterns": ["direct"], "data_stream": {},
                                               "priority": 100})
call(forbid, "POST", "/_emulator/control", {"fail": 6, "status": 403})
call(slow, "POST", "/_emulator/control", {"delay_ms": 1500})

port = free_port()
cfg = """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  noid:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: noid
    id: none
    batch: { max_events: 200, timeout_ms: 50 }
  direct:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: direct
    action: index
    batch: { max_events: 200, timeout_ms: 50 }
  forbidden:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: forbidden
    batch: { max_events: 200, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 100 }
    circuit_breaker: { failures: 50, open_ms: 200 }
  slow:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: slow
    timeout_ms: 500
    batch: { max_events: 400, timeout_ms: 50 }
    retry: { initial_ms: 50, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, port, logs, plain.port, plain.port, forbid.port, slow.port)
s = Sluice(cfg).start()
m = lambda fam, cid, **kw: s.metric(fam, component_id=cid, **kw)
try:
    # id: none
    wait_until(lambda: len(stored(plain, "noid")) == N, 30, "id: none delivery")
    docs = stored(plain, "noid")
    assert sorted(d["_source"]["message"] for d in docs) == want
    assert len({d["_id"] for d in docs}) == N
    # illegal_argument_exception -> DLQ with the reason, nothing stored
    wait_until(lambda: m("sluice_dlq_events_total", "direct") == N, 30, "illegal_argument dead-lettered")
    assert m("sluice_component_errors_total", "direct", reason="illegal_argument") == N
    assert stored(plain, "direct") == []
    # 403: the circuit opened with one loud line, then everything arrived
    wait_until(lambda: len(stored(forbid, "forbidden")) == N, 30, "delivery after the 403s")
    assert sorted(d["_source"]["message"] for d in stored(forbid, "forbidden")) == want
    assert m("sluice_component_errors_total", "forbidden", reason="http_403") == 6
    loud = [l for l in s.log_text().splitlines() if "AUTHENTICATION FAILED" in l and "forbidden" in l]
    assert len(loud) == 1 and "403" in loud[0], loud
    assert "circuit closed -> open" in s.log_text()
    wait_until(lambda: m("sluice_circuit_state", "forbidden") == 0, 30, "forbidden circuit closed")
    # timeouts: whole batches again; the node's late copies make the resends 409s
    wait_until(lambda: s.counter("sluice_component_errors_total", component_id="slow", reason="timeout") >= 2,
               30, "timeouts")
    call(slow, "POST", "/_emulator/control", {"delay_ms": 0})
    wait_until(lambda: m("sluice_component_sent_events_total", "slow") == N, 60, "slow delivery")
    # the copies the sink gave up on may still be on their way in: wait until the node has
    # taken every request the sink made and answered them all
    sent = m("sluice_sink_request_duration_seconds_count", "slow")
    wait_until(lambda: stats(slow)["requests"] == sent and stats(slow)["inflight"] == 0, 30,
               "the node done with all %d requests" % sent)
    st = stats(slow)
    docs = stored(slow, "slow")
    assert sorted(d["_source"]["message"] for d in docs) == want
    assert st["created"] == N and st["conflicts"] > 0, st
finally:
    s.stop()
st = stats(plain)
assert st["ids_missing"] >= N, st  # no _id sent by the id: none sink
recs = [json.loads(l) for l in open(os.path.join(WORK, "data", "dlq", "direct.ndjson"))]
assert sorted(r["event"]["message"] for r in recs) == want
assert all("illegal_argument_exception" in r["reason"] and "create" in r["reason"] for r in recs), recs[0]
log("ok: id none, illegal_argument to the DLQ, 403 circuit, timeouts retried without duplicates")
for e in (plain, forbid, slow):
    e.stop()
