"""cloudwatch_logs stream discovery (DescribeLogStreams): listings are paginated (pages of 7
here), ordered by LastEventTime descending, and shown per group in the status API; a group
with no stream is not read (no FilterLogEvents) until a later listing finds one, and then
its events - a live one and an older one inside its deferred backfill - are read although
the emulator's lastEventTimestamp / lastIngestionTime lag an hour behind (they are updated
lazily by the real service too, so they never make sluice skip a window).
log_stream_prefix reaches FilterLogEvents as logStreamNamePrefix, and log_streams as
logStreamNames at most 100 a request (the emulator refuses more): only those streams'
events arrive, each exactly once."""
import json
import os
import time

from harness import Emulator, Sluice, WORK, free_port, get_ndjson, log, ndjson_file, post_json, wait_until

cw = Emulator("cloudwatch_emulator.py", "--page-size", "7")
cwb = "http://127.0.0.1:%d" % cw.port
HOUR = 3600 * 1000
now = int(time.time() * 1000)

post_json(cwb + "/_emulator/control", {"stream_stats_lag_ms": HOUR})
busy = post_json(cwb + "/_emulator/generate", {"groups": ["/s/busy"], "streams": 20, "days": 1, "per_hour": 1,
                                               "end_ms": now - 60000})["events"]
post_json(cwb + "/_emulator/generate", {"groups": ["/s/empty"], "streams": 0})


def put(group, stream, ts, msg):
    return post_json(cwb + "/_emulator/put", {"group": group, "stream": stream,
                                              "events": [{"timestamp": ts, "message": msg}]})["ids"][0]


want_filtered = set()
for i, stream in enumerate(["app-1", "app-2", "other-1"]):
    for k in range(5):
        eid = put("/s/filtered", stream, now - (k + 1) * HOUR // 2 - i, "%s %d" % (stream, k))
        if stream.startswith("app-"):
            want_filtered.add(eid)
NAMED = ["n-%03d" % i for i in range(110)]
want_many = set()
for i in range(120):
    eid = put("/s/many", "n-%03d" % i, now - HOUR - i * 1000, "many %d" % i)
    if i < 110:
        want_many.add(eid)

out = os.path.join(WORK, "out.ndjson")
port = free_port()
common = ('endpoint: "%s", backfill_days: 2, window_minutes: 60, poll_interval_secs: 1, overlap_secs: 2, '
          'stream_discover_interval_secs: 1, max_requests_per_sec: 200, backoff_base_ms: 20, backoff_max_ms: 200' % cwb)
cfg = """
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  cw: { type: cloudwatch_logs, log_groups: ["/s/busy", "/s/empty"], %s }
  cwp: { type: cloudwatch_logs, log_groups: ["/s/filtered"], log_stream_prefix: "app-", %s }
  cwn: { type: cloudwatch_logs, log_groups: ["/s/many"], log_streams: %s, %s }
sinks:
  out: { type: file, inputs: [cw, cwp, cwn], path: "%s" }
""" % (WORK, port, common, common, json.dumps(NAMED + ["n-absent"]), common, out)
env = {"AWS_ACCESS_KEY_ID": "AKIDSLUICETEST", "AWS_SECRET_ACCESS_KEY": "sluice-test-secret",
       "AWS_EC2_METADATA_DISABLED": "true"}


def lines():
    return ndjson_file(out)


def ids(group):
    return {e["cloudwatch.event_id"] for e in lines() if e["cloudwatch.log_group"] == group}


def reqs():
    return get_ndjson(cwb + "/_emulator/requests")


def groups(s, cid):
    return {g["name"]: g for g in s.component(cid)["log_groups"]}


s = Sluice(cfg, env=env).start()
try:
    wait_until(lambda: len(ids("/s/busy")) == busy, 60, "the busy group's history")
    wait_until(lambda: groups(s, "cw")["/s/busy"]["streams"] == 20, 60, "busy listed")
    wait_until(lambda: groups(s, "cw")["/s/empty"]["streams"] == 0, 60, "empty listed")
    st = groups(s, "cw")
    assert st["/s/busy"]["read"] and not st["/s/empty"]["read"], st
    # lastEventTimestamp lags an hour: the newest the listing knows is at least an hour old
    assert 0 < st["/s/busy"]["newest_event_ms"] <= now - HOUR + 60000, st["/s/busy"]
    r = reqs()
    d_busy = [e for e in r if e["action"] == "DescribeLogStreams" and e["group"] == "/s/busy"]
    assert any(e["token"] for e in d_busy), "listing not paginated"
    assert all(e["order"] == "LastEventTime" and e["descending"] for e in d_busy), d_busy[:2]
    # after the first complete listing of the empty group, at most the jobs already under way
    # (one live, one backfill page) touch it, and nothing more while more listings come and
    # go: a bound on the total that holds at every moment (a job under way may reach the
    # emulator after any snapshot of its log)
    first = min(e["seq"] for e in r if e["action"] == "DescribeLogStreams" and e["group"] == "/s/empty"
                and e["status"] == 200)
    n_empty = lambda rr: len([e for e in rr if e["action"] == "FilterLogEvents" and e["group"] == "/s/empty"
                              and e["seq"] > first])
    assert n_empty(r) <= 2, n_empty(r)
    wait_until(lambda: len([e for e in reqs() if e["action"] == "DescribeLogStreams"
                            and e["group"] == "/s/empty" and e["seq"] > first]) >= 5, 60,
               "more listings of the empty group")
    assert n_empty(reqs()) <= 2, "an empty group was read (%d requests)" % n_empty(reqs())
    # a stream appears: a live event and one a day old (its backfill window was deferred)
    t = int(time.time() * 1000)
    live_id = put("/s/empty", "late-stream", t, "first live")
    old_id = put("/s/empty", "late-stream", t - 24 * HOUR, "first old")
    wait_until(lambda: ids("/s/empty") == {live_id, old_id}, 60, "the new stream's events")
    wait_until(lambda: groups(s, "cw")["/s/empty"]["streams"] == 1, 60, "the new stream listed")
    assert groups(s, "cw")["/s/empty"]["newest_event_ms"] == 0  # not yet in the lazy fields
    assert "streams now; reading it again" in s.log_text()
    # prefix and names
    wait_until(lambda: ids("/s/filtered") == want_filtered, 60, "prefix app- events")
    wait_until(lambda: ids("/s/many") == want_many, 60, "named streams' events")
    r = reqs()
    fp = [e for e in r if e.get("group") == "/s/filtered"]
    assert fp and all(e["prefix"] == "app-" for e in fp), fp[:3]
    assert all(e["order"] is None for e in fp if e["action"] == "DescribeLogStreams")
    fm = [e for e in r if e["action"] == "FilterLogEvents" and e["group"] == "/s/many"]
    assert all(1 <= e["names"] <= 100 for e in fm) and {100, 11} <= {e["names"] for e in fm}, \
        sorted({e["names"] for e in fm})
    assert all(e["status"] == 200 for e in fm)
    assert groups(s, "cwp")["/s/filtered"]["streams"] == 2
    assert groups(s, "cwn")["/s/many"]["streams"] == 110
    # every event once (the file sink keeps live overlap re-reads, and the live tail skips
    # ids it already sent)
    all_ids = [e["cloudwatch.event_id"] for e in lines()]
    assert len(all_ids) == len(set(all_ids)), len(all_ids) - len(set(all_ids))
    assert s.stop() == 0
    log("streams ok: %d requests, %d listings" % (len(r), len([e for e in r if e["action"] == "DescribeLogStreams"])))
finally:
    s.kill9()
    cw.stop()
