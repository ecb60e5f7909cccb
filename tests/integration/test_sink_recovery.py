"""A sink that fails then recovers: requests are retried with backoff, the circuit breaker
opens after `failures` consecutive failures and closes after a successful half-open probe,
and every event arrives (counted in and out, none lost)."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = 3000
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("recover %05d\n" % i)

emu = Emulator("http_sink_server.py", "--fail", "1000000", "--fail-status", "503")


def control(**kw):
    req = urllib.request.Request("http://127.0.0.1:%d/control" % emu.port, data=json.dumps(kw).encode(),
                                 method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()


def stats():
    return json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % emu.port, timeout=5).read())


def lines():
    body = urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=5).read().decode()
    return [json.loads(l)["message"] for l in body.splitlines() if l.strip()]


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
    batch: { max_events: 500, timeout_ms: 100 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 3, open_ms: 500 }
""" % (WORK, port, logs, emu.port)).start()
try:
    wait_until(lambda: s.component("out")["circuit"] == "open", what="circuit to open")
    # open, or half-open while a probe is out: it never closes while every request fails
    assert s.metric("sluice_circuit_state", component_id="out") in (1.0, 2.0)
    # the third failure opens the circuit just before it is counted as a retry
    wait_until(lambda: s.counter("sluice_sink_retries_total", component_id="out") >= 3,
               what="the retries that opened it")
    retries = s.metric("sluice_sink_retries_total", component_id="out")
    assert stats()["lines"] == 0
    control(fail=0)  # the endpoint recovers
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") == N,
               what="every event delivered after recovery")
    assert s.component("out")["circuit"] == "closed"
    got = lines()
    assert sorted(set(got)) == ["recover %05d" % i for i in range(N)], "lost or foreign events"
    wait_until(lambda: s.component("in")["pending_acks"] == 0, what="source positions committed")
    text = s.log_text()
    assert "closed -> open" in text and "-> closed" in text, text[-2000:]
    log("ok: %d delivered, %d requests, %d failed, retries %d" % (len(got), stats()["requests"], stats()["failed"], retries))
finally:
    s.stop()
    emu.stop()
