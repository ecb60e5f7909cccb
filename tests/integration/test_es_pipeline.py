"""elasticsearch sink: the `pipeline` option names an ingest pipeline the node does not have
(not created yet, a typo). Elasticsearch then refuses every document, 400
illegal_argument_exception "pipeline with id [x] does not exist", and all of them went to the
DLQ. They wait now, behind an open circuit with one INGEST PIPELINE MISSING line, and are
indexed through the pipeline once it exists."""
import os

from harness import (Emulator, Sluice, WORK, append_lines, file_to_es_config, get_ndjson,
                     http_json, log, wait_until)

N = 40
logs = os.path.join(WORK, "logs")
os.makedirs(logs)
append_lines(os.path.join(logs, "a.log"), ("line %d" % i for i in range(N)))

emu = Emulator("es_emulator.py")
base = "http://127.0.0.1:%d" % emu.port


def stats():
    return http_json(base + "/_emulator/stats")


s = Sluice(file_to_es_config(logs, base, """\
    index: piped
    pipeline: add-env
    batch: { max_events: 10, timeout_ms: 50 }
    retry: { initial_ms: 10, max_ms: 100 }
    circuit_breaker: { failures: 5, open_ms: 300 }
""")).start()
try:
    wait_until(lambda: stats().get("no_pipeline", 0) >= 2 * N or
               s.metric("sluice_dlq_events_total", component_id="es") > 0, 60,
               "documents refused for the missing pipeline, twice (or dead-lettered)")
    dead = s.metric("sluice_dlq_events_total", component_id="es")
    assert dead == 0, "%d documents dead-lettered for a missing pipeline" % dead
    wait_until(lambda: "INGEST PIPELINE MISSING" in s.log_text(), 30, "the missing pipeline said")
    assert stats()["docs"] == 0
    assert s.metric("sluice_component_errors_total", component_id="es", reason="pipeline") >= N
    http_json(base + "/_ingest/pipeline/add-env",
              {"processors": [{"set": {"field": "env", "value": "prod"}}]}, "PUT")
    wait_until(lambda: stats()["docs"] == N, 60, "every line indexed through the pipeline")
    wait_until(lambda: s.component("in")["pending_acks"] == 0, 30, "source committed")
    assert s.metric("sluice_dlq_events_total", component_id="es") == 0
finally:
    assert s.stop() == 0
assert s.log_text().count("INGEST PIPELINE MISSING") == 1, s.log_text()[-3000:]
docs = get_ndjson(base + "/_emulator/docs")
assert len(docs) == N and all(d["_source"]["env"] == "prod" for d in docs), docs[:3]
log("ok: documents waited for the missing ingest pipeline and went through it once it existed")
emu.stop()
