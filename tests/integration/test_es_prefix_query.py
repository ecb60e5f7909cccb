"""elasticsearch sink and cloudwatch_logs reconciliation against an Elasticsearch-compatible
store mounted under a path prefix whose endpoint carries a query string of its own, as users
point them at VictoriaLogs: `http://host/insert/elasticsearch/?_msg_field=message&_time_field=@timestamp`.
The emulator serves the API only under /insert/elasticsearch (404 elsewhere) and answers 400
to any request without `_msg_field=message`; it logs every request line. Every request the
sink makes (GET /, PUT _index_template, POST _bulk) and every _count of the reconciliation must
keep the prefix before the API path and the endpoint's query first, then the `query:` option's
parameters (URL-encoded), then the request's own. Every event is stored once."""
import json
import os
import re
import time

from harness import (Emulator, Sluice, WORK, free_port, get_ndjson, get_text, http_json, log,
                     post_json, wait_until)
from cw_common import counter, write_credentials

N = 300
PREFIX = "/insert/elasticsearch"
EQ = "_msg_field=message&_time_field=@timestamp"
# the `query:` option as YAML, and what it must become on the wire (insertion order kept)
QUERY_YAML = '{ AccountID: "12", _stream_fields: "host,app", "x y": "a&b=c/d+\\u00e9" }'
QUERY_WIRE = "AccountID=12&_stream_fields=host%2Capp&x%20y=a%26b%3Dc%2Fd%2B%C3%A9"
FILTER = "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"

es = Emulator("es_emulator.py", "--prefix", PREFIX, "--require-param", "_msg_field=message")
cw = Emulator("cloudwatch_emulator.py", "--page-size", "200")
root = "http://127.0.0.1:%d" % es.port
endpoint = root + PREFIX + "/?" + EQ
cwb = "http://127.0.0.1:%d" % cw.port
# the node has the ingest pipeline the sink names (one it lacks holds every document)
PIPE_PUT = "%s/_ingest/pipeline/my%%20pipe?%s" % (PREFIX, EQ)
http_json(root + PIPE_PUT, {"processors": []}, "PUT")

logs = os.path.join(WORK, "logs")
os.makedirs(logs)
lines = ["line %d" % i for i in range(N)]
with open(os.path.join(logs, "a.log"), "w") as f:
    f.write("".join(l + "\n" for l in lines))

now_ms = int(time.time() * 1000)
gen = post_json(cwb + "/_emulator/generate", {"groups": ["/ecs/web"], "streams": 2, "days": 1,
                                              "per_hour": 2, "end_ms": now_ms - 60000})
creds = write_credentials()

port = free_port()
cfg = """
data_dir: %s/data
shutdown_timeout: 2s
api: { address: "127.0.0.1:%d" }
sources:
  in: { type: file, include: ["%s/*.log"] }
  cw:
    type: cloudwatch_logs
    log_groups: ["/ecs/web"]
    region: us-east-1
    endpoint: "%s"
    credentials_file: "%s"
    profile: cw
    backfill_days: 2
    window_minutes: 60
    poll_interval_secs: 1
    overlap_secs: 2
    max_requests_per_sec: 100
    reconcile_interval_secs: 1
    reconcile:
      elasticsearch: "%s"
      index: "cwl-{{ cloudwatch.log_group_slug }}"
      recent_hours: 12
sinks:
  vl:
    type: elasticsearch
    inputs: [in]
    endpoint: "%s"
    index: app
    manage_templates: true
    template_name: sluice-vl
    pipeline: "my pipe"
    query: %s
    batch: { max_events: 100, timeout_ms: 50 }
  cwsink:
    type: elasticsearch
    inputs: [cw]
    endpoint: "%s"
    index: "cwl-{{ cloudwatch.log_group_slug }}"
    batch: { max_events: 500, timeout_ms: 50 }
""" % (WORK, port, logs, cwb, creds, endpoint, endpoint, QUERY_YAML, endpoint)
env = {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
env["AWS_EC2_METADATA_DISABLED"] = "true"


def stats():
    return json.loads(get_text(root + "/_emulator/stats"))


def requests():
    return json.loads(get_text(root + "/_emulator/requests"))


s = Sluice(cfg, name="sluice", env=env).start()
try:
    docs = lambda: get_ndjson(root + "/_emulator/docs")
    wait_until(lambda: len([d for d in docs() if d["_index"] == "app"]) == N, 30, "file events stored")
    wait_until(lambda: len([d for d in docs() if d["_index"].startswith("cwl-")]) == gen["events"], 60,
               "cloudwatch events stored")
    wait_until(lambda: counter(s, "reconcile_windows_checked") >= 3, 60, "reconciliation counts")
    got = sorted(d["_source"]["message"] for d in docs() if d["_index"] == "app")
    assert got == sorted(lines)

    reqs = requests()
    common = "?" + EQ + "&" + QUERY_WIRE
    want_vl = {
        "GET %s/%s" % (PREFIX, common),
        "PUT %s/_index_template/sluice-vl%s" % (PREFIX, common),
        "POST %s/_bulk%s&%s&pipeline=my%%20pipe" % (PREFIX, common, FILTER),
    }
    vl = [r for r in reqs if QUERY_WIRE in r]
    assert vl[0] == "GET %s/%s" % (PREFIX, common), vl[:3]
    assert set(vl) == want_vl, sorted(set(vl) - want_vl)
    cw_bulk = "POST %s/_bulk?%s&%s" % (PREFIX, EQ, FILTER)
    count_re = re.compile(r"^POST %s/cwl-[a-z0-9-]+/_count\?%s&ignore_unavailable=true$" % (
        re.escape(PREFIX), re.escape(EQ)))
    rest = [r for r in reqs if QUERY_WIRE not in r and r != "PUT " + PIPE_PUT]
    odd = [r for r in rest if r != cw_bulk and not count_re.match(r)]
    assert not odd, odd
    assert any(count_re.match(r) for r in rest), rest[-5:]
    assert stats()["bad_requests"] == 0, stats()
    # every _count was answered (a refused one counts reconcile_destination)
    assert s.metric("sluice_component_errors_total", component_id="cw",
                    reason="reconcile_destination") in (None, 0.0), s.log_text()[-2000:]
    log("%d request lines, %d windows reconciled" % (len(reqs), counter(s, "reconcile_windows_checked")))
    assert s.stop() == 0
finally:
    s.kill9()
    es.stop()
    cw.stop()
