"""elasticsearch sink: a batch larger than bulk_max_bytes goes as several _bulk requests in
turn (pieces), and every outcome still holds per event. Three nodes, batches of 500 events
(about 100 KB encoded) in pieces of about 4 KiB:
  faults   - 20% of items 429, five 503 answers, three connections reset half-way, gzip:
             every event stored exactly once (stable ids: a resent copy is a 409);
  refuse   - the first request answered 400 as a whole: that piece goes again on its own
             instead of to the DLQ with its neighbours (the runtime bisects only a whole
             rejected send), so nothing is dead-lettered;
  small    - the node takes bodies up to 3,000 bytes: pieces are split further on 413.
The nodes hold every request until the source has read everything, so batches are full
(500 events) whatever the machine's speed, and sends are made of many pieces. Each node's
largest body stays within a piece's bound."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "3000"))
PIECE = 4096
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("piece %05d %s \"q\" %s\n" % (i, "x" * (i % 97), "y" * 60))
want = sorted(l.rstrip("\n") for l in open(os.path.join(logs, "a.log")))

faults, refuse, small = (Emulator("es_emulator.py") for _ in range(3))


def call(e, method, p, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (e.port, p), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode() or "null")


def stored(e):
    with urllib.request.urlopen("http://127.0.0.1:%d/_emulator/docs" % e.port, timeout=30) as r:
        return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]


stats = lambda e: call(e, "GET", "/_emulator/stats")
call(faults, "POST", "/_emulator/control", {"item_429": 0.2, "fail": 5, "status": 503, "reset": 3})
call(refuse, "POST", "/_emulator/control", {"fail": 1, "status": 400})
call(small, "POST", "/_emulator/control", {"max_body": 3000})
for e in (faults, refuse, small):
    call(e, "POST", "/_emulator/control", {"stall": True})

port = free_port()
sink = """
  %s:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:%d"
    index: %s
    compression: %s
    bulk_max_bytes: %d
    concurrency: 2
    batch: { max_events: 500, max_bytes: 8MiB, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
"""
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:""" % (WORK, port, logs) + "".join(sink % (name, e.port, name, comp, PIECE) for name, e, comp in
                                        (("faults", faults, "gzip"), ("refuse", refuse, "none"),
                                         ("small", small, "none")))
s = Sluice(cfg).start()
m = lambda fam, cid, **kw: s.metric(fam, component_id=cid, **kw)
try:
    # everything read and queued while the first requests are held: then full batches
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="in") == N,
               60, "the source read everything")
    for e in (faults, refuse, small):
        call(e, "POST", "/_emulator/control", {"stall": False})
    for name, e in (("faults", faults), ("refuse", refuse), ("small", small)):
        wait_until(lambda: m("sluice_component_sent_events_total", name) == N, 90, name + " delivery")
        # quiet: every request the sink made has been answered
        sends = m("sluice_sink_request_duration_seconds_count", name)
        wait_until(lambda: stats(e)["inflight"] == 0, 30, name + " node idle")
        docs = stored(e)
        assert sorted(d["_source"]["message"] for d in docs) == want, name
        assert len({d["_id"] for d in docs}) == N, name
        st = stats(e)
        assert st["created"] == N, (name, st)
        assert st["bulk_requests"] > sends + 4, (name, st["bulk_requests"], sends)  # pieces
        # a piece: up to 1.5 x the bound, plus the document that crossed it
        assert st["max_body_bytes"] <= PIECE * 3 // 2 + 1024, (name, st["max_body_bytes"])
        assert m("sluice_dlq_events_total", name) == 0, name
    assert stats(faults)["item_429"] > 0 and stats(faults)["resets"] == 3, stats(faults)
    assert stats(faults)["gzip_requests"] > 0
    assert m("sluice_component_errors_total", "refuse", reason="http_reject") == 1
    assert m("sluice_component_errors_total", "small", reason="http_413") > 0
    assert stats(small)["max_body_bytes"] <= 3000 or stats(small)["status_413"] > 0
finally:
    s.stop()
assert not os.path.exists(os.path.join(WORK, "data", "dlq", "refuse.ndjson")) or \
    os.path.getsize(os.path.join(WORK, "data", "dlq", "refuse.ndjson")) == 0
log("ok: pieces of %d bytes; 429s, 503s and resets retried, a 400 piece sent again on its own, "
    "413s split; every event once" % PIECE)
for e in (faults, refuse, small):
    e.stop()
