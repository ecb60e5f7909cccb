"""http sink stopped while its peer holds a request unanswered: SIGTERM with
shutdown_timeout 2s while the request could wait out its 90 s timeout_ms. The stop keeps its
deadline: the process exits, cleanly, long before the request's timeout could have passed
(the bounded wait below is shorter than it). Nothing is lost: a second run against a
healthy peer re-reads what was not acknowledged, and every event arrives."""
import json
import os
import time
import urllib.request

from harness import Emulator, MutePeer, Sluice, WORK, free_port, log, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 200
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write(json.dumps({"message": "m%d" % i, "n": i}) + "\n")

mute = MutePeer()  # accepts, reads and never answers


def config(api, port):
    return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/ingest"
    timeout_ms: 90s
    batch: { max_events: 50, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 500 }
""" % (WORK, api, logs, port)


s = Sluice(config(free_port(), mute.port)).start()
wait_until(lambda: mute.received > 0 and s.component("in")["sent_events"] == N and
           (s.metric("sluice_sink_inflight", component_id="out") or 0) >= 1,
           60, "a request the peer holds unanswered")

t0 = time.monotonic()
# Bounded well below timeout_ms (90 s): before the fix the request waited that long.
rc = s.stop(timeout=45)
log("stopped in %.1f s" % (time.monotonic() - t0))
assert rc == 0, s.log_text()[-3000:]
assert "not delivered (kept for redelivery)" in s.log_text(), s.log_text()[-3000:]
mute.close()

emu = Emulator("http_sink_server.py")
s2 = Sluice(config(free_port(), emu.port), name="sluice2").start()


def arrived():
    with urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=10) as r:
        lines = [l for l in r.read().decode().split("\n") if l.strip()]
    return set(json.loads(json.loads(l)["message"])["n"] for l in lines)


wait_until(lambda: arrived() >= set(range(N)), 120, "every event at the healthy peer")
assert s2.counter("sluice_dlq_events_total", component_id="out") == 0
assert s2.stop() == 0, s2.log_text()[-2000:]
emu.stop()
print("ok")
