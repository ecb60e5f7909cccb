"""elasticsearch sink against each server it supports, as the emulator's --flavor
reproduces them (GET / answer, `_type` in bulk items, mapping error type, templates, data
streams, strict media types): es7, es8, opensearch1, opensearch2, and an Elasticsearch
7.7 (no composable templates, no data streams). On each: index-mode delivery with
manage_templates (composable _index_template, or legacy _template on 7.7), a data stream
with its template (held with one loud line on 7.7), and a mapping conflict dead-lettered
with that server's error type. Every event is counted; no `_type` is ever sent."""
import json
import os
import urllib.request

from harness import Emulator, Sluice, WORK, free_port, log, wait_until

N = int(os.environ.get("ES_N", "600"))
BAD = {i for i in range(N) if i % 53 == 7}
CASES = [  # flavor, version override, what the node is said to be
    ("es7", None, "Elasticsearch 7.17.15"),
    ("es8", None, "Elasticsearch 8.11.0"),
    ("opensearch1", None, "OpenSearch 1.3.13"),
    ("opensearch2", None, "OpenSearch 2.11.0"),
    ("es7", "7.7.1", "Elasticsearch 7.7.1"),
]
MAPPING_ERROR = {"es8": "document_parsing_exception"}
lines = [("oops %d" % i) if i in BAD else ("%d" % (1000000 + i)) for i in range(N)]

for flavor, version, product in CASES:
    tag = flavor + ("-" + version if version else "")
    old = version is not None  # before composable templates and data streams
    work = os.path.join(WORK, tag)
    logs = os.path.join(work, "logs")
    os.makedirs(logs)
    with open(os.path.join(logs, "a.log"), "w") as f:
        f.write("".join(l + "\n" for l in lines))
    emu = Emulator("es_emulator.py", "--strict-content-type", "--flavor", flavor, *(["--version", version] if version else []))
    base = "http://127.0.0.1:%d" % emu.port

    def call(method, p, body=None):
        req = urllib.request.Request(base + p, data=json.dumps(body).encode() if body is not None else None,
                                     method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode() or "null")

    def count(index):
        return call("GET", "/%s/_count" % index)["count"]

    call("PUT", "/conflict", {"mappings": {"properties": {"message": {"type": "long"}}}})
    port = free_port()
    cfg = """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
sinks:
  logs:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: "app-%%Y.%%m.%%d"
    manage_templates: true
    template_name: app
    batch: { max_events: 200, timeout_ms: 50 }
  ds:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    mode: data_stream
    index: logs-app-default
    manage_templates: true
    template_name: app-ds
    batch: { max_events: 200, timeout_ms: 50 }
    retry: { initial_ms: 20, max_ms: 200 }
    circuit_breaker: { failures: 3, open_ms: 300 }
  conf:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: conflict
    batch: { max_events: 200, timeout_ms: 50 }
""" % (work, port, logs, base, base, base)
    s = Sluice(cfg, name="sluice-" + tag).start()
    try:
        wait_until(lambda: count("app-*") == N, 30, tag + ": index-mode delivery")
        docs = [json.loads(l) for l in urllib.request.urlopen(base + "/_emulator/docs", timeout=10)
                .read().decode().splitlines() if l.strip()]
        got = sorted(d["_source"]["message"] for d in docs if d["_index"].startswith("app-"))
        assert got == sorted(lines), tag
        wait_until(lambda: s.metric("sluice_dlq_events_total", component_id="conf") == len(BAD), 30,
                   tag + ": mapping conflicts dead-lettered")
        wait_until(lambda: count("conflict") == N - len(BAD), 30, tag + ": good events next to conflicts")
        if old:
            # a legacy template; data streams do not exist: held, one loud line, circuit open
            assert call("GET", "/_template/app")["app"]["index_patterns"] == ["app-*"]
            said = lambda: [l for l in s.log_text().splitlines() if "error ds: data streams need" in l]
            wait_until(said, 30, tag + ": data stream refusal said")
            wait_until(lambda: s.metric("sluice_circuit_state", component_id="ds") in (1.0, 2.0), 30,
                       tag + ": ds circuit open")
            # (counted just after the line is logged: 0 until then, not None)
            wait_until(lambda: s.counter("sluice_component_errors_total", component_id="ds",
                                         reason="unsupported") >= 2, 30, tag + ": asked again at a probe")
            assert len(said()) == 1 and product in said()[0], said()
            assert s.metric("sluice_component_sent_events_total", component_id="ds") == 0
            assert s.metric("sluice_dlq_events_total", component_id="ds") in (0, None)
        else:
            wait_until(lambda: count("logs-app-default") == N, 30, tag + ": data stream delivery")
            streams = call("GET", "/_data_stream")["data_streams"]
            assert [d["name"] for d in streams] == ["logs-app-default"], streams
            t = call("GET", "/_index_template/app")["index_templates"][0]["index_template"]
            assert t["index_patterns"] == ["app-*"] and "data_stream" not in t, t
            t = call("GET", "/_index_template/app-ds")["index_templates"][0]["index_template"]
            assert "data_stream" in t, t
        st = call("GET", "/_emulator/stats")
        assert st["type_seen"] == 0 and st["bad_requests"] == 0, st
        # No request of sluice's was refused for its media type (or anything else): read on
        # sluice's side, as the node may also have been reached by some other local client
        # that found its port free (media_refused lists what the node refused).
        for cid in ("logs", "ds", "conf"):
            for why in ("http_reject", "template"):
                assert s.counter("sluice_component_errors_total", component_id=cid, reason=why) == 0, \
                    (cid, why, st["media_refused"])
        assert st["legacy_templates" if old else "composable_templates"] >= 1, st
        assert st["composable_templates" if old else "legacy_templates"] == 0, st
        assert any(("is " + product) in l for l in s.log_text().splitlines()), s.log_text()[-2000:]
    finally:
        s.stop()
    dlq = os.path.join(work, "data", "dlq", "conf.ndjson")
    recs = [json.loads(l) for l in open(dlq)]
    assert sorted(r["event"]["message"] for r in recs) == sorted("oops %d" % i for i in BAD), tag
    etype = MAPPING_ERROR.get(flavor, "mapper_parsing_exception")
    assert all(etype in r["reason"] for r in recs), (tag, recs[0]["reason"])
    emu.stop()
    log("ok: %s (%s): templates, %s, mapping conflicts as %s" %
        (tag, product, "data stream held" if old else "data stream", etype))
log("ok: every flavor")
