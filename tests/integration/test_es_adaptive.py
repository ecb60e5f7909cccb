"""elasticsearch sink with `concurrency: adaptive`: the limit rises while the node answers
quickly and is at least halved once answers become far slower than the moving average
(here: the node starts taking 400 ms per request). Every event is stored exactly once.
(Halving on 429s is in test_es_faults.)"""
import os

from harness import Emulator, Sluice, WORK, append_lines, free_port, http_json, log, wait_until

N = int(os.environ.get("ES_N", "12000"))
M = 1500
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
path = os.path.join(logs, "a.log")


def write(lo, hi):
    append_lines(path, ("adaptive %06d" % i for i in range(lo, hi)))


emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def call(method, p, body=None):
    return http_json(base + p, body, method)


stats = lambda: call("GET", "/_emulator/stats")
port = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  es:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: adaptive
    concurrency: adaptive
    timeout_ms: 10000
    batch: { max_events: 40, timeout_ms: 20 }
""" % (WORK, port, logs, base)
write(0, N)
s = Sluice(cfg).start()
limit = lambda: s.metric("sluice_sink_concurrency_limit", component_id="es")
try:
    peak = 0
    def fast_done():
        global peak
        peak = max(peak, limit() or 0)
        return stats()["docs"] == N
    wait_until(fast_done, 60, "fast phase delivered")
    peak = max(peak, limit())
    assert peak >= 3, peak  # it rose from 1 while answers were quick
    call("POST", "/_emulator/control", {"delay_ms": 400})
    write(N, N + M)
    wait_until(lambda: limit() <= peak // 2, 60, "limit halved on slow answers")
    call("POST", "/_emulator/control", {"delay_ms": 0})
    wait_until(lambda: stats()["docs"] == N + M, 60, "everything delivered")
    st = stats()
    assert st["created"] == N + M and st["conflicts"] == 0, st
finally:
    s.stop()
log("ok: adaptive concurrency rose to %d on quick answers and fell to %d or less when slow"
    % (peak, peak // 2))
emu.stop()
