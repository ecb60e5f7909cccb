"""cloudwatch_logs -> elasticsearch end to end: 3 groups x 20 streams x CW_DAYS days of history
backfilled (paginated, SigV4-verified by the emulator) while new events arrive, some of them
late (ingestion delay); sluice is SIGKILLed three times during the backfill. Every event the
emulator holds must be in the destination exactly once (the eventId is the _id), each group
in its own index. Then one whole day of one group is deleted from the destination and sluice
is restarted with reconciliation on: the day is found (a sampled older window) and refilled,
every event again exactly once, the missing-event counter equal to what was deleted. Then
throttling is injected and the live tail keeps delivering (test_cloudwatch_throttle bounds
its delay)."""
import json
import os
import threading
import time

from harness import Sluice, free_port, log, wait_until, get_text, post_json
from cw_common import aws_env, counter, cw_es_config, cw_events, es_count, es_docs, start_emulators, \
    write_credentials

DAYS = int(os.environ.get("CW_DAYS", "30"))
PER_HOUR = int(os.environ.get("CW_PER_HOUR", "1"))
GROUPS = ["/aws/lambda/orders", "/aws/lambda/payments", "/ecs/web"]

cw, es, cwb, esb = start_emulators("--page-size", "300")


now_ms = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": GROUPS, "streams": 20, "days": DAYS,
                                         "per_hour": PER_HOUR, "end_ms": now_ms - 60000, "json": True})
log("history:", gen)

# live writer: a few events a second with current timestamps; every third arrives late
stop = threading.Event()
live_sent = [0]


def writer():
    i = 0
    while not stop.is_set():
        t = int(time.time() * 1000)
        post_json(cwb + "/_emulator/put", {"group": GROUPS[i % 3], "stream": "stream-%03d" % (i % 20),
                                      "events": [{"timestamp": t, "message": "live %d" % i}],
                                      "ingest_delay_ms": 1500 if i % 3 == 0 else 0})
        i += 1
        live_sent[0] = i
        time.sleep(0.05)


wt = threading.Thread(target=writer, daemon=True)
wt.start()

port = free_port()
creds = write_credentials("[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n")
SOURCE = {"window_minutes": 1440, "overlap_secs": 5, "max_requests_per_sec": 40, "page_limit": 500}
cfg = cw_es_config(cwb, esb, creds, GROUPS, DAYS + 1, source=SOURCE, port=port)
env = aws_env()
total = gen["events"]
try:
    for k in (1, 2, 3):
        s = Sluice(cfg, name="sluice%d" % k, env=env).start()
        target = total * k // 4
        wait_until(lambda: es_count(esb) >= target, 120, "backfill progress %d" % k, interval=0.02)
        s.kill9()
        log("kill %d with %d docs stored" % (k, es_count(esb)))
    s = Sluice(cfg, name="sluice4", env=env).start()
    wait_until(lambda: es_count(esb) >= total, 300, "backfill complete")
    stop.set()
    wt.join()
    # the late events become visible (the emulator lists visible events only)
    wait_until(lambda: len(cw_events(cwb)) == total + live_sent[0], 60, "late events visible")
    want = cw_events(cwb)
    wait_until(lambda: es_count(esb) >= len(want), 120, "live events delivered (%d)" % len(want))
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    docs = es_docs(esb)
    ids = [d["_id"] for d in docs]
    assert len(ids) == len(set(ids))
    want_ids = {e["id"] for e in want}
    missing = want_ids - set(ids)
    extra = set(ids) - want_ids
    assert not missing, "missing %d events, e.g. %s" % (len(missing), sorted(missing)[:3])
    assert not extra, "unexpected docs %s" % sorted(extra)[:3]
    by_id = {e["id"]: e for e in want}
    for d in docs[:2000]:
        e = by_id[d["_id"]]
        src = d["_source"]
        assert d["_index"] == "cwl-" + e["group"].strip("/").replace("/", "-"), d["_index"]
        assert src["cloudwatch"]["log_group"] == e["group"], src
        assert src["cloudwatch"]["log_stream"] == e["stream"], src
        assert src["cloudwatch"]["event_id"] == e["id"]
    parsed = [d for d in docs if d["_source"].get("level") == "info"]
    assert len(parsed) == total, "JSON messages parsed into fields: %d of %d" % (len(parsed), total)
    log("exactly once: %d events (%d live), %d kills" % (len(ids), live_sent[0], 3))

    # A deleted day: one UTC day (one window) of one group, 10 days back, goes missing in
    # the destination; sluice restarted with reconciliation finds it and sends it again.
    assert s.stop() == 0
    DAY = 86400 * 1000
    day = (now_ms - 10 * DAY) // DAY * DAY
    q = {"query": {"bool": {"filter": [{"term": {"cloudwatch.log_group": GROUPS[1]}},
                                       {"range": {"@timestamp": {"gte": day, "lt": day + DAY,
                                                                 "format": "epoch_millis"}}}]}}}
    deleted = post_json(esb + "/cwl-aws-lambda-payments/_delete_by_query", q)["deleted"]
    assert deleted == len([e for e in want if e["group"] == GROUPS[1] and day <= e["timestamp"] < day + DAY]) > 0
    assert es_count(esb) == len(want) - deleted
    # whole windows per answer from here: each check counts a day in one request
    post_json(cwb + "/_emulator/control", {"page_size": 10000})
    s = Sluice(cw_es_config(cwb, esb, creds, GROUPS, DAYS + 1, port=port,
                            source=dict(SOURCE, reconcile_interval_secs=1),
                            reconcile={"recent_hours": 24, "sample": DAYS + 1, "seed": 3}),
               name="sluice5", env=env).start()
    wait_until(lambda: es_count(esb) >= len(want), 180, "reconciliation refills the deleted day")
    wait_until(lambda: s.component("cw")["pending_acks"] == 0, 60, "commits")
    ids = [d["_id"] for d in es_docs(esb)]
    assert len(ids) == len(set(ids)) and set(ids) == want_ids, (len(ids), len(want_ids))
    assert counter(s, "reconcile_events_missing") == deleted, (counter(s, "reconcile_events_missing"), deleted)
    found = [l for l in s.log_text().splitlines() if "reading the window again" in l]
    assert len(found) == 1 and GROUPS[1] in found[0] and " %d.." % day in found[0], found
    log("deleted day (%d events) found by reconciliation and refilled" % deleted)

    # Throttling: every other call is refused; new live events still arrive.
    post_json(cwb + "/_emulator/control", {"rps": 2})
    before = json.loads(get_text(cwb + "/_emulator/stats"))["throttled"]
    t = int(time.time() * 1000)
    post_json(cwb + "/_emulator/put", {"group": GROUPS[0], "stream": "stream-000",
                                  "events": [{"timestamp": t, "message": "under throttling"}]})
    wait_until(lambda: any(d["_source"]["message"] == "under throttling" for d in es_docs(esb)), 120,
               "live event under throttling")
    wait_until(lambda: json.loads(get_text(cwb + "/_emulator/stats"))["throttled"] > before, 60,
               "throttling reached sluice")
    post_json(cwb + "/_emulator/control", {"rps": 0})
    # the emulator counts a refusal before sluice has read it: wait for sluice's count
    wait_until(lambda: (s.metric("sluice_component_errors_total", component_id="cw", reason="throttled") or 0) >= 1,
               60, "throttling counted by sluice")
    st = json.loads(get_text(cwb + "/_emulator/stats"))
    log("emulator:", {k: v for k, v in st.items() if k != "per_action"}, st["per_action"])
    assert st["bad_signature"] == 0
    assert s.stop() == 0
finally:
    stop.set()
    cw.stop()
    es.stop()
