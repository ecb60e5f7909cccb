"""http source: a record with a "tag" key of its own, posted to /app/web (tag app.web),
is routed by the path's tag, and its own value is kept as "_tag" (Fluent Bit's http input
keeps it a record key; Vector's events from a fluent source carry one). The record's key
was a second "tag" field that routes read: a route on app.** dropped the event, and the
file sink wrote two "tag" keys. JSON and msgpack bodies alike."""
import json
import os
import urllib.request

import msgpack

from harness import Sluice, WORK, free_port, ndjson_file, wait_until

api, port = free_port(), free_port()
out, rest = os.path.join(WORK, "app.ndjson"), os.path.join(WORK, "rest.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d" }
transforms:
  app:   { type: route, inputs: [web], match: ["app.**"] }
  other: { type: route, inputs: [web], match: ["app.**"], invert: true }
sinks:
  app_out:  { type: file, inputs: [app], path: "%s", batch: { timeout_ms: 20 } }
  rest_out: { type: file, inputs: [other], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out, rest)).start()


def post(path, body, ctype):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body,
                                 headers={"Content-Type": ctype}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200, r.status


post("/app/web", json.dumps([{"message": "j1", "tag": "v2"}, {"message": "j2"}]).encode(),
     "application/json")
post("/app/web", msgpack.packb({"message": "m1", "tag": "kube.var.log"}), "application/msgpack")
post("/sys/cron", json.dumps({"message": "c1", "tag": "app.fake"}).encode(), "application/json")

wait_until(lambda: len(ndjson_file(out)) == 3 and len(ndjson_file(rest)) == 1, 30,
           "every event routed by its path")
for line in open(out).read().splitlines() + open(rest).read().splitlines():
    assert line.count('"tag":') == 1, line
got = {e["message"]: e for e in ndjson_file(out) + ndjson_file(rest)}
assert got["j1"]["tag"] == "app.web" and got["j1"]["_tag"] == "v2", got["j1"]
assert got["j2"]["tag"] == "app.web" and "_tag" not in got["j2"], got["j2"]
assert got["m1"]["tag"] == "app.web" and got["m1"]["_tag"] == "kube.var.log", got["m1"]
assert got["c1"]["tag"] == "sys.cron" and got["c1"]["_tag"] == "app.fake", got["c1"]
assert s.stop() == 0, s.log_text()[-2000:]
print("ok")
