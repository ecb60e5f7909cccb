"""Redis failover end to end, with a real redis-server on a free port: file -> otlp with
`fallback: spill` (a redis sink, list mode, no inputs) and a redis source on the same key
feeding the otlp sink back. Receiver down -> every event lands in Redis; SIGKILL of sluice
while it is down; receiver back -> drained from Redis into it, with another SIGKILL during
the drain. Counts both sides: every event arrives, Redis ends empty, and duplicates stay
within what was in flight. Then the same with mode: stream (consumer group)."""
import json
import os
import shutil
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, wait_until
from ml_common import committed_to_end
from redis_server import Redis

N = int(os.environ.get("REDIS_FAILOVER_EVENTS", "3000"))


redis = Redis()
emu = Emulator("otlp_receiver.py")
base = "http://127.0.0.1:%d" % emu.port


def control(**kw):
    req = urllib.request.Request(base + "/control", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def get(path):
    return json.loads(urllib.request.urlopen(base + path, timeout=30).read())


def received():
    out = []
    for req in get("/records"):
        for rl in req["body"]["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                for r in sl["logRecords"]:
                    out.append(r["body"]["stringValue"])
    return out


def run_case(mode):
    key = "spill-" + mode
    logs = os.path.join(WORK, "logs-" + mode)
    os.makedirs(logs)
    path = os.path.join(logs, "a.log")
    msgs = ["%s event %d" % (mode, i) for i in range(N)]
    control(reset=True)
    control(fail=10 ** 9, status=503)  # the receiver is down

    def redis_items():
        if mode == "list":
            items = redis.cmd("LRANGE", key, 0, -1) + redis.cmd("LRANGE", key + ":processing", 0, -1)
        else:
            items = [e[1][1] for e in redis.cmd("XRANGE", key, "-", "+") if e[1]]
        return [json.loads(v)["message"] for v in items]

    def in_redis():
        assert s.proc.poll() is None, s.log_text()[-3000:]
        return set(redis_items())

    s = Sluice("""
data_dir: %s/data-%s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"], checkpoint_interval_ms: 20 }
  drain:
    type: redis
    address: 127.0.0.1:%d
    key: %s
    mode: %s
    consumer: c1
    claim_idle: 0s
    batch_max_events: 200
    block: 200ms
    pause_while_open: out
sinks:
  out:
    type: otlp
    inputs: [in, drain]
    endpoint: %s/v1/logs
    encoding: json
    batch: { max_events: 200, timeout_ms: 50 }
    buffer: { max_bytes: 128KiB }
    retry: { initial_ms: 20, max_ms: 100 }
    circuit_breaker: { failures: 2, open_ms: 300 }
    fallback: spill
  spill:
    type: redis
    address: 127.0.0.1:%d
    key: %s
    mode: %s
""" % (WORK, mode, free_port(), logs, redis.port, key, mode, base, redis.port, key, mode), name="sluice-" + mode)
    s.start()
    half = N // 2
    with open(path, "w") as f:
        f.write("".join(m + "\n" for m in msgs[:half]))
    # Receiver down: the first half ends up in Redis. The kill comes once the file source
    # has committed past it: a kill between the spill and the checkpoint write re-reads
    # the whole batch (legitimately in flight, but all 1,500 lines are one batch), which
    # would make the duplicate bound below a matter of timing. The kill during the drain
    # is the one with events in flight.
    wait_until(lambda: in_redis() >= set(msgs[:half]), 120, "first half spilled to redis")
    wait_until(lambda: committed_to_end("in", [path], "data-" + mode), 60, "the spill committed")
    s.kill9()
    s.start()
    with open(path, "a") as f:
        f.write("".join(m + "\n" for m in msgs[half:]))
    wait_until(lambda: in_redis() >= set(msgs), 120, "every event spilled to redis")
    assert get("/stats")["accepted"] == 0
    spilled = redis_items()
    print("%s: %d in redis (%d distinct)" % (mode, len(spilled), len(set(spilled))))
    # Receiver back: drained from Redis; a SIGKILL in the middle of the drain.
    control(fail=0)
    wait_until(lambda: get("/stats")["records"] > 0, 120, "drain to start")
    s.kill9()
    s.start()
    wait_until(lambda: set(received()) >= set(msgs), 120, "every event delivered")

    def redis_empty():
        if mode == "list":
            return redis.cmd("LLEN", key) == 0 and redis.cmd("LLEN", key + ":processing") == 0
        pending = redis.cmd("XPENDING", key, "sluice")
        return redis.cmd("XLEN", key) == 0 and pending[0] == 0

    wait_until(redis_empty, 60, "redis emptied after the drain")
    # Quiet: both sources have every read event acknowledged (what the file source read
    # again after the kill may still have been on its way) and the sink holds nothing.
    def quiet():
        out = s.component("out")
        return (s.component("in")["pending_acks"] == 0 and s.component("drain")["pending_acks"] == 0
                and out["inflight"] == 0 and out["buffer"]["events"] == 0)
    wait_until(quiet, 60, "every read event acknowledged")
    got = received()
    assert set(got) == set(msgs), "lost: %d" % len(set(msgs) - set(got))
    dups = len(got) - len(set(got))
    # Duplicates only from what was in flight at the two SIGKILLs: the otlp buffer (128KiB),
    # one request and one read batch each (a redis copy may exist twice for a moment while
    # its original waits for the ack, so `spilled` above can show more).
    assert dups <= 1000, dups
    assert all(g.startswith(mode + " event ") for g in got)
    rc = s.stop()
    assert rc == 0, s.log_text()[-3000:]
    print("%s: %d events, %d delivered, %d duplicates" % (mode, N, len(got), dups))


try:
    assert shutil.which("redis-server"), "redis-server missing (make setup)"
    for m in os.environ.get("REDIS_MODES", "list stream").split():
        run_case(m)
finally:
    emu.stop()
    redis.stop()
print("ok")
