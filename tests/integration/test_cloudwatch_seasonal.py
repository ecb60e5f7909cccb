"""cloudwatch_logs seasonal plausibility: five weeks of day/night traffic (busy 08-24 UTC,
nothing 00-08) are in the CloudWatch emulator; the 28-day backfill teaches the model every
hour of the week (reconciliation is configured but its first round is a day away, so the
backfill runs alone) and the model is saved at shutdown. A restart loads it (every hour is
judged at once) and reconciles the last 24 hours every second:
  - a quiet night hour (zero in the destination, zero expected) is never read from
    CloudWatch again: no FilterLogEvents for its window after its first skip, over several
    rounds;
  - a busy hour deleted from the destination is found implausible, re-read (a count and a
    repair: FilterLogEvents for exactly that window) and restored exactly;
  - `sluice top` shows both verdicts' counts and the group's retention.
Last, a corrupt model file is moved aside with a warning and learned again, without a
crash."""
import json
import os
import re
import subprocess
import time
import urllib.request

from harness import SLUICE, Sluice, WORK, free_port, log, wait_until, get_ndjson, post_json
from cw_common import aws_env, counter, cw_es_config, cw_groups, start_emulators, write_credentials

HOUR = 3600 * 1000
BUSY = 30  # events a busy hour
PROFILE = [0] * 8 + [BUSY] * 16
GROUP = "/svc/checkout"
INDEX = "cwl-svc-checkout"

cw, es, cwb, esb = start_emulators("--page-size", "500")

now_ms = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": [GROUP], "streams": 1, "days": 35,
                                             "profile": PROFILE, "end_ms": now_ms})
log("history:", gen)


def group_query(start, end):
    return {"query": {"bool": {"filter": [
        {"term": {"cloudwatch.log_group": GROUP}},
        {"range": {"@timestamp": {"gte": start, "lt": end, "format": "epoch_millis"}}}]}}}


def es_window_count(start, end):
    req = urllib.request.Request(esb + "/" + INDEX + "/_count",
                                 data=json.dumps(group_query(start, end)).encode(), method="POST")
    return json.loads(urllib.request.urlopen(req, timeout=30).read())["count"]


def requests():
    return get_ndjson(cwb + "/_emulator/requests")


def filter_calls(win, since):
    """FilterLogEvents calls for exactly this window (a check's count or a repair's read)."""
    return [r for r in requests()[since:] if r.get("action") == "FilterLogEvents"
            and r["start"] == win[0] and r["end"] == win[1] - 1]


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(ms // 1000))


# The last complete hours: the newest quiet one and the newest busy one, both within the
# 24 recent hours every round checks (a day holds both; the first of them is at least an
# hour old, so it is settled as soon as the live tail has passed it).
top = now_ms // HOUR * HOUR
hours = [(top - (k + 1) * HOUR, top - k * HOUR) for k in range(1, 22)]
quiet = next(w for w in hours if PROFILE[time.gmtime(w[0] // 1000).tm_hour] == 0)
busy = next(w for w in hours if PROFILE[time.gmtime(w[0] // 1000).tm_hour] == BUSY)
log("quiet window", iso(quiet[0]), "busy window", iso(busy[0]))

port = free_port()
creds = write_credentials()


def config(interval):
    return cw_es_config(cwb, esb, creds, [GROUP], 28, port=port,
                        source={"max_requests_per_sec": 200, "reconcile_interval_secs": interval},
                        reconcile={"recent_hours": 24, "sample": 2,
                                   "seasonal": {"min_history": 3, "threshold": "0.001"}})


env = aws_env()


def group(s):
    return cw_groups(s).get(GROUP) or {"backfill": {"windows_total": 0, "remaining_windows": -1},
                                       "season": {"buckets_learned": -1}}


def season(s):
    return group(s)["season"]


def lines(s, text):
    return [l for l in s.log_text().splitlines() if text in l]


skip_line = "season: %s window %s es=0 expected=0" % (GROUP, iso(quiet[0]))
alarm_line = "season: %s window %s es=0 expected=%d" % (GROUP, iso(busy[0]), BUSY)

s = Sluice(config(86400), name="sluice", env=env).start()
try:
    # Backfill done and committed: every hour of the week has its weeks of history.
    wait_until(lambda: group(s)["backfill"]["windows_total"] > 0, 60, "backfill queued")
    wait_until(lambda: group(s)["backfill"]["remaining_windows"] == 0, 300, "backfill complete")
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    assert season(s)["buckets_learned"] == 168, season(s)
    assert season(s)["observations"] >= 4 * 168 - 2, season(s)  # the partial ends are not
    assert es_window_count(*busy) == BUSY and es_window_count(*quiet) == 0
    assert lines(s, "season:") == []  # no round yet
    assert counter(s, "season_learned") == season(s)["observations"]
    assert s.stop() == 0
    model = os.path.join(WORK, "data", "checkpoints", "cw.season")
    assert os.path.exists(model)
    seq0 = len(requests())

    # A restart loads the model and reconciles every second: the quiet hour is skipped
    # round after round, and none of those rounds reads it from CloudWatch.
    s = Sluice(config(1), name="sluice-reconcile", env=env).start()
    wait_until(lambda: season(s)["buckets_learned"] == 168, 30, "the model loaded")
    wait_until(lambda: len(lines(s, skip_line)) >= 3, 120, "three rounds skip the quiet hour")
    assert all(l.endswith("plausible (quiet hour), skipped") for l in lines(s, skip_line))
    assert filter_calls(quiet, seq0) == [], filter_calls(quiet, seq0)
    assert es_window_count(*quiet) == 0

    # A busy hour disappears from the destination: implausible, re-read, restored.
    seq1 = len(requests())
    r = post_json(esb + "/" + INDEX + "/_delete_by_query", group_query(*busy))
    assert r["deleted"] == BUSY, r
    wait_until(lambda: lines(s, alarm_line), 120, "the missing busy hour found implausible")
    assert lines(s, alarm_line)[0].endswith("implausible (p=%s), re-reading" %
                                            lines(s, alarm_line)[0].split("(p=")[1].split(")")[0])
    wait_until(lambda: es_window_count(*busy) == BUSY, 120, "the busy hour restored")
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    calls = filter_calls(busy, seq1)
    assert len(calls) >= 2, calls  # the CloudWatch count, then the repair's read
    st = season(s)
    assert st["implausible"] >= 1 and st["rereads"] >= 1 and st["repaired"] >= 1, st
    assert st["skipped"] >= 3, st
    for name in ("season_implausible", "season_rereads", "season_repaired"):
        assert counter(s, name) >= 1, name
    assert counter(s, "season_skipped") >= 3
    # `sluice top` tells the same verdicts (counters that only grow: at least these).
    r = subprocess.run([SLUICE, "top", "--once", "--interval", "100", "-c", s.config],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"^cw: seasonal model: (\d+) windows skipped as plausible, (\d+) re-read as "
                  r"implausible \((\d+) repaired\)$", r.stdout, re.M)
    assert r.returncode == 0 and m, (r.returncode, r.stdout)
    assert int(m.group(1)) >= 3 and int(m.group(2)) >= 1 and int(m.group(3)) >= 1, m.group(0)
    # and the group's retention, asked at start (the emulator's groups keep everything)
    assert "\ncw: retention: %s never\n" % GROUP in r.stdout, r.stdout
    # exactly what CloudWatch holds, each event once
    docs = get_ndjson(esb + "/_emulator/docs")
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicates"
    cw_ids = {e["id"] for e in get_ndjson(cwb + "/_emulator/events?group=" + GROUP)
              if busy[0] <= e["timestamp"] < busy[1]}
    assert len(cw_ids) == BUSY and cw_ids <= set(ids)
    assert s.stop() == 0

    # A corrupt model file: a warning, moved aside, learned again; the source runs on.
    with open(model, "r+b") as f:
        f.seek(40)
        f.write(b"\x00garbage")
    s = Sluice(config(86400), name="sluice-corrupt", env=env).start()
    wait_until(lambda: lines(s, "is corrupt"), 30, "the corrupt model reported")
    assert os.path.exists(model + ".corrupt")
    wait_until(lambda: s.counter("sluice_component_errors_total", component_id="cw",
                                 reason="corrupt_season_model") == 1, 30, "the error counted")
    assert season(s)["buckets_learned"] < 168
    assert s.ready()  # still running
    assert s.stop() == 0
    log("quiet hour skipped %d times without a CloudWatch read; busy hour re-read with %d calls"
        % (st["skipped"], len(calls)))
finally:
    s.kill9()
    cw.stop()
    es.stop()
