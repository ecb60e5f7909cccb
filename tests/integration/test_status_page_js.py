"""The status page's script on its own, under node with a stub DOM, fed status documents a
demo pipeline cannot produce: a cloudwatch_logs backfill (progress, expired windows and ETA), an open circuit,
a DLQ, errors, the seasonal model's counters, log groups' retention, schema healing and
its re-reads, a failed reload, and a recent error and a
reload message whose text must be escaped. Rates come from sent_events
between two renders (test_status_page.py runs the page in Chromium against sluice)."""
import json
import os
import re
import subprocess

from harness import ROOT, WORK

html = open(os.path.join(ROOT, "src/core/status_page.html")).read()
script = re.search(r"<script>(.*)</script>", html, re.S).group(1)
assert script.rstrip().endswith("poll();")
script = script.rstrip()[:-len("poll();")]


def status(sent, reload=None):
    return {"ready": True, "stopping": False, "uptime_seconds": 75, "reload": reload or {
        "reloads_ok": 2, "reloads_failed": 1, "last_result": "failed",
        "last_time": "2026-01-01T00:01:00.000Z", "last_time_unix": 1767225660.0,
        "last_error": "sinks.out: unknown type <es>"}, "recent_errors": [
        {"time": "2026-01-01T00:00:00.000Z", "level": "error", "component": "out",
         "message": "<img src=x onerror=alert(1)> failed"}],
        "components": [
            {"id": "cw", "kind": "source", "type": "cloudwatch_logs", "state": "ok",
             "received_events": 0, "sent_events": sent, "errors": [], "lag_seconds": 12.5,
             "counters": {"backfill_windows_queued": 40, "backfill_windows_done": 10,
                          "season_skipped": 6, "season_implausible": 2, "season_rereads": 2,
                          "season_repaired": 1},
             "log_groups": [{"name": "/a", "retention_days": 3}, {"name": "/b<x>", "retention_days": 0},
                            {"name": "/c", "retention_days": None}],
             "backfill": {"windows_total": 40, "windows_done": 10, "windows_expired": 6,
                          "remaining_windows": 24,
                          "events_read": 900, "events_per_sec": 55.5, "windows_per_sec": 0.5,
                          "eta_seconds": 125}},
            {"id": "out", "kind": "sink", "type": "elasticsearch", "inputs": ["cw"], "state": "ok",
             "received_events": sent, "sent_events": sent, "counters": {},
             "errors": [{"reason": "http_5xx", "count": 7}], "circuit": "open",
             "buffer": {"fill_ratio": 0.25}, "dlq_events": 3,
             "versions": {"names": 2, "schema_heal": "on", "passes": 9, "conflicts": 2,
                          "indices_fixed": 1, "would_fix": 0, "swaps": 1, "rereads": 3,
                          "rereads_failed": 1, "reread_windows": 14, "last_action": None,
                          "last_error": None, "streams": []}}]}


none = {"reloads_ok": 0, "reloads_failed": 0, "last_result": None, "last_time": None,
        "last_error": None}
prog = """var els = {};
var document = {getElementById: function (i) {
  return els[i] || (els[i] = {innerHTML: "", textContent: "", setAttribute: function () {}}); }};
%s
render(%s, 500);
var rl0 = els.rl.innerHTML;
render(%s, 1000);
render(%s, 3000);
console.log(JSON.stringify({bf: els.bf.innerHTML, errs: els.errs.innerHTML, rows: els.rows.innerHTML,
  graph: els.graph.innerHTML, st: els.st.innerHTML, up: els.up.textContent, rl0: rl0,
  rl: els.rl.innerHTML, sm: els.sm.innerHTML, rt: els.rt.innerHTML, sh: els.sh.innerHTML}));
""" % (script, json.dumps(status(0, none)), json.dumps(status(1000)), json.dumps(status(2000)))
path = os.path.join(WORK, "page.js")
with open(path, "w") as f:
    f.write(prog)
r = subprocess.run(["node", path], capture_output=True, text=True, timeout=60)
assert r.returncode == 0, r.stderr
out = json.loads(r.stdout)
# windows older than the group's retention are expired: skipped, counted as settled
assert "cw: backfill 10/40 windows (40%), 6 expired, 55.5 events/s, ETA 2m5s" in out["bf"], out["bf"]
assert "<img" not in out["errs"] and "&#60;img" in out["errs"], out["errs"]
assert 'data-rate="500.0"' in out["rows"], out["rows"]  # 1000 events in 2 s
assert '<td class="bad">open</td>' in out["rows"] and '<td class="bad">7</td>' in out["rows"]
assert "<td>3</td>" in out["rows"] and "25.0%" in out["rows"] and "<td>12.5</td>" in out["rows"]
assert out["graph"].count("<path") == 1 and 'id="node-cw"' in out["graph"]
assert "ready" in out["st"] and out["up"] == "up 1m15s", out
assert out["rl0"] == "no reload yet", out["rl0"]
assert out["rl"] == ('last reload 2026-01-01T00:01:00.000Z <b class="bad">failed</b>: '
                     'sinks.out: unknown type &#60;es&#62; (2 ok, 1 failed)'), out["rl"]
assert out["sm"] == ("<h2>Seasonal model</h2><div>cw: 6 windows skipped as plausible, "
                     "2 re-read as implausible (1 repaired)</div>"), out["sm"]
assert out["rt"] == "<h2>Retention</h2><div>cw: /a 3d, /b&#60;x&#62; never, /c ?</div>", out["rt"]
assert out["sh"] == ("<h2>Schema healing</h2><div>out: on, 2 conflicts, 1 indices fixed, 1 swaps; "
                     "3 re-reads from the source (1 failed, 14 windows)</div>"), out["sh"]
