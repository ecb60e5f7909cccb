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
PY=/usr/bin/python3
CLK_TCK="$(getconf CLK_TCK)"
dir="$(mktemp -d /tmp/sluice-s3bench.XXXXXX)"
pid=""; emu=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  [ -n "$emu" ] && kill "$emu" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

mkdir -p "$dir/logs"
"$PY" - "$dir/logs/app.log" "$N" <<'PYEOF'
import json, random, sys
r = random.Random(1)
lv = ["info"] * 12 + ["debug"] * 4 + ["warn"] * 3 + ["error"]
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"timestamp": "2026-11-21T10:30:45.%03dZ" % (i % 1000), "level": r.choice(lv),
                            "message": "job %d processed in %d ms" % (i, r.randint(1, 900)),
                            "trace_id": "%032x" % r.getrandbits(128), "job_id": "job-%d" % i,
                            "machine_id": "m-%d" % (i % 7), "worker_id": "w-%d" % (i % 31),
                            "duration_ms": r.randint(1, 900), "ok": r.random() < 0.9}) + "\n")
PYEOF
echo "input: $N events, $(stat -c %s "$dir/logs/app.log") bytes"
printf '%-9s %9s %7s %10s %6s %12s %8s %8s %s\n' mode events wall_s events/s cpu_s events/cpu_s peak_MB wire_MB 'objects(multipart)'
for mode in $BENCH_MODES; do
  "$PY" "$repo/tests/emulators/s3_emulator.py" --count-only --bucket bench >"$dir/emu.out" 2>"$dir/emu.err" &
  emu=$!
  for _ in $(seq 1 100); do [ -s "$dir/emu.out" ] && break; sleep 0.05; done
  eport="$(awk '{print $NF; exit}' "$dir/emu.out")"
  port="$(free_port)"
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  cat >"$dir/run.yaml" <<YAML
data_dir: $dir/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: file, include: ["$dir/logs/*.log"], read_from: head }
transforms:
  p: { type: parse, inputs: [in], format: json }
sinks:
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
  AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
    AWS_EC2_METADATA_DISABLED=true AWS_SHARED_CREDENTIALS_FILE=/dev/null \
    "$SLUICE" run -c "$dir/run.yaml" >"$dir/run.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.05; done
  while :; do
    n="$(curl -fsS "http://127.0.0.1:$port/metrics" | awk '/^sluice_component_sent_events_total\{.*component_id="out"/ {print $2}')" || n=0
    [ "${n%.*}" -ge "$N" ] 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/run.log" >&2; exit 1; }
    sleep 0.05
  done
  t1="$(date +%s.%N)"
  ticks="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")"
  peak_kb="$(awk '$1=="VmHWM:" {print $2}' "/proc/$pid/status")"
  wire="$(curl -fsS "http://127.0.0.1:$eport/_emu/stats" | "$PY" -c 'import json,sys; s=json.load(sys.stdin); print(s["bytes_in"], s["objects"], s["completed"])')"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  kill "$emu"; wait "$emu" 2>/dev/null || true; emu=""
  "$PY" -c "
import sys
mode, n, t0, t1, ticks, hz, peak, wire, objs, mp = sys.argv[1:]
wall = float(t1) - float(t0); cpu = int(ticks) / int(hz); n = int(n)
print('%-9s %9d %7.2f %10.0f %6.2f %12.0f %8.1f %8.1f %s(%s)' % (mode, n, wall, n / wall, cpu, n / cpu, int(peak) / 1024, int(wire) / 1e6, objs, mp))
" "$mode" "$N" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" $wire
done
