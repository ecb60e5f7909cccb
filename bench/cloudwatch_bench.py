#!/usr/bin/python3
"""cloudwatch_bench.py - backfill of CW_BENCH_EVENTS (default 1,000,000) CloudWatch events from
the emulator into the elasticsearch emulator (count-only). Reports events/s per CPU-second of
sluice, wall events/s, peak RSS and API requests per event.

  SLUICE=build/sluice /usr/bin/python3 bench/cloudwatch_bench.py
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
work = tempfile.mkdtemp(prefix="sluice-cwbench.")
os.environ.setdefault("WORK", work)
from harness import Emulator  # noqa: E402

SLUICE = os.environ.get("SLUICE", os.path.join(ROOT, "build", "sluice"))
N = int(os.environ.get("CW_BENCH_EVENTS", "1000000"))
GROUPS, STREAMS, DAYS = 3, 20, 30
per_hour = max(1, N // (GROUPS * STREAMS * DAYS * 24))
CLK = os.sysconf("SC_CLK_TCK")


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


cw = Emulator("cloudwatch_emulator.py")
es = Emulator("es_emulator.py", "--count-only")
cwb, esb = "http://127.0.0.1:%d" % cw.port, "http://127.0.0.1:%d" % es.port
groups = ["/aws/lambda/bench-%d" % i for i in range(GROUPS)]
total = post(cwb + "/_emulator/generate", {"groups": groups, "streams": STREAMS, "days": DAYS,
                                           "per_hour": per_hour, "end_ms": int(time.time() * 1000) - 60000,
                                           "json": True})["events"]
cfg = os.path.join(work, "bench.yaml")
with open(cfg, "w") as f:
    f.write("""
data_dir: %s/data
api: { enabled: false }
sources:
  cw: { type: cloudwatch_logs, log_groups: %s, endpoint: "%s", backfill_days: %d,
        window_minutes: 1440, page_limit: 10000, max_requests_per_sec: 1000, poll_interval_secs: 5 }
sinks:
  es: { type: elasticsearch, inputs: [cw], endpoint: "%s", index: "cwl-{{ cloudwatch.log_group_slug }}",
        batch: { max_events: 5000 } }
""" % (work, json.dumps(groups), cwb, DAYS + 1, esb))
env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDSLUICETEST", AWS_SECRET_ACCESS_KEY="sluice-test-secret",
           AWS_EC2_METADATA_DISABLED="true")
t0 = time.monotonic()
p = subprocess.Popen([SLUICE, "run", "-c", cfg], env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "w"))
try:
    print("generated %d events" % total, flush=True)
    while get(esb + "/_emulator/stats")["count_only_docs"] < total:
        if p.poll() is not None:
            raise SystemExit("sluice exited")
        time.sleep(0.2)
        if os.environ.get("CW_BENCH_VERBOSE"):
            print(get(esb + "/_emulator/stats")["count_only_docs"], flush=True)
    wall = time.monotonic() - t0
    with open("/proc/%d/stat" % p.pid) as f:
        st = f.read().rsplit(")", 1)[1].split()
    cpu = (int(st[11]) + int(st[12])) / CLK
    with open("/proc/%d/status" % p.pid) as f:
        hwm = [l for l in f if l.startswith("VmHWM")][0].split()[1]
    reqs = get(cwb + "/_emulator/stats")["per_action"].get("FilterLogEvents", 0)
    print("events=%d wall=%.1fs events/s=%.0f cpu=%.2fs events/cpu-s=%.0f peak_rss=%.1fMB "
          "requests=%d requests/event=%.5f" % (total, wall, total / wall, cpu, total / max(cpu, 1e-9),
                                                int(hwm) / 1024.0, reqs, reqs / total))
finally:
    p.kill()
    p.wait()
    cw.stop()
    es.stop()
    if not os.environ.get("CW_BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
