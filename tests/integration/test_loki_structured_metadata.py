"""loki sink with structured_metadata against a Loki that does not allow it (a schema older
than v13, run with allow_structured_metadata: false, as the upgrade to Loki 3 asks). Loki
refuses every entry that has structured metadata alike, so bisecting the request only sent
each such event alone, twice, to the DLQ. The events wait instead behind an open circuit,
with one error line saying what to change; once Loki allows it, every event is stored once
(those Loki stored from a refused request are dropped as duplicates on the resend) and
none is dead-lettered."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, append_lines, free_port, log, wait_until

emu = Emulator("loki_emulator.py", "--unordered", "--no-structured-metadata")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=10).read()


def stats():
    return json.loads(urllib.request.urlopen(base + "/stats", timeout=10).read())


def entries():
    with urllib.request.urlopen(base + "/entries", timeout=60) as r:
        return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]


logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 40
lines = []
for i in range(N):
    d = {"message": "event %03d" % i, "app": "shop"}
    if i % 2:
        d["user"] = "u%d" % i
    lines.append(json.dumps(d))

s = Sluice("""data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  loki:
    type: loki
    inputs: [p]
    endpoint: "%s"
    labels: { app: "{{ app }}" }
    structured_metadata: { user: "{{ user }}" }
    batch: { max_events: 100, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 200 }
    circuit_breaker: { failures: 5, open_ms: 300ms }
""" % (WORK, free_port(), logs, base)).start()
dlq = os.path.join(WORK, "data", "dlq", "loki.ndjson")
try:
    append_lines(os.path.join(logs, "a.log"), lines)
    wait_until(lambda: "STRUCTURED METADATA DISALLOWED" in s.log_text(), 60,
               "the error line about structured metadata")
    wait_until(lambda: s.component("loki")["circuit"] != "closed", 60, "the circuit opened")
    # the events without metadata of the refused request were stored; the others wait
    wait_until(lambda: stats()["entries"] == N // 2, 60, "the entries without metadata")
    assert s.component("loki")["dlq_events"] == 0, s.component("loki")
    assert not os.path.exists(dlq) or os.path.getsize(dlq) == 0, open(dlq).read()[:500]
    assert s.log_text().count("STRUCTURED METADATA DISALLOWED") == 1, s.log_text()

    control(allow_structured_metadata=True)
    wait_until(lambda: stats()["entries"] == N, 60, "every entry stored")
    wait_until(lambda: s.component("loki")["sent_events"] >= N, 60, "every event acknowledged")
    got = sorted(entries(), key=lambda e: e["line"])
    assert [e["line"] for e in got] == ["event %03d" % i for i in range(N)], got
    for i, e in enumerate(got):
        assert e["metadata"] == ({"user": "u%d" % i} if i % 2 else {}), e
    assert s.component("loki")["dlq_events"] == 0, s.component("loki")
    assert s.component("loki")["circuit"] == "closed", s.component("loki")
    log("held while disallowed, all", N, "stored once allowed, dups dropped:", stats()["dups"])
finally:
    assert s.stop() == 0
    emu.stop()
assert not os.path.exists(dlq) or os.path.getsize(dlq) == 0
log("ok")
