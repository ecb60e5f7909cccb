"""The API: /healthz, /readyz, /metrics (Prometheus text, per component), /api/v1/status
(JSON with components, rates, buffer fill, circuit states, lag); 404 and 405 otherwise;
threads named after their role and component."""
import os
import urllib.request

from harness import Sluice, WORK, free_port, wait_until

port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  gen: { type: demo, rate: 2000 }
sinks:
  null: { type: blackhole, inputs: [gen] }
""" % (WORK, port)).start()
try:
    assert s.get("/healthz")[0] == 200
    assert s.get("/readyz")[0] == 200
    assert s.get("/nope")[0] == 404
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, data=b"x", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("POST accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405, e.code
    wait_until(lambda: (s.metric("sluice_component_sent_events_total", component_id="null") or 0) > 100,
               what="events through the blackhole")
    text = s.get("/metrics")[1]
    for family in ["sluice_component_received_events_total", "sluice_component_sent_events_total",
                   "sluice_buffer_bytes", "sluice_buffer_blocked_pushes", "sluice_circuit_state", "sluice_sink_inflight",
                   "sluice_sink_request_duration_seconds_bucket", "process_resident_memory_bytes"]:
        assert family in text, family
    st = s.status()
    ids = {c["id"]: c for c in st["components"]}
    assert ids["gen"]["kind"] == "source" and ids["null"]["kind"] == "sink"
    assert ids["null"]["circuit"] == "closed"
    assert "fill_ratio" in ids["null"]["buffer"] and "blocked_pushes" in ids["null"]["buffer"]
    assert "lag_seconds" in ids["gen"]
    # threads are named after their role and component (top -H, ps -L, perf)
    names = set()
    for t in os.listdir("/proc/%d/task" % s.proc.pid):
        with open("/proc/%d/task/%s/comm" % (s.proc.pid, t)) as f:
            names.add(f.read().strip())
    for want in ["src:gen", "sink:null", "hk:null", "api", "signals", "reload"]:
        assert want in names, (want, names)
finally:
    assert s.stop() == 0
