"""kafka sink under faults, every event counted: produce requests answered with retriable
errors (librdkafka retries them inside the idempotent producer), then every broker down for
longer than message_timeout (the delivery reports fail, the runtime retries the requests),
then the brokers back. Quiet state: every event acknowledged. Then kcat reads the topic:
every event is there (by its sluice-id) and the duplicates are at most the events of the
requests the runtime retried."""
import collections
import json
import os

from harness import Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume

BATCH = 100
kafka = KafkaMock(3)
kafka.cmd("topic f 4")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
total = 0


def write(n):
    global total
    with open(path, "a") as f:
        for i in range(total, total + n):
            f.write(json.dumps({"message": "m%d" % i, "n": i}) + "\n")
    total += n


api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: kafka
    inputs: [in]
    brokers: "%s"
    topic: f
    key: ""
    message_timeout: 2s
    concurrency: 2
    batch: { max_events: %d, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 500 }
""" % (WORK, api, logs, kafka.bootstrap, BATCH)).start()


def acked():
    c = s.component("in")
    return c["pending_acks"] == 0 and c["sent_events"] == total


# 1. retriable errors on produce requests
kafka.cmd("errors produce 20 NOT_LEADER_FOR_PARTITION")
kafka.cmd("errors produce 10 REQUEST_TIMED_OUT")
write(2000)
wait_until(acked, 120, "events written during produce errors")

# 2. every broker down past message_timeout: reports fail, the runtime retries
for b in (1, 2, 3):
    kafka.cmd("down %d" % b)
write(2000)
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="out", reason="produce_retry") >= 2,
           120, "failed delivery reports while the brokers are down")
for b in (1, 2, 3):
    kafka.cmd("up %d" % b)
wait_until(acked, 180, "events written while the brokers were down")

# 3. once more with the cluster healthy
write(1000)
wait_until(acked, 120, "the last events")
retries = s.counter("sluice_sink_retries_total", component_id="out")
assert s.counter("sluice_dlq_events_total", component_id="out") == 0
assert s.stop() == 0, s.log_text()[-2000:]

msgs = consume(kafka.bootstrap, "f")
ids = collections.Counter(m["headers"]["sluice-id"] for m in msgs)
ns = collections.Counter(json.loads(json.loads(m["payload"])["message"])["n"] for m in msgs)
missing = set(range(total)) - set(ns)
dups = sum(c - 1 for c in ids.values())
log("events %d, messages %d, duplicates %d, runtime retries %d" % (total, len(msgs), dups, retries))
assert not missing, "lost %d events, e.g. %s" % (len(missing), sorted(missing)[:10])
assert len(ids) == total
assert dups <= retries * BATCH, (dups, retries)
kafka.stop()
print("ok")
