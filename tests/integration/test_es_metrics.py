"""elasticsearch sink metrics on /metrics, scraped after a run with faults: 20% of items
throttled (429), mapping conflicts (DLQ), a stall, a credentials episode (401) and
whole-request 503s. Each series the sink promises carries component_id="es" and agrees
with what the emulator saw: documents sent, failed by reason, retried, bytes before and
after compression, request latency histogram, in-flight (requests, and the events in them), circuit state."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, file_to_es_config, log, wait_until

N = int(os.environ.get("ES_N", "1500"))
M = 300  # events written in each later phase
BAD = {i for i in range(N) if i % 61 == 5}
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
written = 0


def write(k, bad=()):
    global written
    with open(path, "a") as f:
        for i in range(written, written + k):
            f.write(("oops %d\n" % i) if i in bad else ("%d\n" % (1000000 + i)))
    written += k


emu = Emulator("es_emulator.py", "--user", "elastic", "--password", "pw", "--item-429", "0.2", "--seed", "3")
base = "http://127.0.0.1:%d" % emu.port
auth = "Basic ZWxhc3RpYzpwdw=="  # elastic:pw


def call(method, p, body=None):
    req = urllib.request.Request(base + p, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json",
                                                         "Authorization": auth})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode() or "null")


mapping = {"mappings": {"properties": {"message": {"type": "long"}}}}
call("PUT", "/metrics", mapping)
put_bytes = len(json.dumps(mapping).encode())
count = lambda: call("GET", "/metrics/_count")["count"]
ctl = lambda body: call("POST", "/_emulator/control", body)

cfg = file_to_es_config(logs, base, """\
    index: metrics
    auth: { user: elastic, password: pw }
    concurrency: 2
    batch: { max_events: 200, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 50, open_ms: 300 }
""")
write(N, BAD)
s = Sluice(cfg).start()
m = lambda fam, **kw: s.metric(fam, component_id="es", **kw)


counter = lambda cname: s.component_counter("es", cname)
try:
    wait_until(lambda: count() == N - len(BAD), 60, "first phase delivered")
    wait_until(lambda: m("sluice_dlq_events_total") == len(BAD), 30, "conflicts dead-lettered")

    # a stall: requests stay in flight
    ctl({"stall": True})
    write(M)
    wait_until(lambda: m("sluice_sink_inflight") >= 1, 30, "a request in flight")
    # Every event of the phase is waiting: in the buffer, or in a stalled request (which
    # sluice_buffer_events no longer counts).
    waiting = lambda: m("sluice_buffer_events") + m("sluice_sink_request_events")
    wait_until(lambda: waiting() == M, 30, "the phase's events in the buffer or in requests")
    assert m("sluice_sink_request_events") > 0
    ctl({"stall": False})
    wait_until(lambda: count() == written - len(BAD), 30, "stall phase delivered")

    # wrong credentials: the circuit opens; right ones again: it closes
    ctl({"password": "changed"})
    write(M)
    wait_until(lambda: m("sluice_circuit_state") in (1.0, 2.0), 30, "circuit open on 401")
    assert m("sluice_component_errors_total", reason="http_401") >= 1
    ctl({"password": "pw"})
    wait_until(lambda: count() == written - len(BAD), 30, "401 phase delivered")
    wait_until(lambda: m("sluice_circuit_state") == 0, 30, "circuit closed")

    # whole requests refused with 503
    ctl({"fail": 3, "status": 503})
    write(M)
    # (the test's own _count would take one of the 503s: wait for sluice to take all three)
    wait_until(lambda: call("GET", "/_emulator/stats")["failed_requests"] == 3, 30, "503s answered")
    wait_until(lambda: count() == written - len(BAD), 30, "503 phase delivered")
    # Quiet: the source's last ack comes back after the sink counted everything about the
    # request (sent events, latency); only then is every series final.
    wait_until(lambda: (lambda c: c["pending_acks"] == 0 and c["sent_events"] == written)(
        s.component("in")), 30, "every event acknowledged")  # one status read for both
    wait_until(lambda: m("sluice_sink_inflight") == 0, 30, "nothing in flight")

    good = written - len(BAD)
    st = call("GET", "/_emulator/stats")
    text = s.get("/metrics")[1]
    # documents sent, dead-lettered; failed by reason
    assert m("sluice_component_sent_events_total") == good
    assert m("sluice_dlq_events_total") == len(BAD)
    assert m("sluice_component_errors_total", reason="mapping") == len(BAD)
    assert m("sluice_component_errors_total", reason="item_429") == st["item_429"] > 0, st
    assert m("sluice_component_errors_total", reason="http_5xx") == 3
    assert m("sluice_component_errors_total", reason="http_401") == st["status_401"] >= 1
    # retried: every throttled item went again, plus whole 401 / 503 requests
    assert m("sluice_sink_retries_total") > 0
    retried = counter("documents_retried")
    assert retried >= st["item_429"] + 2, (retried, st)
    assert counter("documents_rejected") == len(BAD)
    # every item the emulator answered was a first try or a retry of one
    assert st["items"] == written + st["item_429"], st
    # bytes before and after compression: the wire bytes are what the emulator received
    pay, wire = m("sluice_sink_payload_bytes_total"), m("sluice_sink_wire_bytes_total")
    assert pay > 2 * wire > 0, (pay, wire)
    assert wire == st["body_bytes"] - put_bytes, (wire, st["body_bytes"])
    # latency histogram: cumulative buckets, +Inf == count, a sum
    buckets = [float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("sluice_sink_request_duration_seconds_bucket{") and 'component_id="es"' in l]
    assert len(buckets) >= 5 and buckets == sorted(buckets), buckets
    n_req = m("sluice_sink_request_duration_seconds_count")
    assert buckets[-1] == n_req > 0 and m("sluice_sink_request_duration_seconds_sum") > 0
    assert n_req >= st["bulk_requests"], (n_req, st)
    # in-flight and circuit state are back at rest
    assert m("sluice_sink_inflight") == 0 and m("sluice_circuit_state") == 0
    assert m("sluice_sink_request_events") == 0
    for fam in ("sluice_component_sent_events_total", "sluice_component_errors_total",
                "sluice_sink_retries_total", "sluice_sink_payload_bytes_total",
                "sluice_sink_wire_bytes_total", "sluice_sink_request_duration_seconds_bucket",
                "sluice_sink_inflight", "sluice_sink_request_events", "sluice_circuit_state",
                "sluice_dlq_events_total"):
        assert any(l.startswith(fam + "{") and 'component_id="es"' in l for l in text.splitlines()), fam
finally:
    s.stop()
log("ok: metrics after faults - sent %d, dlq %d, 429 items %d, retried %d documents, %d requests"
    % (good, len(BAD), st["item_429"], retried, n_req))
emu.stop()
