"""otlp sink end to end: file -> parse(auto) -> severity -> otlp, protobuf+gzip and JSON at
once, against the OTLP receiver (which decodes protobuf with python3-protobuf). Checks field
by field what arrives for JSON, logfmt and plain lines, severity for every spelling, trace
ids valid and invalid, nested values, resource grouping, headers; then 503 and 429 with
Retry-After (retried, nothing lost), partial_success (counted) and 400 (dead-lettered)."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, wait_until

TID = "0af7651916cd43dd8448eb211c80319c"
SID = "b7ad6b7169203331"
# (notice / syslog 5 are INFO2 = 10 in the sink, but the severity transform upstream
# normalises them to the word "info")
spellings = {
    "trace": 1, "TRACE": 1, "verbose": 1, "debug": 5, "DBG": 5, "info": 9, "Information": 9,
    "I": 9, "notice": 9, "warn": 13, "WARNING": 13, "W": 13, "error": 17, "err": 17,
    "E": 17, "fatal": 21, "CRITICAL": 21, "panic": 21, "emerg": 21,
    "0": 21, "3": 17, "4": 13, "5": 9, "6": 9, "7": 5, "30": 9, "50": 17,
}
lines = [
    # the seed's example input
    json.dumps({"timestamp": "2024-01-15T10:30:45.123Z", "level": "info",
                "message": "Job processing started", "trace_id": "abc123def456", "job_id": "job-789",
                "machine_id": "comfyui-prod-1", "worker_id": "comfyui-prod-1-worker-0",
                "source": "worker.comfyui", "component": "job-executor"}),
    'ts=2024-01-15T10:30:46Z level=WARNING msg="disk almost full" disk=sda1 pct=93.5 count=3 ok=true',
    "just some plain text = not logfmt",
    json.dumps({"level": "err", "message": "nested", "http": {"status": 500, "path": "/x"},
                "tags": ["a", 2, True], "trace_id": TID, "span_id": SID, "job_id": "j1"}),
    json.dumps({"message": "parent", "traceparent": "00-%s-%s-01" % (TID, SID)}),
    json.dumps({"message": "bad ids", "trace_id": "xyz", "span_id": "00000000000000000000000000000000"}),
    json.dumps({"message": "from a pod", "service.name": "api", "k8s.pod.name": "p1", "level": 6}),
]
for word in spellings:
    lines.append(json.dumps({"level": word, "message": "sev %s" % word}))

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("\n".join(lines) + "\n")

emu = Emulator("otlp_receiver.py", "--require-header", "Authorization: Bearer s3cret",
               "--require-header", "Dash0-Dataset: production")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def get(path):
    return json.loads(urllib.request.urlopen(base + path, timeout=5).read())


def records(enc):
    out = []
    for req in get("/records"):
        if req["encoding"] != enc:
            continue
        for rl in req["body"]["resourceLogs"]:
            res = {a["key"]: a["value"] for a in rl.get("resource", {}).get("attributes", [])}
            for sl in rl["scopeLogs"]:
                assert sl["scope"]["name"] == "sluice"
                for r in sl["logRecords"]:
                    r["_resource"] = res
                    r["_attrs"] = {a["key"]: a["value"] for a in r.get("attributes", [])}
                    r["_req"] = req
                    out.append(r)
    return out


api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: auto }
  sev: { type: severity, inputs: [p] }
sinks:
  pb:
    type: otlp
    inputs: [sev]
    endpoint: "%s"
    headers: { Authorization: "Bearer ${OTLP_KEY}", Dash0-Dataset: production }
    resource: { service.name: emp-job-queue, deployment.environment: production }
    batch: { max_events: 1000, timeout_ms: 50 }
  js:
    type: otlp
    inputs: [sev]
    endpoint: "%s/v1/logs"
    encoding: json
    compression: none
    headers: { Authorization: "Bearer ${OTLP_KEY}", Dash0-Dataset: production }
    resource: { service.name: emp-job-queue, deployment.environment: production }
    batch: { max_events: 1000, timeout_ms: 50 }
""" % (WORK, api, logs, base, base), env={"OTLP_KEY": "s3cret"}).start()

wait_until(lambda: len(records("protobuf")) == len(lines) and len(records("json")) == len(lines),
           30, "every record in both encodings")
st = get("/stats")
assert st["unauthorized"] == 0 and st["bad"] == 0, st
pb, js = records("protobuf"), records("json")
for r in pb:
    assert r["_req"]["gzip"] and r["_req"]["headers"]["Content-Type"] == "application/x-protobuf"
for r in js:
    assert not r["_req"]["gzip"] and r["_req"]["headers"]["Content-Type"] == "application/json"


def strip(r):
    return {k: v for k, v in r.items() if k not in ("observedTimeUnixNano", "_req")}


# both encodings carry the same data
pbk = {r["body"].get("stringValue"): strip(r) for r in pb}
jsk = {r["body"].get("stringValue"): strip(r) for r in js}
for k in pbk:
    assert pbk[k] == jsk.get(k), (pbk[k], jsk.get(k))

by_body = {r["body"].get("stringValue"): r for r in pb}
S = lambda v: {"stringValue": v}

seed = by_body["Job processing started"]
# 2024-01-15T10:30:45.123Z (the seed's sample output carries 10:50:45, a typo there)
assert seed["timeUnixNano"] == "1705314645123000000", seed["timeUnixNano"]
assert seed["severityNumber"] == "SEVERITY_NUMBER_INFO" or seed["severityNumber"] == 9, seed
assert seed["severityText"] == "INFO"
assert seed["_resource"] == {"service.name": S("emp-job-queue"),
                             "deployment.environment": S("production")}, seed["_resource"]
# an invalid trace id is kept as an attribute, correlation fields untouched
for k, v in (("trace_id", "abc123def456"), ("job_id", "job-789"), ("machine_id", "comfyui-prod-1"),
             ("worker_id", "comfyui-prod-1-worker-0"), ("source", "worker.comfyui"),
             ("component", "job-executor")):
    assert seed["_attrs"][k] == S(v), (k, seed["_attrs"])
assert "traceId" not in seed and "level" not in seed["_attrs"]
assert int(seed["observedTimeUnixNano"]) > 0

lf = by_body["disk almost full"]
assert lf["timeUnixNano"] == "1705314646000000000"
assert lf["severityText"] == "WARN"
assert lf["_attrs"]["disk"] == S("sda1")
assert lf["_attrs"]["pct"] == {"doubleValue": 93.5}
assert lf["_attrs"]["count"] == {"intValue": "3"}
assert lf["_attrs"]["ok"] == {"boolValue": True}

plain = by_body["just some plain text = not logfmt"]
assert plain["_attrs"].keys() <= {"log.file.path", "log.offset"}, plain["_attrs"]
assert "severityText" not in plain

nested = by_body["nested"]
assert nested["severityText"] == "ERROR"
assert nested["traceId"] == TID and nested["spanId"] == SID
assert "trace_id" not in nested["_attrs"] and nested["_attrs"]["job_id"] == S("j1")
assert nested["_attrs"]["http"] == {"kvlistValue": {"values": [
    {"key": "status", "value": {"intValue": "500"}}, {"key": "path", "value": S("/x")}]}}
assert nested["_attrs"]["tags"] == {"arrayValue": {"values": [
    S("a"), {"intValue": "2"}, {"boolValue": True}]}}

parent = by_body["parent"]
assert parent["traceId"] == TID and parent["spanId"] == SID and parent["flags"] == 1
assert "traceparent" not in parent["_attrs"]

bad = by_body["bad ids"]
assert "traceId" not in bad and "spanId" not in bad
assert bad["_attrs"]["trace_id"] == S("xyz")
assert bad["_attrs"]["span_id"] == S("0" * 32)

pod = by_body["from a pod"]
assert pod["_resource"] == {"service.name": S("api"), "deployment.environment": S("production"),
                            "k8s.pod.name": S("p1")}, pod["_resource"]
assert pod["severityText"] == "INFO"
assert pod["_req"] is not None

for word, num in spellings.items():
    r = by_body["sev %s" % word]
    got = r.get("severityNumber")
    assert got == num, (word, got, num)

# --- faults: 503 with Retry-After is retried, partial_success counted, 400 dead-lettered
before = st["records"]
control(fail=2, status=503, retry_after=1)
with open(os.path.join(logs, "a.log"), "a") as f:
    for i in range(50):
        f.write(json.dumps({"message": "retry %d" % i}) + "\n")
wait_until(lambda: get("/stats")["records"] == before + 100, 30, "records after 503s")
assert get("/stats")["failed"] == 2
# (counted once the sink has the answer, a moment after the receiver stored the records)
wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="pb") == len(lines) + 50,
           30, "pb's sent count")

# 429 with Retry-After: retried as well, nothing lost, counted as http_429
control(fail=2, status=429, retry_after=1)
with open(os.path.join(logs, "a.log"), "a") as f:
    for i in range(20):
        f.write(json.dumps({"message": "throttled %d" % i}) + "\n")
wait_until(lambda: get("/stats")["records"] == before + 140, 30, "records after 429s")
assert get("/stats")["failed"] == 4
assert (s.metric("sluice_component_errors_total", component_id="pb", reason="http_429") or 0) + \
    (s.metric("sluice_component_errors_total", component_id="js", reason="http_429") or 0) == 2
before += 40

control(partial=3)
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write(json.dumps({"message": "partial"}) + "\n")
wait_until(lambda: get("/stats")["records"] == before + 102, 30, "partial request")
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="pb", reason="partial_success") or 0)
           + (s.metric("sluice_component_errors_total", component_id="js", reason="partial_success") or 0) == 1,
           30, "partial_success counted")

control(reject_marker="poison")
with open(os.path.join(logs, "a.log"), "a") as f:
    f.write(json.dumps({"message": "poison pill"}) + "\n")
dlq = os.path.join(WORK, "data", "dlq", "pb.ndjson")
wait_until(lambda: os.path.exists(dlq) and "poison pill" in open(dlq).read(), 30, "400 dead-lettered")
assert s.stop() == 0
emu.stop()
print("ok")
