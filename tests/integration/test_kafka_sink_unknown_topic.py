"""kafka sink with a topic template whose value names a topic the cluster does not have
(librdkafka's mock cluster answers UNKNOWN_TOPIC_OR_PART for it): those events are
dead-lettered with a reason naming the topic once topic_wait has passed, and the events for
the existing topic keep flowing, the ones after the bad event included. Before, the bad
event timed out, was retried forever and opened the circuit, holding the whole sink."""
import json
import os

from harness import Sluice, WORK, free_port, wait_until
from kafka_mock import KafkaMock, consume

N = 300
BAD = (50, 120, 121, 250)
kafka = KafkaMock(3)
kafka.cmd("topic logs-a 2")
kafka.cmd("topic_error logs-nope UNKNOWN_TOPIC_OR_PART")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")


def write(lo, hi):
    with open(path, "a") as f:
        for i in range(lo, hi):
            f.write(json.dumps({"message": "m%d" % i, "app": "nope" if i in BAD else "a",
                                "n": i}) + "\n")


write(0, N)
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
    topic_wait: 2s
    batch: { max_events: 20, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, free_port(), logs, kafka.bootstrap)).start()


def settled(total):
    c = s.component("in")
    return c["pending_acks"] == 0 and c["sent_events"] == total


wait_until(lambda: settled(N), 120, "every event delivered or dead-lettered")
assert s.counter("sluice_dlq_events_total", component_id="out") == len(BAD)
# More events after the verdict: the sink did not stop for the bad topic.
write(N, 2 * N)
wait_until(lambda: settled(2 * N), 120, "the events written after the verdict")
assert s.counter("sluice_dlq_events_total", component_id="out") == len(BAD)
assert "circuit closed -> open" not in s.log_text(), s.log_text()[-2000:]
assert s.stop() == 0, s.log_text()[-2000:]

recs = [json.loads(l) for l in open(os.path.join(WORK, "data", "dlq", "out.ndjson"))]
assert sorted(r["event"]["n"] for r in recs) == list(BAD), recs
for r in recs:
    assert r["reason"] == 'rejected: kafka: topic "logs-nope" does not exist in the cluster', r
msgs = consume(kafka.bootstrap, "logs-a")
got = sorted(json.loads(m["payload"])["n"] for m in msgs)
assert got == [i for i in range(N) if i not in BAD] + list(range(N, 2 * N)), got[:20]
kafka.stop()
print("ok")
