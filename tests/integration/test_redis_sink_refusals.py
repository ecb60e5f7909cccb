"""redis sink against a real redis-server that refuses writes for a while: at its client
limit (it answers "ERR max number of clients reached" and closes) and unable to persist
(a failed RDB save: "MISCONF ... Commands that may modify the data set are disabled").
Both pass once the server is well again, so the events wait and are retried: none is
dead-lettered, every one arrives. Before, both read as permanent errors ("ERR", unknown
word) and every event of the request went to the DLQ."""
import json
import os
import shutil
import socket

from harness import Sluice, WORK, free_port, wait_until
from redis_server import Redis

redis = Redis()
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")
total = 0


def write(n):
    global total
    with open(path, "a") as f:
        for i in range(total, total + n):
            f.write("m%d\n" % i)
    total += n


s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: redis
    inputs: [in]
    address: 127.0.0.1:%d
    key: k
    batch: { max_events: 20, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), logs, redis.port)).start()


def retried():
    return s.counter("sluice_component_errors_total", component_id="out", reason="reply_retry")


def dead():
    return s.counter("sluice_dlq_events_total", component_id="out")


# 1. The client limit: this test holds the only connection the server takes.
redis.cmd("CONFIG", "SET", "maxclients", "1")


def hold():
    c = socket.create_connection(("127.0.0.1", redis.port), timeout=10)
    c.sendall(b"PING\r\n")
    if c.recv(64).startswith(b"+PONG"):
        return c
    c.close()  # the CONFIG SET connection was not gone yet
    return None


held = wait_until(hold, 30, "the one connection the server takes")
write(50)
wait_until(lambda: retried() >= 1, 60, "the refusal at the client limit")
assert dead() == 0, s.log_text()[-2000:]
held.sendall(b"CONFIG SET maxclients 10000\r\n")
assert held.recv(64).startswith(b"+OK")
held.close()
wait_until(lambda: redis.cmd("LLEN", "k") == 50, 60, "the events held at the client limit")

# 2. Persistence failing: the RDB save cannot write its directory.
redis.cmd("CONFIG", "SET", "save", "3600 1")
shutil.rmtree(redis.dir)
redis.cmd("BGSAVE")
wait_until(lambda: "rdb_last_bgsave_status:err" in redis.cmd("INFO", "persistence"), 30,
           "the failed save")
before = retried()
write(50)
wait_until(lambda: retried() > before, 60, "the MISCONF refusal")
assert dead() == 0, s.log_text()[-2000:]
redis.cmd("CONFIG", "SET", "save", "")  # no save points: writes are allowed again
wait_until(lambda: redis.cmd("LLEN", "k") == 100, 60, "the events held during MISCONF")

assert dead() == 0
got = [json.loads(v)["message"] for v in redis.cmd("LRANGE", "k", 0, -1)]
assert got == ["m%d" % i for i in range(100)], got
assert s.stop() == 0, s.log_text()[-2000:]
redis.stop()
print("ok")
