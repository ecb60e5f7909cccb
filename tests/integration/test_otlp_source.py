"""otlp source: OTLP/HTTP logs in protobuf and JSON (gzip too) with every field of the log
data model checked in the file sink's output; partial success for a record over
max_record_bytes; 400/404/405/413/415 answers; 429 + Retry-After when the buffer downstream
is full, then every accepted record delivered; sluice's otlp sink -> otlp source round trip
with identical records; kill -9 mid-stream with a disk buffer, every record counted (the
client retries unanswered requests; duplicates only of those)."""
import gzip
import http.client
import json
import os
import sys
import threading
import time

from harness import (ROOT, Emulator, Sluice, WORK, free_port, get_text, http_json, log, ndjson_file,
                     wait_until)

sys.path.insert(0, os.path.join(ROOT, "tests", "emulators"))
import otlp_pb  # noqa: E402

PB, JS = "application/x-protobuf", "application/json"


def post(port, body, ctype=PB, gz=False, path="/v1/logs", method="POST", timeout=60):
    """Returns (status, headers dict, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": ctype} if ctype else {}
    if gz:
        body = gzip.compress(body)
        h["Content-Encoding"] = "gzip"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def read_out(path):
    return ndjson_file(path)  # complete lines: sluice may be writing the last


def kv(k, v):
    return {"key": k, "value": v}


def request(tag, n, extra_attrs=(), body_kind="string"):
    recs = []
    for i in range(n):
        r = {"timeUnixNano": str(1700000000000000000 + i), "observedTimeUnixNano": "1700000000500000000",
             "severityNumber": 13, "severityText": "Warning",
             "attributes": [kv("tag", {"stringValue": tag}), kv("i", {"intValue": str(i)}),
                            kv("ratio", {"doubleValue": 0.5}), kv("ok", {"boolValue": True}),
                            kv("list", {"arrayValue": {"values": [{"intValue": "1"}, {"stringValue": "two"}]}}),
                            kv("map", {"kvlistValue": {"values": [kv("a", {"boolValue": False})]}}),
                            kv("raw", {"bytesValue": "AAEC"})] + list(extra_attrs),
             "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "flags": 1,
             "eventName": "app.start"}
        if body_kind == "string":
            r["body"] = {"stringValue": "%s %d" % (tag, i)}
        else:
            r["body"] = {"kvlistValue": {"values": [kv("msg", {"stringValue": "%s %d" % (tag, i)})]}}
        recs.append(r)
    return {"resourceLogs": [{
        "resource": {"attributes": [kv("service.name", {"stringValue": "checkout"}),
                                    kv("host.name", {"stringValue": "node-1"})]},
        "scopeLogs": [{"scope": {"name": "io.example.log", "version": "1.2.0",
                                 "attributes": [kv("lib", {"stringValue": "x"})]},
                       "logRecords": recs}]}]}


# ---- fields, encodings, answers ----------------------------------------------------------
api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  otel: { type: otlp, address: "127.0.0.1:%d", max_body_bytes: 256KiB, max_record_bytes: 4KiB }
sinks:
  out: { type: file, inputs: [otel], path: "%s", id_key: _id, batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()

expected = 0
for tag, ctype, gz, enc in [("pb", PB, False, otlp_pb.encode_request),
                            ("pbgz", PB, True, otlp_pb.encode_request),
                            ("js", JS, False, lambda d: json.dumps(d).encode()),
                            ("jsgz", JS + "; charset=utf-8", True, lambda d: json.dumps(d).encode())]:
    st, h, body = post(port, enc(request(tag, 3)), ctype, gz)
    assert st == 200, (tag, st, body)
    if ctype.startswith(JS):
        assert h["content-type"] == JS and json.loads(body) == {}, (h, body)
    else:
        assert h["content-type"] == PB and body == b"", (h, body)
    expected += 3
# A body that is not a string: structured field `body`.
st, _, body = post(port, otlp_pb.encode_request(request("kv", 1, body_kind="kvlist")))
assert st == 200, (st, body)
expected += 1

# A chunked body (no Content-Length), as some clients stream it.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
ck = otlp_pb.encode_request(request("chunked", 2))
c.request("POST", "/v1/logs", body=iter([ck[:7], ck[7:]]), encode_chunked=True,
          headers={"Content-Type": PB, "Transfer-Encoding": "chunked"})
r = c.getresponse()
assert r.status == 200 and r.read() == b"", r.status
c.close()
expected += 2

# A client's retry of the same request: the same bytes, the same event ids.
dup = otlp_pb.encode_request(request("dup", 2))
for _ in range(2):
    st, _, body = post(port, dup)
    assert st == 200, (st, body)
expected += 4

# Partial success: one record over max_record_bytes among two.
big = request("part", 2)
big["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["attributes"].append(
    kv("pad", {"stringValue": "x" * 5000}))
for ctype, enc in [(PB, otlp_pb.encode_request), (JS, lambda d: json.dumps(d).encode())]:
    st, _, body = post(port, enc(big), ctype)
    assert st == 200, (st, body)
    if ctype == PB:
        rej, msg = otlp_pb.decode_response(body)
    else:
        ps = json.loads(body)["partialSuccess"]
        rej, msg = int(ps["rejectedLogRecords"]), ps["errorMessage"]
    assert rej == 1 and "max_record_bytes" in msg, (rej, msg)
    expected += 1

# Refusals.
st, _, body = post(port, b"\x0a\x05\x12\x03", PB)  # a length past the end
assert st == 400 and "past the end" in otlp_pb.decode_status(body)[1], (st, body)
st, _, body = post(port, b"\x0b", PB)  # wire type 3 (group)
assert st == 400, (st, body)
st, _, body = post(port, b'{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"abc"}]}]}]}', JS)
assert st == 400 and "traceId" in json.loads(body)["message"], (st, body)
st, _, body = post(port, b'{"resourceLogs": [', JS)
assert st == 400 and json.loads(body)["code"] == 3, (st, body)
st, _, body = post(port, b"\x00" * 20, PB, gz=False, path="/v1/logs")
assert st == 400, (st, body)
st, _, body = post(port, b"{}", "text/plain")
assert st == 415, (st, body)
st, _, body = post(port, b"{}", JS, path="/v1/traces")
assert st == 404, (st, body)
st, _, body = post(port, b"", JS, method="GET")
assert st in (404, 405), st
st, _, body = post(port, b"x" * (300 * 1024), PB)
assert st == 413, (st, body)
# A gzip bomb: 3 MiB inflated from a small body, past 8 x max_body_bytes.
st, _, body = post(port, b"\x00" * (3 << 20), PB, gz=True)
assert st == 413, (st, body)
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
c.request("POST", "/v1/logs", body=b"\x1f\x8b garbage", headers={"Content-Type": PB, "Content-Encoding": "gzip"})
r = c.getresponse()
assert r.status == 400, r.status
r.read()
c.close()

wait_until(lambda: len(read_out(out)) == expected, 60, "every accepted record in the output")
ev = read_out(out)
assert len(ev) == expected, (len(ev), expected)
dups = [e for e in ev if e.get("message", "").startswith("dup ")]
assert len(dups) == 4, dups
ids = {}
for e in dups:
    ids.setdefault(e["message"], set()).add(e["_id"])
assert all(len(v) == 1 for v in ids.values()), ids  # both copies of a record: one id
assert ids["dup 0"] != ids["dup 1"] and all(e["_id"] for e in ev)
assert len({e["_id"] for e in ev}) == len(ev) - 2, "ids repeat only for the resent request"
by = {e["message"]: e for e in ev if e.get("message")}
for tag in ("pb", "pbgz", "js", "jsgz", "chunked"):
    e = by["%s 1" % tag]
    want = {"message": "%s 1" % tag, "service.name": "checkout", "host.name": "node-1",
            "otel.scope.name": "io.example.log", "otel.scope.version": "1.2.0",
            "otel.scope.attributes.lib": "x", "tag": tag, "i": 1, "ratio": 0.5, "ok": True,
            "list": [1, "two"], "map": {"a": False}, "raw": "AAEC",
            "trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "eee19b7ec3c1b174",
            "trace_flags": 1, "event.name": "app.start", "severity": "Warning",
            "severity_number": 13, "observed_time_unix_nano": 1700000000500000000}
    for k, v in want.items():
        assert e.get(k) == v, (tag, k, e.get(k), v, e)
    assert e["timestamp"].startswith("2023-11-14T22:13:20.000000001"), e["timestamp"]
kvs = [e for e in ev if not e.get("message")]
assert len(kvs) == 1 and kvs[0]["body"] == {"msg": "kv 0"}, kvs
assert by["part 0"] and "part 1" not in by
assert s.counter("sluice_component_errors_total", component_id="otel", reason="record_too_large") == 2
assert s.counter("sluice_component_received_events_total", component_id="otel") == expected
assert s.stop() == 0
log("fields and answers ok,", expected, "records")

# ---- round trip: otlp source -> otlp sink (JSON and protobuf) -> otlp source -------------
api, p_in, p_js, p_pb = free_port(), free_port(), free_port(), free_port()
outs = {k: os.path.join(WORK, "rt-%s.ndjson" % k) for k in ("orig", "js", "pb")}
s = Sluice("""
data_dir: %s/data-rt
api: { address: "127.0.0.1:%d" }
sources:
  a:  { type: otlp, address: "127.0.0.1:%d" }
  bj: { type: otlp, address: "127.0.0.1:%d" }
  bp: { type: otlp, address: "127.0.0.1:%d" }
sinks:
  orig: { type: file, inputs: [a], path: "%s", batch: { timeout_ms: 20 } }
  tojs: { type: otlp, inputs: [a], endpoint: "http://127.0.0.1:%d", encoding: json,
          resource_keys: [team], batch: { timeout_ms: 20 } }
  topb: { type: otlp, inputs: [a], endpoint: "http://127.0.0.1:%d/v1/logs", encoding: protobuf,
          resource_keys: [team], batch: { timeout_ms: 20 } }
  js: { type: file, inputs: [bj], path: "%s", batch: { timeout_ms: 20 } }
  pb: { type: file, inputs: [bp], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, p_in, p_js, p_pb, outs["orig"], p_js, p_pb, outs["js"], outs["pb"]), name="rt").start()
rt = request("rt", 5, body_kind="kvlist")
rt["resourceLogs"][0]["resource"]["attributes"].append(kv("team", {"stringValue": "payments"}))
rt2 = request("rt2", 4)
rt2["resourceLogs"][0]["scopeLogs"][0]["scope"] = {"name": "other.scope"}
for r in rt2["resourceLogs"][0]["scopeLogs"][0]["logRecords"]:
    r["severityNumber"], r["severityText"] = 17, "ERROR"
    del r["flags"]
rt["resourceLogs"] += rt2["resourceLogs"]
st, _, body = post(p_in, otlp_pb.encode_request(rt))
assert st == 200, (st, body)
st, _, body = post(p_in, json.dumps(request("rt3", 3)).encode(), JS)
assert st == 200, (st, body)
for k in outs:
    wait_until(lambda: len(read_out(outs[k])) == 12, 60, "12 records in " + k)


def key(e):
    return (e.get("message") or json.dumps(e.get("body")), e["timestamp"])


orig = sorted(read_out(outs["orig"]), key=key)
for k in ("js", "pb"):
    got = sorted(read_out(outs[k]), key=key)
    assert got == orig, (k, [(a, b) for a, b in zip(orig, got) if a != b][:2])
assert any(e.get("team") == "payments" for e in orig) and any(e.get("otel.scope.name") == "other.scope" for e in orig)
assert s.stop() == 0
log("round trip identical through JSON and protobuf: 12 records")

# ---- backpressure: 429 + Retry-After while the buffer is full, then all delivered --------
emu = Emulator("http_sink_server.py", "--fail", "100000000")
api, port = free_port(), free_port()
s = Sluice("""
data_dir: %s/data-bp
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  otel: { type: otlp, address: "127.0.0.1:%d", retry_after: 3 }
sinks:
  down: { type: http, inputs: [otel], uri: "http://127.0.0.1:%d/ingest", concurrency: 1,
          buffer: { type: memory, max_bytes: 1 }, circuit_breaker: { failures: 0 },
          batch: { max_events: 2, timeout_ms: 20 },
          retry: { initial_ms: 20, max_ms: 100 } }
""" % (WORK, api, port, emu.port), name="bp").start()
results = {}


def send(i, body):
    results[i] = post(port, body, timeout=300)


bodies, threads, refused = {}, [], None
for i in range(40):
    bodies[i] = otlp_pb.encode_request(request("bp%02d" % i, 2))
    before = s.counter("sluice_component_received_events_total", component_id="otel")
    t = threading.Thread(target=send, args=(i, bodies[i]), daemon=True)
    t.start()
    threads.append(t)
    wait_until(lambda: i in results or
               s.counter("sluice_component_received_events_total", component_id="otel") > before,
               60, "request %d answered or accepted" % i)
    if i in results:
        st, h, body = results[i]
        assert st == 429, (st, body)  # nothing can be delivered: a 200 would be a lie
        assert h.get("retry-after") == "3", h
        assert otlp_pb.decode_status(body)[0] == 8, body  # RESOURCE_EXHAUSTED
        refused = i
        break
assert refused is not None, "no 429 while the sink's buffer is full"
assert not any(results.get(j, (0,))[0] == 200 for j in range(refused)), results
log("429 after", refused, "requests held")
http_json("http://127.0.0.1:%d/control" % emu.port, {"fail": 0})
for t in threads:
    t.join(timeout=300)
assert all(results[j][0] == 200 for j in range(refused)), results
# The client retries the refused request as told, until it is accepted.
wait_until(lambda: post(port, bodies[refused])[0] == 200, 120, "the refused request accepted on retry", interval=0.5)
want = {"bp%02d %d" % (i, k) for i in range(refused + 1) for k in range(2)}


def emu_messages():
    return [json.loads(l)["message"] for l in
            get_text("http://127.0.0.1:%d/lines" % emu.port).splitlines() if l.strip()]


wait_until(lambda: set(emu_messages()) >= want, 120, "every accepted record delivered")
assert s.stop() == 0
assert set(emu_messages()) == want, set(emu_messages()) ^ want
emu.stop()
log("backpressure ok:", len(want), "records")

# ---- kill -9 mid-stream with a disk buffer --------------------------------------------
emu = Emulator("http_sink_server.py", "--fail", "100000000")
api, port = free_port(), free_port()
cfg = """
data_dir: %s/data-k9
api: { address: "127.0.0.1:%d" }
sources:
  otel: { type: otlp, address: "127.0.0.1:%d" }
sinks:
  http: { type: http, inputs: [otel], uri: "http://127.0.0.1:%d/ingest", buffer: { type: disk },
          batch: { max_events: 500, timeout_ms: 20 }, retry: { initial_ms: 20, max_ms: 200 } }
""" % (WORK, api, port, emu.port)
k = Sluice(cfg, name="k9").start()
N, PER = 400, 10
answered, retried = [0], set()
done = threading.Event()


def client():
    """Sends N requests in order; one without an answer is sent again, same bytes."""
    for i in range(N):
        body = otlp_pb.encode_request(request("k9-%04d" % i, PER))
        while True:
            try:
                st = post(port, body, timeout=60)[0]
            except OSError:
                retried.add(i)
                time.sleep(0.05)  # client back-off while sluice restarts
                continue
            if st == 200:
                break
            assert st in (429, 503), st
            retried.add(i)
        answered[0] = i + 1
    done.set()


c = threading.Thread(target=client, daemon=True)
c.start()
wait_until(lambda: answered[0] >= 100, 300, "100 requests answered before the kill")
k.kill9()
log("killed after", answered[0], "answered requests")
assert not emu_messages()  # everything accepted so far is in the disk buffer alone
k = Sluice(cfg, name="k9").start()
http_json("http://127.0.0.1:%d/control" % emu.port, {"fail": 0})
assert done.wait(600), "client did not finish"
want = {"k9-%04d %d" % (i, j) for i in range(N) for j in range(PER)}
wait_until(lambda: set(emu_messages()) >= want, 300, "every record delivered after the restart")
assert k.stop() == 0
msgs = emu_messages()
counts = {}
for m in msgs:
    counts[m] = counts.get(m, 0) + 1
assert set(counts) == want, set(counts) ^ want
dups = {m for m, n in counts.items() if n > 1}
dup_reqs = {int(m[3:7]) for m in dups}
assert dup_reqs <= retried, (sorted(dup_reqs), sorted(retried))
emu.stop()
log("kill -9: %d records, none lost, %d duplicated (requests resent: %s)" % (len(want), len(dups), sorted(retried)))
