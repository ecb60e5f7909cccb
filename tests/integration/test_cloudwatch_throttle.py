"""cloudwatch_logs under throttling: the emulator refuses FilterLogEvents beyond 3 calls a
second while sluice is allowed 40, and a 10-day backfill in 3-hour windows (264 calls) is
pending. Live events are written meanwhile. The emulator logs every request in order
(action, group, window, throttled or not, which live events it returned), and from that log:

- each live event is returned by a live-tail request after at most K backfill requests were
  served following its insertion. K = 9 follows from the design, not from a clock: the
  event's group is due for a live poll at most poll_interval_secs (2 s) after the event
  arrives; from then on the due live tail goes before any backfill page, and a refused live
  request pauses backfill until after the live retry plus a longer backoff, so no backfill
  is served until the live request is. Before that, in those 2 s, the emulator serves at
  most 3 FilterLogEvents per sliding second: at most 3 x (2 + 1) = 9. (Without priorities
  the event would wait behind the remaining backfill: hundreds of pages.)
- backfill windows are first requested newest first (recent history before older, deep last);
- backfill backs off harder than the live tail: both are throttled, sluice's own counters of
  throttled requests per priority match the log's, and the backoff chosen per throttled
  backfill request is longer on average than per throttled live request (by design a live
  retry waits at most 4 x backoff_base_ms and a throttled backfill page at least that);
- sluice's live-tail lag metrics count exactly the live events;
- the backfill got less than half way while the live events flowed, and after the limit is
  lifted everything arrives exactly once."""
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
        backoff_max_ms: 2000, stream_discover_interval_secs: 5 }
sinks:
  es: { type: elasticsearch, inputs: [cw], endpoint: "%s", index: "thr", batch: { max_events: 200, timeout_ms: 50 } }
""" % (WORK, port, json.dumps(GROUPS), cwb, DAYS + 1, esb)
env = {"AWS_ACCESS_KEY_ID": "AKIDSLUICETEST", "AWS_SECRET_ACCESS_KEY": "sluice-test-secret",
       "AWS_EC2_METADATA_DISABLED": "true"}
s = Sluice(cfg, env=env).start()
try:
    live = []
    # the shared limit may or may not catch a live request; these two refusals surely do
    post(cwb + "/_emulator/control", {"throttle_live": 2, "grid_ms": 180 * 60000})
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
    # the request log, complete now that nothing is throttled any more
    W = 180 * 60000
    reqlog = [json.loads(l) for l in get(cwb + "/_emulator/requests").splitlines() if l.strip()]

    def backfill(e):  # backfill windows are aligned to window_minutes at one end at least
        return e["start"] % W == 0 or (e["end"] + 1) % W == 0

    fle = [e for e in reqlog if e["action"] == "FilterLogEvents"]
    worst = 0
    for p in (e for e in reqlog if e["action"] == "put"):
        eid = p["ids"][0]
        q = next(e for e in fle if e["seq"] > p["seq"] and eid in e["live_ids"])
        assert not backfill(q), ("a live event came through backfill", q)
        served = [e for e in fle if p["seq"] < e["seq"] < q["seq"] and backfill(e) and e["status"] == 200]
        worst = max(worst, len(served))
        assert len(served) <= 9, "live event %s waited for %d backfill requests" % (eid, len(served))
    # backfill windows are first asked for newest first: recent history before older, deep last
    firsts = [e["end"] for e in fle if backfill(e) and not e["token"] and e["status"] == 200]
    seen, order = set(), []
    for end in firsts:
        if end not in seen:
            seen.add(end)
            order.append(end)
    assert order == sorted(order, reverse=True), "backfill windows not newest first"
    thr_live = len([e for e in fle if e["throttled"] and not backfill(e)])
    thr_bf = len([e for e in fle if e["throttled"] and backfill(e)])
    log("worst wait: %d backfill requests; throttled live %d, backfill %d" % (worst, thr_live, thr_bf))

    counter = lambda name: s.component_counter("cw", name)
    assert thr_bf > 0 and thr_live > 0, (thr_live, thr_bf)
    assert counter("throttled_live") == thr_live, (counter("throttled_live"), thr_live)
    assert counter("throttled_backfill") == thr_bf, (counter("throttled_backfill"), thr_bf)
    per_live = counter("backoff_ms_live") / thr_live
    per_bf = counter("backoff_ms_backfill") / thr_bf
    log("backoff per throttled request: live %.0f ms, backfill %.0f ms" % (per_live, per_bf))
    assert per_bf > per_live, (per_bf, per_live)
    # the live tail's own lag metrics: every live event counted once, with its delay
    assert counter("live_events") == len(live), counter("live_events")
    assert counter("live_delay_ms") > 0
    cw_status = s.component("cw")
    assert cw_status["live_delay_max_ms"] >= counter("live_delay_ms") / len(live), cw_status
    assert len(cw_status["log_groups"]) == 3, cw_status
    assert s.stop() == 0
    log("throttling ok:", {k: st[k] for k in ("requests", "throttled")})
finally:
    cw.stop()
    es.stop()
