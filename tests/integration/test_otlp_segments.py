"""An otlp sink with gzip compresses its records ahead, on the source's thread, in
segments of batch.max_events events (note 8 of otlp_encode.c); each request joins them
into one gzip member. Here the receiver answers the first requests 413, so the sink halves
its batch target and cuts requests inside segments: the records of a cut segment are
written again on the sink thread. For protobuf and JSON, file -> parse(json) -> otlp:
every record arrives exactly once with its fields, in gzip'd requests."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, post_json, wait_until

N = 4000
LEVELS = [("debug", 5), ("info", 9), ("warn", 13), ("error", 17)]
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
want = {}
with open(os.path.join(logs, "app.log"), "w") as f:
    for i in range(N):
        word, num = LEVELS[i % 4]
        rec = {"level": word, "msg": "event %05d %s" % (i, "x" * (i % 300)), "n": i,
               "trace_id": "%032x" % (i + 1), "ok": i % 3 == 0}
        f.write(json.dumps(rec) + "\n")
        want["event %05d %s" % (i, "x" * (i % 300))] = (rec, num)


def requests(base):
    with urllib.request.urlopen(base + "/records", timeout=10) as r:
        return json.loads(r.read())


def records(reqs):
    return [rec for req in reqs for rl in req["body"]["resourceLogs"]
            for sl in rl["scopeLogs"] for rec in sl["logRecords"]]


for encoding in ("protobuf", "json"):
    emu = Emulator("otlp_receiver.py")
    base = "http://127.0.0.1:%d" % emu.port
    post_json(base + "/control", {"fail": 3, "status": 413})
    data = os.path.join(WORK, "data-" + encoding)
    s = Sluice("""
data_dir: %s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  out: { type: otlp, inputs: [p], endpoint: "%s", encoding: %s,
         resource: { service.name: shop }, batch: { max_events: 400, timeout_ms: 50 } }
""" % (data, free_port(), logs, base, encoding), name="sluice-" + encoding).start()
    wait_until(lambda: len(records(requests(base))) >= N, 60, "every record (%s)" % encoding)
    reqs = requests(base)
    assert all(r["gzip"] and r["encoding"] == encoding for r in reqs), encoding
    seen = set()
    for rl in (rl for req in reqs for rl in req["body"]["resourceLogs"]):
        res = {a["key"]: a["value"] for a in rl.get("resource", {}).get("attributes", [])}
        assert res == {"service.name": {"stringValue": "shop"}}, res
        for sl in rl["scopeLogs"]:
            assert sl["scope"]["name"] == "sluice", sl["scope"]
            for rec in sl["logRecords"]:
                body = rec["body"]["stringValue"]
                assert body in want and body not in seen, (encoding, body[:20])
                seen.add(body)
                src, num = want[body]
                attrs = {a["key"]: a["value"] for a in rec.get("attributes", [])}
                assert rec.get("severityNumber") in (num, "SEVERITY_NUMBER_" + src["level"].upper()), rec
                assert int(attrs["n"]["intValue"]) == src["n"], attrs
                assert attrs["ok"] == {"boolValue": src["ok"]}, attrs
                assert rec["traceId"].lower().endswith("%x" % (src["n"] + 1)), rec["traceId"]
    assert len(seen) == N, (encoding, len(seen))
    # the refused requests were sent again, smaller: more requests than N / max_events
    assert len(reqs) > N // 400, (encoding, len(reqs))
    wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="out") >= N,
               30, "sent events")
    assert s.stop() == 0
    emu.stop()
    log("ok (%s): %d records once each in %d gzip'd requests after 3 refused with 413"
        % (encoding, N, len(reqs)))
