"""otlp sink: the OTLP/HTTP spec's retry rules. Only 429, 502, 503 and 504 are retryable;
every other 4xx and 5xx MUST NOT be retried. A collector that answers 500, 501 or 408 to a
request sees it once (bisected down to the single records, each refused once), and the
records go to the DLQ with the answer as the reason, where `sluice dlq replay` delivers
them once the collector takes them; 502 and 504 are retried until delivered. Before, every
5xx and 408 was retried forever: one record a collector could not take held the sink."""
import json
import os
import subprocess
import urllib.request

from harness import Emulator, SLUICE, Sluice, WORK, free_port, log, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
app = os.path.join(logs, "a.log")
open(app, "w").close()

emu = Emulator("otlp_receiver.py")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def get(path):
    return json.loads(urllib.request.urlopen(base + path, timeout=5).read())


def bodies():
    return [r["body"]["stringValue"] for q in get("/records")
            for rl in q["body"]["resourceLogs"] for sl in rl["scopeLogs"]
            for r in sl["logRecords"]]


def write(*msgs):
    with open(app, "a") as f:
        for m in msgs:
            f.write(json.dumps({"message": m}) + "\n")


dlq = os.path.join(WORK, "data", "dlq", "out.ndjson")


def dead():
    if not os.path.exists(dlq):
        return []
    with open(dlq) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  out:
    type: otlp
    inputs: [p]
    endpoint: "%s"
    encoding: json
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, api, logs, base)).start()

# permanent: each answer is seen once per request, the records end in the DLQ
want_dead = 0
for st in (500, 501, 408):
    control(fail=10 ** 9, status=st)
    before = get("/stats")["failed"]
    msgs = ["refused %d #%d" % (st, i) for i in range(3)]
    write(*msgs)
    want_dead += 3
    wait_until(lambda: len(dead()) == want_dead, 30, "the %d records in the DLQ" % st)
    got = [d for d in dead() if d["event"]["message"] in msgs]
    assert len(got) == 3, got
    for d in got:
        assert d["reason"].startswith("rejected: http %d" % st), d["reason"]
    # one request of 3 bisected: at most 5 requests, never a retry of the same one
    failed = get("/stats")["failed"] - before
    assert 3 <= failed <= 5, (st, failed)
    # the collector is fine again: what comes next is delivered, the refused are not resent
    control(fail=0)
    write("after %d" % st)
    wait_until(lambda: "after %d" % st in bodies(), 30, "the record after the %d" % st)
    assert not any(b in bodies() for b in msgs), bodies()
    log("%d: 3 records dead-lettered after %d requests" % (st, failed))
assert (s.metric("sluice_component_errors_total", component_id="out", reason="http_reject")
        or 0) >= 9

# retryable: 502 and 504 (503 and 429 are test_otlp.py's) retried until delivered
for st in (502, 504):
    control(fail=3, status=st)
    before = get("/stats")["failed"]
    write("retried %d" % st)
    wait_until(lambda: "retried %d" % st in bodies(), 30, "the record retried after %d" % st)
    assert get("/stats")["failed"] - before == 3
assert len(dead()) == want_dead, dead()
assert (s.metric("sluice_component_errors_total", component_id="out", reason="http_retry")
        or 0) == 6
assert s.stop() == 0

# nothing is lost: the replay delivers what the collector refused
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config, "--sink", "out"],
                     capture_output=True, text=True)
assert out.returncode == 0 and "replayed %d" % want_dead in out.stdout, (out.stdout, out.stderr)
got = bodies()
for st in (500, 501, 408):
    for i in range(3):
        assert got.count("refused %d #%d" % (st, i)) == 1, got
emu.stop()
log("ok")
