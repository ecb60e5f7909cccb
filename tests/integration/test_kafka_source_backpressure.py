"""kafka source: commits that fail are sent again, and a member held by backpressure still
serves rebalances.

1. The cluster refuses the next OffsetCommit requests; then a few messages go to one
   partition and nothing more: the refused commit is sent again until the group's committed
   offset is the partition's end (a refused async commit once counted as done, so a quiet
   partition kept a stale committed offset, read again by the next owner).
2. Elasticsearch stalls and member a's sink buffer (small) fills: a stops reading. Member b
   joins. a pauses its partitions instead of blocking in the pipeline, so it takes part in
   the rebalance and gives partitions up cooperatively ("revoked"); a member that stopped
   polling was dropped from the group by the cluster and its assignment "lost". Then the
   stall ends: every message is in Elasticsearch once by _id and the committed offsets end
   at the partitions' ends."""
import json
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, kcat

P = 4
kafka = KafkaMock(3)
kafka.cmd("topic bp %d" % P)
es = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % es.port


def es_get(path, body=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode() or "null")


def produce(lo, hi, key=None):
    data = "".join("%s:%s\n" % (key if key is not None else "k%d" % (i % 16), json.dumps({"n": i}))
                   for i in range(lo, hi))
    kcat(kafka.bootstrap, "-P", "-t", "bp", "-K:", input=data)


def ends():
    args = ["-Q"]
    for p in range(P):
        args += ["-t", "bp:%d:-1" % p]
    out = {}
    for line in kcat(kafka.bootstrap, *args).stdout.splitlines():
        w = line.split()
        out[int(w[1].strip("[]"))] = int(w[3])
    return [out[p] for p in range(P)]


def member(name):
    return Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  in:
    type: kafka
    brokers: "%s"
    group_id: g
    topics: [bp]
    batch_max_events: 50
    revoke_timeout: 2s
    librdkafka: { session.timeout.ms: "6000", heartbeat.interval.ms: "300" }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: bp
    action: index
    buffer: { type: memory, max_bytes: 64KiB }
    batch: { max_events: 50, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 300 }
""" % (WORK, name, free_port(), kafka.bootstrap, base), name=name)


a = member("a").start()
wait_until(lambda: len(a.component("in")["partitions"]) == P, 60, "a owns every partition")

# 1. refused commits are sent again
produce(0, 400)
wait_until(lambda: kafka.committed("g", "bp", P) == ends(), 60, "first messages committed")
kafka.cmd("errors offsetcommit 3 INVALID_COMMIT_OFFSET_SIZE")
produce(400, 420, key="one")  # one partition, then quiet
end = ends()
wait_until(lambda: a.counter("sluice_component_errors_total", component_id="in", reason="commit") >= 1, 60,
           "a refused commit")
wait_until(lambda: kafka.committed("g", "bp", P) == end, 60, "the refused commit sent again")
assert {p["partition"]: p["committed"] for p in a.component("in")["partitions"]} == dict(enumerate(end))
log("after %d refused commits: committed %s" % (
    a.counter("sluice_component_errors_total", component_id="in", reason="commit"), end))

# 2. backpressure during a rebalance
es_get("/_emulator/control", {"stall": True})
produce(420, 6420)
wait_until(lambda: (a.metric("sluice_buffer_bytes", component_id="es") or 0) >= 32 * 1024, 60,
           "a's buffer fills while Elasticsearch stalls")
b = member("b").start()
wait_until(lambda: len(b.component("in")["partitions"]) >= 1 and
           len(a.component("in")["partitions"]) + len(b.component("in")["partitions"]) == P, 90,
           "b takes partitions while a is held by backpressure")
log("a %s" % [l for l in a.log_text().splitlines() if "partition(s)" in l])
assert "revoked" in a.log_text() and " lost" not in a.log_text(), a.log_text()[-3000:]
es_get("/_emulator/control", {"stall": False})
total = 6420
wait_until(lambda: es_get("/_emulator/stats")["docs"] == total, 120, "every message indexed")
end = ends()
wait_until(lambda: kafka.committed("g", "bp", P) == end, 60, "committed at the ends")
for m in (a, b):
    assert m.stop() == 0, m.log_text()[-2000:]
docs = [json.loads(l) for l in urllib.request.urlopen(base + "/_emulator/docs", timeout=60).read().decode().splitlines() if l]
ns = sorted(json.loads(d["_source"]["message"])["n"] for d in docs)
assert ns == list(range(total)), "lost or doubled: %d docs" % len(ns)
st = es_get("/_emulator/stats")
log("messages %d, overwrites %d" % (total, st["overwrites"]))
kafka.stop()
es.stop()
print("ok")
