"""kafka sink against librdkafka's mock cluster, read back with kcat (an independent client):
topics from a template, every event once (by its sluice-id header), one file = one key =
one partition in file order, the configured headers, the JSON and raw encodings, each
compression codec on the wire (kcat's fetch debug names the codec of every batch), and a
message too large for the producer dead-lettered alone while the rest of its request is
delivered (a PARTIAL outcome)."""
import json
import os

from harness import Sluice, WORK, free_port, wait_until
from kafka_mock import KafkaMock, consume


def acked_all(c, n):
    """Every event sent and none pending, read from one status: two reads could see nothing
    pending before anything was sent, and everything sent a moment later."""
    return c["sent_events"] == n and c["pending_acks"] == 0


N = 1000
BIG = 5
kafka = KafkaMock(3)
kafka.cmd("topic logs-a 3")
kafka.cmd("topic logs-b 3")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
lines = []
with open(path, "w") as f:
    for i in range(N + BIG):
        if i % 200 == 199:  # BIG lines, over the json sink's message.max.bytes
            rec = {"message": "big%d " % i + "x" * 150000, "app": "a", "n": i}
        else:
            rec = {"message": "m%d" % i, "app": "ab"[i % 2], "n": i}
        lines.append(rec)
        f.write(json.dumps(rec) + "\n")
big = [r for r in lines if r["message"].startswith("big")]
assert len(big) == BIG

raw_sinks = "".join("""
  raw_%s:
    type: kafka
    inputs: [p]
    brokers: ["%s"]
    topic: raw-%s
    encoding: raw
    compression: %s
    batch: { max_events: 200, timeout_ms: 20 }
""" % (c, kafka.bootstrap, c, c) for c in ("gzip", "snappy", "lz4"))

api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
  out:
    type: kafka
    inputs: [p]
    brokers: "%s"
    topic: "logs-{{ app }}"
    headers: { app: "{{ app }}", tier: agents }
    compression: zstd
    librdkafka: { message.max.bytes: "100000" }
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
%s""" % (WORK, api, logs, kafka.bootstrap, raw_sinks)).start()

wait_until(lambda: acked_all(s.component("in"), N + BIG),
           60, "every event acknowledged by every sink")
assert s.counter("sluice_dlq_events_total", component_id="out") == BIG

msgs, codecs = consume(kafka.bootstrap, "logs-a", "logs-b", debug=True)
assert codecs == {"zstd"}, codecs
assert len(msgs) == N, len(msgs)
ids = [m["headers"]["sluice-id"] for m in msgs]
assert len(set(ids)) == N, "duplicate ids"
keys = {m["key"] for m in msgs}
assert len(keys) == 1 and len(keys.pop()) == 16, "one file, one stream key"
by_n = {}
for m in msgs:
    ev = json.loads(m["payload"])
    assert m["topic"] == "logs-" + ev["app"], m["topic"]
    assert m["headers"]["app"] == ev["app"] and m["headers"]["tier"] == "agents", m["headers"]
    assert ev["message"] == "m%d" % ev["n"], ev
    # the id is the file source's stream and offset: 32 hex digits, the offset in the file
    assert len(m["headers"]["sluice-id"]) == 32 and m["headers"]["sluice-id"][:16] == m["key"]
    by_n[ev["n"]] = m
assert sorted(by_n) == [i for i in range(N + BIG) if i % 200 != 199]
# one key, so per topic one partition, and in it the file's order
for t in ("logs-a", "logs-b"):
    part = [m for m in msgs if m["topic"] == t]
    assert len({m["partition"] for m in part}) == 1, t
    ns = [json.loads(m["payload"])["n"] for m in sorted(part, key=lambda m: m["offset"])]
    assert ns == sorted(ns), t

dlq = [json.loads(l) for l in open(os.path.join(WORK, "data", "dlq", "out.ndjson"))]
assert len(dlq) == BIG, len(dlq)
assert all("too large" in json.dumps(d).lower() for d in dlq), dlq[0]["reason"]

for c in ("gzip", "snappy", "lz4"):
    raw, cs = consume(kafka.bootstrap, "raw-" + c, debug=True)
    assert cs == {c}, (c, cs)
    assert len(raw) == N + BIG, (c, len(raw))
    assert sorted(m["payload"] for m in raw) == sorted(r["message"] for r in lines), c
    assert len({m["headers"]["sluice-id"] for m in raw}) == N + BIG

assert s.stop() == 0, s.log_text()[-2000:]
kafka.stop()
print("ok")
