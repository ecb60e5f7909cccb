"""http source <- Vector's http sink: its events carry their time as "timestamp" (RFC 3339
with nanoseconds), sent as a JSON array (encoding.codec json, the default) or NDJSON
(framing newline_delimited), gzip or not. That time is the event's time and the key is no
field. It was kept as a field: the event took the time it was received (a backlog Vector
sent late got today's times in Elasticsearch and OTLP) and the file sink wrote two
"timestamp" keys. A record with the time_key (Fluent Bit's "date") keeps that as its time
and its "timestamp" as a field; a "timestamp" that is no time stays a field. A full Vector
batch (10 MB, uncompressed) is taken whole with the default max_body_bytes."""
import gzip
import json
import os
import urllib.request

from harness import Sluice, WORK, free_port, wait_until

api, port = free_port(), free_port()
out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  vec: { type: http, address: "127.0.0.1:%d" }
sinks:
  out: { type: file, inputs: [vec], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, api, port, out)).start()


def vector_event(i):
    return {"file": "/var/log/app.log", "host": "node-1", "message": "line %d" % i,
            "source_type": "file", "timestamp": "2024-01-02T03:04:%02d.123456789Z" % i}


def post(body, ctype, gz=False):
    h = {"Content-Type": ctype}
    if gz:
        body, h["Content-Encoding"] = gzip.compress(body), "gzip"
    req = urllib.request.Request("http://127.0.0.1:%d/vector" % port, data=body, headers=h)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


assert post(json.dumps([vector_event(i) for i in range(3)]).encode(), "application/json") == \
    {"accepted": 3}
assert post(b"".join(json.dumps(vector_event(i)).encode() + b"\n" for i in range(3, 6)),
            "application/x-ndjson", gz=True) == {"accepted": 3}
assert post(json.dumps([
    {"message": "fluent bit", "date": 1700000000.5, "timestamp": "2024-01-02T03:04:05Z"},
    {"message": "not a time", "timestamp": "yesterday"}]).encode(), "application/json") == \
    {"accepted": 2}

# A full batch of Vector's http sink: batch.max_bytes is 10,000,000 by default and the body
# goes uncompressed unless told; the default max_body_bytes (8 MiB) answered it 413, which
# Vector does not retry: the whole batch was dropped.
big, size = [], 0
while size < 9_950_000:
    e = vector_event(0)
    e["message"] = "big %d %s" % (len(big), "v" * 400)
    big.append(e)
    size += len(json.dumps(e)) + 2
body = json.dumps(big).encode()
assert 9_900_000 < len(body) <= 10_000_000, len(body)
assert post(body, "application/json") == {"accepted": len(big)}


def lines():
    try:
        with open(out, "rb") as f:
            return [json.loads(x, object_pairs_hook=list) for x in f if x.endswith(b"\n")]
    except FileNotFoundError:
        return []


wait_until(lambda: len(lines()) >= 8 + len(big), 60, "every event in the output")
got = {dict(e)["message"]: e for e in lines()}
assert len(got) == 8 + len(big), len(got)
assert all("big %d %s" % (i, "v" * 400) in got for i in range(len(big)))
for i in range(6):
    e = got["line %d" % i]
    assert [k for k, _ in e].count("timestamp") == 1, e
    d = dict(e)
    assert d["timestamp"] == "2024-01-02T03:04:%02d.123456789Z" % i, d
    assert d["host"] == "node-1" and d["source_type"] == "file", d
# The file sink writes the event's time first; a record's own "timestamp" follows it as
# "_timestamp", so no key is written twice.
fb = [list(p) for p in got["fluent bit"]]
assert fb[0] == ["timestamp", "2023-11-14T22:13:20.500000000Z"], fb
assert ["_timestamp", "2024-01-02T03:04:05Z"] in fb, fb
nt = [list(p) for p in got["not a time"]]
assert ["_timestamp", "yesterday"] in nt and [k for k, _ in nt].count("timestamp") == 1, nt
assert s.stop() == 0
