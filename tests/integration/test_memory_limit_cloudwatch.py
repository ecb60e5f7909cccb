"""limits.memory with cloudwatch_logs: a backfill of three days of 1 KB events (about
five times the room the limit leaves) into a slow http sink whose memory buffer could take
all of it. The source holds its backfill (deep history first: the windows older than
deep_days) before the process reaches the limit: its `memory_pauses` counter counts it, the
log says which classes paused, the resident set sampled from /proc/<pid>/status stays
under the limit plus ALLOWANCE, and once the sink has drained every event CloudWatch holds
is delivered exactly once. The limit is the footprint of the same pipeline on an empty
group plus ROOM, so the test means the same under ASan."""
import json
import os
import time
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, post_json, wait_until
from mem_common import ASAN_ALLOWANCE, MiB, PeakSampler, assert_peak_under, limit_over, vmrss

ROOM = 24 * MiB
ALLOWANCE = 4 * MiB + ASAN_ALLOWANCE   # a page (page_limit 200 x 1 KB) being parsed, a request in flight
DAYS = 3
PER_STREAM = int(os.environ.get("IT_MEMCW_EVENTS", "30000"))
GROUP = "/mem/app"
cw = Emulator("cloudwatch_emulator.py")
cwb = "http://127.0.0.1:%d" % cw.port
sink = Emulator("http_sink_server.py")
ctl = lambda body: post_json("http://127.0.0.1:%d/control" % sink.port, body)
stats = lambda: json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % sink.port,
                                                  timeout=10).read())
env = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDSLUICETEST",
       "AWS_SECRET_ACCESS_KEY": "sluice-test-secret"}


def config(name, group, limit):
    return """data_dir: %s/%s-data
api: { address: "127.0.0.1:%d" }
%s
sources:
  cw: { type: cloudwatch_logs, log_groups: ["%s"], endpoint: "%s", region: eu-west-1,
        backfill_days: %d, window_minutes: 60, deep_days: 1, recent_days: 1,
        poll_interval_secs: 5, overlap_secs: 5, max_requests_per_sec: 1000, page_limit: 200,
        stream_discover_interval_secs: 0 }
sinks:
  out:
    type: http
    inputs: [cw]
    uri: "http://127.0.0.1:%d/ingest"
    buffer: { type: memory, max_bytes: 1GiB }
    batch: { max_events: 500, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
""" % (WORK, name, free_port(), "limits: { memory: %d }" % limit if limit else "", group, cwb,
       DAYS + 1, sink.port)


# 1. The footprint: the same pipeline on a group with one event.
now = int(time.time() * 1000)
post_json(cwb + "/_emulator/put", {"group": "/mem/empty", "stream": "s", "events": [
    {"timestamp": now - 7200000, "message": "warm-up"}]})
s = Sluice(config("base", "/mem/empty", 0), name="base", env=env).start()
wait_until(lambda: stats()["lines"] == 1, 60, "the warm-up event delivered")
base = vmrss(s.proc.pid)
assert s.stop() == 0
limit = limit_over(base, ROOM)
ctl({"reset": True})

# 2. Three days of 1 KB events in two streams (the last 10 minutes left to the live tail).
end = now - 600000
total = 0
for stream in ("s1", "s2"):
    for lo in range(0, PER_STREAM, 5000):
        evs = [{"timestamp": end - 1 - (i * DAYS * 86400000) // PER_STREAM,
                "message": "%s %s %06d %s" % (GROUP, stream, i, "k" * 1000)}
               for i in range(lo, min(PER_STREAM, lo + 5000))]
        post_json(cwb + "/_emulator/put", {"group": GROUP, "stream": stream, "events": evs},
                  timeout=120)
        total += len(evs)
assert total * 1000 > 2 * ROOM
ctl({"delay_ms": 40})  # about 25 requests of 500 events a second

s = Sluice(config("run", GROUP, limit), env=env).start()
sampler = PeakSampler(s.proc.pid)
try:
    wait_until(lambda: s.component("cw")["counters"].get("memory_pauses", 0) >= 1, 120,
               "the backfill held for memory")
    wait_until(lambda: "pausing deep_history" in s.log_text(), 30, "the deep history line")
    ctl({"delay_ms": 0})
    wait_until(lambda: stats()["lines"] >= total, 300, "every event delivered")
    wait_until(lambda: s.component("cw")["backfill"]["remaining_windows"] == 0, 60,
               "every window committed")
    wait_until(lambda: s.metric("sluice_memory_paused_sources") == 0, 30, "no source paused")
    pauses = s.component("cw")["counters"]["memory_pauses"]
finally:
    sampler.stop()
    s.stop()
with urllib.request.urlopen("http://127.0.0.1:%d/lines" % sink.port, timeout=60) as r:
    got = [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]
ids = set(g["cloudwatch"]["event_id"] if isinstance(g.get("cloudwatch"), dict)
          else g.get("cloudwatch.event_id") for g in got)
assert len(got) == total and len(ids) == total, (len(got), len(ids), total)
log("footprint %.1f MiB, limit %.1f MiB, peak RSS sampled %.1f MiB; backfill held %d time(s);"
    " %d events delivered once" % (base / MiB, limit / MiB, sampler.peak / MiB, pauses, total))
assert_peak_under(sampler.peak, limit, ALLOWANCE)
cw.stop()
sink.stop()
