"""retry.max_attempts exhausted on a sink with a `fallback:` sends the events to the
fallback, not to the DLQ; the DLQ is for sinks without one and for a fallback that fails
too, and each record says why. The primary always answers 503 and its circuit breaker is
off, so this is the exhausted-retries path, not the open-circuit one. Every event is
counted in and out in each case:

  A. fallback (a file sink): all N at the fallback once, none at the primary, no DLQ
  B. no fallback: all N in the primary's DLQ, reason "retries_exhausted: 503 ..."
  C. a fallback failing too (503, max_attempts 2): all N in the fallback's DLQ, reason
     "fallback_failed: retries_exhausted: 503 ...", none in the primary's"""
import os

from harness import Emulator, Sluice, WORK, free_port, http_json, log, ndjson_file, wait_until

N = 4000


def write_logs(name):
    d = os.path.join(WORK, "logs-" + name)
    os.makedirs(d)
    msgs = ["%s event %05d" % (name, i) for i in range(N)]
    with open(os.path.join(d, "a.log"), "w") as f:
        f.write("".join(m + "\n" for m in msgs))
    return d, msgs


def ndjson(path):
    return ndjson_file(path)


def run_case(name, sinks_extra, fail_spare=False):
    logs, msgs = write_logs(name)
    primary = Emulator("http_sink_server.py", "--fail", "1000000000")
    spare = Emulator("http_sink_server.py", "--fail", "1000000000") if fail_spare else None
    data = os.path.join(WORK, "data-" + name)
    cfg = """
data_dir: %s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  out:
    type: http
    inputs: [in]
    uri: "http://127.0.0.1:%d/ingest"
    batch: { max_events: 200, timeout_ms: 20 }
    retry: { initial_ms: 2, max_ms: 10, max_attempts: 3 }
    circuit_breaker: { failures: 0 }
%s""" % (data, free_port(), logs, primary.port,
         sinks_extra.replace("SPARE_PORT", str(spare.port) if spare else ""))
    s = Sluice(cfg, name=name).start()
    try:
        wait_until(lambda: s.metric("sluice_component_sent_events_total", component_id="in") == N,
                   60, "%s: the source emitted every line" % name)
        wait_until(lambda: s.component("in")["pending_acks"] == 0, 120,
                   "%s: every batch finished (the source commits)" % name)
        counts = {
            "in": s.metric("sluice_component_sent_events_total", component_id="in"),
            "out_sent": s.metric("sluice_component_sent_events_total", component_id="out") or 0,
            "out_dlq": s.metric("sluice_dlq_events_total", component_id="out") or 0,
            "spare_sent": s.metric("sluice_component_sent_events_total", component_id="spare") or 0,
            "spare_dlq": s.metric("sluice_dlq_events_total", component_id="spare") or 0,
        }
        assert s.stop() == 0, s.log_text()[-2000:]
        stats = http_json("http://127.0.0.1:%d/stats" % primary.port)
        assert stats["lines"] == 0 and stats["failed"] >= 3, stats
    finally:
        primary.stop()
        if spare:
            spare.stop()
    log("%s: %s" % (name, counts))
    return msgs, counts, data


# A. With a fallback: every event at the fallback, once; the DLQ stays empty.
msgs, c, data = run_case("a", """    fallback: spare
  spare:
    type: file
    path: "%s/spare-a.ndjson"
""" % WORK)
got = [r["message"] for r in ndjson(os.path.join(WORK, "spare-a.ndjson"))]
assert sorted(got) == sorted(msgs), "at the fallback: %d of %d, %d distinct" % (len(got), N, len(set(got)))
assert ndjson(os.path.join(data, "dlq", "out.ndjson")) == []
assert c == {"in": N, "out_sent": 0, "out_dlq": 0, "spare_sent": N, "spare_dlq": 0}, c

# B. Without a fallback: every event in the primary's DLQ, saying why.
msgs, c, data = run_case("b", "")
recs = ndjson(os.path.join(data, "dlq", "out.ndjson"))
assert sorted(r["event"]["message"] for r in recs) == sorted(msgs)
for r in recs:
    assert r["reason"].startswith("retries_exhausted: ") and "503" in r["reason"], r
    assert r["attempts"] == 3 and r["sink"] == "out", r
assert c == {"in": N, "out_sent": 0, "out_dlq": N, "spare_sent": 0, "spare_dlq": 0}, c

# C. The fallback fails too: the fallback's DLQ has every event, as fallback_failed.
msgs, c, data = run_case("c", """    fallback: spare
  spare:
    type: http
    uri: "http://127.0.0.1:SPARE_PORT/ingest"
    batch: { max_events: 200, timeout_ms: 20 }
    retry: { initial_ms: 2, max_ms: 10, max_attempts: 2 }
    circuit_breaker: { failures: 0 }
""", fail_spare=True)
assert ndjson(os.path.join(data, "dlq", "out.ndjson")) == []
recs = ndjson(os.path.join(data, "dlq", "spare.ndjson"))
assert sorted(r["event"]["message"] for r in recs) == sorted(msgs)
for r in recs:
    assert r["reason"].startswith("fallback_failed: retries_exhausted: ") and "503" in r["reason"], r
    assert r["sink"] == "spare", r
assert c == {"in": N, "out_sent": 0, "out_dlq": 0, "spare_sent": 0, "spare_dlq": N}, c
log("ok")
