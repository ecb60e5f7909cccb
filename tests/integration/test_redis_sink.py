"""redis sink against a real redis-server: key templates per event, per-item errors (a key
of the wrong type answers WRONGTYPE: those events alone are dead-lettered, the rest of the
pipelined request is delivered), and a Redis restart (connection refused -> retried, nothing
lost). Values are the events' JSON: they carry the parsed and added fields."""
import json
import os

from harness import Sluice, WORK, free_port, wait_until
from redis_server import Redis


def acked_all(c, n):
    """Every event sent and none pending, read from one status: two reads could see nothing
    pending before anything was sent, and everything sent a moment later."""
    return c["sent_events"] == n and c["pending_acks"] == 0


redis = Redis()
redis.cmd("SET", "k-bad", "a string, not a list")
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
apps = ["a", "b", "bad"]


def write(lo, hi, pick):
    with open(path, "a") as f:
        for i in range(lo, hi):
            f.write(json.dumps({"message": "m%d" % i, "app": pick(i), "trace_id": "t%d" % i}) + "\n")


api = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
transforms:
  p: { type: parse, inputs: [in], format: json }
  env: { type: add_env, inputs: [p], environment: test, service: redis-it, host_name: h1 }
sinks:
  out:
    type: redis
    inputs: [env]
    address: 127.0.0.1:%d
    key: "k-{{ app }}"
    timeout: 10s
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, api, logs, redis.port)).start()

write(0, 300, lambda i: apps[i % 3])


def stored(key):
    return [json.loads(v) for v in redis.cmd("LRANGE", key, 0, -1)]


wait_until(lambda: redis.cmd("LLEN", "k-a") + redis.cmd("LLEN", "k-b") == 200, 60, "good events")
wait_until(lambda: s.metric("sluice_dlq_events_total", component_id="out") == 100, 60, "dlq")
a = stored("k-a")
assert [e["message"] for e in a] == ["m%d" % i for i in range(0, 300, 3)]
e = a[0]
assert e["app"] == "a" and e["trace_id"] == "t0", e
assert e["deployment.environment"] == "test" and e["service.name"] == "redis-it", e
assert e["host.name"] == "h1" and e["timestamp"].endswith("Z"), e
dlq = [json.loads(l) for l in open(os.path.join(WORK, "data", "dlq", "out.ndjson"))]
assert len(dlq) == 100
assert "WRONGTYPE" in json.dumps(dlq[0]), dlq[0]
assert redis.cmd("GET", "k-bad") == "a string, not a list"

# Redis goes away: requests are retried until it is back (no persistence: the new server
# starts empty, so only the events written meanwhile must arrive there, each once).
redis.stop()
write(300, 400, lambda i: "a")
wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="out", reason="connect")
                    or 0) >= 2, 60, "connection errors while redis is down")
redis.start()
wait_until(lambda: redis.cmd("LLEN", "k-a") == 100, 60, "events written while redis was down")
# quiet: every event acknowledged, so nothing more can be written (a copy twice would show)
wait_until(lambda: acked_all(s.component("in"), 400), 60,
           "every event acknowledged")
got = [e["message"] for e in stored("k-a")]
assert sorted(got) == sorted("m%d" % i for i in range(300, 400)), got[:5]
assert s.stop() == 0, s.log_text()[-2000:]
redis.stop()
print("ok")
