"""Tag routing: a forward source feeds `route` transforms (Fluentd `*` / `**` patterns and
an inverted catch-all) and each sink gets exactly the events of its tags. Also GET /api/plugins.json."""
import json
import os

from fwdclient import Client, packed_entries
from harness import Sluice, WORK, free_port, ndjson_file, wait_until

api, port = free_port(), free_port()
outs = {k: os.path.join(WORK, k + ".ndjson") for k in ("app", "web", "rest")}
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  fwd: { type: forward, address: "127.0.0.1:%d" }
transforms:
  app:  { type: route, inputs: [fwd], match: "app.**" }
  web:  { type: route, inputs: [fwd], match: ["web.*", "{nginx,apache}.access"] }
  rest: { type: route, inputs: [fwd], match: ["app.**", "web.*", "{nginx,apache}.access"], invert: true }
sinks:
  app_out:  { type: file, inputs: [app], path: "%s", batch: { timeout_ms: 20 } }
  web_out:  { type: file, inputs: [web], path: "%s", batch: { timeout_ms: 20 } }
  rest_out: { type: file, inputs: [rest], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, outs["app"], outs["web"], outs["rest"])).start()

tags = {"app": "app", "app.api": "app", "app.api.v2": "app", "web.front": "web",
        "nginx.access": "web", "apache.access": "web", "web.front.deep": "rest",
        "application": "rest", "db": "rest", "nginx.error": "rest"}
c = Client(port)
for i, (tag, dest) in enumerate(sorted(tags.items())):
    c.send([tag, packed_entries([{"message": "%s %d" % (tag, k)} for k in range(5)]), {"chunk": "c%d" % i}])
    c.wait_ack("c%d" % i)
c.close()


def read(k):
    return ndjson_file(outs[k])


wait_until(lambda: sum(len(read(k)) for k in outs) == 5 * len(tags), 30, "routed events")
for k in outs:
    got = {e["tag"] for e in read(k)}
    want = {t for t, d in tags.items() if d == k}
    assert got == want, (k, got, want)
# Fluentd-style monitor document for load balancers and dashboards.
code, body = s.get("/api/plugins.json")
assert code == 200, code
plugins = {p["plugin_id"]: p for p in json.loads(body)["plugins"]}
assert plugins["fwd"]["plugin_category"] == "input" and plugins["fwd"]["type"] == "forward"
assert plugins["app"]["plugin_category"] == "filter"
out = plugins["app_out"]
assert out["output_plugin"] is True and out["buffer_queue_length"] >= 0 and "retry_count" in out
assert plugins["fwd"]["emit_records"] == 5 * len(tags)
assert s.stop() == 0
