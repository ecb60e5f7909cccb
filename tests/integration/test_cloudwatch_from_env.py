"""The streamer drop-in: `sluice run` without -c and with LOG_GROUPS set configures the
cloudwatch_logs -> elasticsearch pipeline from the seed's environment variables; `sluice
config from-env` prints the same configuration, which validates. Every event arrives in
<INDEX_PREFIX>-<group slug>, the streamer's stable name: an alias over the versioned data
stream sluice-<INDEX_PREFIX>-<group slug>-v1 (versioned: true and schema_heal on, as the
streamer had them); RECONCILE_INTERVAL_SECS turns on reconciliation against the same
names (with ES_USER/ES_PASS), which finds nothing missing. SHARD_COUNT (with SHARD_INDEX
or a StatefulSet's HOSTNAME) prints the shard and the destination it asks."""
import base64
import json
import os
import signal
import subprocess
import urllib.request

from harness import SLUICE, Emulator, WORK, component_counter, free_port, log, wait_until

cw = Emulator("cloudwatch_emulator.py")
es = Emulator("es_emulator.py", "--user", "elastic", "--password", "changeme")
cwb, esb = "http://127.0.0.1:%d" % cw.port, "http://127.0.0.1:%d" % es.port
req = urllib.request.Request(cwb + "/_emulator/generate", method="POST",
                             data=json.dumps({"groups": ["/aws/lambda/drop-in"], "streams": 3, "days": 2,
                                              "per_hour": 2}).encode())
n = json.loads(urllib.request.urlopen(req, timeout=30).read())["events"]
env = dict(os.environ, LOG_GROUPS="/aws/lambda/drop-in", AWS_REGION="us-east-1", ES_HOST=esb,
           ES_USER="elastic", ES_PASS="changeme", INDEX_PREFIX="cwtest", BATCH_SIZE="50",
           MAX_IN_FLIGHT="2", POLL_INTERVAL_SECS="1", BACKFILL_DAYS="3",
           CHECKPOINT_PATH=os.path.join(WORK, "state", "checkpoints.json"), HTTP_TIMEOUT_SECS="10",
           BACKOFF_BASE_MS="50", BACKOFF_MAX_MS="500", RECONCILE_INTERVAL_SECS="1", AWS_ENDPOINT_URL_CLOUDWATCH_LOGS=cwb,
           AWS_ACCESS_KEY_ID="AKIDSLUICETEST", AWS_SECRET_ACCESS_KEY="sluice-test-secret",
           AWS_EC2_METADATA_DISABLED="true", SLUICE_API_ADDRESS="127.0.0.1:%d" % free_port())
os.makedirs(os.path.join(WORK, "state"))
try:
    out = subprocess.run([SLUICE, "config", "from-env"], env=env, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "type: cloudwatch_logs" in out.stdout and "cwtest-{{ cloudwatch.log_group_slug }}" in out.stdout
    assert "reconcile_interval_secs: 1" in out.stdout, out.stdout
    assert "versioned: true" in out.stdout and 'schema_heal: "on"' in out.stdout, out.stdout
    with open(os.path.join(WORK, "from-env.yaml"), "w") as f:
        f.write(out.stdout)
    v = subprocess.run([SLUICE, "validate", "-c", os.path.join(WORK, "from-env.yaml")], env=env,
                       capture_output=True, text=True, timeout=30)
    assert v.returncode == 0, v.stdout + v.stderr
    # SHARD_COUNT: the shard, its index from SHARD_INDEX or the pod name (HOSTNAME), and the
    # destination a replica asks about groups it takes over
    for extra, index in (({"SHARD_COUNT": "3", "HOSTNAME": "sluice-puller-2"}, "sluice-puller-2"),
                         ({"SHARD_COUNT": "3", "SHARD_INDEX": "1", "RECONCILE_INTERVAL_SECS": ""}, "1")):
        senv = dict(env, **extra)
        sh = subprocess.run([SLUICE, "config", "from-env"], env=senv, capture_output=True, text=True, timeout=30)
        assert sh.returncode == 0, sh.stderr
        assert 'shard: { index: "%s", count: 3 }' % index in sh.stdout, sh.stdout
        assert "reconcile:\n      elasticsearch: " in sh.stdout, sh.stdout
        assert ("reconcile_interval_secs" in sh.stdout) == bool(senv["RECONCILE_INTERVAL_SECS"]), sh.stdout
        with open(os.path.join(WORK, "from-env-shard.yaml"), "w") as f:
            f.write(sh.stdout)
        v = subprocess.run([SLUICE, "validate", "-c", os.path.join(WORK, "from-env-shard.yaml")], env=senv,
                           capture_output=True, text=True, timeout=30)
        assert v.returncode == 0, v.stdout + v.stderr
    logf = open(os.path.join(WORK, "sluice.log"), "wb")
    p = subprocess.Popen([SLUICE, "run"], env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=WORK)

    def docs():
        with urllib.request.urlopen(esb + "/_emulator/docs", timeout=30) as r:
            return [json.loads(l) for l in r.read().decode().splitlines() if l.strip()]

    try:
        wait_until(lambda: len(docs()) >= n, 120, "every event from the drop-in")

        counter = lambda name: component_counter(env["SLUICE_API_ADDRESS"], "cloudwatch", name)
        wait_until(lambda: counter("reconcile_windows_checked") >= 3, 120, "reconciliation checks")
        assert counter("reconcile_mismatches") == 0
        # SIGHUP (logrotate's, to reopen the log) in a drop-in: no file to read again, so
        # no reload is tried and none counts as failed (the failed-reload alert stays quiet)
        p.send_signal(signal.SIGHUP)
        wait_until(lambda: b"nothing to reload" in open(os.path.join(WORK, "sluice.log"), "rb").read(),
                   30, "the SIGHUP answered")
        with urllib.request.urlopen("http://%s/metrics" % env["SLUICE_API_ADDRESS"], timeout=10) as r:
            mt = r.read().decode()
        assert "sluice_config_last_reload_successful 1" in mt, mt
        assert 'sluice_config_reloads_total{result="failed"} 0' in mt, mt
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
    d = docs()
    assert len(d) == n and {x["_index"] for x in d} == {"sluice-cwtest-aws-lambda-drop-in-v1"}, (len(d), n)
    areq = urllib.request.Request(esb + "/_alias/cwtest-aws-lambda-drop-in", headers={
        "Authorization": "Basic " + base64.b64encode(b"elastic:changeme").decode()})
    with urllib.request.urlopen(areq, timeout=10) as r:
        assert list(json.loads(r.read())) == ["sluice-cwtest-aws-lambda-drop-in-v1"]
    assert rc == 0, rc
    assert os.path.exists(os.path.join(WORK, "state", "checkpoints", "cloudwatch.ckpt"))
    assert not os.path.exists(os.path.join(WORK, "demo")), "the quickstart must not run"
    log("drop-in ok: %d events" % n)
finally:
    cw.stop()
    es.stop()
