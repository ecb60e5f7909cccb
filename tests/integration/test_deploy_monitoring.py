"""deploy/prometheus and deploy/grafana speak sluice's real metrics.

- `promtool check rules` accepts alerts.yml and `promtool test rules alerts_test.yml` fires each
  alert on synthetic series (and not before its `for:`, nor for the healthy neighbour);
- every expression of the alerts and of the Grafana dashboard names only metric families that
  a running sluice serves on /metrics (a pipeline with a file, a demo and a cloudwatch_logs
  source, and two sinks), only labels those series carry (plus the scrape's job and
  instance), and only `name` values of sluice_component_counter_total that some component
  counts; and each dashboard expression parses (promtool checks it as a recording rule)."""
import json
import os
import re
import subprocess

import yaml

from harness import ROOT, WORK, Sluice, free_port, wait_until

PROM = os.path.join(ROOT, "deploy", "prometheus")
DASH = os.path.join(ROOT, "deploy", "grafana", "sluice.json")


def promtool(*args, cwd=PROM):
    r = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


rc, out = promtool("check", "rules", "alerts.yml")
assert rc == 0, out
rc, out = promtool("test", "rules", "alerts_test.yml")
assert rc == 0 and "SUCCESS" in out, out
alerts = yaml.safe_load(open(os.path.join(PROM, "alerts.yml")))["groups"][0]["rules"]
tested = set(re.findall(r"alertname: (\w+)", open(os.path.join(PROM, "alerts_test.yml")).read()))
names = {a["alert"] for a in alerts}
assert names == tested, ("alerts without a promtool test", names - tested)
assert names >= {"SluiceSinkCircuitOpen", "SluiceDeadLetterQueueGrowing", "SluiceSourceLagging",
                 "SluiceBufferFull", "SluiceBackfillStalled"}, names
print("rules ok:", sorted(names))

# ---- what sluice serves --------------------------------------------------------------------
os.makedirs(os.path.join(WORK, "logs"))
with open(os.path.join(WORK, "logs", "a.log"), "w") as f:
    f.write("hello\n")
port = free_port()
s = Sluice("""
data_dir: %s/data
api: { address: "127.0.0.1:%d" }
sources:
  app: { type: file, include: ["%s/logs/*.log"], read_from: head }
  gen: { type: demo, rate: 100 }
  cw: { type: cloudwatch_logs, log_groups: ["/g"], endpoint: "http://127.0.0.1:9", region: eu-west-1 }
sinks:
  out: { type: file, inputs: [app, gen], path: "%s/out.ndjson" }
  null: { type: blackhole, inputs: [cw] }
""" % (WORK, port, WORK, WORK), env={"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "x",
                                     "AWS_EC2_METADATA_DISABLED": "true"}).start()
try:
    # the cloudwatch source's counters, and an error series (its refused requests) for the
    # `reason` label the dashboards group by
    wait_until(lambda: all(w in s.get("/metrics")[1] for w in
                           ('name="backfill_windows_done"', "sluice_component_errors_total{")),
               60, "the cloudwatch source's counters and errors")
    text = s.get("/metrics")[1]
finally:
    s.stop()
families, labels = set(), {"job", "instance"}
for line in text.splitlines():
    if line.startswith("#") or not line.strip():
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
    families.add(m.group(1))
    labels |= set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(3) or ""))
for want in ("sluice_source_lag_seconds", "sluice_files_tracked", "sluice_circuit_state",
             "sluice_sink_request_duration_seconds_bucket", "sluice_dlq_events_total"):
    assert want in families, (want, sorted(families))
# counter names: what the code counts (the scrape has only those counted so far)
counted = set()
for d, _, files in os.walk(os.path.join(ROOT, "src")):
    for fn in files:
        if fn.endswith(".c"):
            counted |= set(re.findall(r'metrics_count\([^,]+,\s*"([a-z0-9_]+)"', open(os.path.join(d, fn)).read()))
assert {"backfill_windows_queued", "backfill_windows_done", "throttled_backfill"} <= counted, counted

FUNCS = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "histogram_quantile",
         "time", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
         "unless", "bool", "label_values", "topk", "bottomk", "abs", "clamp_min", "delta", "offset"}


def check_expr(expr, where):
    e = expr.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
    e = re.sub(r"\$\{?[a-z_]+\}?", ".*", e)
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)  # no identifiers inside strings
    for ident in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare):
        if ident in FUNCS or re.fullmatch(r"\d*[smhdwy]", ident) or ident == "le":
            continue
        if ident.startswith(("sluice_", "process_")):
            assert ident in families, f"{where}: no metric {ident} on /metrics"
        else:
            assert ident in labels, f"{where}: no label {ident} on sluice's series"
    for op, val in re.findall(r'\bname(=~|=)"([^"]*)"', e):
        vals = val.split("|") if op == "=~" else [val]
        for v in vals:
            assert v in counted, f"{where}: no component counts {v}"
    return e


for a in alerts:
    check_expr(a["expr"], a["alert"])

# ---- the dashboard -------------------------------------------------------------------------
dash = json.load(open(DASH))
exprs = []


def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        for t in p.get("targets", []):
            exprs.append((p["title"], t["expr"]))


walk(dash["panels"])
assert len(exprs) >= 20, len(exprs)
ids = [p["id"] for p in dash["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
rules = []
for i, (title, expr) in enumerate(exprs):
    rules.append({"record": "dashboard:expr_%d" % i, "expr": check_expr(expr, title)})
for v in dash["templating"]["list"]:
    if v["type"] == "query":
        q = re.fullmatch(r"label_values\((.*), *([a-z_]+)\)", v["query"])
        assert q and q.group(2) in labels, v["query"]
        rules.append({"record": "dashboard:var_%s" % v["name"], "expr": check_expr(q.group(1), v["name"])})
with open(os.path.join(WORK, "dashboard_rules.yml"), "w") as f:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
rc, out = promtool("check", "rules", "dashboard_rules.yml", cwd=WORK)
assert rc == 0, out
covered = " ".join(e for _, e in exprs)
for fam in ("sluice_circuit_state", "sluice_buffer_events", "sluice_buffer_blocked_pushes",
            "sluice_dlq_events_total", "sluice_source_lag_seconds", "backfill_windows_done"):
    assert fam in covered, f"the dashboard does not show {fam}"
print("dashboard ok: %d expressions" % len(exprs))
