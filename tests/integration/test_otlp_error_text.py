"""otlp sink: the reason a collector gives for refusing a request is said as its text. A
collector answers an error with a google.rpc.Status in the request's encoding; the sink's
log line and the DLQ record's reason showed a protobuf one's bytes (`http 404:    >not
found...`) and a JSON one whole. Here the collector is sluice's own otlp source, exported
to on a wrong path (/v1/log): the events of both encodings are dead-lettered with
`rejected: http 404: not found: ...` exactly, and the log line says it too.

A 404 to a path that is not the OTLP one (that typo, or a base URL given with a path of its
own, /otlp, which is then used as given) adds how to set the endpoint; a 404 to /v1/logs
itself (here a collector that serves another path) does not: the path was not the fault."""
import os

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
N = 5
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("line %d\n" % i)

api, port, port2 = free_port(), free_port(), free_port()
s = Sluice("""
data_dir: %(w)s/data
api: { address: "127.0.0.1:%(api)d" }
sources:
  in: { type: file, include: ["%(w)s/logs/*.log"] }
  collector: { type: otlp, address: "127.0.0.1:%(port)d" }
  collector2: { type: otlp, address: "127.0.0.1:%(port2)d", path: /ingest/logs }
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
  base:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%(port)d/otlp"
  std:
    type: otlp
    inputs: [in]
    endpoint: "http://127.0.0.1:%(port2)d"
  drop: { type: blackhole, inputs: [collector, collector2] }
""" % {"w": WORK, "api": api, "port": port, "port2": port2}).start()

said = "rejected: http 404: not found: logs are exported to the configured path (/v1/logs)"
hint = (" (the OTLP/HTTP logs path is /v1/logs: set endpoint to the collector's base URL or"
        " its full /v1/logs URL)")
# collector2 serves /ingest/logs and says so; the sink posts to /v1/logs: no hint.
wants = {"pb": said + hint, "js": said + hint, "base": said + hint,
         "std": said.replace("(/v1/logs)", "(/ingest/logs)")}
for sink, want in wants.items():
    dlq = os.path.join(WORK, "data", "dlq", sink + ".ndjson")
    wait_until(lambda: len(ndjson_file(dlq)) == N, 30, sink + "'s events in the DLQ")
    reasons = {d["reason"] for d in ndjson_file(dlq)}
    assert reasons == {want}, (sink, reasons)
with open(s.log_path) as f:
    text = f.read()
for sink in ("pb", "base", "std"):
    assert "%s: event dead-lettered: %s\n" % (sink, wants[sink]) in text, (sink, text[-3000:])
assert s.stop() == 0
log("ok")
