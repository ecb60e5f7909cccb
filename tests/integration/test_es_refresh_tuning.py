"""elasticsearch sink refresh tuning (hot/cold refresh_interval by newest @timestamp),
re-evaluated every second here (the knob; 3600 s in the CloudWatch drop-in). Indices of
the sink's pattern cw-*: cw-new (newest event a day old, preset to 30s: must become 1s),
cw-old (40 days, unset: 30s), cw-edge (8 days: cold with cold_age_days 7), cw-done
(40 days, already 30s: never touched); other-x is outside the pattern and never touched.
Once the settings are reached and two more passes ran (a quiet state): one PUT and one info
line per change, the counts in the status and /metrics. Then an event of today is written
into cw-old and the next passes make it hot (1s): re-evaluation, not a one-off. The emulator
refuses a refresh_interval without a unit, as Elasticsearch does, and so does the config."""
import json
import os
import subprocess
import time
import urllib.request

from harness import Emulator, Sluice, SLUICE, WORK, log, wait_until, file_to_es_config

es = Emulator("es_emulator.py")
esb = "http://127.0.0.1:%d" % es.port
now = int(time.time() * 1000)
DAY = 86400000


def bulk(index, ts_ms, n=3):
    lines = ""
    for i in range(n):
        lines += json.dumps({"create": {"_index": index, "_id": "%s-%d-%d" % (index, ts_ms, i)}}) + "\n"
        lines += json.dumps({"@timestamp": ts_ms - i * 1000, "message": "m%d" % i}) + "\n"
    req = urllib.request.Request(esb + "/_bulk", data=lines.encode(), method="POST",
                                 headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert not json.loads(r.read())["errors"]


def put_settings(index, value):
    req = urllib.request.Request(esb + "/%s/_settings" % index, method="PUT",
                                 data=json.dumps({"index": {"refresh_interval": value}}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def settings():
    with urllib.request.urlopen(esb + "/_emulator/settings", timeout=10) as r:
        return json.loads(r.read())


bulk("cw-new", now - DAY)
bulk("cw-old", now - 40 * DAY)
bulk("cw-edge", now - 8 * DAY)
bulk("cw-done", now - 40 * DAY)
bulk("other-x", now - 40 * DAY)
assert put_settings("cw-new", "30s") == 200
assert put_settings("cw-done", "30s") == 200
# the emulator checks the value as Elasticsearch does: a number needs a unit
assert put_settings("cw-new", "30") == 400
assert put_settings("cw-new", "fast") == 400
assert settings()["cw-new"]["settings"] == {"refresh_interval": "30s"}

inp = os.path.join(WORK, "in")
os.makedirs(inp)
cfg = file_to_es_config(inp, esb, """\
    index: "cw-%Y.%m.%d"
    refresh_tuning: { every: 1s, cold_age_days: 7, hot_interval: 1s, cold_interval: 30s }
""")

# a value without a unit is refused when the config is loaded, naming it
bad = os.path.join(WORK, "bad.yaml")
with open(bad, "w") as f:
    f.write(cfg.replace("cold_interval: 30s", "cold_interval: 30"))
p = subprocess.run([SLUICE, "validate", "-c", bad], capture_output=True, text=True)
assert p.returncode != 0 and "'30' is not a time value" in p.stderr, (p.returncode, p.stderr)

s = Sluice(cfg, name="refresh").start()


def tuning():
    return s.component("es").get("refresh_tuning") or {}


def changes_counter():  # (a label called name: the harness's helpers take that word)
    for line in s.get("/metrics")[1].splitlines():
        if line.startswith("sluice_component_counter_total{") and 'component_id="es"' in line \
                and 'name="refresh_changes"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0


def quiet_after(what):
    """Waits for two more passes than now: the state reached is the state that stays."""
    p0 = tuning().get("passes", 0)
    wait_until(lambda: tuning().get("passes", 0) >= p0 + 2, 60, "two passes after " + what)


try:
    want = {"cw-new": "1s", "cw-old": "30s", "cw-edge": "30s", "cw-done": "30s"}
    wait_until(lambda: all(settings()[i]["settings"].get("refresh_interval") == v for i, v in want.items()),
               60, "hot and cold intervals set")
    quiet_after("the first changes")
    st, t = settings(), tuning()
    log("tuning: %s" % t)
    assert "refresh_interval" not in st["other-x"]["settings"] and not st["other-x"]["log"], st["other-x"]
    assert len(st["cw-done"]["log"]) == 1, st["cw-done"]  # only the test's own preset
    for i in ("cw-new", "cw-old", "cw-edge"):
        sets = [e for e in st[i]["log"] if e[1] == "refresh_interval"]
        assert sets[-1][2] == want[i] and len([e for e in sets if e[2] == want[i]]) == 1, (i, sets)
    assert t["changes"] == 3 and t["hot_indices"] == 1 and t["cold_indices"] == 3, t
    assert t["last_error"] is None, t
    text = s.log_text()
    for line in ("refresh: cw-new -> 1s (hot)", "refresh: cw-old -> 30s (cold)",
                 "refresh: cw-edge -> 30s (cold)"):
        assert text.count(line) == 1, (line, text[-3000:])
    assert "refresh: cw-done" not in text and "refresh: other-x" not in text
    assert s.metric("sluice_es_refresh_indices", component_id="es", state="hot") == 1
    assert s.metric("sluice_es_refresh_indices", component_id="es", state="cold") == 3
    assert changes_counter() == 3

    # today's event in cw-old: the next pass makes it hot
    bulk("cw-old", now, 1)
    wait_until(lambda: settings()["cw-old"]["settings"].get("refresh_interval") == "1s", 60,
               "cw-old hot again")
    quiet_after("cw-old turned hot")
    t = tuning()
    assert t["changes"] == 4 and t["hot_indices"] == 2 and t["cold_indices"] == 2, t
    assert s.log_text().count("refresh: cw-old -> 1s (hot)") == 1
    assert s.metric("sluice_es_refresh_indices", component_id="es", state="hot") == 2
    assert changes_counter() == 4
    assert s.stop() == 0
finally:
    s.stop()
