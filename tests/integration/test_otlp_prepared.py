"""otlp sinks side by side on one transform: the first to take a batch encodes its records
ahead, on the source's thread (sink vtable `prepare`); the others must not use those bytes.
file -> parse(json) -> three otlp sinks, each with its own receiver: `a` (protobuf + gzip,
memory buffer: prepares), `b` (JSON, `resource_keys: [job]`: its records differ from a's)
and `c` (JSON, disk buffer: never prepares). Every record arrives once at each, with the
shape its own sink's settings give it: job an attribute at a and c, a resource attribute
of b's groups (one job per ResourceLogs) and never one of b's records."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = 3000
JOBS = ["job-%d" % k for k in range(5)]
LEVELS = [("debug", 5), ("info", 9), ("warn", 13), ("error", 17)]
SEV = {5: "DEBUG", 9: "INFO", 13: "WARN", 17: "ERROR"}
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
want = {}
with open(os.path.join(logs, "app.log"), "w") as f:
    for i in range(N):
        word, num = LEVELS[i % 4]
        rec = {"level": word, "msg": "event %05d" % i, "job": JOBS[i % 5], "n": i,
               "trace_id": "%032x" % (i + 1), "span_id": "%016x" % (i + 7)}
        f.write(json.dumps(rec) + "\n")
        want["event %05d" % i] = (rec, num)

emus = {k: Emulator("otlp_receiver.py") for k in "abc"}
base = {k: "http://127.0.0.1:%d" % e.port for k, e in emus.items()}


def groups(k):
    """(resource attributes, record) of every record the receiver of sink k decoded."""
    with urllib.request.urlopen(base[k] + "/records", timeout=10) as r:
        reqs = json.loads(r.read())
    out = []
    for req in reqs:
        for rl in req["body"]["resourceLogs"]:
            res = {a["key"]: a["value"] for a in rl.get("resource", {}).get("attributes", [])}
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    out.append((res, rec))
    return out


s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  a: { type: otlp, inputs: [p], endpoint: "%s", resource: { service.name: shop },
       batch: { max_events: 500, timeout_ms: 50 } }
  b: { type: otlp, inputs: [p], endpoint: "%s", encoding: json, compression: none,
       resource: { service.name: shop }, resource_keys: [job],
       batch: { max_events: 700, timeout_ms: 50 } }
  c: { type: otlp, inputs: [p], endpoint: "%s", encoding: json, compression: none,
       resource: { service.name: shop }, buffer: { type: disk },
       batch: { max_events: 300, timeout_ms: 50 } }
""" % (WORK, free_port(), logs, base["a"], base["b"], base["c"])).start()

wait_until(lambda: all(len(groups(k)) >= N for k in "abc"), 60, "every record at every receiver")
S = lambda v: {"stringValue": v}
for k in "abc":
    seen = set()
    jobs_of_group = {}
    for res, rec in groups(k):
        body = rec["body"]["stringValue"]
        assert body in want and body not in seen, (k, body)
        seen.add(body)
        src, num = want[body]
        attrs = {a["key"]: a["value"] for a in rec.get("attributes", [])}
        sev = rec.get("severityNumber")
        assert sev in (num, "SEVERITY_NUMBER_" + SEV[num]), (k, sev, num)
        assert int(attrs["n"]["intValue"]) == src["n"], (k, attrs)
        assert rec["traceId"].lower().endswith("%x" % (src["n"] + 1)), (k, rec["traceId"])
        assert rec["spanId"].lower().endswith("%x" % (src["n"] + 7)), (k, rec["spanId"])
        assert int(rec["observedTimeUnixNano"]) > 0
        assert res.get("service.name") == S("shop"), (k, res)
        if k == "b":
            assert "job" not in attrs, ("b's records must not carry job", attrs)
            assert res.get("job") == S(src["job"]), (k, res, src)
            jobs_of_group.setdefault(id(res), set()).add(src["job"])
        else:
            assert attrs["job"] == S(src["job"]), (k, attrs)
            assert "job" not in res, (k, res)
    assert len(seen) == N, (k, len(seen))
    assert all(len(j) == 1 for j in jobs_of_group.values())
assert s.stop() == 0
log("ok: %d records at each of 3 otlp sinks, each shaped by its own settings" % N)
