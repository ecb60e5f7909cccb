"""elasticsearch sink under faults. Phase 1: 30% of items fail with 429; only those items
are sent again (attempts = events + 429s, never a whole batch). Phase 2: whole-request
503s, connections reset mid-response and 413 above a size: every event still ends up
stored exactly once (resends after a reset hit 409 on their stable id and count as done).
Concurrency is adaptive (that item-level 429s halve its limit is in test_es_adaptive). Also:
a second, dead node in `endpoints` is marked down and skipped."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, append_lines, free_port, http_json, log, wait_until

N = int(os.environ.get("ES_N", "4000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")


def write(lo, hi):
    append_lines(path, ("event %06d %s" % (i, "x" * (i % 50)) for i in range(lo, hi)))


emu = Emulator("es_emulator.py", "--item-429", "0.3", "--seed", "7")
base = "http://127.0.0.1:%d" % emu.port


def ctl(p, body=None):
    return http_json(base + p, body)


def docs():
    with urllib.request.urlopen(base + "/_emulator/docs", timeout=10) as r:
        return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]


dead = free_port()  # nothing listens here
port = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoints: ["%s", "http://127.0.0.1:%d"]
    index: "faults"
    concurrency: adaptive
    timeout_ms: 60000
    # a fixed size: phase 1's 429s would shrink an adaptive one below phase 2's 413 limit
    # (the adaptive size under 429 and 413 is test_es_adaptive_batch)
    batch: { max_events: 400, timeout_ms: 50, adaptive: false }
    retry: { initial_ms: 10, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, port, logs, base, dead)
write(0, N)
s = Sluice(cfg).start()
try:
    wait_until(lambda: ctl("/_emulator/stats")["docs"] == N, 60, "phase 1 delivered")
    st = ctl("/_emulator/stats")
    attempts = ctl("/_emulator/attempts")
    log("phase 1:", st)
    assert st["item_429"] > N // 10, st
    # only the failed items went again: one extra attempt per 429, nothing else
    assert sum(attempts.values()) == N + st["item_429"], (sum(attempts.values()), st)
    assert st["conflicts"] == 0, st
    assert "marked down" in s.log_text(), "the dead node was never marked down"

    # Phase 2: whole-request faults.
    ctl("/_emulator/control", {"item_429": 0, "fail": 3, "status": 503, "reset": 3, "max_body": 1500})
    write(N, 2 * N)
    wait_until(lambda: ctl("/_emulator/stats")["docs"] == 2 * N, 90, "phase 2 delivered")
    st = ctl("/_emulator/stats")
    log("phase 2:", st)
    assert st["failed_requests"] == 3 and st["resets"] == 3 and st["status_413"] > 0, st
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
    m413 = s.metric("sluice_component_errors_total", component_id="es", reason="http_413")
    assert m413 and m413 > 0, m413
finally:
    assert s.stop() == 0
d = docs()
msgs = [x["_source"]["message"] for x in d]
assert len(msgs) == 2 * N and len(set(msgs)) == 2 * N, (len(msgs), len(set(msgs)))
assert sorted(msgs) == sorted("event %06d %s" % (i, "x" * (i % 50)) for i in range(2 * N))
log("ok: %d events, each stored once, through 429s, 503s, resets and 413s" % (2 * N))
emu.stop()
