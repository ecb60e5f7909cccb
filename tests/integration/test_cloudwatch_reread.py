"""Schema healing re-reads from CloudWatch what the group still holds, and copies the rest.

A group's statusCode is a numeric string in one stream ("200", "404") and a number in the
other, over six days. Run A reads the string stream into a versioned name (its first
backing index maps statusCode keyword); the data stream rolls over; run B, a source with a
fresh checkpoint, reads the number stream (the second backing index maps long): a mapping
conflict across backing indices. Then a few hours of recent documents are deleted from the
active version on purpose (a gap), and the group's retention becomes 3 days: what is older
is no longer in CloudWatch (the emulator neither returns nor lists it).

A dry run first reports the plan (the re-read's part and the copied part) and changes
nothing: no re-read window is requested, the alias stays.

Run C (the run B source's checkpoint, both streams, schema_heal on): the heal pass decides
long, copies the active version into the standby (coerced) and swaps the alias, then asks
the source to re-read the version's span; the source learns the retention
(DescribeLogGroups) and reads only the part inside it (minus an hour, on the window grid),
ahead of any other backfill, into the rebuilt version. At the end: the alias points at -v2,
one type for statusCode, every CloudWatch event exactly once through the alias - the gap
refilled from CloudWatch, the events beyond the retention kept by the copy - nothing in the
DLQ, and the old version untouched by the re-read (in Elasticsearch a create there would
double an event whose document sits in another backing index); the emulator's request log
shows the re-read of the range inside the retention and no request for anything older; the
status, /metrics, the info line and `sluice top` say the same."""
import json
import os
import subprocess
import time

from harness import SLUICE, Sluice, WORK, get_ndjson, http_json, log, post_json, wait_until
from cw_common import aws_env, counter, cw_es_config, cw_groups, start_emulators, write_credentials

GROUP, STABLE = "/aws/lambda/reread", "cw-aws-lambda-reread"
V1, V2 = "sluice-%s-v1" % STABLE, "sluice-%s-v2" % STABLE
HOUR, DAY = 3600000, 86400000
RETENTION = 3
WINDOW_MIN = 360

cw, es, cwb, esb = start_emulators("--page-size", "100")
now = int(time.time() * 1000) // HOUR * HOUR


def call(method, p, body=None):
    return http_json(esb + p, body, method)


def count(target, query=None):
    return call("POST", "/%s/_count" % target, {"query": query or {"match_all": {}}})["count"]


def alias_target(name):
    return sorted(call("GET", "/_alias/%s" % name))


def put(stream, events):
    return post_json(cwb + "/_emulator/put", {"group": GROUP, "stream": stream,
                                             "events": events})["ids"]


# six days, both streams: strings every two hours, numbers every hour
strs = [{"timestamp": now - 6 * DAY + h * HOUR + 1000,
         "message": json.dumps({"statusCode": "404" if h % 4 == 2 else "200", "h": h})}
        for h in range(0, 6 * 24 - 1, 2)]
nums = [{"timestamp": now - 6 * DAY + h * HOUR + 2000,
         "message": json.dumps({"statusCode": 500 if h % 5 == 0 else 200, "h": h})}
        for h in range(6 * 24 - 1)]
ids_str, ids_num = put("s-str", strs), put("s-num", nums)
ts_of = {i: e["timestamp"] for i, e in zip(ids_str + ids_num, strs + nums)}
N = len(ts_of)
creds = write_credentials()
env = aws_env()


def config(data, heal, streams=None):
    source = {"window_minutes": WINDOW_MIN, "stream_discover_interval_secs": 0}
    if streams:
        source["log_streams"] = [streams]
    return cw_es_config(cwb, esb, creds, [GROUP], 7, source=source, data=data,
                        sink={"index": "cw-{{ cloudwatch.log_group_slug }}", "versioned": True,
                              "schema_heal": heal, "schema_heal_interval": "300ms",
                              "batch": {"max_events": 200, "timeout_ms": 20}})


def run_to(data, streams, want, name):
    s = Sluice(config(data, "off", streams), name=name, env=env).start()
    wait_until(lambda: count(STABLE) == want, 120, "%s: %d documents through the alias" % (name, want))
    wait_until(lambda: s.component("cw")["backfill"]["remaining_windows"] == 0, 60,
               "%s: every backfill window committed" % name)
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "%s: committed" % name)
    assert s.stop() == 0


try:
    # ---- the conflict: strings in the first backing index, numbers in the second ----------
    run_to("data-a", "s-str", len(ids_str), "run-a")
    assert call("POST", "/%s/_rollover" % STABLE)["rolled_over"]
    run_to("data", "s-num", N, "run-b")
    fc = call("GET", "/%s/_field_caps?fields=statusCode" % STABLE)["fields"]["statusCode"]
    assert sorted(fc) == ["keyword", "long"], fc
    assert alias_target(STABLE) == [V1]
    # ---- a gap in the active version, inside the retention ---------------------------------
    w = WINDOW_MIN * 60000
    gap_from = (now - 2 * DAY) // w * w  # one window, two days old
    gap_to = gap_from + w
    gap = sorted(i for i, t in ts_of.items() if gap_from <= t < gap_to)
    rng = {"range": {"@timestamp": {"gte": gap_from, "lt": gap_to, "format": "epoch_millis"}}}
    assert call("POST", "/%s/_delete_by_query" % STABLE, {"query": rng})["deleted"] == len(gap) > 0
    assert count(STABLE) == N - len(gap)
    # ---- the group keeps 3 days from now on -------------------------------------------------
    seq0 = len(get_ndjson(cwb + "/_emulator/requests"))
    t_ret = int(time.time() * 1000)
    post_json(cwb + "/_emulator/control", {"retention": {GROUP: RETENTION}})
    expired = sorted(i for i, t in ts_of.items() if t < t_ret - RETENTION * DAY)
    assert expired and len(expired) < N
    kept_cw = {e["id"] for e in get_ndjson(cwb + "/_emulator/events?group=" + GROUP)}
    assert kept_cw == set(ts_of) - set(expired), "the emulator hides what expired"

    # ---- dry_run: the plan, the re-read's included, and nothing done -------------------------
    dry_mark = "schema_heal: dry_run: %s would be rebuilt" % STABLE
    s = Sluice(config("data", "dry_run"), name="run-dry", env=env).start()
    try:
        wait_until(lambda: dry_mark in s.log_text(), 60, "the dry run's report")
        lt = s.log_text()
    finally:
        assert s.stop() == 0
    line = [l for l in lt.splitlines() if dry_mark in l][0]
    assert ("of %s from CloudWatch (retention %dd), would copy the older range from %s"
            % (GROUP, RETENTION, V1)) in line and "would re-read " in line, line
    assert "reread: log group %s: would read" % GROUP in lt, lt[-3000:]
    assert alias_target(STABLE) == [V1] and count(STABLE) == N - len(gap)
    assert V2 not in call("GET", "/_alias/%s" % STABLE)
    seq_dry = len(get_ndjson(cwb + "/_emulator/requests"))

    # ---- run C: the repair re-reads what CloudWatch holds and copies the rest ---------------
    s = Sluice(config("data", "on"), name="run-c", env=env).start()
    try:
        wait_until(lambda: alias_target(STABLE) == [V2], 120, "alias swapped to -v2")
        wait_until(lambda: "schema_heal: repair %s:" % STABLE in s.log_text(), 30, "the repair's line")
        wait_until(lambda: count(STABLE) == N, 60, "every event through the alias")
        wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "source committed")
        v = s.component("es")["versions"]
        assert v["swaps"] == 1 and v["rereads"] == 1 and v["rereads_failed"] == 0, v
        assert v["reread_windows"] > 0 and v["repairs_abandoned"] == 0, v
        assert counter(s, "schema_heal_reread_windows", "es") == v["reread_windows"]
        assert counter(s, "schema_heal_rereads", "es") == 1
        grp = cw_groups(s)[GROUP]
        assert grp["retention_days"] == RETENTION, grp
        # `sluice top` tells the same (quiet now: the repair is done, nothing else heals)
        r = subprocess.run([SLUICE, "top", "--once", "--interval", "100", "-c", s.config],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert "cw: retention: %s %dd\n" % (GROUP, RETENTION) in r.stdout, r.stdout
        want = ("es: schema healing on: %d conflicts, 1 indices fixed, 1 swaps; 1 re-reads from the "
                "source (0 failed, %d windows)\n" % (v["conflicts"], v["reread_windows"]))
        assert want in r.stdout, (want, r.stdout)
        lt = s.log_text()
    finally:
        assert s.stop() == 0
    t_end = int(time.time() * 1000)
    # one consistent mapping through the alias
    fc = call("GET", "/%s/_field_caps?fields=statusCode*" % STABLE)["fields"]
    assert list(fc["statusCode"]) == ["long"] and len(fc) == 1, fc
    # every event exactly once, in the rebuilt version: the gap and the expired days too
    assert count(STABLE) == N and count("cw-*") == N
    docs = get_ndjson(esb + "/_emulator/docs")
    v2 = sorted(d["_id"] for d in docs if d["_index"] == V2)
    assert v2 == sorted(ts_of), (len(v2), N, sorted(set(ts_of) - set(v2))[:5])
    assert set(gap) <= set(v2) and set(expired) <= set(v2)
    v1 = [d["_id"] for d in docs if d["_index"] == V1]  # the old version: no re-read write
    assert len(v1) == N - len(gap) and not set(gap) & set(v1), (len(v1), N, len(gap))
    old = {"range": {"@timestamp": {"lt": t_ret - RETENTION * DAY, "format": "epoch_millis"}}}
    assert count(STABLE, old) == len(expired)
    dlq = os.path.join(WORK, "data", "dlq", "es.ndjson")
    assert not os.path.exists(dlq) or open(dlq).read() == "", open(dlq).read()[:500]
    # what CloudWatch was asked: the retention once, then nothing older than it keeps
    reqs = [r for r in get_ndjson(cwb + "/_emulator/requests")[seq0:] if r.get("action") != "put"]
    desc = [r for r in reqs if r["action"] == "DescribeLogGroups"]
    # one per run (the dry run's and run C's): each source asks its group's retention once at
    # start (note 14) and plans the re-read from that answer, no request of its own
    assert len(desc) == 2, desc
    assert all(r["prefix"] == GROUP and r["status"] == 200 for r in desc), desc
    fle = [r for r in reqs if r["action"] == "FilterLogEvents"]
    floor = t_ret - RETENTION * DAY + HOUR  # the margin: an hour
    too_old = [r for r in fle if r["start"] < floor]
    assert not too_old, too_old[:3]
    # the re-read: aligned windows from the floor (rounded up to the grid, as the source
    # computed it between t_ret and t_end) to the version's newest event
    rr = [r for r in fle if r["start"] % w == 0 and (r["end"] + 1) % w == 0 and not r["token"]]
    assert not [r for r in rr if r["seq"] < seq_dry], "the dry run read nothing again"
    starts = sorted({r["start"] for r in rr})
    lo, hi = -(-floor // w) * w, -(-(t_end - RETENTION * DAY + HOUR) // w) * w
    assert starts and lo <= starts[0] <= hi, (starts[:3], lo, hi)
    assert any(r["start"] <= gap_from and r["end"] >= gap_to - 1 for r in rr), "the gap re-read"
    assert starts[-1] >= max(ts_of.values()) // w * w - w, (starts[-1], max(ts_of.values()))
    line = [l for l in lt.splitlines() if "schema_heal: repair %s:" % STABLE in l][0]
    assert "from CloudWatch (retention %dd), copied the older range from %s" % (RETENTION, V1) in line, line
    assert "reread: log group %s: reading" % GROUP in lt, lt[-3000:]
    log("ok: %d events once through %s after the repair: %d windows re-read from CloudWatch "
        "(gap of %d refilled), %d expired events kept by the copy; %s" % (
            N, STABLE, v["reread_windows"], len(gap), len(expired), line.split("schema_heal: ")[1]))
finally:
    cw.stop()
    es.stop()
