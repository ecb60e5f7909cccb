"""The forward sink writes nested values as msgpack maps and arrays: a record that came in
with {"kubernetes": {"labels": {...}}, "ids": [1, 2]} (from fluent-logger over Forward, or a
JSON body to the http source) reaches a Fluentd in_forward (tests/emulators/forward_server.py)
with the same structure, integers as integers, so its filters can index into it. They went
as strings holding JSON text."""
from fluent import sender

from harness import Emulator, Sluice, WORK, free_port, get_ndjson, http_json, wait_until

p_fd, api, p_fwd, p_http = free_port(), free_port(), free_port(), free_port()
fd = Emulator("forward_server.py", "--port", str(p_fd), "--flavor", "fluentd")
fd_url = "http://127.0.0.1:%d" % fd.port
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  fwd:  { type: forward, address: "127.0.0.1:%(fwd)d" }
  web:  { type: http, address: "127.0.0.1:%(http)d" }
sinks:
  up: { type: forward, inputs: [fwd, web], servers: ["127.0.0.1:%(fd)d"], batch: { timeout_ms: 20 } }
""" % {"w": WORK, "api": api, "fwd": p_fwd, "http": p_http, "fd": p_fd}).start()

nested = {"kubernetes": {"pod_name": "web-1", "labels": {"app": "web", "tier": "fe"},
                         "container": {"restarts": 3, "ready": True, "cpu": 0.25}},
          "ids": [1, -2, 9007199254740993, "x", None, [], {}],
          "note": "{\"a string\": \"that looks like JSON\"}"}

fl = sender.FluentSender("app.k8s", host="127.0.0.1", port=p_fwd, nanosecond_precision=True)
assert fl.emit(None, dict(nested, message="from forward")), fl.last_error
fl.close()
r = http_json("http://127.0.0.1:%d/app.http" % p_http, dict(nested, message="from http"))
assert r == {"accepted": 1}, r

wait_until(lambda: len(get_ndjson(fd_url + "/events")) >= 2, 60, "both events at the Fluentd emulator")
got = {e["record"]["message"]: e for e in get_ndjson(fd_url + "/events")}
assert set(got) == {"from forward", "from http"}, got
for msg, e in got.items():
    rec = dict(e["record"])
    del rec["message"]
    assert rec == nested, (msg, rec)
assert got["from forward"]["tag"] == "app.k8s" and got["from http"]["tag"] == "app.http", got
assert http_json(fd_url + "/stats")["closed_bad_data"] == 0
assert s.stop() == 0
fd.stop()
