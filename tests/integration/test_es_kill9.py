"""elasticsearch sink: SIGKILL of sluice while bulk requests are in flight, twice, then a
clean run to the end. The emulator must hold every event exactly once: positions commit
only after delivery (no loss) and the stable _id turns resent events into 409s (no
duplicate)."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, file_to_es_config, log, wait_until

N = int(os.environ.get("ES_N", "30000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("kill9 event %06d\n" % i)

emu = Emulator("es_emulator.py", "--delay-ms", "30")
base = "http://127.0.0.1:%d" % emu.port


def stats():
    with urllib.request.urlopen(base + "/_emulator/stats", timeout=10) as r:
        return json.loads(r.read())


cfg = file_to_es_config(logs, base, """\
    index: "kill9"
    concurrency: 4
    batch: { max_events: 300, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 200 }
""")
for round_ in (1, 2):
    s = Sluice(cfg, name="sluice%d" % round_).start()
    target = N * round_ // 3
    wait_until(lambda: stats()["docs"] >= target, 60, "round %d progress" % round_, interval=0.01)
    s.kill9()
    log("round %d: killed with %d docs stored" % (round_, stats()["docs"]))
before = stats()["conflicts"]
s = Sluice(cfg, name="sluice3").start()
try:
    wait_until(lambda: stats()["docs"] == N, 90, "all events after the kills")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
    # every resend Elasticsearch already had is counted as such, and is no error
    present = s.component_counter("es", "documents_already_present")
    assert present == stats()["conflicts"] - before, (present, stats()["conflicts"], before)
    assert s.counter("sluice_component_errors_total", component_id="es",
                     reason="duplicate") == 0
    log("sluice3: %d resends Elasticsearch already had" % present)
finally:
    assert s.stop() == 0
st = stats()
log("emulator:", st)
with urllib.request.urlopen(base + "/_emulator/docs", timeout=30) as r:
    msgs = [json.loads(l)["_source"]["message"] for l in r.read().decode().splitlines() if l.strip()]
assert len(msgs) == N, len(msgs)
assert sorted(msgs) == ["kill9 event %06d" % i for i in range(N)]
assert st["created"] == N, st  # never a second copy of anything
log("ok: %d events, zero lost, zero duplicated, %d resends answered 409" % (N, st["conflicts"]))
emu.stop()
