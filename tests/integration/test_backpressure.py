"""Backpressure: while the sink is down, the bounded memory buffer fills, the source
stops reading (blocked on the full buffer, its sent count stays well short of the input),
memory stays flat and the commit lag grows; when the sink recovers every event is
delivered exactly once."""
import json
import os
import time
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("IT_BP_LINES", "300000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("bp %07d %s\n" % (i, "q" * 80))

emu = Emulator("http_sink_server.py", "--fail", "100000000", "--fail-status", "503")
port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: memory, max_bytes: 4MiB }
    batch: { max_events: 2000, timeout_ms: 100 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, port, logs, emu.port)).start()
try:
    # Once the sink has failed a request it only retries that one and takes nothing more
    # from its buffer: from then on a push that waits for room waits for good.
    wait_until(lambda: s.component("out")["retries"] > 0, what="the first failed request")
    wait_until(lambda: s.component("out")["buffer"]["blocked_pushes"] > 0, what="the source blocked")
    sent_paused = s.component("in")["sent_events"]
    lag1 = s.component("in")["lag_seconds"]
    rss1 = s.metric("process_resident_memory_bytes")
    time.sleep(1.0)  # a window to watch memory and the lag over, not a wait for a state
    rss2 = s.metric("process_resident_memory_bytes")
    assert s.component("in")["sent_events"] == sent_paused, "source kept reading while the sink was down"
    assert sent_paused < N, "source read everything: no backpressure (%d of %d)" % (sent_paused, N)
    lag2 = s.component("in")["lag_seconds"]
    assert lag2 > lag1, "commit lag not growing while the sink is down: %s -> %s" % (lag1, lag2)
    assert s.metric("sluice_source_lag_seconds", component_id="in") >= lag2
    assert rss2 - rss1 < 8 << 20, "memory grows while paused: %d -> %d" % (rss1, rss2)
    log("paused at %d of %d events, RSS %.1f MiB" % (sent_paused, N, rss2 / 1048576))
    req = urllib.request.Request("http://127.0.0.1:%d/control" % emu.port, data=b'{"fail": 0}', method="POST")
    urllib.request.urlopen(req, timeout=5).read()
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") == N,
               timeout=300, what="every event after recovery")
    st = json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % emu.port).read())
    assert st["lines"] == N, st["lines"]
finally:
    s.stop()
    emu.stop()
