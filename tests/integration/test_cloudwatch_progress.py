"""cloudwatch_logs backfill progress: two groups backfill 2 days of hourly windows (a
window is at least one request and the token bucket allows 5 a second, so the backfill
lasts several progress ticks on any machine). The status API is sampled throughout; at
every sample, for the source and for each group:

- remaining == total - done, total never changes (no window is added after the start) and
  remaining never increases;
- an ETA, once known, is >= 0, and a group's ETA is at most the source's (a group waits for
  part of what the source waits for);

while windows are left, some sample shows an ETA (a window rate was measured). /metrics
carries sluice_backfill_remaining_windows / sluice_backfill_eta_seconds for the source and
per group, and the log the periodic line and one completion line per group. At the end
(every event delivered, every window committed): remaining 0, done == total, ETA 0 in the
status and in /metrics, and each group's events_read equal to what the emulator holds."""
import json
import os
import re
import time

from harness import Emulator, Sluice, WORK, free_port, log, ndjson_file, post_json, wait_until

GROUPS = ["/progress/a", "/progress/b"]
cw = Emulator("cloudwatch_emulator.py")
cwb = "http://127.0.0.1:%d" % cw.port
end = int(time.time() * 1000) - 600000  # nothing for the live tail's overlap to re-read
made = {}
for g in GROUPS:
    made[g] = post_json(cwb + "/_emulator/generate", {"groups": [g], "streams": 2, "days": 1,
                                                      "per_hour": 3, "end_ms": end})["events"]
total_events = sum(made.values())
out = os.path.join(WORK, "progress.ndjson")
port = free_port()
cfg = """data_dir: %s/progress-data
api: { address: "127.0.0.1:%d" }
sources:
  cw: { type: cloudwatch_logs, log_groups: %s, endpoint: "%s", region: eu-west-1,
        backfill_days: 2, window_minutes: 60, poll_interval_secs: 5, overlap_secs: 5,
        max_requests_per_sec: 5, stream_discover_interval_secs: 0,
        progress_log_interval_secs: 2 }
sinks:
  out: { type: file, inputs: [cw], path: "%s" }
""" % (WORK, port, json.dumps(GROUPS), cwb, out)
env = {"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "AKIDSLUICETEST",
       "AWS_SECRET_ACCESS_KEY": "sluice-test-secret"}


def lines():
    return ndjson_file(out)


def check(p, what):
    assert p["remaining_windows"] == p["windows_total"] - p["windows_done"], (what, p)
    assert p["eta_seconds"] is None or p["eta_seconds"] >= 0, (what, p)
    if p["remaining_windows"] == 0:
        assert p["eta_seconds"] == 0, (what, p)


s = Sluice(cfg, name="progress", env=env).start()
try:
    last = {}
    seen_eta = [False]
    nsamples = [0]

    def sample():
        c = s.component("cw")
        groups = {g["name"]: g["backfill"] for g in c["log_groups"]}
        cur = dict(groups, _total=c["backfill"])
        # A group's windows are planned once its streams are listed; until then (and the
        # total until every group is planned) its count is 0 and may still grow.
        planned = {k for k, p in groups.items() if p["windows_total"] > 0}
        if planned == set(GROUPS):
            planned.add("_total")
        for k, p in cur.items():
            check(p, k)
            if k in last:
                assert p["windows_total"] == last[k]["windows_total"], (k, last[k], p)
                assert p["remaining_windows"] <= last[k]["remaining_windows"], (k, last[k], p)
            if k != "_total" and p["eta_seconds"] is not None and c["backfill"]["eta_seconds"] is not None:
                assert p["eta_seconds"] <= c["backfill"]["eta_seconds"] + 1e-6, (k, p, c["backfill"])
        t = c["backfill"]
        if t["remaining_windows"] > 0 and t["eta_seconds"] is not None and t["eta_seconds"] > 0:
            seen_eta[0] = True
        last.update({k: p for k, p in cur.items() if k in planned})
        nsamples[0] += 1
        return set(groups) == set(GROUPS) and t["windows_total"] > 0 and t["remaining_windows"] == 0 \
            and len(lines()) >= total_events

    wait_until(sample, 300, "backfill to finish (status sampled throughout)")
    t = last["_total"]
    log("samples: %d; final: %s" % (nsamples[0], t))
    assert seen_eta[0], "no sample showed an ETA while windows were left"
    # every window (2 days of hours, +1 for the unaligned start, per group) committed
    assert t["windows_total"] >= 2 * 48 and t["windows_done"] == t["windows_total"], t
    # every event delivered once; each group's backfill read exactly what the emulator holds
    got = [e["cloudwatch.event_id"] for e in lines()]
    assert len(got) == len(set(got)) == total_events, (len(got), len(set(got)), total_events)
    for g in GROUPS:
        p = last[g]
        assert p["windows_done"] == p["windows_total"] >= 48 and p["eta_seconds"] == 0, (g, p)
        assert p["events_read"] == made[g], (g, p, made[g])
    assert t["events_read"] == total_events, t
    # /metrics: the source's total (no group label) and each group's series
    def metric_lines(name):
        return [l for l in s.get("/metrics")[1].splitlines() if l.startswith(name + "{")]
    def final_metrics():
        rem, eta = metric_lines("sluice_backfill_remaining_windows"), metric_lines("sluice_backfill_eta_seconds")
        want = [l for l in rem + eta if 'component_id="cw"' in l]
        return len(want) == 2 * (1 + len(GROUPS)) and all(l.endswith(" 0") for l in want)
    wait_until(final_metrics, 30, "remaining windows and ETA 0 in /metrics")
    for g in GROUPS:
        assert any('group="%s"' % g in l for l in metric_lines("sluice_backfill_remaining_windows")), g
    text = s.get("/metrics")[1]
    assert text.count("# TYPE sluice_backfill_remaining_windows gauge") == 1, text
    # the log: periodic lines with windows, rate and ETA; one completion line per group
    wait_until(lambda: all("backfill: group %s complete" % g in s.log_text() for g in GROUPS), 30,
               "completion lines")
    text = s.log_text()
    prog = re.findall(r"backfill: group (\S+) (\d+)/(\d+) windows, ([\d,]+) events/s, eta (\S+)", text)
    assert prog, text[-3000:]
    for g, done, tot, _, _ in prog:
        assert g in GROUPS and int(done) < int(tot), (g, done, tot)
    for g in GROUPS:
        n = len(re.findall(r"backfill: group %s complete, (\d+) windows" % re.escape(g), text))
        assert n == 1, (g, n)
    assert s.stop() == 0
finally:
    s.stop()
