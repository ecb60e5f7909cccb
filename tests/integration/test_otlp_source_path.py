"""otlp source with its own `path` (a collector behind a prefix): an export to the default
/v1/logs is a 404 whose message names the configured path, not /v1/logs; an export to the
configured path with a query string is served (the query is no part of the path), and its
record is delivered."""
import http.client
import json
import os

from harness import Sluice, WORK, free_port, log, ndjson_file, wait_until

JS = "application/json"
PATH = "/otlp/v1/logs"


def post(port, path, body):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("POST", path, body=body, headers={"Content-Type": JS})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def export(msg):
    return json.dumps({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"body": {"stringValue": msg}}]}]}]}).encode()


api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  otel: { type: otlp, address: "127.0.0.1:%d", path: "%s" }
sinks:
  out: { type: file, inputs: [otel], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, PATH, out)).start()
try:
    st, body = post(port, "/v1/logs", export("to the default path"))
    log("POST /v1/logs ->", st, body)
    assert st == 404, (st, body)
    assert json.loads(body)["message"] == \
        "not found: logs are exported to the configured path (%s)" % PATH, body
    st, body = post(port, PATH + "?tenant=a", export("with a query"))
    log("POST %s?tenant=a ->" % PATH, st, body)
    assert st == 200, (st, body)
    wait_until(lambda: [e["message"] for e in ndjson_file(out)] == ["with a query"], 60,
               "the record exported with a query string")
finally:
    assert s.stop() == 0
log("ok")
