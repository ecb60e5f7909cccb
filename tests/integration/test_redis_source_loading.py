"""redis source (list mode) starting while redis-server is still loading its data after a
restart: the items a previous run left in flight in the processing list are re-emitted once
the server answers, not only at the next start. Before, LLEN's -LOADING reply read as an
empty processing list and the recovery was done: those items sat there unseen. The server
loads slowly on purpose (key-load-delay, and events served every KiB loaded)."""
import os
import subprocess

from harness import Sluice, WORK, _started, free_port, ndjson_file, wait_until
from redis_server import Redis

LEFT = ["left%d" % i for i in range(10)]
NEW = ["new%d" % i for i in range(10)]
redis = Redis()
# Keys enough for the load to take a while, each over the KiB after which events are served.
redis.cmd("EVAL", "for i = 1, 200 do redis.call('SET', 'filler' .. i, string.rep(i, 1200)) end",
          0)
redis.cmd("RPUSH", "q:processing", *LEFT)  # what a crashed run had in flight
redis.cmd("RPUSH", "q", *NEW)
redis.cmd("SAVE")
redis.stop()

out = os.path.join(WORK, "out.ndjson")
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: redis, address: "127.0.0.1:%d", key: q, block: 100ms }
sinks:
  out:
    type: file
    inputs: [in]
    path: %s
    batch: { max_events: 5, timeout_ms: 20 }
""" % (WORK, free_port(), redis.port, out)).start()
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="in",
                             reason="connect") >= 1, 60, "the source to find Redis down")

loading = subprocess.Popen(
    ["redis-server", "--port", str(redis.port), "--bind", "127.0.0.1", "--save", "",
     "--appendonly", "no", "--dir", redis.dir, "--key-load-delay", "50000",
     "--loading-process-events-interval-bytes", "1024"], stdout=subprocess.DEVNULL)
_started.append(loading)
wait_until(lambda: s.counter("sluice_component_errors_total", component_id="in",
                             reason="reply_error") >= 1, 120, "the source to meet LOADING")


def messages():
    return sorted(e["message"] for e in ndjson_file(out))


wait_until(lambda: messages() == sorted(LEFT + NEW), 120, "the left items and the new ones")
wait_until(lambda: redis.cmd("LLEN", "q:processing") == 0, 60, "the processing list emptied")
assert s.stop() == 0, s.log_text()[-2000:]
loading.terminate()
loading.wait(timeout=30)
print("ok")
