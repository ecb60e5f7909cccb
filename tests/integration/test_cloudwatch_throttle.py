"""cloudwatch_logs under throttling: the emulator refuses FilterLogEvents beyond 3 calls a
second while sluice is allowed 40, and a 10-day backfill in 3-hour windows (264
calls) is pending. New events written meanwhile must all reach the destination long before
the backfill gets half way (the live tail goes first and backfill yields on throttling),
throttles are counted, and nothing is lost once the limit is lifted."""
import json
import os
import time
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

GROUPS = ["/t/a", "/t/b", "/t/c"]
DAYS = int(os.environ.get("CW_THROTTLE_DAYS", "10"))
cw = Emulator("cloudwatch_emulator.py", "--rps", "3")
es = Emulator("es_emulator.py")
cwb, esb = "http://127.0.0.1:%d" % cw.port, "http://127.0.0.1:%d" % es.port


def post(url, obj):
    req = urllib.request.Request(url, data=json.dumps(obj).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.read().decode()


def docs():
    return [json.loads(l) for l in get(esb + "/_emulator/docs").splitlines() if l.strip()]


total = post(cwb + "/_emulator/generate", {"groups": GROUPS, "streams": 20, "days": DAYS, "per_hour": 1,
                                           "end_ms": int(time.time() * 1000) - 120000})["events"]
port = free_port()
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  cw: { type: cloudwatch_logs, log_groups: %s, endpoint: "%s", backfill_days: %d, window_minutes: 180,
        poll_interval_secs: 2, overlap_secs: 5, max_requests_per_sec: 40, backoff_base_ms: 100,
        backoff_max_ms: 2000 }
sinks:
  es: { type: elasticsearch, inputs: [cw], endpoint: "%s", index: "thr", batch: { max_events: 200, timeout_ms: 50 } }
""" % (WORK, port, json.dumps(GROUPS), cwb, DAYS + 1, esb)
env = {"AWS_ACCESS_KEY_ID": "AKIDSLUICETEST", "AWS_SECRET_ACCESS_KEY": "sluice-test-secret",
       "AWS_EC2_METADATA_DISABLED": "true"}
s = Sluice(cfg, env=env).start()
try:
    live = []
    for i in range(15):
        t = int(time.time() * 1000)
        post(cwb + "/_emulator/put", {"group": GROUPS[i % 3], "stream": "live",
                                      "events": [{"timestamp": t, "message": "live %d" % i}]})
        live.append("live %d" % i)
        time.sleep(0.2)
    wait_until(lambda: {d["_source"]["message"] for d in docs()} >= set(live), 120, "live events")
    got = len(docs()) - len(live)
    log("live delivered with %d of %d backfill events done" % (got, total))
    assert got < total // 2, "backfill was not slowed (%d of %d)" % (got, total)
    st = json.loads(get(cwb + "/_emulator/stats"))
    assert st["throttled"] > 0, st
    assert (s.metric("sluice_component_errors_total", component_id="cw", reason="throttled") or 0) > 0
    # lift the limit: everything arrives, exactly once
    post(cwb + "/_emulator/control", {"rps": 0})
    want = {json.loads(l)["id"] for l in get(cwb + "/_emulator/events").splitlines() if l.strip()}
    wait_until(lambda: len(docs()) >= len(want), 120, "backfill after the limit is lifted")
    ids = [d["_id"] for d in docs()]
    assert len(ids) == len(set(ids)) and set(ids) == want, (len(ids), len(want))
    assert s.stop() == 0
    log("throttling ok:", {k: st[k] for k in ("requests", "throttled")})
finally:
    cw.stop()
    es.stop()
