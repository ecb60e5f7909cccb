#!/usr/bin/env bash
# A real Prometheus scrapes sluice's /metrics every second: the target must come up
# (so the exposition passes Prometheus's own strict parser) and a sluice series must be queryable.
set -u
: "${SLUICE:?set SLUICE to the sluice binary}"
PY=/usr/bin/python3
PROM="${PROMETHEUS:-$(command -v prometheus || true)}"
if [ -z "$PROM" ]; then
  echo "FAIL: prometheus is not installed (make setup installs it)"
  exit 1
fi
own=0
if [ -z "${WORK:-}" ]; then WORK="$(mktemp -d /tmp/sluice-prom.XXXXXX)"; own=1; fi
spid=""; ppid_=""
cleanup() {
  [ -n "$ppid_" ] && kill -TERM "$ppid_" 2>/dev/null && wait "$ppid_" 2>/dev/null
  [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
  [ "$own" = 1 ] && rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
sport="$(free_port)"
pport="$(free_port)"
while [ "$pport" = "$sport" ]; do pport="$(free_port)"; done

mkdir -p "$WORK/data" "$WORK/tsdb"
cat >"$WORK/sluice.yaml" <<YAML
data_dir: $WORK/data
api: { address: "127.0.0.1:$sport" }
sources:
  gen: { type: demo, rate: 500 }
sinks:
  out: { type: blackhole, inputs: [gen] }
YAML
"$SLUICE" run -c "$WORK/sluice.yaml" >"$WORK/sluice.log" 2>&1 &
spid=$!

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sluice
    static_configs:
      - targets: ["127.0.0.1:$sport"]
YAML
"$PROM" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
ppid_=$!

# Wait for Prometheus to report the target healthy; print its lastError otherwise. (The
# deadlines are safety nets: a loaded machine starts Prometheus slowly.)
health=""
end=$((SECONDS + 180))
while [ "$SECONDS" -lt "$end" ]; do
  health="$(curl -fsS --max-time 2 "http://127.0.0.1:$pport/api/v1/targets" 2>/dev/null | "$PY" -c '
import json, sys
t = json.load(sys.stdin)["data"]["activeTargets"]
print(t[0]["health"] + " " + t[0].get("lastError", "") if t else "none")' 2>/dev/null)"
  case "$health" in up*) break ;; esac
  kill -0 "$spid" 2>/dev/null || { echo "sluice exited"; cat "$WORK/sluice.log"; exit 1; }
  kill -0 "$ppid_" 2>/dev/null || { echo "prometheus exited"; cat "$WORK/prometheus.log"; exit 1; }
  sleep 0.5
done
case "$health" in
  up*) echo "target up" ;;
  *) echo "target never came up: $health"; cat "$WORK/prometheus.log"; cat "$WORK/sluice.log"; exit 1 ;;
esac

# A sluice series, with its labels, as Prometheus stored it.
query() {
  curl -fsS --max-time 2 -G "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" 2>/dev/null
}
ok=0
end=$((SECONDS + 120))
while [ "$SECONDS" -lt "$end" ]; do
  if query 'sluice_component_sent_events_total{component_id="out",component_kind="sink"}' | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
assert r and float(r[0]["value"][1]) > 0, r
assert r[0]["metric"]["component_type"] == "blackhole", r' 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
[ "$ok" = 1 ] || { echo "sluice_component_sent_events_total not queryable"; query 'sluice_component_sent_events_total'; exit 1; }

# The histogram and build info arrive intact too.
query 'sluice_sink_request_duration_seconds_bucket{component_id="out",le="+Inf"}' | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
assert len(r) == 1, r' || { echo "histogram not queryable"; exit 1; }
query 'sluice_build_info' | "$PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
assert r and r[0]["metric"]["version"], r' || { echo "build info not queryable"; exit 1; }
echo "prometheus scrape ok"
