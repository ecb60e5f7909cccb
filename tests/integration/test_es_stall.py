"""elasticsearch sink against a node that stops answering: the sink's memory buffer fills,
the file source pauses (stops emitting), sluice's RSS stays flat while the stall lasts,
and once the node answers again every event is delivered exactly once."""
import os
import time

from harness import Emulator, Sluice, WORK, file_to_es_config, http_json, log, wait_until

N = int(os.environ.get("ES_N", "200000"))
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
with open(os.path.join(logs, "a.log"), "w") as f:
    for i in range(N):
        f.write("stall event %07d %s\n" % (i, "y" * 40))

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def ctl(p, body=None):
    return http_json(base + p, body)


ctl("/_emulator/control", {"stall": True})
cfg = file_to_es_config(logs, base, """\
    index: stall
    timeout_ms: 120000
    concurrency: 2
    buffer: { type: memory, max_bytes: 2MiB }
    batch: { max_events: 1000, timeout_ms: 50 }
""")
s = Sluice(cfg).start()


def rss_kb():
    with open("/proc/%d/status" % s.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])


def emitted():
    return s.component("in")["sent_events"]


try:
    # Both workers hold a request the node never answers (timeout_ms is long), so they take
    # nothing more from the buffer: once the source waits for room it waits for good.
    wait_until(lambda: ctl("/_emulator/stats")["inflight"] == 2, 30, "both workers' requests held by the node")
    wait_until(lambda: s.component("es")["buffer"]["blocked_pushes"] > 0, 60, "the source blocked")
    paused_at = emitted()
    assert paused_at < N, paused_at
    samples = []
    for _ in range(8):
        samples.append(rss_kb())
        time.sleep(0.25)
    assert emitted() == paused_at, "source kept reading while the sink was stalled"
    log("paused at %d of %d events; RSS samples (kB): %s" % (paused_at, N, samples))
    assert max(samples) - min(samples) < 4096, samples
    ctl("/_emulator/control", {"stall": False})
    wait_until(lambda: ctl("/_emulator/stats")["docs"] == N, 90, "delivery after the stall")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
finally:
    ctl("/_emulator/control", {"stall": False})
    assert s.stop() == 0
st = ctl("/_emulator/stats")
assert st["docs"] == N and st["created"] == N, st
log("ok: paused under a stalled node with flat RSS, then %d events delivered once" % N)
emu.stop()
