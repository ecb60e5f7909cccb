#!/usr/bin/env bash
# s3.sh - the S3 archive benchmark: file -> parse(json) -> s3 sink (key prefix from the
# event's hour, NDJSON objects gzip, zstd or plain, SigV4) -> tests/emulators/
# s3_emulator.py in count-only mode (it checks every signature and body hash, and counts the
# bytes instead of keeping them). Objects of S3_MAX_EVENTS events; with compression none they
# exceed part_size (5 MiB) and go up in multipart uploads. Events per CPU-second of sluice and
# its peak RSS are the figures. Run it under `nice` on a shared machine (BENCHMARKS.md says so).
#
#   SLUICE=build/sluice BENCH_EVENTS=500000 bash bench/s3.sh
#   BENCH_MODES=gzip S3_MAX_EVENTS=20000 bash bench/s3.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
N="${BENCH_EVENTS:-500000}"
BENCH_MODES="${BENCH_MODES:-gzip zstd none}"
. "$here/lib.sh"
dir="$(mktemp -d /tmp/sluice-s3bench.XXXXXX)"
cleanup() {
  bench_kill
  rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/logs"
job_logs "$dir/logs/app.log" "$N"
echo "input: $N events, $(stat -c %s "$dir/logs/app.log") bytes"
printf '%-9s %9s %7s %10s %6s %12s %8s %8s %s\n' mode events wall_s events/s cpu_s events/cpu_s peak_MB wire_MB 'objects(multipart)'
for mode in $BENCH_MODES; do
  emu_start "$dir" s3_emulator.py --count-only --bucket bench
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  { file_json_yaml "$dir/data" "$port" "$dir/logs/*.log"; cat <<YAML; } >"$dir/run.yaml"
  out:
    type: s3
    inputs: [p]
    bucket: bench
    endpoint: "http://127.0.0.1:$eport"
    path_style: true
    key_prefix: "%Y/%m/%d/%H/"
    compression: $mode
    part_size: 5MiB
    batch: { max_events: ${S3_MAX_EVENTS:-50000}, max_bytes: 64MiB, timeout_ms: 1000 }
YAML
  t0="$(date +%s.%N)"
  sluice_start "$dir/run.yaml" "$dir/run.log" "env AWS_ACCESS_KEY_ID=AKIDEXAMPLE
    AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_EC2_METADATA_DISABLED=true
    AWS_SHARED_CREDENTIALS_FILE=/dev/null"
  sluice_ready "$port"
  sluice_wait s3 0.05 0 sent_at_least "$port" out "$N"
  t1="$(date +%s.%N)"
  sluice_measure
  wire="$(curl -fsS "http://127.0.0.1:$eport/_emu/stats" | "$PY" -c 'import json,sys; s=json.load(sys.stdin); print(s["bytes_in"], s["objects"], s["completed"])')"
  sluice_stop
  emu_stop
  "$PY" -c "
import sys
mode, n, t0, t1, ticks, hz, peak, wire, objs, mp = sys.argv[1:]
wall = float(t1) - float(t0); cpu = int(ticks) / int(hz); n = int(n)
print('%-9s %9d %7.2f %10.0f %6.2f %12.0f %8.1f %8.1f %s(%s)' % (mode, n, wall, n / wall, cpu, n / cpu, int(peak) / 1024, int(wire) / 1e6, objs, mp))
" "$mode" "$N" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" $wire
done
