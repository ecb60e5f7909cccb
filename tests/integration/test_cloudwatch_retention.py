"""cloudwatch_logs: backfill and reconciliation honour the group's retention (note 14 of
cwl_source.c). /ret/short keeps 3 days, /ret/forever everything; both hold 6 days of
history (none within 3 hours of the 3-day line, so no event expires while the test runs).
The backfill reaches 6 days back and reconciliation walks every older window each round.

The source asks DescribeLogGroups once per group and then requests nothing of /ret/short
that ends before now - 3 days - 1 hour (FilterLogEvents of backfill, counts of
reconciliation), while /ret/forever is read back to the start; every event CloudWatch
still holds reaches Elasticsearch exactly once. The status counts the skipped windows as
expired (not remaining), one info line says so for /ret/short, reconciliation counts the
checks it skipped, `sluice top` shows the expired windows and the retention."""
import re
import subprocess
import time

from harness import SLUICE, Sluice, get_ndjson, log, post_json, wait_until
from cw_common import aws_env, counter, cw_es_config, cw_groups, es_docs, start_emulators, write_credentials

HOUR, DAY = 3600000, 86400000
SHORT, FOREVER = "/ret/short", "/ret/forever"
RETENTION, DAYS, WINDOW_MIN = 3, 6, 180

cw, es, cwb, esb = start_emulators("--page-size", "50")
t0 = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": [SHORT, FOREVER], "streams": 2, "days": DAYS,
                                              "per_hour": 2, "end_ms": t0 - 60000})
for g in (SHORT, FOREVER):  # a band around the retention line: nothing there to race with
    post_json(cwb + "/_emulator/delete", {"group": g, "start": t0 - RETENTION * DAY - 3 * HOUR,
                                          "end": t0 - RETENTION * DAY + 3 * HOUR})
post_json(cwb + "/_emulator/control", {"retention": {SHORT: RETENTION}})
held = {g: {e["id"] for e in get_ndjson(cwb + "/_emulator/events?group=" + g)} for g in (SHORT, FOREVER)}
assert held[SHORT] and len(held[FOREVER]) > len(held[SHORT]), {g: len(v) for g, v in held.items()}

cfg = cw_es_config(cwb, esb, write_credentials(), [SHORT, FOREVER], DAYS,
                   source={"window_minutes": WINDOW_MIN, "stream_discover_interval_secs": 0,
                           "reconcile_interval_secs": 1},
                   reconcile={"recent_hours": 6, "sample": 64, "seasonal": {"enabled": False}})
s = Sluice(cfg, name="retention", env=aws_env()).start()
try:
    want = held[SHORT] | held[FOREVER]
    wait_until(lambda: len(es_docs(esb)) >= len(want), 180, "every held event delivered")
    wait_until(lambda: s.component("cw")["backfill"]["remaining_windows"] == 0, 60, "backfill done")
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "committed")
    # two reconciliation rounds over every older window (sample >= their number)
    c0 = counter(s, "reconcile_windows_expired")
    wait_until(lambda: counter(s, "reconcile_windows_expired") >= c0 + 2 * 20, 120,
               "two rounds skipping the expired checks")
    gs = cw_groups(s)
    short, forever = gs[SHORT]["backfill"], gs[FOREVER]["backfill"]
    assert gs[SHORT]["retention_days"] == RETENTION and gs[FOREVER]["retention_days"] == 0, gs
    # [t - 6 d, t) in 3-hour windows, those ending before t - 3 d - 1 h expired: 23 or 24
    # whole ones (where t falls on the grid), the partial first one always among them
    assert short["windows_expired"] in (23, 24, 25) and forever["windows_expired"] == 0, (short, forever)
    assert short["windows_done"] + short["windows_expired"] == short["windows_total"], short
    assert forever["windows_done"] == forever["windows_total"] and short["remaining_windows"] == 0
    st = s.component("cw")["backfill"]
    assert st["windows_expired"] == short["windows_expired"], st
    text = s.log_text()
    lines = [l for l in text.splitlines() if "retention %d days;" % RETENTION in l]
    m = re.search(r"log group %s: retention %d days; (\d+) backfill windows before" % (re.escape(SHORT), RETENTION),
                  "\n".join(lines))
    # (one more may expire later, when the floor passes a window's end before it is read)
    assert len(lines) == 1 and m and short["windows_expired"] - int(m.group(1)) in (0, 1), lines
    assert "log group %s: retention" % FOREVER not in text
    assert re.search(r"backfill: group %s complete, \d+ windows, [\d,]+ events, %d expired"
                     % (re.escape(SHORT), short["windows_expired"]), text), text[-3000:]
    r = subprocess.run([SLUICE, "top", "--once", "--interval", "100", "-c", s.config],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "cw: retention: %s %dd, %s never\n" % (SHORT, RETENTION, FOREVER) in r.stdout, r.stdout
    assert re.search(r"^cw: backfill \d+/\d+ windows \(100%%\), %d expired" % st["windows_expired"],
                     r.stdout, re.M), r.stdout
finally:
    s.stop()

# every event CloudWatch holds, exactly once
docs = es_docs(esb)
ids = [d["_id"] for d in docs]
assert len(ids) == len(set(ids)) == len(want), (len(ids), len(set(ids)), len(want))
assert set(ids) == want
# what CloudWatch was asked: the retention once per group, nothing of /ret/short older than it
reqs = [r for r in get_ndjson(cwb + "/_emulator/requests") if r.get("action") != "put"]
desc = [r for r in reqs if r["action"] == "DescribeLogGroups"]
assert sorted(r["prefix"] for r in desc) == sorted([SHORT, FOREVER]), desc
floor0 = t0 - RETENTION * DAY - HOUR  # the source's floor is later (it started after t0)
fle = {g: [r for r in reqs if r["action"] == "FilterLogEvents" and r["group"] == g] for g in (SHORT, FOREVER)}
too_old = [r for r in fle[SHORT] if r["end"] + 1 <= floor0]
assert not too_old, too_old[:3]
assert min(r["start"] for r in fle[FOREVER]) <= t0 - DAYS * DAY + HOUR  # read to the start
log("ok: %d events once; %s: %d windows expired, none requested (%d requests), %s read back "
    "%d days (%d requests)" % (len(ids), SHORT, short["windows_expired"], len(fle[SHORT]), FOREVER,
                               DAYS, len(fle[FOREVER])))
cw.stop()
es.stop()
