"""The streamer drop-in with a group whose statusCode changes type: in the older period it
arrives as a string ("200", "404", and "-" for a request without an answer), in the newer
one as a number (three days each rather than weeks: the same backfill, a third of the
windows). Backfill reads newest first, so the number days map statusCode as long;
the older days' numeric strings are taken as numbers (Elasticsearch coerces them) and its
"-" values are refused with document_parsing_exception. The drop-in turns on versioned
data streams and schema healing: the refused documents are sent again with the field
renamed to statusCode_str. At the end: one consistent mapping (statusCode long,
statusCode_str keyword, no field with two types), every event searchable once through the
stable name (the alias, and cwtest-* as readers query it), nothing in the DLQ.
(Reconciliation through the alias: test_cloudwatch_from_env.)"""
import base64
import json
import os
import signal
import subprocess
import time
import urllib.request

from harness import SLUICE, Emulator, WORK, component_counter, free_port, log, wait_until

cw = Emulator("cloudwatch_emulator.py")
es = Emulator("es_emulator.py", "--user", "elastic", "--password", "changeme")
cwb, esb = "http://127.0.0.1:%d" % cw.port, "http://127.0.0.1:%d" % es.port
GROUP, STABLE = "/aws/lambda/heal", "cwtest-aws-lambda-heal"
AUTH = {"Authorization": "Basic " + base64.b64encode(b"elastic:changeme").decode(),
        "Content-Type": "application/json"}
HOUR, DAY = 3600000, 86400000
now = int(time.time() * 1000) // HOUR * HOUR


def es_call(method, path, body=None, raw=False):
    req = urllib.request.Request(esb + path, method=method, headers=AUTH,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=30) as r:
        t = r.read().decode()
        return t if raw else json.loads(t)


def put(events):
    req = urllib.request.Request(cwb + "/_emulator/put", method="POST", data=json.dumps(
        {"group": GROUP, "stream": "s1", "events": events}).encode())
    return json.loads(urllib.request.urlopen(req, timeout=30).read())["ids"]


older, newer, dash = [], [], 0
for h in range(3 * 24):  # the older days: 3 to 6 days ago, statusCode a string
    ts = now - 6 * DAY + h * HOUR + 1000
    code = "-" if h % 7 == 0 else ("200" if h % 3 else "404")
    dash += code == "-"
    older.append({"timestamp": ts, "message": json.dumps({"statusCode": code, "h": h})})
for h in range(3 * 24):  # the newer days: 0 to 3 days ago, a number
    ts = now - 3 * DAY + h * HOUR + 1000
    newer.append({"timestamp": ts, "message": json.dumps({"statusCode": 200 if h % 3 else 500,
                                                          "h": h})})
ids = put(older) + put(newer)
n = len(ids)
env = dict(os.environ, LOG_GROUPS=GROUP, AWS_REGION="us-east-1", ES_HOST=esb, ES_USER="elastic",
           ES_PASS="changeme", INDEX_PREFIX="cwtest", BATCH_SIZE="50", MAX_IN_FLIGHT="2",
           POLL_INTERVAL_SECS="1", BACKFILL_DAYS="7",
           CHECKPOINT_PATH=os.path.join(WORK, "state", "checkpoints.json"), HTTP_TIMEOUT_SECS="10",
           BACKOFF_BASE_MS="50", BACKOFF_MAX_MS="500",
           AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=cwb, AWS_ACCESS_KEY_ID="AKIDSLUICETEST",
           AWS_SECRET_ACCESS_KEY="sluice-test-secret", AWS_EC2_METADATA_DISABLED="true",
           SLUICE_API_ADDRESS="127.0.0.1:%d" % free_port())
os.makedirs(os.path.join(WORK, "state"))
api = env["SLUICE_API_ADDRESS"]


def count(target, query=None):
    return es_call("POST", "/%s/_count" % target, {"query": query or {"match_all": {}}})["count"]


try:
    logf = open(os.path.join(WORK, "sluice.log"), "wb")
    p = subprocess.Popen([SLUICE, "run"], env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=WORK)
    try:
        wait_until(lambda: os.path.exists(os.path.join(WORK, "sluice.log")) and
                   b"API listening" in open(os.path.join(WORK, "sluice.log"), "rb").read(), 30, "API")

        def delivered():
            try:
                return count(STABLE) == n
            except OSError:
                return False
        wait_until(delivered, 180, "every event through the alias")
        assert component_counter(api, "elasticsearch", "schema_heal_documents_renamed") == dash
        with urllib.request.urlopen("http://%s/api/v1/status" % api, timeout=10) as r:
            comps = {c["id"]: c for c in json.loads(r.read())["components"]}
        v = comps["elasticsearch"]["versions"]
        assert v["schema_heal"] == "on" and v["names"] == 1, v
        assert v["streams"][0]["active"] == "sluice-%s-v1" % STABLE, v
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
    assert rc == 0, rc
    # one consistent mapping
    fc = es_call("GET", "/%s/_field_caps?fields=*" % STABLE)["fields"]
    multi = {f: sorted(t) for f, t in fc.items() if len(t) > 1}
    assert not multi, multi
    assert list(fc["statusCode"]) == ["long"] and list(fc["statusCode_str"]) == ["keyword"], fc
    # every event once, through the alias and through the readers' pattern
    assert count(STABLE) == n and count("cwtest-*") == n
    assert count(STABLE, {"exists": {"field": "statusCode_str"}}) == dash
    assert count(STABLE, {"exists": {"field": "statusCode"}}) == n - dash
    docs = [json.loads(l) for l in es_call("GET", "/_emulator/docs", raw=True).splitlines() if l.strip()]
    assert sorted(d["_id"] for d in docs) == sorted(ids), "each CloudWatch event once"
    assert {d["_index"] for d in docs} == {"sluice-%s-v1" % STABLE}
    dlq = os.path.join(WORK, "state", "dlq", "elasticsearch.ndjson")
    assert not os.path.exists(dlq) or open(dlq).read() == "", open(dlq).read()[:500]
    lt = open(os.path.join(WORK, "sluice.log")).read()
    assert "schema_heal: renamed statusCode to statusCode_str in" in lt, lt[-3000:]
    log("ok: %d events (%d renamed) once through %s, one mapping, empty DLQ" % (n, dash, STABLE))
finally:
    cw.stop()
    es.stop()
