"""kafka sink stopped with every broker down: SIGTERM with shutdown_timeout 2s while a send
waits for delivery reports that only message_timeout (90 s) would end. The stop keeps its
deadline: the process exits, cleanly, long before message_timeout could have passed (the
bounded wait below is shorter than it). Nothing is lost: with the brokers back, a second
run re-reads what was not acknowledged, and every event is in the topic."""
import json
import os
import time

from harness import Sluice, WORK, free_port, log, wait_until
from kafka_mock import KafkaMock, consume

kafka = KafkaMock(3)
kafka.cmd("topic d 4")
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


def config(api):
    return """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: kafka
    inputs: [in]
    brokers: "%s"
    topic: d
    message_timeout: 90s
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 50, max_ms: 500 }
""" % (WORK, api, logs, kafka.bootstrap)


s = Sluice(config(free_port())).start()


def acked(sl, n):
    """sl's source read n events (a second run reads from its checkpoint) and every one
    of them is acknowledged."""
    c = sl.component("in")
    return c["pending_acks"] == 0 and c["sent_events"] >= n


write(100)
wait_until(lambda: acked(s, total), 120, "the first events, brokers up")

for b in (1, 2, 3):
    kafka.cmd("down %d" % b)
write(300)
wait_until(lambda: s.component("in")["sent_events"] == total and
           (s.metric("sluice_sink_inflight", component_id="out") or 0) >= 1,
           60, "a send waiting for its reports with the brokers down")
assert s.component("in")["pending_acks"] > 0

t0 = time.monotonic()
# Bounded well below message_timeout (90 s): before the fix the send waited that long.
rc = s.stop(timeout=45)
log("stopped in %.1f s" % (time.monotonic() - t0))
assert rc == 0, s.log_text()[-3000:]
assert "not delivered (kept for redelivery)" in s.log_text(), s.log_text()[-3000:]

for b in (1, 2, 3):
    kafka.cmd("up %d" % b)
s2 = Sluice(config(free_port()), name="sluice2").start()
wait_until(lambda: acked(s2, 300), 180, "the events left undelivered at the stop")
assert s2.counter("sluice_dlq_events_total", component_id="out") == 0
assert s2.stop() == 0, s2.log_text()[-2000:]

msgs = consume(kafka.bootstrap, "d")
ns = set(json.loads(json.loads(m["payload"])["message"])["n"] for m in msgs)
missing = set(range(total)) - ns
log("events %d, messages %d" % (total, len(msgs)))
assert not missing, "lost %d events, e.g. %s" % (len(missing), sorted(missing)[:10])
kafka.stop()
print("ok")
