"""forward sink `message_key`: sluice relaying Fluent Bit's records (tail and Docker write
the line as `log`) to a Fluentd (tests/emulators/forward_server.py, Fluentd flavour) whose
filters read `log`. The forward source takes `log` as the event's message; by default the
sink writes it as `message`, and with message_key: log as `log` again, the other keys as
they came. A record that had both keys keeps both: the field named as the message key
goes as `_log` (no key twice in one map)."""
from fluent import sender

from harness import Emulator, Sluice, WORK, free_port, get_ndjson, http_json, wait_until

p_fd, api, p_fwd = free_port(), free_port(), free_port()
fd = Emulator("forward_server.py", "--port", str(p_fd), "--flavor", "fluentd")
fd_url = "http://127.0.0.1:%d" % fd.port
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%(fwd)d" }
sinks:
  up:
    type: forward
    inputs: [fwd]
    servers: ["127.0.0.1:%(fd)d"]
    message_key: log
    batch: { timeout_ms: 20 }
""" % {"w": WORK, "api": api, "fwd": p_fwd, "fd": p_fd}).start()

fl = sender.FluentSender("kube.var.log", host="127.0.0.1", port=p_fwd, nanosecond_precision=True)
assert fl.emit(None, {"log": "GET /healthz 200", "stream": "stdout", "time": "2024-05-01"})
assert fl.emit(None, {"message": "structured", "log": "raw line"})
fl.close()

wait_until(lambda: len(get_ndjson(fd_url + "/events")) >= 2, 60, "both records at Fluentd")
recs = [e["record"] for e in get_ndjson(fd_url + "/events")]
assert {"log": "GET /healthz 200", "stream": "stdout", "time": "2024-05-01"} in recs, recs
assert {"log": "structured", "_log": "raw line"} in recs, recs
assert http_json(fd_url + "/stats")["closed_bad_data"] == 0
assert s.stop() == 0, s.log_text()[-2000:]
fd.stop()
print("ok")
