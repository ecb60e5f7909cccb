"""redis source (list mode): the LREMs that take acknowledged items out of the processing
list are refused for a while (MISCONF: redis-server cannot persist, so it takes no write).
They are sent again once the server takes writes, and the processing list empties. Before,
a refused LREM counted as done: the items stayed in the processing list, to be emitted
again at the next start, and the list grew."""
import json
import shutil
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, wait_until
from redis_server import Redis

N = 10
redis = Redis()
redis.cmd("RPUSH", "q", *["v%d" % i for i in range(N)])
# The sink's endpoint fails until told otherwise: the items wait in the processing list.
emu = Emulator("http_sink_server.py", "--fail", "1000000")


def control(obj):
    req = urllib.request.Request("http://127.0.0.1:%d/control" % emu.port,
                                 data=json.dumps(obj).encode(), method="POST")
    urllib.request.urlopen(req, timeout=5).read()


def stored():
    body = urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=5).read()
    return sorted(json.loads(l)["message"] for l in body.decode().splitlines() if l.strip())


s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: redis, address: "127.0.0.1:%d", key: q, block: 100ms }
sinks:
  out:
    type: http
    inputs: [in]
    uri: http://127.0.0.1:%d/ingest
    batch: { max_events: 100, timeout_ms: 20 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % (WORK, free_port(), redis.port, emu.port)).start()
wait_until(lambda: redis.cmd("LLEN", "q:processing") == N, 60, "the items in flight")

redis.cmd("CONFIG", "SET", "save", "3600 1")
shutil.rmtree(redis.dir)  # the RDB save cannot write: MISCONF from now on
redis.cmd("BGSAVE")
wait_until(lambda: "rdb_last_bgsave_status:err" in redis.cmd("INFO", "persistence"), 30,
           "the failed save")
errors_before = s.counter("sluice_component_errors_total", component_id="in",
                          reason="reply_error")
control({"fail": 0})
wait_until(lambda: stored() == sorted("v%d" % i for i in range(N)), 60, "the items delivered")
wait_until(lambda: s.component("in")["pending_acks"] == 0, 60, "the acks collected")
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="in",
                             reason="reply_error") > errors_before, 60, "a refused write")
assert redis.cmd("LLEN", "q:processing") == N  # refused so far

redis.cmd("CONFIG", "SET", "save", "")  # writes are taken again
wait_until(lambda: redis.cmd("LLEN", "q:processing") == 0, 60, "the processing list emptied")
assert s.stop() == 0, s.log_text()[-2000:]
emu.stop()
redis.stop()
print("ok")
