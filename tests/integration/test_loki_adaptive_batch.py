"""loki sink and the adaptive batch size (batch.adaptive, on by default). A push answered 429
(Loki's ingestion rate limit) halves the batch target, as for the other sinks. Behind a proxy
with a body limit (the emulator's max_body: 413 with nginx's page,
as nginx's client_max_body_size answers): a 413 is the request's size refused, so the
adaptive batch target (batch.adaptive, on by default) shrinks below the limit and stays
there (few 413s once it has learned), and the refused requests go again in parts (the
runtime bisects): every event stored once, none dead-lettered."""
import json
import os
import urllib.request

from es_common import Lines
from harness import Emulator, Sluice, WORK, free_port, log

MAX = 200
R = 2000  # events per round
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
emu = Emulator("loki_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def stats():
    st = json.loads(urllib.request.urlopen(base + "/stats", timeout=10).read())
    st["docs"] = st["entries"]  # what Lines waits on
    return st


cfg = """data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  loki:
    type: loki
    inputs: [in]
    endpoint: "%s"
    labels: { job: proxied }
    batch: { max_events: %d, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), logs, base, MAX)
s = Sluice(cfg).start()
target = lambda: s.component("loki")["batch_target"]
lines = Lines(os.path.join(logs, "a.log"), "proxied %06d " + "x" * 150, stats,
              lambda: s.component("loki"))

try:
    st0 = stats()
    lines.write(MAX)  # the body bytes of one event's worth, no limit yet
    first = lines.quiet(target)
    st1 = stats()
    per_event = (st1["body_bytes"] - st0["body_bytes"]) // MAX
    assert per_event > 0, per_event

    # A 429: the target halves (the few full requests after it cannot grow it back: that
    # takes four in a row per eighth).
    control(fail=1, status=429)
    lines.write(MAX)
    throttled = lines.quiet(target)
    assert stats()["injected"] == 1, stats()
    assert throttled <= first // 2, ("a 429 did not halve the batch target", first, throttled)

    limit_events = 60
    control(max_body=per_event * limit_events)
    shrunk = []
    for _ in range(6):
        a = stats()
        lines.write(R)
        shrunk.append(lines.quiet(target))
        b = stats()
    assert b["status_413"] > 0, b
    assert shrunk[-1] < MAX, ("a 413 did not shrink the batch target", shrunk)
    # learned: in the last round most requests fitted (a 413 is a probe past the limit)
    n413 = b["status_413"] - a["status_413"]
    nreq = b["requests"] - a["requests"]
    assert n413 * 2 < nreq, (n413, nreq, shrunk)
    st = stats()
    assert st["entries"] == lines.written and st["dups"] == 0 and st["refused"] == 0, st
    assert s.component("loki")["dlq_events"] == 0, s.component("loki")
finally:
    s.stop()
log("ok: %d events stored once; batch target %d -> %d after a 429, %s under a %d-byte body "
    "limit" % (lines.written, first, throttled, shrunk, per_event * limit_events))
emu.stop()
