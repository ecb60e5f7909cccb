#!/usr/bin/env bash
# loki.sh - the Loki pipeline benchmark: file -> parse(json) -> loki sink (labels from two
# fields, structured metadata, protobuf+snappy or JSON) -> tests/emulators/loki_emulator.py
# in count-only mode (accepts without reading). The sink is ordered (one request at a time),
# so a request's round trip is part of the wall time; events per CPU-second of sluice and its
# peak RSS are the figures. Run it under `nice` on a shared machine (BENCHMARKS.md says so).
#
#   SLUICE=build/sluice BENCH_EVENTS=500000 bash bench/loki.sh
#   BENCH_MODES=protobuf LOKI_MAX_EVENTS=10000 bash bench/loki.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
N="${BENCH_EVENTS:-500000}"
BENCH_MODES="${BENCH_MODES:-protobuf json}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-lokibench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/logs"
job_logs "$dir/logs/app.log" "$N"
echo "input: $N events, $(stat -c %s "$dir/logs/app.log") bytes"
printf '%-9s %9s %7s %10s %6s %12s %8s %s\n' mode events wall_s events/s cpu_s events/cpu_s peak_MB wire_MB
for mode in $BENCH_MODES; do
  emu_start "$dir" loki_emulator.py --count-only
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  { file_json_yaml "$dir/data" "$port" "$dir/logs/*.log"; cat <<YAML; } >"$dir/run.yaml"
  out:
    type: loki
    inputs: [p]
    endpoint: "http://127.0.0.1:$eport"
    encoding: $mode
    labels: { machine: "{{ machine_id }}", level: "{{ level }}", job: bench }
    structured_metadata: { trace_id: "{{ trace_id }}" }
    batch: { max_events: ${LOKI_MAX_EVENTS:-5000}, max_bytes: 8MiB, timeout_ms: 200 }
YAML
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log"
  sluice_ready "$port"
  sluice_wait loki 0.05 0 sent_at_least "$port" out "$N"
  t1="$(date +%s.%N)"
  sluice_measure
  wire="$(curl -fsS "http://127.0.0.1:$eport/stats" | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("wire_bytes", 0))')"
  sluice_stop
  emu_stop
  wire_row "$mode" "$N" "$t0" "$t1" "$wire"
done
