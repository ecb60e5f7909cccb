"""otlp sink against what the OpenTelemetry Collector's OTLP/HTTP receiver reads, beyond the
proto3 JSON mapping: non-finite doubles (logfmt `-inf`, `-nan`) must travel as the strings
"-Infinity" / "NaN" in OTLP JSON (the collector refuses null, which made the whole request a
400), and an endpoint with a query string but no path gets /v1/logs before its query
(`http://host:4318?tenant=x` was requested as `...?tenant=x/v1/logs`). Both encodings, every
record arrives, the receiver refuses nothing."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, wait_until

lines = ["msg=\"line %d\" a=-inf b=-nan c=1.5 d=%d" % (i, i) for i in range(20)]
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("\n".join(lines) + "\n")

emu = Emulator("otlp_receiver.py")
base = "http://127.0.0.1:%d" % emu.port


def get(path):
    return json.loads(urllib.request.urlopen(base + path, timeout=5).read())


port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: auto }
sinks:
  j: { type: otlp, inputs: [p], endpoint: "%s?tenant=t1", encoding: json, batch: { timeout_ms: 20 } }
  b: { type: otlp, inputs: [p], endpoint: "%s/?tenant=t2", encoding: protobuf, batch: { timeout_ms: 20 } }
""" % (WORK, port, logs, base, base)).start()
try:
    def records(query):
        out = []
        for req in get("/records"):
            if req["query"] != query:
                continue
            for rl in req["body"]["resourceLogs"]:
                for sl in rl["scopeLogs"]:
                    out.extend(sl["logRecords"])
        return out

    wait_until(lambda: len(records("tenant=t1")) == len(lines), 30, "JSON records")
    wait_until(lambda: len(records("tenant=t2")) == len(lines), 30, "protobuf records")
    st = get("/stats")
    assert st["bad"] == 0 and st["records"] == 2 * len(lines), st
    for q, enc in (("tenant=t1", "json"), ("tenant=t2", "protobuf")):
        assert {r["encoding"] for r in get("/records") if r["query"] == q} == {enc}
        for r in records(q):
            attrs = {a["key"]: a["value"] for a in r["attributes"]}
            assert attrs["a"] == {"doubleValue": "-Infinity"}, (enc, attrs)
            assert attrs["b"] == {"doubleValue": "NaN"}, (enc, attrs)
            assert attrs["c"] == {"doubleValue": 1.5}, (enc, attrs)
        assert sorted(r["body"]["stringValue"] for r in records(q)) == sorted("line %d" % i for i in range(20))
    assert s.metric("sluice_dlq_events_total", component_id="j") in (None, 0.0)
    assert s.stop() == 0
finally:
    s.kill9()
    emu.stop()
