#!/usr/bin/env bash
# kubernetes_logs outside a cluster says its API metadata is off once it runs, in the
# configured log format (json: every line of stderr is a JSON object), and says nothing
# while its config is only checked (validate builds the components too).
set -u
cd "$WORK"
mkdir -p pods/ns_pod_0123/app
printf '2026-01-01T00:00:00.000000000Z stdout F hello\n' > pods/ns_pod_0123/app/0.log
cat > sluice.yaml <<YAML
data_dir: $WORK/data
api: { enabled: false }
log: { level: info, format: json }
sources:
  pods: { type: kubernetes_logs, path: $WORK/pods }
sinks:
  out: { type: file, inputs: [pods], path: $WORK/out.ndjson }
YAML
env -u KUBERNETES_SERVICE_HOST "$SLUICE" validate -c sluice.yaml >validate.out 2>validate.err \
  || { echo "validate failed"; cat validate.err; exit 1; }
[ ! -s validate.err ] || { echo "validate wrote to stderr:"; cat validate.err; exit 1; }
env -u KUBERNETES_SERVICE_HOST "$SLUICE" run -c sluice.yaml 2>run.err &
pid=$!
trap 'kill -9 $pid 2>/dev/null' EXIT
for _ in $(seq 1 150); do
  grep -q hello out.ndjson 2>/dev/null && grep -q 'metadata from the Kubernetes API is off' run.err \
    && break
  sleep 0.2
done
kill -TERM $pid
wait $pid; rc=$?
trap - EXIT
[ $rc = 0 ] || { echo "exit status $rc"; cat run.err; exit 1; }
grep -q 'metadata from the Kubernetes API is off' run.err || { echo "no metadata line"; cat run.err; exit 1; }
/usr/bin/python3 -c '
import json, sys
for line in open("run.err"):
    json.loads(line)  # a text line (logged before log.format applied) fails here
' || { echo "stderr has lines that are not JSON:"; cat run.err; exit 1; }
echo "ok: $(wc -l < run.err) JSON log lines, validate quiet"
