#!/usr/bin/env bash
# es_bench.sh - file -> elasticsearch sink -> Elasticsearch emulator (count-only mode).
# First measures the emulator alone (curl posting a prebuilt gzip _bulk body in parallel),
# then sluice with gzip (ISA-L and zlib) and without compression. Reports events per
# CPU-second of sluice, MB/s, the compression ratio on the wire and peak RSS.
#
#   SLUICE=build/sluice BENCH_MB=500 bash bench/es_bench.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
SLUICE="${SLUICE:-$repo/build/sluice}"
BENCH_MB="${BENCH_MB:-500}"
BENCH_SEED="${BENCH_SEED:-1}"
BENCH_MODES="${BENCH_MODES:-gzip gzip_zlib none}"
PY=/usr/bin/python3
CLK_TCK="$(getconf CLK_TCK)"
dir="$(mktemp -d /tmp/sluice-esbench.XXXXXX)"
pid=""; emu=""
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null || true
  [ -n "$emu" ] && kill "$emu" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

start_emu() {
  "$PY" "$repo/tests/emulators/es_emulator.py" --count-only >"$dir/emu.out" 2>"$dir/emu.err" &
  emu=$!
  for _ in $(seq 1 100); do [ -s "$dir/emu.out" ] && break; sleep 0.05; done
  eport="$(awk '{print $2; exit}' "$dir/emu.out")"
}
stop_emu() { kill "$emu" 2>/dev/null || true; wait "$emu" 2>/dev/null || true; emu=""; rm -f "$dir/emu.out"; }
stat_of() { curl -fsS "http://127.0.0.1:$eport/_emulator/stats" | "$PY" -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

mkdir -p "$dir/logs"
"$PY" "$here/gen_logs.py" --mb "$BENCH_MB" --seed "$BENCH_SEED" --out "$dir/logs/app.log" >"$dir/summary"
lines="$(sed -n 's/.*lines=\([0-9]*\).*/\1/p' "$dir/summary")"
bytes="$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' "$dir/summary")"
echo "input: $lines events, $bytes bytes"

# 1. The emulator alone: 400 requests of 5000 documents each, 4 in parallel.
start_emu
"$PY" - "$dir/body.gz" <<'PYEOF'
import gzip, json, sys
lines = []
for i in range(5000):
    lines.append(json.dumps({"create": {"_index": "bench", "_id": "%032x" % i}}))
    lines.append(json.dumps({"@timestamp": "2026-11-21T00:00:00.000000000Z", "message": "x" * 200 + str(i)}))
open(sys.argv[1], "wb").write(gzip.compress(("\n".join(lines) + "\n").encode(), 1))
PYEOF
urls=(); for _ in $(seq 1 400); do urls+=("http://127.0.0.1:$eport/_bulk" -o /dev/null); done
t0="$(date +%s.%N)"
curl -fsS --no-progress-meter -Z --parallel-max 4 -H 'Content-Type: application/x-ndjson' -H 'Content-Encoding: gzip' \
  --data-binary @"$dir/body.gz" "${urls[@]}"
t1="$(date +%s.%N)"
n="$(stat_of count_only_docs)"
"$PY" -c "import sys; n=int(sys.argv[1]); w=float(sys.argv[3])-float(sys.argv[2]); print('emulator alone: %d docs in %.2f s = %.0f docs/s' % (n, w, n/w))" "$n" "$t0" "$t1"
stop_emu

printf '%-10s %10s %8s %8s %11s %7s %12s %8s %9s %s\n' mode events wall_s MB/s events/s cpu_s events/cpu_s ratio peak_MB check
for mode in $BENCH_MODES; do
  start_emu
  port="$(free_port)"
  case "$mode" in
    gzip) comp="compression: gzip" ;;
    gzip_zlib) comp="gzip_engine: zlib" ;;
    none) comp="compression: none" ;;
  esac
  rm -rf "$dir/data"; mkdir -p "$dir/data"
  cat >"$dir/run.yaml" <<YAML
data_dir: $dir/data
api: { address: "127.0.0.1:$port" }
sources:
  in: { type: file, include: ["$dir/logs/*.log"], read_from: head }
sinks:
  out:
    type: elasticsearch
    inputs: [in]
    endpoint: "http://127.0.0.1:$eport"
    index: "bench-%Y.%m.%d"
    $comp
    concurrency: 4
    batch: { max_events: 5000, max_bytes: 8MiB, timeout_ms: 200 }
YAML
  t0="$(date +%s.%N)"
  "$SLUICE" run -c "$dir/run.yaml" >"$dir/run.log" 2>&1 &
  pid=$!
  check=ok
  while :; do
    n="$(stat_of count_only_docs 2>/dev/null || echo 0)"
    [ "$n" -ge "$lines" ] && break
    kill -0 "$pid" 2>/dev/null || { check="EXITED"; break; }
    sleep 0.05
  done
  t1="$(date +%s.%N)"
  [ "$check" = ok ] || { cat "$dir/run.log" >&2; exit 1; }
  ticks="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")"
  peak_kb="$(awk '$1=="VmHWM:" {print $2}' "/proc/$pid/status")"
  wire="$(stat_of body_bytes)"; decoded="$(stat_of decoded_bytes)"
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  stop_emu
  "$PY" - "$mode" "$lines" "$bytes" "$t0" "$t1" "$ticks" "$CLK_TCK" "$peak_kb" "$wire" "$decoded" "$check" <<'PYEOF'
import sys
mode, ev, nb, t0, t1, ticks, hz, peak, wire, dec, check = sys.argv[1:]
ev, nb = int(ev), int(nb)
wall = float(t1) - float(t0)
cpu = int(ticks) / int(hz)
print("%-10s %10d %8.2f %8.1f %11.0f %7.2f %12.0f %8.2f %9.1f %s" % (
    mode, ev, wall, nb / 1e6 / wall, ev / wall, cpu, ev / cpu if cpu else float("nan"),
    int(dec) / max(int(wire), 1), int(peak) / 1024, check))
PYEOF
done
