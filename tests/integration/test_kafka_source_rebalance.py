"""kafka source, rebalancing (cooperative-sticky) while kcat produces: a second member joins the
group and takes partitions, then leaves on SIGTERM (it stops reading, waits for its acks,
commits, releases) and the first gets them back. Every message is in one of the two files,
and at the end the group's committed offsets are the partitions' ends.

librdkafka 2.0.2's mock cluster is harsher than a broker here: it answers an OffsetCommit
during a rebalance with REBALANCE_IN_PROGRESS (a broker accepts it while preparing the
rebalance) and completes a cooperative rejoin only when the rejoining member's session
expires, so the first member's partitions are "lost" and nothing it read meanwhile is
committed. The duplicates are that window (logged)."""
import collections
import json
import os
import threading
import time

from harness import Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume, kcat

P = 4
kafka = KafkaMock(3)
kafka.cmd("topic r %d" % P)
state = {"n": 0, "run": True}


def producer():
    while state["run"]:
        lo = state["n"]
        data = "".join("k%d:%s\n" % (i % 16, json.dumps({"n": i})) for i in range(lo, lo + 100))
        kcat(kafka.bootstrap, "-P", "-t", "r", "-K:", input=data)
        state["n"] += 100
        time.sleep(0.05)


def member(name):
    out = os.path.join(WORK, name + ".ndjson")
    return Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  in:
    type: kafka
    brokers: "%s"
    group_id: g
    topics: [r]
    batch_max_events: 100
    librdkafka: { session.timeout.ms: "6000", heartbeat.interval.ms: "300" }
sinks:
  out: { type: file, inputs: [in], path: "%s", batch: { max_events: 100, timeout_ms: 20 } }
""" % (WORK, name, free_port(), kafka.bootstrap, out), name=name), out


def read(path):
    res = []
    try:
        with open(path) as f:
            res = [json.loads(l) for l in f if l.endswith("\n")]
    except FileNotFoundError:
        pass
    return res


def owned(s):
    return len(s.component("in")["partitions"])


a, out_a = member("a")
a.start()
wait_until(lambda: owned(a) == P, 60, "a owns every partition")
t = threading.Thread(target=producer)
t.start()
wait_until(lambda: len(read(out_a)) > 1000, 60, "a consuming")

b, out_b = member("b")
b.start()
wait_until(lambda: owned(b) >= 1 and owned(a) + owned(b) == P, 60, "partitions shared")
wait_until(lambda: len(read(out_b)) > 500, 60, "b consuming")
log("shared: a %d, b %d partitions" % (owned(a), owned(b)))
assert b.stop() == 0, b.log_text()[-2000:]
wait_until(lambda: owned(a) == P, 60, "a owns every partition again")
time.sleep(0.5)
state["run"] = False
t.join()
total = state["n"]
wait_until(lambda: len({l["message"] for l in read(out_a) + read(out_b)}) == total, 120,
           "every message")
wait_until(lambda: a.component("in")["pending_acks"] == 0, 60, "a acked")
assert a.stop() == 0, a.log_text()[-2000:]

ns = collections.Counter(json.loads(e["message"])["n"] for e in read(out_a) + read(out_b))
in_kafka = {json.loads(m["payload"])["n"]: (m["partition"], m["offset"]) for m in consume(kafka.bootstrap, "r")}
assert set(in_kafka) == set(range(total)), "kcat lost %s" % sorted(set(range(total)) - set(in_kafka))[:10]
missing = set(range(total)) - set(ns)
if missing:
    log("missing at", sorted(in_kafka[n] for n in missing)[:40])
dups = sum(c - 1 for c in ns.values())
log("messages %d, in a %d, in b %d, duplicates %d" % (total, len(read(out_a)), len(read(out_b)), dups))
assert not missing, "lost %d, e.g. %s" % (len(missing), sorted(missing)[:10])
assert kafka.committed("g", "r", P) == [max(o for p, o in in_kafka.values() if p == q) + 1 for q in range(P)]
assert "revoked" in b.log_text()
kafka.stop()
print("ok")
