"""kafka sink fed by a source without positions (http, curl posting events: they have no
stable id) and by a file (they have one), read back by kcat and by sluice's kafka source
into a file sink that writes each event's id. The file's messages carry the sluice-id
header and the stream key; the posted ones carry neither, so they spread over the
partitions and the kafka source names each by topic/partition/offset: every event arrives
with an id of its own. Before, every posted event got the same sluice-id (32 zeros) and
key: all in one partition, and a consumer dropping duplicates by id (the elasticsearch
sink's create with _id) kept only the first."""
import os
import subprocess

from harness import Sluice, WORK, free_port, ndjson_file, wait_until
from kafka_mock import KafkaMock, consume

N = 20
kafka = KafkaMock(1)
kafka.cmd("topic t 4")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("f%d\n" % i)
out = os.path.join(WORK, "out.ndjson")
web = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  web: { type: http, address: "127.0.0.1:%d" }
  in: { type: file, include: ["%s/*.log"] }
  k:
    type: kafka
    brokers: ["%s"]
    group_id: g
    topics: [t]
    decoding: raw
    librdkafka: { session.timeout.ms: "6000", heartbeat.interval.ms: "500" }
sinks:
  out:
    type: kafka
    inputs: [web, in]
    brokers: "%s"
    topic: t
    encoding: raw
    batch: { max_events: 5, timeout_ms: 20 }
  back: { type: file, inputs: [k], path: "%s", id_key: id, batch: { timeout_ms: 20 } }
""" % (WORK, free_port(), web, logs, kafka.bootstrap, kafka.bootstrap, out)).start()
for i in range(N):
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--fail", "--data-binary",
                    '{"message":"p%d"}' % i, "http://127.0.0.1:%d/t" % web], check=True)



def produced():
    msgs = consume(kafka.bootstrap, "t")
    return msgs if len(msgs) == 2 * N else None


msgs = wait_until(produced, 60, "every message")
posted = [m for m in msgs if m["payload"].startswith("p")]
filed = [m for m in msgs if m["payload"].startswith("f")]
assert len(posted) == N and len(filed) == N
for m in posted:
    assert "sluice-id" not in m["headers"] and m["key"] is None, m
assert len({m["partition"] for m in posted}) > 1, "every posted event in one partition"
for m in filed:
    assert len(m["headers"]["sluice-id"]) == 32 and len(m["key"]) == 16, m
assert len({m["headers"]["sluice-id"] for m in filed}) == N

wait_until(lambda: len(ndjson_file(out)) == 2 * N, 60, "every event read back")
back = ndjson_file(out)
assert len({e["id"] for e in back}) == 2 * N, sorted(e["id"] for e in back)
assert s.stop() == 0, s.log_text()[-2000:]
kafka.stop()
print("ok")
