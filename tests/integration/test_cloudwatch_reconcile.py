"""cloudwatch_logs reconciliation: history is backfilled into the elasticsearch emulator, then
one day of one group (older than recent_hours: found by the seeded walk over older windows) and a few
recent hours of another group (checked every round) are deleted from the destination.
Reconciliation must find both gaps and refill them exactly: every id back, none twice, the
missing-event counter equal to what was deleted, and no mismatch reported before the
deletion (settled windows only). The audit trail (one log line per window checked) is compared
with the counters once the test has stopped the checks: the destination then refuses every
count, so nothing moves while both are read."""
import json
import os
import time
import urllib.request

from harness import Sluice, log, wait_until, post_json
from cw_common import aws_env, counter, cw_es_config, es_count, es_docs, start_emulators, \
    write_credentials

DAYS = int(os.environ.get("CW_RECONCILE_DAYS", "4"))
PER_HOUR = int(os.environ.get("CW_PER_HOUR", "2"))
GROUPS = ["/aws/lambda/orders", "/ecs/web"]
HOUR = 3600 * 1000

cw, es, cwb, esb = start_emulators("--page-size", "200")


def group_query(group, start, end):
    return {"query": {"bool": {"filter": [
        {"term": {"cloudwatch.log_group": group}},
        {"range": {"@timestamp": {"gte": start, "lt": end, "format": "epoch_millis"}}}]}}}


now_ms = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": GROUPS, "streams": 5, "days": DAYS,
                                         "per_hour": PER_HOUR, "end_ms": now_ms - 60000})
total = gen["events"]
log("history:", gen)

cfg = cw_es_config(cwb, esb, write_credentials(), GROUPS, DAYS + 1,
                   source={"reconcile_interval_secs": 1},
                   reconcile={"recent_hours": 12, "sample": 50, "seed": 7})
s = Sluice(cfg, name="sluice", env=aws_env()).start()
try:
    wait_until(lambda: es_count(esb) >= total, 180, "backfill complete (%d)" % total)
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    before = {d["_id"]: d for d in es_docs(esb)}
    assert len(before) == total, (len(before), total)

    def errors(reason):
        return s.metric("sluice_component_errors_total", component_id="cw", reason=reason) or 0

    # Settled windows agree: checks happen, and none of them is a false mismatch.
    checked0 = counter(s, "reconcile_windows_checked")
    wait_until(lambda: counter(s, "reconcile_windows_checked") >= checked0 + 30, 120,
               "reconciliation rounds over a complete destination")
    assert counter(s, "reconcile_mismatches") == 0, s.log_text()[-2000:]

    # An older day of one group (sampled) and three recent hours of the other (always checked).
    day = (now_ms - 3 * 86400 * 1000) // HOUR * HOUR
    cuts = [(GROUPS[0], "cwl-aws-lambda-orders", day, day + 24 * HOUR),
            (GROUPS[1], "cwl-ecs-web", (now_ms - 6 * HOUR) // HOUR * HOUR,
             (now_ms - 3 * HOUR) // HOUR * HOUR)]
    deleted = 0
    for group, index, a, b in cuts:
        cnt = json.loads(urllib.request.urlopen(urllib.request.Request(
            esb + "/" + index + "/_count", data=json.dumps(group_query(group, a, b)).encode(),
            method="POST"), timeout=30).read())["count"]
        r = post_json(esb + "/" + index + "/_delete_by_query", group_query(group, a, b))
        assert r["deleted"] == cnt > 0, (r, cnt)
        deleted += r["deleted"]
    log("deleted %d documents; %d windows checked so far" % (deleted, counter(s, "reconcile_windows_checked")))
    assert es_count(esb) == total - deleted

    wait_until(lambda: es_count(esb) >= total, 180, "reconciliation refills the destination")
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    after = es_docs(esb)
    ids = [d["_id"] for d in after]
    assert len(ids) == len(set(ids)), "duplicates"
    assert set(ids) == set(before), "ids differ: missing %d, extra %d" % (
        len(set(before) - set(ids)), len(set(ids) - set(before)))
    for d in after:
        assert d["_index"] == before[d["_id"]]["_index"]
        assert d["_source"] == before[d["_id"]]["_source"]
    # Stop the checks: every destination count is refused from now on. Checks run one at a
    # time, so once a refusal made after this point is counted, the check that was under way
    # has ended as well, and the counters and the log stay as they are.
    post_json(esb + "/_emulator/control", {"fail": 10 ** 9, "status": 503})
    refused0 = errors("reconcile_destination")
    wait_until(lambda: errors("reconcile_destination") > refused0, 120, "a refused destination count")
    missing = counter(s, "reconcile_events_missing")
    assert missing == deleted, "reconcile_events_missing %d, deleted %d" % (missing, deleted)
    assert counter(s, "reconcile_mismatches") >= 2
    lines = [l for l in s.log_text().splitlines() if "reading the window again" in l]
    assert len(lines) == counter(s, "reconcile_mismatches"), lines
    checked = [l for l in s.log_text().splitlines() if "reconcile " in l and
               (l.endswith(": ok") or "reading the window again" in l)]
    assert len(checked) == counter(s, "reconcile_windows_checked"), (
        "one log line per window checked: %d lines, %d windows" % (
            len(checked), counter(s, "reconcile_windows_checked")))
    log("refilled %d events in %d windows; %d windows checked" % (
        deleted, len(lines), counter(s, "reconcile_windows_checked")))
    assert s.stop() == 0
finally:
    s.kill9()
    cw.stop()
    es.stop()
