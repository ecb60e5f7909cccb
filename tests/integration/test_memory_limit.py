"""limits.memory: a fast file source and a slow http sink whose memory buffer is far larger
than the limit. Without the limit the buffer would take the whole file (several times the
limit); with it the source pauses (one info line, sluice_memory_paused_sources, the
status's memory.paused_classes), the resident set sampled from /proc/<pid>/status stays
under the limit plus ALLOWANCE, the source resumes as the sink drains, and every line is
delivered once.

The limit is set relative to the process's own footprint, measured first by a run with
the same pipeline and one event (libcurl loaded), so the test means the same under ASan."""
import json
import os
import re
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until
from mem_common import ASAN_ALLOWANCE, MiB, PeakSampler, assert_peak_under, limit_over, vmrss

N = int(os.environ.get("IT_MEM_LINES", "250000"))
LINE = 300
ROOM = 32 * MiB     # the limit is the measured footprint plus this
ALLOWANCE = 4 * MiB + ASAN_ALLOWANCE  # what a 5 ms sampler may see beyond it: a read turn and a request
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
emu = Emulator("http_sink_server.py")
ctl = lambda body: urllib.request.urlopen(urllib.request.Request(
    "http://127.0.0.1:%d/control" % emu.port, data=json.dumps(body).encode(), method="POST"),
    timeout=10).read()
stats = lambda: json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % emu.port,
                                                  timeout=10).read())


def config(port, limit):
    return """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
%s
sources:
  in: { type: file, include: ["%s/*.log"], read_from: head }
sinks:
  out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: memory, max_bytes: 1GiB }
    batch: { max_events: 1000, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, port, "limits: { memory: %d }" % limit if limit else "", logs, emu.port)


# 1. The footprint: one event through the same pipeline.
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("warm-up\n")
s = Sluice(config(free_port(), 0), name="base").start()
wait_until(lambda: stats()["lines"] == 1, 60, "the warm-up event delivered")
base = vmrss(s.proc.pid)
assert s.stop() == 0
limit = limit_over(base, ROOM)
ctl({"reset": True})

# 2. Input more than twice the room: it cannot all sit in memory under the limit.
os.remove(os.path.join(logs, "a.log"))
with open(os.path.join(logs, "b.log"), "w") as f:
    for i in range(N):
        f.write("mem %07d %s\n" % (i, "m" * (LINE - 13)))
assert N * LINE > 2 * ROOM
ctl({"delay_ms": 40})  # about 25 requests of 1000 events a second: the sink is slow

s = Sluice(config(free_port(), limit)).start()
sampler = PeakSampler(s.proc.pid)
try:
    st = s.status()["memory"]
    assert st["limit_bytes"] == limit and st["from"] == "config", st
    assert s.metric("sluice_memory_limit_bytes") == limit
    wait_until(lambda: re.search(r"memory: .*pausing .*live", s.log_text()), 120,
               "the source paused for memory")
    wait_until(lambda: re.search(r"memory: .*resuming .*live", s.log_text()), 300,
               "the source resumed")
    assert s.component("in")["counters"].get("memory_pauses", 0) >= 1
    ctl({"delay_ms": 0})
    wait_until(lambda: stats()["lines"] == N, 300, "every line delivered")
    # quiet: nothing buffered, so nothing can be paused any more
    wait_until(lambda: s.status()["memory"]["paused_classes"] == [], 30, "no class paused")
    wait_until(lambda: s.metric("sluice_memory_paused_sources") == 0, 30, "no source paused")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
    after = vmrss(s.proc.pid)
finally:
    sampler.stop()
    s.stop()
with urllib.request.urlopen("http://127.0.0.1:%d/lines" % emu.port, timeout=60) as r:
    got = [json.loads(l)["message"] for l in r.read().decode().splitlines() if l.strip()]
ids = set(m.split()[1] for m in got)
assert len(got) == N and len(ids) == N, (len(got), len(ids))
text = s.log_text()
pauses = len(re.findall(r"pausing .*live", text))
log("footprint %.1f MiB, limit %.1f MiB, peak RSS sampled %.1f MiB, after drain %.1f MiB, "
    "%d pause(s) of the live class, %d lines delivered once" % (base / MiB, limit / MiB,
                                                                sampler.peak / MiB, after / MiB, pauses, N))
assert_peak_under(sampler.peak, limit, ALLOWANCE)
assert after <= limit, (after, limit)
emu.stop()
