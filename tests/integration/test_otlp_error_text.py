"""otlp sink: the reason a collector gives for refusing a request is said as its text. A
collector answers an error with a google.rpc.Status in the request's encoding; the sink's
log line and the DLQ record's reason showed a protobuf one's bytes (`http 404:    >not
found...`) and a JSON one whole. Here the collector is sluice's own otlp source, exported
to on a wrong path (/v1/log): the events of both encodings are dead-lettered with
`rejected: http 404: not found: ...` exactly, and the log line says it too."""
import json
import os

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 5
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("line %d\n" % i)

api, port = free_port(), free_port()
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(w)s/logs/*.log"] }
  collector: { type: otlp, address: "127.0.0.1:%(port)d" }
sinks:
  pb:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%(port)d/v1/log"
  js:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%(port)d/v1/log"
    encoding: json
  drop: { type: blackhole, inputs: [collector] }
""" % {"w": WORK, "api": api, "port": port}).start()

want = "rejected: http 404: not found: logs are exported to the configured path (/v1/logs)"
for sink in ("pb", "js"):
    dlq = os.path.join(WORK, "data", "dlq", sink + ".ndjson")
    wait_until(lambda: len(ndjson_file(dlq)) == N, 30, sink + "'s events in the DLQ")
    reasons = {d["reason"] for d in ndjson_file(dlq)}
    assert reasons == {want}, (sink, reasons)
with open(s.log_path) as f:
    text = f.read()
assert "pb: event dead-lettered: " + want in text, text[-2000:]
assert s.stop() == 0
log("ok")
