"""redis sink and source as a Redis 6+ ACL user (username + password: AUTH username
password) against a real redis-server whose default user has another password: file ->
redis sink -> list -> redis source -> file, every event through. A username without a
password is a config error. A wrong password is refused at connect (WRONGPASS): the events
wait, none is dead-lettered."""
import os
import subprocess

from harness import SLUICE, Sluice, WORK, free_port, ndjson_file, wait_until
from redis_server import Redis

N = 50
redis = Redis()
redis.cmd("ACL", "SETUSER", "shipper", "on", ">s3cret", "~logs*", "+@all")
redis.cmd("CONFIG", "SET", "requirepass", "adminpw")  # the default user's, not ours
redis.password = "adminpw"
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("m%d\n" % i)
out = os.path.join(WORK, "out.ndjson")


def config(password):
    return """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
shutdown_timeout: 1s   # the wrong password's run stops with its events undelivered
sources:
  in: { type: file, include: ["%s/*.log"] }
  back: { type: redis, address: "127.0.0.1:%d", username: shipper, password: %s, key: logs }
sinks:
  spill:
    type: redis
    inputs: [in]
    address: 127.0.0.1:%d
    username: shipper
    password: %s
    key: logs
    batch: { max_events: 10, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
  out: { type: file, inputs: [back], path: "%s", batch: { timeout_ms: 20 } }
""" % (WORK, free_port(), logs, redis.port, password, redis.port, password, out)


# A username alone is refused before anything runs.
bad = os.path.join(WORK, "nopw.yaml")
with open(bad, "w") as f:
    f.write(config("s3cret").replace("    password: s3cret\n", ""))
r = subprocess.run([SLUICE, "validate", "-c", bad], capture_output=True, text=True)
assert r.returncode != 0 and 'username "shipper" needs a password' in r.stderr, r.stderr

# The wrong password: refused at connect, retried, nothing dead-lettered.
s = Sluice(config("wrong"), name="wrong").start()
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="spill",
                             reason="connect") >= 1, 60, "the refused AUTH")
assert "WRONGPASS" in s.log_text(), s.log_text()[-2000:]
assert s.counter("sluice_dlq_events_total", component_id="spill") == 0
assert s.stop() == 0, s.log_text()[-2000:]
assert redis.cmd("LLEN", "logs") == 0

s = Sluice(config("s3cret")).start()
wait_until(lambda: len(ndjson_file(out)) == N, 60, "every event through Redis")
assert sorted(e["message"] for e in ndjson_file(out)) == sorted("m%d" % i for i in range(N))
wait_until(lambda: redis.cmd("LLEN", "logs:processing") == 0, 60, "the processing list emptied")
assert s.counter("sluice_dlq_events_total", component_id="spill") == 0
assert s.stop() == 0, s.log_text()[-2000:]
redis.stop()
print("ok")
