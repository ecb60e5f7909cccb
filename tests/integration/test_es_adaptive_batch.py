"""elasticsearch sink with the adaptive batch size (batch.adaptive, on by default): the
target starts at batch.max_events; 429s answered to whole requests halve it (read on a
frozen pipeline: the emulator answers the 429s and holds every later request, so nothing
else moves it), quick answers take it back to max_events; a node refusing bodies above a
size (413) makes it shrink below that size and stay there (few 413s once it has learned),
and it grows back once the limit is lifted. The change is logged as `adaptive: batch=...`
and the target and latency p50 are in the status and /metrics. Every event written is
stored once."""
import os

from es_common import Lines
from harness import Emulator, Sluice, WORK, file_to_es_config, http_json, log, wait_until

MAX = 200
R = 2000  # events per round
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port
stats = lambda: http_json(base + "/_emulator/stats")
control = lambda body: http_json(base + "/_emulator/control", body)
cfg = file_to_es_config(logs, base, """\
    index: batch
    compression: none
    concurrency: 4
    timeout_ms: 120000
    batch: { max_events: %d, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 200 }
    circuit_breaker: { failures: 0 }
""" % MAX)
s = Sluice(cfg).start()
target = lambda: s.component("es")["batch_target"]
lines = Lines(os.path.join(logs, "a.log"), "adaptive batch %06d " + "x" * 150, stats,
              lambda: s.component("es"))
write = lines.write
quiet_target = lambda: lines.quiet(target)
regrow = lambda: lines.rounds(R, target, lambda t: t == MAX, 40,
                              "the batch target never grew back to %d" % MAX)


try:
    first = regrow()  # a quick node: the configured size (a hiccup may halve it once)

    # Phase 1: four requests answered 429, every later request held.
    control({"fail": 4, "status": 429, "answer": 4})
    write(R)
    wait_until(lambda: stats()["failed_requests"] == 4, 60, "four 429 answers")
    wait_until(lambda: target() <= MAX // 2, 60, "batch target halved by the 429s")
    low = target()
    assert low >= MAX // 32, low  # never below the floor
    m = s.metric("sluice_sink_batch_target", component_id="es")
    assert m == low, (m, low)
    control({"stall": False, "answer": None})  # no later request stalls it again
    back = regrow()
    log("429s: target %d -> %d, back to %d in %d rounds" % (MAX, low, back[-1], len(back)))

    # Phase 2: bodies above about 60 events refused with 413.
    before = stats()
    limit_events = 60
    control({"max_body": 0})
    st0 = stats()
    write(MAX)  # measure the body bytes of one event's worth
    quiet_target()
    st1 = stats()
    per_event = (st1["body_bytes"] - st0["body_bytes"]) // MAX
    assert per_event > 150, per_event
    control({"max_body": per_event * limit_events})
    shrunk = []
    for _ in range(6):
        a = stats()
        write(R)
        shrunk.append(quiet_target())
        b = stats()
    assert b["status_413"] > before["status_413"], b
    assert shrunk[-1] < MAX, shrunk
    # learned: in the last round most requests fitted (a 413 is a probe past the limit)
    n413 = b["status_413"] - a["status_413"]
    nreq = b["bulk_requests"] - a["bulk_requests"]
    assert n413 * 2 < nreq, (n413, nreq, shrunk)
    control({"max_body": 0})
    back2 = regrow()
    log("413s: targets %s, last round %d of %d requests refused, back to %d" % (shrunk, n413, nreq, back2[-1]))

    # Visible: the info line, the status and /metrics.
    assert "adaptive: batch=" in s.log_text(), "no adaptive info line"
    es = s.component("es")
    assert es["latency_p50_ms"] > 0 and es["batch_target_bytes"] > 0, es
    assert s.metric("sluice_sink_latency_p50_seconds", component_id="es") > 0
    st = stats()
    assert st["docs"] == lines.written and st["created"] == lines.written, (st, lines.written)
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source commits everything")
finally:
    s.stop()
log("ok: %d events stored once; batch target halved to %d by 429s, %s under a 413 limit, "
    "back to %d" % (lines.written, low, shrunk, MAX))
emu.stop()
