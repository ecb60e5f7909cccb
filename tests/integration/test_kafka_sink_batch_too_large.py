"""kafka sink: the broker refuses a whole record batch as too large (MESSAGE_TOO_LARGE, what
a topic whose max.message.bytes is below the producer's batch size answers; the mock cluster
answers it to the next produce request), so every message of the batch reports
MSG_SIZE_TOO_LARGE though each is a few bytes. The sink sends each of them again alone: none
is dead-lettered, every event reaches the topic once, and the component counts the batch
(batches_too_large). Before, the whole batch went to the DLQ."""
import os

from harness import Sluice, WORK, free_port, wait_until
from kafka_mock import KafkaMock, consume

N = 100
kafka = KafkaMock(1)
kafka.cmd("topic t 1")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
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
    topic: t
    encoding: raw
    batch: { max_events: 50, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, free_port(), logs, kafka.bootstrap)).start()
kafka.cmd("errors produce 1 MSG_SIZE_TOO_LARGE")
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("m%d\n" % i)


def acked():
    c = s.component("in")  # one reading: both numbers of the same moment
    return c["pending_acks"] == 0 and c["sent_events"] == N


wait_until(acked, 60, "every event acknowledged")
assert s.counter("sluice_dlq_events_total", component_id="out") == 0, s.log_text()[-2000:]
assert s.component_counter("out", "batches_too_large") >= 1
assert s.stop() == 0, s.log_text()[-2000:]
got = sorted(int(m["payload"][1:]) for m in consume(kafka.bootstrap, "t"))
assert got == list(range(N)), got
kafka.stop()
print("ok")
