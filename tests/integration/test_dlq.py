"""Permanent rejects go to the dead-letter queue (only the poison events: the runtime
bisects, so their neighbours are delivered), and after the endpoint is fixed
`sluice dlq replay` delivers them and empties the DLQ. While the daemon runs, replay and purge
are refused: it appends to the DLQ file through a descriptor it keeps open, so a file they
rewrote or removed would take its later records with the unlinked inode."""
import json
import os
import subprocess
import urllib.request

from harness import Emulator, SLUICE, Sluice, WORK, free_port, log, wait_until

N = 1000
POISON = {17, 500, 999}
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("event %04d%s\n" % (i, " poison" if i in POISON else ""))

emu = Emulator("http_sink_server.py", "--reject-marker", "poison")


def control(obj):
    req = urllib.request.Request("http://127.0.0.1:%d/control" % emu.port,
                                 data=json.dumps(obj).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def lines():
    body = urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=5).read().decode()
    return [json.loads(l)["message"] for l in body.splitlines() if l.strip()]


port = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/ingest"
    batch: { max_events: 200, timeout_ms: 100 }
    retry: { initial_ms: 10, max_ms: 100 }
""" % (WORK, port, logs, emu.port)
dlq = os.path.join(WORK, "data", "dlq", "out.ndjson")
s = Sluice(cfg).start()
try:
    wait_until(lambda: s.metric("sluice_dlq_events_total", component_id="out") == len(POISON),
               what="poison events dead-lettered")
    wait_until(lambda: len(lines()) == N - len(POISON), what="the good events delivered")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, what="source commits past the rejects")
    # Refused while the daemon runs, even with the endpoint fixed; the records stay.
    control({"reject_marker": ""})
    for cmd in (["replay"], ["purge", "--all"]):
        out = subprocess.run([SLUICE, "dlq"] + cmd + ["-c", s.config], capture_output=True,
                             text=True)
        assert out.returncode == 1, out
        assert "in use by another sluice process (pid %d)" % s.proc.pid in out.stderr, out
        assert len(open(dlq).read().splitlines()) == len(POISON)
    control({"reject_marker": "poison"})
finally:
    assert s.stop() == 0
got = lines()
assert not [g for g in got if "poison" in g]
recs = [json.loads(l) for l in open(dlq)]
assert sorted(r["event"]["message"] for r in recs) == sorted("event %04d poison" % i for i in POISON)
for r in recs:
    assert "400" in r["reason"] and r["attempts"] >= 1 and r["sink"] == "out", r
out = subprocess.run([SLUICE, "dlq", "list", "-c", s.config], capture_output=True, text=True)
assert out.returncode == 0 and "3" in out.stdout, out
# A sink id the config does not have and with no DLQ file (a typo) is refused, not a success
# that lists, replays or purges nothing; the records stay.
for cmd in ("list", "replay", "purge"):
    out = subprocess.run([SLUICE, "dlq", cmd, "-c", s.config, "--sink", "outt"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "has no sink 'outt'" in out.stderr and "(sinks: out)" in out.stderr, out
assert len(open(dlq).read().splitlines()) == 3

# Still rejected: replay fails and keeps the records.
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config, "--sink", "out"], capture_output=True, text=True)
assert out.returncode != 0, out
assert len(open(dlq).read().splitlines()) == 3

# Endpoint fixed: --limit 1 replays one record and exits 0 (it exited 1 for the two it was
# told to leave); then replay delivers the others and empties the DLQ.
control({"reject_marker": ""})
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config, "--sink", "out", "--limit", "1"],
                     capture_output=True, text=True)
assert out.returncode == 0 and "out: replayed 1, remaining 2" in out.stdout, out
assert len(open(dlq).read().splitlines()) == 2
out = subprocess.run([SLUICE, "dlq", "replay", "-c", s.config, "--sink", "out"], capture_output=True, text=True)
assert out.returncode == 0, out
assert "replayed 2" in out.stdout, out.stdout
got = lines()
assert sum(1 for g in got if "poison" in g) == 3
assert not os.path.exists(dlq) or not open(dlq).read().strip()
out = subprocess.run([SLUICE, "dlq", "purge", "-c", s.config, "--all"], capture_output=True, text=True)
assert out.returncode == 0, out
emu.stop()
log("ok: %d delivered, 3 dead-lettered then replayed" % len(got))
