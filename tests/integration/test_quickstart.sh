#!/usr/bin/env bash
# `sluice run` with no config: sample pod logs under ./demo are tailed into ./demo/out,
# the API answers on 127.0.0.1:2020, and SIGTERM stops it cleanly with positions committed.
set -u
cd "$WORK"
"$SLUICE" run >run.log 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
ok=0
for _ in $(seq 1 300); do
  if [ -n "$(cat demo/out/*.ndjson 2>/dev/null | head -300 | wc -l | grep -v '^0$')" ] && \
     [ "$(cat demo/out/*.ndjson | wc -l)" -ge 300 ] && curl -sf http://127.0.0.1:2020/healthz >/dev/null; then ok=1; break; fi
  sleep 0.2
done
[ $ok = 1 ] || { echo "quickstart produced no output"; cat run.log; exit 1; }
grep -q 'sluice quickstart is running' run.log || { echo "no hints printed"; cat run.log; exit 1; }
# the hint names the binary as it was run, wherever that is
grep -qF "checkpoints: $SLUICE checkpoints show" run.log || { echo "hint names another binary"; cat run.log; exit 1; }
curl -sf http://127.0.0.1:2020/api/v1/status | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert any(c["id"]=="out" for c in d["components"]), d'
curl -sf http://127.0.0.1:2020/metrics | grep -q 'sluice_component_sent_events_total{.*component_id="out"' || { echo "metrics missing"; exit 1; }
head -1 demo/out/*.ndjson | /usr/bin/python3 -c '
import json,sys
e=json.loads(sys.stdin.readline())
assert "timestamp" in e and "message" in e and e.get("pipeline")=="quickstart", e
assert e["log.file.path"].endswith("0.log"), e
assert e["kubernetes.namespace"] in ("shop", "kube-system") and e["kubernetes.pod_name"], e
assert e["kubernetes.container_name"] in ("app", "coredns") and e["kubernetes.restart_count"] == 0, e
assert len(e["kubernetes.pod_uid"]) == 36 and e["stream"] in ("stdout", "stderr"), e
assert not e["timestamp"].startswith("1970"), e'
kill -TERM $pid
wait $pid; rc=$?
trap - EXIT
[ $rc = 0 ] || { echo "exit status $rc"; cat run.log; exit 1; }
ls demo/data/checkpoints/ | grep -q . || { echo "no checkpoint"; exit 1; }
echo "quickstart ok: $(cat demo/out/*.ndjson | wc -l) events"
